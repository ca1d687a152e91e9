/*
 * virtio-net's control queue commands and the receive filter they set
 * (virtio 1.2 §5.1.6.5): rx modes (CTRL_RX, CTRL_RX_EXTRA), the MAC filter
 * table and the MAC address (CTRL_MAC_ADDR). Pure state, no I/O: virtio-net.c
 * pops the control chains and asks here; the filter decides per frame.
 */
#ifndef STRATUS_VIRTIO_NET_CTRL_H
#define STRATUS_VIRTIO_NET_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/vmstate.h"

#define VIRTIO_NET_F_CTRL_VQ        17
#define VIRTIO_NET_F_CTRL_RX        18
#define VIRTIO_NET_F_CTRL_RX_EXTRA  20
#define VIRTIO_NET_F_CTRL_MAC_ADDR  23

#define VIRTIO_NET_CTRL_RX          0
#define VIRTIO_NET_CTRL_RX_PROMISC   0
#define VIRTIO_NET_CTRL_RX_ALLMULTI  1
#define VIRTIO_NET_CTRL_RX_ALLUNI    2
#define VIRTIO_NET_CTRL_RX_NOMULTI   3
#define VIRTIO_NET_CTRL_RX_NOUNI     4
#define VIRTIO_NET_CTRL_RX_NOBCAST   5
#define VIRTIO_NET_CTRL_MAC         1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET  1
#define VIRTIO_NET_OK               0
#define VIRTIO_NET_ERR              1

/* QEMU's size: more entries of a kind than fit turn that kind's filter off. */
#define VIRTIO_NET_MAC_TABLE        64

typedef struct NetRxFilter {
    /* One flag per VIRTIO_NET_CTRL_RX_* command, indexed by it. */
    bool mode[6];
    uint32_t uni, multi;                /* entries in table: unicast first */
    bool uni_overflow, multi_overflow;
    uint8_t table[VIRTIO_NET_MAC_TABLE * 6];   /* flat: one saved buffer */
} NetRxFilter;

/* After a device reset: promiscuous (QEMU: drivers that never send a command see everything). */
void net_filter_reset(NetRxFilter *f);
/* Does a frame (Ethernet header first) for a NIC with address `mac` pass? */
bool net_filter_accept(const NetRxFilter *f, const uint8_t mac[6], const uint8_t *frame,
                       size_t len);
/*
 * One command: `data` is what follows the class/command bytes. `features`
 * are the negotiated ones (a command needs its feature). ADDR_SET writes the
 * new address to `mac`. Returns the ack byte (VIRTIO_NET_OK / _ERR).
 */
extern const VMStateDescription vmstate_net_rx_filter;

uint8_t net_filter_command(NetRxFilter *f, uint64_t features, uint8_t cls, uint8_t cmd,
                           const uint8_t *data, size_t len, uint8_t mac[6]);

#endif
