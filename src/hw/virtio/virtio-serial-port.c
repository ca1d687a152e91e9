/*
 * The ports of a virtio-serial device: `virtserialport` here, `virtconsole`
 * (virtconsole.c) sharing everything but its class (docs/devices-virtio-serial.md).
 * A port joins the machine's virtio-serial device at
 * realize under a port number (nr=, or the next free one) and connects it
 * to a chardev it takes for its life.
 *
 * Data towards the host: each transmit chain is written to the chardev in
 * pieces that keep the chardev's queued output under VIRTIO_SERIAL_TX_HIGH;
 * when it is that full the port stops taking chains and waits for the
 * chardev's write_ready, so a slow reader slows the guest down instead of
 * losing bytes or growing host memory. While the chardev has no peer
 * (a socket nobody is connected to) chains are returned unread, as QEMU
 * does: the guest learns it from PORT_OPEN 0.
 *
 * Data towards the guest: the chardev is read only while the guest has the
 * port open and has posted receive buffers; bytes that do not fit the
 * buffers wait in rx_buf (one read at most) and the chardev is not read
 * again until they are gone, so an absent reader stops the peer's writes.
 */
#include <string.h>

#include "hw/virtio/virtio-serial-internal.h"
#include "hw/device.h"
#include "util/log.h"
#include "util/strutil.h"

#define NR_AUTO UINT32_MAX

static const char *port_name(const VirtioSerialPort *p)
{
    return p->parent.id ? p->parent.id : p->parent.klass->name;
}

/* ---- towards the guest ---- */

/* rx_buf into the guest's receive buffers; true if all of it went. */
static bool deliver_rx(VirtioSerialPort *p)
{
    VirtioSerial *s = p->serial;
    VirtQueue *vq = virtio_serial_port_vq(s, p->nr, false);
    uint32_t off = 0;
    bool pushed = false;

    while (off < p->rx_len) {
        VirtQueueElement *e;
        char *why;
        int r = virtqueue_pop(vq, &e, &why);
        size_t n;

        if (r < 0) {
            virtio_error(&s->vdev, "port %u receive queue: %s", p->nr, why);
            g_free(why);
            break;
        }
        if (r == 0) {
            break;
        }
        if (e->out_num || !e->in_len) {
            virtio_error(&s->vdev, "port %u receive buffer with %u readable descriptors "
                         "and %" G_GUINT64_FORMAT " writable bytes", p->nr, e->out_num,
                         e->in_len);
            g_free(e);
            break;
        }
        n = iov_from_buf(e->in_sg, e->in_num, 0, p->rx_buf + off, p->rx_len - off);
        virtqueue_push(vq, e, (uint32_t)n);
        g_free(e);
        off += (uint32_t)n;
        pushed = true;
    }
    if (off) {
        memmove(p->rx_buf, p->rx_buf + off, p->rx_len - off);
        p->rx_len -= off;
        p->to_guest += off;
    }
    if (pushed) {
        virtio_notify(&s->vdev, vq);
    }
    return p->rx_len == 0;
}

static size_t chr_can_read(void *opaque)
{
    VirtioSerialPort *p = opaque;
    VirtioSerial *s = p->serial;

    if (!p->guest_open || p->rx_len || !virtio_serial_live(s) ||
        virtqueue_empty(virtio_serial_port_vq(s, p->nr, false))) {
        return 0;
    }
    return VIRTIO_SERIAL_RX_CHUNK;
}

static void chr_read(void *opaque, const uint8_t *buf, size_t len)
{
    VirtioSerialPort *p = opaque;

    len = MIN(len, sizeof(p->rx_buf) - p->rx_len);
    memcpy(p->rx_buf + p->rx_len, buf, len);
    p->rx_len += (uint32_t)len;
    deliver_rx(p);
}

/* ---- towards the host ---- */

/* The chain in hand is done: back to the guest. */
static void finish_tx(VirtioSerialPort *p, VirtQueue *vq, bool *pushed)
{
    virtqueue_push(vq, p->tx_elem, 0);
    g_clear_pointer(&p->tx_elem, g_free);
    p->tx_off = 0;
    *pushed = true;
}

/* Takes the next transmit chain into p->tx_elem; false if none (or it was hostile). */
static bool take_tx(VirtioSerialPort *p, VirtQueue *vq)
{
    VirtioSerial *s = p->serial;
    char *why;
    int r = virtqueue_pop(vq, &p->tx_elem, &why);

    if (r < 0) {
        virtio_error(&s->vdev, "port %u transmit queue: %s", p->nr, why);
        g_free(why);
        return false;
    }
    if (r == 0) {
        return false;
    }
    if (p->tx_elem->in_num) {
        virtio_error(&s->vdev, "port %u transmit chain with %u device-writable descriptors",
                     p->nr, p->tx_elem->in_num);
        g_clear_pointer(&p->tx_elem, g_free);
        return false;
    }
    /* A chain resumed after a restore must still hold what was written of it. */
    if (p->tx_off > p->tx_elem->out_len) {
        p->tx_off = 0;
    }
    return true;
}

/* Writes what the chardev has room for; *budget is what this turn may still move. */
static void flush_tx(VirtioSerialPort *p, size_t *budget, bool *more)
{
    VirtioSerial *s = p->serial;
    VirtQueue *vq = virtio_serial_port_vq(s, p->nr, true);
    bool pushed = false;

    while (!s->vdev.broken) {
        size_t pending, n;

        if (!p->tx_elem && !take_tx(p, vq)) {
            break;
        }
        if (!p->host_open) {
            finish_tx(p, vq, &pushed);      /* nobody to read it: QEMU drops it too */
            continue;
        }
        pending = chardev_write_pending(p->chr);
        if (pending >= VIRTIO_SERIAL_TX_HIGH) {
            break;                          /* write_ready resumes us */
        }
        if (!*budget) {
            *more = true;
            break;
        }
        n = (size_t)MIN((uint64_t)(VIRTIO_SERIAL_TX_HIGH - pending),
                        p->tx_elem->out_len - p->tx_off);
        n = MIN(n, *budget);
        n = iov_to_buf(p->tx_elem->out_sg, p->tx_elem->out_num, p->tx_off, s->bounce, n);
        chardev_write(p->chr, s->bounce, n);
        p->tx_off += (uint32_t)n;
        p->to_host += n;
        *budget -= n;
        if (p->tx_off == p->tx_elem->out_len) {
            finish_tx(p, vq, &pushed);
        }
    }
    if (pushed) {
        virtio_notify(&s->vdev, vq);
    }
}

void virtio_serial_port_flush(VirtioSerialPort *p, bool *more)
{
    size_t budget = VIRTIO_SERIAL_TURN_BYTES;

    if (p->rx_len && deliver_rx(p)) {
        chardev_accept_input(p->chr);
    } else if (!p->rx_len) {
        chardev_accept_input(p->chr);       /* the guest may have posted buffers */
    }
    flush_tx(p, &budget, more);
}

static void chr_write_ready(void *opaque)
{
    VirtioSerialPort *p = opaque;

    virtio_serial_schedule(p->serial);
}

static void chr_event(void *opaque, bool connected)
{
    VirtioSerialPort *p = opaque;
    VirtioSerial *s = p->serial;

    if (p->host_open == connected) {
        return;
    }
    p->host_open = connected;
    log_debug("virtio-serial port %u ('%s'): host side %s", p->nr, port_name(p),
              connected ? "connected" : "disconnected");
    if (s->driver_ready && p->ready) {
        virtio_serial_send_ctrl(s, p->nr, VIRTIO_CONSOLE_PORT_OPEN, connected, NULL);
    }
    virtio_serial_schedule(s);
}

static const ChardevHandlers port_chr_handlers = {
    .can_read = chr_can_read,
    .read = chr_read,
    .event = chr_event,
    .write_ready = chr_write_ready,
};

/* ---- the driver's control messages ---- */

void virtio_serial_port_ready(VirtioSerialPort *p)
{
    VirtioSerial *s = p->serial;

    p->ready = true;
    if (p->console) {
        virtio_serial_send_ctrl(s, p->nr, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL);
    }
    if (p->name) {
        virtio_serial_send_ctrl(s, p->nr, VIRTIO_CONSOLE_PORT_NAME, 1, p->name);
    }
    if (p->host_open) {
        virtio_serial_send_ctrl(s, p->nr, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
    }
}

void virtio_serial_port_guest_open(VirtioSerialPort *p, bool open)
{
    p->guest_open = open;
    if (open) {
        chardev_accept_input(p->chr);
    }
    virtio_serial_schedule(p->serial);
}

void virtio_serial_port_reset(VirtioSerialPort *p)
{
    g_clear_pointer(&p->tx_elem, g_free);
    p->tx_off = 0;
    p->rx_len = 0;
    p->ready = false;
    p->guest_open = false;
}

void virtio_serial_port_unpop(VirtioSerialPort *p)
{
    if (p->tx_elem) {
        virtqueue_unpop(virtio_serial_port_vq(p->serial, p->nr, true), 1);
        g_clear_pointer(&p->tx_elem, g_free);
    }
}

/* ---- realize / unrealize ---- */

static bool bus_matches(const VirtioSerial *s, const char *bus)
{
    g_autofree char *own = s->parent.id ? g_strdup_printf("%s.0", s->parent.id) : NULL;

    /* QEMU's names: "<serial id>.0", or the bus type's "virtio-serial-bus[.0]". */
    return !strcmp(bus, "virtio-serial-bus") || !strcmp(bus, "virtio-serial-bus.0") ||
           (own && !strcmp(bus, own));
}

/* StratoVirt's numbering: a console takes 0 if free, anything else the highest + 1. */
static bool pick_nr(VirtioSerialPort *p, VirtioSerial *s, GError **err)
{
    uint32_t highest = 0;

    for (uint32_t i = 1; i < VIRTIO_SERIAL_MAX_PORTS; i++) {
        if (s->ports[i]) {
            highest = i;
        }
    }
    if (p->nr == NR_AUTO) {
        p->nr = p->console && !s->ports[0] ? 0 : highest + 1;
    }
    if (!p->console && p->nr == 0) {
        set_error(err, "Port number 0 on virtio-serial devices reserved for virtconsole device.");
        return false;
    }
    if (p->nr >= s->max_ports) {
        set_error(err, "virtio serial port nr %u should be less than virtio serial's "
                  "max_nr_ports %u", p->nr, s->max_ports);
        return false;
    }
    if (s->ports[p->nr]) {
        set_error(err, "Repetitive virtio serial port nr %u.", p->nr);
        return false;
    }
    for (uint32_t i = 0; p->name && i < VIRTIO_SERIAL_MAX_PORTS; i++) {
        if (s->ports[i] && s->ports[i]->name && !strcmp(s->ports[i]->name, p->name)) {
            set_error(err, "virtio-serial-bus: A port already exists by name %s", p->name);
            return false;
        }
    }
    return true;
}

bool virtio_serial_port_realize(Device *d, bool console, GError **err)
{
    VirtioSerialPort *p = (VirtioSerialPort *)d;
    Device *sd = virtio_serial_find(d->machine);
    VirtioSerial *s = (VirtioSerial *)sd;
    Chardev *chr;

    p->console = console;
    if (d->bus && (!s || !bus_matches(s, d->bus))) {
        set_error(err, "Bus '%s' not found", d->bus);
        return false;
    }
    if (!s) {
        set_error(err, "No virtio serial device specified");
        return false;
    }
    if (!p->chardev || !*p->chardev) {
        set_error(err, "'chardev' is missing for '%s' device.", d->klass->name);
        return false;
    }
    if (!pick_nr(p, s, err)) {
        return false;
    }
    chr = g_hash_table_lookup(d->machine->chardevs, p->chardev);
    if (!chr || chardev_has_frontend(chr)) {
        /* StratoVirt's text (a Rust {:?}: the id in double quotes). */
        set_error(err, "Chardev \"%s\" not found or is in use", p->chardev);
        return false;
    }
    p->serial = s;
    p->chr = chr;
    s->ports[p->nr] = p;
    chardev_set_handlers(chr, &port_chr_handlers, p);   /* an open backend says so now */
    p->host_open = chardev_has_peer(chr);
    if (s->driver_ready) {
        virtio_serial_send_ctrl(s, p->nr, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL);
    }
    log_info("virtio-serial: %s %u ('%s') on chardev '%s'", console ? "console" : "port",
             p->nr, port_name(p), p->chardev);
    return true;
}

/* The driver is told the port is gone; a chain it was writing goes back to it. */
void virtio_serial_port_unrealize(Device *d)
{
    VirtioSerialPort *p = (VirtioSerialPort *)d;
    VirtioSerial *s = p->serial;

    if (p->tx_elem) {
        VirtQueue *vq = virtio_serial_port_vq(s, p->nr, true);
        bool pushed = false;

        if (virtio_serial_live(s)) {
            finish_tx(p, vq, &pushed);
            virtio_notify(&s->vdev, vq);
        } else {
            g_clear_pointer(&p->tx_elem, g_free);
        }
    }
    if (s->driver_ready) {
        virtio_serial_send_ctrl(s, p->nr, VIRTIO_CONSOLE_DEVICE_REMOVE, 1, NULL);
    }
    chardev_set_handlers(p->chr, NULL, NULL);
    s->ports[p->nr] = NULL;
    p->chr = NULL;
    p->serial = NULL;
}

const Property virtio_serial_port_props[] = {
    /* QEMU's names, descriptions and default (nr: VIRTIO_CONSOLE_BAD_ID, "pick one"). */
    DEFINE_PROP("chardev", PROP_STR, VirtioSerialPort, chardev, NULL,
                "ID of a chardev to use as a backend"),
    DEFINE_PROP("nr", PROP_U32, VirtioSerialPort, nr, "4294967295", NULL),
    DEFINE_PROP("name", PROP_STR, VirtioSerialPort, name, NULL, NULL),
    DEFINE_PROP_END,
};

/* ---- saved state ---- */

static bool port_post_load(void *opaque, uint32_t version, GError **err)
{
    VirtioSerialPort *p = opaque;

    if (p->rx_len > sizeof(p->rx_buf)) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "'%s': %u pending bytes for the guest, at most %zu", port_name(p),
                    p->rx_len, sizeof(p->rx_buf));
        return false;
    }
    /* The host side is whatever the chardev is now, on this host. */
    p->host_open = chardev_has_peer(p->chr);
    virtio_serial_schedule(p->serial);
    return true;
}

/*
 * The driver's view of the port (ready, open), bytes read from the chardev
 * not yet in a guest buffer, and how much of the head transmit chain was
 * already written (the device gave the chain back to the ring before
 * saving, see virtio-serial.c).
 */
const VMStateDescription vmstate_virtio_serial_port = {
    .name = "virtio-serial-port",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = port_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(ready, VirtioSerialPort),
        VMSTATE_BOOL(guest_open, VirtioSerialPort),
        VMSTATE_U32(tx_off, VirtioSerialPort),
        VMSTATE_VARRAY(rx_buf, VirtioSerialPort, rx_len, VIRTIO_SERIAL_RX_CHUNK, uint8_t,
                       VMS_U8),
        VMSTATE_END_OF_LIST()
    },
};

static bool serialport_realize(Device *d, GError **err)
{
    return virtio_serial_port_realize(d, false, err);
}

const DeviceClass virtserialport_device_class = {
    .name = "virtserialport",
    .parent = "virtio-serial-port",
    .description = NULL,
    .bus = DEVICE_BUS_VIRTIO_SERIAL,
    .instance_size = sizeof(VirtioSerialPort),
    .props = virtio_serial_port_props,
    .user_creatable = true,
    /* A port is a control message away: device_add / device_del, as QEMU. */
    .hotpluggable = true,
    .realize = serialport_realize,
    .unrealize = virtio_serial_port_unrealize,
    .vmsd = &vmstate_virtio_serial_port,
};
