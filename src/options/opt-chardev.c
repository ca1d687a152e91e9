/*
 * The character-device options: -chardev and -serial (back ends), -qmp and
 * -mon (QMP monitors on a socket), -qtest (the qtest protocol socket), and
 * the rules that tie them together once every option is read: each
 * "chardev:ID" reference names an existing chardev, each chardev has one
 * user, monitors sit on sockets, and only one of them owns stdio. These are
 * the options whose values refer to each other by id, which is why their
 * cross-checks live here rather than with the rest in options.c.
 */
#include <limits.h>
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

#define SERIAL_CHARDEV_ID "serial_chardev"

static ChardevConfig *chardev_config_new(void)
{
    ChardevConfig *c = g_new0(ChardevConfig, 1);

    c->port = -1;
    c->fd = -1;
    return c;
}

void opt_chardev_config_free(gpointer p)
{
    ChardevConfig *c = p;

    if (!c) {
        return;
    }
    g_free(c->id);
    g_free(c->path);
    g_free(c->host);
    g_free(c->origin);
    g_free(c);
}

void opt_monitor_config_free(gpointer p)
{
    MonitorConfig *m = p;

    if (!m) {
        return;
    }
    g_free(m->id);
    g_free(m->chardev);
    g_free(m->uri);
    g_free(m);
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

/* "chardev:ID" names a -chardev; opt_check_chardevs() checks that it exists. */
static bool get_chardev_ref(const char *opt, const char *value, char **out, GError **err)
{
    const char *id = value + strlen("chardev:");

    if (!opt_check_str(opt, "chardev id", id, MAX_STRING_LENGTH, err)) {
        return false;
    }
    *out = g_strdup(id);
    return true;
}

static void add_chardev(ParseCtx *ctx, ChardevConfig *c, const char *origin)
{
    c->origin = g_strdup(ctx->origin);
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
    if (!opt_get_bool(l, "server", option, server, NULL, err) ||
        !opt_get_bool(l, "nowait", option, &nw, &has_nw, err) ||
        !opt_get_bool(l, "wait", option, &w, &has_w, err)) {
        return false;
    }
    if (has_nw && has_w && nw == w) {
        set_error(err, "%s: 'nowait' and 'wait' contradict each other", option);
        return false;
    }
    *nowait = has_nw ? nw : (has_w ? !w : false);
    return true;
}

/*
 * rate-limit=N|off: commands per second and connection. Absent: StratoVirt's
 * 100 in lenient mode, none in strict mode (QEMU has no limit).
 */
static bool parse_rate_limit(const OptList *l, const char *option, MonitorConfig *m,
                             GError **err)
{
    const char *v = optlist_get(l, "rate-limit");
    uint64_t n;

    m->rate_limit_defaulted = !v;
    if (!v) {
        m->rate_limit = m->mode == QMP_MODE_STRICT ? 0 : MONITOR_RATE_LIMIT_DEFAULT;
        return true;
    }
    if (strcmp(v, "off") == 0) {
        m->rate_limit = 0;
        return true;
    }
    if (!parse_uint(v, &n) || n < 1 || n > MONITOR_RATE_LIMIT_MAX) {
        set_error(err, "%s: rate-limit must be 'off' or a number of commands per second "
                  "in [1, %d], got '%.64s'", option, MONITOR_RATE_LIMIT_MAX, v);
        return false;
    }
    m->rate_limit = (unsigned)n;
    return true;
}

/* qmp-mode, qmp-greeting and rate-limit, the Stratus keys of -qmp and -mon. */
static bool parse_qmp_mode(const OptList *l, const char *option, MonitorConfig *m,
                           GError **err)
{
    static const char *const modes[] = { "lenient", "strict", NULL };
    static const char *const greetings[] = { "qemu", "legacy", NULL };
    const char *mode, *greeting;

    if (!opt_get_choice(l, "qmp-mode", modes, "lenient or strict", option, &mode, err) ||
        !opt_get_choice(l, "qmp-greeting", greetings, "qemu or legacy", option, &greeting,
                        err)) {
        return false;
    }
    /* Absent means the default: lenient mode, the QEMU greeting. */
    m->mode_defaulted = !mode;
    m->mode = mode && strcmp(mode, "strict") == 0 ? QMP_MODE_STRICT : QMP_MODE_LENIENT;
    m->greeting = greeting && strcmp(greeting, "legacy") == 0 ? QMP_GREETING_LEGACY
                                                              : QMP_GREETING_QEMU;
    return parse_rate_limit(l, option, m, err);
}

/*
 * reconnect=N (QEMU 7.2): a client socket retries its connection every N
 * seconds, at start-up and after the peer goes away. QEMU's texts for the
 * sockets it cannot apply to.
 */
static bool parse_reconnect(const OptList *l, const char *option, ChardevConfig *c,
                            bool has_fd, GError **err)
{
    const char *v = optlist_get(l, "reconnect");
    uint64_t n;

    if (!v) {
        return true;
    }
    if (!parse_uint(v, &n) || n > 86400) {
        set_error(err, "%s: invalid reconnect '%.64s' (expected seconds, 0..86400)", option, v);
        return false;
    }
    if (has_fd) {
        set_error(err, "%s: 'reconnect' option is incompatible with 'fd' address type",
                  option);
        return false;
    }
    if (c->server) {
        set_error(err, "%s: 'reconnect' option is incompatible with socket in server "
                  "listen mode", option);
        return false;
    }
    c->reconnect = (unsigned)n;
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
                                               "fd", "server", "nowait", "wait",
                                               "reconnect", NULL };
    const char *backend = optlist_get(l, "backend");
    const char *const *keys;
    ChardevConfig *c = chardev_config_new();
    const char *id;

    if (!backend) {
        set_error(err, "%s: missing backend type (stdio, pty, file, socket or null)",
                  option);
        goto fail;
    }
    if (strcmp(backend, "null") == 0) {
        c->kind = CHARDEV_NULL;
        keys = keys_stdio;
    } else if (strcmp(backend, "stdio") == 0) {
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
        set_error(err, "%s: unsupported backend '%s' (expected stdio, pty, file, socket "
                  "or null)", option, backend);
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
    } else if (!opt_get_str(l, "id", option, MAX_STRING_LENGTH, true, &id, err)) {
        goto fail;
    }
    c->id = g_strdup(id);

    if (c->kind == CHARDEV_FILE) {
        const char *path = optlist_get(l, "path");
        if (!path) {
            set_error(err, "%s: 'path' is required for a file chardev", option);
            goto fail;
        }
        if (!opt_check_str(option, "path", path, MAX_PATH_LENGTH, err)) {
            goto fail;
        }
        c->path = g_strdup(path);
    } else if (c->kind == CHARDEV_SOCKET) {
        const char *path = optlist_get(l, "path");
        const char *host = optlist_get(l, "host");
        const char *port = optlist_get(l, "port");
        const char *fd = optlist_get(l, "fd");
        int n = !!path + !!port + !!fd;

        if (!parse_server_flags(l, option, &c->server, &c->nowait, err) ||
            !parse_reconnect(l, option, c, fd != NULL, err)) {
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
            if (!opt_check_sock_path(option, path, err)) {
                goto fail;
            }
            c->path = g_strdup(path);
        } else if (port) {
            if (!opt_parse_port(option, port, &c->port, err)) {
                goto fail;
            }
            if (host && !opt_check_str(option, "host", host, MAX_STRING_LENGTH, err)) {
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
    opt_chardev_config_free(c);
    return NULL;
}

/* A chardev given inline by -chardev or -serial; origin names that option. */
static bool add_chardev_opts(ParseCtx *ctx, const char *opt, const char *value,
                             const char *forced_id, const char *origin, GError **err)
{
    OptList *l = opt_parse_params(opt, value, "backend", false, NULL, err);
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

/*
 * -serial: COM1 and its back end. "none" means no COM1 at all; "null" is
 * COM1 with the null back end (QEMU's meanings).
 */
bool opt_handle_serial(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    ctx->serial_given = true;
    if (g_str_has_prefix(value, "chardev:")) {
        return get_chardev_ref(opt, value, &ctx->cfg->serial_chardev, err);
    }
    if (strcmp(value, "none") == 0) {
        return true;
    }
    if (!add_chardev_opts(ctx, opt, value, SERIAL_CHARDEV_ID, "-serial", err)) {
        return false;
    }
    ctx->cfg->serial_chardev = g_strdup(SERIAL_CHARDEV_ID);
    return true;
}

bool opt_handle_chardev(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    return add_chardev_opts(ctx, opt, value, NULL, "-chardev", err);
}

bool opt_handle_qmp(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "uri", "server", "nowait", "wait", "qmp-mode",
                                        "qmp-greeting", "rate-limit", NULL };
    OptList *l = opt_parse_params(opt, value, "uri", true, keys, err);
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
        if (!opt_check_sock_path(opt, path, err)) {
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
        if (!opt_parse_port(opt, colon + 1, &c->port, err)) {
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
    if (c->server && !c->nowait) {
        set_error(err, "%s: Argument 'server' and 'nowait' are both required", opt);
        goto out;
    }
    /* Without server: a client that connects out at startup (QEMU). */
    if (!c->server && (optlist_get(l, "nowait") || optlist_get(l, "wait"))) {
        set_error(err, "%s: 'wait' option is incompatible with socket in client "
                  "connect mode", opt);
        goto out;
    }
    m = g_new0(MonitorConfig, 1);
    if (!parse_qmp_mode(l, opt, m, err)) {
        goto out;
    }
    m->uri = g_strdup(uri);
    m->id = g_strdup(c->id);
    m->chardev = g_strdup(c->id);
    add_chardev(ctx, c, "-qmp");
    add_monitor(ctx, m, "-qmp");
    c = NULL;
    m = NULL;
    ctx->qmp_count++;
    ok = true;
out:
    opt_chardev_config_free(c);
    opt_monitor_config_free(m);
    optlist_free(l);
    return ok;
}

bool opt_handle_mon(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "chardev", "id", "mode", "pretty", "qmp-mode",
                                        "qmp-greeting", "rate-limit", NULL };
    OptList *l = opt_parse_params(opt, value, "chardev", false, keys, err);
    MonitorConfig *m = NULL;
    const char *chardev, *id, *mode;
    bool pretty;
    bool ok = false;

    if (!l) {
        return false;
    }
    if (!opt_get_str(l, "chardev", opt, MAX_STRING_LENGTH, true, &chardev, err) ||
        !opt_get_str(l, "id", opt, MAX_STRING_LENGTH, false, &id, err)) {
        goto out;
    }
    mode = optlist_get(l, "mode");
    if (mode && strcmp(mode, "control") != 0) {
        set_error(err, "%s: invalid mode '%s' (only 'control' is supported)", opt, mode);
        goto out;
    }
    if (!opt_get_bool(l, "pretty", opt, &pretty, NULL, err)) {
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
    opt_monitor_config_free(m);
    optlist_free(l);
    return ok;
}

bool opt_handle_qtest(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    if (g_str_has_prefix(value, "unix:")) {
        if (!opt_check_sock_path(opt, value + strlen("unix:"), err)) {
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

/* ------------------------------------------------------------------------ */
/* After all options                                                         */
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

/*
 * QEMU gives a machine a default serial port unless -serial or -nodefaults
 * says otherwise; under qtest (no display, no console) its back end is null.
 * Stratus does the same under qtest, so that QEMU's device tests find COM1;
 * on the other accelerators a VM without -serial keeps having no COM1
 * (StratoVirt).
 */
static void add_default_serial(ParseCtx *ctx)
{
    StratusConfig *cfg = ctx->cfg;
    ChardevConfig *c;

    if (ctx->serial_given || ctx->nodefaults || strcmp(cfg->accel, "qtest") != 0 ||
        config_find_chardev(cfg, SERIAL_CHARDEV_ID)) {
        return;
    }
    c = chardev_config_new();
    c->kind = CHARDEV_NULL;
    c->id = g_strdup(SERIAL_CHARDEV_ID);
    add_chardev(ctx, c, "-serial");
    cfg->serial_chardev = g_strdup(SERIAL_CHARDEV_ID);
}

/*
 * libqtest talks strict QMP to the -mon it creates: under -accel qtest a
 * -mon without qmp-mode= is strict (and so, unless rate-limit= says
 * otherwise, unlimited), as QEMU's. -qmp keeps the lenient default.
 */
static void qtest_monitor_defaults(ParseCtx *ctx)
{
    StratusConfig *cfg = ctx->cfg;

    if (strcmp(cfg->accel, "qtest") != 0) {
        return;
    }
    for (guint i = 0; i < cfg->monitors->len; i++) {
        MonitorConfig *m = g_ptr_array_index(cfg->monitors, i);
        if (m->uri || !m->mode_defaulted) {
            continue;
        }
        m->mode = QMP_MODE_STRICT;
        if (m->rate_limit_defaulted) {
            m->rate_limit = 0;
        }
    }
}

bool opt_check_chardevs(ParseCtx *ctx, GError **err)
{
    StratusConfig *cfg = ctx->cfg;
    GArray *users;
    int dup;
    guint stdio_count = 0;
    bool ok = false;

    add_default_serial(ctx);
    qtest_monitor_defaults(ctx);

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

    ok = true;
out:
    g_array_free(users, TRUE);
    return ok;
}
