/*
 * ACPI pieces both x86 machines describe the same way (x86-acpi.c): COM1 in
 * the DSDT, the \_S5 package the PM block powers off on, and a MADT whose
 * ISA IRQs reach the IOAPIC pin of the same number, as the MP table says.
 */
#ifndef STRATUS_X86_ACPI_H
#define STRATUS_X86_ACPI_H

#include "hw/acpi/acpi-tables.h"

#define X86_LAPIC_ADDR 0xfee00000u

/* Device(COM1): PNP0501 at 0x3F8, IRQ 4. */
Aml *x86_acpi_com1(void);
/* Name(\_S5, Package { 0, 0 }): SLP_TYP 0 is what the PM block treats as S5. */
Aml *x86_acpi_s5(void);
/* One LAPIC per vCPU, the IOAPIC (id ncpus + 1, as in the MP table), the overrides. */
GByteArray *x86_acpi_madt(unsigned ncpus, const AcpiIrqOverride *ov, unsigned n_ov);

#endif
