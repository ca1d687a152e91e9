/*
 * An ELF64 core file of an x86 guest (QMP dump-guest-memory, format elf,
 * without paging): one NT_PRSTATUS note per vCPU with its registers in
 * Linux's x86-64 layout, and one PT_LOAD per guest RAM block (physical
 * addresses, p_vaddr 0), clipped to an optional [begin, begin+length)
 * filter. gdb and crash read it like QEMU's.
 */
#ifndef STRATUS_X86_ELF_CORE_H
#define STRATUS_X86_ELF_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "memory.h"
#include "accel/x86-cpu-state.h"

typedef struct X86ElfCore {
    const GuestRam *ram;
    const X86VcpuState *cpus;    /* n_cpus states, index = vCPU index */
    unsigned n_cpus;
    uint64_t begin, length;      /* length 0: all of RAM */
} X86ElfCore;

/* Bytes of guest memory the dump holds (the sum of its PT_LOAD sizes). */
uint64_t x86_elf_core_ram_bytes(const X86ElfCore *c);
/*
 * Writes the whole file to fd from its current position. *done counts the
 * guest memory bytes written so far (for progress). false + *err on an I/O
 * error.
 */
bool x86_elf_core_write(const X86ElfCore *c, int fd, uint64_t *done, GError **err);

#endif
