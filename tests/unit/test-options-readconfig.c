/* Unit tests for -readconfig FILE (src/options/opt-readconfig.c). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"
#include "options-test-util.h"

#define MiB (1ULL << 20)

/* A file holding text; the caller unlinks and frees the returned path. */
static char *write_cfg(const char *text)
{
    GError *err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("stratus-readconfig-XXXXXX.cfg", &path, &err);

    g_assert_no_error(err);
    g_assert_true(g_file_set_contents(path, text, -1, &err));
    g_assert_no_error(err);
    close(fd);
    return path;
}

static StratusConfig *parse_cfg_ok(const char *text, const char *before, const char *after)
{
    g_autofree char *path = write_cfg(text);
    g_autofree char *cmd = g_strdup_printf("%s -readconfig %s %s", before, path, after);
    StratusConfig *cfg = parse_ok(cmd);

    g_unlink(path);
    return cfg;
}

/* The error is one line naming FILE:LINE, then what is wrong there. */
static void expect_cfg_fail(const char *text, unsigned line, const char *substr)
{
    g_autofree char *path = write_cfg(text);
    g_autofree char *cmd = g_strdup_printf(BASE "-readconfig %s", path);
    g_autofree char *want = line ? g_strdup_printf("-readconfig: %s:%u: %s", path, line, substr)
                                 : g_strdup(substr);

    expect_fail(cmd, want);
    g_unlink(path);
}

static void test_sections(void)
{
    static const char text[] =
        "# QEMU's -writeconfig format\n"
        "\n"
        "[drive \"disk0\"]\n"
        "  file = \"/tmp/a,b.img\"\n"
        "  if = \"none\"\n"
        "  format = \"raw\"\n"
        "[device \"blk0\"]\n"
        "  driver = \"virtio-blk-device\"\n"
        "  drive = \"disk0\"\n"
        "[chardev \"c0\"]\n"
        "  backend = \"socket\"\n"
        "  path = \"/tmp/c0.sock\"\n"
        "  server = \"on\"\n"
        "  wait = \"off\"\n"
        "[object \"rng0\"]\n"
        "  qom-type = \"rng-random\"\n"
        "  filename = \"/dev/urandom\"\n"
        "[machine]\n"
        "  type = \"microvm\"\n"
        "[memory]\n"
        "  size = \"512M\"\n"
        "[smp-opts]\n"
        "  cpus = \"2\"\n"
        "[rtc]\n"
        "  base = \"localtime\"\n";
    StratusConfig *cfg = parse_cfg_ok(text, BASE, "");
    const OptList *drive, *dev, *obj;

    g_assert_cmpuint(cfg->drives->len, ==, 1);
    drive = g_ptr_array_index(cfg->drives, 0);
    g_assert_cmpstr(optlist_get(drive, "id"), ==, "disk0");
    g_assert_cmpstr(optlist_get(drive, "file"), ==, "/tmp/a,b.img");
    g_assert_cmpuint(cfg->devices->len, ==, 1);
    dev = g_ptr_array_index(cfg->devices, 0);
    g_assert_cmpstr(optlist_get(dev, "driver"), ==, "virtio-blk-device");
    g_assert_cmpstr(optlist_get(dev, "id"), ==, "blk0");
    g_assert_nonnull(config_find_chardev(cfg, "c0"));
    g_assert_true(config_find_chardev(cfg, "c0")->server);
    obj = g_ptr_array_index(cfg->objects, 0);
    g_assert_cmpstr(optlist_get(obj, "qom-type"), ==, "rng-random");
    g_assert_cmpuint(cfg->mem_size, ==, 512 * MiB);
    g_assert_cmpuint(cfg->smp.cpus, ==, 2);
    g_assert_cmpstr(cfg->rtc_base, ==, "localtime");
    config_free(cfg);
}

/* Sections apply where -readconfig stands: a later option overrides them. */
static void test_order(void)
{
    static const char text[] = "[memory]\n  size = \"512M\"\n[machine]\n";
    StratusConfig *cfg = parse_cfg_ok(text, BASE, "-m 1G");

    g_assert_cmpuint(cfg->mem_size, ==, 1024 * MiB);
    config_free(cfg);
    cfg = parse_cfg_ok(text, BASE "-m 1G", "");
    g_assert_cmpuint(cfg->mem_size, ==, 512 * MiB);
    config_free(cfg);
    /* An empty file, or comments only, sets nothing. */
    cfg = parse_cfg_ok("# nothing\n\n", BASE, "");
    g_assert_cmpuint(cfg->mem_size, ==, DEFAULT_MEMORY_SIZE);
    config_free(cfg);
}

static void test_errors(void)
{
    expect_cfg_fail("  size = \"1G\"\n", 1, "no group defined");
    expect_cfg_fail("[memory]\n  size = 1G\n", 2, "parse error");
    expect_cfg_fail("[memory]\n  size \"1G\"\n", 2, "parse error");
    expect_cfg_fail("[memory\n", 1, "parse error");
    expect_cfg_fail("[drive disk0]\n", 1, "parse error");
    expect_cfg_fail("[drive \"\"]\n", 1, "parse error");
    expect_cfg_fail("# c\n[spice]\n", 2, "There is no option group 'spice'");
    expect_cfg_fail("[machine \"m\"]\n", 1, "group 'machine' takes no id");
    /* The option's own error, at the section's line. */
    expect_cfg_fail("\n[memory]\n  size = \"64M\"\n", 0,
                    "invalid -m value '64M': Memory size must >= 128MiB");
    expect_cfg_fail("[smp-opts]\n  cpus = \"999\"\n", 1, "-smp: cpus must be in range");
    expect_cfg_fail("[device \"d\"]\n  driver = \"x\"\n  bogus = \"1\"\n[rtc]\n"
                    "  clock = \"nope\"\n", 4, "-rtc: invalid option value 'nope'");
    expect_fail(BASE "-readconfig /nonexistent/x.cfg",
                "-readconfig: Could not open '/nonexistent/x.cfg': No such file or directory");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options-readconfig/sections", test_sections);
    g_test_add_func("/options-readconfig/order", test_order);
    g_test_add_func("/options-readconfig/errors", test_errors);
    return g_test_run();
}
