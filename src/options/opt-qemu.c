/*
 * Options that QEMU's own tests pass (issue 17): -cpu, -rtc, -action,
 * -watchdog-action and -nic none. Each is checked with QEMU 7.2's wording
 * and stored in the StratusConfig; which of them has an effect, and which
 * is accepted only so that a QEMU test starts, is documented per option in
 * docs/command-line.md. QEMU prints some of these errors on two lines; here
 * they are joined into one, as every option error is.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

/* ---- -cpu MODEL[,feature...] -------------------------------------------- */

/* x86_64 models QEMU's tests name; "host" needs KVM (checked once chosen). */
static const char *const cpu_models[] = { "host", "max", "qemu64", "base", "kvm64",
                                          NULL };

/* A feature is +f, -f, f=on|off|true|false|VALUE: accepted, not applied. */
static bool cpu_feature_ok(const char *f)
{
    const char *name = (*f == '+' || *f == '-') ? f + 1 : f;

    return *name && *name != '=' && !strchr(name, ' ');
}

bool opt_handle_cpu(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", -1);

    if (!opt_one_of(parts[0], cpu_models)) {
        set_error(err, "%s: unable to find CPU model '%.64s'", opt, parts[0]);
        return false;
    }
    for (char **p = parts + 1; *p; p++) {
        if (!cpu_feature_ok(*p)) {
            set_error(err, "%s: invalid CPU feature '%.64s'", opt, *p);
            return false;
        }
    }
    g_free(ctx->cfg->cpu_model);
    ctx->cfg->cpu_model = g_strdup(parts[0]);
    return true;
}

/* ---- -rtc [base=...][,clock=...][,driftfix=...] ------------------------- */

/*
 * QEMU's two datetime forms, read as UTC ("2006-06-17T16:01:21" or
 * "2006-06-17"). Every field is range-checked, so that "2006-13-01" is an
 * error rather than a date in the next year.
 */
static bool rtc_parse_datetime(const char *s, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    g_autoptr(GDateTime) dt = NULL;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        s[n] != '\0') {
        n = 0;
        h = mi = sec = 0;
        if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || s[n] != '\0') {
            return false;
        }
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 ||
        h < 0 || mi < 0 || sec < 0) {
        return false;
    }
    dt = g_date_time_new_utc(y, mo, d, h, mi, sec);
    if (!dt || g_date_time_get_day_of_month(dt) != d) {
        return false;
    }
    *out = g_date_time_to_unix(dt);
    return true;
}

bool opt_handle_rtc(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "base", "clock", "driftfix", NULL };
    static const char *const clocks[] = { "host", "rt", "vm", NULL };
    static const char *const driftfixes[] = { "none", "slew", NULL };
    StratusConfig *cfg = ctx->cfg;
    OptList *l = opt_parse_params(opt, value, NULL, false, keys, err);
    const char *base, *clock, *driftfix;
    int64_t epoch = 0;
    bool ok = false;

    if (!l) {
        return false;
    }
    base = optlist_get(l, "base");
    clock = optlist_get(l, "clock");
    driftfix = optlist_get(l, "driftfix");
    if (base && strcmp(base, "utc") && strcmp(base, "localtime") &&
        !rtc_parse_datetime(base, &epoch)) {
        set_error(err, "%s: invalid datetime format (valid formats: "
                  "'2006-06-17T16:01:21' or '2006-06-17')", opt);
        goto out;
    }
    if (clock && !opt_one_of(clock, clocks)) {
        set_error(err, "%s: invalid option value '%.64s'", opt, clock);
        goto out;
    }
    if (driftfix && !opt_one_of(driftfix, driftfixes)) {
        set_error(err, "%s: invalid option value '%.64s'", opt, driftfix);
        goto out;
    }
    /* A later -rtc changes only what it names, as QEMU merges them. */
    if (base) {
        g_free(cfg->rtc_base);
        cfg->rtc_base = g_strdup(base);
        cfg->rtc_base_epoch = epoch;
    }
    if (clock) {
        g_free(cfg->rtc_clock);
        cfg->rtc_clock = g_strdup(clock);
    }
    if (driftfix) {
        cfg->rtc_driftfix_slew = !strcmp(driftfix, "slew");
    }
    ok = true;
out:
    optlist_free(l);
    return ok;
}

/* ---- -action and -watchdog-action --------------------------------------- */

const char *const config_reboot_actions[] = { "reset", "shutdown", NULL };
const char *const config_shutdown_actions[] = { "poweroff", "pause", NULL };
const char *const config_panic_actions[] = { "pause", "shutdown", "exit-failure", "none", NULL };
const char *const config_watchdog_actions[] = { "reset", "shutdown", "poweroff", "pause",
                                                "debug", "none", "inject-nmi", NULL };

/* QAPI's enum error, as QEMU's -action and -watchdog-action give it. */
static bool action_choice(const OptList *l, const char *key, const char *const *choices,
                          const char *opt, const char *value, char **out, GError **err)
{
    const char *v = optlist_get(l, key);

    if (!v) {
        return true;
    }
    if (!opt_one_of(v, choices)) {
        set_error(err, "%s %.64s: Parameter '%s' does not accept value '%.64s'",
                  opt, value, key, v);
        return false;
    }
    g_free(*out);
    *out = g_strdup(v);
    return true;
}

bool opt_handle_action(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "reboot", "shutdown", "panic", "watchdog", NULL };
    StratusConfig *cfg = ctx->cfg;
    OptList *l = opt_parse_params(opt, value, NULL, false, keys, err);
    g_autofree char *shutdown = NULL;
    bool ok;

    if (!l) {
        return false;
    }
    ok = action_choice(l, "reboot", config_reboot_actions, opt, value, &cfg->action_reboot, err) &&
         action_choice(l, "shutdown", config_shutdown_actions, opt, value, &shutdown, err) &&
         action_choice(l, "panic", config_panic_actions, opt, value, &cfg->action_panic, err) &&
         action_choice(l, "watchdog", config_watchdog_actions, opt, value,
                       &cfg->action_watchdog, err);
    if (ok && shutdown) {
        /* shutdown=pause is what -no-shutdown means. */
        cfg->no_shutdown = !strcmp(shutdown, "pause");
    }
    optlist_free(l);
    return ok;
}

bool opt_handle_watchdog_action(ParseCtx *ctx, const char *opt, const char *value,
                                GError **err)
{
    if (!opt_one_of(value, config_watchdog_actions)) {
        set_error(err, "%s %.64s: Parameter 'watchdog' does not accept value '%.64s'",
                  opt, value, value);
        return false;
    }
    g_free(ctx->cfg->action_watchdog);
    ctx->cfg->action_watchdog = g_strdup(value);
    return true;
}

/* ---- -nic none ----------------------------------------------------------- */

/* Stratus has no default NIC, so "none" asks for what there already is. */
bool opt_handle_nic(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    (void)ctx;
    if (strcmp(value, "none") != 0) {
        set_error(err, "%s: only 'none' is supported (use -netdev tap,id=ID and "
                  "-device virtio-net-device,netdev=ID)", opt);
        return false;
    }
    return true;
}

/* ---- -boot ------------------------------------------------------------------ */

/* QEMU's drive letters a..p, each at most once. */
static bool boot_devices_ok(const char *opt, const char *v, GError **err)
{
    unsigned seen = 0;

    for (const char *p = v; *p; p++) {
        if (*p < 'a' || *p > 'p') {
            set_error(err, "%s: Invalid boot device '%c'", opt, *p);
            return false;
        }
        if (seen & (1u << (*p - 'a'))) {
            set_error(err, "%s: Boot device '%c' was given twice", opt, *p);
            return false;
        }
        seen |= 1u << (*p - 'a');
    }
    return true;
}

/* A whole number of milliseconds in [lo, 65535], as the fw_cfg files hold. */
static bool boot_time(const char *opt, const OptList *l, const char *key, int64_t lo,
                      int64_t *out, GError **err)
{
    const char *v = optlist_get(l, key);
    char *end = NULL;
    gint64 n;

    if (!v) {
        return true;
    }
    n = g_ascii_strtoll(v, &end, 10);
    if (!*v || *end || n < lo || n > 0xffff) {
        set_error(err, "%s: Parameter '%s' expects a number of milliseconds from %" G_GINT64_FORMAT
                  " to 65535", opt, key, lo);
        return false;
    }
    *out = n;
    return true;
}

static bool boot_onoff(const char *opt, const OptList *l, const char *key, bool *out,
                       GError **err)
{
    const char *v = optlist_get(l, key);

    if (!v) {
        return true;
    }
    if (strcmp(v, "on") && strcmp(v, "off")) {
        set_error(err, "%s: Parameter '%s' expects 'on' or 'off'", opt, key);
        return false;
    }
    *out = !strcmp(v, "on");
    return true;
}

bool opt_handle_boot(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "order", "once", "menu", "splash", "splash-time",
                                        "reboot-timeout", "strict", NULL };
    StratusConfig *cfg = ctx->cfg;
    OptList *l = opt_parse_params(opt, value, "order", false, keys, err);
    const char *order, *once;
    bool ok = false;

    if (!l) {
        return false;
    }
    order = optlist_get(l, "order");
    once = optlist_get(l, "once");
    if ((order && !boot_devices_ok(opt, order, err)) ||
        (once && !boot_devices_ok(opt, once, err)) ||
        !boot_onoff(opt, l, "menu", &cfg->boot_menu, err) ||
        !boot_onoff(opt, l, "strict", &cfg->boot_strict, err) ||
        !boot_time(opt, l, "splash-time", 0, &cfg->boot_splash_time, err) ||
        !boot_time(opt, l, "reboot-timeout", -1, &cfg->boot_reboot_timeout, err)) {
        goto out;
    }
    if (optlist_get(l, "splash")) {
        set_error(err, "%s: splash= is not supported (there is no firmware to show it)", opt);
        goto out;
    }
    if (order) {
        g_free(cfg->boot_order);
        cfg->boot_order = g_strdup(order);
    }
    ok = true;
out:
    optlist_free(l);
    return ok;
}

void opt_global_free(gpointer p)
{
    GlobalProp *g = p;

    g_free(g->driver);
    g_free(g->property);
    g_free(g->value);
    g_free(g);
}

/*
 * -global DRIVER.PROP=VALUE, or QEMU's keyed form driver=D,property=P,value=V.
 * Whether DRIVER and PROP exist is the device model's business: QEMU's
 * tooling passes globals for devices a machine may not have.
 */
bool opt_handle_global(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "driver", "property", "value", NULL };
    const char *dot = strchr(value, '.'), *eq = strchr(value, '=');
    GlobalProp *g = g_new0(GlobalProp, 1);

    if (g_str_has_prefix(value, "driver=")) {
        OptList *l = opt_parse_params(opt, value, NULL, false, keys, err);
        if (l) {
            g->driver = g_strdup(optlist_get(l, "driver"));
            g->property = g_strdup(optlist_get(l, "property"));
            g->value = g_strdup(optlist_get(l, "value"));
            optlist_free(l);
        }
    } else if (dot && eq && dot < eq) {
        g->driver = g_strndup(value, (gsize)(dot - value));
        g->property = g_strndup(dot + 1, (gsize)(eq - dot - 1));
        g->value = g_strdup(eq + 1);
    }
    if (!g->driver || !*g->driver || !g->property || !*g->property || !g->value) {
        if (err && !*err) {
            set_error(err, "%s: invalid value '%s' (expected DRIVER.PROPERTY=VALUE)", opt,
                      value);
        }
        opt_global_free(g);
        return false;
    }
    g_ptr_array_add(ctx->cfg->globals, g);
    return true;
}
