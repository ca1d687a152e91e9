/*
 * Assertions about refusals, shared by the qtest programs (see qtest.h):
 * a command line the VMM must refuse at start-up, a QMP command it must
 * answer with an error. Kept apart from qtest.c, which is the protocol.
 */
#include <stdarg.h>
#include <string.h>

#include "qtest.h"

void qtest_expect_startup_error(const char *args, const char *needle)
{
    QTestState *s = qtest_spawn_raw(args);
    int status = qtest_wait_exit(s, 10000);
    const char *err = qtest_stderr(s);

    g_assert_cmpint(status, ==, 1);
    /* One line on stderr, the error and nothing else (docs/command-line.md). */
    if (!strstr(err, needle) || strchr(err, '\n') != strrchr(err, '\n')) {
        g_error("'%s': stderr '%s' is not the one line '%s'", args, err, needle);
    }
    qtest_set_expected_status(s, 1);
    qtest_quit(s);
}

void qtest_qmp_assert_error(QTestState *s, const char *cls, const char *desc,
                            const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;
    JsonNode *r;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r = qtest_qmp(s, "%s", cmd);
    if (g_strcmp0(qmp_error_class(r), cls) || g_strcmp0(qmp_error_desc(r), desc)) {
        g_error("%s: got %s '%s', expected %s '%s'", cmd, qmp_error_class(r),
                qmp_error_desc(r), cls, desc);
    }
    json_node_unref(r);
}
