/*
 * The kernel vhost API shared by vhost-vsock-device and virtio-net's
 * vhost=on back ends (docs/net.md "vhost-net"): one /dev/vhost-* descriptor
 * serves a set of virtqueues ("vrings", numbered from 0 within it). At start
 * the guest memory table, each ring's size, position and addresses, and a
 * kick and a call eventfd per ring go to the kernel; at stop the positions
 * come back so user space (or a later start) continues where it left off.
 *
 * Kicks and interrupts are relayed through the main loop: the device's
 * queue_notify writes the ring's kick eventfd (vhost_dev_kick), and the call
 * eventfds are watched and raise the used-buffer interrupt. That keeps the
 * devices independent of their transport.
 */
#ifndef STRATUS_VHOST_H
#define STRATUS_VHOST_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "hw/virtio/virtio.h"

#define VHOST_MAX_VRINGS 2      /* vhost-vsock: rx, tx; vhost-net: rx, tx of one pair */

typedef struct VhostDev {
    int fd;                     /* the /dev/vhost-* descriptor (owned by the user) */
    const char *what;           /* for messages: "vhost-vsock-device", "vhost-net" */
    const char *source;         /* for messages: the path, or "vhostfd" */
    VirtioDevice *vdev;         /* whose memory and rings; the call interrupt goes to it */
    unsigned nvrings;
    int kick[VHOST_MAX_VRINGS], call[VHOST_MAX_VRINGS];
    GSource *call_src[VHOST_MAX_VRINGS];
    bool started[VHOST_MAX_VRINGS];
} VhostDev;

/* No rings running, no eventfds; fd as given. */
void vhost_dev_init(VhostDev *h, int fd, const char *what, const char *source,
                    VirtioDevice *vdev, unsigned nvrings);
/* One ioctl; the error names the request and the descriptor's source. */
bool vhost_dev_ioctl(VhostDev *h, unsigned long req, const char *name, void *arg, GError **err);
/* VHOST_SET_OWNER and VHOST_GET_FEATURES: claims a freshly opened descriptor. */
bool vhost_dev_claim(VhostDev *h, uint64_t *features, GError **err);
/* VHOST_SET_FEATURES and VHOST_SET_MEM_TABLE (every RAM block of the machine). */
bool vhost_dev_set_features_and_memory(VhostDev *h, uint64_t features, GError **err);
/* Hands ring `i` of the device's virtqueue `vq_index` to the kernel. */
bool vhost_dev_start_vring(VhostDev *h, unsigned i, unsigned vq_index, GError **err);
/*
 * Takes every started ring back (VHOST_GET_VRING_BASE: the virtqueue's
 * position follows the kernel's) and closes the eventfds.
 */
void vhost_dev_stop(VhostDev *h, unsigned vq_index0);
/* The driver kicked ring i's virtqueue: pass it on. */
void vhost_dev_kick(VhostDev *h, unsigned i);

#endif
