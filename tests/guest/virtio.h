/*
 * Virtio for the test guest: split virtqueues and the virtio-mmio (version 2)
 * transport, driven at CPL3 by polling.  Device drivers (virtio_blk.c, ...)
 * use only the functions below; a virtio-pci transport would provide the same
 * struct virtio_dev operations (status, features, queue setup, notify, ISR,
 * config) with its own register accessors.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H
#include "guest.h"

/* Device status bits */
#define VIRTIO_S_ACKNOWLEDGE    0x01
#define VIRTIO_S_DRIVER         0x02
#define VIRTIO_S_DRIVER_OK      0x04
#define VIRTIO_S_FEATURES_OK    0x08
#define VIRTIO_S_NEEDS_RESET    0x40
#define VIRTIO_S_FAILED         0x80

/* Transport-independent feature bits */
#define VIRTIO_F_INDIRECT_DESC  28
#define VIRTIO_F_EVENT_IDX      29
#define VIRTIO_F_VERSION_1      32
#define VBIT(b)                 (1ULL << (b))

/* Split ring layout */
#define VRING_DESC_F_NEXT       1
#define VRING_DESC_F_WRITE      2
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY  1
#define VQ_MAX_SIZE             256
/* One queue's memory: descriptors (16*256) + avail page + used page. */
#define VQ_MEM_SIZE             (3 * 4096)

struct vring_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};

struct vring_avail {
	u16 flags;
	u16 idx;
	u16 ring[];              /* [num], then used_event */
};

struct vring_used_elem {
	u32 id;
	u32 len;
};

struct vring_used {
	u16 flags;
	u16 idx;
	struct vring_used_elem ring[]; /* [num], then avail_event */
};

/* Driver-side error codes (returned negated by the functions below). */
enum {
	VIO_OK = 0,
	VIO_ENODEV,             /* bad magic/version/device id */
	VIO_EFEATURES,          /* a required feature is missing or FEATURES_OK refused */
	VIO_EQUEUE,             /* queue missing, in use, or of size 0 */
	VIO_ETIMEOUT,           /* a request did not complete in time */
	VIO_ENEEDS_RESET,       /* the device set NEEDS_RESET */
	VIO_EFULL,              /* no free descriptors */
	VIO_ELEGACY,            /* a version 1 (legacy) virtio-mmio device: not supported */
};
const char *virtio_strerror(int err);   /* "nodev", "features", ... (shell msg= text) */

struct virtio_dev;

struct virtq {
	struct virtio_dev *dev;
	u16 index;               /* queue number in the device */
	u16 num;                 /* size (power of two) */
	u16 free_head, num_free;
	u16 avail_shadow;        /* next avail->idx to publish */
	u16 kicked;              /* avail idx at the last notify decision */
	u64 notify_addr;         /* where a kick is written (index as 32 bits mmio, 16 pci) */
	u16 last_used;           /* next used->idx entry to consume */
	int event_idx;
	int irq_off;              /* interrupts suppressed (see vq_set_interrupts) */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	void *cookie[VQ_MAX_SIZE];
	u16 chain_len[VQ_MAX_SIZE];
	/* statistics */
	u64 added, completed, notifies, notifies_suppressed;
};

struct virtio_dev {
	u64 base;                /* virtio-mmio register base (virtio-pci: device config - 0x100) */
	int pci;                 /* virtio-pci: registers below are the structures' addresses */
	u64 common, isr, notify;
	u32 notify_mult;
	u32 irq;                 /* IOAPIC pin; vector = 0x20 + irq */
	u32 device_id;
	u64 offered;             /* device features */
	u64 features;            /* negotiated */
	u32 config_gen;          /* last generation seen by virtio_config_read */
	/* statistics, see virtio_poll_interrupt() */
	u64 isr_reads, isr_used, isr_config;
	u64 irr_checks, irr_seen, irr_missing, irr_stuck, eois;
};

/* ---- transports ---- */
/* 0, -VIO_ENODEV, or -VIO_ELEGACY (version 1; d->device_id is still set). */
int virtio_mmio_probe(struct virtio_dev *d, u64 base, u32 irq);
/*
 * Either transport for an entry of bi.virtio (virtio-pci functions are
 * found by pci.c). The drivers below do not see the difference: virtio-pci
 * answers the virtio-mmio register offsets through its common
 * configuration (virtio.c's register layer).
 */
int virtio_probe(struct virtio_dev *d, const struct virtio_mmio_dev *e);
/* The entry's virtio device ID without side effects (one register read for mmio). */
u32 virtio_entry_device_id(const struct virtio_mmio_dev *e);
u32 virtio_get_status(struct virtio_dev *d);
/*
 * What a driver has seen of bi.virtio: a root port bumps an entry's plug
 * count when its function comes or goes, so a driver that compares counts
 * before each command takes a re-plugged function in again by itself.
 */
struct virtio_watch {
	u32 plugs[MAX_VIRTIO_MMIO];     /* each entry's count when last looked at */
	u32 scanned;                    /* entries looked at so far */
};
/* The next entry from *pos on that is new or whose count moved (now seen), or -1. */
int virtio_watch_next(struct virtio_watch *w, u32 *pos);
void virtio_reset(struct virtio_dev *d);
/*
 * Reset, ACKNOWLEDGE, DRIVER, read the offered features, write
 * offered & wanted, FEATURES_OK and check it stuck.  `required` bits must
 * be offered (VERSION_1 always is required).
 */
int virtio_negotiate(struct virtio_dev *d, u64 wanted, u64 required);
/* Sets up queue `index` with `mem` (VQ_MEM_SIZE bytes, page aligned, zeroed
 * here) and at most `max` entries; event_idx from the negotiated features. */
int virtio_queue_setup(struct virtio_dev *d, struct virtq *vq, u16 index, void *mem, u16 max);
void virtio_driver_ok(struct virtio_dev *d);
/* Reads config space [off, off+len) consistently (ConfigGeneration loop). */
void virtio_config_read(struct virtio_dev *d, u32 off, void *buf, u32 len);
u32 virtio_config_generation(struct virtio_dev *d);
/*
 * Reads InterruptStatus and acknowledges what it found; counts used-buffer
 * (bit 0) and configuration-change (bit 1) notifications.  Returns the bits.
 */
u32 virtio_ack_interrupt(struct virtio_dev *d);
/*
 * Interrupt observation without taking interrupts: waits up to `us` for the
 * device's vector in the LAPIC IRR, counts seen/missing, EOIs it and counts
 * it as stuck if the IRR bit survives the EOI (it does while IF=0 on KVM:
 * only acceptance by the CPU clears IRR).  Returns 1 if seen.
 */
int virtio_observe_irq(struct virtio_dev *d, u64 us);

/* ---- split virtqueue ---- */
struct vbuf {
	u64 addr;                /* guest-physical */
	u32 len;
	int write;               /* device writes it */
};
/* Adds a chain (device-readable buffers first); returns 0 or -VIO_EFULL. */
int vq_add(struct virtq *vq, const struct vbuf *b, unsigned n, void *cookie);
/* Publishes added chains and notifies the device unless it asked not to be. */
void vq_kick(struct virtq *vq);
/* Next completed chain: its cookie (and *len), or NULL.  Re-arms the
 * used-event so the device interrupts on the next completion. */
void *vq_get_used(struct virtq *vq, u32 *len);
int vq_has_used(struct virtq *vq);
/* Asks the device for used-buffer interrupts or not (avail flags / used_event). */
void vq_set_interrupts(struct virtq *vq, int on);
#endif
