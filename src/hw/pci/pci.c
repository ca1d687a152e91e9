/*
 * PCI configuration space (pci.h). The masks make every register's rules
 * data: the write path is the same for the header, BARs and capabilities,
 * and only BAR decoding needs code of its own.
 */
#include <string.h>

#include "hw/pci/pci.h"
#include "migration/vmstate.h"

#define CAP_START 0x40
#define ALIGN4(x) (((x) + 3u) & ~3u)

uint16_t pci_get_word(const PciDevice *d, uint32_t off)
{
    return (uint16_t)(d->config[off] | d->config[off + 1] << 8);
}

uint32_t pci_get_long(const PciDevice *d, uint32_t off)
{
    return (uint32_t)pci_get_word(d, off) | (uint32_t)pci_get_word(d, off + 2) << 16;
}

void pci_set_word(PciDevice *d, uint32_t off, uint16_t v)
{
    d->config[off] = (uint8_t)v;
    d->config[off + 1] = (uint8_t)(v >> 8);
}

void pci_set_long(PciDevice *d, uint32_t off, uint32_t v)
{
    pci_set_word(d, off, (uint16_t)v);
    pci_set_word(d, off + 2, (uint16_t)(v >> 16));
}

static void set_mask(uint8_t *m, uint32_t off, uint32_t mask, unsigned len)
{
    for (unsigned i = 0; i < len; i++) {
        m[off + i] = (uint8_t)(mask >> (8 * i));
    }
}

void pci_set_wmask(PciDevice *d, uint32_t off, uint32_t mask, unsigned len)
{
    set_mask(d->wmask, off, mask, len);
}

void pci_set_w1cmask(PciDevice *d, uint32_t off, uint32_t mask, unsigned len)
{
    set_mask(d->w1cmask, off, mask, len);
}

void pci_device_init(PciDevice *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint8_t revision, bool pcie)
{
    memset(d, 0, sizeof(*d));
    d->config_size = pcie ? PCIE_CONFIG_SIZE : PCI_CONFIG_SIZE;
    d->cap_next = CAP_START;
    d->ext_cap_next = PCI_EXT_CAP_START;
    pci_set_word(d, PCI_VENDOR_ID, vendor);
    pci_set_word(d, PCI_DEVICE_ID, device);
    d->config[PCI_REVISION_ID] = revision;
    d->config[PCI_CLASS_PROG] = (uint8_t)class_code;
    pci_set_word(d, PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
    pci_set_wmask(d, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                  PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE, 2);
    pci_set_w1cmask(d, PCI_STATUS, PCI_STATUS_W1C, 2);
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
    for (int n = 0; n < PCI_NUM_BARS; n++) {
        d->bars[n].mapped = PCI_BAR_UNMAPPED;
    }
}

void pci_set_subsystem(PciDevice *d, uint16_t vendor, uint16_t id)
{
    pci_set_word(d, PCI_SUBSYSTEM_VENDOR_ID, vendor);
    pci_set_word(d, PCI_SUBSYSTEM_ID, id);
}

void pci_set_interrupt_pin(PciDevice *d, uint8_t pin)
{
    d->config[PCI_INTERRUPT_PIN] = pin;
}

void pci_register_bar(PciDevice *d, int n, uint64_t size, uint8_t flags)
{
    uint32_t off = PCI_BASE_ADDRESS_0 + 4 * n;
    uint64_t addr_mask = ~(size - 1);

    d->bars[n].size = size;
    d->bars[n].flags = flags;
    pci_set_long(d, off, flags);
    if (flags & PCI_BAR_IO) {
        pci_set_wmask(d, off, (uint32_t)addr_mask & ~3u, 4);
        return;
    }
    pci_set_wmask(d, off, (uint32_t)addr_mask & ~15u, 4);
    if (flags & PCI_BAR_MEM64) {
        pci_set_long(d, off + 4, 0);
        pci_set_wmask(d, off + 4, (uint32_t)(addr_mask >> 32), 4);
    }
}

uint8_t pci_add_capability(PciDevice *d, uint8_t id, uint8_t len)
{
    uint8_t off = d->cap_next, last;

    if (len < 2 || off + len > PCI_CONFIG_SIZE) {
        return 0;
    }
    d->config[off] = id;
    d->config[off + 1] = 0;
    if (!d->config[PCI_CAPABILITY_LIST]) {
        d->config[PCI_CAPABILITY_LIST] = off;
        pci_set_word(d, PCI_STATUS, pci_get_word(d, PCI_STATUS) | PCI_STATUS_CAP_LIST);
    } else {
        for (last = d->config[PCI_CAPABILITY_LIST]; d->config[last + 1];
             last = d->config[last + 1]) {
        }
        d->config[last + 1] = off;
    }
    d->cap_next = (uint8_t)ALIGN4(off + len);
    return off;
}

uint16_t pci_add_ext_capability(PciDevice *d, uint16_t id, uint8_t version, uint16_t len)
{
    uint16_t off = d->ext_cap_next;

    if (d->config_size != PCIE_CONFIG_SIZE || len < 4 || off + len > PCIE_CONFIG_SIZE) {
        return 0;
    }
    pci_set_long(d, off, id | (uint32_t)(version & 0xf) << 16);
    if (d->ext_cap_last) {
        uint32_t h = pci_get_long(d, d->ext_cap_last);
        pci_set_long(d, d->ext_cap_last, (h & 0xfffff) | (uint32_t)off << 20);
    }
    d->ext_cap_last = off;
    d->ext_cap_next = (uint16_t)ALIGN4(off + len);
    return off;
}

static bool in_window(uint64_t addr, uint64_t size, uint64_t base, uint64_t limit)
{
    return base <= limit && addr >= base && addr + size - 1 <= limit;
}

/*
 * Whether bridge br forwards [addr, addr + size) to its secondary side: the
 * I/O window (16-bit decode) for I/O, the memory or the prefetchable
 * window for memory, each only with the matching command enable.
 */
static bool bridge_forwards(const PciDevice *br, uint64_t addr, uint64_t size, bool io)
{
    uint16_t cmd = pci_get_word(br, PCI_COMMAND);
    uint64_t base, limit;

    if (io) {
        base = (uint64_t)(br->config[PCI_IO_BASE] & 0xf0) << 8;
        limit = (uint64_t)(br->config[PCI_IO_LIMIT] & 0xf0) << 8 | 0xfff;
        return (cmd & PCI_COMMAND_IO) && in_window(addr, size, base, limit);
    }
    if (!(cmd & PCI_COMMAND_MEMORY)) {
        return false;
    }
    base = (uint64_t)(pci_get_word(br, PCI_MEMORY_BASE) & 0xfff0) << 16;
    limit = (uint64_t)(pci_get_word(br, PCI_MEMORY_LIMIT) & 0xfff0) << 16 | 0xfffff;
    if (in_window(addr, size, base, limit)) {
        return true;
    }
    base = (uint64_t)(pci_get_word(br, PCI_PREF_MEMORY_BASE) & 0xfff0) << 16 |
           (uint64_t)pci_get_long(br, PCI_PREF_BASE_UPPER32) << 32;
    limit = ((uint64_t)(pci_get_word(br, PCI_PREF_MEMORY_LIMIT) & 0xfff0) << 16 | 0xfffff) |
            (uint64_t)pci_get_long(br, PCI_PREF_LIMIT_UPPER32) << 32;
    return in_window(addr, size, base, limit);
}

static bool ancestors_forward(const PciDevice *d, uint64_t addr, uint64_t size, bool io)
{
    for (const PciBus *b = d->bus; b && b->bridge; b = b->bridge->bus) {
        if (!bridge_forwards(b->bridge, addr, size, io)) {
            return false;
        }
    }
    return true;
}

/* What BAR n decodes under the current command register, or PCI_BAR_UNMAPPED. */
static uint64_t bar_decode(const PciDevice *d, int n)
{
    const PciBar *b = &d->bars[n];
    uint16_t cmd = pci_get_word(d, PCI_COMMAND);
    uint32_t off = PCI_BASE_ADDRESS_0 + 4 * n;
    uint64_t addr, limit;

    if (b->flags & PCI_BAR_IO) {
        if (!(cmd & PCI_COMMAND_IO)) {
            return PCI_BAR_UNMAPPED;
        }
        addr = pci_get_long(d, off) & ~3u;
        limit = 0x10000;
    } else {
        if (!(cmd & PCI_COMMAND_MEMORY)) {
            return PCI_BAR_UNMAPPED;
        }
        addr = pci_get_long(d, off) & ~15u;
        limit = 1ULL << 32;
        if (b->flags & PCI_BAR_MEM64) {
            addr |= (uint64_t)pci_get_long(d, off + 4) << 32;
            limit = 0;                   /* the whole 64-bit space */
        }
    }
    /*
     * An address of 0, or one whose region would wrap or reach the space's
     * last byte (as while the guest sizes the BAR with all ones), decodes
     * nothing.
     */
    if (addr == 0 || addr + b->size <= addr || (limit && addr + b->size >= limit) ||
        !ancestors_forward(d, addr, b->size, b->flags & PCI_BAR_IO)) {
        return PCI_BAR_UNMAPPED;
    }
    return addr;
}

static void update_bars(PciDevice *d);

/* A bridge's windows or enables changed: everything below decodes anew. */
static void update_secondary(PciDevice *br)
{
    for (unsigned devfn = 0; devfn < 256; devfn++) {
        PciDevice *f = br->secondary->fn[devfn];
        if (f) {
            update_bars(f);
        }
    }
}

static void update_bars(PciDevice *d)
{
    for (int n = 0; n < PCI_NUM_BARS; n++) {
        PciBar *b = &d->bars[n];
        uint64_t now, old;

        if (!b->size) {
            continue;
        }
        now = bar_decode(d, n);
        if (now == b->mapped) {
            continue;
        }
        old = b->mapped;
        b->mapped = now;
        if (d->bar_map) {
            d->bar_map(d, n, old, now);
        }
    }
    if (d->secondary) {
        update_secondary(d);
    }
}

/*
 * Secondary bus reset (bridge control bit 6 set): every function below the
 * bridge, and below bridges under it, goes back to its power-on state as a
 * system reset would put it (Linux's pci_reset_secondary_bus relies on it).
 */
static void reset_secondary(PciDevice *br)
{
    for (unsigned devfn = 0; devfn < 256; devfn++) {
        PciDevice *f = br->secondary->fn[devfn];
        if (!f) {
            continue;
        }
        if (f->secondary) {
            reset_secondary(f);
        }
        if (f->reset) {
            f->reset(f);
        }
    }
}

static bool access_ok(const PciDevice *d, uint32_t addr, unsigned len)
{
    return (len == 1 || len == 2 || len == 4) && !(addr & (len - 1)) &&
           addr + len <= d->config_size;
}

uint32_t pci_config_read(PciDevice *d, uint32_t addr, unsigned len)
{
    uint32_t v = 0;

    if (!access_ok(d, addr, len)) {
        return 0;
    }
    if (d->config_read && d->config_read(d, addr, len, &v)) {
        return v;
    }
    for (unsigned i = 0; i < len; i++) {
        v |= (uint32_t)d->config[addr + i] << (8 * i);
    }
    return v;
}

static bool touches(uint32_t addr, unsigned len, uint32_t lo, uint32_t hi)
{
    return addr < hi && addr + len > lo;
}

void pci_config_write(PciDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    uint8_t bctl = d->config[PCI_BRIDGE_CONTROL];

    if (!access_ok(d, addr, len)) {
        return;
    }
    for (unsigned i = 0; i < len; i++) {
        uint32_t off = addr + i;
        uint8_t b = (uint8_t)(val >> (8 * i)), wm = d->wmask[off];

        d->config[off] = (uint8_t)((d->config[off] & ~wm) | (b & wm));
        d->config[off] &= (uint8_t)~(b & d->w1cmask[off]);
    }
    if (touches(addr, len, PCI_COMMAND, PCI_COMMAND + 2) ||
        touches(addr, len, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_0 + 4 * PCI_NUM_BARS) ||
        (d->secondary && touches(addr, len, PCI_IO_BASE, PCI_IO_BASE_UPPER16 + 4))) {
        update_bars(d);
    }
    if (d->secondary && (d->config[PCI_BRIDGE_CONTROL] & ~bctl & PCI_BRIDGE_CTL_BUS_RESET)) {
        reset_secondary(d);
    }
    if (d->config_written) {
        d->config_written(d, addr, val, len);
    }
}

void pci_bridge_init(PciDevice *d, PciBus *secondary, uint16_t vendor, uint16_t device,
                     bool pcie)
{
    pci_device_init(d, vendor, device, 0x060400, 0, pcie);
    d->config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_BRIDGE;
    d->secondary = secondary;
    secondary->bridge = d;
    pci_set_wmask(d, PCI_PRIMARY_BUS, 0xffffff, 3);
    d->wmask[PCI_IO_BASE] = 0xf0;
    d->wmask[PCI_IO_LIMIT] = 0xf0;
    pci_set_w1cmask(d, PCI_SEC_STATUS, PCI_STATUS_W1C, 2);
    pci_set_wmask(d, PCI_MEMORY_BASE, 0xfff0fff0, 4);
    pci_set_wmask(d, PCI_PREF_MEMORY_BASE, 0xfff0fff0, 4);
    d->config[PCI_PREF_MEMORY_BASE] = PCI_PREF_RANGE_64;
    d->config[PCI_PREF_MEMORY_LIMIT] = PCI_PREF_RANGE_64;
    pci_set_wmask(d, PCI_PREF_BASE_UPPER32, 0xffffffff, 4);
    pci_set_wmask(d, PCI_PREF_LIMIT_UPPER32, 0xffffffff, 4);
    /* Parity and SERR response, ISA, VGA, VGA 16-bit, master abort, secondary reset. */
    pci_set_wmask(d, PCI_BRIDGE_CONTROL, 0x007f, 2);
}

bool pci_bus_plug(PciBus *b, uint8_t devfn, PciDevice *d)
{
    if (b->fn[devfn]) {
        return false;
    }
    b->fn[devfn] = d;
    d->bus = b;
    update_bars(d);
    return true;
}

void pci_bus_unplug(PciBus *b, uint8_t devfn)
{
    if (b->fn[devfn]) {
        b->fn[devfn]->bus = NULL;
        b->fn[devfn] = NULL;
    }
}

uint8_t pci_bus_number(const PciBus *b)
{
    return b->bridge ? b->bridge->config[PCI_SECONDARY_BUS] : 0;
}

PciBus *pci_bus_find(PciBus *b, uint8_t number, unsigned depth)
{
    for (unsigned devfn = 0; depth < 256 && devfn < 256; devfn++) {
        PciDevice *f = b->fn[devfn];
        uint8_t sec, sub;
        PciBus *r;

        if (!f || !f->secondary) {
            continue;
        }
        sec = f->config[PCI_SECONDARY_BUS];
        sub = f->config[PCI_SUBORDINATE_BUS];
        if (sec && sec == number) {
            return f->secondary;
        }
        if (sec && sec < number && number <= sub &&
            (r = pci_bus_find(f->secondary, number, depth + 1))) {
            return r;
        }
    }
    return NULL;
}

bool pci_cf8_decode(uint32_t cf8, unsigned cfc_offset, uint8_t *bus, uint8_t *devfn,
                    uint16_t *reg)
{
    if (!(cf8 & 0x80000000u)) {
        return false;
    }
    *bus = (uint8_t)(cf8 >> 16);
    *devfn = (uint8_t)(cf8 >> 8);
    *reg = (uint16_t)((cf8 & 0xfc) | (cfc_offset & 3));
    return true;
}

void pci_ecam_decode(uint64_t offset, uint8_t *bus, uint8_t *devfn, uint16_t *reg)
{
    *bus = (uint8_t)(offset >> 20);
    *devfn = (uint8_t)(offset >> 12);
    *reg = (uint16_t)(offset & 0xfff);
}

static bool pci_post_load(void *opaque, uint32_t version, GError **err)
{
    (void)version;
    (void)err;
    update_bars(opaque);
    return true;
}

const VMStateDescription vmstate_pci_device = {
    .name = "pci-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = pci_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_BUFFER(config, PciDevice),
        VMSTATE_END_OF_LIST()
    },
};
