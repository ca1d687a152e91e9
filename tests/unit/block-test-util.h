/* Shared by the block-layer and virtio-blk unit tests. */
#ifndef STRATUS_BLOCK_TEST_UTIL_H
#define STRATUS_BLOCK_TEST_UTIL_H

#include <unistd.h>
#include <glib.h>
#include "block/block.h"

/* One I/O engine with O_DIRECT on or off: every test that does I/O runs each. */
typedef struct EngineCase {
    BlockAioMode aio;
    bool direct;
} EngineCase;

static const EngineCase engine_cases[] = {
    { BLOCK_AIO_OFF, false }, { BLOCK_AIO_OFF, true },
    { BLOCK_AIO_THREADS, false }, { BLOCK_AIO_THREADS, true },
    { BLOCK_AIO_NATIVE, false }, { BLOCK_AIO_NATIVE, true },
    { BLOCK_AIO_IO_URING, false }, { BLOCK_AIO_IO_URING, true },
};

/*
 * A fresh directory for test images. O_DIRECT needs a real file system and
 * /tmp may be tmpfs, which refuses it, so /var/tmp comes first.
 */
static inline char *make_image_dir(const char *name)
{
    g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", name);
    char *dir;

    if (access("/var/tmp", W_OK) == 0) {
        dir = g_build_filename("/var/tmp", tmpl, NULL);
        g_assert_nonnull(g_mkdtemp(dir));
    } else {
        dir = g_dir_make_tmp(tmpl, NULL);
        g_assert_nonnull(dir);
    }
    return dir;
}

#endif
