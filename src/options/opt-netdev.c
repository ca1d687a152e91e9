/*
 * -netdev tap,id=ID[,ifname=NAME|fd=N][,vhost=on|off][,queues=1][,path=DEV]
 * (StratoVirt's and QEMU's keys; docs/net.md), and -netdev socket,id=ID,fd=N. Only the syntax, the keys and
 * the id's uniqueness are checked here: the tap is opened when the machine
 * is created (net/tap.h), where the device nodes and descriptors are.
 */
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

static const char *const netdev_keys[] = {
    "type", "id", "ifname", "fd", "fds", "queues", "vhost", "vhostfd", "vhostfds",
    "script", "downscript", "path", NULL,
};

bool opt_handle_netdev(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    OptList *l = opt_parse_params(opt, value, "type", false, netdev_keys, err);
    const char *type, *id;

    if (!l) {
        return false;
    }
    type = optlist_get(l, "type");
    id = optlist_get(l, "id");
    if (!type || (strcmp(type, "tap") && strcmp(type, "socket"))) {
        set_error(err, "%s: Parameter 'type' does not accept value '%s'", opt,
                  type ? type : "");
        goto fail;
    }
    if (!id || !*id) {
        set_error(err, "%s: Parameter 'id' is missing", opt);
        goto fail;
    }
    for (guint i = 0; i < ctx->cfg->netdevs->len; i++) {
        if (!strcmp(optlist_get(g_ptr_array_index(ctx->cfg->netdevs, i), "id"), id)) {
            set_error(err, "%s: Duplicate ID '%s' for netdev", opt, id);
            goto fail;
        }
    }
    g_ptr_array_add(ctx->cfg->netdevs, l);
    return true;
fail:
    optlist_free(l);
    return false;
}
