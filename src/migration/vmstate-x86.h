/*
 * State descriptions (migration/vmstate.h) of the accelerator-independent
 * x86 VM state (accel/x86-vm-state.h): the IOAPIC, the 8259 pair, the PIT
 * and the guest clock, and of one vCPU (accel/x86-cpu-state.h), so the
 * interrupt controllers and CPUs are saved with the same encoder as every
 * device and a stream taken on one accelerator loads on another.
 */
#ifndef STRATUS_MIGRATION_VMSTATE_X86_H
#define STRATUS_MIGRATION_VMSTATE_X86_H

#include "accel/x86-cpu-state.h"
#include "accel/x86-vm-state.h"
#include "migration/vmstate.h"

/* Opaque: X86VmState. post_load runs x86_vm_state_check(). */
extern const VMStateDescription vmstate_x86_vm;
/* Opaque: X86VcpuState (accel/x86-cpu-state.h). post_load runs x86_vcpu_state_check(). */
extern const VMStateDescription vmstate_x86_cpu;

#endif
