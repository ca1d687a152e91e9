/*
 * The machine's camera back ends (backends/camera.h, docs/camera.md): the
 * -cameradev ones created with the machine, and what the seccomp filter
 * must allow for them. StratoVirt has camera back ends on its standard
 * machine only; microvm refuses them (its QMP text is in
 * qmp-commands-camera.c).
 */
#include <string.h>

#include "machine.h"
#include "backends/camera.h"
#include "config.h"
#include "hw/device.h"
#include "util/strutil.h"

bool machine_cameras_supported(Machine *m)
{
    return strcmp(m->machine_class->name, "microvm") != 0;
}

bool machine_create_cameras(Machine *m, GError **err)
{
    GPtrArray *l = m->cfg->cameradevs;

    m->cameras = camera_table_new(NULL);
    if (l && l->len && !machine_cameras_supported(m)) {
        set_error(err, "-cameradev: camera back ends are not supported for MicroVM");
        return false;
    }
    for (guint i = 0; l && i < l->len; i++) {
        const OptList *o = g_ptr_array_index(l, i);
        if (!camera_backend_add(m->cameras, optlist_get(o, "id"), optlist_get(o, "driver"),
                                optlist_get(o, "path"), err)) {
            g_prefix_error(err, "-cameradev: ");
            return false;
        }
    }
    return true;
}

/*
 * A monitor can cameradev_add a v4l2 node at any time (as netdev_add a tap),
 * so the VIDIOC requests come with a monitor too, where the machine has
 * camera back ends at all.
 */
unsigned machine_camera_seccomp_needs(Machine *m)
{
    bool monitor = m->cfg->monitors && m->cfg->monitors->len;

    if ((m->cameras && camera_table_list(m->cameras)->len) ||
        (monitor && m->machine_class && machine_cameras_supported(m))) {
        return SECCOMP_NEED_CAMERA;
    }
    return 0;
}
