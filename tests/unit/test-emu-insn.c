/*
 * The emu CPU's interpreter against the host CPU as the oracle.
 *
 * Each case is one generated x86-64 instruction (encoded here from small
 * templates: opcode + ModRM with random register fields, prefixes, REX)
 * and a random register file and flags. It runs natively, through a small
 * trampoline (native_run below), and in the interpreter (emu_step on a
 * bare EmuCpu in 64-bit mode without paging), from the same state. All 16
 * GPRs, the six arithmetic flags and DF, and the scratch memory must end
 * identical, except where the SDM calls a result undefined (undef_flags,
 * and the per-family notes).
 *
 * Memory: instructions only touch a scratch buffer, through rBX (memory
 * operands) or rSI/rDI (string instructions). Natively the buffer is a
 * host mapping, in the interpreter guest RAM at SCRATCH_GPA; registers
 * holding scratch addresses are compared as offsets into the buffer.
 * RSP is never an operand (natively it is the trampoline's stack).
 *
 * The host is x86-64 (this test is only built there). Its values for
 * SDM-undefined flags differ between vendors and generations (this test
 * was written on an AMD EPYC, the interpreter picks Intel's), which is why
 * those flags are masked rather than compared.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-cpu.h"
#include "emu-bare-cpu.h"

#define CODE_GPA     0x1000ull
#define SCRATCH_GPA  0x10000ull
#define SCRATCH_SIZE 0x4000u
#define SCRATCH_MID  0x2000u       /* rBX points here for memory operands */
#define EMU_RSP      0x80000ull
#define RAM_SIZE     (1ull << 20)
#define POOL_SIZE    (4 * SCRATCH_SIZE)
#define MAX_REPORTS  8             /* mismatches printed per family (--verbose: all) */

#define FL_CMP (FL_ARITH | FL_DF)  /* the flags compared */

/* ---- the native side ---- */

/* The trampoline's view of the state; the offsets are used in the asm. */
typedef struct NativeRegs {
    uint64_t gpr[16];              /* 0..120; the RSP slot is not loaded */
    uint64_t rflags;               /* 128 */
    uint64_t code;                 /* 136: address of instruction + ret */
} NativeRegs;

void emu_test_native_run(NativeRegs *s);

/*
 * Saves the callee-saved registers, loads RFLAGS and every GPR but RSP from
 * *s, calls the code (the instruction followed by ret), stores the GPRs and
 * RFLAGS back, clears DF (the ABI wants it clear) and restores. The state
 * pointer and the code address stay on the stack meanwhile.
 */
__asm__(
    ".text\n"
    ".globl emu_test_native_run\n"
    ".type emu_test_native_run, @function\n"
    "emu_test_native_run:\n"
    "    push %rbx\n    push %rbp\n    push %r12\n    push %r13\n    push %r14\n    push %r15\n"
    "    push %rdi\n"
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
    "    cld\n"
    "    add $16, %rsp\n"
    "    pop %r15\n    pop %r14\n    pop %r13\n    pop %r12\n    pop %rbp\n    pop %rbx\n"
    "    ret\n"
    ".size emu_test_native_run, .-emu_test_native_run\n");

/* ---- cases ---- */

typedef struct Case Case;
/* Prepares scratch memory (both copies) after it is filled from the pool. */
typedef void PatchFn(uint8_t *scratch, const Case *c);

struct Case {
    uint8_t code[64];              /* one instruction, or a sequence (flagseq) */
    unsigned len;
    uint64_t gpr[16];              /* inputs; ptr_regs hold scratch offsets */
    uint64_t flags;
    uint32_t undef;                /* flags the SDM leaves undefined here */
    uint16_t ptr_regs;             /* registers that point into the scratch */
    uint16_t skip_regs;            /* registers whose result is undefined */
    int code_reg;                  /* holds an address relative to the code, or -1 */
    uint64_t code_mask;            /* ... in these bits (RIP-relative LEA) */
    bool mem;                      /* touches the scratch buffer */
    bool tlb_cold;                 /* the TLB is flushed first (memory forms take their slow paths) */
    bool rex;                      /* encoded with REX (selects SPL..DIL over AH..BH) */
    unsigned pool_off;             /* scratch contents: pool + pool_off */
    unsigned mem_off;              /* scratch offset of the ModRM memory operand */
    PatchFn *patch;
    uint64_t patch_val;
    unsigned patch_len, patch_off2, patch_elem;
};

/*
 * Flags the SDM leaves undefined, by instruction (Intel SDM vol. 2, the
 * "Flags Affected" section of each instruction). Everything else of CF PF
 * AF ZF SF OF (and DF) is compared, including flags an instruction must
 * leave unchanged.
 */
enum { UF_NONE, UF_LOGIC, UF_MUL, UF_DIV, UF_BT, UF_BSF, UF_SHIFT1, UF_SHIFTN, UF_SHIFTBIG,
       UF_ROTN, UF_COUNT };
static const struct {
    const char *insns;
    uint32_t mask;
} undef_flags[UF_COUNT] = {
    [UF_NONE]     = { "add adc sub sbb cmp neg inc dec xadd cmpxchg cmps scas sahf, "
                      "and every shift/rotate with a masked count of 0", 0 },
    [UF_LOGIC]    = { "and or xor test", FL_AF },
    [UF_MUL]      = { "mul imul", FL_SF | FL_ZF | FL_AF | FL_PF },
    [UF_DIV]      = { "div idiv", FL_ARITH },
    [UF_BT]       = { "bt bts btr btc (ZF unaffected: compared)", FL_OF | FL_SF | FL_AF | FL_PF },
    [UF_BSF]      = { "bsf bsr", FL_CF | FL_OF | FL_SF | FL_AF | FL_PF },
    [UF_SHIFT1]   = { "shl shr sar shld shrd, masked count 1", FL_AF },
    [UF_SHIFTN]   = { "shl shr sar shld shrd, masked count > 1", FL_AF | FL_OF },
    [UF_SHIFTBIG] = { "shl shr, masked count >= operand width (CF too)", FL_AF | FL_OF | FL_CF },
    [UF_ROTN]     = { "rol ror rcl rcr, masked count > 1", FL_OF },
};

static const unsigned sizes[4] = { 1, 2, 4, 8 };

static uint32_t rnd(GRand *r, uint32_t n)
{
    return (uint32_t)g_rand_int_range(r, 0, (gint32)n);
}

static bool coin(GRand *r)
{
    return g_rand_boolean(r);
}

static uint64_t rnd64(GRand *r)
{
    return (uint64_t)g_rand_int(r) << 32 | g_rand_int(r);
}

static uint64_t mask_of(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Operand values that hit flag edges (carries, overflow, sign, zero). */
static uint64_t rnd_val(GRand *r)
{
    static const uint64_t edges[] = {
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
        0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF,
    };
    uint64_t v;
    unsigned k;

    switch (rnd(r, 5)) {
    case 0:
    case 1:
        return rnd64(r);
    case 2:
        return rnd(r, 70);
    default:
        v = edges[rnd(r, G_N_ELEMENTS(edges))] + rnd(r, 3) - 1;
        /* the bits above an 8/16/32-bit operand are random half the time */
        k = sizes[rnd(r, 3)];
        return coin(r) ? v : (rnd64(r) & ~mask_of(k)) | (v & mask_of(k));
    }
}

static void case_init(GRand *r, Case *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < 16; i++) {
        c->gpr[i] = rnd_val(r);
    }
    c->gpr[R_SP] = EMU_RSP;
    /* IF and bit 1 as the host has them; TF/AC/... clear; arithmetic and DF random */
    c->flags = 0x202 | (rnd64(r) & FL_CMP);
    c->code_reg = -1;
    c->pool_off = rnd(r, POOL_SIZE - SCRATCH_SIZE);
}

static void put(Case *c, uint8_t v)
{
    g_assert_cmpuint(c->len, <, sizeof(c->code));
    c->code[c->len++] = v;
}

static void put_imm(Case *c, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        put(c, (uint8_t)(v >> (8 * i)));
    }
}

static void put_opcode(Case *c, uint32_t opcode, unsigned n)
{
    for (unsigned i = n; i-- > 0;) {
        put(c, (uint8_t)(opcode >> (8 * i)));
    }
}

/* The immediate of an operation of `size` bytes: imm8, imm16 or imm32. */
static unsigned imm_size(unsigned size)
{
    return size == 8 ? 4 : size;
}

/* ---- encoding: ModRM instructions ---- */

/*
 * A register number for an operand of `size` bytes. Without REX only 0-7
 * exist and byte registers 4-7 are AH..BH; with REX byte 4-7 are SPL..DIL.
 * RSP/SPL are never operands; with rBX holding the scratch address, rBX
 * and BH are not either.
 */
static unsigned pick_reg(GRand *r, unsigned size, bool rex, bool avoid_rbx)
{
    for (;;) {
        unsigned n = rnd(r, rex ? 16 : 8);

        if (n == R_SP && (size != 1 || rex)) {
            continue;
        }
        if (avoid_rbx && (n == R_BX || (n == 7 && size == 1 && !rex))) {
            continue;
        }
        return n;
    }
}

/*
 * [rBX + disp] with rBX at the middle of the scratch buffer; disp within
 * +-1 KiB, so every access stays inside. `align` > 1: the address is
 * aligned to it (locked accesses must not split a cache line).
 */
static void emit_mem(GRand *r, Case *c, unsigned reg, unsigned align)
{
    int32_t disp = (int32_t)rnd(r, 0x800) - 0x400;
    unsigned form = rnd(r, 4);

    if (form == 1 || form == 3) {
        disp = (int8_t)disp;
    } else if (form == 0) {
        disp = 0;
    }
    disp &= ~(int32_t)(align - 1);
    c->gpr[R_BX] = SCRATCH_MID;
    c->ptr_regs |= 1u << R_BX;
    c->mem = true;
    c->mem_off = (unsigned)((int32_t)SCRATCH_MID + disp);
    switch (form) {
    case 0:                                   /* [rbx] */
        put(c, (uint8_t)(reg << 3 | R_BX));
        break;
    case 1:                                   /* [rbx + disp8] */
        put(c, (uint8_t)(0x40 | reg << 3 | R_BX));
        put(c, (uint8_t)disp);
        break;
    case 2:                                   /* [rbx + disp32] */
        put(c, (uint8_t)(0x80 | reg << 3 | R_BX));
        put_imm(c, (uint32_t)disp, 4);
        break;
    default:                                  /* SIB, no index: [rbx*1 + disp8] */
        put(c, (uint8_t)(0x40 | reg << 3 | 4));
        put(c, (uint8_t)(rnd(r, 4) << 6 | 4 << 3 | R_BX));
        put(c, (uint8_t)disp);
        break;
    }
}

enum {
    MF_MEM = 1,       /* the r/m operand may be memory */
    MF_LOCK = 2,      /* ... and then a lock prefix is allowed */
    MF_ALIGN = 4,     /* memory is implicitly locked (XCHG): align it */
};

typedef struct ModRM {
    unsigned opsize;               /* 66 for 2, REX.W for 8 */
    unsigned reg_size, rm_size;    /* operand sizes of ModRM.reg and r/m */
    int ext;                       /* opcode extension in ModRM.reg, or -1 */
    unsigned flags;                /* MF_* */
    unsigned reg, rm;              /* out: register numbers (rm: if !mem) */
    bool mem;                      /* out */
} ModRM;

/* [F0] [66] [REX] opcode ModRM [SIB] [disp]; the caller appends immediates. */
static void emit_modrm_insn(GRand *r, Case *c, ModRM *m, uint32_t opcode, unsigned opc_len)
{
    bool rex = m->opsize == 8 || coin(r);
    bool lock;
    uint8_t rexb;

    m->mem = (m->flags & MF_MEM) && coin(r);
    lock = m->mem && (m->flags & MF_LOCK) && coin(r);
    m->reg = m->ext >= 0 ? (unsigned)m->ext : pick_reg(r, m->reg_size, rex, m->mem);
    m->rm = m->mem ? R_BX : pick_reg(r, m->rm_size, rex, false);
    if (lock) {
        put(c, 0xF0);
    }
    if (m->mem && rnd(r, 8) == 0) {
        /* ES/CS/SS/DS overrides: ignored in 64-bit mode (FS/GS bases differ
         * between the host and the interpreter, so they are not used) */
        put(c, (uint8_t)(0x26 + 8 * rnd(r, 4)));
    }
    if (m->opsize == 2) {
        put(c, 0x66);
    }
    rexb = (uint8_t)(0x40 | (m->opsize == 8 ? 8 : 0) | (m->reg & 8 ? 4 : 0) |
                     (!m->mem && (m->rm & 8) ? 1 : 0));
    if (rex) {
        put(c, rexb);
    }
    c->rex = rex;
    put_opcode(c, opcode, opc_len);
    if (m->mem) {
        emit_mem(r, c, m->reg & 7, lock || (m->flags & MF_ALIGN) ? m->rm_size : 1);
    } else {
        put(c, (uint8_t)(0xC0 | (m->reg & 7) << 3 | (m->rm & 7)));
    }
}

/* [66] [REX] for instructions without ModRM (the REX sometimes redundant). */
static void emit_plain_prefix(GRand *r, Case *c, unsigned size, unsigned rexb)
{
    if (size == 2) {
        put(c, 0x66);
    }
    c->rex = size == 8 || rexb || coin(r);
    if (c->rex) {
        put(c, (uint8_t)(0x40 | (size == 8 ? 8 : 0) | rexb));
    }
}

/* [66] [REX] for an opcode+register instruction; returns the register. */
static unsigned emit_plain_reg(GRand *r, Case *c, unsigned size)
{
    bool rex = size == 8 || coin(r);
    unsigned n = pick_reg(r, size, rex, false);

    if (size == 2) {
        put(c, 0x66);
    }
    c->rex = rex;
    if (rex) {
        put(c, (uint8_t)(0x40 | (size == 8 ? 8 : 0) | n >> 3));
    }
    return n;
}

/* Sets the value of register operand `reg` (ModRM numbering, `rex` as encoded). */
static void set_reg(Case *c, unsigned reg, unsigned size, bool rex, uint64_t v)
{
    if (size == 1 && !rex && reg >= 4) {
        uint64_t *g = &c->gpr[reg - 4];

        *g = (*g & ~0xFF00ull) | (v & 0xFF) << 8;
    } else {
        c->gpr[reg] = (c->gpr[reg] & ~mask_of(size)) | (v & mask_of(size));
    }
}

static uint64_t get_reg(const Case *c, unsigned reg, unsigned size, bool rex)
{
    if (size == 1 && !rex && reg >= 4) {
        return (c->gpr[reg - 4] >> 8) & 0xFF;
    }
    return c->gpr[reg] & mask_of(size);
}

/* Scratch patch: the value patch_val (patch_len bytes) at the memory operand. */
static void patch_value(uint8_t *scratch, const Case *c)
{
    memcpy(scratch + c->mem_off, &c->patch_val, c->patch_len);
}

/* Sets the r/m operand's value (register or memory). */
static void set_rm(Case *c, const ModRM *m, unsigned size, uint64_t v)
{
    if (m->mem) {
        c->patch = patch_value;
        c->patch_val = v;
        c->patch_len = size;
    } else {
        set_reg(c, m->rm, size, c->rex, v);
    }
}

/* ---- generators, one per family; `i` enumerates the variants ---- */

/* add or adc sbb and sub xor cmp: r/m,r  r,r/m  acc,imm  80/81/83 /op */
static void gen_alu(GRand *r, Case *c, unsigned i)
{
    unsigned op = i % 8, size = sizes[(i / 8) % 4], w = size > 1;
    ModRM m = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1,
                .flags = MF_MEM | (op != 7 ? MF_LOCK : 0) };

    c->undef = op == 1 || op == 4 || op == 6 ? undef_flags[UF_LOGIC].mask : 0;
    switch (rnd(r, 5)) {
    case 0:
        emit_modrm_insn(r, c, &m, op * 8 + w, 1);
        break;
    case 1:
        m.flags = MF_MEM;
        emit_modrm_insn(r, c, &m, op * 8 + 2 + w, 1);
        break;
    case 2:
        emit_plain_prefix(r, c, size, 0);
        put(c, (uint8_t)(op * 8 + 4 + w));
        put_imm(c, rnd_val(r), imm_size(size));
        break;
    case 3:
        m.ext = (int)op;
        emit_modrm_insn(r, c, &m, 0x80 + w, 1);
        put_imm(c, rnd_val(r), imm_size(size));
        break;
    default:
        m.ext = (int)op;
        emit_modrm_insn(r, c, &m, size == 1 ? 0x80 : 0x83, 1);
        put_imm(c, rnd_val(r), 1);
        break;
    }
}

/* test r/m,r  test acc,imm  test r/m,imm */
static void gen_test(GRand *r, Case *c, unsigned i)
{
    unsigned size = sizes[i % 4], w = size > 1;
    ModRM m = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1, .flags = MF_MEM };

    c->undef = undef_flags[UF_LOGIC].mask;
    switch (rnd(r, 3)) {
    case 0:
        emit_modrm_insn(r, c, &m, 0x84 + w, 1);
        break;
    case 1:
        emit_plain_prefix(r, c, size, 0);
        put(c, (uint8_t)(0xA8 + w));
        put_imm(c, rnd_val(r), imm_size(size));
        break;
    default:
        m.ext = 0;
        emit_modrm_insn(r, c, &m, 0xF6 + w, 1);
        put_imm(c, rnd_val(r), imm_size(size));
        break;
    }
}

/* inc dec (FE/FF /0 /1), not neg (F6/F7 /2 /3) */
static void gen_unary(GRand *r, Case *c, unsigned i)
{
    static const struct { uint8_t opc; int ext; } ops[4] = {
        { 0xFE, 0 }, { 0xFE, 1 }, { 0xF6, 2 }, { 0xF6, 3 },
    };
    unsigned k = i % 4, size = sizes[(i / 4) % 4];
    ModRM m = { .opsize = size, .rm_size = size, .ext = ops[k].ext, .flags = MF_MEM | MF_LOCK };

    emit_modrm_insn(r, c, &m, ops[k].opc + (size > 1), 1);
}

static uint32_t shift_undef(unsigned op, unsigned count, unsigned size)
{
    unsigned n = count & (size == 8 ? 63 : 31);

    if (n == 0) {
        return undef_flags[UF_NONE].mask;
    }
    if (op < 4) {                               /* rol ror rcl rcr */
        return n == 1 ? 0 : undef_flags[UF_ROTN].mask;
    }
    if (op != 7 && n >= size * 8) {             /* shl shr by >= the width */
        return undef_flags[UF_SHIFTBIG].mask;
    }
    return undef_flags[n == 1 ? UF_SHIFT1 : UF_SHIFTN].mask;
}

/*
 * rol ror rcl rcr shl shr sar (group 2 /0-/5 and /7) by imm8, by CL and by
 * 1: every count 0..65 for every operation, size and form; one case in
 * eight uses a random count byte instead (the CPU masks it).
 */
static void gen_shift(GRand *r, Case *c, unsigned i)
{
    static const unsigned ops[7] = { 0, 1, 2, 3, 4, 5, 7 };
    unsigned count = i % 66, op = ops[(i / 66) % 7], size = sizes[(i / 462) % 4];
    unsigned form = (i / 1848) % 3, w = size > 1;
    ModRM m = { .opsize = size, .rm_size = size, .ext = (int)op, .flags = MF_MEM };

    if (rnd(r, 8) == 0) {
        count = rnd(r, 256);
    }
    if (form == 0) {
        emit_modrm_insn(r, c, &m, 0xC0 + w, 1);
        put(c, (uint8_t)count);
    } else if (form == 1) {
        emit_modrm_insn(r, c, &m, 0xD2 + w, 1);
        c->gpr[R_CX] = (c->gpr[R_CX] & ~0xFFull) | count;   /* also if CL is the operand */
    } else {
        emit_modrm_insn(r, c, &m, 0xD0 + w, 1);
        count = 1;
    }
    c->undef = shift_undef(op, count, size);
}

/*
 * shld shrd by imm8 and by CL, 16/32/64-bit, counts 0..65. A 16-bit
 * shift by a masked count above 16 has an undefined result (SDM "SHLD"):
 * those counts are reduced below 16.
 */
static void gen_shxd(GRand *r, Case *c, unsigned i)
{
    unsigned count = i % 66, size = sizes[1 + (i / 66) % 3], right = (i / 198) % 2;
    bool by_cl = (i / 396) % 2;
    ModRM m = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1, .flags = MF_MEM };
    unsigned n;

    if (size == 2 && (count & 31) > 16) {
        count &= 15;
    }
    emit_modrm_insn(r, c, &m, 0x0FA4 + (right ? 8 : 0) + by_cl, 2);
    if (by_cl) {
        c->gpr[R_CX] = (c->gpr[R_CX] & ~0xFFull) | count;
    } else {
        put(c, (uint8_t)count);
    }
    n = count & (size == 8 ? 63 : 31);
    c->undef = undef_flags[n == 0 ? UF_NONE : n == 1 ? UF_SHIFT1 : UF_SHIFTN].mask;
}

/* mul imul (F6/F7 /4 /5), imul r,r/m (0F AF), imul r,r/m,imm (69, 6B) */
static void gen_mul(GRand *r, Case *c, unsigned i)
{
    unsigned form = i % 3, size = sizes[(i / 3) % 4];
    ModRM m = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1, .flags = MF_MEM };
    bool imm8 = coin(r);

    c->undef = undef_flags[UF_MUL].mask;
    if (form == 0) {
        m.ext = 4 + (int)rnd(r, 2);
        emit_modrm_insn(r, c, &m, 0xF6 + (size > 1), 1);
        return;
    }
    if (size == 1) {                     /* no 8-bit forms: 16..64 instead */
        size = m.opsize = m.reg_size = m.rm_size = sizes[1 + rnd(r, 3)];
    }
    if (form == 1) {
        emit_modrm_insn(r, c, &m, 0x0FAF, 2);
        return;
    }
    emit_modrm_insn(r, c, &m, imm8 ? 0x6B : 0x69, 1);
    put_imm(c, rnd_val(r), imm8 ? 1 : imm_size(size));
}

static int64_t sext(uint64_t v, unsigned size)
{
    unsigned sh = 64 - size * 8;

    return (int64_t)(v << sh) >> sh;
}

/* Whether DIV/IDIV of `size` bytes faults (#DE) on these inputs: a zero
 * divisor or a quotient that does not fit (SDM "DIV", "IDIV"). */
static bool div_faults(bool sign, unsigned size, uint64_t ax, uint64_t dx, uint64_t d)
{
    unsigned bits = size * 8;
    uint64_t m = mask_of(size);
    uint64_t lo = size == 1 ? ax & 0xFF : ax & m, hi = size == 1 ? (ax >> 8) & 0xFF : dx & m;
    unsigned __int128 u;
    __int128 n, sd, q, max;

    if ((d & m) == 0) {
        return true;
    }
    if (!sign) {
        return hi >= (d & m);                /* the quotient needs more than `bits` */
    }
    u = (unsigned __int128)(__int128)sext(hi, size) << bits | lo;
    n = (__int128)u;
    sd = sext(d, size);
    max = ((__int128)1 << (bits - 1)) - 1;
    if (sd == -1 && u == (unsigned __int128)1 << 127) {
        return true;                         /* INT128_MIN / -1 */
    }
    q = n / sd;
    return q > max || q < -max - 1;
}

/* Divisor and dividend values (register or memory) for an encoded DIV. */
static bool div_values(GRand *r, Case *c, const ModRM *m, bool sign, unsigned size)
{
    bool rex = c->rex;

    for (unsigned tries = 0; tries < 64; tries++) {
        uint64_t d = rnd_val(r), ax, dx;

        c->gpr[R_AX] = rnd_val(r);
        c->gpr[R_DX] = rnd_val(r);
        if (coin(r)) {                       /* a dividend that fits: hi = sign of lo */
            uint64_t fill = sign && (sext(c->gpr[R_AX], size) < 0) ? ~0ull : 0;

            if (size == 1) {
                c->gpr[R_AX] = (c->gpr[R_AX] & ~0xFF00ull) | (fill & 0xFF00);
            } else {
                c->gpr[R_DX] = fill;
            }
        }
        set_rm(c, m, size, d);               /* may overwrite AX/DX (div rax) */
        d = m->mem ? d : get_reg(c, m->rm, size, rex);
        ax = c->gpr[R_AX];
        dx = c->gpr[R_DX];
        if (!div_faults(sign, size, ax, dx, d)) {
            return true;
        }
    }
    return false;
}

/* div idiv (F6/F7 /6 /7) on inputs that do not fault natively (a #DE would
 * kill the test); test_div_faults checks the interpreter's #DE. */
static void gen_div(GRand *r, Case *c, unsigned i)
{
    bool sign = i % 2;
    unsigned size = sizes[(i / 2) % 4];
    Case start = *c;
    ModRM m = { .opsize = size, .rm_size = size, .ext = 6 + sign, .flags = MF_MEM };

    do {
        *c = start;
        emit_modrm_insn(r, c, &m, 0xF6 + (size > 1), 1);
    } while (!div_values(r, c, &m, sign, size));
    c->undef = undef_flags[UF_DIV].mask;
}

/*
 * bt bts btr btc with a register bit offset (0F A3/AB/B3/BB) and with imm8
 * (0F BA /4-/7), on registers and memory. With memory and a register
 * offset the offset is a signed operand-size value that can address bits
 * far outside the operand, negative ones too: within +-32K bits here.
 */
static void gen_bt(GRand *r, Case *c, unsigned i)
{
    unsigned op = i % 4, size = sizes[1 + (i / 4) % 3];
    ModRM m = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1,
                .flags = MF_MEM | (op ? MF_LOCK : 0) };

    c->undef = undef_flags[UF_BT].mask;
    if ((i / 12) % 2) {
        m.ext = 4 + (int)op;
        emit_modrm_insn(r, c, &m, 0x0FBA, 2);
        put(c, (uint8_t)rnd(r, 256));
        return;
    }
    emit_modrm_insn(r, c, &m, 0x0FA3 + op * 8, 2);
    if (m.mem) {
        set_reg(c, m.reg, size, c->rex, (uint64_t)(int64_t)(int16_t)rnd(r, 65536));
    }
}

/* bsf bsr (0F BC/BD), a zero source one time in four: then the SDM leaves
 * the destination undefined (AMD documents it unchanged, which the
 * interpreter does), so it is not compared. */
static void gen_bsf(GRand *r, Case *c, unsigned i)
{
    unsigned rev = i % 2, size = sizes[1 + (i / 2) % 3];
    ModRM m = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1, .flags = MF_MEM };

    c->undef = undef_flags[UF_BSF].mask;
    emit_modrm_insn(r, c, &m, 0x0FBC + rev, 2);
    if (rnd(r, 4) == 0) {
        set_rm(c, &m, size, 0);
        c->skip_regs = (uint16_t)(1u << m.reg);
    }
}

/* popcnt (F3 0F B8): every flag defined (ZF from the source, the others clear). */
static void gen_popcnt(GRand *r, Case *c, unsigned i)
{
    unsigned size = sizes[1 + i % 3];
    ModRM m = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1, .flags = MF_MEM };

    put(c, 0xF3);
    emit_modrm_insn(r, c, &m, 0x0FB8, 2);
    if (rnd(r, 4) == 0) {
        set_rm(c, &m, size, 0);
    }
}

/* cmovcc (0F 40+cc) and setcc (0F 90+cc) for all 16 conditions; the flags
 * are random, so each condition is true or false about half the time. */
static void gen_cc(GRand *r, Case *c, unsigned i)
{
    unsigned cc = i % 16, size = sizes[1 + rnd(r, 3)];
    ModRM cmov = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1, .flags = MF_MEM };
    /* SETcc ignores ModRM.reg: any value must work */
    ModRM set = { .opsize = 1, .rm_size = 1, .ext = (int)rnd(r, 8), .flags = MF_MEM };

    if ((i / 16) % 2) {
        emit_modrm_insn(r, c, &cmov, 0x0F40 + cc, 2);
    } else {
        emit_modrm_insn(r, c, &set, 0x0F90 + cc, 2);
    }
}

/* Two ALU instructions: in a block the first one's flags are dead (the
 * generated code does not store them); the result must not show it. */
static void gen_alu_pair(GRand *r, Case *c, unsigned i)
{
    static const uint8_t regs[] = { R_AX, R_CX, R_DX, R_BP, R_SI, R_DI };   /* not rsp/rbx */

    for (unsigned k = 0; k < 2; k++) {
        unsigned op = (i >> (3 * k)) % 8, w = (i >> (6 + k)) & 1;
        unsigned reg = regs[rnd(r, 6)], rm = regs[rnd(r, 6)];

        if (w) {
            put(c, 0x48);                  /* 64-bit; else 32-bit */
        }
        put(c, (uint8_t)(op * 8 + 1));     /* op r/m, r */
        put(c, (uint8_t)(0xC0 | reg << 3 | rm));
        /* the flags compared are the second instruction's */
        c->undef = op == 1 || op == 4 || op == 6 ? undef_flags[UF_LOGIC].mask : 0;
    }
}

/*
 * add or sub, then (or after) one of the generated code's forms that write
 * the flags in part or not at all (inc, dec, not, bswap, bt: CF only, shifts
 * by cl: nothing for a count of 0) or all of them (neg): in a block the
 * flags the first one leaves must be kept exactly where the second one
 * does not write them, and may be dropped where it does.
 */
static void gen_flags_pair(GRand *r, Case *c, unsigned i)
{
    static const uint8_t regs[] = { R_AX, R_CX, R_DX, R_BP, R_SI, R_DI };   /* not rsp/rbx */
    static const uint32_t undef[8] = {
        [2] = FL_AF | FL_OF, [4] = FL_OF | FL_SF | FL_AF | FL_PF, [7] = FL_AF | FL_OF,
    };
    unsigned k = i % 8, w = (i / 16) & 1, reg = regs[rnd(r, 6)], rm = regs[rnd(r, 6)];
    bool form_first = (i / 8) & 1;

    for (unsigned n = 0; n < 2; n++) {
        if (n == (form_first ? 1u : 0u)) {        /* add|sub r/m, r */
            if (w) {
                put(c, 0x48);
            }
            put(c, coin(r) ? 0x01 : 0x29);
            put(c, (uint8_t)(0xC0 | reg << 3 | rm));
            continue;
        }
        if (w) {
            put(c, 0x48);
        }
        switch (k) {
        case 0: case 1: put(c, 0xFF); put(c, (uint8_t)(0xC0 | k << 3 | rm)); break;   /* inc dec */
        case 2: put(c, 0xD3); put(c, (uint8_t)(0xE0 | rm)); break;                    /* shl r, cl */
        case 3: put(c, 0xF7); put(c, (uint8_t)(0xD0 | rm)); break;                    /* not */
        case 4: put(c, 0x0F); put(c, 0xBA); put(c, (uint8_t)(0xE0 | rm));             /* bt r, imm8 */
                put(c, (uint8_t)rnd(r, 256)); break;
        case 5: put(c, 0x0F); put(c, (uint8_t)(0xC8 | rm)); break;                    /* bswap */
        case 6: put(c, 0xF7); put(c, (uint8_t)(0xD8 | rm)); break;                    /* neg */
        default: put(c, 0xD3); put(c, (uint8_t)(0xF8 | rm)); break;                   /* sar r, cl */
        }
    }
    /* the flags compared are the last instruction's, with the first one's under them */
    c->undef = form_first ? 0 : undef[k];
}

/* jcc over `inc eax`: eax says whether it was taken (short and near forms). */
static void gen_jcc(GRand *r, Case *c, unsigned i)
{
    unsigned cc = i % 16;

    (void)r;
    if ((i / 16) % 2) {
        put(c, 0x0F);
        put(c, (uint8_t)(0x80 + cc));
        put_imm(c, 2, 4);
    } else {
        put(c, (uint8_t)(0x70 + cc));
        put(c, 2);
    }
    put(c, 0xFF);                          /* inc eax */
    put(c, 0xC0);
}

/* ---- flagseq: sequences of flag producers, consumers and what lies between ---- */

/* The flags condition cc reads (adc/sbb: CF, as cc 2). */
static uint32_t seq_cc_reads(unsigned cc)
{
    static const uint32_t rd[8] = {
        FL_OF, FL_CF, FL_ZF, FL_CF | FL_ZF, FL_SF, FL_PF, FL_SF | FL_OF, FL_ZF | FL_SF | FL_OF,
    };

    return rd[(cc >> 1) & 7];
}

/* A condition that reads no flag in undef; -1 if there is none. */
static int seq_cc(GRand *r, uint32_t undef)
{
    unsigned cc = rnd(r, 16);

    for (unsigned k = 0; k < 16; k++, cc = (cc + 1) % 16) {
        if (!(seq_cc_reads(cc) & undef)) {
            return (int)cc;
        }
    }
    return -1;
}

/* Registers of a sequence: not rsp, not rbx (the scratch pointer). */
static unsigned seq_reg(GRand *r)
{
    static const uint8_t regs[] = { 0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

    return regs[rnd(r, G_N_ELEMENTS(regs))];
}

/* [66] REX (always: byte registers are then SPL..DIL, never AH..BH) opcode. */
static void seq_op(Case *c, unsigned size, unsigned reg, unsigned rm, uint32_t opcode, unsigned n)
{
    if (size == 2) {
        put(c, 0x66);
    }
    put(c, (uint8_t)(0x40 | (size == 8 ? 8 : 0) | (reg & 8 ? 4 : 0) | (rm & 8 ? 1 : 0)));
    put_opcode(c, opcode, n);
}

/* op reg, rm (register operands), opcode for bytes + 1 for the other sizes when `sized` */
static void seq_rr(Case *c, unsigned size, uint8_t op, bool sized, unsigned reg, unsigned rm)
{
    seq_op(c, size, reg, rm, (uint8_t)(op + (sized && size > 1)), 1);
    put(c, (uint8_t)(0xC0 | (reg & 7) << 3 | (rm & 7)));
}

/* op with a [rbx + disp8] operand (disp within the scratch buffer). */
static void seq_mem(GRand *r, Case *c, unsigned size, uint8_t op, unsigned reg)
{
    seq_op(c, size, reg, 0, (uint8_t)(op + (size > 1)), 1);
    put(c, (uint8_t)(0x40 | (reg & 7) << 3 | R_BX));
    put(c, (uint8_t)(int8_t)((int)rnd(r, 32) * 8 - 128));
    c->mem = true;
}

/*
 * One instruction of a sequence: what undef (the flags whose value the
 * SDM leaves open at this point) becomes. A consumer reads no open flag.
 */
static uint32_t seq_insn(GRand *r, Case *c, uint32_t undef, bool mem)
{
    unsigned size = sizes[rnd(r, 4)], a = seq_reg(r), b = seq_reg(r), op = rnd(r, 8);
    int cc = seq_cc(r, undef);

    switch (rnd(r, mem ? 19 : 12)) {
    case 0: case 1:                                   /* ALU r, r: adc/sbb chains too */
        if ((op == 2 || op == 3) && (undef & FL_CF)) {
            op = op == 2 ? 0 : 5;
        }
        seq_rr(c, size, (uint8_t)(op * 8), true, b, a);
        return op == 1 || op == 4 || op == 6 ? FL_AF : 0;
    case 2:                                           /* ALU r, imm8 */
        if ((op == 2 || op == 3) && (undef & FL_CF)) {
            op = op == 2 ? 0 : 5;
        }
        seq_op(c, size, 0, a, size == 1 ? 0x80 : 0x83, 1);
        put(c, (uint8_t)(0xC0 | op << 3 | (a & 7)));
        put(c, (uint8_t)rnd_val(r));
        return op == 1 || op == 4 || op == 6 ? FL_AF : 0;
    case 3:                                           /* inc dec neg not */
        seq_rr(c, size, size == 1 ? 0xFE : 0xFF, false, op & 1, a);
        if (op & 2) {
            c->code[c->len - 2] = size == 1 ? 0xF6 : 0xF7;
            c->code[c->len - 1] = (uint8_t)(0xC0 | (op & 1 ? 2 : 3) << 3 | (a & 7));
            return op & 1 ? undef : 0;                /* not: nothing; neg: all */
        }
        return undef & FL_CF;
    case 4:                                           /* setcc r8, cmovcc r, r */
        if (cc < 0) {
            return undef;
        }
        if (op & 1) {
            seq_op(c, 1, 0, a, 0x0F90u + (unsigned)cc, 2);
            put(c, (uint8_t)(0xC0 | (a & 7)));
        } else {
            seq_op(c, size < 4 ? 4 : size, b, a, 0x0F40u + (unsigned)cc, 2);
            put(c, (uint8_t)(0xC0 | (b & 7) << 3 | (a & 7)));
        }
        return undef;
    case 5: {                                         /* shl shr sar rol ror r, imm8 */
        static const unsigned ext[5] = { 4, 5, 7, 0, 1 };
        unsigned k = rnd(r, 5), n = 1 + rnd(r, size == 1 ? 7 : 15);

        seq_op(c, size, 0, a, size == 1 ? 0xC0 : 0xC1, 1);
        put(c, (uint8_t)(0xC0 | ext[k] << 3 | (a & 7)));
        put(c, (uint8_t)n);
        if (k >= 3) {                                 /* CF, OF; OF open for n > 1 */
            return (undef & ~(FL_CF | FL_OF)) | (n > 1 ? FL_OF : 0);
        }
        return shift_undef(ext[k], n, size);
    }
    case 6:                                           /* test r, r; cmp r, r */
        seq_rr(c, size, op & 1 ? 0x38 : 0x84, true, b, a);
        return op & 1 ? 0 : FL_AF;
    case 7:                                           /* mov r, r; lea r, [r + d8] */
        if (op & 1 || size < 4 || (a & 7) == 4) {
            seq_rr(c, size, 0x88, true, b, a);
        } else {
            seq_op(c, size, b, a, 0x8D, 1);
            put(c, (uint8_t)(0x40 | (b & 7) << 3 | (a & 7)));
            put(c, (uint8_t)rnd(r, 256));
        }
        return undef;
    case 8:                                           /* mul r; imul r, r */
        if (size < 4) {
            return undef;
        }
        if (op & 1) {
            seq_rr(c, size, 0xF7, false, 4, a);
        } else {
            seq_op(c, size, b, a, 0x0FAF, 2);
            put(c, (uint8_t)(0xC0 | (b & 7) << 3 | (a & 7)));
        }
        return undef_flags[UF_MUL].mask;
    case 9:                                           /* bt r, imm8 (CF; ZF kept) */
        if (size < 2) {
            size = 4;
        }
        seq_op(c, size, 0, a, 0x0FBA, 2);
        put(c, (uint8_t)(0xE0 | (a & 7)));
        put(c, (uint8_t)rnd(r, 256));
        return (undef & ~FL_CF) | undef_flags[UF_BT].mask;
    case 10: {                                        /* mov ecx, n; shl|shr|sar r, cl */
        static const unsigned ext[3] = { 4, 5, 7 };
        unsigned k = rnd(r, 3), n = rnd(r, 4) == 0 ? 0 : 1 + rnd(r, 7);

        put(c, 0xB9);
        put_imm(c, n, 4);
        seq_op(c, size, 0, a, size == 1 ? 0xD2 : 0xD3, 1);
        put(c, (uint8_t)(0xC0 | ext[k] << 3 | (a & 7)));
        return n ? shift_undef(ext[k], n, size) : undef;
    }
    case 11:                                          /* adc|sbb r, r (a chain) */
        if (undef & FL_CF) {
            return undef;
        }
        seq_rr(c, size, op & 1 ? 0x10 : 0x18, true, b, a);
        return 0;
    case 12:                                          /* mov r, [m]; mov [m], r */
        seq_mem(r, c, size, op & 1 ? 0x88 : 0x8A, a);
        return undef;
    case 13:                                          /* add|cmp|adc|sub r, [m] */
        op &= 3;
        if (op == 2 && (undef & FL_CF)) {
            op = 0;
        }
        seq_mem(r, c, size, (uint8_t)(op == 0 ? 0x02 : op == 1 ? 0x3A : op == 2 ? 0x12 : 0x2A), a);
        return 0;
    case 14:                                          /* add|or [m], r */
        seq_mem(r, c, size, op & 1 ? 0x08 : 0x00, a);
        return op & 1 ? FL_AF : 0;
    case 15:                                          /* inc|dec [m] */
        seq_mem(r, c, size, 0xFE, op & 1);
        return undef & FL_CF;
    case 16:                                          /* cmp [m], imm8; test [m], imm */
        seq_mem(r, c, size, op & 1 ? 0x80 : 0xF6, op & 1 ? 7 : 0);
        if (op & 1 && size > 1) {
            c->code[c->len - 3] = 0x83;               /* cmp r/m, imm8 (sign-extended) */
        }
        put_imm(c, rnd_val(r), op & 1 ? 1 : imm_size(size));
        return op & 1 ? 0 : FL_AF;
    case 17:                                          /* movzx r32, byte|word [m] */
        seq_op(c, 4, a, 0, size == 1 ? 0x0FB6u : 0x0FB7u, 2);
        put(c, (uint8_t)(0x40 | (a & 7) << 3 | R_BX));
        put(c, (uint8_t)(int8_t)((int)rnd(r, 32) * 8 - 128));
        c->mem = true;
        return undef;
    default:                                          /* push a; pop b (rsp balanced) */
        seq_op(c, 4, 0, a, (uint8_t)(0x50 | (a & 7)), 1);
        seq_op(c, 4, 0, b, (uint8_t)(0x58 | (b & 7)), 1);
        return undef;
    }
}

/*
 * Random sequences of flag producers (full and partial: inc/dec keep CF,
 * rotates write CF/OF, bt CF), consumers (setcc, cmovcc, adc/sbb) and
 * instructions between (mov, lea, not; half the sequences also memory
 * forms, whose TLB probes change the host's flags, and half of those with
 * the TLB flushed first, so the first access to each page takes the
 * handler), most ending in a jcc over `inc eax`: the generated code keeps
 * the flags in the host's between instructions (or spilled around memory
 * forms) and must store them wherever they leave it.
 */
static void gen_flag_seq(GRand *r, Case *c, unsigned i)
{
    uint32_t undef = 0;
    bool mem = i & 1;
    int cc;

    c->gpr[R_BX] = SCRATCH_MID;
    c->ptr_regs |= 1u << R_BX;
    c->tlb_cold = (i / 8) & 1;                        /* rbx-128 and rbx+120 are two pages */
    while (c->len < 40) {
        undef = seq_insn(r, c, undef, mem);
    }
    if ((i / 2) % 4 != 0 && (cc = seq_cc(r, undef)) >= 0) {
        put(c, (uint8_t)(0x70 + cc));                 /* jcc +2 */
        put(c, 2);
        put(c, 0xFF);                                 /* inc eax */
        put(c, 0xC0);
    }
    c->undef = undef;
}

/* cmpxchg: half the time the accumulator equals the destination. */
static void cmpxchg_match(GRand *r, Case *c, const ModRM *m, unsigned size)
{
    bool rex = c->rex;

    if (coin(r)) {
        return;
    }
    if (m->mem) {
        set_rm(c, m, size, c->gpr[R_AX]);
    } else {
        set_reg(c, R_AX, size, rex, get_reg(c, m->rm, size, rex));
    }
}

/* xchg r/m,r (86/87, memory implicitly locked), xchg rAX,r (90+r),
 * xadd (0F C0/C1), cmpxchg (0F B0/B1), with and without lock */
static void gen_xchg(GRand *r, Case *c, unsigned i)
{
    unsigned kind = i % 4, size = sizes[(i / 4) % 4], w = size > 1, n;
    ModRM m = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1,
                .flags = MF_MEM | MF_LOCK };

    switch (kind) {
    case 0:
        m.flags = MF_MEM | MF_ALIGN | MF_LOCK;
        emit_modrm_insn(r, c, &m, 0x86 + w, 1);
        break;
    case 1:                              /* 90 itself is NOP, 41 90 xchg r8 */
        n = emit_plain_reg(r, c, size == 1 ? 4 : size);
        put(c, (uint8_t)(0x90 + (n & 7)));
        break;
    case 2:
        emit_modrm_insn(r, c, &m, 0x0FC0 + w, 2);
        break;
    default:
        emit_modrm_insn(r, c, &m, 0x0FB0 + w, 2);
        cmpxchg_match(r, c, &m, size);
        break;
    }
}

/* bswap r32/r64 (0F C8+r); the 16-bit form's result is undefined */
static void gen_bswap(GRand *r, Case *c, unsigned i)
{
    unsigned n = emit_plain_reg(r, c, i % 2 ? 8 : 4);

    put(c, 0x0F);
    put(c, (uint8_t)(0xC8 + (n & 7)));
}

/* the hints the interpreter runs as nops: prefetch*, pause, lfence, sfence, endbr64 */
static void gen_hint(GRand *r, Case *c, unsigned i)
{
    static const uint8_t plain[4][4] = {
        { 0xF3, 0x90 }, { 0x0F, 0xAE, 0xE8 }, { 0x0F, 0xAE, 0xF8 }, { 0xF3, 0x0F, 0x1E, 0xFA },
    };
    static const unsigned plain_len[4] = { 2, 3, 3, 4 };
    unsigned k = i % 9;

    if (k >= 5) {
        for (unsigned j = 0; j < plain_len[k - 5]; j++) {
            put(c, plain[k - 5][j]);
        }
        return;
    }
    put(c, 0x0F);                  /* 0F 18 /0../3 prefetchnta..t2 [mem], 0F 0D /1 prefetchw */
    put(c, k == 4 ? 0x0D : 0x18);
    emit_mem(r, c, k == 4 ? 1 : k, 1);
}

/* movzx movsx (0F B6/B7/BE/BF), movsxd (63, also without REX.W and with 66) */
static void gen_movx(GRand *r, Case *c, unsigned i)
{
    unsigned k = i % 5, dst = sizes[1 + rnd(r, 3)];
    ModRM m = { .opsize = dst, .reg_size = dst, .ext = -1, .flags = MF_MEM };

    if (k < 4) {
        /* 0F B7/BF: a 16-bit source needs a 32/64-bit destination */
        m.rm_size = k % 2 ? 2 : 1;
        if (m.rm_size == 2 && dst == 2) {
            m.opsize = m.reg_size = dst = 4;
        }
        emit_modrm_insn(r, c, &m, (k < 2 ? 0x0FB6 : 0x0FBE) + k % 2, 2);
        return;
    }
    m.rm_size = dst == 8 ? 4 : dst;
    emit_modrm_insn(r, c, &m, 0x63, 1);
}

/* mov r/m,r  r,r/m (88-8B), mov r/m,imm (C6/C7 /0), mov r,imm (B0+r, B8+r; imm64) */
static void gen_mov(GRand *r, Case *c, unsigned i)
{
    unsigned size = sizes[(i / 4) % 4], w = size > 1, n;
    ModRM m = { .opsize = size, .reg_size = size, .rm_size = size, .ext = -1, .flags = MF_MEM };

    switch (i % 4) {
    case 0:
    case 1:
        emit_modrm_insn(r, c, &m, 0x88 + (i % 4) * 2 + w, 1);
        break;
    case 2:
        m.ext = 0;
        emit_modrm_insn(r, c, &m, 0xC6 + w, 1);
        put_imm(c, rnd_val(r), imm_size(size));
        break;
    default:
        n = emit_plain_reg(r, c, size);
        put(c, (uint8_t)((w ? 0xB8 : 0xB0) + (n & 7)));
        put_imm(c, rnd_val(r), size);
        break;
    }
}

/*
 * lea with every addressing form: mod 00/01/10, every r/m, SIB with every
 * scale/index/base (including no index, and no base with disp32), RIP-
 * relative, REX.X/REX.B, 32-bit addressing (67) and 16/32/64-bit
 * destinations. No memory is accessed, so all registers are random; only
 * rSP is never a base (natively it is the trampoline's stack).
 */
static void gen_lea(GRand *r, Case *c, unsigned i)
{
    unsigned size = sizes[1 + i % 3], mod = rnd(r, 3), rm = rnd(r, 8), dst, sib = 0;
    bool a32 = rnd(r, 3) == 0, rexx = coin(r), rexb = coin(r);
    uint8_t rex;

    do {
        dst = rnd(r, 16);
    } while (dst == R_SP);
    if (rm == 4) {
        sib = rnd(r, 256);
        if ((sib & 7) == R_SP && !rexb) {
            rexb = true;                     /* base r12 rather than rsp */
        }
    }
    if (a32) {
        put(c, 0x67);
    }
    if (size == 2) {
        put(c, 0x66);
    }
    rex = (uint8_t)(0x40 | (size == 8 ? 8 : 0) | (dst & 8 ? 4 : 0) | (rexx ? 2 : 0) | (rexb ? 1 : 0));
    if (rex != 0x40 || coin(r)) {
        put(c, rex);
    }
    put(c, 0x8D);
    put(c, (uint8_t)(mod << 6 | (dst & 7) << 3 | rm));
    if (rm == 4) {
        put(c, (uint8_t)sib);
    }
    if (mod == 1) {
        put(c, (uint8_t)rnd(r, 256));
    } else if (mod == 2 || (mod == 0 && (rm == 5 || (rm == 4 && (sib & 7) == 5)))) {
        put_imm(c, rnd_val(r), 4);
    }
    if (mod == 0 && rm == 5) {               /* RIP-relative: relative to the code */
        c->code_reg = (int)dst;
        c->code_mask = mask_of(MIN(size, a32 ? 4u : 8u));
    }
}

/* cbw cwde cdqe (98), cwd cdq cqo (99), lahf (9F), sahf (9E) */
static void gen_convert(GRand *r, Case *c, unsigned i)
{
    unsigned size = sizes[1 + i % 3];

    if ((i / 3) % 3 == 2) {
        put(c, (uint8_t)(0x9E + rnd(r, 2)));
        return;
    }
    emit_plain_prefix(r, c, size, 0);
    put(c, (uint8_t)(0x98 + (i / 3) % 3));
}

/* cmps: the destination is a copy of the source with maybe one byte changed */
static void patch_copy(uint8_t *scratch, const Case *c)
{
    memmove(scratch + c->patch_off2, scratch + c->mem_off, c->patch_len);
    if (c->patch_val < c->patch_len) {
        scratch[c->patch_off2 + c->patch_val] ^= 0x5A;
    }
}

/* scas: the destination repeats the accumulator, maybe with one byte changed */
static void patch_fill(uint8_t *scratch, const Case *c)
{
    for (unsigned k = 0; k + c->patch_elem <= c->patch_len; k += c->patch_elem) {
        memcpy(scratch + c->patch_off2 + k, &c->gpr[R_AX], c->patch_elem);
    }
    if (c->patch_val < c->patch_len) {
        scratch[c->patch_off2 + c->patch_val] ^= 0x5A;
    }
}

/* Points rSI/rDI somewhere in the scratch buffer with room for 8 elements
 * either way (DF is random). */
static unsigned string_ptr(GRand *r, Case *c, int reg)
{
    unsigned off = 128 + rnd(r, SCRATCH_SIZE - 256);

    c->gpr[reg] = off;
    c->ptr_regs |= 1u << reg;
    return off;
}

/* Makes the compared data of repe/repne cmps and scas match for a while. */
static void string_match(GRand *r, Case *c, unsigned src, unsigned dst, bool scas,
                         unsigned size)
{
    if (coin(r)) {
        return;
    }
    c->patch = scas ? patch_fill : patch_copy;
    c->mem_off = src - 64;
    c->patch_off2 = dst - 64;
    c->patch_len = 128;
    c->patch_val = 64 + rnd(r, 80);          /* the changed byte, or none */
    c->patch_elem = size;
}

/*
 * movs stos lods cmps scas, byte..qword, without prefix, with rep (F3) and
 * for cmps/scas with repe (F3) and repne (F2); DF random; counts 0..8; a
 * null segment override (ignored in 64-bit mode) on the source sometimes.
 */
static void gen_string(GRand *r, Case *c, unsigned i)
{
    static const uint8_t ops[5] = { 0xA4, 0xAA, 0xAC, 0xA6, 0xAE };
    unsigned k = i % 5, size = sizes[(i / 5) % 4], rep = rnd(r, 3), src = 0, dst = 0;
    bool cmp = k >= 3;

    c->mem = true;
    c->gpr[R_CX] = rnd(r, 9);
    if (k != 1 && k != 4) {
        src = string_ptr(r, c, R_SI);
    }
    if (k != 2) {
        dst = string_ptr(r, c, R_DI);
    }
    if (rep) {
        put(c, rep == 2 && cmp ? 0xF2 : 0xF3);
    }
    if (src && rnd(r, 4) == 0) {
        put(c, (uint8_t)(0x26 + 8 * rnd(r, 4)));
    }
    emit_plain_prefix(r, c, size, 0);
    put(c, (uint8_t)(ops[k] + (size > 1)));
    if (cmp && rep) {
        string_match(r, c, k == 3 ? src : dst, dst, k == 4, size);
    }
}

/*
 * rep movs / rep stos over runs of up to 4 KiB, across pages of the scratch,
 * either DF; movs with the destination often just above or below the source
 * (an overlap: copying forward element by element replicates the pattern).
 */
static void gen_string_long(GRand *r, Case *c, unsigned i)
{
    unsigned size = sizes[i % 4], movs = (i / 4) % 2;
    unsigned src = 4096 + 128 + rnd(r, SCRATCH_SIZE - 8192 - 256), dst;

    c->mem = true;
    c->gpr[R_CX] = rnd(r, 4096 / size + 1);
    dst = coin(r) ? src + rnd(r, 33) - 16 : 4096 + 128 + rnd(r, SCRATCH_SIZE - 8192 - 256);
    c->gpr[R_DI] = dst;
    c->ptr_regs |= 1u << R_DI;
    if (movs) {
        c->gpr[R_SI] = src;
        c->ptr_regs |= 1u << R_SI;
    }
    put(c, 0xF3);
    emit_plain_prefix(r, c, size, 0);
    put(c, (uint8_t)((movs ? 0xA4 : 0xAA) + (size > 1)));
}

/* ---- running a case ---- */

typedef struct Env {
    GuestRam ram;
    EmuCpu *cpu;
    uint8_t *code;                 /* host page: the instruction, then ret */
    uint8_t *scratch;              /* host scratch buffer */
    uint8_t *pool;                 /* random bytes the scratch starts from */
    ZydisFormatter fmt;
    uint64_t code_end;             /* guest address after the current case's code */
} Env;

static Env env;

typedef struct Result {
    uint64_t gpr[16];              /* ptr_regs / code_reg made relative */
    uint64_t flags;
    int exc;                       /* interpreter: exception vector, -1 none */
    uint64_t rip;                  /* interpreter: rip afterwards */
    const uint8_t *mem;            /* scratch afterwards */
} Result;

static void fill_scratch(uint8_t *scratch, const Case *c)
{
    memcpy(scratch, env.pool + c->pool_off, SCRATCH_SIZE);
    if (c->patch) {
        c->patch(scratch, c);
    }
}

/* Register results as offsets from where they pointed (scratch or code). */
static void relativize(const Case *c, Result *res, uint64_t scratch_base, uint64_t code_base)
{
    for (int i = 0; i < 16; i++) {
        if (c->ptr_regs & (1u << i)) {
            res->gpr[i] -= scratch_base;
        }
    }
    if (c->code_reg >= 0) {
        uint64_t v = res->gpr[c->code_reg], m = c->code_mask;

        res->gpr[c->code_reg] = ((v - code_base) & m) | (v & ~m);
    }
}

static void run_native(const Case *c, Result *res)
{
    NativeRegs s;

    for (int i = 0; i < 16; i++) {
        s.gpr[i] = c->gpr[i] + (c->ptr_regs & (1u << i) ? (uint64_t)(uintptr_t)env.scratch : 0);
    }
    s.rflags = c->flags;
    s.code = (uint64_t)(uintptr_t)env.code;
    memcpy(env.code, c->code, c->len);
    env.code[c->len] = 0xC3;                 /* ret */
    if (c->mem) {
        fill_scratch(env.scratch, c);
    }
    emu_test_native_run(&s);
    memcpy(res->gpr, s.gpr, sizeof(res->gpr));
    res->flags = s.rflags;
    res->exc = -1;
    res->rip = CODE_GPA + c->len;
    res->mem = env.scratch;
    relativize(c, res, (uint64_t)(uintptr_t)env.scratch, (uint64_t)(uintptr_t)env.code);
}

/* emu_step until the end of the case's code (one instruction, or a jcc
 * and what follows); the vector of the exception raised, or -1. */
static int step_catch(EmuCpu *cpu)
{
    cpu->exc_vector = -1;
    if (setjmp(cpu->jmp) == 0) {
        uint64_t start = cpu->rip;

        emu_step(cpu);
        for (int n = 0; n < 40 && cpu->rip > start && cpu->rip < env.code_end; n++) {
            emu_step(cpu);
        }
        return -1;
    }
    return cpu->exc_vector;
}

/* The instruction then hlt, run as a block (generated host code where the
 * instruction has a native form); the vector raised, or -1. */
static int block_catch(EmuCpu *cpu, const Case *c)
{
    static const uint8_t hlt = 0xF4;

    g_assert_true(guest_ram_write(&env.ram, CODE_GPA + c->len, &hlt, 1));
    cpu->exc_vector = -1;
    cpu->halted = false;
    if (setjmp(cpu->jmp) == 0) {
        /* a branch ends its block: go on (boundedly) until the hlt */
        for (int n = 0; n < 8 && !cpu->halted; n++) {
            emu_run_block(cpu);
        }
        if (cpu->halted) {
            cpu->rip--;                      /* report the address after the instruction */
        }
        return -1;
    }
    return cpu->exc_vector;
}

/* by_block: through emu_run_block (decoded block, generated code) instead of emu_step. */
static void run_emu(const Case *c, Result *res, bool by_block)
{
    EmuCpu *cpu = env.cpu;
    uint8_t *scratch = guest_ram_ptr(&env.ram, SCRATCH_GPA, SCRATCH_SIZE);

    for (int i = 0; i < 16; i++) {
        cpu->gpr[i] = c->gpr[i] + (c->ptr_regs & (1u << i) ? SCRATCH_GPA : 0);
    }
    cpu->rflags = c->flags;
    cpu->rip = CODE_GPA;
    g_assert_true(guest_ram_write(&env.ram, CODE_GPA, c->code, c->len));
    if (c->mem) {
        fill_scratch(scratch, c);
    }
    env.code_end = CODE_GPA + c->len;
    if (c->tlb_cold) {
        emu_tlb_flush(cpu);
    }
    res->exc = by_block ? block_catch(cpu, c) : step_catch(cpu);
    memcpy(res->gpr, cpu->gpr, sizeof(res->gpr));
    res->flags = cpu->rflags;
    res->rip = cpu->rip;
    res->mem = scratch;
    relativize(c, res, SCRATCH_GPA, CODE_GPA);
}

/* ---- comparing and reporting ---- */

static const char *const reg_names[16] = {
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

/* Appends the differences between the native and the interpreter's results. */
static void diff_results(const Case *c, const Result *n, const Result *e, GString *why)
{
    uint64_t fm = FL_CMP & ~(uint64_t)c->undef;

    if (e->exc >= 0 || e->rip != n->rip) {
        g_string_append_printf(why, "\n    emu: exception %d, rip 0x%" G_GINT64_MODIFIER
                               "x (expected none, 0x%" G_GINT64_MODIFIER "x)", e->exc,
                               (guint64)e->rip, (guint64)n->rip);
        return;
    }
    for (int i = 0; i < 16; i++) {
        bool bad = i == R_SP ? e->gpr[i] != EMU_RSP
                   : !(c->skip_regs & (1u << i)) && n->gpr[i] != e->gpr[i];

        if (bad) {
            g_string_append_printf(why, "\n    %s%s: in 0x%016" G_GINT64_MODIFIER "x native 0x%016"
                                   G_GINT64_MODIFIER "x emu 0x%016" G_GINT64_MODIFIER "x",
                                   reg_names[i], c->ptr_regs & (1u << i) ? " (scratch offset)" : "",
                                   (guint64)c->gpr[i], (guint64)n->gpr[i], (guint64)e->gpr[i]);
        }
    }
    if ((n->flags ^ e->flags) & fm) {
        g_string_append_printf(why, "\n    flags: in 0x%03" G_GINT64_MODIFIER "x native 0x%03"
                               G_GINT64_MODIFIER "x emu 0x%03" G_GINT64_MODIFIER "x (compared 0x%03"
                               G_GINT64_MODIFIER "x)", (guint64)(c->flags & FL_CMP),
                               (guint64)(n->flags & FL_CMP), (guint64)(e->flags & FL_CMP),
                               (guint64)fm);
    }
    if (c->mem && memcmp(n->mem, e->mem, SCRATCH_SIZE)) {
        unsigned o = 0;

        while (n->mem[o] == e->mem[o]) {
            o++;
        }
        g_string_append_printf(why, "\n    scratch[0x%x] (rbx-relative %d): native %02x emu %02x", o,
                               (int)o - (int)SCRATCH_MID, n->mem[o], e->mem[o]);
    }
}

static void describe_case(const Case *c, GString *s)
{
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
    char text[128] = "(undecodable)";

    for (unsigned i = 0; i < c->len; i++) {
        g_string_append_printf(s, "%s%02x", i ? " " : "", c->code[i]);
    }
    if (ZYAN_SUCCESS(ZydisDecoderDecodeFull((const ZydisDecoder *)env.cpu->decoders + MODE_64,
                                            c->code, c->len, &zi, zo))) {
        ZydisFormatterFormatInstruction(&env.fmt, &zi, zo, zi.operand_count_visible, text,
                                        sizeof(text), 0, NULL);
    }
    g_string_append_printf(s, "  [%s]  flags in 0x%03" G_GINT64_MODIFIER "x\n    in:", text,
                           (guint64)(c->flags & FL_CMP));
    for (int i = 0; i < 16; i++) {
        g_string_append_printf(s, "%s %s=%" G_GINT64_MODIFIER "x", i == 8 ? "\n       " : "",
                               reg_names[i], (guint64)c->gpr[i]);
    }
}

/* Runs one case both ways; false (and a report) when they differ. */
static bool check_case(const Case *c, const char *family, unsigned *reported)
{
    Result n, e;
    g_autoptr(GString) why = g_string_new(NULL);

    run_native(c, &n);
    /* both ways the interpreter runs code: one instruction, and a block */
    for (int by_block = 0; by_block < 2 && !why->len; by_block++) {
        run_emu(c, &e, by_block);
        diff_results(c, &n, &e, why);
        if (why->len) {
            g_string_prepend(why, by_block ? " [block]" : " [step]");
        }
    }
    if (!why->len) {
        return true;
    }
    if ((*reported)++ < MAX_REPORTS || g_test_verbose()) {
        g_autoptr(GString) s = g_string_new(NULL);

        describe_case(c, s);
        g_test_message("%s: MISMATCH %s%s", family, s->str, why->str);
    }
    return false;
}

/* ---- the families ---- */

typedef void GenFn(GRand *r, Case *c, unsigned i);

typedef struct Family {
    const char *name;
    GenFn *gen;
    unsigned count;
} Family;

/* Case counts are multiples of each family's enumeration period; with
 * CASE_SCALE 16 the default run has 676,448 cases (about 2 s, 6 s under
 * ASan+UBSan on 2 cores). */
#define CASE_SCALE 16

static const Family families[] = {
    { "alu", gen_alu, 6000 * CASE_SCALE },      /* add or adc sbb and sub xor cmp */
    { "test", gen_test, 1000 * CASE_SCALE },
    { "unary", gen_unary, 1600 * CASE_SCALE },  /* inc dec not neg */
    /* 7 ops x 66 counts x 4 sizes x 3 forms = 5544 */
    { "shift", gen_shift, 5544 * CASE_SCALE },
    /* 66 counts x 3 sizes x 2 ops x 2 forms = 792 */
    { "shxd", gen_shxd, 792 * 2 * CASE_SCALE }, /* shld shrd */
    { "mul", gen_mul, 2400 * CASE_SCALE },      /* mul imul with 1, 2 and 3 operands */
    { "div", gen_div, 2000 * CASE_SCALE },      /* div idiv */
    { "bt", gen_bt, 2400 * CASE_SCALE },        /* bt bts btr btc */
    { "bsf", gen_bsf, 1200 * CASE_SCALE },      /* bsf bsr */
    { "popcnt", gen_popcnt, 600 * CASE_SCALE },
    { "cc", gen_cc, 2400 * CASE_SCALE },        /* cmovcc setcc */
    { "jcc", gen_jcc, 320 * CASE_SCALE },       /* jcc rel8 and rel32 */
    { "alu2", gen_alu_pair, 256 * CASE_SCALE }, /* two ALU instructions in one block */
    /* add|sub and inc dec not bswap bt shl/sar-by-cl neg, both orders, 32/64-bit */
    { "flags2", gen_flags_pair, 256 * CASE_SCALE },
    /* producer/consumer sequences with and without memory forms, most ending in a jcc */
    { "flagseq", gen_flag_seq, 256 * CASE_SCALE },
    { "xchg", gen_xchg, 2400 * CASE_SCALE },    /* xchg xadd cmpxchg */
    { "bswap", gen_bswap, 500 * CASE_SCALE },
    { "movx", gen_movx, 1500 * CASE_SCALE },    /* movzx movsx movsxd */
    { "mov", gen_mov, 1000 * CASE_SCALE },
    { "hint", gen_hint, 18 * CASE_SCALE },      /* prefetch pause lfence sfence endbr64 */
    { "lea", gen_lea, 4500 * CASE_SCALE },
    { "convert", gen_convert, 1800 * CASE_SCALE }, /* cbw..cqo, lahf sahf */
    { "string", gen_string, 3000 * CASE_SCALE }, /* movs stos lods cmps scas */
    { "string-long", gen_string_long, 400 * CASE_SCALE }, /* rep movs/stos, runs of pages */
};

static void test_family(gconstpointer data)
{
    const Family *f = data;
    g_autoptr(GRand) r = g_rand_new_with_seed(0x5eed0000u ^ g_str_hash(f->name));
    unsigned bad = 0, reported = 0;

    if (!env.code) {
        g_test_skip("no executable mapping for the native side (W^X policy?)");
        return;
    }
    for (unsigned i = 0; i < f->count; i++) {
        Case c;

        case_init(r, &c);
        f->gen(r, &c, i);
        bad += !check_case(&c, f->name, &reported);
    }
    g_test_message("%s: %u cases, %u mismatches", f->name, f->count, bad);
    g_assert_cmpuint(bad, ==, 0);
}

/* ---- #DE in the interpreter (natively it would kill the test) ---- */

static void expect_de(const char *hex, uint64_t rax, uint64_t rdx, uint64_t rcx)
{
    EmuCpu *cpu = env.cpu;
    uint8_t code[15];
    size_t n = 0;

    for (const char *p = hex; *p; n++) {
        char *end;

        code[n] = (uint8_t)strtoul(p, &end, 16);
        p = end;
    }
    memset(cpu->gpr, 0, sizeof(cpu->gpr));
    cpu->gpr[R_AX] = rax;
    cpu->gpr[R_DX] = rdx;
    cpu->gpr[R_CX] = rcx;
    cpu->gpr[R_SP] = EMU_RSP;
    cpu->rflags = 0x202;
    cpu->rip = CODE_GPA;
    g_assert_true(guest_ram_write(&env.ram, CODE_GPA, code, n));
    env.code_end = CODE_GPA + n;
    g_assert_cmpint(step_catch(cpu), ==, EXC_DE);
    /* a fault leaves the instruction unexecuted: rip and the operands stay */
    g_assert_cmphex(cpu->rip, ==, CODE_GPA);
    g_assert_cmphex(cpu->gpr[R_AX], ==, rax);
    g_assert_cmphex(cpu->gpr[R_DX], ==, rdx);
}

static void test_div_faults(void)
{
    expect_de("f6 f1", 0x1234, 0, 0);                              /* div cl, cl = 0 */
    expect_de("f7 f1", 1, 2, 0);                                   /* div ecx, ecx = 0 */
    expect_de("48 f7 f9", 1, 0, 0);                                /* idiv rcx, rcx = 0 */
    expect_de("f6 f1", 0x0200, 0, 2);                              /* div cl: 0x200/2 > 0xff */
    expect_de("66 f7 f1", 0x0000, 0x0005, 5);                      /* div cx: dx >= cx */
    expect_de("f7 f1", 0, 0xFFFFFFFF, 0xFFFFFFFF);                 /* div ecx: edx >= ecx */
    expect_de("48 f7 f1", 0, 1, 1);                                /* div rcx: rdx >= rcx */
    expect_de("f6 f9", 0x8000, 0, 0xFF);                           /* idiv cl: -32768 / -1 */
    expect_de("f6 f9", 0x7FFF, 0, 1);                              /* idiv cl: 32767 > 127 */
    expect_de("f6 f9", 0xFF00, 0, 1);                              /* idiv cl: -256 < -128 */
    expect_de("66 f7 f9", 0x0000, 0x8000, 0xFFFF);                 /* idiv cx: min / -1 */
    expect_de("f7 f9", 0, 0x80000000, 0xFFFFFFFF);                 /* idiv ecx: min / -1 */
    expect_de("48 f7 f9", 0, 0x8000000000000000ull, ~0ull);        /* idiv rcx: min / -1 */
    expect_de("48 f7 f9", 0, 1, 2);                                /* idiv rcx: 2^64/2 */
    expect_de("48 f7 f9", 0, ~0ull - 1, 2);                        /* idiv rcx: -2^65/2 */
    expect_de("48 f7 f9", 0x8000000000000000ull, 0, 1);            /* idiv rcx: 2^63 / 1 */
}

/* ---- what the interpreter does not implement: #UD, logged once ---- */

static int run_hex_catch(const char *hex, bool block)
{
    EmuCpu *cpu = env.cpu;
    uint8_t code[16];
    size_t n = 0;

    for (const char *p = hex; *p; n++) {
        char *end;

        code[n] = (uint8_t)strtoul(p, &end, 16);
        p = end;
    }
    cpu->rip = CODE_GPA;
    cpu->gpr[R_SP] = EMU_RSP;
    g_assert_true(guest_ram_write(&env.ram, CODE_GPA, code, n));
    cpu->exc_vector = -1;
    if (setjmp(cpu->jmp) == 0) {
        if (block) {
            emu_run_block(cpu);
        } else {
            emu_step(cpu);
        }
        return -1;
    }
    return cpu->exc_vector;
}

static void test_unimplemented_ud(void)
{
    static const char *const cases[] = {
        "f2 0f 7c c1",     /* haddps: SSE3 is not implemented */
        "d9 f0",           /* f2xm1: nor are x87 transcendentals */
        "0f 04",           /* no such opcode: undecodable */
        "0f 0b",           /* ud2 */
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        for (int block = 0; block < 2; block++) {
            unsigned logged = g_hash_table_size(env.cpu->ud_logged);

            g_assert_cmpint(run_hex_catch(cases[i], block), ==, EXC_UD);
            g_assert_cmphex(env.cpu->rip, ==, CODE_GPA);   /* a fault: not executed */
            /* the first time is logged (ud2 is architectural, never logged),
             * a second time is not */
            g_assert_cmpuint(g_hash_table_size(env.cpu->ud_logged), ==,
                             logged + (block == 0 && i < 3 ? 1 : 0));
        }
    }
}

/* ---- setup ---- */

/* A bare CPU in 64-bit mode without paging (CR0.PG=0: linear = physical). */
static void env_init(void)
{
    g_autoptr(GRand) r = g_rand_new_with_seed(0x9001u);
    EmuCpu *cpu = emu_bare_cpu64(&env.ram, RAM_SIZE);   /* "as a block": generated code */

    env.cpu = cpu;
    env.code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (env.code == MAP_FAILED) {
        env.code = NULL;
    }
    env.scratch = g_malloc(SCRATCH_SIZE);
    env.pool = g_malloc(POOL_SIZE);
    for (unsigned i = 0; i < POOL_SIZE; i++) {
        env.pool[i] = (uint8_t)g_rand_int(r);
    }
    ZydisFormatterInit(&env.fmt, ZYDIS_FORMATTER_STYLE_INTEL);
}

static void env_destroy(void)
{
    if (env.code) {
        munmap(env.code, 4096);
    }
    g_free(env.scratch);
    g_free(env.pool);
    emu_bare_cpu_free(env.cpu, &env.ram);
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    /* a mismatching family is reported and the others still run */
    g_test_set_nonfatal_assertions();
    env_init();
    for (size_t i = 0; i < G_N_ELEMENTS(families); i++) {
        g_autofree char *path = g_strdup_printf("/emu-insn/%s", families[i].name);

        g_test_add_data_func(path, &families[i], test_family);
    }
    g_test_add_func("/emu-insn/div-faults", test_div_faults);
    g_test_add_func("/emu-insn/unimplemented-ud", test_unimplemented_ud);
    rc = g_test_run();
    env_destroy();
    return rc;
}
