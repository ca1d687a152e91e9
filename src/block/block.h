/*
 * The block layer: a BlockBackend is one opened, locked image file (or host
 * block device) plus an I/O engine. Devices submit BlockRequests with iovecs
 * and get their completion callback on the backend's GMainContext (the main
 * loop, where the machine lock is held), never from inside block_submit().
 *
 * Engines (BlockAioMode): a GThreadPool doing preadv/pwritev ("threads"),
 * Linux AIO with an eventfd ("native"), io_uring with a registered eventfd
 * ("io_uring"), and synchronous I/O ("off"). With direct=on (O_DIRECT) the
 * layer bounces requests whose memory, offset or length is not aligned to
 * the image's logical block size; aligned requests go zero-copy.
 *
 * Images are locked with OFD locks (write lock for writable images, read lock
 * for read-only ones) so two VMMs never write the same image.
 *
 * Not thread-safe: every call is made from the main loop thread or with the
 * machine lock held (see machine.h).
 */
#ifndef STRATUS_BLOCK_H
#define STRATUS_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include "os/seccomp.h"

typedef enum {
    BLOCK_AIO_DEFAULT,   /* native when direct, else off (StratoVirt) */
    BLOCK_AIO_OFF,       /* synchronous */
    BLOCK_AIO_THREADS,
    BLOCK_AIO_NATIVE,    /* libaio */
    BLOCK_AIO_IO_URING,
} BlockAioMode;

const char *block_aio_name(BlockAioMode mode);
/* "native" | "io_uring" | "threads" | "off" */
bool block_aio_parse(const char *str, BlockAioMode *mode);

typedef struct BlockOptions {
    const char *node_name;     /* -drive id / blockdev-add node-name (required) */
    const char *filename;      /* required */
    const char *format;        /* NULL or "raw"; anything else is refused */
    bool read_only;
    bool direct;               /* O_DIRECT; -drive default on */
    bool no_flush;             /* flushes complete without fdatasync */
    bool discard;              /* discard=unmap (default) / ignore */
    BlockAioMode aio;
    /* Open without the image lock (-incoming tcp:/unix:): block_lock_image takes it later. */
    bool defer_lock;
    /* The machine's seccomp policy: helper threads narrow themselves to it (NULL: no). */
    const SeccompPolicy *sandbox;
} BlockOptions;

/* StratoVirt's -drive defaults: read-write, direct, aio default, discard on. */
void block_options_init(BlockOptions *o);
/*
 * Fills *o from one -drive option list (strings point into l). Checks keys
 * and values; errors name the drive, e.g. "format 'qcow2' is not supported yet".
 */
bool block_options_from_drive(const OptList *l, BlockOptions *o, GError **err);

/* The optional system calls (SeccompNeeds) a backend opened with o uses. */
unsigned block_options_seccomp_needs(const BlockOptions *o);

typedef struct BlockBackend BlockBackend;

/*
 * Opens, probes (size, logical block size, discard support) and locks the
 * image and starts its engine; completions are dispatched in ctx (NULL =
 * the global default context). The result has one reference.
 * Errors: "Failed to open block file '<f>': <strerror>", "Failed to lock
 * image file '<f>': another process holds it", "format 'qcow2' is not
 * supported yet", "... does not support O_DIRECT ...".
 */
BlockBackend *block_open(const BlockOptions *o, GMainContext *ctx, GError **err);
BlockBackend *block_ref(BlockBackend *bb);
/*
 * The image lock (an OFD lock: write lock, read lock when read-only) is held
 * by exactly one side of a live migration: the source releases it at
 * hand-over, the destination then takes it ("Failed to lock image file
 * '<f>': another process holds it" if it cannot).
 */
bool block_lock_image(BlockBackend *bb, GError **err);
void block_unlock_image(BlockBackend *bb);
/* Drops a reference; the last one drains in-flight requests and closes. */
void block_unref(BlockBackend *bb);

const char *block_node_name(const BlockBackend *bb);
const char *block_filename(const BlockBackend *bb);
uint64_t block_size(const BlockBackend *bb);          /* bytes */
bool block_is_read_only(const BlockBackend *bb);
bool block_is_direct(const BlockBackend *bb);
bool block_no_flush(const BlockBackend *bb);
BlockAioMode block_aio_mode(const BlockBackend *bb);  /* the resolved engine */
unsigned block_seccomp_needs(const BlockBackend *bb);  /* SeccompNeeds of that engine */
uint32_t block_logical_block_size(const BlockBackend *bb);   /* 512 or more */
bool block_can_discard(const BlockBackend *bb);        /* punch hole works and discard on */
bool block_can_write_zeroes(const BlockBackend *bb);   /* writable */

/*
 * In-use tracking (blockdev-del refuses attached nodes, a drive cannot back two
 * devices): attach fails with "Drive '<node>' is already in use by '<owner>'".
 */
bool block_attach(BlockBackend *bb, const char *owner, GError **err);
void block_detach(BlockBackend *bb);
const char *block_owner(const BlockBackend *bb);      /* NULL when free */

typedef enum {
    BLOCK_OP_READ,
    BLOCK_OP_WRITE,
    BLOCK_OP_FLUSH,
    BLOCK_OP_DISCARD,        /* offset/len; content afterwards unspecified */
    BLOCK_OP_WRITE_ZEROES,   /* offset/len; reads back as zeroes */
} BlockOp;

typedef struct BlockRequest BlockRequest;
/* ret: 0 on success, -errno on failure (-EROFS, -EINVAL, -EIO, ...). */
typedef void BlockCompletionFunc(BlockRequest *req, int ret);

struct BlockRequest {
    BlockOp op;
    uint64_t offset;         /* bytes */
    uint64_t len;            /* DISCARD/WRITE_ZEROES only; READ/WRITE use the iov total */
    struct iovec *iov;       /* READ/WRITE: must stay valid until the callback */
    int niov;
    bool may_unmap;          /* WRITE_ZEROES: may deallocate (punch hole) */
    BlockCompletionFunc *cb;
    void *opaque;
};

/*
 * Queues the request; cb runs later on the backend's context, exactly once.
 * Writes to a read-only backend complete with -EROFS, requests beyond the end
 * of the image with -EINVAL.
 */
void block_submit(BlockBackend *bb, BlockRequest *req);
/* Runs completions until no request is in flight (blocks the caller). */
void block_drain(BlockBackend *bb);
unsigned block_inflight(const BlockBackend *bb);

/* QMP shapes (qemu-reference §2.8): BlockDeviceInfo and ImageInfo. */
JsonNode *block_query_device_info(const BlockBackend *bb);

/*
 * I/O accounting, QEMU's BlockDeviceStats (query-blockstats): per kind of
 * request (read, write incl. write-zeroes, flush, unmap = discard) the
 * completed operations, their bytes and total time from submission to
 * completion, the ones that failed, and the invalid ones (refused before
 * reaching the file: out of range, bad iovec).
 */
typedef enum { BLOCK_ACCT_READ, BLOCK_ACCT_WRITE, BLOCK_ACCT_FLUSH, BLOCK_ACCT_UNMAP,
               BLOCK_ACCT__MAX } BlockAcctType;
typedef struct BlockAcctStats {
    uint64_t bytes[BLOCK_ACCT__MAX];
    uint64_t ops[BLOCK_ACCT__MAX];
    uint64_t total_time_ns[BLOCK_ACCT__MAX];
    uint64_t failed[BLOCK_ACCT__MAX];
    uint64_t invalid[BLOCK_ACCT__MAX];
    uint64_t wr_highest_offset;
    int64_t last_done_ns;        /* monotonic; 0 until a request completed */
} BlockAcctStats;
const BlockAcctStats *block_stats(const BlockBackend *bb);
/* BlockDeviceStats as JSON, idle_time_ns measured against now. */
JsonNode *block_query_stats(const BlockBackend *bb);

/*
 * A set of named backends (the machine's -drive/blockdev-add nodes), in
 * insertion order. The registry holds one reference on each.
 */
typedef struct BlockRegistry BlockRegistry;
BlockRegistry *block_registry_new(void);
void block_registry_free(BlockRegistry *r);
/* Fails with "Drive <name> has been added" on a duplicate node name. */
bool block_registry_add(BlockRegistry *r, BlockBackend *bb, GError **err);
BlockBackend *block_registry_find(BlockRegistry *r, const char *node_name);
/* Drops the registry's reference; false if unknown. */
bool block_registry_remove(BlockRegistry *r, const char *node_name);
GPtrArray *block_registry_list(BlockRegistry *r);   /* BlockBackend*, borrowed */

#endif
