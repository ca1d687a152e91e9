/*
 * The emu CPU's data movement: mov (general, segment registers; control
 * and debug registers are emu-exec-sys.c), movzx/movsx, lea, cmov, set,
 * xchg, cmpxchg, cmpxchg8b/16b, xadd, bswap, cbw..cqo, xlat; the stack
 * (push/pop in every form, pushf/popf, pusha/popa, enter/leave) and
 * emu_push/emu_pop for the rest of the CPU; and the string instructions
 * (movs, stos, lods, cmps, scas, ins, outs) with rep/repe/repne.
 * emu-exec.c's table points at the emu_h_* handlers at the end of this file.
 */
#include <Zydis/Zydis.h>

#include "accel/emu/emu-exec-internal.h"
#include "accel/emu/emu-alu.h"

/* ---- stack ---- */

void emu_push(EmuCpu *c, uint64_t v, unsigned size)
{
    unsigned ss = emu_stack_size(c);
    uint64_t sp = (c->gpr[R_SP] - size) & emu_mask(ss);

    emu_write_lin(c, emu_seg_lin(c, S_SS, sp, size, ACC_WRITE), size, v, false);
    reg_write(c, R_SP, ss, sp);
}

uint64_t emu_pop(EmuCpu *c, unsigned size)
{
    unsigned ss = emu_stack_size(c);
    uint64_t sp = c->gpr[R_SP] & emu_mask(ss);
    uint64_t v = emu_read_lin(c, emu_seg_lin(c, S_SS, sp, size, ACC_READ), size, false);

    reg_write(c, R_SP, ss, sp + size);
    return v;
}

/* POPF: which bits may change depends on CPL and IOPL (SDM POPF table). */
static void exec_popf(EmuCpu *c, uint64_t v, unsigned size)
{
    uint64_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;

    if (c->cpl == 0) {
        mask |= FL_IOPL | FL_IF;
    } else if (c->cpl <= (int)((c->rflags >> 12) & 3)) {
        mask |= FL_IF;
    }
    if (!(c->cr0 & CR0_PE)) {
        mask |= FL_IOPL | FL_IF;
    }
    mask &= emu_mask(size);
    if (mask & v & ~c->rflags & FL_IF) {
        /* interrupts pending are taken here, not when a chain of blocks ends (as after sti) */
        c->block_exit = true;
    }
    c->rflags = (c->rflags & ~mask) | (v & mask) | 2;
}

static void exec_enter(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = in->opsize, ss = emu_stack_size(c);
    uint64_t alloc = (uint16_t)in->op[0].val, level = (uint8_t)in->op[1].val & 31;
    uint64_t bp = c->gpr[R_BP], frame;

    emu_push(c, bp, size);
    frame = c->gpr[R_SP] & emu_mask(ss);
    for (uint64_t i = 1; i < level; i++) {
        bp = (bp - size) & emu_mask(ss);
        emu_push(c, emu_read_lin(c, emu_seg_lin(c, S_SS, bp, size, ACC_READ), size, false), size);
    }
    if (level) {
        emu_push(c, frame, size);
    }
    reg_write(c, R_BP, size, frame);
    reg_write(c, R_SP, ss, (c->gpr[R_SP] - alloc) & emu_mask(ss));
}

/* ---- exchanges ---- */

static RmwFn rmw_xchg, rmw_xadd;

static uint64_t rmw_xchg(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)a; (void)s; (void)fl;
    return b;
}

static uint64_t rmw_xadd(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c;
    return alu_add(a, b, 0, s, fl);
}

static void exec_cmpxchg(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    uint64_t acc = c->gpr[R_AX] & emu_mask(size), src = op_read(c, in, 1, size), old;
    uint64_t fl = c->rflags;
    Loc l;

    loc_resolve(c, in, &in->op[0], size, ACC_WRITE, &l);
    if (l.mem && l.hva && ((uintptr_t)l.hva & (size - 1)) == 0) {
        old = acc;
        cas(l.hva, size, &old, src);     /* on failure old is the current value */
        emu_note_store(c, l.hva);
    } else {
        old = loc_read(c, &l);
        if (l.mem || old == acc) {
            /* memory is always written; a register only on success (a failed
             * 32-bit cmpxchg does not zero-extend its destination) */
            loc_write(c, &l, old == acc ? src : old);
        }
    }
    alu_sub(acc, old, 0, size, &fl);
    c->rflags = fl;
    if (old != acc) {
        reg_write(c, R_AX, size, old);
    }
}

static void exec_xadd(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    uint64_t src = op_read(c, in, 1, size), old;
    Loc l;

    loc_resolve(c, in, &in->op[0], size, ACC_WRITE, &l);
    old = rmw(c, in, &l, rmw_xadd, src, true);
    if (in->op[0].kind != OPK_REG || in->op[0].reg != in->op[1].reg) {
        reg_write(c, in->op[1].reg, size, old);
    }
}

static void exec_xchg(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    int mi = in->op[0].kind == OPK_MEM ? 0 : 1, ri = 1 - mi;
    uint64_t rv = op_read(c, in, ri, size), old;
    Loc l;

    loc_resolve(c, in, &in->op[mi], size, ACC_WRITE, &l);
    old = rmw(c, in, &l, rmw_xchg, rv, true);
    reg_write(c, in->op[ri].reg, size, old);
}

static void exec_cmpxchg_wide(EmuCpu *c, const EmuInsn *in)
{
    unsigned half = in->mnem == ZYDIS_MNEMONIC_CMPXCHG16B ? 8 : 4;
    uint64_t m = emu_mask(half);
    uint64_t exp_lo = c->gpr[R_AX] & m, exp_hi = c->gpr[R_DX] & m;
    uint64_t new_lo = c->gpr[R_BX] & m, new_hi = c->gpr[R_CX] & m;
    uint64_t lin = emu_seg_lin(c, in->op[0].seg, op_ea(c, in, &in->op[0]), half * 2, ACC_WRITE);
    uint8_t *p = emu_lin_ptr(c, lin, half * 2, ACC_WRITE, false, NULL);
    uint64_t cur_lo, cur_hi;
    bool eq;

    if (half == 8 && (lin & 15)) {
        emu_gp(c, 0);
    }
    if (p && half == 4 && !((uintptr_t)p & 7)) {
        uint64_t exp = exp_lo | exp_hi << 32;

        eq = __atomic_compare_exchange_n((uint64_t *)p, &exp, new_lo | new_hi << 32, false,
                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        cur_lo = exp & m;
        cur_hi = exp >> 32;
        emu_note_store(c, p);
    } else if (p && half == 8) {
        /* 16-byte CAS: GCC would call libatomic; the instruction is what we want. */
        cur_lo = exp_lo;
        cur_hi = exp_hi;
        __asm__ volatile("lock cmpxchg16b %1"
                         : "=@ccz"(eq), "+m"(*(unsigned __int128 *)p), "+a"(cur_lo), "+d"(cur_hi)
                         : "b"(new_lo), "c"(new_hi) : "memory");
        emu_note_store(c, p);
    } else {
        cur_lo = emu_read_lin(c, lin, half, false);
        cur_hi = emu_read_lin(c, lin + half, half, false);
        eq = cur_lo == exp_lo && cur_hi == exp_hi;
        emu_write_lin(c, lin, half, eq ? new_lo : cur_lo, false);
        emu_write_lin(c, lin + half, half, eq ? new_hi : cur_hi, false);
    }
    c->rflags = (c->rflags & ~(uint64_t)FL_ZF) | (eq ? FL_ZF : 0);
    if (!eq) {
        reg_write(c, R_AX, half, cur_lo);
        reg_write(c, R_DX, half, cur_hi);
    }
}

/* ---- string instructions ---- */

static unsigned str_elem(const EmuInsn *in)
{
    return (in->opcode & 1) ? in->opsize : 1;
}

static uint64_t str_reg(EmuCpu *c, const EmuInsn *in, int r)
{
    return c->gpr[r] & emu_mask(in->addrsize);
}

static void str_adv(EmuCpu *c, const EmuInsn *in, int r, unsigned n)
{
    uint64_t d = (c->rflags & FL_DF) ? (uint64_t)-(int64_t)n : n;

    reg_write(c, (uint8_t)r, in->addrsize, str_reg(c, in, r) + d);
}

/* One element; returns false when a repe/repne comparison ends the loop. */
static bool str_once(EmuCpu *c, const EmuInsn *in)
{
    unsigned n = str_elem(in);
    int src_seg = in->seg_override != S_NONE ? in->seg_override : S_DS;
    uint64_t v, w;

    switch (in->mnem) {
    case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW:
    case ZYDIS_MNEMONIC_MOVSD: case ZYDIS_MNEMONIC_MOVSQ:
        v = emu_read_lin(c, emu_seg_lin(c, src_seg, str_reg(c, in, R_SI), n, ACC_READ), n, false);
        emu_write_lin(c, emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_WRITE), n, v, false);
        str_adv(c, in, R_SI, n);
        str_adv(c, in, R_DI, n);
        return true;
    case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW:
    case ZYDIS_MNEMONIC_STOSD: case ZYDIS_MNEMONIC_STOSQ:
        emu_write_lin(c, emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_WRITE), n,
                      c->gpr[R_AX], false);
        str_adv(c, in, R_DI, n);
        return true;
    case ZYDIS_MNEMONIC_LODSB: case ZYDIS_MNEMONIC_LODSW:
    case ZYDIS_MNEMONIC_LODSD: case ZYDIS_MNEMONIC_LODSQ:
        v = emu_read_lin(c, emu_seg_lin(c, src_seg, str_reg(c, in, R_SI), n, ACC_READ), n, false);
        reg_write(c, R_AX, n, v);
        str_adv(c, in, R_SI, n);
        return true;
    case ZYDIS_MNEMONIC_CMPSB: case ZYDIS_MNEMONIC_CMPSW:
    case ZYDIS_MNEMONIC_CMPSD: case ZYDIS_MNEMONIC_CMPSQ:
        v = emu_read_lin(c, emu_seg_lin(c, src_seg, str_reg(c, in, R_SI), n, ACC_READ), n, false);
        w = emu_read_lin(c, emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_READ), n, false);
        alu_sub(v, w, 0, n, &c->rflags);
        str_adv(c, in, R_SI, n);
        str_adv(c, in, R_DI, n);
        break;
    case ZYDIS_MNEMONIC_SCASB: case ZYDIS_MNEMONIC_SCASW:
    case ZYDIS_MNEMONIC_SCASD: case ZYDIS_MNEMONIC_SCASQ:
        w = emu_read_lin(c, emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_READ), n, false);
        alu_sub(c->gpr[R_AX], w, 0, n, &c->rflags);
        str_adv(c, in, R_DI, n);
        break;
    case ZYDIS_MNEMONIC_INSB: case ZYDIS_MNEMONIC_INSW: case ZYDIS_MNEMONIC_INSD: {
        uint64_t lin = emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_WRITE);

        io_check(c, (uint16_t)c->gpr[R_DX], n);
        emu_translate(c, lin, ACC_WRITE, false);
        emu_write_lin(c, lin, n, io_in(c, (uint16_t)c->gpr[R_DX], n), false);
        str_adv(c, in, R_DI, n);
        return true;
    }
    default:    /* OUTS */
        io_check(c, (uint16_t)c->gpr[R_DX], n);
        v = emu_read_lin(c, emu_seg_lin(c, src_seg, str_reg(c, in, R_SI), n, ACC_READ), n, false);
        io_out(c, (uint16_t)c->gpr[R_DX], n, v);
        str_adv(c, in, R_SI, n);
        return true;
    }
    /* repe continues while equal, repne while different */
    return (in->flags & INSN_REP) ? (c->rflags & FL_ZF) != 0 : !(c->rflags & FL_ZF);
}

static bool str_is_movs(const EmuInsn *in)
{
    return in->mnem == ZYDIS_MNEMONIC_MOVSB || in->mnem == ZYDIS_MNEMONIC_MOVSW ||
           in->mnem == ZYDIS_MNEMONIC_MOVSD || in->mnem == ZYDIS_MNEMONIC_MOVSQ;
}

static bool str_is_stos(const EmuInsn *in)
{
    return in->mnem == ZYDIS_MNEMONIC_STOSB || in->mnem == ZYDIS_MNEMONIC_STOSW ||
           in->mnem == ZYDIS_MNEMONIC_STOSD || in->mnem == ZYDIS_MNEMONIC_STOSQ;
}

static void str_fill(uint8_t *d, uint64_t k, unsigned n, uint64_t v)
{
    if (n == 1 || !(v & emu_mask(n))) {
        memset(d, (int)(v & 0xFF), k * n);
        return;
    }
    for (uint64_t i = 0; i < k; i++) {
        emu_st(d + i * n, n, v);
    }
}

/*
 * rep movs/stos in 64-bit code with df=0, one run of elements at a time:
 * the elements that lie within one page of the destination (and of the
 * source) are moved with one memmove or fill once both pages are
 * translated, so a fault still comes before any store of its run and
 * leaves rcx/rsi/rdi at the element that faulted, as element by element.
 * Returns how many elements it moved; 0: go element by element (not RAM,
 * an element across a page, or a forward overlap, where copying element
 * by element replicates the pattern and memmove would not).
 */
static uint64_t str_run(EmuCpu *c, const EmuInsn *in, uint64_t cnt)
{
    unsigned n = str_elem(in);
    int src_seg = in->seg_override != S_NONE ? in->seg_override : S_DS;
    uint64_t dlin = emu_seg_lin(c, S_ES, c->gpr[R_DI], n, ACC_WRITE), slin = 0;
    uint64_t k = MIN(cnt, (4096 - (dlin & 0xFFF)) / n);
    uint8_t *d, *s = NULL;

    if (str_is_movs(in)) {
        slin = emu_seg_lin(c, src_seg, c->gpr[R_SI], n, ACC_READ);
        k = MIN(k, (4096 - (slin & 0xFFF)) / n);
    }
    if (k < 2) {
        return 0;
    }
    if (str_is_movs(in) && !(s = emu_lin_ptr(c, slin, k * n, ACC_READ, false, NULL))) {
        return 0;
    }
    if (!(d = emu_lin_ptr(c, dlin, k * n, ACC_WRITE, false, NULL)) ||
        (s && d > s && d < s + k * n)) {
        return 0;
    }
    if (s) {
        memmove(d, s, k * n);
        c->gpr[R_SI] += k * n;
    } else {
        str_fill(d, k, n, c->gpr[R_AX]);
    }
    emu_note_store(c, d);                /* one page: k elements fit in it */
    c->gpr[R_DI] += k * n;
    c->gpr[R_CX] = cnt - k;
    return k;
}

/* A rep prefix runs a bounded batch, then restarts the instruction so that
 * kicks and interrupts are seen during long copies. */
#define REP_BATCH 4096
#define REP_RUN_BYTES 65536

static void exec_string(EmuCpu *c, const EmuInsn *in)
{
    bool runs = c->long64 && in->addrsize == 8 && !(c->rflags & FL_DF) &&
                (in->flags & INSN_REP) && (str_is_movs(in) || str_is_stos(in));
    uint64_t run_bytes = 0;

    if (!(in->flags & (INSN_REP | INSN_REPNE))) {
        str_once(c, in);
        return;
    }
    for (unsigned i = 0; i < REP_BATCH; i++) {
        uint64_t cnt = str_reg(c, in, R_CX), k;
        bool go_on;

        if (!cnt) {
            return;
        }
        if (runs && (k = str_run(c, in, cnt))) {
            if (k == cnt) {
                return;
            }
            if ((run_bytes += k * str_elem(in)) >= REP_RUN_BYTES) {
                break;
            }
            continue;
        }
        go_on = str_once(c, in);      /* false only for a cmps/scas that ends */
        reg_write(c, R_CX, in->addrsize, cnt - 1);
        if (cnt - 1 == 0 || !go_on) {
            return;
        }
    }
    c->next_rip = c->insn_rip;
}

/* ---- data movement ---- */

static bool exec_data(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);

    switch (in->mnem) {
    case ZYDIS_MNEMONIC_MOV:
        if (op_is_sreg(&in->op[0])) {
            emu_load_seg(c, in->op[0].reg - EREG_SEG, (uint16_t)op_read(c, in, 1, 2));
        } else if (op_is_sreg(&in->op[1])) {
            uint16_t sel = c->seg[in->op[1].reg - EREG_SEG].sel;

            /* to a register: zero-extended to the operand size; to memory: 16 bits */
            op_write(c, in, 0, in->op[0].kind == OPK_MEM ? 2 : size, sel);
        } else if (in->op[0].kind == OPK_REG && in->op[0].reg >= EREG_CR) {
            emu_exec_mov_crdr(c, in, true);
        } else if (in->op[1].kind == OPK_REG && in->op[1].reg >= EREG_CR &&
                   in->op[1].reg != EREG_NONE && in->op[1].reg != EREG_RIP) {
            emu_exec_mov_crdr(c, in, false);
        } else {
            op_write(c, in, 0, size, op_read(c, in, 1, size));
        }
        return true;
    case ZYDIS_MNEMONIC_MOVZX:
        op_write(c, in, 0, size, op_read(c, in, 1, in->op[1].size));
        return true;
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD:
        op_write(c, in, 0, size, emu_sext(op_read(c, in, 1, in->op[1].size), in->op[1].size));
        return true;
    case ZYDIS_MNEMONIC_LEA:
        reg_write(c, in->op[0].reg, size, op_ea(c, in, &in->op[1]));
        return true;
    case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB:
    case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ:
    case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE: case ZYDIS_MNEMONIC_CMOVS:
    case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
    case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE:
    case ZYDIS_MNEMONIC_CMOVNLE: {
        uint64_t v = op_read(c, in, 1, size);   /* the source is read (and may fault) */

        /* a 32-bit cmov zero-extends its destination even when false */
        reg_write(c, in->op[0].reg, size, alu_cond(c->rflags, in->opcode & 0xF) ? v
                  : reg_read(c, in->op[0].reg, size));
        return true;
    }
    case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB:
    case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ:
    case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE: case ZYDIS_MNEMONIC_SETS:
    case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
    case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE:
    case ZYDIS_MNEMONIC_SETNLE:
        op_write(c, in, 0, 1, alu_cond(c->rflags, in->opcode & 0xF));
        return true;
    case ZYDIS_MNEMONIC_XCHG:
        exec_xchg(c, in);
        return true;
    case ZYDIS_MNEMONIC_CMPXCHG:
        exec_cmpxchg(c, in);
        return true;
    case ZYDIS_MNEMONIC_CMPXCHG8B:
    case ZYDIS_MNEMONIC_CMPXCHG16B:
        exec_cmpxchg_wide(c, in);
        return true;
    case ZYDIS_MNEMONIC_XADD:
        exec_xadd(c, in);
        return true;
    case ZYDIS_MNEMONIC_BSWAP: {
        uint64_t v = reg_read(c, in->op[0].reg, size);

        reg_write(c, in->op[0].reg, size, size == 8 ? __builtin_bswap64(v)
                  : size == 4 ? __builtin_bswap32((uint32_t)v) : 0);
        return true;
    }
    case ZYDIS_MNEMONIC_CBW:
        reg_write(c, R_AX, 2, emu_sext(c->gpr[R_AX], 1));
        return true;
    case ZYDIS_MNEMONIC_CWDE:
        reg_write(c, R_AX, 4, emu_sext(c->gpr[R_AX], 2));
        return true;
    case ZYDIS_MNEMONIC_CDQE:
        reg_write(c, R_AX, 8, emu_sext(c->gpr[R_AX], 4));
        return true;
    case ZYDIS_MNEMONIC_CWD:
    case ZYDIS_MNEMONIC_CDQ:
    case ZYDIS_MNEMONIC_CQO: {
        unsigned s = in->mnem == ZYDIS_MNEMONIC_CWD ? 2 : in->mnem == ZYDIS_MNEMONIC_CDQ ? 4 : 8;

        reg_write(c, R_DX, s, alu_msb(c->gpr[R_AX], s) ? ~0ull : 0);
        return true;
    }
    case ZYDIS_MNEMONIC_XLAT: {
        uint64_t off = (c->gpr[R_BX] + (c->gpr[R_AX] & 0xFF)) & emu_mask(in->addrsize);
        int seg = in->seg_override != S_NONE ? in->seg_override : S_DS;

        reg_write(c, R_AX, 1, emu_read_lin(c, emu_seg_lin(c, seg, off, 1, ACC_READ), 1, false));
        return true;
    }
    default:
        return false;
    }
}

static bool exec_stack(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_PUSH:
        if (op_is_sreg(&in->op[0])) {
            emu_push(c, c->seg[in->op[0].reg - EREG_SEG].sel, in->opsize);
        } else if (in->op[0].kind == OPK_IMM) {
            emu_push(c, (uint64_t)in->op[0].val & emu_mask(in->opsize), in->opsize);
        } else {
            emu_push(c, op_read(c, in, 0, in->opsize), in->opsize);
        }
        return true;
    case ZYDIS_MNEMONIC_POP:
        if (op_is_sreg(&in->op[0])) {
            uint64_t sp = c->gpr[R_SP];
            uint16_t sel = (uint16_t)emu_pop(c, in->opsize);

            c->gpr[R_SP] = sp;            /* restored if the load faults ... */
            emu_load_seg(c, in->op[0].reg - EREG_SEG, sel);
            emu_pop(c, in->opsize);       /* ... and popped for real once it did not */
            if (in->op[0].reg == EREG_SEG + S_SS) {
                c->sti_shadow = true;
                c->block_exit = true;
            }
        } else {
            uint64_t sp = c->gpr[R_SP];
            uint64_t v = emu_pop(c, in->opsize);
            uint64_t nsp = c->gpr[R_SP];

            c->gpr[R_SP] = sp;
            op_write(c, in, 0, in->opsize, v);
            if (!(in->op[0].kind == OPK_REG && (in->op[0].reg & 15) == R_SP)) {
                c->gpr[R_SP] = nsp;
            }
        }
        return true;
    case ZYDIS_MNEMONIC_PUSHF: case ZYDIS_MNEMONIC_PUSHFD: case ZYDIS_MNEMONIC_PUSHFQ:
        emu_push(c, c->rflags & ~(uint64_t)(FL_VM | FL_RF) & emu_mask(in->opsize), in->opsize);
        return true;
    case ZYDIS_MNEMONIC_POPF: case ZYDIS_MNEMONIC_POPFD: case ZYDIS_MNEMONIC_POPFQ:
        exec_popf(c, emu_pop(c, in->opsize), in->opsize);
        return true;
    case ZYDIS_MNEMONIC_PUSHA: case ZYDIS_MNEMONIC_PUSHAD: {
        uint64_t sp = c->gpr[R_SP];

        for (int r = 0; r < 8; r++) {
            emu_push(c, r == R_SP ? sp : c->gpr[r], in->opsize);
        }
        return true;
    }
    case ZYDIS_MNEMONIC_POPA: case ZYDIS_MNEMONIC_POPAD:
        for (int r = 7; r >= 0; r--) {
            uint64_t v = emu_pop(c, in->opsize);

            if (r != R_SP) {
                reg_write(c, (uint8_t)r, in->opsize, v);
            }
        }
        return true;
    case ZYDIS_MNEMONIC_LEAVE: {
        unsigned ss = emu_stack_size(c);

        reg_write(c, R_SP, ss, c->gpr[R_BP]);
        reg_write(c, R_BP, in->opsize, emu_pop(c, in->opsize));
        return true;
    }
    case ZYDIS_MNEMONIC_ENTER:
        exec_enter(c, in);
        return true;
    default:
        return false;
    }
}

/* ---- handlers ---- */

void emu_h_data(EmuCpu *c, const EmuInsn *in) { exec_data(c, in); }
void emu_h_stack(EmuCpu *c, const EmuInsn *in) { exec_stack(c, in); }

/* Plain GPR/memory moves skip exec_data's checks for segment and control registers. */
void emu_h_mov(EmuCpu *c, const EmuInsn *in)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    unsigned size = opsz(in, 0);

    if (d->kind == OPK_REG && d->reg < EREG_SEG && (s->kind != OPK_REG || s->reg < EREG_SEG)) {
        reg_write(c, d->reg, size, op_read(c, in, 1, size));
    } else if (s->kind == OPK_REG && s->reg < EREG_SEG && d->kind != OPK_REG) {
        op_write(c, in, 0, size, reg_read(c, s->reg, size));
    } else {
        exec_data(c, in);
    }
}

void emu_h_string(EmuCpu *c, const EmuInsn *in)
{
    /* MOVSD and CMPSD are also SSE2 mnemonics (0F map) */
    if ((in->mnem == ZYDIS_MNEMONIC_MOVSD || in->mnem == ZYDIS_MNEMONIC_CMPSD) &&
        in->opmap != ZYDIS_OPCODE_MAP_DEFAULT) {
        emu_unimplemented(c, in);
    }
    exec_string(c, in);
}

