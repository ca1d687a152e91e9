/*
 * calc-dirty-rate / query-dirty-rate (src/migration/dirty-rate.c) under
 * qtest, whose protocol writes stand for the guest's in the dirty log:
 * 4 MiB written in a 2-second window is 2 MB/s. Also QEMU 7.2's argument
 * errors, the one-at-a-time rule and the dirty log's one user (a live
 * migration is refused while a measurement holds it, and not after).
 */
#include <string.h>
#include "qtest.h"

static char *status(QTestState *s, gint64 *rate)
{
    JsonNode *r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-dirty-rate'}");
    JsonObject *o = json_node_get_object(r);
    char *st = g_strdup(json_object_get_string_member(o, "status"));

    *rate = json_object_has_member(o, "dirty-rate") ?
            json_object_get_int_member(o, "dirty-rate") : -1;
    json_node_unref(r);
    return st;
}

static void test_measure(void)
{
    QTestState *s = qtest_init("-m 256M");
    gint64 rate;
    g_autofree char *before = status(s, &rate);

    g_assert_cmpstr(before, ==, "unstarted");
    g_assert_cmpint(rate, ==, -1);
    qtest_qmp_assert_success(s, "{'execute': 'calc-dirty-rate', 'arguments': "
                             "{'calc-time': 2, 'mode': 'dirty-bitmap'}}");
    qtest_memset(s, 0x1000000, 0x5a, 4 << 20);
    qtest_qmp_assert_error(s, "GenericError", "the dirty rate is already being measured.",
                           "{'execute': 'calc-dirty-rate', 'arguments': {'calc-time': 1}}");
    /* The measurement holds the dirty log: a live migration waits for it. */
    qtest_qmp_assert_error(s, "GenericError", "A dirty-rate measurement is running "
                           "(calc-dirty-rate): migrate once it has ended",
                           "{'execute': 'migrate', 'arguments': "
                           "{'uri': 'unix:/nonexistent/mig.sock'}}");
    /* The window ends on the host's clock: poll until it has. */
    for (int i = 0; i < 300; i++) {
        g_autofree char *st = status(s, &rate);
        if (!strcmp(st, "measured")) {
            break;
        }
        g_assert_cmpstr(st, ==, "measuring");
        g_usleep(50 * 1000);
    }
    g_assert_cmpint(rate, ==, 2);
    /* Released: a migration gets as far as connecting (and gives the log back when that fails). */
    qtest_qmp_assert_error(s, "GenericError", "Failed to connect to "
                           "unix:/nonexistent/mig.sock: No such file or directory",
                           "{'execute': 'migrate', 'arguments': "
                           "{'uri': 'unix:/nonexistent/mig.sock'}}");
    /* A second measurement of nothing written. */
    qtest_qmp_assert_success(s, "{'execute': 'calc-dirty-rate', 'arguments': {'calc-time': 1}}");
    for (int i = 0; i < 300; i++) {
        g_autofree char *st = status(s, &rate);
        if (!strcmp(st, "measured")) {
            break;
        }
        g_usleep(50 * 1000);
    }
    g_assert_cmpint(rate, ==, 0);
    qtest_quit(s);
}

static void test_errors(void)
{
    QTestState *s = qtest_init("");

    qtest_qmp_assert_error(s, "GenericError", "calc-time is out of range[1, 60].",
                           "{'execute': 'calc-dirty-rate', 'arguments': {'calc-time': 0}}");
    qtest_qmp_assert_error(s, "GenericError", "calc-time is out of range[1, 60].",
                           "{'execute': 'calc-dirty-rate', 'arguments': {'calc-time': 61}}");
    qtest_qmp_assert_error(s, "GenericError", "sample-pages is out of range[128, 4096].",
                           "{'execute': 'calc-dirty-rate', 'arguments': "
                           "{'calc-time': 1, 'sample-pages': 100}}");
    qtest_qmp_assert_error(s, "GenericError",
                           "mode dirty-ring is not enabled, use other method instead.",
                           "{'execute': 'calc-dirty-rate', 'arguments': "
                           "{'calc-time': 1, 'mode': 'dirty-ring'}}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'calc-time' is missing",
                           "{'execute': 'calc-dirty-rate'}");
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-rate/measure", test_measure);
    g_test_add_func("/dirty-rate/errors", test_errors);
    return g_test_run();
}
