/*
 * `virtconsole`: a virtio-serial port the driver is told is a console
 * (CONSOLE_PORT; Linux puts an hvc on it). Everything but the class is the
 * port's (virtio-serial-port.c); a file of its own because the registry
 * compiles one file per type (src/hw/meson.build).
 */
#include "hw/virtio/virtio-serial-internal.h"

static bool virtconsole_realize(Device *d, GError **err)
{
    return virtio_serial_port_realize(d, true, err);
}

const DeviceClass virtconsole_device_class = {
    .name = "virtconsole",
    /* QEMU's hierarchy: a console is a kind of virtserialport. */
    .parent = "virtserialport",
    .description = NULL,
    .bus = DEVICE_BUS_VIRTIO_SERIAL,
    .instance_size = sizeof(VirtioSerialPort),
    .props = virtio_serial_port_props,
    .user_creatable = true,
    .hotpluggable = true,
    .realize = virtconsole_realize,
    .unrealize = virtio_serial_port_unrealize,
    .vmsd = &vmstate_virtio_serial_port,
};
