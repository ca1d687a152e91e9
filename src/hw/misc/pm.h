/*
 * microvm power control, documented in docs/microvm.md:
 *  - ACPI-style PM1a event block at PIO 0x600 (status 0x600, enable 0x602):
 *    PWRBTN_STS (bit 8) is set by system_powerdown; the guest clears it by
 *    writing 1 (write-1-to-clear), and an SCI (GSI 3) is pulsed when enabled.
 *  - PM1a control at PIO 0x604: writing SLP_EN (bit 13) with SLP_TYP 0 (S5)
 *    powers the machine off (guest-shutdown).
 *  - i8042 command port 0x64: 0xFE (pulse reset line) is a guest reset request;
 *    on microvm that ends the VM, as StratoVirt does. Reads of 0x64 return 0
 *    (buffers empty) so Linux's reboot=k does not spin.
 *  - Boot-time marker (StratoVirt feature boot_time): the guest writes 1 / 2
 *    to PIO 0x3FF at kernel start / boot complete, logged as "Kernel starts to
 *    boot!" / "Kernel boot complete!". 0x3FF is also COM1's scratch register:
 *    when a UART covers it, the UART forwards SCR writes to
 *    pm_boot_time_signal() and pm gives the port up (either creation order).
 *  - pm_new() / serial_new() set m->pm / m->serial when those are still NULL;
 *    the board calls pm_reset() / serial_reset() on system reset.
 */
#ifndef STRATUS_PM_H
#define STRATUS_PM_H

#include "machine.h"

#define PM1A_EVT_BASE 0x600
#define PM1A_CNT_BASE 0x604
#define PM_SCI_GSI    3   /* 9 (QEMU's) is virtio-mmio slot 4 on microvm; COM2's ISA IRQ 3 is free */
#define I8042_CMD_PORT 0x64
#define I8042_DATA_PORT 0x60
#define BOOT_TIME_PORT 0x3ff

/* PM1 status/enable bits and PM1 control fields. */
#define PM1_STS_PWRBTN  (1u << 8)
#define PM1_EN_PWRBTN   (1u << 8)
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK  (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN  (1u << 13)

PmState *pm_new(Machine *m, GError **err);
/* system_powerdown: latch the power button. */
void pm_press_power_button(PmState *pm);
void pm_reset(PmState *pm);
void pm_free(PmState *pm);

/*
 * Logs the boot-time marker for a value written to BOOT_TIME_PORT: each marker
 * once until pm_reset() (a guest looping on the port cannot flood the log).
 */
void pm_boot_time_signal(Machine *m, uint8_t value);
/* Drops pm's own BOOT_TIME_PORT region, if any (a UART is taking the port). */
void pm_release_boot_time_port(Machine *m);

#include "migration/vmstate.h"
/* PM1a status, enable and control; opaque is the PmState. */
extern const VMStateDescription vmstate_pm;

#endif
