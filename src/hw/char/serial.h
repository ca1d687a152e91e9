/* 16550A UART (COM1 at PIO 0x3F8, IRQ 4 on microvm). */
#ifndef STRATUS_SERIAL_H
#define STRATUS_SERIAL_H

#include "machine.h"
#include "chardev/chardev.h"
#include "hw/device.h"

typedef struct SerialState SerialState;
extern const DeviceClass isa_serial_device_class;

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ  4
#define SERIAL_RX_FIFO   1024   /* StratoVirt's rx buffer */

/*
 * Registers 8 ports at base on m->pio and wires the chardev (may be NULL).
 * The registered type "isa-serial" (serial_device_class) wraps it; when the
 * scratch register is port 0x3FF it forwards boot-time markers to the machine.
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
