/*
 * The emu CPU's SSE/SSE2 floating point: add, sub, mul, div, min, max,
 * sqrt and cmp in their ps/pd/ss/sd forms, comiss/ucomiss and the sd
 * forms, and the conversions (cvt*) between integers, single and double.
 *
 * Arithmetic is the host's IEEE arithmetic under the guest's rounding mode
 * (MXCSR.RC); the exception flags it raises are merged into MXCSR, and an
 * unmasked one raises #XM (#UD without CR4.OSXMMEXCPT) before anything is
 * written. NaN operands are decided here as SSE decides them. DAZ, FTZ and
 * the denormal flag are not modelled.
 */
#include <fenv.h>
#include <math.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-exec-simd.h"

/* MXCSR exception flags (and, 7 bits up, their masks). */
#define MX_IE 0x01u
#define MX_ZE 0x04u
#define MX_OE 0x08u
#define MX_UE 0x10u
#define MX_PE 0x20u

/* The host's floating-point environment around one instruction. */
typedef struct FpScope {
    fenv_t saved;
    unsigned flags;              /* MX_* raised without the host's help (NaN operands) */
} FpScope;

static void fp_begin(EmuCpu *c, FpScope *s)
{
    static const int modes[4] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO };

    fegetenv(&s->saved);
    fesetround(modes[(c->fpu.mxcsr >> 13) & 3]);
    feclearexcept(FE_ALL_EXCEPT);
    s->flags = 0;
}

/* Merges the flags raised into MXCSR; an unmasked one faults (nothing written yet). */
static void fp_end(EmuCpu *c, FpScope *s)
{
    int ex = fetestexcept(FE_ALL_EXCEPT);
    unsigned f = s->flags;

    fesetenv(&s->saved);
    f |= (ex & FE_INVALID ? MX_IE : 0) | (ex & FE_DIVBYZERO ? MX_ZE : 0) |
         (ex & FE_OVERFLOW ? MX_OE : 0) | (ex & FE_UNDERFLOW ? MX_UE : 0) |
         (ex & FE_INEXACT ? MX_PE : 0);
    c->fpu.mxcsr |= f;
    if (f & ~(c->fpu.mxcsr >> 7) & 0x3F) {
        if (c->cr4 & CR4_OSXMMEXCPT) {
            emu_raise(c, EXC_XM, 0, false);
        }
        emu_ud(c);
    }
}

enum { F_ADD, F_SUB, F_MUL, F_DIV, F_MIN, F_MAX, F_SQRT, F_CMP, F_COUNT };

/* One lane as raw bits: e = 4 (single) or 8 (double). */
static bool f_isnan(uint64_t v, unsigned e)
{
    return e == 4 ? ((v >> 23) & 0xFF) == 0xFF && (v & 0x7FFFFF)
                  : ((v >> 52) & 0x7FF) == 0x7FF && (v & 0xFFFFFFFFFFFFFull);
}

static bool f_issnan(uint64_t v, unsigned e)
{
    return f_isnan(v, e) && !(v & (e == 4 ? 1ull << 22 : 1ull << 51));
}

static uint64_t f_quiet(uint64_t v, unsigned e)
{
    return v | (e == 4 ? 1ull << 22 : 1ull << 51);
}

static double f_get(uint64_t v, unsigned e)
{
    float f;
    double g;

    if (e == 4) {
        uint32_t x = (uint32_t)v;

        memcpy(&f, &x, 4);
        return f;
    }
    memcpy(&g, &v, 8);
    return g;
}

/* Rounds to the lane's format under the current rounding mode. */
static uint64_t f_put(double x, unsigned e)
{
    volatile float f;
    uint32_t b32;
    uint64_t b64;

    if (e == 4) {
        f = (float)x;
        float ff = f;

        memcpy(&b32, &ff, 4);
        return b32;
    }
    memcpy(&b64, &x, 8);
    return b64;
}

/* cmpps/cmpss predicate k (0..7) on a, b; *fl gets IE for NaNs as the SDM says. */
static bool f_compare(unsigned k, uint64_t a, uint64_t b, unsigned e, unsigned *fl)
{
    bool un = f_isnan(a, e) || f_isnan(b, e);
    bool signaling = k == 1 || k == 2 || k == 5 || k == 6;
    double x = f_get(a, e), y = f_get(b, e);
    bool r;

    if ((un && signaling) || f_issnan(a, e) || f_issnan(b, e)) {
        *fl |= MX_IE;
    }
    switch (k & 7) {
    case 0: r = !un && x == y; break;
    case 1: r = !un && x < y; break;
    case 2: r = !un && x <= y; break;
    case 3: r = un; break;
    case 4: r = un || x != y; break;
    case 5: r = un || !(x < y); break;
    case 6: r = un || !(x <= y); break;
    default: r = !un; break;
    }
    return r;
}

/*
 * One lane of an arithmetic operation. NaN operands are decided here, as
 * SSE does (the first operand's NaN wins, quieted; min/max return the
 * second operand), rather than by whatever order the host compiler chose.
 */
static uint64_t f_lane(int op, uint64_t a, uint64_t b, unsigned e, unsigned k, unsigned *fl)
{
    volatile double x, y, r;

    if (op == F_CMP) {
        return f_compare(k, a, b, e, fl) ? ~0ull : 0;
    }
    if (op == F_MIN || op == F_MAX) {
        if (f_isnan(a, e) || f_isnan(b, e)) {
            *fl |= MX_IE;
            return b;
        }
        x = f_get(a, e);
        y = f_get(b, e);
        return (op == F_MIN ? x < y : x > y) ? a : b;
    }
    if (op == F_SQRT) {              /* of the source only */
        if (f_isnan(b, e)) {
            *fl |= f_issnan(b, e) ? MX_IE : 0;
            return f_quiet(b, e);
        }
        y = f_get(b, e);
        return e == 4 ? f_put(sqrtf((float)y), 4) : f_put(sqrt(y), 8);
    }
    if (f_isnan(a, e) || f_isnan(b, e)) {
        *fl |= f_issnan(a, e) || f_issnan(b, e) ? MX_IE : 0;
        return f_quiet(f_isnan(a, e) ? a : b, e);
    }
    x = f_get(a, e);
    y = f_get(b, e);
    if (e == 4) {
        /* single precision in float: a double intermediate would round twice */
        volatile float u = (float)x, v = (float)y, w;

        switch (op) {
        case F_ADD: w = u + v; break;
        case F_SUB: w = u - v; break;
        case F_MUL: w = u * v; break;
        default: w = u / v; break;
        }
        return f_put(w, 4);
    }
    switch (op) {
    case F_ADD: r = x + y; break;
    case F_SUB: r = x - y; break;
    case F_MUL: r = x * y; break;
    default: r = x / y; break;
    }
    return f_put(r, 8);
}

static const struct {
    uint16_t mnem;
    uint8_t op, e, packed;
} farith[] = {
#define FA(name, op) \
    { ZYDIS_MNEMONIC_##name##PS, op, 4, 1 }, { ZYDIS_MNEMONIC_##name##PD, op, 8, 1 }, \
    { ZYDIS_MNEMONIC_##name##SS, op, 4, 0 }, { ZYDIS_MNEMONIC_##name##SD, op, 8, 0 }
    FA(ADD, F_ADD), FA(SUB, F_SUB), FA(MUL, F_MUL), FA(DIV, F_DIV), FA(MIN, F_MIN),
    FA(MAX, F_MAX), FA(SQRT, F_SQRT), FA(CMP, F_CMP),
#undef FA
};

static bool exec_farith(EmuCpu *c, const EmuInsn *in)
{
    unsigned i, e, lanes;
    FpScope fs;
    Vec d, s;

    for (i = 0; i < G_N_ELEMENTS(farith) && farith[i].mnem != in->mnem; i++) {
    }
    if (i == G_N_ELEMENTS(farith) || !is_xmm(&in->op[0])) {
        return false;
    }
    e = farith[i].e;
    lanes = farith[i].packed ? 16 / e : 1;
    emu_vec_get(c, in, 1, &s, farith[i].packed ? 16 : e);
    emu_vec_get(c, in, 0, &d, 16);
    fp_begin(c, &fs);
    for (unsigned l = 0; l < lanes; l++) {
        uint64_t a = 0, b = 0, r;

        memcpy(&a, d.b + l * e, e);
        memcpy(&b, s.b + l * e, e);
        r = f_lane(farith[i].op, a, b, e, imm8(in), &fs.flags);
        memcpy(d.b + l * e, &r, e);
    }
    fp_end(c, &fs);
    emu_vec_put(c, in, 0, &d, 16);
    return true;
}

/* comiss/comisd/ucomiss/ucomisd: ZF PF CF as unordered/less/equal; OF SF AF clear. */
static void exec_comis(EmuCpu *c, const EmuInsn *in)
{
    unsigned e = in->mnem == ZYDIS_MNEMONIC_COMISS || in->mnem == ZYDIS_MNEMONIC_UCOMISS ? 4 : 8;
    bool quiet = in->mnem == ZYDIS_MNEMONIC_UCOMISS || in->mnem == ZYDIS_MNEMONIC_UCOMISD;
    uint64_t fl = c->rflags & ~(uint64_t)FL_ARITH;
    FpScope fs;
    Vec a, b;

    emu_vec_get(c, in, 1, &b, e);
    emu_vec_get(c, in, 0, &a, e);
    fp_begin(c, &fs);
    if (f_isnan(a.q[0], e) || f_isnan(b.q[0], e)) {
        fl |= FL_ZF | FL_PF | FL_CF;
        if (!quiet || f_issnan(a.q[0], e) || f_issnan(b.q[0], e)) {
            fs.flags |= MX_IE;
        }
    } else if (f_get(a.q[0], e) < f_get(b.q[0], e)) {
        fl |= FL_CF;
    } else if (f_get(a.q[0], e) == f_get(b.q[0], e)) {
        fl |= FL_ZF;
    }
    fp_end(c, &fs);
    c->rflags = fl;
}

/* A float to a signed integer of `bits`: rounded by the mode or truncated; indefinite if out of range. */
static uint64_t f_to_int(double x, unsigned bits, bool chop, unsigned *fl)
{
    double lim = bits == 64 ? 9223372036854775808.0 : 2147483648.0;
    uint64_t v = bits == 64 ? 1ull << 63 : 1ull << 31;      /* the integer indefinite */
    volatile double r;

    /* the flags are decided here, whatever the host's rounding helpers raise */
    if (!isnan(x)) {
        r = chop ? trunc(x) : nearbyint(x);
        if (r < lim && r >= -lim) {
            v = (uint64_t)(int64_t)r & (bits == 64 ? ~0ull : 0xFFFFFFFFull);
            *fl |= r != x ? MX_PE : 0;
        } else {
            *fl |= MX_IE;
        }
    } else {
        *fl |= MX_IE;
    }
    feclearexcept(FE_ALL_EXCEPT);
    return v;
}

/* The conversions: to and from integers, and between single and double. */
static bool exec_convert(EmuCpu *c, const EmuInsn *in)
{
    unsigned m = in->mnem, se = 4, de = 4, lanes = 1;
    bool to_int = false, from_int = false, chop = false;
    FpScope fs;
    Vec d, s;

    switch (m) {
    case ZYDIS_MNEMONIC_CVTSI2SS: from_int = true; se = in->op[1].size; break;
    case ZYDIS_MNEMONIC_CVTSI2SD: from_int = true; se = in->op[1].size; de = 8; break;
    case ZYDIS_MNEMONIC_CVTTSS2SI: chop = true; /* fall through */
    case ZYDIS_MNEMONIC_CVTSS2SI: to_int = true; de = in->op[0].size; break;
    case ZYDIS_MNEMONIC_CVTTSD2SI: chop = true; /* fall through */
    case ZYDIS_MNEMONIC_CVTSD2SI: to_int = true; se = 8; de = in->op[0].size; break;
    case ZYDIS_MNEMONIC_CVTSS2SD: de = 8; break;
    case ZYDIS_MNEMONIC_CVTSD2SS: se = 8; break;
    case ZYDIS_MNEMONIC_CVTDQ2PS: from_int = true; lanes = 4; break;
    case ZYDIS_MNEMONIC_CVTTPS2DQ: chop = true; /* fall through */
    case ZYDIS_MNEMONIC_CVTPS2DQ: to_int = true; lanes = 4; break;
    case ZYDIS_MNEMONIC_CVTDQ2PD: from_int = true; lanes = 2; de = 8; break;
    case ZYDIS_MNEMONIC_CVTTPD2DQ: chop = true; /* fall through */
    case ZYDIS_MNEMONIC_CVTPD2DQ: to_int = true; lanes = 2; se = 8; break;
    case ZYDIS_MNEMONIC_CVTPS2PD: lanes = 2; de = 8; break;
    case ZYDIS_MNEMONIC_CVTPD2PS: lanes = 2; se = 8; break;
    default: return false;
    }
    emu_vec_get(c, in, 1, &s, in->op[1].size);
    emu_vec_get(c, in, 0, &d, 16);
    if (lanes > 1 && de * lanes < 16) {
        d.q[1] = 0;                              /* the packed narrowing forms zero the top */
    }
    fp_begin(c, &fs);
    for (unsigned l = 0; l < lanes; l++) {
        uint64_t a = 0, r;

        memcpy(&a, s.b + l * se, se);
        if (from_int) {
            r = f_put(se == 8 ? (double)(int64_t)a : (double)(int32_t)a, de);
            if (se == 8 && de == 4) {           /* int64 -> float directly: one rounding */
                volatile float f = (float)(int64_t)a;
                float ff = f;
                uint32_t b32;

                memcpy(&b32, &ff, 4);
                r = b32;
            }
        } else if (to_int) {
            r = f_to_int(f_get(a, se), 8 * de, chop, &fs.flags);
        } else if (f_isnan(a, se)) {
            fs.flags |= f_issnan(a, se) ? MX_IE : 0;
            a = f_quiet(a, se);                 /* the payload moves with the format */
            r = se == 4 ? (a >> 31 & 1) << 63 | 0x7FF0000000000000ull | (a & 0x7FFFFF) << 29
                        : (a >> 63 & 1) << 31 | 0x7F800000ull | ((a >> 29) & 0x7FFFFF);
        } else {
            r = f_put(f_get(a, se), de);
        }
        memcpy(d.b + l * de, &r, de);
    }
    fp_end(c, &fs);
    if (to_int && lanes == 1) {
        reg_write(c, in->op[0].reg, de, d.q[0]);
    } else {
        emu_vec_put(c, in, 0, &d, 16);
    }
    return true;
}

bool emu_exec_sse_float(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_COMISS: case ZYDIS_MNEMONIC_COMISD:
    case ZYDIS_MNEMONIC_UCOMISS: case ZYDIS_MNEMONIC_UCOMISD:
        exec_comis(c, in);
        return true;
    default:
        return exec_farith(c, in) || exec_convert(c, in);
    }
}

