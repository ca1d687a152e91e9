/*
 * Interop: the command lines QEMU's tooling uses to start a qtest VM work
 * against Stratus, and the other -qtest / -qtest-log / accel forms.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "qtest.h"

static void smoke(QTestState *s)
{
    g_autofree char *r = qtest_cmd(s, "endianness");

    g_assert_cmpstr(r, ==, "OK little");
    qtest_writel(s, 0x300000, 0xcafef00d);
    g_assert_cmphex(qtest_readl(s, 0x300000), ==, 0xcafef00d);
}

/* libqtest's exact launch line (QEMU 8.x, qemu-reference.md §3.5), log to /dev/null. */
static void test_libqtest_cmdline(void)
{
    QTestState *s = qtest_init_cmdline(
        "-qtest unix:@QTEST@ -qtest-log /dev/null -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control -display none -machine microvm "
        "-nodefaults -no-user-config -accel qtest", true);

    smoke(s);
    qtest_qmp_assert_success(s, "{'execute': 'query-status'}");
    qtest_quit(s);
}

/* The legacy form: -machine accel=qtest, without -accel. */
static void test_machine_accel_qtest(void)
{
    QTestState *s = qtest_init_cmdline(
        "-machine microvm,accel=qtest -qtest unix:@QTEST@ -qtest-log none "
        "-chardev socket,path=@QMP@,id=char0 -mon chardev=char0,mode=control "
        "-display none", true);

    smoke(s);
    qtest_quit(s);
}

/* -qtest implies the qtest accelerator when none is given. */
static void test_qtest_implies_accel(void)
{
    QTestState *s = qtest_init_cmdline(
        "-qtest unix:@QTEST@ -qtest-log none -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control", true);

    smoke(s);
    qtest_quit(s);
}

/* -qtest chardev:ID with a client-mode socket chardev. */
static void test_qtest_chardev(void)
{
    QTestState *s = qtest_init_cmdline(
        "-chardev socket,id=qt,path=@QTEST@ -qtest chardev:qt -qtest-log none "
        "-chardev socket,path=@QMP@,id=char0 -mon chardev=char0,mode=control "
        "-accel qtest", true);

    smoke(s);
    qtest_quit(s);
}

/* qtest without QMP: SIGTERM still ends it with status 0. */
static void test_without_qmp(void)
{
    QTestState *s = qtest_init_cmdline("-qtest unix:@QTEST@ -qtest-log none -accel qtest",
                                       false);

    smoke(s);
    qtest_quit(s);
}

/* -qtest-log FILE: QEMU's format. */
static void test_qtest_log_file(void)
{
    g_autofree char *log = qtest_tmp_path("qtest.log");
    g_autofree char *tmpl = g_strdup_printf(
        "-qtest unix:@QTEST@ -qtest-log %s -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control -accel qtest", log);
    QTestState *s = qtest_init_cmdline(tmpl, true);
    g_autofree char *text = NULL;
    g_autofree char *bad = NULL;
    GRegex *re;

    bad = qtest_cmd(s, "bogus");
    qtest_irq_intercept_in(s, "ioapic");
    qtest_set_irq_in(s, "ioapic", "unnamed-gpio-in", 5, 1);
    qtest_quit(s);
    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    unlink(log);
    g_assert_true(g_str_has_prefix(text, "[I 0.000000] OPENED\n"));
    re = g_regex_new("^\\[R \\+[0-9]+\\.[0-9]{6}\\] endianness$", G_REGEX_MULTILINE, 0, NULL);
    g_assert_true(g_regex_match(re, text, 0, NULL));
    g_regex_unref(re);
    re = g_regex_new("^\\[S \\+[0-9]+\\.[0-9]{6}\\] OK little$", G_REGEX_MULTILINE, 0, NULL);
    g_assert_true(g_regex_match(re, text, 0, NULL));
    g_regex_unref(re);
    re = g_regex_new("^\\[S \\+[0-9.]+\\] FAIL Unknown command 'bogus'$", G_REGEX_MULTILINE,
                     0, NULL);
    g_assert_true(g_regex_match(re, text, 0, NULL));
    g_regex_unref(re);
    re = g_regex_new("^\\[S \\+[0-9.]+\\] IRQ raise 5$", G_REGEX_MULTILINE, 0, NULL);
    g_assert_true(g_regex_match(re, text, 0, NULL));
    g_regex_unref(re);
}

static void test_errors(void)
{
    g_autofree char *nowhere = qtest_tmp_path("nobody-listens.sock");
    g_autofree char *a = g_strdup_printf("-qtest unix:%s -accel qtest", nowhere);
    g_autofree char *b = g_strdup_printf("-qtest unix:%s -accel kvm", nowhere);

    qtest_expect_startup_error(a, "stratus: error:");
    qtest_expect_startup_error(b, "-qtest can only be used with accel qtest");
    qtest_expect_startup_error("-qtest chardev:missing -accel qtest", "missing");
    qtest_expect_startup_error("-qtest tcp:1 -accel qtest", "-qtest");
    qtest_expect_startup_error("-accel qtest -qtest-log /nonexistent-dir/x.log -qtest unix:/tmp/x",
                         "stratus: error:");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/interop/libqtest-cmdline", test_libqtest_cmdline);
    g_test_add_func("/interop/machine-accel-qtest", test_machine_accel_qtest);
    g_test_add_func("/interop/qtest-implies-accel", test_qtest_implies_accel);
    g_test_add_func("/interop/qtest-chardev", test_qtest_chardev);
    g_test_add_func("/interop/without-qmp", test_without_qmp);
    g_test_add_func("/interop/qtest-log-file", test_qtest_log_file);
    g_test_add_func("/interop/startup-errors", test_errors);
    return g_test_run();
}
