/*
 * The device model: device types, their typed properties, device instances
 * owned by the machine, and machine classes (docs/devices.md).
 *
 * A device type is one `const DeviceClass` in one file under src/hw/<family>/,
 * named `<sym>_device_class`, and one line in src/hw/meson.build's
 * `device_types` list; the build turns that list into the registry below, so
 * the registry is constant data (no registration-time mutable globals, no
 * inheritance tree). Every way of making a device goes through
 * device_create(): -device, device_add, board-internal devices, and later
 * snapshots; device-list-properties, qom-*, info qtree read the same tables.
 *
 * A device instance embeds `Device` as its first member (instance_size says
 * how big the whole struct is); property values live in that struct at the
 * offsets the property table gives, so realize() reads plain C fields.
 *
 * Locking: all of it runs on the main thread with the machine lock held.
 */
#ifndef STRATUS_DEVICE_H
#define STRATUS_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "machine.h"

typedef struct Device Device;
typedef struct DeviceClass DeviceClass;
typedef struct VMStateDescription VMStateDescription;   /* migration/vmstate.h */
struct PciDevice;                                       /* hw/pci/pci.h */
struct PciPlacement;

/* ---- properties ---------------------------------------------------------- */

typedef enum {
    PROP_STR,        /* char* (g_free'd); "str" */
    PROP_BOOL,       /* bool; on/off yes/no true/false; "bool" */
    PROP_U8,         /* uint8_t; "uint8" */
    PROP_U16,        /* uint16_t; "uint16" */
    PROP_U32,        /* uint32_t; "uint32" */
    PROP_U64,        /* uint64_t; "uint64" */
    PROP_SIZE,       /* uint64_t, accepts 4K/1M/2G suffixes; "size" */
    PROP_I32,        /* int32_t, a '-' sign allowed; "int32" */
} PropType;

typedef struct Property {
    const char *name;
    PropType type;
    size_t offset;             /* into the instance struct */
    const char *defval;        /* default as command-line text; NULL = none/0/false */
    const char *description;   /* device-list-properties "description" */
    /* Integers: inclusive limits unless both are 0 (then the type's range). */
    uint64_t min, max;
    /*
     * device-list-properties shows no default-value (defval still applies):
     * QEMU adds such properties (bootindex) outside its qdev tables.
     */
    bool hide_default;
} Property;

#define DEFINE_PROP(_name, _type, _state, _field, _def, _desc) \
    { .name = (_name), .type = (_type), .offset = offsetof(_state, _field), \
      .defval = (_def), .description = (_desc) }
#define DEFINE_PROP_RANGE(_name, _type, _state, _field, _def, _min, _max, _desc) \
    { .name = (_name), .type = (_type), .offset = offsetof(_state, _field), \
      .defval = (_def), .description = (_desc), .min = (_min), .max = (_max) }
/* QEMU's "bootindex" (int32, -1 = none, no default or description listed). */
#define DEFINE_PROP_BOOTINDEX(_state, _field) \
    { .name = "bootindex", .type = PROP_I32, .offset = offsetof(_state, _field), \
      .defval = "-1", .hide_default = true }
#define DEFINE_PROP_END { .name = NULL }

/* QEMU's property type names ("str", "bool", "uint32", "size", ...). */
const char *prop_type_name(PropType t);

/* ---- device classes ------------------------------------------------------ */

/* What a device plugs into; the machine class decides where that is. */
typedef enum {
    DEVICE_BUS_NONE,     /* board-internal or sysbus: placed by the machine */
    DEVICE_BUS_ISA,      /* fixed I/O ports and an ISA IRQ */
    DEVICE_BUS_VIRTIO,   /* a virtio transport (virtio-mmio on microvm) */
    DEVICE_BUS_VIRTIO_SERIAL,   /* a port of the virtio-serial device (it checks bus=) */
    DEVICE_BUS_PCI,      /* a PCI function (q35: bus= names pcie.0, addr=slot[.fn]) */
} DeviceBusType;

struct DeviceClass {
    const char *name;                  /* "virtio-blk-device" */
    const char *const *aliases;        /* NULL-terminated, e.g. "virtio-blk-mmio" */
    const char *parent;                /* QOM-shaped parent for qom-list-types */
    const char *description;
    DeviceBusType bus;
    size_t instance_size;              /* >= sizeof(Device), Device first */
    const Property *props;             /* terminated by DEFINE_PROP_END; may be NULL */
    bool user_creatable;               /* -device / device_add allowed */
    bool hotpluggable;                 /* device_add / device_del while running */
    unsigned seccomp_needs;            /* SeccompNeeds (os/seccomp.h) beyond the base lists */

    /*
     * Acquire resources (ports, IRQs, back ends) from the property values;
     * on failure release what was taken and set *err (the instance is then
     * freed without unrealize).
     */
    bool (*realize)(Device *d, GError **err);
    void (*unrealize)(Device *d);      /* optional: undo realize */
    void (*reset)(Device *d);          /* optional: system_reset */
    /*
     * DEVICE_BUS_VIRTIO types that are not a board's replaceable slot: the
     * VirtioDevice realize created (owned by the device). The machine puts
     * it on a transport of its own (microvm: the next virtio-mmio window
     * after the slots) and takes the transport away at unplug.
     */
    struct VirtioDevice *(*virtio_device)(Device *d);
    /* DEVICE_BUS_PCI virtio types: the function's class code (base << 16 | sub << 8). */
    uint32_t pci_class;
    /*
     * DEVICE_BUS_PCI types that are not virtio (bridges, passthrough): the
     * function realize built, which the machine plugs where `at` says.
     */
    struct PciDevice *(*pci_function)(Device *d, const struct PciPlacement *at);
    /*
     * Types with a "bootindex" property (DEFINE_PROP_BOOTINDEX): what QEMU
     * appends to the device's firmware path in fw_cfg "bootorder" (the
     * disk or PHY below the controller), e.g. "/disk@0,0" (hw/bootorder.h).
     */
    const char *boot_suffix;
    /* Guest-visible state for snapshots (migration/vmstate.h); NULL = none. */
    const VMStateDescription *vmsd;
    /* The state struct vmsd describes, when it is not the instance itself. */
    void *(*vmstate_opaque)(Device *d);
    /*
     * Why this instance cannot migrate now (a configuration whose guest
     * writes the dirty log cannot see), or NULL. Optional; vmsd->unmigratable
     * blocks every instance of a type instead.
     */
    const char *(*migration_blocker)(Device *d);
};

/* ---- device instances ---------------------------------------------------- */

struct Device {
    const DeviceClass *klass;
    Machine *machine;
    char *id;                  /* NULL for anonymous devices */
    char *qom_path;            /* /machine/peripheral/ID, .../peripheral-anon/device[N],
                                  /machine/unattached/device[N] */
    char *bus;                 /* "bus=" as given, or NULL */
    char *addr;                /* "addr=" as given (board-specific), or NULL */
    bool user_created;         /* -device or device_add (peripheral containers) */
    bool hotplugged;           /* device_add: StratoVirt's error texts differ */
    bool realized;
    void *machine_data;        /* the machine class's placement bookkeeping */
};

/* Registry lookups (name or alias). NULL if unknown. */
const DeviceClass *device_class_find(const char *name);
/* Every registered class, in registration order (NULL-terminated array). */
const DeviceClass *const *device_class_all(void);

/* A property value to apply: text (command line) or JSON (QMP). */
typedef struct DevicePropValue {
    const char *name;
    const char *text;          /* set for command-line values */
    JsonNode *json;            /* set for QMP values */
} DevicePropValue;

/*
 * The one way to create a device: looks the driver up, fills defaults,
 * applies the values (unknown property / wrong type -> QEMU's texts), checks
 * the id, asks the machine class to place it, realizes it and adds it to the
 * machine's device list. `user` selects the peripheral containers and the
 * user_creatable check; `hotplug` (device_add on a running machine) the
 * hotpluggable check. Errors:
 *   "'foo' is not a valid device model name"
 *   "Property 'virtio-blk-device.foo' not found"
 *   "Parameter 'num-queues' expects uint32_t" (text), "Invalid parameter type
 *   for 'serial', expected: string" (JSON)
 *   "x is already registered." (StratoVirt's duplicate-id text)
 *   "Parameter 'id' expects an identifier" (QEMU's id_wellformed(): a letter,
 *   then letters, digits, '-', '.', '_'; the id is a QOM path component)
 */
typedef struct DeviceCreateArgs {
    const char *driver;
    const char *id;            /* NULL = anonymous */
    const char *bus;
    const char *addr;
    const DevicePropValue *props;
    unsigned n_props;
    bool user;
    bool hotplug;
} DeviceCreateArgs;
Device *device_create(Machine *m, const DeviceCreateArgs *a, GError **err);

/* Unplug hook + unrealize + removal from the machine + free. */
void device_destroy(Device *d);

/* Machine teardown (newest first) and system_reset (oldest first). */
void machine_destroy_devices(Machine *m);
void machine_reset_devices(Machine *m);

/* Machine device list (ordered by creation). */
Device *machine_find_device(Machine *m, const char *id);          /* by id */
Device *machine_find_device_path(Machine *m, const char *path);
/* How QMP names a device to users: its id, else its QOM path. */
static inline const char *device_name(const Device *d)
{
    return d->id ? d->id : d->qom_path;
}   /* QOM path or id */
GPtrArray *machine_devices(Machine *m);                           /* Device*, borrowed */

/*
 * A device's guest-visible state (klass->vmsd, migration/vmstate.h): save
 * appends one section; load reads exactly one section into the realized
 * device (a stream for another type, a newer version, a truncated or
 * over-long one are refused with the encoder's error, the device unchanged
 * by a refused stream only as far as its post_load hook guarantees).
 * Devices without a description save nothing and load only an empty input.
 */
bool device_save_state(Device *d, GByteArray *out, GError **err);
bool device_load_state(Device *d, const uint8_t *buf, size_t len, GError **err);
/*
 * QEMU's migration blocker: false with "State blocked by non-migratable
 * device '<qom path>/<section>'" when the device's description is
 * unmigratable (its state can never be saved), so migrate refuses before
 * it pauses or copies anything.
 */
bool device_migratable(const Device *d, GError **err);

/* Property access for qom-get, info qtree and tests. */
const Property *device_class_find_prop(const DeviceClass *dc, const char *name);
JsonNode *device_prop_get_json(const Device *d, const Property *p);
char *device_prop_get_text(const Device *d, const Property *p);    /* "on", "4096", ... */

/* [ObjectPropertyInfo] for device-list-properties. */
JsonNode *device_class_properties_json(const DeviceClass *dc);

/* Command-line "-device driver,key=value,..." (an OptList) -> device_create. */
typedef struct OptList OptList;
Device *device_create_from_opts(Machine *m, const OptList *l, GError **err);
/*
 * Every -device in command-line order; machine classes call it from init at
 * the point their buses exist (microvm: after the slots, before the kernel
 * command line is built).
 */
bool machine_create_cli_devices(Machine *m, GError **err);

/* ---- machine classes ----------------------------------------------------- */

typedef struct MachineClass {
    const char *name;                  /* "microvm" */
    const char *const *aliases;
    const char *description;           /* -machine help / query-machines */
    const char *qom_type;              /* "microvm-machine" */
    bool is_default;
    unsigned max_cpus;
    /* The RAM backend's id (query-memdev), QEMU's default_ram_id. */
    const char *default_ram_id;
    /*
     * query-hotpluggable-cpus answers (StratoVirt's microvm lists its CPU
     * slots); without, QEMU's "The feature ... is not enabled".
     */
    bool has_cpu_slots;
    /* A guest reset request restarts the guest (else it ends the VM); -action reboot= wins. */
    bool guest_reset_resets;
    /* Build RAM, board devices, -device devices, load the kernel, create vCPUs. */
    bool (*init)(Machine *m, GError **err);
    void (*destroy)(Machine *m);
    /* Board part of system_reset, after every device's reset. */
    void (*reset)(Machine *m);
    /*
     * Before realize (properties set, nothing acquired): refuse what the
     * machine cannot take — an unknown bus=, a hot-plug of a type it cannot
     * hot-plug — so a refused device never touches ports or back ends.
     */
    bool (*pre_plug)(Machine *m, Device *d, GError **err);
    /*
     * After realize: place the device (addr= or the next free slot);
     * unplug undoes it.
     */
    bool (*plug)(Machine *m, Device *d, GError **err);
    void (*unplug)(Machine *m, Device *d);
    /*
     * device_del: either completes at once (returns true and the caller
     * destroys the device and emits DEVICE_DELETED) or starts a guest-
     * cooperative unplug (returns true with *pending set).
     */
    bool (*unplug_request)(Machine *m, Device *d, bool *pending, GError **err);
    /*
     * Snapshots (migration/migration.h): the board's guest-visible state
     * that no registered device holds (microvm: the virtio-mmio transports
     * and the replaceable slots), as vmstate sections appended to out;
     * load reads back exactly what save wrote on the same command line.
     * NULL: nothing to save.
     */
    bool (*save_state)(Machine *m, GByteArray *out, GError **err);
    bool (*load_state)(Machine *m, const uint8_t *buf, size_t len, GError **err);
    /* The PCI host (hw/pci/pci-host.h) for query-pci and lspci-like views; NULL: no PCI. */
    struct PciHost *(*pci_host)(Machine *m);
    /*
     * The OpenFirmware-style path QEMU's firmware reads for a placed device
     * (fw_cfg "bootorder", hw/bootorder.h), e.g. "/pci@i0cf8/scsi@1", newly
     * allocated; NULL when the device has none (not placed, no transport).
     */
    char *(*fw_dev_path)(Machine *m, const Device *d);
} MachineClass;

const MachineClass *machine_class_find(const char *name);
const MachineClass *const *machine_class_all(void);

#endif
