/*
 * QEMU 7.2's Xen and COLO replication commands (docs/qmp.md "Xen and
 * replication commands"), which QEMU answers on any machine: Stratus has no
 * Xen and no replication, so each answers what QEMU answers with nothing to
 * act on, except xen-save-devices-state, which writes the device state as
 * QEMU does (in Stratus's `state` format, docs/migration.md), and
 * xen-load-devices-state, which is refused (QEMU 7.2 aborts on it outside
 * Xen). Handlers run with the machine lock held; ctx->opaque is the Machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "machine.h"
#include "migration/migration.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"
#include "util/fdutil.h"

static bool qmp_query_spice(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    JsonObject *o = json_object_new();

    json_object_set_boolean_member(o, "enabled", false);
    json_object_set_boolean_member(o, "migrated", false);
    json_object_set_string_member(o, "mouse-mode", "client");
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_query_xen_replication_status(QmpCommandCtx *ctx, JsonObject *args,
                                             JsonNode **ret, GError **err)
{
    JsonObject *o = json_object_new();

    json_object_set_boolean_member(o, "error", false);
    *ret = qmp_node_object(o);
    return true;
}

static const QmpMember replication_m[] = {
    { "enable", &qmp_type_bool }, { "primary", &qmp_type_bool },
    { "failover", &qmp_type_bool, .optional = true }, { NULL }
};
static const QmpType replication_args = QMP_OBJECT_TYPE(replication_m);

/* No replication node exists, so starting or stopping replication has nothing to do. */
static bool qmp_xen_set_replication(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                    GError **err)
{
    if (json_object_get_boolean_member(args, "enable") &&
        json_object_has_member(args, "failover")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Parameter 'failover' is only for stopping replication");
        return false;
    }
    return true;
}

static const QmpMember enable_m[] = { { "enable", &qmp_type_bool }, { NULL } };
static const QmpType enable_args = QMP_OBJECT_TYPE(enable_m);

static const QmpMember save_m[] = {
    { "filename", &qmp_type_str }, { "live", &qmp_type_bool, .optional = true }, { NULL }
};
static const QmpType save_args = QMP_OBJECT_TYPE(save_m);

/* QEMU stops a running VM for the save (STOP, then RESUME) and writes no RAM. */
static bool qmp_xen_save_devices_state(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                       GError **err)
{
    Machine *m = ctx->opaque;
    const char *path = json_object_get_string_member(args, "filename");
    bool running = m->runstate == RUN_STATE_RUNNING, ok = false;
    g_autoptr(GBytes) state = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);

    if (fd < 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Unable to open %s: %s", path,
                      g_strerror(errno));
        return false;
    }
    if (!running || machine_pause(m, err)) {
        migration_drain_block_io(m);
        state = migration_save_state(m, err);
        ok = state != NULL;
        if (ok && !fd_write_all(fd, g_bytes_get_data(state, NULL), g_bytes_get_size(state))) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "Could not write '%s': %s", path,
                          g_strerror(errno));
            ok = false;
        }
        if (running) {
            machine_resume(m, NULL);
        }
    }
    close(fd);
    return ok;
}

static const QmpMember load_m[] = { { "filename", &qmp_type_str }, { NULL } };
static const QmpType load_args = QMP_OBJECT_TYPE(load_m);

static bool qmp_xen_load_devices_state(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                       GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC,
                  "xen-load-devices-state needs a Xen guest; restore with -incoming file:");
    return false;
}

static const QmpCommand xen_cmds[] = {
    { "query-spice", qmp_query_spice, NULL, &qmp_type_any },
    { "query-xen-replication-status", qmp_query_xen_replication_status, NULL, &qmp_type_any },
    { "xen-set-replication", qmp_xen_set_replication, &replication_args },
    { "xen-colo-do-checkpoint", qmp_cmd_nothing, NULL },
    { "xen-set-global-dirty-log", qmp_cmd_nothing, &enable_args },
    { "xen-save-devices-state", qmp_xen_save_devices_state, &save_args },
    { "xen-load-devices-state", qmp_xen_load_devices_state, &load_args },
    { NULL }
};

void qmp_register_xen_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, xen_cmds);
}
