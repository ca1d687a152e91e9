/*
 * virtio-pci queue notifications through ioeventfds (virtio-pci.c): one
 * eventfd per queue, registered with the accelerator on the queue's notify
 * address in BAR4 while the queue is enabled and BAR4 is decoded, so a
 * driver's kick wakes the device on the main loop without a vCPU exit to
 * the handler (KVM) or a device call on the vCPU thread (emu). Where the
 * accelerator has none (qtest) nothing is registered and BAR4's write
 * handler does the work.
 */
#ifndef STRATUS_VIRTIO_PCI_KICK_H
#define STRATUS_VIRTIO_PCI_KICK_H

#include "hw/virtio/virtio.h"

/* vpci_kicks_sync's base when BAR4 decodes nothing. */
#define VPCI_KICKS_NO_BASE UINT64_MAX

typedef struct VpciKicks VpciKicks;

/* One eventfd per queue of vdev (the count at creation); nothing registered yet. */
VpciKicks *vpci_kicks_new(Machine *m, VirtioDevice *vdev, uint32_t stride);
/* Unregisters and closes everything. */
void vpci_kicks_free(VpciKicks *k);
/*
 * Registers each enabled queue's eventfd at notify_base + index * stride
 * (any write size, as the driver may write 2 or 4 bytes) and unregisters
 * every other, moving what moved. Cheap when nothing changed: call it
 * whenever BAR4, a queue's enable or the device status may have changed.
 */
void vpci_kicks_sync(VpciKicks *k, uint64_t notify_base);
/* How many queues have an ioeventfd now (tests, logs). */
unsigned vpci_kicks_active(const VpciKicks *k);

#endif
