/*
 * The kvm accelerator's vCPU state (accel.h vcpu_get_state/vcpu_set_state)
 * on a real KVM vCPU. Skips, saying why, without /dev/kvm (as test-kvm.c).
 *
 * A minimal Machine is built by hand as in test-kvm.c: RAM, the KVM ops
 * and cpus.c, the vCPU reset into the 64-bit boot state. Then:
 *  - round-trip: the state KVM reports loads back and reads back equal;
 *    a modified state (GPRs, MSRs, debug registers, LAPIC, XMM0, an
 *    enabled CR4.OSFXSR) reads back as loaded, pending events (NMI,
 *    interrupt shadow) too, and the guest then runs from it: it stores
 *    RAX, R15, XMM0, STAR and CR8 to RAM and triple-faults.
 *  - rejects: CR0.PG without CR0.PE or a bad version is refused with a
 *    GError and the vCPU reads back unchanged.
 */
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "accel/accel.h"
#include "accel/kvm-internal.h"
#include "accel/x86-cpu-state.h"
#include "cpus.h"
#include "hw/x86/loader.h"
#include "machine.h"
#include "memory.h"
#include "util/log.h"
#include "util/strutil.h"
#include "vcpu-state-assert.h"
#include "kvm-test-vm.h"

#define CODE_ADDR       KVM_TEST_CODE_ADDR
#define RESULT_ADDR     0x200000ULL

#define MSR_TSC_AUX     0xc0000103
#define MSR_IA32_PAT    0x00000277
#define APIC_TPR        0x80
#define APIC_PPR        0xA0
#define APIC_LDR        0xD0
#define APIC_SVR        0xF0
#define APIC_LVT_TIMER  0x320
#define APIC_LVT_LINT0  0x350
#define FXSAVE_XMM0     160
#define XSAVE_XSTATE_BV 512
#define X86_CR4_OSFXSR  (1ULL << 9)
#define X86_CR0_PE      (1ULL << 0)
#define RFLAGS_IF       (1ULL << 9)

/* ---- machine.c functions the accelerator and cpus.c use ---- */

void machine_lock(Machine *m)
{
    g_mutex_lock(&m->lock);
}

void machine_unlock(Machine *m)
{
    g_mutex_unlock(&m->lock);
}

void machine_request_shutdown(Machine *m, ShutdownReason reason)
{
    if (m->shutdown_request == SHUTDOWN_NONE) {
        m->shutdown_request = reason;
    }
}

/*
 * mov %rax,0x200000; mov %r15,0x200008; movq %xmm0,%rcx; mov %rcx,0x200010
 * mov $0xc0000081,%ecx; rdmsr; mov %eax,0x200018; mov %edx,0x20001c
 * mov %cr8,%rdx; mov %rdx,0x200020; ud2 (-> triple fault: the IDT is empty)
 */
static const uint8_t guest_code[] = {
    0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00,
    0x4c, 0x89, 0x3c, 0x25, 0x08, 0x00, 0x20, 0x00,
    0x66, 0x48, 0x0f, 0x7e, 0xc1,
    0x48, 0x89, 0x0c, 0x25, 0x10, 0x00, 0x20, 0x00,
    0xb9, 0x81, 0x00, 0x00, 0xc0, 0x0f, 0x32,
    0x89, 0x04, 0x25, 0x18, 0x00, 0x20, 0x00,
    0x89, 0x14, 0x25, 0x1c, 0x00, 0x20, 0x00,
    0x44, 0x0f, 0x20, 0xc2,
    0x48, 0x89, 0x14, 0x25, 0x20, 0x00, 0x20, 0x00,
    0x0f, 0x0b,
};

typedef struct TestVm {
    Machine *m;
    StratusConfig cfg;
    X86BootState boot;
} TestVm;

static TestVm *vm_new(void)
{
    TestVm *vm = g_new0(TestVm, 1);

    vm->m = kvm_test_machine_new(&vm->cfg, 1);
    kvm_test_boot_layout(&vm->m->ram, guest_code, sizeof(guest_code), &vm->boot);
    kvm_test_cpus_create(vm->m, &vm->boot);
    return vm;
}

static void vm_free(TestVm *vm)
{
    kvm_test_machine_free(vm->m);
    g_free(vm);
}

static bool kvm_has_msr(TestVm *vm, uint32_t index)
{
    KvmState *s = kvm_state(vm->m);

    for (unsigned i = 0; i < s->n_msr_index; i++) {
        if (s->msr_index[i] == index) {
            return true;
        }
    }
    return false;
}

static void get_state(Vcpu *cpu, X86VcpuState *st)
{
    GError *err = NULL;

    g_assert_true(kvm_accel_ops.vcpu_get_state(cpu, st, &err));
    g_assert_no_error(err);
}

static void set_state(Vcpu *cpu, const X86VcpuState *st)
{
    GError *err = NULL;

    g_assert_true(kvm_accel_ops.vcpu_set_state(cpu, st, &err));
    g_assert_no_error(err);
}

static uint64_t read_result(TestVm *vm, unsigned off)
{
    uint64_t v = 0;

    g_assert_true(guest_ram_read(&vm->m->ram, RESULT_ADDR + off, &v, sizeof(v)));
    return v;
}

static void test_round_trip(void)
{
    g_autofree X86VcpuState *st = g_new0(X86VcpuState, 1);
    g_autofree X86VcpuState *got = g_new0(X86VcpuState, 1);
    g_autofree X86VcpuState *events = g_new0(X86VcpuState, 1);
    const uint64_t xmm0 = 0x1122334455667788ULL;
    TestVm *vm;
    Vcpu *cpu;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new();
    cpu = g_ptr_array_index(vm->m->vcpus, 0);

    /* What the reset put there. */
    get_state(cpu, st);
    g_assert_cmpuint(st->version, ==, X86_VCPU_STATE_VERSION);
    g_assert_cmphex(st->rip, ==, CODE_ADDR);
    g_assert_cmphex(st->gpr[X86_RSP], ==, BOOT_STACK_ADDR);
    g_assert_cmphex(st->gpr[X86_RSI], ==, BOOT_ZERO_PAGE_ADDR);
    g_assert_cmphex(st->seg[X86_SEG_CS].selector, ==, 0x10);
    g_assert_cmphex(st->seg[X86_SEG_CS].attr & X86_SEG_ATTR_L, ==, X86_SEG_ATTR_L);
    g_assert_cmphex(st->cr3, ==, BOOT_PML4_ADDR);
    g_assert_cmphex(st->efer & 0x500, ==, 0x500);
    g_assert_cmphex(st->apic_base, ==, 0xfee00900);
    g_assert_cmpuint(st->events.mp_state, ==, X86_MP_STATE_RUNNABLE);
    g_assert_cmphex(x86_lapic_reg(st, APIC_LVT_LINT0) & 0x700, ==, 0x700);   /* ExtINT */
    g_assert_true(st->fpu_len == X86_FPU_STATE_MAX || st->fpu_len == X86_FPU_LEGACY_SIZE);
    g_assert_true(x86_vcpu_state_check(st, NULL));

    /* It loads back and reads back the same. */
    set_state(cpu, st);
    get_state(cpu, got);
    assert_states_equal(st, got, false);

    /* A modified state reads back as loaded. */
    for (int i = 0; i < 16; i++) {
        if (i != X86_RSP) {
            st->gpr[i] = 0x0101010101010101ULL * (uint64_t)(i + 1);
        }
    }
    st->rflags |= 0x1;                          /* CF */
    st->cr4 |= X86_CR4_OSFXSR;
    st->star = 0x0023001000000000ULL;
    st->lstar = 0xffffffff81000000ULL;
    st->cstar = 0xffffffff81000100ULL;
    st->sfmask = 0x47700;
    st->kernel_gs_base = 0xffff888000001000ULL;
    st->sysenter_cs = 0x10;
    st->sysenter_esp = 0xffff888000002000ULL;
    st->sysenter_eip = 0xffffffff81000200ULL;
    if (kvm_has_msr(vm, MSR_TSC_AUX)) {
        st->tsc_aux = 0x5a;
    }
    if (kvm_has_msr(vm, MSR_IA32_PAT)) {
        st->pat = 0x0007010600070106ULL;
    }
    for (int i = 0; i < 4; i++) {
        st->dr[i] = 0x700000ULL + 0x100 * (uint64_t)i;    /* breakpoints stay disabled */
    }
    x86_lapic_set_reg(st, APIC_SVR, 0x1ff);
    x86_lapic_set_reg(st, APIC_TPR, 0x20);
    x86_lapic_set_reg(st, APIC_PPR, 0x20);
    x86_lapic_set_reg(st, APIC_LDR, 0x02000000);
    x86_lapic_set_reg(st, APIC_LVT_TIMER, 0x100ec);        /* masked, vector 0xec */
    st->cr8 = 2;
    memcpy(st->fpu + FXSAVE_XMM0, &xmm0, sizeof(xmm0));
    if (st->fpu_len > X86_FPU_LEGACY_SIZE) {
        st->fpu[XSAVE_XSTATE_BV] |= 0x2;      /* SSE state in use, so XMM0 loads */
    }
    set_state(cpu, st);
    get_state(cpu, got);
    assert_states_equal(st, got, false);

    /* Pending events: an NMI, an STI shadow (IF=1, as VMX wants). */
    memcpy(events, st, sizeof(*events));
    events->rflags |= RFLAGS_IF;
    events->events.nmi_pending = 1;
    events->events.interrupt_shadow = X86_SHADOW_STI;
    set_state(cpu, events);
    get_state(cpu, got);
    assert_states_equal(events, got, false);

    /* Back to the modified state, and run from it. */
    set_state(cpu, st);
    g_assert_true(kvm_accel_ops.vcpu_run(cpu));
    g_assert_cmpint(vm->m->shutdown_request, ==, SHUTDOWN_GUEST_SHUTDOWN);   /* ud2 */
    g_assert_cmphex(read_result(vm, 0x00), ==, st->gpr[X86_RAX]);
    g_assert_cmphex(read_result(vm, 0x08), ==, st->gpr[X86_R15]);
    g_assert_cmphex(read_result(vm, 0x10), ==, xmm0);
    g_assert_cmphex(read_result(vm, 0x18), ==, st->star);
    g_assert_cmphex(read_result(vm, 0x20), ==, 2);                           /* CR8 */
    vm_free(vm);
}

static void test_rejects(void)
{
    g_autofree X86VcpuState *before = g_new0(X86VcpuState, 1);
    g_autofree X86VcpuState *bad = g_new0(X86VcpuState, 1);
    g_autofree X86VcpuState *after = g_new0(X86VcpuState, 1);
    GError *err = NULL;
    TestVm *vm;
    Vcpu *cpu;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new();
    cpu = g_ptr_array_index(vm->m->vcpus, 0);
    get_state(cpu, before);

    memcpy(bad, before, sizeof(*bad));
    bad->cr0 &= ~X86_CR0_PE;                    /* PG stays set */
    bad->gpr[X86_RAX] = 0xbad;
    g_assert_false(kvm_accel_ops.vcpu_set_state(cpu, bad, &err));
    g_assert_error(err, STRATUS_ERROR, STRATUS_ERROR_GENERIC);
    g_assert_nonnull(strstr(err->message, "CR0.PG is set without CR0.PE"));
    g_clear_error(&err);
    get_state(cpu, after);
    assert_states_equal(before, after, false);

    memcpy(bad, before, sizeof(*bad));
    bad->version = X86_VCPU_STATE_VERSION + 1;
    bad->gpr[X86_RAX] = 0xbad;
    g_assert_false(kvm_accel_ops.vcpu_set_state(cpu, bad, &err));
    g_assert_error(err, STRATUS_ERROR, STRATUS_ERROR_GENERIC);
    g_clear_error(&err);
    get_state(cpu, after);
    assert_states_equal(before, after, false);
    vm_free(vm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* Logs (INFO and up) go to stderr, which the TAP runner keeps apart. */
    log_open(NULL, NULL);
    g_test_add_func("/kvm-state/round-trip", test_round_trip);
    g_test_add_func("/kvm-state/rejects", test_rejects);
    return g_test_run();
}
