/*
 * virtio-balloon in-process (src/hw/virtio/virtio-balloon.c): a qtest-accel
 * machine built from a command line, the device driven through its
 * virtio-mmio registers and guest RAM directly. Checks what the qtest and
 * functional tests cannot see: exact accounting of hostile PFN lists, which
 * host pages really left memory (mincore), malformed buffers, the target
 * arithmetic, guest_ram_discard()'s page rounding, the pages it marks in a
 * live migration's dirty log, and the state round trip with a held stats
 * buffer.
 */
#include <endian.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "machine.h"
#include "hw/device.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-balloon.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/x86/microvm.h"

#define MIB (1ULL << 20)
#define RAM (128 * MIB)
#define PAGE 4096ULL
/* The first window after the 8 slots. */
#define BASE (MICROVM_VIRTIO_BASE + 8 * MICROVM_VIRTIO_STRIDE)
#define QSZ 16
#define RINGS 0x100000ULL        /* queue q: desc, avail +0x1000, used +0x2000 at RINGS + q*0x10000 */
#define BUF 0x200000ULL          /* PFN arrays and stats buffers */
#define DATA 0x1000000ULL        /* pages to balloon */

typedef struct Drv {
    Machine *m;
    Device *dev;
    uint16_t avail_idx[4];
    uint16_t used_seen[4];
} Drv;

static Machine *vm(const char *device, GError **err)
{
    const char *argv[] = { "stratus", "-accel", "qtest", "-m", "128M", "-device", device, NULL };
    StratusConfig *cfg = config_parse(G_N_ELEMENTS(argv) - 1, (char **)argv, err);
    Machine *m;

    if (!cfg) {
        return NULL;
    }
    m = machine_new(cfg, err);
    if (!m) {
        config_free(cfg);
    }
    return m;
}

static uint32_t rd(Drv *d, uint64_t off)
{
    uint32_t v;
    iobus_read(&d->m->mmio, BASE + off, &v, 4);
    return v;
}

static void wr(Drv *d, uint64_t off, uint32_t v)
{
    iobus_write(&d->m->mmio, BASE + off, &v, 4);
}

static uint8_t *gptr(Drv *d, uint64_t gpa, uint64_t len)
{
    uint8_t *p = guest_ram_ptr(&d->m->ram, gpa, len);
    g_assert_nonnull(p);
    return p;
}

static uint64_t rings(unsigned q) { return RINGS + q * 0x10000ULL; }

static void queue_setup(Drv *d, unsigned q)
{
    memset(gptr(d, rings(q), 0x3000), 0, 0x3000);
    d->avail_idx[q] = d->used_seen[q] = 0;
    wr(d, VIRTIO_MMIO_QUEUE_SEL, q);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX), ==, VIRTIO_BALLOON_QUEUE_SIZE);
    wr(d, VIRTIO_MMIO_QUEUE_NUM, QSZ);
    wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, rings(q));
    wr(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, rings(q) + 0x1000);
    wr(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, rings(q) + 0x2000);
    wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_QUEUE_READY), ==, 1);
}

/* Negotiates `features` (VERSION_1 added) and sets up nq queues. */
static void drv_init(Drv *d, uint64_t features, unsigned nq)
{
    features |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
    wr(d, VIRTIO_MMIO_STATUS, 0);
    wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES, features >> 32);
    wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
       VIRTIO_STATUS_FEATURES_OK);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, 0xb);
    for (unsigned q = 0; q < nq; q++) {
        queue_setup(d, q);
    }
    wr(d, VIRTIO_MMIO_STATUS, 0xf);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, 0xf);
}

static void drv_open(Drv *d, const char *device)
{
    g_autoptr(GError) err = NULL;

    memset(d, 0, sizeof(*d));
    d->m = vm(device, &err);
    g_assert_no_error(err);
    machine_lock(d->m);
    d->dev = virtio_balloon_find(d->m);
    g_assert_nonnull(d->dev);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_MAGIC_VALUE), ==, VIRTIO_MMIO_MAGIC);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_DEVICE_ID), ==, VIRTIO_ID_BALLOON);
}

static void drv_close(Drv *d)
{
    machine_unlock(d->m);
    machine_free(d->m);
}

static void put_desc(Drv *d, unsigned q, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t *p = gptr(d, rings(q) + 16ULL * i, 16);
    uint64_t a = htole64(addr);
    uint32_t l = htole32(len);
    uint16_t f = htole16(flags), n = htole16(next);

    memcpy(p, &a, 8);
    memcpy(p + 8, &l, 4);
    memcpy(p + 12, &f, 2);
    memcpy(p + 14, &n, 2);
}

static void kick(Drv *d, unsigned q, uint16_t head)
{
    uint16_t v = htole16(head);

    memcpy(gptr(d, rings(q) + 0x1000 + 4 + 2 * (d->avail_idx[q] % QSZ), 2), &v, 2);
    d->avail_idx[q]++;
    v = htole16(d->avail_idx[q]);
    memcpy(gptr(d, rings(q) + 0x1000 + 2, 2), &v, 2);
    wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static uint16_t used_idx(Drv *d, unsigned q)
{
    uint16_t v;

    memcpy(&v, gptr(d, rings(q) + 0x2000 + 2, 2), 2);
    return le16toh(v);
}

/* The next used element of queue q (processing is synchronous): its id. */
static uint32_t take_used(Drv *d, unsigned q)
{
    uint32_t id;

    g_assert_cmpuint(used_idx(d, q), !=, d->used_seen[q]);
    memcpy(&id, gptr(d, rings(q) + 0x2000 + 4 + 8 * (d->used_seen[q] % QSZ), 4), 4);
    d->used_seen[q]++;
    return le32toh(id);
}

/* One buffer of PFNs on queue q in descriptor 0; the device must return it. */
static void post_pfns(Drv *d, unsigned q, const uint32_t *pfn, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t v = htole32(pfn[i]);
        memcpy(gptr(d, BUF + 4 * i, 4), &v, 4);
    }
    put_desc(d, q, 0, BUF, 4 * n, 0, 0);
    kick(d, q, 0);
    g_assert_cmpuint(take_used(d, q), ==, 0);
}

static bool needs_reset(Drv *d)
{
    return rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static bool resident(Drv *d, uint64_t gpa)
{
    unsigned char v = 0;
    uint8_t *p = gptr(d, gpa, PAGE);

    g_assert_cmpint(mincore(p, PAGE, &v), ==, 0);
    return v & 1;
}

static void fill(Drv *d, uint64_t gpa, uint64_t len, uint8_t byte)
{
    memset(gptr(d, gpa, len), byte, len);
}

static VirtioBalloonCounters counters(Drv *d)
{
    VirtioBalloonCounters c;

    virtio_balloon_counters(d->dev, &c);
    return c;
}

/* ---- tests ---- */

static void test_target(void)
{
    Drv d;

    drv_open(&d, "virtio-balloon-device");
    g_assert_cmpuint(virtio_balloon_actual_bytes(d.dev), ==, RAM);
    virtio_balloon_set_target(d.dev, RAM / 2);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CFG_NUM_PAGES), ==,
                     RAM / 2 / PAGE);
    /* More than RAM: no balloon (the seeds' clamp). */
    virtio_balloon_set_target(d.dev, 4 * RAM);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG), ==, 0);
    /* QEMU's rounding: the balloon never takes more than asked for. */
    virtio_balloon_set_target(d.dev, 1);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG), ==, RAM / PAGE - 1);
    virtio_balloon_set_target(d.dev, RAM - PAGE - 1);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG), ==, 1);
    /* num_pages is the host's: a guest write is undone; actual is the guest's. */
    drv_init(&d, 0, 2);
    wr(&d, VIRTIO_MMIO_CONFIG, 77);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG), ==, 1);
    wr(&d, VIRTIO_MMIO_CONFIG + 4, 5);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG + 4), ==, 5);
    g_assert_cmpuint(virtio_balloon_actual_bytes(d.dev), ==, RAM - 5 * PAGE);
    /* A driver claiming more pages than there are: the guest has none left. */
    wr(&d, VIRTIO_MMIO_CONFIG + 4, 0xffffffff);
    g_assert_cmpuint(virtio_balloon_actual_bytes(d.dev), ==, 0);
    /* Device reset: the next driver starts with an empty balloon; the target stays. */
    wr(&d, VIRTIO_MMIO_STATUS, 0);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG + 4), ==, 0);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG), ==, 1);
    g_assert_cmpuint(virtio_balloon_actual_bytes(d.dev), ==, RAM);
    drv_close(&d);
}

static void test_features(void)
{
    Drv d;
    uint64_t f;

    drv_open(&d, "virtio-balloon-device");
    f = rd(&d, VIRTIO_MMIO_DEVICE_FEATURES);
    g_assert_cmphex(f, ==, VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) |
                    VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
    wr(&d, VIRTIO_MMIO_QUEUE_SEL, 3);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);
    drv_close(&d);

    drv_open(&d, "virtio-balloon-device,deflate-on-oom=on,free-page-reporting=on");
    f = rd(&d, VIRTIO_MMIO_DEVICE_FEATURES);
    g_assert_true(f & VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    g_assert_true(f & VIRTIO_BIT(VIRTIO_BALLOON_F_PAGE_REPORTING));
    wr(&d, VIRTIO_MMIO_QUEUE_SEL, 3);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), ==, VIRTIO_BALLOON_QUEUE_SIZE);
    drv_close(&d);
}

/* Inflate: the pages' host memory is gone (not resident, reads zero). */
static void test_inflate_deflate(void)
{
    uint32_t pfns[64];
    VirtioBalloonCounters c;
    Drv d;

    drv_open(&d, "virtio-balloon-device");
    drv_init(&d, 0, 2);
    fill(&d, DATA, 64 * PAGE, 0xa5);
    g_assert_true(resident(&d, DATA));
    /* Descending, ascending and scattered orders all coalesce or not, correctly. */
    for (unsigned i = 0; i < 32; i++) {
        pfns[i] = (uint32_t)((DATA >> 12) + 31 - i);
    }
    for (unsigned i = 0; i < 16; i++) {
        pfns[32 + i] = (uint32_t)((DATA >> 12) + 32 + i);
        pfns[48 + i] = (uint32_t)((DATA >> 12) + 48 + (i * 7) % 16);
    }
    post_pfns(&d, VIRTIO_BALLOON_Q_INFLATE, pfns, 64);
    for (unsigned i = 0; i < 64; i++) {
        g_assert_false(resident(&d, DATA + i * PAGE));
        g_assert_cmpuint(*gptr(&d, DATA + i * PAGE + 100, 1), ==, 0);
    }
    c = counters(&d);
    g_assert_cmpuint(c.inflated, ==, 64);
    g_assert_cmpuint(c.ignored, ==, 0);
    /* Deflate: only accounting; the guest may use the pages again. */
    post_pfns(&d, VIRTIO_BALLOON_Q_DEFLATE, pfns, 10);
    c = counters(&d);
    g_assert_cmpuint(c.deflated, ==, 10);
    fill(&d, DATA, PAGE, 0x11);
    g_assert_true(resident(&d, DATA));
    g_assert_false(needs_reset(&d));
    drv_close(&d);
}

/*
 * During a live migration (ram.dma_log set) inflated pages are marked dirty:
 * they read as zeros now, and the destination must not keep the data an
 * earlier pass sent.
 */
static void test_inflate_marks_dirty(void)
{
    uint32_t pfns[3] = { (uint32_t)(DATA >> 12) + 5, (uint32_t)(DATA >> 12) + 6,
                         (uint32_t)(DATA >> 12) + 40 };
    DirtyBitmap *log;
    Drv d;

    drv_open(&d, "virtio-balloon-device");
    drv_init(&d, 0, 2);
    fill(&d, DATA, 64 * PAGE, 0xa5);
    log = dirty_bitmap_new(&d.m->ram);
    d.m->ram.dma_log = log;
    post_pfns(&d, VIRTIO_BALLOON_Q_INFLATE, pfns, 3);
    for (unsigned i = 0; i < 64; i++) {
        g_assert_cmpint(dirty_bitmap_test(log, DATA + i * PAGE), ==, i == 5 || i == 6 || i == 40);
    }
    d.m->ram.dma_log = NULL;
    dirty_bitmap_free(log);
    drv_close(&d);
}

/* PFNs outside RAM are ignored (and counted), the rest is done, nothing breaks. */
static void test_hostile_pfns(void)
{
    uint32_t pfns[] = {
        0xffffffff,                              /* 16 TiB */
        (uint32_t)(RAM >> 12),                   /* the first page after RAM */
        (uint32_t)(MICROVM_VIRTIO_BASE >> 12),   /* an MMIO window */
        (uint32_t)(MICROVM_IOAPIC_ADDR >> 12),
        (uint32_t)(DATA >> 12),
        (uint32_t)(DATA >> 12),                  /* twice: harmless */
        (uint32_t)((RAM >> 12) - 1),             /* the last page of RAM */
        0,                                       /* page 0 */
    };
    VirtioBalloonCounters c;
    Drv d;

    drv_open(&d, "virtio-balloon-device");
    drv_init(&d, 0, 2);
    fill(&d, DATA, PAGE, 0x5a);
    fill(&d, RAM - PAGE, PAGE, 0x5a);
    post_pfns(&d, VIRTIO_BALLOON_Q_INFLATE, pfns, G_N_ELEMENTS(pfns));
    c = counters(&d);
    g_assert_cmpuint(c.ignored, ==, 4);
    g_assert_cmpuint(c.inflated, ==, 4);
    g_assert_false(resident(&d, DATA));
    g_assert_false(resident(&d, RAM - PAGE));
    g_assert_false(needs_reset(&d));
    post_pfns(&d, VIRTIO_BALLOON_Q_DEFLATE, pfns, G_N_ELEMENTS(pfns));
    c = counters(&d);
    g_assert_cmpuint(c.ignored, ==, 8);
    g_assert_cmpuint(c.deflated, ==, 4);
    /* An empty buffer is an empty array. */
    post_pfns(&d, VIRTIO_BALLOON_Q_INFLATE, pfns, 0);
    g_assert_false(needs_reset(&d));
    /* A long list spread over a chain of descriptors, including an indirect table. */
    for (unsigned i = 0; i < 512; i++) {
        uint32_t v = htole32((uint32_t)((DATA >> 12) + 100 + i));
        memcpy(gptr(&d, BUF + 4 * i, 4), &v, 4);
    }
    put_desc(&d, 0, 1, BUF, 1000, VIRTQ_DESC_F_NEXT, 2);
    put_desc(&d, 0, 2, BUF + 1000, 1048, 0, 0);
    kick(&d, 0, 1);
    g_assert_cmpuint(take_used(&d, 0), ==, 1);
    c = counters(&d);
    g_assert_cmpuint(c.inflated, ==, 4 + 512);
    g_assert_false(needs_reset(&d));
    drv_close(&d);
}

/* A buffer of the wrong shape: NEEDS_RESET, and a reset makes it usable again. */
static void expect_broken(Drv *d, unsigned q, uint64_t addr, uint32_t len, uint16_t flags)
{
    put_desc(d, q, 5, addr, len, flags, 0);
    kick(d, q, 5);
    g_assert_true(needs_reset(d));
    g_assert_cmpuint(used_idx(d, q), ==, d->used_seen[q]);
}

static void test_malformed(void)
{
    uint64_t f = VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) |
                 VIRTIO_BIT(VIRTIO_BALLOON_F_PAGE_REPORTING);
    Drv d;

    drv_open(&d, "virtio-balloon-device,free-page-reporting=on");
    drv_init(&d, f, 4);
    expect_broken(&d, VIRTIO_BALLOON_Q_INFLATE, BUF, 6, 0);                  /* not 4n */
    drv_init(&d, f, 4);
    expect_broken(&d, VIRTIO_BALLOON_Q_DEFLATE, BUF, 8, VIRTQ_DESC_F_WRITE); /* writable */
    drv_init(&d, f, 4);
    expect_broken(&d, VIRTIO_BALLOON_Q_INFLATE, RAM - 4, 8, 0);              /* past RAM */
    drv_init(&d, f, 4);
    expect_broken(&d, VIRTIO_BALLOON_Q_INFLATE, 0xF0100000, 8, 0);           /* MMIO */
    drv_init(&d, f, 4);
    expect_broken(&d, VIRTIO_BALLOON_Q_STATS, BUF, 15, 0);                   /* not 10n */
    drv_init(&d, f, 4);
    expect_broken(&d, 3, DATA, PAGE, 0);                                     /* readable */
    drv_init(&d, f, 4);
    expect_broken(&d, 3, RAM - PAGE, 2 * PAGE, VIRTQ_DESC_F_WRITE);          /* past RAM */
    /* After the reset the device works again. */
    drv_init(&d, f, 4);
    post_pfns(&d, VIRTIO_BALLOON_Q_INFLATE, (const uint32_t[]){ DATA >> 12 }, 1);
    g_assert_false(needs_reset(&d));
    drv_close(&d);
}

/* Reported ranges are discarded whole pages only; the range stays the guest's. */
static void test_reporting(void)
{
    uint64_t f = VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) |
                 VIRTIO_BIT(VIRTIO_BALLOON_F_PAGE_REPORTING);
    Drv d;

    drv_open(&d, "virtio-balloon-device,free-page-reporting=on");
    drv_init(&d, f, 4);
    fill(&d, DATA, 8 * PAGE, 0x77);
    /* [DATA + 100, DATA + 3 pages + 100): page 0 and 3 keep their data. */
    put_desc(&d, 3, 0, DATA + 100, 3 * PAGE, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    put_desc(&d, 3, 1, DATA + 5 * PAGE, 2 * PAGE, VIRTQ_DESC_F_WRITE, 0);
    kick(&d, 3, 0);
    g_assert_cmpuint(take_used(&d, 3), ==, 0);
    g_assert_cmpuint(*gptr(&d, DATA + 99, 1), ==, 0x77);
    g_assert_cmpuint(*gptr(&d, DATA + 100, 1), ==, 0x77);
    g_assert_false(resident(&d, DATA + PAGE));
    g_assert_false(resident(&d, DATA + 2 * PAGE));
    g_assert_cmpuint(*gptr(&d, DATA + 3 * PAGE + 99, 1), ==, 0x77);
    g_assert_cmpuint(*gptr(&d, DATA + 4 * PAGE, 1), ==, 0x77);
    g_assert_false(resident(&d, DATA + 5 * PAGE));
    g_assert_false(resident(&d, DATA + 6 * PAGE));
    g_assert_cmpuint(*gptr(&d, DATA + 7 * PAGE, 1), ==, 0x77);
    g_assert_cmpuint(counters(&d).reported, ==, 5 * PAGE);
    /* Without the stats queue negotiated, reporting is queue 2. */
    drv_init(&d, VIRTIO_BIT(VIRTIO_BALLOON_F_PAGE_REPORTING), 3);
    fill(&d, DATA, PAGE, 0x77);
    put_desc(&d, 2, 0, DATA, PAGE, VIRTQ_DESC_F_WRITE, 0);
    kick(&d, 2, 0);
    g_assert_cmpuint(take_used(&d, 2), ==, 0);
    g_assert_false(resident(&d, DATA));
    /* A kick of a queue the features do not use does nothing. */
    wr(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 3);
    g_assert_false(needs_reset(&d));
    drv_close(&d);
}

static void put_stats(Drv *d, uint64_t gpa, uint16_t tag, uint64_t val)
{
    uint8_t *p = gptr(d, gpa, 10);
    uint16_t t = htole16(tag);
    uint64_t v = htole64(val);

    memcpy(p, &t, 2);
    memcpy(p + 2, &v, 8);
}

/* The stats buffer is held; a newer one sends the older back. */
static void test_stats(void)
{
    VirtioBalloonCounters c;
    Drv d;

    drv_open(&d, "virtio-balloon-device");
    drv_init(&d, VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ), 3);
    put_stats(&d, BUF, 4, 1000);
    put_stats(&d, BUF + 10, 5, 2000);
    put_stats(&d, BUF + 20, 200, 3);             /* unknown tag: ignored */
    put_desc(&d, 2, 0, BUF, 30, 0, 0);
    kick(&d, 2, 0);
    g_assert_cmpuint(used_idx(&d, 2), ==, 0);
    c = counters(&d);
    g_assert_cmpuint(c.stats_buffers, ==, 1);
    g_assert_cmpuint(c.stats[4], ==, 1000);
    g_assert_cmpuint(c.stats[5], ==, 2000);
    g_assert_cmphex(c.stats_seen, ==, (1u << 4) | (1u << 5));
    put_stats(&d, BUF + 64, 4, 999);
    put_desc(&d, 2, 1, BUF + 64, 10, 0, 0);
    kick(&d, 2, 1);
    g_assert_cmpuint(take_used(&d, 2), ==, 0);
    g_assert_cmpuint(counters(&d).stats[4], ==, 999);
    drv_close(&d);
}

static GByteArray *save(Device *dev)
{
    g_autoptr(GError) err = NULL;
    GByteArray *b = g_byte_array_new();

    g_assert_true(device_save_state(dev, b, &err));
    g_assert_no_error(err);
    return b;
}

/*
 * Target, actual, negotiated queues and a held stats buffer survive a save
 * and a load into the reset device: afterwards a second stats buffer sends
 * the first one back, so the device had taken it off the ring again.
 */
static void test_state(void)
{
    g_autoptr(GError) err = NULL;
    Drv d;

    drv_open(&d, "virtio-balloon-device,deflate-on-oom=on");
    drv_init(&d, VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) |
             VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM), 3);
    virtio_balloon_set_target(d.dev, RAM / 4);
    wr(&d, VIRTIO_MMIO_CONFIG + 4, 123);
    put_stats(&d, BUF, 4, 42);
    put_desc(&d, 2, 0, BUF, 10, 0, 0);
    kick(&d, 2, 0);
    post_pfns(&d, VIRTIO_BALLOON_Q_INFLATE, (const uint32_t[]){ DATA >> 12 }, 1);
    g_autoptr(GByteArray) a = save(d.dev);

    wr(&d, VIRTIO_MMIO_STATUS, 0);
    virtio_balloon_set_target(d.dev, RAM);
    g_assert_true(device_load_state(d.dev, a->data, a->len, &err));
    g_assert_no_error(err);
    g_autoptr(GByteArray) b = save(d.dev);
    g_assert_cmpmem(a->data, a->len, b->data, b->len);
    g_assert_cmphex(rd(&d, VIRTIO_MMIO_STATUS), ==, 0xf);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG), ==, (RAM - RAM / 4) / PAGE);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG + 4), ==, 123);
    g_assert_cmpuint(virtio_balloon_actual_bytes(d.dev), ==, RAM - 123 * PAGE);
    /* The guest's write to num_pages is still undone from the loaded value. */
    wr(&d, VIRTIO_MMIO_CONFIG, 1);
    g_assert_cmpuint(rd(&d, VIRTIO_MMIO_CONFIG), ==, (RAM - RAM / 4) / PAGE);
    put_stats(&d, BUF + 64, 4, 43);
    put_desc(&d, 2, 1, BUF + 64, 10, 0, 0);
    kick(&d, 2, 1);
    g_assert_cmpuint(take_used(&d, 2), ==, 0);
    g_assert_false(needs_reset(&d));
    /* The inflate queue goes on where it was. */
    post_pfns(&d, VIRTIO_BALLOON_Q_INFLATE, (const uint32_t[]){ DATA >> 12 }, 1);

    /* A stream in which a queue other than stats holds a buffer is refused. */
    VirtioDevice *vdev = d.dev->klass->virtio_device(d.dev);
    vdev->vqs[0].last_avail_idx++;
    g_autoptr(GByteArray) bad = save(d.dev);
    vdev->vqs[0].last_avail_idx--;
    g_assert_false(device_load_state(d.dev, bad->data, bad->len, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "queue 0 holds 1 buffers"));
    g_clear_error(&err);
    /* Truncated streams are refused. */
    for (guint cut = 0; cut < a->len; cut += 7) {
        g_assert_false(device_load_state(d.dev, a->data, cut, &err));
        g_clear_error(&err);
    }
    drv_close(&d);
}

/* Only one per machine, and the -device errors. */
static void test_one_per_vm(void)
{
    const char *argv[] = { "stratus", "-accel", "qtest", "-device", "virtio-balloon-device",
                           "-device", "virtio-balloon-mmio,id=b2", NULL };
    g_autoptr(GError) err = NULL;
    StratusConfig *cfg = config_parse(G_N_ELEMENTS(argv) - 1, (char **)argv, &err);
    Machine *m;

    g_assert_no_error(err);
    m = machine_new(cfg, &err);
    g_assert_null(m);
    config_free(cfg);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "Only one balloon device is supported for each vm.");
    g_clear_error(&err);
    m = vm("virtio-balloon-device,deflate-on-oom=maybe", &err);
    g_assert_null(m);
    g_assert_nonnull(strstr(err->message, "deflate-on-oom"));
}

/* guest_ram_discard(): whole pages inside the range only, never outside RAM. */
static void test_discard(void)
{
    GuestRam ram;
    uint8_t *p;

    g_assert_true(guest_ram_init(&ram, 16 * MIB, 3ULL << 30, false, false, NULL));
    p = guest_ram_ptr(&ram, 0, 16 * MIB);
    memset(p, 0x3c, 4 * PAGE);
    g_assert_true(guest_ram_discard(&ram, p + 1, 3 * PAGE));
    g_assert_cmpuint(p[0], ==, 0x3c);
    g_assert_cmpuint(p[PAGE], ==, 0);
    g_assert_cmpuint(p[2 * PAGE], ==, 0);
    g_assert_cmpuint(p[3 * PAGE], ==, 0x3c);
    /* Less than a page: nothing to do, and not an error. */
    g_assert_true(guest_ram_discard(&ram, p + 10, 100));
    g_assert_cmpuint(p[10], ==, 0x3c);
    /* Under a migration's log, exactly the discarded pages are marked. */
    ram.dma_log = dirty_bitmap_new(&ram);
    g_assert_true(guest_ram_discard(&ram, p + 5 * PAGE + 1, 3 * PAGE));
    for (unsigned i = 0; i < 16; i++) {
        g_assert_cmpint(dirty_bitmap_test(ram.dma_log, i * PAGE), ==, i == 6 || i == 7);
    }
    dirty_bitmap_free(ram.dma_log);
    ram.dma_log = NULL;
    g_assert_false(guest_ram_discard(&ram, p - PAGE, PAGE));
    g_assert_false(guest_ram_discard(&ram, p + 16 * MIB - PAGE, 2 * PAGE));
    g_assert_false(guest_ram_discard(&ram, p + 8 * MIB, UINT64_MAX));
    guest_ram_destroy(&ram);

    /* Shared RAM (mem-share=on) is really freed too (MADV_REMOVE). */
    g_assert_true(guest_ram_init(&ram, 16 * MIB, 3ULL << 30, true, false, NULL));
    p = guest_ram_ptr(&ram, 0, 16 * MIB);
    memset(p, 0x3c, 2 * PAGE);
    g_assert_true(guest_ram_discard(&ram, p, 2 * PAGE));
    g_assert_cmpuint(p[0], ==, 0);
    g_assert_cmpuint(p[PAGE], ==, 0);
    guest_ram_destroy(&ram);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-balloon/target", test_target);
    g_test_add_func("/virtio-balloon/features", test_features);
    g_test_add_func("/virtio-balloon/inflate-deflate", test_inflate_deflate);
    g_test_add_func("/virtio-balloon/inflate-marks-dirty", test_inflate_marks_dirty);
    g_test_add_func("/virtio-balloon/hostile-pfns", test_hostile_pfns);
    g_test_add_func("/virtio-balloon/malformed", test_malformed);
    g_test_add_func("/virtio-balloon/reporting", test_reporting);
    g_test_add_func("/virtio-balloon/stats", test_stats);
    g_test_add_func("/virtio-balloon/state", test_state);
    g_test_add_func("/virtio-balloon/one-per-vm", test_one_per_vm);
    g_test_add_func("/virtio-balloon/discard", test_discard);
    return g_test_run();
}
