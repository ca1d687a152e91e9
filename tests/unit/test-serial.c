/*
 * 16550A UART unit tests: a hand-built Machine with a real port I/O bus, a
 * fake accelerator that records the IRQ line, and a socketpair chardev
 * (socket,fd=N) standing in for the host side.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "chardev/chardev.h"
#include "fake-machine.h"
#include "pio-test.h"
#include "hw/char/serial.h"

#define BASE SERIAL_COM1_BASE
#define GSI  SERIAL_COM1_IRQ

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3,
       MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

typedef struct Fixture {
    Machine *m;
    Chardev *chr;
    SerialState *s;
    int peer;            /* the host end of the socketpair */
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
    int sv[2];
    GError *err = NULL;

    fake_irq_clear();
    f->m = fake_machine_new();

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    ChardevConfig cc = { .id = (char *)"ser0", .kind = CHARDEV_SOCKET, .port = -1,
                         .fd = sv[0] };
    f->chr = chardev_new(&cc, f->m->ctx, &err);
    g_assert_no_error(err);
    f->peer = sv[1];

    f->s = serial_new(f->m, BASE, GSI, f->chr, &err);
    g_assert_no_error(err);
    g_assert_nonnull(f->s);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    serial_free(f->s);
    chardev_free(f->chr);
    close(f->peer);
    fake_machine_free(f->m);
}

static uint8_t inb(Fixture *f, unsigned reg)
{
    return test_pio_inb(&f->m->pio, BASE + reg);
}

static void outb(Fixture *f, unsigned reg, uint8_t v)
{
    test_pio_outb(&f->m->pio, BASE + reg, v);
}

/* Runs the chardev's main context until nothing is pending. */
static void pump(Fixture *f)
{
    for (int i = 0; i < 100 && g_main_context_iteration(f->m->ctx, FALSE); i++) {
    }
}

/* Waits for input to reach the UART (the peer wrote before this). */
static void pump_until_dr(Fixture *f)
{
    for (int i = 0; i < 1000 && !(inb(f, LSR) & 0x01); i++) {
        g_main_context_iteration(f->m->ctx, FALSE);
        if (!(inb(f, LSR) & 0x01)) {
            g_usleep(1000);
        }
    }
    g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0x01);
}

static void peer_send(Fixture *f, const void *buf, size_t len)
{
    g_assert_cmpint(write(f->peer, buf, len), ==, (ssize_t)len);
}

static size_t peer_recv(Fixture *f, void *buf, size_t len, int timeout_ms)
{
    struct pollfd pfd = { .fd = f->peer, .events = POLLIN };
    size_t got = 0;
    while (got < len && poll(&pfd, 1, timeout_ms) > 0) {
        ssize_t n = read(f->peer, (char *)buf + got, len - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return got;
}

static void test_reset_values(Fixture *f, gconstpointer data)
{
    g_assert_cmphex(inb(f, IER), ==, 0x00);
    g_assert_cmphex(inb(f, IIR), ==, 0x01);
    g_assert_cmphex(inb(f, LCR), ==, 0x03);
    g_assert_cmphex(inb(f, MCR), ==, 0x08);
    g_assert_cmphex(inb(f, LSR), ==, 0x60);
    g_assert_cmphex(inb(f, MSR), ==, 0xb0);
    g_assert_cmphex(inb(f, SCR), ==, 0x00);
    outb(f, LCR, 0x83);
    g_assert_cmphex(inb(f, DLL), ==, 0x0c);
    g_assert_cmphex(inb(f, DLM), ==, 0x00);
    g_assert_false(irq_level[GSI]);

    /* Dirty everything, then serial_reset() brings power-on state back. */
    outb(f, DLL, 0x01);
    outb(f, LCR, 0x1b);
    outb(f, IER, 0x0f);
    outb(f, MCR, 0x1f);
    outb(f, FCR, 0x07);
    outb(f, SCR, 0x5a);
    serial_reset(f->s);
    g_assert_cmphex(inb(f, IER), ==, 0x00);
    g_assert_cmphex(inb(f, IIR), ==, 0x01);
    g_assert_cmphex(inb(f, LCR), ==, 0x03);
    g_assert_cmphex(inb(f, MCR), ==, 0x08);
    g_assert_cmphex(inb(f, LSR), ==, 0x60);
    g_assert_cmphex(inb(f, MSR) & 0xf0, ==, 0xb0);
    g_assert_cmphex(inb(f, SCR), ==, 0x00);
    outb(f, LCR, 0x83);
    g_assert_cmphex(inb(f, DLL), ==, 0x0c);
    g_assert_false(irq_level[GSI]);
}

static void test_divisor_latch(Fixture *f, gconstpointer data)
{
    outb(f, LCR, 0x80 | 0x03);
    outb(f, DLL, 0x01);
    outb(f, DLM, 0x02);
    g_assert_cmphex(inb(f, DLL), ==, 0x01);
    g_assert_cmphex(inb(f, DLM), ==, 0x02);
    g_assert_cmphex(inb(f, LCR), ==, 0x83);
    /* Nothing was transmitted nor IER touched while DLAB was set. */
    char c;
    g_assert_cmpuint(peer_recv(f, &c, 1, 20), ==, 0);
    outb(f, LCR, 0x03);
    g_assert_cmphex(inb(f, IER), ==, 0x00);
    outb(f, IER, 0x05);
    g_assert_cmphex(inb(f, IER), ==, 0x05);
    outb(f, LCR, 0x83);
    g_assert_cmphex(inb(f, DLL), ==, 0x01);
    g_assert_cmphex(inb(f, DLM), ==, 0x02);
    outb(f, LCR, 0x03);

    /* A 16-bit access is split into byte accesses. */
    uint16_t w = 0;
    g_assert_true(iobus_read(&f->m->pio, BASE + LCR, &w, 2));
    g_assert_cmphex(w, ==, 0x0803);
}

static void test_thre_interrupt(Fixture *f, gconstpointer data)
{
    /* Enabling ETBEI with THR empty interrupts at once. */
    outb(f, IER, 0x02);
    g_assert_true(irq_level[GSI]);
    g_assert_cmpuint(irq_rises[GSI], ==, 1);
    /* Reading IIR returns the THRE source and acknowledges it. */
    g_assert_cmphex(inb(f, IIR), ==, 0x02);
    g_assert_false(irq_level[GSI]);
    g_assert_cmphex(inb(f, IIR), ==, 0x01);

    /* A transmitted byte reaches the host and raises THRE again. */
    outb(f, THR, 'A');
    g_assert_true(irq_level[GSI]);
    g_assert_cmpuint(irq_rises[GSI], ==, 2);
    g_assert_cmphex(inb(f, LSR), ==, 0x60);
    char buf[8];
    g_assert_cmpuint(peer_recv(f, buf, 1, 1000), ==, 1);
    g_assert_cmpint(buf[0], ==, 'A');

    /* Without acknowledging, each write still produces a new edge. */
    outb(f, THR, 'B');
    outb(f, THR, 'C');
    g_assert_cmpuint(irq_rises[GSI], ==, 4);
    g_assert_cmpuint(peer_recv(f, buf, 2, 1000), ==, 2);
    g_assert_cmpmem(buf, 2, "BC", 2);

    /* Disabling ETBEI drops the pending THRE interrupt. */
    outb(f, IER, 0x00);
    g_assert_false(irq_level[GSI]);
    g_assert_cmphex(inb(f, IIR), ==, 0x01);
    /* Re-enabling while idle raises it again (Linux's UART_BUG_THRE probe). */
    outb(f, IER, 0x02);
    g_assert_cmphex(inb(f, IIR), ==, 0x02);
}

static void test_rx_interrupt(Fixture *f, gconstpointer data)
{
    outb(f, IER, 0x01);
    g_assert_false(irq_level[GSI]);
    peer_send(f, "hello", 5);
    pump_until_dr(f);
    /* Let the rest of the burst in. */
    for (int i = 0; i < 50; i++) {
        pump(f);
        g_usleep(1000);
    }
    g_assert_true(irq_level[GSI]);
    g_assert_cmphex(inb(f, IIR), ==, 0x04);
    char buf[6] = { 0 };
    for (int i = 0; i < 5; i++) {
        g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0x01);
        buf[i] = (char)inb(f, RBR);
    }
    g_assert_cmpstr(buf, ==, "hello");
    g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0x00);
    g_assert_cmphex(inb(f, IIR), ==, 0x01);
    g_assert_false(irq_level[GSI]);

    /* Priority: received data outranks THRE. */
    outb(f, IER, 0x03);
    g_assert_cmphex(inb(f, IIR), ==, 0x02);    /* acknowledges THRE */
    outb(f, THR, '!');
    peer_send(f, "x", 1);
    pump_until_dr(f);
    g_assert_cmphex(inb(f, IIR), ==, 0x04);
    g_assert_cmpint(inb(f, RBR), ==, 'x');
    g_assert_cmphex(inb(f, IIR), ==, 0x02);
    g_assert_cmphex(inb(f, IIR), ==, 0x01);
}

static void test_rx_fifo_full(Fixture *f, gconstpointer data)
{
    enum { TOTAL = SERIAL_RX_FIFO + 476 };
    static uint8_t out[TOTAL];
    for (size_t i = 0; i < TOTAL; i++) {
        out[i] = (uint8_t)(i * 7 + 3);
    }
    peer_send(f, out, TOTAL);

    /* Fill: exactly SERIAL_RX_FIFO bytes are taken, then input stops. */
    for (int i = 0; i < 200; i++) {
        pump(f);
        g_usleep(500);
    }
    unsigned got = 0;
    /* Each read makes room, but nothing arrives until the loop runs again. */
    for (; got < SERIAL_RX_FIFO; got++) {
        g_assert_cmphex(inb(f, LSR) & 0x03, ==, 0x01);   /* DR, no overrun */
        g_assert_cmphex(inb(f, RBR), ==, out[got]);
    }
    /*
     * We have consumed the whole FIFO without running the loop in between,
     * so no new byte could have arrived: DR is clear.
     */
    g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0x00);

    /* Input resumes after the front end drained. */
    while (got < TOTAL) {
        pump_until_dr(f);
        while ((inb(f, LSR) & 0x01) && got < TOTAL) {
            g_assert_cmphex(inb(f, RBR), ==, out[got]);
            got++;
        }
    }
    g_assert_cmphex(inb(f, LSR) & 0x03, ==, 0x00);
}

static void test_fifo_control(Fixture *f, gconstpointer data)
{
    g_assert_cmphex(inb(f, IIR) & 0xc0, ==, 0x00);
    outb(f, FCR, 0x01);
    g_assert_cmphex(inb(f, IIR), ==, 0xc1);
    outb(f, IER, 0x02);
    g_assert_cmphex(inb(f, IIR), ==, 0xc2);

    peer_send(f, "abc", 3);
    pump_until_dr(f);
    outb(f, FCR, 0x03);      /* clear RX FIFO, keep enabled */
    g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0x00);
    outb(f, FCR, 0x00);
    g_assert_cmphex(inb(f, IIR) & 0xc0, ==, 0x00);
}

static void test_loopback(Fixture *f, gconstpointer data)
{
    /* Modem lines looped: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
    outb(f, MCR, 0x10 | 0x08 | 0x02 | 0x01);
    g_assert_cmphex(inb(f, MSR), ==, 0xb0);    /* same lines: no deltas */
    outb(f, MCR, 0x10);
    g_assert_cmphex(inb(f, MSR), ==, 0x0b);    /* DCTS, DDSR, DDCD */
    g_assert_cmphex(inb(f, MSR), ==, 0x00);    /* deltas clear on read */
    outb(f, MCR, 0x10 | 0x04);
    g_assert_cmphex(inb(f, MSR), ==, 0x40);    /* RI on: no TERI yet */
    outb(f, MCR, 0x10);
    g_assert_cmphex(inb(f, MSR), ==, 0x04);    /* trailing edge of RI */

    /* Modem status interrupt, visible on the line only with OUT2. */
    outb(f, IER, 0x08);
    outb(f, MCR, 0x10 | 0x02);
    g_assert_cmphex(inb(f, IIR), ==, 0x00);
    g_assert_false(irq_level[GSI]);
    inb(f, MSR);
    g_assert_cmphex(inb(f, IIR), ==, 0x01);
    outb(f, IER, 0x00);

    /* THR -> RBR, nothing reaches the host; host input is held off. */
    outb(f, MCR, 0x10 | 0x08);
    inb(f, MSR);
    peer_send(f, "z", 1);
    outb(f, THR, 'q');
    for (int i = 0; i < 20; i++) {
        pump(f);
        g_usleep(1000);
    }
    char c;
    g_assert_cmpuint(peer_recv(f, &c, 1, 20), ==, 0);
    g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0x01);
    g_assert_cmpint(inb(f, RBR), ==, 'q');
    g_assert_cmphex(inb(f, LSR) & 0x01, ==, 0x00);

    /* Overrun in loopback: line status interrupt has top priority. */
    outb(f, IER, 0x05);
    for (int i = 0; i < SERIAL_RX_FIFO + 1; i++) {
        outb(f, THR, (uint8_t)i);
    }
    g_assert_cmphex(inb(f, IIR), ==, 0x06);
    g_assert_true(irq_level[GSI]);
    g_assert_cmphex(inb(f, LSR) & 0x03, ==, 0x03);   /* DR | OE */
    g_assert_cmphex(inb(f, LSR) & 0x03, ==, 0x01);   /* OE clears on read */
    g_assert_cmphex(inb(f, IIR), ==, 0x04);
    outb(f, FCR, 0x02);
    g_assert_cmphex(inb(f, IIR), ==, 0x01);
    g_assert_false(irq_level[GSI]);

    /* Leaving loopback lets the held host byte in. */
    outb(f, MCR, 0x08);
    pump_until_dr(f);
    g_assert_cmpint(inb(f, RBR), ==, 'z');
}

static void test_out2_gating(Fixture *f, gconstpointer data)
{
    outb(f, MCR, 0x00);
    outb(f, IER, 0x02);
    g_assert_cmphex(inb(f, IIR) & 0x0f, ==, 0x02);   /* acknowledges */
    outb(f, IER, 0x00);
    outb(f, IER, 0x02);                               /* pending again */
    g_assert_false(irq_level[GSI]);
    outb(f, MCR, 0x08);
    g_assert_true(irq_level[GSI]);
    outb(f, MCR, 0x0b);
    g_assert_true(irq_level[GSI]);
    outb(f, MCR, 0x03);
    g_assert_false(irq_level[GSI]);
    outb(f, MCR, 0x08);
    g_assert_true(irq_level[GSI]);
    g_assert_cmpuint(irq_rises[GSI], ==, 2);
}

static void test_no_chardev(void)
{
    GError *err = NULL;
    Machine *m = fake_machine_new();

    SerialState *s = serial_new(m, BASE, GSI, NULL, &err);
    g_assert_no_error(err);
    uint8_t v = 'x';
    g_assert_true(iobus_write(&m->pio, BASE, &v, 1));   /* discarded */
    g_assert_true(iobus_read(&m->pio, BASE + LSR, &v, 1));
    g_assert_cmphex(v, ==, 0x60);

    /* A second UART on the same ports is refused. */
    g_assert_null(serial_new(m, BASE + 4, GSI, NULL, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);

    serial_free(s);
    uint8_t probe = 0;
    g_assert_false(iobus_read(&m->pio, BASE + LSR, &probe, 1));
    fake_machine_free(m);
}

#define ADD(name, fn) \
    g_test_add(name, Fixture, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/serial/reset-values", test_reset_values);
    ADD("/serial/divisor-latch", test_divisor_latch);
    ADD("/serial/thre-interrupt", test_thre_interrupt);
    ADD("/serial/rx-interrupt", test_rx_interrupt);
    ADD("/serial/rx-fifo-full", test_rx_fifo_full);
    ADD("/serial/fifo-control", test_fifo_control);
    ADD("/serial/loopback", test_loopback);
    ADD("/serial/out2-gating", test_out2_gating);
    g_test_add_func("/serial/no-chardev", test_no_chardev);
    return g_test_run();
}
