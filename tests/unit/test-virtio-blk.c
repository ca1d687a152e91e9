/*
 * virtio-mmio + virtio-blk driven through the MMIO registers of a hand-built
 * Machine (no KVM): feature negotiation, status machine, NEEDS_RESET on a
 * malformed ring, block requests on every engine, hot-replace (microvm slots: test-device.c).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <glib/gstdio.h>

#include "block-test-util.h"
#include "accel/accel.h"
#include "machine.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/x86/microvm.h"

#define MIB (1ULL << 20)
#define BASE 0xF0100000ULL
#define GSI 5
#define QSZ 16
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define HDR   0x10000
#define DATA  0x20000
#define STAT  0x40000
#define IMG_SIZE (1 << 20)

static char *tmpdir;
static unsigned irq_raises[32];
static int irqfd_registered = -1;

static void fake_set_irq(Machine *m, unsigned gsi, bool level)
{
    if (level && gsi < 32) {
        irq_raises[gsi]++;
    }
}

static bool fake_add_irqfd(Machine *m, unsigned gsi, int fd, GError **err)
{
    irqfd_registered = fd;
    return true;
}

static void fake_remove_irqfd(Machine *m, unsigned gsi, int fd)
{
    irqfd_registered = -1;
}

static const AccelOps fake_accel = { .name = "fake", .set_irq = fake_set_irq };
static const AccelOps fake_accel_irqfd = {
    .name = "fake-irqfd", .set_irq = fake_set_irq,
    .add_irqfd = fake_add_irqfd, .remove_irqfd = fake_remove_irqfd,
};

static Machine *machine_fake(const AccelOps *ops)
{
    Machine *m = g_new0(Machine, 1);

    g_assert_true(guest_ram_init(&m->ram, 16 * MIB, 3ULL << 30, false, false, NULL));
    iobus_init(&m->mmio, "mmio", IOBUS_MEMORY);
    iobus_init(&m->pio, "pio", IOBUS_PORTS);
    m->accel_ops = ops;
    m->ctx = g_main_context_ref(g_main_context_default());
    memset(irq_raises, 0, sizeof(irq_raises));
    return m;
}

static void machine_fake_free(Machine *m)
{
    iobus_destroy(&m->mmio);
    iobus_destroy(&m->pio);
    guest_ram_destroy(&m->ram);
    g_main_context_unref(m->ctx);
    g_free(m);
}

/* ---- a tiny virtio-mmio driver ---- */

typedef struct Drv {
    Machine *m;
    uint64_t base;
    uint16_t avail_idx;
    uint16_t used_seen;
} Drv;

static uint32_t rd(Drv *d, uint64_t off)
{
    uint32_t v;
    iobus_read(&d->m->mmio, d->base + off, &v, 4);
    return v;
}

static void wr(Drv *d, uint64_t off, uint32_t v)
{
    iobus_write(&d->m->mmio, d->base + off, &v, 4);
}

static uint64_t cfg64(Drv *d, unsigned off)
{
    return rd(d, VIRTIO_MMIO_CONFIG + off) | (uint64_t)rd(d, VIRTIO_MMIO_CONFIG + off + 4) << 32;
}

static uint64_t device_features(Drv *d)
{
    wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t f = rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
    wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return f | (uint64_t)rd(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

static void set_features(Drv *d, uint64_t f)
{
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES, f >> 32);
}

static void zero_rings(Drv *d)
{
    void *p = guest_ram_ptr(&d->m->ram, DESC, 0x3000 + 8 * QSZ + 6);
    memset(p, 0, 0x3000 + 8 * QSZ + 6);
    d->avail_idx = d->used_seen = 0;
}

/* Full init; features = what the driver accepts from what is offered. */
static void drv_init(Drv *d, uint64_t want)
{
    wr(d, VIRTIO_MMIO_STATUS, 0);
    wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    set_features(d, device_features(d) & want);
    wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
       VIRTIO_STATUS_FEATURES_OK);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, ==,
                    VIRTIO_STATUS_FEATURES_OK);
    zero_rings(d);
    wr(d, VIRTIO_MMIO_QUEUE_SEL, 0);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX), ==, VIRTIO_BLK_QUEUE_SIZE);
    wr(d, VIRTIO_MMIO_QUEUE_NUM, QSZ);
    wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
    wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    wr(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL);
    wr(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED);
    wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_QUEUE_READY), ==, 1);
    wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, 0xf);
}

static void put_desc(Drv *d, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t b[16];
    uint64_t a = htole64(addr);
    uint32_t l = htole32(len);
    uint16_t f = htole16(flags), n = htole16(next);
    memcpy(b, &a, 8);
    memcpy(b + 8, &l, 4);
    memcpy(b + 12, &f, 2);
    memcpy(b + 14, &n, 2);
    g_assert_true(guest_ram_write(&d->m->ram, table + 16ULL * i, b, 16));
}

static void kick(Drv *d, uint16_t head)
{
    uint16_t v = htole16(head);
    guest_ram_write(&d->m->ram, AVAIL + 4 + 2 * (d->avail_idx % QSZ), &v, 2);
    d->avail_idx++;
    v = htole16(d->avail_idx);
    guest_ram_write(&d->m->ram, AVAIL + 2, &v, 2);
    wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static uint16_t used_idx(Drv *d)
{
    uint16_t v;
    guest_ram_read(&d->m->ram, USED + 2, &v, 2);
    return le16toh(v);
}

/* Waits for the next used element; returns its length. */
static uint32_t wait_used(Drv *d)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    uint32_t len;

    while (used_idx(d) == d->used_seen) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, TRUE);
    }
    guest_ram_read(&d->m->ram, USED + 4 + 8 * (d->used_seen % QSZ) + 4, &len, 4);
    d->used_seen++;
    return le32toh(len);
}

/* One request: header, optional data (out or in), status. Returns the status. */
static uint8_t blk_req(Drv *d, uint32_t type, uint64_t sector, uint64_t data_gpa,
                       uint32_t data_len, bool data_in, uint32_t *used_len)
{
    struct { uint32_t type, reserved; uint64_t sector; } hdr = {
        htole32(type), 0, htole64(sector) };
    uint8_t status = 0xee;
    unsigned i = 0;

    guest_ram_write(&d->m->ram, HDR, &hdr, sizeof(hdr));
    guest_ram_write(&d->m->ram, STAT, &status, 1);
    put_desc(d, DESC, i, HDR, sizeof(hdr), VIRTQ_DESC_F_NEXT, i + 1);
    i++;
    if (data_len) {
        put_desc(d, DESC, i, data_gpa, data_len,
                 VIRTQ_DESC_F_NEXT | (data_in ? VIRTQ_DESC_F_WRITE : 0), i + 1);
        i++;
    }
    put_desc(d, DESC, i, STAT, 1, VIRTQ_DESC_F_WRITE, 0);
    kick(d, 0);
    uint32_t len = wait_used(d);
    if (used_len) {
        *used_len = len;
    }
    guest_ram_read(&d->m->ram, STAT, &status, 1);
    return status;
}

static uint8_t *gptr(Drv *d, uint64_t gpa, size_t len)
{
    return guest_ram_ptr(&d->m->ram, gpa, len);
}

static uint8_t seg_req(Drv *d, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
    struct { uint64_t sector; uint32_t num, flags; } seg = {
        htole64(sector), htole32(num), htole32(flags) };
    guest_ram_write(&d->m->ram, DATA + 0x8000, &seg, sizeof(seg));
    return blk_req(d, type, 0, DATA + 0x8000, sizeof(seg), false, NULL);
}

static char *make_image(const char *name)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, IMG_SIZE), ==, 0);
    close(fd);
    return path;
}

static BlockBackend *open_img(const char *path, const char *node, BlockAioMode aio,
                              bool direct, bool ro)
{
    g_autoptr(GError) err = NULL;
    BlockOptions o;
    BlockBackend *bb;

    block_options_init(&o);
    o.node_name = node;
    o.filename = path;
    o.aio = aio;
    o.direct = direct;
    o.read_only = ro;
    bb = block_open(&o, NULL, &err);
    g_assert_no_error(err);
    return bb;
}

typedef struct Rig {
    Machine *m;
    VirtioBlk *blk;
    VirtioMmio *t;
    Drv d;
} Rig;

static void rig_init(Rig *r, const AccelOps *ops, BlockBackend *bb, bool hotswap)
{
    g_autoptr(GError) err = NULL;

    r->m = machine_fake(ops);
    r->blk = virtio_blk_new(r->m, "disk0", bb, "SERIAL-0123", hotswap, &err);
    g_assert_no_error(err);
    r->t = virtio_mmio_new(r->m, virtio_blk_vdev(r->blk), BASE, GSI, &err);
    g_assert_no_error(err);
    r->d = (Drv) { .m = r->m, .base = BASE };
}

static void rig_free(Rig *r)
{
    virtio_mmio_free(r->t);
    virtio_device_free(virtio_blk_vdev(r->blk));
    machine_fake_free(r->m);
}

static const uint64_t ALL = ~0ULL;

/* ---- tests ---- */

static void test_registers(void)
{
    Rig r;
    rig_init(&r, &fake_accel, NULL, true);
    Drv *d = &r.d;

    g_assert_cmphex(rd(d, VIRTIO_MMIO_MAGIC_VALUE), ==, 0x74726976);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_VERSION), ==, 2);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_DEVICE_ID), ==, VIRTIO_ID_BLOCK);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_VENDOR_ID), ==, 0);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_SHM_LEN_LOW), ==, 0xffffffff);
    uint64_t f = device_features(d);
    g_assert_true(f & VIRTIO_BIT(VIRTIO_F_VERSION_1));
    g_assert_true(f & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
    g_assert_true(f & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
    g_assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
    g_assert_false(f & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_DEVICE_FEATURES), ==, 0);
    /* empty slot: capacity 0 */
    g_assert_cmpuint(cfg64(d, VIRTIO_BLK_CFG_CAPACITY), ==, 0);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_SEG_MAX), ==, VIRTIO_BLK_SEG_MAX);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_BLK_SIZE), ==, 512);
    /* config is read-only; byte reads work; beyond its end reads 0 */
    wr(d, VIRTIO_MMIO_CONFIG, 0x1234);
    g_assert_cmpuint(cfg64(d, 0), ==, 0);
    uint8_t b;
    iobus_read(&r.m->mmio, BASE + VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_SEG_MAX, &b, 1);
    g_assert_cmpuint(b, ==, VIRTIO_BLK_SEG_MAX & 0xff);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_CONFIG + 0xf0), ==, 0);
    /* unaligned/narrow register accesses are ignored */
    uint16_t h = 0xffff;
    iobus_read(&r.m->mmio, BASE + VIRTIO_MMIO_MAGIC_VALUE, &h, 2);
    g_assert_cmpuint(h, ==, 0);
    rig_free(&r);
}

static void test_features_status(void)
{
    Rig r;
    rig_init(&r, &fake_accel, NULL, true);
    Drv *d = &r.d;
    const uint32_t ad = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

    /* Without VERSION_1 (a legacy driver) FEATURES_OK does not stick. */
    wr(d, VIRTIO_MMIO_STATUS, ad);
    set_features(d, VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
    wr(d, VIRTIO_MMIO_STATUS, ad | VIRTIO_STATUS_FEATURES_OK);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, ad);
    /* DRIVER_OK without FEATURES_OK is refused too. */
    wr(d, VIRTIO_MMIO_STATUS, ad | VIRTIO_STATUS_DRIVER_OK);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, ad);
    /* A feature the device does not offer. */
    set_features(d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(40));
    wr(d, VIRTIO_MMIO_STATUS, ad | VIRTIO_STATUS_FEATURES_OK);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, ad);
    /* Proper set. */
    set_features(d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
    wr(d, VIRTIO_MMIO_STATUS, ad | VIRTIO_STATUS_FEATURES_OK);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, ad | VIRTIO_STATUS_FEATURES_OK);
    g_assert_true(virtio_has_feature(virtio_blk_vdev(r.blk), VIRTIO_BLK_F_FLUSH));
    /* Feature writes after FEATURES_OK are ignored. */
    set_features(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    g_assert_true(virtio_has_feature(virtio_blk_vdev(r.blk), VIRTIO_BLK_F_FLUSH));
    /* Clearing bits is ignored. */
    wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, ad | VIRTIO_STATUS_FEATURES_OK);
    /* Reset. */
    drv_init(d, ALL);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_QUEUE_READY), ==, 1);
    wr(d, VIRTIO_MMIO_STATUS, 0);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, 0);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_QUEUE_READY), ==, 0);
    g_assert_cmphex(virtio_blk_vdev(r.blk)->guest_features, ==, 0);
    /* FAILED is recorded. */
    wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FAILED);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==,
                    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FAILED);
    rig_free(&r);
}

static void test_bad_queue_size(void)
{
    Rig r;
    rig_init(&r, &fake_accel, NULL, true);
    Drv *d = &r.d;

    wr(d, VIRTIO_MMIO_STATUS, 3);
    set_features(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    wr(d, VIRTIO_MMIO_STATUS, 0xb);
    wr(d, VIRTIO_MMIO_QUEUE_NUM, 100);
    wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
    wr(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL);
    wr(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED);
    wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_QUEUE_READY), ==, 0);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, ==,
                    VIRTIO_STATUS_NEEDS_RESET);
    /* Queue 1 does not exist. */
    wr(d, VIRTIO_MMIO_QUEUE_SEL, 1);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);
    wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
    wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 5);
    /* Reset recovers. */
    drv_init(d, ALL);
    rig_free(&r);
}

static void test_needs_reset(void)
{
    Rig r;
    g_autofree char *path = make_image("nr.img");
    BlockBackend *bb = open_img(path, "nr", BLOCK_AIO_THREADS, false, false);
    rig_init(&r, &fake_accel, bb, false);
    block_unref(bb);
    Drv *d = &r.d;

    drv_init(d, ALL);
    unsigned before = irq_raises[GSI];
    uint32_t gen = rd(d, VIRTIO_MMIO_CONFIG_GENERATION);
    /* A descriptor loop. */
    put_desc(d, DESC, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc(d, DESC, 1, HDR, 16, VIRTQ_DESC_F_NEXT, 0);
    kick(d, 0);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, 0xf | VIRTIO_STATUS_NEEDS_RESET);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_INTERRUPT_STATUS), ==, VIRTIO_INT_CONFIG);
    g_assert_cmpuint(irq_raises[GSI], ==, before + 1);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_CONFIG_GENERATION), !=, gen);
    wr(d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_CONFIG);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_INTERRUPT_STATUS), ==, 0);
    /* Further kicks are ignored (and a second error is not re-raised). */
    kick(d, 0);
    g_assert_cmpuint(irq_raises[GSI], ==, before + 1);
    g_assert_cmpuint(used_idx(d), ==, 0);
    /* The driver cannot clear NEEDS_RESET; reset can. */
    wr(d, VIRTIO_MMIO_STATUS, 0xf);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS), ==, 0xf | VIRTIO_STATUS_NEEDS_RESET);
    drv_init(d, ALL);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), ==,
                     VIRTIO_BLK_S_OK);

    /* Missing status byte (no writable descriptor) is malformed too. */
    put_desc(d, DESC, 0, HDR, 16, 0, 0);
    kick(d, 0);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, ==,
                    VIRTIO_STATUS_NEEDS_RESET);
    /* Avail index running ahead. */
    drv_init(d, ALL);
    uint16_t v = htole16(QSZ + 5);
    guest_ram_write(&r.m->ram, AVAIL + 2, &v, 2);
    wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, ==,
                    VIRTIO_STATUS_NEEDS_RESET);
    /* Out-of-RAM data buffer. */
    drv_init(d, ALL);
    put_desc(d, DESC, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc(d, DESC, 1, 15 * MIB + 0xfff000, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    put_desc(d, DESC, 2, STAT, 1, VIRTQ_DESC_F_WRITE, 0);
    kick(d, 0);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, ==,
                    VIRTIO_STATUS_NEEDS_RESET);
    rig_free(&r);
    unlink(path);
}

static void test_blk_io(gconstpointer data)
{
    const EngineCase *c = data;
    g_autofree char *path = make_image("io.img");
    BlockBackend *bb = open_img(path, "io", c->aio, c->direct, false);
    Rig r;
    uint32_t used;
    uint8_t *p;

    rig_init(&r, &fake_accel, bb, false);
    block_unref(bb);
    Drv *d = &r.d;
    drv_init(d, ALL);
    g_assert_cmpuint(cfg64(d, VIRTIO_BLK_CFG_CAPACITY), ==, IMG_SIZE / 512);
    g_assert_true(device_features(d) & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
    g_assert_true(device_features(d) & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));

    /* write 8 KiB at sector 16, read it back */
    p = gptr(d, DATA, 8192);
    for (int i = 0; i < 8192; i++) {
        p[i] = i * 7;
    }
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_OUT, 16, DATA, 8192, false, &used), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used, ==, 1);
    memset(gptr(d, DATA + 0x4000, 8192), 0, 8192);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_IN, 16, DATA + 0x4000, 8192, true, &used), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used, ==, 8193);
    g_assert_cmpmem(gptr(d, DATA + 0x4000, 8192), 8192, p, 8192);

    /* a guest buffer that is not aligned (bounce buffer with direct=on) */
    memset(gptr(d, DATA + 0x7001, 512), 0x5a, 512);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_OUT, 3, DATA + 0x7001, 512, false, NULL), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_IN, 3, DATA + 0x6003, 512, true, NULL), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(gptr(d, DATA + 0x6003, 512)[511], ==, 0x5a);

    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), ==, VIRTIO_BLK_S_OK);

    /* GET_ID */
    memset(gptr(d, DATA, 20), 0xff, 20);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_GET_ID, 0, DATA, 20, true, &used), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used, ==, 21);
    g_assert_cmpstr((char *)gptr(d, DATA, 20), ==, "SERIAL-0123");

    /* write-zeroes over the data, then read zeroes */
    g_assert_cmpuint(seg_req(d, VIRTIO_BLK_T_WRITE_ZEROES, 16, 8, 0), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_IN, 16, DATA, 4096, true, NULL), ==,
                     VIRTIO_BLK_S_OK);
    for (int i = 0; i < 4096; i++) {
        g_assert_cmpuint(gptr(d, DATA, 4096)[i], ==, 0);
    }
    g_assert_cmpuint(seg_req(d, VIRTIO_BLK_T_WRITE_ZEROES, 16, 8,
                             VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), ==, VIRTIO_BLK_S_OK);
    /* discard; unknown flags; beyond capacity */
    g_assert_cmpuint(seg_req(d, VIRTIO_BLK_T_DISCARD, 0, 64, 0), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(seg_req(d, VIRTIO_BLK_T_DISCARD, 0, 64, 1), ==, VIRTIO_BLK_S_UNSUPP);
    g_assert_cmpuint(seg_req(d, VIRTIO_BLK_T_DISCARD, IMG_SIZE / 512 - 1, 2, 0), ==,
                     VIRTIO_BLK_S_IOERR);

    /* out of range, overflowing sector, non-multiple of 512, unknown type */
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_IN, IMG_SIZE / 512 - 1, DATA, 1024, true, &used),
                     ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(used, ==, 1);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_OUT, UINT64_MAX / 256, DATA, 512, false, NULL), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_OUT, 0, DATA, 100, false, NULL), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(blk_req(d, 99, 0, 0, 0, false, NULL), ==, VIRTIO_BLK_S_UNSUPP);
    /* the last sector is fine */
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_IN, IMG_SIZE / 512 - 1, DATA, 512, true, NULL), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(irq_raises[GSI], >, 0);
    rig_free(&r);
    unlink(path);
}

static void test_blk_indirect_event_idx(void)
{
    g_autofree char *path = make_image("ind.img");
    BlockBackend *bb = open_img(path, "ind", BLOCK_AIO_IO_URING, true, false);
    const uint64_t table = 0x8000;
    Rig r;

    rig_init(&r, &fake_accel, bb, false);
    block_unref(bb);
    Drv *d = &r.d;
    drv_init(d, ALL);
    g_assert_true(virtio_has_feature(virtio_blk_vdev(r.blk), VIRTIO_F_EVENT_IDX));
    struct { uint32_t type, reserved; uint64_t sector; } hdr = { htole32(VIRTIO_BLK_T_OUT), 0,
                                                                  htole64(8) };
    guest_ram_write(&r.m->ram, HDR, &hdr, sizeof(hdr));
    memset(gptr(d, DATA, 4096), 0x11, 4096);
    /* data split over two descriptors in an indirect table */
    put_desc(d, table, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc(d, table, 1, DATA, 1024, VIRTQ_DESC_F_NEXT, 2);
    put_desc(d, table, 2, DATA + 1024, 3072, VIRTQ_DESC_F_NEXT, 3);
    put_desc(d, table, 3, STAT, 1, VIRTQ_DESC_F_WRITE, 0);
    put_desc(d, DESC, 0, table, 64, VIRTQ_DESC_F_INDIRECT, 0);
    /* used_event: the driver wants an interrupt only after used idx 1 */
    uint16_t ue = htole16(1);
    guest_ram_write(&r.m->ram, AVAIL + 4 + 2 * QSZ, &ue, 2);
    unsigned before = irq_raises[GSI];
    kick(d, 0);
    wait_used(d);
    g_assert_cmpuint(*gptr(d, STAT, 1), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(irq_raises[GSI], ==, before + 1);   /* first: always */
    ue = htole16(5);      /* now only after used idx 5: suppressed */
    guest_ram_write(&r.m->ram, AVAIL + 4 + 2 * QSZ, &ue, 2);
    kick(d, 0);
    wait_used(d);
    g_assert_cmpuint(irq_raises[GSI], ==, before + 1);
    /* the device asks for kicks at the next avail index (avail_event) */
    uint16_t ae;
    guest_ram_read(&r.m->ram, USED + 4 + 8 * QSZ, &ae, 2);
    g_assert_cmpuint(le16toh(ae), ==, 2);
    rig_free(&r);
    unlink(path);
}

static void test_blk_read_only(void)
{
    g_autofree char *path = make_image("ro.img");
    BlockBackend *bb = open_img(path, "ro", BLOCK_AIO_NATIVE, true, true);
    Rig r;

    rig_init(&r, &fake_accel, bb, false);
    block_unref(bb);
    Drv *d = &r.d;
    g_assert_true(device_features(d) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    g_assert_false(device_features(d) & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
    drv_init(d, ALL);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_OUT, 0, DATA, 512, false, NULL), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_IN, 0, DATA, 512, true, NULL), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(seg_req(d, VIRTIO_BLK_T_DISCARD, 0, 8, 0), ==, VIRTIO_BLK_S_UNSUPP);
    rig_free(&r);
    unlink(path);
}

/* A read-only disk inserted into an empty slot before the driver starts is RO. */
static void test_blk_read_only_slot(void)
{
    g_autofree char *path = make_image("ros.img");
    BlockBackend *bb = open_img(path, "ros", BLOCK_AIO_NATIVE, true, true);
    g_autoptr(GError) err = NULL;
    Rig r;

    rig_init(&r, &fake_accel, NULL, true);
    Drv *d = &r.d;
    g_assert_false(device_features(d) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    g_assert_true(virtio_blk_set_backend(r.blk, "ros", bb, NULL, &err));
    g_assert_no_error(err);
    block_unref(bb);
    g_assert_true(device_features(d) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    virtio_blk_clear_backend(r.blk);
    g_assert_false(device_features(d) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    rig_free(&r);
    unlink(path);
}

static void test_blk_hot_replace(void)
{
    g_autofree char *path = make_image("hr.img");
    g_autoptr(GError) err = NULL;
    Rig r;

    rig_init(&r, &fake_accel_irqfd, NULL, true);
    Drv *d = &r.d;
    int irqfd = irqfd_registered;
    uint64_t cnt;
    g_assert_cmpint(irqfd, >=, 0);
    drv_init(d, ALL);
    /* empty: capacity 0, I/O fails */
    g_assert_cmpuint(cfg64(d, VIRTIO_BLK_CFG_CAPACITY), ==, 0);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_IN, 0, DATA, 512, true, NULL), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpint(read(irqfd, &cnt, 8), ==, 8);   /* used-buffer interrupts via irqfd */
    g_assert_cmpuint(irq_raises[GSI], ==, 0);
    wr(d, VIRTIO_MMIO_INTERRUPT_ACK, 3);

    uint32_t gen = rd(d, VIRTIO_MMIO_CONFIG_GENERATION);
    BlockBackend *bb = open_img(path, "hr", BLOCK_AIO_THREADS, false, false);
    g_assert_true(virtio_blk_set_backend(r.blk, "hr-dev", bb, "NEWSERIAL", &err));
    g_assert_no_error(err);
    g_assert_cmpstr(block_owner(bb), ==, "hr-dev");
    g_assert_cmpuint(cfg64(d, VIRTIO_BLK_CFG_CAPACITY), ==, IMG_SIZE / 512);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_INTERRUPT_STATUS), ==, VIRTIO_INT_CONFIG);
    g_assert_cmpuint(rd(d, VIRTIO_MMIO_CONFIG_GENERATION), ==, gen + 1);
    g_assert_cmpint(read(irqfd, &cnt, 8), ==, 8);
    wr(d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_CONFIG);
    /* occupied: a second backend is refused */
    g_assert_false(virtio_blk_set_backend(r.blk, "x", bb, NULL, &err));
    g_clear_error(&err);
    memset(gptr(d, DATA, 512), 0x42, 512);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_OUT, 1, DATA, 512, false, NULL), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(blk_req(d, VIRTIO_BLK_T_GET_ID, 0, DATA, 20, true, NULL), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpstr((char *)gptr(d, DATA, 20), ==, "NEWSERIAL");
    virtio_blk_clear_backend(r.blk);
    g_assert_null(block_owner(bb));
    g_assert_cmpuint(cfg64(d, VIRTIO_BLK_CFG_CAPACITY), ==, 0);
    g_assert_cmphex(rd(d, VIRTIO_MMIO_INTERRUPT_STATUS), ==, VIRTIO_INT_CONFIG);
    block_unref(bb);
    /* serial too long */
    g_assert_false(virtio_blk_check_serial("123456789012345678901", &err));
    g_clear_error(&err);
    rig_free(&r);
    g_assert_cmpint(irqfd_registered, ==, -1);
    unlink(path);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = make_image_dir("stratus-vblk");
    g_test_add_func("/virtio-mmio/registers", test_registers);
    g_test_add_func("/virtio-mmio/features-status", test_features_status);
    g_test_add_func("/virtio-mmio/bad-queue-size", test_bad_queue_size);
    g_test_add_func("/virtio-mmio/needs-reset", test_needs_reset);
    for (size_t i = 0; i < G_N_ELEMENTS(engine_cases); i++) {
        g_autofree char *name = g_strdup_printf("/virtio-blk/io/%s/direct-%s",
                                                block_aio_name(engine_cases[i].aio),
                                                engine_cases[i].direct ? "on" : "off");
        g_test_add_data_func(name, &engine_cases[i], test_blk_io);
    }
    g_test_add_func("/virtio-blk/indirect-event-idx", test_blk_indirect_event_idx);
    g_test_add_func("/virtio-blk/read-only", test_blk_read_only);
    g_test_add_func("/virtio-blk/read-only-slot", test_blk_read_only_slot);
    g_test_add_func("/virtio-blk/hot-replace", test_blk_hot_replace);
    ret = g_test_run();
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}
