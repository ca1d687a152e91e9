/*
 * fw_cfg "bootorder" and the bootindex property (src/hw/bootorder.c,
 * docs/q35.md "Boot order"): the paths QEMU 7.2 writes for the same devices
 * (tests/functional/test_q35_bootorder.py compares the bytes with QEMU's
 * own), an empty file without bootindex, HALT with -boot strict=on, the
 * microvm form, a device_add'ed device listed from the next system_reset
 * on, the property's QOM shape, and the refusals.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qtest.h"

#define Q35_DISKS \
    "-machine q35 -drive if=none,id=d1,file=%s,format=raw,direct=off " \
    "-drive if=none,id=d2,file=%s,format=raw,direct=off " \
    "-device pcie-root-port,id=rp1,bus=pcie.0,addr=0x3,chassis=1,port=1 "

static char *make_image(void)
{
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("bootorder-XXXXXX", &path, &err);

    g_assert_no_error(err);
    g_assert_cmpint(ftruncate(fd, 1 << 20), ==, 0);
    close(fd);
    return path;
}

/* Asserts the file's exact bytes (text then its NUL; "" means an empty file). */
static void assert_bootorder(QTestState *s, const char *want)
{
    uint32_t size = 0;
    g_autofree uint8_t *got = qtest_fw_cfg_file(s, "bootorder", &size);

    g_assert_nonnull(got);
    if (!*want) {
        g_assert_cmpuint(size, ==, 0);
        return;
    }
    g_assert_cmpuint(size, ==, strlen(want) + 1);
    g_assert_cmpuint(got[size - 1], ==, 0);
    g_assert_cmpstr((char *)got, ==, want);
}

/* A socketpair end for -netdev socket,fd= (the child inherits it). */
static int net_fd(int *ours)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), ==, 0);
    fcntl(sv[0], F_SETFD, FD_CLOEXEC);
    *ours = sv[0];
    return sv[1];
}

static void test_q35_paths(void)
{
    g_autofree char *a = make_image(), *b = make_image();
    int ours, theirs = net_fd(&ours);
    QTestState *s = qtest_initf(Q35_DISKS
        "-device virtio-blk-pci,drive=d1,bootindex=1 "
        "-device virtio-blk-pci,drive=d2,bus=rp1,addr=0x0,bootindex=0 "
        "-netdev socket,id=n0,fd=%d -device virtio-net-pci,netdev=n0,addr=0x5,bootindex=2",
        a, b, theirs);

    close(theirs);
    assert_bootorder(s, "/pci@i0cf8/pci-bridge@3/scsi@0/disk@0,0\n"
                        "/pci@i0cf8/scsi@1/disk@0,0\n"
                        "/pci@i0cf8/ethernet@5/ethernet-phy@0");
    qtest_quit(s);
    close(ours);
    unlink(a);
    unlink(b);
}

/* A function other than 0 is ",fn"; hex and negative values as QEMU takes them. */
static void test_function_and_values(void)
{
    g_autofree char *a = make_image(), *b = make_image();
    QTestState *s = qtest_initf(Q35_DISKS
        "-device virtio-blk-pci,drive=d1,addr=0x2.0x3,bootindex=0x10 "
        "-device virtio-blk-pci,drive=d2,addr=0x4,bootindex=-2", a, b);

    assert_bootorder(s, "/pci@i0cf8/scsi@2,3/disk@0,0");
    qtest_quit(s);
    unlink(a);
    unlink(b);
}

/* No bootindex anywhere: the file is there and empty, also with strict=on. */
static void test_empty_and_strict(void)
{
    g_autofree char *a = make_image(), *b = make_image();
    QTestState *s = qtest_initf(Q35_DISKS "-boot strict=on -device virtio-blk-pci,drive=d1",
                                a, b);

    assert_bootorder(s, "");
    qtest_quit(s);
    s = qtest_initf(Q35_DISKS "-boot strict=on -device virtio-blk-pci,drive=d1,bootindex=4",
                    a, b);
    assert_bootorder(s, "/pci@i0cf8/scsi@1/disk@0,0\nHALT");
    qtest_quit(s);
    unlink(a);
    unlink(b);
}

/* microvm: the virtio-mmio transport's base, 16 hex digits (slot 0, net slot 0 = index 6). */
static void test_microvm(void)
{
    g_autofree char *a = make_image();
    int ours, theirs = net_fd(&ours);
    QTestState *s = qtest_initf("-drive if=none,id=d1,file=%s,format=raw,direct=off "
                                "-device virtio-blk-device,drive=d1,bootindex=5 "
                                "-netdev socket,id=n0,fd=%d "
                                "-device virtio-net-device,netdev=n0,bootindex=4", a, theirs);

    close(theirs);
    assert_bootorder(s, "/virtio-mmio@00000000f0100c00/ethernet-phy@0\n"
                        "/virtio-mmio@00000000f0100000/disk@0,0");
    qtest_quit(s);
    close(ours);
    unlink(a);
}

/* As QEMU: the file follows hot-plug at the next reset; a taken index is refused. */
static void test_hotplug_then_reset(void)
{
    g_autofree char *a = make_image(), *b = make_image();
    QTestState *s = qtest_initf(Q35_DISKS "-device virtio-blk-pci,drive=d1,bootindex=1",
                                a, b);

    qtest_qmp_assert_error(s, "GenericError", "The bootindex 1 has already been used",
                           "{\"execute\": \"device_add\", \"arguments\": {\"id\": \"x\", "
                           "\"driver\": \"virtio-blk-pci\", \"drive\": \"d2\", \"bus\": \"rp1\", "
                           "\"addr\": \"0x0\", \"bootindex\": 1}}");
    qtest_qmp_assert_success(s, "{'execute': 'device_add', 'arguments': {'id': 'disk2', "
                             "'driver': 'virtio-blk-pci', 'drive': 'd2', 'bus': 'rp1', "
                             "'addr': '0x0', 'bootindex': 0}}");
    assert_bootorder(s, "/pci@i0cf8/scsi@1/disk@0,0");
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    assert_bootorder(s, "/pci@i0cf8/pci-bridge@3/scsi@0/disk@0,0\n/pci@i0cf8/scsi@1/disk@0,0");
    qtest_quit(s);
    unlink(a);
    unlink(b);
}

/* QEMU's shape: int32, no default or description listed; qom-get -1 when not set. */
static void test_property(void)
{
    g_autofree char *a = make_image(), *b = make_image();
    QTestState *s = qtest_initf(Q35_DISKS "-device virtio-blk-pci,drive=d1,id=v1 "
                                "-device virtio-blk-pci,drive=d2,id=v2,bootindex=7", a, b);
    const char *types[] = { "virtio-blk-pci", "virtio-blk-device", "virtio-net-pci",
                            "virtio-net-device" };
    JsonNode *r;

    for (size_t t = 0; t < G_N_ELEMENTS(types); t++) {
        JsonArray *props;
        bool found = false;
        r = qtest_qmp(s, "{'execute': 'device-list-properties', "
                      "'arguments': {'typename': '%s'}}", types[t]);
        props = json_object_get_array_member(qmp_obj(r), "return");
        for (guint i = 0; i < json_array_get_length(props); i++) {
            JsonObject *p = json_array_get_object_element(props, i);
            if (!strcmp(json_object_get_string_member(p, "name"), "bootindex")) {
                g_assert_cmpstr(json_object_get_string_member(p, "type"), ==, "int32");
                g_assert_false(json_object_has_member(p, "default-value"));
                g_assert_false(json_object_has_member(p, "description"));
                found = true;
            }
        }
        g_assert_true(found);
        json_node_unref(r);
    }
    r = qtest_qmp(s, "{'execute': 'qom-get', 'arguments': {'path': 'v1', "
                  "'property': 'bootindex'}}");
    g_assert_cmpint(json_object_get_int_member(qmp_obj(r), "return"), ==, -1);
    json_node_unref(r);
    r = qtest_qmp(s, "{'execute': 'qom-get', 'arguments': {'path': 'v2', "
                  "'property': 'bootindex'}}");
    g_assert_cmpint(json_object_get_int_member(qmp_obj(r), "return"), ==, 7);
    json_node_unref(r);
    qtest_quit(s);
    unlink(a);
    unlink(b);
}

/* QEMU 7.2's texts for the same -device values. */
static void test_errors(void)
{
    g_autofree char *a = make_image(), *b = make_image();
    static const struct {
        const char *value, *text;
    } cases[] = {
        { "1", "The bootindex 1 has already been used" },
        { "abc", "Parameter 'bootindex' expects integer" },
        { "2147483648", "Parameter 'bootindex' expects int32_t" },
        { "-2147483649", "Parameter 'bootindex' expects int32_t" },
        { "", "Parameter 'bootindex' expects integer" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *args = g_strdup_printf(
            "-accel qtest " Q35_DISKS "-device virtio-blk-pci,drive=d1,bootindex=1 "
            "-device virtio-blk-pci,drive=d2,bootindex=%s", a, b, cases[i].value);
        qtest_expect_startup_error(args, cases[i].text);
    }
    unlink(a);
    unlink(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bootorder/q35-paths", test_q35_paths);
    g_test_add_func("/bootorder/function-and-values", test_function_and_values);
    g_test_add_func("/bootorder/empty-and-strict", test_empty_and_strict);
    g_test_add_func("/bootorder/microvm", test_microvm);
    g_test_add_func("/bootorder/hotplug-then-reset", test_hotplug_then_reset);
    g_test_add_func("/bootorder/property", test_property);
    g_test_add_func("/bootorder/errors", test_errors);
    return g_test_run();
}
