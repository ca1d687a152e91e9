/* Debug page walk (x86-pagewalk.h). */
#include "accel/x86-pagewalk.h"

#define CR0_PG     (1ull << 31)
#define CR4_PSE    (1ull << 4)
#define CR4_PAE    (1ull << 5)
#define EFER_LMA   (1ull << 10)
#define PTE_P      1ull
#define PTE_PS     (1ull << 7)
#define ADDR_MASK  0x000ffffffffff000ull    /* bits 51:12 of a 64-bit entry */

static bool read_pte(const GuestRam *ram, uint64_t gpa, unsigned size, uint64_t *pte)
{
    uint32_t v32;

    if (size == 4) {
        if (!guest_ram_read(ram, gpa, &v32, 4)) {
            return false;
        }
        *pte = v32;
        return true;
    }
    return guest_ram_read(ram, gpa, pte, 8);
}

/*
 * 64-bit entries (PAE, long mode): `levels` tables from `table`, each index
 * 9 bits wide from bit `shift` down; a PS entry mapping 1 GiB (shift 30) or
 * 2 MiB (shift 21) ends the walk early (PS is reserved in a PML4 entry).
 */
static bool walk64(const GuestRam *ram, uint64_t table, unsigned shift, unsigned levels,
                   uint64_t la, uint64_t *pa)
{
    for (unsigned l = 0; l < levels; l++, shift -= 9) {
        uint64_t pte;

        if (!read_pte(ram, table + ((la >> shift) & 0x1ff) * 8, 8, &pte) || !(pte & PTE_P)) {
            return false;
        }
        if (l + 1 == levels || ((pte & PTE_PS) && (shift == 30 || shift == 21))) {
            uint64_t page = 1ull << shift;
            *pa = (pte & ADDR_MASK & ~(page - 1)) | (la & (page - 1));
            return true;
        }
        table = pte & ADDR_MASK;
    }
    return false;
}

static bool walk32(const GuestRam *ram, const X86VcpuState *st, uint32_t la, uint64_t *pa)
{
    uint64_t pde, pte;

    if (!read_pte(ram, (st->cr3 & 0xfffff000u) + (la >> 22) * 4, 4, &pde) || !(pde & PTE_P)) {
        return false;
    }
    if ((pde & PTE_PS) && (st->cr4 & CR4_PSE)) {
        /* PSE-36: bits 20:13 of the entry are physical bits 39:32. */
        *pa = (pde & 0xffc00000u) | ((pde >> 13) & 0xff) << 32 | (la & 0x3fffff);
        return true;
    }
    if (!read_pte(ram, (pde & 0xfffff000u) + ((la >> 12) & 0x3ff) * 4, 4, &pte) ||
        !(pte & PTE_P)) {
        return false;
    }
    *pa = (pte & 0xfffff000u) | (la & 0xfff);
    return true;
}

bool x86_linear_to_phys(const GuestRam *ram, const X86VcpuState *st, uint64_t la,
                        uint64_t *pa)
{
    uint64_t pdpte;

    if (!(st->cr0 & CR0_PG)) {
        *pa = la;
        return true;
    }
    if (st->efer & EFER_LMA) {
        return walk64(ram, st->cr3 & ADDR_MASK, 39, 4, la, pa);
    }
    if (!(st->cr4 & CR4_PAE)) {
        return walk32(ram, st, (uint32_t)la, pa);
    }
    /* PAE: the 4 PDPTEs at CR3[31:5], then two 9-bit levels. */
    la &= 0xffffffffu;
    if (!read_pte(ram, (st->cr3 & 0xffffffe0u) + (la >> 30) * 8, 8, &pdpte) ||
        !(pdpte & PTE_P)) {
        return false;
    }
    return walk64(ram, pdpte & ADDR_MASK, 21, 2, la, pa);
}
