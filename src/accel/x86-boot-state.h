/*
 * The register state an x86 vCPU starts the guest kernel with. The loader
 * (hw/x86/loader.c) computes it and every accelerator's vcpu_reset applies
 * it, so it is defined here at the accelerator level: accelerators must not
 * depend on the board code that loads kernels.
 */
#ifndef STRATUS_ACCEL_X86_BOOT_STATE_H
#define STRATUS_ACCEL_X86_BOOT_STATE_H

#include <stdint.h>

typedef enum {
    KERNEL_BZIMAGE,
    KERNEL_RAW,
} KernelFormat;

/* What the vCPUs are started with. Segment descriptors as in the GDT. */
typedef struct X86BootState {
    uint64_t rip;
    uint64_t rsp;
    uint64_t rsi;                /* zero page */
    uint64_t cr0, cr3, cr4, efer;
    uint64_t gdt_base;
    uint16_t gdt_limit;
    uint64_t idt_base;
    uint16_t idt_limit;
    uint64_t code_desc;          /* GDT[2], selector 0x10 */
    uint64_t data_desc;          /* GDT[3], selector 0x18 */
    KernelFormat format;
    uint64_t initrd_addr, initrd_size;
} X86BootState;

#endif
