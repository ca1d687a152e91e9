/*
 * QEMU 7.2 commands about objects a Stratus VM never has (docs/qmp.md
 * "Absent features"): block jobs and jobs, block exports and the NBD server,
 * rocker switches, trace events, record/replay, COLO, SEV, vCPU dirty-rate
 * limits, a device tree, VNC/SPICE passwords, TCG's JIT statistics, ringbuf
 * chardevs, statistics providers, a keyboard. Each answers what QEMU answers
 * on a microvm where none exists, with QEMU's argument types (taken from
 * its query-qmp-schema) so argument errors match too.
 *
 * Most are one fixed error, kept in a table (absent_errors) that the shared
 * handler looks up by command name; a "%s" in the text is the value of the
 * named argument. Handlers run on the main loop with the machine lock held;
 * ctx->opaque is the Machine.
 */
#include <string.h>

#include "machine.h"
#include "block/block.h"
#include "hw/device.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

typedef struct {
    const char *cmd;
    StratusErrorCode cls;
    const char *fmt;            /* may contain one %s: the value of `arg` */
    const char *arg;
} AbsentError;

static const AbsentError absent_errors[] = {
    { "block-job-cancel", STRATUS_ERROR_DEVICE_NOT_ACTIVE, "Block job '%s' not found", "device" },
    { "block-job-complete", STRATUS_ERROR_DEVICE_NOT_ACTIVE, "Block job '%s' not found",
      "device" },
    { "block-job-dismiss", STRATUS_ERROR_DEVICE_NOT_ACTIVE, "Block job '%s' not found", "id" },
    { "block-job-finalize", STRATUS_ERROR_DEVICE_NOT_ACTIVE, "Block job '%s' not found", "id" },
    { "block-job-pause", STRATUS_ERROR_DEVICE_NOT_ACTIVE, "Block job '%s' not found", "device" },
    { "block-job-resume", STRATUS_ERROR_DEVICE_NOT_ACTIVE, "Block job '%s' not found", "device" },
    { "block-job-set-speed", STRATUS_ERROR_DEVICE_NOT_ACTIVE, "Block job '%s' not found",
      "device" },
    { "job-cancel", STRATUS_ERROR_GENERIC, "Job not found", NULL },
    { "job-complete", STRATUS_ERROR_GENERIC, "Job not found", NULL },
    { "job-dismiss", STRATUS_ERROR_GENERIC, "Job not found", NULL },
    { "job-finalize", STRATUS_ERROR_GENERIC, "Job not found", NULL },
    { "job-pause", STRATUS_ERROR_GENERIC, "Job not found", NULL },
    { "job-resume", STRATUS_ERROR_GENERIC, "Job not found", NULL },
    { "block-export-del", STRATUS_ERROR_GENERIC, "Export '%s' is not found", "id" },
    { "nbd-server-remove", STRATUS_ERROR_GENERIC, "Export '%s' is not found", "name" },
    { "nbd-server-stop", STRATUS_ERROR_GENERIC, "NBD server not running", NULL },
    { "query-rocker", STRATUS_ERROR_GENERIC, "rocker %s not found", "name" },
    { "query-rocker-ports", STRATUS_ERROR_GENERIC, "rocker %s not found", "name" },
    { "query-rocker-of-dpa-flows", STRATUS_ERROR_GENERIC, "rocker %s not found", "name" },
    { "query-rocker-of-dpa-groups", STRATUS_ERROR_GENERIC, "rocker %s not found", "name" },
    { "replay-break", STRATUS_ERROR_GENERIC,
      "setting the breakpoint is allowed only in play mode", NULL },
    { "replay-delete-break", STRATUS_ERROR_GENERIC,
      "replay breakpoints are allowed only in play mode", NULL },
    { "replay-seek", STRATUS_ERROR_GENERIC, "replay must be enabled to seek", NULL },
    { "x-colo-lost-heartbeat", STRATUS_ERROR_GENERIC, "The feature 'colo' is not enabled",
      NULL },
    { "query-sev-attestation-report", STRATUS_ERROR_GENERIC, "SEV is not enabled", NULL },
    { "sev-inject-launch-secret", STRATUS_ERROR_GENERIC, "SEV not enabled for guest", NULL },
    /* QEMU's text, stray quote included. */
    { "set-vcpu-dirty-limit", STRATUS_ERROR_GENERIC,
      "dirty page limit feature requires KVM with accelerator property 'dirty-ring-size' "
      "set'", NULL },
    { "dumpdtb", STRATUS_ERROR_GENERIC, "This machine doesn't have a FDT", NULL },
    { "change-vnc-password", STRATUS_ERROR_GENERIC, "Could not set password", NULL },
    { "set_password", STRATUS_ERROR_GENERIC, "Could not set password", NULL },
    { "expire_password", STRATUS_ERROR_GENERIC, "Could not set password expire time", NULL },
    { "x-query-profile", STRATUS_ERROR_GENERIC, "Internal profiler not compiled", NULL },
    { "x-query-jit", STRATUS_ERROR_GENERIC,
      "JIT information is only available with accel=tcg", NULL },
    { "x-query-opcount", STRATUS_ERROR_GENERIC,
      "Opcode count information is only available with accel=tcg", NULL },
    { "display-update", STRATUS_ERROR_GENERIC, "Can not find vnc display", NULL },
    { "nbd-server-start", STRATUS_ERROR_GENERIC, "NBD exports are not supported", NULL },
    { "snapshot-save", STRATUS_ERROR_GENERIC,
      "Internal snapshots are not supported (migrate to file: takes a snapshot)", NULL },
    { "snapshot-load", STRATUS_ERROR_GENERIC,
      "Internal snapshots are not supported (-incoming file: restores a snapshot)", NULL },
    { "snapshot-delete", STRATUS_ERROR_GENERIC, "Internal snapshots are not supported", NULL },
    { "blockdev-create", STRATUS_ERROR_GENERIC, "Block jobs are not supported", NULL },
    { NULL }
};

static bool qmp_absent_error(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    for (const AbsentError *e = absent_errors; e->cmd; e++) {
        if (!strcmp(e->cmd, ctx->cmd->name)) {
            const char *v = e->arg ? json_object_get_string_member(args, e->arg) : "";
            qmp_error_set(err, e->cls, e->fmt, v);
            return false;
        }
    }
    g_assert_not_reached();
}

/* No trace events exist: a name is unknown, a pattern matches nothing. */
static bool trace_event_name_ok(JsonObject *args, GError **err)
{
    const char *name = json_object_get_string_member(args, "name");

    if (strpbrk(name, "*?")) {
        return true;
    }
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "unknown event \"%s\"", name);
    return false;
}

static bool qmp_trace_event_get_state(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                      GError **err)
{
    return trace_event_name_ok(args, err) && qmp_cmd_empty_list(ctx, args, ret, err);
}

static bool qmp_trace_event_set_state(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                      GError **err)
{
    return trace_event_name_ok(args, err);
}

/* Stratus has no ringbuf chardev backend: every chardev is some other kind. */
static bool qmp_ringbuf(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    const char *dev = json_object_get_string_member(args, "device");

    if (g_hash_table_contains(m->chardevs, dev)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "%s is not a ringbuf device", dev);
    } else {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Device '%s' not found", dev);
    }
    return false;
}

static bool chardev_exists(QmpCommandCtx *ctx, JsonObject *args)
{
    return g_hash_table_contains(((Machine *)ctx->opaque)->chardevs,
                                 json_object_get_string_member(args, "id"));
}

static bool qmp_chardev_change(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                               GError **err)
{
    const char *id = json_object_get_string_member(args, "id");

    if (!chardev_exists(ctx, args)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Chardev '%s' does not exist", id);
    } else {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Changing the backend of a chardev is not supported");
    }
    return false;
}

/* A break means nothing to Stratus's backends (socket, pty, file, stdio), as in QEMU. */
static bool qmp_chardev_send_break(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                   GError **err)
{
    if (!chardev_exists(ctx, args)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Chardev '%s' not found",
                      json_object_get_string_member(args, "id"));
        return false;
    }
    return true;
}

static bool qmp_set_numa_node(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    if (qmp_command_table_in_preconfig(ctx->table)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "NUMA is not supported");
    } else {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "The command is permitted only before the machine has been created");
    }
    return false;
}

static bool qmp_nbd_server_add(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                               GError **err)
{
    Machine *m = ctx->opaque;
    const char *dev = json_object_get_string_member(args, "device");

    if (!block_registry_find(m->block_nodes, dev)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Cannot find device='%s' nor node-name='%s'",
                      dev, dev);
    } else {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "NBD server not running");
    }
    return false;
}

static bool qmp_add_client(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                           GError **err)
{
    GHashTable *fds = ctx->session->named_fds;
    const char *fdname = json_object_get_string_member(args, "fdname");

    if (!fds || !g_hash_table_contains(fds, fdname)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "File descriptor named '%s' has not been found",
                      fdname);
    } else {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Adding a %s client is not supported",
                      json_object_get_string_member(args, "protocol"));
    }
    return false;
}

/* Every QEMU transaction action is a block operation Stratus lacks; none is ever done. */
static bool qmp_transaction(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                            GError **err)
{
    JsonArray *actions = json_object_get_array_member(args, "actions");
    JsonObject *first;
    const char *type;

    if (json_array_get_length(actions) == 0) {
        return true;
    }
    first = json_array_get_object_element(actions, 0);
    type = first && json_object_has_member(first, "type") &&
           JSON_NODE_HOLDS_VALUE(json_object_get_member(first, "type")) ?
           json_object_get_string_member(first, "type") : NULL;
    if (!type) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'type' is missing");
    } else if (!strcmp(type, "abort")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Transaction aborted using Abort action");
    } else {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Transaction action '%s' is not supported",
                      type);
    }
    return false;
}

/* No VNC server: only a certificate reload has something to look for. */
static bool qmp_display_reload(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                               GError **err)
{
    if (json_object_has_member(args, "tls-certs") &&
        json_object_get_boolean_member(args, "tls-certs")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Can not find vnc display");
        return false;
    }
    return true;
}

static bool qmp_client_migrate_info(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                    GError **err)
{
    if (strcmp(json_object_get_string_member(args, "protocol"), "spice")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'protocol' expects 'spice'");
    } else {
        qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_ACTIVE, "SPICE is not in use");
    }
    return false;
}

/*
 * No consoles and no input devices: QEMU's checks in its order (the
 * console's device, a running VM, then a handler for the first event).
 */
static bool qmp_input_send_event(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                 GError **err)
{
    Machine *m = ctx->opaque;
    JsonArray *events = json_object_get_array_member(args, "events");
    JsonObject *ev;

    if (json_object_has_member(args, "device")) {
        const char *dev = json_object_get_string_member(args, "device");
        gint64 head = json_object_has_member(args, "head") ?
                      json_object_get_int_member(args, "head") : 0;

        if (!machine_find_device(m, dev)) {
            qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", dev);
        } else {
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
                          "Device %s (head %" G_GINT64_FORMAT ") is not bound to a QemuConsole",
                          dev, head);
        }
        return false;
    }
    if (m->runstate != RUN_STATE_RUNNING) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "VM not running");
        return false;
    }
    if (json_array_get_length(events) == 0) {
        return true;
    }
    ev = json_array_get_object_element(events, 0);
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "Input handler not found for event type %s",
                  ev && json_object_has_member(ev, "type") &&
                  JSON_NODE_HOLDS_VALUE(json_object_get_member(ev, "type")) ?
                  json_object_get_string_member(ev, "type") : "?");
    return false;
}

/* ---- argument types (QEMU 7.2's) ----------------------------------------- */

static const QmpType any_list = QMP_ARRAY_TYPE(&qmp_type_any);

static const QmpMember job_device_m[] = { { "device", &qmp_type_str }, { NULL } };
static const QmpType job_device = QMP_OBJECT_TYPE(job_device_m);
static const QmpMember job_cancel_m[] = {
    { "device", &qmp_type_str }, { "force", &qmp_type_bool, .optional = true }, { NULL }
};
static const QmpType job_cancel = QMP_OBJECT_TYPE(job_cancel_m);
static const QmpMember job_speed_m[] = {
    { "device", &qmp_type_str }, { "speed", &qmp_type_int }, { NULL }
};
static const QmpType job_speed = QMP_OBJECT_TYPE(job_speed_m);
static const QmpMember id_m[] = { { "id", &qmp_type_str }, { NULL } };
static const QmpType id_args = QMP_OBJECT_TYPE(id_m);
static const QmpMember name_m[] = { { "name", &qmp_type_str }, { NULL } };
static const QmpType name_args = QMP_OBJECT_TYPE(name_m);

static const char *const export_remove_mode_values[] = { "safe", "hard", NULL };
static const QmpType export_remove_mode = QMP_ENUM_TYPE(export_remove_mode_values);
static const QmpMember export_del_m[] = {
    { "id", &qmp_type_str }, { "mode", &export_remove_mode, .optional = true }, { NULL }
};
static const QmpType export_del = QMP_OBJECT_TYPE(export_del_m);
static const QmpMember nbd_remove_m[] = {
    { "name", &qmp_type_str }, { "mode", &export_remove_mode, .optional = true }, { NULL }
};
static const QmpType nbd_remove = QMP_OBJECT_TYPE(nbd_remove_m);

static const QmpMember rocker_flows_m[] = {
    { "name", &qmp_type_str }, { "tbl-id", &qmp_type_int, .optional = true }, { NULL }
};
static const QmpType rocker_flows = QMP_OBJECT_TYPE(rocker_flows_m);
static const QmpMember rocker_groups_m[] = {
    { "name", &qmp_type_str }, { "type", &qmp_type_int, .optional = true }, { NULL }
};
static const QmpType rocker_groups = QMP_OBJECT_TYPE(rocker_groups_m);

static const QmpMember trace_get_m[] = {
    { "name", &qmp_type_str }, { "vcpu", &qmp_type_int, .optional = true }, { NULL }
};
static const QmpType trace_get = QMP_OBJECT_TYPE(trace_get_m);
static const QmpMember trace_set_m[] = {
    { "name", &qmp_type_str }, { "enable", &qmp_type_bool },
    { "ignore-unavailable", &qmp_type_bool, .optional = true },
    { "vcpu", &qmp_type_int, .optional = true }, { NULL }
};
static const QmpType trace_set = QMP_OBJECT_TYPE(trace_set_m);

static const QmpMember icount_m[] = { { "icount", &qmp_type_int }, { NULL } };
static const QmpType icount_args = QMP_OBJECT_TYPE(icount_m);
static const QmpMember mnonce_m[] = { { "mnonce", &qmp_type_str }, { NULL } };
static const QmpType mnonce_args = QMP_OBJECT_TYPE(mnonce_m);
static const QmpMember sev_secret_m[] = {
    { "packet-header", &qmp_type_str }, { "secret", &qmp_type_str },
    { "gpa", &qmp_type_int, .optional = true }, { NULL }
};
static const QmpType sev_secret = QMP_OBJECT_TYPE(sev_secret_m);
static const QmpMember dirty_limit_m[] = {
    { "cpu-index", &qmp_type_int, .optional = true }, { "dirty-rate", &qmp_type_int }, { NULL }
};
static const QmpType dirty_limit = QMP_OBJECT_TYPE(dirty_limit_m);
static const QmpMember cpu_index_m[] = {
    { "cpu-index", &qmp_type_int, .optional = true }, { NULL }
};
static const QmpType cpu_index_args = QMP_OBJECT_TYPE(cpu_index_m);
static const QmpMember filename_m[] = { { "filename", &qmp_type_str }, { NULL } };
static const QmpType filename_args = QMP_OBJECT_TYPE(filename_m);

static const QmpMember password_m[] = { { "password", &qmp_type_str }, { NULL } };
static const QmpType password_args = QMP_OBJECT_TYPE(password_m);
static const char *const display_protocol_values[] = { "vnc", "spice", NULL };
static const QmpType display_protocol = QMP_ENUM_TYPE(display_protocol_values);
static const char *const set_password_action_values[] = { "keep", "fail", "disconnect", NULL };
static const QmpType set_password_action = QMP_ENUM_TYPE(set_password_action_values);
static const QmpMember set_password_m[] = {
    { "protocol", &display_protocol }, { "password", &qmp_type_str },
    { "connected", &set_password_action, .optional = true },
    { "display", &qmp_type_str, .optional = true }, { NULL }
};
static const QmpType set_password = QMP_OBJECT_TYPE(set_password_m);
static const QmpMember expire_password_m[] = {
    { "protocol", &display_protocol }, { "time", &qmp_type_str },
    { "display", &qmp_type_str, .optional = true }, { NULL }
};
static const QmpType expire_password = QMP_OBJECT_TYPE(expire_password_m);

static const char *const data_format_values[] = { "utf8", "base64", NULL };
static const QmpType data_format = QMP_ENUM_TYPE(data_format_values);
static const QmpMember ringbuf_read_m[] = {
    { "device", &qmp_type_str }, { "size", &qmp_type_int },
    { "format", &data_format, .optional = true }, { NULL }
};
static const QmpType ringbuf_read = QMP_OBJECT_TYPE(ringbuf_read_m);
static const QmpMember ringbuf_write_m[] = {
    { "device", &qmp_type_str }, { "data", &qmp_type_str },
    { "format", &data_format, .optional = true }, { NULL }
};
static const QmpType ringbuf_write = QMP_OBJECT_TYPE(ringbuf_write_m);

static const char *const stats_target_values[] = { "vm", "vcpu", NULL };
static const QmpType stats_target = QMP_ENUM_TYPE(stats_target_values);
static const QmpMember query_stats_m[] = {
    { "target", &stats_target }, { "providers", &any_list, .optional = true },
    { "vcpus", &any_list, .optional = true }, { NULL }
};
static const QmpType query_stats = QMP_OBJECT_TYPE(query_stats_m);
static const QmpMember send_key_m[] = {
    { "keys", &any_list }, { "hold-time", &qmp_type_int, .optional = true }, { NULL }
};
static const QmpType send_key = QMP_OBJECT_TYPE(send_key_m);


static const char *const display_type_values[] = { "vnc", NULL };
static const QmpType display_type = QMP_ENUM_TYPE(display_type_values);
QMP_OPEN_ARGS(a_chardev_change, { "id", &qmp_type_str }, { "backend", &qmp_type_any });
QMP_OPEN_ARGS(a_numa, { "type", &qmp_type_str });
QMP_OPEN_ARGS(a_display_update, { "type", &display_type });
QMP_OPEN_ARGS(a_nbd_start, { "addr", &qmp_type_any });
QMP_OPEN_ARGS(a_nbd_add, { "device", &qmp_type_str });
QMP_OPEN_ARGS(a_snapshot_save, { "job-id", &qmp_type_str }, { "tag", &qmp_type_str },
              { "vmstate", &qmp_type_str }, { "devices", &any_list });
QMP_OPEN_ARGS(a_snapshot_delete, { "job-id", &qmp_type_str }, { "tag", &qmp_type_str },
              { "devices", &any_list });
QMP_OPEN_ARGS(a_blockdev_create, { "job-id", &qmp_type_str }, { "options", &qmp_type_any });
static const QmpMember id_only_m[] = { { "id", &qmp_type_str }, { NULL } };
static const QmpType id_only = QMP_OBJECT_TYPE(id_only_m);
static const QmpMember add_client_m[] = {
    { "protocol", &qmp_type_str }, { "fdname", &qmp_type_str },
    { "skipauth", &qmp_type_bool, .optional = true }, { "tls", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType add_client = QMP_OBJECT_TYPE(add_client_m);
static const QmpMember transaction_m[] = {
    { "actions", &any_list }, { "properties", &qmp_type_any, .optional = true }, { NULL }
};
static const QmpType transaction = QMP_OBJECT_TYPE(transaction_m);
static const QmpMember display_reload_m[] = {
    { "type", &display_type }, { "tls-certs", &qmp_type_bool, .optional = true }, { NULL }
};
static const QmpType display_reload = QMP_OBJECT_TYPE(display_reload_m);
static const QmpMember client_migrate_info_m[] = {
    { "protocol", &qmp_type_str }, { "hostname", &qmp_type_str },
    { "port", &qmp_type_int, .optional = true }, { "tls-port", &qmp_type_int, .optional = true },
    { "cert-subject", &qmp_type_str, .optional = true }, { NULL }
};
static const QmpType client_migrate_info = QMP_OBJECT_TYPE(client_migrate_info_m);
static const QmpMember input_send_event_m[] = {
    { "device", &qmp_type_str, .optional = true }, { "head", &qmp_type_int, .optional = true },
    { "events", &any_list }, { NULL }
};
static const QmpType input_send_event = QMP_OBJECT_TYPE(input_send_event_m);


static const QmpCommand absent_object_cmds[] = {
    { "block-job-cancel", qmp_absent_error, &job_cancel, &qmp_type_empty },
    { "block-job-complete", qmp_absent_error, &job_device, &qmp_type_empty },
    { "block-job-dismiss", qmp_absent_error, &id_args, &qmp_type_empty },
    { "block-job-finalize", qmp_absent_error, &id_args, &qmp_type_empty },
    { "block-job-pause", qmp_absent_error, &job_device, &qmp_type_empty },
    { "block-job-resume", qmp_absent_error, &job_device, &qmp_type_empty },
    { "block-job-set-speed", qmp_absent_error, &job_speed, &qmp_type_empty },
    { "job-cancel", qmp_absent_error, &id_args, &qmp_type_empty },
    { "job-complete", qmp_absent_error, &id_args, &qmp_type_empty },
    { "job-dismiss", qmp_absent_error, &id_args, &qmp_type_empty },
    { "job-finalize", qmp_absent_error, &id_args, &qmp_type_empty },
    { "job-pause", qmp_absent_error, &id_args, &qmp_type_empty },
    { "job-resume", qmp_absent_error, &id_args, &qmp_type_empty },
    { "block-export-del", qmp_absent_error, &export_del, &qmp_type_empty },
    { "nbd-server-remove", qmp_absent_error, &nbd_remove, &qmp_type_empty },
    { "nbd-server-stop", qmp_absent_error, NULL, &qmp_type_empty },
    { "query-rocker", qmp_absent_error, &name_args, &qmp_type_any },
    { "query-rocker-ports", qmp_absent_error, &name_args, &any_list },
    { "query-rocker-of-dpa-flows", qmp_absent_error, &rocker_flows, &any_list },
    { "query-rocker-of-dpa-groups", qmp_absent_error, &rocker_groups, &any_list },
    { "trace-event-get-state", qmp_trace_event_get_state, &trace_get, &any_list },
    { "trace-event-set-state", qmp_trace_event_set_state, &trace_set, &qmp_type_empty },
    { "replay-break", qmp_absent_error, &icount_args, &qmp_type_empty },
    { "replay-delete-break", qmp_absent_error, NULL, &qmp_type_empty },
    { "replay-seek", qmp_absent_error, &icount_args, &qmp_type_empty },
    { "x-colo-lost-heartbeat", qmp_absent_error, NULL, &qmp_type_empty },
    { "query-sev-attestation-report", qmp_absent_error, &mnonce_args, &qmp_type_any },
    { "sev-inject-launch-secret", qmp_absent_error, &sev_secret, &qmp_type_empty },
    { "set-vcpu-dirty-limit", qmp_absent_error, &dirty_limit, &qmp_type_empty },
    { "query-vcpu-dirty-limit", qmp_cmd_empty_list, NULL, &any_list },
    { "cancel-vcpu-dirty-limit", qmp_cmd_nothing, &cpu_index_args, &qmp_type_empty },
    { "dumpdtb", qmp_absent_error, &filename_args, &qmp_type_empty },
    { "change-vnc-password", qmp_absent_error, &password_args, &qmp_type_empty },
    { "set_password", qmp_absent_error, &set_password, &qmp_type_empty },
    { "expire_password", qmp_absent_error, &expire_password, &qmp_type_empty },
    { "x-query-profile", qmp_absent_error, NULL, &qmp_type_human_readable },
    { "x-query-jit", qmp_absent_error, NULL, &qmp_type_human_readable },
    { "x-query-opcount", qmp_absent_error, NULL, &qmp_type_human_readable },
    { "ringbuf-read", qmp_ringbuf, &ringbuf_read, &qmp_type_str },
    { "ringbuf-write", qmp_ringbuf, &ringbuf_write, &qmp_type_empty },
    { "query-stats", qmp_cmd_empty_list, &query_stats, &any_list },
    /* No keyboard: the keys go nowhere, as on QEMU's microvm without i8042. */
    { "send-key", qmp_cmd_nothing, &send_key, &qmp_type_empty },
    { "chardev-change", qmp_chardev_change, &a_chardev_change, &qmp_type_any },
    { "chardev-send-break", qmp_chardev_send_break, &id_only, &qmp_type_empty },
    { "set-numa-node", qmp_set_numa_node, &a_numa, &qmp_type_empty },
    { "display-update", qmp_absent_error, &a_display_update, &qmp_type_empty },
    { "nbd-server-start", qmp_absent_error, &a_nbd_start, &qmp_type_empty },
    { "nbd-server-add", qmp_nbd_server_add, &a_nbd_add, &qmp_type_empty },
    { "add_client", qmp_add_client, &add_client, &qmp_type_empty },
    { "transaction", qmp_transaction, &transaction, &qmp_type_empty },
    { "snapshot-save", qmp_absent_error, &a_snapshot_save, &qmp_type_empty },
    { "snapshot-load", qmp_absent_error, &a_snapshot_save, &qmp_type_empty },
    { "snapshot-delete", qmp_absent_error, &a_snapshot_delete, &qmp_type_empty },
    { "blockdev-create", qmp_absent_error, &a_blockdev_create, &qmp_type_empty },
    { "display-reload", qmp_display_reload, &display_reload, &qmp_type_empty },
    { "client_migrate_info", qmp_client_migrate_info, &client_migrate_info, &qmp_type_empty },
    { "input-send-event", qmp_input_send_event, &input_send_event, &qmp_type_empty },
    { NULL }
};

void qmp_register_absent_object_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, absent_object_cmds);
}
