/*
 * pty backend: a pseudo-terminal pair; the guest talks to the master, the
 * user opens the slave (the path logged as "Pty path is: ...").
 *
 * We keep our own slave fd open for the chardev's lifetime. The master then
 * never sees a hangup while no user is attached, so there is nothing to poll
 * for: output written before anyone opens the slave waits in the tty buffer
 * (and then in our bounded queue) and is read by the first user, as with
 * StratoVirt; input flows whenever a user writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "chardev/chardev-internal.h"
#include "util/log.h"

static void make_raw(int fd)
{
    struct termios tio;
    if (tcgetattr(fd, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(fd, TCSAFLUSH, &tio);
    }
}

bool chardev_pty_open(Chardev *chr, const ChardevConfig *cfg, GError **err)
{
    int master, slave;
    char name[64];

    if (openpty(&master, &slave, name, NULL, NULL) < 0) {
        int e = errno;
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "chardev '%s': cannot open a pty: %s", chr->id, g_strerror(e));
        return false;
    }
    make_raw(slave);
    make_raw(master);
    if (!chardev_set_nonblock(master, err, chr)) {
        close(master);
        close(slave);
        return false;
    }
    /* openpty() does not set close-on-exec. */
    (void)fcntl(master, F_SETFD, FD_CLOEXEC);
    (void)fcntl(slave, F_SETFD, FD_CLOEXEC);

    chr->filename = g_strdup(name);
    chr->pty_slave = slave;
    chr->connected = true;
    log_info("Pty path is: %s", chr->filename);
    chardev_attach_fds(chr, master, master, false);
    return true;
}

static void pty_free(Chardev *chr)
{
    int master = chr->in_fd;
    chardev_detach_fds(chr);
    if (master >= 0) {
        close(master);
    }
    if (chr->pty_slave >= 0) {
        close(chr->pty_slave);
        chr->pty_slave = -1;
    }
}

const ChardevClass chardev_pty_class = {
    .name = "pty",
    .free = pty_free,
};
