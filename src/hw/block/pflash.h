/*
 * cfi.pflash01 (pflash_cfi01.c): the parallel flash x86 boards map
 * -drive if=pflash images into (docs/q35.md "Firmware boot").
 */
#ifndef STRATUS_PFLASH_H
#define STRATUS_PFLASH_H

#include <stdint.h>

#include "hw/device.h"

#define PFLASH_SECTOR_SIZE 4096u
/* QEMU's pc limit for all firmware images together, below 4 GiB. */
#define PFLASH_MAX_SIZE    (8u << 20)

/* The image as the guest reads it in array mode (owned by the device). */
const uint8_t *pflash_image(Device *d, uint64_t *size);

#endif
