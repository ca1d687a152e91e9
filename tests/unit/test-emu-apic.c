/*
 * The emu accelerator's interrupt controllers (LAPIC, IOAPIC, PIC, PIT)
 * driven through their API with a fake clock.
 */
#include <string.h>

#include "accel/emu/emu-apic.h"
#include "pio-test.h"

#define NCPUS 4

#define APIC_ID     0x020
#define APIC_LVR    0x030
#define APIC_TPR    0x080
#define APIC_PPR    0x0A0
#define APIC_EOI    0x0B0
#define APIC_LDR    0x0D0
#define APIC_DFR    0x0E0
#define APIC_SVR    0x0F0
#define APIC_ISR    0x100
#define APIC_TMR    0x180
#define APIC_IRR    0x200
#define APIC_ESR    0x280
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVTT   0x320
#define APIC_LVT0   0x350
#define APIC_LVTE   0x370
#define APIC_TMICT  0x380
#define APIC_TMCCT  0x390
#define APIC_TDCR   0x3E0

typedef struct Fixture Fixture;

typedef struct Waker {
    Fixture *f;
    unsigned cpu;
} Waker;

struct Fixture {
    uint64_t now;                  /* the fake clock, ns */
    EmuApicBus *bus;
    EmuLapic *l[NCPUS];
    Waker wakers[NCPUS];
    gint wakes[NCPUS];             /* waker calls per CPU */
    IoBus pio, mmio;
};

static uint64_t fake_clock(void *opaque)
{
    return ((Fixture *)opaque)->now;
}

static void count_wake(void *opaque)
{
    Waker *w = opaque;
    g_atomic_int_inc(&w->f->wakes[w->cpu]);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    memset(f, 0, sizeof(*f));
    f->bus = emu_apic_bus_new(NCPUS, fake_clock, f);
    g_assert_nonnull(f->bus);
    for (unsigned i = 0; i < NCPUS; i++) {
        f->l[i] = emu_apic_bus_lapic(f->bus, i);
        f->wakers[i] = (Waker) { f, i };
        emu_lapic_set_waker(f->l[i], count_wake, &f->wakers[i]);
    }
    iobus_init(&f->pio, "pio", IOBUS_PORTS);
    iobus_init(&f->mmio, "mmio", IOBUS_MEMORY);
    g_assert_true(emu_pic_pit_register(f->bus, &f->pio, NULL));
    g_assert_true(emu_ioapic_register(f->bus, &f->mmio, NULL));
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    emu_pic_pit_unregister(f->bus, &f->pio);
    iobus_destroy(&f->pio);
    iobus_destroy(&f->mmio);
    emu_apic_bus_free(f->bus);
}

/* ---- helpers ---- */

static bool bank_bit(EmuLapic *l, uint32_t bank, unsigned v)
{
    return (emu_lapic_read(l, bank + 0x10 * (v / 32)) >> (v % 32)) & 1;
}

/* Software-enable, and keep the PIC out as a guest using the IOAPIC does. */
static void enable(EmuLapic *l)
{
    emu_lapic_write(l, APIC_SVR, 0x1FF);
    emu_lapic_write(l, APIC_LVT0, 0x10700);
}

static void send_ipi(EmuLapic *from, uint8_t dest, uint32_t icr)
{
    emu_lapic_write(from, APIC_ICR_HI, (uint32_t)dest << 24);
    emu_lapic_write(from, APIC_ICR_LO, icr);
}

static void fixed(Fixture *f, uint8_t dest, uint8_t vector)
{
    emu_apic_bus_deliver(f->bus, dest, false, EMU_APIC_DM_FIXED, vector, false);
}

static void ioapic_wr(Fixture *f, uint32_t reg, uint32_t val)
{
    emu_ioapic_write(f->bus, 0x00, reg, 4);
    emu_ioapic_write(f->bus, 0x10, val, 4);
}

static uint32_t ioapic_rd(Fixture *f, uint32_t reg)
{
    emu_ioapic_write(f->bus, 0x00, reg, 4);
    return emu_ioapic_read(f->bus, 0x10, 4);
}

static void redir(Fixture *f, unsigned pin, uint32_t low, uint8_t dest)
{
    ioapic_wr(f, 0x11 + 2 * pin, (uint32_t)dest << 24);
    ioapic_wr(f, 0x10 + 2 * pin, low);
}

static void outb(Fixture *f, uint16_t port, uint8_t v)
{
    test_pio_outb(&f->pio, port, v);
}

static uint8_t inb(Fixture *f, uint16_t port)
{
    return test_pio_inb(&f->pio, port);
}

/* A 16-bit count read as two bytes, low first. */
static unsigned in_lohi(Fixture *f, uint16_t port)
{
    unsigned lo = inb(f, port);

    return lo | ((unsigned)inb(f, port) << 8);
}

/* Takes and completes one interrupt, checking its vector. */
static void ack_eoi(EmuLapic *l, int vector)
{
    g_assert_cmpint(emu_lapic_ack(l), ==, vector);
    emu_lapic_write(l, APIC_EOI, 0);
}

/* ---- LAPIC registers ---- */

static void test_lapic_reset_state(Fixture *f, gconstpointer data)
{
    g_assert_cmphex(emu_lapic_read(f->l[0], APIC_ID), ==, 0);
    g_assert_cmphex(emu_lapic_read(f->l[3], APIC_ID), ==, 3u << 24);
    g_assert_cmphex(emu_lapic_read(f->l[1], APIC_LVR), ==, 0x00050014);
    g_assert_cmphex(emu_lapic_get_apic_base(f->l[0]), ==, 0xFEE00900);
    g_assert_cmphex(emu_lapic_get_apic_base(f->l[1]), ==, 0xFEE00800);
    g_assert_true(emu_lapic_is_bsp(f->l[0]));
    g_assert_false(emu_lapic_is_bsp(f->l[1]));
    g_assert_cmphex(emu_lapic_read(f->l[1], APIC_SVR), ==, 0xFF);
    g_assert_cmphex(emu_lapic_read(f->l[1], APIC_DFR), ==, 0xFFFFFFFF);
    for (uint32_t off = APIC_LVTT; off <= APIC_LVTE; off += 0x10) {
        g_assert_cmphex(emu_lapic_read(f->l[1], off), ==, 0x10000);
    }
    /* kvm's quirk: the BSP's LINT0 passes the PIC through from reset. */
    g_assert_cmphex(emu_lapic_read(f->l[0], APIC_LVT0), ==, 0x700);
    g_assert_false(emu_lapic_has_events(f->l[0]));
    g_assert_cmpint(emu_lapic_pending_vector(f->l[0]), ==, -1);
    /* Unaligned and out-of-range offsets. */
    g_assert_cmphex(emu_lapic_read(f->l[1], APIC_ID + 4), ==, 0);
    g_assert_cmphex(emu_lapic_read(f->l[1], 0x1000), ==, 0);
    emu_lapic_write(f->l[1], APIC_LVR, 0);
    g_assert_cmphex(emu_lapic_read(f->l[1], APIC_LVR), ==, 0x00050014);
}

static void test_lapic_regs(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[1];

    emu_lapic_write(l, APIC_ID, 0x07123456);
    g_assert_cmphex(emu_lapic_read(l, APIC_ID), ==, 0x07000000);
    emu_lapic_write(l, APIC_LVTT, 0x31);   /* disabled: the mask sticks */
    g_assert_cmphex(emu_lapic_read(l, APIC_LVTT), ==, 0x10031);
    enable(l);
    emu_lapic_write(l, APIC_LVTT, 0xFFFFFFFF);
    g_assert_cmphex(emu_lapic_read(l, APIC_LVTT), ==, 0x700FF);
    emu_lapic_write(l, APIC_LVT0, 0xFFFFFFFF);
    g_assert_cmphex(emu_lapic_read(l, APIC_LVT0), ==, 0x1A7FF);
    emu_lapic_write(l, APIC_SVR, 0xFF);    /* disabling masks every LVT */
    g_assert_cmphex(emu_lapic_read(l, APIC_LVT0) & 0x10000, ==, 0x10000);
    /* ESR: errors show after the next ESR write. */
    enable(l);
    send_ipi(l, 0, 0x4005);
    g_assert_cmphex(emu_lapic_read(l, APIC_ESR), ==, 0);
    emu_lapic_write(l, APIC_ESR, 0);
    g_assert_cmphex(emu_lapic_read(l, APIC_ESR), ==, 0x20);
    emu_lapic_write(l, APIC_ESR, 0);
    g_assert_cmphex(emu_lapic_read(l, APIC_ESR), ==, 0);
    /* IA32_APIC_BASE. */
    g_assert_false(emu_lapic_set_apic_base(l, 0xFEE00C00));   /* x2APIC */
    g_assert_false(emu_lapic_set_apic_base(l, 0xFEE00801));
    g_assert_false(emu_lapic_set_apic_base(l, 1ULL << 45 | 0xFEE00800));
    g_assert_true(emu_lapic_set_apic_base(l, 0xFED00900));    /* BSP bit is read-only */
    g_assert_cmphex(emu_lapic_get_apic_base(l), ==, 0xFED00800);
}

/* ---- IPIs ---- */

static void test_ipi_fixed(Fixture *f, gconstpointer data)
{
    for (unsigned i = 0; i < NCPUS; i++) {
        enable(f->l[i]);
    }
    send_ipi(f->l[0], 1, 0x4041);
    g_assert_true(bank_bit(f->l[1], APIC_IRR, 0x41));
    g_assert_false(bank_bit(f->l[1], APIC_TMR, 0x41));
    g_assert_cmpint(g_atomic_int_get(&f->wakes[1]), ==, 1);
    g_assert_cmpint(g_atomic_int_get(&f->wakes[2]), ==, 0);
    g_assert_true(emu_lapic_has_events(f->l[1]));
    g_assert_false(emu_lapic_has_events(f->l[2]));
    /* Delivery status always reads idle. */
    g_assert_cmphex(emu_lapic_read(f->l[0], APIC_ICR_LO), ==, 0x4041);
    g_assert_cmphex(emu_lapic_read(f->l[0], APIC_ICR_HI), ==, 0x01000000);
    g_assert_cmpint(emu_lapic_pending_vector(f->l[1]), ==, 0x41);
    g_assert_cmpint(emu_lapic_ack(f->l[1]), ==, 0x41);
    g_assert_false(bank_bit(f->l[1], APIC_IRR, 0x41));
    g_assert_true(bank_bit(f->l[1], APIC_ISR, 0x41));
    g_assert_false(emu_lapic_has_events(f->l[1]));
    emu_lapic_write(f->l[1], APIC_EOI, 0);
    g_assert_false(bank_bit(f->l[1], APIC_ISR, 0x41));
}

static void test_ipi_shorthands(Fixture *f, gconstpointer data)
{
    for (unsigned i = 0; i < NCPUS; i++) {
        enable(f->l[i]);
    }
    /* All but self, self, all including self. */
    send_ipi(f->l[0], 0, 0xC4050);
    g_assert_false(bank_bit(f->l[0], APIC_IRR, 0x50));
    for (unsigned i = 1; i < NCPUS; i++) {
        g_assert_true(bank_bit(f->l[i], APIC_IRR, 0x50));
    }
    send_ipi(f->l[2], 0, 0x44060);
    g_assert_true(bank_bit(f->l[2], APIC_IRR, 0x60));
    g_assert_false(bank_bit(f->l[1], APIC_IRR, 0x60));
    send_ipi(f->l[2], 0, 0x84070);
    for (unsigned i = 0; i < NCPUS; i++) {
        g_assert_true(bank_bit(f->l[i], APIC_IRR, 0x70));
    }
    /* Physical broadcast. */
    send_ipi(f->l[3], 0xFF, 0x4080);
    for (unsigned i = 0; i < NCPUS; i++) {
        g_assert_true(bank_bit(f->l[i], APIC_IRR, 0x80));
    }
}

static void test_ipi_rejects(Fixture *f, gconstpointer data)
{
    enable(f->l[0]);
    /* Illegal vector: sender's ESR, nothing delivered. */
    send_ipi(f->l[0], 0, 0x4007);
    emu_lapic_write(f->l[0], APIC_ESR, 0);
    g_assert_cmphex(emu_lapic_read(f->l[0], APIC_ESR), ==, 0x20);
    g_assert_false(bank_bit(f->l[0], APIC_IRR, 7));
    /* Illegal vector arriving from the bus: receiver's ESR. */
    fixed(f, 0, 0x0E);
    emu_lapic_write(f->l[0], APIC_ESR, 0);
    g_assert_cmphex(emu_lapic_read(f->l[0], APIC_ESR), ==, 0x40);
    g_assert_cmpint(emu_lapic_pending_vector(f->l[0]), ==, -1);
    /* A software-disabled LAPIC takes no fixed interrupt. */
    fixed(f, 1, 0x40);
    g_assert_false(bank_bit(f->l[1], APIC_IRR, 0x40));
    /* A hardware-disabled one takes nothing at all. */
    enable(f->l[2]);
    g_assert_true(emu_lapic_set_apic_base(f->l[2], 0xFEE00000));
    fixed(f, 2, 0x40);
    send_ipi(f->l[0], 2, 0x4500);
    g_assert_cmpuint(emu_lapic_take_events(f->l[2], NULL), ==, 0);
    /* Error LVT reports the illegal vector through its own vector. */
    emu_lapic_write(f->l[0], APIC_LVTE, 0xE3);
    fixed(f, 0, 0x01);
    g_assert_cmpint(emu_lapic_pending_vector(f->l[0]), ==, 0xE3);
}

static void test_init_sipi(Fixture *f, gconstpointer data)
{
    uint8_t vec = 0;

    /* SIPI before INIT: the AP is not waiting for one. */
    send_ipi(f->l[0], 1, 0x4608);
    g_assert_cmpuint(emu_lapic_take_events(f->l[1], &vec), ==, 0);
    g_assert_false(emu_lapic_waiting_for_sipi(f->l[1]));

    enable(f->l[1]);
    send_ipi(f->l[0], 1, 0xC500);   /* INIT, level, assert */
    g_assert_true(emu_lapic_has_events(f->l[1]));
    g_assert_cmpint(g_atomic_int_get(&f->wakes[1]), >=, 1);
    g_assert_true(emu_lapic_waiting_for_sipi(f->l[1]));
    g_assert_cmphex(emu_lapic_read(f->l[1], APIC_SVR), ==, 0xFF);   /* INIT state */
    send_ipi(f->l[0], 1, 0x8500);   /* de-assert: ignored */
    g_assert_cmpuint(emu_lapic_take_events(f->l[1], &vec), ==, EMU_LAPIC_EV_INIT);
    g_assert_false(emu_lapic_has_events(f->l[1]));
    g_assert_cmpuint(emu_lapic_take_events(f->l[1], &vec), ==, 0);

    send_ipi(f->l[0], 1, 0x4609);
    g_assert_false(emu_lapic_waiting_for_sipi(f->l[1]));
    send_ipi(f->l[0], 1, 0x460A);   /* the customary second SIPI is dropped */
    g_assert_cmpuint(emu_lapic_take_events(f->l[1], &vec), ==, EMU_LAPIC_EV_SIPI);
    g_assert_cmphex(vec, ==, 0x09);

    /* INIT then SIPI before the AP looks: both, INIT first. */
    send_ipi(f->l[0], 2, 0x4500);
    send_ipi(f->l[0], 2, 0x4610);
    g_assert_cmpuint(emu_lapic_take_events(f->l[2], &vec), ==,
                     EMU_LAPIC_EV_INIT | EMU_LAPIC_EV_SIPI);
    g_assert_cmphex(vec, ==, 0x10);

    /* INIT to the BSP does not make it wait for a SIPI. */
    send_ipi(f->l[1], 0, 0x4500);
    g_assert_false(emu_lapic_waiting_for_sipi(f->l[0]));
    g_assert_cmpuint(emu_lapic_take_events(f->l[0], NULL), ==, EMU_LAPIC_EV_INIT);

    send_ipi(f->l[0], 3, 0x4400);   /* NMI */
    g_assert_cmpuint(emu_lapic_take_events(f->l[3], NULL), ==, EMU_LAPIC_EV_NMI);
}

/* ---- priorities ---- */

static void test_priority_tpr(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[0];

    enable(l);
    fixed(f, 0, 0x35);
    fixed(f, 0, 0x52);
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, 0x52);
    emu_lapic_write(l, APIC_TPR, 0x50);
    g_assert_cmphex(emu_lapic_read(l, APIC_PPR), ==, 0x50);
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, -1);
    g_assert_false(emu_lapic_has_events(l));
    emu_lapic_set_cr8(l, 4);
    g_assert_cmpuint(emu_lapic_get_cr8(l), ==, 4);
    g_assert_cmphex(emu_lapic_read(l, APIC_TPR), ==, 0x40);
    g_assert_true(emu_lapic_has_events(l));
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x52);
    /* In service 0x52 raises PPR to its class. */
    g_assert_cmphex(emu_lapic_read(l, APIC_PPR), ==, 0x50);
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, -1);
    fixed(f, 0, 0x61);   /* a higher class nests */
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, 0x61);
    ack_eoi(l, 0x61);
    g_assert_true(bank_bit(l, APIC_ISR, 0x52));
    emu_lapic_write(l, APIC_EOI, 0);
    g_assert_false(bank_bit(l, APIC_ISR, 0x52));
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, -1);   /* 0x35 <= TPR 0x40 */
    emu_lapic_set_cr8(l, 0);
    ack_eoi(l, 0x35);
    g_assert_cmpint(emu_lapic_ack(l), ==, -1);
    /* Disabling the LAPIC holds pending interrupts back. */
    fixed(f, 0, 0x90);
    emu_lapic_write(l, APIC_SVR, 0xFF);
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, -1);
    enable(l);
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, 0x90);
}

static void test_logical_dest(Fixture *f, gconstpointer data)
{
    for (unsigned i = 0; i < NCPUS; i++) {
        enable(f->l[i]);
        emu_lapic_write(f->l[i], APIC_LDR, (1u << i) << 24);
    }
    emu_apic_bus_deliver(f->bus, 0x02, true, EMU_APIC_DM_FIXED, 0x40, false);
    emu_apic_bus_deliver(f->bus, 0x05, true, EMU_APIC_DM_FIXED, 0x41, false);
    emu_apic_bus_deliver(f->bus, 0xFF, true, EMU_APIC_DM_FIXED, 0x42, false);
    emu_apic_bus_deliver(f->bus, 0x0C, true, EMU_APIC_DM_LOWEST, 0x43, false);
    for (unsigned i = 0; i < NCPUS; i++) {
        g_assert_cmpint(bank_bit(f->l[i], APIC_IRR, 0x40), ==, i == 1);
        g_assert_cmpint(bank_bit(f->l[i], APIC_IRR, 0x41), ==, i == 0 || i == 2);
        g_assert_true(bank_bit(f->l[i], APIC_IRR, 0x42));
        g_assert_cmpint(bank_bit(f->l[i], APIC_IRR, 0x43), ==, i == 2);
    }
    /* A logical IPI and a logical IOAPIC route. */
    send_ipi(f->l[0], 0x08, 0x4844);
    g_assert_true(bank_bit(f->l[3], APIC_IRR, 0x44));
    g_assert_false(bank_bit(f->l[0], APIC_IRR, 0x44));
    redir(f, 3, 0x845, 0x06);
    emu_ioapic_set_irq(f->bus, 3, true);
    for (unsigned i = 0; i < NCPUS; i++) {
        g_assert_cmpint(bank_bit(f->l[i], APIC_IRR, 0x45), ==, i == 1 || i == 2);
    }
    /* Cluster model: cluster in LDR[31:28], members in LDR[27:24]. */
    const uint32_t ldr[NCPUS] = { 0x11, 0x12, 0x21, 0x22 };
    for (unsigned i = 0; i < NCPUS; i++) {
        emu_lapic_write(f->l[i], APIC_DFR, 0x0FFFFFFF);
        emu_lapic_write(f->l[i], APIC_LDR, ldr[i] << 24);
    }
    g_assert_cmphex(emu_lapic_read(f->l[0], APIC_DFR), ==, 0x0FFFFFFF);
    emu_apic_bus_deliver(f->bus, 0x13, true, EMU_APIC_DM_FIXED, 0x50, false);
    emu_apic_bus_deliver(f->bus, 0x22, true, EMU_APIC_DM_FIXED, 0x51, false);
    for (unsigned i = 0; i < NCPUS; i++) {
        g_assert_cmpint(bank_bit(f->l[i], APIC_IRR, 0x50), ==, i < 2);
        g_assert_cmpint(bank_bit(f->l[i], APIC_IRR, 0x51), ==, i == 3);
    }
}

/* ---- IOAPIC ---- */

static void test_ioapic_regs(Fixture *f, gconstpointer data)
{
    uint32_t v = 0;

    g_assert_cmphex(ioapic_rd(f, 0), ==, 0);
    g_assert_cmphex(ioapic_rd(f, 1), ==, 0x00170020);
    g_assert_cmphex(ioapic_rd(f, 2), ==, 0);
    g_assert_cmphex(ioapic_rd(f, 3), ==, 0xFFFFFFFF);
    g_assert_cmphex(ioapic_rd(f, 0x10 + 2 * 23), ==, 0x10000);
    g_assert_cmphex(ioapic_rd(f, 0x10 + 2 * 24), ==, 0xFFFFFFFF);
    ioapic_wr(f, 0, 0x0A000000);
    g_assert_cmphex(ioapic_rd(f, 0), ==, 0x0A000000);
    ioapic_wr(f, 1, 0);
    g_assert_cmphex(ioapic_rd(f, 1), ==, 0x00170020);
    /* Delivery status and Remote IRR are read-only; reserved bits drop. */
    ioapic_wr(f, 0x12, 0xFFFFFFFF);
    g_assert_cmphex(ioapic_rd(f, 0x12), ==, 0x1AFFF);
    ioapic_wr(f, 0x13, 0xFFFFFFFF);
    g_assert_cmphex(ioapic_rd(f, 0x13), ==, 0xFF000000);
    /* Odd sizes and unaligned offsets. */
    emu_ioapic_write(f->bus, 0, 0x01, 2);
    g_assert_cmphex(emu_ioapic_read(f->bus, 0, 4), ==, 0x13);
    g_assert_cmphex(emu_ioapic_read(f->bus, 0, 1), ==, 0);
    g_assert_cmphex(emu_ioapic_read(f->bus, 0x11, 4), ==, 0);
    emu_ioapic_write(f->bus, 0x04, 0x01, 4);
    g_assert_cmphex(emu_ioapic_read(f->bus, 0, 4), ==, 0x13);
    /* Through the MMIO bus at 0xFEC00000. */
    emu_ioapic_write(f->bus, 0, 1, 4);
    g_assert_true(iobus_read(&f->mmio, EMU_IOAPIC_BASE + 0x10, &v, 4));
    g_assert_cmphex(v, ==, 0x00170020);
}

static void test_ioapic_level_eoi(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[0];

    enable(l);
    redir(f, 9, 0x8049, 0);   /* level, fixed, physical 0 */
    emu_ioapic_set_irq(f->bus, 9, true);
    g_assert_true(bank_bit(l, APIC_IRR, 0x49));
    g_assert_true(bank_bit(l, APIC_TMR, 0x49));
    g_assert_cmphex(ioapic_rd(f, 0x10 + 18) & 0x4000, ==, 0x4000);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x49);
    /* Still asserted, but Remote IRR holds it back until the EOI. */
    emu_ioapic_set_irq(f->bus, 9, true);
    g_assert_false(bank_bit(l, APIC_IRR, 0x49));
    emu_lapic_write(l, APIC_EOI, 0);
    g_assert_true(bank_bit(l, APIC_IRR, 0x49));
    g_assert_cmphex(ioapic_rd(f, 0x10 + 18) & 0x4000, ==, 0x4000);
    /* Deasserted before the EOI: no more deliveries. */
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x49);
    emu_ioapic_set_irq(f->bus, 9, false);
    emu_lapic_write(l, APIC_EOI, 0);
    g_assert_false(bank_bit(l, APIC_IRR, 0x49));
    g_assert_cmphex(ioapic_rd(f, 0x10 + 18) & 0x4000, ==, 0);
    /* The IOAPIC's own EOI register (version 0x20) does the same. */
    emu_ioapic_set_irq(f->bus, 9, true);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x49);
    emu_ioapic_write(f->bus, 0x40, 0x49, 4);
    g_assert_true(bank_bit(l, APIC_IRR, 0x49));
    /* Active low: the line idles high. */
    redir(f, 7, 0xA057, 0);
    g_assert_true(bank_bit(l, APIC_IRR, 0x57));
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x57);
    emu_ioapic_set_irq(f->bus, 7, true);
    emu_lapic_write(l, APIC_EOI, 0);
    g_assert_false(bank_bit(l, APIC_IRR, 0x57));
}

static void test_ioapic_edge_mask(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[1];

    enable(l);
    redir(f, 4, 0x34, 1);
    emu_ioapic_set_irq(f->bus, 4, true);
    g_assert_true(bank_bit(l, APIC_IRR, 0x34));
    g_assert_false(bank_bit(l, APIC_TMR, 0x34));
    g_assert_cmpint(g_atomic_int_get(&f->wakes[1]), ==, 1);
    ack_eoi(l, 0x34);
    emu_ioapic_set_irq(f->bus, 4, true);   /* no new edge */
    g_assert_false(bank_bit(l, APIC_IRR, 0x34));
    emu_ioapic_set_irq(f->bus, 4, false);
    emu_ioapic_set_irq(f->bus, 4, true);
    g_assert_true(bank_bit(l, APIC_IRR, 0x34));
    ack_eoi(l, 0x34);

    /* A masked edge is lost, also across the unmask. */
    redir(f, 5, 0x10035, 1);
    emu_ioapic_set_irq(f->bus, 5, true);
    g_assert_false(bank_bit(l, APIC_IRR, 0x35));
    redir(f, 5, 0x35, 1);
    g_assert_false(bank_bit(l, APIC_IRR, 0x35));
    emu_ioapic_set_irq(f->bus, 5, false);
    emu_ioapic_set_irq(f->bus, 5, true);
    g_assert_true(bank_bit(l, APIC_IRR, 0x35));
    /* A masked level line fires when unmasked. */
    redir(f, 6, 0x18036, 1);
    emu_ioapic_set_irq(f->bus, 6, true);
    g_assert_false(bank_bit(l, APIC_IRR, 0x36));
    redir(f, 6, 0x8036, 1);
    g_assert_true(bank_bit(l, APIC_IRR, 0x36));
    /* Pins past 23 do not exist. */
    emu_ioapic_set_irq(f->bus, 24, true);
    emu_ioapic_set_irq(f->bus, UINT32_MAX, true);
}

static void test_ioapic_other_modes(Fixture *f, gconstpointer data)
{
    redir(f, 10, 0x400, 2);   /* NMI */
    emu_ioapic_set_irq(f->bus, 10, true);
    g_assert_cmpuint(emu_lapic_take_events(f->l[2], NULL), ==, EMU_LAPIC_EV_NMI);
    redir(f, 11, 0x500, 3);   /* INIT */
    emu_ioapic_set_irq(f->bus, 11, true);
    g_assert_cmpuint(emu_lapic_take_events(f->l[3], NULL), ==, EMU_LAPIC_EV_INIT);
    redir(f, 12, 0x200, 3);   /* SMI: ignored */
    emu_ioapic_set_irq(f->bus, 12, true);
    g_assert_cmpuint(emu_lapic_take_events(f->l[3], NULL), ==, 0);
}

/* ---- LAPIC timer ---- */

static void test_timer_oneshot(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[0];

    enable(l);
    f->now = 1000;
    emu_lapic_write(l, APIC_TDCR, 0x1);   /* divide by 4 */
    emu_lapic_write(l, APIC_LVTT, 0x30);
    emu_lapic_write(l, APIC_TMICT, 1000);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, 5000);
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMICT), ==, 1000);
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMCCT), ==, 1000);
    f->now = 1400;
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMCCT), ==, 900);
    f->now = 4999;
    emu_lapic_timer_poll(l);
    g_assert_false(bank_bit(l, APIC_IRR, 0x30));
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMCCT), ==, 1);
    f->now = 5000;
    emu_lapic_timer_poll(l);
    g_assert_true(bank_bit(l, APIC_IRR, 0x30));
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, UINT64_MAX);
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMCCT), ==, 0);
    ack_eoi(l, 0x30);
    /* Masked: it counts down but raises nothing. */
    emu_lapic_write(l, APIC_LVTT, 0x10030);
    emu_lapic_write(l, APIC_TMICT, 10);
    f->now += 40;
    emu_lapic_timer_poll(l);
    g_assert_false(bank_bit(l, APIC_IRR, 0x30));
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, UINT64_MAX);
    /* Writing 0 stops it. */
    emu_lapic_write(l, APIC_TMICT, 10);
    emu_lapic_write(l, APIC_TMICT, 0);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, UINT64_MAX);
}

static void test_timer_periodic(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[2];

    enable(l);
    emu_lapic_write(l, APIC_TDCR, 0xB);   /* divide by 1 */
    emu_lapic_write(l, APIC_LVTT, 0x20031);
    emu_lapic_write(l, APIC_TMICT, 500);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, 500);
    f->now = 500;
    emu_lapic_timer_poll(l);
    g_assert_true(bank_bit(l, APIC_IRR, 0x31));
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, 1000);
    f->now = 700;
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMCCT), ==, 300);
    ack_eoi(l, 0x31);
    /* Late poll: one interrupt, next deadline on the original grid. */
    f->now = 3200;
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMCCT), ==, 300);
    emu_lapic_timer_poll(l);
    g_assert_true(bank_bit(l, APIC_IRR, 0x31));
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, 3500);
    ack_eoi(l, 0x31);
    /* Halving the rate keeps the current count: 200 ticks of 2 ns. */
    f->now = 3300;
    emu_lapic_write(l, APIC_TDCR, 0x0);
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMCCT), ==, 200);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, 3700);
    f->now = 3700;
    emu_lapic_timer_poll(l);
    g_assert_true(bank_bit(l, APIC_IRR, 0x31));
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, 4700);
    /* A mode switch disarms. */
    emu_lapic_write(l, APIC_LVTT, 0x31);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, UINT64_MAX);
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMICT), ==, 0);
}

static void test_timer_dividers(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[1];

    enable(l);
    emu_lapic_write(l, APIC_LVTT, 0x40);
    for (unsigned enc = 0; enc < 8; enc++) {
        uint32_t dcr = (enc & 3) | ((enc & 4) << 1);
        uint64_t div = enc == 7 ? 1 : 2u << enc;

        f->now = 10000 * (enc + 1);
        emu_lapic_write(l, APIC_TDCR, dcr);
        g_assert_cmphex(emu_lapic_read(l, APIC_TDCR), ==, dcr);
        emu_lapic_write(l, APIC_TMICT, 100);
        g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, f->now + 100 * div);
        f->now += 10 * div;
        g_assert_cmpuint(emu_lapic_read(l, APIC_TMCCT), ==, 90);
    }
}

static void test_timer_tsc_deadline(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[0];

    enable(l);
    emu_lapic_set_tsc_deadline(l, 5000);   /* not in TSC-deadline mode: ignored */
    g_assert_cmpuint(emu_lapic_get_tsc_deadline(l), ==, 0);
    emu_lapic_write(l, APIC_LVTT, 0x40032);
    emu_lapic_write(l, APIC_TMICT, 10);    /* ignored in this mode */
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMICT), ==, 0);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, UINT64_MAX);
    emu_lapic_set_tsc_deadline(l, 5000);
    g_assert_cmpuint(emu_lapic_get_tsc_deadline(l), ==, 5000);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, 5000 * 1000000ULL / EMU_TSC_KHZ);
    f->now = 4999;
    emu_lapic_timer_poll(l);
    g_assert_false(bank_bit(l, APIC_IRR, 0x32));
    g_assert_cmpuint(emu_lapic_read(l, APIC_TMCCT), ==, 0);
    f->now = 5000;
    emu_lapic_timer_poll(l);
    g_assert_true(bank_bit(l, APIC_IRR, 0x32));
    g_assert_cmpuint(emu_lapic_get_tsc_deadline(l), ==, 0);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, UINT64_MAX);
    /* Writing 0 disarms; a past deadline fires at once. */
    emu_lapic_set_tsc_deadline(l, 9000);
    emu_lapic_set_tsc_deadline(l, 0);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, UINT64_MAX);
    ack_eoi(l, 0x32);
    emu_lapic_set_tsc_deadline(l, 100);
    emu_lapic_timer_poll(l);
    g_assert_true(bank_bit(l, APIC_IRR, 0x32));
    ack_eoi(l, 0x32);
    /* A guest TSC 1000 behind the clock: its deadline comes 1000 ns later. */
    emu_lapic_set_tsc_deadline(l, 8000);
    emu_lapic_set_tsc_offset(l, -1000);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, 9000);
    emu_lapic_set_tsc_offset(l, 1000000);
    g_assert_cmpuint(emu_lapic_timer_deadline(l), ==, 0);
}

/* ---- PIC ---- */

static void pic_init(Fixture *f, uint8_t master_icw4, uint8_t master_imr, uint8_t slave_imr)
{
    outb(f, 0x20, 0x11);
    outb(f, 0x21, 0x20);
    outb(f, 0x21, 0x04);
    outb(f, 0x21, master_icw4);
    outb(f, 0xA0, 0x11);
    outb(f, 0xA1, 0x28);
    outb(f, 0xA1, 0x02);
    outb(f, 0xA1, 0x01);
    outb(f, 0x21, master_imr);
    outb(f, 0xA1, slave_imr);
}

static uint8_t pic_isr(Fixture *f, uint16_t port)
{
    outb(f, port, 0x0B);
    return inb(f, port);
}

static void test_pic_extint(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[0];

    pic_init(f, 0x01, 0xFA, 0xFB);   /* IRQ0, IRQ2 and IRQ10 open */
    g_assert_cmphex(inb(f, 0x21), ==, 0xFA);
    emu_ioapic_set_irq(f->bus, 0, true);
    g_assert_true(emu_lapic_has_events(l));
    g_assert_cmpint(g_atomic_int_get(&f->wakes[0]), ==, 1);
    g_assert_false(emu_lapic_has_events(f->l[1]));
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, 0x20);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x20);
    g_assert_cmphex(pic_isr(f, 0x20), ==, 0x01);
    outb(f, 0x20, 0x0A);
    g_assert_cmphex(inb(f, 0x20), ==, 0);   /* edge: IRR cleared by INTA */
    /* A new edge while IR0 is in service waits for the EOI. */
    emu_ioapic_set_irq(f->bus, 0, false);
    emu_ioapic_set_irq(f->bus, 0, true);
    g_assert_false(emu_lapic_has_events(l));
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, -1);
    outb(f, 0x20, 0x20);
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, 0x20);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x20);
    outb(f, 0x20, 0x60);   /* specific EOI, IR0 */
    g_assert_cmphex(pic_isr(f, 0x20), ==, 0);

    /* Slave IRQ 10 through the cascade. */
    emu_ioapic_set_irq(f->bus, 10, true);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x2A);
    g_assert_cmphex(pic_isr(f, 0x20), ==, 0x04);
    g_assert_cmphex(pic_isr(f, 0xA0), ==, 0x04);
    outb(f, 0xA0, 0x20);
    outb(f, 0x20, 0x20);
    g_assert_cmphex(pic_isr(f, 0x20), ==, 0);

    /* LINT0 masked: the PIC no longer reaches the CPU. */
    emu_ioapic_set_irq(f->bus, 0, false);
    emu_ioapic_set_irq(f->bus, 0, true);
    emu_lapic_write(l, APIC_LVT0, 0x10700);
    g_assert_false(emu_lapic_has_events(l));
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, -1);
    g_assert_cmpint(emu_lapic_ack(l), ==, -1);
}

static void test_pic_level_spurious(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[0];

    pic_init(f, 0x01, 0xF2, 0xF3);   /* IRQ0, 2, 3 and 10, 11 open */
    outb(f, 0x4D0, 0xFF);
    outb(f, 0x4D1, 0xFF);
    g_assert_cmphex(inb(f, 0x4D0), ==, 0xF8);
    g_assert_cmphex(inb(f, 0x4D1), ==, 0xDE);
    /* Level IRQ3 stays requested until its line drops. */
    emu_ioapic_set_irq(f->bus, 3, true);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x23);
    outb(f, 0x20, 0x20);
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, 0x23);
    emu_ioapic_set_irq(f->bus, 3, false);
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, -1);
    /* A slave request gone before INTA: spurious IRQ15. */
    emu_ioapic_set_irq(f->bus, 11, true);
    emu_ioapic_set_irq(f->bus, 11, false);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x2F);
    g_assert_cmphex(pic_isr(f, 0xA0), ==, 0);
    outb(f, 0x20, 0x20);
    /* Poll command: bit 7 and the IR. */
    emu_ioapic_set_irq(f->bus, 0, true);
    outb(f, 0x20, 0x0C);
    g_assert_cmphex(inb(f, 0x20), ==, 0x80);
    outb(f, 0x20, 0x0C);
    g_assert_cmphex(inb(f, 0x20), ==, 0x07);
    outb(f, 0x20, 0x20);
    /* Auto-EOI leaves nothing in service. */
    pic_init(f, 0x03, 0xFA, 0xFF);
    emu_ioapic_set_irq(f->bus, 0, false);
    emu_ioapic_set_irq(f->bus, 0, true);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x20);
    g_assert_cmphex(pic_isr(f, 0x20), ==, 0);
}

/* ExtINT redirected by the IOAPIC: the vector comes from the PIC's INTA. */
static void test_ioapic_extint(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[1];

    pic_init(f, 0x01, 0xFB, 0xBF);   /* IRQ2 and IRQ14 open */
    redir(f, 14, 0x700, 1);
    emu_ioapic_set_irq(f->bus, 14, true);
    g_assert_true(emu_lapic_has_events(l));
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, 0x2E);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x2E);
    g_assert_false(emu_lapic_has_events(l));
    g_assert_cmpint(emu_lapic_pending_vector(l), ==, -1);
    g_assert_cmphex(pic_isr(f, 0xA0), ==, 0x40);
}

/* ---- PIT ---- */

static uint64_t pit_ns(uint64_t ticks)
{
    return (ticks * 1000000000ULL + EMU_PIT_HZ - 1) / EMU_PIT_HZ;
}

static void test_pit_mode2(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[0];
    const uint64_t t0 = 1000;
    uint64_t d;

    enable(l);   /* IRQ0 through the IOAPIC only */
    redir(f, 0, 0x30, 0);
    pic_init(f, 0x01, 0xFE, 0xFF);
    g_assert_cmpuint(emu_pit_deadline(f->bus), ==, UINT64_MAX);
    f->now = t0;
    outb(f, 0x43, 0x34);   /* channel 0, lo/hi, mode 2 */
    g_assert_cmpuint(emu_pit_deadline(f->bus), ==, UINT64_MAX);
    outb(f, 0x40, 1193 & 0xFF);
    outb(f, 0x40, 1193 >> 8);
    g_assert_cmpint(g_atomic_int_get(&f->wakes[0]), >=, 1);
    g_assert_cmpuint(emu_pit_deadline(f->bus), ==, t0 + pit_ns(1193));
    f->now = t0 + pit_ns(1193) - 1;
    emu_pit_poll(f->bus);
    g_assert_false(bank_bit(l, APIC_IRR, 0x30));
    f->now = t0 + pit_ns(1193);
    emu_pit_poll(f->bus);
    g_assert_true(bank_bit(l, APIC_IRR, 0x30));
    outb(f, 0x20, 0x0A);
    g_assert_cmphex(inb(f, 0x20), ==, 0x01);   /* and PIC IRQ0 */
    g_assert_cmpuint(emu_pit_deadline(f->bus), ==, t0 + pit_ns(2 * 1193));
    ack_eoi(l, 0x30);
    /* Counter latch: 100 ticks into the second period. */
    f->now = t0 + pit_ns(1193 + 100);
    outb(f, 0x43, 0x00);
    f->now += 1000000;
    g_assert_cmpuint(in_lohi(f, 0x40), ==, 1093);
    /* Five periods late: one interrupt, the next on the original grid. */
    f->now = t0 + pit_ns(7 * 1193) + 5;
    emu_pit_poll(f->bus);
    g_assert_true(bank_bit(l, APIC_IRR, 0x30));
    d = emu_pit_deadline(f->bus);
    g_assert_cmpuint(d, ==, t0 + pit_ns(8 * 1193));
}

/* Mode 0: one interrupt at terminal count. */
static void test_pit_mode0(Fixture *f, gconstpointer data)
{
    EmuLapic *l = f->l[0];

    enable(l);
    redir(f, 0, 0x30, 0);
    f->now = 777;
    outb(f, 0x43, 0x30);
    outb(f, 0x40, 100);
    outb(f, 0x40, 0);
    g_assert_cmpuint(emu_pit_deadline(f->bus), ==, 777 + pit_ns(100));
    f->now += pit_ns(100);
    emu_pit_poll(f->bus);
    g_assert_true(bank_bit(l, APIC_IRR, 0x30));
    g_assert_cmpuint(emu_pit_deadline(f->bus), ==, UINT64_MAX);
    ack_eoi(l, 0x30);
    f->now += pit_ns(100000);
    emu_pit_poll(f->bus);
    g_assert_false(bank_bit(l, APIC_IRR, 0x30));
}

static void test_pit_port61(Fixture *f, gconstpointer data)
{
    uint64_t t0;

    f->now = 123456;
    g_assert_cmphex(inb(f, 0x61) & 0x21, ==, 0);
    outb(f, 0x61, 0x01);   /* gate 2 high, speaker off */
    outb(f, 0x43, 0xB0);   /* channel 2, lo/hi, mode 0 */
    g_assert_cmphex(inb(f, 0x61) & 0x21, ==, 0x01);   /* OUT low after the control word */
    outb(f, 0x42, 100);
    outb(f, 0x42, 0);
    t0 = f->now;
    f->now = t0 + pit_ns(100) - 1;
    g_assert_cmphex(inb(f, 0x61) & 0x20, ==, 0);
    f->now = t0 + pit_ns(100);
    g_assert_cmphex(inb(f, 0x61) & 0x20, ==, 0x20);
    /* Read-back: status of channel 2 only. */
    outb(f, 0x43, 0xE8);
    g_assert_cmphex(inb(f, 0x42), ==, 0xB0);
    /* Read-back: count and status; the status comes first. */
    f->now = t0 + pit_ns(40);
    outb(f, 0x43, 0xC8);
    g_assert_cmphex(inb(f, 0x42), ==, 0x30);
    g_assert_cmpuint(in_lohi(f, 0x42), ==, 60);
    /* LSB-only access mode, mode 2 (written as 110b). */
    outb(f, 0x43, 0x9C);
    outb(f, 0x42, 50);
    f->now += pit_ns(10);
    g_assert_cmpuint(inb(f, 0x42), ==, 40);
    outb(f, 0x43, 0xE8);
    g_assert_cmphex(inb(f, 0x42) & 0x3F, ==, 0x14);
    /* The control port reads nothing useful; a channel-2 deadline does not exist. */
    g_assert_cmphex(inb(f, 0x43), ==, 0xFF);
    g_assert_cmpuint(emu_pit_deadline(f->bus), ==, UINT64_MAX);
}

/* ---- VM state (emu_apic_bus_save / _load) ---- */

/*
 * Every chip in a state a guest can reach: both PICs initialised with
 * masks, ELCR, a rotated priority, an ISR read selected and a level
 * request; IOAPIC id, entries (one level and asserted, one edge), a
 * request on the (masked) slave; PIT channel 0 periodic,
 * channel 1 stopped after its control word, channel 2 one-shot and half
 * way through reading a latched count, the speaker on.
 */
static void program_chips(Fixture *f)
{
    f->now = 1000;
    pic_init(f, 0x01, 0xB8, 0x7F);
    outb(f, 0x4D0, 0x20);
    outb(f, 0x4D1, 0x0C);
    outb(f, 0xA0, 0xC5);               /* OCW2: IR5 lowest priority */
    outb(f, 0x20, 0x0B);               /* OCW3: reads return ISR */
    ioapic_wr(f, 0x00, 7u << 24);
    redir(f, 4, 0x18034, 1);           /* level, masked */
    redir(f, 9, 0x10039, 0);           /* edge, masked */
    emu_ioapic_set_irq(f->bus, 4, true);
    emu_ioapic_set_irq(f->bus, 11, true);
    outb(f, 0x43, 0x34);               /* channel 0: mode 2, 1193 */
    outb(f, 0x40, 1193 & 0xFF);
    outb(f, 0x40, 1193 >> 8);
    outb(f, 0x43, 0x76);               /* channel 1: mode 3, no count yet */
    outb(f, 0x61, 0x03);               /* gate 2, speaker data */
    outb(f, 0x43, 0xB0);               /* channel 2: mode 0, 1000 */
    outb(f, 0x42, 1000 & 0xFF);
    outb(f, 0x42, 1000 >> 8);
    f->now += pit_ns(3 * 1193 + 100);
    outb(f, 0x43, 0x80);               /* latch channel 2 ... */
    g_assert_cmpuint(inb(f, 0x42), ==, (1000 - 3679) & 0xFF);   /* ... and read half */
}

static void save(Fixture *f, X86VmState *st)
{
    x86_vm_state_init(st);
    emu_apic_bus_save(f->bus, st);
}

static void test_vm_state_save(Fixture *f, gconstpointer data)
{
    X86VmState st;

    program_chips(f);
    save(f, &st);
    g_assert_cmphex(st.flags, ==, X86_VM_STATE_IRQCHIP | X86_VM_STATE_PIT);
    g_assert_cmphex(st.gsi_level, ==, (1u << 4) | (1u << 11));
    g_assert_cmpuint(st.ioapic.id, ==, 7);
    g_assert_cmphex(st.ioapic.redir[4], ==, 0x0100000000018034ULL);
    g_assert_cmphex(st.ioapic.redir[9], ==, 0x10039);
    g_assert_cmphex(st.ioapic.irr, ==, 1u << 4);    /* the edge pins hold nothing */
    g_assert_cmphex(st.pic[0].irq_base, ==, 0x20);
    g_assert_cmphex(st.pic[0].imr, ==, 0xB8);
    g_assert_cmphex(st.pic[0].elcr, ==, 0x20);
    g_assert_cmpuint(st.pic[0].read_isr, ==, 1);
    g_assert_cmphex(st.pic[0].irr, ==, 0x11);       /* IRQ0 from the save's poll, GSI 4 */
    g_assert_cmphex(st.pic[1].irr, ==, 0x08);       /* IRQ11, level */
    g_assert_cmpuint(st.pic[1].priority_add, ==, 6);
    g_assert_cmphex(st.pic[1].elcr_mask, ==, 0xDE);
    g_assert_cmpuint(st.pit.ch[0].mode, ==, 2);
    g_assert_cmpuint(st.pit.ch[0].count, ==, 1193);
    g_assert_cmpuint(st.pit.ch[0].counting, ==, 1);
    g_assert_cmpuint(st.pit.ch[0].elapsed_ns, ==, pit_ns(3 * 1193 + 100));
    g_assert_cmpuint(st.pit.ch[1].mode, ==, 3);
    g_assert_cmpuint(st.pit.ch[1].counting, ==, 0);
    g_assert_cmpuint(st.pit.ch[2].count_latched, ==, 2);   /* the high byte is next */
    g_assert_cmpuint(st.pit.ch[2].latched_count, ==, (1000 - 3679) & 0xFFFF);
    g_assert_cmpuint(st.pit.ch[2].gate, ==, 1);
    g_assert_cmpuint(st.pit.speaker_data_on, ==, 1);
}

/* A second bus on another clock gets the state and gives back the same one. */
static void test_vm_state_round_trip(Fixture *f, gconstpointer data)
{
    Fixture g;
    X86VmState a, b;
    GError *err = NULL;

    program_chips(f);
    save(f, &a);
    fixture_setup(&g, NULL);
    g.now = 5000000000ULL;
    g_assert_true(emu_apic_bus_load(g.bus, &a, &err));
    g_assert_no_error(err);
    save(&g, &b);
    g_assert_cmpmem(&a, sizeof(a), &b, sizeof(b));
    /* The guest-visible registers: the half-read latch, the ISR select, the IOAPIC id. */
    g_assert_cmpuint(inb(&g, 0x42), ==, ((1000 - 3679) & 0xFFFF) >> 8);
    g_assert_cmphex(inb(&g, 0x20), ==, 0x00);
    g_assert_cmphex(ioapic_rd(&g, 0x00), ==, 7u << 24);
    g_assert_cmphex(ioapic_rd(&g, 0x18), ==, 0x18034);
    fixture_teardown(&g, NULL);
}

/*
 * The PIT carries on from where it was: channel 0's next expiry is its
 * fourth period counted from the original load, nothing fires at the load
 * (the expiries before it were signalled), channel 2 counts on.
 */
static void test_vm_state_pit_continues(Fixture *f, gconstpointer data)
{
    Fixture g;
    X86VmState st;
    const uint64_t t = 5000000000ULL;
    const uint64_t start = t - pit_ns(3 * 1193 + 100);   /* the load, on g's clock */

    program_chips(f);
    save(f, &st);
    fixture_setup(&g, NULL);
    enable(g.l[0]);
    redir(&g, 0, 0x30, 0);
    g.now = t;
    st.ioapic.redir[0] = 0x30;         /* IRQ0 unmasked, to LAPIC 0 */
    g_assert_true(emu_apic_bus_load(g.bus, &st, NULL));
    g_assert_cmpuint(emu_pit_deadline(g.bus), ==, start + pit_ns(4 * 1193));
    emu_pit_poll(g.bus);
    g_assert_false(bank_bit(g.l[0], APIC_IRR, 0x30));
    g.now = start + pit_ns(4 * 1193);
    emu_pit_poll(g.bus);
    g_assert_true(bank_bit(g.l[0], APIC_IRR, 0x30));
    g_assert_cmpuint(emu_pit_deadline(g.bus), ==, start + pit_ns(5 * 1193));
    g_assert_cmpuint(inb(&g, 0x42), ==, ((1000 - 3679) & 0xFFFF) >> 8);   /* the old latch */
    outb(&g, 0x43, 0x80);
    g_assert_cmpuint(in_lohi(&g, 0x42), ==, (1000 - 4 * 1193) & 0xFFFF);
    fixture_teardown(&g, NULL);
}

/* What emu cannot hold is refused and nothing changes. */
static void test_vm_state_refused(Fixture *f, gconstpointer data)
{
    X86VmState before, bad, after;
    GError *err = NULL;

    program_chips(f);
    save(f, &before);
    bad = before;
    bad.pit.ch[0].count = 7;
    bad.gsi_level |= 1ULL << 30;
    g_assert_false(emu_apic_bus_load(f->bus, &bad, &err));
    g_assert_nonnull(strstr(err->message, "above GSI 23"));
    g_clear_error(&err);
    bad = before;
    bad.pic[0].elcr_mask = 0xFF;
    g_assert_false(emu_apic_bus_load(f->bus, &bad, &err));
    g_assert_nonnull(strstr(err->message, "ELCR mask 0xff"));
    g_clear_error(&err);
    save(f, &after);
    g_assert_cmpmem(&before, sizeof(before), &after, sizeof(after));
}

/* A state without interrupt controllers (qtest's) resets them; the lines stay. */
static void test_vm_state_absent_parts(Fixture *f, gconstpointer data)
{
    X86VmState st;

    program_chips(f);
    x86_vm_state_init(&st);
    st.gsi_level = 1u << 5;
    g_assert_true(emu_apic_bus_load(f->bus, &st, NULL));
    save(f, &st);
    g_assert_cmphex(st.gsi_level, ==, 1u << 5);
    g_assert_cmpuint(st.ioapic.id, ==, 0);
    for (unsigned pin = 0; pin < X86_IOAPIC_PINS; pin++) {
        g_assert_cmphex(st.ioapic.redir[pin], ==, X86_IOAPIC_RTE_MASKED);
    }
    g_assert_cmphex(st.pic[0].imr | st.pic[0].irq_base | st.pic[1].elcr, ==, 0);
    for (unsigned i = 0; i < 3; i++) {
        g_assert_cmpuint(st.pit.ch[i].mode, ==, X86_PIT_MODE_UNSET);
        g_assert_cmpuint(st.pit.ch[i].counting, ==, 0);
        g_assert_cmpuint(st.pit.ch[i].count, ==, 0x10000);
    }
    g_assert_cmpuint(emu_pit_deadline(f->bus), ==, UINT64_MAX);
}

/* ---- hostile input ---- */

static void hostile_lapic(Fixture *f, GRand *r)
{
    for (uint32_t off = 0; off < EMU_LAPIC_SIZE; off += 4) {
        EmuLapic *l = f->l[g_rand_int_range(r, 0, NCPUS)];

        emu_lapic_write(l, off, g_rand_int(r));
        emu_lapic_read(l, off);
        f->now += g_rand_int_range(r, 0, 5000);
        emu_lapic_timer_poll(l);
        if (emu_lapic_has_events(l)) {
            emu_lapic_pending_vector(l);
            emu_lapic_ack(l);
            emu_lapic_take_events(l, NULL);
        }
    }
    for (unsigned i = 0; i < NCPUS; i++) {
        EmuLapic *l = f->l[i];
        uint64_t v = ((uint64_t)g_rand_int(r) << 32) | g_rand_int(r);

        emu_lapic_set_apic_base(l, g_rand_boolean(r) ? v : (v & 0xFFF) | 0xFEE00000);
        emu_lapic_set_tsc_deadline(l, v);
        emu_lapic_set_cr8(l, v);
        emu_lapic_timer_deadline(l);
    }
}

static void hostile_ioapic(Fixture *f, GRand *r)
{
    static const unsigned sizes[] = { 1, 2, 3, 4, 8 };

    for (uint64_t off = 0; off < EMU_IOAPIC_SIZE; off++) {
        unsigned size = sizes[g_rand_int_range(r, 0, G_N_ELEMENTS(sizes))];

        emu_ioapic_write(f->bus, off, g_rand_int(r), size);
        emu_ioapic_read(f->bus, off, size);
        emu_ioapic_write(f->bus, 0, g_rand_int_range(r, 0, 0x50), 4);
        emu_ioapic_write(f->bus, 0x10, g_rand_int(r), 4);
        emu_ioapic_set_irq(f->bus, g_rand_int_range(r, 0, 30), g_rand_boolean(r));
    }
}

static void hostile_ports(Fixture *f, GRand *r)
{
    static const uint16_t ports[] = { 0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1,
                                      0x40, 0x41, 0x42, 0x43, 0x61 };

    for (unsigned i = 0; i < 20000; i++) {
        uint16_t port = ports[g_rand_int_range(r, 0, G_N_ELEMENTS(ports))];
        uint8_t v = g_rand_int(r);

        if (g_rand_boolean(r)) {
            iobus_write(&f->pio, port, &v, 1);
        } else {
            iobus_read(&f->pio, port, &v, 1);
        }
        f->now += g_rand_int_range(r, 0, 100000);
        emu_pit_poll(f->bus);
        emu_pit_deadline(f->bus);
        emu_lapic_ack(f->l[0]);
    }
}

static void test_hostile(Fixture *f, gconstpointer data)
{
    GRand *r = g_rand_new_with_seed(0x5EED);

    for (unsigned round = 0; round < 16; round++) {
        hostile_lapic(f, r);
        hostile_ioapic(f, r);
        hostile_ports(f, r);
        emu_apic_bus_deliver(f->bus, g_rand_int(r), g_rand_boolean(r), g_rand_int(r),
                             g_rand_int(r), g_rand_boolean(r));
    }
    emu_apic_bus_reset(f->bus);
    for (unsigned i = 0; i < NCPUS; i++) {
        emu_lapic_reset(f->l[i], i, i == 0);
        g_assert_cmphex(emu_lapic_read(f->l[i], APIC_LVR), ==, 0x00050014);
    }
    g_assert_cmphex(ioapic_rd(f, 1), ==, 0x00170020);
    g_rand_free(r);
    g_assert_null(emu_apic_bus_new(0, fake_clock, f));
    g_assert_null(emu_apic_bus_new(EMU_APIC_MAX_CPUS + 1, fake_clock, f));
    g_assert_null(emu_apic_bus_lapic(f->bus, NCPUS));
}

/* ---- threads: IPIs, IOAPIC level interrupts and EOIs at the same time ---- */

typedef struct CpuThread {
    Fixture *f;
    unsigned cpu;
    gint *stop;
    unsigned taken;
} CpuThread;

static gpointer cpu_thread(gpointer opaque)
{
    CpuThread *t = opaque;
    EmuLapic *l = t->f->l[t->cpu];

    for (unsigned i = 0; i < 20000; i++) {
        send_ipi(l, (t->cpu + 1) % NCPUS, 0x4040 + t->cpu);
        while (emu_lapic_pending_vector(l) >= 0) {
            emu_lapic_ack(l);
            emu_lapic_write(l, APIC_EOI, 0);
            t->taken++;
        }
        if (t->cpu == 0) {
            emu_pit_poll(t->f->bus);
        }
    }
    while (!g_atomic_int_get(t->stop)) {
        while (emu_lapic_pending_vector(l) >= 0) {
            emu_lapic_ack(l);
            emu_lapic_write(l, APIC_EOI, 0);
            t->taken++;
        }
        g_thread_yield();
    }
    return NULL;
}

static void test_threads(Fixture *f, gconstpointer data)
{
    CpuThread t[NCPUS];
    GThread *th[NCPUS];
    gint stop = 0;

    for (unsigned i = 0; i < NCPUS; i++) {
        enable(f->l[i]);
        emu_lapic_write(f->l[i], APIC_LDR, 0x01000000);
        t[i] = (CpuThread) { f, i, &stop, 0 };
    }
    redir(f, 8, 0x8090, 0x01);   /* level, logical, lowest index of all */
    redir(f, 13, 0x80A1, 0xFF);  /* level, physical broadcast */
    for (unsigned i = 0; i < NCPUS; i++) {
        th[i] = g_thread_new("cpu", cpu_thread, &t[i]);
    }
    for (unsigned i = 0; i < 20000; i++) {
        emu_ioapic_set_irq(f->bus, 8, i & 1);
        emu_ioapic_set_irq(f->bus, 13, (i >> 1) & 1);
        outb(f, 0x43, 0x34);
        outb(f, 0x40, 1);
        outb(f, 0x40, 0);
    }
    emu_ioapic_set_irq(f->bus, 8, false);
    emu_ioapic_set_irq(f->bus, 13, false);
    g_atomic_int_set(&stop, 1);
    for (unsigned i = 0; i < NCPUS; i++) {
        g_thread_join(th[i]);
        /* What arrived after the thread stopped looking. */
        while (emu_lapic_pending_vector(f->l[i]) >= 0) {
            emu_lapic_ack(f->l[i]);
            emu_lapic_write(f->l[i], APIC_EOI, 0);
            t[i].taken++;
        }
        g_assert_cmpuint(t[i].taken, >, 0);
        for (unsigned v = 0x40; v < 0x40 + NCPUS; v++) {
            g_assert_false(bank_bit(f->l[i], APIC_IRR, v));
        }
    }
}

#define ADD(name, fn) g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/emu-apic/lapic/reset-state", test_lapic_reset_state);
    ADD("/emu-apic/lapic/registers", test_lapic_regs);
    ADD("/emu-apic/ipi/fixed", test_ipi_fixed);
    ADD("/emu-apic/ipi/shorthands", test_ipi_shorthands);
    ADD("/emu-apic/ipi/rejects", test_ipi_rejects);
    ADD("/emu-apic/ipi/init-sipi", test_init_sipi);
    ADD("/emu-apic/lapic/priority-tpr", test_priority_tpr);
    ADD("/emu-apic/lapic/logical-dest", test_logical_dest);
    ADD("/emu-apic/ioapic/registers", test_ioapic_regs);
    ADD("/emu-apic/ioapic/level-eoi", test_ioapic_level_eoi);
    ADD("/emu-apic/ioapic/edge-mask", test_ioapic_edge_mask);
    ADD("/emu-apic/ioapic/other-modes", test_ioapic_other_modes);
    ADD("/emu-apic/timer/oneshot", test_timer_oneshot);
    ADD("/emu-apic/timer/periodic", test_timer_periodic);
    ADD("/emu-apic/timer/dividers", test_timer_dividers);
    ADD("/emu-apic/timer/tsc-deadline", test_timer_tsc_deadline);
    ADD("/emu-apic/pic/extint", test_pic_extint);
    ADD("/emu-apic/pic/level-spurious", test_pic_level_spurious);
    ADD("/emu-apic/ioapic/extint", test_ioapic_extint);
    ADD("/emu-apic/pit/mode2", test_pit_mode2);
    ADD("/emu-apic/pit/mode0", test_pit_mode0);
    ADD("/emu-apic/pit/port61", test_pit_port61);
    ADD("/emu-apic/vm-state/save", test_vm_state_save);
    ADD("/emu-apic/vm-state/round-trip", test_vm_state_round_trip);
    ADD("/emu-apic/vm-state/pit-continues", test_vm_state_pit_continues);
    ADD("/emu-apic/vm-state/refused", test_vm_state_refused);
    ADD("/emu-apic/vm-state/absent-parts", test_vm_state_absent_parts);
    ADD("/emu-apic/hostile", test_hostile);
    ADD("/emu-apic/threads", test_threads);
    return g_test_run();
}
