/*
 * object-add / object-del (docs/qmp.md "Objects"): QEMU's commands for host
 * objects, here the ones -object creates (backends/object.h): rng-random and
 * memory-backend-ram.
 *
 * The schema checker gives QEMU's texts for a type it does not know
 * ("Parameter 'qom-type' does not accept value 'x'"), a missing id, an
 * unknown member and a wrong JSON type; the object layer gives the rest
 * (id syntax, duplicates, a file that does not open, size 0, an object in
 * use).
 * An object added here is one a device created later could use; on microvm
 * nothing that takes one can be hot-plugged yet, so object-add mostly serves
 * management tools that create back ends before devices.
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <string.h>

#include "machine.h"
#include "backends/object.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

static const char *const object_types[] = { "rng-random", "memory-backend-ram", NULL };
static const QmpType object_type_enum = QMP_ENUM_TYPE(object_types);

/*
 * QEMU's ObjectOptions is a union on qom-type: the common members here, the
 * type's own ones checked by the handler against the type's schema, so a
 * member of the other type is "unexpected" as in QEMU.
 */
static const QmpMember object_add_m[] = {
    { "qom-type", &object_type_enum },
    { "id", &qmp_type_str },
    { NULL }
};
static const QmpType object_add_args = {
    .kind = QMP_KIND_OBJECT, .members = object_add_m, .open = true
};

static const QmpMember rng_random_m[] = {
    { "filename", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType rng_random_args = QMP_OBJECT_TYPE(rng_random_m);

/* size is QEMU's 'size' type: checked by hand for its own text. */
static const QmpMember memory_backend_m[] = {
    { "size", &qmp_type_any },
    { "share", &qmp_type_bool, .optional = true },
    { "merge", &qmp_type_bool, .optional = true },
    { "dump", &qmp_type_bool, .optional = true },
    { "prealloc", &qmp_type_bool, .optional = true },
    { "reserve", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType memory_backend_args = QMP_OBJECT_TYPE(memory_backend_m);

static const QmpMember object_del_m[] = {
    { "id", &qmp_type_str },
    { NULL }
};
static const QmpType object_del_args = QMP_OBJECT_TYPE(object_del_m);

/* args without the common members, for the type's own schema. */
static JsonObject *type_members(JsonObject *args)
{
    JsonObject *o = json_object_new();
    JsonObjectIter it;
    const char *key;
    JsonNode *val;

    json_object_iter_init_ordered(&it, args);
    while (json_object_iter_next_ordered(&it, &key, &val)) {
        if (strcmp(key, "qom-type") && strcmp(key, "id")) {
            json_object_set_member(o, key, json_node_copy(val));
        }
    }
    return o;
}

static bool get_bool(JsonObject *o, const char *name, bool dflt)
{
    return json_object_has_member(o, name) ? json_object_get_boolean_member(o, name) : dflt;
}

static bool add_memory_backend(Machine *m, const char *id, JsonObject *o, GError **err)
{
    MemoryBackendOptions opts = MEMORY_BACKEND_OPTIONS_INIT;
    JsonNode *size = json_object_get_member(o, "size");

    if (!JSON_NODE_HOLDS_VALUE(size) || json_node_get_value_type(size) != G_TYPE_INT64 ||
        json_node_get_int(size) < 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'size' expects uint64");
        return false;
    }
    opts.size = (uint64_t)json_node_get_int(size);
    opts.share = get_bool(o, "share", opts.share);
    opts.merge = get_bool(o, "merge", opts.merge);
    opts.dump = get_bool(o, "dump", opts.dump);
    opts.prealloc = get_bool(o, "prealloc", opts.prealloc);
    opts.reserve = get_bool(o, "reserve", opts.reserve);
    return object_add_memory_backend_ram(m->objects, id, &opts, err);
}

static bool qmp_object_add(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                           GError **err)
{
    Machine *m = ctx->opaque;
    const char *type = json_object_get_string_member(args, "qom-type");
    const char *id = json_object_get_string_member(args, "id");
    bool is_ram = !strcmp(type, "memory-backend-ram");
    g_autoptr(JsonObject) own = type_members(args);
    const char *file;

    if (!qmp_validate_args(is_ram ? &memory_backend_args : &rng_random_args, own, false,
                           err)) {
        return false;
    }
    if (is_ram) {
        return add_memory_backend(m, id, own, err);
    }
    file = json_object_has_member(own, "filename") ?
           json_object_get_string_member(own, "filename") : NULL;
    return object_add_rng_random(m->objects, id, file ? file : RNG_RANDOM_DEFAULT_FILE, err);
}

static bool qmp_object_del(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                           GError **err)
{
    Machine *m = ctx->opaque;

    return object_table_del(m->objects, json_object_get_string_member(args, "id"), err);
}

static const QmpCommand object_cmds[] = {
    { "object-add", qmp_object_add, &object_add_args },
    { "object-del", qmp_object_del, &object_del_args },
    { NULL }
};

void qmp_register_object_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, object_cmds);
}
