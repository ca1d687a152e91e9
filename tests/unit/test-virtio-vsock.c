/*
 * virtio-vsock-device's saved state (docs/devices-vsock.md "State"): it
 * saves and loads back with no connection open, refuses to save while a
 * host connection is open (its unix socket cannot travel in a snapshot),
 * and refuses a stream whose guest CID is not this device's.
 */
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <glib/gstdio.h>

#include "machine.h"
#include "config.h"
#include "hw/device.h"
#include "migration/vmstate.h"

static char *tmpdir;

static Machine *vm_with_vsock(const char *cid, const char *uds)
{
    g_autofree char *dev = g_strdup_printf("virtio-vsock-device,id=vs,guest-cid=%s,"
                                           "uds-path=%s", cid, uds);
    const char *argv[] = { "stratus", "-accel", "qtest", "-device", dev, NULL };
    g_autoptr(GError) err = NULL;
    StratusConfig *cfg = config_parse(5, (char **)argv, &err);
    Machine *m;

    g_assert_no_error(err);
    m = machine_new(cfg, &err);
    g_assert_no_error(err);
    return m;
}

static int host_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

static void test_state(void)
{
    g_autofree char *uds = g_build_filename(tmpdir, "a.sock", NULL);
    g_autofree char *uds2 = g_build_filename(tmpdir, "b.sock", NULL);
    Machine *m = vm_with_vsock("3", uds), *other;
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    Device *d, *o;
    int fd;

    machine_lock(m);
    d = machine_find_device(m, "vs");
    g_assert_nonnull(d);
    g_assert_true(device_save_state(d, a, &err));
    g_assert_no_error(err);
    g_assert_true(device_load_state(d, a->data, a->len, &err));
    g_assert_no_error(err);

    /* A host connection (still waiting for the guest) makes saving fail. */
    fd = host_connect(uds);
    g_assert_cmpint(write(fd, "CONNECT 5\n", 10), ==, 10);
    for (int i = 0; i < 1000 && device_save_state(d, b, NULL); i++) {
        g_byte_array_set_size(b, 0);
        g_main_context_iteration(m->ctx, FALSE);
        g_usleep(1000);
    }
    g_byte_array_set_size(b, 0);
    g_assert_false(device_save_state(d, b, &err));
    g_assert_cmpstr(err->message, ==,
                    "virtio-vsock: 'vs' has 1 open connection: close them before saving");
    g_clear_error(&err);
    close(fd);
    machine_unlock(m);

    /* Another CID: the saved config image does not fit it. */
    other = vm_with_vsock("4", uds2);
    machine_lock(other);
    o = machine_find_device(other, "vs");
    g_assert_false(device_load_state(o, a->data, a->len, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "virtio-vsock: 'vs': the saved guest-cid 3 is not this device's 4");
    machine_unlock(other);
    machine_free(other);
    machine_free(m);
    /* The listening sockets go with their devices. */
    g_assert_false(g_file_test(uds, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(uds2, G_FILE_TEST_EXISTS));
}

int main(int argc, char **argv)
{
    int r;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("st-vs-XXXXXX", NULL);
    g_test_add_func("/virtio-vsock/state", test_state);
    r = g_test_run();
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return r;
}
