/*
 * pvpanic (src/hw/misc/pvpanic.c, docs/devices.md): the event mask read back
 * at the port, GUEST_PANICKED + pause into guest-panicked and `cont` out of
 * it, GUEST_CRASHLOADED with the VM left running, the `events` mask and the
 * `ioport` property, the registry's view of it (device-list-properties,
 * qom-get), device_add/device_del refused, and the port being free without
 * the device.
 */
#include <string.h>
#include "qtest.h"

#define PORT 0x505
#define PANICKED 1
#define CRASH_LOADED 2

/* The event's "data" member as compact JSON (member order kept). */
static char *event_data(JsonNode *ev)
{
    JsonNode *data = json_object_get_member(qmp_obj(ev), "data");

    g_assert_nonnull(data);
    return json_to_string(data, FALSE);
}

static void assert_status(QTestState *s, const char *status, bool running)
{
    JsonNode *r = qtest_qmp(s, "{'execute': 'query-status'}");
    JsonObject *o = qmp_return_obj(r);

    g_assert_cmpstr(qmp_get_str(o, "status"), ==, status);
    g_assert_cmpint(json_object_get_boolean_member(o, "running"), ==, running);
    json_node_unref(r);
}

/*
 * No event of that name arrived: a query-status round trip first, so that any
 * event the port write caused (written before the reply) has been read.
 */
static void assert_no_event(QTestState *s, const char *name)
{
    JsonNode *ev;

    assert_status(s, "running", true);
    ev = qtest_qmp_event_ref(s, name);
    if (ev) {
        g_error("unexpected event %s", json_to_string(ev, FALSE));
    }
}

static void test_probe(void)
{
    QTestState *s = qtest_init("-device pvpanic");

    g_assert_cmphex(qtest_inb(s, PORT), ==, PANICKED | CRASH_LOADED);
    /* One byte wide: the ports around it are not the device's. */
    g_assert_cmphex(qtest_inb(s, PORT - 1), ==, 0xff);
    g_assert_cmphex(qtest_inb(s, PORT + 1), ==, 0xff);
    qtest_quit(s);
}

static void test_panicked_pauses(void)
{
    QTestState *s = qtest_init("-device pvpanic");
    g_autofree char *data = NULL;
    g_autofree char *reply = NULL;
    JsonNode *ev;

    qtest_outb(s, PORT, PANICKED);
    /* QEMU's order: the panic event, then the pause's STOP. */
    ev = qtest_qmp_receive(s);
    g_assert_cmpstr(qmp_get_str(qmp_obj(ev), "event"), ==, "GUEST_PANICKED");
    data = event_data(ev);
    g_assert_cmpstr(data, ==, "{\"action\":\"pause\"}");
    json_node_unref(ev);
    ev = qtest_qmp_receive(s);
    g_assert_cmpstr(qmp_get_str(qmp_obj(ev), "event"), ==, "STOP");
    json_node_unref(ev);
    assert_status(s, "guest-panicked", false);
    /* Really paused: the virtual clock only moves while the VM runs. */
    reply = qtest_cmd(s, "clock_step 1000");
    g_assert_cmpstr(reply, ==, "FAIL could not advance time");

    qtest_qmp_assert_success(s, "{'execute': 'cont'}");
    qtest_qmp_eventwait(s, "RESUME");
    assert_status(s, "running", true);
    qtest_clock_step(s, 1000);
    /* The device still answers and can panic again. */
    g_assert_cmphex(qtest_inb(s, PORT), ==, PANICKED | CRASH_LOADED);
    qtest_outb(s, PORT, PANICKED);
    qtest_qmp_eventwait(s, "GUEST_PANICKED");
    qtest_qmp_eventwait(s, "STOP");
    assert_status(s, "guest-panicked", false);
    qtest_quit(s);
}

static void test_crashloaded_runs(void)
{
    QTestState *s = qtest_init("-device pvpanic");
    g_autofree char *data = NULL;
    JsonNode *ev;

    qtest_outb(s, PORT, CRASH_LOADED);
    ev = qtest_qmp_eventwait_ref(s, "GUEST_CRASHLOADED");
    data = event_data(ev);
    g_assert_cmpstr(data, ==, "{\"action\":\"run\"}");
    json_node_unref(ev);
    assert_no_event(s, "STOP");
    qtest_clock_step(s, 1000);
    /* Every write is reported, not just the first. */
    qtest_outb(s, PORT, CRASH_LOADED);
    qtest_qmp_eventwait(s, "GUEST_CRASHLOADED");
    assert_no_event(s, "STOP");
    qtest_quit(s);
}

/* Both bits in one write: the one the host must act on wins (as QEMU). */
static void test_both_bits(void)
{
    QTestState *s = qtest_init("-device pvpanic");

    qtest_outb(s, PORT, PANICKED | CRASH_LOADED);
    qtest_qmp_eventwait(s, "GUEST_PANICKED");
    qtest_qmp_eventwait(s, "STOP");
    assert_status(s, "guest-panicked", false);
    g_assert_null(qtest_qmp_event_ref(s, "GUEST_CRASHLOADED"));
    qtest_quit(s);
}

static void test_events_mask(void)
{
    QTestState *s = qtest_init("-device pvpanic,events=1");

    g_assert_cmphex(qtest_inb(s, PORT), ==, PANICKED);
    /* Not enabled: ignored. Bits the device never knew: ignored too. */
    qtest_outb(s, PORT, CRASH_LOADED);
    qtest_outb(s, PORT, 0xfc);
    assert_no_event(s, "GUEST_CRASHLOADED");
    assert_no_event(s, "GUEST_PANICKED");
    qtest_outb(s, PORT, PANICKED);
    qtest_qmp_eventwait(s, "GUEST_PANICKED");
    qtest_quit(s);

    s = qtest_init("-device pvpanic,events=0");
    g_assert_cmphex(qtest_inb(s, PORT), ==, 0);
    qtest_outb(s, PORT, PANICKED | CRASH_LOADED);
    assert_no_event(s, "GUEST_PANICKED");
    assert_no_event(s, "GUEST_CRASHLOADED");
    qtest_quit(s);
}

static void test_ioport(void)
{
    QTestState *s = qtest_init("-device pvpanic,ioport=0x506");

    g_assert_cmphex(qtest_inb(s, 0x506), ==, PANICKED | CRASH_LOADED);
    g_assert_cmphex(qtest_inb(s, PORT), ==, 0xff);
    qtest_outb(s, PORT, PANICKED);
    assert_no_event(s, "GUEST_PANICKED");
    qtest_outb(s, 0x506, PANICKED);
    qtest_qmp_eventwait(s, "GUEST_PANICKED");
    qtest_quit(s);

    /* Two of them on their own ports both work. */
    s = qtest_init("-device pvpanic -device pvpanic,ioport=0x507,events=2");
    g_assert_cmphex(qtest_inb(s, PORT), ==, PANICKED | CRASH_LOADED);
    g_assert_cmphex(qtest_inb(s, 0x507), ==, CRASH_LOADED);
    qtest_quit(s);
}

/* The registry's view: QEMU's device-list-properties, qom-get of the values. */
static void test_properties(void)
{
    QTestState *s = qtest_init("-device pvpanic,id=pv0,ioport=0x506");
    JsonNode *r;
    g_autofree char *props = NULL;

    r = qtest_qmp_assert_success_ref(s, "{'execute': 'device-list-properties', "
                                     "'arguments': {'typename': 'pvpanic'}}");
    props = json_to_string(r, FALSE);
    g_assert_cmpstr(props, ==, "[{\"default-value\":1285,\"name\":\"ioport\",\"type\":\"uint16\"},"
                    "{\"default-value\":3,\"name\":\"events\",\"type\":\"uint8\"}]");
    json_node_unref(r);
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'qom-get', 'arguments': "
                                     "{'path': '/machine/peripheral/pv0', 'property': 'ioport'}}");
    g_assert_cmpint(json_node_get_int(r), ==, 0x506);
    json_node_unref(r);
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'qom-get', 'arguments': "
                                     "{'path': '/machine/peripheral/pv0', 'property': 'events'}}");
    g_assert_cmpint(json_node_get_int(r), ==, 3);
    json_node_unref(r);
    qtest_quit(s);
}

/* ISA has no hot-plug: device_add and device_del are refused, nothing changes. */
static void test_not_hotpluggable(void)
{
    QTestState *s = qtest_init("-device pvpanic,id=pv0");
    JsonNode *r;

    r = qtest_qmp(s, "{'execute': 'device_add', 'arguments': "
                  "{'driver': 'pvpanic', 'id': 'pv1', 'ioport': 1286}}");
    g_assert_cmpstr(qmp_error_class(r), ==, "GenericError");
    json_node_unref(r);
    g_assert_cmphex(qtest_inb(s, 0x506), ==, 0xff);

    r = qtest_qmp(s, "{'execute': 'device_del', 'arguments': {'id': 'pv0'}}");
    g_assert_cmpstr(qmp_error_class(r), ==, "GenericError");
    g_assert_cmpstr(qmp_error_desc(r), ==, "Device 'pv0' does not support hotplugging");
    json_node_unref(r);
    g_assert_null(qtest_qmp_event_ref(s, "DEVICE_DELETED"));
    g_assert_cmphex(qtest_inb(s, PORT), ==, PANICKED | CRASH_LOADED);
    qtest_quit(s);
}

/* system_reset keeps the device (its configuration is not state). */
static void test_reset(void)
{
    QTestState *s = qtest_init("-device pvpanic,events=2");

    qtest_outb(s, PORT, CRASH_LOADED);
    qtest_qmp_eventwait(s, "GUEST_CRASHLOADED");
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(s, "RESET");
    g_assert_cmphex(qtest_inb(s, PORT), ==, CRASH_LOADED);
    qtest_outb(s, PORT, CRASH_LOADED);
    qtest_qmp_eventwait(s, "GUEST_CRASHLOADED");
    qtest_quit(s);
}

/* A reset panicked machine waits in prelaunch (QEMU's transition) for cont. */
static void test_reset_after_panic(void)
{
    QTestState *s = qtest_init("-device pvpanic");

    qtest_outb(s, PORT, PANICKED);
    qtest_qmp_eventwait(s, "STOP");
    assert_status(s, "guest-panicked", false);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(s, "RESET");
    assert_status(s, "prelaunch", false);
    qtest_qmp_assert_success(s, "{'execute': 'cont'}");
    qtest_qmp_eventwait(s, "RESUME");
    assert_status(s, "running", true);
    qtest_quit(s);
}

static void test_absent(void)
{
    QTestState *s = qtest_init("");

    g_assert_cmphex(qtest_inb(s, PORT), ==, 0xff);
    qtest_outb(s, PORT, PANICKED);
    assert_no_event(s, "GUEST_PANICKED");
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pvpanic/probe", test_probe);
    g_test_add_func("/pvpanic/panicked-pauses", test_panicked_pauses);
    g_test_add_func("/pvpanic/crashloaded-runs", test_crashloaded_runs);
    g_test_add_func("/pvpanic/both-bits", test_both_bits);
    g_test_add_func("/pvpanic/events-mask", test_events_mask);
    g_test_add_func("/pvpanic/ioport", test_ioport);
    g_test_add_func("/pvpanic/properties", test_properties);
    g_test_add_func("/pvpanic/not-hotpluggable", test_not_hotpluggable);
    g_test_add_func("/pvpanic/reset", test_reset);
    g_test_add_func("/pvpanic/reset-after-panic", test_reset_after_panic);
    g_test_add_func("/pvpanic/absent", test_absent);
    return g_test_run();
}
