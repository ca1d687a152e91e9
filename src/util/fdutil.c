/* Descriptor I/O helpers (fdutil.h). */
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/fdutil.h"

typedef enum { VIA_WRITE, VIA_PWRITE, VIA_SEND } WriteVia;

/* The one retry loop: each call writes what it can, EINTR and short writes go round. */
static bool write_loop(int fd, const void *buf, size_t n, off_t at, WriteVia via)
{
    const uint8_t *p = buf;

    while (n) {
        ssize_t w = via == VIA_PWRITE ? pwrite(fd, p, n, at) :
                    via == VIA_SEND ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            if (w == 0) {
                errno = EIO;
            }
            return false;
        }
        p += w;
        n -= (size_t)w;
        at += w;
    }
    return true;
}

bool fd_write_all(int fd, const void *buf, size_t n)
{
    return write_loop(fd, buf, n, 0, VIA_WRITE);
}

bool fd_pwrite_all(int fd, const void *buf, size_t n, off_t offset)
{
    return write_loop(fd, buf, n, offset, VIA_PWRITE);
}

bool fd_send_all(int fd, const void *buf, size_t n)
{
    return write_loop(fd, buf, n, 0, VIA_SEND);
}

int fd_ioctl(int fd, unsigned long req, void *arg)
{
    int r;

    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    return r;
}
