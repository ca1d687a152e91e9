/*
 * set-action / watchdog-set-action / inject-nmi
 * (src/qmp/qmp-commands-action.c): set-action shutdown=pause behaves as
 * -no-shutdown (a guest poweroff leaves the VMM paused), shutdown=poweroff
 * undoes it; QEMU 7.2's enum errors; inject-nmi answers {} (under qtest no
 * vCPU runs; delivery is tested on a booted guest in test_qmp_actions.py).
 */
#include "qtest.h"

#define PM1_CNT 0x604     /* microvm's ACPI PM block: SLP_EN with SLP_TYP 0 is S5 */
#define SLP_EN  0x2000

static void poweroff(QTestState *s)
{
    qtest_outw(s, PM1_CNT, SLP_EN);
}

static void test_shutdown_pause(void)
{
    QTestState *s = qtest_init("");
    JsonNode *r;

    qtest_qmp_assert_success(s, "{'execute': 'set-action', 'arguments': "
                             "{'shutdown': 'pause', 'reboot': 'shutdown', 'panic': 'none', "
                             "'watchdog': 'debug'}}");
    poweroff(s);
    qtest_qmp_eventwait(s, "SHUTDOWN");
    qtest_qmp_eventwait(s, "STOP");
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-status'}");
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(r), "status"), ==,
                    "shutdown");
    json_node_unref(r);
    /* Back to poweroff: the next one ends the VMM. */
    qtest_qmp_assert_success(s, "{'execute': 'set-action', 'arguments': "
                             "{'shutdown': 'poweroff'}}");
    poweroff(s);
    qtest_qmp_eventwait(s, "SHUTDOWN");
    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 0);
    qtest_quit(s);
}

static void test_errors(void)
{
    QTestState *s = qtest_init("");

    qtest_qmp_assert_error(s, "GenericError", "Parameter 'reboot' does not accept value 'bogus'",
                           "{'execute': 'set-action', 'arguments': {'reboot': 'bogus'}}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'panic' does not accept value 'reset'",
                           "{'execute': 'set-action', 'arguments': {'panic': 'reset'}}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'action' does not accept value 'x'",
                           "{'execute': 'watchdog-set-action', 'arguments': {'action': 'x'}}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'action' is missing",
                           "{'execute': 'watchdog-set-action'}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'cpu' is unexpected",
                           "{'execute': 'inject-nmi', 'arguments': {'cpu': 0}}");
    qtest_qmp_assert_success(s, "{'execute': 'watchdog-set-action', 'arguments': "
                             "{'action': 'inject-nmi'}}");
    qtest_qmp_assert_success(s, "{'execute': 'set-action'}");
    qtest_qmp_assert_success(s, "{'execute': 'inject-nmi'}");
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-action/shutdown-pause", test_shutdown_pause);
    g_test_add_func("/qmp-action/errors", test_errors);
    return g_test_run();
}
