/*
 * virtio-balloon (virtio 1.2 §5.5), QEMU's and StratoVirt's
 * `virtio-balloon-device` (docs/devices-balloon.md).
 *
 * The host asks for a balloon of num_pages 4 KiB pages (QMP `balloon`); the
 * guest driver inflates towards it by posting arrays of page frame numbers
 * on the inflate queue, deflates by posting them on the deflate queue, and
 * writes how many it holds to `actual`, which QMP `query-balloon` and the
 * BALLOON_CHANGED event report as guest memory (RAM minus the balloon).
 *
 * Inflated pages really go back to the host: their host memory is discarded
 * (MADV_DONTNEED, MADV_REMOVE for shared RAM), so the VMM's RSS shrinks and
 * the guest reads zeros if it touches them again. Deflating needs nothing
 * but accounting: a discarded page is faulted in again on first access.
 * With `free-page-reporting=on` the driver may also report free ranges of
 * its memory on the reporting queue; they are discarded the same way and
 * stay the guest's (it may reuse them without telling us).
 *
 * Everything the guest posts is checked: a buffer must have the shape its
 * queue expects (else the device needs a reset, virtio_error), every PFN is
 * resolved through guest_ram_ptr() so one outside RAM is ignored (logged
 * once per reset), and PFNs are copied out of guest memory before use.
 *
 * The stats queue: the driver posts one buffer of {le16 tag, le64 value}
 * entries and expects it back when the host wants fresher numbers. Nothing
 * in Stratus asks for guest statistics yet, so the device records the
 * values and holds the buffer until reset; returning it at once would make
 * a Linux driver refill it immediately, forever.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "hw/virtio/virtio-balloon.h"
#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strutil.h"

/*
 * BALLOON_CHANGED is rate-limited as QEMU and StratoVirt do (one per
 * second): a driver updates `actual` after every batch of pages, and a
 * hostile one may write it in a loop. Later changes within the second are
 * coalesced into one event carrying the value at its end.
 */
#define BALLOON_EVENT_INTERVAL_NS CLOCK_NS_PER_SEC

/* PFNs copied out of a buffer at a time. */
#define PFN_CHUNK 256

/* Defined at the end; the lookups below compare classes. */
extern const DeviceClass virtio_balloon_device_class;

typedef enum {
    QUEUE_NONE,
    QUEUE_INFLATE,
    QUEUE_DEFLATE,
    QUEUE_STATS,
    QUEUE_REPORTING,
} BalloonQueue;

typedef struct VirtioBalloon {
    Device parent;               /* first: the registry allocates and frees us */
    VirtioDevice vdev;           /* owned: the machine gives it a transport */
    bool deflate_on_oom;         /* property "deflate-on-oom" */
    bool free_page_reporting;    /* property "free-page-reporting" */

    /*
     * Mirrors of the config image (which is the saved state): num_pages
     * undoes a guest write to the host's half, actual tells a change.
     */
    uint32_t num_pages;
    uint32_t actual;

    /* Host bookkeeping, never state. */
    VirtQueueElement *stats_elem;        /* the driver's stats buffer, held */
    MachineTimer *event_timer;           /* the next coalesced BALLOON_CHANGED */
    int64_t last_event_ns;
    bool event_sent;                     /* last_event_ns is meaningful */
    uint32_t event_actual;               /* `actual` the last event reported */
    bool logged_outside_ram;             /* per reset */
    bool logged_discard_failed;          /* per reset */
    VirtioBalloonCounters c;
} VirtioBalloon;

static VirtioBalloon *from_vdev(VirtioDevice *vdev)
{
    return (VirtioBalloon *)((char *)vdev - offsetof(VirtioBalloon, vdev));
}

static uint64_t ram_size(Machine *m)
{
    uint64_t size = 0;

    for (guint i = 0; m->ram.blocks && i < m->ram.blocks->len; i++) {
        size += g_array_index(m->ram.blocks, RamBlock, i).size;
    }
    return size;
}

static const char *queue_name(BalloonQueue q)
{
    static const char *const names[] = {
        [QUEUE_NONE] = "unused", [QUEUE_INFLATE] = "inflate", [QUEUE_DEFLATE] = "deflate",
        [QUEUE_STATS] = "stats", [QUEUE_REPORTING] = "reporting",
    };
    return names[q];
}

/*
 * Queues are numbered in order over the ones that exist for the negotiated
 * features (what Linux's virtio_find_vqs() does with the absent ones), so
 * reporting is queue 3 with the stats queue and 2 without it.
 */
static BalloonQueue queue_role(VirtioBalloon *s, unsigned index)
{
    unsigned n = VIRTIO_BALLOON_Q_STATS;

    if (index == VIRTIO_BALLOON_Q_INFLATE) {
        return QUEUE_INFLATE;
    }
    if (index == VIRTIO_BALLOON_Q_DEFLATE) {
        return QUEUE_DEFLATE;
    }
    if (virtio_has_feature(&s->vdev, VIRTIO_BALLOON_F_STATS_VQ) && index == n++) {
        return QUEUE_STATS;
    }
    if (virtio_has_feature(&s->vdev, VIRTIO_BALLOON_F_PAGE_REPORTING) && index == n) {
        return QUEUE_REPORTING;
    }
    return QUEUE_NONE;
}

/* ---- BALLOON_CHANGED ---- */

static uint64_t actual_bytes(VirtioBalloon *s)
{
    uint64_t ram = ram_size(s->parent.machine);
    uint64_t balloon = (uint64_t)s->actual << VIRTIO_BALLOON_PFN_SHIFT;

    /* A driver may claim more pages than there are; the guest has none left then. */
    return balloon < ram ? ram - balloon : 0;
}

static void emit_changed(VirtioBalloon *s)
{
    Machine *m = s->parent.machine;
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "actual");
    json_builder_add_int_value(b, (gint64)actual_bytes(s));
    json_builder_end_object(b);
    s->last_event_ns = machine_clock_ns(m->clock);
    s->event_sent = true;
    s->event_actual = s->actual;
    machine_emit_event(m, "BALLOON_CHANGED", json_builder_get_root(b));
}

static void event_timer_cb(void *opaque)
{
    VirtioBalloon *s = opaque;

    if (s->actual != s->event_actual) {
        emit_changed(s);
    }
}

/* `actual` changed: an event now, or at the end of the current second. */
static void actual_changed(VirtioBalloon *s, uint32_t actual)
{
    int64_t now = machine_clock_ns(s->parent.machine->clock);

    s->actual = actual;
    if (machine_timer_pending(s->event_timer)) {
        return;                  /* it sends whatever the value is by then */
    }
    if (!s->event_sent || now - s->last_event_ns >= BALLOON_EVENT_INTERVAL_NS) {
        emit_changed(s);
    } else {
        machine_timer_mod(s->event_timer, s->last_event_ns + BALLOON_EVENT_INTERVAL_NS);
    }
}

/* ---- the queues ---- */

static void discard(VirtioBalloon *s, void *hva, uint64_t len)
{
    if (len && !guest_ram_discard(&s->parent.machine->ram, hva, len) &&
        !s->logged_discard_failed) {
        s->logged_discard_failed = true;
        log_warn("virtio-balloon: cannot give %" G_GUINT64_FORMAT " bytes of guest memory "
                 "back to the host: %s (logged once)", len, g_strerror(errno));
    }
}

/*
 * An inflate or deflate buffer: device-readable little-endian u32 PFNs.
 * Inflated pages are discarded in runs of adjacent pages (drivers post them
 * in address order), so a batch costs a few madvise() calls, not one each.
 */
static bool handle_pfns(VirtioBalloon *s, VirtQueueElement *e, bool inflate)
{
    Machine *m = s->parent.machine;
    uint32_t pfns[PFN_CHUNK];
    uint8_t *run = NULL;
    uint64_t run_len = 0;

    if (e->in_num || e->out_len % sizeof(uint32_t)) {
        virtio_error(&s->vdev, "%s queue: a buffer of %" G_GUINT64_FORMAT " readable and %"
                     G_GUINT64_FORMAT " writable bytes is not an array of 32-bit PFNs",
                     inflate ? "inflate" : "deflate", e->out_len, e->in_len);
        return false;
    }
    for (uint64_t off = 0; off < e->out_len; off += sizeof(pfns)) {
        size_t got = iov_to_buf(e->out_sg, e->out_num, off, pfns,
                                MIN(sizeof(pfns), e->out_len - off));
        for (size_t i = 0; i < got / sizeof(uint32_t); i++) {
            uint64_t gpa = (uint64_t)le32toh(pfns[i]) << VIRTIO_BALLOON_PFN_SHIFT;
            uint8_t *p = machine_gpa(m, gpa, GUEST_PAGE_SIZE);

            if (!p) {
                s->c.ignored++;
                if (!s->logged_outside_ram) {
                    s->logged_outside_ram = true;
                    log_warn("virtio-balloon: %s of page 0x%" G_GINT64_MODIFIER "x outside "
                             "guest RAM ignored (logged once)",
                             inflate ? "inflate" : "deflate", gpa);
                }
                continue;
            }
            if (!inflate) {
                s->c.deflated++;
                continue;
            }
            s->c.inflated++;
            if (run && p == run + run_len) {
                run_len += GUEST_PAGE_SIZE;
            } else if (run && p + GUEST_PAGE_SIZE == run) {
                run = p;
                run_len += GUEST_PAGE_SIZE;
            } else {
                discard(s, run, run_len);
                run = p;
                run_len = GUEST_PAGE_SIZE;
            }
        }
    }
    discard(s, run, run_len);
    return true;
}

/*
 * A free-page report: device-writable descriptors whose addresses and
 * lengths are the free ranges themselves (Linux's page_reporting). The
 * virtqueue already resolved each one inside guest RAM.
 */
static bool handle_report(VirtioBalloon *s, VirtQueueElement *e)
{
    if (e->out_num || !e->in_num) {
        virtio_error(&s->vdev, "reporting queue: a report must be device-writable ranges "
                     "only (%u readable, %u writable descriptors)", e->out_num, e->in_num);
        return false;
    }
    for (unsigned i = 0; i < e->in_num; i++) {
        discard(s, e->in_sg[i].iov_base, e->in_sg[i].iov_len);
        s->c.reported += e->in_sg[i].iov_len;
    }
    return true;
}

/* A stats buffer: packed {le16 tag; le64 val} entries, device-readable. */
static bool handle_stats(VirtioBalloon *s, VirtQueue *vq, VirtQueueElement *e)
{
    enum { STAT_SIZE = 10 };
    uint8_t st[STAT_SIZE];

    if (e->in_num || e->out_len % STAT_SIZE) {
        virtio_error(&s->vdev, "stats queue: a buffer of %" G_GUINT64_FORMAT " readable and %"
                     G_GUINT64_FORMAT " writable bytes is not an array of 10-byte statistics",
                     e->out_len, e->in_len);
        return false;
    }
    for (uint64_t off = 0; off < e->out_len; off += STAT_SIZE) {
        uint16_t tag;
        uint64_t val;

        iov_to_buf(e->out_sg, e->out_num, off, st, STAT_SIZE);
        memcpy(&tag, st, 2);
        memcpy(&val, st + 2, 8);
        tag = le16toh(tag);
        if (tag < VIRTIO_BALLOON_S_NR) {
            s->c.stats[tag] = le64toh(val);
            s->c.stats_seen |= 1u << tag;
        }
    }
    s->c.stats_buffers++;
    /* A driver has one buffer out at a time; an older one goes back unused. */
    if (s->stats_elem) {
        virtqueue_push(vq, s->stats_elem, 0);
        g_free(s->stats_elem);
        virtio_notify(&s->vdev, vq);
    }
    s->stats_elem = e;
    return true;
}

static void balloon_queue_notify(VirtioDevice *vdev, unsigned index)
{
    VirtioBalloon *s = from_vdev(vdev);
    VirtQueue *vq = &vdev->vqs[index];
    BalloonQueue q = queue_role(s, index);

    if (q == QUEUE_NONE) {
        log_debug("virtio-balloon: kick of queue %u, which the features do not use", index);
        return;
    }
    /* As virtio-blk: keep kicks off while draining, re-check after re-arming. */
    do {
        virtqueue_set_notification(vq, false);
        for (;;) {
            VirtQueueElement *e;
            char *why;
            bool ok;
            int r = virtqueue_pop(vq, &e, &why);

            if (r < 0) {
                virtio_error(vdev, "%s queue: %s", queue_name(q), why);
                g_free(why);
                return;
            }
            if (r == 0) {
                break;
            }
            if (q == QUEUE_STATS) {
                if (!handle_stats(s, vq, e)) {
                    g_free(e);
                    return;
                }
                continue;           /* held, not returned */
            }
            ok = q == QUEUE_REPORTING ? handle_report(s, e)
                                      : handle_pfns(s, e, q == QUEUE_INFLATE);
            if (!ok) {
                g_free(e);
                return;
            }
            virtqueue_push(vq, e, 0);
            g_free(e);
            virtio_notify(vdev, vq);
        }
        virtqueue_set_notification(vq, true);
    } while (!virtqueue_empty(vq));
}

/* The driver wrote config bytes: only `actual` is the guest's to write. */
static void balloon_config_write(VirtioDevice *vdev, uint32_t offset, unsigned len)
{
    VirtioBalloon *s = from_vdev(vdev);
    uint32_t actual = (uint32_t)virtio_config_read(vdev, VIRTIO_BALLOON_CFG_ACTUAL, 4);

    virtio_config_set_le32(vdev, VIRTIO_BALLOON_CFG_NUM_PAGES, s->num_pages);
    if (actual != s->actual) {
        log_debug("virtio-balloon: the guest holds %u pages (target %u)", actual,
                  s->num_pages);
        actual_changed(s, actual);
    }
}

/*
 * Device reset (the driver's, or system_reset): the driver that comes next
 * starts with an empty balloon, so the guest has all of its memory again;
 * the host's target stays and the new driver inflates towards it.
 */
static void balloon_reset(VirtioDevice *vdev)
{
    VirtioBalloon *s = from_vdev(vdev);

    g_clear_pointer(&s->stats_elem, g_free);
    s->logged_outside_ram = false;
    s->logged_discard_failed = false;
    virtio_config_set_le32(vdev, VIRTIO_BALLOON_CFG_ACTUAL, 0);
    if (s->actual) {
        actual_changed(s, 0);
    }
}

/*
 * No .free: the VirtioDevice is embedded in the Device, which owns it
 * (unrealize cleans it up), and the machine only borrows it.
 */
static const VirtioDeviceClass virtio_balloon_class = {
    .name = "virtio-balloon",
    .device_id = VIRTIO_ID_BALLOON,
    .queue_notify = balloon_queue_notify,
    .config_write = balloon_config_write,
    .reset = balloon_reset,
};

/* ---- what QMP and HMP see ---- */

static Device *find_other(Machine *m, const Device *self)
{
    GPtrArray *devs = machine_devices(m);

    for (guint i = 0; devs && i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        if (d != self && virtio_balloon_is(d)) {
            return d;
        }
    }
    return NULL;
}

Device *virtio_balloon_find(Machine *m)
{
    return find_other(m, NULL);
}

void virtio_balloon_set_target(Device *d, uint64_t bytes)
{
    VirtioBalloon *s = (VirtioBalloon *)d;
    uint64_t ram = ram_size(d->machine);

    g_assert(virtio_balloon_is(d));
    /* QEMU's rounding: the balloon never takes more than was asked for. */
    s->num_pages = (uint32_t)((ram - MIN(bytes, ram)) >> VIRTIO_BALLOON_PFN_SHIFT);
    log_debug("virtio-balloon: target %" G_GUINT64_FORMAT " bytes: balloon of %u pages",
              bytes, s->num_pages);
    virtio_config_set_le32(&s->vdev, VIRTIO_BALLOON_CFG_NUM_PAGES, s->num_pages);
    virtio_config_changed(&s->vdev);
}

uint64_t virtio_balloon_actual_bytes(Device *d)
{
    g_assert(virtio_balloon_is(d));
    return actual_bytes((VirtioBalloon *)d);
}

void virtio_balloon_counters(Device *d, VirtioBalloonCounters *out)
{
    VirtioBalloon *s = (VirtioBalloon *)d;

    g_assert(virtio_balloon_is(d));
    *out = s->c;
    out->num_pages = s->num_pages;
    out->actual = s->actual;
}

/* ---- the device type (hw/device.h) ---- */

static bool balloon_realize(Device *d, GError **err)
{
    VirtioBalloon *s = (VirtioBalloon *)d;
    Machine *m = d->machine;
    uint64_t f = VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
                 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);

    /* One target for the whole guest: QMP `balloon` has nothing to name a device by. */
    if (find_other(m, d)) {
        set_error(err, "Only one balloon device is supported for each vm.");
        return false;
    }
    if (s->deflate_on_oom) {
        f |= VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
    }
    if (s->free_page_reporting) {
        f |= VIRTIO_BIT(VIRTIO_BALLOON_F_PAGE_REPORTING);
    }
    virtio_device_init(&s->vdev, &virtio_balloon_class, m, d->id ? d->id : "balloon", f,
                       s->free_page_reporting ? 4 : 3, VIRTIO_BALLOON_QUEUE_SIZE,
                       VIRTIO_BALLOON_CFG_SIZE);
    s->event_timer = machine_timer_new(machine_clock_get(&m->clock, m->ctx), event_timer_cb, s);
    return true;
}

static void balloon_unrealize(Device *d)
{
    VirtioBalloon *s = (VirtioBalloon *)d;

    g_clear_pointer(&s->event_timer, machine_timer_free);
    g_clear_pointer(&s->stats_elem, g_free);
    virtio_device_cleanup(&s->vdev);
}

static VirtioDevice *balloon_virtio_device(Device *d)
{
    return &((VirtioBalloon *)d)->vdev;
}

/* QEMU gives neither property a description (device-list-properties). */
static const Property virtio_balloon_props[] = {
    DEFINE_PROP("deflate-on-oom", PROP_BOOL, VirtioBalloon, deflate_on_oom, "off", NULL),
    DEFINE_PROP("free-page-reporting", PROP_BOOL, VirtioBalloon, free_page_reporting, "off",
                NULL),
    DEFINE_PROP_END,
};

/* ---- saved state (migration/vmstate.h) ---- */

/*
 * num_pages and actual are in the config image; the mirrors follow it. A
 * stats buffer the device held is, in the stream, an available entry the
 * used ring never got: it is taken off the ring again here, so the driver
 * still has it out (this needs guest RAM loaded before devices).
 */
static bool balloon_post_load(void *opaque, uint32_t version, GError **err)
{
    VirtioBalloon *s = opaque;
    VirtioDevice *vdev = &s->vdev;

    s->num_pages = (uint32_t)virtio_config_read(vdev, VIRTIO_BALLOON_CFG_NUM_PAGES, 4);
    s->actual = s->event_actual = (uint32_t)virtio_config_read(vdev,
                                                               VIRTIO_BALLOON_CFG_ACTUAL, 4);
    g_clear_pointer(&s->stats_elem, g_free);
    for (unsigned i = 0; i < vdev->nvqs; i++) {
        VirtQueue *vq = &vdev->vqs[i];
        uint16_t held = vq->last_avail_idx - vq->used_idx;
        char *why = NULL;

        if (!vq->ready || !held) {
            continue;
        }
        if (queue_role(s, i) != QUEUE_STATS || held > 1) {
            g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                        "'%s' queue %u holds %u buffers (only the stats queue holds one)",
                        vdev->id, i, held);
            return false;
        }
        vq->last_avail_idx--;
        if (virtqueue_pop(vq, &s->stats_elem, &why) < 0) {
            log_warn("virtio-balloon: the stats buffer cannot be taken back: %s", why);
            g_free(why);
        }
    }
    return true;
}

/* Everything the guest sees is in the virtio core, config image included. */
static const VMStateDescription vmstate_virtio_balloon = {
    .name = "virtio-balloon",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = balloon_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(vdev, VirtioBalloon, vmstate_virtio_device, VirtioDevice),
        VMSTATE_END_OF_LIST()
    },
};

static const char *const virtio_balloon_aliases[] = { "virtio-balloon-mmio", NULL };

/* The same device on either transport; only the name, bus and parent differ. */
#define VIRTIO_BALLOON_CLASS_BODY \
    .instance_size = sizeof(VirtioBalloon), \
    .props = virtio_balloon_props, \
    .user_creatable = true, \
    .seccomp_needs = SECCOMP_NEED_BALLOON,  /* MADV_REMOVE on shared RAM */ \
    .realize = balloon_realize, \
    .unrealize = balloon_unrealize, \
    .virtio_device = balloon_virtio_device, \
    .vmsd = &vmstate_virtio_balloon

const DeviceClass virtio_balloon_device_class = {
    .name = "virtio-balloon-device",
    .aliases = virtio_balloon_aliases,
    .parent = "virtio-device",
    /* None, as QEMU: `-device help` prints its line without a desc. */
    .description = NULL,
    .bus = DEVICE_BUS_VIRTIO,
    /* StratoVirt's microvm does not hot-plug it; its window is fixed at boot. */
    .hotpluggable = false,
    VIRTIO_BALLOON_CLASS_BODY,
};

/* q35 (docs/q35.md "virtio-pci"): the same device on virtio-pci, QEMU's class 0x00ff. */
const DeviceClass virtio_balloon_pci_device_class = {
    .name = "virtio-balloon-pci",
    .parent = "virtio-pci",
    .bus = DEVICE_BUS_PCI,
    .pci_class = 0x00ff00,
    VIRTIO_BALLOON_CLASS_BODY,
};

bool virtio_balloon_is(const Device *d)
{
    return d->klass == &virtio_balloon_device_class || d->klass == &virtio_balloon_pci_device_class;
}
