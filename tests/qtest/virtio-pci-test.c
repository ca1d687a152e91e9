/*
 * virtio-pci on q35 (src/hw/virtio/virtio-pci.c, docs/q35.md), driven as
 * QEMU's libqos drives a modern virtio-pci function, with virtio-rng-pci as
 * the device: identity and BAR sizing, the capability list (the five virtio
 * structures, MSI-X, PCI Express), BARs placed by the test, feature
 * negotiation and a queue through the common configuration, a request
 * completed with INTx (level until the ISR is read) and with MSI-X (the
 * message written to memory, masking latching the PBA bit, unmasking
 * delivering it), the PCI-config access window, hostile register use, and
 * placement errors on the command line and in query-pci; and a virtio-blk-pci
 * disk read and written through the same transport.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "qtest.h"

#define ECAM 0xB0000000ULL
#define BAR1_ADDR 0xC0000000ULL
#define BAR4_ADDR 0xC0100000ULL
#define SLOT 3
#define GSI (16 + SLOT % 4)

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define CAP_PCI_CFG 5

typedef struct Vpci {
    QTestState *s;
    QGuestAlloc a;
    uint8_t caps[6];            /* config offset of each virtio cap type */
    uint8_t msix;
    uint64_t desc, avail, used;
    uint16_t avail_idx;
} Vpci;

static uint64_t cfg(unsigned reg)
{
    return ECAM + ((uint64_t)SLOT << 15) + reg;
}

static uint64_t common(unsigned off)
{
    return BAR4_ADDR + off;
}

static QTestState *start(void)
{
    return qtest_init("-machine q35 -object rng-random,id=r0,filename=/dev/urandom "
                      "-device virtio-rng-pci,rng=r0,id=rng0,addr=0x3");
}

static void find_caps(Vpci *v)
{
    memset(v->caps, 0, sizeof(v->caps));
    v->msix = 0;
    for (uint8_t c = qtest_readb(v->s, cfg(0x34)); c; c = qtest_readb(v->s, cfg(c + 1))) {
        uint8_t id = qtest_readb(v->s, cfg(c));
        if (id == 0x09) {
            uint8_t type = qtest_readb(v->s, cfg(c + 3));
            g_assert_cmpuint(type, >=, 1);
            g_assert_cmpuint(type, <=, 5);
            v->caps[type] = c;
        } else if (id == 0x11) {
            v->msix = c;
        }
    }
}

/* Sizes and places both BARs, enables memory decoding and bus mastering. */
static void map_bars(Vpci *v)
{
    qtest_writel(v->s, cfg(0x14), 0xffffffff);
    g_assert_cmphex(qtest_readl(v->s, cfg(0x14)), ==, 0xfffff000);      /* 4 KiB, 32-bit */
    qtest_writel(v->s, cfg(0x20), 0xffffffff);
    qtest_writel(v->s, cfg(0x24), 0xffffffff);
    g_assert_cmphex(qtest_readl(v->s, cfg(0x20)), ==, 0xffffc00c);      /* 16 KiB, 64, pref */
    g_assert_cmphex(qtest_readl(v->s, cfg(0x24)), ==, 0xffffffff);
    qtest_writel(v->s, cfg(0x14), (uint32_t)BAR1_ADDR);
    qtest_writel(v->s, cfg(0x20), (uint32_t)BAR4_ADDR);
    qtest_writel(v->s, cfg(0x24), 0);
    qtest_writew(v->s, cfg(0x04), 0x0006);
}

/* reset, ACK, DRIVER, VERSION_1, FEATURES_OK, queue 0 of 8 entries with vector `vec`. */
static void setup(Vpci *v, QTestState *s, uint16_t vec)
{
    v->s = s;
    guest_alloc_init(&v->a, QTEST_ALLOC_START, QTEST_ALLOC_START + (4u << 20));
    find_caps(v);
    map_bars(v);
    qtest_writeb(s, common(0x14), 0);
    g_assert_cmpuint(qtest_readb(s, common(0x14)), ==, 0);
    qtest_writeb(s, common(0x14), 0x03);
    qtest_writel(s, common(0x00), 1);
    g_assert_cmphex(qtest_readl(s, common(0x04)) & 1, ==, 1);           /* VERSION_1 */
    qtest_writel(s, common(0x08), 1);
    qtest_writel(s, common(0x0c), 1);
    qtest_writeb(s, common(0x14), 0x0b);
    g_assert_cmphex(qtest_readb(s, common(0x14)), ==, 0x0b);
    g_assert_cmpuint(qtest_readw(s, common(0x12)), ==, 1);              /* num_queues */
    qtest_writew(s, common(0x16), 0);
    g_assert_cmpuint(qtest_readw(s, common(0x18)), >=, 8);
    qtest_writew(s, common(0x18), 8);
    v->desc = guest_alloc0(s, &v->a, 16 * 8, 16);
    v->avail = guest_alloc0(s, &v->a, 6 + 2 * 8, 2);
    v->used = guest_alloc0(s, &v->a, 6 + 8 * 8, 4);
    qtest_writel(s, common(0x20), (uint32_t)v->desc);
    qtest_writel(s, common(0x24), 0);
    qtest_writel(s, common(0x28), (uint32_t)v->avail);
    qtest_writel(s, common(0x2c), 0);
    qtest_writeq(s, common(0x30), v->used);
    qtest_writew(s, common(0x1a), vec);
    g_assert_cmphex(qtest_readw(s, common(0x1a)), ==, vec);
    qtest_writew(s, common(0x1c), 1);
    g_assert_cmpuint(qtest_readw(s, common(0x1c)), ==, 1);
    qtest_writeb(s, common(0x14), 0x0f);
    v->avail_idx = 0;
}

/* One 16-byte device-writable buffer through queue 0; returns the used length. */
static uint32_t request(Vpci *v)
{
    uint64_t buf = guest_alloc0(v->s, &v->a, 16, 16);
    unsigned d = v->avail_idx % 8;
    uint16_t want = (uint16_t)(v->avail_idx + 1);
    uint32_t notify_off = qtest_readl(v->s, cfg(v->caps[CAP_NOTIFY] + 8));
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    qtest_writeq(v->s, v->desc + 16 * d, buf);
    qtest_writel(v->s, v->desc + 16 * d + 8, 16);
    qtest_writew(v->s, v->desc + 16 * d + 12, 2);                         /* WRITE */
    qtest_writew(v->s, v->avail + 4 + 2 * (v->avail_idx % 8), (uint16_t)d);
    qtest_writew(v->s, v->avail + 2, want);
    v->avail_idx = want;
    /* queue_notify_off (0) times notify_off_multiplier. */
    qtest_writew(v->s, BAR4_ADDR + notify_off + qtest_readw(v->s, common(0x1e)) *
                 qtest_readl(v->s, cfg(v->caps[CAP_NOTIFY] + 16)), 0);
    while (qtest_readw(v->s, v->used + 2) != want) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(200);
    }
    return qtest_readl(v->s, v->used + 4 + 8 * ((want - 1) % 8) + 4);
}

/*
 * One virtio-blk request (virtio 1.2 §5.2.6): header, data, status chained
 * in descriptors 0..2. Returns the status byte; data in/out through buf.
 */
static uint8_t blk_request(Vpci *v, uint32_t type, uint64_t sector, uint8_t *buf)
{
    uint64_t hdr = guest_alloc0(v->s, &v->a, 16, 16);
    uint64_t data = guest_alloc0(v->s, &v->a, 512, 16);
    uint64_t st = guest_alloc0(v->s, &v->a, 1, 1);
    uint16_t want = (uint16_t)(v->avail_idx + 1);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    const uint64_t addr[3] = { hdr, data, st };
    const uint32_t len[3] = { 16, 512, 1 };
    const uint16_t flags[3] = { 1, (uint16_t)(type == 0 ? 3 : 1), 2 };

    qtest_writel(v->s, hdr, type);
    qtest_writeq(v->s, hdr + 8, sector);
    qtest_writeb(v->s, st, 0xff);
    if (type == 1) {
        qtest_bufwrite(v->s, data, buf, 512);
    }
    for (unsigned i = 0; i < 3; i++) {
        qtest_writeq(v->s, v->desc + 16 * i, addr[i]);
        qtest_writel(v->s, v->desc + 16 * i + 8, len[i]);
        qtest_writew(v->s, v->desc + 16 * i + 12, flags[i]);
        qtest_writew(v->s, v->desc + 16 * i + 14, (uint16_t)(i + 1));
    }
    qtest_writew(v->s, v->avail + 4 + 2 * (v->avail_idx % 8), 0);
    qtest_writew(v->s, v->avail + 2, want);
    v->avail_idx = want;
    qtest_writew(v->s, BAR4_ADDR + 0x3000, 0);
    while (qtest_readw(v->s, v->used + 2) != want) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(200);
    }
    if (type == 0) {
        qtest_bufread(v->s, data, buf, 512);
    }
    return qtest_readb(v->s, st);
}

static void test_blk_pci(void)
{
    g_autofree char *img = qtest_tmp_path("vpci-blk.img");
    uint8_t sector[512], back[512];
    int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
    QTestState *s;
    Vpci v;

    for (unsigned i = 0; i < sizeof(sector); i++) {
        sector[i] = (uint8_t)(i * 13 + 1);
    }
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 1 << 20), ==, 0);
    g_assert_cmpint(pwrite(fd, sector, sizeof(sector), 512), ==, (ssize_t)sizeof(sector));
    close(fd);
    s = qtest_initf("-machine q35 -drive if=none,id=d0,file=%s,format=raw,direct=off "
                    "-device virtio-blk-pci,drive=d0,id=disk0,addr=0x3", img);
    g_assert_cmphex(qtest_readl(s, cfg(0x00)), ==, 0x10421af4);
    g_assert_cmphex(qtest_readl(s, cfg(0x08)) >> 8, ==, 0x010000);
    setup(&v, s, 0xffff);
    /* Capacity (device config 0) is 2048 sectors. */
    g_assert_cmpuint(qtest_readq(s, BAR4_ADDR + 0x2000), ==, 2048);
    g_assert_cmpuint(blk_request(&v, 0, 1, back), ==, 0);
    g_assert_cmpmem(back, 512, sector, 512);
    memset(sector, 0x5a, sizeof(sector));
    g_assert_cmpuint(blk_request(&v, 1, 7, sector), ==, 0);
    qtest_quit(s);
    fd = open(img, O_RDONLY);
    g_assert_cmpint(pread(fd, back, sizeof(back), 7 * 512), ==, (ssize_t)sizeof(back));
    close(fd);
    g_assert_cmpmem(back, 512, sector, 512);
    unlink(img);
}

/* Every -pci form: 1AF4:1040+id, its class, one vector per queue plus one. */
static void test_device_ids(void)
{
    static const struct { unsigned slot; uint32_t id, cls; unsigned vectors; } want[] = {
        { 3, 0x10441af4, 0x00ff00, 2 },      /* rng: 1 queue */
        { 4, 0x10421af4, 0x010000, 2 },      /* blk: 1 queue */
        { 5, 0x10451af4, 0x00ff00, 4 },      /* balloon: inflate, deflate, stats (+ reporting if on) */
        { 6, 0x10431af4, 0x078000, 0 },      /* serial: 2 + 2 per port (max_ports=2) */
        { 7, 0x10531af4, 0x00ff00, 4 },      /* vsock: rx, tx, event */
        { 8, 0x10411af4, 0x020000, 4 },      /* net: rx, tx, ctrl */
    };
    g_autofree char *img = qtest_tmp_path("vpci-ids.img");
    int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
    QTestState *s;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 1 << 20), ==, 0);
    close(fd);
    s = qtest_initf("-machine q35 -object rng-random,id=r0,filename=/dev/urandom "
                    "-device virtio-rng-pci,rng=r0,addr=3 "
                    "-drive if=none,id=d0,file=%s,format=raw -device virtio-blk-pci,drive=d0,addr=4 "
                    "-device virtio-balloon-pci,addr=5 -device virtio-serial-pci,addr=6,max_ports=2 "
                    "-device virtio-vsock-pci,guest-cid=3,uds-path=%s.vsock,addr=7 "
                    "-device virtio-net-pci,addr=8,mac=52:54:00:12:34:99", img, img);
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        uint64_t c = ECAM + ((uint64_t)want[i].slot << 15);
        uint8_t cap;
        g_assert_cmphex(qtest_readl(s, c), ==, want[i].id);
        g_assert_cmphex(qtest_readl(s, c + 8) >> 8, ==, want[i].cls);
        for (cap = qtest_readb(s, c + 0x34); cap && qtest_readb(s, c + cap) != 0x11;
             cap = qtest_readb(s, c + cap + 1)) {
        }
        g_assert_cmpuint(cap, !=, 0);
        if (want[i].vectors) {
            g_assert_cmpuint((qtest_readw(s, c + cap + 2) & 0x7ff) + 1, ==, want[i].vectors);
        }
    }
    /* virtio-net's MAC is the first 6 bytes of its device configuration. */
    qtest_writel(s, ECAM + (8 << 15) + 0x20, 0xc0000000);
    qtest_writel(s, ECAM + (8 << 15) + 0x24, 0);
    qtest_writew(s, ECAM + (8 << 15) + 0x04, 0x0002);
    g_assert_cmphex(qtest_readl(s, 0xc0002000), ==, 0x12005452);
    g_assert_cmphex(qtest_readw(s, 0xc0002004), ==, 0x9934);
    qtest_quit(s);
    unlink(img);
}

static void test_identity_and_caps(void)
{
    Vpci v = { .s = start() };

    g_assert_cmphex(qtest_readl(v.s, cfg(0x00)), ==, 0x10441af4);
    g_assert_cmphex(qtest_readb(v.s, cfg(0x08)), ==, 1);                 /* revision 1 */
    g_assert_cmphex(qtest_readl(v.s, cfg(0x08)) >> 8, ==, 0x00ff00);
    g_assert_cmphex(qtest_readl(v.s, cfg(0x2c)), ==, 0x11001af4);
    g_assert_cmphex(qtest_readb(v.s, cfg(0x3d)), ==, 1);                 /* INTA */
    g_assert_cmphex(qtest_readw(v.s, cfg(0x06)) & 0x10, ==, 0x10);       /* cap list */
    find_caps(&v);
    for (unsigned t = CAP_COMMON; t <= CAP_PCI_CFG; t++) {
        g_assert_cmpuint(v.caps[t], !=, 0);
    }
    g_assert_cmpuint(qtest_readb(v.s, cfg(v.caps[CAP_COMMON] + 4)), ==, 4);
    g_assert_cmphex(qtest_readl(v.s, cfg(v.caps[CAP_ISR] + 8)), ==, 0x1000);
    g_assert_cmphex(qtest_readl(v.s, cfg(v.caps[CAP_DEVICE] + 8)), ==, 0x2000);
    g_assert_cmphex(qtest_readl(v.s, cfg(v.caps[CAP_NOTIFY] + 8)), ==, 0x3000);
    g_assert_cmpuint(qtest_readl(v.s, cfg(v.caps[CAP_NOTIFY] + 16)), ==, 4);
    /* MSI-X: 2 vectors (1 queue + config), table in BAR1 at 0, PBA at 0x800. */
    g_assert_cmpuint(v.msix, !=, 0);
    g_assert_cmphex(qtest_readw(v.s, cfg(v.msix + 2)), ==, 1);
    g_assert_cmphex(qtest_readl(v.s, cfg(v.msix + 4)), ==, 1);
    g_assert_cmphex(qtest_readl(v.s, cfg(v.msix + 8)), ==, 0x801);
    /* Unplaced BARs decode nothing. */
    g_assert_cmphex(qtest_readl(v.s, BAR4_ADDR), ==, 0);
    qtest_quit(v.s);
}

static void test_request_intx(void)
{
    Vpci v;
    QTestState *s = start();

    qtest_irq_intercept_in(s, "ioapic");
    setup(&v, s, 0xffff);
    g_assert_false(qtest_get_irq(s, GSI));
    g_assert_cmpuint(request(&v), ==, 16);
    /* Level until the driver reads the ISR; the status register shows it too. */
    g_assert_true(qtest_get_irq(s, GSI));
    g_assert_cmphex(qtest_readw(s, cfg(0x06)) & 0x08, ==, 0x08);
    g_assert_cmphex(qtest_readb(s, BAR4_ADDR + 0x1000), ==, 1);
    g_assert_false(qtest_get_irq(s, GSI));
    g_assert_cmphex(qtest_readb(s, BAR4_ADDR + 0x1000), ==, 0);
    /* INTx disabled in the command register: no line. */
    qtest_writew(s, cfg(0x04), 0x0406);
    request(&v);
    g_assert_false(qtest_get_irq(s, GSI));
    qtest_quit(s);
}

static void test_request_msix(void)
{
    Vpci v;
    QTestState *s = start();
    uint64_t msg;

    qtest_irq_intercept_in(s, "ioapic");
    setup(&v, s, 0);
    msg = guest_alloc0(s, &v.a, 4, 4);
    /* Entry 0 -> a RAM address (as libqos does), data 0x4321, unmasked; enable. */
    qtest_writel(s, BAR1_ADDR + 0, (uint32_t)msg);
    qtest_writel(s, BAR1_ADDR + 4, 0);
    qtest_writel(s, BAR1_ADDR + 8, 0x4321);
    qtest_writel(s, BAR1_ADDR + 12, 0);
    qtest_writew(s, cfg(v.msix + 2), 0x8000);
    request(&v);
    g_assert_cmphex(qtest_readl(s, msg), ==, 0x4321);
    g_assert_false(qtest_get_irq(s, GSI));                 /* MSI-X, not INTx */
    /* Masked: the PBA bit latches; unmasking delivers and clears it. */
    qtest_writel(s, msg, 0);
    qtest_writel(s, BAR1_ADDR + 12, 1);
    request(&v);
    g_assert_cmphex(qtest_readl(s, msg), ==, 0);
    g_assert_cmphex(qtest_readl(s, BAR1_ADDR + 0x800), ==, 1);
    qtest_writel(s, BAR1_ADDR + 12, 0);
    g_assert_cmphex(qtest_readl(s, msg), ==, 0x4321);
    g_assert_cmphex(qtest_readl(s, BAR1_ADDR + 0x800), ==, 0);
    /* Function mask likewise. */
    qtest_writel(s, msg, 0);
    qtest_writew(s, cfg(v.msix + 2), 0xc000);
    request(&v);
    g_assert_cmphex(qtest_readl(s, msg), ==, 0);
    qtest_writew(s, cfg(v.msix + 2), 0x8000);
    g_assert_cmphex(qtest_readl(s, msg), ==, 0x4321);
    qtest_quit(s);
}

static void test_pci_cfg_window(void)
{
    Vpci v;
    QTestState *s = start();
    uint8_t c;

    setup(&v, s, 0xffff);
    c = v.caps[CAP_PCI_CFG];
    /* num_queues (common 0x12) read through config space. */
    qtest_writeb(s, cfg(c + 4), 4);
    qtest_writel(s, cfg(c + 8), 0x12);
    qtest_writel(s, cfg(c + 12), 2);
    g_assert_cmphex(qtest_readl(s, cfg(c + 16)) & 0xffff, ==, 1);
    /* queue_select written through it. */
    qtest_writel(s, cfg(c + 8), 0x16);
    qtest_writel(s, cfg(c + 16), 5);
    g_assert_cmpuint(qtest_readw(s, common(0x16)), ==, 5);
    /* Another BAR or a bad length: nothing happens. */
    qtest_writeb(s, cfg(c + 4), 1);
    qtest_writel(s, cfg(c + 16), 0);
    qtest_writeb(s, cfg(c + 4), 4);
    qtest_writel(s, cfg(c + 12), 3);
    qtest_writel(s, cfg(c + 16), 0);
    g_assert_cmpuint(qtest_readw(s, common(0x16)), ==, 5);
    qtest_quit(s);
}

static void test_hostile(void)
{
    Vpci v;
    QTestState *s = start();

    setup(&v, s, 0xffff);
    /* A queue that does not exist reads as size 0 and ignores writes. */
    qtest_writew(s, common(0x16), 7);
    g_assert_cmpuint(qtest_readw(s, common(0x18)), ==, 0);
    qtest_writew(s, common(0x1c), 1);
    g_assert_cmpuint(qtest_readw(s, common(0x1c)), ==, 0);
    /* An enabled queue keeps its size and rings; a vector past the table is NO_VECTOR. */
    qtest_writew(s, common(0x16), 0);
    qtest_writew(s, common(0x18), 2);
    g_assert_cmpuint(qtest_readw(s, common(0x18)), ==, 8);
    qtest_writew(s, common(0x1a), 9);
    g_assert_cmphex(qtest_readw(s, common(0x1a)), ==, 0xffff);
    /* Notify of queue 99, table writes past the vectors, PBA writes: ignored. */
    qtest_writew(s, BAR4_ADDR + 0x3000 + 99 * 4, 0);
    qtest_writel(s, BAR1_ADDR + 0x7f0, 0xffffffff);
    qtest_writel(s, BAR1_ADDR + 0x800, 0xffffffff);
    g_assert_cmphex(qtest_readl(s, BAR1_ADDR + 0x800), ==, 0);
    /* BAR4 over BAR1: the clash leaves BAR4 decoding nothing; BAR1 and the VMM go on. */
    qtest_writel(s, cfg(0x20), (uint32_t)BAR1_ADDR);
    g_assert_cmphex(qtest_readl(s, BAR1_ADDR + 8), ==, 0);
    g_assert_cmphex(qtest_readw(s, BAR4_ADDR + 0x12), ==, 0);
    qtest_qmp_assert_success(s, "{'execute': 'query-status'}");
    qtest_quit(s);
}

static void test_query_pci(void)
{
    QTestState *s = start();
    JsonNode *r = qtest_qmp(s, "{'execute': 'query-pci'}");
    JsonArray *devs = json_object_get_array_member(
        json_array_get_object_element(json_object_get_array_member(qmp_obj(r), "return"), 0),
        "devices");
    JsonObject *d = json_array_get_object_element(devs, 1);

    g_assert_cmpuint(json_array_get_length(devs), ==, 3);     /* mch, rng0, the ICH9 LPC */
    g_assert_cmpint(json_object_get_int_member(d, "slot"), ==, SLOT);
    g_assert_cmpstr(json_object_get_string_member(d, "qdev_id"), ==, "rng0");
    g_assert_cmpint(json_object_get_int_member(d, "irq_pin"), ==, 1);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(d, "regions")), ==, 2);
    json_node_unref(r);
    qtest_quit(s);
}

static void test_placement_errors(void)
{
    static const struct { const char *args, *err; } cases[] = {
        { "-device virtio-rng-pci,rng=r0,bus=pcie.7",
          "Bus 'pcie.7' not found" },
        { "-device virtio-rng-pci,rng=r0,addr=0x20",
          "Property 'virtio-rng-pci.addr' doesn't take value '0x20'" },
        { "-device virtio-rng-pci,rng=r0,addr=0x0",
          "PCI: slot 0 function 0 not available for virtio-rng-pci, in use by mch" },
        { "-device virtio-rng-pci,rng=r0,addr=2 -device virtio-rng-pci,rng=r0,addr=2.0",
          "PCI: slot 2 function 0 not available for virtio-rng-pci, in use by virtio-rng-pci" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *args = g_strdup_printf(
            "-machine q35 -accel qtest -display none -object rng-random,id=r0 %s", cases[i].args);
        qtest_expect_startup_error(args, cases[i].err);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-pci/identity-caps", test_identity_and_caps);
    g_test_add_func("/virtio-pci/request-intx", test_request_intx);
    g_test_add_func("/virtio-pci/request-msix", test_request_msix);
    g_test_add_func("/virtio-pci/pci-cfg-window", test_pci_cfg_window);
    g_test_add_func("/virtio-pci/hostile", test_hostile);
    g_test_add_func("/virtio-pci/query-pci", test_query_pci);
    g_test_add_func("/virtio-pci/placement-errors", test_placement_errors);
    g_test_add_func("/virtio-pci/blk", test_blk_pci);
    g_test_add_func("/virtio-pci/device-ids", test_device_ids);
    return g_test_run();
}
