/*
 * QEMU 7.2's x-query-* introspection that has a Stratus answer
 * (docs/qmp.md "x-query commands"): x-query-virtio (the virtio devices and
 * their QOM paths), x-query-ramblock (guest RAM in QEMU's table layout),
 * x-query-roms (none: Stratus loads the kernel into RAM itself, without
 * firmware or option ROM blobs), x-query-irq (interrupt counts per pin). Handlers run on the main loop with the
 * machine lock held; ctx->opaque is the Machine.
 */
#include <string.h>

#include "machine.h"
#include "hw/device.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

static const QmpMember virtio_info_m[] = {
    { "path", &qmp_type_str }, { "name", &qmp_type_str }, { NULL }
};
static const QmpType virtio_info = QMP_OBJECT_TYPE(virtio_info_m);
static const QmpType virtio_info_list = QMP_ARRAY_TYPE(&virtio_info);

/* QEMU names a virtio device by its type without the transport suffix. */
static char *virtio_name(const char *type)
{
    size_t n = strlen(type);

    if (n > 7 && !strcmp(type + n - 7, "-device")) {
        n -= 7;
    }
    return g_strndup(type, n);
}

static bool qmp_x_query_virtio(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                               GError **err)
{
    GPtrArray *devs = machine_devices(ctx->opaque);
    JsonArray *a = json_array_new();

    for (guint i = 0; devs && i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        g_autofree char *name = NULL;
        JsonObject *o;

        if (d->klass->bus != DEVICE_BUS_VIRTIO || !d->realized) {
            continue;
        }
        name = virtio_name(d->klass->name);
        o = json_object_new();
        json_object_set_string_member(o, "path", d->qom_path);
        json_object_set_string_member(o, "name", name);
        json_array_add_object_element(a, o);
    }
    *ret = qmp_node_array(a);
    return true;
}

/*
 * One RAM block, as QEMU has: the guest's RAM is one host mapping, even
 * when it is split around the 32-bit hole in guest-physical space.
 */
static bool qmp_x_query_ramblock(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                 GError **err)
{
    Machine *m = ctx->opaque;
    g_autoptr(GString) s = g_string_new(NULL);
    uint64_t size = m->ram.mapping && m->cfg ? m->cfg->mem_size : 0;

    g_string_append_printf(s, "%24s %8s  %18s %18s %18s\n", "Block Name", "PSize", "Offset",
                           "Used", "Total");
    if (size && m->machine_class && m->machine_class->default_ram_id) {
        g_string_append_printf(s, "%24s %8s  0x%016" G_GINT64_MODIFIER "x 0x%016"
                               G_GINT64_MODIFIER "x 0x%016" G_GINT64_MODIFIER "x\n",
                               m->machine_class->default_ram_id, "4 KiB", (guint64)0,
                               (guint64)size, (guint64)size);
    }
    *ret = qmp_human_readable_text(s->str);
    return true;
}

static bool qmp_x_query_roms(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    *ret = qmp_human_readable_text("");
    return true;
}

/*
 * QEMU's per-controller table of interrupt counts. Stratus counts what
 * devices raise on each IOAPIC pin (edges and irqfd signals); the
 * accelerator's own timers (PIT, LAPIC) deliver theirs without the machine
 * seeing them, so they are not in it.
 */
static bool qmp_x_query_irq(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                            GError **err)
{
    Machine *m = ctx->opaque;
    g_autoptr(GString) s = g_string_new("IRQ statistics for ioapic:\n");

    for (unsigned gsi = 0; gsi < MACHINE_MAX_GSI; gsi++) {
        if (m->irq_counts[gsi]) {
            g_string_append_printf(s, "%2u: %" G_GUINT64_FORMAT "\n", gsi,
                                   (guint64)m->irq_counts[gsi]);
        }
    }
    /*
     * Stratus's own line, only once there is something to say: guest
     * writes the emu accelerator turned into ioeventfd signals (virtqueue
     * kicks), so a test can tell the eventfd path from the handler's.
     */
    if (m->mmio.eventfd_hits || m->pio.eventfd_hits) {
        g_string_append_printf(s, "ioeventfd signals: %" G_GUINT64_FORMAT "\n",
                               (guint64)(m->mmio.eventfd_hits + m->pio.eventfd_hits));
    }
    *ret = qmp_human_readable_text(s->str);
    return true;
}

static const QmpCommand xquery_cmds[] = {
    { "x-query-virtio", qmp_x_query_virtio, NULL, &virtio_info_list },
    { "x-query-ramblock", qmp_x_query_ramblock, NULL, &qmp_type_human_readable },
    { "x-query-roms", qmp_x_query_roms, NULL, &qmp_type_human_readable },
    { "x-query-irq", qmp_x_query_irq, NULL, &qmp_type_human_readable },
    { NULL }
};

void qmp_register_xquery_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, xquery_cmds);
}
