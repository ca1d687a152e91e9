/*
 * A stand-in for the generated device registry of src/hw/device.c, for unit
 * tests that compile the QOM views (qmp-commands-qom.c, hw/qom-types.c,
 * hw/device-help.c) without the whole machine: one device type with a
 * property of every kind, one without properties, and the microvm machine
 * class (what /machine is when no machine was built). machine_devices() is
 * the fake Machine's own list.
 */
#include <string.h>

#include "qom-test-registry.h"

static const Property test_blk_props[] = {
    DEFINE_PROP("serial", PROP_STR, TestBlk, serial, NULL, "Serial number"),
    DEFINE_PROP("drive", PROP_STR, TestBlk, drive, "none", NULL),
    DEFINE_PROP("ioeventfd", PROP_BOOL, TestBlk, ioeventfd, "on", "Use ioeventfd"),
    DEFINE_PROP("prio", PROP_U8, TestBlk, prio, "7", NULL),
    DEFINE_PROP("port", PROP_U16, TestBlk, port, "0x505", NULL),
    DEFINE_PROP_RANGE("num-queues", PROP_U32, TestBlk, num_queues, "1", 1, 32,
                      "Number of request queues"),
    DEFINE_PROP("features", PROP_U64, TestBlk, features, NULL, NULL),
    DEFINE_PROP("logical-block-size", PROP_SIZE, TestBlk, block_size, "4K",
                "Logical block size"),
    DEFINE_PROP_END,
};

static const char *const test_blk_aliases[] = { "test-blk-mmio", NULL };

static const DeviceClass test_blk_device_class = {
    .name = "test-blk-device",
    .aliases = test_blk_aliases,
    .parent = "virtio-device",
    .description = "Test block device",
    .bus = DEVICE_BUS_VIRTIO,
    .instance_size = sizeof(TestBlk),
    .props = test_blk_props,
    .user_creatable = true,
    .hotpluggable = true,
};

/* No parent: qom-types falls back to the bus's base type. */
static const DeviceClass test_board_device_class = {
    .name = "test-board",
    .bus = DEVICE_BUS_ISA,
    .instance_size = sizeof(Device),
};

static const DeviceClass *const device_classes[] = {
    &test_blk_device_class, &test_board_device_class, NULL
};

static const MachineClass microvm_machine_class = {
    .name = "microvm",
    .qom_type = "microvm-machine",
    .is_default = true,
};

static const MachineClass *const machine_classes[] = { &microvm_machine_class, NULL };

const DeviceClass *const *device_class_all(void)
{
    return device_classes;
}

const DeviceClass *device_class_find(const char *name)
{
    for (const DeviceClass *const *dc = device_classes; name && *dc; dc++) {
        if (!strcmp((*dc)->name, name)) {
            return *dc;
        }
        for (const char *const *a = (*dc)->aliases; a && *a; a++) {
            if (!strcmp(*a, name)) {
                return *dc;
            }
        }
    }
    return NULL;
}

const MachineClass *const *machine_class_all(void)
{
    return machine_classes;
}

const MachineClass *machine_class_find(const char *name)
{
    return name && !strcmp(name, "microvm") ? &microvm_machine_class : NULL;
}

GPtrArray *machine_devices(Machine *m)
{
    return m->devices;
}
