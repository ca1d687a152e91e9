/* Unit tests for x86_load_linux() (src/hw/x86/loader.c) on synthetic kernels. */
#include <string.h>
#include <sys/stat.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "hw/x86/loader.h"
#include "le-bytes.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static char *tmpdir;

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = v >> (8 * i);
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + 3 + (i >> 12));
}

typedef struct BzParams {
    size_t size;
    uint8_t setup_sects;
    uint16_t version;
    uint8_t loadflags;
    uint32_t code32;
    uint32_t cmdline_size;
    uint32_t initrd_max;
    uint16_t xloadflags;
    uint32_t init_size;
    uint64_t pref;
    uint32_t align;
    uint8_t relocatable;
    bool no_magic;
} BzParams;

static BzParams bz_default(void)
{
    return (BzParams) {
        .size = 64 * KIB, .setup_sects = 2, .version = 0x20f, .loadflags = 1,
        .code32 = 0x100000, .cmdline_size = 2047, .initrd_max = 0x7fffffff,
        .xloadflags = 1, .init_size = 0, .pref = 0x1000000, .align = 0x200000,
    };
}

static uint8_t *make_bzimage(const BzParams *p)
{
    uint8_t *b = g_malloc(p->size);

    for (size_t i = 0; i < p->size; i++) {
        b[i] = pattern(i);
    }
    memset(b + 0x1f1, 0, 0x26c - 0x1f1);      /* pattern stays beyond the header */
    b[0x1f1] = p->setup_sects;
    put16(b + 0x1fe, 0xaa55);
    b[0x200] = 0xeb;
    b[0x201] = 0x6a;                          /* header ends at 0x26c */
    if (!p->no_magic) {
        memcpy(b + 0x202, "HdrS", 4);
    }
    put16(b + 0x206, p->version);
    b[0x211] = p->loadflags;
    put32(b + 0x214, p->code32);
    put32(b + 0x22c, p->initrd_max);
    put32(b + 0x230, p->align);
    b[0x234] = p->relocatable;
    put16(b + 0x236, p->xloadflags);
    put32(b + 0x238, p->cmdline_size);
    put64(b + 0x258, p->pref);
    put32(b + 0x260, p->init_size);
    return b;
}

static char *write_file(const char *name, const void *data, size_t len)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    GError *err = NULL;

    g_assert_true(g_file_set_contents(path, data, (gssize)len, &err));
    g_assert_no_error(err);
    return path;
}

static char *write_bzimage(const char *name, const BzParams *p)
{
    uint8_t *b = make_bzimage(p);
    char *path = write_file(name, b, p->size);
    g_free(b);
    return path;
}

static char *write_pattern(const char *name, size_t len)
{
    uint8_t *b = g_malloc(len);
    char *path;

    for (size_t i = 0; i < len; i++) {
        b[i] = pattern(i);
    }
    path = write_file(name, b, len);
    g_free(b);
    return path;
}

static void ram_init(GuestRam *ram, uint64_t size)
{
    GError *err = NULL;
    g_assert_true(guest_ram_init(ram, size, 3 * GIB, false, true, &err));
    g_assert_no_error(err);
}

static const uint8_t *gptr(GuestRam *ram, uint64_t gpa, uint64_t len)
{
    const uint8_t *p = guest_ram_ptr(ram, gpa, len);
    g_assert_nonnull(p);
    return p;
}

static X86BootConfig cfg_for(const char *kernel, const char *initrd, const char *cmdline)
{
    return (X86BootConfig) {
        .kernel = kernel, .initrd = initrd, .cmdline = cmdline, .ncpus = 1,
        .ioapic_addr = 0xfec00000,
    };
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++) {
        s += p[i];
    }
    return s;
}

/* ---- successful loads ---------------------------------------------------- */

static void test_bzimage(void)
{
    BzParams bp = bz_default();
    char *k = write_bzimage("bz", &bp);
    const char *cmdline = "console=ttyS0 reboot=k panic=1";
    X86BootConfig cfg = cfg_for(k, NULL, cmdline);
    X86BootState st;
    GuestRam ram;
    GError *err = NULL;
    const uint8_t *zp, *kern;
    uint8_t *file = make_bzimage(&bp);

    ram_init(&ram, 256 * MIB);
    cfg.ncpus = 2;
    g_assert_true(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_no_error(err);
    g_assert_cmpint(st.format, ==, KERNEL_BZIMAGE);
    g_assert_cmphex(st.rip, ==, 0x100200);

    /* protected-mode part: file offset (2 + 1) * 512 at code32_start */
    kern = gptr(&ram, 0x100000, bp.size - 3 * 512);
    g_assert_cmpmem(kern, bp.size - 3 * 512, file + 3 * 512, bp.size - 3 * 512);
    g_assert_true(all_zero(gptr(&ram, 0x100000 + bp.size - 3 * 512, 4096), 4096));

    zp = gptr(&ram, BOOT_ZERO_PAGE_ADDR, 4096);
    /* header copied, except the fields the loader fills in */
    g_assert_cmpmem(zp + 0x1f1, 0x210 - 0x1f1, file + 0x1f1, 0x210 - 0x1f1);
    g_assert_cmpmem(zp + 0x211, 0x218 - 0x211, file + 0x211, 0x218 - 0x211);
    g_assert_cmpmem(zp + 0x22c, 0x238 - 0x22c, file + 0x22c, 0x238 - 0x22c);
    g_assert_cmpmem(zp + 0x23c, 0x26c - 0x23c, file + 0x23c, 0x26c - 0x23c);
    g_assert_cmphex(le16(zp + 0x206), ==, 0x20f);
    g_assert_cmphex(zp[0x210], ==, 0xff);
    g_assert_cmphex(le32(zp + 0x228), ==, 0x20000);
    g_assert_cmpuint(le32(zp + 0x238), ==, strlen(cmdline));
    g_assert_cmpuint(le32(zp + 0x218), ==, 0);
    g_assert_cmpuint(le32(zp + 0x21c), ==, 0);
    g_assert_cmpuint(zp[0x1e8], ==, 4);
    g_assert_cmphex(le64(zp + 0x2d0 + 3 * 20), ==, 0x100000);
    g_assert_cmphex(le64(zp + 0x2d0 + 3 * 20 + 8), ==, 255 * MIB);
    /* nothing copied beyond the header (0x26c) */
    g_assert_true(all_zero(zp + 0x26c, 0x290 - 0x26c));

    g_assert_cmpstr((const char *)gptr(&ram, 0x20000, strlen(cmdline) + 1), ==, cmdline);

    g_free(file);
    g_free(k);
    guest_ram_destroy(&ram);
}

static void test_bzimage_setup_sects_zero(void)
{
    BzParams bp = bz_default();
    char *k;
    X86BootConfig cfg;
    X86BootState st;
    GuestRam ram;
    GError *err = NULL;
    uint8_t *file;

    bp.setup_sects = 0;                       /* means 4 */
    k = write_bzimage("bz0", &bp);
    file = make_bzimage(&bp);
    cfg = cfg_for(k, NULL, "");
    ram_init(&ram, 128 * MIB);
    g_assert_true(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_no_error(err);
    g_assert_cmpint(st.format, ==, KERNEL_BZIMAGE);
    g_assert_cmpmem(gptr(&ram, 0x100000, 512), 512, file + 5 * 512, 512);
    g_assert_cmpuint(le32(gptr(&ram, BOOT_ZERO_PAGE_ADDR, 4096) + 0x238), ==, 0);
    g_assert_cmpuint(*gptr(&ram, 0x20000, 1), ==, 0);
    g_free(file);
    g_free(k);
    guest_ram_destroy(&ram);
}

static void check_raw(const char *path, size_t size)
{
    X86BootConfig cfg = cfg_for(path, NULL, "root=/dev/vda");
    X86BootState st;
    GuestRam ram;
    GError *err = NULL;
    const uint8_t *zp;
    gchar *file;
    gsize flen;

    g_assert_true(g_file_get_contents(path, &file, &flen, NULL));
    g_assert_cmpuint(flen, ==, size);
    ram_init(&ram, 128 * MIB);
    g_assert_true(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_no_error(err);
    g_assert_cmpint(st.format, ==, KERNEL_RAW);
    g_assert_cmphex(st.rip, ==, 0x1000000);
    g_assert_cmpmem(gptr(&ram, 0x1000000, size), size, file, size);
    /* nothing at the bzImage address */
    g_assert_true(all_zero(gptr(&ram, 0x100000, 64 * KIB), 64 * KIB));
    zp = gptr(&ram, BOOT_ZERO_PAGE_ADDR, 4096);
    g_assert_cmphex(le16(zp + 0x1fe), ==, 0xaa55);
    g_assert_cmpmem(zp + 0x202, 4, "HdrS", 4);
    g_assert_cmphex(zp[0x210], ==, 0xff);
    g_assert_cmpuint(le16(zp + 0x206), ==, 0);          /* synthetic: no version */
    g_assert_cmpuint(zp[0x1f1], ==, 0);
    g_assert_cmphex(le32(zp + 0x228), ==, 0x20000);
    g_assert_cmpuint(le32(zp + 0x238), ==, strlen("root=/dev/vda"));
    g_assert_cmpuint(zp[0x1e8], ==, 4);
    g_free(file);
    guest_ram_destroy(&ram);
}

static void test_raw(void)
{
    char *k = write_pattern("raw", 300 * KIB + 17);
    check_raw(k, 300 * KIB + 17);
    g_free(k);
}

static void test_not_bzimage(void)
{
    /* "HdrS" alone is not enough: LOADED_HIGH and version >= 0x202 needed. */
    BzParams bp = bz_default();
    char *k;

    bp.loadflags = 0;
    k = write_bzimage("nohigh", &bp);
    check_raw(k, bp.size);
    g_free(k);

    bp = bz_default();
    bp.version = 0x201;
    k = write_bzimage("oldver", &bp);
    check_raw(k, bp.size);
    g_free(k);

    bp = bz_default();
    bp.no_magic = true;
    k = write_bzimage("nomagic", &bp);
    check_raw(k, bp.size);
    g_free(k);
}

static void test_boot_state(void)
{
    BzParams bp = bz_default();
    char *k = write_bzimage("bz", &bp);
    X86BootConfig cfg = cfg_for(k, NULL, "x");
    X86BootState st;
    GuestRam ram;
    GError *err = NULL;
    const uint8_t *gdt, *pt;

    ram_init(&ram, 128 * MIB);
    memset(&st, 0xa5, sizeof(st));
    g_assert_true(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_no_error(err);
    g_assert_cmphex(st.rip, ==, 0x100200);
    g_assert_cmphex(st.rsp, ==, 0x8ff0);
    g_assert_cmphex(st.rsi, ==, 0x7000);
    g_assert_cmphex(st.cr0, ==, 0x80050033);
    g_assert_cmphex(st.cr0 & 0x80000001, ==, 0x80000001);  /* PG | PE */
    g_assert_cmphex(st.cr3, ==, 0x9000);
    g_assert_cmphex(st.cr4, ==, 0x20);
    g_assert_cmphex(st.efer, ==, 0x500);
    g_assert_cmphex(st.gdt_base, ==, 0x500);
    g_assert_cmpuint(st.gdt_limit, ==, 31);
    g_assert_cmphex(st.idt_base, ==, 0x520);
    g_assert_cmpuint(st.idt_limit, ==, 7);
    g_assert_cmphex(st.code_desc, ==, 0x00af9b000000ffffULL);
    g_assert_cmphex(st.data_desc, ==, 0x00cf93000000ffffULL);
    g_assert_cmpuint(st.initrd_addr, ==, 0);
    g_assert_cmpuint(st.initrd_size, ==, 0);

    gdt = gptr(&ram, 0x500, 40);
    g_assert_cmphex(le64(gdt), ==, 0);
    g_assert_cmphex(le64(gdt + 8), ==, 0);
    g_assert_cmphex(le64(gdt + 16), ==, 0x00af9b000000ffffULL);
    g_assert_cmphex(le64(gdt + 24), ==, 0x00cf93000000ffffULL);
    g_assert_cmphex(le64(gdt + 32), ==, 0);              /* IDT entry at 0x520 */

    pt = gptr(&ram, 0x9000, 4096);
    g_assert_cmphex(le64(pt), ==, 0xa003);
    g_assert_true(all_zero(pt + 8, 4096 - 8));
    pt = gptr(&ram, 0xa000, 4096);
    g_assert_cmphex(le64(pt), ==, 0xb003);
    g_assert_true(all_zero(pt + 8, 4096 - 8));
    pt = gptr(&ram, 0xb000, 4096);
    for (uint64_t i = 0; i < 512; i++) {
        g_assert_cmphex(le64(pt + 8 * i), ==, (i << 21) | 0x83);
    }

    g_free(k);
    guest_ram_destroy(&ram);
}

/* ---- MP table in guest memory ------------------------------------------- */

static void check_mp_in_guest(unsigned ncpus, uint64_t expect_cfg)
{
    char *k = write_pattern("raw", 64 * KIB);
    X86BootConfig cfg = cfg_for(k, NULL, "");
    X86BootState st;
    GuestRam ram;
    GError *err = NULL;
    const uint8_t *fp, *c;
    uint16_t len;

    ram_init(&ram, 128 * MIB);
    cfg.ncpus = ncpus;
    g_assert_true(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_no_error(err);
    fp = gptr(&ram, 0x9fc00, 16);
    g_assert_cmpmem(fp, 4, "_MP_", 4);
    g_assert_cmpuint(sum8(fp, 16), ==, 0);
    g_assert_cmphex(le32(fp + 4), ==, expect_cfg);
    c = gptr(&ram, expect_cfg, 44);
    g_assert_cmpmem(c, 4, "PCMP", 4);
    len = le16(c + 4);
    g_assert_cmpuint(len, ==, x86_mp_config_size(ncpus));
    g_assert_cmpuint(sum8(gptr(&ram, expect_cfg, len), len), ==, 0);
    g_assert_cmpuint(le16(c + 34), ==, ncpus + 20);
    if (expect_cfg == 0x9fc10) {
        g_assert_cmpuint(16 + len, <=, 0x400);
    } else {
        /* the config table sits in e820-reserved memory */
        g_assert_cmpuint(expect_cfg, >=, 0xd0000);
        g_assert_cmpuint(expect_cfg + len, <=, 0x100000);
        g_assert_true(all_zero(gptr(&ram, 0x9fc10, 0x3f0), 0x3f0));
    }
    g_free(k);
    guest_ram_destroy(&ram);
}

static void test_mp_ebda(void)
{
    check_mp_in_guest(1, 0x9fc10);
    check_mp_in_guest(4, 0x9fc10);
    check_mp_in_guest(40, 0x9fc10);
}

static void test_mp_high(void)
{
    check_mp_in_guest(41, 0xf0000);
    check_mp_in_guest(254, 0xf0000);
}

/* ---- initrd -------------------------------------------------------------- */

static void check_initrd(uint64_t ram_size, const BzParams *bp, size_t isize,
                         uint64_t expect_addr)
{
    char *k = bp ? write_bzimage("bz", bp) : write_pattern("raw", 64 * KIB);
    char *i = write_pattern("initrd", isize);
    X86BootConfig cfg = cfg_for(k, i, "rdinit=/bin/sh");
    X86BootState st;
    GuestRam ram;
    GError *err = NULL;
    const uint8_t *zp;
    gchar *data;
    gsize len;

    g_assert_true(g_file_get_contents(i, &data, &len, NULL));
    ram_init(&ram, ram_size);
    g_assert_true(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_no_error(err);
    g_assert_cmphex(st.initrd_addr, ==, expect_addr);
    g_assert_cmpuint(st.initrd_size, ==, isize);
    g_assert_cmphex(expect_addr & 0xfff, ==, 0);
    g_assert_cmpmem(gptr(&ram, expect_addr, isize), isize, data, len);
    zp = gptr(&ram, BOOT_ZERO_PAGE_ADDR, 4096);
    g_assert_cmphex(le32(zp + 0x218), ==, expect_addr);
    g_assert_cmpuint(le32(zp + 0x21c), ==, isize);
    g_assert_cmpuint(le32(zp + 0xc0), ==, 0);
    g_assert_cmpuint(le32(zp + 0xc4), ==, 0);
    g_free(data);
    g_free(k);
    g_free(i);
    guest_ram_destroy(&ram);
}

static void test_initrd_top_of_ram(void)
{
    size_t isize = MIB + 123;
    check_initrd(256 * MIB, NULL, isize, (256 * MIB - isize) & ~0xfffULL);
    BzParams bp = bz_default();
    check_initrd(256 * MIB, &bp, isize, (256 * MIB - isize) & ~0xfffULL);
}

static void test_initrd_limit(void)
{
    /* RAM above 0x37ffffff: the initrd stays below it. NORESERVE mapping. */
    size_t isize = 3 * MIB + 5;
    check_initrd(2 * GIB, NULL, isize, (0x37ffffffULL - isize) & ~0xfffULL);
    check_initrd(5 * GIB, NULL, isize, (0x37ffffffULL - isize) & ~0xfffULL);
}

static void test_initrd_addr_max(void)
{
    size_t isize = 2 * MIB;
    BzParams bp = bz_default();

    bp.initrd_max = 0x7ffffff;
    check_initrd(256 * MIB, &bp, isize, (0x7ffffffULL - isize) & ~0xfffULL);
    /* ignored before protocol 2.03 */
    bp.version = 0x202;
    check_initrd(256 * MIB, &bp, isize, (256 * MIB - isize) & ~0xfffULL);
}

static void test_initrd_decompress_region(void)
{
    /* init_size reserves [16 MiB, 20 MiB) for decompression (pref_address). */
    BzParams bp = bz_default();
    char *k, *i;
    X86BootConfig cfg;
    X86BootState st;
    GuestRam ram;
    GError *err = NULL;

    bp.init_size = 4 * MIB;
    check_initrd(24 * MIB, &bp, 3 * MIB, 21 * MIB);

    /* relocatable: base = max(align_up(1 MiB, 2 MiB), pref 1 MiB) = 2 MiB */
    bp.relocatable = 1;
    bp.pref = 0x100000;
    check_initrd(16 * MIB, &bp, 10 * MIB, 6 * MIB);
    k = write_bzimage("bz", &bp);
    i = write_pattern("initrd", 10 * MIB + 1);
    cfg = cfg_for(k, i, "");
    ram_init(&ram, 16 * MIB);
    g_assert_false(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_nonnull(strstr(err->message, "too large"));
    g_clear_error(&err);
    g_free(k);
    g_free(i);
    guest_ram_destroy(&ram);

    /* not relocatable: decompression at pref_address */
    bp.relocatable = 0;
    bp.pref = 0x400000;
    check_initrd(16 * MIB, &bp, 8 * MIB, 8 * MIB);

    bp = bz_default();
    bp.init_size = 4 * MIB;
    k = write_bzimage("bz", &bp);
    i = write_pattern("initrd", 5 * MIB);
    cfg = cfg_for(k, i, "");
    ram_init(&ram, 24 * MIB);
    g_assert_false(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_nonnull(strstr(err->message, "too large"));
    g_assert_nonnull(strstr(err->message, i));
    g_clear_error(&err);
    g_free(k);
    g_free(i);
    guest_ram_destroy(&ram);
}

/* ---- errors -------------------------------------------------------------- */

/* Loads and expects failure; the message contains every needle. */
static void expect_fail(uint64_t ram_size, const X86BootConfig *cfg,
                        const char *needle1, const char *needle2)
{
    X86BootState st;
    GuestRam ram;
    GError *err = NULL;

    ram_init(&ram, ram_size);
    memset(&st, 0x11, sizeof(st));
    g_assert_false(x86_load_linux(&ram, cfg, &st, &err));
    g_assert_nonnull(err);
    if (g_test_verbose()) {
        g_test_message("error: %s", err->message);
    }
    if (needle1 && !strstr(err->message, needle1)) {
        g_error("'%s' not in '%s'", needle1, err->message);
    }
    if (needle2 && !strstr(err->message, needle2)) {
        g_error("'%s' not in '%s'", needle2, err->message);
    }
    /* validation errors leave guest memory untouched */
    g_assert_true(all_zero(gptr(&ram, 0, 2 * MIB), 2 * MIB));
    g_assert_true(all_zero(gptr(&ram, 16 * MIB, MIB), MIB));
    g_error_free(err);
    guest_ram_destroy(&ram);
}

static void test_err_kernel_missing(void)
{
    char *k = g_build_filename(tmpdir, "does-not-exist", NULL);
    X86BootConfig cfg = cfg_for(k, NULL, "");

    expect_fail(64 * MIB, &cfg, k, "not found");
    cfg.kernel = NULL;
    expect_fail(64 * MIB, &cfg, "kernel", NULL);
    g_free(k);
}

static void test_err_kernel_unreadable(void)
{
    char *d = g_build_filename(tmpdir, "a-directory", NULL);
    X86BootConfig cfg = cfg_for(d, NULL, "");

    g_assert_cmpint(g_mkdir(d, 0700), ==, 0);
    expect_fail(64 * MIB, &cfg, d, "not a regular file");
    g_rmdir(d);
    g_free(d);
}

static void test_err_kernel_empty(void)
{
    char *k = write_file("empty", "", 0);
    X86BootConfig cfg = cfg_for(k, NULL, "");

    expect_fail(64 * MIB, &cfg, k, "empty");
    g_free(k);
}

static void test_err_kernel_short(void)
{
    char *k = write_file("short", "garbage\x01\x02", 9);
    X86BootConfig cfg = cfg_for(k, NULL, "");

    expect_fail(64 * MIB, &cfg, k, "too small");
    g_free(k);

    /* 1023 bytes that even look like a bzImage header */
    BzParams bp = bz_default();
    bp.size = 1023;
    k = write_bzimage("short-bz", &bp);
    cfg.kernel = k;
    expect_fail(64 * MIB, &cfg, k, "too small");
    g_free(k);
}

static void test_err_bzimage_truncated(void)
{
    BzParams bp = bz_default();
    char *k;
    X86BootConfig cfg;

    bp.size = 4096;
    bp.setup_sects = 200;
    k = write_bzimage("trunc", &bp);
    cfg = cfg_for(k, NULL, "");
    expect_fail(64 * MIB, &cfg, k, "truncated");
    g_free(k);
}

static void test_err_bzimage_hostile(void)
{
    BzParams bp = bz_default();
    char *k;
    X86BootConfig cfg;

    bp.code32 = 0x1000;                     /* would overwrite the boot data */
    k = write_bzimage("low", &bp);
    cfg = cfg_for(k, NULL, "");
    expect_fail(64 * MIB, &cfg, k, "below 1 MiB");
    g_free(k);

    bp = bz_default();
    bp.code32 = 0xfffff000;                 /* far beyond RAM */
    k = write_bzimage("high", &bp);
    cfg.kernel = k;
    expect_fail(64 * MIB, &cfg, k, "does not fit");
    g_free(k);

    bp = bz_default();
    bp.xloadflags = 0;                      /* 2.12+ without a 64-bit entry */
    k = write_bzimage("no64", &bp);
    cfg.kernel = k;
    expect_fail(64 * MIB, &cfg, k, "64-bit");
    g_free(k);

    bp = bz_default();
    bp.init_size = 0xffffffff;
    k = write_bzimage("initsize", &bp);
    cfg.kernel = k;
    expect_fail(64 * MIB, &cfg, k, "decompress");
    g_free(k);

    bp = bz_default();
    bp.init_size = 0x1000;
    bp.pref = 0xfffffffffffff000ULL;        /* overflow bait */
    k = write_bzimage("pref", &bp);
    cfg.kernel = k;
    expect_fail(64 * MIB, &cfg, k, "decompress");
    g_free(k);
}

static void test_err_kernel_too_large(void)
{
    char *k = write_pattern("bigraw", 16 * MIB + 1);
    X86BootConfig cfg = cfg_for(k, NULL, "");
    BzParams bp = bz_default();

    /* raw images go at 16 MiB: 32 MiB of RAM leaves exactly 16 MiB */
    expect_fail(32 * MIB, &cfg, k, "not a bzImage and too large");
    g_free(k);

    k = write_pattern("fitraw", 16 * MIB);
    cfg.kernel = k;
    {
        GuestRam ram;
        X86BootState st;
        GError *err = NULL;
        ram_init(&ram, 32 * MIB);
        g_assert_true(x86_load_linux(&ram, &cfg, &st, &err));
        g_assert_no_error(err);
        guest_ram_destroy(&ram);
    }
    g_free(k);

    bp.size = 40 * MIB;
    k = write_bzimage("bigbz", &bp);
    cfg.kernel = k;
    expect_fail(32 * MIB, &cfg, k, "does not fit");
    g_free(k);
}

static void test_err_initrd(void)
{
    char *k = write_pattern("raw", 8 * MIB);
    char *missing = g_build_filename(tmpdir, "no-initrd", NULL);
    char *empty = write_file("empty-initrd", "", 0);
    char *big = write_pattern("big-initrd", 40 * MIB);
    char *overlap = write_pattern("overlap-initrd", 9 * MIB);
    char *fits = write_pattern("fits-initrd", 8 * MIB);
    X86BootConfig cfg = cfg_for(k, missing, "");

    expect_fail(32 * MIB, &cfg, missing, "not found");
    cfg.initrd = empty;
    expect_fail(32 * MIB, &cfg, empty, "empty");
    /* bigger than RAM */
    cfg.initrd = big;
    expect_fail(32 * MIB, &cfg, big, "too large");
    /* fits in RAM, but would overlap the kernel at [16 MiB, 24 MiB) */
    cfg.initrd = overlap;
    expect_fail(32 * MIB, &cfg, overlap, "too large");
    /* exactly fills [24 MiB, 32 MiB) */
    check_initrd(32 * MIB, NULL, 8 * MIB, 24 * MIB);
    (void)fits;

    g_free(k);
    g_free(missing);
    g_free(empty);
    g_free(big);
    g_free(overlap);
    g_free(fits);
}

static void test_err_cmdline(void)
{
    BzParams bp = bz_default();
    char *k, *raw;
    char *line;
    X86BootConfig cfg;
    X86BootState st;
    GuestRam ram;
    GError *err = NULL;

    /* kernel's cmdline_size (2.06+) */
    bp.cmdline_size = 255;
    k = write_bzimage("bz", &bp);
    line = g_strnfill(256, 'a');
    cfg = cfg_for(k, NULL, line);
    expect_fail(64 * MIB, &cfg, k, "command line too long");
    line[255] = 0;
    ram_init(&ram, 64 * MIB);
    g_assert_true(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(strlen((const char *)gptr(&ram, 0x20000, 256)), ==, 255);
    guest_ram_destroy(&ram);
    g_free(line);
    g_free(k);

    /* before 2.06 the limit is 255 */
    bp.version = 0x205;
    bp.cmdline_size = 100000;
    k = write_bzimage("bz205", &bp);
    line = g_strnfill(256, 'b');
    cfg = cfg_for(k, NULL, line);
    expect_fail(64 * MIB, &cfg, k, "command line too long");
    g_free(line);
    g_free(k);

    /* the 64 KiB area at 0x20000, with its terminating NUL */
    bp = bz_default();
    bp.cmdline_size = 0x7fffffff;
    k = write_bzimage("bzbig", &bp);
    raw = write_pattern("raw", 64 * KIB);
    line = g_strnfill(BOOT_CMDLINE_MAX, 'c');
    cfg = cfg_for(raw, NULL, line);
    expect_fail(64 * MIB, &cfg, raw, "command line too long");
    cfg.kernel = k;
    expect_fail(64 * MIB, &cfg, k, "command line too long");
    line[BOOT_CMDLINE_MAX - 1] = 0;
    cfg.kernel = raw;
    ram_init(&ram, 64 * MIB);
    g_assert_true(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(*gptr(&ram, 0x2ffff, 1), ==, 0);
    g_assert_cmpuint(*gptr(&ram, 0x2fffe, 1), ==, 'c');
    guest_ram_destroy(&ram);
    g_free(line);
    g_free(raw);
    g_free(k);
}

static void test_err_ncpus(void)
{
    char *k = write_pattern("raw", 64 * KIB);
    X86BootConfig cfg = cfg_for(k, NULL, "");

    cfg.ncpus = 0;
    expect_fail(64 * MIB, &cfg, "vCPU", NULL);
    cfg.ncpus = 255;
    expect_fail(64 * MIB, &cfg, "vCPU", NULL);
    g_free(k);
}

static void test_err_no_low_ram(void)
{
    char *k = write_pattern("raw", 64 * KIB);
    X86BootConfig cfg = cfg_for(k, NULL, "");
    GuestRam ram = { 0 };
    X86BootState st;
    GError *err = NULL;
    RamBlock b = { .gpa = 4 * GIB, .size = 64 * MIB, .hva = NULL };

    g_assert_false(x86_load_linux(&ram, &cfg, &st, &err));
    g_clear_error(&err);
    ram.blocks = g_array_new(FALSE, TRUE, sizeof(RamBlock));
    g_array_append_val(ram.blocks, b);
    g_assert_false(x86_load_linux(&ram, &cfg, &st, &err));
    g_assert_nonnull(strstr(err->message, "RAM"));
    g_clear_error(&err);
    g_array_free(ram.blocks, TRUE);
    g_free(k);
}

int main(int argc, char **argv)
{
    GError *err = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("test-loader-XXXXXX", &err);
    g_assert_no_error(err);

    g_test_add_func("/loader/bzimage/load", test_bzimage);
    g_test_add_func("/loader/bzimage/setup-sects-zero", test_bzimage_setup_sects_zero);
    g_test_add_func("/loader/bzimage/not-detected", test_not_bzimage);
    g_test_add_func("/loader/raw", test_raw);
    g_test_add_func("/loader/boot-state", test_boot_state);
    g_test_add_func("/loader/mptable/ebda", test_mp_ebda);
    g_test_add_func("/loader/mptable/high", test_mp_high);
    g_test_add_func("/loader/initrd/top-of-ram", test_initrd_top_of_ram);
    g_test_add_func("/loader/initrd/limit", test_initrd_limit);
    g_test_add_func("/loader/initrd/addr-max", test_initrd_addr_max);
    g_test_add_func("/loader/initrd/decompress-region", test_initrd_decompress_region);
    g_test_add_func("/loader/error/kernel-missing", test_err_kernel_missing);
    g_test_add_func("/loader/error/kernel-unreadable", test_err_kernel_unreadable);
    g_test_add_func("/loader/error/kernel-empty", test_err_kernel_empty);
    g_test_add_func("/loader/error/kernel-short", test_err_kernel_short);
    g_test_add_func("/loader/error/bzimage-truncated", test_err_bzimage_truncated);
    g_test_add_func("/loader/error/bzimage-hostile", test_err_bzimage_hostile);
    g_test_add_func("/loader/error/kernel-too-large", test_err_kernel_too_large);
    g_test_add_func("/loader/error/initrd", test_err_initrd);
    g_test_add_func("/loader/error/cmdline-too-long", test_err_cmdline);
    g_test_add_func("/loader/error/ncpus", test_err_ncpus);
    g_test_add_func("/loader/error/no-low-ram", test_err_no_low_ram);

    ret = g_test_run();

    /* remove what the tests wrote */
    GDir *d = g_dir_open(tmpdir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        char *p = g_build_filename(tmpdir, name, NULL);
        g_remove(p);
        g_free(p);
    }
    if (d) {
        g_dir_close(d);
    }
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}
