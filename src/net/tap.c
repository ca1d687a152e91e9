/*
 * The tap back end: /dev/net/tun or an inherited descriptor (net/tap.h);
 * and the socket back end, which moves the same plain frames over a datagram
 * socket (one frame per datagram, no vnet header) with the same I/O code.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "net/tap.h"
#include "util/log.h"
#include "util/strutil.h"

typedef struct Tap {
    NetClient nc;               /* first: net.c hands us NetClient* */
    int fd;
    char *ifname;
    /* The tap carries a virtio_net_hdr_v1 itself; else we add and strip one. */
    bool vnet_hdr;
    bool multi;                 /* IFF_MULTI_QUEUE: TUNSETQUEUE attaches and detaches */
    /* A SOCK_SEQPACKET socket: a 0-byte read is the peer's close, reading stops for good. */
    bool seqpacket, eof;
    GSource *rx_src, *tx_src;
    uint8_t buf[NET_HDR_LEN + NET_MAX_FRAME];
} Tap;

static void tap_set_read_poll(NetClient *nc, bool enable);
static void tap_set_queue_enabled(NetClient *nc, bool enable);

/* Main loop, lock held. Bounded: other sources (QMP, vCPU requests) get their turn. */
static gboolean tap_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    Tap *t = opaque;

    for (unsigned i = 0; i < NET_RX_BUDGET; i++) {
        size_t off = t->vnet_hdr ? 0 : NET_HDR_LEN;
        ssize_t n = read(fd, t->buf + off, sizeof(t->buf) - off);

        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                log_debug("tap '%s': read: %s", t->ifname, g_strerror(errno));
            }
            break;
        }
        if (n == 0 && t->seqpacket) {
            log_debug("netdev '%s': socket closed by its peer", t->nc.id);
            t->eof = true;
            tap_set_read_poll(&t->nc, false);
            return G_SOURCE_REMOVE;
        }
        if (n == 0) {
            continue;            /* an empty datagram: nothing to deliver */
        }
        if (!t->vnet_hdr) {
            memset(t->buf, 0, NET_HDR_LEN);
        }
        if (!net_client_receive(&t->nc, t->buf, n + off)) {
            /* Held; net.c turned reading off (rx_src is gone). */
            return G_SOURCE_REMOVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static void tap_set_read_poll(NetClient *nc, bool enable)
{
    Tap *t = (Tap *)nc;

    if (enable && !t->rx_src && !t->eof) {
        t->rx_src = g_unix_fd_source_new(t->fd, G_IO_IN);
        g_source_set_callback(t->rx_src, G_SOURCE_FUNC(tap_readable), t, NULL);
        g_source_attach(t->rx_src, nc->m->ctx);
    } else if (!enable && t->rx_src) {
        g_source_destroy(t->rx_src);
        g_source_unref(t->rx_src);
        t->rx_src = NULL;
    }
}

static gboolean tap_writable(gint fd, GIOCondition cond, gpointer opaque)
{
    Tap *t = opaque;

    g_source_unref(t->tx_src);
    t->tx_src = NULL;
    net_client_tx_ready(&t->nc);
    return G_SOURCE_REMOVE;
}

static ssize_t tap_send(NetClient *nc, const struct iovec *iov, unsigned n)
{
    Tap *t = (Tap *)nc;
    struct iovec v[n];
    unsigned nv = 0;
    size_t skip = t->vnet_hdr ? 0 : NET_HDR_LEN;
    ssize_t r;

    for (unsigned i = 0; i < n; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        v[nv].iov_base = (uint8_t *)iov[i].iov_base + skip;
        v[nv].iov_len = iov[i].iov_len - skip;
        skip = 0;
        nv++;
    }
    do {
        r = writev(t->fd, v, nv);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno == EAGAIN) {
        if (!t->tx_src) {
            t->tx_src = g_unix_fd_source_new(t->fd, G_IO_OUT);
            g_source_set_callback(t->tx_src, G_SOURCE_FUNC(tap_writable), t, NULL);
            g_source_attach(t->tx_src, nc->m->ctx);
        }
        return -EAGAIN;
    }
    if (r < 0) {
        /* EIO while the interface is down, EINVAL for a runt: the frame is lost, as on a wire. */
        log_debug("tap '%s': write: %s", t->ifname, g_strerror(errno));
        return -errno;
    }
    return r;
}

static void tap_free(NetClient *nc)
{
    Tap *t = (Tap *)nc;

    tap_set_read_poll(nc, false);
    if (t->tx_src) {
        g_source_destroy(t->tx_src);
        g_source_unref(t->tx_src);
    }
    close(t->fd);
    if (nc->vhost_fd >= 0) {
        close(nc->vhost_fd);
    }
    g_free(t->ifname);
    g_free(t);
}

static int tap_get_fd(NetClient *nc)
{
    return ((Tap *)nc)->fd;
}

/* The NIC's negotiated guest offloads: the kernel then hands over such frames as they are. */
static void tap_set_offload(NetClient *nc, unsigned flags)
{
    Tap *t = (Tap *)nc;

    if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)flags) < 0) {
        log_warn("tap '%s': TUNSETOFFLOAD 0x%x: %s", t->ifname, flags, g_strerror(errno));
    }
}

static const NetClientOps tap_ops = {
    .type = "tap",
    .send = tap_send,
    .set_read_poll = tap_set_read_poll,
    .free = tap_free,
    .set_offload = tap_set_offload,
    .set_queue_enabled = tap_set_queue_enabled,
    .get_fd = tap_get_fd,
};

static const NetClientOps socket_ops = {
    .type = "socket",
    .send = tap_send,
    .set_read_poll = tap_set_read_poll,
    .free = tap_free,
};

/* One socket queue from an open descriptor (taken: closed on failure). */
static Tap *socket_queue_new(Machine *m, const char *id, int fd, GError **err)
{
    int type = 0;
    socklen_t len = sizeof(type);
    int fl;
    Tap *t;

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        set_error(err, "Add netdev error: fd %d is not a socket: %s", fd, g_strerror(errno));
        goto fail;
    }
    if (type != SOCK_DGRAM && type != SOCK_SEQPACKET) {
        set_error(err, "Add netdev error: socket fd %d must be SOCK_DGRAM or SOCK_SEQPACKET "
                  "(one frame per datagram)", fd);
        goto fail;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        set_error(err, "Add netdev error: fd %d: %s", fd, g_strerror(errno));
        goto fail;
    }
    t = g_new0(Tap, 1);
    t->fd = fd;
    t->ifname = g_strdup_printf("socket fd %d", fd);
    t->seqpacket = type == SOCK_SEQPACKET;
    net_client_init(&t->nc, &socket_ops, m, id);
    return t;

fail:
    close(fd);
    return NULL;
}

/*
 * -netdev socket,fd=N (QEMU's back end, only its fd= form): a datagram
 * socket carrying one Ethernet frame per datagram, without a vnet header.
 * A test (or another program) on the other end plays the wire. fds=a:b:...
 * (ours) makes one queue per socket, for multiqueue NICs.
 */
static bool socket_netdev_add(Machine *m, NetdevOptions *o, GError **err)
{
    Tap *q[NET_MAX_QUEUES];
    unsigned made = 0;

    if (o->ifname || (o->queues && o->queues != o->nfds) || o->vhost) {
        set_error(err, "ifname=, queues= and vhost= are invalid with a socket netdev");
        goto fail;
    }
    if (!o->nfds) {
        set_error(err, "Parameter 'fd' is missing (only -netdev socket,fd= is supported)");
        return false;
    }
    for (made = 0; made < o->nfds; made++) {
        int fd = o->fds[made];
        o->fds[made] = -1;
        q[made] = socket_queue_new(m, o->id, fd, err);
        if (!q[made]) {
            goto fail;
        }
    }
    for (unsigned i = 1; i < made; i++) {
        net_client_add_queue(&q[0]->nc, &q[i]->nc);
    }
    q[0]->nc.info_str = g_strdup_printf("socket: fd=%d (%s)", q[0]->fd,
                                        q[0]->seqpacket ? "seqpacket" : "dgram");
    g_hash_table_insert(m->netdevs, q[0]->nc.id, &q[0]->nc);
    log_info("netdev '%s': %s, %u queue%s", o->id, q[0]->nc.info_str, made, made > 1 ? "s" : "");
    o->nfds = 0;
    return true;

fail:
    for (unsigned i = 0; i < made; i++) {
        net_client_free(&q[i]->nc);
    }
    for (unsigned i = 0; i < o->nfds; i++) {
        if (o->fds[i] >= 0) {
            close(o->fds[i]);
        }
    }
    o->nfds = 0;
    return false;
}

static int tap_open_ifname(const char *path, const char *ifname, bool multi, GError **err)
{
    struct ifreq ifr;
    int fd;

    if (strlen(ifname) >= IFNAMSIZ) {
        set_error(err, "Tap name '%s' is longer than %d characters", ifname, IFNAMSIZ - 1);
        return -1;
    }
    fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        set_error(err, "Failed to open %s: %s", path, g_strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    /* No packet-info prefix; a virtio header so the guest's header maps 1:1. */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
    memcpy(ifr.ifr_name, ifname, strlen(ifname));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        if (e == EBUSY) {
            set_error(err, "Tap device already in use");
        } else if (e == EINVAL && multi) {
            /* The tap exists without IFF_MULTI_QUEUE (or with a different queue mode). */
            set_error(err, "Failed to create tap device '%s': %s (is it a multi-queue tap?)",
                       ifname, g_strerror(e));
        } else {
            set_error(err, "Failed to create tap device '%s': %s", ifname, g_strerror(e));
        }
        return -1;
    }
    return fd;
}

/*
 * vhost=on: one /dev/vhost-net descriptor per queue, opened here or given
 * (vhostfd=/vhostfds=, taken over), claimed for this process
 * (VHOST_SET_OWNER) with its features read. No silent fall-back to the
 * user-space data path: a host without the device node is an error naming it.
 */
static bool open_vhost_fds(NetdevOptions *o, unsigned queues, int *vfds, uint64_t *features,
                           GError **err)
{
    for (unsigned i = 0; i < queues; i++) {
        int fd = vfds[i] = o->nvhostfds ? o->vhostfds[i] : open("/dev/vhost-net",
                                                                O_RDWR | O_CLOEXEC);

        if (o->nvhostfds) {
            o->vhostfds[i] = -1;
        } else if (fd < 0) {
            set_error(err, "vhost=on: cannot open /dev/vhost-net: %s (load the vhost_net "
                      "module, or use vhost=off)", g_strerror(errno));
            return false;
        }
        if (ioctl(fd, VHOST_SET_OWNER, NULL) < 0 || ioctl(fd, VHOST_GET_FEATURES, features) < 0) {
            if (o->nvhostfds) {
                set_error(err, "vhostfd %d is not a usable vhost-net device: %s", fd,
                          g_strerror(errno));
            } else {
                set_error(err, "vhost=on: /dev/vhost-net refused VHOST_SET_OWNER: %s",
                          g_strerror(errno));
            }
            return false;
        }
    }
    return true;
}

/* One queue of a multiqueue tap joins or leaves the kernel's flow steering. */
static void tap_set_queue_enabled(NetClient *nc, bool enable)
{
    Tap *t = (Tap *)nc;
    struct ifreq ifr;

    if (!t->multi) {
        return;
    }
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = enable ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    if (ioctl(t->fd, TUNSETQUEUE, &ifr) < 0) {
        log_warn("tap '%s': TUNSETQUEUE %s: %s", t->ifname, enable ? "attach" : "detach",
                 g_strerror(errno));
    }
}

/*
 * One tap queue from an open descriptor (taken: closed on failure):
 * non-blocking, a tap (not a tun), the vnet header sized, no offloads.
 */
static Tap *tap_queue_new(Machine *m, const char *id, int fd, GError **err)
{
    struct ifreq ifr;
    int fl = fcntl(fd, F_GETFL);
    Tap *t;

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        set_error(err, "Add netdev error: fd %d: %s", fd, g_strerror(errno));
        close(fd);
        return NULL;
    }
    memset(&ifr, 0, sizeof(ifr));
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
        set_error(err, "Add netdev error: fd %d is not a tap device: %s", fd, g_strerror(errno));
        close(fd);
        return NULL;
    }
    if (!(ifr.ifr_flags & IFF_TAP)) {
        set_error(err, "Add netdev error: '%s' is a tun, not a tap device", ifr.ifr_name);
        close(fd);
        return NULL;
    }
    t = g_new0(Tap, 1);
    t->fd = fd;
    t->ifname = g_strndup(ifr.ifr_name, IFNAMSIZ);
    t->multi = ifr.ifr_flags & IFF_MULTI_QUEUE;
    if (ifr.ifr_flags & IFF_VNET_HDR) {
        int len = NET_HDR_LEN;
        unsigned off = 0;
        /*
         * virtio 1.x headers are 12 bytes; no offload until a NIC's driver
         * negotiates some (net_client_set_offload): whole, checksummed frames.
         */
        t->vnet_hdr = ioctl(fd, TUNSETVNETHDRSZ, &len) == 0;
        if (t->vnet_hdr && ioctl(fd, TUNSETOFFLOAD, off) < 0) {
            log_warn("tap '%s': TUNSETOFFLOAD: %s", t->ifname, g_strerror(errno));
        }
    }
    net_client_init(&t->nc, &tap_ops, m, id);
    t->nc.vnet_hdr = t->vnet_hdr;
    return t;
}

static void close_fds(int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
}

/* The checks before any descriptor is opened; false: o's descriptors are closed by the caller. */
static bool tap_check_options(NetdevOptions *o, unsigned *queues, GError **err)
{
    if (o->queues > NET_MAX_QUEUES || (o->queues == 0 && o->queues_given)) {
        set_error(err, "queues=%u: must be between 1 and %d", o->queues, NET_MAX_QUEUES);
        return false;
    }
    if ((o->script && strcmp(o->script, "no") && *o->script) ||
        (o->downscript && strcmp(o->downscript, "no") && *o->downscript)) {
        set_error(err, "script/downscript are not supported: configure the tap beforehand");
        return false;
    }
    /* StratoVirt: ifname wins over fd/fds; else the descriptors say how many queues. */
    *queues = o->ifname ? MAX(o->queues, 1) : o->nfds;
    if (!o->ifname && !o->nfds) {
        set_error(err, "Tap device is missing, use 'ifname' or 'fd' to configure a tap device");
        return false;
    }
    if (!o->ifname && o->queues && o->queues != o->nfds) {
        set_error(err, "The number of fds passed does not match the number of queues (%u)",
                  o->queues);
        return false;
    }
    if (o->nvhostfds && o->nvhostfds != *queues) {
        set_error(err, "The number of fds passed does not match the number of vhostfds passed");
        return false;
    }
    return true;
}

/* ifname=: the tap opened once per queue (o->fds replaced). */
static bool tap_open_queues(NetdevOptions *o, unsigned queues, GError **err)
{
    close_fds(o->fds, o->nfds);
    for (o->nfds = 0; o->nfds < queues; o->nfds++) {
        o->fds[o->nfds] = tap_open_ifname(o->path ? o->path : "/dev/net/tun", o->ifname,
                                          queues > 1, err);
        if (o->fds[o->nfds] < 0) {
            return false;
        }
    }
    return true;
}

/*
 * One Tap per descriptor of o->fds (taken), with its vhost descriptor when
 * vfds is given (taken too). *made counts the Taps in q[] for the caller's
 * clean-up, whether or not this succeeds.
 */
static bool tap_make_queues(Machine *m, NetdevOptions *o, unsigned queues, int *vfds,
                            uint64_t vfeatures, Tap **q, unsigned *made, GError **err)
{
    for (*made = 0; *made < queues; (*made)++) {
        unsigned i = *made;
        int fd = o->fds[i];

        o->fds[i] = -1;
        q[i] = tap_queue_new(m, o->id, fd, err);
        if (!q[i]) {
            return false;
        }
        if (i && q[i]->vnet_hdr != q[0]->vnet_hdr) {
            set_error(err, "vnet_hdr not consistent across given tap fds");
            (*made)++;
            return false;
        }
        if (vfds && !q[i]->vnet_hdr) {
            /* The kernel passes the guest's 12-byte header through the tap as it is. */
            set_error(err, "vhost=on needs a tap with a vnet header (IFF_VNET_HDR)");
            (*made)++;
            return false;
        }
        if (vfds) {
            q[i]->nc.vhost_fd = vfds[i];
            q[i]->nc.vhost_features = vfeatures;
            vfds[i] = -1;
        }
    }
    return true;
}

bool net_netdev_add(Machine *m, NetdevOptions *o, GError **err)
{
    Tap *q[NET_MAX_QUEUES];
    int vfds[NET_MAX_QUEUES];
    uint64_t vfeatures = 0;
    unsigned queues = 0, made = 0;
    bool vhost = o->vhost || o->nvhostfds;     /* QEMU: vhostfd= implies vhost */

    memset(vfds, -1, sizeof(vfds));

    if (o->type && strcmp(o->type, "tap") && strcmp(o->type, "socket")) {
        set_error(err, "Parameter 'type' does not accept value '%s'", o->type);
        goto fail;
    }
    if (net_find(m, o->id)) {
        set_error(err, "Duplicate ID '%s' for netdev", o->id);
        goto fail;
    }
    if (o->type && !strcmp(o->type, "socket")) {
        close_fds(o->vhostfds, o->nvhostfds);
        o->nvhostfds = 0;
        return socket_netdev_add(m, o, err);
    }
    if (!tap_check_options(o, &queues, err) ||
        (vhost && !open_vhost_fds(o, queues, vfds, &vfeatures, err))) {
        goto fail;
    }
    if ((o->ifname && !tap_open_queues(o, queues, err)) ||
        !tap_make_queues(m, o, queues, vhost ? vfds : NULL, vfeatures, q, &made, err)) {
        goto fail;
    }
    for (unsigned i = 1; i < queues; i++) {
        net_client_add_queue(&q[0]->nc, &q[i]->nc);
    }
    o->nfds = 0;
    /* QEMU's info_str; Stratus runs no scripts, so they are "no". */
    q[0]->nc.info_str = o->ifname
        ? g_strdup_printf("ifname=%s,script=no,downscript=no", q[0]->ifname)
        : g_strdup_printf("fd=%d", q[0]->fd);
    g_hash_table_insert(m->netdevs, q[0]->nc.id, &q[0]->nc);
    close_fds(o->vhostfds, o->nvhostfds);
    o->nvhostfds = 0;
    log_info("netdev '%s': tap '%s'%s, %u queue%s%s", o->id, q[0]->ifname,
             q[0]->vnet_hdr ? " (vnet header)" : "", queues, queues > 1 ? "s" : "",
             vhost ? ", vhost" : "");
    return true;

fail:
    for (unsigned i = 0; i < made; i++) {
        if (q[i]) {
            net_client_free(&q[i]->nc);
        }
    }
    close_fds(o->fds, o->nfds);
    close_fds(o->vhostfds, o->nvhostfds);
    close_fds(vfds, NET_MAX_QUEUES);
    o->nfds = o->nvhostfds = 0;
    return false;
}

bool net_parse_fd_list(const char *spec, int (*resolve)(void *opaque, const char *elem),
                       void *opaque, int *fds, unsigned *n, GError **err)
{
    g_auto(GStrv) parts = g_strsplit(spec, ":", -1);

    *n = 0;
    if (g_strv_length(parts) > NET_MAX_QUEUES) {
        set_error(err, "Add netdev error: at most %d descriptors (queues) are supported",
                  NET_MAX_QUEUES);
        return false;
    }
    for (char **p = parts; *p; p++) {
        int fd = resolve(opaque, *p);
        if (fd < 0) {
            close_fds(fds, *n);
            *n = 0;
            set_error(err, "Add netdev error: failed to convert {} to RawFd.");
            return false;
        }
        fds[(*n)++] = fd;
    }
    return true;
}

bool net_netdev_del(Machine *m, const char *id, GError **err)
{
    NetClient *nc = net_find(m, id);

    if (!nc) {
        set_error(err, "Device '%s' not found", id);
        return false;
    }
    if (net_client_in_use(nc)) {
        set_error(err, "Netdev '%s' is in use by device '%s'", id, nc->peer_name);
        return false;
    }
    g_hash_table_remove(m->netdevs, id);
    return true;
}
