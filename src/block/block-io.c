/*
 * Block requests: submission (in order, queued while the engine is full),
 * bounce buffers for unaligned direct I/O (with read-modify-write), the
 * completion path from any thread back to the main loop and block_drain,
 * and the synchronous operations the sync and thread engines and the
 * helper pool run (read/write, flush, discard, write-zeroes). The backend
 * object itself is block.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>

#include "block/block-internal.h"
#include "util/log.h"

#define BLOCK_BOUNCE_MEM_ALIGN 4096

/* ---- completions ---- */

void block_complete_threadsafe(BlockBackend *bb, BlockAiocb *acb, int ret)
{
    uint64_t one = 1;

    acb->ret = ret;
    g_mutex_lock(&bb->done_lock);
    g_queue_push_tail(&bb->done, acb);
    g_mutex_unlock(&bb->done_lock);
    if (write(bb->efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        log_error("block: eventfd write failed: %s", g_strerror(errno));
    }
}

static void iov_memset(struct iovec *iov, int niov, uint64_t from, int c)
{
    for (int i = 0; i < niov; i++) {
        if (from >= iov[i].iov_len) {
            from -= iov[i].iov_len;
            continue;
        }
        memset((uint8_t *)iov[i].iov_base + from, c, iov[i].iov_len - from);
        from = 0;
    }
}

/* Copies between a flat buffer and an iovec (dir: true = buffer -> iov). */
static void iov_copy(struct iovec *iov, int niov, uint8_t *buf, bool to_iov)
{
    for (int i = 0; i < niov; i++) {
        if (to_iov) {
            memcpy(iov[i].iov_base, buf, iov[i].iov_len);
        } else {
            memcpy(buf, iov[i].iov_base, iov[i].iov_len);
        }
        buf += iov[i].iov_len;
    }
}

static void acb_start(BlockBackend *bb, BlockAiocb *acb);

static void run_pending(BlockBackend *bb)
{
    BlockAiocb *acb;

    while ((acb = g_queue_peek_head(&bb->pending))) {
        int r = bb->engine->submit(bb, acb);
        if (r == -EAGAIN) {
            return;
        }
        g_queue_pop_head(&bb->pending);
        if (r < 0) {
            block_complete_threadsafe(bb, acb, r);
        }
    }
}

static BlockAcctType acct_type(BlockOp op)
{
    switch (op) {
    case BLOCK_OP_READ:
        return BLOCK_ACCT_READ;
    case BLOCK_OP_FLUSH:
        return BLOCK_ACCT_FLUSH;
    case BLOCK_OP_DISCARD:
        return BLOCK_ACCT_UNMAP;
    default:
        return BLOCK_ACCT_WRITE;     /* write, write-zeroes (QEMU's choice) */
    }
}

/* Main loop: QEMU's accounting of one completed request. */
static void acb_account(BlockBackend *bb, const BlockAiocb *acb, int ret)
{
    BlockAcctStats *st = &bb->stats;
    BlockAcctType t = acct_type(acb->req->op);
    int64_t now = g_get_monotonic_time() * 1000;

    st->last_done_ns = now;
    if (acb->acct_invalid) {
        st->invalid[t]++;
        return;
    }
    if (ret < 0) {
        st->failed[t]++;
        return;
    }
    st->ops[t]++;
    st->bytes[t] += acb->acct_len;
    st->total_time_ns[t] += (uint64_t)MAX(now - acb->t_start_ns, 0);
    if (t == BLOCK_ACCT_WRITE) {
        st->wr_highest_offset = MAX(st->wr_highest_offset, acb->req->offset + acb->acct_len);
    }
}

static void acb_finish(BlockBackend *bb, BlockAiocb *acb, int ret)
{
    BlockRequest *req = acb->req;

    acb_account(bb, acb, ret);
    free(acb->bounce);
    g_free(acb);
    bb->inflight--;
    req->cb(req, ret < 0 ? ret : 0);
}

void block_engine_done(BlockBackend *bb, BlockAiocb *acb, long ret)
{
    BlockRequest *req = acb->req;

    if (ret >= 0 && (acb->e_op == BLOCK_OP_READ || acb->e_op == BLOCK_OP_WRITE) &&
        (uint64_t)ret < acb->e_len) {
        if (acb->e_op == BLOCK_OP_READ) {
            /* Short read: the end of the file; the rest reads as zeroes. */
            iov_memset(acb->e_iov, acb->e_niov, ret, 0);
            ret = acb->e_len;
        } else {
            ret = -EIO;
        }
    }
    if (ret < 0) {
        acb_finish(bb, acb, (int)ret);
        return;
    }
    if (acb->rmw) {
        /* The aligned span is read: merge the caller's data and write it. */
        acb->rmw = false;
        iov_copy(req->iov, req->niov, acb->bounce + (req->offset - acb->b_off), false);
        acb->e_op = BLOCK_OP_WRITE;
        acb_start(bb, acb);
        return;
    }
    if (acb->bounce && req->op == BLOCK_OP_READ) {
        iov_copy(req->iov, req->niov, acb->bounce + (req->offset - acb->b_off), true);
    }
    acb_finish(bb, acb, 0);
}

static void process_completions(BlockBackend *bb)
{
    uint64_t v;
    BlockAiocb *acb;

    if (read(bb->efd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        log_error("block: eventfd read failed: %s", g_strerror(errno));
    }
    if (bb->engine->reap) {
        bb->engine->reap(bb);
    }
    for (;;) {
        g_mutex_lock(&bb->done_lock);
        acb = g_queue_pop_head(&bb->done);
        g_mutex_unlock(&bb->done_lock);
        if (!acb) {
            break;
        }
        block_engine_done(bb, acb, acb->ret);
    }
    run_pending(bb);
}

gboolean block_on_completion(gint fd, GIOCondition cond, gpointer opaque)
{
    BlockBackend *bb = block_ref(opaque);

    process_completions(bb);
    block_unref(bb);
    return G_SOURCE_CONTINUE;
}

void block_drain(BlockBackend *bb)
{
    block_ref(bb);
    while (bb->inflight > 0) {
        struct pollfd pfd = { .fd = bb->efd, .events = POLLIN };
        if (poll(&pfd, 1, 1000) < 0 && errno != EINTR) {
            log_error("block: poll failed while draining: %s", g_strerror(errno));
            break;
        }
        process_completions(bb);
    }
    block_unref(bb);
}

unsigned block_inflight(const BlockBackend *bb)
{
    return bb->inflight;
}

/* ---- the synchronous operations ---- */

static int do_rw(int fd, bool write_op, const struct iovec *iov, int niov, uint64_t off,
                 uint64_t len, long *done_out)
{
    struct iovec stackv[8];
    struct iovec *v = niov <= 8 ? stackv : g_new(struct iovec, niov);
    struct iovec *cur = v;
    int n = niov;
    uint64_t done = 0;
    int ret = 0;

    memcpy(v, iov, sizeof(*v) * niov);
    while (done < len && n > 0) {
        ssize_t r = write_op ? pwritev(fd, cur, MIN(n, IOV_MAX), off + done)
                             : preadv(fd, cur, MIN(n, IOV_MAX), off + done);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            break;
        }
        if (r == 0) {
            break;   /* EOF: the caller zero-fills a short read */
        }
        done += r;
        while (n > 0 && (size_t)r >= cur->iov_len) {
            r -= cur->iov_len;
            cur++;
            n--;
        }
        if (n > 0 && r) {
            cur->iov_base = (uint8_t *)cur->iov_base + r;
            cur->iov_len -= r;
        }
    }
    if (v != stackv) {
        g_free(v);
    }
    *done_out = done;
    return ret;
}

static bool errno_unsupported(int e)
{
    return e == EOPNOTSUPP || e == ENOSYS || e == EINVAL || e == ENOTTY;
}

static int do_write_zeroes(BlockBackend *bb, uint64_t off, uint64_t len, bool may_unmap)
{
    if (may_unmap && bb->can_discard &&
        fallocate(bb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0) {
        return 0;
    }
    if (fallocate(bb->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len) == 0) {
        return 0;
    }
    if (!errno_unsupported(errno)) {
        return -errno;
    }
    /* No zeroing primitive: write zeroes. */
    const uint64_t chunk = 1 << 20;
    void *zero;
    int ret = 0;
    if (posix_memalign(&zero, BLOCK_BOUNCE_MEM_ALIGN, chunk)) {
        return -ENOMEM;
    }
    memset(zero, 0, chunk);
    while (len) {
        struct iovec iov = { zero, MIN(len, chunk) };
        long done;
        ret = do_rw(bb->fd, true, &iov, 1, off, iov.iov_len, &done);
        if (ret == 0 && (uint64_t)done < iov.iov_len) {
            ret = -EIO;
        }
        if (ret) {
            break;
        }
        off += iov.iov_len;
        len -= iov.iov_len;
    }
    free(zero);
    return ret;
}

int block_do_sync(BlockBackend *bb, BlockAiocb *acb)
{
    long done = 0;
    int ret;

    switch (acb->e_op) {
    case BLOCK_OP_READ:
    case BLOCK_OP_WRITE:
        ret = do_rw(bb->fd, acb->e_op == BLOCK_OP_WRITE, acb->e_iov, acb->e_niov, acb->e_off,
                    acb->e_len, &done);
        return ret < 0 ? ret : (int)MIN(done, INT_MAX);
    case BLOCK_OP_FLUSH:
        if (bb->no_flush) {
            return 0;
        }
        return fdatasync(bb->fd) < 0 ? -errno : 0;
    case BLOCK_OP_DISCARD:
        if (!bb->can_discard) {
            return 0;   /* a hint: ignoring it is correct */
        }
        if (fallocate(bb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, acb->e_off,
                      acb->e_len) < 0) {
            return errno_unsupported(errno) ? 0 : -errno;
        }
        return 0;
    case BLOCK_OP_WRITE_ZEROES:
        return do_write_zeroes(bb, acb->e_off, acb->e_len, acb->req->may_unmap);
    }
    return -EINVAL;
}

static void helper_thread(gpointer data, gpointer user_data)
{
    BlockAiocb *acb = data;
    BlockBackend *bb = user_data;
    GError *err = NULL;

    /* Once per thread; a failure leaves it with the union filter. */
    if (!seccomp_narrow_thread(bb->sandbox, SECCOMP_THREAD_IO, &err)) {
        log_warn("block: %s", err->message);
        g_error_free(err);
    }
    block_complete_threadsafe(bb, acb, block_do_sync(bb, acb));
}

bool block_submit_offloaded(BlockBackend *bb, BlockAiocb *acb, int *ret)
{
    switch (acb->e_op) {
    case BLOCK_OP_DISCARD:
    case BLOCK_OP_WRITE_ZEROES:
        *ret = block_helper_submit(bb, acb);
        return true;
    case BLOCK_OP_FLUSH:
        if (bb->no_flush) {
            block_complete_threadsafe(bb, acb, 0);
            *ret = 0;
            return true;
        }
        return false;
    default:
        return false;
    }
}

int block_helper_submit(BlockBackend *bb, BlockAiocb *acb)
{
    if (!bb->helper) {
        GError *err = NULL;
        int max = bb->aio == BLOCK_AIO_THREADS ? 16 : 2;
        bb->helper = g_thread_pool_new(helper_thread, bb, max, FALSE, &err);
        if (!bb->helper) {
            log_error("block: cannot create a thread pool: %s", err->message);
            g_error_free(err);
            return -ENOMEM;
        }
    }
    g_thread_pool_push(bb->helper, acb, NULL);
    return 0;
}

/* ---- submission ---- */

static void acb_start(BlockBackend *bb, BlockAiocb *acb)
{
    int r;

    if (!g_queue_is_empty(&bb->pending)) {
        g_queue_push_tail(&bb->pending, acb);   /* keep submission order */
        return;
    }
    r = bb->engine->submit(bb, acb);
    if (r == -EAGAIN) {
        g_queue_push_tail(&bb->pending, acb);
    } else if (r < 0) {
        block_complete_threadsafe(bb, acb, r);
    }
}

static bool request_needs_bounce(const BlockBackend *bb, const BlockRequest *req, uint64_t len)
{
    uint64_t a = bb->align - 1;

    if (req->niov > IOV_MAX) {
        return true;
    }
    if (!a) {
        return false;
    }
    if ((req->offset | len) & a) {
        return true;
    }
    for (int i = 0; i < req->niov; i++) {
        if (((uintptr_t)req->iov[i].iov_base | req->iov[i].iov_len) & a) {
            return true;
        }
    }
    return false;
}

void block_submit(BlockBackend *bb, BlockRequest *req)
{
    BlockAiocb *acb = g_new0(BlockAiocb, 1);
    uint64_t len = 0;
    int err = 0;

    acb->bb = bb;
    acb->req = req;
    acb->e_op = req->op;
    acb->e_off = req->offset;
    bb->inflight++;

    switch (req->op) {
    case BLOCK_OP_READ:
    case BLOCK_OP_WRITE:
        if (req->niov < 0 || (req->niov && !req->iov)) {
            err = -EINVAL;
            break;
        }
        for (int i = 0; i < req->niov; i++) {
            if (len + req->iov[i].iov_len < len) {
                err = -EINVAL;
            }
            len += req->iov[i].iov_len;
        }
        acb->e_len = len;
        acb->e_iov = req->iov;
        acb->e_niov = req->niov;
        break;
    case BLOCK_OP_DISCARD:
    case BLOCK_OP_WRITE_ZEROES:
        len = acb->e_len = req->len;
        break;
    case BLOCK_OP_FLUSH:
        break;
    default:
        err = -EINVAL;
    }
    if (!err && req->op != BLOCK_OP_FLUSH) {
        if (req->offset > bb->size || len > bb->size - req->offset) {
            err = -EINVAL;
        } else if (bb->read_only && req->op != BLOCK_OP_READ) {
            err = -EROFS;
        }
    }
    acb->t_start_ns = g_get_monotonic_time() * 1000;
    acb->acct_len = len;
    acb->acct_invalid = err == -EINVAL;
    if (err || ((req->op == BLOCK_OP_READ || req->op == BLOCK_OP_WRITE ||
                 req->op == BLOCK_OP_DISCARD || req->op == BLOCK_OP_WRITE_ZEROES) && !len)) {
        /* Completions are always asynchronous. */
        block_complete_threadsafe(bb, acb, err);
        return;
    }
    if ((req->op == BLOCK_OP_READ || req->op == BLOCK_OP_WRITE) &&
        request_needs_bounce(bb, req, len)) {
        uint64_t a = bb->align;
        void *buf;

        acb->b_off = req->offset / a * a;
        acb->b_len = (req->offset + len + a - 1) / a * a - acb->b_off;
        if (posix_memalign(&buf, MAX(a, BLOCK_BOUNCE_MEM_ALIGN), acb->b_len)) {
            block_complete_threadsafe(bb, acb, -ENOMEM);
            return;
        }
        acb->bounce = buf;
        acb->biov.iov_base = buf;
        acb->biov.iov_len = acb->b_len;
        acb->e_iov = &acb->biov;
        acb->e_niov = 1;
        acb->e_off = acb->b_off;
        acb->e_len = acb->b_len;
        if (req->op == BLOCK_OP_WRITE) {
            if ((req->offset | len) & (a - 1)) {
                acb->rmw = true;
                acb->e_op = BLOCK_OP_READ;
            } else {
                iov_copy(req->iov, req->niov, acb->bounce, false);
            }
        }
    }
    acb_start(bb, acb);
}
