/*
 * -fw_cfg name=NAME,file=PATH | name=NAME,string=STR: a file in the fw_cfg
 * directory (src/hw/nvram/fw_cfg.c), with QEMU's rules and texts: a name and
 * exactly one of file and string, a name of at most 55 characters, no
 * name twice. The file is read, and a name outside "opt/" warned about,
 * when the device is built (options touch no host file and do not log).
 */
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

#define FW_CFG_NAME_MAX 55      /* fw_cfg's 56-byte name field holds the NUL */

void opt_fw_cfg_item_free(gpointer p)
{
    FwCfgItemConfig *it = p;

    g_free(it->name);
    g_free(it->file);
    g_free(it->string);
    g_free(it);
}

static bool nonempty(const char *s)
{
    return s && *s;
}

static bool add_item(StratusConfig *cfg, const char *opt, const OptList *l, GError **err)
{
    const char *name, *file, *str;
    FwCfgItemConfig *it;

    name = optlist_get(l, "name");
    file = optlist_get(l, "file");
    str = optlist_get(l, "string");
    if (!name || nonempty(file) + nonempty(str) != 1) {
        set_error(err, "%s: name, plus exactly one of file, string and gen_id, are needed",
                  opt);
        return false;
    }
    if (strlen(name) > FW_CFG_NAME_MAX) {
        set_error(err, "%s: name too long (max. %d char)", opt, FW_CFG_NAME_MAX);
        return false;
    }
    for (guint i = 0; i < cfg->fw_cfg_items->len; i++) {
        if (!strcmp(((FwCfgItemConfig *)g_ptr_array_index(cfg->fw_cfg_items, i))->name,
                    name)) {
            set_error(err, "%s: duplicate fw_cfg file name: %s", opt, name);
            return false;
        }
    }
    it = g_new0(FwCfgItemConfig, 1);
    it->name = g_strdup(name);
    it->file = nonempty(file) ? g_strdup(file) : NULL;
    it->string = nonempty(str) ? g_strdup(str) : NULL;
    g_ptr_array_add(cfg->fw_cfg_items, it);
    return true;
}

bool opt_handle_fw_cfg(ParseCtx *ctx, const char *opt, const char *value, GError **err)
{
    static const char *const keys[] = { "name", "file", "string", NULL };
    StratusConfig *cfg = ctx->cfg;
    OptList *l = opt_parse_params(opt, value, NULL, false, keys, err);
    bool ok;

    if (!l) {
        return false;
    }
    ok = add_item(cfg, opt, l, err);
    optlist_free(l);
    return ok;
}