/*
 * Saving and loading the emu CPU's state (emu-state.h): EmuCpu and its
 * LAPIC to and from the accelerator-independent X86VcpuState.
 *
 * Wait-for-SIPI lives in two places in emu: the CPU's wait_sipi (it does
 * not execute) and the LAPIC's wait_for_sipi (it accepts a SIPI, i.e. an
 * INIT came first). mp_state is made of both:
 *
 *   CPU wait_sipi  LAPIC                     mp_state
 *   yes            a SIPI event pending      SIPI_RECEIVED (sipi_vector)
 *   yes            wait_for_sipi             INIT_RECEIVED
 *   yes            neither                   UNINITIALIZED (AP after reset)
 *   no             -                         HALTED if halted, else RUNNABLE
 *
 * An INIT the LAPIC accepted and the CPU has not taken yet is
 * events.init_pending; an NMI likewise events.nmi_pending.
 */
#include <stddef.h>
#include <string.h>

#include "accel/emu/emu-state.h"
#include "accel/emu/emu-apic.h"
#include "util/strutil.h"

#define APIC_TPR            0x80
#define APIC_BASE_BSP       (1ULL << 8)
#define EFER_EMU_BITS       (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)
#define MSR_MTRR_DEF_TYPE   0x2FF
#define MSR_TSC_ADJUST      0x3B
#define XSTATE_BV_OFFSET    512          /* in an XSAVE image's header */
#define XSTATE_X87          1ull
#define XSTATE_SSE          2ull

static void seg_save(X86Segment *x, const EmuSeg *s)
{
    memset(x, 0, sizeof(*x));
    x->selector = s->sel;
    x->base = s->base;
    x->limit = s->limit;
    x->attr = s->attr & 0xF0FFu;
    if (!(s->attr & SEG_P)) {
        x->attr |= X86_SEG_ATTR_UNUSABLE;
    }
}

static void seg_load(EmuSeg *s, const X86Segment *x)
{
    s->sel = x->selector;
    s->base = x->base;
    s->limit = x->limit;
    s->attr = (uint16_t)(x->attr & 0xF0FFu);
    if (x->attr & X86_SEG_ATTR_UNUSABLE) {
        s->attr &= ~SEG_P;
    }
}

static uint32_t save_mp_state(const EmuCpu *c, const EmuLapicState *ls)
{
    if (ls->events & EMU_LAPIC_EV_SIPI) {
        return X86_MP_STATE_SIPI_RECEIVED;
    }
    if (c->wait_sipi) {
        return ls->wait_for_sipi ? X86_MP_STATE_INIT_RECEIVED : X86_MP_STATE_UNINITIALIZED;
    }
    return c->halted ? X86_MP_STATE_HALTED : X86_MP_STATE_RUNNABLE;
}

void emu_cpu_save_state(EmuCpu *c, X86VcpuState *st)
{
    EmuLapicState ls;
    X86VcpuEvents *ev = &st->events;

    memset(&ls, 0, sizeof(ls));
    if (c->lapic) {
        emu_lapic_save(c->lapic, &ls);
    }
    x86_vcpu_state_init(st);

    memcpy(st->gpr, c->gpr, sizeof(st->gpr));
    st->rip = c->rip;
    st->rflags = c->rflags;
    for (int i = 0; i < 6; i++) {
        seg_save(&st->seg[i], &c->seg[i]);
    }
    seg_save(&st->ldtr, &c->ldtr);
    seg_save(&st->tr, &c->tr);
    st->gdtr.base = c->gdtr.base;
    st->gdtr.limit = c->gdtr.limit;
    st->idtr.base = c->idtr.base;
    st->idtr.limit = c->idtr.limit;
    st->cr0 = c->cr0;
    st->cr2 = c->cr2;
    st->cr3 = c->cr3;
    st->cr4 = c->cr4;
    st->efer = c->efer;
    memcpy(st->dr, c->dr, sizeof(st->dr));
    st->xcr0 = 0;

    st->tsc = emu_rdtsc(c);
    st->apic_base = ls.apic_base;
    st->star = c->star;
    st->lstar = c->lstar;
    st->cstar = c->cstar;
    st->sfmask = c->sfmask;
    st->kernel_gs_base = c->kernel_gs_base;
    st->tsc_aux = c->tsc_aux;
    st->pat = c->pat;
    st->sysenter_cs = c->sysenter_cs;
    st->sysenter_esp = c->sysenter_esp;
    st->sysenter_eip = c->sysenter_eip;
    st->misc_enable = c->misc_enable;
    st->tsc_deadline = ls.tsc_deadline;
    st->n_msr_other = 2;
    st->msr_other[0] = (X86Msr){ .index = MSR_MTRR_DEF_TYPE, .value = c->mtrr_def_type };
    st->msr_other[1] = (X86Msr){ .index = MSR_TSC_ADJUST, .value = (uint64_t)c->tsc_adjust };

    memcpy(st->lapic, ls.regs, sizeof(st->lapic));
    st->cr8 = (x86_lapic_reg(st, APIC_TPR) >> 4) & 0xF;
    st->lapic_esr_pending = ls.esr_pending;
    st->lapic_extint_pending = ls.extint_latched;

    ev->mp_state = save_mp_state(c, &ls);
    ev->sipi_vector = (ls.events & EMU_LAPIC_EV_SIPI) ? ls.sipi_vector : 0;
    ev->init_pending = !!(ls.events & EMU_LAPIC_EV_INIT);
    ev->nmi_pending = !!(ls.events & EMU_LAPIC_EV_NMI);
    ev->interrupt_shadow = c->sti_shadow ? X86_SHADOW_STI : 0;

    /* EmuFpu is an FXSAVE image: the legacy region as it is */
    memcpy(st->fpu, &c->fpu, X86_FPU_LEGACY_SIZE);
    st->fpu_len = X86_FPU_LEGACY_SIZE;
}

/*
 * The FPU image into *f: none is the init state; with an XSAVE header, the
 * x87 and SSE parts its XSTATE_BV marks as in their init state are that.
 * false for what emu cannot hold: MXCSR reserved bits, AVX and later state.
 */
static bool fpu_from_state(EmuFpu *f, const X86VcpuState *st, GError **err)
{
    uint64_t bv = XSTATE_X87 | XSTATE_SSE;
    uint32_t mxcsr;

    memset(f, 0, sizeof(*f));
    f->fcw = 0x037F;
    f->mxcsr = EMU_MXCSR_RESET;
    f->mxcsr_mask = EMU_MXCSR_MASK;
    if (st->fpu_len == 0) {
        return true;
    }
    if (st->fpu_len >= X86_FPU_XSAVE_MIN) {
        memcpy(&bv, st->fpu + XSTATE_BV_OFFSET, 8);
        if (bv & ~(XSTATE_X87 | XSTATE_SSE)) {
            set_error(err, "emu: the FPU image holds XSAVE state 0x%" G_GINT64_MODIFIER
                      "x (AVX or later) the emu CPU does not implement", (guint64)bv);
            return false;
        }
    }
    memcpy(&mxcsr, st->fpu + 24, 4);
    if (mxcsr & ~EMU_MXCSR_MASK) {
        set_error(err, "emu: MXCSR 0x%x has reserved bits set", mxcsr);
        return false;
    }
    f->mxcsr = mxcsr;
    if (bv & XSTATE_X87) {
        memcpy(f, st->fpu, offsetof(EmuFpu, mxcsr));
        memcpy(f->st, st->fpu + offsetof(EmuFpu, st), sizeof(f->st));
    }
    if (bv & XSTATE_SSE) {
        memcpy(f->xmm, st->fpu + offsetof(EmuFpu, xmm), sizeof(f->xmm));
    }
    return true;
}

/* What the emu CPU cannot hold, beyond x86_vcpu_state_check. */
static bool emu_check(const EmuCpu *c, const X86VcpuState *st, GError **err)
{
    const X86VcpuEvents *ev = &st->events;

    if (ev->exception_injected) {
        set_error(err, "emu: cannot load a vCPU in the middle of delivering exception %u",
                  ev->exception_nr);
        return false;
    }
    if (ev->interrupt_injected) {
        set_error(err, "emu: cannot load a vCPU in the middle of delivering interrupt %u",
                  ev->interrupt_nr);
        return false;
    }
    if (ev->nmi_injected) {
        set_error(err, "emu: cannot load a vCPU in the middle of delivering an NMI");
        return false;
    }
    if (st->efer & ~EFER_EMU_BITS) {
        set_error(err, "emu: EFER 0x%" G_GINT64_MODIFIER "x has bits the emu CPU does not "
                  "implement", (guint64)st->efer);
        return false;
    }
    for (uint32_t i = 0; i < st->n_msr_other; i++) {
        if (st->msr_other[i].index == MSR_MTRR_DEF_TYPE) {
            if (st->msr_other[i].value & ~0xCFFull) {
                set_error(err, "emu: MTRRdefType 0x%" G_GINT64_MODIFIER "x has reserved bits set",
                          (guint64)st->msr_other[i].value);
                return false;
            }
        } else if (st->msr_other[i].index != MSR_TSC_ADJUST && st->msr_other[i].value) {
            set_error(err, "emu: MSR 0x%x (0x%" G_GINT64_MODIFIER "x) has no emu equivalent",
                      st->msr_other[i].index, (guint64)st->msr_other[i].value);
            return false;
        }
    }
    if (!c->lapic && (ev->init_pending || ev->nmi_pending ||
                      ev->mp_state == X86_MP_STATE_SIPI_RECEIVED)) {
        set_error(err, "emu: a CPU without a LAPIC cannot hold pending INIT, SIPI or NMI");
        return false;
    }
    return true;
}

bool emu_cpu_load_state(EmuCpu *c, const X86VcpuState *st, GError **err)
{
    const X86VcpuEvents *ev = &st->events;
    int64_t tsc_offset = (int64_t)(st->tsc - emu_clock_ns(NULL));
    bool wait_sipi = false, halted = false;
    EmuFpu fpu;

    if (!x86_vcpu_state_check(st, err) || !emu_check(c, st, err) ||
        !fpu_from_state(&fpu, st, err)) {
        return false;
    }
    switch (ev->mp_state) {
    case X86_MP_STATE_HALTED:
        halted = true;
        break;
    case X86_MP_STATE_UNINITIALIZED:
    case X86_MP_STATE_INIT_RECEIVED:
    case X86_MP_STATE_SIPI_RECEIVED:
        wait_sipi = true;
        break;
    default:
        break;
    }

    /* The LAPIC first: the one step that can still refuse. */
    if (c->lapic) {
        EmuLapicState ls;

        memset(&ls, 0, sizeof(ls));
        memcpy(ls.regs, st->lapic, sizeof(ls.regs));
        ls.apic_base = st->apic_base;
        ls.tsc_deadline = st->tsc_deadline;
        ls.tsc_offset = tsc_offset;
        ls.esr_pending = st->lapic_esr_pending;
        ls.extint_latched = st->lapic_extint_pending;
        ls.wait_for_sipi = ev->mp_state == X86_MP_STATE_INIT_RECEIVED;
        if (ev->mp_state == X86_MP_STATE_SIPI_RECEIVED) {
            ls.events |= EMU_LAPIC_EV_SIPI;
            ls.sipi_vector = ev->sipi_vector;
        }
        if (ev->init_pending) {
            ls.events |= EMU_LAPIC_EV_INIT;
            /* As the LAPIC's INIT acceptance left it, unless a SIPI came since. */
            if (ev->mp_state != X86_MP_STATE_SIPI_RECEIVED) {
                ls.wait_for_sipi = !(st->apic_base & APIC_BASE_BSP);
            }
        }
        if (ev->nmi_pending) {
            ls.events |= EMU_LAPIC_EV_NMI;
        }
        if (!emu_lapic_load(c->lapic, &ls)) {
            set_error(err, "emu: IA32_APIC_BASE 0x%" G_GINT64_MODIFIER
                      "x has reserved bits set", (guint64)st->apic_base);
            return false;
        }
    }

    memcpy(c->gpr, st->gpr, sizeof(c->gpr));
    c->rip = st->rip;
    c->rflags = st->rflags;
    for (int i = 0; i < 6; i++) {
        seg_load(&c->seg[i], &st->seg[i]);
    }
    seg_load(&c->ldtr, &st->ldtr);
    seg_load(&c->tr, &st->tr);
    c->gdtr = (EmuDtr){ st->gdtr.base, st->gdtr.limit };
    c->idtr = (EmuDtr){ st->idtr.base, st->idtr.limit };
    c->cr0 = st->cr0;
    c->cr2 = st->cr2;
    c->cr3 = st->cr3;
    c->cr4 = st->cr4;
    c->efer = st->efer;
    memcpy(c->dr, st->dr, sizeof(c->dr));

    c->tsc_offset = tsc_offset;
    c->star = st->star;
    c->lstar = st->lstar;
    c->cstar = st->cstar;
    c->sfmask = st->sfmask;
    c->kernel_gs_base = st->kernel_gs_base;
    c->tsc_aux = st->tsc_aux;
    c->pat = st->pat;
    c->sysenter_cs = st->sysenter_cs;
    c->sysenter_esp = st->sysenter_esp;
    c->sysenter_eip = st->sysenter_eip;
    c->misc_enable = st->misc_enable;
    c->fpu = fpu;
    c->tsc_adjust = 0;           /* a state without it (an older snapshot, kvm's) */
    for (uint32_t i = 0; i < st->n_msr_other; i++) {
        if (st->msr_other[i].index == MSR_MTRR_DEF_TYPE) {
            c->mtrr_def_type = st->msr_other[i].value;
        } else if (st->msr_other[i].index == MSR_TSC_ADJUST) {
            c->tsc_adjust = (int64_t)st->msr_other[i].value;
        }
    }

    c->halted = halted;
    c->wait_sipi = wait_sipi;
    c->sti_shadow = ev->interrupt_shadow != 0;

    /* Between two instructions, nothing being delivered. */
    c->insn_rip = c->next_rip = c->rip;
    c->exc_vector = -1;
    c->delivering = -1;
    emu_tlb_flush(c);
    emu_update_mode(c);
    return true;
}
