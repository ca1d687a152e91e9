/*
 * QMP announce-self (docs/qmp.md "Self-announcement"): QEMU 7.2's
 * arguments; every NIC with a back end (or those `interfaces` names) sends a
 * RARP request from its current address, once at once and then `rounds - 1`
 * more times, the gaps growing from `initial` by `step` up to `max` ms.
 *
 * Choices where QEMU differs or is silent: the rounds run on host time (a
 * GLib timer on the main loop), so they also progress under -accel qtest;
 * `id` is accepted, but a later call with the same id starts its own rounds
 * rather than replacing the earlier ones. A NIC unplugged between rounds
 * is skipped. Handlers run with the machine lock held.
 */
#include <string.h>

#include "machine.h"
#include "hw/device.h"
#include "hw/virtio/virtio-net.h"
#include "net/net.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

static const QmpType str_list = QMP_ARRAY_TYPE(&qmp_type_str);
static const QmpMember announce_m[] = {
    { "initial", &qmp_type_int }, { "max", &qmp_type_int }, { "rounds", &qmp_type_int },
    { "step", &qmp_type_int }, { "interfaces", &str_list, .optional = true },
    { "id", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType announce_args = QMP_OBJECT_TYPE(announce_m);

typedef struct Announcer {
    Machine *m;
    char **interfaces;           /* NULL: every NIC */
    int64_t delay, step, max;
    int64_t rounds_left;
    bool handed_over;            /* the next round's source owns it now */
} Announcer;

static bool wanted(const Announcer *a, const char *name)
{
    return !a->interfaces || g_strv_contains((const char *const *)a->interfaces, name);
}

static void announce_round(Announcer *a)
{
    GPtrArray *devs = machine_devices(a->m);

    for (guint i = 0; devs && i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        uint8_t mac[6];
        NetClient *nc;

        if (!virtio_net_device_is(d) || !wanted(a, device_name(d)) ||
            !(nc = virtio_net_device_backend(d)) || !virtio_net_device_rx_filter(d, mac)) {
            continue;
        }
        net_announce_rarp(nc, mac);
    }
}

/* Each round's source owns the announcer; a quit frees a pending one. */
static void announcer_release(gpointer p)
{
    Announcer *a = p;

    if (a->handed_over) {
        a->handed_over = false;
        return;
    }
    g_strfreev(a->interfaces);
    g_free(a);
}

static void schedule(Announcer *a);

/* Main-loop sources are dispatched with the machine lock held. */
static gboolean announce_timer(gpointer p)
{
    Announcer *a = p;

    announce_round(a);
    if (--a->rounds_left > 0) {
        a->delay = MIN(a->delay + a->step, a->max);
        a->handed_over = true;
        schedule(a);
    }
    return G_SOURCE_REMOVE;
}

static void schedule(Announcer *a)
{
    GSource *src = g_timeout_source_new((guint)CLAMP(a->delay, 0, G_MAXINT));

    g_source_set_callback(src, announce_timer, a, announcer_release);
    g_source_attach(src, a->m->ctx);
    g_source_unref(src);
}

static bool qmp_announce_self(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                              GError **err)
{
    Announcer *a = g_new0(Announcer, 1);

    a->m = ctx->opaque;
    a->delay = json_object_get_int_member(args, "initial");
    a->max = json_object_get_int_member(args, "max");
    a->step = json_object_get_int_member(args, "step");
    a->rounds_left = json_object_get_int_member(args, "rounds");
    if (json_object_has_member(args, "interfaces")) {
        JsonArray *l = json_object_get_array_member(args, "interfaces");
        a->interfaces = g_new0(char *, json_array_get_length(l) + 1);
        for (guint i = 0; i < json_array_get_length(l); i++) {
            a->interfaces[i] = g_strdup(json_array_get_string_element(l, i));
        }
    }
    announce_round(a);
    if (--a->rounds_left > 0) {
        schedule(a);
    } else {
        announcer_release(a);
    }
    return true;
}

static const QmpCommand announce_cmds[] = {
    { "announce-self", qmp_announce_self, &announce_args },
    { NULL }
};

void qmp_register_announce_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, announce_cmds);
}
