/* Guest RAM bounds checks and I/O bus dispatch. */
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "memory.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static void test_ram_split_at_hole(void)
{
    GuestRam ram;
    g_autoptr(GError) err = NULL;

    g_assert_true(guest_ram_init(&ram, 3 * GIB + 512 * MIB, 3 * GIB, false, true, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(ram.blocks->len, ==, 2);
    g_assert_cmphex(g_array_index(ram.blocks, RamBlock, 1).gpa, ==, 4 * GIB);
    g_assert_cmphex(guest_ram_end(&ram), ==, 4 * GIB + 512 * MIB);
    /* The hole is not RAM. */
    g_assert_null(guest_ram_ptr(&ram, 3 * GIB, 1));
    g_assert_nonnull(guest_ram_ptr(&ram, 4 * GIB, 4096));
    guest_ram_destroy(&ram);
}

static void test_ram_bounds(void)
{
    GuestRam ram;
    uint8_t buf[16] = { 0 };

    g_assert_true(guest_ram_init(&ram, 128 * MIB, 3 * GIB, false, false, NULL));
    g_assert_nonnull(guest_ram_ptr(&ram, 0, 128 * MIB));
    g_assert_null(guest_ram_ptr(&ram, 0, 128 * MIB + 1));
    g_assert_null(guest_ram_ptr(&ram, 128 * MIB - 8, 16));
    /* Wrap-around attempts by a hostile guest. */
    g_assert_null(guest_ram_ptr(&ram, UINT64_MAX, 2));
    g_assert_null(guest_ram_ptr(&ram, 16, UINT64_MAX));
    g_assert_null(guest_ram_ptr(&ram, UINT64_MAX - 4, 16));
    g_assert_true(guest_ram_write(&ram, 0x1000, "hello", 5));
    g_assert_true(guest_ram_read(&ram, 0x1000, buf, 5));
    g_assert_cmpstr((char *)buf, ==, "hello");
    g_assert_false(guest_ram_write(&ram, 128 * MIB - 2, "abc", 3));
    g_assert_false(guest_ram_read(&ram, 128 * MIB, buf, 1));
    guest_ram_destroy(&ram);
}

typedef struct Dev {
    uint64_t last_offset, last_value;
    unsigned last_size, writes;
} Dev;

static uint64_t dev_read(void *opaque, uint64_t offset, unsigned size)
{
    return 0x1100 + offset;
}

static void dev_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    Dev *d = opaque;
    d->last_offset = offset;
    d->last_value = value;
    d->last_size = size;
    d->writes++;
}

static const IoRegionOps dev_ops = { .read = dev_read, .write = dev_write };

/* A snapshot skips what the guest never touched without reading it. */
static void test_ram_unpopulated(void)
{
    GuestRam ram, shared;
    bool never[16];
    uint8_t byte = 0x5a;
    int pm;

    g_assert_true(guest_ram_init(&ram, 16 * GUEST_PAGE_SIZE, 16 * GUEST_PAGE_SIZE,
                                 false, true, NULL));
    pm = guest_ram_pagemap_open(&ram);
    g_assert_cmpint(pm, >=, 0);
    g_assert_true(guest_ram_write(&ram, 3 * GUEST_PAGE_SIZE + 7, &byte, 1));
    g_assert_true(guest_ram_unpopulated(&ram, pm, 0, 16, never));
    for (int i = 0; i < 16; i++) {
        g_assert_cmpint(never[i], ==, i != 3);
    }
    /* a window, and its bounds */
    g_assert_true(guest_ram_unpopulated(&ram, pm, 2 * GUEST_PAGE_SIZE, 2, never));
    g_assert_true(never[0] && !never[1]);
    g_assert_false(guest_ram_unpopulated(&ram, pm, 15 * GUEST_PAGE_SIZE, 2, never));
    /* discarded (balloon) reads as zeros again */
    g_assert_true(guest_ram_discard(&ram, (uint8_t *)ram.mapping + 3 * GUEST_PAGE_SIZE,
                                    GUEST_PAGE_SIZE));
    g_assert_true(guest_ram_unpopulated(&ram, pm, 3 * GUEST_PAGE_SIZE, 1, never));
    g_assert_true(never[0]);
    g_assert_false(guest_ram_unpopulated(&ram, -1, 0, 1, never));
    close(pm);
    guest_ram_destroy(&ram);

    /* shared memory cannot tell: absent pages may still hold data */
    g_assert_true(guest_ram_init(&shared, 4 * GUEST_PAGE_SIZE, 4 * GUEST_PAGE_SIZE,
                                 true, true, NULL));
    g_assert_cmpint(guest_ram_pagemap_open(&shared), ==, -1);
    g_assert_false(guest_ram_unpopulated(&shared, -1, 0, 4, never));
    guest_ram_destroy(&shared);
}

/*
 * Code generations: arming makes a page's word odd; a write into an armed
 * page (guest_ram_write, guest_ram_mark_dma, guest_ram_discard) moves it to
 * the next, disarmed value; writes into disarmed pages and outside RAM
 * leave the words alone.
 */
static void test_ram_code_gen(void)
{
    GuestRam ram;
    uint8_t *base, byte = 1;
    uint32_t *w[4], g;

    g_assert_true(guest_ram_init(&ram, 4 * GUEST_PAGE_SIZE, 4 * GUEST_PAGE_SIZE, false, true,
                                 NULL));
    base = ram.mapping;
    for (int i = 0; i < 4; i++) {
        w[i] = guest_ram_code_gen(&ram, base + i * GUEST_PAGE_SIZE + 5);
        g_assert_nonnull(w[i]);
        g_assert_cmpuint(*w[i], ==, 0);
    }
    g_assert_true(w[1] == w[0] + 1);
    g_assert_null(guest_ram_code_gen(&ram, base + 4 * GUEST_PAGE_SIZE));
    g_assert_null(guest_ram_code_gen(&ram, base - 1));

    g = guest_ram_code_arm(w[1]);
    g_assert_cmpuint(g, ==, 1);
    g_assert_cmpuint(guest_ram_code_arm(w[1]), ==, 1);       /* armed stays armed */
    g_assert_true(guest_ram_write(&ram, 0, &byte, 1));       /* page 0: not armed */
    g_assert_cmpuint(*w[0], ==, 0);
    g_assert_cmpuint(*w[1], ==, 1);
    g_assert_true(guest_ram_write(&ram, GUEST_PAGE_SIZE + 9, &byte, 1));
    g_assert_cmpuint(*w[1], ==, 2);                          /* bumped, disarmed */
    g_assert_true(guest_ram_write(&ram, GUEST_PAGE_SIZE + 9, &byte, 1));
    g_assert_cmpuint(*w[1], ==, 2);                          /* disarmed: no more */
    g_assert_cmpuint(guest_ram_code_arm(w[1]), ==, 3);

    /* a range over pages 1-3, from the end of page 0 (mark_dma after a device's write) */
    guest_ram_code_arm(w[3]);
    guest_ram_mark_dma(&ram, base + GUEST_PAGE_SIZE - 1, 2 * GUEST_PAGE_SIZE + 2);
    g_assert_cmpuint(*w[0], ==, 0);
    g_assert_cmpuint(*w[1], ==, 4);
    g_assert_cmpuint(*w[2], ==, 0);
    g_assert_cmpuint(*w[3], ==, 2);
    guest_ram_mark_dma(&ram, base + 4 * GUEST_PAGE_SIZE, 8);    /* outside: nothing */
    guest_ram_code_written(&ram, base - GUEST_PAGE_SIZE, 8);

    /* the balloon's discard */
    guest_ram_code_arm(w[2]);
    g_assert_true(guest_ram_discard(&ram, base + 2 * GUEST_PAGE_SIZE, GUEST_PAGE_SIZE));
    g_assert_cmpuint(*w[2], ==, 2);
    guest_ram_destroy(&ram);
}

/* A ROM-like region: direct reads while `on`, from its 8 KiB buffer. */
typedef struct Rom {
    uint8_t bytes[8192];
    bool on;
} Rom;

static uint64_t rom_read(void *o, uint64_t off, unsigned size)
{
    return ((Rom *)o)->bytes[off];
}

static const uint8_t *rom_direct(void *o, uint64_t off)
{
    Rom *r = o;

    return r->on ? r->bytes + off : NULL;
}

static const IoRegionOps rom_ops = { .read = rom_read, .direct = rom_direct };

static void test_bus_direct_page(void)
{
    IoBus bus;
    static Rom rom;
    Dev a = { 0 };
    bool is_rom = false;

    iobus_init(&bus, "mmio", IOBUS_MEMORY);
    g_assert_true(iobus_add(&bus, 0x10000, sizeof(rom.bytes), &rom_ops, &rom, "rom", NULL));
    g_assert_true(iobus_add(&bus, 0x20000, 0x1000, &dev_ops, &a, "dev", NULL));
    g_assert_true(iobus_add(&bus, 0x30000, 0x800, &rom_ops, &rom, "half", NULL));
    rom.on = true;
    /* the page holding the address, whichever byte of it is asked */
    g_assert_true(iobus_direct_page(&bus, 0x10000, &is_rom) == rom.bytes);
    g_assert_true(is_rom);
    g_assert_true(iobus_direct_page(&bus, 0x11FFF, NULL) == rom.bytes + 0x1000);
    /* switched off: reads must go through read(), but it is still ROM */
    rom.on = false;
    g_assert_null(iobus_direct_page(&bus, 0x10010, &is_rom));
    g_assert_true(is_rom);
    rom.on = true;
    /* plain devices, nothing, and a region smaller than a page have none */
    g_assert_null(iobus_direct_page(&bus, 0x20000, &is_rom));
    g_assert_false(is_rom);
    g_assert_null(iobus_direct_page(&bus, 0x50000, &is_rom));
    g_assert_false(is_rom);
    g_assert_null(iobus_direct_page(&bus, 0x30000, NULL));
    iobus_destroy(&bus);
}

static void test_bus_dispatch(void)
{
    IoBus bus;
    Dev a = { 0 }, b = { 0 };
    uint32_t v = 0;
    uint64_t w = 0x1122334455667788ULL;
    g_autoptr(GError) err = NULL;

    iobus_init(&bus, "test", IOBUS_PORTS);
    g_assert_true(iobus_add(&bus, 0x3f8, 8, &dev_ops, &a, "a", NULL));
    g_assert_true(iobus_add(&bus, 0x100, 0x10, &dev_ops, &b, "b", NULL));
    g_assert_true(iobus_read(&bus, 0x3fd, &v, 2));
    g_assert_cmphex(v, ==, 0x1105);
    g_assert_true(iobus_write(&bus, 0x108, &w, 8));
    g_assert_cmpuint(b.last_offset, ==, 8);
    g_assert_cmphex(b.last_value, ==, w);
    g_assert_cmpuint(b.last_size, ==, 8);
    /* An access straddling the region end is unassigned: all ones on ports, dropped. */
    v = 0;
    g_assert_false(iobus_read(&bus, 0x3fe, &v, 4));
    g_assert_cmphex(v, ==, 0xffffffff);
    /* A memory bus reads 0 where nothing is mapped (QEMU's unassigned memory). */
    {
        IoBus mem;
        uint64_t q = ~0ULL;

        iobus_init(&mem, "mmio", IOBUS_MEMORY);
        g_assert_false(iobus_read(&mem, 0xf0000000, &q, 8));
        g_assert_cmphex(q, ==, 0);
        iobus_destroy(&mem);
    }
    g_assert_false(iobus_write(&bus, 0x10e, &w, 4));
    g_assert_cmpuint(b.writes, ==, 1);
    /* Bad sizes never reach a device. */
    g_assert_false(iobus_write(&bus, 0x100, &w, 3));
    /* Overlaps are refused with a message naming both regions. */
    g_assert_false(iobus_add(&bus, 0x3fc, 8, &dev_ops, &a, "c", &err));
    g_assert_nonnull(strstr(err->message, "'a'"));
    g_assert_false(iobus_add(&bus, 0, 0, &dev_ops, &a, "empty", NULL));
    g_assert_false(iobus_add(&bus, UINT64_MAX - 1, 4, &dev_ops, &a, "wrap", NULL));
    g_assert_true(iobus_remove(&bus, 0x3f8));
    g_assert_false(iobus_remove(&bus, 0x3f8));
    g_assert_false(iobus_read(&bus, 0x3f8, &v, 1));
    iobus_destroy(&bus);
}

/* Reads and resets an eventfd's counter; 0 when it was not signalled. */
static uint64_t drain(int fd)
{
    uint64_t n = 0;

    return read(fd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

/* KVM_IOEVENTFD's matching, done by the bus (the emu accelerator's ioeventfds). */
static void test_bus_eventfd(void)
{
    IoBus bus;
    Dev d = { 0 };
    int fd0 = eventfd(0, EFD_NONBLOCK), fd1 = eventfd(0, EFD_NONBLOCK);
    IoEventfd q0 = { .addr = 0x1000, .size = 4, .datamatch = true, .data = 0, .fd = fd0 };
    IoEventfd any = { .addr = 0x1004, .size = 2, .fd = fd1 };
    uint32_t v = 0;
    g_autoptr(GError) err = NULL;

    iobus_init(&bus, "mmio", IOBUS_MEMORY);
    g_assert_true(iobus_add(&bus, 0x1000, 0x10, &dev_ops, &d, "d", NULL));
    g_assert_true(iobus_add_eventfd(&bus, &q0, NULL));
    g_assert_true(iobus_add_eventfd(&bus, &any, NULL));
    /* The matching write signals and never reaches the device. */
    g_assert_true(iobus_write(&bus, 0x1000, &v, 4));
    g_assert_cmpuint(drain(fd0), ==, 1);
    g_assert_cmpuint(d.writes, ==, 0);
    g_assert_cmpuint(bus.eventfd_hits, ==, 1);
    /* Another value, another size or another address goes to the device. */
    v = 1;
    g_assert_true(iobus_write(&bus, 0x1000, &v, 4));
    v = 0;
    g_assert_true(iobus_write(&bus, 0x1000, &v, 2));
    g_assert_true(iobus_write(&bus, 0x1008, &v, 4));
    g_assert_cmpuint(d.writes, ==, 3);
    g_assert_cmpuint(drain(fd0), ==, 0);
    /* Without datamatch any value of the right size matches; reads are never matched. */
    v = 0xbeef;
    g_assert_true(iobus_write(&bus, 0x1004, &v, 2));
    g_assert_true(iobus_read(&bus, 0x1004, &v, 2));
    g_assert_cmpuint(drain(fd1), ==, 1);
    g_assert_cmpuint(d.writes, ==, 3);
    /* The same trigger twice is refused (KVM's EEXIST); another value is another trigger. */
    g_assert_false(iobus_add_eventfd(&bus, &q0, &err));
    g_assert_nonnull(strstr(err->message, "already registered"));
    {
        IoEventfd q1 = q0, bad = q0;

        q1.data = 1;
        g_assert_true(iobus_add_eventfd(&bus, &q1, NULL));
        iobus_remove_eventfd(&bus, &q1);
        bad.size = 3;
        g_assert_false(iobus_add_eventfd(&bus, &bad, NULL));
        bad.size = 0;           /* any size cannot match data */
        g_assert_false(iobus_add_eventfd(&bus, &bad, NULL));
    }
    /* Removal needs the same fd; afterwards the device sees the write again. */
    {
        IoEventfd other = q0;

        other.fd = fd1;
        iobus_remove_eventfd(&bus, &other);
        g_assert_cmpuint(bus.eventfds->len, ==, 2);
    }
    iobus_remove_eventfd(&bus, &q0);
    iobus_remove_eventfd(&bus, &any);
    g_assert_cmpuint(bus.eventfds->len, ==, 0);
    /* Size 0 (KVM's any-length ioeventfd): a write of any width at the address. */
    {
        IoEventfd wide = { .addr = 0x100c, .size = 0, .fd = fd1 };

        g_assert_true(iobus_add_eventfd(&bus, &wide, NULL));
        g_assert_true(iobus_write(&bus, 0x100c, &v, 2));
        g_assert_true(iobus_write(&bus, 0x100c, &v, 4));
        g_assert_cmpuint(drain(fd1), ==, 2);
        g_assert_true(iobus_write(&bus, 0x100e, &v, 2));    /* not its address */
        g_assert_cmpuint(d.writes, ==, 4);
        iobus_remove_eventfd(&bus, &wide);
    }
    v = 0;
    g_assert_true(iobus_write(&bus, 0x1000, &v, 4));
    g_assert_cmpuint(d.writes, ==, 5);
    g_assert_cmpuint(drain(fd0), ==, 0);
    iobus_destroy(&bus);
    close(fd0);
    close(fd1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/memory/ram/split", test_ram_split_at_hole);
    g_test_add_func("/memory/ram/bounds", test_ram_bounds);
    g_test_add_func("/memory/ram/unpopulated", test_ram_unpopulated);
    g_test_add_func("/memory/ram/code-gen", test_ram_code_gen);
    g_test_add_func("/memory/bus/dispatch", test_bus_dispatch);
    g_test_add_func("/memory/bus/direct-page", test_bus_direct_page);
    g_test_add_func("/memory/bus/eventfd", test_bus_eventfd);
    return g_test_run();
}
