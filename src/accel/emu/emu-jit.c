/*
 * Host code for decoded blocks (64-bit guest code on an x86-64 host).
 *
 * A block's register-only instructions of the shapes emu_insn_shape()
 * names (mov, the ALU ops, test, imul, shifts by an immediate) become the
 * same host instruction working on the EmuCpu register array: guest and
 * host are both x86, so the host computes exactly the guest's result and
 * flags (captured with pushfq); emu-jit-ops.c has more such forms.
 * Everything else becomes a call to the
 * instruction's interpreter handler, with the rip bookkeeping a handler
 * expects, followed by the same "leave the block?" test emu_run_block
 * makes. Native instructions touch only the EmuCpu, so they cannot fault;
 * a handler that faults longjmps out of the generated code, which keeps
 * nothing on its stack that needs unwinding.
 *
 * Generated function: unsigned fn(EmuCpu *c, code) -> instructions executed;
 * it leaves c->rip at the next instruction. rbx = c, r12 = the block's rip,
 * r13 = code. Exits to a known rip can be chained (emu-jit-chain.c): the
 * code of the next block runs without a return.
 *
 * Code is appended to the vCPU's code area (a block takes what it needs,
 * typically a few hundred bytes); the area is emptied only as a whole, with
 * every block, by emu_block_flush() (emu-cpu.h, EmuBlock).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-cpu.h"
#include "accel/emu/emu-alu.h"
#include "accel/emu/emu-jit-internal.h"
#include "util/log.h"

#if defined(__x86_64__)

#define JIT_ALIGN 16             /* where each block's code starts */

static const uint8_t alu_rm_op[8] = {           /* op r, r/m by ALU_* */
    [ALU_ADD] = 0x03, [ALU_OR] = 0x0B, [ALU_AND] = 0x23, [ALU_SUB] = 0x2B,
    [ALU_XOR] = 0x33, [ALU_CMP] = 0x3B,
};
static const uint8_t alu_imm_ext[8] = {         /* the /n of 81 /n by ALU_* */
    [ALU_ADD] = 0, [ALU_OR] = 1, [ALU_AND] = 4, [ALU_SUB] = 5, [ALU_XOR] = 6, [ALU_CMP] = 7,
};

/*
 * emit_native() has a form for this instance of its shape: an immediate
 * the host's imm32 encodes, a shift count that is not 0 (which changes no
 * flag, so pushfq would lie).
 */
static bool native_instance(const EmuInsn *in, int shape)
{
    switch (shape) {
    case SHAPE_ALU_RI:
        return (int64_t)(int32_t)in->op[1].val ==
               (int64_t)emu_sext((uint64_t)in->op[1].val, in->op[0].size);
    case SHAPE_SHIFT_RI:
        return ((unsigned)in->op[1].val & (in->op[0].size == 8 ? 0x3F : 0x1F)) != 0;
    default:
        return true;
    }
}

/* What a block instruction does to the arithmetic flags, for liveness. */

static int flag_effect(const EmuInsn *in)
{
    int aop = 0, fx = emu_jit_op_flags(in), shape;

    if (fx >= 0) {
        return fx;
    }
    switch (shape = emu_insn_shape(in, &aop)) {
    case SHAPE_MOV_RR:
    case SHAPE_MOV_RI:
        return FLAGS_KEEP;
    case SHAPE_ALU_RR:
    case SHAPE_TEST_RR:
    case SHAPE_IMUL_RR:
    case SHAPE_ALU_RI:
    case SHAPE_SHIFT_RI:
        return native_instance(in, shape) ? FLAGS_WRITE : FLAGS_READ;
    default:
        /* handlers, jcc, and anything that may fault (RFLAGS is then pushed) */
        return FLAGS_READ;
    }
}

/*
 * emit_native() (or emit_mem_mov) has a form for in that keeps the flags
 * state (Emit.fl): TRACK_REG, TRACK_MEM (emu_jit_op_tracks); else TRACK_NO.
 */
static int native_tracks(const EmuInsn *in)
{
    int aop = 0, shape;

    switch (shape = emu_insn_shape(in, &aop)) {
    case SHAPE_MOV_RR: case SHAPE_MOV_RI: case SHAPE_ALU_RR: case SHAPE_TEST_RR:
    case SHAPE_IMUL_RR: case SHAPE_ALU_RI: case SHAPE_SHIFT_RI:
        return native_instance(in, shape) ? TRACK_REG : TRACK_NO;
    case SHAPE_MOV_RM: case SHAPE_MOV_MR:
        return TRACK_MEM;
    default:
        return TRACK_NO;
    }
}

/*
 * Emits the native form; false if this instance has no native form.
 * flags_live: some later instruction (or the block's end, or a fault) may
 * see the flags this one writes; if not, they are not stored at all.
 */
static bool emit_native(Emit *e, const EmuInsn *in, bool flags_live)
{
    const EmuOp *d = &in->op[0], *s = &in->op[1];
    unsigned size = d->size;
    bool w = size == 8;
    int aop = 0, shape = emu_insn_shape(in, &aop);
    uint8_t op[2];

    if (!native_instance(in, shape)) {
        return false;
    }
    switch (shape) {
    case SHAPE_MOV_RR:
        load_rax(e, size, GPR(s->reg));           /* a 32-bit load zero-extends */
        store_rax(e, GPR(d->reg));
        return true;
    case SHAPE_MOV_RI:
        b(e, 0x48); b(e, 0xB8); b64(e, (uint64_t)s->val & emu_mask(size));
        store_rax(e, GPR(d->reg));
        return true;
    case SHAPE_ALU_RR:
        load_rax(e, size, GPR(d->reg));
        op[0] = alu_rm_op[aop];
        rbx_mem(e, w, op, 1, 0, GPR(s->reg));
        break;
    case SHAPE_ALU_RI:
        load_rax(e, size, GPR(d->reg));
        if (w) {
            b(e, 0x48);
        }
        b(e, 0x81); b(e, (uint8_t)(0xC0 | (alu_imm_ext[aop] << 3))); b32(e, (uint32_t)s->val);
        break;
    case SHAPE_TEST_RR:
        if (flags_live) {                         /* test writes nothing else */
            load_rax(e, size, GPR(d->reg));
            op[0] = 0x85;                         /* test [rbx+s], rax */
            rbx_mem(e, w, op, 1, 0, GPR(s->reg));
        }
        emu_jit_flags_out(e, FL_ARITH, flags_live);
        return true;
    case SHAPE_IMUL_RR:
        load_rax(e, size, GPR(d->reg));
        op[0] = 0x0F; op[1] = 0xAF;
        rbx_mem(e, w, op, 2, 0, GPR(s->reg));
        break;
    case SHAPE_SHIFT_RI: {
        unsigned cnt = (unsigned)s->val & (w ? 0x3F : 0x1F);   /* not 0: native_instance */

        load_rax(e, size, GPR(d->reg));
        if (w) {
            b(e, 0x48);
        }
        b(e, 0xC1); b(e, (uint8_t)(0xC0 | ((aop == SH_SHL ? 4 : aop == SH_SHR ? 5 : 7) << 3)));
        b(e, (uint8_t)cnt);
        break;
    }
    default:
        return false;
    }
    emu_jit_flags_out(e, FL_ARITH, flags_live);   /* kept in the host's: the store leaves them */
    if (!(emu_insn_shape(in, &aop) == SHAPE_ALU_RR || emu_insn_shape(in, &aop) == SHAPE_ALU_RI) ||
        aop != ALU_CMP) {
        store_rax(e, GPR(d->reg));                /* 32-bit results are already zero-extended */
    }
    return true;
}

void emu_jit_merge_flags(Emit *e, uint32_t mask)
{
    b(e, 0x9C);                                   /* pushfq */
    b(e, 0x5A);                                   /* pop rdx */
    emu_jit_merge_rdx(e, mask);
}

void emu_jit_merge_rdx(Emit *e, uint32_t mask)
{
    static const uint8_t mov_ld[] = { 0x8B }, mov_st[] = { 0x89 };

    rbx_mem(e, true, mov_ld, 1, 1, OFF(rflags));  /* mov rcx, [rbx+rflags] */
    b(e, 0x48); b(e, 0x81); b(e, 0xE1); b32(e, ~mask);   /* and rcx, ~mask */
    b(e, 0x81); b(e, 0xE2); b32(e, mask);         /* and edx, mask */
    b(e, 0x48); b(e, 0x09); b(e, 0xD1);           /* or rcx, rdx */
    rbx_mem(e, true, mov_st, 1, 1, OFF(rflags));  /* mov [rbx+rflags], rcx */
}

/* CPUID.80000001H:ECX.LAHF-SAHF[bit 0]: sahf is valid in 64-bit mode. */
static bool host_has_sahf(void)
{
    uint32_t a = 0x80000001, bx, cx = 0, d;

    __asm__("cpuid" : "+a"(a), "=b"(bx), "+c"(cx), "=d"(d));
    return cx & 1;
}

void emu_jit_epilogue(Emit *e)
{
    jmp_to(e, e->stub[STUB_EPI]);
}

/* c->rip = rax; return count (the block is left after this many instructions). */
void emu_jit_exit(Emit *e, unsigned count)
{
    JitFlags keep = e->fl;                        /* for the code after: not this path's */

    emu_jit_to_slot(e);                           /* where the dispatch loop takes them */
    store_rax(e, OFF(rip));
    b(e, 0x41); b(e, 0x8D); b(e, 0x86); b32(e, count);   /* lea eax, [r14+count] */
    emu_jit_epilogue(e);
    e->fl = keep;
}



/*
 * add rax, the FS or GS base (read as the code runs: wrgsbase, swapgs and
 * the MSRs change it); the other segments' bases are 0 in 64-bit code.
 * A non-canonical sum matches no TLB entry, so the handler raises #GP.
 */
static void seg_base(Emit *e, unsigned seg)
{
    static const uint8_t mov_ld[] = { 0x8B };

    if (seg == S_FS || seg == S_GS) {
        rbx_mem(e, true, mov_ld, 1, 1,
                (uint32_t)(offsetof(EmuCpu, seg) + seg * sizeof(EmuSeg) + offsetof(EmuSeg, base)));
        b(e, 0x48); b(e, 0x8D); b(e, 0x04); b(e, 0x08);          /* lea rax, [rax+rcx] */
    }
}

/*
 * rax = the linear address of a memory operand in 64-bit code with 64-bit
 * addressing (the FS/GS base added); false if this operand's form is not
 * handled here. Clobbers rcx; mov and lea only, so the host's flags stay
 * (lea keeps the guest's in them).
 */
bool emu_jit_ea(Emit *e, const EmuInsn *in, const EmuOp *o, int32_t next)
{
    static const uint8_t mov_ld[] = { 0x8B };
    int64_t disp = o->val;

    if (in->addrsize != 8 || o->scale > 8) {
        return false;
    }
    if (o->base == EREG_RIP) {
        if (o->index != EREG_NONE || (int64_t)(int32_t)(next + disp) != next + disp) {
            return false;
        }
        lea_r12(e, 0, (int32_t)(next + disp));
        seg_base(e, o->seg);
        return true;
    }
    if (o->base != EREG_NONE) {
        rbx_mem(e, true, mov_ld, 1, 0, GPR(o->base));            /* mov rax, [base] */
    } else {
        b(e, 0xB8); b32(e, 0);                                   /* mov eax, 0 */
    }
    if (o->index != EREG_NONE) {
        static const uint8_t sib_scale[9] = { 0, 0, 1, 0, 2, 0, 0, 0, 3 };

        rbx_mem(e, true, mov_ld, 1, 1, GPR(o->index));           /* mov rcx, [index] */
        b(e, 0x48); b(e, 0x8D); b(e, 0x84);                      /* lea rax, [rax+rcx*s+d32] */
        b(e, (uint8_t)(sib_scale[o->scale ? o->scale : 1] << 6 | 1 << 3 | 0));
        b32(e, (uint32_t)disp);
    } else if (disp) {
        b(e, 0x48); b(e, 0x8D); b(e, 0x80); b32(e, (uint32_t)disp);   /* lea rax, [rax+d32] */
    }
    seg_base(e, o->seg);
    return true;
}

/*
 * The TLB hit path inline: rcx = the host address of [rax, rax+size) or a
 * jump to `slow` (returned for patching) when it is not a plain RAM hit
 * for this access at the current CPL. Mirrors emu_lin_ptr_fast(). slow[1]
 * is left NULL for emu_jit_store_check.
 */
void emu_jit_tlb(Emit *e, unsigned size, bool write, uint8_t *slow[5])
{
    emu_jit_spill(e);                                            /* its compares clobber them */
    e->probe_fl = e->fl;                                         /* its slow path's */
    b(e, 0x48); b(e, 0x89); b(e, 0xC1);                          /* mov rcx, rax */
    b(e, 0x48); b(e, 0xC1); b(e, 0xE9); b(e, 12 - 5);            /* shr rcx, 7 */
    b(e, 0x81); b(e, 0xE1); b32(e, (EMU_TLB_SIZE - 1) << 5);     /* and ecx: index * 32 (bytes) */
    b(e, 0x48); b(e, 0x8D); b(e, 0x94); b(e, 0x0B); b32(e, OFF(tlb));   /* lea rdx, [rbx+rcx+tlb] */
    /*
     * The page of the last byte against the entry's: an access into the
     * next page misses too (that page's entry has the next index).
     */
    b(e, 0x48); b(e, 0x8D); b(e, 0x48); b(e, (uint8_t)(size - 1));   /* lea rcx, [rax+size-1] */
    b(e, 0x48); b(e, 0x81); b(e, 0xE1); b32(e, 0xFFFFF000u);     /* and rcx, ~0xfff */
    b(e, 0x48); b(e, 0x83); b(e, 0xC9); b(e, 0x01);              /* or rcx, 1 */
    b(e, 0x48); b(e, 0x3B); b(e, 0x0A);                          /* cmp rcx, [rdx] (vpage) */
    slow[0] = jcc32(e, CC_NE);
    slow[1] = NULL;
    b(e, 0x83); b(e, 0xBB); b32(e, OFF(cpl)); b(e, 3);           /* cmp dword [rbx+cpl], 3 */
    b(e, 0x75); b(e, 10);                                        /* jne +10: skip the check */
    b(e, 0x80); b(e, 0x7A); b(e, (uint8_t)offsetof(EmuTlbEntry, user_ok)); b(e, 0);   /* cmp byte [rdx+user_ok], 0 */
    slow[2] = jcc32(e, CC_E);
    slow[3] = NULL;
    if (write) {
        b(e, 0x80); b(e, 0x7A); b(e, (uint8_t)offsetof(EmuTlbEntry, write_ok)); b(e, 0);
        slow[3] = jcc32(e, CC_E);
    }
    b(e, 0x48); b(e, 0x8B); b(e, 0x4A); b(e, (uint8_t)offsetof(EmuTlbEntry, hva));   /* mov rcx, [rdx+hva] */
    b(e, 0x48); b(e, 0x85); b(e, 0xC9);                          /* test rcx, rcx */
    slow[4] = jcc32(e, CC_E);
    b(e, 0x25); b32(e, 0xFFF);                                   /* and eax, 0xfff */
    b(e, 0x48); b(e, 0x01); b(e, 0xC1);                          /* add rcx, rax */
}


/*
 * The page's code generation word is at code_gen_bias + (rcx >> 12) * 4
 * (EmuCpu.code_gen_bias: TLB hits that may write are guest RAM, inside the
 * mapping the words cover). An armed page takes the handler, which stores
 * and then bumps it (emu_note_store): after that one slow store, stores to
 * the page are fast again until code from it is checked and armed again.
 * The running block's own page is armed (its entry check found the
 * generation it was armed with), so a store into it takes the handler,
 * which ends the block; only after another thread disarmed the page while
 * the block runs would such a store go on in the block (to its end: the
 * block is checked again at its next entry).
 */
void emu_jit_store_check(Emit *e, uint8_t **slow)
{
    b(e, 0x48); b(e, 0x89); b(e, 0xC8);                          /* mov rax, rcx */
    b(e, 0x48); b(e, 0xC1); b(e, 0xE8); b(e, 10);                /* shr rax, 10 */
    b(e, 0x24); b(e, 0xFC);                                      /* and al, ~3 */
    b(e, 0x48); b(e, 0x03); b(e, 0x83); b32(e, OFF(code_gen_bias));   /* add rax, [rbx+bias] */
    b(e, 0xF6); b(e, 0x00); b(e, 0x01);                          /* test byte [rax], 1 */
    *slow = jcc32(e, CC_NE);
}

/* mov reg, [mem] / mov [mem], reg with the TLB hit inline, the handler otherwise. */
static bool emit_mem_mov(Emit *e, const EmuInsn *in, bool store, int32_t off, int32_t next,
                         unsigned count)
{
    static const uint8_t mov_ld[] = { 0x8B }, mov_st[] = { 0x89 };
    const EmuOp *reg = &in->op[store ? 1 : 0], *mem = &in->op[store ? 0 : 1];
    unsigned size = reg->size;
    uint8_t *slow[5], *done;
    Emit probe = *e;

    if (!emu_jit_ea(&probe, in, mem, next)) {        /* a dry run: only the test matters */
        return false;
    }
    emu_jit_ea(e, in, mem, next);
    emu_jit_tlb(e, size, store, slow);
    if (store) {
        emu_jit_store_check(e, &slow[1]);
        rbx_mem(e, size == 8, mov_ld, 1, 0, GPR(reg->reg));      /* mov rax|eax, [rbx+reg] */
        if (size == 8) {
            b(e, 0x48);
        }
        b(e, 0x89); b(e, 0x01);                                  /* mov [rcx], rax|eax */
        done = jmp32(e);                                         /* jmp done */
    } else {
        if (size == 8) {
            b(e, 0x48);
        }
        b(e, 0x8B); b(e, 0x01);                                  /* mov rax|eax, [rcx] */
        rbx_mem(e, true, mov_st, 1, 0, GPR(reg->reg));           /* 32-bit loads zero-extend */
        done = jmp32(e);                                         /* jmp done */
    }
    emu_jit_slow_path(e, in, slow, done, off, next, count);
    return true;
}

/*
 * A conditional jump (the last instruction of its block): the same jcc on
 * the host's flags (the guest's, kept there or loaded) picks the exit.
 * Stale flags are taken (pushfq; pop rdx) before it and merged into
 * c->rflags on each side, after it.
 */
static void emit_jcc(Emit *e, const EmuInsn *in, int32_t next, unsigned count)
{
    int64_t target = (int64_t)next + in->op[0].val;
    uint32_t stale;
    bool whole;
    JitFlags fl;
    uint8_t *jcc;

    emu_jit_flags_in(e, in->opcode & 0xF);        /* the host has them (not spilled) */
    stale = e->fl.stale;
    whole = emu_jit_flags_whole_in_host(e);
    if (whole) {
        emu_jit_to_slot(e);                       /* pushfq; pop: the flags stay */
    } else if (stale) {
        b(e, 0x9C); b(e, 0x5A);                   /* pushfq; pop rdx: the flags stay */
    }
    fl = e->fl;
    jcc = jcc32(e, in->opcode & 0xF);             /* jcc taken */
    for (int taken = 0; taken < 2; taken++) {
        if (taken) {
            land(e, jcc);
        }
        e->fl = fl;
        if (stale && !whole) {
            emu_jit_merge_rdx(e, stale);
            e->fl = (JitFlags){ 0 };
        }
        emu_jit_goto(e, taken ? (int32_t)target : next, count);
    }
}

/* The handler call with the rip bookkeeping it expects; then rax = c->next_rip. */
static void call_handler(Emit *e, const EmuInsn *in, int32_t off, int32_t next)
{
    static const uint8_t mov_ld[] = { 0x8B };

    emu_jit_settle(e);                            /* the handler reads and writes c->rflags */
    lea_r12(e, 0, off);
    store_rax(e, OFF(insn_rip));
    lea_r12(e, 0, next);
    store_rax(e, OFF(next_rip));
    b(e, 0x48); b(e, 0x89); b(e, 0xDF);           /* mov rdi, rbx */
    b(e, 0x48); b(e, 0xBE); b64(e, (uint64_t)(uintptr_t)in);        /* mov rsi, in */
    b(e, 0x48); b(e, 0xB8); b64(e, (uint64_t)(uintptr_t)in->fn);    /* mov rax, fn */
    b(e, 0xFF); b(e, 0xD0);                       /* call rax */
    rbx_mem(e, true, mov_ld, 1, 0, OFF(next_rip));   /* mov rax, [rbx+next_rip] */
}

void emu_jit_slow_path(Emit *e, const EmuInsn *in, uint8_t *slow[5], uint8_t *done,
                       int32_t off, int32_t next, unsigned count)
{
    JitFlags fast = e->fl;                        /* the fast path's, at done */

    for (int i = 0; i < 5; i++) {
        land(e, slow[i]);
    }
    e->fl = e->probe_fl;                          /* as the probe left them */
    emu_jit_call(e, in, off, next, count);        /* settles */
    emu_jit_flags_match(e, fast);
    land(e, done);
    emu_jit_join(e, fast);
}

/* A call to the handler, then leave the block unless it fell through. */
void emu_jit_call(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    uint8_t *jne1, *jne2;

    call_handler(e, in, off, next);
    lea_r12(e, 1, next);                          /* lea rcx, [r12+next] */
    b(e, 0x48); b(e, 0x39); b(e, 0xC8);           /* cmp rax, rcx */
    b(e, 0x75); jne1 = e->p; b(e, 0);             /* jne exit (rel8) */
    b(e, 0x80); b(e, 0xBB); b32(e, OFF(block_exit)); b(e, 0);   /* cmp byte [rbx+block_exit], 0 */
    b(e, 0x74); jne2 = e->p; b(e, 0);             /* je continue (rel8) */
    if (!e->overflow) {
        *jne1 = (uint8_t)(e->p - (jne1 + 1));
    }
    emu_jit_exit(e, count);
    if (!e->overflow) {
        *jne2 = (uint8_t)(e->p - (jne2 + 1));
    }
}

/*
 * A near jmp or call whose target is computed (through a register or
 * memory; also call rel and ret where their inline TLB path missed) or ret
 * imm16, always the last instruction of its block: near branches change
 * neither mode nor CPL, so unless the handler's stores hit this code page
 * (block_exit) the chain goes on through the jump cache as a ret does
 * (QEMU's lookup_and_goto_ptr), where an indirect call or jmp used to
 * return to the dispatch loop every time.
 */
static bool near_branch(const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_JMP:
    case ZYDIS_MNEMONIC_CALL:
        return !(in->flags & INSN_FAR);
    case ZYDIS_MNEMONIC_RET:
        return in->opcode == 0xC2 || in->opcode == 0xC3;
    default:
        return false;
    }
}

static void emit_branch_dyn(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    uint8_t *go;

    call_handler(e, in, off, next);               /* rax = the target */
    b(e, 0x80); b(e, 0xBB); b32(e, OFF(block_exit)); b(e, 0);   /* cmp byte [rbx+block_exit], 0 */
    go = jcc32(e, CC_E);
    emu_jit_exit(e, count);
    land(e, go);
    emu_jit_goto_dyn(e, count);
}

/* The store of a return address / load of one, through the inline TLB. */
static void emit_rsp_minus8(Emit *e)
{
    static const uint8_t mov_ld[] = { 0x8B };

    rbx_mem(e, true, mov_ld, 1, 0, GPR(R_SP));                   /* mov rax, [rbx+rsp] */
    b(e, 0x48); b(e, 0x83); b(e, 0xE8); b(e, 8);                 /* sub rax, 8 */
}

/* Near call rel32 (ends its block): push the return address, jump. */
static void emit_call_rel(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    int64_t target = (int64_t)next + in->op[0].val;
    uint8_t *slow[5];

    if ((int64_t)(int32_t)target != target) {
        emit_branch_dyn(e, in, off, next, count);
        return;
    }
    emit_rsp_minus8(e);
    emu_jit_tlb(e, 8, true, slow);
    emu_jit_store_check(e, &slow[1]);
    lea_r12(e, 0, next);
    b(e, 0x48); b(e, 0x89); b(e, 0x01);                          /* mov [rcx], rax */
    emit_rsp_minus8(e);
    store_rax(e, GPR(R_SP));
    emu_jit_goto(e, (int32_t)target, count);
    for (int i = 0; i < 5; i++) {
        land(e, slow[i]);
    }
    emit_branch_dyn(e, in, off, next, count);
}

/* Near ret (ends its block): pop the return address into rip. */
static void emit_ret(Emit *e, const EmuInsn *in, int32_t off, int32_t next, unsigned count)
{
    static const uint8_t mov_ld[] = { 0x8B }, mov_st[] = { 0x89 };
    uint8_t *slow[5];

    rbx_mem(e, true, mov_ld, 1, 0, GPR(R_SP));                   /* mov rax, [rbx+rsp] */
    emu_jit_tlb(e, 8, false, slow);
    b(e, 0x48); b(e, 0x8B); b(e, 0x01);                          /* mov rax, [rcx] */
    rbx_mem(e, true, mov_ld, 1, 1, GPR(R_SP));                   /* mov rcx, [rbx+rsp] */
    b(e, 0x48); b(e, 0x83); b(e, 0xC1); b(e, 8);                 /* add rcx, 8 */
    rbx_mem(e, true, mov_st, 1, 1, GPR(R_SP));                   /* mov [rbx+rsp], rcx */
    emu_jit_goto_dyn(e, count);
    for (int i = 0; i < 5; i++) {
        land(e, slow[i]);
    }
    emit_branch_dyn(e, in, off, next, count);
}

/*
 * The "stale" exit: return what the blocks before this one in the chain ran
 * (0 when called directly: the loop checks the bytes, emu_block_recheck),
 * at this block's rip, recording the slot it came through (rdx) for the
 * loop to link to the code it then runs there (STUB_BAD). Then the result.
 */
static EmuJitFn *finish(Emit *e, uint8_t *start, uint8_t **bad, size_t *len)
{
    for (int i = 0; bad[i]; i++) {
        land(e, bad[i]);
    }
    jmp_to(e, e->stub[STUB_BAD]);                 /* c->rip = r12, return r14d */
    *len = (size_t)(e->p - start);
    return emu_jit_fits(e) ? (EmuJitFn *)(void *)start : NULL;
}

/*
 * The block's own validity test, before anything runs, in place of comparing
 * its bytes with memory (which took ~16 % of the generated code's time in a
 * Linux boot): r13, the host address of the rip it is entered at, must be
 * the one it was translated from (a chain or the jump cache may bring
 * another address space's rip here), and its page's code generation word
 * (memory.h guest_ram_code_*) must still hold the armed value the block was
 * translated or last checked with (the imm32 at JIT_GEN_IMM, patched by
 * emu_jit_set_gen). Any store since into the page, by any vCPU or the VMM,
 * changed the word: see emu_block_recheck for what happens then.
 */
static void emit_check_gen(Emit *e, const uint8_t *hva, const uint32_t *word, uint32_t gen,
                           uint8_t *bad[3])
{
    b(e, 0x48); b(e, 0xB8); b64(e, (uint64_t)(uintptr_t)hva);   /* mov rax, hva */
    b(e, 0x4C); b(e, 0x39); b(e, 0xE8);                         /* cmp rax, r13 */
    bad[0] = jcc32(e, CC_NE);
    b(e, 0xA1); b64(e, (uint64_t)(uintptr_t)word);              /* mov eax, [word] */
    b(e, 0x3D); b32(e, gen);                                    /* cmp eax, gen */
    bad[1] = jcc32(e, CC_NE);
    bad[2] = NULL;
}

void emu_jit_set_gen(EmuJitFn *fn, uint32_t gen)
{
    memcpy((uint8_t *)(void *)fn + JIT_GEN_IMM, &gen, 4);
}

bool emu_jit_has_room(const EmuCpu *c)
{
    return !c->jit_code || c->jit_used + EMU_JIT_BLOCK_MAX + EMU_JIT_SLACK <= EMU_JIT_AREA;
}

void emu_jit_reset(EmuCpu *c)
{
    if (c->jit_code) {
        /* Give the pages back: the next blocks touch only what they use. */
        (void)madvise(c->jit_code, EMU_JIT_AREA, MADV_DONTNEED);
        c->jit_used = (emu_jit_stubs(c) + JIT_ALIGN - 1) & ~(size_t)(JIT_ALIGN - 1);
    }
    c->jit_slot = c->link_slot = NULL;   /* they pointed into the old code */
    memset(c->jcache, 0, sizeof(c->jcache));
}

/* Emits the block at the end of the area (emu_jit_has_room() held). */
static EmuJitFn *compile(EmuCpu *c, const EmuBlock *bl, const uint8_t *hva, uint32_t gen,
                         size_t *len)
{
    Emit e = { .p = c->jit_code + c->jit_used, .sahf = c->jit_sahf,
               .page_off = (unsigned)(bl->pa & 0xFFF), .stub = c->jit_stub };
    uint8_t *start = e.p;
    uint8_t *bad[3];
    int32_t off = 0;

    e.end = start + EMU_JIT_BLOCK_MAX;
    b(&e, 0x53);                                  /* push rbx */
    b(&e, 0x41); b(&e, 0x54);                     /* push r12 */
    b(&e, 0x41); b(&e, 0x55);                     /* push r13 */
    b(&e, 0x41); b(&e, 0x56);                     /* push r14 */
    b(&e, 0x48); b(&e, 0x83); b(&e, 0xEC); b(&e, 0x08);   /* sub rsp, 8: calls stay aligned */
    b(&e, 0x48); b(&e, 0x89); b(&e, 0xFB);        /* mov rbx, rdi */
    b(&e, 0x4C); b(&e, 0x8B); b(&e, 0xA3); b32(&e, OFF(rip));   /* mov r12, [rbx+rip] */
    b(&e, 0x49); b(&e, 0x89); b(&e, 0xF5);        /* mov r13, rsi */
    b(&e, 0x45); b(&e, 0x31); b(&e, 0xF6);        /* xor r14d, r14d */
    b(&e, 0x31); b(&e, 0xD2);                     /* xor edx, edx: not entered through a slot */
    if (e.p != start + JIT_PROLOGUE) {            /* the chain entry emu_jit_link() uses */
        return NULL;
    }
    emit_check_gen(&e, hva, guest_ram_code_gen(c->ram, hva), gen, bad);
    if (e.p != start + JIT_GEN_IMM + 4 + 6) {     /* where emu_jit_set_gen patches */
        return NULL;
    }
    e.fl = JIT_FLAGS_ENTRY;
    bool live[EMU_BLOCK_INSNS];

    /* flags live after each instruction: at the end, and before a reader */
    live[bl->n - 1] = true;
    for (unsigned i = bl->n - 1; i > 0; i--) {
        int fx = flag_effect(&bl->insn[i]);

        live[i - 1] = fx == FLAGS_READ || (fx == FLAGS_KEEP && live[i]);
    }
    for (unsigned i = 0; i < bl->n; i++) {
        const EmuInsn *in = &bl->insn[i];
        const uint8_t *insn_code = e.p;
        int32_t next = off + in->len;
        int aop;

        if (emu_insn_shape(in, &aop) == SHAPE_JCC && i + 1 == bl->n &&
            (int64_t)(int32_t)((int64_t)next + in->op[0].val) == (int64_t)next + in->op[0].val) {
            emit_jcc(&e, in, next, i + 1);
            return finish(&e, start, bad, len);
        }
        int tracks = native_tracks(in);

        if (tracks == TRACK_NO) {
            tracks = emu_jit_op_tracks(in);
        }
        if (tracks == TRACK_NO) {
            emu_jit_settle(&e);                   /* its code may read c->rflags */
        } else if (tracks == TRACK_MEM) {
            emu_jit_spill(&e);                    /* its code clobbers the host's flags */
        }
        if (emu_insn_shape(in, &aop) == SHAPE_CALL_REL && i + 1 == bl->n) {
            emit_call_rel(&e, in, off, next, i + 1);
        } else if (emu_insn_shape(in, &aop) == SHAPE_RET && i + 1 == bl->n) {
            emit_ret(&e, in, off, next, i + 1);
        } else if (emit_native(&e, in, live[i]) ||
                   emu_jit_op(&e, in, live[i], off, next, i + 1)) {
            /* done */
        } else if (i + 1 == bl->n && near_branch(in)) {
            emit_branch_dyn(&e, in, off, next, i + 1);
        } else if ((emu_insn_shape(in, &aop) == SHAPE_MOV_RM ||
                    emu_insn_shape(in, &aop) == SHAPE_MOV_MR) &&
                   emit_mem_mov(&e, in, emu_insn_shape(in, &aop) == SHAPE_MOV_MR, off, next,
                                i + 1)) {
            /* done */
        } else {
            emu_jit_call(&e, in, off, next, i + 1);
        }
        if (tracks == TRACK_NO) {
            e.fl = (JitFlags){ 0 };               /* whatever it did to the host's flags */
        }
        off = next;
        if (e.p - insn_code > EMU_JIT_SLACK / 2) {  /* long before it would overrun */
            g_critical("emu JIT: %td bytes of code for one instruction", e.p - insn_code);
            return NULL;
        }
        if (!emu_jit_fits(&e)) {
            return NULL;                          /* the caller cuts the block */
        }
    }
    emu_jit_goto(&e, off, bl->n);                 /* fell through the whole block */
    return finish(&e, start, bad, len);
}

EmuJitFn *emu_jit_compile(EmuCpu *c, const EmuBlock *bl, const uint8_t *hva, uint32_t gen)
{
    EmuJitFn *fn;
    size_t len;

    if (!c->jit_code || bl->mode != MODE_64 + 1 || !bl->n || !emu_jit_has_room(c) ||
        !guest_ram_code_gen(c->ram, hva)) {
        return NULL;
    }
    c->code_gen_bias = (uintptr_t)c->ram->code_gen -
                       ((uintptr_t)c->ram->mapping >> 12) * sizeof(uint32_t);
    fn = compile(c, bl, hva, gen, &len);
    if (fn) {
        c->jit_used = (c->jit_used + len + JIT_ALIGN - 1) & ~(size_t)(JIT_ALIGN - 1);
    }
    return fn;
}

bool emu_jit_init(EmuCpu *c)
{
    /* Reserved, not committed: pages are touched only as code fills it. */
    void *p = mmap(NULL, EMU_JIT_AREA, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED) {
        log_warn("emu: no executable memory for generated code (%s); interpreting only",
                 g_strerror(errno));
        c->jit_code = NULL;
        return false;
    }
    /*
     * Huge pages for the code (filled from its start, so at most one 2 MiB
     * page is partly used): a boot's generated code spans megabytes, which
     * 4 KiB pages spread over hundreds of host TLB entries.
     */
    madvise(p, EMU_JIT_AREA, MADV_HUGEPAGE);
    c->jit_code = p;
    c->jit_sahf = host_has_sahf();
    c->jit_used = (emu_jit_stubs(c) + JIT_ALIGN - 1) & ~(size_t)(JIT_ALIGN - 1);
    return true;
}

void emu_jit_destroy(EmuCpu *c)
{
    if (c->jit_code) {
        munmap(c->jit_code, EMU_JIT_AREA);
        c->jit_code = NULL;
    }
}

#else   /* not an x86-64 host: blocks are interpreted */

EmuJitFn *emu_jit_compile(EmuCpu *c, const EmuBlock *bl, const uint8_t *hva, uint32_t gen)
{
    (void)c; (void)bl; (void)hva; (void)gen;
    return NULL;
}

void emu_jit_set_gen(EmuJitFn *fn, uint32_t gen)
{
    (void)fn; (void)gen;
}

bool emu_jit_has_room(const EmuCpu *c)
{
    (void)c;
    return true;
}

void emu_jit_reset(EmuCpu *c)
{
    (void)c;
}

bool emu_jit_init(EmuCpu *c)
{
    c->jit_code = NULL;
    return false;
}

void emu_jit_destroy(EmuCpu *c)
{
    (void)c;
}

#endif
