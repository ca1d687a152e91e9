/*
 * More instruction forms for the code generator (emu-jit.c), the ones a
 * Linux boot ran most through their handlers (counted per mnemonic and
 * operand kinds): lea, movzx/movsx/movsxd, setcc, cmovcc, adc/sbb, rol/ror
 * by an immediate, push/pop of a register, jmp rel, the nops, cmp/test of
 * byte and word registers (and test with an immediate),
 * add/sub/and/or/xor/cmp of a register with memory, and the one-operand
 * mul/imul of a 32/64-bit register.
 *
 * As in emu-jit.c, a register-only form is the same host instruction on
 * the EmuCpu's registers, so result and flags are the host's, which is the
 * guest's; a form that reads the guest flags first loads them into the
 * host's. A form that touches guest memory takes the inline TLB path and
 * falls back to the handler for anything else (a miss, MMIO, a page
 * crossing, a fault), exactly as emit_mem_mov does.
 */
#include "accel/emu/emu-jit-internal.h"

#include <Zydis/Zydis.h>

#if defined(__x86_64__)

typedef enum {
    F_NONE, F_JMP, F_NOP, F_LEA, F_MOVX_RR, F_MOVX_RM, F_SETCC, F_CMOV, F_ADC, F_ROT,
    F_PUSH, F_POP, F_CMPTEST, F_ALU_RM, F_CMPTEST_MI, F_MUL1,
} Form;

static bool gpr(const EmuOp *o)             /* including AH..BH */
{
    return o->kind == OPK_REG && o->reg < EREG_SEG;
}

static bool gpr64(const EmuOp *o)           /* RAX..R15 (any width) */
{
    return o->kind == OPK_REG && o->reg < 16;
}

static bool imm32_ok(const EmuInsn *in)      /* the immediate fits an imm32 encoding */
{
    const EmuOp *s = &in->op[1];

    return (int64_t)(int32_t)s->val == (int64_t)emu_sext((uint64_t)s->val, in->op[0].size);
}

static bool movx_src(const EmuInsn *in, const EmuOp *s)
{
    if (in->mnem == ZYDIS_MNEMONIC_MOVSXD) {
        return in->op[0].size == 8 && s->size == 4 && (s->kind == OPK_MEM || gpr64(s));
    }
    return (s->size == 1 && (s->kind == OPK_MEM || gpr(s))) ||
           (s->size == 2 && (s->kind == OPK_MEM || gpr64(s)));
}

/* cmp/test reg, reg|imm of one size (AH..BH only as bytes). */
static bool cmptest_ops(const EmuOp *d, const EmuOp *s)
{
    if (!(d->size == 1 ? gpr(d) : gpr64(d)) || s->kind == OPK_MEM) {
        return false;
    }
    return s->kind == OPK_IMM || (s->size == d->size && (d->size == 1 ? gpr(s) : gpr64(s)));
}

static Form form(const EmuInsn *in)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    bool wide = gpr64(d) && (d->size == 4 || d->size == 8);

    if (in->flags & (INSN_LOCK | INSN_REP | INSN_REPNE)) {
        return F_NONE;
    }
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_JMP:
        return in->nops == 1 && d->kind == OPK_IMM && !(in->flags & INSN_FAR) && in->opsize == 8
               ? F_JMP : F_NONE;
    case ZYDIS_MNEMONIC_NOP:
        return F_NOP;
    case ZYDIS_MNEMONIC_LEA:
        return in->nops == 2 && wide && s->kind == OPK_MEM ? F_LEA : F_NONE;
    case ZYDIS_MNEMONIC_MOVZX: case ZYDIS_MNEMONIC_MOVSX: case ZYDIS_MNEMONIC_MOVSXD:
        if (in->nops != 2 || !wide || !movx_src(in, s)) {
            return F_NONE;
        }
        return s->kind == OPK_MEM ? F_MOVX_RM : F_MOVX_RR;
    case ZYDIS_MNEMONIC_ADC: case ZYDIS_MNEMONIC_SBB:
        return in->nops == 2 && wide && ((gpr64(s) && s->size == d->size) ||
                                         (s->kind == OPK_IMM && imm32_ok(in))) ? F_ADC : F_NONE;
    case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR:
        return in->nops == 2 && wide && s->kind == OPK_IMM &&
               ((unsigned)s->val & (d->size == 8 ? 0x3F : 0x1F)) ? F_ROT : F_NONE;
    case ZYDIS_MNEMONIC_CMP: case ZYDIS_MNEMONIC_TEST:
        if (in->nops == 2 && cmptest_ops(d, s) &&
            (s->kind == OPK_REG || d->size < 8 || imm32_ok(in))) {
            return F_CMPTEST;
        }
        if (in->nops == 2 && d->kind == OPK_MEM && s->kind == OPK_IMM &&
            (d->size < 8 || imm32_ok(in))) {
            return F_CMPTEST_MI;
        }
        __attribute__((fallthrough));             /* cmp r, m */
    case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_SUB: case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_XOR:
        return in->mnem != ZYDIS_MNEMONIC_TEST && in->nops == 2 && wide &&
               s->kind == OPK_MEM && s->size == d->size ? F_ALU_RM : F_NONE;
    case ZYDIS_MNEMONIC_MUL: case ZYDIS_MNEMONIC_IMUL:    /* one operand: rdx:rax = rax * r */
        return in->nops == 1 && wide ? F_MUL1 : F_NONE;
    case ZYDIS_MNEMONIC_PUSH:
        return in->nops == 1 && gpr64(d) && d->size == 8 ? F_PUSH : F_NONE;
    case ZYDIS_MNEMONIC_POP:
        return in->nops == 1 && gpr64(d) && d->size == 8 ? F_POP : F_NONE;
    default:
        break;
    }
    if (in->opmap == ZYDIS_OPCODE_MAP_0F && in->opcode >= 0x90 && in->opcode <= 0x9F) {
        return in->nops == 1 && gpr(d) && d->size == 1 ? F_SETCC : F_NONE;
    }
    if (in->opmap == ZYDIS_OPCODE_MAP_0F && in->opcode >= 0x40 && in->opcode <= 0x4F) {
        return in->nops == 2 && wide && gpr64(s) && s->size == d->size ? F_CMOV : F_NONE;
    }
    return F_NONE;
}

int emu_jit_op_flags(const EmuInsn *in)
{
    switch (form(in)) {
    case F_NONE:
        return emu_jit_op2_flags(in);
    case F_NOP: case F_LEA: case F_MOVX_RR:
        return FLAGS_KEEP;
    case F_CMPTEST: case F_MUL1:
        return FLAGS_WRITE;
    default:
        /* flag readers, partial writers (rol/ror), and what may fault */
        return FLAGS_READ;
    }
}

/*
 * The forms whose code keeps the flags state (emu-jit-flags.c, TRACK_*):
 * consumers through emu_jit_flags_in, producers through emu_jit_flags_out;
 * jmp and lea leave through emu_jit_goto or the handler call when they
 * have no form, which settle. The memory forms read no guest flag.
 */
int emu_jit_op_tracks(const EmuInsn *in)
{
    switch (form(in)) {
    case F_NONE:
        return emu_jit_op2_tracks(in);
    case F_JMP: case F_NOP: case F_LEA: case F_MOVX_RR: case F_SETCC: case F_CMOV: case F_ADC:
    case F_ROT: case F_CMPTEST: case F_MUL1:
        return TRACK_REG;
    case F_MOVX_RM: case F_PUSH: case F_POP: case F_ALU_RM: case F_CMPTEST_MI:
        return TRACK_MEM;
    default:
        return TRACK_NO;
    }
}

/* movzx/movsx/movsxd rax|eax, <source> (opcode bytes for a ModRM operand). */
static void movx_op(const EmuInsn *in, uint8_t op[2], int *len, bool *w)
{
    unsigned ssize = in->op[1].size;

    *w = in->mnem != ZYDIS_MNEMONIC_MOVZX && in->op[0].size == 8;
    if (in->mnem == ZYDIS_MNEMONIC_MOVSXD) {
        op[0] = 0x63;
        *len = 1;
        return;
    }
    op[0] = 0x0F;
    op[1] = (uint8_t)((in->mnem == ZYDIS_MNEMONIC_MOVZX ? 0xB6 : 0xBE) + (ssize == 2));
    *len = 2;
}

static bool emit_movx_mem(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    static const uint8_t mov_st[] = { 0x89 };
    uint8_t op[2], *slow[5];
    Emit probe = *e;
    int len;
    bool w;

    if (!emu_jit_ea(&probe, in, &in->op[1], next)) {    /* a dry run: only the test matters */
        return false;
    }
    emu_jit_ea(e, in, &in->op[1], next);
    emu_jit_tlb(e, in->op[1].size, false, slow);
    movx_op(in, op, &len, &w);
    if (w) {
        b(e, 0x48);
    }
    for (int i = 0; i < len; i++) {
        b(e, op[i]);
    }
    b(e, 0x01);                                          /* rax|eax, [rcx] */
    rbx_mem(e, true, mov_st, 1, 0, GPR(in->op[0].reg));  /* 32-bit results are zero-extended */
    emu_jit_slow_path(e, in, slow, jmp32(e), off, next, count);
    return true;
}

/* push r64: [rsp - 8] = r, rsp -= 8 (an armed page: the handler, emu_jit_store_check). */
static void emit_push(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    static const uint8_t mov_ld[] = { 0x8B };
    uint8_t *slow[5], *done;

    load_rax(e, 8, GPR(R_SP));
    b(e, 0x48); b(e, 0x83); b(e, 0xE8); b(e, 8);                 /* sub rax, 8 */
    emu_jit_tlb(e, 8, true, slow);
    emu_jit_store_check(e, &slow[1]);
    load_rax(e, 8, GPR(in->op[0].reg));                          /* push rsp: the old value */
    b(e, 0x48); b(e, 0x89); b(e, 0x01);                          /* mov [rcx], rax */
    rbx_mem(e, true, mov_ld, 1, 0, GPR(R_SP));
    b(e, 0x48); b(e, 0x83); b(e, 0xE8); b(e, 8);                 /* sub rax, 8 */
    store_rax(e, GPR(R_SP));
    done = jmp32(e);
    emu_jit_slow_path(e, in, slow, done, off, next, count);
}

/* pop r64: r = [rsp], rsp += 8 (pop rsp: rsp = the value read). */
static void emit_pop(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    static const uint8_t mov_ld[] = { 0x8B }, mov_st[] = { 0x89 };
    uint8_t *slow[5];

    load_rax(e, 8, GPR(R_SP));
    emu_jit_tlb(e, 8, false, slow);
    b(e, 0x48); b(e, 0x8B); b(e, 0x01);                          /* mov rax, [rcx] */
    rbx_mem(e, true, mov_ld, 1, 1, GPR(R_SP));                   /* mov rcx, [rbx+rsp] */
    b(e, 0x48); b(e, 0x83); b(e, 0xC1); b(e, 8);                 /* add rcx, 8 */
    rbx_mem(e, true, mov_st, 1, 1, GPR(R_SP));                   /* mov [rbx+rsp], rcx */
    store_rax(e, GPR(in->op[0].reg));
    emu_jit_slow_path(e, in, slow, jmp32(e), off, next, count);
}

/* cmp|test al|ax|eax|rax, imm (the operand-size prefix 0x66 already emitted for words) */
static void emit_acc_imm(Emit *e, bool test, unsigned sz, uint64_t val)
{
    if (sz == 8) {
        b(e, 0x48);
    }
    b(e, (uint8_t)((test ? 0xA8 : 0x3C) + (sz > 1)));
    if (sz == 1) {
        b(e, (uint8_t)val);
    } else if (sz == 2) {
        b(e, (uint8_t)val); b(e, (uint8_t)(val >> 8));
    } else {
        b32(e, (uint32_t)val);
    }
}

/*
 * cmp/test of a register with a register or an immediate, any size: only
 * the flags, so nothing at all when no one reads them.
 */
static void emit_cmptest(Emit *e, const EmuInsn *in, bool flags_live)
{
    static const uint8_t ld[4][2] = { { 0x0F, 0xB6 }, { 0x0F, 0xB7 }, { 0x8B }, { 0x8B } };
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    unsigned sz = d->size, k = sz == 1 ? 0 : sz == 2 ? 1 : sz == 4 ? 2 : 3;
    bool test = in->mnem == ZYDIS_MNEMONIC_TEST, w = sz == 8;
    uint8_t op[1];

    if (!flags_live) {
        emu_jit_flags_out(e, FL_ARITH, false);
        return;
    }
    rbx_mem(e, w, ld[k], k < 2 ? 2 : 1, 0, sz == 1 ? gpr_byte(d->reg) : GPR(d->reg));
    if (sz == 2) {
        b(e, 0x66);
    }
    if (s->kind == OPK_REG) {                     /* cmp al|ax|eax|rax, [reg]; test [reg], ... */
        op[0] = (uint8_t)((test ? 0x84 : 0x3A) + (sz > 1));
        rbx_mem(e, w, op, 1, 0, sz == 1 ? gpr_byte(s->reg) : GPR(s->reg));
    } else {
        emit_acc_imm(e, test, sz, s->val);
    }
    emu_jit_flags_out(e, FL_ARITH, true);
}

/* cmp|test [mem], imm through the inline TLB (the probe even when the flags are dead). */
static bool emit_cmptest_mem(Emit *e, const EmuInsn *in, bool flags_live, int32_t off,
                             int32_t next, unsigned count)
{
    static const uint8_t ld[4][2] = { { 0x0F, 0xB6 }, { 0x0F, 0xB7 }, { 0x8B }, { 0x8B } };
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    unsigned sz = d->size, k = sz == 1 ? 0 : sz == 2 ? 1 : sz == 4 ? 2 : 3;
    bool test = in->mnem == ZYDIS_MNEMONIC_TEST;
    uint8_t *slow[5];
    Emit probe = *e;

    if (!emu_jit_ea(&probe, in, d, next)) {
        return false;
    }
    emu_jit_ea(e, in, d, next);
    emu_jit_tlb(e, sz, false, slow);
    if (flags_live) {
        if (sz == 8) {
            b(e, 0x48);
        }
        for (int i = 0; i < (k < 2 ? 2 : 1); i++) {
            b(e, ld[k][i]);
        }
        b(e, 0x01);                               /* movzx|mov eax|rax, [rcx] */
        if (sz == 2) {
            b(e, 0x66);
        }
        emit_acc_imm(e, test, sz, s->val);
    }
    emu_jit_flags_out(e, FL_ARITH, flags_live);   /* kept in the host's */
    emu_jit_slow_path(e, in, slow, jmp32(e), off, next, count);
    return true;
}

/* add/sub/and/or/xor/cmp r32|r64, [mem] through the inline TLB. */
static bool emit_alu_mem(Emit *e, const EmuInsn *in, bool flags_live, int32_t off, int32_t next,
                         unsigned count)
{
    const EmuOp *d = &in->op[0];
    uint8_t op[1], *slow[5];
    Emit probe = *e;

    switch (in->mnem) {
    case ZYDIS_MNEMONIC_ADD: op[0] = 0x03; break;
    case ZYDIS_MNEMONIC_OR: op[0] = 0x0B; break;
    case ZYDIS_MNEMONIC_AND: op[0] = 0x23; break;
    case ZYDIS_MNEMONIC_SUB: op[0] = 0x2B; break;
    case ZYDIS_MNEMONIC_XOR: op[0] = 0x33; break;
    default: op[0] = 0x3B; break;                 /* cmp */
    }
    if (!emu_jit_ea(&probe, in, &in->op[1], next)) {
        return false;
    }
    emu_jit_ea(e, in, &in->op[1], next);
    emu_jit_tlb(e, d->size, false, slow);
    load_rax(e, d->size, GPR(d->reg));
    if (d->size == 8) {
        b(e, 0x48);
    }
    b(e, op[0]); b(e, 0x01);                      /* op rax|eax, [rcx] */
    emu_jit_flags_out(e, FL_ARITH, flags_live);   /* kept in the host's */
    if (in->mnem != ZYDIS_MNEMONIC_CMP) {
        store_rax(e, GPR(d->reg));                /* 32-bit results are zero-extended */
    }
    emu_jit_slow_path(e, in, slow, jmp32(e), off, next, count);
    return true;
}

/* The register-only forms that compute into rax: adc/sbb, rol/ror, cmovcc. */
static void emit_alu_rax(Emit *e, const EmuInsn *in, Form f, bool flags_live)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    bool w = d->size == 8, adc = in->mnem == ZYDIS_MNEMONIC_ADC;
    uint8_t op[2];

    if (f != F_ROT) {
        /* the condition, or CF in (cc 2: below) */
        emu_jit_flags_in(e, f == F_CMOV ? in->opcode & 0xFu : 2);
    } else {
        emu_jit_flags_pre(e, FL_CF | FL_OF);
    }
    load_rax(e, d->size, GPR(d->reg));            /* mov does not touch the flags */
    if (f == F_CMOV) {
        op[0] = 0x0F; op[1] = (uint8_t)(0x40 | (in->opcode & 0xF));
        rbx_mem(e, w, op, 2, 0, GPR(s->reg));     /* a 32-bit cmov zero-extends either way */
    } else if (f == F_ADC && s->kind == OPK_REG) {
        op[0] = adc ? 0x13 : 0x1B;
        rbx_mem(e, w, op, 1, 0, GPR(s->reg));
    } else {
        unsigned ext = f == F_ROT ? (in->mnem == ZYDIS_MNEMONIC_ROL ? 0 : 1) : (adc ? 2 : 3);

        if (w) {
            b(e, 0x48);
        }
        b(e, f == F_ROT ? 0xC1 : 0x81);
        b(e, (uint8_t)(0xC0 | (ext << 3)));
        if (f == F_ROT) {
            b(e, (uint8_t)((unsigned)s->val & (w ? 0x3F : 0x1F)));
        } else {
            b32(e, (uint32_t)s->val);
        }
    }
    if (f != F_CMOV) {
        /* rotates write only CF and OF (the host's leave the rest, as the guest's) */
        emu_jit_flags_out(e, f == F_ROT ? FL_CF | FL_OF : FL_ARITH, flags_live);
    }
    store_rax(e, GPR(d->reg));
}

bool emu_jit_op(Emit *e, const EmuInsn *in, bool flags_live, int32_t off, int32_t next,
                unsigned count)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    Form f = form(in);
    uint8_t op[2];
    int len;
    bool w;

    switch (f) {
    case F_NONE:
        return emu_jit_op2(e, in, flags_live, off, next, count);
    case F_JMP: {
        int64_t target = (int64_t)next + d->val;

        if ((int64_t)(int32_t)target != target) {
            return false;
        }
        emu_jit_goto(e, (int32_t)target, count);
        return true;
    }
    case F_NOP:
        return true;
    case F_MUL1: {
        /*
         * The host's mul/imul on the guest's rax and source slot: a 32-bit
         * one zero-extends both halves, as the guest's does. The undefined
         * flags (SF, ZF, AF, PF) are the host's, which is what this CPU's
         * guests would see on the host itself.
         */
        static const uint8_t mul[] = { 0xF7 };
        static const uint8_t mov_st[] = { 0x89 };

        load_rax(e, d->size, GPR(R_AX));
        rbx_mem(e, d->size == 8, mul, 1, in->mnem == ZYDIS_MNEMONIC_MUL ? 4 : 5, GPR(d->reg));
        store_rax(e, GPR(R_AX));                  /* the stores leave the flags alone */
        rbx_mem(e, true, mov_st, 1, 2, GPR(R_DX)); /* mov [rbx+rdx], rdx */
        emu_jit_flags_out(e, FL_ARITH, flags_live);
        return true;
    }
    case F_LEA: {
        Emit probe = *e;

        /* lea is the offset alone: emu_jit_ea would add an FS/GS base */
        if (s->seg == S_FS || s->seg == S_GS || !emu_jit_ea(&probe, in, s, next)) {
            return false;
        }
        emu_jit_ea(e, in, s, next);
        if (d->size == 4) {
            b(e, 0x89); b(e, 0xC0);               /* mov eax, eax: zero-extends */
        }
        store_rax(e, GPR(d->reg));
        return true;
    }
    case F_MOVX_RR:
        movx_op(in, op, &len, &w);
        rbx_mem(e, w, op, len, 0, s->size == 1 ? gpr_byte(s->reg) : GPR(s->reg));
        store_rax(e, GPR(d->reg));
        return true;
    case F_MOVX_RM:
        return emit_movx_mem(e, in, off, next, count);
    case F_SETCC:
        emu_jit_flags_in(e, in->opcode & 0xF);
        op[0] = 0x0F; op[1] = (uint8_t)(0x90 | (in->opcode & 0xF));
        rbx_mem(e, false, op, 2, 0, gpr_byte(d->reg));      /* set<cc> byte [rbx+reg] */
        return true;
    case F_CMPTEST:
        emit_cmptest(e, in, flags_live);
        return true;
    case F_ALU_RM:
        return emit_alu_mem(e, in, flags_live, off, next, count);
    case F_CMPTEST_MI:
        return emit_cmptest_mem(e, in, flags_live, off, next, count);
    case F_PUSH:
        emit_push(e, in, off, next, count);
        return true;
    case F_POP:
        emit_pop(e, in, off, next, count);
        return true;
    default:
        emit_alu_rax(e, in, f, flags_live);
        return true;
    }
}

#endif
