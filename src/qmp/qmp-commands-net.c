/*
 * Network back end QMP commands (docs/net.md): netdev_add and netdev_del
 * with StratoVirt's keys, set_link, and QEMU's query-rx-filter. The NIC itself comes and goes with device_add /
 * device_del (qmp-commands-block.c, through the device model). Handlers run
 * on the main loop with the machine lock held; ctx->opaque is the Machine.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"
#include "hw/device.h"
#include "hw/virtio/virtio-net.h"
#include "net/tap.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

/* StratoVirt's NetDevAddArgument. */
static const QmpMember netdev_add_m[] = {
    { "id", &qmp_type_str },
    { "ifname", &qmp_type_str, .optional = true },
    { "fd", &qmp_type_str, .optional = true },
    { "fds", &qmp_type_str, .optional = true },
    { "dnssearch", &qmp_type_str, .optional = true },
    { "type", &qmp_type_str, .optional = true },
    { "vhost", &qmp_type_bool, .optional = true },
    { "vhostfd", &qmp_type_str, .optional = true },
    { "vhostfds", &qmp_type_str, .optional = true },
    { "downscript", &qmp_type_str, .optional = true },
    { "script", &qmp_type_str, .optional = true },
    { "queues", &qmp_type_int, .optional = true },
    { "chardev", &qmp_type_str, .optional = true },
    { "macnat", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType netdev_add_args = QMP_OBJECT_TYPE(netdev_add_m);

static const QmpMember netdev_del_m[] = {
    { "id", &qmp_type_str },
    { NULL }
};
static const QmpType netdev_del_args = QMP_OBJECT_TYPE(netdev_del_m);

static const char *opt_str(JsonObject *args, const char *key)
{
    return json_object_has_member(args, key) ? json_object_get_string_member(args, key) : NULL;
}

/*
 * One element of fd/fds/vhostfd(s): a getfd'd descriptor by name, or else
 * the number of one the process inherited (dup'ed: ours from now on, as a
 * getfd'd one is; netdev_del closes it).
 */
static int resolve_fd(void *opaque, const char *name)
{
    QmpCommandCtx *ctx = opaque;
    int fd = qmp_session_take_named_fd(ctx->session, name);
    char *end;
    long v;

    if (fd >= 0) {
        return fd;
    }
    v = strtol(name, &end, 10);
    if (!*name || *end || v < 0 || v > INT32_MAX || fcntl(v, F_GETFD) < 0) {
        return -1;
    }
    return dup(v);
}

/* StratoVirt: fd's last ':'-separated element is the descriptor; fds= has one per queue. */
static bool netdev_fds(QmpCommandCtx *ctx, JsonObject *args, const char *one, const char *many,
                       int *fds, unsigned *n, GError **err)
{
    const char *spec = opt_str(args, one);

    if (spec) {
        const char *last = strrchr(spec, ':');
        spec = last ? last + 1 : spec;
    } else {
        spec = opt_str(args, many);
    }
    return !spec || net_parse_fd_list(spec, resolve_fd, ctx, fds, n, err);
}

static bool qmp_netdev_add(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    NetdevOptions o = NETDEV_OPTIONS_INIT;
    GError *e = NULL;

    (void)ret;
    o.id = opt_str(args, "id");
    o.type = opt_str(args, "type");
    o.ifname = opt_str(args, "ifname");
    o.script = opt_str(args, "script");
    o.downscript = opt_str(args, "downscript");
    o.vhost = json_object_has_member(args, "vhost") && json_object_get_boolean_member(args, "vhost");
    if (json_object_has_member(args, "queues")) {
        gint64 q = json_object_get_int_member(args, "queues");
        o.queues_given = true;
        o.queues = q < 0 ? UINT32_MAX : (unsigned)MIN(q, (gint64)UINT32_MAX);
    }
    if (opt_str(args, "chardev")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "vhost-user net back ends (chardev) are not supported");
        return false;
    }
    if ((!o.ifname && !netdev_fds(ctx, args, "fd", "fds", o.fds, &o.nfds, &e)) ||
        !netdev_fds(ctx, args, "vhostfd", "vhostfds", o.vhostfds, &o.nvhostfds, &e) ||
        !net_netdev_add(m, &o, &e)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "%s", e->message);
        g_error_free(e);
        return false;
    }
    return true;
}

/* The seeds' netdev_del succeeds (StratoVirt 2.x microvm says "not support yet"). */
static bool qmp_netdev_del(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    GError *e = NULL;

    (void)ret;
    if (!net_netdev_del(ctx->opaque, json_object_get_string_member(args, "id"), &e)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "%s", e->message);
        g_error_free(e);
        return false;
    }
    return true;
}

static const QmpMember set_link_m[] = {
    { "name", &qmp_type_str },
    { "up", &qmp_type_bool },
    { NULL }
};
static const QmpType set_link_args = QMP_OBJECT_TYPE(set_link_m);

/* QEMU's set_link (StratoVirt has none): docs/net.md "Link state". */
static bool qmp_set_link(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    (void)ret;
    return net_set_link(ctx->opaque, json_object_get_string_member(args, "name"),
                        json_object_get_boolean_member(args, "up"), err);
}

/* ---- query-rx-filter: what the driver set with CTRL_RX and CTRL_MAC ---- */

static const QmpMember rx_filter_args_m[] = {
    { "name", &qmp_type_str, .optional = true }, { NULL }
};
static const QmpType rx_filter_args = QMP_OBJECT_TYPE(rx_filter_args_m);
static const QmpType rx_filter_list = QMP_ARRAY_TYPE(&qmp_type_any);

static char *mac_text(const uint8_t *m)
{
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static JsonArray *mac_list(const uint8_t *table, uint32_t first, uint32_t n)
{
    JsonArray *a = json_array_new();

    for (uint32_t i = first; i < first + n && i < VIRTIO_NET_MAC_TABLE; i++) {
        json_array_add_string_element(a, mac_text(table + i * 6));
    }
    return a;
}

/* QEMU's RxState from a pair of "no..." / "all..." modes. */
static const char *rx_state(bool none, bool all)
{
    return none ? "none" : all ? "all" : "normal";
}

/* QEMU's RxFilterInfo. There is no VLAN filtering (no CTRL_VLAN): vlan is "none". */
static JsonObject *rx_filter_info(const char *name, const NetRxFilter *f, const uint8_t *mac)
{
    JsonObject *o = json_object_new();
    g_autofree char *main_mac = mac_text(mac);

    json_object_set_string_member(o, "name", name);
    json_object_set_boolean_member(o, "promiscuous", f->mode[VIRTIO_NET_CTRL_RX_PROMISC]);
    json_object_set_string_member(o, "multicast", rx_state(f->mode[VIRTIO_NET_CTRL_RX_NOMULTI],
                                                           f->mode[VIRTIO_NET_CTRL_RX_ALLMULTI]));
    json_object_set_string_member(o, "unicast", rx_state(f->mode[VIRTIO_NET_CTRL_RX_NOUNI],
                                                         f->mode[VIRTIO_NET_CTRL_RX_ALLUNI]));
    json_object_set_string_member(o, "vlan", "none");
    json_object_set_boolean_member(o, "broadcast-allowed", !f->mode[VIRTIO_NET_CTRL_RX_NOBCAST]);
    json_object_set_boolean_member(o, "multicast-overflow", f->multi_overflow);
    json_object_set_boolean_member(o, "unicast-overflow", f->uni_overflow);
    json_object_set_string_member(o, "main-mac", main_mac);
    json_object_set_array_member(o, "vlan-table", json_array_new());
    json_object_set_array_member(o, "unicast-table", mac_list(f->table, 0, f->uni));
    json_object_set_array_member(o, "multicast-table", mac_list(f->table, f->uni, f->multi));
    return o;
}

/* A NIC's name is its device id, else its QOM path (QEMU: the NIC's net client name). */
static bool qmp_query_rx_filter(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                GError **err)
{
    Machine *m = ctx->opaque;
    GPtrArray *devs = machine_devices(m);
    const char *want = json_object_has_member(args, "name") ?
                       json_object_get_string_member(args, "name") : NULL;
    JsonArray *a = json_array_new();
    bool found = false;

    for (guint i = 0; devs && i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        const char *name = device_name(d);
        uint8_t mac[6];
        const NetRxFilter *f = virtio_net_device_rx_filter(d, mac);

        if (!f || (want && strcmp(want, name))) {
            continue;
        }
        found = true;
        json_array_add_object_element(a, rx_filter_info(name, f, mac));
    }
    if (want && !found) {
        json_array_unref(a);
        if (g_hash_table_contains(m->netdevs, want)) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "net client(%s) isn't a NIC", want);
        } else {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "invalid net client name: %s", want);
        }
        return false;
    }
    *ret = qmp_node_array(a);
    return true;
}

static const QmpCommand net_cmds[] = {
    { "netdev_add", qmp_netdev_add, &netdev_add_args },
    { "netdev_del", qmp_netdev_del, &netdev_del_args },
    { "set_link", qmp_set_link, &set_link_args },
    { "query-rx-filter", qmp_query_rx_filter, &rx_filter_args, &rx_filter_list },
    { NULL }
};

void qmp_register_net_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, net_cmds);
}
