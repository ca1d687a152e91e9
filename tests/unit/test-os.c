/* Unit tests for src/os/: the descriptors a -daemonize daemon keeps. */
#include <fcntl.h>
#include <unistd.h>

#include <glib.h>

#include "config.h"
#include "os/inherited-fds.h"

static GArray *named_fds_of(const char *cmdline)
{
    g_autofree char *full = g_strdup_printf("stratus %s", cmdline);
    g_auto(GStrv) argv = NULL;
    int argc = 0;
    GError *err = NULL;
    StratusConfig *cfg;
    GArray *fds;

    g_assert_true(g_shell_parse_argv(full, &argc, &argv, NULL));
    cfg = config_parse(argc, argv, &err);
    g_assert_no_error(err);
    fds = config_named_fds(cfg);
    config_free(cfg);
    return fds;
}

static void test_named_fds(void)
{
    g_autoptr(GArray) fds = named_fds_of(
        "-accel qtest -chardev socket,id=m,fd=7 -mon chardev=m,mode=control "
        "-netdev tap,id=n0,fds=10:11,vhost=on,vhostfds=12:13 "
        "-netdev tap,id=n1,fd=getfdname -netdev tap,id=n2,fd=2");
    const int want[] = { 7, 10, 11, 12, 13 };

    g_assert_cmpuint(fds->len, ==, G_N_ELEMENTS(want));
    for (guint i = 0; i < fds->len; i++) {
        g_assert_cmpint(g_array_index(fds, int, i), ==, want[i]);
    }
}

static void test_close_except(void)
{
    int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY);
    int c = open("/dev/null", O_RDONLY);
    int keep[] = { b };

    g_assert_cmpint(c, >, 2);
    g_assert_cmpuint(close_fds_except(keep, 1), >=, 2);
    g_assert_cmpint(fcntl(a, F_GETFD), <, 0);
    g_assert_cmpint(fcntl(c, F_GETFD), <, 0);
    g_assert_cmpint(fcntl(b, F_GETFD), >=, 0);
    g_assert_cmpint(fcntl(STDERR_FILENO, F_GETFD), >=, 0);
    close(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/os/daemon/named-fds", test_named_fds);
    g_test_add_func("/os/daemon/close-except", test_close_except);
    return g_test_run();
}
