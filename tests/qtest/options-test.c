/*
 * The options QEMU's tests pass (issue 17 item 6, docs/command-line.md),
 * where their effect can be seen from outside: --preconfig and
 * x-exit-preconfig, -m below 128 MiB under qtest, repeated -accel, -cpu host
 * without KVM, -action shutdown=pause, and the no-op ones starting a machine.
 */
#include <string.h>
#include <unistd.h>

#include "qtest.h"

#define PM1_CNT 0x604           /* microvm's PM1a control (pm-test.c) */
#define SLP_EN  0x2000

static const char *status_of(QTestState *s, JsonNode **keep)
{
    *keep = qtest_qmp_assert_success_ref(s, "{'execute': 'query-status'}");
    return qmp_get_str(json_node_get_object(*keep), "status");
}

static void test_preconfig(void)
{
    QTestState *s = qtest_init("--preconfig");
    JsonNode *r, *st;

    g_assert_cmpstr(status_of(s, &st), ==, "prelaunch");
    json_node_unref(st);
    /* allow-preconfig commands answer; the others get QEMU's text. */
    qtest_qmp_assert_success(s, "{'execute': 'query-commands'}");
    qtest_qmp_assert_success(s, "{'execute': 'qom-list', 'arguments': {'path': '/machine'}}");
    r = qtest_qmp(s, "{'execute': 'query-cpus-fast'}");
    g_assert_cmpstr(qmp_error_class(r), ==, "GenericError");
    g_assert_cmpstr(qmp_error_desc(r), ==, "The command 'query-cpus-fast' is permitted only "
                    "after machine initialization has completed");
    json_node_unref(r);
    r = qtest_qmp(s, "{'execute': 'cont'}");
    g_assert_cmpstr(qmp_error_desc(r), ==, "The command 'cont' is permitted only "
                    "after machine initialization has completed");
    json_node_unref(r);
    /* Bad arguments are still checked only for a command that may run. */
    r = qtest_qmp(s, "{'execute': 'x-exit-preconfig', 'arguments': {'x': 1}}");
    g_assert_cmpstr(qmp_error_desc(r), ==, "Parameter 'x' is unexpected");
    json_node_unref(r);

    qtest_qmp_assert_success(s, "{'execute': 'x-exit-preconfig'}");
    qtest_qmp_eventwait(s, "RESUME");
    g_assert_cmpstr(status_of(s, &st), ==, "running");
    json_node_unref(st);
    r = qtest_qmp(s, "{'execute': 'x-exit-preconfig'}");
    g_assert_cmpstr(qmp_error_class(r), ==, "GenericError");
    g_assert_cmpstr(qmp_error_desc(r), ==,
                    "The command is permitted only before machine initialization");
    json_node_unref(r);
    qtest_qmp_assert_success(s, "{'execute': 'query-cpus-fast'}");
    qtest_quit(s);
}

/* With -S the machine stays in prelaunch after the phase, as QEMU's does. */
static void test_preconfig_frozen(void)
{
    QTestState *s = qtest_init("--preconfig -S");
    JsonNode *st;

    qtest_qmp_assert_success(s, "{'execute': 'x-exit-preconfig'}");
    g_assert_cmpstr(status_of(s, &st), ==, "prelaunch");
    json_node_unref(st);
    qtest_qmp_assert_success(s, "{'execute': 'query-cpus-fast'}");
    qtest_qmp_assert_success(s, "{'execute': 'cont'}");
    qtest_qmp_eventwait(s, "RESUME");
    qtest_quit(s);
}

/* Under qtest the RAM may be below StratoVirt's 128 MiB, and it is there. */
static void test_small_ram(void)
{
    QTestState *s = qtest_init("-m 16M");
    JsonNode *r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-memory-size-summary'}");

    g_assert_cmpint(json_object_get_int_member(json_node_get_object(r), "base-memory"), ==,
                    16 << 20);
    json_node_unref(r);
    qtest_writel(s, (16 << 20) - 4, 0xcafef00d);
    g_assert_cmphex(qtest_readl(s, (16 << 20) - 4), ==, 0xcafef00d);
    qtest_quit(s);
}

/* The no-op options of QEMU's tests start a machine; -cpu and -rtc land in it. */
static void test_accepted(void)
{
    QTestState *s = qtest_init("-cpu max -rtc base=2006-06-17T16:01:21,clock=vm "
                               "-watchdog-action none -action reboot=reset,panic=pause "
                               "-nic none");

    qtest_qmp_assert_success(s, "{'execute': 'query-status'}");
    qtest_quit(s);
}

/* -action shutdown=pause: a guest poweroff stops the VM instead of ending it. */
static void test_action_shutdown_pause(void)
{
    QTestState *s = qtest_init("-action shutdown=pause");
    JsonNode *st;

    qtest_outw(s, PM1_CNT, SLP_EN);
    qtest_qmp_eventwait(s, "SHUTDOWN");
    qtest_qmp_eventwait(s, "STOP");
    g_assert_cmpstr(status_of(s, &st), ==, "shutdown");
    json_node_unref(st);
    qtest_quit(s);
}

/* -accel kvm -accel tcg: KVM where it works, else the software CPU. */
static void test_accel_fallback(void)
{
    QTestState *s = qtest_init_cmdline("-machine none -accel kvm -accel tcg "
                                       "-chardev socket,path=@QMP@,id=c "
                                       "-mon chardev=c,mode=control", true);
    JsonNode *r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-kvm'}");
    JsonObject *o = json_node_get_object(r);

    g_assert_cmpint(json_object_get_boolean_member(o, "enabled"), ==,
                    json_object_get_boolean_member(o, "present"));
    json_node_unref(r);
    qtest_quit(s);
}

/* -readconfig: QEMU's ini sections become options (here RAM and an rng object). */
static void test_readconfig(void)
{
    g_autofree char *path = qtest_tmp_path("options.cfg");
    g_autofree char *args = g_strdup_printf("-readconfig %s", path);
    QTestState *s;
    JsonNode *r;

    g_assert_true(g_file_set_contents(path, "# written by hand\n[memory]\n  size = \"24M\"\n"
                                      "[object \"rng0\"]\n  qom-type = \"rng-random\"\n"
                                      "  filename = \"/dev/urandom\"\n", -1, NULL));
    s = qtest_init(args);
    r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-memory-size-summary'}");
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(r), "base-memory"), ==,
                    24 << 20);
    json_node_unref(r);
    /* The object exists: object-del finds it (and then it is gone). */
    qtest_qmp_assert_success(s, "{'execute': 'object-del', 'arguments': {'id': 'rng0'}}");
    r = qtest_qmp(s, "{'execute': 'object-del', 'arguments': {'id': 'rng0'}}");
    g_assert_true(qmp_has_error(r));
    json_node_unref(r);
    qtest_quit(s);
    unlink(path);
}

/*
 * reconnect=N on a client socket: start-up does not wait for the peer, and
 * after the peer goes away the chardev connects again (COM1 here).
 */
static void test_chardev_reconnect(void)
{
    g_autofree char *path = qtest_tmp_path("reconnect.sock");
    g_autofree char *args = g_strdup_printf("-chardev socket,id=s0,path=%s,reconnect=1 "
                                            "-serial chardev:s0", path);
    QTestState *s;
    char buf[2] = { 0 };
    int lfd, fd;

    unlink(path);
    s = qtest_init(args);               /* nobody listens yet */
    lfd = qtest_socket_server(path);
    fd = qtest_socket_accept(lfd);
    g_assert_cmpint(fd, >=, 0);
    uart_init(s, 0x3f8);
    uart_putc(s, 0x3f8, 'A');
    g_assert_true(qtest_socket_read_exact(fd, buf, 1, 10000));
    g_assert_cmpint(buf[0], ==, 'A');
    close(fd);                          /* the peer goes away ... */
    fd = qtest_socket_accept(lfd);      /* ... and the chardev comes back */
    g_assert_cmpint(fd, >=, 0);
    uart_putc(s, 0x3f8, 'B');
    g_assert_true(qtest_socket_read_exact(fd, buf, 1, 10000));
    g_assert_cmpint(buf[0], ==, 'B');
    qtest_quit(s);
    close(fd);
    close(lfd);
    unlink(path);
}

static void test_errors(void)
{
    g_autofree char *sock = qtest_tmp_path("options-none.sock");
    g_autofree char *qmp = g_strdup_printf("-qmp unix:%s,server,nowait", sock);
    g_autofree char *host = g_strdup_printf("-accel qtest -cpu host %s", qmp);
    g_autofree char *small = g_strdup_printf("-kernel /nonexistent -accel tcg -m 64 %s", qmp);
    g_autofree char *rtc = g_strdup_printf("-accel qtest -rtc base=2006-02-30 %s", qmp);
    g_autofree char *cfg = qtest_tmp_path("bad.cfg");
    g_autofree char *rc = g_strdup_printf("-accel qtest %s -readconfig %s", qmp, cfg);
    g_autofree char *rc_err = g_strdup_printf("stratus: error: -readconfig: %s:2: "
                                              "There is no option group 'spice'", cfg);

    qtest_expect_startup_error(host, "stratus: error: CPU model 'host' requires KVM or HVF");
    qtest_expect_startup_error(small, "stratus: error: invalid -m value '64': Memory size must "
                         ">= 128MiB and <= 512GiB");
    qtest_expect_startup_error(rtc, "stratus: error: -rtc: invalid datetime format");
    g_assert_true(g_file_set_contents(cfg, "[memory]\n[spice]\n", -1, NULL));
    qtest_expect_startup_error(rc, rc_err);
    unlink(cfg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options/preconfig", test_preconfig);
    g_test_add_func("/options/preconfig-frozen", test_preconfig_frozen);
    g_test_add_func("/options/small-ram", test_small_ram);
    g_test_add_func("/options/accepted", test_accepted);
    g_test_add_func("/options/action-shutdown-pause", test_action_shutdown_pause);
    g_test_add_func("/options/accel-fallback", test_accel_fallback);
    g_test_add_func("/options/readconfig", test_readconfig);
    g_test_add_func("/options/chardev-reconnect", test_chardev_reconnect);
    g_test_add_func("/options/errors", test_errors);
    return g_test_run();
}
