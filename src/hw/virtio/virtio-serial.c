/*
 * virtio-serial (virtio 1.2 §5.3), QEMU's and StratoVirt's
 * `virtio-serial-device` (docs/devices-virtio-serial.md): the queues and
 * the multiport control protocol. The ports (virtconsole, virtserialport)
 * are devices of their own that join this one (virtio-serial-port.c).
 *
 * The control protocol: the driver says DEVICE_READY; the device answers
 * DEVICE_ADD for every port; the driver says PORT_READY per port; the device
 * answers CONSOLE_PORT (virtconsole), PORT_NAME (name=) and PORT_OPEN 1 if
 * the port's chardev has a peer; PORT_OPEN from the driver opens and closes
 * the guest side. Ports plugged or unplugged later are announced with
 * DEVICE_ADD / DEVICE_REMOVE. Control messages for the guest wait in a
 * bounded backlog until the driver posts a control receive buffer.
 *
 * Where the work runs: a kick (MMIO on a vCPU, ioeventfd, qtest) and chardev
 * events only schedule the queues to be served from the main loop, so a
 * vCPU never copies a megabyte; data moves in bounded amounts per turn.
 *
 * Every chain the guest posts is checked by the virtqueue layer (in guest
 * RAM over its whole length, bounded) and here by direction: a control or
 * transmit chain with device-writable parts, a receive chain with
 * device-readable parts or too short for a control message breaks the
 * device (NEEDS_RESET) rather than being guessed at.
 */
#include <endian.h>
#include <string.h>

#include "hw/virtio/virtio-serial-internal.h"
#include "hw/device.h"
#include "util/log.h"
#include "util/strutil.h"

static VirtioSerial *to_serial(VirtioDevice *vdev)
{
    return (VirtioSerial *)((char *)vdev - offsetof(VirtioSerial, vdev));
}

static void clear_source(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

bool virtio_serial_live(const VirtioSerial *s)
{
    return !s->vdev.broken && (s->vdev.status & VIRTIO_STATUS_DRIVER_OK);
}

static bool multiport(const VirtioSerial *s)
{
    return virtio_has_feature(&s->vdev, VIRTIO_CONSOLE_F_MULTIPORT);
}

VirtQueue *virtio_serial_port_vq(VirtioSerial *s, uint32_t nr, bool tx)
{
    return &s->vdev.vqs[virtio_serial_rx_queue(nr) + (tx ? 1 : 0)];
}

/* ---- control messages towards the guest ---- */

static void flush_ctrl(VirtioSerial *s)
{
    VirtQueue *vq = &s->vdev.vqs[VIRTIO_SERIAL_Q_CTRL_RX];
    bool pushed = false;

    while (!g_queue_is_empty(&s->ctrl_out) && multiport(s)) {
        GByteArray *msg = g_queue_peek_head(&s->ctrl_out);
        VirtQueueElement *e;
        char *why;
        int r = virtqueue_pop(vq, &e, &why);

        if (r < 0) {
            virtio_error(&s->vdev, "control receive queue: %s", why);
            g_free(why);
            return;
        }
        if (r == 0) {
            break;
        }
        if (e->out_num || e->in_len < msg->len) {
            virtio_error(&s->vdev, "control receive buffer of %" G_GUINT64_FORMAT
                         " writable bytes (%u readable descriptors) for a %u-byte message",
                         e->in_len, e->out_num, msg->len);
            g_free(e);
            return;
        }
        iov_from_buf(e->in_sg, e->in_num, 0, msg->data, msg->len);
        virtqueue_push(vq, e, msg->len);
        g_free(e);
        g_byte_array_unref(g_queue_pop_head(&s->ctrl_out));
        pushed = true;
    }
    if (pushed) {
        virtio_notify(&s->vdev, vq);
    }
}

void virtio_serial_send_ctrl(VirtioSerial *s, uint32_t id, uint16_t event, uint16_t value,
                             const char *extra)
{
    uint8_t hdr[VIRTIO_CONSOLE_CTRL_SIZE];
    uint32_t le_id = htole32(id);
    uint16_t le_ev = htole16(event), le_val = htole16(value);
    GByteArray *msg;

    if (!multiport(s) || !virtio_serial_live(s)) {
        return;
    }
    if (g_queue_get_length(&s->ctrl_out) >= VIRTIO_SERIAL_CTRL_BACKLOG) {
        if (!s->logged_backlog) {
            s->logged_backlog = true;
            log_warn("virtio-serial '%s': the driver takes no control messages, dropping "
                     "them (logged once per reset)", s->vdev.id);
        }
        return;
    }
    memcpy(hdr, &le_id, 4);
    memcpy(hdr + 4, &le_ev, 2);
    memcpy(hdr + 6, &le_val, 2);
    msg = g_byte_array_new();
    g_byte_array_append(msg, hdr, sizeof(hdr));
    if (extra) {
        /* PORT_NAME: the name follows the header, without a terminator (Linux adds one). */
        g_byte_array_append(msg, (const uint8_t *)extra, (guint)strlen(extra));
    }
    g_queue_push_tail(&s->ctrl_out, msg);
    virtio_serial_schedule(s);
}

/* ---- control messages from the guest ---- */

static void device_ready(VirtioSerial *s, uint16_t value)
{
    if (!value) {
        log_warn("virtio-serial '%s': the driver failed to initialise", s->vdev.id);
        return;
    }
    s->driver_ready = true;
    for (unsigned nr = 0; nr < VIRTIO_SERIAL_MAX_PORTS; nr++) {
        if (s->ports[nr]) {
            virtio_serial_send_ctrl(s, nr, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL);
        }
    }
}

static void handle_ctrl(VirtioSerial *s, uint32_t id, uint16_t event, uint16_t value)
{
    VirtioSerialPort *p = id < VIRTIO_SERIAL_MAX_PORTS ? s->ports[id] : NULL;

    if (event == VIRTIO_CONSOLE_DEVICE_READY) {
        device_ready(s, value);
        return;
    }
    if (!p) {
        /* A port the guest was never told about: nothing to act on, as QEMU. */
        if (!s->logged_bad_port) {
            s->logged_bad_port = true;
            log_warn("virtio-serial '%s': control event %u for port %u, which does not "
                     "exist (logged once per reset)", s->vdev.id, event, id);
        }
        return;
    }
    switch (event) {
    case VIRTIO_CONSOLE_PORT_READY:
        if (value) {
            virtio_serial_port_ready(p);
        } else {
            log_warn("virtio-serial '%s': the driver failed to add port %u", s->vdev.id, id);
        }
        break;
    case VIRTIO_CONSOLE_PORT_OPEN:
        virtio_serial_port_guest_open(p, value != 0);
        break;
    default:
        log_debug("virtio-serial '%s': control event %u from the driver ignored",
                  s->vdev.id, event);
        break;
    }
}

static void process_ctrl_tx(VirtioSerial *s)
{
    VirtQueue *vq = &s->vdev.vqs[VIRTIO_SERIAL_Q_CTRL_TX];
    bool pushed = false;

    while (multiport(s) && !s->vdev.broken) {
        uint8_t hdr[VIRTIO_CONSOLE_CTRL_SIZE];
        uint32_t id;
        uint16_t event, value;
        VirtQueueElement *e;
        char *why;
        int r = virtqueue_pop(vq, &e, &why);

        if (r < 0) {
            virtio_error(&s->vdev, "control transmit queue: %s", why);
            g_free(why);
            break;
        }
        if (r == 0) {
            break;
        }
        if (e->in_num || e->out_len < sizeof(hdr)) {
            virtio_error(&s->vdev, "control message of %" G_GUINT64_FORMAT " bytes with %u "
                         "writable descriptors", e->out_len, e->in_num);
            g_free(e);
            break;
        }
        iov_to_buf(e->out_sg, e->out_num, 0, hdr, sizeof(hdr));
        virtqueue_push(vq, e, 0);
        g_free(e);
        pushed = true;
        memcpy(&id, hdr, 4);
        memcpy(&event, hdr + 4, 2);
        memcpy(&value, hdr + 6, 2);
        handle_ctrl(s, le32toh(id), le16toh(event), le16toh(value));
    }
    if (pushed) {
        virtio_notify(&s->vdev, vq);
    }
}

/* ---- the work loop ---- */

static void serial_process(VirtioSerial *s)
{
    bool more = false;

    if (!virtio_serial_live(s)) {
        return;
    }
    process_ctrl_tx(s);
    flush_ctrl(s);
    for (unsigned nr = 0; nr < VIRTIO_SERIAL_MAX_PORTS && !s->vdev.broken; nr++) {
        /* Without MULTIPORT the driver has only port 0's queues. */
        if (s->ports[nr] && (nr == 0 || multiport(s))) {
            virtio_serial_port_flush(s->ports[nr], &more);
        }
    }
    if (more && !s->vdev.broken) {
        virtio_serial_schedule(s);      /* after the loop's other sources */
    }
}

static gboolean work_cb(gpointer opaque)
{
    VirtioSerial *s = opaque;

    g_clear_pointer(&s->work, g_source_unref);
    serial_process(s);
    return G_SOURCE_REMOVE;
}

void virtio_serial_schedule(VirtioSerial *s)
{
    if (s->work) {
        return;
    }
    s->work = g_idle_source_new();
    /* Not idle priority: a busy loop (qtest, QMP) must not starve the guest. */
    g_source_set_priority(s->work, G_PRIORITY_DEFAULT);
    g_source_set_callback(s->work, work_cb, s, NULL);
    g_source_attach(s->work, s->parent.machine->ctx);   /* thread-safe; wakes the loop */
}

static void serial_queue_notify(VirtioDevice *vdev, unsigned index)
{
    virtio_serial_schedule(to_serial(vdev));
}

/*
 * Without MULTIPORT the driver cannot open port 0 (there is no control
 * queue), so the spec's single console is open from the start.
 */
static void serial_driver_ok(VirtioDevice *vdev)
{
    VirtioSerial *s = to_serial(vdev);

    if (!multiport(s) && s->ports[0]) {
        virtio_serial_port_guest_open(s->ports[0], true);
    }
    virtio_serial_schedule(s);
}

static void drop_ctrl(VirtioSerial *s)
{
    GByteArray *msg;

    while ((msg = g_queue_pop_head(&s->ctrl_out))) {
        g_byte_array_unref(msg);
    }
}

/* Driver reset (any thread, lock held): the next driver starts over. */
static void serial_vdev_reset(VirtioDevice *vdev)
{
    VirtioSerial *s = to_serial(vdev);

    s->driver_ready = false;
    s->logged_backlog = false;
    s->logged_bad_port = false;
    drop_ctrl(s);
    for (unsigned nr = 0; nr < VIRTIO_SERIAL_MAX_PORTS; nr++) {
        if (s->ports[nr]) {
            virtio_serial_port_reset(s->ports[nr]);
        }
    }
}

/* No .free: the VirtioDevice is embedded in the Device, which owns it. */
static const VirtioDeviceClass virtio_serial_class = {
    .name = "virtio-serial",
    .device_id = VIRTIO_ID_CONSOLE,
    .queue_notify = serial_queue_notify,
    .driver_ok = serial_driver_ok,
    .reset = serial_vdev_reset,
};

/* ---- the device type (hw/device.h) ---- */

static Device *find_other(Machine *m, const Device *self)
{
    GPtrArray *devs = machine_devices(m);

    for (guint i = 0; devs && i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        if (d != self && virtio_serial_is(d)) {
            return d;
        }
    }
    return NULL;
}

Device *virtio_serial_find(Machine *m)
{
    return find_other(m, NULL);
}

bool virtio_serial_port_info(Device *d, uint32_t nr, VirtioSerialPortInfo *out)
{
    VirtioSerial *s = (VirtioSerial *)d;
    VirtioSerialPort *p;

    g_assert(virtio_serial_is(d));
    p = nr < VIRTIO_SERIAL_MAX_PORTS ? s->ports[nr] : NULL;
    if (!p) {
        return false;
    }
    *out = (VirtioSerialPortInfo){ .nr = nr, .console = p->console,
                                   .guest_open = p->guest_open, .host_open = p->host_open,
                                   .to_host = p->to_host, .to_guest = p->to_guest };
    return true;
}

static bool serial_realize(Device *d, GError **err)
{
    VirtioSerial *s = (VirtioSerial *)d;
    Machine *m = d->machine;
    const char *name = d->id ? d->id : "virtio-serial-device";

    /* StratoVirt's text: ports name no device, so there can be only one. */
    if (find_other(m, d)) {
        set_error(err, "Only one virtio serial device is supported");
        return false;
    }
    virtio_device_init(&s->vdev, &virtio_serial_class, m, name,
                       VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT) |
                       VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX),
                       2 * (s->max_ports + 1), VIRTIO_SERIAL_QUEUE_SIZE,
                       VIRTIO_CONSOLE_CFG_SIZE);
    virtio_config_set_le32(&s->vdev, VIRTIO_CONSOLE_CFG_MAX_NR_PORTS, s->max_ports);
    g_queue_init(&s->ctrl_out);
    s->bounce = g_malloc(VIRTIO_SERIAL_TX_HIGH);
    log_info("virtio-serial '%s': up to %u ports", name, s->max_ports);
    return true;
}

/* Ports are created after the device and destroyed before it (newest first). */
static void serial_unrealize(Device *d)
{
    VirtioSerial *s = (VirtioSerial *)d;

    clear_source(&s->work);
    drop_ctrl(s);
    g_clear_pointer(&s->bounce, g_free);
    virtio_device_cleanup(&s->vdev);
}

static VirtioDevice *serial_virtio_device(Device *d)
{
    return &((VirtioSerial *)d)->vdev;
}

static const Property virtio_serial_props[] = {
    /* QEMU's name and default; StratoVirt's range. QEMU has no description. */
    DEFINE_PROP_RANGE("max_ports", PROP_U32, VirtioSerial, max_ports, "31", 1,
                      VIRTIO_SERIAL_MAX_PORTS, NULL),
    DEFINE_PROP_END,
};

/* ---- saved state (migration/vmstate.h) ---- */

/*
 * A chain a port was writing out is given back to its ring first, so the
 * queue state below never counts a chain that is in nobody's hands; the
 * port saves how far it got (tx_off) and resumes there.
 */
static bool serial_pre_save(void *opaque, GError **err)
{
    VirtioSerial *s = opaque;

    for (unsigned nr = 0; nr < VIRTIO_SERIAL_MAX_PORTS; nr++) {
        if (s->ports[nr]) {
            virtio_serial_port_unpop(s->ports[nr]);
        }
    }
    return true;
}

static bool serial_post_load(void *opaque, uint32_t version, GError **err)
{
    virtio_serial_schedule(opaque);
    return true;
}

/*
 * The virtio core (features, status, config, queues) and whether the driver
 * said DEVICE_READY; each port saves its own connection state. Control
 * messages still waiting for a buffer are not saved: a driver keeps control
 * buffers posted, so the backlog is empty between main-loop turns.
 */
static const VMStateDescription vmstate_virtio_serial = {
    .name = "virtio-serial",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = serial_pre_save,
    .post_load = serial_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(vdev, VirtioSerial, vmstate_virtio_device, VirtioDevice),
        VMSTATE_BOOL(driver_ready, VirtioSerial),
        VMSTATE_END_OF_LIST()
    },
};

static const char *const virtio_serial_aliases[] = { "virtio-serial-mmio", NULL };

/* The same device on either transport; only the name, bus and parent differ. */
#define VIRTIO_SERIAL_CLASS_BODY \
    .instance_size = sizeof(VirtioSerial), \
    .props = virtio_serial_props, \
    .user_creatable = true, \
    .realize = serial_realize, \
    .unrealize = serial_unrealize, \
    .virtio_device = serial_virtio_device, \
    .vmsd = &vmstate_virtio_serial

const DeviceClass virtio_serial_device_class = {
    .name = "virtio-serial-device",
    .aliases = virtio_serial_aliases,
    .parent = "virtio-device",
    /* None, as QEMU: `-device help` prints its line without a desc. */
    .description = NULL,
    .bus = DEVICE_BUS_VIRTIO,
    /* StratoVirt's microvm does not hot-plug it: its window is fixed at boot. */
    .hotpluggable = false,
    VIRTIO_SERIAL_CLASS_BODY,
};

/* q35 (docs/q35.md "virtio-pci"): the same device on virtio-pci, QEMU's class 0x0780, a communication controller. */
const DeviceClass virtio_serial_pci_device_class = {
    .name = "virtio-serial-pci",
    .parent = "virtio-pci",
    .bus = DEVICE_BUS_PCI,
    .pci_class = 0x078000,
    VIRTIO_SERIAL_CLASS_BODY,
};

bool virtio_serial_is(const Device *d)
{
    return d->klass == &virtio_serial_device_class || d->klass == &virtio_serial_pci_device_class;
}
