/*
 * mc146818rtc (src/hw/rtc/mc146818rtc.c, docs/legacy-devices.md) through its
 * ports 0x70/0x71 on the qtest virtual clock: the time against the host's,
 * BCD and binary, 12- and 24-hour counting, setting the time with SET and
 * with a divider reset (first update half a second later), UIP's window,
 * the alarm, update and periodic interrupts on IRQ 8, RTC_CHANGE, the NVRAM
 * and the board's memory bytes, reset, the machine property and its errors.
 */
#include <string.h>
#include <time.h>
#include "qtest.h"

#define RTC_IRQ 8
#define NS 1000000000LL
#define UIP_HOLD (8 * NS / 32768)

enum {
    SEC = 0, SEC_ALARM = 1, MIN = 2, MIN_ALARM = 3, HOUR = 4, HOUR_ALARM = 5,
    MDAY = 7, MON = 8, YEAR = 9, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
    CENTURY = 0x32,
};
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM  0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10
#define DONT_CARE 0xc0

static uint8_t rd(QTestState *s, uint8_t reg)
{
    qtest_outb(s, 0x70, reg);
    return qtest_inb(s, 0x71);
}

static void wr(QTestState *s, uint8_t reg, uint8_t v)
{
    qtest_outb(s, 0x70, reg);
    qtest_outb(s, 0x71, v);
}

/* As QEMU's rtc-test: the RTC on the virtual clock that clock_step moves. */
static QTestState *start(void)
{
    QTestState *s = qtest_init("-rtc clock=vm");

    qtest_irq_intercept_in(s, "ioapic");
    return s;
}

static int bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0xf);
}

/* The RTC's time in seconds since the epoch (24-hour mode), read twice for a stable value. */
static int64_t rtc_time(QTestState *s, bool binary)
{
    for (;;) {
        int f[6];
        uint8_t regs[6] = { SEC, MIN, HOUR, MDAY, MON, YEAR };
        struct tm tm = { 0 };
        for (int i = 0; i < 6; i++) {
            f[i] = binary ? rd(s, regs[i]) : bcd(rd(s, regs[i]));
        }
        if ((binary ? rd(s, SEC) : bcd(rd(s, SEC))) != f[0]) {
            continue;
        }
        tm.tm_sec = f[0];
        tm.tm_min = f[1];
        tm.tm_hour = f[2];
        tm.tm_mday = f[3];
        tm.tm_mon = f[4] - 1;
        tm.tm_year = (binary ? rd(s, CENTURY) : bcd(rd(s, CENTURY))) * 100 + f[5] - 1900;
        return (int64_t)timegm(&tm);
    }
}

/* The clock starts at the host's UTC time and only the virtual clock moves it. */
static void test_time_matches_host(void)
{
    QTestState *s = start();
    int64_t before, t;

    before = (int64_t)time(NULL);
    wr(s, REG_B, B_24H);
    t = rtc_time(s, false);
    /* Started before `before`, frozen since: at most the launch time behind. */
    g_assert_cmpint(t, <=, before);
    g_assert_cmpint(before - t, <=, 30);
    wr(s, REG_B, B_24H | B_DM);
    g_assert_cmpint(rtc_time(s, true), ==, t);
    qtest_clock_step(s, 10 * NS);
    g_assert_cmpint(rtc_time(s, true), ==, t + 10);
    g_assert_cmphex(rd(s, REG_D), ==, 0x80);
    qtest_quit(s);
}

/* -rtc base=DATE starts the guest's clock there; RTC_CHANGE counts from that base. */
static void test_base_date(void)
{
    QTestState *s = qtest_init("-rtc base=2006-06-17T16:01:21,clock=vm");
    JsonNode *ev;

    g_assert_cmpint(rtc_time(s, false), ==, 1150560081);
    qtest_clock_step(s, 2 * NS);
    g_assert_cmpint(rtc_time(s, false), ==, 1150560083);
    /*
     * One minute plus the two virtual seconds ahead of where the base has got
     * in host time (QEMU measures from the host clock): 62 less the host's seconds.
     */
    wr(s, REG_A, 0x76);
    wr(s, MIN, 0x02);
    wr(s, REG_A, 0x26);
    ev = qtest_qmp_eventwait_ref(s, "RTC_CHANGE");
    g_assert_cmpint(json_object_get_int_member(
        json_object_get_object_member(qmp_obj(ev), "data"), "offset"), <=, 62);
    g_assert_cmpint(json_object_get_int_member(
        json_object_get_object_member(qmp_obj(ev), "data"), "offset"), >=, 55);
    json_node_unref(ev);
    qtest_quit(s);
}

/* Stop the clock with a divider reset, write h:m:s, start it: .5 s in. */
static void set_hms(QTestState *s, uint8_t mode, uint8_t h, uint8_t m, uint8_t sec)
{
    wr(s, REG_B, mode);
    wr(s, REG_A, 0x76);
    wr(s, HOUR, h);
    wr(s, MIN, m);
    wr(s, SEC, sec);
    wr(s, REG_A, 0x26);
}

static void assert_hms(QTestState *s, uint8_t h, uint8_t m, uint8_t sec)
{
    g_assert_cmphex(rd(s, HOUR), ==, h);
    g_assert_cmphex(rd(s, MIN), ==, m);
    g_assert_cmphex(rd(s, SEC), ==, sec);
}

static void test_counting_24h(void)
{
    QTestState *s = start();

    set_hms(s, B_24H, 0x09, 0x59, 0x00);
    qtest_clock_step(s, NS);
    assert_hms(s, 0x09, 0x59, 0x01);
    qtest_clock_step(s, 59 * NS);
    assert_hms(s, 0x10, 0x00, 0x00);
    set_hms(s, B_24H, 0x23, 0x59, 0x59);
    qtest_clock_step(s, NS);
    assert_hms(s, 0x00, 0x00, 0x00);
    /* Binary mode. */
    set_hms(s, B_24H | B_DM, 9, 59, 59);
    qtest_clock_step(s, NS);
    assert_hms(s, 10, 0, 0);
    qtest_quit(s);
}

static void test_counting_12h(void)
{
    QTestState *s = start();

    /* BCD: 12 AM -> 1 AM, 11 AM -> 12 PM, 12 PM -> 1 PM, 11 PM -> 12 AM. */
    set_hms(s, 0, 0x12, 0x59, 0x59);
    qtest_clock_step(s, NS);
    assert_hms(s, 0x01, 0x00, 0x00);
    set_hms(s, 0, 0x11, 0x59, 0x59);
    qtest_clock_step(s, NS);
    assert_hms(s, 0x92, 0x00, 0x00);
    set_hms(s, 0, 0x92, 0x59, 0x59);
    qtest_clock_step(s, NS);
    assert_hms(s, 0x81, 0x00, 0x00);
    set_hms(s, 0, 0x91, 0x59, 0x59);
    qtest_clock_step(s, NS);
    assert_hms(s, 0x12, 0x00, 0x00);
    /* Binary 12-hour: 11 AM -> 12 PM, which is 0x8c. */
    set_hms(s, B_DM, 0x0b, 59, 59);
    qtest_clock_step(s, NS);
    assert_hms(s, 0x8c, 0, 0);
    qtest_quit(s);
}

/* Years and centuries; a date past 2038. */
static void test_set_date(void)
{
    QTestState *s = start();

    wr(s, REG_B, B_24H);
    wr(s, REG_A, 0x76);
    wr(s, YEAR, 0x80);
    wr(s, CENTURY, 0x20);
    wr(s, MON, 0x02);
    wr(s, MDAY, 0x29);
    wr(s, HOUR, 0x23);
    wr(s, MIN, 0x59);
    wr(s, SEC, 0x59);
    wr(s, REG_A, 0x26);
    qtest_clock_step(s, NS);
    /* 2080 is a leap year: Feb 29 -> Mar 1. */
    g_assert_cmphex(rd(s, MDAY), ==, 0x01);
    g_assert_cmphex(rd(s, MON), ==, 0x03);
    g_assert_cmphex(rd(s, YEAR), ==, 0x80);
    g_assert_cmphex(rd(s, CENTURY), ==, 0x20);
    wr(s, REG_A, 0x76);
    wr(s, YEAR, 0x80);
    wr(s, CENTURY, 0x19);
    wr(s, REG_A, 0x26);
    g_assert_cmphex(rd(s, YEAR), ==, 0x80);
    g_assert_cmphex(rd(s, CENTURY), ==, 0x19);
    qtest_quit(s);
}

/* SET stops the clock; clearing it starts the clock at the written time. */
static void test_set_flag(void)
{
    QTestState *s = start();

    wr(s, REG_B, B_24H | B_SET | B_UIE);
    /* The chip clears UIE along with SET. */
    g_assert_cmphex(rd(s, REG_B), ==, B_24H | B_SET);
    wr(s, HOUR, 0x02);
    wr(s, MIN, 0x04);
    wr(s, SEC, 0x58);
    qtest_clock_step(s, NS);
    assert_hms(s, 0x02, 0x04, 0x58);
    g_assert_cmphex(rd(s, REG_A) & 0x80, ==, 0);
    wr(s, REG_B, B_24H);
    assert_hms(s, 0x02, 0x04, 0x58);
    qtest_clock_step(s, NS);
    assert_hms(s, 0x02, 0x04, 0x59);
    qtest_quit(s);
}

/* After a divider reset the first update is 500 ms later; UIP precedes it by 244 us. */
static void test_divider_reset_and_uip(void)
{
    QTestState *s = start();

    set_hms(s, B_24H, 0x02, 0x04, 0x58);
    qtest_clock_step(s, NS / 2 - UIP_HOLD - 1);
    g_assert_cmphex(rd(s, REG_A), ==, 0x26);
    assert_hms(s, 0x02, 0x04, 0x58);
    qtest_clock_step(s, 1);
    g_assert_cmphex(rd(s, REG_A), ==, 0xa6);
    qtest_clock_step(s, UIP_HOLD);
    g_assert_cmphex(rd(s, REG_A), ==, 0x26);
    assert_hms(s, 0x02, 0x04, 0x59);
    /* In divider reset the clock stands and UIP stays clear. */
    wr(s, REG_A, 0x76);
    qtest_clock_step(s, 3 * NS);
    assert_hms(s, 0x02, 0x04, 0x59);
    g_assert_cmphex(rd(s, REG_A), ==, 0x76);
    qtest_quit(s);
}

/* An alarm with don't-care minutes and seconds at the next hour raises IRQ 8. */
static void test_alarm_interrupt(void)
{
    QTestState *s = start();

    set_hms(s, B_24H, 0x13, 0x59, 0x58);
    wr(s, HOUR_ALARM, 0x14);
    wr(s, MIN_ALARM, 0x00);
    wr(s, SEC_ALARM, DONT_CARE);
    rd(s, REG_C);
    wr(s, REG_B, B_24H | B_AIE);
    qtest_clock_step(s, NS);
    g_assert_false(qtest_get_irq(s, RTC_IRQ));
    qtest_clock_step(s, NS);
    g_assert_true(qtest_get_irq(s, RTC_IRQ));
    g_assert_cmphex(rd(s, REG_C), ==, C_IRQF | C_AF | C_UF);
    g_assert_false(qtest_get_irq(s, RTC_IRQ));
    g_assert_cmphex(rd(s, REG_C), ==, 0);
    /* Don't-care seconds: the next second matches as well. */
    qtest_clock_step(s, NS);
    g_assert_true(qtest_get_irq(s, RTC_IRQ));
    rd(s, REG_C);
    qtest_quit(s);
}

/* AF without AIE: flagged, no interrupt; 12-hour alarm hours carry PM. */
static void test_alarm_flag_12h(void)
{
    QTestState *s = start();

    wr(s, MIN_ALARM, DONT_CARE);
    wr(s, SEC_ALARM, DONT_CARE);
    wr(s, REG_B, 0);
    wr(s, REG_A, 0x76);
    wr(s, HOUR_ALARM, 0x82);
    wr(s, HOUR, 0x81);
    wr(s, MIN, 0x59);
    wr(s, SEC, 0x00);
    rd(s, REG_C);
    wr(s, REG_A, 0x26);
    qtest_clock_step(s, 60 * NS);
    g_assert_cmphex(rd(s, HOUR), ==, 0x82);
    g_assert_cmphex(rd(s, REG_C) & C_AF, ==, C_AF);
    g_assert_false(qtest_get_irq(s, RTC_IRQ));
    /* 2 AM never matches 2 PM. */
    wr(s, HOUR_ALARM, 0x02);
    qtest_clock_step(s, 3600 * NS);
    g_assert_cmphex(rd(s, REG_C) & C_AF, ==, 0);
    qtest_quit(s);
}

/* Update-ended interrupts: one a second, from the next update on. */
static void test_update_interrupt(void)
{
    QTestState *s = start();

    set_hms(s, B_24H, 0x01, 0x00, 0x00);
    rd(s, REG_C);
    wr(s, REG_B, B_24H | B_UIE);
    g_assert_cmpint(qtest_clock_step_next(s), >, 0);
    g_assert_true(qtest_get_irq(s, RTC_IRQ));
    g_assert_cmphex(rd(s, REG_C), ==, C_IRQF | C_UF);
    assert_hms(s, 0x01, 0x00, 0x01);
    qtest_clock_step(s, NS);
    g_assert_true(qtest_get_irq(s, RTC_IRQ));
    g_assert_cmphex(rd(s, REG_C), ==, C_IRQF | C_UF);
    qtest_quit(s);
}

/* Rate 13 (8 Hz) and 15 (2 Hz) alternating: each takes effect a period after the last tick. */
static void test_periodic_interrupt(void)
{
    QTestState *s = start();
    int64_t t0, t;

    wr(s, REG_A, 0x20 | 13);
    wr(s, REG_B, B_24H | B_PIE);
    t0 = qtest_clock_step_next(s);
    g_assert_true(qtest_get_irq(s, RTC_IRQ));
    /* (UF too if an update passed meanwhile: it interrupts only with UIE.) */
    g_assert_cmphex(rd(s, REG_C) & ~C_UF, ==, C_IRQF | C_PF);
    t = t0;
    for (int i = 0; i < 10; i++) {
        wr(s, REG_A, 0x20 | 15);
        t = qtest_clock_step_next(s);
        g_assert_true(qtest_get_irq(s, RTC_IRQ));
        g_assert_cmphex(rd(s, REG_C) & C_PF, ==, C_PF);
        wr(s, REG_A, 0x20 | 13);
        t = qtest_clock_step_next(s);
        g_assert_true(qtest_get_irq(s, RTC_IRQ));
        g_assert_cmphex(rd(s, REG_C) & C_PF, ==, C_PF);
    }
    /* 10 x (16384 + 4096) ticks of 32768 Hz, to the nanosecond rounding. */
    g_assert_cmpint(t - t0, >=, 10 * (NS / 2 + NS / 8) - 20);
    g_assert_cmpint(t - t0, <=, 10 * (NS / 2 + NS / 8) + 20);
    /* PIE off: no more ticks. */
    wr(s, REG_B, B_24H);
    qtest_clock_step(s, NS);
    g_assert_false(qtest_get_irq(s, RTC_IRQ));
    g_assert_cmphex(rd(s, REG_C) & C_PF, ==, 0);
    qtest_quit(s);
}

/* A new time raises RTC_CHANGE with its offset from the host's UTC time. */
static void test_rtc_change_event(void)
{
    QTestState *s = start();
    JsonNode *ev;
    int64_t offset, expect;

    /* 2011-02-02 02:04:58 UTC */
    wr(s, REG_B, B_24H);
    wr(s, REG_A, 0x76);
    wr(s, YEAR, 0x11);
    wr(s, CENTURY, 0x20);
    wr(s, MON, 0x02);
    wr(s, MDAY, 0x02);
    wr(s, HOUR, 0x02);
    wr(s, MIN, 0x04);
    wr(s, SEC, 0x58);
    wr(s, REG_A, 0x26);
    expect = 1296612298 - (int64_t)time(NULL);
    ev = qtest_qmp_eventwait_ref(s, "RTC_CHANGE");
    offset = json_object_get_int_member(
        json_object_get_object_member(qmp_obj(ev), "data"), "offset");
    g_assert_cmpint(offset, <=, expect + 2);
    g_assert_cmpint(offset, >=, expect - 2);
    json_node_unref(ev);
    qtest_quit(s);
}

/* NVRAM keeps what is written; the board fills in the memory sizes. */
static void test_nvram(void)
{
    QTestState *s = qtest_init("-m 512M -smp 2 -rtc clock=vm");

    /* 512 MiB: (512 - 16) MiB in 64 KiB units at 0x34; KiB above 1 MiB at 0x30, capped. */
    g_assert_cmphex(rd(s, 0x34) | rd(s, 0x35) << 8, ==, (512 - 16) * 16);
    g_assert_cmphex(rd(s, 0x30) | rd(s, 0x31) << 8, ==, 0xffff);
    g_assert_cmphex(rd(s, 0x5f), ==, 1);
    for (unsigned i = 0x0e; i < 0x80; i++) {
        if (i != CENTURY) {
            wr(s, (uint8_t)i, (uint8_t)(i ^ 0x5a));
        }
    }
    for (unsigned i = 0x0e; i < 0x80; i++) {
        if (i != CENTURY) {
            g_assert_cmphex(rd(s, (uint8_t)i), ==, (uint8_t)(i ^ 0x5a));
        }
    }
    /* Bit 7 of the index is the NMI mask: the same register. */
    g_assert_cmphex(rd(s, 0x80 | 0x40), ==, 0x40 ^ 0x5a);
    /* The index port reads as the floating bus. */
    g_assert_cmphex(qtest_inb(s, 0x70), ==, 0xff);
    /* C and D are read-only. */
    wr(s, REG_D, 0);
    g_assert_cmphex(rd(s, REG_D), ==, 0x80);
    qtest_quit(s);
}

/* system_reset masks the interrupts and lowers the line; the time runs on. */
static void test_reset(void)
{
    QTestState *s = start();

    set_hms(s, B_24H, 0x05, 0x00, 0x00);
    wr(s, REG_B, B_24H | B_UIE | B_PIE);
    qtest_clock_step(s, NS);
    g_assert_true(qtest_get_irq(s, RTC_IRQ));
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    g_assert_false(qtest_get_irq(s, RTC_IRQ));
    g_assert_cmphex(rd(s, REG_B), ==, B_24H);
    g_assert_cmphex(rd(s, REG_C), ==, 0);
    assert_hms(s, 0x05, 0x00, 0x01);
    qtest_quit(s);
}

/* Random register traffic never breaks the device (the VMM answers afterwards). */
static void test_fuzz(void)
{
    QTestState *s = start();

    for (int i = 0; i < 500; i++) {
        uint8_t reg = (uint8_t)g_test_rand_int_range(0, 16);
        wr(s, reg, (uint8_t)g_test_rand_int_range(0, 256));
        rd(s, reg);
        if (i % 50 == 0) {
            qtest_clock_step(s, NS / 3);
        }
    }
    qtest_qmp_assert_success(s, "{'execute': 'query-status'}");
    qtest_quit(s);
}

/* rtc=off: nothing at 0x70; the machine lists no mc146818rtc. */
static void test_rtc_off(void)
{
    QTestState *s = qtest_init("-machine rtc=off");

    g_assert_cmphex(qtest_inb(s, 0x71), ==, 0xff);
    qtest_quit(s);
}

static void cli_error(const char *args, const char *text)
{
    QTestState *s = qtest_spawn_raw(args);

    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 1);
    if (!strstr(qtest_stderr(s), text)) {
        g_error("expected '%s' in: %s", text, qtest_stderr(s));
    }
    qtest_set_expected_status(s, 1);
    qtest_quit(s);
}

static void test_machine_property_errors(void)
{
    cli_error("-accel qtest -machine microvm,rtc=maybe",
              "stratus: error: -machine: Parameter 'rtc' does not accept value 'maybe'");
    cli_error("-accel qtest -machine microvm,fw_cfg=", "Parameter 'fw_cfg' does not accept");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rtc/check-time/host", test_time_matches_host);
    g_test_add_func("/rtc/check-time/base-date", test_base_date);
    g_test_add_func("/rtc/basic/24h", test_counting_24h);
    g_test_add_func("/rtc/basic/12h", test_counting_12h);
    g_test_add_func("/rtc/set-date", test_set_date);
    g_test_add_func("/rtc/update/set-flag", test_set_flag);
    g_test_add_func("/rtc/update/divider-reset-uip", test_divider_reset_and_uip);
    g_test_add_func("/rtc/alarm/interrupt", test_alarm_interrupt);
    g_test_add_func("/rtc/alarm/flag-12h", test_alarm_flag_12h);
    g_test_add_func("/rtc/update/interrupt", test_update_interrupt);
    g_test_add_func("/rtc/periodic/interrupt", test_periodic_interrupt);
    g_test_add_func("/rtc/event/rtc-change", test_rtc_change_event);
    g_test_add_func("/rtc/nvram", test_nvram);
    g_test_add_func("/rtc/reset", test_reset);
    g_test_add_func("/rtc/misc/fuzz-registers", test_fuzz);
    g_test_add_func("/rtc/machine/rtc-off", test_rtc_off);
    g_test_add_func("/rtc/machine/errors", test_machine_property_errors);
    return g_test_run();
}
