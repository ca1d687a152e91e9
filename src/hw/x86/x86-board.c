/*
 * The x86 board pieces microvm and q35 share (x86-board.h).
 */
#include <string.h>

#include "hw/x86/x86-board.h"
#include "accel/accel.h"
#include "cpus.h"
#include "hw/bootorder.h"
#include "hw/char/serial.h"
#include "hw/nvram/fw_cfg.h"
#include "hw/rtc/mc146818rtc.h"
#include "hw/x86/loader.h"
#include "util/log.h"
#include "util/strutil.h"

static char *build_cmdline(const StratusConfig *cfg, const char *auto_params)
{
    GString *s = g_string_new(cfg->append ? cfg->append : "");

    if (auto_params && *auto_params) {
        if (s->len) {
            g_string_append_c(s, ' ');
        }
        g_string_append(s, auto_params);
    }
    return g_string_free(s, FALSE);
}

static bool load_kernel(Machine *m, X86Board *s, GError **err)
{
    X86BootConfig bc = {
        .kernel = m->cfg->kernel,
        .initrd = m->cfg->initrd,
        .cmdline = s->cmdline,
        .ncpus = m->cfg->smp.cpus,
        .ioapic_addr = X86_IOAPIC_ADDR,
        .acpi_rsdp_addr = s->acpi_tables ? s->acpi_base : 0,
    };

    return x86_load_linux(&m->ram, &bc, &s->boot, err);
}

/* There is no firmware: the tables go straight into RAM, again on each reset. */
static bool write_acpi(Machine *m, X86Board *s, GError **err)
{
    if (s->acpi_tables &&
        !guest_ram_write(&m->ram, s->acpi_base, s->acpi_tables->data, s->acpi_tables->len)) {
        set_error(err, "guest RAM does not cover the ACPI tables at 0x%" G_GINT64_MODIFIER "x",
                  s->acpi_base);
        return false;
    }
    return true;
}

bool x86_board_set_acpi(X86Board *b, GByteArray *tables, uint64_t base, size_t room,
                        GError **err)
{
    if (tables->len > room) {
        set_error(err, "the ACPI tables need %u bytes, more than the %zu reserved at 0x%"
                  G_GINT64_MODIFIER "x", tables->len, room, base);
        g_byte_array_free(tables, TRUE);
        return false;
    }
    if (b->acpi_tables) {
        g_byte_array_free(b->acpi_tables, TRUE);
    }
    b->acpi_tables = tables;
    b->acpi_base = base;
    return true;
}

bool x86_board_acpi_enabled(const Machine *m, bool dflt)
{
    FeatureSwitch f = m->cfg->machine_acpi;

    return f == FEATURE_ON || (f == FEATURE_AUTO && dflt);
}

/* boot NULL: every vCPU as at power-on (the BSP at the reset vector). */
static bool reset_vcpus(Machine *m, const X86BootState *boot, GError **err)
{
    for (guint i = 0; i < m->vcpus->len; i++) {
        if (!m->accel_ops->vcpu_reset(g_ptr_array_index(m->vcpus, i), boot, err)) {
            return false;
        }
    }
    return true;
}

/* fw_cfg "bootorder" from the devices there are now: at start and at each reset, as QEMU. */
static void update_bootorder(Machine *m, X86Board *s)
{
    g_autoptr(GError) err = NULL;
    GByteArray *b;

    if (!s->fw_cfg) {
        return;
    }
    b = bootorder_build(m);
    if (!fw_cfg_modify_file(s->fw_cfg, "bootorder", b->data, b->len, &err)) {
        log_error("%s", err->message);
    }
    g_byte_array_free(b, TRUE);
}

/*
 * system_reset, after every device's reset: the guest may have overwritten
 * its kernel, so load it again (as a reboot through firmware would) and
 * restart every vCPU at the entry.
 */
void x86_board_reset(Machine *m, X86Board *s)
{
    g_autoptr(GError) err = NULL;

    update_bootorder(m, s);
    s->acpi_rebuilt = false;
    if (s->firmware) {
        /* The firmware starts again from the reset vector and finds its own way. */
        if (!x86_firmware_reset(m, s, &err) || !reset_vcpus(m, NULL, &err)) {
            log_error("system reset failed: %s", err->message);
            machine_request_shutdown(m, SHUTDOWN_INTERNAL_ERROR);
        }
        return;
    }
    if (!s->booted) {
        return;
    }
    if (!write_acpi(m, s, &err) || !load_kernel(m, s, &err) || !reset_vcpus(m, &s->boot, &err)) {
        log_error("system reset failed: %s", err->message);
        machine_request_shutdown(m, SHUTDOWN_INTERNAL_ERROR);
    }
}

Device *x86_board_device(Machine *m, const char *driver, const DevicePropValue *props,
                         unsigned n, GError **err)
{
    DeviceCreateArgs a = { .driver = driver, .props = props, .n_props = n };

    return device_create(m, &a, err);
}

/*
 * COM1 (when -serial names a chardev) and the PM block. The PM block owns
 * the boot-time port 0x3FF unless COM1 covers it (its scratch register
 * forwards the marker instead).
 */
static bool create_serial_and_pm(Machine *m, X86Board *b, GError **err)
{
    const char *serial_id = m->cfg->serial_chardev;

    if (serial_id) {
        DevicePropValue p[] = { { .name = "chardev", .text = serial_id } };
        if (!x86_board_device(m, "isa-serial", p, G_N_ELEMENTS(p), err)) {
            return false;
        }
    }
    DevicePropValue pm[] = {
        { .name = "boot-time-port", .text = serial_id ? "off" : "on" },
        { .name = "ged", .text = b->pm_ged ? "on" : "off" },
    };
    b->pm = x86_board_device(m, "microvm-pm", pm, G_N_ELEMENTS(pm), err);
    return b->pm != NULL;
}

/*
 * QEMU's microvm layout for the legacy devices (docs/legacy-devices.md).
 * auto is on under qtest, where QEMU's own tests expect them, and off
 * otherwise: StratoVirt's microvm has neither, and the guests it documents
 * must see the same machine.
 */
static bool feature_on(const Machine *m, FeatureSwitch f, bool also)
{
    return f == FEATURE_ON || (f == FEATURE_AUTO && (!strcmp(m->cfg->accel, "qtest") || also));
}

static void set_cmos16(Device *rtc, uint8_t index, uint64_t v)
{
    v = MIN(v, 0xffff);
    mc146818rtc_set_cmos(rtc, index, (uint8_t)v);
    mc146818rtc_set_cmos(rtc, index + 1, (uint8_t)(v >> 8));
}

/* The memory sizes PC firmware reads from CMOS (QEMU's microvm sets the same). */
static void rtc_memory_sizes(Machine *m, X86Board *b, Device *rtc)
{
    uint64_t low = MIN(m->cfg->mem_size, b->low_ram_limit);
    uint64_t high = m->cfg->mem_size - low;

    set_cmos16(rtc, 0x15, MIN(low >> 10, 640));
    set_cmos16(rtc, 0x17, low > (1 << 20) ? (low - (1 << 20)) >> 10 : 0);
    set_cmos16(rtc, 0x30, low > (1 << 20) ? (low - (1 << 20)) >> 10 : 0);
    set_cmos16(rtc, 0x34, low > (16 << 20) ? (low - (16 << 20)) >> 16 : 0);
    mc146818rtc_set_cmos(rtc, 0x5b, (uint8_t)(high >> 16));
    mc146818rtc_set_cmos(rtc, 0x5c, (uint8_t)(high >> 24));
    mc146818rtc_set_cmos(rtc, 0x5d, (uint8_t)(high >> 32));
    mc146818rtc_set_cmos(rtc, 0x5f, (uint8_t)(m->cfg->smp.cpus - 1));
}

/* "etc/e820": the RAM ranges, {le64 addr, le64 len, le32 type 1} each. */
static bool fw_cfg_e820(Machine *m, X86Board *b, Device *fw, GError **err)
{
    uint64_t low = MIN(m->cfg->mem_size, b->low_ram_limit);
    uint64_t high = m->cfg->mem_size - low;
    uint8_t e[2][20] = { { 0 } };
    unsigned n = 0;
    uint64_t ranges[2][2] = { { 0, low }, { 1ULL << 32, high } };

    for (unsigned i = 0; i < 2; i++) {
        uint64_t a = GUINT64_TO_LE(ranges[i][0]), l = GUINT64_TO_LE(ranges[i][1]);
        uint32_t t = GUINT32_TO_LE(1);
        if (!ranges[i][1]) {
            continue;
        }
        memcpy(e[n], &a, 8);
        memcpy(e[n] + 8, &l, 8);
        memcpy(e[n] + 16, &t, 4);
        n++;
    }
    return fw_cfg_add_file(fw, "etc/e820", e, n * 20, err);
}

static bool create_legacy_devices(Machine *m, X86Board *s, GError **err)
{
    bool user_files = m->cfg->fw_cfg_items && m->cfg->fw_cfg_items->len;

    if (feature_on(m, m->cfg->machine_rtc, s->rtc_by_default)) {
        DeviceCreateArgs a = { .driver = "mc146818rtc" };
        s->rtc = device_create(m, &a, err);
        if (!s->rtc) {
            return false;
        }
        rtc_memory_sizes(m, s, s->rtc);
    }
    if (feature_on(m, m->cfg->machine_fw_cfg, user_files || s->firmware)) {
        DeviceCreateArgs a = { .driver = "fw_cfg_io" };
        s->fw_cfg = device_create(m, &a, err);
        /*
         * QEMU's x86 boards load -kernel through an option ROM at bootindex 0,
         * named in bootorder, so a device cannot take 0 there. Stratus has no
         * such ROM, but keeps QEMU's bytes and refusal wherever a firmware could
         * read them (fw_cfg on; without it, StratoVirt's microvm takes 0).
         */
        if (s->fw_cfg && m->cfg->kernel) {
            m->boot_rom = fw_cfg_dma_enabled(s->fw_cfg) ? "/rom@genroms/linuxboot_dma.bin"
                                                        : "/rom@genroms/linuxboot.bin";
        }
        /* "bootorder" is filled in once the -device devices exist (x86_board_boot). */
        return s->fw_cfg && fw_cfg_e820(m, s, s->fw_cfg, err) &&
               fw_cfg_add_file(s->fw_cfg, "bootorder", NULL, 0, err);
    }
    if (user_files) {
        set_error(err, "-fw_cfg: fw_cfg device not available (-machine fw_cfg=off)");
        return false;
    }
    return true;
}

bool x86_board_boot(Machine *m, X86Board *s, const char *auto_params, GError **err)
{
    bool restoring = m->cfg->incoming != NULL || m->cfg->incoming_uri != NULL;

    s->cmdline = build_cmdline(m->cfg, auto_params);
    update_bootorder(m, s);
    /* Firmware without -kernel gets no command line, as from QEMU's pc boards. */
    if (s->fw_cfg && (m->cfg->kernel || !s->firmware)) {
        uint32_t size = GUINT32_TO_LE((uint32_t)strlen(s->cmdline) + 1);
        /* QEMU's pair: the size with the NUL, then the NUL-terminated text. */
        fw_cfg_set_bytes(s->fw_cfg, FW_CFG_CMDLINE_SIZE, &size, sizeof(size));
        fw_cfg_set_bytes(s->fw_cfg, FW_CFG_CMDLINE_DATA, s->cmdline, strlen(s->cmdline) + 1);
    }
    /*
     * A restored machine starts where the snapshot left it (RAM and vCPU
     * state come from there); the kernel is only needed for a later reset.
     */
    if (!s->firmware && !restoring && !write_acpi(m, s, err)) {
        return false;
    }
    if (s->firmware && ((m->cfg->kernel && !x86_firmware_kernel(m, s, err)) ||
                        !x86_firmware_acpi(m, s, err))) {
        return false;
    }
    if (m->cfg->kernel && !s->firmware) {
        if (!restoring && !load_kernel(m, s, err)) {
            return false;
        }
        s->booted = true;
    }
    if (!cpus_create(m, err)) {
        return false;
    }
    if (s->firmware) {
        return restoring || (x86_firmware_reset(m, s, err) && reset_vcpus(m, NULL, err));
    }
    return !s->booted || restoring || reset_vcpus(m, &s->boot, err);
}

bool x86_board_init_ram(Machine *m, X86Board *b, GError **err)
{
    const StratusConfig *cfg = m->cfg;

    return guest_ram_init(&m->ram, cfg->mem_size, b->low_ram_limit, cfg->mem_share,
                          cfg->dump_guest_core, err) &&
           m->accel_ops->map_ram(m, err);
}

bool x86_board_create_devices(Machine *m, X86Board *b, GError **err)
{
    return create_serial_and_pm(m, b, err) && create_legacy_devices(m, b, err);
}

void x86_board_cleanup(X86Board *b)
{
    g_clear_pointer(&b->cmdline, g_free);
    if (b->acpi_tables) {
        g_byte_array_free(b->acpi_tables, TRUE);
        b->acpi_tables = NULL;
    }
    if (b->acpi_loader) {
        g_byte_array_free(b->acpi_loader, TRUE);
        b->acpi_loader = NULL;
    }
}
