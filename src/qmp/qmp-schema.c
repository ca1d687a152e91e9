/*
 * What QMP values must look like: the error classes, the type descriptions
 * (QmpType) that command arguments are checked against before any handler
 * runs, with QEMU's exact error texts, and query-qmp-schema, which is
 * generated from the same descriptions so that what is advertised is what is
 * enforced. Kept apart from dispatch because it is the part that grows with
 * every new command's argument types.
 */
#include <string.h>

#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-dispatch-internal.h"
#include "qmp/qmp-json.h"

/* ------------------------------------------------------------------------ */
/* Error classes                                                            */

static const char *const error_class_names[] = {
    [STRATUS_ERROR_GENERIC] = "GenericError",
    [STRATUS_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
    [STRATUS_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [STRATUS_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [STRATUS_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
    [STRATUS_ERROR_OPERATION_THROTTLED] = "OperationThrottled",
};

const char *qmp_error_class_name(StratusErrorCode c)
{
    if ((unsigned)c < G_N_ELEMENTS(error_class_names)) {
        return error_class_names[c];
    }
    return "GenericError";
}

void qmp_error_set(GError **err, StratusErrorCode c, const char *fmt, ...)
{
    va_list ap;
    if (!err) {
        return;
    }
    va_start(ap, fmt);
    *err = g_error_new_valist(STRATUS_ERROR, c, fmt, ap);
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
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
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
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
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
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
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
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
                          "Parameter '%s' is unexpected", path);
            g_free(path);
            return false;
        }
    }
    return true;
}

bool qmp_validate_value(const QmpType *type, JsonNode *v, const char *path, GError **err)
{
    return check_value(type, v, path, err);
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
/* query-qmp-schema                                                         */

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
        if (c->flags & QMP_CMD_ALLOW_OOB) {
            json_object_set_boolean_member(o, "allow-oob", true);
        }
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
