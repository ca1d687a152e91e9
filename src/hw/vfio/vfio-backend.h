/*
 * What the vfio-pci device needs from a host PCI function, as a small ops
 * table (docs/vfio.md): the regions (BARs, the ROM, configuration space)
 * with their sizes and pread/pwrite-style access, an optional mmap of a
 * region, the interrupt counts and the eventfds each interrupt raises.
 *
 * Two back ends implement it:
 *   vfio-host.c  the Linux VFIO API (container, group, device fd), used
 *                for host= / sysfsdev=
 *   vfio-fake.c  a directory of plain files standing in for the regions,
 *                for tests only (the x-fake-dir= property): it lets qtest
 *                exercise the device's configuration-space emulation on
 *                hosts without /dev/vfio
 * The device code (vfio-pci.c) never knows which one it talks to.
 */
#ifndef STRATUS_VFIO_BACKEND_H
#define STRATUS_VFIO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>

#include "machine.h"

/* Region indices, as VFIO_PCI_*_REGION_INDEX number them. */
#define VFIO_REGION_BAR0     0
#define VFIO_REGION_ROM      6
#define VFIO_REGION_CONFIG   7
#define VFIO_REGION_COUNT    8

/* Interrupt indices, as VFIO_PCI_*_IRQ_INDEX number them. */
#define VFIO_IRQ_INTX        0
#define VFIO_IRQ_MSI         1
#define VFIO_IRQ_MSIX        2

#define VFIO_REGION_CAN_READ   0x1
#define VFIO_REGION_CAN_WRITE  0x2
#define VFIO_REGION_CAN_MMAP   0x4

typedef struct VfioRegion {
    uint64_t size;               /* 0: the region does not exist */
    uint32_t flags;              /* VFIO_REGION_CAN_* */
} VfioRegion;

typedef struct VfioBackend VfioBackend;

typedef struct VfioBackendOps {
    /* Bytes read or written at off of region `index`, or -1 (errno set). */
    ssize_t (*read)(VfioBackend *b, unsigned index, uint64_t off, void *buf, size_t len);
    ssize_t (*write)(VfioBackend *b, unsigned index, uint64_t off, const void *buf,
                     size_t len);
    /* The region mapped into the VMM, or NULL (then accesses go through read/write). */
    void *(*mmap)(VfioBackend *b, unsigned index);
    /*
     * Interrupt `index`: vectors [0, count) signal fds[i]; count 0 turns
     * the interrupt off. INTx is level: the host masks it when it fires
     * and unmask() re-arms it.
     */
    bool (*set_irqs)(VfioBackend *b, unsigned index, unsigned count, const int *fds,
                     GError **err);
    void (*unmask_intx)(VfioBackend *b);
    /* Function-level reset, where the device has one. */
    void (*reset)(VfioBackend *b);
    void (*free)(VfioBackend *b);
} VfioBackendOps;

struct VfioBackend {
    const VfioBackendOps *ops;
    VfioRegion regions[VFIO_REGION_COUNT];
    unsigned irq_count[3];       /* vectors of INTx (0 or 1), MSI, MSI-X */
};

/*
 * The real back end for host= ("dddd:bb:ss.f", the domain optional) or
 * sysfsdev= (a /sys/bus/pci/devices/... directory): resolves the IOMMU
 * group, opens /dev/vfio/vfio and /dev/vfio/N, sets a type-1 IOMMU, maps
 * all of guest RAM for DMA and opens the device. Errors name what is
 * missing: the host device, its iommu_group, /dev/vfio/N.
 */
VfioBackend *vfio_host_open(Machine *m, const char *host, const char *sysfsdev,
                            GError **err);
/* "dddd:bb:ss.f" or "bb:ss.f" into the canonical "dddd:bb:ss.f"; NULL if malformed. */
char *vfio_parse_host_address(const char *host);

/* The test-only back end over a directory (vfio-fake.c, docs/vfio.md). */
VfioBackend *vfio_fake_open(Machine *m, const char *dir, GError **err);

static inline void vfio_backend_free(VfioBackend *b)
{
    if (b) {
        b->ops->free(b);
    }
}

#endif
