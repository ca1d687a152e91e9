/*
 * QMP dispatch core. See qmp-dispatch.h.
 *
 * Request checking follows QEMU's qapi/qmp-dispatch.c + monitor/qmp.c:
 *   1. non-object input           -> "QMP input must be a JSON object" (no id)
 *   2. members in input order     -> execute must be a string, arguments an
 *      object, id anything, anything else (exec-oob included: OOB is never
 *      offered) "QMP input member 'X' is unexpected"
 *   3. no execute                 -> "QMP input lacks member 'execute'"
 *   4. lookup                     -> CommandNotFound "The command X has not
 *      been found"; in strict negotiation mode every command but
 *      qmp_capabilities is CommandNotFound "Expecting capabilities
 *      negotiation with 'qmp_capabilities'"
 *   5. arguments against the schema (before the handler runs)
 *   6. the handler
 * The id of an object request is echoed on every reply from step 2 on.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

G_DEFINE_QUARK(stratus-qmp-error, qmp_error)

static const char *const error_class_names[] = {
    [QMP_ERROR_CLASS_GENERIC] = "GenericError",
    [QMP_ERROR_CLASS_COMMAND_NOT_FOUND] = "CommandNotFound",
    [QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [QMP_ERROR_CLASS_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [QMP_ERROR_CLASS_KVM_MISSING_CAP] = "KVMMissingCap",
    [QMP_ERROR_CLASS_OPERATION_THROTTLED] = "OperationThrottled",
};

const char *qmp_error_class_name(QmpErrorClass c)
{
    if ((unsigned)c < G_N_ELEMENTS(error_class_names)) {
        return error_class_names[c];
    }
    return "GenericError";
}

void qmp_error_set(GError **err, QmpErrorClass c, const char *fmt, ...)
{
    va_list ap;
    if (!err) {
        return;
    }
    va_start(ap, fmt);
    *err = g_error_new_valist(QMP_ERROR, c, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Types                                                                    */

const QmpType qmp_type_str = { .kind = QMP_KIND_BUILTIN, .builtin = "str" };
const QmpType qmp_type_int = { .kind = QMP_KIND_BUILTIN, .builtin = "int" };
const QmpType qmp_type_bool = { .kind = QMP_KIND_BUILTIN, .builtin = "bool" };
const QmpType qmp_type_number = { .kind = QMP_KIND_BUILTIN, .builtin = "number" };
const QmpType qmp_type_any = { .kind = QMP_KIND_BUILTIN, .builtin = "any" };
const QmpType qmp_type_null = { .kind = QMP_KIND_BUILTIN, .builtin = "null" };
const QmpType qmp_type_empty = { .kind = QMP_KIND_OBJECT };

/* The name QEMU's input visitor prints after "expected: ". */
static const char *expected_name(const QmpType *t)
{
    switch (t->kind) {
    case QMP_KIND_BUILTIN:
        if (!strcmp(t->builtin, "str")) return "string";
        if (!strcmp(t->builtin, "int")) return "integer";
        if (!strcmp(t->builtin, "bool")) return "boolean";
        if (!strcmp(t->builtin, "number")) return "number";
        if (!strcmp(t->builtin, "null")) return "null";
        return "value";
    case QMP_KIND_ENUM:
        return "string";
    case QMP_KIND_OBJECT:
        return "object";
    case QMP_KIND_ARRAY:
        return "array";
    }
    return "value";
}

static bool node_is(JsonNode *v, GType t)
{
    return JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == t;
}

static bool check_members(const QmpType *t, JsonObject *obj, const char *prefix,
                          bool allow_extra, GError **err);

static bool check_value(const QmpType *t, JsonNode *v, const char *path,
                        GError **err)
{
    bool ok = true;

    switch (t->kind) {
    case QMP_KIND_BUILTIN:
        if (!strcmp(t->builtin, "any")) {
            return true;
        } else if (!strcmp(t->builtin, "str")) {
            ok = node_is(v, G_TYPE_STRING);
        } else if (!strcmp(t->builtin, "int")) {
            ok = node_is(v, G_TYPE_INT64);
        } else if (!strcmp(t->builtin, "bool")) {
            ok = node_is(v, G_TYPE_BOOLEAN);
        } else if (!strcmp(t->builtin, "number")) {
            ok = node_is(v, G_TYPE_INT64) || node_is(v, G_TYPE_DOUBLE);
        } else if (!strcmp(t->builtin, "null")) {
            ok = JSON_NODE_HOLDS_NULL(v);
        }
        break;
    case QMP_KIND_ENUM:
        if (!node_is(v, G_TYPE_STRING)) {
            ok = false;
            break;
        }
        for (const char *const *e = t->values; *e; e++) {
            if (!strcmp(*e, json_node_get_string(v))) {
                return true;
            }
        }
        qmp_error_set(err, QMP_ERROR_CLASS_GENERIC,
                      "Parameter '%s' does not accept value '%s'",
                      path, json_node_get_string(v));
        return false;
    case QMP_KIND_ARRAY:
        if (!JSON_NODE_HOLDS_ARRAY(v)) {
            ok = false;
            break;
        } else {
            JsonArray *a = json_node_get_array(v);
            for (guint i = 0; i < json_array_get_length(a); i++) {
                char *sub = g_strdup_printf("%s[%u]", path, i);
                bool r = check_value(t->element, json_array_get_element(a, i),
                                     sub, err);
                g_free(sub);
                if (!r) {
                    return false;
                }
            }
        }
        return true;
    case QMP_KIND_OBJECT:
        if (!JSON_NODE_HOLDS_OBJECT(v)) {
            ok = false;
            break;
        }
        return check_members(t, json_node_get_object(v), path, t->open, err);
    }
    if (!ok) {
        qmp_error_set(err, QMP_ERROR_CLASS_GENERIC,
                      "Invalid parameter type for '%s', expected: %s",
                      path, expected_name(t));
    }
    return ok;
}

static char *member_path(const char *prefix, const char *name)
{
    return prefix ? g_strdup_printf("%s.%s", prefix, name) : g_strdup(name);
}

static bool check_members(const QmpType *t, JsonObject *obj, const char *prefix,
                          bool allow_extra, GError **err)
{
    const QmpMember *m;
    JsonObjectIter it;
    const char *key;
    JsonNode *val;

    for (m = t->members; m && m->name; m++) {
        JsonNode *v = obj ? json_object_get_member(obj, m->name) : NULL;
        char *path;
        bool r;
        if (!v) {
            if (m->optional) {
                continue;
            }
            path = member_path(prefix, m->name);
            qmp_error_set(err, QMP_ERROR_CLASS_GENERIC,
                          "Parameter '%s' is missing", path);
            g_free(path);
            return false;
        }
        path = member_path(prefix, m->name);
        r = check_value(m->type, v, path, err);
        g_free(path);
        if (!r) {
            return false;
        }
    }
    if (allow_extra || !obj) {
        return true;
    }
    json_object_iter_init_ordered(&it, obj);
    while (json_object_iter_next_ordered(&it, &key, &val)) {
        bool known = false;
        for (m = t->members; m && m->name; m++) {
            if (!strcmp(m->name, key)) {
                known = true;
                break;
            }
        }
        if (!known) {
            char *path = member_path(prefix, key);
            qmp_error_set(err, QMP_ERROR_CLASS_GENERIC,
                          "Parameter '%s' is unexpected", path);
            g_free(path);
            return false;
        }
    }
    return true;
}

bool qmp_validate_args(const QmpType *type, JsonObject *args, bool allow_extra,
                       GError **err)
{
    if (!type) {
        type = &qmp_type_empty;
    }
    g_assert(type->kind == QMP_KIND_OBJECT);
    return check_members(type, args, NULL, allow_extra || type->open, err);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */

static void close_fd_value(gpointer p)
{
    int fd = GPOINTER_TO_INT(p);
    if (fd >= 0) {
        close(fd);
    }
}

GHashTable *qmp_named_fds_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, close_fd_value);
}

void qmp_session_init(QmpSession *s, QmpMode mode, GHashTable *named_fds)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->named_fds = named_fds;
}

void qmp_session_clear_scm_fds(QmpSession *s)
{
    for (unsigned i = 0; i < s->n_scm_fds; i++) {
        if (s->scm_fds[i] >= 0) {
            close(s->scm_fds[i]);
        }
    }
    g_free(s->scm_fds);
    s->scm_fds = NULL;
    s->n_scm_fds = 0;
}

void qmp_session_set_scm_fds(QmpSession *s, int *fds, unsigned n)
{
    qmp_session_clear_scm_fds(s);
    s->scm_fds = fds;
    s->n_scm_fds = n;
}

int qmp_session_take_scm_fd(QmpSession *s)
{
    /* The last descriptor that came with the data (StratoVirt, QEMU). */
    for (unsigned i = s->n_scm_fds; i-- > 0;) {
        if (s->scm_fds[i] >= 0) {
            int fd = s->scm_fds[i];
            s->scm_fds[i] = -1;
            return fd;
        }
    }
    return -1;
}

int qmp_session_take_named_fd(QmpSession *s, const char *name)
{
    gpointer key, val;
    if (!s->named_fds ||
        !g_hash_table_lookup_extended(s->named_fds, name, &key, &val)) {
        return -1;
    }
    g_hash_table_steal(s->named_fds, name);
    g_free(key);
    return GPOINTER_TO_INT(val);
}

bool qmp_session_wants_events(const QmpSession *s)
{
    return s->mode == QMP_MODE_LENIENT || s->negotiated;
}

/* ------------------------------------------------------------------------ */
/* Command table                                                            */

struct QmpCommandTable {
    GPtrArray *cmds;            /* const QmpCommand*, query-commands order */
    GHashTable *by_name;        /* name -> index+1 */
    GPtrArray *events;          /* const QmpEventDef* */
};

QmpCommandTable *qmp_command_table_new(void)
{
    QmpCommandTable *t = g_new0(QmpCommandTable, 1);
    t->cmds = g_ptr_array_new();
    t->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    t->events = g_ptr_array_new();
    return t;
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

/* ---- query-qmp-schema --------------------------------------------------- */

typedef struct {
    JsonArray *out;
    GHashTable *names;          /* const QmpType* -> char* masked name */
    GHashTable *emitted;        /* name -> 1 for arrays and builtins */
    unsigned next;
} SchemaGen;

static const char *schema_type(SchemaGen *g, const QmpType *t);

static const char *builtin_json_type(const char *b)
{
    if (!strcmp(b, "str")) return "string";
    if (!strcmp(b, "int")) return "int";
    if (!strcmp(b, "bool")) return "boolean";
    if (!strcmp(b, "number")) return "number";
    if (!strcmp(b, "null")) return "null";
    return "value";
}

static const char *schema_type(SchemaGen *g, const QmpType *t)
{
    const char *name;
    JsonObject *o;

    if (!t) {
        t = &qmp_type_empty;
    }
    if (t->kind == QMP_KIND_OBJECT && !t->members) {
        t = &qmp_type_empty;        /* every member-less object is "0" */
    }
    name = g_hash_table_lookup(g->names, t);
    if (name) {
        return name;
    }
    switch (t->kind) {
    case QMP_KIND_BUILTIN:
        name = g_strdup(t->builtin);
        g_hash_table_insert(g->names, (gpointer)t, (gpointer)name);
        if (!g_hash_table_contains(g->emitted, name)) {
            g_hash_table_add(g->emitted, (gpointer)name);
            o = json_object_new();
            json_object_set_string_member(o, "name", name);
            json_object_set_string_member(o, "meta-type", "builtin");
            json_object_set_string_member(o, "json-type", builtin_json_type(name));
            json_array_add_object_element(g->out, o);
        }
        return name;
    case QMP_KIND_ARRAY: {
        const char *elem = schema_type(g, t->element);
        char *aname = g_strdup_printf("[%s]", elem);
        g_hash_table_insert(g->names, (gpointer)t, aname);
        if (!g_hash_table_contains(g->emitted, aname)) {
            g_hash_table_add(g->emitted, aname);
            o = json_object_new();
            json_object_set_string_member(o, "name", aname);
            json_object_set_string_member(o, "meta-type", "array");
            json_object_set_string_member(o, "element-type", elem);
            json_array_add_object_element(g->out, o);
        }
        return aname;
    }
    case QMP_KIND_ENUM: {
        JsonArray *members = json_array_new(), *values = json_array_new();
        char *ename = g_strdup_printf("%u", g->next++);
        g_hash_table_insert(g->names, (gpointer)t, ename);
        for (const char *const *v = t->values; *v; v++) {
            JsonObject *m = json_object_new();
            json_object_set_string_member(m, "name", *v);
            json_array_add_object_element(members, m);
            json_array_add_string_element(values, *v);
        }
        o = json_object_new();
        json_object_set_string_member(o, "name", ename);
        json_object_set_string_member(o, "meta-type", "enum");
        json_object_set_array_member(o, "members", members);
        json_object_set_array_member(o, "values", values);
        json_array_add_object_element(g->out, o);
        return ename;
    }
    case QMP_KIND_OBJECT: {
        JsonArray *members = json_array_new();
        char *oname = g_strdup_printf("%u", g->next++);
        g_hash_table_insert(g->names, (gpointer)t, oname);
        o = json_object_new();
        json_object_set_string_member(o, "name", oname);
        json_object_set_string_member(o, "meta-type", "object");
        /* Add the object before its member types, as QEMU lists them. */
        json_array_add_object_element(g->out, o);
        for (const QmpMember *m = t->members; m && m->name; m++) {
            JsonObject *mo = json_object_new();
            json_object_set_string_member(mo, "name", m->name);
            json_object_set_string_member(mo, "type", schema_type(g, m->type));
            if (m->optional) {
                json_object_set_null_member(mo, "default");
            }
            json_array_add_object_element(members, mo);
        }
        json_object_set_array_member(o, "members", members);
        return oname;
    }
    }
    return "any";
}

JsonNode *qmp_command_table_schema(const QmpCommandTable *t)
{
    SchemaGen g = {
        .out = json_array_new(),
        .names = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free),
        .emitted = g_hash_table_new(g_str_hash, g_str_equal),
        .next = 0,
    };
    JsonArray *entities = json_array_new();
    JsonNode *res;

    /* "0" is the empty object, as in QEMU. */
    schema_type(&g, &qmp_type_empty);

    for (guint i = 0; i < t->cmds->len; i++) {
        const QmpCommand *c = g_ptr_array_index(t->cmds, i);
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", c->name);
        json_object_set_string_member(o, "meta-type", "command");
        json_object_set_string_member(o, "arg-type", schema_type(&g, c->args));
        json_object_set_string_member(o, "ret-type", schema_type(&g, c->ret));
        if (c->flags & QMP_CMD_DEPRECATED) {
            JsonArray *f = json_array_new();
            json_array_add_string_element(f, "deprecated");
            json_object_set_array_member(o, "features", f);
        }
        json_array_add_object_element(entities, o);
    }
    for (guint i = 0; i < t->events->len; i++) {
        const QmpEventDef *e = g_ptr_array_index(t->events, i);
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", e->name);
        json_object_set_string_member(o, "meta-type", "event");
        json_object_set_string_member(o, "arg-type", schema_type(&g, e->data));
        json_array_add_object_element(entities, o);
    }
    /* Commands and events first, then the types they use. */
    for (guint i = 0; i < json_array_get_length(g.out); i++) {
        json_array_add_element(entities,
                               json_node_copy(json_array_get_element(g.out, i)));
    }
    res = qmp_node_array(entities);
    json_array_unref(g.out);
    g_hash_table_destroy(g.emitted);
    g_hash_table_destroy(g.names);
    return res;
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
        qmp_error_set(err, QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
                      "Capabilities negotiation is already complete, command ignored");
        return false;
    }
    enable = json_object_has_member(args, "enable") ?
             json_object_get_array_member(args, "enable") : NULL;
    if (enable && json_array_get_length(enable) > 0) {
        /* No capability is offered (the greeting lists none). */
        qmp_error_set(err, QMP_ERROR_CLASS_GENERIC, "Capability '%s' not available",
                      json_array_get_string_element(enable, 0));
        return false;
    }
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

JsonNode *qmp_error_response(JsonNode *req, QmpErrorClass c, const char *desc)
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
    QmpErrorClass c = QMP_ERROR_CLASS_GENERIC;
    if (err->domain == QMP_ERROR) {
        c = (QmpErrorClass)err->code;
    }
    return qmp_error_response(req, c, err->message);
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
    bool negotiating;

    if (flags_out) {
        *flags_out = 0;
    }
    if (!req) {
        return qmp_error_response(NULL, QMP_ERROR_CLASS_GENERIC,
                                  parse_err ? parse_err->message
                                            : "JSON parse error, expecting value");
    }
    if (!JSON_NODE_HOLDS_OBJECT(req)) {
        return qmp_error_response(NULL, QMP_ERROR_CLASS_GENERIC,
                                  "QMP input must be a JSON object");
    }
    obj = json_node_get_object(req);

    json_object_iter_init_ordered(&it, obj);
    while (json_object_iter_next_ordered(&it, &key, &val)) {
        if (!strcmp(key, "execute")) {
            if (!JSON_NODE_HOLDS_VALUE(val) ||
                json_node_get_value_type(val) != G_TYPE_STRING) {
                return qmp_error_response(req, QMP_ERROR_CLASS_GENERIC,
                    "QMP input member 'execute' must be a string");
            }
        } else if (!strcmp(key, "arguments")) {
            if (!JSON_NODE_HOLDS_OBJECT(val)) {
                return qmp_error_response(req, QMP_ERROR_CLASS_GENERIC,
                    "QMP input member 'arguments' must be an object");
            }
        } else if (!strcmp(key, "id")) {
            continue;
        } else {
            char *d = g_strdup_printf("QMP input member '%s' is unexpected", key);
            resp = qmp_error_response(req, QMP_ERROR_CLASS_GENERIC, d);
            g_free(d);
            return resp;
        }
    }
    if (!json_object_has_member(obj, "execute")) {
        return qmp_error_response(req, QMP_ERROR_CLASS_GENERIC,
                                  "QMP input lacks member 'execute'");
    }
    name = json_object_get_string_member(obj, "execute");

    negotiating = sess->mode == QMP_MODE_STRICT && !sess->negotiated;
    cmd = qmp_command_table_find(t, name);
    if (negotiating && (!cmd || !(cmd->flags & QMP_CMD_NEGOTIATION))) {
        return qmp_error_response(req, QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
            "Expecting capabilities negotiation with 'qmp_capabilities'");
    }
    if (!cmd) {
        char *d = g_strdup_printf("The command %s has not been found", name);
        resp = qmp_error_response(req, QMP_ERROR_CLASS_COMMAND_NOT_FOUND, d);
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
            g_set_error_literal(&err, QMP_ERROR, QMP_ERROR_CLASS_GENERIC, "");
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
        g_string_append(s, ",\"id\":");
        qmp_json_append(s, json_object_get_member(o, "id"), false);
    }
    g_string_append_c(s, '}');
    return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Greeting and events                                                      */

char *qmp_format_greeting(QmpGreeting g, const char *package_version)
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
        g_string_append(s, "},\"capabilities\":[]}}");
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

/* ------------------------------------------------------------------------ */
/* Leaky bucket                                                             */

/*
 * One command = TICKS_PER_CMD; the bucket drains one tick per microsecond, so
 * QMP_RATE_LIMIT * TICKS_PER_CMD = 1e6 ticks is one second's worth: a burst
 * of QMP_RATE_LIMIT commands passes, then one more every 1/QMP_RATE_LIMIT s.
 */
#define TICKS_PER_CMD (G_USEC_PER_SEC / QMP_RATE_LIMIT)
#define CAPACITY ((gint64)QMP_RATE_LIMIT * TICKS_PER_CMD)

void qmp_rate_limiter_init(QmpRateLimiter *r)
{
    memset(r, 0, sizeof(*r));
}

static void drain(QmpRateLimiter *r, gint64 now_us)
{
    if (!r->started) {
        r->started = true;
        r->last_us = now_us;
        r->level = 0;
        return;
    }
    if (now_us > r->last_us) {
        r->level -= now_us - r->last_us;
        if (r->level < 0) {
            r->level = 0;
        }
        r->last_us = now_us;
    }
}

bool qmp_rate_limiter_admit(QmpRateLimiter *r, gint64 now_us)
{
    drain(r, now_us);
    if (r->level + TICKS_PER_CMD > CAPACITY) {
        return false;
    }
    r->level += TICKS_PER_CMD;
    return true;
}

gint64 qmp_rate_limiter_delay(QmpRateLimiter *r, gint64 now_us)
{
    gint64 need;
    drain(r, now_us);
    need = r->level + TICKS_PER_CMD - CAPACITY;
    return need > 0 ? need : 0;
}
