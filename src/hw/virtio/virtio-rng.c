/*
 * virtio-rng (virtio 1.2 §5.4), QEMU's and StratoVirt's `virtio-rng-device`
 * (docs/devices-rng.md).
 *
 * The driver posts device-writable buffers on the one request queue; the
 * device fills each with bytes read from its rng-random back end (an
 * -object, found by the rng= id at realize and kept for the device's life)
 * and returns it with the number of bytes written, which may be fewer than
 * the buffer holds.
 *
 * Where the work runs: a kick arrives on a vCPU thread (MMIO) or on the main
 * loop (ioeventfd, qtest); either way it only schedules the queue to be
 * served from the main loop, so a vCPU never waits on the host file. Reads
 * are non-blocking: when the back end has nothing (a FIFO, /dev/random on
 * an old kernel) the device waits for G_IO_IN on its file instead.
 *
 * Bytes are read into a pool before a buffer is taken off the ring, so the
 * device never holds a guest buffer it cannot fill: there is no request in
 * flight to wait for at reset, at unplug or when the state is saved. Bytes
 * left in the pool go to the next buffer (never to two buffers).
 *
 * With max-bytes and period the guest gets at most max-bytes per period
 * (RngLimiter, virtio-rng.h); when a window's bytes are spent the queue
 * waits for a machine timer at the window's end, so qtest's virtual clock
 * drives the limiter deterministically. A driver reset does not refill the
 * window: otherwise resetting the device would be a way around the limit.
 *
 * Every buffer the guest posts is checked by the virtqueue layer (in guest
 * RAM over its whole length, chains bounded) and here: a request with a
 * device-readable part, or with nothing to write to, breaks the device
 * (NEEDS_RESET) rather than being guessed at.
 */
#include <errno.h>
#include <string.h>
#include <glib-unix.h>

#include "hw/virtio/virtio-rng.h"
#include "backends/object.h"
#include "hw/device.h"
#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strutil.h"

/* Bytes read from the back end at a time, and kept until the guest takes them. */
#define RNG_POOL_SIZE (64 * 1024)
/* Bytes served per main-loop turn before yielding to other sources. */
#define RNG_MAX_PER_TURN (1024 * 1024)

/* ---- the limiter ---- */

void rng_limiter_init(RngLimiter *l, uint64_t max_bytes, uint64_t period_ms)
{
    l->max_bytes = max_bytes;
    l->period_ns = (int64_t)MIN(period_ms, (uint64_t)(INT64_MAX / CLOCK_NS_PER_MS)) *
                   CLOCK_NS_PER_MS;
    l->quota = max_bytes;
    l->window_end = -1;
}

static bool window_open(const RngLimiter *l, int64_t now)
{
    return l->window_end >= 0 && now < l->window_end;
}

uint64_t rng_limiter_allowance(const RngLimiter *l, int64_t now)
{
    if (!rng_limiter_active(l)) {
        return UINT64_MAX;
    }
    return window_open(l, now) ? l->quota : l->max_bytes;
}

void rng_limiter_charge(RngLimiter *l, int64_t now, uint64_t n)
{
    if (!rng_limiter_active(l)) {
        return;
    }
    if (!window_open(l, now)) {
        l->quota = l->max_bytes;
        l->window_end = now > INT64_MAX - l->period_ns ? INT64_MAX : now + l->period_ns;
    }
    l->quota -= MIN(n, l->quota);
}

bool virtio_rng_check_rate(uint64_t max_bytes, uint64_t period_ms, uint64_t *bytes_per_sec,
                           GError **err)
{
    *bytes_per_sec = 0;
    if (max_bytes && !period_ms) {
        set_error(err, "Argument 'period' is missing");
        return false;
    }
    if (period_ms && !max_bytes) {
        set_error(err, "Argument 'max-bytes' is missing");
        return false;
    }
    if (!max_bytes) {
        return true;
    }
    if (max_bytes > UINT64_MAX / 1000) {
        set_error(err, "Illegal max-bytes arguments: %" G_GUINT64_FORMAT, max_bytes);
        return false;
    }
    *bytes_per_sec = max_bytes * 1000 / period_ms;
    return true;
}

bool virtio_rng_check_rate_range(uint64_t bytes_per_sec, GError **err)
{
    if (bytes_per_sec < VIRTIO_RNG_MIN_BYTES_PER_SEC ||
        bytes_per_sec > VIRTIO_RNG_MAX_BYTES_PER_SEC) {
        /* StratoVirt's ConfigError::IllegalValue, word for word. */
        set_error(err, "The bytes per second of rng device must >= %llu and <= %llu.",
                  VIRTIO_RNG_MIN_BYTES_PER_SEC, VIRTIO_RNG_MAX_BYTES_PER_SEC);
        return false;
    }
    return true;
}

/* ---- the device ---- */

typedef struct VirtioRng {
    Device parent;              /* first: the registry allocates and frees us */
    char *rng;                  /* property "rng": the rng-random object's id */
    uint64_t max_bytes;         /* property "max-bytes"; 0 = not given */
    uint32_t period;            /* property "period" (ms); 0 = not given */

    VirtioDevice vdev;          /* the machine puts it on a transport (virtio_device) */
    RngRandom *backend;         /* claimed at realize, released at unrealize */
    RngLimiter lim;             /* guest-visible: saved (quota, window) */
    int64_t window_left_ns;     /* the saved form of lim.window_end (pre_save) */
    MachineTimer *refill;       /* at lim.window_end while the quota is spent */
    GSource *work;              /* the queue is to be served from the main loop */
    GSource *watch;             /* the back end had nothing: wait until readable */
    uint8_t *pool;              /* RNG_POOL_SIZE bytes read, [pool_off, +pool_len) unused */
    size_t pool_off, pool_len;
    /* A guest waiting on a dry back end must not flood the log. */
    bool logged_eof, logged_read_error;
} VirtioRng;

static VirtioRng *to_rng(VirtioDevice *vdev)
{
    return (VirtioRng *)((char *)vdev - offsetof(VirtioRng, vdev));
}

static int64_t rng_now(VirtioRng *s)
{
    Machine *m = s->parent.machine;

    return machine_clock_ns(machine_clock_get(&m->clock, m->ctx));
}

static void rng_process(VirtioRng *s);

static void clear_source(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

static gboolean work_cb(gpointer opaque)
{
    VirtioRng *s = opaque;

    g_clear_pointer(&s->work, g_source_unref);
    rng_process(s);
    return G_SOURCE_REMOVE;
}

/* Any thread, lock held: serve the queue from the main loop soon. */
static void rng_schedule(VirtioRng *s)
{
    if (s->work) {
        return;
    }
    s->work = g_idle_source_new();
    /* Not idle priority: a busy loop (qtest, QMP) must not starve the guest. */
    g_source_set_priority(s->work, G_PRIORITY_DEFAULT);
    g_source_set_callback(s->work, work_cb, s, NULL);
    g_source_attach(s->work, s->parent.machine->ctx);   /* thread-safe; wakes the loop */
}

static gboolean readable_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VirtioRng *s = opaque;

    g_clear_pointer(&s->watch, g_source_unref);
    rng_process(s);
    return G_SOURCE_REMOVE;
}

static void refill_cb(void *opaque)
{
    rng_process(opaque);
}

/*
 * Main loop: at most `want` fresh bytes into the empty pool. false when
 * there are none now (a watch is armed, or the back end ended and that is
 * logged: the next kick tries again).
 */
static bool fill_pool(VirtioRng *s, size_t want)
{
    ssize_t n = rng_random_read(s->backend, s->pool, MIN(want, (size_t)RNG_POOL_SIZE));

    if (n > 0) {
        s->pool_off = 0;
        s->pool_len = (size_t)n;
        return true;
    }
    if (n == -EAGAIN || n == -EWOULDBLOCK) {
        if (!s->watch) {
            s->watch = g_unix_fd_source_new(rng_random_fd(s->backend), G_IO_IN);
            g_source_set_callback(s->watch, G_SOURCE_FUNC(readable_cb), s, NULL);
            g_source_attach(s->watch, s->parent.machine->ctx);
        }
    } else if (n == 0) {
        if (!s->logged_eof) {
            s->logged_eof = true;
            log_warn("virtio-rng '%s': end of file on '%s': the guest gets no more bytes "
                     "(logged once)", s->vdev.id, rng_random_filename(s->backend));
        }
    } else if (!s->logged_read_error) {
        s->logged_read_error = true;
        log_warn("virtio-rng '%s': reading '%s': %s (logged once)", s->vdev.id,
                 rng_random_filename(s->backend), g_strerror((int)-n));
    }
    return false;
}

/*
 * One chain off the ring, filled with up to `allow` pool bytes and pushed.
 * false when there was nothing to take or the chain broke the device.
 */
static bool serve_one(VirtioRng *s, VirtQueue *vq, uint64_t allow, size_t *served)
{
    VirtioDevice *vdev = &s->vdev;
    VirtQueueElement *e;
    char *why;
    int r = virtqueue_pop(vq, &e, &why);
    size_t n;

    if (r < 0) {
        virtio_error(vdev, "queue 0: %s", why);
        g_free(why);
        return false;
    }
    if (r == 0) {
        return false;
    }
    if (e->out_num) {
        virtio_error(vdev, "request with a device-readable buffer (%u descriptors)",
                     e->out_num);
        g_free(e);
        return false;
    }
    if (!e->in_len) {
        virtio_error(vdev, "request without a byte to write to");
        g_free(e);
        return false;
    }
    n = (size_t)MIN(MIN((uint64_t)s->pool_len, e->in_len), allow);
    iov_from_buf(e->in_sg, e->in_num, 0, s->pool + s->pool_off, n);
    s->pool_off += n;
    s->pool_len -= n;
    rng_limiter_charge(&s->lim, rng_now(s), n);
    virtqueue_push(vq, e, (uint32_t)n);
    g_free(e);
    *served = n;
    return true;
}

/* Main loop, lock held: fill what the driver posted, as far as bytes and the limit allow. */
static void rng_process(VirtioRng *s)
{
    VirtioDevice *vdev = &s->vdev;
    VirtQueue *vq = vdev->vqs;
    size_t turn = 0;
    bool pushed = false;

    if (vdev->broken || !(vdev->status & VIRTIO_STATUS_DRIVER_OK)) {
        return;
    }
    while (turn < RNG_MAX_PER_TURN && !virtqueue_empty(vq)) {
        int64_t now = rng_now(s);
        uint64_t allow = rng_limiter_allowance(&s->lim, now);
        size_t n = 0;

        if (!allow) {
            machine_timer_mod(s->refill, s->lim.window_end);
            break;
        }
        if (!s->pool_len && !fill_pool(s, (size_t)MIN(allow, (uint64_t)RNG_POOL_SIZE))) {
            break;
        }
        if (!serve_one(s, vq, allow, &n)) {
            break;
        }
        pushed = true;
        turn += n;
    }
    if (pushed) {
        virtio_notify(vdev, vq);
    }
    if (turn >= RNG_MAX_PER_TURN && !vdev->broken && !virtqueue_empty(vq)) {
        rng_schedule(s);    /* more to do: after the loop's other sources */
    }
}

static void rng_queue_notify(VirtioDevice *vdev, unsigned index)
{
    rng_schedule(to_rng(vdev));
}

/* Buffers posted before DRIVER_OK were not served: the driver may not kick again. */
static void rng_driver_ok(VirtioDevice *vdev)
{
    rng_schedule(to_rng(vdev));
}

/*
 * Driver reset (any thread, lock held): nothing is in flight. The window
 * stays as it is (see the top of the file); the pool's bytes are still
 * unused entropy for the next driver.
 */
static void rng_vdev_reset(VirtioDevice *vdev)
{
    VirtioRng *s = to_rng(vdev);

    s->logged_eof = false;
    s->logged_read_error = false;
}

/*
 * No .free: the VirtioDevice is embedded in the Device, which owns it
 * (unrealize cleans it up); the machine only borrows it.
 */
static const VirtioDeviceClass virtio_rng_class = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .queue_notify = rng_queue_notify,
    .driver_ok = rng_driver_ok,
    .reset = rng_vdev_reset,
};

/* ---- the device type (hw/device.h) ---- */

static bool rng_realize(Device *d, GError **err)
{
    VirtioRng *s = (VirtioRng *)d;
    Machine *m = d->machine;
    const char *name = d->id ? d->id : "virtio-rng-device";
    const char *user;
    uint64_t rate;

    if (!s->rng || !*s->rng) {
        set_error(err, "'rng' is missing for 'rng' device.");
        return false;
    }
    if (!virtio_rng_check_rate(s->max_bytes, s->period, &rate, err)) {
        return false;
    }
    s->backend = object_table_find_rng(m->objects, s->rng);
    if (!s->backend) {
        set_error(err, "Object for rng-random device not found");
        return false;
    }
    if (rate && !virtio_rng_check_rate_range(rate, err)) {
        s->backend = NULL;
        return false;
    }
    if (!rng_random_claim(s->backend, name, &user)) {
        set_error(err, "rng-random '%s' is already used by device '%s'", s->rng, user);
        s->backend = NULL;
        return false;
    }
    rng_limiter_init(&s->lim, s->max_bytes, s->period);
    s->window_left_ns = -1;
    virtio_device_init(&s->vdev, &virtio_rng_class, m, name,
                       VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 1,
                       VIRTIO_RNG_QUEUE_SIZE, 0);
    s->pool = g_malloc(RNG_POOL_SIZE);
    s->refill = machine_timer_new(machine_clock_get(&m->clock, m->ctx), refill_cb, s);
    log_info("virtio-rng '%s': bytes from '%s'%s", name, rng_random_filename(s->backend),
             rate ? "" : ", no rate limit");
    if (rate) {
        log_info("virtio-rng '%s': at most %" G_GUINT64_FORMAT " bytes per %u ms",
                 name, s->max_bytes, s->period);
    }
    return true;
}

static void rng_unrealize(Device *d)
{
    VirtioRng *s = (VirtioRng *)d;

    clear_source(&s->work);
    clear_source(&s->watch);
    g_clear_pointer(&s->refill, machine_timer_free);
    g_clear_pointer(&s->pool, g_free);
    virtio_device_cleanup(&s->vdev);
    rng_random_release(s->backend);
    s->backend = NULL;
}

static VirtioDevice *rng_virtio_device(Device *d)
{
    return &((VirtioRng *)d)->vdev;
}

/*
 * QEMU gives none of them a description. The ranges make an explicit 0
 * an error (QEMU: "'period' parameter expects a positive integer"), so 0
 * can mean "not given", which StratoVirt's checks need to tell apart.
 */
static const Property virtio_rng_props[] = {
    DEFINE_PROP("rng", PROP_STR, VirtioRng, rng, NULL, NULL),
    DEFINE_PROP_RANGE("max-bytes", PROP_U64, VirtioRng, max_bytes, NULL, 1, UINT64_MAX, NULL),
    DEFINE_PROP_RANGE("period", PROP_U32, VirtioRng, period, NULL, 1, UINT32_MAX, NULL),
    DEFINE_PROP_END,
};

/* ---- saved state (migration/vmstate.h) ---- */

/* The window's end as time left (machine clocks differ between hosts). */
static bool rng_pre_save(void *opaque, GError **err)
{
    VirtioRng *s = opaque;
    int64_t now = rng_now(s);

    s->window_left_ns = window_open(&s->lim, now) ? s->lim.window_end - now : -1;
    return true;
}

static bool rng_post_load(void *opaque, uint32_t version, GError **err)
{
    VirtioRng *s = opaque;
    RngLimiter *l = &s->lim;

    if (!rng_limiter_active(l)) {
        /* No limit configured here: a saved window means nothing. */
        l->quota = 0;
        s->window_left_ns = -1;
        l->window_end = -1;
        return true;
    }
    if (l->quota > l->max_bytes || s->window_left_ns < -1 ||
        s->window_left_ns > l->period_ns) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "'%s': a window with %" G_GUINT64_FORMAT " bytes and %" G_GINT64_FORMAT
                    " ns left does not fit max-bytes=%" G_GUINT64_FORMAT ",period=%u",
                    s->vdev.id, l->quota, s->window_left_ns, l->max_bytes, s->period);
        return false;
    }
    if (s->window_left_ns < 0) {
        l->window_end = -1;
        l->quota = l->max_bytes;
        machine_timer_del(s->refill);
    } else {
        l->window_end = rng_now(s) + s->window_left_ns;
        machine_timer_mod(s->refill, l->window_end);
    }
    /* Buffers the driver had posted are served under the restored window. */
    rng_schedule(s);
    return true;
}

/*
 * The virtio core (features, status, the queue) and the limiter's open
 * window: restoring a machine must not hand its guest a fresh quota.
 */
static const VMStateDescription vmstate_virtio_rng = {
    .name = "virtio-rng",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = rng_pre_save,
    .post_load = rng_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(vdev, VirtioRng, vmstate_virtio_device, VirtioDevice),
        VMSTATE_U64(lim.quota, VirtioRng),
        VMSTATE_I64(window_left_ns, VirtioRng),
        VMSTATE_END_OF_LIST()
    },
};

static const char *const virtio_rng_aliases[] = { "virtio-rng-mmio", NULL };

/* The same device on either transport; only the name, bus and parent differ. */
#define VIRTIO_RNG_CLASS_BODY                \
    .instance_size = sizeof(VirtioRng),      \
    .props = virtio_rng_props,               \
    .user_creatable = true,                  \
    .realize = rng_realize,                  \
    .unrealize = rng_unrealize,              \
    .virtio_device = rng_virtio_device,      \
    .vmsd = &vmstate_virtio_rng

const DeviceClass virtio_rng_device_class = {
    .name = "virtio-rng-device",
    .aliases = virtio_rng_aliases,
    .parent = "virtio-device",
    /* None, as QEMU: `-device help` prints its line without a desc. */
    .description = NULL,
    .bus = DEVICE_BUS_VIRTIO,
    /* StratoVirt's microvm does not hot-plug it: its window is fixed at boot. */
    .hotpluggable = false,
    VIRTIO_RNG_CLASS_BODY,
};

/* q35: virtio-pci (docs/q35.md); QEMU's class "Unclassified" 0x00ff. */
const DeviceClass virtio_rng_pci_device_class = {
    .name = "virtio-rng-pci",
    .parent = "virtio-pci",
    .bus = DEVICE_BUS_PCI,
    .pci_class = 0x00ff00,
    VIRTIO_RNG_CLASS_BODY,
};
