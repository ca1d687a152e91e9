/*
 * Split virtqueues (virtio 1.2 §2.7): descriptor table, available and used
 * rings in guest RAM. Transport- and device-independent.
 *
 * Everything the guest controls is treated as hostile: ring and buffer
 * addresses are resolved with guest_ram_ptr() over their full length, every
 * descriptor is copied before it is checked (the guest may change it under
 * us), chains are bounded, indices are range-checked. A malformed queue makes
 * virtqueue_pop() fail with a reason; the device core then sets NEEDS_RESET.
 */
#ifndef STRATUS_VIRTQUEUE_H
#define STRATUS_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "memory.h"

#define VIRTQ_DESC_F_NEXT      1
#define VIRTQ_DESC_F_WRITE     2
#define VIRTQ_DESC_F_INDIRECT  4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

/* Largest queue a device may offer and longest chain (incl. indirect) accepted. */
#define VIRTQ_MAX_SIZE  1024
#define VIRTQ_MAX_CHAIN 1024

typedef struct VirtQueue {
    const GuestRam *ram;
    uint16_t num_max;          /* QueueNumMax */
    uint32_t num;              /* QueueNum as written (checked at enable) */
    bool ready;
    uint64_t desc, avail, used;
    /* negotiated ring features, set at enable */
    bool event_idx;
    bool indirect;
    /* device-side indices */
    uint16_t last_avail_idx;
    uint16_t used_idx;
    uint16_t signalled_used;
    bool signalled_used_valid;
    bool notification;          /* driver kicks wanted */
} VirtQueue;

/* One popped chain: out_sg (device-readable) then in_sg (device-writable). */
typedef struct VirtQueueElement {
    uint16_t head;
    unsigned out_num, in_num;
    uint64_t out_len, in_len;   /* byte totals, each <= UINT32_MAX */
    struct iovec *out_sg, *in_sg;
    struct iovec sg[];
} VirtQueueElement;

void virtqueue_init(VirtQueue *vq, const GuestRam *ram, uint16_t num_max);
/* Back to the power-on state: not ready, num = num_max, addresses 0. */
void virtqueue_reset(VirtQueue *vq);
/*
 * Driver enables the queue: checks num (power of two, 1..num_max), ring
 * alignment and that all three rings lie in RAM; resets the indices.
 * false + *why (static string) when the configuration is invalid.
 */
bool virtqueue_enable(VirtQueue *vq, bool event_idx, bool indirect, const char **why);

/*
 * 1: *elem is the next chain (g_free it after virtqueue_push), 0: nothing
 * available (or queue not ready), -1: the queue is malformed, *why is a
 * g_malloc'ed explanation.
 */
int virtqueue_pop(VirtQueue *vq, VirtQueueElement **elem, char **why);
/* Returns the chain to the driver with `len` bytes written. */
void virtqueue_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len);
/*
 * Batched completion: fill writes used entry used_idx + i, flush then
 * publishes `count` entries with one index update (the driver never sees a
 * partial batch).
 */
void virtqueue_fill(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len, unsigned i);
void virtqueue_flush(VirtQueue *vq, unsigned count);
/* Gives the last `count` popped chains back (they will be popped again). */
void virtqueue_unpop(VirtQueue *vq, unsigned count);
/* True if nothing is available (or the ring is unreadable). */
bool virtqueue_empty(VirtQueue *vq);
/* Suppress (false) or request (true) driver kicks: used flags or avail_event. */
void virtqueue_set_notification(VirtQueue *vq, bool enable);
/*
 * After pushes: does the driver want an interrupt now (NO_INTERRUPT flag or
 * used_event)? Updates the EVENT_IDX bookkeeping, so call once per batch.
 */
bool virtqueue_should_notify(VirtQueue *vq);

/* vring_need_event() from the spec: true if event_idx is in (old, new]. */
static inline bool virtqueue_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

/* ---- introspection (QMP x-query-virtio-queue-element) ---- */

/* One split-ring descriptor (§2.7.5), host byte order. */
typedef struct VringDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VringDesc;

/*
 * Descriptor i of `table` (the queue's own or an indirect one), copied once
 * from guest RAM; false if it is not in RAM.
 */
bool virtqueue_read_desc(const VirtQueue *vq, uint64_t table, uint32_t i, VringDesc *d);

/* What the rings hold now; avail_ring is available-ring slot pos % num. */
typedef struct VirtQueueRings {
    uint16_t avail_flags, avail_idx, avail_ring;
    uint16_t used_flags, used_idx;
} VirtQueueRings;

/* false if the queue has no size or its rings are not in RAM. */
bool virtqueue_read_rings(const VirtQueue *vq, uint16_t pos, VirtQueueRings *r);

/* iovec helpers used by devices. */
size_t iov_size(const struct iovec *iov, unsigned n);
/* Copy out of / into an iovec starting `offset` bytes in; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf,
                    size_t len);
/* New array describing bytes [offset, offset+len) of iov; *out_n elements. */
struct iovec *iov_slice(const struct iovec *iov, unsigned n, size_t offset, size_t len,
                        unsigned *out_n);

#include "migration/vmstate.h"
/* The guest-visible state of one queue (docs/migration.md). */
extern const VMStateDescription vmstate_virtqueue;

#endif
