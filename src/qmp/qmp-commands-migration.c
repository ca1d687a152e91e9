/*
 * Migration QMP commands (docs/migration.md, docs/qmp.md "Snapshots"):
 * `migrate` with a file: URI takes a snapshot (migration/migration.h) and
 * replies once it is written; `query-migrate` reports StratoVirt's status;
 * `migrate_cancel` has nothing to cancel yet.
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <string.h>

#include "machine.h"
#include "migration/migration.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "util/strutil.h"

/* StratoVirt's `uri`; QEMU's optional flags are accepted and must be false. */
static const QmpMember migrate_m[] = {
    { "uri", &qmp_type_str },
    { "blk", &qmp_type_bool, .optional = true },
    { "inc", &qmp_type_bool, .optional = true },
    { "detach", &qmp_type_bool, .optional = true },
    { "resume", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType migrate_args = QMP_OBJECT_TYPE(migrate_m);

/* StratoVirt's MigrationInfo: the status only (the seeds' replies). */
static const QmpMember migration_info_m[] = {
    { "status", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType migration_info = QMP_OBJECT_TYPE(migration_info_m);

static bool flag_set(JsonObject *args, const char *key)
{
    return json_object_has_member(args, key) && json_object_get_boolean_member(args, key);
}

static bool qmp_migrate(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    const char *uri = json_object_get_string_member(args, "uri");

    (void)ret;
    if (flag_set(args, "blk") || flag_set(args, "inc") || flag_set(args, "resume")) {
        set_error(err, "Block migration and resume are not supported");
        return false;
    }
    if (g_str_has_prefix(uri, "tcp:") || g_str_has_prefix(uri, "unix:")) {
        set_error(err, "Live migration (tcp:, unix:) is not supported yet");
        return false;
    }
    if (!g_str_has_prefix(uri, "file:")) {
        set_error(err, "Invalid migration uri '%s': expected file:<dir>", uri);
        return false;
    }
    if (!uri[strlen("file:")]) {
        set_error(err, "Invalid migration uri '%s': the directory is missing", uri);
        return false;
    }
    return migration_snapshot_save(m, uri + strlen("file:"), err);
}

static bool qmp_query_migrate(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    Machine *m = ctx->opaque;
    JsonObject *o = json_object_new();

    (void)args;
    (void)err;
    json_object_set_string_member(o, "status", migration_status_name(m->migration->status));
    *ret = json_node_init_object(json_node_alloc(), o);
    json_object_unref(o);
    return true;
}

/*
 * A file: snapshot completes before migrate replies and live migration does
 * not exist yet, so nothing can be in flight: {} and the status unchanged,
 * as StratoVirt's migrate_cancel on microvm (and QEMU's with no migration).
 */
static bool qmp_migrate_cancel(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                               GError **err)
{
    (void)ctx;
    (void)args;
    (void)ret;
    (void)err;
    return true;
}

static const QmpCommand migration_cmds[] = {
    { "migrate", qmp_migrate, &migrate_args, NULL, QMP_CMD_EVENTS_FIRST },
    { "query-migrate", qmp_query_migrate, NULL, &migration_info, 0 },
    { "migrate_cancel", qmp_migrate_cancel, NULL, NULL, 0 },
    { NULL }
};

void qmp_register_migration_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, migration_cmds);
}
