/*
 * Sockets of a live migration (docs/migration.md): the tcp:HOST:PORT and
 * unix:PATH addresses, connecting and listening (main thread: the seccomp
 * filter lets only it create sockets), and whole-record I/O for the
 * migration threads. Send and receive give up after 30 s without progress,
 * as StratoVirt's, so a stalled peer ends a migration instead of hanging it.
 */
#ifndef STRATUS_MIGRATION_CHANNEL_H
#define STRATUS_MIGRATION_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "migration/stream.h"

/* tcp:IPV4:PORT or unix:PATH? (Syntax only; an address that fails is reported later.) */
bool channel_uri_is_live(const char *uri);
/* Connected socket, or -1 with *err naming the address and the cause. */
int channel_connect(const char *uri, GError **err);
/* Listening socket (a unix path is replaced), or -1 with *err. */
int channel_listen(const char *uri, GError **err);

/* The 30 s send/receive timeouts and TCP_NODELAY (connect does it itself). */
void channel_set_timeouts(int fd);

bool channel_send(int fd, const void *buf, size_t len, GError **err);
/* Exactly len bytes; "the connection closed" at end of stream. */
bool channel_recv(int fd, void *buf, size_t len, GError **err);
/* One record: its type and payload (g_byte_array_unref it). */
GByteArray *channel_recv_record(int fd, MigRecordType *type, GError **err);
/* Waits for a REPLY; false + *err with the destination's message if it refused. */
bool channel_recv_reply(int fd, GError **err);

#endif
