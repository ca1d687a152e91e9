/*
 * Names of virtio feature bits and device status bits (virtio 1.2 §2.1, §6
 * and each device's "Feature bits" section), for introspection
 * (x-query-virtio-status). Each name is "CONSTANT: what it means", the shape
 * QEMU's introspection prints, so tools that split on ": " work.
 */
#ifndef STRATUS_VIRTIO_NAMES_H
#define STRATUS_VIRTIO_NAMES_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The name of feature `bit` of a device with `device_id`, or NULL if Stratus
 * has no name for it. *transport tells whether it is a transport (reserved,
 * §6) bit rather than a device-specific one.
 */
const char *virtio_feature_name(uint32_t device_id, unsigned bit, bool *transport);
/*
 * The i-th named device status bit, in the order a driver sets them: its
 * name, with the bit number in *bit; NULL past the last.
 */
const char *virtio_status_name_at(unsigned i, unsigned *bit);

#endif
