/*
 * The options that say what machine to build: -machine, -accel and
 * -enable-kvm, -smp (vCPU count and topology), -m (RAM size), -name and
 * -uuid; and, once every option is read, which accelerator the three
 * accelerator spellings add up to. Values are checked here against the
 * limits in config.h so machine creation can trust them.
 */
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

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
        if (!opt_one_of(name, accels)) {
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

/* QEMU's OnOffAuto: on, off or auto (and the bool spellings for on and off). */
static bool feature_switch(const OptList *l, const char *key, const char *opt,
                           FeatureSwitch *out, GError **err)
{
    const char *v = optlist_get(l, key);
    bool b;

    if (!v) {
        return true;
    }
    if (!strcmp(v, "auto")) {
        *out = FEATURE_AUTO;
    } else if (parse_bool(v, &b)) {
        *out = b ? FEATURE_ON : FEATURE_OFF;
    } else {
        set_error(err, "%s: Parameter '%s' does not accept value '%s' (expected on, off or "
                  "auto)", opt, key, v);
        return false;
    }
    return true;
}

bool opt_handle_machine(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "type", "accel", "dump-guest-core", "mem-share",
                                        "usb", "rtc", "fw_cfg", "acpi", NULL };
    static const char *const types[] = { "microvm", "q35", "none", NULL };
    StratusConfig *cfg = ctx->cfg;
    OptList *l = opt_parse_params(opt, value, "type", false, keys, err);
    const char *type, *accel, *usb;
    bool ok = false;

    if (!l) {
        return false;
    }
    type = optlist_get(l, "type");
    if (type) {
        if (!opt_one_of(type, types)) {
            set_error(err, "%s: unsupported machine type '%s' (expected microvm, q35 or none)",
                      opt, type);
            goto out;
        }
        g_free(cfg->machine_type);
        cfg->machine_type = g_strdup(type);
    }
    accel = optlist_get(l, "accel");
    if (accel) {
        /* a later -machine accel= replaces an earlier one */
        g_free(ctx->machine_accel);
        g_free(ctx->machine_accel_origin);
        ctx->machine_accel_origin = NULL;
        ctx->machine_accel = parse_accel_list(opt, "accel", accel, err);
        if (!ctx->machine_accel) {
            goto out;
        }
        ctx->machine_accel_origin = g_strdup_printf("%s accel=%s", opt, accel);
    }
    if (!opt_get_bool(l, "dump-guest-core", opt, &cfg->dump_guest_core, NULL, err) ||
        !opt_get_bool(l, "mem-share", opt, &cfg->mem_share, NULL, err)) {
        goto out;
    }
    if (!feature_switch(l, "rtc", opt, &cfg->machine_rtc, err) ||
        !feature_switch(l, "fw_cfg", opt, &cfg->machine_fw_cfg, err) ||
        !feature_switch(l, "acpi", opt, &cfg->machine_acpi, err)) {
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

/*
 * QEMU's "-accel tcg,PROP=VALUE" for the one property emu has: ioeventfd=
 * on|off (bool spellings). Returns the accelerator's name alone, or NULL.
 */
static const char *emu_props(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    const char *rest = strchr(value, ',') + 1;
    g_auto(GStrv) props = g_strsplit(rest, ",", -1);

    if (!*rest) {
        set_error(err, "%s: '': emu takes only ioeventfd=on|off", opt);
        return NULL;
    }
    for (char **p = props; *p; p++) {
        const char *v = g_str_has_prefix(*p, "ioeventfd=") ? *p + strlen("ioeventfd=") : NULL;
        bool b;

        if (!v || !parse_bool(v, &b)) {
            set_error(err, "%s: '%s': emu takes only ioeventfd=on|off", opt, *p);
            return NULL;
        }
        ctx->cfg->emu_ioeventfd = b ? FEATURE_ON : FEATURE_OFF;
    }
    return "emu";
}

/*
 * A repeated -accel adds to the list: QEMU tries repeated -accel options in
 * order, so "-accel kvm -accel tcg" is "-accel kvm:tcg". Each value is
 * checked alone first, so that a bad one is named as it was given.
 */
bool opt_handle_accel(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    g_autofree char *alone = NULL;
    g_autofree char *joined = NULL;
    char *list, *origin;

    if (g_str_has_prefix(value, "emu,") || g_str_has_prefix(value, "tcg,")) {
        value = emu_props(ctx, opt, value, err);
        if (!value) {
            return false;
        }
    }
    alone = parse_accel_list(opt, "accelerator", value, err);

    if (!alone) {
        return false;
    }
    if (!ctx->accel_opt) {
        ctx->accel_opt = g_steal_pointer(&alone);
        ctx->accel_opt_origin = g_strdup_printf("%s %s", opt, value);
        return true;
    }
    joined = g_strdup_printf("%s:%s", ctx->accel_opt, alone);
    list = parse_accel_list(opt, "accelerator", joined, err);
    if (!list) {
        return false;
    }
    origin = g_strdup_printf("%s %s %s", ctx->accel_opt_origin, opt, value);
    g_free(ctx->accel_opt);
    g_free(ctx->accel_opt_origin);
    ctx->accel_opt = list;
    ctx->accel_opt_origin = origin;
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

bool opt_handle_smp(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "cpus", "maxcpus", "sockets", "dies", "clusters",
                                        "cores", "threads", NULL };
    OptList *l = opt_parse_params(opt, value, "cpus", false, keys, err);
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

bool opt_handle_mem(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "size", "maxmem", NULL };
    OptList *l = opt_parse_params(opt, value, "size", false, keys, err);
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
        g_autofree char *msg = g_strdup_printf(
            "invalid %s value '%s': Memory size must >= 128MiB and <= 512GiB, default unit: "
            "MiB, current memory size: %" G_GUINT64_FORMAT " bytes", opt, size, bytes);

        /*
         * StratoVirt's floor stays for machines that run a guest; QEMU's tests
         * (-accel qtest, -machine none) may use less, down to QTEST_MIN_MEMORY_SIZE:
         * opt_resolve_accel() decides once the accelerator is known.
         */
        if (bytes < QTEST_MIN_MEMORY_SIZE || bytes > MAX_MEMORY_SIZE) {
            set_error(err, "%s", msg);
            goto out;
        }
        g_free(ctx->mem_floor_error);
        ctx->mem_floor_error = g_steal_pointer(&msg);
    } else {
        g_clear_pointer(&ctx->mem_floor_error, g_free);
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
    ctx->mem_given = true;
    ctx->cfg->mem_size_given = true;
    ok = true;
out:
    optlist_free(l);
    return ok;
}

bool opt_handle_name(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    const char *name = value;
    OptList *l = NULL;
    bool ok = false;

    /* libvirt style: -name guest=NAME[,debug-threads=on][,process=P] */
    if (g_str_has_prefix(value, "guest=")) {
        static const char *const keys[] = { "guest", "debug-threads", "process", NULL };
        l = opt_parse_params(opt, value, NULL, false, keys, err);
        if (!l) {
            return false;
        }
        name = optlist_get(l, "guest");
    }
    if (!opt_check_str(opt, "name", name, MAX_STRING_LENGTH, err)) {
        goto out;
    }
    ctx->cfg->name = g_strdup(name);
    ok = true;
out:
    optlist_free(l);
    return ok;
}

bool opt_handle_uuid(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    if (!g_uuid_string_is_valid(value)) {
        set_error(err, "%s: invalid UUID '%.64s' (expected "
                  "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", opt, value);
        return false;
    }
    ctx->cfg->uuid = g_strdup(value);
    return true;
}

/*
 * Which accelerator wins: -accel > -enable-kvm > -machine accel= > -qtest >
 * the automatic "kvm:emu" (kvm if /dev/kvm is usable, else emu with a
 * warning).
 */
bool opt_resolve_accel(ParseCtx *ctx, GError **err)
{
    StratusConfig *cfg = ctx->cfg;
    const char *accel = "kvm:emu";
    const char *origin = NULL;      /* NULL: no accelerator named */

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
    if (ctx->mem_floor_error && strcmp(accel, "qtest") && strcmp(cfg->machine_type, "none")) {
        set_error(err, "%s", ctx->mem_floor_error);
        return false;
    }
    if (!ctx->mem_given && !strcmp(accel, "qtest")) {
        cfg->mem_size = QTEST_DEFAULT_MEMORY_SIZE;
    }
    g_free(cfg->accel);
    cfg->accel = g_strdup(accel);
    cfg->accel_auto = origin == NULL;
    g_free(cfg->accel_option);
    cfg->accel_option = g_strdup(origin);
    return true;
}
