/*
 * virtio-pci transport (virtio-pci.h). Interrupts follow the function's
 * state: with MSI-X enabled each queue and the configuration have their
 * own vector (masked vectors latch their PBA bit and fire on unmask);
 * without it INTA stays asserted while the ISR has a bit set, and reading
 * the ISR clears both, as virtio 1.2 §4.1.4.5 describes.
 */
#include <inttypes.h>
#include <string.h>

#include "hw/virtio/virtio-pci.h"
#include "hw/virtio/virtio-pci-irqfd.h"
#include "hw/virtio/virtio-pci-kick.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define MSIX_CTRL_ENABLE   0x8000
#define MSIX_CTRL_MASKALL  0x4000
#define MSIX_ENTRY_MASKED  0x1
#define PCI_EXP_TYPE_RC_END 0x9

/* virtio_pci_cap.cfg_type (virtio 1.2 §4.1.4) */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI_CFG = 5 };

typedef struct MsixEntry {
    uint32_t addr_lo, addr_hi, data, ctrl;
} MsixEntry;

struct VirtioPci {
    PciDevice pci;
    Machine *m;
    VirtioDevice *vdev;
    IrqLine intx;               /* INTA; intx.level is this function's own */
    uint32_t dfsel, gfsel;
    uint16_t queue_sel;
    uint16_t config_vector;
    uint16_t queue_vector[VIRTIO_PCI_MAX_VECTORS];
    unsigned nvectors;
    uint32_t msix_table[VIRTIO_PCI_MAX_VECTORS * 4];   /* MsixEntry rows, as words */
    uint8_t pba[VIRTIO_PCI_MAX_VECTORS / 8];
    uint8_t msix_cap, cfg_cap;
    VpciKicks *kicks;           /* notify ioeventfds (virtio-pci-kick.h) */
    VpciIrqfds *irqfds;         /* MSI-X through irqfds (virtio-pci-irqfd.h) */
};

static MsixEntry *entry(VirtioPci *t, unsigned v)
{
    return (MsixEntry *)&t->msix_table[v * 4];
}

static uint16_t msix_ctrl(const VirtioPci *t)
{
    return pci_get_word(&t->pci, t->msix_cap + 2);
}

static bool msix_enabled(const VirtioPci *t)
{
    return msix_ctrl(t) & MSIX_CTRL_ENABLE;
}

/* ---- interrupts ---- */

static void update_intx(VirtioPci *t)
{
    bool level = !msix_enabled(t) && t->vdev->isr &&
                 !(pci_get_word(&t->pci, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
    uint16_t st = pci_get_word(&t->pci, PCI_STATUS);

    pci_set_word(&t->pci, PCI_STATUS,
                 level ? st | PCI_STATUS_INTERRUPT : st & ~PCI_STATUS_INTERRUPT);
    if (level != t->intx.level) {
        irq_set_level(&t->intx, level);
    }
}

static void msix_fire(VirtioPci *t, unsigned v)
{
    MsixEntry *e = entry(t, v);

    if ((msix_ctrl(t) & MSIX_CTRL_MASKALL) || (e->ctrl & MSIX_ENTRY_MASKED)) {
        t->pba[v / 8] |= (uint8_t)(1u << (v % 8));
        return;
    }
    t->pba[v / 8] &= (uint8_t)~(1u << (v % 8));
    if (!vpci_irqfds_send(t->irqfds, v, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data)) {
        machine_send_msi(t->m, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
    }
}

/* Pending vectors whose mask was just lifted fire now. */
static void msix_flush_pending(VirtioPci *t)
{
    for (unsigned v = 0; v < t->nvectors; v++) {
        if (t->pba[v / 8] & (1u << (v % 8))) {
            msix_fire(t, v);
        }
    }
}

static void raise_vector(VirtioPci *t, uint16_t v)
{
    if (!msix_enabled(t)) {
        update_intx(t);
    } else if (v < t->nvectors) {
        msix_fire(t, v);
    }
}

static void pci_notify(void *opaque, uint32_t cause)
{
    VirtioPci *t = opaque;

    if (cause & VIRTIO_INT_CONFIG) {
        raise_vector(t, t->config_vector);
    }
    if (cause & VIRTIO_INT_VRING) {
        /* Not tied to one queue (vhost's call): every queue's vector. */
        for (unsigned q = 0; q < t->vdev->nvqs && q < VIRTIO_PCI_MAX_VECTORS; q++) {
            raise_vector(t, t->queue_vector[q]);
        }
    }
}

static void pci_notify_queue(void *opaque, unsigned index)
{
    VirtioPci *t = opaque;

    raise_vector(t, index < VIRTIO_PCI_MAX_VECTORS ? t->queue_vector[index]
                                                   : VIRTIO_PCI_NO_VECTOR);
}

static uint32_t pci_queue_sel(void *opaque)
{
    return ((VirtioPci *)opaque)->queue_sel;
}

/* Where BAR4's notify area decodes now, for the ioeventfds. */
static uint64_t notify_base(const VirtioPci *t)
{
    uint64_t bar = t->pci.bars[VIRTIO_PCI_MODERN_BAR].mapped;

    return bar == PCI_BAR_UNMAPPED ? VPCI_KICKS_NO_BASE : bar + VIRTIO_PCI_NOTIFY_OFF;
}

/* Queue enables, BAR4 or the device state changed: move the ioeventfds along. */
static void sync_kicks(VirtioPci *t)
{
    vpci_kicks_sync(t->kicks, notify_base(t));
}

/*
 * The device's state was loaded (after the transport's): queues may be
 * enabled now, and its ISR decides INTA, which the transport's own load
 * could not see yet.
 */
static void pci_loaded(void *opaque)
{
    update_intx(opaque);
    sync_kicks(opaque);
}

static const VirtioTransportOps pci_transport_ops = {
    .notify = pci_notify,
    .loaded = pci_loaded,
    .notify_queue = pci_notify_queue,
    .queue_sel = pci_queue_sel,
};

/* ---- BAR1: MSI-X table and PBA ---- */

static uint64_t msix_read(void *opaque, uint64_t off, unsigned size)
{
    VirtioPci *t = opaque;

    if (off >= VIRTIO_PCI_PBA_OFFSET) {
        off -= VIRTIO_PCI_PBA_OFFSET;
        uint64_t v = 0;
        for (unsigned i = 0; i < size && off + i < sizeof(t->pba); i++) {
            v |= (uint64_t)t->pba[off + i] << (8 * i);
        }
        return v;
    }
    if (size != 4 || (off & 3) || off / 16 >= t->nvectors) {
        return 0;
    }
    return t->msix_table[off / 4];
}

static void msix_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    VirtioPci *t = opaque;

    if (off >= VIRTIO_PCI_PBA_OFFSET || size != 4 || (off & 3) || off / 16 >= t->nvectors) {
        return;     /* the PBA is read-only; other widths are not in the spec */
    }
    t->msix_table[off / 4] = (uint32_t)val;
    if ((off & 15) == 12) {
        t->msix_table[off / 4] &= MSIX_ENTRY_MASKED;
    }
    if (!(entry(t, off / 16)->ctrl & MSIX_ENTRY_MASKED)) {
        /* A live entry's route follows its message before anything is sent. */
        MsixEntry *e = entry(t, off / 16);

        vpci_irqfds_entry_changed(t->irqfds, off / 16, (uint64_t)e->addr_hi << 32 | e->addr_lo,
                                  e->data);
    }
    if ((off & 15) == 12) {
        msix_flush_pending(t);
    }
}

static const IoRegionOps msix_ops = { .read = msix_read, .write = msix_write };

/* ---- BAR4: common configuration, ISR, device configuration, notify ---- */

static VirtQueue *sel_vq(VirtioPci *t)
{
    return t->queue_sel < t->vdev->nvqs ? &t->vdev->vqs[t->queue_sel] : NULL;
}

static void put_le(uint8_t *img, unsigned off, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        img[off + i] = (uint8_t)(v >> (8 * i));
    }
}

/* The common configuration structure (virtio 1.2 §4.1.4.3) as the driver would read it. */
static void common_image(VirtioPci *t, uint8_t img[0x40])
{
    VirtioDevice *vdev = t->vdev;
    VirtQueue *vq = sel_vq(t);

    memset(img, 0, 0x40);
    put_le(img, 0x00, t->dfsel, 4);
    put_le(img, 0x04, virtio_device_features(vdev, t->dfsel), 4);
    put_le(img, 0x08, t->gfsel, 4);
    put_le(img, 0x0c, t->gfsel <= 1 ? (uint32_t)(vdev->guest_features >> (32 * t->gfsel)) : 0, 4);
    put_le(img, 0x10, t->config_vector, 2);
    put_le(img, 0x12, vdev->nvqs, 2);
    img[0x14] = vdev->status;
    img[0x15] = (uint8_t)vdev->config_generation;
    put_le(img, 0x16, t->queue_sel, 2);
    put_le(img, 0x1a, vq && t->queue_sel < VIRTIO_PCI_MAX_VECTORS ?
                      t->queue_vector[t->queue_sel] : VIRTIO_PCI_NO_VECTOR, 2);
    put_le(img, 0x1e, t->queue_sel, 2);          /* queue_notify_off = the index */
    if (vq) {
        put_le(img, 0x18, vq->num ? vq->num : vq->num_max, 2);
        put_le(img, 0x1c, vq->ready, 2);
        put_le(img, 0x20, vq->desc, 8);
        put_le(img, 0x28, vq->avail, 8);
        put_le(img, 0x30, vq->used, 8);
    }
}

static uint16_t checked_vector(const VirtioPci *t, uint16_t v)
{
    return v < t->nvectors ? v : VIRTIO_PCI_NO_VECTOR;
}

static void set_half(uint64_t *r, uint64_t off, uint64_t val, unsigned size)
{
    if (size == 8) {
        *r = val;
    } else if (off & 4) {
        *r = (*r & 0xffffffffULL) | (val << 32);
    } else {
        *r = (*r & ~0xffffffffULL) | (uint32_t)val;
    }
}

static void queue_write(VirtioPci *t, uint64_t off, uint64_t val, unsigned size)
{
    VirtQueue *vq = sel_vq(t);

    if (!vq) {
        return;
    }
    if (off == 0x1a) {
        t->queue_vector[t->queue_sel] = checked_vector(t, (uint16_t)val);
    } else if (off == 0x1c) {
        if ((val & 1) && !vq->ready) {
            if (!vq->num) {
                vq->num = vq->num_max;
            }
            virtio_queue_enable(t->vdev, t->queue_sel);
            sync_kicks(t);
        }
    } else if (vq->ready) {
        log_debug("virtio-pci %s: queue %u reconfigured while enabled, ignored",
                  t->vdev->klass->name, t->queue_sel);
    } else if (off == 0x18) {
        vq->num = (uint16_t)val;
    } else if (off >= 0x20 && off < 0x38) {
        uint64_t *r = off < 0x28 ? &vq->desc : off < 0x30 ? &vq->avail : &vq->used;
        set_half(r, off, val, size);
    }
}

static void reset_registers(VirtioPci *t);

static void common_write(VirtioPci *t, uint64_t off, uint64_t val, unsigned size)
{
    switch (off) {
    case 0x00: t->dfsel = (uint32_t)val; return;
    case 0x08: t->gfsel = (uint32_t)val; return;
    case 0x0c: virtio_set_driver_features(t->vdev, t->gfsel, (uint32_t)val); return;
    case 0x10: t->config_vector = checked_vector(t, (uint16_t)val); return;
    case 0x14:
        virtio_set_status(t->vdev, (uint8_t)val);
        if ((uint8_t)val == 0) {
            reset_registers(t);      /* a device reset leaves the MSI-X table alone */
            update_intx(t);
            sync_kicks(t);           /* no queue is enabled any more */
        }
        return;
    case 0x16: t->queue_sel = (uint16_t)val; return;
    default:
        queue_write(t, off, val, size);
    }
}

static uint64_t modern_read(void *opaque, uint64_t off, unsigned size)
{
    VirtioPci *t = opaque;
    uint8_t img[0x40];
    uint64_t v = 0;

    if (off < VIRTIO_PCI_ISR_OFF) {
        if (off + size > sizeof(img)) {
            return 0;
        }
        common_image(t, img);
        for (unsigned i = 0; i < size; i++) {
            v |= (uint64_t)img[off + i] << (8 * i);
        }
        return v;
    }
    if (off < VIRTIO_PCI_DEVICE_OFF) {
        if (off != VIRTIO_PCI_ISR_OFF) {
            return 0;
        }
        v = t->vdev->isr;            /* reading acknowledges */
        t->vdev->isr = 0;
        update_intx(t);
        return v;
    }
    if (off < VIRTIO_PCI_NOTIFY_OFF) {
        return virtio_config_read(t->vdev, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), size);
    }
    return 0;
}

static void modern_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    VirtioPci *t = opaque;

    if (off < VIRTIO_PCI_ISR_OFF) {
        common_write(t, off, val, size);
    } else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
        virtio_config_write(t->vdev, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), val, size);
    } else if (off >= VIRTIO_PCI_NOTIFY_OFF) {
        virtio_queue_notify(t->vdev,
                            (unsigned)((off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT));
    }
}

static const IoRegionOps modern_ops = { .read = modern_read, .write = modern_write };

/* ---- config space: capabilities and their side effects ---- */

static uint8_t add_virtio_cap(PciDevice *d, uint8_t type, uint8_t bar, uint32_t off,
                              uint32_t len, uint8_t cap_len)
{
    uint8_t c = pci_add_capability(d, PCI_CAP_ID_VNDR, cap_len);

    d->config[c + 2] = cap_len;
    d->config[c + 3] = type;
    d->config[c + 4] = bar;
    pci_set_long(d, c + 8, off);
    pci_set_long(d, c + 12, len);
    return c;
}

static void build_caps(VirtioPci *t)
{
    PciDevice *d = &t->pci;
    uint8_t c;

    add_virtio_cap(d, CAP_COMMON, VIRTIO_PCI_MODERN_BAR, VIRTIO_PCI_COMMON_OFF, 0x40, 16);
    add_virtio_cap(d, CAP_ISR, VIRTIO_PCI_MODERN_BAR, VIRTIO_PCI_ISR_OFF, 4, 16);
    add_virtio_cap(d, CAP_DEVICE, VIRTIO_PCI_MODERN_BAR, VIRTIO_PCI_DEVICE_OFF,
                   MAX(t->vdev->config_len, 4), 16);
    c = add_virtio_cap(d, CAP_NOTIFY, VIRTIO_PCI_MODERN_BAR, VIRTIO_PCI_NOTIFY_OFF,
                       MAX(t->vdev->nvqs, 1) * VIRTIO_PCI_NOTIFY_MULT, 20);
    pci_set_long(d, c + 16, VIRTIO_PCI_NOTIFY_MULT);
    /* The access window: bar, offset, length and data are the driver's to write. */
    t->cfg_cap = add_virtio_cap(d, CAP_PCI_CFG, 0, 0, 0, 20);
    pci_set_wmask(d, t->cfg_cap + 4, 0xff, 1);
    pci_set_wmask(d, t->cfg_cap + 8, 0xffffffff, 4);
    pci_set_wmask(d, t->cfg_cap + 12, 0xffffffff, 4);
    pci_set_wmask(d, t->cfg_cap + 16, 0xffffffff, 4);

    t->msix_cap = pci_add_capability(d, PCI_CAP_ID_MSIX, 12);
    pci_set_word(d, t->msix_cap + 2, (uint16_t)(t->nvectors - 1));
    pci_set_wmask(d, t->msix_cap + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL, 2);
    pci_set_long(d, t->msix_cap + 4, VIRTIO_PCI_MSIX_BAR);
    pci_set_long(d, t->msix_cap + 8, VIRTIO_PCI_PBA_OFFSET | VIRTIO_PCI_MSIX_BAR);

    /* A root-complex integrated endpoint (it sits on pcie.0), capability version 2. */
    c = pci_add_capability(d, PCI_CAP_ID_EXP, 0x3c);
    pci_set_word(d, c + 2, (uint16_t)(2 | PCI_EXP_TYPE_RC_END << 4));
}

/* The window's BAR access (virtio 1.2 §4.1.4.9): 1, 2 or 4 bytes of BAR4 only. */
static bool cfg_window(VirtioPci *t, uint32_t *off, unsigned *len)
{
    const uint8_t *c = t->pci.config + t->cfg_cap;

    *off = pci_get_long(&t->pci, t->cfg_cap + 8);
    *len = pci_get_long(&t->pci, t->cfg_cap + 12);
    return c[4] == VIRTIO_PCI_MODERN_BAR && (*len == 1 || *len == 2 || *len == 4) &&
           *off < VIRTIO_PCI_MODERN_SIZE && !(*off & (*len - 1));
}

static bool touches(uint32_t addr, unsigned len, uint32_t lo, uint32_t hi)
{
    return addr < hi && addr + len > lo;
}

static bool config_read(PciDevice *d, uint32_t addr, unsigned len, uint32_t *val)
{
    VirtioPci *t = d->opaque;
    uint32_t off;
    unsigned n;

    if (!touches(addr, len, t->cfg_cap + 16, t->cfg_cap + 20) || !cfg_window(t, &off, &n)) {
        return false;
    }
    pci_set_long(d, t->cfg_cap + 16, (uint32_t)modern_read(t, off, n));
    return false;       /* the image now holds the value */
}

static void config_written(PciDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    VirtioPci *t = d->opaque;
    uint32_t off;
    unsigned n;

    (void)val;
    if (touches(addr, len, t->msix_cap + 2, t->msix_cap + 4)) {
        update_intx(t);
        if (msix_enabled(t)) {
            msix_flush_pending(t);
        }
    }
    if (touches(addr, len, PCI_COMMAND, PCI_COMMAND + 2)) {
        update_intx(t);
    }
    if (touches(addr, len, t->cfg_cap + 16, t->cfg_cap + 20) && cfg_window(t, &off, &n)) {
        modern_write(t, off, pci_get_long(d, t->cfg_cap + 16) & (n == 4 ? ~0u : (1u << 8 * n) - 1),
                     n);
    }
}

static void bar_map(PciDevice *d, int n, uint64_t old, uint64_t addr)
{
    VirtioPci *t = d->opaque;
    bool msix = n == VIRTIO_PCI_MSIX_BAR;
    g_autofree char *name = g_strdup_printf("virtio-pci-%s (%s)", msix ? "msix" : "modern",
                                            t->vdev->klass->name);
    g_autoptr(GError) err = NULL;

    if (old != PCI_BAR_UNMAPPED) {
        iobus_remove(&t->m->mmio, old);
    }
    if (addr != PCI_BAR_UNMAPPED &&
        !iobus_add(&t->m->mmio, addr, d->bars[n].size, msix ? &msix_ops : &modern_ops, t, name,
                   &err)) {
        /* The guest placed it over something else: it decodes nothing, as on a clash. */
        log_warn("%s: BAR%d at 0x%" PRIx64 " not mapped: %s", name, n, addr, err->message);
        d->bars[n].mapped = PCI_BAR_UNMAPPED;
    }
    if (!msix) {
        sync_kicks(t);
    }
}

/* ---- life cycle ---- */

static void function_reset(PciDevice *d)
{
    virtio_pci_reset(d->opaque);
}

static void init_function(VirtioPci *t, uint32_t class_code)
{
    PciDevice *d = &t->pci;

    pci_device_init(d, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE +
                    t->vdev->klass->device_id), class_code, 1, true);
    pci_set_subsystem(d, VIRTIO_PCI_VENDOR, 0x1100);
    pci_set_interrupt_pin(d, 1);
    pci_register_bar(d, VIRTIO_PCI_MSIX_BAR, VIRTIO_PCI_MSIX_SIZE, 0);
    pci_register_bar(d, VIRTIO_PCI_MODERN_BAR, VIRTIO_PCI_MODERN_SIZE,
                     PCI_BAR_MEM64 | PCI_BAR_PREFETCH);
    d->bar_map = bar_map;
    d->config_read = config_read;
    d->config_written = config_written;
    d->reset = function_reset;
    d->opaque = t;
    build_caps(t);
}

/* The common configuration's selectors and vectors. */
static void reset_registers(VirtioPci *t)
{
    t->dfsel = t->gfsel = 0;
    t->queue_sel = 0;
    t->config_vector = VIRTIO_PCI_NO_VECTOR;
    for (unsigned q = 0; q < VIRTIO_PCI_MAX_VECTORS; q++) {
        t->queue_vector[q] = VIRTIO_PCI_NO_VECTOR;
    }
}

/* Registers plus the MSI-X table (every entry masked) and PBA: the power-on state. */
static void reset_transport(VirtioPci *t)
{
    reset_registers(t);
    for (unsigned v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++) {
        *entry(t, v) = (MsixEntry){ .ctrl = MSIX_ENTRY_MASKED };
    }
    memset(t->pba, 0, sizeof(t->pba));
}

VirtioPci *virtio_pci_new(Machine *m, VirtioDevice *vdev, uint32_t class_code,
                          unsigned intx_gsi, GError **err)
{
    VirtioPci *t;

    if (vdev->nvqs + 1 > VIRTIO_PCI_MAX_VECTORS) {
        set_error(err, "%s: %u queues are more than virtio-pci's %u MSI-X vectors",
                  vdev->klass->name, vdev->nvqs, VIRTIO_PCI_MAX_VECTORS - 1);
        return NULL;
    }
    t = g_new0(VirtioPci, 1);
    t->m = m;
    t->vdev = vdev;
    t->nvectors = vdev->nvqs + 1;
    irq_line_init(&t->intx, m, intx_gsi);
    reset_transport(t);
    init_function(t, class_code);
    t->kicks = vpci_kicks_new(m, vdev, VIRTIO_PCI_NOTIFY_MULT);
    t->irqfds = vpci_irqfds_new(m, t->nvectors, vdev->klass->name);
    virtio_device_set_transport(vdev, &pci_transport_ops, t);
    return t;
}

/* Takes every decoded BAR's region off the bus; the BARs then decode nothing. */
static void unmap_bars(VirtioPci *t)
{
    for (int n = 0; n < PCI_NUM_BARS; n++) {
        if (t->pci.bars[n].size && t->pci.bars[n].mapped != PCI_BAR_UNMAPPED) {
            iobus_remove(&t->m->mmio, t->pci.bars[n].mapped);
            t->pci.bars[n].mapped = PCI_BAR_UNMAPPED;
        }
    }
}

void virtio_pci_free(VirtioPci *t)
{
    if (!t) {
        return;
    }
    vpci_kicks_free(t->kicks);
    vpci_irqfds_free(t->irqfds);
    unmap_bars(t);
    if (t->intx.level) {
        irq_set_level(&t->intx, false);
    }
    virtio_device_set_transport(t->vdev, NULL, NULL);
    g_free(t);
}

PciDevice *virtio_pci_function(VirtioPci *t)
{
    return &t->pci;
}

void virtio_pci_reset(VirtioPci *t)
{
    virtio_reset(t->vdev);
    reset_transport(t);
    /* Power-on config space: BARs unassigned, decoding off (unmaps both regions). */
    pci_config_write(&t->pci, PCI_COMMAND, 0, 2);
    for (int n = 0; n < PCI_NUM_BARS; n++) {
        pci_set_long(&t->pci, PCI_BASE_ADDRESS_0 + 4 * n,
                     t->pci.bars[n].size ? t->pci.bars[n].flags & 0xf : 0);
    }
    pci_set_word(&t->pci, t->msix_cap + 2, (uint16_t)(t->nvectors - 1));
    update_intx(t);
    sync_kicks(t);
}

/* ---- snapshots ---- */

static bool vpci_post_load(void *opaque, uint32_t version, GError **err)
{
    VirtioPci *t = opaque;

    (void)version;
    if (t->nvectors != t->vdev->nvqs + 1) {
        set_error(err, "virtio-pci: the vector count changed");
        return false;
    }
    update_intx(t);
    sync_kicks(t);
    return true;
}

static const VMStateDescription vmstate_virtio_pci = {
    .name = "virtio-pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = vpci_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(pci, VirtioPci, vmstate_pci_device, PciDevice),
        VMSTATE_U32(dfsel, VirtioPci),
        VMSTATE_U32(gfsel, VirtioPci),
        VMSTATE_U16(queue_sel, VirtioPci),
        VMSTATE_U16(config_vector, VirtioPci),
        VMSTATE_ARRAY(queue_vector, VirtioPci, VIRTIO_PCI_MAX_VECTORS, uint16_t, VMS_U16),
        VMSTATE_ARRAY(msix_table, VirtioPci, VIRTIO_PCI_MAX_VECTORS * 4, uint32_t, VMS_U32),
        VMSTATE_BUFFER(pba, VirtioPci),
        VMSTATE_END_OF_LIST()
    },
};

bool virtio_pci_save(VirtioPci *t, GByteArray *out, GError **err)
{
    return vmstate_save(&vmstate_virtio_pci, t, out, err);
}

bool virtio_pci_load(VirtioPci *t, const uint8_t *buf, size_t len, size_t *used, GError **err)
{
    /* The regions follow the loaded BARs: unmap what the pre-load image decoded. */
    unmap_bars(t);
    return vmstate_load(&vmstate_virtio_pci, t, buf, len, used, err);
}
