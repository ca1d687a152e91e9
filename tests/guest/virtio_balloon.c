/*
 * virtio-balloon driver and the `balloon` shell command (docs/guest-shell.md).
 *
 * The guest has no page allocator, so the balloon takes its pages from the
 * top of ram_free downwards and gives them back in the reverse order: the
 * pages it holds are always the highest `pages` pages of ram_free, and no
 * page list is needed.  Pages are posted in batches of 256 PFNs, one
 * buffer per batch, as Linux does.
 *
 * Everything is polled at CPL3 (docs: tests/guest/README.md).  The shell's
 * idle loop calls balloon_idle(): the first time it looks for the device
 * (one DeviceID read per virtio-mmio window), then every 10 ms it reads
 * InterruptStatus for a configuration change (a new target), and while the
 * balloon is not at its target it does one batch per call, so console input
 * is never held up for long.  `actual` is written once the target (or the
 * end of ram_free) is reached, so a QMP `balloon` normally brings exactly
 * one BALLOON_CHANGED.
 */
#include "virtio.h"

#define VIRTIO_ID_BALLOON       5
#define BLN_F_STATS_VQ          1
#define BLN_F_DEFLATE_ON_OOM    2
#define BLN_F_REPORTING         5
#define CFG_NUM_PAGES           0
#define CFG_ACTUAL              4
#define MMIO_CONFIG             0x100

#define Q_INFLATE               0
#define Q_DEFLATE               1
#define Q_STATS                 2

#define BLN_BATCH               256             /* PFNs per buffer (Linux's) */
#define BLN_POLL_US             10000ULL        /* InterruptStatus check when idle */
#define BLN_TIMEOUT_US          10000000ULL
#define BLN_STATUS_POLL_US      1000ULL
#define BLN_REPORT_CHUNK        (64 * MIB)      /* one free-page report descriptor */

#define S_MEMFREE               4
#define S_MEMTOT                5
#define S_AVAIL                 6
#define NR_STATS                3

enum { ST_UNPROBED, ST_NODEV, ST_OK, ST_FAILED };

struct bln_stat {
	u16 tag;
	u64 val;
} __attribute__((packed));

struct balloon {
	struct virtio_dev vd;
	const struct virtio_mmio_dev *entry;    /* where it was found (mmio window or PCI) */
	struct virtq inflate_vq, deflate_vq, stats_vq, report_vq;
	int state;
	int err;                /* why ST_FAILED (-VIO_*) */
	int auto_follow;        /* the idle loop follows the target (default on) */
	int stats_on, report_on;
	u64 next_poll;
	u64 pages;              /* held: the top `pages` pages of ram_free */
	u32 target;             /* num_pages as last read */
	u32 actual;             /* as last written */
	u64 inflated, deflated, reported, stats_requests;
};

static struct balloon bln = { .auto_follow = 1 };
static u32 pfns[BLN_BATCH] __attribute__((section(".dmabuf"), aligned(4096)));
static struct bln_stat stats[NR_STATS] __attribute__((section(".dmabuf"), aligned(64)));
/* Not zeroed at boot (and so not touched): rings are cleared at queue setup. */
static u8 ring_mem[4][VQ_MEM_SIZE] __attribute__((section(".dmabuf"), aligned(4096)));

static void ok(void) { kprintf("status=ok\r\n"); }
static void fail(const char *msg) { kprintf("status=error msg=%s\r\n", msg); }

static u64 capacity(void)
{
	u64 n = 0;

	for (u32 i = 0; i < bi.nr_ram_free; i++)
		n += bi.ram_free[i].size / PAGE_SIZE;
	return n;
}

/* Guest-physical address of the i-th page from the top of ram_free. */
static u64 page_at(u64 i)
{
	for (u32 r = bi.nr_ram_free; r-- > 0;) {
		u64 n = bi.ram_free[r].size / PAGE_SIZE;

		if (i < n)
			return bi.ram_free[r].base + bi.ram_free[r].size - (i + 1) * PAGE_SIZE;
		i -= n;
	}
	return 0;
}

static const char *state_name(const struct balloon *b)
{
	switch (b->state) {
	case ST_UNPROBED: return "off";
	case ST_NODEV: return "nodev";
	case ST_OK: return "ok";
	default: return virtio_strerror(b->err);
	}
}

static void set_failed(struct balloon *b, int err)
{
	b->state = ST_FAILED;
	b->err = err;
}

/* Polls for the chain just added; NEEDS_RESET and a 10 s timeout end the driver. */
static int wait_used(struct balloon *b, struct virtq *vq)
{
	u64 end = tsc_deadline(BLN_TIMEOUT_US), next_check = tsc_deadline(BLN_STATUS_POLL_US);

	while (!vq_get_used(vq, 0)) {
		if (tsc_passed(next_check)) {
			if (virtio_get_status(&b->vd) & VIRTIO_S_NEEDS_RESET) {
				set_failed(b, -VIO_ENEEDS_RESET);
				return -VIO_ENEEDS_RESET;
			}
			next_check = tsc_deadline(BLN_STATUS_POLL_US);
		}
		if (tsc_passed(end)) {
			set_failed(b, -VIO_ETIMEOUT);
			return -VIO_ETIMEOUT;
		}
		cpu_relax();
	}
	return 0;
}

static int post_one(struct balloon *b, struct virtq *vq, u64 addr, u32 len, int dev_writes)
{
	struct vbuf v = { addr, len, dev_writes };
	int r = vq_add(vq, &v, 1, &bln);

	if (r) {
		set_failed(b, r);
		return r;
	}
	vq_kick(vq);
	return wait_used(b, vq);
}

/* ---- statistics ---- */

static void fill_stats(struct balloon *b)
{
	u64 total = mem_total(), free = 0;

	for (u32 i = 0; i < bi.nr_ram_free; i++)
		free += bi.ram_free[i].size;
	free -= b->pages * PAGE_SIZE;
	stats[0] = (struct bln_stat){ S_MEMFREE, free };
	stats[1] = (struct bln_stat){ S_MEMTOT, total };
	stats[2] = (struct bln_stat){ S_AVAIL, free };
}

/* The buffer stays with the device until it wants fresher numbers. */
static void post_stats(struct balloon *b)
{
	struct vbuf v = { (u64)stats, sizeof(stats), 0 };

	fill_stats(b);
	if (vq_add(&b->stats_vq, &v, 1, &bln))
		return;
	vq_kick(&b->stats_vq);
}

/* ---- following the target ---- */

static u64 wanted(const struct balloon *b)
{
	u64 cap = capacity();

	return b->target < cap ? b->target : cap;
}

static void read_target(struct balloon *b)
{
	virtio_config_read(&b->vd, CFG_NUM_PAGES, &b->target, sizeof(b->target));
}

static void write_actual(struct balloon *b)
{
	b->actual = (u32)b->pages;
	mmio_write32(b->vd.base + MMIO_CONFIG + CFG_ACTUAL, b->actual);
}

/* One batch towards the target: 1 if pages moved, 0 if at the target, or -VIO_*. */
static int balloon_step(struct balloon *b)
{
	u64 want = wanted(b), n;
	int inflate = want > b->pages, r;

	if (want == b->pages) {
		if (b->actual != b->pages)
			write_actual(b);
		return 0;
	}
	n = inflate ? want - b->pages : b->pages - want;
	if (n > BLN_BATCH)
		n = BLN_BATCH;
	/* In ascending address order, so the host discards one run per batch. */
	for (u64 k = 0; k < n; k++) {
		u64 i = inflate ? b->pages + n - 1 - k : b->pages - 1 - k;

		pfns[k] = (u32)(page_at(i) >> 12);
	}
	r = post_one(b, inflate ? &b->inflate_vq : &b->deflate_vq, (u64)pfns,
		     (u32)(n * sizeof(pfns[0])), 0);
	if (r)
		return r;
	if (inflate) {
		b->pages += n;
		b->inflated += n;
	} else {
		b->pages -= n;
		b->deflated += n;
	}
	return 1;
}

/* Interrupts are never taken: InterruptStatus says the target changed. */
static void check_device(struct balloon *b)
{
	u32 isr = virtio_ack_interrupt(&b->vd);

	if (isr & 2) {
		if (virtio_get_status(&b->vd) & VIRTIO_S_NEEDS_RESET) {
			set_failed(b, -VIO_ENEEDS_RESET);
			return;
		}
		read_target(b);
	}
	if (b->stats_on && vq_get_used(&b->stats_vq, 0)) {
		b->stats_requests++;
		post_stats(b);
	}
}

/* ---- set-up ---- */

static int balloon_dev_init(struct balloon *b)
{
	u64 want = VBIT(BLN_F_STATS_VQ) | VBIT(BLN_F_DEFLATE_ON_OOM) | VBIT(BLN_F_REPORTING) |
		   VBIT(VIRTIO_F_EVENT_IDX);
	u16 q = Q_STATS;
	int r;

	b->pages = 0;
	b->actual = 0;
	b->target = 0;
	r = virtio_negotiate(&b->vd, want, 0);
	b->stats_on = !!(b->vd.features & VBIT(BLN_F_STATS_VQ));
	b->report_on = !!(b->vd.features & VBIT(BLN_F_REPORTING));
	if (!r)
		r = virtio_queue_setup(&b->vd, &b->inflate_vq, Q_INFLATE, ring_mem[0], VQ_MAX_SIZE);
	if (!r)
		r = virtio_queue_setup(&b->vd, &b->deflate_vq, Q_DEFLATE, ring_mem[1], VQ_MAX_SIZE);
	/* Queues are numbered over the ones the features give (stats, then reporting). */
	if (!r && b->stats_on)
		r = virtio_queue_setup(&b->vd, &b->stats_vq, q++, ring_mem[2], VQ_MAX_SIZE);
	if (!r && b->report_on)
		r = virtio_queue_setup(&b->vd, &b->report_vq, q, ring_mem[3], VQ_MAX_SIZE);
	if (r) {
		virtio_reset(&b->vd);
		set_failed(b, r);
		return r;
	}
	virtio_driver_ok(&b->vd);
	b->state = ST_OK;
	if (b->stats_on)
		post_stats(b);
	read_target(b);
	b->next_poll = tsc_deadline(BLN_POLL_US);
	return 0;
}

/* The first virtio device (window or PCI function) whose DeviceID is 5. */
static void balloon_probe(struct balloon *b)
{
	b->state = ST_NODEV;
	for (u32 i = 0; i < bi.nr_virtio; i++) {
		const struct virtio_mmio_dev *d = &bi.virtio[i];

		if (virtio_entry_device_id(d) != VIRTIO_ID_BALLOON)
			continue;
		b->entry = d;
		if (virtio_probe(&b->vd, d)) {
			b->state = ST_FAILED;
			b->err = -VIO_ENODEV;
			if (b->vd.device_id)
				b->err = -VIO_ELEGACY;
			return;
		}
		balloon_dev_init(b);
		return;
	}
}

void balloon_idle(void)
{
	struct balloon *b = &bln;

	if (!b->auto_follow)
		return;
	if (b->state == ST_UNPROBED)
		balloon_probe(b);
	if (b->state != ST_OK)
		return;
	if (tsc_passed(b->next_poll)) {
		b->next_poll = tsc_deadline(BLN_POLL_US);
		check_device(b);
		if (b->state != ST_OK)
			return;
	}
	balloon_step(b);
}

/* ---- the shell command ---- */

static void print_info(struct balloon *b)
{
	kprintf("balloon base=0x%lx irq=%u pages=%lu target=%u actual=%u capacity=%lu "
		"features=0x%lx offered=0x%lx deflate_on_oom=%u reporting=%u stats=%u auto=%u "
		"inflated=%lu deflated=%lu reported=%lu stats_requests=%lu state=%s\r\n",
		b->vd.base, b->vd.irq, b->pages, b->target, b->actual, capacity(), b->vd.features,
		b->vd.offered, !!(b->vd.features & VBIT(BLN_F_DEFLATE_ON_OOM)), b->report_on,
		b->stats_on, b->auto_follow, b->inflated, b->deflated, b->reported,
		b->stats_requests, state_name(b));
}

static int is_word(char *s, const char *w, char **rest)
{
	size_t n = strlen(w);

	s = arg_skip(s);
	if (strncmp(s, w, n) || (s[n] && s[n] != ' '))
		return 0;
	*rest = s + n;
	return 1;
}

/* Follows the target to the end now (what the idle loop does a batch at a time). */
static void cmd_poll(struct balloon *b)
{
	check_device(b);
	read_target(b);
	while (b->state == ST_OK && balloon_step(b) > 0)
		;
	if (b->state != ST_OK) {
		fail(state_name(b));
		return;
	}
	print_info(b);
	ok();
}

/* Reports [addr, addr+len) in descriptors of at most 64 MiB. */
static int report_range(struct balloon *b, u64 addr, u64 len, u64 *chunks)
{
	while (len) {
		u64 n = len < BLN_REPORT_CHUNK ? len : BLN_REPORT_CHUNK;
		int r = post_one(b, &b->report_vq, addr, (u32)n, 1);

		if (r)
			return r;
		b->reported += n;
		(*chunks)++;
		addr += n;
		len -= n;
	}
	return 0;
}

/*
 * `balloon report`: every page of ram_free the balloon does not hold;
 * `balloon report <addr> <len>`: that range (page aligned, in ram_free).
 */
static void cmd_report(struct balloon *b, char *args)
{
	u64 addr, len, chunks = 0, before = b->reported, held = b->pages;
	const char *end;
	int r = 0;

	if (!b->report_on) {
		fail("unsupp");
		return;
	}
	args = arg_skip(args);
	if (*args) {
		if (!parse_u64(args, &end, &addr) || *end != ' ' ||
		    !parse_u64(arg_skip((char *)end), &end, &len) || *arg_skip((char *)end)) {
			fail("bad-arguments");
			return;
		}
		if ((addr | len) & (PAGE_SIZE - 1) || !len) {
			fail("unaligned");
			return;
		}
		if (!ram_free_find(addr, len)) {
			fail("not-in-ram-free");
			return;
		}
		r = report_range(b, addr, len, &chunks);
	} else {
		for (u32 i = bi.nr_ram_free; i-- > 0 && !r;) {
			u64 n = bi.ram_free[i].size / PAGE_SIZE, skip = held < n ? held : n;

			held -= skip;
			if (skip < n)
				r = report_range(b, bi.ram_free[i].base, (n - skip) * PAGE_SIZE,
						 &chunks);
		}
	}
	if (r) {
		fail(virtio_strerror(r));
		return;
	}
	kprintf("reported=%lu chunks=%lu\r\n", b->reported - before, chunks);
	ok();
}

void balloon_command(char *args)
{
	struct balloon *b = &bln;
	char *rest;

	if (b->state == ST_UNPROBED)
		balloon_probe(b);
	if (b->state == ST_NODEV) {
		fail("nodev");
		return;
	}
	if (is_word(args, "init", &rest) && !*arg_skip(rest)) {
		virtio_probe(&b->vd, b->entry);
		if (balloon_dev_init(b)) {
			fail(state_name(b));
			return;
		}
		print_info(b);
		ok();
		return;
	}
	if (is_word(args, "auto", &rest)) {
		char *v;

		if (is_word(rest, "on", &v) && !*arg_skip(v))
			b->auto_follow = 1;
		else if (is_word(rest, "off", &v) && !*arg_skip(v))
			b->auto_follow = 0;
		else {
			fail("bad-arguments");
			return;
		}
		print_info(b);
		ok();
		return;
	}
	if (b->state != ST_OK) {
		fail(state_name(b));
		return;
	}
	if (!*arg_skip(args)) {
		print_info(b);
		ok();
	} else if (is_word(args, "poll", &rest) && !*arg_skip(rest)) {
		cmd_poll(b);
	} else if (is_word(args, "report", &rest)) {
		cmd_report(b, rest);
	} else {
		fail("bad-arguments");
	}
}
