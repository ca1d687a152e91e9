/*
 * QEMU 7.2's commands for features a Stratus microvm has none of
 * (src/qmp/qmp-commands-absent.c, docs/qmp.md "Absent features"): the exact
 * answer QEMU gives on a microvm without them, and the argument errors.
 */
#include <string.h>
#include "qtest.h"

static void expect_return(QTestState *s, const char *cmd, const char *json)
{
    JsonNode *r = qtest_qmp(s, "{'execute': '%s'}", cmd);
    g_autofree char *got = json_to_string(json_object_get_member(qmp_obj(r), "return"), FALSE);

    g_assert_cmpstr(got, ==, json);
    json_node_unref(r);
}

/* An object answer: exactly these members (name, value as text) in any order. */
static void expect_members(QTestState *s, const char *cmd, const char *const *kv)
{
    JsonNode *r = qtest_qmp(s, "{'execute': '%s'}", cmd);
    JsonObject *o = qmp_return_obj(r);
    guint n = 0;

    for (; kv[0]; kv += 2, n++) {
        JsonNode *v = json_object_get_member(o, kv[0]);
        g_autofree char *text = NULL;
        g_assert_nonnull(v);
        text = json_node_get_value_type(v) == G_TYPE_STRING ?
               g_strdup(json_node_get_string(v)) :
               g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(v));
        g_assert_cmpstr(text, ==, kv[1]);
    }
    g_assert_cmpuint(json_object_get_size(o), ==, n);
    json_node_unref(r);
}

static void test_answers(void)
{
    QTestState *s = qtest_init("");
    const char *empty[] = { "query-pci", "query-mice", "query-tpm", "query-jobs",
                            "query-block-jobs", "query-block-exports", "query-pr-managers",
                            "query-fdsets", "query-vnc-servers", "query-tpm-models",
                            "query-tpm-types", "query-stats-schemas" };

    for (size_t i = 0; i < G_N_ELEMENTS(empty); i++) {
        expect_return(s, empty[i], "[]");
    }
    expect_members(s, "query-dump", (const char *[]){ "status", "none", "completed", "0",
                                                      "total", "0", NULL });
    expect_members(s, "query-colo-status", (const char *[]){ "mode", "none", "last-mode",
                                                             "none", "reason", "none", NULL });
    expect_return(s, "query-vnc", "{\"enabled\":false}");
    expect_members(s, "query-dirty-rate", (const char *[]){ "status", "unstarted",
                                                            "sample-pages", "0",
                                                            "mode", "page-sampling",
                                                            "start-time", "0",
                                                            "calc-time", "0", NULL });
    expect_return(s, "x-query-numa", "{\"human-readable-text\":\"0 nodes\\n\"}");
    expect_return(s, "x-query-rdma", "{\"human-readable-text\":\"\"}");
    expect_return(s, "rtc-reset-reinjection", "{}");
    qtest_quit(s);
}

static void expect_error(QTestState *s, const char *cmd, const char *desc)
{
    qtest_qmp_assert_error(s, "GenericError", desc, "%s", cmd);
}

static void test_errors(void)
{
    QTestState *s = qtest_init("");

    expect_error(s, "{'execute': 'screendump', 'arguments': {'filename': '/tmp/x.ppm'}}",
                 "There is no QemuConsole I can screendump from.");
    expect_error(s, "{'execute': 'screendump'}", "Parameter 'filename' is missing");
    expect_error(s, "{'execute': 'screendump', 'arguments': {'filename': 'x', 'format': 'gif'}}",
                 "Parameter 'format' does not accept value 'gif'");
    expect_error(s, "{'execute': 'query-pci', 'arguments': {'bus': 0}}",
                 "Parameter 'bus' is unexpected");
    expect_error(s, "{'execute': 'system_wakeup'}",
                 "wake-up from suspend is not supported by this guest");
    expect_error(s, "{'execute': 'x-query-usb'}", "USB support not enabled");
    expect_error(s, "{'execute': 'query-stats-schemas', 'arguments': {'provider': 'x'}}",
                 "Parameter 'provider' does not accept value 'x'");
    expect_error(s, "{'execute': 'query-vnc', 'arguments': {'x': 1}}",
                 "Parameter 'x' is unexpected");
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-absent/answers", test_answers);
    g_test_add_func("/qmp-absent/errors", test_errors);
    return g_test_run();
}
