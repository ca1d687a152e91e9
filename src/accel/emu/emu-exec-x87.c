/*
 * The emu CPU's x87 FPU and the FPU state instructions: fninit, fnclex,
 * fwait, fnstcw/fldcw, fnstsw, fnstenv/fldenv, fxsave/fxrstor,
 * ldmxcsr/stmxcsr, emms, and the x87 data movement and arithmetic a
 * kernel and libc use (loads, stores, integer conversions, the six basic
 * operations, compares, fxch, ffree, fcmovcc, fchs/fabs, fsqrt, frndint, 0
 * and 1). Over 800 lines: every handler shares the stack, tag and status
 * word helpers here, which a split would have to export.
 *
 * The state is EmuFpu (emu-cpu.h), FXSAVE's image. Arithmetic runs on the
 * host x87 (x86 hosts; short inline assembly, the operation and then its
 * status word) with the guest's control word loaded and every exception
 * masked, so rounding and precision control are the hardware's own; the
 * exception flags and C1 it gives are merged into the guest's status word.
 * Elsewhere the arithmetic is not compiled and raises #UD (logged) like any
 * unimplemented instruction. An unmasked exception sets ES and is taken as
 * #MF by the next arithmetic instruction, as the x87 defers it.
 */
#include <float.h>
#include <math.h>
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
#if LDBL_MANT_DIG == 64 && (defined(__x86_64__) || defined(__i386__))

#define FSW_COND (FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3)

static unsigned x87_top(const EmuCpu *c)
{
    return (c->fpu.fsw >> FSW_TOP_SHIFT) & 7;
}

/* ST(i)'s physical register, its tag bit. */
static uint8_t tag_bit(const EmuCpu *c, unsigned i)
{
    return (uint8_t)(1u << ((x87_top(c) + i) & 7));
}

static long double st_get(const EmuCpu *c, unsigned i)
{
    long double v = 0;

    memcpy(&v, c->fpu.st[i], 10);
    return v;
}

static void st_set(EmuCpu *c, unsigned i, long double v)
{
    memset(c->fpu.st[i], 0, 16);
    memcpy(c->fpu.st[i], &v, 10);
    c->fpu.ftw |= tag_bit(c, i);
}

/* The registers keep their contents as TOP moves: st[] rotates with it. */
static void x87_push(EmuCpu *c, long double v)
{
    uint8_t last[16];

    memcpy(last, c->fpu.st[7], 16);
    memmove(c->fpu.st[1], c->fpu.st[0], 7 * 16);
    memcpy(c->fpu.st[0], last, 16);
    c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~FSW_TOP) | ((x87_top(c) - 1) & 7) << FSW_TOP_SHIFT);
    st_set(c, 0, v);
}

static void x87_pop(EmuCpu *c)
{
    uint8_t first[16];

    c->fpu.ftw &= (uint8_t)~tag_bit(c, 0);
    memcpy(first, c->fpu.st[0], 16);
    memmove(c->fpu.st[0], c->fpu.st[1], 7 * 16);
    memcpy(c->fpu.st[7], first, 16);
    c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~FSW_TOP) | ((x87_top(c) + 1) & 7) << FSW_TOP_SHIFT);
}

/*
 * The host x87 runs the operation under the guest's control word with
 * every exception masked; what it raises is merged into the guest's FSW
 * (C1 too: for a rounded result it says the rounding went up).
 */
typedef struct HostX87 {
    uint16_t saved_cw;
} HostX87;

static void host_begin(EmuCpu *c, HostX87 *h)
{
    uint16_t cw = c->fpu.fcw | 0x3F;

    /* an unmasked exception of an earlier instruction is taken now */
    if (c->fpu.fsw & FSW_ES) {
        emu_raise(c, EXC_MF, 0, false);
    }
    __asm__ volatile("fnstcw %0" : "=m"(h->saved_cw));
    __asm__ volatile("fnclex\n\tfldcw %0" : : "m"(cw));
}

/* op_sw: the status word right after the operation (arith, unary), or NULL: read it now. */
static void host_end(EmuCpu *c, HostX87 *h, bool c1, const uint16_t *op_sw)
{
    uint16_t sw;

    __asm__ volatile("fnstsw %0" : "=m"(sw));
    if (op_sw) {
        sw = *op_sw;
    }
    __asm__ volatile("fnclex\n\tfldcw %0" : : "m"(h->saved_cw));
    c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~(c1 ? FSW_C1 : 0)) | (sw & (0x3F | (c1 ? FSW_C1 : 0))));
    fsw_summary(c);
}

/* Stack underflow (an empty register read): IE and SF; the result is the indefinite. */
static bool underflow(EmuCpu *c, unsigned i)
{
    if (c->fpu.ftw & tag_bit(c, i)) {
        return false;
    }
    c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~FSW_C1) | FSW_IE | FSW_SF);
    fsw_summary(c);
    return true;
}

static long double indefinite(void)
{
    return -__builtin_nanl("");
}

/* A memory operand's bytes (read first: a fault must find the host x87 untouched). */
static void mem_raw(EmuCpu *c, const EmuInsn *in, const EmuOp *o, uint8_t b[10])
{
    memset(b, 0, 10);
    mem_read(c, emu_seg_lin(c, o->seg, op_ea(c, in, o), o->size, ACC_READ), b, o->size);
}

/*
 * m32fp/m64fp/m80fp or m16/m32/m64 int as a long double, loaded by the
 * host x87 itself (inside host_begin/end) so that the flags are fld's.
 */
static long double raw_value(const uint8_t b[10], unsigned size, bool integer)
{
    long double v = 0;

    if (integer) {
        switch (size) {
        case 2: __asm__ volatile("filds %1\n\tfstpt %0" : "=m"(v) : "m"(*(const int16_t *)b)); break;
        case 4: __asm__ volatile("fildl %1\n\tfstpt %0" : "=m"(v) : "m"(*(const int32_t *)b)); break;
        default: __asm__ volatile("fildll %1\n\tfstpt %0" : "=m"(v) : "m"(*(const int64_t *)b)); break;
        }
        return v;
    }
    switch (size) {
    case 4: __asm__ volatile("flds %1\n\tfstpt %0" : "=m"(v) : "m"(*(const float *)b)); break;
    case 8: __asm__ volatile("fldl %1\n\tfstpt %0" : "=m"(v) : "m"(*(const double *)b)); break;
    default: memcpy(&v, b, 10); break;
    }
    return v;
}

/* Writability of [lin, lin+size) before anything changes. */
static void check_store(EmuCpu *c, uint64_t lin, unsigned size)
{
    emu_translate(c, lin, ACC_WRITE, false);
    emu_translate(c, lin + size - 1, ACC_WRITE, false);
}

/* 80-bit NaNs: exponent all ones and a fraction below the integer bit; signaling without bit 62. */
static bool ld_isnan(long double v)
{
    return v != v;
}

static bool ld_issnan(long double v)
{
    uint8_t b[10];

    memcpy(b, &v, 10);
    return ld_isnan(v) && !(b[7] & 0x40);
}

enum { XA_ADD, XA_SUB, XA_SUBR, XA_MUL, XA_DIV, XA_DIVR };

/*
 * One host x87 operation on st1 = a, st0 = b, the status word read right
 * after it (C1 says how the result was rounded; a later instruction would
 * overwrite it). Encoded as bytes: AT&T mnemonics swap fsub/fsubr.
 */
#define X87_OP2(bytes)                                                          \
    __asm__ volatile("fldt %2\n\tfldt %3\n\t.byte " bytes "\n\tfnstsw %1\n\tfstpt %0" \
                     : "=m"(r), "=m"(*sw) : "m"(a), "m"(b))

static long double arith(int op, long double a, long double b, uint16_t *sw)
{
    long double r;

    switch (op) {
    case XA_ADD: X87_OP2("0xde, 0xc1"); break;      /* faddp: a + b */
    case XA_SUB: X87_OP2("0xde, 0xe9"); break;      /* fsubp st1, st0: a - b */
    case XA_SUBR: X87_OP2("0xde, 0xe1"); break;     /* fsubrp: b - a */
    case XA_MUL: X87_OP2("0xde, 0xc9"); break;      /* fmulp */
    case XA_DIV: X87_OP2("0xde, 0xf9"); break;      /* fdivp st1, st0: a / b */
    default: X87_OP2("0xde, 0xf1"); break;          /* fdivrp: b / a */
    }
    return r;
}

/* fsqrt / frndint on the host, likewise. */
static long double unary(bool sqrt_op, long double a, uint16_t *sw)
{
    long double r;

    if (sqrt_op) {
        __asm__ volatile("fldt %2\n\tfsqrt\n\tfnstsw %1\n\tfstpt %0"
                         : "=m"(r), "=m"(*sw) : "m"(a));
    } else {
        __asm__ volatile("fldt %2\n\tfrndint\n\tfnstsw %1\n\tfstpt %0"
                         : "=m"(r), "=m"(*sw) : "m"(a));
    }
    return r;
}

/* fadd..fdivr in their forms: st0 op m/int, st0 op st(i), st(i) op st0 (and pop). */
static void exec_arith(EmuCpu *c, const EmuInsn *in, int op, bool integer, bool pop)
{
    bool mem = in->nops == 1 && in->op[0].kind == OPK_MEM;
    unsigned dst = 0, src = 0;
    uint8_t raw[10];
    long double a, b = 0;
    uint16_t sw;
    HostX87 h;

    if (mem) {
        mem_raw(c, in, &in->op[0], raw);
    } else {
        dst = in->op[0].reg - EREG_ST;
        src = in->nops > 1 ? in->op[1].reg - EREG_ST : 1;
    }
    if (underflow(c, dst) || (!mem && underflow(c, src))) {
        st_set(c, dst, indefinite());
    } else {
        a = st_get(c, dst);
        if (!mem) {
            b = st_get(c, src);
        }
        host_begin(c, &h);
        if (mem) {
            b = raw_value(raw, in->op[0].size, integer);
        }
        a = arith(op, a, b, &sw);
        host_end(c, &h, true, &sw);
        st_set(c, dst, a);
    }
    if (pop) {
        x87_pop(c);
    }
}

/* Pushes v, or the indefinite on a stack overflow (IE, SF, C1). */
static void push_checked(EmuCpu *c, long double v)
{
    c->fpu.fsw &= (uint16_t)~FSW_C1;
    if (c->fpu.ftw & tag_bit(c, 7)) {
        c->fpu.fsw |= FSW_IE | FSW_SF | FSW_C1;
        fsw_summary(c);
        v = indefinite();
    }
    x87_push(c, v);
}

/* fld/fild: push. */
static void exec_load(EmuCpu *c, const EmuInsn *in, bool integer)
{
    long double v;
    uint8_t raw[10];
    HostX87 h;

    if (in->op[0].kind == OPK_MEM) {
        mem_raw(c, in, &in->op[0], raw);
        if (c->fpu.ftw & tag_bit(c, 7)) {       /* overflow: the operand is not converted */
            push_checked(c, 0);
            return;
        }
        host_begin(c, &h);
        v = raw_value(raw, in->op[0].size, integer);
        host_end(c, &h, false, NULL);
    } else {
        unsigned i = in->op[0].reg - EREG_ST;

        if (underflow(c, i)) {                  /* the indefinite, no overflow check */
            x87_push(c, indefinite());
            return;
        }
        v = st_get(c, i);
    }
    push_checked(c, v);
}

/* fst/fstp to memory (float formats) or ST(i). */
static void exec_store(EmuCpu *c, const EmuInsn *in, bool pop)
{
    const EmuOp *o = &in->op[0];
    long double v = underflow(c, 0) ? indefinite() : st_get(c, 0);
    uint8_t b[10] = { 0 };
    HostX87 h;

    if (o->kind == OPK_MEM) {
        uint64_t lin = emu_seg_lin(c, o->seg, op_ea(c, in, o), o->size, ACC_WRITE);

        check_store(c, lin, o->size);
        host_begin(c, &h);
        switch (o->size) {
        case 4: { volatile float f = (float)v; float g = f; memcpy(b, &g, 4); break; }
        case 8: { volatile double d = (double)v; double e = d; memcpy(b, &e, 8); break; }
        default: memcpy(b, &v, 10); break;
        }
        host_end(c, &h, true, NULL);
        mem_write(c, lin, b, o->size);
    } else {
        st_set(c, o->reg - EREG_ST, v);
    }
    if (pop) {
        x87_pop(c);
    }
}

/* fist/fistp/fisttp: integers by the rounding mode (or truncated); indefinite when out of range. */
static void exec_istore(EmuCpu *c, const EmuInsn *in, bool pop, bool chop)
{
    const EmuOp *o = &in->op[0];
    uint64_t lin = emu_seg_lin(c, o->seg, op_ea(c, in, o), o->size, ACC_WRITE);
    long double v = underflow(c, 0) ? indefinite() : st_get(c, 0);
    long double lim = o->size == 2 ? 32768.0L : o->size == 4 ? 2147483648.0L : 9223372036854775808.0L;
    volatile long double r;
    uint64_t i = 1ull << (8 * o->size - 1);
    HostX87 h;

    uint16_t fsw;

    check_store(c, lin, o->size);
    fsw = c->fpu.fsw;
    host_begin(c, &h);
    r = chop ? truncl(v) : nearbyintl(v);
    host_end(c, &h, false, NULL);
    c->fpu.fsw = fsw;                           /* the flags are decided here */
    if (r == r && r < lim && r >= -lim) {
        i = (uint64_t)(int64_t)r;
        c->fpu.fsw = (uint16_t)(c->fpu.fsw & ~FSW_C1);
        if (r != v) {
            c->fpu.fsw |= 0x20 | (fabsl(r) > fabsl(v) ? FSW_C1 : 0);   /* PE, rounded up */
        }
    } else {
        c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~FSW_C1) | FSW_IE);
    }
    fsw_summary(c);
    emu_write_lin(c, lin, o->size, i & emu_mask(o->size), false);
    if (pop) {
        x87_pop(c);
    }
}

/* fcom/fucom(p)(p) set C0 C2 C3; fcomi/fucomi(p) set ZF PF CF. */
static void exec_compare(EmuCpu *c, const EmuInsn *in, bool to_eflags, bool quiet, int pops)
{
    const EmuOp *last = &in->op[in->nops ? in->nops - 1 : 0];
    bool mem = in->nops && last->kind == OPK_MEM;
    unsigned src = in->nops && last->kind == OPK_REG ? last->reg - EREG_ST : 1;
    uint8_t raw[10];
    long double a, b = 0;
    unsigned res;                                 /* 0 >, 1 <, 2 =, 3 unordered */
    HostX87 h;

    if (mem) {
        mem_raw(c, in, last, raw);
    }
    if (underflow(c, 0) || (!mem && underflow(c, src))) {
        res = 3;
    } else {
        a = st_get(c, 0);
        host_begin(c, &h);
        b = mem ? raw_value(raw, last->size, false) : st_get(c, src);
        host_end(c, &h, false, NULL);
        /* NaNs decided here: any makes fcom(i) invalid, an SNaN fucom(i) too */
        if (ld_isnan(a) || ld_isnan(b)) {
            res = 3;
            if (!quiet || ld_issnan(a) || ld_issnan(b)) {
                c->fpu.fsw |= FSW_IE;
                fsw_summary(c);
            }
        } else {
            res = a < b ? 1 : a > b ? 0 : 2;
        }
    }
    if (to_eflags) {
        static const uint64_t fl[4] = { 0, FL_CF, FL_ZF, FL_ZF | FL_PF | FL_CF };

        c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | fl[res];     /* OF SF AF clear */
        c->fpu.fsw &= (uint16_t)~FSW_C1;
    } else {
        static const uint16_t cc[4] = { 0, FSW_C0, FSW_C3, FSW_C0 | FSW_C2 | FSW_C3 };

        c->fpu.fsw = (uint16_t)((c->fpu.fsw & ~FSW_COND) | cc[res]);
    }
    while (pops-- > 0) {
        x87_pop(c);
    }
}

static void exec_unary(EmuCpu *c, const EmuInsn *in)
{
    long double v;
    uint16_t sw;
    HostX87 h;

    if (underflow(c, 0)) {
        st_set(c, 0, indefinite());
        return;
    }
    v = st_get(c, 0);
    if (in->mnem == ZYDIS_MNEMONIC_FCHS || in->mnem == ZYDIS_MNEMONIC_FABS) {
        uint8_t *sign = &c->fpu.st[0][9];        /* exact, even for NaNs */

        *sign = in->mnem == ZYDIS_MNEMONIC_FCHS ? *sign ^ 0x80 : *sign & 0x7F;
        c->fpu.fsw &= (uint16_t)~FSW_C1;
        return;
    }
    host_begin(c, &h);
    v = unary(in->mnem == ZYDIS_MNEMONIC_FSQRT, v, &sw);
    host_end(c, &h, true, &sw);
    st_set(c, 0, v);
}

static void exec_fxch(EmuCpu *c, const EmuInsn *in)
{
    unsigned i = in->op[in->nops - 1].reg - EREG_ST;
    long double a = underflow(c, 0) ? indefinite() : st_get(c, 0);
    long double b = underflow(c, i) ? indefinite() : st_get(c, i);

    st_set(c, 0, b);
    st_set(c, i, a);
    c->fpu.fsw &= (uint16_t)~FSW_C1;
}

/* fcmovcc: ST(0) = ST(i) if the EFLAGS condition holds; an empty register is #IS. */
static void exec_fcmov(EmuCpu *c, const EmuInsn *in)
{
    unsigned i = in->op[1].reg - EREG_ST, m = in->mnem, f = (unsigned)c->rflags;
    bool cf = f & FL_CF, zf = f & FL_ZF, pf = f & FL_PF, take;

    take = m == ZYDIS_MNEMONIC_FCMOVB ? cf : m == ZYDIS_MNEMONIC_FCMOVNB ? !cf
         : m == ZYDIS_MNEMONIC_FCMOVE ? zf : m == ZYDIS_MNEMONIC_FCMOVNE ? !zf
         : m == ZYDIS_MNEMONIC_FCMOVBE ? cf || zf : m == ZYDIS_MNEMONIC_FCMOVNBE ? !(cf || zf)
         : m == ZYDIS_MNEMONIC_FCMOVU ? pf : !pf;
    c->fpu.fsw &= (uint16_t)~FSW_C1;
    if (underflow(c, 0) | underflow(c, i)) {
        st_set(c, 0, indefinite());
    } else if (take) {
        st_set(c, 0, st_get(c, i));
    }
}

static void h_x87_arith(EmuCpu *c, const EmuInsn *in)
{
    x87_check(c);
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_FLD: exec_load(c, in, false); break;
    case ZYDIS_MNEMONIC_FILD: exec_load(c, in, true); break;
    case ZYDIS_MNEMONIC_FLDZ: push_checked(c, 0.0L); break;
    case ZYDIS_MNEMONIC_FLD1: push_checked(c, 1.0L); break;
    case ZYDIS_MNEMONIC_FST: exec_store(c, in, false); break;
    case ZYDIS_MNEMONIC_FSTP: exec_store(c, in, true); break;
    case ZYDIS_MNEMONIC_FIST: exec_istore(c, in, false, false); break;
    case ZYDIS_MNEMONIC_FISTP: exec_istore(c, in, true, false); break;
    case ZYDIS_MNEMONIC_FISTTP: exec_istore(c, in, true, true); break;
    case ZYDIS_MNEMONIC_FADD: exec_arith(c, in, XA_ADD, false, false); break;
    case ZYDIS_MNEMONIC_FADDP: exec_arith(c, in, XA_ADD, false, true); break;
    case ZYDIS_MNEMONIC_FIADD: exec_arith(c, in, XA_ADD, true, false); break;
    case ZYDIS_MNEMONIC_FSUB: exec_arith(c, in, XA_SUB, false, false); break;
    case ZYDIS_MNEMONIC_FSUBP: exec_arith(c, in, XA_SUB, false, true); break;
    case ZYDIS_MNEMONIC_FISUB: exec_arith(c, in, XA_SUB, true, false); break;
    case ZYDIS_MNEMONIC_FSUBR: exec_arith(c, in, XA_SUBR, false, false); break;
    case ZYDIS_MNEMONIC_FSUBRP: exec_arith(c, in, XA_SUBR, false, true); break;
    case ZYDIS_MNEMONIC_FISUBR: exec_arith(c, in, XA_SUBR, true, false); break;
    case ZYDIS_MNEMONIC_FMUL: exec_arith(c, in, XA_MUL, false, false); break;
    case ZYDIS_MNEMONIC_FMULP: exec_arith(c, in, XA_MUL, false, true); break;
    case ZYDIS_MNEMONIC_FIMUL: exec_arith(c, in, XA_MUL, true, false); break;
    case ZYDIS_MNEMONIC_FDIV: exec_arith(c, in, XA_DIV, false, false); break;
    case ZYDIS_MNEMONIC_FDIVP: exec_arith(c, in, XA_DIV, false, true); break;
    case ZYDIS_MNEMONIC_FIDIV: exec_arith(c, in, XA_DIV, true, false); break;
    case ZYDIS_MNEMONIC_FDIVR: exec_arith(c, in, XA_DIVR, false, false); break;
    case ZYDIS_MNEMONIC_FDIVRP: exec_arith(c, in, XA_DIVR, false, true); break;
    case ZYDIS_MNEMONIC_FIDIVR: exec_arith(c, in, XA_DIVR, true, false); break;
    case ZYDIS_MNEMONIC_FCOM: exec_compare(c, in, false, false, 0); break;
    case ZYDIS_MNEMONIC_FCOMP: exec_compare(c, in, false, false, 1); break;
    case ZYDIS_MNEMONIC_FCOMPP: exec_compare(c, in, false, false, 2); break;
    case ZYDIS_MNEMONIC_FUCOM: exec_compare(c, in, false, true, 0); break;
    case ZYDIS_MNEMONIC_FUCOMP: exec_compare(c, in, false, true, 1); break;
    case ZYDIS_MNEMONIC_FUCOMPP: exec_compare(c, in, false, true, 2); break;
    case ZYDIS_MNEMONIC_FCOMI: exec_compare(c, in, true, false, 0); break;
    case ZYDIS_MNEMONIC_FCOMIP: exec_compare(c, in, true, false, 1); break;
    case ZYDIS_MNEMONIC_FUCOMI: exec_compare(c, in, true, true, 0); break;
    case ZYDIS_MNEMONIC_FUCOMIP: exec_compare(c, in, true, true, 1); break;
    case ZYDIS_MNEMONIC_FXCH: exec_fxch(c, in); break;
    case ZYDIS_MNEMONIC_FFREE: c->fpu.ftw &= (uint8_t)~tag_bit(c, in->op[0].reg - EREG_ST); break;
    case ZYDIS_MNEMONIC_FCMOVB: case ZYDIS_MNEMONIC_FCMOVNB: case ZYDIS_MNEMONIC_FCMOVE:
    case ZYDIS_MNEMONIC_FCMOVNE: case ZYDIS_MNEMONIC_FCMOVBE: case ZYDIS_MNEMONIC_FCMOVNBE:
    case ZYDIS_MNEMONIC_FCMOVU: case ZYDIS_MNEMONIC_FCMOVNU: exec_fcmov(c, in); break;
    default: exec_unary(c, in); break;
    }
}

static EmuHandler *x87_arith_for(unsigned mnemonic)
{
    switch (mnemonic) {
    case ZYDIS_MNEMONIC_FLD: case ZYDIS_MNEMONIC_FILD: case ZYDIS_MNEMONIC_FLDZ:
    case ZYDIS_MNEMONIC_FLD1: case ZYDIS_MNEMONIC_FST: case ZYDIS_MNEMONIC_FSTP:
    case ZYDIS_MNEMONIC_FIST: case ZYDIS_MNEMONIC_FISTP: case ZYDIS_MNEMONIC_FISTTP:
    case ZYDIS_MNEMONIC_FADD: case ZYDIS_MNEMONIC_FADDP: case ZYDIS_MNEMONIC_FIADD:
    case ZYDIS_MNEMONIC_FSUB: case ZYDIS_MNEMONIC_FSUBP: case ZYDIS_MNEMONIC_FISUB:
    case ZYDIS_MNEMONIC_FSUBR: case ZYDIS_MNEMONIC_FSUBRP: case ZYDIS_MNEMONIC_FISUBR:
    case ZYDIS_MNEMONIC_FMUL: case ZYDIS_MNEMONIC_FMULP: case ZYDIS_MNEMONIC_FIMUL:
    case ZYDIS_MNEMONIC_FDIV: case ZYDIS_MNEMONIC_FDIVP: case ZYDIS_MNEMONIC_FIDIV:
    case ZYDIS_MNEMONIC_FDIVR: case ZYDIS_MNEMONIC_FDIVRP: case ZYDIS_MNEMONIC_FIDIVR:
    case ZYDIS_MNEMONIC_FCOM: case ZYDIS_MNEMONIC_FCOMP: case ZYDIS_MNEMONIC_FCOMPP:
    case ZYDIS_MNEMONIC_FUCOM: case ZYDIS_MNEMONIC_FUCOMP: case ZYDIS_MNEMONIC_FUCOMPP:
    case ZYDIS_MNEMONIC_FCOMI: case ZYDIS_MNEMONIC_FCOMIP: case ZYDIS_MNEMONIC_FUCOMI:
    case ZYDIS_MNEMONIC_FUCOMIP: case ZYDIS_MNEMONIC_FXCH: case ZYDIS_MNEMONIC_FFREE:
    case ZYDIS_MNEMONIC_FCHS: case ZYDIS_MNEMONIC_FABS: case ZYDIS_MNEMONIC_FSQRT:
    case ZYDIS_MNEMONIC_FRNDINT: case ZYDIS_MNEMONIC_FCMOVB: case ZYDIS_MNEMONIC_FCMOVNB:
    case ZYDIS_MNEMONIC_FCMOVE: case ZYDIS_MNEMONIC_FCMOVNE: case ZYDIS_MNEMONIC_FCMOVBE:
    case ZYDIS_MNEMONIC_FCMOVNBE: case ZYDIS_MNEMONIC_FCMOVU: case ZYDIS_MNEMONIC_FCMOVNU:
        return h_x87_arith;
    default:
        return NULL;
    }
}
#else
static EmuHandler *x87_arith_for(unsigned mnemonic)
{
    (void)mnemonic;
    return NULL;
}
#endif

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
