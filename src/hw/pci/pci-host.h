/*
 * How the guest reaches PCI configuration space (pci.h) on the standard
 * machine: the legacy port pair (0xCF8 address, 0xCFC..0xCFF data; PCI
 * 3.0 §3.2.2.3.2) and the PCIe ECAM window (PCIe 5.0 §7.2.2). Both decode to
 * bus / device-function / register and reach the function plugged there;
 * an empty slot reads all ones, as a master abort does, and drops writes.
 * The host bridge's regions go on the machine's buses with
 * pci_host_map(); the functions are plain PciDevice images.
 */
#ifndef STRATUS_PCI_HOST_H
#define STRATUS_PCI_HOST_H

#include <glib.h>

#include "memory.h"
#include "hw/pci/pci.h"

#define PCI_HOST_CONFIG_ADDR   0xcf8
#define PCI_HOST_CONFIG_DATA   0xcfc
#define PCI_MAX_BUSES          256

typedef struct PciHost {
    uint32_t config_addr;        /* the last dword written to 0xCF8 */
    PciBus root;                 /* bus 0; the others hang off bridges (pci.h) */
    uint64_t ecam_base, ecam_size;
    /*
     * Optional: byte and word accesses to 0xCF8..0xCFB, which are other
     * registers on real chipsets (q35: ICH9's reset control at 0xCF9).
     * offset is from 0xCF8. Without it they read all ones and are dropped.
     */
    const IoRegionOps *legacy_ops;
    void *legacy_opaque;
} PciHost;

void pci_host_init(PciHost *h);
void pci_host_cleanup(PciHost *h);
/* Bus `number` as the guest has numbered the bridges now; 0 is the root. NULL: none. */
PciBus *pci_host_bus(const PciHost *h, uint8_t number);
/* Plugs d at bus:devfn; false if the slot is taken or the bus does not exist. */
bool pci_host_plug(PciHost *h, uint8_t bus, uint8_t devfn, PciDevice *d);
void pci_host_unplug(PciHost *h, uint8_t bus, uint8_t devfn);
PciDevice *pci_host_find(const PciHost *h, uint8_t bus, uint8_t devfn);

/* Config accesses by routing id (both paths end here). len is 1, 2 or 4. */
uint32_t pci_host_config_read(PciHost *h, uint8_t bus, uint8_t devfn, uint16_t reg,
                              unsigned len);
void pci_host_config_write(PciHost *h, uint8_t bus, uint8_t devfn, uint16_t reg,
                           uint32_t val, unsigned len);

/*
 * Registers 0xCF8 (4 bytes) and 0xCFC (4 bytes) on pio and, if ecam_size,
 * the ECAM window at ecam_base on mmio.
 */
bool pci_host_map(PciHost *h, IoBus *pio, IoBus *mmio, uint64_t ecam_base,
                  uint64_t ecam_size, GError **err);
void pci_host_unmap(PciHost *h, IoBus *pio, IoBus *mmio);

#endif
