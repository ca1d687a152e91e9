/*
 * chardev-add / chardev-remove (docs/qmp.md "Character devices"; query-chardev
 * is qmp-commands-char.c's): QEMU's commands, whose chardev-add shape StratoVirt uses too
 * (the seeds' example is QEMU's legacy socket form). StratoVirt refuses both
 * on microvm ("chardev_add not supported yet for microVM"); Stratus takes
 * them on every machine, so that a chardev added at run time can back a
 * hot-plugged virtconsole / virtserialport.
 *
 * The backend is a union (its `data` depends on `type`): the schema checker
 * validates `type` and the command checks `data` against the type's member
 * list with the same texts and dotted names QEMU's visitor gives
 * ("Parameter 'backend.data.addr' is missing").
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <stdlib.h>
#include <string.h>

#include "machine.h"
#include "chardev/chardev.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "util/strutil.h"

static const char *const backend_types[] = { "file", "null", "pty", "socket", NULL };
static const QmpType backend_type_enum = QMP_ENUM_TYPE(backend_types);

static const QmpMember backend_m[] = {
    { "type", &backend_type_enum },
    { "data", &qmp_type_any },
    { NULL }
};
static const QmpType backend_type = QMP_OBJECT_TYPE(backend_m);

static const QmpMember chardev_add_m[] = {
    { "id", &qmp_type_str },
    { "backend", &backend_type },
    { NULL }
};
static const QmpType chardev_add_args = QMP_OBJECT_TYPE(chardev_add_m);

/* ChardevReturn: the pty's path, for a pty. */
static const QmpMember chardev_return_m[] = {
    { "pty", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType chardev_return = QMP_OBJECT_TYPE(chardev_return_m);

static const QmpMember id_m[] = {
    { "id", &qmp_type_str },
    { NULL }
};
static const QmpType id_args = QMP_OBJECT_TYPE(id_m);

/* ---- the backends' data (QEMU's ChardevFile, ChardevSocket, ...) ---- */

static const QmpMember file_m[] = {
    { "out", &qmp_type_str },
    { NULL }
};
static const QmpType file_data = QMP_OBJECT_TYPE(file_m);

/* ChardevCommon (logfile, logappend) is not implemented: null and pty take {}. */
static const QmpType empty_data = QMP_OBJECT_TYPE(NULL);

static const QmpMember unix_m[] = {
    { "path", &qmp_type_str },
    { NULL }
};
static const QmpType unix_addr = QMP_OBJECT_TYPE(unix_m);

static const QmpMember inet_m[] = {
    { "host", &qmp_type_str },
    { "port", &qmp_type_str },
    { NULL }
};
static const QmpType inet_addr = QMP_OBJECT_TYPE(inet_m);

static const char *const addr_types[] = { "inet", "unix", NULL };
static const QmpType addr_type_enum = QMP_ENUM_TYPE(addr_types);
static const QmpMember addr_m[] = {
    { "type", &addr_type_enum },
    { "data", &qmp_type_any },
    { NULL }
};
static const QmpType addr_type = QMP_OBJECT_TYPE(addr_m);

static const QmpMember socket_m[] = {
    { "addr", &addr_type },
    { "server", &qmp_type_bool, .optional = true },
    { "wait", &qmp_type_bool, .optional = true },
    { "nodelay", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType socket_data = QMP_OBJECT_TYPE(socket_m);

static bool opt_bool(JsonObject *o, const char *name, bool def)
{
    return json_object_has_member(o, name) ? json_object_get_boolean_member(o, name) : def;
}

/* SocketAddressLegacy at backend.data.addr into cfg. */
static bool parse_addr(JsonObject *addr, ChardevConfig *cfg, GError **err)
{
    const char *type = json_object_get_string_member(addr, "type");
    JsonNode *data = json_object_get_member(addr, "data");
    JsonObject *d;

    if (!strcmp(type, "unix")) {
        if (!qmp_validate_value(&unix_addr, data, "backend.data.addr.data", err)) {
            return false;
        }
        cfg->path = g_strdup(json_object_get_string_member(json_node_get_object(data), "path"));
        return true;
    }
    if (!qmp_validate_value(&inet_addr, data, "backend.data.addr.data", err)) {
        return false;
    }
    d = json_node_get_object(data);
    const char *port = json_object_get_string_member(d, "port");
    char *end;
    long v = strtol(port, &end, 10);

    /* QEMU resolves service names too; a number is what Stratus takes. */
    if (!*port || *end || v < 0 || v > 65535) {
        set_error(err, "Parameter 'backend.data.addr.data.port' expects a port number");
        return false;
    }
    cfg->host = g_strdup(json_object_get_string_member(d, "host"));
    cfg->port = (int)v;
    return true;
}

static bool parse_socket(JsonNode *data, ChardevConfig *cfg, GError **err)
{
    JsonObject *o;

    if (!qmp_validate_value(&socket_data, data, "backend.data", err)) {
        return false;
    }
    o = json_node_get_object(data);
    cfg->kind = CHARDEV_SOCKET;
    /* QEMU's defaults for chardev-add: a server that does not wait. */
    cfg->server = opt_bool(o, "server", true);
    if (cfg->server && opt_bool(o, "wait", false)) {
        set_error(err, "'wait' is not supported by chardev-add: it would stop the monitor "
                  "until a client connects");
        return false;
    }
    cfg->nowait = true;
    return parse_addr(json_object_get_object_member(o, "addr"), cfg, err);
}

/* backend -> cfg (cfg->id set by the caller); QEMU's texts for the shape. */
static bool parse_backend(JsonObject *backend, ChardevConfig *cfg, GError **err)
{
    const char *type = json_object_get_string_member(backend, "type");
    JsonNode *data = json_object_get_member(backend, "data");

    cfg->port = -1;
    cfg->fd = -1;
    if (!strcmp(type, "socket")) {
        return parse_socket(data, cfg, err);
    }
    if (!strcmp(type, "file")) {
        if (!qmp_validate_value(&file_data, data, "backend.data", err)) {
            return false;
        }
        cfg->kind = CHARDEV_FILE;
        cfg->path = g_strdup(json_object_get_string_member(json_node_get_object(data), "out"));
        return true;
    }
    if (!qmp_validate_value(&empty_data, data, "backend.data", err)) {
        return false;
    }
    cfg->kind = !strcmp(type, "pty") ? CHARDEV_PTY : CHARDEV_NULL;
    return true;
}

/* The QMP server opens the monitors' chardevs itself: they are not in m->chardevs. */
static bool is_monitor_chardev(Machine *m, const char *id)
{
    for (guint i = 0; i < m->cfg->monitors->len; i++) {
        const MonitorConfig *mon = g_ptr_array_index(m->cfg->monitors, i);
        if (!g_strcmp0(mon->chardev, id)) {
            return true;
        }
    }
    return false;
}

static bool id_taken(Machine *m, const char *id)
{
    return g_hash_table_contains(m->chardevs, id) || is_monitor_chardev(m, id);
}

static bool qmp_chardev_add(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                            GError **err)
{
    Machine *m = ctx->opaque;
    const char *id = json_object_get_string_member(args, "id");
    ChardevConfig cfg = { 0 };
    Chardev *chr = NULL;
    bool ok = false;

    if (!id_wellformed(id)) {
        set_error(err, "Parameter 'id' expects an identifier");
        return false;
    }
    if (id_taken(m, id)) {
        set_error(err, "attempt to add duplicate property '%s' to object (type 'container')",
                  id);
        return false;
    }
    cfg.id = (char *)id;
    if (parse_backend(json_object_get_object_member(args, "backend"), &cfg, err)) {
        chr = chardev_new(&cfg, m->ctx, err);
    }
    if (chr) {
        JsonObject *o = json_object_new();

        g_hash_table_insert(m->chardevs, g_strdup(id), chr);
        if (cfg.kind == CHARDEV_PTY) {
            json_object_set_string_member(o, "pty", chardev_filename(chr));
        }
        *ret = json_node_init_object(json_node_alloc(), o);
        json_object_unref(o);
        ok = true;
    }
    g_free(cfg.path);
    g_free(cfg.host);
    return ok;
}

static bool qmp_chardev_remove(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                               GError **err)
{
    Machine *m = ctx->opaque;
    const char *id = json_object_get_string_member(args, "id");
    Chardev *chr = g_hash_table_lookup(m->chardevs, id);

    /* QEMU's texts; a monitor's chardev is a front end's, so busy. */
    if (!chr && is_monitor_chardev(m, id)) {
        set_error(err, "Chardev '%s' is busy", id);
        return false;
    }
    if (!chr) {
        set_error(err, "Chardev '%s' not found", id);
        return false;
    }
    if (chardev_has_frontend(chr)) {
        set_error(err, "Chardev '%s' is busy", id);
        return false;
    }
    g_hash_table_remove(m->chardevs, id);
    return true;
}

static const QmpCommand chardev_cmds[] = {
    { "chardev-add", qmp_chardev_add, &chardev_add_args, &chardev_return },
    { "chardev-remove", qmp_chardev_remove, &id_args },
    { NULL }
};

void qmp_register_chardev_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, chardev_cmds);
}
