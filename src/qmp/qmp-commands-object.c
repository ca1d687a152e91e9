/*
 * object-add / object-del (docs/qmp.md "Objects"): QEMU's commands for host
 * objects, here the ones -object creates (backends/object.h): rng-random.
 *
 * The argument schema is QEMU's ObjectOptions flattened to the one type
 * there is, so the schema checker gives QEMU's texts for a type it does not
 * know ("Parameter 'qom-type' does not accept value 'x'"), a missing id, an
 * unknown member and a wrong JSON type; the object layer gives the rest
 * (id syntax, duplicates, a file that does not open, an object in use).
 * An object added here is one a device created later could use; on microvm
 * nothing that takes one can be hot-plugged yet, so object-add mostly serves
 * management tools that create back ends before devices.
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include "machine.h"
#include "backends/object.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

static const char *const object_types[] = { "rng-random", NULL };
static const QmpType object_type_enum = QMP_ENUM_TYPE(object_types);

static const QmpMember object_add_m[] = {
    { "qom-type", &object_type_enum },
    { "id", &qmp_type_str },
    { "filename", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType object_add_args = QMP_OBJECT_TYPE(object_add_m);

static const QmpMember object_del_m[] = {
    { "id", &qmp_type_str },
    { NULL }
};
static const QmpType object_del_args = QMP_OBJECT_TYPE(object_del_m);

static bool qmp_object_add(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                           GError **err)
{
    Machine *m = ctx->opaque;
    const char *file = json_object_has_member(args, "filename") ?
                       json_object_get_string_member(args, "filename") : NULL;

    return object_add_rng_random(m->objects, json_object_get_string_member(args, "id"),
                                 file ? file : RNG_RANDOM_DEFAULT_FILE, err);
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
