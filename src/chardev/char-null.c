/*
 * null backend (QEMU's "null"): output is discarded and input never comes.
 * It has no file descriptors, so the engine's writes drop everything
 * (chardev_write() with no output fd) and no input watch is ever armed.
 * -serial null gives COM1 this backend; so does the default COM1 under qtest.
 */
#include "chardev/chardev-internal.h"

bool chardev_null_open(Chardev *chr, const ChardevConfig *cfg, GError **err)
{
    (void)cfg;
    (void)err;
    /* As QEMU's null chardev: never "opened" for the front end. */
    chr->connected = false;
    chardev_attach_fds(chr, -1, -1, false);
    return true;
}

const ChardevClass chardev_null_class = {
    .name = "null",
};
