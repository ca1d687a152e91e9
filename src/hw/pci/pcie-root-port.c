/*
 * pcie-root-port (pcie-root-port.h). Config space: a type 1 header with
 * QEMU's and StratoVirt's IDs (1b36:000c), a PCI Express capability
 * (root port, slot implemented) and a 64-bit MSI capability for the
 * hot-plug interrupt (QEMU's ioh3420 style; QEMU's generic port and
 * StratoVirt use one MSI-X vector, which needs a BAR for nothing else).
 *
 * The slot follows what Linux's pciehp and QEMU expect:
 *   - plug: presence detect state and link active set; a hot-plug also
 *     sets presence detect changed and link state changed;
 *   - device_del: attention button pressed; the guest blinks the power
 *     indicator, then powers the slot off with the indicator off, and at
 *     that write the port removes the device (presence and link drop,
 *     presence detect changed);
 *   - every slot control write completes at once (command completed);
 *   - the interrupt is the OR of the enabled events under HPIE: an MSI on
 *     its rising edge, or the INTx level while MSI is off.
 * A system reset completes a pending unplug, as QEMU does.
 */
#include <string.h>

#include "hw/pci/pcie-root-port.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define PCI_VENDOR_REDHAT       0x1b36
#define PCI_DEVICE_ROOT_PORT    0x000c

/* PCI Express capability registers (offsets from the capability) */
#define EXP_FLAGS       0x02
#define EXP_DEVCAP      0x04
#define EXP_DEVCTL      0x08
#define EXP_DEVSTA      0x0a
#define EXP_LNKCAP      0x0c
#define EXP_LNKCTL      0x10
#define EXP_LNKSTA      0x12
#define EXP_SLTCAP      0x14
#define EXP_SLTCTL      0x18
#define EXP_SLTSTA      0x1a
#define EXP_RTCTL       0x1c
#define EXP_RTSTA       0x20
#define EXP_LNKCAP2     0x2c
#define EXP_LNKCTL2     0x30
#define EXP_CAP_SIZE    0x3c

#define EXP_TYPE_ROOT_PORT      0x4
#define EXP_FLAGS_SLOT          0x0100
#define LNK_SPEED_2_5           0x1
#define LNK_WIDTH_X1            0x0010
#define LNKCAP_DLLLARC          (1u << 20)
#define LNKSTA_DLLLA            0x2000

#define SLTCAP_ABP      0x0001   /* attention button present */
#define SLTCAP_PCP      0x0002   /* power controller present */
#define SLTCAP_AIP      0x0008   /* attention indicator present */
#define SLTCAP_PIP      0x0010   /* power indicator present */
#define SLTCAP_HPC      0x0040   /* hot-plug capable */
#define SLTCAP_PSN_SHIFT 19

#define SLTCTL_EVENTS   0x001f   /* ABPE PFDE MRLSCE PDCE CCIE */
#define SLTCTL_HPIE     0x0020
#define SLTCTL_AIC      0x00c0
#define SLTCTL_PIC      0x0300
#define SLTCTL_PIC_ON   0x0100
#define SLTCTL_PIC_BLINK 0x0200
#define SLTCTL_PIC_OFF  0x0300
#define SLTCTL_AIC_OFF  0x00c0
#define SLTCTL_PCC      0x0400   /* 1: power off */
#define SLTCTL_DLLSCE   0x1000
#define SLTCTL_WRITABLE 0x1fff

#define SLTSTA_ABP      0x0001
#define SLTSTA_PDC      0x0008
#define SLTSTA_CC       0x0010
#define SLTSTA_PDS      0x0040
#define SLTSTA_DLLSC    0x0100
#define SLTSTA_W1C      0x011f   /* ABP PFD MRLSC PDC CC DLLSC */

/* MSI capability (64-bit, one vector, no per-vector masking) */
#define MSI_FLAGS       0x02
#define MSI_ADDR_LO     0x04
#define MSI_ADDR_HI     0x08
#define MSI_DATA        0x0c
#define MSI_CAP_SIZE    0x0e
#define MSI_FLAGS_ENABLE 0x0001
#define MSI_FLAGS_64BIT 0x0080

typedef struct PcieRootPort {
    Device dev;
    uint8_t port;                /* Link Capabilities port number */
    uint8_t chassis;             /* accepted, as StratoVirt does; no slot-numbering capability */
    bool multifunction;
    bool fast_unplug;            /* StratoVirt's: the link drops at the request */
    PciDevice pci;
    PciBus bus;
    uint8_t exp, msi;            /* capability offsets */
    IrqLine intx;                /* intx.level: what the port drives on its GSI */
    bool intx_wired;
    bool notified;               /* the interrupt condition, as last signalled */
    bool unplug_pending;         /* a removal is owed: device_del, or the slot powered off full */
    uint16_t sltctl;             /* slot control before the last write */
    GSource *removal;            /* scheduled removal of the slot's devices */
} PcieRootPort;

static PcieRootPort *rp(Device *d)
{
    return (PcieRootPort *)d;
}

bool pcie_root_port_is(const Device *d)
{
    return d && d->klass == &pcie_root_port_device_class;
}

PciBus *pcie_root_port_bus(Device *port)
{
    return &rp(port)->bus;
}

static uint16_t exp_word(PcieRootPort *s, uint32_t reg)
{
    return pci_get_word(&s->pci, s->exp + reg);
}

static void exp_set(PcieRootPort *s, uint32_t reg, uint16_t bits, bool on)
{
    uint16_t v = exp_word(s, reg);

    pci_set_word(&s->pci, s->exp + reg, on ? v | bits : v & ~bits);
}

/* Whether an enabled slot event is pending under HPIE (DLLSC's enable is bit 12). */
static bool hotplug_condition(PcieRootPort *s)
{
    uint16_t ctl = exp_word(s, EXP_SLTCTL), sta = exp_word(s, EXP_SLTSTA);

    if (!(ctl & SLTCTL_HPIE)) {
        return false;
    }
    return (sta & ctl & SLTCTL_EVENTS) || ((sta & SLTSTA_DLLSC) && (ctl & SLTCTL_DLLSCE));
}

static void send_msi(PcieRootPort *s)
{
    uint64_t addr = pci_get_long(&s->pci, s->msi + MSI_ADDR_LO) |
                    (uint64_t)pci_get_long(&s->pci, s->msi + MSI_ADDR_HI) << 32;

    machine_send_msi(s->dev.machine, addr, pci_get_word(&s->pci, s->msi + MSI_DATA));
}

static bool msi_enabled(PcieRootPort *s)
{
    return pci_get_word(&s->pci, s->msi + MSI_FLAGS) & MSI_FLAGS_ENABLE;
}

/*
 * The GSI is shared (the device below swizzles to the port's slot, and bus
 * 0's slot + 4k): the port drives only its own source, which the machine
 * ORs with the others' (machine.h, IrqLine).
 */
static void update_intx(PcieRootPort *s, bool condition)
{
    bool level = condition && !msi_enabled(s) &&
                 !(pci_get_word(&s->pci, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);

    if (s->intx_wired && level != s->intx.level) {
        irq_set_level(&s->intx, level);
    }
}

/* MSI on the condition's rising edge; INTx follows it as a level while MSI is off. */
static void update_interrupt(PcieRootPort *s)
{
    bool now = hotplug_condition(s), rising = now && !s->notified;

    s->notified = now;
    if (rising && msi_enabled(s) && (pci_get_word(&s->pci, PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        send_msi(s);
    }
    update_intx(s, now);
}

static void raise_events(PcieRootPort *s, uint16_t events)
{
    exp_set(s, EXP_SLTSTA, events, true);
    update_interrupt(s);
}

static bool slot_occupied(PcieRootPort *s)
{
    for (unsigned devfn = 0; devfn < 256; devfn++) {
        if (s->bus.fn[devfn]) {
            return true;
        }
    }
    return false;
}

static void reset_slot(PcieRootPort *s);

static void set_presence(PcieRootPort *s, bool present)
{
    exp_set(s, EXP_SLTSTA, SLTSTA_PDS, present);
    exp_set(s, EXP_LNKSTA, LNKSTA_DLLLA, present);
}

void pcie_root_port_child_plugged(Device *port, bool hotplug)
{
    PcieRootPort *s = rp(port);

    if (!hotplug) {
        reset_slot(s);              /* at power-on the slot is on with its device */
        return;
    }
    set_presence(s, true);
    raise_events(s, SLTSTA_PDC | SLTSTA_DLLSC);
}

/*
 * Removes every device on the port's bus: DEVICE_DELETED {"device":id,
 * "path":id} for each (the seeds' standard-machine form), then the slot
 * reads empty and presence detect changed is raised.
 */
static void remove_children(PcieRootPort *s)
{
    Machine *m = s->dev.machine;

    for (unsigned devfn = 0; devfn < 256; devfn++) {
        PciDevice *f = s->bus.fn[devfn];
        Device *child = f ? f->owner : NULL;
        g_autofree char *name = NULL;
        JsonObject *data;

        if (!child) {
            continue;
        }
        name = g_strdup(device_name(child));
        data = json_object_new();
        if (child->id) {
            json_object_set_string_member(data, "device", child->id);
        }
        json_object_set_string_member(data, "path", name);
        device_destroy(child);
        s->bus.fn[devfn] = NULL;
        log_info("%s: %s unplugged", device_name(&s->dev), name);
        machine_emit_event(m, "DEVICE_DELETED", json_node_init_object(json_node_alloc(), data));
        json_object_unref(data);
    }
    s->unplug_pending = false;
    set_presence(s, false);
    raise_events(s, SLTSTA_PDC | SLTSTA_DLLSC);
}

static gboolean removal_cb(gpointer opaque)
{
    PcieRootPort *s = opaque;

    s->removal = NULL;
    remove_children(s);
    return G_SOURCE_REMOVE;
}

/* The main loop (machine lock held) removes them, not the vCPU's config write. */
static void schedule_removal(PcieRootPort *s)
{
    if (s->removal) {
        return;
    }
    s->removal = g_idle_source_new();
    g_source_set_priority(s->removal, G_PRIORITY_DEFAULT);
    g_source_set_callback(s->removal, removal_cb, s, NULL);
    g_source_attach(s->removal, s->dev.machine->ctx);
    g_source_unref(s->removal);
}

static void cancel_removal(PcieRootPort *s)
{
    if (s->removal) {
        g_source_destroy(s->removal);
        s->removal = NULL;
    }
}

static bool slot_powered_off(uint16_t ctl)
{
    return (ctl & SLTCTL_PCC) && (ctl & SLTCTL_PIC) == SLTCTL_PIC_OFF;
}

bool pcie_root_port_unplug_request(Device *port, Device *child, GError **err)
{
    PcieRootPort *s = rp(port);
    uint16_t ctl = exp_word(s, EXP_SLTCTL);

    if (s->unplug_pending || s->removal) {
        set_error(err, "Device '%s' is already in the process of unplug", device_name(child));
        return false;
    }
    if ((ctl & SLTCTL_PIC) == SLTCTL_PIC_BLINK) {
        /* StratoVirt's text: the guest is between power states of this slot. */
        set_error(err, "Guest is still on the fly of another (un)plugging");
        return false;
    }
    s->unplug_pending = true;
    if (slot_powered_off(ctl)) {
        schedule_removal(s);        /* nothing for the guest to confirm */
        return true;
    }
    if (s->fast_unplug) {
        /*
         * The link goes down with the button press, so the guest (Linux's
         * pciehp) powers the slot off at once instead of waiting 5 s for a
         * cancel.
         */
        exp_set(s, EXP_LNKSTA, LNKSTA_DLLLA, false);
        raise_events(s, SLTSTA_ABP | SLTSTA_PDC | SLTSTA_DLLSC);
        return true;
    }
    raise_events(s, SLTSTA_ABP);
    return true;
}

/*
 * After a guest write: slot control completes at once, and powering an
 * occupied slot off (power controller off, power indicator off, newly)
 * removes what is in it.
 */
static void rp_config_written(PciDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    PcieRootPort *s = d->opaque;
    uint32_t ctl_off = s->exp + EXP_SLTCTL;
    uint16_t old = s->sltctl, ctl;

    (void)val;
    if (addr < ctl_off + 2 && addr + len > ctl_off) {
        ctl = exp_word(s, EXP_SLTCTL);
        s->sltctl = ctl;
        if (slot_powered_off(ctl) && !slot_powered_off(old) && slot_occupied(s)) {
            s->unplug_pending = true;       /* saved: a snapshot before the removal runs owes it */
            schedule_removal(s);
        }
        raise_events(s, SLTSTA_CC);
        return;
    }
    /* Status cleared, MSI or INTx-disable changed: the condition may have dropped. */
    update_interrupt(s);
}

static void init_exp_cap(PcieRootPort *s)
{
    PciDevice *d = &s->pci;
    uint32_t c = s->exp = pci_add_capability(d, PCI_CAP_ID_EXP, EXP_CAP_SIZE);

    pci_set_word(d, c + EXP_FLAGS, 2 | EXP_TYPE_ROOT_PORT << 4 | EXP_FLAGS_SLOT);
    pci_set_long(d, c + EXP_DEVCAP, 1u << 15);              /* role-based error reporting */
    pci_set_wmask(d, c + EXP_DEVCTL, 0x7cff, 2);
    pci_set_w1cmask(d, c + EXP_DEVSTA, 0x000f, 2);
    pci_set_long(d, c + EXP_LNKCAP, LNK_SPEED_2_5 | LNK_WIDTH_X1 | LNKCAP_DLLLARC |
                 (uint32_t)s->port << 24);
    pci_set_wmask(d, c + EXP_LNKCTL, 0x01c3, 2);
    pci_set_word(d, c + EXP_LNKSTA, LNK_SPEED_2_5 | LNK_WIDTH_X1);
    /* Distinct physical slot numbers name the slots apart (Linux suffixes duplicates). */
    pci_set_long(d, c + EXP_SLTCAP, SLTCAP_ABP | SLTCAP_PCP | SLTCAP_AIP | SLTCAP_PIP |
                 SLTCAP_HPC | (uint32_t)(s->chassis << 8 | s->port) << SLTCAP_PSN_SHIFT);
    pci_set_wmask(d, c + EXP_SLTCTL, SLTCTL_WRITABLE, 2);
    pci_set_w1cmask(d, c + EXP_SLTSTA, SLTSTA_W1C, 2);
    pci_set_wmask(d, c + EXP_RTCTL, 0x001f, 2);
    pci_set_w1cmask(d, c + EXP_RTSTA, 0x00030000, 4);
    pci_set_long(d, c + EXP_LNKCAP2, 1u << 1);               /* 2.5 GT/s supported */
    pci_set_word(d, c + EXP_LNKCTL2, LNK_SPEED_2_5);
    pci_set_wmask(d, c + EXP_LNKCTL2, 0x000f, 2);
}

static void init_msi_cap(PcieRootPort *s)
{
    PciDevice *d = &s->pci;
    uint32_t c = s->msi = pci_add_capability(d, PCI_CAP_ID_MSI, MSI_CAP_SIZE);

    pci_set_word(d, c + MSI_FLAGS, MSI_FLAGS_64BIT);
    pci_set_wmask(d, c + MSI_FLAGS, MSI_FLAGS_ENABLE, 2);
    pci_set_wmask(d, c + MSI_ADDR_LO, 0xfffffffc, 4);
    pci_set_wmask(d, c + MSI_ADDR_HI, 0xffffffff, 4);
    pci_set_wmask(d, c + MSI_DATA, 0xffff, 2);
}

/* Power-on state of the slot: on, with its indicator on, if something is in it. */
static void reset_slot(PcieRootPort *s)
{
    bool present = slot_occupied(s);
    uint16_t ctl = SLTCTL_AIC_OFF | (present ? SLTCTL_PIC_ON : SLTCTL_PIC_OFF | SLTCTL_PCC);

    pci_set_word(&s->pci, s->exp + EXP_SLTCTL, ctl);
    pci_set_word(&s->pci, s->exp + EXP_SLTSTA, 0);
    s->sltctl = ctl;
    set_presence(s, present);
}

static bool rp_realize(Device *d, GError **err)
{
    PcieRootPort *s = rp(d);

    if (!d->id) {
        set_error(err, "pcie-root-port: 'id' is required: it names the port's bus");
        return false;
    }
    pci_bridge_init(&s->pci, &s->bus, PCI_VENDOR_REDHAT, PCI_DEVICE_ROOT_PORT, true);
    s->pci.opaque = s;
    s->pci.config_written = rp_config_written;
    pci_set_interrupt_pin(&s->pci, 1);
    init_exp_cap(s);
    init_msi_cap(s);
    if (s->multifunction) {
        s->pci.config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI;
    }
    reset_slot(s);
    return true;
}

static PciDevice *rp_pci_function(Device *d, const PciPlacement *at)
{
    PcieRootPort *s = rp(d);

    irq_line_init(&s->intx, d->machine, at->intx_gsi);
    s->intx_wired = true;
    return &s->pci;
}

static void rp_unrealize(Device *d)
{
    cancel_removal(rp(d));
}

/*
 * The bridge's registers as at power-on (bus numbers, windows, enables);
 * a pending unplug completes, as QEMU completes it on reset.
 */
static void rp_reset(Device *d)
{
    PcieRootPort *s = rp(d);
    static const struct { uint32_t off; unsigned len; } regs[] = {
        { PCI_COMMAND, 2 }, { PCI_PRIMARY_BUS, 4 }, { PCI_IO_BASE, 2 },
        { PCI_MEMORY_BASE, 4 }, { PCI_PREF_MEMORY_BASE, 4 }, { PCI_PREF_BASE_UPPER32, 4 },
        { PCI_PREF_LIMIT_UPPER32, 4 }, { PCI_BRIDGE_CONTROL, 2 },
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(regs); i++) {
        pci_config_write(&s->pci, regs[i].off, 0, regs[i].len);
    }
    pci_set_word(&s->pci, s->msi + MSI_FLAGS, MSI_FLAGS_64BIT);
    if (s->unplug_pending) {
        schedule_removal(s);
    }
    reset_slot(s);
    s->notified = false;
    update_intx(s, false);
}

static bool rp_post_load(void *opaque, uint32_t version, GError **err)
{
    PcieRootPort *s = opaque;

    (void)version;
    (void)err;
    s->sltctl = exp_word(s, EXP_SLTCTL);
    update_intx(s, s->notified);    /* driven again from the loaded registers */
    /* Saved between the guest's power-off (or device_del of an off slot) and the removal. */
    if (s->unplug_pending && slot_powered_off(s->sltctl)) {
        schedule_removal(s);
    }
    return true;
}

static const VMStateDescription vmstate_pcie_root_port = {
    .name = "pcie-root-port",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = rp_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(pci, PcieRootPort, vmstate_pci_device, PciDevice),
        VMSTATE_BOOL(notified, PcieRootPort),
        VMSTATE_BOOL(unplug_pending, PcieRootPort),
        VMSTATE_END_OF_LIST()
    },
};

static const Property rp_props[] = {
    DEFINE_PROP("port", PROP_U8, PcieRootPort, port, "0",
                "port number in the link capabilities"),
    DEFINE_PROP("chassis", PROP_U8, PcieRootPort, chassis, "0",
                "chassis number (with port, the slot's physical number)"),
    DEFINE_PROP("multifunction", PROP_BOOL, PcieRootPort, multifunction, "off",
                "on: function 0 of a multi-function slot"),
    /* StratoVirt documents it as -global pcie-root-port.fast-unplug=0|1. */
    DEFINE_PROP("fast-unplug", PROP_BOOL, PcieRootPort, fast_unplug, "off",
                "on: device_del also takes the link down (no guest grace period)"),
    DEFINE_PROP_END,
};

const DeviceClass pcie_root_port_device_class = {
    .name = "pcie-root-port",
    .parent = "pcie-root-port-base",
    .description = "PCI Express root port with native hot-plug",
    .bus = DEVICE_BUS_PCI,
    .instance_size = sizeof(PcieRootPort),
    .props = rp_props,
    .user_creatable = true,
    .realize = rp_realize,
    .unrealize = rp_unrealize,
    .reset = rp_reset,
    .pci_function = rp_pci_function,
    .vmsd = &vmstate_pcie_root_port,
};
