/*
 * Block and device QMP commands (docs/qmp.md "Block devices", docs/block.md
 * "QMP hot-replace", docs/devices.md): blockdev-add, blockdev-del,
 * device_add, device_del, query-block, query-named-block-nodes.
 *
 * The blockdev argument schemas list exactly the members StratoVirt's
 * argument structs accept (they are deny_unknown_fields, nested ones too), so
 * an unknown key gets QEMU's "Parameter 'x' is unexpected". device_add is
 * open as QEMU's is: members beyond id/driver/bus/addr/lun are device
 * properties, checked by the device registry (hw/device.h). Nodes live in
 * the machine's block registry; devices are placed by the machine class,
 * whose error texts on microvm are StratoVirt's.
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <string.h>

#include "machine.h"
#include "block/block.h"
#include "hw/device.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"
#include "util/log.h"

/* ------------------------------------------------------------------------ */
/* Argument schemas                                                         */

/* QEMU's names, StratoVirt's "iouring" and its serde (capitalised) variants. */
static const char *const aio_values[] = {
    "native", "io_uring", "threads", "off",
    "iouring", "Native", "IoUring", "Threads", "Off", NULL
};
static const QmpType aio_enum = QMP_ENUM_TYPE(aio_values);

static const char *const file_driver_values[] = { "file", "host_device", NULL };
static const QmpType file_driver_enum = QMP_ENUM_TYPE(file_driver_values);

static const char *const format_values[] = { "raw", "qcow2", NULL };
static const QmpType format_enum = QMP_ENUM_TYPE(format_values);

static const char *const discard_values[] = { "unmap", "ignore", "on", "off", NULL };
static const QmpType discard_enum = QMP_ENUM_TYPE(discard_values);

static const char *const detect_zeroes_values[] = { "off", "on", "unmap", NULL };
static const QmpType detect_zeroes_enum = QMP_ENUM_TYPE(detect_zeroes_values);

static const char *const media_values[] = { "disk", "cdrom", NULL };
static const QmpType media_enum = QMP_ENUM_TYPE(media_values);

static const QmpMember blockdev_file_m[] = {
    { "driver", &file_driver_enum },
    { "filename", &qmp_type_str },
    { "aio", &aio_enum, .optional = true },
    { NULL }
};
static const QmpType blockdev_file = QMP_OBJECT_TYPE(blockdev_file_m);

static const QmpMember blockdev_cache_m[] = {
    { "direct", &qmp_type_bool, .optional = true },
    { "no-flush", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType blockdev_cache = QMP_OBJECT_TYPE(blockdev_cache_m);

static const QmpMember blockdev_add_m[] = {
    { "node-name", &qmp_type_str },
    { "file", &blockdev_file },
    { "media", &media_enum, .optional = true },
    { "cache", &blockdev_cache, .optional = true },
    { "read-only", &qmp_type_bool, .optional = true },
    { "detect-zeroes", &detect_zeroes_enum, .optional = true },
    { "driver", &format_enum, .optional = true },
    { "backing", &qmp_type_str, .optional = true },
    { "discard", &discard_enum, .optional = true },
    { "id", &qmp_type_str, .optional = true },
    { "options", &qmp_type_str, .optional = true },
    { "throttling.iops-total", &qmp_type_int, .optional = true },
    { "l2-cache-size", &qmp_type_str, .optional = true },
    { "refcount-cache-size", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType blockdev_add_args = QMP_OBJECT_TYPE(blockdev_add_m);

static const QmpMember node_name_m[] = {
    { "node-name", &qmp_type_str },
    { NULL }
};
static const QmpType node_name_args = QMP_OBJECT_TYPE(node_name_m);

/*
 * device_add: QEMU's members plus StratoVirt's "lun" (slot lun+1); the rest
 * are device properties (an open object, as QEMU's 'gen': false command).
 */
static const QmpMember device_add_m[] = {
    { "id", &qmp_type_str },
    { "driver", &qmp_type_str },
    { "bus", &qmp_type_str, .optional = true },
    { "addr", &qmp_type_str, .optional = true },
    { "lun", &qmp_type_int, .optional = true },
    { NULL }
};
static const QmpType device_add_args = { .kind = QMP_KIND_OBJECT, .members = device_add_m,
                                         .open = true };

static const QmpMember device_del_m[] = {
    { "id", &qmp_type_str },
    { NULL }
};
static const QmpType device_del_args = QMP_OBJECT_TYPE(device_del_m);

static const QmpMember named_nodes_m[] = {
    { "flat", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType named_nodes_args = QMP_OBJECT_TYPE(named_nodes_m);

static const QmpMember blockstats_args_m[] = {
    { "query-nodes", &qmp_type_bool, .optional = true }, { NULL }
};
static const QmpType blockstats_args = QMP_OBJECT_TYPE(blockstats_args_m);
static const QmpMember blockstats_m[] = {
    { "device", &qmp_type_str, .optional = true },
    { "node-name", &qmp_type_str, .optional = true },
    { "qdev", &qmp_type_str, .optional = true },
    { "stats", &qmp_type_any },
    { NULL }
};
static const QmpType blockstats = QMP_OBJECT_TYPE(blockstats_m);
static const QmpType blockstats_list = QMP_ARRAY_TYPE(&blockstats);

/* ------------------------------------------------------------------------ */
/* Return types (QEMU block-core.json; for query-qmp-schema)                */

static const QmpMember image_info_m[] = {
    { "filename", &qmp_type_str },
    { "format", &qmp_type_str },
    { "dirty-flag", &qmp_type_bool, .optional = true },
    { "actual-size", &qmp_type_int, .optional = true },
    { "virtual-size", &qmp_type_int },
    { NULL }
};
static const QmpType image_info = QMP_OBJECT_TYPE(image_info_m);

static const QmpMember cache_info_m[] = {
    { "writeback", &qmp_type_bool },
    { "direct", &qmp_type_bool },
    { "no-flush", &qmp_type_bool },
    { NULL }
};
static const QmpType cache_info = QMP_OBJECT_TYPE(cache_info_m);

static const QmpMember device_info_m[] = {
    { "file", &qmp_type_str },
    { "node-name", &qmp_type_str },
    { "ro", &qmp_type_bool },
    { "drv", &qmp_type_str },
    { "backing_file_depth", &qmp_type_int },
    { "encrypted", &qmp_type_bool },
    { "detect_zeroes", &detect_zeroes_enum },
    { "bps", &qmp_type_int },
    { "bps_rd", &qmp_type_int },
    { "bps_wr", &qmp_type_int },
    { "iops", &qmp_type_int },
    { "iops_rd", &qmp_type_int },
    { "iops_wr", &qmp_type_int },
    { "image", &image_info },
    { "cache", &cache_info },
    { "write_threshold", &qmp_type_int },
    { NULL }
};
static const QmpType device_info = QMP_OBJECT_TYPE(device_info_m);
static const QmpType device_info_list = QMP_ARRAY_TYPE(&device_info);

static const char *const io_status_values[] = { "ok", "failed", "nospace", NULL };
static const QmpType io_status_enum = QMP_ENUM_TYPE(io_status_values);

static const QmpMember block_info_m[] = {
    { "device", &qmp_type_str },
    { "qdev", &qmp_type_str, .optional = true },
    { "type", &qmp_type_str },
    { "removable", &qmp_type_bool },
    { "locked", &qmp_type_bool },
    { "inserted", &device_info, .optional = true },
    { "io-status", &io_status_enum, .optional = true },
    { NULL }
};
static const QmpType block_info = QMP_OBJECT_TYPE(block_info_m);
static const QmpType block_info_list = QMP_ARRAY_TYPE(&block_info);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static const char *opt_str(JsonObject *o, const char *key)
{
    return o && json_object_has_member(o, key) ? json_object_get_string_member(o, key) : NULL;
}

static bool opt_bool(JsonObject *o, const char *key, bool dflt)
{
    return o && json_object_has_member(o, key) ? json_object_get_boolean_member(o, key) : dflt;
}

static BlockAioMode aio_from_qmp(const char *v)
{
    if (!v) {
        return BLOCK_AIO_DEFAULT;
    }
    if (!g_ascii_strcasecmp(v, "native")) {
        return BLOCK_AIO_NATIVE;
    }
    if (!g_ascii_strcasecmp(v, "io_uring") || !g_ascii_strcasecmp(v, "iouring")) {
        return BLOCK_AIO_IO_URING;
    }
    if (!g_ascii_strcasecmp(v, "threads")) {
        return BLOCK_AIO_THREADS;
    }
    return BLOCK_AIO_OFF;
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */

/*
 * Errors: "Drive <n> has been added", an engine the seccomp filter was not
 * widened for at start-up, open and lock errors of the block layer.
 */
static bool blockdev_add(Machine *m, BlockOptions *o, GError **err)
{
    BlockBackend *bb;
    bool ok;

    if (block_registry_find(m->block_nodes, o->node_name)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Drive %s has been added", o->node_name);
        return false;
    }
    if (!seccomp_policy_check(&m->sandbox, block_options_seccomp_needs(o), "aio=io_uring",
                              err)) {
        return false;
    }
    o->sandbox = &m->sandbox;
    bb = block_open(o, m->ctx, err);
    if (!bb) {
        return false;
    }
    ok = block_registry_add(m->block_nodes, bb, err);
    block_unref(bb);
    if (ok) {
        g_hash_table_remove(m->released_nodes, o->node_name);
    }
    return ok;
}

static bool qmp_blockdev_add(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    Machine *m = ctx->opaque;
    JsonObject *file = json_object_get_object_member(args, "file");
    JsonObject *cache = json_object_has_member(args, "cache")
                        ? json_object_get_object_member(args, "cache") : NULL;
    const char *discard = opt_str(args, "discard");
    BlockOptions o;

    (void)ret;
    block_options_init(&o);
    o.node_name = json_object_get_string_member(args, "node-name");
    o.filename = json_object_get_string_member(file, "filename");
    o.format = opt_str(args, "driver");
    o.read_only = opt_bool(args, "read-only", false);
    o.direct = opt_bool(cache, "direct", true);
    o.no_flush = opt_bool(cache, "no-flush", false);
    o.aio = aio_from_qmp(opt_str(file, "aio"));
    if (discard) {
        o.discard = !strcmp(discard, "unmap") || !strcmp(discard, "on");
    }
    if (!*o.node_name) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'node-name' is missing");
        return false;
    }
    if (json_object_has_member(args, "throttling.iops-total")) {
        log_warn("blockdev-add '%s': throttling.iops-total is not implemented, ignored",
                 o.node_name);
    }
    if (json_object_has_member(args, "backing")) {
        log_warn("blockdev-add '%s': 'backing' is ignored for raw images", o.node_name);
    }
    return blockdev_add(m, &o, err);
}

static bool qmp_blockdev_del(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    Machine *m = ctx->opaque;
    const char *name = json_object_get_string_member(args, "node-name");
    BlockBackend *bb = block_registry_find(m->block_nodes, name);

    (void)ret;
    if (!bb) {
        if (g_hash_table_remove(m->released_nodes, name)) {
            return true;   /* already released by device_del */
        }
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Failed to find node with node-name='%s'", name);
        return false;
    }
    if (block_owner(bb)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Node %s is in use", name);
        return false;
    }
    block_registry_remove(m->block_nodes, name);
    return true;
}

/* Device properties are every member but the ones device_add itself takes. */
static bool is_device_add_member(const char *name)
{
    for (const QmpMember *mb = device_add_m; mb->name; mb++) {
        if (!strcmp(mb->name, name)) {
            return true;
        }
    }
    return false;
}

static bool qmp_device_add(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                           GError **err)
{
    g_autoptr(GArray) props = g_array_new(FALSE, TRUE, sizeof(DevicePropValue));
    g_autoptr(GList) members = json_object_get_members(args);
    g_autofree char *lun_addr = NULL;
    DeviceCreateArgs a = {
        .id = json_object_get_string_member(args, "id"),
        .driver = json_object_get_string_member(args, "driver"),
        .bus = opt_str(args, "bus"),
        .addr = opt_str(args, "addr"),
        .user = true,
        .hotplug = true,
    };

    (void)ret;
    if (json_object_has_member(args, "lun")) {
        gint64 lun = json_object_get_int_member(args, "lun");
        if (lun < 0) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
                          "Parameter 'lun' expects a non-negative integer");
            return false;
        }
        if (!a.addr) {
            /* Unsigned: the largest lun is a slot too far, not an overflow. */
            a.addr = lun_addr = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", (guint64)lun + 1);
        }
    }
    for (GList *l = members; l; l = l->next) {
        if (!is_device_add_member(l->data)) {
            DevicePropValue v = { .name = l->data,
                                  .json = json_object_get_member(args, l->data) };
            g_array_append_val(props, v);
        }
    }
    a.props = (const DevicePropValue *)(void *)props->data;
    a.n_props = props->len;
    return device_create(ctx->opaque, &a, err) != NULL;
}

/* StratoVirt: device_del of an unattached node's name removes the node. */
static bool delete_unattached_node(Machine *m, const char *id)
{
    BlockBackend *bb = block_registry_find(m->block_nodes, id);
    JsonObject *o;

    if (!bb || block_owner(bb)) {
        return false;
    }
    block_registry_remove(m->block_nodes, id);
    g_hash_table_add(m->released_nodes, g_strdup(id));
    o = json_object_new();
    json_object_set_string_member(o, "device", id);
    json_object_set_string_member(o, "path", id);
    machine_emit_event(m, "DEVICE_DELETED", qmp_node_object(o));
    return true;
}

static bool qmp_device_del(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                           GError **err)
{
    Machine *m = ctx->opaque;
    const char *id = json_object_get_string_member(args, "id");
    Device *d = machine_find_device_path(m, id);
    bool pending = false;

    (void)ret;
    if (!d || !d->user_created) {
        if (!d && delete_unattached_node(m, id)) {
            return true;
        }
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Device %s not found", id);
        return false;
    }
    if (!d->klass->hotpluggable || !m->machine_class->unplug_request) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Device '%s' does not support hotplugging", id);
        return false;
    }
    return m->machine_class->unplug_request(m, d, &pending, err);
}

static JsonNode *block_info_node(const char *device, const char *qdev, BlockBackend *bb)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "device", device);
    if (qdev) {
        json_object_set_string_member(o, "qdev", qdev);
    }
    json_object_set_string_member(o, "type", "unknown");
    json_object_set_boolean_member(o, "removable", false);
    json_object_set_boolean_member(o, "locked", false);
    if (bb) {
        json_object_set_member(o, "inserted", block_query_device_info(bb));
        json_object_set_string_member(o, "io-status", "ok");
    }
    return qmp_node_object(o);
}

/*
 * The node a device's "drive" property names, when the device holds it: read
 * through the registry, so this file knows no device type.
 */
BlockBackend *qmp_device_drive(Machine *m, Device *d)
{
    const Property *p = device_class_find_prop(d->klass, "drive");
    g_autofree char *node = p ? device_prop_get_text(d, p) : NULL;
    BlockBackend *bb = node && *node ? block_registry_find(m->block_nodes, node) : NULL;

    return bb && block_owner(bb) ? bb : NULL;
}

/* [BlockInfo]: the disks attached to devices, then the unattached nodes. */
/*
 * Every drive a device uses (dev set), then every node no device uses (dev
 * NULL): the order of query-block, query-blockstats and the block graph.
 */
typedef void BlockVisit(BlockBackend *bb, Device *dev, void *opaque);

static void block_walk(Machine *m, BlockVisit *visit, void *opaque)
{
    GPtrArray *devs = machine_devices(m);
    GPtrArray *nodes = block_registry_list(m->block_nodes);

    for (guint i = 0; devs && i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        BlockBackend *bb = qmp_device_drive(m, d);
        if (bb) {
            visit(bb, d, opaque);
        }
    }
    for (guint i = 0; i < nodes->len; i++) {
        BlockBackend *bb = g_ptr_array_index(nodes, i);
        if (!block_owner(bb)) {
            visit(bb, NULL, opaque);
        }
    }
}

static void query_block_visit(BlockBackend *bb, Device *d, void *arr)
{
    const char *node = block_node_name(bb);

    json_array_add_element(arr, block_info_node(node, d ? (d->id ? d->id : node) : NULL, bb));
}

static bool qmp_query_block(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                            GError **err)
{
    JsonArray *arr = json_array_new();

    block_walk(ctx->opaque, query_block_visit, arr);
    *ret = qmp_node_array(arr);
    return true;
}

/*
 * QEMU's BlockStats: each drive a device uses (device = its node name,
 * qdev = the device's id), then the free nodes; with query-nodes every
 * node by name only. Stratus has one node per image (no format/protocol
 * pair), so there is no "parent".
 */
static JsonNode *block_stats_entry(BlockBackend *bb, const char *device, const char *qdev)
{
    JsonObject *o = json_object_new();

    if (device) {
        json_object_set_string_member(o, "device", device);
    }
    json_object_set_string_member(o, "node-name", block_node_name(bb));
    if (qdev) {
        json_object_set_string_member(o, "qdev", qdev);
    }
    json_object_set_member(o, "stats", block_query_stats(bb));
    return qmp_node_object(o);
}

static void blockstats_visit(BlockBackend *bb, Device *d, void *arr)
{
    json_array_add_element(arr, block_stats_entry(bb, block_node_name(bb),
                                                  d ? device_name(d) : NULL));
}

static bool qmp_query_blockstats(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                 GError **err)
{
    Machine *m = ctx->opaque;
    JsonArray *arr = json_array_new();

    if (json_object_has_member(args, "query-nodes") &&
        json_object_get_boolean_member(args, "query-nodes")) {
        GPtrArray *nodes = block_registry_list(m->block_nodes);
        for (guint i = 0; i < nodes->len; i++) {
            json_array_add_element(arr, block_stats_entry(g_ptr_array_index(nodes, i), NULL,
                                                          NULL));
        }
    } else {
        block_walk(m, blockstats_visit, arr);
    }
    *ret = qmp_node_array(arr);
    return true;
}

/*
 * QEMU's x-debug-query-block-graph: a block-backend node per device drive
 * (named by the device's id, else its QOM path) with a "root" edge to the
 * image's node, and a block-driver node per image. Stratus has one node per
 * image (no format/protocol pair). The permissions are what the device
 * holds: its OFD lock lets others read and, on a read-only drive, write.
 */
typedef struct BlockGraph {
    JsonArray *nodes, *edges;
    int64_t next_id;
} BlockGraph;

static int64_t graph_node(BlockGraph *g, const char *type, const char *name)
{
    JsonObject *o = json_object_new();

    json_object_set_int_member(o, "id", ++g->next_id);
    json_object_set_string_member(o, "type", type);
    json_object_set_string_member(o, "name", name);
    json_array_add_object_element(g->nodes, o);
    return g->next_id;
}

static JsonArray *perm_list(bool write)
{
    JsonArray *a = json_array_new();

    if (write) {
        json_array_add_string_element(a, "write");
    }
    json_array_add_string_element(a, "consistent-read");
    return a;
}

static void block_graph_visit(BlockBackend *bb, Device *d, void *opaque)
{
    BlockGraph *g = opaque;
    int64_t child = graph_node(g, "block-driver", block_node_name(bb));
    JsonObject *e;

    if (!d) {
        return;
    }
    e = json_object_new();
    json_object_set_int_member(e, "parent",
                               graph_node(g, "block-backend", device_name(d)));
    json_object_set_int_member(e, "child", child);
    json_object_set_string_member(e, "name", "root");
    json_object_set_array_member(e, "perm", perm_list(!block_is_read_only(bb)));
    json_object_set_array_member(e, "shared-perm", perm_list(block_is_read_only(bb)));
    json_array_add_object_element(g->edges, e);
}

static bool qmp_x_debug_query_block_graph(QmpCommandCtx *ctx, JsonObject *args,
                                          JsonNode **ret, GError **err)
{
    BlockGraph g = { json_array_new(), json_array_new(), 0 };
    JsonObject *o = json_object_new();

    block_walk(ctx->opaque, block_graph_visit, &g);
    json_object_set_array_member(o, "nodes", g.nodes);
    json_object_set_array_member(o, "edges", g.edges);
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_query_named_block_nodes(QmpCommandCtx *ctx, JsonObject *args,
                                        JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    GPtrArray *nodes = block_registry_list(m->block_nodes);
    JsonArray *arr = json_array_new();

    (void)args;
    (void)err;
    for (guint i = 0; i < nodes->len; i++) {
        json_array_add_element(arr, block_query_device_info(g_ptr_array_index(nodes, i)));
    }
    *ret = qmp_node_array(arr);
    return true;
}

/* ------------------------------------------------------------------------ */
/* The table (StratoVirt's query-commands order among these)               */

static const QmpCommand block_commands[] = {
    { "device_add", qmp_device_add, &device_add_args },
    /* DEVICE_DELETED is written before the reply, as the seeds show. */
    { "device_del", qmp_device_del, &device_del_args, NULL, QMP_CMD_EVENTS_FIRST },
    { "blockdev-add", qmp_blockdev_add, &blockdev_add_args },
    { "blockdev-del", qmp_blockdev_del, &node_name_args },
    { "query-block", qmp_query_block, NULL, &block_info_list, QMP_CMD_ALLOW_EXTRA_ARGS },
    { "query-blockstats", qmp_query_blockstats, &blockstats_args, &blockstats_list },
    { "query-named-block-nodes", qmp_query_named_block_nodes, &named_nodes_args,
      &device_info_list, QMP_CMD_ALLOW_EXTRA_ARGS },
    { "x-debug-query-block-graph", qmp_x_debug_query_block_graph, NULL, &qmp_type_any },
    { NULL }
};

void qmp_register_block_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, block_commands);
}
