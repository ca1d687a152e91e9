/*
 * Memory queries (docs/qmp.md "Memory"): query-memdev, query-memory-devices,
 * query-memory-size-summary, QEMU 7.2's shapes.
 *
 * The backends are the machine's RAM (QEMU lists it under the machine
 * class's default RAM id: "microvm.ram", "ram" for -machine none with -m)
 * and every memory-backend-ram object (backends/object.h), objects first as
 * QEMU lists them. Stratus has no memory devices (no pc-dimm, no
 * virtio-mem), so query-memory-devices is [] and nothing is plugged.
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include "machine.h"
#include "backends/object.h"
#include "hw/device.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

static const char *const host_mem_policy_values[] = {
    "default", "preferred", "bind", "interleave", NULL
};
static const QmpType host_mem_policy = QMP_ENUM_TYPE(host_mem_policy_values);
static const QmpType int_list = QMP_ARRAY_TYPE(&qmp_type_int);

static const QmpMember memdev_m[] = {
    { "id", &qmp_type_str, .optional = true },
    { "size", &qmp_type_int },
    { "merge", &qmp_type_bool },
    { "dump", &qmp_type_bool },
    { "prealloc", &qmp_type_bool },
    { "share", &qmp_type_bool },
    { "reserve", &qmp_type_bool, .optional = true },
    { "host-nodes", &int_list },
    { "policy", &host_mem_policy },
    { NULL }
};
static const QmpType memdev = QMP_OBJECT_TYPE(memdev_m);
static const QmpType memdev_list = QMP_ARRAY_TYPE(&memdev);

/* MemoryDeviceInfo is a union of kinds Stratus has none of. */
static const QmpType memory_device_list = QMP_ARRAY_TYPE(&qmp_type_any);

static const QmpMember size_summary_m[] = {
    { "base-memory", &qmp_type_int },
    { "plugged-memory", &qmp_type_int, .optional = true },
    { NULL }
};
static const QmpType size_summary = QMP_OBJECT_TYPE(size_summary_m);

/* Guest RAM in bytes: 0 when the machine has none (-machine none without -m). */
static uint64_t machine_ram_size(const Machine *m)
{
    return m->ram.mapping && m->cfg ? m->cfg->mem_size : 0;
}

static JsonObject *memdev_entry(const char *id, const MemoryBackendOptions *o)
{
    JsonObject *e = json_object_new();

    json_object_set_boolean_member(e, "dump", o->dump);
    json_object_set_array_member(e, "host-nodes", json_array_new());
    json_object_set_string_member(e, "id", id);
    json_object_set_boolean_member(e, "merge", o->merge);
    json_object_set_string_member(e, "policy", "default");
    json_object_set_boolean_member(e, "prealloc", o->prealloc);
    json_object_set_boolean_member(e, "reserve", o->reserve);
    json_object_set_boolean_member(e, "share", o->share);
    json_object_set_int_member(e, "size", (gint64)o->size);
    return e;
}

static bool qmp_query_memdev(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    Machine *m = ctx->opaque;
    JsonArray *a = json_array_new();
    GPtrArray *objs = m->objects ? object_table_list(m->objects) : NULL;

    for (guint i = 0; objs && i < objs->len; i++) {
        const HostObject *o = g_ptr_array_index(objs, i);
        const MemoryBackend *b = host_object_memory_backend(o);
        if (b) {
            json_array_add_object_element(a, memdev_entry(host_object_id(o),
                                                          memory_backend_options(b)));
        }
    }
    if (machine_ram_size(m) && m->machine_class && m->machine_class->default_ram_id) {
        MemoryBackendOptions ram = MEMORY_BACKEND_OPTIONS_INIT;
        ram.size = machine_ram_size(m);
        ram.share = m->cfg->mem_share;
        ram.dump = m->cfg->dump_guest_core;
        json_array_add_object_element(a, memdev_entry(m->machine_class->default_ram_id,
                                                      &ram));
    }
    *ret = qmp_node_array(a);
    return true;
}

static bool qmp_query_memory_devices(QmpCommandCtx *ctx, JsonObject *args,
                                     JsonNode **ret, GError **err)
{
    *ret = qmp_node_array(json_array_new());
    return true;
}

static bool qmp_query_memory_size_summary(QmpCommandCtx *ctx, JsonObject *args,
                                          JsonNode **ret, GError **err)
{
    JsonObject *o = json_object_new();

    json_object_set_int_member(o, "base-memory", (gint64)machine_ram_size(ctx->opaque));
    json_object_set_int_member(o, "plugged-memory", 0);
    *ret = qmp_node_object(o);
    return true;
}

static const QmpCommand memory_cmds[] = {
    { "query-memdev", qmp_query_memdev, NULL, &memdev_list },
    { "query-memory-devices", qmp_query_memory_devices, NULL, &memory_device_list },
    { "query-memory-size-summary", qmp_query_memory_size_summary, NULL, &size_summary },
    { NULL }
};

void qmp_register_memory_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, memory_cmds);
}
