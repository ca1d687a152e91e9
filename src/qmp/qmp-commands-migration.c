/*
 * Migration QMP commands (docs/migration.md, docs/qmp.md "Snapshots"):
 * `migrate` with a file: URI takes a snapshot (migration/migration.h) and
 * replies once it is written; with tcp:/unix: it starts a live migration
 * (migration/live.h) and replies at once; `query-migrate` reports
 * StratoVirt's status and, once a live migration ran, QEMU's statistics;
 * parameters and capabilities in QEMU's shapes.
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <string.h>

#include "machine.h"
#include "migration/live.h"
#include "migration/migration.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"
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

static const QmpMember migration_stats_m[] = {
    { "transferred", &qmp_type_int },
    { "remaining", &qmp_type_int },
    { "total", &qmp_type_int },
    { "duplicate", &qmp_type_int },
    { "normal", &qmp_type_int },
    { "normal-bytes", &qmp_type_int },
    { "dirty-pages-rate", &qmp_type_int },
    { "mbps", &qmp_type_number },
    { "dirty-sync-count", &qmp_type_int },
    { "page-size", &qmp_type_int },
    { NULL }
};
static const QmpType migration_stats = QMP_OBJECT_TYPE(migration_stats_m);

/* StratoVirt's MigrationInfo (the seeds' replies) plus QEMU's numbers of a live migration. */
static const QmpMember migration_info_m[] = {
    { "status", &qmp_type_str, .optional = true },
    { "ram", &migration_stats, .optional = true },
    { "total-time", &qmp_type_int, .optional = true },
    { "downtime", &qmp_type_int, .optional = true },
    { "setup-time", &qmp_type_int, .optional = true },
    { "error-desc", &qmp_type_str, .optional = true },
    { "socket-address", &qmp_type_any, .optional = true },     /* [SocketAddress] */
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
        return live_migrate_start(m, uri, err);
    }
    if (!g_str_has_prefix(uri, "file:")) {
        set_error(err, "Invalid migration uri '%s': expected file:<dir>, tcp:<ip>:<port> or "
                  "unix:<path>", uri);
        return false;
    }
    if (m->migration->status == MIGRATION_STATUS_ACTIVE) {
        return migration_set_status(m->migration, MIGRATION_STATUS_ACTIVE, err);
    }
    if (!uri[strlen("file:")]) {
        set_error(err, "Invalid migration uri '%s': the directory is missing", uri);
        return false;
    }
    return migration_snapshot_save(m, uri + strlen("file:"), err);
}

static void add_stats(JsonObject *o, const MigrationState *ms)
{
    const MigrationStats *st = &ms->stats;
    JsonObject *ram = json_object_new();

    json_object_set_int_member(ram, "transferred", (gint64)st->transferred);
    json_object_set_int_member(ram, "remaining", (gint64)st->remaining);
    json_object_set_int_member(ram, "total", (gint64)st->total);
    json_object_set_int_member(ram, "duplicate", (gint64)st->duplicate);
    json_object_set_int_member(ram, "normal", (gint64)st->normal);
    json_object_set_int_member(ram, "normal-bytes", (gint64)(st->normal * 4096));
    json_object_set_int_member(ram, "dirty-pages-rate", (gint64)st->dirty_pages_rate);
    json_object_set_double_member(ram, "mbps", st->mbps);
    json_object_set_int_member(ram, "dirty-sync-count", (gint64)st->dirty_sync_count);
    json_object_set_int_member(ram, "page-size", 4096);
    json_object_set_object_member(o, "ram", ram);
    json_object_set_int_member(o, "setup-time", ms->setup_ms);
}

/* QEMU's SocketAddress of a listening destination, members in QEMU 7.2's output order. */
static void add_socket_address(JsonObject *o, const char *uri)
{
    JsonArray *list = json_array_new();
    JsonObject *a = json_object_new();

    if (g_str_has_prefix(uri, "unix:")) {
        json_object_set_string_member(a, "path", uri + strlen("unix:"));
        json_object_set_string_member(a, "type", "unix");
    } else {
        const char *hostport = uri + strlen("tcp:"), *colon = strrchr(hostport, ':');
        g_autofree char *host = g_strndup(hostport, colon ? (gsize)(colon - hostport) : 0);

        json_object_set_string_member(a, "port", colon ? colon + 1 : "");
        json_object_set_boolean_member(a, "ipv4", TRUE);
        json_object_set_string_member(a, "host", host);
        json_object_set_string_member(a, "type", "inet");
    }
    json_array_add_object_element(list, a);
    json_object_set_array_member(o, "socket-address", list);
}

static bool qmp_query_migrate(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    Machine *m = ctx->opaque;
    const MigrationState *ms = m->migration;
    JsonObject *o = json_object_new();

    (void)args;
    (void)err;
    json_object_set_string_member(o, "status", migration_status_name(ms->status));
    if (ms->has_stats) {
        add_stats(o, ms);
        json_object_set_int_member(o, "total-time", ms->status == MIGRATION_STATUS_ACTIVE ?
                                   (g_get_monotonic_time() - ms->start_us) / 1000 :
                                   ms->total_ms);
        if (ms->status == MIGRATION_STATUS_COMPLETED) {
            json_object_set_int_member(o, "downtime", ms->downtime_ms);
        }
        if (ms->status == MIGRATION_STATUS_FAILED && ms->error_desc) {
            json_object_set_string_member(o, "error-desc", ms->error_desc);
        }
    }
    if (live_incoming_address(m)) {
        add_socket_address(o, live_incoming_address(m));
    }
    *ret = json_node_init_object(json_node_alloc(), o);
    json_object_unref(o);
    return true;
}

/*
 * A live migration in pre-copy is canceled (status canceled, StratoVirt's
 * spelling; the source keeps running). Nothing in flight: {} and the status
 * unchanged, as StratoVirt's migrate_cancel on microvm and QEMU's.
 */
static bool qmp_migrate_cancel(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                               GError **err)
{
    (void)args;
    (void)ret;
    return live_migrate_cancel(ctx->opaque, err);
}

/* ---- parameters and capabilities (QEMU's shapes) ---- */

#define MAX_DOWNTIME_MS 2000000
/* QEMU's bound: the bandwidth in bytes per millisecond must fit a size_t / 1000. */
#define MAX_BANDWIDTH_BPS (SIZE_MAX / 1000)

static const QmpMember migrate_params_m[] = {
    { "downtime-limit", &qmp_type_int, .optional = true },
    { "max-bandwidth", &qmp_type_int, .optional = true },
    { NULL }
};
static const QmpType migrate_params = QMP_OBJECT_TYPE(migrate_params_m);

static bool qmp_migrate_set_parameters(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                       GError **err)
{
    MigrationState *ms = ((Machine *)ctx->opaque)->migration;
    bool has_dl = json_object_has_member(args, "downtime-limit");
    bool has_bw = json_object_has_member(args, "max-bandwidth");
    gint64 dl = has_dl ? json_object_get_int_member(args, "downtime-limit") : 0;
    gint64 bw = has_bw ? json_object_get_int_member(args, "max-bandwidth") : 0;

    (void)ret;
    if (dl < 0 || dl > MAX_DOWNTIME_MS) {
        set_error(err, "Parameter 'downtime_limit' expects an integer in the range of 0 to "
                  "%d milliseconds", MAX_DOWNTIME_MS);
        return false;
    }
    if (bw < 0 || (guint64)bw > MAX_BANDWIDTH_BPS) {
        set_error(err, "Parameter 'max_bandwidth' expects an integer in the range of 0 to "
                  "%zu bytes/second", (size_t)MAX_BANDWIDTH_BPS);
        return false;
    }
    if (has_dl) {
        ms->downtime_limit_ms = (uint64_t)dl;
    }
    if (has_bw) {
        __atomic_store_n(&ms->max_bandwidth, (uint64_t)bw, __ATOMIC_RELAXED);
    }
    return true;
}

static bool qmp_query_migrate_parameters(QmpCommandCtx *ctx, JsonObject *args,
                                         JsonNode **ret, GError **err)
{
    const MigrationState *ms = ((Machine *)ctx->opaque)->migration;
    JsonObject *o = json_object_new();

    (void)args;
    (void)err;
    json_object_set_int_member(o, "downtime-limit", (gint64)ms->downtime_limit_ms);
    json_object_set_int_member(o, "max-bandwidth", (gint64)ms->max_bandwidth);
    *ret = json_node_init_object(json_node_alloc(), o);
    json_object_unref(o);
    return true;
}

static const char *const capability_values[] = { "events", NULL };
static const QmpType capability_enum = QMP_ENUM_TYPE(capability_values);
static const QmpMember capability_status_m[] = {
    { "capability", &capability_enum },
    { "state", &qmp_type_bool },
    { NULL }
};
static const QmpType capability_status = QMP_OBJECT_TYPE(capability_status_m);
static const QmpType capability_list = QMP_ARRAY_TYPE(&capability_status);
static const QmpMember set_caps_m[] = {
    { "capabilities", &capability_list },
    { NULL }
};
static const QmpType set_caps_args = QMP_OBJECT_TYPE(set_caps_m);

static bool qmp_migrate_set_capabilities(QmpCommandCtx *ctx, JsonObject *args,
                                         JsonNode **ret, GError **err)
{
    MigrationState *ms = ((Machine *)ctx->opaque)->migration;
    JsonArray *caps = json_object_get_array_member(args, "capabilities");

    (void)ret;
    if (ms->status == MIGRATION_STATUS_ACTIVE) {
        set_error(err, "There's a migration process in progress");
        return false;
    }
    /* The schema admits only "events". */
    for (guint i = 0; i < json_array_get_length(caps); i++) {
        JsonObject *c = json_array_get_object_element(caps, i);
        ms->events = json_object_get_boolean_member(c, "state");
    }
    return true;
}

static bool qmp_query_migrate_capabilities(QmpCommandCtx *ctx, JsonObject *args,
                                           JsonNode **ret, GError **err)
{
    const MigrationState *ms = ((Machine *)ctx->opaque)->migration;
    JsonArray *a = json_array_new();
    JsonObject *o = json_object_new();

    (void)args;
    (void)err;
    json_object_set_string_member(o, "capability", "events");
    json_object_set_boolean_member(o, "state", ms->events);
    json_array_add_object_element(a, o);
    *ret = json_node_init_array(json_node_alloc(), a);
    json_array_unref(a);
    return true;
}

/* ---- calc-dirty-rate / query-dirty-rate (migration/dirty-rate.h) ---- */

static const char *const dirty_rate_mode_values[] = { "page-sampling", "dirty-bitmap",
                                                      "dirty-ring", NULL };
static const QmpType dirty_rate_mode = QMP_ENUM_TYPE(dirty_rate_mode_values);
static const QmpMember calc_dirty_rate_m[] = {
    { "calc-time", &qmp_type_int },
    { "sample-pages", &qmp_type_int, .optional = true },
    { "mode", &dirty_rate_mode, .optional = true },
    { NULL }
};
static const QmpType calc_dirty_rate_args = QMP_OBJECT_TYPE(calc_dirty_rate_m);
static const char *const dirty_rate_status_values[] = { "unstarted", "measuring",
                                                        "measured", NULL };
static const QmpType dirty_rate_status = QMP_ENUM_TYPE(dirty_rate_status_values);
static const QmpMember dirty_rate_info_m[] = {
    { "dirty-rate", &qmp_type_int, .optional = true }, { "status", &dirty_rate_status },
    { "sample-pages", &qmp_type_int }, { "mode", &dirty_rate_mode },
    { "start-time", &qmp_type_int }, { "calc-time", &qmp_type_int },
    { NULL }
};
static const QmpType dirty_rate_info = QMP_OBJECT_TYPE(dirty_rate_info_m);

static bool qmp_calc_dirty_rate(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                GError **err)
{
    return dirty_rate_start(ctx->opaque, json_object_get_int_member(args, "calc-time"),
                            json_object_has_member(args, "sample-pages") ?
                            json_object_get_int_member(args, "sample-pages") : 512,
                            json_object_has_member(args, "mode") ?
                            json_object_get_string_member(args, "mode") : "page-sampling",
                            err);
}

/* Before any measurement, QEMU's answer: unstarted, page-sampling, zeros. */
static bool qmp_query_dirty_rate(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                 GError **err)
{
    const DirtyRate *dr = &((Machine *)ctx->opaque)->migration->dirty_rate;
    JsonObject *o = json_object_new();

    if (dr->status == DIRTY_RATE_MEASURED) {
        json_object_set_int_member(o, "dirty-rate", dr->rate_mbps);
    }
    json_object_set_string_member(o, "status", dirty_rate_status_values[dr->status]);
    json_object_set_int_member(o, "sample-pages", dr->status ? dr->sample_pages : 0);
    json_object_set_string_member(o, "mode", dr->mode ? dr->mode : "page-sampling");
    json_object_set_int_member(o, "start-time", dr->status ? dr->start_time_s : 0);
    json_object_set_int_member(o, "calc-time", dr->status ? dr->calc_time_s : 0);
    *ret = qmp_node_object(o);
    return true;
}

/* QEMU 7.2's MigrationStatus, plus StratoVirt's spelling "canceled" that Stratus reports. */
static const char *const migration_status_values[] = {
    "none", "setup", "cancelling", "cancelled", "canceled", "active", "postcopy-active",
    "postcopy-paused", "postcopy-recover", "completed", "failed", "colo", "pre-switchover",
    "device", "wait-unplug", NULL
};
static const QmpType migration_status_enum = QMP_ENUM_TYPE(migration_status_values);
static const QmpMember migrate_continue_m[] = {
    { "state", &migration_status_enum }, { NULL }
};
static const QmpType migrate_continue_args = QMP_OBJECT_TYPE(migrate_continue_m);
static const QmpMember migrate_incoming_m[] = {
    { "uri", &qmp_type_str }, { NULL }      /* QEMU 7.2's: required, no "channels" */
};
static const QmpType migrate_incoming_args = QMP_OBJECT_TYPE(migrate_incoming_m);

/*
 * QEMU resumes a migration paused in `state` (pause-before-switchover).
 * Stratus never pauses one, so only a state equal to the current one (as in
 * QEMU, then nothing waits) is accepted.
 */
static bool qmp_migrate_continue(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                 GError **err)
{
    const char *now = migration_status_name(((Machine *)ctx->opaque)->migration->status);

    if (strcmp(json_object_get_string_member(args, "state"), now)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Migration not in expected state: %s", now);
        return false;
    }
    return true;
}

/* There is no postcopy capability to enable. */
static bool qmp_migrate_start_postcopy(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                       GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC,
                  "Enable postcopy with migrate_set_capability before the start of migration");
    return false;
}

/* -incoming defer: the address of the live migration to wait for (live.h). */
static bool qmp_migrate_incoming(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                 GError **err)
{
    GError *e = NULL;

    if (!live_incoming_deferred(ctx->opaque, json_object_get_string_member(args, "uri"), &e)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "%s", e->message);
        g_error_free(e);
        return false;
    }
    return true;
}

static const QmpCommand migration_cmds[] = {
    { "migrate", qmp_migrate, &migrate_args, NULL, QMP_CMD_EVENTS_FIRST },
    { "query-migrate", qmp_query_migrate, NULL, &migration_info, 0 },
    { "migrate_cancel", qmp_migrate_cancel, NULL, NULL, QMP_CMD_EVENTS_FIRST },
    { "migrate-set-parameters", qmp_migrate_set_parameters, &migrate_params, NULL, 0 },
    { "query-migrate-parameters", qmp_query_migrate_parameters, NULL, &migrate_params, 0 },
    { "migrate-set-capabilities", qmp_migrate_set_capabilities, &set_caps_args, NULL, 0 },
    { "query-migrate-capabilities", qmp_query_migrate_capabilities, NULL, &capability_list,
      0 },
    { "migrate-continue", qmp_migrate_continue, &migrate_continue_args, NULL, 0 },
    { "migrate-start-postcopy", qmp_migrate_start_postcopy, NULL, NULL, 0 },
    { "migrate-incoming", qmp_migrate_incoming, &migrate_incoming_args, NULL, 0 },
    { "calc-dirty-rate", qmp_calc_dirty_rate, &calc_dirty_rate_args, NULL, 0 },
    { "query-dirty-rate", qmp_query_dirty_rate, NULL, &dirty_rate_info, 0 },
    { NULL }
};

void qmp_register_migration_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, migration_cmds);
}
