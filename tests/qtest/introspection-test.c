/*
 * Truthful introspection (issue 17.5), cross-checked the way QEMU's own
 * tests rely on it: every machine query-machines lists starts under qtest;
 * every user-creatable device `device_add help` lists is a concrete device
 * type of qom-list-types, and its device-list-properties names exactly the
 * properties `device_add DRIVER,help` prints; qom-list and qom-get agree
 * on the type of every object of the composition tree (`info qom-tree`);
 * an unknown -device driver is a start-up error. Also HMP's answers in text
 * for everything (issue 17.4).
 */
#include <string.h>
#include "qtest.h"

#define CMDLINE_FMT                                                            \
    "-qtest unix:@QTEST@ -qtest-log none -chardev socket,path=@QMP@,id=char0 " \
    "-mon chardev=char0,mode=control -display none -machine %s -accel qtest"

/* human-monitor-command's text (it always answers a string). */
static char *hmp(QTestState *s, const char *line)
{
    g_autofree char *req = g_strdup_printf(
        "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"%s\"}}",
        line);
    JsonNode *r;
    char *text;

    qtest_qmp_send_raw(s, req);
    r = qtest_qmp_receive_reply(s);
    g_assert_false(qmp_has_error(r));
    text = g_strdup(json_object_get_string_member(qmp_obj(r), "return"));
    json_node_unref(r);
    return text;
}

static JsonArray *qmp_return_array(JsonNode *r)
{
    JsonNode *ret = json_object_get_member(qmp_obj(r), "return");

    g_assert_nonnull(ret);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(ret));
    return json_node_get_array(ret);
}

/* Every machine of query-machines starts and answers QMP and qtest. */
static void test_machines_start(void)
{
    QTestState *s = qtest_init("");
    JsonNode *r = qtest_qmp(s, "{'execute': 'query-machines'}");
    JsonArray *a = qmp_return_array(r);
    guint n = json_array_get_length(a);

    g_assert_cmpuint(n, >, 0);
    for (guint i = 0; i < n; i++) {
        const char *name = json_object_get_string_member(
            json_array_get_object_element(a, i), "name");
        g_autofree char *cmd = g_strdup_printf(CMDLINE_FMT, name);
        QTestState *m = qtest_init_cmdline(cmd, true);
        JsonNode *cur = qtest_qmp(m, "{'execute': 'query-status'}");
        g_autofree char *endian = NULL;

        g_test_message("machine %s", name);
        g_assert_false(qmp_has_error(cur));
        json_node_unref(cur);
        endian = qtest_cmd(m, "endianness");
        g_assert_cmpstr(endian, ==, "OK little");
        qtest_quit(m);
    }
    json_node_unref(r);
    qtest_quit(s);
}

static gint by_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The property names of device-list-properties, sorted. */
static GPtrArray *qmp_prop_names(QTestState *s, const char *type)
{
    g_autofree char *req = g_strdup_printf(
        "{\"execute\":\"device-list-properties\",\"arguments\":{\"typename\":\"%s\"}}",
        type);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    JsonNode *r;
    JsonArray *a;

    qtest_qmp_send_raw(s, req);
    r = qtest_qmp_receive_reply(s);
    a = qmp_return_array(r);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_ptr_array_add(names, g_strdup(json_object_get_string_member(
                                   json_array_get_object_element(a, i), "name")));
    }
    json_node_unref(r);
    g_ptr_array_sort(names, by_str);
    return names;
}

/* The property names `device_add TYPE,help` prints ("  name=<type> ..."), sorted. */
static GPtrArray *hmp_prop_names(QTestState *s, const char *type)
{
    g_autofree char *line = g_strdup_printf("device_add %s,help", type);
    g_autofree char *text = hmp(s, line);
    g_auto(GStrv) lines = g_strsplit(text, "\r\n", -1);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

    for (char **l = lines; *l; l++) {
        const char *eq = strchr(*l, '=');
        if (g_str_has_prefix(*l, "  ") && eq) {
            g_ptr_array_add(names, g_strndup(*l + 2, (gsize)(eq - *l - 2)));
        }
    }
    g_ptr_array_sort(names, by_str);
    return names;
}

static bool type_listed(JsonArray *types, const char *name)
{
    for (guint i = 0; i < json_array_get_length(types); i++) {
        if (!g_strcmp0(json_object_get_string_member(
                           json_array_get_object_element(types, i), "name"), name)) {
            return true;
        }
    }
    return false;
}

/* The quoted driver names of `device_add help` ("name \"virtio-blk-device\", ..."). */
static GPtrArray *user_creatable_types(QTestState *s)
{
    g_autofree char *text = hmp(s, "device_add help");
    g_auto(GStrv) lines = g_strsplit(text, "\r\n", -1);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "name \"")) {
            const char *start = *l + strlen("name \"");
            g_ptr_array_add(names, g_strndup(start, (gsize)(strchr(start, '"') - start)));
        }
    }
    return names;
}

static void test_device_types(void)
{
    QTestState *s = qtest_init("");
    JsonNode *r = qtest_qmp(s, "{'execute': 'qom-list-types', "
                               "'arguments': {'implements': 'device', 'abstract': false}}");
    JsonArray *devices = qmp_return_array(r);
    g_autoptr(GPtrArray) user = user_creatable_types(s);

    g_assert_cmpuint(user->len, >, 0);
    for (guint i = 0; i < user->len; i++) {
        const char *type = g_ptr_array_index(user, i);
        g_autoptr(GPtrArray) from_qmp = qmp_prop_names(s, type);
        g_autoptr(GPtrArray) from_hmp = hmp_prop_names(s, type);

        g_test_message("device %s", type);
        g_assert_true(type_listed(devices, type));
        g_assert_cmpuint(from_qmp->len, ==, from_hmp->len);
        for (guint j = 0; j < from_qmp->len; j++) {
            g_assert_cmpstr(g_ptr_array_index(from_qmp, j), ==,
                            g_ptr_array_index(from_hmp, j));
        }
    }
    json_node_unref(r);
    r = qtest_qmp(s, "{'execute': 'device-list-properties', "
                     "'arguments': {'typename': 'no-such-device'}}");
    g_assert_true(qmp_has_error(r));
    json_node_unref(r);
    qtest_quit(s);
}

/* qom-get's "type" of a path, or NULL (with a QMP error) when there is none. */
static char *qom_type(QTestState *s, const char *path)
{
    g_autofree char *req = g_strdup_printf(
        "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"%s\",\"property\":\"type\"}}",
        path);
    JsonNode *r;
    char *type = NULL;

    qtest_qmp_send_raw(s, req);
    r = qtest_qmp_receive_reply(s);
    if (!qmp_has_error(r)) {
        type = g_strdup(json_object_get_string_member(qmp_obj(r), "return"));
    }
    json_node_unref(r);
    return type;
}

/*
 * Each line "/name (type)" of `info qom-tree /` (two spaces per level)
 * names an object whose qom-get type is that type.
 */
static void test_qom_tree_agrees(void)
{
    QTestState *s = qtest_init("-object rng-random,id=r0 -device virtio-rng-device,rng=r0,id=rng0");
    g_autofree char *text = hmp(s, "info qom-tree /");
    g_auto(GStrv) lines = g_strsplit(text, "\r\n", -1);
    g_autoptr(GPtrArray) stack = g_ptr_array_new_with_free_func(g_free);
    guint checked = 0;

    g_assert_true(g_str_has_prefix(text, "/ (container)\r\n"));
    for (char **l = lines + 1; *l && **l; l++) {
        const char *p = *l;
        guint depth = 0;
        g_autofree char *name = NULL, *type = NULL, *rel = NULL, *path = NULL;
        g_autofree char *got = NULL;

        while (*p == ' ') {
            p++;
        }
        depth = (guint)(p - *l) / 2;
        g_assert_cmpint(*p, ==, '/');
        name = g_strndup(p + 1, (gsize)(strstr(p, " (") - p - 1));
        type = g_strndup(strstr(p, " (") + 2, strlen(strstr(p, " (") + 2) - 1);
        g_ptr_array_set_size(stack, depth - 1);
        g_ptr_array_add(stack, g_strdup(name));
        g_ptr_array_add(stack, NULL);
        rel = g_strjoinv("/", (char **)stack->pdata);
        path = g_strconcat("/", rel, NULL);
        g_ptr_array_set_size(stack, stack->len - 1);
        got = qom_type(s, path);
        g_test_message("%s (%s)", path, type);
        g_assert_cmpstr(got, ==, type);
        checked++;
    }
    g_assert_cmpuint(checked, >=, 5);
    g_free(text);
    text = qom_type(s, "/machine/peripheral/rng0");
    g_assert_cmpstr(text, ==, "virtio-rng-device");
    qtest_quit(s);
}

/* QEMU's texts: bad paths of info qom-tree, and HMP errors are text, never QMP errors. */
static void test_hmp_text(void)
{
    QTestState *s = qtest_init("");
    g_autofree char *unknown = hmp(s, "foo");
    g_autofree char *bad_path = hmp(s, "info qom-tree /nowhere");
    g_autofree char *bad_dev = hmp(s, "device_add no-such-device,id=x");
    g_autofree char *no_driver = hmp(s, "device_add");
    g_autofree char *tree = hmp(s, "info qom-tree");
    g_autofree char *help_info = hmp(s, "help info");
    g_autofree char *mtree = hmp(s, "info mtree");
    g_autofree char *qtree = hmp(s, "info qtree");

    g_assert_cmpstr(unknown, ==, "unknown command: 'foo'\r\n");
    g_assert_cmpstr(bad_path, ==, "Path '/nowhere' could not be resolved.\r\n");
    g_assert_cmpstr(bad_dev, ==, "Error: 'no-such-device' is not a valid device model name\r\n");
    g_assert_cmpstr(no_driver, ==, "Error: Parameter 'driver' is missing\r\n");
    g_assert_true(g_str_has_prefix(tree, "/machine (microvm-machine)\r\n"));
    g_assert_nonnull(strstr(help_info, "info qom-tree [path] -- show QOM composition tree\r\n"));
    g_assert_nonnull(strstr(mtree, "address-space: memory\r\n"));
    g_assert_nonnull(strstr(qtree, "bus: main-system-bus\r\n"));
    qtest_quit(s);
}

/* An unknown -device driver stops start-up with one line on stderr. */
static void test_unknown_device(void)
{
    QTestState *s = qtest_spawn_raw("-machine microvm -accel qtest -device no-such-device");

    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 1);
    g_assert_cmpstr(qtest_stderr(s), ==,
                    "stratus: error: 'no-such-device' is not a valid device model name\n");
    qtest_set_expected_status(s, 1);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/introspection/machines-start", test_machines_start);
    g_test_add_func("/introspection/device-types", test_device_types);
    g_test_add_func("/introspection/qom-tree-agrees", test_qom_tree_agrees);
    g_test_add_func("/introspection/hmp-text", test_hmp_text);
    g_test_add_func("/introspection/unknown-device", test_unknown_device);
    return g_test_run();
}
