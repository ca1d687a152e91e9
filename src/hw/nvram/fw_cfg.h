/*
 * QEMU's firmware configuration device, I/O port flavour ("fw_cfg_io",
 * src/hw/nvram/fw_cfg.c, docs/legacy-devices.md): the keys and layout a
 * board and the tests need.
 */
#ifndef STRATUS_FW_CFG_H
#define STRATUS_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "hw/device.h"

#define FW_CFG_SIGNATURE     0x00
#define FW_CFG_ID            0x01
#define FW_CFG_UUID          0x02
#define FW_CFG_RAM_SIZE      0x03
#define FW_CFG_NOGRAPHIC     0x04
#define FW_CFG_NB_CPUS       0x05
#define FW_CFG_MACHINE_ID    0x06
#define FW_CFG_NUMA          0x0d
#define FW_CFG_BOOT_MENU     0x0e
#define FW_CFG_MAX_CPUS      0x0f
#define FW_CFG_CMDLINE_SIZE  0x14
#define FW_CFG_CMDLINE_DATA  0x15
#define FW_CFG_FILE_DIR      0x19
#define FW_CFG_FILE_FIRST    0x20
#define FW_CFG_FILE_SLOTS    0x20        /* QEMU's x-file-slots default */
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL    0x8000
#define FW_CFG_IRQ0_OVERRIDE (FW_CFG_ARCH_LOCAL + 2)
#define FW_CFG_E820_TABLE    (FW_CFG_ARCH_LOCAL + 3)

#define FW_CFG_MAX_FILE_PATH 56          /* a name and its NUL */
#define FW_CFG_VERSION       0x01
#define FW_CFG_VERSION_DMA   0x02

#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SKIP   0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE  0x10
/* What the DMA address register reads: "QEMU CFG" big-endian. */
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL

/* A board's item (copied). Keys below FW_CFG_FILE_FIRST or arch-local. */
void fw_cfg_set_bytes(Device *d, uint16_t key, const void *data, size_t len);
/*
 * A named file in the directory (copied). Refuses a name too long, a
 * duplicate ("duplicate fw_cfg file name: NAME", QEMU's text) or a full
 * directory.
 */
bool fw_cfg_add_file(Device *d, const char *name, const void *data, size_t len,
                     GError **err);
/*
 * Replaces an existing file's contents (copied; its select key stays), as
 * QEMU's fw_cfg_modify_file() does for "bootorder" at each reset. A guest in
 * the middle of reading it sees the new bytes from its offset on.
 */
bool fw_cfg_modify_file(Device *d, const char *name, const void *data, size_t len,
                        GError **err);

/*
 * fn(opaque) runs whenever the guest selects the file (port or DMA), before
 * it reads: QEMU's select callback, with which a board refreshes contents
 * (fw_cfg_modify_file, same size) that depend on what the firmware did.
 */
typedef void FwCfgSelectFn(void *opaque);
bool fw_cfg_set_select_cb(Device *d, const char *name, FwCfgSelectFn *fn, void *opaque);

/* Whether the DMA interface is on (property dma_enabled; QEMU's option ROM name follows it). */
bool fw_cfg_dma_enabled(Device *d);

#endif
