/*
 * The QMP server: monitors (from -qmp / -mon in the config), per-connection
 * state (greeting, negotiation mode, rate bucket, received fds), the streaming
 * JSON splitter, dispatch through one command table, and events.
 */
#ifndef STRATUS_QMP_H
#define STRATUS_QMP_H

#include <json-glib/json-glib.h>
#include "machine.h"

/* Creates and binds every monitor in m->cfg->monitors (lock held). */
QmpServer *qmp_server_new(Machine *m, GError **err);
typedef struct QmpCommandTable QmpCommandTable;
/* The server's command table, for boards to add their commands. */
QmpCommandTable *qmp_server_table(QmpServer *s);
/* Sends an event to every connected monitor in command mode. Takes data. */
void qmp_server_emit_event(QmpServer *s, const char *name, JsonNode *data);
/* Flush pending output (bounded) and close everything; unix sockets unlinked. */
void qmp_server_free(QmpServer *s);
/*
 * Whether a monitor serves chardev `chardev_id`; with yank, its client's
 * connection is shut down (QMP yank), as if the client hung up.
 */
bool qmp_server_yank(QmpServer *s, const char *chardev_id, bool yank);

/*
 * Time sources for tests: `monotonic` drives the per-connection rate
 * limiter, `wall` the event timestamps; both return microseconds. NULL
 * restores the defaults, host time on every accelerator (never qtest's
 * virtual clock): g_get_monotonic_time / g_get_real_time.
 */
typedef gint64 (*QmpClockFn)(void *opaque);
void qmp_server_set_clock(QmpServer *s, QmpClockFn monotonic, QmpClockFn wall,
                          void *opaque);

#endif
