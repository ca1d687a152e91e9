/*
 * vfio-pci (docs/vfio.md): a host PCI function given to the guest through
 * VFIO, on q35's pcie.0 like the other -pci devices. The function's
 * configuration space is the host's except what the VMM must own:
 *
 *   emulated (pci.config, never written to the host)
 *     0x00-0x3f  the header: IDs and class as read at realize, BARs sized
 *                from the host regions and placed by the guest, the ROM BAR
 *                reading 0 (no option ROM is offered), interrupt line, pin
 *                (INTA when the function has INTx: the slot's GSI is what
 *                the guest's _PRT says), the multifunction bit from the
 *                property
 *     MSI-X      the whole capability; the table and PBA in their BAR too
 *     MSI        the whole capability (vfio-pci-irq.c turns it into vectors)
 *   passed through (read from and written to the host's config region)
 *     command    also kept in the image, whose memory / I/O enable bits
 *                decide what the BARs decode
 *     status     (the host's W1C error bits)
 *     the rest   other capabilities, the device-specific area, the PCIe
 *                extended space; VFIO in the host kernel filters what the
 *                guest may really change there
 *
 * BAR accesses are trapped (the IoBus) and go to the host region through
 * its mmap when it has one, else pread/pwrite, except the MSI-X table and
 * PBA which are the VMM's.
 */
#include <inttypes.h>
#include <string.h>

#include "hw/vfio/vfio-pci-internal.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define PCI_ROM_ADDRESS      0x30
#define PCI_HEADER_MULTIFN   0x80
#define CAP_WALK_MAX         48

/* ---- configuration space ---- */

static bool all_emulated(VfioPci *v, uint32_t addr, unsigned len)
{
    for (unsigned i = 0; i < len; i++) {
        if (v->emu[addr + i] != 0xff) {
            return false;
        }
    }
    return true;
}

/* The host's bytes where the VMM does not emulate them, the image's where it does. */
static bool config_read(PciDevice *d, uint32_t addr, unsigned len, uint32_t *val)
{
    VfioPci *v = d->opaque;
    uint8_t host[4] = { 0 };

    if (all_emulated(v, addr, len)) {
        return false;
    }
    if (v->be->ops->read(v->be, VFIO_REGION_CONFIG, addr, host, len) != (ssize_t)len) {
        memset(host, 0xff, sizeof(host));      /* a host that vanished reads as absent */
    }
    *val = 0;
    for (unsigned i = 0; i < len; i++) {
        uint8_t e = v->emu[addr + i];
        *val |= (uint32_t)((host[i] & ~e) | (d->config[addr + i] & e)) << (8 * i);
    }
    return true;
}

/*
 * After pci_config_write stored the emulated bits: the guest's value of
 * every passed-through bit goes to the host, the host's own value of the
 * emulated bits of the same bytes with it.
 */
static void config_written(PciDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    VfioPci *v = d->opaque;
    uint8_t host[4] = { 0 };

    if (!all_emulated(v, addr, len) &&
        v->be->ops->read(v->be, VFIO_REGION_CONFIG, addr, host, len) == (ssize_t)len) {
        for (unsigned i = 0; i < len; i++) {
            uint8_t e = v->emu[addr + i];
            host[i] = (uint8_t)((host[i] & e) | ((val >> (8 * i)) & ~e));
        }
        if (v->be->ops->write(v->be, VFIO_REGION_CONFIG, addr, host, len) != (ssize_t)len) {
            log_debug("vfio-pci %s: config write at 0x%x refused by the host",
                      device_name(&v->parent), addr);
        }
    }
    vfio_irq_config_written(v, addr, len);
}

static void emulate(VfioPci *v, uint32_t off, uint32_t len)
{
    memset(v->emu + off, 0xff, len);
}

/* MSI's length from its control word: 64-bit address, per-vector masking. */
static uint32_t msi_cap_len(uint16_t ctrl)
{
    return 10 + (ctrl & MSI_CTRL_64BIT ? 4 : 0) + (ctrl & MSI_CTRL_PVM ? 10 : 0);
}

static void setup_msi(VfioPci *v, uint8_t c)
{
    PciDevice *d = &v->pci;
    uint16_t ctrl = pci_get_word(d, c + 2);
    uint32_t data = c + (ctrl & MSI_CTRL_64BIT ? 12 : 8);

    v->msi_cap = c;
    emulate(v, c, msi_cap_len(ctrl));
    pci_set_word(d, c + 2, ctrl & ~(MSI_CTRL_ENABLE | 0x70));
    pci_set_wmask(d, c + 2, MSI_CTRL_ENABLE | 0x70, 2);      /* enable, multiple message */
    pci_set_wmask(d, c + 4, 0xfffffffc, 4);
    if (ctrl & MSI_CTRL_64BIT) {
        pci_set_wmask(d, c + 8, 0xffffffff, 4);
    }
    pci_set_wmask(d, data, 0xffff, 2);
    if (ctrl & MSI_CTRL_PVM) {
        pci_set_wmask(d, data + 4, 0xffffffff, 4);          /* mask bits; pending is ours */
    }
}

static bool setup_msix(VfioPci *v, uint8_t c, GError **err)
{
    PciDevice *d = &v->pci;
    VfioMsix *x = &v->msix;
    uint32_t table = pci_get_long(d, c + 4), pba = pci_get_long(d, c + 8);

    x->cap = c;
    x->nvec = (pci_get_word(d, c + 2) & 0x7ff) + 1u;
    x->table_bar = (int)(table & 7);
    x->table_off = table & ~7u;
    x->pba_bar = (int)(pba & 7);
    x->pba_off = pba & ~7u;
    if (x->table_bar >= PCI_NUM_BARS || x->pba_bar >= PCI_NUM_BARS ||
        !v->pci.bars[x->table_bar].size || !v->pci.bars[x->pba_bar].size ||
        x->table_off + x->nvec * 16ULL > v->pci.bars[x->table_bar].size ||
        x->pba_off + (x->nvec + 63) / 64 * 8ULL > v->pci.bars[x->pba_bar].size) {
        set_error(err, "vfio-pci: the MSI-X table or PBA of the host device is outside "
                  "its BARs");
        return false;
    }
    emulate(v, c, 12);
    pci_set_word(d, c + 2, pci_get_word(d, c + 2) & 0x7ff);
    pci_set_wmask(d, c + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL, 2);
    return true;
}

/*
 * The host's capability list, walked defensively (a hostile or broken
 * function may loop or point outside the space): MSI and MSI-X are taken
 * over, the rest stays the host's.
 */
static bool setup_caps(VfioPci *v, GError **err)
{
    PciDevice *d = &v->pci;
    unsigned hops = 0;

    if (!(pci_get_word(d, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
        return true;
    }
    for (uint8_t c = d->config[PCI_CAPABILITY_LIST] & 0xfc; c >= 0x40 && hops < CAP_WALK_MAX;
         c = d->config[c + 1] & 0xfc, hops++) {
        if (d->config[c] == PCI_CAP_ID_MSI && !v->msi_cap &&
            c + msi_cap_len(pci_get_word(d, c + 2)) <= PCI_CONFIG_SIZE) {
            setup_msi(v, c);
        } else if (d->config[c] == PCI_CAP_ID_MSIX && !v->msix.cap && c + 12 <= PCI_CONFIG_SIZE &&
                   !setup_msix(v, c, err)) {
            return false;
        }
    }
    return true;
}

static uint64_t pow2_at_least(uint64_t x, uint64_t min)
{
    uint64_t p = min;

    while (p < x && p < (1ULL << 63)) {
        p <<= 1;
    }
    return p;
}

/* BARs from the host's regions: the type from the host BAR, the size a power of two. */
static bool setup_bars(VfioPci *v, const uint8_t *raw, GError **err)
{
    for (int n = 0; n < PCI_NUM_BARS; n++) {
        uint32_t bar = (uint32_t)(raw[0x10 + 4 * n] | raw[0x11 + 4 * n] << 8);
        uint64_t size = v->be->regions[n].size;
        uint8_t flags;

        pci_set_long(&v->pci, PCI_BASE_ADDRESS_0 + 4 * n, 0);
        if (!size) {
            continue;
        }
        flags = bar & PCI_BAR_IO ? PCI_BAR_IO : (uint8_t)(bar & (PCI_BAR_MEM64 | PCI_BAR_PREFETCH));
        if ((flags & PCI_BAR_MEM64) && n == PCI_NUM_BARS - 1) {
            set_error(err, "vfio-pci: BAR5 of the host device claims 64 bits");
            return false;
        }
        if ((flags & PCI_BAR_IO) && size > 0x10000) {
            set_error(err, "vfio-pci: I/O BAR%d of the host device is %" PRIu64 " bytes", n,
                      size);
            return false;
        }
        v->bars[n] = (VfioBar){ .v = v, .n = n, .region_size = size };
        pci_register_bar(&v->pci, n, pow2_at_least(size, flags & PCI_BAR_IO ? 4 : 16), flags);
        if (flags & PCI_BAR_MEM64) {
            n++;
            pci_set_long(&v->pci, PCI_BASE_ADDRESS_0 + 4 * n, 0);
        }
    }
    return true;
}

/* The emulated header over the host's configuration space (see the top of the file). */
static bool build_config(VfioPci *v, GError **err)
{
    PciDevice *d = &v->pci;
    uint64_t size = v->be->regions[VFIO_REGION_CONFIG].size;
    uint32_t cfg_size = size >= PCIE_CONFIG_SIZE ? PCIE_CONFIG_SIZE : PCI_CONFIG_SIZE;
    g_autofree uint8_t *raw = g_malloc0(PCIE_CONFIG_SIZE);

    if (size < PCI_CONFIG_SIZE ||
        v->be->ops->read(v->be, VFIO_REGION_CONFIG, 0, raw, cfg_size) != (ssize_t)cfg_size) {
        set_error(err, "vfio-pci: cannot read the host device's configuration space");
        return false;
    }
    if ((raw[0x0e] & 0x7f) != 0) {
        set_error(err, "vfio-pci: the host device is a bridge (header type %u), not an "
                  "endpoint", raw[0x0e] & 0x7f);
        return false;
    }
    pci_device_init(d, (uint16_t)(raw[0] | raw[1] << 8), (uint16_t)(raw[2] | raw[3] << 8),
                    (uint32_t)(raw[9] | raw[10] << 8 | raw[11] << 16), raw[8],
                    cfg_size == PCIE_CONFIG_SIZE);
    memcpy(d->config + 0x40, raw + 0x40, cfg_size - 0x40);
    memcpy(d->config + PCI_SUBSYSTEM_VENDOR_ID, raw + PCI_SUBSYSTEM_VENDOR_ID, 4);
    d->config[PCI_CAPABILITY_LIST] = raw[PCI_CAPABILITY_LIST];
    pci_set_word(d, PCI_STATUS, (uint16_t)(raw[6] | raw[7] << 8));
    d->config[PCI_HEADER_TYPE] = v->multifunction ? PCI_HEADER_MULTIFN : 0;
    pci_set_interrupt_pin(d, raw[PCI_INTERRUPT_PIN] && v->be->irq_count[VFIO_IRQ_INTX] ? 1 : 0);
    emulate(v, 0, 0x40);
    memset(v->emu + PCI_COMMAND, 0, 4);          /* command and status: the host's */
    d->bar_map = NULL;
    d->opaque = v;
    return setup_bars(v, raw, err) && setup_caps(v, err);
}

/* ---- BARs ---- */

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    VfioBar *b = opaque;
    VfioPci *v = b->v;
    uint8_t *map = v->be->ops->mmap(v->be, (unsigned)b->n);
    uint64_t val = 0;

    vfio_irq_bar_access(v);
    if (vfio_msix_read(v, b->n, off, size, &val) || off + size > b->region_size) {
        return val;          /* past the host region, in the power-of-two padding: 0 */
    }
    if (map) {
        memcpy(&val, map + off, size);
    } else if (v->be->ops->read(v->be, (unsigned)b->n, off, &val, size) != (ssize_t)size) {
        val = 0;
    }
    return GUINT64_FROM_LE(val);
}

static void bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    VfioBar *b = opaque;
    VfioPci *v = b->v;
    uint8_t *map = v->be->ops->mmap(v->be, (unsigned)b->n);
    uint64_t le = GUINT64_TO_LE(val);

    vfio_irq_bar_access(v);
    if (vfio_msix_write(v, b->n, off, val, size) || off + size > b->region_size) {
        return;
    }
    if (map) {
        memcpy(map + off, &le, size);
    } else if (v->be->ops->write(v->be, (unsigned)b->n, off, &le, size) != (ssize_t)size) {
        log_debug("vfio-pci %s: BAR%d write at 0x%" PRIx64 " refused by the host",
                  device_name(&v->parent), b->n, off);
    }
}

static const IoRegionOps bar_ops = { .read = bar_read, .write = bar_write };

static IoBus *bar_bus(VfioPci *v, int n)
{
    Machine *m = v->parent.machine;

    return v->pci.bars[n].flags & PCI_BAR_IO ? &m->pio : &m->mmio;
}

static void bar_map(PciDevice *d, int n, uint64_t old, uint64_t addr)
{
    VfioPci *v = d->opaque;
    g_autofree char *name = g_strdup_printf("vfio-pci-bar%d (%s)", n, device_name(&v->parent));
    g_autoptr(GError) err = NULL;

    if (old != PCI_BAR_UNMAPPED) {
        iobus_remove(bar_bus(v, n), old);
    }
    if (addr != PCI_BAR_UNMAPPED &&
        !iobus_add(bar_bus(v, n), addr, d->bars[n].size, &bar_ops, &v->bars[n], name, &err)) {
        /* Placed over another region: it decodes nothing, as virtio-pci's BARs. */
        log_warn("%s: BAR%d at 0x%" PRIx64 " not mapped: %s", name, n, addr, err->message);
        d->bars[n].mapped = PCI_BAR_UNMAPPED;
    }
}

static void unmap_bars(VfioPci *v)
{
    for (int n = 0; n < PCI_NUM_BARS; n++) {
        if (v->pci.bars[n].size && v->pci.bars[n].mapped != PCI_BAR_UNMAPPED) {
            iobus_remove(bar_bus(v, n), v->pci.bars[n].mapped);
            v->pci.bars[n].mapped = PCI_BAR_UNMAPPED;
        }
    }
}

/* ---- the device ---- */

static VfioBackend *open_backend(VfioPci *v, GError **err)
{
    Machine *m = v->parent.machine;
    g_autofree char *addr = NULL;
    unsigned given = !!v->host + !!v->sysfsdev + !!v->fake_dir;

    if (given != 1) {
        set_error(err, "vfio-pci: %s", given ? "host=, sysfsdev= and x-fake-dir= exclude "
                  "each other" : "host= or sysfsdev= is required");
        return NULL;
    }
    if (v->fake_dir) {
        return vfio_fake_open(m, v->fake_dir, err);
    }
    if (v->host && !(addr = vfio_parse_host_address(v->host))) {
        set_error(err, "vfio-pci: host=%s is not a PCI address (dddd:bb:ss.f)", v->host);
        return NULL;
    }
    return vfio_host_open(m, addr, v->sysfsdev, err);
}

static void vfio_pci_unrealize(Device *dev)
{
    VfioPci *v = (VfioPci *)dev;

    unmap_bars(v);
    if (v->be) {
        vfio_irq_cleanup(v);
    }
    irq_set_level(&v->intx, false);
    vfio_backend_free(v->be);
    v->be = NULL;
}

static bool vfio_pci_realize(Device *dev, GError **err)
{
    VfioPci *v = (VfioPci *)dev;

    v->irq_on = -1;
    v->intx_vec.fd = -1;
    v->be = open_backend(v, err);
    if (!v->be) {
        return false;
    }
    if (!build_config(v, err)) {
        vfio_backend_free(v->be);
        v->be = NULL;
        return false;
    }
    v->pci.bar_map = bar_map;
    v->pci.config_read = config_read;
    v->pci.config_written = config_written;
    return true;
}

/* The machine's GSI for INTA is known at plug: interrupts start then. */
static void vfio_pci_reset(Device *dev);

static void vfio_function_reset(PciDevice *d)
{
    vfio_pci_reset(&((VfioPci *)d->opaque)->parent);
}

static PciDevice *vfio_pci_function(Device *dev, const PciPlacement *at)
{
    VfioPci *v = (VfioPci *)dev;

    irq_line_init(&v->intx, dev->machine, at->intx_gsi);
    vfio_irq_init(v, NULL);
    v->pci.reset = vfio_function_reset;
    return &v->pci;
}

/* Power-on state: decoding off, BARs unassigned, MSI and MSI-X off; the host FLRs. */
static void vfio_pci_reset(Device *dev)
{
    VfioPci *v = (VfioPci *)dev;
    PciDevice *d = &v->pci;

    pci_config_write(d, PCI_COMMAND, 0, 2);
    for (int n = 0; n < PCI_NUM_BARS; n++) {
        if (d->bars[n].size) {
            pci_set_long(d, PCI_BASE_ADDRESS_0 + 4 * n, d->bars[n].flags);
            if (d->bars[n].flags & PCI_BAR_MEM64) {
                pci_set_long(d, PCI_BASE_ADDRESS_0 + 4 * ++n, 0);
            }
        }
    }
    if (v->msix.cap) {
        pci_set_word(d, v->msix.cap + 2, pci_get_word(d, v->msix.cap + 2) & 0x7ff);
    }
    if (v->msi_cap) {
        pci_set_word(d, v->msi_cap + 2,
                     pci_get_word(d, v->msi_cap + 2) & ~(MSI_CTRL_ENABLE | 0x70));
    }
    vfio_irq_reset(v);
    v->be->ops->reset(v->be);
}

static const Property vfio_pci_props[] = {
    DEFINE_PROP("host", PROP_STR, VfioPci, host, NULL,
                "host PCI address dddd:bb:ss.f of the function to pass through"),
    DEFINE_PROP("sysfsdev", PROP_STR, VfioPci, sysfsdev, NULL,
                "sysfs path of the host function (instead of host=)"),
    DEFINE_PROP("multifunction", PROP_BOOL, VfioPci, multifunction, "off",
                "on/off: the header's multi-function bit"),
    DEFINE_PROP("x-fake-dir", PROP_STR, VfioPci, fake_dir, NULL,
                "test only: a directory of files standing in for the host regions"),
    DEFINE_PROP_END,
};

/* The host function's state is in the hardware: there is no way to save it. */
static bool vfio_pci_pre_save(void *opaque, GError **err)
{
    (void)opaque;
    g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                "vfio-pci: a host device's state cannot be saved");
    return false;
}

static const VMStateDescription vmstate_vfio_pci = {
    .name = "vfio-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = vfio_pci_pre_save,
    .unmigratable = true,
    .fields = (const VMStateField[]) {
        VMSTATE_END_OF_LIST()
    },
};

const DeviceClass vfio_pci_device_class = {
    .name = "vfio-pci",
    .parent = "pci-device",
    .description = "VFIO-based PCI device assignment",
    .bus = DEVICE_BUS_PCI,
    .instance_size = sizeof(VfioPci),
    .props = vfio_pci_props,
    .user_creatable = true,
    .hotpluggable = true,
    .seccomp_needs = SECCOMP_NEED_VFIO,
    .realize = vfio_pci_realize,
    .unrealize = vfio_pci_unrealize,
    .reset = vfio_pci_reset,
    .pci_function = vfio_pci_function,
    .vmsd = &vmstate_vfio_pci,
};
