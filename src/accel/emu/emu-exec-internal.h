/*
 * Shared by the instruction interpreter's files (emu-exec.c and
 * emu-exec-{alu,data,flow,sys}.c): register and operand access, locked
 * read-modify-write, port I/O, and the handlers each file gives the
 * dispatch table in emu-exec.c. Everything here runs once or more per
 * guest instruction, so the helpers are static inline: each file gets its
 * own copy to inline, as when the interpreter was one file.
 *
 * Ordering rule (see emu-cpu.h): every access that can fault comes before
 * the first change to architectural state, so a faulting instruction can
 * be restarted; writes to memory precede register updates.
 */
#ifndef STRATUS_EMU_EXEC_INTERNAL_H
#define STRATUS_EMU_EXEC_INTERNAL_H

#include "accel/emu/emu-cpu.h"
#include "accel/emu/emu-alu.h"
#include "machine.h"

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

static inline void loc_resolve(EmuCpu *c, const EmuInsn *in, const EmuOp *o,
                               unsigned size, int acc, Loc *l)
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
        emu_st(l->hva, l->size, v);
        emu_note_store(c, l->hva);
    } else {
        emu_write_lin(c, l->lin, l->size, v, false);
    }
}

static inline uint64_t op_read(EmuCpu *c, const EmuInsn *in, int i, unsigned size)
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

static inline void op_write(EmuCpu *c, const EmuInsn *in, int i, unsigned size, uint64_t v)
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

static inline bool cas(uint8_t *p, unsigned size, uint64_t *old, uint64_t new)
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

static inline uint64_t rmw(EmuCpu *c, const EmuInsn *in, const Loc *l, RmwFn *fn,
                           uint64_t arg, bool store)
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

/* ---- port I/O (in/out and ins/outs) ---- */

static inline void io_check(EmuCpu *c, uint16_t port, unsigned size)
{
    if (!emu_io_allowed(c, port, size)) {
        emu_gp(c, 0);
    }
}

static inline uint64_t io_in(EmuCpu *c, uint16_t port, unsigned size)
{
    uint64_t v = 0;

    if (iobus_read_lockless(&c->machine->pio, port, size, &v)) {
        return v & emu_mask(size);
    }
    machine_lock(c->machine);
    iobus_read(&c->machine->pio, port, &v, size);
    machine_unlock(c->machine);
    return v & emu_mask(size);
}

static inline void io_out(EmuCpu *c, uint16_t port, unsigned size, uint64_t v)
{
    machine_lock(c->machine);
    iobus_write(&c->machine->pio, port, &v, size);
    machine_unlock(c->machine);
}


/* ---- multiply flags (imul, and its fast handler in emu-exec.c) ---- */

static inline void set_mul_flags(EmuCpu *c, bool overflow, uint64_t low, unsigned size)
{
    uint64_t fl = alu_szp(c->rflags & ~(uint64_t)FL_ARITH, low, size);

    if (overflow) {
        fl |= FL_CF | FL_OF;
    }
    c->rflags = fl;
}

/* ---- the generic handlers, by file; emu-exec.c puts them in its table ---- */

/* emu-exec-alu.c: ALU ops, inc/dec/neg/not, shifts and rotates, mul/div, bt*, bsf/bsr */
EmuHandler emu_h_add, emu_h_or, emu_h_adc, emu_h_sbb, emu_h_and, emu_h_sub, emu_h_xor,
           emu_h_cmp, emu_h_test, emu_h_arith;
/* emu-exec-data.c: moves, exchanges, the stack, string instructions */
EmuHandler emu_h_data, emu_h_mov, emu_h_stack, emu_h_string;
/* emu-exec-flow.c: jmp, jcc, jcxz, loop, call, ret */
EmuHandler emu_h_flow, emu_h_jcc;
/* emu-exec-sys.c: port I/O, flag instructions, privileged and system instructions */
EmuHandler emu_h_sys;
/* Logs the instruction once and raises #UD. */
G_NORETURN void emu_unimplemented(EmuCpu *c, const EmuInsn *in);
/* mov to/from CRn and DRn (a form of mov, so reached from emu_h_data). */
void emu_exec_mov_crdr(EmuCpu *c, const EmuInsn *in, bool to_ctl);

#endif
