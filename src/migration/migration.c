/*
 * Taking and restoring snapshots of a machine (migration.h): gathers the
 * state from the accelerator, the board and the devices into the files
 * snapshot.c encodes, and gives it back on -incoming.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migration/migration.h"
#include "migration/snapshot.h"
#include "accel/accel.h"
#include "block/block.h"
#include "hw/device.h"
#include "util/fdutil.h"
#include "util/log.h"
#include "util/strutil.h"

static const char *const status_names[] = {
    [MIGRATION_STATUS_NONE] = "none",
    [MIGRATION_STATUS_SETUP] = "setup",
    [MIGRATION_STATUS_ACTIVE] = "active",
    [MIGRATION_STATUS_COMPLETED] = "completed",
    [MIGRATION_STATUS_FAILED] = "failed",
    [MIGRATION_STATUS_CANCELED] = "canceled",
};

const char *migration_status_name(MigrationStatus s)
{
    return s < G_N_ELEMENTS(status_names) ? status_names[s] : "unknown";
}

static bool transition_allowed(MigrationStatus from, MigrationStatus to)
{
    switch (from) {
    case MIGRATION_STATUS_NONE:
        return to == MIGRATION_STATUS_SETUP;
    case MIGRATION_STATUS_SETUP:
        return to == MIGRATION_STATUS_ACTIVE || to == MIGRATION_STATUS_FAILED ||
               to == MIGRATION_STATUS_CANCELED;
    case MIGRATION_STATUS_ACTIVE:
        return to == MIGRATION_STATUS_COMPLETED || to == MIGRATION_STATUS_FAILED ||
               to == MIGRATION_STATUS_CANCELED;
    case MIGRATION_STATUS_COMPLETED:
        return to == MIGRATION_STATUS_ACTIVE;
    case MIGRATION_STATUS_FAILED:
        return to == MIGRATION_STATUS_SETUP || to == MIGRATION_STATUS_ACTIVE;
    case MIGRATION_STATUS_CANCELED:
        return true;
    }
    return false;
}

bool migration_status_can_be(const MigrationState *ms, MigrationStatus to, GError **err)
{
    if (!transition_allowed(ms->status, to)) {
        set_error(err, "Failed to transfer migration status from %s to %s.",
                  migration_status_name(ms->status), migration_status_name(to));
        return false;
    }
    return true;
}

bool migration_set_status(MigrationState *ms, MigrationStatus to, GError **err)
{
    if (!migration_status_can_be(ms, to, err)) {
        return false;
    }
    log_info("migration status %s -> %s", migration_status_name(ms->status),
             migration_status_name(to));
    ms->status = to;
    if (ms->events && ms->machine) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "status", migration_status_name(to));
        machine_emit_event(ms->machine, "MIGRATION",
                           json_node_init_object(json_node_alloc(), o));
        json_object_unref(o);
    }
    return true;
}

MigrationState *migration_state_new(Machine *m)
{
    MigrationState *ms = g_new0(MigrationState, 1);

    ms->machine = m;
    ms->downtime_limit_ms = 300;
    ms->max_bandwidth = 128u << 20;
    return ms;
}

void migration_state_free(MigrationState *ms)
{
    if (ms) {
        snapshot_image_free(ms->incoming);
        g_free(ms->incoming_dir);
        g_free(ms->error_desc);
        g_free(ms->dirty_rate.mode);
        g_free(ms);
    }
}

bool migration_dirty_log_claim(MigrationState *ms, DirtyLogUser who, GError **err)
{
    if (ms->dirty_log_user == DIRTY_LOG_DIRTY_RATE && who != DIRTY_LOG_DIRTY_RATE) {
        set_error(err, "A dirty-rate measurement is running (calc-dirty-rate): migrate once "
                  "it has ended");
        return false;
    }
    if (ms->dirty_log_user == DIRTY_LOG_MIGRATION && who != DIRTY_LOG_MIGRATION) {
        set_error(err, "the dirty rate cannot be measured during a migration");
        return false;
    }
    ms->dirty_log_user = who;
    return true;
}

void migration_dirty_log_release(MigrationState *ms, DirtyLogUser who)
{
    if (ms->dirty_log_user == who) {
        ms->dirty_log_user = DIRTY_LOG_FREE;
    }
}

/* ---- saving ---- */

/* The blocks must tile the one host mapping in order: the image is that mapping. */
static bool fill_ram_info(const GuestRam *ram, SnapshotInfo *info, GError **err)
{
    uint64_t offset = 0;

    if (ram->blocks->len > SNAPSHOT_MAX_RAM_BLOCKS) {
        set_error(err, "%u RAM blocks are more than a snapshot holds", ram->blocks->len);
        return false;
    }
    info->nram = ram->blocks->len;
    for (guint i = 0; i < ram->blocks->len; i++) {
        const RamBlock *b = &g_array_index(ram->blocks, RamBlock, i);
        if (b->hva != (uint8_t *)ram->mapping + offset) {
            set_error(err, "the RAM layout cannot be saved");
            return false;
        }
        info->ram[i] = (SnapshotRamBlock){ .gpa = b->gpa, .size = b->size };
        offset += b->size;
    }
    info->memory_len = offset;
    return true;
}

static void copy_name(uint8_t *dst, uint8_t *len, const char *s)
{
    size_t n = MIN(strlen(s), SNAPSHOT_NAME_MAX);

    memcpy(dst, s, n);
    *len = (uint8_t)n;
}

static bool fill_info(Machine *m, SnapshotInfo *info, GError **err)
{
    memset(info, 0, sizeof(*info));
    copy_name(info->machine, &info->machine_len, m->machine_class->name);
    copy_name(info->accel, &info->accel_len, m->accel_ops->name);
    for (unsigned i = 0; i < SNAPSHOT_ID_LEN; i += 4) {
        guint32 r = g_random_int();
        memcpy(info->id + i, &r, 4);
    }
    info->ncpus = m->vcpus->len;
    info->mem_size = m->cfg->mem_size;
    info->ndevices = m->devices->len;
    return fill_ram_info(&m->ram, info, err);
}

/* VM state first: taking it may complete a PIT expiry that reaches a LAPIC (accel.h). */
static GByteArray *save_cpu_state(Machine *m, const SnapshotInfo *info, GError **err)
{
    const AccelOps *ops = m->accel_ops;
    g_autofree X86VcpuState *cpus = g_new0(X86VcpuState, MAX(info->ncpus, 1));
    X86VmState vm;

    if (!ops->vcpu_get_state && info->ncpus) {
        set_error(err, "the %s accelerator cannot save vCPU state", ops->name);
        return NULL;
    }
    x86_vm_state_init(&vm);
    if (ops->vm_get_state && !ops->vm_get_state(m, &vm, err)) {
        return NULL;
    }
    for (uint32_t i = 0; i < info->ncpus; i++) {
        if (!ops->vcpu_get_state(g_ptr_array_index(m->vcpus, i), &cpus[i], err)) {
            return NULL;
        }
    }
    return snapshot_state_begin(info, &vm, cpus, err);
}

static GBytes *save_state(Machine *m, SnapshotInfo *info, GError **err)
{
    g_autoptr(GByteArray) body = NULL;
    g_autoptr(GByteArray) board = g_byte_array_new();
    const MachineClass *mc = m->machine_class;

    if (!fill_info(m, info, err) || !(body = save_cpu_state(m, info, err))) {
        return NULL;
    }
    if (mc->save_state && !mc->save_state(m, board, err)) {
        return NULL;
    }
    snapshot_state_add_record(body, "board", mc->name, NULL, board->data, board->len);
    for (guint i = 0; i < m->devices->len; i++) {
        Device *d = g_ptr_array_index(m->devices, i);
        g_autoptr(GByteArray) dev = g_byte_array_new();
        if (!device_save_state(d, dev, err)) {
            g_prefix_error(err, "%s: ", d->qom_path);
            return NULL;
        }
        snapshot_state_add_record(body, "device", d->klass->name, d->qom_path, dev->data,
                                  dev->len);
    }
    return snapshot_state_finish(g_steal_pointer(&body));
}

GBytes *migration_save_state(Machine *m, GError **err)
{
    SnapshotInfo info;

    return save_state(m, &info, err);
}

static bool page_is_zero(const uint8_t *p)
{
    static const uint8_t zero[GUEST_PAGE_SIZE];

    return !memcmp(p, zero, sizeof(zero));
}

/*
 * The RAM image, leaving pages of zeros as holes: an idle guest's untouched
 * RAM costs neither disk nor write time, and reads back as zeros. Pages the
 * guest never touched are known from the page tables without reading them
 * (guest_ram_unpopulated); the others are compared with zeros.
 */
static bool write_ram(int fd, const GuestRam *ram, uint64_t len)
{
    enum { CHUNK = 4096 };
    const uint8_t *base = ram->mapping;
    g_autofree bool *never = g_new(bool, CHUNK);
    uint64_t run = 0, pos = 0;
    int pagemap = guest_ram_pagemap_open(ram);
    bool ok = true;

    while (pos < len) {
        size_t n = (size_t)MIN((uint64_t)CHUNK, (len - pos) / GUEST_PAGE_SIZE);
        bool known;

        if (n == 0) {
            break;              /* a partial last page: written whole below */
        }
        known = guest_ram_unpopulated(ram, pagemap, pos, n, never);

        for (size_t i = 0; ok && i < n; i++, pos += GUEST_PAGE_SIZE) {
            if (!(known && never[i]) && !page_is_zero(base + pos)) {
                continue;
            }
            ok = pos <= run || fd_pwrite_all(fd, base + run, pos - run,
                                             (off_t)(SNAPSHOT_MEMORY_HEADER_LEN + run));
            run = pos + GUEST_PAGE_SIZE;
        }
        if (!ok) {
            break;
        }
    }
    if (pagemap >= 0) {
        close(pagemap);
    }
    if (!ok || (len > run && !fd_pwrite_all(fd, base + run, len - run,
                                            (off_t)(SNAPSHOT_MEMORY_HEADER_LEN + run)))) {
        return false;
    }
    return ftruncate(fd, (off_t)(SNAPSHOT_MEMORY_HEADER_LEN + len)) == 0;
}

static bool write_memory(Machine *m, const SnapshotInfo *info, const char *path,
                         GError **err)
{
    uint8_t hdr[SNAPSHOT_MEMORY_HEADER_LEN];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok;

    if (fd < 0) {
        set_error(err, "%s: %s", path, g_strerror(errno));
        return false;
    }
    snapshot_memory_header(info, hdr);
    ok = fd_pwrite_all(fd, hdr, sizeof(hdr), 0) && write_ram(fd, &m->ram, info->memory_len);
    if (!ok) {
        set_error(err, "%s: %s", path, g_strerror(errno));
    }
    close(fd);
    return ok;
}

/*
 * Written under temporary names and renamed: a VM restored from this
 * directory keeps the old memory file mapped (the rename leaves its inode
 * alone), and a failed snapshot leaves the previous one whole.
 */
static bool write_files(Machine *m, const char *dir, GError **err)
{
    g_autofree char *mem = g_build_filename(dir, "memory", NULL);
    g_autofree char *mem_tmp = g_build_filename(dir, "memory.tmp", NULL);
    g_autofree char *state = g_build_filename(dir, "state", NULL);
    g_autoptr(GBytes) bytes = NULL;
    SnapshotInfo info;
    gsize len;
    const void *data;

    bytes = save_state(m, &info, err);
    if (!bytes) {
        return false;
    }
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        set_error(err, "cannot create %s: %s", dir, g_strerror(errno));
        return false;
    }
    if (!write_memory(m, &info, mem_tmp, err)) {
        unlink(mem_tmp);
        return false;
    }
    if (rename(mem_tmp, mem) < 0) {
        set_error(err, "%s: %s", mem, g_strerror(errno));
        unlink(mem_tmp);
        return false;
    }
    data = g_bytes_get_data(bytes, &len);
    return g_file_set_contents(state, data, (gssize)len, err);
}

void migration_drain_block_io(Machine *m)
{
    GPtrArray *nodes = block_registry_list(m->block_nodes);

    for (guint i = 0; nodes && i < nodes->len; i++) {
        block_drain(g_ptr_array_index(nodes, i));
    }
}

bool migration_snapshot_save(Machine *m, const char *dir, GError **err)
{
    MigrationState *ms = m->migration;
    bool was_running = m->runstate == RUN_STATE_RUNNING;

    for (guint i = 0; i < m->devices->len; i++) {
        if (!device_migratable(g_ptr_array_index(m->devices, i), err)) {
            return false;
        }
    }
    if (!migration_set_status(ms, MIGRATION_STATUS_ACTIVE, err)) {
        return false;
    }
    ms->start_us = g_get_monotonic_time();
    if (was_running && !machine_pause(m, err)) {
        migration_set_status(ms, MIGRATION_STATUS_FAILED, NULL);
        return false;
    }
    migration_drain_block_io(m);
    if (!write_files(m, dir, err)) {
        log_error("snapshot to %s failed: %s", dir, (*err)->message);
        migration_set_status(ms, MIGRATION_STATUS_FAILED, NULL);
        if (was_running) {
            machine_resume(m, NULL);
        }
        return false;
    }
    ms->total_ms = (g_get_monotonic_time() - ms->start_us) / 1000;
    migration_set_status(ms, MIGRATION_STATUS_COMPLETED, NULL);
    log_info("snapshot written to %s in %" G_GINT64_FORMAT " ms", dir, ms->total_ms);
    return true;
}

/* ---- restoring ---- */

static bool load_state(Machine *m, const SnapshotImage *img, GError **err);

bool migration_load_state(Machine *m, const SnapshotImage *img, GError **err)
{
    const SnapshotInfo *info = &img->info;

    if (info->machine_len != strlen(m->machine_class->name) ||
        memcmp(info->machine, m->machine_class->name, info->machine_len) ||
        info->mem_size != m->cfg->mem_size) {
        set_error(err, "the state is of another machine");
        return false;
    }
    return load_state(m, img, err);
}

bool migration_incoming_open(Machine *m, GError **err)
{
    MigrationState *ms = m->migration;
    const StratusConfig *cfg = m->cfg;
    g_autofree char *path = g_build_filename(cfg->incoming, "state", NULL);
    g_autofree char *contents = NULL;
    gsize len;
    GBytes *bytes;
    SnapshotInfo *info;

    ms->restore_start_us = g_get_monotonic_time();
    if (!g_file_get_contents(path, &contents, &len, err)) {
        return false;
    }
    bytes = g_bytes_new_take(g_steal_pointer(&contents), len);
    ms->incoming = snapshot_state_parse(bytes, err);
    g_bytes_unref(bytes);
    if (!ms->incoming) {
        g_prefix_error(err, "%s: ", path);
        return false;
    }
    info = &ms->incoming->info;
    if (info->machine_len != strlen(m->machine_class->name) ||
        memcmp(info->machine, m->machine_class->name, info->machine_len)) {
        set_error(err, "%s: the snapshot is of machine type '%.*s', not %s", path,
                  info->machine_len, info->machine, m->machine_class->name);
        return false;
    }
    if (info->ncpus != cfg->smp.cpus) {
        set_error(err, "%s: the snapshot has %u vCPUs, -smp asks for %u", path, info->ncpus,
                  cfg->smp.cpus);
        return false;
    }
    if (info->mem_size != cfg->mem_size) {
        set_error(err, "%s: the snapshot has %" G_GUINT64_FORMAT " MiB of RAM, -m asks for %"
                  G_GUINT64_FORMAT " MiB", path, info->mem_size >> 20, cfg->mem_size >> 20);
        return false;
    }
    ms->incoming_dir = g_strdup(cfg->incoming);
    ms->restore_files_us = g_get_monotonic_time() - ms->restore_start_us;
    return true;
}

static bool ram_matches(const GuestRam *ram, const SnapshotInfo *info)
{
    if (ram->blocks->len != info->nram || ram->mapping_size != info->memory_len) {
        return false;
    }
    for (guint i = 0; i < ram->blocks->len; i++) {
        const RamBlock *b = &g_array_index(ram->blocks, RamBlock, i);
        if (b->gpa != info->ram[i].gpa || b->size != info->ram[i].size) {
            return false;
        }
    }
    return true;
}

static bool read_range(int fd, uint8_t *p, size_t left, off_t at, GError **err)
{
    while (left) {
        ssize_t n = pread(fd, p, MIN(left, (size_t)1 << 30), at);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            set_error(err, "%s", n ? g_strerror(errno) : "truncated");
            return false;
        }
        p += n;
        left -= (size_t)n;
        at += n;
    }
    return true;
}

/*
 * Only the image's data is read: its holes are pages of zeros (write_ram),
 * and the fresh RAM reads zeros there already, so reading them would only
 * fault in host memory the guest never used.
 */
static bool read_ram(int fd, GuestRam *ram, GError **err)
{
    const off_t start = SNAPSHOT_MEMORY_HEADER_LEN;
    const off_t end = start + (off_t)ram->mapping_size;
    off_t pos = start;

    while (pos < end) {
        off_t data = lseek(fd, pos, SEEK_DATA), hole;

        if (data < 0 && errno == ENXIO) {
            return true;                     /* only holes from pos on */
        }
        if (data < 0) {
            /* No SEEK_DATA on this file system: read everything. */
            return read_range(fd, (uint8_t *)ram->mapping + (pos - start),
                              (size_t)(end - pos), pos, err);
        }
        if (data >= end) {
            return true;
        }
        hole = lseek(fd, data, SEEK_HOLE);
        hole = hole < 0 || hole > end ? end : hole;
        if (!read_range(fd, (uint8_t *)ram->mapping + (data - start), (size_t)(hole - data),
                        data, err)) {
            return false;
        }
        pos = hole;
    }
    return true;
}

static bool load_memory(Machine *m, int fd, GError **err)
{
    const SnapshotInfo *info = &m->migration->incoming->info;
    uint8_t hdr[SNAPSHOT_MEMORY_HEADER_LEN];
    ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
    struct stat st;

    if (n < 0 || fstat(fd, &st) < 0) {
        set_error(err, "%s", g_strerror(errno));
        return false;
    }
    if (!snapshot_memory_check(info, hdr, (size_t)n, err)) {
        return false;
    }
    if ((uint64_t)st.st_size != SNAPSHOT_MEMORY_HEADER_LEN + info->memory_len) {
        set_error(err, "%s (%" G_GUINT64_FORMAT " bytes, expected %" G_GUINT64_FORMAT ")",
                  (uint64_t)st.st_size < SNAPSHOT_MEMORY_HEADER_LEN + info->memory_len ?
                  "truncated" : "corrupt", (uint64_t)st.st_size,
                  SNAPSHOT_MEMORY_HEADER_LEN + info->memory_len);
        return false;
    }
    if (!ram_matches(&m->ram, info)) {
        set_error(err, "the RAM layout differs from this machine's");
        return false;
    }
    /* A shared RAM must stay shared: a private mapping would hide the guest's writes. */
    if (m->cfg->incoming_mapped && !m->ram.shared) {
        return guest_ram_map_file(&m->ram, fd, SNAPSHOT_MEMORY_HEADER_LEN, err);
    }
    return read_ram(fd, &m->ram, err);
}

bool migration_incoming_ram(Machine *m, GError **err)
{
    g_autofree char *path = g_build_filename(m->migration->incoming_dir, "memory", NULL);
    int64_t start = g_get_monotonic_time();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool ok;

    if (fd < 0) {
        set_error(err, "%s: %s", path, g_strerror(errno));
        return false;
    }
    ok = load_memory(m, fd, err);
    close(fd);      /* a mapping keeps the file */
    if (!ok) {
        g_prefix_error(err, "%s: ", path);
    }
    m->migration->restore_files_us += g_get_monotonic_time() - start;
    return ok;
}

static bool check_devices(Machine *m, const SnapshotImage *img, GError **err)
{
    for (guint i = 0; i < MAX(m->devices->len, img->info.ndevices); i++) {
        Device *d = i < m->devices->len ? g_ptr_array_index(m->devices, i) : NULL;
        const SnapshotDevice *s = i < img->info.ndevices ? &img->devices[i] : NULL;

        if (!d || !s || strcmp(d->klass->name, s->type) || strcmp(d->qom_path, s->path)) {
            set_error(err, "the devices differ from the snapshot's: it has %s%s%s where "
                      "this command line has %s%s%s", s ? s->type : "no device",
                      s ? " at " : "", s ? s->path : "", d ? d->klass->name : "no device",
                      d ? " at " : "", d ? d->qom_path : "");
            return false;
        }
    }
    return true;
}

static bool load_cpus(Machine *m, const SnapshotImage *img, GError **err)
{
    const AccelOps *ops = m->accel_ops;

    if (m->vcpus->len != img->info.ncpus) {
        set_error(err, "the snapshot has %u vCPUs, this machine %u", img->info.ncpus,
                  m->vcpus->len);
        return false;
    }
    if (!ops->vcpu_set_state && img->info.ncpus) {
        set_error(err, "the %s accelerator cannot load vCPU state", ops->name);
        return false;
    }
    if (ops->vm_set_state && !ops->vm_set_state(m, &img->vm, err)) {
        return false;
    }
    for (uint32_t i = 0; i < img->info.ncpus; i++) {
        if (!ops->vcpu_set_state(g_ptr_array_index(m->vcpus, i), &img->cpus[i], err)) {
            return false;
        }
    }
    return true;
}

static bool load_state(Machine *m, const SnapshotImage *img, GError **err)
{
    const MachineClass *mc = m->machine_class;

    if (!check_devices(m, img, err)) {
        return false;
    }
    if (strcmp(img->board, mc->name)) {
        set_error(err, "the board state is a %s's", img->board);
        return false;
    }
    if (mc->load_state) {
        if (!mc->load_state(m, img->board_data, img->board_len, err)) {
            return false;
        }
    } else if (img->board_len) {
        set_error(err, "%s: the board has no saved state", mc->name);
        return false;
    }
    for (uint32_t i = 0; i < img->info.ndevices; i++) {
        Device *d = g_ptr_array_index(m->devices, i);
        if (!device_load_state(d, img->devices[i].data, img->devices[i].len, err)) {
            g_prefix_error(err, "%s: ", d->qom_path);
            return false;
        }
    }
    return load_cpus(m, img, err);
}

bool migration_incoming_state(Machine *m, GError **err)
{
    MigrationState *ms = m->migration;
    g_autofree char *path = g_build_filename(ms->incoming_dir, "state", NULL);
    int64_t start = g_get_monotonic_time();

    /* StratoVirt's realize sets "setup"; restoring then goes active -> completed. */
    migration_set_status(ms, MIGRATION_STATUS_SETUP, NULL);
    migration_set_status(ms, MIGRATION_STATUS_ACTIVE, NULL);
    if (!load_state(m, ms->incoming, err)) {
        g_prefix_error(err, "%s: ", path);
        migration_set_status(ms, MIGRATION_STATUS_FAILED, NULL);
        return false;
    }
    snapshot_image_free(ms->incoming);
    ms->incoming = NULL;
    ms->total_ms = (g_get_monotonic_time() - start) / 1000;
    ms->restore_files_us += g_get_monotonic_time() - start;
    migration_set_status(ms, MIGRATION_STATUS_COMPLETED, NULL);
    log_info("restored from %s", ms->incoming_dir);
    return true;
}

/*
 * The restore-to-running figure scripts/bench/migrate reads: from opening
 * the state file to the vCPUs' start, so it includes building the board
 * (as a restore must) but not the process's own start-up.
 */
void migration_incoming_report(Machine *m, bool running)
{
    const MigrationState *ms = m->migration;

    if (!m->cfg->incoming) {
        return;
    }
    log_info("restore: %" G_GINT64_FORMAT " us from opening the snapshot to the vCPUs %s "
             "(%" G_GINT64_FORMAT " us in the snapshot files, mapped=%s)",
             g_get_monotonic_time() - ms->restore_start_us, running ? "running" : "frozen (-S)",
             ms->restore_files_us, m->cfg->incoming_mapped ? "on" : "off");
}
