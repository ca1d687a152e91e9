/*
 * libstqtest implementation (see qtest.h). Written for Stratus.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "qtest.h"

#define MAX_IRQ 256

struct QTestState {
    pid_t pid;
    bool exited;
    int wstatus;
    int expected_status;

    int qtest_fd;
    int qmp_fd;
    GString *qbuf;
    GString *mbuf;
    bool qmp_closed;
    GQueue events;               /* JsonNode* not yet consumed */

    bool irq_level[MAX_IRQ];
    unsigned irq_raises[MAX_IRQ];

    int err_fd;                  /* raw spawn: the VMM's stderr */
    GString *err;
};

static int timeout_ms(void)
{
    const char *t = getenv("QTEST_TIMEOUT");
    int sec = t ? atoi(t) : 0;

    return (sec > 0 ? sec : 30) * 1000;
}

static const char *vmm_binary(void)
{
    const char *bin = getenv("QTEST_QEMU_BINARY");

    if (!bin || !*bin) {
        g_error("QTEST_QEMU_BINARY is not set (point it at the stratus binary)");
    }
    return bin;
}

char *qtest_tmp_path(const char *name)
{
    static unsigned counter;

    return g_strdup_printf("%s/stqtest-%d-%u-%s", g_get_tmp_dir(), (int)getpid(),
                           counter++, name);
}

int qtest_socket_server(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
        g_error("cannot listen on %s: %s", path, g_strerror(errno));
    }
    return fd;
}

static void reap(QTestState *s, bool block)
{
    int st;
    pid_t r;

    if (s->exited || s->pid <= 0) {
        return;
    }
    do {
        r = waitpid(s->pid, &st, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == s->pid) {
        s->exited = true;
        s->wstatus = st;
    }
}

static void drain_stderr(QTestState *s, int wait_ms)
{
    char buf[4096];

    while (s->err_fd >= 0) {
        struct pollfd p = { .fd = s->err_fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, wait_ms) <= 0) {
            return;
        }
        n = read(s->err_fd, buf, sizeof(buf));
        if (n <= 0) {
            close(s->err_fd);
            s->err_fd = -1;
            return;
        }
        g_string_append_len(s->err, buf, n);
    }
}

/* Accept with a bound, noticing a VMM that died before connecting. */
static int accept_from(QTestState *s, int listen_fd)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms() * 1000;

    for (;;) {
        struct pollfd p = { .fd = listen_fd, .events = POLLIN };
        int r = poll(&p, 1, 100);

        if (r > 0) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                return fd;
            }
            if (errno != EINTR && errno != EAGAIN) {
                g_error("accept: %s", g_strerror(errno));
            }
        }
        if (s) {
            reap(s, false);
            if (s->exited) {
                g_error("the VMM exited before connecting (status 0x%x)", s->wstatus);
            }
        }
        if (g_get_monotonic_time() > deadline) {
            g_error("timeout waiting for the VMM to connect");
        }
    }
}

int qtest_socket_accept(int listen_fd)
{
    return accept_from(NULL, listen_fd);
}

bool qtest_socket_read_exact(int fd, void *buf, size_t len, int tmo)
{
    uint8_t *p = buf;
    gint64 deadline = g_get_monotonic_time() + (gint64)tmo * 1000;

    while (len) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        ssize_t n;

        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) {
            return false;
        }
        n = read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

void qtest_socket_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            g_error("socket write failed: %s", g_strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
}

static QTestState *spawn(const char *args, bool capture_stderr)
{
    QTestState *s = g_new0(QTestState, 1);
    g_autofree char *cmd = g_strdup_printf("exec %s %s", vmm_binary(), args);
    int errpipe[2] = { -1, -1 };

    s->qtest_fd = s->qmp_fd = s->err_fd = -1;
    s->qbuf = g_string_new(NULL);
    s->mbuf = g_string_new(NULL);
    s->err = g_string_new(NULL);
    g_queue_init(&s->events);
    if (getenv("QTEST_LOG")) {
        fprintf(stderr, "# launching: %s\n", cmd);
    }
    if (capture_stderr && pipe2(errpipe, O_CLOEXEC) < 0) {
        g_error("pipe: %s", g_strerror(errno));
    }
    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0) {
        g_error("fork: %s", g_strerror(errno));
    }
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (capture_stderr) {
            dup2(errpipe[1], STDERR_FILENO);
        }
        setenv("QEMU_AUDIO_DRV", "none", 1);
        execlp("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (capture_stderr) {
        close(errpipe[1]);
        s->err_fd = errpipe[0];
    }
    return s;
}

QTestState *qtest_spawn_raw(const char *args)
{
    return spawn(args, true);
}

const char *qtest_stderr(QTestState *s)
{
    drain_stderr(s, 0);
    return s->err->str;
}

pid_t qtest_pid(QTestState *s)
{
    return s->pid;
}

static void qmp_handshake(QTestState *s)
{
    JsonNode *greeting = qtest_qmp_receive(s);
    JsonObject *o = qmp_obj(greeting);

    if (!json_object_has_member(o, "QMP")) {
        g_error("QMP greeting expected");
    }
    json_node_unref(greeting);
    qtest_qmp_assert_success(s, "{'execute': 'qmp_capabilities'}");
}

static char *replace_all(const char *s, const char *what, const char *with)
{
    g_auto(GStrv) parts = g_strsplit(s, what, -1);

    return g_strjoinv(with, parts);
}

QTestState *qtest_init_cmdline(const char *tmpl, bool handshake)
{
    g_autofree char *qpath = qtest_tmp_path("qtest.sock");
    g_autofree char *mpath = qtest_tmp_path("qmp.sock");
    bool want_q = strstr(tmpl, "@QTEST@") != NULL;
    bool want_m = strstr(tmpl, "@QMP@") != NULL;
    int qlisten = want_q ? qtest_socket_server(qpath) : -1;
    int mlisten = want_m ? qtest_socket_server(mpath) : -1;
    g_autofree char *a1 = replace_all(tmpl, "@QTEST@", qpath);
    g_autofree char *args = replace_all(a1, "@QMP@", mpath);
    QTestState *s = spawn(args, false);

    if (want_q) {
        g_autofree char *reply = NULL;

        s->qtest_fd = accept_from(s, qlisten);
        close(qlisten);
        unlink(qpath);
        /* As libqtest: the first request, before the QMP greeting is read. */
        reply = qtest_cmd(s, "endianness");
        if (g_strcmp0(reply, "OK little") != 0) {
            g_error("endianness: unexpected reply '%s'", reply);
        }
    }
    if (want_m) {
        s->qmp_fd = accept_from(s, mlisten);
        close(mlisten);
        unlink(mpath);
        if (handshake) {
            qmp_handshake(s);
        }
    }
    return s;
}

static QTestState *init_common(const char *extra_args, bool handshake)
{
    g_autofree char *tmpl = g_strdup_printf(
        "-qtest unix:@QTEST@ -qtest-log %s -chardev socket,path=@QMP@,id=char0 "
        "-mon chardev=char0,mode=control -display none -machine microvm %s -accel qtest",
        getenv("QTEST_LOG") ? "/dev/fd/2" : "none", extra_args ? extra_args : "");

    return qtest_init_cmdline(tmpl, handshake);
}

QTestState *qtest_init(const char *extra_args)
{
    return init_common(extra_args, true);
}

QTestState *qtest_init_without_qmp_handshake(const char *extra_args)
{
    return init_common(extra_args, false);
}

QTestState *qtest_initf(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *args = NULL;

    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qtest_init(args);
}

void qtest_set_expected_status(QTestState *s, int status)
{
    s->expected_status = status;
}

int qtest_wait_exit(QTestState *s, int tmo)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)tmo * 1000;

    for (;;) {
        reap(s, false);
        if (s->exited) {
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            return -1;
        }
        drain_stderr(s, 0);
        g_usleep(5000);
    }
    drain_stderr(s, 50);
    if (WIFEXITED(s->wstatus)) {
        return WEXITSTATUS(s->wstatus);
    }
    return 128 + WTERMSIG(s->wstatus);
}

void qtest_quit(QTestState *s)
{
    if (!s) {
        return;
    }
    if (!s->exited) {
        kill(s->pid, SIGTERM);
        if (qtest_wait_exit(s, timeout_ms()) < 0) {
            kill(s->pid, SIGKILL);
            reap(s, true);
            g_error("the VMM did not exit within %d ms of SIGTERM", timeout_ms());
        }
    }
    if (WIFSIGNALED(s->wstatus)) {
        g_error("the VMM was killed by signal %d%s", WTERMSIG(s->wstatus),
                WCOREDUMP(s->wstatus) ? " (core dumped)" : "");
    }
    if (WEXITSTATUS(s->wstatus) != s->expected_status) {
        g_error("the VMM exited with status %d, expected %d", WEXITSTATUS(s->wstatus),
                s->expected_status);
    }
    if (s->qtest_fd >= 0) {
        close(s->qtest_fd);
    }
    if (s->qmp_fd >= 0) {
        close(s->qmp_fd);
    }
    if (s->err_fd >= 0) {
        close(s->err_fd);
    }
    g_queue_clear_full(&s->events, (GDestroyNotify)json_node_unref);
    g_string_free(s->qbuf, TRUE);
    g_string_free(s->mbuf, TRUE);
    g_string_free(s->err, TRUE);
    g_free(s);
}

/* ------------------------------------------------------------------------ */
/* Line I/O                                                                 */

/* The next line from fd (without "\n" / "\r\n"), or NULL on EOF/timeout. */
static char *read_line(int fd, GString *buf, int tmo, bool *eof)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)tmo * 1000;

    if (eof) {
        *eof = false;
    }
    for (;;) {
        char *nl = memchr(buf->str, '\n', buf->len);
        char chunk[65536];
        struct pollfd p = { .fd = fd, .events = POLLIN };
        gint64 left;
        ssize_t n;

        if (nl) {
            size_t len = (size_t)(nl - buf->str);
            char *line = g_strndup(buf->str, len);
            g_string_erase(buf, 0, (gssize)len + 1);
            if (len && line[len - 1] == '\r') {
                line[len - 1] = '\0';
            }
            return line;
        }
        left = (deadline - g_get_monotonic_time()) / 1000;
        if (left < 0) {
            return NULL;
        }
        if (poll(&p, 1, (int)left) <= 0) {
            if (errno == EINTR) {
                continue;
            }
            return NULL;
        }
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (eof) {
                *eof = true;
            }
            return NULL;
        }
        g_string_append_len(buf, chunk, n);
    }
}

static void send_all(int fd, const char *text, size_t len)
{
    qtest_socket_write_all(fd, text, len);
}

void qtest_send_raw(QTestState *s, const char *text)
{
    if (getenv("QTEST_LOG")) {
        fprintf(stderr, "# qtest> %s", text);
    }
    send_all(s->qtest_fd, text, strlen(text));
}

static bool handle_irq_line(QTestState *s, const char *line)
{
    const char *num;
    bool level;
    long n;

    if (g_str_has_prefix(line, "IRQ raise ")) {
        level = true;
        num = line + strlen("IRQ raise ");
    } else if (g_str_has_prefix(line, "IRQ lower ")) {
        level = false;
        num = line + strlen("IRQ lower ");
    } else {
        return false;
    }
    n = strtol(num, NULL, 0);
    if (n >= 0 && n < MAX_IRQ) {
        s->irq_level[n] = level;
        if (level) {
            s->irq_raises[n]++;
        }
    }
    return true;
}

char *qtest_recv_line(QTestState *s)
{
    for (;;) {
        char *line = read_line(s->qtest_fd, s->qbuf, timeout_ms(), NULL);

        if (!line) {
            g_error("qtest: no reply (VMM gone or timed out)");
        }
        if (getenv("QTEST_LOG")) {
            fprintf(stderr, "# qtest< %s\n", line);
        }
        if (!handle_irq_line(s, line)) {
            return line;
        }
        g_free(line);
    }
}

char *qtest_cmd(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    line = g_strconcat(text, "\n", NULL);
    qtest_send_raw(s, line);
    return qtest_recv_line(s);
}

/* Sends, asserts "OK", returns the reply's words. */
static GStrv cmd_ok(QTestState *s, const char *text)
{
    char *reply = qtest_cmd(s, "%s", text);
    GStrv words;

    if (strcmp(reply, "OK") != 0 && !g_str_has_prefix(reply, "OK ")) {
        g_error("qtest: '%s' failed: '%s'", text, reply);
    }
    words = g_strsplit(reply, " ", 0);
    g_free(reply);
    return words;
}

static void cmdf_ok(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void cmdf_ok(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_strfreev(cmd_ok(s, text));
}

static uint64_t cmdf_value(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static uint64_t cmdf_value(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;
    GStrv w;
    uint64_t v;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    w = cmd_ok(s, text);
    if (!w[1]) {
        g_error("qtest: '%s': reply without a value", text);
    }
    v = g_ascii_strtoull(w[1], NULL, 0);
    g_strfreev(w);
    return v;
}

void qtest_outb(QTestState *s, uint16_t port, uint8_t v) { cmdf_ok(s, "outb 0x%x 0x%x", port, v); }
void qtest_outw(QTestState *s, uint16_t port, uint16_t v) { cmdf_ok(s, "outw 0x%x 0x%x", port, v); }
void qtest_outl(QTestState *s, uint16_t port, uint32_t v) { cmdf_ok(s, "outl 0x%x 0x%x", port, v); }
uint8_t qtest_inb(QTestState *s, uint16_t port) { return (uint8_t)cmdf_value(s, "inb 0x%x", port); }
uint16_t qtest_inw(QTestState *s, uint16_t port) { return (uint16_t)cmdf_value(s, "inw 0x%x", port); }
uint32_t qtest_inl(QTestState *s, uint16_t port) { return (uint32_t)cmdf_value(s, "inl 0x%x", port); }

void qtest_writeb(QTestState *s, uint64_t a, uint8_t v)
{
    cmdf_ok(s, "writeb 0x%" PRIx64 " 0x%x", a, v);
}
void qtest_writew(QTestState *s, uint64_t a, uint16_t v)
{
    cmdf_ok(s, "writew 0x%" PRIx64 " 0x%x", a, v);
}
void qtest_writel(QTestState *s, uint64_t a, uint32_t v)
{
    cmdf_ok(s, "writel 0x%" PRIx64 " 0x%x", a, v);
}
void qtest_writeq(QTestState *s, uint64_t a, uint64_t v)
{
    cmdf_ok(s, "writeq 0x%" PRIx64 " 0x%" PRIx64, a, v);
}
uint8_t qtest_readb(QTestState *s, uint64_t a) { return (uint8_t)cmdf_value(s, "readb 0x%" PRIx64, a); }
uint16_t qtest_readw(QTestState *s, uint64_t a) { return (uint16_t)cmdf_value(s, "readw 0x%" PRIx64, a); }
uint32_t qtest_readl(QTestState *s, uint64_t a) { return (uint32_t)cmdf_value(s, "readl 0x%" PRIx64, a); }
uint64_t qtest_readq(QTestState *s, uint64_t a) { return cmdf_value(s, "readq 0x%" PRIx64, a); }

static int nibble(char c)
{
    return g_ascii_xdigit_value(c);
}

void qtest_memread(QTestState *s, uint64_t addr, void *buf, size_t len)
{
    g_autofree char *text = g_strdup_printf("read 0x%" PRIx64 " 0x%zx", addr, len);
    GStrv w = cmd_ok(s, text);
    uint8_t *p = buf;

    if (!w[1] || strlen(w[1]) != 2 + 2 * len) {
        g_error("qtest: '%s': bad reply length", text);
    }
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(nibble(w[1][2 + 2 * i]) << 4 | nibble(w[1][3 + 2 * i]));
    }
    g_strfreev(w);
}

void qtest_memwrite(QTestState *s, uint64_t addr, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    GString *t = g_string_new(NULL);

    g_string_printf(t, "write 0x%" PRIx64 " 0x%zx 0x", addr, len);
    for (size_t i = 0; i < len; i++) {
        g_string_append_printf(t, "%02x", p[i]);
    }
    if (len == 0) {
        g_string_append(t, "00");
    }
    g_strfreev(cmd_ok(s, t->str));
    g_string_free(t, TRUE);
}

void qtest_bufread(QTestState *s, uint64_t addr, void *buf, size_t len)
{
    g_autofree char *text = g_strdup_printf("b64read 0x%" PRIx64 " 0x%zx", addr, len);
    GStrv w = cmd_ok(s, text);
    gsize dlen = 0;
    guchar *data = g_base64_decode(w[1] ? w[1] : "", &dlen);

    if (dlen != len) {
        g_error("qtest: '%s': got %zu bytes", text, (size_t)dlen);
    }
    memcpy(buf, data, len);
    g_free(data);
    g_strfreev(w);
}

void qtest_bufwrite(QTestState *s, uint64_t addr, const void *buf, size_t len)
{
    g_autofree char *enc = g_base64_encode(buf, len);
    g_autofree char *text = g_strdup_printf("b64write 0x%" PRIx64 " 0x%zx %s", addr, len, enc);

    g_strfreev(cmd_ok(s, text));
}

void qtest_memset(QTestState *s, uint64_t addr, uint8_t v, size_t len)
{
    cmdf_ok(s, "memset 0x%" PRIx64 " 0x%zx 0x%02x", addr, len, v);
}

int64_t qtest_clock_step_next(QTestState *s)
{
    return (int64_t)cmdf_value(s, "clock_step");
}

int64_t qtest_clock_step(QTestState *s, int64_t ns)
{
    return (int64_t)cmdf_value(s, "clock_step %" PRIi64, ns);
}

int64_t qtest_clock_set(QTestState *s, int64_t ns)
{
    return (int64_t)cmdf_value(s, "clock_set %" PRIi64, ns);
}

void qtest_irq_intercept_in(QTestState *s, const char *path)
{
    cmdf_ok(s, "irq_intercept_in %s", path);
}

void qtest_irq_intercept_out(QTestState *s, const char *path)
{
    cmdf_ok(s, "irq_intercept_out %s", path);
}

void qtest_set_irq_in(QTestState *s, const char *path, const char *name, int num, int level)
{
    cmdf_ok(s, "set_irq_in %s %s %d %d", path, name, num, level);
}

bool qtest_get_irq(QTestState *s, int num)
{
    g_assert(num >= 0 && num < MAX_IRQ);
    /* A dummy request flushes IRQ lines sent before its reply. */
    qtest_inb(s, 0);
    return s->irq_level[num];
}

unsigned qtest_irq_raise_count(QTestState *s, int num)
{
    g_assert(num >= 0 && num < MAX_IRQ);
    qtest_inb(s, 0);
    return s->irq_raises[num];
}

/* ------------------------------------------------------------------------ */
/* QMP                                                                      */

static char *qmp_vformat(const char *fmt, va_list ap)
{
    g_autofree char *f = g_strdup(fmt);

    for (char *p = f; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    return g_strdup_vprintf(f, ap);
}

/*
 * stratus-conformance's view of a qtest program's QMP traffic (its report
 * rows for commands and events, docs/conformance.md): with
 * STRATUS_CONFORMANCE_QMP_TRACE set, every message sent ("> ") and received
 * ("< ") is appended to that file, one line each.
 */
static void trace_qmp(const char *dir, const char *text)
{
    const char *path = getenv("STRATUS_CONFORMANCE_QMP_TRACE");
    g_autofree char *one_line = NULL;
    FILE *f;

    if (!path || !*path) {
        return;
    }
    f = fopen(path, "a");
    if (!f) {
        g_error("%s: %s", path, g_strerror(errno));
    }
    one_line = g_strdelimit(g_strdup(text), "\r\n", ' ');
    fprintf(f, "%s %s\n", dir, one_line);
    fclose(f);
}

void qtest_qmp_send_raw(QTestState *s, const char *text)
{
    if (getenv("QTEST_LOG")) {
        fprintf(stderr, "# qmp> %s\n", text);
    }
    trace_qmp(">", text);
    send_all(s->qmp_fd, text, strlen(text));
}

void qtest_qmp_send(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;

    va_start(ap, fmt);
    text = qmp_vformat(fmt, ap);
    va_end(ap);
    line = g_strconcat(text, "\n", NULL);
    qtest_qmp_send_raw(s, line);
}

/* Reads one message from the socket; NULL on EOF. */
static JsonNode *qmp_read(QTestState *s, int tmo, bool fatal)
{
    for (;;) {
        bool eof = false;
        g_autofree char *line = NULL;
        JsonNode *n;
        GError *err = NULL;

        if (s->qmp_closed) {
            return NULL;
        }
        line = read_line(s->qmp_fd, s->mbuf, tmo, &eof);
        if (!line) {
            if (eof) {
                s->qmp_closed = true;
                if (fatal) {
                    g_error("QMP: connection closed by the VMM");
                }
                return NULL;
            }
            if (fatal) {
                g_error("QMP: timeout waiting for a message");
            }
            return NULL;
        }
        if (getenv("QTEST_LOG")) {
            fprintf(stderr, "# qmp< %s\n", line);
        }
        trace_qmp("<", line);
        if (!*line) {
            continue;
        }
        n = json_from_string(line, &err);
        if (!n) {
            g_error("QMP: unparsable message '%s': %s", line, err ? err->message : "empty");
        }
        return n;
    }
}

static bool is_event(JsonNode *n)
{
    return JSON_NODE_HOLDS_OBJECT(n) &&
           json_object_has_member(json_node_get_object(n), "event");
}

JsonNode *qtest_qmp_receive_reply(QTestState *s)
{
    for (;;) {
        JsonNode *n = qmp_read(s, timeout_ms(), true);

        if (!is_event(n)) {
            return n;
        }
        g_queue_push_tail(&s->events, n);
    }
}

JsonNode *qtest_qmp_receive(QTestState *s)
{
    if (!g_queue_is_empty(&s->events)) {
        return g_queue_pop_head(&s->events);
    }
    return qmp_read(s, timeout_ms(), true);
}

JsonNode *qtest_qmp(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;

    va_start(ap, fmt);
    text = qmp_vformat(fmt, ap);
    va_end(ap);
    line = g_strconcat(text, "\n", NULL);
    qtest_qmp_send_raw(s, line);
    return qtest_qmp_receive_reply(s);
}

/* The whole message goes in one sendmsg, so the descriptors come with its first byte. */
static void send_with_fds(int sock, const char *text, const int *fds, size_t nfds)
{
    size_t len = strlen(text), cl = CMSG_SPACE(sizeof(int) * nfds);
    g_autofree char *control = g_malloc0(cl);
    struct iovec iov = { (void *)text, len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control, .msg_controllen = cl };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    ssize_t n;

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    do {
        n = sendmsg(sock, &msg, 0);
    } while (n < 0 && errno == EINTR);
    g_assert_cmpint(n, >, 0);
    if ((size_t)n < len) {
        qtest_socket_write_all(sock, text + n, len - (size_t)n);
    }
}

JsonNode *qtest_qmp_fds(QTestState *s, int *fds, size_t fds_num, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;

    g_assert(fds_num > 0);
    va_start(ap, fmt);
    text = qmp_vformat(fmt, ap);
    va_end(ap);
    line = g_strconcat(text, "\n", NULL);
    if (getenv("QTEST_LOG")) {
        fprintf(stderr, "# qmp> (%zu fds) %s\n", fds_num, text);
    }
    trace_qmp(">", text);
    send_with_fds(s->qmp_fd, line, fds, fds_num);
    return qtest_qmp_receive_reply(s);
}

static JsonNode *assert_success(JsonNode *reply, const char *text)
{
    JsonObject *o = qmp_obj(reply);
    JsonNode *ret;

    if (!json_object_has_member(o, "return")) {
        g_autofree char *dump = json_to_string(reply, FALSE);
        g_error("QMP '%s' failed: %s", text, dump);
    }
    ret = json_node_copy(json_object_get_member(o, "return"));
    json_node_unref(reply);
    return ret;
}

JsonNode *qtest_qmp_assert_success_ref(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;

    va_start(ap, fmt);
    text = qmp_vformat(fmt, ap);
    va_end(ap);
    line = g_strconcat(text, "\n", NULL);
    qtest_qmp_send_raw(s, line);
    return assert_success(qtest_qmp_receive_reply(s), text);
}

void qtest_qmp_assert_success(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;

    va_start(ap, fmt);
    text = qmp_vformat(fmt, ap);
    va_end(ap);
    line = g_strconcat(text, "\n", NULL);
    qtest_qmp_send_raw(s, line);
    json_node_unref(assert_success(qtest_qmp_receive_reply(s), text));
}

static bool event_is(JsonNode *n, const char *name)
{
    return is_event(n) && g_strcmp0(json_object_get_string_member(json_node_get_object(n),
                                                                   "event"), name) == 0;
}

JsonNode *qtest_qmp_event_ref(QTestState *s, const char *event)
{
    for (GList *l = s->events.head; l; l = l->next) {
        if (event_is(l->data, event)) {
            JsonNode *n = l->data;
            g_queue_delete_link(&s->events, l);
            return n;
        }
    }
    return NULL;
}

JsonNode *qtest_qmp_eventwait_ref(QTestState *s, const char *event)
{
    JsonNode *n = qtest_qmp_event_ref(s, event);

    while (!n) {
        JsonNode *m = qmp_read(s, timeout_ms(), true);
        if (event_is(m, event)) {
            n = m;
        } else if (is_event(m)) {
            g_queue_push_tail(&s->events, m);
        } else {
            g_autofree char *dump = json_to_string(m, FALSE);
            g_error("QMP: unexpected reply while waiting for %s: %s", event, dump);
        }
    }
    return n;
}

void qtest_qmp_eventwait(QTestState *s, const char *event)
{
    json_node_unref(qtest_qmp_eventwait_ref(s, event));
}

bool qtest_qmp_eof(QTestState *s, int tmo)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)tmo * 1000;

    while (!s->qmp_closed) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        JsonNode *n;

        if (left <= 0) {
            return false;
        }
        n = qmp_read(s, (int)left, false);
        if (n) {
            g_queue_push_tail(&s->events, n);
        } else if (!s->qmp_closed) {
            return false;
        }
    }
    return true;
}

JsonObject *qmp_obj(JsonNode *n)
{
    if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
        g_error("QMP: expected a JSON object");
    }
    return json_node_get_object(n);
}

bool qmp_has_error(JsonNode *reply)
{
    return json_object_has_member(qmp_obj(reply), "error");
}

static JsonObject *error_obj(JsonNode *reply)
{
    JsonObject *o = qmp_obj(reply);

    if (!json_object_has_member(o, "error")) {
        return NULL;
    }
    return json_object_get_object_member(o, "error");
}

const char *qmp_error_class(JsonNode *reply)
{
    JsonObject *e = error_obj(reply);

    return e ? qmp_get_str(e, "class") : NULL;
}

const char *qmp_error_desc(JsonNode *reply)
{
    JsonObject *e = error_obj(reply);

    return e ? qmp_get_str(e, "desc") : NULL;
}

JsonObject *qmp_return_obj(JsonNode *reply)
{
    JsonObject *o = qmp_obj(reply);
    JsonNode *r = json_object_get_member(o, "return");

    if (!r || !JSON_NODE_HOLDS_OBJECT(r)) {
        g_autofree char *dump = json_to_string(reply, FALSE);
        g_error("QMP: expected {\"return\": {...}}, got %s", dump);
    }
    return json_node_get_object(r);
}

const char *qmp_get_str(JsonObject *o, const char *member)
{
    JsonNode *n = json_object_get_member(o, member);

    if (!n || json_node_get_value_type(n) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(n);
}

/* ------------------------------------------------------------------------ */
/* Guest memory allocator                                                   */

void guest_alloc_init(QGuestAlloc *a, uint64_t start, uint64_t end)
{
    a->start = a->next = start;
    a->end = end;
}

uint64_t guest_alloc(QGuestAlloc *a, uint64_t size, uint64_t align)
{
    uint64_t p;

    if (align == 0) {
        align = 16;
    }
    g_assert((align & (align - 1)) == 0);
    p = (a->next + align - 1) & ~(align - 1);
    if (p < a->next || size > a->end - p || p > a->end) {
        g_error("guest_alloc: out of guest memory (0x%" PRIx64 " bytes)", size);
    }
    a->next = p + size;
    return p;
}

uint64_t guest_alloc0(QTestState *s, QGuestAlloc *a, uint64_t size, uint64_t align)
{
    uint64_t p = guest_alloc(a, size, align);

    if (size) {
        qtest_memset(s, p, 0, size);
    }
    return p;
}

/* ------------------------------------------------------------------------ */
/* UART                                                                     */

void uart_init(QTestState *s, uint16_t base)
{
    qtest_outb(s, base + 3, 0x80);      /* DLAB */
    qtest_outb(s, base + 0, 0x01);      /* 115200 baud */
    qtest_outb(s, base + 1, 0x00);
    qtest_outb(s, base + 3, 0x03);      /* 8N1 */
    qtest_outb(s, base + 2, 0x07);      /* FIFO on, cleared */
    qtest_outb(s, base + 4, 0x0b);      /* DTR RTS OUT2 */
    qtest_outb(s, base + 1, 0x00);      /* no interrupts */
}

void uart_putc(QTestState *s, uint16_t base, uint8_t c)
{
    for (int i = 0; !(qtest_inb(s, base + 5) & 0x20); i++) {
        if (i > 10000) {
            g_error("uart: THR never empties");
        }
    }
    qtest_outb(s, base, c);
}

bool uart_rx_ready(QTestState *s, uint16_t base)
{
    return qtest_inb(s, base + 5) & 0x01;
}

int uart_getc(QTestState *s, uint16_t base, int tmo)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)tmo * 1000;

    for (;;) {
        if (uart_rx_ready(s, base)) {
            return qtest_inb(s, base);
        }
        if (g_get_monotonic_time() > deadline) {
            return -1;
        }
        g_usleep(1000);
    }
}
