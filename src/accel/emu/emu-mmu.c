/*
 * Memory for the emu CPU: segmentation, the page walk (32-bit, PAE and
 * 4-level, with 4 KiB, 2/4 MiB and 1 GiB pages), a small TLB, and physical
 * accesses to RAM, the vCPU's own LAPIC page and the machine's MMIO bus.
 *
 * Accessed and dirty bits are set with host atomics because another vCPU
 * may be walking (or the guest editing) the same tables at the same time.
 * The TLB is not coherent with page-table writes, exactly like a real TLB:
 * the guest must invlpg or reload CR3, which flush it.
 */
#include <string.h>

#include "accel/emu/emu-cpu.h"
#include "accel/emu/emu-apic.h"
#include "machine.h"

#define PTE_P   0x1ull
#define PTE_RW  0x2ull
#define PTE_US  0x4ull
#define PTE_A   0x20ull
#define PTE_D   0x40ull
#define PTE_PS  0x80ull
#define PTE_G   0x100ull
#define PTE_NX  (1ull << 63)
#define PTE_ADDR 0x000FFFFFFFFFF000ull

#define PF_P    0x1u
#define PF_W    0x2u
#define PF_U    0x4u
#define PF_I    0x10u

void emu_tlb_flush(EmuCpu *c)
{
    if (c->tlb_used) {
        memset(c->tlb, 0, sizeof(c->tlb));
        c->tlb_used = c->tlb_global_used = false;
    }
    c->tlb_gen++;
    c->block_exit = true;
}

/*
 * Linux marks its kernel mappings global and loads CR3 at every switch
 * between processes (some 18,000 times in a boot to the shell): keeping
 * the kernel's entries spares as many refills after each switch.
 */
void emu_tlb_flush_nonglobal(EmuCpu *c)
{
    bool kept = false;

    if (!c->tlb_global_used) {
        emu_tlb_flush(c);
        return;
    }
    for (unsigned i = 0; i < EMU_TLB_SIZE; i++) {
        if (c->tlb[i].global) {
            kept = true;
        } else {
            c->tlb[i].vpage = 0;
        }
    }
    c->tlb_global_used = kept;
    c->tlb_gen++;
    c->block_exit = true;
}

/* ---- physical ---- */

static bool lapic_page(EmuCpu *c, uint64_t pa)
{
    uint64_t base;

    if (!c->lapic) {             /* a bare CPU in the unit tests */
        return false;
    }
    base = emu_lapic_get_apic_base(c->lapic);

    return (base & (1ull << 11)) && (pa & ~0xFFFull) == (base & PTE_ADDR);
}

uint64_t emu_read_phys(EmuCpu *c, uint64_t pa, unsigned size)
{
    uint8_t *p = guest_ram_ptr(c->ram, pa, size);
    uint64_t v = 0;

    if (p) {
        v = emu_ld(p, size);
        return v;
    }
    if (lapic_page(c, pa)) {
        /* As KVM: narrow reads come from the containing dword. */
        v = emu_lapic_read(c->lapic, (uint32_t)(pa & 0xFFC));
        return (v >> ((pa & 3) * 8)) & emu_mask(size);
    }
    machine_lock(c->machine);
    iobus_read(&c->machine->mmio, pa, &v, size);
    machine_unlock(c->machine);
    return v & emu_mask(size);
}

void emu_write_phys(EmuCpu *c, uint64_t pa, unsigned size, uint64_t v)
{
    uint8_t *p = guest_ram_ptr(c->ram, pa, size);
    bool rom = false;

    if (p) {
        emu_st(p, size, v);
        emu_note_store(c, p);
        return;
    }
    if (lapic_page(c, pa)) {
        /* As KVM: only dword writes reach the registers. */
        if (size == 4 && !(pa & 3)) {
            emu_lapic_write(c->lapic, (uint32_t)(pa & 0xFFC), (uint32_t)v);
        }
        return;
    }
    machine_lock(c->machine);
    iobus_write(&c->machine->mmio, pa, &v, size);
    iobus_direct_page(&c->machine->mmio, pa, &rom);
    machine_unlock(c->machine);
    if (rom) {           /* a flash command: this vCPU's ROM pages may read differently now */
        emu_tlb_flush(c);
    }
}

/*
 * A ROM page (pflash in array mode) reads from host memory like RAM; it is
 * taken only for reads and fetches, so every write still reaches the device.
 */
static uint8_t *rom_page(EmuCpu *c, uint64_t ppage, int acc)
{
    const uint8_t *p;

    if (acc == ACC_WRITE || !c->machine) {
        return NULL;
    }
    machine_lock(c->machine);
    p = iobus_direct_page(&c->machine->mmio, ppage, NULL);
    machine_unlock(c->machine);
    return (uint8_t *)p;
}

/* ---- dirty-page log (EmuDirtyLog in emu-cpu.h) ---- */

static bool dirty_logging(const EmuCpu *c)
{
    return c->dirty && __atomic_load_n(&c->dirty->on, __ATOMIC_ACQUIRE);
}

/* Before the store, so that a take running meanwhile cannot miss it. */
static void dirty_mark(EmuCpu *c, uint64_t pa)
{
    dirty_bitmap_mark(c->dirty->bits, pa, 1);
}

/* ---- page walk ---- */

static uint64_t *pte_ptr(EmuCpu *c, uint64_t pa, unsigned size)
{
    return (uint64_t *)guest_ram_ptr(c->ram, pa, size);
}

static uint64_t read_pte(EmuCpu *c, uint64_t pa, bool pae)
{
    void *p = pte_ptr(c, pa, pae ? 8 : 4);

    if (!p) {
        return 0;        /* tables outside RAM read as not present */
    }
    return pae ? __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED)
               : __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
}

static void set_pte_bits(EmuCpu *c, uint64_t pa, bool pae, uint64_t bits, uint64_t old)
{
    void *p;

    if ((old & bits) == bits || !(p = pte_ptr(c, pa, pae ? 8 : 4))) {
        return;
    }
    if (dirty_logging(c)) {
        dirty_mark(c, pa);
    }
    if (pae) {
        __atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_RELAXED);
    }
    emu_note_store(c, p);               /* a page table in a code page, however unlikely */
}

typedef struct Walk {
    uint64_t pa;             /* physical address of the byte */
    bool user, rw, nx, dirty, global;
    bool pae;
    uint64_t leaf_pa, leaf;  /* the leaf entry, for the dirty bit */
} Walk;

/* False when a level is not present. Sets accessed bits on the way. */
static bool walk(EmuCpu *c, uint64_t lin, Walk *w)
{
    bool lm = c->efer & EFER_LMA, pae = lm || (c->cr4 & CR4_PAE);
    bool nxe = c->efer & EFER_NXE;
    int levels = lm ? 4 : (pae ? 3 : 2);
    uint64_t table = pae ? (c->cr3 & (lm ? PTE_ADDR : 0xFFFFFFE0ull)) : (c->cr3 & 0xFFFFF000ull);
    uint64_t ent_pa = 0, ent = 0;
    int shift = 0;

    w->user = w->rw = true;
    w->nx = false;
    for (int lvl = levels; lvl >= 1; lvl--) {
        unsigned idx;

        if (pae) {
            shift = 12 + 9 * (lvl - 1);
            idx = (lvl == 3 && !lm) ? (unsigned)((lin >> 30) & 3) : (unsigned)((lin >> shift) & 511);
        } else {
            shift = 12 + 10 * (lvl - 1);
            idx = (unsigned)((lin >> shift) & 1023);
        }
        ent_pa = table + (uint64_t)idx * (pae ? 8 : 4);
        ent = read_pte(c, ent_pa, pae);
        if (!(ent & PTE_P)) {
            return false;
        }
        if (!(lvl == 3 && pae && !lm)) {     /* PAE PDPTEs have no RW/US/A */
            w->user &= !!(ent & PTE_US);
            w->rw &= !!(ent & PTE_RW);
            if (nxe && pae && (ent & PTE_NX)) {
                w->nx = true;
            }
        }
        bool large = (ent & PTE_PS) && ((lvl == 2 && (pae || (c->cr4 & CR4_PSE))) ||
                                        (lvl == 3 && lm));
        if (lvl == 1 || large) {
            uint64_t base;

            if (pae) {
                base = ent & PTE_ADDR & ~((1ull << shift) - 1);
            } else if (large) {      /* PSE-36: bits 13..20 are address bits 32..39 */
                base = (ent & 0xFFC00000ull) | ((ent >> 13) & 0xFFull) << 32;
            } else {
                base = ent & 0xFFFFF000ull;
            }
            w->pa = base | (lin & ((1ull << shift) - 1));
            break;
        }
        if (!(lvl == 3 && pae && !lm)) {
            set_pte_bits(c, ent_pa, pae, PTE_A, ent);
        }
        table = pae ? (ent & PTE_ADDR) : (ent & 0xFFFFF000ull);
    }
    set_pte_bits(c, ent_pa, pae, PTE_A, ent);
    w->dirty = ent & PTE_D;
    w->global = (ent & PTE_G) && (c->cr4 & CR4_PGE);
    w->pae = pae;
    w->leaf_pa = ent_pa;
    w->leaf = ent;
    return true;
}

static G_NORETURN void page_fault(EmuCpu *c, uint64_t lin, uint32_t code)
{
    c->cr2 = lin;
    emu_raise(c, EXC_PF, code, true);
}

static bool access_ok(const EmuCpu *c, bool user, bool rw, bool nx, int acc, bool sys)
{
    bool user_acc = c->cpl == 3 && !sys;

    if (user_acc && !user) {
        return false;
    }
    if (acc == ACC_WRITE && !rw && (user_acc || (c->cr0 & CR0_WP))) {
        return false;
    }
    return !(acc == ACC_EXEC && nx);
}

static EmuTlbEntry *tlb_fill(EmuCpu *c, uint64_t lin, int acc, bool sys)
{
    EmuTlbEntry *e = &c->tlb[(lin >> 12) % EMU_TLB_SIZE];
    uint64_t vpage = lin & ~0xFFFull;
    Walk w = { 0 };

    if (!(c->cr0 & CR0_PG)) {
        w.pa = lin;
        w.user = w.rw = w.dirty = true;
        w.nx = false;
    } else if (!walk(c, lin, &w)) {
        page_fault(c, lin, (acc == ACC_WRITE ? PF_W : 0) |
                   (c->cpl == 3 && !sys ? PF_U : 0) |
                   (acc == ACC_EXEC && (c->efer & EFER_NXE) ? PF_I : 0));
    }
    if (!access_ok(c, w.user, w.rw, w.nx, acc, sys)) {
        page_fault(c, lin, PF_P | (acc == ACC_WRITE ? PF_W : 0) |
                   (c->cpl == 3 && !sys ? PF_U : 0) |
                   (acc == ACC_EXEC && (c->efer & EFER_NXE) ? PF_I : 0));
    }
    if (acc == ACC_WRITE && !w.dirty) {     /* only a permitted write dirties */
        set_pte_bits(c, w.leaf_pa, w.pae, PTE_D, w.leaf);
        w.dirty = true;
    }
    c->tlb_used = true;
    e->vpage = vpage | 1;
    e->ppage = w.pa & ~0xFFFull;
    e->hva = lapic_page(c, e->ppage) ? NULL : guest_ram_ptr(c->ram, e->ppage, 4096);
    e->user_ok = w.user;
    /* A TLB hit may write only when the walk has already set the dirty bit. */
    e->write_ok = w.rw && w.dirty;
    if (!e->hva && !lapic_page(c, e->ppage) && (e->hva = rom_page(c, e->ppage, acc))) {
        e->write_ok = false;
    }
    e->exec_ok = !w.nx;
    e->global = w.global;
    c->tlb_global_used |= w.global;
    if (G_UNLIKELY(dirty_logging(c))) {
        /*
         * A read fill stays read-only: the first store refills and marks.
         * A store fill marks even without write_ok (CR0.WP=0 lets CPL0
         * write a read-only page, refilling on every store).
         */
        e->write_ok &= acc == ACC_WRITE;
        if (acc == ACC_WRITE && e->hva) {
            dirty_mark(c, e->ppage);
        }
    }
    return e;
}

static EmuTlbEntry *tlb_lookup(EmuCpu *c, uint64_t lin, int acc, bool sys)
{
    EmuTlbEntry *e = &c->tlb[(lin >> 12) % EMU_TLB_SIZE];

    if (G_LIKELY(e->vpage == ((lin & ~0xFFFull) | 1)) &&
        (!(c->cpl == 3 && !sys) || e->user_ok) &&
        (acc != ACC_WRITE || e->write_ok) &&
        (acc != ACC_EXEC || e->exec_ok)) {
        return e;
    }
    return tlb_fill(c, lin, acc, sys);
}

uint64_t emu_translate(EmuCpu *c, uint64_t lin, int acc, bool sys)
{
    return tlb_lookup(c, lin, acc, sys)->ppage | (lin & 0xFFF);
}

uint8_t *emu_lin_ptr(EmuCpu *c, uint64_t lin, unsigned size, int acc, bool sys,
                     uint64_t *pa_out)
{
    EmuTlbEntry *e;

    if ((lin & 0xFFF) + size > 4096) {
        return NULL;
    }
    e = tlb_lookup(c, lin, acc, sys);
    if (pa_out) {
        *pa_out = e->ppage | (lin & 0xFFF);
    }
    return e->hva ? e->hva + (lin & 0xFFF) : NULL;
}

/* Slow path: a page-crossing access is done byte by byte after both pages are checked. */
static void check_cross(EmuCpu *c, uint64_t lin, unsigned size, int acc, bool sys)
{
    emu_translate(c, lin, acc, sys);
    emu_translate(c, lin + size - 1, acc, sys);
}

uint64_t emu_read_lin(EmuCpu *c, uint64_t lin, unsigned size, bool sys)
{
    uint64_t pa, v = 0;
    uint8_t *p = emu_lin_ptr(c, lin, size, ACC_READ, sys, &pa);

    if (G_LIKELY(p)) {
        v = emu_ld(p, size);
        return v;
    }
    if ((lin & 0xFFF) + size <= 4096) {
        return emu_read_phys(c, pa, size);
    }
    check_cross(c, lin, size, ACC_READ, sys);
    for (unsigned i = 0; i < size; i++) {
        v |= emu_read_phys(c, emu_translate(c, lin + i, ACC_READ, sys), 1) << (8 * i);
    }
    return v;
}

void emu_write_lin(EmuCpu *c, uint64_t lin, unsigned size, uint64_t v, bool sys)
{
    uint64_t pa;
    uint8_t *p = emu_lin_ptr(c, lin, size, ACC_WRITE, sys, &pa);

    if (G_LIKELY(p)) {
        emu_st(p, size, v);
        emu_note_store(c, p);
        return;
    }
    if ((lin & 0xFFF) + size <= 4096) {
        emu_write_phys(c, pa, size, v);
        return;
    }
    check_cross(c, lin, size, ACC_WRITE, sys);
    for (unsigned i = 0; i < size; i++) {
        emu_write_phys(c, emu_translate(c, lin + i, ACC_WRITE, sys), 1, (v >> (8 * i)) & 0xFF);
    }
}

void emu_read_lin_buf(EmuCpu *c, uint64_t lin, void *buf, unsigned len, bool sys)
{
    uint8_t *b = buf;

    for (unsigned i = 0; i < len; i++) {
        b[i] = (uint8_t)emu_read_lin(c, lin + i, 1, sys);
    }
}

/* ---- segmentation ---- */

static bool canonical(uint64_t a)
{
    return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

uint64_t emu_seg_lin(EmuCpu *c, int seg, uint64_t off, unsigned size, int acc)
{
    const EmuSeg *s = &c->seg[seg];

    if (c->long64) {
        uint64_t lin = off + ((seg == S_FS || seg == S_GS) ? s->base : 0);

        if (!canonical(lin)) {
            emu_raise(c, seg == S_SS ? EXC_SS : EXC_GP, 0, true);
        }
        return lin;
    }
    if (c->cr0 & CR0_PE) {
        bool expand_down = (s->attr & SEG_S) && !(s->attr & 8) && (s->attr & 4);

        if (!(s->attr & SEG_P) ||
            (acc == ACC_WRITE && (s->attr & SEG_S) && ((s->attr & 8) || !(s->attr & 2)))) {
            emu_raise(c, seg == S_SS ? EXC_SS : EXC_GP, 0, true);
        }
        if (expand_down) {
            uint64_t top = (s->attr & SEG_DB) ? 0xFFFFFFFFull : 0xFFFFull;

            if (off <= s->limit || off + size - 1 > top) {
                emu_raise(c, seg == S_SS ? EXC_SS : EXC_GP, 0, true);
            }
        } else if (size && off + size - 1 > s->limit) {
            emu_raise(c, seg == S_SS ? EXC_SS : EXC_GP, 0, true);
        }
    } else if (size && off + size - 1 > s->limit) {
        emu_raise(c, seg == S_SS ? EXC_SS : EXC_GP, 0, true);
    }
    return (s->base + off) & 0xFFFFFFFFull;
}
