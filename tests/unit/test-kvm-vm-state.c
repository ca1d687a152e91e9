/*
 * The kvm accelerator's VM state and dirty-page log (accel.h vm_get_state,
 * vm_set_state, dirty_log_*) on a real KVM VM. Skips, saying why, where
 * /dev/kvm is unusable.
 *
 *  - round-trip: a state with the PICs initialised, IOAPIC entries and id,
 *    PIT channels programmed and the clock moved on loads and reads back
 *    (PIT elapsed times excepted: KVM restarts its counters at a load).
 *  - cross: kvm -> emu -> kvm gives back the same chips.
 *  - refused: what the in-kernel chips cannot hold changes nothing.
 *  - dirty log: a guest's stores are reported, an untouched page is not,
 *    a second sync with the vCPU stopped reports nothing.
 */
#include <string.h>

#include <glib.h>

#include "accel/accel.h"
#include "hw/x86/loader.h"
#include "kvm-test-vm.h"
#include "machine.h"
#include "memory.h"

#define SLACK_NS (30ULL * 1000 * 1000 * 1000)

#define LE32(x) (uint8_t)(x), (uint8_t)((x) >> 8), (uint8_t)((x) >> 16), (uint8_t)((x) >> 24)

/* mov [0x300000], rax; mov [0x305000], rax; mov [0x400008], rax; ud2 (triple fault) */
static const uint8_t guest_code[] = {
    0x48, 0x89, 0x04, 0x25, LE32(0x300000),
    0x48, 0x89, 0x04, 0x25, LE32(0x305000),
    0x48, 0x89, 0x04, 0x25, LE32(0x400008),
    0x0F, 0x0B,
};

static void set_state(Machine *m, const X86VmState *st)
{
    GError *err = NULL;

    machine_lock(m);
    g_assert_true(m->accel_ops->vm_set_state(m, st, &err));
    machine_unlock(m);
    g_assert_no_error(err);
}

/* What a guest's set-up would leave in the chips. */
static void program(X86VmState *st)
{
    static const X86PitChannel periodic = {
        .count = 1000, .rw_mode = 3, .read_state = 3, .write_state = 3,
        .mode = 2, .gate = 1, .counting = 1,
    };

    st->ioapic.id = 3;
    st->ioapic.redir[4] = 0x0100000000018034ULL;     /* level, masked, vector 0x34 */
    st->ioapic.redir[9] = 0x10039;
    st->pic[0].irq_base = 0x20;
    st->pic[0].imr = 0xB8;
    st->pic[0].elcr = 0x20;
    st->pic[0].init4 = 1;
    st->pic[0].init_state = 0;
    st->pic[1].irq_base = 0x28;
    st->pic[1].imr = 0x7F;
    st->pic[1].elcr = 0x0C;
    st->pic[1].init4 = 1;
    st->pic[1].priority_add = 6;
    st->pit.ch[0] = periodic;
    st->pit.ch[2] = periodic;
    st->pit.ch[2].mode = 0;
    st->pit.ch[2].count = 0xFFFF;
}

/*
 * Equal but for the clock (later), the PIT's elapsed times and what its
 * IRQ0 pulses leave behind (PIC IRR and input, IOAPIC pin 0's edge).
 */
static void assert_same_chips(const X86VmState *a, const X86VmState *b)
{
    X86VmState x = *b;

    g_assert_cmpuint(b->clock_ns, >=, a->clock_ns);
    g_assert_cmpuint(b->clock_ns - a->clock_ns, <, SLACK_NS);
    x.clock_ns = a->clock_ns;
    for (unsigned i = 0; i < 3; i++) {
        x.pit.ch[i].elapsed_ns = a->pit.ch[i].elapsed_ns;
    }
    x.pit.speaker_data_on = a->pit.speaker_data_on;
    x.pic[0].irr = (x.pic[0].irr & ~1u) | (a->pic[0].irr & 1u);
    x.pic[0].last_irr = (x.pic[0].last_irr & ~1u) | (a->pic[0].last_irr & 1u);
    x.ioapic.irr = (x.ioapic.irr & ~1u) | (a->ioapic.irr & 1u);
    g_assert_cmpmem(a, sizeof(*a), &x, sizeof(x));
}

static void test_round_trip(void)
{
    TestMachine *vm;
    X86VmState st, got;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = test_machine_new(&kvm_accel_ops);
    test_vm_get_state(vm->m, &st);
    g_assert_cmphex(st.flags, ==, X86_VM_STATE_IRQCHIP | X86_VM_STATE_PIT);
    g_assert_cmphex(st.ioapic.redir[0], ==, X86_IOAPIC_RTE_MASKED);
    g_assert_cmphex(st.pic[0].elcr_mask, ==, 0xF8);
    g_assert_cmpuint(st.pit.ch[0].mode, ==, X86_PIT_MODE_UNSET);
    program(&st);
    st.clock_ns += 10ULL * 1000 * 1000 * 1000;
    set_state(vm->m, &st);
    test_vm_get_state(vm->m, &got);
    assert_same_chips(&st, &got);
    test_machine_free(vm);
}

static void test_cross_emu(void)
{
    TestMachine *k, *e;
    X86VmState sk, se, back;

    if (!kvm_test_have_kvm()) {
        return;
    }
    k = test_machine_new(&kvm_accel_ops);
    e = test_machine_new(&emu_accel_ops);
    test_vm_get_state(k->m, &sk);
    program(&sk);
    set_state(k->m, &sk);
    test_vm_get_state(k->m, &sk);
    set_state(e->m, &sk);
    test_vm_get_state(e->m, &se);
    set_state(k->m, &se);
    test_vm_get_state(k->m, &back);
    assert_same_chips(&sk, &back);
    test_machine_free(k);
    test_machine_free(e);
}

static void test_refused(void)
{
    TestMachine *vm;
    X86VmState before, bad, after;
    GError *err = NULL;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = test_machine_new(&kvm_accel_ops);
    test_vm_get_state(vm->m, &before);
    bad = before;
    program(&bad);
    bad.pic[1].single_mode = 1;
    bad.pic[1].init_state = 1;
    machine_lock(vm->m);
    g_assert_false(vm->m->accel_ops->vm_set_state(vm->m, &bad, &err));
    machine_unlock(vm->m);
    g_assert_nonnull(strstr(err->message, "single-mode"));
    g_clear_error(&err);
    test_vm_get_state(vm->m, &after);
    assert_same_chips(&before, &after);
    test_machine_free(vm);
}

static void test_dirty_log(void)
{
    TestMachine *vm;
    X86BootState boot;
    DirtyBitmap *d;
    GError *err = NULL;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = test_machine_new(&kvm_accel_ops);
    kvm_test_boot_layout(&vm->m->ram, guest_code, sizeof(guest_code), &boot);
    kvm_test_cpus_create(vm->m, &boot);
    machine_lock(vm->m);
    g_assert_true(vm->m->accel_ops->dirty_log_start(vm->m, &err));
    machine_unlock(vm->m);
    g_assert_no_error(err);
    g_assert_true(vm->m->accel_ops->vcpu_run(g_ptr_array_index(vm->m->vcpus, 0)));
    g_assert_cmpint(vm->m->shutdown_request, ==, SHUTDOWN_GUEST_SHUTDOWN);
    d = test_vm_dirty_sync(vm->m);
    g_assert_true(dirty_bitmap_test(d, 0x300000));
    g_assert_true(dirty_bitmap_test(d, 0x305000));
    g_assert_true(dirty_bitmap_test(d, 0x400000));
    g_assert_false(dirty_bitmap_test(d, 0x301000));
    g_assert_false(dirty_bitmap_test(d, 0x600000));
    dirty_bitmap_free(d);
    d = test_vm_dirty_sync(vm->m);
    g_assert_cmpuint(dirty_bitmap_count(d), ==, 0);
    dirty_bitmap_free(d);
    machine_lock(vm->m);
    vm->m->accel_ops->dirty_log_stop(vm->m);
    machine_unlock(vm->m);
    test_machine_free(vm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kvm-vm-state/round-trip", test_round_trip);
    g_test_add_func("/kvm-vm-state/cross-emu", test_cross_emu);
    g_test_add_func("/kvm-vm-state/refused", test_refused);
    g_test_add_func("/kvm-vm-state/dirty-log", test_dirty_log);
    return g_test_run();
}
