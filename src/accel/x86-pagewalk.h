/*
 * Linear -> guest-physical translation for debugging accesses (QMP memsave,
 * HMP x): the walk the MMU would do, from a saved vCPU state, without
 * setting accessed/dirty bits and ignoring permissions, as QEMU's
 * cpu_get_phys_page_debug does.
 */
#ifndef STRATUS_X86_PAGEWALK_H
#define STRATUS_X86_PAGEWALK_H

#include <stdbool.h>
#include <stdint.h>

#include "memory.h"
#include "accel/x86-cpu-state.h"

/*
 * Paging off: the linear address (real and protected mode without paging).
 * 32-bit paging (4 MiB pages with CR4.PSE), PAE and 4-level long-mode
 * paging (2 MiB and 1 GiB pages). false if a table entry on the way is not
 * present or a table is not in RAM.
 */
bool x86_linear_to_phys(const GuestRam *ram, const X86VcpuState *st, uint64_t la,
                        uint64_t *pa);

#endif
