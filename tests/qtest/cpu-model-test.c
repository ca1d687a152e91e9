/*
 * query-cpu-definitions and query-cpu-model-expansion (src/qmp/qmp-commands-cpu.c,
 * docs/qmp.md "CPU models"): the models -cpu accepts in QEMU 7.2's shape,
 * host unavailable without KVM, static and full expansion with props, and
 * QEMU's errors for unknown models, bad props and a bad expansion type.
 */
#include <string.h>
#include "qtest.h"

static JsonObject *find_def(JsonArray *a, const char *name)
{
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        if (!strcmp(json_object_get_string_member(o, "name"), name)) {
            return o;
        }
    }
    return NULL;
}

static void test_definitions(void)
{
    QTestState *s = qtest_init("");
    JsonNode *r = qtest_qmp(s, "{'execute': 'query-cpu-definitions'}");
    JsonArray *a = json_object_get_array_member(qmp_obj(r), "return");
    const char *names[] = { "host", "max", "qemu64", "base", "kvm64" };
    JsonObject *o;

    g_assert_cmpuint(json_array_get_length(a), ==, G_N_ELEMENTS(names));
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *tn = g_strdup_printf("%s-x86_64-cpu", names[i]);
        o = find_def(a, names[i]);
        g_assert_nonnull(o);
        g_assert_cmpstr(json_object_get_string_member(o, "typename"), ==, tn);
        g_assert_false(json_object_get_boolean_member(o, "deprecated"));
    }
    o = find_def(a, "host");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o,
                     "unavailable-features")), ==, 1);
    g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(o,
                    "unavailable-features"), 0), ==, "kvm");
    g_assert_false(json_object_get_boolean_member(o, "migration-safe"));
    o = find_def(a, "qemu64");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o,
                     "unavailable-features")), ==, 0);
    g_assert_true(json_object_get_boolean_member(o, "migration-safe"));
    g_assert_false(json_object_get_boolean_member(o, "static"));
    g_assert_true(json_object_get_boolean_member(find_def(a, "base"), "static"));
    json_node_unref(r);
    qtest_quit(s);
}

static void test_expansion(void)
{
    QTestState *s = qtest_init("");
    JsonNode *r;
    JsonObject *m, *props;

    r = qtest_qmp(s, "{'execute': 'query-cpu-model-expansion', 'arguments': "
                     "{'type': 'full', 'model': {'name': 'qemu64', 'props': {'svm': false}}}}");
    m = json_object_get_object_member(qmp_return_obj(r), "model");
    g_assert_cmpstr(json_object_get_string_member(m, "name"), ==, "qemu64");
    props = json_object_get_object_member(m, "props");
    g_assert_true(json_object_get_boolean_member(props, "sse2"));
    g_assert_true(json_object_get_boolean_member(props, "lm"));
    g_assert_false(json_object_get_boolean_member(props, "svm"));
    json_node_unref(r);
    r = qtest_qmp(s, "{'execute': 'query-cpu-model-expansion', 'arguments': "
                     "{'type': 'static', 'model': {'name': 'max'}}}");
    m = json_object_get_object_member(qmp_return_obj(r), "model");
    g_assert_cmpstr(json_object_get_string_member(m, "name"), ==, "base");
    g_assert_true(json_object_get_boolean_member(json_object_get_object_member(m, "props"),
                                                 "sse"));
    json_node_unref(r);
    qtest_quit(s);
}

static void expect_error(QTestState *s, const char *cmd, const char *desc)
{
    qtest_qmp_assert_error(s, "GenericError", desc, "%s", cmd);
}

static void test_expansion_errors(void)
{
    QTestState *s = qtest_init("");

    expect_error(s, "{'execute': 'query-cpu-model-expansion', 'arguments': "
                    "{'type': 'full', 'model': {'name': 'pentium9'}}}",
                 "CPU model 'pentium9' not found");
    expect_error(s, "{'execute': 'query-cpu-model-expansion', 'arguments': "
                    "{'type': 'full', 'model': {'name': 'host'}}}",
                 "CPU model 'host' requires KVM or HVF");
    expect_error(s, "{'execute': 'query-cpu-model-expansion', 'arguments': "
                    "{'type': 'full', 'model': {'name': 'qemu64', 'props': 1}}}",
                 "Invalid parameter type for 'props', expected: dict");
    expect_error(s, "{'execute': 'query-cpu-model-expansion', 'arguments': "
                    "{'type': 'full', 'model': {'name': 'qemu64', 'props': {'nope': true}}}}",
                 "Property 'qemu64-x86_64-cpu.nope' not found");
    expect_error(s, "{'execute': 'query-cpu-model-expansion', 'arguments': "
                    "{'type': 'full', 'model': {'name': 'qemu64', 'props': {'sse': 1}}}}",
                 "Invalid parameter type for 'sse', expected: boolean");
    expect_error(s, "{'execute': 'query-cpu-model-expansion', 'arguments': "
                    "{'type': 'half', 'model': {'name': 'qemu64'}}}",
                 "Parameter 'type' does not accept value 'half'");
    expect_error(s, "{'execute': 'query-cpu-model-expansion', 'arguments': {'type': 'full'}}",
                 "Parameter 'model' is missing");
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cpu-model/definitions", test_definitions);
    g_test_add_func("/cpu-model/expansion", test_expansion);
    g_test_add_func("/cpu-model/expansion-errors", test_expansion_errors);
    return g_test_run();
}
