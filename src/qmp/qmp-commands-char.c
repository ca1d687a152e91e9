/*
 * Character device queries (docs/qmp.md "Character devices"): query-chardev,
 * query-chardev-backends and query-yank, QEMU 7.2's shapes and filename
 * forms.
 *
 * Every -chardev / -serial / -qmp chardev of the configuration is listed in
 * command-line order, plus the one -qtest unix:PATH opens (QEMU's label
 * "qtest"). Most are chardev objects of the machine (m->chardevs), whose
 * connection state and front end are live; the QMP server opens its
 * monitors' sockets itself, so a monitor's chardev is listed as QEMU shows a
 * connected one with its monitor as the front end.
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <string.h>

#include "machine.h"
#include "chardev/chardev.h"
#include "qmp/qmp.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

static const QmpMember chardev_info_m[] = {
    { "label", &qmp_type_str },
    { "filename", &qmp_type_str },
    { "frontend-open", &qmp_type_bool },
    { NULL }
};
static const QmpType chardev_info = QMP_OBJECT_TYPE(chardev_info_m);
static const QmpType chardev_info_list = QMP_ARRAY_TYPE(&chardev_info);

static const QmpMember backend_info_m[] = {
    { "name", &qmp_type_str },
    { NULL }
};
static const QmpType backend_info = QMP_OBJECT_TYPE(backend_info_m);
static const QmpType backend_info_list = QMP_ARRAY_TYPE(&backend_info);

static const char *const yank_type_values[] = { "block-node", "chardev", "migration", NULL };
static const QmpType yank_type = QMP_ENUM_TYPE(yank_type_values);
static const QmpMember yank_instance_m[] = {
    { "type", &yank_type },
    { "id", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType yank_instance = QMP_OBJECT_TYPE(yank_instance_m);
static const QmpType yank_instance_list = QMP_ARRAY_TYPE(&yank_instance);

/*
 * QEMU's socket filename: the address, ",server=on" for a listener, and
 * "disconnected:" before it while no peer is there. A connected client's
 * own unix address is unnamed, so it reads "unix:" (libqtest's monitor).
 */
static char *socket_filename(const ChardevConfig *cc, bool connected)
{
    const char *prefix = connected ? "" : "disconnected:";
    const char *server = cc->server ? ",server=on" : "";

    if (cc->fd >= 0 || (cc->path && connected && !cc->server)) {
        return g_strdup("unix:");
    }
    if (cc->path) {
        return g_strdup_printf("%sunix:%s%s", prefix, cc->path, server);
    }
    return g_strdup_printf("%stcp:%s:%d%s", prefix, cc->host ? cc->host : "0.0.0.0",
                           cc->port, server);
}

static char *chardev_filename_of(const ChardevConfig *cc, const Chardev *chr)
{
    switch (cc->kind) {
    case CHARDEV_STDIO:
        return g_strdup("stdio");
    case CHARDEV_PTY:
        return g_strdup_printf("pty:%s", chr && chardev_filename(chr) ?
                                         chardev_filename(chr) : "");
    case CHARDEV_FILE:
        return g_strdup("file");
    case CHARDEV_NULL:
        return g_strdup("null");
    case CHARDEV_SOCKET:
        return socket_filename(cc, !chr || chardev_connected(chr));
    }
    return g_strdup("");
}

static void add_info(JsonArray *a, const char *label, char *filename, bool open)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "filename", filename);
    json_object_set_boolean_member(o, "frontend-open", open);
    json_object_set_string_member(o, "label", label);
    json_array_add_object_element(a, o);
    g_free(filename);
}

static bool qmp_query_chardev(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    Machine *m = ctx->opaque;
    JsonArray *a = json_array_new();

    for (guint i = 0; m->cfg && i < m->cfg->chardevs->len; i++) {
        const ChardevConfig *cc = g_ptr_array_index(m->cfg->chardevs, i);
        const Chardev *chr = m->chardevs ? g_hash_table_lookup(m->chardevs, cc->id) : NULL;
        /* Not a chardev object: a QMP monitor's, which its monitor holds open. */
        add_info(a, cc->id, chardev_filename_of(cc, chr), !chr || chardev_has_frontend(chr));
    }
    if (m->cfg && m->cfg->qtest && g_str_has_prefix(m->cfg->qtest, "unix:")) {
        add_info(a, "qtest", g_strdup("unix:"), true);
    }
    *ret = qmp_node_array(a);
    return true;
}

static bool qmp_query_chardev_backends(QmpCommandCtx *ctx, JsonObject *args,
                                       JsonNode **ret, GError **err)
{
    JsonArray *a = json_array_new();

    for (const char *const *n = chardev_backend_names(); *n; n++) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", *n);
        json_array_add_object_element(a, o);
    }
    *ret = qmp_node_array(a);
    return true;
}

/* query-yank's chardev instances: the socket chardevs of the configuration. */
static bool yank_registered(Machine *m, const char *id)
{
    const ChardevConfig *cc = m->cfg ? config_find_chardev(m->cfg, id) : NULL;

    return cc && cc->kind == CHARDEV_SOCKET;
}

/* QEMU registers a yank instance for every socket chardev (monitors included). */
static bool qmp_query_yank(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                           GError **err)
{
    Machine *m = ctx->opaque;
    JsonArray *a = json_array_new();

    for (guint i = 0; m->cfg && i < m->cfg->chardevs->len; i++) {
        const ChardevConfig *cc = g_ptr_array_index(m->cfg->chardevs, i);
        if (yank_registered(m, cc->id)) {
            JsonObject *o = json_object_new();
            json_object_set_string_member(o, "id", cc->id);
            json_object_set_string_member(o, "type", "chardev");
            json_array_add_object_element(a, o);
        }
    }
    *ret = qmp_node_array(a);
    return true;
}

/* QEMU's YankInstance union, checked per variant by the handler. */
static const QmpMember yank_arg_m[] = {
    { "type", &yank_type }, { "id", &qmp_type_str, .optional = true },
    { "node-name", &qmp_type_str, .optional = true }, { NULL }
};
static const QmpType yank_arg = QMP_OBJECT_TYPE(yank_arg_m);
static const QmpType yank_arg_list = QMP_ARRAY_TYPE(&yank_arg);
static const QmpMember yank_args_m[] = { { "instances", &yank_arg_list }, { NULL } };
static const QmpType yank_args = QMP_OBJECT_TYPE(yank_args_m);

/*
 * QEMU checks every instance before yanking any. Stratus registers only
 * socket chardevs (query-yank): a migration or block-node instance is
 * never there.
 */
static bool qmp_yank(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    JsonArray *a = json_object_get_array_member(args, "instances");
    guint n = json_array_get_length(a);

    for (guint i = 0; i < n; i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        const char *type = json_object_get_string_member(o, "type");
        const char *need = !strcmp(type, "chardev") ? "id" :
                           !strcmp(type, "block-node") ? "node-name" : NULL;

        if (need && !json_object_has_member(o, need)) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter '%s' is missing", need);
            return false;
        }
        if (strcmp(type, "chardev") || !yank_registered(m, json_object_get_string_member(o, "id"))) {
            qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_FOUND, "Instance not found");
            return false;
        }
    }
    for (guint i = 0; i < n; i++) {
        const char *id = json_object_get_string_member(json_array_get_object_element(a, i), "id");
        Chardev *chr = m->chardevs ? g_hash_table_lookup(m->chardevs, id) : NULL;

        /* Not a chardev object: a monitor's, which the QMP server holds. */
        if (!chr || !chardev_yank(chr)) {
            qmp_server_yank(m->qmp, id, true);
        }
    }
    return true;
}

static const QmpCommand char_cmds[] = {
    { "query-chardev", qmp_query_chardev, NULL, &chardev_info_list },
    { "query-chardev-backends", qmp_query_chardev_backends, NULL, &backend_info_list },
    { "query-yank", qmp_query_yank, NULL, &yank_instance_list },
    { "yank", qmp_yank, &yank_args },
    { NULL }
};

void qmp_register_char_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, char_cmds);
}
