/*
 * socket backend: unix or tcp, server or client, or an inherited connected fd.
 *
 * Server: bound and listening at creation (unix: a stale socket file is
 * replaced, the new one is chmod 0600 before listen() so nobody else can
 * connect, and it is unlinked at free). One client at a time: while a client
 * is connected the listening socket is not watched, so further clients wait
 * in the backlog until the current one goes away (as StratoVirt). Without
 * nowait, creation blocks until the first client connects (QEMU's "wait").
 *
 * Client (server=off) and fd=N: connected at creation; after a hangup the
 * chardev stays disconnected and output is discarded. A client with
 * reconnect=N (QEMU's) instead tries again every N seconds, and a failed
 * first connection does not fail start-up: it is retried the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "chardev/chardev-internal.h"
#include "util/log.h"

#define LISTEN_BACKLOG 16

static void socket_describe(const Chardev *chr, const ChardevConfig *cfg,
                            char *buf, size_t len)
{
    if (cfg->path) {
        g_snprintf(buf, len, "unix socket %s", cfg->path);
    } else {
        g_snprintf(buf, len, "tcp %s:%d", cfg->host ? cfg->host : "0.0.0.0", cfg->port);
    }
}

static gboolean listen_ready(int fd, GIOCondition cond, gpointer opaque);

/* How long a listener that could not accept (EMFILE...) stays parked. */
#define CHARDEV_ACCEPT_BACKOFF_MS 1000

static void arm_listen(Chardev *chr)
{
    if (chr->listen_fd >= 0 && !chr->listen_src && !chr->connected) {
        chr->listen_src = chardev_add_fd_watch(chr, chr->listen_fd, G_IO_IN, listen_ready);
    }
}

static void disarm_listen(Chardev *chr)
{
    if (chr->listen_src) {
        g_source_destroy(chr->listen_src);
        g_source_unref(chr->listen_src);
        chr->listen_src = NULL;
    }
}

static void socket_connected(Chardev *chr, int fd)
{
    chr->conn_fd = fd;
    chr->connected = true;
    disarm_listen(chr);
    chardev_attach_fds(chr, fd, fd, true);
    chardev_notify_event(chr, true);
}

static void schedule_reconnect(Chardev *chr);

static void socket_disconnect(Chardev *chr)
{
    if (!chr->connected) {
        return;
    }
    chardev_detach_fds(chr);
    if (chr->conn_fd >= 0) {
        close(chr->conn_fd);
        chr->conn_fd = -1;
    }
    chr->connected = false;
    chardev_notify_event(chr, false);
    arm_listen(chr);
    schedule_reconnect(chr);
}

bool chardev_yank(Chardev *chr)
{
    if (chr->klass != &chardev_socket_class) {
        return false;
    }
    socket_disconnect(chr);
    return true;
}

static gboolean listen_backoff_over(gpointer opaque)
{
    Chardev *chr = opaque;

    g_source_unref(chr->listen_src);
    chr->listen_src = NULL;
    log_debug("chardev '%s': listening again", chr->id);
    arm_listen(chr);
    return G_SOURCE_REMOVE;
}

static gboolean listen_ready(int fd, GIOCondition cond, gpointer opaque)
{
    Chardev *chr = opaque;
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
            errno == ECONNABORTED) {
            return G_SOURCE_CONTINUE;
        }
        /*
         * EMFILE and the like leave the connection pending, so the watch
         * would fire again at once: stop listening for a while instead.
         */
        if (!chr->accept_failing) {
            log_warn("chardev '%s': cannot accept a connection: %s; retrying every "
                     "%d ms", chr->id, g_strerror(errno), CHARDEV_ACCEPT_BACKOFF_MS);
            chr->accept_failing = true;
        }
        disarm_listen(chr);
        chr->listen_src = g_timeout_source_new(CHARDEV_ACCEPT_BACKOFF_MS);
        g_source_set_callback(chr->listen_src, listen_backoff_over, chr, NULL);
        g_source_attach(chr->listen_src, chr->ctx);
        return G_SOURCE_REMOVE;
    }
    chr->accept_failing = false;
    /* socket_connected() destroys this source; GLib keeps it alive until we return. */
    socket_connected(chr, c);
    return G_SOURCE_REMOVE;
}

static void socket_input_closed(Chardev *chr, int err)
{
    if (err) {
        log_debug("chardev '%s': connection error: %s", chr->id, g_strerror(err));
    }
    socket_disconnect(chr);
}

static void socket_output_failed(Chardev *chr, int err)
{
    log_debug("chardev '%s': write failed: %s", chr->id, g_strerror(err));
    socket_disconnect(chr);
}

/* ---- address setup ---- */

static bool fill_unix_addr(Chardev *chr, const char *path, struct sockaddr_un *sa,
                           GError **err)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "chardev '%s': unix socket path too long (max %zu bytes): %s",
                    chr->id, sizeof(sa->sun_path) - 1, path);
        return false;
    }
    memcpy(sa->sun_path, path, strlen(path));
    return true;
}

static int fail_errno(Chardev *chr, GError **err, int fd, const char *what,
                      const char *where)
{
    int e = errno;
    if (fd >= 0) {
        close(fd);
    }
    g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e), "chardev '%s': %s %s: %s",
                chr->id, what, where, g_strerror(e));
    return -1;
}

static int unix_listen(Chardev *chr, const char *path, GError **err)
{
    struct sockaddr_un sa;
    struct stat st;
    char where[MAX_PATH_LENGTH + 32];

    if (!fill_unix_addr(chr, path, &sa, err)) {
        return -1;
    }
    g_snprintf(where, sizeof(where), "unix socket %s", path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_EXISTS,
                        "chardev '%s': cannot bind unix socket %s: "
                        "file exists and is not a socket", chr->id, path);
            return -1;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            return fail_errno(chr, err, -1, "cannot remove stale", where);
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fail_errno(chr, err, -1, "cannot create", where);
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        return fail_errno(chr, err, fd, "cannot bind", where);
    }
    /* Before listen(): nobody can connect while the mode is still loose. */
    if (chmod(path, 0600) < 0) {
        fail_errno(chr, err, fd, "cannot chmod", where);
        unlink(path);
        return -1;
    }
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        fail_errno(chr, err, fd, "cannot listen on", where);
        unlink(path);
        return -1;
    }
    if (stat(path, &st) == 0) {
        chr->unix_dev = st.st_dev;
        chr->unix_ino = st.st_ino;
    }
    chr->unix_path = g_strdup(path);
    return fd;
}

static int unix_connect(Chardev *chr, const char *path, GError **err)
{
    struct sockaddr_un sa;
    char where[MAX_PATH_LENGTH + 32];

    if (!fill_unix_addr(chr, path, &sa, err)) {
        return -1;
    }
    g_snprintf(where, sizeof(where), "unix socket %s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fail_errno(chr, err, -1, "cannot create", where);
    }
    int r;
    do {
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        return fail_errno(chr, err, fd, "cannot connect to", where);
    }
    return fd;
}

static int tcp_open(Chardev *chr, const ChardevConfig *cfg, bool server, GError **err)
{
    const char *host = cfg->host && *cfg->host ? cfg->host : (server ? "0.0.0.0" : "localhost");
    char port[16], where[MAX_STRING_LENGTH + 48];
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
    struct addrinfo *res = NULL;

    g_snprintf(where, sizeof(where), "tcp %s:%d", host, cfg->port);
    if (cfg->port < 0 || cfg->port > 65535) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "chardev '%s': invalid tcp port %d", chr->id, cfg->port);
        return -1;
    }
    g_snprintf(port, sizeof(port), "%d", cfg->port);
    if (server) {
        hints.ai_flags = AI_PASSIVE;
    }
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "chardev '%s': cannot resolve %s: %s", chr->id, where,
                    gai_strerror(gai));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
                    (server ? SOCK_NONBLOCK : 0), ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        if (server) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                listen(fd, LISTEN_BACKLOG) == 0) {
                break;
            }
        } else {
            int r;
            do {
                r = connect(fd, ai->ai_addr, ai->ai_addrlen);
            } while (r < 0 && errno == EINTR);
            if (r == 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                break;
            }
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        errno = saved ? saved : EADDRNOTAVAIL;
        return fail_errno(chr, err, -1, server ? "cannot listen on" : "cannot connect to",
                          where);
    }
    return fd;
}

/* QEMU's "wait": block until the first client connects. */
static bool wait_for_client(Chardev *chr, const char *where, GError **err)
{
    log_info("chardev '%s': waiting for a connection on %s", chr->id, where);
    for (;;) {
        struct pollfd pfd = { .fd = chr->listen_fd, .events = POLLIN };
        if (poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail_errno(chr, err, -1, "cannot wait for a client on", where);
            return false;
        }
        int c = accept4(chr->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            socket_connected(chr, c);
            return true;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED) {
            fail_errno(chr, err, -1, "cannot accept a client on", where);
            return false;
        }
    }
}

static bool adopt_fd(Chardev *chr, int fd, GError **err)
{
    int type;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        int e = errno;
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "chardev '%s': fd %d is not a usable socket: %s",
                    chr->id, fd, g_strerror(e));
        return false;
    }
    if (type != SOCK_STREAM) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "chardev '%s': fd %d is not a stream socket", chr->id, fd);
        return false;
    }
    if (!chardev_set_nonblock(fd, err, chr)) {
        return false;
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    socket_connected(chr, fd);
    return true;
}

/* A client's connection attempt (at creation and for reconnect=). */
static bool client_connect(Chardev *chr, GError **err)
{
    ChardevConfig where = { .path = chr->connect_path, .host = chr->connect_host,
                            .port = chr->connect_port, .fd = -1 };
    int fd = chr->is_unix ? unix_connect(chr, where.path, err)
                          : tcp_open(chr, &where, false, err);

    if (fd < 0 || !chardev_set_nonblock(fd, err, chr)) {
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    socket_connected(chr, fd);
    return true;
}

static gboolean reconnect_due(gpointer opaque)
{
    Chardev *chr = opaque;
    GError *err = NULL;

    g_source_unref(chr->reconnect_src);
    chr->reconnect_src = NULL;
    if (client_connect(chr, &err)) {
        log_info("chardev '%s': connected again", chr->id);
    } else {
        log_debug("chardev '%s': %s; retrying in %u s", chr->id, err->message,
                  chr->reconnect);
        g_error_free(err);
        schedule_reconnect(chr);
    }
    return G_SOURCE_REMOVE;
}

static void schedule_reconnect(Chardev *chr)
{
    if (!chr->reconnect || chr->is_server || chr->reconnect_src) {
        return;
    }
    chr->reconnect_src = g_timeout_source_new(chr->reconnect * 1000u);
    g_source_set_callback(chr->reconnect_src, reconnect_due, chr, NULL);
    g_source_attach(chr->reconnect_src, chr->ctx);
}

bool chardev_socket_open(Chardev *chr, const ChardevConfig *cfg, GError **err)
{
    char where[MAX_PATH_LENGTH + 64];

    if (cfg->fd >= 0) {
        return adopt_fd(chr, cfg->fd, err);
    }
    chr->is_unix = cfg->path != NULL;
    chr->is_server = cfg->server;
    if (!chr->is_unix && cfg->port < 0) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "chardev '%s': socket needs path=, port= or fd=", chr->id);
        return false;
    }
    socket_describe(chr, cfg, where, sizeof(where));

    if (!cfg->server) {
        chr->connect_path = g_strdup(cfg->path);
        chr->connect_host = g_strdup(cfg->host);
        chr->connect_port = cfg->port;
        chr->reconnect = cfg->reconnect;
        GError *local = NULL;

        if (!client_connect(chr, &local)) {
            if (!chr->reconnect) {
                g_propagate_error(err, local);
                return false;
            }
            log_warn("%s; retrying every %u s", local->message, chr->reconnect);
            g_error_free(local);
            schedule_reconnect(chr);
        }
        if (chr->is_unix) {
            chr->filename = g_strdup(cfg->path);
        }
        return true;
    }

    chr->listen_fd = chr->is_unix ? unix_listen(chr, cfg->path, err)
                                  : tcp_open(chr, cfg, true, err);
    if (chr->listen_fd < 0) {
        return false;
    }
    if (chr->is_unix) {
        chr->filename = g_strdup(cfg->path);
    }
    if (!cfg->nowait) {
        if (!wait_for_client(chr, where, err)) {
            chardev_socket_class.free(chr);
            return false;
        }
    } else {
        arm_listen(chr);
    }
    return true;
}

static void socket_free(Chardev *chr)
{
    chr->reconnect = 0;             /* detaching below must not schedule an attempt */
    if (chr->reconnect_src) {
        g_source_destroy(chr->reconnect_src);
        g_source_unref(chr->reconnect_src);
        chr->reconnect_src = NULL;
    }
    disarm_listen(chr);
    chardev_detach_fds(chr);
    if (chr->conn_fd >= 0) {
        close(chr->conn_fd);
        chr->conn_fd = -1;
    }
    chr->connected = false;
    if (chr->listen_fd >= 0) {
        close(chr->listen_fd);
        chr->listen_fd = -1;
    }
    if (chr->unix_path) {
        /* Only remove the file if it is still the socket we created. */
        struct stat st;
        if (lstat(chr->unix_path, &st) == 0 && st.st_dev == chr->unix_dev &&
            st.st_ino == chr->unix_ino) {
            unlink(chr->unix_path);
        }
        g_free(chr->unix_path);
        chr->unix_path = NULL;
    }
}

const ChardevClass chardev_socket_class = {
    .name = "socket",
    .input_closed = socket_input_closed,
    .output_failed = socket_output_failed,
    .free = socket_free,
};
