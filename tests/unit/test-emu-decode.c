/*
 * Decoder oracle for the emu CPU: the interpreter's decode path
 * (emu_decode_bytes, Zydis underneath) against an independent decoder,
 * Capstone 4.
 *
 * Random byte streams in 16-, 32- and 64-bit mode check instruction
 * LENGTHS (which decide where the interpreter fetches next) and, for the
 * general-purpose integer instructions, OPERANDS: registers, memory
 * base/index/scale/displacement/segment, immediates and branch targets
 * (which is what the interpreter executes). A curated table of encodings
 * (mov/add/lea/push/jcc/... with memory operands, 66/67/F2/F3/REX/segment
 * prefixes, system instructions) checks operands on known cases.
 *
 * Two decoders disagree on corners of the ISA. Every exclusion below says
 * why; in each Zydis follows the SDM, the difference is only one of
 * presentation, or the encoding is reserved. Disagreements are printed.
 */
#include <stdlib.h>
#include <string.h>
#include <capstone/capstone.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-cpu.h"

#define STREAMS_PER_MODE 200000
#define STREAM_LEN 15

static EmuCpu *dec_cpu;
static csh cs_handle[3];

static const cs_mode cs_modes[3] = {
    [MODE_16] = CS_MODE_16, [MODE_32] = CS_MODE_32, [MODE_64] = CS_MODE_64,
};

static void hex_string(char *out, size_t out_len, const uint8_t *b, size_t n)
{
    size_t o = 0;

    out[0] = 0;
    for (size_t i = 0; i < n && o + 4 < out_len; i++) {
        o += (size_t)g_snprintf(out + o, out_len - o, "%s%02x", i ? " " : "", b[i]);
    }
}

static size_t parse_hex(const char *hex, uint8_t *buf, size_t max)
{
    size_t n = 0;

    while (*hex && n < max) {
        char *end;

        buf[n++] = (uint8_t)strtoul(hex, &end, 16);
        g_assert_true(end != hex);
        hex = end;
    }
    return n;
}

static uint64_t mask_bytes(unsigned size)
{
    return size >= 8 || size == 0 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Whether prefix byte `b` precedes the opcode (legacy prefixes and REX). */
static bool has_prefix(int mode, const uint8_t *buf, size_t len, uint8_t b)
{
    static const uint8_t legacy[] = { 0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x36, 0x3E, 0x26,
                                      0x64, 0x65 };

    for (size_t i = 0; i < len; i++) {
        bool rex = mode == MODE_64 && (buf[i] & 0xF0) == 0x40;

        if (!rex && !memchr(legacy, buf[i], sizeof(legacy))) {
            return false;
        }
        if (buf[i] == b) {
            return true;
        }
    }
    return false;
}

/* Capstone register -> the interpreter's register number (EmuOp.reg). */
static uint8_t cs_reg_to_emu(int mode, x86_reg reg)
{
    static const char *const names[4][16] = {
        { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
          "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" },
        { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
          "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d" },
        { "ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
          "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w" },
        { "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
          "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b" },
    };
    static const char *const high8[4] = { "ah", "ch", "dh", "bh" };
    static const char *const segs[6] = { "es", "cs", "ss", "ds", "fs", "gs" };
    const char *n;

    if (reg == X86_REG_INVALID) {
        return EREG_NONE;
    }
    n = cs_reg_name(cs_handle[mode], reg);
    for (unsigned i = 0; i < 16; i++) {
        for (unsigned s = 0; s < 4; s++) {
            if (!strcmp(n, names[s][i])) {
                return (uint8_t)i;
            }
        }
    }
    for (unsigned i = 0; i < 4; i++) {
        if (!strcmp(n, high8[i])) {
            return (uint8_t)(EREG_HIGH8 + i);
        }
    }
    for (unsigned i = 0; i < 6; i++) {
        if (!strcmp(n, segs[i])) {
            return (uint8_t)(EREG_SEG + i);
        }
    }
    if (!strcmp(n, "rip") || !strcmp(n, "eip") || !strcmp(n, "ip")) {
        return EREG_RIP;
    }
    if (n[0] == 'c' && n[1] == 'r') {
        return (uint8_t)(EREG_CR + atoi(n + 2));
    }
    if (n[0] == 'd' && n[1] == 'r') {
        return (uint8_t)(EREG_DR + atoi(n + 2));
    }
    return 0xEE;             /* a register the interpreter has no number for */
}

static bool cs_has_group(const cs_insn *ci, uint8_t grp)
{
    for (unsigned i = 0; i < ci->detail->groups_count; i++) {
        if (ci->detail->groups[i] == grp) {
            return true;
        }
    }
    return false;
}

/* ---- operands ---- */

/* One instruction as both decoders see it. */
typedef struct Pair {
    int mode;
    const uint8_t *buf;
    EmuInsn in;
    const cs_insn *ci;
    GString *why;            /* the differences found */
} Pair;

static const cs_x86_op *cs_op(const Pair *p, unsigned i)
{
    return &p->ci->detail->x86.operands[i];
}

/*
 * Capstone gives a segment only for an override, the interpreter the
 * effective one. In 64-bit mode ES/CS/SS/DS overrides are ignored (SDM
 * 3.3.7.1): Zydis drops them, also when they follow an FS/GS prefix (which
 * then stays in effect: on an AMD EPYC host "64 3e 48 8b 03" reads through
 * FS), while Capstone prints the last segment prefix.
 */
static bool same_seg(const Pair *p, uint8_t cs_seg, uint8_t emu_seg)
{
    size_t len = p->in.len;

    if (cs_seg == EREG_NONE || cs_seg == EREG_SEG + emu_seg) {
        return true;
    }
    if (p->mode != MODE_64 || cs_seg >= EREG_SEG + S_FS) {
        return false;
    }
    return emu_seg < S_FS || (emu_seg == S_FS && has_prefix(p->mode, p->buf, len, 0x64)) ||
           (emu_seg == S_GS && has_prefix(p->mode, p->buf, len, 0x65));
}

static void same_mem(Pair *p, unsigned i)
{
    const EmuOp *o = &p->in.op[i];
    const x86_op_mem *m = &cs_op(p, i)->mem;
    uint64_t am = mask_bytes(p->in.addrsize);
    uint8_t seg = cs_reg_to_emu(p->mode, m->segment);
    /* LEA computes an address: no segment applies (Zydis drops it). */
    bool lea = p->in.mnem == ZYDIS_MNEMONIC_LEA;

    if (o->kind == OPK_MEM && o->base == cs_reg_to_emu(p->mode, m->base) &&
        o->index == cs_reg_to_emu(p->mode, m->index) &&
        (o->index == EREG_NONE || o->scale == m->scale) &&
        ((uint64_t)o->val & am) == ((uint64_t)m->disp & am) &&
        (lea || same_seg(p, seg, o->seg))) {
        return;
    }
    g_string_append_printf(p->why, " op%u mem: emu base %u index %u scale %u disp 0x%"
                           G_GINT64_MODIFIER "x seg %u, capstone base %u index %u scale %d disp 0x%"
                           G_GINT64_MODIFIER "x seg %u;", i, o->base, o->index, o->scale,
                           (guint64)o->val, o->seg, cs_reg_to_emu(p->mode, m->base),
                           cs_reg_to_emu(p->mode, m->index), m->scale, (guint64)m->disp, seg);
}

/*
 * Relative branch targets. Capstone gives the target (address 0 + length
 * + rel), Zydis the displacement; the interpreter wraps the target to the
 * operand size outside 64-bit mode. Capstone 4 truncates targets to 16 bits
 * in 16-bit mode even with a 66 prefix (EIP is 32 bits there), when a 67
 * prefix is present (which does not apply to IP), and in 64-bit mode with
 * a 66 prefix also when REX.W makes the operand 64-bit (Intel ignores 66
 * on near branches there), so only the low 16 bits are comparable then.
 */
static void same_target(Pair *p, unsigned i)
{
    uint64_t ipm = p->mode == MODE_64 ? ~0ull : mask_bytes(p->in.opsize);
    uint64_t v = (p->in.len + (uint64_t)p->in.op[i].val) & ipm;
    uint64_t want = (uint64_t)cs_op(p, i)->imm & ipm;

    if (p->mode == MODE_16 || has_prefix(p->mode, p->buf, p->in.len, 0x67) ||
        (p->mode == MODE_64 && has_prefix(p->mode, p->buf, p->in.len, 0x66))) {
        v &= 0xFFFF;
        want &= 0xFFFF;
    }
    if (p->in.op[i].kind != OPK_IMM || v != want) {
        g_string_append_printf(p->why, " op%u target: emu 0x%" G_GINT64_MODIFIER "x, capstone 0x%"
                               G_GINT64_MODIFIER "x;", i, (guint64)v, (guint64)want);
    }
}

/*
 * Immediates, compared in the operation's width (Capstone's operand size:
 * Zydis reports the encoded width instead and sign-extends the value). The
 * immediates of ENTER and RET/RETF imm16 are unsigned; Capstone 4
 * sign-extends them. Capstone 4 reports PUSH imm16 (66 68) zero-extended
 * to its 8-byte size and does not sign-extend PUSH imm32 when a REX prefix
 * is present. Those compare in the encoded width.
 */
static void same_imm(Pair *p, unsigned i)
{
    const EmuOp *o = &p->in.op[i];
    ZydisMnemonic mn = p->in.mnem;
    bool encoded = mn == ZYDIS_MNEMONIC_ENTER || mn == ZYDIS_MNEMONIC_RET ||
                   mn == ZYDIS_MNEMONIC_PUSH;
    uint64_t m = mask_bytes(encoded ? o->size : cs_op(p, i)->size);

    if (cs_has_group(p->ci, X86_GRP_BRANCH_RELATIVE)) {
        same_target(p, i);
    } else if (o->kind != OPK_IMM || ((uint64_t)o->val & m) != ((uint64_t)cs_op(p, i)->imm & m)) {
        g_string_append_printf(p->why, " op%u imm: emu kind %u 0x%" G_GINT64_MODIFIER
                               "x, capstone 0x%" G_GINT64_MODIFIER "x;", i, o->kind,
                               (guint64)o->val, (guint64)cs_op(p, i)->imm);
    }
}

static void same_operand(Pair *p, unsigned i)
{
    const EmuOp *o = &p->in.op[i];
    const cs_x86_op *co = cs_op(p, i);

    switch (co->type) {
    case X86_OP_REG:
        if (o->kind != OPK_REG || o->reg != cs_reg_to_emu(p->mode, co->reg)) {
            g_string_append_printf(p->why, " op%u reg: emu kind %u reg %u, capstone %s;", i,
                                   o->kind, o->reg, cs_reg_name(cs_handle[p->mode], co->reg));
        }
        break;
    case X86_OP_MEM:
        same_mem(p, i);
        break;
    case X86_OP_IMM:
        same_imm(p, i);
        break;
    default:
        g_string_append_printf(p->why, " op%u: capstone type %d;", i, co->type);
        break;
    }
}

static bool is_sreg(uint8_t r)
{
    return r >= EREG_SEG && r < EREG_SEG + 6;
}

/*
 * Sizes of register and memory operands where Capstone 4's differ from the
 * SDM's (Zydis follows the SDM):
 *  - MOV to/from a segment register moves 16 bits; Capstone names the
 *    operand-size GPR (MOV ds, eax);
 *  - MOVSXD without REX.W is MOVSXD r32, r/m32 or (66) r16, r/m16;
 *    Capstone always says r64, r/m32;
 *  - IN/OUT with REX.W and 66: REX.W wins (SDM 2.2.1.2) and the port size
 *    is 32; Capstone applies the 66;
 *  - far pointers in memory (LDS..LSS, JMP/CALL m16:16/32/64): Zydis
 *    counts selector + offset, Capstone varies (only the offset for LDS,
 *    always m16:64 for far JMP/CALL in 64-bit mode, which is m16:32 without
 *    REX.W);
 *  - LEA's operand is an address, not an access (Zydis: address size);
 *  - CLFLUSH/CLFLUSHOPT: Zydis gives the cache line (64), Capstone a byte.
 * Immediates are compared by value only (see same_imm).
 */
static bool size_exempt(const Pair *p, unsigned i)
{
    const EmuInsn *in = &p->in;
    ZydisMnemonic m = in->mnem;
    bool far_load = m == ZYDIS_MNEMONIC_LDS || m == ZYDIS_MNEMONIC_LES ||
                    m == ZYDIS_MNEMONIC_LFS || m == ZYDIS_MNEMONIC_LGS || m == ZYDIS_MNEMONIC_LSS;

    if (cs_op(p, i)->type == X86_OP_IMM || m == ZYDIS_MNEMONIC_LEA) {
        return true;
    }
    if (m == ZYDIS_MNEMONIC_MOV && in->nops == 2 &&
        (is_sreg(in->op[0].reg) || is_sreg(in->op[1].reg))) {
        return true;
    }
    if ((m == ZYDIS_MNEMONIC_MOVSXD && in->opsize != 8) || m == ZYDIS_MNEMONIC_CLFLUSH ||
        m == ZYDIS_MNEMONIC_CLFLUSHOPT) {
        return true;
    }
    if ((m == ZYDIS_MNEMONIC_IN || m == ZYDIS_MNEMONIC_OUT) && in->op[i].size == 4) {
        return true;
    }
    return cs_op(p, i)->type == X86_OP_MEM && (far_load || (in->flags & INSN_FAR));
}

static void same_size(Pair *p, unsigned i)
{
    unsigned cs = cs_op(p, i)->size, emu = p->in.op[i].size;

    if (cs && emu && cs != emu && !size_exempt(p, i)) {
        g_string_append_printf(p->why, " op%u size: emu %u, capstone %u;", i, emu, cs);
    }
}

static bool is_string_insn(const Pair *p)
{
    static const char *const names[] = { "movs", "cmps", "stos", "lods", "scas", "ins", "outs" };
    const char *m = p->ci->mnemonic;

    if (!strncmp(m, "rep ", 4) || !strncmp(m, "repe ", 5) || !strncmp(m, "repne ", 6)) {
        m = strchr(m, ' ') + 1;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        size_t n = strlen(names[i]);

        /* movsb..movsq, but not movsx nor the SSE movsd/cmpsd of map 0F */
        if (!strncmp(m, names[i], n) && strlen(m) == n + 1 && strchr("bwdq", m[n]) &&
            p->in.opmap == ZYDIS_OPCODE_MAP_DEFAULT) {
            return true;
        }
    }
    return false;
}

/*
 * String instructions: Zydis keeps their operands hidden (the interpreter
 * uses rSI/rDI/rAX itself), Capstone lists them. What the interpreter takes
 * from the decoder is the segment override of the source, so check that
 * against Capstone's [rSI] operand.
 */
static void diff_string(Pair *p)
{
    uint8_t ovr = p->in.seg_override == S_NONE ? S_DS : p->in.seg_override;

    for (unsigned i = 0; i < p->ci->detail->x86.op_count; i++) {
        const cs_x86_op *co = cs_op(p, i);

        if (co->type == X86_OP_MEM && cs_reg_to_emu(p->mode, co->mem.base) == R_SI &&
            !same_seg(p, cs_reg_to_emu(p->mode, co->mem.segment), ovr)) {
            g_string_append_printf(p->why, " string source segment: emu %u, capstone %s;", ovr,
                                   cs_reg_name(cs_handle[p->mode], co->mem.segment));
        }
    }
}

/* Far JMP/CALL ptr16:16/32: one pointer operand in Zydis, two immediates
 * (selector, offset) in Capstone. */
static void diff_far_ptr(Pair *p)
{
    const EmuOp *o = &p->in.op[0];

    if (o->ptr_sel != (uint64_t)cs_op(p, 0)->imm || (uint64_t)o->val != (uint64_t)cs_op(p, 1)->imm) {
        g_string_append_printf(p->why, " far pointer: emu %x:%" G_GINT64_MODIFIER "x, capstone %"
                               G_GINT64_MODIFIER "x:%" G_GINT64_MODIFIER "x;", o->ptr_sel,
                               (guint64)o->val, (guint64)cs_op(p, 0)->imm,
                               (guint64)cs_op(p, 1)->imm);
    }
}

/* XCHG is symmetric and the two decoders order the operands of 90+r
 * differently (Zydis: r, rAX; Capstone: rAX, r). */
static bool swapped_xchg(const Pair *p)
{
    const EmuInsn *in = &p->in;

    return in->mnem == ZYDIS_MNEMONIC_XCHG && in->nops == 2 && in->op[0].kind == OPK_REG &&
           in->op[1].kind == OPK_REG && cs_op(p, 0)->type == X86_OP_REG &&
           cs_op(p, 1)->type == X86_OP_REG &&
           in->op[0].reg == cs_reg_to_emu(p->mode, cs_op(p, 1)->reg) &&
           in->op[1].reg == cs_reg_to_emu(p->mode, cs_op(p, 0)->reg);
}

static void diff_operands(Pair *p)
{
    const EmuInsn *in = &p->in;
    unsigned cs_n = p->ci->detail->x86.op_count;

    if (is_string_insn(p)) {
        diff_string(p);
    } else if (in->mnem == ZYDIS_MNEMONIC_XCHG && !strcmp(p->ci->mnemonic, "nop")) {
        /* 66 REX.B 90 is XCHG r8w, ax (SDM "XCHG"; the host CPU agrees);
         * Capstone 4 decodes a NOP. */
    } else if (in->mnem == ZYDIS_MNEMONIC_NOP) {
        /* Hint NOPs: Zydis shows the ModR/M reg operand, Capstone does not;
         * the interpreter ignores both. */
    } else if (in->nops == 1 && in->op[0].kind == OPK_PTR && cs_n == 2) {
        diff_far_ptr(p);
    } else if ((in->mnem == ZYDIS_MNEMONIC_AAM || in->mnem == ZYDIS_MNEMONIC_AAD) && cs_n == 0 &&
               in->nops == 1 && in->op[0].val == 10) {
        /* Capstone omits the default base 10 of AAM/AAD. */
    } else if (in->nops != cs_n) {
        g_string_append_printf(p->why, " operand count: emu %u, capstone %u;", in->nops, cs_n);
    } else if (!swapped_xchg(p)) {
        for (unsigned i = 0; i < in->nops; i++) {
            same_operand(p, i);
            same_size(p, i);
        }
    }
}

/* Compares the operands of the instruction at `buf` (`len` bytes available);
 * returns a description of the differences, or NULL when they agree. With
 * want_len, the instruction must be exactly that long. */
static char *operand_diff(int mode, const uint8_t *buf, size_t len, size_t want_len)
{
    Pair p = { .mode = mode, .buf = buf, .why = g_string_new(NULL) };
    cs_insn *ci = NULL;
    bool emu_ok = emu_decode_bytes(dec_cpu->decoders, mode, buf, len, &p.in);
    size_t n = cs_disasm(cs_handle[mode], buf, len, 0, 1, &ci);

    p.ci = ci;
    if (!emu_ok || !n) {
        g_string_append_printf(p.why, " decoded: emu %d, capstone %d;", emu_ok, n != 0);
    } else if (p.in.len != ci->size || (want_len && p.in.len != want_len)) {
        g_string_append_printf(p.why, " length: emu %u, capstone %u, expected %zu;", p.in.len,
                               ci->size, want_len);
    } else {
        diff_operands(&p);
    }
    if (n) {
        if (p.why->len) {
            g_string_append_printf(p.why, " (capstone: %s %s)", ci->mnemonic, ci->op_str);
        }
        cs_free(ci, n);
    }
    return g_string_free(p.why, p.why->len == 0);
}

/* ---- lengths ---- */

/*
 * ISA sets of the general-purpose integer and system instructions. Every
 * other ISA set (x87, MMX, SSE*, AVX*, AMD 3DNow!, VT-x/SVM, SGX, MPX, TSX,
 * CET, Key Locker, PadLock, ...) is excluded: the interpreter does not
 * execute them (they raise #UD) and Capstone 4 lags Zydis on them, so a
 * length disagreement there says nothing about the interpreter. Only the
 * legacy encoding in the one-byte and 0F maps is compared (VEX/EVEX/XOP
 * and the 0F38/0F3A maps hold no instruction the interpreter runs).
 */
static const ZydisISASet gp_isa_sets[] = {
    ZYDIS_ISA_SET_I86, ZYDIS_ISA_SET_I186, ZYDIS_ISA_SET_I286REAL,
    ZYDIS_ISA_SET_I286PROTECTED, ZYDIS_ISA_SET_I386, ZYDIS_ISA_SET_I486,
    ZYDIS_ISA_SET_I486REAL, ZYDIS_ISA_SET_PENTIUMREAL, ZYDIS_ISA_SET_PPRO,
    ZYDIS_ISA_SET_CMOV, ZYDIS_ISA_SET_LAHF, ZYDIS_ISA_SET_LONGMODE,
    ZYDIS_ISA_SET_CMPXCHG16B, ZYDIS_ISA_SET_RDTSCP, ZYDIS_ISA_SET_PAUSE,
    ZYDIS_ISA_SET_FAT_NOP, ZYDIS_ISA_SET_CLFSH, ZYDIS_ISA_SET_POPCNT,
    ZYDIS_ISA_SET_LZCNT, ZYDIS_ISA_SET_RDRAND, ZYDIS_ISA_SET_RDSEED,
    ZYDIS_ISA_SET_SMAP, ZYDIS_ISA_SET_MONITOR, ZYDIS_ISA_SET_FXSAVE,
    ZYDIS_ISA_SET_FXSAVE64, ZYDIS_ISA_SET_XSAVE, ZYDIS_ISA_SET_RDPID,
    ZYDIS_ISA_SET_RDWRFSGS, ZYDIS_ISA_SET_RDPMC,
};

static bool in_list(const int *list, size_t n, int v)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i] == v) {
            return true;
        }
    }
    return false;
}

static bool gp_insn(const ZydisDecodedInstruction *zi)
{
    return zi->encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY &&
           zi->opcode_map <= ZYDIS_OPCODE_MAP_0F &&
           in_list((const int *)gp_isa_sets, G_N_ELEMENTS(gp_isa_sets), zi->meta.isa_set);
}

/*
 * Categories whose operands are compared on random streams: the integer
 * instructions the interpreter executes from their decoded operands. The
 * x87 instructions of the P6 ISA set (FCOMI...), cache/XSAVE-area
 * instructions (whose memory "size" is a line or an area) and the system
 * instructions are left to the length comparison and the curated table.
 */
static const ZydisInstructionCategory gp_operand_categories[] = {
    ZYDIS_CATEGORY_BINARY, ZYDIS_CATEGORY_LOGICAL, ZYDIS_CATEGORY_SHIFT,
    ZYDIS_CATEGORY_ROTATE, ZYDIS_CATEGORY_BITBYTE, ZYDIS_CATEGORY_DATAXFER,
    ZYDIS_CATEGORY_CMOV, ZYDIS_CATEGORY_SETCC, ZYDIS_CATEGORY_COND_BR,
    ZYDIS_CATEGORY_UNCOND_BR, ZYDIS_CATEGORY_CALL, ZYDIS_CATEGORY_RET,
    ZYDIS_CATEGORY_PUSH, ZYDIS_CATEGORY_POP, ZYDIS_CATEGORY_STRINGOP,
    ZYDIS_CATEGORY_IOSTRINGOP, ZYDIS_CATEGORY_CONVERT, ZYDIS_CATEGORY_FLAGOP,
    ZYDIS_CATEGORY_SEMAPHORE, ZYDIS_CATEGORY_MISC, ZYDIS_CATEGORY_IO,
    ZYDIS_CATEGORY_INTERRUPT, ZYDIS_CATEGORY_SEGOP, ZYDIS_CATEGORY_DECIMAL,
};

/*
 * Capstone 4 treats 66 as a possible mandatory prefix when F2 or F3 is also
 * present and then reports 32-bit operand sizes and immediates for what the
 * CPU (and Zydis) execute as 16-bit operations ("66 f2 bd bc c1" is
 * "mov bp, 0xc1bc", Capstone says size 4). Such instructions are only
 * length-compared.
 */
static bool capstone_66_f2f3(int mode, const uint8_t *buf, size_t len)
{
    return has_prefix(mode, buf, len, 0x66) &&
           (has_prefix(mode, buf, len, 0xF2) || has_prefix(mode, buf, len, 0xF3));
}

/*
 * Documented length disagreements between Zydis 4 and Capstone 4. In each
 * Zydis (and so the interpreter) follows the Intel SDM and Capstone does
 * not; each predicate also checks the size of the difference, so any other
 * disagreement on the same instruction is still reported.
 */

/* UD0 (0F FF) and UD1 (0F B9) take a ModR/M byte (SDM, "UD - Undefined
 * Instruction"); Capstone 4 decodes both as two-byte opcodes. They raise
 * #UD either way, but the length is the SDM's. */
static bool known_ud0_ud1(const ZydisDecodedInstruction *zi, int mode, unsigned cs_len)
{
    return zi->mnemonic == ZYDIS_MNEMONIC_UD0 || zi->mnemonic == ZYDIS_MNEMONIC_UD1;
}

/* Near JMP/Jcc/CALL rel and RET imm16 in 64-bit mode with 66 (or 67): Intel
 * CPUs ignore the operand-size prefix there (the operand is 64-bit and the
 * displacement rel32: SDM "JMP", "CALL", 64-bit mode notes), as Zydis and
 * the interpreter do. Capstone 4 decodes the AMD rel16 form, also for a 67
 * prefix with REX.W, and gives RET imm16 a 4-byte immediate when 67 and
 * REX.W are present. */
static bool known_branch_opsize_64(const ZydisDecodedInstruction *zi, int mode, unsigned cs_len)
{
    static const int cats[] = { ZYDIS_CATEGORY_COND_BR, ZYDIS_CATEGORY_UNCOND_BR,
                                ZYDIS_CATEGORY_CALL, ZYDIS_CATEGORY_RET };

    return mode == MODE_64 && in_list(cats, G_N_ELEMENTS(cats), zi->meta.category) &&
           (zi->attributes & (ZYDIS_ATTRIB_HAS_OPERANDSIZE | ZYDIS_ATTRIB_HAS_ADDRESSSIZE)) &&
           (cs_len + 2 == zi->length + 0u || cs_len == zi->length + 2u);
}

static bool zydis_has_prefix(const ZydisDecodedInstruction *zi, uint8_t b)
{
    for (unsigned i = 0; i < zi->raw.prefix_count; i++) {
        if (zi->raw.prefixes[i].value == b) {
            return true;
        }
    }
    return false;
}

/* 66 together with F2 on PUSH imm / CALL rel / JMP rel: Capstone 4 takes the
 * F2 as a BND prefix and then drops the operand-size prefix, decoding a
 * 32-bit immediate; the CPU uses the 16-bit form. */
static bool known_f2_drops_66(const ZydisDecodedInstruction *zi, int mode, unsigned cs_len)
{
    return zydis_has_prefix(zi, 0x66) && zydis_has_prefix(zi, 0xF2) &&
           (zi->mnemonic == ZYDIS_MNEMONIC_PUSH || zi->mnemonic == ZYDIS_MNEMONIC_CALL ||
            zi->mnemonic == ZYDIS_MNEMONIC_JMP) &&
           cs_len == zi->length + 2u;
}

typedef bool KnownFn(const ZydisDecodedInstruction *zi, int mode, unsigned cs_len);

static const struct {
    const char *name;
    KnownFn *fn;
} known_length_diffs[] = {
    { "UD0/UD1 ModR/M", known_ud0_ud1 },
    { "64-bit near branch with 66/67", known_branch_opsize_64 },
    { "F2 drops 66", known_f2_drops_66 },
};

/* ---- random streams ---- */

typedef struct Stats {
    unsigned both, zydis_only, capstone_only, neither, not_gp;
    unsigned len_compared, len_diffs;
    unsigned known[G_N_ELEMENTS(known_length_diffs)];
    unsigned ops_compared, ops_66_f2f3, ops_f3_rex_90, ops_diffs;
} Stats;

static void report_length_diff(int mode, const uint8_t *buf, const ZydisDecodedInstruction *zi,
                               const cs_insn *ci)
{
    char hex[64];

    hex_string(hex, sizeof(hex), buf, STREAM_LEN);
    g_test_message("mode %d: %s: length: zydis %s %u, capstone %s %s %u", mode, hex,
                   ZydisMnemonicGetString(zi->mnemonic), zi->length, ci->mnemonic, ci->op_str,
                   ci->size);
}

static void compare_length(int mode, const uint8_t *buf, const ZydisDecodedInstruction *zi,
                           const cs_insn *ci, Stats *st)
{
    st->len_compared++;
    if (zi->length == ci->size) {
        return;
    }
    for (size_t k = 0; k < G_N_ELEMENTS(known_length_diffs); k++) {
        if (known_length_diffs[k].fn(zi, mode, ci->size)) {
            st->known[k]++;
            return;
        }
    }
    st->len_diffs++;
    report_length_diff(mode, buf, zi, ci);
}

/*
 * F3 REX 90: Zydis decodes PAUSE, Capstone XCHG r, rAX. With REX.B clear
 * both are no-ops; with REX.B set an AMD EPYC host executes XCHG r8, rAX.
 * The SDM defines PAUSE only as F3 90 and makes F3 on other non-string
 * instructions reserved, so neither decoder is wrong (others split the
 * same way: XED says PAUSE, LLVM XCHG); such streams are counted and
 * skipped.
 */
static bool reserved_f3_rex_90(const ZydisDecodedInstruction *zi)
{
    return zi->mnemonic == ZYDIS_MNEMONIC_PAUSE && (zi->attributes & ZYDIS_ATTRIB_HAS_REX);
}

static void compare_operands(int mode, const uint8_t *buf, const ZydisDecodedInstruction *zi,
                             Stats *st)
{
    g_autofree char *why = NULL;
    char hex[64];

    if (!in_list((const int *)gp_operand_categories, G_N_ELEMENTS(gp_operand_categories),
                 zi->meta.category)) {
        return;
    }
    if (capstone_66_f2f3(mode, buf, zi->length)) {
        st->ops_66_f2f3++;
        return;
    }
    if (reserved_f3_rex_90(zi)) {
        st->ops_f3_rex_90++;
        return;
    }
    st->ops_compared++;
    why = operand_diff(mode, buf, zi->length, zi->length);
    if (why) {
        st->ops_diffs++;
        hex_string(hex, sizeof(hex), buf, zi->length);
        g_test_message("mode %d: %s: operands:%s", mode, hex, why);
    }
}

/* Both decoders on one stream; the interpreter's decode must match Zydis'. */
static void compare_stream(int mode, const uint8_t *buf, Stats *st)
{
    const ZydisDecoder *zd = (const ZydisDecoder *)dec_cpu->decoders + mode;
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
    EmuInsn in;
    cs_insn *ci = NULL;
    bool z_ok = emu_decode_bytes(dec_cpu->decoders, mode, buf, STREAM_LEN, &in);
    size_t cs_n = cs_disasm(cs_handle[mode], buf, STREAM_LEN, 0, 1, &ci);

    if (!z_ok || !cs_n) {
        st->zydis_only += z_ok;
        st->capstone_only += cs_n != 0;
        st->neither += !z_ok && !cs_n;
    } else {
        st->both++;
        g_assert_true(ZYAN_SUCCESS(ZydisDecoderDecodeFull(zd, buf, STREAM_LEN, &zi, zo)));
        g_assert_cmpuint(zi.length, ==, in.len);
        if (!gp_insn(&zi)) {
            st->not_gp++;
        } else {
            compare_length(mode, buf, &zi, ci, st);
            if (zi.length == ci->size) {
                compare_operands(mode, buf, &zi, st);
            }
        }
    }
    if (cs_n) {
        cs_free(ci, cs_n);
    }
}

static const uint8_t legacy_prefixes[] = {
    0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65,
};

/*
 * Uniformly random bytes mostly exercise the one-byte map, so two of three
 * streams are shaped: up to three legacy prefixes (and a REX in 64-bit
 * mode), then either a random opcode or the 0F escape and a random one.
 */
static void random_stream(GRand *r, int mode, unsigned kind, uint8_t *buf)
{
    unsigned n = 0;

    for (unsigned i = 0; i < STREAM_LEN; i++) {
        buf[i] = (uint8_t)g_rand_int(r);
    }
    if (kind == 0) {
        return;
    }
    for (unsigned p = g_rand_int_range(r, 0, 4); p; p--) {
        buf[n++] = legacy_prefixes[g_rand_int_range(r, 0, G_N_ELEMENTS(legacy_prefixes))];
    }
    if (mode == MODE_64 && g_rand_boolean(r)) {
        buf[n++] = (uint8_t)(0x40 | g_rand_int_range(r, 0, 16));
    }
    if (kind == 2) {
        buf[n] = 0x0F;
    }
}

static void print_stats(int mode, const Stats *st)
{
    g_test_message("mode %d: %u streams: both decoded %u, only Zydis %u, only Capstone %u, "
                   "neither %u; not general-purpose %u", mode, STREAMS_PER_MODE, st->both,
                   st->zydis_only, st->capstone_only, st->neither, st->not_gp);
    g_test_message("mode %d: lengths compared %u, disagreements %u", mode, st->len_compared,
                   st->len_diffs);
    for (size_t k = 0; k < G_N_ELEMENTS(known_length_diffs); k++) {
        g_test_message("mode %d:   known length disagreement \"%s\": %u", mode,
                       known_length_diffs[k].name, st->known[k]);
    }
    g_test_message("mode %d: operands compared %u, disagreements %u (excluded: 66 with F2/F3 %u, "
                   "F3 REX 90 %u)", mode, st->ops_compared, st->ops_diffs, st->ops_66_f2f3,
                   st->ops_f3_rex_90);
}

static void test_random(gconstpointer data)
{
    int mode = GPOINTER_TO_INT(data);
    g_autoptr(GRand) r = g_rand_new_with_seed(0xdec0de00u + (guint32)mode);
    Stats st = { 0 };
    uint8_t buf[STREAM_LEN];

    for (unsigned i = 0; i < STREAMS_PER_MODE; i++) {
        random_stream(r, mode, i % 3, buf);
        compare_stream(mode, buf, &st);
    }
    print_stats(mode, &st);
    /* Enough general-purpose instructions were actually compared. */
    g_assert_cmpuint(st.len_compared, >, STREAMS_PER_MODE / 2);
    g_assert_cmpuint(st.ops_compared, >, STREAMS_PER_MODE / 4);
    g_assert_cmpuint(st.len_diffs, ==, 0);
    g_assert_cmpuint(st.ops_diffs, ==, 0);
}

/* ---- operands: a curated table ---- */

typedef struct OperandCase {
    int mode;
    const char *hex;
} OperandCase;

/* Assembled with GNU as (Intel syntax), plus prefix corner cases by hand. */
static const OperandCase operand_cases[] = {
    { MODE_16, "8b 00" },                     /* mov ax,word ptr [bx+si] */
    { MODE_16, "8a 43 10" },                  /* mov al,byte ptr [bp+di+0x10] */
    { MODE_16, "c7 46 00 34 12" },            /* mov word ptr [bp+0x0],0x1234 */
    { MODE_16, "8b 94 00 fd" },               /* mov dx,word ptr [si-0x300] */
    { MODE_16, "8a 0e 34 12" },               /* mov cl,byte ptr ds:0x1234 */
    { MODE_16, "26 8b 05" },                  /* mov ax,word ptr es:[di] */
    { MODE_16, "36 8c 4f 02" },               /* mov word ptr ss:[bx+0x2],cs */
    { MODE_16, "67 66 8b 84 8b 00 01 00 00" }, /* mov eax,dword ptr [ebx+ecx*4+0x100] */
    { MODE_16, "66 8b 0f" },                  /* mov ecx,dword ptr [bx] */
    { MODE_16, "8e d8" },                     /* mov ds,ax */
    { MODE_16, "05 34 12" },                  /* add ax,0x1234 */
    { MODE_16, "83 07 ff" },                  /* add word ptr [bx],0xffff */
    { MODE_16, "00 02" },                     /* add byte ptr [bp+si],al */
    { MODE_16, "13 0d" },                     /* adc cx,word ptr [di] */
    { MODE_16, "66 2d 78 56 34 12" },         /* sub eax,0x12345678 */
    { MODE_16, "80 3e 10 00 20" },            /* cmp byte ptr ds:0x10,0x20 */
    { MODE_16, "f7 01 00 80" },               /* test word ptr [bx+di],0x8000 */
    { MODE_16, "8d 40 03" },                  /* lea ax,[bx+si+0x3] */
    { MODE_16, "8d 5e fe" },                  /* lea bx,[bp-0x2] */
    { MODE_16, "67 66 8d 04 4b" },            /* lea eax,[ebx+ecx*2] */
    { MODE_16, "ff 77 08" },                  /* push word ptr [bx+0x8] */
    { MODE_16, "68 34 12" },                  /* push 0x1234 */
    { MODE_16, "6a 12" },                     /* push 0x12 */
    { MODE_16, "66 ff 37" },                  /* push dword ptr [bx] */
    { MODE_16, "06" },                        /* push es */
    { MODE_16, "1f" },                        /* pop ds */
    { MODE_16, "60" },                        /* pusha */
    { MODE_16, "40" },                        /* inc ax */
    { MODE_16, "fe 0c" },                     /* dec byte ptr [si] */
    { MODE_16, "d1 27" },                     /* shl word ptr [bx],1 */
    { MODE_16, "c1 f9 03" },                  /* sar cx,0x3 */
    { MODE_16, "69 07 23 01" },               /* imul ax,word ptr [bx],0x123 */
    { MODE_16, "f7 23" },                     /* mul word ptr [bp+di] */
    { MODE_16, "f6 f1" },                     /* div cl */
    { MODE_16, "0f b6 07" },                  /* movzx ax,byte ptr [bx] */
    { MODE_16, "66 0f bf 04" },               /* movsx eax,word ptr [si] */
    { MODE_16, "0f 45 07" },                  /* cmovne ax,word ptr [bx] */
    { MODE_16, "0f 92 07" },                  /* setb byte ptr [bx] */
    { MODE_16, "0f a3 07" },                  /* bt word ptr [bx],ax */
    { MODE_16, "ff 67 08" },                  /* jmp word ptr [bx+0x8] */
    { MODE_16, "e9 fd 00" },                  /* jmp 0x17c */
    { MODE_16, "e8 fd fd" },                  /* call 0xfe7f */
    { MODE_16, "75 1e" },                     /* jne 0xa2 */
    { MODE_16, "0f 84 fc 03" },               /* je 0x484 */
    { MODE_16, "ea f0 ff 00 f0" },            /* jmp 0xf000:0xfff0 */
    { MODE_16, "9a 00 20 00 10" },            /* call 0x1000:0x2000 */
    { MODE_16, "ff 2f" },                     /* jmp dword ptr [bx] */
    { MODE_16, "c2 02 00" },                  /* ret 0x2 */
    { MODE_16, "ca 04 00" },                  /* retf 0x4 */
    { MODE_16, "cf" },                        /* iret */
    { MODE_16, "cd 10" },                     /* int 0x10 */
    { MODE_16, "cc" },                        /* int3 */
    { MODE_16, "c5 37" },                     /* lds si,dword ptr [bx] */
    { MODE_16, "c4 7e 00" },                  /* les di,dword ptr [bp+0x0] */
    { MODE_16, "0f 01 17" },                  /* lgdtw [bx] */
    { MODE_16, "0f 22 c0" },                  /* mov cr0,eax */
    { MODE_16, "ec" },                        /* in al,dx */
    { MODE_16, "e6 80" },                     /* out 0x80,al */
    { MODE_16, "a4" },                        /* movs byte ptr es:[di],byte ptr ds:[si] */
    { MODE_16, "f3 a5" },                     /* rep movs word ptr es:[di],word ptr ds:[si] */
    { MODE_16, "f3 aa" },                     /* rep stos byte ptr es:[di],al */
    { MODE_16, "f2 ae" },                     /* repnz scas al,byte ptr es:[di] */
    { MODE_16, "fa" },                        /* cli */
    { MODE_16, "fb" },                        /* sti */
    { MODE_16, "f4" },                        /* hlt */
    { MODE_32, "8b 84 8b 78 56 34 12" },      /* mov eax,dword ptr [ebx+ecx*4+0x12345678] */
    { MODE_32, "8a 06" },                     /* mov al,byte ptr [esi] */
    { MODE_32, "66 c7 45 fc 34 12" },         /* mov word ptr [ebp-0x4],0x1234 */
    { MODE_32, "89 54 24 08" },               /* mov dword ptr [esp+0x8],edx */
    { MODE_32, "64 8b 0d 30 00 00 00" },      /* mov ecx,dword ptr fs:0x30 */
    { MODE_32, "26 c6 47 01 05" },            /* mov byte ptr es:[edi+0x1],0x5 */
    { MODE_32, "67 66 8b 00" },               /* mov ax,word ptr [bx+si] */
    { MODE_32, "67 8b 43 10" },               /* mov eax,dword ptr [bp+di+0x10] */
    { MODE_32, "8a 15 34 12 00 00" },         /* mov dl,byte ptr ds:0x1234 */
    { MODE_32, "a1 44 33 22 11" },            /* mov eax,ds:0x11223344 */
    { MODE_32, "81 00 ff ff ff 7f" },         /* add dword ptr [eax],0x7fffffff */
    { MODE_32, "66 83 c0 fe" },               /* add ax,0xfffe */
    { MODE_32, "12 7c 51 e0" },               /* adc bh,byte ptr [ecx+edx*2-0x20] */
    { MODE_32, "19 fe" },                     /* sbb esi,edi */
    { MODE_32, "66 81 2b 80 00" },            /* sub word ptr [ebx],0x80 */
    { MODE_32, "3d 00 10 00 00" },            /* cmp eax,0x1000 */
    { MODE_32, "f6 43 02 81" },               /* test byte ptr [ebx+0x2],0x81 */
    { MODE_32, "8d 44 cb 10" },               /* lea eax,[ebx+ecx*8+0x10] */
    { MODE_32, "67 66 8d 40 03" },            /* lea ax,[bx+si+0x3] */
    { MODE_32, "8d 94 24 00 01 00 00" },      /* lea edx,[esp+0x100] */
    { MODE_32, "8d 75 00" },                  /* lea esi,[ebp+0x0] */
    { MODE_32, "8d 3c 45 00 00 00 00" },      /* lea edi,[eax*2+0x0] */
    { MODE_32, "ff 73 08" },                  /* push dword ptr [ebx+0x8] */
    { MODE_32, "6a 12" },                     /* push 0x12 */
    { MODE_32, "68 78 56 34 12" },            /* push 0x12345678 */
    { MODE_32, "66 ff 30" },                  /* push word ptr [eax] */
    { MODE_32, "0e" },                        /* push cs */
    { MODE_32, "1e" },                        /* push ds */
    { MODE_32, "07" },                        /* pop es */
    { MODE_32, "8f 01" },                     /* pop dword ptr [ecx] */
    { MODE_32, "60" },                        /* pusha */
    { MODE_32, "61" },                        /* popa */
    { MODE_32, "41" },                        /* inc ecx */
    { MODE_32, "66 ff 0a" },                  /* dec word ptr [edx] */
    { MODE_32, "d1 23" },                     /* shl dword ptr [ebx],1 */
    { MODE_32, "66 d3 f8" },                  /* sar ax,cl */
    { MODE_32, "69 03 45 23 01 00" },         /* imul eax,dword ptr [ebx],0x12345 */
    { MODE_32, "f6 26" },                     /* mul byte ptr [esi] */
    { MODE_32, "0f b7 03" },                  /* movzx eax,word ptr [ebx] */
    { MODE_32, "66 0f be 4a 01" },            /* movsx cx,byte ptr [edx+0x1] */
    { MODE_32, "0f 46 03" },                  /* cmovbe eax,dword ptr [ebx] */
    { MODE_32, "0f 90 01" },                  /* seto byte ptr [ecx] */
    { MODE_32, "0f a3 03" },                  /* bt dword ptr [ebx],eax */
    { MODE_32, "91" },                        /* xchg ecx,eax */
    { MODE_32, "66 87 03" },                  /* xchg word ptr [ebx],ax */
    { MODE_32, "62 03" },                     /* bound eax,qword ptr [ebx] */
    { MODE_32, "ff 60 08" },                  /* jmp dword ptr [eax+0x8] */
    { MODE_32, "e9 fb 0f 00 00" },            /* jmp 0x10a9 */
    { MODE_32, "e8 fb df ff ff" },            /* call 0xffffe0ae */
    { MODE_32, "75 1e" },                     /* jne 0xd3 */
    { MODE_32, "0f 8c fa 03 00 00" },         /* jl 0x4b5 */
    { MODE_32, "ea 78 56 34 12 10 00" },      /* jmp 0x10:0x12345678 */
    { MODE_32, "9a 00 10 00 00 08 00" },      /* call 0x8:0x1000 */
    { MODE_32, "ff 2b" },                     /* jmp fword ptr [ebx] */
    { MODE_32, "ff 58 04" },                  /* call fword ptr [eax+0x4] */
    { MODE_32, "c5 03" },                     /* lds eax,fword ptr [ebx] */
    { MODE_32, "66 c4 33" },                  /* les si,dword ptr [ebx] */
    { MODE_32, "0f b2 21" },                  /* lss esp,fword ptr [ecx] */
    { MODE_32, "c2 04 00" },                  /* ret 0x4 */
    { MODE_32, "cb" },                        /* retf */
    { MODE_32, "cf" },                        /* iret */
    { MODE_32, "37" },                        /* aaa */
    { MODE_32, "27" },                        /* daa */
    { MODE_32, "2f" },                        /* das */
    { MODE_32, "3f" },                        /* aas */
    { MODE_32, "d4 0a" },                     /* aam 0xa */
    { MODE_32, "d5 0a" },                     /* aad 0xa */
    { MODE_32, "ce" },                        /* into */
    { MODE_32, "63 08" },                     /* arpl word ptr [eax],cx */
    { MODE_32, "0f 22 c0" },                  /* mov cr0,eax */
    { MODE_32, "0f 20 e0" },                  /* mov eax,cr4 */
    { MODE_32, "a5" },                        /* movs dword ptr es:[edi],dword ptr ds:[esi] */
    { MODE_32, "f3 a4" },                     /* rep movs byte ptr es:[edi],byte ptr ds:[esi] */
    { MODE_32, "66 f3 ab" },                  /* rep stos word ptr es:[edi],ax */
    { MODE_32, "f3 a7" },                     /* repz cmps dword ptr ds:[esi],dword ptr es:[edi] */
    { MODE_64, "48 8b 84 8b 78 56 34 12" },   /* mov rax,qword ptr [rbx+rcx*4+0x12345678] */
    { MODE_64, "47 8b 7c ec 80" },            /* mov r15d,dword ptr [r12+r13*8-0x80] */
    { MODE_64, "88 65 02" },                  /* mov byte ptr [rbp+0x2],ah */
    { MODE_64, "40 8a 75 ff" },               /* mov sil,byte ptr [rbp-0x1] */
    { MODE_64, "64 66 c7 44 24 08 34 12" },   /* mov word ptr fs:[rsp+0x8],0x1234 */
    { MODE_64, "65 48 c7 05 00 01 00 00 fb ff ff ff" }, /* mov qword ptr gs:[rip+0x100],0xfffffffffffffffb */
    { MODE_64, "8b 05 f0 ff ff ff" },         /* mov eax,dword ptr [rip+0xfffffffffffffff0] */
    { MODE_64, "c7 04 25 00 10 00 00 ff ff ff 7f" }, /* mov dword ptr ds:0x1000,0x7fffffff */
    { MODE_64, "49 b8 88 77 66 55 44 33 22 11" }, /* movabs r8,0x1122334455667788 */
    { MODE_64, "67 8a 04 58" },               /* mov al,byte ptr [eax+ebx*2] */
    { MODE_64, "26 67 66 8b 09" },            /* es mov cx,word ptr [ecx] */
    { MODE_64, "a0 88 77 66 55 44 33 22 11" }, /* movabs al,ds:0x1122334455667788 */
    { MODE_64, "48 a1 11 22 33 44 55 66 77 88" }, /* movabs rax,ds:0x8877665544332211 */
    { MODE_64, "4c 01 08" },                  /* add qword ptr [rax],r9 */
    { MODE_64, "47 02 54 23 7f" },            /* add r10b,byte ptr [r11+r12*1+0x7f] */
    { MODE_64, "66 83 c0 fe" },               /* add ax,0xfffe */
    { MODE_64, "81 c6 00 10 00 00" },         /* add esi,0x1000 */
    { MODE_64, "83 14 b2 64" },               /* adc dword ptr [rdx+rsi*4],0x64 */
    { MODE_64, "48 83 df 9c" },               /* sbb rdi,0xffffffffffffff9c */
    { MODE_64, "36 66 47 2b 34 7e" },         /* ss sub r14w,word ptr [r14+r15*2] */
    { MODE_64, "20 f5" },                     /* and ch,dh */
    { MODE_64, "48 09 5c 24 10" },            /* or qword ptr [rsp+0x10],rbx */
    { MODE_64, "45 31 db" },                  /* xor r11d,r11d */
    { MODE_64, "80 79 02 80" },               /* cmp byte ptr [rcx+0x2],0x80 */
    { MODE_64, "48 f7 02 78 56 34 12" },      /* test qword ptr [rdx],0x12345678 */
    { MODE_64, "40 84 fd" },                  /* test bpl,dil */
    { MODE_64, "48 8d 44 cb 10" },            /* lea rax,[rbx+rcx*8+0x10] */
    { MODE_64, "67 8d 04 4b" },               /* lea eax,[ebx+ecx*2] */
    { MODE_64, "4c 8d 25 56 34 12 00" },      /* lea r12,[rip+0x123456] */
    { MODE_64, "66 8d 4e fd" },               /* lea cx,[rsi-0x3] */
    { MODE_64, "48 8d 14 24" },               /* lea rdx,[rsp] */
    { MODE_64, "49 8d 6d 00" },               /* lea rbp,[r13+0x0] */
    { MODE_64, "4e 8d 0c a5 00 00 00 00" },   /* lea r9,[r12*4+0x0] */
    { MODE_64, "ff 73 08" },                  /* push qword ptr [rbx+0x8] */
    { MODE_64, "41 54" },                     /* push r12 */
    { MODE_64, "6a 12" },                     /* push 0x12 */
    { MODE_64, "68 00 f0 ff ff" },            /* push 0xfffffffffffff000 */
    { MODE_64, "66 ff 30" },                  /* push word ptr [rax] */
    { MODE_64, "8f 01" },                     /* pop qword ptr [rcx] */
    { MODE_64, "41 5f" },                     /* pop r15 */
    { MODE_64, "ff 07" },                     /* inc dword ptr [rdi] */
    { MODE_64, "41 fe c8" },                  /* dec r8b */
    { MODE_64, "4b f7 1c 51" },               /* neg qword ptr [r9+r10*2] */
    { MODE_64, "66 f7 d0" },                  /* not ax */
    { MODE_64, "d1 e0" },                     /* shl eax,1 */
    { MODE_64, "48 d3 2b" },                  /* shr qword ptr [rbx],cl */
    { MODE_64, "66 41 c1 fb 05" },            /* sar r11w,0x5 */
    { MODE_64, "c0 06 03" },                  /* rol byte ptr [rsi],0x3 */
    { MODE_64, "d3 da" },                     /* rcr edx,cl */
    { MODE_64, "48 0f a4 d8 07" },            /* shld rax,rbx,0x7 */
    { MODE_64, "66 0f ad 0a" },               /* shrd word ptr [rdx],cx,cl */
    { MODE_64, "48 69 03 45 23 01 00" },      /* imul rax,qword ptr [rbx],0x12345 */
    { MODE_64, "6b ca fd" },                  /* imul ecx,edx,0xfffffffd */
    { MODE_64, "66 45 0f af 01" },            /* imul r8w,word ptr [r9] */
    { MODE_64, "48 f7 64 24 08" },            /* mul qword ptr [rsp+0x8] */
    { MODE_64, "f6 7d 00" },                  /* idiv byte ptr [rbp+0x0] */
    { MODE_64, "49 f7 f5" },                  /* div r13 */
    { MODE_64, "0f b6 03" },                  /* movzx eax,byte ptr [rbx] */
    { MODE_64, "4c 0f b7 49 02" },            /* movzx r9,word ptr [rcx+0x2] */
    { MODE_64, "48 0f be d0" },               /* movsx rdx,al */
    { MODE_64, "66 0f be 07" },               /* movsx ax,byte ptr [rdi] */
    { MODE_64, "48 63 43 04" },               /* movsxd rax,dword ptr [rbx+0x4] */
    { MODE_64, "4d 63 c1" },                  /* movsxd r8,r9d */
    { MODE_64, "48 0f 44 03" },               /* cmove rax,qword ptr [rbx] */
    { MODE_64, "45 0f 4c d3" },               /* cmovl r10d,r11d */
    { MODE_64, "0f 95 40 01" },               /* setne byte ptr [rax+0x1] */
    { MODE_64, "41 0f 9f c1" },               /* setg r9b */
    { MODE_64, "48 0f a3 03" },               /* bt qword ptr [rbx],rax */
    { MODE_64, "0f ba 69 04 11" },            /* bts dword ptr [rcx+0x4],0x11 */
    { MODE_64, "66 45 0f b3 c8" },            /* btr r8w,r9w */
    { MODE_64, "48 0f ba f8 3f" },            /* btc rax,0x3f */
    { MODE_64, "48 0f bc 0a" },               /* bsf rcx,qword ptr [rdx] */
    { MODE_64, "45 0f bd dc" },               /* bsr r11d,r12d */
    { MODE_64, "48 87 03" },                  /* xchg qword ptr [rbx],rax */
    { MODE_64, "49 90" },                     /* xchg r8,rax */
    { MODE_64, "0f c1 11" },                  /* xadd dword ptr [rcx],edx */
    { MODE_64, "0f b0 1e" },                  /* cmpxchg byte ptr [rsi],bl */
    { MODE_64, "f0 4c 0f b1 57 08" },         /* lock cmpxchg qword ptr [rdi+0x8],r10 */
    { MODE_64, "f0 83 05 40 00 00 00 01" },   /* lock add dword ptr [rip+0x40],0x1 */
    { MODE_64, "49 0f c7 08" },               /* cmpxchg16b oword ptr [r8] */
    { MODE_64, "49 0f cc" },                  /* bswap r12 */
    { MODE_64, "0f c8" },                     /* bswap eax */
    { MODE_64, "ff 60 08" },                  /* jmp qword ptr [rax+0x8] */
    { MODE_64, "41 ff e3" },                  /* jmp r11 */
    { MODE_64, "ff 15 00 02 00 00" },         /* call qword ptr [rip+0x200] */
    { MODE_64, "ff d0" },                     /* call rax */
    { MODE_64, "75 1e" },                     /* jne 0x19e */
    { MODE_64, "7f ce" },                     /* jg 0x150 */
    { MODE_64, "e9 fb 0f 00 00" },            /* jmp 0x1182 */
    { MODE_64, "e8 fb df ff ff" },            /* call 0xffffffffffffe187 */
    { MODE_64, "0f 84 fa 03 00 00" },         /* je 0x58c */
    { MODE_64, "e2 0e" },                     /* loop 0x1a2 */
    { MODE_64, "e3 ee" },                     /* jrcxz 0x184 */
    { MODE_64, "c2 08 00" },                  /* ret 0x8 */
    { MODE_64, "c3" },                        /* ret */
    { MODE_64, "c8 20 00 01" },               /* enter 0x20,0x1 */
    { MODE_64, "e4 60" },                     /* in al,0x60 */
    { MODE_64, "ef" },                        /* out dx,eax */
    { MODE_64, "cd 80" },                     /* int 0x80 */
    { MODE_64, "0f 22 d8" },                  /* mov cr3,rax */
    { MODE_64, "0f 20 c0" },                  /* mov rax,cr0 */
    { MODE_64, "0f 23 f9" },                  /* mov dr7,rcx */
    { MODE_64, "8c d8" },                     /* mov eax,ds */
    { MODE_64, "8c 13" },                     /* mov word ptr [rbx],ss */
    { MODE_64, "8e 00" },                     /* mov es,word ptr [rax] */
    { MODE_64, "0f 01 10" },                  /* lgdt [rax] */
    { MODE_64, "0f 01 4b 02" },               /* sidt [rbx+0x2] */
    { MODE_64, "0f 01 39" },                  /* invlpg byte ptr [rcx] */
    { MODE_64, "0f 01 1d 34 12 00 00" },      /* lidt [rip+0x1234] */
    { MODE_64, "0f 00 d8" },                  /* ltr ax */
    { MODE_64, "0f 00 0a" },                  /* str word ptr [rdx] */
    { MODE_64, "a4" },                        /* movs byte ptr es:[rdi],byte ptr ds:[rsi] */
    { MODE_64, "f3 48 a5" },                  /* rep movs qword ptr es:[rdi],qword ptr ds:[rsi] */
    { MODE_64, "f2 ae" },                     /* repnz scas al,byte ptr es:[rdi] */
    { MODE_64, "66 ad" },                     /* lods ax,word ptr ds:[rsi] */
    { MODE_64, "f3 ab" },                     /* rep stos dword ptr es:[rdi],eax */
    { MODE_64, "a6" },                        /* cmps byte ptr ds:[rsi],byte ptr es:[rdi] */
    { MODE_64, "d7" },                        /* xlat byte ptr ds:[rbx] */
    { MODE_64, "66 98" },                     /* cbw */
    { MODE_64, "48 99" },                     /* cqo */
    { MODE_64, "9f" },                        /* lahf */
    { MODE_64, "9c" },                        /* pushf */
    { MODE_64, "9d" },                        /* popf */
    { MODE_64, "f8" },                        /* clc */
    { MODE_64, "f4" },                        /* hlt */
    { MODE_64, "0f a2" },                     /* cpuid */
    { MODE_64, "0f 31" },                     /* rdtsc */
    { MODE_64, "0f 30" },                     /* wrmsr */
    { MODE_64, "0f 01 f8" },                  /* swapgs */
    { MODE_64, "0f 05" },                     /* syscall */
    /* Prefix corner cases, by hand. */
    { MODE_64, "2e 48 8b 03" },               /* cs: is ignored in 64-bit mode */
    { MODE_64, "66 48 01 c8" },               /* rex.w wins over 66: add rax,rcx */
    { MODE_64, "40 88 e0" },                  /* mov al,spl */
    { MODE_64, "88 e0" },                     /* mov al,ah */
    { MODE_64, "41 8b 45 00" },               /* mov eax,[r13+0] */
    { MODE_64, "4a 8b 04 23" },               /* mov rax,[rbx+r12*1] */
    { MODE_64, "8b 04 65 00 10 00 00" },      /* mov eax,[0x1000] via sib, no index */
    { MODE_64, "67 8b 04 25 00 10 00 00" },   /* mov eax,[0x1000] (32-bit address) */
    { MODE_64, "64 67 48 8b 00" },            /* mov rax,fs:[eax] */
    { MODE_64, "f0 48 0f c1 03" },            /* lock xadd [rbx],rax */
    { MODE_64, "f2 48 a7" },                  /* repne cmpsq */
    { MODE_64, "66 0f 1f 44 00 00" },         /* nop word ptr [rax+rax*1+0] */
    { MODE_64, "f3 90" },                     /* pause */
    { MODE_64, "c4 e2 78 f2 c1" },            /* andn eax,eax,ecx (VEX) */
    { MODE_32, "66 67 8b 07" },               /* mov ax,[bx] */
    { MODE_32, "3e 26 64 8b 03" },            /* last segment prefix wins: fs */
    { MODE_16, "66 67 8b 44 8b 08" },         /* mov eax,[ebx+ecx*4+8] */
    { MODE_16, "36 8b 07" },                  /* mov ax,ss:[bx] */
    { MODE_16, "3e 8b 46 02" },               /* mov ax,ds:[bp+2] */
    /* 32-bit addressing with REX.B and a SIB base of 101 in mod 00: no
     * base, disp32 (SDM Table 2-5: REX.B does not change that rule). */
    { MODE_64, "67 41 8d 04 25 78 56 34 12" },   /* lea eax,[0x12345678] */
    { MODE_64, "67 43 80 2c 2d 42 82 ca 9d b5" }, /* sub byte ptr [r13d*1-0x62357dbe],0xb5 */
    { MODE_64, "41 8d 04 25 78 56 34 12" },      /* lea eax,[0x12345678] (64-bit addressing) */
    { MODE_64, "66 41 90" },                  /* xchg r8w,ax (not a nop) */
    { MODE_64, "64 a4" },                     /* movsb with an fs: source */
    { MODE_32, "2e f3 a5" },                  /* rep movsd with a cs: source */
    { MODE_16, "26 ac" },                     /* lodsb with an es: source */
};

static void test_operand_table(void)
{
    unsigned bad = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(operand_cases); i++) {
        const OperandCase *t = &operand_cases[i];
        uint8_t buf[16];
        size_t len = parse_hex(t->hex, buf, sizeof(buf));
        g_autofree char *why = operand_diff(t->mode, buf, len, len);

        if (why) {
            g_test_message("mode %d %s:%s", t->mode, t->hex, why);
            bad++;
        }
    }
    g_test_message("%zu table entries, %u operand disagreements",
                   G_N_ELEMENTS(operand_cases), bad);
    g_assert_cmpuint(bad, ==, 0);
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    /* a failing mode is reported and the other tests still run */
    g_test_set_nonfatal_assertions();
    dec_cpu = g_new0(EmuCpu, 1);
    g_assert_true(emu_decode_init(dec_cpu));
    for (int m = 0; m < 3; m++) {
        g_assert_cmpint(cs_open(CS_ARCH_X86, cs_modes[m], &cs_handle[m]), ==, CS_ERR_OK);
        cs_option(cs_handle[m], CS_OPT_DETAIL, CS_OPT_ON);
    }
    g_test_add_data_func("/emu-decode/random/16", GINT_TO_POINTER(MODE_16), test_random);
    g_test_add_data_func("/emu-decode/random/32", GINT_TO_POINTER(MODE_32), test_random);
    g_test_add_data_func("/emu-decode/random/64", GINT_TO_POINTER(MODE_64), test_random);
    g_test_add_func("/emu-decode/operands/table", test_operand_table);
    rc = g_test_run();
    for (int m = 0; m < 3; m++) {
        cs_close(&cs_handle[m]);
    }
    emu_decode_destroy(dec_cpu);
    g_free(dec_cpu);
    return rc;
}
