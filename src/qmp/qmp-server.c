/*
 * The QMP server: one QmpMonitor per MonitorConfig, each on its chardev's
 * socket (unix/tcp listener, client connection, or inherited fd=N, or stdio),
 * one client per listener at a time (the listener is parked while a client is
 * connected, as StratoVirt does). Raw sockets watched with GLib fd sources on
 * the machine's context; all callbacks run with the machine lock held.
 *
 * Per connection: greeting on connect; input through the streaming splitter;
 * a leaky bucket (the monitor's rate-limit=, measured on the host's
 * monotonic clock whatever the accelerator) - an excess command is answered
 * with OperationThrottled (id echoed) and nothing else is dropped; SCM_RIGHTS fds
 * captured for getfd; output is one compact JSON line + "\r\n" per message,
 * written in one send(MSG_NOSIGNAL) when possible, else queued and written
 * when the socket is writable (never blocks the main loop).
 *
 * Events: formatted (with the wall-clock timestamp) when emitted and queued on
 * the server. While a command runs they are held and flushed right after its
 * reply (or right before it, for QMP_CMD_EVENTS_FIRST commands); otherwise
 * flushed at once from the main thread, or from an idle callback when emitted
 * on another thread (a vCPU). Strict-mode connections get events only after
 * negotiation.
 *
 * One file (about 1000 lines) on purpose: the server, its monitors' listeners
 * and their connections are one cycle of GLib callbacks over the three structs
 * below (accept -> connection -> dead -> reap -> listener re-armed; events held
 * around a reply through in_dispatch); split, those structs and most of the
 * static functions would have to go into a shared header.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib-unix.h>

#include "qmp/qmp.h"
#include "qmp/json-splitter.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-events.h"
#include "qmp/qmp-json.h"
#include "util/log.h"

#ifndef STRATUS_VERSION
#define STRATUS_VERSION "0.0.0"
#endif

#define QMP_MAX_SCM_FDS 16
/*
 * Output queued for a client that does not read: past QMP_OUT_PAUSE bytes its
 * input is no longer read or served (so its own commands cannot grow the
 * queue by more than one reply); past QMP_OUT_HARD_LIMIT (only events can get
 * it there) the client is dropped.
 */
#define QMP_OUT_PAUSE       (64 * 1024)
#define QMP_OUT_HARD_LIMIT  (1024 * 1024)
/* How long a listener that could not accept (EMFILE...) stays parked. */
#define QMP_ACCEPT_BACKOFF_MS 1000

typedef struct QmpMonitor QmpMonitor;
typedef struct QmpConn QmpConn;

struct QmpConn {
    QmpMonitor *mon;
    int in_fd, out_fd;
    bool close_fds;
    bool in_is_socket;
    GSource *in_src, *out_src;
    GByteArray *out;
    JsonSplitter *sp;
    QmpSession sess;
    QmpRateLimiter bucket;
    bool dead;
    bool stop_input;            /* quit seen: ignore further input */
    GQueue inband;              /* QmpInput*: read ahead of exec-oob, not served yet */
};

static void conn_update_in_watch(QmpConn *c);
static void conn_process(QmpConn *c);

struct QmpMonitor {
    QmpServer *srv;
    char *id;
    QmpMode mode;
    QmpGreeting greeting;
    unsigned rate_limit;        /* commands per second and connection; 0 = none */
    /*
     * The greeting offers "oob": strict mode on a socket, where QEMU's
     * monitor runs in its I/O thread (not on stdio, nor in lenient mode,
     * whose StratoVirt greeting offers nothing).
     */
    bool offer_oob;
    char *desc;                 /* for messages */
    char *chardev_id;           /* the chardev it serves (yank names it) */
    int listen_fd;
    GSource *listen_src;        /* the fd watch, or the accept back-off timer */
    bool accept_failing;        /* accept() failed; logged once until it works */
    char *unix_path;            /* created by us, unlinked at free */
    QmpConn *conn;
    GHashTable *named_fds;
};

struct QmpServer {
    Machine *m;
    GMainContext *ctx;
    GPtrArray *monitors;        /* QmpMonitor* */
    QmpCommandTable *table;
    GQueue events;              /* char* lines, without "\r\n" */
    int in_dispatch;
    GSource *flush_src;
    GSource *reap_src;
    QmpClockFn mono_clock, wall_clock;
    void *clock_opaque;
};

/* ------------------------------------------------------------------------ */
/* Clocks                                                                   */

void qmp_server_set_clock(QmpServer *s, QmpClockFn monotonic, QmpClockFn wall,
                          void *opaque)
{
    s->mono_clock = monotonic;
    s->wall_clock = wall;
    s->clock_opaque = opaque;
}

/*
 * Host time, on every accelerator: the rate limit protects the host from a
 * flooding client, and the machine clock would be qtest's virtual time,
 * which only moves when a test steps it (a throttled connection would stay
 * throttled for good, quit included).
 */
static gint64 mono_now(QmpServer *s)
{
    return s->mono_clock ? s->mono_clock(s->clock_opaque) : g_get_monotonic_time();
}

static gint64 wall_now(QmpServer *s)
{
    return s->wall_clock ? s->wall_clock(s->clock_opaque) : g_get_real_time();
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */

static void schedule_reap(QmpServer *s);
static gboolean conn_writable(gint fd, GIOCondition cond, gpointer opaque);

static void conn_mark_dead(QmpConn *c)
{
    if (!c->dead) {
        c->dead = true;
        schedule_reap(c->mon->srv);
    }
}

static ssize_t conn_write_raw(QmpConn *c, const void *buf, size_t len)
{
    ssize_t n;
    do {
        if (c->in_is_socket && c->out_fd == c->in_fd) {
            n = send(c->out_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            n = write(c->out_fd, buf, len);
        }
    } while (n < 0 && errno == EINTR);
    return n;
}

/* Writes queued output; false if the peer is gone. */
static bool conn_flush_out(QmpConn *c)
{
    while (c->out->len) {
        ssize_t n = conn_write_raw(c, c->out->data, c->out->len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true;
            }
            return false;
        }
        g_byte_array_remove_range(c->out, 0, (guint)n);
    }
    return true;
}

static void conn_update_out_watch(QmpConn *c)
{
    if (c->out->len && !c->out_src && !c->dead) {
        c->out_src = g_unix_fd_source_new(c->out_fd, G_IO_OUT);
        g_source_set_callback(c->out_src, (GSourceFunc)(void (*)(void))conn_writable,
                              c, NULL);
        g_source_attach(c->out_src, c->mon->srv->ctx);
    } else if (!c->out->len && c->out_src) {
        g_source_destroy(c->out_src);
        g_source_unref(c->out_src);
        c->out_src = NULL;
    }
}

/* Queues one line (+ "\r\n") and writes what the socket takes now. */
static void conn_send_line(QmpConn *c, const char *line)
{
    size_t len = strlen(line);

    if (c->dead) {
        return;
    }
    /* An empty queue always takes one message, however long. */
    if (c->out->len && c->out->len + len + 2 > QMP_OUT_HARD_LIMIT) {
        log_warn("QMP monitor '%s': client does not read its output "
                 "(%u bytes queued), disconnected", c->mon->id, c->out->len);
        conn_mark_dead(c);
        return;
    }
    g_byte_array_append(c->out, (const guint8 *)line, len);
    g_byte_array_append(c->out, (const guint8 *)"\r\n", 2);
    if (!conn_flush_out(c)) {
        conn_mark_dead(c);
        return;
    }
    conn_update_out_watch(c);
}

static gboolean conn_writable(gint fd, GIOCondition cond, gpointer opaque)
{
    QmpConn *c = opaque;
    if (!conn_flush_out(c)) {
        conn_mark_dead(c);
    }
    if (!c->dead && c->out->len < QMP_OUT_PAUSE) {
        /* Backed-up input is served again (which may queue more output). */
        conn_process(c);
        conn_update_in_watch(c);
    }
    if (!c->out->len || c->dead) {
        if (c->out_src) {
            g_source_destroy(c->out_src);
            g_source_unref(c->out_src);
            c->out_src = NULL;
        }
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* A reply to a message whose numeric id was written raw_id (NULL: none). */
static void conn_send_response(QmpConn *c, JsonNode *resp, const char *raw_id)
{
    char *line = qmp_format_response_raw_id(resp, raw_id);
    conn_send_line(c, line);
    g_free(line);
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */

static void flush_events(QmpServer *s)
{
    char *line;
    if (s->in_dispatch) {
        return;
    }
    while ((line = g_queue_pop_head(&s->events))) {
        for (guint i = 0; i < s->monitors->len; i++) {
            QmpMonitor *mon = g_ptr_array_index(s->monitors, i);
            QmpConn *c = mon->conn;
            if (!c || c->dead || !qmp_session_wants_events(&c->sess)) {
                continue;
            }
            conn_send_line(c, line);
        }
        g_free(line);
    }
}

static gboolean flush_events_idle(gpointer opaque)
{
    QmpServer *s = opaque;
    g_source_unref(s->flush_src);
    s->flush_src = NULL;
    flush_events(s);
    return G_SOURCE_REMOVE;
}

void qmp_server_emit_event(QmpServer *s, const char *name, JsonNode *data)
{
    char *line;
    if (!s) {
        if (data) {
            json_node_unref(data);
        }
        return;
    }
    line = qmp_format_event(name, data, wall_now(s));
    if (data) {
        json_node_unref(data);
    }
    g_queue_push_tail(&s->events, line);
    if (s->in_dispatch) {
        return;                 /* written with the command's reply */
    }
    if (g_main_context_is_owner(s->ctx)) {
        flush_events(s);
    } else if (!s->flush_src) {
        /* Another thread (a vCPU): let the main loop write it. */
        s->flush_src = g_idle_source_new();
        g_source_set_priority(s->flush_src, G_PRIORITY_HIGH);
        g_source_set_callback(s->flush_src, flush_events_idle, s, NULL);
        g_source_attach(s->flush_src, s->ctx);
    }
}

/* ------------------------------------------------------------------------ */
/* Input                                                                    */

static void handle_message(QmpConn *c, JsonNode *msg, GError *perr, const char *raw_id)
{
    QmpServer *s = c->mon->srv;
    JsonNode *resp;
    unsigned flags = 0;

    if (!qmp_rate_limiter_admit(&c->bucket, mono_now(s))) {
        char *d = g_strdup_printf("More than %u requests received during 1 second",
                                  c->mon->rate_limit);
        resp = qmp_error_response(msg, STRATUS_ERROR_OPERATION_THROTTLED, d);
        g_free(d);
        conn_send_response(c, resp, raw_id);
        json_node_unref(resp);
        return;
    }

    s->in_dispatch++;
    resp = qmp_dispatch(s->table, &c->sess, s->m, msg, perr, &flags);
    s->in_dispatch--;

    if (flags & QMP_CMD_EVENTS_FIRST) {
        flush_events(s);
    }
    conn_send_response(c, resp, raw_id);
    json_node_unref(resp);
    flush_events(s);

    if (s->m && s->m->shutdown_request != SHUTDOWN_NONE) {
        /* quit (or another shutdown): the rest of the input is not served. */
        c->stop_input = true;
    }
}

typedef struct QmpInput {
    JsonNode *msg;              /* NULL for a JSON error */
    GError *err;
    char *raw_id;               /* its numeric id as written (json_splitter_raw_id) */
} QmpInput;

static void qmp_input_free(gpointer p)
{
    QmpInput *in = p;

    if (in->msg) {
        json_node_unref(in->msg);
    }
    g_clear_error(&in->err);
    g_free(in->raw_id);
    g_free(in);
}

/* The next complete message of the input, or NULL. */
static QmpInput *conn_next_input(QmpConn *c)
{
    QmpInput in = { NULL, NULL, NULL };

    if (!json_splitter_next(c->sp, &in.msg, &in.err)) {
        return NULL;
    }
    in.raw_id = g_strdup(json_splitter_raw_id(c->sp));
    return g_memdup2(&in, sizeof(in));
}

static void conn_handle_input(QmpConn *c, QmpInput *in)
{
    handle_message(c, in->msg, in->err, in->raw_id);
    qmp_input_free(in);
}

static bool conn_serving(const QmpConn *c)
{
    return !c->dead && !c->stop_input && c->out->len < QMP_OUT_PAUSE;
}

/*
 * Serves complete messages until the input runs out or the output backs up.
 * Without OOB, requests are taken one at a time (QEMU stops reading until
 * the reply is out). Once the session enabled OOB, every complete request is
 * taken at once, as QEMU's I/O thread does: exec-oob ones run right away,
 * ahead of the in-band ones received before them, which wait in c->inband.
 */
static void conn_process(QmpConn *c)
{
    QmpInput *in;

    while (conn_serving(c)) {
        while (c->sess.oob_enabled && conn_serving(c) && (in = conn_next_input(c))) {
            if (qmp_request_is_oob(&c->sess, in->msg)) {
                conn_handle_input(c, in);
            } else {
                g_queue_push_tail(&c->inband, in);
            }
        }
        if (!conn_serving(c)) {
            break;
        }
        in = g_queue_pop_head(&c->inband);
        if (!in && !(in = conn_next_input(c))) {
            break;
        }
        conn_handle_input(c, in);
    }
}

static void conn_stop_reading(QmpConn *c)
{
    if (c->in_src) {
        g_source_destroy(c->in_src);
        g_source_unref(c->in_src);
        c->in_src = NULL;
    }
}

static gboolean conn_readable(gint fd, GIOCondition cond, gpointer opaque);

/* Input is read while the client is served and its output is not backed up. */
static void conn_update_in_watch(QmpConn *c)
{
    bool want = !c->dead && !c->stop_input && c->out->len < QMP_OUT_PAUSE;

    if (!want) {
        conn_stop_reading(c);
    } else if (!c->in_src) {
        c->in_src = g_unix_fd_source_new(c->in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
        g_source_set_callback(c->in_src, (GSourceFunc)(void (*)(void))conn_readable,
                              c, NULL);
        g_source_attach(c->in_src, c->mon->srv->ctx);
    }
}

static gboolean conn_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    QmpConn *c = opaque;
    char buf[65536];
    ssize_t n;

    if (c->dead || c->stop_input) {
        conn_stop_reading(c);
        return G_SOURCE_REMOVE;
    }

    if (c->in_is_socket) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * QMP_MAX_SCM_FDS)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
        };
        int *fds = NULL;
        unsigned nfds = 0;

        do {
            n = recvmsg(c->in_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n >= 0) {
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
                 cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                    unsigned k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                    fds = g_renew(int, fds, nfds + k);
                    memcpy(fds + nfds, CMSG_DATA(cm), k * sizeof(int));
                    nfds += k;
                }
            }
            if (nfds) {
                /* New descriptors replace unconsumed older ones (QEMU). */
                qmp_session_set_scm_fds(&c->sess, fds, nfds);
            }
        }
    } else {
        do {
            n = read(c->in_fd, buf, sizeof(buf));
        } while (n < 0 && errno == EINTR);
    }

    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return G_SOURCE_CONTINUE;
        }
        conn_mark_dead(c);
        conn_stop_reading(c);
        return G_SOURCE_REMOVE;
    }
    if (n == 0) {
        conn_mark_dead(c);
        conn_stop_reading(c);
        return G_SOURCE_REMOVE;
    }
    json_splitter_feed(c->sp, buf, (size_t)n);
    conn_process(c);
    conn_update_in_watch(c);
    return c->in_src ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
}

static bool fd_is_socket(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static QmpConn *conn_new(QmpMonitor *mon, int in_fd, int out_fd, bool close_fds)
{
    QmpConn *c = g_new0(QmpConn, 1);
    char *greeting;

    c->mon = mon;
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    c->close_fds = close_fds;
    c->in_is_socket = fd_is_socket(in_fd);
    c->out = g_byte_array_new();
    c->sp = json_splitter_new(JSON_SPLITTER_DEFAULT_MAX_MESSAGE,
                              JSON_SPLITTER_DEFAULT_MAX_DEPTH);
    qmp_session_init(&c->sess, mon->mode, mon->named_fds);
    c->sess.oob_offered = mon->offer_oob;
    qmp_rate_limiter_init(&c->bucket, mon->rate_limit);
    set_nonblock(in_fd);
    if (out_fd != in_fd) {
        set_nonblock(out_fd);
    }
    mon->conn = c;
    conn_update_in_watch(c);

    greeting = qmp_format_greeting(mon->greeting, STRATUS_VERSION, mon->offer_oob);
    conn_send_line(c, greeting);
    g_free(greeting);
    return c;
}

/* Bounded blocking flush used when tearing down. */
static void conn_drain_output(QmpConn *c, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    while (c->out->len && !c->dead) {
        struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            break;
        }
        if (!conn_flush_out(c)) {
            break;
        }
    }
}

static void listener_watch(QmpMonitor *mon);

static void conn_free(QmpConn *c)
{
    QmpMonitor *mon = c->mon;
    conn_stop_reading(c);
    if (c->out_src) {
        g_source_destroy(c->out_src);
        g_source_unref(c->out_src);
    }
    qmp_session_clear_scm_fds(&c->sess);
    g_queue_clear_full(&c->inband, qmp_input_free);
    json_splitter_free(c->sp);
    g_byte_array_unref(c->out);
    if (c->close_fds) {
        close(c->in_fd);
        if (c->out_fd != c->in_fd) {
            close(c->out_fd);
        }
    }
    if (mon->conn == c) {
        mon->conn = NULL;
    }
    g_free(c);
}

static gboolean reap_idle(gpointer opaque)
{
    QmpServer *s = opaque;
    g_source_unref(s->reap_src);
    s->reap_src = NULL;
    for (guint i = 0; i < s->monitors->len; i++) {
        QmpMonitor *mon = g_ptr_array_index(s->monitors, i);
        if (mon->conn && mon->conn->dead) {
            conn_free(mon->conn);
            /* Unpark the listener: the next client gets its greeting. */
            listener_watch(mon);
        }
    }
    return G_SOURCE_REMOVE;
}

static void schedule_reap(QmpServer *s)
{
    if (!s->reap_src) {
        s->reap_src = g_idle_source_new();
        g_source_set_callback(s->reap_src, reap_idle, s, NULL);
        g_source_attach(s->reap_src, s->ctx);
    }
}

/* ------------------------------------------------------------------------ */
/* Listeners                                                                */

static gboolean listener_backoff_over(gpointer opaque)
{
    QmpMonitor *mon = opaque;

    g_source_unref(mon->listen_src);
    mon->listen_src = NULL;
    log_debug("QMP monitor '%s': listening again", mon->id);
    listener_watch(mon);
    return G_SOURCE_REMOVE;
}

static gboolean listener_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    QmpMonitor *mon = opaque;
    int cfd;

    do {
        cfd = accept4(mon->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (cfd < 0 && errno == EINTR);
    if (cfd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) {
            return G_SOURCE_CONTINUE;
        }
        /*
         * Out of descriptors (EMFILE, ENFILE) or memory: the connection stays
         * pending and the watch would fire again at once, a busy loop. Park
         * the listener for a while instead.
         */
        if (!mon->accept_failing) {
            log_warn("QMP monitor '%s': cannot accept a connection: %s; retrying "
                     "every %d ms", mon->id, g_strerror(errno), QMP_ACCEPT_BACKOFF_MS);
            mon->accept_failing = true;
        }
        g_source_unref(mon->listen_src);
        mon->listen_src = g_timeout_source_new(QMP_ACCEPT_BACKOFF_MS);
        g_source_set_callback(mon->listen_src, listener_backoff_over, mon, NULL);
        g_source_attach(mon->listen_src, mon->srv->ctx);
        return G_SOURCE_REMOVE;
    }
    mon->accept_failing = false;
    if (mon->conn) {
        close(cfd);             /* cannot happen: the listener is parked */
        return G_SOURCE_CONTINUE;
    }
    /* Park the listener while this client is connected. */
    g_source_unref(mon->listen_src);
    mon->listen_src = NULL;
    conn_new(mon, cfd, cfd, true);
    return G_SOURCE_REMOVE;
}

static void listener_watch(QmpMonitor *mon)
{
    if (mon->listen_fd < 0 || mon->listen_src || mon->conn) {
        return;
    }
    mon->listen_src = g_unix_fd_source_new(mon->listen_fd, G_IO_IN);
    g_source_set_callback(mon->listen_src,
                          (GSourceFunc)(void (*)(void))listener_ready, mon, NULL);
    g_source_attach(mon->listen_src, mon->srv->ctx);
}

static bool fill_unix_addr(struct sockaddr_un *sun, const char *path, GError **err)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "QMP socket path '%s' is too long", path);
        return false;
    }
    strcpy(sun->sun_path, path);
    return true;
}

static int unix_listen(QmpMonitor *mon, const char *path, GError **err)
{
    struct sockaddr_un sun;
    struct stat st;
    int fd;

    if (!fill_unix_addr(&sun, path, err)) {
        return -1;
    }
    /* A stale socket file from an earlier run is removed (StratoVirt). */
    if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno),
                    "Failed to create QMP socket: %s", g_strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int e = errno;
        close(fd);
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "Failed to bind socket to '%s': %s", path, g_strerror(e));
        return -1;
    }
    mon->unix_path = g_strdup(path);
    if (chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        close(fd);
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "Failed to listen on '%s': %s", path, g_strerror(e));
        return -1;
    }
    return fd;
}

static int tcp_socket(const ChardevConfig *chr, bool server, GError **err)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = server ? AI_PASSIVE : 0,
    };
    struct addrinfo *res = NULL, *ai;
    char port[16];
    const char *host = chr->host && *chr->host ? chr->host
                                               : (server ? "0.0.0.0" : "127.0.0.1");
    int fd = -1, rc, e = 0;

    g_snprintf(port, sizeof(port), "%d", chr->port);
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "address resolution failed for %s:%s: %s", host, port,
                    gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (server) {
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0) {
                break;
            }
        } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        /* QEMU's texts: "Failed to connect to '127.0.0.1:4444': Connection refused". */
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "Failed to %s '%s:%s': %s", server ? "listen on" : "connect to",
                    host, port, g_strerror(e));
    }
    return fd;
}

static int unix_connect(const char *path, GError **err)
{
    struct sockaddr_un sun;
    int fd;

    if (!fill_unix_addr(&sun, path, err)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
        }
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "Failed to connect to '%s': %s", path, g_strerror(e));
        return -1;
    }
    return fd;
}

static void monitor_free(QmpMonitor *mon)
{
    if (mon->conn) {
        conn_drain_output(mon->conn, 1000);
        conn_free(mon->conn);
    }
    if (mon->listen_src) {
        g_source_destroy(mon->listen_src);
        g_source_unref(mon->listen_src);
    }
    if (mon->listen_fd >= 0) {
        close(mon->listen_fd);
    }
    if (mon->unix_path) {
        unlink(mon->unix_path);
        g_free(mon->unix_path);
    }
    if (mon->named_fds) {
        g_hash_table_destroy(mon->named_fds);
    }
    g_free(mon->id);
    g_free(mon->chardev_id);
    g_free(mon->desc);
    g_free(mon);
}

static bool monitor_open(QmpMonitor *mon, const ChardevConfig *chr, GError **err)
{
    int fd;

    switch (chr->kind) {
    case CHARDEV_STDIO:
        conn_new(mon, STDIN_FILENO, STDOUT_FILENO, false);
        return true;
    case CHARDEV_SOCKET:
        break;
    default:
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "cannot be used for a QMP monitor (a socket or stdio is needed)");
        return false;
    }

    if (chr->fd >= 0) {
        /* An inherited, already connected socket (QEMUMachine's socketpair). */
        if (fcntl(chr->fd, F_GETFD) < 0) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "fd %d is not open", chr->fd);
            return false;
        }
        fcntl(chr->fd, F_SETFD, FD_CLOEXEC);
        conn_new(mon, chr->fd, chr->fd, true);
        return true;
    }

    if (!chr->server) {
        /* Client mode: connect out now (libqtest listens before exec). */
        fd = chr->path ? unix_connect(chr->path, err) : tcp_socket(chr, false, err);
        if (fd < 0) {
            return false;
        }
        conn_new(mon, fd, fd, true);
        return true;
    }

    fd = chr->path ? unix_listen(mon, chr->path, err) : tcp_socket(chr, true, err);
    if (fd < 0) {
        return false;
    }
    mon->listen_fd = fd;
    set_nonblock(fd);

    if (!chr->nowait) {
        /* server without nowait: wait for the first client, as QEMU does. */
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int cfd = -1;
        fprintf(stderr, "stratus: QMP monitor '%s' waiting for connection on %s\n",
                mon->id, mon->desc);
        while (cfd < 0) {
            if (poll(&p, 1, -1) < 0 && errno != EINTR) {
                break;
            }
            cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (cfd < 0 && errno != EAGAIN && errno != EINTR &&
                errno != ECONNABORTED) {
                break;
            }
        }
        if (cfd >= 0) {
            conn_new(mon, cfd, cfd, true);
            return true;
        }
    }
    listener_watch(mon);
    return true;
}

/*
 * query-commands answers in StratoVirt's catalogue order (golden
 * qmp-query-commands.txt), in which the QOM commands sit between machine
 * ones. Naming the catalogue up to its last QOM command first fixes those
 * positions; each table then replaces its entries in place
 * (qmp_command_table_add), and the other commands follow in registration
 * order.
 */
static bool qmp_cmd_unregistered(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                 GError **err)
{
    /* Only reachable if a table stopped registering a catalogued name. */
    qmp_error_set(err, STRATUS_ERROR_COMMAND_NOT_FOUND,
                  "The command %s has not been found", ctx->cmd->name);
    return false;
}

#define CATALOGUED(name) { name, qmp_cmd_unregistered }
static const QmpCommand stratovirt_catalogue[] = {
    CATALOGUED("qmp_capabilities"), CATALOGUED("quit"), CATALOGUED("stop"),
    CATALOGUED("cont"), CATALOGUED("system_powerdown"), CATALOGUED("system_reset"),
    CATALOGUED("query-hotpluggable-cpus"), CATALOGUED("query-cpus"),
    CATALOGUED("query-status"), CATALOGUED("getfd"), CATALOGUED("query-version"),
    CATALOGUED("query-commands"), CATALOGUED("query-target"), CATALOGUED("query-kvm"),
    CATALOGUED("query-machines"), CATALOGUED("query-events"),
    CATALOGUED("qom-list-types"), CATALOGUED("query-qmp-schema"),
    CATALOGUED("qom-list"), CATALOGUED("qom-get"),
    { NULL }
};
#undef CATALOGUED

QmpServer *qmp_server_new(Machine *m, GError **err)
{
    QmpServer *s = g_new0(QmpServer, 1);
    StratusConfig *cfg = m->cfg;

    s->m = m;
    s->ctx = m->ctx ? m->ctx : g_main_context_default();
    s->monitors = g_ptr_array_new();
    /* Each server owns its table, so nothing global is mutated at run time. */
    s->table = qmp_command_table_new();
    qmp_command_table_add(s->table, stratovirt_catalogue);
    qmp_register_machine_commands(s->table);
    qmp_register_qom_commands(s->table);
    qmp_command_table_add_events(s->table, qmp_standard_events);
    g_queue_init(&s->events);

    for (guint i = 0; cfg && cfg->monitors && i < cfg->monitors->len; i++) {
        const MonitorConfig *mc = g_ptr_array_index(cfg->monitors, i);
        const ChardevConfig *chr = config_find_chardev(cfg, mc->chardev);
        QmpMonitor *mon;

        if (!chr) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                        "chardev '%s' not found for QMP monitor", mc->chardev);
            qmp_server_free(s);
            return NULL;
        }
        mon = g_new0(QmpMonitor, 1);
        mon->srv = s;
        mon->id = g_strdup(mc->id ? mc->id : mc->chardev);
        mon->chardev_id = g_strdup(chr->id);
        mon->mode = mc->mode;
        mon->greeting = mc->greeting;
        mon->rate_limit = mc->rate_limit;
        mon->offer_oob = mc->mode == QMP_MODE_STRICT && mc->greeting == QMP_GREETING_QEMU &&
                         chr->kind == CHARDEV_SOCKET;
        mon->listen_fd = -1;
        mon->named_fds = qmp_named_fds_new();
        if (chr->path) {
            mon->desc = g_strdup_printf("unix:%s", chr->path);
        } else if (chr->port >= 0) {
            mon->desc = g_strdup_printf("tcp:%s:%d", chr->host ? chr->host : "",
                                        chr->port);
        } else {
            mon->desc = g_strdup(chr->id);
        }
        g_ptr_array_add(s->monitors, mon);
        if (!monitor_open(mon, chr, err)) {
            /* Name the option, as QEMU does: "-qmp unix:/p: Failed to ...". */
            if (mc->uri) {
                g_prefix_error(err, "-qmp %s: ", mc->uri);
            } else {
                g_prefix_error(err, "chardev '%s': ", chr->id);
            }
            qmp_server_free(s);
            return NULL;
        }
    }
    return s;
}

bool qmp_server_yank(QmpServer *s, const char *chardev_id, bool yank)
{
    for (guint i = 0; i < s->monitors->len; i++) {
        QmpMonitor *mon = g_ptr_array_index(s->monitors, i);
        if (g_strcmp0(mon->chardev_id, chardev_id)) {
            continue;
        }
        /* As a hangup: the read watch sees EOF and the listener takes a new client. */
        if (yank && mon->conn && !mon->conn->dead && mon->conn->in_is_socket) {
            shutdown(mon->conn->in_fd, SHUT_RDWR);
        }
        return true;
    }
    return false;
}

void qmp_server_free(QmpServer *s)
{
    if (!s) {
        return;
    }
    s->in_dispatch = 0;
    flush_events(s);
    if (s->flush_src) {
        g_source_destroy(s->flush_src);
        g_source_unref(s->flush_src);
    }
    if (s->reap_src) {
        g_source_destroy(s->reap_src);
        g_source_unref(s->reap_src);
    }
    for (guint i = 0; i < s->monitors->len; i++) {
        monitor_free(g_ptr_array_index(s->monitors, i));
    }
    g_ptr_array_free(s->monitors, TRUE);
    g_queue_clear_full(&s->events, g_free);
    qmp_command_table_free(s->table);
    g_free(s);
}

QmpCommandTable *qmp_server_table(QmpServer *s)
{
    return s->table;
}
