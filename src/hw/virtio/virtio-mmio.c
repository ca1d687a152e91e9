/* virtio-mmio v2 transport. */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <glib-unix.h>

#include "hw/virtio/virtio-mmio.h"
#include "util/log.h"
#include "util/strutil.h"

typedef struct MmioKick {
    VirtioMmio *t;
    unsigned index;
    int fd;
    GSource *src;
} MmioKick;

struct VirtioMmio {
    Machine *m;
    VirtioDevice *vdev;
    uint64_t base;
    IrqLine irq;
    int irqfd;                 /* -1: raise edges on the IRQ line */
    bool mapped;
    uint32_t queue_sel;
    uint32_t dev_features_sel;
    uint32_t drv_features_sel;
    uint32_t shm_sel;
    MmioKick *kicks;           /* per queue; NULL when ioeventfds are unavailable */
    unsigned nkicks;           /* the queue count the kicks were set up for */
};

static void mmio_notify(void *opaque, uint32_t cause)
{
    VirtioMmio *t = opaque;

    if (t->irqfd >= 0) {
        uint64_t one = 1;

        machine_count_irq(t->vdev->machine, t->irq.gsi);
        if (write(t->irqfd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
            log_error("virtio-mmio@0x%" PRIx64 ": irqfd write failed: %s", t->base,
                      g_strerror(errno));
        }
    } else {
        /* The microvm IOAPIC pins are edge-triggered: one edge per interrupt. */
        irq_pulse(&t->irq);
    }
}

static uint32_t mmio_queue_sel(void *opaque)
{
    return ((VirtioMmio *)opaque)->queue_sel;
}

static void mmio_queues_changed(void *opaque);
static void mmio_loaded(void *opaque);

static const VirtioTransportOps mmio_transport_ops = {
    .notify = mmio_notify,
    .queue_sel = mmio_queue_sel,
    .queues_changed = mmio_queues_changed,
    .loaded = mmio_loaded,
};

static VirtQueue *cur_vq(VirtioMmio *t)
{
    return t->queue_sel < t->vdev->nvqs ? &t->vdev->vqs[t->queue_sel] : NULL;
}

static uint64_t mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    VirtioMmio *t = opaque;
    VirtioDevice *vdev = t->vdev;
    VirtQueue *vq = cur_vq(t);

    if (offset >= VIRTIO_MMIO_CONFIG) {
        return virtio_config_read(vdev, offset - VIRTIO_MMIO_CONFIG, size);
    }
    if (size != 4 || (offset & 3)) {
        log_debug("virtio-mmio@0x%" PRIx64 ": bad read of size %u at 0x%" PRIx64, t->base,
                  size, offset);
        return 0;
    }
    switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION: return 2;
    case VIRTIO_MMIO_DEVICE_ID: return vdev->klass->device_id;
    case VIRTIO_MMIO_VENDOR_ID: return 0;
    case VIRTIO_MMIO_DEVICE_FEATURES: return virtio_device_features(vdev, t->dev_features_sel);
    case VIRTIO_MMIO_QUEUE_NUM_MAX: return vq ? vq->num_max : 0;
    case VIRTIO_MMIO_QUEUE_NUM: return vq ? vq->num : 0;
    case VIRTIO_MMIO_QUEUE_READY: return vq ? vq->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS: return vdev->isr;
    case VIRTIO_MMIO_STATUS: return vdev->status;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: return vq ? (uint32_t)vq->desc : 0;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH: return vq ? vq->desc >> 32 : 0;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW: return vq ? (uint32_t)vq->avail : 0;
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH: return vq ? vq->avail >> 32 : 0;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW: return vq ? (uint32_t)vq->used : 0;
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: return vq ? vq->used >> 32 : 0;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
        return 0xffffffff;   /* no shared memory regions */
    case VIRTIO_MMIO_CONFIG_GENERATION: return vdev->config_generation;
    default:
        return 0;
    }
}

static void set_low(uint64_t *r, uint32_t v) { *r = (*r & ~0xffffffffULL) | v; }
static void set_high(uint64_t *r, uint32_t v) { *r = (*r & 0xffffffffULL) | ((uint64_t)v << 32); }

static void mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    VirtioMmio *t = opaque;
    VirtioDevice *vdev = t->vdev;
    VirtQueue *vq = cur_vq(t);
    uint32_t v = value;

    if (offset >= VIRTIO_MMIO_CONFIG) {
        virtio_config_write(vdev, offset - VIRTIO_MMIO_CONFIG, value, size);
        return;
    }
    if (size != 4 || (offset & 3)) {
        log_debug("virtio-mmio@0x%" PRIx64 ": bad write of size %u at 0x%" PRIx64, t->base,
                  size, offset);
        return;
    }
    switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        t->dev_features_sel = v;
        return;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        virtio_set_driver_features(vdev, t->drv_features_sel, v);
        return;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        t->drv_features_sel = v;
        return;
    case VIRTIO_MMIO_QUEUE_SEL:
        t->queue_sel = v;
        return;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        virtio_queue_notify(vdev, v & 0xffff);
        return;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        vdev->isr &= ~v;
        return;
    case VIRTIO_MMIO_STATUS:
        virtio_set_status(vdev, v & 0xff);
        if (v == 0) {
            t->queue_sel = t->dev_features_sel = t->drv_features_sel = 0;
        }
        return;
    case VIRTIO_MMIO_SHM_SEL:
        t->shm_sel = v;
        return;
    default:
        break;
    }
    /* Queue configuration: only for an existing queue that is not live. */
    if (!vq) {
        return;
    }
    if (offset == VIRTIO_MMIO_QUEUE_READY) {
        if (v & 1) {
            if (!vq->ready) {
                virtio_queue_enable(vdev, t->queue_sel);
            }
        } else {
            vq->ready = false;
        }
        return;
    }
    if (vq->ready) {
        log_debug("virtio-mmio@0x%" PRIx64 ": queue %u reconfigured while ready, ignored",
                  t->base, t->queue_sel);
        return;
    }
    switch (offset) {
    case VIRTIO_MMIO_QUEUE_NUM: vq->num = v; break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: set_low(&vq->desc, v); break;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_high(&vq->desc, v); break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW: set_low(&vq->avail, v); break;
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH: set_high(&vq->avail, v); break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW: set_low(&vq->used, v); break;
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: set_high(&vq->used, v); break;
    default: break;
    }
}

const IoRegionOps virtio_mmio_ops = {
    .read = mmio_read,
    .write = mmio_write,
};

static gboolean on_kick(gint fd, GIOCondition cond, gpointer opaque)
{
    MmioKick *k = opaque;
    uint64_t v;

    if (read(fd, &v, sizeof(v)) == sizeof(v)) {
        virtio_queue_notify(k->t->vdev, k->index);
    }
    return G_SOURCE_CONTINUE;
}

static void teardown_kicks(VirtioMmio *t)
{
    if (!t->kicks) {
        return;
    }
    for (unsigned i = 0; i < t->nkicks; i++) {
        MmioKick *k = &t->kicks[i];
        if (k->src) {
            g_source_destroy(k->src);
            g_source_unref(k->src);
            machine_remove_ioeventfd(t->m, false, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, true, i,
                                     k->fd);
        }
        if (k->fd >= 0) {
            close(k->fd);
        }
    }
    g_free(t->kicks);
    t->kicks = NULL;
}

static bool setup_kicks(VirtioMmio *t, GError **err)
{
    unsigned n = t->vdev->nvqs;

    if (!n) {
        return true;
    }
    t->kicks = g_new0(MmioKick, n);
    t->nkicks = n;
    for (unsigned i = 0; i < n; i++) {
        t->kicks[i].fd = -1;
    }
    for (unsigned i = 0; i < n; i++) {
        MmioKick *k = &t->kicks[i];
        GError *local = NULL;

        k->t = t;
        k->index = i;
        k->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (k->fd < 0) {
            set_error(err, "eventfd: %s", g_strerror(errno));
            return false;
        }
        if (!machine_add_ioeventfd(t->m, false, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, true, i,
                                   k->fd, &local)) {
            if (local) {
                g_propagate_error(err, local);
                return false;
            }
            /* No ioeventfd support: the QueueNotify write handler does the work. */
            teardown_kicks(t);
            return true;
        }
        k->src = g_unix_fd_source_new(k->fd, G_IO_IN);
        g_source_set_callback(k->src, G_SOURCE_FUNC(on_kick), k, NULL);
        g_source_attach(k->src, t->m->ctx);
    }
    return true;
}

/*
 * A snapshot's queues arrived: look at each once, as if kicked. A kick the
 * guest wrote just before the snapshot may still have been waiting in its
 * eventfd, which did not travel; without this the request would wait for
 * the guest's next kick.
 */
static void mmio_loaded(void *opaque)
{
    VirtioMmio *t = opaque;
    uint64_t one = 1;

    for (unsigned i = 0; t->kicks && i < t->nkicks; i++) {
        if (t->kicks[i].src && write(t->kicks[i].fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
            log_debug("virtio-mmio@0x%" PRIx64 ": kick %u: %s", t->base, i, g_strerror(errno));
        }
    }
}

/* The device changed its queue count (before a driver uses it): one kick per queue again. */
static void mmio_queues_changed(void *opaque)
{
    VirtioMmio *t = opaque;
    GError *err = NULL;
    bool had = t->kicks != NULL;

    teardown_kicks(t);
    t->queue_sel = 0;
    if (had && !setup_kicks(t, &err)) {
        /* The QueueNotify write handler still works, only slower. */
        log_warn("virtio-mmio@0x%" PRIx64 ": %s", t->base, err->message);
        g_error_free(err);
        teardown_kicks(t);
    }
}

VirtioMmio *virtio_mmio_new(Machine *m, VirtioDevice *vdev, uint64_t base, unsigned gsi,
                            GError **err)
{
    VirtioMmio *t = g_new0(VirtioMmio, 1);
    g_autofree char *name = g_strdup_printf("virtio-mmio@0x%" PRIx64 " (%s)", base,
                                            vdev->klass->name);
    GError *local = NULL;

    t->m = m;
    t->vdev = vdev;
    t->base = base;
    t->irqfd = -1;
    irq_line_init(&t->irq, m, gsi);
    if (!iobus_add(&m->mmio, base, VIRTIO_MMIO_REGION_SIZE, &virtio_mmio_ops, t, name, err)) {
        g_free(t);
        return NULL;
    }
    t->mapped = true;
    virtio_device_set_transport(vdev, &mmio_transport_ops, t);

    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        set_error(err, "eventfd: %s", g_strerror(errno));
        goto fail;
    }
    if (machine_add_irqfd(m, gsi, fd, &local)) {
        t->irqfd = fd;
    } else {
        close(fd);
        if (local) {
            g_propagate_error(err, local);
            goto fail;
        }
    }
    if (!setup_kicks(t, err)) {
        goto fail;
    }
    return t;

fail:
    virtio_mmio_free(t);
    return NULL;
}

void virtio_mmio_free(VirtioMmio *t)
{
    if (!t) {
        return;
    }
    teardown_kicks(t);
    if (t->irqfd >= 0) {
        machine_remove_irqfd(t->m, t->irq.gsi, t->irqfd);
        close(t->irqfd);
    }
    if (t->mapped) {
        iobus_remove(&t->m->mmio, t->base);
    }
    if (t->vdev && t->vdev->transport_opaque == t) {
        virtio_device_set_transport(t->vdev, NULL, NULL);
    }
    g_free(t);
}

VirtioDevice *virtio_mmio_device(VirtioMmio *t) { return t->vdev; }
uint64_t virtio_mmio_base(const VirtioMmio *t) { return t->base; }
unsigned virtio_mmio_gsi(const VirtioMmio *t) { return t->irq.gsi; }

char *virtio_mmio_cmdline_param(const VirtioMmio *t)
{
    return g_strdup_printf("virtio_mmio.device=%u@0x%08" PRIx64 ":%u", VIRTIO_MMIO_REGION_SIZE,
                           t->base, t->irq.gsi);
}

/* ---- saved state (migration/vmstate.h) ---- */

/*
 * The registers the guest can read back that live in the transport; the
 * device behind it (features, status, queues, interrupt status) is its own
 * section. The irqfd, ioeventfds and the mapping are rebuilt by creation.
 */
const VMStateDescription vmstate_virtio_mmio = {
    .name = "virtio-mmio",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U32(queue_sel, VirtioMmio),
        VMSTATE_U32(dev_features_sel, VirtioMmio),
        VMSTATE_U32(drv_features_sel, VirtioMmio),
        VMSTATE_U32(shm_sel, VirtioMmio),
        VMSTATE_END_OF_LIST()
    },
};
