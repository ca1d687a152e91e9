/*
 * Unit tests for the options QEMU's tests pass (issue 17 item 6):
 * src/options/opt-qemu.c (-cpu, -rtc, -action, -watchdog-action, -nic) and
 * the rules for them elsewhere in the parser.
 */
#include <stdio.h>
#include <string.h>
#include <glib.h>

#include "config.h"
#include "options-test-util.h"

#define MiB (1ULL << 20)

static void test_cpu(void)
{
    static const struct { const char *args, *model; } oks[] = {
        { BASE "-cpu host", "host" },
        { BASE "-cpu max", "max" },
        { BASE "-cpu qemu64", "qemu64" },
        { BASE "-cpu qemu64,+sse4.2,-x2apic,vmx=on,level=13", "qemu64" },
        { BASE "--cpu=max", "max" },
    };
    static const FailCase fails[] = {
        { BASE "-cpu pentium9", "-cpu: unable to find CPU model 'pentium9'" },
        { BASE "-cpu max,+", "-cpu: invalid CPU feature '+'" },
        { BASE "-cpu max,=on", "-cpu: invalid CPU feature '=on'" },
        { BASE "-cpu max -cpu host", "option '-cpu' given more than once" },
    };
    StratusConfig *cfg = parse_ok(BASE);

    g_assert_null(cfg->cpu_model);
    config_free(cfg);
    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        cfg = parse_ok(oks[i].args);
        g_assert_cmpstr(cfg->cpu_model, ==, oks[i].model);
        config_free(cfg);
    }
    run_fail_table(fails, G_N_ELEMENTS(fails));
}

static void test_rtc(void)
{
    static const struct {
        const char *args, *base, *clock;
        int64_t epoch;
        bool slew;
    } oks[] = {
        { BASE, "utc", "host", 0, false },
        { BASE "-rtc base=localtime", "localtime", "host", 0, false },
        { BASE "-rtc base=utc,clock=vm", "utc", "vm", 0, false },
        { BASE "-rtc clock=rt,driftfix=slew", "utc", "rt", 0, true },
        { BASE "-rtc base=2006-06-17T16:01:21", "2006-06-17T16:01:21", "host",
          1150560081, false },
        { BASE "-rtc base=2006-06-17,driftfix=none", "2006-06-17", "host", 1150502400, false },
        /* A later -rtc changes what it names. */
        { BASE "-rtc base=2006-06-17,clock=vm -rtc base=localtime", "localtime", "vm", 0,
          false },
    };
    static const FailCase fails[] = {
        { BASE "-rtc base=nope", "-rtc: invalid datetime format (valid formats: "
          "'2006-06-17T16:01:21' or '2006-06-17')" },
        { BASE "-rtc base=2006-13-01", "-rtc: invalid datetime format" },
        { BASE "-rtc base=2006-02-30", "-rtc: invalid datetime format" },
        { BASE "-rtc base=2006-06-17T25:00:00", "-rtc: invalid datetime format" },
        { BASE "-rtc base=2006-06-17T16:01:21x", "-rtc: invalid datetime format" },
        { BASE "-rtc clock=nope", "-rtc: invalid option value 'nope'" },
        { BASE "-rtc driftfix=x", "-rtc: invalid option value 'x'" },
        { BASE "-rtc foo=1", "-rtc: unknown parameter 'foo'" },
        { BASE "-rtc base", "-rtc: invalid datetime format" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        StratusConfig *cfg = parse_ok(oks[i].args);

        g_assert_cmpstr(cfg->rtc_base, ==, oks[i].base);
        g_assert_cmpstr(cfg->rtc_clock, ==, oks[i].clock);
        g_assert_cmpint(cfg->rtc_base_epoch, ==, oks[i].epoch);
        g_assert_cmpint(cfg->rtc_driftfix_slew, ==, oks[i].slew);
        config_free(cfg);
    }
    run_fail_table(fails, G_N_ELEMENTS(fails));
}

static void test_action(void)
{
    static const FailCase fails[] = {
        { BASE "-action reboot=nope", "-action reboot=nope: Parameter 'reboot' does not "
          "accept value 'nope'" },
        { BASE "-action shutdown=reset", "Parameter 'shutdown' does not accept value 'reset'" },
        { BASE "-action panic=x", "Parameter 'panic' does not accept value 'x'" },
        { BASE "-action watchdog=x", "Parameter 'watchdog' does not accept value 'x'" },
        { BASE "-action halt=yes", "-action: unknown parameter 'halt'" },
        { BASE "-watchdog-action nope", "-watchdog-action nope: Parameter 'watchdog' does "
          "not accept value 'nope'" },
        { BASE "-watchdog-action reset -watchdog-action none",
          "option '-watchdog-action' given more than once" },
    };
    StratusConfig *cfg = parse_ok(BASE "-action reboot=shutdown,panic=none,watchdog=inject-nmi");

    g_assert_cmpstr(cfg->action_reboot, ==, "shutdown");
    g_assert_cmpstr(cfg->action_panic, ==, "none");
    g_assert_cmpstr(cfg->action_watchdog, ==, "inject-nmi");
    g_assert_false(cfg->no_shutdown);
    config_free(cfg);

    cfg = parse_ok(BASE "-action shutdown=pause");
    g_assert_true(cfg->no_shutdown);
    g_assert_null(cfg->action_reboot);
    config_free(cfg);
    cfg = parse_ok(BASE "-no-shutdown -action shutdown=poweroff");
    g_assert_false(cfg->no_shutdown);
    config_free(cfg);
    cfg = parse_ok(BASE "-watchdog-action pause");
    g_assert_cmpstr(cfg->action_watchdog, ==, "pause");
    config_free(cfg);
    run_fail_table(fails, G_N_ELEMENTS(fails));
}

static void test_nic(void)
{
    config_free(parse_ok(BASE "-nic none"));
    config_free(parse_ok(BASE "-nic none -nic none"));
    expect_fail(BASE "-nic user", "-nic: only 'none' is supported (use -netdev tap,id=ID "
                "and -device virtio-net-device,netdev=ID)");
    expect_fail(BASE "-nic tap,ifname=t0", "-nic: only 'none' is supported");
}

/* A repeated -accel adds to the list, tried in order (QEMU's rule). */
static void test_accel_repeated(void)
{
    static const struct { const char *args, *accel, *origin; } oks[] = {
        { BASE "-accel kvm -accel tcg", "kvm:emu", "-accel kvm -accel tcg" },
        { BASE "-accel tcg -accel tcg", "emu", "-accel tcg -accel tcg" },
        { BASE "-accel kvm:tcg -accel emu", "kvm:emu", "-accel kvm:tcg -accel emu" },
        { "-accel qtest -accel qtest", "qtest", "-accel qtest -accel qtest" },
    };
    static const FailCase fails[] = {
        { BASE "-accel kvm -accel hvf", "-accel: unsupported accelerator 'hvf' (expected" },
        { BASE "-accel tcg -accel qtest", "-accel: qtest cannot be combined with other "
          "accelerators ('emu:qtest')" },
        { BASE "-accel kvm -accel tcg -enable-kvm",
          "-enable-kvm conflicts with -accel kvm -accel tcg" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        StratusConfig *cfg = parse_ok(oks[i].args);

        g_assert_cmpstr(cfg->accel, ==, oks[i].accel);
        g_assert_cmpstr(cfg->accel_option, ==, oks[i].origin);
        g_assert_false(cfg->accel_auto);
        config_free(cfg);
    }
    run_fail_table(fails, G_N_ELEMENTS(fails));
}

/* Below 128 MiB only where no guest runs: -accel qtest, -machine none. */
static void test_mem_small(void)
{
    static const struct { const char *args; uint64_t bytes; } oks[] = {
        { "-accel qtest -m 64M", 64 * MiB },
        { "-m 1 -accel qtest", MiB },
        { "-qtest unix:/tmp/qt.sock -m 127", 127 * MiB },
        { BASE "-machine none -m 16", 16 * MiB },
    };
    static const FailCase fails[] = {
        { BASE "-m 64M", "invalid -m value '64M': Memory size must >= 128MiB and <= 512GiB, "
          "default unit: MiB, current memory size: 67108864 bytes" },
        { BASE "-accel tcg -m 127", "invalid -m value '127': Memory size must >= 128MiB" },
        { BASE "-machine microvm -m 1", "invalid -m value '1'" },
        { "-accel qtest -m 1023K", "invalid -m value '1023K': Memory size must >= 128MiB" },
        { "-accel qtest -m 0", "invalid -m value '0'" },
        { "-accel qtest -m 513G", "invalid -m value '513G'" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        StratusConfig *cfg = parse_ok(oks[i].args);

        g_assert_cmpuint(cfg->mem_size, ==, oks[i].bytes);
        config_free(cfg);
    }
    run_fail_table(fails, G_N_ELEMENTS(fails));
}

static void test_preconfig(void)
{
    StratusConfig *cfg = parse_ok(BASE);

    g_assert_false(cfg->preconfig);
    config_free(cfg);
    cfg = parse_ok(BASE "--preconfig -S");
    g_assert_true(cfg->preconfig);
    g_assert_true(cfg->freeze_cpus);
    config_free(cfg);
    cfg = parse_ok(BASE "-preconfig");
    g_assert_true(cfg->preconfig);
    config_free(cfg);
    expect_fail(BASE "--preconfig=on", "option '-preconfig' does not take a value");
    expect_fail(BASE "--preconfig --preconfig", "option '-preconfig' given more than once");
}

/* reconnect=N on a client socket chardev (QEMU 7.2's texts where it cannot apply). */
static void test_chardev_reconnect(void)
{
    static const FailCase fails[] = {
        { BASE "-chardev socket,id=c,path=/tmp/c.sock,server,nowait,reconnect=1",
          "-chardev: 'reconnect' option is incompatible with socket in server listen mode" },
        { BASE "-chardev socket,id=c,fd=3,reconnect=1",
          "-chardev: 'reconnect' option is incompatible with 'fd' address type" },
        { BASE "-chardev socket,id=c,path=/tmp/c.sock,reconnect=x",
          "-chardev: invalid reconnect 'x' (expected seconds, 0..86400)" },
        { BASE "-chardev socket,id=c,path=/tmp/c.sock,reconnect=86401", "invalid reconnect" },
        { BASE "-chardev file,id=c,path=/tmp/f,reconnect=1", "-chardev: unknown parameter "
          "'reconnect'" },
    };
    StratusConfig *cfg = parse_ok(BASE "-chardev socket,id=c,path=/tmp/c.sock,reconnect=5");

    g_assert_cmpuint(config_find_chardev(cfg, "c")->reconnect, ==, 5);
    config_free(cfg);
    cfg = parse_ok(BASE "-chardev socket,id=c,host=127.0.0.1,port=4444,reconnect=0");
    g_assert_cmpuint(config_find_chardev(cfg, "c")->reconnect, ==, 0);
    config_free(cfg);
    run_fail_table(fails, G_N_ELEMENTS(fails));
}

/* Every option here has its line in -help (and so in stratus(1)). */
static void test_help(void)
{
    static const char *const opts[] = {
        "-cpu host|max|qemu64", "-rtc [base=", "-action [reboot=", "-watchdog-action reset",
        "-nic none", "-preconfig", "-readconfig FILE", "-accel kvm|emu|tcg|qtest",
    };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    g_assert_nonnull(f);
    config_print_help(f);
    fclose(f);
    for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
        if (!strstr(buf, opts[i])) {
            g_error("help text lacks '%s'", opts[i]);
        }
    }
    free(buf);
}

/* Odd values give one line or succeed; never a crash (ASan run). */
static void test_junk(void)
{
    static const char *const junk[] = {
        "=", ",", ",,", "a=,", "=a", "base=", "clock=", "base=-1-1-1", "base=9999-99-99",
        "base=2006-06-17T", "reboot=", "none,none", "max,,", "+", "-",
    };
    static const char *const opts[] = { "-cpu", "-rtc", "-action", "-watchdog-action", "-nic" };

    for (size_t o = 0; o < G_N_ELEMENTS(opts); o++) {
        for (size_t j = 0; j < G_N_ELEMENTS(junk); j++) {
            char *argv[] = { (char *)"stratus", (char *)"-accel", (char *)"qtest",
                             (char *)opts[o], (char *)junk[j], NULL };
            GError *err = NULL;
            StratusConfig *cfg = config_parse(5, argv, &err);

            g_assert_true((cfg == NULL) != (err == NULL));
            if (err) {
                g_assert_null(strchr(err->message, '\n'));
                g_error_free(err);
            }
            config_free(cfg);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options-qemu/cpu", test_cpu);
    g_test_add_func("/options-qemu/rtc", test_rtc);
    g_test_add_func("/options-qemu/action", test_action);
    g_test_add_func("/options-qemu/nic", test_nic);
    g_test_add_func("/options-qemu/accel-repeated", test_accel_repeated);
    g_test_add_func("/options-qemu/mem-small", test_mem_small);
    g_test_add_func("/options-qemu/preconfig", test_preconfig);
    g_test_add_func("/options-qemu/chardev-reconnect", test_chardev_reconnect);
    g_test_add_func("/options-qemu/help", test_help);
    g_test_add_func("/options-qemu/junk", test_junk);
    return g_test_run();
}
