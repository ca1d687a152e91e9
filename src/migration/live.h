/*
 * Live migration over tcp: and unix: (docs/migration.md, "Live migration").
 *
 * Source: `migrate` connects, replies at once and runs the transfer on a
 * thread of its own: the whole RAM (never-populated pages skipped), pre-copy
 * rounds of the pages the dirty log reports until the rest fits the
 * downtime limit at the measured bandwidth, then the VM pauses (STOP), the
 * rest and the device state go, and the source ends as StratoVirt's does
 * (SHUTDOWN, exit 0; with -no-shutdown it stays paused in "postmigrate",
 * as QEMU's). Any failure, and migrate_cancel during pre-copy, leave the
 * source running.
 *
 * Destination: -incoming tcp:/unix: listens before the main loop runs
 * (-incoming defer: once QMP migrate-incoming gives the address; query-status
 * says "inmigrate" meanwhile), accepts one connection and
 * receives on a thread; a bad stream or command line ends the process with
 * one `stratus: error:` line and exit 1.
 *
 * The thread takes the machine lock for what touches the machine (dirty
 * log, stats, device state); RAM it reads and writes directly.
 */
#ifndef STRATUS_MIGRATION_LIVE_H
#define STRATUS_MIGRATION_LIVE_H

#include <stdbool.h>
#include <glib.h>

#include "machine.h"

/* QMP migrate with a tcp:/unix: URI (main thread, lock held). */
bool live_migrate_start(Machine *m, const char *uri, GError **err);
/* QMP migrate_cancel (lock held): false + *err when it cannot be canceled. */
bool live_migrate_cancel(Machine *m, GError **err);
/*
 * -incoming tcp:/unix: at machine creation: binds and listens; with
 * -incoming defer only notes that migrate-incoming will give the address.
 */
bool live_incoming_listen(Machine *m, GError **err);
/* machine_run: state inmigrate; the main loop accepts the source's connection. */
void live_incoming_start(Machine *m);
/*
 * QMP migrate-incoming (lock held), QEMU 7.2's checks in its order: "The
 * incoming migration has already been started" (any -incoming but a defer
 * still waiting for its address), "'-incoming' was not specified on the
 * command line", "unknown migration protocol: <uri>"; then listens on uri
 * and accepts as -incoming tcp:/unix: does.
 */
bool live_incoming_deferred(Machine *m, const char *uri, GError **err);
/*
 * The destination's address (tcp:IP:PORT or unix:PATH) while it listens or
 * receives, for query-migrate's "socket-address"; NULL otherwise (lock held).
 */
const char *live_incoming_address(Machine *m);
/* Before the machine is freed (lock not held): stops and joins a migration thread. */
void live_migration_finish(Machine *m);

#endif
