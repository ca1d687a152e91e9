/* Unit tests for src/options/: config_parse() and the OptList helpers. */
#include <stdio.h>
#include <string.h>
#include <glib.h>

#include "config.h"
#include "util/strutil.h"
#include "options-test-util.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ------------------------------------------------------------------------ */

static void test_defaults(void)
{
    StratusConfig *cfg = parse_ok(BASE);

    g_assert_false(cfg->show_help);
    g_assert_false(cfg->show_version);
    g_assert_cmpstr(cfg->machine_type, ==, "microvm");
    g_assert_cmpstr(cfg->accel, ==, "kvm:emu");     /* kvm if usable, else emu */
    g_assert_true(cfg->accel_auto);
    g_assert_null(cfg->accel_option);
    g_assert_true(cfg->dump_guest_core);
    g_assert_false(cfg->mem_share);
    g_assert_cmpuint(cfg->smp.cpus, ==, 1);
    g_assert_cmpuint(cfg->smp.maxcpus, ==, 1);
    g_assert_cmpuint(cfg->smp.sockets, ==, 1);
    g_assert_cmpuint(cfg->smp.dies, ==, 1);
    g_assert_cmpuint(cfg->smp.clusters, ==, 1);
    g_assert_cmpuint(cfg->smp.cores, ==, 1);
    g_assert_cmpuint(cfg->smp.threads, ==, 1);
    g_assert_cmpuint(cfg->mem_size, ==, 256 * MiB);
    g_assert_cmpstr(cfg->kernel, ==, "/k");
    g_assert_null(cfg->initrd);
    g_assert_null(cfg->append);
    g_assert_null(cfg->serial_chardev);
    g_assert_cmpuint(cfg->drives->len, ==, 0);
    g_assert_cmpuint(cfg->devices->len, ==, 0);
    g_assert_null(cfg->name);
    g_assert_null(cfg->uuid);
    g_assert_false(cfg->log_enabled);
    g_assert_null(cfg->logfile);
    g_assert_false(cfg->daemonize);
    g_assert_null(cfg->pidfile);
    g_assert_false(cfg->freeze_cpus);
    g_assert_false(cfg->no_shutdown);
    g_assert_null(cfg->qtest);
    g_assert_null(cfg->qtest_log);
    g_assert_cmpuint(cfg->chardevs->len, ==, 1);
    g_assert_cmpuint(cfg->monitors->len, ==, 1);
    config_free(cfg);
}

static void test_help_version(void)
{
    static const struct {
        const char *cmdline;
        bool help, version;
    } cases[] = {
        { "-help", true, false },
        { "-h", true, false },
        { "--help", true, false },
        { "-version", false, true },
        { "-V", false, true },
        { "--version", false, true },
        { "-m 5x -h", true, false },          /* nothing else is checked */
        { "-bogus -version", false, true },
        { "-h -V", true, true },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        StratusConfig *cfg = parse_ok(cases[i].cmdline);
        g_assert_cmpint(cfg->show_help, ==, cases[i].help);
        g_assert_cmpint(cfg->show_version, ==, cases[i].version);
        g_assert_nonnull(cfg->chardevs);
        g_assert_nonnull(cfg->monitors);
        config_free(cfg);
    }
}

static void test_print_help(void)
{
    static const char *const opts[] = {
        "-machine", "-M", "-accel", "-enable-kvm", "-smp", "-m ", "-kernel", "-initrd",
        "-append", "-serial", "-chardev", "-qmp", "-mon", "-name", "-uuid", "-D",
        "-daemonize", "-pidfile", "-S", "-freeze", "-drive", "-device", "-qtest ",
        "-qtest-log", "-nodefaults", "-no-user-config", "-nographic", "-no-shutdown",
        "-display", "-version", "-V", "-help", "-h", "qmp-mode", "qmp-greeting",
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

/* stratus(1) comes from the same table: every help line is in the page. */
static void test_print_man(void)
{
    char *help = NULL, *man = NULL;
    size_t hlen = 0, mlen = 0;
    FILE *f = open_memstream(&help, &hlen);
    FILE *g = open_memstream(&man, &mlen);
    char **lines;
    int heads = 0;

    g_assert_nonnull(f);
    g_assert_nonnull(g);
    config_print_help(f);
    config_print_man(g, "9.9.9");
    fclose(f);
    fclose(g);
    g_assert_true(g_str_has_prefix(man, ".\\\" Generated from src/options/opt-table.c"));
    g_assert_nonnull(strstr(man, "\n.TH STRATUS 1 \"\" \"Stratus 9.9.9\""));
    g_assert_nonnull(strstr(man, ".TP\n\\fB\\-machine\\fR, \\fB\\-M\\fR \\fI[type=]microvm"));
    g_assert_nonnull(strstr(man, ".TP\n\\fB\\-enable\\-kvm\\fR\n\\&same as \\-accel kvm\n"));
    lines = g_strsplit(help, "\n", -1);
    for (char **l = lines; *l; l++) {
        /* "        text" under each "  -name ..." head: the same text, roff-escaped */
        if (g_str_has_prefix(*l, "        ")) {
            g_autoptr(GString) esc = g_string_new("\\&");
            for (const char *c = *l + 8; *c; c++) {
                if (*c == '-') {
                    g_string_append(esc, "\\-");
                } else if (*c == '\\') {
                    g_string_append(esc, "\\e");
                } else {
                    g_string_append_c(esc, *c);
                }
            }
            g_string_append_c(esc, '\n');
            if (!strstr(man, esc->str)) {
                g_error("man page lacks the help text '%s'", *l + 8);
            }
            heads++;
        }
    }
    g_assert_cmpint(heads, >, 20);
    g_strfreev(lines);
    free(help);
    free(man);
}

/* ------------------------------------------------------------------------ */
/* Generic parser rules                                                      */

static void test_parser_rules(void)
{
    static const FailCase fails[] = {
        { BASE "-bogus", "unknown option '-bogus'" },
        { BASE "--bogus", "unknown option '--bogus'" },
        { BASE "--bogus=1", "unknown option '--bogus'" },
        { BASE "-", "unexpected argument '-'" },
        { BASE "--", "unknown option '--'" },
        { BASE "--=x", "unknown option" },
        { BASE "stray", "unexpected argument 'stray'" },
        { BASE "''", "unexpected argument" },
        { BASE "-machine", "option '-machine' requires a value" },
        { BASE "-m", "option '-m' requires a value" },
        { BASE "-name -S", "option '-name' requires a value" },
        { BASE "-name ''", "option '-name' requires a non-empty value" },
        { BASE "--name=", "option '-name' requires a non-empty value" },
        { BASE "-m 512 -m 512", "option '-m' given more than once" },
        { BASE "-smp 1 --smp 1", "option '-smp' given more than once" },
        { BASE "-name a -name b", "option '-name' given more than once" },
        { BASE "-S -freeze", "option '-freeze' given more than once" },
        { BASE "-S -S", "option '-S' given more than once" },
        { BASE "-daemonize -daemonize", "option '-daemonize' given more than once" },
        { "-kernel /a -kernel /b -qmp unix:/q,server,nowait", "option '-kernel' given more" },
        { BASE "-serial stdio -serial pty", "option '-serial' given more than once" },
        { BASE "-D -D", "option '-D' given more than once" },
        { BASE "--daemonize=1", "option '-daemonize' does not take a value" },
        { BASE "--S=on", "option '-S' does not take a value" },
        { BASE "-append", "option '-append' requires a value" },
        { BASE "-append -S", "option '-append' requires a value" },
        { BASE "-uuid", "option '-uuid' requires a value" },
    };
    static const char *const oks[] = {
        BASE "--m 512",
        BASE "--m=512",
        BASE "--smp=2",
        BASE "-nodefaults -no-user-config -nographic -enable-kvm -display none",
        BASE "--nodefaults",
        BASE "-chardev socket,id=c0,path=/tmp/c0 -chardev pty,id=c1",  /* multiple */
        BASE "-drive id=d0,file=/a -drive id=d1,file=/b -device x -device y",
        BASE "-qmp unix:/tmp/q2,server,nowait",
    };

    run_fail_table(fails, G_N_ELEMENTS(fails));
    run_ok_table(oks, G_N_ELEMENTS(oks));
}

static void test_no_crash_junk(void)
{
    /* Odd inputs must produce an error (or succeed), never crash or leak. */
    static const char *const junk[] = {
        "=", ",", ",,", ",,,", "=,=", "a,", ",a", "a,,", "a=,", "a==b", "=a", "a=b=c",
        "id=", "type=", "\\,", "x,y,z", "chardev:", "unix:", "tcp:", "tcp::",
        "tcp:1.2.3.4:", "socket", "socket,", "file", "on", "off", "0", "-1",
        "99999999999999999999", "0x", "none",
    };
    static const char *const opts[] = {
        "-machine", "-accel", "-smp", "-m", "-serial", "-chardev", "-qmp", "-mon",
        "-name", "-uuid", "-drive", "-device", "-qtest", "-qtest-log", "-display",
        "-kernel", "-D", "-append", "-pidfile", "-initrd",
    };

    for (size_t o = 0; o < G_N_ELEMENTS(opts); o++) {
        for (size_t j = 0; j < G_N_ELEMENTS(junk); j++) {
            char *argv[] = { (char *)"stratus", (char *)opts[o], (char *)junk[j], NULL };
            GError *err = NULL;
            StratusConfig *cfg = config_parse(3, argv, &err);

            g_assert_true((cfg == NULL) != (err == NULL));
            if (err) {
                g_assert_null(strchr(err->message, '\n'));
                g_error_free(err);
            }
            config_free(cfg);
        }
    }
    {
        char *argv[] = { (char *)"stratus", NULL };
        GError *err = NULL;
        StratusConfig *cfg = config_parse(1, argv, &err);
        g_assert_null(cfg);
        g_assert_nonnull(strstr(err->message, "Please use '-qmp' or '-mon'"));
        g_clear_error(&err);
        cfg = config_parse(0, argv, &err);
        g_assert_null(cfg);
        g_error_free(err);
    }
}

/* ------------------------------------------------------------------------ */
/* -machine / -accel                                                         */

static void test_machine(void)
{
    static const struct {
        const char *cmdline;
        const char *type, *accel;
        bool dump, share;
    } oks[] = {
        { BASE "-machine microvm", "microvm", "kvm:emu", true, false },
        { BASE "-M microvm", "microvm", "kvm:emu", true, false },
        { BASE "-machine type=q35", "q35", "kvm:emu", true, false },
        { BASE "-machine q35,accel=kvm", "q35", "kvm", true, false },
        { "-machine microvm,accel=qtest", "microvm", "qtest", true, false },
        { "-machine accel=qtest", "microvm", "qtest", true, false },
        { BASE "-machine microvm,dump-guest-core=off", "microvm", "kvm:emu", false,
          false },
        { BASE "-machine microvm,dump-guest-core=on,mem-share=on", "microvm", "kvm:emu",
          true, true },
        { BASE "-machine microvm,mem-share=yes,usb=off", "microvm", "kvm:emu", true,
          true },
        { BASE "-machine microvm,usb=false", "microvm", "kvm:emu", true, false },
        { BASE "-accel kvm", "microvm", "kvm", true, false },
        { "-accel qtest", "microvm", "qtest", true, false },
        { "-machine accel=kvm -accel qtest", "microvm", "qtest", true, false },
        { BASE "-machine accel=qtest -accel kvm", "microvm", "kvm", true, false },
        { BASE "-machine accel=qtest -enable-kvm", "microvm", "kvm", true, false },
        { BASE "-enable-kvm -accel kvm", "microvm", "kvm", true, false },
        { BASE "-accel tcg,ioeventfd=off", "microvm", "emu", true, false },
        { BASE "-accel emu -accel emu,ioeventfd=on", "microvm", "emu", true, false },
        { "-machine q35 -qmp unix:/q,server,nowait", "q35", "kvm:emu", true, false },
    };
    static const FailCase fails[] = {
        { BASE "-machine pc", "-machine: unsupported machine type 'pc'" },
        { BASE "-machine virt", "unsupported machine type 'virt'" },
        { BASE "-M isapc", "-M: unsupported machine type 'isapc'" },
        { BASE "-machine microvm,accel=xen", "-machine: unsupported accel 'xen' (expected "
          "kvm, emu, tcg or qtest, or a list such as kvm:tcg)" },
        { BASE "-machine microvm,foo=bar", "-machine: unknown parameter 'foo'" },
        { BASE "-machine microvm,gic-version=3", "unknown parameter 'gic-version'" },
        { BASE "-machine microvm,usb=on", "-machine: only usb=off is supported" },
        { BASE "-machine microvm,usb=maybe", "only usb=off" },
        { BASE "-machine microvm,dump-guest-core=maybe", "invalid value 'maybe' for "
          "'dump-guest-core'" },
        { BASE "-machine microvm,mem-share=1", "'mem-share'" },
        { BASE "-machine microvm,acpi=maybe", "-machine: Parameter 'acpi' does not accept value "
          "'maybe' (expected on, off or auto)" },
        { BASE "-machine microvm,", "-machine: empty parameter" },
        { BASE "-machine ,microvm", "-machine: empty parameter" },
        { BASE "-machine =", "-machine: parameter '=' has no name" },
        { BASE "-machine microvm,=on", "has no name" },
        { BASE "-accel hvf", "-accel: unsupported accelerator 'hvf' (expected kvm, emu, "
          "tcg or qtest, or a list such as kvm:tcg)" },
        { BASE "-accel kvm,thread=single", "unsupported accelerator" },
        { BASE "-accel emu,thread=single", "-accel: 'thread=single': emu takes only "
          "ioeventfd=on|off" },
        { BASE "-accel tcg,ioeventfd=maybe", "emu takes only ioeventfd=on|off" },
        { BASE "-accel emu,", "-accel: '': emu takes only ioeventfd=on|off" },
        { BASE "-accel qtest -enable-kvm", "-enable-kvm conflicts with -accel qtest" },
        { BASE "-accel kvm -accel qtest", "-accel: qtest cannot be combined with other "
          "accelerators ('kvm:qtest')" },
        { "-qmp unix:/q,server,nowait", "-kernel: kernel file is required for microvm "
          "machine type, which is not provided" },
        { "-machine microvm -qmp unix:/q,server,nowait", "kernel file is required" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        StratusConfig *cfg = parse_ok(oks[i].cmdline);
        g_assert_cmpstr(cfg->machine_type, ==, oks[i].type);
        g_assert_cmpstr(cfg->accel, ==, oks[i].accel);
        g_assert_cmpint(cfg->dump_guest_core, ==, oks[i].dump);
        g_assert_cmpint(cfg->mem_share, ==, oks[i].share);
        config_free(cfg);
    }
    run_fail_table(fails, G_N_ELEMENTS(fails));
    {
        StratusConfig *cfg = parse_ok(BASE "-accel tcg,ioeventfd=off");

        g_assert_cmpint(cfg->emu_ioeventfd, ==, FEATURE_OFF);
        config_free(cfg);
        cfg = parse_ok(BASE "-accel emu");
        g_assert_cmpint(cfg->emu_ioeventfd, ==, FEATURE_AUTO);
        config_free(cfg);
        cfg = parse_ok(BASE "-accel emu,ioeventfd=yes");
        g_assert_cmpint(cfg->emu_ioeventfd, ==, FEATURE_ON);
        config_free(cfg);
    }
}

/* acpi=: on, off (and bool spellings), auto; the default is auto (off on microvm). */
static void test_machine_acpi(void)
{
    static const struct {
        const char *cmdline;
        FeatureSwitch acpi;
    } cases[] = {
        { BASE, FEATURE_AUTO },
        { BASE "-machine microvm,acpi=on", FEATURE_ON },
        { BASE "-machine microvm,acpi=off", FEATURE_OFF },
        { BASE "-machine microvm,acpi=yes", FEATURE_ON },
        { BASE "-machine microvm,acpi=auto", FEATURE_AUTO },
        { BASE "-machine microvm,acpi=on -machine acpi=off", FEATURE_OFF },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        StratusConfig *cfg = parse_ok(cases[i].cmdline);
        g_assert_cmpint(cfg->machine_acpi, ==, cases[i].acpi);
        config_free(cfg);
    }
}

/* ------------------------------------------------------------------------ */
/* Accelerator lists, the tcg alias, -enable-kvm (accel_select() resolves)   */

static void test_accel(void)
{
    static const struct {
        const char *cmdline;
        const char *accel;      /* canonical list */
        const char *option;     /* cfg->accel_option; NULL = automatic */
    } oks[] = {
        { BASE, "kvm:emu", NULL },
        { BASE "-machine microvm", "kvm:emu", NULL },
        { BASE "-accel emu", "emu", "-accel emu" },
        { BASE "-accel tcg", "emu", "-accel tcg" },
        { BASE "--accel=tcg", "emu", "-accel tcg" },
        { BASE "-accel kvm", "kvm", "-accel kvm" },
        { BASE "-accel kvm:tcg", "kvm:emu", "-accel kvm:tcg" },
        { BASE "-accel kvm:emu", "kvm:emu", "-accel kvm:emu" },
        { BASE "-accel tcg:kvm", "emu:kvm", "-accel tcg:kvm" },
        { BASE "-accel kvm:tcg:emu:kvm", "kvm:emu", "-accel kvm:tcg:emu:kvm" },
        { BASE "-accel tcg:emu", "emu", "-accel tcg:emu" },
        { BASE "-machine accel=tcg", "emu", "-machine accel=tcg" },
        { BASE "-machine accel=kvm:tcg", "kvm:emu", "-machine accel=kvm:tcg" },
        { BASE "-machine q35,accel=kvm:emu", "kvm:emu", "-machine accel=kvm:emu" },
        { BASE "-M microvm,accel=emu", "emu", "-M accel=emu" },
        { BASE "-machine accel=kvm:tcg -accel tcg", "emu", "-accel tcg" },
        { BASE "-machine accel=tcg -accel kvm", "kvm", "-accel kvm" },
        { BASE "-enable-kvm", "kvm", "-enable-kvm" },
        { BASE "-machine accel=tcg -enable-kvm", "kvm", "-enable-kvm" },
        { BASE "-machine accel=kvm:tcg -enable-kvm", "kvm", "-enable-kvm" },
        { BASE "-enable-kvm -accel kvm", "kvm", "-accel kvm" },
        { BASE "-accel kvm:kvm -enable-kvm", "kvm", "-accel kvm:kvm" },
        { "-accel qtest", "qtest", "-accel qtest" },
        { "-accel qtest:qtest", "qtest", "-accel qtest:qtest" },
        { "-machine accel=qtest", "qtest", "-machine accel=qtest" },
        { "-qtest unix:/q", "qtest", "-qtest" },
        { "-qtest unix:/q -accel qtest", "qtest", "-accel qtest" },
    };
    static const FailCase fails[] = {
        { BASE "-accel hvf", "-accel: unsupported accelerator 'hvf' (expected kvm, emu, "
          "tcg or qtest, or a list such as kvm:tcg)" },
        { BASE "-accel KVM", "-accel: unsupported accelerator 'KVM' (expected" },
        { BASE "-accel kvm:hvf", "-accel: unsupported accelerator 'hvf' in 'kvm:hvf' "
          "(expected kvm, emu, tcg or qtest, or a list such as kvm:tcg)" },
        { BASE "-accel kvm,thread=single", "-accel: unsupported accelerator "
          "'kvm,thread=single'" },
        { BASE "-accel kvm:", "-accel: empty accelerator name in 'kvm:' (expected" },
        { BASE "-accel :tcg", "-accel: empty accelerator name in ':tcg'" },
        { BASE "-accel kvm::tcg", "-accel: empty accelerator name in 'kvm::tcg'" },
        { BASE "-accel :", "-accel: empty accelerator name in ':'" },
        { BASE "-accel kvm:qtest", "-accel: qtest cannot be combined with other "
          "accelerators ('kvm:qtest')" },
        { BASE "-accel qtest:tcg", "qtest cannot be combined" },
        { BASE "-machine accel=xen", "-machine: unsupported accel 'xen' (expected kvm, emu, "
          "tcg or qtest, or a list such as kvm:tcg)" },
        { BASE "-machine accel=kvm:xen", "-machine: unsupported accel 'xen' in 'kvm:xen'" },
        { BASE "-machine accel=tcg:", "-machine: empty accel name in 'tcg:'" },
        { BASE "-machine accel=", "-machine: empty accel name" },
        { BASE "-M accel=qtest:kvm", "-M: qtest cannot be combined with other "
          "accelerators ('qtest:kvm')" },
        { BASE "-accel tcg -enable-kvm", "-enable-kvm conflicts with -accel tcg" },
        { BASE "-enable-kvm -accel emu", "-enable-kvm conflicts with -accel emu" },
        { BASE "-enable-kvm -accel kvm:tcg", "-enable-kvm conflicts with -accel kvm:tcg" },
        { BASE "-qtest unix:/q -accel tcg", "-qtest can only be used with accel qtest" },
        { BASE "-qtest unix:/q -machine accel=kvm:tcg",
          "-qtest can only be used with accel qtest" },
        /* emu runs a guest: a monitor and (microvm) a kernel are required */
        { "-accel tcg -qmp unix:/q,server,nowait", "-kernel: kernel file is required" },
        { "-accel emu -kernel /k", "Please use '-qmp' or '-mon'" },
        { "-machine accel=kvm:tcg -kernel /k", "Please use '-qmp' or '-mon'" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        StratusConfig *cfg = parse_ok(oks[i].cmdline);
        g_assert_cmpstr(cfg->accel, ==, oks[i].accel);
        g_assert_cmpstr(cfg->accel_option, ==, oks[i].option);
        g_assert_cmpint(cfg->accel_auto, ==, oks[i].option == NULL);
        config_free(cfg);
    }
    run_fail_table(fails, G_N_ELEMENTS(fails));
}

/* ------------------------------------------------------------------------ */
/* -smp                                                                      */

static void test_smp(void)
{
    static const struct {
        const char *smp;
        uint32_t cpus, maxcpus, sockets, dies, clusters, cores, threads;
    } oks[] = {
        { "1", 1, 1, 1, 1, 1, 1, 1 },
        { "4", 4, 4, 1, 1, 1, 4, 1 },
        { "cpus=4", 4, 4, 1, 1, 1, 4, 1 },
        { "254", 254, 254, 1, 1, 1, 254, 1 },
        { "0x10", 16, 16, 1, 1, 1, 16, 1 },
        { "4,maxcpus=8", 4, 8, 1, 1, 1, 8, 1 },
        { "4,sockets=2", 4, 4, 2, 1, 1, 2, 1 },
        { "4,sockets=2,cores=2", 4, 4, 2, 1, 1, 2, 1 },
        { "4,cores=2", 4, 4, 2, 1, 1, 2, 1 },
        { "4,threads=2", 4, 4, 1, 1, 1, 2, 2 },
        { "4,sockets=2,threads=2", 4, 4, 2, 1, 1, 1, 2 },
        { "4,cores=2,threads=2", 4, 4, 1, 1, 1, 2, 2 },
        { "4,sockets=1,cores=2,threads=2", 4, 4, 1, 1, 1, 2, 2 },
        { "2,sockets=2,cores=2,threads=1", 2, 4, 2, 1, 1, 2, 1 },
        { "8,sockets=2,dies=2,clusters=1,cores=2,threads=1", 8, 8, 2, 2, 1, 2, 1 },
        { "8,sockets=1,dies=1,clusters=2,cores=2,threads=2", 8, 8, 1, 1, 2, 2, 2 },
        { "1,maxcpus=254", 1, 254, 1, 1, 1, 254, 1 },
        { "2,maxcpus=4,sockets=2,cores=1,threads=2", 2, 4, 2, 1, 1, 1, 2 },
        { "cpus=3,maxcpus=3,sockets=3,cores=1,threads=1", 3, 3, 3, 1, 1, 1, 1 },
        /* maxcpus from the topology product */
        { "4,sockets=2,cores=2,threads=2", 4, 8, 2, 1, 1, 2, 2 },
    };
    static const FailCase fails[] = {
        { "-smp 0", "-smp: cpus must be in range [1, 254]" },
        { "-smp 255", "-smp: cpus must be in range [1, 254]" },
        { "-smp 1000", "cpus must be in range" },
        { "-smp -1", "-smp: invalid value '-1' for 'cpus'" },
        { "-smp 4x", "invalid value '4x' for 'cpus'" },
        { "-smp 99999999999999999999", "invalid value" },
        { "-smp ''", "option '-smp' requires a non-empty value" },
        { "-smp 4,maxcpus=2", "-smp: maxcpus (2) must be >= cpus (4)" },
        { "-smp 4,maxcpus=255", "maxcpus must be in range [1, 254]" },
        { "-smp 4,maxcpus=0", "maxcpus must be in range" },
        { "-smp 4,sockets=0", "sockets must be in range" },
        { "-smp 4,cores=0", "cores must be in range" },
        { "-smp 4,threads=0", "threads must be in range" },
        { "-smp 4,dies=0", "dies must be in range" },
        { "-smp 4,clusters=0", "clusters must be in range" },
        { "-smp 4,sockets=3", "sockets * dies * clusters * cores * threads must be "
          "equal to max_cpus" },
        { "-smp 4,cores=3", "must be equal to max_cpus" },
        { "-smp 4,threads=3", "must be equal to max_cpus" },
        { "-smp 8,sockets=2,cores=2,threads=1", "maxcpus (4) must be >= cpus (8)" },
        { "-smp 4,maxcpus=8,sockets=2,cores=2,threads=1", "must be equal to max_cpus" },
        { "-smp 200,sockets=200,cores=200", "must be equal to max_cpus" },
        { "-smp 200,sockets=200,cores=200,threads=1", "maxcpus must be in range" },
        /* threads unspecified: maxcpus = cpus = 2, threads = 2 / 4 = 0 (StratoVirt) */
        { "-smp 2,sockets=2,cores=2", "must be equal to max_cpus" },
        { "-smp sockets=2,cores=2", "-smp: 'cpus' is required" },
        { "-smp 4,foo=1", "-smp: unknown parameter 'foo'" },
        { "-smp 4,cpus=", "invalid value '' for 'cpus'" },
        { "-smp 4,", "-smp: empty parameter" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        char *cmd = g_strdup_printf(BASE "-smp %s", oks[i].smp);
        StratusConfig *cfg = parse_ok(cmd);
        const SmpConfig *s = &cfg->smp;

        if (s->cpus != oks[i].cpus || s->maxcpus != oks[i].maxcpus ||
            s->sockets != oks[i].sockets || s->dies != oks[i].dies ||
            s->clusters != oks[i].clusters || s->cores != oks[i].cores ||
            s->threads != oks[i].threads) {
            g_error("-smp %s: got cpus=%u maxcpus=%u s=%u d=%u cl=%u c=%u t=%u",
                    oks[i].smp, s->cpus, s->maxcpus, s->sockets, s->dies, s->clusters,
                    s->cores, s->threads);
        }
        config_free(cfg);
        g_free(cmd);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(fails); i++) {
        char *cmd = g_strdup_printf(BASE "%s", fails[i].cmdline);
        expect_fail(cmd, fails[i].substr);
        g_free(cmd);
    }
}

/* ------------------------------------------------------------------------ */
/* -m                                                                        */

static void test_mem(void)
{
    static const struct {
        const char *m;
        uint64_t size;
    } oks[] = {
        { "128", 128 * MiB },
        { "128M", 128 * MiB },
        { "128m", 128 * MiB },
        { "131072K", 128 * MiB },
        { "131072k", 128 * MiB },
        { "256", 256 * MiB },
        { "size=1G", GiB },
        { "2G", 2 * GiB },
        { "2g", 2 * GiB },
        { "512G", 512 * GiB },
        { "524288", 512 * GiB },
        { "1G,maxmem=2G", GiB },
        { "1G,maxmem=1G", GiB },
        { "size=1G,maxmem=4096", GiB },
    };
    static const FailCase fails[] = {
        { "-m 0", "invalid -m value '0': Memory size must >= 128MiB and <= 512GiB" },
        { "-m 1K", "invalid -m value '1K': Memory size must >= 128MiB" },
        { "-m 127M", "invalid -m value '127M'" },
        { "-m 127", "invalid -m value '127'" },
        { "-m 131071K", "invalid -m value '131071K'" },
        { "-m 513G", "invalid -m value '513G': Memory size must >= 128MiB and <= 512GiB" },
        { "-m 524289", "invalid -m value '524289'" },
        { "-m 99999999999999999999G", "invalid -m value '99999999999999999999G'" },
        { "-m 17592186044416", "too large" },
        { "-m 12X", "invalid -m value '12X'" },
        { "-m -5", "invalid -m value '-5'" },
        { "-m 1.5G", "invalid -m value '1.5G'" },
        { "-m 1GB", "invalid -m value '1GB'" },
        { "-m 1T", "invalid -m value '1T'" },
        { "-m G", "invalid -m value 'G'" },
        { "-m size=", "invalid -m value ''" },
        { "-m 1G,maxmem=512M", "-m: maxmem (512M) must be >= size (1G)" },
        { "-m 1G,maxmem=x", "invalid -m maxmem 'x'" },
        { "-m 1G,foo=1", "-m: unknown parameter 'foo'" },
        { "-m maxmem=1G", "-m: 'size' is required" },
        { "-m 1G,", "-m: empty parameter" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        char *cmd = g_strdup_printf(BASE "-m %s", oks[i].m);
        StratusConfig *cfg = parse_ok(cmd);
        g_assert_cmpuint(cfg->mem_size, ==, oks[i].size);
        config_free(cfg);
        g_free(cmd);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(fails); i++) {
        char *cmd = g_strdup_printf(BASE "%s", fails[i].cmdline);
        expect_fail(cmd, fails[i].substr);
        g_free(cmd);
    }
}

/* ------------------------------------------------------------------------ */
/* -kernel / -initrd / -append                                               */

static void test_boot(void)
{
    StratusConfig *cfg;
    char *longpath, *cmd;

    cfg = parse_ok(BASE "-initrd /i -append console=ttyS0 root=/dev/vda rw -S");
    g_assert_cmpstr(cfg->kernel, ==, "/k");
    g_assert_cmpstr(cfg->initrd, ==, "/i");
    g_assert_cmpstr(cfg->append, ==, "console=ttyS0 root=/dev/vda rw");
    g_assert_true(cfg->freeze_cpus);
    config_free(cfg);

    cfg = parse_ok(BASE "-append 'console=ttyS0 reboot=k' panic=1");
    g_assert_cmpstr(cfg->append, ==, "console=ttyS0 reboot=k panic=1");
    config_free(cfg);

    cfg = parse_ok(BASE "-append a -append b c");
    g_assert_cmpstr(cfg->append, ==, "a b c");
    config_free(cfg);

    cfg = parse_ok(BASE "--append=a b");
    g_assert_cmpstr(cfg->append, ==, "a b");
    config_free(cfg);

    cfg = parse_ok("-append x -kernel /k2 -qmp unix:/q,server,nowait");
    g_assert_cmpstr(cfg->append, ==, "x");
    g_assert_cmpstr(cfg->kernel, ==, "/k2");
    config_free(cfg);

    /* Paths up to 4096 characters. */
    longpath = g_strnfill(4096, 'a');
    cmd = g_strdup_printf("-qmp unix:/q,server,nowait -kernel %s -initrd %s",
                          longpath, longpath);
    cfg = parse_ok(cmd);
    g_assert_cmpuint(strlen(cfg->kernel), ==, 4096);
    config_free(cfg);
    g_free(cmd);
    g_free(longpath);

    longpath = g_strnfill(4097, 'a');
    cmd = g_strdup_printf("-qmp unix:/q,server,nowait -kernel %s", longpath);
    expect_fail(cmd, "-kernel: path is too long");
    g_free(cmd);
    cmd = g_strdup_printf(BASE "-initrd %s", longpath);
    expect_fail(cmd, "-initrd: path is too long");
    g_free(cmd);
    g_free(longpath);

    expect_fail(BASE "-initrd ''", "option '-initrd' requires a non-empty value");
    expect_fail(BASE "-initrd", "option '-initrd' requires a value");
    expect_fail("-qmp unix:/q,server,nowait -kernel", "option '-kernel' requires a value");
}

/* ------------------------------------------------------------------------ */
/* -chardev                                                                  */

static void test_chardev(void)
{
    StratusConfig *cfg;
    const ChardevConfig *c;

    cfg = parse_ok(BASE "-chardev stdio,id=s -chardev pty,id=p -chardev file,id=f,path=/log "
                   "-chardev socket,id=u,path=/tmp/u.sock,server,nowait "
                   "-chardev socket,id=t,port=4444,host=127.0.0.1,server=on,wait=off "
                   "-chardev socket,id=t2,port=5555 "
                   "-chardev socket,id=fd,fd=3 "
                   "-chardev socket,id=cl,path=/tmp/cl.sock "
                   "-chardev socket,id=sw,path=/tmp/sw,server=on");
    g_assert_cmpuint(cfg->chardevs->len, ==, 10);   /* + qmp0 */

    c = config_find_chardev(cfg, "s");
    g_assert_nonnull(c);
    g_assert_cmpint(c->kind, ==, CHARDEV_STDIO);
    g_assert_null(c->path);
    g_assert_cmpint(c->fd, ==, -1);
    g_assert_cmpint(c->port, ==, -1);

    c = config_find_chardev(cfg, "p");
    g_assert_cmpint(c->kind, ==, CHARDEV_PTY);

    c = config_find_chardev(cfg, "f");
    g_assert_cmpint(c->kind, ==, CHARDEV_FILE);
    g_assert_cmpstr(c->path, ==, "/log");

    c = config_find_chardev(cfg, "u");
    g_assert_cmpint(c->kind, ==, CHARDEV_SOCKET);
    g_assert_cmpstr(c->path, ==, "/tmp/u.sock");
    g_assert_null(c->host);
    g_assert_cmpint(c->port, ==, -1);
    g_assert_true(c->server);
    g_assert_true(c->nowait);

    c = config_find_chardev(cfg, "t");
    g_assert_null(c->path);
    g_assert_cmpstr(c->host, ==, "127.0.0.1");
    g_assert_cmpint(c->port, ==, 4444);
    g_assert_true(c->server);
    g_assert_true(c->nowait);

    c = config_find_chardev(cfg, "t2");
    g_assert_cmpstr(c->host, ==, "0.0.0.0");
    g_assert_cmpint(c->port, ==, 5555);
    g_assert_false(c->server);
    g_assert_false(c->nowait);

    c = config_find_chardev(cfg, "fd");
    g_assert_cmpint(c->fd, ==, 3);
    g_assert_false(c->server);
    g_assert_null(c->path);

    c = config_find_chardev(cfg, "cl");
    g_assert_false(c->server);

    c = config_find_chardev(cfg, "sw");
    g_assert_true(c->server);
    g_assert_false(c->nowait);

    g_assert_null(config_find_chardev(cfg, "nope"));
    g_assert_null(config_find_chardev(cfg, NULL));
    g_assert_null(config_find_chardev(NULL, "s"));
    config_free(cfg);

    /* wait=on and nowait=off are both "wait". */
    cfg = parse_ok(BASE "-chardev socket,id=a,path=/a,server,wait=on "
                   "-chardev socket,id=b,path=/b,server=off,nowait=off "
                   "-chardev socket,id=c,path=/c,server=yes,nowait=on");
    g_assert_false(config_find_chardev(cfg, "a")->nowait);
    g_assert_false(config_find_chardev(cfg, "b")->server);
    g_assert_false(config_find_chardev(cfg, "b")->nowait);
    g_assert_true(config_find_chardev(cfg, "c")->nowait);
    config_free(cfg);

    /* ",," escapes a comma inside a value. */
    cfg = parse_ok(BASE "-chardev file,id=f,path=/tmp/a,,b");
    g_assert_cmpstr(config_find_chardev(cfg, "f")->path, ==, "/tmp/a,b");
    config_free(cfg);

    {
        char *longp = g_strnfill(106, 'x');
        char *path107 = g_strdup_printf("/%s", longp);     /* 107 bytes */
        char *cmd;

        cmd = g_strdup_printf(BASE "-chardev socket,id=s,path=%s", path107);
        config_free(parse_ok(cmd));
        g_free(cmd);
        cmd = g_strdup_printf(BASE "-chardev socket,id=s,path=%sx", path107);
        expect_fail(cmd, "-chardev: unix socket path");
        g_free(cmd);
        g_free(path107);
        g_free(longp);

        longp = g_strnfill(255, 'i');
        cmd = g_strdup_printf(BASE "-chardev pty,id=%s", longp);
        config_free(parse_ok(cmd));
        g_free(cmd);
        cmd = g_strdup_printf(BASE "-chardev pty,id=%si", longp);
        expect_fail(cmd, "-chardev: id is too long");
        g_free(cmd);
        g_free(longp);
    }

    {
        static const FailCase fails[] = {
            { BASE "-chardev stdio", "-chardev: 'id' is required" },
            { BASE "-chardev pty", "-chardev: 'id' is required" },
            { BASE "-chardev id=x", "-chardev: missing backend type" },
            { BASE "-chardev null", "-chardev: 'id' is required" },
            { BASE "-chardev null,id=x,path=/a", "-chardev: unknown parameter 'path'" },
            { BASE "-chardev ringbuf,id=x", "-chardev: unsupported backend 'ringbuf' "
              "(expected stdio, pty, file, socket or null)" },
            { BASE "-chardev null,id=x -mon chardev=x",
              "-mon: Only chardev of socket type can be used for monitor" },
            { BASE "-chardev spicevmc,id=x", "unsupported backend" },
            { BASE "-chardev stdio,id=", "-chardev: id must not be empty" },
            { BASE "-chardev stdio,id=x,signal=off", "-chardev: unknown parameter 'signal'" },
            { BASE "-chardev stdio,id=x,path=/a", "unknown parameter 'path'" },
            { BASE "-chardev pty,id=x,server", "unknown parameter 'server'" },
            { BASE "-chardev file,id=x", "-chardev: 'path' is required for a file" },
            { BASE "-chardev file,id=x,path=", "-chardev: path must not be empty" },
            { BASE "-chardev file,id=x,path=/a,server", "unknown parameter 'server'" },
            { BASE "-chardev socket,id=x", "-chardev: a socket chardev needs 'path', 'port'"
              " or 'fd'" },
            { BASE "-chardev socket,id=x,host=1.2.3.4", "-chardev: 'host' needs 'port'" },
            { BASE "-chardev socket,id=x,path=/a,port=1", "mutually exclusive" },
            { BASE "-chardev socket,id=x,path=/a,fd=3", "mutually exclusive" },
            { BASE "-chardev socket,id=x,port=1,fd=3", "mutually exclusive" },
            { BASE "-chardev socket,id=x,port=65536", "-chardev: invalid port '65536'" },
            { BASE "-chardev socket,id=x,port=-1", "invalid port '-1'" },
            { BASE "-chardev socket,id=x,port=http", "invalid port 'http'" },
            { BASE "-chardev socket,id=x,port=1,host=", "-chardev: host must not be empty" },
            { BASE "-chardev socket,id=x,fd=abc", "-chardev: invalid fd 'abc'" },
            { BASE "-chardev socket,id=x,fd=-1", "invalid fd '-1'" },
            { BASE "-chardev socket,id=x,fd=2147483648", "invalid fd" },
            { BASE "-chardev socket,id=x,fd=3,server", "cannot be combined with 'server'" },
            { BASE "-chardev socket,id=x,path=/a,server=maybe", "invalid value 'maybe' for "
              "'server'" },
            { BASE "-chardev socket,id=x,path=/a,nowait=x", "for 'nowait'" },
            { BASE "-chardev socket,id=x,path=/a,wait=x", "for 'wait'" },
            { BASE "-chardev socket,id=x,path=/a,server,nowait,wait=on",
              "'nowait' and 'wait' contradict" },
            { BASE "-chardev socket,id=x,path=/a,telnet", "unknown parameter 'telnet'" },
            { BASE "-chardev socket,id=x,path=", "-chardev: socket path must not be empty" },
            { BASE "-chardev pty,id=a -chardev stdio,id=a",
              "-chardev: chardev id 'a' is already in use" },
            { BASE "-chardev pty,id=qmp0", "-chardev: chardev id 'qmp0' is already in use" },
            { BASE "-chardev pty,id=serial_chardev -serial stdio",
              "-serial: chardev id 'serial_chardev' is already in use" },
            { BASE "-chardev stdio,id=a -chardev stdio,id=b",
              "-chardev: Can't set multiple devices redirected to stdio" },
            { BASE "-chardev stdio,id=a -serial stdio", "-serial: Can't set multiple devices "
              "redirected to stdio" },
            { BASE "-chardev ''", "option '-chardev' requires a non-empty value" },
            { BASE "-chardev ,", "-chardev: empty parameter" },
        };
        run_fail_table(fails, G_N_ELEMENTS(fails));
    }
}

/* ------------------------------------------------------------------------ */
/* -serial                                                                   */

static void cfg_expect_no_serial(const char *cmd)
{
    StratusConfig *cfg = parse_ok(cmd);
    g_assert_null(cfg->serial_chardev);
    g_assert_null(config_find_chardev(cfg, "serial_chardev"));
    config_free(cfg);
}

static void test_serial(void)
{
    static const struct {
        const char *serial;
        ChardevBackendKind kind;
        const char *path;
        int port;
        const char *host;
    } oks[] = {
        { "stdio", CHARDEV_STDIO, NULL, -1, NULL },
        { "pty", CHARDEV_PTY, NULL, -1, NULL },
        { "file,path=/tmp/serial.log", CHARDEV_FILE, "/tmp/serial.log", -1, NULL },
        { "socket,path=/tmp/s.sock,server,nowait", CHARDEV_SOCKET, "/tmp/s.sock", -1, NULL },
        { "socket,path=/tmp/s.sock,server=on,wait=off", CHARDEV_SOCKET, "/tmp/s.sock", -1,
          NULL },
        { "socket,port=4321,server,nowait", CHARDEV_SOCKET, NULL, 4321, "0.0.0.0" },
        { "socket,port=4321,host=127.0.0.1,server,nowait", CHARDEV_SOCKET, NULL, 4321,
          "127.0.0.1" },
        { "null", CHARDEV_NULL, NULL, -1, NULL },
    };
    static const FailCase fails[] = {
        { BASE "-serial chardev:", "-serial: chardev id must not be empty" },
        { BASE "-serial chardev:nope", "-serial: chardev 'nope' not found" },
        { BASE "-serial vc", "-serial: unsupported backend 'vc'" },
        { BASE "-serial stdio,id=x", "-serial: unknown parameter 'id'" },
        { BASE "-serial file", "-serial: 'path' is required" },
        { BASE "-serial socket", "-serial: a socket chardev needs" },
        { BASE "-serial socket,path=/tmp/s,server", "-serial: Argument 'server' and "
          "'nowait' are both required for chardev 'serial_chardev'" },
        { BASE "-serial socket,path=/tmp/s,server=on", "both required" },
        { BASE "-chardev socket,id=c,path=/s,server -serial chardev:c",
          "-serial: Argument 'server' and 'nowait' are both required for chardev 'c'" },
        { BASE "-serial stdio -daemonize", "-daemonize: Device redirected to stdio and "
          "daemonize can't be set together" },
        { BASE "-chardev socket,id=c,path=/s,server,nowait -serial chardev:c "
          "-mon chardev=c", "-mon: chardev 'c' is already used by -serial" },
        { BASE "-serial chardev:qmp0", "-qmp: chardev 'qmp0' is already used by -serial" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        char *cmd = g_strdup_printf(BASE "-serial %s", oks[i].serial);
        StratusConfig *cfg = parse_ok(cmd);
        const ChardevConfig *c;

        g_assert_cmpstr(cfg->serial_chardev, ==, "serial_chardev");
        c = config_find_chardev(cfg, "serial_chardev");
        g_assert_nonnull(c);
        g_assert_cmpint(c->kind, ==, oks[i].kind);
        g_assert_cmpstr(c->path, ==, oks[i].path);
        g_assert_cmpint(c->port, ==, oks[i].port);
        g_assert_cmpstr(c->host, ==, oks[i].host);
        config_free(cfg);
        g_free(cmd);
    }

    {
        StratusConfig *cfg = parse_ok(BASE "-serial chardev:con -chardev pty,id=con");
        g_assert_cmpstr(cfg->serial_chardev, ==, "con");
        g_assert_null(config_find_chardev(cfg, "serial_chardev"));
        config_free(cfg);

        cfg = parse_ok(BASE "-chardev socket,id=console,fd=5 -serial chardev:console");
        g_assert_cmpstr(cfg->serial_chardev, ==, "console");
        config_free(cfg);

        cfg = parse_ok(BASE "-chardev socket,id=c,path=/c -serial chardev:c");  /* client */
        config_free(cfg);

        /* none: no COM1; null: COM1 on a null back end (QEMU). */
        cfg = parse_ok(BASE "-serial none");
        g_assert_null(cfg->serial_chardev);
        g_assert_null(config_find_chardev(cfg, "serial_chardev"));
        config_free(cfg);

        cfg = parse_ok(BASE "-chardev null,id=n -serial chardev:n");
        g_assert_cmpstr(cfg->serial_chardev, ==, "n");
        g_assert_cmpint(config_find_chardev(cfg, "n")->kind, ==, CHARDEV_NULL);
        config_free(cfg);

        /* No -serial: no COM1 (StratoVirt), except under qtest. */
        cfg = parse_ok(BASE);
        g_assert_null(cfg->serial_chardev);
        config_free(cfg);
    }

    /* Under qtest a VM without -serial has COM1 on a null back end, as QEMU's. */
    {
        static const char *const qtest_base[] = {
            "-qtest unix:/tmp/q.sock",
            "-accel qtest",
            "-machine accel=qtest",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(qtest_base); i++) {
            StratusConfig *cfg = parse_ok(qtest_base[i]);
            const ChardevConfig *c = config_find_chardev(cfg, "serial_chardev");
            g_assert_cmpstr(cfg->serial_chardev, ==, "serial_chardev");
            g_assert_nonnull(c);
            g_assert_cmpint(c->kind, ==, CHARDEV_NULL);
            config_free(cfg);
        }
        cfg_expect_no_serial("-accel qtest -serial none");
        cfg_expect_no_serial("-accel qtest -nodefaults");
        cfg_expect_no_serial("-nodefaults -qtest unix:/tmp/q.sock");
        {
            /* An explicit -serial wins; a user chardev named serial_chardev too. */
            StratusConfig *cfg = parse_ok("-accel qtest -serial pty");
            g_assert_cmpint(config_find_chardev(cfg, "serial_chardev")->kind, ==,
                            CHARDEV_PTY);
            config_free(cfg);
            cfg = parse_ok("-accel qtest -chardev pty,id=serial_chardev");
            g_assert_null(cfg->serial_chardev);
            config_free(cfg);
        }
    }
    run_fail_table(fails, G_N_ELEMENTS(fails));
}

/* ------------------------------------------------------------------------ */
/* -qmp                                                                      */

static void test_qmp(void)
{
    static const struct {
        const char *qmp;
        const char *path, *host;
        int port;
        QmpMode mode;
        QmpGreeting greeting;
    } oks[] = {
        { "unix:/tmp/q.sock,server,nowait", "/tmp/q.sock", NULL, -1, QMP_MODE_LENIENT,
          QMP_GREETING_QEMU },
        { "unix:/tmp/q.sock,server=on,wait=off", "/tmp/q.sock", NULL, -1, QMP_MODE_LENIENT,
          QMP_GREETING_QEMU },
        { "unix:/tmp/q.sock,nowait,server", "/tmp/q.sock", NULL, -1, QMP_MODE_LENIENT,
          QMP_GREETING_QEMU },
        { "unix:/tmp/a=b,server,nowait", "/tmp/a=b", NULL, -1, QMP_MODE_LENIENT,
          QMP_GREETING_QEMU },
        { "unix:/tmp/a,,b,server,nowait", "/tmp/a,b", NULL, -1, QMP_MODE_LENIENT,
          QMP_GREETING_QEMU },
        { "unix:/p,server,nowait,qmp-mode=strict", "/p", NULL, -1, QMP_MODE_STRICT,
          QMP_GREETING_QEMU },
        { "unix:/p,server,nowait,qmp-mode=lenient,qmp-greeting=legacy", "/p", NULL, -1,
          QMP_MODE_LENIENT, QMP_GREETING_LEGACY },
        { "unix:/p,server,nowait,qmp-greeting=qemu,qmp-mode=strict", "/p", NULL, -1,
          QMP_MODE_STRICT, QMP_GREETING_QEMU },
        { "tcp:127.0.0.1:4444,server,nowait", NULL, "127.0.0.1", 4444, QMP_MODE_LENIENT,
          QMP_GREETING_QEMU },
        { "tcp:0.0.0.0:0,server,nowait", NULL, "0.0.0.0", 0, QMP_MODE_LENIENT,
          QMP_GREETING_QEMU },
        { "tcp:[::1]:65535,server=on,wait=off", NULL, "::1", 65535, QMP_MODE_LENIENT,
          QMP_GREETING_QEMU },
        { "tcp:::1:80,server,nowait", NULL, "::1", 80, QMP_MODE_LENIENT,
          QMP_GREETING_QEMU },
    };
    static const FailCase fails[] = {
        { "-kernel /k -qmp unix:/q,server", "-qmp: Argument 'server' and 'nowait' are "
          "both required" },
        { "-kernel /k -qmp unix:/q,server=on", "both required" },
        { "-kernel /k -qmp unix:/q,server=on,wait=on", "both required" },
        /* A client (no server) takes no wait flag: QEMU's text. */
        { "-kernel /k -qmp unix:/q,nowait", "-qmp: 'wait' option is incompatible with "
          "socket in client connect mode" },
        { "-kernel /k -qmp unix:/q,server=off,wait=off", "'wait' option is incompatible" },
        { "-kernel /k -qmp tcp:127.0.0.1:4444,wait=on", "'wait' option is incompatible" },
        { "-kernel /k -qmp unix:/q,server,nowait,rate-limit=0",
          "-qmp: rate-limit must be 'off' or a number of commands per second in "
          "[1, 1000000], got '0'" },
        { "-kernel /k -qmp unix:/q,server,nowait,rate-limit=1000001", "got '1000001'" },
        { "-kernel /k -qmp unix:/q,server,nowait,rate-limit=-5", "got '-5'" },
        { "-kernel /k -qmp unix:/q,server,nowait,rate-limit=fast", "got 'fast'" },
        { "-kernel /k -qmp unix:/q,server,nowait,rate-limit=10k", "got '10k'" },
        { "-kernel /k -qmp unix:/q,server,nowait,rate-limit=", "got ''" },
        { "-kernel /k -qmp unix:/q,server,nowait,rate-limit=on", "got 'on'" },
        { "-kernel /k -qmp unix:/q,server,nowait,wait=on", "contradict" },
        { "-kernel /k -qmp unix:,server,nowait", "-qmp: socket path must not be empty" },
        { "-kernel /k -qmp /tmp/q,server,nowait", "-qmp: invalid socket type in '/tmp/q'" },
        { "-kernel /k -qmp stdio", "-qmp: invalid socket type" },
        { "-kernel /k -qmp tcp:127.0.0.1,server,nowait", "-qmp: expected tcp:HOST:PORT, got 'tcp:127.0.0.1'" },
        { "-kernel /k -qmp tcp:localhost:4444,server,nowait",
          "-qmp: invalid IP address 'localhost'" },
        { "-kernel /k -qmp tcp::4444,server,nowait", "-qmp: invalid IP address ''" },
        { "-kernel /k -qmp tcp:1.2.3.4:65536,server,nowait", "-qmp: invalid port '65536'" },
        { "-kernel /k -qmp tcp:1.2.3.4:x,server,nowait", "invalid port 'x'" },
        { "-kernel /k -qmp tcp:1.2.3.4:,server,nowait", "invalid port ''" },
        { "-kernel /k -qmp unix:/q,server,nowait,iothread=io0",
          "-qmp: unknown parameter 'iothread'" },
        { "-kernel /k -qmp unix:/q,server,nowait,qmp-mode=fast",
          "-qmp: invalid qmp-mode 'fast' (expected lenient or strict)" },
        { "-kernel /k -qmp unix:/q,server,nowait,qmp-greeting=sv",
          "-qmp: invalid qmp-greeting 'sv' (expected qemu or legacy)" },
        { "-kernel /k -qmp ,server,nowait", "-qmp: empty parameter" },
        { "-kernel /k", "Please use '-qmp' or '-mon' to give a qmp path for Unix socket" },
        { "-kernel /k -qmp unix:/q,server,nowait -mon chardev=qmp0",
          "-mon: chardev 'qmp0' is already used by -qmp" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        char *cmd = g_strdup_printf("-kernel /k -qmp %s", oks[i].qmp);
        StratusConfig *cfg = parse_ok(cmd);
        const MonitorConfig *m;
        const ChardevConfig *c;

        g_assert_cmpuint(cfg->monitors->len, ==, 1);
        g_assert_cmpuint(cfg->chardevs->len, ==, 1);
        m = g_ptr_array_index(cfg->monitors, 0);
        g_assert_cmpstr(m->chardev, ==, "qmp0");
        g_assert_nonnull(m->id);
        g_assert_cmpint(m->mode, ==, oks[i].mode);
        g_assert_cmpint(m->greeting, ==, oks[i].greeting);
        g_assert_cmpuint(m->rate_limit, ==,
                         oks[i].mode == QMP_MODE_STRICT ? 0 : MONITOR_RATE_LIMIT_DEFAULT);
        c = config_find_chardev(cfg, "qmp0");
        g_assert_nonnull(c);
        g_assert_cmpint(c->kind, ==, CHARDEV_SOCKET);
        g_assert_true(c->server);
        g_assert_true(c->nowait);
        g_assert_cmpstr(c->path, ==, oks[i].path);
        g_assert_cmpstr(c->host, ==, oks[i].host);
        g_assert_cmpint(c->port, ==, oks[i].port);
        g_assert_cmpint(c->fd, ==, -1);
        config_free(cfg);
        g_free(cmd);
    }

    /* Without server: a client socket that connects out (QEMU). */
    {
        static const struct {
            const char *qmp, *path, *host;
            int port;
        } clients[] = {
            { "unix:/tmp/q.sock", "/tmp/q.sock", NULL, -1 },
            { "unix:/tmp/q.sock,server=off", "/tmp/q.sock", NULL, -1 },
            { "unix:/tmp/q.sock,qmp-mode=strict", "/tmp/q.sock", NULL, -1 },
            { "tcp:127.0.0.1:4444", NULL, "127.0.0.1", 4444 },
            { "tcp:[::1]:4444,qmp-greeting=legacy", NULL, "::1", 4444 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(clients); i++) {
            char *cmd = g_strdup_printf("-kernel /k -qmp %s", clients[i].qmp);
            StratusConfig *cfg = parse_ok(cmd);
            const MonitorConfig *m = g_ptr_array_index(cfg->monitors, 0);
            const ChardevConfig *c = config_find_chardev(cfg, "qmp0");
            g_assert_false(c->server);
            g_assert_false(c->nowait);
            g_assert_cmpstr(c->path, ==, clients[i].path);
            g_assert_cmpstr(c->host, ==, clients[i].host);
            g_assert_cmpint(c->port, ==, clients[i].port);
            g_assert_nonnull(m->uri);
            g_assert_true(g_str_has_prefix(clients[i].qmp, m->uri));
            config_free(cfg);
            g_free(cmd);
        }
    }

    /* rate-limit=N|off in either mode; the default depends on the mode. */
    {
        static const struct {
            const char *qmp;
            unsigned rate;
        } rates[] = {
            { "unix:/q,server,nowait", MONITOR_RATE_LIMIT_DEFAULT },
            { "unix:/q,server,nowait,qmp-mode=lenient", 100 },
            { "unix:/q,server,nowait,qmp-mode=strict", 0 },
            { "unix:/q,server,nowait,rate-limit=off", 0 },
            { "unix:/q,server,nowait,rate-limit=5", 5 },
            { "unix:/q,server,nowait,rate-limit=0x10", 16 },
            { "unix:/q,server,nowait,qmp-mode=strict,rate-limit=100", 100 },
            { "unix:/q,server,nowait,rate-limit=1000000,qmp-mode=strict", 1000000 },
            { "unix:/q,server,nowait,rate-limit=1", 1 },
            { "unix:/q,rate-limit=7", 7 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(rates); i++) {
            char *cmd = g_strdup_printf("-kernel /k -qmp %s", rates[i].qmp);
            StratusConfig *cfg = parse_ok(cmd);
            const MonitorConfig *m = g_ptr_array_index(cfg->monitors, 0);
            g_assert_cmpuint(m->rate_limit, ==, rates[i].rate);
            config_free(cfg);
            g_free(cmd);
        }
    }

    /* Several -qmp: qmp0, qmp1, ... */
    {
        StratusConfig *cfg = parse_ok("-kernel /k -qmp unix:/a,server,nowait "
                                      "-qmp tcp:127.0.0.1:1,server,nowait");
        const MonitorConfig *m0 = g_ptr_array_index(cfg->monitors, 0);
        const MonitorConfig *m1 = g_ptr_array_index(cfg->monitors, 1);
        g_assert_cmpstr(m0->chardev, ==, "qmp0");
        g_assert_cmpstr(m1->chardev, ==, "qmp1");
        g_assert_cmpstr(m0->id, !=, m1->id);
        g_assert_nonnull(config_find_chardev(cfg, "qmp1"));
        config_free(cfg);
    }

    /* Socket path limit: 107 bytes. */
    {
        char *p = g_strnfill(106, 'q');
        char *cmd = g_strdup_printf("-kernel /k -qmp unix:/%s,server,nowait", p);
        config_free(parse_ok(cmd));
        g_free(cmd);
        cmd = g_strdup_printf("-kernel /k -qmp unix:/%sq,server,nowait", p);
        expect_fail(cmd, "-qmp: unix socket path");
        g_free(cmd);
        g_free(p);
    }
    run_fail_table(fails, G_N_ELEMENTS(fails));
}

/* ------------------------------------------------------------------------ */
/* -mon                                                                      */

static void test_mon(void)
{
    StratusConfig *cfg;
    const MonitorConfig *m;

    cfg = parse_ok("-kernel /k -chardev socket,id=mon,path=/tmp/m,server,nowait "
                   "-mon chardev=mon,id=monitor,mode=control");
    g_assert_cmpuint(cfg->monitors->len, ==, 1);
    m = g_ptr_array_index(cfg->monitors, 0);
    g_assert_cmpstr(m->id, ==, "monitor");
    g_assert_cmpstr(m->chardev, ==, "mon");
    g_assert_cmpint(m->mode, ==, QMP_MODE_LENIENT);
    g_assert_cmpint(m->greeting, ==, QMP_GREETING_QEMU);
    config_free(cfg);

    /* libqtest: client socket, -mon before nothing else; -accel qtest, no kernel. */
    cfg = parse_ok("-qtest unix:/tmp/qtest-1.sock -qtest-log /dev/null "
                   "-chardev socket,path=/tmp/qtest-1.qmp,id=char0 "
                   "-mon chardev=char0,mode=control -display none -accel qtest");
    m = g_ptr_array_index(cfg->monitors, 0);
    g_assert_cmpstr(m->chardev, ==, "char0");
    g_assert_nonnull(m->id);
    g_assert_false(config_find_chardev(cfg, "char0")->server);
    g_assert_cmpstr(cfg->accel, ==, "qtest");
    g_assert_cmpstr(cfg->qtest, ==, "unix:/tmp/qtest-1.sock");
    g_assert_cmpstr(cfg->qtest_log, ==, "/dev/null");
    config_free(cfg);

    /* QEMUMachine: fd socket, -display none -vga none. */
    cfg = parse_ok("-kernel /k -display none -vga none -chardev socket,id=mon,fd=7 "
                   "-mon chardev=mon,mode=control,pretty=on,qmp-mode=strict,"
                   "qmp-greeting=legacy");
    m = g_ptr_array_index(cfg->monitors, 0);
    g_assert_cmpint(m->mode, ==, QMP_MODE_STRICT);
    g_assert_cmpint(m->greeting, ==, QMP_GREETING_LEGACY);
    g_assert_cmpuint(m->rate_limit, ==, 0);         /* strict: none by default */
    g_assert_null(m->uri);
    config_free(cfg);

    /* rate-limit on -mon, both ways. */
    cfg = parse_ok("-kernel /k -chardev socket,id=mon,fd=7 -mon chardev=mon");
    m = g_ptr_array_index(cfg->monitors, 0);
    g_assert_cmpuint(m->rate_limit, ==, MONITOR_RATE_LIMIT_DEFAULT);
    config_free(cfg);
    cfg = parse_ok("-kernel /k -chardev socket,id=mon,fd=7 -mon chardev=mon,rate-limit=off");
    m = g_ptr_array_index(cfg->monitors, 0);
    g_assert_cmpuint(m->rate_limit, ==, 0);
    config_free(cfg);
    cfg = parse_ok("-kernel /k -chardev socket,id=mon,fd=7 "
                   "-mon chardev=mon,qmp-mode=strict,rate-limit=250");
    m = g_ptr_array_index(cfg->monitors, 0);
    g_assert_cmpuint(m->rate_limit, ==, 250);
    config_free(cfg);

    /* Implied key, tcp client, order independence, -qmp and -mon together. */
    cfg = parse_ok("-kernel /k -mon mon,pretty=off -chardev socket,id=mon,host=127.0.0.1,"
                   "port=4000 -qmp unix:/q,server,nowait -chardev socket,id=m2,path=/m2 "
                   "-mon chardev=m2");
    g_assert_cmpuint(cfg->monitors->len, ==, 3);
    m = g_ptr_array_index(cfg->monitors, 0);
    g_assert_cmpstr(m->chardev, ==, "mon");
    {
        const MonitorConfig *a = g_ptr_array_index(cfg->monitors, 1);
        const MonitorConfig *b = g_ptr_array_index(cfg->monitors, 2);
        g_assert_cmpstr(m->id, !=, a->id);
        g_assert_cmpstr(m->id, !=, b->id);
        g_assert_cmpstr(a->id, !=, b->id);
    }
    config_free(cfg);

    {
        static const FailCase fails[] = {
            { "-kernel /k -mon chardev=nope", "-mon: chardev 'nope' not found" },
            { "-kernel /k -mon id=x", "-mon: 'chardev' is required" },
            { "-kernel /k -mon chardev=", "-mon: chardev must not be empty" },
            { "-kernel /k -chardev socket,id=c,path=/c -mon chardev=c,mode=readline",
              "-mon: invalid mode 'readline'" },
            { "-kernel /k -chardev socket,id=c,path=/c -mon chardev=c,pretty=maybe",
              "for 'pretty'" },
            { "-kernel /k -chardev socket,id=c,path=/c -mon chardev=c,foo=1",
              "-mon: unknown parameter 'foo'" },
            { "-kernel /k -chardev socket,id=c,path=/c -mon chardev=c,qmp-mode=x",
              "-mon: invalid qmp-mode 'x'" },
            { "-kernel /k -chardev socket,id=c,path=/c -mon chardev=c,qmp-greeting=x",
              "-mon: invalid qmp-greeting 'x'" },
            { "-kernel /k -chardev socket,id=c,path=/c -mon chardev=c,rate-limit=0",
              "-mon: rate-limit must be 'off' or a number of commands per second in "
              "[1, 1000000], got '0'" },
            { "-kernel /k -chardev socket,id=c,path=/c -mon chardev=c,rate-limit=no",
              "-mon: rate-limit must be 'off'" },
            { "-kernel /k -chardev pty,id=c -mon chardev=c",
              "-mon: Only chardev of socket type can be used for monitor" },
            { "-kernel /k -chardev stdio,id=c -mon chardev=c", "Only chardev of socket" },
            { "-kernel /k -chardev file,id=c,path=/f -mon chardev=c", "Only chardev" },
            { "-kernel /k -chardev socket,id=c,path=/c,server -mon chardev=c",
              "-mon: Argument 'server' and 'nowait' are both required for chardev 'c'" },
            { "-kernel /k -chardev socket,id=c,path=/c,server=on,wait=on -mon chardev=c",
              "both required" },
            { "-kernel /k -chardev socket,id=c,path=/c,server,nowait -mon chardev=c "
              "-mon chardev=c", "-mon: chardev 'c' is already used by -mon" },
            { "-kernel /k -chardev socket,id=c,path=/c -chardev socket,id=d,path=/d "
              "-mon chardev=c,id=m -mon chardev=d,id=m",
              "-mon: monitor id 'm' is already in use" },
        };
        run_fail_table(fails, G_N_ELEMENTS(fails));
    }
}

/* ------------------------------------------------------------------------ */
/* -name, -uuid, -D, -daemonize, -pidfile, -S, misc flags                    */

static void test_misc(void)
{
    StratusConfig *cfg;
    char *s, *cmd;

    cfg = parse_ok(BASE "-name vm1 -uuid 12345678-1234-1234-1234-1234567890ab -freeze "
                   "-no-shutdown");
    g_assert_cmpstr(cfg->name, ==, "vm1");
    g_assert_cmpstr(cfg->uuid, ==, "12345678-1234-1234-1234-1234567890ab");
    g_assert_true(cfg->freeze_cpus);
    g_assert_true(cfg->no_shutdown);
    config_free(cfg);

    cfg = parse_ok(BASE "-name guest=vm2,debug-threads=on -uuid "
                   "ABCDEF00-0000-4000-8000-000000000000");
    g_assert_cmpstr(cfg->name, ==, "vm2");
    config_free(cfg);

    s = g_strnfill(255, 'n');
    cmd = g_strdup_printf(BASE "-name %s", s);
    cfg = parse_ok(cmd);
    g_assert_cmpstr(cfg->name, ==, s);
    config_free(cfg);
    g_free(cmd);
    cmd = g_strdup_printf(BASE "-name %sn", s);
    expect_fail(cmd, "-name: name is too long");
    g_free(cmd);
    g_free(s);

    /* -D with and without a file. */
    cfg = parse_ok(BASE "-D");
    g_assert_true(cfg->log_enabled);
    g_assert_null(cfg->logfile);
    config_free(cfg);

    cfg = parse_ok("-D -kernel /k -qmp unix:/q,server,nowait");
    g_assert_true(cfg->log_enabled);
    g_assert_null(cfg->logfile);
    config_free(cfg);

    cfg = parse_ok("-D /tmp/log.txt -kernel /k -qmp unix:/q,server,nowait");
    g_assert_true(cfg->log_enabled);
    g_assert_cmpstr(cfg->logfile, ==, "/tmp/log.txt");
    config_free(cfg);

    cfg = parse_ok(BASE "--D=/tmp/l");
    g_assert_cmpstr(cfg->logfile, ==, "/tmp/l");
    config_free(cfg);

    cfg = parse_ok(BASE "-D relative.log");
    g_assert_cmpstr(cfg->logfile, ==, "relative.log");
    config_free(cfg);

    /* -daemonize / -pidfile. */
    cfg = parse_ok(BASE "-daemonize -pidfile /tmp/p.pid");
    g_assert_true(cfg->daemonize);
    g_assert_cmpstr(cfg->pidfile, ==, "/tmp/p.pid");
    config_free(cfg);

    cfg = parse_ok(BASE "-pidfile /tmp/p.pid -daemonize -serial pty");
    g_assert_true(cfg->daemonize);
    config_free(cfg);

    cfg = parse_ok(BASE "-daemonize");
    g_assert_true(cfg->daemonize);
    g_assert_null(cfg->pidfile);
    config_free(cfg);

    {
        static const FailCase fails[] = {
            { BASE "-pidfile /tmp/p", "-pidfile must be used with -daemonize together." },
            { BASE "-daemonize -pidfile ''", "option '-pidfile' requires a non-empty" },
            { BASE "-daemonize -chardev stdio,id=s", "-daemonize: Device redirected to "
              "stdio and daemonize can't be set together" },
            { BASE "-uuid 1234", "-uuid: invalid UUID '1234'" },
            { BASE "-uuid 12345678-1234-1234-1234-1234567890abc", "-uuid: invalid UUID" },
            { BASE "-uuid 12345678-1234-1234-1234-1234567890ag", "-uuid: invalid UUID" },
            { BASE "-uuid 12345678x1234-1234-1234-1234567890ab", "-uuid: invalid UUID" },
            { BASE "-name guest=", "-name: name must not be empty" },
            { BASE "-name guest=a,foo=b", "-name: unknown parameter 'foo'" },
            { BASE "-D ''", "option '-D' requires a non-empty value" },
            { BASE "--D=", "option '-D' requires a non-empty value" },
            { BASE "-display gtk", "-display: unsupported value 'gtk'" },
            { BASE "-display none,gl=on", "-display: unsupported value" },
            { BASE "-display", "option '-display' requires a value" },
            { BASE "-vga std", "-vga: unsupported value 'std'" },
            { BASE "-nodefaults -nodefaults", "option '-nodefaults' given more than once" },
            { BASE "--nographic=1", "option '-nographic' does not take a value" },
        };
        run_fail_table(fails, G_N_ELEMENTS(fails));
    }
}

/* ------------------------------------------------------------------------ */
/* -drive / -device                                                          */

static void test_drive_device(void)
{
    StratusConfig *cfg;
    const OptList *l;

    cfg = parse_ok(BASE "-drive id=rootfs,file=/img/root.ext4,readonly=off,direct=off "
                   "-drive file=/b,id=data,format=raw,aio=io_uring,media=disk,"
                   "throttling.iops-total=100 "
                   "-drive file=/fw.fd,if=pflash,unit=0,readonly=true "
                   "-device virtio-blk-device,drive=rootfs,id=blk0 "
                   "-device driver=virtio-rng-device -device virtio-blk-device,drive=data");
    g_assert_cmpuint(cfg->drives->len, ==, 3);
    l = g_ptr_array_index(cfg->drives, 0);
    g_assert_cmpstr(optlist_get(l, "id"), ==, "rootfs");
    g_assert_cmpstr(optlist_get(l, "file"), ==, "/img/root.ext4");
    g_assert_cmpstr(optlist_get(l, "readonly"), ==, "off");
    g_assert_null(optlist_get(l, "if"));
    l = g_ptr_array_index(cfg->drives, 1);
    g_assert_cmpstr(optlist_get(l, "id"), ==, "data");
    g_assert_cmpstr(optlist_get(l, "throttling.iops-total"), ==, "100");
    l = g_ptr_array_index(cfg->drives, 2);
    g_assert_cmpstr(optlist_get(l, "if"), ==, "pflash");

    g_assert_cmpuint(cfg->devices->len, ==, 3);
    l = g_ptr_array_index(cfg->devices, 0);
    g_assert_cmpstr(optlist_get(l, "driver"), ==, "virtio-blk-device");
    g_assert_cmpstr(optlist_get(l, "drive"), ==, "rootfs");
    g_assert_cmpstr(optlist_get(l, "id"), ==, "blk0");
    l = g_ptr_array_index(cfg->devices, 1);
    g_assert_cmpstr(optlist_get(l, "driver"), ==, "virtio-rng-device");
    config_free(cfg);

    {
        static const FailCase fails[] = {
            { BASE "-drive file=/a", "-drive: 'id' is required" },
            { BASE "-drive id=a", "-drive: 'file' is required" },
            { BASE "-drive id=a,file=", "-drive: file must not be empty" },
            { BASE "-drive id=,file=/a", "-drive: id must not be empty" },
            { BASE "-drive id=a,file=/a -drive id=a,file=/b", "-drive: Drive a has been added" },
            { BASE "-drive id=a,file=/a,if=virtio", "-drive: invalid if 'virtio'" },
            { BASE "-drive id=a,file=/a,format=vmdk", "-drive: invalid format 'vmdk'" },
            { BASE "-drive id=a,file=/a,aio=posix", "-drive: invalid aio 'posix'" },
            { BASE "-drive id=a,file=/a,media=floppy", "-drive: invalid media 'floppy'" },
            { BASE "-drive id=a,file=/a,readonly=2", "invalid value '2' for 'readonly'" },
            { BASE "-drive id=a,file=/a,direct=x", "for 'direct'" },
            { BASE "-drive id=a,file=/a,cache=none", "-drive: unknown parameter 'cache'" },
            { BASE "-drive rootfs,file=/a", "-drive: unknown parameter 'rootfs'" },
            { BASE "-drive id=a,file=/a,", "-drive: empty parameter" },
            { BASE "-device id=x", "-device: the driver name must come first" },
            { BASE "-device ,", "-device: empty parameter" },
            { BASE "-device x,id=", "-device: id must not be empty" },
            { BASE "-device a,id=d -device b,id=d", "-device: Device id 'd' has been added" },
        };
        run_fail_table(fails, G_N_ELEMENTS(fails));
    }
}

/* ------------------------------------------------------------------------ */
/* -qtest                                                                    */

static void test_qtest(void)
{
    StratusConfig *cfg;

    /* -qtest implies accel qtest, no monitor and no kernel needed. */
    cfg = parse_ok("-qtest unix:/tmp/qt.sock");
    g_assert_cmpstr(cfg->accel, ==, "qtest");
    g_assert_cmpstr(cfg->qtest, ==, "unix:/tmp/qt.sock");
    g_assert_null(cfg->qtest_log);
    g_assert_cmpuint(cfg->monitors->len, ==, 0);
    config_free(cfg);

    cfg = parse_ok("-chardev socket,id=qtest,fd=9 -qtest chardev:qtest -accel qtest "
                   "-qtest-log none");
    g_assert_cmpstr(cfg->qtest, ==, "chardev:qtest");
    g_assert_cmpstr(cfg->qtest_log, ==, "none");
    config_free(cfg);

    cfg = parse_ok("-qtest chardev:q -machine accel=qtest -chardev socket,id=q,path=/q");
    config_free(cfg);

    cfg = parse_ok("-accel qtest -qtest-log /tmp/qt.log");
    g_assert_null(cfg->qtest);
    g_assert_cmpstr(cfg->qtest_log, ==, "/tmp/qt.log");
    config_free(cfg);

    {
        static const FailCase fails[] = {
            { "-qtest tcp:1.2.3.4:5", "-qtest: invalid value 'tcp:1.2.3.4:5'" },
            { "-qtest stdio", "-qtest: invalid value 'stdio'" },
            { "-qtest unix:", "-qtest: socket path must not be empty" },
            { "-qtest chardev:", "-qtest: chardev id must not be empty" },
            { "-qtest chardev:nope", "-qtest: chardev 'nope' not found" },
            { "-chardev file,id=f,path=/f -qtest chardev:f", "must not be a file chardev" },
            { "-chardev socket,id=c,path=/c -qtest chardev:c -mon chardev=c",
              "-qtest: chardev 'c' is already used by -mon" },
            { BASE "-qtest unix:/q -accel kvm", "-qtest can only be used with accel qtest" },
            { BASE "-qtest unix:/q -enable-kvm", "-qtest can only be used with accel qtest" },
            { "-qtest unix:/q -qtest unix:/r", "option '-qtest' given more than once" },
            { "-qtest unix:/q -qtest-log", "option '-qtest-log' requires a value" },
            { "-qtest unix:/q -qtest-log ''", "requires a non-empty value" },
        };
        run_fail_table(fails, G_N_ELEMENTS(fails));
    }
}

/* ------------------------------------------------------------------------ */
/* OptList                                                                   */

static void test_optlist(void)
{
    static const struct {
        const char *str, *implied;
        const char *expect;      /* "k=v;k=v" */
    } oks[] = {
        { "microvm", "type", "type=microvm" },
        { "microvm,accel=kvm", "type", "type=microvm;accel=kvm" },
        { "type=q35", "type", "type=q35" },
        { "a=1,b,c=3", NULL, "a=1;b=on;c=3" },
        { "flag", NULL, "flag=on" },
        { "socket,server,nowait", "backend", "backend=socket;server=on;nowait=on" },
        { "x,,y", "v", "v=x,y" },
        { "k=a,,b,,,z=1", NULL, "k=a,b,;z=1" },
        { ",,", "v", "v=," },
        { "k=", NULL, "k=" },
        { "k==", NULL, "k==" },
        { "k=a=b", NULL, "k=a=b" },
        { "a,b", "i", "i=a;b=on" },
    };
    static const char *const bad[] = { "", ",", "a,", ",a", "a,,,", "=", "=x", "a,=b",
                                       ",,,", "a,,,,," };

    for (size_t i = 0; i < G_N_ELEMENTS(oks); i++) {
        GError *err = NULL;
        OptList *l = optlist_parse(oks[i].str, oks[i].implied, &err);
        GString *got = g_string_new(NULL);

        g_assert_no_error(err);
        g_assert_nonnull(l);
        for (guint j = 0; j < l->pairs->len; j++) {
            const OptPair *p = g_ptr_array_index(l->pairs, j);
            g_string_append_printf(got, "%s%s=%s", j ? ";" : "", p->key, p->value);
        }
        if (strcmp(got->str, oks[i].expect) != 0) {
            g_error("optlist_parse('%s') = '%s', expected '%s'", oks[i].str, got->str,
                    oks[i].expect);
        }
        g_string_free(got, TRUE);
        optlist_free(l);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *err = NULL;
        OptList *l = optlist_parse(bad[i], "x", &err);
        if (l) {
            g_error("optlist_parse('%s') unexpectedly succeeded", bad[i]);
        }
        g_assert_nonnull(err);
        g_error_free(err);
    }

    /* last wins; check_keys */
    {
        static const char *const allowed[] = { "a", "b", NULL };
        GError *err = NULL;
        OptList *l = optlist_parse("a=1,b=2,a=3", NULL, &err);

        g_assert_cmpstr(optlist_get(l, "a"), ==, "3");
        g_assert_cmpstr(optlist_get(l, "b"), ==, "2");
        g_assert_null(optlist_get(l, "c"));
        g_assert_null(optlist_get(l, NULL));
        g_assert_null(optlist_get(NULL, "a"));
        g_assert_true(optlist_check_keys(l, allowed, "-x", &err));
        g_assert_no_error(err);
        optlist_free(l);

        l = optlist_parse("a=1,zz=2,yy", NULL, &err);
        g_assert_false(optlist_check_keys(l, allowed, "-x", &err));
        g_assert_cmpstr(err->message, ==, "-x: unknown parameter 'zz'");
        g_error_free(err);
        optlist_free(l);
        optlist_free(NULL);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options/defaults", test_defaults);
    g_test_add_func("/options/help-version", test_help_version);
    g_test_add_func("/options/print-help", test_print_help);
    g_test_add_func("/options/parser-rules", test_parser_rules);
    g_test_add_func("/options/no-crash-junk", test_no_crash_junk);
    g_test_add_func("/options/machine", test_machine);
    g_test_add_func("/options/machine-acpi", test_machine_acpi);
    g_test_add_func("/options/accel", test_accel);
    g_test_add_func("/options/smp", test_smp);
    g_test_add_func("/options/mem", test_mem);
    g_test_add_func("/options/boot", test_boot);
    g_test_add_func("/options/chardev", test_chardev);
    g_test_add_func("/options/serial", test_serial);
    g_test_add_func("/options/qmp", test_qmp);
    g_test_add_func("/options/mon", test_mon);
    g_test_add_func("/options/misc", test_misc);
    g_test_add_func("/options/drive-device", test_drive_device);
    g_test_add_func("/options/qtest", test_qtest);
    g_test_add_func("/options/optlist", test_optlist);
    g_test_add_func("/options/print-man", test_print_man);
    return g_test_run();
}
