/*
 * The microvm machine class: the shared x86 board (x86-board.h: RAM, COM1,
 * the PM block, direct kernel boot), the virtio-mmio slots and the -device
 * devices.
 */
#include <string.h>

#include "hw/x86/microvm.h"
#include "block/block.h"
#include "hw/virtio/virtio-blk.h"
#include "util/log.h"
#include "util/strutil.h"

typedef struct MicrovmState {
    X86Board x86;
    MicrovmVirtio *virtio;
} MicrovmState;

static MicrovmState *state(Machine *m)
{
    return m->board;
}

static void microvm_reset(Machine *m)
{
    MicrovmState *s = state(m);

    microvm_virtio_reset(s->virtio);
    x86_board_reset(m, &s->x86);
}

/*
 * acpi=on (auto is off: StratoVirt's microvm has no ACPI, and the seeds'
 * guests expect none): the tables describe what exists once the command
 * line's devices are placed.
 */
static bool microvm_setup_acpi(Machine *m, MicrovmState *s, GError **err)
{
    MicrovmAcpiConfig c = {
        .ncpus = m->cfg->smp.cpus,
        .serial = m->cfg->serial_chardev != NULL,
        .rtc = s->x86.rtc != NULL,
        .n_virtio = microvm_virtio_transports(s->virtio),
    };

    if (!x86_board_acpi_enabled(m, false)) {
        return true;
    }
    return x86_board_set_acpi(&s->x86, microvm_acpi_build(&c), MICROVM_ACPI_BASE,
                              MICROVM_ACPI_SIZE, err);
}

static bool microvm_init(Machine *m, GError **err)
{
    const StratusConfig *cfg = m->cfg;
    MicrovmState *s = g_new0(MicrovmState, 1);

    m->board = s;
    s->x86.low_ram_limit = MICROVM_LOW_RAM_LIMIT;
    s->x86.pm_ged = x86_board_acpi_enabled(m, false);
    s->x86.rtc_by_default = s->x86.pm_ged;   /* acpi=on: QEMU's microvm, which has one */
    for (guint i = 0; cfg->drives && i < cfg->drives->len; i++) {
        if (!g_strcmp0(optlist_get(g_ptr_array_index(cfg->drives, i), "if"), "pflash")) {
            log_warn("-drive if=pflash is ignored on microvm");
        }
    }
    if (!x86_board_init_ram(m, &s->x86, err) || !x86_board_create_devices(m, &s->x86, err) ||
        !machine_open_drives(m, err)) {
        return false;
    }
    s->virtio = microvm_virtio_new(m, err);
    return s->virtio && machine_create_cli_devices(m, err) && microvm_setup_acpi(m, s, err) &&
           x86_board_boot(m, &s->x86, microvm_virtio_cmdline(s->virtio), err);
}

static void microvm_destroy(Machine *m)
{
    MicrovmState *s = state(m);

    if (s) {
        microvm_virtio_free(s->virtio);
        x86_board_cleanup(&s->x86);
        g_free(s);
        m->board = NULL;
    }
}

/*
 * bus=: microvm has one ISA bus, "isa.0", and a virtio-mmio bus per transport,
 * "virtio-mmio-bus.N" (QEMU's names; the bare "virtio-mmio-bus" is accepted
 * too). The slot itself is addr= (StratoVirt), so N is only checked.
 */
static bool bus_exists(const Device *d)
{
    switch (d->klass->bus) {
    case DEVICE_BUS_ISA:
        return !strcmp(d->bus, "isa.0");
    case DEVICE_BUS_VIRTIO:
        for (unsigned i = 0; i < MICROVM_BLK_SLOTS + MICROVM_NET_SLOTS; i++) {
            g_autofree char *name = g_strdup_printf("virtio-mmio-bus.%u", i);
            if (!strcmp(d->bus, name)) {
                return true;
            }
        }
        return !strcmp(d->bus, "virtio-mmio-bus");
    case DEVICE_BUS_VIRTIO_SERIAL:
        return true;        /* the port's realize knows the serial device's bus names */
    case DEVICE_BUS_PCI:
    case DEVICE_BUS_NONE:
        break;
    }
    return false;
}

static bool microvm_pre_plug(Machine *m, Device *d, GError **err)
{
    (void)m;
    if (d->klass->bus == DEVICE_BUS_PCI) {
        /* QEMU's text for a PCI device on a machine without PCI. */
        set_error(err, "No 'PCI' bus found for device '%s'", d->klass->name);
        return false;
    }
    /* StratoVirt's microvm hot-plugs nothing but its replaceable slots. */
    if (d->hotplugged && !d->klass->hotpluggable) {
        set_error(err, "Unsupported replaceable device type.");
        return false;
    }
    if (d->bus && !bus_exists(d)) {
        set_error(err, "Bus '%s' not found", d->bus);
        return false;
    }
    /* Only a slot has an address: elsewhere addr= would be silently ignored. */
    if (d->addr && d->klass->bus != DEVICE_BUS_VIRTIO) {
        set_error(err, "Property '%s.addr' not found", d->klass->name);
        return false;
    }
    return true;
}

static bool microvm_plug(Machine *m, Device *d, GError **err)
{
    MicrovmState *s = state(m);

    if (d->klass->bus != DEVICE_BUS_VIRTIO) {
        return true;        /* ISA and board devices placed themselves */
    }
    if (!s->virtio) {
        set_error(err, "virtio-mmio is not initialised");
        return false;
    }
    return microvm_virtio_plug(s->virtio, d, err);
}

static void microvm_unplug(Machine *m, Device *d)
{
    MicrovmState *s = state(m);

    if (d->klass->bus == DEVICE_BUS_VIRTIO && s && s->virtio) {
        microvm_virtio_unplug(s->virtio, d);
    }
}

/*
 * device_del completes at once (StratoVirt): the slot empties, the drive is
 * unregistered with the device, and DEVICE_DELETED {"device":id,"path":id}
 * is emitted before the reply.
 */
static bool microvm_unplug_request(Machine *m, Device *d, bool *pending, GError **err)
{
    JsonObject *data = json_object_new();
    BlockBackend *bb = virtio_blk_device_backend(d);
    g_autofree char *node = bb ? g_strdup(block_node_name(bb)) : NULL;

    (void)err;
    *pending = false;
    /* StratoVirt's {"device":id,"path":id}; QEMU's {"path":qom-path} without an id. */
    if (d->id) {
        json_object_set_string_member(data, "device", d->id);
    }
    json_object_set_string_member(data, "path", device_name(d));
    device_destroy(d);
    if (node) {
        block_registry_remove(m->block_nodes, node);
        g_hash_table_add(m->released_nodes, g_strdup(node));
    }
    machine_emit_event(m, "DEVICE_DELETED", json_node_init_object(json_node_alloc(), data));
    json_object_unref(data);
    return true;
}

VirtioDevice *microvm_blk_slot_device(Machine *m, unsigned slot)
{
    MicrovmState *s = m->machine_class == &microvm_machine_class ? state(m) : NULL;

    return s && s->virtio ? microvm_virtio_blk_slot(s->virtio, slot) : NULL;
}

/* QEMU's microvm: the transport's sysbus path, "/virtio-mmio@<16 hex digits of its base>". */
static char *microvm_fw_dev_path(Machine *m, const Device *d)
{
    MicrovmState *s = state(m);
    uint64_t base = s && s->virtio ? microvm_virtio_device_base(s->virtio, d) : 0;

    return base ? g_strdup_printf("/virtio-mmio@%016" G_GINT64_MODIFIER "x", base) : NULL;
}

static bool microvm_save_state(Machine *m, GByteArray *out, GError **err)
{
    return microvm_virtio_save(state(m)->virtio, out, err);
}

static bool microvm_load_state(Machine *m, const uint8_t *buf, size_t len, GError **err)
{
    return microvm_virtio_load(state(m)->virtio, buf, len, err);
}

const MachineClass microvm_machine_class = {
    .name = "microvm",
    .description = "microvm (i386)",
    .qom_type = "microvm-machine",
    .is_default = true,
    .max_cpus = 254,
    .default_ram_id = "microvm.ram",
    .has_cpu_slots = true,
    .init = microvm_init,
    .destroy = microvm_destroy,
    .save_state = microvm_save_state,
    .load_state = microvm_load_state,
    .reset = microvm_reset,
    .pre_plug = microvm_pre_plug,
    .plug = microvm_plug,
    .unplug = microvm_unplug,
    .unplug_request = microvm_unplug_request,
    .fw_dev_path = microvm_fw_dev_path,
};
