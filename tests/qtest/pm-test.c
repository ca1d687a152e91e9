/*
 * microvm power block (docs/microvm.md): PM1a status/enable at PIO 0x600,
 * control at 0x604, SCI on GSI 3, i8042 reset at 0x64.
 */
#include "qtest.h"

#define PM1_STS 0x600
#define PM1_EN  0x602
#define PM1_CNT 0x604
#define PWRBTN  0x100
#define SLP_EN  0x2000
/* src/hw/misc/pm.h PM_SCI_GSI: ISA IRQ 3 (GSI 9 is virtio-mmio slot 4 on microvm). */
#define SCI     3

static void test_powerdown_sets_pwrbtn(void)
{
    QTestState *s = qtest_init("");

    qtest_irq_intercept_in(s, "ioapic");
    g_assert_cmphex(qtest_inw(s, PM1_STS), ==, 0);
    /* Button disabled: status latches, no SCI. */
    qtest_qmp_assert_success(s, "{'execute': 'system_powerdown'}");
    qtest_qmp_eventwait(s, "POWERDOWN");
    g_assert_cmphex(qtest_inw(s, PM1_STS) & PWRBTN, ==, PWRBTN);
    g_assert_cmpuint(qtest_irq_raise_count(s, SCI), ==, 0);
    /* Enabling it with the status latched pulses the SCI. */
    qtest_outw(s, PM1_EN, PWRBTN);
    g_assert_cmpuint(qtest_irq_raise_count(s, SCI), ==, 1);
    g_assert_false(qtest_get_irq(s, SCI));             /* a pulse: raised then lowered */
    g_assert_cmphex(qtest_inw(s, PM1_EN), ==, PWRBTN);
    /* Write-1-to-clear. */
    qtest_outw(s, PM1_STS, 0);
    g_assert_cmphex(qtest_inw(s, PM1_STS) & PWRBTN, ==, PWRBTN);
    qtest_outw(s, PM1_STS, PWRBTN);
    g_assert_cmphex(qtest_inw(s, PM1_STS) & PWRBTN, ==, 0);
    /* Enabled: the next press interrupts right away. */
    qtest_qmp_assert_success(s, "{'execute': 'system_powerdown'}");
    g_assert_cmpuint(qtest_irq_raise_count(s, SCI), ==, 2);
    g_assert_cmphex(qtest_inb(s, PM1_STS + 1), ==, 0x01);   /* byte access */
    qtest_quit(s);
}

static void test_s5_shutdown(void)
{
    QTestState *s = qtest_init("");
    JsonNode *ev;
    JsonObject *data;

    /* SLP_TYP=0 without SLP_EN does nothing; the register reads back. */
    qtest_outw(s, PM1_CNT, 0x0001);
    g_assert_cmphex(qtest_inw(s, PM1_CNT), ==, 0x0001);
    /* SLP_TYP=5 (unsupported) with SLP_EN: ignored. */
    qtest_outw(s, PM1_CNT, SLP_EN | (5 << 10));
    g_assert_cmphex(qtest_inw(s, PM1_CNT) & SLP_EN, ==, 0);
    /* S5: SHUTDOWN (guest-shutdown) and exit status 0. */
    qtest_outw(s, PM1_CNT, SLP_EN);
    ev = qtest_qmp_eventwait_ref(s, "SHUTDOWN");
    data = json_object_get_object_member(qmp_obj(ev), "data");
    g_assert_true(json_object_get_boolean_member(data, "guest"));
    g_assert_cmpstr(qmp_get_str(data, "reason"), ==, "guest-shutdown");
    json_node_unref(ev);
    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 0);
    g_assert_true(qtest_qmp_eof(s, 5000));
    qtest_quit(s);
}

static void test_i8042_reset(void)
{
    QTestState *s = qtest_init("");
    JsonNode *ev;

    /* input buffer empty (bit 1 clear); PARE|TIM: no keyboard answers */
    g_assert_cmphex(qtest_inb(s, 0x64), ==, 0xc0);
    qtest_outb(s, 0x64, 0xfe);
    ev = qtest_qmp_eventwait_ref(s, "SHUTDOWN");
    g_assert_cmpstr(qmp_get_str(json_object_get_object_member(qmp_obj(ev), "data"),
                                "reason"), ==, "guest-reset");
    json_node_unref(ev);
    g_assert_cmpint(qtest_wait_exit(s, 10000), ==, 0);
    qtest_quit(s);
}

static void test_system_reset_clears_pm(void)
{
    QTestState *s = qtest_init("");

    qtest_outw(s, PM1_EN, PWRBTN);
    qtest_qmp_assert_success(s, "{'execute': 'system_powerdown'}");
    g_assert_cmphex(qtest_inw(s, PM1_STS), ==, PWRBTN);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    g_assert_cmphex(qtest_inw(s, PM1_STS), ==, 0);
    g_assert_cmphex(qtest_inw(s, PM1_EN), ==, 0);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pm/powerdown-pwrbtn", test_powerdown_sets_pwrbtn);
    g_test_add_func("/pm/s5-shutdown", test_s5_shutdown);
    g_test_add_func("/pm/i8042-reset", test_i8042_reset);
    g_test_add_func("/pm/system-reset", test_system_reset_clears_pm);
    return g_test_run();
}
