/*
 * -cameradev v4l2|demo,id=ID[,path=PATH] (StratoVirt's option; docs/camera.md).
 * Here only the syntax, the driver, the id and its uniqueness are checked,
 * with StratoVirt's texts after the option name; the back end is created,
 * and a v4l2 node opened and probed, when the machine is (machine-camera.c,
 * backends/camera.h).
 */
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

static const char *const cameradev_keys[] = { "driver", "id", "path", NULL };

static bool check_cameradev(ParseCtx *ctx, const OptList *l, const char *opt, GError **err)
{
    const char *driver = optlist_get(l, "driver");
    const char *id = optlist_get(l, "id");
    const char *path = optlist_get(l, "path");

    if (!driver || (strcmp(driver, "v4l2") && strcmp(driver, "demo"))) {
        set_error(err, "%s: Unknown camera backend type", opt);
        return false;
    }
    if (!id || !*id) {
        set_error(err, "%s: Parameter 'id' is missing", opt);
        return false;
    }
    if (!id_wellformed(id) || strlen(id) > MAX_STRING_LENGTH) {
        set_error(err, "%s: Parameter 'id' expects an identifier", opt);
        return false;
    }
    if (!strcmp(driver, "v4l2") && (!path || !*path)) {
        set_error(err, "%s: no path configured for cameradev", opt);
        return false;
    }
    if (path && strlen(path) > MAX_PATH_LENGTH) {
        set_error(err, "%s: path is too long (%zu > %d characters)", opt, strlen(path),
                  MAX_PATH_LENGTH);
        return false;
    }
    for (guint i = 0; i < ctx->cfg->cameradevs->len; i++) {
        if (!strcmp(optlist_get(g_ptr_array_index(ctx->cfg->cameradevs, i), "id"), id)) {
            set_error(err, "%s: cameradev with id \"%s\" has already existed", opt, id);
            return false;
        }
    }
    return true;
}

bool opt_handle_cameradev(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    OptList *l = opt_parse_params(opt, value, "driver", false, cameradev_keys, err);

    if (!l) {
        return false;
    }
    if (!check_cameradev(ctx, l, opt, err)) {
        optlist_free(l);
        return false;
    }
    g_ptr_array_add(ctx->cfg->cameradevs, l);
    return true;
}
