/*
 * Character device core: backend selection and the fd I/O engine shared by
 * all backends (see chardev-internal.h for the watch discipline).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "chardev/chardev-internal.h"
#include "util/log.h"

static void source_clear(GSource **p)
{
    if (*p) {
        g_source_destroy(*p);
        g_source_unref(*p);
        *p = NULL;
    }
}

GSource *chardev_add_fd_watch(Chardev *chr, int fd, GIOCondition cond,
                              GUnixFDSourceFunc fn)
{
    GSource *src = g_unix_fd_source_new(fd, cond);
    g_source_set_callback(src, G_SOURCE_FUNC(fn), chr, NULL);
    g_source_attach(src, chr->ctx);
    return src;
}

bool chardev_set_nonblock(int fd, GError **err, const Chardev *chr)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "chardev '%s': cannot make fd %d non-blocking: %s",
                    chr->id, fd, g_strerror(e));
        return false;
    }
    return true;
}

Chardev *chardev_alloc(const ChardevConfig *cfg, const ChardevClass *klass,
                       GMainContext *ctx)
{
    Chardev *chr = g_new0(Chardev, 1);
    chr->id = g_strdup(cfg->id ? cfg->id : "");
    chr->klass = klass;
    chr->ctx = g_main_context_ref(ctx ? ctx : g_main_context_default());
    chr->in_fd = -1;
    chr->out_fd = -1;
    chr->pty_slave = -1;
    chr->listen_fd = -1;
    chr->conn_fd = -1;
    chr->outq = g_byte_array_new();
    return chr;
}

void chardev_release(Chardev *chr)
{
    if (!chr) {
        return;
    }
    source_clear(&chr->in_src);
    source_clear(&chr->hup_src);
    source_clear(&chr->out_src);
    source_clear(&chr->listen_src);
    source_clear(&chr->reconnect_src);
    g_free(chr->connect_path);
    g_free(chr->connect_host);
    g_byte_array_unref(chr->outq);
    g_main_context_unref(chr->ctx);
    g_free(chr->filename);
    g_free(chr->unix_path);
    g_free(chr->id);
    g_free(chr);
}

Chardev *chardev_new(const ChardevConfig *cfg, GMainContext *ctx, GError **err)
{
    const ChardevClass *klass;
    bool (*open_fn)(Chardev *, const ChardevConfig *, GError **);

    switch (cfg->kind) {
    case CHARDEV_STDIO:
        klass = &chardev_stdio_class;
        open_fn = chardev_stdio_open;
        break;
    case CHARDEV_PTY:
        klass = &chardev_pty_class;
        open_fn = chardev_pty_open;
        break;
    case CHARDEV_FILE:
        klass = &chardev_file_class;
        open_fn = chardev_file_open;
        break;
    case CHARDEV_SOCKET:
        klass = &chardev_socket_class;
        open_fn = chardev_socket_open;
        break;
    case CHARDEV_NULL:
        klass = &chardev_null_class;
        open_fn = chardev_null_open;
        break;
    default:
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "chardev '%s': unknown backend type %d",
                    cfg->id ? cfg->id : "", (int)cfg->kind);
        return NULL;
    }

    Chardev *chr = chardev_alloc(cfg, klass, ctx);
    if (!open_fn(chr, cfg, err)) {
        if (cfg->origin) {
            g_prefix_error(err, "%s: ", cfg->origin);
        }
        chardev_release(chr);
        return NULL;
    }
    return chr;
}

const char *chardev_id(const Chardev *chr)
{
    return chr->id;
}

const char *const *chardev_backend_names(void)
{
    static const char *const names[] = { "stdio", "pty", "file", "socket", "null", NULL };
    return names;
}

bool chardev_connected(const Chardev *chr)
{
    return strcmp(chr->klass->name, "socket") || chr->connected;
}

bool chardev_has_frontend(const Chardev *chr)
{
    return chr->have_handlers;
}

const char *chardev_filename(const Chardev *chr)
{
    return chr->filename;
}

size_t chardev_write_pending(const Chardev *chr)
{
    return chr->out_fd >= 0 ? chr->outq->len : 0;
}

bool chardev_has_peer(const Chardev *chr)
{
    return chr->connected;
}


void chardev_notify_event(Chardev *chr, bool connected)
{
    if (chr->have_handlers && chr->handlers.event) {
        chr->handlers.event(chr->opaque, connected);
    }
}

void chardev_set_handlers(Chardev *chr, const ChardevHandlers *h, void *opaque)
{
    if (h) {
        chr->handlers = *h;
        chr->have_handlers = true;
        chr->opaque = opaque;
    } else {
        memset(&chr->handlers, 0, sizeof(chr->handlers));
        chr->have_handlers = false;
        chr->opaque = NULL;
    }
    chardev_update_read_watch(chr);
    /* As QEMU: a front end attaching to an open backend sees it open. */
    if (chr->connected) {
        chardev_notify_event(chr, true);
    }
}

/* ---- input ---- */

static size_t chr_can_read(Chardev *chr)
{
    if (!chr->have_handlers || !chr->handlers.can_read || !chr->handlers.read) {
        return 0;
    }
    return chr->handlers.can_read(chr->opaque);
}

static void input_closed(Chardev *chr, int err)
{
    source_clear(&chr->in_src);
    source_clear(&chr->hup_src);
    chr->in_eof = true;
    if (chr->klass->input_closed) {
        chr->klass->input_closed(chr, err);
    } else if (err) {
        log_warn("chardev '%s': input error: %s", chr->id, g_strerror(err));
    }
}

static gboolean read_ready(int fd, GIOCondition cond, gpointer opaque)
{
    Chardev *chr = opaque;
    GSource *self = chr->in_src;
    uint8_t buf[CHARDEV_READ_CHUNK];

    size_t room = chr_can_read(chr);
    if (room == 0) {
        source_clear(&chr->in_src);
        chardev_update_read_watch(chr);     /* a socket still watches for a hangup */
        return G_SOURCE_REMOVE;
    }
    if (room > sizeof(buf)) {
        room = sizeof(buf);
    }
    ssize_t n;
    do {
        n = read(fd, buf, room);
    } while (n < 0 && errno == EINTR);

    if (n > 0) {
        chr->handlers.read(chr->opaque, buf, (size_t)n);
    } else if (n == 0) {
        input_closed(chr, 0);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (cond & (G_IO_HUP | G_IO_ERR | G_IO_NVAL)) {
            input_closed(chr, 0);
        }
    } else {
        input_closed(chr, errno);
    }

    if (chr->in_src != self) {
        /* Removed (and perhaps replaced) by a callback above. */
        return G_SOURCE_REMOVE;
    }
    if (chr_can_read(chr) == 0) {
        source_clear(&chr->in_src);
        chardev_update_read_watch(chr);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean hup_ready(int fd, GIOCondition cond, gpointer opaque)
{
    Chardev *chr = opaque;

    /* input_closed() destroys this source; GLib keeps it alive until we return. */
    input_closed(chr, 0);
    return G_SOURCE_REMOVE;
}

void chardev_update_read_watch(Chardev *chr)
{
    bool open = chr->in_fd >= 0 && !chr->in_eof;
    bool want = open && chr_can_read(chr) > 0;
    bool want_hup = open && !want && chr->out_is_socket;

    if (want && !chr->in_src) {
        chr->in_src = chardev_add_fd_watch(chr, chr->in_fd, G_IO_IN, read_ready);
    } else if (!want && chr->in_src) {
        source_clear(&chr->in_src);
    }
    if (want_hup && !chr->hup_src) {
        chr->hup_src = chardev_add_fd_watch(chr, chr->in_fd, G_IO_HUP | G_IO_ERR, hup_ready);
    } else if (!want_hup && chr->hup_src) {
        source_clear(&chr->hup_src);
    }
}

void chardev_accept_input(Chardev *chr)
{
    if (chr && !chr->in_src) {
        chardev_update_read_watch(chr);
    }
}

/* ---- output ---- */

/* Writes as much as possible; returns bytes written or -1 with errno (not EAGAIN). */
static ssize_t write_some(Chardev *chr, const uint8_t *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n;
        if (chr->out_is_socket) {
            n = send(chr->out_fd, p + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            n = write(chr->out_fd, p + done, len - done);
        }
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            if (n == 0) {
                errno = EIO;
            }
            return done ? (ssize_t)done : -1;
        }
    }
    return (ssize_t)done;
}

static void output_failed(Chardev *chr, int err)
{
    source_clear(&chr->out_src);
    g_byte_array_set_size(chr->outq, 0);
    if (chr->klass->output_failed) {
        chr->klass->output_failed(chr, err);
    } else if (!chr->out_err_warned) {
        chr->out_err_warned = true;
        log_warn("chardev '%s': write failed, output discarded: %s",
                 chr->id, g_strerror(err));
    }
}

static gboolean write_ready(int fd, GIOCondition cond, gpointer opaque)
{
    Chardev *chr = opaque;
    GSource *self = chr->out_src;

    if (chr->outq->len) {
        ssize_t n = write_some(chr, chr->outq->data, chr->outq->len);
        if (n < 0) {
            output_failed(chr, errno);
            return G_SOURCE_REMOVE;
        }
        g_byte_array_remove_range(chr->outq, 0, (guint)n);
        if (chr->outq->len && (cond & (G_IO_HUP | G_IO_ERR | G_IO_NVAL)) && n == 0) {
            output_failed(chr, (cond & G_IO_HUP) ? EPIPE : EIO);
            return G_SOURCE_REMOVE;
        }
    }
    if (chr->out_src != self) {
        return G_SOURCE_REMOVE;
    }
    if (chr->outq->len == 0) {
        chr->outq_warned = false;
        source_clear(&chr->out_src);
        if (chr->have_handlers && chr->handlers.write_ready) {
            chr->handlers.write_ready(chr->opaque);
        }
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void enqueue(Chardev *chr, const uint8_t *p, size_t len)
{
    bool dropped = false;
    if (len > CHARDEV_OUTQ_MAX) {
        p += len - CHARDEV_OUTQ_MAX;
        len = CHARDEV_OUTQ_MAX;
        dropped = true;
    }
    size_t total = chr->outq->len + len;
    if (total > CHARDEV_OUTQ_MAX) {
        /* len <= CHARDEV_OUTQ_MAX, so the excess is all in the queue. */
        g_byte_array_remove_range(chr->outq, 0, (guint)(total - CHARDEV_OUTQ_MAX));
        dropped = true;
    }
    if (dropped) {
        if (!chr->outq_warned) {
            chr->outq_warned = true;
            log_warn("chardev '%s': output buffer full (%u bytes), dropping oldest output",
                     chr->id, CHARDEV_OUTQ_MAX);
        }
    }
    g_byte_array_append(chr->outq, p, (guint)len);
    if (!chr->out_src) {
        chr->out_src = chardev_add_fd_watch(chr, chr->out_fd, G_IO_OUT, write_ready);
    }
}

size_t chardev_write(Chardev *chr, const void *buf, size_t len)
{
    if (!chr || len == 0 || chr->out_fd < 0) {
        return len;        /* nobody to talk to: discarded */
    }
    const uint8_t *p = buf;
    size_t left = len;
    if (chr->outq->len == 0) {
        ssize_t n = write_some(chr, p, left);
        if (n < 0) {
            output_failed(chr, errno);
            return len;
        }
        p += n;
        left -= (size_t)n;
    }
    if (left) {
        enqueue(chr, p, left);
    }
    return len;
}

/*
 * Writes buf[0..len) to out_fd, waiting (poll) while the peer is slow. Gives up
 * only on an error or after CHARDEV_WRITE_ALL_TIMEOUT_MS without any progress.
 * Returns 0 or an errno.
 */
static int write_blocking(Chardev *chr, const uint8_t *p, size_t len)
{
    gint64 deadline = g_get_monotonic_time() + CHARDEV_WRITE_ALL_TIMEOUT_MS * 1000;

    while (len) {
        ssize_t n = write_some(chr, p, len);
        if (n < 0) {
            return errno;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            deadline = g_get_monotonic_time() + CHARDEV_WRITE_ALL_TIMEOUT_MS * 1000;
            continue;
        }
        gint64 now = g_get_monotonic_time();
        if (now >= deadline) {
            return ETIMEDOUT;
        }
        struct pollfd pfd = { .fd = chr->out_fd, .events = POLLOUT };
        int r = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
        if (r < 0 && errno != EINTR) {
            return errno;
        }
        if (r > 0 && !(pfd.revents & POLLOUT)) {
            return (pfd.revents & POLLHUP) ? EPIPE : EIO;
        }
    }
    return 0;
}

size_t chardev_write_all(Chardev *chr, const void *buf, size_t len)
{
    int e;

    if (!chr || len == 0 || chr->out_fd < 0) {
        return len;        /* nobody to talk to: discarded */
    }
    if (chr->outq->len) {
        /* Queued output goes first, in order. */
        e = write_blocking(chr, chr->outq->data, chr->outq->len);
        if (e) {
            output_failed(chr, e);
            return len;
        }
        g_byte_array_set_size(chr->outq, 0);
        chr->outq_warned = false;
        source_clear(&chr->out_src);
    }
    e = write_blocking(chr, buf, len);
    if (e) {
        output_failed(chr, e);
    }
    return len;
}

/* ---- attach / detach ---- */

void chardev_attach_fds(Chardev *chr, int in_fd, int out_fd, bool is_socket)
{
    chr->in_fd = in_fd;
    chr->out_fd = out_fd;
    chr->out_is_socket = is_socket;
    chr->in_eof = false;
    chr->out_err_warned = false;
    chardev_update_read_watch(chr);
}

void chardev_detach_fds(Chardev *chr)
{
    source_clear(&chr->in_src);
    source_clear(&chr->hup_src);
    source_clear(&chr->out_src);
    g_byte_array_set_size(chr->outq, 0);
    chr->outq_warned = false;
    chr->in_fd = -1;
    chr->out_fd = -1;
}

static void flush_pending(Chardev *chr)
{
    gint64 deadline = g_get_monotonic_time() + CHARDEV_FLUSH_TIMEOUT_MS * 1000;
    while (chr->out_fd >= 0 && chr->outq->len) {
        gint64 now = g_get_monotonic_time();
        if (now >= deadline) {
            log_warn("chardev '%s': %u bytes of output not flushed at exit",
                     chr->id, chr->outq->len);
            return;
        }
        struct pollfd pfd = { .fd = chr->out_fd, .events = POLLOUT };
        int r = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            continue;
        }
        if (!(pfd.revents & POLLOUT)) {
            return;         /* hung up or error: nothing more can go out */
        }
        ssize_t n = write_some(chr, chr->outq->data, chr->outq->len);
        if (n < 0) {
            return;
        }
        g_byte_array_remove_range(chr->outq, 0, (guint)n);
    }
}

void chardev_free(Chardev *chr)
{
    if (!chr) {
        return;
    }
    flush_pending(chr);
    source_clear(&chr->in_src);
    source_clear(&chr->hup_src);
    source_clear(&chr->out_src);
    if (chr->klass->free) {
        chr->klass->free(chr);
    }
    chardev_release(chr);
}
