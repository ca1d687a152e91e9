/*
 * The state of one x86 vCPU, independent of the accelerator that runs it:
 * what AccelOps.vcpu_get_state reports and vcpu_set_state loads (accel.h),
 * and what a snapshot of a vCPU will be made of.
 *
 * Plain data with a version, no pointers and no KVM types: values are in
 * the architecture's own formats (segment attributes as VMX access rights,
 * the LAPIC page as its MMIO layout, the FPU as an XSAVE image) so kvm and
 * emu fill it the same way. Where an accelerator has no such state it
 * reports 0 (see the notes on each field); docs/accelerators.md, "vCPU
 * state", has the rules in prose.
 */
#ifndef STRATUS_X86_CPU_STATE_H
#define STRATUS_X86_CPU_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <glib.h>

/*
 * Bumped on any change of the layout or of a field's meaning. A load
 * refuses any other version (converting old states is the snapshot
 * format's business, not the accelerators').
 */
#define X86_VCPU_STATE_VERSION 1

/* gpr[] indices: the instruction encoding's register numbers. */
enum {
    X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
    X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
};

/* seg[] indices: the encoding's segment register numbers. */
enum { X86_SEG_ES, X86_SEG_CS, X86_SEG_SS, X86_SEG_DS, X86_SEG_FS, X86_SEG_GS };

/*
 * X86Segment.attr: the descriptor's bits 40..55 shifted down by 40 (the
 * limit's bits 19:16 in 11:8 are always 0), plus "unusable" in bit 16:
 * the layout of VMX's segment access rights.
 */
#define X86_SEG_ATTR_TYPE_MASK 0x000Fu
#define X86_SEG_ATTR_S         0x0010u      /* code/data (not system) */
#define X86_SEG_ATTR_DPL_SHIFT 5
#define X86_SEG_ATTR_P         0x0080u
#define X86_SEG_ATTR_AVL       0x1000u
#define X86_SEG_ATTR_L         0x2000u
#define X86_SEG_ATTR_DB        0x4000u
#define X86_SEG_ATTR_G         0x8000u
#define X86_SEG_ATTR_UNUSABLE  0x10000u     /* a null selector's cache (VMX) */

typedef struct X86Segment {
    uint64_t base;
    uint32_t limit;              /* in bytes: G already applied */
    uint32_t attr;               /* X86_SEG_ATTR_* */
    uint16_t selector;
    uint16_t pad[3];
} X86Segment;

typedef struct X86DescTable {
    uint64_t base;
    uint16_t limit;
    uint16_t pad[3];
} X86DescTable;

/* mp_state: KVM's KVM_MP_STATE_* numbers (kvm-x86-state.c checks they agree). */
enum {
    X86_MP_STATE_RUNNABLE = 0,
    X86_MP_STATE_UNINITIALIZED = 1,     /* an AP before its first INIT: ignores SIPI */
    X86_MP_STATE_INIT_RECEIVED = 2,     /* after INIT: waits for SIPI */
    X86_MP_STATE_HALTED = 3,            /* hlt: waits for an interrupt */
    X86_MP_STATE_SIPI_RECEIVED = 4,     /* a SIPI (events.sipi_vector) not yet taken */
};

/* events.interrupt_shadow bits (KVM's KVM_X86_SHADOW_INT_*). */
#define X86_SHADOW_MOV_SS 0x1
#define X86_SHADOW_STI    0x2

/*
 * Events between two instructions. With the vCPU parked, kvm may hold an
 * exception, interrupt or NMI whose delivery it has begun but not finished
 * (the *_injected fields); emu never does (it delivers an event within the
 * instruction boundary) and refuses to load a state that has one.
 */
typedef struct X86VcpuEvents {
    uint32_t mp_state;           /* X86_MP_STATE_* */
    uint8_t sipi_vector;         /* with X86_MP_STATE_SIPI_RECEIVED */
    /*
     * The LAPIC accepted an INIT the CPU has not acted on yet: it resets
     * the CPU before anything else runs (an AP then waits for SIPI).
     */
    uint8_t init_pending;
    uint8_t nmi_pending;         /* an NMI is latched */
    uint8_t nmi_injected;        /* kvm: an NMI delivery is under way */
    uint8_t nmi_masked;          /* NMIs blocked until the next IRET (emu: never) */
    uint8_t interrupt_shadow;    /* X86_SHADOW_*: interrupts blocked for one instruction */
    uint8_t exception_injected;  /* kvm: exception_nr is being delivered */
    uint8_t exception_nr;
    uint8_t exception_has_error;
    uint8_t interrupt_injected;  /* kvm: interrupt_nr is being delivered */
    uint8_t interrupt_nr;
    uint8_t interrupt_soft;      /* ... by an INT n */
    uint32_t exception_error;
} X86VcpuEvents;

/* The LAPIC register page as KVM's struct kvm_lapic_state. */
#define X86_LAPIC_REGS_SIZE 1024
/* The largest FPU image (KVM_GET_XSAVE's struct kvm_xsave). */
#define X86_FPU_STATE_MAX 4096
/* fpu_len values: the x87/SSE legacy region (an FXSAVE image), + the XSAVE header. */
#define X86_FPU_LEGACY_SIZE 512
#define X86_FPU_XSAVE_MIN   576
/* Room for other MSRs (msr_other). */
#define X86_VCPU_MAX_OTHER_MSRS 32

typedef struct X86Msr {
    uint32_t index;
    uint32_t pad;
    uint64_t value;
} X86Msr;

typedef struct X86VcpuState {
    uint32_t version;            /* X86_VCPU_STATE_VERSION */
    uint32_t pad0;

    /* ---- registers ---- */
    uint64_t gpr[16];            /* X86_RAX.. */
    uint64_t rip;
    uint64_t rflags;
    X86Segment seg[6];           /* X86_SEG_ES..; FS/GS base are IA32_FS/GS_BASE */
    X86Segment ldtr;
    X86Segment tr;
    X86DescTable gdtr;
    X86DescTable idtr;
    uint64_t cr0, cr2, cr3, cr4;
    uint64_t cr8;                /* = the LAPIC's TPR[7:4] (a load checks they agree) */
    uint64_t efer;
    /* DR0-3, DR6, DR7; dr[4] and dr[5] (aliases of DR6/DR7) are 0 under kvm. */
    uint64_t dr[8];
    uint64_t xcr0;               /* 0: none (emu has no XSAVE) */

    /* ---- MSRs ---- */
    uint64_t tsc;                /* IA32_TSC at the time of the get */
    uint64_t apic_base;          /* IA32_APIC_BASE, BSP bit included */
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t tsc_aux;
    uint64_t pat;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t misc_enable;
    uint64_t tsc_deadline;       /* IA32_TSC_DEADLINE; 0: disarmed */
    /*
     * MSRs the accelerator keeps besides the above (kvm: its paravirtual
     * clock, async-PF, steal-time and PV-EOI MSRs when KVM has them; emu:
     * none). emu refuses to load one with a non-zero value.
     */
    uint32_t n_msr_other;
    uint32_t pad1;
    X86Msr msr_other[X86_VCPU_MAX_OTHER_MSRS];

    /* ---- local APIC ---- */
    /*
     * The first KiB of the xAPIC page as KVM_GET_LAPIC gives it: each
     * register's 32-bit little-endian value at its MMIO offset. TMCCT holds
     * the timer's current count at the get; a load restarts the timer from
     * it.
     */
    uint8_t lapic[X86_LAPIC_REGS_SIZE];
    /* emu's LAPIC state outside the page; 0 under kvm, which ignores them. */
    uint32_t lapic_esr_pending;  /* errors since the last ESR write */
    uint8_t lapic_extint_pending;  /* an ExtINT message from the IOAPIC is latched */
    uint8_t pad2[3];

    /* ---- events ---- */
    X86VcpuEvents events;

    /* ---- FPU ---- */
    /*
     * The first fpu_len bytes of a standard-format XSAVE area: 0 (none: the
     * FPU's init state; emu has no x87/SSE yet and ignores the image),
     * X86_FPU_LEGACY_SIZE (the x87/SSE region, an FXSAVE image) or
     * X86_FPU_XSAVE_MIN..X86_FPU_STATE_MAX (with the XSAVE header).
     */
    uint32_t fpu_len;
    uint32_t pad3;
    uint8_t fpu[X86_FPU_STATE_MAX];
} X86VcpuState;

/* An empty state of the current version (everything else 0). */
static inline void x86_vcpu_state_init(X86VcpuState *st)
{
    memset(st, 0, sizeof(*st));
    st->version = X86_VCPU_STATE_VERSION;
}

/* The LAPIC page's 32-bit register at MMIO offset reg (< X86_LAPIC_REGS_SIZE). */
uint32_t x86_lapic_reg(const X86VcpuState *st, unsigned reg);
void x86_lapic_set_reg(X86VcpuState *st, unsigned reg, uint32_t value);

/*
 * The checks every accelerator makes before loading anything: version,
 * CR0 (PG needs PE, NW needs CD, bits 63:32 clear), long mode (EFER.LME
 * with CR0.PG needs CR4.PAE and EFER.LMA; otherwise LMA and CS.L must be
 * clear), reserved RFLAGS and segment attribute bits, CR8 against the
 * LAPIC's TPR, mp_state, interrupt_shadow, the injected exception's vector,
 * DR6/DR7 bits 63:32, fpu_len, n_msr_other. false with *err naming the
 * first problem.
 */
bool x86_vcpu_state_check(const X86VcpuState *st, GError **err);

#endif
