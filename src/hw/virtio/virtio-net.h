/*
 * virtio-net (virtio 1.2 §5.1): rx/tx queue pairs (one, or one per back-end
 * queue with mq=on) and the control queue (rx modes, MAC filter, MAC address: virtio-net-ctrl.h), MAC, STATUS
 * (link up while a back end is attached), MRG_RXBUF, checksum/GSO offloads. Frames go through a NetClient
 * (net/net.h); the device never touches a file descriptor.
 *
 * On microvm a VirtioNet sits in each of the two net slots from boot (so the
 * guest probes it), without a back end and with its link down; the
 * virtio-net-device type (netdev=, mac=) fills a slot through the machine's
 * plug hook (virtio_net_set_backend).
 */
#ifndef STRATUS_VIRTIO_NET_H
#define STRATUS_VIRTIO_NET_H

#include "hw/device.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-net-ctrl.h"
#include "net/net.h"

#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_GUEST_UFO  10
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_HOST_UFO   14
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_MQ         22

#define VIRTIO_NET_S_LINK_UP    1

/* virtio_net_hdr flags and gso_type (§5.1.6). */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE     0
#define VIRTIO_NET_HDR_GSO_TCPV4    1
#define VIRTIO_NET_HDR_GSO_UDP      3
#define VIRTIO_NET_HDR_GSO_TCPV6    4
#define VIRTIO_NET_HDR_GSO_ECN      0x80

/* The checksum and segmentation offloads, offered in both directions. */
#define VIRTIO_NET_OFFLOAD_FEATURES                                                         \
    (VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |                 \
     VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |           \
     VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO) |             \
     VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) |             \
     VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN) | VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO))

/* Config space (§5.1.4). */
#define VIRTIO_NET_CFG_MAC      0
#define VIRTIO_NET_CFG_STATUS   6
#define VIRTIO_NET_CFG_MAX_VQP  8
#define VIRTIO_NET_CFG_SIZE     10

/* Control class 4 (§5.1.6.5.5): how many queue pairs the driver uses. */
#define VIRTIO_NET_CTRL_MQ               4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET  0

#define VIRTIO_NET_QUEUE_SIZE   256
/* Pair i is rx queue 2i and tx queue 2i+1; the control queue comes last (2 * pairs). */
#define VIRTIO_NET_RXQ          0
#define VIRTIO_NET_TXQ          1
/* Frames transmitted per kick before the rest waits for the next main-loop turn. */
#define VIRTIO_NET_TX_BUDGET    256

typedef struct VirtioNet VirtioNet;

VirtioNet *virtio_net_new(Machine *m, const char *id, const uint8_t mac[6]);
VirtioDevice *virtio_net_vdev(VirtioNet *n);
/*
 * Attach a back end (link up, config interrupt); `mac` replaces the slot's
 * address. With `mq` each queue of a multiqueue back end gets its own queue
 * pair and MQ is offered (only while no driver holds the queues: the
 * layout changes). Fails if the NIC has one already or the back end is in
 * use.
 */
bool virtio_net_set_backend(VirtioNet *n, const char *id, NetClient *nc, const uint8_t mac[6],
                            bool mq, GError **err);
/* Detach (link down, config interrupt); pending tx is returned to the guest. */
void virtio_net_clear_backend(VirtioNet *n);
NetClient *virtio_net_backend(VirtioNet *n);

/* "52:54:00:12:34:56" -> bytes; false if malformed (a unicast address is not required). */
bool virtio_net_parse_mac(const char *s, uint8_t mac[6]);
/* A stable locally administered address derived from `seed` (52:54:00:xx:xx:xx). */
void virtio_net_generate_mac(const char *seed, uint8_t mac[6]);

/* ---- the virtio-net-device type ---- */
extern const DeviceClass virtio_net_device_class;
extern const DeviceClass virtio_net_pci_device_class;
/* Either form: virtio-net-device (microvm's slots) or virtio-net-pci (q35). */
static inline bool virtio_net_device_is(const Device *d)
{
    return d->klass == &virtio_net_device_class || d->klass == &virtio_net_pci_device_class;
}
/* Its back end (NULL: none, link down) and address. */
NetClient *virtio_net_device_backend(Device *d);
const uint8_t *virtio_net_device_mac(Device *d);
bool virtio_net_device_mq(Device *d);
/*
 * The receive filter the driver set (query-rx-filter) and the address it
 * uses now (CTRL_MAC_ADDR_SET may have changed it); NULL before the device
 * is placed in a slot.
 */
const NetRxFilter *virtio_net_device_rx_filter(Device *d, uint8_t mac[6]);
/* The machine's plug hook records the slot NIC the device fills (its saved state). */
void virtio_net_device_placed(Device *d, VirtioNet *n);

extern const VMStateDescription vmstate_virtio_net;

#endif
