/*
 * The emu CPU's instruction interpreter: operand access and the semantics
 * of the general-purpose instruction set. System instructions that change
 * modes, segments or privilege call into emu-system.c.
 *
 * Ordering rule (see emu-cpu.h): every access that can fault comes before
 * the first change to architectural state, so a faulting instruction can
 * be restarted; writes to memory precede register updates.
 */
#include <string.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-cpu.h"
#include "accel/emu/emu-alu.h"
#include "machine.h"
#include "util/log.h"

/* ---- registers ---- */

static inline uint64_t reg_read(const EmuCpu *c, uint8_t r, unsigned size)
{
    if (r >= EREG_HIGH8 && r < EREG_HIGH8 + 4) {
        return (c->gpr[r - EREG_HIGH8] >> 8) & 0xFF;
    }
    return c->gpr[r & 15] & emu_mask(size);
}

static inline void reg_write(EmuCpu *c, uint8_t r, unsigned size, uint64_t v)
{
    uint64_t *g;

    if (r >= EREG_HIGH8 && r < EREG_HIGH8 + 4) {
        g = &c->gpr[r - EREG_HIGH8];
        *g = (*g & ~0xFF00ull) | ((v & 0xFF) << 8);
        return;
    }
    g = &c->gpr[r & 15];
    switch (size) {
    case 1: *g = (*g & ~0xFFull) | (v & 0xFF); break;
    case 2: *g = (*g & ~0xFFFFull) | (v & 0xFFFF); break;
    case 4: *g = v & 0xFFFFFFFFull; break;       /* 32-bit writes zero-extend */
    default: *g = v; break;
    }
}

/* ---- memory operands ---- */

static inline uint64_t op_ea(const EmuCpu *c, const EmuInsn *in, const EmuOp *o)
{
    uint64_t a = (uint64_t)o->val;

    if (o->base == EREG_RIP) {
        a += c->next_rip;
    } else if (o->base != EREG_NONE) {
        a += c->gpr[o->base & 15];
    }
    if (o->index != EREG_NONE) {
        a += c->gpr[o->index & 15] * o->scale;
    }
    return a & emu_mask(in->addrsize);
}

/* A resolved operand: a register, or memory with its host pointer if RAM. */
typedef struct Loc {
    bool mem;
    uint8_t reg;
    unsigned size;
    uint64_t lin;
    uint8_t *hva;
} Loc;

static void loc_resolve(EmuCpu *c, const EmuInsn *in, const EmuOp *o, unsigned size,
                        int acc, Loc *l)
{
    l->size = size;
    if (o->kind == OPK_REG) {
        l->mem = false;
        l->reg = o->reg;
        return;
    }
    l->mem = true;
    l->lin = emu_seg_lin_fast(c, o->seg, op_ea(c, in, o), size, acc);
    l->hva = emu_lin_ptr_fast(c, l->lin, size, acc);
    if (!l->hva && acc == ACC_WRITE) {
        /* MMIO or page-crossing: make sure both ends are writable now. */
        emu_translate(c, l->lin, ACC_WRITE, false);
        emu_translate(c, l->lin + size - 1, ACC_WRITE, false);
    }
}

static inline uint64_t loc_read(EmuCpu *c, const Loc *l)
{
    if (!l->mem) {
        return reg_read(c, l->reg, l->size);
    }
    if (l->hva) {
        return emu_ld(l->hva, l->size);
    }
    return emu_read_lin(c, l->lin, l->size, false);
}

static inline void loc_write(EmuCpu *c, const Loc *l, uint64_t v)
{
    if (!l->mem) {
        reg_write(c, l->reg, l->size, v);
    } else if (l->hva) {
        emu_note_store(c, l->hva);
        emu_st(l->hva, l->size, v);
    } else {
        emu_write_lin(c, l->lin, l->size, v, false);
    }
}

static uint64_t op_read(EmuCpu *c, const EmuInsn *in, int i, unsigned size)
{
    const EmuOp *o = &in->op[i];
    Loc l;

    switch (o->kind) {
    case OPK_REG:
        return reg_read(c, o->reg, size);
    case OPK_IMM:
        return (uint64_t)o->val & emu_mask(size);
    case OPK_MEM:
        loc_resolve(c, in, o, size, ACC_READ, &l);
        return loc_read(c, &l);
    default:
        emu_ud(c);
    }
}

static void op_write(EmuCpu *c, const EmuInsn *in, int i, unsigned size, uint64_t v)
{
    Loc l;

    loc_resolve(c, in, &in->op[i], size, ACC_WRITE, &l);
    loc_write(c, &l, v);
}

static inline bool op_is_sreg(const EmuOp *o)
{
    return o->kind == OPK_REG && o->reg >= EREG_SEG && o->reg < EREG_CR;
}

static inline unsigned opsz(const EmuInsn *in, int i)
{
    return in->op[i].size ? in->op[i].size : in->opsize;
}

/*
 * Locked read-modify-write on RAM is a host compare-and-swap loop, so it is
 * atomic against other vCPU threads. Split or MMIO locked accesses (bus
 * locks) fall back to plain accesses.
 */
typedef uint64_t RmwFn(EmuCpu *c, uint64_t old, uint64_t arg, unsigned size, uint64_t *fl);

static bool cas(uint8_t *p, unsigned size, uint64_t *old, uint64_t new)
{
    switch (size) {
    case 1: { uint8_t o = (uint8_t)*old;
        bool ok = __atomic_compare_exchange_n(p, &o, (uint8_t)new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        *old = o; return ok; }
    case 2: { uint16_t o = (uint16_t)*old;
        bool ok = __atomic_compare_exchange_n((uint16_t *)p, &o, (uint16_t)new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        *old = o; return ok; }
    case 4: { uint32_t o = (uint32_t)*old;
        bool ok = __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        *old = o; return ok; }
    default:
        return __atomic_compare_exchange_n((uint64_t *)p, old, new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
}

static uint64_t rmw(EmuCpu *c, const EmuInsn *in, const Loc *l, RmwFn *fn, uint64_t arg,
                    bool store)
{
    uint64_t fl, old, new;

    if (l->mem && l->hva && (in->flags & INSN_LOCK || in->mnem == ZYDIS_MNEMONIC_XCHG) &&
        ((uintptr_t)l->hva & (l->size - 1)) == 0) {
        old = loc_read(c, l);
        do {
            fl = c->rflags;
            new = fn(c, old, arg, l->size, &fl);
        } while (store && !cas(l->hva, l->size, &old, new));
        emu_note_store(c, l->hva);
    } else {
        old = loc_read(c, l);
        fl = c->rflags;
        new = fn(c, old, arg, l->size, &fl);
        if (store) {
            loc_write(c, l, new);
        }
    }
    c->rflags = fl;
    return old;
}

/* ---- stack ---- */

void emu_push(EmuCpu *c, uint64_t v, unsigned size)
{
    unsigned ss = emu_stack_size(c);
    uint64_t sp = (c->gpr[R_SP] - size) & emu_mask(ss);

    emu_write_lin(c, emu_seg_lin(c, S_SS, sp, size, ACC_WRITE), size, v, false);
    reg_write(c, R_SP, ss, sp);
}

uint64_t emu_pop(EmuCpu *c, unsigned size)
{
    unsigned ss = emu_stack_size(c);
    uint64_t sp = c->gpr[R_SP] & emu_mask(ss);
    uint64_t v = emu_read_lin(c, emu_seg_lin(c, S_SS, sp, size, ACC_READ), size, false);

    reg_write(c, R_SP, ss, sp + size);
    return v;
}

/* ---- helpers for groups of instructions ---- */

static void jump(EmuCpu *c, const EmuInsn *in, uint64_t target)
{
    c->next_rip = target & emu_mask(c->long64 ? 8 : in->opsize);
}

static uint64_t rel_target(const EmuCpu *c, const EmuInsn *in)
{
    return c->next_rip + (uint64_t)in->op[0].val;
}

static RmwFn rmw_alu_add, rmw_alu_or, rmw_alu_adc, rmw_alu_sbb, rmw_alu_and, rmw_alu_sub,
             rmw_alu_xor, rmw_xchg, rmw_not, rmw_neg, rmw_inc, rmw_dec, rmw_xadd;
#define RMW_ALU(name, op) \
    static uint64_t name(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl) \
    { (void)c; return alu_op(op, a, b, s, fl); }
RMW_ALU(rmw_alu_add, ALU_ADD)
RMW_ALU(rmw_alu_or, ALU_OR)
RMW_ALU(rmw_alu_adc, ALU_ADC)
RMW_ALU(rmw_alu_sbb, ALU_SBB)
RMW_ALU(rmw_alu_and, ALU_AND)
RMW_ALU(rmw_alu_sub, ALU_SUB)
RMW_ALU(rmw_alu_xor, ALU_XOR)

static uint64_t rmw_xchg(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)a; (void)s; (void)fl;
    return b;
}

static uint64_t rmw_not(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)b; (void)fl;
    return ~a & emu_mask(s);
}

static uint64_t rmw_neg(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)b;
    return alu_sub(0, a, 0, s, fl);
}

static uint64_t rmw_inc(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)b;
    return alu_incdec(a, false, s, fl);
}

static uint64_t rmw_dec(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c; (void)b;
    return alu_incdec(a, true, s, fl);
}

static uint64_t rmw_xadd(EmuCpu *c, uint64_t a, uint64_t b, unsigned s, uint64_t *fl)
{
    (void)c;
    return alu_add(a, b, 0, s, fl);
}

static void exec_alu(EmuCpu *c, const EmuInsn *in, int op)
{
    static RmwFn *const fns[8] = { rmw_alu_add, rmw_alu_or, rmw_alu_adc, rmw_alu_sbb,
                                   rmw_alu_and, rmw_alu_sub, rmw_alu_xor, rmw_alu_sub };
    unsigned size = opsz(in, 0);
    uint64_t b = op_read(c, in, 1, size);
    Loc l;

    if (in->op[0].kind == OPK_REG) {       /* the common case, without a Loc */
        uint64_t fl = c->rflags, r = alu_op(op, reg_read(c, in->op[0].reg, size), b, size, &fl);

        if (op != ALU_CMP) {
            reg_write(c, in->op[0].reg, size, r);
        }
        c->rflags = fl;
        return;
    }
    loc_resolve(c, in, &in->op[0], size, op == ALU_CMP ? ACC_READ : ACC_WRITE, &l);
    rmw(c, in, &l, fns[op], b, op != ALU_CMP);
}

static void exec_test(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    uint64_t a = op_read(c, in, 0, size), b = op_read(c, in, 1, size);

    alu_logic(a & b, size, &c->rflags);
}

static void exec_unary(EmuCpu *c, const EmuInsn *in, RmwFn *fn)
{
    Loc l;

    loc_resolve(c, in, &in->op[0], opsz(in, 0), ACC_WRITE, &l);
    rmw(c, in, &l, fn, 0, true);
}

static void exec_shift(EmuCpu *c, const EmuInsn *in, int op)
{
    unsigned size = opsz(in, 0);
    unsigned cnt = in->nops > 1 ? (unsigned)op_read(c, in, 1, 1) : 1;
    uint64_t fl = c->rflags, r;
    Loc l;

    cnt &= size == 8 ? 0x3F : 0x1F;
    loc_resolve(c, in, &in->op[0], size, ACC_WRITE, &l);
    if (!cnt) {
        uint64_t v = loc_read(c, &l);  /* the access still happens (and may fault) */

        if (!l.mem && size == 4) {
            loc_write(c, &l, v);       /* a 32-bit register is still zero-extended */
        }
        return;
    }
    r = alu_shift(op, loc_read(c, &l), cnt, size, &fl);
    loc_write(c, &l, r);
    c->rflags = fl;
}

static void exec_shxd(EmuCpu *c, const EmuInsn *in, bool left)
{
    unsigned size = opsz(in, 0);
    unsigned cnt = (unsigned)op_read(c, in, 2, 1) & (size == 8 ? 0x3F : 0x1F);
    uint64_t b = op_read(c, in, 1, size), fl = c->rflags, r;
    Loc l;

    loc_resolve(c, in, &in->op[0], size, ACC_WRITE, &l);
    if (!cnt) {
        if (!l.mem && size == 4) {
            loc_write(c, &l, loc_read(c, &l));   /* zero-extends a 32-bit register */
        }
        return;
    }
    r = alu_shxd(left, loc_read(c, &l), b, cnt, size, &fl);
    loc_write(c, &l, r);
    c->rflags = fl;
}

static void set_mul_flags(EmuCpu *c, bool overflow, uint64_t low, unsigned size)
{
    uint64_t fl = alu_szp(c->rflags & ~(uint64_t)FL_ARITH, low, size);

    if (overflow) {
        fl |= FL_CF | FL_OF;
    }
    c->rflags = fl;
}

static void exec_mul1(EmuCpu *c, const EmuInsn *in, bool sign)
{
    unsigned size = opsz(in, 0);
    uint64_t src = op_read(c, in, 0, size), a = c->gpr[R_AX] & emu_mask(size);
    unsigned __int128 p;
    uint64_t lo, hi;
    bool of;

    if (sign) {
        p = (unsigned __int128)((__int128)(int64_t)emu_sext(a, size) *
                                (__int128)(int64_t)emu_sext(src, size));
    } else {
        p = (unsigned __int128)a * src;
    }
    lo = (uint64_t)p & emu_mask(size);
    hi = size == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> (size * 8)) & emu_mask(size);
    of = sign ? (emu_sext(lo, size) != (uint64_t)(int64_t)(__int128)p || (size == 8 &&
                 (uint64_t)((__int128)p >> 64) != (uint64_t)((int64_t)lo >> 63)))
              : hi != 0;
    if (size == 1) {
        reg_write(c, R_AX, 2, lo | (hi << 8));
    } else {
        reg_write(c, R_AX, size, lo);
        reg_write(c, R_DX, size, hi);
    }
    set_mul_flags(c, of, lo, size);
}

static void exec_imul_n(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    int64_t a = (int64_t)emu_sext(op_read(c, in, in->nops == 3 ? 1 : 0, size), size);
    int64_t b = (int64_t)emu_sext(op_read(c, in, in->nops == 3 ? 2 : 1, size), size);
    __int128 p = (__int128)a * b;
    uint64_t lo = (uint64_t)p & emu_mask(size);

    reg_write(c, in->op[0].reg, size, lo);
    set_mul_flags(c, (__int128)(int64_t)emu_sext(lo, size) != p, lo, size);
}

static void exec_div(EmuCpu *c, const EmuInsn *in, bool sign)
{
    unsigned size = opsz(in, 0), bits = size * 8;
    uint64_t d = op_read(c, in, 0, size), m = emu_mask(size);
    unsigned __int128 n;
    uint64_t q, r;

    if (size == 1) {
        n = c->gpr[R_AX] & 0xFFFF;
    } else {
        n = ((unsigned __int128)(c->gpr[R_DX] & m) << bits) | (c->gpr[R_AX] & m);
    }
    if (!d) {
        emu_raise(c, EXC_DE, 0, false);
    }
    if (sign) {
        /* The dividend is the signed double-width value in (E/R)DX:(E/R)AX or AX. */
        __int128 sn = size == 8 ? (__int128)n : (__int128)(int64_t)emu_sext((uint64_t)n, size * 2);
        __int128 sd = (int64_t)emu_sext(d, size), sq, sr;
        __int128 qmax = (__int128)(m >> 1), qmin = -qmax - 1;

        if (sd == -1 && sn == (__int128)((unsigned __int128)1 << 127)) {
            emu_raise(c, EXC_DE, 0, false);     /* INT128_MIN / -1 */
        }
        sq = sn / sd;
        sr = sn % sd;
        if (sq > qmax || sq < qmin) {
            emu_raise(c, EXC_DE, 0, false);
        }
        q = (uint64_t)sq & m;
        r = (uint64_t)sr & m;
    } else {
        unsigned __int128 uq = n / d;

        if (uq > m) {
            emu_raise(c, EXC_DE, 0, false);
        }
        q = (uint64_t)uq;
        r = (uint64_t)(n % d);
    }
    if (size == 1) {
        reg_write(c, R_AX, 2, q | (r << 8));
    } else {
        reg_write(c, R_AX, size, q);
        reg_write(c, R_DX, size, r);
    }
}

static void exec_bt(EmuCpu *c, const EmuInsn *in, int kind /* 0 bt,1 bts,2 btr,3 btc */)
{
    unsigned size = opsz(in, 0), bits = size * 8;
    const EmuOp *o = &in->op[0];
    uint64_t off = op_read(c, in, 1, in->op[1].kind == OPK_IMM ? 1 : size), v, bit;
    Loc l;

    if (o->kind == OPK_MEM && in->op[1].kind != OPK_IMM) {
        int64_t soff = (int64_t)emu_sext(off, size);
        int64_t words = soff >> (size == 8 ? 6 : size == 4 ? 5 : 4);
        EmuOp mo = *o;

        mo.val += words * (int64_t)size;
        loc_resolve(c, in, &mo, size, kind ? ACC_WRITE : ACC_READ, &l);
        bit = (uint64_t)soff & (bits - 1);
    } else {
        loc_resolve(c, in, o, size, kind ? ACC_WRITE : ACC_READ, &l);
        bit = off & (bits - 1);
    }
    v = loc_read(c, &l);
    c->rflags = (c->rflags & ~(uint64_t)FL_CF) | ((v >> bit) & 1 ? FL_CF : 0);
    switch (kind) {
    case 1: loc_write(c, &l, v | (1ull << bit)); break;
    case 2: loc_write(c, &l, v & ~(1ull << bit)); break;
    case 3: loc_write(c, &l, v ^ (1ull << bit)); break;
    default: break;
    }
}

static void exec_bsf_bsr(EmuCpu *c, const EmuInsn *in, bool rev)
{
    unsigned size = opsz(in, 0);
    uint64_t v = op_read(c, in, 1, size);

    c->rflags &= ~(uint64_t)FL_ARITH;
    if (!v) {
        c->rflags |= FL_ZF;
        return;
    }
    reg_write(c, in->op[0].reg, size, rev ? 63 - (unsigned)__builtin_clzll(v)
                                           : (unsigned)__builtin_ctzll(v));
    c->rflags = alu_szp(c->rflags, 1, 1) & ~(uint64_t)(FL_ZF | FL_SF);
}

static void exec_cmpxchg(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    uint64_t acc = c->gpr[R_AX] & emu_mask(size), src = op_read(c, in, 1, size), old;
    uint64_t fl = c->rflags;
    Loc l;

    loc_resolve(c, in, &in->op[0], size, ACC_WRITE, &l);
    if (l.mem && l.hva && ((uintptr_t)l.hva & (size - 1)) == 0) {
        old = acc;
        cas(l.hva, size, &old, src);     /* on failure old is the current value */
        emu_note_store(c, l.hva);
    } else {
        old = loc_read(c, &l);
        if (l.mem || old == acc) {
            /* memory is always written; a register only on success (a failed
             * 32-bit cmpxchg does not zero-extend its destination) */
            loc_write(c, &l, old == acc ? src : old);
        }
    }
    alu_sub(acc, old, 0, size, &fl);
    c->rflags = fl;
    if (old != acc) {
        reg_write(c, R_AX, size, old);
    }
}

static void exec_xadd(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    uint64_t src = op_read(c, in, 1, size), old;
    Loc l;

    loc_resolve(c, in, &in->op[0], size, ACC_WRITE, &l);
    old = rmw(c, in, &l, rmw_xadd, src, true);
    if (in->op[0].kind != OPK_REG || in->op[0].reg != in->op[1].reg) {
        reg_write(c, in->op[1].reg, size, old);
    }
}

static void exec_xchg(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);
    int mi = in->op[0].kind == OPK_MEM ? 0 : 1, ri = 1 - mi;
    uint64_t rv = op_read(c, in, ri, size), old;
    Loc l;

    loc_resolve(c, in, &in->op[mi], size, ACC_WRITE, &l);
    old = rmw(c, in, &l, rmw_xchg, rv, true);
    reg_write(c, in->op[ri].reg, size, old);
}

/* ---- string instructions ---- */

static unsigned str_elem(const EmuInsn *in)
{
    return (in->opcode & 1) ? in->opsize : 1;
}

static uint64_t str_reg(EmuCpu *c, const EmuInsn *in, int r)
{
    return c->gpr[r] & emu_mask(in->addrsize);
}

static void str_adv(EmuCpu *c, const EmuInsn *in, int r, unsigned n)
{
    uint64_t d = (c->rflags & FL_DF) ? (uint64_t)-(int64_t)n : n;

    reg_write(c, (uint8_t)r, in->addrsize, str_reg(c, in, r) + d);
}

static uint16_t port_of(EmuCpu *c, const EmuInsn *in, int i)
{
    return in->op[i].kind == OPK_IMM ? (uint16_t)in->op[i].val : (uint16_t)c->gpr[R_DX];
}

static void io_check(EmuCpu *c, uint16_t port, unsigned size)
{
    if (!emu_io_allowed(c, port, size)) {
        emu_gp(c, 0);
    }
}

static uint64_t io_in(EmuCpu *c, uint16_t port, unsigned size)
{
    uint64_t v = 0;

    machine_lock(c->machine);
    iobus_read(&c->machine->pio, port, &v, size);
    machine_unlock(c->machine);
    return v & emu_mask(size);
}

static void io_out(EmuCpu *c, uint16_t port, unsigned size, uint64_t v)
{
    machine_lock(c->machine);
    iobus_write(&c->machine->pio, port, &v, size);
    machine_unlock(c->machine);
}

/* One element; returns false when a repe/repne comparison ends the loop. */
static bool str_once(EmuCpu *c, const EmuInsn *in)
{
    unsigned n = str_elem(in);
    int src_seg = in->seg_override != S_NONE ? in->seg_override : S_DS;
    uint64_t v, w;

    switch (in->mnem) {
    case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW:
    case ZYDIS_MNEMONIC_MOVSD: case ZYDIS_MNEMONIC_MOVSQ:
        v = emu_read_lin(c, emu_seg_lin(c, src_seg, str_reg(c, in, R_SI), n, ACC_READ), n, false);
        emu_write_lin(c, emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_WRITE), n, v, false);
        str_adv(c, in, R_SI, n);
        str_adv(c, in, R_DI, n);
        return true;
    case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW:
    case ZYDIS_MNEMONIC_STOSD: case ZYDIS_MNEMONIC_STOSQ:
        emu_write_lin(c, emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_WRITE), n,
                      c->gpr[R_AX], false);
        str_adv(c, in, R_DI, n);
        return true;
    case ZYDIS_MNEMONIC_LODSB: case ZYDIS_MNEMONIC_LODSW:
    case ZYDIS_MNEMONIC_LODSD: case ZYDIS_MNEMONIC_LODSQ:
        v = emu_read_lin(c, emu_seg_lin(c, src_seg, str_reg(c, in, R_SI), n, ACC_READ), n, false);
        reg_write(c, R_AX, n, v);
        str_adv(c, in, R_SI, n);
        return true;
    case ZYDIS_MNEMONIC_CMPSB: case ZYDIS_MNEMONIC_CMPSW:
    case ZYDIS_MNEMONIC_CMPSD: case ZYDIS_MNEMONIC_CMPSQ:
        v = emu_read_lin(c, emu_seg_lin(c, src_seg, str_reg(c, in, R_SI), n, ACC_READ), n, false);
        w = emu_read_lin(c, emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_READ), n, false);
        alu_sub(v, w, 0, n, &c->rflags);
        str_adv(c, in, R_SI, n);
        str_adv(c, in, R_DI, n);
        break;
    case ZYDIS_MNEMONIC_SCASB: case ZYDIS_MNEMONIC_SCASW:
    case ZYDIS_MNEMONIC_SCASD: case ZYDIS_MNEMONIC_SCASQ:
        w = emu_read_lin(c, emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_READ), n, false);
        alu_sub(c->gpr[R_AX], w, 0, n, &c->rflags);
        str_adv(c, in, R_DI, n);
        break;
    case ZYDIS_MNEMONIC_INSB: case ZYDIS_MNEMONIC_INSW: case ZYDIS_MNEMONIC_INSD: {
        uint64_t lin = emu_seg_lin(c, S_ES, str_reg(c, in, R_DI), n, ACC_WRITE);

        io_check(c, (uint16_t)c->gpr[R_DX], n);
        emu_translate(c, lin, ACC_WRITE, false);
        emu_write_lin(c, lin, n, io_in(c, (uint16_t)c->gpr[R_DX], n), false);
        str_adv(c, in, R_DI, n);
        return true;
    }
    default:    /* OUTS */
        io_check(c, (uint16_t)c->gpr[R_DX], n);
        v = emu_read_lin(c, emu_seg_lin(c, src_seg, str_reg(c, in, R_SI), n, ACC_READ), n, false);
        io_out(c, (uint16_t)c->gpr[R_DX], n, v);
        str_adv(c, in, R_SI, n);
        return true;
    }
    /* repe continues while equal, repne while different */
    return (in->flags & INSN_REP) ? (c->rflags & FL_ZF) != 0 : !(c->rflags & FL_ZF);
}

/* A rep prefix runs a bounded batch, then restarts the instruction so that
 * kicks and interrupts are seen during long copies. */
#define REP_BATCH 4096

static void exec_string(EmuCpu *c, const EmuInsn *in)
{
    if (!(in->flags & (INSN_REP | INSN_REPNE))) {
        str_once(c, in);
        return;
    }
    for (unsigned i = 0; i < REP_BATCH; i++) {
        uint64_t cnt = str_reg(c, in, R_CX);
        bool go_on;

        if (!cnt) {
            return;
        }
        go_on = str_once(c, in);      /* false only for a cmps/scas that ends */
        reg_write(c, R_CX, in->addrsize, cnt - 1);
        if (cnt - 1 == 0 || !go_on) {
            return;
        }
    }
    c->next_rip = c->insn_rip;
}

/* ---- the instruction switch ---- */

/* ---- system instructions ---- */

static void need_cpl0(EmuCpu *c)
{
    if (c->cpl != 0) {
        emu_gp(c, 0);
    }
}

G_NORETURN static void emu_unimplemented(EmuCpu *c, const EmuInsn *in)
{
    uint8_t bytes[15];
    uint64_t lin = c->long64 ? c->insn_rip : c->seg[S_CS].base + c->insn_rip;
    char what[64];

    emu_read_lin_buf(c, lin, bytes, in->len, false);
    snprintf(what, sizeof(what), "unimplemented instruction %s", ZydisMnemonicGetString(in->mnem));
    emu_log_ud_once(c, what, bytes, in->len);
    emu_ud(c);
}

static void exec_mov_crdr(EmuCpu *c, const EmuInsn *in, bool to_ctl)
{
    unsigned size = c->long64 ? 8 : 4;
    uint8_t r = to_ctl ? in->op[0].reg : in->op[1].reg;

    need_cpl0(c);
    if (r >= EREG_DR) {
        unsigned n = r - EREG_DR;

        if (n > 7) {
            emu_ud(c);
        }
        if (to_ctl) {
            c->dr[n] = op_read(c, in, 1, size);
        } else {
            reg_write(c, in->op[0].reg, size, c->dr[n]);
        }
        return;
    }
    if (to_ctl) {
        emu_write_cr(c, r - EREG_CR, op_read(c, in, 1, size));
    } else {
        reg_write(c, in->op[0].reg, size, emu_read_cr(c, r - EREG_CR));
    }
}

static void exec_cmpxchg_wide(EmuCpu *c, const EmuInsn *in)
{
    unsigned half = in->mnem == ZYDIS_MNEMONIC_CMPXCHG16B ? 8 : 4;
    uint64_t m = emu_mask(half);
    uint64_t exp_lo = c->gpr[R_AX] & m, exp_hi = c->gpr[R_DX] & m;
    uint64_t new_lo = c->gpr[R_BX] & m, new_hi = c->gpr[R_CX] & m;
    uint64_t lin = emu_seg_lin(c, in->op[0].seg, op_ea(c, in, &in->op[0]), half * 2, ACC_WRITE);
    uint8_t *p = emu_lin_ptr(c, lin, half * 2, ACC_WRITE, false, NULL);
    uint64_t cur_lo, cur_hi;
    bool eq;

    if (half == 8 && (lin & 15)) {
        emu_gp(c, 0);
    }
    if (p && half == 4 && !((uintptr_t)p & 7)) {
        uint64_t exp = exp_lo | exp_hi << 32;

        eq = __atomic_compare_exchange_n((uint64_t *)p, &exp, new_lo | new_hi << 32, false,
                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        cur_lo = exp & m;
        cur_hi = exp >> 32;
        emu_note_store(c, p);
    } else if (p && half == 8) {
        /* 16-byte CAS: GCC would call libatomic; the instruction is what we want. */
        cur_lo = exp_lo;
        cur_hi = exp_hi;
        __asm__ volatile("lock cmpxchg16b %1"
                         : "=@ccz"(eq), "+m"(*(unsigned __int128 *)p), "+a"(cur_lo), "+d"(cur_hi)
                         : "b"(new_lo), "c"(new_hi) : "memory");
        emu_note_store(c, p);
    } else {
        cur_lo = emu_read_lin(c, lin, half, false);
        cur_hi = emu_read_lin(c, lin + half, half, false);
        eq = cur_lo == exp_lo && cur_hi == exp_hi;
        emu_write_lin(c, lin, half, eq ? new_lo : cur_lo, false);
        emu_write_lin(c, lin + half, half, eq ? new_hi : cur_hi, false);
    }
    c->rflags = (c->rflags & ~(uint64_t)FL_ZF) | (eq ? FL_ZF : 0);
    if (!eq) {
        reg_write(c, R_AX, half, cur_lo);
        reg_write(c, R_DX, half, cur_hi);
    }
}

/* POPF: which bits may change depends on CPL and IOPL (SDM POPF table). */
static void exec_popf(EmuCpu *c, uint64_t v, unsigned size)
{
    uint64_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;

    if (c->cpl == 0) {
        mask |= FL_IOPL | FL_IF;
    } else if (c->cpl <= (int)((c->rflags >> 12) & 3)) {
        mask |= FL_IF;
    }
    if (!(c->cr0 & CR0_PE)) {
        mask |= FL_IOPL | FL_IF;
    }
    mask &= emu_mask(size);
    c->rflags = (c->rflags & ~mask) | (v & mask) | 2;
}

static void exec_enter(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = in->opsize, ss = emu_stack_size(c);
    uint64_t alloc = (uint16_t)in->op[0].val, level = (uint8_t)in->op[1].val & 31;
    uint64_t bp = c->gpr[R_BP], frame;

    emu_push(c, bp, size);
    frame = c->gpr[R_SP] & emu_mask(ss);
    for (uint64_t i = 1; i < level; i++) {
        bp = (bp - size) & emu_mask(ss);
        emu_push(c, emu_read_lin(c, emu_seg_lin(c, S_SS, bp, size, ACC_READ), size, false), size);
    }
    if (level) {
        emu_push(c, frame, size);
    }
    reg_write(c, R_BP, size, frame);
    reg_write(c, R_SP, ss, (c->gpr[R_SP] - alloc) & emu_mask(ss));
}

static void exec_far_branch(EmuCpu *c, const EmuInsn *in, bool call)
{
    uint16_t sel;
    uint64_t off;

    if (in->op[0].kind == OPK_PTR) {
        sel = in->op[0].ptr_sel;
        off = (uint64_t)in->op[0].val;
    } else {
        unsigned osz = in->op[0].size > 2 ? in->op[0].size - 2 : in->opsize;
        uint64_t lin = emu_seg_lin(c, in->op[0].seg, op_ea(c, in, &in->op[0]), osz + 2, ACC_READ);

        off = emu_read_lin(c, lin, osz, false);
        sel = (uint16_t)emu_read_lin(c, lin + osz, 2, false);
    }
    if (call) {
        emu_far_call(c, sel, off, in->opsize);
    } else {
        emu_far_jump(c, sel, off);
    }
}

static void exec_load_far_ptr(EmuCpu *c, const EmuInsn *in, int seg)
{
    unsigned osz = in->opsize;
    uint64_t lin = emu_seg_lin(c, in->op[1].seg, op_ea(c, in, &in->op[1]), osz + 2, ACC_READ);
    uint64_t off = emu_read_lin(c, lin, osz, false);
    uint16_t sel = (uint16_t)emu_read_lin(c, lin + osz, 2, false);

    emu_load_seg(c, seg, sel);
    reg_write(c, in->op[0].reg, osz, off);
}

static void exec_dtr(EmuCpu *c, const EmuInsn *in, EmuDtr *d, bool load)
{
    unsigned bsz = c->long64 ? 8 : 4;
    uint64_t lin = emu_seg_lin(c, in->op[0].seg, op_ea(c, in, &in->op[0]), 2 + bsz,
                               load ? ACC_READ : ACC_WRITE);

    if (load) {
        uint16_t limit;
        uint64_t base;

        need_cpl0(c);
        limit = (uint16_t)emu_read_lin(c, lin, 2, false);
        base = emu_read_lin(c, lin + 2, bsz, false);
        if (!c->long64 && in->opsize == 2) {
            base &= 0xFFFFFF;
        }
        d->limit = limit;
        d->base = base;
    } else {
        emu_write_lin(c, lin, 2, d->limit, false);
        emu_write_lin(c, lin + 2, bsz, d->base, false);
    }
}

static bool exec_io(EmuCpu *c, const EmuInsn *in)
{
    if (in->mnem == ZYDIS_MNEMONIC_IN) {
        unsigned size = in->op[0].size;
        uint16_t port = port_of(c, in, 1);

        io_check(c, port, size);
        reg_write(c, R_AX, size, io_in(c, port, size));
        return true;
    }
    if (in->mnem == ZYDIS_MNEMONIC_OUT) {
        unsigned size = in->op[1].size;
        uint16_t port = port_of(c, in, 0);

        io_check(c, port, size);
        io_out(c, port, size, c->gpr[R_AX] & emu_mask(size));
        return true;
    }
    return false;
}

static void check_if_change(EmuCpu *c)
{
    if ((c->cr0 & CR0_PE) && c->cpl > (int)((c->rflags >> 12) & 3)) {
        emu_gp(c, 0);
    }
}

static bool exec_flags(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_CLC: c->rflags &= ~(uint64_t)FL_CF; return true;
    case ZYDIS_MNEMONIC_STC: c->rflags |= FL_CF; return true;
    case ZYDIS_MNEMONIC_CMC: c->rflags ^= FL_CF; return true;
    case ZYDIS_MNEMONIC_CLD: c->rflags &= ~(uint64_t)FL_DF; return true;
    case ZYDIS_MNEMONIC_STD: c->rflags |= FL_DF; return true;
    case ZYDIS_MNEMONIC_CLI:
        check_if_change(c);
        c->rflags &= ~(uint64_t)FL_IF;
        return true;
    case ZYDIS_MNEMONIC_STI:
        check_if_change(c);
        if (!(c->rflags & FL_IF)) {
            c->sti_shadow = true;     /* sti; hlt must not miss the interrupt */
            c->block_exit = true;
        }
        c->rflags |= FL_IF;
        return true;
    case ZYDIS_MNEMONIC_LAHF:
        reg_write(c, EREG_HIGH8 + R_AX, 1, (c->rflags & 0xD5) | 2);
        return true;
    case ZYDIS_MNEMONIC_SAHF:
        c->rflags = (c->rflags & ~0xD5ull) | ((c->gpr[R_AX] >> 8) & 0xD5);
        return true;
    default:
        return false;
    }
}

static bool exec_privileged(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_HLT:
        need_cpl0(c);
        c->halted = true;
        c->block_exit = true;
        return true;
    case ZYDIS_MNEMONIC_LGDT: exec_dtr(c, in, &c->gdtr, true); return true;
    case ZYDIS_MNEMONIC_LIDT: exec_dtr(c, in, &c->idtr, true); return true;
    case ZYDIS_MNEMONIC_SGDT: exec_dtr(c, in, &c->gdtr, false); return true;
    case ZYDIS_MNEMONIC_SIDT: exec_dtr(c, in, &c->idtr, false); return true;
    case ZYDIS_MNEMONIC_LTR:
        need_cpl0(c);
        emu_ltr(c, (uint16_t)op_read(c, in, 0, 2));
        return true;
    case ZYDIS_MNEMONIC_LLDT:
        need_cpl0(c);
        emu_lldt(c, (uint16_t)op_read(c, in, 0, 2));
        return true;
    case ZYDIS_MNEMONIC_STR:
        op_write(c, in, 0, in->op[0].kind == OPK_MEM ? 2 : opsz(in, 0), c->tr.sel);
        return true;
    case ZYDIS_MNEMONIC_SLDT:
        op_write(c, in, 0, in->op[0].kind == OPK_MEM ? 2 : opsz(in, 0), c->ldtr.sel);
        return true;
    case ZYDIS_MNEMONIC_SMSW:
        op_write(c, in, 0, in->op[0].kind == OPK_MEM ? 2 : opsz(in, 0), c->cr0);
        return true;
    case ZYDIS_MNEMONIC_LMSW: {
        uint64_t v = op_read(c, in, 0, 2);

        need_cpl0(c);
        /* LMSW can set PE but never clear it */
        emu_write_cr(c, 0, (c->cr0 & ~0xEull) | (v & 0xF) | (c->cr0 & CR0_PE));
        return true;
    }
    case ZYDIS_MNEMONIC_CLTS:
        need_cpl0(c);
        c->cr0 &= ~CR0_TS;
        return true;
    case ZYDIS_MNEMONIC_INVLPG:
    case ZYDIS_MNEMONIC_WBINVD:
    case ZYDIS_MNEMONIC_INVD:
        need_cpl0(c);
        if (in->mnem == ZYDIS_MNEMONIC_INVLPG) {
            emu_tlb_flush(c);
        }
        return true;
    case ZYDIS_MNEMONIC_RDMSR: {
        uint64_t v;

        need_cpl0(c);
        v = emu_rdmsr(c, (uint32_t)c->gpr[R_CX]);
        reg_write(c, R_AX, 4, v & 0xFFFFFFFF);
        reg_write(c, R_DX, 4, v >> 32);
        return true;
    }
    case ZYDIS_MNEMONIC_WRMSR:
        need_cpl0(c);
        emu_wrmsr(c, (uint32_t)c->gpr[R_CX],
                  (c->gpr[R_AX] & 0xFFFFFFFF) | (c->gpr[R_DX] << 32));
        return true;
    case ZYDIS_MNEMONIC_SWAPGS: {
        uint64_t t;

        if (!c->long64) {
            emu_ud(c);
        }
        need_cpl0(c);
        t = c->seg[S_GS].base;
        c->seg[S_GS].base = c->kernel_gs_base;
        c->kernel_gs_base = t;
        return true;
    }
    default:
        return false;
    }
}

static bool exec_sys(EmuCpu *c, const EmuInsn *in)
{
    if (exec_io(c, in) || exec_flags(c, in) || exec_privileged(c, in)) {
        return true;
    }
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_CPUID: {
        uint32_t r[4];

        emu_cpuid(c, (uint32_t)c->gpr[R_AX], (uint32_t)c->gpr[R_CX], r);
        reg_write(c, R_AX, 4, r[0]);
        reg_write(c, R_BX, 4, r[1]);
        reg_write(c, R_CX, 4, r[2]);
        reg_write(c, R_DX, 4, r[3]);
        return true;
    }
    case ZYDIS_MNEMONIC_RDTSC:
    case ZYDIS_MNEMONIC_RDTSCP: {
        uint64_t t;

        if ((c->cr4 & 4) && c->cpl != 0) {      /* CR4.TSD */
            emu_gp(c, 0);
        }
        t = emu_rdtsc(c);
        reg_write(c, R_AX, 4, t & 0xFFFFFFFF);
        reg_write(c, R_DX, 4, t >> 32);
        if (in->mnem == ZYDIS_MNEMONIC_RDTSCP) {
            reg_write(c, R_CX, 4, c->tsc_aux);
        }
        return true;
    }
    case ZYDIS_MNEMONIC_INT:
        emu_deliver(c, (uint8_t)in->op[0].val, false, 0, true, c->next_rip);
        return true;
    case ZYDIS_MNEMONIC_INT3:
        emu_deliver(c, EXC_BP, false, 0, true, c->next_rip);
        return true;
    case ZYDIS_MNEMONIC_INTO:
        if (c->long64) {
            emu_ud(c);
        }
        if (c->rflags & FL_OF) {
            emu_deliver(c, EXC_OF, false, 0, true, c->next_rip);
        }
        return true;
    case ZYDIS_MNEMONIC_INT1:
        emu_deliver(c, EXC_DB, false, 0, false, c->next_rip);
        return true;
    case ZYDIS_MNEMONIC_IRET: case ZYDIS_MNEMONIC_IRETD: case ZYDIS_MNEMONIC_IRETQ:
        emu_iret(c, in->opsize);
        return true;
    case ZYDIS_MNEMONIC_SYSCALL:
        emu_syscall(c);
        return true;
    case ZYDIS_MNEMONIC_SYSRET:
        emu_sysret(c, in->opsize);
        return true;
    case ZYDIS_MNEMONIC_LSS: exec_load_far_ptr(c, in, S_SS); return true;
    case ZYDIS_MNEMONIC_LDS: exec_load_far_ptr(c, in, S_DS); return true;
    case ZYDIS_MNEMONIC_LES: exec_load_far_ptr(c, in, S_ES); return true;
    case ZYDIS_MNEMONIC_LFS: exec_load_far_ptr(c, in, S_FS); return true;
    case ZYDIS_MNEMONIC_LGS: exec_load_far_ptr(c, in, S_GS); return true;
    case ZYDIS_MNEMONIC_NOP: case ZYDIS_MNEMONIC_PAUSE: case ZYDIS_MNEMONIC_MFENCE:
    case ZYDIS_MNEMONIC_LFENCE: case ZYDIS_MNEMONIC_SFENCE: case ZYDIS_MNEMONIC_ENDBR64:
    case ZYDIS_MNEMONIC_ENDBR32: case ZYDIS_MNEMONIC_PREFETCHT0: case ZYDIS_MNEMONIC_PREFETCHT1:
    case ZYDIS_MNEMONIC_PREFETCHT2: case ZYDIS_MNEMONIC_PREFETCHNTA: case ZYDIS_MNEMONIC_PREFETCHW:
    case ZYDIS_MNEMONIC_PREFETCH:
        if (in->mnem == ZYDIS_MNEMONIC_MFENCE) {
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
        }
        return true;
    case ZYDIS_MNEMONIC_CLFLUSH:
        emu_seg_lin(c, in->op[0].seg, op_ea(c, in, &in->op[0]), 1, ACC_READ);
        return true;
    default:
        return false;
    }
}

/* ---- data movement ---- */

static bool exec_data(EmuCpu *c, const EmuInsn *in)
{
    unsigned size = opsz(in, 0);

    switch (in->mnem) {
    case ZYDIS_MNEMONIC_MOV:
        if (op_is_sreg(&in->op[0])) {
            emu_load_seg(c, in->op[0].reg - EREG_SEG, (uint16_t)op_read(c, in, 1, 2));
        } else if (op_is_sreg(&in->op[1])) {
            uint16_t sel = c->seg[in->op[1].reg - EREG_SEG].sel;

            /* to a register: zero-extended to the operand size; to memory: 16 bits */
            op_write(c, in, 0, in->op[0].kind == OPK_MEM ? 2 : size, sel);
        } else if (in->op[0].kind == OPK_REG && in->op[0].reg >= EREG_CR) {
            exec_mov_crdr(c, in, true);
        } else if (in->op[1].kind == OPK_REG && in->op[1].reg >= EREG_CR &&
                   in->op[1].reg != EREG_NONE && in->op[1].reg != EREG_RIP) {
            exec_mov_crdr(c, in, false);
        } else {
            op_write(c, in, 0, size, op_read(c, in, 1, size));
        }
        return true;
    case ZYDIS_MNEMONIC_MOVZX:
        op_write(c, in, 0, size, op_read(c, in, 1, in->op[1].size));
        return true;
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD:
        op_write(c, in, 0, size, emu_sext(op_read(c, in, 1, in->op[1].size), in->op[1].size));
        return true;
    case ZYDIS_MNEMONIC_LEA:
        reg_write(c, in->op[0].reg, size, op_ea(c, in, &in->op[1]));
        return true;
    case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB:
    case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ:
    case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE: case ZYDIS_MNEMONIC_CMOVS:
    case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
    case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE:
    case ZYDIS_MNEMONIC_CMOVNLE: {
        uint64_t v = op_read(c, in, 1, size);   /* the source is read (and may fault) */

        /* a 32-bit cmov zero-extends its destination even when false */
        reg_write(c, in->op[0].reg, size, alu_cond(c->rflags, in->opcode & 0xF) ? v
                  : reg_read(c, in->op[0].reg, size));
        return true;
    }
    case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB:
    case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ:
    case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE: case ZYDIS_MNEMONIC_SETS:
    case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
    case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE:
    case ZYDIS_MNEMONIC_SETNLE:
        op_write(c, in, 0, 1, alu_cond(c->rflags, in->opcode & 0xF));
        return true;
    case ZYDIS_MNEMONIC_XCHG:
        exec_xchg(c, in);
        return true;
    case ZYDIS_MNEMONIC_CMPXCHG:
        exec_cmpxchg(c, in);
        return true;
    case ZYDIS_MNEMONIC_CMPXCHG8B:
    case ZYDIS_MNEMONIC_CMPXCHG16B:
        exec_cmpxchg_wide(c, in);
        return true;
    case ZYDIS_MNEMONIC_XADD:
        exec_xadd(c, in);
        return true;
    case ZYDIS_MNEMONIC_BSWAP: {
        uint64_t v = reg_read(c, in->op[0].reg, size);

        reg_write(c, in->op[0].reg, size, size == 8 ? __builtin_bswap64(v)
                  : size == 4 ? __builtin_bswap32((uint32_t)v) : 0);
        return true;
    }
    case ZYDIS_MNEMONIC_CBW:
        reg_write(c, R_AX, 2, emu_sext(c->gpr[R_AX], 1));
        return true;
    case ZYDIS_MNEMONIC_CWDE:
        reg_write(c, R_AX, 4, emu_sext(c->gpr[R_AX], 2));
        return true;
    case ZYDIS_MNEMONIC_CDQE:
        reg_write(c, R_AX, 8, emu_sext(c->gpr[R_AX], 4));
        return true;
    case ZYDIS_MNEMONIC_CWD:
    case ZYDIS_MNEMONIC_CDQ:
    case ZYDIS_MNEMONIC_CQO: {
        unsigned s = in->mnem == ZYDIS_MNEMONIC_CWD ? 2 : in->mnem == ZYDIS_MNEMONIC_CDQ ? 4 : 8;

        reg_write(c, R_DX, s, alu_msb(c->gpr[R_AX], s) ? ~0ull : 0);
        return true;
    }
    case ZYDIS_MNEMONIC_XLAT: {
        uint64_t off = (c->gpr[R_BX] + (c->gpr[R_AX] & 0xFF)) & emu_mask(in->addrsize);
        int seg = in->seg_override != S_NONE ? in->seg_override : S_DS;

        reg_write(c, R_AX, 1, emu_read_lin(c, emu_seg_lin(c, seg, off, 1, ACC_READ), 1, false));
        return true;
    }
    default:
        return false;
    }
}

static bool exec_stack(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_PUSH:
        if (op_is_sreg(&in->op[0])) {
            emu_push(c, c->seg[in->op[0].reg - EREG_SEG].sel, in->opsize);
        } else if (in->op[0].kind == OPK_IMM) {
            emu_push(c, (uint64_t)in->op[0].val & emu_mask(in->opsize), in->opsize);
        } else {
            emu_push(c, op_read(c, in, 0, in->opsize), in->opsize);
        }
        return true;
    case ZYDIS_MNEMONIC_POP:
        if (op_is_sreg(&in->op[0])) {
            uint64_t sp = c->gpr[R_SP];
            uint16_t sel = (uint16_t)emu_pop(c, in->opsize);

            c->gpr[R_SP] = sp;            /* restored if the load faults ... */
            emu_load_seg(c, in->op[0].reg - EREG_SEG, sel);
            emu_pop(c, in->opsize);       /* ... and popped for real once it did not */
            if (in->op[0].reg == EREG_SEG + S_SS) {
                c->sti_shadow = true;
                c->block_exit = true;
            }
        } else {
            uint64_t sp = c->gpr[R_SP];
            uint64_t v = emu_pop(c, in->opsize);
            uint64_t nsp = c->gpr[R_SP];

            c->gpr[R_SP] = sp;
            op_write(c, in, 0, in->opsize, v);
            if (!(in->op[0].kind == OPK_REG && (in->op[0].reg & 15) == R_SP)) {
                c->gpr[R_SP] = nsp;
            }
        }
        return true;
    case ZYDIS_MNEMONIC_PUSHF: case ZYDIS_MNEMONIC_PUSHFD: case ZYDIS_MNEMONIC_PUSHFQ:
        emu_push(c, c->rflags & ~(uint64_t)(FL_VM | FL_RF) & emu_mask(in->opsize), in->opsize);
        return true;
    case ZYDIS_MNEMONIC_POPF: case ZYDIS_MNEMONIC_POPFD: case ZYDIS_MNEMONIC_POPFQ:
        exec_popf(c, emu_pop(c, in->opsize), in->opsize);
        return true;
    case ZYDIS_MNEMONIC_PUSHA: case ZYDIS_MNEMONIC_PUSHAD: {
        uint64_t sp = c->gpr[R_SP];

        for (int r = 0; r < 8; r++) {
            emu_push(c, r == R_SP ? sp : c->gpr[r], in->opsize);
        }
        return true;
    }
    case ZYDIS_MNEMONIC_POPA: case ZYDIS_MNEMONIC_POPAD:
        for (int r = 7; r >= 0; r--) {
            uint64_t v = emu_pop(c, in->opsize);

            if (r != R_SP) {
                reg_write(c, (uint8_t)r, in->opsize, v);
            }
        }
        return true;
    case ZYDIS_MNEMONIC_LEAVE: {
        unsigned ss = emu_stack_size(c);

        reg_write(c, R_SP, ss, c->gpr[R_BP]);
        reg_write(c, R_BP, in->opsize, emu_pop(c, in->opsize));
        return true;
    }
    case ZYDIS_MNEMONIC_ENTER:
        exec_enter(c, in);
        return true;
    default:
        return false;
    }
}

/* ---- arithmetic ---- */

static bool exec_arith(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_INC: exec_unary(c, in, rmw_inc); return true;
    case ZYDIS_MNEMONIC_DEC: exec_unary(c, in, rmw_dec); return true;
    case ZYDIS_MNEMONIC_NEG: exec_unary(c, in, rmw_neg); return true;
    case ZYDIS_MNEMONIC_NOT: exec_unary(c, in, rmw_not); return true;
    case ZYDIS_MNEMONIC_ROL: exec_shift(c, in, SH_ROL); return true;
    case ZYDIS_MNEMONIC_ROR: exec_shift(c, in, SH_ROR); return true;
    case ZYDIS_MNEMONIC_RCL: exec_shift(c, in, SH_RCL); return true;
    case ZYDIS_MNEMONIC_RCR: exec_shift(c, in, SH_RCR); return true;
    case ZYDIS_MNEMONIC_SHL: exec_shift(c, in, SH_SHL); return true;
    case ZYDIS_MNEMONIC_SHR: exec_shift(c, in, SH_SHR); return true;
    case ZYDIS_MNEMONIC_SAR: exec_shift(c, in, SH_SAR); return true;
    case ZYDIS_MNEMONIC_SHLD: exec_shxd(c, in, true); return true;
    case ZYDIS_MNEMONIC_SHRD: exec_shxd(c, in, false); return true;
    case ZYDIS_MNEMONIC_MUL: exec_mul1(c, in, false); return true;
    case ZYDIS_MNEMONIC_IMUL:
        if (in->opcode == 0xF6 || in->opcode == 0xF7) {     /* one-operand form */
            exec_mul1(c, in, true);
        } else {
            exec_imul_n(c, in);
        }
        return true;
    case ZYDIS_MNEMONIC_DIV: exec_div(c, in, false); return true;
    case ZYDIS_MNEMONIC_IDIV: exec_div(c, in, true); return true;
    case ZYDIS_MNEMONIC_BT:  exec_bt(c, in, 0); return true;
    case ZYDIS_MNEMONIC_BTS: exec_bt(c, in, 1); return true;
    case ZYDIS_MNEMONIC_BTR: exec_bt(c, in, 2); return true;
    case ZYDIS_MNEMONIC_BTC: exec_bt(c, in, 3); return true;
    case ZYDIS_MNEMONIC_BSF: exec_bsf_bsr(c, in, false); return true;
    case ZYDIS_MNEMONIC_BSR: exec_bsf_bsr(c, in, true); return true;
    default: return false;
    }
}

/* ---- control flow ---- */

static bool exec_flow(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_JMP:
        if (in->flags & INSN_FAR) {
            exec_far_branch(c, in, false);
        } else if (in->op[0].kind == OPK_IMM) {
            jump(c, in, rel_target(c, in));
        } else {
            jump(c, in, op_read(c, in, 0, c->long64 ? 8 : in->opsize));
        }
        return true;
    case ZYDIS_MNEMONIC_JCXZ: case ZYDIS_MNEMONIC_JECXZ: case ZYDIS_MNEMONIC_JRCXZ:
        if (!(c->gpr[R_CX] & emu_mask(in->addrsize))) {
            jump(c, in, rel_target(c, in));
        }
        return true;
    case ZYDIS_MNEMONIC_LOOP: case ZYDIS_MNEMONIC_LOOPE: case ZYDIS_MNEMONIC_LOOPNE: {
        uint64_t cnt = (c->gpr[R_CX] - 1) & emu_mask(in->addrsize);
        bool take = cnt != 0;

        if (in->mnem == ZYDIS_MNEMONIC_LOOPE) {
            take = take && (c->rflags & FL_ZF);
        } else if (in->mnem == ZYDIS_MNEMONIC_LOOPNE) {
            take = take && !(c->rflags & FL_ZF);
        }
        reg_write(c, R_CX, in->addrsize, cnt);
        if (take) {
            jump(c, in, rel_target(c, in));
        }
        return true;
    }
    case ZYDIS_MNEMONIC_CALL:
        if (in->flags & INSN_FAR) {
            exec_far_branch(c, in, true);
        } else {
            unsigned sz = c->long64 ? 8 : in->opsize;
            uint64_t target = in->op[0].kind == OPK_IMM ? rel_target(c, in)
                              : op_read(c, in, 0, sz);

            emu_push(c, c->next_rip, sz);
            jump(c, in, target);
        }
        return true;
    case ZYDIS_MNEMONIC_RET:
        if (in->opcode == 0xCA || in->opcode == 0xCB) {
            emu_far_ret(c, in->opsize, in->nops ? (uint16_t)in->op[0].val : 0);
        } else {
            unsigned sz = c->long64 ? 8 : in->opsize;
            uint64_t target = emu_pop(c, sz);

            if (in->nops && in->op[0].kind == OPK_IMM) {
                unsigned ss = emu_stack_size(c);

                reg_write(c, R_SP, ss, c->gpr[R_SP] + (uint16_t)in->op[0].val);
            }
            jump(c, in, target);
        }
        return true;
    default:
        return false;
    }
}

/* ---- dispatch ---- */

static void h_data(EmuCpu *c, const EmuInsn *in) { exec_data(c, in); }
static void h_stack(EmuCpu *c, const EmuInsn *in) { exec_stack(c, in); }
static void h_arith(EmuCpu *c, const EmuInsn *in) { exec_arith(c, in); }
static void h_flow(EmuCpu *c, const EmuInsn *in) { exec_flow(c, in); }

static void h_sys(EmuCpu *c, const EmuInsn *in)
{
    if (!exec_sys(c, in)) {
        emu_unimplemented(c, in);
    }
}

#define ALU_HANDLER(name, op) \
    static void h_##name(EmuCpu *c, const EmuInsn *in) { exec_alu(c, in, op); }
ALU_HANDLER(add, ALU_ADD)
ALU_HANDLER(or, ALU_OR)
ALU_HANDLER(adc, ALU_ADC)
ALU_HANDLER(sbb, ALU_SBB)
ALU_HANDLER(and, ALU_AND)
ALU_HANDLER(sub, ALU_SUB)
ALU_HANDLER(xor, ALU_XOR)
ALU_HANDLER(cmp, ALU_CMP)

static void h_test(EmuCpu *c, const EmuInsn *in) { exec_test(c, in); }

static void h_jcc(EmuCpu *c, const EmuInsn *in)
{
    if (alu_cond(c->rflags, in->opcode & 0xF)) {
        jump(c, in, rel_target(c, in));
    }
}

/* Plain GPR/memory moves skip exec_data's checks for segment and control registers. */
static void h_mov(EmuCpu *c, const EmuInsn *in)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    unsigned size = opsz(in, 0);

    if (d->kind == OPK_REG && d->reg < EREG_SEG && (s->kind != OPK_REG || s->reg < EREG_SEG)) {
        reg_write(c, d->reg, size, op_read(c, in, 1, size));
    } else if (s->kind == OPK_REG && s->reg < EREG_SEG && d->kind != OPK_REG) {
        op_write(c, in, 0, size, reg_read(c, s->reg, size));
    } else {
        exec_data(c, in);
    }
}

static void h_string(EmuCpu *c, const EmuInsn *in)
{
    /* MOVSD and CMPSD are also SSE2 mnemonics (0F map) */
    if ((in->mnem == ZYDIS_MNEMONIC_MOVSD || in->mnem == ZYDIS_MNEMONIC_CMPSD) &&
        in->opmap != ZYDIS_OPCODE_MAP_DEFAULT) {
        emu_unimplemented(c, in);
    }
    exec_string(c, in);
}

/* Indexed by mnemonic; decoding stores the entry in EmuInsn.fn. */
static EmuHandler *const handlers[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
    [ZYDIS_MNEMONIC_ADC] = h_adc,
    [ZYDIS_MNEMONIC_ADD] = h_add,
    [ZYDIS_MNEMONIC_AND] = h_and,
    [ZYDIS_MNEMONIC_BSF] = h_arith,
    [ZYDIS_MNEMONIC_BSR] = h_arith,
    [ZYDIS_MNEMONIC_BSWAP] = h_data,
    [ZYDIS_MNEMONIC_BT] = h_arith,
    [ZYDIS_MNEMONIC_BTC] = h_arith,
    [ZYDIS_MNEMONIC_BTR] = h_arith,
    [ZYDIS_MNEMONIC_BTS] = h_arith,
    [ZYDIS_MNEMONIC_CALL] = h_flow,
    [ZYDIS_MNEMONIC_CBW] = h_data,
    [ZYDIS_MNEMONIC_CDQ] = h_data,
    [ZYDIS_MNEMONIC_CDQE] = h_data,
    [ZYDIS_MNEMONIC_CLC] = h_sys,
    [ZYDIS_MNEMONIC_CLD] = h_sys,
    [ZYDIS_MNEMONIC_CLFLUSH] = h_sys,
    [ZYDIS_MNEMONIC_CLI] = h_sys,
    [ZYDIS_MNEMONIC_CLTS] = h_sys,
    [ZYDIS_MNEMONIC_CMC] = h_sys,
    [ZYDIS_MNEMONIC_CMOVB] = h_data,
    [ZYDIS_MNEMONIC_CMOVBE] = h_data,
    [ZYDIS_MNEMONIC_CMOVL] = h_data,
    [ZYDIS_MNEMONIC_CMOVLE] = h_data,
    [ZYDIS_MNEMONIC_CMOVNB] = h_data,
    [ZYDIS_MNEMONIC_CMOVNBE] = h_data,
    [ZYDIS_MNEMONIC_CMOVNL] = h_data,
    [ZYDIS_MNEMONIC_CMOVNLE] = h_data,
    [ZYDIS_MNEMONIC_CMOVNO] = h_data,
    [ZYDIS_MNEMONIC_CMOVNP] = h_data,
    [ZYDIS_MNEMONIC_CMOVNS] = h_data,
    [ZYDIS_MNEMONIC_CMOVNZ] = h_data,
    [ZYDIS_MNEMONIC_CMOVO] = h_data,
    [ZYDIS_MNEMONIC_CMOVP] = h_data,
    [ZYDIS_MNEMONIC_CMOVS] = h_data,
    [ZYDIS_MNEMONIC_CMOVZ] = h_data,
    [ZYDIS_MNEMONIC_CMP] = h_cmp,
    [ZYDIS_MNEMONIC_CMPSB] = h_string,
    [ZYDIS_MNEMONIC_CMPSD] = h_string,
    [ZYDIS_MNEMONIC_CMPSQ] = h_string,
    [ZYDIS_MNEMONIC_CMPSW] = h_string,
    [ZYDIS_MNEMONIC_CMPXCHG] = h_data,
    [ZYDIS_MNEMONIC_CMPXCHG16B] = h_data,
    [ZYDIS_MNEMONIC_CMPXCHG8B] = h_data,
    [ZYDIS_MNEMONIC_CPUID] = h_sys,
    [ZYDIS_MNEMONIC_CQO] = h_data,
    [ZYDIS_MNEMONIC_CWD] = h_data,
    [ZYDIS_MNEMONIC_CWDE] = h_data,
    [ZYDIS_MNEMONIC_DEC] = h_arith,
    [ZYDIS_MNEMONIC_DIV] = h_arith,
    [ZYDIS_MNEMONIC_ENDBR32] = h_sys,
    [ZYDIS_MNEMONIC_ENDBR64] = h_sys,
    [ZYDIS_MNEMONIC_ENTER] = h_stack,
    [ZYDIS_MNEMONIC_HLT] = h_sys,
    [ZYDIS_MNEMONIC_IDIV] = h_arith,
    [ZYDIS_MNEMONIC_IMUL] = h_arith,
    [ZYDIS_MNEMONIC_IN] = h_sys,
    [ZYDIS_MNEMONIC_INC] = h_arith,
    [ZYDIS_MNEMONIC_INSB] = h_string,
    [ZYDIS_MNEMONIC_INSD] = h_string,
    [ZYDIS_MNEMONIC_INSW] = h_string,
    [ZYDIS_MNEMONIC_INT] = h_sys,
    [ZYDIS_MNEMONIC_INT1] = h_sys,
    [ZYDIS_MNEMONIC_INT3] = h_sys,
    [ZYDIS_MNEMONIC_INTO] = h_sys,
    [ZYDIS_MNEMONIC_INVD] = h_sys,
    [ZYDIS_MNEMONIC_INVLPG] = h_sys,
    [ZYDIS_MNEMONIC_IRET] = h_sys,
    [ZYDIS_MNEMONIC_IRETD] = h_sys,
    [ZYDIS_MNEMONIC_IRETQ] = h_sys,
    [ZYDIS_MNEMONIC_JB] = h_jcc,
    [ZYDIS_MNEMONIC_JBE] = h_jcc,
    [ZYDIS_MNEMONIC_JCXZ] = h_flow,
    [ZYDIS_MNEMONIC_JECXZ] = h_flow,
    [ZYDIS_MNEMONIC_JL] = h_jcc,
    [ZYDIS_MNEMONIC_JLE] = h_jcc,
    [ZYDIS_MNEMONIC_JMP] = h_flow,
    [ZYDIS_MNEMONIC_JNB] = h_jcc,
    [ZYDIS_MNEMONIC_JNBE] = h_jcc,
    [ZYDIS_MNEMONIC_JNL] = h_jcc,
    [ZYDIS_MNEMONIC_JNLE] = h_jcc,
    [ZYDIS_MNEMONIC_JNO] = h_jcc,
    [ZYDIS_MNEMONIC_JNP] = h_jcc,
    [ZYDIS_MNEMONIC_JNS] = h_jcc,
    [ZYDIS_MNEMONIC_JNZ] = h_jcc,
    [ZYDIS_MNEMONIC_JO] = h_jcc,
    [ZYDIS_MNEMONIC_JP] = h_jcc,
    [ZYDIS_MNEMONIC_JRCXZ] = h_flow,
    [ZYDIS_MNEMONIC_JS] = h_jcc,
    [ZYDIS_MNEMONIC_JZ] = h_jcc,
    [ZYDIS_MNEMONIC_LAHF] = h_sys,
    [ZYDIS_MNEMONIC_LDS] = h_sys,
    [ZYDIS_MNEMONIC_LEA] = h_data,
    [ZYDIS_MNEMONIC_LEAVE] = h_stack,
    [ZYDIS_MNEMONIC_LES] = h_sys,
    [ZYDIS_MNEMONIC_LFENCE] = h_sys,
    [ZYDIS_MNEMONIC_LFS] = h_sys,
    [ZYDIS_MNEMONIC_LGDT] = h_sys,
    [ZYDIS_MNEMONIC_LGS] = h_sys,
    [ZYDIS_MNEMONIC_LIDT] = h_sys,
    [ZYDIS_MNEMONIC_LLDT] = h_sys,
    [ZYDIS_MNEMONIC_LMSW] = h_sys,
    [ZYDIS_MNEMONIC_LODSB] = h_string,
    [ZYDIS_MNEMONIC_LODSD] = h_string,
    [ZYDIS_MNEMONIC_LODSQ] = h_string,
    [ZYDIS_MNEMONIC_LODSW] = h_string,
    [ZYDIS_MNEMONIC_LOOP] = h_flow,
    [ZYDIS_MNEMONIC_LOOPE] = h_flow,
    [ZYDIS_MNEMONIC_LOOPNE] = h_flow,
    [ZYDIS_MNEMONIC_LSS] = h_sys,
    [ZYDIS_MNEMONIC_LTR] = h_sys,
    [ZYDIS_MNEMONIC_MFENCE] = h_sys,
    [ZYDIS_MNEMONIC_MOV] = h_mov,
    [ZYDIS_MNEMONIC_MOVSB] = h_string,
    [ZYDIS_MNEMONIC_MOVSD] = h_string,
    [ZYDIS_MNEMONIC_MOVSQ] = h_string,
    [ZYDIS_MNEMONIC_MOVSW] = h_string,
    [ZYDIS_MNEMONIC_MOVSX] = h_data,
    [ZYDIS_MNEMONIC_MOVSXD] = h_data,
    [ZYDIS_MNEMONIC_MOVZX] = h_data,
    [ZYDIS_MNEMONIC_MUL] = h_arith,
    [ZYDIS_MNEMONIC_NEG] = h_arith,
    [ZYDIS_MNEMONIC_NOP] = h_sys,
    [ZYDIS_MNEMONIC_NOT] = h_arith,
    [ZYDIS_MNEMONIC_OR] = h_or,
    [ZYDIS_MNEMONIC_OUT] = h_sys,
    [ZYDIS_MNEMONIC_OUTSB] = h_string,
    [ZYDIS_MNEMONIC_OUTSD] = h_string,
    [ZYDIS_MNEMONIC_OUTSW] = h_string,
    [ZYDIS_MNEMONIC_PAUSE] = h_sys,
    [ZYDIS_MNEMONIC_POP] = h_stack,
    [ZYDIS_MNEMONIC_POPA] = h_stack,
    [ZYDIS_MNEMONIC_POPAD] = h_stack,
    [ZYDIS_MNEMONIC_POPF] = h_stack,
    [ZYDIS_MNEMONIC_POPFD] = h_stack,
    [ZYDIS_MNEMONIC_POPFQ] = h_stack,
    [ZYDIS_MNEMONIC_PREFETCH] = h_sys,
    [ZYDIS_MNEMONIC_PREFETCHNTA] = h_sys,
    [ZYDIS_MNEMONIC_PREFETCHT0] = h_sys,
    [ZYDIS_MNEMONIC_PREFETCHT1] = h_sys,
    [ZYDIS_MNEMONIC_PREFETCHT2] = h_sys,
    [ZYDIS_MNEMONIC_PREFETCHW] = h_sys,
    [ZYDIS_MNEMONIC_PUSH] = h_stack,
    [ZYDIS_MNEMONIC_PUSHA] = h_stack,
    [ZYDIS_MNEMONIC_PUSHAD] = h_stack,
    [ZYDIS_MNEMONIC_PUSHF] = h_stack,
    [ZYDIS_MNEMONIC_PUSHFD] = h_stack,
    [ZYDIS_MNEMONIC_PUSHFQ] = h_stack,
    [ZYDIS_MNEMONIC_RCL] = h_arith,
    [ZYDIS_MNEMONIC_RCR] = h_arith,
    [ZYDIS_MNEMONIC_RDMSR] = h_sys,
    [ZYDIS_MNEMONIC_RDTSC] = h_sys,
    [ZYDIS_MNEMONIC_RDTSCP] = h_sys,
    [ZYDIS_MNEMONIC_RET] = h_flow,
    [ZYDIS_MNEMONIC_ROL] = h_arith,
    [ZYDIS_MNEMONIC_ROR] = h_arith,
    [ZYDIS_MNEMONIC_SAHF] = h_sys,
    [ZYDIS_MNEMONIC_SAR] = h_arith,
    [ZYDIS_MNEMONIC_SBB] = h_sbb,
    [ZYDIS_MNEMONIC_SCASB] = h_string,
    [ZYDIS_MNEMONIC_SCASD] = h_string,
    [ZYDIS_MNEMONIC_SCASQ] = h_string,
    [ZYDIS_MNEMONIC_SCASW] = h_string,
    [ZYDIS_MNEMONIC_SETB] = h_data,
    [ZYDIS_MNEMONIC_SETBE] = h_data,
    [ZYDIS_MNEMONIC_SETL] = h_data,
    [ZYDIS_MNEMONIC_SETLE] = h_data,
    [ZYDIS_MNEMONIC_SETNB] = h_data,
    [ZYDIS_MNEMONIC_SETNBE] = h_data,
    [ZYDIS_MNEMONIC_SETNL] = h_data,
    [ZYDIS_MNEMONIC_SETNLE] = h_data,
    [ZYDIS_MNEMONIC_SETNO] = h_data,
    [ZYDIS_MNEMONIC_SETNP] = h_data,
    [ZYDIS_MNEMONIC_SETNS] = h_data,
    [ZYDIS_MNEMONIC_SETNZ] = h_data,
    [ZYDIS_MNEMONIC_SETO] = h_data,
    [ZYDIS_MNEMONIC_SETP] = h_data,
    [ZYDIS_MNEMONIC_SETS] = h_data,
    [ZYDIS_MNEMONIC_SETZ] = h_data,
    [ZYDIS_MNEMONIC_SFENCE] = h_sys,
    [ZYDIS_MNEMONIC_SGDT] = h_sys,
    [ZYDIS_MNEMONIC_SHL] = h_arith,
    [ZYDIS_MNEMONIC_SHLD] = h_arith,
    [ZYDIS_MNEMONIC_SHR] = h_arith,
    [ZYDIS_MNEMONIC_SHRD] = h_arith,
    [ZYDIS_MNEMONIC_SIDT] = h_sys,
    [ZYDIS_MNEMONIC_SLDT] = h_sys,
    [ZYDIS_MNEMONIC_SMSW] = h_sys,
    [ZYDIS_MNEMONIC_STC] = h_sys,
    [ZYDIS_MNEMONIC_STD] = h_sys,
    [ZYDIS_MNEMONIC_STI] = h_sys,
    [ZYDIS_MNEMONIC_STOSB] = h_string,
    [ZYDIS_MNEMONIC_STOSD] = h_string,
    [ZYDIS_MNEMONIC_STOSQ] = h_string,
    [ZYDIS_MNEMONIC_STOSW] = h_string,
    [ZYDIS_MNEMONIC_STR] = h_sys,
    [ZYDIS_MNEMONIC_SUB] = h_sub,
    [ZYDIS_MNEMONIC_SWAPGS] = h_sys,
    [ZYDIS_MNEMONIC_SYSCALL] = h_sys,
    [ZYDIS_MNEMONIC_SYSRET] = h_sys,
    [ZYDIS_MNEMONIC_TEST] = h_test,
    [ZYDIS_MNEMONIC_WBINVD] = h_sys,
    [ZYDIS_MNEMONIC_WRMSR] = h_sys,
    [ZYDIS_MNEMONIC_XADD] = h_data,
    [ZYDIS_MNEMONIC_XCHG] = h_data,
    [ZYDIS_MNEMONIC_XLAT] = h_data,
    [ZYDIS_MNEMONIC_XOR] = h_xor,
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
        h_mov(c, in);
        return;
    }
    reg_write(c, in->op[0].reg, s, emu_ld(p, s));
}

static void h_mov_mr(EmuCpu *c, const EmuInsn *in)
{
    unsigned s = in->op[1].size;
    uint8_t *p = mem_fast(c, in, &in->op[0], s, ACC_WRITE);

    if (G_UNLIKELY(!p)) {
        h_mov(c, in);
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
            exec_shift(c, in, aop);                                                  \
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
        exec_flow(c, in);
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
        exec_flow(c, in);
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
        { h_sar_ri, SHAPE_SHIFT_RI, SH_SAR }, { h_jcc, SHAPE_JCC, 0 },
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
