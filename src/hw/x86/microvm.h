/*
 * The microvm board (x86_64), StratoVirt's layout (stratovirt-reference.md §2.8):
 * RAM below 3 GiB then from 4 GiB, COM1, the PM/i8042 power block, direct
 * Linux boot. No PCI, no ACPI, no firmware.
 */
#ifndef STRATUS_MICROVM_H
#define STRATUS_MICROVM_H

#include "machine.h"

#define MICROVM_LOW_RAM_LIMIT 0xC0000000ULL
#define MICROVM_IOAPIC_ADDR   0xFEC00000ULL

bool microvm_init(Machine *m, GError **err);
void microvm_destroy(Machine *m);

/*
 * virtio-mmio on microvm (src/hw/x86/microvm-virtio.c): creates the fixed
 * block/net slots and the -device virtio devices, and returns the
 * "virtio_mmio.device=512@0x...:IRQ ..." parameters for the kernel command line
 * (g_free'd by the caller; NULL or "" when there are none).
 */
bool microvm_virtio_init(Machine *m, char **cmdline_params, GError **err);
void microvm_virtio_destroy(Machine *m);

#endif
