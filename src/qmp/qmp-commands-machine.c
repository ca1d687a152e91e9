/*
 * Machine-level QMP commands: lifecycle, queries, getfd/closefd (the QOM
 * commands are in qmp-commands-qom.c, HMP's human-monitor-command in
 * hmp.c). Handlers run on the main loop with the machine lock held;
 * ctx->opaque is the Machine.
 *
 * Return objects are written with sorted keys (StratoVirt's serde output),
 * e.g. query-status -> {"running":true,"singlestep":false,"status":"running"}.
 */
#include <ctype.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"
#include "hw/device.h"
#include "hw/qom-types.h"
#include "qmp/qmp.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

#ifndef STRATUS_VERSION
#define STRATUS_VERSION "0.0.0"
#endif


/* ------------------------------------------------------------------------ */
/* Schemas                                                                  */

static const char *const runstate_values[] = {
    "debug", "inmigrate", "internal-error", "io-error", "paused",
    "postmigrate", "prelaunch", "finish-migrate", "restore-vm", "running",
    "save-vm", "shutdown", "suspended", "watchdog", "guest-panicked", "colo",
    "preconfig", NULL
};
static const QmpType runstate_enum = QMP_ENUM_TYPE(runstate_values);

static const QmpMember status_info_m[] = {
    { "running", &qmp_type_bool },
    { "singlestep", &qmp_type_bool },
    { "status", &runstate_enum },
    { NULL }
};
static const QmpType status_info = QMP_OBJECT_TYPE(status_info_m);

static const QmpMember version_triple_m[] = {
    { "major", &qmp_type_int },
    { "minor", &qmp_type_int },
    { "micro", &qmp_type_int },
    { NULL }
};
static const QmpType version_triple = QMP_OBJECT_TYPE(version_triple_m);
static const QmpMember version_info_m[] = {
    { "qemu", &version_triple },
    { "package", &qmp_type_str },
    { NULL }
};
static const QmpType version_info = QMP_OBJECT_TYPE(version_info_m);

static const QmpMember target_info_m[] = {
    { "arch", &qmp_type_str },
    { NULL }
};
static const QmpType target_info = QMP_OBJECT_TYPE(target_info_m);

static const QmpMember kvm_info_m[] = {
    { "enabled", &qmp_type_bool },
    { "present", &qmp_type_bool },
    { NULL }
};
static const QmpType kvm_info = QMP_OBJECT_TYPE(kvm_info_m);

static const QmpMember machine_info_m[] = {
    { "name", &qmp_type_str },
    { "cpu-max", &qmp_type_int },
    { "deprecated", &qmp_type_bool },
    { "hotpluggable-cpus", &qmp_type_bool },
    { "numa-mem-supported", &qmp_type_bool },
    { "is-default", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType machine_info = QMP_OBJECT_TYPE(machine_info_m);
static const QmpType machine_info_list = QMP_ARRAY_TYPE(&machine_info);

static const QmpMember name_info_m[] = {
    { "name", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType name_info = QMP_OBJECT_TYPE(name_info_m);

static const QmpMember uuid_info_m[] = {
    { "UUID", &qmp_type_str },
    { NULL }
};
static const QmpType uuid_info = QMP_OBJECT_TYPE(uuid_info_m);

static const QmpMember cpu_props_m[] = {
    { "core-id", &qmp_type_int, .optional = true },
    { "socket-id", &qmp_type_int, .optional = true },
    { "thread-id", &qmp_type_int, .optional = true },
    { NULL }
};
static const QmpType cpu_props = QMP_OBJECT_TYPE(cpu_props_m);

static const QmpMember cpu_info_m[] = {
    { "CPU", &qmp_type_int },
    { "arch", &qmp_type_str },
    { "current", &qmp_type_bool },
    { "halted", &qmp_type_bool },
    { "props", &cpu_props },
    { "qom_path", &qmp_type_str },
    { "thread_id", &qmp_type_int },
    { NULL }
};
static const QmpType cpu_info = QMP_OBJECT_TYPE(cpu_info_m);
static const QmpType cpu_info_list = QMP_ARRAY_TYPE(&cpu_info);

static const QmpMember cpu_info_fast_m[] = {
    { "cpu-index", &qmp_type_int },
    { "props", &cpu_props, .optional = true },
    { "qom-path", &qmp_type_str },
    { "target", &qmp_type_str },
    { "thread-id", &qmp_type_int },
    { NULL }
};
static const QmpType cpu_info_fast = QMP_OBJECT_TYPE(cpu_info_fast_m);
static const QmpType cpu_info_fast_list = QMP_ARRAY_TYPE(&cpu_info_fast);

static const QmpMember hotpluggable_cpu_m[] = {
    { "props", &cpu_props },
    { "qom-path", &qmp_type_str, .optional = true },
    { "type", &qmp_type_str },
    { "vcpus-count", &qmp_type_int },
    { NULL }
};
static const QmpType hotpluggable_cpu = QMP_OBJECT_TYPE(hotpluggable_cpu_m);
static const QmpType hotpluggable_cpu_list = QMP_ARRAY_TYPE(&hotpluggable_cpu);

static const QmpMember fdname_args_m[] = {
    { "fdname", &qmp_type_str },
    { NULL }
};
static const QmpType fdname_args = QMP_OBJECT_TYPE(fdname_args_m);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static Machine *M(QmpCommandCtx *ctx)
{
    return ctx->opaque;
}

static unsigned nonzero(unsigned v)
{
    return v ? v : 1;
}

static unsigned machine_max_cpus(Machine *m)
{
    unsigned n = m->cfg ? m->cfg->smp.maxcpus : 0;
    unsigned online = m->vcpus ? m->vcpus->len : 0;
    if (m->cfg && m->cfg->smp.cpus > n) {
        n = m->cfg->smp.cpus;
    }
    return n > online ? n : online;
}

/* {"core-id","socket-id","thread-id"} for CPU index i (the seeds' props). */
static JsonObject *cpu_props_for(Machine *m, unsigned i)
{
    const SmpConfig *smp = m->cfg ? &m->cfg->smp : NULL;
    unsigned threads = smp ? nonzero(smp->threads) : 1;
    unsigned cores = smp ? nonzero(smp->cores) : 1;
    unsigned per_socket = threads * cores *
        (smp ? nonzero(smp->dies) * nonzero(smp->clusters) : 1);
    JsonObject *p = json_object_new();

    json_object_set_int_member(p, "core-id", (i / threads) % cores);
    json_object_set_int_member(p, "socket-id", i / per_socket);
    json_object_set_int_member(p, "thread-id", i % threads);
    return p;
}

static Vcpu *vcpu_at(Machine *m, unsigned i)
{
    if (!m->vcpus || i >= m->vcpus->len) {
        return NULL;
    }
    return g_ptr_array_index(m->vcpus, i);
}

static char *cpu_qom_path(unsigned i)
{
    return g_strdup_printf("/machine/unattached/device[%u]", i);
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                */

static bool qmp_quit(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                     GError **err)
{
    /*
     * machine.c's shutdown handler (an idle callback, so after this reply is
     * written) emits SHUTDOWN {"guest":false,"reason":"host-qmp-quit"}; the
     * server stops reading this connection's input.
     */
    machine_request_shutdown(M(ctx), SHUTDOWN_HOST_QMP_QUIT);
    return true;
}

static bool qmp_stop(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                     GError **err)
{
    /* machine_pause emits STOP; "already paused" is a GenericError. */
    return machine_pause(M(ctx), err);
}

static bool qmp_cont(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                     GError **err)
{
    return machine_resume(M(ctx), err);
}

static bool qmp_system_reset(QmpCommandCtx *ctx, JsonObject *args,
                             JsonNode **ret, GError **err)
{
    machine_system_reset(M(ctx));
    return true;
}

static bool qmp_system_powerdown(QmpCommandCtx *ctx, JsonObject *args,
                                 JsonNode **ret, GError **err)
{
    machine_powerdown(M(ctx));
    return true;
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */

static bool qmp_query_status(QmpCommandCtx *ctx, JsonObject *args,
                             JsonNode **ret, GError **err)
{
    Machine *m = M(ctx);
    JsonObject *o = json_object_new();
    json_object_set_boolean_member(o, "running", m->runstate == RUN_STATE_RUNNING);
    json_object_set_boolean_member(o, "singlestep", FALSE);
    json_object_set_string_member(o, "status", runstate_name(m->runstate));
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_query_version(QmpCommandCtx *ctx, JsonObject *args,
                              JsonNode **ret, GError **err)
{
    JsonObject *o = json_object_new(), *q = json_object_new();
    json_object_set_int_member(q, "major", 5);
    json_object_set_int_member(q, "minor", 0);
    json_object_set_int_member(q, "micro", 1);
    json_object_set_object_member(o, "qemu", q);
    json_object_set_string_member(o, "package", "Stratus-" STRATUS_VERSION);
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_query_target(QmpCommandCtx *ctx, JsonObject *args,
                             JsonNode **ret, GError **err)
{
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "arch", "x86_64");
    *ret = qmp_node_object(o);
    return true;
}

/*
 * query-kvm "enabled": the machine runs on KVM (cfg->accel is the accelerator
 * machine_new() chose). "present" is m->kvm_present: /dev/kvm is usable.
 */
static bool machine_kvm_enabled(const Machine *m)
{
    return m->cfg && g_strcmp0(m->cfg->accel, "kvm") == 0;
}

static bool qmp_query_kvm(QmpCommandCtx *ctx, JsonObject *args,
                          JsonNode **ret, GError **err)
{
    Machine *m = M(ctx);
    JsonObject *o = json_object_new();
    json_object_set_boolean_member(o, "enabled", machine_kvm_enabled(m));
    json_object_set_boolean_member(o, "present", m->kvm_present);
    *ret = qmp_node_object(o);
    return true;
}

/* The registered machine classes (hw/device.h), QEMU's MachineInfo shape. */
static bool qmp_query_machines(QmpCommandCtx *ctx, JsonObject *args,
                               JsonNode **ret, GError **err)
{
    JsonArray *a = json_array_new();

    for (const MachineClass *const *mc = machine_class_all(); *mc; mc++) {
        JsonObject *o = json_object_new();
        json_object_set_int_member(o, "cpu-max", (*mc)->max_cpus);
        json_object_set_boolean_member(o, "deprecated", FALSE);
        json_object_set_boolean_member(o, "hotpluggable-cpus", FALSE);
        json_object_set_string_member(o, "name", (*mc)->name);
        if ((*mc)->is_default) {
            json_object_set_boolean_member(o, "is-default", TRUE);
        }
        json_object_set_boolean_member(o, "numa-mem-supported", FALSE);
        json_array_add_object_element(a, o);
    }
    *ret = qmp_node_array(a);
    return true;
}

static bool qmp_query_name(QmpCommandCtx *ctx, JsonObject *args,
                           JsonNode **ret, GError **err)
{
    Machine *m = M(ctx);
    JsonObject *o = json_object_new();
    if (m->cfg && m->cfg->name) {
        json_object_set_string_member(o, "name", m->cfg->name);
    }
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_query_uuid(QmpCommandCtx *ctx, JsonObject *args,
                           JsonNode **ret, GError **err)
{
    Machine *m = M(ctx);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "UUID",
        m->cfg && m->cfg->uuid ? m->cfg->uuid
                               : "00000000-0000-0000-0000-000000000000");
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_query_cpus(QmpCommandCtx *ctx, JsonObject *args,
                           JsonNode **ret, GError **err)
{
    Machine *m = M(ctx);
    JsonArray *a = json_array_new();
    Vcpu *v;
    for (unsigned i = 0; (v = vcpu_at(m, i)); i++) {
        JsonObject *o = json_object_new();
        char *path = cpu_qom_path(i);
        json_object_set_int_member(o, "CPU", i);
        json_object_set_string_member(o, "arch", "x86");
        json_object_set_boolean_member(o, "current", TRUE);
        json_object_set_boolean_member(o, "halted", FALSE);
        json_object_set_object_member(o, "props", cpu_props_for(m, i));
        json_object_set_string_member(o, "qom_path", path);
        json_object_set_int_member(o, "thread_id", v->tid);
        json_array_add_object_element(a, o);
        g_free(path);
    }
    *ret = qmp_node_array(a);
    return true;
}

static bool qmp_query_cpus_fast(QmpCommandCtx *ctx, JsonObject *args,
                                JsonNode **ret, GError **err)
{
    Machine *m = M(ctx);
    JsonArray *a = json_array_new();
    Vcpu *v;
    for (unsigned i = 0; (v = vcpu_at(m, i)); i++) {
        JsonObject *o = json_object_new();
        char *path = cpu_qom_path(i);
        json_object_set_int_member(o, "cpu-index", i);
        json_object_set_object_member(o, "props", cpu_props_for(m, i));
        json_object_set_string_member(o, "qom-path", path);
        json_object_set_string_member(o, "target", "x86_64");
        json_object_set_int_member(o, "thread-id", v->tid);
        json_array_add_object_element(a, o);
        g_free(path);
    }
    *ret = qmp_node_array(a);
    return true;
}

static bool qmp_query_hotpluggable_cpus(QmpCommandCtx *ctx, JsonObject *args,
                                        JsonNode **ret, GError **err)
{
    Machine *m = M(ctx);
    JsonArray *a;
    unsigned max = machine_max_cpus(m);

    if (m->machine_class && !m->machine_class->has_cpu_slots) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "The feature 'query-hotpluggable-cpus' is not enabled");
        return false;
    }
    a = json_array_new();
    for (unsigned i = 0; i < max; i++) {
        JsonObject *o = json_object_new();
        json_object_set_object_member(o, "props", cpu_props_for(m, i));
        if (vcpu_at(m, i)) {
            char *path = cpu_qom_path(i);
            json_object_set_string_member(o, "qom-path", path);
            g_free(path);
        }
        json_object_set_string_member(o, "type", QOM_TYPE_CPU);
        json_object_set_int_member(o, "vcpus-count", 1);
        json_array_add_object_element(a, o);
    }
    *ret = qmp_node_array(a);
    return true;
}

/* ------------------------------------------------------------------------ */
/* File descriptors                                                         */

static bool qmp_getfd(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                      GError **err)
{
    const char *name = json_object_get_string_member(args, "fdname");
    QmpSession *s = ctx->session;
    int fd;

    if (g_ascii_isdigit(name[0])) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Parameter 'fdname' expects a name not starting with a digit");
        return false;
    }
    fd = qmp_session_take_scm_fd(s);
    if (fd < 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Invalid SCM message");
        return false;
    }
    if (!s->named_fds) {
        close(fd);
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Invalid SCM message");
        return false;
    }
    /* A name used again replaces (and closes) its fd; new names are bounded. */
    if (g_hash_table_size(s->named_fds) >= QMP_MAX_NAMED_FDS &&
        !g_hash_table_contains(s->named_fds, name)) {
        close(fd);
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Too many named file descriptors on this monitor (at most %d)",
                      QMP_MAX_NAMED_FDS);
        return false;
    }
    g_hash_table_replace(s->named_fds, g_strdup(name), GINT_TO_POINTER(fd));
    return true;
}

static bool qmp_closefd(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                        GError **err)
{
    const char *name = json_object_get_string_member(args, "fdname");
    int fd = qmp_session_take_named_fd(ctx->session, name);
    if (fd < 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "File descriptor named '%s' not found", name);
        return false;
    }
    close(fd);
    return true;
}

/* ------------------------------------------------------------------------ */
/* QEMU's out-of-band commands                                              */

/*
 * QEMU 7.2 allows exec-oob for these two only; both act on a paused postcopy
 * migration. Stratus never migrates with postcopy, so each answers QEMU's
 * error for a VM in any other state (QEMU's qmp-test runs migrate-pause
 * out-of-band for exactly that error).
 */
static bool qmp_migrate_pause(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC,
                  "migrate-pause is currently only supported during postcopy-active state");
    return false;
}

static bool qmp_migrate_recover(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_GENERIC,
                  "Migrate recover can only be run when postcopy is paused.");
    return false;
}

/* ------------------------------------------------------------------------ */
/* --preconfig                                                               */

/*
 * What QEMU 7.2 marks allow-preconfig, of the commands Stratus has: the
 * protocol, queries that need no machine, QOM and the back ends (char, block,
 * net, objects). Stratus builds its machine before the phase (only the vCPUs
 * wait), so these answer as they would afterwards.
 */
static const char *const preconfig_commands[] = {
    "qmp_capabilities", "quit", "query-status", "query-version", "query-commands",
    "query-qmp-schema", "query-command-line-options", "query-hotpluggable-cpus",
    "human-monitor-command", "x-exit-preconfig",
    "qom-list", "qom-get", "qom-set", "qom-list-types", "qom-list-properties",
    "object-add", "object-del",
    "query-chardev", "query-chardev-backends", "chardev-add", "chardev-remove",
    "blockdev-add", "blockdev-del", "query-named-block-nodes", "netdev_add", "netdev_del",
    NULL
};

void qmp_enter_preconfig(QmpCommandTable *t)
{
    qmp_command_table_set_preconfig(t, preconfig_commands);
}

/* Ends the phase; then the VM starts unless -S asked to wait for 'cont'. */
static bool qmp_x_exit_preconfig(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                 GError **err)
{
    Machine *m = M(ctx);
    QmpCommandTable *t = qmp_server_table(m->qmp);

    if (!qmp_command_table_in_preconfig(t)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "The command is permitted only before machine initialization");
        return false;
    }
    qmp_command_table_set_preconfig(t, NULL);
    if (m->cfg->freeze_cpus) {
        return true;                /* QEMU's: stays in prelaunch */
    }
    return machine_resume(m, err);
}

static const QmpMember uri_args_m[] = {
    { "uri", &qmp_type_str },
    { NULL }
};
static const QmpType uri_args = QMP_OBJECT_TYPE(uri_args_m);

/* ------------------------------------------------------------------------ */
/* The table (query-commands order follows StratoVirt's catalogue)          */

static const QmpCommand machine_commands[] = {
    { "qmp_capabilities", qmp_cmd_qmp_capabilities, &qmp_capabilities_args,
      NULL, QMP_CMD_NEGOTIATION },
    { "quit", qmp_quit },
    { "stop", qmp_stop, .flags = QMP_CMD_EVENTS_FIRST },
    { "cont", qmp_cont, .flags = QMP_CMD_EVENTS_FIRST },
    { "system_powerdown", qmp_system_powerdown },
    { "system_reset", qmp_system_reset },
    { "query-hotpluggable-cpus", qmp_query_hotpluggable_cpus, NULL,
      &hotpluggable_cpu_list },
    { "query-cpus", qmp_query_cpus, NULL, &cpu_info_list, QMP_CMD_DEPRECATED },
    { "query-status", qmp_query_status, NULL, &status_info },
    { "getfd", qmp_getfd, &fdname_args },
    { "query-version", qmp_query_version, NULL, &version_info,
      QMP_CMD_ALLOW_EXTRA_ARGS },
    { "query-commands", qmp_cmd_query_commands, NULL, &qmp_commands_ret,
      QMP_CMD_ALLOW_EXTRA_ARGS },
    { "query-target", qmp_query_target, NULL, &target_info,
      QMP_CMD_ALLOW_EXTRA_ARGS },
    { "query-kvm", qmp_query_kvm, NULL, &kvm_info, QMP_CMD_ALLOW_EXTRA_ARGS },
    { "query-machines", qmp_query_machines, NULL, &machine_info_list,
      QMP_CMD_ALLOW_EXTRA_ARGS },
    { "query-events", qmp_cmd_query_events, NULL, &qmp_events_ret,
      QMP_CMD_ALLOW_EXTRA_ARGS },
    { "query-qmp-schema", qmp_cmd_query_qmp_schema, NULL, &qmp_schema_ret,
      QMP_CMD_ALLOW_EXTRA_ARGS },
    /*
     * hmp.c. Events first, as QEMU writes those an HMP command raises
     * (STOP, RESUME, RESET, POWERDOWN) before its reply.
     */
    { "human-monitor-command", qmp_cmd_human_monitor_command, &qmp_hmp_args,
      &qmp_type_str, QMP_CMD_EVENTS_FIRST },
    { "query-cpus-fast", qmp_query_cpus_fast, NULL, &cpu_info_fast_list },
    { "query-name", qmp_query_name, NULL, &name_info },
    { "query-uuid", qmp_query_uuid, NULL, &uuid_info },
    { "closefd", qmp_closefd, &fdname_args },
    { "migrate-pause", qmp_migrate_pause, .flags = QMP_CMD_ALLOW_OOB },
    { "migrate-recover", qmp_migrate_recover, &uri_args, .flags = QMP_CMD_ALLOW_OOB },
    { "x-exit-preconfig", qmp_x_exit_preconfig, .flags = QMP_CMD_EVENTS_FIRST },
    { NULL }
};

void qmp_register_machine_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, machine_commands);
}
