/*
 * Character device backends (stdio, pty, file, unix/tcp socket, null) on the GLib
 * main loop. Front ends (the UART) register handlers; writes never block the
 * caller: output that cannot be written now is queued (bounded; oldest output
 * beyond the bound is dropped with a warning, as a real UART would overrun).
 */
#ifndef STRATUS_CHARDEV_H
#define STRATUS_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>
#include "config.h"

typedef struct Chardev Chardev;

typedef struct ChardevHandlers {
    /* How many bytes the front end can take now (0 = stop reading). */
    size_t (*can_read)(void *opaque);
    void (*read)(void *opaque, const uint8_t *buf, size_t len);
    /* A client connected (true) or went away (false); optional. */
    void (*event)(void *opaque, bool connected);
    /*
     * All queued output has been written (optional): a front end that paused
     * because chardev_write_pending() was high may write again.
     */
    void (*write_ready)(void *opaque);
} ChardevHandlers;

/*
 * Opens the backend. A socket server binds now (unix: stale file removed,
 * mode 0600); with nowait it does not wait for a client. A socket client
 * connects now and fails if nobody listens. Called with the machine lock held,
 * callbacks run on ctx with the lock held.
 */
Chardev *chardev_new(const ChardevConfig *cfg, GMainContext *ctx, GError **err);
void chardev_set_handlers(Chardev *chr, const ChardevHandlers *h, void *opaque);
/* Re-poll can_read after the front end freed room. */
void chardev_accept_input(Chardev *chr);
/* Queues and writes what it can; returns len (never blocks, never fails). */
size_t chardev_write(Chardev *chr, const void *buf, size_t len);
/*
 * For protocols whose replies must arrive whole (qtest): writes everything,
 * waiting for a slow reader instead of dropping output. Blocks the caller;
 * gives up (as an output failure: a socket disconnects) on an error or after
 * 10 s without progress. Returns len.
 */
size_t chardev_write_all(Chardev *chr, const void *buf, size_t len);
const char *chardev_id(const Chardev *chr);
/*
 * Bytes accepted by chardev_write() but not yet written to the host. A front
 * end with its own flow control (virtio-serial) keeps this bounded instead of
 * letting the queue overflow, and waits for write_ready.
 */
size_t chardev_write_pending(const Chardev *chr);
/*
 * The peer is there (virtio-serial's PORT_OPEN): a socket's client is
 * connected; pty, file and stdio always; null never.
 */
bool chardev_has_peer(const Chardev *chr);
/* pty: the slave path ("/dev/pts/N"); socket: the unix path; else NULL. */
const char *chardev_filename(const Chardev *chr);
/* The backends -chardev takes (query-chardev-backends). */
const char *const *chardev_backend_names(void);
/* A socket has its peer (a server its client); other backends always true. */
bool chardev_connected(const Chardev *chr);
/* A front end took it (set handlers): QEMU's query-chardev "frontend-open". */
bool chardev_has_frontend(const Chardev *chr);
/*
 * QMP yank: a socket drops its peer now, as on a hangup (a server listens
 * again, a client with reconnect= reconnects). false if not a socket.
 */
bool chardev_yank(Chardev *chr);
/* Flushes pending output (bounded wait) and restores the terminal for stdio. */
void chardev_free(Chardev *chr);

#endif
