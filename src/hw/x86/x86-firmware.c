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
#include "util/strutil.h"

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
