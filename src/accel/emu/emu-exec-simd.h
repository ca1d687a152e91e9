/*
 * Shared by emu-exec-sse.c (MMX/SSE moves and integer operations, the
 * dispatch) and emu-exec-ssefp.c (SSE floating point): the vector value
 * and operand access.
 */
#ifndef STRATUS_EMU_EXEC_SIMD_H
#define STRATUS_EMU_EXEC_SIMD_H

#include "accel/emu/emu-exec-internal.h"

typedef union Vec {
    uint8_t b[16];
    int8_t sb[16];
    uint16_t w[8];
    int16_t sw[8];
    uint32_t d[4];
    int32_t sd[4];
    uint64_t q[2];
    int64_t sq[2];
    float f[4];
    double g[2];
} Vec;

static inline bool is_mm(const EmuOp *o)
{
    return o->kind == OPK_REG && o->reg >= EREG_MM && o->reg < EREG_MM + 8;
}

static inline bool is_xmm(const EmuOp *o)
{
    return o->kind == OPK_REG && o->reg >= EREG_XMM && o->reg < EREG_XMM + 16;
}

/* The instruction's last operand, an imm8 (shuffle and compare selectors). */
static inline uint8_t imm8(const EmuInsn *in)
{
    return (uint8_t)in->op[in->nops - 1].val;
}

/* Operand i as `size` bytes (the rest of *v zero); memory may fault. */
void emu_vec_get(EmuCpu *c, const EmuInsn *in, int i, Vec *v, unsigned size);
/* Writes the first `size` bytes of *v to operand i (a register keeps the rest). */
void emu_vec_put(EmuCpu *c, const EmuInsn *in, int i, const Vec *v, unsigned size);
/* The floating-point instructions; false if in is not one. */
bool emu_exec_sse_float(EmuCpu *c, const EmuInsn *in);

#endif
