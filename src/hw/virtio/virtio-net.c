/*
 * virtio-net: rx/tx queue pairs and the control queue over a NetClient back
 * end (virtio 1.2 §5.1), each pair bound to one back-end queue, in user space
 * or handed to vhost-net. Over 800 lines because the data path, the offload
 * header checks, the control queue (rx mode, MAC, VQ_PAIRS_SET), the vhost
 * start/stop of the pairs and the virtio-net-device type all work on the
 * private VirtioNet and NetQueue; the stateless filter logic is already apart
 * (virtio-net-ctrl.c) and the kernel vhost calls are shared (vhost.c).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "hw/virtio/virtio-net.h"
#include "hw/virtio/virtio-net-ctrl.h"
#include "hw/virtio/vhost.h"
#include "util/log.h"
#include <linux/vhost.h>
#include "util/strutil.h"

/*
 * One rx/tx queue pair (virtqueues 2i and 2i+1, §5.1.2) and the back-end
 * queue bound to it: the NetPeerOps opaque of that back-end queue.
 */
typedef struct NetQueue {
    VirtioNet *n;
    unsigned index;
    NetClient *nc;              /* the back end's queue `index`, or NULL */
    /* A popped tx chain the back end could not take yet (-EAGAIN). */
    VirtQueueElement *tx_pending;
    GSource *tx_bh;             /* continues a transmission past the budget */
    /* vhost=on: the pair's rings in the kernel (ring 0 = rx, 1 = tx) while `vhost_on`. */
    VhostDev vhost;
    bool vhost_on;
} NetQueue;

struct VirtioNet {
    VirtioDevice vdev;          /* first: the core hands us VirtioDevice* */
    NetClient *nc;              /* the back end (its queue 0), or NULL (link down) */
    bool link_down;             /* QMP set_link on the NIC; cleared when a NIC is plugged */
    uint8_t mac[6];
    uint8_t slot_mac[6];        /* the address the slot has without a device */
    uint8_t conf_mac[6];        /* the NIC's configured address (a reset restores it) */
    NetRxFilter filter;         /* CTRL_VQ rx modes and MAC table */
    /*
     * Queue pairs: max_pairs exist (max_virtqueue_pairs; > 1 only with
     * mq=on and a multiqueue back end, then MQ is offered), cur_pairs are
     * in use (1 after a reset, VQ_PAIRS_SET changes it). The control queue
     * is the last virtqueue, 2 * max_pairs.
     */
    unsigned max_pairs;
    uint16_t cur_pairs;
    uint64_t base_features;     /* offered with one pair and no vhost */
    NetQueue q[NET_MAX_QUEUES];
};

/* virtio_net_hdr_v1 (§5.1.6): the only layout with VERSION_1. */
typedef struct NetHdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
} NetHdr;
G_STATIC_ASSERT(sizeof(NetHdr) == NET_HDR_LEN);

static VirtioNet *to_net(VirtioDevice *vdev)
{
    return (VirtioNet *)vdev;
}

static void net_update_config(VirtioNet *n)
{
    memcpy(n->vdev.config + VIRTIO_NET_CFG_MAC, n->mac, 6);
    virtio_config_set_le16(&n->vdev, VIRTIO_NET_CFG_STATUS,
                           n->nc && !n->link_down ? VIRTIO_NET_S_LINK_UP : 0);
    virtio_config_set_le16(&n->vdev, VIRTIO_NET_CFG_MAX_VQP, n->max_pairs);
}

static unsigned ctrl_queue(VirtioNet *n)
{
    return 2 * n->max_pairs;
}

static bool queues_live(VirtioNet *n)
{
    return (n->vdev.status & VIRTIO_STATUS_DRIVER_OK) && !n->vdev.broken;
}

/* ---- offloads ---- */

/* The offloads the guest accepts on rx, as the back end's NET_OFFLOAD_* flags. */
static unsigned guest_offloads(VirtioNet *n)
{
    VirtioDevice *vdev = &n->vdev;
    unsigned f;

    if (!virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM)) {
        return 0;               /* segmentation needs partial checksums (§5.1.3.1) */
    }
    f = NET_OFFLOAD_CSUM;
    if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4)) {
        f |= NET_OFFLOAD_TSO4;
    }
    if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6)) {
        f |= NET_OFFLOAD_TSO6;
    }
    if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_ECN) && (f & (NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6))) {
        f |= NET_OFFLOAD_ECN;
    }
    if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_UFO)) {
        f |= NET_OFFLOAD_UFO;
    }
    return f;
}

/* The host hands over only what the driver negotiated (none before DRIVER_OK). */
static void apply_offloads(VirtioNet *n)
{
    for (unsigned i = 0; i < n->max_pairs; i++) {
        if (n->q[i].nc) {
            net_client_set_offload(n->q[i].nc, queues_live(n) ? guest_offloads(n) : 0);
        }
    }
}

/* Only the pairs in use take part in the host's flow steering (a multiqueue tap). */
static void apply_steering(VirtioNet *n)
{
    for (unsigned i = 0; i < n->max_pairs; i++) {
        if (n->q[i].nc) {
            net_client_set_queue_enabled(n->q[i].nc, i < n->cur_pairs);
        }
    }
}

/* Is a gso_type (ECN bit included) within the offloads of `f`? */
static bool gso_allowed(uint8_t gso_type, bool tso4, bool tso6, bool ecn, bool ufo)
{
    switch (gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE:
        return !(gso_type & VIRTIO_NET_HDR_GSO_ECN);
    case VIRTIO_NET_HDR_GSO_TCPV4:
        return tso4 && (ecn || !(gso_type & VIRTIO_NET_HDR_GSO_ECN));
    case VIRTIO_NET_HDR_GSO_TCPV6:
        return tso6 && (ecn || !(gso_type & VIRTIO_NET_HDR_GSO_ECN));
    case VIRTIO_NET_HDR_GSO_UDP:
        return ufo && !(gso_type & VIRTIO_NET_HDR_GSO_ECN);
    default:
        return false;
    }
}

/*
 * The header the guest gets for a frame from the host: the host's offload
 * fields when the guest took GUEST_CSUM, else a plain one. false: the frame
 * needs an offload the guest did not take (only a host ignoring
 * TUNSETOFFLOAD sends one): dropped.
 */
static bool rx_header(VirtioNet *n, const uint8_t *buf, NetHdr *hdr)
{
    unsigned f = guest_offloads(n);
    NetHdr host;

    memcpy(&host, buf, sizeof(host));
    memset(hdr, 0, sizeof(*hdr));
    if (!n->nc || !n->nc->vnet_hdr) {
        return true;
    }
    if (!gso_allowed(host.gso_type, f & NET_OFFLOAD_TSO4, f & NET_OFFLOAD_TSO6,
                     f & NET_OFFLOAD_ECN, f & NET_OFFLOAD_UFO) ||
        ((host.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !f)) {
        return false;
    }
    if (f) {
        *hdr = host;
        hdr->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
        hdr->num_buffers = 0;
    }
    return true;
}

/*
 * A guest's tx header, once it negotiated CSUM (§5.1.6.2): NEEDS_CSUM with a
 * checksum position inside the frame, a gso_type it negotiated, no other
 * flag. false: the frame is dropped (a driver bug, not a broken device).
 */
static bool tx_header_ok(VirtioNet *n, const NetHdr *h, size_t frame_len)
{
    VirtioDevice *vdev = &n->vdev;
    size_t start = le16toh(h->csum_start), off = le16toh(h->csum_offset);

    if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        return false;
    }
    if (!gso_allowed(h->gso_type, virtio_has_feature(vdev, VIRTIO_NET_F_HOST_TSO4),
                     virtio_has_feature(vdev, VIRTIO_NET_F_HOST_TSO6),
                     virtio_has_feature(vdev, VIRTIO_NET_F_HOST_ECN),
                     virtio_has_feature(vdev, VIRTIO_NET_F_HOST_UFO))) {
        return false;
    }
    if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE && !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
        return false;
    }
    return !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
           (start < frame_len && off + 2 <= frame_len - start);
}

/* ---- receive ---- */

/*
 * A frame from the back end. Without MRG_RXBUF it must fit one chain; with
 * it, it spreads over as many chains as it needs and num_buffers says how
 * many. Chains are only published when the whole frame is placed, and given
 * back (unpopped) when the ring runs out, so the frame can be offered again.
 */
static bool net_receive(void *opaque, const uint8_t *buf, size_t len)
{
    NetQueue *q = opaque;
    VirtioNet *n = q->n;
    VirtioDevice *vdev = &n->vdev;
    VirtQueue *vq = &vdev->vqs[2 * q->index];
    bool mergeable = virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);
    VirtQueueElement *elems[VIRTQ_MAX_SIZE];
    uint32_t lens[VIRTQ_MAX_SIZE];
    unsigned count = 0;
    size_t off = 0;
    NetHdr hdr;
    bool taken = true;

    if (!queues_live(n) || !vq->ready || n->link_down || q->index >= n->cur_pairs ||
        len < NET_HDR_LEN ||
        len > NET_HDR_LEN + NET_MAX_FRAME) {
        return true;            /* nobody listens, no link (or not a frame): dropped */
    }
    if (!net_filter_accept(&n->filter, n->mac, buf + NET_HDR_LEN, len - NET_HDR_LEN)) {
        return true;            /* the driver's rx mode / MAC filter says no */
    }
    if (!rx_header(n, buf, &hdr)) {
        log_debug("virtio-net '%s': rx frame with offloads the guest did not take: dropped",
                  vdev->id);
        return true;
    }
    while (off < len) {
        VirtQueueElement *e;
        char *why;
        int r = count < G_N_ELEMENTS(elems) ? virtqueue_pop(vq, &e, &why) : 0;

        if (r < 0) {
            virtio_error(vdev, "rx queue: %s", why);
            g_free(why);
            goto give_back;
        }
        if (r == 0) {
            taken = false;       /* no room now: held by the back end */
            goto give_back;
        }
        elems[count] = e;
        lens[count] = 0;
        count++;
        if (e->out_num) {
            virtio_error(vdev, "rx buffer with a device-readable descriptor");
            goto give_back;
        }
        if (count == 1 && e->in_len < NET_HDR_LEN) {
            virtio_error(vdev, "rx buffer of %" G_GUINT64_FORMAT " bytes cannot hold the header",
                         e->in_len);
            goto give_back;
        }
        if (!mergeable && e->in_len < len) {
            /* The driver posted buffers too small for this frame (§5.1.6.3.1): drop it. */
            virtqueue_unpop(vq, count);
            for (unsigned i = 0; i < count; i++) {
                g_free(elems[i]);
            }
            log_debug("virtio-net '%s': %zu-byte frame dropped: rx buffer too small",
                      vdev->id, len);
            return true;
        }
        size_t chunk = MIN((size_t)e->in_len, len - off);
        if (off == 0) {
            iov_from_buf(e->in_sg, e->in_num, 0, &hdr, sizeof(hdr));
            iov_from_buf(e->in_sg, e->in_num, sizeof(hdr), buf + sizeof(hdr),
                         chunk - sizeof(hdr));
        } else {
            iov_from_buf(e->in_sg, e->in_num, 0, buf + off, chunk);
        }
        lens[count - 1] = chunk;
        off += chunk;
    }
    if (mergeable) {
        uint16_t nb = htole16(count);
        iov_from_buf(elems[0]->in_sg, elems[0]->in_num, offsetof(NetHdr, num_buffers), &nb, 2);
    }
    for (unsigned i = 0; i < count; i++) {
        virtqueue_fill(vq, elems[i], lens[i], i);
        g_free(elems[i]);
    }
    virtqueue_flush(vq, count);
    virtio_notify(vdev, vq);
    return true;

give_back:
    virtqueue_unpop(vq, count);
    for (unsigned i = 0; i < count; i++) {
        g_free(elems[i]);
    }
    if (!taken) {
        /* Ask for a kick when the driver adds buffers. */
        virtqueue_set_notification(vq, true);
    }
    return taken;
}

/* ---- transmit ---- */

static void tx_schedule(NetQueue *q);

/* 1: sent (or dropped), 0: back end full (kept in tx_pending), -1: broken. */
static int tx_one(NetQueue *q, VirtQueue *vq, VirtQueueElement *e)
{
    VirtioNet *n = q->n;
    VirtioDevice *vdev = &n->vdev;
    NetHdr hdr = { 0 };
    struct iovec iov[VIRTQ_MAX_CHAIN + 1];
    unsigned niov = 0;

    if (e->in_num || e->out_len < NET_HDR_LEN) {
        virtio_error(vdev, e->in_num ? "tx buffer with a device-writable descriptor"
                                     : "tx buffer shorter than the header");
        g_free(e);
        return -1;
    }
    if (q->nc && !n->link_down && e->out_len - NET_HDR_LEN <= NET_MAX_FRAME) {
        size_t flen = e->out_len - NET_HDR_LEN;
        unsigned nrest;
        g_autofree struct iovec *rest = NULL;
        g_autofree uint8_t *linear = NULL;

        /* Without CSUM the guest's header means nothing: a plain one goes out. */
        if (virtio_has_feature(vdev, VIRTIO_NET_F_CSUM)) {
            iov_to_buf(e->out_sg, e->out_num, 0, &hdr, sizeof(hdr));
            hdr.num_buffers = 0;
            if (!tx_header_ok(n, &hdr, flen)) {
                log_debug("virtio-net '%s': tx header with offloads not negotiated: dropped",
                          vdev->id);
                goto done;
            }
        }
        if ((hdr.flags || hdr.gso_type) && !q->nc->vnet_hdr) {
            /* The host takes plain frames only: finish the checksum here; GSO cannot go. */
            if (hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
                log_debug("virtio-net '%s': GSO frame for a back end without a vnet header: "
                          "dropped", vdev->id);
                goto done;
            }
            linear = g_malloc(flen);
            iov_to_buf(e->out_sg, e->out_num, NET_HDR_LEN, linear, flen);
            net_checksum_finish(linear, flen, le16toh(hdr.csum_start), le16toh(hdr.csum_offset));
            memset(&hdr, 0, sizeof(hdr));
            iov[1] = (struct iovec) { .iov_base = linear, .iov_len = flen };
            niov = 2;
        } else {
            rest = iov_slice(e->out_sg, e->out_num, NET_HDR_LEN, flen, &nrest);
            memcpy(&iov[1], rest, nrest * sizeof(*rest));
            niov = 1 + nrest;
        }
        iov[0] = (struct iovec) { .iov_base = &hdr, .iov_len = sizeof(hdr) };
        if (net_client_send(q->nc, iov, niov) == -EAGAIN) {
            q->tx_pending = e;
            return 0;
        }
    } else if (q->nc && !n->link_down) {
        log_debug("virtio-net '%s': oversized tx frame dropped", vdev->id);
    }
done:
    /* Link down (no back end, or set_link off): the frame goes nowhere, as on a cable-less NIC. */
    virtqueue_push(vq, e, 0);
    g_free(e);
    return 1;
}

/* Sends up to the budget; the rest continues on the next main-loop turn. */
static void tx_flush(NetQueue *q)
{
    VirtioNet *n = q->n;
    VirtioDevice *vdev = &n->vdev;
    VirtQueue *vq = &vdev->vqs[2 * q->index + 1];
    unsigned sent = 0;

    if (!queues_live(n) || !vq->ready) {
        return;
    }
    if (q->tx_pending) {
        VirtQueueElement *e = q->tx_pending;
        q->tx_pending = NULL;
        if (tx_one(q, vq, e) <= 0) {
            return;
        }
        sent++;
    }
    do {
        virtqueue_set_notification(vq, false);
        while (sent < VIRTIO_NET_TX_BUDGET) {
            VirtQueueElement *e;
            char *why;
            int r = virtqueue_pop(vq, &e, &why);
            if (r < 0) {
                virtio_error(vdev, "tx queue: %s", why);
                g_free(why);
                return;
            }
            if (r == 0) {
                break;
            }
            r = tx_one(q, vq, e);
            if (r < 0) {
                return;
            }
            if (r == 0) {
                /* Notifications stay off: tx_ready resumes us. */
                if (sent) {
                    virtio_notify(vdev, vq);
                }
                return;
            }
            sent++;
        }
        if (sent >= VIRTIO_NET_TX_BUDGET) {
            virtio_notify(vdev, vq);
            tx_schedule(q);
            return;
        }
        virtqueue_set_notification(vq, true);
    } while (!virtqueue_empty(vq));
    if (sent) {
        virtio_notify(vdev, vq);
    }
}

/* Main loop, lock held. */
static gboolean tx_bh_cb(gpointer opaque)
{
    NetQueue *q = opaque;

    g_source_unref(q->tx_bh);
    q->tx_bh = NULL;
    tx_flush(q);
    return G_SOURCE_REMOVE;
}

/* The rest of a long burst waits for the next main-loop turn (other sources first). */
static void tx_schedule(NetQueue *q)
{
    if (q->tx_bh) {
        return;
    }
    q->tx_bh = g_idle_source_new();
    g_source_set_callback(q->tx_bh, tx_bh_cb, q, NULL);
    g_source_attach(q->tx_bh, q->n->vdev.machine->ctx);
}

static void tx_cancel(NetQueue *q)
{
    if (q->tx_bh) {
        g_source_destroy(q->tx_bh);
        g_source_unref(q->tx_bh);
        q->tx_bh = NULL;
    }
}

static void net_tx_ready(void *opaque)
{
    tx_flush(opaque);
}

static void tx_flush_all(VirtioNet *n)
{
    for (unsigned i = 0; i < n->max_pairs; i++) {
        tx_flush(&n->q[i]);
    }
}

/* QEMU's virtio_net_set_link_status: STATUS follows, with a config interrupt. */
static void net_link_changed(void *opaque, bool up)
{
    VirtioNet *n = ((NetQueue *)opaque)->n;

    if (n->link_down == !up) {
        return;
    }
    n->link_down = !up;
    net_update_config(n);
    virtio_config_changed(&n->vdev);
    if (up) {
        tx_flush_all(n);        /* what the guest queued meanwhile goes out now */
    }
}

static const NetPeerOps virtio_net_peer_ops = {
    .receive = net_receive,
    .tx_ready = net_tx_ready,
    .set_link = net_link_changed,
};

/* ---- vhost-net (vhost=on) ---- */

/*
 * The features the kernel serves for the guest: what was negotiated, less
 * what vhost-net does not know (it ignores device-specific bits it lacks:
 * they are the device's own, e.g. CTRL_VQ, handled here).
 */
#define VHOST_NET_DEVICE_ONLY                                                               \
    (VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |                       \
     VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX) |                  \
     VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX_EXTRA) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) |      \
     VIRTIO_BIT(VIRTIO_NET_F_MQ) | VIRTIO_NET_OFFLOAD_FEATURES)

static uint64_t vhost_features(VirtioNet *n, NetQueue *q)
{
    return n->vdev.guest_features & ~VHOST_NET_DEVICE_ONLY & q->nc->vhost_features;
}

static void vhost_pair_stop(VirtioNet *n, NetQueue *q)
{
    struct vhost_vring_file off = { .fd = -1 };

    if (!q->vhost_on) {
        return;
    }
    for (off.index = 0; off.index < 2; off.index++) {
        ioctl(q->vhost.fd, VHOST_NET_SET_BACKEND, &off);
    }
    vhost_dev_stop(&q->vhost, 2 * q->index);
    q->vhost_on = false;
    net_client_pause(q->nc, false);
}

/* DRIVER_OK with a vhost back end: pair q's rings and its tap queue to the kernel. */
static bool vhost_pair_start(VirtioNet *n, NetQueue *q, GError **err)
{
    struct vhost_vring_file backend = { .fd = net_client_host_fd(q->nc) };
    VirtioDevice *vdev = &n->vdev;

    if (!vdev->vqs[2 * q->index].ready || !vdev->vqs[2 * q->index + 1].ready) {
        return true;            /* a pair the driver did not set up stays idle */
    }
    vhost_dev_init(&q->vhost, q->nc->vhost_fd, "vhost-net", "vhostfd", vdev, 2);
    net_client_pause(q->nc, true);
    q->vhost_on = true;
    if (!vhost_dev_set_features_and_memory(&q->vhost, vhost_features(n, q), err) ||
        !vhost_dev_start_vring(&q->vhost, 0, 2 * q->index, err) ||
        !vhost_dev_start_vring(&q->vhost, 1, 2 * q->index + 1, err)) {
        vhost_pair_stop(n, q);
        return false;
    }
    for (backend.index = 0; backend.index < 2; backend.index++) {
        if (!vhost_dev_ioctl(&q->vhost, VHOST_NET_SET_BACKEND, "VHOST_NET_SET_BACKEND",
                             &backend, err)) {
            vhost_pair_stop(n, q);
            return false;
        }
    }
    return true;
}

static void vhost_start(VirtioNet *n)
{
    g_autoptr(GError) err = NULL;

    for (unsigned i = 0; i < n->max_pairs; i++) {
        NetQueue *q = &n->q[i];
        if (q->nc && q->nc->vhost_fd >= 0 && !q->vhost_on && !vhost_pair_start(n, q, &err)) {
            virtio_error(&n->vdev, "%s", err->message);
            return;
        }
    }
}

static void vhost_stop_all(VirtioNet *n)
{
    for (unsigned i = 0; i < n->max_pairs; i++) {
        vhost_pair_stop(n, &n->q[i]);
    }
}

/* ---- control queue ---- */

/* Largest command payload taken (a full MAC table is 8 + 6 * 64 bytes). */
#define CTRL_MAX_DATA 4096

/*
 * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (§5.1.6.5.5): le16 pairs in
 * [1, max_virtqueue_pairs], with MQ negotiated. The pairs beyond leave the
 * host's steering; what they held stays in their rings.
 */
static uint8_t ctrl_mq(VirtioNet *n, uint8_t cmd, const uint8_t *data, size_t dlen)
{
    uint16_t pairs;

    if (!virtio_has_feature(&n->vdev, VIRTIO_NET_F_MQ) || cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET ||
        dlen != 2) {
        return VIRTIO_NET_ERR;
    }
    pairs = data[0] | data[1] << 8;
    if (pairs < 1 || pairs > n->max_pairs) {
        log_debug("virtio-net '%s': VQ_PAIRS_SET %u outside [1, %u]", n->vdev.id, pairs,
                  n->max_pairs);
        return VIRTIO_NET_ERR;
    }
    n->cur_pairs = pairs;
    apply_steering(n);
    for (unsigned i = 0; i < pairs; i++) {
        if (n->q[i].nc) {
            net_client_rx_ready(n->q[i].nc);    /* nothing while vhost holds it (paused) */
        }
    }
    return VIRTIO_NET_OK;
}

/*
 * Every chain: class and command bytes, their data (device-readable), then
 * the one-byte ack (device-writable). A chain without room for those is a
 * broken driver (NEEDS_RESET); a bad command only gets VIRTIO_NET_ERR.
 */
static void ctrl_flush(VirtioNet *n)
{
    VirtioDevice *vdev = &n->vdev;
    VirtQueue *vq = &vdev->vqs[ctrl_queue(n)];
    VirtQueueElement *e;
    char *why;
    int r;

    while ((r = virtqueue_pop(vq, &e, &why)) > 0) {
        uint8_t head[2], ack = VIRTIO_NET_ERR, mac[6];
        size_t dlen = e->out_len >= 2 ? e->out_len - 2 : 0;

        if (e->out_len < 2 || e->in_len < 1) {
            virtio_error(vdev, "control command without its header or ack");
            g_free(e);
            return;
        }
        iov_to_buf(e->out_sg, e->out_num, 0, head, 2);
        if (dlen <= CTRL_MAX_DATA) {
            g_autofree uint8_t *data = g_malloc(dlen ? dlen : 1);
            iov_to_buf(e->out_sg, e->out_num, 2, data, dlen);
            memcpy(mac, n->mac, 6);
            ack = head[0] == VIRTIO_NET_CTRL_MQ ? ctrl_mq(n, head[1], data, dlen) :
                  net_filter_command(&n->filter, vdev->guest_features, head[0], head[1], data,
                                     dlen, mac);
            if (memcmp(mac, n->mac, 6)) {
                memcpy(n->mac, mac, 6);     /* ADDR_SET: no config interrupt (the driver knows) */
                net_update_config(n);
            }
        }
        iov_from_buf(e->in_sg, e->in_num, 0, &ack, 1);
        virtqueue_push(vq, e, 1);
        g_free(e);
    }
    if (r < 0) {
        virtio_error(vdev, "control queue: %s", why);
        g_free(why);
        return;
    }
    virtio_notify(vdev, vq);
}

/* ---- VirtioDeviceClass ---- */

static void net_queue_notify(VirtioDevice *vdev, unsigned index)
{
    VirtioNet *n = to_net(vdev);
    NetQueue *q = &n->q[index / 2];

    if (index == ctrl_queue(n)) {
        if (queues_live(n)) {
            ctrl_flush(n);
        }
    } else if (index > ctrl_queue(n)) {
        return;
    } else if (q->vhost_on) {
        vhost_dev_kick(&q->vhost, index & 1);
    } else if (!(index & 1)) {
        /* New rx buffers: a frame the back end held can go in now. */
        virtqueue_set_notification(&vdev->vqs[index], false);
        if (q->nc) {
            net_client_rx_ready(q->nc);
        }
    } else {
        tx_flush(q);
    }
}

static void net_driver_ok(VirtioDevice *vdev)
{
    VirtioNet *n = to_net(vdev);

    apply_offloads(n);
    apply_steering(n);
    vhost_start(n);
    for (unsigned i = 0; i < n->cur_pairs; i++) {
        if (n->q[i].nc) {
            net_client_rx_ready(n->q[i].nc);
        }
    }
}

/* A popped tx chain belongs to the ring being reset: forget it, with its guest buffers. */
static void net_reset(VirtioDevice *vdev)
{
    VirtioNet *n = to_net(vdev);

    vhost_stop_all(n);
    for (unsigned i = 0; i < n->max_pairs; i++) {
        tx_cancel(&n->q[i]);
        g_clear_pointer(&n->q[i].tx_pending, g_free);
        if (n->q[i].nc) {
            net_client_set_offload(n->q[i].nc, 0);
        }
    }
    /* §5.1.6.5.5: after a reset only the first pair is used. */
    n->cur_pairs = 1;
    apply_steering(n);
    /* QEMU: the filter opens and an address the driver set is forgotten. */
    net_filter_reset(&n->filter);
    memcpy(n->mac, n->conf_mac, 6);
    net_update_config(n);
}

static void net_free(VirtioDevice *vdev)
{
    VirtioNet *n = to_net(vdev);

    virtio_net_clear_backend(n);
    net_reset(vdev);
    virtio_device_cleanup(vdev);
    g_free(n);
}

static const VirtioDeviceClass virtio_net_class = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .queue_notify = net_queue_notify,
    .driver_ok = net_driver_ok,
    .reset = net_reset,
    .free = net_free,
};

VirtioNet *virtio_net_new(Machine *m, const char *id, const uint8_t mac[6])
{
    uint64_t f = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
                 VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
                 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_NET_OFFLOAD_FEATURES |
                 VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX) |
                 VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX_EXTRA) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR);
    VirtioNet *n = g_new0(VirtioNet, 1);

    virtio_device_init(&n->vdev, &virtio_net_class, m, id, f, 3, VIRTIO_NET_QUEUE_SIZE,
                       VIRTIO_NET_CFG_SIZE);
    n->max_pairs = 1;
    n->cur_pairs = 1;
    n->base_features = n->vdev.host_features;
    for (unsigned i = 0; i < NET_MAX_QUEUES; i++) {
        n->q[i].n = n;
        n->q[i].index = i;
    }
    memcpy(n->mac, mac, 6);
    memcpy(n->slot_mac, mac, 6);
    memcpy(n->conf_mac, mac, 6);
    net_filter_reset(&n->filter);
    net_update_config(n);
    return n;
}

VirtioDevice *virtio_net_vdev(VirtioNet *n) { return &n->vdev; }
NetClient *virtio_net_backend(VirtioNet *n) { return n->nc; }

/*
 * The queue layout a back end asks for: a pair per back-end queue with mq=on
 * (MQ offered), else one pair. The virtqueues are re-made only while no
 * driver holds them (the slot's status is 0: before the guest runs, or after
 * its driver reset the device).
 */
static bool set_pairs(VirtioNet *n, const char *id, unsigned pairs, GError **err)
{
    if (pairs == n->max_pairs) {
        return true;
    }
    if (!virtio_device_set_num_queues(&n->vdev, 2 * pairs + 1, VIRTIO_NET_QUEUE_SIZE)) {
        set_error(err, "virtio-net '%s': cannot change from %u to %u queue pairs while the "
                  "guest drives the slot (plug a multiqueue NIC with -device at startup)",
                  id ? id : n->vdev.id, n->max_pairs, pairs);
        return false;
    }
    n->max_pairs = pairs;
    n->cur_pairs = 1;
    return true;
}

/*
 * What the slot offers with back end nc: MQ with several pairs; with vhost
 * only the ring features the kernel serves (the device's own stay). Changed
 * only while no driver has negotiated (status 0).
 */
static void set_offered(VirtioNet *n, NetClient *nc)
{
    uint64_t f = n->base_features;

    if (n->vdev.status) {
        return;
    }
    if (n->max_pairs > 1) {
        f |= VIRTIO_BIT(VIRTIO_NET_F_MQ);
    }
    if (nc && nc->vhost_fd >= 0) {
        f &= VHOST_NET_DEVICE_ONLY | nc->vhost_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
    }
    n->vdev.host_features = f;
}

static void detach_queues(VirtioNet *n)
{
    vhost_stop_all(n);
    for (unsigned i = 0; i < n->max_pairs; i++) {
        if (n->q[i].nc) {
            net_client_set_offload(n->q[i].nc, 0);
            net_client_detach(n->q[i].nc);
            n->q[i].nc = NULL;
        }
    }
}

bool virtio_net_set_backend(VirtioNet *n, const char *id, NetClient *nc, const uint8_t mac[6],
                            bool mq, GError **err)
{
    unsigned pairs = nc && mq ? nc->nqueues : 1;

    if (n->nc) {
        set_error(err, "virtio-net '%s' already has a backend", n->vdev.id);
        return false;
    }
    if (nc && net_client_in_use(nc)) {
        set_error(err, "Property 'virtio-net-device.netdev' can't take value '%s', it's in use",
                  nc->id);
        return false;
    }
    if (!set_pairs(n, id, pairs, err)) {
        return false;
    }
    set_offered(n, nc);
    for (unsigned i = 0; nc && i < nc->nqueues; i++) {
        if (i >= pairs) {
            /* mq=off on a multiqueue back end: only its first queue carries frames. */
            net_client_set_queue_enabled(nc->queue[i], false);
        } else if (!net_client_attach(nc->queue[i], &virtio_net_peer_ops, &n->q[i], id, err)) {
            detach_queues(n);
            return false;
        } else {
            n->q[i].nc = nc->queue[i];
        }
    }
    if (nc) {
        /* QEMU's NIC info_str, for HMP `info network`. */
        nc->peer_info = g_strdup_printf("model=virtio-net-device,macaddr="
                                        "%02x:%02x:%02x:%02x:%02x:%02x",
                                        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    }
    if (id) {
        g_free(n->vdev.id);
        n->vdev.id = g_strdup(id);
    }
    n->nc = nc;
    n->link_down = false;       /* a new NIC starts with its link up, as in QEMU */
    memcpy(n->mac, mac, 6);
    memcpy(n->conf_mac, mac, 6);
    apply_offloads(n);          /* the driver may have negotiated long before */
    apply_steering(n);
    if (queues_live(n)) {
        vhost_start(n);
    }
    net_update_config(n);
    virtio_config_changed(&n->vdev);
    return true;
}

void virtio_net_clear_backend(VirtioNet *n)
{
    for (unsigned i = 0; i < n->max_pairs; i++) {
        NetQueue *q = &n->q[i];
        VirtQueue *vq = &n->vdev.vqs[2 * i + 1];

        tx_cancel(q);
        if (q->tx_pending) {
            /* The frame is lost with the cable; the buffer goes back to the guest. */
            virtqueue_push(vq, q->tx_pending, 0);
            g_clear_pointer(&q->tx_pending, g_free);
            virtio_notify(&n->vdev, vq);
        }
    }
    detach_queues(n);
    n->nc = NULL;
    memcpy(n->mac, n->slot_mac, 6);
    memcpy(n->conf_mac, n->slot_mac, 6);
    net_update_config(n);
    virtio_config_changed(&n->vdev);
}

bool virtio_net_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char end;

    if (!s || strlen(s) != 17 ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &end) != 6) {
        return false;
    }
    for (unsigned i = 0; i < 6; i++) {
        if (!g_ascii_isxdigit(s[i * 3]) || !g_ascii_isxdigit(s[i * 3 + 1]) ||
            (i < 5 && s[i * 3 + 2] != ':')) {
            return false;
        }
        mac[i] = (uint8_t)v[i];
    }
    return true;
}

void virtio_net_generate_mac(const char *seed, uint8_t mac[6])
{
    /* FNV-1a: the same id gives the same address on every run (DHCP leases, udev names). */
    uint32_t h = 2166136261u;

    for (const char *p = seed; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    mac[0] = 0x52;
    mac[1] = 0x54;
    mac[2] = 0x00;
    mac[3] = h >> 16;
    mac[4] = h >> 8;
    mac[5] = h;
}

/* ---- the virtio-net-device type (hw/device.h) ---- */

/*
 * The user-visible NIC. On microvm it fills a net slot (whose VirtioNet
 * exists from boot): realize resolves the back end and the address, the
 * machine's plug hook attaches them to the slot.
 */
typedef struct VirtioNetDevice {
    Device dev;
    char *netdev;
    char *mac;
    uint16_t queue_size;
    int32_t bootindex;          /* fw_cfg "bootorder" (hw/bootorder.h) */
    bool mq;                    /* a queue pair per back-end queue (MQ offered) */
    NetClient *nc;              /* resolved by realize; owned by m->netdevs */
    uint8_t macaddr[6];
    VirtioNet *placed;          /* the slot's NIC, set by the machine's plug hook */
} VirtioNetDevice;

static bool net_dev_realize(Device *d, GError **err)
{
    VirtioNetDevice *v = (VirtioNetDevice *)d;
    /* The seeds' device_add names no netdev: the device id is the netdev id. */
    const char *name = v->netdev && *v->netdev ? v->netdev : d->hotplugged ? d->id : NULL;

    if (v->mac) {
        if (!virtio_net_parse_mac(v->mac, v->macaddr)) {
            set_error(err, "Property 'virtio-net-device.mac' doesn't take value '%s'", v->mac);
            return false;
        }
    } else {
        virtio_net_generate_mac(d->id ? d->id : name ? name : "virtio-net", v->macaddr);
    }
    if (name) {
        v->nc = net_find(d->machine, name);
        if (!v->nc) {
            if (d->hotplugged && !(v->netdev && *v->netdev)) {
                set_error(err, "Failed to find device configuration.");
            } else {
                set_error(err, "Property 'virtio-net-device.netdev' can't find value '%s'", name);
            }
            return false;
        }
        if (net_client_in_use(v->nc)) {
            set_error(err, "Property 'virtio-net-device.netdev' can't take value '%s', it's in use",
                      name);
            v->nc = NULL;
            return false;
        }
        if (!v->netdev || !*v->netdev) {
            g_free(v->netdev);
            v->netdev = g_strdup(name);
        }
    }
    return true;
}

static void net_dev_unrealize(Device *d)
{
    ((VirtioNetDevice *)d)->nc = NULL;
}

NetClient *virtio_net_device_backend(Device *d)
{
    return virtio_net_device_is(d) ? ((VirtioNetDevice *)d)->nc : NULL;
}

bool virtio_net_device_mq(Device *d)
{
    return virtio_net_device_is(d) && ((VirtioNetDevice *)d)->mq;
}

const uint8_t *virtio_net_device_mac(Device *d)
{
    return virtio_net_device_is(d) ? ((VirtioNetDevice *)d)->macaddr : NULL;
}

const NetRxFilter *virtio_net_device_rx_filter(Device *d, uint8_t mac[6])
{
    VirtioNet *n = virtio_net_device_is(d) ? ((VirtioNetDevice *)d)->placed : NULL;

    if (!n) {
        return NULL;
    }
    memcpy(mac, n->mac, 6);
    return &n->filter;
}

void virtio_net_device_placed(Device *d, VirtioNet *n)
{
    if (virtio_net_device_is(d)) {
        ((VirtioNetDevice *)d)->placed = n;
    }
}

static void *net_dev_vmstate_opaque(Device *d)
{
    return ((VirtioNetDevice *)d)->placed;
}

/* virtio-net-pci: the NIC is this device's own; the transport is the machine's. */
static bool net_pci_realize(Device *d, GError **err)
{
    VirtioNetDevice *v = (VirtioNetDevice *)d;
    VirtioNet *n;

    if (!net_dev_realize(d, err)) {
        return false;
    }
    n = virtio_net_new(d->machine, d->id, v->macaddr);
    if (v->nc && !virtio_net_set_backend(n, d->id, v->nc, v->macaddr, v->mq, err)) {
        virtio_device_free(virtio_net_vdev(n));
        net_dev_unrealize(d);
        return false;
    }
    v->placed = n;
    return true;
}

static void net_pci_unrealize(Device *d)
{
    VirtioNetDevice *v = (VirtioNetDevice *)d;

    if (v->placed) {
        virtio_net_clear_backend(v->placed);
        virtio_device_free(virtio_net_vdev(v->placed));
        v->placed = NULL;
    }
    net_dev_unrealize(d);
}

static VirtioDevice *net_pci_virtio_device(Device *d)
{
    return virtio_net_vdev(((VirtioNetDevice *)d)->placed);
}

static const Property virtio_net_props[] = {
    DEFINE_PROP("netdev", PROP_STR, VirtioNetDevice, netdev, NULL,
                "ID of a netdev to use as a backend"),
    DEFINE_PROP("mac", PROP_STR, VirtioNetDevice, mac, NULL,
                "Ethernet 6-byte MAC Address"),
    DEFINE_PROP("mq", PROP_BOOL, VirtioNetDevice, mq, "off",
                "One rx/tx queue pair per back-end queue (VIRTIO_NET_F_MQ)"),
    DEFINE_PROP_RANGE("queue-size", PROP_U16, VirtioNetDevice, queue_size, "256", 256, 256,
                      "Size of the rx and tx queues"),
    DEFINE_PROP_BOOTINDEX(VirtioNetDevice, bootindex),
    DEFINE_PROP_END,
};

static const char *const virtio_net_aliases[] = { "virtio-net-mmio", NULL };

/* ---- saved state (migration/vmstate.h) ---- */

/* A popped tx chain holds guest buffers the stream cannot describe. */
static bool virtio_net_pre_save(void *opaque, GError **err)
{
    VirtioNet *n = opaque;

    for (unsigned i = 0; i < n->max_pairs; i++) {
        if (n->q[i].tx_pending) {
            g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                        "'%s' has a frame waiting for its back end", n->vdev.id);
            return false;
        }
    }
    return true;
}

/* The pairs in use must exist here (the queue count itself is checked by the core). */
static bool virtio_net_post_load(void *opaque, uint32_t version, GError **err)
{
    VirtioNet *n = opaque;

    if (version < 3) {
        n->cur_pairs = 1;
    }
    if (n->cur_pairs < 1 || n->cur_pairs > n->max_pairs) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "'%s': %u queue pairs in use, the device has %u", n->vdev.id,
                    n->cur_pairs, n->max_pairs);
        return false;
    }
    apply_steering(n);
    return true;
}

/*
 * The virtio core holds the rings and the config image (MAC, link status);
 * version 2 adds the control queue's filter and the address a reset restores,
 * version 3 the queue pairs in use (VQ_PAIRS_SET). The back end, and with it
 * the number of pairs, is configuration.
 */
const VMStateDescription vmstate_virtio_net = {
    .name = "virtio-net",
    .version_id = 3,
    .minimum_version_id = 1,
    .pre_save = virtio_net_pre_save,
    .post_load = virtio_net_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(vdev, VirtioNet, vmstate_virtio_device, VirtioDevice),
        /* Version 2: the control queue's filter and the address the driver set. */
        VMSTATE_STRUCT_V(filter, VirtioNet, vmstate_net_rx_filter, NetRxFilter, 2),
        VMSTATE_BUFFER_V(mac, VirtioNet, 2),
        VMSTATE_BUFFER_V(conf_mac, VirtioNet, 2),
        VMSTATE_U16_V(cur_pairs, VirtioNet, 3),
        VMSTATE_END_OF_LIST()
    },
};

/*
 * The vhost kernel writes guest RAM (used rings, received frames) without
 * the dirty log, and keeps the rings' positions itself: a migration would
 * hand the destination stale memory.
 */
static const char *net_dev_migration_blocker(Device *d)
{
    NetClient *nc = virtio_net_device_backend(d);

    return nc && nc->vhost_fd >= 0 ? "its vhost-net back end writes guest memory the "
                                     "dirty log does not see" : NULL;
}

const DeviceClass virtio_net_device_class = {
    .name = "virtio-net-device",
    .aliases = virtio_net_aliases,
    .parent = "virtio-device",
    .description = "Virtio network device",
    .bus = DEVICE_BUS_VIRTIO,
    .instance_size = sizeof(VirtioNetDevice),
    .props = virtio_net_props,
    .boot_suffix = "/ethernet-phy@0",
    .user_creatable = true,
    .hotpluggable = true,
    .realize = net_dev_realize,
    .unrealize = net_dev_unrealize,
    .vmsd = &vmstate_virtio_net,
    .vmstate_opaque = net_dev_vmstate_opaque,
    .migration_blocker = net_dev_migration_blocker,
};

/* q35 (docs/q35.md "virtio-pci"): QEMU's class 0x0200, "Ethernet controller". */
const DeviceClass virtio_net_pci_device_class = {
    .name = "virtio-net-pci",
    .parent = "virtio-pci",
    .description = "Virtio network device",
    .bus = DEVICE_BUS_PCI,
    .pci_class = 0x020000,
    .instance_size = sizeof(VirtioNetDevice),
    .props = virtio_net_props,
    .boot_suffix = "/ethernet-phy@0",
    .user_creatable = true,
    /* below a pcie-root-port (q35.c); pcie.0 has no hot-plug */
    .hotpluggable = true,
    .realize = net_pci_realize,
    .unrealize = net_pci_unrealize,
    .virtio_device = net_pci_virtio_device,
    .vmsd = &vmstate_virtio_net,
    .vmstate_opaque = net_dev_vmstate_opaque,
    .migration_blocker = net_dev_migration_blocker,
};
