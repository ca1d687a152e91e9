/*
 * The source side of a live migration (live.h). The thread sends; the
 * machine lock is taken for the dirty log, the stats and the final phase.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/live-internal.h"
#include "migration/channel.h"
#include "accel/accel.h"
#include "hw/device.h"
#include "util/log.h"
#include "util/strutil.h"

/* Pages per PAGES record: 1 MiB of data at most. */
#define BATCH_PAGES 256
/* Pre-copy rounds before stopping the VM whatever remains (StratoVirt's 30). */
#define MAX_ROUNDS 30

typedef struct {
    LiveMigration *lm;
    GByteArray *payload;
    unsigned npages;
    uint64_t round_bytes;        /* sent in this pass */
    int64_t round_start_us;
    uint64_t window_bytes;       /* for max-bandwidth */
    int64_t window_start_us;
    uint64_t window_limit;       /* the max-bandwidth the window was measured under */
    bool locked;                 /* the final phase holds the machine lock throughout */
} Sender;

/* The stats are under the machine lock, which the final phase already holds. */
static void stats_lock(Sender *s)
{
    if (!s->locked) {
        machine_lock(s->lm->m);
    }
}

static void stats_unlock(Sender *s)
{
    if (!s->locked) {
        machine_unlock(s->lm->m);
    }
}

MigSetup *live_local_setup(Machine *m)
{
    MigSetup *s = migsetup_new(m->machine_class->name, m->vcpus->len, m->cfg->mem_size);

    for (guint i = 0; i < m->ram.blocks->len; i++) {
        const RamBlock *b = &g_array_index(m->ram.blocks, RamBlock, i);
        migsetup_add_ram(s, b->gpa, b->size);
    }
    for (guint i = 0; i < m->devices->len; i++) {
        Device *d = g_ptr_array_index(m->devices, i);
        migsetup_add_device(s, d->klass->name, d->qom_path);
    }
    return s;
}

static bool canceled(LiveMigration *lm, GError **err)
{
    if (g_atomic_int_get(&lm->cancel) || g_atomic_int_get(&lm->quit)) {
        set_error(err, "canceled");
        return true;
    }
    return false;
}

/*
 * Sleeps off what max-bandwidth allows, in slices so a cancel is seen soon.
 * A new limit starts a new window: bytes sent under a higher one must not
 * be paid for again at the lower rate. The final phase is not throttled
 * (as QEMU's completion): the guest is paused and every delay is downtime.
 */
static bool throttle(Sender *s, size_t sent, GError **err)
{
    uint64_t limit = __atomic_load_n(&s->lm->m->migration->max_bandwidth, __ATOMIC_RELAXED);
    int64_t now = g_get_monotonic_time();

    if (s->locked) {
        return !canceled(s->lm, err);
    }
    s->window_bytes += sent;
    if (now - s->window_start_us > G_USEC_PER_SEC || limit != s->window_limit) {
        s->window_bytes = sent;
        s->window_start_us = now;
        s->window_limit = limit;
    }
    while (limit) {
        int64_t due = s->window_start_us + (int64_t)(s->window_bytes * G_USEC_PER_SEC / limit);
        now = g_get_monotonic_time();
        if (now >= due) {
            break;
        }
        if (canceled(s->lm, err)) {
            return false;
        }
        g_usleep(MIN(due - now, 50000));
        if (__atomic_load_n(&s->lm->m->migration->max_bandwidth, __ATOMIC_RELAXED) != limit) {
            break;      /* changed meanwhile: the next record starts a window under it */
        }
    }
    return !canceled(s->lm, err);
}

static bool send_bytes(Sender *s, const uint8_t *buf, size_t len, GError **err)
{
    MigrationState *ms = s->lm->m->migration;

    if (!channel_send(s->lm->fd, buf, len, err)) {
        return false;
    }
    s->round_bytes += len;
    stats_lock(s);
    ms->stats.transferred += len;
    stats_unlock(s);
    return true;
}

static bool flush_pages(Sender *s, GError **err)
{
    g_autoptr(GByteArray) rec = g_byte_array_sized_new(s->payload->len + 8);

    if (!s->npages) {
        return true;
    }
    migstream_put_record(rec, MIGREC_PAGES, s->payload->data, s->payload->len);
    g_byte_array_set_size(s->payload, 0);
    s->npages = 0;
    return send_bytes(s, rec->data, rec->len, err) && throttle(s, rec->len, err);
}

static bool queue_page(Sender *s, uint64_t gpa, const uint8_t *page, GError **err)
{
    MigrationState *ms = s->lm->m->migration;
    bool zero = migstream_put_page(s->payload, gpa, page);

    stats_lock(s);
    if (zero) {
        ms->stats.duplicate++;
    } else {
        ms->stats.normal++;
    }
    ms->stats.remaining = ms->stats.remaining > GUEST_PAGE_SIZE ?
                          ms->stats.remaining - GUEST_PAGE_SIZE : 0;
    stats_unlock(s);
    return ++s->npages < BATCH_PAGES || flush_pages(s, err);
}

/* The first pass: every page but those never populated (they read as zeros). */
static bool send_block(Sender *s, const RamBlock *b, int pagemap, GError **err)
{
    enum { CHUNK = 4096 };
    const GuestRam *ram = &s->lm->m->ram;
    uint64_t npages = b->size / GUEST_PAGE_SIZE, off = (uint64_t)(b->hva - (uint8_t *)ram->mapping);
    g_autofree bool *never = g_new(bool, CHUNK);

    for (uint64_t p = 0; p < npages; p += CHUNK) {
        size_t n = (size_t)MIN((uint64_t)CHUNK, npages - p);
        bool known = guest_ram_unpopulated(ram, pagemap, off + p * GUEST_PAGE_SIZE, n, never);

        for (size_t i = 0; i < n; i++) {
            uint64_t at = (p + i) * GUEST_PAGE_SIZE;
            if (known && never[i]) {
                MigrationStats *st = &s->lm->m->migration->stats;
                stats_lock(s);
                st->remaining -= MIN(GUEST_PAGE_SIZE, st->remaining);
                stats_unlock(s);
                continue;
            }
            if (!queue_page(s, b->gpa + at, b->hva + at, err)) {
                return false;
            }
        }
    }
    return flush_pages(s, err);
}

static bool send_dirty(Sender *s, GError **err)
{
    const GuestRam *ram = &s->lm->m->ram;
    DirtyBitmap *d = s->lm->dirty;

    for (uint64_t gpa = dirty_bitmap_next(d, 0); gpa != UINT64_MAX;
         gpa = dirty_bitmap_next(d, gpa + GUEST_PAGE_SIZE)) {
        const uint8_t *page = guest_ram_ptr(ram, gpa, GUEST_PAGE_SIZE);
        if (page && !queue_page(s, gpa, page, err)) {
            return false;
        }
    }
    dirty_bitmap_clear(d);
    return flush_pages(s, err);
}

/* Lock held: what was written since the last sync, guest and devices. */
static bool sync_dirty(LiveMigration *lm, GError **err)
{
    Machine *m = lm->m;
    MigrationState *ms = m->migration;
    uint64_t n;

    if (!m->accel_ops->dirty_log_sync(m, lm->dirty, err)) {
        return false;
    }
    dirty_bitmap_take(lm->dirty, lm->dma);
    n = dirty_bitmap_count(lm->dirty);
    ms->stats.dirty_sync_count++;
    ms->stats.remaining = n * GUEST_PAGE_SIZE;
    return true;
}

static void round_begin(Sender *s)
{
    s->round_bytes = 0;
    s->round_start_us = g_get_monotonic_time();
}

/* Lock held: the last round's throughput (bytes/s) and the stats from it. */
static uint64_t round_end(Sender *s, uint64_t dirtied)
{
    MigrationState *ms = s->lm->m->migration;
    int64_t us = MAX(g_get_monotonic_time() - s->round_start_us, 1);
    uint64_t bw = s->round_bytes * G_USEC_PER_SEC / (uint64_t)us;

    ms->stats.mbps = (double)s->round_bytes * 8 / (double)us;
    ms->stats.dirty_pages_rate = dirtied * G_USEC_PER_SEC / (uint64_t)us;
    return MAX(bw, 1);
}

static bool handshake(LiveMigration *lm, GError **err)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(MigSetup) setup = NULL;
    g_autoptr(GBytes) enc = NULL;
    gsize len;
    const void *data;

    machine_lock(lm->m);
    setup = live_local_setup(lm->m);
    machine_unlock(lm->m);
    enc = migsetup_encode(setup);
    data = g_bytes_get_data(enc, &len);
    migstream_put_header(out);
    migstream_put_record(out, MIGREC_SETUP, data, len);
    return channel_send(lm->fd, out->data, out->len, err) && channel_recv_reply(lm->fd, err);
}

static bool start_dirty_log(LiveMigration *lm, GError **err)
{
    Machine *m = lm->m;
    bool ok;

    machine_lock(m);
    ok = m->accel_ops->dirty_log_start(m, err);
    if (ok) {
        __atomic_store_n(&m->ram.dma_log, lm->dma, __ATOMIC_RELEASE);
        m->migration->setup_ms = (g_get_monotonic_time() - lm->start_us) / 1000;
    }
    machine_unlock(m);
    return ok;
}

/* Pre-copy: rounds until what is dirty fits the downtime limit. Ends with the lock held. */
static bool precopy(Sender *s, GError **err)
{
    LiveMigration *lm = s->lm;
    MigrationState *ms = lm->m->migration;
    uint64_t bw;

    int pagemap = guest_ram_pagemap_open(&lm->m->ram);
    bool ok = true;

    round_begin(s);
    for (guint i = 0; ok && i < lm->m->ram.blocks->len; i++) {
        ok = send_block(s, &g_array_index(lm->m->ram.blocks, RamBlock, i), pagemap, err);
    }
    if (pagemap >= 0) {
        close(pagemap);
    }
    if (!ok) {
        machine_lock(lm->m);
        return false;
    }
    for (int round = 0;; round++) {
        machine_lock(lm->m);
        if (!sync_dirty(lm, err)) {
            return false;
        }
        bw = round_end(s, dirty_bitmap_count(lm->dirty));
        if (ms->stats.remaining * 1000 / bw <= ms->downtime_limit_ms || round >= MAX_ROUNDS) {
            if (round >= MAX_ROUNDS) {
                log_warn("migration: not converging after %d rounds, stopping the VM", round);
            }
            return !canceled(lm, err);
        }
        machine_unlock(lm->m);
        round_begin(s);
        if (!send_dirty(s, err)) {
            machine_lock(lm->m);
            return false;
        }
    }
}

static bool send_record(LiveMigration *lm, MigRecordType type, const void *data, size_t len,
                        GError **err)
{
    g_autoptr(GByteArray) out = g_byte_array_new();

    migstream_put_record(out, type, data, len);
    if (!channel_send(lm->fd, out->data, out->len, err)) {
        return false;
    }
    lm->m->migration->stats.transferred += out->len;
    return true;
}

/*
 * Lock held throughout: the VM pauses, the last pages and the device state
 * go, and the image locks are handed over once the destination has loaded
 * everything; it takes them and runs.
 */
static bool stop_and_copy(Sender *s, GError **err)
{
    LiveMigration *lm = s->lm;
    Machine *m = lm->m;
    int64_t t0 = g_get_monotonic_time();
    g_autoptr(GBytes) state = NULL;
    gsize len;
    const void *data;

    lm->final_phase = true;
    s->locked = true;
    if (m->runstate == RUN_STATE_RUNNING) {
        if (!machine_pause(m, err)) {
            return false;
        }
        lm->paused_by_us = true;
    }
    migration_drain_block_io(m);
    if (!sync_dirty(lm, err) || !send_dirty(s, err)) {
        return false;
    }
    state = migration_save_state(m, err);
    if (!state) {
        return false;
    }
    data = g_bytes_get_data(state, &len);
    if (!send_record(lm, MIGREC_STATE, data, len, err) || !channel_recv_reply(lm->fd, err)) {
        return false;
    }
    live_block_locks(m, false, NULL);
    lm->locks_released = true;
    if (!send_record(lm, MIGREC_END, NULL, 0, err) || !channel_recv_reply(lm->fd, err)) {
        return false;
    }
    m->migration->downtime_ms = (g_get_monotonic_time() - t0) / 1000;
    return true;
}

static void stop_dirty_log(LiveMigration *lm)
{
    __atomic_store_n(&lm->m->ram.dma_log, NULL, __ATOMIC_RELEASE);
    lm->m->accel_ops->dirty_log_stop(lm->m);
}

/* Lock held. */
static void source_completed(LiveMigration *lm)
{
    Machine *m = lm->m;
    MigrationState *ms = m->migration;

    ms->stats.remaining = 0;
    ms->total_ms = (g_get_monotonic_time() - lm->start_us) / 1000;
    migration_set_status(ms, MIGRATION_STATUS_COMPLETED, NULL);
    log_info("migration completed in %" G_GINT64_FORMAT " ms, downtime %" G_GINT64_FORMAT
             " ms, %" G_GUINT64_FORMAT " bytes", ms->total_ms, ms->downtime_ms,
             ms->stats.transferred);
    if (m->cfg->no_shutdown) {
        machine_set_runstate(m, RUN_STATE_POSTMIGRATE);
    } else {
        machine_request_shutdown(m, SHUTDOWN_HOST_QMP_QUIT);
    }
}

/* Lock held: the source goes on as before. */
static void source_failed(LiveMigration *lm, GError *err)
{
    Machine *m = lm->m;
    MigrationState *ms = m->migration;
    bool was_canceled = g_atomic_int_get(&lm->cancel) && !lm->final_phase;

    /*
     * The hand-over's last reply was lost: if the destination got the images
     * it runs the guest, and running it here too would corrupt the disks.
     */
    if (lm->locks_released && !live_block_locks(m, true, NULL)) {
        log_error("migration: the destination holds the disk images; the source stays paused");
    } else if (lm->paused_by_us) {
        machine_resume(m, NULL);
    }
    ms->total_ms = (g_get_monotonic_time() - lm->start_us) / 1000;
    if (was_canceled) {
        log_info("migration canceled");
        return;      /* migrate_cancel set the status */
    }
    log_error("migration failed: %s", err->message);
    g_free(ms->error_desc);
    ms->error_desc = g_strdup(err->message);
    migration_set_status(ms, MIGRATION_STATUS_FAILED, NULL);
}

static gpointer source_thread(gpointer opaque)
{
    LiveMigration *lm = opaque;
    Sender s = { .lm = lm, .payload = g_byte_array_new(),
                 .window_start_us = g_get_monotonic_time() };
    GError *err = NULL;
    bool logging = false, ok;

    ok = handshake(lm, &err) && (logging = start_dirty_log(lm, &err)) &&
         precopy(&s, &err) && stop_and_copy(&s, &err);
    if (!logging) {
        machine_lock(lm->m);
    } else {
        stop_dirty_log(lm);
    }
    if (ok) {
        source_completed(lm);
    } else {
        if (g_atomic_int_get(&lm->cancel) && !lm->final_phase) {
            send_record(lm, MIGREC_CANCEL, NULL, 0, NULL);
        }
        source_failed(lm, err);
        g_error_free(err);
    }
    shutdown(lm->fd, SHUT_RDWR);
    migration_dirty_log_release(lm->m->migration, DIRTY_LOG_MIGRATION);
    machine_unlock(lm->m);
    g_byte_array_unref(s.payload);
    return NULL;
}

void live_free(LiveMigration *lm)
{
    if (!lm) {
        return;
    }
    if (lm->accept_source) {
        g_source_destroy(lm->accept_source);
        g_source_unref(lm->accept_source);
    }
    if (lm->fd >= 0) {
        close(lm->fd);
    }
    if (lm->listen_fd >= 0) {
        close(lm->listen_fd);
    }
    dirty_bitmap_free(lm->dirty);
    dirty_bitmap_free(lm->dma);
    g_free(lm->listen_uri);
    g_free(lm);
}

/* Lock held: a finished thread is joined (it no longer needs the lock). */
static bool reap_finished(MigrationState *ms, GError **err)
{
    LiveMigration *lm = ms->live;

    if (!lm) {
        return true;
    }
    if (ms->status == MIGRATION_STATUS_ACTIVE) {
        set_error(err, "Failed to transfer migration status from active to active.");
        return false;
    }
    if (lm->thread) {
        machine_unlock(lm->m);
        g_thread_join(lm->thread);
        machine_lock(lm->m);
    }
    live_free(lm);
    ms->live = NULL;
    return true;
}

static bool check_startable(Machine *m, GError **err)
{
    MigrationState *ms = m->migration;

    if (!reap_finished(ms, err)) {
        return false;
    }
    for (guint i = 0; i < m->devices->len; i++) {
        if (!device_migratable(g_ptr_array_index(m->devices, i), err)) {
            return false;
        }
    }
    if (!m->accel_ops->dirty_log_start || !m->accel_ops->dirty_log_sync) {
        set_error(err, "the %s accelerator cannot track dirty pages", m->accel_ops->name);
        return false;
    }
    if (m->runstate != RUN_STATE_RUNNING && m->runstate != RUN_STATE_PAUSED) {
        set_error(err, "VM cannot be migrated in state %s", runstate_name(m->runstate));
        return false;
    }
    return true;
}

bool live_migrate_start(Machine *m, const char *uri, GError **err)
{
    MigrationState *ms = m->migration;
    LiveMigration *lm;
    int fd;

    if (!check_startable(m, err) || !migration_status_can_be(ms, MIGRATION_STATUS_ACTIVE, err) ||
        !migration_dirty_log_claim(ms, DIRTY_LOG_MIGRATION, err)) {
        return false;
    }
    fd = channel_connect(uri, err);
    if (fd < 0) {
        migration_dirty_log_release(ms, DIRTY_LOG_MIGRATION);
        return false;
    }
    lm = g_new0(LiveMigration, 1);
    lm->m = m;
    lm->fd = fd;
    lm->listen_fd = -1;
    lm->dirty = dirty_bitmap_new(&m->ram);
    lm->dma = dirty_bitmap_new(&m->ram);
    lm->start_us = ms->start_us = g_get_monotonic_time();
    ms->live = lm;
    ms->has_stats = true;
    memset(&ms->stats, 0, sizeof(ms->stats));
    ms->stats.total = ms->stats.remaining = m->ram.mapping_size;
    ms->setup_ms = ms->downtime_ms = ms->total_ms = 0;
    g_clear_pointer(&ms->error_desc, g_free);
    migration_set_status(ms, MIGRATION_STATUS_ACTIVE, NULL);
    log_info("migration to %s started", uri);
    lm->thread = g_thread_new("live_migrate", source_thread, lm);
    return true;
}

bool live_migrate_cancel(Machine *m, GError **err)
{
    MigrationState *ms = m->migration;
    LiveMigration *lm = ms->live;

    if (!lm || !lm->thread || ms->status != MIGRATION_STATUS_ACTIVE) {
        return true;     /* nothing in flight: {} as StratoVirt's and QEMU's */
    }
    if (lm->final_phase) {
        set_error(err, "The migration is in its final phase and cannot be canceled");
        return false;
    }
    if (!migration_set_status(ms, MIGRATION_STATUS_CANCELED, err)) {
        return false;
    }
    g_atomic_int_set(&lm->cancel, 1);
    return true;
}
