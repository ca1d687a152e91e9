/* Network back end core: peers, held frames, the netdev table (net/net.h). */
#include <errno.h>
#include <string.h>

#include "net/net.h"
#include "util/log.h"
#include "util/strutil.h"

/*
 * One order for back ends and the NICs attaching to them (machine lock
 * held), kept by the machine; unit tests without a machine get 0.
 */
static uint64_t net_next_seq(Machine *m)
{
    return m ? ++m->net_seq : 0;
}

static void cancel_resume(NetClient *nc);

void net_client_init(NetClient *nc, const NetClientOps *ops, Machine *m, const char *id)
{
    memset(nc, 0, sizeof(*nc));
    nc->ops = ops;
    nc->m = m;
    nc->id = g_strdup(id);
    nc->seq = net_next_seq(m);
    nc->nqueues = 1;
    nc->queue[0] = nc;
    nc->vhost_fd = -1;
}

void net_client_pause(NetClient *nc, bool paused)
{
    nc->paused = paused;
    if (paused) {
        nc->ops->set_read_poll(nc, false);
        cancel_resume(nc);
    } else if (nc->peer) {
        net_client_rx_ready(nc);
    }
}

int net_client_host_fd(NetClient *nc)
{
    return nc->ops->get_fd ? nc->ops->get_fd(nc) : -1;
}

void net_client_add_queue(NetClient *nc, NetClient *q)
{
    g_assert(nc->nqueues < NET_MAX_QUEUES);
    nc->queue[nc->nqueues++] = q;
}

void net_client_set_queue_enabled(NetClient *q, bool enable)
{
    if (q->ops->set_queue_enabled) {
        q->ops->set_queue_enabled(q, enable);
    }
}

static void cancel_resume(NetClient *nc)
{
    if (nc->resume) {
        g_source_destroy(nc->resume);
        g_source_unref(nc->resume);
        nc->resume = NULL;
    }
}

static void drop_held(NetClient *nc)
{
    if (nc->held) {
        nc->rx_dropped++;
        g_clear_pointer(&nc->held, g_free);
        nc->held_len = 0;
    }
}

void net_client_free(NetClient *nc)
{
    if (!nc) {
        return;
    }
    /* A NIC still attached would keep a dangling pointer: devices go first. */
    g_assert(!nc->peer);
    for (unsigned i = 1; i < nc->nqueues; i++) {
        net_client_free(nc->queue[i]);
    }
    cancel_resume(nc);
    drop_held(nc);
    g_free(nc->id);
    g_free(nc->info_str);
    nc->ops->free(nc);
}

bool net_client_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    g_assert(!nc->held);
    if (!nc->peer || nc->link_down) {
        nc->rx_dropped++;
        return true;
    }
    if (nc->peer->receive(nc->peer_opaque, buf, len)) {
        nc->rx_frames++;
        return true;
    }
    /*
     * One frame is kept rather than dropped: a guest refilling its ring a
     * little late (the common case under load) loses nothing, and the
     * kernel queues the rest until reading resumes.
     */
    nc->held = g_memdup2(buf, len);
    nc->held_len = len;
    nc->ops->set_read_poll(nc, false);
    return false;
}

void net_client_tx_ready(NetClient *nc)
{
    if (nc->peer && nc->peer->tx_ready) {
        nc->peer->tx_ready(nc->peer_opaque);
    }
}

/* Main loop, lock held (machine_run dispatches locked). */
static gboolean resume_cb(gpointer opaque)
{
    NetClient *nc = opaque;

    g_source_unref(nc->resume);
    nc->resume = NULL;
    if (!nc->peer) {
        return G_SOURCE_REMOVE;
    }
    if (nc->held) {
        if (!nc->peer->receive(nc->peer_opaque, nc->held, nc->held_len)) {
            return G_SOURCE_REMOVE;      /* still no room: wait for the next rx_ready */
        }
        nc->rx_frames++;
        g_clear_pointer(&nc->held, g_free);
        nc->held_len = 0;
    }
    nc->ops->set_read_poll(nc, true);
    return G_SOURCE_REMOVE;
}

void net_client_rx_ready(NetClient *nc)
{
    /*
     * Called from the NIC's queue notify (a vCPU thread, or inside the
     * NIC's own receive path): delivering here would re-enter the NIC, so
     * the main loop does it.
     */
    if (nc->resume || !nc->peer || nc->paused) {
        return;
    }
    nc->resume = g_idle_source_new();
    g_source_set_callback(nc->resume, resume_cb, nc, NULL);
    g_source_attach(nc->resume, nc->m->ctx);
}

bool net_client_attach(NetClient *nc, const NetPeerOps *ops, void *opaque, const char *name,
                       GError **err)
{
    if (nc->peer) {
        set_error(err, "Property 'virtio-net-device.netdev' can't take value '%s', it's in use",
                  nc->id);
        return false;
    }
    nc->peer = ops;
    nc->peer_opaque = opaque;
    nc->peer_name = g_strdup(name);
    nc->peer_seq = net_next_seq(nc->m);
    nc->paused = false;
    nc->ops->set_read_poll(nc, true);
    return true;
}

void net_client_detach(NetClient *nc)
{
    if (!nc->peer) {
        return;
    }
    /* Nobody reads while detached: the host queue keeps (or drops) frames. */
    nc->ops->set_read_poll(nc, false);
    cancel_resume(nc);
    drop_held(nc);
    nc->peer = NULL;
    nc->peer_opaque = NULL;
    nc->paused = false;
    g_clear_pointer(&nc->peer_name, g_free);
    g_clear_pointer(&nc->peer_info, g_free);
}

ssize_t net_client_send(NetClient *nc, const struct iovec *iov, unsigned n)
{
    ssize_t r = 0;

    if (nc->link_down) {
        /* QEMU: a back end whose link is down swallows what it is given. */
        for (unsigned i = 0; i < n; i++) {
            r += iov[i].iov_len;
        }
        nc->tx_errors++;
        return r;
    }
    r = nc->ops->send(nc, iov, n);

    if (r >= 0) {
        nc->tx_frames++;
    } else if (r != -EAGAIN) {
        nc->tx_errors++;
    }
    return r;
}

bool net_set_link(Machine *m, const char *name, bool up, GError **err)
{
    NetClient *nc = net_find(m, name);
    GHashTableIter it;
    gpointer value;
    bool found = false;

    if (nc) {
        found = true;
        for (unsigned i = 0; i < nc->nqueues; i++) {
            nc->queue[i]->link_down = !up;
        }
        if (nc->peer && nc->peer->set_link) {
            nc->peer->set_link(nc->peer_opaque, up);
        }
    }
    if (m->netdevs) {
        g_hash_table_iter_init(&it, m->netdevs);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            NetClient *b = value;
            if (b != nc && b->peer && b->peer_name && !strcmp(b->peer_name, name)) {
                found = true;
                if (b->peer->set_link) {
                    b->peer->set_link(b->peer_opaque, up);
                }
            }
        }
    }
    if (!found) {
        g_set_error(err, STRATUS_ERROR, STRATUS_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found",
                    name);
    }
    return found;
}

void net_client_set_offload(NetClient *nc, unsigned flags)
{
    if (nc->vnet_hdr && nc->ops->set_offload) {
        nc->ops->set_offload(nc, flags);
    }
}

bool net_checksum_finish(uint8_t *frame, size_t len, size_t start, size_t offset)
{
    uint32_t sum = 0;
    size_t i;

    if (start >= len || offset > len - start || len - start - offset < 2) {
        return false;
    }
    for (i = start; i + 1 < len; i += 2) {
        sum += (uint32_t)frame[i] << 8 | frame[i + 1];
    }
    if (i < len) {
        sum += (uint32_t)frame[i] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = ~sum & 0xffff;
    frame[start + offset] = sum >> 8;
    frame[start + offset + 1] = sum & 0xff;
    return true;
}

GHashTable *net_table_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                 (GDestroyNotify)net_client_free);
}

NetClient *net_find(Machine *m, const char *id)
{
    return m->netdevs && id ? g_hash_table_lookup(m->netdevs, id) : NULL;
}
