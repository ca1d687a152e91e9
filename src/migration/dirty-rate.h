/*
 * calc-dirty-rate / query-dirty-rate (docs/migration.md "Dirty-page rate"):
 * how fast the guest dirties its memory, measured with the accelerator's
 * dirty-page log over calc-time seconds. Main thread, machine lock held.
 */
#ifndef STRATUS_MIGRATION_DIRTY_RATE_H
#define STRATUS_MIGRATION_DIRTY_RATE_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "machine.h"

typedef enum {
    DIRTY_RATE_UNSTARTED,
    DIRTY_RATE_MEASURING,
    DIRTY_RATE_MEASURED,
} DirtyRateStatus;

typedef struct DirtyRate {
    DirtyRateStatus status;
    int64_t start_time_s;        /* monotonic seconds, as QEMU's */
    int64_t calc_time_s;
    int64_t sample_pages;        /* as given (every page is counted, not a sample) */
    char *mode;                  /* "page-sampling" (default) or "dirty-bitmap" */
    int64_t rate_mbps;           /* MB/s, once measured */
    guint timer;                 /* the end of the window, while measuring */
} DirtyRate;

/*
 * Starts a measurement: QEMU's checks and texts for calc_time (1..60),
 * sample_pages (128..4096 in page-sampling mode) and mode, one at a time,
 * and not during a live migration: the log has one user at a time
 * (migration_dirty_log_claim).
 */
bool dirty_rate_start(Machine *m, int64_t calc_time, int64_t sample_pages, const char *mode,
                      GError **err);
/* Ends a measurement early (machine teardown); nothing is reported. */
void dirty_rate_cancel(Machine *m);

#endif
