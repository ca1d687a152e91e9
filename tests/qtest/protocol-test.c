/*
 * qtest line protocol conformance: every command, its exact reply format,
 * and the error replies (qemu-reference.md §3.2).
 */
#include <string.h>
#include "qtest.h"

#define RAM_ADDR 0x200000ULL            /* inside microvm's default 256 MiB */
#define PAST_RAM 0x80000000ULL          /* hole between RAM and MMIO */

static QTestState *qts;

static void check(const char *req, const char *expected)
{
    g_autofree char *r = qtest_cmd(qts, "%s", req);

    if (strcmp(r, expected) != 0) {
        g_error("'%s': expected '%s', got '%s'", req, expected, r);
    }
}

static void check_prefix(const char *req, const char *prefix)
{
    g_autofree char *r = qtest_cmd(qts, "%s", req);

    if (!g_str_has_prefix(r, prefix)) {
        g_error("'%s': expected '%s...', got '%s'", req, prefix, r);
    }
}

static void test_endianness(void)
{
    check("endianness", "OK little");
}

static void test_pio(void)
{
    /* Unassigned ports read all-ones, formatted %04x. */
    check("inb 0x5000", "OK 0x00ff");
    check("inw 0x5000", "OK 0xffff");
    check("inl 0x5000", "OK 0xffffffff");
    check("outb 0x5000 0x12", "OK");
    check("outw 0x5000 0x1234", "OK");
    check("outl 0x5000 0x12345678", "OK");
    /* A real device: the PM1a enable register (PIO 0x602) is read/write. */
    check("outw 0x602 0x100", "OK");
    check("inw 0x602", "OK 0x0100");
    check("inb 0x603", "OK 0x0001");
    check("outw 0x602 0x0", "OK");
    check("inw 0x602", "OK 0x0000");
    /* Decimal arguments are accepted too (strtoul base 0). */
    check("outw 1538 256", "OK");
    check("inw 1538", "OK 0x0100");
    check("outw 1538 0", "OK");
}

static void test_mem_sized(void)
{
    check("writeq 0x200000 0x0", "OK");
    check("writel 0x200000 0xdeadbeef", "OK");
    check("readl 0x200000", "OK 0x00000000deadbeef");
    check("readb 0x200000", "OK 0x00000000000000ef");
    check("readw 0x200002", "OK 0x000000000000dead");
    check("readq 0x200000", "OK 0x00000000deadbeef");
    check("read 0x200000 8", "OK 0xefbeadde00000000");
    check("b64read 0x200000 8", "OK 776t3gAAAAA=");
    check("writeb 0x200007 0x80", "OK");
    check("writew 0x200004 0x1234", "OK");
    check("readq 0x200000", "OK 0x80001234deadbeef");
    check("writeq 0x200008 0x0123456789abcdef", "OK");
    check("readq 0x200008", "OK 0x0123456789abcdef");
    check("readl 0x20000c", "OK 0x0000000001234567");
    /* Values wider than the access are truncated. */
    check("writeb 0x200010 0x1ff", "OK");
    check("readb 0x200010", "OK 0x00000000000000ff");
}

static void test_mem_bulk(void)
{
    uint8_t buf[300], back[300];

    for (unsigned i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(i * 7 + 3);
    }
    qtest_memwrite(qts, RAM_ADDR + 0x1000, buf, sizeof(buf));
    qtest_memread(qts, RAM_ADDR + 0x1000, back, sizeof(back));
    g_assert_cmpmem(buf, sizeof(buf), back, sizeof(back));
    memset(back, 0, sizeof(back));
    qtest_bufread(qts, RAM_ADDR + 0x1000, back, sizeof(back));
    g_assert_cmpmem(buf, sizeof(buf), back, sizeof(back));

    for (unsigned i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)~buf[i];
    }
    qtest_bufwrite(qts, RAM_ADDR + 0x2000, buf, sizeof(buf));
    qtest_memread(qts, RAM_ADDR + 0x2000, back, sizeof(back));
    g_assert_cmpmem(buf, sizeof(buf), back, sizeof(back));

    /* write: short hex data is zero-filled up to SIZE. */
    check("memset 0x203000 0x10 0xaa", "OK");
    check("write 0x203000 0x4 0x0102", "OK");
    check("read 0x203000 0x6", "OK 0x01020000aaaa");
    /* memset of 0 bytes is a no-op. */
    check("memset 0x203000 0 0x55", "OK");
    check("read 0x203000 1", "OK 0x01");
    /* b64write shorter than SIZE writes what it has. */
    check("b64write 0x203008 0x4 AQI=", "OK");
    check("read 0x203008 0x4", "OK 0x0102aaaa");
    /* Uppercase hex is fine. */
    check("write 0x203000 2 0xABCD", "OK");
    check("read 0x203000 2", "OK 0xabcd");
}

static void test_errors(void)
{
    check("bogus", "FAIL Unknown command 'bogus'");
    check("bogus 1 2 3", "FAIL Unknown command 'bogus'");
    check("inq 0x10", "FAIL Unknown command 'inq'");
    check("outq 0x10 0x1", "FAIL Unknown command 'outq'");
    check("readx 0x10", "FAIL Unknown command 'readx'");
    check("INB 0x10", "FAIL Unknown command 'INB'");
    /* Missing and malformed arguments. */
    check_prefix("inb", "FAIL ");
    check_prefix("outb 0x10", "FAIL ");
    check_prefix("inb zz", "FAIL ");
    check_prefix("inb 0x10q", "FAIL ");
    check_prefix("inb -1", "FAIL ");
    check_prefix("outb 0x10000 0x1", "FAIL ");
    check_prefix("readl", "FAIL ");
    check_prefix("writel 0x1000", "FAIL ");
    check_prefix("writel 0x1000 junk", "FAIL ");
    check_prefix("read 0x1000", "FAIL ");
    check_prefix("read 0x1000 0", "FAIL ");
    check_prefix("write 0x1000 4", "FAIL ");
    check_prefix("write 0x1000 4 0x12zz", "FAIL ");
    check_prefix("write 0x1000 4 1234", "FAIL ");
    check_prefix("memset 0x1000 4", "FAIL ");
    check_prefix("b64read 0x1000", "FAIL ");
    check_prefix("read 0x1000 0x7fffffffffff", "FAIL ");
    /* "ERR invalid argument size" for tiny data words, as QEMU. */
    check("write 0x1000 4 0x", "ERR invalid argument size");
    check("b64write 0x1000 4 AA", "ERR invalid argument size");
    /* Double spaces make empty words. */
    check_prefix("inb  0x10", "FAIL ");
    /* Out-of-range memory for bulk commands. */
    check_prefix("read 0x80000000 4", "FAIL ");
    check_prefix("write 0x80000000 4 0x01020304", "FAIL ");
    check_prefix("b64read 0x80000000 4", "FAIL ");
    check_prefix("b64write 0x80000000 4 AQIDBA==", "FAIL ");
    check_prefix("memset 0x80000000 4 0", "FAIL ");
    check_prefix("read 0xfffffffffffffff0 0x20", "FAIL ");
    /* Straddling the end of RAM (256 MiB). */
    check_prefix("read 0xffffffc 8", "FAIL ");
    /* A single sized access to unassigned memory reads 0, as QEMU's microvm. */
    check("readl 0x80000000", "OK 0x0000000000000000");
    check("writel 0x80000000 0x1", "OK");
    /* The connection still works after all of that. */
    check("endianness", "OK little");
}

static void test_pipelined(void)
{
    g_autofree char *a = NULL, *b = NULL, *c = NULL;

    /* Several requests in one write, and one request split over writes. */
    qtest_send_raw(qts, "writel 0x204000 0x11223344\nreadl 0x204000\nendia");
    a = qtest_recv_line(qts);
    b = qtest_recv_line(qts);
    g_assert_cmpstr(a, ==, "OK");
    g_assert_cmpstr(b, ==, "OK 0x0000000011223344");
    qtest_send_raw(qts, "nness\r\n");
    c = qtest_recv_line(qts);
    g_assert_cmpstr(c, ==, "OK little");
    /* Blank lines are answered as an unknown word (issue 16: QEMU answers FAIL). */
    qtest_send_raw(qts, "\n\nendianness\n");
    for (int i = 0; i < 2; i++) {
        g_free(c);
        c = qtest_recv_line(qts);
        g_assert_cmpstr(c, ==, "FAIL Unknown command ''");
    }
    g_free(c);
    c = qtest_recv_line(qts);
    g_assert_cmpstr(c, ==, "OK little");
}

static void test_clock(void)
{
    g_autofree char *r = NULL, *now = NULL;

    /* No device arms a timer on an idle microvm: QEMU 7.2 answers OK <now>, no move. */
    r = qtest_cmd(qts, "clock_step");
    g_assert_true(g_str_has_prefix(r, "OK "));
    now = qtest_cmd(qts, "clock_set 0");      /* the past: also OK <now> */
    g_assert_cmpstr(r, ==, now);
}

static void test_clock_values(void)
{
    g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL;
    int64_t now;

    /* The virtual clock starts at 0 and only moves when told. */
    now = qtest_clock_step(qts, 1000);
    g_assert_cmpint(now, ==, 1000);
    now = qtest_clock_step(qts, 500);
    g_assert_cmpint(now, ==, 1500);
    now = qtest_clock_set(qts, 100000);
    g_assert_cmpint(now, ==, 100000);
    r1 = qtest_cmd(qts, "clock_set 50");            /* the past: OK <now>, no move */
    g_assert_cmpstr(r1, ==, "OK 100000");
    r2 = qtest_cmd(qts, "clock_set 100000");
    g_assert_cmpstr(r2, ==, "OK 100000");
    r3 = qtest_cmd(qts, "clock_step 0");
    g_assert_cmpstr(r3, ==, "FAIL could not advance time");
    r4 = qtest_cmd(qts, "clock_step -5");
    g_assert_true(g_str_has_prefix(r4, "FAIL "));
    r5 = qtest_cmd(qts, "clock_set");
    g_assert_true(g_str_has_prefix(r5, "FAIL "));
    now = qtest_clock_step(qts, 0x10);
    g_assert_cmpint(now, ==, 100016);
}

static void test_irq_commands(void)
{
    g_autofree char *r = NULL;

    /* Interception starts off: set_irq_in changes no reported level. */
    qtest_set_irq_in(qts, "ioapic", "unnamed-gpio-in", 7, 1);
    g_assert_false(qtest_get_irq(qts, 7));
    qtest_set_irq_in(qts, "ioapic", "unnamed-gpio-in", 7, 0);

    qtest_irq_intercept_in(qts, "ioapic");
    qtest_irq_intercept_in(qts, "ioapic");     /* same device again: OK */
    r = qtest_cmd(qts, "irq_intercept_out /machine/other");
    g_assert_cmpstr(r, ==, "FAIL IRQ intercept already enabled");
    g_free(r);
    r = qtest_cmd(qts, "irq_intercept_in");
    g_assert_true(g_str_has_prefix(r, "FAIL "));

    qtest_set_irq_in(qts, "ioapic", "unnamed-gpio-in", 7, 1);
    g_assert_true(qtest_get_irq(qts, 7));
    g_assert_cmpuint(qtest_irq_raise_count(qts, 7), ==, 1);
    /* Same level again: no new line. */
    qtest_set_irq_in(qts, "ioapic", "unnamed-gpio-in", 7, 5);
    g_assert_cmpuint(qtest_irq_raise_count(qts, 7), ==, 1);
    qtest_set_irq_in(qts, "ioapic", "unnamed-gpio-in", 7, 0);
    g_assert_false(qtest_get_irq(qts, 7));

    /* The raw lines come before the reply. */
    qtest_send_raw(qts, "set_irq_in ioapic unnamed-gpio-in 3 1\n");
    g_free(r);
    r = qtest_recv_line(qts);
    g_assert_cmpstr(r, ==, "OK");
    g_assert_true(qtest_get_irq(qts, 3));
    qtest_set_irq_in(qts, "ioapic", "unnamed-gpio-in", 3, 0);

    g_free(r);
    r = qtest_cmd(qts, "set_irq_in ioapic unnamed-gpio-in 9999 1");
    g_assert_true(g_str_has_prefix(r, "FAIL "));
    g_free(r);
    r = qtest_cmd(qts, "set_irq_in ioapic unnamed-gpio-in");
    g_assert_true(g_str_has_prefix(r, "FAIL "));
    g_free(r);
    r = qtest_cmd(qts, "module_load foo bar");
    g_assert_true(g_str_has_prefix(r, "FAIL"));
}

static void test_mmio_dispatch(void)
{
    /* virtio-mmio slot 0 answers through the MMIO bus: magic "virt". */
    g_assert_cmphex(qtest_readl(qts, 0xF0100000), ==, 0x74726976);
    /* Bulk reads may cover MMIO registers too (byte accesses). */
    check_prefix("read 0xf0100000 4", "OK ");
}

/*
 * Regression: replies larger than the chardev's 1 MiB output queue lost their
 * oldest bytes when the harness was slower than the VMM, so big read/b64read
 * replies arrived corrupted. Every byte must arrive.
 */
static void test_large_replies(void)
{
    enum { N = 4 << 20 };
    g_autofree char *r = NULL;
    g_autofree char *expect = NULL;
    g_autofree uint8_t *data = g_malloc(N);

    check("memset 0x200000 0x400000 0x5a", "OK");
    r = qtest_cmd(qts, "b64read 0x200000 0x%x", N);
    memset(data, 0x5a, N);
    expect = g_base64_encode(data, N);
    g_assert_cmpuint(strlen(r), ==, 3 + strlen(expect));
    g_assert_true(strncmp(r, "OK ", 3) == 0 && strcmp(r + 3, expect) == 0);
    g_free(r);
    r = qtest_cmd(qts, "read 0x200000 0x%x", N / 2);
    g_assert_cmpuint(strlen(r), ==, 5 + N);
    g_assert_true(strncmp(r, "OK 0x", 5) == 0);
    for (size_t i = 5; i < 5 + (size_t)N; i += 2) {
        g_assert_true(r[i] == '5' && r[i + 1] == 'a');
    }
}

/*
 * Regression: the input buffer was rescanned for '\n' from its start after
 * every 4 KiB read, so one long line cost O(n^2): a 64 MiB b64write took
 * minutes. No wall-clock assert (it failed on busy hosts): the quadratic
 * scan would run past this program's meson timeout (180 s), a linear one
 * takes about a second.
 */
static void test_long_line(void)
{
    enum { N = 64 << 20 };
    g_autofree uint8_t *data = g_malloc(N);
    g_autofree char *enc = NULL;
    g_autofree char *r = NULL;

    for (size_t i = 0; i < N; i++) {
        data[i] = (uint8_t)(i * 7 + (i >> 12));
    }
    enc = g_base64_encode(data, N);
    r = qtest_cmd(qts, "b64write 0x200000 0x%x %s", N, enc);
    g_assert_cmpstr(r, ==, "OK");
    g_assert_cmphex(qtest_readq(qts, 0x200000 + 0x123458), ==,
                    GUINT64_FROM_LE(*(uint64_t *)(data + 0x123458)));
    g_assert_cmphex(qtest_readq(qts, 0x200000 + N - 8), ==,
                    GUINT64_FROM_LE(*(uint64_t *)(data + N - 8)));
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    qts = qtest_init("");
    g_test_add_func("/protocol/endianness", test_endianness);
    g_test_add_func("/protocol/pio", test_pio);
    g_test_add_func("/protocol/mem-sized", test_mem_sized);
    g_test_add_func("/protocol/mem-bulk", test_mem_bulk);
    g_test_add_func("/protocol/errors", test_errors);
    g_test_add_func("/protocol/pipelined", test_pipelined);
    g_test_add_func("/protocol/clock-no-deadline", test_clock);
    g_test_add_func("/protocol/clock-values", test_clock_values);
    g_test_add_func("/protocol/irq", test_irq_commands);
    g_test_add_func("/protocol/mmio-dispatch", test_mmio_dispatch);
    g_test_add_func("/protocol/large-replies", test_large_replies);
    g_test_add_func("/protocol/long-line", test_long_line);
    ret = g_test_run();
    qtest_quit(qts);
    return ret;
}
