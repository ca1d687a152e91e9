/*
 * virtio-mmio transport, version 2 (modern) only (virtio 1.2 §4.2.2):
 * magic "virt", vendor 0, device config at 0x100. Queue kicks arrive through
 * an ioeventfd on QueueNotify when the accelerator can (else through the
 * register write); interrupts go out through an irqfd when possible, else as
 * an edge (irq_pulse) on the GSI, with InterruptStatus/InterruptACK.
 */
#ifndef STRATUS_VIRTIO_MMIO_H
#define STRATUS_VIRTIO_MMIO_H

#include "hw/virtio/virtio.h"

#define VIRTIO_MMIO_REGION_SIZE   0x200

#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW        0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH       0x0bc
#define VIRTIO_MMIO_QUEUE_RESET         0x0c0
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC   0x74726976   /* "virt" */

typedef struct VirtioMmio VirtioMmio;

/*
 * Maps the transport at [base, base+0x200) on m->mmio for vdev (not owned),
 * wires ioeventfds/irqfd when the accelerator has them.
 */
VirtioMmio *virtio_mmio_new(Machine *m, VirtioDevice *vdev, uint64_t base, unsigned gsi,
                            GError **err);
void virtio_mmio_free(VirtioMmio *t);
VirtioDevice *virtio_mmio_device(VirtioMmio *t);
uint64_t virtio_mmio_base(const VirtioMmio *t);
unsigned virtio_mmio_gsi(const VirtioMmio *t);
/* "virtio_mmio.device=512@0xf0100000:5" */
char *virtio_mmio_cmdline_param(const VirtioMmio *t);
/* The register handlers (tests drive them directly). */
extern const IoRegionOps virtio_mmio_ops;

#include "migration/vmstate.h"
/* The transport's selector registers; opaque is the VirtioMmio. */
extern const VMStateDescription vmstate_virtio_mmio;

#endif
