/*
 * QEMU 7.2's block commands for features Stratus lacks (docs/qmp.md "Absent
 * block features"): block jobs (commit, stream, mirror, backup), dirty
 * bitmaps, exports, external and internal snapshots, backing-file changes,
 * write thresholds, latency histograms, I/O throttling, resizing, removable
 * media. Each first looks up the node or device it names, as QEMU does:
 * when there is none, QEMU's own "not found" answer (class and text); when
 * there is one, a GenericError saying the feature is not supported, where
 * QEMU would act.
 *
 * Only the mandatory members are checked (QEMU's types); the many optional
 * ones are accepted unchecked (open argument objects), since none is acted
 * on. Handlers run on the main loop with the machine lock held; ctx->opaque
 * is the Machine.
 */
#include <string.h>

#include "machine.h"
#include "block/block.h"
#include "hw/device.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

typedef enum {
    FIND_CANNOT_FIND,   /* "Cannot find device='D' nor node-name='N'" */
    FIND_NODE,          /* "Node 'N' not found" */
    FIND_DEVICE,        /* DeviceNotFound "Device 'D' not found" (node or device id) */
    FIND_DEVICE_GENERIC,/* GenericError "Device 'N' not found" */
    FIND_FAILED,        /* "Failed to find node with node-name='N'" */
} FindKind;

typedef struct {
    const char *cmd;
    FindKind kind;
    const char *dev_arg;        /* NULL: none (shown as '') */
    const char *node_arg;       /* NULL: none */
    const char *feature;        /* "Block jobs are" -> "Block jobs are not supported" */
} BlockAbsent;

static const BlockAbsent block_absent[] = {
    { "block-commit", FIND_DEVICE, "device", NULL, "Block jobs are" },
    { "block-stream", FIND_CANNOT_FIND, "device", "device", "Block jobs are" },
    { "blockdev-backup", FIND_CANNOT_FIND, "device", "device", "Block jobs are" },
    { "blockdev-mirror", FIND_CANNOT_FIND, "device", "device", "Block jobs are" },
    { "drive-backup", FIND_CANNOT_FIND, "device", "device", "Block jobs are" },
    { "drive-mirror", FIND_CANNOT_FIND, "device", "device", "Block jobs are" },
    { "x-blockdev-amend", FIND_CANNOT_FIND, NULL, "node-name", "Block jobs are" },
    { "block-dirty-bitmap-add", FIND_CANNOT_FIND, "node", "node", "Dirty bitmaps are" },
    { "block-dirty-bitmap-clear", FIND_NODE, NULL, "node", "Dirty bitmaps are" },
    { "block-dirty-bitmap-disable", FIND_NODE, NULL, "node", "Dirty bitmaps are" },
    { "block-dirty-bitmap-enable", FIND_NODE, NULL, "node", "Dirty bitmaps are" },
    { "block-dirty-bitmap-merge", FIND_NODE, NULL, "node", "Dirty bitmaps are" },
    { "block-dirty-bitmap-remove", FIND_NODE, NULL, "node", "Dirty bitmaps are" },
    { "x-debug-block-dirty-bitmap-sha256", FIND_NODE, NULL, "node", "Dirty bitmaps are" },
    { "block-export-add", FIND_CANNOT_FIND, NULL, "node-name", "Block exports are" },
    { "blockdev-snapshot", FIND_CANNOT_FIND, "node", "node", "External snapshots are" },
    { "blockdev-snapshot-sync", FIND_CANNOT_FIND, "device", "node-name",
      "External snapshots are" },
    { "blockdev-snapshot-internal-sync", FIND_CANNOT_FIND, "device", "device",
      "Internal snapshots are" },
    { "blockdev-snapshot-delete-internal-sync", FIND_CANNOT_FIND, "device", "device",
      "Internal snapshots are" },
    { "change-backing-file", FIND_CANNOT_FIND, "device", "device", "Backing files are" },
    { "x-blockdev-change", FIND_CANNOT_FIND, "parent", "parent", "Quorum children are" },
    { "x-blockdev-set-iothread", FIND_FAILED, NULL, "node-name", "IOThreads are" },
    { "block-set-write-threshold", FIND_DEVICE_GENERIC, NULL, "node-name",
      "Write thresholds are" },
    { "block-latency-histogram-set", FIND_DEVICE, "id", NULL, "Latency histograms are" },
    { "block_resize", FIND_CANNOT_FIND, "device", "node-name", "Resizing a disk is" },
    { NULL }
};

static const char *arg_or_empty(JsonObject *args, const char *name)
{
    return name && json_object_has_member(args, name) ?
           json_object_get_string_member(args, name) : "";
}

static bool node_exists(Machine *m, const char *name)
{
    return *name && block_registry_find(m->block_nodes, name);
}

/* QEMU's `device`/`id` naming a disk: a node a device uses, or that device's id. */
static bool disk_exists(Machine *m, const char *name)
{
    Device *d = *name ? machine_find_device(m, name) : NULL;
    BlockBackend *bb = *name ? block_registry_find(m->block_nodes, name) : NULL;

    return (d && qmp_device_drive(m, d)) || (bb && block_owner(bb));
}

static bool report_not_found(Machine *m, const BlockAbsent *e, JsonObject *args, GError **err)
{
    const char *dev = arg_or_empty(args, e->dev_arg), *node = arg_or_empty(args, e->node_arg);

    switch (e->kind) {
    case FIND_CANNOT_FIND:
        if (node_exists(m, dev) || node_exists(m, node)) {
            return false;
        }
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Cannot find device='%s' nor node-name='%s'",
                      dev, node);
        return true;
    case FIND_NODE:
        if (node_exists(m, node)) {
            return false;
        }
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Node '%s' not found", node);
        return true;
    case FIND_DEVICE:
        if (disk_exists(m, dev) || node_exists(m, dev)) {
            return false;
        }
        qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", dev);
        return true;
    case FIND_DEVICE_GENERIC:
        if (node_exists(m, node)) {
            return false;
        }
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Device '%s' not found", node);
        return true;
    case FIND_FAILED:
        if (node_exists(m, node)) {
            return false;
        }
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Failed to find node with node-name='%s'",
                      node);
        return true;
    }
    return false;
}

static bool qmp_block_absent(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    for (const BlockAbsent *e = block_absent; e->cmd; e++) {
        if (!strcmp(e->cmd, ctx->cmd->name)) {
            if (!report_not_found(ctx->opaque, e, args, err)) {
                qmp_error_set(err, STRATUS_ERROR_GENERIC, "%s not supported", e->feature);
            }
            return false;
        }
    }
    g_assert_not_reached();
}

/*
 * Removable media: Stratus's disks are all fixed (virtio-blk). QEMU wants
 * exactly one of `device` (the drive) and `id` (the device), then says the
 * disk is not removable.
 */
static bool qmp_tray(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    bool has_dev = json_object_has_member(args, "device");
    bool has_id = json_object_has_member(args, "id");
    const char *name = arg_or_empty(args, has_id ? "id" : "device");

    if (has_dev == has_id) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Need exactly one of 'device' and 'id'");
    } else if (!disk_exists(m, name)) {
        qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", name);
    } else if (!strcmp(ctx->cmd->name, "blockdev-insert-medium") &&
               !node_exists(m, arg_or_empty(args, "node-name"))) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Node '%s' not found",
                      arg_or_empty(args, "node-name"));
    } else {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Device '%s' is not removable", name);
    }
    return false;
}

static bool qmp_block_set_io_throttle(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                      GError **err)
{
    bool has_dev = json_object_has_member(args, "device");
    bool has_id = json_object_has_member(args, "id");
    const char *name = arg_or_empty(args, has_id ? "id" : "device");

    if (has_dev == has_id) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Need exactly one of 'device' and 'id'");
    } else if (!disk_exists(ctx->opaque, name)) {
        qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", name);
    } else {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "I/O throttling is not supported");
    }
    return false;
}

/*
 * QEMU's checks per node (a node-name, an existing node); reopening itself
 * (changing read-only, cache modes, ...) is what Stratus lacks. An empty
 * list does nothing (QEMU 7.2 crashes on it).
 */
static bool qmp_blockdev_reopen(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                GError **err)
{
    JsonArray *opts = json_object_get_array_member(args, "options");

    for (guint i = 0; i < json_array_get_length(opts); i++) {
        JsonNode *n = json_array_get_element(opts, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        JsonNode *name = o ? json_object_get_member(o, "node-name") : NULL;

        if (!name || !JSON_NODE_HOLDS_VALUE(name) ||
            json_node_get_value_type(name) != G_TYPE_STRING) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "node-name not specified");
            return false;
        }
        if (!node_exists(ctx->opaque, json_node_get_string(name))) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
                          "Failed to find node with node-name='%s'", json_node_get_string(name));
            return false;
        }
    }
    if (json_array_get_length(opts)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Reopening block nodes is not supported");
        return false;
    }
    return true;
}

/* ---- argument types: QEMU 7.2's mandatory members; the rest unchecked ---- */


static const QmpType str_list = QMP_ARRAY_TYPE(&qmp_type_any);

QMP_OPEN_ARGS(a_device, { "device", &qmp_type_str });
QMP_OPEN_ARGS(a_job, { "device", &qmp_type_str }, { "target", &qmp_type_str },
              { "sync", &qmp_type_str });
QMP_OPEN_ARGS(a_amend, { "job-id", &qmp_type_str }, { "node-name", &qmp_type_str },
              { "options", &qmp_type_any });
QMP_OPEN_ARGS(a_bitmap, { "node", &qmp_type_str }, { "name", &qmp_type_str });
QMP_OPEN_ARGS(a_merge, { "node", &qmp_type_str }, { "target", &qmp_type_str },
              { "bitmaps", &str_list });
QMP_OPEN_ARGS(a_export, { "type", &qmp_type_str }, { "id", &qmp_type_str },
              { "node-name", &qmp_type_str });
QMP_OPEN_ARGS(a_snapshot, { "node", &qmp_type_str }, { "overlay", &qmp_type_str });
QMP_OPEN_ARGS(a_snapshot_sync, { "snapshot-file", &qmp_type_str });
QMP_OPEN_ARGS(a_internal, { "device", &qmp_type_str }, { "name", &qmp_type_str });
QMP_OPEN_ARGS(a_backing, { "device", &qmp_type_str }, { "image-node-name", &qmp_type_str },
              { "backing-file", &qmp_type_str });
QMP_OPEN_ARGS(a_change, { "parent", &qmp_type_str });
QMP_OPEN_ARGS(a_iothread, { "node-name", &qmp_type_str }, { "iothread", &qmp_type_any });
QMP_OPEN_ARGS(a_threshold, { "node-name", &qmp_type_str }, { "write-threshold", &qmp_type_int });
QMP_OPEN_ARGS(a_histogram, { "id", &qmp_type_str });
QMP_OPEN_ARGS(a_resize, { "size", &qmp_type_int });
static const QmpMember reopen_m[] = { { "options", &str_list }, { NULL } };
static const QmpType a_reopen = QMP_OBJECT_TYPE(reopen_m);
QMP_OPEN_ARGS(a_tray, { "force", &qmp_type_bool, .optional = true });
QMP_OPEN_ARGS(a_change_medium, { "filename", &qmp_type_str });
QMP_OPEN_ARGS(a_remove_medium, { "id", &qmp_type_str });
QMP_OPEN_ARGS(a_insert_medium, { "id", &qmp_type_str }, { "node-name", &qmp_type_str });
QMP_OPEN_ARGS(a_throttle, { "bps", &qmp_type_int }, { "bps_rd", &qmp_type_int },
              { "bps_wr", &qmp_type_int }, { "iops", &qmp_type_int },
              { "iops_rd", &qmp_type_int }, { "iops_wr", &qmp_type_int });

static const QmpCommand block_absent_cmds[] = {
    { "block-commit", qmp_block_absent, &a_device, &qmp_type_empty },
    { "block-stream", qmp_block_absent, &a_device, &qmp_type_empty },
    { "blockdev-backup", qmp_block_absent, &a_job, &qmp_type_empty },
    { "blockdev-mirror", qmp_block_absent, &a_job, &qmp_type_empty },
    { "drive-backup", qmp_block_absent, &a_job, &qmp_type_empty },
    { "drive-mirror", qmp_block_absent, &a_job, &qmp_type_empty },
    { "x-blockdev-amend", qmp_block_absent, &a_amend, &qmp_type_empty },
    { "block-dirty-bitmap-add", qmp_block_absent, &a_bitmap, &qmp_type_empty },
    { "block-dirty-bitmap-clear", qmp_block_absent, &a_bitmap, &qmp_type_empty },
    { "block-dirty-bitmap-disable", qmp_block_absent, &a_bitmap, &qmp_type_empty },
    { "block-dirty-bitmap-enable", qmp_block_absent, &a_bitmap, &qmp_type_empty },
    { "block-dirty-bitmap-merge", qmp_block_absent, &a_merge, &qmp_type_empty },
    { "block-dirty-bitmap-remove", qmp_block_absent, &a_bitmap, &qmp_type_empty },
    { "x-debug-block-dirty-bitmap-sha256", qmp_block_absent, &a_bitmap, &qmp_type_any },
    { "block-export-add", qmp_block_absent, &a_export, &qmp_type_empty },
    { "blockdev-snapshot", qmp_block_absent, &a_snapshot, &qmp_type_empty },
    { "blockdev-snapshot-sync", qmp_block_absent, &a_snapshot_sync, &qmp_type_empty },
    { "blockdev-snapshot-internal-sync", qmp_block_absent, &a_internal, &qmp_type_empty },
    { "blockdev-snapshot-delete-internal-sync", qmp_block_absent, &a_device, &qmp_type_any },
    { "change-backing-file", qmp_block_absent, &a_backing, &qmp_type_empty },
    { "x-blockdev-change", qmp_block_absent, &a_change, &qmp_type_empty },
    { "x-blockdev-set-iothread", qmp_block_absent, &a_iothread, &qmp_type_empty },
    { "block-set-write-threshold", qmp_block_absent, &a_threshold, &qmp_type_empty },
    { "block-latency-histogram-set", qmp_block_absent, &a_histogram, &qmp_type_empty },
    { "block_resize", qmp_block_absent, &a_resize, &qmp_type_empty },
    { "eject", qmp_tray, &a_tray, &qmp_type_empty },
    { "blockdev-open-tray", qmp_tray, &a_tray, &qmp_type_empty },
    { "blockdev-close-tray", qmp_tray, &a_tray, &qmp_type_empty },
    { "blockdev-change-medium", qmp_tray, &a_change_medium, &qmp_type_empty },
    { "blockdev-remove-medium", qmp_tray, &a_remove_medium, &qmp_type_empty },
    { "blockdev-insert-medium", qmp_tray, &a_insert_medium, &qmp_type_empty },
    { "block_set_io_throttle", qmp_block_set_io_throttle, &a_throttle, &qmp_type_empty },
    { "blockdev-reopen", qmp_blockdev_reopen, &a_reopen, &qmp_type_empty },
    { NULL }
};

void qmp_register_block_absent_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, block_absent_cmds);
}
