/*
 * libFuzzer target for the qtest line protocol (src/accel/qtest*.c): the input
 * is the byte stream a harness would send, fed through the accelerator's real
 * chardev read handler in input-dependent chunk sizes. The machine is fake
 * but real where qtest touches it: 4 MiB of guest RAM from guest_ram_init,
 * the MMIO and port I/O buses with a dummy register device (which can raise
 * GSIs through the accelerator and arm machine-clock timers), and the virtual
 * machine clock. The chardev layer is replaced by stubs that capture the
 * handlers and check the replies as a stream:
 *   - every non-blank request line gets exactly one reply line;
 *   - a reply starts with "OK", "FAIL" or "ERR", or is an "IRQ raise|lower N"
 *     notification;
 *   - nothing crashes, hangs or leaks.
 *
 * Build and run: scripts/fuzz.sh [runs] qtest
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "accel/accel.h"
#include "chardev/chardev.h"
#include "machine.h"
#include "util/clock.h"

#define RAM_SIZE   (4ULL << 20)   /* a whole-RAM read reply stays cheap */
#define DUMMY_PIO  0x1000
#define DUMMY_MMIO 0xfe000000ULL
#define DUMMY_SIZE 0x1000

/* ---- chardev stubs: the qtest connection ------------------------------- */

struct Chardev {
    const ChardevHandlers *h;
    void *opaque;
};

typedef struct ReplyCheck {
    char prefix[24];        /* first bytes of the current output line */
    size_t len;             /* bytes of the current line so far */
    uint64_t replies;       /* complete OK/FAIL/ERR lines */
} ReplyCheck;

static struct Chardev fake_chr;
static ReplyCheck rc;

static void end_reply_line(void)
{
    const char *p = rc.prefix;
    size_t n = MIN(rc.len, sizeof(rc.prefix));

    if (n >= 4 && memcmp(p, "IRQ ", 4) == 0) {
        if (!(n >= 10 && memcmp(p + 4, "raise ", 6) == 0) &&
            !(n >= 10 && memcmp(p + 4, "lower ", 6) == 0)) {
            abort();
        }
        return;
    }
    if ((n >= 2 && memcmp(p, "OK", 2) == 0) || (n >= 4 && memcmp(p, "FAIL", 4) == 0) ||
        (n >= 3 && memcmp(p, "ERR", 3) == 0)) {
        rc.replies++;
        return;
    }
    abort();                    /* not a protocol line */
}

size_t chardev_write_all(Chardev *chr, const void *buf, size_t len)
{
    const char *p = buf;
    size_t total = len;

    if (chr != &fake_chr) {
        abort();
    }
    while (len) {
        const char *nl = memchr(p, '\n', len);
        size_t n = nl ? (size_t)(nl - p) : len;

        if (rc.len < sizeof(rc.prefix)) {
            memcpy(rc.prefix + rc.len, p, MIN(n, sizeof(rc.prefix) - rc.len));
        }
        rc.len += n;
        if (!nl) {
            break;
        }
        end_reply_line();
        rc.len = 0;
        p += n + 1;
        len -= n + 1;
    }
    return total;
}

void chardev_set_handlers(Chardev *chr, const ChardevHandlers *h, void *opaque)
{
    chr->h = h;
    chr->opaque = opaque;
}

Chardev *chardev_new(const ChardevConfig *cfg, GMainContext *ctx, GError **err)
{
    abort();                    /* only -qtest chardev:ID is used here */
}

void chardev_free(Chardev *chr)
{
    abort();                    /* a borrowed chardev is never freed by qtest */
}

/* ---- the dummy device ---------------------------------------------------- */

typedef struct Dummy {
    Machine *m;
    uint8_t regs[16];
    MachineTimer *timer;
    unsigned rearm;
    unsigned fired;
} Dummy;

static void dummy_timer(void *opaque)
{
    Dummy *d = opaque;

    d->fired++;
    d->m->accel_ops->set_irq(d->m, 5, d->fired & 1);
    if (d->rearm) {
        d->rearm--;
        machine_timer_mod_in(d->timer, 1000);
    }
}

static uint64_t dummy_read(void *opaque, uint64_t offset, unsigned size)
{
    Dummy *d = opaque;
    uint64_t v = 0;

    if (offset == 8) {
        return d->fired;
    }
    if (offset < sizeof(d->regs) && size <= sizeof(d->regs) - offset) {
        memcpy(&v, d->regs + offset, size);
        return GUINT64_FROM_LE(v);
    }
    return ~0ULL;
}

static void dummy_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    Dummy *d = opaque;

    switch (offset) {
    case 8:     /* GSI (any number, also invalid ones) and level in bit 7 */
        d->m->accel_ops->set_irq(d->m, (unsigned)(value & 0x7f), (value >> 7) & 1);
        return;
    case 12:    /* arm the timer: low 32 bits ns from now, bits 32-35 re-arms */
        d->rearm = (value >> 32) & 15;
        machine_timer_mod_in(d->timer, (int64_t)(value & 0xffffffff));
        return;
    case 13:
        machine_timer_del(d->timer);
        return;
    }
    if (offset < sizeof(d->regs) && size <= sizeof(d->regs) - offset) {
        value = GUINT64_TO_LE(value);
        memcpy(d->regs + offset, &value, size);
    }
}

static const IoRegionOps dummy_ops = {
    .read = dummy_read,
    .write = dummy_write,
};

/* ---- the machine -------------------------------------------------------- */

static void expect_reply(const uint8_t *line, size_t n, uint64_t *expected)
{
    /* Every line gets one reply: an empty (or NUL-led) line gets QEMU's
     * "FAIL Unknown command ''", like any unknown word. */
    (void)line;
    (void)n;
    (*expected)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* RAM is mapped once: its contents carry over, which only changes data */
    static GuestRam ram;
    StratusConfig cfg = { 0 };
    Machine m = { 0 };
    Dummy dev = { 0 };
    GError *err = NULL;
    size_t chunk = size % 13 + 1, off = 0, line_start = 0;
    uint64_t expected = 0;

    memset(&rc, 0, sizeof(rc));
    memset(&fake_chr, 0, sizeof(fake_chr));
    cfg.qtest = (char *)"chardev:fuzz";
    cfg.qtest_log = (char *)"/dev/null";
    m.cfg = &cfg;
    m.ctx = g_main_context_new();
    m.runstate = (size % 7 == 3) ? RUN_STATE_PAUSED : RUN_STATE_RUNNING;
    m.accel_ops = &qtest_accel_ops;
    m.chardevs = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_insert(m.chardevs, (gpointer)"fuzz", &fake_chr);
    iobus_init(&m.mmio, "mmio", IOBUS_MEMORY);
    iobus_init(&m.pio, "pio", IOBUS_PORTS);
    if (!ram.blocks && !guest_ram_init(&ram, RAM_SIZE, 3ULL << 30, false, true, &err)) {
        abort();
    }
    m.ram = ram;
    if (!m.accel_ops->init(&m, &err)) {
        abort();
    }
    dev.m = &m;
    dev.timer = machine_timer_new(machine_clock_get(&m.clock, m.ctx), dummy_timer, &dev);
    if (!iobus_add(&m.pio, DUMMY_PIO, 16, &dummy_ops, &dev, "dummy", &err) ||
        !iobus_add(&m.mmio, DUMMY_MMIO, DUMMY_SIZE, &dummy_ops, &dev, "dummy", &err) ||
        /* right after RAM: bulk accesses that straddle RAM and MMIO */
        !iobus_add(&m.mmio, RAM_SIZE, 16, &dummy_ops, &dev, "dummy-hi", &err)) {
        abort();
    }
    /* qtest attaches to the chardev on the first main-loop iteration */
    while (g_main_context_iteration(m.ctx, FALSE)) {
    }
    if (!fake_chr.h) {
        abort();
    }
    fake_chr.h->event(fake_chr.opaque, true);

    while (off < size) {
        size_t n = MIN(chunk, size - off);
        size_t room = fake_chr.h->can_read(fake_chr.opaque);

        if (room == 0) {
            abort();
        }
        n = MIN(n, room);
        fake_chr.h->read(fake_chr.opaque, data + off, n);
        for (size_t i = off; i < off + n; i++) {
            if (data[i] == '\n') {
                expect_reply(data + line_start, i - line_start, &expected);
                line_start = i + 1;
            }
        }
        off += n;
    }
    if (rc.len != 0 || rc.replies != expected) {
        abort();                /* a partial reply, or not one reply per request */
    }
    fake_chr.h->event(fake_chr.opaque, false);

    m.accel_ops->destroy(&m);
    machine_timer_free(dev.timer);
    iobus_destroy(&m.mmio);
    iobus_destroy(&m.pio);
    g_hash_table_destroy(m.chardevs);
    g_main_context_unref(m.ctx);
    return 0;
}
