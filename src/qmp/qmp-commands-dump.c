/*
 * Guest core dumps (docs/qmp.md "Guest core dumps"): QEMU 7.2's
 * dump-guest-memory in its ELF format without paging, query-dump,
 * query-dump-guest-memory-capability and the DUMP_COMPLETED event.
 *
 * Choices where QEMU differs or is silent:
 * - Only the ELF format is written (the capability query says so); the
 *   kdump and win-dmp formats answer QEMU's "X is not available now".
 *   paging=true (virtual-address segments from the guest's page tables) is
 *   refused with a GenericError.
 * - The vCPUs are parked while the file is written, as memsave parks them,
 *   without STOP/RESUME events.
 * - detach=true answers first and writes the dump right after, still on the
 *   main loop (QEMU uses a thread): query-dump shows it completed or failed.
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"
#include "cpus.h"
#include "accel/accel.h"
#include "accel/x86-elf-core.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-events.h"
#include "qmp/qmp-json.h"

enum { DUMP_NONE, DUMP_ACTIVE, DUMP_COMPLETED, DUMP_FAILED };
/* In qmp_dump_status_values' order. */

static const char *const dump_format_values[] = { "elf", "kdump-zlib", "kdump-lzo",
                                                  "kdump-snappy", "win-dmp", NULL };
static const QmpType dump_format = QMP_ENUM_TYPE(dump_format_values);
static const QmpMember dump_args_m[] = {
    { "paging", &qmp_type_bool }, { "protocol", &qmp_type_str },
    { "detach", &qmp_type_bool, .optional = true },
    { "begin", &qmp_type_int, .optional = true },
    { "length", &qmp_type_int, .optional = true },
    { "format", &dump_format, .optional = true },
    { NULL }
};
static const QmpType dump_args = QMP_OBJECT_TYPE(dump_args_m);

static JsonNode *dump_info_node(const Machine *m)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "status", qmp_dump_status_values[m->dump.status]);
    json_object_set_int_member(o, "completed", (gint64)m->dump.completed);
    json_object_set_int_member(o, "total", (gint64)m->dump.total);
    return qmp_node_object(o);
}

/* Every vCPU's registers; zeros under qtest, where no vCPU state exists. */
static X86VcpuState *vcpu_states(Machine *m, unsigned *n, GError **err)
{
    unsigned count = m->vcpus ? m->vcpus->len : 0;
    X86VcpuState *st = g_new0(X86VcpuState, MAX(count, 1));

    for (unsigned i = 0; m->accel_ops->vcpu_get_state && i < count; i++) {
        if (!m->accel_ops->vcpu_get_state(g_ptr_array_index(m->vcpus, i), &st[i], err)) {
            g_free(st);
            return NULL;
        }
    }
    *n = count;
    return st;
}

/* Writes the dump to fd (closed here), then DUMP_COMPLETED; false + *errp on failure. */
static bool dump_run(Machine *m, int fd, uint64_t begin, uint64_t length, GError **errp)
{
    bool running = m->runstate == RUN_STATE_RUNNING, ok = false;
    X86ElfCore core = { .ram = &m->ram, .begin = begin, .length = length };
    GError *err = NULL;
    X86VcpuState *st;
    JsonObject *ev = json_object_new();

    if (running) {
        cpus_pause_all(m);
    }
    m->dump.total = x86_elf_core_ram_bytes(&core);
    st = vcpu_states(m, &core.n_cpus, &err);
    if (st) {
        core.cpus = st;
        ok = x86_elf_core_write(&core, fd, &m->dump.completed, &err);
        g_free(st);
    }
    if (running) {
        cpus_resume_all(m);
    }
    close(fd);
    m->dump.status = ok ? DUMP_COMPLETED : DUMP_FAILED;
    json_object_set_member(ev, "result", dump_info_node(m));
    if (!ok) {
        json_object_set_string_member(ev, "error", err->message);
    }
    machine_emit_event(m, "DUMP_COMPLETED", qmp_node_object(ev));
    if (err) {
        g_propagate_error(errp, err);
    }
    return ok;
}

typedef struct DetachedDump {
    Machine *m;
    int fd;
    uint64_t begin, length;
} DetachedDump;

/* Main-loop sources are dispatched with the machine lock held. */
static gboolean dump_detached(gpointer opaque)
{
    DetachedDump *d = opaque;

    dump_run(d->m, d->fd, d->begin, d->length, NULL);
    d->fd = -1;
    return G_SOURCE_REMOVE;
}

/* Also runs when the machine quits before the dump started. */
static void dump_detached_free(gpointer opaque)
{
    DetachedDump *d = opaque;

    if (d->fd >= 0) {
        close(d->fd);
    }
    g_free(d);
}

static int open_protocol(QmpCommandCtx *ctx, const char *protocol, GError **err)
{
    int fd;

    if (g_str_has_prefix(protocol, "fd:")) {
        fd = qmp_session_take_named_fd(ctx->session, protocol + 3);
        if (fd < 0) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
                          "File descriptor named '%s' has not been found", protocol + 3);
        }
        return fd;
    }
    if (g_str_has_prefix(protocol, "file:")) {
        fd = open(protocol + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, S_IRUSR);
        if (fd < 0) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "Could not open '%s': %s", protocol + 5,
                          g_strerror(errno));
        }
        return fd;
    }
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "Invalid parameter 'protocol'");
    return -1;
}

/* QEMU's checks before anything is opened. */
static bool dump_args_ok(Machine *m, JsonObject *args, GError **err)
{
    bool has_begin = json_object_has_member(args, "begin");
    bool has_length = json_object_has_member(args, "length");
    const char *format = json_object_has_member(args, "format") ?
                         json_object_get_string_member(args, "format") : "elf";

    if (m->dump.status == DUMP_ACTIVE) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "There is a dump in process, please wait.");
    } else if (has_begin && !has_length) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'length' is missing");
    } else if (!has_begin && has_length) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'begin' is missing");
    } else if (strcmp(format, "elf")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "%s is not available now", format);
    } else if (json_object_get_boolean_member(args, "paging")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "paging=true is not supported: Stratus dumps guest-physical memory");
    } else if (has_length && json_object_get_int_member(args, "length") <= 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'length' expects a positive value");
    } else {
        return true;
    }
    return false;
}

static bool qmp_dump_guest_memory(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                  GError **err)
{
    Machine *m = ctx->opaque;
    uint64_t begin = 0, length = 0;
    int fd;

    if (!dump_args_ok(m, args, err) ||
        (fd = open_protocol(ctx, json_object_get_string_member(args, "protocol"), err)) < 0) {
        return false;
    }
    if (json_object_has_member(args, "begin")) {     /* then length too: dump_args_ok */
        begin = (uint64_t)json_object_get_int_member(args, "begin");
        length = (uint64_t)json_object_get_int_member(args, "length");
    }
    m->dump.status = DUMP_ACTIVE;
    m->dump.completed = m->dump.total = 0;
    if (json_object_has_member(args, "detach") &&
        json_object_get_boolean_member(args, "detach")) {
        DetachedDump *d = g_new(DetachedDump, 1);
        GSource *src = g_idle_source_new();

        *d = (DetachedDump){ m, fd, begin, length };
        g_source_set_callback(src, dump_detached, d, dump_detached_free);
        g_source_attach(src, m->ctx);
        g_source_unref(src);
        return true;
    }
    return dump_run(m, fd, begin, length, err);
}

static bool qmp_query_dump(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    *ret = dump_info_node(ctx->opaque);
    return true;
}

static const QmpType format_list = QMP_ARRAY_TYPE(&dump_format);
static const QmpMember capability_m[] = { { "formats", &format_list }, { NULL } };
static const QmpType capability = QMP_OBJECT_TYPE(capability_m);

static bool qmp_query_dump_capability(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                      GError **err)
{
    JsonObject *o = json_object_new();
    JsonArray *a = json_array_new();

    json_array_add_string_element(a, "elf");
    json_object_set_array_member(o, "formats", a);
    *ret = qmp_node_object(o);
    return true;
}

static const QmpCommand dump_cmds[] = {
    /* Without detach, DUMP_COMPLETED comes before the reply, as in QEMU. */
    { "dump-guest-memory", qmp_dump_guest_memory, &dump_args, NULL, QMP_CMD_EVENTS_FIRST },
    { "query-dump", qmp_query_dump, NULL, &qmp_dump_info },
    { "query-dump-guest-memory-capability", qmp_query_dump_capability, NULL, &capability },
    { NULL }
};

void qmp_register_dump_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, dump_cmds);
}
