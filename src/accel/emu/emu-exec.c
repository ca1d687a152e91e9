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

/* Indexed by mnemonic; decoding stores the entry in EmuInsn.fn. */
static EmuHandler *const handlers[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
    [ZYDIS_MNEMONIC_ADC] = emu_h_adc,
    [ZYDIS_MNEMONIC_ADD] = emu_h_add,
    [ZYDIS_MNEMONIC_AND] = emu_h_and,
    [ZYDIS_MNEMONIC_BSF] = emu_h_arith,
    [ZYDIS_MNEMONIC_BSR] = emu_h_arith,
    [ZYDIS_MNEMONIC_BSWAP] = emu_h_data,
    [ZYDIS_MNEMONIC_BT] = emu_h_arith,
    [ZYDIS_MNEMONIC_BTC] = emu_h_arith,
    [ZYDIS_MNEMONIC_BTR] = emu_h_arith,
    [ZYDIS_MNEMONIC_BTS] = emu_h_arith,
    [ZYDIS_MNEMONIC_CALL] = emu_h_flow,
    [ZYDIS_MNEMONIC_CBW] = emu_h_data,
    [ZYDIS_MNEMONIC_CDQ] = emu_h_data,
    [ZYDIS_MNEMONIC_CDQE] = emu_h_data,
    [ZYDIS_MNEMONIC_CLC] = emu_h_sys,
    [ZYDIS_MNEMONIC_CLD] = emu_h_sys,
    [ZYDIS_MNEMONIC_CLFLUSH] = emu_h_sys,
    [ZYDIS_MNEMONIC_CLI] = emu_h_sys,
    [ZYDIS_MNEMONIC_CLTS] = emu_h_sys,
    [ZYDIS_MNEMONIC_CMC] = emu_h_sys,
    [ZYDIS_MNEMONIC_CMOVB] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVBE] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVL] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVLE] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVNB] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVNBE] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVNL] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVNLE] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVNO] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVNP] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVNS] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVNZ] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVO] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVP] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVS] = emu_h_data,
    [ZYDIS_MNEMONIC_CMOVZ] = emu_h_data,
    [ZYDIS_MNEMONIC_CMP] = emu_h_cmp,
    [ZYDIS_MNEMONIC_CMPSB] = emu_h_string,
    [ZYDIS_MNEMONIC_CMPSD] = emu_h_string,
    [ZYDIS_MNEMONIC_CMPSQ] = emu_h_string,
    [ZYDIS_MNEMONIC_CMPSW] = emu_h_string,
    [ZYDIS_MNEMONIC_CMPXCHG] = emu_h_data,
    [ZYDIS_MNEMONIC_CMPXCHG16B] = emu_h_data,
    [ZYDIS_MNEMONIC_CMPXCHG8B] = emu_h_data,
    [ZYDIS_MNEMONIC_CPUID] = emu_h_sys,
    [ZYDIS_MNEMONIC_CQO] = emu_h_data,
    [ZYDIS_MNEMONIC_CWD] = emu_h_data,
    [ZYDIS_MNEMONIC_CWDE] = emu_h_data,
    [ZYDIS_MNEMONIC_DEC] = emu_h_arith,
    [ZYDIS_MNEMONIC_DIV] = emu_h_arith,
    [ZYDIS_MNEMONIC_ENDBR32] = emu_h_sys,
    [ZYDIS_MNEMONIC_ENDBR64] = emu_h_sys,
    [ZYDIS_MNEMONIC_ENTER] = emu_h_stack,
    [ZYDIS_MNEMONIC_HLT] = emu_h_sys,
    [ZYDIS_MNEMONIC_IDIV] = emu_h_arith,
    [ZYDIS_MNEMONIC_IMUL] = emu_h_arith,
    [ZYDIS_MNEMONIC_IN] = emu_h_sys,
    [ZYDIS_MNEMONIC_INC] = emu_h_arith,
    [ZYDIS_MNEMONIC_INSB] = emu_h_string,
    [ZYDIS_MNEMONIC_INSD] = emu_h_string,
    [ZYDIS_MNEMONIC_INSW] = emu_h_string,
    [ZYDIS_MNEMONIC_INT] = emu_h_sys,
    [ZYDIS_MNEMONIC_INT1] = emu_h_sys,
    [ZYDIS_MNEMONIC_INT3] = emu_h_sys,
    [ZYDIS_MNEMONIC_INTO] = emu_h_sys,
    [ZYDIS_MNEMONIC_INVD] = emu_h_sys,
    [ZYDIS_MNEMONIC_INVLPG] = emu_h_sys,
    [ZYDIS_MNEMONIC_IRET] = emu_h_sys,
    [ZYDIS_MNEMONIC_IRETD] = emu_h_sys,
    [ZYDIS_MNEMONIC_IRETQ] = emu_h_sys,
    [ZYDIS_MNEMONIC_JB] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JBE] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JCXZ] = emu_h_flow,
    [ZYDIS_MNEMONIC_JECXZ] = emu_h_flow,
    [ZYDIS_MNEMONIC_JL] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JLE] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JMP] = emu_h_flow,
    [ZYDIS_MNEMONIC_JNB] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JNBE] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JNL] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JNLE] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JNO] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JNP] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JNS] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JNZ] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JO] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JP] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JRCXZ] = emu_h_flow,
    [ZYDIS_MNEMONIC_JS] = emu_h_jcc,
    [ZYDIS_MNEMONIC_JZ] = emu_h_jcc,
    [ZYDIS_MNEMONIC_LAHF] = emu_h_sys,
    [ZYDIS_MNEMONIC_LDS] = emu_h_sys,
    [ZYDIS_MNEMONIC_LEA] = emu_h_data,
    [ZYDIS_MNEMONIC_LEAVE] = emu_h_stack,
    [ZYDIS_MNEMONIC_LES] = emu_h_sys,
    [ZYDIS_MNEMONIC_LFENCE] = emu_h_sys,
    [ZYDIS_MNEMONIC_LFS] = emu_h_sys,
    [ZYDIS_MNEMONIC_LGDT] = emu_h_sys,
    [ZYDIS_MNEMONIC_LGS] = emu_h_sys,
    [ZYDIS_MNEMONIC_LIDT] = emu_h_sys,
    [ZYDIS_MNEMONIC_LLDT] = emu_h_sys,
    [ZYDIS_MNEMONIC_LMSW] = emu_h_sys,
    [ZYDIS_MNEMONIC_LODSB] = emu_h_string,
    [ZYDIS_MNEMONIC_LODSD] = emu_h_string,
    [ZYDIS_MNEMONIC_LODSQ] = emu_h_string,
    [ZYDIS_MNEMONIC_LODSW] = emu_h_string,
    [ZYDIS_MNEMONIC_LOOP] = emu_h_flow,
    [ZYDIS_MNEMONIC_LOOPE] = emu_h_flow,
    [ZYDIS_MNEMONIC_LOOPNE] = emu_h_flow,
    [ZYDIS_MNEMONIC_LSS] = emu_h_sys,
    [ZYDIS_MNEMONIC_LTR] = emu_h_sys,
    [ZYDIS_MNEMONIC_MFENCE] = emu_h_sys,
    [ZYDIS_MNEMONIC_MOV] = emu_h_mov,
    [ZYDIS_MNEMONIC_MOVSB] = emu_h_string,
    [ZYDIS_MNEMONIC_MOVSD] = emu_h_string,
    [ZYDIS_MNEMONIC_MOVSQ] = emu_h_string,
    [ZYDIS_MNEMONIC_MOVSW] = emu_h_string,
    [ZYDIS_MNEMONIC_MOVSX] = emu_h_data,
    [ZYDIS_MNEMONIC_MOVSXD] = emu_h_data,
    [ZYDIS_MNEMONIC_MOVZX] = emu_h_data,
    [ZYDIS_MNEMONIC_MUL] = emu_h_arith,
    [ZYDIS_MNEMONIC_NEG] = emu_h_arith,
    [ZYDIS_MNEMONIC_NOP] = emu_h_sys,
    [ZYDIS_MNEMONIC_NOT] = emu_h_arith,
    [ZYDIS_MNEMONIC_OR] = emu_h_or,
    [ZYDIS_MNEMONIC_OUT] = emu_h_sys,
    [ZYDIS_MNEMONIC_OUTSB] = emu_h_string,
    [ZYDIS_MNEMONIC_OUTSD] = emu_h_string,
    [ZYDIS_MNEMONIC_OUTSW] = emu_h_string,
    [ZYDIS_MNEMONIC_PAUSE] = emu_h_sys,
    [ZYDIS_MNEMONIC_POP] = emu_h_stack,
    [ZYDIS_MNEMONIC_POPA] = emu_h_stack,
    [ZYDIS_MNEMONIC_POPAD] = emu_h_stack,
    [ZYDIS_MNEMONIC_POPF] = emu_h_stack,
    [ZYDIS_MNEMONIC_POPFD] = emu_h_stack,
    [ZYDIS_MNEMONIC_POPFQ] = emu_h_stack,
    [ZYDIS_MNEMONIC_PREFETCH] = emu_h_sys,
    [ZYDIS_MNEMONIC_PREFETCHNTA] = emu_h_sys,
    [ZYDIS_MNEMONIC_PREFETCHT0] = emu_h_sys,
    [ZYDIS_MNEMONIC_PREFETCHT1] = emu_h_sys,
    [ZYDIS_MNEMONIC_PREFETCHT2] = emu_h_sys,
    [ZYDIS_MNEMONIC_PREFETCHW] = emu_h_sys,
    [ZYDIS_MNEMONIC_PUSH] = emu_h_stack,
    [ZYDIS_MNEMONIC_PUSHA] = emu_h_stack,
    [ZYDIS_MNEMONIC_PUSHAD] = emu_h_stack,
    [ZYDIS_MNEMONIC_PUSHF] = emu_h_stack,
    [ZYDIS_MNEMONIC_PUSHFD] = emu_h_stack,
    [ZYDIS_MNEMONIC_PUSHFQ] = emu_h_stack,
    [ZYDIS_MNEMONIC_RCL] = emu_h_arith,
    [ZYDIS_MNEMONIC_RCR] = emu_h_arith,
    [ZYDIS_MNEMONIC_RDMSR] = emu_h_sys,
    [ZYDIS_MNEMONIC_RDTSC] = emu_h_sys,
    [ZYDIS_MNEMONIC_RDTSCP] = emu_h_sys,
    [ZYDIS_MNEMONIC_RET] = emu_h_flow,
    [ZYDIS_MNEMONIC_ROL] = emu_h_arith,
    [ZYDIS_MNEMONIC_ROR] = emu_h_arith,
    [ZYDIS_MNEMONIC_SAHF] = emu_h_sys,
    [ZYDIS_MNEMONIC_SAR] = emu_h_arith,
    [ZYDIS_MNEMONIC_SBB] = emu_h_sbb,
    [ZYDIS_MNEMONIC_SCASB] = emu_h_string,
    [ZYDIS_MNEMONIC_SCASD] = emu_h_string,
    [ZYDIS_MNEMONIC_SCASQ] = emu_h_string,
    [ZYDIS_MNEMONIC_SCASW] = emu_h_string,
    [ZYDIS_MNEMONIC_SETB] = emu_h_data,
    [ZYDIS_MNEMONIC_SETBE] = emu_h_data,
    [ZYDIS_MNEMONIC_SETL] = emu_h_data,
    [ZYDIS_MNEMONIC_SETLE] = emu_h_data,
    [ZYDIS_MNEMONIC_SETNB] = emu_h_data,
    [ZYDIS_MNEMONIC_SETNBE] = emu_h_data,
    [ZYDIS_MNEMONIC_SETNL] = emu_h_data,
    [ZYDIS_MNEMONIC_SETNLE] = emu_h_data,
    [ZYDIS_MNEMONIC_SETNO] = emu_h_data,
    [ZYDIS_MNEMONIC_SETNP] = emu_h_data,
    [ZYDIS_MNEMONIC_SETNS] = emu_h_data,
    [ZYDIS_MNEMONIC_SETNZ] = emu_h_data,
    [ZYDIS_MNEMONIC_SETO] = emu_h_data,
    [ZYDIS_MNEMONIC_SETP] = emu_h_data,
    [ZYDIS_MNEMONIC_SETS] = emu_h_data,
    [ZYDIS_MNEMONIC_SETZ] = emu_h_data,
    [ZYDIS_MNEMONIC_SFENCE] = emu_h_sys,
    [ZYDIS_MNEMONIC_SGDT] = emu_h_sys,
    [ZYDIS_MNEMONIC_SHL] = emu_h_arith,
    [ZYDIS_MNEMONIC_SHLD] = emu_h_arith,
    [ZYDIS_MNEMONIC_SHR] = emu_h_arith,
    [ZYDIS_MNEMONIC_SHRD] = emu_h_arith,
    [ZYDIS_MNEMONIC_SIDT] = emu_h_sys,
    [ZYDIS_MNEMONIC_SLDT] = emu_h_sys,
    [ZYDIS_MNEMONIC_SMSW] = emu_h_sys,
    [ZYDIS_MNEMONIC_STC] = emu_h_sys,
    [ZYDIS_MNEMONIC_STD] = emu_h_sys,
    [ZYDIS_MNEMONIC_STI] = emu_h_sys,
    [ZYDIS_MNEMONIC_STOSB] = emu_h_string,
    [ZYDIS_MNEMONIC_STOSD] = emu_h_string,
    [ZYDIS_MNEMONIC_STOSQ] = emu_h_string,
    [ZYDIS_MNEMONIC_STOSW] = emu_h_string,
    [ZYDIS_MNEMONIC_STR] = emu_h_sys,
    [ZYDIS_MNEMONIC_SUB] = emu_h_sub,
    [ZYDIS_MNEMONIC_SWAPGS] = emu_h_sys,
    [ZYDIS_MNEMONIC_SYSCALL] = emu_h_sys,
    [ZYDIS_MNEMONIC_SYSRET] = emu_h_sys,
    [ZYDIS_MNEMONIC_TEST] = emu_h_test,
    [ZYDIS_MNEMONIC_WBINVD] = emu_h_sys,
    [ZYDIS_MNEMONIC_WRMSR] = emu_h_sys,
    [ZYDIS_MNEMONIC_XADD] = emu_h_data,
    [ZYDIS_MNEMONIC_XCHG] = emu_h_data,
    [ZYDIS_MNEMONIC_XLAT] = emu_h_data,
    [ZYDIS_MNEMONIC_XOR] = emu_h_xor,
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
    emu_note_store(c, p);
    emu_st(p, s, c->gpr[in->op[1].reg]);
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
    emu_note_store(c, p);
    emu_st(p, 8, c->next_rip);
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

EmuHandler *emu_specialize(const EmuInsn *in)
{
    const EmuOp *a = &in->op[0], *b = &in->op[1];
    bool rr = in->nops == 2 && is_gpr(a) && is_gpr(b) && a->size == b->size && a->size >= 4;
    bool ri = in->nops == 2 && is_gpr(a) && b->kind == OPK_IMM && a->size >= 4;
    bool plain = !(in->flags & (INSN_LOCK | INSN_REP | INSN_REPNE));

    if (!plain) {
        return emu_handler_for(in->mnem);
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
    return emu_handler_for(in->mnem);
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
    EmuHandler *h = mnemonic <= ZYDIS_MNEMONIC_MAX_VALUE ? handlers[mnemonic] : NULL;

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

unsigned emu_run_block(EmuCpu *c)
{
    EmuBlock *b;

    c->insn_rip = c->rip;        /* a fetch or decode fault reports this instruction */
    b = emu_block_get(c);
    uint64_t ripmask = rip_mask(c);
    unsigned i;

    if (!b) {
        emu_step(c);
        return 1;
    }
    c->block_exit = false;
    /* sti and mov/pop ss end their block, so a shadow they set covers
     * exactly this block's first instruction: interrupts are only taken
     * between blocks. */
    c->sti_shadow = false;
    if (b->jit) {
        unsigned n = b->jit(c, c->block_hva);

        if (n) {
            return n;
        }
        /* memory no longer holds the block's bytes: decode it again */
        if (!(b = emu_block_rebuild(c, b))) {
            emu_step(c);
            return 1;
        }
        if (b->jit) {
            return b->jit(c, c->block_hva);
        }
    }
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
