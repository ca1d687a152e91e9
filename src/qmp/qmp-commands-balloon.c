/*
 * Balloon QMP commands (docs/qmp.md "Balloon"): `balloon` sets the guest
 * memory the host wants, `query-balloon` reports what the guest says it
 * has. The device is src/hw/virtio/virtio-balloon.c; there is at most one.
 *
 * Both are StratoVirt's "lenient" commands (unknown argument members are
 * ignored, libvirt probes with them). Without a balloon device both answer
 * QEMU's and StratoVirt's DeviceNotActive text, before looking at the
 * arguments (QEMU's order). Handlers run on the main loop with the machine
 * lock held; ctx->opaque is the Machine.
 */
#include "machine.h"
#include "hw/virtio/virtio-balloon.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

static const QmpMember balloon_m[] = {
    { "value", &qmp_type_int },
    { NULL }
};
static const QmpType balloon_args = QMP_OBJECT_TYPE(balloon_m);

/* QEMU's BalloonInfo (StratoVirt's has the same one member). */
static const QmpMember balloon_info_m[] = {
    { "actual", &qmp_type_int },
    { NULL }
};
static const QmpType balloon_info = QMP_OBJECT_TYPE(balloon_info_m);

static Device *balloon_device(QmpCommandCtx *ctx, GError **err)
{
    Device *d = virtio_balloon_find(ctx->opaque);

    if (!d) {
        qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_ACTIVE,
                      "No balloon device has been activated");
    }
    return d;
}

/*
 * A target above the guest's RAM means all of it (the seeds: "If the value
 * is greater than the memory value configured during VM startup, the latter
 * is used"). Zero or less is refused with QEMU's text; StratoVirt's u64
 * would take 0 and balloon the whole guest away, which is never what a
 * caller means.
 */
static bool qmp_balloon(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Device *d = balloon_device(ctx, err);
    gint64 value;

    if (!d) {
        return false;
    }
    value = json_object_get_int_member(args, "value");
    if (value <= 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'value' expects a size");
        return false;
    }
    virtio_balloon_set_target(d, (uint64_t)value);
    return true;
}

static bool qmp_query_balloon(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    Device *d = balloon_device(ctx, err);
    g_autoptr(JsonBuilder) b = NULL;

    if (!d) {
        return false;
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "actual");
    json_builder_add_int_value(b, (gint64)virtio_balloon_actual_bytes(d));
    json_builder_end_object(b);
    *ret = json_builder_get_root(b);
    return true;
}

static const QmpCommand balloon_cmds[] = {
    { "balloon", qmp_balloon, &balloon_args, NULL, QMP_CMD_ALLOW_EXTRA_ARGS },
    { "query-balloon", qmp_query_balloon, NULL, &balloon_info, QMP_CMD_ALLOW_EXTRA_ARGS },
    { NULL }
};

void qmp_register_balloon_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, balloon_cmds);
}
