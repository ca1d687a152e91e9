/*
 * The standard machine, "q35" (docs/q35.md): the shared x86 board
 * (x86-board.h) plus a PCI Express host bridge. Layout, after StratoVirt's
 * q35 (stratovirt-reference.md §2.8):
 *   RAM       [0, 2 GiB) and from 4 GiB
 *   ECAM      0xB0000000, 256 MiB (buses 0..255), and the CF8/CFC ports
 *   MMIO32    [0xC0000000, 0xF0000000) for BARs the guest places
 *   MMIO64    Q35_MMIO64_BASE (512 GiB), 512 GiB
 * Function 00:00.0 is the host bridge, the ICH9 MCH's IDs (8086:29c0) as
 * QEMU's and StratoVirt's q35 show it, so guests' quirks tables match.
 */
#include <string.h>

#include "hw/x86/q35.h"
#include "hw/x86/q35-chipset.h"
#include "hw/pci/pci-host.h"
#include "hw/pci/pcie-root-port.h"
#include "hw/virtio/virtio-pci.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define PCI_VENDOR_INTEL        0x8086
#define Q35_MCH_DEVICE_ID       0x29c0
#define PCI_CLASS_HOST_BRIDGE   0x060000
/* QEMU's subsystem IDs for its chipset functions (Red Hat, QEMU). */
#define PCI_SUBVENDOR_REDHAT    0x1af4
#define PCI_SUBDEVICE_QEMU      0x1100

/* Legacy INTx of bus 0: slot s's INTA on GSI 16 + s % 4 (the DSDT's _PRT says the same). */
#define Q35_INTX_GSI(slot)  (16 + (slot) % 4)

/* A PCI device: where it sits and, for virtio, its transport (Device.machine_data). */
typedef struct Q35Slot {
    PciBus *bus;
    uint8_t devfn;
    VirtioPci *transport;
} Q35Slot;

typedef struct Q35State {
    X86Board x86;
    PciHost pci;
    PciDevice host_bridge;
    Q35Chipset chipset;          /* MCH registers, the LPC at 00:1f.0, 0xCF9 */
    bool pci_mapped;
} Q35State;

static Q35State *state(Machine *m)
{
    return m->board;
}

static bool create_pci_host(Machine *m, Q35State *s, GError **err)
{
    pci_host_init(&s->pci);
    pci_device_init(&s->host_bridge, PCI_VENDOR_INTEL, Q35_MCH_DEVICE_ID,
                    PCI_CLASS_HOST_BRIDGE, 0, false);
    pci_set_subsystem(&s->host_bridge, PCI_SUBVENDOR_REDHAT, PCI_SUBDEVICE_QEMU);
    if (!pci_host_plug(&s->pci, 0, PCI_DEVFN(0, 0), &s->host_bridge)) {
        set_error(err, "q35: cannot plug the host bridge");
        return false;
    }
    if (!q35_chipset_init(&s->chipset, m, &s->pci, &s->host_bridge,
                          microvm_pm_state(s->x86.pm), s->x86.firmware, err)) {
        return false;
    }
    s->pci_mapped = pci_host_map(&s->pci, &m->pio, &m->mmio, Q35_ECAM_BASE, Q35_ECAM_SIZE, err);
    return s->pci_mapped;
}

static Q35AcpiConfig acpi_config(Machine *m, Q35State *s)
{
    return q35_acpi_config(m->cfg->smp.cpus, m->cfg->serial_chardev != NULL, s->x86.rtc != NULL);
}

/*
 * For the firmware's first read (X86Board.acpi_rebuild): the windows widened
 * over the BARs it placed. OVMF puts 64-bit BARs in its own aperture (from
 * 32 GiB with this CPU's address width), not the machine's at 512 GiB; an OS
 * finding them outside _CRS would move them. QEMU also builds its _CRS
 * windows from the placed BARs. A 32-bit window grows only up to the IOAPIC
 * (never over ECAM or the chipset's ranges).
 */
static GByteArray *acpi_rebuild(Machine *m)
{
    Q35State *s = state(m);
    Q35AcpiConfig c = acpi_config(m, s);
    uint64_t lo, hi;

    if (pci_bus_mem_span(&s->pci.root, false, &lo, &hi) &&
        lo >= Q35_ECAM_BASE + Q35_ECAM_SIZE && hi < X86_IOAPIC_ADDR) {
        c.mmio32[0] = MIN(c.mmio32[0], lo);
        c.mmio32[1] = MAX(c.mmio32[1], hi);
    }
    if (pci_bus_mem_span(&s->pci.root, true, &lo, &hi)) {
        c.mmio64[0] = MIN(c.mmio64[0], lo);
        c.mmio64[1] = MAX(c.mmio64[1], hi);
    }
    return q35_acpi_build(&c);
}

/* acpi=auto is on: q35 guests (Debian's kernels) find CPUs and PCI through ACPI. */
static bool setup_acpi(Machine *m, Q35State *s, GError **err)
{
    Q35AcpiConfig c = acpi_config(m, s);

    if (!x86_board_acpi_enabled(m, true)) {
        return true;
    }
    s->x86.acpi_rebuild = acpi_rebuild;
    return x86_board_set_acpi(&s->x86, q35_acpi_build(&c), Q35_ACPI_BASE, Q35_ACPI_SIZE, err);
}

static bool q35_init(Machine *m, GError **err)
{
    Q35State *s = g_new0(Q35State, 1);

    m->board = s;
    s->x86.low_ram_limit = Q35_LOW_RAM_LIMIT;
    s->x86.rtc_by_default = true;            /* a PC has one, QEMU's and StratoVirt's q35 too */
    if (!x86_board_init_ram(m, &s->x86, err) || !x86_firmware_create(m, &s->x86, err)) {
        return false;
    }
    if (!s->x86.firmware && !m->cfg->kernel && strcmp(m->cfg->accel, "qtest") != 0) {
        set_error(err, "-kernel: kernel file is required for q35 machine type without "
                  "firmware (-drive if=pflash)");
        return false;
    }
    return x86_board_create_devices(m, &s->x86, err) &&
           create_pci_host(m, s, err) && machine_open_drives(m, err) &&
           machine_create_cli_devices(m, err) && setup_acpi(m, s, err) &&
           x86_board_boot(m, &s->x86, NULL, err);
}

static void q35_destroy(Machine *m)
{
    Q35State *s = state(m);

    if (!s) {
        return;
    }
    if (s->pci_mapped) {
        pci_host_unmap(&s->pci, &m->pio, &m->mmio);
    }
    pci_host_cleanup(&s->pci);
    x86_board_cleanup(&s->x86);
    g_free(s);
    m->board = NULL;
}

/* The transports of the PCI devices, in creation order (reset, snapshots). */
static GPtrArray *transports(Machine *m)
{
    GPtrArray *a = g_ptr_array_new();

    for (guint i = 0; m->devices && i < m->devices->len; i++) {
        Device *d = g_ptr_array_index(m->devices, i);
        Q35Slot *slot = d->klass->bus == DEVICE_BUS_PCI ? d->machine_data : NULL;
        if (slot && slot->transport) {
            g_ptr_array_add(a, slot->transport);
        }
    }
    return a;
}

static void q35_reset(Machine *m)
{
    Q35State *s = state(m);

    g_autoptr(GPtrArray) t = transports(m);

    /* The bridge's writable registers (command, latency) come back as at power-on. */
    pci_config_write(&s->host_bridge, PCI_COMMAND, 0, 2);
    pci_config_write(&s->chipset.lpc, PCI_COMMAND, 0, 2);
    q35_chipset_reset(&s->chipset);
    for (guint i = 0; i < t->len; i++) {
        virtio_pci_reset(g_ptr_array_index(t, i));
    }
    x86_board_reset(m, &s->x86);
}

/*
 * addr=: QEMU's "slot[.function]", each part hex (a "0x" prefix allowed),
 * slot 0..31, function 0..7.
 */
static bool parse_devfn(const char *addr, uint8_t *devfn)
{
    g_auto(GStrv) parts = g_strsplit(addr, ".", 3);
    guint64 v[2] = { 0, 0 };
    unsigned n = g_strv_length(parts);

    if (n < 1 || n > 2) {
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        const char *p = parts[i];
        if (g_str_has_prefix(p, "0x") || g_str_has_prefix(p, "0X")) {
            p += 2;
        }
        if (!*p || !g_ascii_string_to_unsigned(p, 16, 0, i ? 7 : 31, &v[i], NULL)) {
            return false;
        }
    }
    *devfn = PCI_DEVFN(v[0], v[1]);
    return true;
}

static const char *slot_user(PciBus *b, uint8_t devfn)
{
    PciDevice *f = b->fn[devfn];

    if (!f) {
        return NULL;
    }
    if (f->owner) {
        return f->owner->klass->name;
    }
    return devfn == Q35_LPC_DEVFN ? "ICH9-LPC" : "mch";   /* QEMU's names */
}

/*
 * bus=: pcie.0 (the default) or a pcie-root-port's id. Hot-plug goes only
 * below root ports (pcie.0 has no hot-plug controller); device_add gets
 * StratoVirt's text for a bus that does not exist, -device QEMU's.
 */
static PciBus *find_bus(Machine *m, Device *d, GError **err)
{
    Device *port;

    if (!d->bus || !strcmp(d->bus, "pcie.0")) {
        if (d->hotplugged) {
            set_error(err, "Bus 'pcie.0' does not support hotplugging");
            return NULL;
        }
        return &state(m)->pci.root;
    }
    port = machine_find_device(m, d->bus);
    if (!pcie_root_port_is(port)) {
        if (d->hotplugged) {
            set_error(err, "Failed to add device: Bus not found");
        } else {
            set_error(err, "Bus '%s' not found", d->bus);
        }
        return NULL;
    }
    return pcie_root_port_bus(port);
}

/* addr= or the first free slot; below a root port only slot 0 exists (PCIe). */
static bool pick_devfn(Device *d, PciBus *b, uint8_t *out, GError **err)
{
    uint8_t devfn = 0;
    const char *user;

    if (d->addr) {
        if (!parse_devfn(d->addr, &devfn)) {
            set_error(err, "Property '%s.addr' doesn't take value '%s'", d->klass->name,
                      d->addr);
            return false;
        }
    } else if (!b->bridge) {
        /* Slot 0 is the host bridge's; a uint8_t devfn wraps to 0 after slot 31. */
        for (devfn = PCI_DEVFN(1, 0); devfn && slot_user(b, devfn); devfn += 8) {
        }
        if (!devfn) {
            set_error(err, "PCI: no slot/function available for %s, all in use or reserved",
                      d->klass->name);
            return false;
        }
    }
    if (b->bridge && devfn >> 3) {
        if (d->hotplugged) {
            set_error(err, "HotPlug is not supported for device with devfn %u", devfn);
        } else {
            set_error(err, "PCI: slot %u is not valid for %s, parent device only allows "
                      "plugging into slot 0.", devfn >> 3, d->klass->name);
        }
        return false;
    }
    if ((user = slot_user(b, devfn))) {
        set_error(err, "PCI: slot %u function %u not available for %s, in use by %s",
                  devfn >> 3, devfn & 7, d->klass->name, user);
        return false;
    }
    *out = devfn;
    return true;
}

/*
 * A root port goes on pcie.0 only: one below another would be freed with
 * the outer slot's devices (guest power-off or device_del) while its own
 * bus still held devices.
 */
static bool place_pci(Machine *m, Device *d, PciBus **bus, uint8_t *devfn, GError **err)
{
    if (!(*bus = find_bus(m, d, err))) {
        return false;
    }
    if ((*bus)->bridge && pcie_root_port_is(d)) {
        set_error(err, "pcie-root-port: bus '%s' is a root port's; root ports go on pcie.0",
                  d->bus);
        return false;
    }
    return pick_devfn(d, *bus, devfn, err);
}

/* The buses a -device may name: the ISA bus, pcie.0 and the root ports' buses. */
static bool q35_pre_plug(Machine *m, Device *d, GError **err)
{
    if (d->klass->bus == DEVICE_BUS_VIRTIO) {
        set_error(err, "Device '%s' needs a virtio-mmio bus, which q35 does not have",
                  d->klass->name);
        return false;
    }
    if (d->klass->bus == DEVICE_BUS_PCI) {
        PciBus *bus;
        uint8_t devfn;
        return place_pci(m, d, &bus, &devfn, err);
    }
    if (d->hotplugged) {
        set_error(err, "Device '%s' cannot be hot-plugged on q35", d->klass->name);
        return false;
    }
    if (d->bus && d->klass->bus == DEVICE_BUS_ISA && strcmp(d->bus, "isa.0") != 0) {
        set_error(err, "Bus '%s' not found", d->bus);
        return false;
    }
    if (d->addr) {
        set_error(err, "Property '%s.addr' not found", d->klass->name);
        return false;
    }
    return true;
}

/* INTA of a function at devfn of b: bus 0's _PRT, else swizzled through the root port. */
static unsigned intx_gsi(PciBus *b, uint8_t devfn)
{
    Q35Slot *port = b->bridge ? b->bridge->owner->machine_data : NULL;

    return Q35_INTX_GSI(port ? port->devfn >> 3 : devfn >> 3);
}

static PciDevice *make_function(Machine *m, Device *d, Q35Slot *slot, GError **err)
{
    PciPlacement at = { .devfn = slot->devfn, .intx_gsi = intx_gsi(slot->bus, slot->devfn) };
    VirtioDevice *vdev;

    if (d->klass->pci_function) {
        return d->klass->pci_function(d, &at);
    }
    vdev = d->klass->virtio_device ? d->klass->virtio_device(d) : NULL;
    if (!vdev) {
        set_error(err, "'%s' has no virtio device to put on PCI", d->klass->name);
        return NULL;
    }
    slot->transport = virtio_pci_new(m, vdev, d->klass->pci_class, at.intx_gsi, err);
    return slot->transport ? virtio_pci_function(slot->transport) : NULL;
}

static bool q35_plug(Machine *m, Device *d, GError **err)
{
    Q35Slot slot = { 0 };
    PciDevice *f;

    if (d->klass->bus != DEVICE_BUS_PCI) {
        return true;
    }
    if (!place_pci(m, d, &slot.bus, &slot.devfn, err) || !(f = make_function(m, d, &slot, err))) {
        return false;
    }
    f->owner = d;
    pci_bus_plug(slot.bus, slot.devfn, f);
    d->machine_data = g_memdup2(&slot, sizeof(slot));
    if (slot.bus->bridge) {
        pcie_root_port_child_plugged(slot.bus->bridge->owner, d->hotplugged);
    }
    return true;
}

static void q35_unplug(Machine *m, Device *d)
{
    Q35Slot *slot = d->machine_data;

    (void)m;
    if (d->klass->bus != DEVICE_BUS_PCI || !slot) {
        return;
    }
    pci_bus_unplug(slot->bus, slot->devfn);
    if (slot->transport) {
        virtio_pci_free(slot->transport);
    }
    g_free(slot);
    d->machine_data = NULL;
}

/* device_del: below a root port the guest is asked (attention button); pcie.0 has no hot-plug. */
static bool q35_unplug_request(Machine *m, Device *d, bool *pending, GError **err)
{
    Q35Slot *slot = d->machine_data;

    (void)m;
    if (!slot || !slot->bus->bridge) {
        set_error(err, "Bus 'pcie.0' does not support hotplugging");
        return false;
    }
    *pending = true;
    return pcie_root_port_unplug_request(slot->bus->bridge->owner, d, err);
}

/* QEMU's q35 names its host bridge by its CF8 port: "/pci@i0cf8", then the function's path. */
static char *q35_fw_dev_path(Machine *m, const Device *d)
{
    const Q35Slot *slot = d->klass->bus == DEVICE_BUS_PCI ? d->machine_data : NULL;
    g_autofree char *below = NULL;

    (void)m;
    if (!slot || !(below = pci_fw_path(slot->bus->fn[slot->devfn]))) {
        return NULL;
    }
    return g_strdup_printf("/pci@i0cf8%s", below);
}

static PciHost *q35_pci_host(Machine *m)
{
    Q35State *s = state(m);

    return s ? &s->pci : NULL;
}

static bool q35_save_state(Machine *m, GByteArray *out, GError **err)
{
    g_autoptr(GPtrArray) t = transports(m);

    if (!vmstate_save(&vmstate_pci_device, &state(m)->host_bridge, out, err) ||
        !vmstate_save(&vmstate_pci_device, &state(m)->chipset.lpc, out, err)) {
        return false;
    }
    for (guint i = 0; i < t->len; i++) {
        if (!virtio_pci_save(g_ptr_array_index(t, i), out, err)) {
            return false;
        }
    }
    return true;
}

static bool q35_load_state(Machine *m, const uint8_t *buf, size_t len, GError **err)
{
    g_autoptr(GPtrArray) t = transports(m);
    size_t used;

    if (!vmstate_load(&vmstate_pci_device, &state(m)->host_bridge, buf, len, &used, err)) {
        return false;
    }
    buf += used;
    len -= used;
    if (!vmstate_load(&vmstate_pci_device, &state(m)->chipset.lpc, buf, len, &used, err)) {
        return false;
    }
    q35_chipset_post_load(&state(m)->chipset);
    for (guint i = 0; i < t->len; i++) {
        buf += used;
        len -= used;
        if (!virtio_pci_load(g_ptr_array_index(t, i), buf, len, &used, err)) {
            return false;
        }
    }
    if (used != len) {
        set_error(err, "q35: %zu bytes after the board's state", len - used);
        return false;
    }
    return true;
}

const MachineClass q35_machine_class = {
    .name = "q35",
    .description = "Standard PC (Q35 + ICH9, PCI Express)",
    .qom_type = "q35-machine",
    .max_cpus = 254,
    .default_ram_id = "pc.ram",
    .guest_reset_resets = true,
    .init = q35_init,
    .destroy = q35_destroy,
    .reset = q35_reset,
    .pre_plug = q35_pre_plug,
    .plug = q35_plug,
    .unplug = q35_unplug,
    .unplug_request = q35_unplug_request,
    .pci_host = q35_pci_host,
    .fw_dev_path = q35_fw_dev_path,
    .save_state = q35_save_state,
    .load_state = q35_load_state,
};
