/*
 * The accelerator interface. Two implementations: kvm (runs vCPUs) and qtest
 * (no vCPU runs; a test harness drives the buses). Machine code and devices go
 * through these ops only, never through KVM ioctls.
 */
#ifndef STRATUS_ACCEL_H
#define STRATUS_ACCEL_H

#include "machine.h"

typedef struct X86BootState X86BootState;

struct AccelOps {
    const char *name;
    /* Create the VM: in-kernel irqchip, PIT, TSS/identity map (kvm). */
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
    /* Drive a GSI (IOAPIC pin). */
    void (*set_irq)(Machine *m, unsigned gsi, bool level);
    /* NULL when unsupported (see machine_add_irqfd). */
    bool (*add_irqfd)(Machine *m, unsigned gsi, int fd, GError **err);
    void (*remove_irqfd)(Machine *m, unsigned gsi, int fd);
    bool (*add_ioeventfd)(Machine *m, bool pio, uint64_t addr, unsigned size,
                          bool datamatch, uint64_t data, int fd, GError **err);
    void (*remove_ioeventfd)(Machine *m, bool pio, uint64_t addr, unsigned size,
                             bool datamatch, uint64_t data, int fd);
};

extern const AccelOps kvm_accel_ops;
extern const AccelOps qtest_accel_ops;
const AccelOps *accel_find(const char *name);   /* NULL if unknown */

#endif
