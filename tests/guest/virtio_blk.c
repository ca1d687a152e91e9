/*
 * virtio-blk driver and the `blk` shell command (docs/guest-shell.md).
 * One request queue per device, polled at CPL3; request headers, status
 * bytes, rings and data buffers are static and live inside the guest image.
 */
#include "virtio.h"

#define VIRTIO_ID_BLOCK         2
#define BLK_F_SIZE_MAX          1
#define BLK_F_SEG_MAX           2
#define BLK_F_RO                5
#define BLK_F_BLK_SIZE          6
#define BLK_F_FLUSH             9
#define BLK_F_DISCARD           13
#define BLK_F_WRITE_ZEROES      14

#define T_IN                    0
#define T_OUT                   1
#define T_FLUSH                 4
#define T_GET_ID                8
#define T_DISCARD               11
#define T_WRITE_ZEROES          13
#define S_OK                    0
#define S_IOERR                 1
#define S_UNSUPP                2
#define WZ_FLAG_UNMAP           1

#define CFG_CAPACITY            0
#define CFG_SIZE_MAX            8
#define CFG_SEG_MAX             12
#define CFG_BLK_SIZE            20
#define CFG_MAX_DISCARD_SECTORS 36
#define CFG_MAX_DISCARD_SEG     40
#define CFG_MAX_WZ_SECTORS      48
#define CFG_MAX_WZ_SEG          52
#define CFG_WZ_MAY_UNMAP        56
#define CFG_LEN                 60

#define SECTOR                  512UL
#define BLK_MAX_DEVS            8
#define BLK_QD_MAX              32
#define BLK_DATA_SIZE           (4 * MIB)
#define BLK_CHUNK               (1 * MIB)       /* largest request of read/write/verify/md5 */
#define BLK_TIMEOUT_US          10000000ULL     /* a request that takes longer: msg=timeout */
#define BLK_IRQ_WAIT_US         1000ULL         /* wait for the IRR bit after a completion */
#define BLK_STATUS_POLL_US      1000ULL         /* NEEDS_RESET check while waiting */
#define ID_BYTES                20
#define NO_STATUS               0xFF

enum { ST_OFF, ST_OK, ST_FAILED };

struct blk_hdr {
	u32 type;
	u32 reserved;
	u64 sector;
};

struct blk_seg {
	u64 sector;
	u32 num;
	u32 flags;
};

/* Per in-flight request: header, status, discard segment (device-visible). */
struct blk_slot {
	struct blk_hdr hdr;
	struct blk_seg seg;
	volatile u8 status;
	u8 busy;
	u8 pad[14];
};

struct blk_dev {
	struct virtio_dev vd;
	struct virtq vq;
	u32 slot;               /* index in bi.virtio */
	int state;
	int err;                /* why ST_FAILED (-VIO_*) */
	int event_idx_on;       /* driver option: accept EVENT_IDX when offered */
	int irq_on;             /* device interrupts requested (bench noirq turns them off) */
	u64 capacity;
	u32 blk_size, seg_max, size_max, max_discard, max_wz;
	u8 wz_may_unmap;
	int ro;
	char serial[ID_BYTES + 1];
	u64 requests, errors, timeouts;
};

static struct blk_dev blks[BLK_MAX_DEVS];
static u32 nr_blks;
static struct blk_slot slots[BLK_QD_MAX] __attribute__((aligned(64)));
static u8 id_buf[64] __attribute__((aligned(64)));
/* Not zeroed at boot (and so not touched): rings are cleared at queue setup. */
static u8 ring_mem[BLK_MAX_DEVS][VQ_MEM_SIZE] __attribute__((section(".dmabuf"), aligned(4096)));
static u8 data_pool[BLK_DATA_SIZE] __attribute__((section(".dmabuf"), aligned(4096)));

static void ok(void) { kprintf("status=ok\r\n"); }
static void fail(const char *msg) { kprintf("status=error msg=%s\r\n", msg); }

const char *blk_status_msg(int st)
{
	if (st < 0)
		return virtio_strerror(st);
	if (st == S_IOERR)
		return "ioerr";
	if (st == S_UNSUPP)
		return "unsupp";
	return "bad-status";
}

/* ---- request machinery ---- */

static int blk_submit(struct blk_dev *b, u32 slot, u32 type, u64 sector, u64 data, u32 len,
		      int dev_writes)
{
	struct blk_slot *s = &slots[slot];
	struct vbuf v[3];
	unsigned n = 0;
	int r;

	s->hdr.type = type;
	s->hdr.reserved = 0;
	s->hdr.sector = sector;
	s->status = NO_STATUS;
	v[n++] = (struct vbuf){ (u64)&s->hdr, sizeof(s->hdr), 0 };
	if (len)
		v[n++] = (struct vbuf){ data, len, dev_writes };
	v[n++] = (struct vbuf){ (u64)&s->status, 1, 1 };
	r = vq_add(&b->vq, v, n, s);
	if (r)
		return r;
	s->busy = 1;
	b->requests++;
	return 0;
}

/* Reads Status; records NEEDS_RESET as a failure. */
static int check_needs_reset(struct blk_dev *b)
{
	if (!(virtio_get_status(&b->vd) & VIRTIO_S_NEEDS_RESET))
		return 0;
	b->state = ST_FAILED;
	b->err = -VIO_ENEEDS_RESET;
	return -VIO_ENEEDS_RESET;
}

/* Interrupt side of a batch of completions: IRR (waited for), then InterruptStatus. */
static void blk_irq_observe(struct blk_dev *b, u64 wait_us)
{
	u32 isr;

	if (b->irq_on)
		virtio_observe_irq(&b->vd, wait_us);
	isr = virtio_ack_interrupt(&b->vd);
	if (isr & 2)
		check_needs_reset(b);
}

/*
 * Waits for at least one completion, then reaps all that are there.  Returns
 * the number reaped (done[] gets their slot numbers) or a -VIO_* error.
 */
static int blk_reap(struct blk_dev *b, u32 *done, u64 irq_wait_us)
{
	u64 end = tsc_deadline(BLK_TIMEOUT_US), next_check = tsc_deadline(BLK_STATUS_POLL_US);
	int n = 0;
	void *c;

	while (!vq_has_used(&b->vq)) {
		if (tsc_passed(next_check)) {
			if (check_needs_reset(b))
				return -VIO_ENEEDS_RESET;
			next_check = tsc_deadline(BLK_STATUS_POLL_US);
		}
		if (tsc_passed(end)) {
			b->timeouts++;
			if (check_needs_reset(b))
				return -VIO_ENEEDS_RESET;
			b->state = ST_FAILED;
			b->err = -VIO_ETIMEOUT;
			return -VIO_ETIMEOUT;
		}
		cpu_relax();
	}
	while ((c = vq_get_used(&b->vq, 0))) {
		struct blk_slot *s = c;

		s->busy = 0;
		if (s->status != S_OK)
			b->errors++;
		done[n++] = s - slots;
	}
	blk_irq_observe(b, irq_wait_us);
	return n;
}

/* One synchronous request; returns the device status or a -VIO_* error. */
static int blk_sync(struct blk_dev *b, u32 type, u64 sector, void *buf, u32 len, int dev_writes)
{
	u32 done[BLK_QD_MAX];
	int r;

	if (b->state != ST_OK)
		return b->state == ST_FAILED ? b->err : -VIO_ENODEV;
	if (check_needs_reset(b))
		return -VIO_ENEEDS_RESET;
	r = blk_submit(b, 0, type, sector, (u64)buf, len, dev_writes);
	if (r)
		return r;
	vq_kick(&b->vq);
	do {
		r = blk_reap(b, done, BLK_IRQ_WAIT_US);
		if (r < 0)
			return r;
	} while (slots[0].busy);
	return slots[0].status;
}

/*
 * For `intr blk` (intr.c), which takes the completion as an interrupt instead
 * of polling for it: submits a read of `count` sectors at `sector` of device
 * `index` into the data pool, notifies the device, lets wait() take the
 * interrupt (its handler acknowledges InterruptStatus), then reaps the used
 * ring (polled, bounded as any request).  Returns the device status or -VIO_*;
 * *data = the data read.
 */
int blk_read_intr(u32 index, u64 sector, u32 count, void (*wait)(struct virtio_dev *vd),
		  const u8 **data)
{
	u64 end = tsc_deadline(BLK_TIMEOUT_US);
	struct blk_dev *b;
	void *c;
	int r;

	blk_init();
	if (index >= nr_blks)
		return -VIO_ENODEV;
	b = &blks[index];
	if (b->state != ST_OK)
		return b->state == ST_FAILED ? b->err : -VIO_ENODEV;
	if (sector > b->capacity || count > b->capacity - sector || count * SECTOR > BLK_CHUNK)
		return -VIO_ENODEV;
	r = blk_submit(b, 0, T_IN, sector, (u64)data_pool, count * SECTOR, 1);
	if (r)
		return r;
	vq_kick(&b->vq);
	wait(&b->vd);
	while (!(c = vq_get_used(&b->vq, 0))) {
		if (tsc_passed(end)) {
			b->timeouts++;
			b->state = ST_FAILED;
			b->err = -VIO_ETIMEOUT;
			return -VIO_ETIMEOUT;
		}
		cpu_relax();
	}
	slots[0].busy = 0;
	if (slots[0].status != S_OK)
		b->errors++;
	*data = data_pool;
	return slots[0].status;
}

/* ---- device set-up ---- */

static void read_config(struct blk_dev *b)
{
	u8 cfg[CFG_LEN];
	u32 v32;

	virtio_config_read(&b->vd, 0, cfg, CFG_LEN);
	memcpy(&b->capacity, cfg + CFG_CAPACITY, 8);
	memcpy(&v32, cfg + CFG_BLK_SIZE, 4);
	b->blk_size = (b->vd.features & VBIT(BLK_F_BLK_SIZE)) && v32 ? v32 : 512;
	memcpy(&v32, cfg + CFG_SEG_MAX, 4);
	b->seg_max = (b->vd.features & VBIT(BLK_F_SEG_MAX)) ? v32 : 0;
	memcpy(&v32, cfg + CFG_SIZE_MAX, 4);
	b->size_max = (b->vd.features & VBIT(BLK_F_SIZE_MAX)) ? v32 : 0;
	memcpy(&v32, cfg + CFG_MAX_DISCARD_SECTORS, 4);
	b->max_discard = v32 ? v32 : 1;
	memcpy(&v32, cfg + CFG_MAX_WZ_SECTORS, 4);
	b->max_wz = v32 ? v32 : 1;
	b->wz_may_unmap = cfg[CFG_WZ_MAY_UNMAP];
	b->ro = !!(b->vd.features & VBIT(BLK_F_RO));
}

static void read_serial(struct blk_dev *b)
{
	memset(b->serial, 0, sizeof(b->serial));
	memset(id_buf, 0, sizeof(id_buf));
	if (blk_sync(b, T_GET_ID, 0, id_buf, ID_BYTES, 1) == S_OK)
		memcpy(b->serial, id_buf, ID_BYTES);
}

static int blk_dev_init(struct blk_dev *b)
{
	u64 wanted = VBIT(BLK_F_SIZE_MAX) | VBIT(BLK_F_SEG_MAX) | VBIT(BLK_F_RO) |
		     VBIT(BLK_F_BLK_SIZE) | VBIT(BLK_F_FLUSH) | VBIT(BLK_F_DISCARD) |
		     VBIT(BLK_F_WRITE_ZEROES);
	int r;

	if (b->event_idx_on)
		wanted |= VBIT(VIRTIO_F_EVENT_IDX);
	b->state = ST_FAILED;
	for (u32 i = 0; i < BLK_QD_MAX; i++)
		slots[i].busy = 0;
	r = virtio_negotiate(&b->vd, wanted, 0);
	if (!r)
		r = virtio_queue_setup(&b->vd, &b->vq, 0, ring_mem[b - blks], VQ_MAX_SIZE);
	if (r) {
		b->err = r;
		virtio_reset(&b->vd);
		return r;
	}
	read_config(b);
	b->irq_on = 1;
	virtio_driver_ok(&b->vd);
	b->state = ST_OK;
	read_serial(b);
	return 0;
}

/*
 * Takes in the block device now at bi.virtio[i] as b; 0 when it is not one
 * (then b is left for the next).
 */
static int blk_take(struct blk_dev *b, u32 i)
{
	int r = virtio_probe(&b->vd, &bi.virtio[i]);

	if ((r && r != -VIO_ELEGACY) || b->vd.device_id != VIRTIO_ID_BLOCK)
		return 0;
	b->slot = i;
	if (r) {                /* listed, but never initialised */
		b->state = ST_FAILED;
		b->err = r;
		return 1;
	}
	blk_dev_init(b);
	return 1;
}

/*
 * Called before every command: takes in block devices the first time, and
 * again a function a root port plugged anew at an index already seen; a
 * function that left stays listed with state off.
 */
void blk_init(void)
{
	static struct virtio_watch watch;
	u32 pos = 0;
	int i;

	while ((i = virtio_watch_next(&watch, &pos)) >= 0) {
		struct blk_dev *b = NULL;

		for (u32 j = 0; j < nr_blks && !b; j++)
			b = blks[j].slot == (u32)i ? &blks[j] : NULL;
		if (b) {
			if (!blk_take(b, (u32)i))
				b->state = ST_OFF;
		} else if (nr_blks < BLK_MAX_DEVS) {
			blks[nr_blks].event_idx_on = 1;
			nr_blks += blk_take(&blks[nr_blks], (u32)i);
		}
	}
}

/* Interrupts requested from the device or not (polling works either way). */
static void blk_set_irq(struct blk_dev *b, int on)
{
	b->irq_on = on;
	vq_set_interrupts(&b->vq, on);
}

/* ---- shell ---- */

/* "<index>" or "vdX": returns the device or NULL (message printed). */
static struct blk_dev *dev_arg(char **s)
{
	char *w = arg_word(s);
	const char *end;
	u64 i;

	if (w[0] == 'v' && w[1] == 'd' && w[2] >= 'a' && w[2] <= 'z' && !w[3])
		i = w[2] - 'a';
	else if (!*w || !parse_u64(w, &end, &i) || *end) {
		fail("bad-arguments");
		return 0;
	}
	if (i >= nr_blks) {
		fail("no-device");
		return 0;
	}
	return &blks[i];
}

/* Optional trailing words. */
struct opts {
	int nocheck, unmap, noirq;
};

static int parse_opts(char *s, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	for (char *w; *(w = arg_word(&s));) {
		if (!strncmp(w, "nocheck", 8))
			o->nocheck = 1;
		else if (!strncmp(w, "unmap", 6))
			o->unmap = 1;
		else if (!strncmp(w, "noirq", 6))
			o->noirq = 1;
		else
			return 0;
	}
	return 1;
}

/* Device usable and [sector, sector+count) inside it (unless nocheck). */
static int usable(struct blk_dev *b, u64 sector, u64 count, int write, int nocheck)
{
	if (b->state != ST_OK) {
		fail(b->state == ST_FAILED ? virtio_strerror(b->err) : "no-device");
		return 0;
	}
	if (check_needs_reset(b)) {
		fail("needs-reset");
		return 0;
	}
	if (nocheck)
		return 1;
	if (sector > b->capacity || count > b->capacity - sector) {
		fail(b->capacity ? "out-of-range" : "no-media");
		return 0;
	}
	if (write && b->ro) {
		fail("read-only");
		return 0;
	}
	return 1;
}

static void print_serial(const char *s)
{
	for (u32 i = 0; i < ID_BYTES && s[i]; i++) {
		u8 c = s[i];

		if (c > 0x20 && c < 0x7F && c != '%')
			kprintf("%c", c);
		else
			kprintf("%%%02x", c);
	}
}

static const char *state_name(struct blk_dev *b)
{
	return b->state == ST_OK ? "ok" : b->state == ST_FAILED ? virtio_strerror(b->err) : "off";
}

static void list_line(struct blk_dev *b)
{
	kprintf("blk index=%u base=0x%lx irq=%u capacity=%lu size=%lu ro=%u serial=", (u32)(b - blks),
		b->vd.base, b->vd.irq, b->capacity, b->capacity * SECTOR, b->ro);
	print_serial(b->serial);
	kprintf(" features=0x%lx offered=0x%lx blk_size=%u seg_max=%u queue_size=%u event_idx=%u state=%s\r\n",
		b->vd.features, b->vd.offered, b->blk_size, b->seg_max, b->vq.num,
		b->vq.event_idx, state_name(b));
}

static void cmd_list(char *s)
{
	(void)s;
	for (u32 i = 0; i < nr_blks; i++)
		list_line(&blks[i]);
	ok();
}

/* Common parsing of "<dev> <sector> <count> [seed]". */
static struct blk_dev *range_args(char **s, u64 *sector, u64 *count, u64 *seed, struct opts *o)
{
	struct blk_dev *b = dev_arg(s);

	if (!b)
		return 0;
	if (!arg_u64(s, sector) || !arg_u64(s, count) || (seed && !arg_u64(s, seed)) ||
	    !parse_opts(*s, o) || !*count || *count > (~0ULL >> 10)) {
		fail("bad-arguments");
		return 0;
	}
	return b;
}

static void fill_pattern(u8 *buf, u64 off, u64 len, u64 seed)
{
	u64 *w = (u64 *)buf;

	for (u64 i = 0; i < len / 8; i++)
		w[i] = splitmix64(seed ^ (off + 8 * i));
}

enum { OP_READ, OP_WRITE, OP_VERIFY, OP_MD5 };

/* read / write / verify / md5: sequential requests of up to BLK_CHUNK. */
static void cmd_rw(char *s, int op)
{
	u64 sector, count, seed = 0, bad = 0, first_bad = 0, chunk = BLK_CHUNK / SECTOR;
	struct md5 md;
	u32 crc = 0;
	struct opts o;
	struct blk_dev *b = range_args(&s, &sector, &count, op == OP_WRITE || op == OP_VERIFY ? &seed : 0, &o);

	if (!b || !usable(b, sector, count, op == OP_WRITE, o.nocheck))
		return;
	if (b->size_max && b->size_max / SECTOR < chunk)
		chunk = b->size_max / SECTOR ? b->size_max / SECTOR : 1;
	md5_init(&md);
	for (u64 done = 0; done < count;) {
		u64 n = count - done < chunk ? count - done : chunk;
		u64 off = (sector + done) * SECTOR;
		int st;

		if (op == OP_WRITE) {
			fill_pattern(data_pool, off, n * SECTOR, seed);
			st = blk_sync(b, T_OUT, sector + done, data_pool, n * SECTOR, 0);
		} else {
			st = blk_sync(b, T_IN, sector + done, data_pool, n * SECTOR, 1);
		}
		if (st) {
			fail(blk_status_msg(st));
			return;
		}
		if (op == OP_READ)
			crc = crc32_update(crc, data_pool, n * SECTOR);
		else if (op == OP_MD5)
			md5_update(&md, data_pool, n * SECTOR);
		else if (op == OP_VERIFY) {
			const u64 *w = (const u64 *)data_pool;

			for (u64 i = 0; i < n * SECTOR / 8; i++) {
				if (w[i] == splitmix64(seed ^ (off + 8 * i)))
					continue;
				if (!bad++)
					first_bad = off + 8 * i;
			}
		}
		done += n;
	}
	kprintf("sectors=%lu bytes=%lu", count, count * SECTOR);
	if (op == OP_READ) {
		kprintf(" crc32=0x%08x\r\n", crc);
	} else if (op == OP_MD5) {
		u8 dig[16];

		md5_final(&md, dig);
		kprintf(" md5=");
		for (int i = 0; i < 16; i++)
			kprintf("%02x", dig[i]);
		kprintf("\r\n");
	} else if (op == OP_VERIFY) {
		kprintf(" mismatches=%lu first_bad=", bad);
		if (bad) {
			kprintf("0x%lx\r\n", first_bad);
			fail("mismatch");
			return;
		}
		kprintf("none\r\n");
	} else {
		kprintf("\r\n");
	}
	ok();
}

/* discard / zero: one segment per request, at most max_discard / max_wz sectors. */
static void cmd_seg(char *s, u32 type)
{
	u64 sector, count;
	struct opts o;
	struct blk_dev *b = range_args(&s, &sector, &count, 0, &o);
	u32 feature = type == T_DISCARD ? BLK_F_DISCARD : BLK_F_WRITE_ZEROES;

	if (!b || !usable(b, sector, count, 1, o.nocheck))
		return;
	if (!o.nocheck && !(b->vd.features & VBIT(feature))) {
		fail("unsupp");
		return;
	}
	for (u64 done = 0; done < count;) {
		u64 max = type == T_DISCARD ? b->max_discard : b->max_wz;
		u64 n = count - done < max ? count - done : max;
		struct blk_seg *seg = &slots[1].seg;
		int st;

		seg->sector = sector + done;
		seg->num = (u32)n;
		seg->flags = type == T_WRITE_ZEROES && o.unmap ? WZ_FLAG_UNMAP : 0;
		st = blk_sync(b, type, 0, seg, sizeof(*seg), 0);
		if (st) {
			fail(blk_status_msg(st));
			return;
		}
		done += n;
	}
	kprintf("sectors=%lu\r\n", count);
	ok();
}

static void cmd_flush(char *s)
{
	struct opts o;
	struct blk_dev *b = dev_arg(&s);
	int st;

	if (!b)
		return;
	if (!parse_opts(s, &o)) {
		fail("bad-arguments");
		return;
	}
	if (!usable(b, 0, 0, 0, 1))
		return;
	if (!o.nocheck && !(b->vd.features & VBIT(BLK_F_FLUSH))) {
		fail("unsupp");
		return;
	}
	st = blk_sync(b, T_FLUSH, 0, 0, 0, 0);
	if (st) {
		fail(blk_status_msg(st));
		return;
	}
	ok();
}

static void cmd_id(char *s)
{
	struct blk_dev *b = dev_arg(&s);
	int st;

	if (!b)
		return;
	if (*arg_skip(s)) {
		fail("bad-arguments");
		return;
	}
	if (!usable(b, 0, 0, 0, 1))
		return;
	memset(id_buf, 0, sizeof(id_buf));
	st = blk_sync(b, T_GET_ID, 0, id_buf, ID_BYTES, 1);
	if (st) {
		fail(blk_status_msg(st));
		return;
	}
	memcpy(b->serial, id_buf, ID_BYTES);
	kprintf("serial=");
	print_serial(b->serial);
	kprintf("\r\n");
	ok();
}

static void stat_line(struct blk_dev *b)
{
	struct virtio_dev *d = &b->vd;

	kprintf("blk index=%u requests=%lu completed=%lu errors=%lu timeouts=%lu notifies=%lu "
		"notifies_suppressed=%lu isr_reads=%lu isr_used=%lu config_changes=%lu "
		"irr_checks=%lu irr_seen=%lu irr_missing=%lu irr_stuck=%lu eois=%lu state=%s\r\n",
		(u32)(b - blks), b->requests, b->vq.completed, b->errors, b->timeouts,
		b->vq.notifies, b->vq.notifies_suppressed, d->isr_reads, d->isr_used, d->isr_config,
		d->irr_checks, d->irr_seen, d->irr_missing, d->irr_stuck, d->eois, state_name(b));
}

static void cmd_stat(char *s)
{
	struct blk_dev *b = 0;

	if (*arg_skip(s) && !(b = dev_arg(&s)))
		return;
	for (u32 i = 0; i < nr_blks; i++)
		if (!b || b == &blks[i])
			stat_line(&blks[i]);
	ok();
}

/* blk init <dev> [event_idx=0|1]: reset and initialise again. */
static void cmd_init(char *s)
{
	struct blk_dev *b = dev_arg(&s);
	char *w;
	int r;

	if (!b)
		return;
	if (b->err == -VIO_ELEGACY) {
		fail("legacy");
		return;
	}
	w = arg_word(&s);
	if (*w) {
		if (!strncmp(w, "event_idx=0", 12))
			b->event_idx_on = 0;
		else if (!strncmp(w, "event_idx=1", 12))
			b->event_idx_on = 1;
		else
			w = 0;
	}
	if (!w || *arg_skip(s)) {
		fail("bad-arguments");
		return;
	}
	r = blk_dev_init(b);
	list_line(b);
	if (r)
		fail(virtio_strerror(r));
	else
		ok();
}

static void cmd_rescan(char *s)
{
	(void)s;
	for (u32 i = 0; i < nr_blks; i++) {
		struct blk_dev *b = &blks[i];
		u64 old = b->capacity;
		int reinit = 0;

		if (b->err == -VIO_ELEGACY)
			continue;
		if (b->state == ST_OK) {
			blk_irq_observe(b, 0);
			read_config(b);
		} else {
			virtio_config_read(&b->vd, CFG_CAPACITY, &b->capacity, 8);
		}
		if (b->capacity && (b->capacity != old || b->state != ST_OK)) {
			reinit = 1;
			blk_dev_init(b);
		} else if (!b->capacity) {
			memset(b->serial, 0, sizeof(b->serial));
		}
		kprintf("blk index=%u capacity=%lu old_capacity=%lu config_changes=%lu generation=%u reinit=%u state=%s\r\n",
			i, b->capacity, old, b->vd.isr_config, b->vd.config_gen, reinit,
			state_name(b));
	}
	ok();
}

/* blk bench <dev> <rand|seq> <read|write> <bs> <qd> <ms> [noirq] */
static void cmd_bench(char *s)
{
	struct blk_dev *b = dev_arg(&s);
	u64 bs, qd, ms, nblocks, seq = 0, rng, ios = 0, start, end, us;
	int rnd, wr, err = 0, inflight = 0;
	u32 done[BLK_QD_MAX];
	struct opts o;
	char *m1, *m2;

	if (!b)
		return;
	m1 = arg_word(&s);
	m2 = arg_word(&s);
	rnd = !strncmp(m1, "rand", 5);
	wr = !strncmp(m2, "write", 6);
	if ((!rnd && strncmp(m1, "seq", 4)) || (!wr && strncmp(m2, "read", 5)) ||
	    !arg_u64(&s, &bs) || !arg_u64(&s, &qd) || !arg_u64(&s, &ms) || !parse_opts(s, &o) ||
	    !bs || bs % SECTOR || !qd || !ms || ms > 3600000) {
		fail("bad-arguments");
		return;
	}
	if (!usable(b, 0, 0, wr, 0))
		return;
	if (qd > BLK_QD_MAX || qd > b->vq.num / 3 || bs * qd > BLK_DATA_SIZE ||
	    (b->size_max && bs > b->size_max)) {
		fail("too-large");
		return;
	}
	nblocks = b->capacity * SECTOR / bs;
	if (!nblocks) {
		fail(b->capacity ? "out-of-range" : "no-media");
		return;
	}
	if (wr)
		fill_pattern(data_pool, 0, bs * qd, 0x5eed);
	blk_set_irq(b, !o.noirq);
	rng = rdtsc();
	start = rdtsc();
	end = tsc_deadline(ms * 1000);
	for (;;) {
		/* Fill the queue, then one kick for the batch. */
		while (!err && inflight < (int)qd && !tsc_passed(end)) {
			u32 slot = 0;
			u64 blk;

			while (slots[slot].busy)
				slot++;
			if (rnd) {
				rng = splitmix64(rng);
				blk = rng % nblocks;
			} else {
				blk = seq++ % nblocks;
			}
			if (blk_submit(b, slot, wr ? T_OUT : T_IN, blk * bs / SECTOR,
				       (u64)data_pool + slot * bs, bs, !wr))
				break;
			inflight++;
		}
		vq_kick(&b->vq);
		if (!inflight)
			break;
		int n = blk_reap(b, done, 0);
		if (n < 0) {
			err = n;
			break;
		}
		for (int i = 0; i < n; i++) {
			inflight--;
			if (slots[done[i]].status == S_OK)
				ios++;
			else if (!err)
				err = slots[done[i]].status;
		}
	}
	us = tsc_to_us(rdtsc() - start);
	blk_set_irq(b, 1);
	if (err) {
		fail(blk_status_msg(err));
		return;
	}
	if (!us)
		us = 1;
	kprintf("iops=%lu mbps=%lu.%02lu ios=%lu ms=%lu\r\n", ios * 1000000 / us,
		ios * bs / us, ios * bs * 100 / us % 100, ios, us / 1000);
	ok();
}

void blk_command(char *args)
{
	char *s = args;
	char *w = arg_word(&s);

	blk_init();             /* on first use: keeps boot time unaffected */
	if (!strncmp(w, "list", 5))
		cmd_list(s);
	else if (!strncmp(w, "read", 5))
		cmd_rw(s, OP_READ);
	else if (!strncmp(w, "write", 6))
		cmd_rw(s, OP_WRITE);
	else if (!strncmp(w, "verify", 7))
		cmd_rw(s, OP_VERIFY);
	else if (!strncmp(w, "md5", 4))
		cmd_rw(s, OP_MD5);
	else if (!strncmp(w, "flush", 6))
		cmd_flush(s);
	else if (!strncmp(w, "discard", 8))
		cmd_seg(s, T_DISCARD);
	else if (!strncmp(w, "zero", 5))
		cmd_seg(s, T_WRITE_ZEROES);
	else if (!strncmp(w, "id", 3))
		cmd_id(s);
	else if (!strncmp(w, "rescan", 7))
		cmd_rescan(s);
	else if (!strncmp(w, "stat", 5))
		cmd_stat(s);
	else if (!strncmp(w, "init", 5))
		cmd_init(s);
	else if (!strncmp(w, "bench", 6))
		cmd_bench(s);
	else
		fail("bad-arguments");
}
