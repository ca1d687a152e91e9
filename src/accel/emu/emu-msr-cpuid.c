/*
 * The emu CPU's model-specific registers (RDMSR/WRMSR: the TSC, APIC_BASE,
 * TSC_DEADLINE, EFER, the SYSCALL and SYSENTER MSRs, FS/GS bases, PAT,
 * MISC_ENABLE, MTRRcap/MTRRdefType, ARCH_CAPABILITIES, the microcode
 * revision), the TSC and the clock it counts, and CPUID. Modes, segments
 * and control registers are emu-system.c.
 */
#include <string.h>
#include <time.h>

#include "accel/emu/emu-cpu.h"
#include "accel/emu/emu-apic.h"

#define MSR_TSC            0x10
#define MSR_TSC_ADJUST     0x3B
#define MSR_APIC_BASE      0x1B
#define MSR_UCODE_REV      0x8B
#define MSR_MTRRCAP        0xFE
#define MSR_ARCH_CAPABILITIES 0x10A
#define MSR_MTRR_DEF_TYPE  0x2FF
#define MSR_MISC_ENABLE    0x1A0
#define MSR_SYSENTER_CS    0x174
#define MSR_SYSENTER_ESP   0x175
#define MSR_SYSENTER_EIP   0x176
#define MSR_PAT            0x277
#define MSR_TSC_DEADLINE   0x6E0
#define MSR_EFER           0xC0000080
#define MSR_STAR           0xC0000081
#define MSR_LSTAR          0xC0000082
#define MSR_CSTAR          0xC0000083
#define MSR_SFMASK         0xC0000084
#define MSR_FS_BASE        0xC0000100
#define MSR_GS_BASE        0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102
#define MSR_TSC_AUX        0xC0000103

/*
 * IA32_ARCH_CAPABILITIES: an interpreter does not speculate, so it has none
 * of the transient-execution problems the guest would otherwise mitigate
 * (page-table isolation, buffer clearing with verw): RDCL_NO, SKIP_L1DFL,
 * SSB_NO, MDS_NO, PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO, PSDP_NO,
 * BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO, ITS_NO.
 */
#define EMU_ARCH_CAPABILITIES                                                     \
    ((1ull << 0) | (1ull << 3) | (1ull << 4) | (1ull << 5) | (1ull << 6) |          \
     (1ull << 8) | (1ull << 13) | (1ull << 14) | (1ull << 15) | (1ull << 20) |      \
     (1ull << 24) | (1ull << 26) | (1ull << 27) | (1ull << 62))

/* ---- the clock and the TSC ---- */

uint64_t emu_clock_ns(void *opaque)
{
    struct timespec ts;

    (void)opaque;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t emu_rdtsc(EmuCpu *c)
{
    /* EMU_TSC_KHZ is 1 GHz: one tick per nanosecond */
    return emu_clock_ns(NULL) + (uint64_t)c->tsc_offset;
}

/* ---- MSRs ---- */

/* Moves this vCPU's TSC by delta; IA32_TSC_ADJUST follows (SDM 17.17.3). */
static void tsc_move(EmuCpu *c, int64_t delta)
{
    c->tsc_offset += delta;
    c->tsc_adjust += delta;
    if (c->lapic) {              /* (a CPU without one: the unit tests') */
        emu_lapic_set_tsc_offset(c->lapic, c->tsc_offset);
    }
}

void emu_wrmsr(EmuCpu *c, uint32_t idx, uint64_t v)
{
    switch (idx) {
    case MSR_TSC: tsc_move(c, (int64_t)(v - emu_rdtsc(c))); break;
    case MSR_TSC_ADJUST: tsc_move(c, (int64_t)v - c->tsc_adjust); break;
    case MSR_APIC_BASE:
        if (!emu_lapic_set_apic_base(c->lapic, v)) {
            emu_gp(c, 0);
        }
        emu_tlb_flush(c);
        break;
    case MSR_TSC_DEADLINE: emu_lapic_set_tsc_deadline(c->lapic, v); break;
    case MSR_EFER: {
        uint64_t keep = c->efer & EFER_LMA;

        if (v & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) {
            emu_gp(c, 0);
        }
        c->efer = (v & ~EFER_LMA) | keep;
        emu_tlb_flush(c);
        break;
    }
    case MSR_STAR: c->star = v; break;
    case MSR_LSTAR: c->lstar = v; break;
    case MSR_CSTAR: c->cstar = v; break;
    case MSR_SFMASK: c->sfmask = v; break;
    case MSR_FS_BASE: c->seg[S_FS].base = v; break;
    case MSR_GS_BASE: c->seg[S_GS].base = v; break;
    case MSR_KERNEL_GS_BASE: c->kernel_gs_base = v; break;
    case MSR_TSC_AUX: c->tsc_aux = v; break;
    case MSR_PAT: c->pat = v; break;
    case MSR_UCODE_REV: break;               /* Linux writes 0 before reading it */
    case MSR_MTRR_DEF_TYPE:
        /* E, FE (no fixed ranges to enable, but the bit is writable) and the type */
        if (v & ~0xCFFull) {
            emu_gp(c, 0);
        }
        c->mtrr_def_type = v;
        break;
    case MSR_MISC_ENABLE: c->misc_enable = v; break;
    case MSR_SYSENTER_CS: c->sysenter_cs = v; break;
    case MSR_SYSENTER_ESP: c->sysenter_esp = v; break;
    case MSR_SYSENTER_EIP: c->sysenter_eip = v; break;
    default:
        emu_gp(c, 0);
    }
}

uint64_t emu_rdmsr(EmuCpu *c, uint32_t idx)
{
    switch (idx) {
    case MSR_TSC: return emu_rdtsc(c);
    case MSR_TSC_ADJUST: return (uint64_t)c->tsc_adjust;
    case MSR_APIC_BASE: return emu_lapic_get_apic_base(c->lapic);
    case MSR_TSC_DEADLINE: return emu_lapic_get_tsc_deadline(c->lapic);
    case MSR_EFER: return c->efer;
    case MSR_STAR: return c->star;
    case MSR_LSTAR: return c->lstar;
    case MSR_CSTAR: return c->cstar;
    case MSR_SFMASK: return c->sfmask;
    case MSR_FS_BASE: return c->seg[S_FS].base;
    case MSR_GS_BASE: return c->seg[S_GS].base;
    case MSR_KERNEL_GS_BASE: return c->kernel_gs_base;
    case MSR_TSC_AUX: return c->tsc_aux;
    case MSR_PAT: return c->pat;
    /* no variable or fixed ranges, no write-combining: the default type is all */
    case MSR_MTRRCAP: return 0;
    case 0x17: return 0;     /* IA32_PLATFORM_ID: KVM's 0 (OVMF's microcode lookup reads it) */
    case MSR_UCODE_REV: return 1ull << 32;   /* microcode revision 1 (QEMU's TCG has it too) */
    case MSR_ARCH_CAPABILITIES: return EMU_ARCH_CAPABILITIES;
    case MSR_MTRR_DEF_TYPE: return c->mtrr_def_type;
    case MSR_MISC_ENABLE: return c->misc_enable;
    case MSR_SYSENTER_CS: return c->sysenter_cs;
    case MSR_SYSENTER_ESP: return c->sysenter_esp;
    case MSR_SYSENTER_EIP: return c->sysenter_eip;
    default:
        emu_gp(c, 0);
    }
}

/*
 * CPUID: a plain x86-64 with the features this interpreter implements and
 * nothing else (x87, MMX, FXSR, SSE, SSE2, POPCNT; no XSAVE, no AVX, no
 * SSE3 and later), QEMU TCG's hypervisor signature, and the TSC and
 * APIC-bus frequencies that guests use instead of calibrating: Intel's
 * leaves 0x15/0x16 (what Linux's native_calibrate_tsc reads whatever the
 * hypervisor; it also takes the crystal as the LAPIC timer clock, which
 * is why the crystal is the 1 GHz APIC bus with a 1:1 TSC ratio) and the
 * KVM/VMware-style leaf 0x40000010. The TSC counts CLOCK_MONOTONIC, so it
 * is invariant (0x80000007 EDX bit 8) whatever the guest does.
 */
_Static_assert(EMU_TSC_KHZ % EMU_APIC_BUS_KHZ == 0 && EMU_APIC_BUS_KHZ * 1000 <= UINT32_MAX,
               "leaf 0x15 needs an integer TSC/crystal ratio and a 32-bit crystal in Hz");

void emu_cpuid(EmuCpu *c, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    memset(r, 0, 4 * sizeof(uint32_t));
    switch (leaf) {
    case 0:
        r[0] = 0x16;
        memcpy(&r[1], "Genu", 4);
        memcpy(&r[3], "ineI", 4);
        memcpy(&r[2], "ntel", 4);
        break;
    case 1:
        r[0] = 0x000606A6;                       /* family 6 */
        r[1] = (c->index << 24) | (MIN(c->ncpus, 255u) << 16) | (8 << 8);
        /* ECX: CX16, POPCNT, TSC-deadline, hypervisor. EDX: FPU, PSE, TSC, MSR,
         * PAE, CX8, APIC, (no SEP), MTRR, PGE, CMOV, PAT, CLFSH, MMX, FXSR,
         * SSE, SSE2, HTT. */
        r[2] = (1u << 13) | (1u << 23) | (1u << 24) | (1u << 31);
        r[3] = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) |
               (1u << 9) | (1u << 12) | (1u << 13) | (1u << 15) | (1u << 16) |
               (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26) |
               (c->ncpus > 1 ? 1u << 28 : 0);
        break;
    case 7:
        if (sub == 0) {
            /* IA32_TSC_ADJUST: with the constant and invariant TSC it tells Linux
             * the TSC needs no clocksource watchdog, which under emulation
             * compares it with a jiffies count that lags whenever the host
             * delays a tick and then marks the TSC unstable */
            r[1] = 1u << 1;
            /* ERMS: rep movsb/stosb run a page at a time (emu-exec-data.c), so
             * Linux's memcpy/memset/clear_page may use them */
            r[1] |= 1u << 9;
            r[3] = 1u << 29;                     /* IA32_ARCH_CAPABILITIES */
        }
        break;
    case 0xB:
        if (sub == 0) {
            r[0] = 0; r[1] = 1; r[2] = 0x100;
        } else if (sub == 1) {
            r[0] = 8; r[1] = c->ncpus; r[2] = sub | 0x200;
        } else {
            r[2] = sub;
        }
        r[3] = c->index;
        break;
    case 0x15:
        /* TSC = crystal (ECX Hz) * EBX / EAX */
        r[0] = 1;
        r[1] = (uint32_t)(EMU_TSC_KHZ / EMU_APIC_BUS_KHZ);
        r[2] = (uint32_t)(EMU_APIC_BUS_KHZ * 1000);
        break;
    case 0x16:
        /* base, maximum and bus (reference) frequencies in MHz */
        r[0] = r[1] = (uint32_t)(EMU_TSC_KHZ / 1000);
        r[2] = (uint32_t)(EMU_APIC_BUS_KHZ / 1000);
        break;
    case 0x40000000:
        r[0] = 0x40000010;
        memcpy(&r[1], "TCGT", 4);
        memcpy(&r[2], "CGTC", 4);
        memcpy(&r[3], "GTCG", 4);
        break;
    case 0x40000010:
        r[0] = (uint32_t)EMU_TSC_KHZ;
        r[1] = (uint32_t)EMU_APIC_BUS_KHZ;
        break;
    case 0x80000000:
        r[0] = 0x80000008;
        break;
    case 0x80000007:
        r[3] = 1u << 8;                          /* invariant TSC */
        break;
    case 0x80000001:
        /* LAHF/SAHF in 64-bit mode; SYSCALL, NX, 1 GiB pages, RDTSCP, LM. */
        r[2] = 1;
        r[3] = (1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29);
        break;
    case 0x80000008:
        /*
         * 40-bit physical as QEMU's TCG CPUs and the APIC base MSR's check
         * (EMU_APIC_PHYS_BITS): q35's 64-bit PCI window at 512 GiB must lie
         * below it, as guests clip windows to this width.
         */
        r[0] = 0x3000 | EMU_APIC_PHYS_BITS;      /* 48-bit linear */
        break;
    default:
        break;
    }
}
