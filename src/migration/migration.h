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
#include "migration/dirty-rate.h"

typedef enum {
    MIGRATION_STATUS_NONE,
    MIGRATION_STATUS_SETUP,
    MIGRATION_STATUS_ACTIVE,
    MIGRATION_STATUS_COMPLETED,
    MIGRATION_STATUS_FAILED,
    MIGRATION_STATUS_CANCELED,
} MigrationStatus;

/*
 * The accelerator's dirty-page log has one user at a time: a live migration
 * (from migrate until its thread ends) or a calc-dirty-rate window.
 */
typedef enum {
    DIRTY_LOG_FREE,
    DIRTY_LOG_MIGRATION,
    DIRTY_LOG_DIRTY_RATE,
} DirtyLogUser;

typedef struct SnapshotImage SnapshotImage;
typedef struct LiveMigration LiveMigration;

/* QEMU's MigrationStats (query-migrate "ram") of the last live migration. */
typedef struct MigrationStats {
    uint64_t transferred;        /* bytes sent */
    uint64_t remaining;          /* bytes of RAM still to send */
    uint64_t total;              /* bytes of guest RAM */
    uint64_t duplicate;          /* zero pages (sent as an entry without data) */
    uint64_t normal;             /* pages sent with their data */
    uint64_t dirty_pages_rate;   /* pages dirtied per second in the last round */
    double mbps;                 /* throughput of the last round */
    uint64_t dirty_sync_count;   /* dirty-log syncs */
} MigrationStats;

typedef struct MigrationState {
    Machine *machine;
    MigrationStatus status;
    int64_t start_us;            /* g_get_monotonic_time() when the last one began */
    int64_t total_ms;            /* of the last completed one */
    SnapshotImage *incoming;     /* -incoming file: until it is loaded */
    char *incoming_dir;
    /* -incoming file: timing, logged once the vCPUs run (docs/migration.md). */
    int64_t restore_start_us;    /* migration_incoming_open began */
    int64_t restore_files_us;    /* spent in the three migration_incoming_* steps */
    /* Live migration (live.h); all under the machine lock. */
    bool events;                 /* capability "events": MIGRATION events */
    uint64_t downtime_limit_ms;  /* parameter downtime-limit (300) */
    uint64_t max_bandwidth;      /* parameter max-bandwidth, bytes/s (QEMU's 128 MiB/s) */
    bool has_stats;              /* a live migration ran: query-migrate shows the numbers */
    MigrationStats stats;
    int64_t setup_ms, downtime_ms;
    char *error_desc;            /* why the last live migration failed */
    LiveMigration *live;         /* the running one, source or destination */
    DirtyRate dirty_rate;        /* calc-dirty-rate (dirty-rate.h) */
    DirtyLogUser dirty_log_user; /* migration_dirty_log_claim */
} MigrationState;

const char *migration_status_name(MigrationStatus s);
/*
 * StratoVirt's transitions: none->setup; setup->active|failed|canceled;
 * active->completed|failed|canceled; completed->active; failed->setup|
 * active; canceled->anything. Otherwise false with "Failed to transfer
 * migration status from X to Y.".
 */
bool migration_set_status(MigrationState *ms, MigrationStatus to, GError **err);
/* The same check without the change. */
bool migration_status_can_be(const MigrationState *ms, MigrationStatus to, GError **err);

MigrationState *migration_state_new(Machine *m);
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
/*
 * machine_run, as the restored vCPUs start (or stay frozen with -S): logs
 * "restore: ..." with the time from opening the snapshot to this point.
 */
void migration_incoming_report(Machine *m, bool running);

/*
 * Lock held. Claims the dirty-page log for `who` (it does not start it);
 * false with the holder's refusal when the other user has it: "A
 * dirty-rate measurement is running (calc-dirty-rate): migrate once it has
 * ended" or "the dirty rate cannot be measured during a migration".
 * Release gives it back if `who` holds it.
 */
bool migration_dirty_log_claim(MigrationState *ms, DirtyLogUser who, GError **err);
void migration_dirty_log_release(MigrationState *ms, DirtyLogUser who);

/* For live migration (live.c): the `state` file of this machine, and loading one. */
GBytes *migration_save_state(Machine *m, GError **err);
bool migration_load_state(Machine *m, const SnapshotImage *img, GError **err);
void migration_drain_block_io(Machine *m);

#endif
