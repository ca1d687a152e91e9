/*
 * Snapshots of a machine (docs/migration.md): `migrate {"uri":"file:<dir>"}`
 * writes <dir>/state and <dir>/memory, `-incoming file:<dir>` builds the
 * same machine from them. The status machine is StratoVirt's
 * (stratovirt-reference.md §3.1); query-migrate reports it.
 *
 * Everything runs on the main thread with the machine lock held.
 */
#ifndef STRATUS_MIGRATION_MIGRATION_H
#define STRATUS_MIGRATION_MIGRATION_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "machine.h"

typedef enum {
    MIGRATION_STATUS_NONE,
    MIGRATION_STATUS_SETUP,
    MIGRATION_STATUS_ACTIVE,
    MIGRATION_STATUS_COMPLETED,
    MIGRATION_STATUS_FAILED,
    MIGRATION_STATUS_CANCELED,
} MigrationStatus;

typedef struct SnapshotImage SnapshotImage;

typedef struct MigrationState {
    MigrationStatus status;
    int64_t start_us;            /* g_get_monotonic_time() when the last one began */
    int64_t total_ms;            /* of the last completed one */
    SnapshotImage *incoming;     /* -incoming file: until it is loaded */
    char *incoming_dir;
} MigrationState;

const char *migration_status_name(MigrationStatus s);
/*
 * StratoVirt's transitions: none->setup; setup->active|failed|canceled;
 * active->completed|failed|canceled; completed->active; failed->setup|
 * active; canceled->anything. Otherwise false with "Failed to transfer
 * migration status from X to Y.".
 */
bool migration_set_status(MigrationState *ms, MigrationStatus to, GError **err);

MigrationState *migration_state_new(void);
void migration_state_free(MigrationState *ms);

/*
 * migrate file:<dir>. Pauses a running VM (STOP), drains block I/O, writes
 * <dir>/state and <dir>/memory (the directory is created if needed; the
 * files are replaced atomically). On success the VM stays paused and the
 * status is completed; on failure the status is failed, a VM that was
 * running runs again, and *err names the cause.
 */
bool migration_snapshot_save(Machine *m, const char *dir, GError **err);

/*
 * -incoming file:<dir>, in three steps of machine creation:
 * open   before the board: reads and checks <dir>/state against the command
 *        line (machine type, -smp, -m);
 * ram    once the RAM exists: checks <dir>/memory and maps it copy-on-write
 *        (mapped) or reads it in;
 * state  once every device exists: the device set must be the snapshot's;
 *        loads the VM, vCPU, board and device states. Status completed.
 * Errors name the file and the problem.
 */
bool migration_incoming_open(Machine *m, GError **err);
bool migration_incoming_ram(Machine *m, GError **err);
bool migration_incoming_state(Machine *m, GError **err);

#endif
