/*
 * Migration sockets (channel.h). send/recv with MSG_NOSIGNAL: a peer that
 * went away is an error to report, not a SIGPIPE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "migration/channel.h"
#include "util/fdutil.h"
#include "util/strutil.h"

#define CHANNEL_TIMEOUT_S 30

typedef struct {
    struct sockaddr_storage sa;
    socklen_t len;
} ChannelAddr;

static bool parse_tcp(const char *rest, ChannelAddr *a, GError **err)
{
    struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;
    const char *colon = strrchr(rest, ':');
    g_autofree char *host = NULL;
    guint64 port;

    if (!colon || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL)) {
        set_error(err, "tcp:%s: expected tcp:<ipv4>:<port>", rest);
        return false;
    }
    host = g_strndup(rest, (gsize)(colon - rest));
    if (!strcmp(host, "localhost")) {
        g_free(host);
        host = g_strdup("127.0.0.1");
    }
    memset(a, 0, sizeof(*a));
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
        set_error(err, "tcp:%s: '%s' is not an IPv4 address", rest, host);
        return false;
    }
    a->len = sizeof(*in);
    return true;
}

static bool parse_uri(const char *uri, ChannelAddr *a, GError **err)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
    const char *path;

    if (g_str_has_prefix(uri, "tcp:")) {
        return parse_tcp(uri + 4, a, err);
    }
    if (!g_str_has_prefix(uri, "unix:")) {
        set_error(err, "'%s': expected tcp:<ipv4>:<port> or unix:<path>", uri);
        return false;
    }
    path = uri + 5;
    if (!*path || strlen(path) >= sizeof(un->sun_path)) {
        set_error(err, "'%s': the socket path is empty or too long", uri);
        return false;
    }
    memset(a, 0, sizeof(*a));
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, path);
    a->len = sizeof(*un);
    return true;
}

bool channel_uri_is_live(const char *uri)
{
    return g_str_has_prefix(uri, "tcp:") || g_str_has_prefix(uri, "unix:");
}

void channel_set_timeouts(int fd)
{
    struct timeval tv = { .tv_sec = CHANNEL_TIMEOUT_S };
    int one = 1;

    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    /* Replies are tiny and waited for: no Nagle delay on them. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int channel_connect(const char *uri, GError **err)
{
    ChannelAddr a;
    int fd;

    if (!parse_uri(uri, &a, err)) {
        return -1;
    }
    fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a.sa, a.len) < 0) {
        set_error(err, "Failed to connect to %s: %s", uri, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    channel_set_timeouts(fd);
    return fd;
}

int channel_listen(const char *uri, GError **err)
{
    ChannelAddr a;
    int fd, one = 1;

    if (!parse_uri(uri, &a, err)) {
        return -1;
    }
    fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_error(err, "%s: %s", uri, g_strerror(errno));
        return -1;
    }
    if (a.sa.ss_family == AF_UNIX) {
        unlink(((struct sockaddr_un *)&a.sa)->sun_path);
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&a.sa, a.len) < 0 || listen(fd, 1) < 0) {
        set_error(err, "cannot listen on %s: %s", uri, g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

bool channel_send(int fd, const void *buf, size_t len, GError **err)
{
    if (!fd_send_all(fd, buf, len)) {
        set_error(err, "sending to the destination failed: %s",
                  errno == EAGAIN ? "timed out" : g_strerror(errno));
        return false;
    }
    return true;
}

bool channel_recv(int fd, void *buf, size_t len, GError **err)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0) {
            set_error(err, "the connection closed mid-way");
            return false;
        }
        if (n < 0) {
            set_error(err, "receiving failed: %s",
                      errno == EAGAIN ? "timed out" : g_strerror(errno));
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

GByteArray *channel_recv_record(int fd, MigRecordType *type, GError **err)
{
    uint8_t hdr[MIGSTREAM_RECORD_HEADER_LEN];
    uint32_t len;
    GByteArray *payload;

    if (!channel_recv(fd, hdr, sizeof(hdr), err) ||
        !migstream_record_header(hdr, sizeof(hdr), type, &len, err)) {
        return NULL;
    }
    payload = g_byte_array_sized_new(len);
    g_byte_array_set_size(payload, len);
    if (!channel_recv(fd, payload->data, len, err)) {
        g_byte_array_unref(payload);
        return NULL;
    }
    return payload;
}

bool channel_recv_reply(int fd, GError **err)
{
    MigRecordType type;
    g_autoptr(GByteArray) p = channel_recv_record(fd, &type, err);
    g_autofree char *msg = NULL;
    bool ok;

    if (!p) {
        g_prefix_error(err, "waiting for the destination: ");
        return false;
    }
    if (type != MIGREC_REPLY) {
        set_error(err, "the destination sent record %u instead of a reply", type);
        return false;
    }
    if (!migstream_reply(p->data, p->len, &ok, &msg, err)) {
        return false;
    }
    if (!ok) {
        set_error(err, "the destination refused: %s", msg);
    }
    return ok;
}
