/*
 * The emu accelerator's x86-64 CPU: architectural state, the decoded
 * instruction form, and the interfaces between the interpreter's parts
 * (decode, memory/MMU, execute, system). See docs/accelerators.md.
 *
 * Faults: any helper may raise an exception with emu_raise(), which
 * longjmp()s back to the run loop (emu-run.c). So an instruction must read
 * everything that can fault before it changes architectural state, and no
 * helper may hold a lock across a call that can raise. Between instructions,
 * cpu->rip is the address of the next instruction; during one, insn_rip is
 * its own address and next_rip the fall-through address.
 */
#ifndef STRATUS_EMU_CPU_H
#define STRATUS_EMU_CPU_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <glib.h>

#include "memory.h"

typedef struct Machine Machine;
typedef struct EmuLapic EmuLapic;

/* ---- Architectural constants ---- */
enum { R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI };
enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_NONE = 0xFF };

#define FL_CF   0x0001u
#define FL_PF   0x0004u
#define FL_AF   0x0010u
#define FL_ZF   0x0040u
#define FL_SF   0x0080u
#define FL_TF   0x0100u
#define FL_IF   0x0200u
#define FL_DF   0x0400u
#define FL_OF   0x0800u
#define FL_IOPL 0x3000u
#define FL_NT   0x4000u
#define FL_RF   0x10000u
#define FL_VM   0x20000u
#define FL_AC   0x40000u
#define FL_ID   0x200000u
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

#define CR0_PE 0x1ull
#define CR0_MP 0x2ull
#define CR0_EM 0x4ull
#define CR0_TS 0x8ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_WP 0x10000ull
#define CR0_AM 0x40000ull
#define CR0_NW 0x20000000ull
#define CR0_CD 0x40000000ull
#define CR0_PG 0x80000000ull
#define CR4_PSE 0x10ull
#define CR4_PAE 0x20ull
#define CR4_PGE 0x80ull
#define CR4_OSFXSR 0x200ull
#define CR4_OSXMMEXCPT 0x400ull
#define EFER_SCE 0x1ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define EFER_NXE 0x800ull

enum {
    EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
    EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12,
    EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17, EXC_XM = 19,
};

/* Descriptor attribute bits as in the descriptor's bits 40..55, shifted down by 40. */
#define SEG_TYPE_MASK 0x0Fu
#define SEG_S   0x10u
#define SEG_DPL_SHIFT 5
#define SEG_P   0x80u
#define SEG_L   0x2000u
#define SEG_DB  0x4000u
#define SEG_G   0x8000u

typedef struct EmuSeg {
    uint16_t sel;
    uint64_t base;
    uint32_t limit;              /* byte granular (G already applied) */
    uint16_t attr;
} EmuSeg;

typedef struct EmuDtr {
    uint64_t base;
    uint16_t limit;
} EmuDtr;

/* ---- Decoded instructions ---- */
enum { OPK_NONE, OPK_REG, OPK_MEM, OPK_IMM, OPK_PTR };
/* EmuOp.reg: 0-15 GPR; 16-19 AH,CH,DH,BH; then these bases. */
#define EREG_HIGH8 16
#define EREG_SEG   32
#define EREG_CR    48
#define EREG_DR    64
#define EREG_XMM   80                 /* XMM0..XMM15 */
#define EREG_MM    96                 /* MM0..MM7 */
#define EREG_ST    104                /* ST(0)..ST(7) */
#define EREG_NONE  0xFF
#define EREG_RIP   0xFE               /* base of a RIP-relative operand */

/* 16 bytes: every decoded instruction carries three (see EmuBlock). */
typedef struct EmuOp {
    uint8_t kind;
    uint8_t size;                /* bytes; 0 for agen/unsized */
    uint8_t reg;
    uint8_t seg;                 /* memory: effective segment S_* */
    union {
        struct {
            uint8_t base, index; /* OPK_MEM */
        };
        uint16_t ptr_sel;        /* OPK_PTR: the far pointer's selector */
    };
    uint8_t scale;
    uint8_t pad;
    int64_t val;                 /* disp (mem), immediate, ptr offset */
} EmuOp;

#define INSN_LOCK  0x01
#define INSN_REP   0x02          /* rep / repe */
#define INSN_REPNE 0x04
#define INSN_FAR   0x08          /* far jmp/call */

typedef struct EmuCpu EmuCpu;
typedef struct EmuInsn EmuInsn;
typedef void EmuHandler(EmuCpu *c, const EmuInsn *in);

struct EmuInsn {
    EmuHandler *fn;              /* the mnemonic's handler (emu_handler_for) */
    uint16_t mnem;               /* ZydisMnemonic */
    uint8_t len;
    uint8_t opsize;              /* bytes: 2, 4 or 8 (1 for byte forms) */
    uint8_t addrsize;            /* bytes: 2, 4 or 8 */
    uint8_t nops;
    uint8_t flags;
    uint8_t seg_override;        /* S_* or S_NONE */
    uint8_t opcode;
    uint8_t opmap;
    /*
     * Outside VEX/EVEX/XOP (which raise #UD here) only SSE4a's insertq has a
     * fourth visible operand, and it is not implemented: three suffice.
     */
    EmuOp op[3];
};

typedef struct EmuDecodeEntry {
    uint64_t pa;                 /* physical address of the first byte */
    uint64_t bytes[2];           /* the instruction's bytes, zero-padded ... */
    uint64_t mask[2];            /* ... and which of them belong to it */
    uint8_t mode;                /* MODE_* + 1; 0 = empty (zeroed memory is empty) */
    EmuInsn insn;
} EmuDecodeEntry;

#define EMU_DECODE_CACHE 1024    /* direct-mapped entries per vCPU */

/*
 * A straight-line run of decoded instructions within one page, ending at
 * the first control transfer (or size limits). Like a decode-cache entry it
 * keeps its bytes and is used only while guest memory still holds them.
 *
 * The instructions and bytes live in the vCPU's block pool, bump-allocated
 * with exactly the room each block needs (most blocks are a few
 * instructions long, so reserving EMU_BLOCK_INSNS for each would touch
 * several times the memory). A rebuilt block leaves its old room unused
 * until the pool or the code area runs out; then emu_block_flush() empties
 * every block and both areas at once (QEMU's TCG does the same with its
 * code buffer), so nothing is freed one block at a time and no pointer
 * into either area outlives its block.
 */
/*
 * Sized for a Linux kernel's working set: with 1024 blocks and 1 MiB areas
 * Debian's cloud kernel evicted and flushed so often that decoding and
 * refaulting the discarded pages took most of its boot (66 s of CPU to the
 * shell). With 16384 direct-mapped blocks and a 16 MiB pool it still built
 * 1.15 million blocks (conflicts, and 28 flushes of the full pool) for
 * ~60000 distinct ones; 65536 blocks in 2-way sets and a 32 MiB pool build
 * ~140000 and flush once (a 64 MiB pool saved that flush for ~50 MiB more
 * RSS). The areas are reserved, not committed: a small guest touches no
 * more of them than before.
 */
#define EMU_BLOCK_INSNS 24
#define EMU_BLOCK_BYTES 128
#define EMU_BLOCK_CACHE 65536    /* 2-way: block i's set is blocks i & ~1 and i | 1 */
#define EMU_BLOCK_POOL (32u << 20)    /* bytes of instructions and block bytes per vCPU */
#define EMU_JIT_AREA   (32u << 20)    /* bytes of generated code per vCPU */
#define EMU_JIT_BLOCK_MAX 4096       /* a block whose code is longer is cut (emu_block_compile) */
#define EMU_JIT_SLACK 4096           /* free past it: the emitter checks the end per instruction */
/*
 * A block is compiled when it starts for the EMU_JIT_AFTER-th time since it
 * was built (EmuCpu.jit_after; 0: when built): most of a boot's blocks run
 * only a few times, and interpreting them that often costs less than
 * compiling them, and no code-area memory.
 */
#define EMU_JIT_AFTER 8
/*
 * Generated code jumps from block to block (chaining) until this many
 * instructions have run, or until another thread stops it (emu_chain_stop:
 * an interrupt, INIT/SIPI or a kick arrived), then returns to the dispatch
 * loop, which looks at interrupts, timers and kicks. With 256, a Linux
 * boot returned 5.7 million times on the bound alone (of 8.9 million loop
 * entries); with 4096, 0.3 million. What arrives from elsewhere does not
 * wait for the bound; the vCPU's own timers are polled at each return.
 */
#define EMU_CHAIN_INSNS 4096

/*
 * Spin-wait detection (emu_pause, as KVM's pause-loop exiting): pauses at
 * most EMU_SPIN_GAP_NS apart make one run (a spin-wait loop of generated
 * code takes some 30 ns per pause). Once a run has lasted EmuCpu.spin_ns
 * (EMU_SPIN_NS for a machine's vCPUs) the vCPU gives its host CPU away
 * before it goes on: a Linux guest with 2 vCPUs on a loaded 2-core host
 * spun 0.7-1.0 s of a 4.5-7 s boot in spinlock, csd-lock, seqcount and
 * timer-sync waits, mostly for a vCPU thread the host had not scheduled.
 */
#define EMU_SPIN_GAP_NS 2000
#define EMU_SPIN_NS 20000

/*
 * Generated host code for a block. code = the host address of the block's
 * first byte: the code checks that it is the one it was translated from
 * and that the page's code generation is still the one it was translated
 * (or last checked) for, returns 0 if not (nothing executed; the caller
 * compares the bytes, emu_block_recheck), else runs the block (and the
 * blocks it is chained to, EMU_CHAIN_INSNS) and returns how many
 * instructions ran.
 */
typedef unsigned EmuJitFn(EmuCpu *c, const uint8_t *code);

typedef struct EmuBlock {
    uint64_t pa;
    uint8_t mode;                /* MODE_* + 1; 0 = empty */
    uint8_t n;
    uint16_t len;
    uint8_t succ_cpl;
    uint8_t runs;                /* interpreted starts, up to EmuCpu.jit_after */
    bool older;                  /* the other block of its set was used more recently */
    EmuJitFn *jit;               /* host code for the block, NULL = interpret */
    EmuInsn *insn;               /* n instructions, then len bytes (the pool) */
    /*
     * The block that last followed this one (64-bit code): where it starts,
     * its host address, and the TLB generation and CPL (succ_cpl) the
     * translation was made under. Saves the lookup, never the entry check.
     */
    struct EmuBlock *succ;
    uint64_t succ_rip, succ_pa, succ_gen;
    const uint8_t *succ_hva;
} EmuBlock;

/* The guest bytes a block was decoded from. */
static inline const uint8_t *emu_block_bytes(const EmuBlock *b)
{
    return (const uint8_t *)(b->insn + b->n);
}

/*
 * The jump cache: for a guest rip, the chain entry of the generated code
 * last run there (emu-jit-chain.c), for a ret's target. Keyed by rip only
 * and filled on every dispatch; emptied by the flush.
 */
#define EMU_JCACHE 4096          /* 1024 missed 630,000 times in a Linux boot, 4096 220,000 */
typedef struct EmuJcacheEntry {
    uint64_t rip;
    const uint8_t *entry;        /* NULL: empty */
} EmuJcacheEntry;

typedef struct EmuTlbEntry {
    uint64_t vpage;              /* linear page | 1 (valid); 0 = empty */
    uint64_t ppage;
    uint8_t *hva;                /* host address of the page, NULL = MMIO */
    uint8_t user_ok, write_ok, exec_ok;
    uint8_t global;              /* from a global leaf with CR4.PGE: kept by CR3 loads */
} EmuTlbEntry;
G_STATIC_ASSERT(sizeof(EmuTlbEntry) == 32);     /* the generated code indexes by (rax >> 7) & 0x7fe0 */

/*
 * Direct-mapped, 4 KiB entries. 256 entries (1 MiB) made a Linux boot
 * refill one every ~120 instructions; a flush clears only a TLB that was
 * filled since the last one (Linux flushes global pages by toggling
 * CR4.PGE: two flushes in a row), so a larger TLB costs little there.
 */
#define EMU_TLB_SIZE 1024

#define MSR_MISC_ENABLE_FAST_STRING 0x1ull

/*
 * The dirty-page log (accel.h dirty_log_*), shared by a machine's vCPUs.
 * While it is on, a TLB entry lets stores through only if it was filled
 * for a store, and the fill marks the page first; the MMU marks the page
 * tables whose accessed/dirty bits it sets. A flush of every vCPU's TLB
 * after taking the bits (emu.c) makes the next store to each page mark it
 * again. So nothing on a TLB hit looks at the log, and with it off a fill
 * pays one load.
 */
typedef struct EmuDirtyLog {
    int on;                      /* atomic */
    DirtyBitmap *bits;           /* pages marked since the last take */
} EmuDirtyLog;

/*
 * The x87, MMX and SSE state, laid out as FXSAVE's 64-bit image (SDM vol. 1,
 * 10.5.1), so fxsave, fxrstor and the vCPU state's FPU image are copies.
 * st[i] is ST(i), stack-relative as FXSAVE stores it (an 80-bit value in
 * its first 10 bytes); ftw is the abridged tag word, one bit per physical
 * register (set = valid). MMi is physical register i: every MMX
 * instruction makes TOP 0 first (emu-exec-x87.c), after which st[i] is it.
 */
typedef struct EmuFpu {
    uint16_t fcw, fsw;
    uint8_t ftw, rsvd0;
    uint16_t fop;
    uint64_t fip, fdp;
    uint32_t mxcsr, mxcsr_mask;
    uint8_t st[8][16];
    uint8_t xmm[16][16];
    uint8_t rsvd1[96];
} EmuFpu;

#define EMU_MXCSR_MASK  0xFFFFu      /* the MXCSR bits ldmxcsr accepts (with DAZ) */
#define EMU_MXCSR_RESET 0x1F80u

/* Decoder modes (also the decode-cache key). */
enum { MODE_16 = 0, MODE_32 = 1, MODE_64 = 2 };

struct EmuCpu {
    /* Architectural state. */
    uint64_t gpr[16];
    uint64_t rip;
    uint64_t rflags;
    EmuSeg seg[6];
    EmuSeg ldtr, tr;
    EmuDtr gdtr, idtr;
    uint64_t cr0, cr2, cr3, cr4, efer;
    uint64_t dr[8];
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base, tsc_aux, pat;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t misc_enable;        /* IA32_MISC_ENABLE: reset to MSR_MISC_ENABLE_FAST_STRING */
    uint64_t mtrr_def_type;
    int64_t tsc_offset;
    int64_t tsc_adjust;          /* IA32_TSC_ADJUST: what guest writes moved the TSC by */
    EmuFpu fpu;
    bool halted;
    bool wait_sipi;              /* AP after INIT: waits for a SIPI */
    bool sti_shadow;             /* interrupts blocked for one instruction */

    /* Derived from the above (emu_update_mode). */
    int cpl;
    uint8_t mode;                /* MODE_16/32/64: default operand size of CS */
    uint8_t stack32;             /* SS.B (outside long mode) */
    bool long64;

    /* Per-instruction. */
    uint64_t insn_rip;
    uint64_t next_rip;
    EmuInsn slow_insn;           /* decoded outside the cache (page-crossing) */

    /* Exceptions. */
    jmp_buf jmp;
    int exc_vector;              /* pending from emu_raise, -1 none */
    uint32_t exc_error;
    bool exc_has_error;
    int delivering;              /* vector being delivered (nested faults), -1 none */
    int fault_depth;

    /* Caches. */
    EmuTlbEntry tlb[EMU_TLB_SIZE];
    EmuDecodeEntry *dcache;      /* EMU_DECODE_CACHE entries */
    EmuBlock *blocks;            /* EMU_BLOCK_CACHE entries */
    uint8_t *pool;               /* EMU_BLOCK_POOL bytes: the blocks' instructions */
    size_t pool_used;
    uint8_t *jit_code;           /* EMU_JIT_AREA bytes of host code, NULL = no JIT */
    size_t jit_used;
    unsigned jit_after;          /* EMU_JIT_AFTER (tests: 0, compile every block at once) */
    bool jit_sahf;               /* the host has LAHF/SAHF in 64-bit mode (emu-jit.c) */
    /*
     * Chaining (emu-jit.c, emu_jit_link): jit_slot is the jump that
     * generated code last went through towards guest rip jit_slot_rip (set
     * by the code; NULL before each call). When a call returns at that rip,
     * link_slot/link_rip keep it until the block there is known, and the
     * jump is then pointed at that block's code. A flush clears both.
     */
    uint8_t *jit_slot, *link_slot;
    uint64_t jit_slot_rip, link_rip;
    /*
     * The chain's budget: EMU_CHAIN_INSNS, set before each call into
     * generated code, which compares the instructions run with it at every
     * exit to another block; emu_chain_stop() zeroes it from any thread.
     */
    uint32_t chain_max;
    EmuJcacheEntry jcache[EMU_JCACHE];
    uint8_t *jit_stub[6];        /* the code blocks share (emu-jit-internal.h, STUB_*) */
    /*
     * While a block runs: its code page (host address), and block_exit, set
     * by what makes the rest of the block stale or premature: a mode or
     * paging change, a store into the code page, hlt.
     */
    uintptr_t block_page;
    bool block_exit;
    uint64_t jit_flags;          /* generated code's spilled host flags (emu-jit-flags.c) */
    /*
     * For generated code: the code generation word of the page at host
     * address hva is at code_gen_bias + (hva >> 12) * 4 (ram->code_gen
     * biased by the mapping's page number; set by emu_jit_compile).
     */
    uintptr_t code_gen_bias;
    uint64_t jit_rechecks, jit_rechecks_failed;   /* entry checks failed, bytes then changed */
    EmuBlock *prev_block;        /* the block that ran last (for succ) */
    const uint8_t *block_hva;    /* where emu_block_get found the current block */
    uint64_t block_lin, block_pa;
    uint64_t tlb_gen;            /* counts TLB flushes */
    bool tlb_used;               /* an entry was filled since the last flush */
    bool tlb_global_used;        /* ... and one of them is global */
    void *decoders;              /* ZydisDecoder[3] */

    /* Environment. */
    Machine *machine;
    const GuestRam *ram;
    EmuDirtyLog *dirty;          /* the machine's; NULL: none (bare CPUs in tests) */
    EmuLapic *lapic;
    unsigned index;
    unsigned ncpus;
    GHashTable *ud_logged;       /* instruction byte strings already reported */
    /*
     * Spin-wait detection (emu_pause): when the last pause ran, when the
     * current run of pauses began, the run's length that makes the vCPU
     * yield (0: never, the bare CPUs of the tests), and spin_yield, set
     * with block_exit by the pause that ends such a run, for the vCPU loop
     * to yield; spin_yields counts them.
     */
    uint64_t pause_last_ns, spin_start_ns, spin_ns;
    bool spin_yield;
    uint64_t spin_yields;
};

/* pause: notes spin-waits (EMU_SPIN_NS); emu-exec-sys.c. */
void emu_pause(EmuCpu *c);

/* ---- emu-system.c: modes, segments, exceptions, interrupts ---- */
void emu_update_mode(EmuCpu *c);
/* A segment cache from an 8-byte GDT/LDT descriptor. */
void emu_desc_to_seg(EmuSeg *s, uint16_t sel, uint64_t desc);
/* Logs "unimplemented/undecodable instruction" once per byte string. */
void emu_log_ud_once(EmuCpu *c, const char *what, const uint8_t *bytes, size_t n);
G_NORETURN void emu_raise(EmuCpu *c, int vector, uint32_t error, bool has_error);
#define emu_gp(c, e) emu_raise((c), EXC_GP, (e), true)
#define emu_ud(c)    emu_raise((c), EXC_UD, 0, false)
/* Delivers c->exc_vector; returns false on a triple fault. */
bool emu_deliver_pending_exception(EmuCpu *c);
/* Delivers an interrupt/exception through the IDT (may raise). */
void emu_deliver(EmuCpu *c, int vector, bool has_error, uint32_t error,
                 bool software, uint64_t return_rip);
void emu_load_seg(EmuCpu *c, int seg, uint16_t sel);
/* verr/verw: may the current privilege level read/write through selector sel? */
bool emu_verify_seg(EmuCpu *c, uint16_t sel, bool write);
void emu_set_seg_real(EmuCpu *c, int seg, uint16_t sel);
void emu_far_jump(EmuCpu *c, uint16_t sel, uint64_t off);
void emu_far_call(EmuCpu *c, uint16_t sel, uint64_t off, unsigned opsize);
void emu_far_ret(EmuCpu *c, unsigned opsize, uint16_t pop_bytes);
void emu_iret(EmuCpu *c, unsigned opsize);
void emu_write_cr(EmuCpu *c, int n, uint64_t v);
uint64_t emu_read_cr(EmuCpu *c, int n);
void emu_ltr(EmuCpu *c, uint16_t sel);
void emu_lldt(EmuCpu *c, uint16_t sel);
void emu_syscall(EmuCpu *c);
void emu_sysret(EmuCpu *c, unsigned opsize);
bool emu_io_allowed(EmuCpu *c, uint16_t port, unsigned size);
/* Power-on (INIT) state: real mode at F000:FFF0, or SIPI vector. */
void emu_reset_init(EmuCpu *c);
void emu_sipi(EmuCpu *c, uint8_t vector);

/* ---- emu-exec-x87.c, emu-exec-sse.c: the FPU, MMX and SSE ---- */
/* The FPU's state after power-on and INIT (and fninit for the x87 part). */
void emu_fpu_reset(EmuCpu *c);
/* The handler of an x87/FXSAVE-family mnemonic, or NULL. */
EmuHandler *emu_x87_handler_for(unsigned mnemonic);
/* The handler of an MMX/SSE/SSE2 instruction, or NULL (string movsd/cmpsd: NULL). */
EmuHandler *emu_sse_handler_for(const EmuInsn *in);

/* ---- emu-msr-cpuid.c: MSRs, the TSC, CPUID ---- */
/* CLOCK_MONOTONIC in ns: the LAPIC's clock and (at EMU_TSC_KHZ = 1 GHz) the TSC. */
uint64_t emu_clock_ns(void *opaque);
uint64_t emu_rdtsc(EmuCpu *c);
void emu_wrmsr(EmuCpu *c, uint32_t idx, uint64_t v);
uint64_t emu_rdmsr(EmuCpu *c, uint32_t idx);
void emu_cpuid(EmuCpu *c, uint32_t leaf, uint32_t sub, uint32_t out[4]);

/* ---- emu-mmu.c: linear/physical memory ---- */
enum { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2 };
void emu_tlb_flush(EmuCpu *c);
/* A CR3 load's flush: every entry but the global ones. */
void emu_tlb_flush_nonglobal(EmuCpu *c);
/* Linear -> physical, raising #PF. sys = supervisor access regardless of CPL. */
uint64_t emu_translate(EmuCpu *c, uint64_t lin, int acc, bool sys);
/* Host pointer for [lin, lin+size) if it is RAM in one page, else NULL (after checks). */
uint8_t *emu_lin_ptr(EmuCpu *c, uint64_t lin, unsigned size, int acc, bool sys,
                     uint64_t *pa_out);
uint64_t emu_read_lin(EmuCpu *c, uint64_t lin, unsigned size, bool sys);
void emu_write_lin(EmuCpu *c, uint64_t lin, unsigned size, uint64_t v, bool sys);
void emu_read_lin_buf(EmuCpu *c, uint64_t lin, void *buf, unsigned len, bool sys);
uint64_t emu_read_phys(EmuCpu *c, uint64_t pa, unsigned size);
void emu_write_phys(EmuCpu *c, uint64_t pa, unsigned size, uint64_t v);
/* Segment:offset -> linear with limit/type checks (#GP/#SS). */
uint64_t emu_seg_lin(EmuCpu *c, int seg, uint64_t off, unsigned size, int acc);

/* ---- emu-decode.c ---- */
bool emu_decode_init(EmuCpu *c);
void emu_decode_destroy(EmuCpu *c);
/* Decodes the instruction at c->rip (cache, then Zydis). Raises #PF/#GP/#UD. */
const EmuInsn *emu_fetch_decode(EmuCpu *c);
/* For tests: decode a byte buffer; false if invalid. */
bool emu_decode_bytes(void *decoders, int mode, const uint8_t *buf, size_t len, EmuInsn *out);

/* ---- emu-exec.c ---- */
void emu_exec(EmuCpu *c, const EmuInsn *in);
EmuHandler *emu_handler_for(unsigned mnemonic);
/* A handler specialised for the instruction's operand shape, or the generic one. */
EmuHandler *emu_specialize(const EmuInsn *in);
typedef enum {
    SHAPE_NONE, SHAPE_MOV_RR, SHAPE_MOV_RI, SHAPE_ALU_RR, SHAPE_ALU_RI, SHAPE_TEST_RR,
    SHAPE_IMUL_RR, SHAPE_SHIFT_RI, SHAPE_JCC, SHAPE_MOV_RM, SHAPE_MOV_MR,
    SHAPE_CALL_REL, SHAPE_RET,
} EmuShape;
/* The operand shape of a specialised handler (aop: its ALU_* or SH_* operation). */
EmuShape emu_insn_shape(const EmuInsn *in, int *aop);

/* ---- emu-jit.c: host code for decoded blocks (x86-64 hosts) ---- */
bool emu_jit_init(EmuCpu *c);
void emu_jit_destroy(EmuCpu *c);
/* Room for one more block's code (EMU_JIT_BLOCK_MAX + EMU_JIT_SLACK bytes); true without a JIT. */
bool emu_jit_has_room(const EmuCpu *c);
/* Forgets all generated code (every block's jit pointer must be dropped too). */
void emu_jit_reset(EmuCpu *c);
/* Points the exit jump slot (EmuCpu.link_slot) at fn's block, skipping the return. */
void emu_jit_link(uint8_t *slot, EmuJitFn *fn);
/* Records fn as the code at c->rip in the jump cache. */
void emu_jit_remember(EmuCpu *c, EmuJitFn *fn);
/*
 * Compiles b (at host address hva) at the end of the code area, for the
 * code generation gen (armed: emu_block_compile); NULL when it cannot (b
 * then runs interpreted).
 */
EmuJitFn *emu_jit_compile(EmuCpu *c, const EmuBlock *b, const uint8_t *hva, uint32_t gen);
/* The generation fn's entry check compares with (it was checked again). */
void emu_jit_set_gen(EmuJitFn *fn, uint32_t gen);
/* Executes one instruction at c->rip (fetch, decode, execute). */
void emu_step(EmuCpu *c);
/* Executes the block at c->rip (or one instruction); returns how many ran. */
unsigned emu_run_block(EmuCpu *c);
/*
 * The block at c->rip, decoded or from the cache; NULL: use emu_step. A
 * block with generated code is returned unchecked (its code checks its
 * page's code generation; then emu_block_recheck compares its bytes, and
 * emu_block_rebuild() re-decodes it when they differ).
 */
EmuBlock *emu_block_get(EmuCpu *c);
EmuBlock *emu_block_rebuild(EmuCpu *c, EmuBlock *b);
/*
 * b's code (at c->block_hva) failed its entry check: arms the page again
 * and compares b's bytes; true (the code records the new generation) if
 * they are the same, false if b must be decoded again.
 */
bool emu_block_recheck(EmuCpu *c, EmuBlock *b);
/* Generates b's code (it just started for the jit_after-th time); NULL: use emu_step. */
EmuBlock *emu_block_compile(EmuCpu *c, EmuBlock *b);
/* The cached block that starts at physical address pa in mode (MODE_*), or NULL. */
const EmuBlock *emu_block_lookup(const EmuCpu *c, uint64_t pa, int mode);
/* Empties every block, the pool and the generated code (emu-cpu.h, EmuBlock). */
void emu_block_flush(EmuCpu *c);

/*
 * After every store of a vCPU into guest RAM at hva (one page): a store into
 * the running block's code page ends the block (self-modifying code), and
 * an armed page (generated code was translated from it) gets a new code
 * generation, so that code is checked again before it runs (memory.h
 * guest_ram_code_*, emu-jit.c). After the store, not before: a vCPU that
 * arms the page meanwhile then sees the new bytes or the bump.
 */
static inline void emu_note_store(EmuCpu *c, const void *hva)
{
    uint32_t *gen = guest_ram_code_gen(c->ram, hva);

    if (__builtin_expect(((uintptr_t)hva & ~(uintptr_t)0xFFF) == c->block_page, 0)) {
        c->block_exit = true;
    }
    if (gen && __builtin_expect(__atomic_load_n(gen, __ATOMIC_RELAXED) & 1, 0)) {
        guest_ram_code_bump(gen);
    }
}

/* ---- helpers shared by the parts ---- */
/*
 * Makes the running chain return to the dispatch loop at its next exit to
 * another block (EmuCpu.chain_max), as QEMU's cpu_exit: a chain started
 * just before may still run its whole budget, never more.
 */
static inline void emu_chain_stop(EmuCpu *c)
{
    __atomic_store_n(&c->chain_max, 0, __ATOMIC_RELAXED);
}

static inline uint64_t emu_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/*
 * Guest accesses of 1, 2, 4 or 8 bytes as one host load or store each: a
 * memcpy with a variable size would be a libc call that may split them.
 */
static inline uint64_t emu_ld(const void *p, unsigned size)
{
    uint16_t w;
    uint32_t d;
    uint64_t q;

    switch (size) {
    case 1: return *(const uint8_t *)p;
    case 2: memcpy(&w, p, 2); return w;
    case 4: memcpy(&d, p, 4); return d;
    default: memcpy(&q, p, 8); return q;
    }
}

static inline void emu_st(void *p, unsigned size, uint64_t v)
{
    uint16_t w = (uint16_t)v;
    uint32_t d = (uint32_t)v;

    switch (size) {
    case 1: *(uint8_t *)p = (uint8_t)v; break;
    case 2: memcpy(p, &w, 2); break;
    case 4: memcpy(p, &d, 4); break;
    default: memcpy(p, &v, 8); break;
    }
}

static inline uint64_t emu_sext(uint64_t v, unsigned size)
{
    switch (size) {
    case 1: return (uint64_t)(int64_t)(int8_t)v;
    case 2: return (uint64_t)(int64_t)(int16_t)v;
    case 4: return (uint64_t)(int64_t)(int32_t)v;
    default: return v;
    }
}

static inline unsigned emu_stack_size(const EmuCpu *c)
{
    return c->long64 ? 8 : (c->stack32 ? 4 : 2);
}

/* The TLB-hit path of emu_lin_ptr, inlined into the operand accessors. */
static inline uint8_t *emu_lin_ptr_fast(EmuCpu *c, uint64_t lin, unsigned size, int acc)
{
    const EmuTlbEntry *e = &c->tlb[(lin >> 12) % EMU_TLB_SIZE];

    if (__builtin_expect((lin & 0xFFF) + size <= 4096 && e->vpage == ((lin & ~0xFFFull) | 1) &&
                         e->hva && (c->cpl != 3 || e->user_ok) &&
                         (acc != ACC_WRITE || e->write_ok), 1)) {
        return e->hva + (lin & 0xFFF);
    }
    return emu_lin_ptr(c, lin, size, acc, false, NULL);
}

/* emu_seg_lin's 64-bit-mode path for segments without a base, inlined. */
static inline uint64_t emu_seg_lin_fast(EmuCpu *c, int seg, uint64_t off, unsigned size, int acc)
{
    if (__builtin_expect(c->long64 && seg != S_FS && seg != S_GS &&
                         (uint64_t)((int64_t)(off << 16) >> 16) == off, 1)) {
        return off;
    }
    return emu_seg_lin(c, seg, off, size, acc);
}

/* emu-exec-data.c: push and pop on the guest stack (SS, its address size). */
void emu_push(EmuCpu *c, uint64_t v, unsigned size);
uint64_t emu_pop(EmuCpu *c, unsigned size);

#endif
