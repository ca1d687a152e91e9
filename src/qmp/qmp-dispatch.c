/*
 * QMP dispatch core (see qmp-dispatch.h): the command table, the protocol
 * commands, request checking, and the formats of what goes on the wire.
 * Argument types and the schema are in qmp-schema.c, per-connection state
 * and the rate limiter in qmp-session.c.
 *
 * Request checking follows QEMU's qapi/qmp-dispatch.c + monitor/qmp.c:
 *   1. non-object input           -> "QMP input must be a JSON object" (no id)
 *   2. members in input order     -> execute (or exec-oob, once the session
 *      enabled OOB) must be a string, arguments an object, id anything,
 *      anything else "QMP input member 'X' is unexpected" (exec-oob too
 *      before OOB is enabled); execute with exec-oob clash
 *   3. no execute                 -> "QMP input lacks member 'execute'"
 *   4. lookup                     -> CommandNotFound "The command X has not
 *      been found"; in strict negotiation mode every command but
 *      qmp_capabilities is CommandNotFound "Expecting capabilities
 *      negotiation with 'qmp_capabilities'"; exec-oob of a command without
 *      QMP_CMD_ALLOW_OOB -> "The command X does not support OOB"
 *   5. arguments against the schema (before the handler runs)
 *   6. the handler
 * The id of an object request is echoed on every reply from step 2 on.
 */
#include <string.h>

#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-dispatch-internal.h"
#include "qmp/qmp-json.h"

/* ------------------------------------------------------------------------ */
/* Command table                                                            */

QmpCommandTable *qmp_command_table_new(void)
{
    QmpCommandTable *t = g_new0(QmpCommandTable, 1);
    t->cmds = g_ptr_array_new();
    t->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    t->events = g_ptr_array_new();
    return t;
}

void qmp_command_table_set_preconfig(QmpCommandTable *t, const char *const *allowed)
{
    t->preconfig_allowed = allowed;
}

bool qmp_command_table_in_preconfig(const QmpCommandTable *t)
{
    return t->preconfig_allowed != NULL;
}

void qmp_command_table_free(QmpCommandTable *t)
{
    if (!t) {
        return;
    }
    g_ptr_array_free(t->cmds, TRUE);
    g_hash_table_destroy(t->by_name);
    g_ptr_array_free(t->events, TRUE);
    g_free(t);
}

void qmp_command_table_add(QmpCommandTable *t, const QmpCommand *cmds)
{
    for (const QmpCommand *c = cmds; c->name; c++) {
        guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(t->by_name, c->name));
        g_assert(c->fn);
        g_assert(!c->args || c->args->kind == QMP_KIND_OBJECT);
        if (idx) {
            t->cmds->pdata[idx - 1] = (gpointer)c;
        } else {
            g_ptr_array_add(t->cmds, (gpointer)c);
            g_hash_table_insert(t->by_name, (gpointer)c->name,
                                GUINT_TO_POINTER(t->cmds->len));
        }
    }
}

void qmp_command_table_add_events(QmpCommandTable *t, const QmpEventDef *evs)
{
    for (const QmpEventDef *e = evs; e->name; e++) {
        bool dup = false;
        for (guint i = 0; i < t->events->len; i++) {
            const QmpEventDef *o = g_ptr_array_index(t->events, i);
            if (!strcmp(o->name, e->name)) {
                t->events->pdata[i] = (gpointer)e;
                dup = true;
                break;
            }
        }
        if (!dup) {
            g_ptr_array_add(t->events, (gpointer)e);
        }
    }
}

const QmpCommand *qmp_command_table_find(const QmpCommandTable *t, const char *name)
{
    guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(t->by_name, name));
    return idx ? g_ptr_array_index(t->cmds, idx - 1) : NULL;
}

guint qmp_command_table_size(const QmpCommandTable *t)
{
    return t->cmds->len;
}

JsonNode *qmp_command_table_commands(const QmpCommandTable *t)
{
    JsonArray *a = json_array_new();
    for (guint i = 0; i < t->cmds->len; i++) {
        const QmpCommand *c = g_ptr_array_index(t->cmds, i);
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", c->name);
        json_array_add_object_element(a, o);
    }
    return qmp_node_array(a);
}

JsonNode *qmp_command_table_events(const QmpCommandTable *t)
{
    JsonArray *a = json_array_new();
    for (guint i = 0; i < t->events->len; i++) {
        const QmpEventDef *e = g_ptr_array_index(t->events, i);
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", e->name);
        json_array_add_object_element(a, o);
    }
    return qmp_node_array(a);
}

/* ---- protocol commands --------------------------------------------------- */

static const char *const qmp_capability_values[] = { "oob", NULL };
static const QmpType qmp_capability_enum = QMP_ENUM_TYPE(qmp_capability_values);
static const QmpType qmp_capability_list = QMP_ARRAY_TYPE(&qmp_capability_enum);
static const QmpMember qmp_capabilities_members[] = {
    { "enable", &qmp_capability_list, .optional = true },
    { NULL }
};
const QmpType qmp_capabilities_args = QMP_OBJECT_TYPE(qmp_capabilities_members);

static const QmpMember name_info_members[] = {
    { "name", &qmp_type_str },
    { NULL }
};
static const QmpType name_info = QMP_OBJECT_TYPE(name_info_members);
const QmpType qmp_commands_ret = QMP_ARRAY_TYPE(&name_info);
const QmpType qmp_events_ret = QMP_ARRAY_TYPE(&name_info);
/* SchemaInfo is a union; advertised loosely as a list of "any". */
const QmpType qmp_schema_ret = QMP_ARRAY_TYPE(&qmp_type_any);

bool qmp_cmd_qmp_capabilities(QmpCommandCtx *ctx, JsonObject *args,
                              JsonNode **ret, GError **err)
{
    QmpSession *s = ctx->session;
    JsonArray *enable;

    if (s->mode == QMP_MODE_STRICT && s->negotiated) {
        qmp_error_set(err, STRATUS_ERROR_COMMAND_NOT_FOUND,
                      "Capabilities negotiation is already complete, command ignored");
        return false;
    }
    enable = json_object_has_member(args, "enable") ?
             json_object_get_array_member(args, "enable") : NULL;
    /* "oob" is the only capability; only what the greeting offered is accepted. */
    for (guint i = 0; enable && i < json_array_get_length(enable); i++) {
        if (!s->oob_offered) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "Capability '%s' not available",
                          json_array_get_string_element(enable, i));
            return false;
        }
    }
    s->oob_enabled = enable && json_array_get_length(enable) > 0;
    s->negotiated = true;
    return true;
}

bool qmp_cmd_query_commands(QmpCommandCtx *ctx, JsonObject *args,
                            JsonNode **ret, GError **err)
{
    *ret = qmp_command_table_commands(ctx->table);
    return true;
}

bool qmp_cmd_query_events(QmpCommandCtx *ctx, JsonObject *args,
                          JsonNode **ret, GError **err)
{
    *ret = qmp_command_table_events(ctx->table);
    return true;
}

bool qmp_cmd_query_qmp_schema(QmpCommandCtx *ctx, JsonObject *args,
                              JsonNode **ret, GError **err)
{
    *ret = qmp_command_table_schema(ctx->table);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */

static JsonNode *request_id(JsonNode *req)
{
    JsonNode *id;
    if (!req || !JSON_NODE_HOLDS_OBJECT(req)) {
        return NULL;
    }
    id = json_object_get_member(json_node_get_object(req), "id");
    return id ? json_node_copy(id) : NULL;
}

JsonNode *qmp_error_response(JsonNode *req, StratusErrorCode c, const char *desc)
{
    JsonObject *resp = json_object_new(), *e = json_object_new();
    JsonNode *id = request_id(req);

    json_object_set_string_member(e, "class", qmp_error_class_name(c));
    json_object_set_string_member(e, "desc", desc);
    json_object_set_object_member(resp, "error", e);
    if (id) {
        json_object_set_member(resp, "id", id);
    }
    return qmp_node_object(resp);
}

static JsonNode *error_from_gerror(JsonNode *req, const GError *err)
{
    StratusErrorCode c = STRATUS_ERROR_GENERIC;
    if (err->domain == STRATUS_ERROR) {
        c = (StratusErrorCode)err->code;
    }
    return qmp_error_response(req, c, err->message);
}

bool qmp_request_is_oob(const QmpSession *sess, JsonNode *req)
{
    JsonObject *o;

    if (!sess->oob_enabled || !req || !JSON_NODE_HOLDS_OBJECT(req)) {
        return false;
    }
    o = json_node_get_object(req);
    return json_object_has_member(o, "exec-oob") && !json_object_has_member(o, "execute");
}

JsonNode *qmp_dispatch(const QmpCommandTable *t, QmpSession *sess, void *opaque,
                       JsonNode *req, const GError *parse_err, unsigned *flags_out)
{
    JsonObject *obj, *args = NULL, *empty = NULL;
    JsonObjectIter it;
    const char *key, *name = NULL;
    JsonNode *val, *ret = NULL, *resp;
    const QmpCommand *cmd;
    QmpCommandCtx ctx;
    GError *err = NULL;
    bool negotiating, oob = false;

    if (flags_out) {
        *flags_out = 0;
    }
    if (!req) {
        return qmp_error_response(NULL, STRATUS_ERROR_GENERIC,
                                  parse_err ? parse_err->message
                                            : "JSON parse error, expecting value");
    }
    if (!JSON_NODE_HOLDS_OBJECT(req)) {
        return qmp_error_response(NULL, STRATUS_ERROR_GENERIC,
                                  "QMP input must be a JSON object");
    }
    obj = json_node_get_object(req);

    json_object_iter_init_ordered(&it, obj);
    while (json_object_iter_next_ordered(&it, &key, &val)) {
        if (!strcmp(key, "execute") || (!strcmp(key, "exec-oob") && sess->oob_enabled)) {
            if (!JSON_NODE_HOLDS_VALUE(val) ||
                json_node_get_value_type(val) != G_TYPE_STRING) {
                char *d = g_strdup_printf("QMP input member '%s' must be a string", key);
                resp = qmp_error_response(req, STRATUS_ERROR_GENERIC, d);
                g_free(d);
                return resp;
            }
            if (name) {
                /* QEMU walks the members in its hash order: always this pair. */
                return qmp_error_response(req, STRATUS_ERROR_GENERIC,
                    "QMP input member 'execute' clashes with 'exec-oob'");
            }
            name = json_node_get_string(val);
            oob = key[4] == '-';
        } else if (!strcmp(key, "arguments")) {
            if (!JSON_NODE_HOLDS_OBJECT(val)) {
                return qmp_error_response(req, STRATUS_ERROR_GENERIC,
                    "QMP input member 'arguments' must be an object");
            }
        } else if (!strcmp(key, "id")) {
            continue;
        } else {
            char *d = g_strdup_printf("QMP input member '%s' is unexpected", key);
            resp = qmp_error_response(req, STRATUS_ERROR_GENERIC, d);
            g_free(d);
            return resp;
        }
    }
    if (!name) {
        return qmp_error_response(req, STRATUS_ERROR_GENERIC,
                                  "QMP input lacks member 'execute'");
    }

    negotiating = sess->mode == QMP_MODE_STRICT && !sess->negotiated;
    cmd = qmp_command_table_find(t, name);
    if (negotiating && (!cmd || !(cmd->flags & QMP_CMD_NEGOTIATION))) {
        return qmp_error_response(req, STRATUS_ERROR_COMMAND_NOT_FOUND,
            "Expecting capabilities negotiation with 'qmp_capabilities'");
    }
    if (!cmd) {
        char *d = g_strdup_printf("The command %s has not been found", name);
        resp = qmp_error_response(req, STRATUS_ERROR_COMMAND_NOT_FOUND, d);
        g_free(d);
        return resp;
    }
    if (oob && !(cmd->flags & QMP_CMD_ALLOW_OOB)) {
        char *d = g_strdup_printf("The command %s does not support OOB", name);
        resp = qmp_error_response(req, STRATUS_ERROR_GENERIC, d);
        g_free(d);
        return resp;
    }

    if (t->preconfig_allowed && !g_strv_contains((const gchar *const *)t->preconfig_allowed,
                                                 name)) {
        char *d = g_strdup_printf("The command '%s' is permitted only after machine "
                                  "initialization has completed", name);
        resp = qmp_error_response(req, STRATUS_ERROR_GENERIC, d);
        g_free(d);
        return resp;
    }

    if (json_object_has_member(obj, "arguments")) {
        args = json_object_get_object_member(obj, "arguments");
    }
    if (!qmp_validate_args(cmd->args, args, cmd->flags & QMP_CMD_ALLOW_EXTRA_ARGS,
                           &err)) {
        resp = error_from_gerror(req, err);
        g_error_free(err);
        return resp;
    }
    if (!args) {
        args = empty = json_object_new();
    }

    ctx.opaque = opaque;
    ctx.session = sess;
    ctx.table = t;
    ctx.cmd = cmd;
    if (flags_out) {
        *flags_out = cmd->flags;
    }
    if (!cmd->fn(&ctx, args, &ret, &err)) {
        if (ret) {
            json_node_unref(ret);
        }
        if (!err) {
            g_set_error_literal(&err, STRATUS_ERROR, STRATUS_ERROR_GENERIC, "");
        }
        resp = error_from_gerror(req, err);
        g_error_free(err);
    } else {
        JsonObject *r = json_object_new();
        JsonNode *id = request_id(req);
        json_object_set_member(r, "return", ret ? ret : qmp_node_empty_object());
        if (id) {
            json_object_set_member(r, "id", id);
        }
        resp = qmp_node_object(r);
    }
    if (empty) {
        json_object_unref(empty);
    }
    return resp;
}

char *qmp_format_response(JsonNode *resp)
{
    return qmp_format_response_raw_id(resp, NULL);
}

static bool node_is_number(JsonNode *n)
{
    GType t = JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID;
    return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

char *qmp_format_response_raw_id(JsonNode *resp, const char *raw_id)
{
    JsonObject *o = json_node_get_object(resp);
    GString *s = g_string_new("{");

    if (json_object_has_member(o, "return")) {
        g_string_append(s, "\"return\":");
        qmp_json_append(s, json_object_get_member(o, "return"), true);
    } else {
        JsonObject *e = json_object_get_object_member(o, "error");
        g_string_append(s, "\"error\":{\"class\":");
        qmp_json_append_string(s, json_object_get_string_member(e, "class"));
        g_string_append(s, ",\"desc\":");
        qmp_json_append_string(s, json_object_get_string_member(e, "desc"));
        g_string_append_c(s, '}');
    }
    if (json_object_has_member(o, "id")) {
        JsonNode *id = json_object_get_member(o, "id");
        g_string_append(s, ",\"id\":");
        if (raw_id && node_is_number(id)) {
            g_string_append(s, raw_id);
        } else {
            qmp_json_append(s, id, false);
        }
    }
    g_string_append_c(s, '}');
    return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Greeting and events                                                      */

char *qmp_format_greeting(QmpGreeting g, const char *package_version, bool oob)
{
    GString *s = g_string_new(NULL);
    if (g == QMP_GREETING_LEGACY) {
        g_string_append(s, "{\"QMP\":{\"version\":{\"StratoVirt\":"
                           "{\"micro\":1,\"minor\":0,\"major\":0},\"package\":\"\"},"
                           "\"capabilities\":[]}}");
    } else {
        char *pkg = g_strdup_printf("Stratus-%s", package_version);
        g_string_append(s, "{\"QMP\":{\"version\":{\"qemu\":"
                           "{\"micro\":1,\"minor\":0,\"major\":5},\"package\":");
        qmp_json_append_string(s, pkg);
        g_string_append_printf(s, "},\"capabilities\":[%s]}}", oob ? "\"oob\"" : "");
        g_free(pkg);
    }
    return g_string_free(s, FALSE);
}

char *qmp_format_event(const char *name, JsonNode *data, gint64 wall_us)
{
    GString *s = g_string_new("{\"event\":");
    gint64 sec = wall_us / G_USEC_PER_SEC, usec = wall_us % G_USEC_PER_SEC;

    if (wall_us < 0) {
        sec = usec = -1;
    }
    qmp_json_append_string(s, name);
    g_string_append(s, ",\"data\":");
    if (data) {
        qmp_json_append(s, data, false);
    } else {
        g_string_append(s, "{}");
    }
    g_string_append_printf(s, ",\"timestamp\":{\"seconds\":%" G_GINT64_FORMAT
                              ",\"microseconds\":%" G_GINT64_FORMAT "}}",
                           sec, usec);
    return g_string_free(s, FALSE);
}
