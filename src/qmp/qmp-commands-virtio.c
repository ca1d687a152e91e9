/*
 * QEMU 7.2's virtio introspection (docs/qmp.md "x-query commands"):
 * x-query-virtio-status, x-query-virtio-queue-status,
 * x-query-virtio-queue-element and x-query-virtio-vhost-queue-status. A
 * device is named by its canonical QOM path, as x-query-virtio lists it.
 * Handlers run on the main loop with the machine lock held, so the device
 * and its queues cannot change under them; ring contents come from guest
 * RAM and are checked like any guest data.
 */
#include <string.h>

#include "machine.h"
#include "hw/device.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-names.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

static VirtioDevice *find_virtio(Machine *m, const char *path, GError **err)
{
    GPtrArray *devs = machine_devices(m);

    for (guint i = 0; devs && i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);

        if (d->realized && d->klass->virtio_device && d->qom_path &&
            !strcmp(d->qom_path, path)) {
            VirtioDevice *v = d->klass->virtio_device(d);
            if (v) {
                return v;
            }
        }
    }
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "Path %s is not a VirtIODevice", path);
    return NULL;
}

/* QEMU types queue and index as uint16 and checks them before anything else. */
static bool arg_u16(JsonObject *args, const char *name, uint16_t *v, GError **err)
{
    int64_t x = json_object_get_int_member(args, name);

    if (x < 0 || x > UINT16_MAX) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter '%s' expects uint16_t", name);
        return false;
    }
    *v = (uint16_t)x;
    return true;
}

/* The device named by "path" and its queue "queue"; NULL + *err if either is bad. */
static VirtQueue *find_queue(Machine *m, JsonObject *args, VirtioDevice **vdev, GError **err)
{
    uint16_t q;
    VirtioDevice *v;

    if (!arg_u16(args, "queue", &q, err) ||
        !(v = find_virtio(m, json_object_get_string_member(args, "path"), err))) {
        return NULL;
    }
    if (q >= v->nvqs) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Invalid virtqueue number %u", q);
        return NULL;
    }
    *vdev = v;
    return &v->vqs[q];
}

/* QEMU's VirtioDeviceFeatures: named transport and device bits, the rest as a mask. */
static JsonNode *features_node(const VirtioDevice *v, uint64_t bits)
{
    JsonObject *o = json_object_new();
    JsonArray *transports = json_array_new(), *dev = json_array_new();
    uint64_t unknown = 0;

    for (unsigned b = 0; b < 64; b++) {
        bool transport;
        const char *name;

        if (!(bits & (1ULL << b))) {
            continue;
        }
        name = virtio_feature_name(v->klass->device_id, b, &transport);
        if (!name) {
            unknown |= 1ULL << b;
        } else {
            json_array_add_string_element(transport ? transports : dev, name);
        }
    }
    json_object_set_array_member(o, "transports", transports);
    json_object_set_array_member(o, "dev-features", dev);
    if (unknown) {
        json_object_set_int_member(o, "unknown-dev-features", (gint64)unknown);
    }
    return qmp_node_object(o);
}

static JsonNode *status_node(uint8_t status)
{
    JsonObject *o = json_object_new();
    JsonArray *a = json_array_new();
    uint8_t named = 0;
    const char *name;
    unsigned bit;

    for (unsigned i = 0; (name = virtio_status_name_at(i, &bit)); i++) {
        named |= 1u << bit;
        if (status & (1u << bit)) {
            json_array_add_string_element(a, name);
        }
    }
    json_object_set_array_member(o, "statuses", a);
    if (status & ~named) {
        json_object_set_int_member(o, "unknown-statuses", status & ~named);
    }
    return qmp_node_object(o);
}

static const QmpMember path_args_m[] = { { "path", &qmp_type_str }, { NULL } };
static const QmpType path_args = QMP_OBJECT_TYPE(path_args_m);

static bool qmp_x_query_virtio_status(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                      GError **err)
{
    Machine *m = ctx->opaque;
    VirtioDevice *v = find_virtio(m, json_object_get_string_member(args, "path"), err);
    JsonObject *o;

    if (!v) {
        return false;
    }
    o = json_object_new();
    json_object_set_string_member(o, "name", v->klass->name);
    json_object_set_int_member(o, "device-id", v->klass->device_id);
    json_object_set_boolean_member(o, "vhost-started", false);
    json_object_set_string_member(o, "device-endian", "little");
    json_object_set_member(o, "guest-features", features_node(v, v->guest_features));
    json_object_set_member(o, "host-features", features_node(v, v->host_features));
    json_object_set_member(o, "backend-features", features_node(v, 0));
    json_object_set_int_member(o, "num-vqs", v->nvqs);
    json_object_set_member(o, "status", status_node(v->status));
    json_object_set_int_member(o, "isr", v->isr & 0xff);
    json_object_set_int_member(o, "queue-sel", v->transport && v->transport->queue_sel ?
                               v->transport->queue_sel(v->transport_opaque) : 0);
    json_object_set_boolean_member(o, "vm-running", m->runstate == RUN_STATE_RUNNING);
    json_object_set_boolean_member(o, "broken", v->broken);
    json_object_set_boolean_member(o, "disabled", false);
    json_object_set_boolean_member(o, "use-started", true);
    json_object_set_boolean_member(o, "started",
                                   (v->status & VIRTIO_STATUS_DRIVER_OK) != 0);
    json_object_set_boolean_member(o, "start-on-kick", false);
    json_object_set_boolean_member(o, "disable-legacy-check", false);
    json_object_set_string_member(o, "bus-name", "");
    json_object_set_boolean_member(o, "use-guest-notifier-mask", true);
    *ret = qmp_node_object(o);
    return true;
}

static const QmpMember queue_args_m[] = {
    { "path", &qmp_type_str }, { "queue", &qmp_type_int }, { NULL }
};
static const QmpType queue_args = QMP_OBJECT_TYPE(queue_args_m);

static bool qmp_x_query_virtio_queue_status(QmpCommandCtx *ctx, JsonObject *args,
                                            JsonNode **ret, GError **err)
{
    VirtioDevice *v = NULL;
    VirtQueue *vq = find_queue(ctx->opaque, args, &v, err);
    JsonObject *o;

    if (!vq) {
        return false;
    }
    o = json_object_new();
    json_object_set_string_member(o, "name", v->klass->name);
    json_object_set_int_member(o, "queue-index", vq - v->vqs);
    /* Every popped chain is completed before the main loop runs again. */
    json_object_set_int_member(o, "inuse", 0);
    json_object_set_int_member(o, "vring-num", vq->num);
    json_object_set_int_member(o, "vring-num-default", vq->num_max);
    json_object_set_int_member(o, "vring-align", 4096);
    json_object_set_int_member(o, "vring-desc", (gint64)vq->desc);
    json_object_set_int_member(o, "vring-avail", (gint64)vq->avail);
    json_object_set_int_member(o, "vring-used", (gint64)vq->used);
    json_object_set_int_member(o, "last-avail-idx", vq->last_avail_idx);
    json_object_set_int_member(o, "shadow-avail-idx", vq->last_avail_idx);
    json_object_set_int_member(o, "used-idx", vq->used_idx);
    json_object_set_int_member(o, "signalled-used", vq->signalled_used);
    json_object_set_boolean_member(o, "signalled-used-valid", vq->signalled_used_valid);
    *ret = qmp_node_object(o);
    return true;
}

static JsonObject *desc_object(const VringDesc *d)
{
    static const struct { uint16_t bit; const char *name; } names[] = {
        { VIRTQ_DESC_F_NEXT, "next" }, { VIRTQ_DESC_F_WRITE, "write" },
        { VIRTQ_DESC_F_INDIRECT, "indirect" },
    };
    JsonObject *o = json_object_new();
    JsonArray *flags = json_array_new();

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (d->flags & names[i].bit) {
            json_array_add_string_element(flags, names[i].name);
        }
    }
    json_object_set_int_member(o, "addr", (gint64)d->addr);
    json_object_set_int_member(o, "len", d->len);
    json_object_set_array_member(o, "flags", flags);
    return o;
}

/*
 * The chain starting at `head`, following one indirect table as the device
 * would. Bounded by the table sizes, so a looping chain ends; an address
 * outside RAM ends the listing with what was read.
 */
static JsonArray *chain_descs(const VirtQueue *vq, uint16_t head)
{
    JsonArray *a = json_array_new();
    uint64_t table = vq->desc;
    uint32_t size = vq->num, budget = vq->num;
    uint16_t i = head;
    bool in_indirect = false;
    VringDesc d;

    while (budget-- && i < size && virtqueue_read_desc(vq, table, i, &d)) {
        if ((d.flags & VIRTQ_DESC_F_INDIRECT) && !in_indirect && d.len >= 16) {
            json_array_add_object_element(a, desc_object(&d));
            table = d.addr;
            size = budget = MIN(d.len / 16, VIRTQ_MAX_CHAIN);
            in_indirect = true;
            i = 0;
            continue;
        }
        json_array_add_object_element(a, desc_object(&d));
        if (!(d.flags & VIRTQ_DESC_F_NEXT)) {
            break;
        }
        i = d.next;
    }
    return a;
}

static const QmpMember element_args_m[] = {
    { "path", &qmp_type_str }, { "queue", &qmp_type_int },
    { "index", &qmp_type_int, .optional = true }, { NULL }
};
static const QmpType element_args = QMP_OBJECT_TYPE(element_args_m);

/*
 * `index` is a position in the available ring (default: the next one the
 * device will take), as QEMU 7.2 reads it; the answer describes the chain
 * whose head that entry names.
 */
static bool qmp_x_query_virtio_queue_element(QmpCommandCtx *ctx, JsonObject *args,
                                             JsonNode **ret, GError **err)
{
    VirtioDevice *v = NULL;
    VirtQueue *vq;
    uint16_t pos = 0;
    VirtQueueRings r;
    JsonObject *o, *avail, *used;

    if (json_object_has_member(args, "index") && !arg_u16(args, "index", &pos, err)) {
        return false;
    }
    if (!(vq = find_queue(ctx->opaque, args, &v, err))) {
        return false;
    }
    if (!json_object_has_member(args, "index")) {
        pos = vq->last_avail_idx;
    }
    if (!vq->ready || !vq->num) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Region caches not initialized");
        return false;
    }
    if (!virtqueue_read_rings(vq, pos, &r)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "The rings are not in guest RAM");
        return false;
    }
    o = json_object_new();
    json_object_set_string_member(o, "name", v->klass->name);
    json_object_set_int_member(o, "index", r.avail_ring);
    json_object_set_array_member(o, "descs", chain_descs(vq, r.avail_ring));
    avail = json_object_new();
    json_object_set_int_member(avail, "flags", r.avail_flags);
    json_object_set_int_member(avail, "idx", r.avail_idx);
    json_object_set_int_member(avail, "ring", r.avail_ring);
    json_object_set_object_member(o, "avail", avail);
    used = json_object_new();
    json_object_set_int_member(used, "flags", r.used_flags);
    json_object_set_int_member(used, "idx", r.used_idx);
    json_object_set_object_member(o, "used", used);
    *ret = qmp_node_object(o);
    return true;
}

/*
 * Stratus's vhost devices keep their rings in the kernel and do not read
 * them back, so there is never a started vhost queue to describe: QEMU's
 * answer for a device whose vhost back end is not running.
 */
static bool qmp_x_query_virtio_vhost_queue_status(QmpCommandCtx *ctx, JsonObject *args,
                                                  JsonNode **ret, GError **err)
{
    uint16_t q;

    if (arg_u16(args, "queue", &q, err) &&
        find_virtio(ctx->opaque, json_object_get_string_member(args, "path"), err)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Error: vhost device has not started yet");
    }
    return false;
}

static const QmpCommand virtio_cmds[] = {
    { "x-query-virtio-status", qmp_x_query_virtio_status, &path_args, &qmp_type_any },
    { "x-query-virtio-queue-status", qmp_x_query_virtio_queue_status, &queue_args,
      &qmp_type_any },
    { "x-query-virtio-queue-element", qmp_x_query_virtio_queue_element, &element_args,
      &qmp_type_any },
    { "x-query-virtio-vhost-queue-status", qmp_x_query_virtio_vhost_queue_status,
      &queue_args, &qmp_type_any },
    { NULL }
};

void qmp_register_virtio_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, virtio_cmds);
}
