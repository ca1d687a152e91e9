/*
 * -object TYPE,id=ID[,key=value...] (QEMU's syntax, StratoVirt's -object).
 * Types: rng-random (the back end of virtio-rng) and memory-backend-ram
 * (size=, share/merge/dump/prealloc/reserve=on|off). The object is created
 * when the machine is (backends/object.h), as QEMU does, so here only the
 * syntax, the keys, their values, the id and its uniqueness are checked.
 * The texts are QEMU's, after the option name as every parser error has.
 */
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

/* Every key is qom-type, id or one of `keys`. */
static bool check_keys(const OptList *l, const char *opt, const char *const *keys,
                       GError **err)
{
    for (guint i = 0; i < l->pairs->len; i++) {
        const OptPair *p = g_ptr_array_index(l->pairs, i);
        if (strcmp(p->key, "qom-type") && strcmp(p->key, "id") &&
            !g_strv_contains(keys, p->key)) {
            set_error(err, "%s: Invalid parameter '%s'", opt, p->key);
            return false;
        }
    }
    return true;
}

static const char *const memory_backend_bools[] = {
    "share", "merge", "dump", "prealloc", "reserve", NULL
};

/* QEMU's texts for the size and the on/off members; size 0 is the object's error. */
static bool check_memory_backend(const OptList *l, const char *opt, GError **err)
{
    static const char *const keys[] = {
        "size", "share", "merge", "dump", "prealloc", "reserve", NULL
    };
    const char *size = optlist_get(l, "size");
    uint64_t v;
    bool b;

    if (!check_keys(l, opt, keys, err)) {
        return false;
    }
    if (!size) {
        set_error(err, "%s: Parameter 'size' is missing", opt);
        return false;
    }
    if (!parse_size(size, 1, &v, NULL)) {
        set_error(err, "%s: Parameter 'size' expects a non-negative number below 2^64",
                  opt);
        return false;
    }
    for (const char *const *k = memory_backend_bools; *k; k++) {
        const char *val = optlist_get(l, *k);
        if (val && !parse_bool(val, &b)) {
            set_error(err, "%s: Parameter '%s' expects 'on' or 'off'", opt, *k);
            return false;
        }
    }
    return true;
}

static bool check_rng_random(const OptList *l, const char *opt, GError **err)
{
    static const char *const keys[] = { "filename", NULL };
    const char *filename = optlist_get(l, "filename");

    if (!check_keys(l, opt, keys, err)) {
        return false;
    }
    if (filename && strlen(filename) > MAX_PATH_LENGTH) {
        set_error(err, "%s: filename is too long (%zu > %d characters)", opt,
                  strlen(filename), MAX_PATH_LENGTH);
        return false;
    }
    return true;
}

bool opt_handle_object(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    OptList *l = opt_parse_params(opt, value, "qom-type", false, NULL, err);
    const char *type, *id;

    if (!l) {
        return false;
    }
    type = optlist_get(l, "qom-type");
    id = optlist_get(l, "id");
    if (!type) {
        set_error(err, "%s: Parameter 'qom-type' is missing", opt);
        goto fail;
    }
    if (strcmp(type, "rng-random") && strcmp(type, "memory-backend-ram")) {
        set_error(err, "%s: Parameter 'qom-type' does not accept value '%s'", opt, type);
        goto fail;
    }
    if (!id) {
        set_error(err, "%s: Parameter 'id' is missing", opt);
        goto fail;
    }
    if (!id_wellformed(id) || strlen(id) > MAX_STRING_LENGTH) {
        set_error(err, "%s: Parameter 'id' expects an identifier", opt);
        goto fail;
    }
    if (!(strcmp(type, "rng-random") ? check_memory_backend(l, opt, err)
                                     : check_rng_random(l, opt, err))) {
        goto fail;
    }
    for (guint i = 0; i < ctx->cfg->objects->len; i++) {
        if (!strcmp(optlist_get(g_ptr_array_index(ctx->cfg->objects, i), "id"), id)) {
            set_error(err, "%s: Duplicate ID '%s' for object", opt, id);
            goto fail;
        }
    }
    g_ptr_array_add(ctx->cfg->objects, l);
    return true;
fail:
    optlist_free(l);
    return false;
}
