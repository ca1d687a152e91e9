/*
 * aio=io_uring: one ring per backend with the backend's eventfd registered
 * for completions. Reads, writes and flushes (IORING_OP_FSYNC with
 * IORING_FSYNC_DATASYNC) go through the ring; discard and write-zeroes use
 * the helper thread pool (their fallback chain needs several syscalls).
 */
#include <errno.h>
#include <liburing.h>

#include "block/block-internal.h"
#include "util/log.h"
#include "util/strutil.h"

#define URING_DEPTH 128

typedef struct UringState {
    struct io_uring ring;
    unsigned inflight;
    bool unsubmitted;
} UringState;

static bool uring_init(BlockBackend *bb, GError **err)
{
    UringState *s = g_new0(UringState, 1);
    int r = io_uring_queue_init(URING_DEPTH, &s->ring, 0);

    if (r < 0) {
        set_error(err, "io_uring_queue_init failed: %s", g_strerror(-r));
        g_free(s);
        return false;
    }
    r = io_uring_register_eventfd(&s->ring, bb->efd);
    if (r < 0) {
        set_error(err, "io_uring_register_eventfd failed: %s", g_strerror(-r));
        io_uring_queue_exit(&s->ring);
        g_free(s);
        return false;
    }
    bb->engine_state = s;
    return true;
}

static void uring_cleanup(BlockBackend *bb)
{
    UringState *s = bb->engine_state;

    io_uring_queue_exit(&s->ring);
    g_free(s);
    bb->engine_state = NULL;
}

static void uring_flush_sq(UringState *s)
{
    int r = io_uring_submit(&s->ring);

    s->unsubmitted = r < 0;
    if (r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR) {
        log_error("block: io_uring_submit failed: %s", g_strerror(-r));
    }
}

static int uring_submit(BlockBackend *bb, BlockAiocb *acb)
{
    UringState *s = bb->engine_state;
    struct io_uring_sqe *sqe;
    int ret;

    if (block_submit_offloaded(bb, acb, &ret)) {
        return ret;
    }
    /* The completion queue holds 2 * URING_DEPTH: never overflow it. */
    if (s->inflight >= URING_DEPTH) {
        return -EAGAIN;
    }
    sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        uring_flush_sq(s);
        sqe = io_uring_get_sqe(&s->ring);
        if (!sqe) {
            return -EAGAIN;
        }
    }
    switch (acb->e_op) {
    case BLOCK_OP_READ:
        io_uring_prep_readv(sqe, bb->fd, acb->e_iov, acb->e_niov, acb->e_off);
        break;
    case BLOCK_OP_WRITE:
        io_uring_prep_writev(sqe, bb->fd, acb->e_iov, acb->e_niov, acb->e_off);
        break;
    default:
        io_uring_prep_fsync(sqe, bb->fd, IORING_FSYNC_DATASYNC);
        break;
    }
    io_uring_sqe_set_data(sqe, acb);
    s->inflight++;
    uring_flush_sq(s);
    return 0;
}

static void uring_reap(BlockBackend *bb)
{
    UringState *s = bb->engine_state;
    struct io_uring_cqe *cqe;

    if (s->unsubmitted) {
        uring_flush_sq(s);
    }
    while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
        BlockAiocb *acb = io_uring_cqe_get_data(cqe);
        long res = cqe->res;

        io_uring_cqe_seen(&s->ring, cqe);
        s->inflight--;
        block_engine_done(bb, acb, res);
    }
}

const BlockEngine block_engine_uring = {
    .name = "io_uring",
    .init = uring_init,
    .cleanup = uring_cleanup,
    .submit = uring_submit,
    .reap = uring_reap,
};
