/* Unit tests for the e820 map and the zero page (src/hw/x86/bootparam.c). */
#include <string.h>
#include <glib.h>

#include "hw/x86/loader.h"
#include "le-bytes.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/*
 * The layout guest_ram_init() produces, without mapping anything: the e820
 * builder only looks at gpa/size.
 */
static void fake_ram(GuestRam *ram, uint64_t size)
{
    uint64_t low = MIN(size, 3 * GIB);
    RamBlock b = { .gpa = 0, .size = low, .hva = NULL };

    memset(ram, 0, sizeof(*ram));
    ram->blocks = g_array_new(FALSE, TRUE, sizeof(RamBlock));
    g_array_append_val(ram->blocks, b);
    if (size > low) {
        RamBlock h = { .gpa = 4 * GIB, .size = size - low, .hva = NULL };
        g_array_append_val(ram->blocks, h);
    }
}

static void check_entry(const E820Entry *e, uint64_t addr, uint64_t end, uint32_t type)
{
    g_assert_cmphex(e->addr, ==, addr);
    g_assert_cmphex(e->addr + e->size, ==, end);
    g_assert_cmpuint(e->type, ==, type);
}

static void check_low(const E820Entry *t)
{
    check_entry(&t[0], 0, 0x9fc00, E820_RAM);
    check_entry(&t[1], 0x9fc00, 0xa0000, E820_RESERVED);
    check_entry(&t[2], 0xd0000, 0x100000, E820_RESERVED);
}

static void test_e820_small(void)
{
    GuestRam ram;
    E820Entry t[E820_MAX_ENTRIES];

    fake_ram(&ram, 256 * MIB);
    g_assert_cmpuint(x86_build_e820(&ram, t, E820_MAX_ENTRIES), ==, 4);
    check_low(t);
    check_entry(&t[3], 0x100000, 256 * MIB, E820_RAM);
    g_array_free(ram.blocks, TRUE);

    fake_ram(&ram, 3 * GIB);            /* exactly the low limit: no high RAM */
    g_assert_cmpuint(x86_build_e820(&ram, t, E820_MAX_ENTRIES), ==, 4);
    check_low(t);
    check_entry(&t[3], 0x100000, 3 * GIB, E820_RAM);
    g_array_free(ram.blocks, TRUE);
}

static void test_e820_large(void)
{
    GuestRam ram;
    E820Entry t[E820_MAX_ENTRIES];

    fake_ram(&ram, 5 * GIB);
    g_assert_cmpuint(x86_build_e820(&ram, t, E820_MAX_ENTRIES), ==, 5);
    check_low(t);
    check_entry(&t[3], 0x100000, 0xc0000000, E820_RAM);
    /* the hole [3 GiB, 4 GiB) is not listed; high RAM starts at 4 GiB */
    check_entry(&t[4], 4 * GIB, 6 * GIB, E820_RAM);
    g_array_free(ram.blocks, TRUE);

    fake_ram(&ram, 512 * GIB);
    g_assert_cmpuint(x86_build_e820(&ram, t, E820_MAX_ENTRIES), ==, 5);
    check_entry(&t[4], 4 * GIB, 513 * GIB, E820_RAM);
    g_array_free(ram.blocks, TRUE);
}

static void test_e820_real_ram(void)
{
    /* Same result with the real allocator (NORESERVE mapping, nothing touched). */
    GuestRam ram;
    E820Entry t[E820_MAX_ENTRIES];
    GError *err = NULL;

    g_assert_true(guest_ram_init(&ram, 4 * GIB, 3 * GIB, false, false, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(x86_build_e820(&ram, t, E820_MAX_ENTRIES), ==, 5);
    check_low(t);
    check_entry(&t[3], 0x100000, 3 * GIB, E820_RAM);
    check_entry(&t[4], 4 * GIB, 5 * GIB, E820_RAM);
    guest_ram_destroy(&ram);
}

static void test_e820_truncated(void)
{
    GuestRam ram;
    E820Entry t[3];

    memset(t, 0xab, sizeof(t));
    fake_ram(&ram, 5 * GIB);
    /* returns the number needed, writes only what fits */
    g_assert_cmpuint(x86_build_e820(&ram, t, 2), ==, 5);
    check_entry(&t[0], 0, 0x9fc00, E820_RAM);
    check_entry(&t[1], 0x9fc00, 0xa0000, E820_RESERVED);
    g_assert_cmphex(t[2].addr, ==, 0xababababababababULL);
    g_array_free(ram.blocks, TRUE);

    /* no blocks at all */
    GuestRam empty = { 0 };
    g_assert_cmpuint(x86_build_e820(&empty, t, 3), ==, 0);
}

static void test_zero_page_raw(void)
{
    uint8_t zp[4096];
    E820Entry e[2] = {
        { 0, 0x9fc00, E820_RAM },
        { 4 * GIB, 2 * GIB, E820_RAM },
    };
    GError *err = NULL;

    memset(zp, 0x5a, sizeof(zp));
    g_assert_true(x86_build_zero_page(zp, NULL, 0, KERNEL_RAW, 0x20000, 42,
                                      0x7ff0000, 0x123456, e, 2, &err));
    g_assert_no_error(err);
    g_assert_cmphex(le16(zp + 0x1fe), ==, 0xaa55);
    g_assert_cmpmem(zp + 0x202, 4, "HdrS", 4);
    g_assert_cmphex(zp[0x210], ==, 0xff);
    g_assert_cmphex(le32(zp + 0x228), ==, 0x20000);
    g_assert_cmpuint(le32(zp + 0xc8), ==, 0);
    g_assert_cmpuint(le32(zp + 0x238), ==, 42);
    g_assert_cmphex(le32(zp + 0x218), ==, 0x7ff0000);
    g_assert_cmphex(le32(zp + 0x21c), ==, 0x123456);
    g_assert_cmpuint(le32(zp + 0xc0), ==, 0);
    g_assert_cmpuint(le32(zp + 0xc4), ==, 0);
    g_assert_cmpuint(zp[0x1e8], ==, 2);
    g_assert_cmphex(le64(zp + 0x2d0), ==, 0);
    g_assert_cmphex(le64(zp + 0x2d8), ==, 0x9fc00);
    g_assert_cmpuint(le32(zp + 0x2e0), ==, E820_RAM);
    g_assert_cmphex(le64(zp + 0x2e4), ==, 4 * GIB);
    g_assert_cmphex(le64(zp + 0x2ec), ==, 2 * GIB);
    g_assert_cmpuint(le32(zp + 0x2f4), ==, E820_RAM);
    /* everything else is zero (version, loadflags, ...) */
    g_assert_cmpuint(le16(zp + 0x206), ==, 0);
    g_assert_cmpuint(zp[0x211], ==, 0);
    g_assert_cmpuint(zp[0], ==, 0);
    g_assert_cmpuint(zp[4095], ==, 0);
}

static void test_zero_page_ext_fields(void)
{
    uint8_t zp[4096];
    GError *err = NULL;

    g_assert_true(x86_build_zero_page(zp, NULL, 0, KERNEL_RAW, 0x123420000ULL, 1,
                                      0x234567000ULL, 0x300001000ULL, NULL, 0, &err));
    g_assert_cmphex(le32(zp + 0x228), ==, 0x23420000);
    g_assert_cmphex(le32(zp + 0xc8), ==, 0x1);
    g_assert_cmphex(le32(zp + 0x218), ==, 0x34567000);
    g_assert_cmphex(le32(zp + 0xc0), ==, 0x2);
    g_assert_cmphex(le32(zp + 0x21c), ==, 0x00001000);
    g_assert_cmphex(le32(zp + 0xc4), ==, 0x3);
    g_assert_cmpuint(zp[0x1e8], ==, 0);
}

/* A setup header as found at file offset 0x1f1 of a bzImage. */
static void fake_header(uint8_t *h, size_t len, uint16_t version, uint32_t cmdline_size)
{
    memset(h, 0, len);
    h[0] = 27;                                   /* setup_sects */
    h[0x1fe - 0x1f1] = 0x55;
    h[0x1ff - 0x1f1] = 0xaa;
    h[0x200 - 0x1f1] = 0xeb;
    h[0x201 - 0x1f1] = 0x6a;
    memcpy(h + 0x202 - 0x1f1, "HdrS", 4);
    h[0x206 - 0x1f1] = version & 0xff;
    h[0x207 - 0x1f1] = version >> 8;
    h[0x210 - 0x1f1] = 0x00;                     /* type_of_loader, to be set */
    h[0x211 - 0x1f1] = 0x01;                     /* LOADED_HIGH */
    h[0x216 - 0x1f1] = 0x10;                     /* code32_start 0x100000 */
    h[0x238 - 0x1f1] = cmdline_size & 0xff;
    h[0x239 - 0x1f1] = (cmdline_size >> 8) & 0xff;
    h[0x23a - 0x1f1] = (cmdline_size >> 16) & 0xff;
    for (size_t i = 0x290 - 0x1f1; i < len; i++) {
        h[i] = 0xee;                             /* beyond the header room */
    }
}

static void test_zero_page_bzimage(void)
{
    uint8_t zp[4096];
    uint8_t hdr[0x200];
    GError *err = NULL;

    fake_header(hdr, sizeof(hdr), 0x20f, 2047);
    g_assert_true(x86_build_zero_page(zp, hdr, sizeof(hdr), KERNEL_BZIMAGE, 0x20000,
                                      100, 0, 0, NULL, 0, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(zp[0x1f1], ==, 27);
    g_assert_cmphex(le16(zp + 0x1fe), ==, 0xaa55);
    g_assert_cmpmem(zp + 0x202, 4, "HdrS", 4);
    g_assert_cmphex(le16(zp + 0x206), ==, 0x20f);
    g_assert_cmphex(zp[0x211], ==, 0x01);
    g_assert_cmphex(le32(zp + 0x214), ==, 0x100000);
    g_assert_cmphex(zp[0x210], ==, 0xff);
    g_assert_cmpuint(le32(zp + 0x238), ==, 100);  /* strlen, as StratoVirt */
    g_assert_cmphex(le32(zp + 0x228), ==, 0x20000);
    /* the copy is clamped to the setup_header room [0x1f1, 0x290) */
    for (size_t i = 0x290; i < 0x2d0; i++) {
        g_assert_cmpuint(zp[i], ==, 0);
    }
}

static void test_zero_page_errors(void)
{
    uint8_t zp[4096];
    uint8_t hdr[0x9f];
    E820Entry e[E820_MAX_ENTRIES + 1];
    GError *err = NULL;

    /* command line over the kernel's cmdline_size (2.06+) */
    fake_header(hdr, sizeof(hdr), 0x206, 10);
    g_assert_true(x86_build_zero_page(zp, hdr, sizeof(hdr), KERNEL_BZIMAGE, 0x20000,
                                      10, 0, 0, NULL, 0, &err));
    g_assert_false(x86_build_zero_page(zp, hdr, sizeof(hdr), KERNEL_BZIMAGE, 0x20000,
                                       11, 0, 0, NULL, 0, &err));
    g_assert_nonnull(strstr(err->message, "command line too long"));
    g_clear_error(&err);

    /* over the 64 KiB area */
    g_assert_false(x86_build_zero_page(zp, NULL, 0, KERNEL_RAW, 0x20000,
                                       BOOT_CMDLINE_MAX, 0, 0, NULL, 0, &err));
    g_assert_nonnull(strstr(err->message, "command line too long"));
    g_clear_error(&err);

    /* too many e820 entries */
    memset(e, 0, sizeof(e));
    g_assert_false(x86_build_zero_page(zp, NULL, 0, KERNEL_RAW, 0x20000, 0, 0, 0,
                                       e, E820_MAX_ENTRIES + 1, &err));
    g_assert_nonnull(strstr(err->message, "e820"));
    g_clear_error(&err);
    g_assert_true(x86_build_zero_page(zp, NULL, 0, KERNEL_RAW, 0x20000, 0, 0, 0,
                                      e, E820_MAX_ENTRIES, &err));
    g_assert_cmpuint(zp[0x1e8], ==, E820_MAX_ENTRIES);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bootparam/e820/below-3g", test_e820_small);
    g_test_add_func("/bootparam/e820/above-3g", test_e820_large);
    g_test_add_func("/bootparam/e820/guest-ram", test_e820_real_ram);
    g_test_add_func("/bootparam/e820/truncated", test_e820_truncated);
    g_test_add_func("/bootparam/zero-page/raw", test_zero_page_raw);
    g_test_add_func("/bootparam/zero-page/ext-fields", test_zero_page_ext_fields);
    g_test_add_func("/bootparam/zero-page/bzimage", test_zero_page_bzimage);
    g_test_add_func("/bootparam/zero-page/errors", test_zero_page_errors);
    return g_test_run();
}
