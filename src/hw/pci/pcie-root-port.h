/*
 * pcie-root-port (docs/pci.md "Root ports and hot-plug"): a PCI Express
 * root port whose `id` names its secondary bus, with a native hot-plug
 * slot (PCIe 5.0 §6.7): presence detect, attention button, power
 * controller and indicators, data-link-layer state changes and command
 * completion, signalled by MSI or INTx.
 *
 * The machine (q35.c) places functions on the port's bus and tells the port
 * (pcie_root_port_child_plugged); device_del asks the port
 * (pcie_root_port_unplug_request), which presses the attention button. The
 * guest then powers the slot off, and the port removes the devices there
 * (device_destroy) and emits DEVICE_DELETED, from the main loop rather than
 * inside the guest's config write, which is still dispatching.
 */
#ifndef STRATUS_PCIE_ROOT_PORT_H
#define STRATUS_PCIE_ROOT_PORT_H

#include <glib.h>

#include "hw/device.h"
#include "hw/pci/pci.h"

extern const DeviceClass pcie_root_port_device_class;

bool pcie_root_port_is(const Device *d);
/* The port's secondary bus (devices sit at slot 0 of it). */
PciBus *pcie_root_port_bus(Device *port);
/*
 * A function was placed on the port's bus: the slot shows it present with
 * its link up; a hot-plug also raises presence-detect and link-state
 * change events.
 */
void pcie_root_port_child_plugged(Device *port, bool hotplug);
/*
 * device_del of `child` (a device on the port's bus): presses the
 * attention button (the guest answers by powering the slot off), or, if
 * the guest already powered the slot off, removes the device at once. A
 * second request while one is pending is refused.
 */
bool pcie_root_port_unplug_request(Device *port, Device *child, GError **err);

#endif
