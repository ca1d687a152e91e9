/*
 * 16550A UART (COM1, PIO 0x3f8, GSI 4): registers, LSR/IIR, THRE and RX
 * interrupts, loopback, and data both ways through a -serial socket chardev;
 * COM1 with -serial null and by default under qtest, none with -serial none,
 * and the boot-time marker port either way.
 */
#include <string.h>
#include <unistd.h>
#include "qtest.h"

#define B QTEST_COM1
#define RBR (B + 0)
#define THR (B + 0)
#define DLL (B + 0)
#define IER (B + 1)
#define DLM (B + 1)
#define IIR (B + 2)
#define FCR (B + 2)
#define LCR (B + 3)
#define MCR (B + 4)
#define LSR (B + 5)
#define MSR (B + 6)
#define SCR (B + 7)
#define GSI 4

typedef struct {
    QTestState *qts;
    char *path;
    int listen_fd;
    int fd;              /* our end of the serial line */
} SerialFixture;

/* Starts stratus with COM1 connected to a socket we listen on. */
static void setup(SerialFixture *f)
{
    f->path = qtest_tmp_path("serial.sock");
    f->listen_fd = qtest_socket_server(f->path);
    f->qts = qtest_initf("-serial socket,path=%s", f->path);
    f->fd = qtest_socket_accept(f->listen_fd);
}

static void teardown(SerialFixture *f)
{
    qtest_quit(f->qts);
    close(f->fd);
    close(f->listen_fd);
    unlink(f->path);
    g_free(f->path);
}

static void test_reset_values(void)
{
    SerialFixture f;

    setup(&f);
    g_assert_cmphex(qtest_inb(f.qts, IER), ==, 0x00);
    g_assert_cmphex(qtest_inb(f.qts, IIR), ==, 0x01);     /* no interrupt, no FIFO */
    g_assert_cmphex(qtest_inb(f.qts, LCR), ==, 0x03);
    g_assert_cmphex(qtest_inb(f.qts, LSR), ==, 0x60);     /* THRE | TEMT */
    g_assert_cmphex(qtest_inb(f.qts, MSR) & 0xb0, ==, 0xb0);  /* DCD DSR CTS */
    g_assert_cmphex(qtest_inb(f.qts, SCR), ==, 0x00);
    teardown(&f);
}

static void test_registers(void)
{
    SerialFixture f;

    setup(&f);
    /* Divisor latch behind DLAB. */
    qtest_outb(f.qts, LCR, 0x83);
    qtest_outb(f.qts, DLL, 0x34);
    qtest_outb(f.qts, DLM, 0x12);
    g_assert_cmphex(qtest_inb(f.qts, DLL), ==, 0x34);
    g_assert_cmphex(qtest_inb(f.qts, DLM), ==, 0x12);
    qtest_outb(f.qts, LCR, 0x03);
    g_assert_cmphex(qtest_inb(f.qts, IER), ==, 0x00);     /* IER untouched */
    /* Scratch register. */
    qtest_outb(f.qts, SCR, 0xa5);
    g_assert_cmphex(qtest_inb(f.qts, SCR), ==, 0xa5);
    /* IER keeps its low nibble only. */
    qtest_outb(f.qts, IER, 0xff);
    g_assert_cmphex(qtest_inb(f.qts, IER), ==, 0x0f);
    qtest_outb(f.qts, IER, 0x00);
    /* FIFO enable shows in IIR bits 6-7. */
    qtest_outb(f.qts, FCR, 0x07);
    g_assert_cmphex(qtest_inb(f.qts, IIR) & 0xc0, ==, 0xc0);
    qtest_outb(f.qts, FCR, 0x00);
    g_assert_cmphex(qtest_inb(f.qts, IIR) & 0xc0, ==, 0x00);
    /* LSR is read-only. */
    qtest_outb(f.qts, LSR, 0x00);
    g_assert_cmphex(qtest_inb(f.qts, LSR), ==, 0x60);
    teardown(&f);
}

static void test_transmit(void)
{
    SerialFixture f;
    const char *msg = "hello, stratus\n";
    char buf[64] = { 0 };

    setup(&f);
    uart_init(f.qts, B);
    for (const char *p = msg; *p; p++) {
        uart_putc(f.qts, B, (uint8_t)*p);
    }
    g_assert_true(qtest_socket_read_exact(f.fd, buf, strlen(msg), 10000));
    g_assert_cmpstr(buf, ==, msg);
    teardown(&f);
}

static void test_receive(void)
{
    SerialFixture f;
    const char *msg = "input from the host";
    char got[64] = { 0 };

    setup(&f);
    uart_init(f.qts, B);
    g_assert_false(uart_rx_ready(f.qts, B));
    qtest_socket_write_all(f.fd, msg, strlen(msg));
    for (size_t i = 0; i < strlen(msg); i++) {
        int c = uart_getc(f.qts, B, 10000);
        g_assert_cmpint(c, >=, 0);
        got[i] = (char)c;
    }
    g_assert_cmpstr(got, ==, msg);
    g_assert_false(uart_rx_ready(f.qts, B));
    /* RBR with nothing received reads 0. */
    g_assert_cmphex(qtest_inb(f.qts, RBR), ==, 0x00);
    teardown(&f);
}

static void test_thre_interrupt(void)
{
    SerialFixture f;
    unsigned raises;

    setup(&f);
    uart_init(f.qts, B);
    qtest_irq_intercept_in(f.qts, "ioapic");
    g_assert_false(qtest_get_irq(f.qts, GSI));

    /* Enabling ETBEI with THR empty interrupts at once; IIR says THRI (0x02). */
    qtest_outb(f.qts, IER, 0x02);
    g_assert_true(qtest_get_irq(f.qts, GSI));
    g_assert_cmphex(qtest_inb(f.qts, IIR) & 0x0f, ==, 0x02);
    /* Reading IIR acknowledged it. */
    g_assert_false(qtest_get_irq(f.qts, GSI));
    g_assert_cmphex(qtest_inb(f.qts, IIR) & 0x0f, ==, 0x01);

    /* Every transmitted byte gives one more edge. */
    raises = qtest_irq_raise_count(f.qts, GSI);
    qtest_outb(f.qts, THR, 'x');
    qtest_outb(f.qts, THR, 'y');
    g_assert_cmpuint(qtest_irq_raise_count(f.qts, GSI), ==, raises + 2);
    g_assert_true(qtest_get_irq(f.qts, GSI));

    /* OUT2 gates the line (PC wiring). */
    qtest_outb(f.qts, MCR, 0x03);
    g_assert_false(qtest_get_irq(f.qts, GSI));
    qtest_outb(f.qts, MCR, 0x0b);
    g_assert_true(qtest_get_irq(f.qts, GSI));
    /* Disabling ETBEI drops it. */
    qtest_outb(f.qts, IER, 0x00);
    g_assert_false(qtest_get_irq(f.qts, GSI));
    teardown(&f);
}

static void test_rx_interrupt(void)
{
    SerialFixture f;
    int c;

    setup(&f);
    uart_init(f.qts, B);
    qtest_irq_intercept_in(f.qts, "ioapic");
    qtest_outb(f.qts, IER, 0x01);              /* ERBFI */
    g_assert_false(qtest_get_irq(f.qts, GSI));

    qtest_socket_write_all(f.fd, "Z", 1);
    for (int i = 0; i < 10000 && !qtest_get_irq(f.qts, GSI); i++) {
        g_usleep(1000);
    }
    g_assert_true(qtest_get_irq(f.qts, GSI));
    g_assert_cmphex(qtest_inb(f.qts, IIR) & 0x0f, ==, 0x04);
    g_assert_cmphex(qtest_inb(f.qts, LSR) & 0x01, ==, 0x01);
    c = qtest_inb(f.qts, RBR);
    g_assert_cmpint(c, ==, 'Z');
    g_assert_false(qtest_get_irq(f.qts, GSI));
    g_assert_cmphex(qtest_inb(f.qts, IIR) & 0x0f, ==, 0x01);
    teardown(&f);
}

static void test_loopback(void)
{
    SerialFixture f;
    char c;

    setup(&f);
    uart_init(f.qts, B);
    qtest_irq_intercept_in(f.qts, "ioapic");
    qtest_outb(f.qts, MCR, 0x1b);              /* LOOP | OUT2 | RTS | DTR */
    /* Modem outputs loop back to the inputs: RTS->CTS, DTR->DSR, OUT2->DCD. */
    g_assert_cmphex(qtest_inb(f.qts, MSR) & 0xf0, ==, 0xb0);
    qtest_outb(f.qts, MCR, 0x1c);              /* LOOP | OUT2 | OUT1 */
    g_assert_cmphex(qtest_inb(f.qts, MSR) & 0xf0, ==, 0xc0);  /* RI | DCD */

    qtest_outb(f.qts, IER, 0x01);
    qtest_outb(f.qts, THR, 'L');
    g_assert_true(qtest_get_irq(f.qts, GSI));
    g_assert_cmphex(qtest_inb(f.qts, LSR) & 0x61, ==, 0x61);
    g_assert_cmphex(qtest_inb(f.qts, IIR) & 0x0f, ==, 0x04);
    g_assert_cmphex(qtest_inb(f.qts, RBR), ==, 'L');
    g_assert_false(qtest_get_irq(f.qts, GSI));

    /* Nothing went out on the line, and input waits while in loopback. */
    qtest_socket_write_all(f.fd, "Q", 1);
    for (int i = 0; i < 20; i++) {
        g_assert_false(uart_rx_ready(f.qts, B));
        g_usleep(1000);
    }
    qtest_outb(f.qts, MCR, 0x0b);              /* leave loopback: input flows */
    g_assert_cmpint(uart_getc(f.qts, B, 10000), ==, 'Q');
    g_assert_false(qtest_socket_read_exact(f.fd, &c, 1, 100));
    teardown(&f);
}

static void test_overrun(void)
{
    SerialFixture f;
    char big[1100];
    uint8_t lsr = 0;

    setup(&f);
    uart_init(f.qts, B);
    memset(big, 'o', sizeof(big));
    qtest_socket_write_all(f.fd, big, sizeof(big));
    /* The receive buffer holds 1024 bytes; the rest waits in the socket. */
    for (int i = 0; i < 2000; i++) {
        lsr = qtest_inb(f.qts, LSR);
        if (lsr & 0x01) {
            break;
        }
        g_usleep(1000);
    }
    g_assert_cmphex(lsr & 0x01, ==, 0x01);
    for (size_t i = 0; i < sizeof(big); i++) {
        g_assert_cmpint(uart_getc(f.qts, B, 10000), ==, 'o');
    }
    g_assert_cmphex(qtest_inb(f.qts, LSR) & 0x02, ==, 0x00);   /* nothing lost */
    teardown(&f);
}

/* ---- COM1's existence: -serial null / none, and the qtest default ------- */

/* COM1 answers: reset values, a scratch register, output that never blocks. */
static void assert_com1_present(QTestState *s)
{
    g_assert_cmphex(qtest_inb(s, IIR), ==, 0x01);
    g_assert_cmphex(qtest_inb(s, LCR), ==, 0x03);
    g_assert_cmphex(qtest_inb(s, LSR), ==, 0x60);
    qtest_outb(s, SCR, 0x5a);
    g_assert_cmphex(qtest_inb(s, SCR), ==, 0x5a);
    uart_init(s, B);
    /* The null back end swallows output: THRE comes back at once. */
    for (int i = 0; i < 2000; i++) {
        uart_putc(s, B, (uint8_t)('a' + i % 26));
    }
    g_assert_cmphex(qtest_inb(s, LSR) & 0x60, ==, 0x60);
    /* ...and never has input. */
    g_usleep(20000);
    g_assert_false(uart_rx_ready(s, B));
}

/* No COM1: its ports read as unassigned I/O; 0x3FF is the PM block's. */
static void assert_com1_absent(QTestState *s)
{
    for (uint16_t port = B; port < B + 7; port++) {
        g_assert_cmphex(qtest_inb(s, port), ==, 0xff);
    }
    qtest_outb(s, SCR, 0x5a);
    g_assert_cmphex(qtest_inb(s, SCR), ==, 0x00);   /* the boot-time marker port */
}

/* "info qtree" lists an isa-serial exactly when COM1 exists. */
static bool qtree_has_serial(QTestState *s, const char **chardev)
{
    JsonNode *r = qtest_qmp(s, "{'execute': 'human-monitor-command', "
                               "'arguments': {'command-line': 'info qtree'}}");
    const char *text = json_node_get_string(json_object_get_member(qmp_obj(r), "return"));
    bool has = strstr(text, "dev: isa-serial") != NULL;
    if (chardev) {
        *chardev = strstr(text, "chardev = \"serial_chardev\"") ? "serial_chardev" : NULL;
    }
    json_node_unref(r);
    return has;
}

static void test_serial_null(void)
{
    QTestState *s = qtest_init("-serial null");
    const char *chr;

    assert_com1_present(s);
    g_assert_true(qtree_has_serial(s, &chr));
    g_assert_cmpstr(chr, ==, "serial_chardev");
    qtest_quit(s);

    s = qtest_init("-chardev null,id=nul -serial chardev:nul");
    assert_com1_present(s);
    qtest_quit(s);
}

/* QEMU gives a qtest machine a serial port even without -serial; so does Stratus. */
static void test_qtest_default_com1(void)
{
    QTestState *s = qtest_init("");

    assert_com1_present(s);
    g_assert_true(qtree_has_serial(s, NULL));
    qtest_quit(s);
}

static void test_serial_none(void)
{
    QTestState *s = qtest_init("-serial none");

    assert_com1_absent(s);
    g_assert_false(qtree_has_serial(s, NULL));
    qtest_quit(s);

    /* -nodefaults drops the default COM1, as in QEMU. */
    s = qtest_init("-nodefaults");
    assert_com1_absent(s);
    g_assert_false(qtree_has_serial(s, NULL));
    qtest_quit(s);
}

/*
 * The boot-time marker port 0x3FF (docs/microvm.md) logs once per marker
 * whether COM1 covers it (its scratch register forwards the write) or not
 * (the PM block owns it).
 */
static void check_boot_time_log(const char *serial_arg)
{
    g_autofree char *log = qtest_tmp_path("boot-time.log");
    g_autofree char *text = NULL;
    QTestState *s = qtest_initf("%s -D %s", serial_arg, log);

    qtest_outb(s, SCR, 1);
    qtest_outb(s, SCR, 1);
    qtest_outb(s, SCR, 2);
    qtest_outb(s, SCR, 2);
    qtest_quit(s);
    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, "Kernel starts to boot!"));
    g_assert_null(strstr(strstr(text, "Kernel starts to boot!") + 1,
                         "Kernel starts to boot!"));
    g_assert_nonnull(strstr(text, "Kernel boot complete!"));
    g_assert_null(strstr(strstr(text, "Kernel boot complete!") + 1,
                         "Kernel boot complete!"));
    unlink(log);
}

static void test_boot_time_port(void)
{
    check_boot_time_log("-serial null");
    check_boot_time_log("");
    check_boot_time_log("-serial none");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/serial/reset-values", test_reset_values);
    g_test_add_func("/serial/registers", test_registers);
    g_test_add_func("/serial/transmit", test_transmit);
    g_test_add_func("/serial/receive", test_receive);
    g_test_add_func("/serial/thre-interrupt", test_thre_interrupt);
    g_test_add_func("/serial/rx-interrupt", test_rx_interrupt);
    g_test_add_func("/serial/loopback", test_loopback);
    g_test_add_func("/serial/flow-control", test_overrun);
    g_test_add_func("/serial/null", test_serial_null);
    g_test_add_func("/serial/qtest-default-com1", test_qtest_default_com1);
    g_test_add_func("/serial/none", test_serial_none);
    g_test_add_func("/serial/boot-time-port", test_boot_time_port);
    return g_test_run();
}
