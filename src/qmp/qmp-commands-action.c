/*
 * Run-time actions (docs/qmp.md "Actions and NMI"): set-action and
 * watchdog-set-action change what -action and -watchdog-action set at
 * start-up (the same values, QEMU 7.2's enums and texts); inject-nmi sends
 * an NMI to every vCPU.
 *
 * Of the actions only shutdown=pause|poweroff changes behaviour today (it
 * is -no-shutdown); reboot, panic and watchdog are stored and reported the
 * way docs/command-line.md describes for -action. Handlers run on the main
 * loop with the machine lock held; ctx->opaque is the Machine.
 */
#include "machine.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

static const QmpType reboot_action = QMP_ENUM_TYPE(config_reboot_actions);
static const QmpType shutdown_action = QMP_ENUM_TYPE(config_shutdown_actions);
static const QmpType panic_action = QMP_ENUM_TYPE(config_panic_actions);
static const QmpType watchdog_action = QMP_ENUM_TYPE(config_watchdog_actions);

static const QmpMember set_action_m[] = {
    { "reboot", &reboot_action, .optional = true },
    { "shutdown", &shutdown_action, .optional = true },
    { "panic", &panic_action, .optional = true },
    { "watchdog", &watchdog_action, .optional = true },
    { NULL }
};
static const QmpType set_action_args = QMP_OBJECT_TYPE(set_action_m);

static const QmpMember watchdog_set_action_m[] = {
    { "action", &watchdog_action }, { NULL }
};
static const QmpType watchdog_set_action_args = QMP_OBJECT_TYPE(watchdog_set_action_m);

static void store_action(JsonObject *args, const char *key, char **slot)
{
    if (json_object_has_member(args, key)) {
        g_free(*slot);
        *slot = g_strdup(json_object_get_string_member(args, key));
    }
}

/* The arguments are checked against the enums before this runs: all or nothing. */
static bool qmp_set_action(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    StratusConfig *cfg = ((Machine *)ctx->opaque)->cfg;

    store_action(args, "reboot", &cfg->action_reboot);
    store_action(args, "panic", &cfg->action_panic);
    store_action(args, "watchdog", &cfg->action_watchdog);
    if (json_object_has_member(args, "shutdown")) {
        cfg->no_shutdown = !g_strcmp0(json_object_get_string_member(args, "shutdown"), "pause");
    }
    return true;
}

static bool qmp_watchdog_set_action(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                    GError **err)
{
    StratusConfig *cfg = ((Machine *)ctx->opaque)->cfg;

    g_free(cfg->action_watchdog);
    cfg->action_watchdog = g_strdup(json_object_get_string_member(args, "action"));
    return true;
}

static bool qmp_inject_nmi(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    machine_inject_nmi(ctx->opaque);
    return true;
}

static const QmpCommand action_cmds[] = {
    { "set-action", qmp_set_action, &set_action_args, &qmp_type_empty },
    { "watchdog-set-action", qmp_watchdog_set_action, &watchdog_set_action_args,
      &qmp_type_empty },
    { "inject-nmi", qmp_inject_nmi, NULL, &qmp_type_empty },
    { NULL }
};

void qmp_register_action_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, action_cmds);
}
