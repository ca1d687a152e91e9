/*
 * The chipset registers of q35 that firmware programs (docs/q35.md
 * "Chipset registers"): the MCH's (00:00.0) PCIEXBAR, PAM and SMRAM
 * registers, the ICH9 LPC function 00:1f.0 with PMBASE / ACPI_CNTL placing
 * the PM block and its ACPI PM timer, the PIRQ routing and RCBA registers,
 * and the reset control register at 0xCF9.
 */
#ifndef STRATUS_Q35_CHIPSET_H
#define STRATUS_Q35_CHIPSET_H

#include "hw/misc/pm.h"
#include "hw/pci/pci-host.h"

#define Q35_LPC_DEVFN        PCI_DEVFN(0x1f, 0)
#define ICH9_LPC_DEVICE_ID   0x2918
#define ICH9_LPC_PMBASE      0x40
#define ICH9_LPC_ACPI_CNTL   0x44
#define ICH9_LPC_ACPI_EN     0x80
#define ICH9_LPC_PIRQA_ROUT  0x60
#define ICH9_LPC_PIRQE_ROUT  0x68
#define ICH9_LPC_GEN_PMCON_1 0xA0
#define ICH9_LPC_RCBA        0xF0
#define MCH_PCIEXBAR         0x60
#define MCH_PAM0             0x90
#define MCH_SMRAM            0x9D
#define MCH_ESMRAMC          0x9E
#define ICH9_RST_CNT_OFFSET  1      /* 0xCF9, from 0xCF8 */

typedef struct Q35Chipset {
    Machine *machine;
    PciDevice *mch;              /* the host bridge (q35.c owns it) */
    PciDevice lpc;
    PmState *pm;
    /*
     * Direct kernel boot has no firmware to program the chipset: the LPC
     * starts as OVMF or SeaBIOS leaves it (PM block at 0x600, ACPI on).
     */
    bool as_firmware_left_it;
    uint8_t rst_cnt;             /* 0xCF9: SYS_RST and FULL_RST as written */
    bool logged_pciexbar;
} Q35Chipset;

/* Sets up both functions' registers; plugs the LPC at 00:1f.0 and 0xCF9. */
bool q35_chipset_init(Q35Chipset *c, Machine *m, PciHost *h, PciDevice *mch, PmState *pm,
                      bool firmware, GError **err);
/* system_reset: the registers as at power-on (the PM block moves back). */
void q35_chipset_reset(Q35Chipset *c);
/* After the LPC's saved configuration space is loaded: place the PM block. */
void q35_chipset_post_load(Q35Chipset *c);

#endif
