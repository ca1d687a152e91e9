/*
 * The emu code generator's shared parts (emu-jit.c: blocks, the TLB path,
 * handler calls; emu-jit-ops.c: more instruction forms): the byte emitter
 * and the register conventions. rbx = the EmuCpu, r12 = the block's rip,
 * r13 = the host address of its first byte, r14d = the instructions the
 * blocks before it in this call ran (chaining); rax, rcx, rdx are scratch,
 * except that rdx holds the chain slot a block was entered through (0:
 * none) until its entry check is done.
 * Only on x86-64 hosts.
 */
#ifndef STRATUS_EMU_JIT_INTERNAL_H
#define STRATUS_EMU_JIT_INTERNAL_H

#include <stddef.h>
#include <string.h>

#include "accel/emu/emu-cpu.h"

/*
 * The guest's arithmetic flags between generated instructions
 * (emu-jit-flags.c), for the code at Emit.p: host, the FL_* bits the
 * host's flags hold (as the guest has them); slot, those EmuCpu.jit_flags
 * holds (a pushfq image, "spilled"; then host is 0); stale, those of them
 * c->rflags does not have yet (a subset of slot if that is in use, else of
 * host).
 */
typedef struct JitFlags {
    uint32_t host, slot, stale;
} JitFlags;

typedef struct Emit {
    uint8_t *p, *end;
    bool overflow;
    bool sahf;                   /* the host has LAHF/SAHF in 64-bit mode (EmuCpu.jit_sahf) */
    unsigned page_off;           /* the block's offset in its page */
    uint8_t **stub;              /* EmuCpu.jit_stub: the shared code (STUB_*) */
    JitFlags fl;                 /* the flags state at p */
    JitFlags probe_fl;           /* at the last TLB probe: its slow path's */
} Emit;

/*
 * The emitter does not check bounds byte by byte (that check, and the call
 * it kept b() from being inlined into, cost about 4 % of a Linux boot's
 * CPU): the code area keeps EMU_JIT_SLACK bytes free past a block's
 * EMU_JIT_BLOCK_MAX, far more than one guest instruction's code (at most
 * ~350 bytes: cmpxchg of memory), and compile() tests the end after each
 * instruction (emu_jit_fits).
 */
static inline void b(Emit *e, uint8_t v)
{
    *e->p++ = v;
}

static inline void b32(Emit *e, uint32_t v)
{
    memcpy(e->p, &v, 4);
    e->p += 4;
}

static inline void b64(Emit *e, uint64_t v)
{
    memcpy(e->p, &v, 8);
    e->p += 8;
}

/* False (and overflow set) once the code is past the block's limit. */
static inline bool emu_jit_fits(Emit *e)
{
    if (e->p > e->end) {
        e->overflow = true;
    }
    return !e->overflow;
}

#define OFF(field) ((uint32_t)offsetof(EmuCpu, field))
#define GPR(r) ((uint32_t)(offsetof(EmuCpu, gpr) + 8 * (r)))

/* op reg, [rbx + disp32] with an optional REX.W; reg is 0..7 (rax..rdi). */
static inline void rbx_mem(Emit *e, bool w, const uint8_t *op, int oplen, int reg, uint32_t disp)
{
    if (w) {
        b(e, 0x48);
    }
    for (int i = 0; i < oplen; i++) {
        b(e, op[i]);
    }
    b(e, (uint8_t)(0x80 | (reg << 3) | 3));
    b32(e, disp);
}

static inline void load_rax(Emit *e, unsigned size, uint32_t disp)   /* mov rax|eax, [rbx+d] */
{
    static const uint8_t mov[] = { 0x8B };

    rbx_mem(e, size == 8, mov, 1, 0, disp);
}

static inline void store_rax(Emit *e, uint32_t disp)                   /* mov [rbx+d], rax */
{
    static const uint8_t mov[] = { 0x89 };

    rbx_mem(e, true, mov, 1, 0, disp);
}

/* lea rax|rcx, [r12 + disp32] */
static inline void lea_r12(Emit *e, int reg, int32_t disp)
{
    b(e, 0x49); b(e, 0x8D); b(e, (uint8_t)(0x84 | (reg << 3))); b(e, 0x24); b32(e, (uint32_t)disp);
}


/* j<cc> rel32 / jmp rel32 to a label defined later by land(). */
static inline uint8_t *jcc32(Emit *e, uint8_t cc)
{
    uint8_t *at;

    b(e, 0x0F);
    b(e, (uint8_t)(0x80 | cc));
    at = e->p;
    b32(e, 0);
    return at;
}

static inline uint8_t *jmp32(Emit *e)
{
    uint8_t *at;

    b(e, 0xE9);
    at = e->p;
    b32(e, 0);
    return at;
}

static inline void land(Emit *e, uint8_t *at)
{
    if (!e->overflow && at) {
        uint32_t d = (uint32_t)(e->p - (at + 4));

        memcpy(at, &d, 4);
    }
}

enum { CC_NE = 0x5, CC_E = 0x4, CC_A = 0x7 };

/* The byte of register r (an EmuOp.reg below EREG_SEG) in the EmuCpu: AH..BH are byte 1. */
static inline uint32_t gpr_byte(unsigned r)
{
    return r >= EREG_HIGH8 ? GPR(r - EREG_HIGH8) + 1 : GPR(r);
}

/* rflags = (rflags & ~mask) | (host flags & mask): the flags just computed. */
void emu_jit_merge_flags(Emit *e, uint32_t mask);
/* The same with the host flags already in rdx (pushfq; pop rdx done). */
void emu_jit_merge_rdx(Emit *e, uint32_t mask);
/* A memory form's slow path: the jumps in slow[] land on a handler call;
 * done (the fast path's jump past it) lands after. */
void emu_jit_slow_path(Emit *e, const EmuInsn *in, uint8_t *slow[5], uint8_t *done,
                       int32_t off, int32_t next, unsigned count);
/*
 * The guest's arithmetic flags into the host's (for jcc, setcc, cmovcc, adc,
 * sbb) for condition code cc (the low nibble of a jcc/setcc/cmovcc opcode;
 * adc/sbb: 2, CF). Clobbers rax and rcx.
 */
void emu_jit_guest_flags(Emit *e, unsigned cc);
/*
 * emu-jit-flags.c: the flags kept in the host's (Emit.fl).
 * settle: before code that can read c->rflags (handlers, exits): it gets
 * the stale bits (pushfq; pop rdx, or the slot; merge: clobbers rcx, rdx
 * and the host's flags). spill: before code that only clobbers the host's
 * flags (memory forms): the stale ones go to the slot (pushfq; pop).
 */
void emu_jit_settle(Emit *e);
void emu_jit_spill(Emit *e);
/*
 * Before an exit: all the arithmetic flags into the slot, where the next
 * block or the dispatch loop takes them (keeps rax and the host's flags
 * when they hold them all; else clobbers rcx, rdx and the host's flags).
 */
void emu_jit_to_slot(Emit *e);
/* The host's flags hold all the stale ones and no slot is in use: emu_jit_to_slot keeps them. */
static inline bool emu_jit_flags_whole_in_host(const Emit *e)
{
    return e->fl.stale && !e->fl.slot && (e->fl.host & FL_ARITH) == FL_ARITH;
}
/* A block's code starts with the flags in the slot (emu-jit-flags.c). */
#define JIT_FLAGS_ENTRY ((JitFlags){ .slot = FL_ARITH, .stale = FL_ARITH })
/* A consumer: the host's flags hold what condition cc reads (may clobber rax, rcx, rdx). */
void emu_jit_flags_in(Emit *e, unsigned cc);
/*
 * A producer of the bits in mask that leaves the others: before its code
 * (brings spilled bits it does not write back into the host's flags;
 * clobbers rax, rcx), and after (live: some later reader may see them;
 * else no flag is live until the next full writer, and nothing is kept).
 */
void emu_jit_flags_pre(Emit *e, uint32_t mask);
void emu_jit_flags_out(Emit *e, uint32_t mask, bool live);
/*
 * The slow path of a memory form, after its handler call: the state the
 * fast path has at the join (fast), made true here too (clobbers rax, rcx).
 */
void emu_jit_flags_match(Emit *e, JitFlags fast);
/*
 * A label reached from code in state o and from the code just emitted:
 * the state both guarantee. States no join can give (stale bits one path
 * no longer holds) make the block's code unusable (emu-jit-flags.c: flags_bug).
 */
void emu_jit_join(Emit *e, JitFlags o);
/*
 * The instructions whose emitters keep the flags state themselves:
 * TRACK_REG register-only ones (no flag changes but their own), TRACK_MEM
 * memory forms (spilled first; they clobber the host's flags but read no
 * guest flag); the rest (TRACK_NO) are settled before.
 */
enum { TRACK_NO, TRACK_REG, TRACK_MEM };
int emu_jit_op_tracks(const EmuInsn *in);
int emu_jit_op2_tracks(const EmuInsn *in);
/* rel32 to an absolute address (the last 4 bytes of the instruction). */
static inline void rel_to(Emit *e, const uint8_t *target)
{
    b32(e, (uint32_t)(target - (e->p + 4)));
}

static inline void jmp_to(Emit *e, const uint8_t *target)
{
    b(e, 0xE9);
    rel_to(e, target);
}

static inline void call_to(Emit *e, const uint8_t *target)
{
    b(e, 0xE8);
    rel_to(e, target);
}

static inline void jcc_to(Emit *e, uint8_t cc, const uint8_t *target)
{
    b(e, 0x0F);
    b(e, (uint8_t)(0x80 | cc));
    rel_to(e, target);
}

/* The shared code at the start of the code area (emu_jit_stubs, EmuCpu.jit_stub). */
enum { STUB_EPI, STUB_UNLINKED, STUB_RET, STUB_BAD, STUB_PROBE, STUB_DYN };
/* Emits it at c->jit_code; returns its length. */
size_t emu_jit_stubs(EmuCpu *c);

/* The bytes of a block's code before its chain entry (the prologue, emu-jit.c). */
#define JIT_PROLOGUE 29
/* Where the generation a block's entry check compares with is, after it (emu_jit_set_gen). */
#define JIT_GEN_IMM (JIT_PROLOGUE + 29)

/* Restores the callee-saved registers and returns (eax: the count): STUB_EPI. */
void emu_jit_epilogue(Emit *e);
/* c->rip = rax; return count (plus r14d). */
void emu_jit_exit(Emit *e, unsigned count);
/*
 * Leave the block for the guest rip r12 + target after count instructions:
 * into the code of the block there when that is in this page and has been
 * linked (emu_jit_link), else back to the dispatch loop.
 */
void emu_jit_goto(Emit *e, int32_t target, unsigned count);
/* The same for the rip in rax (ret): through the jump cache (EmuCpu.jcache). */
void emu_jit_goto_dyn(Emit *e, unsigned count);
/* rax = a memory operand's linear address; false if the form is not handled. */
bool emu_jit_ea(Emit *e, const EmuInsn *in, const EmuOp *o, int32_t next);
/* rcx = host address of [rax, rax+size) on a TLB hit; else jumps to slow[] (patch with land). */
void emu_jit_tlb(Emit *e, unsigned size, bool write, uint8_t *slow[5]);
/*
 * Before a store to the host address in rcx (after its TLB probe): a jump
 * to *slow (the handler, which stores and then calls emu_note_store) when
 * the page is armed, so code translated from it gets a new generation and
 * a store into the running block's page ends the block. Clobbers rax.
 */
void emu_jit_store_check(Emit *e, uint8_t **slow);
/* Calls the instruction's handler, then leaves the block unless it fell through. */
void emu_jit_call(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count);
/*
 * emu-jit-ops.c: the native form of in if it has one there (false: none);
 * off/next/count as for emu_jit_call, which the memory forms fall back to.
 */
bool emu_jit_op(Emit *e, const EmuInsn *in, bool flags_live, int32_t off, int32_t next,
                unsigned count);
/* What emu_jit_op's forms do to the arithmetic flags (FLAGS_*), -1: not one of them. */
int emu_jit_op_flags(const EmuInsn *in);
enum { FLAGS_READ, FLAGS_KEEP, FLAGS_WRITE };
/* emu-jit-ops2.c: the same for the forms there (emu_jit_op falls back to them). */
bool emu_jit_op2(Emit *e, const EmuInsn *in, bool flags_live, int32_t off, int32_t next,
                 unsigned count);
int emu_jit_op2_flags(const EmuInsn *in);

#endif
