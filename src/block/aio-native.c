/*
 * aio=native: Linux AIO (libaio). Each iocb signals the backend's eventfd
 * (io_set_eventfd); the main loop reaps with a zero-timeout io_getevents.
 * Reads, writes and flushes (IOCB_CMD_FDSYNC) go to the kernel; discard and
 * write-zeroes (fallocate, which AIO lacks) go to the helper thread pool.
 */
#include <errno.h>
#include <libaio.h>
#include <time.h>

#include "block/block-internal.h"
#include "util/log.h"
#include "util/strutil.h"

#define NATIVE_DEPTH 128

typedef struct NativeState {
    io_context_t ctx;
    unsigned inflight;
} NativeState;

static bool native_init(BlockBackend *bb, GError **err)
{
    NativeState *s = g_new0(NativeState, 1);
    int r = io_setup(NATIVE_DEPTH, &s->ctx);

    if (r < 0) {
        set_error(err, "io_setup failed: %s", g_strerror(-r));
        g_free(s);
        return false;
    }
    bb->engine_state = s;
    return true;
}

static void native_cleanup(BlockBackend *bb)
{
    NativeState *s = bb->engine_state;

    io_destroy(s->ctx);
    g_free(s);
    bb->engine_state = NULL;
}

static int native_submit(BlockBackend *bb, BlockAiocb *acb)
{
    NativeState *s = bb->engine_state;
    struct iocb *cb;
    int r, ret;

    if (block_submit_offloaded(bb, acb, &ret)) {
        return ret;
    }
    if (s->inflight >= NATIVE_DEPTH) {
        return -EAGAIN;
    }
    cb = g_new0(struct iocb, 1);
    switch (acb->e_op) {
    case BLOCK_OP_READ:
        io_prep_preadv(cb, bb->fd, acb->e_iov, acb->e_niov, acb->e_off);
        break;
    case BLOCK_OP_WRITE:
        io_prep_pwritev(cb, bb->fd, acb->e_iov, acb->e_niov, acb->e_off);
        break;
    default:
        io_prep_fdsync(cb, bb->fd);
        break;
    }
    io_set_eventfd(cb, bb->efd);
    cb->data = acb;
    r = io_submit(s->ctx, 1, &cb);
    if (r == 1) {
        acb->engine_priv = cb;
        s->inflight++;
        return 0;
    }
    g_free(cb);
    if (r == -EAGAIN && s->inflight > 0) {
        return -EAGAIN;
    }
    if (acb->e_op == BLOCK_OP_FLUSH && r == -EINVAL) {
        /* Kernel without IOCB_CMD_FDSYNC for this file: use a thread. */
        return block_helper_submit(bb, acb);
    }
    return r < 0 ? r : -EIO;
}

static void native_reap(BlockBackend *bb)
{
    NativeState *s = bb->engine_state;
    struct io_event ev[64];
    int n;

    do {
        struct timespec ts = { 0, 0 };
        n = io_getevents(s->ctx, 0, G_N_ELEMENTS(ev), ev, &ts);
        if (n < 0) {
            if (n != -EINTR) {
                log_error("block: io_getevents failed: %s", g_strerror(-n));
            }
            return;
        }
        for (int i = 0; i < n; i++) {
            BlockAiocb *acb = ev[i].data;
            g_free(ev[i].obj);
            acb->engine_priv = NULL;
            s->inflight--;
            block_engine_done(bb, acb, (long)ev[i].res);
        }
    } while (n == (int)G_N_ELEMENTS(ev));
}

const BlockEngine block_engine_native = {
    .name = "native",
    .init = native_init,
    .cleanup = native_cleanup,
    .submit = native_submit,
    .reap = native_reap,
};
