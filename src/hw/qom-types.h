/*
 * The QOM-shaped type hierarchy that QMP shows (qom-list-types, the parent
 * chains `implements` follows, the abstract bases device-list-properties
 * refuses): the device and machine registries of hw/device.h plus the few
 * types that have no class of their own here (QEMU's abstract bases, the CPU,
 * the container). One table, read by every QOM view, so a type named as a
 * parent anywhere is also listed.
 */
#ifndef STRATUS_QOM_TYPES_H
#define STRATUS_QOM_TYPES_H

#include <stdbool.h>
#include <glib.h>

#include "hw/device.h"

/* What /machine/unattached/device[N] for a vCPU is (query-hotpluggable-cpus "type"). */
#define QOM_TYPE_CPU "host-x86-cpu"
#define QOM_TYPE_CONTAINER "container"

typedef struct QomType {
    const char *name;
    const char *parent;          /* NULL only for the root, "object" */
    bool abstract;
    const DeviceClass *dc;       /* set for registered device types */
    const MachineClass *mc;      /* set for registered machine types */
} QomType;

/*
 * Looks a type up by its QOM name (device aliases are not QOM names). False
 * if there is no such type.
 */
bool qom_type_find(const char *name, QomType *out);

/* The parent of a known type; NULL for "object" and for unknown names. */
const char *qom_type_parent(const char *name);

/* `name` is `ancestor` or descends from it (QEMU's object_class_dynamic_cast). */
bool qom_type_implements(const char *name, const char *ancestor);

/*
 * Every type, in a stable order: device types (registry order), machine
 * types, the CPU and container, then the abstract bases that some listed type
 * descends from. Returns a GArray of QomType; the caller frees it.
 */
GArray *qom_types_all(void);

/*
 * The class device-list-properties and `-device DRIVER,help` describe: a
 * device type, by name or alias (StratoVirt users type virtio-blk-mmio;
 * QEMU would only take QOM names). Otherwise NULL and QEMU's errors:
 * unknown -> STRATUS_ERROR_DEVICE_NOT_FOUND "Device 'foo' not found"; a type
 * that is not a concrete device -> "Parameter 'typename' expects a
 * non-abstract device type".
 */
const DeviceClass *qom_device_type_lookup(const char *name, GError **err);

/* The QOM type of a machine class ("microvm-machine"). */
const char *qom_machine_type_name(const MachineClass *mc);

#endif
