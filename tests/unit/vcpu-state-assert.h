/*
 * Field-by-field comparison of two X86VcpuStates, shared by the emu
 * (test-vcpu-state.c) and kvm (test-kvm-state.c) state tests.
 */
#ifndef TESTS_UNIT_VCPU_STATE_ASSERT_H
#define TESTS_UNIT_VCPU_STATE_ASSERT_H

#include <glib.h>

#include "accel/x86-cpu-state.h"

/* TSCs are read from the host clock at different moments: allow this much. */
#define TSC_SLACK    (5ull * 1000 * 1000 * 1000)
#define VSA_APIC_TMCCT 0x390

static void assert_xseg_equal(const X86Segment *a, const X86Segment *b)
{
    g_assert_cmphex(a->selector, ==, b->selector);
    g_assert_cmphex(a->base, ==, b->base);
    g_assert_cmphex(a->limit, ==, b->limit);
    g_assert_cmphex(a->attr, ==, b->attr);
}

/*
 * Every field of two saved states, the TSCs within TSC_SLACK of each other.
 * With exact_timer false the LAPIC's current count (TMCCT) of b may be
 * below a's (a timer ran on between the two gets).
 */
static G_GNUC_UNUSED void assert_states_equal(const X86VcpuState *a, const X86VcpuState *b,
                                              bool exact_timer)
{
    const X86VcpuEvents *ea = &a->events, *eb = &b->events;

    g_assert_cmpuint(a->version, ==, b->version);
    for (int i = 0; i < 16; i++) {
        g_assert_cmphex(a->gpr[i], ==, b->gpr[i]);
    }
    g_assert_cmphex(a->rip, ==, b->rip);
    g_assert_cmphex(a->rflags, ==, b->rflags);
    for (int i = 0; i < 6; i++) {
        assert_xseg_equal(&a->seg[i], &b->seg[i]);
    }
    assert_xseg_equal(&a->ldtr, &b->ldtr);
    assert_xseg_equal(&a->tr, &b->tr);
    g_assert_cmphex(a->gdtr.base, ==, b->gdtr.base);
    g_assert_cmphex(a->gdtr.limit, ==, b->gdtr.limit);
    g_assert_cmphex(a->idtr.base, ==, b->idtr.base);
    g_assert_cmphex(a->idtr.limit, ==, b->idtr.limit);
    g_assert_cmphex(a->cr0, ==, b->cr0);
    g_assert_cmphex(a->cr2, ==, b->cr2);
    g_assert_cmphex(a->cr3, ==, b->cr3);
    g_assert_cmphex(a->cr4, ==, b->cr4);
    g_assert_cmphex(a->cr8, ==, b->cr8);
    g_assert_cmphex(a->efer, ==, b->efer);
    for (int i = 0; i < 8; i++) {
        g_assert_cmphex(a->dr[i], ==, b->dr[i]);
    }
    g_assert_cmphex(a->xcr0, ==, b->xcr0);
    g_assert_cmpuint(ABS((int64_t)(a->tsc - b->tsc)), <, TSC_SLACK);
    g_assert_cmphex(a->apic_base, ==, b->apic_base);
    g_assert_cmphex(a->star, ==, b->star);
    g_assert_cmphex(a->lstar, ==, b->lstar);
    g_assert_cmphex(a->cstar, ==, b->cstar);
    g_assert_cmphex(a->sfmask, ==, b->sfmask);
    g_assert_cmphex(a->kernel_gs_base, ==, b->kernel_gs_base);
    g_assert_cmphex(a->tsc_aux, ==, b->tsc_aux);
    g_assert_cmphex(a->pat, ==, b->pat);
    g_assert_cmphex(a->sysenter_cs, ==, b->sysenter_cs);
    g_assert_cmphex(a->sysenter_esp, ==, b->sysenter_esp);
    g_assert_cmphex(a->sysenter_eip, ==, b->sysenter_eip);
    g_assert_cmphex(a->misc_enable, ==, b->misc_enable);
    g_assert_cmphex(a->tsc_deadline, ==, b->tsc_deadline);
    g_assert_cmpuint(a->n_msr_other, ==, b->n_msr_other);
    for (uint32_t i = 0; i < a->n_msr_other; i++) {
        g_assert_cmphex(a->msr_other[i].index, ==, b->msr_other[i].index);
        g_assert_cmphex(a->msr_other[i].value, ==, b->msr_other[i].value);
    }
    for (unsigned reg = 0; reg < X86_LAPIC_REGS_SIZE; reg += 4) {
        uint32_t va = x86_lapic_reg(a, reg), vb = x86_lapic_reg(b, reg);

        if ((reg == VSA_APIC_TMCCT && !exact_timer) ? vb > va : va != vb) {
            g_error("LAPIC register 0x%03x: 0x%08x, then 0x%08x", reg, va, vb);
        }
    }
    g_assert_cmphex(a->lapic_esr_pending, ==, b->lapic_esr_pending);
    g_assert_cmpuint(a->lapic_extint_pending, ==, b->lapic_extint_pending);
    g_assert_cmpuint(ea->mp_state, ==, eb->mp_state);
    g_assert_cmphex(ea->sipi_vector, ==, eb->sipi_vector);
    g_assert_cmpuint(ea->init_pending, ==, eb->init_pending);
    g_assert_cmpuint(ea->nmi_pending, ==, eb->nmi_pending);
    g_assert_cmpuint(ea->nmi_injected, ==, eb->nmi_injected);
    g_assert_cmpuint(ea->nmi_masked, ==, eb->nmi_masked);
    g_assert_cmpuint(ea->interrupt_shadow, ==, eb->interrupt_shadow);
    g_assert_cmpuint(ea->exception_injected, ==, eb->exception_injected);
    g_assert_cmpuint(ea->exception_nr, ==, eb->exception_nr);
    g_assert_cmpuint(ea->exception_has_error, ==, eb->exception_has_error);
    g_assert_cmphex(ea->exception_error, ==, eb->exception_error);
    g_assert_cmpuint(ea->interrupt_injected, ==, eb->interrupt_injected);
    g_assert_cmpuint(ea->interrupt_nr, ==, eb->interrupt_nr);
    g_assert_cmpuint(ea->interrupt_soft, ==, eb->interrupt_soft);
    g_assert_cmpuint(a->fpu_len, ==, b->fpu_len);
    g_assert_cmpmem(a->fpu, a->fpu_len, b->fpu, b->fpu_len);
}

#endif
