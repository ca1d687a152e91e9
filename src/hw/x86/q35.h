/*
 * The standard x86 machine "q35" (q35.c, docs/q35.md): the layout constants
 * other parts (ACPI tables, tests) share.
 */
#ifndef STRATUS_Q35_H
#define STRATUS_Q35_H

#include "machine.h"
#include "hw/device.h"
#include "hw/x86/x86-board.h"

#define Q35_LOW_RAM_LIMIT  0x80000000ULL
#define Q35_ECAM_BASE      0xB0000000ULL
#define Q35_ECAM_SIZE      0x10000000ULL
#define Q35_MMIO32_BASE    0xC0000000ULL
#define Q35_MMIO32_END     0xF0000000ULL
#define Q35_MMIO64_BASE    0x8000000000ULL
#define Q35_MMIO64_SIZE    0x8000000000ULL

extern const MachineClass q35_machine_class;

#endif
