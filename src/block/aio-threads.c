/* aio=threads: a GThreadPool per backend runs preadv/pwritev/fdatasync/fallocate. */
#include "block/block-internal.h"

static bool threads_init(BlockBackend *bb, GError **err)
{
    bb->engine_state = bb;
    return true;
}

static void threads_cleanup(BlockBackend *bb)
{
    bb->engine_state = NULL;   /* the pool itself is freed by the core */
}

static int threads_submit(BlockBackend *bb, BlockAiocb *acb)
{
    return block_helper_submit(bb, acb);
}

const BlockEngine block_engine_threads = {
    .name = "threads",
    .init = threads_init,
    .cleanup = threads_cleanup,
    .submit = threads_submit,
};
