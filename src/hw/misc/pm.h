/*
 * microvm power control, documented in docs/microvm.md:
 *  - ACPI-style PM1a event block at PIO 0x600 (status 0x600, enable 0x602):
 *    PWRBTN_STS (bit 8) is set by system_powerdown; the guest clears it by
 *    writing 1 (write-1-to-clear), and an SCI (GSI 9) is pulsed when enabled.
 *  - PM1a control at PIO 0x604: writing SLP_EN (bit 13) with SLP_TYP 0 (S5)
 *    powers the machine off (guest-shutdown).
 *  - i8042 command port 0x64: 0xFE (pulse reset line) is a guest reset request;
 *    on microvm that ends the VM, as StratoVirt does. Reads of 0x64 return 0
 *    (buffers empty) so Linux's reboot=k does not spin.
 */
#ifndef STRATUS_PM_H
#define STRATUS_PM_H

#include "machine.h"

#define PM1A_EVT_BASE 0x600
#define PM1A_CNT_BASE 0x604
#define PM_SCI_GSI    9
#define I8042_CMD_PORT 0x64

PmState *pm_new(Machine *m, GError **err);
/* system_powerdown: latch the power button. */
void pm_press_power_button(PmState *pm);
void pm_reset(PmState *pm);
void pm_free(PmState *pm);

#endif
