/*
 * What the two x86 machine classes (microvm, q35) share: COM1 and the PM
 * block as registered devices, the legacy RTC and fw_cfg, direct Linux boot
 * and its replay on system_reset. Each class keeps an X86Board inside its
 * own state and calls these from its init / reset / destroy hooks; only the
 * RAM split below 4 GiB differs between them.
 */
#ifndef STRATUS_X86_BOARD_H
#define STRATUS_X86_BOARD_H

#include "machine.h"
#include "hw/device.h"
#include "accel/x86-boot-state.h"

#define X86_IOAPIC_ADDR 0xFEC00000ULL

typedef struct X86Board {
    uint64_t low_ram_limit;      /* where RAM below 4 GiB ends at most */
    char *cmdline;               /* -append plus the auto-appended parameters */
    X86BootState boot;
    bool booted;                 /* a kernel was loaded (not with qtest and no -kernel) */
    Device *rtc;                 /* -machine rtc=on, else NULL */
    Device *fw_cfg;              /* -machine fw_cfg=on, else NULL */
    Device *pm;                  /* the microvm-pm device (q35's LPC places its block) */
    /* Set by the machine before x86_board_create_devices(): */
    bool pm_ged;                 /* the PM block pulses its SCI on every press (HW-reduced ACPI) */
    /*
     * rtc=auto gives an RTC (besides under qtest): ACPI machines, whose
     * guests (Linux) read the CMOS clock at boot and wait a second per try
     * for a missing one, whatever the FADT says.
     */
    bool rtc_by_default;
    /*
     * Set by the machine before x86_board_boot() (x86_board_set_acpi): the
     * ACPI tables, an image with the RSDP at its start, written at
     * acpi_base at boot and on every reset; the kernel is told where
     * (boot_params.acpi_rsdp_addr). NULL: no ACPI.
     */
    GByteArray *acpi_tables;
    uint64_t acpi_base;
    /* Firmware boot (x86-firmware.c): -drive if=pflash gave unit 0. */
    bool firmware;
    /*
     * Firmware boot, set by the machine: its ACPI tables built again from the
     * PCI state now (q35: the windows widened over the BARs the firmware
     * placed), for the firmware's first read of the ACPI files after each
     * reset, as QEMU rebuilds its tables then. NULL: they never change.
     */
    GByteArray *(*acpi_rebuild)(Machine *m);
    bool acpi_rebuilt;           /* since the last reset */
    GByteArray *acpi_loader;     /* the etc/table-loader given at start */
    Machine *machine;            /* for the fw_cfg select callback */
    Device *pflash[2];           /* X86_PFLASH_UNITS: code, variable store */
} X86Board;

#define X86_PFLASH_UNITS 2

/* Guest RAM below low_ram_limit, the rest from 4 GiB; mapped by the accelerator. */
bool x86_board_init_ram(Machine *m, X86Board *b, GError **err);
/* COM1 (-serial), the PM block, and the RTC / fw_cfg when switched on. */
bool x86_board_create_devices(Machine *m, X86Board *b, GError **err);
/*
 * After every device exists: the command line (-append plus auto_params),
 * the kernel, the vCPUs and their entry state. A restored machine gets its
 * vCPUs but keeps the snapshot's RAM and registers.
 */
bool x86_board_boot(Machine *m, X86Board *b, const char *auto_params, GError **err);
/*
 * Takes `tables` (an AcpiImage's bytes, RSDP first) to be placed at `base`
 * in guest RAM; fails if they exceed `room` bytes. Call before x86_board_boot.
 */
bool x86_board_set_acpi(X86Board *b, GByteArray *tables, uint64_t base, size_t room,
                        GError **err);
/* -machine acpi=: on, off, or auto = `dflt` (the machine's default). */
bool x86_board_acpi_enabled(const Machine *m, bool dflt);
/* system_reset: reload the kernel and restart the vCPUs at its entry. */
void x86_board_reset(Machine *m, X86Board *b);
void x86_board_cleanup(X86Board *b);
/*
 * Firmware boot (x86-firmware.c). create: the -drive if=pflash devices,
 * before x86_board_create_devices (sets b->firmware when unit 0 is given;
 * none is no error). reset: the BIOS-area copy of the code, at boot and on
 * every reset, before the vCPUs start at the reset vector.
 */
bool x86_firmware_create(Machine *m, X86Board *b, GError **err);
bool x86_firmware_reset(Machine *m, X86Board *b, GError **err);
/* -kernel / -initrd as fw_cfg items for the firmware's loader (needs b->fw_cfg). */
bool x86_firmware_kernel(Machine *m, X86Board *b, GError **err);
/* The ACPI tables (x86_board_set_acpi) as fw_cfg files and a table-loader script. */
bool x86_firmware_acpi(Machine *m, X86Board *b, GError **err);
/* Creates a board device of `driver` with n properties (device_create). */
Device *x86_board_device(Machine *m, const char *driver, const DevicePropValue *props,
                         unsigned n, GError **err);

#endif
