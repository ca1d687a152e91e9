/*
 * virtio-vsock-device: a user-space vsock back end (virtio 1.2 §5.10) with
 * Firecracker's hybrid convention (docs/devices-vsock.md).
 *
 * This file is over 800 lines because the connection state machine, the
 * two data directions and the unix-socket side are one piece of logic
 * around one connection table; split, each part would need the others'
 * internals.
 *
 * Host side: a listening unix socket at uds-path. A host program connects,
 * writes "CONNECT <port>\n" and, once the guest accepts, reads
 * "OK <hostport>\n" followed by the guest's stream. A guest connection to
 * host port P becomes a connection to the unix socket "<uds-path>_P".
 *
 * Guest side: one connection is the pair (host port, guest port). Every
 * packet to the guest carries our buffer space (VSOCK_BUF_ALLOC) and how much
 * of the guest's data has gone on to the host socket (fwd_cnt): the guest may
 * never have more than VSOCK_BUF_ALLOC bytes of ours unforwarded, so a tx
 * packet is always consumed at once (copied into the connection's buffer)
 * and no guest buffer is ever held between main-loop turns. Data to the
 * guest is read from the host socket only as far as the guest's credit and
 * the rx buffer at hand allow.
 *
 * Work: kicks (vCPU threads) and socket readiness only schedule the device;
 * the main loop then does at most VSOCK_PKTS_PER_TURN packets each way and
 * reschedules itself if more is left. All sockets are non-blocking.
 *
 * Hostile input: chains with device-writable parts on tx, device-readable
 * parts or no room for a header on rx, and whatever the virtqueue layer
 * refuses set NEEDS_RESET. Packets that are well formed as buffers but wrong
 * as vsock (foreign source CID, unknown op or type, a length beyond the
 * buffer or VSOCK_MAX_PKT, data beyond our credit) are answered with RST or,
 * for a foreign source CID, dropped; each kind is logged once per reset.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "hw/virtio/virtio-vsock.h"
#include "hw/device.h"
#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define VSOCK_BUF_ALLOC (64 * 1024)     /* per connection, guest -> host */
#define VSOCK_MAX_PKT (64 * 1024)       /* payload of one packet, both ways */
#define VSOCK_MAX_CONNS 128             /* host and guest initiated together */
#define VSOCK_RST_QUEUE 64              /* RSTs for no connection, waiting for rx buffers */
#define VSOCK_PKTS_PER_TURN 256         /* each direction, per main-loop turn */
#define VSOCK_ACCEPTS_PER_TURN 16
#define VSOCK_LINE_MAX 32               /* "CONNECT 4294967295\n" and some slack */
#define VSOCK_PREFACE_MAX 24            /* "OK 4294967295\n" */
#define VSOCK_LOCAL_PORT_BASE (1u << 30) /* host ports of host-initiated connections */
/* "_4294967295" after uds-path must still fit sun_path. */
#define VSOCK_PORT_SUFFIX_MAX 11

typedef enum {
    CONN_HANDSHAKE,     /* host accepted, reading "CONNECT <port>\n" */
    CONN_CONNECTING,    /* REQUEST to the guest, waiting for RESPONSE */
    CONN_ESTABLISHED,
} ConnState;

/* Control packets a connection owes the guest, sent in this order. */
enum {
    PEND_REQUEST = 1,
    PEND_RESPONSE = 2,
    PEND_SHUTDOWN = 4,
    PEND_CREDIT = 8,
};

typedef struct VirtioVsock VirtioVsock;

typedef struct VsockConn {
    VirtioVsock *s;
    GList *link;                /* in s->conns */
    int fd;
    gpointer tag;               /* in s->fd_source while events are wanted */
    GIOCondition events;        /* what tag watches */
    ConnState state;
    uint64_t key;               /* local_port << 32 | peer_port, in s->by_key */
    uint32_t local_port;        /* the host's port */
    uint32_t peer_port;         /* the guest's port */
    unsigned pending;           /* PEND_* */
    bool readable;              /* the socket may have bytes (until EAGAIN) */
    bool host_eof;              /* the host sends no more: SHUTDOWN(SEND) owed or sent */
    bool peer_shut_send, peer_shut_rcv;
    bool shut_wr_done;          /* shutdown(SHUT_WR) after the guest's SHUTDOWN(SEND) */
    /* Guest -> host: a ring of VSOCK_BUF_ALLOC + preface bytes. */
    uint8_t *buf;
    uint32_t head, len;
    uint32_t preface;           /* "OK <port>\n" at the front: not guest bytes */
    uint32_t fwd_cnt, fwd_reported;
    /* Host -> guest: the guest's buffer and what we sent. */
    uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
    char line[VSOCK_LINE_MAX];  /* the handshake line so far */
    unsigned line_len;
} VsockConn;

#define CONN_RING (VSOCK_BUF_ALLOC + VSOCK_PREFACE_MAX)

typedef struct RstEntry {
    uint32_t local_port, peer_port;
} RstEntry;

struct VirtioVsock {
    Device parent;              /* first: the registry allocates and frees us */
    uint64_t guest_cid;         /* property "guest-cid" */
    char *uds_path;             /* property "uds-path" */

    VirtioDevice vdev;
    int listen_fd;
    GSource *fd_source;         /* the listener and every connection's socket */
    gpointer listen_tag;
    GSource *work;              /* the queues are to be served from the main loop */
    GList *conns;               /* VsockConn, oldest first; the head is served first */
    GHashTable *by_key;         /* key -> VsockConn, the guest-visible ones */
    RstEntry rst[VSOCK_RST_QUEUE];
    unsigned rst_head, rst_len;
    uint32_t next_local_port;
    uint8_t *bounce;            /* VSOCK_MAX_PKT bytes: host socket -> rx buffer */
    /* Logged once per reset: a guest must not flood the log. */
    bool logged_cid, logged_len, logged_op, logged_credit, logged_limit;
};

static VirtioVsock *to_vsock(VirtioDevice *vdev)
{
    return (VirtioVsock *)((char *)vdev - offsetof(VirtioVsock, vdev));
}

static void vsock_schedule(VirtioVsock *s);
static void conn_update_watch(VsockConn *c);

/* ---- the connection table ---- */

static uint64_t conn_key(uint32_t local_port, uint32_t peer_port)
{
    return (uint64_t)local_port << 32 | peer_port;
}

static VsockConn *conn_find(VirtioVsock *s, uint32_t local_port, uint32_t peer_port)
{
    uint64_t k = conn_key(local_port, peer_port);

    return g_hash_table_lookup(s->by_key, &k);
}

static VsockConn *conn_new(VirtioVsock *s, int fd, ConnState state)
{
    VsockConn *c = g_new0(VsockConn, 1);

    c->s = s;
    c->fd = fd;
    c->state = state;
    s->conns = g_list_append(s->conns, c);
    c->link = g_list_last(s->conns);
    return c;
}

static void conn_set_ports(VsockConn *c, uint32_t local_port, uint32_t peer_port)
{
    c->local_port = local_port;
    c->peer_port = peer_port;
    c->key = conn_key(local_port, peer_port);
    g_hash_table_insert(c->s->by_key, &c->key, c);
}

static void conn_destroy(VsockConn *c)
{
    VirtioVsock *s = c->s;

    if (c->state != CONN_HANDSHAKE) {
        g_hash_table_remove(s->by_key, &c->key);
    }
    if (c->tag) {
        g_source_remove_unix_fd(s->fd_source, c->tag);
    }
    close(c->fd);
    s->conns = g_list_delete_link(s->conns, c->link);
    g_free(c->buf);
    g_free(c);
}

static void rst_enqueue(VirtioVsock *s, uint32_t local_port, uint32_t peer_port)
{
    RstEntry *e;

    if (s->rst_len == VSOCK_RST_QUEUE) {
        /* A guest sending faster than it posts rx buffers loses RSTs, not memory. */
        return;
    }
    e = &s->rst[(s->rst_head + s->rst_len++) % VSOCK_RST_QUEUE];
    e->local_port = local_port;
    e->peer_port = peer_port;
}

/* The connection is over for both sides: RST to the guest, the socket closed. */
static void conn_reset(VsockConn *c)
{
    VirtioVsock *s = c->s;

    if (c->state != CONN_HANDSHAKE) {
        rst_enqueue(s, c->local_port, c->peer_port);
    }
    conn_destroy(c);
    vsock_schedule(s);
}

static unsigned conn_count(VirtioVsock *s)
{
    return g_list_length(s->conns);
}

/* Bytes the guest may still send to us: what its packets may carry. */
static uint32_t guest_data_room(const VsockConn *c)
{
    return VSOCK_BUF_ALLOC - (c->len - c->preface);
}

/* Bytes we may still send to the guest. */
static uint32_t peer_credit(const VsockConn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void ring_put(VsockConn *c, const void *data, uint32_t n)
{
    uint32_t tail = (c->head + c->len) % CONN_RING;
    uint32_t first = MIN(n, CONN_RING - tail);

    memcpy(c->buf + tail, data, first);
    memcpy(c->buf, (const uint8_t *)data + first, n - first);
    c->len += n;
}

/*
 * Guest bytes (and the preface) to the host socket. false when the
 * connection was reset (the socket failed) and c is gone.
 */
static bool conn_flush(VsockConn *c)
{
    while (c->len) {
        uint32_t chunk = MIN(c->len, CONN_RING - c->head);
        ssize_t n = send(c->fd, c->buf + c->head, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
        uint32_t from_preface;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n <= 0) {
            conn_reset(c);
            return false;
        }
        from_preface = MIN((uint32_t)n, c->preface);
        c->preface -= from_preface;
        c->fwd_cnt += (uint32_t)n - from_preface;
        c->head = (c->head + (uint32_t)n) % CONN_RING;
        c->len -= (uint32_t)n;
    }
    /* Tell the guest about freed space before it has to ask. */
    if (c->fwd_cnt - c->fwd_reported >= VSOCK_BUF_ALLOC / 4) {
        c->pending |= PEND_CREDIT;
        vsock_schedule(c->s);
    }
    if (!c->len && c->peer_shut_send) {
        if (c->peer_shut_rcv) {
            conn_reset(c);          /* both directions closed by the guest: done */
            return false;
        }
        if (!c->shut_wr_done) {
            c->shut_wr_done = true;
            shutdown(c->fd, SHUT_WR);
        }
    }
    conn_update_watch(c);
    return true;
}

/* ---- socket readiness ---- */

static bool conn_wants_read(const VsockConn *c)
{
    if (c->state == CONN_HANDSHAKE) {
        return true;
    }
    return c->state == CONN_ESTABLISHED && !c->host_eof && !c->peer_shut_rcv &&
           peer_credit(c) > 0;
}

static void conn_update_watch(VsockConn *c)
{
    VirtioVsock *s = c->s;
    GIOCondition want = 0;

    if (conn_wants_read(c) && !c->readable) {
        want |= G_IO_IN;
    }
    if (c->len) {
        want |= G_IO_OUT;
    }
    if (want == c->events) {
        return;
    }
    /*
     * Nothing wanted: off the poll set altogether, since poll reports a
     * hang-up even for no events and the loop would spin on it.
     */
    if (!want) {
        g_source_remove_unix_fd(s->fd_source, c->tag);
        c->tag = NULL;
    } else if (!c->tag) {
        c->tag = g_source_add_unix_fd(s->fd_source, c->fd, want);
    } else {
        g_source_modify_unix_fd(s->fd_source, c->tag, want);
    }
    c->events = want;
}

/*
 * "CONNECT <port>\n", read a byte at a time (at most VSOCK_LINE_MAX of them)
 * so that stream bytes after it stay in the socket for the guest.
 */
static void conn_handshake(VsockConn *c)
{
    VirtioVsock *s = c->s;
    char *end;
    guint64 port;

    for (;;) {
        ssize_t n = recv(c->fd, c->line + c->line_len, 1, MSG_DONTWAIT);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->readable = false;
            conn_update_watch(c);
            return;
        }
        if (n <= 0) {
            conn_destroy(c);
            return;
        }
        if (c->line[c->line_len] == '\n') {
            break;
        }
        if (++c->line_len == sizeof(c->line) - 1) {
            conn_destroy(c);        /* no line this long is a CONNECT */
            return;
        }
    }
    c->line[c->line_len] = '\0';
    if (strncmp(c->line, "CONNECT ", 8) || !g_ascii_isdigit(c->line[8])) {
        conn_destroy(c);
        return;
    }
    errno = 0;
    port = g_ascii_strtoull(c->line + 8, &end, 10);
    if (errno || *end || port > UINT32_MAX) {
        conn_destroy(c);
        return;
    }
    /* A local port no connection uses; wraps within [BASE, UINT32_MAX]. */
    do {
        c->local_port = s->next_local_port;
        s->next_local_port = s->next_local_port == UINT32_MAX ? VSOCK_LOCAL_PORT_BASE
                                                                : s->next_local_port + 1;
    } while (conn_find(s, c->local_port, (uint32_t)port));
    conn_set_ports(c, c->local_port, (uint32_t)port);
    c->state = CONN_CONNECTING;
    c->pending |= PEND_REQUEST;
    c->readable = true;             /* whatever followed the line waits for ESTABLISHED */
    conn_update_watch(c);
    vsock_schedule(s);
}

static void accept_some(VirtioVsock *s)
{
    for (int i = 0; i < VSOCK_ACCEPTS_PER_TURN; i++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        VsockConn *c;

        if (fd < 0) {
            return;
        }
        if (conn_count(s) >= VSOCK_MAX_CONNS) {
            if (!s->logged_limit) {
                s->logged_limit = true;
                log_warn("virtio-vsock '%s': %u connections open: refusing more (logged once)",
                         s->vdev.id, VSOCK_MAX_CONNS);
            }
            close(fd);
            continue;
        }
        c = conn_new(s, fd, CONN_HANDSHAKE);
        c->readable = true;
        conn_handshake(c);
    }
}

static gboolean fd_dispatch(GSource *src, GSourceFunc cb, gpointer opaque)
{
    VirtioVsock *s = opaque;
    GList *l, *next;

    if (g_source_query_unix_fd(src, s->listen_tag)) {
        accept_some(s);
    }
    for (l = s->conns; l; l = next) {
        VsockConn *c = l->data;
        GIOCondition rev = c->tag ? g_source_query_unix_fd(src, c->tag) : 0;

        next = l->next;
        if (!rev) {
            continue;
        }
        if (rev & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
            c->readable = true;
        }
        if (c->state == CONN_HANDSHAKE) {
            conn_handshake(c);
            continue;
        }
        if ((rev & (G_IO_OUT | G_IO_HUP | G_IO_ERR)) && c->len && !conn_flush(c)) {
            continue;
        }
        conn_update_watch(c);
    }
    vsock_schedule(s);
    return G_SOURCE_CONTINUE;
}

static const GSourceFuncs fd_source_funcs = {
    .dispatch = fd_dispatch,
};

/* ---- packets to the guest (rx) ---- */

static void hdr_fill(VirtioVsock *s, VsockHdr *h, uint32_t local_port, uint32_t peer_port,
                     uint16_t op, uint32_t len)
{
    memset(h, 0, sizeof(*h));
    h->src_cid = GUINT64_TO_LE(VSOCK_HOST_CID);
    h->dst_cid = GUINT64_TO_LE(s->guest_cid);
    h->src_port = GUINT32_TO_LE(local_port);
    h->dst_port = GUINT32_TO_LE(peer_port);
    h->len = GUINT32_TO_LE(len);
    h->type = GUINT16_TO_LE(VSOCK_TYPE_STREAM);
    h->op = GUINT16_TO_LE(op);
    h->buf_alloc = GUINT32_TO_LE(VSOCK_BUF_ALLOC);
}

/* The next rx buffer, checked; NULL if none (or the device broke). */
static VirtQueueElement *rx_pop(VirtioVsock *s)
{
    VirtQueueElement *e;
    char *why;
    int r = virtqueue_pop(&s->vdev.vqs[VSOCK_QUEUE_RX], &e, &why);

    if (r < 0) {
        virtio_error(&s->vdev, "rx queue: %s", why);
        g_free(why);
        return NULL;
    }
    if (r == 0) {
        return NULL;
    }
    if (e->out_num || e->in_len < VSOCK_HDR_SIZE) {
        virtio_error(&s->vdev, "rx buffer of %u device-readable descriptors and %" G_GUINT64_FORMAT
                     " device-writable bytes (a packet needs %u)", e->out_num, e->in_len,
                     VSOCK_HDR_SIZE);
        g_free(e);
        return NULL;
    }
    return e;
}

static void rx_push(VirtioVsock *s, VirtQueueElement *e, const VsockHdr *h,
                    const void *payload, uint32_t len)
{
    iov_from_buf(e->in_sg, e->in_num, 0, h, VSOCK_HDR_SIZE);
    if (len) {
        iov_from_buf(e->in_sg, e->in_num, VSOCK_HDR_SIZE, payload, len);
    }
    virtqueue_push(&s->vdev.vqs[VSOCK_QUEUE_RX], e, VSOCK_HDR_SIZE + len);
    g_free(e);
}

/* One control packet the connection owes; false if it owes none. */
static bool rx_control(VsockConn *c, VirtQueueElement *e)
{
    VirtioVsock *s = c->s;
    VsockHdr h;
    uint16_t op;
    uint32_t flags = 0;

    if (c->pending & PEND_REQUEST) {
        c->pending &= ~PEND_REQUEST;
        op = VSOCK_OP_REQUEST;
    } else if (c->pending & PEND_RESPONSE) {
        c->pending &= ~PEND_RESPONSE;
        op = VSOCK_OP_RESPONSE;
    } else if (c->pending & PEND_SHUTDOWN) {
        c->pending &= ~PEND_SHUTDOWN;
        op = VSOCK_OP_SHUTDOWN;
        flags = VSOCK_SHUTDOWN_SEND;
    } else if (c->pending & PEND_CREDIT) {
        c->pending &= ~PEND_CREDIT;
        op = VSOCK_OP_CREDIT_UPDATE;
    } else {
        return false;
    }
    hdr_fill(s, &h, c->local_port, c->peer_port, op, 0);
    h.flags = GUINT32_TO_LE(flags);
    h.fwd_cnt = GUINT32_TO_LE(c->fwd_cnt);
    c->fwd_reported = c->fwd_cnt;
    rx_push(s, e, &h, NULL, 0);
    return true;
}

/*
 * Host bytes for the guest into e. 1: sent; 0: none to send now (e is
 * still to be used); -1: the connection is gone (e is still to be used).
 */
static int rx_data(VsockConn *c, VirtQueueElement *e)
{
    VirtioVsock *s = c->s;
    uint32_t room = (uint32_t)MIN(e->in_len - VSOCK_HDR_SIZE, (uint64_t)VSOCK_MAX_PKT);
    uint32_t want = MIN(room, peer_credit(c));
    ssize_t n;
    VsockHdr h;

    if (!conn_wants_read(c) || !c->readable || !want) {
        return 0;
    }
    n = recv(c->fd, s->bounce, want, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->readable = false;
        conn_update_watch(c);
        return 0;
    }
    if (n < 0) {
        conn_reset(c);
        return -1;
    }
    if (n == 0) {
        /* The host sends no more; it may still read what the guest sends. */
        c->host_eof = true;
        c->pending |= PEND_SHUTDOWN;
        conn_update_watch(c);
        return 0;
    }
    hdr_fill(s, &h, c->local_port, c->peer_port, VSOCK_OP_RW, (uint32_t)n);
    h.fwd_cnt = GUINT32_TO_LE(c->fwd_cnt);
    c->fwd_reported = c->fwd_cnt;
    c->tx_cnt += (uint32_t)n;
    rx_push(s, e, &h, s->bounce, (uint32_t)n);
    conn_update_watch(c);
    return 1;
}

/* Whether a buffer would be used: one is taken off the ring only then. */
static bool rx_has_work(VirtioVsock *s)
{
    if (s->rst_len) {
        return true;
    }
    for (GList *l = s->conns; l; l = l->next) {
        VsockConn *c = l->data;

        if (c->state != CONN_HANDSHAKE &&
            (c->pending || (conn_wants_read(c) && c->readable))) {
            return true;
        }
    }
    return false;
}

/*
 * Fills rx buffers: RSTs first, then each connection in turn gets one
 * packet (its control packets before its data), so no connection starves
 * the others. Returns the packets sent; *more if the turn ended with work left.
 */
static unsigned rx_process(VirtioVsock *s, bool *more)
{
    unsigned sent = 0;
    bool progress = true;

    while (sent < VSOCK_PKTS_PER_TURN && progress && rx_has_work(s)) {
        VirtQueueElement *e = rx_pop(s);
        GList *l, *next;

        if (!e) {
            return sent;
        }
        if (s->rst_len) {
            RstEntry *r = &s->rst[s->rst_head];
            VsockHdr h;

            hdr_fill(s, &h, r->local_port, r->peer_port, VSOCK_OP_RST, 0);
            s->rst_head = (s->rst_head + 1) % VSOCK_RST_QUEUE;
            s->rst_len--;
            rx_push(s, e, &h, NULL, 0);
            sent++;
            continue;
        }
        progress = false;
        for (l = s->conns; l && !progress; l = next) {
            VsockConn *c = l->data;

            next = l->next;
            if (c->state == CONN_HANDSHAKE) {
                continue;
            }
            /* A read that finds the end owes a SHUTDOWN: sent in the same buffer. */
            int r = rx_control(c, e) ? 1 : rx_data(c, e);

            if (r == 0 && rx_control(c, e)) {
                r = 1;
            }
            if (r > 0) {
                progress = true;
                /* Served: to the back of the line. */
                s->conns = g_list_remove_link(s->conns, l);
                s->conns = g_list_concat(s->conns, l);
            }
        }
        if (progress) {
            sent++;
        } else {
            virtqueue_unpop(&s->vdev.vqs[VSOCK_QUEUE_RX], 1);
            g_free(e);
        }
    }
    *more = progress;
    return sent;
}

/* ---- packets from the guest (tx) ---- */

static void log_once(VirtioVsock *s, bool *flag, const char *what, const VsockHdr *h)
{
    if (*flag) {
        return;
    }
    *flag = true;
    log_warn("virtio-vsock '%s': %s (src %" G_GUINT64_FORMAT ":%u dst %" G_GUINT64_FORMAT
             ":%u op %u type %u len %u; logged once)", s->vdev.id, what, h->src_cid, h->src_port,
             h->dst_cid, h->dst_port, h->op, h->type, h->len);
}

/* REQUEST from the guest: connect to "<uds-path>_<port>". */
static void tx_request(VirtioVsock *s, const VsockHdr *h)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    VsockConn *c;
    int fd;

    if (conn_count(s) >= VSOCK_MAX_CONNS) {
        log_once(s, &s->logged_limit, "too many connections: refusing more", h);
        rst_enqueue(s, h->dst_port, h->src_port);
        return;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", s->uds_path, h->dst_port);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* EAGAIN here is a full backlog: a refusal, as for a missing listener. */
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        rst_enqueue(s, h->dst_port, h->src_port);
        return;
    }
    c = conn_new(s, fd, CONN_ESTABLISHED);
    conn_set_ports(c, h->dst_port, h->src_port);
    c->buf = g_malloc(CONN_RING);
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    c->pending |= PEND_RESPONSE;
    c->readable = true;
    conn_update_watch(c);
}

/* A packet for an existing connection. */
static void tx_conn(VirtioVsock *s, VsockConn *c, const VsockHdr *h, VirtQueueElement *e)
{
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case VSOCK_OP_RESPONSE: {
        char line[VSOCK_PREFACE_MAX];
        int n;

        if (c->state != CONN_CONNECTING) {
            conn_reset(c);
            return;
        }
        c->state = CONN_ESTABLISHED;
        c->buf = g_malloc(CONN_RING);
        n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
        ring_put(c, line, (uint32_t)n);
        c->preface = (uint32_t)n;
        conn_flush(c);
        return;
    }
    case VSOCK_OP_RW:
        if (c->state != CONN_ESTABLISHED || c->peer_shut_send) {
            conn_reset(c);
            return;
        }
        if (h->len > guest_data_room(c)) {
            log_once(s, &s->logged_credit, "data beyond the credit given: connection reset", h);
            conn_reset(c);
            return;
        }
        if (h->len) {
            uint8_t *tmp = s->bounce;   /* rx does not use it while tx runs */

            iov_to_buf(e->out_sg, e->out_num, VSOCK_HDR_SIZE, tmp, h->len);
            ring_put(c, tmp, h->len);
            conn_flush(c);
        }
        return;
    case VSOCK_OP_SHUTDOWN:
        c->peer_shut_rcv |= !!(h->flags & VSOCK_SHUTDOWN_RCV);
        c->peer_shut_send |= !!(h->flags & VSOCK_SHUTDOWN_SEND);
        if (c->state != CONN_ESTABLISHED) {
            conn_reset(c);
            return;
        }
        conn_flush(c);
        return;
    case VSOCK_OP_CREDIT_REQUEST:
        c->pending |= PEND_CREDIT;
        break;
    case VSOCK_OP_CREDIT_UPDATE:
        break;
    case VSOCK_OP_RST:
        conn_destroy(c);
        return;
    default:                        /* REQUEST for a live connection, or garbage */
        log_once(s, &s->logged_op, "unexpected op: connection reset", h);
        conn_reset(c);
        return;
    }
    conn_update_watch(c);
}

/* One tx packet, its header already in host order and checked against the buffer. */
static void tx_packet(VirtioVsock *s, const VsockHdr *h, VirtQueueElement *e)
{
    VsockConn *c;

    if (h->src_cid != s->guest_cid) {
        /* Not the guest's own address: nothing to answer to. */
        log_once(s, &s->logged_cid, "packet with a foreign source CID dropped", h);
        return;
    }
    if (h->op == VSOCK_OP_RST) {
        c = conn_find(s, h->dst_port, h->src_port);
        if (c) {
            conn_destroy(c);
        }
        return;
    }
    if (h->dst_cid != VSOCK_HOST_CID || h->type != VSOCK_TYPE_STREAM ||
        h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST) {
        log_once(s, &s->logged_op, "packet not for a host stream: answered with RST", h);
        c = conn_find(s, h->dst_port, h->src_port);
        if (c) {
            conn_reset(c);
        } else {
            rst_enqueue(s, h->dst_port, h->src_port);
        }
        return;
    }
    c = conn_find(s, h->dst_port, h->src_port);
    if (c) {
        tx_conn(s, c, h, e);
    } else if (h->op == VSOCK_OP_REQUEST) {
        tx_request(s, h);
    } else {
        rst_enqueue(s, h->dst_port, h->src_port);
    }
}

static void hdr_from_le(VsockHdr *h)
{
    h->src_cid = GUINT64_FROM_LE(h->src_cid);
    h->dst_cid = GUINT64_FROM_LE(h->dst_cid);
    h->src_port = GUINT32_FROM_LE(h->src_port);
    h->dst_port = GUINT32_FROM_LE(h->dst_port);
    h->len = GUINT32_FROM_LE(h->len);
    h->type = GUINT16_FROM_LE(h->type);
    h->op = GUINT16_FROM_LE(h->op);
    h->flags = GUINT32_FROM_LE(h->flags);
    h->buf_alloc = GUINT32_FROM_LE(h->buf_alloc);
    h->fwd_cnt = GUINT32_FROM_LE(h->fwd_cnt);
}

/* Consumes up to a turn's worth of tx packets; *more if some were left. */
static unsigned tx_process(VirtioVsock *s, bool *more)
{
    VirtQueue *vq = &s->vdev.vqs[VSOCK_QUEUE_TX];
    unsigned done = 0;

    for (; done < VSOCK_PKTS_PER_TURN; done++) {
        VirtQueueElement *e;
        VsockHdr h;
        char *why;
        int r = virtqueue_pop(vq, &e, &why);

        if (r < 0) {
            virtio_error(&s->vdev, "tx queue: %s", why);
            g_free(why);
            return done;
        }
        if (r == 0) {
            return done;
        }
        if (e->in_num || e->out_len < VSOCK_HDR_SIZE) {
            virtio_error(&s->vdev, "tx buffer of %u device-writable descriptors and %"
                         G_GUINT64_FORMAT " device-readable bytes (a packet needs %u)",
                         e->in_num, e->out_len, VSOCK_HDR_SIZE);
            g_free(e);
            return done;
        }
        iov_to_buf(e->out_sg, e->out_num, 0, &h, VSOCK_HDR_SIZE);
        hdr_from_le(&h);
        if (h.op == VSOCK_OP_RW ? h.len > VSOCK_MAX_PKT || h.len > e->out_len - VSOCK_HDR_SIZE
                                : h.len != 0) {
            log_once(s, &s->logged_len, "packet length does not fit its buffer", &h);
            if (h.src_cid == s->guest_cid && h.op != VSOCK_OP_RST) {
                VsockConn *c = conn_find(s, h.dst_port, h.src_port);

                if (c) {
                    conn_reset(c);
                } else {
                    rst_enqueue(s, h.dst_port, h.src_port);
                }
            }
        } else {
            tx_packet(s, &h, e);
        }
        virtqueue_push(vq, e, 0);
        g_free(e);
    }
    *more = true;
    return done;
}

/* ---- scheduling ---- */

static void vsock_process(VirtioVsock *s)
{
    VirtioDevice *vdev = &s->vdev;
    bool more = false;
    unsigned tx, rx;

    if (vdev->broken || !(vdev->status & VIRTIO_STATUS_DRIVER_OK)) {
        return;
    }
    tx = tx_process(s, &more);
    if (tx) {
        virtio_notify(vdev, &vdev->vqs[VSOCK_QUEUE_TX]);
    }
    if (vdev->broken) {
        return;
    }
    rx = rx_process(s, &more);
    if (rx) {
        virtio_notify(vdev, &vdev->vqs[VSOCK_QUEUE_RX]);
    }
    if (more && !vdev->broken) {
        vsock_schedule(s);
    }
}

static gboolean work_cb(gpointer opaque)
{
    VirtioVsock *s = opaque;

    g_clear_pointer(&s->work, g_source_unref);
    vsock_process(s);
    return G_SOURCE_REMOVE;
}

/* Any thread, lock held: serve the queues from the main loop soon. */
static void vsock_schedule(VirtioVsock *s)
{
    if (s->work) {
        return;
    }
    s->work = g_idle_source_new();
    /* Not idle priority: a busy loop (qtest, QMP) must not starve the guest. */
    g_source_set_priority(s->work, G_PRIORITY_DEFAULT);
    g_source_set_callback(s->work, work_cb, s, NULL);
    g_source_attach(s->work, s->parent.machine->ctx);
}

static void vsock_queue_notify(VirtioDevice *vdev, unsigned index)
{
    /* The event queue's buffers are only used at a transport reset. */
    if (index != VSOCK_QUEUE_EVENT) {
        vsock_schedule(to_vsock(vdev));
    }
}

static void vsock_driver_ok(VirtioDevice *vdev)
{
    vsock_schedule(to_vsock(vdev));
}

static void destroy_all(VirtioVsock *s)
{
    while (s->conns) {
        conn_destroy(s->conns->data);
    }
    s->rst_head = s->rst_len = 0;
}

/*
 * Driver reset: the guest's sockets are gone with its driver, so the host
 * ends see their connections close; the listener stays.
 */
static void vsock_vdev_reset(VirtioDevice *vdev)
{
    VirtioVsock *s = to_vsock(vdev);

    destroy_all(s);
    s->logged_cid = s->logged_len = s->logged_op = s->logged_credit = s->logged_limit = false;
}

static const VirtioDeviceClass virtio_vsock_class = {
    .name = "virtio-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .queue_notify = vsock_queue_notify,
    .driver_ok = vsock_driver_ok,
    .reset = vsock_vdev_reset,
};

/* ---- the device type (hw/device.h) ---- */

static bool listen_on(VirtioVsock *s, GError **err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (!s->uds_path || !*s->uds_path) {
        set_error(err, "'uds-path' is missing for 'vsock' device.");
        return false;
    }
    if (strlen(s->uds_path) + VSOCK_PORT_SUFFIX_MAX >= sizeof(sa.sun_path)) {
        set_error(err, "uds-path '%s' is too long: at most %zu bytes, so that "
                  "'<uds-path>_<port>' fits a unix socket address", s->uds_path,
                  sizeof(sa.sun_path) - 1 - VSOCK_PORT_SUFFIX_MAX);
        return false;
    }
    memcpy(sa.sun_path, s->uds_path, strlen(s->uds_path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        set_error_errno(err, errno, "Failed to listen on vsock uds-path '%s'", s->uds_path);
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    s->listen_fd = fd;
    return true;
}

static bool vsock_realize(Device *d, GError **err)
{
    VirtioVsock *s = (VirtioVsock *)d;
    Machine *m = d->machine;

    s->listen_fd = -1;
    if (!vsock_check_common(d, s->guest_cid, err) || !listen_on(s, err)) {
        return false;
    }
    virtio_device_init(&s->vdev, &virtio_vsock_class, m, d->id ? d->id : "vsock",
                       VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX),
                       VSOCK_NUM_QUEUES, VSOCK_QUEUE_SIZE, VSOCK_CONFIG_SIZE);
    virtio_config_set_le64(&s->vdev, 0, s->guest_cid);
    s->by_key = g_hash_table_new(g_int64_hash, g_int64_equal);
    s->bounce = g_malloc(VSOCK_MAX_PKT);
    s->next_local_port = VSOCK_LOCAL_PORT_BASE;
    s->fd_source = g_source_new((GSourceFuncs *)&fd_source_funcs, sizeof(GSource));
    g_source_set_callback(s->fd_source, NULL, s, NULL);
    s->listen_tag = g_source_add_unix_fd(s->fd_source, s->listen_fd, G_IO_IN);
    g_source_attach(s->fd_source, m->ctx);
    log_info("virtio-vsock '%s': guest cid %" G_GUINT64_FORMAT ", host connections on '%s'",
             s->vdev.id, s->guest_cid, s->uds_path);
    return true;
}

static void vsock_unrealize(Device *d)
{
    VirtioVsock *s = (VirtioVsock *)d;

    destroy_all(s);
    if (s->work) {
        g_source_destroy(s->work);
        g_clear_pointer(&s->work, g_source_unref);
    }
    g_source_destroy(s->fd_source);
    g_clear_pointer(&s->fd_source, g_source_unref);
    close(s->listen_fd);
    unlink(s->uds_path);
    g_clear_pointer(&s->by_key, g_hash_table_destroy);
    g_clear_pointer(&s->bounce, g_free);
    virtio_device_cleanup(&s->vdev);
}

static VirtioDevice *vsock_virtio_device(Device *d)
{
    return &((VirtioVsock *)d)->vdev;
}

static const Property virtio_vsock_props[] = {
    DEFINE_PROP("guest-cid", PROP_U64, VirtioVsock, guest_cid, NULL, NULL),
    DEFINE_PROP("uds-path", PROP_STR, VirtioVsock, uds_path, NULL, NULL),
    DEFINE_PROP_END,
};

/* ---- saved state (migration/vmstate.h) ---- */

/*
 * A connection is a host socket that cannot travel in a snapshot, and the
 * guest's end of it would be left without a peer: refuse while any is open.
 */
static bool vsock_pre_save(void *opaque, GError **err)
{
    VirtioVsock *s = opaque;
    unsigned n = conn_count(s);

    if (n) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "'%s' has %u open connection%s: close them before saving",
                    s->vdev.id, n, n == 1 ? "" : "s");
        return false;
    }
    return true;
}

static bool vsock_post_load(void *opaque, uint32_t version, GError **err)
{
    VirtioVsock *s = opaque;

    /* The config image came with the stream: the CID is this device's. */
    if (virtio_config_read(&s->vdev, 0, 8) != s->guest_cid) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "'%s': the saved guest-cid %" G_GUINT64_FORMAT " is not this device's %"
                    G_GUINT64_FORMAT, s->vdev.id, virtio_config_read(&s->vdev, 0, 8),
                    s->guest_cid);
        return false;
    }
    destroy_all(s);
    vsock_schedule(s);
    return true;
}

/* The virtio core (config image included); connections are refused above. */
static const VMStateDescription vmstate_virtio_vsock = {
    .name = "virtio-vsock",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = vsock_pre_save,
    .post_load = vsock_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(vdev, VirtioVsock, vmstate_virtio_device, VirtioDevice),
        VMSTATE_END_OF_LIST()
    },
};

/* The same device on either transport; only the name, bus and parent differ. */
#define VIRTIO_VSOCK_CLASS_BODY \
    .instance_size = sizeof(VirtioVsock), \
    .props = virtio_vsock_props, \
    .user_creatable = true, \
    .realize = vsock_realize, \
    .unrealize = vsock_unrealize, \
    .virtio_device = vsock_virtio_device, \
    .vmsd = &vmstate_virtio_vsock

const DeviceClass virtio_vsock_device_class = {
    .name = "virtio-vsock-device",
    .parent = "virtio-device",
    .description = NULL,
    .bus = DEVICE_BUS_VIRTIO,
    /* Like vhost-vsock on StratoVirt's microvm: its window is fixed at boot. */
    .hotpluggable = false,
    VIRTIO_VSOCK_CLASS_BODY,
};

/* q35 (docs/q35.md "virtio-pci"): the same device on virtio-pci, class 0x00ff. */
const DeviceClass virtio_vsock_pci_device_class = {
    .name = "virtio-vsock-pci",
    .parent = "virtio-pci",
    .bus = DEVICE_BUS_PCI,
    .pci_class = 0x00ff00,
    VIRTIO_VSOCK_CLASS_BODY,
};

bool virtio_vsock_is(const Device *d)
{
    return d->klass == &virtio_vsock_device_class || d->klass == &virtio_vsock_pci_device_class;
}

/* ---- shared with vhost-vsock-device ---- */

extern const DeviceClass vhost_vsock_device_class;

bool vsock_check_common(Device *d, uint64_t guest_cid, GError **err)
{
    GPtrArray *devs = machine_devices(d->machine);

    if (!guest_cid) {
        set_error(err, "'guest-cid' is missing for 'vsock' device.");
        return false;
    }
    if (guest_cid < VSOCK_MIN_GUEST_CID || guest_cid >= VSOCK_MAX_GUEST_CID) {
        /* StratoVirt's ConfigError::IllegalValue. */
        set_error(err, "Vsock guest-cid must >= %llu and < %llu.", VSOCK_MIN_GUEST_CID,
                  VSOCK_MAX_GUEST_CID);
        return false;
    }
    for (guint i = 0; devs && i < devs->len; i++) {
        Device *o = g_ptr_array_index(devs, i);

        if (o != d && (virtio_vsock_is(o) ||
                       o->klass == &vhost_vsock_device_class)) {
            set_error(err, "Only one vsock device is supported for each vm.");
            return false;
        }
    }
    return true;
}
