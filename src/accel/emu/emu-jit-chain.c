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
 * rel32 that first points at the return below). In the same page the
 * translation is the current block's, so r13 moves by the same offset as
 * r12; into another page r13 comes from the TLB (a hit for an executable
 * RAM page at this CPL, else the return), and block_page follows for the
 * self-modifying-code test. Either way the target's own byte check
 * (against r13) decides whether its code applies to what is there now.
 * The code area is emptied only as a whole, so a patched jump never
 * outlives the code it points at. The slot and target are recorded for
 * the dispatch loop to link it, and the chain returns after
 * EMU_CHAIN_INSNS instructions.
 */
/*
 * r13 = the host address of guest rip r12 when the TLB has it as
 * executable RAM at this CPL (else a jump to one of ret[0..5]), and the
 * code page that stores are compared with follows it.
 */
static void probe_target(Emit *e, uint8_t *ret[6])
{
    b(e, 0x4C); b(e, 0x89); b(e, 0xE0);                             /* mov rax, r12 */
    emu_jit_tlb(e, 1, false, ret);                                  /* rcx = host address */
    b(e, 0x80); b(e, 0x7A); b(e, (uint8_t)offsetof(EmuTlbEntry, exec_ok)); b(e, 0);
    ret[5] = jcc32(e, CC_E);                                        /* not executable */
    b(e, 0x49); b(e, 0x89); b(e, 0xCD);                             /* mov r13, rcx */
    b(e, 0x48); b(e, 0x81); b(e, 0xE1); b32(e, 0xFFFFF000u);        /* and rcx, ~0xfff */
    b(e, 0x48); b(e, 0x89); b(e, 0x8B); b32(e, OFF(block_page));    /* mov [rbx+page], rcx */
}

/* c->rip = r12, return r14d: the chain ends here. */
static void chain_return(Emit *e)
{
    b(e, 0x4C); b(e, 0x89); b(e, 0xA3); b32(e, OFF(rip));           /* mov [rbx+rip], r12 */
    b(e, 0x44); b(e, 0x89); b(e, 0xF0);                             /* mov eax, r14d */
    emu_jit_epilogue(e);
}

void emu_jit_goto(Emit *e, int32_t target, unsigned count)
{
    int64_t in_page = (int64_t)e->page_off + target;
    bool same_page = in_page >= 0 && in_page < 4096;
    uint8_t *to_slot, *ret[7] = { NULL };

    b(e, 0x4D); b(e, 0x8D); b(e, 0xA4); b(e, 0x24); b32(e, (uint32_t)target);   /* lea r12, [r12+t] */
    b(e, 0x41); b(e, 0x81); b(e, 0xC6); b32(e, count);              /* add r14d, count */
    b(e, 0x48); b(e, 0x8D); b(e, 0x05);                             /* lea rax, [rip+slot] */
    to_slot = e->p;
    b32(e, 0);
    store_rax(e, OFF(jit_slot));
    b(e, 0x4C); b(e, 0x89); b(e, 0xA3); b32(e, OFF(jit_slot_rip));  /* mov [rbx+slot_rip], r12 */
    b(e, 0x41); b(e, 0x81); b(e, 0xFE); b32(e, EMU_CHAIN_INSNS);    /* cmp r14d, max */
    ret[0] = jcc32(e, 0x3);                                         /* jae return */
    if (same_page) {
        b(e, 0x4D); b(e, 0x8D); b(e, 0xAD); b32(e, (uint32_t)target);   /* lea r13, [r13+t] */
    } else {
        probe_target(e, &ret[1]);
    }
    land(e, to_slot);
    b(e, 0xE9); b32(e, 0);                                          /* slot: jmp return */
    for (int i = 0; i < 7; i++) {
        land(e, ret[i]);
    }
    chain_return(e);
}

/*
 * The exit to a rip known only when it runs (ret, rax = the target): the
 * jump cache (EmuCpu.jcache, filled by the dispatch loop) gives the code
 * of the block last run at that rip, QEMU's lookup_and_goto_ptr. Found
 * by rip alone, it may be another address space's block: its byte check
 * against r13 (this rip's translation now) decides, as for any chain.
 */
void emu_jit_goto_dyn(Emit *e, unsigned count)
{
    uint8_t *ret[9] = { NULL };

    b(e, 0x49); b(e, 0x89); b(e, 0xC4);                             /* mov r12, rax */
    b(e, 0x41); b(e, 0x81); b(e, 0xC6); b32(e, count);              /* add r14d, count */
    b(e, 0x41); b(e, 0x81); b(e, 0xFE); b32(e, EMU_CHAIN_INSNS);    /* cmp r14d, max */
    ret[0] = jcc32(e, 0x3);                                         /* jae return */
    probe_target(e, &ret[1]);
    b(e, 0x4C); b(e, 0x89); b(e, 0xE0);                             /* mov rax, r12 */
    b(e, 0x48); b(e, 0x89); b(e, 0xC1);                             /* mov rcx, rax */
    b(e, 0x48); b(e, 0xC1); b(e, 0xE9); b(e, 10);                   /* shr rcx, 10 */
    b(e, 0x48); b(e, 0x31); b(e, 0xC1);                             /* xor rcx, rax */
    b(e, 0x81); b(e, 0xE1); b32(e, EMU_JCACHE - 1);                 /* and ecx, n-1 */
    b(e, 0xC1); b(e, 0xE1); b(e, 4);                                /* shl ecx, 4 */
    b(e, 0x4C); b(e, 0x3B); b(e, 0xA4); b(e, 0x0B); b32(e, OFF(jcache));   /* cmp r12, [..rip] */
    ret[7] = jcc32(e, CC_NE);
    b(e, 0x48); b(e, 0x8B); b(e, 0x84); b(e, 0x0B); b32(e, OFF(jcache) + 8);   /* mov rax, [..entry] */
    b(e, 0x48); b(e, 0x85); b(e, 0xC0);                             /* test rax, rax */
    ret[8] = jcc32(e, CC_E);
    b(e, 0xFF); b(e, 0xE0);                                         /* jmp rax */
    for (int i = 0; i < 9; i++) {
        land(e, ret[i]);
    }
    chain_return(e);
}

void emu_jit_remember(EmuCpu *c, EmuJitFn *fn)
{
    EmuJcacheEntry *j = &c->jcache[(c->rip ^ (c->rip >> 10)) & (EMU_JCACHE - 1)];

    j->rip = c->rip;
    j->entry = (const uint8_t *)(void *)fn + JIT_PROLOGUE;
}

void emu_jit_link(uint8_t *slot, EmuJitFn *fn)
{
    int32_t rel = (int32_t)((uint8_t *)(void *)fn + JIT_PROLOGUE - (slot + 5));

    memcpy(slot + 1, &rel, 4);
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
