/*
 * Little-endian field readers for tests that check guest-visible tables
 * byte by byte (zero page, setup header, MP tables). Written out here rather
 * than borrowed from the code under test, whose own byte helpers it checks.
 */
#ifndef STRATUS_TESTS_LE_BYTES_H
#define STRATUS_TESTS_LE_BYTES_H

#include <stdint.h>

static inline uint16_t le16(const uint8_t *p)
{
    return p[0] | (p[1] << 8);
}

static inline uint32_t le32(const uint8_t *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t le64(const uint8_t *p)
{
    return le32(p) | ((uint64_t)le32(p + 4) << 32);
}

#endif
