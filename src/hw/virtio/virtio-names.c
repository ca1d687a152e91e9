/*
 * Feature and status bit names (virtio-names.h). The constants are the
 * spec's; the descriptions are ours.
 */
#include <stddef.h>
#include <glib.h>

#include "hw/virtio/virtio-names.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-vsock.h"

typedef struct BitName {
    unsigned bit;
    const char *name;
} BitName;

static const BitName transport_bits[] = {
    { 24, "VIRTIO_F_NOTIFY_ON_EMPTY: interrupt when the available ring runs empty" },
    { 27, "VIRTIO_F_ANY_LAYOUT: any split of a request into buffers" },
    { 28, "VIRTIO_RING_F_INDIRECT_DESC: indirect descriptor tables" },
    { 29, "VIRTIO_RING_F_EVENT_IDX: used_event and avail_event fields" },
    { 32, "VIRTIO_F_VERSION_1: virtio 1.x device" },
    { 33, "VIRTIO_F_ACCESS_PLATFORM: DMA through the platform IOMMU" },
    { 34, "VIRTIO_F_RING_PACKED: packed virtqueues" },
    { 35, "VIRTIO_F_IN_ORDER: buffers used in the order made available" },
    { 36, "VIRTIO_F_ORDER_PLATFORM: platform memory ordering" },
    { 37, "VIRTIO_F_SR_IOV: single-root I/O virtualisation" },
    { 38, "VIRTIO_F_NOTIFICATION_DATA: extra data in notifications" },
    { 0, NULL }
};

static const BitName net_bits[] = {
    { 0, "VIRTIO_NET_F_CSUM: host handles partial checksums" },
    { 1, "VIRTIO_NET_F_GUEST_CSUM: guest handles partial checksums" },
    { 2, "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS: offloads reconfigurable by the driver" },
    { 3, "VIRTIO_NET_F_MTU: maximum MTU in config" },
    { 5, "VIRTIO_NET_F_MAC: MAC address in config" },
    { 7, "VIRTIO_NET_F_GUEST_TSO4: guest receives TSOv4" },
    { 8, "VIRTIO_NET_F_GUEST_TSO6: guest receives TSOv6" },
    { 9, "VIRTIO_NET_F_GUEST_ECN: guest receives TSO with ECN" },
    { 10, "VIRTIO_NET_F_GUEST_UFO: guest receives UFO" },
    { 11, "VIRTIO_NET_F_HOST_TSO4: device receives TSOv4" },
    { 12, "VIRTIO_NET_F_HOST_TSO6: device receives TSOv6" },
    { 13, "VIRTIO_NET_F_HOST_ECN: device receives TSO with ECN" },
    { 14, "VIRTIO_NET_F_HOST_UFO: device receives UFO" },
    { 15, "VIRTIO_NET_F_MRG_RXBUF: merged receive buffers" },
    { 16, "VIRTIO_NET_F_STATUS: link status in config" },
    { 17, "VIRTIO_NET_F_CTRL_VQ: control virtqueue" },
    { 18, "VIRTIO_NET_F_CTRL_RX: rx mode control" },
    { 19, "VIRTIO_NET_F_CTRL_VLAN: VLAN filtering" },
    { 20, "VIRTIO_NET_F_CTRL_RX_EXTRA: extra rx mode control" },
    { 21, "VIRTIO_NET_F_GUEST_ANNOUNCE: driver sends gratuitous packets" },
    { 22, "VIRTIO_NET_F_MQ: multiqueue with automatic steering" },
    { 23, "VIRTIO_NET_F_CTRL_MAC_ADDR: MAC address set through the control queue" },
    { 0, NULL }
};

static const BitName blk_bits[] = {
    { 1, "VIRTIO_BLK_F_SIZE_MAX: maximum segment size in config" },
    { 2, "VIRTIO_BLK_F_SEG_MAX: maximum segment count in config" },
    { 4, "VIRTIO_BLK_F_GEOMETRY: legacy geometry in config" },
    { 5, "VIRTIO_BLK_F_RO: read-only device" },
    { 6, "VIRTIO_BLK_F_BLK_SIZE: block size in config" },
    { 9, "VIRTIO_BLK_F_FLUSH: cache flush command" },
    { 10, "VIRTIO_BLK_F_TOPOLOGY: topology in config" },
    { 11, "VIRTIO_BLK_F_CONFIG_WCE: writeback mode in config" },
    { 12, "VIRTIO_BLK_F_MQ: several request queues" },
    { 13, "VIRTIO_BLK_F_DISCARD: discard command" },
    { 14, "VIRTIO_BLK_F_WRITE_ZEROES: write zeroes command" },
    { 0, NULL }
};

static const BitName console_bits[] = {
    { 0, "VIRTIO_CONSOLE_F_SIZE: console size in config" },
    { 1, "VIRTIO_CONSOLE_F_MULTIPORT: several ports and a control queue" },
    { 2, "VIRTIO_CONSOLE_F_EMERG_WRITE: emergency write register" },
    { 0, NULL }
};

static const BitName balloon_bits[] = {
    { 0, "VIRTIO_BALLOON_F_MUST_TELL_HOST: tell the host before using deflated pages" },
    { 1, "VIRTIO_BALLOON_F_STATS_VQ: statistics queue" },
    { 2, "VIRTIO_BALLOON_F_DEFLATE_ON_OOM: deflate when the guest runs out of memory" },
    { 3, "VIRTIO_BALLOON_F_FREE_PAGE_HINT: free page hinting" },
    { 4, "VIRTIO_BALLOON_F_PAGE_POISON: page poison value in config" },
    { 5, "VIRTIO_BALLOON_F_PAGE_REPORTING: free page reporting queue" },
    { 0, NULL }
};

static const BitName vsock_bits[] = {
    { 0, "VIRTIO_VSOCK_F_STREAM: stream sockets" },
    { 1, "VIRTIO_VSOCK_F_SEQPACKET: seqpacket sockets" },
    { 0, NULL }
};

static const BitName *device_bits(uint32_t device_id)
{
    switch (device_id) {
    case VIRTIO_ID_NET:
        return net_bits;
    case VIRTIO_ID_BLOCK:
        return blk_bits;
    case VIRTIO_ID_CONSOLE:
        return console_bits;
    case VIRTIO_ID_BALLOON:
        return balloon_bits;
    case VIRTIO_ID_VSOCK:
        return vsock_bits;
    default:
        return NULL;         /* virtio-rng has no device feature bits */
    }
}

static const char *lookup(const BitName *t, unsigned bit)
{
    for (; t && t->name; t++) {
        if (t->bit == bit) {
            return t->name;
        }
    }
    return NULL;
}

const char *virtio_feature_name(uint32_t device_id, unsigned bit, bool *transport)
{
    const char *n = lookup(transport_bits, bit);

    *transport = n != NULL;
    return n ? n : lookup(device_bits(device_id), bit);
}

/* In the order a driver sets them (§3.1.1), then the error bits. */
static const BitName status_bits[] = {
    { 0, "VIRTIO_CONFIG_S_ACKNOWLEDGE: the guest found the device" },
    { 1, "VIRTIO_CONFIG_S_DRIVER: the guest has a driver for it" },
    { 3, "VIRTIO_CONFIG_S_FEATURES_OK: feature negotiation is complete" },
    { 2, "VIRTIO_CONFIG_S_DRIVER_OK: the driver is ready" },
    { 6, "VIRTIO_CONFIG_S_NEEDS_RESET: the device needs a reset" },
    { 7, "VIRTIO_CONFIG_S_FAILED: the driver gave up on the device" },
    { 0, NULL }
};

const char *virtio_status_name_at(unsigned i, unsigned *bit)
{
    if (i >= G_N_ELEMENTS(status_bits) - 1) {
        return NULL;
    }
    *bit = status_bits[i].bit;
    return status_bits[i].name;
}
