/*
 * virtio-rng driver and the `rng` shell command (docs/guest-shell.md "Entropy").
 * One request queue per device, polled at CPL3; every request is one
 * device-writable buffer inside the guest image, and the device may fill it
 * only partly (it returns how many bytes it wrote), so reads loop until
 * they have what was asked for.
 */
#include "virtio.h"

#define VIRTIO_ID_RNG           4
#define RNG_MAX_DEVS            4
#define RNG_BUF_SIZE            (64 * 1024)     /* largest request and `rng rate` buffer */
#define RNG_HEX_MAX             4096            /* `rng <n>` prints n bytes as hex */
#define RNG_TIMEOUT_US          30000000ULL     /* no byte for this long: msg=timeout */
#define RNG_STATUS_POLL_US      1000ULL         /* NEEDS_RESET check while waiting */
#define RNG_IRQ_WAIT_US         1000ULL         /* wait for the IRR bit after a completion */

enum { ST_OFF, ST_OK, ST_FAILED };

struct rng_dev {
	struct virtio_dev vd;
	struct virtq vq;
	int state;
	int err;                /* why ST_FAILED (-VIO_*) */
	u64 requests, bytes, short_reads, timeouts, resets;
};

static struct rng_dev rngs[RNG_MAX_DEVS];
static u32 nr_rngs;
/* Not zeroed at boot (and so not touched): rings are cleared at queue setup. */
static u8 ring_mem[RNG_MAX_DEVS][VQ_MEM_SIZE] __attribute__((section(".dmabuf"), aligned(4096)));
static u8 rng_buf[RNG_BUF_SIZE] __attribute__((section(".dmabuf"), aligned(4096)));

static void ok(void) { kprintf("status=ok\r\n"); }
static void fail(const char *msg) { kprintf("status=error msg=%s\r\n", msg); }

static const char *state_name(struct rng_dev *r)
{
	return r->state == ST_OK ? "ok" : r->state == ST_FAILED ? virtio_strerror(r->err) : "off";
}

static int rng_dev_init(struct rng_dev *r)
{
	int e;

	r->state = ST_FAILED;
	e = virtio_negotiate(&r->vd, VBIT(VIRTIO_F_EVENT_IDX), 0);
	if (!e)
		e = virtio_queue_setup(&r->vd, &r->vq, 0, ring_mem[r - rngs], VQ_MAX_SIZE);
	if (e) {
		r->err = e;
		virtio_reset(&r->vd);
		return e;
	}
	virtio_driver_ok(&r->vd);
	r->state = ST_OK;
	return 0;
}

/* On first use, not at boot: every window whose DeviceID is 4, in command-line order. */
static void rng_init(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	for (u32 i = 0; i < bi.nr_virtio && nr_rngs < RNG_MAX_DEVS; i++) {
		struct rng_dev *r = &rngs[nr_rngs];
		const struct virtio_mmio_dev *d = &bi.virtio[i];
		int e;

		/* One register read per window before touching anything. */
		if (virtio_entry_device_id(d) != VIRTIO_ID_RNG)
			continue;
		e = virtio_probe(&r->vd, d);
		nr_rngs++;
		if (e) {                /* listed, but never initialised */
			r->state = ST_FAILED;
			r->err = e;
			continue;
		}
		rng_dev_init(r);
	}
}

/*
 * One request of len bytes at rng_buf + off, waited for until `end` (a TSC
 * deadline). Returns the bytes written (>= 0) or -VIO_*; -VIO_ETIMEOUT with
 * the buffer still posted (the caller re-initialises the device).
 */
static int rng_request(struct rng_dev *r, u32 off, u32 len, u64 end, u64 irq_wait_us)
{
	struct vbuf v = { (u64)(rng_buf + off), len, 1 };
	u64 next_check = tsc_deadline(RNG_STATUS_POLL_US);
	u32 used = 0;
	int e = vq_add(&r->vq, &v, 1, r);

	if (e)
		return e;
	r->requests++;
	vq_kick(&r->vq);
	while (!vq_get_used(&r->vq, &used)) {
		if (tsc_passed(next_check)) {
			if (virtio_get_status(&r->vd) & VIRTIO_S_NEEDS_RESET) {
				r->state = ST_FAILED;
				r->err = -VIO_ENEEDS_RESET;
				return -VIO_ENEEDS_RESET;
			}
			next_check = tsc_deadline(RNG_STATUS_POLL_US);
		}
		if (tsc_passed(end))
			return -VIO_ETIMEOUT;
		cpu_relax();
	}
	if (irq_wait_us)
		virtio_observe_irq(&r->vd, irq_wait_us);
	virtio_ack_interrupt(&r->vd);
	if (used > len)
		used = len;     /* a device bug must not make us read past the buffer */
	if (used < len)
		r->short_reads++;
	r->bytes += used;
	return (int)used;
}

/* A request abandoned at a deadline: reset so the device forgets the buffer. */
static void rng_abandon(struct rng_dev *r)
{
	r->resets++;
	rng_dev_init(r);
}

/* ---- shell ---- */

/* The first device, usable; NULL with the status line printed. */
static struct rng_dev *dev0(void)
{
	struct rng_dev *r = nr_rngs ? &rngs[0] : 0;

	if (!r) {
		fail("nodev");
		return 0;
	}
	if (r->state != ST_OK) {
		fail(state_name(r));
		return 0;
	}
	return r;
}

/* rng <n>: n bytes (1..4096), however many requests the device needs. */
static void cmd_read(u64 n)
{
	struct rng_dev *r = dev0();
	u64 got = 0, reqs = 0;

	if (!r)
		return;
	while (got < n) {
		int e = rng_request(r, (u32)got, (u32)(n - got), tsc_deadline(RNG_TIMEOUT_US),
				    RNG_IRQ_WAIT_US);

		reqs++;
		if (e < 0) {
			if (e == -VIO_ETIMEOUT) {
				r->timeouts++;
				rng_abandon(r);
			}
			kprintf("bytes=%lu requests=%lu\r\n", got, reqs);
			fail(virtio_strerror(e));
			return;
		}
		got += (u64)e;
	}
	kprintf("bytes=%lu requests=%lu hex=", got, reqs);
	for (u64 i = 0; i < got; i++)
		kprintf("%02x", rng_buf[i]);
	kprintf("\r\n");
	ok();
}

/*
 * rng rate <ms> [<bs>]: requests of bs bytes back to back for ms of guest
 * time; counts only what completed inside the window (a request still
 * posted at its end is abandoned: the device is reset).
 */
static void cmd_rate(char *s)
{
	struct rng_dev *r;
	u64 ms, bs = 64, bytes = 0, reqs = 0, start, end;
	int e = 0;

	if (!arg_u64(&s, &ms) || !ms || ms > 600000 || (*arg_skip(s) && !arg_u64(&s, &bs)) || !bs ||
	    bs > RNG_BUF_SIZE || *arg_skip(s)) {
		fail("bad-arguments");
		return;
	}
	if (!(r = dev0()))
		return;
	start = rdtsc();
	end = tsc_deadline(ms * 1000);
	while (!tsc_passed(end)) {
		e = rng_request(r, 0, (u32)bs, end, 0);
		if (e < 0)
			break;
		reqs++;
		bytes += (u64)e;
	}
	if (e == -VIO_ETIMEOUT) {
		rng_abandon(r);
		e = 0;
	}
	kprintf("bytes=%lu requests=%lu ms=%lu\r\n", bytes, reqs, tsc_to_us(rdtsc() - start) / 1000);
	if (e < 0)
		fail(virtio_strerror(e));
	else
		ok();
}

static void cmd_list(void)
{
	for (u32 i = 0; i < nr_rngs; i++) {
		struct rng_dev *r = &rngs[i];

		kprintf("rng index=%u base=0x%lx irq=%u features=0x%lx offered=0x%lx queue_size=%u "
			"event_idx=%u state=%s\r\n", i, r->vd.base, r->vd.irq, r->vd.features,
			r->vd.offered, r->vq.num, r->vq.event_idx, state_name(r));
	}
	ok();
}

static void cmd_stat(void)
{
	for (u32 i = 0; i < nr_rngs; i++) {
		struct rng_dev *r = &rngs[i];

		kprintf("rng index=%u requests=%lu bytes=%lu short_reads=%lu timeouts=%lu resets=%lu "
			"notifies=%lu isr_used=%lu irr_seen=%lu irr_missing=%lu state=%s\r\n", i,
			r->requests, r->bytes, r->short_reads, r->timeouts, r->resets,
			r->vq.notifies, r->vd.isr_used, r->vd.irr_seen, r->vd.irr_missing,
			state_name(r));
	}
	ok();
}

static void cmd_init(void)
{
	int e = 0;

	for (u32 i = 0; i < nr_rngs; i++) {
		if (rngs[i].err == -VIO_ELEGACY)
			continue;
		rngs[i].resets++;
		if (rng_dev_init(&rngs[i]) && !e)
			e = rngs[i].err;
	}
	if (e)
		fail(virtio_strerror(e));
	else
		cmd_list();
}

void rng_command(char *args)
{
	char *s = args, *w;
	u64 n;

	rng_init();             /* on first use: keeps boot time unaffected */
	w = arg_skip(s);
	if (*w >= '0' && *w <= '9') {
		if (!arg_u64(&s, &n) || !n || n > RNG_HEX_MAX || *arg_skip(s)) {
			fail("bad-arguments");
			return;
		}
		cmd_read(n);
		return;
	}
	w = arg_word(&s);
	if (*arg_skip(s) && strncmp(w, "rate", 5)) {
		fail("bad-arguments");
		return;
	}
	if (!strncmp(w, "rate", 5))
		cmd_rate(s);
	else if (!strncmp(w, "list", 5))
		cmd_list();
	else if (!strncmp(w, "stat", 5))
		cmd_stat();
	else if (!strncmp(w, "init", 5))
		cmd_init();
	else
		fail("bad-arguments");
}
