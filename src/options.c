/*
 * Command-line parsing (StratoVirt's syntax, plus the QEMU spellings that QEMU
 * tooling passes). config_parse() turns argv into a StratusConfig and checks
 * every value and every cross-option rule, so that machine creation never
 * sees bad input. Nothing here touches the host and nothing here logs: every
 * problem is reported as a one-line GError that names the option.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "util/strutil.h"

#define MAX_SOCK_PATH_BYTES (MAX_SOCK_PATH_LENGTH - 1)   /* sun_path incl. NUL */
#define SERIAL_CHARDEV_ID "serial_chardev"

/* ------------------------------------------------------------------------ */
/* OptList: "type,key=value,flag,..."                                        */
/* ------------------------------------------------------------------------ */

static void optpair_free(gpointer p)
{
    OptPair *pair = p;

    g_free(pair->key);
    g_free(pair->value);
    g_free(pair);
}

static void optlist_add(OptList *l, const char *key, const char *value)
{
    OptPair *pair = g_new0(OptPair, 1);

    pair->key = g_strdup(key);
    pair->value = g_strdup(value);
    g_ptr_array_add(l->pairs, pair);
}

/*
 * force_implied: the first token is always the implied key's value, even if it
 * contains '=' (used for URIs such as "unix:/tmp/a=b,server").
 */
static OptList *optlist_parse_full(const char *str, const char *implied_key,
                                   bool force_implied, GError **err)
{
    OptList *l;
    GString *tok;
    const char *p;
    bool first = true;

    if (!str || !*str) {
        set_error(err, "empty parameter string");
        return NULL;
    }
    l = g_new0(OptList, 1);
    l->pairs = g_ptr_array_new_with_free_func(optpair_free);
    tok = g_string_new(NULL);
    p = str;
    for (;;) {
        bool end_of_token = false;
        bool end_of_string = false;

        if (*p == '\0') {
            end_of_token = end_of_string = true;
        } else if (*p == ',') {
            if (p[1] == ',') {
                g_string_append_c(tok, ',');
                p += 2;
                continue;
            }
            end_of_token = true;
            p++;
        } else {
            g_string_append_c(tok, *p);
            p++;
            continue;
        }

        if (end_of_token) {
            char *eq = strchr(tok->str, '=');

            if (tok->len == 0) {
                set_error(err, "empty parameter in '%s'", str);
                goto fail;
            }
            if (first && implied_key && (force_implied || !eq)) {
                optlist_add(l, implied_key, tok->str);
            } else if (!eq) {
                optlist_add(l, tok->str, "on");
            } else if (eq == tok->str) {
                set_error(err, "parameter '%s' has no name in '%s'", tok->str, str);
                goto fail;
            } else {
                *eq = '\0';
                optlist_add(l, tok->str, eq + 1);
            }
            first = false;
            g_string_truncate(tok, 0);
        }
        if (end_of_string) {
            break;
        }
    }
    g_string_free(tok, TRUE);
    return l;

fail:
    g_string_free(tok, TRUE);
    optlist_free(l);
    return NULL;
}

OptList *optlist_parse(const char *str, const char *implied_key, GError **err)
{
    return optlist_parse_full(str, implied_key, false, err);
}

void optlist_free(OptList *l)
{
    if (!l) {
        return;
    }
    g_ptr_array_unref(l->pairs);
    g_free(l);
}

const char *optlist_get(const OptList *l, const char *key)
{
    if (!l || !key) {
        return NULL;
    }
    for (guint i = l->pairs->len; i > 0; i--) {
        const OptPair *pair = g_ptr_array_index(l->pairs, i - 1);
        if (strcmp(pair->key, key) == 0) {
            return pair->value;
        }
    }
    return NULL;
}

bool optlist_check_keys(const OptList *l, const char *const *allowed,
                        const char *option, GError **err)
{
    for (guint i = 0; i < l->pairs->len; i++) {
        const OptPair *pair = g_ptr_array_index(l->pairs, i);
        bool ok = false;

        for (const char *const *a = allowed; *a; a++) {
            if (strcmp(*a, pair->key) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            set_error(err, "%s: unknown parameter '%s'", option, pair->key);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Config objects                                                            */
/* ------------------------------------------------------------------------ */

static ChardevConfig *chardev_config_new(void)
{
    ChardevConfig *c = g_new0(ChardevConfig, 1);

    c->port = -1;
    c->fd = -1;
    return c;
}

static void chardev_config_free(gpointer p)
{
    ChardevConfig *c = p;

    if (!c) {
        return;
    }
    g_free(c->id);
    g_free(c->path);
    g_free(c->host);
    g_free(c);
}

static void monitor_config_free(gpointer p)
{
    MonitorConfig *m = p;

    if (!m) {
        return;
    }
    g_free(m->id);
    g_free(m->chardev);
    g_free(m);
}

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
    cfg->mem_share = false;
    cfg->smp = (SmpConfig){ .cpus = 1, .maxcpus = 1, .sockets = 1, .dies = 1,
                            .clusters = 1, .cores = 1, .threads = 1 };
    cfg->mem_size = DEFAULT_MEMORY_SIZE;
    cfg->chardevs = g_ptr_array_new_with_free_func(chardev_config_free);
    cfg->monitors = g_ptr_array_new_with_free_func(monitor_config_free);
    cfg->drives = g_ptr_array_new_with_free_func(optlist_free_gp);
    cfg->devices = g_ptr_array_new_with_free_func(optlist_free_gp);
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
    g_free(cfg->name);
    g_free(cfg->uuid);
    g_free(cfg->logfile);
    g_free(cfg->pidfile);
    g_free(cfg->qtest);
    g_free(cfg->qtest_log);
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
/* Option table                                                              */
/* ------------------------------------------------------------------------ */

typedef enum {
    OPT_MACHINE, OPT_ACCEL, OPT_ENABLE_KVM, OPT_SMP, OPT_MEM,
    OPT_KERNEL, OPT_INITRD, OPT_APPEND,
    OPT_SERIAL, OPT_CHARDEV, OPT_QMP, OPT_MON,
    OPT_NAME, OPT_UUID, OPT_LOG, OPT_DAEMONIZE, OPT_PIDFILE, OPT_FREEZE,
    OPT_DRIVE, OPT_DEVICE, OPT_QTEST, OPT_QTEST_LOG,
    OPT_NODEFAULTS, OPT_NO_USER_CONFIG, OPT_NOGRAPHIC, OPT_NO_SHUTDOWN,
    OPT_DISPLAY, OPT_VGA,
    OPT_VERSION, OPT_HELP,
    OPT__COUNT
} OptId;

typedef enum {
    ARG_NONE,       /* flag */
    ARG_REQUIRED,   /* exactly the next token */
    ARG_OPTIONAL,   /* the next token if it does not start with '-' */
    ARG_TOKENS,     /* one or more tokens up to the next option, joined by ' ' */
} ArgKind;

typedef struct OptDef {
    const char *name;
    const char *alias;      /* second spelling or NULL */
    OptId id;
    ArgKind arg;
    bool multiple;
    const char *argdesc;    /* for the help text */
    const char *help;
} OptDef;

static const OptDef opt_defs[] = {
    { "machine", "M", OPT_MACHINE, ARG_REQUIRED, false,
      "[type=]microvm|q35[,accel=ACCEL[:ACCEL...]][,dump-guest-core=on|off][,mem-share=on|off]",
      "machine type and properties (default microvm; accel as -accel)" },
    { "accel", NULL, OPT_ACCEL, ARG_REQUIRED, false, "kvm|emu|tcg|qtest[:...]",
      "accelerator, or a list tried in order (tcg = emu, the software CPU); overrides "
      "-machine accel=; default kvm if /dev/kvm is usable, else emu" },
    { "enable-kvm", NULL, OPT_ENABLE_KVM, ARG_NONE, false, NULL,
      "same as -accel kvm" },
    { "smp", NULL, OPT_SMP, ARG_REQUIRED, false,
      "[cpus=]n[,maxcpus=n][,sockets=n][,dies=n][,clusters=n][,cores=n][,threads=n]",
      "number of vCPUs (1..254) and topology (default 1)" },
    { "m", NULL, OPT_MEM, ARG_REQUIRED, false, "[size=]N[K|M|G][,maxmem=N[K|M|G]]",
      "guest RAM, bare number = MiB, 128M..512G (default 256M)" },
    { "kernel", NULL, OPT_KERNEL, ARG_REQUIRED, false, "PATH",
      "guest kernel (vmlinux ELF or bzImage); required for microvm" },
    { "initrd", NULL, OPT_INITRD, ARG_REQUIRED, false, "PATH", "initial ramdisk" },
    { "append", NULL, OPT_APPEND, ARG_TOKENS, true, "CMDLINE...",
      "kernel command line; tokens up to the next option are joined by spaces" },
    { "serial", NULL, OPT_SERIAL, ARG_REQUIRED, false,
      "stdio|pty|file,path=P|socket,path=P,server,nowait|socket,port=N[,host=H],server,nowait|chardev:ID",
      "COM1 backend (at most one)" },
    { "chardev", NULL, OPT_CHARDEV, ARG_REQUIRED, true,
      "stdio|pty|file|socket,id=ID[,path=P][,host=H,port=N][,fd=N][,server][,nowait]",
      "character device backend" },
    { "qmp", NULL, OPT_QMP, ARG_REQUIRED, true,
      "unix:PATH|tcp:HOST:PORT,server,nowait[,qmp-mode=lenient|strict][,qmp-greeting=qemu|legacy]",
      "QMP monitor listening on a socket" },
    { "mon", NULL, OPT_MON, ARG_REQUIRED, true,
      "[chardev=]ID[,id=ID][,mode=control][,pretty=on|off][,qmp-mode=..][,qmp-greeting=..]",
      "QMP monitor on a -chardev socket" },
    { "name", NULL, OPT_NAME, ARG_REQUIRED, false, "NAME", "guest name" },
    { "uuid", NULL, OPT_UUID, ARG_REQUIRED, false, "UUID", "guest UUID" },
    { "D", NULL, OPT_LOG, ARG_OPTIONAL, false, "[LOGFILE]",
      "enable logging, to LOGFILE or to stderr" },
    { "daemonize", NULL, OPT_DAEMONIZE, ARG_NONE, false, NULL,
      "run in the background after parsing the command line" },
    { "pidfile", NULL, OPT_PIDFILE, ARG_REQUIRED, false, "PATH",
      "write the pid to PATH (needs -daemonize)" },
    { "S", "freeze", OPT_FREEZE, ARG_NONE, false, NULL,
      "start with vCPUs paused ('cont' starts them)" },
    { "drive", NULL, OPT_DRIVE, ARG_REQUIRED, true,
      "id=ID,file=PATH[,if=none|pflash][,readonly=on|off][,direct=on|off][,format=raw|qcow2]...",
      "block device backend" },
    { "device", NULL, OPT_DEVICE, ARG_REQUIRED, true, "DRIVER[,prop=value...]",
      "add a device" },
    { "qtest", NULL, OPT_QTEST, ARG_REQUIRED, false, "unix:PATH|chardev:ID",
      "qtest protocol socket (implies -accel qtest)" },
    { "qtest-log", NULL, OPT_QTEST_LOG, ARG_REQUIRED, false, "FILE|none",
      "qtest protocol log (default stderr)" },
    { "nodefaults", NULL, OPT_NODEFAULTS, ARG_NONE, false, NULL, "accepted and ignored" },
    { "no-user-config", NULL, OPT_NO_USER_CONFIG, ARG_NONE, false, NULL,
      "accepted and ignored" },
    { "nographic", NULL, OPT_NOGRAPHIC, ARG_NONE, false, NULL, "accepted and ignored" },
    { "no-shutdown", NULL, OPT_NO_SHUTDOWN, ARG_NONE, false, NULL,
      "pause instead of exiting when the guest shuts down" },
    { "display", NULL, OPT_DISPLAY, ARG_REQUIRED, false, "none",
      "accepted; only 'none' is supported" },
    { "vga", NULL, OPT_VGA, ARG_REQUIRED, false, "none",
      "accepted; only 'none' is supported" },
    { "version", "V", OPT_VERSION, ARG_NONE, false, NULL, "print the version and exit" },
    { "help", "h", OPT_HELP, ARG_NONE, false, NULL, "print this help and exit" },
};

static const OptDef *opt_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < G_N_ELEMENTS(opt_defs); i++) {
        const OptDef *d = &opt_defs[i];
        if ((strlen(d->name) == len && strncmp(d->name, name, len) == 0) ||
            (d->alias && strlen(d->alias) == len && strncmp(d->alias, name, len) == 0)) {
            return d;
        }
    }
    return NULL;
}

/*
 * Split an argv token into option name and inline "--name=value" value.
 * Returns the definition or NULL if the token is not a known option.
 */
static const OptDef *opt_from_token(const char *tok, const char **name, size_t *name_len,
                                    const char **inline_val)
{
    const char *n;
    const char *eq = NULL;

    *inline_val = NULL;
    if (tok[0] != '-' || tok[1] == '\0') {
        return NULL;
    }
    n = tok + 1;
    if (*n == '-') {
        n++;
        eq = strchr(n, '=');
    }
    *name = n;
    *name_len = eq ? (size_t)(eq - n) : strlen(n);
    if (eq) {
        *inline_val = eq + 1;
    }
    if (*name_len == 0) {
        return NULL;
    }
    return opt_lookup(n, *name_len);
}

static bool is_known_option(const char *tok)
{
    const char *name, *val;
    size_t len;

    return opt_from_token(tok, &name, &len, &val) != NULL;
}

/* ------------------------------------------------------------------------ */
/* Parser state and value checks                                             */
/* ------------------------------------------------------------------------ */

typedef struct ParseCtx {
    StratusConfig *cfg;
    GPtrArray *chardev_origin;   /* static option name per cfg->chardevs entry */
    GPtrArray *monitor_origin;   /* static option name per cfg->monitors entry */
    char *machine_accel;         /* -machine accel=, canonical (parse_accel_list) */
    char *machine_accel_origin;  /* "-machine accel=<as given>", for messages */
    char *accel_opt;             /* -accel, canonical */
    char *accel_opt_origin;      /* "-accel <as given>" */
    bool enable_kvm;
    unsigned qmp_count;
    unsigned mon_count;
    char *qtest_chardev;         /* -qtest chardev:ID */
} ParseCtx;

static bool check_str(const char *option, const char *what, const char *value,
                      size_t max, GError **err)
{
    size_t len = strlen(value);

    if (len == 0) {
        set_error(err, "%s: %s must not be empty", option, what);
        return false;
    }
    if (len > max) {
        set_error(err, "%s: %s is too long (%zu > %zu characters)", option, what, len, max);
        return false;
    }
    return true;
}

static bool check_sock_path(const char *option, const char *value, GError **err)
{
    if (!check_str(option, "socket path", value, MAX_PATH_LENGTH, err)) {
        return false;
    }
    if (strlen(value) > MAX_SOCK_PATH_BYTES) {
        set_error(err, "%s: unix socket path '%.40s...' is too long (%zu > %d bytes)",
                  option, value, strlen(value), MAX_SOCK_PATH_BYTES);
        return false;
    }
    return true;
}

static bool get_bool(const OptList *l, const char *key, const char *option,
                     bool *out, bool *present, GError **err)
{
    const char *v = optlist_get(l, key);

    if (present) {
        *present = v != NULL;
    }
    if (!v) {
        return true;
    }
    if (!parse_bool(v, out)) {
        set_error(err, "%s: invalid value '%s' for '%s' (expected on or off)",
                  option, v, key);
        return false;
    }
    return true;
}

static bool parse_port(const char *option, const char *value, int *port, GError **err)
{
    uint64_t v;

    if (!parse_uint(value, &v) || v > 65535) {
        set_error(err, "%s: invalid port '%s' (expected 0..65535)", option, value);
        return false;
    }
    *port = (int)v;
    return true;
}

static bool one_of(const char *value, const char *const *choices)
{
    for (const char *const *c = choices; *c; c++) {
        if (strcmp(*c, value) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Parses an option's "key=value,..." argument. Syntax errors get the option
 * name in front, as every other error here has; keys, if given, are the
 * parameters the option accepts.
 */
static OptList *parse_opts(const char *opt, const char *value, const char *implied_key,
                           bool force_implied, const char *const *keys, GError **err)
{
    OptList *l = optlist_parse_full(value, implied_key, force_implied, err);

    if (!l) {
        g_prefix_error(err, "%s: ", opt);
        return NULL;
    }
    if (keys && !optlist_check_keys(l, keys, opt, err)) {
        optlist_free(l);
        return NULL;
    }
    return l;
}

/*
 * A string parameter that must pass check_str() when present; required: its
 * absence is an error too. *out is NULL when it is absent.
 */
static bool get_str(const OptList *l, const char *key, const char *opt, size_t max,
                    bool required, const char **out, GError **err)
{
    *out = optlist_get(l, key);
    if (!*out) {
        if (required) {
            set_error(err, "%s: '%s' is required", opt, key);
            return false;
        }
        return true;
    }
    return check_str(opt, key, *out, max, err);
}

/*
 * An optional parameter with a fixed set of values; expected is the list as
 * the error message spells it. *out is NULL when it is absent.
 */
static bool get_choice(const OptList *l, const char *key, const char *const *choices,
                       const char *expected, const char *opt, const char **out,
                       GError **err)
{
    *out = optlist_get(l, key);
    if (*out && !one_of(*out, choices)) {
        set_error(err, "%s: invalid %s '%s' (expected %s)", opt, key, *out, expected);
        return false;
    }
    return true;
}

/* "chardev:ID" names a -chardev; finalize() checks that it exists. */
static bool get_chardev_ref(const char *opt, const char *value, char **out, GError **err)
{
    const char *id = value + strlen("chardev:");

    if (!check_str(opt, "chardev id", id, MAX_STRING_LENGTH, err)) {
        return false;
    }
    *out = g_strdup(id);
    return true;
}

static void add_chardev(ParseCtx *ctx, ChardevConfig *c, const char *origin)
{
    g_ptr_array_add(ctx->cfg->chardevs, c);
    g_ptr_array_add(ctx->chardev_origin, (gpointer)origin);
}

static void add_monitor(ParseCtx *ctx, MonitorConfig *m, const char *origin)
{
    g_ptr_array_add(ctx->cfg->monitors, m);
    g_ptr_array_add(ctx->monitor_origin, (gpointer)origin);
}

/* server / nowait / wait flags (StratoVirt and QEMU spellings). */
static bool parse_server_flags(const OptList *l, const char *option, bool *server,
                               bool *nowait, GError **err)
{
    bool nw = false, w = true, has_nw, has_w;

    *server = false;
    if (!get_bool(l, "server", option, server, NULL, err) ||
        !get_bool(l, "nowait", option, &nw, &has_nw, err) ||
        !get_bool(l, "wait", option, &w, &has_w, err)) {
        return false;
    }
    if (has_nw && has_w && nw == w) {
        set_error(err, "%s: 'nowait' and 'wait' contradict each other", option);
        return false;
    }
    *nowait = has_nw ? nw : (has_w ? !w : false);
    return true;
}

static bool parse_qmp_mode(const OptList *l, const char *option, MonitorConfig *m,
                           GError **err)
{
    static const char *const modes[] = { "lenient", "strict", NULL };
    static const char *const greetings[] = { "qemu", "legacy", NULL };
    const char *mode, *greeting;

    if (!get_choice(l, "qmp-mode", modes, "lenient or strict", option, &mode, err) ||
        !get_choice(l, "qmp-greeting", greetings, "qemu or legacy", option, &greeting,
                    err)) {
        return false;
    }
    /* Absent means the default: lenient mode, the QEMU greeting. */
    m->mode = mode && strcmp(mode, "strict") == 0 ? QMP_MODE_STRICT : QMP_MODE_LENIENT;
    m->greeting = greeting && strcmp(greeting, "legacy") == 0 ? QMP_GREETING_LEGACY
                                                              : QMP_GREETING_QEMU;
    return true;
}

/*
 * Build a ChardevConfig from "-chardev"/"-serial" parameters (implied key
 * "backend"). forced_id: the id to use (for -serial); then id= is not allowed.
 */
static ChardevConfig *chardev_from_opts(const OptList *l, const char *option,
                                        const char *forced_id, GError **err)
{
    static const char *const keys_stdio[] = { "backend", "id", NULL };
    static const char *const keys_file[] = { "backend", "id", "path", NULL };
    static const char *const keys_socket[] = { "backend", "id", "path", "host", "port",
                                               "fd", "server", "nowait", "wait", NULL };
    const char *backend = optlist_get(l, "backend");
    const char *const *keys;
    ChardevConfig *c = chardev_config_new();
    const char *id;

    if (!backend) {
        set_error(err, "%s: missing backend type (stdio, pty, file or socket)", option);
        goto fail;
    }
    if (strcmp(backend, "stdio") == 0) {
        c->kind = CHARDEV_STDIO;
        keys = keys_stdio;
    } else if (strcmp(backend, "pty") == 0) {
        c->kind = CHARDEV_PTY;
        keys = keys_stdio;
    } else if (strcmp(backend, "file") == 0) {
        c->kind = CHARDEV_FILE;
        keys = keys_file;
    } else if (strcmp(backend, "socket") == 0) {
        c->kind = CHARDEV_SOCKET;
        keys = keys_socket;
    } else {
        set_error(err, "%s: unsupported backend '%s' (expected stdio, pty, file or socket)",
                  option, backend);
        goto fail;
    }
    if (!optlist_check_keys(l, keys, option, err)) {
        goto fail;
    }
    if (forced_id) {
        if (optlist_get(l, "id")) {
            set_error(err, "%s: unknown parameter 'id'", option);
            goto fail;
        }
        id = forced_id;
    } else if (!get_str(l, "id", option, MAX_STRING_LENGTH, true, &id, err)) {
        goto fail;
    }
    c->id = g_strdup(id);

    if (c->kind == CHARDEV_FILE) {
        const char *path = optlist_get(l, "path");
        if (!path) {
            set_error(err, "%s: 'path' is required for a file chardev", option);
            goto fail;
        }
        if (!check_str(option, "path", path, MAX_PATH_LENGTH, err)) {
            goto fail;
        }
        c->path = g_strdup(path);
    } else if (c->kind == CHARDEV_SOCKET) {
        const char *path = optlist_get(l, "path");
        const char *host = optlist_get(l, "host");
        const char *port = optlist_get(l, "port");
        const char *fd = optlist_get(l, "fd");
        int n = !!path + !!port + !!fd;

        if (!parse_server_flags(l, option, &c->server, &c->nowait, err)) {
            goto fail;
        }
        if (host && !port) {
            set_error(err, "%s: 'host' needs 'port'", option);
            goto fail;
        }
        if (n == 0) {
            set_error(err, "%s: a socket chardev needs 'path', 'port' or 'fd'", option);
            goto fail;
        }
        if (n > 1) {
            set_error(err, "%s: 'path', 'port' and 'fd' are mutually exclusive", option);
            goto fail;
        }
        if (path) {
            if (!check_sock_path(option, path, err)) {
                goto fail;
            }
            c->path = g_strdup(path);
        } else if (port) {
            if (!parse_port(option, port, &c->port, err)) {
                goto fail;
            }
            if (host && !check_str(option, "host", host, MAX_STRING_LENGTH, err)) {
                goto fail;
            }
            c->host = g_strdup(host ? host : "0.0.0.0");
        } else {
            uint64_t v;
            if (!parse_uint(fd, &v) || v > INT_MAX) {
                set_error(err, "%s: invalid fd '%s'", option, fd);
                goto fail;
            }
            if (c->server) {
                set_error(err, "%s: 'fd' is an already connected socket and cannot be "
                          "combined with 'server'", option);
                goto fail;
            }
            c->fd = (int)v;
        }
    }
    return c;

fail:
    chardev_config_free(c);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Per-option handlers                                                       */
/* ------------------------------------------------------------------------ */

/*
 * -machine accel= and -accel: one accelerator or QEMU's ':'-separated
 * fall-back list ("kvm:tcg": the first that is available and initialises
 * wins, see accel_select()). "tcg", QEMU's software CPU, is an alias of emu.
 */
static const char *const accels[] = { "kvm", "emu", "tcg", "qtest", NULL };
#define ACCEL_EXPECTED "expected kvm, emu, tcg or qtest, or a list such as kvm:tcg"

/*
 * Returns the list with canonical names ("tcg" -> "emu") and repeats dropped,
 * or NULL with *err naming opt. qtest cannot be part of a list: it runs no
 * guest code, so it is no substitute for the others.
 */
static char *parse_accel_list(const char *opt, const char *what, const char *value,
                              GError **err)
{
    g_auto(GStrv) names = g_strsplit(value, ":", -1);
    g_autoptr(GPtrArray) out = g_ptr_array_new();
    bool list = names[0] && names[1];

    if (!names[0]) {
        set_error(err, "%s: empty %s name (" ACCEL_EXPECTED ")", opt, what);
        return NULL;
    }
    for (char **p = names; *p; p++) {
        const char *name = *p;
        bool seen = false;

        if (!*name) {
            set_error(err, "%s: empty %s name in '%s' (" ACCEL_EXPECTED ")", opt, what,
                      value);
            return NULL;
        }
        if (!one_of(name, accels)) {
            if (list) {
                set_error(err, "%s: unsupported %s '%s' in '%s' (" ACCEL_EXPECTED ")", opt,
                          what, name, value);
            } else {
                set_error(err, "%s: unsupported %s '%s' (" ACCEL_EXPECTED ")", opt, what,
                          name);
            }
            return NULL;
        }
        if (strcmp(name, "tcg") == 0) {
            name = "emu";
        }
        for (guint i = 0; i < out->len; i++) {
            seen = seen || strcmp(g_ptr_array_index(out, i), name) == 0;
        }
        if (!seen) {
            g_ptr_array_add(out, (gpointer)name);
        }
    }
    if (out->len > 1) {
        for (guint i = 0; i < out->len; i++) {
            if (strcmp(g_ptr_array_index(out, i), "qtest") == 0) {
                set_error(err, "%s: qtest cannot be combined with other accelerators "
                          "('%s')", opt, value);
                return NULL;
            }
        }
    }
    g_ptr_array_add(out, NULL);
    return g_strjoinv(":", (char **)out->pdata);
}

static bool handle_machine(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "type", "accel", "dump-guest-core", "mem-share",
                                        "usb", NULL };
    static const char *const types[] = { "microvm", "q35", NULL };
    StratusConfig *cfg = ctx->cfg;
    OptList *l = parse_opts(opt, value, "type", false, keys, err);
    const char *type, *accel, *usb;
    bool ok = false;

    if (!l) {
        return false;
    }
    type = optlist_get(l, "type");
    if (type) {
        if (!one_of(type, types)) {
            set_error(err, "%s: unsupported machine type '%s' (expected microvm or q35)",
                      opt, type);
            goto out;
        }
        g_free(cfg->machine_type);
        cfg->machine_type = g_strdup(type);
    }
    accel = optlist_get(l, "accel");
    if (accel) {
        ctx->machine_accel = parse_accel_list(opt, "accel", accel, err);
        if (!ctx->machine_accel) {
            goto out;
        }
        ctx->machine_accel_origin = g_strdup_printf("%s accel=%s", opt, accel);
    }
    if (!get_bool(l, "dump-guest-core", opt, &cfg->dump_guest_core, NULL, err) ||
        !get_bool(l, "mem-share", opt, &cfg->mem_share, NULL, err)) {
        goto out;
    }
    usb = optlist_get(l, "usb");
    if (usb) {
        bool b;
        if (!parse_bool(usb, &b) || b) {
            set_error(err, "%s: only usb=off is supported", opt);
            goto out;
        }
    }
    ok = true;
out:
    optlist_free(l);
    return ok;
}

static bool handle_accel(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    ctx->accel_opt = parse_accel_list(opt, "accelerator", value, err);
    if (!ctx->accel_opt) {
        return false;
    }
    ctx->accel_opt_origin = g_strdup_printf("%s %s", opt, value);
    return true;
}

static bool smp_value(const OptList *l, const char *key, const char *opt,
                      uint64_t *out, GError **err)
{
    const char *v = optlist_get(l, key);
    uint64_t n;

    *out = 0;
    if (!v) {
        return true;
    }
    if (!parse_uint(v, &n)) {
        set_error(err, "%s: invalid value '%s' for '%s'", opt, v, key);
        return false;
    }
    if (n < 1 || n > MAX_CPUS) {
        set_error(err, "%s: %s must be in range [1, %d], got '%s'", opt, key, MAX_CPUS, v);
        return false;
    }
    *out = n;
    return true;
}

static bool handle_smp(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "cpus", "maxcpus", "sockets", "dies", "clusters",
                                        "cores", "threads", NULL };
    OptList *l = parse_opts(opt, value, "cpus", false, keys, err);
    uint64_t cpus, maxcpus, sockets, dies, clusters, cores, threads;
    bool ok = false;

    if (!l) {
        return false;
    }
    if (!smp_value(l, "cpus", opt, &cpus, err) ||
        !smp_value(l, "maxcpus", opt, &maxcpus, err) ||
        !smp_value(l, "sockets", opt, &sockets, err) ||
        !smp_value(l, "dies", opt, &dies, err) ||
        !smp_value(l, "clusters", opt, &clusters, err) ||
        !smp_value(l, "cores", opt, &cores, err) ||
        !smp_value(l, "threads", opt, &threads, err)) {
        goto out;
    }
    if (cpus == 0) {
        set_error(err, "%s: 'cpus' is required", opt);
        goto out;
    }
    if (dies == 0) {
        dies = 1;
    }
    if (clusters == 0) {
        clusters = 1;
    }
    /* StratoVirt's adjust_topology(). All values are <= 254, no overflow. */
    if (maxcpus == 0) {
        uint64_t prod = sockets * dies * clusters * cores * threads;
        maxcpus = prod > 0 ? prod : cpus;
    }
    if (cores == 0) {
        if (sockets == 0) {
            sockets = 1;
        }
        if (threads == 0) {
            threads = 1;
        }
        cores = maxcpus / (sockets * dies * clusters * threads);
    } else if (sockets == 0) {
        if (threads == 0) {
            threads = 1;
        }
        sockets = maxcpus / (dies * clusters * cores * threads);
    }
    if (threads == 0) {
        threads = maxcpus / (sockets * dies * clusters * cores);
    }
    if (maxcpus > MAX_CPUS) {
        set_error(err, "%s: maxcpus must be in range [1, %d], got %" G_GUINT64_FORMAT,
                  opt, MAX_CPUS, maxcpus);
        goto out;
    }
    if (maxcpus < cpus) {
        set_error(err, "%s: maxcpus (%" G_GUINT64_FORMAT ") must be >= cpus (%"
                  G_GUINT64_FORMAT ")", opt, maxcpus, cpus);
        goto out;
    }
    if (sockets * dies * clusters * cores * threads != maxcpus) {
        set_error(err, "%s: sockets * dies * clusters * cores * threads must be equal "
                  "to max_cpus", opt);
        goto out;
    }
    ctx->cfg->smp = (SmpConfig){
        .cpus = (uint32_t)cpus, .maxcpus = (uint32_t)maxcpus,
        .sockets = (uint32_t)sockets, .dies = (uint32_t)dies,
        .clusters = (uint32_t)clusters, .cores = (uint32_t)cores,
        .threads = (uint32_t)threads,
    };
    ok = true;
out:
    optlist_free(l);
    return ok;
}

static bool handle_mem(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "size", "maxmem", NULL };
    OptList *l = parse_opts(opt, value, "size", false, keys, err);
    const char *size, *maxmem;
    uint64_t bytes, max;
    GError *local = NULL;
    bool ok = false;

    if (!l) {
        return false;
    }
    size = optlist_get(l, "size");
    if (!size) {
        set_error(err, "%s: 'size' is required", opt);
        goto out;
    }
    if (!parse_size(size, 1ULL << 20, &bytes, &local)) {
        set_error(err, "invalid %s value '%s': %s", opt, size, local->message);
        g_error_free(local);
        goto out;
    }
    if (bytes < MIN_MEMORY_SIZE || bytes > MAX_MEMORY_SIZE) {
        set_error(err, "invalid %s value '%s': Memory size must >= 128MiB and <= 512GiB, "
                  "default unit: MiB, current memory size: %" G_GUINT64_FORMAT " bytes",
                  opt, size, bytes);
        goto out;
    }
    maxmem = optlist_get(l, "maxmem");
    if (maxmem) {
        if (!parse_size(maxmem, 1ULL << 20, &max, &local)) {
            set_error(err, "invalid %s maxmem '%s': %s", opt, maxmem, local->message);
            g_error_free(local);
            goto out;
        }
        if (max < bytes) {
            set_error(err, "%s: maxmem (%s) must be >= size (%s)", opt, maxmem, size);
            goto out;
        }
    }
    ctx->cfg->mem_size = bytes;
    ok = true;
out:
    optlist_free(l);
    return ok;
}

static bool handle_path(const char *opt, const char *value, char **out, GError **err)
{
    if (!check_str(opt, "path", value, MAX_PATH_LENGTH, err)) {
        return false;
    }
    g_free(*out);
    *out = g_strdup(value);
    return true;
}

/* A chardev given inline by -chardev or -serial; origin names that option. */
static bool add_chardev_opts(ParseCtx *ctx, const char *opt, const char *value,
                             const char *forced_id, const char *origin, GError **err)
{
    OptList *l = parse_opts(opt, value, "backend", false, NULL, err);
    ChardevConfig *c;

    if (!l) {
        return false;
    }
    c = chardev_from_opts(l, opt, forced_id, err);
    optlist_free(l);
    if (!c) {
        return false;
    }
    add_chardev(ctx, c, origin);
    return true;
}

static bool handle_serial(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    if (g_str_has_prefix(value, "chardev:")) {
        return get_chardev_ref(opt, value, &ctx->cfg->serial_chardev, err);
    }
    if (strcmp(value, "none") == 0 || strcmp(value, "null") == 0) {
        return true;    /* no backend: COM1 is not wired */
    }
    if (!add_chardev_opts(ctx, opt, value, SERIAL_CHARDEV_ID, "-serial", err)) {
        return false;
    }
    ctx->cfg->serial_chardev = g_strdup(SERIAL_CHARDEV_ID);
    return true;
}

static bool handle_chardev(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    return add_chardev_opts(ctx, opt, value, NULL, "-chardev", err);
}

static bool handle_qmp(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "uri", "server", "nowait", "wait", "qmp-mode",
                                        "qmp-greeting", NULL };
    OptList *l = parse_opts(opt, value, "uri", true, keys, err);
    ChardevConfig *c = NULL;
    MonitorConfig *m = NULL;
    const char *uri;
    bool ok = false;

    if (!l) {
        return false;
    }
    c = chardev_config_new();
    c->kind = CHARDEV_SOCKET;
    c->id = g_strdup_printf("qmp%u", ctx->qmp_count);
    uri = optlist_get(l, "uri");
    if (g_str_has_prefix(uri, "unix:")) {
        const char *path = uri + strlen("unix:");
        if (!check_sock_path(opt, path, err)) {
            goto out;
        }
        c->path = g_strdup(path);
    } else if (g_str_has_prefix(uri, "tcp:")) {
        const char *hp = uri + strlen("tcp:");
        const char *colon = strrchr(hp, ':');
        char *host;

        if (!colon) {
            set_error(err, "%s: expected tcp:HOST:PORT, got '%s'", opt, uri);
            goto out;
        }
        if (!parse_port(opt, colon + 1, &c->port, err)) {
            goto out;
        }
        if (colon - hp >= 2 && hp[0] == '[' && colon[-1] == ']') {
            host = g_strndup(hp + 1, (gsize)(colon - hp - 2));
        } else {
            host = g_strndup(hp, (gsize)(colon - hp));
        }
        if (!g_hostname_is_ip_address(host)) {
            set_error(err, "%s: invalid IP address '%s'", opt, host);
            g_free(host);
            goto out;
        }
        c->host = host;
    } else {
        set_error(err, "%s: invalid socket type in '%s' (expected unix:PATH or "
                  "tcp:HOST:PORT)", opt, uri);
        goto out;
    }
    if (!parse_server_flags(l, opt, &c->server, &c->nowait, err)) {
        goto out;
    }
    if (!c->server || !c->nowait) {
        set_error(err, "%s: Argument 'server' and 'nowait' are both required", opt);
        goto out;
    }
    m = g_new0(MonitorConfig, 1);
    if (!parse_qmp_mode(l, opt, m, err)) {
        goto out;
    }
    m->id = g_strdup(c->id);
    m->chardev = g_strdup(c->id);
    add_chardev(ctx, c, "-qmp");
    add_monitor(ctx, m, "-qmp");
    c = NULL;
    m = NULL;
    ctx->qmp_count++;
    ok = true;
out:
    chardev_config_free(c);
    monitor_config_free(m);
    optlist_free(l);
    return ok;
}

static bool handle_mon(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "chardev", "id", "mode", "pretty", "qmp-mode",
                                        "qmp-greeting", NULL };
    OptList *l = parse_opts(opt, value, "chardev", false, keys, err);
    MonitorConfig *m = NULL;
    const char *chardev, *id, *mode;
    bool pretty;
    bool ok = false;

    if (!l) {
        return false;
    }
    if (!get_str(l, "chardev", opt, MAX_STRING_LENGTH, true, &chardev, err) ||
        !get_str(l, "id", opt, MAX_STRING_LENGTH, false, &id, err)) {
        goto out;
    }
    mode = optlist_get(l, "mode");
    if (mode && strcmp(mode, "control") != 0) {
        set_error(err, "%s: invalid mode '%s' (only 'control' is supported)", opt, mode);
        goto out;
    }
    if (!get_bool(l, "pretty", opt, &pretty, NULL, err)) {
        goto out;
    }
    m = g_new0(MonitorConfig, 1);
    if (!parse_qmp_mode(l, opt, m, err)) {
        goto out;
    }
    m->id = id ? g_strdup(id) : g_strdup_printf("mon%u", ctx->mon_count);
    m->chardev = g_strdup(chardev);
    add_monitor(ctx, m, "-mon");
    m = NULL;
    ctx->mon_count++;
    ok = true;
out:
    monitor_config_free(m);
    optlist_free(l);
    return ok;
}

static bool handle_name(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    const char *name = value;
    OptList *l = NULL;
    bool ok = false;

    /* libvirt style: -name guest=NAME[,debug-threads=on][,process=P] */
    if (g_str_has_prefix(value, "guest=")) {
        static const char *const keys[] = { "guest", "debug-threads", "process", NULL };
        l = parse_opts(opt, value, NULL, false, keys, err);
        if (!l) {
            return false;
        }
        name = optlist_get(l, "guest");
    }
    if (!check_str(opt, "name", name, MAX_STRING_LENGTH, err)) {
        goto out;
    }
    ctx->cfg->name = g_strdup(name);
    ok = true;
out:
    optlist_free(l);
    return ok;
}

static bool handle_uuid(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    if (!g_uuid_string_is_valid(value)) {
        set_error(err, "%s: invalid UUID '%.64s' (expected "
                  "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", opt, value);
        return false;
    }
    ctx->cfg->uuid = g_strdup(value);
    return true;
}

/* Does any OptList in the array have this id= ? */
static bool optlists_have_id(const GPtrArray *lists, const char *id)
{
    for (guint i = 0; i < lists->len; i++) {
        const char *other = optlist_get(g_ptr_array_index(lists, i), "id");
        if (other && strcmp(other, id) == 0) {
            return true;
        }
    }
    return false;
}

static bool handle_drive(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = {
        "id", "file", "if", "unit", "readonly", "direct", "throttling.iops-total", "aio",
        "media", "discard", "detect-zeroes", "format", "l2-cache-size",
        "refcount-cache-size", "bootindex", NULL };
    static const char *const ifs[] = { "none", "pflash", NULL };
    static const char *const formats[] = { "raw", "qcow2", NULL };
    static const char *const aios[] = { "native", "io_uring", "threads", "off", NULL };
    static const char *const medias[] = { "disk", "cdrom", NULL };
    OptList *l = parse_opts(opt, value, NULL, false, keys, err);
    const char *id, *file, *iface, *v;
    bool pflash, b;

    if (!l) {
        return false;
    }
    if (!get_choice(l, "if", ifs, "none or pflash", opt, &iface, err)) {
        goto fail;
    }
    pflash = iface && strcmp(iface, "pflash") == 0;   /* the one kind without an id */
    if (!get_str(l, "id", opt, MAX_STRING_LENGTH, !pflash, &id, err) ||
        !get_str(l, "file", opt, MAX_PATH_LENGTH, true, &file, err) ||
        !get_bool(l, "readonly", opt, &b, NULL, err) ||
        !get_bool(l, "direct", opt, &b, NULL, err) ||
        !get_choice(l, "format", formats, "raw or qcow2", opt, &v, err) ||
        !get_choice(l, "aio", aios, "native, io_uring, threads or off", opt, &v, err) ||
        !get_choice(l, "media", medias, "disk or cdrom", opt, &v, err)) {
        goto fail;
    }
    if (id && optlists_have_id(ctx->cfg->drives, id)) {
        set_error(err, "%s: Drive %s has been added", opt, id);
        goto fail;
    }
    g_ptr_array_add(ctx->cfg->drives, l);
    return true;
fail:
    optlist_free(l);
    return false;
}

static bool handle_device(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    OptList *l = parse_opts(opt, value, "driver", false, NULL, err);
    const char *driver, *id;

    if (!l) {
        return false;
    }
    driver = optlist_get(l, "driver");
    if (!driver) {
        set_error(err, "%s: the driver name must come first", opt);
        goto fail;
    }
    if (!check_str(opt, "driver", driver, MAX_STRING_LENGTH, err) ||
        !get_str(l, "id", opt, MAX_STRING_LENGTH, false, &id, err)) {
        goto fail;
    }
    if (id && optlists_have_id(ctx->cfg->devices, id)) {
        set_error(err, "%s: Device id '%s' has been added", opt, id);
        goto fail;
    }
    g_ptr_array_add(ctx->cfg->devices, l);
    return true;
fail:
    optlist_free(l);
    return false;
}

static bool handle_qtest(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    if (g_str_has_prefix(value, "unix:")) {
        if (!check_sock_path(opt, value + strlen("unix:"), err)) {
            return false;
        }
    } else if (g_str_has_prefix(value, "chardev:")) {
        if (!get_chardev_ref(opt, value, &ctx->qtest_chardev, err)) {
            return false;
        }
    } else {
        set_error(err, "%s: invalid value '%.64s' (expected unix:PATH or chardev:ID)",
                  opt, value);
        return false;
    }
    ctx->cfg->qtest = g_strdup(value);
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

static bool handle_option(ParseCtx *ctx, const OptDef *def, const char *opt,
                          const char *value, GError **err)
{
    StratusConfig *cfg = ctx->cfg;

    switch (def->id) {
    case OPT_MACHINE:
        return handle_machine(ctx, opt, value, err);
    case OPT_ACCEL:
        return handle_accel(ctx, opt, value, err);
    case OPT_ENABLE_KVM:
        ctx->enable_kvm = true;
        return true;
    case OPT_SMP:
        return handle_smp(ctx, opt, value, err);
    case OPT_MEM:
        return handle_mem(ctx, opt, value, err);
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
        return handle_serial(ctx, opt, value, err);
    case OPT_CHARDEV:
        return handle_chardev(ctx, opt, value, err);
    case OPT_QMP:
        return handle_qmp(ctx, opt, value, err);
    case OPT_MON:
        return handle_mon(ctx, opt, value, err);
    case OPT_NAME:
        return handle_name(ctx, opt, value, err);
    case OPT_UUID:
        return handle_uuid(ctx, opt, value, err);
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
    case OPT_DRIVE:
        return handle_drive(ctx, opt, value, err);
    case OPT_DEVICE:
        return handle_device(ctx, opt, value, err);
    case OPT_QTEST:
        return handle_qtest(ctx, opt, value, err);
    case OPT_QTEST_LOG:
        if (strcmp(value, "none") == 0) {
            cfg->qtest_log = g_strdup(value);
            return true;
        }
        return handle_path(opt, value, &cfg->qtest_log, err);
    case OPT_NO_SHUTDOWN:
        cfg->no_shutdown = true;
        return true;
    case OPT_NODEFAULTS:
    case OPT_NO_USER_CONFIG:
    case OPT_NOGRAPHIC:
        return true;
    case OPT_DISPLAY:
    case OPT_VGA:
        return handle_none_only(opt, value, err);
    case OPT_VERSION:
    case OPT_HELP:
    case OPT__COUNT:
        break;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Cross-option checks                                                       */
/* ------------------------------------------------------------------------ */

typedef struct ChardevUser {
    const char *chardev;
    const char *option;      /* "-serial", "-mon", "-qmp", "-qtest" */
    bool monitor;
} ChardevUser;

static const char *chardev_id(gconstpointer p)
{
    return ((const ChardevConfig *)p)->id;
}

static const char *monitor_id(gconstpointer p)
{
    return ((const MonitorConfig *)p)->id;
}

/* Index of the first item whose id an earlier item has already, or -1. */
static int first_repeated_id(const GPtrArray *items, const char *(*id_of)(gconstpointer))
{
    for (guint i = 0; i < items->len; i++) {
        for (guint j = 0; j < i; j++) {
            if (strcmp(id_of(g_ptr_array_index(items, i)),
                       id_of(g_ptr_array_index(items, j))) == 0) {
                return (int)i;
            }
        }
    }
    return -1;
}

static bool finalize(ParseCtx *ctx, GError **err)
{
    StratusConfig *cfg = ctx->cfg;
    GArray *users;
    int dup;
    const char *accel = "kvm:emu";
    const char *origin = NULL;      /* NULL: no accelerator named */
    guint stdio_count = 0;
    bool ok = false;

    if (cfg->pidfile && !cfg->daemonize) {
        set_error(err, "-pidfile must be used with -daemonize together.");
        return false;
    }

    /*
     * Accelerator: -accel > -enable-kvm > -machine accel= > -qtest > the
     * automatic "kvm:emu" (kvm if /dev/kvm is usable, else emu with a warning).
     */
    if (ctx->machine_accel) {
        accel = ctx->machine_accel;
        origin = ctx->machine_accel_origin;
    }
    if (ctx->enable_kvm) {
        if (ctx->accel_opt && strcmp(ctx->accel_opt, "kvm") != 0) {
            set_error(err, "-enable-kvm conflicts with %s", ctx->accel_opt_origin);
            return false;
        }
        accel = "kvm";
        origin = "-enable-kvm";
    }
    if (ctx->accel_opt) {
        accel = ctx->accel_opt;
        origin = ctx->accel_opt_origin;
    }
    if (cfg->qtest) {
        if (!origin) {
            accel = "qtest";
            origin = "-qtest";
        } else if (strcmp(accel, "qtest") != 0) {
            set_error(err, "-qtest can only be used with accel qtest");
            return false;
        }
    }
    g_free(cfg->accel);
    cfg->accel = g_strdup(accel);
    cfg->accel_auto = origin == NULL;
    g_free(cfg->accel_option);
    cfg->accel_option = g_strdup(origin);

    /* Chardev ids are unique, and so are monitor ids. */
    dup = first_repeated_id(cfg->chardevs, chardev_id);
    if (dup >= 0) {
        set_error(err, "%s: chardev id '%s' is already in use",
                  (const char *)g_ptr_array_index(ctx->chardev_origin, dup),
                  chardev_id(g_ptr_array_index(cfg->chardevs, dup)));
        return false;
    }
    dup = first_repeated_id(cfg->monitors, monitor_id);
    if (dup >= 0) {
        set_error(err, "%s: monitor id '%s' is already in use",
                  (const char *)g_ptr_array_index(ctx->monitor_origin, dup),
                  monitor_id(g_ptr_array_index(cfg->monitors, dup)));
        return false;
    }

    /* Every reference names an existing chardev, used by one front end only. */
    users = g_array_new(FALSE, FALSE, sizeof(ChardevUser));
    if (cfg->serial_chardev) {
        ChardevUser u = { cfg->serial_chardev, "-serial", false };
        g_array_append_val(users, u);
    }
    for (guint i = 0; i < cfg->monitors->len; i++) {
        const MonitorConfig *m = g_ptr_array_index(cfg->monitors, i);
        ChardevUser u = { m->chardev, g_ptr_array_index(ctx->monitor_origin, i), true };
        g_array_append_val(users, u);
    }
    if (ctx->qtest_chardev) {
        ChardevUser u = { ctx->qtest_chardev, "-qtest", false };
        g_array_append_val(users, u);
    }
    for (guint i = 0; i < users->len; i++) {
        const ChardevUser *u = &g_array_index(users, ChardevUser, i);
        const ChardevConfig *c = config_find_chardev(cfg, u->chardev);

        if (!c) {
            set_error(err, "%s: chardev '%s' not found", u->option, u->chardev);
            goto out;
        }
        for (guint j = 0; j < i; j++) {
            const ChardevUser *o = &g_array_index(users, ChardevUser, j);
            if (strcmp(o->chardev, u->chardev) == 0) {
                set_error(err, "%s: chardev '%s' is already used by %s",
                          u->option, u->chardev, o->option);
                goto out;
            }
        }
        if (u->monitor && c->kind != CHARDEV_SOCKET) {
            set_error(err, "%s: Only chardev of socket type can be used for monitor "
                      "(chardev '%s')", u->option, u->chardev);
            goto out;
        }
        if (u->monitor || strcmp(u->option, "-serial") == 0) {
            if (c->kind == CHARDEV_SOCKET && c->server && !c->nowait) {
                set_error(err, "%s: Argument 'server' and 'nowait' are both required "
                          "for chardev '%s'", u->option, u->chardev);
                goto out;
            }
        }
        if (c->kind == CHARDEV_FILE && strcmp(u->option, "-qtest") == 0) {
            set_error(err, "-qtest: chardev '%s' must not be a file chardev", u->chardev);
            goto out;
        }
    }

    for (guint i = 0; i < cfg->chardevs->len; i++) {
        const ChardevConfig *c = g_ptr_array_index(cfg->chardevs, i);
        if (c->kind != CHARDEV_STDIO) {
            continue;
        }
        if (++stdio_count > 1) {
            set_error(err, "%s: Can't set multiple devices redirected to stdio "
                      "(chardev '%s')",
                      (const char *)g_ptr_array_index(ctx->chardev_origin, i), c->id);
            goto out;
        }
        if (cfg->daemonize) {
            set_error(err, "-daemonize: Device redirected to stdio and daemonize can't "
                      "be set together (chardev '%s')", c->id);
            goto out;
        }
    }

    if (strcmp(cfg->accel, "qtest") != 0) {
        if (cfg->monitors->len == 0) {
            set_error(err, "Please use '-qmp' or '-mon' to give a qmp path for Unix socket");
            goto out;
        }
        if (strcmp(cfg->machine_type, "microvm") == 0 && !cfg->kernel) {
            set_error(err, "-kernel: kernel file is required for microvm machine type, "
                      "which is not provided");
            goto out;
        }
    }
    ok = true;
out:
    g_array_free(users, TRUE);
    return ok;
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
        } else if (*i + 1 < argc && !is_known_option(argv[*i + 1])) {
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
    return result;
}

void config_print_help(FILE *out)
{
    fprintf(out, "Usage: stratus [options]\n\n"
                 "Options may be written with one or two dashes; '--opt=value' is also "
                 "accepted.\n\n");
    for (size_t i = 0; i < G_N_ELEMENTS(opt_defs); i++) {
        const OptDef *d = &opt_defs[i];
        char *head;

        if (d->alias) {
            head = g_strdup_printf("-%s, -%s", d->name, d->alias);
        } else {
            head = g_strdup_printf("-%s", d->name);
        }
        if (d->argdesc) {
            fprintf(out, "  %s %s\n", head, d->argdesc);
        } else {
            fprintf(out, "  %s\n", head);
        }
        fprintf(out, "        %s\n", d->help);
        g_free(head);
    }
    fprintf(out, "\nSee docs/command-line.md for details.\n");
}
