/*
 * AML for a PCI Express host bridge in the DSDT (PCI Firmware 3.2 §4.5,
 * ACPI 6.4 §6.2.13 _PRT, §6.2.11 _OSC): the machine passes its windows,
 * ECAM and legacy-interrupt routing, and puts the result in \_SB.
 */
#ifndef STRATUS_ACPI_PCI_H
#define STRATUS_ACPI_PCI_H

#include "hw/acpi/aml.h"

/* An inclusive range [min, max]. */
typedef struct AcpiRange {
    uint64_t min, max;
} AcpiRange;

#define ACPI_PCI_SLOTS 32
/* _OSC control bits (PCI Firmware 3.2 §4.5.1). */
#define ACPI_OSC_NATIVE_HOTPLUG  (1u << 0)
#define ACPI_OSC_SHPC_HOTPLUG    (1u << 1)
#define ACPI_OSC_PME             (1u << 2)
#define ACPI_OSC_AER             (1u << 3)
#define ACPI_OSC_PCIE_CAP        (1u << 4)

typedef struct AcpiPciHostDesc {
    const char *name;             /* the device's NameSeg, "PCI0" */
    uint8_t bus_start, bus_end;   /* decoded buses (_BBN = bus_start) */
    /*
     * The ECAM window, reserved by a PNP0C02 device ("motherboard
     * resources") next to the bridge so that Linux trusts the MCFG entry
     * (size 0: no reservation; MCFG itself is acpi_build_mcfg()).
     */
    uint64_t ecam_base, ecam_size;
    /* I/O port windows forwarded to PCI; the CF8-CFF pair is listed as consumed. */
    const AcpiRange *io;
    unsigned n_io;
    AcpiRange mmio32;             /* below 4 GiB, non-prefetchable; max 0 = none */
    AcpiRange mmio64;             /* above 4 GiB, prefetchable; max 0 = none */
    /*
     * Legacy INTx routing: gsi[slot][pin] (pin 0 = INTA) for slots
     * 0..n_slots-1 of bus_start, as _PRT entries with a GSI (no link devices).
     */
    const uint32_t (*gsi)[4];
    unsigned n_slots;
    /* _OSC: the control bits granted to the OS (0: no _OSC method). */
    uint32_t osc_control;
} AcpiPciHostDesc;

/*
 * Device(<name>) with _HID PNP0A08, _CID PNP0A03, _SEG/_BBN/_UID 0, _CRS
 * (WordBusNumber, IO 0xCF8, WordIO per window, DWordMemory, QWordMemory),
 * _PRT and _OSC; then, if ecam_size, Device(MRES) PNP0C02 reserving ECAM.
 * A sequence of the two devices, to aml_append to Scope(\_SB).
 */
Aml *acpi_pci_host_aml(const AcpiPciHostDesc *d);
/* The _PRT package alone (used by acpi_pci_host_aml, exposed for tests). */
Aml *acpi_pci_prt(const uint32_t (*gsi)[4], unsigned n_slots);

#endif
