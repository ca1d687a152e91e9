/*
 * fw_cfg_io (src/hw/nvram/fw_cfg.c, docs/legacy-devices.md) at 0x510/0x511
 * and its DMA register at 0x514: the items QEMU's fw_cfg-test reads on x86
 * (signature, ID, UUID, RAM size, CPUs, NUMA, boot menu), the file
 * directory, -fw_cfg files and strings, the kernel command line, DMA reads
 * and a hostile descriptor, the machine property and -fw_cfg's errors.
 */
#include <string.h>
#include "qtest.h"

#define CTL 0x510
#define DATA 0x511
#define DMA 0x514

static void fw_select(QTestState *s, uint16_t key)
{
    qtest_outw(s, CTL, key);
}

static void fw_read(QTestState *s, void *buf, size_t len)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        p[i] = qtest_inb(s, DATA);
    }
}

static void fw_get(QTestState *s, uint16_t key, void *buf, size_t len)
{
    fw_select(s, key);
    fw_read(s, buf, len);
}

static uint64_t fw_get_le(QTestState *s, uint16_t key, size_t len)
{
    uint8_t b[8] = { 0 };
    uint64_t v = 0;

    fw_get(s, key, b, len);
    for (size_t i = 0; i < len; i++) {
        v |= (uint64_t)b[i] << (8 * i);
    }
    return v;
}

/* A file's select key and size from the directory; 0 if absent. */
static uint16_t fw_find_file(QTestState *s, const char *name, uint32_t *size)
{
    uint32_t count;

    fw_select(s, 0x19);
    fw_read(s, &count, 4);
    count = GUINT32_FROM_BE(count);
    for (uint32_t i = 0; i < count; i++) {
        struct {
            uint32_t size;
            uint16_t select;
            uint16_t reserved;
            char name[56];
        } e;
        fw_read(s, &e, sizeof(e));
        if (!strcmp(e.name, name)) {
            *size = GUINT32_FROM_BE(e.size);
            return GUINT16_FROM_BE(e.select);
        }
    }
    return 0;
}

static void test_standard_items(void)
{
    QTestState *s = qtest_init("-m 256M -smp 2,maxcpus=4 "
                               "-uuid 4600cb32-38ec-4b2f-8acb-81c6ea54f2d8");
    static const uint8_t uuid[16] = {
        0x46, 0x00, 0xcb, 0x32, 0x38, 0xec, 0x4b, 0x2f,
        0x8a, 0xcb, 0x81, 0xc6, 0xea, 0x54, 0xf2, 0xd8,
    };
    char sig[5] = { 0 };
    uint8_t buf[16];
    uint64_t masks[4];

    fw_get(s, 0x00, sig, 4);
    g_assert_cmpstr(sig, ==, "QEMU");
    /* Traditional interface plus DMA. */
    g_assert_cmphex(fw_get_le(s, 0x01, 4), ==, 3);
    fw_get(s, 0x02, buf, 16);
    g_assert_cmpmem(buf, 16, uuid, 16);
    g_assert_cmpuint(fw_get_le(s, 0x03, 8), ==, 256ULL << 20);
    g_assert_cmpuint(fw_get_le(s, 0x04, 2), ==, 0);
    g_assert_cmpuint(fw_get_le(s, 0x05, 2), ==, 2);
    g_assert_cmpuint(fw_get_le(s, 0x0f, 2), ==, 4);
    g_assert_cmpuint(fw_get_le(s, 0x0e, 2), ==, 0);
    /* No NUMA nodes: a zero count, then one (empty) mask per possible CPU. */
    g_assert_cmpuint(fw_get_le(s, 0x0d, 8), ==, 0);
    fw_read(s, masks, sizeof(masks));
    for (int i = 0; i < 4; i++) {
        g_assert_cmpuint(masks[i], ==, 0);
    }
    /* Past the end and unknown keys read 0. */
    g_assert_cmphex(qtest_inb(s, DATA), ==, 0);
    fw_select(s, 0x7777);
    g_assert_cmphex(qtest_inb(s, DATA), ==, 0);
    /* Without -uuid the UUID is all zeros. */
    qtest_quit(s);
    s = qtest_init("");
    fw_get(s, 0x02, buf, 16);
    for (int i = 0; i < 16; i++) {
        g_assert_cmphex(buf[i], ==, 0);
    }
    qtest_quit(s);
}

static void test_user_files(void)
{
    g_autofree char *path = qtest_tmp_path("fwcfg-blob");
    uint8_t blob[300];
    uint8_t back[300];
    uint32_t size = 0;
    uint16_t sel;
    char text[6] = { 0 };
    QTestState *s;

    for (size_t i = 0; i < sizeof(blob); i++) {
        blob[i] = (uint8_t)(i * 7);
    }
    g_assert_true(g_file_set_contents(path, (const char *)blob, sizeof(blob), NULL));
    s = qtest_initf("-fw_cfg name=opt/org.test/blob,file=%s "
                    "-fw_cfg name=opt/org.test/a-string,string=hello", path);
    /*
     * Sorted by name, selects from 0x20: bootorder, etc/boot-fail-wait,
     * etc/e820, opt/.../a-string, opt/.../blob.
     */
    sel = fw_find_file(s, "opt/org.test/blob", &size);
    g_assert_cmpuint(size, ==, sizeof(blob));
    g_assert_cmphex(sel, ==, 0x24);
    fw_get(s, sel, back, sizeof(back));
    g_assert_cmpmem(back, sizeof(back), blob, sizeof(blob));
    sel = fw_find_file(s, "opt/org.test/a-string", &size);
    g_assert_cmphex(sel, ==, 0x23);
    /* The string without its NUL. */
    g_assert_cmpuint(size, ==, 5);
    fw_get(s, sel, text, 5);
    g_assert_cmpstr(text, ==, "hello");
    /* The board's own file: one RAM range below 3 GiB. */
    sel = fw_find_file(s, "etc/e820", &size);
    g_assert_cmpuint(size, ==, 20);
    g_assert_cmphex(sel, ==, 0x22);
    g_assert_cmpuint(fw_find_file(s, "opt/none", &size), ==, 0);
    qtest_quit(s);
    unlink(path);
}

/*
 * The kernel command line, QEMU's CMDLINE_SIZE / CMDLINE_DATA pair: -append
 * and then the virtio_mmio.device= entries (as QEMU's microvm with acpi=off).
 */
static void test_cmdline(void)
{
    QTestState *s = qtest_init("-append 'console=ttyS0 quiet'");
    uint64_t size = fw_get_le(s, 0x14, 4);
    g_autofree char *buf = g_malloc0(size + 1);

    fw_get(s, 0x15, buf, size);
    g_assert_cmpuint(strlen(buf) + 1, ==, size);
    g_assert_true(g_str_has_prefix(buf, "console=ttyS0 quiet virtio_mmio.device=512@0xf0100000:5"));
    qtest_quit(s);
}

static void dma_desc(QTestState *s, uint64_t at, uint32_t control, uint32_t len, uint64_t addr)
{
    uint32_t c = GUINT32_TO_BE(control), l = GUINT32_TO_BE(len);
    uint64_t a = GUINT64_TO_BE(addr);

    qtest_memwrite(s, at, &c, 4);
    qtest_memwrite(s, at + 4, &l, 4);
    qtest_memwrite(s, at + 8, &a, 8);
}

static void dma_kick(QTestState *s, uint64_t desc)
{
    qtest_outl(s, DMA, GUINT32_TO_BE((uint32_t)(desc >> 32)));
    qtest_outl(s, DMA + 4, GUINT32_TO_BE((uint32_t)desc));
}

static uint32_t dma_control(QTestState *s, uint64_t desc)
{
    uint32_t c;

    qtest_memread(s, desc, &c, 4);
    return GUINT32_FROM_BE(c);
}

static void test_dma(void)
{
    QTestState *s = qtest_init("");
    char buf[8] = { 0 };
    const uint64_t desc = 0x10000, out = 0x20000;

    /* The register reads "QEMU CFG". */
    g_assert_cmphex(qtest_inb(s, DMA), ==, 'Q');
    g_assert_cmphex(qtest_inb(s, DMA + 7), ==, 'G');
    /* select the signature + read 4 bytes. */
    dma_desc(s, desc, 0x08 | 0x02 | (0x00 << 16), 4, out);
    dma_kick(s, desc);
    g_assert_cmphex(dma_control(s, desc), ==, 0);
    qtest_memread(s, out, buf, 4);
    g_assert_cmpstr(buf, ==, "QEMU");
    /* skip 2 of the ID's bytes, read the rest: the port's offset moved too. */
    dma_desc(s, desc, 0x08 | 0x04 | (0x01 << 16), 2, 0);
    dma_kick(s, desc);
    g_assert_cmphex(dma_control(s, desc), ==, 0);
    g_assert_cmphex(qtest_inb(s, DATA), ==, 0);
    /* Writes are refused with the error bit. */
    dma_desc(s, desc, 0x10, 4, out);
    dma_kick(s, desc);
    g_assert_cmphex(dma_control(s, desc), ==, 1);
    /* A buffer outside guest RAM: error, nothing written anywhere. */
    dma_desc(s, desc, 0x08 | 0x02, 4, 0xfffffffff0ULL);
    dma_kick(s, desc);
    g_assert_cmphex(dma_control(s, desc), ==, 1);
    /* A descriptor outside guest RAM is ignored; the VMM goes on. */
    dma_kick(s, 0xfffffffff000ULL);
    qtest_qmp_assert_success(s, "{'execute': 'query-status'}");
    qtest_quit(s);
}

/* fw_cfg=off: nothing at 0x510; -fw_cfg then has no device to go to. */
static void test_fw_cfg_off(void)
{
    QTestState *s = qtest_init("-machine fw_cfg=off");

    fw_select(s, 0);
    g_assert_cmphex(qtest_inb(s, DATA), ==, 0xff);
    qtest_quit(s);
}

static void cli_error(const char *args, const char *text)
{
    QTestState *s = qtest_spawn_raw(args);

    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 1);
    if (!strstr(qtest_stderr(s), text)) {
        g_error("expected '%s' in: %s", text, qtest_stderr(s));
    }
    qtest_set_expected_status(s, 1);
    qtest_quit(s);
}

static void test_cli_errors(void)
{
    const char *need = "name, plus exactly one of file, string and gen_id, are needed";
    g_autofree char *long_name = g_strdup_printf("-accel qtest -fw_cfg name=opt/%0*d,string=x",
                                                 52, 0);

    cli_error("-accel qtest -fw_cfg name=opt/a", need);
    cli_error("-accel qtest -fw_cfg string=x", need);
    cli_error("-accel qtest -fw_cfg name=opt/a,file=/x,string=y", need);
    cli_error("-accel qtest -fw_cfg name=opt/a,bogus=1", "bogus");
    cli_error(long_name, "stratus: error: -fw_cfg: name too long (max. 55 char)");
    cli_error("-accel qtest -fw_cfg name=opt/a,string=x -fw_cfg name=opt/a,string=y",
              "stratus: error: -fw_cfg: duplicate fw_cfg file name: opt/a");
    cli_error("-accel qtest -fw_cfg name=opt/a,file=/nonexistent/blob",
              "stratus: error: -fw_cfg: can't load /nonexistent/blob:");
    cli_error("-accel qtest -machine fw_cfg=off -fw_cfg name=opt/a,string=x",
              "stratus: error: -fw_cfg: fw_cfg device not available");
    /* The board's own names are taken. */
    cli_error("-accel qtest -fw_cfg name=etc/e820,string=x",
              "duplicate fw_cfg file name: etc/e820");
}

/*
 * What QEMU's own fw_cfg-test reads: the 128 MiB default RAM under qtest,
 * -boot menu=on (key 0x0e), reboot-timeout (etc/boot-fail-wait, -1 by
 * default) and splash-time (etc/boot-menu-wait, only when given).
 */
static uint64_t fw_file_le(QTestState *s, const char *name, uint32_t want_size)
{
    uint32_t size = 0;
    uint16_t sel = fw_find_file(s, name, &size);

    g_assert_cmphex(sel, !=, 0);
    g_assert_cmpuint(size, ==, want_size);
    return fw_get_le(s, sel, size);
}

static void test_boot(void)
{
    QTestState *s = qtest_init("");
    uint32_t size;

    g_assert_cmpuint(fw_get_le(s, 0x03, 8), ==, 128ULL << 20);
    g_assert_cmpuint(fw_get_le(s, 0x0e, 2), ==, 0);
    g_assert_cmphex(fw_file_le(s, "etc/boot-fail-wait", 4), ==, 0xffffffff);
    g_assert_cmpuint(fw_find_file(s, "etc/boot-menu-wait", &size), ==, 0);
    qtest_quit(s);

    s = qtest_init("-boot order=cd,once=d,menu=on,splash-time=12,reboot-timeout=15,strict=on");
    g_assert_cmpuint(fw_get_le(s, 0x0e, 2), ==, 1);
    g_assert_cmpuint(fw_file_le(s, "etc/boot-fail-wait", 4), ==, 15);
    g_assert_cmpuint(fw_file_le(s, "etc/boot-menu-wait", 2), ==, 12);
    qtest_quit(s);
    s = qtest_init("-boot c");     /* the implied key is order */
    qtest_quit(s);
}

static void test_boot_errors(void)
{
    cli_error("-accel qtest -boot order=cz", "stratus: error: -boot: Invalid boot device 'z'");
    cli_error("-accel qtest -boot order=cdc",
              "stratus: error: -boot: Boot device 'c' was given twice");
    cli_error("-accel qtest -boot menu=yes",
              "stratus: error: -boot: Parameter 'menu' expects 'on' or 'off'");
    cli_error("-accel qtest -boot reboot-timeout=65536",
              "stratus: error: -boot: Parameter 'reboot-timeout' expects a number of milliseconds "
              "from -1 to 65535");
    cli_error("-accel qtest -boot splash-time=-1",
              "stratus: error: -boot: Parameter 'splash-time' expects a number of milliseconds "
              "from 0 to 65535");
    cli_error("-accel qtest -boot splash=/tmp/logo.bmp",
              "stratus: error: -boot: splash= is not supported (there is no firmware to show it)");
    cli_error("-accel qtest -boot bogus=1", "bogus");
}

/* A name outside opt/ is accepted with QEMU's warning (seen here before a later error). */
static void test_name_warning(void)
{
    QTestState *s = qtest_init("-fw_cfg name=mine,string=x");
    uint32_t size;

    g_assert_cmphex(fw_find_file(s, "mine", &size), !=, 0);
    qtest_quit(s);
    cli_error("-accel qtest -fw_cfg name=mine,string=x -fw_cfg name=opt/b,file=/nonexistent",
              "-fw_cfg name=mine: externally provided fw_cfg item names should be "
              "prefixed with \"opt/\"");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/fw_cfg/standard-items", test_standard_items);
    g_test_add_func("/fw_cfg/user-files", test_user_files);
    g_test_add_func("/fw_cfg/cmdline", test_cmdline);
    g_test_add_func("/fw_cfg/dma", test_dma);
    g_test_add_func("/fw_cfg/machine/off", test_fw_cfg_off);
    g_test_add_func("/fw_cfg/cli-errors", test_cli_errors);
    g_test_add_func("/fw_cfg/name-warning", test_name_warning);
    g_test_add_func("/fw_cfg/boot", test_boot);
    g_test_add_func("/fw_cfg/boot-errors", test_boot_errors);
    return g_test_run();
}
