/*
 * virtio-pci MSI-X vectors through irqfds (virtio-pci.c): where the
 * accelerator has MSI routes (KVM's GSI routing), a vector the device
 * raises gets a route with its message and an irqfd on that route's GSI,
 * and an interrupt is one eventfd write instead of a KVM_SIGNAL_MSI. The
 * route follows the MSI-X entry: the transport reports table writes and
 * unmasks here. Masking stays the transport's: a masked vector sets its
 * PBA bit and nothing is sent. Elsewhere (emu, qtest) nothing is set up
 * and the transport calls machine_send_msi.
 */
#ifndef STRATUS_VIRTIO_PCI_IRQFD_H
#define STRATUS_VIRTIO_PCI_IRQFD_H

#include "machine.h"

typedef struct VpciIrqfds VpciIrqfds;

VpciIrqfds *vpci_irqfds_new(Machine *m, unsigned nvectors, const char *name);
/* Removes every irqfd and route. */
void vpci_irqfds_free(VpciIrqfds *v);
/*
 * Delivers vector vec's message (addr, data) through its irqfd, creating
 * the route on first use and moving it if the message changed. false when
 * it cannot (no MSI routes here, a message outside the APIC window, the
 * hypervisor refused): the caller sends it with machine_send_msi.
 */
bool vpci_irqfds_send(VpciIrqfds *v, unsigned vec, uint64_t addr, uint32_t data);
/* The guest rewrote or unmasked vector vec's entry: its route takes (addr, data) now. */
void vpci_irqfds_entry_changed(VpciIrqfds *v, unsigned vec, uint64_t addr, uint32_t data);
/* Vectors with a route and irqfd (tests). */
unsigned vpci_irqfds_active(const VpciIrqfds *v);

#endif
