/* Descriptor I/O helpers (fdutil.h). */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "util/fdutil.h"

bool fd_write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;

    while (n) {
        ssize_t w = write(fd, p, n);
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
    }
    return true;
}
