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
#include "hw/pci/pci-host.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define PCI_VENDOR_INTEL        0x8086
#define Q35_MCH_DEVICE_ID       0x29c0
#define PCI_CLASS_HOST_BRIDGE   0x060000
/* QEMU's subsystem IDs for its chipset functions (Red Hat, QEMU). */
#define PCI_SUBVENDOR_REDHAT    0x1af4
#define PCI_SUBDEVICE_QEMU      0x1100

typedef struct Q35State {
    X86Board x86;
    PciHost pci;
    PciDevice host_bridge;
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
    s->pci_mapped = pci_host_map(&s->pci, &m->pio, &m->mmio, Q35_ECAM_BASE, Q35_ECAM_SIZE, err);
    return s->pci_mapped;
}

/* acpi=auto is on: q35 guests (Debian's kernels) find CPUs and PCI through ACPI. */
static bool setup_acpi(Machine *m, Q35State *s, GError **err)
{
    Q35AcpiConfig c = {
        .ncpus = m->cfg->smp.cpus,
        .serial = m->cfg->serial_chardev != NULL,
        .rtc = s->x86.rtc != NULL,
    };

    if (!x86_board_acpi_enabled(m, true)) {
        return true;
    }
    return x86_board_set_acpi(&s->x86, q35_acpi_build(&c), Q35_ACPI_BASE, Q35_ACPI_SIZE, err);
}

static bool q35_init(Machine *m, GError **err)
{
    Q35State *s = g_new0(Q35State, 1);

    m->board = s;
    s->x86.low_ram_limit = Q35_LOW_RAM_LIMIT;
    for (guint i = 0; m->cfg->drives && i < m->cfg->drives->len; i++) {
        if (!g_strcmp0(optlist_get(g_ptr_array_index(m->cfg->drives, i), "if"), "pflash")) {
            set_error(err, "-drive if=pflash: firmware boot is not supported yet on q35 "
                      "(use -kernel)");
            return false;
        }
    }
    if (!m->cfg->kernel && strcmp(m->cfg->accel, "qtest") != 0) {
        set_error(err, "-kernel: kernel file is required for q35 machine type until "
                  "firmware boot exists");
        return false;
    }
    return x86_board_init_ram(m, &s->x86, err) && x86_board_create_devices(m, &s->x86, err) &&
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

static void q35_reset(Machine *m)
{
    Q35State *s = state(m);

    /* The bridge's writable registers (command, latency) come back as at power-on. */
    pci_config_write(&s->host_bridge, PCI_COMMAND, 0, 2);
    x86_board_reset(m, &s->x86);
}

/* The buses a -device may name: the ISA bus; PCI devices come with their own step. */
static bool q35_pre_plug(Machine *m, Device *d, GError **err)
{
    (void)m;
    if (d->klass->bus == DEVICE_BUS_VIRTIO) {
        set_error(err, "Device '%s' needs a virtio-mmio bus, which q35 does not have",
                  d->klass->name);
        return false;
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

static PciHost *q35_pci_host(Machine *m)
{
    Q35State *s = state(m);

    return s ? &s->pci : NULL;
}

static bool q35_save_state(Machine *m, GByteArray *out, GError **err)
{
    return vmstate_save(&vmstate_pci_device, &state(m)->host_bridge, out, err);
}

static bool q35_load_state(Machine *m, const uint8_t *buf, size_t len, GError **err)
{
    size_t used;

    if (!vmstate_load(&vmstate_pci_device, &state(m)->host_bridge, buf, len, &used, err)) {
        return false;
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
    .pci_host = q35_pci_host,
    .save_state = q35_save_state,
    .load_state = q35_load_state,
};
