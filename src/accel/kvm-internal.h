/*
 * KVM accelerator internals shared by kvm.c (generic VM/vCPU plumbing),
 * kvm-x86.c (CPUID, MSRs, LAPIC and register setup of an x86 vCPU),
 * kvm-x86-state.c (its state saved and loaded) and kvm-vm-state.c.
 */
#ifndef STRATUS_KVM_INTERNAL_H
#define STRATUS_KVM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <linux/kvm.h>
#include <glib.h>

#include "machine.h"
#include "accel/accel.h"
#include "accel/x86-boot-state.h"
#include "accel/kvm-irq-routes.h"

/* Guest-physical addresses KVM needs for its VMX real-mode helpers (§2.8). */
#define KVM_IDENTITY_MAP_ADDR 0xFEF0C000ULL
#define KVM_TSS_ADDR          0xFEF0D000ULL

/* MSRs: kvm-x86.c resets them, kvm-x86-state.c saves and loads them. */
#define MSR_IA32_TSC              0x00000010
#define MSR_IA32_APICBASE         0x0000001b
#define MSR_IA32_SYSENTER_CS      0x00000174
#define MSR_IA32_SYSENTER_ESP     0x00000175
#define MSR_IA32_SYSENTER_EIP     0x00000176
#define MSR_IA32_MISC_ENABLE      0x000001a0
#define MSR_IA32_PAT              0x00000277
#define MSR_IA32_TSC_DEADLINE     0x000006e0
#define MSR_STAR                  0xc0000081
#define MSR_LSTAR                 0xc0000082
#define MSR_CSTAR                 0xc0000083
#define MSR_SYSCALL_MASK          0xc0000084
#define MSR_KERNEL_GS_BASE        0xc0000102
#define MSR_TSC_AUX               0xc0000103
#define MSR_KVM_WALL_CLOCK        0x00000011
#define MSR_KVM_SYSTEM_TIME       0x00000012
#define MSR_KVM_WALL_CLOCK_NEW    0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW   0x4b564d01
#define MSR_KVM_ASYNC_PF_EN       0x4b564d02
#define MSR_KVM_STEAL_TIME        0x4b564d03
#define MSR_KVM_PV_EOI_EN         0x4b564d04
#define MSR_KVM_POLL_CONTROL      0x4b564d05
#define MSR_KVM_ASYNC_PF_INT      0x4b564d06

typedef struct KvmState {
    int kvm_fd;                  /* /dev/kvm */
    int vm_fd;
    int vcpu_mmap_size;
    struct kvm_cpuid2 *supported_cpuid;   /* KVM_GET_SUPPORTED_CPUID, owned */
    uint32_t *msr_index;         /* KVM_GET_MSR_INDEX_LIST */
    unsigned n_msr_index;
    bool cap_xsave;
    bool cap_xcrs;
    bool cap_vcpu_events;
    bool cap_tsc_deadline;
    bool cap_debugregs;
    unsigned nr_slots;           /* user memory slots in use */
    unsigned ram_slot0;          /* the slot of m->ram's block 0; block i is slot ram_slot0 + i */
    bool dirty_logging;          /* KVM_MEM_LOG_DIRTY_PAGES set on the RAM slots */
    unsigned nr_vcpus;           /* vCPUs created and not yet destroyed */
    /*
     * Set when the last vCPU is destroyed: vCPUs go away only when the
     * machine does (machine_free: cpus_destroy, then the devices, then the
     * VM), so from then on the VM is dying and nothing will run in it again.
     * irqfd/ioeventfd deassigns are then skipped (see kvm_remove_irqfd).
     */
    bool dying;
    KvmRoutes *routes;           /* MSI routes (kvm-irq-routes.h); NULL until the first */
} KvmState;

typedef struct KvmVcpu {
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;            /* valid once thread_valid is set */
    int thread_valid;            /* atomic */
    bool tid_recorded;
    /* Clean LAPIC image taken at creation, with LINT0/LINT1 programmed. */
    struct kvm_lapic_state lapic;
} KvmVcpu;

static inline KvmState *kvm_state(Machine *m)
{
    return m->accel;
}

static inline KvmVcpu *kvm_vcpu(Vcpu *cpu)
{
    return cpu->accel;
}

/* kvm.c: (re)registers RAM block b as memory slot `slot` with KVM_MEM_* flags. */
bool kvm_set_ram_slot(KvmState *s, unsigned slot, const RamBlock *b, uint32_t flags,
                      GError **err);

/* kvm-vm-state.c: AccelOps.vm_get_state / vm_set_state and the dirty-page log. */
bool kvm_vm_get_state(Machine *m, X86VmState *st, GError **err);
bool kvm_vm_set_state(Machine *m, const X86VmState *st, GError **err);
bool kvm_dirty_log_start(Machine *m, GError **err);
bool kvm_dirty_log_sync(Machine *m, DirtyBitmap *dirty, GError **err);
void kvm_dirty_log_stop(Machine *m);

/* kvm-x86.c */
bool kvm_x86_vm_init(Machine *m, KvmState *s, GError **err);
/* After KVM_CREATE_VCPU: CPUID, LAPIC image, MSRs. */
bool kvm_x86_vcpu_init(Vcpu *cpu, GError **err);
bool kvm_x86_vcpu_reset(Vcpu *cpu, const X86BootState *boot, GError **err);
/* Whether KVM_GET_MSR_INDEX_LIST has the MSR. */
bool kvm_x86_msr_supported(const KvmState *s, uint32_t index);
/* The FPU, XSAVE state and XCR0 back to their init values. */
bool kvm_x86_apply_fpu(Vcpu *cpu, GError **err);
/*
 * Logs "vcpu N: <what>" plus RIP/RSP/CR0/CR3/CR4/EFER/CS/SS. fatal: through
 * log_error and as "stratus: error: vcpu N: ..." on stderr; else log_info.
 */
void kvm_x86_report_state(Vcpu *cpu, const char *what, bool fatal);

/* kvm-x86-state.c: AccelOps.vcpu_get_state / vcpu_set_state (the vCPU parked). */
bool kvm_x86_vcpu_get_state(Vcpu *cpu, X86VcpuState *st, GError **err);
bool kvm_x86_vcpu_set_state(Vcpu *cpu, const X86VcpuState *st, GError **err);

#endif
