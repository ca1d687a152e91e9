/* aio=off: the operation runs in the submitting thread; completion still goes
 * through the main loop so callbacks are never re-entrant. */
#include "block/block-internal.h"

static bool sync_init(BlockBackend *bb, GError **err)
{
    bb->engine_state = bb;
    return true;
}

static void sync_cleanup(BlockBackend *bb)
{
    bb->engine_state = NULL;
}

static int sync_submit(BlockBackend *bb, BlockAiocb *acb)
{
    block_complete_threadsafe(bb, acb, block_do_sync(bb, acb));
    return 0;
}

const BlockEngine block_engine_sync = {
    .name = "off",
    .init = sync_init,
    .cleanup = sync_cleanup,
    .submit = sync_submit,
};
