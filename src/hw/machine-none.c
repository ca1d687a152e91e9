/*
 * The "none" machine (QEMU's -machine none): no RAM unless -m asks for it, no
 * CPUs, no devices. libqtest's helpers (qtest_has_machine, qtest_has_device)
 * and many of QEMU's tests start one just to talk QMP and qtest to the VMM.
 */
#include "hw/device.h"
#include "accel/accel.h"
#include "util/strutil.h"

/* QEMU's bus names, for its "No '<bus>' bus found" text. */
static const char *bus_name(DeviceBusType bus)
{
    switch (bus) {
    case DEVICE_BUS_ISA: return "ISA";
    case DEVICE_BUS_VIRTIO: return "virtio-bus";
    case DEVICE_BUS_VIRTIO_SERIAL: return "virtio-serial-bus";
    case DEVICE_BUS_PCI: return "PCI";
    default: return "System";
    }
}

/*
 * RAM only when -m was given explicitly (QEMU: ram_size 0 by default), so
 * qtest memory accesses have somewhere to go when a test wants them.
 */
static bool none_init(Machine *m, GError **err)
{
    const StratusConfig *cfg = m->cfg;

    if (cfg->mem_size_given &&
        (!guest_ram_init(&m->ram, cfg->mem_size, cfg->mem_size, cfg->mem_share,
                         cfg->dump_guest_core, err) ||
         !m->accel_ops->map_ram(m, err))) {
        return false;
    }
    /* Refused one by one by pre_plug, with QEMU's text. */
    return machine_create_cli_devices(m, err);
}

static bool none_pre_plug(Machine *m, Device *d, GError **err)
{
    (void)m;
    set_error(err, "No '%s' bus found for device '%s'", bus_name(d->klass->bus),
              d->klass->name);
    return false;
}

const MachineClass none_machine_class = {
    .name = "none",
    .description = "empty machine",
    .qom_type = "none-machine",
    .max_cpus = 1,
    .default_ram_id = "ram",
    .init = none_init,
    .pre_plug = none_pre_plug,
};
