/* Byte accesses to a port I/O bus as a guest makes them, asserting a handler answered. */
#ifndef STRATUS_TESTS_PIO_TEST_H
#define STRATUS_TESTS_PIO_TEST_H

#include <glib.h>

#include "memory.h"

static inline void test_pio_outb(IoBus *pio, uint16_t port, uint8_t v)
{
    g_assert_true(iobus_write(pio, port, &v, 1));
}

static inline uint8_t test_pio_inb(IoBus *pio, uint16_t port)
{
    uint8_t v = 0;

    g_assert_true(iobus_read(pio, port, &v, 1));
    return v;
}

#endif
