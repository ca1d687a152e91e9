/*
 * Command-line parsing (StratoVirt's syntax, plus the QEMU spellings that QEMU
 * tooling passes). config_parse() turns argv into a StratusConfig and checks
 * every value and every cross-option rule, so that machine creation never
 * sees bad input. Nothing here touches the host and nothing here logs: every
 * problem is reported as a one-line GError that names the option.
 *
 * This file walks argv, hands each option to its handler (the opt-*.c files,
 * grouped by what the options configure; see options-internal.h) and applies
 * the rules that span them; it also owns the StratusConfig object.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

/* ------------------------------------------------------------------------ */
/* Config objects                                                            */
/* ------------------------------------------------------------------------ */

static void optlist_free_gp(gpointer p)
{
    optlist_free(p);
}

static StratusConfig *config_new_default(void)
{
    StratusConfig *cfg = g_new0(StratusConfig, 1);

    cfg->machine_type = g_strdup("microvm");
    cfg->accel = g_strdup("kvm:emu");
    cfg->accel_auto = true;
    cfg->dump_guest_core = true;
    cfg->sandbox = SANDBOX_ON;          /* docs/security.md */
    cfg->mem_share = false;
    cfg->smp = (SmpConfig){ .cpus = 1, .maxcpus = 1, .sockets = 1, .dies = 1,
                            .clusters = 1, .cores = 1, .threads = 1 };
    cfg->mem_size = DEFAULT_MEMORY_SIZE;
    cfg->boot_splash_time = -1;
    cfg->boot_reboot_timeout = -1;
    cfg->chardevs = g_ptr_array_new_with_free_func(opt_chardev_config_free);
    cfg->monitors = g_ptr_array_new_with_free_func(opt_monitor_config_free);
    cfg->drives = g_ptr_array_new_with_free_func(optlist_free_gp);
    cfg->devices = g_ptr_array_new_with_free_func(optlist_free_gp);
    cfg->device_origins = g_ptr_array_new_with_free_func(g_free);
    cfg->netdevs = g_ptr_array_new_with_free_func(optlist_free_gp);
    cfg->objects = g_ptr_array_new_with_free_func(optlist_free_gp);
    cfg->cameradevs = g_ptr_array_new_with_free_func(optlist_free_gp);
    cfg->rtc_base = g_strdup("utc");
    cfg->rtc_clock = g_strdup("host");
    cfg->fw_cfg_items = g_ptr_array_new_with_free_func(opt_fw_cfg_item_free);
    cfg->globals = g_ptr_array_new_with_free_func(opt_global_free);
    return cfg;
}

void config_free(StratusConfig *cfg)
{
    if (!cfg) {
        return;
    }
    g_free(cfg->machine_type);
    g_free(cfg->accel);
    g_free(cfg->accel_option);
    g_free(cfg->kernel);
    g_free(cfg->initrd);
    g_free(cfg->append);
    g_ptr_array_unref(cfg->chardevs);
    g_ptr_array_unref(cfg->monitors);
    g_free(cfg->serial_chardev);
    g_ptr_array_unref(cfg->drives);
    g_ptr_array_unref(cfg->devices);
    g_ptr_array_unref(cfg->device_origins);
    g_ptr_array_unref(cfg->netdevs);
    g_ptr_array_unref(cfg->objects);
    g_ptr_array_unref(cfg->cameradevs);
    g_ptr_array_unref(cfg->fw_cfg_items);
    g_ptr_array_unref(cfg->globals);
    g_free(cfg->name);
    g_free(cfg->uuid);
    g_free(cfg->logfile);
    g_free(cfg->pidfile);
    g_free(cfg->runas);
    g_free(cfg->chroot_dir);
    g_free(cfg->qtest);
    g_free(cfg->qtest_log);
    g_free(cfg->incoming);
    g_free(cfg->incoming_uri);
    g_free(cfg->cpu_model);
    g_free(cfg->rtc_base);
    g_free(cfg->rtc_clock);
    g_free(cfg->action_reboot);
    g_free(cfg->action_panic);
    g_free(cfg->action_watchdog);
    g_free(cfg->boot_order);
    g_free(cfg);
}

const ChardevConfig *config_find_chardev(const StratusConfig *cfg, const char *id)
{
    if (!cfg || !id) {
        return NULL;
    }
    for (guint i = 0; i < cfg->chardevs->len; i++) {
        const ChardevConfig *c = g_ptr_array_index(cfg->chardevs, i);
        if (strcmp(c->id, id) == 0) {
            return c;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Per-option dispatch                                                       */
/* ------------------------------------------------------------------------ */

static bool handle_path(const char *opt, const char *value, char **out, GError **err)
{
    if (!opt_check_str(opt, "path", value, MAX_PATH_LENGTH, err)) {
        return false;
    }
    g_free(*out);
    *out = g_strdup(value);
    return true;
}

static bool handle_none_only(const char *opt, const char *value, GError **err)
{
    if (strcmp(value, "none") != 0) {
        set_error(err, "%s: unsupported value '%.64s' (only 'none' is supported)", opt, value);
        return false;
    }
    return true;
}

/*
 * -incoming file:DIR[,mapped=on|off|true|false] (StratoVirt's spelling is
 * true/false, QEMU-style on/off is accepted too), or tcp:HOST:PORT /
 * unix:PATH for a live migration (the address is checked when the machine
 * listens on it), or QEMU's "defer" (the address comes with QMP
 * migrate-incoming).
 */
static bool handle_incoming(StratusConfig *cfg, const char *opt, const char *value,
                            GError **err)
{
    g_autofree char *dir = NULL;
    const char *comma;
    bool mapped = true;

    if (g_str_has_prefix(value, "tcp:") || g_str_has_prefix(value, "unix:") ||
        !strcmp(value, "defer")) {
        if (strcmp(value, "defer") && !value[strcspn(value, ":") + 1]) {
            set_error(err, "%s: '%s' needs an address", opt, value);
            return false;
        }
        g_free(cfg->incoming);
        cfg->incoming = NULL;
        g_free(cfg->incoming_uri);
        cfg->incoming_uri = g_strdup(value);
        return true;
    }
    if (!g_str_has_prefix(value, "file:")) {
        set_error(err, "%s: unsupported URI '%.64s' (expected file:DIR[,mapped=on|off], "
                  "tcp:IP:PORT, unix:PATH or defer)",
                  opt, value);
        return false;
    }
    dir = g_strdup(value + strlen("file:"));
    comma = strrchr(dir, ',');
    if (comma && strchr(comma, '=')) {
        const char *v = comma + 1;
        if (!g_str_has_prefix(v, "mapped=")) {
            set_error(err, "%s: unknown parameter '%.*s'", opt, (int)strcspn(v, "="), v);
            return false;
        }
        v += strlen("mapped=");
        if (!strcmp(v, "on") || !strcmp(v, "true")) {
            mapped = true;
        } else if (!strcmp(v, "off") || !strcmp(v, "false")) {
            mapped = false;
        } else {
            set_error(err, "%s: mapped= expects on, off, true or false, not '%.64s'", opt, v);
            return false;
        }
        dir[comma - dir] = '\0';
    }
    if (!*dir) {
        set_error(err, "%s: file: needs the snapshot's directory", opt);
        return false;
    }
    if (!handle_path(opt, dir, &cfg->incoming, err)) {
        return false;
    }
    g_clear_pointer(&cfg->incoming_uri, g_free);
    cfg->incoming_mapped = mapped;
    return true;
}

/* StratoVirt 0.x's QMP socket option; the socket is always a listening one. */
static bool handle_api_channel(ParseCtx *ctx, const char *opt, const char *value,
                               GError **err)
{
    g_autofree char *qmp = NULL;

    if (!g_str_has_prefix(value, "unix:") || !value[5] || strchr(value, ',')) {
        set_error(err, "%s: expected unix:PATH, got '%.64s'", opt, value);
        return false;
    }
    qmp = g_strdup_printf("%s,server,nowait", value);
    return opt_handle_qmp(ctx, opt, qmp, err);
}

/* QEMU's -sandbox on|off; its other keys (obsolete=, spawn=...) are not taken. */
static bool opt_handle_sandbox(StratusConfig *cfg, const char *opt, const char *value,
                               GError **err)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", -1);
    bool debug = false;

    for (char **p = parts + 1; *p; p++) {
        if (!strcmp(*p, "debug=on") || !strcmp(*p, "debug")) {
            debug = true;
        } else if (strcmp(*p, "debug=off") != 0) {
            set_error(err, "%s: invalid parameter '%.64s' (expected debug=on|off)", opt, *p);
            return false;
        }
    }
    if (!strcmp(parts[0], "on") || !strcmp(parts[0], "1")) {
        cfg->sandbox = debug ? SANDBOX_DEBUG : SANDBOX_ON;
    } else if (!strcmp(parts[0], "off") || !strcmp(parts[0], "0")) {
        cfg->sandbox = SANDBOX_OFF;
    } else {
        set_error(err, "%s: invalid value '%.64s' (expected on or off)", opt, parts[0]);
        return false;
    }
    return true;
}

static bool handle_option(ParseCtx *ctx, const OptDef *def, const char *opt,
                          const char *value, GError **err);

/*
 * -readconfig FILE: its sections apply where the option stands on the
 * command line, as QEMU reads it; errors are prefixed with FILE:LINE.
 */
static bool handle_readconfig(ParseCtx *ctx, const char *value, GError **err)
{
    g_autoptr(GPtrArray) items = readconfig_load(value, err);

    if (!items) {
        g_prefix_error(err, "-readconfig: ");
        return false;
    }
    for (guint i = 0; i < items->len; i++) {
        const ConfigItem *it = g_ptr_array_index(items, i);
        const OptDef *def = opt_def_by_id(it->id);
        g_autofree char *opt = g_strdup_printf("-%s", def->name);
        GError *local = NULL;

        if (!handle_option(ctx, def, opt, it->value, &local)) {
            set_error(err, "-readconfig: %s: %s", it->where, local->message);
            g_error_free(local);
            return false;
        }
    }
    return true;
}

static bool handle_option(ParseCtx *ctx, const OptDef *def, const char *opt,
                          const char *value, GError **err)
{
    StratusConfig *cfg = ctx->cfg;

    switch (def->id) {
    case OPT_MACHINE:
        return opt_handle_machine(ctx, opt, value, err);
    case OPT_ACCEL:
        return opt_handle_accel(ctx, opt, value, err);
    case OPT_ENABLE_KVM:
        ctx->enable_kvm = true;
        return true;
    case OPT_SMP:
        return opt_handle_smp(ctx, opt, value, err);
    case OPT_MEM:
        return opt_handle_mem(ctx, opt, value, err);
    case OPT_KERNEL:
        return handle_path(opt, value, &cfg->kernel, err);
    case OPT_INITRD:
        return handle_path(opt, value, &cfg->initrd, err);
    case OPT_APPEND:
        if (cfg->append) {
            char *joined = g_strjoin(" ", cfg->append, value, NULL);
            g_free(cfg->append);
            cfg->append = joined;
        } else {
            cfg->append = g_strdup(value);
        }
        return true;
    case OPT_SERIAL:
        return opt_handle_serial(ctx, opt, value, err);
    case OPT_CHARDEV:
        return opt_handle_chardev(ctx, opt, value, err);
    case OPT_QMP:
        return opt_handle_qmp(ctx, opt, value, err);
    case OPT_MON:
        return opt_handle_mon(ctx, opt, value, err);
    case OPT_NAME:
        return opt_handle_name(ctx, opt, value, err);
    case OPT_UUID:
        return opt_handle_uuid(ctx, opt, value, err);
    case OPT_GLOBAL:
        return opt_handle_global(ctx, opt, value, err);
    case OPT_LOG:
        cfg->log_enabled = true;
        if (value) {
            return handle_path(opt, value, &cfg->logfile, err);
        }
        return true;
    case OPT_DAEMONIZE:
        cfg->daemonize = true;
        return true;
    case OPT_PIDFILE:
        return handle_path(opt, value, &cfg->pidfile, err);
    case OPT_FREEZE:
        cfg->freeze_cpus = true;
        return true;
    case OPT_PRECONFIG:
        cfg->preconfig = true;
        return true;
    case OPT_READCONFIG:
        return handle_readconfig(ctx, value, err);
    case OPT_DRIVE:
        return opt_handle_drive(ctx, opt, value, err);
    case OPT_DEVICE:
        return opt_handle_device(ctx, opt, value, err);
    case OPT_NETDEV:
        return opt_handle_netdev(ctx, opt, value, err);
    case OPT_OBJECT:
        return opt_handle_object(ctx, opt, value, err);
    case OPT_CAMERADEV:
        return opt_handle_cameradev(ctx, opt, value, err);
    case OPT_QTEST:
        return opt_handle_qtest(ctx, opt, value, err);
    case OPT_QTEST_LOG:
        if (strcmp(value, "none") == 0) {
            cfg->qtest_log = g_strdup(value);
            return true;
        }
        return handle_path(opt, value, &cfg->qtest_log, err);
    case OPT_FW_CFG:
        return opt_handle_fw_cfg(ctx, opt, value, err);
    case OPT_INCOMING:
        return handle_incoming(cfg, opt, value, err);
    case OPT_NO_SHUTDOWN:
        cfg->no_shutdown = true;
        return true;
    case OPT_NODEFAULTS:
        ctx->nodefaults = true;     /* no default COM1 under qtest */
        return true;
    case OPT_NO_USER_CONFIG:
    case OPT_NOGRAPHIC:
        return true;
    case OPT_DISPLAY:
    case OPT_VGA:
        return handle_none_only(opt, value, err);
    case OPT_CONFIG:
        return true;                /* read before argv: apply_config_file() */
    case OPT_API_CHANNEL:
        return handle_api_channel(ctx, opt, value, err);
    case OPT_SANDBOX:
        return opt_handle_sandbox(cfg, opt, value, err);
    case OPT_DISABLE_SECCOMP:
        cfg->sandbox = SANDBOX_OFF;
        return true;
    case OPT_RUNAS:
        g_free(cfg->runas);
        cfg->runas = g_strdup(value);
        return true;
    case OPT_CHROOT:
        return handle_path(opt, value, &cfg->chroot_dir, err);
    case OPT_CPU:
        return opt_handle_cpu(ctx, opt, value, err);
    case OPT_RTC:
        return opt_handle_rtc(ctx, opt, value, err);
    case OPT_BOOT:
        return opt_handle_boot(ctx, opt, value, err);
    case OPT_ACTION:
        return opt_handle_action(ctx, opt, value, err);
    case OPT_WATCHDOG_ACTION:
        return opt_handle_watchdog_action(ctx, opt, value, err);
    case OPT_NIC:
        return opt_handle_nic(ctx, opt, value, err);
    case OPT_VERSION:
    case OPT_HELP:
    case OPT__COUNT:
        break;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* -config FILE                                                              */
/* ------------------------------------------------------------------------ */

static char *value_id(const char *value)
{
    OptList *l = optlist_parse_full(value, "type", false, NULL);
    char *id = l && optlist_get(l, "id") ? g_strdup(optlist_get(l, "id")) : NULL;

    if (l) {
        optlist_free(l);
    }
    return id;
}

/*
 * Whether argv gives the file's item again, so that the file's gives way:
 * any occurrence of a single-valued option (and of -append, whose values
 * would otherwise be joined), or a list option (-drive, -device ...) with
 * the same id.
 */
static bool argv_overrides(int argc, char **argv, const ConfigItem *it)
{
    const OptDef *def = opt_def_by_id(it->id);
    bool single = !def->multiple || it->id == OPT_APPEND;
    g_autofree char *id = single ? NULL : value_id(it->value);

    for (int i = 1; i < argc; i++) {
        const char *name, *inline_val, *v;
        size_t len;
        g_autofree char *other = NULL;

        if (opt_from_token(argv[i], &name, &len, &inline_val) != def) {
            continue;
        }
        if (single) {
            return true;
        }
        v = inline_val ? inline_val : i + 1 < argc ? argv[i + 1] : NULL;
        other = v && id ? value_id(v) : NULL;
        if (other && !strcmp(other, id)) {
            return true;
        }
    }
    return false;
}

/* Applies -config FILE's items before argv (see opt-config.c). */
static bool apply_config_file(ParseCtx *ctx, int argc, char **argv, GError **err)
{
    const char *file = NULL;
    g_autoptr(GPtrArray) items = NULL;

    for (int i = 1; i < argc && !file; i++) {
        const char *name, *inline_val;
        size_t len;
        const OptDef *d = opt_from_token(argv[i], &name, &len, &inline_val);

        if (d && d->id == OPT_CONFIG) {
            /* Without a value the argv walk reports it. */
            file = inline_val ? inline_val : i + 1 < argc ? argv[i + 1] : NULL;
        }
    }
    if (!file) {
        return true;
    }
    items = config_file_load(file, err);
    if (!items) {
        return false;
    }
    for (guint i = 0; i < items->len; i++) {
        const ConfigItem *it = g_ptr_array_index(items, i);
        g_autofree char *origin = g_strdup_printf("-config %s: %s", file, it->where);
        GError *local = NULL;
        bool ok;

        if (argv_overrides(argc, argv, it)) {
            continue;
        }
        ctx->origin = origin;
        ok = handle_option(ctx, opt_def_by_id(it->id), it->where, it->value, &local);
        ctx->origin = NULL;
        if (!ok) {
            set_error(err, "-config %s: %s", file, local->message);
            g_error_free(local);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Cross-option checks                                                       */
/* ------------------------------------------------------------------------ */

/* Rules that span options; the order decides which error a user sees first. */
static bool finalize(ParseCtx *ctx, GError **err)
{
    StratusConfig *cfg = ctx->cfg;

    if (cfg->pidfile && !cfg->daemonize) {
        set_error(err, "-pidfile must be used with -daemonize together.");
        return false;
    }
    if (!opt_resolve_accel(ctx, err) || !opt_check_chardevs(ctx, err)) {
        return false;
    }
    if (strcmp(cfg->accel, "qtest") != 0) {
        if (cfg->monitors->len == 0) {
            set_error(err, "Please use '-qmp' or '-mon' to give a qmp path for Unix socket");
            return false;
        }
        if (strcmp(cfg->machine_type, "microvm") == 0 && !cfg->kernel) {
            set_error(err, "-kernel: kernel file is required for microvm machine type, "
                      "which is not provided");
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                              */
/* ------------------------------------------------------------------------ */

/*
 * ARG_TOKENS: the inline value and the following argv tokens up to the next
 * one starting with '-', joined by spaces (advances *i). NULL if there are none.
 */
static char *join_tokens(const char *inline_val, int argc, char **argv, int *i)
{
    GString *s = g_string_new(NULL);
    bool any = false;

    if (inline_val) {
        g_string_append(s, inline_val);
        any = true;
    }
    while (*i + 1 < argc && argv[*i + 1][0] != '-') {
        if (any) {
            g_string_append_c(s, ' ');
        }
        g_string_append(s, argv[++*i]);
        any = true;
    }
    if (!any) {
        g_string_free(s, TRUE);
        return NULL;
    }
    return g_string_free(s, FALSE);
}

/*
 * Takes option opt's value as def->arg says: inline ("--opt=v") or from the
 * next argv tokens (advancing *i). *value stays NULL for a flag or an absent
 * optional value; the caller frees it, also on failure.
 */
static bool take_value(const OptDef *def, const char *opt, const char *inline_val,
                       int argc, char **argv, int *i, char **value, GError **err)
{
    switch (def->arg) {
    case ARG_NONE:
        if (inline_val) {
            set_error(err, "option '%s' does not take a value", opt);
            return false;
        }
        return true;
    case ARG_REQUIRED:
        if (inline_val) {
            *value = g_strdup(inline_val);
        } else if (*i + 1 < argc && !opt_is_known(argv[*i + 1])) {
            *value = g_strdup(argv[++*i]);
        } else {
            set_error(err, "option '%s' requires a value", opt);
            return false;
        }
        break;
    case ARG_OPTIONAL:
        if (inline_val) {
            *value = g_strdup(inline_val);
        } else if (*i + 1 < argc && argv[*i + 1][0] != '-') {
            *value = g_strdup(argv[++*i]);
        }
        break;
    case ARG_TOKENS:
        /* An empty inline value is kept: "--append=" is an empty command line. */
        *value = join_tokens(inline_val, argc, argv, i);
        if (!*value) {
            set_error(err, "option '%s' requires a value", opt);
            return false;
        }
        return true;
    }
    if (*value && (*value)[0] == '\0') {
        set_error(err, "option '%s' requires a non-empty value", opt);
        return false;
    }
    return true;
}

StratusConfig *config_parse(int argc, char **argv, GError **err)
{
    ParseCtx ctx = { 0 };
    unsigned seen[OPT__COUNT] = { 0 };
    StratusConfig *result = NULL;

    /* -help / -version anywhere: nothing else is checked. */
    {
        bool help = false, version = false;

        for (int i = 1; i < argc; i++) {
            const char *name, *val;
            size_t len;
            const OptDef *d = opt_from_token(argv[i], &name, &len, &val);
            if (d && d->id == OPT_HELP) {
                help = true;
            } else if (d && d->id == OPT_VERSION) {
                version = true;
            }
        }
        if (help || version) {
            StratusConfig *cfg = config_new_default();
            cfg->show_help = help;
            cfg->show_version = version;
            return cfg;
        }
    }

    ctx.cfg = config_new_default();
    ctx.chardev_origin = g_ptr_array_new();
    ctx.monitor_origin = g_ptr_array_new();
    if (!apply_config_file(&ctx, argc, argv, err)) {
        goto out;
    }

    for (int i = 1; i < argc; i++) {
        const char *tok = argv[i];
        const char *name, *inline_val;
        size_t name_len;
        const OptDef *def = opt_from_token(tok, &name, &name_len, &inline_val);
        char *opt;
        char *value = NULL;
        bool ok;

        if (tok[0] != '-' || tok[1] == '\0') {
            set_error(err, "unexpected argument '%.64s' (options start with '-')", tok);
            goto out;
        }
        if (!def) {
            set_error(err, "unknown option '%.*s'",
                      (int)MIN(inline_val ? (size_t)(inline_val - 1 - tok) : strlen(tok),
                               (size_t)64), tok);
            goto out;
        }
        opt = g_strdup_printf("-%.*s", (int)name_len, name);
        if (++seen[def->id] > 1 && !def->multiple) {
            set_error(err, "option '%s' given more than once", opt);
            ok = false;
        } else {
            ok = take_value(def, opt, inline_val, argc, argv, &i, &value, err) &&
                 handle_option(&ctx, def, opt, value, err);
        }
        g_free(value);
        g_free(opt);
        if (!ok) {
            goto out;
        }
    }

    if (!finalize(&ctx, err)) {
        goto out;
    }
    result = ctx.cfg;
    ctx.cfg = NULL;

out:
    config_free(ctx.cfg);
    g_ptr_array_unref(ctx.chardev_origin);
    g_ptr_array_unref(ctx.monitor_origin);
    g_free(ctx.machine_accel);
    g_free(ctx.machine_accel_origin);
    g_free(ctx.accel_opt);
    g_free(ctx.accel_opt_origin);
    g_free(ctx.qtest_chardev);
    g_free(ctx.mem_floor_error);
    return result;
}
