/*
 * virtio-balloon (virtio 1.2 §5.5): the `virtio-balloon-device` type
 * (docs/devices-balloon.md). The host sets a target, the guest
 * driver inflates the balloon towards it by handing pages over (their host
 * memory is discarded) and reports how many it holds in `actual`.
 *
 * The QMP commands (src/qmp/qmp-commands-balloon.c) and HMP `info balloon`
 * reach the device only through these functions. Everything runs with the
 * machine lock held.
 */
#ifndef STRATUS_VIRTIO_BALLOON_H
#define STRATUS_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"

/* Feature bits (§5.5.3) */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST   0
#define VIRTIO_BALLOON_F_STATS_VQ         1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM   2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT   3
#define VIRTIO_BALLOON_F_PAGE_POISON      4
#define VIRTIO_BALLOON_F_PAGE_REPORTING   5

/* Config space (§5.5.4): both little-endian, in 4 KiB pages. */
#define VIRTIO_BALLOON_CFG_NUM_PAGES 0   /* the host's target (the guest only reads it) */
#define VIRTIO_BALLOON_CFG_ACTUAL    4   /* pages the guest holds (the guest writes it) */
#define VIRTIO_BALLOON_CFG_SIZE      8

/* Queues: inflate, deflate, stats, then free-page reporting when offered. */
#define VIRTIO_BALLOON_Q_INFLATE 0
#define VIRTIO_BALLOON_Q_DEFLATE 1
#define VIRTIO_BALLOON_Q_STATS   2
#define VIRTIO_BALLOON_QUEUE_SIZE 128

#define VIRTIO_BALLOON_PFN_SHIFT 12

/* Guest statistics tags (§5.5.6.3) the device records; others are ignored. */
#define VIRTIO_BALLOON_S_NR 16

/* The machine's balloon device (there is at most one), or NULL. */
Device *virtio_balloon_find(Machine *m);

/*
 * QMP `balloon`: the guest should have `bytes` of memory. More than its RAM
 * means all of it (no balloon); the balloon is (RAM - bytes) rounded down to
 * pages. Updates num_pages and raises a config interrupt.
 */
void virtio_balloon_set_target(Device *d, uint64_t bytes);
/* QMP `query-balloon` "actual": RAM minus the pages the guest says it gave. */
uint64_t virtio_balloon_actual_bytes(Device *d);

/* What the device did, for tests and logs (host bookkeeping, not state). */
typedef struct VirtioBalloonCounters {
    uint32_t num_pages;          /* target, pages */
    uint32_t actual;             /* guest's count, pages, as written */
    uint64_t inflated;           /* PFNs discarded on the inflate queue */
    uint64_t deflated;           /* PFNs returned on the deflate queue */
    uint64_t ignored;            /* PFNs outside guest RAM (either queue) */
    uint64_t reported;           /* bytes discarded on the reporting queue */
    uint64_t stats_buffers;      /* stats buffers received */
    uint64_t stats[VIRTIO_BALLOON_S_NR];   /* last value of each tag */
    uint32_t stats_seen;         /* bit t: tag t was in a stats buffer */
} VirtioBalloonCounters;
void virtio_balloon_counters(Device *d, VirtioBalloonCounters *out);

extern const DeviceClass virtio_balloon_device_class;
extern const DeviceClass virtio_balloon_pci_device_class;
/* Either form (virtio-mmio or -pci). */
bool virtio_balloon_is(const Device *d);

#endif
