/*
 * Configuration mechanisms of the PCIe host bridge (pci-host.h).
 */
#include <string.h>

#include "hw/pci/pci-host.h"

void pci_host_init(PciHost *h)
{
    memset(h, 0, sizeof(*h));
}

void pci_host_cleanup(PciHost *h)
{
    memset(&h->root, 0, sizeof(h->root));
}

PciBus *pci_host_bus(const PciHost *h, uint8_t number)
{
    PciBus *root = (PciBus *)&h->root;

    return number ? pci_bus_find(root, number, 0) : root;
}

bool pci_host_plug(PciHost *h, uint8_t bus, uint8_t devfn, PciDevice *d)
{
    PciBus *b = pci_host_bus(h, bus);

    return b && pci_bus_plug(b, devfn, d);
}

void pci_host_unplug(PciHost *h, uint8_t bus, uint8_t devfn)
{
    PciBus *b = pci_host_bus(h, bus);

    if (b) {
        pci_bus_unplug(b, devfn);
    }
}

PciDevice *pci_host_find(const PciHost *h, uint8_t bus, uint8_t devfn)
{
    PciBus *b = pci_host_bus(h, bus);

    return b ? b->fn[devfn] : NULL;
}

uint32_t pci_host_config_read(PciHost *h, uint8_t bus, uint8_t devfn, uint16_t reg,
                              unsigned len)
{
    PciDevice *d = pci_host_find(h, bus, devfn);

    if (!d) {
        return len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;   /* master abort */
    }
    return pci_config_read(d, reg, len);
}

void pci_host_config_write(PciHost *h, uint8_t bus, uint8_t devfn, uint16_t reg,
                           uint32_t val, unsigned len)
{
    PciDevice *d = pci_host_find(h, bus, devfn);

    if (d) {
        pci_config_write(d, reg, val, len);
    }
}

/*
 * 0xCF8 latches only whole-dword writes: byte and word accesses there are
 * other (legacy) registers on real chipsets, the board's legacy_ops if any.
 */
static uint64_t addr_read(void *opaque, uint64_t offset, unsigned size)
{
    PciHost *h = opaque;

    if (offset == 0 && size == 4) {
        return h->config_addr;
    }
    return h->legacy_ops ? h->legacy_ops->read(h->legacy_opaque, offset, size) : ~0ULL;
}

static void addr_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    PciHost *h = opaque;

    if (offset == 0 && size == 4) {
        h->config_addr = (uint32_t)value;
    } else if (h->legacy_ops) {
        h->legacy_ops->write(h->legacy_opaque, offset, value, size);
    }
}

static uint64_t data_read(void *opaque, uint64_t offset, unsigned size)
{
    PciHost *h = opaque;
    uint8_t bus, devfn;
    uint16_t reg;

    if (size > 4 || !pci_cf8_decode(h->config_addr, (unsigned)offset, &bus, &devfn, &reg)) {
        return ~0ULL;
    }
    return pci_host_config_read(h, bus, devfn, reg, size);
}

static void data_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    PciHost *h = opaque;
    uint8_t bus, devfn;
    uint16_t reg;

    if (size <= 4 && pci_cf8_decode(h->config_addr, (unsigned)offset, &bus, &devfn, &reg)) {
        pci_host_config_write(h, bus, devfn, reg, (uint32_t)value, size);
    }
}

static uint64_t ecam_read(void *opaque, uint64_t offset, unsigned size)
{
    uint8_t bus, devfn;
    uint16_t reg;

    if (size > 4) {
        return ~0ULL;
    }
    pci_ecam_decode(offset, &bus, &devfn, &reg);
    return pci_host_config_read(opaque, bus, devfn, reg, size);
}

static void ecam_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    uint8_t bus, devfn;
    uint16_t reg;

    if (size <= 4) {
        pci_ecam_decode(offset, &bus, &devfn, &reg);
        pci_host_config_write(opaque, bus, devfn, reg, (uint32_t)value, size);
    }
}

static const IoRegionOps addr_ops = { .read = addr_read, .write = addr_write };
static const IoRegionOps data_ops = { .read = data_read, .write = data_write };
static const IoRegionOps ecam_ops = { .read = ecam_read, .write = ecam_write };

bool pci_host_map(PciHost *h, IoBus *pio, IoBus *mmio, uint64_t ecam_base,
                  uint64_t ecam_size, GError **err)
{
    if (!iobus_add(pio, PCI_HOST_CONFIG_ADDR, 4, &addr_ops, h, "pci-conf-idx", err)) {
        return false;
    }
    if (!iobus_add(pio, PCI_HOST_CONFIG_DATA, 4, &data_ops, h, "pci-conf-data", err)) {
        iobus_remove(pio, PCI_HOST_CONFIG_ADDR);
        return false;
    }
    if (ecam_size && !iobus_add(mmio, ecam_base, ecam_size, &ecam_ops, h, "pcie-mmcfg", err)) {
        iobus_remove(pio, PCI_HOST_CONFIG_ADDR);
        iobus_remove(pio, PCI_HOST_CONFIG_DATA);
        return false;
    }
    h->ecam_base = ecam_base;
    h->ecam_size = ecam_size;
    return true;
}

void pci_host_unmap(PciHost *h, IoBus *pio, IoBus *mmio)
{
    iobus_remove(pio, PCI_HOST_CONFIG_ADDR);
    iobus_remove(pio, PCI_HOST_CONFIG_DATA);
    if (h->ecam_size) {
        iobus_remove(mmio, h->ecam_base);
        h->ecam_size = 0;
    }
}
