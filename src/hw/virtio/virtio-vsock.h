/*
 * virtio-vsock (virtio 1.2 §5.10): what the two vsock device types share
 * (docs/devices-vsock.md). `vhost-vsock-device` (vhost-vsock.c) hands the
 * rings to the host kernel's /dev/vhost-vsock; `virtio-vsock-device`
 * (virtio-vsock.c) is a user-space back end that bridges guest streams to
 * unix sockets with Firecracker's hybrid convention.
 */
#ifndef STRATUS_VIRTIO_VSOCK_H
#define STRATUS_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "hw/device.h"

#define VIRTIO_ID_VSOCK 19

#define VSOCK_HOST_CID 2
/* StratoVirt's bounds: 3 <= guest-cid < u32::MAX. */
#define VSOCK_MIN_GUEST_CID 3ULL
#define VSOCK_MAX_GUEST_CID 4294967295ULL

/* Queues: rx (device -> driver), tx (driver -> device), event. */
#define VSOCK_QUEUE_RX 0
#define VSOCK_QUEUE_TX 1
#define VSOCK_QUEUE_EVENT 2
#define VSOCK_NUM_QUEUES 3
#define VSOCK_QUEUE_SIZE 256            /* StratoVirt's and Firecracker's */
#define VSOCK_CONFIG_SIZE 8             /* le64 guest_cid */

#define VSOCK_TYPE_STREAM 1
enum {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
};
#define VSOCK_SHUTDOWN_RCV 1            /* the sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2           /* the sender will send no more */
#define VSOCK_EVENT_TRANSPORT_RESET 0

/* The packet header (little-endian on the wire, 44 bytes). */
typedef struct __attribute__((packed)) VsockHdr {
    uint64_t src_cid;
    uint64_t dst_cid;
    uint32_t src_port;
    uint32_t dst_port;
    uint32_t len;
    uint16_t type;
    uint16_t op;
    uint32_t flags;
    uint32_t buf_alloc;
    uint32_t fwd_cnt;
} VsockHdr;
#define VSOCK_HDR_SIZE 44
G_STATIC_ASSERT(sizeof(VsockHdr) == VSOCK_HDR_SIZE);

/*
 * The checks both types make at realize, with StratoVirt's texts: a
 * guest-cid given and in range, and one vsock device (of either type) per
 * VM, since the guest's CID is the machine's address.
 */
bool vsock_check_common(Device *d, uint64_t guest_cid, GError **err);

extern const DeviceClass virtio_vsock_device_class;
extern const DeviceClass virtio_vsock_pci_device_class;
/* Either form (virtio-mmio or -pci). */
bool virtio_vsock_is(const Device *d);

#endif
