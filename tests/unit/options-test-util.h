/*
 * What the config_parse() tests share: parsing a shell-quoted command line and
 * checking that it fails with one line naming the problem. Static functions
 * in a header because each test program is one translation unit.
 */
#ifndef STRATUS_OPTIONS_TEST_UTIL_H
#define STRATUS_OPTIONS_TEST_UTIL_H

#include <string.h>
#include <glib.h>

#include "config.h"
#include "util/strutil.h"

/* The minimum a KVM microvm needs to pass the cross-option checks. */
#define BASE "-kernel /k -qmp unix:/tmp/q.sock,server,nowait "

/* Parse a shell-quoted command line (without the program name). */
static G_GNUC_UNUSED StratusConfig *parse(const char *cmdline, GError **err)
{
    char *full = g_strdup_printf("stratus %s", cmdline);
    char **argv = NULL;
    int argc = 0;
    GError *shell_err = NULL;
    StratusConfig *cfg;

    if (!g_shell_parse_argv(full, &argc, &argv, &shell_err)) {
        g_error("bad test command line '%s': %s", cmdline, shell_err->message);
    }
    cfg = config_parse(argc, argv, err);
    g_strfreev(argv);
    g_free(full);
    return cfg;
}

static G_GNUC_UNUSED StratusConfig *parse_ok(const char *cmdline)
{
    GError *err = NULL;
    StratusConfig *cfg = parse(cmdline, &err);

    if (!cfg) {
        g_error("'%s' failed: %s", cmdline, err ? err->message : "(no error set)");
    }
    g_assert_no_error(err);
    return cfg;
}

static G_GNUC_UNUSED void expect_fail(const char *cmdline, const char *substr)
{
    GError *err = NULL;
    StratusConfig *cfg = parse(cmdline, &err);

    if (cfg) {
        g_error("'%s' unexpectedly succeeded", cmdline);
    }
    if (!err) {
        g_error("'%s' failed without an error", cmdline);
    }
    g_assert_error(err, STRATUS_ERROR, STRATUS_ERROR_GENERIC);
    if (strchr(err->message, '\n')) {
        g_error("'%s': multi-line error '%s'", cmdline, err->message);
    }
    if (substr && !strstr(err->message, substr)) {
        g_error("'%s': error '%s' does not contain '%s'", cmdline, err->message, substr);
    }
    g_error_free(err);
}

typedef struct FailCase {
    const char *cmdline;
    const char *substr;
} FailCase;

static G_GNUC_UNUSED void run_fail_table(const FailCase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        expect_fail(cases[i].cmdline, cases[i].substr);
    }
}

static G_GNUC_UNUSED void run_ok_table(const char *const *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        config_free(parse_ok(cases[i]));
    }
}

#endif
