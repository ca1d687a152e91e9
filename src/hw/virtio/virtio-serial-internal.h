/*
 * Private to virtio-serial.c (the device: queues, control protocol) and
 * virtio-serial-port.c / virtconsole.c (the ports): the two instance structs
 * and the calls between them.
 */
#ifndef STRATUS_VIRTIO_SERIAL_INTERNAL_H
#define STRATUS_VIRTIO_SERIAL_INTERNAL_H

#include "chardev/chardev.h"
#include "hw/virtio/virtio-serial.h"
#include "hw/virtio/virtio.h"
#include "migration/vmstate.h"

/* Bytes read from a chardev at a time; what does not fit the guest's buffers waits here. */
#define VIRTIO_SERIAL_RX_CHUNK 4096
/* Output queued in a chardev beyond this stops the transmit queue until it drains. */
#define VIRTIO_SERIAL_TX_HIGH (64 * 1024)
/* Bytes moved per port and main-loop turn before yielding to other sources. */
#define VIRTIO_SERIAL_TURN_BYTES (1024 * 1024)
/* Control messages waiting for a control receive buffer (a driver keeps some posted). */
#define VIRTIO_SERIAL_CTRL_BACKLOG 256

typedef struct VirtioSerial VirtioSerial;

extern const DeviceClass virtio_serial_device_class;

typedef struct VirtioSerialPort {
    Device parent;             /* first: the registry allocates and frees us */
    char *chardev;             /* property "chardev" */
    uint32_t nr;               /* property "nr"; UINT32_MAX = the next free number */
    char *name;                /* property "name": PORT_NAME, /sys/class/virtio-ports/.../name */

    bool console;              /* virtconsole: CONSOLE_PORT is sent for it */
    VirtioSerial *serial;      /* the device it joined at realize */
    Chardev *chr;
    bool host_open;            /* the chardev has a peer */
    /* Guest-visible (saved): */
    bool ready;                /* the driver said PORT_READY 1 */
    bool guest_open;           /* the driver said PORT_OPEN 1 */
    uint32_t rx_len;           /* bytes in rx_buf still to go to the guest */
    uint8_t rx_buf[VIRTIO_SERIAL_RX_CHUNK];
    uint32_t tx_off;           /* bytes of the head transmit chain already written */
    /* The transmit chain being written (host bookkeeping: unpopped before a save). */
    VirtQueueElement *tx_elem;
    uint64_t to_host, to_guest;
} VirtioSerialPort;

struct VirtioSerial {
    Device parent;             /* first */
    uint32_t max_ports;        /* property "max_ports" */

    VirtioDevice vdev;
    VirtioSerialPort *ports[VIRTIO_SERIAL_MAX_PORTS];
    bool driver_ready;         /* DEVICE_READY 1 since the last reset (saved) */
    GQueue ctrl_out;           /* GByteArray*: control messages for the guest */
    GSource *work;             /* the queues are to be served from the main loop */
    uint8_t *bounce;           /* VIRTIO_SERIAL_TX_HIGH bytes: chain -> chardev */
    bool logged_backlog, logged_bad_port;
};

/* ---- device side (virtio-serial.c), used by the ports ---- */

/* Any thread, lock held: serve every queue from the main loop soon. */
void virtio_serial_schedule(VirtioSerial *s);
/* A control message for the guest (dropped, logged once, beyond the backlog). */
void virtio_serial_send_ctrl(VirtioSerial *s, uint32_t id, uint16_t event, uint16_t value,
                             const char *extra);
/* The driver can use port queues: DRIVER_OK, not broken. */
bool virtio_serial_live(const VirtioSerial *s);
/* The port's queues (rx = towards the guest). */
VirtQueue *virtio_serial_port_vq(VirtioSerial *s, uint32_t nr, bool tx);

/* ---- port side (virtio-serial-port.c), used by the device ---- */

/* Moves what it can both ways; true if a chain was used (notify done by the port). */
void virtio_serial_port_flush(VirtioSerialPort *p, bool *more);
/* The driver's PORT_READY / PORT_OPEN for this port. */
void virtio_serial_port_ready(VirtioSerialPort *p);
void virtio_serial_port_guest_open(VirtioSerialPort *p, bool open);
/* Device reset: forget the driver's state and any chain in hand. */
void virtio_serial_port_reset(VirtioSerialPort *p);
/* Before a save: give the chain in hand back to the ring (tx_off says how far it got). */
void virtio_serial_port_unpop(VirtioSerialPort *p);

/* The shared realize / unrealize / properties / state of both port types. */
bool virtio_serial_port_realize(Device *d, bool console, GError **err);
void virtio_serial_port_unrealize(Device *d);
extern const Property virtio_serial_port_props[];
extern const VMStateDescription vmstate_virtio_serial_port;

#endif
