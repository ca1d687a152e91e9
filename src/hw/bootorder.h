/*
 * Boot order for the firmware (docs/q35.md "Boot order"): QEMU's
 * "bootindex" device property and the fw_cfg file "bootorder" built from it.
 */
#ifndef STRATUS_BOOTORDER_H
#define STRATUS_BOOTORDER_H

#include <glib.h>

#include "hw/device.h"

/* The device's bootindex (-1: none, also for types without the property). */
int32_t device_bootindex(const Device *d);

/*
 * QEMU's rule at -device / device_add: two devices never share a bootindex
 * of 0 or more ("The bootindex N has already been used"), and index 0 is
 * Machine.boot_rom's when set. Negative values all mean "none", as on QEMU.
 */
bool bootindex_check(Machine *m, const Device *d, GError **err);

/*
 * The "bootorder" file as QEMU writes it at each reset: Machine.boot_rom
 * first if set, then the firmware path of every device with a bootindex (the machine's fw_dev_path plus the type's
 * boot_suffix), lowest index first, one per line, "HALT" last with
 * -boot strict=on, and a NUL after the last line; empty (no NUL) when no
 * device has a bootindex.
 */
GByteArray *bootorder_build(Machine *m);

#endif
