/* Unit tests for -config FILE (src/options/opt-config.c) and -api-channel. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"
#include "options-test-util.h"

#define MiB (1ULL << 20)

/* A file holding json; the caller frees the returned path after unlinking it. */
static char *write_json(const char *json)
{
    GError *err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("stratus-config-XXXXXX.json", &path, &err);

    g_assert_no_error(err);
    g_assert_true(g_file_set_contents(path, json, -1, &err));
    g_assert_no_error(err);
    close(fd);
    return path;
}

static StratusConfig *parse_file_ok(const char *json, const char *args)
{
    g_autofree char *path = write_json(json);
    g_autofree char *cmd = g_strdup_printf("-config %s %s", path, args);
    StratusConfig *cfg = parse_ok(cmd);

    g_unlink(path);
    return cfg;
}

/* The error names the file, then the key path. */
static void expect_file_fail(const char *json, const char *args, const char *substr)
{
    g_autofree char *path = write_json(json);
    g_autofree char *cmd = g_strdup_printf("-config %s %s", path, args);
    g_autofree char *want = g_strdup_printf("-config %s: %s", path, substr);
    GError *err = NULL;
    StratusConfig *cfg = parse(cmd, &err);

    g_unlink(path);
    if (cfg) {
        g_error("'%s' with %s unexpectedly succeeded", args, json);
    }
    g_assert_nonnull(err);
    if (!g_str_has_prefix(err->message, want) || strchr(err->message, '\n')) {
        g_error("%s: error '%s', expected it to start with '%s'", json, err->message, want);
    }
    g_error_free(err);
}

static const char *device_value(const StratusConfig *cfg, guint i, const char *key)
{
    g_assert_cmpuint(i, <, cfg->devices->len);
    return optlist_get(g_ptr_array_index(cfg->devices, i), key);
}

/* The seeds' kind of file: every section, mapped onto the options. */
static void test_sections(void)
{
    StratusConfig *cfg = parse_file_ok(
        "{\"machine-config\": {\"type\": \"MicroVm\", \"vcpu_count\": 2,"
        "                      \"mem_size\": 805306368, \"dump_guest_core\": false},"
        " \"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": \"console=ttyS0 quiet\","
        "                   \"initrd_fs_path\": \"/i\"},"
        " \"drive\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/img,1\","
        "             \"serial_num\": \"1111\", \"direct\": false, \"read_only\": true,"
        "             \"iothread\": \"io1\"}],"
        " \"net\": [{\"iface_id\": \"net0\", \"host_dev_name\": \"tap0\","
        "           \"mac\": \"12:34:56:78:9A:BC\"}],"
        " \"serial\": {\"stdio\": false}, \"iothread\": [{\"id\": \"io1\"}],"
        " \"balloon\": {\"deflate_on_oom\": true}}",
        "-qmp unix:/tmp/q.sock,server,nowait");
    const OptList *drive;

    g_assert_cmpstr(cfg->machine_type, ==, "microvm");
    g_assert_false(cfg->dump_guest_core);
    g_assert_cmpuint(cfg->smp.cpus, ==, 2);
    g_assert_cmpuint(cfg->mem_size, ==, 805306368);
    g_assert_cmpstr(cfg->kernel, ==, "/k");
    g_assert_cmpstr(cfg->initrd, ==, "/i");
    g_assert_cmpstr(cfg->append, ==, "console=ttyS0 quiet");
    g_assert_cmpuint(cfg->drives->len, ==, 1);
    drive = g_ptr_array_index(cfg->drives, 0);
    g_assert_cmpstr(optlist_get(drive, "id"), ==, "rootfs");
    g_assert_cmpstr(optlist_get(drive, "file"), ==, "/img,1");     /* comma kept */
    g_assert_cmpstr(optlist_get(drive, "readonly"), ==, "on");
    g_assert_cmpstr(optlist_get(drive, "direct"), ==, "off");
    g_assert_cmpuint(cfg->devices->len, ==, 3);
    g_assert_cmpstr(device_value(cfg, 0, "driver"), ==, "virtio-blk-device");
    g_assert_cmpstr(device_value(cfg, 0, "drive"), ==, "rootfs");
    g_assert_cmpstr(device_value(cfg, 0, "serial"), ==, "1111");
    g_assert_cmpstr(device_value(cfg, 0, "iothread"), ==, "io1");
    g_assert_cmpuint(cfg->objects->len, ==, 0);         /* no I/O threads to create */
    g_assert_cmpstr(device_value(cfg, 1, "driver"), ==, "virtio-net-device");
    g_assert_cmpstr(device_value(cfg, 1, "netdev"), ==, "net0");
    g_assert_cmpstr(device_value(cfg, 1, "mac"), ==, "12:34:56:78:9A:BC");
    g_assert_cmpstr(device_value(cfg, 2, "driver"), ==, "virtio-balloon-device");
    g_assert_cmpstr(device_value(cfg, 2, "deflate-on-oom"), ==, "on");
    g_assert_cmpuint(cfg->netdevs->len, ==, 1);
    g_assert_cmpstr(optlist_get(g_ptr_array_index(cfg->netdevs, 0), "ifname"), ==, "tap0");
    g_assert_nonnull(cfg->serial_chardev);              /* stdio false: a null back end */
    g_assert_cmpint(config_find_chardev(cfg, cfg->serial_chardev)->kind, ==, CHARDEV_NULL);
    config_free(cfg);
}

/* StratoVirt: "cmdline arguments will override settings in json configuration file". */
static void test_command_line_overrides(void)
{
    StratusConfig *cfg = parse_file_ok(
        "{\"machine-config\": {\"vcpu_count\": 2, \"mem_size\": 268435456},"
        " \"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": \"a=1\"},"
        " \"drive\": [{\"drive_id\": \"d0\", \"path_on_host\": \"/file\"},"
        "            {\"drive_id\": \"d1\", \"path_on_host\": \"/other\"}]}",
        "-qmp unix:/tmp/q.sock,server,nowait -m 512M -append b=2 "
        "-drive id=d0,file=/cmdline");
    const OptList *d0, *d1;

    g_assert_cmpuint(cfg->smp.cpus, ==, 2);             /* the file's */
    g_assert_cmpuint(cfg->mem_size, ==, 512 * MiB);     /* the command line's */
    g_assert_cmpstr(cfg->append, ==, "b=2");            /* replaced, not joined */
    g_assert_cmpuint(cfg->drives->len, ==, 2);
    d1 = g_ptr_array_index(cfg->drives, 0);
    d0 = g_ptr_array_index(cfg->drives, 1);
    g_assert_cmpstr(optlist_get(d1, "file"), ==, "/other");
    g_assert_cmpstr(optlist_get(d0, "file"), ==, "/cmdline");
    g_assert_cmpuint(cfg->devices->len, ==, 2);         /* both file disks keep their device */
    config_free(cfg);

    /* The file alone satisfies -kernel; -api-channel is the QMP socket. */
    cfg = parse_file_ok("{\"boot-source\": {\"kernel_image_path\": \"/k\"}}",
                        "-api-channel unix:/tmp/api.sock");
    g_assert_cmpuint(cfg->monitors->len, ==, 1);
    g_assert_cmpstr(((MonitorConfig *)g_ptr_array_index(cfg->monitors, 0))->uri, ==,
                    "unix:/tmp/api.sock");
    config_free(cfg);
}

/* Consoles share one virtio-serial-device, added before the first. */
static void test_consoles(void)
{
    StratusConfig *cfg = parse_file_ok(
        "{\"console\": [{\"console_id\": \"c0\", \"socket_path\": \"/tmp/c0.sock\"},"
        "             {\"console_id\": \"c1\", \"socket_path\": \"/tmp/c1.sock\"}]}",
        BASE);

    g_assert_cmpuint(cfg->devices->len, ==, 3);
    g_assert_cmpstr(device_value(cfg, 0, "driver"), ==, "virtio-serial-device");
    g_assert_cmpstr(device_value(cfg, 1, "driver"), ==, "virtconsole");
    g_assert_cmpstr(device_value(cfg, 1, "chardev"), ==, "c0");
    g_assert_cmpstr(device_value(cfg, 2, "chardev"), ==, "c1");
    g_assert_true(config_find_chardev(cfg, "c1")->server);
    config_free(cfg);
}

static void test_api_channel(void)
{
    StratusConfig *cfg = parse_ok("-kernel /k -api-channel unix:/tmp/api.sock");
    const MonitorConfig *mon = g_ptr_array_index(cfg->monitors, 0);
    const ChardevConfig *chr = config_find_chardev(cfg, mon->chardev);

    g_assert_true(chr->server);
    g_assert_true(chr->nowait);
    g_assert_cmpstr(chr->path, ==, "/tmp/api.sock");
    config_free(cfg);
    expect_fail("-kernel /k -api-channel tcp:localhost:4444",
                "-api-channel: expected unix:PATH, got 'tcp:localhost:4444'");
    expect_fail("-kernel /k -api-channel unix:", "-api-channel: expected unix:PATH");
    expect_fail("-kernel /k -api-channel unix:/a,server", "-api-channel: expected unix:PATH");
    expect_fail("-kernel /k -api-channel unix:/a -api-channel unix:/b",
                "option '-api-channel' given more than once");
}

static void test_file_errors(void)
{
    expect_fail("-config /nonexistent/vm.json",
                "-config /nonexistent/vm.json: Could not open: No such file or directory");
    expect_fail("-config /tmp", "-config /tmp: not a regular file");
    expect_fail("-config /dev/null", "-config /dev/null: not a regular file");
    expect_fail(BASE "-config", "option '-config' requires a value");
    expect_file_fail("", BASE, "expected a JSON object");
    expect_file_fail("{\"machine-config\": ", BASE, "");        /* json-glib's line:column */
    expect_file_fail("[1, 2]", BASE, "expected a JSON object");
}

typedef struct FileFail {
    const char *json;
    const char *substr;
} FileFail;

static void test_key_errors(void)
{
    static const FileFail cases[] = {
        { "{\"machines\": {}}", "unknown key 'machines'" },
        { "{\"machine-config\": {\"vcpus\": 1}}", "unknown key 'machine-config.vcpus'" },
        { "{\"machine-config\": []}", "machine-config: expected an object" },
        { "{\"machine-config\": {\"vcpu_count\": \"2\"}}",
          "machine-config.vcpu_count: expected a non-negative integer" },
        { "{\"machine-config\": {\"vcpu_count\": -1}}",
          "machine-config.vcpu_count: expected a non-negative integer" },
        { "{\"machine-config\": {\"vcpu_count\": 1.5}}",
          "machine-config.vcpu_count: expected a non-negative integer" },
        { "{\"machine-config\": {\"vcpu_count\": 0}}", "machine-config.vcpu_count" },
        { "{\"machine-config\": {\"mem_size\": 1024}}",
          "invalid machine-config.mem_size value '1024B': Memory size must >= 128MiB" },
        { "{\"machine-config\": {\"dump_guest_core\": 1}}",
          "machine-config.dump_guest_core: expected true or false" },
        { "{\"machine-config\": {\"type\": \"pc\"}}", "machine-config" },
        { "{\"boot-source\": {\"kernel_image_path\": 7}}",
          "boot-source.kernel_image_path: expected a string" },
        { "{\"boot-source\": {\"kernel_image_path\": \"\"}}",
          "boot-source.kernel_image_path: expected a non-empty string" },
        { "{\"drive\": {}}", "drive: expected an array" },
        { "{\"drive\": [7]}", "drive[0]: expected an object" },
        { "{\"drive\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\"}, {\"drive_id\": \"b\"}]}",
          "drive[1].path_on_host: missing" },
        { "{\"drive\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\", \"cache\": 1}]}",
          "unknown key 'drive[0].cache'" },
        { "{\"drive\": [{\"drive_id\": \"a\", \"path_on_host\": \"/a\"},"
          "            {\"drive_id\": \"a\", \"path_on_host\": \"/b\"}]}", "drive[1]" },
        { "{\"net\": [{\"iface_id\": \"n\", \"host_dev_name\": \"t\", \"vhost_type\": \"user\"}]}",
          "net[0].vhost_type: expected \"vhost-kernel\"" },
        { "{\"net\": [{\"iface_id\": \"n\"}]}", "net[0].host_dev_name: missing" },
        { "{\"vsock\": {\"vsock_id\": \"v\"}}", "vsock.guest_cid: missing" },
        { "{\"serial\": {\"stdio\": \"yes\"}}", "serial.stdio: expected true or false" },
        { "{\"balloon\": {\"deflate_on_oom\": 1}}",
          "balloon.deflate_on_oom: expected true or false" },
        { "{\"console\": [{\"console_id\": \"c\"}]}", "console[0].socket_path: missing" },
        { "{\"iothread\": [{}]}", "iothread[0].id: missing" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        expect_file_fail(cases[i].json, BASE, cases[i].substr);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options/config/sections", test_sections);
    g_test_add_func("/options/config/command-line-overrides", test_command_line_overrides);
    g_test_add_func("/options/config/consoles", test_consoles);
    g_test_add_func("/options/config/api-channel", test_api_channel);
    g_test_add_func("/options/config/file-errors", test_file_errors);
    g_test_add_func("/options/config/key-errors", test_key_errors);
    return g_test_run();
}
