/*
 * vhost-vsock-device (StratoVirt's and QEMU's name): virtio-vsock whose rx
 * and tx queues the host kernel serves through /dev/vhost-vsock
 * (docs/devices-vsock.md). The guest's streams then reach host programs
 * through AF_VSOCK sockets on the host, at the guest's CID.
 *
 * Realize opens the device node (or takes vhostfd=), claims it
 * (VHOST_SET_OWNER) and the CID (VHOST_VSOCK_SET_GUEST_CID), so a host
 * without the module or a CID in use fails at start with one line. At
 * DRIVER_OK the rings go to the kernel (memory table, ring addresses, kick
 * and call eventfds) and the device runs; a reset stops it.
 *
 * Kicks and interrupts are relayed through the main loop (hw/virtio/vhost.h,
 * shared with virtio-net's vhost=on). The event queue stays in user space:
 * only a transport reset would use it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/vhost.h>

#include "hw/virtio/virtio-vsock.h"
#include "hw/device.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/vhost.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define VHOST_VSOCK_PATH "/dev/vhost-vsock"
#define VHOST_VSOCK_VRINGS 2            /* rx and tx; the event queue is ours */

typedef struct VhostVsock {
    Device parent;              /* first: the registry allocates and frees us */
    uint64_t guest_cid;         /* property "guest-cid" */
    char *vhostfd;              /* property "vhostfd": an open /dev/vhost-vsock */

    VirtioDevice vdev;
    int fd;
    uint64_t backend_features;
    bool running;
    VhostDev h;                 /* the rings in the kernel (hw/virtio/vhost.h) */
} VhostVsock;

static VhostVsock *to_vhost(VirtioDevice *vdev)
{
    return (VhostVsock *)((char *)vdev - offsetof(VhostVsock, vdev));
}

static void vhost_stop(VhostVsock *s)
{
    int off = 0;

    if (s->running) {
        ioctl(s->fd, VHOST_VSOCK_SET_RUNNING, &off);
        s->running = false;
    }
    vhost_dev_stop(&s->h, 0);
}

/* DRIVER_OK: the rings to the kernel. A failure breaks the device (NEEDS_RESET). */
static void vhost_vsock_driver_ok(VirtioDevice *vdev)
{
    VhostVsock *s = to_vhost(vdev);
    g_autoptr(GError) err = NULL;
    int on = 1;

    if (!vhost_dev_set_features_and_memory(&s->h, vdev->guest_features, &err)) {
        goto fail;
    }
    for (unsigned i = 0; i < VHOST_VSOCK_VRINGS; i++) {
        if (vdev->vqs[i].ready && !vhost_dev_start_vring(&s->h, i, i, &err)) {
            goto fail;
        }
    }
    if (!vhost_dev_ioctl(&s->h, VHOST_VSOCK_SET_RUNNING, "VHOST_VSOCK_SET_RUNNING", &on, &err)) {
        goto fail;
    }
    s->running = true;
    return;
fail:
    vhost_stop(s);
    virtio_error(vdev, "%s", err->message);
}

static void vhost_vsock_queue_notify(VirtioDevice *vdev, unsigned index)
{
    vhost_dev_kick(&to_vhost(vdev)->h, index);
}

static void vhost_vsock_reset(VirtioDevice *vdev)
{
    vhost_stop(to_vhost(vdev));
}

static const VirtioDeviceClass vhost_vsock_class = {
    .name = "vhost-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .queue_notify = vhost_vsock_queue_notify,
    .driver_ok = vhost_vsock_driver_ok,
    .reset = vhost_vsock_reset,
};

static bool open_backend(VhostVsock *s, GError **err)
{
    guint64 fd;

    if (s->vhostfd) {
        if (!parse_uint(s->vhostfd, &fd) || fd > G_MAXINT || fcntl((int)fd, F_GETFD) < 0) {
            set_error(err, "vhost-vsock-device: vhostfd '%s' is not an open file descriptor",
                      s->vhostfd);
            return false;
        }
        s->fd = (int)fd;
        return true;
    }
    s->fd = open(VHOST_VSOCK_PATH, O_RDWR | O_CLOEXEC);
    if (s->fd < 0) {
        set_error(err, "vhost-vsock-device: cannot open " VHOST_VSOCK_PATH ": %s (the host "
                  "needs the vhost_vsock module; virtio-vsock-device works without it)",
                  g_strerror(errno));
        return false;
    }
    return true;
}

static bool vhost_vsock_realize(Device *d, GError **err)
{
    VhostVsock *s = (VhostVsock *)d;
    uint64_t cid = s->guest_cid;
    const uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
                          VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);

    s->fd = -1;
    if (!vsock_check_common(d, s->guest_cid, err) || !open_backend(s, err)) {
        return false;
    }
    vhost_dev_init(&s->h, s->fd, "vhost-vsock-device", s->vhostfd ? "vhostfd" : VHOST_VSOCK_PATH,
                   &s->vdev, VHOST_VSOCK_VRINGS);
    if (!vhost_dev_claim(&s->h, &s->backend_features, err) ||
        !vhost_dev_ioctl(&s->h, VHOST_VSOCK_SET_GUEST_CID, "VHOST_VSOCK_SET_GUEST_CID", &cid,
                         err)) {
        close(s->fd);
        return false;
    }
    virtio_device_init(&s->vdev, &vhost_vsock_class, d->machine, d->id ? d->id : "vsock",
                       s->backend_features & want, VSOCK_NUM_QUEUES, VSOCK_QUEUE_SIZE,
                       VSOCK_CONFIG_SIZE);
    virtio_config_set_le64(&s->vdev, 0, s->guest_cid);
    return true;
}

static void vhost_vsock_unrealize(Device *d)
{
    VhostVsock *s = (VhostVsock *)d;

    vhost_stop(s);
    close(s->fd);
    virtio_device_cleanup(&s->vdev);
}

static VirtioDevice *vhost_vsock_virtio_device(Device *d)
{
    return &((VhostVsock *)d)->vdev;
}

static const Property vhost_vsock_props[] = {
    DEFINE_PROP("guest-cid", PROP_U64, VhostVsock, guest_cid, NULL, NULL),
    DEFINE_PROP("vhostfd", PROP_STR, VhostVsock, vhostfd, NULL, NULL),
    DEFINE_PROP_END,
};

/*
 * The rings' positions and the connections live in the host kernel; a
 * description without them would restore a guest whose sockets silently
 * vanished, so saving is refused instead. Live migration would also need
 * the kernel's writes to guest RAM in the dirty log (VHOST_SET_LOG_BASE,
 * VHOST_F_LOG_ALL, VHOST_VRING_F_LOG), the rings' bases at the stop
 * (VHOST_GET_VRING_BASE after stopping the device) and a transport reset
 * event on the destination, as QEMU's vhost-vsock does: none of it can be
 * exercised on hosts without the module, so the device is unmigratable and
 * migrate refuses it up front (device_migratable).
 */
static bool vhost_vsock_pre_save(void *opaque, GError **err)
{
    VhostVsock *s = opaque;

    g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                "'%s': its state is in the host kernel and cannot be saved",
                s->vdev.id);
    return false;
}

static const VMStateDescription vmstate_vhost_vsock = {
    .name = "vhost-vsock",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = vhost_vsock_pre_save,
    .unmigratable = true,
    .fields = (const VMStateField[]) {
        VMSTATE_END_OF_LIST()
    },
};

const DeviceClass vhost_vsock_device_class = {
    .name = "vhost-vsock-device",
    .parent = "virtio-device",
    .description = NULL,
    .bus = DEVICE_BUS_VIRTIO,
    .instance_size = sizeof(VhostVsock),
    .props = vhost_vsock_props,
    .user_creatable = true,
    /* StratoVirt's microvm does not hot-plug it: its window is fixed at boot. */
    .hotpluggable = false,
    .seccomp_needs = SECCOMP_NEED_VHOST,       /* the vhost ioctls of DRIVER_OK and reset */
    .realize = vhost_vsock_realize,
    .unrealize = vhost_vsock_unrealize,
    .virtio_device = vhost_vsock_virtio_device,
    .vmsd = &vmstate_vhost_vsock,
};
