/*
 * The guest's arithmetic flags in the host's flags, for the code generator
 * (emu-jit.c).
 *
 * Guest and host are both x86: a native form that writes the flags leaves
 * exactly the guest's in the host's RFLAGS. Instead of storing them into
 * c->rflags at once (pushfq; pop; a read-modify-write) and loading them
 * back for the next jcc, setcc, cmovcc or adc (sahf), the emitter
 * remembers which bits the host holds (Emit.hflags) and which of them
 * c->rflags lacks (Emit.stale), and a consumer whose bits the host holds
 * uses them as they are. The stale bits go to c->rflags ("settle") before
 * anything changes the host's flags or lets c->rflags be read: the
 * compile loop settles before every instruction whose emitter does not
 * keep this state (handler calls, memory forms, anything else), and the
 * exits (emu_jit_goto, emu_jit_goto_dyn, emu_jit_exit), the TLB probe and
 * the handler call settle themselves, so a path that leaves the block or
 * reaches C code never carries stale bits. A block-ending jcc branches on
 * the host's flags and merges them on each side (emit_jcc).
 *
 * The state is that of the code at e->p, in emission order: code reached
 * by a jump (a slow path, a join) sets or joins it explicitly
 * (emu_jit_slow_path, emu_jit_join).
 */
#include "accel/emu/emu-jit-internal.h"

#if defined(__x86_64__)

void emu_jit_settle(Emit *e)
{
    if (e->stale) {
        emu_jit_merge_flags(e, e->stale);
    }
    /* the merge's and/or leave the host's flags meaningless */
    e->stale = 0;
    e->hflags = 0;
}

/* The flags condition cc (a jcc's low nibble) reads; adc/sbb pass 2 (CF). */
static uint32_t cc_reads(unsigned cc)
{
    static const uint32_t r[8] = {
        FL_OF, FL_CF, FL_ZF, FL_CF | FL_ZF, FL_SF, FL_PF, FL_SF | FL_OF, FL_ZF | FL_SF | FL_OF,
    };

    return r[(cc >> 1) & 7];
}

void emu_jit_flags_in(Emit *e, unsigned cc)
{
    if (!(cc_reads(cc) & ~e->hflags)) {
        return;                                   /* the host has them */
    }
    emu_jit_settle(e);
    emu_jit_guest_flags(e, cc);
    /* with sahf, OF only when the condition reads it */
    e->hflags = e->sahf && !(cc_reads(cc) & FL_OF) ? FL_ARITH & ~FL_OF : FL_ARITH;
}

void emu_jit_flags_out(Emit *e, uint32_t mask, bool live)
{
    if (!live) {
        /* nothing reads a flag before the next instruction that writes them all */
        e->hflags = e->stale = 0;
        return;
    }
    e->hflags |= mask;
    e->stale |= mask;
}

void emu_jit_join(Emit *e, uint32_t h, uint32_t s)
{
    e->hflags &= h;
    e->stale |= s;
    if (e->stale & ~e->hflags) {
        e->overflow = true;                       /* a bug: interpret the block instead */
    }
}

#endif
