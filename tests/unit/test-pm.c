/*
 * microvm power control tests: PM1a S5, i8042 reset, power button latch/SCI,
 * boot-time port sharing with the UART.
 */
#include <string.h>

#include "fake-machine.h"
#include "hw/char/serial.h"
#include "hw/misc/pm.h"
#include "util/clock.h"
#include "util/log.h"
#include <glib/gstdio.h>

static Machine *machine_fake(void)
{
    fake_irq_clear();
    return fake_machine_new();
}

static PmState *pm_fake_port(Machine *m, bool boot_time_port)
{
    GError *err = NULL;
    PmState *pm = pm_new(m, boot_time_port, &err);
    g_assert_no_error(err);
    g_assert_nonnull(pm);
    return pm;
}

static PmState *pm_fake(Machine *m)
{
    return pm_fake_port(m, true);
}

static void out(Machine *m, uint16_t port, uint32_t v, unsigned size)
{
    g_assert_true(iobus_write(&m->pio, port, &v, size));
}

static uint32_t in(Machine *m, uint16_t port, unsigned size)
{
    uint32_t v = 0;
    g_assert_true(iobus_read(&m->pio, port, &v, size));
    return v;
}

static void test_s5_poweroff(void)
{
    Machine *m = machine_fake();
    PmState *pm = pm_fake(m);

    /* SCI_EN alone, and a non-S5 sleep type, do nothing. */
    out(m, PM1A_CNT_BASE, 0x0001, 2);
    g_assert_cmphex(in(m, PM1A_CNT_BASE, 2), ==, 0x0001);
    out(m, PM1A_CNT_BASE, PM1_CNT_SLP_EN | (5u << PM1_CNT_SLP_TYP_SHIFT), 2);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_NONE);
    /* SLP_EN reads back as 0, SLP_TYP is kept. */
    g_assert_cmphex(in(m, PM1A_CNT_BASE, 2), ==, 5u << PM1_CNT_SLP_TYP_SHIFT);

    /* S5 as the test guest does it: 16-bit 0x2000. */
    out(m, PM1A_CNT_BASE, 0x2000, 2);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_GUEST_SHUTDOWN);
    pm_free(pm);
    fake_machine_free(m);

    /* Byte access to the high byte works too. */
    m = machine_fake();
    pm = pm_fake(m);
    out(m, PM1A_CNT_BASE + 1, 0x20, 1);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_GUEST_SHUTDOWN);
    pm_free(pm);
    fake_machine_free(m);

    /* Dword access is ignored. */
    m = machine_fake();
    pm = pm_fake(m);
    uint32_t v = 0x2000;
    iobus_write(&m->pio, PM1A_EVT_BASE, &v, 4);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_NONE);
    pm_free(pm);
    fake_machine_free(m);
}

static void test_i8042_reset(void)
{
    Machine *m = machine_fake();
    PmState *pm = pm_fake(m);

    /* buffers empty (reboot=k's wait ends), parity and time-out errors
     * (OVMF's Ps2KeyboardDxe reads "no keyboard controller") */
    g_assert_cmphex(in(m, I8042_CMD_PORT, 1), ==, 0xC0);
    g_assert_cmphex(in(m, I8042_DATA_PORT, 1), ==, 0x00);
    out(m, I8042_CMD_PORT, 0xd1, 1);                        /* other commands */
    out(m, I8042_DATA_PORT, 0xfe, 1);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_NONE);
    out(m, I8042_CMD_PORT, 0xfe, 1);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_GUEST_RESET);
    pm_free(pm);
    fake_machine_free(m);
}

static void test_power_button(void)
{
    Machine *m = machine_fake();
    PmState *pm = pm_fake(m);

    /* Latched but not enabled: no SCI. */
    pm_press_power_button(pm);
    g_assert_cmphex(in(m, PM1A_EVT_BASE, 2), ==, PM1_STS_PWRBTN);
    g_assert_cmphex(in(m, PM1A_EVT_BASE + 1, 1), ==, 0x01);
    g_assert_cmpuint(irq_rises[PM_SCI_GSI], ==, 0);

    /* Write 0 changes nothing; write 1 clears. */
    out(m, PM1A_EVT_BASE, 0x0000, 2);
    g_assert_cmphex(in(m, PM1A_EVT_BASE, 2), ==, PM1_STS_PWRBTN);
    out(m, PM1A_EVT_BASE, PM1_STS_PWRBTN, 2);
    g_assert_cmphex(in(m, PM1A_EVT_BASE, 2), ==, 0);

    /* Enabled: each press pulses GSI 3 (ends low). */
    out(m, PM1A_EVT_BASE + 2, PM1_EN_PWRBTN, 2);
    g_assert_cmphex(in(m, PM1A_EVT_BASE + 2, 2), ==, PM1_EN_PWRBTN);
    g_assert_cmpuint(irq_rises[PM_SCI_GSI], ==, 0);
    pm_press_power_button(pm);
    g_assert_cmpuint(irq_rises[PM_SCI_GSI], ==, 1);
    g_assert_false(irq_level[PM_SCI_GSI]);
    g_assert_cmphex(in(m, PM1A_EVT_BASE, 2), ==, PM1_STS_PWRBTN);
    /* Byte-wide W1C on the high status byte. */
    out(m, PM1A_EVT_BASE + 1, 0x01, 1);
    g_assert_cmphex(in(m, PM1A_EVT_BASE, 2), ==, 0);

    /* Enabling while latched raises the SCI then. */
    out(m, PM1A_EVT_BASE + 2, 0, 2);
    pm_press_power_button(pm);
    g_assert_cmpuint(irq_rises[PM_SCI_GSI], ==, 1);
    out(m, PM1A_EVT_BASE + 3, 0x01, 1);
    g_assert_cmpuint(irq_rises[PM_SCI_GSI], ==, 2);

    /* Reset clears latch and enable; the press alone asks for no shutdown. */
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_NONE);
    pm_reset(pm);
    g_assert_cmphex(in(m, PM1A_EVT_BASE, 2), ==, 0);
    g_assert_cmphex(in(m, PM1A_EVT_BASE + 2, 2), ==, 0);
    pm_free(pm);
    fake_machine_free(m);
}

/*
 * ged (microvm acpi=on): every press pulses the SCI although PM1_EN stays 0,
 * and the HW-reduced sleep registers the FADT names (the high bytes of
 * PM1_STS and PM1_CNT) clear WAK_STS and power off with SLP_TYP 0.
 */
static void test_ged_and_sleep_registers(void)
{
    Machine *m = machine_fake();
    PmState *pm = pm_fake(m);

    pm_set_ged(pm, true);
    pm_press_power_button(pm);
    g_assert_cmpuint(irq_rises[PM_SCI_GSI], ==, 1);
    g_assert_false(irq_level[PM_SCI_GSI]);
    pm_press_power_button(pm);
    g_assert_cmpuint(irq_rises[PM_SCI_GSI], ==, 2);
    /* The GED's _EVT: a 16-bit write of PWRBTN_STS alone clears it. */
    out(m, PM1A_EVT_BASE, PM1_STS_PWRBTN, 2);
    g_assert_cmphex(in(m, PM1A_EVT_BASE, 2), ==, 0);
    /* Sleep status (WAK_STS, bit 7 of 0x601), then sleep control: SLP_EN | SLP_TYP 0. */
    out(m, PM1A_EVT_BASE + 1, 0x80, 1);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_NONE);
    out(m, PM1A_CNT_BASE + 1, 0x20, 1);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_GUEST_SHUTDOWN);
    pm_free(pm);
    fake_machine_free(m);
}

/*
 * Port 0x3FF is COM1's scratch register: the board creates pm with
 * boot-time-port=off when a UART covers it, and the UART forwards the
 * marker. pm claiming a taken port is an error, not a silent overlap.
 */
static void test_boot_port_sharing(void)
{
    GError *err = NULL;

    Machine *m = machine_fake();
    SerialState *s = serial_new(m, SERIAL_COM1_BASE, SERIAL_COM1_IRQ, NULL, &err);
    g_assert_no_error(err);
    g_assert_null(pm_new(m, true, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    PmState *pm = pm_fake_port(m, false);
    out(m, BOOT_TIME_PORT, 1, 1);
    g_assert_cmphex(in(m, BOOT_TIME_PORT, 1), ==, 1);   /* the UART's SCR */
    g_assert_true(m->logged_boot_start);
    pm_free(pm);
    serial_free(s);
    fake_machine_free(m);

    /* Without a UART, pm owns the port: reads 0, writes are markers. */
    m = machine_fake();
    pm = pm_fake(m);
    out(m, BOOT_TIME_PORT, 2, 1);
    g_assert_cmphex(in(m, BOOT_TIME_PORT, 1), ==, 0);
    g_assert_true(m->logged_boot_done);
    pm_free(pm);
    fake_machine_free(m);
}

static unsigned count_in_file(const char *path, const char *needle)
{
    g_autofree char *text = NULL;
    unsigned n = 0;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    return n;
}

/*
 * Regression: every guest write of 1/2 to the boot-time port (pm's or the
 * UART's SCR) and every unsupported SLP_TYP logged a line, so a guest looping
 * on them could fill the host disk through -D. Now once per reset.
 */
static void test_guest_log_flood(void)
{
    GError *err = NULL;
    g_autofree char *dir = g_dir_make_tmp("stratus-pm-XXXXXX", &err);
    g_autofree char *path = g_build_filename(dir, "log", NULL);

    g_assert_no_error(err);
    g_assert_true(log_open(path, &err));
    g_assert_no_error(err);

    Machine *m = machine_fake();
    PmState *pm = pm_fake(m);
    for (int i = 0; i < 1000; i++) {
        out(m, BOOT_TIME_PORT, 1, 1);
        out(m, BOOT_TIME_PORT, 2, 1);
        out(m, PM1A_CNT_BASE, PM1_CNT_SLP_EN | (5u << PM1_CNT_SLP_TYP_SHIFT), 2);
    }
    /* The UART's SCR forwards to the same once-only marker. */
    pm_free(pm);
    SerialState *s = serial_new(m, SERIAL_COM1_BASE, SERIAL_COM1_IRQ, NULL, &err);
    g_assert_no_error(err);
    pm = pm_fake_port(m, false);
    for (int i = 0; i < 1000; i++) {
        out(m, BOOT_TIME_PORT, 1, 1);
    }
    g_assert_cmpuint(count_in_file(path, "Kernel starts to boot!"), ==, 1);
    g_assert_cmpuint(count_in_file(path, "Kernel boot complete!"), ==, 1);
    g_assert_cmpuint(count_in_file(path, "unsupported sleep type"), ==, 1);
    /* machine_system_reset() re-arms the markers; the next boot is logged again. */
    m->logged_boot_start = m->logged_boot_done = false;
    pm_reset(pm);
    out(m, BOOT_TIME_PORT, 1, 1);
    out(m, BOOT_TIME_PORT, 1, 1);
    g_assert_cmpuint(count_in_file(path, "Kernel starts to boot!"), ==, 2);
    g_assert_cmpint(m->shutdown_request, ==, SHUTDOWN_NONE);
    serial_free(s);
    pm_free(pm);
    fake_machine_free(m);
    log_close();
    g_unlink(path);
    g_rmdir(dir);
}

static bool in_lockless(Machine *m, uint16_t port, unsigned size, uint64_t *v)
{
    return iobus_read_lockless(&m->pio, port, size, v);
}

/*
 * q35's ACPI PM timer: the dword read is published for lock-free reads
 * where the timer decodes, and only there; both paths read the same
 * clock-derived value.
 */
static void test_timer_lockless(void)
{
    Machine *m = machine_fake();
    PmState *pm = pm_fake(m);
    MachineClock *clk = machine_clock_get(&m->clock, m->ctx);
    uint64_t v = 0;

    machine_clock_use_virtual(clk);
    machine_clock_advance_to(clk, CLOCK_NS_PER_SEC + 1000);
    g_assert_false(in_lockless(m, PM1A_EVT_BASE + 8, 4, &v));   /* microvm: no timer */
    pm_move(pm, 0x600, true);
    g_assert_true(in_lockless(m, 0x608, 4, &v));
    g_assert_cmphex(v, ==, (PM_TIMER_HZ + 3) & 0xFFFFFF);           /* 1 s + 1 us */
    g_assert_cmphex(in(m, 0x608, 4), ==, v);
    g_assert_false(in_lockless(m, 0x608, 2, &v));                  /* other sizes: locked */
    g_assert_false(in_lockless(m, 0x60C, 4, &v));
    g_assert_false(in_lockless(m, 0x604, 4, &v));
    machine_clock_advance_to(clk, 2 * CLOCK_NS_PER_SEC);
    pm_move(pm, 0xB000, true);                                     /* PMBASE moved */
    g_assert_false(in_lockless(m, 0x608, 4, &v));
    g_assert_true(in_lockless(m, 0xB008, 4, &v));
    g_assert_cmphex(v, ==, (2 * PM_TIMER_HZ) & 0xFFFFFF);
    g_assert_cmphex(in(m, 0xB008, 4), ==, v);
    pm_move(pm, 0xB000, false);                                    /* timer off */
    g_assert_false(in_lockless(m, 0xB008, 4, &v));
    pm_move(pm, 0xB000, true);
    pm_move(pm, 0, true);                                          /* ACPI_EN clear */
    g_assert_false(in_lockless(m, 0xB008, 4, &v));
    pm_free(pm);
    fake_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pm/s5-poweroff", test_s5_poweroff);
    g_test_add_func("/pm/i8042-reset", test_i8042_reset);
    g_test_add_func("/pm/timer-lockless", test_timer_lockless);
    g_test_add_func("/pm/power-button", test_power_button);
    g_test_add_func("/pm/ged-sleep-registers", test_ged_and_sleep_registers);
    g_test_add_func("/pm/boot-port-sharing", test_boot_port_sharing);
    g_test_add_func("/pm/guest-log-flood", test_guest_log_flood);
    return g_test_run();
}
