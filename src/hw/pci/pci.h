/*
 * PCI configuration space (PCI Local Bus 3.0 ch. 6, PCIe 5.0 ch. 7): the
 * part every PCI function shares, independent of how the guest reaches it
 * (CF8/CFC or ECAM, the host bridge's business) and of the machine. A
 * function's 256-byte (PCI) or 4-KiB (PCIe) space is an image plus two
 * masks: which bits the guest may write and which are write-1-to-clear.
 * BARs follow the sizing protocol (write all ones, read back the size);
 * whenever what a BAR decodes changes (its address, or the command
 * register's I/O / memory enable), the owner's bar_map hook is told, so it
 * can move its region on the machine's buses.
 *
 * Everything runs with the machine lock held, like the rest of hw/.
 */
#ifndef STRATUS_PCI_H
#define STRATUS_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define PCI_CONFIG_SIZE        256
#define PCIE_CONFIG_SIZE       4096

/* Type 0 header offsets */
#define PCI_VENDOR_ID          0x00
#define PCI_DEVICE_ID          0x02
#define PCI_COMMAND            0x04
#define PCI_STATUS             0x06
#define PCI_REVISION_ID        0x08
#define PCI_CLASS_PROG         0x09
#define PCI_CLASS_DEVICE       0x0a
#define PCI_HEADER_TYPE        0x0e
#define PCI_BASE_ADDRESS_0     0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID       0x2e
#define PCI_CAPABILITY_LIST    0x34
#define PCI_INTERRUPT_LINE     0x3c
#define PCI_INTERRUPT_PIN      0x3d

/* Type 1 (PCI-to-PCI bridge) header offsets (PCI-to-PCI Bridge 1.2 ch. 3) */
#define PCI_PRIMARY_BUS        0x18
#define PCI_SECONDARY_BUS      0x19
#define PCI_SUBORDINATE_BUS    0x1a
#define PCI_IO_BASE            0x1c
#define PCI_IO_LIMIT           0x1d
#define PCI_SEC_STATUS         0x1e
#define PCI_MEMORY_BASE        0x20
#define PCI_MEMORY_LIMIT       0x22
#define PCI_PREF_MEMORY_BASE   0x24
#define PCI_PREF_MEMORY_LIMIT  0x26
#define PCI_PREF_BASE_UPPER32  0x28
#define PCI_PREF_LIMIT_UPPER32 0x2c
#define PCI_IO_BASE_UPPER16    0x30
#define PCI_BRIDGE_CONTROL     0x3e
#define PCI_BRIDGE_CTL_BUS_RESET 0x40    /* secondary bus reset */
#define PCI_HEADER_TYPE_BRIDGE 0x01
#define PCI_HEADER_TYPE_MULTI  0x80
#define PCI_PREF_RANGE_64      0x01

/* Capability IDs */
#define PCI_CAP_ID_MSI         0x05
#define PCI_CAP_ID_VNDR        0x09
#define PCI_CAP_ID_EXP         0x10
#define PCI_CAP_ID_MSIX        0x11

#define PCI_COMMAND_IO         0x0001
#define PCI_COMMAND_MEMORY     0x0002
#define PCI_COMMAND_MASTER     0x0004
#define PCI_COMMAND_SERR       0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT   0x0008
#define PCI_STATUS_CAP_LIST    0x0010
/* Error bits the guest clears by writing 1 (parity, aborts, SERR). */
#define PCI_STATUS_W1C         0xf900

#define PCI_BAR_IO             0x01
#define PCI_BAR_MEM64          0x04
#define PCI_BAR_PREFETCH       0x08
#define PCI_NUM_BARS           6
#define PCI_BAR_UNMAPPED       UINT64_MAX

#define PCI_EXT_CAP_START      0x100

typedef struct PciDevice PciDevice;
typedef struct PciBus PciBus;

/*
 * BAR n decodes `addr` now (PCI_BAR_UNMAPPED: it decodes nothing), and did
 * `old` before. Called after the config write that changed it.
 */
typedef void PciBarMapFn(PciDevice *d, int n, uint64_t old, uint64_t addr);
/*
 * Optional hooks for registers with side effects (MSI-X control, virtio's
 * PCI-config access window): config_read may supply the value of an
 * access (true) instead of the image; config_written runs after a write
 * was stored through the masks.
 */
typedef bool PciConfigReadFn(PciDevice *d, uint32_t addr, unsigned len, uint32_t *val);
typedef void PciConfigWrittenFn(PciDevice *d, uint32_t addr, uint32_t val, unsigned len);
/* The function back to its power-on state, config space and device alike. */
typedef void PciResetFn(PciDevice *d);

typedef struct PciBar {
    uint64_t size;               /* 0: not implemented */
    uint8_t flags;               /* PCI_BAR_IO / MEM64 / PREFETCH */
    uint64_t mapped;             /* what it decodes now, PCI_BAR_UNMAPPED if nothing */
} PciBar;

struct PciDevice {
    uint8_t config[PCIE_CONFIG_SIZE];
    uint8_t wmask[PCIE_CONFIG_SIZE];     /* bits the guest may change */
    uint8_t w1cmask[PCIE_CONFIG_SIZE];   /* bits a 1 clears */
    uint32_t config_size;                /* PCI_CONFIG_SIZE or PCIE_CONFIG_SIZE */
    PciBar bars[PCI_NUM_BARS];
    uint8_t cap_next;                    /* where the next capability goes */
    uint16_t ext_cap_next;
    uint16_t ext_cap_last;               /* 0: no extended capability yet */
    PciBarMapFn *bar_map;
    PciConfigReadFn *config_read;
    PciConfigWrittenFn *config_written;
    PciResetFn *reset;                   /* for a secondary bus reset above it; optional */
    void *opaque;
    struct Device *owner;                /* the registered device, NULL for board functions */
    PciBus *bus;                         /* where it is plugged (pci_bus_plug), or NULL */
    PciBus *secondary;                   /* a bridge's own bus (pci_bridge_init), else NULL */
};

/*
 * A bus: up to 32 devices of 8 functions. The root bus is the host's; any
 * other belongs to a bridge (`bridge`), whose secondary/subordinate
 * registers, as the guest programs them, give it its number. A function
 * behind bridges decodes its BARs only inside every ancestor's forwarding
 * windows, with the ancestor's I/O or memory enable set, as bridges
 * forward.
 */
struct PciBus {
    PciDevice *fn[256];          /* by devfn; NULL: empty */
    PciDevice *bridge;           /* NULL: the root bus */
};

/* Where a machine placed a function (DeviceClass.pci_function). */
typedef struct PciPlacement {
    uint8_t devfn;
    unsigned intx_gsi;           /* INTA's GSI after the bridges' swizzle */
} PciPlacement;

/* Plugs d at devfn of b (false if taken); its BARs decode as the bridges above allow. */
bool pci_bus_plug(PciBus *b, uint8_t devfn, PciDevice *d);
void pci_bus_unplug(PciBus *b, uint8_t devfn);
/*
 * The bus numbered `number` at or below b (a bridge's bus by its
 * secondary register; deeper ones through the bridges whose
 * [secondary, subordinate] range holds the number), or NULL.
 */
PciBus *pci_bus_find(PciBus *b, uint8_t number, unsigned depth);
/*
 * QEMU's firmware path of a plugged function below the root bus, bridges
 * first: "/pci-bridge@3/scsi@0", "/ethernet@5,1" (pci-fw-path.c); the
 * host bridge's part is the machine's. NULL when not plugged.
 */
char *pci_fw_path(const PciDevice *d);
/*
 * The lowest and highest byte of the memory BARs placed (non-zero, decoding
 * or not) on b and the buses below its bridges: the 64-bit ones (is64) or
 * the 32-bit ones. False when there are none (pci-fw-path.c).
 */
bool pci_bus_mem_span(const PciBus *b, bool is64, uint64_t *lo, uint64_t *hi);
/* A bridge's bus number as the guest set it (0 for the root bus). */
uint8_t pci_bus_number(const PciBus *b);

/*
 * A type 1 function (PCI-to-PCI bridge, class 0x0604): bus numbers,
 * 16-bit I/O, 32-bit memory and 64-bit prefetchable windows and the
 * bridge control register writable; `secondary` (owned by the caller)
 * becomes its bus. pcie: 4 KiB space.
 */
void pci_bridge_init(PciDevice *d, PciBus *secondary, uint16_t vendor, uint16_t device,
                     bool pcie);

/*
 * A type 0 function: IDs, class (base << 16 | sub << 8 | prog-if),
 * revision; the command register's I/O, memory, bus-master, SERR and
 * INTx-disable bits writable; interrupt line writable. pcie: 4 KiB space.
 */
void pci_device_init(PciDevice *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint8_t revision, bool pcie);
void pci_set_subsystem(PciDevice *d, uint16_t vendor, uint16_t id);
/* Interrupt pin 1..4 (INTA..INTD), 0 for none. */
void pci_set_interrupt_pin(PciDevice *d, uint8_t pin);
/*
 * BAR n of `size` bytes (a power of two; I/O at least 4, memory at least
 * 16). A 64-bit BAR also takes n + 1. Before the guest sees the function.
 */
void pci_register_bar(PciDevice *d, int n, uint64_t size, uint8_t flags);
/*
 * Appends a capability of `len` bytes (header included) to the list and
 * returns its offset, dword aligned; 0 if the standard space is full.
 * Its body starts read-only: the caller opens bits with pci_set_wmask.
 */
uint8_t pci_add_capability(PciDevice *d, uint8_t id, uint8_t len);
/* The same for PCIe extended capabilities (from 0x100); 0 if it does not fit. */
uint16_t pci_add_ext_capability(PciDevice *d, uint16_t id, uint8_t version, uint16_t len);
/* Makes `len` bytes at `off` guest-writable under mask bytes `mask` (little-endian). */
void pci_set_wmask(PciDevice *d, uint32_t off, uint32_t mask, unsigned len);
void pci_set_w1cmask(PciDevice *d, uint32_t off, uint32_t mask, unsigned len);

/*
 * Guest accesses of 1, 2 or 4 bytes, naturally aligned. Out of the space
 * (e.g. above 255 on a conventional function) reads as 0 and writes are
 * dropped, as the spec asks of a function's reserved registers.
 */
uint32_t pci_config_read(PciDevice *d, uint32_t addr, unsigned len);
void pci_config_write(PciDevice *d, uint32_t addr, uint32_t val, unsigned len);

/* Helpers for device code (no masks applied). */
uint16_t pci_get_word(const PciDevice *d, uint32_t off);
uint32_t pci_get_long(const PciDevice *d, uint32_t off);
void pci_set_word(PciDevice *d, uint32_t off, uint16_t v);
void pci_set_long(PciDevice *d, uint32_t off, uint32_t v);

/*
 * Snapshot section of a function: its config space (the masks and BAR
 * sizes are the device's, rebuilt at realize). Loading re-decodes the BARs
 * through bar_map, so the owner's regions follow the saved addresses.
 */
typedef struct VMStateDescription VMStateDescription;
extern const VMStateDescription vmstate_pci_device;

/* ---- how a host bridge addresses functions ---- */

/* bus, device (0..31) and function (0..7) as one routing id: bus << 8 | dev << 3 | fn. */
#define PCI_DEVFN(dev, fn)     ((uint8_t)(((dev) & 0x1f) << 3 | ((fn) & 7)))

/*
 * Port 0xCF8's address (bit 31 enable, bus 23:16, devfn 15:8, dword
 * register 7:2) plus the byte offset of the CFC access (0..3): false if
 * the enable bit is clear. PCIe's extended registers come only through ECAM.
 */
bool pci_cf8_decode(uint32_t cf8, unsigned cfc_offset, uint8_t *bus, uint8_t *devfn,
                    uint16_t *reg);
/* ECAM (PCIe 7.2.2): offset into the window -> bus 27:20, devfn 19:12, register 11:0. */
void pci_ecam_decode(uint64_t offset, uint8_t *bus, uint8_t *devfn, uint16_t *reg);

#endif
