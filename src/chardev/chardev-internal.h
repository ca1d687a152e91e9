/*
 * Private to src/chardev: the Chardev object shared by the generic I/O engine
 * (chardev.c) and the backends (char-*.c).
 *
 * The engine owns one input fd and one output fd (either may be -1) and the
 * GSources watching them on the chardev's GMainContext:
 *   - the input watch exists only while the front end can take bytes
 *     (can_read() > 0); chardev_accept_input() re-creates it;
 *   - the output watch exists only while queued output is pending.
 * All state is protected by the machine lock (see machine.h): main-loop
 * callbacks and vCPU-thread device handlers both hold it. GSource attach and
 * destroy are themselves thread-safe, so a vCPU thread may re-arm a watch.
 */
#ifndef STRATUS_CHARDEV_INTERNAL_H
#define STRATUS_CHARDEV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>
#include <sys/types.h>
#include <glib.h>
#include <glib-unix.h>
#include <gio/gio.h>

#include "chardev/chardev.h"

/* Output queued beyond this is dropped oldest-first (one warning per episode). */
#define CHARDEV_OUTQ_MAX   (1u << 20)
/* Largest single read handed to the front end. */
#define CHARDEV_READ_CHUNK 4096
/* chardev_write_all gives up after this long without any progress. */
#define CHARDEV_WRITE_ALL_TIMEOUT_MS 10000
/* chardev_free waits at most this long for pending output. */
#define CHARDEV_FLUSH_TIMEOUT_MS 1000

typedef struct ChardevClass {
    const char *name;
    /*
     * Input reached EOF or failed (err != 0 is an errno). The engine has
     * already removed the input watch. Optional: default stops input.
     */
    void (*input_closed)(Chardev *chr, int err);
    /* Output failed with errno err (EPIPE, ECONNRESET, EIO...). Optional. */
    void (*output_failed)(Chardev *chr, int err);
    /* Backend state teardown (fds given to the engine are closed by it). */
    void (*free)(Chardev *chr);
} ChardevClass;

struct Chardev {
    char *id;
    const ChardevClass *klass;
    GMainContext *ctx;

    ChardevHandlers handlers;
    bool have_handlers;
    void *opaque;

    /* I/O engine. in_fd and out_fd may be the same fd (sockets, pty). */
    int in_fd;
    int out_fd;
    bool out_is_socket;          /* use send(MSG_NOSIGNAL) */
    bool in_eof;                 /* input exhausted until a new fd is attached */
    GSource *in_src;
    /*
     * Sockets, while in_src is not armed (the front end takes nothing): a
     * hangup is still noticed (HUP/ERR only, so pending input stays unread).
     */
    GSource *hup_src;
    GSource *out_src;
    GByteArray *outq;
    bool outq_warned;            /* overflow warned for this episode */
    bool out_err_warned;

    char *filename;              /* chardev_filename() */

    /* stdio */
    bool tty_raw;
    struct termios saved_tio;
    int saved_fl0, saved_fl1;

    /* pty */
    int pty_slave;

    /* socket */
    bool is_server;
    bool is_unix;
    char *unix_path;             /* server: unlinked at free */
    dev_t unix_dev;              /* identity of the socket file we bound */
    ino_t unix_ino;
    int listen_fd;
    GSource *listen_src;         /* the fd watch, or the back-off timer */
    bool accept_failing;         /* accept() failed; logged once until it works */
    int conn_fd;                 /* connected peer, -1 if none */
    bool connected;
    /* client with reconnect=N: where to connect again, and the pending attempt */
    unsigned reconnect;          /* seconds; 0 = a lost connection stays lost */
    char *connect_path;          /* unix; NULL for tcp */
    char *connect_host;
    int connect_port;
    GSource *reconnect_src;
};

/* Engine (chardev.c). */
Chardev *chardev_alloc(const ChardevConfig *cfg, const ChardevClass *klass,
                       GMainContext *ctx);
/* Frees the object only (used on backend open failure). */
void chardev_release(Chardev *chr);
/* Sets the fds the engine reads/writes (may be -1) and arms input. */
void chardev_attach_fds(Chardev *chr, int in_fd, int out_fd, bool is_socket);
/* Forgets the fds (does not close them), drops watches and queued output. */
void chardev_detach_fds(Chardev *chr);
void chardev_update_read_watch(Chardev *chr);
void chardev_notify_event(Chardev *chr, bool connected);
bool chardev_set_nonblock(int fd, GError **err, const Chardev *chr);
GSource *chardev_add_fd_watch(Chardev *chr, int fd, GIOCondition cond,
                              GUnixFDSourceFunc fn);

/* Backends. */
bool chardev_stdio_open(Chardev *chr, const ChardevConfig *cfg, GError **err);
bool chardev_pty_open(Chardev *chr, const ChardevConfig *cfg, GError **err);
bool chardev_file_open(Chardev *chr, const ChardevConfig *cfg, GError **err);
bool chardev_socket_open(Chardev *chr, const ChardevConfig *cfg, GError **err);
bool chardev_null_open(Chardev *chr, const ChardevConfig *cfg, GError **err);

extern const ChardevClass chardev_stdio_class;
extern const ChardevClass chardev_pty_class;
extern const ChardevClass chardev_file_class;
extern const ChardevClass chardev_socket_class;
extern const ChardevClass chardev_null_class;

#endif
