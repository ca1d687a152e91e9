/*
 * QEMU 7.2 commands for things a Stratus microvm has none of (docs/qmp.md
 * "Absent features"): each answers what QEMU answers on a microvm without
 * them, so a client's "is there any?" question gets QEMU's answer instead of
 * CommandNotFound:
 *
 *   query-mice            []  (no PS/2 or USB pointer)
 *   query-tpm             []  (no -tpmdev)
 *   query-jobs            []  (no background jobs)
 *   query-block-jobs      []
 *   query-block-exports   []  (no NBD/vhost-user exports)
 *   query-pr-managers     []  (no pr-manager objects)
 *   query-colo-status     {"mode":"none","last-mode":"none","reason":"none"}
 *   query-vnc             {"enabled":false}  (no VNC server)
 *   query-vnc-servers     []
 *   query-tpm-models      []  (no TPM front end is built in; QEMU lists its own)
 *   query-tpm-types       []  (nor a TPM back end)
 *   query-stats-schemas   []  (no statistics providers)
 *   x-query-numa          "0 nodes"  (no NUMA nodes)
 *   x-query-rdma          ""  (no RDMA devices)
 *   x-query-usb           GenericError: no USB
 *   system_wakeup         GenericError: the guest cannot be suspended (no ACPI S3)
 *   rtc-reset-reinjection {}  (the RTC reinjects no lost ticks: nothing to reset)
 *   screendump            GenericError: no console (no display)
 *
 * The element types list QEMU's mandatory members, for query-qmp-schema.
 * Handlers run on the main loop with the machine lock held.
 */
#include <string.h>

#include "machine.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

static const QmpType any_list = QMP_ARRAY_TYPE(&qmp_type_any);

static const QmpMember mouse_info_m[] = {
    { "name", &qmp_type_str }, { "index", &qmp_type_int }, { "current", &qmp_type_bool },
    { "absolute", &qmp_type_bool }, { NULL }
};
static const QmpType mouse_info = QMP_OBJECT_TYPE(mouse_info_m);
static const QmpType mouse_info_list = QMP_ARRAY_TYPE(&mouse_info);

static const QmpMember tpm_info_m[] = {
    { "id", &qmp_type_str }, { "model", &qmp_type_str }, { "options", &qmp_type_any }, { NULL }
};
static const QmpType tpm_info = QMP_OBJECT_TYPE(tpm_info_m);
static const QmpType tpm_info_list = QMP_ARRAY_TYPE(&tpm_info);

static const QmpMember job_info_m[] = {
    { "id", &qmp_type_str }, { "type", &qmp_type_str }, { "status", &qmp_type_str },
    { "current-progress", &qmp_type_int }, { "total-progress", &qmp_type_int }, { NULL }
};
static const QmpType job_info = QMP_OBJECT_TYPE(job_info_m);
static const QmpType job_info_list = QMP_ARRAY_TYPE(&job_info);

static const QmpMember block_job_info_m[] = {
    { "type", &qmp_type_str }, { "device", &qmp_type_str }, { "len", &qmp_type_int },
    { "offset", &qmp_type_int }, { "busy", &qmp_type_bool }, { "paused", &qmp_type_bool },
    { "speed", &qmp_type_int }, { "io-status", &qmp_type_str }, { "ready", &qmp_type_bool },
    { "status", &qmp_type_str }, { "auto-finalize", &qmp_type_bool },
    { "auto-dismiss", &qmp_type_bool }, { NULL }
};
static const QmpType block_job_info = QMP_OBJECT_TYPE(block_job_info_m);
static const QmpType block_job_info_list = QMP_ARRAY_TYPE(&block_job_info);

static const QmpMember block_export_info_m[] = {
    { "id", &qmp_type_str }, { "type", &qmp_type_str }, { "node-name", &qmp_type_str },
    { "shutting-down", &qmp_type_bool }, { NULL }
};
static const QmpType block_export_info = QMP_OBJECT_TYPE(block_export_info_m);
static const QmpType block_export_info_list = QMP_ARRAY_TYPE(&block_export_info);

static const QmpMember pr_manager_info_m[] = {
    { "id", &qmp_type_str }, { "connected", &qmp_type_bool }, { NULL }
};
static const QmpType pr_manager_info = QMP_OBJECT_TYPE(pr_manager_info_m);
static const QmpType pr_manager_info_list = QMP_ARRAY_TYPE(&pr_manager_info);

static const char *const colo_mode_values[] = { "none", "primary", "secondary", NULL };
static const QmpType colo_mode = QMP_ENUM_TYPE(colo_mode_values);
static const char *const colo_reason_values[] = { "none", "request", "error", "processing",
                                                  NULL };
static const QmpType colo_reason = QMP_ENUM_TYPE(colo_reason_values);
static const QmpMember colo_status_m[] = {
    { "mode", &colo_mode }, { "last-mode", &colo_mode }, { "reason", &colo_reason }, { NULL }
};
static const QmpType colo_status = QMP_OBJECT_TYPE(colo_status_m);

static const char *const image_format_values[] = { "ppm", "png", NULL };
static const QmpType image_format = QMP_ENUM_TYPE(image_format_values);
static const QmpMember screendump_args_m[] = {
    { "filename", &qmp_type_str }, { "device", &qmp_type_str, .optional = true },
    { "head", &qmp_type_int, .optional = true }, { "format", &image_format, .optional = true },
    { NULL }
};
static const QmpType screendump_args = QMP_OBJECT_TYPE(screendump_args_m);

static const QmpMember vnc_info_m[] = {
    { "enabled", &qmp_type_bool }, { NULL }
};
static const QmpType vnc_info = QMP_OBJECT_TYPE(vnc_info_m);
static const QmpType vnc_server_list = QMP_ARRAY_TYPE(&qmp_type_any);
static const QmpType str_list = QMP_ARRAY_TYPE(&qmp_type_str);

static const char *const stats_provider_values[] = { "kvm", "cryptodev", NULL };
static const QmpType stats_provider = QMP_ENUM_TYPE(stats_provider_values);
static const QmpMember stats_schemas_args_m[] = {
    { "provider", &stats_provider, .optional = true }, { NULL }
};
static const QmpType stats_schemas_args = QMP_OBJECT_TYPE(stats_schemas_args_m);


static const QmpMember human_readable_m[] = {
    { "human-readable-text", &qmp_type_str }, { NULL }
};
const QmpType qmp_type_human_readable = QMP_OBJECT_TYPE(human_readable_m);

bool qmp_cmd_empty_list(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    *ret = qmp_node_array(json_array_new());
    return true;
}

static bool qmp_query_colo_status(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                  GError **err)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "mode", "none");
    json_object_set_string_member(o, "last-mode", "none");
    json_object_set_string_member(o, "reason", "none");
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_query_vnc(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    JsonObject *o = json_object_new();

    json_object_set_boolean_member(o, "enabled", FALSE);
    *ret = qmp_node_object(o);
    return true;
}

JsonNode *qmp_human_readable_text(const char *text)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "human-readable-text", text);
    return qmp_node_object(o);
}

static bool qmp_x_query_numa(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    *ret = qmp_human_readable_text("0 nodes\n");
    return true;
}

static bool qmp_x_query_rdma(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    *ret = qmp_human_readable_text("");
    return true;
}

static bool qmp_x_query_usb(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                            GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "USB support not enabled");
    return false;
}

/* No ACPI sleep states are offered, so a guest is never suspended. */
static bool qmp_system_wakeup(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC,
                  "wake-up from suspend is not supported by this guest");
    return false;
}

bool qmp_cmd_nothing(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    return true;
}

/* QEMU's text when no graphic console exists (-display none, microvm). */
static bool qmp_screendump(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                           GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "There is no QemuConsole I can screendump from.");
    return false;
}

static const QmpCommand absent_cmds[] = {
    { "query-mice", qmp_cmd_empty_list, NULL, &mouse_info_list },
    { "query-tpm", qmp_cmd_empty_list, NULL, &tpm_info_list },
    { "query-jobs", qmp_cmd_empty_list, NULL, &job_info_list },
    { "query-block-jobs", qmp_cmd_empty_list, NULL, &block_job_info_list },
    { "query-block-exports", qmp_cmd_empty_list, NULL, &block_export_info_list },
    { "query-pr-managers", qmp_cmd_empty_list, NULL, &pr_manager_info_list },
    { "query-colo-status", qmp_query_colo_status, NULL, &colo_status },
    { "screendump", qmp_screendump, &screendump_args, &qmp_type_empty },
    { "query-vnc", qmp_query_vnc, NULL, &vnc_info },
    { "query-vnc-servers", qmp_cmd_empty_list, NULL, &vnc_server_list },
    { "query-tpm-models", qmp_cmd_empty_list, NULL, &str_list },
    { "query-tpm-types", qmp_cmd_empty_list, NULL, &str_list },
    { "query-stats-schemas", qmp_cmd_empty_list, &stats_schemas_args, &any_list },
    { "x-query-numa", qmp_x_query_numa, NULL, &qmp_type_human_readable },
    { "x-query-rdma", qmp_x_query_rdma, NULL, &qmp_type_human_readable },
    { "x-query-usb", qmp_x_query_usb, NULL, &qmp_type_human_readable },
    { "system_wakeup", qmp_system_wakeup, NULL, &qmp_type_empty },
    { "rtc-reset-reinjection", qmp_cmd_nothing, NULL, &qmp_type_empty },
    { NULL }
};

void qmp_register_absent_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, absent_cmds);
}
