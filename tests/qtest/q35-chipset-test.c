/*
 * q35's chipset registers (src/hw/x86/q35-chipset.c, docs/q35.md "Chipset
 * registers"), register by register: the ICH9 LPC function 00:1f.0 and its
 * PMBASE / ACPI_CNTL placing the PM1 blocks and the ACPI PM timer (counted
 * against the qtest clock), the PIRQ routing and RCBA masks, the MCH's
 * PCIEXBAR, PAM and SMRAM registers, the reset control register 0xCF9, and
 * power-on values with and without firmware, again after system_reset.
 */
#include <unistd.h>

#include "qtest.h"

#define CF8 0xcf8
#define CFC 0xcfc
#define LPC 0x1f
#define PM_TIMER_HZ 3579545

static uint32_t cfg_read(QTestState *s, unsigned dev, unsigned reg, unsigned len)
{
    qtest_outl(s, CF8, 0x80000000u | dev << 11 | (reg & 0xfc));
    return len == 4 ? qtest_inl(s, CFC) : len == 2 ? qtest_inw(s, CFC + (reg & 2))
                                                   : qtest_inb(s, CFC + (reg & 3));
}

static void cfg_write(QTestState *s, unsigned dev, unsigned reg, uint32_t v, unsigned len)
{
    qtest_outl(s, CF8, 0x80000000u | dev << 11 | (reg & 0xfc));
    if (len == 4) {
        qtest_outl(s, CFC, v);
    } else if (len == 2) {
        qtest_outw(s, CFC + (reg & 2), (uint16_t)v);
    } else {
        qtest_outb(s, CFC + (reg & 3), (uint8_t)v);
    }
}

static uint32_t timer(QTestState *s, uint16_t base)
{
    return qtest_inl(s, base + 8);
}

/* PM1_EN (base + 2) is read/write: the block decodes at base iff it reads back. */
static bool pm_at(QTestState *s, uint16_t base)
{
    qtest_outw(s, base + 2, 0x0100);
    return qtest_inw(s, base + 2) == 0x0100;
}

static void test_lpc_identity(void)
{
    QTestState *s = qtest_init("-machine q35");

    g_assert_cmphex(cfg_read(s, LPC, 0x00, 4), ==, 0x29188086);
    g_assert_cmphex(cfg_read(s, LPC, 0x08, 4), ==, 0x06010002);   /* ISA bridge, rev 2 */
    g_assert_cmphex(cfg_read(s, LPC, 0x0e, 1), ==, 0x80);         /* multi-function */
    g_assert_cmphex(cfg_read(s, LPC, 0x2c, 4), ==, 0x11001af4);
    /* PIRQ routing: disabled at power-on, IRQ bits and the disable bit writable */
    for (unsigned r = 0x60; r < 0x6c; r++) {
        if (r == 0x64) {
            r = 0x68;
        }
        g_assert_cmphex(cfg_read(s, LPC, r, 1), ==, 0x80);
    }
    cfg_write(s, LPC, 0x61, 0xff, 1);
    g_assert_cmphex(cfg_read(s, LPC, 0x61, 1), ==, 0x8f);
    cfg_write(s, LPC, 0x6a, 0x0b, 1);
    g_assert_cmphex(cfg_read(s, LPC, 0x6a, 1), ==, 0x0b);
    /* RCBA: base 31:14 and the enable bit */
    cfg_write(s, LPC, 0xf0, 0xfed1ffff, 4);
    g_assert_cmphex(cfg_read(s, LPC, 0xf0, 4), ==, 0xfed1c001);
    qtest_quit(s);
}

/* Direct boot: as firmware leaves it, the PM block at 0x600 and ACPI on. */
static void test_pm_block_and_timer(void)
{
    QTestState *s = qtest_init("-machine q35");
    uint32_t t0, t1;

    g_assert_cmphex(cfg_read(s, LPC, 0x40, 4), ==, 0x601);
    g_assert_cmphex(cfg_read(s, LPC, 0x44, 1), ==, 0x80);
    g_assert_true(pm_at(s, 0x600));
    /* 3.579545 MHz, 24 bits, against the machine clock */
    t0 = timer(s, 0x600);
    qtest_clock_step(s, 1000000000);
    t1 = timer(s, 0x600);
    g_assert_cmphex(t0 >> 24, ==, 0);
    g_assert_cmpuint((t1 - t0) & 0xffffff, ==, PM_TIMER_HZ);
    qtest_clock_step(s, 1000);
    g_assert_cmpuint((timer(s, 0x600) - t1) & 0xffffff, ==, 3);  /* 3.58 ticks per us */
    qtest_outl(s, 0x608, 0);                                       /* read-only */
    g_assert_cmpuint((timer(s, 0x600) - t1) & 0xffffff, ==, 3);
    /* PMBASE moves the block (bits 15:7; bit 0 reads 1) */
    cfg_write(s, LPC, 0x40, 0xb0ff, 4);
    g_assert_cmphex(cfg_read(s, LPC, 0x40, 4), ==, 0xb081);
    g_assert_true(pm_at(s, 0xb080));
    g_assert_cmphex(qtest_inw(s, 0x602), ==, 0xffff);
    g_assert_cmpuint((timer(s, 0xb080) - t1) & 0xffffff, ==, 3);
    /* ACPI_EN clear: it decodes nowhere */
    cfg_write(s, LPC, 0x44, 0x00, 1);
    g_assert_cmphex(qtest_inw(s, 0xb082), ==, 0xffff);
    g_assert_cmphex(qtest_inl(s, 0xb088), ==, 0xffffffff);
    /* enabled again somewhere else */
    cfg_write(s, LPC, 0x40, 0x0c80, 4);
    cfg_write(s, LPC, 0x44, 0x80, 1);
    g_assert_true(pm_at(s, 0xc80));
    /* system_reset: back where firmware leaves it */
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    g_assert_cmphex(cfg_read(s, LPC, 0x40, 4), ==, 0x601);
    g_assert_true(pm_at(s, 0x600));
    g_assert_cmphex(qtest_inw(s, 0xc82), ==, 0xffff);
    qtest_quit(s);
}

/* Firmware boot: power-on values, and the firmware's own programming. */
static void test_firmware_power_on(void)
{
    g_autofree char *code = qtest_blank_flash_image(65536);
    QTestState *s;

    s = qtest_initf("-machine q35 -drive if=pflash,format=raw,readonly=on,file=%s", code);
    g_assert_cmphex(cfg_read(s, LPC, 0x40, 4), ==, 0x1);
    g_assert_cmphex(cfg_read(s, LPC, 0x44, 1), ==, 0x00);
    g_assert_cmphex(qtest_inw(s, 0x602), ==, 0xffff);
    /* What OVMF's PlatformPei writes */
    cfg_write(s, LPC, 0x40, 0x600, 4);
    cfg_write(s, LPC, 0x44, cfg_read(s, LPC, 0x44, 1) | 0x80, 1);
    g_assert_true(pm_at(s, 0x600));
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    g_assert_cmphex(qtest_inw(s, 0x602), ==, 0xffff);
    qtest_quit(s);
    unlink(code);
}

static void test_mch_registers(void)
{
    QTestState *s = qtest_init("-machine q35");

    g_assert_cmphex(cfg_read(s, 0, 0x60, 4), ==, 0xb0000001);     /* PCIEXBAR */
    g_assert_cmphex(cfg_read(s, 0, 0x64, 4), ==, 0);
    cfg_write(s, 0, 0x64, 0, 4);                                   /* OVMF's writes */
    cfg_write(s, 0, 0x60, 0xb0000001, 4);
    g_assert_cmphex(cfg_read(s, 0, 0x60, 4), ==, 0xb0000001);
    g_assert_cmphex(qtest_readl(s, 0xb0000000), ==, 0x29c08086);   /* ECAM decodes */
    /* a different base is stored (and logged) but ECAM stays */
    cfg_write(s, 0, 0x60, 0xe0000001, 4);
    g_assert_cmphex(cfg_read(s, 0, 0x60, 4), ==, 0xe0000001);
    g_assert_cmphex(qtest_readl(s, 0xb0000000), ==, 0x29c08086);
    /* PAM0 has only its high half; PAM1-6 both */
    for (unsigned r = 0x90; r <= 0x96; r++) {
        g_assert_cmphex(cfg_read(s, 0, r, 1), ==, 0);
        cfg_write(s, 0, r, 0xff, 1);
        g_assert_cmphex(cfg_read(s, 0, r, 1), ==, r == 0x90 ? 0x30 : 0x33);
    }
    g_assert_cmphex(cfg_read(s, 0, 0x9d, 1), ==, 0x02);           /* SMRAM */
    g_assert_cmphex(cfg_read(s, 0, 0x9e, 1), ==, 0x38);           /* ESMRAMC */
    cfg_write(s, 0, 0x9d, 0xff, 1);
    g_assert_cmphex(cfg_read(s, 0, 0x9d, 1), ==, 0x7a);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    g_assert_cmphex(cfg_read(s, 0, 0x60, 4), ==, 0xb0000001);
    g_assert_cmphex(cfg_read(s, 0, 0x93, 1), ==, 0);
    g_assert_cmphex(cfg_read(s, 0, 0x9d, 1), ==, 0x02);
    qtest_quit(s);
}

static void test_reset_control(void)
{
    QTestState *s = qtest_init("-machine q35");

    g_assert_cmphex(qtest_inb(s, 0xcf9), ==, 0);
    qtest_outb(s, 0xcf9, 0x0a);                   /* FULL_RST | SYS_RST: stored, no reset */
    g_assert_cmphex(qtest_inb(s, 0xcf9), ==, 0x0a);
    g_assert_null(qtest_qmp_event_ref(s, "RESET"));
    /* CF8 keeps its dword latch beside it */
    qtest_outl(s, CF8, 0x80000000);
    g_assert_cmphex(qtest_inl(s, CF8), ==, 0x80000000);
    g_assert_cmphex(qtest_inb(s, 0xcf9), ==, 0x0a);
    qtest_outb(s, 0xcf9, 0x06);                   /* RST_CPU: the guest's reset */
    qtest_qmp_eventwait(s, "RESET");
    g_assert_cmphex(qtest_inb(s, 0xcf9), ==, 0);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/q35-chipset/lpc-identity", test_lpc_identity);
    g_test_add_func("/q35-chipset/pm-block-and-timer", test_pm_block_and_timer);
    g_test_add_func("/q35-chipset/firmware-power-on", test_firmware_power_on);
    g_test_add_func("/q35-chipset/mch-registers", test_mch_registers);
    g_test_add_func("/q35-chipset/reset-control", test_reset_control);
    return g_test_run();
}
