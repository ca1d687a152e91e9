/*
 * Still more instruction forms for the code generator (emu-jit.c), the
 * ones a Linux boot still ran most through their handlers after
 * emu-jit-ops.c (counted per mnemonic and operand kinds): stores of byte
 * and word registers and of immediates, byte and word loads, inc/dec/neg/
 * not and shifts by cl of a register, add/or/and/sub/xor/cmp/test with a
 * memory destination (read-modify-write) or a byte/word register one,
 * inc/dec/neg/not of memory, bt/bts/btr/btc with an immediate, bswap and
 * the hint instructions (prefetch, fences but mfence, endbr: pause is a
 * handler call, emu_pause watches for spin-waits); then
 * div, setcc of memory, push of an immediate, cdqe, mov from a segment
 * register, ALU ops and shifts by an immediate of byte/word registers,
 * pushfq, cli and sti.
 *
 * Register forms run the same host instruction on the EmuCpu's register
 * slot (a byte or word operation leaves the rest of the slot alone, as the
 * guest's does; a 32-bit result goes through eax so it is zero-extended).
 * Memory forms take the inline TLB path (emu_jit_tlb, a write probe for
 * anything that writes: dirty logging and write protection are the TLB's
 * write_ok) and fall back to the handler on anything else (a miss, MMIO,
 * a page crossing, a fault), so a fault is raised by the handler with the
 * state precise. A store into a page code was translated from (armed) takes
 * the handler too (emu_jit_store_check), which ends the block if it is the
 * running block's page.
 * Locked forms keep their handler.
 */
#include "accel/emu/emu-jit-internal.h"

#include <Zydis/Zydis.h>

#if defined(__x86_64__)

typedef enum {
    G_NONE, G_NOP, G_STORE, G_LOAD, G_UNARY_R, G_UNARY_M, G_SHIFT_CL, G_ALU_M, G_ALU_RM,
    G_BT_R, G_BT_M, G_BSWAP, G_DIV, G_SETCC_M, G_PUSH_I, G_CDQE, G_MOV_SREG, G_ALU_RR, G_SHIFT_RI,
    G_PUSHFQ, G_CLI, G_STI, G_CMPXCHG,
} Form2;

static bool gpr(const EmuOp *o)               /* a GPR of its size, AH..BH as bytes */
{
    return o->kind == OPK_REG &&
           (o->size == 1 ? o->reg < EREG_SEG : o->reg < 16 && o->size >= 2 && o->size <= 8);
}

/* An immediate the host encodes for an operation of `size` (imm8/16/32, sign-extended). */
static bool imm_ok(const EmuOp *s, unsigned size)
{
    return s->kind == OPK_IMM &&
           (size < 8 || (int64_t)(int32_t)s->val == s->val);
}

/* The ALU op's ModRM.reg extension (80 /n) and its "op r/m8, r8" opcode; -1: not one. */
static int alu_ext(unsigned mnem, uint8_t *rm_op)
{
    static const struct { uint16_t mnem; uint8_t ext, op; } t[] = {
        { ZYDIS_MNEMONIC_ADD, 0, 0x00 }, { ZYDIS_MNEMONIC_OR, 1, 0x08 },
        { ZYDIS_MNEMONIC_AND, 4, 0x20 }, { ZYDIS_MNEMONIC_SUB, 5, 0x28 },
        { ZYDIS_MNEMONIC_XOR, 6, 0x30 }, { ZYDIS_MNEMONIC_CMP, 7, 0x38 },
        { ZYDIS_MNEMONIC_TEST, 0, 0x84 },
    };

    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (t[i].mnem == mnem) {
            *rm_op = t[i].op;
            return t[i].ext;
        }
    }
    return -1;
}

/* The /n of the unary group (FE/FF: inc 0, dec 1; F6/F7: not 2, neg 3), -1: not one. */
static int unary_ext(unsigned mnem)
{
    return mnem == ZYDIS_MNEMONIC_INC ? 0 : mnem == ZYDIS_MNEMONIC_DEC ? 1 :
           mnem == ZYDIS_MNEMONIC_NOT ? 2 : mnem == ZYDIS_MNEMONIC_NEG ? 3 : -1;
}

static int bt_ext(unsigned mnem)              /* 0F BA /n */
{
    return mnem == ZYDIS_MNEMONIC_BT ? 4 : mnem == ZYDIS_MNEMONIC_BTS ? 5 :
           mnem == ZYDIS_MNEMONIC_BTR ? 6 : mnem == ZYDIS_MNEMONIC_BTC ? 7 : -1;
}

static bool is_hint(unsigned mnem)
{
    switch (mnem) {
    case ZYDIS_MNEMONIC_PREFETCHT0: case ZYDIS_MNEMONIC_PREFETCHT1:
    case ZYDIS_MNEMONIC_PREFETCHT2: case ZYDIS_MNEMONIC_PREFETCHNTA:
    case ZYDIS_MNEMONIC_PREFETCHW: case ZYDIS_MNEMONIC_PREFETCH:
    case ZYDIS_MNEMONIC_LFENCE: case ZYDIS_MNEMONIC_SFENCE: case ZYDIS_MNEMONIC_ENDBR64:
        return true;
    default:
        return false;
    }
}

/* The forms the first count left at 0.1-0.9 M handler calls per boot each. */
static Form2 form2_more(const EmuInsn *in)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    uint8_t rm_op;

    switch (in->mnem) {
    case ZYDIS_MNEMONIC_DIV:                      /* rdx:rax / r|m: explicit operand only */
        return in->nops == 1 && (d->size == 4 || d->size == 8) &&
               (d->kind == OPK_MEM || gpr(d)) ? G_DIV : G_NONE;
    case ZYDIS_MNEMONIC_PUSH:
        return in->nops == 1 && d->kind == OPK_IMM && in->opsize == 8 ? G_PUSH_I : G_NONE;
    case ZYDIS_MNEMONIC_CDQE:
        return G_CDQE;
    case ZYDIS_MNEMONIC_PUSHFQ:
        return in->opsize == 8 ? G_PUSHFQ : G_NONE;
    case ZYDIS_MNEMONIC_CLI:
        return G_CLI;
    case ZYDIS_MNEMONIC_STI:
        return G_STI;
    case ZYDIS_MNEMONIC_MOV:
        return in->nops == 2 && gpr(d) && d->size >= 2 && s->kind == OPK_REG &&
               s->reg >= EREG_SEG && s->reg < EREG_SEG + 6 ? G_MOV_SREG : G_NONE;
    case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR: case ZYDIS_MNEMONIC_SAR:
        /* bytes and words (emu-jit.c has the others); a count of 0: the handler's */
        return in->nops == 2 && gpr(d) && d->size <= 2 && s->kind == OPK_IMM &&
               ((unsigned)s->val & 0x1F) ? G_SHIFT_RI : G_NONE;
    default:
        break;
    }
    if (in->opmap == ZYDIS_OPCODE_MAP_0F && in->opcode >= 0x90 && in->opcode <= 0x9F) {
        return in->nops == 1 && d->kind == OPK_MEM && d->size == 1 ? G_SETCC_M : G_NONE;
    }
    /* add/or/and/sub/xor of byte and word registers (cmp/test: emu-jit-ops.c) */
    if (alu_ext(in->mnem, &rm_op) >= 0 && in->mnem != ZYDIS_MNEMONIC_CMP &&
        in->mnem != ZYDIS_MNEMONIC_TEST && in->nops == 2 && gpr(d) && d->size <= 2 &&
        (s->kind == OPK_IMM || (gpr(s) && s->size == d->size))) {
        return G_ALU_RR;
    }
    return G_NONE;
}

static Form2 form2(const EmuInsn *in)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    bool mem = d->kind == OPK_MEM;
    uint8_t rm_op;

    if (in->mnem == ZYDIS_MNEMONIC_CMPXCHG && !(in->flags & (INSN_REP | INSN_REPNE)) &&
        in->nops == 2 && mem && (d->size == 4 || d->size == 8) && gpr(s) && s->size == d->size) {
        return G_CMPXCHG;                         /* locked or not: a host lock cmpxchg */
    }
    if (in->flags & (INSN_LOCK | INSN_REP | INSN_REPNE)) {
        return G_NONE;
    }
    if (is_hint(in->mnem)) {
        return G_NOP;
    }
    if (in->mnem == ZYDIS_MNEMONIC_MOV && in->nops == 2) {
        if (mem && (imm_ok(s, d->size) || (gpr(s) && s->size <= 2))) {
            return G_STORE;                       /* r32/r64: emit_mem_mov */
        }
        if (gpr(d) && d->size <= 2 && s->kind == OPK_MEM) {
            return G_LOAD;
        }
    }
    if (unary_ext(in->mnem) >= 0 && in->nops == 1) {
        return mem ? G_UNARY_M : gpr(d) ? G_UNARY_R : G_NONE;
    }
    if ((in->mnem == ZYDIS_MNEMONIC_SHL || in->mnem == ZYDIS_MNEMONIC_SHR ||
         in->mnem == ZYDIS_MNEMONIC_SAR) && in->nops == 2 && gpr(d) &&
        s->kind == OPK_REG && s->reg == R_CX && s->size == 1) {
        return G_SHIFT_CL;
    }
    if (alu_ext(in->mnem, &rm_op) >= 0 && in->nops == 2) {
        if (mem && (imm_ok(s, d->size) || (gpr(s) && s->size == d->size))) {
            return G_ALU_M;
        }
        /* r32/r64 with memory: emu-jit-ops.c (F_ALU_RM) */
        if (gpr(d) && d->size <= 2 && s->kind == OPK_MEM && s->size == d->size) {
            return G_ALU_RM;
        }
    }
    if (bt_ext(in->mnem) >= 0 && in->nops == 2 && s->kind == OPK_IMM) {
        return mem ? G_BT_M : gpr(d) ? G_BT_R : G_NONE;
    }
    if (in->mnem == ZYDIS_MNEMONIC_BSWAP && in->nops == 1 && gpr(d) && d->size >= 4) {
        return G_BSWAP;
    }
    return form2_more(in);
}

int emu_jit_op2_flags(const EmuInsn *in)
{
    switch (form2(in)) {
    case G_NONE:
        return -1;
    case G_NOP: case G_BSWAP: case G_CDQE: case G_MOV_SREG:
        return FLAGS_KEEP;
    case G_ALU_RR: case G_SHIFT_RI:
        return FLAGS_WRITE;
    case G_UNARY_R:
        return in->mnem == ZYDIS_MNEMONIC_NOT ? FLAGS_KEEP
               : in->mnem == ZYDIS_MNEMONIC_NEG ? FLAGS_WRITE : FLAGS_READ;   /* inc/dec keep CF */
    default:
        /* what may fault, shifts by cl (a count of 0 writes nothing), bt (CF only) */
        return FLAGS_READ;
    }
}

/* The forms whose code keeps the flags state (emu_jit_op_tracks). */
int emu_jit_op2_tracks(const EmuInsn *in)
{
    switch (form2(in)) {
    case G_NOP: case G_UNARY_R: case G_BSWAP: case G_CDQE: case G_MOV_SREG: case G_ALU_RR:
    case G_SHIFT_RI:
        return TRACK_REG;
    case G_STORE: case G_LOAD: case G_ALU_M: case G_ALU_RM:
    case G_PUSH_I:                                /* not G_PUSHFQ: it reads c->rflags */
        return TRACK_MEM;
    default:
        return TRACK_NO;
    }
}

/* The slot of a GPR operand in the EmuCpu (AH..BH: byte 1 of theirs). */
static uint32_t slot(const EmuOp *o)
{
    return o->size == 1 ? gpr_byte(o->reg) : GPR(o->reg);
}

/* The operand-size prefix and REX.W of a host operation of `size` bytes. */
static void size_prefix(Emit *e, unsigned size)
{
    if (size == 2) {
        b(e, 0x66);
    } else if (size == 8) {
        b(e, 0x48);
    }
}

/* op8 for bytes, op8 + 1 for the other sizes (the x86 opcode pairs), prefixed. */
static void op_sized(Emit *e, unsigned size, uint8_t op8)
{
    size_prefix(e, size);
    b(e, (uint8_t)(size == 1 ? op8 : op8 + 1));
}

/* An immediate of an operation of `size` bytes (imm8, imm16, imm32). */
static void imm_sized(Emit *e, unsigned size, int64_t v)
{
    if (size == 1) {
        b(e, (uint8_t)v);
    } else if (size == 2) {
        b(e, (uint8_t)v); b(e, (uint8_t)(v >> 8));
    } else {
        b32(e, (uint32_t)v);
    }
}

/* eax|rax = the register operand o, zero-extended (movzx for bytes and words). */
static void load_src(Emit *e, const EmuOp *o)
{
    static const uint8_t movzx8[] = { 0x0F, 0xB6 }, movzx16[] = { 0x0F, 0xB7 };

    if (o->size == 1) {
        rbx_mem(e, false, movzx8, 2, 0, slot(o));
    } else if (o->size == 2) {
        rbx_mem(e, false, movzx16, 2, 0, slot(o));
    } else {
        load_rax(e, o->size, GPR(o->reg));
    }
}

/* The register operand o = al|ax (only those bytes of its slot), eax (zero-extended), rax. */
static void store_dst(Emit *e, const EmuOp *o)
{
    static const uint8_t mov8[] = { 0x88 }, mov[] = { 0x89 };

    if (o->size == 1) {
        rbx_mem(e, false, mov8, 1, 0, slot(o));
    } else if (o->size == 2) {
        b(e, 0x66);
        rbx_mem(e, false, mov, 1, 0, slot(o));
    } else {
        store_rax(e, GPR(o->reg));
    }
}

/*
 * The start of a memory form: rax = the operand's address, rcx = its host
 * address on a TLB hit (slow[]: the jumps to the handler). A writing form
 * takes the handler for an armed page too (emu_jit_store_check, clobbers rax). False (nothing emitted) if the
 * operand's addressing has no inline form.
 */
static bool mem_begin(Emit *e, const EmuInsn *in, const EmuOp *m, bool write, int32_t next,
                      uint8_t *slow[5])
{
    Emit probe = *e;

    if (!emu_jit_ea(&probe, in, m, next)) {           /* a dry run: only the test matters */
        return false;
    }
    emu_jit_ea(e, in, m, next);
    emu_jit_tlb(e, m->size, write, slow);
    if (write) {
        emu_jit_store_check(e, &slow[1]);
    }
    return true;
}

/*
 * The end of a memory form: the slow path is the handler (which also takes
 * the stores into an armed page, so the fast path never ends the block).
 */
static void mem_end(Emit *e, const EmuInsn *in, uint8_t *slow[5], int32_t off, int32_t next,
                    unsigned count)
{
    emu_jit_slow_path(e, in, slow, jmp32(e), off, next, count);
}

/* mov [mem], r8|r16|imm; mov r8|r16, [mem]. */
static bool emit_mov(Emit *e, const EmuInsn *in, bool store, int32_t off, int32_t next,
                     unsigned count)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    uint8_t *slow[5];

    if (!mem_begin(e, in, store ? d : s, store, next, slow)) {
        return false;
    }
    if (!store) {
        static const uint8_t movzx8[] = { 0x0F, 0xB6, 0x01 }, movzx16[] = { 0x0F, 0xB7, 0x01 };
        const uint8_t *ld = d->size == 1 ? movzx8 : movzx16;

        b(e, ld[0]); b(e, ld[1]); b(e, ld[2]);    /* movzx eax, byte|word [rcx] */
        store_dst(e, d);
    } else if (s->kind == OPK_IMM) {
        op_sized(e, d->size, 0xC6);               /* mov [rcx], imm */
        b(e, 0x01);
        imm_sized(e, d->size, s->val);
    } else {
        load_src(e, s);
        op_sized(e, d->size, 0x88);               /* mov [rcx], al|ax */
        b(e, 0x01);
    }
    mem_end(e, in, slow, off, next, count);
    return true;
}

/* inc/dec/not/neg of a register: the host's on the slot (32-bit: through eax). */
static void emit_unary_reg(Emit *e, const EmuInsn *in, bool flags_live)
{
    const EmuOp *d = &in->op[0];
    int ext = unary_ext(in->mnem);
    uint8_t op8 = ext < 2 ? 0xFE : 0xF6;
    uint8_t op[1] = { (uint8_t)(d->size == 1 ? op8 : op8 + 1) };

    emu_jit_flags_pre(e, ext < 2 ? FL_ARITH & ~FL_CF : FL_ARITH);
    if (d->size == 4) {
        load_rax(e, 4, GPR(d->reg));
        b(e, op[0]); b(e, (uint8_t)(0xC0 | ext << 3));   /* op eax */
    } else {
        if (d->size == 2) {
            b(e, 0x66);
        }
        rbx_mem(e, d->size == 8, op, 1, ext, slot(d));  /* op [rbx+slot] */
    }
    if (ext != 2) {                               /* inc/dec leave CF, on the host too */
        emu_jit_flags_out(e, ext < 2 ? FL_ARITH & ~FL_CF : FL_ARITH, flags_live);
    }
    if (d->size == 4) {
        store_rax(e, GPR(d->reg));
    }
}

/* inc/dec/not/neg [mem]. */
static bool emit_unary_mem(Emit *e, const EmuInsn *in, bool flags_live, int32_t off,
                           int32_t next, unsigned count)
{
    const EmuOp *d = &in->op[0];
    int ext = unary_ext(in->mnem);
    uint8_t *slow[5];

    if (!mem_begin(e, in, d, true, next, slow)) {
        return false;
    }
    op_sized(e, d->size, ext < 2 ? 0xFE : 0xF6);
    b(e, (uint8_t)(ext << 3 | 1));                /* op [rcx] */
    if (flags_live && ext != 2) {
        emu_jit_merge_flags(e, ext < 2 ? FL_ARITH & ~FL_CF : FL_ARITH);
    }
    mem_end(e, in, slow, off, next, count);
    return true;
}

/*
 * shl/shr/sar r, cl. A masked count of 0 leaves the flags alone (the
 * result is still written: a 32-bit one zero-extended, as the host does).
 */
static void emit_shift_cl(Emit *e, const EmuInsn *in, bool flags_live)
{
    static const uint8_t mov_ld[] = { 0x8B };
    const EmuOp *d = &in->op[0];
    unsigned ext = in->mnem == ZYDIS_MNEMONIC_SHL ? 4 : in->mnem == ZYDIS_MNEMONIC_SHR ? 5 : 7;
    uint8_t op[1] = { (uint8_t)(d->size == 1 ? 0xD2 : 0xD3) };
    uint8_t *zero;

    rbx_mem(e, false, mov_ld, 1, 1, GPR(R_CX));   /* mov ecx, [rbx+rcx] */
    if (d->size == 4) {
        load_rax(e, 4, GPR(d->reg));
        b(e, 0xD3); b(e, (uint8_t)(0xC0 | ext << 3));   /* op eax, cl */
    } else {
        if (d->size == 2) {
            b(e, 0x66);
        }
        rbx_mem(e, d->size == 8, op, 1, (int)ext, slot(d));   /* op [rbx+slot], cl */
    }
    if (flags_live) {
        b(e, 0x9C); b(e, 0x5A);                   /* pushfq; pop rdx */
        b(e, 0xF6); b(e, 0xC1); b(e, d->size == 8 ? 0x3F : 0x1F);   /* test cl, count mask */
        zero = jcc32(e, CC_E);
        emu_jit_merge_rdx(e, FL_ARITH);
        land(e, zero);
    }
    if (d->size == 4) {
        store_rax(e, GPR(d->reg));
    }
}

/* add/or/and/sub/xor/cmp/test [mem], r|imm (cmp and test only read). */
static bool emit_alu_m(Emit *e, const EmuInsn *in, bool flags_live, int32_t off, int32_t next,
                       unsigned count)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    bool test = in->mnem == ZYDIS_MNEMONIC_TEST;
    bool write = !test && in->mnem != ZYDIS_MNEMONIC_CMP;
    uint8_t rm_op = 0, *slow[5];
    int ext = alu_ext(in->mnem, &rm_op);

    if (!mem_begin(e, in, d, write, next, slow)) {
        return false;
    }
    if (s->kind == OPK_IMM) {
        op_sized(e, d->size, test ? 0xF6 : 0x80);
        b(e, (uint8_t)(ext << 3 | 1));            /* op [rcx], imm */
        imm_sized(e, d->size, s->val);
    } else {
        load_src(e, s);
        op_sized(e, d->size, rm_op);              /* op [rcx], al|ax|eax|rax */
        b(e, 0x01);
    }
    emu_jit_flags_out(e, FL_ARITH, flags_live);   /* spilled again if it writes */
    mem_end(e, in, slow, off, next, count);
    return true;
}

/* add/or/and/sub/xor/cmp r8|r16, [mem]. */
static bool emit_alu_rm(Emit *e, const EmuInsn *in, bool flags_live, int32_t off,
                        int32_t next, unsigned count)
{
    const EmuOp *d = &in->op[0];
    uint8_t rm_op = 0, *slow[5];

    alu_ext(in->mnem, &rm_op);
    if (!mem_begin(e, in, &in->op[1], false, next, slow)) {
        return false;
    }
    load_src(e, d);
    op_sized(e, d->size, (uint8_t)(rm_op + 2));   /* op al|ax, [rcx] */
    b(e, 0x01);
    emu_jit_flags_out(e, FL_ARITH, flags_live);
    if (in->mnem != ZYDIS_MNEMONIC_CMP) {
        store_dst(e, d);
    }
    mem_end(e, in, slow, off, next, count);
    return true;
}

/* bt/bts/btr/btc r, imm: only CF is written (the interpreter leaves the rest). */
static void emit_bt_reg(Emit *e, const EmuInsn *in, bool flags_live)
{
    const EmuOp *d = &in->op[0];
    int ext = bt_ext(in->mnem);
    bool via_eax = d->size == 4 && ext != 4;      /* a 32-bit write zero-extends */
    static const uint8_t op[2] = { 0x0F, 0xBA };

    if (via_eax) {
        load_rax(e, 4, GPR(d->reg));
        b(e, 0x0F); b(e, 0xBA); b(e, (uint8_t)(0xC0 | ext << 3));   /* op eax, imm8 */
    } else {
        if (d->size == 2) {
            b(e, 0x66);
        }
        rbx_mem(e, d->size == 8, op, 2, ext, GPR(d->reg));   /* op [rbx+slot], imm8 */
    }
    b(e, (uint8_t)in->op[1].val);
    if (flags_live) {
        emu_jit_merge_flags(e, FL_CF);
    }
    if (via_eax) {
        store_rax(e, GPR(d->reg));
    }
}

/* bt/bts/btr/btc [mem], imm (the bit within the operand: the host masks it alike). */
static bool emit_bt_mem(Emit *e, const EmuInsn *in, bool flags_live, int32_t off, int32_t next,
                        unsigned count)
{
    const EmuOp *d = &in->op[0];
    int ext = bt_ext(in->mnem);
    uint8_t *slow[5];

    if (!mem_begin(e, in, d, ext != 4, next, slow)) {
        return false;
    }
    size_prefix(e, d->size);
    b(e, 0x0F); b(e, 0xBA); b(e, (uint8_t)(ext << 3 | 1));   /* op [rcx], imm8 */
    b(e, (uint8_t)in->op[1].val);
    if (flags_live) {
        emu_jit_merge_flags(e, FL_CF);
    }
    mem_end(e, in, slow, off, next, count);
    return true;
}

/*
 * div r|m (32/64-bit): the host's div when it cannot raise #DE (the high
 * half of the dividend below the divisor, which also excludes 0), else the
 * handler raises it. The flags stay as they were, as the interpreter
 * leaves them.
 */
static bool emit_div(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    static const uint8_t mov_ld[] = { 0x8B };
    const EmuOp *d = &in->op[0];
    bool w = d->size == 8;
    uint8_t *slow[6] = { NULL }, *done;

    if (d->kind == OPK_MEM) {
        if (!mem_begin(e, in, d, false, next, slow)) {
            return false;
        }
        size_prefix(e, d->size);
        b(e, 0x8B); b(e, 0x31);                   /* mov rsi|esi, [rcx] */
    } else {
        rbx_mem(e, w, mov_ld, 1, 6, GPR(d->reg)); /* mov rsi|esi, [rbx+reg] */
    }
    rbx_mem(e, w, mov_ld, 1, 2, GPR(R_DX));       /* mov rdx|edx, [rbx+rdx] */
    size_prefix(e, d->size);
    b(e, 0x39); b(e, 0xF2);                       /* cmp rdx|edx, rsi|esi */
    slow[5] = jcc32(e, 0x3);                      /* jae: the quotient does not fit, or / 0 */
    load_rax(e, d->size, GPR(R_AX));
    size_prefix(e, d->size);
    b(e, 0xF7); b(e, 0xF6);                       /* div rsi|esi (32-bit: zero-extends both) */
    store_rax(e, GPR(R_AX));
    b(e, 0x48); b(e, 0x89); b(e, 0x93); b32(e, GPR(R_DX));   /* mov [rbx+rdx], rdx */
    done = jmp32(e);
    for (int i = 0; i < 6; i++) {
        land(e, slow[i]);
    }
    emu_jit_call(e, in, off, next, count);
    land(e, done);
    return true;
}

/* set<cc> byte [mem]: the guest's flags into the host's around the store. */
static bool emit_setcc_mem(Emit *e, const EmuInsn *in, int32_t off, int32_t next,
                           unsigned count)
{
    uint8_t *slow[5];

    if (!mem_begin(e, in, &in->op[0], true, next, slow)) {
        return false;
    }
    b(e, 0x48); b(e, 0x89); b(e, 0xCA);           /* mov rdx, rcx */
    emu_jit_guest_flags(e, in->opcode & 0xF);     /* clobbers rax, rcx */
    b(e, 0x0F); b(e, (uint8_t)(0x90 | (in->opcode & 0xF))); b(e, 0x02);   /* set<cc> [rdx] */
    mem_end(e, in, slow, off, next, count);
    return true;
}

/*
 * push imm (64-bit: the immediate sign-extended) and pushfq (rflags
 * without VM and RF; it reads the flags: FLAGS_READ): [rsp - 8] = the
 * value, rsp -= 8.
 */
static void emit_push_val(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    const EmuOp *d = &in->op[0];
    uint8_t *slow[5];

    load_rax(e, 8, GPR(R_SP));
    b(e, 0x48); b(e, 0x83); b(e, 0xE8); b(e, 8);                 /* sub rax, 8 */
    emu_jit_tlb(e, 8, true, slow);
    emu_jit_store_check(e, &slow[1]);
    if (in->mnem == ZYDIS_MNEMONIC_PUSHFQ) {
        load_rax(e, 8, OFF(rflags));
        b(e, 0x48); b(e, 0x25); b32(e, ~(uint32_t)(FL_VM | FL_RF));   /* and rax, ~(VM|RF) */
        b(e, 0x48); b(e, 0x89); b(e, 0x01);                      /* mov [rcx], rax */
    } else {
        b(e, 0x48); b(e, 0xC7); b(e, 0x01);                      /* mov qword [rcx], imm32 */
        b32(e, (uint32_t)emu_sext((uint64_t)d->val, d->size ? d->size : 4));
    }
    load_rax(e, 8, GPR(R_SP));
    b(e, 0x48); b(e, 0x83); b(e, 0xE8); b(e, 8);                 /* sub rax, 8 */
    store_rax(e, GPR(R_SP));
    mem_end(e, in, slow, off, next, count);
}

/*
 * cli/sti where CPL <= IOPL (in 64-bit code CR0.PE is set); else the
 * handler raises #GP. An sti that sets IF starts the interrupt shadow and
 * leaves the block after it, as the handler does.
 */
static void emit_cli_sti(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    static const uint8_t cmp[] = { 0x39 };
    uint8_t *gp, *done, *was_set = NULL;

    load_rax(e, 4, OFF(rflags));
    b(e, 0xC1); b(e, 0xE8); b(e, 12);                            /* shr eax, 12 */
    b(e, 0x83); b(e, 0xE0); b(e, 3);                             /* and eax, 3: IOPL */
    rbx_mem(e, false, cmp, 1, 0, OFF(cpl));                      /* cmp [rbx+cpl], eax */
    gp = jcc32(e, 0xF);                                          /* jg: CPL > IOPL */
    if (in->mnem == ZYDIS_MNEMONIC_CLI) {
        b(e, 0x81); b(e, 0xA3); b32(e, OFF(rflags)); b32(e, ~(uint32_t)FL_IF);   /* and */
    } else {
        b(e, 0xF7); b(e, 0x83); b32(e, OFF(rflags)); b32(e, FL_IF);   /* test [rflags], IF */
        was_set = jcc32(e, CC_NE);
        b(e, 0x81); b(e, 0x8B); b32(e, OFF(rflags)); b32(e, FL_IF);   /* or [rflags], IF */
        b(e, 0xC6); b(e, 0x83); b32(e, OFF(sti_shadow)); b(e, 1);
        b(e, 0xC6); b(e, 0x83); b32(e, OFF(block_exit)); b(e, 1);
        lea_r12(e, 0, next);
        emu_jit_exit(e, count);
    }
    land(e, was_set);
    done = jmp32(e);
    land(e, gp);
    emu_jit_call(e, in, off, next, count);
    land(e, done);
}

/*
 * cmpxchg [mem], r32|r64, with or without lock: the host's lock cmpxchg on
 * an aligned operand, as the handler's host compare-and-swap (the handler
 * takes the unaligned ones). rax goes back whole: a failed 32-bit one
 * zero-extends it, a successful one leaves it, on the host as in the guest.
 */
static bool emit_cmpxchg(Emit *e, const EmuInsn *in, bool flags_live, int32_t off,
                         int32_t next, unsigned count)
{
    static const uint8_t mov_ld[] = { 0x8B };
    const EmuOp *d = &in->op[0];
    bool w = d->size == 8;
    uint8_t *slow[6], *done;

    if (!mem_begin(e, in, d, true, next, slow)) {
        return false;
    }
    b(e, 0xF6); b(e, 0xC1); b(e, (uint8_t)(d->size - 1));      /* test cl, size-1 */
    slow[5] = jcc32(e, CC_NE);
    rbx_mem(e, w, mov_ld, 1, 2, GPR(in->op[1].reg));            /* mov rdx|edx, [rbx+src] */
    load_rax(e, 8, GPR(R_AX));
    b(e, 0xF0);
    if (w) {
        b(e, 0x48);
    }
    b(e, 0x0F); b(e, 0xB1); b(e, 0x11);                         /* lock cmpxchg [rcx], rdx|edx */
    if (flags_live) {
        emu_jit_merge_flags(e, FL_ARITH);
    }
    store_rax(e, GPR(R_AX));
    done = jmp32(e);
    for (int i = 0; i < 6; i++) {                 /* a miss, MMIO, a crossing, unaligned */
        land(e, slow[i]);
    }
    emu_jit_call(e, in, off, next, count);
    land(e, done);
    return true;
}

/* add/or/and/sub/xor r8|r16, r|imm; shl/shr/sar r8|r16, imm (through al|ax). */
static void emit_alu_small(Emit *e, const EmuInsn *in, Form2 f, bool flags_live)
{
    static const uint8_t shift_ext[3] = { 4, 5, 7 };
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    uint8_t rm_op = 0, op[1];
    int ext = alu_ext(in->mnem, &rm_op);

    load_src(e, d);                               /* eax = the destination, zero-extended */
    if (f == G_SHIFT_RI) {
        ext = shift_ext[in->mnem == ZYDIS_MNEMONIC_SHL ? 0 : in->mnem == ZYDIS_MNEMONIC_SHR ? 1 : 2];
        op_sized(e, d->size, 0xC0);               /* shift al|ax, imm8 */
        b(e, (uint8_t)(0xC0 | ext << 3));
        b(e, (uint8_t)s->val);
    } else if (s->kind == OPK_IMM) {
        op_sized(e, d->size, 0x80);               /* op al|ax, imm */
        b(e, (uint8_t)(0xC0 | ext << 3));
        imm_sized(e, d->size, s->val);
    } else {
        op[0] = (uint8_t)(rm_op + 2 + (d->size > 1));   /* op al|ax, [rbx+slot] */
        if (d->size == 2) {
            b(e, 0x66);
        }
        rbx_mem(e, false, op, 1, 0, slot(s));
    }
    emu_jit_flags_out(e, FL_ARITH, flags_live);
    store_dst(e, d);
}

bool emu_jit_op2(Emit *e, const EmuInsn *in, bool flags_live, int32_t off, int32_t next,
                 unsigned count)
{
    const EmuOp *d = &in->op[0];

    switch (form2(in)) {
    case G_NONE:
        return false;
    case G_NOP:
        return true;
    case G_STORE:
        return emit_mov(e, in, true, off, next, count);
    case G_LOAD:
        return emit_mov(e, in, false, off, next, count);
    case G_UNARY_R:
        emit_unary_reg(e, in, flags_live);
        return true;
    case G_UNARY_M:
        return emit_unary_mem(e, in, flags_live, off, next, count);
    case G_SHIFT_CL:
        emit_shift_cl(e, in, flags_live);
        return true;
    case G_ALU_M:
        return emit_alu_m(e, in, flags_live, off, next, count);
    case G_ALU_RM:
        return emit_alu_rm(e, in, flags_live, off, next, count);
    case G_BT_R:
        emit_bt_reg(e, in, flags_live);
        return true;
    case G_BT_M:
        return emit_bt_mem(e, in, flags_live, off, next, count);
    case G_BSWAP:
        load_rax(e, d->size, GPR(d->reg));
        size_prefix(e, d->size);
        b(e, 0x0F); b(e, 0xC8);                   /* bswap eax|rax */
        store_rax(e, GPR(d->reg));
        return true;
    case G_DIV:
        return emit_div(e, in, off, next, count);
    case G_SETCC_M:
        return emit_setcc_mem(e, in, off, next, count);
    case G_PUSH_I: case G_PUSHFQ:
        emit_push_val(e, in, off, next, count);
        return true;
    case G_CDQE: {
        static const uint8_t movsxd[] = { 0x63 };

        rbx_mem(e, true, movsxd, 1, 0, GPR(R_AX));   /* movsxd rax, dword [rbx+rax] */
        store_rax(e, GPR(R_AX));
        return true;
    }
    case G_MOV_SREG: {
        static const uint8_t movzx16[] = { 0x0F, 0xB7 };
        unsigned sr = in->op[1].reg - EREG_SEG;

        rbx_mem(e, false, movzx16, 2, 0,
                (uint32_t)(offsetof(EmuCpu, seg) + sr * sizeof(EmuSeg) + offsetof(EmuSeg, sel)));
        store_dst(e, d);                          /* a word, or zero-extended */
        return true;
    }
    case G_ALU_RR: case G_SHIFT_RI:
        emit_alu_small(e, in, form2(in), flags_live);
        return true;
    case G_CLI: case G_STI:
        emit_cli_sti(e, in, off, next, count);
        return true;
    case G_CMPXCHG:
        return emit_cmpxchg(e, in, flags_live, off, next, count);
    }
    return false;
}

#endif
