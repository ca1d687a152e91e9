/* Private to src/block: the backend object and the engine interface. */
#ifndef STRATUS_BLOCK_INTERNAL_H
#define STRATUS_BLOCK_INTERNAL_H

#include "block/block.h"

typedef struct BlockAiocb BlockAiocb;

/*
 * One engine operation. Bounced requests point e_iov at the aligned bounce
 * buffer; otherwise at the caller's iovec.
 */
struct BlockAiocb {
    BlockBackend *bb;
    BlockRequest *req;
    BlockOp e_op;
    uint64_t e_off;
    uint64_t e_len;               /* READ/WRITE: iov total */
    struct iovec *e_iov;
    int e_niov;
    /* bounce state (direct=on, unaligned request) */
    uint8_t *bounce;
    uint64_t b_off, b_len;        /* aligned span */
    struct iovec biov;
    bool rmw;                     /* write: reading the span first */
    int ret;                      /* result set by threads */
    int64_t t_start_ns;           /* accounting: submission time (monotonic) */
    uint64_t acct_len;            /* accounting: the request's bytes */
    bool acct_invalid;            /* accounting: refused before reaching the file */
    void *engine_priv;            /* e.g. struct iocb* */
};

typedef struct BlockEngine {
    const char *name;
    bool (*init)(BlockBackend *bb, GError **err);
    /* Called after block_drain: no request in flight. */
    void (*cleanup)(BlockBackend *bb);
    /*
     * Start one operation. Returns 0, or -EAGAIN when the engine is full (the
     * core queues it and retries after completions). Completions are reported
     * with block_complete_threadsafe() from any thread, or from reap().
     */
    int (*submit)(BlockBackend *bb, BlockAiocb *acb);
    /* Main loop: harvest finished operations, calling block_engine_done(). */
    void (*reap)(BlockBackend *bb);
} BlockEngine;

struct BlockBackend {
    int refcnt;
    char *node_name;
    char *filename;
    bool read_only, direct, no_flush, discard_opt;
    bool is_blockdev;
    BlockAioMode aio;
    const BlockEngine *engine;
    void *engine_state;

    int fd;
    uint64_t size;
    uint32_t lbs;                /* logical block size reported to guests */
    uint32_t align;              /* O_DIRECT offset/length/memory alignment, 1 if buffered */
    bool can_discard;

    char *owner;
    unsigned inflight;
    BlockAcctStats stats;         /* query-blockstats (main loop only) */

    GMainContext *ctx;
    int efd;                     /* completion eventfd (all engines signal it) */
    GSource *src;
    GMutex done_lock;
    GQueue done;                 /* BlockAiocb* completed by threads */
    GQueue pending;              /* BlockAiocb* the engine had no room for */
    GThreadPool *helper;         /* discard/write-zeroes for native/io_uring; all for threads */
    const SeccompPolicy *sandbox; /* the machine's: helper threads narrow to SECCOMP_THREAD_IO */
};

extern const BlockEngine block_engine_sync;
extern const BlockEngine block_engine_threads;
extern const BlockEngine block_engine_native;
extern const BlockEngine block_engine_uring;

/* block-io.c: the synchronous operation (used by sync and the thread pools). */
int block_do_sync(BlockBackend *bb, BlockAiocb *acb);
/* Any thread: acb finished with ret; wakes the main loop. */
void block_complete_threadsafe(BlockBackend *bb, BlockAiocb *acb, int ret);
/* Main loop: acb finished with ret (bytes or -errno). */
void block_engine_done(BlockBackend *bb, BlockAiocb *acb, long ret);
/* Run acb on the backend's helper thread pool (created on first use). */
int block_helper_submit(BlockBackend *bb, BlockAiocb *acb);
/*
 * The part of submission the kernel-queue engines (native, io_uring) share:
 * discard and write-zeroes go to the helper pool (neither interface has
 * fallocate), and a flush with no-flush set completes at once. Returns true
 * when it took the request, with the engine's return value in *ret.
 */
bool block_submit_offloaded(BlockBackend *bb, BlockAiocb *acb, int *ret);
/* block-io.c: the completion eventfd's main-loop callback (opaque: the backend). */
gboolean block_on_completion(gint fd, GIOCondition cond, gpointer opaque);

#endif
