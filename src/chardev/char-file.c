/*
 * file backend: output only. The file is created if needed and truncated, as
 * QEMU does. Input never arrives.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "chardev/chardev-internal.h"
#include "util/log.h"

bool chardev_file_open(Chardev *chr, const ChardevConfig *cfg, GError **err)
{
    if (!cfg->path || !*cfg->path) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "chardev '%s': file backend needs a path", chr->id);
        return false;
    }
    int fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0666);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "chardev '%s': cannot open file %s: %s",
                    chr->id, cfg->path, g_strerror(e));
        return false;
    }
    chr->connected = true;
    chardev_attach_fds(chr, -1, fd, false);
    return true;
}

static void file_free(Chardev *chr)
{
    int fd = chr->out_fd;
    chardev_detach_fds(chr);
    if (fd >= 0) {
        close(fd);
    }
}

const ChardevClass chardev_file_class = {
    .name = "file",
    .free = file_free,
};
