/*
 * Instruction fetch and decode for the emu CPU. Zydis does the decoding
 * (lengths, prefixes, operand forms, default segments); this file turns its
 * output into the compact EmuInsn that the interpreter executes, and keeps
 * a per-vCPU direct-mapped cache keyed by the physical address.
 *
 * A cache entry also holds the instruction's bytes and is used only when
 * they still match guest memory. That comparison is what makes code written
 * by the host (kernel load, DMA) or by another vCPU never run stale, without
 * tracking writes to code pages.
 */
#include <string.h>
#include <sys/mman.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-cpu.h"
#include "util/log.h"

/*
 * The decode cache, the block cache and the block pool share one anonymous
 * reservation, in that order: its pages cost memory only once touched, and
 * most entries of the direct-mapped caches are never used (calloc would
 * clear, and so commit, the caches whole).
 */
#define PAGE_UP(n) (((n) + 4095) & ~(size_t)4095)
#define DCACHE_BYTES PAGE_UP(EMU_DECODE_CACHE * sizeof(EmuDecodeEntry))
#define BLOCKS_BYTES PAGE_UP(EMU_BLOCK_CACHE * sizeof(EmuBlock))
#define CACHES_BYTES (DCACHE_BYTES + BLOCKS_BYTES + EMU_BLOCK_POOL)
#define GUARD 4096

/*
 * Between two inaccessible pages, so that the kernel never merges it with a
 * neighbouring anonymous mapping: next to guest RAM it would disappear into
 * it, in /proc/PID/smaps and in what scripts/bench/boot counts as RAM.
 */
static uint8_t *caches_map(void)
{
    uint8_t *p = mmap(NULL, CACHES_BYTES + 2 * GUARD, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED) {
        return NULL;
    }
    if (mprotect(p + GUARD, CACHES_BYTES, PROT_READ | PROT_WRITE) != 0) {
        munmap(p, CACHES_BYTES + 2 * GUARD);
        return NULL;
    }
    /* A Linux boot fills most of it, and looks blocks up all over the block cache. */
    madvise(p + GUARD, CACHES_BYTES, MADV_HUGEPAGE);
    return p + GUARD;
}

bool emu_decode_init(EmuCpu *c)
{
    static const struct { ZydisMachineMode mm; ZydisStackWidth sw; } modes[3] = {
        [MODE_16] = { ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16 },
        [MODE_32] = { ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32 },
        [MODE_64] = { ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64 },
    };
    ZydisDecoder *d = g_new0(ZydisDecoder, 3);
    uint8_t *caches;

    for (int i = 0; i < 3; i++) {
        if (!ZYAN_SUCCESS(ZydisDecoderInit(&d[i], modes[i].mm, modes[i].sw))) {
            g_free(d);
            return false;
        }
    }
    caches = caches_map();               /* zero pages are empty entries */
    if (!caches) {
        g_free(d);
        return false;
    }
    c->dcache = (EmuDecodeEntry *)(void *)caches;
    c->blocks = (EmuBlock *)(void *)(caches + DCACHE_BYTES);
    c->pool = caches + DCACHE_BYTES + BLOCKS_BYTES;
    c->pool_used = 0;
    c->jit_after = EMU_JIT_AFTER;
    c->decoders = d;
    emu_jit_init(c);             /* without it blocks are interpreted */
    return true;
}

void emu_decode_destroy(EmuCpu *c)
{
    g_free(c->decoders);
    if (c->dcache) {
        munmap((uint8_t *)c->dcache - GUARD, CACHES_BYTES + 2 * GUARD);
    }
    emu_jit_destroy(c);
    c->decoders = NULL;
    c->dcache = NULL;
    c->blocks = NULL;
    c->pool = NULL;
}

static uint8_t conv_reg(ZydisRegister r)
{
    if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL) {
        return (uint8_t)(r - ZYDIS_REGISTER_AL);
    }
    if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) {
        return (uint8_t)(EREG_HIGH8 + (r - ZYDIS_REGISTER_AH));
    }
    if (r >= ZYDIS_REGISTER_SPL && r <= ZYDIS_REGISTER_R15B) {
        return (uint8_t)(4 + (r - ZYDIS_REGISTER_SPL));
    }
    if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W) {
        return (uint8_t)(r - ZYDIS_REGISTER_AX);
    }
    if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D) {
        return (uint8_t)(r - ZYDIS_REGISTER_EAX);
    }
    if (r >= ZYDIS_REGISTER_RAX && r <= ZYDIS_REGISTER_R15) {
        return (uint8_t)(r - ZYDIS_REGISTER_RAX);
    }
    if (r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS) {
        return (uint8_t)(EREG_SEG + (r - ZYDIS_REGISTER_ES));
    }
    if (r >= ZYDIS_REGISTER_CR0 && r <= ZYDIS_REGISTER_CR15) {
        return (uint8_t)(EREG_CR + (r - ZYDIS_REGISTER_CR0));
    }
    if (r >= ZYDIS_REGISTER_DR0 && r <= ZYDIS_REGISTER_DR15) {
        return (uint8_t)(EREG_DR + (r - ZYDIS_REGISTER_DR0));
    }
    if (r >= ZYDIS_REGISTER_XMM0 && r <= ZYDIS_REGISTER_XMM15) {
        return (uint8_t)(EREG_XMM + (r - ZYDIS_REGISTER_XMM0));
    }
    if (r >= ZYDIS_REGISTER_MM0 && r <= ZYDIS_REGISTER_MM7) {
        return (uint8_t)(EREG_MM + (r - ZYDIS_REGISTER_MM0));
    }
    if (r >= ZYDIS_REGISTER_ST0 && r <= ZYDIS_REGISTER_ST7) {
        return (uint8_t)(EREG_ST + (r - ZYDIS_REGISTER_ST0));
    }
    if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP || r == ZYDIS_REGISTER_IP) {
        return EREG_RIP;
    }
    return EREG_NONE;
}

static uint8_t seg_override(ZyanU64 attr)
{
    if (attr & ZYDIS_ATTRIB_HAS_SEGMENT_ES) return S_ES;
    if (attr & ZYDIS_ATTRIB_HAS_SEGMENT_CS) return S_CS;
    if (attr & ZYDIS_ATTRIB_HAS_SEGMENT_SS) return S_SS;
    if (attr & ZYDIS_ATTRIB_HAS_SEGMENT_DS) return S_DS;
    if (attr & ZYDIS_ATTRIB_HAS_SEGMENT_FS) return S_FS;
    if (attr & ZYDIS_ATTRIB_HAS_SEGMENT_GS) return S_GS;
    return S_NONE;
}

static void conv_op(const ZydisDecodedOperand *zo, EmuOp *o)
{
    memset(o, 0, sizeof(*o));
    o->size = (uint8_t)(zo->size / 8);
    o->reg = o->base = o->index = EREG_NONE;
    switch (zo->type) {
    case ZYDIS_OPERAND_TYPE_REGISTER:
        o->kind = OPK_REG;
        o->reg = conv_reg(zo->reg.value);
        break;
    case ZYDIS_OPERAND_TYPE_MEMORY:
        o->kind = OPK_MEM;
        o->seg = zo->mem.segment == ZYDIS_REGISTER_NONE ? S_DS
                 : (uint8_t)(zo->mem.segment - ZYDIS_REGISTER_ES);
        o->base = conv_reg(zo->mem.base);
        o->index = conv_reg(zo->mem.index);
        o->scale = zo->mem.scale;
        o->val = zo->mem.disp.value;
        break;
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        o->kind = OPK_IMM;
        o->val = (int64_t)zo->imm.value.u;
        break;
    case ZYDIS_OPERAND_TYPE_POINTER:
        o->kind = OPK_PTR;
        o->ptr_sel = zo->ptr.segment;
        o->val = zo->ptr.offset;
        break;
    default:
        o->kind = OPK_NONE;
        break;
    }
}

bool emu_decode_bytes(void *decoders, int mode, const uint8_t *buf, size_t len, EmuInsn *out)
{
    const ZydisDecoder *d = (const ZydisDecoder *)decoders + mode;
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];

    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(d, buf, len, &zi, zo))) {
        return false;
    }
    memset(out, 0, sizeof(*out));
    out->mnem = (uint16_t)zi.mnemonic;
    out->len = zi.length;
    out->opsize = (uint8_t)(zi.operand_width / 8);
    out->addrsize = (uint8_t)(zi.address_width / 8);
    out->opcode = zi.opcode;
    out->opmap = (uint8_t)zi.opcode_map;
    out->seg_override = seg_override(zi.attributes);
    if (zi.attributes & ZYDIS_ATTRIB_HAS_LOCK) {
        out->flags |= INSN_LOCK;
    }
    if (zi.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE)) {
        out->flags |= INSN_REP;
    }
    if (zi.attributes & ZYDIS_ATTRIB_HAS_REPNE) {
        out->flags |= INSN_REPNE;
    }
    if (zi.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) {
        out->flags |= INSN_FAR;
    }
    out->nops = MIN(zi.operand_count_visible, G_N_ELEMENTS(out->op));
    for (unsigned i = 0; i < out->nops; i++) {
        conv_op(&zo[i], &out->op[i]);
        /* Zydis < 4.1 (issue #592): with 67 and REX.B, SIB base 101 in mod 00
         * is decoded as [r13d] without the disp32; it is [disp32] */
        if (zo[i].type == ZYDIS_OPERAND_TYPE_MEMORY && zi.machine_mode == ZYDIS_MACHINE_MODE_LONG_64 &&
            zi.address_width == 32 && (zi.attributes & ZYDIS_ATTRIB_HAS_SIB) &&
            zi.raw.modrm.mod == 0 && zi.raw.sib.base == 5) {
            out->op[i].base = EREG_NONE;
            out->op[i].val = zi.raw.disp.value;
        }
    }
    out->fn = emu_specialize(out);
    return true;
}

void emu_log_ud_once(EmuCpu *c, const char *what, const uint8_t *bytes, size_t n)
{
    GString *hex = g_string_new(NULL);

    for (size_t i = 0; i < n; i++) {
        g_string_append_printf(hex, "%s%02x", i ? " " : "", bytes[i]);
    }
    if (!g_hash_table_contains(c->ud_logged, hex->str)) {
        log_warn("vcpu %u: emu: %s at rip 0x%" G_GINT64_MODIFIER "x: %s (raising #UD)",
                 c->index, what, (guint64)c->rip, hex->str);
        g_hash_table_add(c->ud_logged, g_string_free(hex, FALSE));
    } else {
        g_string_free(hex, TRUE);
    }
}

static G_NORETURN void undefined(EmuCpu *c, const uint8_t *bytes, size_t n)
{
    emu_log_ud_once(c, "undecodable instruction", bytes, n);
    emu_ud(c);
}

static uint64_t fetch_lin(const EmuCpu *c, uint64_t rip)
{
    return c->long64 ? rip : ((c->seg[S_CS].base + rip) & 0xFFFFFFFFull);
}

/* Slow path: page-crossing or non-RAM code, never cached. */
static const EmuInsn *decode_slow(EmuCpu *c, uint64_t lin, EmuInsn *scratch)
{
    uint8_t buf[15];
    unsigned have = MIN(15u, 4096 - (unsigned)(lin & 0xFFF));

    for (unsigned i = 0; i < have; i++) {
        buf[i] = (uint8_t)emu_read_phys(c, emu_translate(c, lin + i, ACC_EXEC, false), 1);
    }
    if (!emu_decode_bytes(c->decoders, c->mode, buf, have, scratch)) {
        if (have < 15) {      /* it may continue on the next page: fetch that (may #PF) */
            for (unsigned i = have; i < 15; i++) {
                buf[i] = (uint8_t)emu_read_phys(c, emu_translate(c, lin + i, ACC_EXEC, false), 1);
            }
            if (emu_decode_bytes(c->decoders, c->mode, buf, 15, scratch)) {
                return scratch;
            }
        }
        undefined(c, buf, 15);
    }
    return scratch;
}

/* Host address of the code byte at lin (through the fetch-page cache), NULL if not RAM. */
static inline __attribute__((always_inline)) const uint8_t *
fetch_ptr(EmuCpu *c, uint64_t lin, uint64_t *pa)
{
    const EmuTlbEntry *e = &c->tlb[(lin >> 12) % EMU_TLB_SIZE];

    if (G_LIKELY(e->vpage == ((lin & ~0xFFFull) | 1) && e->hva && e->exec_ok &&
                 (c->cpl != 3 || e->user_ok))) {
        *pa = e->ppage | (lin & 0xFFF);
        return e->hva + (lin & 0xFFF);
    }
    return emu_lin_ptr(c, lin, 1, ACC_EXEC, false, pa);
}

/*
 * An instruction that did not decode from the avail (< 15) bytes left in
 * its page at p continues on the next page, which is fetched now (a #PF
 * there is this instruction's): a block cannot hold it, so this runs each
 * time it executes (a Linux boot: ~90,000 times), and it takes each page's
 * bytes as one copy where decode_slow translates and reads byte by byte.
 */
static const EmuInsn *decode_cross(EmuCpu *c, uint64_t lin, const uint8_t *p, unsigned avail,
                                   EmuInsn *scratch)
{
    uint8_t buf[15];
    uint64_t pa;
    const uint8_t *q = fetch_ptr(c, lin + avail, &pa);

    memcpy(buf, p, avail);
    if (q) {
        memcpy(buf + avail, q, 15 - avail);
    } else {
        for (unsigned i = avail; i < 15; i++) {
            buf[i] = (uint8_t)emu_read_phys(c, emu_translate(c, lin + i, ACC_EXEC, false), 1);
        }
    }
    if (!emu_decode_bytes(c->decoders, c->mode, buf, 15, scratch)) {
        undefined(c, buf, 15);
    }
    return scratch;
}

static inline void load16(const uint8_t *p, uint64_t w[2])
{
    memcpy(w, p, 16);
}

const EmuInsn *emu_fetch_decode(EmuCpu *c)
{
    uint64_t lin = fetch_lin(c, c->rip), pa, w[2] = { 0, 0 };
    unsigned avail = 4096 - (unsigned)(lin & 0xFFF);
    const uint8_t *p;
    EmuDecodeEntry *e;

    if (!(p = fetch_ptr(c, lin, &pa))) {
        return decode_slow(c, lin, &c->slow_insn);
    }
    /*
     * The entry compares 16 bytes at once; near the end of the page only
     * what is left of it (zero-padded) is loaded, and an instruction that
     * does not fit in that rest continues on the next page: the slow path.
     */
    if (G_LIKELY(avail >= 16)) {
        load16(p, w);
    } else {
        memcpy(w, p, avail);
    }
    e = &c->dcache[(pa ^ (pa >> 13)) % EMU_DECODE_CACHE];
    if (G_LIKELY(e->pa == pa && e->mode == c->mode + 1 && (w[0] & e->mask[0]) == e->bytes[0] &&
                 (w[1] & e->mask[1]) == e->bytes[1])) {
        return &e->insn;
    }
    if (!emu_decode_bytes(c->decoders, c->mode, p, MIN(15u, avail), &e->insn)) {
        e->mode = 0;
        if (avail < 15) {
            return decode_cross(c, lin, p, avail, &c->slow_insn);
        }
        undefined(c, p, 15);
    }
    e->pa = pa;
    e->mode = (uint8_t)(c->mode + 1);
    e->mask[0] = e->insn.len >= 8 ? ~0ull : (1ull << (8 * e->insn.len)) - 1;
    e->mask[1] = e->insn.len <= 8 ? 0 : (1ull << (8 * (e->insn.len - 8))) - 1;
    e->bytes[0] = w[0] & e->mask[0];
    e->bytes[1] = w[1] & e->mask[1];
    return &e->insn;
}

/* Instructions after which a block ends: every control transfer. */
static bool ends_block(unsigned mnem)
{
    switch (mnem) {
    case ZYDIS_MNEMONIC_JMP: case ZYDIS_MNEMONIC_CALL: case ZYDIS_MNEMONIC_RET:
    case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB:
    case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ:
    case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JS:
    case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
    case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE:
    case ZYDIS_MNEMONIC_JNLE: case ZYDIS_MNEMONIC_JCXZ: case ZYDIS_MNEMONIC_JECXZ:
    case ZYDIS_MNEMONIC_JRCXZ: case ZYDIS_MNEMONIC_LOOP: case ZYDIS_MNEMONIC_LOOPE:
    case ZYDIS_MNEMONIC_LOOPNE: case ZYDIS_MNEMONIC_INT: case ZYDIS_MNEMONIC_INT1:
    case ZYDIS_MNEMONIC_INT3: case ZYDIS_MNEMONIC_INTO: case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD: case ZYDIS_MNEMONIC_IRETQ: case ZYDIS_MNEMONIC_SYSCALL:
    case ZYDIS_MNEMONIC_SYSRET: case ZYDIS_MNEMONIC_HLT: case ZYDIS_MNEMONIC_UD2:
        return true;
    default:
        return false;
    }
}

/* The most a block takes from the pool. */
#define BLOCK_POOL_MAX (EMU_BLOCK_INSNS * sizeof(EmuInsn) + EMU_BLOCK_BYTES)

void emu_block_flush(EmuCpu *c)
{
    /*
     * Zeroed blocks are empty, with no code and no successor. Discarding
     * the pages (blocks and pool are adjacent) zeroes them and gives them
     * back, so the next blocks touch only what they use.
     */
    if (madvise(c->blocks, BLOCKS_BYTES + EMU_BLOCK_POOL, MADV_DONTNEED) != 0) {
        memset(c->blocks, 0, EMU_BLOCK_CACHE * sizeof(EmuBlock));
    }
    c->prev_block = NULL;
    c->pool_used = 0;
    emu_jit_reset(c);
}

/* Decodes into the pool's free room, which emu_block_rebuild() ensured is enough. */
static void block_build(EmuCpu *c, EmuBlock *b, const uint8_t *p, uint64_t lin, uint64_t pa)
{
    unsigned room = 4096 - (unsigned)(lin & 0xFFF), off = 0, n = 0;
    EmuInsn *insn = (EmuInsn *)(void *)(c->pool + c->pool_used);

    b->jit = NULL;               /* the old block's code no longer applies */
    b->succ = NULL;
    b->runs = 0;

    /*
     * Each instruction is decoded from the (up to 15) bytes left in this
     * page: one that continues on the next page fails to decode here and
     * ends the block before it (emu_step then runs it).
     */
    while (n < EMU_BLOCK_INSNS && off < room && off + 15 <= EMU_BLOCK_BYTES &&
           emu_decode_bytes(c->decoders, c->mode, p + off, MIN(15u, room - off), &insn[n])) {
        off += insn[n].len;
        if (ends_block(insn[n++].mnem)) {
            break;
        }
    }
    b->insn = insn;
    b->n = (uint8_t)n;
    b->len = (uint16_t)off;
    b->pa = pa;
    b->mode = n ? (uint8_t)(c->mode + 1) : 0;
    memcpy(insn + n, p, off);    /* emu_block_bytes() */
    c->pool_used += (n * sizeof(EmuInsn) + off + 7) & ~(size_t)7;
}

/* The block's bytes against memory, a word at a time (inline: libc's
 * memcmp call costs more than the comparison for these short runs). */
static inline bool same_bytes(const EmuBlock *b, const uint8_t *p)
{
    const uint8_t *bytes = emu_block_bytes(b);
    unsigned i = 0, n = b->len;
    uint64_t x, y;

    if (n < 8) {
        for (; i < n; i++) {
            if (bytes[i] != p[i]) {
                return false;
            }
        }
        return true;
    }
    for (; i + 8 < n; i += 8) {
        memcpy(&x, bytes + i, 8);
        memcpy(&y, p + i, 8);
        if (x != y) {
            return false;
        }
    }
    /* the last word, overlapping the previous one rather than reading past the end */
    memcpy(&x, bytes + n - 8, 8);
    memcpy(&y, p + n - 8, 8);
    return x == y;
}

/* The block that followed the previous one last time, if it still applies. */
static EmuBlock *chained(EmuCpu *c)
{
    EmuBlock *prev = c->prev_block, *b;

    /*
     * Only while the TLB still has the page: generated code chains into it
     * through the TLB (emu-jit-chain.c), and this path would never refill
     * an entry that data accesses evicted, so every chain would stop there.
     */
    if (!prev || !(b = prev->succ) || prev->succ_rip != c->rip || !c->long64 ||
        prev->succ_gen != c->tlb_gen || prev->succ_cpl != c->cpl ||
        c->tlb[(c->rip >> 12) % EMU_TLB_SIZE].vpage != ((c->rip & ~0xFFFull) | 1) ||
        b->pa != prev->succ_pa || b->mode != c->mode + 1 ||
        (!b->jit && !same_bytes(b, prev->succ_hva))) {
        return NULL;
    }
    c->block_hva = prev->succ_hva;
    c->block_pa = prev->succ_pa;
    c->block_lin = c->rip;                /* chains exist only in 64-bit code */
    c->block_page = (uintptr_t)c->block_hva & ~(uintptr_t)0xFFF;
    c->prev_block = b;
    return b;
}

/*
 * Keeps b's first n instructions (and their bytes, which follow them in the
 * pool). The rest start a block of their own at the next rip.
 */
static void block_truncate(EmuBlock *b, unsigned n)
{
    unsigned len = 0;

    for (unsigned i = 0; i < n; i++) {
        len += b->insn[i].len;
    }
    memmove(b->insn + n, emu_block_bytes(b), len);
    b->n = (uint8_t)n;
    b->len = (uint16_t)len;
}

/*
 * The generation protocol's first half (emu_block_recheck): arms b's page
 * (at c->block_hva), then compares b's bytes with it; true and *gen (the
 * armed value code from b may keep) if they are the same.
 */
static bool arm_same(EmuCpu *c, const EmuBlock *b, uint32_t *gen)
{
    uint32_t *word = guest_ram_code_gen(c->ram, c->block_hva);

    if (!word) {
        return false;
    }
    *gen = guest_ram_code_arm(word);
    return same_bytes(b, c->block_hva);
}

/*
 * b's code. A block whose code would exceed EMU_JIT_BLOCK_MAX (a long run of
 * memory-operand instructions, each with its inline TLB path and handler
 * call) is cut in half until it fits: interpreted whole, a Linux boot ran
 * 9.5 million instructions of such blocks, each run a return to the loop.
 */
static EmuJitFn *block_code(EmuCpu *c, EmuBlock *b)
{
    uint32_t gen;
    EmuJitFn *fn;

    /*
     * The bytes were compared before (the block was just built or
     * interpreted), but a store that came in between without seeing the
     * page armed is caught only by comparing after arming. If they differ
     * it is interpreted this time and decoded again at the next.
     */
    if (!c->jit_code || !arm_same(c, b, &gen)) {
        return NULL;
    }
    fn = emu_jit_compile(c, b, c->block_hva, gen);
    while (!fn && b->n > 1 && b->mode == MODE_64 + 1 && emu_jit_has_room(c)) {
        block_truncate(b, b->n / 2u);
        fn = emu_jit_compile(c, b, c->block_hva, gen);
    }
    /*
     * Once more after compiling (microseconds later): narrows the one
     * window the generation leaves (emu_block_recheck) to stores that were
     * still not visible to this thread after that long.
     */
    return fn && same_bytes(b, c->block_hva) ? fn : NULL;
}

/*
 * The generation protocol (memory.h guest_ram_code_*, docs/accelerators.md):
 * arm, a full fence (the atomic OR), compare the bytes, keep the armed
 * value. A writer stores, then tests the armed bit and, if set, bumps the
 * word. Either the writer's test comes after the arm in the word's order
 * (it bumps: the kept value is stale, the block is checked again at its
 * next entry) or before it; then, if its store had become visible before
 * its test, the compare after the arm sees it. What is left: a store of
 * another vCPU still in its store buffer while its own test (a plain load,
 * not fenced) already found the page disarmed, and this vCPU arms and
 * compares before the store lands. Then the code runs the old bytes until
 * the page is next written (QEMU's MTTCG has the same window with
 * TLB_NOTDIRTY). The VMM's writers fence before their test
 * (guest_ram_code_written), so they do not leave it.
 */
bool emu_block_recheck(EmuCpu *c, EmuBlock *b)
{
    uint32_t gen;

    c->jit_rechecks++;
    if (!arm_same(c, b, &gen)) {
        c->jit_rechecks_failed++;
        return false;
    }
    emu_jit_set_gen(b->jit, gen);
    return true;
}

EmuBlock *emu_block_rebuild(EmuCpu *c, EmuBlock *b)
{
    /*
     * Nothing runs from a block while one is built (this is the start of
     * a block, outside any generated code), so emptying them all is safe.
     */
    if (c->pool_used + BLOCK_POOL_MAX > EMU_BLOCK_POOL || !emu_jit_has_room(c)) {
        emu_block_flush(c);
    }
    block_build(c, b, c->block_hva, c->block_lin, c->block_pa);
    if (!b->n) {
        c->prev_block = NULL;
        return NULL;     /* undecodable first instruction: emu_step raises #UD */
    }
    if (!c->jit_after) {
        b->jit = block_code(c, b);
    }
    return b;
}

EmuBlock *emu_block_compile(EmuCpu *c, EmuBlock *b)
{
    if (emu_jit_has_room(c)) {
        b->jit = block_code(c, b);
        return b;
    }
    /* The flush empties b as well: build it again, and compile it at once. */
    b = emu_block_rebuild(c, b);
    if (b) {
        b->runs = (uint8_t)c->jit_after;
        b->jit = block_code(c, b);
    }
    return b;
}

/*
 * The block of set for pa in the current mode, else the one to replace:
 * an empty one, else the one used less recently. Replacing the older of
 * two keeps a hot block that shares its set with another hot one (direct
 * mapped, such pairs were rebuilt alternately all through a Linux boot).
 */
static EmuBlock *block_set(const EmuCpu *c, uint64_t pa)
{
    return &c->blocks[2 * ((pa ^ (pa >> 12)) % (EMU_BLOCK_CACHE / 2))];
}

const EmuBlock *emu_block_lookup(const EmuCpu *c, uint64_t pa, int mode)
{
    const EmuBlock *set = block_set(c, pa);

    for (int i = 0; i < 2; i++) {
        if (set[i].pa == pa && set[i].mode == mode + 1) {
            return &set[i];
        }
    }
    return NULL;
}

static EmuBlock *block_way(const EmuCpu *c, EmuBlock *set, uint64_t pa)
{
    for (int i = 0; i < 2; i++) {
        if (set[i].pa == pa && set[i].mode == c->mode + 1) {
            return &set[i];
        }
    }
    if (!set[0].mode || !set[1].mode) {
        return &set[!!set[0].mode];
    }
    return &set[set[0].older ? 0 : 1];
}

EmuBlock *emu_block_get(EmuCpu *c)
{
    uint64_t lin, pa;
    const uint8_t *p;
    EmuBlock *b = chained(c), *set;

    if (b) {
        return b;
    }
    lin = fetch_lin(c, c->rip);
    /*
     * Code in the last 7 bytes of a page runs by single steps: blocks there
     * needed 8 bytes for the generated code's old byte compare. Its code
     * generation check does not; starting blocks there is left to measure.
     */
    if (4096 - (lin & 0xFFF) < 8 || !(p = fetch_ptr(c, lin, &pa))) {
        c->prev_block = NULL;
        return NULL;
    }
    c->block_page = (uintptr_t)p & ~(uintptr_t)0xFFF;
    set = block_set(c, pa);
    c->block_hva = p;
    c->block_lin = lin;
    c->block_pa = pa;
    b = block_way(c, set, pa);
    set[0].older = b != &set[0];
    set[1].older = b != &set[1];
    if (!(b->pa == pa && b->mode == c->mode + 1 && (b->jit || same_bytes(b, p))) &&
        !emu_block_rebuild(c, b)) {
        return NULL;
    }
    if (c->prev_block && c->long64) {
        EmuBlock *prev = c->prev_block;

        prev->succ = b;
        prev->succ_rip = c->rip;
        prev->succ_pa = pa;
        prev->succ_hva = p;
        prev->succ_gen = c->tlb_gen;
        prev->succ_cpl = c->cpl;
    }
    c->prev_block = b;
    return b;
}
