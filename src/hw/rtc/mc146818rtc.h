/*
 * The MC146818 real-time clock and CMOS NVRAM ("mc146818rtc",
 * src/hw/rtc/mc146818rtc.c, docs/legacy-devices.md): what a board needs
 * beyond the device registry, and the register numbers its tests use.
 */
#ifndef STRATUS_MC146818RTC_H
#define STRATUS_MC146818RTC_H

#include <stdint.h>

#include "hw/device.h"

#define RTC_SECONDS          0x00
#define RTC_SECONDS_ALARM    0x01
#define RTC_MINUTES          0x02
#define RTC_MINUTES_ALARM    0x03
#define RTC_HOURS            0x04
#define RTC_HOURS_ALARM      0x05
#define RTC_DAY_OF_WEEK      0x06
#define RTC_DAY_OF_MONTH     0x07
#define RTC_MONTH            0x08
#define RTC_YEAR             0x09
#define RTC_REG_A            0x0a
#define RTC_REG_B            0x0b
#define RTC_REG_C            0x0c
#define RTC_REG_D            0x0d
#define RTC_CENTURY          0x32
#define RTC_CMOS_SIZE        128

#define RTC_REG_A_UIP        0x80
#define RTC_REG_B_SET        0x80
#define RTC_REG_B_PIE        0x40
#define RTC_REG_B_AIE        0x20
#define RTC_REG_B_UIE        0x10
#define RTC_REG_B_DM         0x04
#define RTC_REG_B_24H        0x02
#define RTC_REG_C_IRQF       0x80
#define RTC_REG_C_PF         0x40
#define RTC_REG_C_AF         0x20
#define RTC_REG_C_UF         0x10
#define RTC_REG_D_VRT        0x80

/* How long UIP reads 1 before each update: 244 us (8 cycles of 32.768 kHz). */
#define RTC_UIP_HOLD_NS      (8 * 1000000000LL / 32768)

/* A board's NVRAM byte (memory sizes, CPU count) in a realized mc146818rtc. */
void mc146818rtc_set_cmos(Device *d, uint8_t index, uint8_t value);

/* Tests: the guest's current RTC time in seconds since the epoch (UTC terms). */
int64_t mc146818rtc_guest_seconds(Device *d);

#endif
