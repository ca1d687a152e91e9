/*
 * stdio backend: reads fd 0, writes fd 1.
 *
 * When stdin is a terminal it is put in raw mode (cfmakeraw: every byte,
 * including ^C, goes to the guest) and both fds are made non-blocking. The
 * terminal is process-wide state, so its saved settings live in statics: they
 * are restored by chardev_free() and, for exits that skip it, by an atexit
 * handler. Only one stdio chardev can exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "chardev/chardev-internal.h"
#include "util/log.h"

static struct {
    bool in_use;
    bool atexit_done;
    bool tio_saved;
    struct termios tio;
    int fl0, fl1;           /* original file status flags, -1 = unknown */
} stdio_state = { .fl0 = -1, .fl1 = -1 };

static void stdio_restore(void)
{
    if (stdio_state.tio_saved) {
        tcsetattr(0, TCSANOW, &stdio_state.tio);
        stdio_state.tio_saved = false;
    }
    if (stdio_state.fl0 >= 0) {
        fcntl(0, F_SETFL, stdio_state.fl0);
        stdio_state.fl0 = -1;
    }
    if (stdio_state.fl1 >= 0) {
        fcntl(1, F_SETFL, stdio_state.fl1);
        stdio_state.fl1 = -1;
    }
}

bool chardev_stdio_open(Chardev *chr, const ChardevConfig *cfg, GError **err)
{
    if (stdio_state.in_use) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_BUSY,
                    "chardev '%s': stdio is already used by another chardev", chr->id);
        return false;
    }
    if (!stdio_state.atexit_done) {
        atexit(stdio_restore);
        stdio_state.atexit_done = true;
    }

    int in_fd = fcntl(0, F_GETFL) >= 0 ? 0 : -1;
    int out_fd = fcntl(1, F_GETFL) >= 0 ? 1 : -1;

    if (in_fd >= 0 && isatty(0)) {
        struct termios tio;
        if (tcgetattr(0, &tio) == 0) {
            stdio_state.tio = tio;
            stdio_state.tio_saved = true;
            cfmakeraw(&tio);
            tio.c_cc[VMIN] = 1;
            tio.c_cc[VTIME] = 0;
            if (tcsetattr(0, TCSANOW, &tio) < 0) {
                log_warn("chardev '%s': cannot put the terminal in raw mode: %s",
                         chr->id, g_strerror(errno));
            }
        }
    }
    /* Save both before changing either: 0 and 1 often share one open file. */
    stdio_state.fl0 = in_fd >= 0 ? fcntl(0, F_GETFL) : -1;
    stdio_state.fl1 = out_fd >= 0 ? fcntl(1, F_GETFL) : -1;
    if (in_fd >= 0) {
        if (!chardev_set_nonblock(0, err, chr)) {
            stdio_restore();
            return false;
        }
    }
    if (out_fd >= 0) {
        if (!chardev_set_nonblock(1, err, chr)) {
            stdio_restore();
            return false;
        }
    }
    stdio_state.in_use = true;
    chr->tty_raw = stdio_state.tio_saved;
    chr->connected = true;
    chardev_attach_fds(chr, in_fd, out_fd, false);
    return true;
}

static void stdio_output_failed(Chardev *chr, int err)
{
    log_warn("chardev '%s': cannot write to stdout (%s), output discarded",
             chr->id, g_strerror(err));
    chr->out_fd = -1;
}

static void stdio_free(Chardev *chr)
{
    chardev_detach_fds(chr);
    stdio_restore();
    stdio_state.in_use = false;
}

const ChardevClass chardev_stdio_class = {
    .name = "stdio",
    .output_failed = stdio_output_failed,
    .free = stdio_free,
};
