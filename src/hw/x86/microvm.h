/*
 * The microvm board (x86_64), StratoVirt's layout (stratovirt-reference.md §2.8):
 * RAM below 3 GiB then from 4 GiB, COM1, the PM/i8042 power block, direct
 * Linux boot, virtio-mmio slots. No PCI, no firmware; ACPI tables only with
 * acpi=on (microvm-acpi.c). It registers the machine class "microvm" (hw/device.h).
 */
#ifndef STRATUS_MICROVM_H
#define STRATUS_MICROVM_H

#include "machine.h"
#include "hw/device.h"
#include "hw/x86/x86-board.h"

#define MICROVM_LOW_RAM_LIMIT 0xC0000000ULL
#define MICROVM_IOAPIC_ADDR   X86_IOAPIC_ADDR

extern const MachineClass microvm_machine_class;

/* ---- virtio-mmio slots (src/hw/x86/microvm-virtio.c, docs/block.md) ---- */

typedef struct VirtioDevice VirtioDevice;
typedef struct MicrovmVirtio MicrovmVirtio;

#define MICROVM_VIRTIO_BASE      0xF0100000ULL
#define MICROVM_VIRTIO_STRIDE    0x200
#define MICROVM_VIRTIO_IRQ_BASE  5
#define MICROVM_VIRTIO_IRQ_MAX   23     /* last IOAPIC pin; see docs/devices-balloon.md */
#define MICROVM_BLK_SLOTS        6      /* slots 0..5, IRQs 5..10 */
#define MICROVM_NET_SLOTS        2      /* slots 6..7, IRQs 11..12 */

/* Creates the 8 fixed slots (empty block devices, NICs without a back end). */
MicrovmVirtio *microvm_virtio_new(Machine *m, GError **err);
void microvm_virtio_free(MicrovmVirtio *s);
void microvm_virtio_reset(MicrovmVirtio *s);
/* "virtio_mmio.device=512@0x...:IRQ ..." for every transport so far. */
const char *microvm_virtio_cmdline(MicrovmVirtio *s);
/*
 * Places a realized virtio device. A virtio-blk-device goes into block slot
 * `addr` ("0x<n>") or the first free one; any other type with a
 * virtio_device hook gets the next transport after the slots (0xF0101000 /
 * IRQ 13 on, "IRQ number exhausted." past IRQ 23). Errors (StratoVirt texts): "Invalid addr for device <id>",
 * "A maximum of 6 block replaceable devices are supported.",
 * "The slot <n> is occupied already.", "Unsupported replaceable device type."
 * A virtio-net-device goes into net slot `addr` (0x0 = eth0, 0x1 = eth1) or
 * the first free one ("A maximum of 2 net replaceable devices are supported.").
 * (not a block device), "Drive '<n>' is already in use by '<dev>'".
 */
bool microvm_virtio_plug(MicrovmVirtio *s, Device *d, GError **err);
/* Empties the slot holding d (in-flight I/O drained, config-change interrupt). */
void microvm_virtio_unplug(MicrovmVirtio *s, Device *d);
VirtioDevice *microvm_virtio_blk_slot(MicrovmVirtio *s, unsigned slot);
/* The base of the transport holding d (its slot or its own), 0 if none. */
uint64_t microvm_virtio_device_base(MicrovmVirtio *s, const Device *d);
/*
 * Snapshot state the slots hold outside registered devices: every
 * transport's registers, each block slot's device and each empty net slot's
 * (a filled one is its virtio-net-device's). load takes exactly what save
 * wrote for the same slots and devices.
 */
bool microvm_virtio_save(MicrovmVirtio *s, GByteArray *out, GError **err);
bool microvm_virtio_load(MicrovmVirtio *s, const uint8_t *buf, size_t len, GError **err);

/* Transports created so far (slots and extras): index i is at
 * MICROVM_VIRTIO_BASE + i * MICROVM_VIRTIO_STRIDE, GSI MICROVM_VIRTIO_IRQ_BASE + i. */
unsigned microvm_virtio_transports(MicrovmVirtio *s);

/* ---- ACPI (src/hw/x86/microvm-acpi.c, docs/microvm.md "ACPI") ---- */

/* RSDP at the base (the BIOS area the RSDP scan covers, e820-reserved). */
#define MICROVM_ACPI_BASE 0xE0000ULL
#define MICROVM_ACPI_SIZE 0x10000      /* up to the MP table's overflow area at 0xF0000 */

typedef struct MicrovmAcpiConfig {
    unsigned ncpus;
    bool serial;                /* COM1 exists */
    bool rtc;                   /* the CMOS RTC exists (-machine rtc=on) */
    unsigned n_virtio;          /* transports 0..n_virtio-1 */
} MicrovmAcpiConfig;

/* The tables as one image to copy to MICROVM_ACPI_BASE (RSDP first). */
GByteArray *microvm_acpi_build(const MicrovmAcpiConfig *c);

/* Tests: the device in block slot i (0..5) of a microvm, NULL if out of range. */
VirtioDevice *microvm_blk_slot_device(Machine *m, unsigned slot);

#endif
