/*
 * The QOM type hierarchy shown over QMP (hw/qom-types.h). Registered device
 * and machine classes come from the registry; everything else QEMU's tools
 * expect to find as a parent lives in the one table below.
 */
#include <string.h>

#include "hw/qom-types.h"
#include "util/strutil.h"

/*
 * Types without a class in the registry. The abstract ones are QEMU's names
 * for the bases our classes name as parents, so `implements: "device"` (what
 * libqtest's qtest_has_device asks) reaches every device type. The CPU chain
 * follows QEMU's (host CPU -> x86_64-cpu -> cpu -> device), cut to the types
 * a client can meet: the vCPUs in /machine/unattached are host-x86-cpu.
 */
static const QomType fixed_types[] = {
    { QOM_TYPE_CPU, "x86_64-cpu", false },
    { QOM_TYPE_CONTAINER, "object", false },
    { "object", NULL, true },
    { "device", "object", true },
    { "sys-bus-device", "device", true },
    { "isa-device", "device", true },
    { "fw_cfg", "sys-bus-device", true },
    { "virtio-device", "device", true },
    { "virtio-serial-port", "device", true },
    { "pci-device", "device", true },
    { "virtio-pci", "pci-device", true },
    { "base-pci-bridge", "pci-device", true },
    { "pcie-port", "base-pci-bridge", true },
    { "pcie-root-port-base", "pcie-port", true },
    { "cpu", "device", true },
    { "x86_64-cpu", "cpu", true },
    { "machine", "object", true },
};

/*
 * A parent chain longer than this means the table has a loop; the lookups
 * stop rather than spin (the unit test checks every chain ends at "object").
 */
#define QOM_MAX_DEPTH 16

/* A class that leaves `parent` unset still sits under its bus's base type. */
static const char *device_parent(const DeviceClass *dc)
{
    if (dc->parent) {
        return dc->parent;
    }
    switch (dc->bus) {
    case DEVICE_BUS_ISA:
        return "isa-device";
    case DEVICE_BUS_VIRTIO:
        return "virtio-device";
    case DEVICE_BUS_VIRTIO_SERIAL:
        return "virtio-serial-port";
    case DEVICE_BUS_PCI:
        return "pci-device";
    case DEVICE_BUS_NONE:
        break;
    }
    return "sys-bus-device";
}

const char *qom_machine_type_name(const MachineClass *mc)
{
    return mc->qom_type ? mc->qom_type : mc->name;
}

static QomType from_device(const DeviceClass *dc)
{
    return (QomType){ .name = dc->name, .parent = device_parent(dc), .dc = dc };
}

static QomType from_machine(const MachineClass *mc)
{
    return (QomType){ .name = qom_machine_type_name(mc), .parent = "machine", .mc = mc };
}

bool qom_type_find(const char *name, QomType *out)
{
    if (!name) {
        return false;
    }
    for (const DeviceClass *const *dc = device_class_all(); *dc; dc++) {
        if (!strcmp((*dc)->name, name)) {
            *out = from_device(*dc);
            return true;
        }
    }
    for (const MachineClass *const *mc = machine_class_all(); *mc; mc++) {
        if (!strcmp(qom_machine_type_name(*mc), name)) {
            *out = from_machine(*mc);
            return true;
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(fixed_types); i++) {
        if (!strcmp(fixed_types[i].name, name)) {
            *out = fixed_types[i];
            return true;
        }
    }
    return false;
}

const char *qom_type_parent(const char *name)
{
    QomType t;

    return qom_type_find(name, &t) ? t.parent : NULL;
}

bool qom_type_implements(const char *name, const char *ancestor)
{
    QomType t;

    /* Unknown names implement nothing, not even themselves (QEMU). */
    if (!qom_type_find(name, &t)) {
        return false;
    }
    for (int depth = 0; depth < QOM_MAX_DEPTH && name; depth++) {
        if (!strcmp(name, ancestor)) {
            return true;
        }
        name = qom_type_parent(name);
    }
    return false;
}

static bool listed(GArray *a, const char *name)
{
    for (guint i = 0; i < a->len; i++) {
        if (!strcmp(g_array_index(a, QomType, i).name, name)) {
            return true;
        }
    }
    return false;
}

GArray *qom_types_all(void)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(QomType));
    guint n_concrete;

    for (const DeviceClass *const *dc = device_class_all(); *dc; dc++) {
        QomType t = from_device(*dc);
        g_array_append_val(a, t);
    }
    for (const MachineClass *const *mc = machine_class_all(); *mc; mc++) {
        QomType t = from_machine(*mc);
        g_array_append_val(a, t);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(fixed_types); i++) {
        if (!fixed_types[i].abstract) {
            g_array_append_val(a, fixed_types[i]);
        }
    }
    /*
     * Only the bases something descends from: a base no class uses (no ISA
     * device registered, say) would be a type nothing implements.
     */
    n_concrete = a->len;
    for (size_t i = 0; i < G_N_ELEMENTS(fixed_types); i++) {
        const QomType *base = &fixed_types[i];
        if (!base->abstract) {
            continue;
        }
        for (guint j = 0; j < n_concrete; j++) {
            const char *name = g_array_index(a, QomType, j).name;
            if (strcmp(name, base->name) && qom_type_implements(name, base->name) &&
                !listed(a, base->name)) {
                g_array_append_val(a, *base);
                break;
            }
        }
    }
    return a;
}

const DeviceClass *qom_device_type_lookup(const char *name, GError **err)
{
    const DeviceClass *dc = device_class_find(name);
    QomType t;

    if (dc) {
        return dc;
    }
    if (!qom_type_find(name, &t)) {
        g_set_error(err, STRATUS_ERROR, STRATUS_ERROR_DEVICE_NOT_FOUND,
                    "Device '%s' not found", name);
    } else {
        /* An abstract base, a machine, the CPU or the container. */
        set_error(err, "Parameter 'typename' expects a non-abstract device type");
    }
    return NULL;
}
