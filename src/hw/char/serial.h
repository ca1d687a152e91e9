/* 16550A UART (COM1 at PIO 0x3F8, IRQ 4 on microvm). */
#ifndef STRATUS_SERIAL_H
#define STRATUS_SERIAL_H

#include "machine.h"
#include "chardev/chardev.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ  4
#define SERIAL_RX_FIFO   1024   /* StratoVirt's rx buffer */

/*
 * Registers 8 ports at base on m->pio and wires the chardev (may be NULL);
 * sets m->serial if NULL. The board calls serial_reset() on system reset.
 * The IRQ is a level driven from the interrupt-pending state, gated by MCR.OUT2.
 */
SerialState *serial_new(Machine *m, uint64_t base, unsigned gsi, Chardev *chr,
                        GError **err);
void serial_reset(SerialState *s);
void serial_free(SerialState *s);

#include "migration/vmstate.h"
/* Registers and receive FIFO; opaque is the SerialState. */
extern const VMStateDescription vmstate_serial;

#endif
