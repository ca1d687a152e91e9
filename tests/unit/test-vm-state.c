/*
 * VM state through the accelerator interface (accel.h vm_get_state /
 * vm_set_state) on emu and qtest, and x86_vm_state_check. The chips'
 * own save/load is checked against a fake clock in test-emu-apic.c; here
 * the machines are real (test_vm_machine_new), the chips are programmed
 * through the port and MMIO buses as a guest would, and time is the
 * host's, so times are compared with slack.
 *
 *  - check: each impossible value is refused with a message naming it.
 *  - emu: a state taken from one VM loads into a fresh one and reads back
 *    the same (PIT elapsed times and the clock only moving forward); its
 *    PIT keeps counting from where it was; a refused state changes nothing.
 *  - qtest: its state is the virtual clock and the GSI levels; the clock
 *    never goes back.
 *  - across: emu -> qtest -> emu keeps the clock and the GSI levels.
 */
#include <string.h>

#include <glib.h>

#include "accel/accel.h"
#include "kvm-test-vm.h"
#include "pio-test.h"
#include "machine.h"
#include "memory.h"
#include "migration/vmstate-x86.h"

#define IOAPIC_BASE 0xFEC00000ULL
#define PIT_HZ      1193182ULL
#define SLACK_NS    (30ULL * 1000 * 1000 * 1000)
#define GUEST_T     (1000ULL * 1000 * 1000 * 1000)     /* 1000 s of guest time */

static void outb(Machine *m, uint16_t port, uint8_t v)
{
    test_pio_outb(&m->pio, port, v);
}

static uint8_t inb(Machine *m, uint16_t port)
{
    return test_pio_inb(&m->pio, port);
}

static void ioapic_write(Machine *m, uint32_t reg, uint32_t v)
{
    g_assert_true(iobus_write(&m->mmio, IOAPIC_BASE, &reg, 4));
    g_assert_true(iobus_write(&m->mmio, IOAPIC_BASE + 0x10, &v, 4));
}

/* false with the error's message in *msg (freed by the caller). */
static bool set_state(Machine *m, const X86VmState *st, char **msg)
{
    GError *err = NULL;
    bool ok;

    machine_lock(m);
    ok = m->accel_ops->vm_set_state(m, st, &err);
    machine_unlock(m);
    g_assert_true(ok == (err == NULL));
    if (msg) {
        *msg = err ? g_strdup(err->message) : NULL;
    }
    g_clear_error(&err);
    return ok;
}

static uint64_t pit_ticks(uint64_t ns)
{
    return ns * PIT_HZ / 1000000000ULL;
}

/* A guest's programming of the PIC pair, IOAPIC and PIT, plus two device lines. */
static void program_chips(Machine *m)
{
    static const uint8_t pic[] = { 0x11, 0x20, 0x04, 0x01, 0xB8 };
    static const uint8_t slave[] = { 0x11, 0x28, 0x02, 0x01, 0x7F };

    for (unsigned i = 0; i < sizeof(pic); i++) {
        outb(m, 0x20 + !!i, pic[i]);
        outb(m, 0xA0 + !!i, slave[i]);
    }
    outb(m, 0x4D0, 0x20);
    outb(m, 0x4D1, 0x0C);
    outb(m, 0x20, 0x0B);
    ioapic_write(m, 0x00, 5u << 24);
    ioapic_write(m, 0x18, 0x18034);            /* pin 4: level, masked */
    ioapic_write(m, 0x22, 0x10039);            /* pin 9: edge, masked */
    machine_lock(m);
    m->accel_ops->set_irq(m, 4, true);
    m->accel_ops->set_irq(m, 10, true);
    machine_unlock(m);
    outb(m, 0x43, 0x34);                       /* channel 0: mode 2, 1000 */
    outb(m, 0x40, 0xE8);
    outb(m, 0x40, 0x03);
    outb(m, 0x43, 0x76);                       /* channel 1: control word only */
    outb(m, 0x61, 0x03);
    outb(m, 0x43, 0xB0);                       /* channel 2: mode 0, 0xFFFF */
    outb(m, 0x42, 0xFF);
    outb(m, 0x42, 0xFF);
}

/*
 * b was taken after a was loaded: equal but for the clock and the PIT's
 * elapsed times, which may only have grown (by less than SLACK_NS), and
 * the IRQ0 request channel 0 may have raised meanwhile.
 */
static void assert_vm_state_later(const X86VmState *a, const X86VmState *b)
{
    X86VmState x = *b;

    g_assert_cmpuint(b->clock_ns, >=, a->clock_ns);
    g_assert_cmpuint(b->clock_ns - a->clock_ns, <, SLACK_NS);
    x.clock_ns = a->clock_ns;
    for (unsigned i = 0; i < 3; i++) {
        g_assert_cmpuint(b->pit.ch[i].elapsed_ns, >=, a->pit.ch[i].elapsed_ns);
        g_assert_cmpuint(b->pit.ch[i].elapsed_ns - a->pit.ch[i].elapsed_ns, <, SLACK_NS);
        x.pit.ch[i].elapsed_ns = a->pit.ch[i].elapsed_ns;
    }
    x.pic[0].irr = (x.pic[0].irr & ~1u) | (a->pic[0].irr & 1u);
    g_assert_cmpmem(a, sizeof(*a), &x, sizeof(x));
}

/* ---- x86_vm_state_check ---- */

typedef struct Reject {
    const char *what;
    void (*spoil)(X86VmState *st);
} Reject;

#define SPOIL(name, stmt) static void name(X86VmState *st) { stmt; }
SPOIL(spoil_version, st->version = 2)
SPOIL(spoil_flags, st->flags |= 0x100)
SPOIL(spoil_clock, st->clock_ns = (uint64_t)INT64_MAX + 1)
SPOIL(spoil_ioapic_id, st->ioapic.id = 16)
SPOIL(spoil_ioapic_irr, st->ioapic.irr = 1u << 24)
SPOIL(spoil_pic_init_state, st->pic[0].init_state = 4)
SPOIL(spoil_pic_irq_base, st->pic[1].irq_base = 0x21)
SPOIL(spoil_pic_priority, st->pic[0].priority_add = 8)
SPOIL(spoil_pic_elcr, st->pic[0].elcr = 0x01)
SPOIL(spoil_pic_bool, st->pic[1].auto_eoi = 2)
SPOIL(spoil_pit_count0, st->pit.ch[0].count = 0)
SPOIL(spoil_pit_count_big, st->pit.ch[1].count = 0x10001)
SPOIL(spoil_pit_mode, st->pit.ch[2].mode = 6)
SPOIL(spoil_pit_rw_mode, st->pit.ch[0].rw_mode = 4)
SPOIL(spoil_pit_read_state, st->pit.ch[1].read_state = 5)
SPOIL(spoil_pit_latched, st->pit.ch[2].count_latched = 4)
SPOIL(spoil_pit_gate, st->pit.ch[2].gate = 2)
SPOIL(spoil_pit_counting, st->pit.ch[0].counting = 3)
SPOIL(spoil_pit_speaker, st->pit.speaker_data_on = 2)

static const Reject rejects[] = {
    { "VM state version 2 is not supported (expected 1)", spoil_version },
    { "invalid VM state: unknown flags 0x100", spoil_flags },
    { "guest clock 9223372036854775808 ns is above INT64_MAX", spoil_clock },
    { "IOAPIC id 16 is above 15", spoil_ioapic_id },
    { "IOAPIC irr 0x1000000 has bits above pin 23", spoil_ioapic_irr },
    { "master PIC init_state 4 is above 3", spoil_pic_init_state },
    { "slave PIC irq_base 0x21 is not a multiple of 8", spoil_pic_irq_base },
    { "master PIC priority_add 8 is above 7", spoil_pic_priority },
    { "master PIC ELCR 0x01 has bits outside its mask 0xf8", spoil_pic_elcr },
    { "slave PIC auto_eoi is 2 (expected 0 or 1)", spoil_pic_bool },
    { "PIT channel 0 count 0x0 is not in 1..0x10000", spoil_pit_count0 },
    { "PIT channel 1 count 0x10001 is not in 1..0x10000", spoil_pit_count_big },
    { "PIT channel 2 mode 6 is not a PIT mode", spoil_pit_mode },
    { "PIT channel 0 rw_mode 4 is above 3", spoil_pit_rw_mode },
    { "PIT channel 1 read/write state 5/3 (at most 4)", spoil_pit_read_state },
    { "PIT channel 2 count_latched 4 is above 3", spoil_pit_latched },
    { "PIT channel 2 gate is 2 (expected 0 or 1)", spoil_pit_gate },
    { "PIT channel 0 counting is 3 (expected 0 or 1)", spoil_pit_counting },
    { "PIT speaker_data_on is 2 (expected 0 or 1)", spoil_pit_speaker },
};

static void test_check_rejects(void)
{
    TestMachine *vm = test_machine_new(&emu_accel_ops);
    X86VmState good;
    GError *err = NULL;

    program_chips(vm->m);
    test_vm_get_state(vm->m, &good);
    g_assert_true(x86_vm_state_check(&good, &err));
    g_assert_no_error(err);
    for (unsigned i = 0; i < G_N_ELEMENTS(rejects); i++) {
        X86VmState bad = good;

        rejects[i].spoil(&bad);
        g_assert_false(x86_vm_state_check(&bad, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, rejects[i].what)) {
            g_error("case %u: \"%s\" does not say \"%s\"", i, err->message, rejects[i].what);
        }
        g_clear_error(&err);
    }
    test_machine_free(vm);
}

/* Parts a state lacks are not checked: their values mean nothing. */
static void test_check_absent_parts(void)
{
    X86VmState st;

    x86_vm_state_init(&st);
    st.pic[0].init_state = 9;
    st.pit.ch[0].count = 0;
    g_assert_true(x86_vm_state_check(&st, NULL));
}

/* ---- emu ---- */

static void test_emu_round_trip(void)
{
    TestMachine *a = test_machine_new(&emu_accel_ops), *b = test_machine_new(&emu_accel_ops);
    X86VmState sa, sb;

    program_chips(a->m);
    g_usleep(5000);
    test_vm_get_state(a->m, &sa);
    g_assert_cmphex(sa.flags, ==, X86_VM_STATE_IRQCHIP | X86_VM_STATE_PIT);
    g_assert_cmpuint(sa.ioapic.id, ==, 5);
    g_assert_cmphex(sa.gsi_level, ==, (1u << 4) | (1u << 10));
    g_assert_cmphex(sa.pic[1].elcr, ==, 0x0C);
    g_assert_cmpuint(sa.pit.ch[0].count, ==, 1000);
    g_assert_cmpuint(sa.pit.ch[1].counting, ==, 0);
    g_assert_cmpuint(sa.pit.ch[2].elapsed_ns, >=, 5000000);
    g_assert_true(set_state(b->m, &sa, NULL));
    test_vm_get_state(b->m, &sb);
    assert_vm_state_later(&sa, &sb);
    test_machine_free(a);
    test_machine_free(b);
}

/*
 * The state as a vmstate section (migration/vmstate-x86.h): an emu state
 * encodes, decodes to the same struct, loads into another VM; a truncated
 * stream and one with an impossible register are refused by the decoder.
 */
static void test_encoded_round_trip(void)
{
    TestMachine *a = test_machine_new(&emu_accel_ops), *b = test_machine_new(&emu_accel_ops);
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    X86VmState sa, sd;
    size_t used = 0;

    program_chips(a->m);
    test_vm_get_state(a->m, &sa);
    g_assert_true(vmstate_save(&vmstate_x86_vm, &sa, out, &err));
    g_assert_no_error(err);
    x86_vm_state_init(&sd);
    g_assert_true(vmstate_load(&vmstate_x86_vm, &sd, out->data, out->len, &used, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(used, ==, out->len);
    g_assert_cmpmem(&sa, sizeof(sa), &sd, sizeof(sd));
    g_assert_true(set_state(b->m, &sd, NULL));
    for (guint cut = 0; cut < out->len; cut += 7) {
        x86_vm_state_init(&sd);
        g_assert_false(vmstate_load(&vmstate_x86_vm, &sd, out->data, cut, &used, &err));
        g_clear_error(&err);
    }
    sa.ioapic.id = 99;
    g_byte_array_set_size(out, 0);
    g_assert_true(vmstate_save(&vmstate_x86_vm, &sa, out, &err));
    g_assert_false(vmstate_load(&vmstate_x86_vm, &sd, out->data, out->len, &used, &err));
    g_assert_nonnull(err);
    test_machine_free(a);
    test_machine_free(b);
}

/*
 * Channel 2 counts on in the new VM from where it was: a count read from
 * the port agrees with the elapsed time a get reports right after (ticks
 * are taken modulo 0x10000: mode 0 wraps), and that time includes the
 * first VM's.
 */
static void test_emu_pit_continues(void)
{
    TestMachine *a = test_machine_new(&emu_accel_ops), *b = test_machine_new(&emu_accel_ops);
    X86VmState sa, sb;
    uint64_t t0, ticks, read_ticks, window;
    unsigned count;

    program_chips(a->m);
    g_usleep(10000);
    test_vm_get_state(a->m, &sa);
    g_assert_true(set_state(b->m, &sa, NULL));
    t0 = g_get_monotonic_time();
    outb(b->m, 0x43, 0x80);
    count = inb(b->m, 0x42);
    count |= (unsigned)inb(b->m, 0x42) << 8;
    test_vm_get_state(b->m, &sb);
    window = pit_ticks((uint64_t)(g_get_monotonic_time() - t0 + 1000) * 1000);
    g_assert_cmpuint(sb.pit.ch[2].elapsed_ns, >=, sa.pit.ch[2].elapsed_ns);
    ticks = pit_ticks(sb.pit.ch[2].elapsed_ns);
    read_ticks = (0xFFFFu - count) & 0xFFFF;
    g_assert_cmpuint((ticks - read_ticks) & 0xFFFF, <=, window + 2);
    test_machine_free(a);
    test_machine_free(b);
}

/* Channel 0 of the new VM raises IRQ0 (in the master PIC's IRR). */
static void test_emu_pit_fires(void)
{
    TestMachine *a = test_machine_new(&emu_accel_ops), *b = test_machine_new(&emu_accel_ops);
    X86VmState st;

    program_chips(a->m);
    test_vm_get_state(a->m, &st);
    st.pic[0].irr &= ~1u;
    g_assert_true(set_state(b->m, &st, NULL));
    g_usleep(3000);                            /* > 1000 ticks */
    test_vm_get_state(b->m, &st);
    g_assert_cmphex(st.pic[0].irr & 1, ==, 1);
    test_machine_free(a);
    test_machine_free(b);
}

/* Refused: by the common check, then by emu's own; the VM reads back as before. */
static void test_emu_set_refused(void)
{
    TestMachine *vm = test_machine_new(&emu_accel_ops);
    X86VmState before, bad, after;
    char *msg = NULL;

    program_chips(vm->m);
    test_vm_get_state(vm->m, &before);
    bad = before;
    bad.pic[0].imr = 0;
    bad.pit.ch[1].mode = 7;
    g_assert_false(set_state(vm->m, &bad, &msg));
    g_assert_nonnull(strstr(msg, "PIT channel 1 mode 7"));
    g_free(msg);
    bad = before;
    bad.ioapic.id = 1;
    bad.gsi_level = 1ULL << 40;
    g_assert_false(set_state(vm->m, &bad, &msg));
    g_assert_cmpstr(msg, ==, "emu: GSI levels 0x10000000000 assert a line above GSI 23");
    g_free(msg);
    test_vm_get_state(vm->m, &after);
    assert_vm_state_later(&before, &after);
    test_machine_free(vm);
}

/* The guest clock continues from the state's, not from this host's. */
static void test_emu_clock(void)
{
    TestMachine *vm = test_machine_new(&emu_accel_ops);
    X86VmState st;

    test_vm_get_state(vm->m, &st);
    st.clock_ns = GUEST_T;
    g_assert_true(set_state(vm->m, &st, NULL));
    test_vm_get_state(vm->m, &st);
    g_assert_cmpuint(st.clock_ns, >=, GUEST_T);
    g_assert_cmpuint(st.clock_ns, <, GUEST_T + SLACK_NS);
    test_machine_free(vm);
}

/* ---- qtest and across accelerators ---- */

static void test_qtest_state(void)
{
    TestMachine *vm = test_machine_new(&qtest_accel_ops);
    X86VmState st;
    char *msg = NULL;

    test_vm_get_state(vm->m, &st);
    g_assert_cmphex(st.flags, ==, 0);
    g_assert_cmpuint(st.clock_ns, ==, 0);
    st.clock_ns = 123456789;
    st.gsi_level = (1ULL << 3) | (1ULL << 40);
    g_assert_true(set_state(vm->m, &st, NULL));
    test_vm_get_state(vm->m, &st);
    g_assert_cmpuint(st.clock_ns, ==, 123456789);
    g_assert_cmphex(st.gsi_level, ==, (1ULL << 3) | (1ULL << 40));
    /* Backwards: refused, nothing changes. */
    st.clock_ns = 1000;
    st.gsi_level = 0;
    g_assert_false(set_state(vm->m, &st, &msg));
    g_assert_cmpstr(msg, ==, "qtest: the virtual clock cannot go back from 123456789 to 1000 ns");
    g_free(msg);
    test_vm_get_state(vm->m, &st);
    g_assert_cmpuint(st.clock_ns, ==, 123456789);
    g_assert_cmphex(st.gsi_level, ==, (1ULL << 3) | (1ULL << 40));
    test_machine_free(vm);
}

/*
 * emu -> qtest -> emu: the clock and the GSI levels go through, the
 * interrupt controllers (which qtest does not have) come back in their
 * power-on state; a GSI emu has no pin for is refused.
 */
static void test_cross_emu_qtest(void)
{
    TestMachine *a = test_machine_new(&emu_accel_ops), *q = test_machine_new(&qtest_accel_ops), *c = test_machine_new(&emu_accel_ops);
    X86VmState sa, sq, sc;
    char *msg = NULL;

    program_chips(a->m);
    test_vm_get_state(a->m, &sa);
    g_assert_true(set_state(q->m, &sa, NULL));
    test_vm_get_state(q->m, &sq);
    g_assert_cmpuint(sq.clock_ns, ==, sa.clock_ns);
    g_assert_cmphex(sq.gsi_level, ==, sa.gsi_level);
    g_assert_cmphex(sq.flags, ==, 0);
    g_assert_true(set_state(c->m, &sq, NULL));
    test_vm_get_state(c->m, &sc);
    g_assert_cmphex(sc.gsi_level, ==, sa.gsi_level);
    g_assert_cmpuint(sc.clock_ns, >=, sq.clock_ns);
    g_assert_cmpuint(sc.clock_ns - sq.clock_ns, <, SLACK_NS);
    g_assert_cmpuint(sc.ioapic.id, ==, 0);
    g_assert_cmphex(sc.ioapic.redir[4], ==, X86_IOAPIC_RTE_MASKED);
    g_assert_cmpuint(sc.pit.ch[0].mode, ==, X86_PIT_MODE_UNSET);
    sq.gsi_level |= 1ULL << 30;
    g_assert_false(set_state(c->m, &sq, &msg));
    g_assert_nonnull(strstr(msg, "above GSI 23"));
    g_free(msg);
    test_machine_free(a);
    test_machine_free(q);
    test_machine_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vm-state/check/rejects", test_check_rejects);
    g_test_add_func("/vm-state/check/absent-parts", test_check_absent_parts);
    g_test_add_func("/vm-state/emu/round-trip", test_emu_round_trip);
    g_test_add_func("/vm-state/emu/encoded-round-trip", test_encoded_round_trip);
    g_test_add_func("/vm-state/emu/pit-continues", test_emu_pit_continues);
    g_test_add_func("/vm-state/emu/pit-fires", test_emu_pit_fires);
    g_test_add_func("/vm-state/emu/set-refused", test_emu_set_refused);
    g_test_add_func("/vm-state/emu/clock", test_emu_clock);
    g_test_add_func("/vm-state/qtest/state", test_qtest_state);
    g_test_add_func("/vm-state/cross/emu-qtest-emu", test_cross_emu_qtest);
    return g_test_run();
}
