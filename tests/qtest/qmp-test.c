/*
 * QMP alongside qtest: greeting, negotiation (strict by default on libqtest's
 * -mon, lenient on request), OOB as QEMU offers it, query-status, stop/cont
 * events, quit, SIGTERM, and the rate limiter: host time even under qtest,
 * off by default in strict mode, set per monitor with rate-limit=.
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

#define LENIENT_CMDLINE \
    "-qtest unix:@QTEST@ -qtest-log none -chardev socket,path=@QMP@,id=char0 " \
    "-mon chardev=char0,mode=control,qmp-mode=lenient -display none -accel qtest"

/* StratoVirt's lenient mode, asked for on the -mon: commands work before negotiation. */
static void test_greeting(void)
{
    QTestState *s = qtest_init_cmdline(LENIENT_CMDLINE, false);
    bool running;

    check_greeting(s);
    g_assert_cmpstr(status_of(s, &running), ==, "running");
    qtest_qmp_assert_success(s, "{'execute': 'qmp_capabilities'}");
    /* The qtest side is independent and still answers. */
    g_assert_cmphex(qtest_inb(s, 0x5000), ==, 0xff);
    qtest_quit(s);
}

/*
 * QEMU's strict mode, the default of a -mon under -accel qtest (libqtest's
 * command line, no qmp-mode=): capabilities negotiation first.
 */
static void test_greeting_strict(void)
{
    QTestState *s = qtest_init_without_qmp_handshake("");
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

/* The capabilities of the greeting; the caller frees the array. */
static JsonArray *greeting_capabilities(QTestState *s)
{
    JsonNode *g = qtest_qmp_receive(s);
    JsonObject *qmp = json_object_get_object_member(qmp_obj(g), "QMP");
    JsonArray *caps = json_array_ref(json_object_get_array_member(qmp, "capabilities"));

    json_node_unref(g);
    return caps;
}

static void assert_generic_error(JsonNode *r, const char *id, const char *desc)
{
    g_assert_cmpstr(qmp_error_class(r), ==, "GenericError");
    g_assert_cmpstr(qmp_error_desc(r), ==, desc);
    g_assert_cmpstr(qmp_get_str(qmp_obj(r), "id"), ==, id);
    json_node_unref(r);
}

/*
 * QEMU's OOB on a strict socket monitor: "oob" offered first, refused
 * before it is enabled, then exec-oob runs the commands that allow it
 * (migrate-pause, with QEMU's error outside postcopy) and refuses the others.
 */
static void test_oob_negotiation(void)
{
    QTestState *s = qtest_init_without_qmp_handshake("");
    JsonArray *caps = greeting_capabilities(s);
    JsonNode *r;

    g_assert_cmpuint(json_array_get_length(caps), ==, 1);
    g_assert_cmpstr(json_array_get_string_element(caps, 0), ==, "oob");
    json_array_unref(caps);
    r = qtest_qmp(s, "{'execute': 'qmp_capabilities', "
                     "'arguments': {'enable': ['cap-does-not-exist']}}");
    g_assert_cmpstr(qmp_error_class(r), ==, "GenericError");
    json_node_unref(r);
    qtest_qmp_assert_success(s, "{'execute': 'qmp_capabilities', "
                                "'arguments': {'enable': ['oob']}}");
    assert_generic_error(qtest_qmp(s, "{'exec-oob': 'query-cpus-fast', 'id': 'e1'}"), "e1",
                         "The command query-cpus-fast does not support OOB");
    assert_generic_error(qtest_qmp(s, "{'exec-oob': 'migrate-pause', 'id': 'e2'}"), "e2",
                         "migrate-pause is currently only supported during "
                         "postcopy-active state");
    assert_generic_error(qtest_qmp(s, "{'execute': 'query-status', "
                                      "'exec-oob': 'migrate-pause', 'id': 'e3'}"),
                         "e3", "QMP input member 'execute' clashes with 'exec-oob'");
    qtest_quit(s);

    /* Without "enable", exec-oob is an unknown member, as in QEMU. */
    s = qtest_init("");
    assert_generic_error(qtest_qmp(s, "{'exec-oob': 'migrate-pause', 'id': 'e4'}"), "e4",
                         "QMP input member 'exec-oob' is unexpected");
    qtest_quit(s);

    /* A lenient monitor keeps StratoVirt's greeting: nothing offered. */
    s = qtest_init_cmdline(LENIENT_CMDLINE, false);
    caps = greeting_capabilities(s);
    g_assert_cmpuint(json_array_get_length(caps), ==, 0);
    json_array_unref(caps);
    assert_generic_error(qtest_qmp(s, "{'execute': 'qmp_capabilities', 'id': 'e5', "
                                      "'arguments': {'enable': ['oob']}}"),
                         "e5", "Capability 'oob' not available");
    qtest_quit(s);
}

/* In-band requests received with an exec-oob one are answered after it. */
static void test_oob_ahead_of_queue(void)
{
    QTestState *s = qtest_init_without_qmp_handshake("");
    const char *ids[] = { "oob", "ib1", "ib2", "ib3" };

    json_array_unref(greeting_capabilities(s));
    qtest_qmp_assert_success(s, "{'execute': 'qmp_capabilities', "
                                "'arguments': {'enable': ['oob']}}");
    qtest_qmp_send_raw(s, "{\"execute\":\"query-status\",\"id\":\"ib1\"}"
                          "{\"execute\":\"query-name\",\"id\":\"ib2\"}"
                          "{\"execute\":\"query-uuid\",\"id\":\"ib3\"}"
                          "{\"exec-oob\":\"migrate-pause\",\"id\":\"oob\"}");
    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        JsonNode *r = qtest_qmp_receive_reply(s);
        g_assert_cmpstr(qmp_get_str(qmp_obj(r), "id"), ==, ids[i]);
        g_assert_cmpint(qmp_has_error(r), ==, i == 0);
        json_node_unref(r);
    }
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
 * Sends n query-status requests in one go (pipelined, so host time barely
 * moves meanwhile) and counts the replies: *ok successes, the rest must be
 * OperationThrottled with desc.
 */
static void qmp_burst(QTestState *s, int n, const char *throttled_desc, int *ok,
                      int *throttled)
{
    GString *burst = g_string_new(NULL);

    *ok = *throttled = 0;
    for (int i = 0; i < n; i++) {
        g_string_append_printf(burst, "{\"execute\":\"query-status\",\"id\":%d}", i);
    }
    qtest_qmp_send_raw(s, burst->str);
    for (int i = 0; i < n; i++) {
        JsonNode *r = qtest_qmp_receive_reply(s);
        g_assert_cmpint(json_object_get_int_member(qmp_obj(r), "id"), ==, i);
        if (qmp_has_error(r)) {
            g_assert_cmpstr(qmp_error_class(r), ==, "OperationThrottled");
            g_assert_cmpstr(qmp_error_desc(r), ==, throttled_desc);
            (*throttled)++;
        } else {
            (*ok)++;
        }
        json_node_unref(r);
    }
    g_string_free(burst, TRUE);
}

/*
 * The default (lenient) monitor keeps StratoVirt's 100 commands/s, measured
 * on the host's clock even under qtest: a burst beyond the budget is
 * throttled, and real time - not the virtual clock, which this test never
 * steps - refills it. (On qtest's virtual clock a throttled connection used
 * to stay throttled for good, quit included.)
 */
static void test_rate_limit_host_clock(void)
{
    QTestState *s = qtest_init_cmdline(LENIENT_CMDLINE, true);
    int ok, throttled;

    g_usleep(G_USEC_PER_SEC + 100000);      /* a full budget after the handshake */
    qmp_burst(s, 150, "More than 100 requests received during 1 second", &ok, &throttled);
    /* A slow host may refill one every 10 ms while the burst is served. */
    g_assert_cmpint(ok, >=, 100);
    g_assert_cmpint(ok, <=, 110);
    g_assert_cmpint(ok + throttled, ==, 150);
    /* Stepping virtual time does not refill it... */
    qtest_clock_step(s, 10 * 1000000000LL);
    qmp_burst(s, 150, "More than 100 requests received during 1 second", &ok, &throttled);
    g_assert_cmpint(ok, <=, 20);
    /* ...host time does. */
    g_usleep(G_USEC_PER_SEC + 100000);
    qtest_qmp_assert_success(s, "{'execute': 'query-status'}");
    qtest_qmp_assert_success(s, "{'execute': 'quit'}");
    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 0);
    qtest_quit(s);
}

/*
 * QEMU-compatible (strict) mode has no limit by default: what qemu.qmp and
 * its users send in a loop. 500 commands, then quit ends the VMM.
 */
static void test_strict_no_rate_limit(void)
{
    QTestState *s = qtest_init_cmdline(
        "-qtest unix:@QTEST@ -qtest-log none -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control,qmp-mode=strict -display none -accel qtest",
        true);
    int ok, throttled;

    for (int i = 0; i < 250; i++) {
        qtest_qmp_assert_success(s, "{'execute': 'query-status'}");
    }
    qmp_burst(s, 250, "", &ok, &throttled);
    g_assert_cmpint(ok, ==, 250);
    qtest_qmp_assert_success(s, "{'execute': 'quit'}");
    qtest_qmp_eventwait(s, "SHUTDOWN");
    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 0);
    qtest_quit(s);
}

/* rate-limit= on a strict monitor turns a limit on; rate-limit=off lifts lenient's. */
static void test_rate_limit_setting(void)
{
    QTestState *s = qtest_init_cmdline(
        "-qtest unix:@QTEST@ -qtest-log none -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control,qmp-mode=strict,rate-limit=20 -display none "
        "-accel qtest", true);
    int ok, throttled;

    g_usleep(G_USEC_PER_SEC + 100000);
    qmp_burst(s, 40, "More than 20 requests received during 1 second", &ok, &throttled);
    g_assert_cmpint(ok, >=, 20);
    g_assert_cmpint(ok, <=, 22);        /* one per 50 ms on a slow host */
    g_assert_cmpint(throttled, ==, 40 - ok);
    qtest_quit(s);

    s = qtest_init_cmdline(
        "-qtest unix:@QTEST@ -qtest-log none -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control,rate-limit=off -display none -accel qtest", true);
    qmp_burst(s, 500, "", &ok, &throttled);
    g_assert_cmpint(ok, ==, 500);
    qtest_qmp_assert_success(s, "{'execute': 'quit'}");
    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 0);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/greeting", test_greeting);
    g_test_add_func("/qmp/greeting-strict", test_greeting_strict);
    g_test_add_func("/qmp/oob-negotiation", test_oob_negotiation);
    g_test_add_func("/qmp/oob-ahead-of-queue", test_oob_ahead_of_queue);
    g_test_add_func("/qmp/status-stop-cont", test_status_stop_cont);
    g_test_add_func("/qmp/quit", test_quit);
    g_test_add_func("/qmp/sigterm", test_sigterm);
    g_test_add_func("/qmp/rate-limit-host-clock", test_rate_limit_host_clock);
    g_test_add_func("/qmp/strict-no-rate-limit", test_strict_no_rate_limit);
    g_test_add_func("/qmp/rate-limit-setting", test_rate_limit_setting);
    return g_test_run();
}
