/*
 * QMP alongside qtest: greeting, negotiation, query-status, stop/cont events,
 * quit, SIGTERM, and the rate limiter running on the virtual clock.
 */
#include <signal.h>
#include <string.h>
#include "qtest.h"

static const char *status_of(QTestState *s, bool *running)
{
    static char buf[64];
    JsonNode *r = qtest_qmp(s, "{'execute': 'query-status'}");
    JsonObject *o = qmp_return_obj(r);

    g_strlcpy(buf, qmp_get_str(o, "status"), sizeof(buf));
    *running = json_object_get_boolean_member(o, "running");
    json_node_unref(r);
    return buf;
}

static void check_greeting(QTestState *s)
{
    JsonNode *g = qtest_qmp_receive(s);
    JsonObject *qmp = json_object_get_object_member(qmp_obj(g), "QMP");
    JsonObject *ver;

    g_assert_nonnull(qmp);
    ver = json_object_get_object_member(qmp, "version");
    g_assert_nonnull(ver);
    g_assert_true(json_object_has_member(json_object_get_object_member(ver, "qemu"),
                                         "major"));
    g_assert_true(JSON_NODE_HOLDS_ARRAY(json_object_get_member(qmp, "capabilities")));
    json_node_unref(g);
}

/* The default (StratoVirt-compatible lenient) mode: commands work before negotiation. */
static void test_greeting(void)
{
    QTestState *s = qtest_init_without_qmp_handshake("");
    bool running;

    check_greeting(s);
    g_assert_cmpstr(status_of(s, &running), ==, "running");
    qtest_qmp_assert_success(s, "{'execute': 'qmp_capabilities'}");
    /* The qtest side is independent and still answers. */
    g_assert_cmphex(qtest_inb(s, 0x5000), ==, 0xff);
    qtest_quit(s);
}

/* QEMU's strict mode: capabilities negotiation first. */
static void test_greeting_strict(void)
{
    QTestState *s = qtest_init_cmdline(
        "-qtest unix:@QTEST@ -qtest-log none -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control,qmp-mode=strict -display none -accel qtest", false);
    JsonNode *r;

    check_greeting(s);
    r = qtest_qmp(s, "{'execute': 'query-status'}");
    g_assert_cmpstr(qmp_error_class(r), ==, "CommandNotFound");
    json_node_unref(r);
    qtest_qmp_assert_success(s, "{'execute': 'qmp_capabilities'}");
    r = qtest_qmp(s, "{'execute': 'qmp_capabilities'}");
    g_assert_cmpstr(qmp_error_class(r), ==, "CommandNotFound");
    json_node_unref(r);
    qtest_qmp_assert_success(s, "{'execute': 'query-status'}");
    qtest_quit(s);
}

static void test_status_stop_cont(void)
{
    QTestState *s = qtest_init("");
    bool running;
    JsonNode *r;

    g_assert_cmpstr(status_of(s, &running), ==, "running");
    g_assert_true(running);

    qtest_qmp_assert_success(s, "{'execute': 'stop'}");
    qtest_qmp_eventwait(s, "STOP");
    g_assert_cmpstr(status_of(s, &running), ==, "paused");
    g_assert_false(running);
    /* Devices still answer qtest while paused, but time does not move. */
    qtest_outw(s, 0x602, 0x100);
    g_assert_cmphex(qtest_inw(s, 0x602), ==, 0x100);
    {
        g_autofree char *reply = qtest_cmd(s, "clock_step 1000");
        g_assert_cmpstr(reply, ==, "FAIL could not advance time");
    }
    r = qtest_qmp(s, "{'execute': 'stop'}");
    /* A second stop: QEMU accepts it silently; either way no crash. */
    json_node_unref(r);

    qtest_qmp_assert_success(s, "{'execute': 'cont'}");
    qtest_qmp_eventwait(s, "RESUME");
    g_assert_cmpstr(status_of(s, &running), ==, "running");
    g_assert_cmpint(qtest_clock_step(s, 1000), ==, 1000);

    /* id is echoed. */
    r = qtest_qmp(s, "{'execute': 'query-status', 'id': 'abc'}");
    g_assert_cmpstr(qmp_get_str(qmp_obj(r), "id"), ==, "abc");
    json_node_unref(r);
    /* Unknown commands are errors, not disconnects. */
    r = qtest_qmp(s, "{'execute': 'no-such-command'}");
    g_assert_cmpstr(qmp_error_class(r), ==, "CommandNotFound");
    json_node_unref(r);
    qtest_quit(s);
}

static void test_quit(void)
{
    QTestState *s = qtest_init("");
    JsonNode *ev;

    qtest_qmp_assert_success(s, "{'execute': 'quit'}");
    ev = qtest_qmp_eventwait_ref(s, "SHUTDOWN");
    g_assert_cmpstr(qmp_get_str(json_object_get_object_member(qmp_obj(ev), "data"),
                                "reason"), ==, "host-qmp-quit");
    json_node_unref(ev);
    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 0);
    g_assert_true(qtest_qmp_eof(s, 5000));
    qtest_quit(s);
}

static void test_sigterm(void)
{
    QTestState *s = qtest_init("");
    JsonNode *ev;

    kill(qtest_pid(s), SIGTERM);
    ev = qtest_qmp_eventwait_ref(s, "SHUTDOWN");
    g_assert_cmpstr(qmp_get_str(json_object_get_object_member(qmp_obj(ev), "data"),
                                "reason"), ==, "host-signal");
    json_node_unref(ev);
    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 0);
    qtest_quit(s);
}

/*
 * The per-connection rate limiter (100 commands/s) reads the machine clock:
 * under qtest, virtual time. A burst beyond the budget is throttled no matter
 * how long the test takes in real time, and stepping the clock refills it.
 */
static void test_rate_limit_virtual_clock(void)
{
    QTestState *s = qtest_init("");
    JsonNode *r;
    int ok = 0, throttled = 0;

    /* Start with a full budget. */
    qtest_clock_step(s, 2000000000LL);
    for (int i = 0; i < 150; i++) {
        r = qtest_qmp(s, "{'execute': 'query-status'}");
        if (qmp_has_error(r)) {
            g_assert_cmpstr(qmp_error_class(r), ==, "OperationThrottled");
            throttled++;
        } else {
            ok++;
        }
        json_node_unref(r);
        if (i == 0) {
            g_usleep(20000);    /* real time passing must not matter */
        }
    }
    g_assert_cmpint(ok, ==, 100);
    g_assert_cmpint(throttled, ==, 50);
    /* 10 ms of virtual time = one more command. */
    qtest_clock_step(s, 10000000);
    r = qtest_qmp(s, "{'execute': 'query-status'}");
    g_assert_false(qmp_has_error(r));
    json_node_unref(r);
    r = qtest_qmp(s, "{'execute': 'query-status'}");
    g_assert_cmpstr(qmp_error_class(r), ==, "OperationThrottled");
    json_node_unref(r);
    qtest_clock_step(s, 1000000000LL);
    qtest_qmp_assert_success(s, "{'execute': 'query-status'}");
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/greeting", test_greeting);
    g_test_add_func("/qmp/greeting-strict", test_greeting_strict);
    g_test_add_func("/qmp/status-stop-cont", test_status_stop_cont);
    g_test_add_func("/qmp/quit", test_quit);
    g_test_add_func("/qmp/sigterm", test_sigterm);
    g_test_add_func("/qmp/rate-limit-virtual-clock", test_rate_limit_virtual_clock);
    return g_test_run();
}
