/*
 * Chaining generated code from block to block (QEMU's goto_tb and its
 * lookup of indirect targets): the exits emu_jit_goto() emits and the
 * links the dispatch loop makes (emu_jit_link, EmuCpu.link_slot).
 */
#include <stddef.h>
#include <string.h>

#include "accel/emu/emu-cpu.h"
#include "accel/emu/emu-jit-internal.h"

#if defined(__x86_64__)

/*
 * Chaining, as QEMU's goto_tb: the exit to a known guest rip jumps straight
 * to that block's code once emu_jit_link() has patched the slot (a jmp
 * rel32 that first points at STUB_UNLINKED, which records the slot, in
 * rdx, and its target for the dispatch loop to link it, and returns; a
 * linked exit stores nothing). The target's code gets the slot in rdx
 * too: when its entry check fails, it records the slot the same way, so
 * the loop links it to the code it runs there after checking the bytes. In the same page the
 * translation is the current block's, so r13 moves by the same offset as
 * r12; into another page r13 comes from the TLB (STUB_PROBE). Either way
 * the target's own entry check (r13 against its host address, its page's
 * code generation) decides whether its code applies to what is there now. The code area is emptied only as a whole,
 * so a patched jump never outlives the code it points at. The chain
 * returns after EmuCpu.chain_max instructions (emu_chain_stop: at once).
 */
void emu_jit_goto(Emit *e, int32_t target, unsigned count)
{
    int64_t in_page = (int64_t)e->page_off + target;
    JitFlags keep = e->fl;                                          /* for the code after */

    emu_jit_to_slot(e);                                             /* where the next block has them */
    b(e, 0x4D); b(e, 0x8D); b(e, 0xA4); b(e, 0x24); b32(e, (uint32_t)target);   /* lea r12, [r12+t] */
    b(e, 0x41); b(e, 0x81); b(e, 0xC6); b32(e, count);              /* add r14d, count */
    b(e, 0x44); b(e, 0x3B); b(e, 0xB3); b32(e, OFF(chain_max));     /* cmp r14d, [rbx+max] */
    jcc_to(e, 0x3, e->stub[STUB_RET]);                              /* jae return */
    if (in_page >= 0 && in_page < 4096) {
        b(e, 0x4D); b(e, 0x8D); b(e, 0xAD); b32(e, (uint32_t)target);   /* lea r13, [r13+t] */
    } else {
        call_to(e, e->stub[STUB_PROBE]);
    }
    b(e, 0x48); b(e, 0x8D); b(e, 0x15); b32(e, 0);                  /* lea rdx, [rip+0]: the slot */
    jmp_to(e, e->stub[STUB_UNLINKED]);                              /* slot */
    e->fl = keep;
}

/* The exit to the rip in rax (ret): STUB_DYN, through the jump cache. */
void emu_jit_goto_dyn(Emit *e, unsigned count)
{
    JitFlags keep = e->fl;                                          /* for the code after */

    emu_jit_to_slot(e);
    b(e, 0x49); b(e, 0x89); b(e, 0xC4);                             /* mov r12, rax */
    b(e, 0x41); b(e, 0x81); b(e, 0xC6); b32(e, count);              /* add r14d, count */
    b(e, 0x44); b(e, 0x3B); b(e, 0xB3); b32(e, OFF(chain_max));     /* cmp r14d, [rbx+max] */
    jcc_to(e, 0x3, e->stub[STUB_RET]);                              /* jae return */
    jmp_to(e, e->stub[STUB_DYN]);
    e->fl = keep;
}

/*
 * STUB_PROBE, called: r13 = the host address of guest rip r12 when the
 * TLB has it as executable RAM at this CPL, and the code page that stores
 * are compared with follows it; else the chain returns (STUB_RET).
 */
static void emit_probe(Emit *e)
{
    uint8_t *fail[6];

    b(e, 0x4C); b(e, 0x89); b(e, 0xE0);                             /* mov rax, r12 */
    emu_jit_tlb(e, 1, false, fail);                                 /* rcx = host address */
    b(e, 0x80); b(e, 0x7A); b(e, (uint8_t)offsetof(EmuTlbEntry, exec_ok)); b(e, 0);
    fail[5] = jcc32(e, CC_E);                                       /* not executable */
    b(e, 0x49); b(e, 0x89); b(e, 0xCD);                             /* mov r13, rcx */
    b(e, 0x48); b(e, 0x81); b(e, 0xE1); b32(e, 0xFFFFF000u);        /* and rcx, ~0xfff */
    b(e, 0x48); b(e, 0x89); b(e, 0x8B); b32(e, OFF(block_page));    /* mov [rbx+page], rcx */
    b(e, 0xC3);                                                     /* ret */
    for (int i = 0; i < 6; i++) {
        land(e, fail[i]);
    }
    b(e, 0x48); b(e, 0x83); b(e, 0xC4); b(e, 0x08);                 /* add rsp, 8: no return */
    jmp_to(e, e->stub[STUB_RET]);
}

/*
 * STUB_DYN: the jump cache (EmuCpu.jcache, filled by the dispatch loop)
 * gives the code of the block last run at rip r12, QEMU's
 * lookup_and_goto_ptr. Found by rip alone, it may be another address
 * space's block: its entry check against r13 (this rip's translation now)
 * decides, as for any chain.
 */
static void emit_dyn(Emit *e)
{
    call_to(e, e->stub[STUB_PROBE]);
    b(e, 0x4C); b(e, 0x89); b(e, 0xE0);                             /* mov rax, r12 */
    b(e, 0x48); b(e, 0x89); b(e, 0xC1);                             /* mov rcx, rax */
    b(e, 0x48); b(e, 0xC1); b(e, 0xE9); b(e, 10);                   /* shr rcx, 10 */
    b(e, 0x48); b(e, 0x31); b(e, 0xC1);                             /* xor rcx, rax */
    b(e, 0x81); b(e, 0xE1); b32(e, EMU_JCACHE - 1);                 /* and ecx, n-1 */
    b(e, 0xC1); b(e, 0xE1); b(e, 4);                                /* shl ecx, 4 */
    b(e, 0x4C); b(e, 0x3B); b(e, 0xA4); b(e, 0x0B); b32(e, OFF(jcache));   /* cmp r12, [..rip] */
    jcc_to(e, CC_NE, e->stub[STUB_RET]);
    b(e, 0x48); b(e, 0x8B); b(e, 0x84); b(e, 0x0B); b32(e, OFF(jcache) + 8);   /* mov rax, [..entry] */
    b(e, 0x48); b(e, 0x85); b(e, 0xC0);                             /* test rax, rax */
    jcc_to(e, CC_E, e->stub[STUB_RET]);
    b(e, 0x31); b(e, 0xD2);                                         /* xor edx, edx: no slot */
    b(e, 0xFF); b(e, 0xE0);                                         /* jmp rax */
}

/*
 * The code every block shares, at the start of the code area: the
 * epilogue (restore, return eax), the chain's return (c->rip = r12, return
 * r14d) and the same recording the slot in rdx for linking (STUB_UNLINKED,
 * STUB_BAD when a block's bytes changed), the TLB probe and the jump-cache
 * lookup. Returns its length.
 */
size_t emu_jit_stubs(EmuCpu *c)
{
    Emit e = { .p = c->jit_code, .end = c->jit_code + EMU_JIT_BLOCK_MAX, .sahf = c->jit_sahf,
               .stub = c->jit_stub };

    c->jit_stub[STUB_EPI] = e.p;
    b(&e, 0x48); b(&e, 0x83); b(&e, 0xC4); b(&e, 0x08);           /* add rsp, 8 */
    b(&e, 0x41); b(&e, 0x5E);                                       /* pop r14 */
    b(&e, 0x41); b(&e, 0x5D);                                       /* pop r13 */
    b(&e, 0x41); b(&e, 0x5C);                                       /* pop r12 */
    b(&e, 0x5B);                                                    /* pop rbx */
    b(&e, 0xC3);                                                    /* ret */
    c->jit_stub[STUB_UNLINKED] = e.p;
    b(&e, 0x48); b(&e, 0x89); b(&e, 0x93); b32(&e, OFF(jit_slot));       /* mov [rbx+slot], rdx */
    b(&e, 0x4C); b(&e, 0x89); b(&e, 0xA3); b32(&e, OFF(jit_slot_rip));   /* mov [rbx+slot_rip], r12 */
    c->jit_stub[STUB_RET] = e.p;                                    /* (falls through) */
    b(&e, 0x4C); b(&e, 0x89); b(&e, 0xA3); b32(&e, OFF(rip));       /* mov [rbx+rip], r12 */
    b(&e, 0x44); b(&e, 0x89); b(&e, 0xF0);                          /* mov eax, r14d */
    jmp_to(&e, c->jit_stub[STUB_EPI]);
    c->jit_stub[STUB_BAD] = e.p;
    b(&e, 0x48); b(&e, 0x85); b(&e, 0xD2);                          /* test rdx, rdx */
    jcc_to(&e, CC_NE, c->jit_stub[STUB_UNLINKED]);                  /* entered through a slot */
    jmp_to(&e, c->jit_stub[STUB_RET]);
    c->jit_stub[STUB_PROBE] = e.p;
    emit_probe(&e);
    c->jit_stub[STUB_DYN] = e.p;
    emit_dyn(&e);
    return (size_t)(e.p - c->jit_code);
}

void emu_jit_remember(EmuCpu *c, EmuJitFn *fn)
{
    EmuJcacheEntry *j = &c->jcache[(c->rip ^ (c->rip >> 10)) & (EMU_JCACHE - 1)];

    j->rip = c->rip;
    j->entry = (const uint8_t *)(void *)fn + JIT_PROLOGUE;
}

/*
 * Only when the jump changes: a write into code the host CPU may have
 * cached costs it a pipeline flush (self-modifying code), and a chain
 * that ran out of its budget through a linked slot asks for the same
 * link again.
 */
void emu_jit_link(uint8_t *slot, EmuJitFn *fn)
{
    int32_t rel = (int32_t)((uint8_t *)(void *)fn + JIT_PROLOGUE - (slot + 5)), old;

    memcpy(&old, slot + 1, 4);
    if (old != rel) {
        memcpy(slot + 1, &rel, 4);
    }
}

#else   /* not an x86-64 host: there is no generated code to link */

void emu_jit_link(uint8_t *slot, EmuJitFn *fn)
{
    (void)slot; (void)fn;
}

void emu_jit_remember(EmuCpu *c, EmuJitFn *fn)
{
    (void)c; (void)fn;
}

#endif
