/*
 * cameradev_add / cameradev_del (docs/camera.md, docs/qmp.md "Camera back
 * ends"): StratoVirt's commands for camera back ends, with its argument
 * shapes (id, driver, optional path; id) and texts. StratoVirt has them on
 * its standard machine; microvm answers "cameradev_add not supported for
 * MicroVM" (and likewise for cameradev_del), as StratoVirt's does. Neither
 * StratoVirt nor QEMU has a query for camera back ends, so there is none.
 *
 * The schema checker gives QEMU's texts for a missing, unexpected or
 * mistyped member; the back-end layer the rest (backends/camera.h).
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include "machine.h"
#include "backends/camera.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

static const QmpMember cameradev_add_m[] = {
    { "id", &qmp_type_str },
    { "driver", &qmp_type_str },
    { "path", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType cameradev_add_args = QMP_OBJECT_TYPE(cameradev_add_m);

static const QmpMember cameradev_del_m[] = {
    { "id", &qmp_type_str },
    { NULL }
};
static const QmpType cameradev_del_args = QMP_OBJECT_TYPE(cameradev_del_m);

static bool refuse_on_microvm(Machine *m, const char *cmd, GError **err)
{
    if (machine_cameras_supported(m)) {
        return false;
    }
    qmp_error_set(err, STRATUS_ERROR_GENERIC, "%s not supported for MicroVM", cmd);
    return true;
}

static bool qmp_cameradev_add(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    Machine *m = ctx->opaque;

    if (refuse_on_microvm(m, "cameradev_add", err)) {
        return false;
    }
    return camera_backend_add(m->cameras, json_object_get_string_member(args, "id"),
                              json_object_get_string_member(args, "driver"),
                              json_object_get_string_member_with_default(args, "path", NULL),
                              err);
}

static bool qmp_cameradev_del(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    Machine *m = ctx->opaque;

    if (refuse_on_microvm(m, "cameradev_del", err)) {
        return false;
    }
    return camera_backend_del(m->cameras, json_object_get_string_member(args, "id"), err);
}

static const QmpCommand camera_cmds[] = {
    { "cameradev_add", qmp_cameradev_add, &cameradev_add_args },
    { "cameradev_del", qmp_cameradev_del, &cameradev_del_args },
    { NULL }
};

void qmp_register_camera_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, camera_cmds);
}
