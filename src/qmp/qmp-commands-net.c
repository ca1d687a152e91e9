/*
 * Network back end QMP commands (docs/net.md): netdev_add and netdev_del
 * with StratoVirt's keys. The NIC itself comes and goes with device_add /
 * device_del (qmp-commands-block.c, through the device model). Handlers run
 * on the main loop with the machine lock held; ctx->opaque is the Machine.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"
#include "net/tap.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

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
 * StratoVirt: the last ':'-separated element of fd/fds names a getfd'd
 * descriptor, or else is the number of one the process inherited.
 */
static int resolve_fd(QmpCommandCtx *ctx, const char *spec, GError **err)
{
    const char *last = strrchr(spec, ':');
    const char *name = last ? last + 1 : spec;
    int fd = qmp_session_take_named_fd(ctx->session, name);
    char *end;
    long v;

    if (fd >= 0) {
        return fd;
    }
    v = strtol(name, &end, 10);
    if (!*name || *end || v < 0 || v > INT32_MAX || fcntl(v, F_GETFD) < 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Add netdev error: failed to convert {} to RawFd.");
        return -1;
    }
    /* Ours from now on, as a getfd'd one is: netdev_del closes it. */
    return dup(v);
}

static bool qmp_netdev_add(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    NetdevOptions o = NETDEV_OPTIONS_INIT;
    const char *fdspec = opt_str(args, "fd") ? opt_str(args, "fd") : opt_str(args, "fds");
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
        o.queues = q < 0 ? UINT32_MAX : (unsigned)MIN(q, (gint64)UINT32_MAX);
    }
    if (opt_str(args, "chardev")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "vhost-user net back ends (chardev) are not supported");
        return false;
    }
    if (!o.ifname && fdspec) {
        o.fd = resolve_fd(ctx, fdspec, err);
        if (o.fd < 0) {
            return false;
        }
    }
    if (!net_netdev_add(m, &o, &e)) {
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

static const QmpCommand net_cmds[] = {
    { "netdev_add", qmp_netdev_add, &netdev_add_args },
    { "netdev_del", qmp_netdev_del, &netdev_del_args },
    { "set_link", qmp_set_link, &set_link_args },
    { NULL }
};

void qmp_register_net_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, net_cmds);
}
