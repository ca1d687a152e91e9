/*
 * x86 direct Linux boot (64-bit boot protocol), as StratoVirt's microvm:
 * bzImage or raw vmlinux.bin, zero page with e820 and command line, initrd at
 * the top of low memory, MP table, GDT/IDT and identity page tables, and the
 * vCPU register state to enter the 64-bit entry point.
 * See stratovirt-reference.md §5 for every address used here.
 */
#ifndef STRATUS_X86_LOADER_H
#define STRATUS_X86_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "accel/x86-boot-state.h"   /* X86BootState, KernelFormat */
#include "memory.h"

#define BOOT_GDT_ADDR        0x500
#define BOOT_IDT_ADDR        0x520
#define BOOT_ZERO_PAGE_ADDR  0x7000
#define BOOT_STACK_ADDR      0x8ff0
#define BOOT_PML4_ADDR       0x9000
#define BOOT_PDPT_ADDR       0xa000
#define BOOT_PD_ADDR         0xb000
#define BOOT_CMDLINE_ADDR    0x20000
#define BOOT_CMDLINE_MAX     0x10000   /* bytes reserved for the command line */
#define BOOT_MPTABLE_ADDR    0x9fc00
#define BOOT_EBDA_START      0x9fc00
#define BOOT_VGA_START       0xa0000   /* unused hole up to 1 MiB */
#define BOOT_BIOS_START      0xd0000
#define BOOT_HIGH_MEM_START  0x100000
#define BOOT_RAW_KERNEL_ADDR 0x1000000
#define BOOT_INITRD_LIMIT    0x37ffffffULL
/*
 * MP table placement: floating pointer always at BOOT_MPTABLE_ADDR (EBDA).
 * The configuration table follows it when both fit in the 1 KiB EBDA
 * (up to 40 vCPUs); otherwise it goes to BOOT_MPTABLE_HIGH_ADDR, inside the
 * e820-reserved [0xd0000, 0x100000) BIOS area.
 */
#define BOOT_EBDA_SIZE         0x400
#define BOOT_MPTABLE_HIGH_ADDR 0xf0000
#define BOOT_MPTABLE_HIGH_SIZE 0x10000
#define X86_MP_MAX_CPUS        254

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_MAX_ENTRIES 128

typedef struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed)) E820Entry;

typedef struct X86BootConfig {
    const char *kernel;          /* path */
    const char *initrd;          /* path or NULL */
    const char *cmdline;         /* full command line, already with auto params */
    unsigned ncpus;
    uint64_t ioapic_addr;        /* 0xfec00000 */
    uint64_t acpi_rsdp_addr;     /* boot_params.acpi_rsdp_addr; 0: no ACPI tables */
} X86BootConfig;

/*
 * Loads everything into guest RAM and fills *state. Errors name the file:
 * missing/unreadable kernel or initrd, kernel too small/garbage, kernel or
 * initrd not fitting in RAM, command line too long.
 */
bool x86_load_linux(GuestRam *ram, const X86BootConfig *cfg, X86BootState *state,
                    GError **err);

/* Pieces exposed for unit tests. */
/*
 * e820 map derived from ram->blocks (see bootparam.c for the layout). Returns
 * the number of entries the layout needs; only the first `max` are written.
 */
size_t x86_build_e820(const GuestRam *ram, E820Entry *table, size_t max);
/*
 * Builds the MP table (floating pointer, then the config table right after it)
 * into dst, which the guest sees at dst_gpa; returns bytes written, 0 if it
 * does not fit in room or ncpus is not 1..X86_MP_MAX_CPUS.
 */
size_t x86_build_mptable(uint8_t *dst, size_t room, uint64_t dst_gpa, unsigned ncpus,
                         uint64_t ioapic_addr);
/* Size of the MP configuration table (header + entries); 0 if ncpus invalid. */
size_t x86_mp_config_size(unsigned ncpus);
/* The 16-byte floating pointer structure pointing at config_gpa; returns 16 or 0. */
size_t x86_build_mp_floating(uint8_t *dst, size_t room, uint64_t config_gpa);
/* The configuration table alone; returns its size or 0 (bad ncpus, no room). */
size_t x86_build_mp_config(uint8_t *dst, size_t room, unsigned ncpus,
                           uint64_t ioapic_addr);
/* Byte checksum helper: value that makes the sum of buf[0..len) zero. */
uint8_t x86_mp_checksum(const uint8_t *buf, size_t len);
/* boot_params.acpi_rsdp_addr (protocol 2.14): where the RSDP is, so the kernel need not scan. */
void x86_zero_page_set_rsdp(uint8_t *zp, uint64_t rsdp_addr);
/* Fill a 4 KiB zero page from the kernel's setup header (or a synthetic one). */
bool x86_build_zero_page(uint8_t *zp, const uint8_t *setup_hdr, size_t hdr_len,
                         KernelFormat fmt, uint64_t cmdline_addr, size_t cmdline_len,
                         uint64_t initrd_addr, uint64_t initrd_size,
                         const E820Entry *e820, size_t n_e820, GError **err);

#endif
