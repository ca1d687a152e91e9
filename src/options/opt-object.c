/*
 * -object TYPE,id=ID[,key=value...] (QEMU's syntax, StratoVirt's -object).
 * Only rng-random is supported (the back end of virtio-rng); its file is
 * opened when the machine is created (backends/object.h), as QEMU does, so
 * here only the syntax, the keys, the id and its uniqueness are checked.
 * The texts are QEMU's, after the option name as every parser error has.
 */
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

static bool check_rng_random(const OptList *l, const char *opt, GError **err)
{
    const char *filename = optlist_get(l, "filename");

    for (guint i = 0; i < l->pairs->len; i++) {
        const OptPair *p = g_ptr_array_index(l->pairs, i);
        if (strcmp(p->key, "qom-type") && strcmp(p->key, "id") && strcmp(p->key, "filename")) {
            set_error(err, "%s: Invalid parameter '%s'", opt, p->key);
            return false;
        }
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
    if (strcmp(type, "rng-random")) {
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
    if (!check_rng_random(l, opt, err)) {
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
