/*
 * HMP `info` commands about the machine as a whole (status, CPUs, network,
 * balloon, ...) and `info mtree`, each printing what QEMU 7.2 prints for
 * the same state.
 */
#include <string.h>

#include "net/net.h"
#include "qmp/hmp-internal.h"

#ifndef STRATUS_VERSION
#define STRATUS_VERSION "0.0.0"
#endif

/* ------------------------------------------------------------------------ */
/* info: the machine                                                         */

void hmp_info_status(Hmp *h, HmpArgs *args)
{
    RunState s = h->m->runstate;

    hmp_printf(h, "VM status: %s", s == RUN_STATE_RUNNING ? "running" : "paused");
    if (s != RUN_STATE_RUNNING && s != RUN_STATE_PAUSED) {
        hmp_printf(h, " (%s)", runstate_name(s));
    }
    hmp_printf(h, "\n");
}

void hmp_info_cpus(Hmp *h, HmpArgs *args)
{
    for (guint i = 0; h->m->vcpus && i < h->m->vcpus->len; i++) {
        const Vcpu *v = g_ptr_array_index(h->m->vcpus, i);
        hmp_printf(h, "%c CPU #%u: thread_id=%d\n", i == h->cpu_index ? '*' : ' ', i,
                   (int)v->tid);
    }
}

void hmp_info_version(Hmp *h, HmpArgs *args)
{
    hmp_printf(h, "5.0.1 (Stratus-" STRATUS_VERSION ")\n");
}

void hmp_info_name(Hmp *h, HmpArgs *args)
{
    if (h->m->cfg && h->m->cfg->name) {
        hmp_printf(h, "%s\n", h->m->cfg->name);
    }
}

void hmp_info_uuid(Hmp *h, HmpArgs *args)
{
    hmp_printf(h, "%s\n", h->m->cfg && h->m->cfg->uuid
                          ? h->m->cfg->uuid : "00000000-0000-0000-0000-000000000000");
}

/* QEMU's three texts, of which "not compiled" never applies. */
void hmp_info_kvm(Hmp *h, HmpArgs *args)
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
void hmp_info_network(Hmp *h, HmpArgs *args)
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
void hmp_info_balloon(Hmp *h, HmpArgs *args)
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

static gint64 member_int(JsonObject *o, const char *key)
{
    return o && json_object_has_member(o, key) ? json_object_get_int_member(o, key) : 0;
}

/* QEMU 7.2's "ram" lines, from query-migrate's MigrationStats. */
static void print_migrate_ram(Hmp *h, JsonObject *ram)
{
    hmp_printf(h, "transferred ram: %" G_GINT64_FORMAT " kbytes\n",
               member_int(ram, "transferred") >> 10);
    hmp_printf(h, "throughput: %0.2f mbps\n", json_object_get_double_member(ram, "mbps"));
    hmp_printf(h, "remaining ram: %" G_GINT64_FORMAT " kbytes\n",
               member_int(ram, "remaining") >> 10);
    hmp_printf(h, "total ram: %" G_GINT64_FORMAT " kbytes\n", member_int(ram, "total") >> 10);
    hmp_printf(h, "duplicate: %" G_GINT64_FORMAT " pages\n", member_int(ram, "duplicate"));
    hmp_printf(h, "skipped: %" G_GINT64_FORMAT " pages\n", member_int(ram, "skipped"));
    hmp_printf(h, "normal: %" G_GINT64_FORMAT " pages\n", member_int(ram, "normal"));
    hmp_printf(h, "normal bytes: %" G_GINT64_FORMAT " kbytes\n",
               member_int(ram, "normal-bytes") >> 10);
    hmp_printf(h, "dirty sync count: %" G_GINT64_FORMAT "\n", member_int(ram, "dirty-sync-count"));
    hmp_printf(h, "page size: %" G_GINT64_FORMAT " kbytes\n", member_int(ram, "page-size") >> 10);
    hmp_printf(h, "multifd bytes: %" G_GINT64_FORMAT " kbytes\n",
               member_int(ram, "multifd-bytes") >> 10);
    hmp_printf(h, "pages-per-second: %" G_GINT64_FORMAT "\n", member_int(ram, "pages-per-second"));
    if (member_int(ram, "dirty-pages-rate")) {
        hmp_printf(h, "dirty pages rate: %" G_GINT64_FORMAT " pages\n",
                   member_int(ram, "dirty-pages-rate"));
    }
}

/* A listening destination's addresses, as QEMU's SocketAddress_to_str. */
static void print_socket_addresses(Hmp *h, JsonArray *list)
{
    hmp_printf(h, "socket address: [\n");
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *a = json_array_get_object_element(list, i);
        if (!strcmp(json_object_get_string_member(a, "type"), "unix")) {
            hmp_printf(h, "\tunix:%s\n", json_object_get_string_member(a, "path"));
        } else {
            hmp_printf(h, "\ttcp:%s:%s\n", json_object_get_string_member(a, "host"),
                       json_object_get_string_member(a, "port"));
        }
    }
    hmp_printf(h, "]\n");
}

/*
 * QEMU 7.2's layout over query-migrate: the migration globals (a current
 * machine type's defaults), then the status and times unless the VM never
 * migrated (StratoVirt's "setup", QEMU's absent status), the ram statistics
 * of a live migration, a listening destination's address. QEMU 7.2 prints
 * no capabilities line. Members Stratus does not measure (skipped,
 * multifd bytes, pages-per-second) print as 0, as QEMU's do when unused.
 */
void hmp_info_migrate(Hmp *h, HmpArgs *args)
{
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *o;
    const char *status;

    (void)args;
    if (!hmp_qmp(h, "query-migrate", NULL, &ret, &err)) {
        hmp_error(h, err);
        return;
    }
    o = json_node_get_object(ret);
    status = json_object_get_string_member(o, "status");
    hmp_printf(h, "globals:\n"
                  "store-global-state: on\n"
                  "only-migratable: off\n"
                  "send-configuration: on\n"
                  "send-section-footer: on\n"
                  "decompress-error-check: on\n"
                  "clear-bitmap-shift: 18\n");
    if (strcmp(status, "setup") || json_object_has_member(o, "ram")) {
        hmp_printf(h, "Migration status: %s", status);
        if (json_object_has_member(o, "error-desc")) {
            hmp_printf(h, " (%s)", json_object_get_string_member(o, "error-desc"));
        }
        hmp_printf(h, "\ntotal time: %" G_GINT64_FORMAT " ms\n", member_int(o, "total-time"));
        if (json_object_has_member(o, "downtime")) {
            hmp_printf(h, "downtime: %" G_GINT64_FORMAT " ms\n", member_int(o, "downtime"));
        }
        if (json_object_has_member(o, "setup-time")) {
            hmp_printf(h, "setup: %" G_GINT64_FORMAT " ms\n", member_int(o, "setup-time"));
        }
    }
    if (json_object_has_member(o, "ram")) {
        print_migrate_ram(h, json_object_get_object_member(o, "ram"));
    }
    if (json_object_has_member(o, "socket-address")) {
        print_socket_addresses(h, json_object_get_array_member(o, "socket-address"));
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
void hmp_info_mtree(Hmp *h, HmpArgs *args)
{
    Machine *m = h->m;
    unsigned ncpus = m->vcpus ? m->vcpus->len : 0;
    g_autofree char *ram = ram_name(m);

    if (hmp_arg_flag(args, "flatview")) {
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
