/*
 * Queries about machine features (docs/qmp.md "Feature queries"): what
 * QEMU's tests ask every machine. Each answers what Stratus has, or, for a
 * feature Stratus does not have (SEV, SGX, ACPI, vmgenid), exactly the
 * error QEMU 7.2 gives on a machine without it (live captures of Debian's
 * qemu-system-x86_64 7.2 on microvm and none), so a test's expectation of
 * "absent" holds here too:
 *
 *   query-current-machine       {"wakeup-suspend-support": false} (no S3)
 *   query-iothreads             [] (no -object iothread)
 *   query-display-options       {"type": "none"} (no display)
 *   query-replay                {"icount": 0, "mode": "none"}
 *   query-command-line-options  the parameters of options/opt-params.c
 *   query-acpi-ospm-status      GenericError: no ACPI device
 *   query-sev                   {"enabled": false, ...} (QEMU answers, too)
 *   query-sev-capabilities      GenericError "KVM not enabled" / not in KVM
 *   query-sev-launch-measure    GenericError
 *   query-sgx                   GenericError: not a PC machine
 *   query-sgx-capabilities      GenericError
 *   query-vm-generation-id      GenericError: no vmgenid device
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <string.h>

#include "machine.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

static const QmpMember current_machine_m[] = {
    { "wakeup-suspend-support", &qmp_type_bool },
    { NULL }
};
static const QmpType current_machine = QMP_OBJECT_TYPE(current_machine_m);

/* IOThreadInfo: never returned (no iothreads), declared for the schema. */
static const QmpMember iothread_info_m[] = {
    { "id", &qmp_type_str },
    { "thread-id", &qmp_type_int },
    { "poll-max-ns", &qmp_type_int },
    { "poll-grow", &qmp_type_int },
    { "poll-shrink", &qmp_type_int },
    { "aio-max-batch", &qmp_type_int },
    { NULL }
};
static const QmpType iothread_info = QMP_OBJECT_TYPE(iothread_info_m);
static const QmpType iothread_info_list = QMP_ARRAY_TYPE(&iothread_info);

static const char *const display_type_values[] = { "default", "none", NULL };
static const QmpType display_type = QMP_ENUM_TYPE(display_type_values);
static const QmpMember display_options_m[] = {
    { "type", &display_type },
    { NULL }
};
static const QmpType display_options = QMP_OBJECT_TYPE(display_options_m);

static const char *const replay_mode_values[] = { "none", "record", "play", NULL };
static const QmpType replay_mode = QMP_ENUM_TYPE(replay_mode_values);
static const QmpMember replay_info_m[] = {
    { "mode", &replay_mode },
    { "filename", &qmp_type_str, .optional = true },
    { "icount", &qmp_type_int },
    { NULL }
};
static const QmpType replay_info = QMP_OBJECT_TYPE(replay_info_m);

static const QmpMember option_args_m[] = {
    { "option", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType option_args = QMP_OBJECT_TYPE(option_args_m);
static const char *const param_type_values[] = { "string", "boolean", "number", "size", NULL };
static const QmpType param_type = QMP_ENUM_TYPE(param_type_values);
static const QmpMember param_info_m[] = {
    { "name", &qmp_type_str },
    { "type", &param_type },
    { NULL }
};
static const QmpType param_info = QMP_OBJECT_TYPE(param_info_m);
static const QmpType param_info_list = QMP_ARRAY_TYPE(&param_info);
static const QmpMember option_info_m[] = {
    { "option", &qmp_type_str },
    { "parameters", &param_info_list },
    { NULL }
};
static const QmpType option_info = QMP_OBJECT_TYPE(option_info_m);
static const QmpType option_info_list = QMP_ARRAY_TYPE(&option_info);

/* ACPIOSTInfo: never returned, declared for the schema. */
static const QmpType ospm_info_list = QMP_ARRAY_TYPE(&qmp_type_any);

static const char *const sev_state_values[] = {
    "uninit", "launch-update", "launch-secret", "running", "send-update",
    "receive-update", NULL
};
static const QmpType sev_state = QMP_ENUM_TYPE(sev_state_values);
static const QmpMember sev_info_m[] = {
    { "enabled", &qmp_type_bool },
    { "api-major", &qmp_type_int },
    { "api-minor", &qmp_type_int },
    { "build-id", &qmp_type_int },
    { "policy", &qmp_type_int },
    { "state", &sev_state },
    { "handle", &qmp_type_int },
    { NULL }
};
static const QmpType sev_info = QMP_OBJECT_TYPE(sev_info_m);
/* The return types of the commands that always fail here: for the schema. */
static const QmpMember sev_capability_m[] = {
    { "pdh", &qmp_type_str },
    { "cert-chain", &qmp_type_str },
    { "cpu0-id", &qmp_type_str },
    { "cbitpos", &qmp_type_int },
    { "reduced-phys-bits", &qmp_type_int },
    { NULL }
};
static const QmpType sev_capability = QMP_OBJECT_TYPE(sev_capability_m);
static const QmpMember sev_measure_m[] = {
    { "data", &qmp_type_str },
    { NULL }
};
static const QmpType sev_measure = QMP_OBJECT_TYPE(sev_measure_m);
static const QmpMember sgx_info_m[] = {
    { "sgx", &qmp_type_bool },
    { "sgx1", &qmp_type_bool },
    { "sgx2", &qmp_type_bool },
    { "flc", &qmp_type_bool },
    { "sections", &qmp_type_any },
    { NULL }
};
static const QmpType sgx_info = QMP_OBJECT_TYPE(sgx_info_m);
static const QmpMember guid_info_m[] = {
    { "guid", &qmp_type_str },
    { NULL }
};
static const QmpType guid_info = QMP_OBJECT_TYPE(guid_info_m);

static bool qmp_query_current_machine(QmpCommandCtx *ctx, JsonObject *args,
                                      JsonNode **ret, GError **err)
{
    JsonObject *o = json_object_new();

    json_object_set_boolean_member(o, "wakeup-suspend-support", FALSE);
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_query_iothreads(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                GError **err)
{
    *ret = qmp_node_array(json_array_new());
    return true;
}

static bool qmp_query_display_options(QmpCommandCtx *ctx, JsonObject *args,
                                      JsonNode **ret, GError **err)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "type", "none");
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_query_replay(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    JsonObject *o = json_object_new();

    json_object_set_int_member(o, "icount", 0);
    json_object_set_string_member(o, "mode", "none");
    *ret = qmp_node_object(o);
    return true;
}

static JsonObject *option_info_of(const ConfigOptionInfo *info)
{
    JsonObject *o = json_object_new();
    JsonArray *params = json_array_new();

    for (const ConfigOptionParam *p = info->params; p->name; p++) {
        JsonObject *po = json_object_new();
        json_object_set_string_member(po, "name", p->name);
        json_object_set_string_member(po, "type", p->type);
        json_array_add_object_element(params, po);
    }
    json_object_set_string_member(o, "option", info->option);
    json_object_set_array_member(o, "parameters", params);
    return o;
}

static bool qmp_query_command_line_options(QmpCommandCtx *ctx, JsonObject *args,
                                           JsonNode **ret, GError **err)
{
    const char *want = json_object_has_member(args, "option") ?
                       json_object_get_string_member(args, "option") : NULL;
    JsonArray *a = json_array_new();

    for (const ConfigOptionInfo *i = config_option_params(); i->option; i++) {
        if (!want || !strcmp(want, i->option)) {
            json_array_add_object_element(a, option_info_of(i));
        }
    }
    if (want && json_array_get_length(a) == 0) {
        json_array_unref(a);
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "invalid option name: %s", want);
        return false;
    }
    *ret = qmp_node_array(a);
    return true;
}

static bool qmp_query_acpi_ospm_status(QmpCommandCtx *ctx, JsonObject *args,
                                       JsonNode **ret, GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC,
                  "command is not supported, missing ACPI device");
    return false;
}

static bool qmp_query_sev(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                          GError **err)
{
    JsonObject *o = json_object_new();

    json_object_set_int_member(o, "api-major", 0);
    json_object_set_int_member(o, "api-minor", 0);
    json_object_set_int_member(o, "build-id", 0);
    json_object_set_boolean_member(o, "enabled", FALSE);
    json_object_set_int_member(o, "handle", 0);
    json_object_set_int_member(o, "policy", 0);
    json_object_set_string_member(o, "state", "uninit");
    *ret = qmp_node_object(o);
    return true;
}

/* QEMU asks KVM first; Stratus never enables SEV in KVM. */
static bool qmp_query_sev_capabilities(QmpCommandCtx *ctx, JsonObject *args,
                                       JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;

    qmp_error_set(err, STRATUS_ERROR_GENERIC, "%s",
                  m->cfg && !g_strcmp0(m->cfg->accel, "kvm") ? "SEV is not enabled in KVM"
                                                           : "KVM not enabled");
    return false;
}

static bool qmp_query_sev_launch_measure(QmpCommandCtx *ctx, JsonObject *args,
                                         JsonNode **ret, GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "SEV launch measurement is not available");
    return false;
}

static bool qmp_query_sgx(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                          GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "SGX is only supported on PC machines");
    return false;
}

static bool qmp_query_sgx_capabilities(QmpCommandCtx *ctx, JsonObject *args,
                                       JsonNode **ret, GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "SGX is not enabled in KVM");
    return false;
}

static bool qmp_query_vm_generation_id(QmpCommandCtx *ctx, JsonObject *args,
                                       JsonNode **ret, GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "VM Generation ID device not found");
    return false;
}

static const QmpCommand feature_cmds[] = {
    { "query-current-machine", qmp_query_current_machine, NULL, &current_machine },
    { "query-iothreads", qmp_query_iothreads, NULL, &iothread_info_list },
    { "query-display-options", qmp_query_display_options, NULL, &display_options },
    { "query-replay", qmp_query_replay, NULL, &replay_info },
    { "query-command-line-options", qmp_query_command_line_options, &option_args,
      &option_info_list },
    { "query-acpi-ospm-status", qmp_query_acpi_ospm_status, NULL, &ospm_info_list },
    { "query-sev", qmp_query_sev, NULL, &sev_info },
    { "query-sev-capabilities", qmp_query_sev_capabilities, NULL, &sev_capability },
    { "query-sev-launch-measure", qmp_query_sev_launch_measure, NULL, &sev_measure },
    { "query-sgx", qmp_query_sgx, NULL, &sgx_info },
    { "query-sgx-capabilities", qmp_query_sgx_capabilities, NULL, &sgx_info },
    { "query-vm-generation-id", qmp_query_vm_generation_id, NULL, &guid_info },
    { NULL }
};

void qmp_register_feature_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, feature_cmds);
}
