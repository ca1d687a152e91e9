/*
 * Dirty-page rate (dirty-rate.h). QEMU samples page hashes (page-sampling)
 * or reads the dirty log (dirty-bitmap); Stratus always reads the
 * accelerator's dirty log, which counts every written page, and reports the
 * mode it was asked for. The window ends on a main-loop timer, which runs
 * with the machine lock held.
 */
#include <string.h>

#include "migration/dirty-rate.h"
#include "migration/migration.h"
#include "accel/accel.h"
#include "util/log.h"
#include "util/strutil.h"

static DirtyRate *dirty_rate(const Machine *m)
{
    return &m->migration->dirty_rate;
}

static gboolean window_end(gpointer opaque)
{
    Machine *m = opaque;
    DirtyRate *dr = dirty_rate(m);
    DirtyBitmap *bm = dirty_bitmap_new(&m->ram);
    g_autoptr(GError) err = NULL;

    dr->timer = 0;
    if (!m->accel_ops->dirty_log_sync(m, bm, &err)) {
        log_warn("calc-dirty-rate: %s", err->message);
    }
    m->accel_ops->dirty_log_stop(m);
    migration_dirty_log_release(m->migration, DIRTY_LOG_DIRTY_RATE);
    /* MB/s as QEMU counts them: pages * 4 KiB in MiB, over the window. */
    dr->rate_mbps = (int64_t)(dirty_bitmap_count(bm) * GUEST_PAGE_SIZE / (1 << 20)) /
                    dr->calc_time_s;
    dr->status = DIRTY_RATE_MEASURED;
    dirty_bitmap_free(bm);
    return G_SOURCE_REMOVE;
}

static bool check_args(Machine *m, int64_t calc_time, int64_t sample_pages, const char *mode,
                       GError **err)
{
    if (dirty_rate(m)->status == DIRTY_RATE_MEASURING) {
        set_error(err, "the dirty rate is already being measured.");
        return false;
    }
    if (calc_time < 1 || calc_time > 60) {
        set_error(err, "calc-time is out of range[1, 60].");
        return false;
    }
    if (!strcmp(mode, "dirty-ring")) {
        set_error(err, "mode dirty-ring is not enabled, use other method instead.");
        return false;
    }
    if (!strcmp(mode, "page-sampling") && (sample_pages < 128 || sample_pages > 4096)) {
        set_error(err, "sample-pages is out of range[128, 4096].");
        return false;
    }
    if (!migration_dirty_log_claim(m->migration, DIRTY_LOG_DIRTY_RATE, err)) {
        return false;
    }
    if (!m->accel_ops->dirty_log_start || !m->ram.mapping) {
        migration_dirty_log_release(m->migration, DIRTY_LOG_DIRTY_RATE);
        set_error(err, "the dirty rate cannot be measured: no guest RAM or no dirty log");
        return false;
    }
    return true;
}

bool dirty_rate_start(Machine *m, int64_t calc_time, int64_t sample_pages, const char *mode,
                      GError **err)
{
    DirtyRate *dr = dirty_rate(m);
    GSource *src;

    /* check_args ends with the claim: released below if the log does not start. */
    if (!check_args(m, calc_time, sample_pages, mode, err)) {
        return false;
    }
    if (!m->accel_ops->dirty_log_start(m, err)) {
        migration_dirty_log_release(m->migration, DIRTY_LOG_DIRTY_RATE);
        return false;
    }
    dr->status = DIRTY_RATE_MEASURING;
    dr->start_time_s = g_get_monotonic_time() / G_USEC_PER_SEC;
    dr->calc_time_s = calc_time;
    dr->sample_pages = sample_pages;
    dr->rate_mbps = 0;
    g_free(dr->mode);
    dr->mode = g_strdup(mode);
    src = g_timeout_source_new((guint)calc_time * 1000);
    g_source_set_callback(src, window_end, m, NULL);
    dr->timer = g_source_attach(src, m->ctx);
    g_source_unref(src);
    return true;
}

void dirty_rate_cancel(Machine *m)
{
    DirtyRate *dr = dirty_rate(m);

    if (dr->status != DIRTY_RATE_MEASURING) {
        return;
    }
    if (dr->timer) {
        GSource *src = g_main_context_find_source_by_id(m->ctx, dr->timer);
        if (src) {
            g_source_destroy(src);
        }
        dr->timer = 0;
    }
    m->accel_ops->dirty_log_stop(m);
    migration_dirty_log_release(m->migration, DIRTY_LOG_DIRTY_RATE);
    dr->status = DIRTY_RATE_UNSTARTED;
}
