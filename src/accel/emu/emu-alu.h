/*
 * Integer arithmetic of the emu CPU with exact x86 flags, as pure functions
 * of (operands, size, flags in) -> (result, flags out), so the interpreter
 * and the locked read-modify-write loop share them and tests can call them.
 *
 * Where the SDM leaves a flag undefined, the value chosen is the one current
 * Intel cores produce for the common cases (checked by the host-oracle
 * test, tests/unit/test-emu-insn.c, which masks only flags that differ
 * between CPU generations).
 */
#ifndef STRATUS_EMU_ALU_H
#define STRATUS_EMU_ALU_H

#include "accel/emu/emu-cpu.h"

enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

static inline unsigned alu_bits(unsigned size)
{
    return size * 8;
}

static inline uint64_t alu_msb(uint64_t v, unsigned size)
{
    return (v >> (alu_bits(size) - 1)) & 1;
}

/* ZF, SF, PF of a result; the other flags are passed through. */
static inline uint64_t alu_szp(uint64_t fl, uint64_t r, unsigned size)
{
    r &= emu_mask(size);
    fl &= ~(uint64_t)(FL_ZF | FL_SF | FL_PF);
    if (!r) {
        fl |= FL_ZF;
    }
    if (alu_msb(r, size)) {
        fl |= FL_SF;
    }
    if (!__builtin_parity((unsigned)(r & 0xFF))) {
        fl |= FL_PF;
    }
    return fl;
}

static inline uint64_t alu_add(uint64_t a, uint64_t b, unsigned cin, unsigned size, uint64_t *fl)
{
    uint64_t m = emu_mask(size), r, f = *fl & ~(uint64_t)FL_ARITH;
    bool cf;

    a &= m;
    b &= m;
    r = (a + b + cin) & m;
    cf = size == 8 ? (r < a || (cin && r == a)) : ((a + b + cin) >> alu_bits(size)) & 1;
    if (cf) {
        f |= FL_CF;
    }
    if (alu_msb((a ^ r) & (b ^ r), size)) {
        f |= FL_OF;
    }
    if ((a ^ b ^ r) & 0x10) {
        f |= FL_AF;
    }
    *fl = alu_szp(f, r, size);
    return r;
}

static inline uint64_t alu_sub(uint64_t a, uint64_t b, unsigned bin, unsigned size, uint64_t *fl)
{
    uint64_t m = emu_mask(size), r, f = *fl & ~(uint64_t)FL_ARITH;

    a &= m;
    b &= m;
    r = (a - b - bin) & m;
    if (a < b || (bin && a == b)) {
        f |= FL_CF;
    }
    if (alu_msb((a ^ b) & (a ^ r), size)) {
        f |= FL_OF;
    }
    if ((a ^ b ^ r) & 0x10) {
        f |= FL_AF;
    }
    *fl = alu_szp(f, r, size);
    return r;
}

static inline uint64_t alu_logic(uint64_t r, unsigned size, uint64_t *fl)
{
    r &= emu_mask(size);
    *fl = alu_szp(*fl & ~(uint64_t)FL_ARITH, r, size);
    return r;
}

/* The eight classic ALU operations (0x00..0x3F opcode groups). */
static inline uint64_t alu_op(int op, uint64_t a, uint64_t b, unsigned size, uint64_t *fl)
{
    switch (op) {
    case ALU_ADD: return alu_add(a, b, 0, size, fl);
    case ALU_ADC: return alu_add(a, b, (*fl & FL_CF) ? 1 : 0, size, fl);
    case ALU_SUB:
    case ALU_CMP: return alu_sub(a, b, 0, size, fl);
    case ALU_SBB: return alu_sub(a, b, (*fl & FL_CF) ? 1 : 0, size, fl);
    case ALU_AND: return alu_logic(a & b, size, fl);
    case ALU_OR:  return alu_logic(a | b, size, fl);
    default:      return alu_logic(a ^ b, size, fl);
    }
}

static inline uint64_t alu_incdec(uint64_t a, bool dec, unsigned size, uint64_t *fl)
{
    uint64_t cf = *fl & FL_CF;
    uint64_t r = dec ? alu_sub(a, 1, 0, size, fl) : alu_add(a, 1, 0, size, fl);

    *fl = (*fl & ~(uint64_t)FL_CF) | cf;
    return r;
}

/* Shifts and rotates; op = the /r field of the C0/C1/D0-D3 group. */
enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };

static inline uint64_t alu_rotate(int op, uint64_t a, unsigned cnt, unsigned size, uint64_t *fl)
{
    unsigned bits = alu_bits(size);
    uint64_t m = emu_mask(size), r = a & m, f = *fl;

    if (op == SH_ROL || op == SH_ROR) {
        unsigned n = cnt % bits;

        if (n) {
            r = op == SH_ROL ? ((r << n) | (r >> (bits - n))) & m
                             : ((r >> n) | (r << (bits - n))) & m;
        }
        f &= ~(uint64_t)(FL_CF | FL_OF);
        if (op == SH_ROL) {
            f |= (r & 1) ? FL_CF : 0;
            f |= (alu_msb(r, size) ^ (r & 1)) ? FL_OF : 0;
        } else {
            f |= alu_msb(r, size) ? FL_CF : 0;
            f |= (alu_msb(r, size) ^ ((r >> (bits - 2)) & 1)) ? FL_OF : 0;
        }
        *fl = f;
        return r;
    }
    /* RCL/RCR rotate through CF: a (bits+1)-bit rotation, one step at a time. */
    unsigned n = cnt % (bits + 1);
    uint64_t cf = (f & FL_CF) ? 1 : 0;

    for (unsigned i = 0; i < n; i++) {
        if (op == SH_RCL) {
            uint64_t out = alu_msb(r, size);

            r = ((r << 1) | cf) & m;
            cf = out;
        } else {
            uint64_t out = r & 1;

            r = (r >> 1) | (cf << (bits - 1));
            cf = out;
        }
    }
    f &= ~(uint64_t)(FL_CF | FL_OF);
    f |= cf ? FL_CF : 0;
    if (op == SH_RCL) {
        f |= (alu_msb(r, size) ^ cf) ? FL_OF : 0;
    } else {
        f |= (alu_msb(r, size) ^ ((r >> (bits - 2)) & 1)) ? FL_OF : 0;
    }
    *fl = f;
    return r;
}

/* cnt is already masked (to 5 or 6 bits) and non-zero. */
static inline uint64_t alu_shift(int op, uint64_t a, unsigned cnt, unsigned size, uint64_t *fl)
{
    unsigned bits = alu_bits(size);
    uint64_t m = emu_mask(size), r, f = *fl & ~(uint64_t)FL_ARITH;
    bool cf, of;

    a &= m;
    if (op < SH_SHL) {
        return alu_rotate(op, a, cnt, size, fl);
    }
    if (op == SH_SHL || op == SH_SAL) {
        r = cnt >= bits ? 0 : (a << cnt) & m;
        cf = cnt <= bits ? (a >> (bits - cnt)) & 1 : 0;
        of = alu_msb(r, size) ^ cf;
    } else if (op == SH_SHR) {
        r = cnt >= bits ? 0 : a >> cnt;
        cf = cnt <= bits ? (a >> (cnt - 1)) & 1 : 0;
        of = alu_msb(a, size);
    } else {
        int64_t sa = (int64_t)emu_sext(a, size);

        r = (uint64_t)(sa >> (cnt >= bits ? bits - 1 : cnt)) & m;
        cf = (sa >> (cnt > bits ? bits - 1 : cnt - 1)) & 1;
        of = false;
    }
    if (cf) {
        f |= FL_CF;
    }
    if (of) {
        f |= FL_OF;
    }
    *fl = alu_szp(f, r, size);
    return r;
}

/* SHLD/SHRD: cnt masked and non-zero; bits shifted in come from b. */
static inline uint64_t alu_shxd(bool left, uint64_t a, uint64_t b, unsigned cnt, unsigned size,
                                uint64_t *fl)
{
    unsigned bits = alu_bits(size);
    uint64_t m = emu_mask(size), r, f = *fl & ~(uint64_t)FL_ARITH;
    bool cf;

    a &= m;
    b &= m;
    if (cnt > bits) {       /* undefined result for 16-bit counts above 16 */
        cnt %= bits;
        if (!cnt) {
            return a;
        }
    }
    if (left) {
        r = ((a << cnt) | (cnt == bits ? b : (b >> (bits - cnt)))) & m;
        if (cnt == bits) {
            r = b;
        }
        cf = (a >> (bits - cnt)) & 1;
    } else {
        r = cnt == bits ? b : ((a >> cnt) | (b << (bits - cnt))) & m;
        cf = (a >> (cnt - 1)) & 1;
    }
    if (cf) {
        f |= FL_CF;
    }
    if (alu_msb(r ^ a, size)) {
        f |= FL_OF;
    }
    *fl = alu_szp(f, r, size);
    return r;
}

/* Condition codes 0..15 (the low nibble of Jcc/SETcc/CMOVcc). */
static inline bool alu_cond(uint64_t fl, unsigned cc)
{
    bool r;

    switch (cc >> 1) {
    case 0: r = fl & FL_OF; break;
    case 1: r = fl & FL_CF; break;
    case 2: r = fl & FL_ZF; break;
    case 3: r = fl & (FL_CF | FL_ZF); break;
    case 4: r = fl & FL_SF; break;
    case 5: r = fl & FL_PF; break;
    case 6: r = !(fl & FL_SF) != !(fl & FL_OF); break;
    default: r = (fl & FL_ZF) || (!(fl & FL_SF) != !(fl & FL_OF)); break;
    }
    return r ^ (cc & 1);
}

#endif
