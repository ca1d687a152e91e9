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

/* ACPI tables (q35-acpi.c): in the e820-reserved BIOS area, RSDP first. */
#define Q35_ACPI_BASE      0xE0000ULL
#define Q35_ACPI_SIZE      0x10000

typedef struct Q35AcpiConfig {
    unsigned ncpus;
    bool serial;                 /* COM1 exists */
    bool rtc;                    /* the CMOS RTC exists */
    /* The host bridge's memory windows in _CRS, first and last byte. */
    uint64_t mmio32[2], mmio64[2];
} Q35AcpiConfig;

GByteArray *q35_acpi_build(const Q35AcpiConfig *c);
/* A configuration with the machine's fixed PCI windows. */
Q35AcpiConfig q35_acpi_config(unsigned ncpus, bool serial, bool rtc);

extern const MachineClass q35_machine_class;

#endif
