/*
 * Block backends: their options (from -drive), open/probe/lock/close, the
 * backend's properties and query-block info, and the node-name registry.
 * Requests (submission, bounce buffers, completions, the synchronous
 * operations) are block-io.c; the I/O engines are aio-*.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <glib-unix.h>

#include "block/block-internal.h"
#include "util/log.h"
#include "util/strutil.h"

#define BLOCK_MAX_PROBE_ALIGN 4096

const char *block_aio_name(BlockAioMode mode)
{
    switch (mode) {
    case BLOCK_AIO_OFF: return "off";
    case BLOCK_AIO_THREADS: return "threads";
    case BLOCK_AIO_NATIVE: return "native";
    case BLOCK_AIO_IO_URING: return "io_uring";
    default: return "default";
    }
}

bool block_aio_parse(const char *str, BlockAioMode *mode)
{
    static const struct { const char *name; BlockAioMode mode; } names[] = {
        { "off", BLOCK_AIO_OFF }, { "threads", BLOCK_AIO_THREADS },
        { "native", BLOCK_AIO_NATIVE }, { "io_uring", BLOCK_AIO_IO_URING },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (g_strcmp0(str, names[i].name) == 0) {
            *mode = names[i].mode;
            return true;
        }
    }
    return false;
}

void block_options_init(BlockOptions *o)
{
    memset(o, 0, sizeof(*o));
    o->direct = true;
    o->discard = true;
    o->aio = BLOCK_AIO_DEFAULT;
}

static bool drive_bool(const OptList *l, const char *key, const char *id, bool *out,
                       GError **err)
{
    const char *v = optlist_get(l, key);

    if (v && !parse_bool(v, out)) {
        set_error(err, "Invalid value '%s' for '%s' of drive '%s': expected on|off", v, key,
                  id ? id : "");
        return false;
    }
    return true;
}

bool block_options_from_drive(const OptList *l, BlockOptions *o, GError **err)
{
    static const char *const allowed[] = {
        "id", "file", "if", "unit", "readonly", "direct", "throttling.iops-total", "aio",
        "media", "discard", "detect-zeroes", "format", "l2-cache-size",
        "refcount-cache-size", "bootindex", NULL,
    };
    const char *v;

    block_options_init(o);
    if (!optlist_check_keys(l, allowed, "-drive", err)) {
        return false;
    }
    o->node_name = optlist_get(l, "id");
    o->filename = optlist_get(l, "file");
    if (!o->node_name || !*o->node_name) {
        set_error(err, "Invalid -drive: 'id' is missing");
        return false;
    }
    if (strlen(o->node_name) > MAX_STRING_LENGTH) {
        set_error(err, "Drive id '%s' is longer than %d characters", o->node_name,
                  MAX_STRING_LENGTH);
        return false;
    }
    if (!o->filename || !*o->filename) {
        set_error(err, "Invalid -drive '%s': 'file' is missing", o->node_name);
        return false;
    }
    if (strlen(o->filename) > MAX_PATH_LENGTH) {
        set_error(err, "Drive '%s': file path is longer than %d characters", o->node_name,
                  MAX_PATH_LENGTH);
        return false;
    }
    v = optlist_get(l, "if");
    if (v && strcmp(v, "none") != 0) {
        set_error(err, "Drive '%s': if=%s is not supported on this machine", o->node_name, v);
        return false;
    }
    if (!drive_bool(l, "readonly", o->node_name, &o->read_only, err) ||
        !drive_bool(l, "direct", o->node_name, &o->direct, err)) {
        return false;
    }
    v = optlist_get(l, "aio");
    if (v && !block_aio_parse(v, &o->aio)) {
        set_error(err, "Invalid aio '%s' for drive '%s': expected native, io_uring, threads "
                  "or off", v, o->node_name);
        return false;
    }
    v = optlist_get(l, "discard");
    if (v) {
        if (!strcmp(v, "unmap") || !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
            o->discard = true;
        } else if (!strcmp(v, "ignore") || !strcmp(v, "off") || !strcmp(v, "false") ||
                   !strcmp(v, "no")) {
            o->discard = false;
        } else {
            set_error(err, "Invalid discard '%s' for drive '%s': expected unmap or ignore", v,
                      o->node_name);
            return false;
        }
    }
    v = optlist_get(l, "media");
    if (v && strcmp(v, "disk") != 0 && strcmp(v, "cdrom") != 0) {
        set_error(err, "Invalid media '%s' for drive '%s'", v, o->node_name);
        return false;
    }
    o->format = optlist_get(l, "format");
    if (optlist_get(l, "throttling.iops-total")) {
        log_warn("drive '%s': throttling.iops-total is not implemented, ignored", o->node_name);
    }
    return true;
}

/* ---- open / close ---- */

static const BlockEngine *engine_for(BlockAioMode mode)
{
    switch (mode) {
    case BLOCK_AIO_THREADS: return &block_engine_threads;
    case BLOCK_AIO_NATIVE: return &block_engine_native;
    case BLOCK_AIO_IO_URING: return &block_engine_uring;
    default: return &block_engine_sync;
    }
}

/* The smallest O_DIRECT read size that works at offset 0 (files only). */
static uint32_t probe_direct_align(int fd, const struct stat *st)
{
    void *buf;
    uint32_t found = 0;

    if (posix_memalign(&buf, BLOCK_MAX_PROBE_ALIGN, BLOCK_MAX_PROBE_ALIGN)) {
        return BLOCK_MAX_PROBE_ALIGN;
    }
    for (uint32_t a = 512; a <= BLOCK_MAX_PROBE_ALIGN; a *= 2) {
        ssize_t r = pread(fd, buf, a, 0);
        if (r > 0) {
            found = a;
            break;
        }
        if (r == 0) {
            break;   /* empty file: nothing to learn */
        }
    }
    free(buf);
    if (!found) {
        found = st->st_blksize >= 512 && st->st_blksize <= BLOCK_MAX_PROBE_ALIGN &&
                !(st->st_blksize & (st->st_blksize - 1)) ? st->st_blksize : BLOCK_MAX_PROBE_ALIGN;
        found = MAX(found, BLOCK_MAX_PROBE_ALIGN);
    }
    return found;
}

static void backend_close(BlockBackend *bb)
{
    if (bb->src) {
        g_source_destroy(bb->src);
        g_source_unref(bb->src);
    }
    if (bb->helper) {
        g_thread_pool_free(bb->helper, FALSE, TRUE);
    }
    if (bb->engine && bb->engine_state) {
        bb->engine->cleanup(bb);
    }
    if (bb->fd >= 0) {
        close(bb->fd);   /* also releases the OFD lock */
    }
    if (bb->efd >= 0) {
        close(bb->efd);
    }
    g_mutex_clear(&bb->done_lock);
    if (bb->ctx) {
        g_main_context_unref(bb->ctx);
    }
    g_free(bb->owner);
    g_free(bb->node_name);
    g_free(bb->filename);
    g_free(bb);
}

/* StratoVirt's default engine: native when direct, else synchronous. */
static BlockAioMode resolve_aio(const BlockOptions *o)
{
    if (o->aio != BLOCK_AIO_DEFAULT) {
        return o->aio;
    }
    return o->direct ? BLOCK_AIO_NATIVE : BLOCK_AIO_OFF;
}

BlockBackend *block_open(const BlockOptions *o, GMainContext *ctx, GError **err)
{
    BlockBackend *bb;
    struct stat st;
    int flags;

    if (!o->filename || !*o->filename) {
        set_error(err, "Block device '%s' has no file name", o->node_name ? o->node_name : "");
        return NULL;
    }
    if (o->format && strcmp(o->format, "raw") != 0) {
        set_error(err, "format '%s' is not supported yet", o->format);
        return NULL;
    }
    bb = g_new0(BlockBackend, 1);
    bb->refcnt = 1;
    bb->fd = -1;
    bb->efd = -1;
    g_mutex_init(&bb->done_lock);
    g_queue_init(&bb->done);
    g_queue_init(&bb->pending);
    bb->node_name = g_strdup(o->node_name ? o->node_name : "");
    bb->filename = g_strdup(o->filename);
    bb->read_only = o->read_only;
    bb->direct = o->direct;
    bb->no_flush = o->no_flush;
    bb->discard_opt = o->discard;
    bb->aio = resolve_aio(o);
    bb->sandbox = o->sandbox;
    bb->engine = engine_for(bb->aio);

    /*
     * O_NONBLOCK: a FIFO (or a device that waits for a carrier) must not hang
     * start-up or the main loop in open(); the type check below refuses it,
     * and the flag is cleared for the files that pass.
     */
    flags = (o->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
            (o->direct ? O_DIRECT : 0);
    bb->fd = open(o->filename, flags);
    if (bb->fd < 0 && stat(o->filename, &st) == 0 &&
        !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        /* What open() refused (a directory, O_DIRECT on a FIFO) is no image either. */
        goto not_an_image;
    }
    if (bb->fd < 0 && errno == EINVAL && o->direct) {
        set_error(err, "Failed to open block file '%s' with direct=on: its file system does not "
                  "support O_DIRECT (use direct=off)", o->filename);
        goto fail;
    }
    if (bb->fd < 0) {
        set_error(err, "Failed to open block file '%s': %s", o->filename, g_strerror(errno));
        goto fail;
    }
    if (fstat(bb->fd, &st) < 0) {
        set_error(err, "Failed to stat block file '%s': %s", o->filename, g_strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
not_an_image:
        set_error(err, "Block file '%s' is not a regular file or a block device", o->filename);
        goto fail;
    }
    bb->is_blockdev = S_ISBLK(st.st_mode);
    if (fcntl(bb->fd, F_SETFL, fcntl(bb->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        set_error(err, "Failed to open block file '%s': %s", o->filename, g_strerror(errno));
        goto fail;
    }

    if (!o->defer_lock && !block_lock_image(bb, err)) {
        goto fail;
    }

    bb->lbs = 512;
    if (bb->is_blockdev) {
        int ssz = 0;
        if (ioctl(bb->fd, BLKGETSIZE64, &bb->size) < 0) {
            set_error(err, "Failed to get the size of '%s': %s", o->filename, g_strerror(errno));
            goto fail;
        }
        if (ioctl(bb->fd, BLKSSZGET, &ssz) == 0 && ssz >= 512 && !(ssz & (ssz - 1))) {
            bb->lbs = ssz;
        }
        bb->align = o->direct ? bb->lbs : 1;
        bb->can_discard = !o->read_only && o->discard;
    } else {
        bb->size = st.st_size;
        bb->align = o->direct ? probe_direct_align(bb->fd, &st) : 1;
        if (!o->read_only && o->discard) {
            /* Punching a hole beyond EOF changes nothing but tells us if it works. */
            bb->can_discard = fallocate(bb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                        bb->size, 1) == 0;
        }
    }

    bb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (bb->efd < 0) {
        set_error(err, "eventfd: %s", g_strerror(errno));
        goto fail;
    }
    if (!bb->engine->init(bb, err)) {
        g_prefix_error(err, "Block file '%s' (aio=%s): ", o->filename, block_aio_name(bb->aio));
        goto fail;
    }
    bb->ctx = g_main_context_ref(ctx ? ctx : g_main_context_default());
    bb->src = g_unix_fd_source_new(bb->efd, G_IO_IN);
    g_source_set_callback(bb->src, G_SOURCE_FUNC(block_on_completion), bb, NULL);
    g_source_attach(bb->src, bb->ctx);
    log_info("block: opened '%s' as '%s' (%" G_GUINT64_FORMAT " bytes, %s, direct=%s, aio=%s, "
             "align %u)", bb->filename, bb->node_name, bb->size,
             bb->read_only ? "read-only" : "read-write", bb->direct ? "on" : "off",
             block_aio_name(bb->aio), bb->align);
    return bb;

fail:
    backend_close(bb);
    return NULL;
}

BlockBackend *block_ref(BlockBackend *bb)
{
    bb->refcnt++;
    return bb;
}

void block_unref(BlockBackend *bb)
{
    if (!bb) {
        return;
    }
    g_assert(bb->refcnt > 0);
    if (bb->refcnt == 1) {
        /* Keep it alive while draining: drain takes temporary references. */
        bb->refcnt++;
        block_drain(bb);
        bb->refcnt--;
    }
    if (--bb->refcnt == 0) {
        backend_close(bb);
    }
}

const char *block_node_name(const BlockBackend *bb) { return bb->node_name; }
bool block_lock_image(BlockBackend *bb, GError **err)
{
    struct flock fl = {
        .l_type = bb->read_only ? F_RDLCK : F_WRLCK,
        .l_whence = SEEK_SET,
    };

    if (fcntl(bb->fd, F_OFD_SETLK, &fl) < 0) {
        if (errno == EAGAIN || errno == EACCES) {
            set_error(err, "Failed to lock image file '%s': another process holds it",
                      bb->filename);
            return false;
        }
        log_warn("cannot lock image file '%s' (%s); continuing unlocked", bb->filename,
                 g_strerror(errno));
    }
    return true;
}

void block_unlock_image(BlockBackend *bb)
{
    struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

    if (fcntl(bb->fd, F_OFD_SETLK, &fl) < 0) {
        log_warn("cannot unlock image file '%s': %s", bb->filename, g_strerror(errno));
    }
}

const char *block_filename(const BlockBackend *bb) { return bb->filename; }
uint64_t block_size(const BlockBackend *bb) { return bb->size; }
bool block_is_read_only(const BlockBackend *bb) { return bb->read_only; }
bool block_is_direct(const BlockBackend *bb) { return bb->direct; }
bool block_no_flush(const BlockBackend *bb) { return bb->no_flush; }
BlockAioMode block_aio_mode(const BlockBackend *bb) { return bb->aio; }

static unsigned aio_seccomp_needs(BlockAioMode aio)
{
    return aio == BLOCK_AIO_IO_URING ? SECCOMP_NEED_IO_URING : 0;
}

unsigned block_seccomp_needs(const BlockBackend *bb) { return aio_seccomp_needs(bb->aio); }

unsigned block_options_seccomp_needs(const BlockOptions *o)
{
    return aio_seccomp_needs(resolve_aio(o));
}
uint32_t block_logical_block_size(const BlockBackend *bb) { return bb->lbs; }
bool block_can_discard(const BlockBackend *bb) { return bb->can_discard; }
bool block_can_write_zeroes(const BlockBackend *bb) { return !bb->read_only; }
const char *block_owner(const BlockBackend *bb) { return bb->owner; }

bool block_attach(BlockBackend *bb, const char *owner, GError **err)
{
    if (bb->owner) {
        set_error(err, "Drive '%s' is already in use by '%s'", bb->node_name, bb->owner);
        return false;
    }
    bb->owner = g_strdup(owner ? owner : "");
    return true;
}

void block_detach(BlockBackend *bb)
{
    g_clear_pointer(&bb->owner, g_free);
}

JsonNode *block_query_device_info(const BlockBackend *bb)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    struct stat st;
    int64_t actual = 0;

    if (fstat(bb->fd, &st) == 0) {
        actual = (int64_t)st.st_blocks * 512;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "file");
    json_builder_add_string_value(b, bb->filename);
    json_builder_set_member_name(b, "node-name");
    json_builder_add_string_value(b, bb->node_name);
    json_builder_set_member_name(b, "ro");
    json_builder_add_boolean_value(b, bb->read_only);
    json_builder_set_member_name(b, "drv");
    json_builder_add_string_value(b, "raw");
    json_builder_set_member_name(b, "backing_file_depth");
    json_builder_add_int_value(b, 0);
    json_builder_set_member_name(b, "encrypted");
    json_builder_add_boolean_value(b, false);
    json_builder_set_member_name(b, "detect_zeroes");
    json_builder_add_string_value(b, "off");
    static const char *const zero_keys[] = { "bps", "bps_rd", "bps_wr", "iops", "iops_rd",
                                             "iops_wr" };
    for (size_t i = 0; i < G_N_ELEMENTS(zero_keys); i++) {
        json_builder_set_member_name(b, zero_keys[i]);
        json_builder_add_int_value(b, 0);
    }
    json_builder_set_member_name(b, "image");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "filename");
    json_builder_add_string_value(b, bb->filename);
    json_builder_set_member_name(b, "format");
    json_builder_add_string_value(b, "raw");
    json_builder_set_member_name(b, "virtual-size");
    json_builder_add_int_value(b, (int64_t)bb->size);
    json_builder_set_member_name(b, "actual-size");
    json_builder_add_int_value(b, actual);
    json_builder_set_member_name(b, "dirty-flag");
    json_builder_add_boolean_value(b, false);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "cache");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "writeback");
    json_builder_add_boolean_value(b, true);
    json_builder_set_member_name(b, "direct");
    json_builder_add_boolean_value(b, bb->direct);
    json_builder_set_member_name(b, "no-flush");
    json_builder_add_boolean_value(b, bb->no_flush);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "write_threshold");
    json_builder_add_int_value(b, 0);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* ---- registry ---- */

struct BlockRegistry {
    GPtrArray *nodes;
};

BlockRegistry *block_registry_new(void)
{
    BlockRegistry *r = g_new0(BlockRegistry, 1);
    r->nodes = g_ptr_array_new_with_free_func((GDestroyNotify)block_unref);
    return r;
}

void block_registry_free(BlockRegistry *r)
{
    if (r) {
        g_ptr_array_free(r->nodes, TRUE);
        g_free(r);
    }
}

BlockBackend *block_registry_find(BlockRegistry *r, const char *node_name)
{
    for (guint i = 0; node_name && i < r->nodes->len; i++) {
        BlockBackend *bb = g_ptr_array_index(r->nodes, i);
        if (strcmp(bb->node_name, node_name) == 0) {
            return bb;
        }
    }
    return NULL;
}

bool block_registry_add(BlockRegistry *r, BlockBackend *bb, GError **err)
{
    if (block_registry_find(r, bb->node_name)) {
        set_error(err, "Drive %s has been added", bb->node_name);
        return false;
    }
    g_ptr_array_add(r->nodes, block_ref(bb));
    return true;
}

bool block_registry_remove(BlockRegistry *r, const char *node_name)
{
    BlockBackend *bb = block_registry_find(r, node_name);

    return bb && g_ptr_array_remove(r->nodes, bb);
}

GPtrArray *block_registry_list(BlockRegistry *r)
{
    return r->nodes;
}

const BlockAcctStats *block_stats(const BlockBackend *bb)
{
    return &bb->stats;
}

static void set_u64(JsonObject *o, const char *name, uint64_t v)
{
    json_object_set_int_member(o, name, (gint64)MIN(v, (uint64_t)G_MAXINT64));
}

/* QEMU 7.2's BlockDeviceStats; nothing is merged, no timed intervals are kept. */
JsonNode *block_query_stats(const BlockBackend *bb)
{
    static const char *const kind[BLOCK_ACCT__MAX] = { "rd", "wr", "flush", "unmap" };
    const BlockAcctStats *st = &bb->stats;
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    for (int t = 0; t < BLOCK_ACCT__MAX; t++) {
        g_autofree char *ops = g_strdup_printf("%s_operations", kind[t]);
        g_autofree char *ns = g_strdup_printf("%s_total_time_ns", kind[t]);
        g_autofree char *failed = g_strdup_printf("failed_%s_operations", kind[t]);
        g_autofree char *invalid = g_strdup_printf("invalid_%s_operations", kind[t]);

        if (t != BLOCK_ACCT_FLUSH) {
            g_autofree char *bytes = g_strdup_printf("%s_bytes", kind[t]);
            g_autofree char *merged = g_strdup_printf("%s_merged", kind[t]);
            set_u64(o, bytes, st->bytes[t]);
            set_u64(o, merged, 0);
        }
        set_u64(o, ops, st->ops[t]);
        set_u64(o, ns, st->total_time_ns[t]);
        set_u64(o, failed, st->failed[t]);
        set_u64(o, invalid, st->invalid[t]);
    }
    set_u64(o, "wr_highest_offset", st->wr_highest_offset);
    if (st->last_done_ns) {
        set_u64(o, "idle_time_ns",
                (uint64_t)MAX(g_get_monotonic_time() * 1000 - st->last_done_ns, 0));
    }
    json_object_set_boolean_member(o, "account_invalid", TRUE);
    json_object_set_boolean_member(o, "account_failed", TRUE);
    json_object_set_array_member(o, "timed_stats", json_array_new());
    json_node_take_object(n, o);
    return n;
}
