/*
 * The transport-independent virtio device core (virtio 1.2, modern only):
 * feature negotiation, the device status state machine, the config space
 * image, queues and interrupts. Transports (virtio-mmio now, PCI later) map
 * their registers onto these calls; devices (blk, net, rng, ...) fill in a
 * VirtioDeviceClass and embed a VirtioDevice.
 *
 * Locking: everything runs with the machine lock held (vCPU MMIO dispatch or
 * main-loop callbacks), see machine.h.
 */
#ifndef STRATUS_VIRTIO_H
#define STRATUS_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "machine.h"
#include "hw/virtio/virtqueue.h"

/* Device status (§2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE  0x01
#define VIRTIO_STATUS_DRIVER       0x02
#define VIRTIO_STATUS_DRIVER_OK    0x04
#define VIRTIO_STATUS_FEATURES_OK  0x08
#define VIRTIO_STATUS_NEEDS_RESET  0x40
#define VIRTIO_STATUS_FAILED       0x80

/* Reserved feature bits (§6) */
#define VIRTIO_F_INDIRECT_DESC     28
#define VIRTIO_F_EVENT_IDX         29
#define VIRTIO_F_VERSION_1         32

/* Interrupt status bits (MMIO InterruptStatus, PCI ISR) */
#define VIRTIO_INT_VRING   0x1
#define VIRTIO_INT_CONFIG  0x2

/* Device IDs (§5) */
#define VIRTIO_ID_NET      1
#define VIRTIO_ID_BLOCK    2
#define VIRTIO_ID_CONSOLE  3
#define VIRTIO_ID_RNG      4
#define VIRTIO_ID_BALLOON  5

#define VIRTIO_BIT(b) (1ULL << (b))

typedef struct VirtioDevice VirtioDevice;

typedef struct VirtioDeviceClass {
    const char *name;                 /* "virtio-blk", for messages */
    uint32_t device_id;
    /* The driver kicked queue `index` (ready, DRIVER_OK, not broken). */
    void (*queue_notify)(VirtioDevice *vdev, unsigned index);
    /* The driver wrote config bytes (already stored in vdev->config). Optional. */
    void (*config_write)(VirtioDevice *vdev, uint32_t offset, unsigned len);
    /* DRIVER_OK was just set. Optional. */
    void (*driver_ok)(VirtioDevice *vdev);
    /* Device reset, before the queues are reset: finish in-flight work. Optional. */
    void (*reset)(VirtioDevice *vdev);
    /* Free the device (it calls virtio_device_cleanup). */
    void (*free)(VirtioDevice *vdev);
} VirtioDeviceClass;

/* What a transport provides to the core. */
typedef struct VirtioTransportOps {
    /* Deliver an interrupt; vdev->isr already has the cause bit(s) set. */
    void (*notify)(void *opaque, uint32_t cause);
    /* The queue the driver selected last (introspection). Optional. */
    uint32_t (*queue_sel)(void *opaque);
    /*
     * Optional: a used-buffer interrupt for queue `index` (vdev->isr has
     * the VRING bit set); without it notify(VRING) is called.
     */
    void (*notify_queue)(void *opaque, unsigned index);
    /* Optional: vdev->nvqs changed (virtio_device_set_num_queues). */
    void (*queues_changed)(void *opaque);
    /*
     * Optional: the device's saved state was just loaded (its queues'
     * enables with it), after the transport's own (boards load first).
     */
    void (*loaded)(void *opaque);
} VirtioTransportOps;

struct VirtioDevice {
    const VirtioDeviceClass *klass;
    Machine *machine;
    char *id;
    uint64_t host_features;
    uint64_t guest_features;
    uint8_t status;
    uint32_t isr;
    uint32_t config_generation;
    uint8_t *config;
    uint32_t config_len;
    VirtQueue *vqs;
    unsigned nvqs;
    bool broken;                      /* NEEDS_RESET until the next reset */
    const VirtioTransportOps *transport;
    void *transport_opaque;
};

/* VERSION_1 is always added to host_features. */
void virtio_device_init(VirtioDevice *vdev, const VirtioDeviceClass *klass, Machine *m,
                        const char *id, uint64_t host_features, unsigned nvqs,
                        uint16_t queue_max, uint32_t config_len);
void virtio_device_cleanup(VirtioDevice *vdev);
/*
 * A device whose queue count follows its configuration (virtio-net's pairs):
 * only in the reset state (status 0), when no driver can hold a queue.
 * false (nothing changed) otherwise.
 */
bool virtio_device_set_num_queues(VirtioDevice *vdev, unsigned nvqs, uint16_t queue_max);
void virtio_device_free(VirtioDevice *vdev);    /* klass->free */
void virtio_device_set_transport(VirtioDevice *vdev, const VirtioTransportOps *ops,
                                 void *opaque);

static inline bool virtio_has_feature(const VirtioDevice *vdev, unsigned bit)
{
    return vdev->guest_features & VIRTIO_BIT(bit);
}

/* Feature words (sel 0 = bits 0..31, 1 = 32..63, others 0). */
uint32_t virtio_device_features(const VirtioDevice *vdev, uint32_t sel);
/* Ignored once FEATURES_OK is set. */
void virtio_set_driver_features(VirtioDevice *vdev, uint32_t sel, uint32_t val);

/*
 * The driver writes the status register. 0 resets. FEATURES_OK is refused
 * (left clear) without VERSION_1 or with features the device did not offer;
 * DRIVER_OK is refused without FEATURES_OK; clearing bits is ignored.
 */
void virtio_set_status(VirtioDevice *vdev, uint8_t val);
void virtio_reset(VirtioDevice *vdev);

/* Config space accesses (little-endian image); out of range reads 0. */
uint64_t virtio_config_read(VirtioDevice *vdev, uint32_t offset, unsigned size);
void virtio_config_write(VirtioDevice *vdev, uint32_t offset, uint64_t val, unsigned size);
/* Device changed its config: bump the generation, interrupt if DRIVER_OK. */
void virtio_config_changed(VirtioDevice *vdev);
void virtio_config_set_le16(VirtioDevice *vdev, uint32_t offset, uint16_t v);
void virtio_config_set_le32(VirtioDevice *vdev, uint32_t offset, uint32_t v);
void virtio_config_set_le64(VirtioDevice *vdev, uint32_t offset, uint64_t v);

/* Driver enables queue n (transport QueueReady=1): invalid setup -> NEEDS_RESET. */
bool virtio_queue_enable(VirtioDevice *vdev, unsigned n);
/* A kick (ioeventfd or notify register write). Out-of-range n is ignored. */
void virtio_queue_notify(VirtioDevice *vdev, unsigned n);
/* After pushing used buffers: interrupt if the driver wants one. */
void virtio_notify(VirtioDevice *vdev, VirtQueue *vq);
/* Unconditional used-buffer interrupt. */
void virtio_notify_vring(VirtioDevice *vdev);

/*
 * The driver did something illegal: set NEEDS_RESET, raise a config
 * interrupt (if DRIVER_OK), log once, and stop processing queues until reset.
 */
void virtio_error(VirtioDevice *vdev, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#include "migration/vmstate.h"
/* Features, status, ISR, config image and queues (docs/migration.md). */
extern const VMStateDescription vmstate_virtio_device;

#endif
