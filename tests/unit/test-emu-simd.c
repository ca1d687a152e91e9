/*
 * The emu CPU's MMX/SSE/SSE2 and FPU-state instructions against the host
 * CPU as the oracle (the SIMD counterpart of test-emu-insn.c).
 *
 * Each case is one generated instruction from a template (mandatory
 * prefix, opcode, operand form) with random XMM/MM registers, GPRs, flags
 * and MXCSR rounding mode. It runs natively through a trampoline that
 * loads the whole x87/SSE state with fxrstor and saves it with fxsave
 * around the instruction, and in the interpreter (emu_step and a block) on
 * a bare 64-bit EmuCpu whose EmuFpu is loaded from the same FXSAVE image.
 * The GPRs, the arithmetic flags, every XMM register, the MM registers,
 * MXCSR and the scratch memory must end identical; the masked bits are
 * MXCSR.DE (denormal operand), which emu does not model, and FSW.DE after an
 * x87 instruction with a memory operand (emu converts the operand as fld
 * does, which flags a denormal; this AMD host's fadd/fcom m64 do not).
 *
 * Memory operands are [rbx + disp] into a 16-byte-aligned scratch buffer,
 * aligned when the instruction requires it.
 */
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-cpu.h"
#include "emu-bare-cpu.h"

#define CODE_GPA     0x1000ull
#define SCRATCH_GPA  0x10000ull
#define SCRATCH_SIZE 0x1000u
#define SCRATCH_MID  0x800u
#define EMU_RSP      0x80000ull
#define RAM_SIZE     (1ull << 20)
#define CASES        3000          /* per template */
#define MXCSR_DE     0x2u

/* ---- the native side ---- */

typedef struct NativeState {
    uint64_t gpr[16];              /* 0..120; RSP is not loaded */
    uint64_t rflags;               /* 128 */
    uint64_t code;                 /* 136 */
    uint8_t fx[512];               /* 144: the guest FPU image, in and out */
    uint8_t host_fx[512];          /* 656: the host's own, restored after */
} __attribute__((aligned(16))) NativeState;

void emu_test_simd_run(NativeState *s);

__asm__(
    ".text\n"
    ".globl emu_test_simd_run\n"
    ".type emu_test_simd_run, @function\n"
    "emu_test_simd_run:\n"
    "    push %rbx\n    push %rbp\n    push %r12\n    push %r13\n    push %r14\n    push %r15\n"
    "    push %rdi\n"
    "    fxsave64 656(%rdi)\n"
    "    fxrstor64 144(%rdi)\n"
    "    pushq 136(%rdi)\n"
    "    pushq 128(%rdi)\n"
    "    popfq\n"
    "    mov 0(%rdi), %rax\n    mov 8(%rdi), %rcx\n    mov 16(%rdi), %rdx\n"
    "    mov 24(%rdi), %rbx\n    mov 40(%rdi), %rbp\n    mov 48(%rdi), %rsi\n"
    "    mov 64(%rdi), %r8\n    mov 72(%rdi), %r9\n    mov 80(%rdi), %r10\n"
    "    mov 88(%rdi), %r11\n    mov 96(%rdi), %r12\n    mov 104(%rdi), %r13\n"
    "    mov 112(%rdi), %r14\n    mov 120(%rdi), %r15\n    mov 56(%rdi), %rdi\n"
    "    call *(%rsp)\n"
    "    pushfq\n"
    "    push %rdi\n"
    "    mov 24(%rsp), %rdi\n"
    "    mov %rax, 0(%rdi)\n    mov %rcx, 8(%rdi)\n    mov %rdx, 16(%rdi)\n"
    "    mov %rbx, 24(%rdi)\n    mov %rbp, 40(%rdi)\n    mov %rsi, 48(%rdi)\n"
    "    mov %r8, 64(%rdi)\n    mov %r9, 72(%rdi)\n    mov %r10, 80(%rdi)\n"
    "    mov %r11, 88(%rdi)\n    mov %r12, 96(%rdi)\n    mov %r13, 104(%rdi)\n"
    "    mov %r14, 112(%rdi)\n    mov %r15, 120(%rdi)\n"
    "    pop %rax\n    mov %rax, 56(%rdi)\n"
    "    pop %rax\n    mov %rax, 128(%rdi)\n"
    "    fxsave64 144(%rdi)\n"
    "    fxrstor64 656(%rdi)\n"
    "    cld\n"
    "    add $16, %rsp\n"
    "    pop %r15\n    pop %r14\n    pop %r13\n    pop %r12\n    pop %rbp\n    pop %rbx\n"
    "    ret\n"
    ".size emu_test_simd_run, .-emu_test_simd_run\n");

/* ---- templates ---- */

/* Operand forms: V = XMM (ModRM.reg), W = XMM or memory (ModRM.r/m), and so on. */
enum {
    F_VW,          /* xmm, xmm/m (size msize) */
    F_VWI,         /* xmm, xmm/m, imm8 */
    F_WV,          /* xmm/m, xmm (stores) */
    F_UI,          /* xmm (r/m), imm8, ModRM.reg = ext (shift groups) */
    F_GU,          /* gpr (reg), xmm (r/m) */
    F_GUI,         /* gpr (reg), xmm (r/m), imm8 */
    F_VE,          /* xmm (reg), gpr/m (r/m) */
    F_VEI,         /* xmm (reg), gpr32/m16 (r/m), imm8 */
    F_EV,          /* gpr/m (r/m), xmm (reg) */
    F_GW,          /* gpr (reg), xmm/m (r/m) */
    F_PQ,          /* mm, mm/m64 (MMX) */
    F_NI,          /* mm (r/m), imm8, ext (MMX shift groups) */
    F_MEM,         /* memory only (ModRM.reg = ext): ldmxcsr/stmxcsr/fxsave */
    F_VM,          /* xmm, memory only */
    F_MV,          /* memory only, xmm */
    F_X87M,        /* x87: escape byte (opcode), ModRM memory with ext */
    F_X87R,        /* x87: escape byte, ModRM 0xC0 | ext << 3 | random i (ST(i)) */
    F_X87N,        /* x87: escape byte, then the fixed byte in ext */
};

typedef struct Tmpl {
    const char *name;
    uint8_t prefix;                /* 0, 0x66, 0xF2, 0xF3 */
    uint32_t opcode;               /* after 0F */
    uint8_t form;
    uint8_t msize;                 /* memory operand bytes */
    int8_t ext;                    /* ModRM.reg for groups, else -1 */
    uint8_t rexw;                  /* 1: REX.W (64-bit GPR forms) */
    bool align;                    /* a 16-byte memory operand must be aligned */
    bool fp;                       /* floating point: random MXCSR rounding, special values */
} Tmpl;

#define T(n, p, o, f, m, a) { n, p, o, f, m, -1, 0, a, false }
#define TF(n, p, o, f, m, a) { n, p, o, f, m, -1, 0, a, true }
static const Tmpl tmpls[] = {
    T("movaps", 0, 0x28, F_VW, 16, 1), T("movaps-st", 0, 0x29, F_WV, 16, 1),
    T("movups", 0, 0x10, F_VW, 16, 0), T("movups-st", 0, 0x11, F_WV, 16, 0),
    T("movdqa", 0x66, 0x6F, F_VW, 16, 1), T("movdqa-st", 0x66, 0x7F, F_WV, 16, 1),
    T("movdqu", 0xF3, 0x6F, F_VW, 16, 0), T("movdqu-st", 0xF3, 0x7F, F_WV, 16, 0),
    T("movd", 0x66, 0x6E, F_VE, 4, 0), T("movd-st", 0x66, 0x7E, F_EV, 4, 0),
    { "movq-gpr", 0x66, 0x6E, F_VE, 8, -1, 1, 0, false },
    { "movq-gpr-st", 0x66, 0x7E, F_EV, 8, -1, 1, 0, false },
    T("movq", 0xF3, 0x7E, F_VW, 8, 0), T("movq-st", 0x66, 0xD6, F_WV, 8, 0),
    T("movss", 0xF3, 0x10, F_VW, 4, 0), T("movsd", 0xF2, 0x10, F_VW, 8, 0),
    T("movss-st", 0xF3, 0x11, F_WV, 4, 0), T("movsd-st", 0xF2, 0x11, F_WV, 8, 0),
    T("movlps", 0, 0x12, F_VW, 8, 0), T("movhps", 0, 0x16, F_VW, 8, 0),
    T("movhps-st", 0, 0x17, F_MV, 8, 0), T("movlpd", 0x66, 0x12, F_VM, 8, 0),
    T("pxor", 0x66, 0xEF, F_VW, 16, 1), T("por", 0x66, 0xEB, F_VW, 16, 1),
    T("pand", 0x66, 0xDB, F_VW, 16, 1), T("pandn", 0x66, 0xDF, F_VW, 16, 1),
    T("xorps", 0, 0x57, F_VW, 16, 1), T("andnpd", 0x66, 0x55, F_VW, 16, 1),
    T("paddb", 0x66, 0xFC, F_VW, 16, 1), T("paddw", 0x66, 0xFD, F_VW, 16, 1),
    T("paddd", 0x66, 0xFE, F_VW, 16, 1), T("paddq", 0x66, 0xD4, F_VW, 16, 1),
    T("psubb", 0x66, 0xF8, F_VW, 16, 1), T("psubq", 0x66, 0xFB, F_VW, 16, 1),
    T("paddsb", 0x66, 0xEC, F_VW, 16, 1), T("paddusw", 0x66, 0xDD, F_VW, 16, 1),
    T("psubsw", 0x66, 0xE9, F_VW, 16, 1), T("psubusb", 0x66, 0xD8, F_VW, 16, 1),
    T("pmullw", 0x66, 0xD5, F_VW, 16, 1), T("pmulhw", 0x66, 0xE5, F_VW, 16, 1),
    T("pmulhuw", 0x66, 0xE4, F_VW, 16, 1), T("pmuludq", 0x66, 0xF4, F_VW, 16, 1),
    T("pmaddwd", 0x66, 0xF5, F_VW, 16, 1), T("pavgb", 0x66, 0xE0, F_VW, 16, 1),
    T("pminub", 0x66, 0xDA, F_VW, 16, 1), T("pmaxsw", 0x66, 0xEE, F_VW, 16, 1),
    T("psadbw", 0x66, 0xF6, F_VW, 16, 1),
    T("pcmpeqb", 0x66, 0x74, F_VW, 16, 1), T("pcmpeqd", 0x66, 0x76, F_VW, 16, 1),
    T("pcmpgtb", 0x66, 0x64, F_VW, 16, 1), T("pcmpgtw", 0x66, 0x65, F_VW, 16, 1),
    T("punpcklbw", 0x66, 0x60, F_VW, 16, 1), T("punpcklwd", 0x66, 0x61, F_VW, 16, 1),
    T("punpckldq", 0x66, 0x62, F_VW, 16, 1), T("punpcklqdq", 0x66, 0x6C, F_VW, 16, 1),
    T("punpckhbw", 0x66, 0x68, F_VW, 16, 1), T("punpckhqdq", 0x66, 0x6D, F_VW, 16, 1),
    T("unpcklps", 0, 0x14, F_VW, 16, 1), T("unpckhpd", 0x66, 0x15, F_VW, 16, 1),
    T("packsswb", 0x66, 0x63, F_VW, 16, 1), T("packuswb", 0x66, 0x67, F_VW, 16, 1),
    T("packssdw", 0x66, 0x6B, F_VW, 16, 1),
    T("psllw", 0x66, 0xF1, F_VW, 16, 1), T("psrld", 0x66, 0xD2, F_VW, 16, 1),
    T("psraw", 0x66, 0xE1, F_VW, 16, 1), T("psrlq", 0x66, 0xD3, F_VW, 16, 1),
    { "psrlw-i", 0x66, 0x71, F_UI, 0, 2, 0, 0, false },
    { "psrad-i", 0x66, 0x72, F_UI, 0, 4, 0, 0, false },
    { "psllq-i", 0x66, 0x73, F_UI, 0, 6, 0, 0, false },
    { "psrldq", 0x66, 0x73, F_UI, 0, 3, 0, 0, false },
    { "pslldq", 0x66, 0x73, F_UI, 0, 7, 0, 0, false },
    T("pshufd", 0x66, 0x70, F_VWI, 16, 1), T("pshuflw", 0xF2, 0x70, F_VWI, 16, 1),
    T("pshufhw", 0xF3, 0x70, F_VWI, 16, 1), T("shufps", 0, 0xC6, F_VWI, 16, 1),
    T("shufpd", 0x66, 0xC6, F_VWI, 16, 1),
    T("pmovmskb", 0x66, 0xD7, F_GU, 0, 0), T("movmskps", 0, 0x50, F_GU, 0, 0),
    T("movmskpd", 0x66, 0x50, F_GU, 0, 0),
    T("pextrw", 0x66, 0xC5, F_GUI, 0, 0), T("pinsrw", 0x66, 0xC4, F_VEI, 2, 0),
    /* MMX */
    T("mmx-paddb", 0, 0xFC, F_PQ, 8, 0), T("mmx-pcmpeqb", 0, 0x74, F_PQ, 8, 0),
    T("mmx-punpcklbw", 0, 0x60, F_PQ, 4, 0), T("mmx-pxor", 0, 0xEF, F_PQ, 8, 0),
    T("mmx-movq", 0, 0x6F, F_PQ, 8, 0), T("mmx-psubusb", 0, 0xD8, F_PQ, 8, 0),
    { "mmx-psrlq-i", 0, 0x73, F_NI, 0, 2, 0, 0, false },
    /* floating point */
    TF("addps", 0, 0x58, F_VW, 16, 1), TF("addsd", 0xF2, 0x58, F_VW, 8, 0),
    TF("subss", 0xF3, 0x5C, F_VW, 4, 0), TF("subpd", 0x66, 0x5C, F_VW, 16, 1),
    TF("mulps", 0, 0x59, F_VW, 16, 1), TF("mulsd", 0xF2, 0x59, F_VW, 8, 0),
    TF("divss", 0xF3, 0x5E, F_VW, 4, 0), TF("divpd", 0x66, 0x5E, F_VW, 16, 1),
    TF("minps", 0, 0x5D, F_VW, 16, 1), TF("maxsd", 0xF2, 0x5F, F_VW, 8, 0),
    TF("sqrtps", 0, 0x51, F_VW, 16, 1), TF("sqrtsd", 0xF2, 0x51, F_VW, 8, 0),
    TF("cmpps", 0, 0xC2, F_VWI, 16, 1), TF("cmpsd", 0xF2, 0xC2, F_VWI, 8, 0),
    TF("ucomiss", 0, 0x2E, F_VW, 4, 0), TF("comisd", 0x66, 0x2F, F_VW, 8, 0),
    TF("cvtsi2sd", 0xF2, 0x2A, F_VE, 4, 0), TF("cvtsi2ss", 0xF3, 0x2A, F_VE, 4, 0),
    { "cvtsi2sd-q", 0xF2, 0x2A, F_VE, 8, -1, 1, 0, true },
    { "cvtsi2ss-q", 0xF3, 0x2A, F_VE, 8, -1, 1, 0, true },
    TF("cvttsd2si", 0xF2, 0x2C, F_GW, 8, 0), TF("cvtsd2si", 0xF2, 0x2D, F_GW, 8, 0),
    { "cvttss2si-q", 0xF3, 0x2C, F_GW, 4, -1, 1, 0, true },
    TF("cvtss2sd", 0xF3, 0x5A, F_VW, 4, 0), TF("cvtsd2ss", 0xF2, 0x5A, F_VW, 8, 0),
    TF("cvtdq2ps", 0, 0x5B, F_VW, 16, 1), TF("cvttps2dq", 0xF3, 0x5B, F_VW, 16, 1),
    TF("cvtps2dq", 0x66, 0x5B, F_VW, 16, 1), TF("cvtpd2ps", 0x66, 0x5A, F_VW, 16, 1),
    TF("cvtps2pd", 0, 0x5A, F_VW, 8, 0), TF("cvttpd2dq", 0x66, 0xE6, F_VW, 16, 1),
    TF("cvtdq2pd", 0xF3, 0xE6, F_VW, 8, 0),
    /* x87 (random TOP, tags, precision and rounding control) */
#define X(n, esc, f, m, e) { n, 0, esc, f, m, e, 0, 0, true }
    X("fld-m32", 0xD9, F_X87M, 4, 0), X("fld-m64", 0xDD, F_X87M, 8, 0),
    X("fld-m80", 0xDB, F_X87M, 10, 5), X("fld-st", 0xD9, F_X87R, 0, 0),
    X("fild-m16", 0xDF, F_X87M, 2, 0), X("fild-m32", 0xDB, F_X87M, 4, 0),
    X("fild-m64", 0xDF, F_X87M, 8, 5), X("fst-m32", 0xD9, F_X87M, 4, 2),
    X("fstp-m64", 0xDD, F_X87M, 8, 3), X("fstp-m80", 0xDB, F_X87M, 10, 7),
    X("fstp-st", 0xDD, F_X87R, 0, 3), X("fist-m16", 0xDF, F_X87M, 2, 2),
    X("fistp-m32", 0xDB, F_X87M, 4, 3), X("fistp-m64", 0xDF, F_X87M, 8, 7),
    X("fisttp-m32", 0xDB, F_X87M, 4, 1),
    X("fadd-m64", 0xDC, F_X87M, 8, 0), X("fmul-m32", 0xD8, F_X87M, 4, 1),
    X("fsub-st", 0xD8, F_X87R, 0, 4), X("fsubr-sti", 0xDC, F_X87R, 0, 4),
    X("fdiv-m64", 0xDC, F_X87M, 8, 6), X("fdivr-st", 0xD8, F_X87R, 0, 7),
    X("faddp", 0xDE, F_X87R, 0, 0), X("fdivp", 0xDE, F_X87R, 0, 7),
    X("fiadd-m32", 0xDA, F_X87M, 4, 0), X("fimul-m16", 0xDE, F_X87M, 2, 1),
    X("fcom-st", 0xD8, F_X87R, 0, 2), X("fcomp-m64", 0xDC, F_X87M, 8, 3),
    X("fucomi", 0xDB, F_X87R, 0, 5), X("fcomip", 0xDF, F_X87R, 0, 6),
    X("fxch", 0xD9, F_X87R, 0, 1), X("ffree", 0xDD, F_X87R, 0, 0),
    X("fcmovb", 0xDA, F_X87R, 0, 0), X("fcmove", 0xDA, F_X87R, 0, 1),
    X("fcmovbe", 0xDA, F_X87R, 0, 2), X("fcmovu", 0xDA, F_X87R, 0, 3),
    X("fcmovnb", 0xDB, F_X87R, 0, 0), X("fcmovne", 0xDB, F_X87R, 0, 1),
    X("fcmovnbe", 0xDB, F_X87R, 0, 2), X("fcmovnu", 0xDB, F_X87R, 0, 3),
    X("fld1", 0xD9, F_X87N, 0, 0xE8), X("fldz", 0xD9, F_X87N, 0, 0xEE),
    X("fchs", 0xD9, F_X87N, 0, 0xE0), X("fabs", 0xD9, F_X87N, 0, 0xE1),
    X("fsqrt", 0xD9, F_X87N, 0, 0xFA), X("frndint", 0xD9, F_X87N, 0, 0xFC),
    X("fucompp", 0xDA, F_X87N, 0, 0xE9), X("fnstsw-ax", 0xDF, F_X87N, 0, 0xE0),
#undef X
    /* state */
    { "stmxcsr", 0, 0xAE, F_MEM, 4, 3, 0, 0, false },
    { "ldmxcsr", 0, 0xAE, F_MEM, 4, 2, 0, 0, false },
    { "fxsave64", 0, 0xAE, F_MEM, 0, 0, 1, 0, false },
};

/* ---- one case ---- */

typedef struct Case {
    uint8_t code[16];
    unsigned len;
    uint64_t gpr[16];
    uint64_t flags;
    uint8_t fx[512];
    uint8_t scratch[SCRATCH_SIZE];
    bool rbx_ptr;                  /* rBX holds SCRATCH_MID (compared as an offset) */
    int mask_off;                  /* fxsave: scratch offset of MXCSR_MASK, else -1 */
    bool x87_mem;                  /* an x87 instruction with a memory operand */
} Case;

static void put(Case *c, uint8_t b)
{
    g_assert_cmpuint(c->len, <, 15);
    c->code[c->len++] = b;
}

/* A float lane value: random bits, or a special (zeros, infinities, NaNs, small ints). */
static void rnd_fp(GRand *r, uint8_t *p, unsigned e)
{
    static const uint32_t s32[] = { 0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000,
                                    0x7FA00000, 0x3F800000, 0x4F000000, 0xCF000000, 0x00400000 };
    static const uint64_t s64[] = { 0, 1ull << 63, 0x7FF0000000000000ull, 0xFFF0000000000000ull,
                                    0x7FF8000000000000ull, 0x7FF4000000000000ull,
                                    0x3FF0000000000000ull, 0x43E0000000000000ull,
                                    0x41E0000000000000ull, 0xC1E0000000000000ull };
    uint64_t v = (uint64_t)g_rand_int(r) << 32 | g_rand_int(r);

    switch (g_rand_int_range(r, 0, 4)) {
    case 0:
        v = e == 4 ? s32[g_rand_int_range(r, 0, G_N_ELEMENTS(s32))]
                   : s64[g_rand_int_range(r, 0, G_N_ELEMENTS(s64))];
        break;
    case 1:                                   /* a moderate number: exponent near 0 */
        v = e == 4 ? (v & 0x807FFFFF) | (uint64_t)(120 + g_rand_int_range(r, 0, 16)) << 23
                   : (v & 0x800FFFFFFFFFFFFFull) |
                     (uint64_t)(1016 + g_rand_int_range(r, 0, 16)) << 52;
        break;
    default:
        break;
    }
    memcpy(p, &v, e);
}

static void case_init(GRand *r, Case *c, const Tmpl *t)
{
    memset(c, 0, sizeof(*c));
    c->mask_off = -1;
    for (int i = 0; i < 16; i++) {
        c->gpr[i] = (uint64_t)g_rand_int(r) << 32 | g_rand_int(r);
    }
    c->gpr[R_SP] = EMU_RSP;
    c->flags = 0x202 | (g_rand_int(r) & (FL_ARITH | FL_DF));
    /* x87 state as after fninit (empty stack), MMX registers random but valid */
    c->fx[0] = 0x7F; c->fx[1] = 0x03;
    c->fx[4] = (t->form == F_PQ || t->form == F_NI) ? 0xFF : 0;
    for (unsigned i = 0; i < 8; i++) {
        for (unsigned b = 0; b < 8; b++) {
            c->fx[32 + 16 * i + b] = (uint8_t)g_rand_int(r);
        }
        c->fx[32 + 16 * i + 8] = c->fx[32 + 16 * i + 9] = 0xFF;
    }
    /* MXCSR: exceptions masked, random rounding mode for floating point */
    {
        uint32_t mx = 0x1F80 | (t->fp ? (uint32_t)g_rand_int_range(r, 0, 4) << 13 : 0);

        memcpy(c->fx + 24, &mx, 4);
        mx = 0xFFFF;
        memcpy(c->fx + 28, &mx, 4);
    }
    for (unsigned i = 0; i < 16; i++) {
        for (unsigned l = 0; l < 4; l++) {
            if (t->fp) {
                rnd_fp(r, c->fx + 160 + 16 * i + 8 * (l / 2), (l & 1) ? 4 : 8);
            }
        }
        if (!t->fp) {
            for (unsigned b = 0; b < 16; b++) {
                c->fx[160 + 16 * i + b] = (uint8_t)g_rand_int(r);
            }
        } else if (g_rand_boolean(r)) {       /* single-precision lanes */
            for (unsigned l = 0; l < 4; l++) {
                rnd_fp(r, c->fx + 160 + 16 * i + 4 * l, 4);
            }
        }
    }
    if (t->form == F_X87M || t->form == F_X87R || t->form == F_X87N) {
        /* precision (single, double, extended) and rounding control, all masked */
        uint16_t fcw = 0x7F | (uint16_t)(g_rand_int_range(r, 0, 4) << 10) |
                       (uint16_t)((g_rand_boolean(r) ? 3 : 2 * g_rand_int_range(r, 0, 2)) << 8);
        uint16_t fsw = (uint16_t)(g_rand_int_range(r, 0, 8) << 11);

        memcpy(c->fx, &fcw, 2);
        memcpy(c->fx + 2, &fsw, 2);
        c->fx[4] = 0;
        for (unsigned i = 0; i < 8; i++) {
            uint8_t v[8];
            long double ld;
            double d;

            /* mostly valid registers: empty ones exercise underflow/overflow */
            if (g_rand_int_range(r, 0, 8)) {
                c->fx[4] |= (uint8_t)(1u << i);
            }
            rnd_fp(r, v, 8);
            memcpy(&d, v, 8);
            ld = d;
            if (g_rand_int_range(r, 0, 4) == 0) {
                ld = ld / 3.0L;                 /* bits below double precision */
            }
            memset(c->fx + 32 + 16 * i, 0, 16);
            memcpy(c->fx + 32 + 16 * i, &ld, 10);
        }
    }
    for (unsigned i = 0; i < SCRATCH_SIZE; i += 8) {
        if (t->fp) {
            rnd_fp(r, c->scratch + i, g_rand_boolean(r) ? 8 : 4);
            rnd_fp(r, c->scratch + i + 4, 4);
        } else {
            uint64_t v = (uint64_t)g_rand_int(r) << 32 | g_rand_int(r);

            memcpy(c->scratch + i, &v, 8);
        }
    }
}

/* A valid MXCSR in the scratch for ldmxcsr (exceptions stay masked). */
static void fix_ldmxcsr(GRand *r, Case *c, unsigned off)
{
    uint32_t mx = 0x1F80 | (g_rand_int(r) & 0x7F) | (g_rand_int(r) & 0x6000) |
                  (g_rand_boolean(r) ? 0x8040 : 0);

    memcpy(c->scratch + off, &mx, 4);
}

static void gen(GRand *r, Case *c, const Tmpl *t)
{
    bool mem_ok = t->form == F_VW || t->form == F_VWI || t->form == F_WV || t->form == F_VE ||
                  t->form == F_VEI || t->form == F_EV || t->form == F_GW || t->form == F_PQ ||
                  t->form == F_MEM;
    bool mem = t->form == F_MEM || t->form == F_VM || t->form == F_MV || t->form == F_X87M ||
               (mem_ok && g_rand_boolean(r));
    bool mmx = t->form == F_PQ || t->form == F_NI;
    bool gpr_reg = t->form == F_GU || t->form == F_GUI || t->form == F_GW;
    bool gpr_rm = t->form == F_VE || t->form == F_VEI || t->form == F_EV;
    unsigned reg = g_rand_int_range(r, 0, mmx ? 8 : 16);
    unsigned rm = g_rand_int_range(r, 0, mmx ? 8 : 16);
    uint8_t rex = 0x40 | (t->rexw ? 8 : 0);
    int disp = g_rand_int_range(r, -0x200, 0x200);

    case_init(r, c, t);
    if (t->ext >= 0) {
        reg = (unsigned)t->ext;
    }
    /* rBX is the memory base, and RSP never an operand */
    while ((gpr_reg && (reg == R_SP || (mem && reg == R_BX))) ||
           (gpr_rm && !mem && (rm == R_SP))) {
        if (gpr_reg) {
            reg = g_rand_int_range(r, 0, 16);
        } else {
            rm = g_rand_int_range(r, 0, 16);
        }
    }
    if (t->form == F_X87M || t->form == F_X87R || t->form == F_X87N) {
        put(c, (uint8_t)t->opcode);
        if (t->form == F_X87N) {
            put(c, (uint8_t)t->ext);
        } else if (t->form == F_X87R) {
            put(c, (uint8_t)(0xC0 | t->ext << 3 | g_rand_int_range(r, 0, 8)));
        } else {
            put(c, (uint8_t)(0x80 | t->ext << 3 | R_BX));
            for (int i = 0; i < 4; i++) {
                put(c, (uint8_t)((uint32_t)disp >> (8 * i)));
            }
            c->gpr[R_BX] = SCRATCH_MID;
            c->rbx_ptr = true;
            c->x87_mem = true;
        }
        return;
    }
    if (t->align || t->form == F_MEM) {
        disp &= ~15;
    }
    if (t->prefix) {
        put(c, t->prefix);
    }
    rex |= (reg & 8 ? 4 : 0) | (!mem && (rm & 8) ? 1 : 0);
    if (rex != 0x40 || g_rand_boolean(r)) {
        put(c, rex);
    }
    put(c, 0x0F);
    put(c, (uint8_t)t->opcode);
    if (mem) {
        put(c, (uint8_t)(0x80 | (reg & 7) << 3 | R_BX));
        for (int i = 0; i < 4; i++) {
            put(c, (uint8_t)((uint32_t)disp >> (8 * i)));
        }
        c->gpr[R_BX] = SCRATCH_MID;
        c->rbx_ptr = true;
        if (t->ext == 2 && t->opcode == 0xAE) {
            fix_ldmxcsr(r, c, SCRATCH_MID + disp);
        }
        if (t->ext == 0 && t->opcode == 0xAE) {
            c->mask_off = SCRATCH_MID + disp + 28;
        }
    } else {
        put(c, (uint8_t)(0xC0 | (reg & 7) << 3 | (rm & 7)));
    }
    if (t->form == F_VWI || t->form == F_UI || t->form == F_GUI || t->form == F_VEI ||
        t->form == F_NI) {
        /* shift counts: mostly in range, some beyond the element */
        uint8_t k = (uint8_t)g_rand_int(r);

        if ((t->form == F_UI || t->form == F_NI) && g_rand_int_range(r, 0, 4)) {
            k &= 0x1F;
        }
        if (t->opcode == 0xC2) {
            k &= 7;                           /* cmpps predicates 0-7 (SSE) */
        }
        put(c, k);
    }
}

/* ---- running ---- */

typedef struct Env {
    GuestRam ram;
    EmuCpu *cpu;
    uint8_t *code;
    uint8_t *scratch;              /* native scratch, 16-byte aligned */
    ZydisFormatter fmt;
} Env;

static Env env;

typedef struct Result {
    uint64_t gpr[16];
    uint64_t flags;
    uint8_t fx[512];
    uint8_t scratch[SCRATCH_SIZE];
    int exc;
} Result;

static void run_native(const Case *c, Result *res)
{
    static NativeState s;

    memcpy(s.gpr, c->gpr, sizeof(s.gpr));
    if (c->rbx_ptr) {
        s.gpr[R_BX] += (uint64_t)(uintptr_t)env.scratch;
    }
    s.rflags = c->flags;
    s.code = (uint64_t)(uintptr_t)env.code;
    memcpy(s.fx, c->fx, 512);
    memcpy(env.code, c->code, c->len);
    env.code[c->len] = 0xC3;
    memcpy(env.scratch, c->scratch, SCRATCH_SIZE);
    emu_test_simd_run(&s);
    memcpy(res->gpr, s.gpr, sizeof(res->gpr));
    if (c->rbx_ptr) {
        res->gpr[R_BX] -= (uint64_t)(uintptr_t)env.scratch;
    }
    res->flags = s.rflags;
    memcpy(res->fx, s.fx, 512);
    memcpy(res->scratch, env.scratch, SCRATCH_SIZE);
    res->exc = -1;
    if (c->mask_off >= 0) {                   /* the host's MXCSR_MASK, emu's is 0xFFFF */
        static const uint8_t emu_mask[4] = { 0xFF, 0xFF, 0, 0 };

        memcpy(res->scratch + c->mask_off, emu_mask, 4);
    }
}

static void run_emu(const Case *c, Result *res, bool block)
{
    static const uint8_t hlt = 0xF4;
    EmuCpu *cpu = env.cpu;
    uint8_t *scratch = guest_ram_ptr(&env.ram, SCRATCH_GPA, SCRATCH_SIZE);

    memcpy(cpu->gpr, c->gpr, sizeof(cpu->gpr));
    if (c->rbx_ptr) {
        cpu->gpr[R_BX] += SCRATCH_GPA;
    }
    cpu->rflags = c->flags;
    cpu->rip = CODE_GPA;
    memcpy(&cpu->fpu, c->fx, 512);
    memcpy(scratch, c->scratch, SCRATCH_SIZE);
    g_assert_true(guest_ram_write(&env.ram, CODE_GPA, c->code, c->len));
    g_assert_true(guest_ram_write(&env.ram, CODE_GPA + c->len, &hlt, 1));
    cpu->exc_vector = -1;
    cpu->halted = false;
    res->exc = -1;
    if (setjmp(cpu->jmp) == 0) {
        if (block) {
            emu_run_block(cpu);
        } else {
            emu_step(cpu);
        }
    } else {
        res->exc = cpu->exc_vector;
    }
    memcpy(res->gpr, cpu->gpr, sizeof(res->gpr));
    if (c->rbx_ptr) {
        res->gpr[R_BX] -= SCRATCH_GPA;
    }
    res->flags = cpu->rflags;
    memcpy(res->fx, &cpu->fpu, 512);
    memcpy(res->scratch, scratch, SCRATCH_SIZE);
}

/* What is compared of the FXSAVE image: FCW, FSW, FTW, MXCSR (but DE), MM and XMM registers. */
static void fx_normalise(uint8_t *fx)
{
    fx[24] &= (uint8_t)~MXCSR_DE;
    memset(fx + 28, 0, 4);                    /* MXCSR_MASK is the host's (AMD: 0x2FFFF) */
    memset(fx + 6, 0, 18);                    /* FOP, FIP, FDP: not modelled for SIMD */
    for (unsigned i = 0; i < 8; i++) {
        memset(fx + 32 + 16 * i + 10, 0, 6);
    }
    memset(fx + 416, 0, 96);
}

static bool diff(const Case *c, Result *n, Result *e, GString *why)
{
    if (c->x87_mem) {
        n->fx[2] &= (uint8_t)~2;
        e->fx[2] &= (uint8_t)~2;
    }
    if (e->exc >= 0) {
        g_string_append_printf(why, " emu raised exception %d", e->exc);
        return true;
    }
    for (int i = 0; i < 16; i++) {
        if (n->gpr[i] != e->gpr[i]) {
            g_string_append_printf(why, " gpr%d native %016" G_GINT64_MODIFIER "x emu %016"
                                   G_GINT64_MODIFIER "x", i, (guint64)n->gpr[i],
                                   (guint64)e->gpr[i]);
        }
    }
    if ((n->flags ^ e->flags) & (FL_ARITH | FL_DF)) {
        g_string_append_printf(why, " flags native %03x emu %03x",
                               (unsigned)(n->flags & FL_ARITH), (unsigned)(e->flags & FL_ARITH));
    }
    fx_normalise(n->fx);
    fx_normalise(e->fx);
    for (unsigned o = 0; o < 512; o += 16) {
        if (memcmp(n->fx + o, e->fx + o, 16)) {
            g_string_append_printf(why, " fxsave[%u..%u]:", o, o + 15);
            for (unsigned b = 0; b < 16; b++) {
                g_string_append_printf(why, " %02x/%02x", n->fx[o + b], e->fx[o + b]);
            }
        }
    }
    if (memcmp(n->scratch, e->scratch, SCRATCH_SIZE)) {
        unsigned o = 0;

        while (n->scratch[o] == e->scratch[o]) {
            o++;
        }
        g_string_append_printf(why, " scratch[rbx%+d]: native %02x emu %02x",
                               (int)o - (int)SCRATCH_MID, n->scratch[o], e->scratch[o]);
    }
    return why->len > 0;
}

static void describe(const Case *c, GString *s)
{
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
    char text[128] = "(undecodable)";

    for (unsigned i = 0; i < c->len; i++) {
        g_string_append_printf(s, "%02x ", c->code[i]);
    }
    if (ZYAN_SUCCESS(ZydisDecoderDecodeFull((const ZydisDecoder *)env.cpu->decoders + MODE_64,
                                            c->code, c->len, &zi, zo))) {
        ZydisFormatterFormatInstruction(&env.fmt, &zi, zo, zi.operand_count_visible, text,
                                        sizeof(text), 0, NULL);
    }
    g_string_append_printf(s, "[%s]", text);
}

static void test_tmpl(gconstpointer data)
{
    const Tmpl *t = data;
    g_autoptr(GRand) r = g_rand_new_with_seed(0x51dd0000u ^ g_str_hash(t->name));
    unsigned bad = 0;
    Case *c = g_new(Case, 1);
    Result *n = g_new(Result, 1), *e = g_new(Result, 1);

    for (unsigned i = 0; i < CASES; i++) {
        gen(r, c, t);
        run_native(c, n);
        for (int block = 0; block < 2; block++) {
            g_autoptr(GString) why = g_string_new(NULL);
            Result nn = *n;

            run_emu(c, e, block);
            if (diff(c, &nn, e, why)) {
                if (bad++ < 4) {
                    g_autoptr(GString) s = g_string_new(NULL);

                    describe(c, s);
                    for (unsigned x = 0; x < 16 && g_test_verbose(); x++) {
                        g_string_append_printf(s, "\n    in xmm%u: %016" G_GINT64_MODIFIER "x %016"
                                               G_GINT64_MODIFIER "x", x,
                                               (guint64)*(const uint64_t *)(c->fx + 168 + 16 * x),
                                               (guint64)*(const uint64_t *)(c->fx + 160 + 16 * x));
                    }
                    g_test_message("%s: MISMATCH%s %s:%s", t->name, block ? " [block]" : "",
                                   s->str, why->str);
                }
                break;
            }
        }
    }
    g_free(c);
    g_free(n);
    g_free(e);
    g_test_message("%s: %u cases, %u mismatches", t->name, CASES, bad);
    g_assert_cmpuint(bad, ==, 0);
}

/* ---- faults the oracle cannot show ---- */

static int run_bytes(const uint8_t *code, unsigned len)
{
    EmuCpu *cpu = env.cpu;

    cpu->rip = CODE_GPA;
    g_assert_true(guest_ram_write(&env.ram, CODE_GPA, code, len));
    cpu->exc_vector = -1;
    if (setjmp(cpu->jmp) == 0) {
        emu_step(cpu);
        return -1;
    }
    return cpu->exc_vector;
}

static void test_faults(void)
{
    static const uint8_t movaps_mis[] = { 0x0F, 0x28, 0x43, 0x01 };    /* movaps xmm0, [rbx+1] */
    static const uint8_t movups_mis[] = { 0x0F, 0x10, 0x43, 0x01 };    /* movups: no check */
    static const uint8_t pxor[] = { 0x66, 0x0F, 0xEF, 0xC0 };
    static const uint8_t ldmxcsr[] = { 0x0F, 0xAE, 0x13 };             /* ldmxcsr [rbx] */
    static const uint8_t fninit[] = { 0xDB, 0xE3 };
    EmuCpu *cpu = env.cpu;
    uint32_t bad_mx = 0x10000;

    cpu->gpr[R_BX] = SCRATCH_GPA;
    g_assert_cmpint(run_bytes(movaps_mis, sizeof(movaps_mis)), ==, EXC_GP);
    g_assert_cmpint(run_bytes(movups_mis, sizeof(movups_mis)), ==, -1);
    /* without CR4.OSFXSR SSE raises #UD; CR0.TS: #NM (x87 and SSE) */
    cpu->cr4 &= ~CR4_OSFXSR;
    g_assert_cmpint(run_bytes(pxor, sizeof(pxor)), ==, EXC_UD);
    cpu->cr4 |= CR4_OSFXSR;
    cpu->cr0 |= CR0_TS;
    g_assert_cmpint(run_bytes(pxor, sizeof(pxor)), ==, EXC_NM);
    g_assert_cmpint(run_bytes(fninit, sizeof(fninit)), ==, EXC_NM);
    cpu->cr0 &= ~CR0_TS;
    g_assert_cmpint(run_bytes(fninit, sizeof(fninit)), ==, -1);
    g_assert_cmphex(cpu->fpu.fcw, ==, 0x037F);
    /* reserved MXCSR bits: #GP, MXCSR unchanged */
    g_assert_true(guest_ram_write(&env.ram, SCRATCH_GPA, &bad_mx, 4));
    cpu->fpu.mxcsr = 0x1F80;
    g_assert_cmpint(run_bytes(ldmxcsr, sizeof(ldmxcsr)), ==, EXC_GP);
    g_assert_cmphex(cpu->fpu.mxcsr, ==, 0x1F80);
}

/* ---- setup ---- */

static void env_init(void)
{
    EmuCpu *cpu = emu_bare_cpu64(&env.ram, RAM_SIZE);

    cpu->cr0 |= CR0_MP | CR0_NE;
    cpu->cr4 |= CR4_PAE | CR4_OSXMMEXCPT;
    emu_update_mode(cpu);
    emu_fpu_reset(cpu);
    env.cpu = cpu;
    env.code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert_true(env.code != MAP_FAILED);
    env.scratch = g_aligned_alloc(1, SCRATCH_SIZE, 64);
    ZydisFormatterInit(&env.fmt, ZYDIS_FORMATTER_STYLE_INTEL);
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    g_test_set_nonfatal_assertions();
    env_init();
    for (size_t i = 0; i < G_N_ELEMENTS(tmpls); i++) {
        g_autofree char *path = g_strdup_printf("/emu-simd/%s", tmpls[i].name);

        g_test_add_data_func(path, &tmpls[i], test_tmpl);
    }
    g_test_add_func("/emu-simd/faults", test_faults);
    rc = g_test_run();
    munmap(env.code, 4096);
    g_aligned_free(env.scratch);
    emu_bare_cpu_free(env.cpu, &env.ram);
    return rc;
}
