/* Split virtqueue: validation of guest rings and chains, used ring, EVENT_IDX. */
#include <endian.h>
#include <string.h>

#include "hw/virtio/virtqueue.h"

G_STATIC_ASSERT(sizeof(VringDesc) == 16);

/* Ring fields the guest updates concurrently: single aligned accesses. */
static inline uint16_t load16(const void *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static inline void store16(void *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}

static uint8_t *ring_ptr(const VirtQueue *vq, uint64_t base, uint64_t off, uint64_t len)
{
    if (base + off < base) {
        return NULL;
    }
    return guest_ram_ptr(vq->ram, base + off, len);
}

void virtqueue_init(VirtQueue *vq, const GuestRam *ram, uint16_t num_max)
{
    g_assert(num_max >= 1 && num_max <= VIRTQ_MAX_SIZE);
    memset(vq, 0, sizeof(*vq));
    vq->ram = ram;
    vq->num_max = num_max;
    virtqueue_reset(vq);
}

void virtqueue_reset(VirtQueue *vq)
{
    vq->num = vq->num_max;
    vq->ready = false;
    vq->desc = vq->avail = vq->used = 0;
    vq->event_idx = vq->indirect = false;
    vq->last_avail_idx = vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_used_valid = false;
    vq->notification = true;
}

bool virtqueue_enable(VirtQueue *vq, bool event_idx, bool indirect, const char **why)
{
    uint64_t n = vq->num;

    if (n == 0 || n > vq->num_max || (n & (n - 1))) {
        *why = "queue size is not a power of two within the maximum";
        return false;
    }
    if ((vq->desc & 15) || (vq->avail & 1) || (vq->used & 3)) {
        *why = "ring address is misaligned";
        return false;
    }
    /* desc: 16*n; avail: flags, idx, ring[n], used_event; used: flags, idx, ring[n], avail_event */
    if (!ring_ptr(vq, vq->desc, 0, 16 * n) || !ring_ptr(vq, vq->avail, 0, 6 + 2 * n) ||
        !ring_ptr(vq, vq->used, 0, 6 + 8 * n)) {
        *why = "ring is outside guest RAM";
        return false;
    }
    vq->event_idx = event_idx;
    vq->indirect = indirect;
    vq->last_avail_idx = vq->used_idx = 0;
    vq->signalled_used_valid = false;
    vq->notification = true;
    vq->ready = true;
    return true;
}

static bool avail_idx(const VirtQueue *vq, uint16_t *idx)
{
    uint8_t *p = ring_ptr(vq, vq->avail, 2, 2);

    if (!p) {
        return false;
    }
    *idx = load16(p);
    return true;
}

bool virtqueue_empty(VirtQueue *vq)
{
    uint16_t idx;

    if (!vq->ready || !avail_idx(vq, &idx)) {
        return true;
    }
    return idx == vq->last_avail_idx;
}

bool virtqueue_read_rings(const VirtQueue *vq, uint16_t pos, VirtQueueRings *r)
{
    uint8_t *avail = ring_ptr(vq, vq->avail, 0, 4 + 2ULL * vq->num);
    uint8_t *used = ring_ptr(vq, vq->used, 0, 4);

    if (!vq->num || !avail || !used) {
        return false;
    }
    r->avail_flags = load16(avail);
    r->avail_idx = load16(avail + 2);
    r->avail_ring = load16(avail + 4 + 2 * (pos % vq->num));
    r->used_flags = load16(used);
    r->used_idx = load16(used + 2);
    return true;
}

static void set_avail_event(VirtQueue *vq, uint16_t val)
{
    uint8_t *p = ring_ptr(vq, vq->used, 4 + 8ULL * vq->num, 2);

    if (p) {
        store16(p, val);
        guest_ram_mark_dma(vq->ram, p, 2);
    }
}

void virtqueue_set_notification(VirtQueue *vq, bool enable)
{
    vq->notification = enable;
    if (!vq->ready) {
        return;
    }
    if (vq->event_idx) {
        if (enable) {
            uint16_t idx;
            if (avail_idx(vq, &idx)) {
                set_avail_event(vq, idx);
            }
        }
    } else {
        uint8_t *p = ring_ptr(vq, vq->used, 0, 2);
        if (p) {
            uint16_t flags = load16(p);
            flags = enable ? flags & ~VIRTQ_USED_F_NO_NOTIFY : flags | VIRTQ_USED_F_NO_NOTIFY;
            store16(p, flags);
            guest_ram_mark_dma(vq->ram, p, 2);
        }
    }
    if (enable) {
        /* The caller re-checks the ring after this: order it after the store. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
}

bool virtqueue_read_desc(const VirtQueue *vq, uint64_t table, uint32_t i, VringDesc *d)
{
    const uint8_t *p = ring_ptr(vq, table, 16ULL * i, 16);

    if (!p) {
        return false;
    }
    memcpy(d, p, sizeof(*d));   /* one snapshot: the guest may rewrite it */
    d->addr = le64toh(d->addr);
    d->len = le32toh(d->len);
    d->flags = le16toh(d->flags);
    d->next = le16toh(d->next);
    return true;
}

#define FAIL(...) do { *why = g_strdup_printf(__VA_ARGS__); goto fail; } while (0)

int virtqueue_pop(VirtQueue *vq, VirtQueueElement **elem, char **why)
{
    struct iovec out[VIRTQ_MAX_CHAIN], in[VIRTQ_MAX_CHAIN];
    unsigned out_num = 0, in_num = 0, count = 0;
    uint64_t out_len = 0, in_len = 0;
    uint16_t idx, head;
    uint64_t table;
    uint32_t table_size, i;
    bool indirect = false;
    VringDesc d;
    uint8_t *p;

    *elem = NULL;
    *why = NULL;
    if (!vq->ready) {
        return 0;
    }
    if (!avail_idx(vq, &idx)) {
        FAIL("available ring is outside guest RAM");
    }
    if ((uint16_t)(idx - vq->last_avail_idx) > vq->num) {
        FAIL("available index %u is more than the queue size (%u) ahead of %u", idx,
             (unsigned)vq->num, vq->last_avail_idx);
    }
    if (idx == vq->last_avail_idx) {
        return 0;
    }
    /* avail_idx() loaded with acquire: ring entries and descriptors are visible. */
    p = ring_ptr(vq, vq->avail, 4 + 2ULL * (vq->last_avail_idx % vq->num), 2);
    if (!p) {
        FAIL("available ring is outside guest RAM");
    }
    head = load16(p);
    if (head >= vq->num) {
        FAIL("descriptor head %u is beyond the queue size %u", head, (unsigned)vq->num);
    }

    table = vq->desc;
    table_size = vq->num;
    i = head;
    for (;;) {
        if (++count > table_size) {
            FAIL("descriptor chain is longer than its table (%u): a loop?", table_size);
        }
        if (!virtqueue_read_desc(vq, table, i, &d)) {
            FAIL("descriptor table is outside guest RAM");
        }
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!vq->indirect) {
                FAIL("indirect descriptor but VIRTIO_F_INDIRECT_DESC was not negotiated");
            }
            if (indirect) {
                FAIL("indirect descriptor inside an indirect table");
            }
            if (d.flags & VIRTQ_DESC_F_NEXT) {
                FAIL("indirect descriptor with the NEXT flag");
            }
            if (count != 1) {
                FAIL("indirect descriptor that is not the head of its chain");
            }
            if (d.len == 0 || d.len % 16 || d.len / 16 > VIRTQ_MAX_CHAIN) {
                FAIL("indirect table length %u is invalid", d.len);
            }
            if (!guest_ram_ptr(vq->ram, d.addr, d.len)) {
                FAIL("indirect table 0x%" G_GINT64_MODIFIER "x+%u is outside guest RAM", d.addr,
                     d.len);
            }
            indirect = true;
            table = d.addr;
            table_size = d.len / 16;
            i = 0;
            count = 0;
            continue;
        }
        void *hva = guest_ram_ptr(vq->ram, d.addr, d.len);
        if (!hva) {
            FAIL("buffer 0x%" G_GINT64_MODIFIER "x+%u is outside guest RAM", d.addr, d.len);
        }
        if (out_num + in_num >= VIRTQ_MAX_CHAIN) {
            FAIL("descriptor chain has more than %u buffers", VIRTQ_MAX_CHAIN);
        }
        if (d.flags & VIRTQ_DESC_F_WRITE) {
            in_len += d.len;
            if (in_len > UINT32_MAX) {
                FAIL("device-writable length overflows");
            }
            in[in_num].iov_base = hva;
            in[in_num++].iov_len = d.len;
        } else {
            if (in_num) {
                FAIL("device-readable descriptor after a device-writable one");
            }
            out_len += d.len;
            if (out_len > UINT32_MAX) {
                FAIL("device-readable length overflows");
            }
            out[out_num].iov_base = hva;
            out[out_num++].iov_len = d.len;
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT)) {
            break;
        }
        if (d.next >= table_size) {
            FAIL("next descriptor %u is beyond its table (%u)", d.next, table_size);
        }
        i = d.next;
    }

    VirtQueueElement *e = g_malloc(sizeof(*e) + sizeof(struct iovec) * (out_num + in_num));
    e->head = head;
    e->out_num = out_num;
    e->in_num = in_num;
    e->out_len = out_len;
    e->in_len = in_len;
    e->out_sg = e->sg;
    e->in_sg = e->sg + out_num;
    memcpy(e->out_sg, out, sizeof(struct iovec) * out_num);
    memcpy(e->in_sg, in, sizeof(struct iovec) * in_num);
    vq->last_avail_idx++;
    if (vq->event_idx && vq->notification) {
        set_avail_event(vq, vq->last_avail_idx);
    }
    *elem = e;
    return 1;

fail:
    return -1;
}

/*
 * What a completed element wrote (its device-writable buffers) and its used
 * ring entry (the index is marked after its store), all in memory by now:
 * for a live migration's dirty log, and for code translated from those
 * pages (guest_ram_mark_dma).
 */
static void mark_written(const VirtQueue *vq, const VirtQueueElement *elem, const uint8_t *ent)
{
    for (unsigned i = 0; i < elem->in_num; i++) {
        guest_ram_mark_dma(vq->ram, elem->in_sg[i].iov_base, elem->in_sg[i].iov_len);
    }
    guest_ram_mark_dma(vq->ram, ent, 8);
}

void virtqueue_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len)
{
    uint8_t *ent, *idxp;
    uint16_t old = vq->used_idx, new_idx = old + 1;

    if (!vq->ready) {
        return;
    }
    ent = ring_ptr(vq, vq->used, 4 + 8ULL * (old % vq->num), 8);
    idxp = ring_ptr(vq, vq->used, 2, 2);
    if (!ent || !idxp) {
        return;   /* checked at enable; RAM does not move */
    }
    uint32_t id = htole32(elem->head), l = htole32(len);
    memcpy(ent, &id, 4);
    memcpy(ent + 4, &l, 4);
    mark_written(vq, elem, ent);
    /* The element before the index (release store). */
    store16(idxp, new_idx);
    guest_ram_mark_dma(vq->ram, idxp, 2);
    vq->used_idx = new_idx;
    /* 2^16 pushes without a notification make signalled_used meaningless. */
    if ((uint16_t)(new_idx - vq->signalled_used) < (uint16_t)(new_idx - old)) {
        vq->signalled_used_valid = false;
    }
}

/*
 * Batched completion (virtio-net's mergeable rx buffers): the driver reads
 * num_buffers from the first buffer and then expects all of them, so the
 * used index must move once, after every entry is written.
 */
void virtqueue_fill(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len, unsigned i)
{
    uint8_t *ent;

    if (!vq->ready) {
        return;
    }
    ent = ring_ptr(vq, vq->used, 4 + 8ULL * ((uint16_t)(vq->used_idx + i) % vq->num), 8);
    if (!ent) {
        return;   /* checked at enable; RAM does not move */
    }
    uint32_t id = htole32(elem->head), l = htole32(len);
    memcpy(ent, &id, 4);
    memcpy(ent + 4, &l, 4);
    mark_written(vq, elem, ent);
}

void virtqueue_flush(VirtQueue *vq, unsigned count)
{
    uint8_t *idxp;
    uint16_t old = vq->used_idx, new_idx = old + count;

    if (!vq->ready || !count) {
        return;
    }
    idxp = ring_ptr(vq, vq->used, 2, 2);
    if (!idxp) {
        return;
    }
    store16(idxp, new_idx);
    guest_ram_mark_dma(vq->ram, idxp, 2);
    vq->used_idx = new_idx;
    if ((uint16_t)(new_idx - vq->signalled_used) < (uint16_t)(new_idx - old)) {
        vq->signalled_used_valid = false;
    }
}

void virtqueue_unpop(VirtQueue *vq, unsigned count)
{
    vq->last_avail_idx -= count;
}

bool virtqueue_should_notify(VirtQueue *vq)
{
    uint8_t *p;

    if (!vq->ready) {
        return false;
    }
    /* Our used->idx store must be visible before we read the driver's wishes. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx) {
        p = ring_ptr(vq, vq->avail, 0, 2);
        return !p || !(load16(p) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
    uint16_t old = vq->signalled_used, new_idx = vq->used_idx;
    bool valid = vq->signalled_used_valid;
    vq->signalled_used = new_idx;
    vq->signalled_used_valid = true;
    p = ring_ptr(vq, vq->avail, 4 + 2ULL * vq->num, 2);
    if (!p) {
        return true;
    }
    return !valid || virtqueue_need_event(load16(p), new_idx, old);
}

size_t iov_size(const struct iovec *iov, unsigned n)
{
    size_t s = 0;

    for (unsigned i = 0; i < n; i++) {
        s += iov[i].iov_len;
    }
    return s;
}

static size_t iov_copy_dir(const struct iovec *iov, unsigned n, size_t offset, void *buf,
                           size_t len, bool to_buf)
{
    size_t done = 0;

    for (unsigned i = 0; i < n && done < len; i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        size_t c = MIN(iov[i].iov_len - offset, len - done);
        if (to_buf) {
            memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + offset, c);
        } else {
            memcpy((uint8_t *)iov[i].iov_base + offset, (const uint8_t *)buf + done, c);
        }
        done += c;
        offset = 0;
    }
    return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len)
{
    return iov_copy_dir(iov, n, offset, buf, len, true);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf,
                    size_t len)
{
    return iov_copy_dir(iov, n, offset, (void *)buf, len, false);
}

struct iovec *iov_slice(const struct iovec *iov, unsigned n, size_t offset, size_t len,
                        unsigned *out_n)
{
    struct iovec *r = g_new(struct iovec, n ? n : 1);
    unsigned k = 0;

    for (unsigned i = 0; i < n && len; i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        size_t c = MIN(iov[i].iov_len - offset, len);
        if (c) {
            r[k].iov_base = (uint8_t *)iov[i].iov_base + offset;
            r[k++].iov_len = c;
        }
        len -= c;
        offset = 0;
    }
    *out_n = k;
    return r;
}

/* ---- saved state (migration/vmstate.h) ---- */

/*
 * A ready queue from the stream must pass the checks virtqueue_enable() made
 * on the source, against this machine's RAM: the data path indexes the rings
 * with num and trusts them to be mapped. The check runs on a copy because
 * enabling resets the indices the stream just restored.
 */
static bool virtqueue_post_load(void *opaque, uint32_t version, GError **err)
{
    VirtQueue *vq = opaque;
    VirtQueue probe = *vq;
    const char *why = NULL;

    if (vq->ready && !virtqueue_enable(&probe, vq->event_idx, vq->indirect, &why)) {
        vq->ready = false;
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID, "ready queue of size %u: %s",
                    vq->num, why);
        return false;
    }
    return true;
}

/* num_max and the RAM the rings live in are configuration, not state. */
const VMStateDescription vmstate_virtqueue = {
    .name = "virtqueue",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = virtqueue_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_U32(num, VirtQueue),
        VMSTATE_BOOL(ready, VirtQueue),
        VMSTATE_U64(desc, VirtQueue),
        VMSTATE_U64(avail, VirtQueue),
        VMSTATE_U64(used, VirtQueue),
        VMSTATE_BOOL(event_idx, VirtQueue),
        VMSTATE_BOOL(indirect, VirtQueue),
        VMSTATE_U16(last_avail_idx, VirtQueue),
        VMSTATE_U16(used_idx, VirtQueue),
        VMSTATE_U16(signalled_used, VirtQueue),
        VMSTATE_BOOL(signalled_used_valid, VirtQueue),
        VMSTATE_BOOL(notification, VirtQueue),
        VMSTATE_END_OF_LIST()
    },
};
