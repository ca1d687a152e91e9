/* stub: virtio-mmio slots are being written (issue: virtio-mmio, block layer, virtio-blk). */
#include "hw/x86/microvm.h"

bool microvm_virtio_init(Machine *m, char **cmdline_params, GError **err)
{
    *cmdline_params = NULL;
    return true;
}

void microvm_virtio_destroy(Machine *m)
{
}
