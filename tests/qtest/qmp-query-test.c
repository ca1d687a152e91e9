/*
 * The QMP queries QEMU's tests send every machine (issue 17 item 7), the
 * way QEMU's qmp-cmd-test drives them: every command of query-qmp-schema
 * that needs no argument and returns something is executed on -machine none
 * and must answer, except the ones QEMU itself expects to fail there, which
 * must fail with QEMU's error class. Then the exact answers and error texts
 * (QEMU 7.2's, captured live) of the memory, chardev, feature, object and
 * qom-set commands.
 */
#include <string.h>

#include "qtest.h"

static QTestState *machine_init(const char *machine, const char *extra)
{
    g_autofree char *tmpl = g_strdup_printf(
        "-qtest unix:@QTEST@ -qtest-log none -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control -display none -machine %s %s -accel qtest",
        machine, extra);

    return qtest_init_cmdline(tmpl, true);
}

/* QEMU's own list (qmp-cmd-test.c): absent on a bare machine, and the class. */
static const char *expected_error_class(const char *cmd)
{
    static const struct { const char *cmd, *cls; } fails[] = {
        { "query-acpi-ospm-status", "GenericError" },
        { "query-balloon", "DeviceNotActive" },
        { "query-hotpluggable-cpus", "GenericError" },
        { "query-vm-generation-id", "GenericError" },
        /* Only valid with a USB bus (Stratus has none). */
        { "x-query-usb", "GenericError" },
        /* Only valid with accel=tcg, or with QEMU's profiler built in. */
        { "x-query-jit", "GenericError" },
        { "x-query-opcount", "GenericError" },
        { "x-query-profile", "GenericError" },
        { NULL, NULL }
    };

    for (unsigned i = 0; fails[i].cmd; i++) {
        if (!strcmp(cmd, fails[i].cmd)) {
            return fails[i].cls;
        }
    }
    return NULL;
}

/* QEMU skips these: their success depends on the host or the target. */
static bool query_is_ignored(const char *cmd)
{
    static const char *const ignored[] = {
        "add-fd",   /* not a query: it needs a descriptor */
        "query-cpu-definitions", "query-sev", "query-sev-capabilities",
        "query-sev-launch-measure", "query-sgx", "query-sgx-capabilities", NULL
    };

    return g_strv_contains(ignored, cmd);
}

static JsonObject *schema_find(JsonArray *schema, const char *name)
{
    for (guint i = 0; i < json_array_get_length(schema); i++) {
        JsonObject *e = json_array_get_object_element(schema, i);
        if (!strcmp(json_object_get_string_member(e, "name"), name)) {
            return e;
        }
    }
    g_assert_not_reached();
}

/* An object type with a member lacking "default" (QEMU marks optional ones so). */
static bool has_mandatory_members(JsonObject *type)
{
    JsonArray *members = json_object_get_array_member(type, "members");

    for (guint i = 0; i < json_array_get_length(members); i++) {
        if (!json_object_has_member(json_array_get_object_element(members, i), "default")) {
            return true;
        }
    }
    return false;
}

static bool runs_without_arguments(JsonArray *schema, JsonObject *cmd)
{
    JsonObject *args = schema_find(schema, json_object_get_string_member(cmd, "arg-type"));
    JsonObject *ret = schema_find(schema, json_object_get_string_member(cmd, "ret-type"));

    if (has_mandatory_members(args)) {
        return false;
    }
    return strcmp(json_object_get_string_member(ret, "meta-type"), "object") ||
           json_array_get_length(json_object_get_array_member(ret, "members")) > 0;
}

static void test_every_query(void)
{
    QTestState *s = machine_init("none", "-nodefaults");
    JsonNode *r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-qmp-schema'}");
    JsonArray *schema = json_node_get_array(r);
    unsigned ran = 0;

    for (guint i = 0; i < json_array_get_length(schema); i++) {
        JsonObject *e = json_array_get_object_element(schema, i);
        const char *name = json_object_get_string_member(e, "name");
        const char *cls;
        JsonNode *reply;

        if (strcmp(json_object_get_string_member(e, "meta-type"), "command") ||
            query_is_ignored(name) || !runs_without_arguments(schema, e) ||
            !strcmp(name, "quit") || !strcmp(name, "qmp_capabilities")) {
            continue;
        }
        reply = qtest_qmp(s, "{'execute': '%s'}", name);
        cls = expected_error_class(name);
        if (cls) {
            g_assert_cmpstr(qmp_error_class(reply), ==, cls);
        } else if (qmp_has_error(reply)) {
            g_error("%s: %s", name, qmp_error_desc(reply));
        }
        json_node_unref(reply);
        ran++;
    }
    /* The commands this test is about are all among them. */
    g_assert_cmpuint(ran, >=, 20);
    json_node_unref(r);
    qtest_quit(s);
}

static void assert_error(QTestState *s, const char *cmd, const char *cls, const char *desc)
{
    JsonNode *r = qtest_qmp(s, "%s", cmd);

    g_assert_cmpstr(qmp_error_class(r), ==, cls);
    g_assert_cmpstr(qmp_error_desc(r), ==, desc);
    json_node_unref(r);
}

static JsonObject *array_object(JsonNode *n, guint i)
{
    return json_array_get_object_element(json_node_get_array(n), i);
}

/* microvm's RAM under QEMU's id, then a memory-backend-ram added and removed. */
static void test_memory(void)
{
    QTestState *s = machine_init("microvm", "-m 256M");
    JsonNode *r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-memdev'}");
    JsonObject *o;

    g_assert_cmpuint(json_array_get_length(json_node_get_array(r)), ==, 1);
    o = array_object(r, 0);
    g_assert_cmpstr(qmp_get_str(o, "id"), ==, "microvm.ram");
    g_assert_cmpint(json_object_get_int_member(o, "size"), ==, 256 << 20);
    g_assert_true(json_object_get_boolean_member(o, "merge"));
    g_assert_cmpstr(qmp_get_str(o, "policy"), ==, "default");
    json_node_unref(r);

    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-memory-size-summary'}");
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(r), "base-memory"), ==,
                    256 << 20);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(r), "plugged-memory"),
                    ==, 0);
    json_node_unref(r);
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-memory-devices'}");
    g_assert_cmpuint(json_array_get_length(json_node_get_array(r)), ==, 0);
    json_node_unref(r);

    qtest_qmp_assert_success(s, "{'execute': 'object-add', 'arguments': {'qom-type': "
                             "'memory-backend-ram', 'id': 'm0', 'size': 1048576, "
                             "'share': true}}");
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-memdev'}");
    o = array_object(r, 0);
    g_assert_cmpstr(qmp_get_str(o, "id"), ==, "m0");
    g_assert_cmpint(json_object_get_int_member(o, "size"), ==, 1048576);
    g_assert_true(json_object_get_boolean_member(o, "share"));
    json_node_unref(r);
    qtest_qmp_assert_success(s, "{'execute': 'object-del', 'arguments': {'id': 'm0'}}");
    qtest_quit(s);
}

/* QEMU's qmp-cmd-test object-add sequence, with QEMU 7.2's texts. */
static void test_object_add_failure_modes(void)
{
    QTestState *s = machine_init("none", "");
    static const char add[] = "{'execute': 'object-add', 'arguments': "
                              "{'qom-type': 'memory-backend-ram', 'id': 'ram1', "
                              "'size': 1048576}}";

    assert_error(s, "{'execute': 'object-add', 'arguments': {'qom-type': "
                 "'memory-backend-ram', 'id': 'ram1'}}", "GenericError",
                 "Parameter 'size' is missing");
    assert_error(s, "{'execute': 'object-add', 'arguments': {'id': 'ram1'}}",
                 "GenericError", "Parameter 'qom-type' is missing");
    assert_error(s, "{'execute': 'object-del', 'arguments': {'id': 'ram1'}}",
                 "GenericError", "object 'ram1' not found");
    qtest_qmp_assert_success(s, add);
    assert_error(s, add, "GenericError",
                 "attempt to add duplicate property 'ram1' to object (type 'container')");
    qtest_qmp_assert_success(s, "{'execute': 'object-del', 'arguments': {'id': 'ram1'}}");
    assert_error(s, "{'execute': 'object-add', 'arguments': {'qom-type': "
                 "'memory-backend-ram', 'id': 'ram1', 'size': '1048576'}}",
                 "GenericError", "Parameter 'size' expects uint64");
    assert_error(s, "{'execute': 'object-add', 'arguments': {'qom-type': "
                 "'memory-backend-ram', 'size': 1048576}}",
                 "GenericError", "Parameter 'id' is missing");
    assert_error(s, "{'execute': 'object-add', 'arguments': {'qom-type': "
                 "'memory-backend-ram', 'id': 'ram1', 'sized': 1048576}}",
                 "GenericError", "Parameter 'size' is missing");
    assert_error(s, "{'execute': 'object-add', 'arguments': {'qom-type': "
                 "'memory-backend-ram', 'id': 'ram1', 'size': 4096, 'sized': 1}}",
                 "GenericError", "Parameter 'sized' is unexpected");
    assert_error(s, "{'execute': 'object-add', 'arguments': {'qom-type': "
                 "'memory-backend-ram', 'id': 'ram1', 'size': 0}}", "GenericError",
                 "property 'size' of memory-backend-ram doesn't take value '0'");
    assert_error(s, "{'execute': 'object-add', 'arguments': {'qom-type': "
                 "'rng-random', 'id': 'r', 'size': 1}}", "GenericError",
                 "Parameter 'size' is unexpected");
    assert_error(s, "{'execute': 'object-del', 'arguments': {'ida': 'ram1'}}",
                 "GenericError", "Parameter 'id' is missing");
    qtest_qmp_assert_success(s, add);
    qtest_qmp_assert_success(s, "{'execute': 'object-del', 'arguments': {'id': 'ram1'}}");
    qtest_quit(s);
}

static void test_qom_set(void)
{
    QTestState *s = machine_init("microvm", "-device pvpanic,id=pp -device pvpanic,ioport=0x506");

    assert_error(s, "{'execute': 'qom-set', 'arguments': {'path': '/machine', "
                 "'property': 'rtc-time'}}", "GenericError", "Parameter 'value' is missing");
    assert_error(s, "{'execute': 'qom-set', 'arguments': {'path': '/machine', "
                 "'property': 'type', 'value': 'x'}}", "GenericError",
                 "Property 'microvm-machine.type' is not writable");
    assert_error(s, "{'execute': 'qom-set', 'arguments': {'path': '/machine', "
                 "'property': 'peripheral', 'value': 'x'}}", "GenericError",
                 "Property 'microvm-machine.peripheral' is not writable");
    assert_error(s, "{'execute': 'qom-set', 'arguments': {'path': '/machine', "
                 "'property': 'nope', 'value': 1}}", "GenericError",
                 "Property 'microvm-machine.nope' not found");
    assert_error(s, "{'execute': 'qom-set', 'arguments': {'path': '/nope', "
                 "'property': 'type', 'value': 1}}", "DeviceNotFound",
                 "Device '/nope' not found");
    assert_error(s, "{'execute': 'qom-set', 'arguments': {'path': 'pp', "
                 "'property': 'events', 'value': 1}}", "GenericError",
                 "Attempt to set property 'events' on device 'pp' (type 'pvpanic') "
                 "after it was realized");
    assert_error(s, "{'execute': 'qom-set', 'arguments': {'path': "
                 "'/machine/peripheral-anon/device[0]', 'property': 'events', 'value': 1}}",
                 "GenericError", "Attempt to set property 'events' on anonymous device "
                 "(type 'pvpanic') after it was realized");
    qtest_quit(s);
}

static void test_chardev(void)
{
    QTestState *s = machine_init("none", "-nodefaults -chardev null,id=n0");
    JsonNode *r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-chardev'}");
    g_autofree char *dump = NULL;

    /* libqtest's monitor (a connected client: "unix:"), n0, the qtest socket. */
    g_assert_cmpuint(json_array_get_length(json_node_get_array(r)), ==, 3);
    g_assert_cmpstr(qmp_get_str(array_object(r, 0), "label"), ==, "char0");
    g_assert_cmpstr(qmp_get_str(array_object(r, 0), "filename"), ==, "unix:");
    g_assert_true(json_object_get_boolean_member(array_object(r, 0), "frontend-open"));
    g_assert_cmpstr(qmp_get_str(array_object(r, 1), "label"), ==, "n0");
    g_assert_cmpstr(qmp_get_str(array_object(r, 1), "filename"), ==, "null");
    g_assert_false(json_object_get_boolean_member(array_object(r, 1), "frontend-open"));
    g_assert_cmpstr(qmp_get_str(array_object(r, 2), "label"), ==, "qtest");
    json_node_unref(r);

    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-yank'}");
    g_assert_cmpuint(json_array_get_length(json_node_get_array(r)), ==, 1);
    g_assert_cmpstr(qmp_get_str(array_object(r, 0), "id"), ==, "char0");
    g_assert_cmpstr(qmp_get_str(array_object(r, 0), "type"), ==, "chardev");
    json_node_unref(r);

    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-chardev-backends'}");
    dump = json_to_string(r, FALSE);
    g_assert_cmpstr(dump, ==, "[{\"name\":\"stdio\"},{\"name\":\"pty\"},{\"name\":\"file\"},"
                              "{\"name\":\"socket\"},{\"name\":\"null\"}]");
    json_node_unref(r);
    qtest_quit(s);
}

/* What Stratus does not have answers as QEMU 7.2 does without it. */
static void test_absent_features(void)
{
    QTestState *s = machine_init("microvm", "");
    JsonNode *r;

    assert_error(s, "{'execute': 'query-acpi-ospm-status'}", "GenericError",
                 "command is not supported, missing ACPI device");
    assert_error(s, "{'execute': 'query-sev-capabilities'}", "GenericError",
                 "KVM not enabled");
    assert_error(s, "{'execute': 'query-sev-launch-measure'}", "GenericError",
                 "SEV launch measurement is not available");
    assert_error(s, "{'execute': 'query-sgx'}", "GenericError",
                 "SGX is only supported on PC machines");
    assert_error(s, "{'execute': 'query-sgx-capabilities'}", "GenericError",
                 "SGX is not enabled in KVM");
    assert_error(s, "{'execute': 'query-vm-generation-id'}", "GenericError",
                 "VM Generation ID device not found");
    assert_error(s, "{'execute': 'query-command-line-options', 'arguments': "
                 "{'option': 'nope'}}", "GenericError", "invalid option name: nope");
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-sev'}");
    g_assert_false(json_object_get_boolean_member(json_node_get_object(r), "enabled"));
    g_assert_cmpstr(qmp_get_str(json_node_get_object(r), "state"), ==, "uninit");
    json_node_unref(r);
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-replay'}");
    g_assert_cmpstr(qmp_get_str(json_node_get_object(r), "mode"), ==, "none");
    json_node_unref(r);
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-display-options'}");
    g_assert_cmpstr(qmp_get_str(json_node_get_object(r), "type"), ==, "none");
    json_node_unref(r);
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-current-machine'}");
    g_assert_false(json_object_get_boolean_member(json_node_get_object(r),
                                                  "wakeup-suspend-support"));
    json_node_unref(r);
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-command-line-options', "
                                     "'arguments': {'option': 'memory'}}");
    g_assert_cmpstr(qmp_get_str(array_object(r, 0), "option"), ==, "memory");
    json_node_unref(r);
    /* microvm lists its CPU slots (StratoVirt); -machine none has none. */
    qtest_qmp_assert_success(s, "{'execute': 'query-hotpluggable-cpus'}");
    qtest_quit(s);

    s = machine_init("none", "");
    assert_error(s, "{'execute': 'query-hotpluggable-cpus'}", "GenericError",
                 "The feature 'query-hotpluggable-cpus' is not enabled");
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-query/every-query", test_every_query);
    g_test_add_func("/qmp-query/memory", test_memory);
    g_test_add_func("/qmp-query/object-add-failure-modes", test_object_add_failure_modes);
    g_test_add_func("/qmp-query/qom-set", test_qom_set);
    g_test_add_func("/qmp-query/chardev", test_chardev);
    g_test_add_func("/qmp-query/absent-features", test_absent_features);
    return g_test_run();
}
