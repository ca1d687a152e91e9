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
 *    machine_boot_time_signal() and the board creates pm with
 *    boot-time-port=off.
 *  - With ged set (property "ged", microvm acpi=on) every press pulses the SCI.
 *  - The registered type "microvm-pm" wraps it: reset with the machine, and
 *    system_powerdown presses the button through a powerdown notifier.
 */
#ifndef STRATUS_PM_H
#define STRATUS_PM_H

#include "machine.h"
#include "hw/device.h"

#define PM1A_EVT_BASE 0x600
#define PM1A_CNT_BASE 0x604
#define PM_SCI_GSI    3   /* 9 (QEMU's) is virtio-mmio slot 4 on microvm; COM2's ISA IRQ 3 is free */
#define I8042_CMD_PORT 0x64
#define I8042_DATA_PORT 0x60
#define BOOT_TIME_PORT 0x3ff
#define PM_TIMER_HZ   3579545

/* PM1 status/enable bits and PM1 control fields. */
#define PM1_STS_PWRBTN  (1u << 8)
#define PM1_EN_PWRBTN   (1u << 8)
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK  (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN  (1u << 13)

typedef struct PmState PmState;
extern const DeviceClass microvm_pm_device_class;

/* boot_time_port: also claim BOOT_TIME_PORT (fails if it is taken). */
PmState *pm_new(Machine *m, bool boot_time_port, GError **err);
/* system_powerdown: latch the power button (and pulse the SCI if enabled or ged). */
void pm_press_power_button(PmState *pm);
/*
 * ged: a press pulses the SCI whether or not PWRBTN_EN is set, for a
 * hardware-reduced ACPI guest, which never touches PM1_EN and takes the
 * SCI as the interrupt of its Generic Event Device (microvm acpi=on).
 */
void pm_set_ged(PmState *pm, bool on);
/*
 * q35's ICH9 LPC (PMBASE, ACPI_CNTL.ACPI_EN): the PM1a event and control
 * blocks decode at base and base + 4, and with `timer` the ACPI PM timer
 * (PM_TIMER_HZ, 24 bits) at base + 8; base 0 decodes none of them. A
 * base whose ports are taken decodes nothing (logged once per reset).
 * microvm keeps the power-on place, PM1A_EVT_BASE without a timer.
 */
void pm_move(PmState *pm, uint16_t base, bool timer);
uint16_t pm_base(const PmState *pm);
/* The PmState of a microvm-pm device. */
PmState *microvm_pm_state(Device *d);
void pm_reset(PmState *pm);
void pm_free(PmState *pm);

#include "migration/vmstate.h"
/* PM1a status, enable and control; opaque is the PmState. */
extern const VMStateDescription vmstate_pm;

#endif
