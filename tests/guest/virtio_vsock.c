/*
 * virtio-vsock driver and the `vsock` shell command (docs/guest-shell.md
 * "vsock"). Stream sockets only, polled at CPL3 while a command runs: an
 * echo listener (`vsock echo`) and an outgoing connection that sends a
 * pattern and counts what comes back (`vsock send`), both reporting CRC-32s
 * of every byte each way so the host side can check them.
 *
 * Each socket has a receive buffer of SOCK_BUF bytes, advertised as
 * buf_alloc; fwd_cnt counts what the application consumed. Sending honours
 * the peer's credit (its buf_alloc minus what is in flight).
 */
#include "virtio.h"

#define VIRTIO_ID_VSOCK         19
#define HOST_CID                2
#define HDR_SIZE                44
#define PKT_PAYLOAD             4096
#define PKT_SIZE                (HDR_SIZE + PKT_PAYLOAD)
#define RX_BUFS                 64
#define TX_BUFS                 32
#define EV_BUFS                 4
#define MAX_SOCKS               16
#define SOCK_BUF                (64 * 1024)
#define IDLE_TIMEOUT_US         30000000ULL     /* no packet at all for this long */
#define STATUS_POLL_US          1000ULL

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE,
       OP_CREDIT_REQUEST };
#define SHUT_RCV 1
#define SHUT_SEND 2

struct hdr {
	u64 src_cid, dst_cid;
	u32 src_port, dst_port, len;
	u16 type, op;
	u32 flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum { S_FREE, S_CONNECTING, S_EST, S_CLOSING, S_CLOSED };

struct sock {
	int state;
	u32 port, peer_port;            /* ours (guest), the host's */
	int refused;                    /* the connect was answered with RST */
	int peer_shut;                  /* SHUT_* the host sent */
	int shut_sent;
	u32 peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	u32 fwd_cnt, fwd_reported;
	u8 buf[SOCK_BUF];               /* received, not yet consumed */
	u32 head, len;
	u64 rx_bytes, tx_bytes;
	u32 rx_crc, tx_crc;
};

static struct {
	int present, ok;
	struct virtio_dev vd;
	struct virtq rx, tx, ev;
	u64 cid;
	u32 tx_free;                    /* bitmap of free tx slots */
	u32 listen_port;                /* 0: none */
	u64 pkts_in, pkts_out, rsts_in, protocol_errors;
	u32 next_port;
} vs;
static struct sock socks[MAX_SOCKS];

static u8 ring_mem[3][VQ_MEM_SIZE] __attribute__((section(".dmabuf"), aligned(4096)));
static u8 rx_mem[RX_BUFS][PKT_SIZE] __attribute__((section(".dmabuf"), aligned(64)));
static u8 tx_mem[TX_BUFS][PKT_SIZE] __attribute__((section(".dmabuf"), aligned(64)));
static u8 ev_mem[EV_BUFS][8] __attribute__((section(".dmabuf"), aligned(64)));

static void ok(void) { kprintf("status=ok\r\n"); }
static void fail(const char *msg) { kprintf("status=error msg=%s\r\n", msg); }

static void post_rx(unsigned i)
{
	struct vbuf v = { (u64)rx_mem[i], PKT_SIZE, 1 };

	vq_add(&vs.rx, &v, 1, (void *)(u64)(i + 1));
}

static int dev_init(void)
{
	int e = virtio_negotiate(&vs.vd, VBIT(VIRTIO_F_EVENT_IDX), 0);

	if (!e)
		e = virtio_queue_setup(&vs.vd, &vs.rx, 0, ring_mem[0], RX_BUFS);
	if (!e)
		e = virtio_queue_setup(&vs.vd, &vs.tx, 1, ring_mem[1], TX_BUFS);
	if (!e)
		e = virtio_queue_setup(&vs.vd, &vs.ev, 2, ring_mem[2], EV_BUFS);
	if (e) {
		virtio_reset(&vs.vd);
		return e;
	}
	virtio_config_read(&vs.vd, 0, &vs.cid, 8);
	virtio_driver_ok(&vs.vd);
	for (unsigned i = 0; i < RX_BUFS; i++)
		post_rx(i);
	vq_kick(&vs.rx);
	for (unsigned i = 0; i < EV_BUFS; i++) {
		struct vbuf v = { (u64)ev_mem[i], 8, 1 };

		vq_add(&vs.ev, &v, 1, (void *)(u64)(i + 1));
	}
	vq_kick(&vs.ev);
	vs.tx_free = TX_BUFS == 32 ? 0xffffffffu : (1u << TX_BUFS) - 1;
	memset(socks, 0, sizeof(socks));
	vs.ok = 1;
	return 0;
}

/* On first use: the first window whose DeviceID is 19. */
static void vsock_init(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	vs.next_port = 50000;
	for (u32 i = 0; i < bi.nr_virtio; i++) {
		const struct virtio_mmio_dev *d = &bi.virtio[i];

		if (virtio_entry_device_id(d) != VIRTIO_ID_VSOCK)
			continue;
		vs.present = 1;
		if (!virtio_probe(&vs.vd, d))
			dev_init();
		return;
	}
}

/* ---- tx ---- */

static void reap_tx(void)
{
	void *cookie;
	u32 len;

	while ((cookie = vq_get_used(&vs.tx, &len)))
		vs.tx_free |= 1u << ((u64)cookie - 1);
}

/* One packet; waits for a free tx slot. 0 or -VIO_*. */
static int send_pkt(u32 src_port, u32 dst_port, u16 op, u32 flags, u32 fwd_cnt,
		    const u8 *data, u32 len)
{
	u64 end = tsc_deadline(IDLE_TIMEOUT_US);
	struct hdr *h;
	struct vbuf v;
	unsigned i;

	while (!vs.tx_free) {
		reap_tx();
		if (virtio_get_status(&vs.vd) & VIRTIO_S_NEEDS_RESET)
			return -VIO_ENEEDS_RESET;
		if (tsc_passed(end))
			return -VIO_ETIMEOUT;
		cpu_relax();
	}
	/* A loop, not __builtin_ctz: tzcnt is not an instruction every CPU model has. */
	for (i = 0; !(vs.tx_free & (1u << i)); i++)
		;
	vs.tx_free &= ~(1u << i);
	h = (struct hdr *)tx_mem[i];
	memset(h, 0, sizeof(*h));
	h->src_cid = vs.cid;
	h->dst_cid = HOST_CID;
	h->src_port = src_port;
	h->dst_port = dst_port;
	h->len = len;
	h->type = 1;
	h->op = op;
	h->flags = flags;
	h->buf_alloc = SOCK_BUF;
	h->fwd_cnt = fwd_cnt;
	if (len)
		memcpy(tx_mem[i] + HDR_SIZE, data, len);
	v.addr = (u64)tx_mem[i];
	v.len = HDR_SIZE + len;
	v.write = 0;
	vq_add(&vs.tx, &v, 1, (void *)(u64)(i + 1));
	vq_kick(&vs.tx);
	vs.pkts_out++;
	return 0;
}

static int sock_send_ctl(struct sock *s, u16 op, u32 flags)
{
	s->fwd_reported = s->fwd_cnt;
	return send_pkt(s->port, s->peer_port, op, flags, s->fwd_cnt, 0, 0);
}

static u32 peer_credit(const struct sock *s)
{
	u32 in_flight = s->tx_cnt - s->peer_fwd_cnt;

	return in_flight >= s->peer_buf_alloc ? 0 : s->peer_buf_alloc - in_flight;
}

/* At most n bytes of data, within credit; returns bytes sent or -VIO_*. */
static int sock_write(struct sock *s, const u8 *data, u32 n)
{
	u32 c = peer_credit(s);
	int e;

	if (n > c)
		n = c;
	if (n > PKT_PAYLOAD)
		n = PKT_PAYLOAD;
	if (!n || !vs.tx_free)
		return 0;
	s->fwd_reported = s->fwd_cnt;
	e = send_pkt(s->port, s->peer_port, OP_RW, 0, s->fwd_cnt, data, n);
	if (e)
		return e;
	s->tx_cnt += n;
	s->tx_bytes += n;
	s->tx_crc = crc32_update(s->tx_crc, data, n);
	return (int)n;
}

/* The application took n bytes off the receive buffer. */
static void sock_consume(struct sock *s, u32 n)
{
	s->head = (s->head + n) % SOCK_BUF;
	s->len -= n;
	s->fwd_cnt += n;
	if (s->fwd_cnt - s->fwd_reported >= SOCK_BUF / 2)
		sock_send_ctl(s, OP_CREDIT_UPDATE, 0);
}

/* ---- rx ---- */

static struct sock *find_sock(u32 port, u32 peer_port)
{
	for (int i = 0; i < MAX_SOCKS; i++)
		if (socks[i].state != S_FREE && socks[i].port == port &&
		    socks[i].peer_port == peer_port)
			return &socks[i];
	return 0;
}

static struct sock *alloc_sock(void)
{
	for (int i = 0; i < MAX_SOCKS; i++)
		if (socks[i].state == S_FREE) {
			memset(&socks[i], 0, sizeof(socks[i]));
			return &socks[i];
		}
	return 0;
}

static void rx_rw(struct sock *s, const u8 *p, u32 len)
{
	u32 tail = (s->head + s->len) % SOCK_BUF, first;

	if (len > SOCK_BUF - s->len) {          /* beyond the credit we gave */
		vs.protocol_errors++;
		len = SOCK_BUF - s->len;
	}
	first = len < SOCK_BUF - tail ? len : SOCK_BUF - tail;
	memcpy(s->buf + tail, p, first);
	memcpy(s->buf, p + first, len - first);
	s->len += len;
	s->rx_bytes += len;
	s->rx_crc = crc32_update(s->rx_crc, p, len);
}

static void rx_packet(const struct hdr *h, const u8 *payload, u32 avail)
{
	struct sock *s = find_sock(h->dst_port, h->src_port);

	vs.pkts_in++;
	if (h->dst_cid != vs.cid || h->src_cid != HOST_CID || h->type != 1) {
		vs.protocol_errors++;
		return;
	}
	if (h->op == OP_RST)
		vs.rsts_in++;
	if (!s) {
		if (h->op == OP_REQUEST && vs.listen_port && h->dst_port == vs.listen_port &&
		    (s = alloc_sock())) {
			s->state = S_EST;
			s->port = h->dst_port;
			s->peer_port = h->src_port;
			s->peer_buf_alloc = h->buf_alloc;
			s->peer_fwd_cnt = h->fwd_cnt;
			sock_send_ctl(s, OP_RESPONSE, 0);
		} else if (h->op != OP_RST) {
			send_pkt(h->dst_port, h->src_port, OP_RST, 0, 0, 0, 0);
		}
		return;
	}
	s->peer_buf_alloc = h->buf_alloc;
	s->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case OP_RESPONSE:
		if (s->state == S_CONNECTING)
			s->state = S_EST;
		break;
	case OP_RW:
		rx_rw(s, payload, h->len <= avail ? h->len : avail);
		break;
	case OP_SHUTDOWN:
		s->peer_shut |= (int)(h->flags & 3);
		break;
	case OP_CREDIT_REQUEST:
		sock_send_ctl(s, OP_CREDIT_UPDATE, 0);
		break;
	case OP_RST:
		s->refused = s->state == S_CONNECTING;
		s->state = S_CLOSED;
		break;
	default:
		break;
	}
}

/* Everything the device has returned; 1 if anything arrived. */
static int vsock_poll(void)
{
	void *cookie;
	u32 len;
	int got = 0;

	reap_tx();
	while ((cookie = vq_get_used(&vs.rx, &len))) {
		unsigned i = (unsigned)((u64)cookie - 1);

		if (len >= HDR_SIZE && len <= PKT_SIZE)
			rx_packet((const struct hdr *)rx_mem[i], rx_mem[i] + HDR_SIZE, len - HDR_SIZE);
		else
			vs.protocol_errors++;
		post_rx(i);
		got = 1;
	}
	if (got)
		vq_kick(&vs.rx);
	virtio_ack_interrupt(&vs.vd);
	return got;
}

/* ---- shell ---- */

static int usable(void)
{
	if (!vs.present) {
		fail("nodev");
		return 0;
	}
	if (!vs.ok) {
		fail("init");
		return 0;
	}
	return 1;
}

static void report_sock(const char *what, const struct sock *s)
{
	kprintf("%s port=%u peer_port=%u rx=%lu rx_crc=%08x tx=%lu tx_crc=%08x\r\n", what,
		s->port, s->peer_port, s->rx_bytes, s->rx_crc, s->tx_bytes, s->tx_crc);
}

/*
 * Echo for one socket: received bytes go back; once the host has shut down
 * its sending side and everything is echoed, close both ways and wait for RST.
 */
static void echo_step(struct sock *s)
{
	while (s->state == S_EST && s->len) {
		u32 chunk = SOCK_BUF - s->head < s->len ? SOCK_BUF - s->head : s->len;
		int n = sock_write(s, s->buf + s->head, chunk);

		if (n <= 0)
			return;
		sock_consume(s, (u32)n);
	}
	if (s->state == S_EST && (s->peer_shut & SHUT_SEND) && !s->len && !s->shut_sent) {
		s->shut_sent = 1;
		s->state = S_CLOSING;
		sock_send_ctl(s, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND);
	}
}

/* Waits for progress; 0 on an idle timeout or a broken device. */
static int wait_progress(u64 *idle_end, u64 *next_check)
{
	if (vsock_poll()) {
		*idle_end = tsc_deadline(IDLE_TIMEOUT_US);
		return 1;
	}
	if (tsc_passed(*next_check)) {
		if (virtio_get_status(&vs.vd) & VIRTIO_S_NEEDS_RESET) {
			vs.ok = 0;
			return 0;
		}
		*next_check = tsc_deadline(STATUS_POLL_US);
	}
	if (tsc_passed(*idle_end))
		return 0;
	cpu_relax();
	return 1;
}

/* vsock echo <port> <n>: serve n connections to port, echoing, then report each. */
static void cmd_echo(char *args)
{
	u64 port, n, done = 0, total = 0;
	u64 idle_end = tsc_deadline(IDLE_TIMEOUT_US), next_check = 0;

	if (!arg_u64(&args, &port) || port > 0xffffffffULL || !arg_u64(&args, &n) || !n ||
	    n > 1000 || !arg_end(args)) {
		fail("bad-arguments");
		return;
	}
	if (!usable())
		return;
	vs.listen_port = (u32)port;
	kprintf("listening port=%lu\r\n", port);
	while (done < n) {
		if (!wait_progress(&idle_end, &next_check))
			break;
		for (int i = 0; i < MAX_SOCKS; i++) {
			struct sock *s = &socks[i];

			if (s->state == S_EST || s->state == S_CLOSING)
				echo_step(s);
			if (s->state == S_CLOSED) {
				report_sock("conn", s);
				total += s->rx_bytes;
				s->state = S_FREE;
				done++;
			}
		}
	}
	vs.listen_port = 0;
	kprintf("conns=%lu bytes=%lu\r\n", done, total);
	if (done == n)
		ok();
	else
		fail(vs.ok ? "timeout" : "needs-reset");
}

static u8 pattern_byte(u64 i, u64 seed)
{
	return (u8)((i * 131) ^ (i >> 9) ^ seed);
}

/*
 * vsock send <port> <bytes> [<seed>]: connect to the host's port, send the
 * pattern, shut down sending, and count what the host sends until it closes.
 */
static void cmd_send(char *args)
{
	u64 port, n, seed = 0, sent = 0;
	u64 idle_end = tsc_deadline(IDLE_TIMEOUT_US), next_check = 0;
	static u8 chunk[PKT_PAYLOAD];
	struct sock *s;

	if (!arg_u64(&args, &port) || port > 0xffffffffULL || !arg_u64(&args, &n) ||
	    n > (1ULL << 32) || (!arg_end(args) && !arg_u64(&args, &seed)) || !arg_end(args)) {
		fail("bad-arguments");
		return;
	}
	if (!usable())
		return;
	if (!(s = alloc_sock())) {
		fail("no-socket");
		return;
	}
	s->state = S_CONNECTING;
	s->port = vs.next_port++;
	s->peer_port = (u32)port;
	sock_send_ctl(s, OP_REQUEST, 0);
	while (s->state != S_CLOSED) {
		if (!wait_progress(&idle_end, &next_check))
			break;
		if (s->state != S_EST)
			continue;
		while (sent < n) {
			u32 m = n - sent < PKT_PAYLOAD ? (u32)(n - sent) : PKT_PAYLOAD;
			int w;

			for (u32 j = 0; j < m; j++)
				chunk[j] = pattern_byte(sent + j, seed);
			w = sock_write(s, chunk, m);
			if (w <= 0)
				break;
			sent += (u64)w;
		}
		if (sent == n && !s->shut_sent) {
			s->shut_sent = 1;
			sock_send_ctl(s, OP_SHUTDOWN, SHUT_SEND);
		}
		if (s->len)
			sock_consume(s, s->len);        /* counted (and checksummed) on arrival */
		if ((s->peer_shut & SHUT_SEND) && s->shut_sent) {
			s->state = S_CLOSING;
			sock_send_ctl(s, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND);
		}
	}
	if (s->refused) {
		s->state = S_FREE;
		fail("refused");
		return;
	}
	kprintf("sent=%lu sent_crc=%08x received=%lu received_crc=%08x\r\n", s->tx_bytes,
		s->tx_crc, s->rx_bytes, s->rx_crc);
	if (s->state == S_CLOSED) {
		s->state = S_FREE;
		ok();
	} else {
		send_pkt(s->port, s->peer_port, OP_RST, 0, 0, 0, 0);
		s->state = S_FREE;
		fail(vs.ok ? "timeout" : "needs-reset");
	}
}

static void cmd_list(void)
{
	if (vs.present)
		kprintf("vsock base=0x%lx irq=%u cid=%lu features=0x%lx state=%s\r\n", vs.vd.base,
			vs.vd.irq, vs.cid, vs.vd.features, vs.ok ? "ok" : "failed");
	ok();
}

static void cmd_stat(void)
{
	if (vs.present)
		kprintf("vsock pkts_in=%lu pkts_out=%lu rsts_in=%lu protocol_errors=%lu\r\n",
			vs.pkts_in, vs.pkts_out, vs.rsts_in, vs.protocol_errors);
	ok();
}

void vsock_command(char *args)
{
	char *s = args, *w;

	vsock_init();           /* on first use: keeps boot time unaffected */
	w = arg_word(&s);
	if (!strncmp(w, "echo", 5))
		cmd_echo(s);
	else if (!strncmp(w, "send", 5))
		cmd_send(s);
	else if (!strncmp(w, "list", 5) && arg_end(s))
		cmd_list();
	else if (!strncmp(w, "stat", 5) && arg_end(s))
		cmd_stat();
	else
		fail("bad-arguments");
}
