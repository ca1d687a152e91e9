/*
 * Unit tests for src/accel/accel.c: accel_select()'s resolution rules with
 * fake accelerators, a fake KVM availability and a fake init, and
 * accel_kvm_usable() against the real /dev/kvm. The warnings and info lines
 * the rules promise are checked in a real log file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "accel/accel.h"
#include "util/log.h"
#include "util/strutil.h"

/* accel_find()'s table: only the names matter to accel_select(). */
const AccelOps kvm_accel_ops = { .name = "kvm" };
const AccelOps emu_accel_ops = { .name = "emu" };
const AccelOps qtest_accel_ops = { .name = "qtest" };

#define NO_KVM "/dev/kvm: No such file or directory"

typedef struct FakeEnv {
    const char *failing;    /* ':'-separated names whose init fails */
    GString *inits;         /* names init was called for, ':'-separated */
} FakeEnv;

static bool fake_init(const AccelOps *ops, void *opaque, GError **err)
{
    FakeEnv *env = opaque;
    g_auto(GStrv) failing = g_strsplit(env->failing ? env->failing : "", ":", -1);

    g_string_append_printf(env->inits, "%s%s", env->inits->len ? ":" : "", ops->name);
    if (g_strv_contains((const char *const *)failing, ops->name)) {
        set_error(err, "%s init failed", ops->name);
        return false;
    }
    return true;
}

typedef struct Case {
    const char *list;
    bool automatic;
    const char *option;
    bool kvm_usable;
    const char *failing;
    /* expected */
    const char *chosen;     /* NULL: error */
    const char *error;      /* the whole message */
    const char *inits;
    unsigned warns;         /* :WARN: lines */
    unsigned infos;         /* :INFO: lines */
    const char *log;        /* substring of the log, or NULL */
} Case;

static const Case cases[] = {
    /* automatic (no accelerator named): kvm if usable, else emu + one warning */
    { "kvm:emu", true, NULL, true, NULL, "kvm", NULL, "kvm", 0, 0, NULL },
    { "kvm:emu", true, NULL, false, NULL, "emu", NULL, "emu", 1, 0,
      ":WARN: KVM is not available (" NO_KVM "); using the emu software CPU\n" },
    { "kvm:emu", true, NULL, true, "kvm", "emu", NULL, "kvm:emu", 1, 0,
      ":WARN: KVM could not be initialised (kvm init failed); using the emu software "
      "CPU\n" },
    { "kvm:emu", true, NULL, false, "emu", NULL, "emu init failed", "emu", 1, 0, NULL },
    /* one accelerator named: no fall-back */
    { "kvm", false, "-accel kvm", false, NULL, NULL,
      "-accel kvm: KVM is not available: " NO_KVM, "", 0, 0, NULL },
    { "kvm", false, "-enable-kvm", false, NULL, NULL,
      "-enable-kvm: KVM is not available: " NO_KVM, "", 0, 0, NULL },
    { "kvm", false, "-machine accel=kvm", false, NULL, NULL,
      "-machine accel=kvm: KVM is not available: " NO_KVM, "", 0, 0, NULL },
    { "kvm", false, NULL, false, NULL, NULL,
      "-accel kvm: KVM is not available: " NO_KVM, "", 0, 0, NULL },
    { "kvm", false, "-accel kvm", true, NULL, "kvm", NULL, "kvm", 0, 0, NULL },
    { "kvm", false, "-accel kvm", true, "kvm", NULL, "kvm init failed", "kvm", 0, 0, NULL },
    { "emu", false, "-accel tcg", false, NULL, "emu", NULL, "emu", 0, 0, NULL },
    { "emu", false, "-accel tcg", true, NULL, "emu", NULL, "emu", 0, 0, NULL },
    { "emu", false, "-accel emu", false, "emu", NULL, "emu init failed", "emu", 0, 0, NULL },
    { "qtest", false, "-qtest", false, NULL, "qtest", NULL, "qtest", 0, 0, NULL },
    { "qtest", false, "-accel qtest", true, NULL, "qtest", NULL, "qtest", 0, 0, NULL },
    /* a named list: the first available that initialises wins, logged at info */
    { "kvm:emu", false, "-accel kvm:tcg", true, NULL, "kvm", NULL, "kvm", 0, 0, NULL },
    { "kvm:emu", false, "-accel kvm:tcg", false, NULL, "emu", NULL, "emu", 0, 1,
      ":INFO: -accel kvm:tcg: KVM is not available (" NO_KVM "); trying emu\n" },
    { "kvm:emu", false, "-machine accel=kvm:emu", false, NULL, "emu", NULL, "emu", 0, 1,
      ":INFO: -machine accel=kvm:emu: KVM is not available (" NO_KVM "); trying emu\n" },
    { "kvm:emu", false, "-accel kvm:emu", true, "kvm", "emu", NULL, "kvm:emu", 0, 1,
      ":INFO: -accel kvm:emu: failed to initialise kvm (kvm init failed); trying emu\n" },
    { "kvm:emu", false, "-accel kvm:emu", true, "kvm:emu", NULL, "emu init failed",
      "kvm:emu", 0, 1, NULL },
    { "emu:kvm", false, "-accel tcg:kvm", true, NULL, "emu", NULL, "emu", 0, 0, NULL },
    { "emu:kvm", false, "-accel tcg:kvm", true, "emu", "kvm", NULL, "emu:kvm", 0, 1, NULL },
    { "emu:kvm", false, "-accel tcg:kvm", false, "emu", NULL,
      "-accel tcg:kvm: KVM is not available: " NO_KVM, "emu", 0, 1, NULL },
    /* options.c never produces these, but they must fail cleanly */
    { "xen", false, "-accel xen", true, NULL, NULL,
      "-accel xen: unsupported accelerator 'xen'", "", 0, 0, NULL },
    { "", false, NULL, true, NULL, NULL, "no accelerator given", "", 0, 0, NULL },
};

static unsigned count_lines(const char *text, const char *needle)
{
    unsigned n = 0;

    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) {
        n++;
    }
    return n;
}

static void test_select(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-accel-XXXXXX", NULL);
    g_autofree char *logpath = g_build_filename(dir, "log", NULL);

    g_assert_nonnull(dir);
    g_setenv("STRATUS_LOG_LEVEL", "info", TRUE);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const Case *c = &cases[i];
        FakeEnv env = { c->failing, g_string_new(NULL) };
        AccelSelect sel = {
            .list = c->list,
            .automatic = c->automatic,
            .option = c->option,
            .kvm_usable = c->kvm_usable,
            .kvm_why = c->kvm_usable ? NULL : NO_KVM,
            .init = fake_init,
            .opaque = &env,
        };
        GError *err = NULL;
        g_autofree char *log = NULL;
        const AccelOps *ops;

        g_test_message("case %zu: list '%s' automatic %d kvm %d failing '%s'", i, c->list,
                       c->automatic, c->kvm_usable, c->failing ? c->failing : "");
        g_assert_true(log_open(logpath, NULL));
        ops = accel_select(&sel, &err);
        log_close();
        g_assert_true(g_file_get_contents(logpath, &log, NULL, NULL));
        g_assert_cmpint(g_unlink(logpath), ==, 0);

        if (c->chosen) {
            g_assert_no_error(err);
            g_assert_nonnull(ops);
            g_assert_cmpstr(ops->name, ==, c->chosen);
        } else {
            g_assert_null(ops);
            g_assert_error(err, STRATUS_ERROR, STRATUS_ERROR_GENERIC);
            g_assert_cmpstr(err->message, ==, c->error);
            g_error_free(err);
        }
        g_assert_cmpstr(env.inits->str, ==, c->inits);
        g_assert_cmpuint(count_lines(log, ":WARN:"), ==, c->warns);
        g_assert_cmpuint(count_lines(log, ":INFO:"), ==, c->infos);
        g_assert_cmpuint(count_lines(log, ":ERROR:"), ==, 0);
        if (c->log && !strstr(log, c->log)) {
            g_error("case %zu: log lacks '%s':\n%s", i, c->log, log);
        }
        g_string_free(env.inits, TRUE);
    }
    g_rmdir(dir);
}

static void test_find(void)
{
    g_assert_true(accel_find("kvm") == &kvm_accel_ops);
    g_assert_true(accel_find("emu") == &emu_accel_ops);
    g_assert_true(accel_find("qtest") == &qtest_accel_ops);
    /* "tcg" is an alias on the command line only; options.c stores "emu" */
    g_assert_null(accel_find("tcg"));
    g_assert_null(accel_find(""));
    g_assert_null(accel_find("kvm:emu"));
}

/* The real probe agrees with what the host offers. */
static void test_kvm_usable(void)
{
    char *why = NULL;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int saved = errno;
    bool usable = accel_kvm_usable(&why);

    if (fd < 0) {
        g_autofree char *expect = g_strdup_printf("/dev/kvm: %s", g_strerror(saved));

        g_assert_false(usable);
        g_assert_cmpstr(why, ==, expect);
    } else {
        close(fd);
        if (usable) {
            g_assert_null(why);
        } else {
            g_assert_true(g_str_has_prefix(why, "/dev/kvm: "));
        }
    }
    g_test_message("accel_kvm_usable: %d (%s)", usable, why ? why : "");
    g_free(why);
    g_assert_cmpint(accel_kvm_usable(NULL), ==, usable);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/accel/select", test_select);
    g_test_add_func("/accel/find", test_find);
    g_test_add_func("/accel/kvm-usable", test_kvm_usable);
    return g_test_run();
}
