/* virtio device core: features, status machine, config space, interrupts. */
#include <endian.h>
#include <string.h>

#include "hw/virtio/virtio.h"
#include "util/log.h"

void virtio_device_init(VirtioDevice *vdev, const VirtioDeviceClass *klass, Machine *m,
                        const char *id, uint64_t host_features, unsigned nvqs,
                        uint16_t queue_max, uint32_t config_len)
{
    memset(vdev, 0, sizeof(*vdev));
    vdev->klass = klass;
    vdev->machine = m;
    vdev->id = g_strdup(id ? id : "");
    vdev->host_features = host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
    vdev->nvqs = nvqs;
    vdev->vqs = g_new0(VirtQueue, nvqs ? nvqs : 1);
    for (unsigned i = 0; i < nvqs; i++) {
        virtqueue_init(&vdev->vqs[i], &m->ram, queue_max);
    }
    vdev->config_len = config_len;
    vdev->config = g_malloc0(config_len ? config_len : 1);
}

bool virtio_device_set_num_queues(VirtioDevice *vdev, unsigned nvqs, uint16_t queue_max)
{
    if (nvqs == vdev->nvqs) {
        return true;
    }
    if (vdev->status) {
        return false;
    }
    g_free(vdev->vqs);
    vdev->nvqs = nvqs;
    vdev->vqs = g_new0(VirtQueue, nvqs ? nvqs : 1);
    for (unsigned i = 0; i < nvqs; i++) {
        virtqueue_init(&vdev->vqs[i], &vdev->machine->ram, queue_max);
    }
    if (vdev->transport && vdev->transport->queues_changed) {
        vdev->transport->queues_changed(vdev->transport_opaque);
    }
    return true;
}

void virtio_device_cleanup(VirtioDevice *vdev)
{
    g_free(vdev->vqs);
    g_free(vdev->config);
    g_free(vdev->id);
    vdev->vqs = NULL;
    vdev->config = NULL;
    vdev->id = NULL;
}

void virtio_device_free(VirtioDevice *vdev)
{
    if (vdev) {
        vdev->klass->free(vdev);
    }
}

void virtio_device_set_transport(VirtioDevice *vdev, const VirtioTransportOps *ops, void *opaque)
{
    vdev->transport = ops;
    vdev->transport_opaque = opaque;
}

uint32_t virtio_device_features(const VirtioDevice *vdev, uint32_t sel)
{
    return sel < 2 ? (uint32_t)(vdev->host_features >> (32 * sel)) : 0;
}

void virtio_set_driver_features(VirtioDevice *vdev, uint32_t sel, uint32_t val)
{
    if (vdev->status & VIRTIO_STATUS_FEATURES_OK) {
        log_debug("%s '%s': feature write after FEATURES_OK ignored", vdev->klass->name,
                  vdev->id);
        return;
    }
    if (sel >= 2) {
        if (val) {
            /* Bits we never offer: remember so FEATURES_OK is refused. */
            vdev->guest_features |= VIRTIO_BIT(63) & ~vdev->host_features;
        }
        return;
    }
    uint64_t mask = 0xffffffffULL << (32 * sel);
    vdev->guest_features = (vdev->guest_features & ~mask) | ((uint64_t)val << (32 * sel));
}

static void raise_irq(VirtioDevice *vdev, uint32_t cause)
{
    vdev->isr |= cause;
    if (vdev->transport) {
        vdev->transport->notify(vdev->transport_opaque, cause);
    }
}

void virtio_reset(VirtioDevice *vdev)
{
    if (vdev->klass->reset) {
        vdev->klass->reset(vdev);
    }
    vdev->status = 0;
    vdev->guest_features = 0;
    vdev->isr = 0;
    vdev->broken = false;
    for (unsigned i = 0; i < vdev->nvqs; i++) {
        virtqueue_reset(&vdev->vqs[i]);
    }
}

void virtio_set_status(VirtioDevice *vdev, uint8_t val)
{
    uint8_t old = vdev->status;
    uint8_t nv;

    if (val == 0) {
        virtio_reset(vdev);
        return;
    }
    /* NEEDS_RESET belongs to the device. */
    nv = (val & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET);
    if (old & ~nv) {
        log_warn("%s '%s': driver tried to clear status bits (0x%02x -> 0x%02x), ignored",
                 vdev->klass->name, vdev->id, old, val);
        return;
    }
    if ((nv & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        if (!(vdev->guest_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
            log_warn("%s '%s': FEATURES_OK refused: the driver did not accept VERSION_1 "
                     "(legacy drivers are not supported)", vdev->klass->name, vdev->id);
            nv &= ~VIRTIO_STATUS_FEATURES_OK;
        } else if (vdev->guest_features & ~vdev->host_features) {
            log_warn("%s '%s': FEATURES_OK refused: unoffered features 0x%" G_GINT64_MODIFIER
                     "x", vdev->klass->name, vdev->id,
                     vdev->guest_features & ~vdev->host_features);
            nv &= ~VIRTIO_STATUS_FEATURES_OK;
        }
    }
    if ((nv & VIRTIO_STATUS_DRIVER_OK) && !(nv & VIRTIO_STATUS_FEATURES_OK)) {
        log_warn("%s '%s': DRIVER_OK without FEATURES_OK refused", vdev->klass->name, vdev->id);
        nv &= ~VIRTIO_STATUS_DRIVER_OK;
    }
    vdev->status = nv;
    if ((nv & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
        vdev->klass->driver_ok) {
        vdev->klass->driver_ok(vdev);
    }
}

uint64_t virtio_config_read(VirtioDevice *vdev, uint32_t offset, unsigned size)
{
    uint64_t v = 0;

    if (size > 8 || offset >= vdev->config_len || size > vdev->config_len - offset) {
        return 0;
    }
    memcpy(&v, vdev->config + offset, size);
    return le64toh(v);
}

void virtio_config_write(VirtioDevice *vdev, uint32_t offset, uint64_t val, unsigned size)
{
    if (size > 8 || offset >= vdev->config_len || size > vdev->config_len - offset ||
        !vdev->klass->config_write) {
        return;   /* read-only config: writes are dropped */
    }
    val = htole64(val);
    memcpy(vdev->config + offset, &val, size);
    vdev->klass->config_write(vdev, offset, size);
}

void virtio_config_set_le16(VirtioDevice *vdev, uint32_t offset, uint16_t v)
{
    g_assert(offset + 2 <= vdev->config_len);
    v = htole16(v);
    memcpy(vdev->config + offset, &v, 2);
}

void virtio_config_set_le32(VirtioDevice *vdev, uint32_t offset, uint32_t v)
{
    g_assert(offset + 4 <= vdev->config_len);
    v = htole32(v);
    memcpy(vdev->config + offset, &v, 4);
}

void virtio_config_set_le64(VirtioDevice *vdev, uint32_t offset, uint64_t v)
{
    g_assert(offset + 8 <= vdev->config_len);
    v = htole64(v);
    memcpy(vdev->config + offset, &v, 8);
}

void virtio_config_changed(VirtioDevice *vdev)
{
    vdev->config_generation++;
    if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
        raise_irq(vdev, VIRTIO_INT_CONFIG);
    }
}

void virtio_error(VirtioDevice *vdev, const char *fmt, ...)
{
    va_list ap;

    if (!vdev->broken) {
        g_autofree char *msg = NULL;
        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        log_warn("%s '%s': %s; the device needs a reset", vdev->klass->name, vdev->id, msg);
    }
    vdev->broken = true;
    if (!(vdev->status & VIRTIO_STATUS_NEEDS_RESET)) {
        vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
        if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
            vdev->config_generation++;
            raise_irq(vdev, VIRTIO_INT_CONFIG);
        }
    }
}

bool virtio_queue_enable(VirtioDevice *vdev, unsigned n)
{
    const char *why = NULL;

    if (n >= vdev->nvqs) {
        return false;
    }
    if (!virtqueue_enable(&vdev->vqs[n], virtio_has_feature(vdev, VIRTIO_F_EVENT_IDX),
                          virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC), &why)) {
        virtio_error(vdev, "queue %u: %s", n, why);
        return false;
    }
    return true;
}

void virtio_queue_notify(VirtioDevice *vdev, unsigned n)
{
    if (n >= vdev->nvqs || vdev->broken || !(vdev->status & VIRTIO_STATUS_DRIVER_OK) ||
        !vdev->vqs[n].ready) {
        return;
    }
    if (vdev->klass->queue_notify) {
        vdev->klass->queue_notify(vdev, n);
    }
}

void virtio_notify(VirtioDevice *vdev, VirtQueue *vq)
{
    if (!virtqueue_should_notify(vq)) {
        return;
    }
    /* A transport with per-queue vectors (virtio-pci's MSI-X) needs to know which. */
    if (vdev->transport && vdev->transport->notify_queue) {
        vdev->isr |= VIRTIO_INT_VRING;
        vdev->transport->notify_queue(vdev->transport_opaque, (unsigned)(vq - vdev->vqs));
        return;
    }
    raise_irq(vdev, VIRTIO_INT_VRING);
}

void virtio_notify_vring(VirtioDevice *vdev)
{
    raise_irq(vdev, VIRTIO_INT_VRING);
}

/* ---- saved state (migration/vmstate.h) ---- */

/* Sane bounds for the stream; the device's own sizes are checked exactly. */
#define VIRTIO_STATE_MAX_QUEUES 1024
#define VIRTIO_STATE_MAX_CONFIG 4096

/*
 * Offered features are configuration (the destination's command line), so
 * negotiated ones it does not offer mean the two sides differ.
 */
static bool virtio_device_post_load(void *opaque, uint32_t version, GError **err)
{
    VirtioDevice *vdev = opaque;
    uint64_t unoffered = vdev->guest_features & ~vdev->host_features;

    if ((vdev->status & VIRTIO_STATUS_FEATURES_OK) && unoffered) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "negotiated features 0x%" G_GINT64_MODIFIER "x are not offered by '%s'",
                    unoffered, vdev->id);
        return false;
    }
    if (vdev->transport && vdev->transport->loaded) {
        vdev->transport->loaded(vdev->transport_opaque);
    }
    return true;
}

const VMStateDescription vmstate_virtio_device = {
    .name = "virtio-device",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = virtio_device_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_U64(guest_features, VirtioDevice),
        VMSTATE_U8(status, VirtioDevice),
        VMSTATE_U32(isr, VirtioDevice),
        VMSTATE_U32(config_generation, VirtioDevice),
        VMSTATE_VBUFFER_PTR(config, VirtioDevice, config_len, VIRTIO_STATE_MAX_CONFIG),
        VMSTATE_STRUCT_VARRAY_PTR(vqs, VirtioDevice, nvqs, VIRTIO_STATE_MAX_QUEUES,
                                  vmstate_virtqueue, VirtQueue),
        VMSTATE_BOOL(broken, VirtioDevice),
        VMSTATE_END_OF_LIST()
    },
};
