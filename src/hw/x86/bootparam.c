/*
 * The Linux zero page (struct boot_params) and the e820 memory map.
 *
 * Offsets follow Documentation/arch/x86/zero-page.rst and boot.rst. Every
 * field is written byte-wise in little-endian order so the code does not
 * depend on host structure layout.
 */
#include <string.h>

#include "hw/x86/loader.h"

/* struct boot_params */
#define ZP_SIZE               0x1000
#define ZP_ACPI_RSDP_ADDR     0x070
#define ZP_EXT_RAMDISK_IMAGE  0x0c0
#define ZP_EXT_RAMDISK_SIZE   0x0c4
#define ZP_EXT_CMD_LINE_PTR   0x0c8
#define ZP_E820_ENTRIES       0x1e8
#define ZP_SETUP_HDR          0x1f1
#define ZP_SETUP_HDR_END      0x290   /* struct setup_header + padding */
#define ZP_E820_TABLE         0x2d0

/* struct setup_header, as offsets inside the zero page (= file offsets) */
#define HDR_BOOT_FLAG         0x1fe
#define HDR_MAGIC             0x202
#define HDR_VERSION           0x206
#define HDR_TYPE_OF_LOADER    0x210
#define HDR_RAMDISK_IMAGE     0x218
#define HDR_RAMDISK_SIZE      0x21c
#define HDR_CMD_LINE_PTR      0x228
#define HDR_CMDLINE_SIZE      0x238

#define E820_ENTRY_SIZE       20

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = v & 0xff;
    p[1] = v >> 8;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (v >> (8 * i)) & 0xff;
    }
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (v >> (8 * i)) & 0xff;
    }
}

static uint16_t get_le16(const uint8_t *p)
{
    return p[0] | (p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ---- e820 ---------------------------------------------------------------- */

static size_t e820_add(E820Entry *table, size_t n, size_t max, uint64_t addr,
                       uint64_t size, uint32_t type)
{
    if (size == 0) {
        return n;
    }
    if (n < max) {
        table[n].addr = addr;
        table[n].size = size;
        table[n].type = type;
    }
    return n + 1;
}

/*
 * Low memory as StratoVirt describes it:
 *   [0, 0x9fc00)          RAM
 *   [0x9fc00, 0xa0000)    reserved (EBDA, MP table)
 *   [0xa0000, 0xd0000)    not listed (legacy VGA hole)
 *   [0xd0000, 0x100000)   reserved (BIOS area)
 *   [0x100000, ...)       RAM
 * RAM blocks are clipped around [0x9fc00, 0x100000); the reserved ranges are
 * listed only where RAM backs them (so the boot structures there exist).
 */
size_t x86_build_e820(const GuestRam *ram, E820Entry *table, size_t max)
{
    size_t n = 0;
    guint nblocks = ram && ram->blocks ? ram->blocks->len : 0;

    for (guint i = 0; i < nblocks; i++) {
        const RamBlock *b = &g_array_index(ram->blocks, RamBlock, i);
        uint64_t start = b->gpa;
        uint64_t end = b->gpa + b->size;

        if (b->size == 0) {
            continue;
        }
        /* RAM below the EBDA */
        if (start < BOOT_EBDA_START) {
            n = e820_add(table, n, max, start, MIN(end, BOOT_EBDA_START) - start,
                         E820_RAM);
        }
        /* EBDA */
        if (start < BOOT_VGA_START && end > BOOT_EBDA_START) {
            uint64_t s = MAX(start, BOOT_EBDA_START);
            n = e820_add(table, n, max, s, MIN(end, BOOT_VGA_START) - s,
                         E820_RESERVED);
        }
        /* BIOS area */
        if (start < BOOT_HIGH_MEM_START && end > BOOT_BIOS_START) {
            uint64_t s = MAX(start, BOOT_BIOS_START);
            n = e820_add(table, n, max, s, MIN(end, BOOT_HIGH_MEM_START) - s,
                         E820_RESERVED);
        }
        /* RAM from 1 MiB */
        if (end > BOOT_HIGH_MEM_START) {
            uint64_t s = MAX(start, BOOT_HIGH_MEM_START);
            n = e820_add(table, n, max, s, end - s, E820_RAM);
        }
    }
    return n;
}

/* ---- zero page ----------------------------------------------------------- */

bool x86_build_zero_page(uint8_t *zp, const uint8_t *setup_hdr, size_t hdr_len,
                         KernelFormat fmt, uint64_t cmdline_addr, size_t cmdline_len,
                         uint64_t initrd_addr, uint64_t initrd_size,
                         const E820Entry *e820, size_t n_e820, GError **err)
{
    size_t room = ZP_SETUP_HDR_END - ZP_SETUP_HDR;

    if (n_e820 > E820_MAX_ENTRIES) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "e820 map has %zu entries, the zero page holds at most %d",
                    n_e820, E820_MAX_ENTRIES);
        return false;
    }
    if (cmdline_len >= BOOT_CMDLINE_MAX) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "kernel command line too long (%zu bytes, at most %d)",
                    cmdline_len, BOOT_CMDLINE_MAX - 1);
        return false;
    }
    memset(zp, 0, ZP_SIZE);

    if (fmt == KERNEL_BZIMAGE && setup_hdr && hdr_len > 0) {
        uint16_t version;

        memcpy(zp + ZP_SETUP_HDR, setup_hdr, MIN(hdr_len, room));
        version = get_le16(zp + HDR_VERSION);
        if (version >= 0x206) {
            uint32_t limit = get_le32(zp + HDR_CMDLINE_SIZE);
            if (cmdline_len > limit) {
                g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "kernel command line too long (%zu bytes, the kernel "
                            "accepts at most %u)", cmdline_len, limit);
                return false;
            }
        }
    } else {
        put_le16(zp + HDR_BOOT_FLAG, 0xaa55);
        memcpy(zp + HDR_MAGIC, "HdrS", 4);
    }

    zp[HDR_TYPE_OF_LOADER] = 0xff;

    put_le32(zp + HDR_CMD_LINE_PTR, (uint32_t)cmdline_addr);
    put_le32(zp + ZP_EXT_CMD_LINE_PTR, (uint32_t)(cmdline_addr >> 32));
    /* As StratoVirt: the actual length (the kernel no longer reads it). */
    put_le32(zp + HDR_CMDLINE_SIZE, (uint32_t)cmdline_len);

    put_le32(zp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
    put_le32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
    put_le32(zp + HDR_RAMDISK_SIZE, (uint32_t)initrd_size);
    put_le32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));

    zp[ZP_E820_ENTRIES] = (uint8_t)n_e820;
    for (size_t i = 0; i < n_e820; i++) {
        uint8_t *p = zp + ZP_E820_TABLE + i * E820_ENTRY_SIZE;
        put_le64(p, e820[i].addr);
        put_le64(p + 8, e820[i].size);
        put_le32(p + 16, e820[i].type);
    }
    return true;
}

void x86_zero_page_set_rsdp(uint8_t *zp, uint64_t rsdp_addr)
{
    put_le64(zp + ZP_ACPI_RSDP_ADDR, rsdp_addr);
}
