/*
 * -machine none (src/hw/machine-none.c), as libqtest's helpers and QEMU's
 * machine-independent tests use it: QMP and qtest work, there are no CPUs
 * and no devices, RAM only with -m.
 */
#include "qtest.h"

/* qtest_init() names microvm; these tests need the machine option themselves. */
static QTestState *none_init(const char *extra)
{
    g_autofree char *tmpl = g_strdup_printf(
        "-qtest unix:@QTEST@ -qtest-log none -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control -display none -machine none %s -accel qtest", extra);

    return qtest_init_cmdline(tmpl, true);
}

static void test_empty(void)
{
    QTestState *s = none_init("");
    JsonNode *r;

    r = qtest_qmp(s, "{'execute': 'qom-get', 'arguments': "
                  "{'path': '/machine', 'property': 'type'}}");
    g_assert_cmpstr(json_node_get_string(json_object_get_member(qmp_obj(r), "return")), ==,
                    "none-machine");
    json_node_unref(r);
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-cpus-fast'}");
    g_assert_cmpuint(json_array_get_length(json_node_get_array(r)), ==, 0);
    json_node_unref(r);
    /* No COM1, no PM block: ports float. */
    g_assert_cmphex(qtest_inb(s, 0x3f8 + 5), ==, 0xff);
    g_assert_cmphex(qtest_inb(s, 0x600), ==, 0xff);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(s, "RESET");
    qtest_quit(s);
}

static void test_ram_with_m(void)
{
    QTestState *s = none_init("-m 128");

    qtest_writeq(s, 0x1000, 0x1122334455667788ULL);
    g_assert_cmphex(qtest_readq(s, 0x1000), ==, 0x1122334455667788ULL);
    qtest_quit(s);
}

/* QEMU's text: a machine without the bus a device needs. */
static void test_no_devices(void)
{
    QTestState *s = none_init("");
    JsonNode *r = qtest_qmp(s, "{'execute': 'device_add', 'arguments': "
                            "{'driver': 'pvpanic', 'id': 'p'}}");

    g_assert_cmpstr(qmp_error_class(r), ==, "GenericError");
    g_assert_cmpstr(qmp_error_desc(r), ==, "No 'ISA' bus found for device 'pvpanic'");
    json_node_unref(r);
    g_assert_cmphex(qtest_inb(s, 0x505), ==, 0xff);
    qtest_quit(s);

    s = qtest_spawn_raw("-accel qtest -machine none -device pvpanic");
    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 1);
    g_assert_nonnull(strstr(qtest_stderr(s),
                            "stratus: error: No 'ISA' bus found for device 'pvpanic'"));
    qtest_set_expected_status(s, 1);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/machine-none/empty", test_empty);
    g_test_add_func("/machine-none/ram-with-m", test_ram_with_m);
    g_test_add_func("/machine-none/no-devices", test_no_devices);
    return g_test_run();
}
