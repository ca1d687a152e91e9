/*
 * HMP, QEMU's human monitor, as QMP's human-monitor-command runs it (the only
 * way to reach it in Stratus: there is no HMP console). qmp-shell -H and the
 * tools built on QEMUMachine send these lines.
 *
 * One table of commands (name with its aliases, QEMU's args_type, params and
 * help text) drives parsing, dispatch, `help` and `info`, as in QEMU's
 * monitor/hmp.c: the same parser (command names end at a space or '/',
 * arguments typed by args_type, "extraneous characters" and "Try \"help
 * ...\"" on errors), the same texts. Each command prints what QEMU 7.2 prints
 * for the same state, usually by running the QMP command QEMU's HMP command
 * runs (stop, cont, query-block, query-balloon, ...) through this server's
 * command table. An unknown command is not a QMP error: its text
 * ("unknown command: 'foo'") is the result, as in QEMU.
 *
 * Output is built with "\n" line ends and returned with "\r\n", as QEMU's
 * monitor writes it. Handlers run on the main loop with the machine lock held.
 *
 * This file: the shared helpers, the command tables, dispatch, `help`, the
 * lifecycle commands and human-monitor-command itself; the parser and the
 * families of commands are in the files hmp-internal.h lists.
 */
#include <stdarg.h>
#include <string.h>

#include "qmp/hmp-internal.h"
#include "qmp/qmp-json.h"

void hmp_printf(Hmp *h, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(h->out, fmt, ap);
    va_end(ap);
}

void hmp_error(Hmp *h, const GError *err)
{
    hmp_printf(h, "Error: %s\n", err->message);
}

const char *hmp_arg_str(HmpArgs *args, const char *key)
{
    return g_hash_table_lookup(args, key);
}

bool hmp_arg_flag(HmpArgs *args, const char *key)
{
    return g_hash_table_contains(args, key);
}

bool hmp_qmp(Hmp *h, const char *name, JsonObject *args, JsonNode **ret,
                    GError **err)
{
    const QmpCommand *cmd = qmp_command_table_find(h->qmp->table, name);
    QmpCommandCtx ctx = *h->qmp;
    g_autoptr(JsonObject) empty = json_object_new();
    JsonNode *dummy = NULL;
    bool ok;

    if (!cmd) {
        qmp_error_set(err, STRATUS_ERROR_COMMAND_NOT_FOUND,
                      "The command %s has not been found", name);
        return false;
    }
    /* As the dispatcher does: handlers rely on their arguments' schema. */
    if (args && cmd->args && !qmp_validate_args(cmd->args, args, cmd->flags & QMP_CMD_ALLOW_EXTRA_ARGS,
                                   err)) {
        return false;
    }
    ctx.cmd = cmd;
    ok = cmd->fn(&ctx, args ? args : empty, ret ? ret : &dummy, err);
    if (dummy) {
        json_node_unref(dummy);
    }
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle commands                                                        */

/* QEMU's stop is a no-op on a VM that is not running (Stratus's QMP stop errs). */
static void hmp_stop(Hmp *h, HmpArgs *args)
{
    g_autoptr(GError) err = NULL;

    if (h->m->runstate == RUN_STATE_RUNNING && !hmp_qmp(h, "stop", NULL, NULL, &err)) {
        hmp_error(h, err);
    }
}

/* As QEMU's: nothing when running, else the error QMP cont gives, if any. */
static void hmp_cont(Hmp *h, HmpArgs *args)
{
    g_autoptr(GError) err = NULL;

    if (h->m->runstate != RUN_STATE_RUNNING && !hmp_qmp(h, "cont", NULL, NULL, &err)) {
        hmp_error(h, err);
    }
}

static void hmp_simple_qmp(Hmp *h, const char *name)
{
    g_autoptr(GError) err = NULL;

    if (!hmp_qmp(h, name, NULL, NULL, &err)) {
        hmp_error(h, err);
    }
}

static void hmp_system_reset(Hmp *h, HmpArgs *args)
{
    hmp_simple_qmp(h, "system_reset");
}

static void hmp_system_powerdown(Hmp *h, HmpArgs *args)
{
    hmp_simple_qmp(h, "system_powerdown");
}

/*
 * `cpu N` sets the monitor's current CPU. human-monitor-command's monitor
 * lives for one command (QEMU's too), so only the check remains: qmp-shell -H
 * sends `cpu N` after choosing the index it passes as cpu-index from then on.
 */
static void hmp_cpu(Hmp *h, HmpArgs *args)
{
    gint64 index = g_ascii_strtoll(hmp_arg_str(args, "index"), NULL, 10);

    if (index < 0 || !h->m->vcpus || index >= (gint64)h->m->vcpus->len) {
        hmp_printf(h, "invalid CPU index\n");
    }
}

/* The reply goes out, then the machine shuts down (SHUTDOWN host-qmp-quit). */
static void hmp_quit(Hmp *h, HmpArgs *args)
{
    hmp_simple_qmp(h, "quit");
}

/*
 * QMP device_del keeps StratoVirt's "Device x not found"; HMP is QEMU's
 * alone, so it prints QEMU's "Device 'x' not found".
 */
static void hmp_device_del(Hmp *h, HmpArgs *args)
{
    const char *id = hmp_arg_str(args, "id");
    g_autoptr(JsonObject) a = json_object_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *stratovirt_text = g_strdup_printf("Device %s not found", id);

    json_object_set_string_member(a, "id", id);
    if (hmp_qmp(h, "device_del", a, NULL, &err)) {
        return;
    }
    if (!strcmp(err->message, stratovirt_text)) {
        hmp_printf(h, "Error: Device '%s' not found\n", id);
    } else {
        hmp_error(h, err);
    }
}

/* ------------------------------------------------------------------------ */
/* help / info listings                                                      */

static HmpFn hmp_help, hmp_info_help;

/*
 * Both tables sorted by name, as QEMU sorts its tables at startup: `help`
 * and `info` list them in this order. Texts are QEMU 7.2's.
 */
static const HmpCommand hmp_info_cmds[] = {
    { "balloon", "", "", "show balloon information", hmp_info_balloon },
    { "block", "nodes:-n,verbose:-v,device:B?", "[-n] [-v] [device]",
      "show info of one block device or all block devices "
      "(-n: show named nodes; -v: show details)", hmp_info_block },
    { "cpus", "", "", "show infos for each CPU", hmp_info_cpus },
    { "kvm", "", "", "show KVM information", hmp_info_kvm },
    { "migrate", "", "", "show migration status", hmp_info_migrate },
    /* QEMU's -o and -d are left out (see hmp_info_mtree). */
    { "mtree", "flatview:-f,disabled:-D", "[-f][-D]",
      "show memory tree (-f: dump flat view for address spaces;"
      "-D: dump disabled regions)", hmp_info_mtree },
    { "name", "", "", "show the current VM name", hmp_info_name },
    { "network", "", "", "show the network state", hmp_info_network },
    { "qdm", "", "", "show qdev device model list", hmp_info_qdm },
    { "qom-tree", "path:s?", "[path]", "show QOM composition tree", hmp_info_qom_tree },
    { "qtree", "", "", "show device tree", hmp_info_qtree },
    { "status", "", "", "show the current VM status (running|paused)", hmp_info_status },
    { "uuid", "", "", "show the current VM UUID", hmp_info_uuid },
    { "version", "", "", "show the version of QEMU", hmp_info_version },
    { NULL }
};

static const HmpCommand hmp_cmds[] = {
    { "cont|c", "", "", "resume emulation", hmp_cont },
    { "cpu", "index:i", "index", "set the default CPU", hmp_cpu },
    { "device_add", "device:O", "driver[,prop=value][,...]",
      "add device, like -device on the command line", hmp_device_add },
    { "device_del", "id:s", "device", "remove device", hmp_device_del },
    { "help|?", "name:S?", "[cmd]", "show the help", hmp_help },
    { "info", "item:s?", "[subcommand]", "show various information about the system state",
      hmp_info_help, hmp_info_cmds },
    { "quit|q", "", "", "quit the emulator", hmp_quit },
    { "stop|s", "", "", "stop emulation", hmp_stop },
    { "system_powerdown", "", "", "send system power down event", hmp_system_powerdown },
    { "system_reset", "", "", "reset the system", hmp_system_reset },
    { NULL }
};


/* ------------------------------------------------------------------------ */
/* Dispatch and help                                                         */

/* handle_hmp_command(). */
static void hmp_handle(Hmp *h, const char *line)
{
    const char *cmd_start = line, *end;
    const HmpCommand *cmd = hmp_parse_command(h, line, &line, hmp_cmds);
    HmpArgs *args;

    if (!cmd) {
        return;
    }
    args = hmp_parse_arguments(h, line, cmd);
    if (!args) {
        for (end = line; end > cmd_start && hmp_is_space(end[-1]); end--) {
        }
        hmp_printf(h, "Try \"help %.*s\" for more information\n",
                   (int)(end - cmd_start), cmd_start);
        return;
    }
    cmd->fn(h, args);
    g_hash_table_unref(args);
}

/* help_cmd_dump_one(). */
static void help_dump_one(Hmp *h, const HmpCommand *cmd, char **prefix, int nprefix)
{
    for (int i = 0; i < nprefix; i++) {
        hmp_printf(h, "%s ", prefix[i]);
    }
    hmp_printf(h, "%s %s -- %s\n", cmd->name, cmd->params, cmd->help);
}

/* help_cmd_dump(): args[index] names the entry of table to show (all if none). */
static void help_dump(Hmp *h, const HmpCommand *table, char **args, int nargs, int index)
{
    if (index >= nargs) {
        for (const HmpCommand *c = table; c->name; c++) {
            help_dump_one(h, c, args, index);
        }
        return;
    }
    for (const HmpCommand *c = table; c->name; c++) {
        if (hmp_name_matches(args[index], c->name)) {
            if (c->sub_table) {
                help_dump(h, c->sub_table, args, nargs, index + 1);
            } else {
                help_dump_one(h, c, args, index);
            }
            return;
        }
    }
    hmp_printf(h, "unknown command: '");
    for (int i = 0; i <= index; i++) {
        hmp_printf(h, "%s%s", args[i], i == index ? "'\n" : " ");
    }
}

/* help_cmd(): name split into words (QEMU's limit: 16; more shows nothing). */
static void help_cmd(Hmp *h, const char *name)
{
    g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) buf = g_string_new(NULL);
    const char *p = name;

    while (p) {
        while (hmp_is_space(*p)) {
            p++;
        }
        if (!*p) {
            break;
        }
        if (words->len >= 16 || !hmp_get_str(buf, &p)) {
            return;
        }
        g_ptr_array_add(words, g_strdup(buf->str));
    }
    help_dump(h, hmp_cmds, (char **)words->pdata, (int)words->len, 0);
}

static void hmp_help(Hmp *h, HmpArgs *args)
{
    help_cmd(h, hmp_arg_str(args, "name"));
}

static void hmp_info_help(Hmp *h, HmpArgs *args)
{
    help_cmd(h, "info");
}

/* ------------------------------------------------------------------------ */
/* human-monitor-command                                                     */

static const QmpMember hmp_args_m[] = {
    { "command-line", &qmp_type_str },
    { "cpu-index", &qmp_type_int, .optional = true },
    { NULL }
};
const QmpType qmp_hmp_args = QMP_OBJECT_TYPE(hmp_args_m);

/* Every "\n" becomes "\r\n", as QEMU's monitor output does. */
static char *crlf(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    return g_strjoinv("\r\n", lines);
}

char *hmp_run(QmpCommandCtx *ctx, const char *line, unsigned cpu_index)
{
    Hmp h = { .m = ctx->opaque, .qmp = ctx, .out = g_string_new(NULL),
              .cpu_index = cpu_index };
    char *text;

    hmp_handle(&h, line);
    text = crlf(h.out->str);
    g_string_free(h.out, TRUE);
    return text;
}

bool qmp_cmd_human_monitor_command(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                   GError **err)
{
    Machine *m = ctx->opaque;
    gint64 cpu = 0;
    g_autofree char *text = NULL;

    /* QEMU's monitor_set_cpu(): an index no vCPU has is refused. */
    if (json_object_has_member(args, "cpu-index")) {
        cpu = json_object_get_int_member(args, "cpu-index");
        if (cpu < 0 || !m->vcpus || cpu >= (gint64)m->vcpus->len) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
                          "Parameter 'cpu-index' expects a CPU number");
            return false;
        }
    }
    text = hmp_run(ctx, json_object_get_string_member(args, "command-line"),
                   (unsigned)cpu);
    *ret = qmp_node_str(text);
    return true;
}

/* For tests: the tables are sorted as QEMU sorts its own (help lists them so). */
bool hmp_tables_sorted(void)
{
    const HmpCommand *tables[] = { hmp_cmds, hmp_info_cmds };

    for (size_t t = 0; t < G_N_ELEMENTS(tables); t++) {
        for (const HmpCommand *c = tables[t]; c->name && c[1].name; c++) {
            if (strcmp(c->name, c[1].name) >= 0) {
                return false;
            }
        }
    }
    return true;
}
