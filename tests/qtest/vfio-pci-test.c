/*
 * vfio-pci on q35 (src/hw/vfio/, docs/vfio.md) against the test-only back
 * end (x-fake-dir=): a directory of files standing in for a host function's
 * regions, so the configuration-space emulation runs where no host has
 * /dev/vfio. The fake function: a PCIe endpoint 8086:10d3 with BAR0 (32-bit,
 * 128 KiB, mmapped), BAR2 (I/O, 32 bytes, pread/pwrite), BAR3 (64-bit
 * prefetchable, 16 KiB: the MSI-X table at 0, the PBA at 0x2000), a ROM,
 * INTA, and capabilities PM (0x40), MSI (0x50, 64-bit, 2 vectors) and MSI-X
 * (0x70, 4 vectors). Covered: identity and what is hidden (host BAR
 * addresses, the ROM), BAR sizing, which registers reach the host's config
 * region and which stay in the VMM, BAR accesses through both region
 * paths, MSI-X (table, masking, PBA) and MSI and INTx forwarded from the
 * back end's eventfds, reset, hostile config writes (misaligned, read-only,
 * overlapping BARs, past a conventional function's space, MSI-X table
 * edges), broken host functions, and the errors where the host
 * has no VFIO (missing device, iommu_group, /dev/vfio/N) at start and over
 * device_add.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "qtest.h"

#define ECAM 0xB0000000ULL
#define SLOT 4
#define GSI (16 + SLOT % 4)
#define BAR0_ADDR 0xC0000000ULL
#define BAR3_ADDR 0xC0100000ULL
#define IO_ADDR 0xc000
#define MSG_ADDR 0x200000ULL

typedef struct Fake {
    char *dir;
    uint8_t config[4096];
} Fake;

static uint64_t cfg(unsigned reg)
{
    return ECAM + ((uint64_t)SLOT << 15) + reg;
}

static char *fpath(Fake *f, const char *name)
{
    return g_build_filename(f->dir, name, NULL);
}

static void put16(uint8_t *c, unsigned off, uint16_t v)
{
    c[off] = (uint8_t)v;
    c[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *c, unsigned off, uint32_t v)
{
    put16(c, off, (uint16_t)v);
    put16(c, off + 2, (uint16_t)(v >> 16));
}

static void write_file(Fake *f, const char *name, const void *data, size_t len, size_t size)
{
    g_autofree char *p = fpath(f, name);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
    if (len) {
        g_assert_cmpint(pwrite(fd, data, len, 0), ==, (ssize_t)len);
    }
    close(fd);
}

/* The fake host function described at the top; `tweak` may break it before it is written. */
static Fake *fake_new(void (*tweak)(uint8_t *c))
{
    Fake *f = g_new0(Fake, 1);
    uint8_t *c = f->config;
    g_autofree char *fifo = NULL;

    f->dir = g_dir_make_tmp("vfio-fake-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    put16(c, 0x00, 0x8086);
    put16(c, 0x02, 0x10d3);
    put16(c, 0x06, 0x0010);                 /* capability list */
    c[0x08] = 3;
    put32(c, 0x08, 0x02000003);              /* Ethernet, revision 3 */
    put32(c, 0x10, 0xfe000000);              /* host addresses the guest must not see */
    put32(c, 0x18, 0x0000e001);              /* I/O */
    put32(c, 0x1c, 0xfd00000c);              /* 64-bit prefetchable */
    put32(c, 0x20, 0x00000001);
    put16(c, 0x2c, 0x1af4);
    put16(c, 0x2e, 0x1234);
    put32(c, 0x30, 0xfc000001);              /* an enabled host ROM */
    c[0x34] = 0x40;
    c[0x3d] = 1;
    c[0x40] = 0x01; c[0x41] = 0x50; put16(c, 0x42, 0x0003);            /* PM */
    c[0x50] = 0x05; c[0x51] = 0x70; put16(c, 0x52, 0x0082);            /* MSI, 64-bit, 2 */
    c[0x70] = 0x11; c[0x71] = 0x00; put16(c, 0x72, 0x0003);            /* MSI-X, 4 */
    put32(c, 0x74, 0x00000003);
    put32(c, 0x78, 0x00002003);
    put32(c, 0xa0, 0xdeadbeef);              /* device-specific */
    put32(c, 0x100, 0x00010001);             /* an AER header: extended space */
    if (tweak) {
        tweak(c);
    }
    write_file(f, "config", c, sizeof(f->config), sizeof(f->config));
    write_file(f, "bar0", NULL, 0, 0x20000);
    write_file(f, "bar2", "\x11\x22\x33\x44", 4, 32);
    write_file(f, "bar3", NULL, 0, 0x4000);
    write_file(f, "rom", NULL, 0, 0x10000);
    fifo = fpath(f, "trigger");
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    return f;
}

static void fake_free(Fake *f)
{
    static const char *const names[] = {
        "config", "bar0", "bar2", "bar3", "rom", "trigger", "irq-log",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *p = fpath(f, names[i]);
        unlink(p);
    }
    rmdir(f->dir);
    g_free(f->dir);
    g_free(f);
}

static uint32_t file_l(Fake *f, const char *name, unsigned off)
{
    g_autofree char *p = fpath(f, name);
    uint32_t v = 0;
    int fd = open(p, O_RDONLY);

    g_assert_cmpint(pread(fd, &v, 4, off), ==, 4);
    close(fd);
    return GUINT32_FROM_LE(v);
}

static void file_set_l(Fake *f, const char *name, unsigned off, uint32_t v)
{
    g_autofree char *p = fpath(f, name);
    int fd = open(p, O_WRONLY);

    v = GUINT32_TO_LE(v);
    g_assert_cmpint(pwrite(fd, &v, 4, off), ==, 4);
    close(fd);
}

static char *irq_log(Fake *f)
{
    g_autofree char *p = fpath(f, "irq-log");
    char *s = NULL;

    if (!g_file_get_contents(p, &s, NULL, NULL)) {
        return g_strdup("");
    }
    return s;
}

/* The host kernel's signal of vector v, through the fake's FIFO. */
static void trigger(Fake *f, uint8_t v)
{
    g_autofree char *p = fpath(f, "trigger");
    int fd = open(p, O_WRONLY | O_NONBLOCK);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, &v, 1), ==, 1);
    close(fd);
}

/*
 * Polls guest memory until one of `mask`'s bits is set there, that is until the
 * VMM's main loop acted on an eventfd (QTEST_TIMEOUT bounds it); returns the value.
 */
static uint32_t wait_bits(QTestState *s, uint64_t addr, uint32_t mask)
{
    for (unsigned i = 0; i < 20000; i++) {
        uint32_t v = qtest_readl(s, addr);
        if (v & mask) {
            return v;
        }
        g_usleep(500);
    }
    return 0;
}

/* Until the message was delivered. */
static uint32_t wait_msg(QTestState *s, uint64_t addr)
{
    return wait_bits(s, addr, UINT32_MAX);
}

/* Until the function's INTx reaches the IOAPIC (intercepted), as the main loop forwards it. */
static void wait_intx(QTestState *s)
{
    for (unsigned i = 0; i < 20000 && !qtest_get_irq(s, GSI); i++) {
        g_usleep(500);
        qtest_readl(s, MSG_ADDR);                /* lets the main loop run */
    }
    g_assert_true(qtest_get_irq(s, GSI));
}

static QTestState *start(Fake *f, const char *extra)
{
    return qtest_initf("-machine q35 -device vfio-pci,id=hostnic,addr=0x%x,x-fake-dir=%s%s",
                       SLOT, f->dir, extra ? extra : "");
}

static void map_bars(QTestState *s)
{
    qtest_writel(s, cfg(0x10), (uint32_t)BAR0_ADDR);
    qtest_writel(s, cfg(0x18), IO_ADDR);
    qtest_writel(s, cfg(0x1c), (uint32_t)BAR3_ADDR);
    qtest_writel(s, cfg(0x20), 0);
    qtest_writew(s, cfg(0x04), 0x0007);
}

static void test_identity(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);
    uint8_t caps[3], n = 0;
    g_autofree char *text = NULL;
    JsonNode *r;

    g_assert_cmphex(qtest_readl(s, cfg(0x00)), ==, 0x10d38086);
    g_assert_cmphex(qtest_readl(s, cfg(0x08)), ==, 0x02000003);
    g_assert_cmphex(qtest_readl(s, cfg(0x2c)), ==, 0x12341af4);
    g_assert_cmphex(qtest_readb(s, cfg(0x0e)), ==, 0x00);
    g_assert_cmphex(qtest_readb(s, cfg(0x3d)), ==, 1);                  /* INTA */
    /* The host's BAR addresses and ROM are hidden; the ROM stays off when written. */
    for (unsigned b = 0x10; b < 0x28; b += 4) {
        g_assert_cmphex(qtest_readl(s, cfg(b)) & ~0xfu, ==, 0);
    }
    g_assert_cmphex(qtest_readl(s, cfg(0x30)), ==, 0);
    qtest_writel(s, cfg(0x30), 0xffffffff);
    g_assert_cmphex(qtest_readl(s, cfg(0x30)), ==, 0);
    for (uint8_t c = qtest_readb(s, cfg(0x34)); c && n < 3; c = qtest_readb(s, cfg(c + 1))) {
        caps[n++] = qtest_readb(s, cfg(c));
    }
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmphex(caps[0], ==, 0x01);
    g_assert_cmphex(caps[1], ==, 0x05);
    g_assert_cmphex(caps[2], ==, 0x11);
    g_assert_cmphex(qtest_readw(s, cfg(0x72)), ==, 0x0003);              /* MSI-X off, 4 */
    g_assert_cmphex(qtest_readl(s, cfg(0x100)), ==, 0x00010001);         /* extended space */
    /* query-pci lists it under its id, with the emulated IDs. */
    r = qtest_qmp(s, "{'execute': 'query-pci'}");
    text = json_to_string(r, FALSE);
    g_assert_nonnull(strstr(text, "\"qdev_id\":\"hostnic\""));
    g_assert_nonnull(strstr(text, "\"vendor\":32902"));
    json_node_unref(r);
    qtest_quit(s);
    s = start(f, ",multifunction=on");
    g_assert_cmphex(qtest_readb(s, cfg(0x0e)), ==, 0x80);
    qtest_quit(s);
    fake_free(f);
}

static void test_bar_sizing(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);

    for (unsigned b = 0x10; b < 0x28; b += 4) {
        qtest_writel(s, cfg(b), 0xffffffff);
    }
    g_assert_cmphex(qtest_readl(s, cfg(0x10)), ==, 0xfffe0000);    /* 128 KiB, 32-bit */
    g_assert_cmphex(qtest_readl(s, cfg(0x14)), ==, 0);             /* no region */
    g_assert_cmphex(qtest_readl(s, cfg(0x18)), ==, 0xffffffe1);    /* 32 bytes of I/O */
    g_assert_cmphex(qtest_readl(s, cfg(0x1c)), ==, 0xffffc00c);    /* 16 KiB, 64, pref */
    g_assert_cmphex(qtest_readl(s, cfg(0x20)), ==, 0xffffffff);
    g_assert_cmphex(qtest_readl(s, cfg(0x24)), ==, 0);
    /* Sizing never reaches the host's registers. */
    g_assert_cmphex(file_l(f, "config", 0x10), ==, 0xfe000000);
    g_assert_cmphex(file_l(f, "config", 0x1c), ==, 0xfd00000c);
    qtest_quit(s);
    fake_free(f);
}

static void test_config_passthrough(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);

    /* Command: to the host and in the VMM's image. */
    qtest_writew(s, cfg(0x04), 0x0106);
    g_assert_cmphex(file_l(f, "config", 0x04) & 0xffff, ==, 0x0106);
    g_assert_cmphex(qtest_readw(s, cfg(0x04)), ==, 0x0106);
    /* Status, other capabilities and the device-specific area are the host's, live. */
    file_set_l(f, "config", 0x04, 0x80100106);
    g_assert_cmphex(qtest_readw(s, cfg(0x06)), ==, 0x8010);
    g_assert_cmphex(qtest_readl(s, cfg(0xa0)), ==, 0xdeadbeef);
    file_set_l(f, "config", 0xa0, 0x12345678);
    g_assert_cmphex(qtest_readl(s, cfg(0xa0)), ==, 0x12345678);
    qtest_writew(s, cfg(0x44), 0x0003);                        /* PM control: to D3 */
    g_assert_cmphex(file_l(f, "config", 0x44) & 0xffff, ==, 0x0003);
    qtest_writel(s, cfg(0x104), 0xcafe0001);                   /* extended space */
    g_assert_cmphex(file_l(f, "config", 0x104), ==, 0xcafe0001);
    /* The emulated header never reaches the host, and its read-only bits hold. */
    qtest_writel(s, cfg(0x00), 0xffffffff);
    qtest_writel(s, cfg(0x08), 0);
    qtest_writeb(s, cfg(0x3d), 3);
    qtest_writeb(s, cfg(0x3c), 0x0b);
    g_assert_cmphex(qtest_readl(s, cfg(0x00)), ==, 0x10d38086);
    g_assert_cmphex(qtest_readl(s, cfg(0x08)), ==, 0x02000003);
    g_assert_cmphex(qtest_readb(s, cfg(0x3d)), ==, 1);
    g_assert_cmphex(qtest_readb(s, cfg(0x3c)), ==, 0x0b);
    g_assert_cmphex(file_l(f, "config", 0x00), ==, 0x10d38086);
    g_assert_cmphex(file_l(f, "config", 0x3c) & 0xffff, ==, 0x0100);
    /* MSI-X control is the VMM's: the host's copy is untouched. */
    qtest_writew(s, cfg(0x72), 0x4000);
    g_assert_cmphex(qtest_readw(s, cfg(0x72)), ==, 0x4003);
    g_assert_cmphex(file_l(f, "config", 0x70), ==, 0x00030011);
    /* Misaligned and out-of-space accesses read 0 and write nothing. */
    qtest_writel(s, cfg(0xa2), 0xffffffff);
    g_assert_cmphex(file_l(f, "config", 0xa0), ==, 0x12345678);
    g_assert_cmphex(qtest_readl(s, cfg(0xa2)), ==, 0);
    qtest_quit(s);
    fake_free(f);
}

static void test_bar_access(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);

    map_bars(s);
    /* BAR0 is mmapped, the I/O BAR goes through pread/pwrite: both reach the region. */
    file_set_l(f, "bar0", 0x1000, 0xa5a5f00d);
    g_assert_cmphex(qtest_readl(s, BAR0_ADDR + 0x1000), ==, 0xa5a5f00d);
    qtest_writel(s, BAR0_ADDR + 0x1ff00, 0x01020304);
    g_assert_cmphex(file_l(f, "bar0", 0x1ff00), ==, 0x01020304);
    g_assert_cmphex(qtest_inl(s, IO_ADDR), ==, 0x44332211);
    qtest_outw(s, IO_ADDR + 8, 0xbeef);
    g_assert_cmphex(file_l(f, "bar2", 8) & 0xffff, ==, 0xbeef);
    /* BAR3 outside the MSI-X table and PBA is the host's. */
    qtest_writel(s, BAR3_ADDR + 0x3000, 0x55aa55aa);
    g_assert_cmphex(file_l(f, "bar3", 0x3000), ==, 0x55aa55aa);
    /* Memory decoding off: the regions leave the bus. */
    qtest_writew(s, cfg(0x04), 0x0001);
    g_assert_cmphex(qtest_readl(s, BAR0_ADDR + 0x1000), ==, 0);
    g_assert_cmphex(qtest_inl(s, IO_ADDR), ==, 0x44332211);
    qtest_writew(s, cfg(0x04), 0x0000);
    g_assert_cmphex(qtest_inl(s, IO_ADDR), ==, 0xffffffff);
    qtest_quit(s);
    fake_free(f);
}

static void test_msix(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);
    g_autofree char *log = NULL;
    uint64_t e1 = BAR3_ADDR + 16;

    map_bars(s);
    qtest_writel(s, MSG_ADDR, 0);
    /* Entries start masked; the table keeps what the guest writes. */
    g_assert_cmphex(qtest_readl(s, e1 + 12), ==, 1);
    qtest_writel(s, e1, (uint32_t)MSG_ADDR);
    qtest_writel(s, e1 + 4, 0);
    qtest_writel(s, e1 + 8, 0x4321);
    qtest_writew(s, e1 + 8, 0xffff);                            /* not a dword: dropped */
    g_assert_cmphex(qtest_readl(s, e1 + 8), ==, 0x4321);
    g_assert_cmphex(file_l(f, "bar3", 16), ==, 0);              /* never the host's table */
    qtest_writew(s, cfg(0x72), 0x8000);                         /* enable */
    log = irq_log(f);
    g_assert_nonnull(strstr(log, "intx 0\nmsix 4\n"));
    /* Masked: the vector latches its PBA bit and sends nothing. */
    trigger(f, 1);
    g_assert_cmphex(wait_bits(s, BAR3_ADDR + 0x2000, 2), ==, 2);  /* vector 1 pending */
    g_assert_cmphex(qtest_readl(s, MSG_ADDR), ==, 0);
    qtest_writel(s, BAR3_ADDR + 0x2000, 0);                     /* the PBA is read-only */
    g_assert_cmphex(qtest_readl(s, BAR3_ADDR + 0x2000), ==, 2);
    /* Unmasking delivers it. */
    qtest_writel(s, e1 + 12, 0);
    g_assert_cmphex(qtest_readl(s, MSG_ADDR), ==, 0x4321);
    g_assert_cmphex(qtest_readl(s, BAR3_ADDR + 0x2000), ==, 0);
    /* Unmasked: straight through. */
    qtest_writel(s, MSG_ADDR, 0);
    trigger(f, 1);
    g_assert_cmphex(wait_msg(s, MSG_ADDR), ==, 0x4321);
    /* Function mask latches too, and its release delivers. */
    qtest_writel(s, MSG_ADDR, 0);
    qtest_writew(s, cfg(0x72), 0xc000);
    trigger(f, 1);
    wait_bits(s, BAR3_ADDR + 0x2000, 2);                        /* vector 1 pending */
    g_assert_cmphex(qtest_readl(s, MSG_ADDR), ==, 0);
    qtest_writew(s, cfg(0x72), 0x8000);
    g_assert_cmphex(qtest_readl(s, MSG_ADDR), ==, 0x4321);
    /* Off again: INTx comes back. */
    qtest_writew(s, cfg(0x72), 0x0000);
    g_free(log);
    log = irq_log(f);
    g_assert_true(g_str_has_suffix(log, "msix 0\nintx 1\n"));
    qtest_quit(s);
    fake_free(f);
}

static void test_msi(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);
    g_autofree char *log = NULL;

    qtest_writel(s, MSG_ADDR, 0);
    qtest_writel(s, cfg(0x54), (uint32_t)MSG_ADDR);
    qtest_writel(s, cfg(0x58), 0);
    qtest_writew(s, cfg(0x5c), 0x4560);
    g_assert_cmphex(file_l(f, "config", 0x54), ==, 0);            /* the VMM's capability */
    qtest_writew(s, cfg(0x52), 0x0091);                          /* enable, 2 vectors */
    g_assert_cmphex(qtest_readw(s, cfg(0x52)), ==, 0x0093);
    log = irq_log(f);
    g_assert_true(g_str_has_suffix(log, "intx 0\nmsi 2\n"));
    trigger(f, 1);
    g_assert_cmphex(wait_msg(s, MSG_ADDR), ==, 0x4561);           /* vector in data's low bit */
    qtest_quit(s);
    fake_free(f);
}

static void test_intx(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);
    g_autofree char *log = NULL;

    qtest_irq_intercept_in(s, "ioapic");
    map_bars(s);
    g_assert_false(qtest_get_irq(s, GSI));
    trigger(f, 0);
    wait_intx(s);
    /* The driver's BAR access: end of interrupt, the host line unmasked. */
    qtest_readl(s, BAR0_ADDR);
    g_assert_false(qtest_get_irq(s, GSI));
    log = irq_log(f);
    g_assert_true(g_str_has_suffix(log, "unmask\n"));
    /* INTx disabled in the command register holds the line low. */
    qtest_writew(s, cfg(0x04), 0x0407);
    trigger(f, 0);
    qtest_readl(s, MSG_ADDR);
    g_assert_false(qtest_get_irq(s, GSI));
    qtest_quit(s);
    fake_free(f);
}

/*
 * A root port at slot 8 shares the function's GSI: a config write to the
 * port (its own interrupt condition false) leaves the function's INTx up.
 */
static void test_intx_shared_with_port(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, " -device pcie-root-port,id=rp1,addr=0x8");
    uint64_t port_cmd = ECAM + (8ULL << 15) + 0x04;

    qtest_irq_intercept_in(s, "ioapic");
    map_bars(s);
    trigger(f, 0);
    wait_intx(s);
    qtest_writew(s, port_cmd, 0x0006);
    qtest_writew(s, port_cmd, 0x0406);
    g_assert_true(qtest_get_irq(s, GSI));
    qtest_quit(s);
    fake_free(f);
}

static void test_reset(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);
    g_autofree char *log = NULL;

    map_bars(s);
    qtest_writew(s, cfg(0x72), 0x8000);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    g_assert_cmphex(qtest_readw(s, cfg(0x04)), ==, 0);
    g_assert_cmphex(qtest_readl(s, cfg(0x10)), ==, 0);
    g_assert_cmphex(qtest_readl(s, cfg(0x1c)), ==, 0x0c);
    g_assert_cmphex(qtest_readw(s, cfg(0x72)), ==, 0x0003);
    log = irq_log(f);
    g_assert_true(g_str_has_suffix(log, "msix 0\nintx 1\nreset\n"));
    qtest_quit(s);
    fake_free(f);
}

/* Below a root port, a secondary bus reset resets the function and the host device. */
static void test_secondary_bus_reset(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = qtest_initf("-machine q35 -device pcie-root-port,id=rp1,addr=0x8 "
                                "-device vfio-pci,id=hostnic,bus=rp1,addr=0x0,x-fake-dir=%s",
                                f->dir);
    uint64_t port = ECAM + (8ULL << 15), fn = ECAM + (1ULL << 20);
    g_autofree char *log = NULL;

    qtest_writel(s, port + 0x18, 0x010100);
    g_assert_cmphex(qtest_readw(s, fn), ==, 0x8086);
    qtest_writew(s, fn + 0x04, 0x0002);
    qtest_writew(s, port + 0x3e, 0x0040);
    g_assert_cmphex(qtest_readw(s, fn + 0x04), ==, 0);
    log = irq_log(f);
    g_assert_true(g_str_has_suffix(log, "reset\n"));
    qtest_quit(s);
    fake_free(f);
}

/* BAR3 placed over BAR0 decodes nothing; BAR0 keeps working. */
static void test_bar_overlap(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);

    map_bars(s);
    file_set_l(f, "bar0", 0x10, 0x600d600d);
    qtest_writel(s, cfg(0x1c), (uint32_t)BAR0_ADDR + 0x4000);
    g_assert_cmphex(qtest_readl(s, BAR0_ADDR + 0x10), ==, 0x600d600d);
    qtest_writel(s, BAR0_ADDR + 0x4000 + 0x3000, 0x99);            /* BAR0's, not BAR3's */
    g_assert_cmphex(file_l(f, "bar0", 0x7000), ==, 0x99);
    g_assert_cmphex(file_l(f, "bar3", 0x3000), ==, 0);
    /* Moved away, it decodes again. */
    qtest_writel(s, cfg(0x1c), (uint32_t)BAR3_ADDR);
    qtest_writel(s, BAR3_ADDR + 0x3000, 0x77);
    g_assert_cmphex(file_l(f, "bar3", 0x3000), ==, 0x77);
    qtest_quit(s);
    fake_free(f);
}

static void cap_loop(uint8_t *c)
{
    c[0x41] = 0x40;                              /* PM points at itself */
}

static void msix_outside(uint8_t *c)
{
    put32(c, 0x78, 0x00008003);                  /* PBA past BAR3's 16 KiB */
}

static void bridge(uint8_t *c)
{
    c[0x0e] = 1;
}

/* A conventional function (256-byte config region): nothing answers above 0xff. */
static void test_conventional(void)
{
    Fake *f = fake_new(NULL);
    g_autofree char *cfgfile = fpath(f, "config");
    QTestState *s;
    struct stat st;

    g_assert_cmpint(truncate(cfgfile, 256), ==, 0);
    s = start(f, NULL);
    g_assert_cmphex(qtest_readl(s, cfg(0x00)), ==, 0x10d38086);
    g_assert_cmphex(qtest_readl(s, cfg(0x100)), ==, 0);
    qtest_writel(s, cfg(0x100), 0xffffffff);
    qtest_writel(s, cfg(0xffc), 0xffffffff);
    g_assert_cmphex(qtest_readl(s, cfg(0xffc)), ==, 0);
    g_assert_cmpint(stat(cfgfile, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 256);                   /* nothing written past it */
    /* The last passed-through dword still works. */
    qtest_writel(s, cfg(0xfc), 0x13572468);
    g_assert_cmphex(file_l(f, "config", 0xfc), ==, 0x13572468);
    qtest_quit(s);
    fake_free(f);
}

/* MSI-X table accesses at its edges: qwords work, straddling or odd sizes are dropped. */
static void test_msix_edges(void)
{
    Fake *f = fake_new(NULL);
    QTestState *s = start(f, NULL);
    uint64_t last = BAR3_ADDR + 3 * 16;

    map_bars(s);
    qtest_writeq(s, last, 0x00000000fee01000ULL);
    g_assert_cmphex(qtest_readq(s, last), ==, 0x00000000fee01000ULL);
    g_assert_cmphex(qtest_readl(s, last), ==, 0xfee01000);
    qtest_writeq(s, last + 8, 0x0000000000000041ULL);          /* data, unmasked */
    g_assert_cmphex(qtest_readl(s, last + 12), ==, 0);
    qtest_writeq(s, last + 12, 0xffffffffffffffffULL);         /* straddles the table end */
    g_assert_cmphex(qtest_readl(s, last + 12), ==, 0);
    qtest_writeb(s, last + 12, 1);                             /* a byte: dropped */
    g_assert_cmphex(qtest_readl(s, last + 12), ==, 0);
    qtest_writel(s, last + 12, 0xffffffff);                    /* only the mask bit sticks */
    g_assert_cmphex(qtest_readl(s, last + 12), ==, 1);
    /* Past the table (and before the PBA) is the host's region again. */
    qtest_writel(s, BAR3_ADDR + 0x40, 0x12121212);
    g_assert_cmphex(file_l(f, "bar3", 0x40), ==, 0x12121212);
    g_assert_cmphex(file_l(f, "bar3", 0x30), ==, 0);
    qtest_quit(s);
    fake_free(f);
}

static void test_broken_host(void)
{
    Fake *f = fake_new(cap_loop);
    QTestState *s = start(f, NULL);
    g_autofree char *args = NULL;

    /* A looping list is walked a bounded number of times; the function still works. */
    g_assert_cmphex(qtest_readl(s, cfg(0x00)), ==, 0x10d38086);
    g_assert_cmphex(qtest_readb(s, cfg(0x41)), ==, 0x40);
    qtest_quit(s);
    fake_free(f);

    f = fake_new(msix_outside);
    args = g_strdup_printf("-machine q35 -accel qtest -device vfio-pci,x-fake-dir=%s", f->dir);
    qtest_expect_startup_error(args, "vfio-pci: the MSI-X table or PBA of the host device is "
                               "outside its BARs");
    fake_free(f);
    f = fake_new(bridge);
    g_free(args);
    args = g_strdup_printf("-machine q35 -accel qtest -device vfio-pci,x-fake-dir=%s", f->dir);
    qtest_expect_startup_error(args, "the host device is a bridge (header type 1)");
    fake_free(f);
}

/* Where the host has no VFIO: each missing piece named. */
static void test_missing_host(void)
{
    g_autofree char *dir = g_dir_make_tmp("vfio-sys-XXXXXX", NULL);
    g_autofree char *nogroup = g_build_filename(dir, "0000:42:00.0", NULL);
    g_autofree char *dev = g_build_filename(dir, "0000:43:00.0", NULL);
    g_autofree char *link = g_build_filename(dev, "iommu_group", NULL);
    g_autofree char *a1 = NULL, *a2 = NULL;

    g_assert_cmpint(mkdir(nogroup, 0700), ==, 0);
    g_assert_cmpint(mkdir(dev, 0700), ==, 0);
    g_assert_cmpint(symlink("../../../kernel/iommu_groups/4242", link), ==, 0);
    a1 = g_strdup_printf("-machine q35 -accel qtest -device vfio-pci,sysfsdev=%s", nogroup);
    qtest_expect_startup_error(a1, "has no iommu_group");
    a2 = g_strdup_printf("-machine q35 -accel qtest -device vfio-pci,sysfsdev=%s", dev);
    qtest_expect_startup_error(a2, "vfio-pci: IOMMU group 4242 of 0000:43:00.0: "
                               "/dev/vfio/4242: No such file or directory");
    qtest_expect_startup_error("-machine q35 -accel qtest -device vfio-pci,host=ffff:ff:1f.7",
                               "vfio-pci: host device ffff:ff:1f.7 not found "
                               "(no /sys/bus/pci/devices/ffff:ff:1f.7)");
    qtest_expect_startup_error("-machine q35 -accel qtest -device vfio-pci,host=01:00",
                               "vfio-pci: host=01:00 is not a PCI address (dddd:bb:ss.f)");
    qtest_expect_startup_error("-machine q35 -accel qtest -device vfio-pci,host=0:1:20.0",
                               "is not a PCI address");
    qtest_expect_startup_error("-machine q35 -accel qtest -device vfio-pci,id=v",
                               "vfio-pci: host= or sysfsdev= is required");
    qtest_expect_startup_error("-machine q35 -accel qtest "
                               "-device vfio-pci,host=01:00.0,sysfsdev=/sys",
                               "exclude each other");
    qtest_expect_startup_error("-machine microvm -accel qtest -device vfio-pci,host=01:00.0",
                               "No 'PCI' bus found for device 'vfio-pci'");
    qtest_expect_startup_error("-machine q35 -accel qtest -device vfio-pci,host=01:00.0,addr=0",
                               "PCI: slot 0 function 0 not available for vfio-pci, in use by mch");
    unlink(link);
    rmdir(dev);
    rmdir(nogroup);
    rmdir(dir);
}

/* device_add of a missing host device: an error, the VM runs on. */
static void test_device_add_error(void)
{
    QTestState *s = qtest_init("-machine q35");
    JsonNode *r = qtest_qmp(s, "{'execute': 'device_add', 'arguments': "
                            "{'driver': 'vfio-pci', 'id': 'v0', 'host': 'ffff:ff:1f.7'}}");

    g_assert_cmpstr(qmp_error_class(r), ==, "GenericError");
    json_node_unref(r);
    r = qtest_qmp(s, "{'execute': 'query-status'}");
    g_assert_cmpstr(qmp_get_str(qmp_return_obj(r), "status"), ==, "running");
    json_node_unref(r);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vfio-pci/identity", test_identity);
    g_test_add_func("/vfio-pci/bar-sizing", test_bar_sizing);
    g_test_add_func("/vfio-pci/config-passthrough", test_config_passthrough);
    g_test_add_func("/vfio-pci/bar-access", test_bar_access);
    g_test_add_func("/vfio-pci/msix", test_msix);
    g_test_add_func("/vfio-pci/msi", test_msi);
    g_test_add_func("/vfio-pci/intx", test_intx);
    g_test_add_func("/vfio-pci/intx-shared-with-port", test_intx_shared_with_port);
    g_test_add_func("/vfio-pci/reset", test_reset);
    g_test_add_func("/vfio-pci/secondary-bus-reset", test_secondary_bus_reset);
    g_test_add_func("/vfio-pci/bar-overlap", test_bar_overlap);
    g_test_add_func("/vfio-pci/conventional", test_conventional);
    g_test_add_func("/vfio-pci/msix-edges", test_msix_edges);
    g_test_add_func("/vfio-pci/broken-host", test_broken_host);
    g_test_add_func("/vfio-pci/missing-host", test_missing_host);
    g_test_add_func("/vfio-pci/device-add-error", test_device_add_error);
    return g_test_run();
}
