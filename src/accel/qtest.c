/*
 * The qtest accelerator: no vCPU runs guest code; a test harness drives the
 * machine over a line protocol (QEMU's qtest, docs: tests/qtest/README.md and
 * qemu-reference.md §3).
 *
 * - Socket: -qtest unix:PATH connects out to the harness (as QEMU does);
 *   -qtest chardev:ID uses a -chardev created by the machine (attached from
 *   the first main-loop iteration, when the machine's chardevs exist).
 * - Requests are lines of words separated by single spaces; each gets one
 *   reply line (OK..., FAIL..., ERR...). Asynchronous "IRQ raise N" /
 *   "IRQ lower N" lines may precede a reply. Port and memory accesses go
 *   through m->pio / m->mmio exactly like KVM exits, RAM through guest_ram_*.
 * - Time: the machine clock is virtual (util/clock.h) and moves only on
 *   clock_step / clock_set, and only while the VM is running.
 * - Interrupts: set_irq records GSI levels; after irq_intercept_in/out (any
 *   device path is accepted: the GSI lines are what gets intercepted) every
 *   level change of a GSI is sent as an IRQ line, NUM = GSI.
 * - vCPUs: threads exist (cpus.c is accelerator-independent) but vcpu_run
 *   just sleeps until kicked.
 * - VM state (vm_get_state): the virtual clock and the GSI levels set_irq
 *   recorded; no interrupt controller is modelled. The dirty-page log
 *   records the protocol's RAM writes, which stand for the guest's.
 *
 * All of this runs on the main loop with the machine lock held, except
 * vcpu_run / vcpu_kick, which use a per-vCPU mutex.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/accel.h"
#include "chardev/chardev.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strutil.h"

#define QTEST_MAX_GSI       64
#define QTEST_MAX_LINE      (512u << 20)    /* a b64write of 256 MiB fits */
#define QTEST_MAX_BULK      (256ull << 20)  /* read/write/b64/memset size cap */
#define QTEST_MAX_MMIO_BULK 4096            /* bulk access outside RAM, bytewise */

typedef struct QtestVcpu {
    GMutex lock;
    GCond cond;
    bool kicked;
} QtestVcpu;

typedef struct QtestState {
    Machine *m;
    Chardev *chr;           /* the protocol connection (may be NULL) */
    bool own_chr;           /* created here (-qtest unix:PATH) */
    char *chardev_id;       /* -qtest chardev:ID, attached at start */
    GSource *start_src;
    bool opened;

    GString *inbuf;
    size_t inbuf_scanned;   /* bytes of inbuf known to hold no '\n' */
    FILE *log;              /* NULL = no log */
    bool own_log;
    gint64 log_t0;          /* µs, g_get_monotonic_time at OPENED */

    bool gsi_level[QTEST_MAX_GSI];     /* last level seen on each GSI */
    bool irq_level[QTEST_MAX_GSI];     /* as reported to the harness */
    char *intercept_dev;    /* NULL = no interception */

    DirtyBitmap *dirty;     /* pages written by the protocol since the last sync */
    bool dirty_on;
} QtestState;

static QtestState *qtest_state(Machine *m)
{
    return m->accel;
}

/* ------------------------------------------------------------------------ */
/* Log and output                                                           */

static double log_elapsed(QtestState *s)
{
    return (double)(g_get_monotonic_time() - s->log_t0) / 1e6;
}

static void log_line(QtestState *s, char kind, const char *text)
{
    if (s->log) {
        fprintf(s->log, "[%c +%.6f] %s\n", kind, log_elapsed(s), text);
        fflush(s->log);
    }
}

static void send_line(QtestState *s, const char *text)
{
    log_line(s, 'S', text);
    if (s->chr) {
        /* Replies must arrive whole (a read can be 512 MiB of hex). */
        chardev_write_all(s->chr, text, strlen(text));
        chardev_write_all(s->chr, "\n", 1);
    }
}

static void G_GNUC_PRINTF(2, 3) sendf(QtestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    send_line(s, text);
}

/* ------------------------------------------------------------------------ */
/* Interrupts                                                               */

static void report_irq(QtestState *s, unsigned gsi, bool level)
{
    if (!s->intercept_dev || gsi >= QTEST_MAX_GSI || s->irq_level[gsi] == level) {
        return;
    }
    s->irq_level[gsi] = level;
    sendf(s, "IRQ %s %u", level ? "raise" : "lower", gsi);
}

static void qtest_set_irq(Machine *m, unsigned gsi, bool level)
{
    QtestState *s = qtest_state(m);

    if (!s || gsi >= QTEST_MAX_GSI) {
        return;
    }
    s->gsi_level[gsi] = level;
    report_irq(s, gsi, level);
}

/* ------------------------------------------------------------------------ */
/* Argument parsing                                                         */

static bool parse_u64(const char *w, uint64_t *out)
{
    char *end;

    if (!w || !*w || *w == '-' || *w == '+' || g_ascii_isspace(*w)) {
        return false;
    }
    errno = 0;
    *out = strtoull(w, &end, 0);
    return errno == 0 && *end == '\0';
}

static bool parse_i64(const char *w, int64_t *out)
{
    char *end;

    if (!w || !*w || g_ascii_isspace(*w)) {
        return false;
    }
    errno = 0;
    *out = strtoll(w, &end, 0);
    return errno == 0 && *end == '\0';
}

static unsigned access_size(char suffix)
{
    switch (suffix) {
    case 'b': return 1;
    case 'w': return 2;
    case 'l': return 4;
    case 'q': return 8;
    default: return 0;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */

/* The dirty-page log sees the RAM the harness writes as the guest's. */
static void note_ram_write(Machine *m, uint64_t addr, uint64_t len)
{
    QtestState *s = qtest_state(m);

    if (s->dirty_on) {
        dirty_bitmap_mark(s->dirty, addr, len);
    }
}

/* One access of 1/2/4/8 bytes: RAM if it lies inside RAM, else the MMIO bus. */
static void mem_access(Machine *m, uint64_t addr, void *buf, unsigned size, bool write)
{
    if (guest_ram_ptr(&m->ram, addr, size)) {
        if (write) {
            note_ram_write(m, addr, size);
            guest_ram_write(&m->ram, addr, buf, size);
        } else {
            guest_ram_read(&m->ram, addr, buf, size);
        }
    } else if (write) {
        iobus_write(&m->mmio, addr, buf, size);
    } else {
        iobus_read(&m->mmio, addr, buf, size);
    }
}

/*
 * A bulk access (read/write/b64*, memset): RAM when the whole range is RAM;
 * otherwise, for short ranges, byte accesses on the MMIO bus, which must all
 * hit a device. Anything else is out of range.
 */
static bool bulk_access(Machine *m, uint64_t addr, uint8_t *buf, uint64_t len, bool write,
                        const char **why)
{
    if (len == 0) {
        return true;
    }
    if (addr + len < addr) {
        *why = "address range wraps around";
        return false;
    }
    if (guest_ram_ptr(&m->ram, addr, len)) {
        if (write) {
            note_ram_write(m, addr, len);
            return guest_ram_write(&m->ram, addr, buf, len);
        }
        return guest_ram_read(&m->ram, addr, buf, len);
    }
    if (len > QTEST_MAX_MMIO_BULK) {
        *why = "address range is not guest RAM";
        return false;
    }
    for (uint64_t i = 0; i < len; i++) {
        bool ok = write ? iobus_write(&m->mmio, addr + i, buf + i, 1)
                        : iobus_read(&m->mmio, addr + i, buf + i, 1);
        if (!ok) {
            *why = "address range is neither guest RAM nor MMIO";
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */

static void cmd_fail(QtestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void cmd_fail(QtestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    sendf(s, "FAIL %s", text);
}

static bool need_args(QtestState *s, char **w, unsigned n)
{
    for (unsigned i = 1; i <= n; i++) {
        if (!w[i]) {
            cmd_fail(s, "%s: expected %u argument%s", w[0], n, n == 1 ? "" : "s");
            return false;
        }
    }
    return true;
}

static bool arg_u64(QtestState *s, char **w, unsigned i, uint64_t *out)
{
    if (!parse_u64(w[i], out)) {
        cmd_fail(s, "%s: invalid number '%s'", w[0], w[i]);
        return false;
    }
    return true;
}

static bool arg_bulk_size(QtestState *s, char **w, unsigned i, uint64_t *out, bool allow0)
{
    if (!arg_u64(s, w, i, out)) {
        return false;
    }
    if (*out == 0 && !allow0) {
        cmd_fail(s, "%s: size must not be 0", w[0]);
        return false;
    }
    if (*out > QTEST_MAX_BULK) {
        cmd_fail(s, "%s: size 0x%" PRIx64 " too large (max 0x%llx)", w[0], *out,
                 QTEST_MAX_BULK);
        return false;
    }
    return true;
}

static void cmd_out(QtestState *s, char **w, unsigned size)
{
    uint64_t addr, val;
    uint8_t buf[8];

    if (!need_args(s, w, 2) || !arg_u64(s, w, 1, &addr) || !arg_u64(s, w, 2, &val)) {
        return;
    }
    if (addr > 0xffff) {
        cmd_fail(s, "%s: port 0x%" PRIx64 " out of range", w[0], addr);
        return;
    }
    val = GUINT64_TO_LE(val);
    memcpy(buf, &val, sizeof(val));
    iobus_write(&s->m->pio, addr, buf, size);
    send_line(s, "OK");
}

static void cmd_in(QtestState *s, char **w, unsigned size)
{
    uint64_t addr, val = 0;

    if (!need_args(s, w, 1) || !arg_u64(s, w, 1, &addr)) {
        return;
    }
    if (addr > 0xffff) {
        cmd_fail(s, "%s: port 0x%" PRIx64 " out of range", w[0], addr);
        return;
    }
    iobus_read(&s->m->pio, addr, &val, size);
    sendf(s, "OK 0x%04" PRIx64, GUINT64_FROM_LE(val));
}

static void cmd_write_n(QtestState *s, char **w, unsigned size)
{
    uint64_t addr, val;

    if (!need_args(s, w, 2) || !arg_u64(s, w, 1, &addr) || !arg_u64(s, w, 2, &val)) {
        return;
    }
    val = GUINT64_TO_LE(val);
    mem_access(s->m, addr, &val, size, true);
    send_line(s, "OK");
}

static void cmd_read_n(QtestState *s, char **w, unsigned size)
{
    uint64_t addr, val = 0;

    if (!need_args(s, w, 1) || !arg_u64(s, w, 1, &addr)) {
        return;
    }
    mem_access(s->m, addr, &val, size, false);
    sendf(s, "OK 0x%016" PRIx64, GUINT64_FROM_LE(val));
}

static void cmd_read(QtestState *s, char **w)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t addr, len;
    const char *why = NULL;
    g_autofree uint8_t *buf = NULL;
    GString *out;

    if (!need_args(s, w, 2) || !arg_u64(s, w, 1, &addr) ||
        !arg_bulk_size(s, w, 2, &len, false)) {
        return;
    }
    buf = g_malloc(len);
    if (!bulk_access(s->m, addr, buf, len, false, &why)) {
        cmd_fail(s, "read: 0x%" PRIx64 "+0x%" PRIx64 ": %s", addr, len, why);
        return;
    }
    out = g_string_sized_new(5 + 2 * len);
    g_string_append(out, "OK 0x");
    g_string_set_size(out, 5 + 2 * len);    /* up to 512 MiB: no per-char append */
    for (uint64_t i = 0; i < len; i++) {
        out->str[5 + 2 * i] = hex[buf[i] >> 4];
        out->str[6 + 2 * i] = hex[buf[i] & 15];
    }
    send_line(s, out->str);
    g_string_free(out, TRUE);
}

static void cmd_write(QtestState *s, char **w)
{
    uint64_t addr, len;
    const char *why = NULL;
    g_autofree uint8_t *buf = NULL;
    size_t dlen;

    if (!need_args(s, w, 3) || !arg_u64(s, w, 1, &addr) ||
        !arg_bulk_size(s, w, 2, &len, false)) {
        return;
    }
    dlen = strlen(w[3]);
    if (dlen < 3) {
        send_line(s, "ERR invalid argument size");
        return;
    }
    if (w[3][0] != '0' || (w[3][1] != 'x' && w[3][1] != 'X')) {
        cmd_fail(s, "write: data must start with 0x");
        return;
    }
    buf = g_malloc0(len);
    for (uint64_t i = 0; i < len && 2 * i + 4 <= dlen; i++) {
        int hi = hexval(w[3][2 * i + 2]), lo = hexval(w[3][2 * i + 3]);
        if (hi < 0 || lo < 0) {
            cmd_fail(s, "write: invalid hex data");
            return;
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    if (!bulk_access(s->m, addr, buf, len, true, &why)) {
        cmd_fail(s, "write: 0x%" PRIx64 "+0x%" PRIx64 ": %s", addr, len, why);
        return;
    }
    send_line(s, "OK");
}

static void cmd_b64read(QtestState *s, char **w)
{
    uint64_t addr, len;
    const char *why = NULL;
    g_autofree uint8_t *buf = NULL;
    g_autofree char *enc = NULL;

    if (!need_args(s, w, 2) || !arg_u64(s, w, 1, &addr) ||
        !arg_bulk_size(s, w, 2, &len, true)) {
        return;
    }
    buf = g_malloc(len ? len : 1);
    if (!bulk_access(s->m, addr, buf, len, false, &why)) {
        cmd_fail(s, "b64read: 0x%" PRIx64 "+0x%" PRIx64 ": %s", addr, len, why);
        return;
    }
    enc = g_base64_encode(buf, len);
    sendf(s, "OK %s", enc);
}

static void cmd_b64write(QtestState *s, char **w)
{
    uint64_t addr, len;
    const char *why = NULL;
    gsize dlen = 0;
    guchar *data;

    if (!need_args(s, w, 3) || !arg_u64(s, w, 1, &addr) ||
        !arg_bulk_size(s, w, 2, &len, true)) {
        return;
    }
    if (strlen(w[3]) < 3) {
        send_line(s, "ERR invalid argument size");
        return;
    }
    data = g_base64_decode_inplace(w[3], &dlen);
    if (dlen != len) {
        if (s->log) {
            fprintf(s->log, "b64write: data length mismatch (told %" PRIu64 ", found %zu)\n",
                    len, (size_t)dlen);
        }
        if (dlen < len) {
            len = dlen;
        }
    }
    if (!bulk_access(s->m, addr, data, len, true, &why)) {
        cmd_fail(s, "b64write: 0x%" PRIx64 "+0x%" PRIx64 ": %s", addr, len, why);
        return;
    }
    send_line(s, "OK");
}

static void cmd_memset(QtestState *s, char **w)
{
    uint64_t addr, len, val;
    const char *why = NULL;
    g_autofree uint8_t *buf = NULL;

    if (!need_args(s, w, 3) || !arg_u64(s, w, 1, &addr) ||
        !arg_bulk_size(s, w, 2, &len, true) || !arg_u64(s, w, 3, &val)) {
        return;
    }
    if (len) {
        buf = g_malloc(len);
        memset(buf, (int)(val & 0xff), len);
        if (!bulk_access(s->m, addr, buf, len, true, &why)) {
            cmd_fail(s, "memset: 0x%" PRIx64 "+0x%" PRIx64 ": %s", addr, len, why);
            return;
        }
    }
    send_line(s, "OK");
}

static bool clock_can_run(QtestState *s)
{
    return s->m->runstate == RUN_STATE_RUNNING;
}

static void cmd_clock_step(QtestState *s, char **w)
{
    Machine *m = s->m;
    int64_t old = machine_clock_ns(m->clock), ns, now;

    if (w[1]) {
        if (!parse_i64(w[1], &ns) || ns < 0) {
            cmd_fail(s, "clock_step: invalid number '%s'", w[1]);
            return;
        }
    } else {
        int64_t deadline = machine_clock_next_deadline(m->clock);
        if (deadline < 0) {
            send_line(s, "FAIL cannot advance clock to the next deadline because there "
                      "is no pending deadline");
            return;
        }
        ns = deadline > old ? deadline - old : 0;
    }
    if (!clock_can_run(s) || (w[1] && ns == 0)) {
        send_line(s, "FAIL could not advance time");
        return;
    }
    now = machine_clock_advance_to(m->clock, ns > INT64_MAX - old ? INT64_MAX : old + ns);
    if (now <= old && w[1]) {
        send_line(s, "FAIL could not advance time");
        return;
    }
    sendf(s, "OK %" PRIi64, now);
}

static void cmd_clock_set(QtestState *s, char **w)
{
    int64_t ns, now;

    if (!need_args(s, w, 1)) {
        return;
    }
    if (!parse_i64(w[1], &ns)) {
        cmd_fail(s, "clock_set: invalid number '%s'", w[1]);
        return;
    }
    now = machine_clock_ns(s->m->clock);
    if (ns > now && clock_can_run(s)) {
        now = machine_clock_advance_to(s->m->clock, ns);
    }
    sendf(s, "%s %" PRIi64, now == ns ? "OK" : "FAIL", now);
}

static void cmd_irq_intercept(QtestState *s, char **w)
{
    if (!w[1] || !*w[1]) {
        send_line(s, "FAIL Unknown device");
        return;
    }
    if (s->intercept_dev) {
        if (strcmp(s->intercept_dev, w[1]) != 0) {
            send_line(s, "FAIL IRQ intercept already enabled");
            return;
        }
        send_line(s, "OK");
        return;
    }
    s->intercept_dev = g_strdup(w[1]);
    send_line(s, "OK");
}

static void cmd_set_irq_in(QtestState *s, char **w)
{
    uint64_t num;
    int64_t level;

    if (!need_args(s, w, 4)) {
        return;
    }
    if (!*w[1]) {
        send_line(s, "FAIL Unknown device");
        return;
    }
    if (!arg_u64(s, w, 3, &num)) {
        return;
    }
    if (!parse_i64(w[4], &level)) {
        cmd_fail(s, "set_irq_in: invalid number '%s'", w[4]);
        return;
    }
    if (num >= QTEST_MAX_GSI) {
        cmd_fail(s, "set_irq_in: no input line %" PRIu64, num);
        return;
    }
    qtest_set_irq(s->m, (unsigned)num, level != 0);
    send_line(s, "OK");
}

static void process_command(QtestState *s, char **w)
{
    const char *c = w[0];
    size_t n = strlen(c);

    if (n == 4 && strncmp(c, "out", 3) == 0 && access_size(c[3]) && c[3] != 'q') {
        cmd_out(s, w, access_size(c[3]));
    } else if (n == 3 && strncmp(c, "in", 2) == 0 && access_size(c[2]) && c[2] != 'q') {
        cmd_in(s, w, access_size(c[2]));
    } else if (n == 6 && strncmp(c, "write", 5) == 0 && access_size(c[5])) {
        cmd_write_n(s, w, access_size(c[5]));
    } else if (n == 5 && strncmp(c, "read", 4) == 0 && access_size(c[4])) {
        cmd_read_n(s, w, access_size(c[4]));
    } else if (strcmp(c, "read") == 0) {
        cmd_read(s, w);
    } else if (strcmp(c, "write") == 0) {
        cmd_write(s, w);
    } else if (strcmp(c, "b64read") == 0) {
        cmd_b64read(s, w);
    } else if (strcmp(c, "b64write") == 0) {
        cmd_b64write(s, w);
    } else if (strcmp(c, "memset") == 0) {
        cmd_memset(s, w);
    } else if (strcmp(c, "endianness") == 0) {
        send_line(s, "OK little");
    } else if (strcmp(c, "clock_step") == 0) {
        cmd_clock_step(s, w);
    } else if (strcmp(c, "clock_set") == 0) {
        cmd_clock_set(s, w);
    } else if (strcmp(c, "irq_intercept_in") == 0 || strcmp(c, "irq_intercept_out") == 0) {
        cmd_irq_intercept(s, w);
    } else if (strcmp(c, "set_irq_in") == 0) {
        cmd_set_irq_in(s, w);
    } else if (strcmp(c, "module_load") == 0) {
        send_line(s, "FAIL");
    } else {
        sendf(s, "FAIL Unknown command '%s'", c);
    }
}

static void process_line(QtestState *s, char *line)
{
    g_auto(GStrv) words = NULL;

    if (s->log) {
        log_line(s, 'R', line);
    }
    if (!*line) {
        return;                 /* blank lines are ignored */
    }
    words = g_strsplit(line, " ", 0);
    process_command(s, words);
}

/* ------------------------------------------------------------------------ */
/* The connection                                                           */

static size_t qtest_can_read(void *opaque)
{
    return 4096;
}

static void qtest_read(void *opaque, const uint8_t *buf, size_t len)
{
    QtestState *s = opaque;
    char *nl;

    g_string_append_len(s->inbuf, (const char *)buf, (gssize)len);
    /* Only scan the new bytes: a long line arrives in many small reads. */
    while ((nl = memchr(s->inbuf->str + s->inbuf_scanned, '\n',
                        s->inbuf->len - s->inbuf_scanned)) != NULL) {
        size_t n = (size_t)(nl - s->inbuf->str);
        char *line = g_strndup(s->inbuf->str, n);

        g_string_erase(s->inbuf, 0, (gssize)n + 1);
        s->inbuf_scanned = 0;
        if (n && line[n - 1] == '\r') {
            line[n - 1] = '\0';
        }
        process_line(s, line);
        g_free(line);
    }
    s->inbuf_scanned = s->inbuf->len;
    if (s->inbuf->len > QTEST_MAX_LINE) {
        g_string_truncate(s->inbuf, 0);
        s->inbuf_scanned = 0;
        send_line(s, "FAIL line too long");
    }
}

static void qtest_event(void *opaque, bool connected)
{
    QtestState *s = opaque;

    if (connected) {
        s->opened = true;
        s->log_t0 = g_get_monotonic_time();
        memset(s->irq_level, 0, sizeof(s->irq_level));
        g_string_truncate(s->inbuf, 0);
        s->inbuf_scanned = 0;
        if (s->log) {
            fprintf(s->log, "[I %.6f] OPENED\n", 0.0);
            fflush(s->log);
        }
    } else {
        s->opened = false;
        if (s->log) {
            fprintf(s->log, "[I +%.6f] CLOSED\n", log_elapsed(s));
            fflush(s->log);
        }
    }
}

static const ChardevHandlers qtest_handlers = {
    .can_read = qtest_can_read,
    .read = qtest_read,
    .event = qtest_event,
};

/* First main-loop iteration: the machine is complete. */
static gboolean qtest_start(gpointer opaque)
{
    QtestState *s = opaque;
    Machine *m = s->m;

    g_source_unref(s->start_src);   /* the context keeps it alive until we return */
    s->start_src = NULL;
    if (s->chardev_id && !s->chr) {
        s->chr = g_hash_table_lookup(m->chardevs, s->chardev_id);
        if (!s->chr) {
            log_error("qtest: chardev '%s' does not exist", s->chardev_id);
        } else {
            chardev_set_handlers(s->chr, &qtest_handlers, s);
        }
    }
    return G_SOURCE_REMOVE;
}

static bool open_log(QtestState *s, const char *path, GError **err)
{
    if (!path) {
        s->log = stderr;
        return true;
    }
    if (strcmp(path, "none") == 0) {
        return true;
    }
    s->log = fopen(path, "a");
    if (!s->log) {
        set_error(err, "-qtest-log: cannot open '%s': %s", path, g_strerror(errno));
        return false;
    }
    s->own_log = true;
    return true;
}

static void qtest_destroy(Machine *m)
{
    QtestState *s = qtest_state(m);

    if (!s) {
        return;
    }
    if (s->start_src) {
        g_source_destroy(s->start_src);
        g_source_unref(s->start_src);
    }
    if (s->own_chr && s->chr) {
        chardev_free(s->chr);
    }
    /* A borrowed chardev was freed with m->chardevs already. */
    s->chr = NULL;
    if (s->own_log) {
        fclose(s->log);
    }
    g_string_free(s->inbuf, TRUE);
    dirty_bitmap_free(s->dirty);
    g_free(s->chardev_id);
    g_free(s->intercept_dev);
    g_free(s);
    m->accel = NULL;
}

static bool qtest_init(Machine *m, GError **err)
{
    const StratusConfig *cfg = m->cfg;
    QtestState *s = g_new0(QtestState, 1);

    s->m = m;
    s->inbuf = g_string_new(NULL);
    s->log_t0 = g_get_monotonic_time();
    m->accel = s;
    machine_clock_use_virtual(machine_clock_get(&m->clock, m->ctx));

    if (cfg->qtest && !open_log(s, cfg->qtest_log, err)) {
        goto fail;
    }
    if (cfg->qtest && g_str_has_prefix(cfg->qtest, "unix:")) {
        ChardevConfig cc = {
            .id = (char *)"qtest",
            .kind = CHARDEV_SOCKET,
            .path = (char *)cfg->qtest + strlen("unix:"),
            .port = -1,
            .server = false,
            .fd = -1,
        };
        s->chr = chardev_new(&cc, m->ctx, err);
        if (!s->chr) {
            g_prefix_error(err, "-qtest: ");
            goto fail;
        }
        s->own_chr = true;
        chardev_set_handlers(s->chr, &qtest_handlers, s);
    } else if (cfg->qtest && g_str_has_prefix(cfg->qtest, "chardev:")) {
        s->chardev_id = g_strdup(cfg->qtest + strlen("chardev:"));
    }
    s->start_src = g_idle_source_new();
    g_source_set_priority(s->start_src, G_PRIORITY_HIGH);
    g_source_set_callback(s->start_src, qtest_start, s, NULL);
    g_source_attach(s->start_src, m->ctx);
    return true;

fail:
    qtest_destroy(m);
    return false;
}

static bool qtest_map_ram(Machine *m, GError **err)
{
    return true;
}

/* ------------------------------------------------------------------------ */
/* VM state and dirty-page log                                              */

static bool qtest_vm_get_state(Machine *m, X86VmState *st, GError **err)
{
    QtestState *s = qtest_state(m);

    x86_vm_state_init(st);
    st->clock_ns = (uint64_t)machine_clock_ns(m->clock);
    for (unsigned gsi = 0; gsi < QTEST_MAX_GSI && gsi < X86_VM_MAX_GSI; gsi++) {
        st->gsi_level |= (uint64_t)s->gsi_level[gsi] << gsi;
    }
    return true;
}

/*
 * The virtual clock only moves forward, as with clock_set: timers due on
 * the way fire, in order. Interrupt controller parts are ignored (there
 * is none to load them into).
 */
static bool qtest_vm_set_state(Machine *m, const X86VmState *st, GError **err)
{
    int64_t now = machine_clock_ns(m->clock);

    if (!x86_vm_state_check(st, err)) {
        return false;
    }
    if ((int64_t)st->clock_ns < now) {
        set_error(err, "qtest: the virtual clock cannot go back from %" PRIi64 " to %"
                  PRIu64 " ns", now, st->clock_ns);
        return false;
    }
    machine_clock_advance_to(m->clock, (int64_t)st->clock_ns);
    for (unsigned gsi = 0; gsi < QTEST_MAX_GSI && gsi < X86_VM_MAX_GSI; gsi++) {
        qtest_set_irq(m, gsi, (st->gsi_level >> gsi) & 1);
    }
    return true;
}

static bool qtest_dirty_log_start(Machine *m, GError **err)
{
    QtestState *s = qtest_state(m);

    if (!s->dirty) {
        s->dirty = dirty_bitmap_new(&m->ram);
    }
    dirty_bitmap_clear(s->dirty);
    s->dirty_on = true;
    return true;
}

static bool qtest_dirty_log_sync(Machine *m, DirtyBitmap *dirty, GError **err)
{
    QtestState *s = qtest_state(m);

    if (!s->dirty_on) {
        set_error(err, "qtest: the dirty-page log is not started");
        return false;
    }
    if (!dirty_bitmap_fits(dirty, &m->ram)) {
        set_error(err, "qtest: the dirty bitmap does not match the guest RAM");
        return false;
    }
    dirty_bitmap_take(dirty, s->dirty);
    return true;
}

static void qtest_dirty_log_stop(Machine *m)
{
    qtest_state(m)->dirty_on = false;
}

/* ------------------------------------------------------------------------ */
/* vCPUs: parked until kicked                                               */

static bool qtest_vcpu_init(Vcpu *cpu, GError **err)
{
    QtestVcpu *v = g_new0(QtestVcpu, 1);

    g_mutex_init(&v->lock);
    g_cond_init(&v->cond);
    cpu->accel = v;
    return true;
}

static bool qtest_vcpu_reset(Vcpu *cpu, const X86BootState *boot, GError **err)
{
    return true;
}

static bool qtest_vcpu_run(Vcpu *cpu)
{
    QtestVcpu *v = cpu->accel;

    g_mutex_lock(&v->lock);
    while (!v->kicked) {
        g_cond_wait(&v->cond, &v->lock);
    }
    v->kicked = false;
    g_mutex_unlock(&v->lock);
    return true;
}

static void qtest_vcpu_kick(Vcpu *cpu)
{
    QtestVcpu *v = cpu->accel;

    g_mutex_lock(&v->lock);
    v->kicked = true;
    g_cond_signal(&v->cond);
    g_mutex_unlock(&v->lock);
}

static void qtest_vcpu_destroy(Vcpu *cpu)
{
    QtestVcpu *v = cpu->accel;

    if (v) {
        g_mutex_clear(&v->lock);
        g_cond_clear(&v->cond);
        g_free(v);
        cpu->accel = NULL;
    }
}

const AccelOps qtest_accel_ops = {
    .name = "qtest",
    .init = qtest_init,
    .destroy = qtest_destroy,
    .map_ram = qtest_map_ram,
    .vcpu_init = qtest_vcpu_init,
    .vcpu_reset = qtest_vcpu_reset,
    .vcpu_run = qtest_vcpu_run,
    .vcpu_kick = qtest_vcpu_kick,
    .vcpu_destroy = qtest_vcpu_destroy,
    .vm_get_state = qtest_vm_get_state,
    .vm_set_state = qtest_vm_set_state,
    .dirty_log_start = qtest_dirty_log_start,
    .dirty_log_sync = qtest_dirty_log_sync,
    .dirty_log_stop = qtest_dirty_log_stop,
    .set_irq = qtest_set_irq,
    /* vcpu_get_state / vcpu_set_state: NULL, no vCPU ever runs. */
    /* add_irqfd / ioeventfd: NULL, devices fall back to MMIO handlers and irq_set_level. */
};
