/*
 * HMP, QEMU's human monitor, as QMP's human-monitor-command runs it (the only
 * way to reach it in Stratus: there is no HMP console). qmp-shell -H and the
 * tools built on QEMUMachine send these lines.
 *
 * One table of commands (name with its aliases, QEMU's args_type, params and
 * help text) drives parsing, dispatch, `help` and `info`, as in QEMU's
 * monitor/hmp.c: the same parser (command names end at a space or '/',
 * arguments typed by args_type, "extraneous characters" and "Try \"help
 * ...\"" on errors), the same texts. Each command prints what QEMU 7.2 prints
 * for the same state, usually by running the QMP command QEMU's HMP command
 * runs (stop, cont, query-block, query-balloon, ...) through this server's
 * command table. An unknown command is not a QMP error: its text
 * ("unknown command: 'foo'") is the result, as in QEMU.
 *
 * Output is built with "\n" line ends and returned with "\r\n", as QEMU's
 * monitor writes it. Handlers run on the main loop with the machine lock held.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"
#include "hw/device.h"
#include "net/net.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"
#include "util/strutil.h"

#ifndef STRATUS_VERSION
#define STRATUS_VERSION "0.0.0"
#endif

typedef struct Hmp {
    Machine *m;
    QmpCommandCtx *qmp;          /* human-monitor-command's: table and session */
    GString *out;
    unsigned cpu_index;          /* the monitor's current CPU (cpu-index) */
} Hmp;

/* Parsed arguments: key -> value (flags: "on"). */
typedef GHashTable HmpArgs;
typedef void HmpFn(Hmp *h, HmpArgs *args);

typedef struct HmpCommand {
    const char *name;            /* "stop|s": the name and its aliases, as help prints it */
    const char *args_type;       /* QEMU's: "id:s", "name:S?", "nodes:-n,device:B?" */
    const char *params;
    const char *help;
    HmpFn *fn;
    const struct HmpCommand *sub_table;
} HmpCommand;

G_GNUC_PRINTF(2, 3)
static void hmp_printf(Hmp *h, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(h->out, fmt, ap);
    va_end(ap);
}

/* QEMU's hmp_handle_error(): "Error: <message>". */
static void hmp_error(Hmp *h, const GError *err)
{
    hmp_printf(h, "Error: %s\n", err->message);
}

static const char *arg_str(HmpArgs *args, const char *key)
{
    return g_hash_table_lookup(args, key);
}

static bool arg_flag(HmpArgs *args, const char *key)
{
    return g_hash_table_contains(args, key);
}

/*
 * Runs a QMP command of this server's table, as QEMU's HMP commands call
 * qmp_*(). args may be NULL (no arguments). false with *err when the command
 * failed or is not in the table.
 */
static bool hmp_qmp(Hmp *h, const char *name, JsonObject *args, JsonNode **ret,
                    GError **err)
{
    const QmpCommand *cmd = qmp_command_table_find(h->qmp->table, name);
    QmpCommandCtx ctx = *h->qmp;
    g_autoptr(JsonObject) empty = json_object_new();
    JsonNode *dummy = NULL;
    bool ok;

    if (!cmd) {
        qmp_error_set(err, STRATUS_ERROR_COMMAND_NOT_FOUND,
                      "The command %s has not been found", name);
        return false;
    }
    ctx.cmd = cmd;
    ok = cmd->fn(&ctx, args ? args : empty, ret ? ret : &dummy, err);
    if (dummy) {
        json_node_unref(dummy);
    }
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle commands                                                        */

/* QEMU's stop is a no-op on a VM that is not running (Stratus's QMP stop errs). */
static void hmp_stop(Hmp *h, HmpArgs *args)
{
    g_autoptr(GError) err = NULL;

    if (h->m->runstate == RUN_STATE_RUNNING && !hmp_qmp(h, "stop", NULL, NULL, &err)) {
        hmp_error(h, err);
    }
}

/* As QEMU's: nothing when running, else the error QMP cont gives, if any. */
static void hmp_cont(Hmp *h, HmpArgs *args)
{
    g_autoptr(GError) err = NULL;

    if (h->m->runstate != RUN_STATE_RUNNING && !hmp_qmp(h, "cont", NULL, NULL, &err)) {
        hmp_error(h, err);
    }
}

static void hmp_simple_qmp(Hmp *h, const char *name)
{
    g_autoptr(GError) err = NULL;

    if (!hmp_qmp(h, name, NULL, NULL, &err)) {
        hmp_error(h, err);
    }
}

static void hmp_system_reset(Hmp *h, HmpArgs *args)
{
    hmp_simple_qmp(h, "system_reset");
}

static void hmp_system_powerdown(Hmp *h, HmpArgs *args)
{
    hmp_simple_qmp(h, "system_powerdown");
}

/*
 * `cpu N` sets the monitor's current CPU. human-monitor-command's monitor
 * lives for one command (QEMU's too), so only the check remains: qmp-shell -H
 * sends `cpu N` after choosing the index it passes as cpu-index from then on.
 */
static void hmp_cpu(Hmp *h, HmpArgs *args)
{
    gint64 index = g_ascii_strtoll(arg_str(args, "index"), NULL, 10);

    if (index < 0 || !h->m->vcpus || index >= (gint64)h->m->vcpus->len) {
        hmp_printf(h, "invalid CPU index\n");
    }
}

/* The reply goes out, then the machine shuts down (SHUTDOWN host-qmp-quit). */
static void hmp_quit(Hmp *h, HmpArgs *args)
{
    hmp_simple_qmp(h, "quit");
}

/*
 * QMP device_del keeps StratoVirt's "Device x not found"; HMP is QEMU's
 * alone, so it prints QEMU's "Device 'x' not found".
 */
static void hmp_device_del(Hmp *h, HmpArgs *args)
{
    const char *id = arg_str(args, "id");
    g_autoptr(JsonObject) a = json_object_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *stratovirt_text = g_strdup_printf("Device %s not found", id);

    json_object_set_string_member(a, "id", id);
    if (hmp_qmp(h, "device_del", a, NULL, &err)) {
        return;
    }
    if (!strcmp(err->message, stratovirt_text)) {
        hmp_printf(h, "Error: Device '%s' not found\n", id);
    } else {
        hmp_error(h, err);
    }
}

/* ------------------------------------------------------------------------ */
/* info: the machine                                                         */

static void hmp_info_status(Hmp *h, HmpArgs *args)
{
    RunState s = h->m->runstate;

    hmp_printf(h, "VM status: %s", s == RUN_STATE_RUNNING ? "running" : "paused");
    if (s != RUN_STATE_RUNNING && s != RUN_STATE_PAUSED) {
        hmp_printf(h, " (%s)", runstate_name(s));
    }
    hmp_printf(h, "\n");
}

static void hmp_info_cpus(Hmp *h, HmpArgs *args)
{
    for (guint i = 0; h->m->vcpus && i < h->m->vcpus->len; i++) {
        const Vcpu *v = g_ptr_array_index(h->m->vcpus, i);
        hmp_printf(h, "%c CPU #%u: thread_id=%d\n", i == h->cpu_index ? '*' : ' ', i,
                   (int)v->tid);
    }
}

static void hmp_info_version(Hmp *h, HmpArgs *args)
{
    hmp_printf(h, "5.0.1 (Stratus-" STRATUS_VERSION ")\n");
}

static void hmp_info_name(Hmp *h, HmpArgs *args)
{
    if (h->m->cfg && h->m->cfg->name) {
        hmp_printf(h, "%s\n", h->m->cfg->name);
    }
}

static void hmp_info_uuid(Hmp *h, HmpArgs *args)
{
    hmp_printf(h, "%s\n", h->m->cfg && h->m->cfg->uuid
                          ? h->m->cfg->uuid : "00000000-0000-0000-0000-000000000000");
}

/* QEMU's three texts, of which "not compiled" never applies. */
static void hmp_info_kvm(Hmp *h, HmpArgs *args)
{
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) err = NULL;

    if (!hmp_qmp(h, "query-kvm", NULL, &ret, &err)) {
        hmp_error(h, err);
        return;
    }
    hmp_printf(h, "kvm support: %s\n",
               json_object_get_boolean_member(json_node_get_object(ret), "enabled")
               ? "enabled" : "disabled");
}

/* qmp-commands-qom.c answers with "\r\n" line ends; here lines end in "\n". */
static void hmp_print_qom(Hmp *h, const char *line)
{
    g_autofree char *text = qmp_hmp_qom_command(h->m, line);
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\r\n", -1);
    g_autofree char *lf = g_strjoinv("\n", lines);

    g_string_append(h->out, lf);
}

static void hmp_info_qtree(Hmp *h, HmpArgs *args)
{
    hmp_print_qom(h, "info qtree");
}

static void hmp_info_qdm(Hmp *h, HmpArgs *args)
{
    hmp_print_qom(h, "info qdm");
}

/* QEMU's print_net_client(): "name: index=0,type=T,info". */
static void print_net_client(Hmp *h, const char *name, const char *type, const char *info)
{
    hmp_printf(h, "%s: index=0,type=%s,%s\n", name, type, info ? info : "");
}

static gint net_order(gconstpointer a, gconstpointer b)
{
    const NetClient *x = *(NetClient *const *)a, *y = *(NetClient *const *)b;
    uint64_t kx = x->peer ? x->peer_seq : x->seq, ky = y->peer ? y->peer_seq : y->seq;

    return kx < ky ? -1 : kx > ky;
}

/*
 * QEMU's hmp_info_network(): in creation order, a back end without a NIC on
 * its own line, a NIC with its back end after " \ " (at the NIC's place, the
 * moment it attached). Nothing without NICs and back ends.
 */
static void hmp_info_network(Hmp *h, HmpArgs *args)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    GHashTableIter it;
    gpointer value;

    if (!h->m->netdevs) {
        return;
    }
    g_hash_table_iter_init(&it, h->m->netdevs);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        g_ptr_array_add(list, value);
    }
    g_ptr_array_sort(list, net_order);
    for (guint i = 0; i < list->len; i++) {
        const NetClient *nc = g_ptr_array_index(list, i);
        if (nc->peer) {
            print_net_client(h, nc->peer_name ? nc->peer_name : "", "nic", nc->peer_info);
            hmp_printf(h, " \\ ");
        }
        print_net_client(h, nc->id, nc->ops->type, nc->info_str);
    }
}

/* query-balloon: without a balloon device, QEMU's DeviceNotActive text. */
static void hmp_info_balloon(Hmp *h, HmpArgs *args)
{
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) err = NULL;

    if (!qmp_command_table_find(h->qmp->table, "query-balloon")) {
        hmp_printf(h, "Error: No balloon device has been activated\n");
        return;
    }
    if (!hmp_qmp(h, "query-balloon", NULL, &ret, &err)) {
        hmp_error(h, err);
        return;
    }
    hmp_printf(h, "balloon: actual=%" G_GINT64_FORMAT "\n",
               json_object_get_int_member(json_node_get_object(ret), "actual") >> 20);
}

/*
 * A VM that never migrated: QEMU prints its migration globals only (the
 * defaults of a current machine type). Stratus has no migration yet, so that
 * is the state it is always in.
 */
static void hmp_info_migrate(Hmp *h, HmpArgs *args)
{
    hmp_printf(h, "globals:\n"
                  "store-global-state: on\n"
                  "only-migratable: off\n"
                  "send-configuration: on\n"
                  "send-section-footer: on\n"
                  "decompress-error-check: on\n"
                  "clear-bitmap-shift: 18\n");
}

/* ------------------------------------------------------------------------ */
/* info block                                                                */

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

/* QEMU's hmp_info_block(): `info block [-n] [-v] [device]`. */
static void hmp_info_block(Hmp *h, HmpArgs *args)
{
    const char *device = arg_str(args, "device");
    bool verbose = arg_flag(args, "verbose");
    bool nodes = arg_flag(args, "nodes");
    bool printed = false;
    g_autoptr(JsonNode) blocks = NULL;
    g_autoptr(JsonNode) named = NULL;
    g_autoptr(GError) err = NULL;

    if (!nodes) {
        if (!hmp_qmp(h, "query-block", NULL, &blocks, &err)) {
            hmp_error(h, err);
            return;
        }
        JsonArray *a = json_node_get_array(blocks);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *info = json_array_get_object_element(a, i);
            if (device && g_strcmp0(device, obj_str(info, "device"))) {
                continue;
            }
            /* As QEMU: the separator depends on the position in the whole list. */
            if (i) {
                hmp_printf(h, "\n");
            }
            print_block_info(h, info, obj_obj(info, "inserted"), verbose);
            printed = true;
        }
    }
    if ((!device && !nodes) || printed) {
        return;
    }
    if (!hmp_qmp(h, "query-named-block-nodes", NULL, &named, &err)) {
        hmp_error(h, err);
        return;
    }
    JsonArray *a = json_node_get_array(named);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *node = json_array_get_object_element(a, i);
        if (device && g_strcmp0(device, obj_str(node, "node-name"))) {
            continue;
        }
        if (i) {
            hmp_printf(h, "\n");
        }
        print_block_info(h, NULL, node, verbose);
    }
}

/* ------------------------------------------------------------------------ */
/* info mtree                                                                */

/*
 * QEMU's memory tree of the same machine: the vCPUs' and the machine's
 * "memory" address space share the root "system" (an i/o container of the
 * whole 64-bit space) holding guest RAM as aliases of the machine's RAM block
 * ("ram-below-4g", "ram-above-4g" @microvm.ram, as QEMU's microvm names
 * them) and every MMIO region; "I/O" has the root "io" (64 KiB) holding the
 * port regions. Regions are printed as QEMU does: by address, prio 0.
 */
typedef struct MtreeEntry {
    uint64_t start, size;
    const char *type;            /* "ram" or "i/o" */
    char *name;
    bool alias;
    uint64_t alias_offset;
} MtreeEntry;

static void mtree_entry_clear(gpointer p)
{
    g_free(((MtreeEntry *)p)->name);
}

static GArray *mtree_entries_new(void)
{
    GArray *a = g_array_new(FALSE, TRUE, sizeof(MtreeEntry));

    g_array_set_clear_func(a, mtree_entry_clear);
    return a;
}

static gint mtree_entry_cmp(gconstpointer a, gconstpointer b)
{
    const MtreeEntry *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

static char *ram_name(Machine *m)
{
    return g_strdup_printf("%s.ram", m->cfg && m->cfg->machine_type
                                     ? m->cfg->machine_type : "microvm");
}

static uint64_t ram_total(Machine *m)
{
    uint64_t total = 0;

    for (guint i = 0; m->ram.blocks && i < m->ram.blocks->len; i++) {
        total += g_array_index(m->ram.blocks, RamBlock, i).size;
    }
    return total;
}

/* RAM aliases and MMIO regions of "system", or the port regions of "io". */
static GArray *mtree_entries(Machine *m, bool pio)
{
    GArray *a = mtree_entries_new();
    const IoBus *bus = pio ? &m->pio : &m->mmio;
    uint64_t offset = 0;

    for (guint i = 0; !pio && m->ram.blocks && i < m->ram.blocks->len; i++) {
        const RamBlock *b = &g_array_index(m->ram.blocks, RamBlock, i);
        MtreeEntry e = {
            .start = b->gpa, .size = b->size, .type = "ram", .alias = true,
            .alias_offset = offset,
            .name = g_strdup(b->gpa < (1ULL << 32) ? "ram-below-4g" : "ram-above-4g"),
        };
        g_array_append_val(a, e);
        offset += b->size;
    }
    for (guint i = 0; bus->regions && i < bus->regions->len; i++) {
        const IoRegion *r = &g_array_index(bus->regions, IoRegion, i);
        MtreeEntry e = { .start = r->base, .size = r->size, .type = "i/o",
                         .name = g_strdup(r->name ? r->name : "") };
        g_array_append_val(a, e);
    }
    g_array_sort(a, mtree_entry_cmp);
    return a;
}

#define MTREE_RANGE "%016" G_GINT64_MODIFIER "x-%016" G_GINT64_MODIFIER "x"

static void mtree_print_tree(Hmp *h, Machine *m, bool pio)
{
    g_autoptr(GArray) a = mtree_entries(m, pio);
    g_autofree char *ram = ram_name(m);

    hmp_printf(h, "  " MTREE_RANGE " (prio 0, i/o): %s\n", (guint64)0,
               (guint64)(pio ? 0xffff : UINT64_MAX), pio ? "io" : "system");
    for (guint i = 0; i < a->len; i++) {
        const MtreeEntry *e = &g_array_index(a, MtreeEntry, i);
        hmp_printf(h, "    " MTREE_RANGE " (prio 0, %s): ", (guint64)e->start,
                   (guint64)(e->start + e->size - 1), e->type);
        if (e->alias) {
            hmp_printf(h, "alias %s @%s " MTREE_RANGE "\n", e->name, ram,
                       (guint64)e->alias_offset,
                       (guint64)(e->alias_offset + e->size - 1));
        } else {
            hmp_printf(h, "%s\n", e->name);
        }
    }
    hmp_printf(h, "\n");
}

/* A FlatView: "system" is a container (holes stay empty), "io" is not (holes are io). */
static void mtree_print_flat(Hmp *h, Machine *m, bool pio, bool kvm)
{
    g_autoptr(GArray) a = mtree_entries(m, pio);
    g_autofree char *ram = ram_name(m);
    uint64_t next = 0;

    for (guint i = 0; i < a->len; i++) {
        const MtreeEntry *e = &g_array_index(a, MtreeEntry, i);
        if (pio && e->start > next) {
            hmp_printf(h, "  " MTREE_RANGE " (prio 0, i/o): io", (guint64)next,
                       (guint64)(e->start - 1));
            if (next) {
                hmp_printf(h, " @%016" G_GINT64_MODIFIER "x", (guint64)next);
            }
            hmp_printf(h, "\n");
        }
        hmp_printf(h, "  " MTREE_RANGE " (prio 0, %s): %s", (guint64)e->start,
                   (guint64)(e->start + e->size - 1), e->type, e->alias ? ram : e->name);
        if (e->alias && e->alias_offset) {
            hmp_printf(h, " @%016" G_GINT64_MODIFIER "x", (guint64)e->alias_offset);
        }
        /* QEMU names the accelerator that maps the range: KVM holds the RAM. */
        if (e->alias && kvm) {
            hmp_printf(h, " kvm");
        }
        hmp_printf(h, "\n");
        next = e->start + e->size;
    }
    if (pio && next <= 0xffff) {
        hmp_printf(h, "  " MTREE_RANGE " (prio 0, i/o): io", (guint64)next, (guint64)0xffff);
        if (next) {
            hmp_printf(h, " @%016" G_GINT64_MODIFIER "x", (guint64)next);
        }
        hmp_printf(h, "\n");
    }
    hmp_printf(h, "\n");
}

/*
 * `info mtree [-f] [-D]`: the tree, or with -f the flat views. Stratus has no
 * disabled regions, so -D changes nothing; QEMU's -o (owners) and -d
 * (dispatch tree) are not implemented and refused as unknown options.
 */
static void hmp_info_mtree(Hmp *h, HmpArgs *args)
{
    Machine *m = h->m;
    unsigned ncpus = m->vcpus ? m->vcpus->len : 0;
    g_autofree char *ram = ram_name(m);

    if (arg_flag(args, "flatview")) {
        hmp_printf(h, "FlatView #0\n AS \"memory\", root: system\n");
        for (unsigned i = 0; i < ncpus; i++) {
            hmp_printf(h, " AS \"cpu-memory-%u\", root: system\n", i);
        }
        hmp_printf(h, " Root memory region: system\n");
        mtree_print_flat(h, m, false, m->cfg && !g_strcmp0(m->cfg->accel, "kvm"));
        hmp_printf(h, "FlatView #1\n AS \"I/O\", root: io\n Root memory region: io\n");
        mtree_print_flat(h, m, true, false);
        return;
    }
    for (unsigned i = 0; i < ncpus; i++) {
        hmp_printf(h, "address-space: cpu-memory-%u\n", i);
    }
    hmp_printf(h, "address-space: memory\n");
    mtree_print_tree(h, m, false);
    hmp_printf(h, "address-space: I/O\n");
    mtree_print_tree(h, m, true);
    if (ram_total(m)) {
        /* The region the RAM aliases point into. */
        hmp_printf(h, "memory-region: %s\n  " MTREE_RANGE " (prio 0, ram): %s\n\n", ram,
                   (guint64)0, (guint64)(ram_total(m) - 1), ram);
    }
}

/* ------------------------------------------------------------------------ */
/* help / info listings                                                      */

static void hmp_help(Hmp *h, HmpArgs *args);
static void hmp_info_help(Hmp *h, HmpArgs *args);

/*
 * Both tables sorted by name, as QEMU sorts its tables at startup: `help`
 * and `info` list them in this order. Texts are QEMU 7.2's.
 */
static const HmpCommand hmp_info_cmds[] = {
    { "balloon", "", "", "show balloon information", hmp_info_balloon },
    { "block", "nodes:-n,verbose:-v,device:B?", "[-n] [-v] [device]",
      "show info of one block device or all block devices "
      "(-n: show named nodes; -v: show details)", hmp_info_block },
    { "cpus", "", "", "show infos for each CPU", hmp_info_cpus },
    { "kvm", "", "", "show KVM information", hmp_info_kvm },
    { "migrate", "", "", "show migration status", hmp_info_migrate },
    /* QEMU's -o and -d are left out (see hmp_info_mtree). */
    { "mtree", "flatview:-f,disabled:-D", "[-f][-D]",
      "show memory tree (-f: dump flat view for address spaces;"
      "-D: dump disabled regions)", hmp_info_mtree },
    { "name", "", "", "show the current VM name", hmp_info_name },
    { "network", "", "", "show the network state", hmp_info_network },
    { "qdm", "", "", "show qdev device model list", hmp_info_qdm },
    { "qtree", "", "", "show device tree", hmp_info_qtree },
    { "status", "", "", "show the current VM status (running|paused)", hmp_info_status },
    { "uuid", "", "", "show the current VM UUID", hmp_info_uuid },
    { "version", "", "", "show the version of QEMU", hmp_info_version },
    { NULL }
};

static const HmpCommand hmp_cmds[] = {
    { "cont|c", "", "", "resume emulation", hmp_cont },
    { "cpu", "index:i", "index", "set the default CPU", hmp_cpu },
    { "device_del", "id:s", "device", "remove device", hmp_device_del },
    { "help|?", "name:S?", "[cmd]", "show the help", hmp_help },
    { "info", "item:s?", "[subcommand]", "show various information about the system state",
      hmp_info_help, hmp_info_cmds },
    { "quit|q", "", "", "quit the emulator", hmp_quit },
    { "stop|s", "", "", "stop emulation", hmp_stop },
    { "system_powerdown", "", "", "send system power down event", hmp_system_powerdown },
    { "system_reset", "", "", "reset the system", hmp_system_reset },
    { NULL }
};

/* ------------------------------------------------------------------------ */
/* The parser (QEMU's monitor/hmp.c rules)                                   */

static bool is_space(char c)
{
    return g_ascii_isspace(c);
}

/* hmp_compare_cmd(): name is one of list's '|'-separated names. */
static bool name_matches(const char *name, const char *list)
{
    size_t len = strlen(name);

    for (const char *p = list;;) {
        const char *end = strchrnul(p, '|');
        if ((size_t)(end - p) == len && !memcmp(p, name, len)) {
            return true;
        }
        if (!*end) {
            return false;
        }
        p = end + 1;
    }
}

static const HmpCommand *find_command(const HmpCommand *table, const char *name)
{
    for (const HmpCommand *c = table; c->name; c++) {
        if (name_matches(name, c->name)) {
            return c;
        }
    }
    return NULL;
}

/*
 * get_str(): a word, or a double-quoted string with \n \r \\ \' \"
 * escapes. false (and *pp past what was read) when there is none or it is
 * malformed.
 */
static bool get_str(GString *buf, const char **pp)
{
    const char *p = *pp;

    g_string_truncate(buf, 0);
    while (is_space(*p)) {
        p++;
    }
    if (!*p) {
        *pp = p;
        return false;
    }
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\') {
                char c = *++p;
                p += c != '\0';
                switch (c) {
                case 'n':
                    c = '\n';
                    break;
                case 'r':
                    c = '\r';
                    break;
                case '\\':
                case '\'':
                case '"':
                    break;
                default:
                    *pp = p;
                    return false;
                }
                g_string_append_c(buf, c);
            } else {
                g_string_append_c(buf, *p++);
            }
        }
        if (*p != '"') {
            *pp = p;
            return false;
        }
        p++;
    } else {
        while (*p && !is_space(*p)) {
            g_string_append_c(buf, *p++);
        }
    }
    *pp = p;
    return true;
}

/*
 * monitor_parse_command(): the command (and sub-command) naming *cmdp, or
 * NULL after printing "unknown command" (or nothing, for a blank line). A
 * name ends at a space or '/'. *cmdp is left after the name and its spaces.
 */
static const HmpCommand *parse_command(Hmp *h, const char *start, const char **cmdp,
                                       const HmpCommand *table)
{
    const char *p = *cmdp, *name_start;
    g_autofree char *name = NULL;
    const HmpCommand *cmd;

    while (is_space(*p)) {
        p++;
    }
    if (!*p) {
        return NULL;
    }
    name_start = p;
    while (*p && *p != '/' && !is_space(*p)) {
        p++;
    }
    name = g_strndup(name_start, (gsize)(p - name_start));
    cmd = find_command(table, name);
    if (!cmd) {
        hmp_printf(h, "unknown command: '%.*s'\n", (int)(p - start), start);
        return NULL;
    }
    while (is_space(*p)) {
        p++;
    }
    *cmdp = p;
    if (cmd->sub_table && *p) {
        return parse_command(h, start, cmdp, cmd->sub_table);
    }
    return cmd;
}

/*
 * QEMU's get_expr(): an integer expression, C precedence for + - * / % & | ^,
 * unary + - ~, parentheses, decimal/0x/0 numbers and 'c' constants.
 * CPU registers ($eax) do not exist here: "unknown register". On an error
 * prints QEMU's text and returns false.
 */
typedef struct Expr {
    Hmp *h;
    const char *p;
    bool failed;
} Expr;

static gint64 expr_sum(Expr *e);

static void expr_error(Expr *e, const char *msg, char c)
{
    if (!e->failed) {
        if (c) {
            hmp_printf(e->h, msg, c);
        } else {
            g_string_append(e->h->out, msg);
        }
        hmp_printf(e->h, "\n");
    }
    e->failed = true;
}

static void expr_next(Expr *e)
{
    if (*e->p) {
        e->p++;
        while (is_space(*e->p)) {
            e->p++;
        }
    }
}

static gint64 expr_unary(Expr *e)
{
    gint64 n = 0;
    char *end;

    if (e->failed) {
        return 0;
    }
    switch (*e->p) {
    case '+':
        expr_next(e);
        return expr_unary(e);
    case '-':
        expr_next(e);
        return -expr_unary(e);
    case '~':
        expr_next(e);
        return ~expr_unary(e);
    case '(':
        expr_next(e);
        n = expr_sum(e);
        if (*e->p != ')') {
            expr_error(e, "')' expected", 0);
        }
        expr_next(e);
        return n;
    case '\'':
        e->p++;
        if (!*e->p) {
            expr_error(e, "character constant expected", 0);
            return 0;
        }
        n = (unsigned char)*e->p++;
        if (*e->p != '\'') {
            expr_error(e, "missing terminating ' character", 0);
        }
        expr_next(e);
        return n;
    case '$':
        expr_error(e, "unknown register", 0);
        return 0;
    case '\0':
        expr_error(e, "unexpected end of expression", 0);
        return 0;
    default:
        errno = 0;
        n = (gint64)strtoull(e->p, &end, 0);
        if (errno == ERANGE) {
            expr_error(e, "number too large", 0);
        }
        if (end == e->p) {
            expr_error(e, "invalid char '%c' in expression", *end);
            return 0;
        }
        e->p = end;
        while (is_space(*e->p)) {
            e->p++;
        }
        return n;
    }
}

static gint64 expr_prod(Expr *e)
{
    gint64 v = expr_unary(e);

    while (!e->failed && (*e->p == '*' || *e->p == '/' || *e->p == '%')) {
        char op = *e->p;
        gint64 w;
        expr_next(e);
        w = expr_unary(e);
        if (op == '*') {
            v = (gint64)((guint64)v * (guint64)w);
        } else if (w == 0) {
            expr_error(e, "division by zero", 0);
        } else if (w == -1) {
            v = op == '/' ? (gint64)(0 - (guint64)v) : 0;  /* no INT64_MIN / -1 trap */
        } else {
            v = op == '/' ? v / w : v % w;
        }
    }
    return v;
}

static gint64 expr_logic(Expr *e)
{
    gint64 v = expr_prod(e);

    while (!e->failed && (*e->p == '&' || *e->p == '|' || *e->p == '^')) {
        char op = *e->p;
        gint64 w;
        expr_next(e);
        w = expr_prod(e);
        v = op == '&' ? v & w : op == '|' ? v | w : v ^ w;
    }
    return v;
}

static gint64 expr_sum(Expr *e)
{
    gint64 v = expr_logic(e);

    while (!e->failed && (*e->p == '+' || *e->p == '-')) {
        char op = *e->p;
        gint64 w;
        expr_next(e);
        w = expr_logic(e);
        v = (gint64)(op == '+' ? (guint64)v + (guint64)w : (guint64)v - (guint64)w);
    }
    return v;
}

static bool get_expr(Hmp *h, gint64 *val, const char **pp)
{
    Expr e = { .h = h, .p = *pp };

    while (is_space(*e.p)) {
        e.p++;
    }
    *val = expr_sum(&e);
    *pp = e.p;
    return !e.failed;
}

/* key_get_info(): the key before ':' of the next args_type entry. */
static const char *next_arg_type(const char *type, char **key)
{
    const char *colon;

    if (*type == ',') {
        type++;
    }
    colon = strchr(type, ':');
    if (!colon) {
        *key = NULL;
        return NULL;
    }
    *key = g_strndup(type, (gsize)(colon - type));
    return colon + 1;
}

/*
 * monitor_parse_arguments() for the types the table uses: s and B (a
 * string; '?' optional), S (the rest of the line; '?' optional), i (a 32-bit
 * integer expression) and -X (a boolean flag -X). NULL after printing the
 * problem.
 */
static HmpArgs *parse_arguments(Hmp *h, const char *p, const HmpCommand *cmd)
{
    HmpArgs *args = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GString) buf = g_string_new(NULL);
    const char *type = cmd->args_type;
    char *key = NULL;

    while ((type = next_arg_type(type, &key))) {
        char c = *type++;

        switch (c) {
        case 's':
        case 'B':
            while (is_space(*p)) {
                p++;
            }
            if (*type == '?') {
                type++;
                if (!*p) {
                    break;
                }
            }
            if (!get_str(buf, &p)) {
                hmp_printf(h, c == 'B' ? "%s: block device name expected\n"
                                       : "%s: string expected\n", cmd->name);
                goto fail;
            }
            g_hash_table_insert(args, g_strdup(key), g_strdup(buf->str));
            break;
        case 'S':
            while (is_space(*p)) {
                p++;
            }
            if (*type == '?') {
                type++;
                if (!*p) {
                    break;
                }
            }
            if (!*p) {
                hmp_printf(h, "%s: string expected\n", cmd->name);
                goto fail;
            }
            g_hash_table_insert(args, g_strdup(key), g_strdup(p));
            p += strlen(p);
            break;
        case 'i': {
            gint64 v;

            if (!get_expr(h, &v, &p)) {
                goto fail;
            }
            if ((v >> 32) & 0xffffffff) {
                hmp_printf(h, "'%s' has failed: integer is for 32-bit values\n", cmd->name);
                goto fail;
            }
            g_hash_table_insert(args, g_strdup(key),
                                g_strdup_printf("%" G_GINT64_FORMAT, v));
            break;
        }
        case '-': {
            const char *before = p;
            char opt = *type++;

            while (is_space(*p)) {
                p++;
            }
            if (*p == '-') {
                p++;
                if (opt != *p) {
                    /* Another option of this command: left for its own entry. */
                    char want[3] = { '-', *p, '\0' };
                    if (!strstr(type, want)) {
                        hmp_printf(h, "%s: unsupported option -%c\n", cmd->name, *p);
                        goto fail;
                    }
                    p = before;
                } else {
                    p++;
                    g_hash_table_insert(args, g_strdup(key), g_strdup("on"));
                }
            }
            break;
        }
        default:
            hmp_printf(h, "%s: unknown type '%c'\n", cmd->name, c);
            goto fail;
        }
        g_clear_pointer(&key, g_free);
    }
    while (is_space(*p)) {
        p++;
    }
    if (*p) {
        hmp_printf(h, "%s: extraneous characters at the end of line\n", cmd->name);
        goto fail;
    }
    return args;

fail:
    g_free(key);
    g_hash_table_unref(args);
    return NULL;
}

/* handle_hmp_command(). */
static void hmp_handle(Hmp *h, const char *line)
{
    const char *cmd_start = line, *end;
    const HmpCommand *cmd = parse_command(h, line, &line, hmp_cmds);
    HmpArgs *args;

    if (!cmd) {
        return;
    }
    args = parse_arguments(h, line, cmd);
    if (!args) {
        for (end = line; end > cmd_start && is_space(end[-1]); end--) {
        }
        hmp_printf(h, "Try \"help %.*s\" for more information\n",
                   (int)(end - cmd_start), cmd_start);
        return;
    }
    cmd->fn(h, args);
    g_hash_table_unref(args);
}

/* help_cmd_dump_one(). */
static void help_dump_one(Hmp *h, const HmpCommand *cmd, char **prefix, int nprefix)
{
    for (int i = 0; i < nprefix; i++) {
        hmp_printf(h, "%s ", prefix[i]);
    }
    hmp_printf(h, "%s %s -- %s\n", cmd->name, cmd->params, cmd->help);
}

/* help_cmd_dump(): args[index] names the entry of table to show (all if none). */
static void help_dump(Hmp *h, const HmpCommand *table, char **args, int nargs, int index)
{
    if (index >= nargs) {
        for (const HmpCommand *c = table; c->name; c++) {
            help_dump_one(h, c, args, index);
        }
        return;
    }
    for (const HmpCommand *c = table; c->name; c++) {
        if (name_matches(args[index], c->name)) {
            if (c->sub_table) {
                help_dump(h, c->sub_table, args, nargs, index + 1);
            } else {
                help_dump_one(h, c, args, index);
            }
            return;
        }
    }
    hmp_printf(h, "unknown command: '");
    for (int i = 0; i <= index; i++) {
        hmp_printf(h, "%s%s", args[i], i == index ? "'\n" : " ");
    }
}

/* help_cmd(): name split into words (QEMU's limit: 16; more shows nothing). */
static void help_cmd(Hmp *h, const char *name)
{
    g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) buf = g_string_new(NULL);
    const char *p = name;

    while (p) {
        while (is_space(*p)) {
            p++;
        }
        if (!*p) {
            break;
        }
        if (words->len >= 16 || !get_str(buf, &p)) {
            return;
        }
        g_ptr_array_add(words, g_strdup(buf->str));
    }
    help_dump(h, hmp_cmds, (char **)words->pdata, (int)words->len, 0);
}

static void hmp_help(Hmp *h, HmpArgs *args)
{
    help_cmd(h, arg_str(args, "name"));
}

static void hmp_info_help(Hmp *h, HmpArgs *args)
{
    help_cmd(h, "info");
}

/* ------------------------------------------------------------------------ */
/* human-monitor-command                                                     */

static const QmpMember hmp_args_m[] = {
    { "command-line", &qmp_type_str },
    { "cpu-index", &qmp_type_int, .optional = true },
    { NULL }
};
const QmpType qmp_hmp_args = QMP_OBJECT_TYPE(hmp_args_m);

/* Every "\n" becomes "\r\n", as QEMU's monitor output does. */
static char *crlf(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    return g_strjoinv("\r\n", lines);
}

char *hmp_run(QmpCommandCtx *ctx, const char *line, unsigned cpu_index)
{
    Hmp h = { .m = ctx->opaque, .qmp = ctx, .out = g_string_new(NULL),
              .cpu_index = cpu_index };
    char *text;

    hmp_handle(&h, line);
    text = crlf(h.out->str);
    g_string_free(h.out, TRUE);
    return text;
}

bool qmp_cmd_human_monitor_command(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                   GError **err)
{
    Machine *m = ctx->opaque;
    gint64 cpu = 0;
    g_autofree char *text = NULL;

    /* QEMU's monitor_set_cpu(): an index no vCPU has is refused. */
    if (json_object_has_member(args, "cpu-index")) {
        cpu = json_object_get_int_member(args, "cpu-index");
        if (cpu < 0 || !m->vcpus || cpu >= (gint64)m->vcpus->len) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
                          "Parameter 'cpu-index' expects a CPU number");
            return false;
        }
    }
    text = hmp_run(ctx, json_object_get_string_member(args, "command-line"),
                   (unsigned)cpu);
    *ret = qmp_node_str(text);
    return true;
}

/* For tests: the tables are sorted as QEMU sorts its own (help lists them so). */
bool hmp_tables_sorted(void)
{
    const HmpCommand *tables[] = { hmp_cmds, hmp_info_cmds };

    for (size_t t = 0; t < G_N_ELEMENTS(tables); t++) {
        for (const HmpCommand *c = tables[t]; c->name && c[1].name; c++) {
            if (strcmp(c->name, c[1].name) >= 0) {
                return false;
            }
        }
    }
    return true;
}
