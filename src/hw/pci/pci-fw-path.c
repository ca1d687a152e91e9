/*
 * OpenFirmware-style names of PCI functions, as QEMU writes them into fw_cfg
 * "bootorder" (hw/bootorder.h) and SeaBIOS/OVMF match against their own
 * device paths: each function is "<name>@<slot>" (",<function>" when not 0),
 * the name from the class code, else "pci<vendor>,<device>". And the span
 * of the BARs a firmware placed, which q35's ACPI windows follow.
 */
#include "hw/pci/pci.h"

#include <glib.h>

/* Class (base << 8 | sub) to name; `any_sub` matches every subclass of the base. */
static const struct {
    uint16_t cls;
    bool any_sub;
    const char *name;
} fw_names[] = {
    { 0x0001, false, "display" },
    { 0x0100, false, "scsi" },        { 0x0101, false, "ide" },
    { 0x0102, false, "fdc" },         { 0x0103, false, "ipi" },
    { 0x0104, false, "raid" },
    { 0x0200, false, "ethernet" },    { 0x0201, false, "token-ring" },
    { 0x0202, false, "fddi" },        { 0x0203, false, "atm" },
    { 0x0300, true, "display" },
    { 0x0400, false, "video" },       { 0x0401, false, "sound" },
    { 0x0403, false, "sound" },
    { 0x0500, false, "memory" },      { 0x0501, false, "flash" },
    { 0x0600, false, "host" },        { 0x0601, false, "isa" },
    { 0x0602, false, "eisa" },        { 0x0603, false, "mca" },
    { 0x0604, false, "pci-bridge" },  { 0x0605, false, "pcmcia" },
    { 0x0606, false, "nubus" },       { 0x0607, false, "cardbus" },
    { 0x0700, false, "serial" },      { 0x0701, false, "parallel" },
    { 0x0800, false, "interrupt-controller" },
    { 0x0801, false, "dma-controller" },
    { 0x0802, false, "timer" },       { 0x0803, false, "rtc" },
    { 0x0900, false, "keyboard" },    { 0x0901, false, "pen" },
    { 0x0902, false, "mouse" },
    { 0x0a00, true, "dock" },         { 0x0b00, true, "cpu" },
    { 0x0c00, false, "firewire" },    { 0x0c01, false, "access-bus" },
    { 0x0c02, false, "ssa" },         { 0x0c03, false, "usb" },
    { 0x0c04, false, "fibre-channel" },
};

static char *fw_name(const PciDevice *d)
{
    uint16_t cls = pci_get_word(d, PCI_CLASS_DEVICE);

    for (size_t i = 0; i < G_N_ELEMENTS(fw_names); i++) {
        uint16_t mask = fw_names[i].any_sub ? 0xff00 : 0xffff;
        if ((cls & mask) == fw_names[i].cls) {
            return g_strdup(fw_names[i].name);
        }
    }
    return g_strdup_printf("pci%04x,%04x", pci_get_word(d, PCI_VENDOR_ID),
                           pci_get_word(d, PCI_DEVICE_ID));
}

char *pci_fw_path(const PciDevice *d)
{
    g_autofree char *name = NULL, *above = NULL;
    unsigned devfn = 0;

    if (!d->bus) {
        return NULL;
    }
    while (devfn < 256 && d->bus->fn[devfn] != d) {
        devfn++;
    }
    if (devfn == 256 || (d->bus->bridge && !(above = pci_fw_path(d->bus->bridge)))) {
        return NULL;
    }
    name = fw_name(d);
    if (devfn & 7) {
        return g_strdup_printf("%s/%s@%x,%x", above ? above : "", name, devfn >> 3, devfn & 7);
    }
    return g_strdup_printf("%s/%s@%x", above ? above : "", name, devfn >> 3);
}

/* The span of placed memory BARs below b (its bridges' buses too), for the ACPI windows. */
static void mem_span(const PciBus *b, bool is64, uint64_t *lo, uint64_t *hi, unsigned depth)
{
    for (unsigned fn = 0; fn < 256 && depth < 8; fn++) {
        const PciDevice *d = b->fn[fn];
        if (!d) {
            continue;
        }
        for (int n = 0; n < PCI_NUM_BARS; n++) {
            const PciBar *bar = &d->bars[n];
            uint32_t off = PCI_BASE_ADDRESS_0 + 4 * n;
            uint64_t at;
            if (!bar->size || (bar->flags & PCI_BAR_IO) ||
                !!(bar->flags & PCI_BAR_MEM64) != is64) {
                continue;
            }
            /* Where the firmware put it, decoding or not (the OS turns decoding on later). */
            at = pci_get_long(d, off) & ~0xfULL;
            if (is64) {
                at |= (uint64_t)pci_get_long(d, off + 4) << 32;
            }
            if (at) {
                *lo = MIN(*lo, at);
                *hi = MAX(*hi, at + bar->size - 1);
            }
        }
        if (d->secondary) {
            mem_span(d->secondary, is64, lo, hi, depth + 1);
        }
    }
}

bool pci_bus_mem_span(const PciBus *b, bool is64, uint64_t *lo, uint64_t *hi)
{
    *lo = UINT64_MAX;
    *hi = 0;
    mem_span(b, is64, lo, hi, 0);
    return *lo <= *hi;
}
