/*
 * The destination side of a live migration (live.h): -incoming tcp:/unix:.
 * The main loop accepts the one connection; a thread receives. RAM pages
 * are written while the vCPUs are parked, the device state is loaded under
 * the machine lock.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib-unix.h>

#include "migration/live-internal.h"
#include "migration/channel.h"
#include "migration/snapshot.h"
#include "block/block.h"
#include "util/log.h"
#include "util/strutil.h"

bool live_block_locks(Machine *m, bool take, GError **err)
{
    GPtrArray *nodes = block_registry_list(m->block_nodes);

    for (guint i = 0; nodes && i < nodes->len; i++) {
        BlockBackend *bb = g_ptr_array_index(nodes, i);
        if (!take) {
            block_unlock_image(bb);
        } else if (!block_lock_image(bb, err)) {
            return false;
        }
    }
    return true;
}

static bool deferred(const Machine *m)
{
    return m->cfg->incoming_uri && !strcmp(m->cfg->incoming_uri, "defer");
}

bool live_incoming_listen(Machine *m, GError **err)
{
    LiveMigration *lm = g_new0(LiveMigration, 1);

    lm->m = m;
    lm->fd = -1;
    lm->listen_fd = -1;
    if (deferred(m)) {
        m->migration->live = lm;
        log_info("-incoming defer: waiting for QMP migrate-incoming");
        return true;
    }
    lm->listen_fd = channel_listen(m->cfg->incoming_uri, err);
    if (lm->listen_fd < 0) {
        g_prefix_error(err, "-incoming: ");
        g_free(lm);
        return false;
    }
    lm->listen_uri = g_strdup(m->cfg->incoming_uri);
    m->migration->live = lm;
    log_info("waiting for the migration on %s", m->cfg->incoming_uri);
    return true;
}

typedef struct {
    LiveMigration *lm;
    bool have_setup;
    uint64_t bytes;
} Receiver;

static bool reply(LiveMigration *lm, bool ok, const char *msg)
{
    g_autoptr(GByteArray) out = g_byte_array_new();

    migstream_put_reply(out, ok, msg);
    return channel_send(lm->fd, out->data, out->len, NULL);
}

static bool apply_page(uint64_t gpa, const uint8_t *data, void *opaque, GError **err)
{
    LiveMigration *lm = opaque;
    uint8_t *p = guest_ram_ptr(&lm->m->ram, gpa, GUEST_PAGE_SIZE);
    static const uint8_t zero[GUEST_PAGE_SIZE];

    if (!p) {
        set_error(err, "page 0x%" G_GINT64_MODIFIER "x is outside this machine's RAM", gpa);
        return false;
    }
    if (data) {
        memcpy(p, data, GUEST_PAGE_SIZE);
    } else if (memcmp(p, zero, sizeof(zero))) {
        memset(p, 0, GUEST_PAGE_SIZE);
    }
    guest_ram_code_written(&lm->m->ram, p, GUEST_PAGE_SIZE);   /* no vCPU runs; cheap anyway */
    return true;
}

static bool on_setup(Receiver *r, const GByteArray *p, GError **err)
{
    Machine *m = r->lm->m;
    g_autoptr(MigSetup) src = migsetup_decode(p->data, p->len, err);
    g_autoptr(MigSetup) local = NULL;
    bool ok;

    if (!src) {
        return false;
    }
    machine_lock(m);
    local = live_local_setup(m);
    ok = migsetup_compare(src, local, err);
    if (ok) {
        migration_set_status(m->migration, MIGRATION_STATUS_ACTIVE, NULL);
    }
    machine_unlock(m);
    r->have_setup = ok;
    return ok && reply(r->lm, true, NULL);
}

static bool on_state(Receiver *r, const GByteArray *p, GError **err)
{
    Machine *m = r->lm->m;
    g_autoptr(GBytes) bytes = g_bytes_new(p->data, p->len);
    g_autoptr(SnapshotImage) img = snapshot_state_parse(bytes, err);
    bool ok;

    if (!img) {
        return false;
    }
    machine_lock(m);
    ok = migration_load_state(m, img, err);
    machine_unlock(m);
    if (!ok) {
        g_prefix_error(err, "device state: ");
    }
    return ok && reply(r->lm, true, NULL);
}

/* The source has let go of the images: take them and run. */
static bool on_end(Receiver *r, GError **err)
{
    Machine *m = r->lm->m;
    MigrationState *ms = m->migration;

    machine_lock(m);
    if (!live_block_locks(m, true, err)) {
        machine_unlock(m);
        return false;
    }
    ms->total_ms = (g_get_monotonic_time() - r->lm->start_us) / 1000;
    migration_set_status(ms, MIGRATION_STATUS_COMPLETED, NULL);
    log_info("migration received: %" G_GUINT64_FORMAT " bytes", r->bytes);
    if (m->cfg->freeze_cpus) {
        machine_set_runstate(m, RUN_STATE_PAUSED);
    } else {
        machine_resume(m, NULL);
    }
    machine_unlock(m);
    reply(r->lm, true, NULL);
    return true;
}

/* One record; *done once the guest runs here. */
static bool on_record(Receiver *r, MigRecordType type, const GByteArray *p, bool *done,
                      GError **err)
{
    if (type != MIGREC_SETUP && !r->have_setup) {
        set_error(err, "the stream does not start with its setup record");
        return false;
    }
    switch (type) {
    case MIGREC_SETUP:
        if (r->have_setup) {
            set_error(err, "a second setup record");
            return false;
        }
        return on_setup(r, p, err);
    case MIGREC_PAGES:
        return migstream_pages(p->data, p->len, apply_page, r->lm, err);
    case MIGREC_STATE:
        return on_state(r, p, err);
    case MIGREC_END:
        *done = true;
        return on_end(r, err);
    case MIGREC_CANCEL:
        set_error(err, "the source canceled the migration");
        return false;
    default:
        set_error(err, "unexpected record %u", type);
        return false;
    }
}

static bool receive(Receiver *r, GError **err)
{
    uint8_t hdr[MIGSTREAM_HEADER_LEN];
    bool done = false;

    if (!channel_recv(r->lm->fd, hdr, sizeof(hdr), err) ||
        !migstream_check_header(hdr, sizeof(hdr), err)) {
        return false;
    }
    while (!done) {
        MigRecordType type;
        g_autoptr(GByteArray) p = channel_recv_record(r->lm->fd, &type, err);

        if (!p) {
            return false;
        }
        r->bytes += p->len + MIGSTREAM_RECORD_HEADER_LEN;
        if (!on_record(r, type, p, &done, err)) {
            return false;
        }
    }
    return true;
}

static gpointer incoming_thread(gpointer opaque)
{
    LiveMigration *lm = opaque;
    Receiver r = { .lm = lm };
    GError *err = NULL;

    if (receive(&r, &err)) {
        return NULL;
    }
    if (g_atomic_int_get(&lm->quit)) {
        g_error_free(err);
        return NULL;
    }
    reply(lm, false, err->message);
    report_error("migration failed: %s", err->message);
    machine_lock(lm->m);
    g_free(lm->m->migration->error_desc);
    lm->m->migration->error_desc = g_strdup(err->message);
    migration_set_status(lm->m->migration, MIGRATION_STATUS_FAILED, NULL);
    machine_request_shutdown(lm->m, SHUTDOWN_INTERNAL_ERROR);
    machine_unlock(lm->m);
    g_error_free(err);
    return NULL;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer opaque)
{
    LiveMigration *lm = opaque;
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

    (void)cond;
    if (conn < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            log_warn("migration: accept: %s", g_strerror(errno));
        }
        return G_SOURCE_CONTINUE;
    }
    channel_set_timeouts(conn);
    lm->fd = conn;
    close(lm->listen_fd);
    lm->listen_fd = -1;
    g_clear_pointer(&lm->accept_source, g_source_unref);
    lm->start_us = g_get_monotonic_time();
    log_info("migration: the source connected");
    lm->thread = g_thread_new("live_incoming", incoming_thread, lm);
    return G_SOURCE_REMOVE;
}

static void watch_listener(LiveMigration *lm)
{
    GSource *src = g_unix_fd_source_new(lm->listen_fd, G_IO_IN);

    g_source_set_callback(src, G_SOURCE_FUNC(on_accept), lm, NULL);
    g_source_attach(src, lm->m->ctx);
    lm->accept_source = src;        /* our reference: live_free destroys it */
}

void live_incoming_start(Machine *m)
{
    LiveMigration *lm = m->migration->live;

    if (lm->listen_fd >= 0) {
        watch_listener(lm);
    }
    machine_set_runstate(m, RUN_STATE_INMIGRATE);
}

bool live_incoming_deferred(Machine *m, const char *uri, GError **err)
{
    LiveMigration *lm = m->migration->live;

    /* QEMU checks "once" first: any -incoming but a waiting defer has begun. */
    if (m->cfg->incoming || (m->cfg->incoming_uri && !deferred(m)) ||
        (lm && (lm->listen_fd >= 0 || lm->fd >= 0 || lm->thread))) {
        set_error(err, "The incoming migration has already been started");
        return false;
    }
    if (!lm || m->runstate != RUN_STATE_INMIGRATE) {
        set_error(err, "'-incoming' was not specified on the command line");
        return false;
    }
    if (!g_str_has_prefix(uri, "tcp:") && !g_str_has_prefix(uri, "unix:")) {
        set_error(err, "unknown migration protocol: %s", uri);
        return false;
    }
    lm->listen_fd = channel_listen(uri, err);
    if (lm->listen_fd < 0) {
        return false;
    }
    lm->listen_uri = g_strdup(uri);
    watch_listener(lm);
    log_info("migrate-incoming: waiting for the migration on %s", uri);
    return true;
}

const char *live_incoming_address(Machine *m)
{
    const MigrationState *ms = m->migration;

    if (!ms->live || ms->status == MIGRATION_STATUS_COMPLETED ||
        ms->status == MIGRATION_STATUS_FAILED) {
        return NULL;
    }
    return ms->live->listen_uri;
}

void live_migration_finish(Machine *m)
{
    LiveMigration *lm = m->migration ? m->migration->live : NULL;

    if (!lm) {
        return;
    }
    g_atomic_int_set(&lm->quit, 1);
    if (lm->fd >= 0) {
        shutdown(lm->fd, SHUT_RDWR);
    }
    if (lm->thread) {
        g_thread_join(lm->thread);
    }
    live_free(lm);
    m->migration->live = NULL;
}
