/*
 * The qtest protocol's commands (QEMU's qtest, tests/qtest/README.md): port
 * I/O (in/out), memory reads and writes of 1-8 bytes and in bulk (read,
 * write, b64read, b64write, memset) on RAM or the MMIO bus, the virtual
 * clock (clock_step, clock_set), interrupts (irq_intercept_in/out,
 * set_irq_in), and the parsing of a request line into them. The connection
 * that feeds lines in and the rest of the accelerator are qtest.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "accel/qtest-internal.h"
#include "util/clock.h"

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
static bool bulk_range_ok(Machine *m, uint64_t addr, uint64_t len, const char **why)
{
    if (len == 0) {
        return true;
    }
    if (addr + len < addr) {
        *why = "address range wraps around";
        return false;
    }
    if (!guest_ram_ptr(&m->ram, addr, len) && len > QTEST_MAX_MMIO_BULK) {
        *why = "address range is not guest RAM";
        return false;
    }
    return true;
}

static bool bulk_access(Machine *m, uint64_t addr, uint8_t *buf, uint64_t len, bool write,
                        const char **why)
{
    if (len == 0) {
        return true;
    }
    if (!bulk_range_ok(m, addr, len, why)) {
        return false;
    }
    if (guest_ram_ptr(&m->ram, addr, len)) {
        if (write) {
            note_ram_write(m, addr, len);
            return guest_ram_write(&m->ram, addr, buf, len);
        }
        return guest_ram_read(&m->ram, addr, buf, len);
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
    /* The range first: a size up to the cap is allocated only for a range that can be read. */
    if (!bulk_range_ok(s->m, addr, len, &why)) {
        cmd_fail(s, "read: 0x%" PRIx64 "+0x%" PRIx64 ": %s", addr, len, why);
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
    if (!bulk_range_ok(s->m, addr, len, &why)) {
        cmd_fail(s, "write: 0x%" PRIx64 "+0x%" PRIx64 ": %s", addr, len, why);
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
    if (!bulk_range_ok(s->m, addr, len, &why)) {
        cmd_fail(s, "b64read: 0x%" PRIx64 "+0x%" PRIx64 ": %s", addr, len, why);
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
    if (len && !bulk_range_ok(s->m, addr, len, &why)) {
        cmd_fail(s, "memset: 0x%" PRIx64 "+0x%" PRIx64 ": %s", addr, len, why);
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
            /* QEMU 7.2, which libqtest's qtest_clock_step_next() expects: no move. */
            sendf(s, "OK %" PRIi64, old);
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
    /*
     * A time in the past is already reached: QEMU 7.2 answers OK with the
     * current time (issue 17); only a target the clock could not get to fails.
     */
    sendf(s, "%s %" PRIi64, now >= ns ? "OK" : "FAIL", now);
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

void qtest_process_line(QtestState *s, char *line)
{
    g_auto(GStrv) words = NULL;

    if (s->log) {
        log_line(s, 'R', line);
    }
    if (!*line) {
        /* Empty (or NUL-only) lines get QEMU's answer to an unknown word. */
        send_line(s, "FAIL Unknown command ''");
        return;
    }
    words = g_strsplit(line, " ", 0);
    process_command(s, words);
}
