/*
 * A minimal virtio-mmio (version 2, virtio 1.2 §4.2.2) driver for qtest:
 * feature negotiation, the status machine, split virtqueues in guest RAM
 * (from a QGuestAlloc), descriptor chains, used-ring polling and the
 * interrupt status register. Written against the spec's register layout.
 */
#ifndef STQTEST_VIRTIO_MMIO_H
#define STQTEST_VIRTIO_MMIO_H

#include "qtest.h"

/* Register offsets (virtio 1.2 table 4.1). */
#define QVIRTIO_MMIO_MAGIC            0x000
#define QVIRTIO_MMIO_VERSION          0x004
#define QVIRTIO_MMIO_DEVICE_ID        0x008
#define QVIRTIO_MMIO_VENDOR_ID        0x00c
#define QVIRTIO_MMIO_DEV_FEATURES     0x010
#define QVIRTIO_MMIO_DEV_FEATURES_SEL 0x014
#define QVIRTIO_MMIO_DRV_FEATURES     0x020
#define QVIRTIO_MMIO_DRV_FEATURES_SEL 0x024
#define QVIRTIO_MMIO_QUEUE_SEL        0x030
#define QVIRTIO_MMIO_QUEUE_NUM_MAX    0x034
#define QVIRTIO_MMIO_QUEUE_NUM        0x038
#define QVIRTIO_MMIO_QUEUE_READY      0x044
#define QVIRTIO_MMIO_QUEUE_NOTIFY     0x050
#define QVIRTIO_MMIO_INT_STATUS       0x060
#define QVIRTIO_MMIO_INT_ACK          0x064
#define QVIRTIO_MMIO_STATUS           0x070
#define QVIRTIO_MMIO_QUEUE_DESC_LO    0x080
#define QVIRTIO_MMIO_QUEUE_DESC_HI    0x084
#define QVIRTIO_MMIO_QUEUE_AVAIL_LO   0x090
#define QVIRTIO_MMIO_QUEUE_AVAIL_HI   0x094
#define QVIRTIO_MMIO_QUEUE_USED_LO    0x0a0
#define QVIRTIO_MMIO_QUEUE_USED_HI    0x0a4
#define QVIRTIO_MMIO_CONFIG_GEN       0x0fc
#define QVIRTIO_MMIO_CONFIG           0x100

#define QVIRTIO_MAGIC 0x74726976

#define QVIRTIO_S_ACKNOWLEDGE 0x01
#define QVIRTIO_S_DRIVER      0x02
#define QVIRTIO_S_DRIVER_OK   0x04
#define QVIRTIO_S_FEATURES_OK 0x08
#define QVIRTIO_S_NEEDS_RESET 0x40
#define QVIRTIO_S_FAILED      0x80

#define QVIRTIO_F_INDIRECT_DESC 28
#define QVIRTIO_F_EVENT_IDX     29
#define QVIRTIO_F_VERSION_1     32

#define QVRING_DESC_F_NEXT     1
#define QVRING_DESC_F_WRITE    2
#define QVRING_DESC_F_INDIRECT 4

#define QVIRTIO_INT_VRING  1
#define QVIRTIO_INT_CONFIG 2

/* microvm layout */
#define QVIRTIO_MICROVM_BASE   0xF0100000ULL
#define QVIRTIO_MICROVM_STRIDE 0x200
#define QVIRTIO_MICROVM_IRQ0   5

typedef struct QVirtioMmio {
    QTestState *qts;
    uint64_t base;
    int gsi;                 /* -1: unknown */
    uint64_t features;       /* negotiated */
} QVirtioMmio;

typedef struct QVirtQueue {
    QVirtioMmio *dev;
    unsigned index;
    unsigned num;
    uint64_t desc, avail, used;
    unsigned next_desc;      /* round-robin descriptor allocation */
    uint16_t avail_idx;      /* driver's shadow of avail->idx */
    uint16_t last_used;      /* next used element to consume */
} QVirtQueue;

/* slot i of microvm: base 0xF0100000 + i*0x200, GSI 5+i. */
void qvirtio_mmio_init(QVirtioMmio *d, QTestState *qts, uint64_t base, int gsi);
void qvirtio_mmio_init_slot(QVirtioMmio *d, QTestState *qts, unsigned slot);

uint32_t qvirtio_readl(QVirtioMmio *d, uint32_t off);
void qvirtio_writel(QVirtioMmio *d, uint32_t off, uint32_t v);
uint32_t qvirtio_device_id(QVirtioMmio *d);
uint64_t qvirtio_device_features(QVirtioMmio *d);
void qvirtio_write_driver_features(QVirtioMmio *d, uint64_t f);
uint8_t qvirtio_get_status(QVirtioMmio *d);
void qvirtio_set_status(QVirtioMmio *d, uint8_t s);     /* writes the value as is */
void qvirtio_add_status(QVirtioMmio *d, uint8_t bits);  /* ORs into the current value */
/* Writes 0 and checks that the status reads back 0. */
void qvirtio_reset(QVirtioMmio *d);
/*
 * reset, ACKNOWLEDGE, DRIVER, write `want & offered` (VERSION_1 always),
 * FEATURES_OK; returns whether FEATURES_OK stuck. d->features = negotiated.
 */
bool qvirtio_negotiate(QVirtioMmio *d, uint64_t want);
void qvirtio_driver_ok(QVirtioMmio *d);

uint8_t qvirtio_config_readb(QVirtioMmio *d, uint32_t off);
uint16_t qvirtio_config_readw(QVirtioMmio *d, uint32_t off);
uint32_t qvirtio_config_readl(QVirtioMmio *d, uint32_t off);
uint64_t qvirtio_config_readq(QVirtioMmio *d, uint32_t off);   /* two 32-bit reads */
void qvirtio_config_writeb(QVirtioMmio *d, uint32_t off, uint8_t v);

uint32_t qvirtio_isr(QVirtioMmio *d);
void qvirtio_ack_isr(QVirtioMmio *d, uint32_t bits);

/* Queues. num 0 = QueueNumMax. Memory comes from a (aligned as the spec asks). */
QVirtQueue *qvirtqueue_setup(QVirtioMmio *d, QGuestAlloc *a, unsigned index, unsigned num);
void qvirtqueue_free(QVirtQueue *vq);     /* host-side only: guest memory is bump-allocated */

/* Writes descriptor idx verbatim (for hostile tests). */
void qvirtqueue_write_desc(QVirtQueue *vq, unsigned idx, uint64_t addr, uint32_t len,
                           uint16_t flags, uint16_t next);
/*
 * Chain building: each call takes the next free descriptor; `next` links it
 * to the descriptor the following call will take. Returns the index (the
 * first call's index is the chain head).
 */
unsigned qvirtqueue_add(QVirtQueue *vq, uint64_t addr, uint32_t len, bool device_writes,
                        bool next);
/* An indirect descriptor pointing at a table of n entries already in guest memory. */
unsigned qvirtqueue_add_indirect(QVirtQueue *vq, uint64_t table, unsigned n);
/* Publishes head in the avail ring (no notify). */
void qvirtqueue_publish(QVirtQueue *vq, unsigned head);
/* Writes avail->idx directly (for hostile tests). */
void qvirtqueue_set_avail_idx(QVirtQueue *vq, uint16_t idx);
void qvirtqueue_notify(QVirtQueue *vq);
/* publish + notify */
void qvirtqueue_kick(QVirtQueue *vq, unsigned head);
uint16_t qvirtqueue_used_idx(QVirtQueue *vq);
/* Consumes the next used element if there is one. */
bool qvirtqueue_get_used(QVirtQueue *vq, uint32_t *id, uint32_t *len);
/*
 * Polls (bounded) until the used ring has a new element; it must be `head`.
 * Returns the written length. Aborts on timeout.
 */
uint32_t qvirtqueue_wait_used(QVirtQueue *vq, unsigned head, int timeout_ms);
/* Polls for any used element; false on timeout. */
bool qvirtqueue_poll_used(QVirtQueue *vq, uint32_t *id, uint32_t *len, int timeout_ms);

#endif
