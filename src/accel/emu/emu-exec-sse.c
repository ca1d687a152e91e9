/*
 * The emu CPU's MMX, SSE and SSE2 instructions (the legacy, non-VEX
 * encodings; CPUID advertises MMX, FXSR, SSE and SSE2 and nothing later):
 * moves, logic, packed integer arithmetic, compares, shifts, shuffles,
 * unpacks and packs, mask extraction, and the scalar and packed floating
 * point operations with their conversions (emu-exec-ssefp.c).
 *
 * Every instruction with an XMM or MM operand comes here (emu_sse_handler_for);
 * what is not implemented logs once and raises #UD as elsewhere. Values
 * are worked on in a local Vec and written back at the end, after every
 * access that can fault (the ordering rule of emu-exec-internal.h).
 * Floating point uses the host's IEEE arithmetic under the guest's
 * rounding mode (MXCSR.RC), and merges the exception flags it raises into
 * MXCSR; an unmasked one raises #XM (or #UD without CR4.OSXMMEXCPT) and
 * writes nothing. DAZ and FTZ are not modelled.
 */
#include <fenv.h>
#include <math.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-exec-simd.h"

/*
 * Before an MMX instruction: TOP becomes 0 and every tag valid (SDM vol. 1,
 * 9.5.1). The stack is rotated so that st[i] is physical register i = MMi.
 */
static void mmx_enter(EmuCpu *c)
{
    unsigned top = (c->fpu.fsw >> 11) & 7;

    if (top) {
        uint8_t phys[8][16];

        for (unsigned i = 0; i < 8; i++) {
            memcpy(phys[(top + i) & 7], c->fpu.st[i], 16);
        }
        memcpy(c->fpu.st, phys, sizeof(phys));
        c->fpu.fsw &= (uint16_t)~(7u << 11);
    }
    c->fpu.ftw = 0xFF;
}

/* The CR0/CR4 checks of SSE (EM or no OSFXSR: #UD; TS: #NM) and MMX. */
static void simd_check(EmuCpu *c, bool mmx)
{
    if ((c->cr0 & CR0_EM) || (!mmx && !(c->cr4 & CR4_OSFXSR))) {
        emu_ud(c);
    }
    if (c->cr0 & CR0_TS) {
        emu_raise(c, EXC_NM, 0, false);
    }
    if (mmx) {
        mmx_enter(c);
    }
}

/* Legacy SSE's 16-byte memory operands must be aligned, except these. */
static bool unaligned_ok(unsigned mnem)
{
    switch (mnem) {
    case ZYDIS_MNEMONIC_MOVUPS: case ZYDIS_MNEMONIC_MOVUPD: case ZYDIS_MNEMONIC_MOVDQU:
    case ZYDIS_MNEMONIC_LDDQU:
        return true;
    default:
        return false;
    }
}

static uint64_t vmem_lin(EmuCpu *c, const EmuInsn *in, const EmuOp *o, unsigned size, int acc)
{
    uint64_t lin = emu_seg_lin(c, o->seg, op_ea(c, in, o), size, acc);

    if (size == 16 && (lin & 15) && !unaligned_ok(in->mnem)) {
        emu_gp(c, 0);
    }
    return lin;
}

/* Operand i as `size` bytes (the rest of *v zero). */
void emu_vec_get(EmuCpu *c, const EmuInsn *in, int i, Vec *v, unsigned size)
{
    const EmuOp *o = &in->op[i];
    const uint8_t *p;
    uint64_t lin;

    memset(v, 0, sizeof(*v));
    if (is_xmm(o)) {
        memcpy(v, c->fpu.xmm[o->reg - EREG_XMM], size);
    } else if (is_mm(o)) {
        memcpy(v, c->fpu.st[o->reg - EREG_MM], size);
    } else if (o->kind == OPK_REG) {
        v->q[0] = reg_read(c, o->reg, size);
    } else if (o->kind == OPK_IMM) {
        v->q[0] = (uint64_t)o->val;
    } else {
        lin = vmem_lin(c, in, o, size, ACC_READ);
        p = emu_lin_ptr_fast(c, lin, size, ACC_READ);
        if (p) {
            memcpy(v, p, size);
            return;
        }
        for (unsigned off = 0; off < size; off += 8) {
            uint64_t x = emu_read_lin(c, lin + off, MIN(8u, size - off), false);

            memcpy(v->b + off, &x, MIN(8u, size - off));
        }
    }
}

/* Writes the first `size` bytes of *v to operand i (a register keeps the rest). */
void emu_vec_put(EmuCpu *c, const EmuInsn *in, int i, const Vec *v, unsigned size)
{
    const EmuOp *o = &in->op[i];
    uint8_t *p;
    uint64_t lin;

    if (is_xmm(o)) {
        memcpy(c->fpu.xmm[o->reg - EREG_XMM], v, size);
    } else if (is_mm(o)) {
        memcpy(c->fpu.st[o->reg - EREG_MM], v, size);
        c->fpu.st[o->reg - EREG_MM][8] = c->fpu.st[o->reg - EREG_MM][9] = 0xFF;
    } else if (o->kind == OPK_REG) {
        reg_write(c, o->reg, size, v->q[0]);
    } else {
        lin = vmem_lin(c, in, o, size, ACC_WRITE);
        p = emu_lin_ptr_fast(c, lin, size, ACC_WRITE);
        if (p) {
            memcpy(p, v, size);
            emu_note_store(c, p);
            return;
        }
        emu_translate(c, lin, ACC_WRITE, false);
        emu_translate(c, lin + size - 1, ACC_WRITE, false);
        for (unsigned off = 0; off < size; off += 8) {
            uint64_t x = 0;

            memcpy(&x, v->b + off, MIN(8u, size - off));
            emu_write_lin(c, lin + off, MIN(8u, size - off), x, false);
        }
    }
}

/* The register width of operand 0: 16 (XMM) or 8 (MM). */
static unsigned vwidth(const EmuInsn *in)
{
    return is_mm(&in->op[0]) || is_mm(&in->op[1]) ? 8 : 16;
}

/* ---- moves ---- */

/* movd/movq: the destination register is zero-extended from the source's size. */
static void exec_movdq(EmuCpu *c, const EmuInsn *in)
{
    unsigned s = in->op[1].size;
    Vec v;

    emu_vec_get(c, in, 1, &v, s);
    if (is_xmm(&in->op[0]) || is_mm(&in->op[0])) {
        emu_vec_put(c, in, 0, &v, is_xmm(&in->op[0]) ? 16 : 8);
    } else {
        emu_vec_put(c, in, 0, &v, in->op[0].size);
    }
}

/* movss/movsd: register to register merges the low element; a load zeroes the rest. */
static void exec_movs(EmuCpu *c, const EmuInsn *in, unsigned e)
{
    Vec v;

    emu_vec_get(c, in, 1, &v, e);
    emu_vec_put(c, in, 0, &v, in->op[1].kind == OPK_MEM ? 16 : e);
}

/* movlps/movhps/movlpd/movhpd/movhlps/movlhps: one 64-bit half. */
static void exec_movhalf(EmuCpu *c, const EmuInsn *in)
{
    bool high = in->mnem == ZYDIS_MNEMONIC_MOVHPS || in->mnem == ZYDIS_MNEMONIC_MOVHPD;
    Vec d, s;

    if (!is_xmm(&in->op[0])) {                   /* store */
        emu_vec_get(c, in, 1, &s, 16);
        d.q[0] = s.q[high];
        emu_vec_put(c, in, 0, &d, 8);
        return;
    }
    emu_vec_get(c, in, 1, &s, is_xmm(&in->op[1]) ? 16 : 8);
    emu_vec_get(c, in, 0, &d, 16);
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_MOVHLPS: d.q[0] = s.q[1]; break;
    case ZYDIS_MNEMONIC_MOVLHPS: d.q[1] = s.q[0]; break;
    default: d.q[high] = s.q[0]; break;
    }
    emu_vec_put(c, in, 0, &d, 16);
}

/* ---- packed integer operations ---- */

static int64_t sat(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Lane-wise d = op(d, s) over n bytes; false if mnem is not one of these. */
static bool int_lanes(unsigned mnem, Vec *d, const Vec *s, unsigned n)
{
#define LANES(field, count, expr) \
    for (unsigned i = 0; i < (count); i++) { d->field[i] = (expr); } return true
    switch (mnem) {
    case ZYDIS_MNEMONIC_PADDB: LANES(b, n, (uint8_t)(d->b[i] + s->b[i]));
    case ZYDIS_MNEMONIC_PADDW: LANES(w, n / 2, (uint16_t)(d->w[i] + s->w[i]));
    case ZYDIS_MNEMONIC_PADDD: LANES(d, n / 4, d->d[i] + s->d[i]);
    case ZYDIS_MNEMONIC_PADDQ: LANES(q, n / 8, d->q[i] + s->q[i]);
    case ZYDIS_MNEMONIC_PSUBB: LANES(b, n, (uint8_t)(d->b[i] - s->b[i]));
    case ZYDIS_MNEMONIC_PSUBW: LANES(w, n / 2, (uint16_t)(d->w[i] - s->w[i]));
    case ZYDIS_MNEMONIC_PSUBD: LANES(d, n / 4, d->d[i] - s->d[i]);
    case ZYDIS_MNEMONIC_PSUBQ: LANES(q, n / 8, d->q[i] - s->q[i]);
    case ZYDIS_MNEMONIC_PADDSB: LANES(sb, n, (int8_t)sat(d->sb[i] + s->sb[i], -128, 127));
    case ZYDIS_MNEMONIC_PADDSW: LANES(sw, n / 2, (int16_t)sat(d->sw[i] + s->sw[i], -32768, 32767));
    case ZYDIS_MNEMONIC_PSUBSB: LANES(sb, n, (int8_t)sat(d->sb[i] - s->sb[i], -128, 127));
    case ZYDIS_MNEMONIC_PSUBSW: LANES(sw, n / 2, (int16_t)sat(d->sw[i] - s->sw[i], -32768, 32767));
    case ZYDIS_MNEMONIC_PADDUSB: LANES(b, n, (uint8_t)sat(d->b[i] + s->b[i], 0, 255));
    case ZYDIS_MNEMONIC_PADDUSW: LANES(w, n / 2, (uint16_t)sat(d->w[i] + s->w[i], 0, 65535));
    case ZYDIS_MNEMONIC_PSUBUSB: LANES(b, n, (uint8_t)sat(d->b[i] - s->b[i], 0, 255));
    case ZYDIS_MNEMONIC_PSUBUSW: LANES(w, n / 2, (uint16_t)sat(d->w[i] - s->w[i], 0, 65535));
    case ZYDIS_MNEMONIC_PMULLW: LANES(w, n / 2, (uint16_t)(d->sw[i] * s->sw[i]));
    case ZYDIS_MNEMONIC_PMULHW: LANES(w, n / 2, (uint16_t)((d->sw[i] * s->sw[i]) >> 16));
    case ZYDIS_MNEMONIC_PMULHUW: LANES(w, n / 2, (uint16_t)(((uint32_t)d->w[i] * s->w[i]) >> 16));
    case ZYDIS_MNEMONIC_PMULUDQ: LANES(q, n / 8, (uint64_t)d->d[2 * i] * s->d[2 * i]);
    case ZYDIS_MNEMONIC_PMADDWD:
        LANES(d, n / 4, (uint32_t)(d->sw[2 * i] * s->sw[2 * i]) +
                        (uint32_t)(d->sw[2 * i + 1] * s->sw[2 * i + 1]));
    case ZYDIS_MNEMONIC_PAVGB: LANES(b, n, (uint8_t)((d->b[i] + s->b[i] + 1) >> 1));
    case ZYDIS_MNEMONIC_PAVGW: LANES(w, n / 2, (uint16_t)((d->w[i] + s->w[i] + 1) >> 1));
    case ZYDIS_MNEMONIC_PMINUB: LANES(b, n, MIN(d->b[i], s->b[i]));
    case ZYDIS_MNEMONIC_PMAXUB: LANES(b, n, MAX(d->b[i], s->b[i]));
    case ZYDIS_MNEMONIC_PMINSW: LANES(sw, n / 2, MIN(d->sw[i], s->sw[i]));
    case ZYDIS_MNEMONIC_PMAXSW: LANES(sw, n / 2, MAX(d->sw[i], s->sw[i]));
    case ZYDIS_MNEMONIC_PCMPEQB: LANES(b, n, d->b[i] == s->b[i] ? 0xFF : 0);
    case ZYDIS_MNEMONIC_PCMPEQW: LANES(w, n / 2, d->w[i] == s->w[i] ? 0xFFFF : 0);
    case ZYDIS_MNEMONIC_PCMPEQD: LANES(d, n / 4, d->d[i] == s->d[i] ? ~0u : 0);
    case ZYDIS_MNEMONIC_PCMPGTB: LANES(b, n, d->sb[i] > s->sb[i] ? 0xFF : 0);
    case ZYDIS_MNEMONIC_PCMPGTW: LANES(w, n / 2, d->sw[i] > s->sw[i] ? 0xFFFF : 0);
    case ZYDIS_MNEMONIC_PCMPGTD: LANES(d, n / 4, d->sd[i] > s->sd[i] ? ~0u : 0);
    case ZYDIS_MNEMONIC_PAND: case ZYDIS_MNEMONIC_ANDPS: case ZYDIS_MNEMONIC_ANDPD:
        LANES(q, n / 8, d->q[i] & s->q[i]);
    case ZYDIS_MNEMONIC_PANDN: case ZYDIS_MNEMONIC_ANDNPS: case ZYDIS_MNEMONIC_ANDNPD:
        LANES(q, n / 8, ~d->q[i] & s->q[i]);
    case ZYDIS_MNEMONIC_POR: case ZYDIS_MNEMONIC_ORPS: case ZYDIS_MNEMONIC_ORPD:
        LANES(q, n / 8, d->q[i] | s->q[i]);
    case ZYDIS_MNEMONIC_PXOR: case ZYDIS_MNEMONIC_XORPS: case ZYDIS_MNEMONIC_XORPD:
        LANES(q, n / 8, d->q[i] ^ s->q[i]);
    default:
        return false;
    }
#undef LANES
}

/* psadbw: per 8 bytes, the sum of absolute differences in the low word. */
static void psadbw(Vec *d, const Vec *s, unsigned n)
{
    for (unsigned h = 0; h < n / 8; h++) {
        unsigned sum = 0;

        for (unsigned i = 8 * h; i < 8 * h + 8; i++) {
            sum += (unsigned)abs(d->b[i] - s->b[i]);
        }
        d->q[h] = sum;
    }
}

/* punpckl*, punpckh*, unpck*ps/pd: interleave the low or high halves, e elements. */
static void unpack(Vec *d, const Vec *s, unsigned n, unsigned e, bool high)
{
    Vec r;
    unsigned half = n / 2;

    for (unsigned i = 0; i < half / e; i++) {
        memcpy(r.b + 2 * i * e, d->b + (high ? half : 0) + i * e, e);
        memcpy(r.b + (2 * i + 1) * e, s->b + (high ? half : 0) + i * e, e);
    }
    memcpy(d->b, r.b, n);
}

static void pack(unsigned mnem, Vec *d, const Vec *s, unsigned n)
{
    Vec r;

    switch (mnem) {
    case ZYDIS_MNEMONIC_PACKSSWB:
        for (unsigned i = 0; i < n / 2; i++) {
            r.sb[i] = (int8_t)sat(d->sw[i], -128, 127);
            r.sb[i + n / 2] = (int8_t)sat(s->sw[i], -128, 127);
        }
        break;
    case ZYDIS_MNEMONIC_PACKUSWB:
        for (unsigned i = 0; i < n / 2; i++) {
            r.b[i] = (uint8_t)sat(d->sw[i], 0, 255);
            r.b[i + n / 2] = (uint8_t)sat(s->sw[i], 0, 255);
        }
        break;
    default:                                             /* packssdw */
        for (unsigned i = 0; i < n / 4; i++) {
            r.sw[i] = (int16_t)sat(d->sd[i], -32768, 32767);
            r.sw[i + n / 4] = (int16_t)sat(s->sd[i], -32768, 32767);
        }
        break;
    }
    memcpy(d->b, r.b, n);
}

/* psll/psrl/psra by element size e (bytes) and a 64-bit count. */
static void shift(Vec *d, unsigned n, unsigned e, uint64_t cnt, int kind)
{
    unsigned bits = 8 * e;

    for (unsigned i = 0; i < n / e; i++) {
        uint64_t v = 0;
        int64_t sv;

        memcpy(&v, d->b + i * e, e);
        if (kind == 2) {                                 /* arithmetic */
            sv = (int64_t)(v << (64 - bits)) >> (64 - bits);
            v = (uint64_t)(sv >> (cnt >= bits ? bits - 1 : cnt));
        } else if (cnt >= bits) {
            v = 0;
        } else {
            v = kind ? v >> cnt : v << cnt;
        }
        memcpy(d->b + i * e, &v, e);
    }
}

static bool exec_shift(EmuCpu *c, const EmuInsn *in, Vec *d, const Vec *s, unsigned n)
{
    static const struct { uint16_t mnem; uint8_t e, kind; } shifts[] = {
        { ZYDIS_MNEMONIC_PSLLW, 2, 0 }, { ZYDIS_MNEMONIC_PSLLD, 4, 0 },
        { ZYDIS_MNEMONIC_PSLLQ, 8, 0 }, { ZYDIS_MNEMONIC_PSRLW, 2, 1 },
        { ZYDIS_MNEMONIC_PSRLD, 4, 1 }, { ZYDIS_MNEMONIC_PSRLQ, 8, 1 },
        { ZYDIS_MNEMONIC_PSRAW, 2, 2 }, { ZYDIS_MNEMONIC_PSRAD, 4, 2 },
    };
    uint64_t cnt = in->op[1].kind == OPK_IMM ? (uint8_t)in->op[1].val : s->q[0];

    (void)c;
    if (in->mnem == ZYDIS_MNEMONIC_PSLLDQ || in->mnem == ZYDIS_MNEMONIC_PSRLDQ) {
        Vec r = { .q = { 0, 0 } };

        cnt = MIN(cnt, 16u);
        if (in->mnem == ZYDIS_MNEMONIC_PSLLDQ) {
            memcpy(r.b + cnt, d->b, 16 - cnt);
        } else {
            memcpy(r.b, d->b + cnt, 16 - cnt);
        }
        *d = r;
        return true;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(shifts); i++) {
        if (shifts[i].mnem == in->mnem) {
            shift(d, n, shifts[i].e, cnt, shifts[i].kind);
            return true;
        }
    }
    return false;
}

/* pshufd/pshuflw/pshufhw/pshufw/shufps/shufpd: d from s (and d) by an imm8. */
static bool exec_shuffle(const EmuInsn *in, Vec *d, const Vec *s)
{
    uint8_t k = imm8(in);
    Vec r = *s;

    switch (in->mnem) {
    case ZYDIS_MNEMONIC_PSHUFD:
        for (unsigned i = 0; i < 4; i++) {
            r.d[i] = s->d[(k >> (2 * i)) & 3];
        }
        break;
    case ZYDIS_MNEMONIC_PSHUFW: case ZYDIS_MNEMONIC_PSHUFLW:
        for (unsigned i = 0; i < 4; i++) {
            r.w[i] = s->w[(k >> (2 * i)) & 3];
        }
        break;
    case ZYDIS_MNEMONIC_PSHUFHW:
        for (unsigned i = 0; i < 4; i++) {
            r.w[4 + i] = s->w[4 + ((k >> (2 * i)) & 3)];
        }
        break;
    case ZYDIS_MNEMONIC_SHUFPS:
        r.d[0] = d->d[k & 3];
        r.d[1] = d->d[(k >> 2) & 3];
        r.d[2] = s->d[(k >> 4) & 3];
        r.d[3] = s->d[(k >> 6) & 3];
        break;
    case ZYDIS_MNEMONIC_SHUFPD:
        r.q[0] = d->q[k & 1];
        r.q[1] = s->q[(k >> 1) & 1];
        break;
    default:
        return false;
    }
    *d = r;
    return true;
}

/* pmovmskb/movmskps/movmskpd: the sign bits into a general register. */
static void exec_movmsk(EmuCpu *c, const EmuInsn *in)
{
    unsigned e = in->mnem == ZYDIS_MNEMONIC_PMOVMSKB ? 1 : in->mnem == ZYDIS_MNEMONIC_MOVMSKPS ? 4 : 8;
    unsigned n = is_mm(&in->op[1]) ? 8 : 16;
    uint64_t m = 0;
    Vec s;

    emu_vec_get(c, in, 1, &s, n);
    for (unsigned i = 0; i < n / e; i++) {
        m |= (uint64_t)(s.b[i * e + e - 1] >> 7) << i;
    }
    reg_write(c, in->op[0].reg, in->op[0].size, m);
}

static void exec_pextrw_pinsrw(EmuCpu *c, const EmuInsn *in)
{
    unsigned n = vwidth(in), k = imm8(in) & (n / 2 - 1);
    Vec v, s;

    if (in->mnem == ZYDIS_MNEMONIC_PEXTRW) {
        emu_vec_get(c, in, 1, &v, n);
        reg_write(c, in->op[0].reg, in->op[0].size, v.w[k]);
        return;
    }
    emu_vec_get(c, in, 1, &s, 2);
    emu_vec_get(c, in, 0, &v, n);
    v.w[k] = s.w[0];
    emu_vec_put(c, in, 0, &v, n);
}

/* Two-operand packed integer and logic forms: d = op(d, s) on the full register. */
static bool exec_int2(EmuCpu *c, const EmuInsn *in)
{
    unsigned n = vwidth(in);
    Vec d, s;
    bool imm = in->op[1].kind == OPK_IMM;

    if (in->nops < 2 || !(is_xmm(&in->op[0]) || is_mm(&in->op[0]))) {
        return false;
    }
    /* the source first: a memory source can fault, and it may be narrower (punpckl* m32/m64) */
    emu_vec_get(c, in, 1, &s, imm ? 8 : in->op[1].kind == OPK_MEM ? in->op[1].size : n);
    emu_vec_get(c, in, 0, &d, n);
    if (!int_lanes(in->mnem, &d, &s, n) && !exec_shift(c, in, &d, &s, n) &&
        !exec_shuffle(in, &d, &s)) {
        switch (in->mnem) {
        case ZYDIS_MNEMONIC_PSADBW: psadbw(&d, &s, n); break;
        case ZYDIS_MNEMONIC_PUNPCKLBW: unpack(&d, &s, n, 1, false); break;
        case ZYDIS_MNEMONIC_PUNPCKLWD: unpack(&d, &s, n, 2, false); break;
        case ZYDIS_MNEMONIC_PUNPCKLDQ: case ZYDIS_MNEMONIC_UNPCKLPS:
            unpack(&d, &s, n, 4, false);
            break;
        case ZYDIS_MNEMONIC_PUNPCKLQDQ: case ZYDIS_MNEMONIC_UNPCKLPD:
            unpack(&d, &s, n, 8, false);
            break;
        case ZYDIS_MNEMONIC_PUNPCKHBW: unpack(&d, &s, n, 1, true); break;
        case ZYDIS_MNEMONIC_PUNPCKHWD: unpack(&d, &s, n, 2, true); break;
        case ZYDIS_MNEMONIC_PUNPCKHDQ: case ZYDIS_MNEMONIC_UNPCKHPS:
            unpack(&d, &s, n, 4, true);
            break;
        case ZYDIS_MNEMONIC_PUNPCKHQDQ: case ZYDIS_MNEMONIC_UNPCKHPD:
            unpack(&d, &s, n, 8, true);
            break;
        case ZYDIS_MNEMONIC_PACKSSWB: case ZYDIS_MNEMONIC_PACKSSDW: case ZYDIS_MNEMONIC_PACKUSWB:
            pack(in->mnem, &d, &s, n);
            break;
        default:
            return false;
        }
    }
    emu_vec_put(c, in, 0, &d, n);
    return true;
}

static bool exec_move(EmuCpu *c, const EmuInsn *in)
{
    Vec v;

    switch (in->mnem) {
    case ZYDIS_MNEMONIC_MOVAPS: case ZYDIS_MNEMONIC_MOVAPD: case ZYDIS_MNEMONIC_MOVUPS:
    case ZYDIS_MNEMONIC_MOVUPD: case ZYDIS_MNEMONIC_MOVDQA: case ZYDIS_MNEMONIC_MOVDQU:
    case ZYDIS_MNEMONIC_MOVNTPS: case ZYDIS_MNEMONIC_MOVNTPD: case ZYDIS_MNEMONIC_MOVNTDQ:
    case ZYDIS_MNEMONIC_MOVNTQ: case ZYDIS_MNEMONIC_LDDQU: case ZYDIS_MNEMONIC_MOVNTI:
        emu_vec_get(c, in, 1, &v, in->op[1].size);
        emu_vec_put(c, in, 0, &v, in->op[0].size);
        return true;
    case ZYDIS_MNEMONIC_MOVD: case ZYDIS_MNEMONIC_MOVQ:
        exec_movdq(c, in);
        return true;
    case ZYDIS_MNEMONIC_MOVQ2DQ:
        emu_vec_get(c, in, 1, &v, 8);
        emu_vec_put(c, in, 0, &v, 16);
        return true;
    case ZYDIS_MNEMONIC_MOVDQ2Q:
        emu_vec_get(c, in, 1, &v, 8);
        emu_vec_put(c, in, 0, &v, 8);
        return true;
    case ZYDIS_MNEMONIC_MOVSS: exec_movs(c, in, 4); return true;
    case ZYDIS_MNEMONIC_MOVSD: exec_movs(c, in, 8); return true;
    case ZYDIS_MNEMONIC_MOVLPS: case ZYDIS_MNEMONIC_MOVLPD: case ZYDIS_MNEMONIC_MOVHPS:
    case ZYDIS_MNEMONIC_MOVHPD: case ZYDIS_MNEMONIC_MOVHLPS: case ZYDIS_MNEMONIC_MOVLHPS:
        exec_movhalf(c, in);
        return true;
    case ZYDIS_MNEMONIC_PMOVMSKB: case ZYDIS_MNEMONIC_MOVMSKPS: case ZYDIS_MNEMONIC_MOVMSKPD:
        exec_movmsk(c, in);
        return true;
    case ZYDIS_MNEMONIC_PEXTRW: case ZYDIS_MNEMONIC_PINSRW:
        exec_pextrw_pinsrw(c, in);
        return true;
    default:
        return false;
    }
}

static void h_simd(EmuCpu *c, const EmuInsn *in)
{
    bool mmx = is_mm(&in->op[0]) || is_mm(&in->op[1]);

    if (in->mnem != ZYDIS_MNEMONIC_MOVNTI) {
        simd_check(c, mmx);
    }
    if (!exec_move(c, in) && !exec_int2(c, in) && !emu_exec_sse_float(c, in)) {
        emu_unimplemented(c, in);
    }
}

EmuHandler *emu_sse_handler_for(const EmuInsn *in)
{
    /* string movsd/cmpsd share their mnemonics with SSE2's; they have no XMM operand */
    for (unsigned i = 0; i < in->nops; i++) {
        if (is_xmm(&in->op[i]) || is_mm(&in->op[i])) {
            return h_simd;
        }
    }
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_MOVNTI:
    /* a general register from memory: no XMM operand either */
    case ZYDIS_MNEMONIC_CVTSS2SI: case ZYDIS_MNEMONIC_CVTTSS2SI:
    case ZYDIS_MNEMONIC_CVTSD2SI: case ZYDIS_MNEMONIC_CVTTSD2SI:
        return h_simd;
    default:
        return NULL;
    }
}
