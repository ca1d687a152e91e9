/*
 * The accelerator interface. Three implementations: kvm (runs vCPUs on
 * /dev/kvm), emu (runs vCPUs in a software CPU; QEMU's name "tcg" is accepted
 * on the command line) and qtest (no vCPU runs; a test harness drives the
 * buses). Machine code and devices go through these ops only, never through
 * KVM ioctls.
 */
#ifndef STRATUS_ACCEL_H
#define STRATUS_ACCEL_H

#include "machine.h"
#include "accel/x86-cpu-state.h"
#include "accel/x86-vm-state.h"

typedef struct X86BootState X86BootState;

struct AccelOps {
    const char *name;
    unsigned seccomp_needs;     /* SeccompNeeds (os/seccomp.h): what its ioctls need */
    /*
     * Create the VM: in-kernel irqchip, PIT, TSS/identity map (kvm). On
     * failure destroy must still be safe to call (machine_new() calls it
     * before trying the next accelerator of a fall-back list).
     */
    bool (*init)(Machine *m, GError **err);
    void (*destroy)(Machine *m);
    /* Register every block of m->ram with the hypervisor. */
    bool (*map_ram)(Machine *m, GError **err);
    /* Create the vCPU (called on the main thread before any thread starts). */
    bool (*vcpu_init)(Vcpu *cpu, GError **err);
    /* Put the vCPU in the boot state (also used by system_reset). */
    bool (*vcpu_reset)(Vcpu *cpu, const X86BootState *boot, GError **err);
    /*
     * Enter the guest once, handle exits by dispatching to the buses under the
     * machine lock, and return when kicked (stop/exit requested) or when the
     * vCPU asked for shutdown/reset (it calls machine_request_shutdown itself).
     * Called from the vCPU thread without the lock. Returns false on a fatal
     * vCPU error (the accelerator has logged registers and requested an
     * internal-error shutdown).
     */
    bool (*vcpu_run)(Vcpu *cpu);
    /* Make vcpu_run return soon. Any thread. */
    void (*vcpu_kick)(Vcpu *cpu);
    void (*vcpu_destroy)(Vcpu *cpu);
    /*
     * The vCPU's architectural state (x86-cpu-state.h), for snapshots and
     * migration. Called on the main thread with the machine lock held and
     * the vCPU parked: after cpus_pause_all() (or before its thread ever
     * ran), never while vcpu_run may be executing. NULL when the
     * accelerator runs no vCPU (qtest).
     *
     * get fills every field of *st (version included). It may complete
     * what the vCPU would do first thing anyway (kvm: acting on a latched
     * INIT or SIPI; emu: moving a due LAPIC timer expiry into IRR), never
     * anything the guest could tell apart.
     *
     * set checks the whole state first (x86_vcpu_state_check plus the
     * accelerator's own limits) and on a problem returns false with *err
     * and the vCPU unchanged. An error from the hypervisor while loading
     * (kvm ioctls) can leave the vCPU partly loaded: reset it or give up
     * the VM. Loading the LAPIC does not touch the IOAPIC/PIC/PIT, which
     * are VM state.
     */
    bool (*vcpu_get_state)(Vcpu *cpu, X86VcpuState *st, GError **err);
    bool (*vcpu_set_state)(Vcpu *cpu, const X86VcpuState *st, GError **err);
    /*
     * The VM's state outside its vCPUs and RAM (x86-vm-state.h): IOAPIC,
     * PIC pair, PIT, GSI levels, guest clock. Same calling rules and
     * contract as vcpu_get_state / vcpu_set_state, for every vCPU: main
     * thread, machine lock held, all vCPUs parked. get may complete what
     * would happen first thing anyway (emu: signalling a PIT expiry that is
     * due), which can reach a LAPIC: take the VM state before the vCPUs'.
     * set checks everything (x86_vm_state_check plus the accelerator's
     * limits) before changing anything; a part the state lacks is put in
     * its power-on state. NULL only for an accelerator without VM state.
     */
    bool (*vm_get_state)(Machine *m, X86VmState *st, GError **err);
    bool (*vm_set_state)(Machine *m, const X86VmState *st, GError **err);
    /*
     * The dirty-page log: which 4 KiB RAM pages the guest wrote. Main
     * thread, machine lock held; vCPUs may be running (live migration).
     * start: from now on writes are recorded (the log starts empty).
     * sync: ORs the pages written since start or the previous sync into
     * *dirty (dirty_bitmap_new(&m->ram)) and empties the log. A write made
     * while sync runs is reported by this sync or the next, so a page
     * copied after sync returns is either current or reported again.
     * stop: recording ends (no-op when not started). A VMM-side write to
     * RAM (loader, device DMA) is not the accelerator's to report, except
     * qtest's protocol writes, which stand for the guest's.
     */
    bool (*dirty_log_start)(Machine *m, GError **err);
    bool (*dirty_log_sync)(Machine *m, DirtyBitmap *dirty, GError **err);
    void (*dirty_log_stop)(Machine *m);
    /* Drive a GSI (IOAPIC pin). */
    void (*set_irq)(Machine *m, unsigned gsi, bool level);
    /*
     * An NMI to every vCPU (QMP inject-nmi), as a broadcast NMI message
     * on the APIC bus. Main thread, machine lock held. NULL when no vCPU
     * runs (qtest): the NMI is dropped, as QEMU's qtest machine drops it.
     */
    void (*inject_nmi)(Machine *m);
    /*
     * An MSI write to the APIC window (addr 0xFEExxxxx: destination in bits
     * 19:12, logical mode bit 2; data: vector 7:0, delivery mode 10:8,
     * trigger 15), from any thread holding the machine lock. NULL (qtest):
     * machine_send_msi writes the data to memory instead.
     */
    void (*send_msi)(Machine *m, uint64_t addr, uint32_t data);
    /* NULL when unsupported (see machine_add_irqfd). */
    bool (*add_irqfd)(Machine *m, unsigned gsi, int fd, GError **err);
    void (*remove_irqfd)(Machine *m, unsigned gsi, int fd);
    bool (*add_ioeventfd)(Machine *m, bool pio, uint64_t addr, unsigned size,
                          bool datamatch, uint64_t data, int fd, GError **err);
    void (*remove_ioeventfd)(Machine *m, bool pio, uint64_t addr, unsigned size,
                             bool datamatch, uint64_t data, int fd);
    /*
     * MSI routes (see machine_add_msi_route): a GSI above the IOAPIC's
     * whose irqfd (add_irqfd) injects the message (addr, data). NULL where
     * the accelerator has none (emu, qtest). Lock held, any thread.
     */
    int (*add_msi_route)(Machine *m, uint64_t addr, uint32_t data, GError **err);
    bool (*update_msi_route)(Machine *m, unsigned gsi, uint64_t addr, uint32_t data,
                             GError **err);
    void (*remove_msi_route)(Machine *m, unsigned gsi);
};

extern const AccelOps kvm_accel_ops;
extern const AccelOps emu_accel_ops;
extern const AccelOps qtest_accel_ops;
const AccelOps *accel_find(const char *name);   /* NULL if unknown */

/*
 * Is KVM usable: /dev/kvm opens read-write and reports API version 12 (what
 * query-kvm calls "present"). When not, and why is not NULL, *why is set to a
 * message naming /dev/kvm, e.g. "/dev/kvm: No such file or directory".
 */
bool accel_kvm_usable(char **why);

/*
 * Picking the accelerator (QEMU's -accel / -machine accel= semantics): the
 * names of `list` are tried in order and the first that is available and
 * initialises wins. kvm is available iff kvm_usable; emu and qtest always are.
 *
 *  - automatic (no accelerator named; list is "kvm:emu"): falling back from
 *    kvm to emu logs exactly one warning, "KVM is not available (<why>);
 *    using the emu software CPU".
 *  - a named list ("kvm:emu"): falling through is logged at info level only.
 *  - the last candidate failing is the error: for kvm
 *    "<option>: KVM is not available: <why>", for a failed init its own error.
 *
 * Nothing here touches the host: availability comes in as values and
 * initialisation through init(), so the rules are unit-tested with fakes.
 */
typedef struct AccelSelect {
    const char *list;       /* StratusConfig.accel: names joined by ':' */
    bool automatic;         /* StratusConfig.accel_auto */
    const char *option;     /* StratusConfig.accel_option, for messages */
    bool kvm_usable;        /* accel_kvm_usable() */
    const char *kvm_why;    /* its reason when false */
    /* Initialise one accelerator; on failure the next one is tried. */
    bool (*init)(const AccelOps *ops, void *opaque, GError **err);
    void *opaque;
} AccelSelect;

/* The accelerator that initialised, or NULL with *err. */
const AccelOps *accel_select(const AccelSelect *s, GError **err);

#endif
