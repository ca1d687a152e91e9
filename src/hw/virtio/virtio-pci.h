/*
 * The virtio PCI transport, modern only (virtio 1.2 §4.1), as StratoVirt's
 * virtio-pci: vendor 1AF4, device 1040 + the virtio device ID, revision 1.
 *
 *   BAR1  32-bit memory, 4 KiB: the MSI-X table (one vector per queue plus
 *         one for configuration changes) at 0, the PBA at 0x800
 *   BAR4  64-bit prefetchable memory, 16 KiB:
 *         0x0000 common configuration    0x1000 ISR status
 *         0x2000 device configuration    0x3000 queue notify (4 bytes per queue)
 *
 * Capabilities: the five virtio structures (common, notify, ISR, device,
 * PCI-config access window), MSI-X, and a PCI Express endpoint capability.
 * Without MSI-X the function raises INTA level-triggered on the GSI the
 * machine routes it to until the driver reads the ISR. The device code is
 * the same as on virtio-mmio (hw/virtio/virtio.h).
 */
#ifndef STRATUS_VIRTIO_PCI_H
#define STRATUS_VIRTIO_PCI_H

#include "hw/pci/pci.h"
#include "hw/virtio/virtio.h"

#define VIRTIO_PCI_VENDOR       0x1af4
#define VIRTIO_PCI_DEVICE_BASE  0x1040
#define VIRTIO_PCI_MSIX_BAR     1
#define VIRTIO_PCI_MODERN_BAR   4
#define VIRTIO_PCI_MSIX_SIZE    0x1000
#define VIRTIO_PCI_PBA_OFFSET   0x800
#define VIRTIO_PCI_MODERN_SIZE  0x4000
#define VIRTIO_PCI_COMMON_OFF   0x0000
#define VIRTIO_PCI_ISR_OFF      0x1000
#define VIRTIO_PCI_DEVICE_OFF   0x2000
#define VIRTIO_PCI_NOTIFY_OFF   0x3000
#define VIRTIO_PCI_NOTIFY_MULT  4
#define VIRTIO_PCI_NO_VECTOR    0xffff
/* The MSI-X table's rows fit below the PBA: 0x800 / 16. */
#define VIRTIO_PCI_MAX_VECTORS  128

typedef struct VirtioPci VirtioPci;

/*
 * The transport for vdev (whose queue count fixes the vector count),
 * class_code as pci_device_init takes it, INTA on intx_gsi. The function
 * is not on any bus yet: the machine plugs virtio_pci_function() where
 * bus=/addr= say. BARs are mapped on the machine's MMIO bus whenever the
 * guest places them.
 */
VirtioPci *virtio_pci_new(Machine *m, VirtioDevice *vdev, uint32_t class_code,
                          unsigned intx_gsi, GError **err);
void virtio_pci_free(VirtioPci *t);
PciDevice *virtio_pci_function(VirtioPci *t);
/* system_reset: the device, the transport registers and the function's config space. */
void virtio_pci_reset(VirtioPci *t);
/* Snapshot section: config space, transport registers, MSI-X table and PBA. */
bool virtio_pci_save(VirtioPci *t, GByteArray *out, GError **err);
bool virtio_pci_load(VirtioPci *t, const uint8_t *buf, size_t len, size_t *used, GError **err);

#endif
