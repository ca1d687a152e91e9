/*
 * The emu CPU's arithmetic instructions: the ALU ops (add, or, adc, sbb,
 * and, sub, xor, cmp, test), inc/dec/neg/not, shifts and rotates (shl, shr,
 * sar, rol, ror, rcl, rcr, shld, shrd), mul/imul/div/idiv, bt/bts/btr/btc
 * and bsf/bsr. The flag arithmetic itself is emu-alu.h; emu-exec.c's table
 * points at the emu_h_* handlers at the end of this file.
 */
#include <Zydis/Zydis.h>

#include "accel/emu/emu-exec-internal.h"
#include "accel/emu/emu-alu.h"

static RmwFn rmw_alu_add, rmw_alu_or, rmw_alu_adc, rmw_alu_sbb, rmw_alu_and, rmw_alu_sub,
             rmw_alu_xor, rmw_not, rmw_neg, rmw_inc, rmw_dec;
#define RMW_ALU(name, op) \
    static uint64_t name(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl) \
    { (void)c; return alu_op(op, a, b, s, fl); }
RMW_ALU(rmw_alu_add, ALU_ADD)
RMW_ALU(rmw_alu_or, ALU_OR)
RMW_ALU(rmw_alu_adc, ALU_ADC)
RMW_ALU(rmw_alu_sbb, ALU_SBB)
RMW_ALU(rmw_alu_and, ALU_AND)
RMW_ALU(rmw_alu_sub, ALU_SUB)
RMW_ALU(rmw_alu_xor, ALU_XOR)

static uint64_t rmw_not(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)b; (void)fl;
    return ~a & emu_mask(s);
}

static uint64_t rmw_neg(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)b;
    return alu_sub(0, a, 0, s, fl);
}

static uint64_t rmw_inc(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)b;
    return alu_incdec(a, false, s, fl);
}

static uint64_t rmw_dec(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)b;
    return alu_incdec(a, true, s, fl);
}

static void exec_alu(EmuCpu *c, const EmuInsn *in, int op)
{
    static RmwFn *const fns[8] = { rmw_alu_add, rmw_alu_or, rmw_alu_adc, rmw_alu_sbb,
                                   rmw_alu_and, rmw_alu_sub, rmw_alu_xor, rmw_alu_sub };
    unsigned size = opsz(in, 0);
    uint64_t b = op_read(c, in, 1, size);
    Loc l;

    if (in->op[0].kind == OPK_REG) {       /* the common case, without a Loc */
        uint64_t fl = c->rflags, r = alu_op(op, reg_read(c, in->op[0].reg, size), b, size, &fl);

        if (op != ALU_CMP) {
            reg_write(c, in->op[0].reg, size, r);
        }
        c->rflags = fl;
        return;
    }
    loc_resolve(c, in, &in->op[0], size, op == ALU_CMP ? ACC_READ : ACC_WRITE, &l);
    rmw(c, in, &l, fns[op], b, op != ALU_CMP);
}

static void exec_test(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    uint64_t a = op_read(c, in, 0, size), b = op_read(c, in, 1, size);

    alu_logic(a & b, size, &c->rflags);
}

static void exec_unary(EmuCpu *c, const EmuInsn *in, RmwFn *fn)
{
    Loc l;

    loc_resolve(c, in, &in->op[0], opsz(in, 0), ACC_WRITE, &l);
    rmw(c, in, &l, fn, 0, true);
}

static void exec_shift(EmuCpu *c, const EmuInsn *in, int op)
{
    unsigned size = opsz(in, 0);
    unsigned cnt = in->nops > 1 ? (unsigned)op_read(c, in, 1, 1) : 1;
    uint64_t fl = c->rflags, r;
    Loc l;

    cnt &= size == 8 ? 0x3F : 0x1F;
    loc_resolve(c, in, &in->op[0], size, ACC_WRITE, &l);
    if (!cnt) {
        uint64_t v = loc_read(c, &l);  /* the access still happens (and may fault) */

        if (!l.mem && size == 4) {
            loc_write(c, &l, v);       /* a 32-bit register is still zero-extended */
        }
        return;
    }
    r = alu_shift(op, loc_read(c, &l), cnt, size, &fl);
    loc_write(c, &l, r);
    c->rflags = fl;
}

static void exec_shxd(EmuCpu *c, const EmuInsn *in, bool left)
{
    unsigned size = opsz(in, 0);
    unsigned cnt = (unsigned)op_read(c, in, 2, 1) & (size == 8 ? 0x3F : 0x1F);
    uint64_t b = op_read(c, in, 1, size), fl = c->rflags, r;
    Loc l;

    loc_resolve(c, in, &in->op[0], size, ACC_WRITE, &l);
    if (!cnt) {
        if (!l.mem && size == 4) {
            loc_write(c, &l, loc_read(c, &l));   /* zero-extends a 32-bit register */
        }
        return;
    }
    r = alu_shxd(left, loc_read(c, &l), b, cnt, size, &fl);
    loc_write(c, &l, r);
    c->rflags = fl;
}

static void exec_mul1(EmuCpu *c, const EmuInsn *in, bool sign)
{
    unsigned size = opsz(in, 0);
    uint64_t src = op_read(c, in, 0, size), a = c->gpr[R_AX] & emu_mask(size);
    unsigned __int128 p;
    uint64_t lo, hi;
    bool of;

    if (sign) {
        p = (unsigned __int128)((__int128)(int64_t)emu_sext(a, size) *
                                (__int128)(int64_t)emu_sext(src, size));
    } else {
        p = (unsigned __int128)a * src;
    }
    lo = (uint64_t)p & emu_mask(size);
    hi = size == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> (size * 8)) & emu_mask(size);
    of = sign ? (emu_sext(lo, size) != (uint64_t)(int64_t)(__int128)p || (size == 8 &&
                 (uint64_t)((__int128)p >> 64) != (uint64_t)((int64_t)lo >> 63)))
              : hi != 0;
    if (size == 1) {
        reg_write(c, R_AX, 2, lo | (hi << 8));
    } else {
        reg_write(c, R_AX, size, lo);
        reg_write(c, R_DX, size, hi);
    }
    set_mul_flags(c, of, lo, size);
}

static void exec_imul_n(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    int64_t a = (int64_t)emu_sext(op_read(c, in, in->nops == 3 ? 1 : 0, size), size);
    int64_t b = (int64_t)emu_sext(op_read(c, in, in->nops == 3 ? 2 : 1, size), size);
    __int128 p = (__int128)a * b;
    uint64_t lo = (uint64_t)p & emu_mask(size);

    reg_write(c, in->op[0].reg, size, lo);
    set_mul_flags(c, (__int128)(int64_t)emu_sext(lo, size) != p, lo, size);
}

static void exec_div(EmuCpu *c, const EmuInsn *in, bool sign)
{
    unsigned size = opsz(in, 0), bits = size * 8;
    uint64_t d = op_read(c, in, 0, size), m = emu_mask(size);
    unsigned __int128 n;
    uint64_t q, r;

    if (size == 1) {
        n = c->gpr[R_AX] & 0xFFFF;
    } else {
        n = ((unsigned __int128)(c->gpr[R_DX] & m) << bits) | (c->gpr[R_AX] & m);
    }
    if (!d) {
        emu_raise(c, EXC_DE, 0, false);
    }
    if (sign) {
        /* The dividend is the signed double-width value in (E/R)DX:(E/R)AX or AX. */
        __int128 sn = size == 8 ? (__int128)n : (__int128)(int64_t)emu_sext((uint64_t)n, size * 2);
        __int128 sd = (int64_t)emu_sext(d, size), sq, sr;
        __int128 qmax = (__int128)(m >> 1), qmin = -qmax - 1;

        if (sd == -1 && sn == (__int128)((unsigned __int128)1 << 127)) {
            emu_raise(c, EXC_DE, 0, false);     /* INT128_MIN / -1 */
        }
        sq = sn / sd;
        sr = sn % sd;
        if (sq > qmax || sq < qmin) {
            emu_raise(c, EXC_DE, 0, false);
        }
        q = (uint64_t)sq & m;
        r = (uint64_t)sr & m;
    } else {
        unsigned __int128 uq = n / d;

        if (uq > m) {
            emu_raise(c, EXC_DE, 0, false);
        }
        q = (uint64_t)uq;
        r = (uint64_t)(n % d);
    }
    if (size == 1) {
        reg_write(c, R_AX, 2, q | (r << 8));
    } else {
        reg_write(c, R_AX, size, q);
        reg_write(c, R_DX, size, r);
    }
}

static void exec_bt(EmuCpu *c, const EmuInsn *in, int kind /* 0 bt,1 bts,2 btr,3 btc */)
{
    unsigned size = opsz(in, 0), bits = size * 8;
    const EmuOp *o = &in->op[0];
    uint64_t off = op_read(c, in, 1, in->op[1].kind == OPK_IMM ? 1 : size), v, bit;
    Loc l;

    if (o->kind == OPK_MEM && in->op[1].kind != OPK_IMM) {
        int64_t soff = (int64_t)emu_sext(off, size);
        int64_t words = soff >> (size == 8 ? 6 : size == 4 ? 5 : 4);
        EmuOp mo = *o;

        mo.val += words * (int64_t)size;
        loc_resolve(c, in, &mo, size, kind ? ACC_WRITE : ACC_READ, &l);
        bit = (uint64_t)soff & (bits - 1);
    } else {
        loc_resolve(c, in, o, size, kind ? ACC_WRITE : ACC_READ, &l);
        bit = off & (bits - 1);
    }
    v = loc_read(c, &l);
    c->rflags = (c->rflags & ~(uint64_t)FL_CF) | ((v >> bit) & 1 ? FL_CF : 0);
    switch (kind) {
    case 1: loc_write(c, &l, v | (1ull << bit)); break;
    case 2: loc_write(c, &l, v & ~(1ull << bit)); break;
    case 3: loc_write(c, &l, v ^ (1ull << bit)); break;
    default: break;
    }
}

static void exec_bsf_bsr(EmuCpu *c, const EmuInsn *in, bool rev)
{
    unsigned size = opsz(in, 0);
    uint64_t v = op_read(c, in, 1, size);

    c->rflags &= ~(uint64_t)FL_ARITH;
    if (!v) {
        c->rflags |= FL_ZF;
        return;
    }
    reg_write(c, in->op[0].reg, size, rev ? 63 - (unsigned)__builtin_clzll(v)
                                           : (unsigned)__builtin_ctzll(v));
    c->rflags = alu_szp(c->rflags, 1, 1) & ~(uint64_t)(FL_ZF | FL_SF);
}

/* popcnt: ZF if the source is zero, every other arithmetic flag clear. */
static void exec_popcnt(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    uint64_t v = op_read(c, in, 1, size);

    reg_write(c, in->op[0].reg, size, (uint64_t)__builtin_popcountll(v));
    c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (v ? 0 : FL_ZF);
}

/* ---- arithmetic ---- */

static bool exec_arith(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_INC: exec_unary(c, in, rmw_inc); return true;
    case ZYDIS_MNEMONIC_DEC: exec_unary(c, in, rmw_dec); return true;
    case ZYDIS_MNEMONIC_NEG: exec_unary(c, in, rmw_neg); return true;
    case ZYDIS_MNEMONIC_NOT: exec_unary(c, in, rmw_not); return true;
    case ZYDIS_MNEMONIC_ROL: exec_shift(c, in, SH_ROL); return true;
    case ZYDIS_MNEMONIC_ROR: exec_shift(c, in, SH_ROR); return true;
    case ZYDIS_MNEMONIC_RCL: exec_shift(c, in, SH_RCL); return true;
    case ZYDIS_MNEMONIC_RCR: exec_shift(c, in, SH_RCR); return true;
    case ZYDIS_MNEMONIC_SHL: exec_shift(c, in, SH_SHL); return true;
    case ZYDIS_MNEMONIC_SHR: exec_shift(c, in, SH_SHR); return true;
    case ZYDIS_MNEMONIC_SAR: exec_shift(c, in, SH_SAR); return true;
    case ZYDIS_MNEMONIC_SHLD: exec_shxd(c, in, true); return true;
    case ZYDIS_MNEMONIC_SHRD: exec_shxd(c, in, false); return true;
    case ZYDIS_MNEMONIC_MUL: exec_mul1(c, in, false); return true;
    case ZYDIS_MNEMONIC_IMUL:
        if (in->opcode == 0xF6 || in->opcode == 0xF7) {     /* one-operand form */
            exec_mul1(c, in, true);
        } else {
            exec_imul_n(c, in);
        }
        return true;
    case ZYDIS_MNEMONIC_DIV: exec_div(c, in, false); return true;
    case ZYDIS_MNEMONIC_IDIV: exec_div(c, in, true); return true;
    case ZYDIS_MNEMONIC_BT:  exec_bt(c, in, 0); return true;
    case ZYDIS_MNEMONIC_BTS: exec_bt(c, in, 1); return true;
    case ZYDIS_MNEMONIC_BTR: exec_bt(c, in, 2); return true;
    case ZYDIS_MNEMONIC_BTC: exec_bt(c, in, 3); return true;
    case ZYDIS_MNEMONIC_BSF: exec_bsf_bsr(c, in, false); return true;
    case ZYDIS_MNEMONIC_BSR: exec_bsf_bsr(c, in, true); return true;
    /* F3 0F BC/BD are bsf/bsr on a CPU without BMI1/LZCNT, and CPUID
     * advertises neither (Linux's "rep; bsf" relies on exactly this) */
    case ZYDIS_MNEMONIC_TZCNT: exec_bsf_bsr(c, in, false); return true;
    case ZYDIS_MNEMONIC_LZCNT: exec_bsf_bsr(c, in, true); return true;
    case ZYDIS_MNEMONIC_POPCNT: exec_popcnt(c, in); return true;
    default: return false;
    }
}

/* ---- handlers ---- */

void emu_h_arith(EmuCpu *c, const EmuInsn *in) { exec_arith(c, in); }

#define ALU_HANDLER(name, op) \
    void emu_h_##name(EmuCpu *c, const EmuInsn *in) { exec_alu(c, in, op); }
ALU_HANDLER(add, ALU_ADD)
ALU_HANDLER(or, ALU_OR)
ALU_HANDLER(adc, ALU_ADC)
ALU_HANDLER(sbb, ALU_SBB)
ALU_HANDLER(and, ALU_AND)
ALU_HANDLER(sub, ALU_SUB)
ALU_HANDLER(xor, ALU_XOR)
ALU_HANDLER(cmp, ALU_CMP)

void emu_h_test(EmuCpu *c, const EmuInsn *in) { exec_test(c, in); }
