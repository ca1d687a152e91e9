/*
 * virtio-serial (virtio 1.2 §5.3, the console device with
 * VIRTIO_CONSOLE_F_MULTIPORT): the `virtio-serial-device` type and its
 * ports, the `virtconsole` and `virtserialport` types (docs/devices-virtio-serial.md).
 * The device owns the queues and the control protocol; a
 * port is a device of its own (created by -device or device_add after the
 * serial device) that joins the device at realize and leaves at unrealize,
 * and connects one port number to one chardev.
 *
 * Everything runs with the machine lock held.
 */
#ifndef STRATUS_VIRTIO_SERIAL_H
#define STRATUS_VIRTIO_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"
#include "hw/virtio/virtqueue.h"

/* Feature bits (§5.3.3) */
#define VIRTIO_CONSOLE_F_SIZE        0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* Config space (§5.3.4): cols, rows (le16), max_nr_ports, emerg_wr (le32). */
#define VIRTIO_CONSOLE_CFG_COLS          0
#define VIRTIO_CONSOLE_CFG_ROWS          2
#define VIRTIO_CONSOLE_CFG_MAX_NR_PORTS  4
#define VIRTIO_CONSOLE_CFG_EMERG_WR      8
#define VIRTIO_CONSOLE_CFG_SIZE          12

/* Control events (§5.3.6.2) */
#define VIRTIO_CONSOLE_DEVICE_READY  0
#define VIRTIO_CONSOLE_DEVICE_ADD    1
#define VIRTIO_CONSOLE_DEVICE_REMOVE 2
#define VIRTIO_CONSOLE_PORT_READY    3
#define VIRTIO_CONSOLE_CONSOLE_PORT  4
#define VIRTIO_CONSOLE_RESIZE        5
#define VIRTIO_CONSOLE_PORT_OPEN     6
#define VIRTIO_CONSOLE_PORT_NAME     7
/* struct virtio_console_control: le32 id, le16 event, le16 value. */
#define VIRTIO_CONSOLE_CTRL_SIZE     8

/* Queues: port 0 rx/tx, control rx/tx, then port n rx/tx at 2n+2, 2n+3. */
#define VIRTIO_SERIAL_Q_CTRL_RX 2
#define VIRTIO_SERIAL_Q_CTRL_TX 3
#define VIRTIO_SERIAL_QUEUE_SIZE 256
/* StratoVirt's bounds on max_ports (its default is the most). */
#define VIRTIO_SERIAL_MAX_PORTS 31

/* The queue carrying port nr's data towards the guest (rx) or the host (tx). */
static inline unsigned virtio_serial_rx_queue(uint32_t nr)
{
    return nr == 0 ? 0 : 2 * nr + 2;
}

/* A port's guest-visible connection state (virtconsole, virtserialport). */
typedef struct VirtioSerialPortInfo {
    uint32_t nr;
    bool console;
    bool guest_open;           /* the driver said PORT_OPEN 1 */
    bool host_open;            /* the chardev has a peer */
    uint64_t to_host, to_guest;   /* bytes moved (host bookkeeping) */
} VirtioSerialPortInfo;

/* The machine's virtio-serial device (there is at most one), or NULL. */
Device *virtio_serial_find(Machine *m);
/* Port nr's state; false if no port has that number. */
bool virtio_serial_port_info(Device *serial, uint32_t nr, VirtioSerialPortInfo *out);

extern const DeviceClass virtio_serial_device_class;
extern const DeviceClass virtio_serial_pci_device_class;
/* Either form (virtio-mmio or -pci). */
bool virtio_serial_is(const Device *d);

#endif
