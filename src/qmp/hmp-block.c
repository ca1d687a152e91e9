/*
 * HMP `info block [-n] [-v] [device]`: QEMU's hmp_info_block() over what
 * query-block and query-named-block-nodes return.
 */
#include <string.h>

#include "qmp/hmp-internal.h"
#include "util/strutil.h"

static const char *obj_str(JsonObject *o, const char *key)
{
    return o && json_object_has_member(o, key) ? json_object_get_string_member(o, key)
                                                : NULL;
}

static bool obj_bool(JsonObject *o, const char *key)
{
    return o && json_object_has_member(o, key) && json_object_get_boolean_member(o, key);
}

static JsonObject *obj_obj(JsonObject *o, const char *key)
{
    return o && json_object_has_member(o, key) ? json_object_get_object_member(o, key)
                                                : NULL;
}

/* QEMU's bdrv_image_info_dump(), for an ImageInfo as query-block reports it. */
static void print_image_info(Hmp *h, JsonObject *img)
{
    gint64 vsize = json_object_get_int_member(img, "virtual-size");
    g_autofree char *vsize_text = size_to_str((uint64_t)vsize);
    g_autofree char *dsize_text =
        json_object_has_member(img, "actual-size")
        ? size_to_str((uint64_t)json_object_get_int_member(img, "actual-size"))
        : g_strdup("unavailable");

    hmp_printf(h, "image: %s\n"
                  "file format: %s\n"
                  "virtual size: %s (%" G_GINT64_FORMAT " bytes)\n"
                  "disk size: %s\n",
               obj_str(img, "filename"), obj_str(img, "format"), vsize_text, vsize,
               dsize_text);
    if (obj_bool(img, "encrypted")) {
        hmp_printf(h, "encrypted: yes\n");
    }
    if (json_object_has_member(img, "cluster-size")) {
        hmp_printf(h, "cluster_size: %" G_GINT64_FORMAT "\n",
                   json_object_get_int_member(img, "cluster-size"));
    }
    if (obj_bool(img, "dirty-flag")) {
        hmp_printf(h, "cleanly shut down: no\n");
    }
    if (obj_str(img, "backing-filename")) {
        hmp_printf(h, "backing file: %s\n", obj_str(img, "backing-filename"));
    }
}

/*
 * QEMU's print_block_info() for a BlockInfo (info, from query-block) and/or
 * its BlockDeviceInfo (inserted; alone for `info block -n`). Stratus has no
 * I/O throttling and no backing chains, so the lines QEMU prints for them
 * never apply.
 */
static void print_block_info(Hmp *h, JsonObject *info, JsonObject *inserted, bool verbose)
{
    const char *device = obj_str(info, "device");
    const char *node = obj_str(inserted, "node-name");
    JsonObject *cache;

    if (info && device && *device) {
        g_string_append(h->out, device);
        if (node) {
            hmp_printf(h, " (%s)", node);
        }
    } else {
        g_string_append(h->out, node ? node
                                : obj_str(info, "qdev") ? obj_str(info, "qdev")
                                : "<anonymous>");
    }
    if (inserted) {
        hmp_printf(h, ": %s (%s%s%s)\n", obj_str(inserted, "file"), obj_str(inserted, "drv"),
                   obj_bool(inserted, "ro") ? ", read-only" : "",
                   obj_bool(inserted, "encrypted") ? ", encrypted" : "");
    } else {
        hmp_printf(h, ": [not inserted]\n");
    }
    if (info) {
        const char *io_status = obj_str(info, "io-status");
        if (obj_str(info, "qdev")) {
            hmp_printf(h, "    Attached to:      %s\n", obj_str(info, "qdev"));
        }
        if (io_status && strcmp(io_status, "ok") != 0) {
            hmp_printf(h, "    I/O status:       %s\n", io_status);
        }
        if (obj_bool(info, "removable")) {
            hmp_printf(h, "    Removable device: %slocked, tray %s\n",
                       obj_bool(info, "locked") ? "" : "not ",
                       obj_bool(info, "tray_open") ? "open" : "closed");
        }
    }
    if (!inserted) {
        return;
    }
    cache = obj_obj(inserted, "cache");
    hmp_printf(h, "    Cache mode:       %s%s%s\n",
               obj_bool(cache, "writeback") ? "writeback" : "writethrough",
               obj_bool(cache, "direct") ? ", direct" : "",
               obj_bool(cache, "no-flush") ? ", ignore flushes" : "");
    if (obj_str(inserted, "detect_zeroes") && strcmp(obj_str(inserted, "detect_zeroes"), "off")) {
        hmp_printf(h, "    Detect zeroes:    %s\n", obj_str(inserted, "detect_zeroes"));
    }
    if (verbose && obj_obj(inserted, "image")) {
        hmp_printf(h, "\nImages:\n");
        for (JsonObject *img = obj_obj(inserted, "image"); img;
             img = obj_obj(img, "backing-image")) {
            print_image_info(h, img);
        }
    }
}

/*
 * Prints the entries of a query-block (info, node NULL) or
 * query-named-block-nodes (nodes) result whose `key` is `device` (all when
 * NULL). As QEMU: the separator depends on the position in the whole list.
 * true if something was printed.
 */
static bool print_block_list(Hmp *h, JsonArray *a, bool nodes, const char *key,
                             const char *device, bool verbose)
{
    bool printed = false;

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        if (device && g_strcmp0(device, obj_str(o, key))) {
            continue;
        }
        if (i) {
            hmp_printf(h, "\n");
        }
        print_block_info(h, nodes ? NULL : o, nodes ? o : obj_obj(o, "inserted"), verbose);
        printed = true;
    }
    return printed;
}

/*
 * QEMU's hmp_info_block(): `info block [-n] [-v] [device]`. The devices
 * (query-block) unless -n; the named nodes with -n, or when a device name
 * matched no device (it may name a node).
 */
void hmp_info_block(Hmp *h, HmpArgs *args)
{
    const char *device = hmp_arg_str(args, "device");
    bool verbose = hmp_arg_flag(args, "verbose");
    bool nodes = hmp_arg_flag(args, "nodes");
    g_autoptr(JsonNode) blocks = NULL;
    g_autoptr(JsonNode) named = NULL;
    g_autoptr(GError) err = NULL;

    if (!nodes) {
        if (!hmp_qmp(h, "query-block", NULL, &blocks, &err)) {
            hmp_error(h, err);
            return;
        }
        if (print_block_list(h, json_node_get_array(blocks), false, "device", device,
                             verbose) || !device) {
            return;
        }
    }
    if (!hmp_qmp(h, "query-named-block-nodes", NULL, &named, &err)) {
        hmp_error(h, err);
        return;
    }
    print_block_list(h, json_node_get_array(named), true, "node-name", device, verbose);
}
