/*
 * add-fd / remove-fd / query-fdsets (src/qmp/qmp-commands-fdset.c): QEMU
 * 7.2's answers and error texts, the descriptors really passed and really
 * closed, and the bounds.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "qtest.h"

static gint64 add_fd(QTestState *s, int fd, const char *args, gint64 *set)
{
    JsonNode *r = qtest_qmp_fds(s, &fd, 1, "{'execute': 'add-fd'%s%s%s}",
                                *args ? ", 'arguments': {" : "", args, *args ? "}" : "");
    JsonObject *o = qmp_return_obj(r);
    gint64 vmm_fd = json_object_get_int_member(o, "fd");

    *set = json_object_get_int_member(o, "fdset-id");
    json_node_unref(r);
    return vmm_fd;
}

static char *fdsets_text(QTestState *s)
{
    JsonNode *r = qtest_qmp(s, "{'execute': 'query-fdsets'}");
    char *t = json_to_string(json_object_get_member(qmp_obj(r), "return"), FALSE);

    json_node_unref(r);
    return t;
}

/* Sets get the lowest free id, are listed highest id first, fds in order added. */
static void test_add_query_remove(void)
{
    QTestState *s = qtest_init("");
    int p[2];
    gint64 set, fd0, fd1, fd2, fd3;
    g_autofree char *before = NULL, *after = NULL, *want1 = NULL, *want2 = NULL;

    g_assert_cmpint(pipe(p), ==, 0);
    fd0 = add_fd(s, p[0], "", &set);
    g_assert_cmpint(set, ==, 0);
    fd1 = add_fd(s, p[1], "'fdset-id': 4, 'opaque': 'w'", &set);
    g_assert_cmpint(set, ==, 4);
    fd2 = add_fd(s, p[0], "'fdset-id': 4", &set);
    g_assert_cmpint(set, ==, 4);
    fd3 = add_fd(s, p[0], "", &set);
    g_assert_cmpint(set, ==, 1);
    close(p[0]);
    close(p[1]);

    before = fdsets_text(s);
    want1 = g_strdup_printf("[{\"fds\":[{\"fd\":%" G_GINT64_FORMAT ",\"opaque\":\"w\"},"
                            "{\"fd\":%" G_GINT64_FORMAT "}],\"fdset-id\":4},"
                            "{\"fds\":[{\"fd\":%" G_GINT64_FORMAT "}],\"fdset-id\":1},"
                            "{\"fds\":[{\"fd\":%" G_GINT64_FORMAT "}],\"fdset-id\":0}]",
                            fd1, fd2, fd3, fd0);
    g_assert_cmpstr(before, ==, want1);

    /* One descriptor, then a whole set; an emptied set disappears. */
    qtest_qmp_assert_success(s, "{'execute': 'remove-fd', 'arguments': "
                             "{'fdset-id': 4, 'fd': %" G_GINT64_FORMAT "}}", fd1);
    qtest_qmp_assert_success(s, "{'execute': 'remove-fd', 'arguments': {'fdset-id': 1}}");
    qtest_qmp_assert_success(s, "{'execute': 'remove-fd', 'arguments': "
                             "{'fdset-id': 0, 'fd': %" G_GINT64_FORMAT "}}", fd0);
    after = fdsets_text(s);
    want2 = g_strdup_printf("[{\"fds\":[{\"fd\":%" G_GINT64_FORMAT "}],\"fdset-id\":4}]", fd2);
    g_assert_cmpstr(after, ==, want2);
    qtest_quit(s);
}

/* The write end, once removed, is closed in the VMM: the read end sees EOF. */
static void test_remove_closes(void)
{
    QTestState *s = qtest_init("");
    int p[2];
    gint64 set, vmm_fd;
    char c;

    g_assert_cmpint(pipe(p), ==, 0);
    vmm_fd = add_fd(s, p[1], "", &set);
    close(p[1]);
    qtest_qmp_assert_success(s, "{'execute': 'remove-fd', 'arguments': "
                             "{'fdset-id': %" G_GINT64_FORMAT ", 'fd': %" G_GINT64_FORMAT "}}",
                             set, vmm_fd);
    g_assert_cmpint(read(p[0], &c, 1), ==, 0);
    close(p[0]);
    qtest_quit(s);
}

static void test_errors(void)
{
    QTestState *s = qtest_init("");
    int fd = open("/dev/null", O_RDONLY);
    JsonNode *r;

    qtest_qmp_assert_error(s, "GenericError", "No file descriptor supplied via SCM_RIGHTS",
                           "{'execute': 'add-fd'}");
    r = qtest_qmp_fds(s, &fd, 1, "{'execute': 'add-fd', 'arguments': {'fdset-id': -1}}");
    g_assert_cmpstr(qmp_error_desc(r), ==, "Parameter 'fdset-id' expects a non-negative value");
    json_node_unref(r);
    qtest_qmp_assert_error(s, "GenericError", "File descriptor named 'fdset-id:3' not found",
                           "{'execute': 'remove-fd', 'arguments': {'fdset-id': 3}}");
    qtest_qmp_assert_error(s, "GenericError",
                           "File descriptor named 'fdset-id:3, fd:7' not found",
                           "{'execute': 'remove-fd', 'arguments': {'fdset-id': 3, 'fd': 7}}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'fdset-id' is missing",
                           "{'execute': 'remove-fd'}");
    qtest_qmp_assert_error(s, "GenericError",
                           "Invalid parameter type for 'opaque', expected: string",
                           "{'execute': 'add-fd', 'arguments': {'opaque': 1}}");
    close(fd);
    qtest_quit(s);
}

/* 64 descriptors at most, in all sets together; the 65th is refused and closed. */
static void test_bounded(void)
{
    QTestState *s = qtest_init("");
    int fd = open("/dev/null", O_RDONLY);
    gint64 set;
    JsonNode *r;

    for (int i = 0; i < 64; i++) {
        add_fd(s, fd, i % 2 ? "'fdset-id': 7" : "", &set);
    }
    r = qtest_qmp_fds(s, &fd, 1, "{'execute': 'add-fd'}");
    g_assert_cmpstr(qmp_error_desc(r), ==,
                    "Too many descriptors in file descriptor sets (at most 64)");
    json_node_unref(r);
    close(fd);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-fdset/add-query-remove", test_add_query_remove);
    g_test_add_func("/qmp-fdset/remove-closes", test_remove_closes);
    g_test_add_func("/qmp-fdset/errors", test_errors);
    g_test_add_func("/qmp-fdset/bounded", test_bounded);
    return g_test_run();
}
