/*
 * The device model as text for people and scripts: `-device help`,
 * `-device DRIVER,help` and HMP `info qdm`, in QEMU's formats, from the same
 * registry and property tables as device-list-properties.
 */
#ifndef STRATUS_DEVICE_HELP_H
#define STRATUS_DEVICE_HELP_H

#include <stdbool.h>
#include <glib.h>

/*
 * One line per device type, sorted by name:
 *   name "virtio-blk-device", bus virtio-bus, alias "virtio-blk-mmio", desc "..."
 * `-device help` lists the user-creatable types; `info qdm` (show_no_user)
 * every type, the others marked ", no-user".
 */
char *device_help_types_text(bool show_no_user);

/*
 * `-device DRIVER,help`: "DRIVER options:" then one sorted line per property,
 *   "  num-queues=<uint32>     - description (default: 1)"
 * ("There are no options for DRIVER." without any). Unknown driver: error
 * "Device 'foo' not found" (STRATUS_ERROR_DEVICE_NOT_FOUND), as QEMU.
 */
char *device_help_props_text(const char *driver, GError **err);

/*
 * The -device argument asks for help instead of a device: the driver is
 * "help" or "?", or a "help" / "?" key is present (QEMU's is_help_option).
 * On true, *text is what to print, or NULL with *err set.
 */
bool device_help_for_option(const char *optarg, char **text, GError **err);

#endif
