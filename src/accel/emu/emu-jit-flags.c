/*
 * The guest's arithmetic flags in the host's flags, for the code generator
 * (emu-jit.c).
 *
 * Guest and host are both x86: a native form that writes the flags leaves
 * exactly the guest's in the host's RFLAGS. Instead of storing them into
 * c->rflags at once (pushfq; pop; a read-modify-write) and loading them
 * back for the next jcc, setcc, cmovcc or adc (sahf), the emitter
 * remembers which bits the host holds and which of them c->rflags lacks
 * (Emit.fl: JitFlags), and a consumer whose bits the host holds uses them
 * as they are. Memory forms, whose TLB probe changes the host's flags,
 * first spill the stale ones (pushfq; pop into EmuCpu.jit_flags, cheaper
 * than the merge), and a consumer after them loads them from there.
 *
 * The stale bits go to c->rflags ("settle") before anything lets
 * c->rflags be read: the compile loop settles before every instruction
 * whose emitter does not keep this state (TRACK_NO: handler calls, forms
 * that read or write c->rflags, anything else), and the handler call and
 * the exits (emu_jit_goto, emu_jit_goto_dyn, emu_jit_exit) settle
 * themselves, so a path that leaves the block or reaches C code never
 * carries stale bits. A block-ending jcc branches on the host's flags and
 * merges them on each side (emit_jcc).
 *
 * Between blocks the slot, not c->rflags, has the arithmetic flags: a
 * block starts in the state "the slot holds them all, c->rflags may lack
 * them", and every exit (emu_jit_goto, emu_jit_goto_dyn, emu_jit_exit, a
 * block-ending jcc) makes that true again (emu_jit_to_slot: usually one
 * pushfq; pop, where settling took a read-modify-write of c->rflags on
 * every block's way out). The dispatch loop copies c->rflags into the slot
 * before it runs a block's code and takes them back when that code
 * returns (run_jit); an exception raised by a handler leaves by longjmp
 * after the handler's call settled, so c->rflags is whole then.
 *
 * The state is that of the code at e->p, in emission order. An exit is a
 * jump away: it moves the flags on its own path and leaves the state as it
 * was for the code after it. Code reached by a jump (a slow path, a join)
 * sets or joins the state explicitly (emu_jit_slow_path, emu_jit_join).
 */
#include "accel/emu/emu-jit-internal.h"

#if defined(__x86_64__)

/*
 * A state the emitters should never reach: the block's code is dropped as
 * one that does not fit is (block_code cuts the block, down to single
 * instructions), and the message fails any test that compiles it (GLib
 * tests make criticals fatal).
 */
static void flags_bug(Emit *e, const char *what)
{
    e->overflow = true;
    g_critical("emu JIT: flags state: %s; the block's code is dropped", what);
}

void emu_jit_settle(Emit *e)
{
    static const uint8_t mov_ld[] = { 0x8B };

    if (e->fl.stale && e->fl.slot) {
        rbx_mem(e, true, mov_ld, 1, 2, OFF(jit_flags));   /* mov rdx, [rbx+jit_flags] */
        emu_jit_merge_rdx(e, e->fl.stale);
    } else if (e->fl.stale) {
        emu_jit_merge_flags(e, e->fl.stale);
    }
    /* the merge's and/or leave the host's flags meaningless */
    e->fl = (JitFlags){ 0 };
}

void emu_jit_to_slot(Emit *e)
{
    static const uint8_t mov_ld[] = { 0x8B }, mov_st[] = { 0x89 };

    if (e->fl.stale && (e->fl.slot & FL_ARITH) == FL_ARITH) {
        return;                                   /* the slot has them all */
    }
    if (emu_jit_flags_whole_in_host(e)) {
        b(e, 0x9C);                               /* pushfq */
        b(e, 0x8F); b(e, 0x83); b32(e, OFF(jit_flags));   /* pop qword [rbx+jit_flags] */
        e->fl.slot = e->fl.host;
        e->fl.host = 0;
        return;
    }
    emu_jit_settle(e);                            /* some in c->rflags, some elsewhere */
    rbx_mem(e, true, mov_ld, 1, 1, OFF(rflags));  /* mov rcx, [rbx+rflags] */
    rbx_mem(e, true, mov_st, 1, 1, OFF(jit_flags));   /* mov [rbx+jit_flags], rcx */
    e->fl = (JitFlags){ .slot = FL_ARITH, .stale = FL_ARITH };
}

void emu_jit_spill(Emit *e)
{
    if (e->fl.stale && !e->fl.slot) {
        b(e, 0x9C);                               /* pushfq */
        b(e, 0x8F); b(e, 0x83); b32(e, OFF(jit_flags));   /* pop qword [rbx+jit_flags] */
        e->fl.slot = e->fl.host;
    }
    if (!e->fl.stale) {
        e->fl.slot = 0;                           /* c->rflags has them all */
    }
    e->fl.host = 0;
}

/*
 * The host's flags = the guest's in [rbx+disp] (c->rflags or the slot);
 * the bits it loads. SAHF loads SF, ZF, AF, PF and CF from AH, which is
 * where they sit in the low byte of RFLAGS; OF (of: wanted) comes from a
 * subtraction that overflows exactly when it is set: 0x80 - 1 does, 0 - 1
 * does not. popfq costs ~15 ns on this project's hosts, this ~1 ns.
 * Without LAHF/SAHF in 64-bit mode: popfq with only the arithmetic bits,
 * so TF, DF and the rest keep their host values (clear, as the ABI has
 * them); IF is not writable at CPL 3. Clobbers rax and rcx.
 */
static uint32_t load_flags(Emit *e, uint32_t disp, bool of)
{
    static const uint8_t mov_ld[] = { 0x8B };

    rbx_mem(e, false, mov_ld, 1, 0, disp);        /* mov eax, [rbx+disp] */
    if (!e->sahf) {
        b(e, 0x25); b32(e, FL_ARITH);             /* and eax, arith */
        b(e, 0x50);                               /* push rax */
        b(e, 0x9D);                               /* popfq */
        return FL_ARITH;
    }
    if (of) {
        b(e, 0x89); b(e, 0xC1);                   /* mov ecx, eax */
        b(e, 0xC1); b(e, 0xE9); b(e, 4);          /* shr ecx, 4: OF (bit 11) to bit 7 */
        b(e, 0x80); b(e, 0xE1); b(e, 0x80);       /* and cl, 0x80 */
        b(e, 0x80); b(e, 0xE9); b(e, 1);          /* sub cl, 1: OF = guest OF */
    }
    b(e, 0x88); b(e, 0xC4);                       /* mov ah, al */
    b(e, 0x9E);                                   /* sahf */
    return of ? FL_ARITH : FL_ARITH & ~FL_OF;
}

/* The flags condition cc (a jcc's low nibble) reads; adc/sbb pass 2 (CF). */
static uint32_t cc_reads(unsigned cc)
{
    static const uint32_t r[8] = {
        FL_OF, FL_CF, FL_ZF, FL_CF | FL_ZF, FL_SF, FL_PF, FL_SF | FL_OF, FL_ZF | FL_SF | FL_OF,
    };

    return r[(cc >> 1) & 7];
}

void emu_jit_guest_flags(Emit *e, unsigned cc)
{
    load_flags(e, OFF(rflags), cc_reads(cc) & FL_OF);
}

/* The spilled flags back into the host's (the stale ones and those in need). */
static void unspill(Emit *e, uint32_t need)
{
    e->fl.host = e->fl.slot & load_flags(e, OFF(jit_flags), (need | e->fl.stale) & FL_OF);
    e->fl.slot = 0;
}

void emu_jit_flags_in(Emit *e, unsigned cc)
{
    uint32_t need = cc_reads(cc);

    if (!(need & ~e->fl.host)) {
        return;                                   /* the host has them */
    }
    if (e->fl.stale && !(need & ~e->fl.slot)) {
        unspill(e, need);
        return;
    }
    emu_jit_settle(e);
    e->fl.host = load_flags(e, OFF(rflags), need & FL_OF);
}

void emu_jit_flags_pre(Emit *e, uint32_t mask)
{
    if (e->fl.slot && (e->fl.stale & ~mask)) {
        unspill(e, 0);                            /* what it leaves must be the guest's */
    }
}

void emu_jit_flags_out(Emit *e, uint32_t mask, bool live)
{
    if (!live) {
        /* nothing reads a flag before the next instruction that writes them all */
        e->fl = (JitFlags){ 0 };
        return;
    }
    if (e->fl.slot) {
        if (e->fl.stale & ~mask) {
            flags_bug(e, "a partial producer without emu_jit_flags_pre");
        }
        e->fl = (JitFlags){ .host = mask, .stale = mask };
        return;
    }
    e->fl.host |= mask;
    e->fl.stale |= mask;
}

void emu_jit_flags_match(Emit *e, JitFlags fast)
{
    if (fast.stale && fast.slot) {
        load_rax(e, 8, OFF(rflags));              /* c->rflags is whole after the handler */
        store_rax(e, OFF(jit_flags));
        e->fl = (JitFlags){ .slot = FL_ARITH };
    } else if (fast.host) {
        e->fl = (JitFlags){ .host = load_flags(e, OFF(rflags), true) };
    }
}

void emu_jit_join(Emit *e, JitFlags o)
{
    JitFlags *f = &e->fl;

    f->host &= o.host;
    f->slot &= o.slot;
    f->stale |= o.stale;
    if (f->stale & ~(f->slot ? f->slot : f->host)) {
        flags_bug(e, "paths that keep them apart join");
    }
    if (!f->stale) {
        f->slot = 0;
    }
}

#endif
