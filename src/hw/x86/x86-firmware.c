/*
 * Firmware boot on the x86 boards (docs/q35.md "Firmware boot"): the
 * -drive if=pflash images as cfi.pflash01 devices ending at 4 GiB (unit 0
 * the code on top, unit 1 the variable store right below, as QEMU's pc
 * machines map them), and the BIOS-area copy of the code's last 128 KiB at
 * 0xE0000-0xFFFFF, which QEMU's isa-bios alias shows.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "hw/x86/x86-board.h"
#include "hw/block/pflash.h"
#include "hw/nvram/fw_cfg.h"
#include "util/log.h"
#include "util/strutil.h"

/* QEMU's fw_cfg keys for -kernel / -initrd through firmware (docs/specs/fw_cfg.rst). */
#define FW_CFG_KERNEL_SIZE  0x08
#define FW_CFG_INITRD_SIZE  0x0b
#define FW_CFG_KERNEL_DATA  0x11
#define FW_CFG_INITRD_DATA  0x12
#define FW_CFG_SETUP_SIZE   0x17
#define FW_CFG_SETUP_DATA   0x18
#define BZ_SETUP_SECTS      0x1f1
#define BZ_MAGIC            0x202

/* QEMU's etc/table-loader commands (128 bytes each), as OVMF and SeaBIOS run them. */
#define LOADER_ENTRY        128
#define LOADER_ALLOCATE     1
#define LOADER_ADD_POINTER  2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ZONE_HIGH    1
#define LOADER_ZONE_FSEG    2
#define LOADER_FILE         56
#define ACPI_TABLES_FILE    "etc/acpi/tables"
#define ACPI_RSDP_FILE      "etc/acpi/rsdp"
#define RSDP_LEN            36

#define FOUR_GIB        (1ULL << 32)
#define BIOS_ALIAS_END  0x100000ULL
#define BIOS_ALIAS_MAX  (128u << 10)

typedef struct PflashDrive {
    const char *file;
    bool readonly;
    uint64_t size;
} PflashDrive;

/* unit= as given, else the next free one in command-line order (QEMU's rule). */
static bool collect(Machine *m, PflashDrive d[X86_PFLASH_UNITS], GError **err)
{
    GPtrArray *drives = m->cfg->drives;
    unsigned next = 0;

    for (guint i = 0; drives && i < drives->len; i++) {
        const OptList *l = g_ptr_array_index(drives, i);
        const char *u = optlist_get(l, "unit"), *ro = optlist_get(l, "readonly");
        guint64 unit = next;

        if (g_strcmp0(optlist_get(l, "if"), "pflash") != 0) {
            continue;
        }
        if (u && !g_ascii_string_to_unsigned(u, 10, 0, G_MAXUINT32, &unit, NULL)) {
            set_error(err, "-drive if=pflash: invalid unit '%s'", u);
            return false;
        }
        if (unit >= X86_PFLASH_UNITS) {
            set_error(err, "-drive if=pflash,unit=%" G_GUINT64_FORMAT ": only units 0 (the "
                      "firmware code) and 1 (its variable store) exist", unit);
            return false;
        }
        if (d[unit].file) {
            set_error(err, "-drive if=pflash,unit=%" G_GUINT64_FORMAT ": unit already in use",
                      unit);
            return false;
        }
        d[unit].file = optlist_get(l, "file");
        d[unit].readonly = ro && (!strcmp(ro, "on") || !strcmp(ro, "true") ||
                                  !strcmp(ro, "yes"));
        while (next < X86_PFLASH_UNITS && d[next].file) {
            next++;
        }
    }
    if (!d[0].file && d[1].file) {
        set_error(err, "-drive if=pflash,unit=1: unit 0 (the firmware code) is missing");
        return false;
    }
    return true;
}

/* The sizes decide the addresses, so they are read before any device exists. */
static bool sizes(PflashDrive d[X86_PFLASH_UNITS], GError **err)
{
    uint64_t total = 0;

    for (unsigned u = 0; u < X86_PFLASH_UNITS && d[u].file; u++) {
        struct stat st;
        if (stat(d[u].file, &st) < 0) {
            set_error(err, "-drive if=pflash,unit=%u: Could not open '%s': %s", u, d[u].file,
                      g_strerror(errno));
            return false;
        }
        d[u].size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        total += d[u].size;
    }
    if (total > PFLASH_MAX_SIZE) {
        set_error(err, "-drive if=pflash: combined size of system firmware exceeds %u bytes",
                  PFLASH_MAX_SIZE);
        return false;
    }
    return true;
}

bool x86_firmware_create(Machine *m, X86Board *b, GError **err)
{
    PflashDrive d[X86_PFLASH_UNITS] = { { 0 } };
    uint64_t top = FOUR_GIB;

    if (!collect(m, d, err)) {
        return false;
    }
    if (!d[0].file) {
        return true;             /* direct boot (or none under qtest) */
    }
    if (!strcmp(m->cfg->accel, "kvm")) {
        set_error(err, "-drive if=pflash: firmware boot needs -accel emu (tcg) for now; "
                  "KVM would need read-only memory slots");
        return false;
    }
    if (!sizes(d, err)) {
        return false;
    }
    for (unsigned u = 0; u < X86_PFLASH_UNITS && d[u].file; u++) {
        g_autofree char *base = g_strdup_printf("%" G_GUINT64_FORMAT, top - d[u].size);
        g_autofree char *unit = g_strdup_printf("%u", u);
        DevicePropValue p[] = {
            { .name = "file", .text = d[u].file },
            { .name = "readonly", .text = d[u].readonly ? "on" : "off" },
            { .name = "base", .text = base },
            { .name = "unit", .text = unit },
        };
        b->pflash[u] = x86_board_device(m, "cfi.pflash01", p, G_N_ELEMENTS(p), err);
        if (!b->pflash[u]) {
            return false;
        }
        top -= d[u].size;
    }
    b->firmware = true;
    return true;
}

bool x86_firmware_reset(Machine *m, X86Board *b, GError **err)
{
    uint64_t size;
    const uint8_t *image = pflash_image(b->pflash[0], &size);
    uint64_t len = MIN(size, BIOS_ALIAS_MAX);

    if (!guest_ram_write(&m->ram, BIOS_ALIAS_END - len, image + size - len, len)) {
        set_error(err, "guest RAM does not cover the BIOS area for the firmware");
        return false;
    }
    return true;
}

static void set_blob(Device *fw, uint16_t size_key, uint16_t data_key, const void *p, size_t n)
{
    uint32_t le = GUINT32_TO_LE((uint32_t)n);

    fw_cfg_set_bytes(fw, size_key, &le, sizeof(le));
    fw_cfg_set_bytes(fw, data_key, p, n);
}

/*
 * -kernel / -initrd through the firmware, as QEMU hands them to OVMF: the
 * bzImage split into its setup (boot sector and real-mode part) and the
 * rest, and the initrd, as fw_cfg items; OVMF's kernel loader joins them
 * and starts the kernel's EFI stub. The command line is x86_board_boot's.
 */
bool x86_firmware_kernel(Machine *m, X86Board *b, GError **err)
{
    g_autofree char *k = NULL, *initrd = NULL;
    gsize klen, ilen = 0;
    g_autoptr(GError) e = NULL;
    size_t setup;

    if (!g_file_get_contents(m->cfg->kernel, &k, &klen, &e)) {
        set_error(err, "-kernel: could not load kernel '%s': %s", m->cfg->kernel, e->message);
        return false;
    }
    if (klen < BZ_MAGIC + 4 || memcmp(k + BZ_MAGIC, "HdrS", 4) != 0) {
        set_error(err, "-kernel: '%s' is not a bzImage; booting through the firmware "
                  "needs one", m->cfg->kernel);
        return false;
    }
    setup = ((size_t)((uint8_t)k[BZ_SETUP_SECTS] ? (uint8_t)k[BZ_SETUP_SECTS] : 4) + 1) * 512;
    if (setup >= klen) {
        set_error(err, "-kernel: '%s' is truncated", m->cfg->kernel);
        return false;
    }
    if (m->cfg->initrd && !g_file_get_contents(m->cfg->initrd, &initrd, &ilen, &e)) {
        set_error(err, "-initrd: could not load initrd '%s': %s", m->cfg->initrd, e->message);
        return false;
    }
    set_blob(b->fw_cfg, FW_CFG_SETUP_SIZE, FW_CFG_SETUP_DATA, k, setup);
    set_blob(b->fw_cfg, FW_CFG_KERNEL_SIZE, FW_CFG_KERNEL_DATA, k + setup, klen - setup);
    if (initrd) {
        set_blob(b->fw_cfg, FW_CFG_INITRD_SIZE, FW_CFG_INITRD_DATA, initrd, ilen);
    }
    return true;
}

/* ---- ACPI through fw_cfg: etc/acpi/rsdp, etc/acpi/tables, etc/table-loader ---- */

typedef struct Loader {
    GByteArray *script;
    uint8_t *tables;             /* the image, pointers rewritten to offsets in it */
    uint8_t *rsdp;               /* its RSDP, the same */
    size_t len;
    uint64_t base;               /* where the image's absolute addresses assumed it */
    bool ok;
} Loader;

static uint8_t *entry(Loader *l, uint32_t cmd)
{
    uint8_t e[LOADER_ENTRY] = { 0 };
    uint32_t le = GUINT32_TO_LE(cmd);

    memcpy(e, &le, 4);
    g_byte_array_append(l->script, e, sizeof(e));
    return l->script->data + l->script->len - LOADER_ENTRY;
}

static void put32(uint8_t *p, uint32_t v)
{
    v = GUINT32_TO_LE(v);
    memcpy(p, &v, 4);
}

static void allocate(Loader *l, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t *e = entry(l, LOADER_ALLOCATE);

    g_strlcpy((char *)e + 4, file, LOADER_FILE);
    put32(e + 4 + LOADER_FILE, align);
    e[8 + LOADER_FILE] = zone;
}

/* The firmware stores the checksum of the range there: the byte must be 0 beforehand. */
static void checksum(Loader *l, const char *file, uint32_t at, uint32_t start, uint32_t len)
{
    uint8_t *e = entry(l, LOADER_ADD_CHECKSUM);

    if (!strcmp(file, ACPI_TABLES_FILE)) {
        l->tables[at] = 0;
    } else {
        l->rsdp[at] = 0;
    }
    g_strlcpy((char *)e + 4, file, LOADER_FILE);
    put32(e + 4 + LOADER_FILE, at);
    put32(e + 8 + LOADER_FILE, start);
    put32(e + 12 + LOADER_FILE, len);
}

/*
 * The `size`-byte pointer at `at` in `file` (data) holds an absolute address
 * in the image: it becomes the offset into etc/acpi/tables, and the loader
 * adds where the firmware put that file. Returns the offset (0: none, bad).
 */
static uint64_t pointer(Loader *l, const char *file, uint8_t *data, uint32_t at, unsigned size)
{
    uint64_t v = 0;
    uint8_t *e;

    memcpy(&v, data + at, size);
    v = GUINT64_FROM_LE(v);
    if (!v) {
        return 0;
    }
    if (v < l->base || v - l->base >= l->len) {
        l->ok = false;
        return 0;
    }
    v = GUINT64_TO_LE(v - l->base);
    memcpy(data + at, &v, size);
    e = entry(l, LOADER_ADD_POINTER);
    g_strlcpy((char *)e + 4, file, LOADER_FILE);
    g_strlcpy((char *)e + 4 + LOADER_FILE, ACPI_TABLES_FILE, LOADER_FILE);
    put32(e + 4 + 2 * LOADER_FILE, at);
    e[8 + 2 * LOADER_FILE] = (uint8_t)size;
    return GUINT64_FROM_LE(v);
}

static uint32_t table_len(Loader *l, uint64_t off)
{
    uint32_t n = 0;

    if (off + 8 <= l->len) {
        memcpy(&n, l->tables + off + 4, 4);
        n = GUINT32_FROM_LE(n);
    }
    if (off + 36 > l->len || n < 36 || n > l->len - off) {
        l->ok = false;
        return 0;
    }
    return n;
}

/* The FADT's FACS and DSDT pointers, 32- and 64-bit; the FACS has no checksum. */
static void fadt(Loader *l, uint64_t off, uint32_t len)
{
    static const struct { uint32_t at; unsigned size; } f[] = {
        { 36, 4 }, { 40, 4 }, { 132, 8 }, { 140, 8 },
    };

    bool dsdt_done = false;

    for (unsigned i = 0; i < G_N_ELEMENTS(f); i++) {
        if (f[i].at + f[i].size <= len) {
            uint64_t t = pointer(l, ACPI_TABLES_FILE, l->tables, (uint32_t)off + f[i].at,
                                 f[i].size);
            uint32_t tl = t ? table_len(l, t) : 0;
            if (tl && !memcmp(l->tables + t, "DSDT", 4) && !dsdt_done) {
                dsdt_done = true;
                checksum(l, ACPI_TABLES_FILE, (uint32_t)t + 9, (uint32_t)t, tl);
            }
        }
    }
}

/* XSDT entries, then each table's own pointers and its checksum (after them). */
static void xsdt(Loader *l, uint64_t off)
{
    uint32_t len = table_len(l, off);

    for (uint32_t at = 36; l->ok && at + 8 <= len; at += 8) {
        uint64_t t = pointer(l, ACPI_TABLES_FILE, l->tables, (uint32_t)off + at, 8);
        uint32_t tl = t ? table_len(l, t) : 0;
        if (!tl) {
            continue;
        }
        if (!memcmp(l->tables + t, "FACP", 4)) {
            fadt(l, t, tl);
        }
        checksum(l, ACPI_TABLES_FILE, (uint32_t)t + 9, (uint32_t)t, tl);
    }
    if (len) {
        checksum(l, ACPI_TABLES_FILE, (uint32_t)off + 9, (uint32_t)off, len);
    }
}

/*
 * The machine's ACPI tables for the firmware, as QEMU gives them: the image
 * (its RSDP copy at the start is left unused) as etc/acpi/tables, the RSDP
 * as etc/acpi/rsdp, and etc/table-loader telling the firmware to place both,
 * patch the pointers and fix the checksums. OVMF installs the tables it
 * finds through the pointers. The machine's acpi_rebuild hook gives them
 * again at the firmware's first read after each reset (acpi_first_read),
 * once it has placed the PCI BARs.
 */
/*
 * etc/system-states, in QEMU's format: one byte per sleep state S0..S5, bit 7
 * "available" and bits 0-2 the SLP_TYP value. OVMF enables its S3 support
 * (boot script, lock box) only when S3 is offered. Stratus implements S5 alone
 * (the DSDT has only \_S5), so it gives what QEMU's q35 gives with
 * ICH9-LPC.disable_s3=1 and disable_s4=1: S3 and S4 listed but unavailable.
 */
static bool system_states(X86Board *b, GError **err)
{
    static const uint8_t states[6] = { 0x80, 0, 0, 0x01, 0x02, 0x80 };

    return fw_cfg_add_file(b->fw_cfg, "etc/system-states", states, sizeof(states), err);
}

/*
 * The firmware's view of `tables` (an image assuming b->acpi_base): l gets
 * the image with its pointers turned into offsets and the loader script,
 * *rsdp the RSDP. False (err set) if a pointer leaves the image.
 */
static bool loader_build(X86Board *b, const GByteArray *tables, Loader *l, uint8_t **rsdp,
                         GError **err)
{
    uint64_t x;

    *l = (Loader){ .script = g_byte_array_new(), .base = b->acpi_base, .ok = true };
    l->len = tables->len;
    l->tables = g_memdup2(tables->data, l->len);
    *rsdp = g_memdup2(l->tables, RSDP_LEN);
    l->rsdp = *rsdp;
    allocate(l, ACPI_RSDP_FILE, 16, LOADER_ZONE_FSEG);
    allocate(l, ACPI_TABLES_FILE, 64, LOADER_ZONE_HIGH);
    x = pointer(l, ACPI_RSDP_FILE, *rsdp, 24, 8);          /* XsdtAddress */
    if (x) {
        xsdt(l, x);
    }
    checksum(l, ACPI_RSDP_FILE, 8, 0, 20);
    checksum(l, ACPI_RSDP_FILE, 32, 0, RSDP_LEN);
    if (!l->ok || !x) {
        set_error(err, "ACPI tables: a pointer leaves the image at 0x%" G_GINT64_MODIFIER "x",
                  b->acpi_base);
        return false;
    }
    return true;
}

static void loader_free(Loader *l, uint8_t *rsdp)
{
    g_free(l->tables);
    g_byte_array_free(l->script, TRUE);
    g_free(rsdp);
}

/*
 * The firmware selected an ACPI file for the first time since the reset:
 * the machine's tables again from the PCI state now, given in place of the
 * start ones when they keep the same layout (same sizes, same loader
 * script: the firmware has read the directory and may have read the
 * script already). Else the start tables stay, with a warning.
 */
static void acpi_first_read(void *opaque)
{
    X86Board *b = opaque;
    g_autoptr(GError) err = NULL;
    GByteArray *tables;
    uint8_t *rsdp = NULL;
    Loader l;

    if (b->acpi_rebuilt || !b->acpi_rebuild) {
        return;
    }
    b->acpi_rebuilt = true;
    tables = b->acpi_rebuild(b->machine);
    if (!tables) {
        return;
    }
    if (!loader_build(b, tables, &l, &rsdp, &err) || tables->len != b->acpi_tables->len ||
        l.script->len != b->acpi_loader->len ||
        memcmp(l.script->data, b->acpi_loader->data, l.script->len) != 0) {
        log_warn("ACPI tables rebuilt for the firmware changed layout (%s); it gets the "
                 "start ones", err ? err->message : "sizes differ");
    } else {
        fw_cfg_modify_file(b->fw_cfg, ACPI_TABLES_FILE, l.tables, l.len, NULL);
        fw_cfg_modify_file(b->fw_cfg, ACPI_RSDP_FILE, rsdp, RSDP_LEN, NULL);
    }
    loader_free(&l, rsdp);
    g_byte_array_free(tables, TRUE);
}

bool x86_firmware_acpi(Machine *m, X86Board *b, GError **err)
{
    static const char *const files[] = { ACPI_TABLES_FILE, ACPI_RSDP_FILE, "etc/table-loader" };
    uint8_t *rsdp = NULL;
    Loader l;
    bool ok;

    if (!b->acpi_tables || !b->fw_cfg || b->acpi_tables->len < RSDP_LEN) {
        return true;
    }
    ok = loader_build(b, b->acpi_tables, &l, &rsdp, err) &&
         fw_cfg_add_file(b->fw_cfg, ACPI_TABLES_FILE, l.tables, l.len, err) &&
         fw_cfg_add_file(b->fw_cfg, ACPI_RSDP_FILE, rsdp, RSDP_LEN, err) &&
         fw_cfg_add_file(b->fw_cfg, "etc/table-loader", l.script->data, l.script->len, err) &&
         system_states(b, err);
    if (ok) {
        b->machine = m;
        b->acpi_loader = g_byte_array_new();
        g_byte_array_append(b->acpi_loader, l.script->data, l.script->len);
        for (unsigned i = 0; i < G_N_ELEMENTS(files); i++) {
            fw_cfg_set_select_cb(b->fw_cfg, files[i], acpi_first_read, b);
        }
    }
    loader_free(&l, rsdp);
    return ok;
}
