/*
 * CPU model queries (docs/qmp.md "CPU models"): query-cpu-definitions and
 * query-cpu-model-expansion in QEMU 7.2's shapes, for the models -cpu
 * accepts (options/opt-qemu.c: base, host, kvm64, max, qemu64). Stratus runs
 * every model the same way (the vCPU's CPUID is the accelerator's); the
 * answers say what QEMU says of these models, so tools that pick a model
 * from the list (libvirt, QEMU's tests) find the names they use.
 *
 * Handlers run on the main loop with the machine lock held; ctx->opaque is
 * the Machine.
 */
#include <string.h>

#include "machine.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

/* QEMU's qemu64 CPUID bits under their QOM property names. */
static const char *const qemu64_features[] = {
    "fpu", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge",
    "mca", "cmov", "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2", "pni",
    "cx16", "syscall", "nx", "lm", "lahf-lm", "svm", NULL
};
/* kvm64: qemu64 without the AMD-only lahf-lm and svm. */
static const char *const kvm64_features[] = {
    "fpu", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge",
    "mca", "cmov", "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2", "pni",
    "cx16", "syscall", "nx", "lm", NULL
};
static const char *const no_features[] = { NULL };

typedef struct CpuModelDef {
    const char *name;
    bool is_static;              /* "static": the same features on every QEMU version */
    bool migration_safe;
    bool needs_kvm;              /* host: KVM's CPUID ("unavailable-features": ["kvm"]) */
    const char *const *features;
} CpuModelDef;

/* Sorted by name, as QEMU lists them. */
static const CpuModelDef cpu_models[] = {
    { "base", true, true, false, no_features },
    { "host", false, false, true, qemu64_features },
    { "kvm64", false, true, false, kvm64_features },
    { "max", false, false, false, qemu64_features },
    { "qemu64", false, true, false, qemu64_features },
};

static bool kvm_active(QmpCommandCtx *ctx)
{
    Machine *m = ctx->opaque;

    return m && m->cfg && !g_strcmp0(m->cfg->accel, "kvm");
}

/* ---- query-cpu-definitions -------------------------------------------------- */

static const QmpType str_list = QMP_ARRAY_TYPE(&qmp_type_str);
static const QmpMember cpu_def_m[] = {
    { "name", &qmp_type_str },
    { "migration-safe", &qmp_type_bool, .optional = true },
    { "static", &qmp_type_bool },
    { "unavailable-features", &str_list, .optional = true },
    { "typename", &qmp_type_str },
    { "alias-of", &qmp_type_str, .optional = true },
    { "deprecated", &qmp_type_bool },
    { NULL }
};
static const QmpType cpu_def = QMP_OBJECT_TYPE(cpu_def_m);
static const QmpType cpu_def_list = QMP_ARRAY_TYPE(&cpu_def);

static char *type_name(const char *model)
{
    return g_strdup_printf("%s-x86_64-cpu", model);
}

static bool qmp_query_cpu_definitions(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                      GError **err)
{
    JsonArray *a = json_array_new();

    for (size_t i = 0; i < G_N_ELEMENTS(cpu_models); i++) {
        const CpuModelDef *d = &cpu_models[i];
        JsonObject *o = json_object_new();
        JsonArray *missing = json_array_new();
        g_autofree char *tn = type_name(d->name);

        /* QEMU's x86_cpu_class_check_missing_features(): host needs KVM. */
        if (d->needs_kvm && !kvm_active(ctx)) {
            json_array_add_string_element(missing, "kvm");
        }
        json_object_set_string_member(o, "name", d->name);
        json_object_set_string_member(o, "typename", tn);
        json_object_set_array_member(o, "unavailable-features", missing);
        json_object_set_boolean_member(o, "static", d->is_static);
        json_object_set_boolean_member(o, "migration-safe", d->migration_safe);
        json_object_set_boolean_member(o, "deprecated", FALSE);
        json_array_add_object_element(a, o);
    }
    *ret = qmp_node_array(a);
    return true;
}

/* ---- query-cpu-model-expansion ---------------------------------------------- */

static const QmpMember cpu_model_m[] = {
    { "name", &qmp_type_str },
    { "props", &qmp_type_any, .optional = true },
    { NULL }
};
static const QmpType cpu_model_info = QMP_OBJECT_TYPE(cpu_model_m);
static const char *const expansion_values[] = { "static", "full", NULL };
static const QmpType expansion_type = QMP_ENUM_TYPE(expansion_values);
static const QmpMember expansion_args_m[] = {
    { "type", &expansion_type },
    { "model", &cpu_model_info },
    { NULL }
};
static const QmpType expansion_args = QMP_OBJECT_TYPE(expansion_args_m);
static const QmpMember expansion_ret_m[] = {
    { "model", &cpu_model_info },
    { NULL }
};
static const QmpType expansion_ret = QMP_OBJECT_TYPE(expansion_ret_m);

static const CpuModelDef *find_model(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(cpu_models); i++) {
        if (!strcmp(cpu_models[i].name, name)) {
            return &cpu_models[i];
        }
    }
    return NULL;
}

static bool known_feature(const char *name)
{
    for (const char *const *f = qemu64_features; *f; f++) {
        if (!strcmp(*f, name)) {
            return true;
        }
    }
    return false;
}

/* The user's props over the model's features; QEMU's errors for bad ones. */
static bool apply_props(const CpuModelDef *d, JsonNode *props, JsonObject *out, GError **err)
{
    JsonObject *in;
    g_autoptr(GList) names = NULL;

    if (!props) {
        return true;
    }
    if (!JSON_NODE_HOLDS_OBJECT(props)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Invalid parameter type for 'props', expected: dict");
        return false;
    }
    in = json_node_get_object(props);
    names = json_object_get_members(in);
    for (GList *l = names; l; l = l->next) {
        const char *name = l->data;
        JsonNode *v = json_object_get_member(in, name);
        if (!known_feature(name)) {
            g_autofree char *tn = type_name(d->name);
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "Property '%s.%s' not found", tn, name);
            return false;
        }
        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_BOOLEAN) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
                          "Invalid parameter type for '%s', expected: boolean", name);
            return false;
        }
        json_object_set_boolean_member(out, name, json_node_get_boolean(v));
    }
    return true;
}

/*
 * static: "base" plus every feature as a property (QEMU's static expansion);
 * full: the model's own name with the same properties.
 */
static bool qmp_query_cpu_model_expansion(QmpCommandCtx *ctx, JsonObject *args,
                                          JsonNode **ret, GError **err)
{
    const char *type = json_object_get_string_member(args, "type");
    JsonObject *model = json_object_get_object_member(args, "model");
    const char *name = json_object_get_string_member(model, "name");
    const CpuModelDef *d = find_model(name);
    JsonObject *props, *m, *o;

    if (!d) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "CPU model '%s' not found", name);
        return false;
    }
    if (d->needs_kvm && !kvm_active(ctx)) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "CPU model '%s' requires KVM or HVF",
                      d->name);
        return false;
    }
    props = json_object_new();
    for (const char *const *f = d->features; *f; f++) {
        json_object_set_boolean_member(props, *f, TRUE);
    }
    if (!apply_props(d, json_object_get_member(model, "props"), props, err)) {
        json_object_unref(props);
        return false;
    }
    m = json_object_new();
    json_object_set_string_member(m, "name", strcmp(type, "static") ? d->name : "base");
    json_object_set_object_member(m, "props", props);
    o = json_object_new();
    json_object_set_object_member(o, "model", m);
    *ret = qmp_node_object(o);
    return true;
}

static const QmpCommand cpu_cmds[] = {
    { "query-cpu-definitions", qmp_query_cpu_definitions, NULL, &cpu_def_list },
    { "query-cpu-model-expansion", qmp_query_cpu_model_expansion, &expansion_args,
      &expansion_ret },
    { NULL }
};

void qmp_register_cpu_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, cpu_cmds);
}
