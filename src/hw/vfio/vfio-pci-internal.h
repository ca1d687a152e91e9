/*
 * vfio-pci's state, shared by its configuration-space and BAR code
 * (vfio-pci.c) and its interrupt code (vfio-pci-irq.c). docs/vfio.md says
 * which registers are the host function's and which the VMM emulates.
 */
#ifndef STRATUS_VFIO_PCI_INTERNAL_H
#define STRATUS_VFIO_PCI_INTERNAL_H

#include "hw/device.h"
#include "hw/pci/pci.h"
#include "hw/vfio/vfio-backend.h"

#define PCI_CAP_ID_MSI       0x05
#define PCI_CAP_ID_MSIX      0x11
#define MSIX_CTRL_ENABLE     0x8000
#define MSIX_CTRL_MASKALL    0x4000
#define MSIX_ENTRY_MASKED    0x1
#define MSI_CTRL_ENABLE      0x0001
#define MSI_CTRL_64BIT       0x0080
#define MSI_CTRL_PVM         0x0100
/* MSI-X allows 2048 vectors (table size field + 1). */
#define VFIO_MAX_VECTORS     2048

typedef struct VfioPci VfioPci;

/* One eventfd the host signals, and what it means. */
typedef struct VfioVector {
    VfioPci *v;
    unsigned n;
    int fd;
    GSource *src;
} VfioVector;

/* A BAR as the guest's accesses reach it. */
typedef struct VfioBar {
    VfioPci *v;
    int n;
    uint64_t region_size;        /* the host region; the BAR may be larger (power of two) */
} VfioBar;

typedef struct VfioMsix {
    uint8_t cap;                 /* 0: none */
    unsigned nvec;
    int table_bar, pba_bar;
    uint32_t table_off, pba_off;
    uint32_t *table;             /* nvec rows of addr_lo, addr_hi, data, ctrl */
    uint64_t *pba;
} VfioMsix;

struct VfioPci {
    Device parent;
    /* properties */
    char *host;
    char *sysfsdev;
    char *fake_dir;
    bool multifunction;

    VfioBackend *be;
    PciDevice pci;
    /* Bits the VMM emulates: reads come from pci.config, writes stay in the VMM. */
    uint8_t emu[PCIE_CONFIG_SIZE];
    VfioBar bars[PCI_NUM_BARS];
    VfioMsix msix;
    uint8_t msi_cap;             /* 0: none */

    IrqLine intx;
    bool intx_level;
    VfioVector intx_vec;         /* fd -1 when INTx is off */
    int irq_on;                  /* VFIO_IRQ_MSI / MSIX while on, else -1 */
    VfioVector *vecs;            /* irq_on's vectors */
    unsigned nvecs;
};

/* vfio-pci-irq.c */
bool vfio_irq_init(VfioPci *v, GError **err);
void vfio_irq_cleanup(VfioPci *v);
/* After a guest write to the MSI or MSI-X capability or the command register. */
void vfio_irq_config_written(VfioPci *v, uint32_t addr, unsigned len);
/* A guest access to a BAR: the INTx end of interrupt QEMU's vfio also infers from it. */
void vfio_irq_bar_access(VfioPci *v);
/* MSI-X table and PBA accesses: true if [off, off + size) of BAR n is theirs. */
bool vfio_msix_read(VfioPci *v, int n, uint64_t off, unsigned size, uint64_t *val);
bool vfio_msix_write(VfioPci *v, int n, uint64_t off, uint64_t val, unsigned size);
/* system_reset: every vector off, the table masked, INTx back on. */
void vfio_irq_reset(VfioPci *v);

#endif
