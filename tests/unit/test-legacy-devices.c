/*
 * The MC146818 RTC and fw_cfg_io in-process (src/hw/rtc/mc146818rtc.c,
 * src/hw/nvram/fw_cfg.c): register logic on a qtest machine whose virtual
 * clock the test moves directly, the RTC's saved state carrying a running
 * clock and a stopped one across a restore, and fw_cfg DMA writes reaching a
 * live migration's dirty log.
 */
#include <string.h>

#include "config.h"
#include "hw/device.h"
#include "hw/nvram/fw_cfg.h"
#include "hw/rtc/mc146818rtc.h"
#include "machine.h"
#include "pio-test.h"
#include "util/clock.h"

#define NS 1000000000LL

static Machine *vm(const char *extra1, const char *extra2)
{
    const char *argv[] = { "stratus", "-accel", "qtest", "-rtc", "clock=vm", extra1, extra2,
                           NULL };
    int argc = extra1 ? (extra2 ? 7 : 6) : 5;
    g_autoptr(GError) err = NULL;
    StratusConfig *cfg = config_parse(argc, (char **)argv, &err);
    Machine *m;

    g_assert_no_error(err);
    m = machine_new(cfg, &err);
    g_assert_no_error(err);
    machine_lock(m);
    return m;
}

static void done(Machine *m)
{
    machine_unlock(m);
    machine_free(m);
}

static Device *find(Machine *m, const char *type)
{
    GPtrArray *devs = machine_devices(m);

    for (guint i = 0; i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        if (!strcmp(d->klass->name, type)) {
            return d;
        }
    }
    return NULL;
}

static uint8_t rd(Machine *m, uint8_t reg)
{
    test_pio_outb(&m->pio, 0x70, reg);
    return test_pio_inb(&m->pio, 0x71);
}

static void wr(Machine *m, uint8_t reg, uint8_t v)
{
    test_pio_outb(&m->pio, 0x70, reg);
    test_pio_outb(&m->pio, 0x71, v);
}

static void step(Machine *m, int64_t ns)
{
    machine_clock_advance_to(m->clock, machine_clock_ns(m->clock) + ns);
}

/* 2000-01-01 23:59:59 in binary 24-hour mode, via a divider reset. */
static void set_y2k_eve(Machine *m)
{
    wr(m, RTC_REG_B, RTC_REG_B_24H | RTC_REG_B_DM);
    wr(m, RTC_REG_A, 0x70);
    wr(m, RTC_CENTURY, 20);
    wr(m, RTC_YEAR, 0);
    wr(m, RTC_MONTH, 12);
    wr(m, RTC_DAY_OF_MONTH, 31);
    wr(m, RTC_HOURS, 23);
    wr(m, RTC_MINUTES, 59);
    wr(m, RTC_SECONDS, 59);
    wr(m, RTC_REG_A, 0x26);
}

static void test_rtc_rollover(void)
{
    Machine *m = vm(NULL, NULL);
    Device *rtc = find(m, "mc146818rtc");

    g_assert_nonnull(rtc);
    set_y2k_eve(m);
    /* 2000-12-31 23:59:59.5 UTC */
    g_assert_cmpint(mc146818rtc_guest_seconds(rtc), ==, 978307199);
    step(m, NS);
    g_assert_cmpuint(rd(m, RTC_YEAR), ==, 1);
    g_assert_cmpuint(rd(m, RTC_MONTH), ==, 1);
    g_assert_cmpuint(rd(m, RTC_DAY_OF_MONTH), ==, 1);
    g_assert_cmpuint(rd(m, RTC_HOURS), ==, 0);
    /* 2001-01-01 was a Monday: day of week 2 (1 = Sunday). */
    g_assert_cmpuint(rd(m, RTC_DAY_OF_WEEK), ==, 2);
    /* The flags without the interrupt; the alarm registers are 0, so midnight matches. */
    g_assert_cmphex(rd(m, RTC_REG_C), ==, RTC_REG_C_UF | RTC_REG_C_AF);
    done(m);
}

/* A saved running clock resumes at the saved time; a stopped one stays stopped. */
static void test_rtc_state(void)
{
    Machine *m = vm(NULL, NULL);
    Device *rtc = find(m, "mc146818rtc");
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    Machine *m2;
    Device *rtc2;

    set_y2k_eve(m);
    wr(m, 0x40, 0xab);
    g_assert_true(device_save_state(rtc, a, &err));
    m2 = vm(NULL, NULL);
    rtc2 = find(m2, "mc146818rtc");
    step(m2, 100 * NS);      /* the destination's clock is elsewhere */
    g_assert_true(device_load_state(rtc2, a->data, a->len, &err));
    g_assert_no_error(err);
    g_assert_cmpint(mc146818rtc_guest_seconds(rtc2), ==, 978307199);
    g_assert_cmphex(rd(m2, 0x40), ==, 0xab);
    step(m2, NS);
    g_assert_cmpint(mc146818rtc_guest_seconds(rtc2), ==, 978307200);
    /* Stopped with SET: the written registers come back and stay. */
    wr(m2, RTC_REG_B, RTC_REG_B_SET | RTC_REG_B_24H | RTC_REG_B_DM);
    wr(m2, RTC_MINUTES, 33);
    g_byte_array_set_size(a, 0);
    g_assert_true(device_save_state(rtc2, a, &err));
    g_assert_true(device_load_state(rtc, a->data, a->len, &err));
    step(m, 5 * NS);
    g_assert_cmpuint(rd(m, RTC_MINUTES), ==, 33);
    g_assert_cmphex(rd(m, RTC_REG_B), ==, RTC_REG_B_SET | RTC_REG_B_24H | RTC_REG_B_DM);
    done(m2);
    done(m);
}

static void test_fw_cfg_items(void)
{
    Machine *m = vm("-fw_cfg", "name=opt/x,string=abc");
    Device *fw = find(m, "fw_cfg_io");
    g_autoptr(GError) err = NULL;
    uint8_t b[4] = { 0 };
    uint16_t key = GUINT16_TO_LE(0x00);

    g_assert_nonnull(fw);
    g_assert_true(iobus_write(&m->pio, 0x510, &key, 2));
    for (int i = 0; i < 4; i++) {
        b[i] = test_pio_inb(&m->pio, 0x511);
    }
    g_assert_cmpmem(b, 4, "QEMU", 4);
    /* Board additions: a duplicate and an over-long name are refused. */
    g_assert_false(fw_cfg_add_file(fw, "opt/x", "y", 1, &err));
    g_assert_cmpstr(err->message, ==, "duplicate fw_cfg file name: opt/x");
    g_clear_error(&err);
    g_assert_false(fw_cfg_add_file(fw, "opt/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                   "y", 1, &err));
    g_assert_nonnull(strstr(err->message, "too long"));
    g_clear_error(&err);
    /* Slots run out at 32 (four are taken: bootorder, etc/boot-fail-wait, etc/e820, opt/x). */
    for (int i = 0; i < 28; i++) {
        g_autofree char *n = g_strdup_printf("opt/f%02d", i);
        g_assert_true(fw_cfg_add_file(fw, n, "z", 1, &err));
    }
    g_assert_false(fw_cfg_add_file(fw, "opt/one-more", "z", 1, &err));
    g_assert_nonnull(strstr(err->message, "no file slot left"));
    done(m);
}

/*
 * A DMA read during a live migration (ram.dma_log set): the destination
 * buffer's pages and the descriptor's (its control word is written back)
 * are marked, nothing else: the vCPUs never stored there.
 */
static void test_fw_cfg_dma_marks_dirty(void)
{
    Machine *m = vm(NULL, NULL);
    const uint64_t desc = 0x10000, buf = 0x21ff0;     /* the buffer crosses a page */
    uint8_t d[16], got[32];
    uint32_t control = GUINT32_TO_BE(FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);
    uint32_t len = GUINT32_TO_BE(32), hi = 0, lo = GUINT32_SWAP_LE_BE((uint32_t)desc);
    uint64_t addr = GUINT64_TO_BE(buf);
    DirtyBitmap *log = dirty_bitmap_new(&m->ram);

    memcpy(d, &control, 4);            /* key 0: the signature */
    memcpy(d + 4, &len, 4);
    memcpy(d + 8, &addr, 8);
    g_assert_true(guest_ram_write(&m->ram, desc, d, sizeof(d)));
    m->ram.dma_log = log;
    g_assert_true(iobus_write(&m->pio, 0x514, &hi, 4));
    g_assert_true(iobus_write(&m->pio, 0x518, &lo, 4));
    g_assert_true(guest_ram_read(&m->ram, buf, got, 4));
    g_assert_cmpmem(got, 4, "QEMU", 4);
    g_assert_true(guest_ram_read(&m->ram, desc, &control, 4));
    g_assert_cmpuint(control, ==, 0);                 /* done, no error */
    g_assert_cmpuint(dirty_bitmap_count(log), ==, 3);
    g_assert_true(dirty_bitmap_test(log, desc));
    g_assert_true(dirty_bitmap_test(log, 0x21000));
    g_assert_true(dirty_bitmap_test(log, 0x22000));
    m->ram.dma_log = NULL;
    dirty_bitmap_free(log);
    done(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/legacy/rtc/rollover", test_rtc_rollover);
    g_test_add_func("/legacy/rtc/state", test_rtc_state);
    g_test_add_func("/legacy/fw_cfg/items", test_fw_cfg_items);
    g_test_add_func("/legacy/fw_cfg/dma-marks-dirty", test_fw_cfg_dma_marks_dirty);
    return g_test_run();
}
