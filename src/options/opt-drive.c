/*
 * -drive and -device. Both are kept as raw OptLists (StratusConfig.drives,
 * .devices) because their meaning belongs to the block layer and the device
 * that consumes them; here only what holds for every consumer is checked:
 * the syntax, the parameters -drive accepts and their values, and that ids
 * are unique.
 */
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

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

bool opt_handle_drive(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = {
        "id", "file", "if", "unit", "readonly", "direct", "throttling.iops-total", "aio",
        "media", "discard", "detect-zeroes", "format", "l2-cache-size",
        "refcount-cache-size", "bootindex", NULL };
    static const char *const ifs[] = { "none", "pflash", NULL };
    static const char *const formats[] = { "raw", "qcow2", NULL };
    static const char *const aios[] = { "native", "io_uring", "threads", "off", NULL };
    static const char *const medias[] = { "disk", "cdrom", NULL };
    OptList *l = opt_parse_params(opt, value, NULL, false, keys, err);
    const char *id, *file, *iface, *v;
    bool pflash, b;

    if (!l) {
        return false;
    }
    if (!opt_get_choice(l, "if", ifs, "none or pflash", opt, &iface, err)) {
        goto fail;
    }
    pflash = iface && strcmp(iface, "pflash") == 0;   /* the one kind without an id */
    if (!opt_get_str(l, "id", opt, MAX_STRING_LENGTH, !pflash, &id, err) ||
        !opt_get_str(l, "file", opt, MAX_PATH_LENGTH, true, &file, err) ||
        !opt_get_bool(l, "readonly", opt, &b, NULL, err) ||
        !opt_get_bool(l, "direct", opt, &b, NULL, err) ||
        !opt_get_choice(l, "format", formats, "raw or qcow2", opt, &v, err) ||
        !opt_get_choice(l, "aio", aios, "native, io_uring, threads or off", opt, &v, err) ||
        !opt_get_choice(l, "media", medias, "disk or cdrom", opt, &v, err)) {
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

bool opt_handle_device(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    OptList *l = opt_parse_params(opt, value, "driver", false, NULL, err);
    const char *driver, *id;

    if (!l) {
        return false;
    }
    driver = optlist_get(l, "driver");
    if (!driver) {
        set_error(err, "%s: the driver name must come first", opt);
        goto fail;
    }
    if (!opt_check_str(opt, "driver", driver, MAX_STRING_LENGTH, err) ||
        !opt_get_str(l, "id", opt, MAX_STRING_LENGTH, false, &id, err)) {
        goto fail;
    }
    if (id && optlists_have_id(ctx->cfg->devices, id)) {
        set_error(err, "%s: Device id '%s' has been added", opt, id);
        goto fail;
    }
    g_ptr_array_add(ctx->cfg->devices, l);
    g_ptr_array_add(ctx->cfg->device_origins, g_strdup(ctx->origin));
    return true;
fail:
    optlist_free(l);
    return false;
}
