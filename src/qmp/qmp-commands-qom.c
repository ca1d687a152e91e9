/*
 * QOM-shaped QMP views of the device model: qom-list-types,
 * device-list-properties, qom-list-properties, qom-list, qom-get, qom-set, and HMP
 * `info qtree` / `info qdm`. Everything comes from the registries of
 * hw/device.h (types, property tables) and the machine's device list, so a
 * new device type appears here without touching this file.
 *
 * The tree QMP paths address is QEMU's layout:
 *   /                          container, child "machine"
 *   /machine                   the machine class's QOM type
 *   /machine/peripheral/ID     user devices with an id
 *   /machine/peripheral-anon/device[N]   user devices without one
 *   /machine/unattached/device[N]        the vCPUs first, then board devices
 * A device's place is its Device.qom_path; children of a node are the nodes
 * whose path is the node's path plus one component, so the containers list
 * whatever device.c put in them.
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <string.h>

#include "machine.h"
#include "hw/device.h"
#include "hw/device-help.h"
#include "hw/qom-types.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"
#include "util/strutil.h"

/* ------------------------------------------------------------------------ */
/* Schemas                                                                  */

static const QmpMember qom_list_types_args_m[] = {
    { "implements", &qmp_type_str, .optional = true },
    { "abstract", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType qom_list_types_args = QMP_OBJECT_TYPE(qom_list_types_args_m);
static const QmpMember object_type_info_m[] = {
    { "name", &qmp_type_str },
    { "abstract", &qmp_type_bool, .optional = true },
    { "parent", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType object_type_info = QMP_OBJECT_TYPE(object_type_info_m);
static const QmpType object_type_info_list = QMP_ARRAY_TYPE(&object_type_info);

/*
 * StratoVirt's qom-list / qom-get take no arguments and answer []; QEMU's
 * need path (and property). Both forms work: without path -> [].
 */
static const QmpMember qom_list_args_m[] = {
    { "path", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType qom_list_args = QMP_OBJECT_TYPE(qom_list_args_m);
static const QmpMember qom_get_args_m[] = {
    { "path", &qmp_type_str, .optional = true },
    { "property", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType qom_get_args = QMP_OBJECT_TYPE(qom_get_args_m);
static const QmpMember qom_set_args_m[] = {
    { "path", &qmp_type_str },
    { "property", &qmp_type_str },
    { "value", &qmp_type_any },
    { NULL }
};
static const QmpType qom_set_args = QMP_OBJECT_TYPE(qom_set_args_m);

static const QmpMember typename_args_m[] = {
    { "typename", &qmp_type_str },
    { NULL }
};
static const QmpType typename_args = QMP_OBJECT_TYPE(typename_args_m);

/* QEMU's ObjectPropertyInfo (qom.json). */
static const QmpMember property_info_m[] = {
    { "name", &qmp_type_str },
    { "type", &qmp_type_str },
    { "description", &qmp_type_str, .optional = true },
    { "default-value", &qmp_type_any, .optional = true },
    { NULL }
};
static const QmpType property_info = QMP_OBJECT_TYPE(property_info_m);
static const QmpType property_info_list = QMP_ARRAY_TYPE(&property_info);

/* ------------------------------------------------------------------------ */
/* qom-list-types, device-list-properties, qom-list-properties              */

static bool qmp_qom_list_types(QmpCommandCtx *ctx, JsonObject *args,
                               JsonNode **ret, GError **err)
{
    const char *impl = json_object_has_member(args, "implements") ?
                       json_object_get_string_member(args, "implements") : NULL;
    /* QEMU: abstract types only when asked for, concrete ones always. */
    bool with_abstract = json_object_has_member(args, "abstract") &&
                         json_object_get_boolean_member(args, "abstract");
    g_autoptr(GArray) types = qom_types_all();
    JsonArray *a = json_array_new();

    for (guint i = 0; i < types->len; i++) {
        const QomType *t = &g_array_index(types, QomType, i);
        JsonObject *o;

        if ((t->abstract && !with_abstract) ||
            (impl && !qom_type_implements(t->name, impl))) {
            continue;
        }
        o = json_object_new();
        json_object_set_string_member(o, "name", t->name);
        if (t->abstract) {
            json_object_set_boolean_member(o, "abstract", TRUE);
        }
        if (t->parent) {
            json_object_set_string_member(o, "parent", t->parent);
        }
        json_array_add_object_element(a, o);
    }
    *ret = qmp_node_array(a);
    return true;
}

static bool qmp_device_list_properties(QmpCommandCtx *ctx, JsonObject *args,
                                       JsonNode **ret, GError **err)
{
    g_autoptr(GError) e = NULL;
    const DeviceClass *dc =
        qom_device_type_lookup(json_object_get_string_member(args, "typename"), &e);

    if (!dc) {
        qmp_error_set(err, g_error_matches(e, STRATUS_ERROR, STRATUS_ERROR_DEVICE_NOT_FOUND)
                           ? STRATUS_ERROR_DEVICE_NOT_FOUND : STRATUS_ERROR_GENERIC,
                      "%s", e->message);
        return false;
    }
    *ret = device_class_properties_json(dc);
    return true;
}

/*
 * Any type: a device type's table, and for the others (abstract bases,
 * machines, the CPU) none, since their properties are not configurable here.
 */
static bool qmp_qom_list_properties(QmpCommandCtx *ctx, JsonObject *args,
                                    JsonNode **ret, GError **err)
{
    const char *name = json_object_get_string_member(args, "typename");
    const DeviceClass *dc = device_class_find(name);
    QomType t;

    if (dc) {
        *ret = device_class_properties_json(dc);
        return true;
    }
    if (!qom_type_find(name, &t)) {
        qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_FOUND,
                      "Class '%s' not found", name);
        return false;
    }
    *ret = qmp_node_array(json_array_new());
    return true;
}

/* ------------------------------------------------------------------------ */
/* The object tree                                                          */

typedef enum {
    QOM_ROOT, QOM_MACHINE, QOM_CONTAINER, QOM_CPU, QOM_DEVICE,
} QomKind;

typedef struct QomNode {
    QomKind kind;
    char *path;                  /* canonical: "/machine/peripheral/disk0" */
    const Device *dev;           /* QOM_DEVICE */
} QomNode;

static void qom_node_clear(gpointer p)
{
    g_free(((QomNode *)p)->path);
}

static const MachineClass *machine_class_of(Machine *m)
{
    const MachineClass *const *all;

    if (m->machine_class) {
        return m->machine_class;
    }
    /* Before (or without) machine_new(): what -machine names, else the default. */
    if (m->cfg && m->cfg->machine_type && machine_class_find(m->cfg->machine_type)) {
        return machine_class_find(m->cfg->machine_type);
    }
    all = machine_class_all();
    for (const MachineClass *const *mc = all; *mc; mc++) {
        if ((*mc)->is_default) {
            return *mc;
        }
    }
    return all[0];
}

static const char *machine_qom_type(Machine *m)
{
    const MachineClass *mc = machine_class_of(m);

    return mc ? qom_machine_type_name(mc) : "machine";
}

static void add_node(GArray *nodes, QomKind kind, char *path, const Device *d)
{
    QomNode n = { .kind = kind, .path = path, .dev = d };

    g_array_append_val(nodes, n);
}

/* Every object, parents before children and in creation order. */
static GArray *qom_nodes(Machine *m)
{
    GArray *nodes = g_array_new(FALSE, FALSE, sizeof(QomNode));
    GPtrArray *devs = machine_devices(m);

    g_array_set_clear_func(nodes, qom_node_clear);
    add_node(nodes, QOM_ROOT, g_strdup("/"), NULL);
    add_node(nodes, QOM_MACHINE, g_strdup("/machine"), NULL);
    add_node(nodes, QOM_CONTAINER, g_strdup("/machine/peripheral"), NULL);
    add_node(nodes, QOM_CONTAINER, g_strdup("/machine/peripheral-anon"), NULL);
    add_node(nodes, QOM_CONTAINER, g_strdup("/machine/unattached"), NULL);
    for (guint i = 0; m->vcpus && i < m->vcpus->len; i++) {
        add_node(nodes, QOM_CPU, g_strdup_printf("/machine/unattached/device[%u]", i),
                 NULL);
    }
    for (guint i = 0; devs && i < devs->len; i++) {
        const Device *d = g_ptr_array_index(devs, i);
        if (d->qom_path) {
            add_node(nodes, QOM_DEVICE, g_strdup(d->qom_path), d);
        }
    }
    return nodes;
}

static const char *node_type(Machine *m, const QomNode *n)
{
    switch (n->kind) {
    case QOM_MACHINE:
        return machine_qom_type(m);
    case QOM_CPU:
        return QOM_TYPE_CPU;
    case QOM_DEVICE:
        return n->dev->klass->name;
    case QOM_ROOT:
    case QOM_CONTAINER:
        break;
    }
    return QOM_TYPE_CONTAINER;
}

/* Path components without the empty ones ("//a/" is "/a", as in QEMU). */
static char **path_parts(const char *path)
{
    char **raw = g_strsplit(path, "/", -1);
    GPtrArray *parts = g_ptr_array_new();

    for (char **p = raw; *p; p++) {
        if (**p) {
            g_ptr_array_add(parts, g_strdup(*p));
        }
    }
    g_ptr_array_add(parts, NULL);
    g_strfreev(raw);
    return (char **)g_ptr_array_free(parts, FALSE);
}

/* `want` equals the last components of `have`. */
static bool parts_suffix(char **have, char **want)
{
    guint nh = g_strv_length(have), nw = g_strv_length(want);

    if (nw > nh) {
        return false;
    }
    for (guint i = 0; i < nw; i++) {
        if (strcmp(have[nh - nw + i], want[i])) {
            return false;
        }
    }
    return true;
}

typedef enum { RESOLVE_FOUND, RESOLVE_NONE, RESOLVE_AMBIGUOUS } ResolveResult;

/*
 * QEMU's object_resolve_path(): an absolute path names one node; a partial
 * one ("disk0", "unattached/device[1]") names the one node whose path ends
 * with those components, and is ambiguous when several do.
 */
static ResolveResult qom_resolve(GArray *nodes, const char *path, const QomNode **out)
{
    g_auto(GStrv) want = path_parts(path);
    bool absolute = path[0] == '/';
    const QomNode *found = NULL;

    for (guint i = 0; i < nodes->len; i++) {
        const QomNode *n = &g_array_index(nodes, QomNode, i);
        g_auto(GStrv) have = path_parts(n->path);
        bool match = absolute ? g_strv_equal((const char *const *)have,
                                             (const char *const *)want)
                              : parts_suffix(have, want);
        if (!match) {
            continue;
        }
        if (found) {
            return RESOLVE_AMBIGUOUS;
        }
        found = n;
    }
    *out = found;
    return found ? RESOLVE_FOUND : RESOLVE_NONE;
}

/* The last component of a child of `parent`, or NULL if n is not one. */
static const char *child_name(const QomNode *parent, const QomNode *n)
{
    size_t len = strlen(parent->path);
    const char *rest;

    if (n == parent || strncmp(n->path, parent->path, len)) {
        return NULL;
    }
    rest = n->path + len;
    if (parent->path[len - 1] != '/') {
        if (*rest != '/') {
            return NULL;
        }
        rest++;
    }
    return *rest && !strchr(rest, '/') ? rest : NULL;
}

/* The child<> property `prop` of n, or NULL. */
static const QomNode *find_child(GArray *nodes, const QomNode *n, const char *prop)
{
    for (guint i = 0; i < nodes->len; i++) {
        const QomNode *c = &g_array_index(nodes, QomNode, i);
        const char *name = child_name(n, c);
        if (name && !strcmp(name, prop)) {
            return c;
        }
    }
    return NULL;
}

static void add_prop(JsonArray *a, const char *name, const char *type)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "name", name);
    json_object_set_string_member(o, "type", type);
    json_array_add_object_element(a, o);
}

/*
 * The object `path` names, and the tree it is in (*nodes, the caller's).
 * QEMU's errors otherwise; only qom-list reports ambiguity as such (qom-get
 * resolves without asking, so an ambiguous path is just not found).
 */
static bool qom_lookup(Machine *m, const char *path, bool report_ambiguous,
                       GArray **nodes, const QomNode **out, GError **err)
{
    *nodes = qom_nodes(m);
    switch (qom_resolve(*nodes, path, out)) {
    case RESOLVE_FOUND:
        return true;
    case RESOLVE_AMBIGUOUS:
        if (report_ambiguous) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "Path '%s' is ambiguous", path);
            return false;
        }
        break;
    case RESOLVE_NONE:
        break;
    }
    qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", path);
    return false;
}

/* StratoVirt's qom-list / qom-get take no arguments and answer []. */
static bool stratovirt_form(JsonObject *args, JsonNode **ret)
{
    if (json_object_has_member(args, "path")) {
        return false;
    }
    *ret = qmp_node_array(json_array_new());
    return true;
}

static bool qmp_qom_list(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                         GError **err)
{
    Machine *m = ctx->opaque;
    g_autoptr(GArray) nodes = NULL;
    const QomNode *n;
    JsonArray *a;

    if (stratovirt_form(args, ret)) {
        return true;
    }
    if (!qom_lookup(m, json_object_get_string_member(args, "path"), true, &nodes, &n,
                    err)) {
        return false;
    }
    a = json_array_new();
    add_prop(a, "type", "string");
    for (guint i = 0; i < nodes->len; i++) {
        const QomNode *c = &g_array_index(nodes, QomNode, i);
        const char *name = child_name(n, c);
        if (name) {
            g_autofree char *t = g_strdup_printf("child<%s>", node_type(m, c));
            add_prop(a, name, t);
        }
    }
    if (n->kind == QOM_DEVICE) {
        for (const Property *p = n->dev->klass->props; p && p->name; p++) {
            add_prop(a, p->name, prop_type_name(p->type));
        }
    }
    *ret = qmp_node_array(a);
    return true;
}

static bool qmp_qom_get(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                        GError **err)
{
    Machine *m = ctx->opaque;
    g_autoptr(GArray) nodes = NULL;
    const QomNode *n;
    const char *prop;

    if (stratovirt_form(args, ret)) {
        return true;
    }
    /* Optional only for StratoVirt's form; QEMU's needs it, checked first. */
    if (!json_object_has_member(args, "property")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'property' is missing");
        return false;
    }
    prop = json_object_get_string_member(args, "property");
    if (!qom_lookup(m, json_object_get_string_member(args, "path"), false, &nodes, &n,
                    err)) {
        return false;
    }
    if (!strcmp(prop, "type")) {
        *ret = qmp_node_str(node_type(m, n));
        return true;
    }
    /* A child<> property reads as the child's canonical path (QEMU). */
    if (find_child(nodes, n, prop)) {
        *ret = qmp_node_str(find_child(nodes, n, prop)->path);
        return true;
    }
    if (n->kind == QOM_DEVICE) {
        const Property *p = device_class_find_prop(n->dev->klass, prop);
        if (p) {
            *ret = device_prop_get_json(n->dev, p);
            /* An unset string reads as "", as QEMU's output visitor writes it. */
            if (JSON_NODE_HOLDS_NULL(*ret)) {
                json_node_unref(*ret);
                *ret = qmp_node_str("");
            }
            return true;
        }
    }
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "Property '%s.%s' not found",
                  node_type(m, n), prop);
    return false;
}

/*
 * Nothing in the tree can change once created, as in QEMU: "type" and
 * child<> properties have no setter, and a device's properties are static
 * ones, which QEMU refuses after realize (every device here is realized).
 */
static bool qmp_qom_set(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                        GError **err)
{
    Machine *m = ctx->opaque;
    g_autoptr(GArray) nodes = NULL;
    const char *prop = json_object_get_string_member(args, "property");
    const QomNode *n;

    if (!qom_lookup(m, json_object_get_string_member(args, "path"), false, &nodes, &n,
                    err)) {
        return false;
    }
    if (!strcmp(prop, "type") || find_child(nodes, n, prop)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Property '%s.%s' is not writable",
                      node_type(m, n), prop);
        return false;
    }
    if (n->kind == QOM_DEVICE && device_class_find_prop(n->dev->klass, prop)) {
        if (n->dev->id) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "Attempt to set property '%s' on "
                          "device '%s' (type '%s') after it was realized", prop,
                          n->dev->id, n->dev->klass->name);
        } else {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "Attempt to set property '%s' on "
                          "anonymous device (type '%s') after it was realized", prop,
                          n->dev->klass->name);
        }
        return false;
    }
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "Property '%s.%s' not found",
                  node_type(m, n), prop);
    return false;
}

/* ------------------------------------------------------------------------ */
/* HMP: info qtree, info qdm                                                */

/*
 * A property as `info qtree` prints it: QEMU's human-readable visitor output
 * (strings quoted, booleans true/false, integers with their hex form, sizes
 * with a unit), not the command-line text.
 */
static char *qtree_value(const Device *d, const Property *p)
{
    g_autoptr(JsonNode) v = device_prop_get_json(d, p);
    uint64_t u;

    if (JSON_NODE_HOLDS_NULL(v)) {
        return g_strdup("<null>");
    }
    switch (p->type) {
    case PROP_STR:
        return g_strdup_printf("\"%s\"", json_node_get_string(v));
    case PROP_BOOL:
        return g_strdup(json_node_get_boolean(v) ? "true" : "false");
    case PROP_SIZE: {
        g_autofree char *unit = size_to_str((uint64_t)json_node_get_int(v));
        return g_strdup_printf("%" G_GUINT64_FORMAT " (%s)",
                               (guint64)json_node_get_int(v), unit);
    }
    case PROP_I32:
        return g_strdup_printf("%" G_GINT64_FORMAT, (gint64)json_node_get_int(v));
    default:
        u = (uint64_t)json_node_get_int(v);
        return g_strdup_printf("%" G_GUINT64_FORMAT " (0x%" G_GINT64_MODIFIER "x)",
                               (guint64)u, (guint64)u);
    }
}

/*
 * Every device hangs off main-system-bus here: the transports are the
 * machine's business (Device.machine_data), not devices of their own, so
 * there is no virtio-mmio bus level as in QEMU's tree.
 */
static char *hmp_info_qtree(Machine *m)
{
    GString *s = g_string_new("bus: main-system-bus\n  type System\n");
    GPtrArray *devs = machine_devices(m);

    for (guint i = 0; devs && i < devs->len; i++) {
        const Device *d = g_ptr_array_index(devs, i);
        g_string_append_printf(s, "  dev: %s, id \"%s\"\n", d->klass->name,
                               d->id ? d->id : "");
        for (const Property *p = d->klass->props; p && p->name; p++) {
            g_autofree char *v = qtree_value(d, p);
            g_string_append_printf(s, "    %s = %s\n", p->name, v);
        }
    }
    return g_string_free(s, FALSE);
}

/* HMP output goes out with "\r\n" line ends, as QEMU's monitor writes it. */
static char *crlf(char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    g_free(text);
    return g_strjoinv("\r\n", lines);
}

static const char *last_component(const QomNode *n)
{
    return n->kind == QOM_ROOT ? "" : strrchr(n->path, '/') + 1;
}

static gint by_component(gconstpointer a, gconstpointer b)
{
    return strcmp(last_component(*(const QomNode *const *)a),
                  last_component(*(const QomNode *const *)b));
}

/* QEMU's print_qom_composition(): "/name (type)", children by name, 2 spaces deeper. */
static void qom_tree_print(GString *s, Machine *m, GArray *nodes, const QomNode *n,
                           int indent)
{
    g_autoptr(GPtrArray) kids = g_ptr_array_new();

    g_string_append_printf(s, "%*s/%s (%s)\n", indent, "", last_component(n),
                           node_type(m, n));
    for (guint i = 0; i < nodes->len; i++) {
        const QomNode *k = &g_array_index(nodes, QomNode, i);
        if (child_name(n, k)) {
            g_ptr_array_add(kids, (gpointer)k);
        }
    }
    g_ptr_array_sort(kids, by_component);
    for (guint i = 0; i < kids->len; i++) {
        qom_tree_print(s, m, nodes, g_ptr_array_index(kids, i), indent + 2);
    }
}

char *qmp_hmp_qom_tree(Machine *m, const char *path)
{
    g_autoptr(GArray) nodes = qom_nodes(m);
    const QomNode *n = NULL;
    GString *s = g_string_new(NULL);

    switch (qom_resolve(nodes, path ? path : "/machine", &n)) {
    case RESOLVE_FOUND:
        qom_tree_print(s, m, nodes, n, 0);
        break;
    case RESOLVE_AMBIGUOUS:
        g_string_append_printf(s, "Warning: Path '%s' is ambiguous.\n", path);
        break;
    case RESOLVE_NONE:
        g_string_append_printf(s, "Path '%s' could not be resolved.\n", path);
        break;
    }
    return crlf(g_string_free(s, FALSE));
}

char *qmp_hmp_qom_command(Machine *m, const char *line)
{
    if (!strcmp(line, "info qtree")) {
        return crlf(hmp_info_qtree(m));
    }
    if (!strcmp(line, "info qdm")) {
        return crlf(device_help_types_text(true));
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Registration                                                             */

static const QmpCommand qom_commands[] = {
    { "qom-list-types", qmp_qom_list_types, &qom_list_types_args,
      &object_type_info_list, QMP_CMD_ALLOW_EXTRA_ARGS },
    { "qom-list", qmp_qom_list, &qom_list_args, &property_info_list,
      QMP_CMD_ALLOW_EXTRA_ARGS },
    { "qom-get", qmp_qom_get, &qom_get_args, &qmp_type_any,
      QMP_CMD_ALLOW_EXTRA_ARGS },
    /* QEMU-only: strict arguments, listed after StratoVirt's catalogue. */
    { "device-list-properties", qmp_device_list_properties, &typename_args,
      &property_info_list },
    { "qom-list-properties", qmp_qom_list_properties, &typename_args,
      &property_info_list },
    { "qom-set", qmp_qom_set, &qom_set_args },
    { NULL }
};

void qmp_register_qom_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, qom_commands);
}
