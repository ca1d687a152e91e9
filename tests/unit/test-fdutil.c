/*
 * util/fdutil.c: the write-everything helpers over write, pwrite and send.
 * A reader slower than the writer forces short writes through a socket
 * pair with a small buffer; a closed peer is EPIPE without a SIGPIPE
 * (the test process would die of one); pwrite leaves the file offset.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "util/fdutil.h"

#define BIG (1024 * 1024)

typedef struct {
    int fd;
    GByteArray *got;
} Reader;

static gpointer read_all(gpointer opaque)
{
    Reader *r = opaque;
    uint8_t buf[1000];
    ssize_t n;

    while ((n = read(r->fd, buf, sizeof(buf))) > 0) {
        g_byte_array_append(r->got, buf, (guint)n);
        g_usleep(10);
    }
    return NULL;
}

static uint8_t *pattern(void)
{
    uint8_t *p = g_malloc(BIG);

    for (size_t i = 0; i < BIG; i++) {
        p[i] = (uint8_t)(i * 7 + i / 251);
    }
    return p;
}

/* write and send through a 4 KiB socket buffer: every byte arrives, in order. */
static void test_short_writes(void)
{
    g_autofree uint8_t *data = pattern();

    for (int send_mode = 0; send_mode < 2; send_mode++) {
        int sv[2], small = 4096;
        Reader r;
        GThread *t;

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
        g_assert_cmpint(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), ==, 0);
        r = (Reader){ .fd = sv[1], .got = g_byte_array_new() };
        t = g_thread_new("reader", read_all, &r);
        g_assert_true(send_mode ? fd_send_all(sv[0], data, BIG) : fd_write_all(sv[0], data, BIG));
        close(sv[0]);
        g_thread_join(t);
        g_assert_cmpmem(r.got->data, r.got->len, data, BIG);
        g_byte_array_unref(r.got);
        close(sv[1]);
    }
}

static void test_closed_peer(void)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    close(sv[1]);
    errno = 0;
    g_assert_false(fd_send_all(sv[0], "x", 1));
    g_assert_cmpint(errno, ==, EPIPE);
    g_assert_false(fd_write_all(-1, "x", 1));
    g_assert_cmpint(errno, ==, EBADF);
    close(sv[0]);
}

static void test_pwrite(void)
{
    g_autofree char *path = NULL;
    g_autofree uint8_t *data = pattern();
    g_autofree char *back = NULL;
    gsize len;
    int fd = g_file_open_tmp("fdutil-XXXXXX", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_true(fd_write_all(fd, "head", 4));
    g_assert_true(fd_pwrite_all(fd, data, BIG, 8192));
    g_assert_cmpint(lseek(fd, 0, SEEK_CUR), ==, 4);     /* the offset is the descriptor's */
    g_assert_true(g_file_get_contents(path, &back, &len, NULL));
    g_assert_cmpuint(len, ==, 8192 + BIG);
    g_assert_cmpmem(back, 4, "head", 4);
    g_assert_cmpmem(back + 8192, BIG, data, BIG);
    g_assert_true(fd_pwrite_all(fd, "", 0, 0));        /* nothing to do is success */
    close(fd);
    g_unlink(path);
}

/* fd_ioctl gives ioctl's result and errno back (EINTR, its retry, cannot be provoked here). */
static void test_ioctl(void)
{
    int fds[2];
    int n = -1;

    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_true(fd_write_all(fds[1], "abc", 3));
    g_assert_cmpint(fd_ioctl(fds[0], FIONREAD, &n), ==, 0);
    g_assert_cmpint(n, ==, 3);
    close(fds[0]);
    close(fds[1]);
    errno = 0;
    g_assert_cmpint(fd_ioctl(fds[0], FIONREAD, &n), ==, -1);
    g_assert_cmpint(errno, ==, EBADF);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/fdutil/short-writes", test_short_writes);
    g_test_add_func("/fdutil/closed-peer", test_closed_peer);
    g_test_add_func("/fdutil/pwrite", test_pwrite);
    g_test_add_func("/fdutil/ioctl", test_ioctl);
    return g_test_run();
}
