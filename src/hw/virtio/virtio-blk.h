/*
 * virtio-blk (virtio 1.2 §5.2) on top of the block layer. One request queue.
 * The backend can be absent (an empty microvm slot: capacity 0, I/O fails
 * with IOERR) and replaced at run time (config-change interrupt).
 */
#ifndef STRATUS_VIRTIO_BLK_H
#define STRATUS_VIRTIO_BLK_H

#include "block/block.h"
#include "hw/virtio/virtio.h"

#define VIRTIO_BLK_F_SIZE_MAX      1
#define VIRTIO_BLK_F_SEG_MAX       2
#define VIRTIO_BLK_F_GEOMETRY      4
#define VIRTIO_BLK_F_RO            5
#define VIRTIO_BLK_F_BLK_SIZE      6
#define VIRTIO_BLK_F_FLUSH         9
#define VIRTIO_BLK_F_TOPOLOGY      10
#define VIRTIO_BLK_F_CONFIG_WCE    11
#define VIRTIO_BLK_F_MQ            12
#define VIRTIO_BLK_F_DISCARD       13
#define VIRTIO_BLK_F_WRITE_ZEROES  14

#define VIRTIO_BLK_T_IN            0
#define VIRTIO_BLK_T_OUT           1
#define VIRTIO_BLK_T_FLUSH         4
#define VIRTIO_BLK_T_GET_ID        8
#define VIRTIO_BLK_T_DISCARD       11
#define VIRTIO_BLK_T_WRITE_ZEROES  13

#define VIRTIO_BLK_S_OK            0
#define VIRTIO_BLK_S_IOERR         1
#define VIRTIO_BLK_S_UNSUPP        2

#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

/* struct virtio_blk_config offsets */
#define VIRTIO_BLK_CFG_CAPACITY              0
#define VIRTIO_BLK_CFG_SIZE_MAX              8
#define VIRTIO_BLK_CFG_SEG_MAX               12
#define VIRTIO_BLK_CFG_BLK_SIZE              20
#define VIRTIO_BLK_CFG_NUM_QUEUES            34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS   36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG       40
#define VIRTIO_BLK_CFG_DISCARD_ALIGNMENT     44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS        48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG            52
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP          56
#define VIRTIO_BLK_CFG_SIZE                  60

#define VIRTIO_BLK_QUEUE_SIZE      256
#define VIRTIO_BLK_SEG_MAX         (VIRTIO_BLK_QUEUE_SIZE - 2)
#define VIRTIO_BLK_ID_BYTES        20
#define VIRTIO_BLK_MAX_DISCARD_SECTORS  0x3fffffu
#define VIRTIO_BLK_MAX_DISCARD_SEG      16

typedef struct VirtioBlk VirtioBlk;

/*
 * bb may be NULL (empty). hotswap: the backend can change later, so the
 * feature set is the superset (DISCARD and WRITE_ZEROES always offered;
 * requests a later backend cannot do degrade as documented in docs/block.md).
 * The device takes a reference on bb and attaches it (block_attach) to `id`.
 * serial: NULL or at most 20 characters.
 */
VirtioBlk *virtio_blk_new(Machine *m, const char *id, BlockBackend *bb, const char *serial,
                          bool hotswap, GError **err);
VirtioDevice *virtio_blk_vdev(VirtioBlk *blk);
BlockBackend *virtio_blk_backend(VirtioBlk *blk);
const char *virtio_blk_serial(VirtioBlk *blk);
/*
 * Inserts a backend into an empty device (owner becomes `id`); updates
 * capacity and raises a config-change interrupt.
 */
bool virtio_blk_set_backend(VirtioBlk *blk, const char *id, BlockBackend *bb,
                            const char *serial, GError **err);
/* Drains in-flight requests, detaches and drops the backend; capacity 0. */
void virtio_blk_clear_backend(VirtioBlk *blk);
bool virtio_blk_check_serial(const char *serial, GError **err);

/*
 * The registered device type "virtio-blk-device" (alias virtio-blk-mmio).
 * The machine's plug hook reads the resolved backend and serial of an
 * instance; both return NULL for a device of another type.
 */
#include "hw/device.h"
extern const DeviceClass virtio_blk_device_class;
extern const DeviceClass virtio_blk_pci_device_class;
BlockBackend *virtio_blk_device_backend(Device *d);
const char *virtio_blk_device_serial(Device *d);

#include "migration/vmstate.h"
/* The device with its virtio core; opaque is the VirtioBlk. */
extern const VMStateDescription vmstate_virtio_blk;

#endif
