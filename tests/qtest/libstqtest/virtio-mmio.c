/*
 * virtio-mmio driver helper (see virtio-mmio.h). Split virtqueue layout
 * (virtio 1.2 §2.7): descriptor table 16*num (align 16), available ring
 * 6+2*num (align 2), used ring 6+8*num (align 4).
 */
#include <string.h>
#include "virtio-mmio.h"

void qvirtio_mmio_init(QVirtioMmio *d, QTestState *qts, uint64_t base, int gsi)
{
    memset(d, 0, sizeof(*d));
    d->qts = qts;
    d->base = base;
    d->gsi = gsi;
}

void qvirtio_mmio_init_slot(QVirtioMmio *d, QTestState *qts, unsigned slot)
{
    qvirtio_mmio_init(d, qts, QVIRTIO_MICROVM_BASE + slot * QVIRTIO_MICROVM_STRIDE,
                      QVIRTIO_MICROVM_IRQ0 + (int)slot);
}

uint32_t qvirtio_readl(QVirtioMmio *d, uint32_t off)
{
    return qtest_readl(d->qts, d->base + off);
}

void qvirtio_writel(QVirtioMmio *d, uint32_t off, uint32_t v)
{
    qtest_writel(d->qts, d->base + off, v);
}

uint32_t qvirtio_device_id(QVirtioMmio *d)
{
    return qvirtio_readl(d, QVIRTIO_MMIO_DEVICE_ID);
}

uint64_t qvirtio_device_features(QVirtioMmio *d)
{
    uint64_t lo, hi;

    qvirtio_writel(d, QVIRTIO_MMIO_DEV_FEATURES_SEL, 0);
    lo = qvirtio_readl(d, QVIRTIO_MMIO_DEV_FEATURES);
    qvirtio_writel(d, QVIRTIO_MMIO_DEV_FEATURES_SEL, 1);
    hi = qvirtio_readl(d, QVIRTIO_MMIO_DEV_FEATURES);
    return hi << 32 | lo;
}

void qvirtio_write_driver_features(QVirtioMmio *d, uint64_t f)
{
    qvirtio_writel(d, QVIRTIO_MMIO_DRV_FEATURES_SEL, 0);
    qvirtio_writel(d, QVIRTIO_MMIO_DRV_FEATURES, (uint32_t)f);
    qvirtio_writel(d, QVIRTIO_MMIO_DRV_FEATURES_SEL, 1);
    qvirtio_writel(d, QVIRTIO_MMIO_DRV_FEATURES, (uint32_t)(f >> 32));
}

uint8_t qvirtio_get_status(QVirtioMmio *d)
{
    return (uint8_t)qvirtio_readl(d, QVIRTIO_MMIO_STATUS);
}

void qvirtio_set_status(QVirtioMmio *d, uint8_t s)
{
    qvirtio_writel(d, QVIRTIO_MMIO_STATUS, s);
}

void qvirtio_add_status(QVirtioMmio *d, uint8_t bits)
{
    qvirtio_set_status(d, qvirtio_get_status(d) | bits);
}

void qvirtio_reset(QVirtioMmio *d)
{
    qvirtio_set_status(d, 0);
    g_assert_cmphex(qvirtio_get_status(d), ==, 0);
    d->features = 0;
}

bool qvirtio_negotiate(QVirtioMmio *d, uint64_t want)
{
    uint64_t offered;

    qvirtio_reset(d);
    qvirtio_add_status(d, QVIRTIO_S_ACKNOWLEDGE);
    qvirtio_add_status(d, QVIRTIO_S_DRIVER);
    offered = qvirtio_device_features(d);
    d->features = (want | (1ULL << QVIRTIO_F_VERSION_1)) & offered;
    qvirtio_write_driver_features(d, d->features);
    qvirtio_add_status(d, QVIRTIO_S_FEATURES_OK);
    return (qvirtio_get_status(d) & QVIRTIO_S_FEATURES_OK) != 0;
}

void qvirtio_driver_ok(QVirtioMmio *d)
{
    qvirtio_add_status(d, QVIRTIO_S_DRIVER_OK);
    g_assert_cmphex(qvirtio_get_status(d) & QVIRTIO_S_DRIVER_OK, ==, QVIRTIO_S_DRIVER_OK);
}

uint8_t qvirtio_config_readb(QVirtioMmio *d, uint32_t off)
{
    return qtest_readb(d->qts, d->base + QVIRTIO_MMIO_CONFIG + off);
}

uint16_t qvirtio_config_readw(QVirtioMmio *d, uint32_t off)
{
    return qtest_readw(d->qts, d->base + QVIRTIO_MMIO_CONFIG + off);
}

uint32_t qvirtio_config_readl(QVirtioMmio *d, uint32_t off)
{
    return qtest_readl(d->qts, d->base + QVIRTIO_MMIO_CONFIG + off);
}

uint64_t qvirtio_config_readq(QVirtioMmio *d, uint32_t off)
{
    /* 64-bit fields are read as two halves under the generation counter (§4.2.2.2). */
    for (;;) {
        uint32_t gen = qvirtio_readl(d, QVIRTIO_MMIO_CONFIG_GEN);
        uint64_t lo = qvirtio_config_readl(d, off);
        uint64_t hi = qvirtio_config_readl(d, off + 4);
        if (gen == qvirtio_readl(d, QVIRTIO_MMIO_CONFIG_GEN)) {
            return hi << 32 | lo;
        }
    }
}

void qvirtio_config_writeb(QVirtioMmio *d, uint32_t off, uint8_t v)
{
    qtest_writeb(d->qts, d->base + QVIRTIO_MMIO_CONFIG + off, v);
}

uint32_t qvirtio_isr(QVirtioMmio *d)
{
    return qvirtio_readl(d, QVIRTIO_MMIO_INT_STATUS);
}

void qvirtio_ack_isr(QVirtioMmio *d, uint32_t bits)
{
    qvirtio_writel(d, QVIRTIO_MMIO_INT_ACK, bits);
}

QVirtQueue *qvirtqueue_setup(QVirtioMmio *d, QGuestAlloc *a, unsigned index, unsigned num)
{
    QVirtQueue *vq = g_new0(QVirtQueue, 1);
    unsigned max;

    qvirtio_writel(d, QVIRTIO_MMIO_QUEUE_SEL, index);
    g_assert_cmpuint(qvirtio_readl(d, QVIRTIO_MMIO_QUEUE_READY), ==, 0);
    max = qvirtio_readl(d, QVIRTIO_MMIO_QUEUE_NUM_MAX);
    g_assert_cmpuint(max, >, 0);
    if (num == 0) {
        num = max;
    }
    g_assert_cmpuint(num, <=, max);
    vq->dev = d;
    vq->index = index;
    vq->num = num;
    vq->desc = guest_alloc0(d->qts, a, 16ULL * num, 4096);
    vq->avail = guest_alloc0(d->qts, a, 6 + 2ULL * num, 2);
    vq->used = guest_alloc0(d->qts, a, 6 + 8ULL * num, 4096);

    qvirtio_writel(d, QVIRTIO_MMIO_QUEUE_NUM, num);
    qvirtio_writel(d, QVIRTIO_MMIO_QUEUE_DESC_LO, (uint32_t)vq->desc);
    qvirtio_writel(d, QVIRTIO_MMIO_QUEUE_DESC_HI, (uint32_t)(vq->desc >> 32));
    qvirtio_writel(d, QVIRTIO_MMIO_QUEUE_AVAIL_LO, (uint32_t)vq->avail);
    qvirtio_writel(d, QVIRTIO_MMIO_QUEUE_AVAIL_HI, (uint32_t)(vq->avail >> 32));
    qvirtio_writel(d, QVIRTIO_MMIO_QUEUE_USED_LO, (uint32_t)vq->used);
    qvirtio_writel(d, QVIRTIO_MMIO_QUEUE_USED_HI, (uint32_t)(vq->used >> 32));
    qvirtio_writel(d, QVIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_cmpuint(qvirtio_readl(d, QVIRTIO_MMIO_QUEUE_READY), ==, 1);
    return vq;
}

void qvirtqueue_free(QVirtQueue *vq)
{
    g_free(vq);
}

void qvirtqueue_write_desc(QVirtQueue *vq, unsigned idx, uint64_t addr, uint32_t len,
                           uint16_t flags, uint16_t next)
{
    uint8_t d[16];
    uint64_t a = GUINT64_TO_LE(addr);
    uint32_t l = GUINT32_TO_LE(len);
    uint16_t f = GUINT16_TO_LE(flags), n = GUINT16_TO_LE(next);

    g_assert_cmpuint(idx, <, vq->num);
    memcpy(d, &a, 8);
    memcpy(d + 8, &l, 4);
    memcpy(d + 12, &f, 2);
    memcpy(d + 14, &n, 2);
    qtest_memwrite(vq->dev->qts, vq->desc + 16ULL * idx, d, sizeof(d));
}

unsigned qvirtqueue_add(QVirtQueue *vq, uint64_t addr, uint32_t len, bool device_writes,
                        bool next)
{
    unsigned idx = vq->next_desc;
    uint16_t flags = (device_writes ? QVRING_DESC_F_WRITE : 0) |
                     (next ? QVRING_DESC_F_NEXT : 0);

    vq->next_desc = (idx + 1) % vq->num;
    qvirtqueue_write_desc(vq, idx, addr, len, flags, next ? (uint16_t)vq->next_desc : 0);
    return idx;
}

unsigned qvirtqueue_add_indirect(QVirtQueue *vq, uint64_t table, unsigned n)
{
    unsigned idx = vq->next_desc;

    vq->next_desc = (idx + 1) % vq->num;
    qvirtqueue_write_desc(vq, idx, table, 16 * n, QVRING_DESC_F_INDIRECT, 0);
    return idx;
}

void qvirtqueue_publish(QVirtQueue *vq, unsigned head)
{
    QTestState *s = vq->dev->qts;

    qtest_writew(s, vq->avail + 4 + 2ULL * (vq->avail_idx % vq->num), (uint16_t)head);
    vq->avail_idx++;
    qtest_writew(s, vq->avail + 2, vq->avail_idx);
}

void qvirtqueue_set_avail_idx(QVirtQueue *vq, uint16_t idx)
{
    vq->avail_idx = idx;
    qtest_writew(vq->dev->qts, vq->avail + 2, idx);
}

void qvirtqueue_notify(QVirtQueue *vq)
{
    qvirtio_writel(vq->dev, QVIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
}

void qvirtqueue_kick(QVirtQueue *vq, unsigned head)
{
    qvirtqueue_publish(vq, head);
    qvirtqueue_notify(vq);
}

uint16_t qvirtqueue_used_idx(QVirtQueue *vq)
{
    return qtest_readw(vq->dev->qts, vq->used + 2);
}

bool qvirtqueue_get_used(QVirtQueue *vq, uint32_t *id, uint32_t *len)
{
    uint64_t elem;
    uint32_t v[2];

    if (qvirtqueue_used_idx(vq) == vq->last_used) {
        return false;
    }
    elem = vq->used + 4 + 8ULL * (vq->last_used % vq->num);
    qtest_memread(vq->dev->qts, elem, v, sizeof(v));
    if (id) {
        *id = GUINT32_FROM_LE(v[0]);
    }
    if (len) {
        *len = GUINT32_FROM_LE(v[1]);
    }
    vq->last_used++;
    return true;
}

bool qvirtqueue_poll_used(QVirtQueue *vq, uint32_t *id, uint32_t *len, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        /* Each qtest request lets the VMM's main loop run completions. */
        if (qvirtqueue_get_used(vq, id, len)) {
            return true;
        }
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(200);
    }
}

uint32_t qvirtqueue_wait_used(QVirtQueue *vq, unsigned head, int timeout_ms)
{
    uint32_t id = 0, len = 0;

    if (!qvirtqueue_poll_used(vq, &id, &len, timeout_ms)) {
        g_error("virtqueue %u: request %u not completed within %d ms", vq->index, head,
                timeout_ms);
    }
    g_assert_cmpuint(id, ==, head);
    return len;
}
