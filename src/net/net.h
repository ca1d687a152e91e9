/*
 * Network back ends (docs/net.md): the lower layer between a NIC (virtio-net)
 * and the host. A NetClient is one back end (a tap; a fake one in tests),
 * owned by the machine's netdev table (Machine.netdevs, id -> NetClient) and
 * attached to at most one NIC, its peer. The NIC never touches a file
 * descriptor: it hands frames to net_client_send() and receives them through
 * its NetPeerOps.
 *
 * Frame format on both directions: a 12-byte virtio_net_hdr_v1 followed by
 * the Ethernet frame. A back end that has no header of its own (a tap opened
 * without IFF_VNET_HDR) adds and strips it, so the NIC sees one format.
 *
 * Flow control, never blocking the main loop:
 *  - rx: the back end reads at most NET_RX_BUDGET frames per main-loop
 *    wake-up and offers each with net_client_receive(). A NIC without room
 *    refuses; the frame is then held here and the back end stops polling
 *    until the NIC calls net_client_rx_ready() (the guest added buffers).
 *  - tx: net_client_send() returns -EAGAIN when the host cannot take the
 *    frame now; the NIC keeps it and retries after its tx_ready callback.
 *
 * Locking: everything runs with the machine lock held (main-loop callbacks,
 * or a vCPU thread dispatching MMIO).
 */
#ifndef STRATUS_NET_H
#define STRATUS_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <glib.h>

#include "machine.h"

/* virtio 1.x header (virtio_net_hdr_v1, with num_buffers), always 12 bytes. */
#define NET_HDR_LEN 12
/* Largest frame (without the header) a back end passes: 64 KiB + VLAN Ethernet header. */
#define NET_MAX_FRAME (65536 + 18)
/* Frames a back end reads per main-loop wake-up: other sources get their turn. */
#define NET_RX_BUDGET 64
/* Queues (pairs) of one back end: StratoVirt's limit (MAX_VIRTIO_QUEUE / 2). */
#define NET_MAX_QUEUES 16

typedef struct NetClient NetClient;

/* The NIC side. */
typedef struct NetPeerOps {
    /*
     * A frame (header first). true: taken (delivered or dropped); false: no
     * room now, the frame is held and reading stops until net_client_rx_ready().
     */
    bool (*receive)(void *opaque, const uint8_t *buf, size_t len);
    /* The back end can take frames again after net_client_send() said -EAGAIN. */
    void (*tx_ready)(void *opaque);
    /* QMP set_link named this NIC (or its back end): the guest sees the link state. */
    void (*set_link)(void *opaque, bool up);
} NetPeerOps;

/* The back end side. */
typedef struct NetClientOps {
    const char *type;                       /* "tap" */
    /* One frame, header first: bytes taken (or dropped), -EAGAIN when full. */
    ssize_t (*send)(NetClient *nc, const struct iovec *iov, unsigned n);
    /* Start (true) or stop (false) reading from the host. */
    void (*set_read_poll)(NetClient *nc, bool enable);
    /* Release the host resources and the struct embedding the NetClient. */
    void (*free)(NetClient *nc);
    /* Optional: which offloaded frames the host may hand us (NET_OFFLOAD_*). */
    void (*set_offload)(NetClient *nc, unsigned flags);
    /*
     * Optional, for one queue of a multiqueue back end: take part in the
     * host's flow steering (true) or not (a NIC using fewer queue pairs).
     */
    void (*set_queue_enabled)(NetClient *nc, bool enable);
    /* Optional: the host descriptor frames cross (a tap's, for VHOST_NET_SET_BACKEND). */
    int (*get_fd)(NetClient *nc);
} NetClientOps;

/*
 * Offloads a NIC lets the host hand it (the values of TUN_F_*): partial
 * checksums, TCP segmentation (v4, v6, with ECN), UDP fragmentation.
 */
#define NET_OFFLOAD_CSUM 0x01
#define NET_OFFLOAD_TSO4 0x02
#define NET_OFFLOAD_TSO6 0x04
#define NET_OFFLOAD_ECN  0x08
#define NET_OFFLOAD_UFO  0x10

struct NetClient {
    const NetClientOps *ops;
    Machine *m;
    char *id;
    /*
     * The host keeps the header's offload fields (a tap with IFF_VNET_HDR):
     * partially checksummed and GSO frames may pass. Without it only plain
     * frames do, and the header is all zero in both directions.
     */
    bool vnet_hdr;
    /* The attached NIC (NULL: frames read are dropped, reading is off). */
    const NetPeerOps *peer;
    void *peer_opaque;
    char *peer_name;
    /*
     * For HMP `info network`, QEMU's texts: the back end's info_str ("fd=5",
     * "ifname=tap0,script=no,downscript=no"; set by the back end) and the
     * attached NIC's ("model=virtio-net-device,macaddr=52:54:00:12:34:56";
     * set by the NIC after net_client_attach(), cleared on detach).
     */
    char *info_str;
    char *peer_info;
    /* Creation and attach order (QEMU lists back ends and NICs so). */
    uint64_t seq, peer_seq;
    /* A frame the NIC refused, offered again first after rx_ready. */
    uint8_t *held;
    size_t held_len;
    GSource *resume;            /* idle source delivering `held` (main loop) */
    /*
     * set_link named the back end (QEMU's NetClientState.link_down): frames
     * in either direction are dropped here, whatever the NIC's own state.
     */
    bool link_down;
    uint64_t rx_frames, rx_dropped, tx_frames, tx_errors;
    /*
     * A multiqueue back end (queues=N): queue[0] is this NetClient (the one
     * in the netdev table), queue[1..nqueues-1] are NetClients of their own,
     * owned by it (freed with it), each attached to the NIC queue pair of
     * the same number. A single-queue back end has nqueues 1.
     */
    unsigned nqueues;
    NetClient *queue[NET_MAX_QUEUES];
    /*
     * vhost=on: this queue's /dev/vhost-net descriptor, claimed
     * (VHOST_SET_OWNER) and owned by the back end; -1 without vhost. While
     * the NIC has handed the queue to the kernel the back end is `paused`:
     * nothing reads the host descriptor here.
     */
    int vhost_fd;
    uint64_t vhost_features;
    bool paused;
};

/* Back ends: fill the common part (id copied); free with net_client_free(). */
void net_client_init(NetClient *nc, const NetClientOps *ops, Machine *m, const char *id);
/* Adds `q` (initialised) as the next queue of `nc`, which owns it from now on. */
void net_client_add_queue(NetClient *nc, NetClient *q);
/* Steering on/off for queue `q` (ignored by back ends with one queue). */
void net_client_set_queue_enabled(NetClient *q, bool enable);
void net_client_free(NetClient *nc);

/* Back end -> NIC. false: held, stop reading (set_read_poll(false) was called). */
bool net_client_receive(NetClient *nc, const uint8_t *buf, size_t len);
/* Back end: the host takes frames again. */
void net_client_tx_ready(NetClient *nc);

/*
 * NIC side. attach (queue 0, or a queue of a multiqueue back end) fails when another NIC has the back end (QEMU's text:
 * "Property 'virtio-net-device.netdev' can't take value 'X', it's in use").
 */
bool net_client_attach(NetClient *nc, const NetPeerOps *ops, void *opaque, const char *name,
                       GError **err);
void net_client_detach(NetClient *nc);
static inline bool net_client_in_use(const NetClient *nc) { return nc->peer != NULL; }
ssize_t net_client_send(NetClient *nc, const struct iovec *iov, unsigned n);
/* The NIC's offloads (NET_OFFLOAD_*); ignored by a back end without vnet_hdr. */
void net_client_set_offload(NetClient *nc, unsigned flags);
/*
 * Completes a partial checksum (virtio's NEEDS_CSUM): the ones' complement
 * sum of frame[start, len) stored at start + offset. false: out of range.
 */
bool net_checksum_finish(uint8_t *frame, size_t len, size_t start, size_t offset);
/* The NIC has room again (from any context; delivery happens on the main loop). */
void net_client_rx_ready(NetClient *nc);
/* vhost took the queue's data path (true) or gave it back (false). */
void net_client_pause(NetClient *nc, bool paused);
/* The host descriptor of queue `nc` (-1: none). */
int net_client_host_fd(NetClient *nc);

/*
 * QMP set_link, QEMU's semantics: `name` is a netdev id or the id of the NIC
 * attached to one (both when they share it, as in the seeds). A netdev goes
 * down with its NIC; a NIC alone leaves its back end as it is. Error
 * (DeviceNotFound): "Device 'X' not found".
 */
bool net_set_link(Machine *m, const char *name, bool up, GError **err);

/* The machine's netdev table (Machine.netdevs): id -> NetClient, owned. */
GHashTable *net_table_new(void);
NetClient *net_find(Machine *m, const char *id);

/* Sends one RARP self-announcement from `mac` to the back end (announce-self). */
bool net_announce_rarp(NetClient *nc, const uint8_t mac[6]);

#endif
