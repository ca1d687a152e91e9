/*
 * virtio-net driver and the `net` shell command (docs/guest-shell.md
 * "Network"). Polled at CPL3 with interrupts suppressed on both queues:
 * the shell's idle loop calls net_idle(), so the guest answers ARP, ping
 * and UDP echo while it sits at the prompt, and the `net` commands poll
 * while they run. Every rx buffer is one device-writable 2 KiB buffer
 * (header + a whole frame); every frame sent is one device-readable buffer.
 * With MQ offered it uses two queue pairs (VQ_PAIRS_SET on the control
 * queue), receives on both and sends on the one `q=` names.
 */
#include "net.h"

#define VIRTIO_ID_NET           1
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_CTRL_VQ    17
#define VIRTIO_NET_F_MQ         22
#define NET_CFG_STATUS          6
#define NET_CFG_MAX_VQP         8
#define NET_CTRL_MQ             4       /* class; command 0 = VQ_PAIRS_SET */
#define NET_S_LINK_UP           1
#define TX_BATCH                32      /* frames per kick in bulk sends */
#define TX_WAIT_US              1000000ULL
#define POLL_BUDGET             64
#define UDP_MAX_PAYLOAD         1472

struct vnet vnets[NET_MAX_DEVS];
unsigned nr_vnets;
static u8 ring_mem[NET_MAX_DEVS][2 * NET_PAIRS + 1][VQ_MEM_SIZE]
	__attribute__((section(".dmabuf"), aligned(4096)));
static u8 rx_bufs[NET_MAX_DEVS][NET_PAIRS][NET_RXQ_SIZE][NET_BUF_SIZE]
	__attribute__((section(".dmabuf"), aligned(4096)));
static u8 tx_bufs[NET_MAX_DEVS][NET_PAIRS][NET_TXQ_SIZE][NET_BUF_SIZE]
	__attribute__((section(".dmabuf"), aligned(4096)));
/* One control command at a time: class, command, data, then the ack byte. */
static u8 ctrl_buf[NET_MAX_DEVS][64] __attribute__((section(".dmabuf"), aligned(64)));

static void ok(void) { kprintf("status=ok\r\n"); }
static void fail(const char *msg) { kprintf("status=error msg=%s\r\n", msg); }

static const char *state_name(struct vnet *n)
{
	return n->state == NET_OK ? "ok" : n->state == NET_FAILED ? virtio_strerror(n->err) : "off";
}

static void rx_post(struct vnet *n, unsigned p, u16 i)
{
	struct vbuf b = { (u64)rx_bufs[n->index][p][i], NET_BUF_SIZE, 1 };

	vq_add(&n->rxq[p], &b, 1, (void *)(u64)(i + 1));
}

/* VQ_PAIRS_SET: one command on the control queue, polled; 0, -VIO_ETIMEOUT, or -VIO_EFEATURES (ERR). */
static int set_pairs(struct vnet *n, u16 pairs)
{
	u8 *c = ctrl_buf[n->index];
	struct vbuf b[2] = { { (u64)c, 4, 0 }, { (u64)(c + 32), 1, 1 } };
	u64 end = tsc_deadline(TX_WAIT_US);

	c[0] = NET_CTRL_MQ;
	c[1] = 0;
	c[2] = (u8)pairs;
	c[3] = (u8)(pairs >> 8);
	c[32] = 0xff;
	vq_add(&n->ctrlq, b, 2, (void *)1);
	vq_kick(&n->ctrlq);
	while (!vq_get_used(&n->ctrlq, 0)) {
		if (tsc_passed(end))
			return -VIO_ETIMEOUT;
		cpu_relax();
	}
	return c[32] == 0 ? 0 : -VIO_EFEATURES;
}

/* Pairs 0..pairs-1 and, with MQ, the control queue (after the last pair the device has). */
static int setup_queues(struct vnet *n, u16 max_vqp)
{
	u8 (*mem)[VQ_MEM_SIZE] = ring_mem[n->index];
	int e = 0;

	for (unsigned p = 0; p < n->pairs && !e; p++) {
		e = virtio_queue_setup(&n->vd, &n->rxq[p], 2 * p, mem[2 * p], NET_RXQ_SIZE);
		if (!e)
			e = virtio_queue_setup(&n->vd, &n->txq[p], 2 * p + 1, mem[2 * p + 1],
					       NET_TXQ_SIZE);
	}
	if (!e && n->pairs > 1)
		e = virtio_queue_setup(&n->vd, &n->ctrlq, 2 * max_vqp, mem[2 * NET_PAIRS], 16);
	return e;
}

static int vnet_dev_init(struct vnet *n)
{
	u64 want = VBIT(VIRTIO_F_EVENT_IDX) | VBIT(VIRTIO_NET_F_MAC) | VBIT(VIRTIO_NET_F_STATUS) |
		   VBIT(VIRTIO_NET_F_MRG_RXBUF) | VBIT(VIRTIO_NET_F_CTRL_VQ) | VBIT(VIRTIO_NET_F_MQ);
	u16 max_vqp = 1;
	int e;

	n->state = NET_FAILED;
	n->pairs = 1;
	n->txp = 0;
	/*
	 * CTRL_VQ comes with MQ; without MQ its queue is left unused (the rx
	 * filter stays promiscuous, as after any reset).
	 */
	e = virtio_negotiate(&n->vd, want, 0);
	if (!e && (n->vd.features & VBIT(VIRTIO_NET_F_MQ))) {
		virtio_config_read(&n->vd, NET_CFG_MAX_VQP, &max_vqp, 2);
		n->pairs = max_vqp < NET_PAIRS ? max_vqp : NET_PAIRS;
	}
	if (!e)
		e = setup_queues(n, max_vqp);
	if (e) {
		n->err = e;
		virtio_reset(&n->vd);
		return e;
	}
	if (n->vd.features & VBIT(VIRTIO_NET_F_MAC))
		virtio_config_read(&n->vd, 0, n->mac, 6);
	else
		memcpy(n->mac, (const u8[]){ 0x52, 0x54, 0x00, 0xee, 0x00, (u8)n->index }, 6);
	for (unsigned p = 0; p < n->pairs; p++) {
		/* Polled: the device need not interrupt us. */
		vq_set_interrupts(&n->rxq[p], 0);
		vq_set_interrupts(&n->txq[p], 0);
		for (u16 i = 0; i < n->rxq[p].num; i++)
			rx_post(n, p, i);
		n->tx_nfree[p] = 0;
		for (u16 i = 0; i < n->txq[p].num; i++)
			n->tx_free[p][n->tx_nfree[p]++] = i;
		n->tx_unkicked[p] = 0;
	}
	virtio_driver_ok(&n->vd);
	if (n->pairs > 1 && (e = set_pairs(n, (u16)n->pairs))) {
		n->err = e;
		virtio_reset(&n->vd);
		return e;
	}
	for (unsigned p = 0; p < n->pairs; p++)
		vq_kick(&n->rxq[p]);
	n->state = NET_OK;
	return 0;
}

/* Takes in the NIC now at bi.virtio[i] as n; 0 when it is not one. */
static int vnet_take(struct vnet *n, u32 i)
{
	if (virtio_entry_device_id(&bi.virtio[i]) != VIRTIO_ID_NET)
		return 0;
	n->slot = i;
	if ((n->err = virtio_probe(&n->vd, &bi.virtio[i]))) {
		n->state = NET_FAILED;
		return 1;
	}
	vnet_dev_init(n);
	return 1;
}

/*
 * Every window whose DeviceID is 1, in command-line order, on first use; then
 * before every command and while idle, a function a root port plugged anew
 * at an index already seen is taken in again (its address and counters
 * kept), and one that left is listed off.
 */
static void vnet_init(void)
{
	static struct virtio_watch watch;
	u32 pos = 0;
	int i;

	while ((i = virtio_watch_next(&watch, &pos)) >= 0) {
		struct vnet *n = NULL;

		for (unsigned j = 0; j < nr_vnets && !n; j++)
			n = vnets[j].slot == (u32)i ? &vnets[j] : NULL;
		if (n) {
			if (!vnet_take(n, (u32)i))
				n->state = NET_OFF;
		} else if (nr_vnets < NET_MAX_DEVS) {
			vnets[nr_vnets].index = nr_vnets;
			nr_vnets += vnet_take(&vnets[nr_vnets], (u32)i);
		}
	}
}

int vnet_link_up(struct vnet *n)
{
	u16 st;

	if (!(n->vd.features & VBIT(VIRTIO_NET_F_STATUS)))
		return 1;               /* no STATUS: always up (§5.1.4) */
	virtio_config_read(&n->vd, NET_CFG_STATUS, &st, 2);
	return st & NET_S_LINK_UP;
}

/* ---- transmit ---- */

static void tx_reclaim(struct vnet *n)
{
	unsigned p = n->txp;
	void *c;

	while ((c = vq_get_used(&n->txq[p], 0)))
		n->tx_free[p][n->tx_nfree[p]++] = (u16)((u64)c - 1);
}

void vnet_tx_flush(struct vnet *n)
{
	for (unsigned p = 0; p < n->pairs; p++) {
		if (n->tx_unkicked[p]) {
			n->tx_unkicked[p] = 0;
			vq_kick(&n->txq[p]);
		}
	}
}

u8 *vnet_tx_buf(struct vnet *n)
{
	u64 end = 0;

	if (n->state != NET_OK)
		return 0;
	tx_reclaim(n);
	while (!n->tx_nfree[n->txp]) {
		vnet_tx_flush(n);
		if (!end)
			end = tsc_deadline(TX_WAIT_US);
		if (tsc_passed(end)) {
			n->tx_full++;
			return 0;
		}
		cpu_relax();
		tx_reclaim(n);
	}
	n->tx_cur = n->tx_free[n->txp][--n->tx_nfree[n->txp]];
	return tx_bufs[n->index][n->txp][n->tx_cur] + NET_HDR_LEN;
}

void vnet_tx_commit(struct vnet *n, u32 len, int kick)
{
	unsigned p = n->txp;
	u8 *b = tx_bufs[n->index][p][n->tx_cur];
	struct vbuf v = { (u64)b, NET_HDR_LEN + len, 0 };

	memset(b, 0, NET_HDR_LEN);      /* no offload: a plain header */
	vq_add(&n->txq[p], &v, 1, (void *)(u64)(n->tx_cur + 1));
	n->tx_frames++;
	n->tx_pair[p]++;
	n->tx_bytes += len;
	n->tx_unkicked[p]++;
	if (kick || n->tx_unkicked[p] >= TX_BATCH)
		vnet_tx_flush(n);
}

/* ---- receive ---- */

static u16 rx_next(struct vnet *n, unsigned p, u32 *len)
{
	return (u16)((u64)vq_get_used(&n->rxq[p], len) - 1);
}

/* Up to `budget` frames from pair p's rx queue. */
static unsigned poll_pair(struct vnet *n, unsigned p, unsigned budget)
{
	unsigned done = 0;

	while (done < budget && vq_has_used(&n->rxq[p])) {
		u32 len = 0;
		u16 i = rx_next(n, p, &len), nb;
		u8 *b;

		if (i >= n->rxq[p].num)
			break;          /* device bug: ignore */
		b = rx_bufs[n->index][p][i];
		nb = (u16)(b[10] | b[11] << 8);
		done++;
		if ((n->vd.features & VBIT(VIRTIO_NET_F_MRG_RXBUF)) && nb > 1) {
			/* Larger than our buffers: drop it and give its buffers back. */
			n->rx_merged++;
			n->rx_dropped++;
			for (u16 k = 1; k < nb && vq_has_used(&n->rxq[p]); k++)
				rx_post(n, p, rx_next(n, p, 0));
		} else if (len < NET_HDR_LEN || len > NET_BUF_SIZE) {
			n->rx_dropped++;
		} else {
			n->rx_frames++;
			n->rx_pair[p]++;
			n->rx_bytes += len - NET_HDR_LEN;
			ip_input(n, b + NET_HDR_LEN, len - NET_HDR_LEN);
		}
		rx_post(n, p, i);
	}
	if (done)
		vq_kick(&n->rxq[p]);
	return done;
}

unsigned vnet_poll(struct vnet *n, unsigned budget)
{
	unsigned done = 0;

	if (n->state != NET_OK)
		return 0;
	for (unsigned p = 0; p < n->pairs; p++)
		done += poll_pair(n, p, budget);
	vnet_tx_flush(n);
	return done;
}

void net_idle(void)
{
	if (nr_vnets)
		vnet_init();    /* only once a command took the NICs in */
	for (unsigned i = 0; i < nr_vnets; i++)
		vnet_poll(&vnets[i], POLL_BUDGET);
}

/* ---- shell ---- */

static void print_mac(const char *key, const u8 *m)
{
	kprintf("%s=%02x:%02x:%02x:%02x:%02x:%02x", key, m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void print_dev(struct vnet *n)
{
	char ip[16];

	/* A NIC plugged into the slot since init brings its own address (config change). */
	if (n->state == NET_OK && (n->vd.features & VBIT(VIRTIO_NET_F_MAC)))
		virtio_config_read(&n->vd, 0, n->mac, 6);
	if (n->state == NET_OK)
		virtio_ack_interrupt(&n->vd);   /* counts config-change notifications */
	ip_format(n->ip, ip);
	kprintf("net index=%u base=0x%lx irq=%u ", n->index, n->vd.base, n->vd.irq);
	print_mac("mac", n->mac);
	kprintf(" link=%s ip=%s/%u features=0x%lx offered=0x%lx config_changes=%lu state=%s\r\n",
		n->state == NET_OK && vnet_link_up(n) ? "up" : "down", ip, n->prefix,
		n->vd.features, n->vd.offered, n->vd.isr_config, state_name(n));
}

static void cmd_stat(struct vnet *n)
{
	u64 notifies = 0;

	for (unsigned p = 0; p < n->pairs; p++)
		notifies += n->rxq[p].notifies + n->txq[p].notifies;
	kprintf("stat index=%u rx_frames=%lu rx_bytes=%lu tx_frames=%lu tx_bytes=%lu rx_dropped=%lu "
		"rx_merged=%lu tx_full=%lu arp_rx=%lu arp_tx=%lu icmp_echo=%lu udp_rx=%lu "
		"udp_echoed=%lu udp_tx=%lu notifies=%lu pairs=%u rx_q0=%lu rx_q1=%lu tx_q0=%lu "
		"tx_q1=%lu\r\n", n->index,
		n->rx_frames, n->rx_bytes, n->tx_frames, n->tx_bytes, n->rx_dropped, n->rx_merged,
		n->tx_full, n->arp_rx, n->arp_tx, n->icmp_echo, n->udp_rx, n->udp_echoed, n->udp_tx,
		notifies, n->pairs, n->rx_pair[0], n->rx_pair[1], n->tx_pair[0], n->tx_pair[1]);
	ok();
}

/* "A.B.C.D/LEN" */
static void cmd_ip(struct vnet *n, char *s)
{
	char *w = arg_word(&s), *slash = w;
	const char *end;
	u32 ip;
	u64 len;

	while (*slash && *slash != '/')
		slash++;
	if (!arg_end(s) || !ip_parse(w, &ip) || *slash != '/' ||
	    !parse_u64(slash + 1, &end, &len) || *end || len < 1 || len > 30) {
		fail("bad-arguments");
		return;
	}
	n->ip = ip;
	n->prefix = (u32)len;
	memset(n->arp, 0, sizeof(n->arp));
	print_dev(n);
	ok();
}

/* Destination "A.B.C.D PORT": resolved on our subnet, or the status line printed. */
static int dest_args(struct vnet *n, char **s, u32 *ip, u64 *port, u8 mac[6])
{
	char *w = arg_word(s);

	if (!ip_parse(w, ip) || !arg_u64(s, port) || !*port || *port > 65535) {
		fail("bad-arguments");
		return 0;
	}
	if (!n->ip || !ip_on_subnet(n, *ip)) {
		fail(n->ip ? "no-route" : "no-address");
		return 0;
	}
	if (arp_resolve(n, *ip, mac)) {
		fail("arp-timeout");
		return 0;
	}
	return 1;
}

/* Sends datagrams until `count` are out or `end` (a TSC deadline, 0 = none) passes. */
static u64 udp_burst(struct vnet *n, const u8 mac[6], u32 ip, u16 port, u32 size, u64 count,
		     u64 end)
{
	u64 sent = 0;

	while (sent < count && !(end && tsc_passed(end))) {
		u8 *f = vnet_tx_buf(n);

		if (!f)
			break;
		vnet_tx_commit(n, udp_build(n, f, mac, ip, NET_ECHO_PORT, port, size, sent), 0);
		sent++;
		n->udp_tx++;
		if (!(sent % TX_BATCH))
			vnet_poll(n, POLL_BUDGET);      /* answers ARP (and echoes) meanwhile */
	}
	vnet_tx_flush(n);
	return sent;
}

/* An optional last "q=N": the queue pair to send on (0..pairs-1); 0 if absent. */
static int pair_arg(struct vnet *n, char **s, unsigned *p)
{
	const char *end;
	char *w;
	u64 q = 0;

	if (arg_end(*s)) {
		*p = 0;
		return 1;
	}
	w = arg_word(s);
	if (strncmp(w, "q=", 2) || !parse_u64(w + 2, &end, &q) || *end || q >= n->pairs ||
	    !arg_end(*s))
		return 0;
	*p = (unsigned)q;
	return 1;
}

/* send A.B.C.D PORT COUNT SIZE [q=N]: COUNT datagrams of SIZE payload bytes from port 7. */
static void cmd_send(struct vnet *n, char *s)
{
	u64 port, count, size, sent;
	unsigned pair;
	u8 mac[6];
	u32 ip;

	if (!dest_args(n, &s, &ip, &port, mac))
		return;
	if (!arg_u64(&s, &count) || !arg_u64(&s, &size) || !pair_arg(n, &s, &pair) || !count ||
	    count > 100000000 || size > UDP_MAX_PAYLOAD) {
		fail("bad-arguments");
		return;
	}
	n->txp = pair;
	sent = udp_burst(n, mac, ip, (u16)port, (u32)size, count, 0);
	n->txp = 0;
	kprintf("sent=%lu size=%lu q=%u\r\n", sent, size, pair);
	if (sent < count)
		fail("queue-full");
	else
		ok();
}

static void bench_report(const char *dir, u64 frames, u64 bytes, u64 us)
{
	u64 fps = us ? frames * 1000000 / us : 0, mbps100 = us ? bytes * 800 / us : 0;

	kprintf("bench dir=%s frames=%lu bytes=%lu us=%lu fps=%lu mbps=%lu.%02lu\r\n", dir, frames,
		bytes, us, fps, mbps100 / 100, mbps100 % 100);
}

/*
 * bench tx A.B.C.D PORT SIZE MS: as many datagrams as the queue takes for MS ms.
 * bench rx PORT MS: counts datagrams to PORT for MS ms; the rate is over the
 * span from the first to the last one (the host starts and stops on its own).
 */
static void cmd_bench(struct vnet *n, char *s)
{
	char *dir = arg_word(&s);
	u64 port, size, ms, start, frames, bytes, us;
	u8 mac[6];
	u32 ip;

	if (!strncmp(dir, "tx", 3)) {
		if (!dest_args(n, &s, &ip, &port, mac))
			return;
		if (!arg_u64(&s, &size) || !arg_u64(&s, &ms) || !arg_end(s) ||
		    size > UDP_MAX_PAYLOAD || !ms || ms > 600000) {
			fail("bad-arguments");
			return;
		}
		start = rdtsc();
		bytes = n->tx_bytes;
		frames = udp_burst(n, mac, ip, (u16)port, (u32)size, ~0ULL,
				   tsc_deadline(ms * 1000));
		bench_report("tx", frames, n->tx_bytes - bytes, tsc_to_us(rdtsc() - start));
		ok();
		return;
	}
	if (strncmp(dir, "rx", 3) || !arg_u64(&s, &port) || !port || port > 65535 ||
	    port == NET_ECHO_PORT || !arg_u64(&s, &ms) || !arg_end(s) || !ms || ms > 600000) {
		fail("bad-arguments");
		return;
	}
	n->bench_port = (u16)port;
	n->bench_frames = n->bench_bytes = 0;
	start = tsc_deadline(ms * 1000);
	while (!tsc_passed(start))
		if (!vnet_poll(n, POLL_BUDGET))
			cpu_relax();
	n->bench_port = 0;
	us = n->bench_frames > 1 ? tsc_to_us(n->bench_last - n->bench_first) : 0;
	bench_report("rx", n->bench_frames, n->bench_bytes, us);
	ok();
}

/* `net [ethN] <sub> ...`: device N (default 0), usable, or NULL with the status printed. */
static struct vnet *pick_dev(char **s)
{
	char *p = arg_skip(*s);
	const char *end;
	u64 i = 0;
	struct vnet *n;

	if (!strncmp(p, "eth", 3)) {
		char *w = arg_word(s);

		if (!parse_u64(w + 3, &end, &i) || *end) {
			fail("bad-arguments");
			return 0;
		}
	}
	if (i >= nr_vnets) {
		fail("nodev");
		return 0;
	}
	n = &vnets[i];
	if (n->state != NET_OK) {
		fail(state_name(n));
		return 0;
	}
	return n;
}

static void cmd_list(char *s)
{
	if (!arg_end(s)) {
		fail("bad-arguments");
		return;
	}
	for (unsigned i = 0; i < nr_vnets; i++)
		print_dev(&vnets[i]);
	ok();
}

static void cmd_init(void)
{
	int e = 0;

	for (unsigned i = 0; i < nr_vnets; i++) {
		if (vnets[i].state == NET_OFF || vnets[i].err == -VIO_ELEGACY ||
		    vnets[i].err == -VIO_ENODEV)
			continue;
		if (vnet_dev_init(&vnets[i]) && !e)
			e = vnets[i].err;
	}
	if (e)
		fail(virtio_strerror(e));
	else
		cmd_list("");
}

void net_command(char *args)
{
	char *s = args, *w;
	struct vnet *n;

	vnet_init();            /* on first use: keeps boot time unaffected */
	w = arg_skip(s);
	if (!*w || (!strncmp(w, "list", 4) && (w[4] == ' ' || !w[4]))) {
		arg_word(&s);
		cmd_list(s);
		return;
	}
	if (!strncmp(w, "init", 5)) {
		cmd_init();
		return;
	}
	if (!(n = pick_dev(&s)))
		return;
	w = arg_word(&s);
	if (!strncmp(w, "ip", 3))
		cmd_ip(n, s);
	else if (!strncmp(w, "stat", 5) && arg_end(s))
		cmd_stat(n);
	else if (!strncmp(w, "link", 5) && arg_end(s)) {
		print_dev(n);
		ok();
	} else if (!strncmp(w, "send", 5))
		cmd_send(n, s);
	else if (!strncmp(w, "bench", 6))
		cmd_bench(n, s);
	else
		fail("bad-arguments");
}
