/*
 * The machine's back ends (machine-backends.c), built from the configuration
 * before the board: chardevs, -object back ends, -netdev back ends; -drive
 * nodes (machine_open_drives, machine.h) come with the board.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"
#include "machine-internal.h"
#include "accel/accel.h"
#include "backends/camera.h"
#include "backends/object.h"
#include "chardev/chardev.h"
#include "block/block.h"
#include "hw/device.h"
#include "net/net.h"
#include "net/tap.h"
#include "util/log.h"
#include "util/strutil.h"

/* Is a chardev consumed by a monitor (the QMP server opens those itself)? */
static bool chardev_is_monitor(const StratusConfig *cfg, const char *id)
{
    for (guint i = 0; i < cfg->monitors->len; i++) {
        const MonitorConfig *mon = g_ptr_array_index(cfg->monitors, i);
        if (g_strcmp0(mon->chardev, id) == 0) {
            return true;
        }
    }
    return false;
}

bool machine_create_chardevs(Machine *m, GError **err)
{
    const StratusConfig *cfg = m->cfg;

    for (guint i = 0; i < cfg->chardevs->len; i++) {
        const ChardevConfig *cc = g_ptr_array_index(cfg->chardevs, i);
        Chardev *chr;

        if (chardev_is_monitor(cfg, cc->id)) {
            continue;
        }
        chr = chardev_new(cc, m->ctx, err);
        if (!chr) {
            return false;
        }
        g_hash_table_insert(m->chardevs, g_strdup(cc->id), chr);
    }
    return true;
}

/*
 * -object back ends, before any device: a device names its back end by id
 * (virtio-rng's rng=) and finds it in m->objects at realize.
 */
/* A checked on/off value of an option, if given. */
static void opt_bool(const OptList *l, const char *key, bool *out)
{
    const char *v = optlist_get(l, key);

    if (v) {
        parse_bool(v, out);
    }
}

bool machine_create_objects(Machine *m, GError **err)
{
    for (guint i = 0; m->cfg->objects && i < m->cfg->objects->len; i++) {
        const OptList *l = g_ptr_array_index(m->cfg->objects, i);
        const char *file = optlist_get(l, "filename");
        bool ok;

        /* The parser accepts these two types and checked their values. */
        if (!strcmp(optlist_get(l, "qom-type"), "memory-backend-ram")) {
            MemoryBackendOptions o = MEMORY_BACKEND_OPTIONS_INIT;
            parse_size(optlist_get(l, "size"), 1, &o.size, NULL);
            opt_bool(l, "share", &o.share);
            opt_bool(l, "merge", &o.merge);
            opt_bool(l, "dump", &o.dump);
            opt_bool(l, "prealloc", &o.prealloc);
            opt_bool(l, "reserve", &o.reserve);
            ok = object_add_memory_backend_ram(m->objects, optlist_get(l, "id"), &o, err);
        } else {
            ok = object_add_rng_random(m->objects, optlist_get(l, "id"),
                                       file ? file : RNG_RANDOM_DEFAULT_FILE, err);
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

/*
 * -netdev back ends, before any device: a NIC names its back end by id
 * (virtio-net-device,netdev=) and finds it in m->netdevs at realize.
 */
/* A descriptor the process inherited, by number: taken over (closed with the back end). */
static int inherited_fd(void *opaque, const char *elem)
{
    char *end;
    long v = strtol(elem, &end, 10);

    (void)opaque;
    if (!*elem || *end || v < 0 || v > INT32_MAX || fcntl(v, F_GETFD) < 0) {
        return -1;
    }
    return (int)v;
}

/* fd= (StratoVirt: its last ':'-separated element) or fds= (one per queue), vhostfd(s)= alike. */
static bool netdev_fds(const OptList *l, const char *one, const char *many, int *fds,
                       unsigned *n, GError **err)
{
    const char *spec = optlist_get(l, one);

    if (spec) {
        const char *last = strrchr(spec, ':');
        spec = last ? last + 1 : spec;
    } else {
        spec = optlist_get(l, many);
    }
    return !spec || net_parse_fd_list(spec, inherited_fd, NULL, fds, n, err);
}

bool machine_create_netdevs(Machine *m, GError **err)
{
    for (guint i = 0; m->cfg->netdevs && i < m->cfg->netdevs->len; i++) {
        const OptList *l = g_ptr_array_index(m->cfg->netdevs, i);
        NetdevOptions o = NETDEV_OPTIONS_INIT;
        const char *vhost = optlist_get(l, "vhost");
        const char *queues = optlist_get(l, "queues");

        o.id = optlist_get(l, "id");
        o.type = optlist_get(l, "type");
        o.ifname = optlist_get(l, "ifname");
        o.path = optlist_get(l, "path");
        o.script = optlist_get(l, "script");
        o.downscript = optlist_get(l, "downscript");
        o.vhost = vhost && (!strcmp(vhost, "on") || !strcmp(vhost, "true") || !strcmp(vhost, "yes"));
        o.queues_given = queues != NULL;
        o.queues = queues ? (unsigned)MIN(g_ascii_strtoull(queues, NULL, 0), UINT32_MAX) : 0;
        /* With ifname the tap is opened by name; inherited descriptors are then left alone. */
        if ((!o.ifname && !netdev_fds(l, "fd", "fds", o.fds, &o.nfds, err)) ||
            !netdev_fds(l, "vhostfd", "vhostfds", o.vhostfds, &o.nvhostfds, err) ||
            !net_netdev_add(m, &o, err)) {
            g_prefix_error(err, "-netdev: ");
            return false;
        }
    }
    return true;
}

/*
 * The accelerator, each device class and block node declare what they need
 * beyond the base lists. Taps: a monitor can netdev_add one at any time (and
 * every VM but -accel qtest has one), so tap (and vhost-net) ioctls come with
 * a monitor too.
 */
unsigned machine_seccomp_needs(Machine *m)
{
    GPtrArray *nodes = block_registry_list(m->block_nodes);
    unsigned needs = (m->accel_ops ? m->accel_ops->seccomp_needs : 0) |
                     machine_camera_seccomp_needs(m);

    if (g_hash_table_size(m->netdevs) || (m->cfg->monitors && m->cfg->monitors->len)) {
        /* A tap may come with vhost=on (netdev_add too): its /dev/vhost-net requests. */
        needs |= SECCOMP_NEED_TAP | SECCOMP_NEED_VHOST;
    }
    /* Likewise a monitor can device_add a vfio-pci on a machine with PCI (docs/vfio.md). */
    if (m->cfg->monitors && m->cfg->monitors->len && m->machine_class &&
        m->machine_class->pci_host) {
        needs |= SECCOMP_NEED_VFIO;
    }

    for (guint i = 0; i < m->devices->len; i++) {
        const Device *d = g_ptr_array_index(m->devices, i);
        needs |= d->klass->seccomp_needs;
    }
    for (guint i = 0; i < nodes->len; i++) {
        needs |= block_seccomp_needs(g_ptr_array_index(nodes, i));
    }
    return needs;
}

bool machine_open_drives(Machine *m, GError **err)
{
    GPtrArray *drives = m->cfg->drives;

    for (guint i = 0; drives && i < drives->len; i++) {
        const OptList *l = g_ptr_array_index(drives, i);
        BlockOptions o;
        if (g_strcmp0(optlist_get(l, "if"), "pflash") == 0) {
            continue;
        }
        if (!block_options_from_drive(l, &o, err)) {
            return false;
        }
        if (block_registry_find(m->block_nodes, o.node_name)) {
            set_error(err, "Drive %s has been added", o.node_name);
            return false;
        }
        o.sandbox = &m->sandbox;
        o.defer_lock = m->cfg->incoming_uri != NULL;
        BlockBackend *bb = block_open(&o, m->ctx, err);
        if (!bb) {
            return false;
        }
        bool ok = block_registry_add(m->block_nodes, bb, err);
        block_unref(bb);
        if (!ok) {
            return false;
        }
    }
    return true;
}

