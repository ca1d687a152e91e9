/*
 * ACPI table writers (ACPI 6.4 §5.2) and the image that places them in guest
 * memory: RSDP 2.0 -> XSDT -> FADT (-> DSDT, FACS), MADT, MCFG, ...
 *
 * Every table is a GByteArray holding the 36-byte header and the body with
 * its length and checksum final; the machine describes its hardware in the
 * descriptor structures below and never writes table bytes itself.
 *
 * Typical use (hw/x86/microvm-acpi.c):
 *     AcpiImage *img = acpi_image_new(0xE0000);
 *     uint64_t dsdt = acpi_image_add(img, acpi_build_dsdt(body), false);
 *     fadt.dsdt = dsdt;
 *     acpi_image_add(img, acpi_build_fadt(&fadt), true);
 *     acpi_image_add(img, acpi_build_madt(&madt), true);
 *     GByteArray *blob = acpi_image_finish(img);   // RSDP at offset 0
 */
#ifndef STRATUS_ACPI_TABLES_H
#define STRATUS_ACPI_TABLES_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "hw/acpi/aml.h"

#define ACPI_HEADER_SIZE     36
#define ACPI_RSDP_SIZE       36
#define ACPI_FADT_SIZE       276     /* revision 6 */
#define ACPI_FACS_SIZE       64
#define ACPI_OEM_ID          "STRATS"
#define ACPI_OEM_TABLE_ID    "STRATUS "

/* The byte that makes the sum of [p, p + len) plus it zero. */
uint8_t acpi_checksum(const uint8_t *p, size_t len);
/* A table with its header (length and checksum still 0). */
GByteArray *acpi_table_begin(const char *sig, uint8_t revision);
/* Sets the header's length and checksum; call once the body is complete. */
void acpi_table_finish(GByteArray *t);

/* Generic Address Structure (§5.2.3.2). */
typedef struct AcpiGas {
    uint8_t space;          /* ACPI_GAS_MEMORY, ACPI_GAS_IO */
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size;    /* 0 undefined, 1 byte, 2 word, 3 dword, 4 qword */
    uint64_t address;       /* 0: the register does not exist */
} AcpiGas;
#define ACPI_GAS_MEMORY 0
#define ACPI_GAS_IO     1
/* An I/O port register of `bits` bits accessed as a whole. */
AcpiGas acpi_gas_io(uint16_t port, unsigned bits);

/* DSDT (revision 2: 64-bit integers) around an AML body (consumed). */
GByteArray *acpi_build_dsdt(Aml *body);
/* FACS (64 bytes, no checksum): needed when the FADT is not hardware-reduced. */
GByteArray *acpi_build_facs(void);

/*
 * FADT, revision 6. hw_reduced: HW_REDUCED_ACPI, no PM1/GPE blocks or SCI,
 * sleep control/status registers instead, and the power button is a device
 * in the DSDT. Otherwise the PM1a event/control blocks with the fixed power
 * button (PWR_BUTTON clear) and the SCI. In both, a reset register (0 =
 * none; RESET_REG_SUP follows it).
 */
typedef struct AcpiFadtDesc {
    bool hw_reduced;
    uint64_t dsdt;                /* guest-physical address of the DSDT */
    uint64_t facs;                /* of the FACS, 0 for none */
    AcpiGas sleep_control;        /* hw_reduced */
    AcpiGas sleep_status;         /* hw_reduced */
    uint16_t sci_irq;             /* PM1 variant: the SCI's ISA IRQ (GSI) */
    uint16_t pm1a_evt;            /* PM1 variant: ports; length 4 */
    uint16_t pm1a_cnt;            /* length 2 */
    uint16_t pm_tmr;              /* 0: no PM timer; length 4, 32-bit */
    uint16_t gpe0;                /* 0: no GPE0 block */
    uint8_t gpe0_len;             /* bytes, even */
    AcpiGas reset_reg;
    uint8_t reset_value;
    uint16_t iapc_boot_arch;      /* ACPI_IAPC_* */
    uint32_t extra_flags;         /* ORed into the computed flags */
} AcpiFadtDesc;
#define ACPI_IAPC_LEGACY_DEVICES  (1u << 0)
#define ACPI_IAPC_8042            (1u << 1)
#define ACPI_IAPC_NO_VGA          (1u << 2)
#define ACPI_IAPC_NO_MSI          (1u << 3)
#define ACPI_IAPC_NO_ASPM         (1u << 4)
#define ACPI_IAPC_NO_CMOS_RTC     (1u << 5)
#define ACPI_FADT_WBINVD          (1u << 0)
#define ACPI_FADT_PWR_BUTTON      (1u << 4)   /* set: no fixed power button */
#define ACPI_FADT_SLP_BUTTON      (1u << 5)   /* set: no fixed sleep button */
#define ACPI_FADT_TMR_VAL_EXT     (1u << 8)
#define ACPI_FADT_RESET_REG_SUP   (1u << 10)
#define ACPI_FADT_HW_REDUCED      (1u << 20)
GByteArray *acpi_build_fadt(const AcpiFadtDesc *d);

/* An interrupt source override (MADT type 2): ISA irq -> gsi. */
typedef struct AcpiIrqOverride {
    uint8_t irq;
    uint32_t gsi;
    uint16_t flags;               /* ACPI_MPS_* */
} AcpiIrqOverride;
#define ACPI_MPS_ACTIVE_HIGH  0x1
#define ACPI_MPS_ACTIVE_LOW   0x3
#define ACPI_MPS_EDGE         (0x1 << 2)
#define ACPI_MPS_LEVEL        (0x3 << 2)

/*
 * MADT: one enabled Local APIC per vCPU (processor UID = APIC ID = index),
 * one IOAPIC, the overrides, and LINT1 = NMI on every processor.
 */
typedef struct AcpiMadtDesc {
    unsigned ncpus;               /* 1..254 */
    uint32_t lapic_addr;          /* 0xFEE00000 */
    uint8_t ioapic_id;
    uint32_t ioapic_addr;
    uint32_t ioapic_gsi_base;
    bool pcat_compat;             /* dual 8259 PICs present (PCAT_COMPAT) */
    const AcpiIrqOverride *overrides;
    unsigned n_overrides;
} AcpiMadtDesc;
#define ACPI_MADT_MAX_CPUS 254
GByteArray *acpi_build_madt(const AcpiMadtDesc *d);

/* MCFG: one ECAM window for segment 0, buses [bus_start, bus_end]. */
GByteArray *acpi_build_mcfg(uint64_t ecam_base, uint8_t bus_start, uint8_t bus_end);

/* XSDT listing the given table addresses. */
GByteArray *acpi_build_xsdt(const uint64_t *tables, unsigned n);
/* RSDP revision 2 (36 bytes, both checksums) pointing at an XSDT (no RSDT). */
void acpi_build_rsdp(uint8_t out[ACPI_RSDP_SIZE], uint64_t xsdt);

/*
 * Tables laid out one after another from `base` (a guest-physical address):
 * the RSDP first (so a scan of the BIOS area finds it at base, 16-byte
 * aligned), then each added table 16-byte aligned (a FACS 64-byte), then
 * the XSDT that acpi_image_finish() appends.
 */
typedef struct AcpiImage AcpiImage;
AcpiImage *acpi_image_new(uint64_t base);
/* Places table (consumed); in_xsdt lists it in the XSDT. Returns its address. */
uint64_t acpi_image_add(AcpiImage *img, GByteArray *table, bool in_xsdt);
/* The bytes to copy to `base` (RSDP at offset 0); img is freed. */
GByteArray *acpi_image_finish(AcpiImage *img);

#endif
