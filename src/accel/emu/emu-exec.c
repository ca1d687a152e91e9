/*
 * The emu CPU's instruction dispatch: the generic handler per mnemonic
 * (the table below; the handlers are in emu-exec-alu.c, emu-exec-data.c,
 * emu-exec-flow.c and emu-exec-sys.c), the specialised handlers for the
 * common operand shapes in 64-bit code that decoding picks instead
 * (emu_specialize) and the code generator recognises (emu_insn_shape),
 * and the step and block runners. Operand access is emu-exec-internal.h.
 */
#include <Zydis/Zydis.h>

#include "accel/emu/emu-exec-internal.h"
#include "accel/emu/emu-alu.h"

/* ---- dispatch ---- */

/*
 * The generic handler of each mnemonic, as an index into handler_fns: a
 * table of bytes is read-only file data, where ~1700 pointers would be a
 * page-relocated, per-process copy (RSS) of 14 KiB. Decoding stores the
 * handler in EmuInsn.fn, so this is not on the hot path.
 */
enum {
    H_NONE, H_ADC, H_ADD, H_AND, H_ARITH, H_CMP, H_DATA,
    H_FLOW, H_JCC, H_MOV, H_OR, H_SBB, H_STACK,
    H_STRING, H_SUB, H_SYS, H_TEST, H_XOR,
};

static EmuHandler *const handler_fns[] = {
    [H_ADC] = emu_h_adc,
    [H_ADD] = emu_h_add,
    [H_AND] = emu_h_and,
    [H_ARITH] = emu_h_arith,
    [H_CMP] = emu_h_cmp,
    [H_DATA] = emu_h_data,
    [H_FLOW] = emu_h_flow,
    [H_JCC] = emu_h_jcc,
    [H_MOV] = emu_h_mov,
    [H_OR] = emu_h_or,
    [H_SBB] = emu_h_sbb,
    [H_STACK] = emu_h_stack,
    [H_STRING] = emu_h_string,
    [H_SUB] = emu_h_sub,
    [H_SYS] = emu_h_sys,
    [H_TEST] = emu_h_test,
    [H_XOR] = emu_h_xor,
};

static const uint8_t handlers[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
    [ZYDIS_MNEMONIC_ADC] = H_ADC,
    [ZYDIS_MNEMONIC_ADD] = H_ADD,
    [ZYDIS_MNEMONIC_AND] = H_AND,
    [ZYDIS_MNEMONIC_BSF] = H_ARITH,
    [ZYDIS_MNEMONIC_BSR] = H_ARITH,
    [ZYDIS_MNEMONIC_BSWAP] = H_DATA,
    [ZYDIS_MNEMONIC_BT] = H_ARITH,
    [ZYDIS_MNEMONIC_BTC] = H_ARITH,
    [ZYDIS_MNEMONIC_BTR] = H_ARITH,
    [ZYDIS_MNEMONIC_BTS] = H_ARITH,
    [ZYDIS_MNEMONIC_CALL] = H_FLOW,
    [ZYDIS_MNEMONIC_CBW] = H_DATA,
    [ZYDIS_MNEMONIC_CDQ] = H_DATA,
    [ZYDIS_MNEMONIC_CDQE] = H_DATA,
    [ZYDIS_MNEMONIC_CLC] = H_SYS,
    [ZYDIS_MNEMONIC_CLD] = H_SYS,
    [ZYDIS_MNEMONIC_CLFLUSH] = H_SYS,
    [ZYDIS_MNEMONIC_CLI] = H_SYS,
    [ZYDIS_MNEMONIC_CLTS] = H_SYS,
    [ZYDIS_MNEMONIC_CMC] = H_SYS,
    [ZYDIS_MNEMONIC_CMOVB] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVBE] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVL] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVLE] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVNB] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVNBE] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVNL] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVNLE] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVNO] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVNP] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVNS] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVNZ] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVO] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVP] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVS] = H_DATA,
    [ZYDIS_MNEMONIC_CMOVZ] = H_DATA,
    [ZYDIS_MNEMONIC_CMP] = H_CMP,
    [ZYDIS_MNEMONIC_CMPSB] = H_STRING,
    [ZYDIS_MNEMONIC_CMPSD] = H_STRING,
    [ZYDIS_MNEMONIC_CMPSQ] = H_STRING,
    [ZYDIS_MNEMONIC_CMPSW] = H_STRING,
    [ZYDIS_MNEMONIC_CMPXCHG] = H_DATA,
    [ZYDIS_MNEMONIC_CMPXCHG16B] = H_DATA,
    [ZYDIS_MNEMONIC_CMPXCHG8B] = H_DATA,
    [ZYDIS_MNEMONIC_CPUID] = H_SYS,
    [ZYDIS_MNEMONIC_CQO] = H_DATA,
    [ZYDIS_MNEMONIC_CWD] = H_DATA,
    [ZYDIS_MNEMONIC_CWDE] = H_DATA,
    [ZYDIS_MNEMONIC_DEC] = H_ARITH,
    [ZYDIS_MNEMONIC_DIV] = H_ARITH,
    [ZYDIS_MNEMONIC_ENDBR32] = H_SYS,
    [ZYDIS_MNEMONIC_ENDBR64] = H_SYS,
    [ZYDIS_MNEMONIC_ENTER] = H_STACK,
    [ZYDIS_MNEMONIC_HLT] = H_SYS,
    [ZYDIS_MNEMONIC_IDIV] = H_ARITH,
    [ZYDIS_MNEMONIC_IMUL] = H_ARITH,
    [ZYDIS_MNEMONIC_IN] = H_SYS,
    [ZYDIS_MNEMONIC_INC] = H_ARITH,
    [ZYDIS_MNEMONIC_INSB] = H_STRING,
    [ZYDIS_MNEMONIC_INSD] = H_STRING,
    [ZYDIS_MNEMONIC_INSW] = H_STRING,
    [ZYDIS_MNEMONIC_INT] = H_SYS,
    [ZYDIS_MNEMONIC_INT1] = H_SYS,
    [ZYDIS_MNEMONIC_INT3] = H_SYS,
    [ZYDIS_MNEMONIC_INTO] = H_SYS,
    [ZYDIS_MNEMONIC_INVD] = H_SYS,
    [ZYDIS_MNEMONIC_INVLPG] = H_SYS,
    [ZYDIS_MNEMONIC_IRET] = H_SYS,
    [ZYDIS_MNEMONIC_IRETD] = H_SYS,
    [ZYDIS_MNEMONIC_IRETQ] = H_SYS,
    [ZYDIS_MNEMONIC_JB] = H_JCC,
    [ZYDIS_MNEMONIC_JBE] = H_JCC,
    [ZYDIS_MNEMONIC_JCXZ] = H_FLOW,
    [ZYDIS_MNEMONIC_JECXZ] = H_FLOW,
    [ZYDIS_MNEMONIC_JL] = H_JCC,
    [ZYDIS_MNEMONIC_JLE] = H_JCC,
    [ZYDIS_MNEMONIC_JMP] = H_FLOW,
    [ZYDIS_MNEMONIC_JNB] = H_JCC,
    [ZYDIS_MNEMONIC_JNBE] = H_JCC,
    [ZYDIS_MNEMONIC_JNL] = H_JCC,
    [ZYDIS_MNEMONIC_JNLE] = H_JCC,
    [ZYDIS_MNEMONIC_JNO] = H_JCC,
    [ZYDIS_MNEMONIC_JNP] = H_JCC,
    [ZYDIS_MNEMONIC_JNS] = H_JCC,
    [ZYDIS_MNEMONIC_JNZ] = H_JCC,
    [ZYDIS_MNEMONIC_JO] = H_JCC,
    [ZYDIS_MNEMONIC_JP] = H_JCC,
    [ZYDIS_MNEMONIC_JRCXZ] = H_FLOW,
    [ZYDIS_MNEMONIC_JS] = H_JCC,
    [ZYDIS_MNEMONIC_JZ] = H_JCC,
    [ZYDIS_MNEMONIC_LAHF] = H_SYS,
    [ZYDIS_MNEMONIC_LDS] = H_SYS,
    [ZYDIS_MNEMONIC_LEA] = H_DATA,
    [ZYDIS_MNEMONIC_LEAVE] = H_STACK,
    [ZYDIS_MNEMONIC_LES] = H_SYS,
    [ZYDIS_MNEMONIC_LFENCE] = H_SYS,
    [ZYDIS_MNEMONIC_LFS] = H_SYS,
    [ZYDIS_MNEMONIC_LGDT] = H_SYS,
    [ZYDIS_MNEMONIC_LGS] = H_SYS,
    [ZYDIS_MNEMONIC_LIDT] = H_SYS,
    [ZYDIS_MNEMONIC_LLDT] = H_SYS,
    [ZYDIS_MNEMONIC_LMSW] = H_SYS,
    [ZYDIS_MNEMONIC_LODSB] = H_STRING,
    [ZYDIS_MNEMONIC_LODSD] = H_STRING,
    [ZYDIS_MNEMONIC_LODSQ] = H_STRING,
    [ZYDIS_MNEMONIC_LODSW] = H_STRING,
    [ZYDIS_MNEMONIC_LOOP] = H_FLOW,
    [ZYDIS_MNEMONIC_LOOPE] = H_FLOW,
    [ZYDIS_MNEMONIC_LOOPNE] = H_FLOW,
    [ZYDIS_MNEMONIC_LSS] = H_SYS,
    [ZYDIS_MNEMONIC_LTR] = H_SYS,
    [ZYDIS_MNEMONIC_MFENCE] = H_SYS,
    [ZYDIS_MNEMONIC_MOV] = H_MOV,
    [ZYDIS_MNEMONIC_MOVSB] = H_STRING,
    [ZYDIS_MNEMONIC_MOVSD] = H_STRING,
    [ZYDIS_MNEMONIC_MOVSQ] = H_STRING,
    [ZYDIS_MNEMONIC_MOVSW] = H_STRING,
    [ZYDIS_MNEMONIC_MOVSX] = H_DATA,
    [ZYDIS_MNEMONIC_MOVSXD] = H_DATA,
    [ZYDIS_MNEMONIC_MOVZX] = H_DATA,
    [ZYDIS_MNEMONIC_MUL] = H_ARITH,
    [ZYDIS_MNEMONIC_NEG] = H_ARITH,
    [ZYDIS_MNEMONIC_NOP] = H_SYS,
    [ZYDIS_MNEMONIC_NOT] = H_ARITH,
    [ZYDIS_MNEMONIC_OR] = H_OR,
    [ZYDIS_MNEMONIC_OUT] = H_SYS,
    [ZYDIS_MNEMONIC_OUTSB] = H_STRING,
    [ZYDIS_MNEMONIC_OUTSD] = H_STRING,
    [ZYDIS_MNEMONIC_OUTSW] = H_STRING,
    [ZYDIS_MNEMONIC_PAUSE] = H_SYS,
    [ZYDIS_MNEMONIC_POPCNT] = H_ARITH,
    [ZYDIS_MNEMONIC_POP] = H_STACK,
    [ZYDIS_MNEMONIC_POPA] = H_STACK,
    [ZYDIS_MNEMONIC_POPAD] = H_STACK,
    [ZYDIS_MNEMONIC_POPF] = H_STACK,
    [ZYDIS_MNEMONIC_POPFD] = H_STACK,
    [ZYDIS_MNEMONIC_POPFQ] = H_STACK,
    [ZYDIS_MNEMONIC_PREFETCH] = H_SYS,
    [ZYDIS_MNEMONIC_PREFETCHNTA] = H_SYS,
    [ZYDIS_MNEMONIC_PREFETCHT0] = H_SYS,
    [ZYDIS_MNEMONIC_PREFETCHT1] = H_SYS,
    [ZYDIS_MNEMONIC_PREFETCHT2] = H_SYS,
    [ZYDIS_MNEMONIC_PREFETCHW] = H_SYS,
    [ZYDIS_MNEMONIC_PUSH] = H_STACK,
    [ZYDIS_MNEMONIC_PUSHA] = H_STACK,
    [ZYDIS_MNEMONIC_PUSHAD] = H_STACK,
    [ZYDIS_MNEMONIC_PUSHF] = H_STACK,
    [ZYDIS_MNEMONIC_PUSHFD] = H_STACK,
    [ZYDIS_MNEMONIC_PUSHFQ] = H_STACK,
    [ZYDIS_MNEMONIC_RCL] = H_ARITH,
    [ZYDIS_MNEMONIC_RCR] = H_ARITH,
    [ZYDIS_MNEMONIC_RDMSR] = H_SYS,
    [ZYDIS_MNEMONIC_RDTSC] = H_SYS,
    [ZYDIS_MNEMONIC_RDTSCP] = H_SYS,
    [ZYDIS_MNEMONIC_RET] = H_FLOW,
    [ZYDIS_MNEMONIC_ROL] = H_ARITH,
    [ZYDIS_MNEMONIC_ROR] = H_ARITH,
    [ZYDIS_MNEMONIC_SAHF] = H_SYS,
    [ZYDIS_MNEMONIC_SAR] = H_ARITH,
    [ZYDIS_MNEMONIC_SBB] = H_SBB,
    [ZYDIS_MNEMONIC_SCASB] = H_STRING,
    [ZYDIS_MNEMONIC_SCASD] = H_STRING,
    [ZYDIS_MNEMONIC_SCASQ] = H_STRING,
    [ZYDIS_MNEMONIC_SCASW] = H_STRING,
    [ZYDIS_MNEMONIC_SETB] = H_DATA,
    [ZYDIS_MNEMONIC_SETBE] = H_DATA,
    [ZYDIS_MNEMONIC_SETL] = H_DATA,
    [ZYDIS_MNEMONIC_SETLE] = H_DATA,
    [ZYDIS_MNEMONIC_SETNB] = H_DATA,
    [ZYDIS_MNEMONIC_SETNBE] = H_DATA,
    [ZYDIS_MNEMONIC_SETNL] = H_DATA,
    [ZYDIS_MNEMONIC_SETNLE] = H_DATA,
    [ZYDIS_MNEMONIC_SETNO] = H_DATA,
    [ZYDIS_MNEMONIC_SETNP] = H_DATA,
    [ZYDIS_MNEMONIC_SETNS] = H_DATA,
    [ZYDIS_MNEMONIC_SETNZ] = H_DATA,
    [ZYDIS_MNEMONIC_SETO] = H_DATA,
    [ZYDIS_MNEMONIC_SETP] = H_DATA,
    [ZYDIS_MNEMONIC_SETS] = H_DATA,
    [ZYDIS_MNEMONIC_SETZ] = H_DATA,
    [ZYDIS_MNEMONIC_SFENCE] = H_SYS,
    [ZYDIS_MNEMONIC_SGDT] = H_SYS,
    [ZYDIS_MNEMONIC_SHL] = H_ARITH,
    [ZYDIS_MNEMONIC_SHLD] = H_ARITH,
    [ZYDIS_MNEMONIC_SHR] = H_ARITH,
    [ZYDIS_MNEMONIC_SHRD] = H_ARITH,
    [ZYDIS_MNEMONIC_SIDT] = H_SYS,
    [ZYDIS_MNEMONIC_SLDT] = H_SYS,
    [ZYDIS_MNEMONIC_SMSW] = H_SYS,
    [ZYDIS_MNEMONIC_STC] = H_SYS,
    [ZYDIS_MNEMONIC_STD] = H_SYS,
    [ZYDIS_MNEMONIC_STI] = H_SYS,
    [ZYDIS_MNEMONIC_STOSB] = H_STRING,
    [ZYDIS_MNEMONIC_STOSD] = H_STRING,
    [ZYDIS_MNEMONIC_STOSQ] = H_STRING,
    [ZYDIS_MNEMONIC_STOSW] = H_STRING,
    [ZYDIS_MNEMONIC_STR] = H_SYS,
    [ZYDIS_MNEMONIC_SUB] = H_SUB,
    [ZYDIS_MNEMONIC_SWAPGS] = H_SYS,
    [ZYDIS_MNEMONIC_SYSCALL] = H_SYS,
    [ZYDIS_MNEMONIC_SYSRET] = H_SYS,
    [ZYDIS_MNEMONIC_TEST] = H_TEST,
    [ZYDIS_MNEMONIC_TZCNT] = H_ARITH,
    [ZYDIS_MNEMONIC_LZCNT] = H_ARITH,
    [ZYDIS_MNEMONIC_VERR] = H_SYS,
    [ZYDIS_MNEMONIC_VERW] = H_SYS,
    [ZYDIS_MNEMONIC_WBINVD] = H_SYS,
    [ZYDIS_MNEMONIC_WRMSR] = H_SYS,
    [ZYDIS_MNEMONIC_XADD] = H_DATA,
    [ZYDIS_MNEMONIC_XCHG] = H_DATA,
    [ZYDIS_MNEMONIC_XLAT] = H_DATA,
    [ZYDIS_MNEMONIC_XOR] = H_XOR,
};

/* ---- specialised handlers for the most common operand shapes ----
 * Chosen once at decode time (emu_specialize); each falls back to the
 * generic handler for anything its fast path does not cover (MMIO,
 * page-crossing accesses), so behaviour is the same, only cheaper. */

static inline bool is_gpr(const EmuOp *o)
{
    return o->kind == OPK_REG && o->reg < 16;
}

/* Host address of a memory operand in RAM (TLB hit or fill), NULL otherwise. */
static inline uint8_t *mem_fast(EmuCpu *c, const EmuInsn *in, const EmuOp *o, unsigned size,
                                int acc)
{
    uint64_t lin = emu_seg_lin_fast(c, o->seg, op_ea(c, in, o), size, acc);

    return emu_lin_ptr_fast(c, lin, size, acc);
}

static void h_mov_rr(EmuCpu *c, const EmuInsn *in)
{
    unsigned s = in->op[0].size;

    reg_write(c, in->op[0].reg, s, c->gpr[in->op[1].reg] & emu_mask(s));
}

static void h_mov_ri(EmuCpu *c, const EmuInsn *in)
{
    unsigned s = in->op[0].size;

    reg_write(c, in->op[0].reg, s, (uint64_t)in->op[1].val & emu_mask(s));
}

static void h_mov_rm(EmuCpu *c, const EmuInsn *in)
{
    unsigned s = in->op[0].size;
    const uint8_t *p = mem_fast(c, in, &in->op[1], s, ACC_READ);

    if (G_UNLIKELY(!p)) {
        emu_h_mov(c, in);
        return;
    }
    reg_write(c, in->op[0].reg, s, emu_ld(p, s));
}

static void h_mov_mr(EmuCpu *c, const EmuInsn *in)
{
    unsigned s = in->op[1].size;
    uint8_t *p = mem_fast(c, in, &in->op[0], s, ACC_WRITE);

    if (G_UNLIKELY(!p)) {
        emu_h_mov(c, in);
        return;
    }
    emu_st(p, s, c->gpr[in->op[1].reg]);
    emu_note_store(c, p);
}

#define ALU_FAST(name, aop)                                                          \
    static void h_##name##_rr(EmuCpu *c, const EmuInsn *in)                         \
    {                                                                               \
        unsigned s = in->op[0].size;                                                \
        uint64_t fl = c->rflags;                                                    \
        uint64_t r = alu_op(aop, c->gpr[in->op[0].reg], c->gpr[in->op[1].reg], s, &fl); \
                                                                                    \
        if (aop != ALU_CMP) {                                                        \
            reg_write(c, in->op[0].reg, s, r);                                      \
        }                                                                           \
        c->rflags = fl;                                                             \
    }                                                                               \
    static void h_##name##_ri(EmuCpu *c, const EmuInsn *in)                         \
    {                                                                               \
        unsigned s = in->op[0].size;                                                \
        uint64_t fl = c->rflags;                                                    \
        uint64_t r = alu_op(aop, c->gpr[in->op[0].reg], (uint64_t)in->op[1].val, s, &fl); \
                                                                                    \
        if (aop != ALU_CMP) {                                                        \
            reg_write(c, in->op[0].reg, s, r);                                      \
        }                                                                           \
        c->rflags = fl;                                                             \
    }
ALU_FAST(add, ALU_ADD)
ALU_FAST(or, ALU_OR)
ALU_FAST(and, ALU_AND)
ALU_FAST(sub, ALU_SUB)
ALU_FAST(xor, ALU_XOR)
ALU_FAST(cmp, ALU_CMP)

static void h_test_rr(EmuCpu *c, const EmuInsn *in)
{
    alu_logic(c->gpr[in->op[0].reg] & c->gpr[in->op[1].reg], in->op[0].size, &c->rflags);
}

static void h_lea(EmuCpu *c, const EmuInsn *in)
{
    reg_write(c, in->op[0].reg, in->op[0].size, op_ea(c, in, &in->op[1]));
}

#define SHIFT_FAST(name, aop)                                                        \
    static void h_##name##_ri(EmuCpu *c, const EmuInsn *in)                         \
    {                                                                               \
        unsigned s = in->op[0].size;                                                \
        unsigned cnt = (unsigned)in->op[1].val & (s == 8 ? 0x3F : 0x1F);            \
        uint64_t fl = c->rflags;                                                    \
                                                                                    \
        if (!cnt) {                                                                 \
            emu_h_arith(c, in);                                                      \
            return;                                                                 \
        }                                                                           \
        reg_write(c, in->op[0].reg, s, alu_shift(aop, c->gpr[in->op[0].reg], cnt, s, &fl)); \
        c->rflags = fl;                                                             \
    }
SHIFT_FAST(shl, SH_SHL)
SHIFT_FAST(shr, SH_SHR)
SHIFT_FAST(sar, SH_SAR)

static void h_imul_rr(EmuCpu *c, const EmuInsn *in)
{
    unsigned s = in->op[0].size;
    __int128 p = (__int128)(int64_t)emu_sext(c->gpr[in->op[0].reg], s) *
                 (int64_t)emu_sext(c->gpr[in->op[1].reg], s);
    uint64_t lo = (uint64_t)p & emu_mask(s);

    reg_write(c, in->op[0].reg, s, lo);
    set_mul_flags(c, (__int128)(int64_t)emu_sext(lo, s) != p, lo, s);
}

/* Near call/ret in 64-bit code with the stack slot in RAM; else generic. */
static void h_call_rel64(EmuCpu *c, const EmuInsn *in)
{
    uint64_t sp = c->gpr[R_SP] - 8;
    uint8_t *p;

    if (!c->long64 || !(p = emu_lin_ptr_fast(c, emu_seg_lin_fast(c, S_SS, sp, 8, ACC_WRITE), 8,
                                             ACC_WRITE))) {
        emu_h_flow(c, in);
        return;
    }
    emu_st(p, 8, c->next_rip);
    emu_note_store(c, p);
    c->gpr[R_SP] = sp;
    c->next_rip += (uint64_t)in->op[0].val;
}

static void h_ret64(EmuCpu *c, const EmuInsn *in)
{
    uint64_t sp = c->gpr[R_SP];
    const uint8_t *p;

    if (!c->long64 || !(p = emu_lin_ptr_fast(c, emu_seg_lin_fast(c, S_SS, sp, 8, ACC_READ), 8,
                                             ACC_READ))) {
        emu_h_flow(c, in);
        return;
    }
    c->next_rip = emu_ld(p, 8);
    c->gpr[R_SP] = sp + 8;
}

/* The shapes above, in 64-bit code; everything else keeps the generic handler. */
/* Which specialised handler an instruction got, for the code generator. */
EmuShape emu_insn_shape(const EmuInsn *in, int *aop)
{
    static const struct { EmuHandler *h; EmuShape shape; int aop; } shapes[] = {
        { h_mov_rr, SHAPE_MOV_RR, 0 }, { h_mov_ri, SHAPE_MOV_RI, 0 },
        { h_add_rr, SHAPE_ALU_RR, ALU_ADD }, { h_add_ri, SHAPE_ALU_RI, ALU_ADD },
        { h_or_rr, SHAPE_ALU_RR, ALU_OR }, { h_or_ri, SHAPE_ALU_RI, ALU_OR },
        { h_and_rr, SHAPE_ALU_RR, ALU_AND }, { h_and_ri, SHAPE_ALU_RI, ALU_AND },
        { h_sub_rr, SHAPE_ALU_RR, ALU_SUB }, { h_sub_ri, SHAPE_ALU_RI, ALU_SUB },
        { h_xor_rr, SHAPE_ALU_RR, ALU_XOR }, { h_xor_ri, SHAPE_ALU_RI, ALU_XOR },
        { h_cmp_rr, SHAPE_ALU_RR, ALU_CMP }, { h_cmp_ri, SHAPE_ALU_RI, ALU_CMP },
        { h_test_rr, SHAPE_TEST_RR, 0 }, { h_imul_rr, SHAPE_IMUL_RR, 0 },
        { h_shl_ri, SHAPE_SHIFT_RI, SH_SHL }, { h_shr_ri, SHAPE_SHIFT_RI, SH_SHR },
        { h_sar_ri, SHAPE_SHIFT_RI, SH_SAR }, { emu_h_jcc, SHAPE_JCC, 0 },
        { h_mov_rm, SHAPE_MOV_RM, 0 }, { h_mov_mr, SHAPE_MOV_MR, 0 },
        { h_call_rel64, SHAPE_CALL_REL, 0 }, { h_ret64, SHAPE_RET, 0 },
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(shapes); i++) {
        if (shapes[i].h == in->fn) {
            *aop = shapes[i].aop;
            return shapes[i].shape;
        }
    }
    return SHAPE_NONE;
}

/* The generic handler: MMX/SSE and x87 (their own files' tables), else the table above. */
static EmuHandler *generic_for(const EmuInsn *in)
{
    EmuHandler *h = emu_sse_handler_for(in);

    if (!h) {
        h = emu_x87_handler_for(in->mnem);
    }
    return h ? h : emu_handler_for(in->mnem);
}

EmuHandler *emu_specialize(const EmuInsn *in)
{
    const EmuOp *a = &in->op[0], *b = &in->op[1];
    bool rr = in->nops == 2 && is_gpr(a) && is_gpr(b) && a->size == b->size && a->size >= 4;
    bool ri = in->nops == 2 && is_gpr(a) && b->kind == OPK_IMM && a->size >= 4;
    bool plain = !(in->flags & (INSN_LOCK | INSN_REP | INSN_REPNE));

    if (!plain) {
        return generic_for(in);
    }
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_MOV:
        if (rr) return h_mov_rr;
        if (ri) return h_mov_ri;
        if (is_gpr(a) && a->size >= 4 && b->kind == OPK_MEM) return h_mov_rm;
        if (is_gpr(b) && b->size >= 4 && a->kind == OPK_MEM && in->nops == 2) return h_mov_mr;
        break;
    case ZYDIS_MNEMONIC_ADD: if (rr) return h_add_rr; if (ri) return h_add_ri; break;
    case ZYDIS_MNEMONIC_OR:  if (rr) return h_or_rr;  if (ri) return h_or_ri;  break;
    case ZYDIS_MNEMONIC_AND: if (rr) return h_and_rr; if (ri) return h_and_ri; break;
    case ZYDIS_MNEMONIC_SUB: if (rr) return h_sub_rr; if (ri) return h_sub_ri; break;
    case ZYDIS_MNEMONIC_XOR: if (rr) return h_xor_rr; if (ri) return h_xor_ri; break;
    case ZYDIS_MNEMONIC_CMP: if (rr) return h_cmp_rr; if (ri) return h_cmp_ri; break;
    case ZYDIS_MNEMONIC_TEST: if (rr) return h_test_rr; break;
    case ZYDIS_MNEMONIC_LEA: if (is_gpr(a) && a->size >= 4) return h_lea; break;
    case ZYDIS_MNEMONIC_SHL: if (ri) return h_shl_ri; break;
    case ZYDIS_MNEMONIC_SHR: if (ri) return h_shr_ri; break;
    case ZYDIS_MNEMONIC_SAR: if (ri) return h_sar_ri; break;
    case ZYDIS_MNEMONIC_IMUL: if (rr && in->opcode == 0xAF) return h_imul_rr; break;
    case ZYDIS_MNEMONIC_CALL:
        if (in->nops == 1 && a->kind == OPK_IMM && !(in->flags & INSN_FAR) && in->opsize == 8) {
            return h_call_rel64;
        }
        break;
    case ZYDIS_MNEMONIC_RET:
        if (in->nops == 0 && in->opcode == 0xC3 && in->opsize == 8) {
            return h_ret64;
        }
        break;
    default:
        break;
    }
    return generic_for(in);
}

static void h_unimplemented(EmuCpu *c, const EmuInsn *in)
{
    emu_unimplemented(c, in);
}

/* ud0/ud1/ud2 are defined to raise #UD: nothing to report. */
static void h_ud(EmuCpu *c, const EmuInsn *in)
{
    (void)in;
    emu_ud(c);
}

EmuHandler *emu_handler_for(unsigned mnemonic)
{
    EmuHandler *h = mnemonic <= ZYDIS_MNEMONIC_MAX_VALUE && handlers[mnemonic] ?
                    handler_fns[handlers[mnemonic]] : NULL;

    if (mnemonic == ZYDIS_MNEMONIC_UD0 || mnemonic == ZYDIS_MNEMONIC_UD1 ||
        mnemonic == ZYDIS_MNEMONIC_UD2) {
        return h_ud;
    }

    return h ? h : h_unimplemented;
}

void emu_exec(EmuCpu *c, const EmuInsn *in)
{
    in->fn(c, in);
}

/* Runs one decoded instruction at c->rip; returns its fall-through address. */
static inline uint64_t exec_one(EmuCpu *c, const EmuInsn *in, uint64_t ripmask)
{
    uint64_t fall = (c->rip + in->len) & ripmask;

    c->insn_rip = c->rip;
    c->next_rip = fall;
    in->fn(c, in);
    c->rip = c->next_rip;
    return fall;
}

/* IP wraps at 16 bits in 16-bit code and at 32 bits outside long mode. */
static inline uint64_t rip_mask(const EmuCpu *c)
{
    return c->long64 ? ~0ull : c->mode == MODE_16 ? 0xFFFFull : 0xFFFFFFFFull;
}

void emu_step(EmuCpu *c)
{
    const EmuInsn *in;

    c->insn_rip = c->rip;        /* a fetch or decode fault reports this instruction */
    in = emu_fetch_decode(c);

    c->sti_shadow = false;       /* the shadow covered the previous instruction */
    exec_one(c, in, rip_mask(c));
}

/*
 * Runs b's generated code. If the last code to run left through a chain
 * slot towards this very rip, the slot now jumps to b's code (emu_jit_goto);
 * a slot kept from before an exception or a delivered interrupt is
 * dropped unless the rip is its target still (the target's code then
 * checks its host address and code generation, so even a different
 * mapping is safe).
 */
static unsigned run_jit(EmuCpu *c, EmuBlock *b)
{
    unsigned n;

    if (c->link_slot) {
        if (c->link_rip == c->rip) {
            emu_jit_link(c->link_slot, b->jit);
        }
        c->link_slot = NULL;
    }
    c->jit_slot = NULL;
    emu_jit_remember(c, b->jit);
    __atomic_store_n(&c->chain_max, EMU_CHAIN_INSNS, __ATOMIC_RELAXED);
    c->jit_flags = c->rflags;    /* blocks pass the flags on in the slot (emu-jit-flags.c) */
    n = b->jit(c, c->block_hva);
    c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (c->jit_flags & FL_ARITH);
    if (c->jit_slot && c->jit_slot_rip == c->rip) {
        c->link_slot = c->jit_slot;
        c->link_rip = c->rip;
    }
    return n;
}

unsigned emu_run_block(EmuCpu *c)
{
    EmuBlock *b;

    c->insn_rip = c->rip;        /* a fetch or decode fault reports this instruction */
    /*
     * The instruction in an sti or mov/pop ss shadow runs alone, so that
     * the loop takes a pending interrupt right after it. As the first block
     * of a chain it let up to EMU_CHAIN_INSNS more run first: Linux's loop
     * in try_to_generate_entropy() (irqs off but for the sti of each
     * spin_unlock_irq) then ended every chain with IF clear and never took
     * its timer interrupt again.
     */
    if (G_UNLIKELY(c->sti_shadow)) {
        emu_step(c);
        return 1;
    }
    b = emu_block_get(c);
    uint64_t ripmask = rip_mask(c);
    unsigned i;

    if (!b) {
        emu_step(c);
        return 1;
    }
    c->block_exit = false;
    if (b->jit) {
        unsigned n = run_jit(c, b);

        if (n) {
            return n;
        }
        /* The page was written since: the code goes on if the bytes are the same. */
        if (emu_block_recheck(c, b) && (n = run_jit(c, b))) {
            return n;
        }
        /* memory no longer holds the block's bytes: decode it again */
        if (!(b = emu_block_rebuild(c, b))) {
            emu_step(c);
            return 1;
        }
    }
    /* An interpreted block's bytes are current (emu_block_get or the rebuild
     * checked them): on its jit_after-th start it gets its code. */
    if (!b->jit && b->runs < c->jit_after && ++b->runs == c->jit_after &&
        !(b = emu_block_compile(c, b))) {
        emu_step(c);
        return 1;
    }
    if (b->jit) {
        return run_jit(c, b);
    }
    c->link_slot = NULL;
    for (i = 0; i < b->n;) {
        uint64_t fall = exec_one(c, &b->insn[i++], ripmask);

        /* A taken branch, a mode or paging change, hlt or a store into
         * this code page: the rest of the block may not apply any more. */
        if (c->next_rip != fall || c->block_exit) {
            break;
        }
    }
    return i;
}
