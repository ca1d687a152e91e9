/* The kernel vhost API for vhost devices (hw/virtio/vhost.h). */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/vhost.h>

#include "hw/virtio/vhost.h"
#include "memory.h"
#include "util/log.h"
#include "util/strutil.h"

void vhost_dev_init(VhostDev *h, int fd, const char *what, const char *source,
                    VirtioDevice *vdev, unsigned nvrings)
{
    memset(h, 0, sizeof(*h));
    h->fd = fd;
    h->what = what;
    h->source = source;
    h->vdev = vdev;
    h->nvrings = MIN(nvrings, VHOST_MAX_VRINGS);
    for (unsigned i = 0; i < VHOST_MAX_VRINGS; i++) {
        h->kick[i] = h->call[i] = -1;
    }
}

bool vhost_dev_ioctl(VhostDev *h, unsigned long req, const char *name, void *arg, GError **err)
{
    if (ioctl(h->fd, req, arg) < 0) {
        set_error_errno(err, errno, "%s: %s on %s failed", h->what, name, h->source);
        return false;
    }
    return true;
}

bool vhost_dev_claim(VhostDev *h, uint64_t *features, GError **err)
{
    return vhost_dev_ioctl(h, VHOST_SET_OWNER, "VHOST_SET_OWNER", NULL, err) &&
           vhost_dev_ioctl(h, VHOST_GET_FEATURES, "VHOST_GET_FEATURES", features, err);
}

bool vhost_dev_set_features_and_memory(VhostDev *h, uint64_t features, GError **err)
{
    GArray *blocks = h->vdev->machine->ram.blocks;
    g_autofree struct vhost_memory *mem =
        g_malloc0(sizeof(*mem) + blocks->len * sizeof(struct vhost_memory_region));

    if (!vhost_dev_ioctl(h, VHOST_SET_FEATURES, "VHOST_SET_FEATURES", &features, err)) {
        return false;
    }
    mem->nregions = blocks->len;
    for (guint i = 0; i < blocks->len; i++) {
        RamBlock *b = &g_array_index(blocks, RamBlock, i);

        mem->regions[i].guest_phys_addr = b->gpa;
        mem->regions[i].memory_size = b->size;
        mem->regions[i].userspace_addr = (uint64_t)(uintptr_t)b->hva;
    }
    return vhost_dev_ioctl(h, VHOST_SET_MEM_TABLE, "VHOST_SET_MEM_TABLE", mem, err);
}

static gboolean call_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VhostDev *h = opaque;
    uint64_t v;

    if (read(fd, &v, sizeof(v)) == sizeof(v)) {
        virtio_notify_vring(h->vdev);
    }
    return G_SOURCE_CONTINUE;
}

bool vhost_dev_start_vring(VhostDev *h, unsigned i, unsigned vq_index, GError **err)
{
    const GuestRam *ram = &h->vdev->machine->ram;
    VirtQueue *vq = &h->vdev->vqs[vq_index];
    struct vhost_vring_state num = { .index = i, .num = vq->num };
    struct vhost_vring_state base = { .index = i, .num = vq->last_avail_idx };
    struct vhost_vring_addr addr = { .index = i };
    struct vhost_vring_file kick = { .index = i }, call = { .index = i };

    addr.desc_user_addr = (uint64_t)(uintptr_t)guest_ram_ptr(ram, vq->desc, 16ULL * vq->num);
    addr.avail_user_addr = (uint64_t)(uintptr_t)guest_ram_ptr(ram, vq->avail, 6 + 2ULL * vq->num);
    addr.used_user_addr = (uint64_t)(uintptr_t)guest_ram_ptr(ram, vq->used, 6 + 8ULL * vq->num);
    h->kick[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    h->call[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->kick[i] < 0 || h->call[i] < 0) {
        set_error_errno(err, errno, "%s: eventfd", h->what);
        return false;
    }
    kick.fd = h->kick[i];
    call.fd = h->call[i];
    if (!vhost_dev_ioctl(h, VHOST_SET_VRING_NUM, "VHOST_SET_VRING_NUM", &num, err) ||
        !vhost_dev_ioctl(h, VHOST_SET_VRING_BASE, "VHOST_SET_VRING_BASE", &base, err) ||
        !vhost_dev_ioctl(h, VHOST_SET_VRING_ADDR, "VHOST_SET_VRING_ADDR", &addr, err) ||
        !vhost_dev_ioctl(h, VHOST_SET_VRING_KICK, "VHOST_SET_VRING_KICK", &kick, err) ||
        !vhost_dev_ioctl(h, VHOST_SET_VRING_CALL, "VHOST_SET_VRING_CALL", &call, err)) {
        return false;
    }
    h->started[i] = true;
    h->call_src[i] = g_unix_fd_source_new(h->call[i], G_IO_IN);
    g_source_set_callback(h->call_src[i], G_SOURCE_FUNC(call_cb), h, NULL);
    g_source_attach(h->call_src[i], h->vdev->machine->ctx);
    return true;
}

void vhost_dev_stop(VhostDev *h, unsigned vq_index0)
{
    for (unsigned i = 0; i < h->nvrings; i++) {
        if (h->started[i]) {
            struct vhost_vring_state base = { .index = i };
            /* The ring goes on in user space (or at the next start) from the kernel's position. */
            VirtQueue *vq = &h->vdev->vqs[vq_index0 + i];
            const uint16_t *used_idx = guest_ram_ptr(&h->vdev->machine->ram, vq->used + 2, 2);

            if (ioctl(h->fd, VHOST_GET_VRING_BASE, &base) == 0) {
                vq->last_avail_idx = base.num;
            }
            if (used_idx) {
                vq->used_idx = le16toh(*used_idx);
            }
            h->started[i] = false;
        }
        if (h->call_src[i]) {
            g_source_destroy(h->call_src[i]);
            g_clear_pointer(&h->call_src[i], g_source_unref);
        }
        if (h->kick[i] >= 0) {
            close(h->kick[i]);
        }
        if (h->call[i] >= 0) {
            close(h->call[i]);
        }
        h->kick[i] = h->call[i] = -1;
    }
}

void vhost_dev_kick(VhostDev *h, unsigned i)
{
    uint64_t one = 1;

    if (i < h->nvrings && h->kick[i] >= 0 && write(h->kick[i], &one, sizeof(one)) != sizeof(one)) {
        log_warn("%s '%s': kick ring %u: %s", h->what, h->vdev->id, i, g_strerror(errno));
    }
}
