/*
 * Helpers of the accelerator-independent x86 vCPU state (x86-cpu-state.h):
 * LAPIC page access and the checks made before any accelerator loads one.
 */
#include <string.h>

#include "accel/x86-cpu-state.h"
#include "util/strutil.h"

#define CR0_PE   (1ULL << 0)
#define CR0_NW   (1ULL << 29)
#define CR0_CD   (1ULL << 30)
#define CR0_PG   (1ULL << 31)
#define CR4_PAE  (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
/* RFLAGS bits 3, 5, 15 and 63:22 are reserved (read as 0). */
#define RFLAGS_RESERVED (0xFFFFFFFFFFC08028ULL)
#define SEG_ATTR_VALID  (0x1F0FFu)
#define APIC_TPR 0x80

uint32_t x86_lapic_reg(const X86VcpuState *st, unsigned reg)
{
    uint32_t v;

    g_assert(reg <= X86_LAPIC_REGS_SIZE - sizeof(v));
    memcpy(&v, &st->lapic[reg], sizeof(v));
    return GUINT32_FROM_LE(v);
}

void x86_lapic_set_reg(X86VcpuState *st, unsigned reg, uint32_t value)
{
    uint32_t v = GUINT32_TO_LE(value);

    g_assert(reg <= X86_LAPIC_REGS_SIZE - sizeof(v));
    memcpy(&st->lapic[reg], &v, sizeof(v));
}

static bool check_segments(const X86VcpuState *st, GError **err)
{
    static const char *const names[8] = { "ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR" };

    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
        const X86Segment *s = i < 6 ? &st->seg[i] : i == 6 ? &st->ldtr : &st->tr;

        if (s->attr & ~SEG_ATTR_VALID) {
            set_error(err, "invalid vCPU state: %s attributes 0x%x have reserved bits set",
                      names[i], s->attr);
            return false;
        }
    }
    return true;
}

bool x86_vcpu_state_check(const X86VcpuState *st, GError **err)
{
    const X86VcpuEvents *ev = &st->events;
    bool long_paging = (st->efer & EFER_LME) && (st->cr0 & CR0_PG);
    uint32_t tpr = x86_lapic_reg(st, APIC_TPR);

    if (st->version != X86_VCPU_STATE_VERSION) {
        set_error(err, "vCPU state version %u is not supported (expected %u)",
                  st->version, X86_VCPU_STATE_VERSION);
        return false;
    }
    if (st->rflags & RFLAGS_RESERVED) {
        set_error(err, "invalid vCPU state: RFLAGS 0x%" G_GINT64_MODIFIER
                  "x has reserved bits set", (guint64)st->rflags);
        return false;
    }
    if (st->cr0 >> 32) {
        set_error(err, "invalid vCPU state: CR0 0x%" G_GINT64_MODIFIER
                  "x has bits 63:32 set", (guint64)st->cr0);
        return false;
    }
    if ((st->cr0 & CR0_PG) && !(st->cr0 & CR0_PE)) {
        set_error(err, "invalid vCPU state: CR0.PG is set without CR0.PE");
        return false;
    }
    if ((st->cr0 & CR0_NW) && !(st->cr0 & CR0_CD)) {
        set_error(err, "invalid vCPU state: CR0.NW is set without CR0.CD");
        return false;
    }
    if (long_paging) {
        if (!(st->cr4 & CR4_PAE)) {
            set_error(err, "invalid vCPU state: EFER.LME and CR0.PG are set without CR4.PAE");
            return false;
        }
        if (!(st->efer & EFER_LMA)) {
            set_error(err, "invalid vCPU state: EFER.LME and CR0.PG are set but EFER.LMA is not");
            return false;
        }
    } else {
        if (st->efer & EFER_LMA) {
            set_error(err, "invalid vCPU state: EFER.LMA is set without EFER.LME and CR0.PG");
            return false;
        }
        if (st->seg[X86_SEG_CS].attr & X86_SEG_ATTR_L) {
            set_error(err, "invalid vCPU state: CS.L is set outside long mode");
            return false;
        }
    }
    if (!check_segments(st, err)) {
        return false;
    }
    if (st->cr8 > 15) {
        set_error(err, "invalid vCPU state: CR8 0x%" G_GINT64_MODIFIER "x is above 15",
                  (guint64)st->cr8);
        return false;
    }
    if (st->cr8 != ((tpr >> 4) & 0xF)) {
        set_error(err, "invalid vCPU state: CR8 %" G_GINT64_MODIFIER
                  "u disagrees with the LAPIC TPR 0x%x", (guint64)st->cr8, tpr);
        return false;
    }
    if (ev->mp_state > X86_MP_STATE_SIPI_RECEIVED) {
        set_error(err, "invalid vCPU state: unknown mp_state %u", ev->mp_state);
        return false;
    }
    if (ev->interrupt_shadow & ~(X86_SHADOW_MOV_SS | X86_SHADOW_STI)) {
        set_error(err, "invalid vCPU state: interrupt shadow 0x%x", ev->interrupt_shadow);
        return false;
    }
    if (ev->exception_injected && (ev->exception_nr >= 32 || ev->exception_nr == 2)) {
        set_error(err, "invalid vCPU state: injected exception vector %u is not an exception",
                  ev->exception_nr);
        return false;
    }
    if ((st->dr[6] | st->dr[7]) >> 32) {
        set_error(err, "invalid vCPU state: DR6 or DR7 has bits 63:32 set");
        return false;
    }
    if (st->fpu_len != 0 && st->fpu_len != X86_FPU_LEGACY_SIZE &&
        (st->fpu_len < X86_FPU_XSAVE_MIN || st->fpu_len > X86_FPU_STATE_MAX)) {
        set_error(err, "invalid vCPU state: FPU image of %u bytes", st->fpu_len);
        return false;
    }
    if (st->n_msr_other > X86_VCPU_MAX_OTHER_MSRS) {
        set_error(err, "invalid vCPU state: %u other MSRs (at most %u)", st->n_msr_other,
                  X86_VCPU_MAX_OTHER_MSRS);
        return false;
    }
    return true;
}
