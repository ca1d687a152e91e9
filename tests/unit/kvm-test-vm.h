/*
 * Set-up shared by the tests that build a bare Machine by hand (the kvm
 * suite's test-kvm, test-kvm-state, test-kvm-vm-state on the real KVM
 * accelerator; test-vm-state and test-dirty-log on emu and qtest), with
 * the 64-bit boot layout of the Linux loader (GDT, empty IDT,
 * identity-mapped first GiB) and test code. Every function asserts success.
 */
#ifndef STRATUS_KVM_TEST_VM_H
#define STRATUS_KVM_TEST_VM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "hw/x86/loader.h"
#include "machine.h"
#include "accel/x86-vm-state.h"

#define KVM_TEST_RAM_SIZE  (32ULL << 20)
#define KVM_TEST_CODE_ADDR 0x100000ULL

/* False (and the test marked skipped) where /dev/kvm does not exist. */
bool kvm_test_have_kvm(void);
/*
 * The accelerator initialised and RAM mapped; cfg (owned by the caller,
 * zeroed or with its qtest fields set) gets ncpus. A main context exists
 * (qtest's clock and socket live there). No vCPUs yet.
 */
Machine *test_vm_machine_new(const AccelOps *ops, StratusConfig *cfg, unsigned ncpus);
/* The same on kvm. */
Machine *kvm_test_machine_new(StratusConfig *cfg, unsigned ncpus);
/* Writes the boot layout and `code` at KVM_TEST_CODE_ADDR; fills *boot. */
void kvm_test_boot_layout(GuestRam *ram, const void *code, size_t len, X86BootState *boot);
/* Creates the vCPUs and puts each in the boot state. */
void kvm_test_cpus_create(Machine *m, const X86BootState *boot);
void kvm_test_reset_all(Machine *m, const X86BootState *boot);
/* Joins the vCPU threads and frees everything test_vm_machine_new made. */
void test_vm_machine_free(Machine *m);

/* A machine with its config, for tests that build several (VM state, dirty log). */
typedef struct TestMachine {
    StratusConfig cfg;
    Machine *m;
} TestMachine;
TestMachine *test_machine_new(const AccelOps *ops);
void test_machine_free(TestMachine *vm);
/* The accelerator's vm_get_state / dirty_log_sync under the lock, asserting success. */
void test_vm_get_state(Machine *m, X86VmState *st);
DirtyBitmap *test_vm_dirty_sync(Machine *m);
void kvm_test_machine_free(Machine *m);

#endif
