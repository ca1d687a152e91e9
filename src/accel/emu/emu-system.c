/*
 * The system side of the emu CPU: operating modes, segment loads from the
 * GDT/LDT, far transfers, interrupt and exception delivery through the IDT
 * (real mode IVT, 32-bit and 64-bit gates with stack switches via the TSS
 * and IST), IRET, control registers, TR/LDTR, SYSCALL/SYSRET, the I/O
 * permission bitmap, and INIT/SIPI. MSRs, the TSC and CPUID are
 * emu-msr-cpuid.c.
 */
#include <string.h>

#include "accel/emu/emu-cpu.h"
#include "accel/emu/emu-apic.h"
#include "util/log.h"

void emu_update_mode(EmuCpu *c)
{
    const EmuSeg *cs = &c->seg[S_CS];

    c->block_exit = true;    /* instructions decoded for the old mode are stale */
    c->long64 = (c->efer & EFER_LMA) && (cs->attr & SEG_L);
    if (c->long64) {
        c->mode = MODE_64;
    } else if ((c->cr0 & CR0_PE) && (cs->attr & SEG_DB)) {
        c->mode = MODE_32;
    } else {
        c->mode = MODE_16;
    }
    c->stack32 = (c->cr0 & CR0_PE) && (c->seg[S_SS].attr & SEG_DB);
    if (!(c->cr0 & CR0_PE)) {
        c->cpl = 0;
    } else if (c->rflags & FL_VM) {
        c->cpl = 3;
    } else {
        c->cpl = cs->sel & 3;
    }
}

void emu_raise(EmuCpu *c, int vector, uint32_t error, bool has_error)
{
    c->exc_vector = vector;
    c->exc_error = error;
    c->exc_has_error = has_error;
    longjmp(c->jmp, 1);
}

/* ---- descriptors ---- */

static uint64_t read_desc(EmuCpu *c, uint16_t sel, int fault_vec)
{
    const EmuDtr *t = &c->gdtr;
    uint64_t base;
    uint32_t limit;

    if (sel & 4) {
        base = c->ldtr.base;
        limit = c->ldtr.limit;
    } else {
        base = t->base;
        limit = t->limit;
    }
    if ((sel & ~7u) + 7u > limit) {
        emu_raise(c, fault_vec, sel & ~3u, true);
    }
    return emu_read_lin(c, base + (sel & ~7u), 8, true);
}

bool emu_verify_seg(EmuCpu *c, uint16_t sel, bool write)
{
    uint32_t limit = (sel & 4) ? c->ldtr.limit : c->gdtr.limit;
    unsigned type, dpl;
    uint64_t d;

    /* a selector outside the table or null clears ZF, it does not fault */
    if ((sel & ~3u) == 0 || (sel & ~7u) + 7u > limit) {
        return false;
    }
    d = read_desc(c, sel, EXC_GP);
    type = (unsigned)(d >> 40) & 0xF;
    dpl = (unsigned)(d >> 45) & 3;
    if (!(d & (1ull << 44))) {                  /* system descriptor */
        return false;
    }
    /* conforming code skips the privilege check */
    if (!((type & 0xC) == 0xC) && (dpl < (unsigned)c->cpl || dpl < (sel & 3u))) {
        return false;
    }
    if (write) {
        return !(type & 8) && (type & 2);       /* writable data */
    }
    return !(type & 8) || (type & 2);           /* data, or readable code */
}

void emu_desc_to_seg(EmuSeg *s, uint16_t sel, uint64_t d)
{
    uint32_t limit = (uint32_t)((d & 0xFFFF) | ((d >> 32) & 0xF0000));

    s->sel = sel;
    s->base = ((d >> 16) & 0xFFFFFF) | ((d >> 32) & 0xFF000000);
    s->attr = (uint16_t)((d >> 40) & 0xF0FF);
    s->limit = (s->attr & SEG_G) ? (limit << 12) | 0xFFF : limit;
}

static void set_accessed(EmuCpu *c, uint16_t sel, uint64_t d)
{
    if (!(d & (1ull << 40))) {
        uint64_t base = (sel & 4) ? c->ldtr.base : c->gdtr.base;

        emu_write_lin(c, base + (sel & ~7u) + 5, 1, ((d >> 40) & 0xFF) | 1, true);
    }
}

void emu_set_seg_real(EmuCpu *c, int seg, uint16_t sel)
{
    EmuSeg *s = &c->seg[seg];

    s->sel = sel;
    s->base = (uint64_t)sel << 4;
    if (!(c->cr0 & CR0_PE)) {
        /* real mode keeps the cached limit and attributes (unreal mode) */
        s->attr |= SEG_P | SEG_S | 2;
        if (seg == S_CS) {
            s->attr |= 8;
        }
    } else {                     /* virtual-8086 */
        s->limit = 0xFFFF;
        s->attr = SEG_P | SEG_S | (3 << SEG_DPL_SHIFT) | 3;
    }
}

void emu_load_seg(EmuCpu *c, int seg, uint16_t sel)
{
    EmuSeg *s = &c->seg[seg];
    uint64_t d;
    unsigned dpl, rpl = sel & 3;

    if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM)) {
        emu_set_seg_real(c, seg, sel);
        if (seg == S_SS || seg == S_CS) {
            emu_update_mode(c);
        }
        return;
    }
    if ((sel & ~3u) == 0) {
        if (seg == S_SS && !(c->long64 && rpl == (unsigned)c->cpl && c->cpl != 3)) {
            emu_gp(c, 0);
        }
        memset(s, 0, sizeof(*s));
        s->sel = sel;
        if (seg == S_SS) {
            s->attr = (uint16_t)(c->cpl << SEG_DPL_SHIFT) | SEG_S | SEG_P | 3 | SEG_DB;
            s->limit = 0xFFFFFFFF;
            emu_update_mode(c);
        }
        return;
    }
    d = read_desc(c, sel, EXC_GP);
    dpl = (d >> 45) & 3;
    if (!((d >> 44) & 1)) {          /* system descriptor */
        emu_gp(c, sel & ~3u);
    }
    if (seg == S_SS) {
        if (rpl != (unsigned)c->cpl || dpl != (unsigned)c->cpl || (d >> 43) & 1 || !((d >> 41) & 1)) {
            emu_gp(c, sel & ~3u);
        }
        if (!((d >> 47) & 1)) {
            emu_raise(c, EXC_SS, sel & ~3u, true);
        }
    } else {
        bool code = (d >> 43) & 1, readable = (d >> 41) & 1, conforming = code && ((d >> 42) & 1);

        if (code && !readable) {
            emu_gp(c, sel & ~3u);
        }
        if (!conforming && (rpl > dpl || (unsigned)c->cpl > dpl)) {
            emu_gp(c, sel & ~3u);
        }
        if (!((d >> 47) & 1)) {
            emu_raise(c, EXC_NP, sel & ~3u, true);
        }
    }
    set_accessed(c, sel, d);
    emu_desc_to_seg(s, sel, d);
    if (seg == S_SS) {
        emu_update_mode(c);
    }
}

/* Loads CS for a transfer to privilege level `cpl` (checks done by callers). */
static void load_cs(EmuCpu *c, uint16_t sel, uint64_t d, int cpl)
{
    if (!((d >> 47) & 1)) {
        emu_raise(c, EXC_NP, sel & ~3u, true);
    }
    set_accessed(c, sel, d);
    emu_desc_to_seg(&c->seg[S_CS], (uint16_t)((sel & ~3u) | (unsigned)cpl), d);
    emu_update_mode(c);
}

static uint64_t code_desc(EmuCpu *c, uint16_t sel)
{
    uint64_t d;

    if ((sel & ~3u) == 0) {
        emu_gp(c, 0);
    }
    d = read_desc(c, sel, EXC_GP);
    if (!((d >> 44) & 1) || !((d >> 43) & 1)) {
        emu_gp(c, sel & ~3u);
    }
    return d;
}

void emu_far_jump(EmuCpu *c, uint16_t sel, uint64_t off)
{
    if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM)) {
        emu_set_seg_real(c, S_CS, sel);
        c->next_rip = off & 0xFFFF;
        emu_update_mode(c);
        return;
    }
    uint64_t d = code_desc(c, sel);
    unsigned dpl = (d >> 45) & 3;
    bool conforming = (d >> 42) & 1;

    if (conforming ? dpl > (unsigned)c->cpl : (dpl != (unsigned)c->cpl || (sel & 3) > (unsigned)c->cpl)) {
        emu_gp(c, sel & ~3u);
    }
    load_cs(c, sel, d, c->cpl);
    c->next_rip = c->long64 ? off : off & 0xFFFFFFFF;
}

void emu_far_call(EmuCpu *c, uint16_t sel, uint64_t off, unsigned opsize)
{
    uint16_t old_cs = c->seg[S_CS].sel;
    uint64_t ret = c->next_rip;

    if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM)) {
        emu_push(c, old_cs, opsize);
        emu_push(c, ret, opsize);
        emu_far_jump(c, sel, off);
        return;
    }
    /* Same-privilege calls only (call gates are not used by the boot paths).
     * The target is checked before the pushes change RSP. */
    code_desc(c, sel);
    emu_push(c, old_cs, opsize);
    emu_push(c, ret, opsize);
    emu_far_jump(c, sel, off);
}

void emu_far_ret(EmuCpu *c, unsigned opsize, uint16_t pop_bytes)
{
    uint64_t sp0 = c->gpr[R_SP];
    uint64_t rip = emu_pop(c, opsize);
    uint16_t sel = (uint16_t)emu_pop(c, opsize);
    unsigned ss = emu_stack_size(c);

    if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM)) {
        emu_set_seg_real(c, S_CS, sel);
        emu_update_mode(c);
        c->next_rip = rip & 0xFFFF;
    } else {
        uint64_t d = code_desc(c, sel);
        unsigned rpl = sel & 3;

        if (rpl != (unsigned)c->cpl) {
            /* Returns to an outer level also pop SS:RSP; not used by our guests. */
            c->gpr[R_SP] = sp0;
            emu_gp(c, sel & ~3u);
        }
        load_cs(c, sel, d, c->cpl);
        c->next_rip = c->long64 ? rip : rip & 0xFFFFFFFF;
    }
    c->gpr[R_SP] = (c->gpr[R_SP] & ~emu_mask(ss)) | ((c->gpr[R_SP] + pop_bytes) & emu_mask(ss));
}

/* ---- interrupts and exceptions ---- */

static void deliver_real(EmuCpu *c, int vector, uint64_t ret)
{
    uint64_t ivt = c->idtr.base + (uint64_t)vector * 4;
    uint32_t ent;

    if ((uint64_t)vector * 4 + 3 > c->idtr.limit) {
        emu_gp(c, 0);
    }
    ent = (uint32_t)emu_read_lin(c, ivt, 4, true);
    emu_push(c, c->rflags & 0xFFFF, 2);
    emu_push(c, c->seg[S_CS].sel, 2);
    emu_push(c, ret & 0xFFFF, 2);
    c->rflags &= ~(uint64_t)(FL_IF | FL_TF | FL_AC | FL_RF);
    emu_set_seg_real(c, S_CS, (uint16_t)(ent >> 16));
    c->rip = ent & 0xFFFF;
}

static uint64_t tss_read(EmuCpu *c, uint64_t off, unsigned size)
{
    if (off + size - 1 > c->tr.limit) {
        emu_raise(c, EXC_TS, c->tr.sel & ~3u, true);
    }
    return emu_read_lin(c, c->tr.base + off, size, true);
}

/* Writes one stack slot at a linear address (the new stack may not be SS yet). */
static void push_at(EmuCpu *c, uint64_t *sp, uint64_t lin_base, uint64_t v, unsigned size,
                    uint64_t spmask, bool sys)
{
    *sp = (*sp - size) & spmask;
    emu_write_lin(c, lin_base + *sp, size, v, sys);
}

static void deliver_protected(EmuCpu *c, int vector, bool has_error, uint32_t error,
                              bool software, uint64_t ret)
{
    bool lm = c->efer & EFER_LMA;
    unsigned gsz = lm ? 16 : 8;
    uint64_t g_lo, g_hi = 0, off, d, sp, spmask, ss_base = 0;
    uint16_t sel, new_ss = 0;
    unsigned type, gdpl, dpl, ist, slot;
    int new_cpl;
    bool stack_switch;
    uint64_t old_ss = c->seg[S_SS].sel, old_sp = c->gpr[R_SP], old_fl = c->rflags;

    if ((uint64_t)vector * gsz + gsz - 1 > c->idtr.limit) {
        emu_gp(c, (uint32_t)vector * 8 + 2);
    }
    g_lo = emu_read_lin(c, c->idtr.base + (uint64_t)vector * gsz, 8, true);
    if (lm) {
        g_hi = emu_read_lin(c, c->idtr.base + (uint64_t)vector * gsz + 8, 8, true);
    }
    type = (g_lo >> 40) & 0xF;
    gdpl = (g_lo >> 45) & 3;
    if (!(type == 0xE || type == 0xF || (!lm && (type == 6 || type == 7)))) {
        emu_gp(c, (uint32_t)vector * 8 + 2);
    }
    if (software && gdpl < (unsigned)c->cpl) {
        emu_gp(c, (uint32_t)vector * 8 + 2);
    }
    if (!((g_lo >> 47) & 1)) {
        emu_raise(c, EXC_NP, (uint32_t)vector * 8 + 2, true);
    }
    sel = (uint16_t)(g_lo >> 16);
    off = (g_lo & 0xFFFF) | ((g_lo >> 32) & 0xFFFF0000ull) | (g_hi << 32);
    ist = lm ? (g_lo >> 32) & 7 : 0;
    d = code_desc(c, sel);
    dpl = (d >> 45) & 3;
    new_cpl = ((d >> 42) & 1) ? c->cpl : (int)dpl;   /* conforming keeps CPL */
    if (new_cpl > c->cpl) {
        emu_gp(c, sel & ~3u);
    }
    stack_switch = new_cpl < c->cpl || ist;
    slot = lm ? 8 : 4;
    if (lm) {
        spmask = ~0ull;
        sp = stack_switch ? tss_read(c, ist ? 0x24 + (ist - 1) * 8 : 4 + (unsigned)new_cpl * 8, 8)
                          : c->gpr[R_SP];
        sp &= ~15ull;
        new_ss = stack_switch && new_cpl < c->cpl ? (uint16_t)new_cpl : (uint16_t)old_ss;
    } else if (stack_switch) {
        uint64_t ssd;

        sp = tss_read(c, 4 + (unsigned)new_cpl * 8, 4);
        new_ss = (uint16_t)tss_read(c, 8 + (unsigned)new_cpl * 8, 2);
        ssd = read_desc(c, new_ss, EXC_TS);
        ss_base = ((ssd >> 16) & 0xFFFFFF) | ((ssd >> 32) & 0xFF000000);
        spmask = ((ssd >> 54) & 1) ? 0xFFFFFFFFull : 0xFFFF;
        slot = (type & 8) ? 4 : 2;
    } else {
        sp = c->gpr[R_SP];
        ss_base = c->seg[S_SS].base;
        spmask = c->stack32 ? 0xFFFFFFFFull : 0xFFFF;
        slot = (type & 8) ? 4 : 2;
    }
    {
        /* The frame goes on the new level's stack: supervisor accesses
         * unless the handler runs at CPL3. CPL itself changes only below. */
        bool sys = new_cpl < 3;

        if (lm || stack_switch) {
            push_at(c, &sp, ss_base, old_ss, slot, spmask, sys);
            push_at(c, &sp, ss_base, old_sp, slot, spmask, sys);
        }
        push_at(c, &sp, ss_base, old_fl & ~(uint64_t)FL_RF, slot, spmask, sys);
        push_at(c, &sp, ss_base, c->seg[S_CS].sel, slot, spmask, sys);
        push_at(c, &sp, ss_base, ret, slot, spmask, sys);
        if (has_error) {
            push_at(c, &sp, ss_base, error, slot, spmask, sys);
        }
    }
    /* Nothing can fault any more: commit. */
    if (lm) {
        if (stack_switch && new_cpl < c->cpl) {
            memset(&c->seg[S_SS], 0, sizeof(EmuSeg));
            c->seg[S_SS].sel = new_ss;
            c->seg[S_SS].attr = SEG_P | SEG_S | 3 | (uint16_t)(new_cpl << SEG_DPL_SHIFT);
        }
        c->gpr[R_SP] = sp;
    } else {
        if (stack_switch) {
            uint64_t ssd = read_desc(c, new_ss, EXC_TS);

            emu_desc_to_seg(&c->seg[S_SS], new_ss, ssd);
        }
        c->gpr[R_SP] = (c->gpr[R_SP] & ~spmask) | (sp & spmask);
    }
    load_cs(c, sel, d, new_cpl);
    c->rip = lm ? off : off & 0xFFFFFFFF;
    c->rflags &= ~(uint64_t)(FL_TF | FL_NT | FL_RF | FL_VM);
    if (!(type & 1)) {           /* interrupt gate (not trap gate) */
        c->rflags &= ~(uint64_t)FL_IF;
    }
    emu_update_mode(c);
}

void emu_deliver(EmuCpu *c, int vector, bool has_error, uint32_t error, bool software,
                 uint64_t return_rip)
{
    c->halted = false;
    if (!(c->cr0 & CR0_PE)) {
        deliver_real(c, vector, return_rip);
    } else {
        deliver_protected(c, vector, has_error, error, software, return_rip);
    }
    /* The handler starts now: the instruction that raised it is finished. */
    c->next_rip = c->rip;
}

static bool contributory(int v)
{
    return v == EXC_DE || (v >= EXC_TS && v <= EXC_GP);
}

bool emu_deliver_pending_exception(EmuCpu *c)
{
    int v = c->exc_vector;

    c->exc_vector = -1;
    if (c->delivering >= 0) {
        int first = c->delivering;

        if (first == EXC_DF) {
            return false;        /* triple fault */
        }
        if ((contributory(first) && contributory(v)) ||
            (first == EXC_PF && (contributory(v) || v == EXC_PF))) {
            v = EXC_DF;
            c->exc_has_error = true;
            c->exc_error = 0;
        }
    }
    c->delivering = v;
    c->rip = c->insn_rip;
    emu_deliver(c, v, c->exc_has_error, c->exc_error, false, c->insn_rip);
    c->delivering = -1;
    return true;
}

/*
 * The descriptor of the SS an IRET to privilege level `cpl` loads, checked
 * as the SDM's IRET pseudo-code does; 0 for a null SS, which long mode
 * allows when returning to CPL 0-2.
 */
static uint64_t iret_ss_desc(EmuCpu *c, uint16_t sel, unsigned cpl)
{
    uint64_t d;

    if ((sel & ~3u) == 0) {
        if ((c->efer & EFER_LMA) && cpl != 3) {
            return 0;
        }
        emu_gp(c, 0);
    }
    if ((sel & 3u) != cpl) {
        emu_gp(c, sel & ~3u);
    }
    d = read_desc(c, sel, EXC_GP);
    /* a writable data segment whose DPL is the new CPL */
    if (!((d >> 44) & 1) || ((d >> 43) & 1) || !((d >> 41) & 1) || ((d >> 45) & 3) != cpl) {
        emu_gp(c, sel & ~3u);
    }
    if (!((d >> 47) & 1)) {
        emu_raise(c, EXC_SS, sel & ~3u, true);
    }
    return d;
}

void emu_iret(EmuCpu *c, unsigned opsize)
{
    uint64_t rip, fl, sp, cs_sel, ss_sel = 0, d, ssd;
    unsigned rpl;
    bool need_ss;
    uint64_t fl_mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID | FL_RF;
    uint64_t sp0 = c->gpr[R_SP];

    if (!(c->cr0 & CR0_PE)) {
        rip = emu_pop(c, opsize);
        cs_sel = emu_pop(c, opsize);
        fl = emu_pop(c, opsize);
        emu_set_seg_real(c, S_CS, (uint16_t)cs_sel);
        c->rflags = (c->rflags & ~emu_mask(opsize)) | (fl & emu_mask(opsize) & ~(uint64_t)FL_VM) | 2;
        c->next_rip = rip & 0xFFFF;
        emu_update_mode(c);
        return;
    }
    rip = emu_pop(c, opsize);
    cs_sel = emu_pop(c, opsize) & 0xFFFF;
    fl = emu_pop(c, opsize);
    rpl = cs_sel & 3;
    need_ss = c->long64 || rpl > (unsigned)c->cpl;
    if (need_ss) {
        sp = emu_pop(c, opsize);
        ss_sel = emu_pop(c, opsize) & 0xFFFF;
    } else {
        sp = c->gpr[R_SP];
    }
    c->gpr[R_SP] = sp0;          /* restored until every check passed */
    /* Every check before any change, so a faulting IRET changes nothing. */
    if (rpl < (unsigned)c->cpl) {
        emu_gp(c, (uint32_t)cs_sel & ~3u);
    }
    d = code_desc(c, (uint16_t)cs_sel);
    if (((d >> 42) & 1) ? ((d >> 45) & 3) > rpl : ((d >> 45) & 3) != rpl) {
        emu_gp(c, (uint32_t)cs_sel & ~3u);
    }
    if (!((d >> 47) & 1)) {
        emu_raise(c, EXC_NP, (uint32_t)cs_sel & ~3u, true);
    }
    ssd = need_ss ? iret_ss_desc(c, (uint16_t)ss_sel, rpl) : 0;
    if (c->cpl == 0) {
        fl_mask |= FL_IOPL | FL_IF;
    } else if (c->cpl <= (int)((c->rflags >> 12) & 3)) {
        fl_mask |= FL_IF;
    }
    fl_mask &= emu_mask(opsize);
    load_cs(c, (uint16_t)cs_sel, d, (int)rpl);
    c->rflags = (c->rflags & ~fl_mask) | (fl & fl_mask) | 2;
    if (need_ss && ssd) {
        emu_desc_to_seg(&c->seg[S_SS], (uint16_t)ss_sel, ssd);
    } else if (need_ss) {        /* null SS, allowed in 64-bit mode below CPL3 */
        memset(&c->seg[S_SS], 0, sizeof(EmuSeg));
        c->seg[S_SS].sel = (uint16_t)ss_sel;
        c->seg[S_SS].attr = SEG_P | SEG_S | 3 | (uint16_t)(rpl << SEG_DPL_SHIFT);
    }
    c->gpr[R_SP] = (c->efer & EFER_LMA) ? sp : (sp & 0xFFFFFFFF);
    if (rpl > 0) {
        /* Data segments the new level may not use become null. */
        for (int s = S_ES; s <= S_GS; s++) {
            unsigned dpl = (c->seg[s].attr >> SEG_DPL_SHIFT) & 3;
            bool conf_code = (c->seg[s].attr & 0x1C) == 0x1C;

            if (s != S_CS && s != S_SS && !conf_code && dpl < rpl && (c->seg[s].sel & ~3u)) {
                c->seg[s].sel = 0;
                c->seg[s].attr = 0;
            }
        }
    }
    c->next_rip = c->long64 ? rip : rip & 0xFFFFFFFF;
    emu_update_mode(c);
}

/* ---- control registers ---- */

uint64_t emu_read_cr(EmuCpu *c, int n)
{
    switch (n) {
    case 0: return c->cr0;
    case 2: return c->cr2;
    case 3: return c->cr3;
    case 4: return c->cr4;
    case 8: return emu_lapic_get_cr8(c->lapic);
    default: emu_ud(c);
    }
}

void emu_write_cr(EmuCpu *c, int n, uint64_t v)
{
    switch (n) {
    case 0:
        v |= CR0_ET;
        if ((v & CR0_PG) && !(v & CR0_PE)) {
            emu_gp(c, 0);
        }
        if ((v & CR0_PG) && !(c->cr0 & CR0_PG) && (c->efer & EFER_LME)) {
            if (!(c->cr4 & CR4_PAE)) {
                emu_gp(c, 0);
            }
            c->efer |= EFER_LMA;
        } else if (!(v & CR0_PG) && (c->cr0 & CR0_PG)) {
            c->efer &= ~EFER_LMA;
        }
        c->cr0 = v;
        break;
    case 2: c->cr2 = v; break;
    case 3:
        c->cr3 = v;
        emu_tlb_flush_nonglobal(c);
        emu_update_mode(c);
        return;
    case 4:
        if ((c->efer & EFER_LMA) && !(v & CR4_PAE)) {
            emu_gp(c, 0);
        }
        c->cr4 = v;
        break;
    case 8:
        emu_lapic_set_cr8(c->lapic, v);
        return;
    default:
        emu_ud(c);
    }
    emu_tlb_flush(c);
    emu_update_mode(c);
}

/* ---- task register, LDT, SYSCALL ---- */

static void load_system_seg(EmuCpu *c, EmuSeg *s, uint16_t sel, unsigned want_type)
{
    uint64_t lo, hi = 0;

    if ((sel & ~3u) == 0) {
        if (want_type == 2) {
            memset(s, 0, sizeof(*s));
            return;
        }
        emu_gp(c, 0);
    }
    if (sel & 4) {
        emu_gp(c, sel & ~3u);
    }
    lo = read_desc(c, sel, EXC_GP);
    if (c->efer & EFER_LMA) {
        hi = read_desc(c, (uint16_t)(sel + 8), EXC_GP);
    }
    if (((lo >> 44) & 1) || (((lo >> 40) & 0xF) != want_type && want_type != 9) ||
        (want_type == 9 && ((lo >> 40) & 0xD) != 9)) {
        emu_gp(c, sel & ~3u);
    }
    if (!((lo >> 47) & 1)) {
        emu_raise(c, EXC_NP, sel & ~3u, true);
    }
    emu_desc_to_seg(s, sel, lo);
    s->base |= (hi & 0xFFFFFFFF) << 32;
    if (want_type == 9) {        /* mark busy */
        uint64_t lin = c->gdtr.base + (sel & ~7u) + 5;

        emu_write_lin(c, lin, 1, ((lo >> 40) & 0xFF) | 2, true);
        s->attr |= 2;
    }
}

void emu_ltr(EmuCpu *c, uint16_t sel)
{
    load_system_seg(c, &c->tr, sel, 9);
}

void emu_lldt(EmuCpu *c, uint16_t sel)
{
    load_system_seg(c, &c->ldtr, sel, 2);
}

static void flat_seg(EmuSeg *s, uint16_t sel, bool code, bool l, int dpl)
{
    s->sel = sel;
    s->base = 0;
    s->limit = 0xFFFFFFFF;
    s->attr = SEG_P | SEG_S | SEG_G | (uint16_t)(dpl << SEG_DPL_SHIFT) |
              (code ? (0xB | (l ? SEG_L : SEG_DB)) : (3 | SEG_DB));
}

void emu_syscall(EmuCpu *c)
{
    uint16_t cs = (uint16_t)((c->star >> 32) & 0xFFFC);

    if (!(c->efer & EFER_SCE) || !(c->efer & EFER_LMA)) {
        emu_ud(c);
    }
    c->gpr[R_CX] = c->next_rip;
    c->gpr[11] = c->rflags & ~(uint64_t)FL_RF;
    c->rflags &= ~(c->sfmask | FL_RF);
    flat_seg(&c->seg[S_CS], cs, true, true, 0);
    flat_seg(&c->seg[S_SS], (uint16_t)(cs + 8), false, false, 0);
    c->next_rip = c->lstar;
    emu_update_mode(c);
}

void emu_sysret(EmuCpu *c, unsigned opsize)
{
    uint16_t base = (uint16_t)((c->star >> 48) & 0xFFFF);

    if (!(c->efer & EFER_SCE) || !(c->efer & EFER_LMA)) {
        emu_ud(c);
    }
    if (c->cpl != 0) {
        emu_gp(c, 0);
    }
    if (opsize == 8) {
        flat_seg(&c->seg[S_CS], (uint16_t)((base + 16) | 3), true, true, 3);
        c->next_rip = c->gpr[R_CX];
    } else {
        flat_seg(&c->seg[S_CS], (uint16_t)(base | 3), true, false, 3);
        c->next_rip = c->gpr[R_CX] & 0xFFFFFFFF;
    }
    flat_seg(&c->seg[S_SS], (uint16_t)((base + 8) | 3), false, false, 3);
    c->rflags = (c->gpr[11] & 0x3C7FD7) | 2;    /* the bits SYSRET may load */
    emu_update_mode(c);
}

bool emu_io_allowed(EmuCpu *c, uint16_t port, unsigned size)
{
    uint64_t iomap;
    uint16_t bits;

    if (!(c->cr0 & CR0_PE) || (c->cpl <= (int)((c->rflags >> 12) & 3) && !(c->rflags & FL_VM))) {
        return true;
    }
    if (c->tr.limit < 0x67) {
        return false;
    }
    iomap = emu_read_lin(c, c->tr.base + 0x66, 2, true);
    if (iomap + port / 8 + 1 > c->tr.limit) {
        return false;
    }
    bits = (uint16_t)emu_read_lin(c, c->tr.base + iomap + port / 8, 2, true);
    return !((bits >> (port & 7)) & ((1u << size) - 1));
}

/* ---- reset ---- */

void emu_reset_init(EmuCpu *c)
{
    EmuLapic *lapic = c->lapic;

    memset(c->gpr, 0, sizeof(c->gpr));
    c->gpr[R_DX] = 0x600;
    c->rflags = 2;
    c->rip = 0xFFF0;
    for (int s = 0; s < 6; s++) {
        c->seg[s] = (EmuSeg){ .sel = 0, .base = 0, .limit = 0xFFFF,
                              .attr = SEG_P | SEG_S | 3 };
    }
    c->seg[S_CS] = (EmuSeg){ .sel = 0xF000, .base = 0xFFFF0000, .limit = 0xFFFF,
                             .attr = SEG_P | SEG_S | 0xB };
    c->ldtr = (EmuSeg){ .limit = 0xFFFF, .attr = SEG_P | 2 };
    c->tr = (EmuSeg){ .limit = 0xFFFF, .attr = SEG_P | 0xB };
    c->gdtr = (EmuDtr){ 0, 0xFFFF };
    c->idtr = (EmuDtr){ 0, 0xFFFF };
    c->cr0 = 0x60000010;
    c->cr2 = c->cr3 = c->cr4 = c->efer = 0;
    memset(c->dr, 0, sizeof(c->dr));
    c->dr[6] = 0xFFFF0FF0;
    c->dr[7] = 0x400;
    c->pat = 0x0007040600070406ull;
    /*
     * Fast strings on, as QEMU's and real CPUs' reset value: with the bit
     * clear Linux drops REP_GOOD and ERMS and copies and clears pages with
     * unrolled loops instead of the rep movs/stos this CPU moves a page
     * run at a time.
     */
    c->misc_enable = MSR_MISC_ENABLE_FAST_STRING;
    /* as firmware leaves them (a -kernel boot has none): MTRRs on, all write-back */
    c->mtrr_def_type = 0x806;
    emu_fpu_reset(c);
    c->halted = false;
    c->sti_shadow = false;
    c->exc_vector = -1;
    c->delivering = -1;
    c->lapic = lapic;
    emu_tlb_flush(c);
    emu_update_mode(c);
}

void emu_sipi(EmuCpu *c, uint8_t vector)
{
    c->seg[S_CS].sel = (uint16_t)(vector << 8);
    c->seg[S_CS].base = (uint64_t)vector << 12;
    c->rip = 0;
    c->wait_sipi = false;
    c->halted = false;
    emu_update_mode(c);
}
