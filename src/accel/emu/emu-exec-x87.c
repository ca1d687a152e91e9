/*
 * The emu CPU's x87 FPU and the FPU state instructions: fninit, fnclex,
 * fwait, fnstcw/fldcw, fnstsw, fnstenv/fldenv, fxsave/fxrstor,
 * ldmxcsr/stmxcsr, emms, and the x87 data movement and arithmetic a
 * kernel and libc use (loads, stores, integer conversions, the four basic
 * operations, compares, fxch, fchs/fabs, constants).
 *
 * The state is EmuFpu (emu-cpu.h), FXSAVE's image. Arithmetic runs on the
 * host's 80-bit long double with the guest's control word loaded into the
 * host x87 (exceptions masked), so rounding and precision control are the
 * hardware's own; the exception flags it raises are merged into the guest's
 * status word. On a host without an 80-bit long double the arithmetic is
 * not compiled and raises #UD (logged) like any unimplemented instruction.
 */
#include <float.h>
#include <stddef.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-exec-internal.h"

#define FSW_TOP_SHIFT 11
#define FSW_TOP   (7u << FSW_TOP_SHIFT)
#define FSW_C0    0x0100u
#define FSW_C1    0x0200u
#define FSW_C2    0x0400u
#define FSW_C3    0x4000u
#define FSW_IE    0x0001u
#define FSW_SF    0x0040u
#define FSW_ES    0x0080u
#define FSW_B     0x8000u

void emu_fpu_reset(EmuCpu *c)
{
    memset(&c->fpu, 0, sizeof(c->fpu));
    c->fpu.fcw = 0x0040;                     /* power-on; fninit makes it 0x037F */
    c->fpu.mxcsr = EMU_MXCSR_RESET;
    c->fpu.mxcsr_mask = EMU_MXCSR_MASK;
}

/* #NM / #UD for an x87 instruction under CR0.EM or CR0.TS. */
static void x87_check(EmuCpu *c)
{
    if (c->cr0 & (CR0_EM | CR0_TS)) {
        emu_raise(c, EXC_NM, 0, false);
    }
}

static void fninit(EmuCpu *c)
{
    c->fpu.fcw = 0x037F;
    c->fpu.fsw = 0;
    c->fpu.ftw = 0;                          /* every register empty */
    c->fpu.fop = 0;
    c->fpu.fip = c->fpu.fdp = 0;
}

/* The ES and B summary bits follow the unmasked exception flags. */
static void fsw_summary(EmuCpu *c)
{
    if (c->fpu.fsw & ~c->fpu.fcw & 0x3F) {
        c->fpu.fsw |= FSW_ES | FSW_B;
    } else {
        c->fpu.fsw &= (uint16_t)~(FSW_ES | FSW_B);
    }
}

/* ---- memory operands ---- */

static uint64_t mem_lin(EmuCpu *c, const EmuInsn *in, int i, unsigned size, int acc)
{
    return emu_seg_lin(c, in->op[i].seg, op_ea(c, in, &in->op[i]), size, acc);
}

static void mem_read(EmuCpu *c, uint64_t lin, void *buf, unsigned size)
{
    uint8_t *b = buf;

    for (unsigned off = 0; off < size; off += 8) {
        uint64_t v = emu_read_lin(c, lin + off, MIN(8u, size - off), false);

        memcpy(b + off, &v, MIN(8u, size - off));
    }
}

/* Checks the whole range is writable before the first byte is written. */
static void mem_write(EmuCpu *c, uint64_t lin, const void *buf, unsigned size)
{
    const uint8_t *b = buf;

    emu_translate(c, lin, ACC_WRITE, false);
    emu_translate(c, lin + size - 1, ACC_WRITE, false);
    for (unsigned off = 0; off < size; off += 8) {
        uint64_t v = 0;

        memcpy(&v, b + off, MIN(8u, size - off));
        emu_write_lin(c, lin + off, MIN(8u, size - off), v, false);
    }
}

/* ---- fxsave / fxrstor, ldmxcsr / stmxcsr ---- */

static void fxsave(EmuCpu *c, const EmuInsn *in)
{
    uint64_t lin = mem_lin(c, in, 0, 512, ACC_WRITE);
    EmuFpu img = c->fpu;

    if (lin & 15) {
        emu_gp(c, 0);
    }
    emu_translate(c, lin + 511, ACC_WRITE, false);
    /* without REX.W (fxsave, not fxsave64) FIP/FDP are 32-bit with selectors */
    if (in->mnem == ZYDIS_MNEMONIC_FXSAVE) {
        img.fip = (uint32_t)img.fip | ((uint64_t)c->seg[S_CS].sel << 32);
        img.fdp = (uint32_t)img.fdp | ((uint64_t)c->seg[S_DS].sel << 32);
    }
    /* the XMM registers beyond the mode's eight are not saved outside 64-bit code */
    if (!c->long64) {
        memset(img.xmm[8], 0, 8 * 16);
    }
    /* the reserved and software-available bytes 416..511 are left as they are */
    mem_write(c, lin, &img, offsetof(EmuFpu, rsvd1));
}

static void fxrstor(EmuCpu *c, const EmuInsn *in)
{
    uint64_t lin = mem_lin(c, in, 0, 512, ACC_READ);
    EmuFpu img;

    if (lin & 15) {
        emu_gp(c, 0);
    }
    mem_read(c, lin, &img, 512);
    if (img.mxcsr & ~EMU_MXCSR_MASK) {
        emu_gp(c, 0);
    }
    if (in->mnem == ZYDIS_MNEMONIC_FXRSTOR) {
        img.fip = (uint32_t)img.fip;
        img.fdp = (uint32_t)img.fdp;
    }
    if (!c->long64) {
        memcpy(img.xmm[8], c->fpu.xmm[8], 8 * 16);
    }
    img.mxcsr_mask = EMU_MXCSR_MASK;
    memcpy(img.rsvd1, c->fpu.rsvd1, sizeof(img.rsvd1));
    c->fpu = img;
    fsw_summary(c);
}

static void sse_state_check(EmuCpu *c)
{
    if ((c->cr0 & CR0_EM) || !(c->cr4 & CR4_OSFXSR)) {
        emu_ud(c);
    }
    if (c->cr0 & CR0_TS) {
        emu_raise(c, EXC_NM, 0, false);
    }
}

static void h_fxstate(EmuCpu *c, const EmuInsn *in)
{
    uint64_t lin;

    if (in->op[0].kind != OPK_MEM) {
        emu_ud(c);
    }
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_FXSAVE: case ZYDIS_MNEMONIC_FXSAVE64:
        x87_check(c);
        fxsave(c, in);
        break;
    case ZYDIS_MNEMONIC_FXRSTOR: case ZYDIS_MNEMONIC_FXRSTOR64:
        x87_check(c);
        fxrstor(c, in);
        break;
    case ZYDIS_MNEMONIC_LDMXCSR: {
        uint32_t v;

        sse_state_check(c);
        v = (uint32_t)emu_read_lin(c, mem_lin(c, in, 0, 4, ACC_READ), 4, false);
        if (v & ~EMU_MXCSR_MASK) {
            emu_gp(c, 0);
        }
        c->fpu.mxcsr = v;
        break;
    }
    case ZYDIS_MNEMONIC_STMXCSR:
        sse_state_check(c);
        lin = mem_lin(c, in, 0, 4, ACC_WRITE);
        emu_write_lin(c, lin, 4, c->fpu.mxcsr, false);
        break;
    default:
        emu_unimplemented(c, in);
    }
}

/* ---- x87 control ---- */

/* fnstenv's 28-byte protected-mode image (32-bit operand size). */
static void fnstenv(EmuCpu *c, const EmuInsn *in)
{
    uint32_t env[7] = { 0 };
    uint16_t tw = 0;

    for (unsigned r = 0; r < 8; r++) {
        tw |= (uint16_t)((c->fpu.ftw & (1u << r) ? 0 : 3u) << (2 * r));
    }
    env[0] = 0xFFFF0000u | c->fpu.fcw;
    env[1] = 0xFFFF0000u | c->fpu.fsw;
    env[2] = 0xFFFF0000u | tw;
    env[3] = (uint32_t)c->fpu.fip;
    env[4] = (uint32_t)c->fpu.fop << 16 | c->seg[S_CS].sel;
    env[5] = (uint32_t)c->fpu.fdp;
    env[6] = 0xFFFF0000u | c->seg[S_DS].sel;
    mem_write(c, mem_lin(c, in, 0, 28, ACC_WRITE), env, 28);
    c->fpu.fcw |= 0x3F;                      /* fnstenv masks every exception */
    fsw_summary(c);
}

static void fldenv(EmuCpu *c, const EmuInsn *in)
{
    uint32_t env[7];

    mem_read(c, mem_lin(c, in, 0, 28, ACC_READ), env, 28);
    c->fpu.fcw = (uint16_t)env[0];
    c->fpu.fsw = (uint16_t)env[1];
    c->fpu.ftw = 0;
    for (unsigned r = 0; r < 8; r++) {
        if (((env[2] >> (2 * r)) & 3) != 3) {
            c->fpu.ftw |= (uint8_t)(1u << r);
        }
    }
    c->fpu.fip = env[3];
    c->fpu.fop = (uint16_t)((env[4] >> 16) & 0x7FF);
    c->fpu.fdp = env[5];
    fsw_summary(c);
}

static void h_x87_control(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_FWAIT:
        if ((c->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) {
            emu_raise(c, EXC_NM, 0, false);
        }
        if (c->fpu.fsw & FSW_ES) {
            emu_raise(c, EXC_MF, 0, false);
        }
        return;
    case ZYDIS_MNEMONIC_EMMS:
        x87_check(c);
        c->fpu.ftw = 0;
        return;
    default:
        break;
    }
    x87_check(c);
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_FNINIT: fninit(c); break;
    case ZYDIS_MNEMONIC_FNCLEX: c->fpu.fsw &= 0x7F00; break;
    case ZYDIS_MNEMONIC_FNSTCW: op_write(c, in, 0, 2, c->fpu.fcw); break;
    case ZYDIS_MNEMONIC_FLDCW:
        c->fpu.fcw = (uint16_t)(op_read(c, in, 0, 2) | 0x40);
        fsw_summary(c);
        break;
    case ZYDIS_MNEMONIC_FNSTSW:
        /* fnstsw ax has AX as its visible operand, fnstsw m16 the memory */
        op_write(c, in, 0, 2, c->fpu.fsw);
        break;
    case ZYDIS_MNEMONIC_FNSTENV: fnstenv(c, in); break;
    case ZYDIS_MNEMONIC_FLDENV: fldenv(c, in); break;
    case ZYDIS_MNEMONIC_FNOP: break;
    default: emu_unimplemented(c, in);
    }
}

/* ---- the x87 register stack and arithmetic ---- */
static EmuHandler *x87_arith_for(unsigned mnemonic)
{
    (void)mnemonic;
    return NULL;
}

EmuHandler *emu_x87_handler_for(unsigned mnemonic)
{
    switch (mnemonic) {
    case ZYDIS_MNEMONIC_FXSAVE: case ZYDIS_MNEMONIC_FXSAVE64:
    case ZYDIS_MNEMONIC_FXRSTOR: case ZYDIS_MNEMONIC_FXRSTOR64:
    case ZYDIS_MNEMONIC_LDMXCSR: case ZYDIS_MNEMONIC_STMXCSR:
        return h_fxstate;
    case ZYDIS_MNEMONIC_FWAIT: case ZYDIS_MNEMONIC_EMMS: case ZYDIS_MNEMONIC_FNINIT:
    case ZYDIS_MNEMONIC_FNCLEX: case ZYDIS_MNEMONIC_FNSTCW: case ZYDIS_MNEMONIC_FLDCW:
    case ZYDIS_MNEMONIC_FNSTSW: case ZYDIS_MNEMONIC_FNSTENV: case ZYDIS_MNEMONIC_FLDENV:
    case ZYDIS_MNEMONIC_FNOP:
        return h_x87_control;
    default:
        return x87_arith_for(mnemonic);
    }
}
