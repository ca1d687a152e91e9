/* Private to the live migration files (live.h): the running migration. */
#ifndef STRATUS_MIGRATION_LIVE_INTERNAL_H
#define STRATUS_MIGRATION_LIVE_INTERNAL_H

#include "migration/live.h"
#include "migration/migration.h"
#include "migration/stream.h"

struct LiveMigration {
    Machine *m;
    int fd;                  /* the connection; -1 before accept */
    int listen_fd;           /* destination, until the source connects */
    GSource *accept_source;  /* destination: the main loop's watch on listen_fd */
    char *listen_uri;        /* destination: where it listens (query-migrate socket-address) */
    GThread *thread;
    gint cancel;             /* atomic: migrate_cancel asked (source) */
    gint quit;               /* atomic: the machine is going away */
    bool final_phase;        /* lock: the source has paused, too late to cancel */
    bool paused_by_us;       /* lock: the source paused a running VM */
    bool locks_released;     /* lock: the source gave up its image locks */
    DirtyBitmap *dirty;      /* source: pages to send */
    DirtyBitmap *dma;        /* source: what devices wrote (GuestRam.dma_log) */
    int64_t start_us;
};

/* Builds what the destination's command line must match (lock held). */
MigSetup *live_local_setup(Machine *m);
/* Image locks: released by the source at hand-over, taken by the destination. */
bool live_block_locks(Machine *m, bool take, GError **err);
void live_free(LiveMigration *lm);

#endif
