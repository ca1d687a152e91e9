/*
 * A hand-built Machine for device unit tests: a main context, an empty port
 * I/O bus and a fake accelerator that records the level and the rising edges
 * of every GSI in irq_level[] / irq_rises[]. Header-only (static) so that each
 * test program gets its own copy of the record.
 */
#ifndef STRATUS_TESTS_FAKE_MACHINE_H
#define STRATUS_TESTS_FAKE_MACHINE_H

#include <string.h>
#include <glib.h>

#include "accel/accel.h"
#include "machine.h"

static bool irq_level[24];
static unsigned irq_rises[24];

static void fake_set_irq(Machine *m, unsigned gsi, bool level)
{
    g_assert_cmpuint(gsi, <, 24);
    if (level && !irq_level[gsi]) {
        irq_rises[gsi]++;
    }
    irq_level[gsi] = level;
}

static const AccelOps fake_accel = {
    .name = "fake",
    .set_irq = fake_set_irq,
};

static inline void fake_irq_clear(void)
{
    memset(irq_level, 0, sizeof(irq_level));
    memset(irq_rises, 0, sizeof(irq_rises));
}

static inline Machine *fake_machine_new(void)
{
    Machine *m = g_new0(Machine, 1);

    m->ctx = g_main_context_new();
    m->accel_ops = &fake_accel;
    iobus_init(&m->pio, "pio", IOBUS_PORTS);
    return m;
}

static inline void fake_machine_free(Machine *m)
{
    iobus_destroy(&m->pio);
    g_main_context_unref(m->ctx);   /* drops any pending shutdown source */
    g_free(m);
}

#endif
