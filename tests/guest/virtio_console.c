/*
 * virtio-console driver (virtio 1.2 §5.3, MULTIPORT) and the `vcon` shell
 * command (docs/guest-shell.md "Console ports"). The first console device
 * is initialised on first use; its control queue is polled by every vcon
 * command: DEVICE_ADD is answered with PORT_READY (receive buffers posted),
 * CONSOLE_PORT, PORT_NAME, PORT_OPEN and DEVICE_REMOVE update the port. The
 * guest side of a port is opened and closed only by `vcon open` / `vcon
 * close`, so a test decides when data may flow towards the guest.
 */
#include "virtio.h"

#define VIRTIO_ID_CONSOLE       3
#define F_MULTIPORT             1
#define VCON_PORTS              4       /* ports 0..3 are driven; others are not set up */
#define VCON_RX_BUFS            8       /* receive buffers per port */
#define VCON_RX_SIZE            4096
#define VCON_TX_SIZE            16384   /* bytes per transmit chain */
#define VCON_CTRL_BUFS          16
#define VCON_CTRL_SIZE          64
#define VCON_QUEUES             (2 + 2 * VCON_PORTS)
#define VCON_TIMEOUT_US         30000000ULL     /* no progress for this long: msg=timeout */
#define VCON_SETTLE_US          200000ULL       /* control traffic quiet this long: settled */
#define VCON_HEX_MAX            256

enum { DEVICE_READY, DEVICE_ADD, DEVICE_REMOVE, PORT_READY, CONSOLE_PORT, RESIZE, PORT_OPEN,
       PORT_NAME };

struct vcon_port {
	int exists, console, host_open, guest_open;
	char name[VCON_CTRL_SIZE];
	u32 pend_buf, pend_off, pend_len;       /* a used receive buffer partly consumed */
	int pending;
	int consumed;           /* pend_buf was read out: posted again on the next take */
	u64 sent, received;
};

static struct {
	struct virtio_dev vd;
	struct virtq vq[VCON_QUEUES];
	int state;              /* 0 off, 1 ok, -VIO_* failed */
	u32 max_ports, nports;
	struct vcon_port port[VCON_PORTS];
} vc;

static u8 vq_mem[VCON_QUEUES][VQ_MEM_SIZE] __attribute__((section(".dmabuf"), aligned(4096)));
static u8 rx_mem[VCON_PORTS][VCON_RX_BUFS][VCON_RX_SIZE] __attribute__((section(".dmabuf"),
									aligned(4096)));
static u8 tx_mem[VCON_TX_SIZE] __attribute__((section(".dmabuf"), aligned(4096)));
static u8 ctrl_rx[VCON_CTRL_BUFS][VCON_CTRL_SIZE] __attribute__((section(".dmabuf"), aligned(64)));
static u8 ctrl_tx[VCON_CTRL_SIZE] __attribute__((section(".dmabuf"), aligned(64)));

static void ok(void) { kprintf("status=ok\r\n"); }
static void fail(const char *msg) { kprintf("status=error msg=%s\r\n", msg); }

static unsigned rxq(u32 nr) { return nr == 0 ? 0 : 2 * nr + 2; }

/* Cookies are index + 1: vq_get_used returns NULL for "nothing". */
static void *cookie(u32 i) { return (void *)(u64)(i + 1); }
static u32 index_of(void *c) { return (u32)((u64)c - 1); }

static int post(struct virtq *q, void *buf, u32 len, int write, u32 i)
{
	struct vbuf b = { (u64)buf, len, write };
	int e = vq_add(q, &b, 1, cookie(i));

	if (!e)
		vq_kick(q);
	return e;
}

/* Waits for the one chain out on q; 0, -VIO_ETIMEOUT or -VIO_ENEEDS_RESET. */
static int wait_used(struct virtq *q, u32 *len)
{
	u64 end = tsc_deadline(VCON_TIMEOUT_US);

	while (!vq_get_used(q, len)) {
		if (virtio_get_status(&vc.vd) & VIRTIO_S_NEEDS_RESET)
			return -VIO_ENEEDS_RESET;
		if (tsc_passed(end))
			return -VIO_ETIMEOUT;
		cpu_relax();
	}
	virtio_ack_interrupt(&vc.vd);
	return 0;
}

static int send_ctrl(u32 id, u16 event, u16 value)
{
	u32 len;
	int e;

	memcpy(ctrl_tx, &id, 4);
	memcpy(ctrl_tx + 4, &event, 2);
	memcpy(ctrl_tx + 6, &value, 2);
	e = post(&vc.vq[3], ctrl_tx, 8, 0, 0);
	return e ? e : wait_used(&vc.vq[3], &len);
}

static void port_added(u32 nr)
{
	struct vcon_port *p = &vc.port[nr];

	if (nr >= vc.nports) {
		send_ctrl(nr, PORT_READY, 0);   /* a port this driver does not drive */
		return;
	}
	if (!p->exists) {
		memset(p, 0, sizeof(*p));
		p->exists = 1;
		for (u32 i = 0; i < VCON_RX_BUFS; i++)
			post(&vc.vq[rxq(nr)], rx_mem[nr][i], VCON_RX_SIZE, 1, i);
	}
	send_ctrl(nr, PORT_READY, 1);
}

static void handle_ctrl(const u8 *m, u32 len)
{
	u32 id;
	u16 event, value;
	struct vcon_port *p;

	if (len < 8)
		return;
	memcpy(&id, m, 4);
	memcpy(&event, m + 4, 2);
	memcpy(&value, m + 6, 2);
	if (event == DEVICE_ADD) {
		port_added(id);
		return;
	}
	if (id >= vc.nports)
		return;
	p = &vc.port[id];
	if (event == DEVICE_REMOVE) {
		p->exists = 0;          /* its receive buffers stay posted on its queue */
	} else if (event == CONSOLE_PORT) {
		p->console = value;
	} else if (event == PORT_OPEN) {
		p->host_open = value;
	} else if (event == PORT_NAME) {
		u32 n = len - 8 < VCON_CTRL_SIZE - 1 ? len - 8 : VCON_CTRL_SIZE - 1;

		memcpy(p->name, m + 8, n);
		p->name[n] = 0;
	}
}

/* Handles control messages until none has come for VCON_SETTLE_US (or just what is there). */
static void poll_ctrl(int settle)
{
	u64 quiet = tsc_deadline(VCON_SETTLE_US);
	void *c;
	u32 len;

	for (;;) {
		if ((c = vq_get_used(&vc.vq[2], &len))) {
			u32 i = index_of(c);

			handle_ctrl(ctrl_rx[i], len > VCON_CTRL_SIZE ? VCON_CTRL_SIZE : len);
			post(&vc.vq[2], ctrl_rx[i], VCON_CTRL_SIZE, 1, i);
			quiet = tsc_deadline(VCON_SETTLE_US);
			continue;
		}
		if (!settle || tsc_passed(quiet))
			break;
		cpu_relax();
	}
	virtio_ack_interrupt(&vc.vd);
}

static int vcon_setup(void)
{
	u32 nq;
	int e;

	e = virtio_negotiate(&vc.vd, VBIT(F_MULTIPORT) | VBIT(VIRTIO_F_EVENT_IDX), VBIT(F_MULTIPORT));
	if (e)
		return e;
	virtio_config_read(&vc.vd, 4, &vc.max_ports, 4);
	vc.nports = vc.max_ports < VCON_PORTS ? vc.max_ports : VCON_PORTS;
	nq = 2 + 2 * vc.nports;
	for (u32 q = 0; q < nq && !e; q++)
		e = virtio_queue_setup(&vc.vd, &vc.vq[q], (u16)q, vq_mem[q], 64);
	if (e)
		return e;
	memset(vc.port, 0, sizeof(vc.port));
	virtio_driver_ok(&vc.vd);
	for (u32 i = 0; i < VCON_CTRL_BUFS; i++)
		post(&vc.vq[2], ctrl_rx[i], VCON_CTRL_SIZE, 1, i);
	e = send_ctrl(0, DEVICE_READY, 1);
	if (!e)
		poll_ctrl(1);
	return e;
}

/* On first use: the first window whose DeviceID is 3. */
static int vcon_init(void)
{
	static int done;

	if (done)
		return vc.state;
	done = 1;
	vc.state = -VIO_ENODEV;
	for (u32 i = 0; i < bi.nr_virtio; i++) {
		const struct virtio_mmio_dev *d = &bi.virtio[i];

		if (virtio_entry_device_id(d) != VIRTIO_ID_CONSOLE)
			continue;
		vc.state = virtio_probe(&vc.vd, d);
		if (!vc.state)
			vc.state = vcon_setup();
		if (!vc.state)
			vc.state = 1;
		break;
	}
	return vc.state;
}

/* ---- data ---- */

/* One chain of len bytes (at most VCON_TX_SIZE), waited for; 0 or -VIO_*. */
static int port_send(u32 nr, const u8 *data, u32 len)
{
	u32 used;
	int e = post(&vc.vq[rxq(nr) + 1], (void *)data, len, 0, 0);

	if (!e)
		e = wait_used(&vc.vq[rxq(nr) + 1], &used);
	if (!e)
		vc.port[nr].sent += len;
	return e;
}

/*
 * A buffer handed out by port_take goes back to the device only on the next
 * call (or port_release): the device may write into it as soon as it is posted.
 */
static void port_release(u32 nr)
{
	struct vcon_port *p = &vc.port[nr];

	if (p->consumed) {
		p->consumed = 0;
		post(&vc.vq[rxq(nr)], rx_mem[nr][p->pend_buf], VCON_RX_SIZE, 1, p->pend_buf);
	}
}

/* Up to `max` received bytes at *out (inside a receive buffer); 0 if none yet. */
static u32 port_take(u32 nr, const u8 **out, u32 max)
{
	struct vcon_port *p = &vc.port[nr];
	void *c;
	u32 n;

	port_release(nr);
	if (!p->pending) {
		if (!(c = vq_get_used(&vc.vq[rxq(nr)], &p->pend_len)))
			return 0;
		p->pend_buf = index_of(c);
		p->pend_off = 0;
		if (p->pend_len > VCON_RX_SIZE)
			p->pend_len = VCON_RX_SIZE;
		p->pending = 1;
	}
	n = p->pend_len - p->pend_off < max ? p->pend_len - p->pend_off : max;
	*out = rx_mem[nr][p->pend_buf] + p->pend_off;
	p->pend_off += n;
	p->received += n;
	if (p->pend_off == p->pend_len) {
		p->pending = 0;
		p->consumed = 1;
	}
	return n;
}

/* ---- shell ---- */

static void print_md5(struct md5 *m)
{
	u8 d[16];

	md5_final(m, d);
	kprintf(" md5=");
	for (int i = 0; i < 16; i++)
		kprintf("%02x", d[i]);
}

/* The port named by the next argument, usable; NULL with the status line printed. */
static struct vcon_port *port_arg(char **s, u32 *nr)
{
	u64 v;
	int st = vcon_init();

	if (st != 1) {
		fail(st == -VIO_ENODEV ? "nodev" : virtio_strerror(st));
		return 0;
	}
	if (!arg_u64(s, &v) || v >= vc.nports) {
		fail("bad-arguments");
		return 0;
	}
	poll_ctrl(0);
	if (!vc.port[v].exists) {
		fail("noport");
		return 0;
	}
	*nr = (u32)v;
	return &vc.port[v];
}

static void cmd_list(void)
{
	int st = vcon_init();

	if (st != 1) {
		fail(st == -VIO_ENODEV ? "nodev" : virtio_strerror(st));
		return;
	}
	poll_ctrl(1);
	kprintf("vcon base=0x%lx irq=%u max_ports=%u features=0x%lx\r\n", vc.vd.base, vc.vd.irq,
		vc.max_ports, vc.vd.features);
	for (u32 i = 0; i < vc.nports; i++) {
		struct vcon_port *p = &vc.port[i];

		if (p->exists)
			kprintf("port nr=%u console=%d name=%s host=%d guest=%d sent=%lu received=%lu\r\n",
				i, p->console, p->name[0] ? p->name : "-", p->host_open, p->guest_open,
				p->sent, p->received);
	}
	ok();
}

static void cmd_open(char *s, int open)
{
	struct vcon_port *p;
	u32 nr;
	int e;

	if (!(p = port_arg(&s, &nr)))
		return;
	if (!arg_end(s)) {
		fail("bad-arguments");
		return;
	}
	e = send_ctrl(nr, PORT_OPEN, (u16)open);
	if (e) {
		fail(virtio_strerror(e));
		return;
	}
	p->guest_open = open;
	ok();
}

/* vcon send <nr> <bytes> <seed>: splitmix64 bytes in VCON_TX_SIZE chains. */
static void cmd_send(char *s)
{
	struct vcon_port *p;
	struct md5 m;
	u64 n, seed, done = 0, k = 0;
	u32 nr;
	int e = 0;

	if (!(p = port_arg(&s, &nr)))
		return;
	if (!arg_u64(&s, &n) || !arg_u64(&s, &seed) || !arg_end(s) || n > (1ULL << 32)) {
		fail("bad-arguments");
		return;
	}
	md5_init(&m);
	while (done < n && !e) {
		u32 len = n - done < VCON_TX_SIZE ? (u32)(n - done) : VCON_TX_SIZE;

		for (u32 i = 0; i < len; i += 8) {
			u64 r = splitmix64(seed + k++);

			memcpy(tx_mem + i, &r, len - i < 8 ? len - i : 8);
		}
		md5_update(&m, tx_mem, len);
		e = port_send(nr, tx_mem, len);
		if (!e)
			done += len;
	}
	kprintf("bytes=%lu", done);
	print_md5(&m);
	kprintf("\r\n");
	if (e)
		fail(virtio_strerror(e));
	else
		ok();
}

/* vcon write <nr> <word>: the word and "\n". */
static void cmd_write(char *s)
{
	struct vcon_port *p;
	char *w;
	u32 nr, len;
	int e;

	if (!(p = port_arg(&s, &nr)))
		return;
	w = arg_word(&s);
	len = (u32)strlen(w);
	if (!len || len >= VCON_TX_SIZE || !arg_end(s)) {
		fail("bad-arguments");
		return;
	}
	memcpy(tx_mem, w, len);
	tx_mem[len] = '\n';
	e = port_send(nr, tx_mem, len + 1);
	if (e)
		fail(virtio_strerror(e));
	else
		ok();
}

/* vcon recv <nr> <bytes>: exactly that many; hex too when few. */
static void cmd_recv(char *s)
{
	static u8 hex[VCON_HEX_MAX];
	struct vcon_port *p;
	struct md5 m;
	u64 n, got = 0, end = tsc_deadline(VCON_TIMEOUT_US);
	u32 nr;

	if (!(p = port_arg(&s, &nr)))
		return;
	if (!arg_u64(&s, &n) || !n || !arg_end(s)) {
		fail("bad-arguments");
		return;
	}
	md5_init(&m);
	while (got < n && !tsc_passed(end)) {
		const u8 *b;
		u32 k = port_take(nr, &b, n - got < VCON_RX_SIZE ? (u32)(n - got) : VCON_RX_SIZE);

		if (!k) {
			if (virtio_get_status(&vc.vd) & VIRTIO_S_NEEDS_RESET)
				break;
			cpu_relax();
			continue;
		}
		if (got < VCON_HEX_MAX)
			memcpy(hex + got, b, got + k > VCON_HEX_MAX ? VCON_HEX_MAX - got : k);
		md5_update(&m, b, k);
		got += k;
		end = tsc_deadline(VCON_TIMEOUT_US);
		virtio_ack_interrupt(&vc.vd);
	}
	port_release(nr);
	kprintf("bytes=%lu", got);
	print_md5(&m);
	if (n <= VCON_HEX_MAX && got == n) {
		kprintf(" hex=");
		for (u64 i = 0; i < got; i++)
			kprintf("%02x", hex[i]);
	}
	kprintf("\r\n");
	if (got < n)
		fail(virtio_get_status(&vc.vd) & VIRTIO_S_NEEDS_RESET ? "needs-reset" : "timeout");
	else
		ok();
}

/* vcon wait <nr> <0|1>: until the host side is (dis)connected, as PORT_OPEN says. */
static void cmd_wait(char *s)
{
	struct vcon_port *p;
	u64 want, end = tsc_deadline(VCON_TIMEOUT_US);
	u32 nr;

	if (!(p = port_arg(&s, &nr)))
		return;
	if (!arg_u64(&s, &want) || want > 1 || !arg_end(s)) {
		fail("bad-arguments");
		return;
	}
	while ((u64)p->host_open != want && !tsc_passed(end)) {
		poll_ctrl(0);
		cpu_relax();
	}
	if ((u64)p->host_open != want)
		fail("timeout");
	else
		ok();
}

void vcon_command(char *args)
{
	char *s = args;
	char *w = arg_word(&s);

	if (!strncmp(w, "list", 5) && arg_end(s))
		cmd_list();
	else if (!strncmp(w, "open", 5))
		cmd_open(s, 1);
	else if (!strncmp(w, "close", 6))
		cmd_open(s, 0);
	else if (!strncmp(w, "send", 5))
		cmd_send(s);
	else if (!strncmp(w, "write", 6))
		cmd_write(s);
	else if (!strncmp(w, "recv", 5))
		cmd_recv(s);
	else if (!strncmp(w, "wait", 5))
		cmd_wait(s);
	else
		fail("bad-arguments");
}
