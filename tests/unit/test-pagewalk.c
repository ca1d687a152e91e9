/*
 * The debug page walk (src/accel/x86-pagewalk.c) over tables built in a
 * small guest RAM: each paging mode, each page size, and a missing entry.
 */
#include <string.h>
#include <glib.h>

#include "accel/x86-pagewalk.h"

#define MiB (1ull << 20)
#define P   1ull
#define RW  2ull
#define PS  (1ull << 7)

static void put64(GuestRam *r, uint64_t gpa, uint64_t v)
{
    g_assert_true(guest_ram_write(r, gpa, &v, 8));
}

static void put32(GuestRam *r, uint64_t gpa, uint32_t v)
{
    g_assert_true(guest_ram_write(r, gpa, &v, 4));
}

static GuestRam *setup(GuestRam *r)
{
    g_autoptr(GError) err = NULL;

    memset(r, 0, sizeof(*r));
    g_assert_true(guest_ram_init(r, 16 * MiB, 16 * MiB, false, false, &err));
    g_assert_no_error(err);
    return r;
}

static uint64_t xlate(GuestRam *r, const X86VcpuState *st, uint64_t la)
{
    uint64_t pa = 0;

    g_assert_true(x86_linear_to_phys(r, st, la, &pa));
    return pa;
}

static void test_paging_off(void)
{
    X86VcpuState st = { .cr0 = 0x11 };

    GuestRam ram, *r = setup(&ram);
    g_assert_cmphex(xlate(r, &st, 0x123456), ==, 0x123456);
    guest_ram_destroy(r);
}

/* PML4 at 1 MiB: 4 KiB, 2 MiB and 1 GiB pages, and a hole. */
static void test_long_mode(void)
{
    X86VcpuState st = { .cr0 = 0x80000011, .cr4 = 0x20, .efer = 0x500, .cr3 = 1 * MiB };
    uint64_t la4k = 0xffff800000201234ull;   /* PML4 256, PDPT 0, PD 1, PT 1 */
    uint64_t pa;

    GuestRam ram, *r = setup(&ram);
    put64(r, 1 * MiB + 256 * 8, (1 * MiB + 0x1000) | P | RW);           /* PML4[256] */
    put64(r, 1 * MiB + 0x1000, (1 * MiB + 0x2000) | P | RW);            /* PDPT[0] */
    put64(r, 1 * MiB + 0x2000 + 1 * 8, (1 * MiB + 0x3000) | P | RW);    /* PD[1] */
    put64(r, 1 * MiB + 0x3000 + 1 * 8, 0x5000 | P | RW);                /* PT[1] */
    g_assert_cmphex(xlate(r, &st, la4k), ==, 0x5234);
    /* PD[2]: a 2 MiB page at 6 MiB. */
    put64(r, 1 * MiB + 0x2000 + 2 * 8, 6 * MiB | P | RW | PS);
    g_assert_cmphex(xlate(r, &st, 0xffff800000400000ull + 0x12345), ==, 6 * MiB + 0x12345);
    /* PDPT[1]: a 1 GiB page at 1 GiB (outside RAM: translation still works). */
    put64(r, 1 * MiB + 0x1000 + 8, (1ull << 30) | P | PS);
    g_assert_cmphex(xlate(r, &st, 0xffff800040000000ull + 0x3456789), ==,
                    (1ull << 30) + 0x3456789);
    /* Not present: PML4[0], PT[2]. */
    g_assert_false(x86_linear_to_phys(r, &st, 0x1000, &pa));
    g_assert_false(x86_linear_to_phys(r, &st, la4k + 0x1000, &pa));
    /* A table outside RAM. */
    put64(r, 1 * MiB + 0x1000 + 16, (64 * MiB) | P);
    g_assert_false(x86_linear_to_phys(r, &st, 0xffff800080000000ull, &pa));
    guest_ram_destroy(r);
}

/* PAE: PDPT (32-byte aligned) at 2 MiB + 0x20. */
static void test_pae(void)
{
    X86VcpuState st = { .cr0 = 0x80000011, .cr4 = 0x20, .cr3 = 2 * MiB + 0x20 };
    uint64_t pa;

    GuestRam ram, *r = setup(&ram);
    put64(r, 2 * MiB + 0x20 + 3 * 8, (2 * MiB + 0x1000) | P);           /* PDPT[3] */
    put64(r, 2 * MiB + 0x1000 + 5 * 8, (2 * MiB + 0x2000) | P | RW);    /* PD[5] */
    put64(r, 2 * MiB + 0x2000 + 7 * 8, 0x9000 | P);                     /* PT[7] */
    g_assert_cmphex(xlate(r, &st, 0xc0a07abcull), ==, 0x9abc);
    put64(r, 2 * MiB + 0x1000 + 6 * 8, 4 * MiB | P | PS);               /* PD[6]: 2 MiB */
    g_assert_cmphex(xlate(r, &st, 0xc0c12345ull), ==, 4 * MiB + 0x12345);
    g_assert_false(x86_linear_to_phys(r, &st, 0x1000, &pa));      /* PDPT[0] absent */
    guest_ram_destroy(r);
}

/* 32-bit paging: a 4 KiB page, and a 4 MiB page with CR4.PSE only. */
static void test_legacy(void)
{
    X86VcpuState st = { .cr0 = 0x80000011, .cr3 = 3 * MiB };
    uint64_t pa;

    GuestRam ram, *r = setup(&ram);
    put32(r, 3 * MiB + 1 * 4, (3 * MiB + 0x1000) | P);                   /* PD[1] */
    put32(r, 3 * MiB + 0x1000 + 2 * 4, 0x7000 | P);                       /* PT[2] */
    g_assert_cmphex(xlate(r, &st, 0x00402def), ==, 0x7def);
    put32(r, 3 * MiB + 2 * 4, 8 * MiB | P | PS);                          /* PD[2] */
    st.cr4 = 0x10;
    g_assert_cmphex(xlate(r, &st, 0x00812345), ==, 8 * MiB + 0x12345);
    /* Without PSE the PS bit means nothing: PD[2] names a page table. */
    st.cr4 = 0;
    g_assert_false(x86_linear_to_phys(r, &st, 0x00812345, &pa));
    guest_ram_destroy(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pagewalk/paging-off", test_paging_off);
    g_test_add_func("/pagewalk/long-mode", test_long_mode);
    g_test_add_func("/pagewalk/pae", test_pae);
    g_test_add_func("/pagewalk/legacy", test_legacy);
    return g_test_run();
}
