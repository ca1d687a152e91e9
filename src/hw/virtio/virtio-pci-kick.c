/*
 * virtio-pci notify ioeventfds (virtio-pci-kick.h). The registration
 * follows state the guest controls (BAR placement, memory decoding, queue
 * enable, device reset) and state loaded from a snapshot, so instead of
 * patching it at each event the transport calls vpci_kicks_sync and this
 * file compares what is registered with what should be.
 */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <glib-unix.h>

#include "hw/virtio/virtio-pci-kick.h"
#include "util/log.h"

typedef struct VpciKick {
    VpciKicks *owner;
    unsigned index;
    int fd;
    GSource *src;
    uint64_t addr;              /* where it is registered, VPCI_KICKS_NO_BASE if not */
} VpciKick;

struct VpciKicks {
    Machine *m;
    VirtioDevice *vdev;
    uint32_t stride;
    bool unsupported;           /* the accelerator has no ioeventfds: never try again */
    unsigned n;
    VpciKick q[];
};

static gboolean on_kick(gint fd, GIOCondition cond, gpointer opaque)
{
    VpciKick *k = opaque;
    uint64_t v;

    (void)cond;
    if (read(fd, &v, sizeof(v)) == sizeof(v)) {
        virtio_queue_notify(k->owner->vdev, k->index);
    }
    return G_SOURCE_CONTINUE;
}

VpciKicks *vpci_kicks_new(Machine *m, VirtioDevice *vdev, uint32_t stride)
{
    VpciKicks *ks = g_malloc0(sizeof(*ks) + vdev->nvqs * sizeof(VpciKick));

    ks->m = m;
    ks->vdev = vdev;
    ks->stride = stride;
    ks->n = vdev->nvqs;
    for (unsigned i = 0; i < ks->n; i++) {
        VpciKick *k = &ks->q[i];

        k->owner = ks;
        k->index = i;
        k->addr = VPCI_KICKS_NO_BASE;
        k->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (k->fd < 0) {
            log_warn("%s: eventfd: %s; its queue %u is notified by the handler",
                     vdev->klass->name, g_strerror(errno), i);
            continue;
        }
        k->src = g_unix_fd_source_new(k->fd, G_IO_IN);
        g_source_set_callback(k->src, G_SOURCE_FUNC(on_kick), k, NULL);
        g_source_attach(k->src, m->ctx);
    }
    return ks;
}

static void unregister(VpciKicks *ks, VpciKick *k)
{
    if (k->addr != VPCI_KICKS_NO_BASE) {
        machine_remove_ioeventfd(ks->m, false, k->addr, 0, false, 0, k->fd);
        k->addr = VPCI_KICKS_NO_BASE;
    }
}

/* false when the accelerator has no ioeventfds (then nothing is tried again). */
static bool try_register(VpciKicks *ks, VpciKick *k, uint64_t addr)
{
    g_autoptr(GError) err = NULL;
    uint64_t one = 1;

    if (machine_add_ioeventfd(ks->m, false, addr, 0, false, 0, k->fd, &err)) {
        k->addr = addr;
        /*
         * One look at the queue as if kicked: a kick written while nothing
         * was registered (BAR moving, a snapshot taken between the guest's
         * kick and its processing) would otherwise wait for the next one.
         */
        if (write(k->fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
            log_debug("%s: queue %u: eventfd write: %s", ks->vdev->klass->name, k->index,
                      g_strerror(errno));
        }
        return true;
    }
    if (!err) {
        return false;
    }
    /* The handler still serves the queue, only through the vCPU exit. */
    log_warn("%s: queue %u notify at 0x%" PRIx64 ": %s", ks->vdev->klass->name, k->index,
             addr, err->message);
    return true;
}

void vpci_kicks_sync(VpciKicks *ks, uint64_t notify_base)
{
    if (!ks || ks->unsupported) {
        return;
    }
    for (unsigned i = 0; i < ks->n; i++) {
        VpciKick *k = &ks->q[i];
        bool on = notify_base != VPCI_KICKS_NO_BASE && k->fd >= 0 && i < ks->vdev->nvqs &&
                  ks->vdev->vqs[i].ready;
        uint64_t want = on ? notify_base + (uint64_t)i * ks->stride : VPCI_KICKS_NO_BASE;

        if (k->addr == want) {
            continue;
        }
        unregister(ks, k);
        if (want != VPCI_KICKS_NO_BASE && !try_register(ks, k, want)) {
            ks->unsupported = true;
            return;
        }
    }
}

unsigned vpci_kicks_active(const VpciKicks *ks)
{
    unsigned n = 0;

    for (unsigned i = 0; ks && i < ks->n; i++) {
        n += ks->q[i].addr != VPCI_KICKS_NO_BASE;
    }
    return n;
}

void vpci_kicks_free(VpciKicks *ks)
{
    if (!ks) {
        return;
    }
    for (unsigned i = 0; i < ks->n; i++) {
        VpciKick *k = &ks->q[i];

        unregister(ks, k);
        if (k->src) {
            g_source_destroy(k->src);
            g_source_unref(k->src);
        }
        if (k->fd >= 0) {
            close(k->fd);
        }
    }
    g_free(ks);
}
