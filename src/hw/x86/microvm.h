/*
 * The microvm board (x86_64), StratoVirt's layout (stratovirt-reference.md §2.8):
 * RAM below 3 GiB then from 4 GiB, COM1, the PM/i8042 power block, direct
 * Linux boot. No PCI, no ACPI, no firmware.
 */
#ifndef STRATUS_MICROVM_H
#define STRATUS_MICROVM_H

#include "machine.h"

#define MICROVM_LOW_RAM_LIMIT 0xC0000000ULL
#define MICROVM_IOAPIC_ADDR   0xFEC00000ULL

bool microvm_init(Machine *m, GError **err);
void microvm_destroy(Machine *m);

/*
 * virtio-mmio on microvm (src/hw/x86/microvm-virtio.c): creates the fixed
 * block/net slots and the -device virtio devices, and returns the
 * "virtio_mmio.device=512@0x...:IRQ ..." parameters for the kernel command line
 * (g_free'd by the caller; NULL or "" when there are none).
 */
bool microvm_virtio_init(Machine *m, char **cmdline_params, GError **err);
void microvm_virtio_destroy(Machine *m);

/* ---- virtio-mmio slots (src/hw/x86/microvm-virtio.c, docs/block.md) ---- */
#include "block/block.h"

typedef struct VirtioDevice VirtioDevice;

#define MICROVM_VIRTIO_BASE      0xF0100000ULL
#define MICROVM_VIRTIO_STRIDE    0x200
#define MICROVM_VIRTIO_IRQ_BASE  5
#define MICROVM_VIRTIO_IRQ_MAX   15
#define MICROVM_BLK_SLOTS        6      /* slots 0..5, IRQs 5..10 */
#define MICROVM_NET_SLOTS        2      /* slots 6..7, IRQs 11..12 */

/*
 * A non-replaceable virtio device on its own transport after the slots
 * (called from microvm_virtio_init while parsing -device; takes ownership of
 * vdev). Fails with "IRQ number exhausted." after IRQ 15.
 */
bool microvm_virtio_add_device(Machine *m, VirtioDevice *vdev, GError **err);

/*
 * QMP back ends (main loop, machine lock held). Each returns false with a
 * GenericError-style message in *err.
 *
 * blockdev-add: opens, locks and registers the node (o->node_name). Errors:
 *   "Drive <n> has been added", "format 'qcow2' is not supported yet",
 *   "Failed to lock image file '<f>': another process holds it", open errors.
 */
bool microvm_blockdev_add(Machine *m, const BlockOptions *o, GError **err);
/*
 * blockdev-del (QEMU semantics; StratoVirt answers "blockdev_del not support
 * yet", the QMP layer may keep that text): removes an unattached node.
 *   "Failed to find node with node-name='<n>'", "Node <n> is in use"
 */
bool microvm_blockdev_del(Machine *m, const char *node_name, GError **err);

typedef struct MicrovmDeviceAddArgs {
    const char *id;        /* required */
    const char *driver;    /* contains "blk" or "net" */
    const char *addr;      /* "0x<slot>" hex, relative slot; or NULL */
    bool has_lun;
    uint64_t lun;          /* slot = lun + 1 when addr is absent */
    const char *drive;     /* node name; NULL = id (StratoVirt matches by id) */
    const char *serial;    /* optional, <= 20 chars */
} MicrovmDeviceAddArgs;
/*
 * device_add on microvm = hot-replace: puts the node into block slot `addr`
 * and raises a config-change interrupt. Errors (StratoVirt texts):
 *   "Failed to find device configuration." (no such node),
 *   "Unsupported replaceable device type.",
 *   "A maximum of 6 block replaceable devices are supported." (slot >= 6),
 *   "The slot <n> is occupied already.", "<id> is already registered.",
 *   "Invalid addr for device <id>", "Drive '<n>' is already in use by '<dev>'".
 * Net slots answer "virtio-net is not supported yet" until virtio-net exists.
 */
bool microvm_device_add(Machine *m, const MicrovmDeviceAddArgs *a, GError **err);
/*
 * device_del: empties the slot holding device `id` (in-flight I/O drained,
 * config-change interrupt), unregisters its node (closing the image when
 * nothing else holds it) and EMITS DEVICE_DELETED {"device":id,"path":id}
 * itself, before returning (StratoVirt order). An unattached node named `id`
 * is removed the same way. Error: "Device <id> not found".
 */
bool microvm_device_del(Machine *m, const char *id, GError **err);
/* query-block: [BlockInfo] for the block slots that hold a disk and unused -drives. */
JsonNode *microvm_query_block(Machine *m);
/* query-named-block-nodes: [BlockDeviceInfo] for every node. */
JsonNode *microvm_query_named_block_nodes(Machine *m);
/* Tests/QMP: the device in block slot i (0..5), NULL if out of range. */
VirtioDevice *microvm_blk_slot_device(Machine *m, unsigned slot);

#endif
