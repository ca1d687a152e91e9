/*
 * virtio-serial over virtio-mmio on microvm (docs/devices-virtio-serial.md),
 * driven like a guest driver: the window after the 8 slots (device id 3,
 * MULTIPORT, max_nr_ports), the control protocol (DEVICE_READY, DEVICE_ADD,
 * PORT_READY, CONSOLE_PORT, PORT_NAME, PORT_OPEN both ways), data both ways
 * through a unix socket, backpressure from a host that does not read,
 * host-side disconnects, hot-plug of a port on a chardev-add'ed chardev,
 * hostile chains, and the command-line errors.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "virtio-mmio.h"

#define SER_SLOT 8
#define SER_BASE (QVIRTIO_MICROVM_BASE + SER_SLOT * QVIRTIO_MICROVM_STRIDE)
#define SER_GSI (QVIRTIO_MICROVM_IRQ0 + SER_SLOT)
#define VIRTIO_ID_CONSOLE 3
#define F_MULTIPORT 1

enum { DEVICE_READY, DEVICE_ADD, DEVICE_REMOVE, PORT_READY, CONSOLE_PORT, RESIZE, PORT_OPEN,
       PORT_NAME };

#define NPORTQ 4            /* ports 0 and 1 are set up */
#define CTRL_BUFS 16

typedef struct Ser {
    QTestState *s;
    QVirtioMmio d;
    QGuestAlloc a;
    QVirtQueue *vq[2 * NPORTQ];  /* by queue index; ports 0, 1 and control */
    uint64_t ctrl_buf[CTRL_BUFS];
} Ser;

typedef struct Ctrl {
    uint32_t id;
    uint16_t event, value;
    char extra[64];
} Ctrl;

static unsigned qindex_rx(unsigned nr)
{
    return nr == 0 ? 0 : 2 * nr + 2;
}

static void post_ctrl_rx(Ser *t, unsigned i)
{
    unsigned head = qvirtqueue_add(t->vq[2], t->ctrl_buf[i], 64, true, false);

    qvirtqueue_kick(t->vq[2], head);
}

/* Negotiates (MULTIPORT unless told not to), queues 0..5, DRIVER_OK, control buffers posted. */
static void ser_start(Ser *t, QTestState *s, bool multiport)
{
    memset(t, 0, sizeof(*t));
    t->s = s;
    guest_alloc_init(&t->a, QTEST_ALLOC_START, QTEST_ALLOC_START + (64u << 20));
    qvirtio_mmio_init(&t->d, s, SER_BASE, SER_GSI);
    g_assert_cmpuint(qvirtio_device_id(&t->d), ==, VIRTIO_ID_CONSOLE);
    g_assert_true(qvirtio_negotiate(&t->d, multiport ? 1ull << F_MULTIPORT : 0));
    for (unsigned q = 0; q < (multiport ? 6u : 2u); q++) {
        t->vq[q] = qvirtqueue_setup(&t->d, &t->a, q, 64);
    }
    qvirtio_driver_ok(&t->d);
    for (unsigned i = 0; multiport && i < CTRL_BUFS; i++) {
        t->ctrl_buf[i] = guest_alloc(&t->a, 64, 8);
        post_ctrl_rx(t, i);
    }
}

static void ser_stop(Ser *t)
{
    for (unsigned q = 0; q < G_N_ELEMENTS(t->vq); q++) {
        g_clear_pointer(&t->vq[q], qvirtqueue_free);
    }
}

static void send_ctrl(Ser *t, uint32_t id, uint16_t event, uint16_t value)
{
    uint8_t msg[8];
    uint64_t g = guest_alloc(&t->a, 8, 8);
    unsigned head;

    memcpy(msg, &id, 4);
    memcpy(msg + 4, &event, 2);
    memcpy(msg + 6, &value, 2);
    qtest_memwrite(t->s, g, msg, sizeof(msg));
    head = qvirtqueue_add(t->vq[3], g, 8, false, false);
    qvirtqueue_kick(t->vq[3], head);
    g_assert_cmpuint(qvirtqueue_wait_used(t->vq[3], head, 5000), ==, 0);
}

/* The next control message; false if none comes. Its buffer is posted again. */
static bool recv_ctrl(Ser *t, Ctrl *c, int timeout_ms)
{
    uint32_t id, len;
    uint8_t buf[64] = { 0 };
    unsigned i;

    if (!qvirtqueue_poll_used(t->vq[2], &id, &len, timeout_ms)) {
        return false;
    }
    g_assert_cmpuint(len, >=, 8);
    g_assert_cmpuint(len, <=, 64);
    for (i = 0; i < CTRL_BUFS; i++) {
        /* Chains are single descriptors: find which buffer descriptor `id` held. */
        uint64_t addr = qtest_readq(t->s, t->vq[2]->desc + 16ull * id);
        if (addr == t->ctrl_buf[i]) {
            break;
        }
    }
    g_assert_cmpuint(i, <, CTRL_BUFS);
    qtest_memread(t->s, t->ctrl_buf[i], buf, len);
    memcpy(&c->id, buf, 4);
    memcpy(&c->event, buf + 4, 2);
    memcpy(&c->value, buf + 6, 2);
    memset(c->extra, 0, sizeof(c->extra));
    memcpy(c->extra, buf + 8, len - 8);
    post_ctrl_rx(t, i);
    return true;
}

static void expect_ctrl(Ser *t, uint32_t id, uint16_t event, uint16_t value)
{
    Ctrl c;

    if (!recv_ctrl(t, &c, 5000)) {
        g_error("no control message, expected (%u, %u, %u)", id, event, value);
    }
    if (c.id != id || c.event != event || c.value != value) {
        g_error("control message (%u, %u, %u), expected (%u, %u, %u)", c.id, c.event,
                c.value, id, event, value);
    }
}

static void expect_no_ctrl(Ser *t)
{
    Ctrl c;

    g_assert_false(recv_ctrl(t, &c, 200));
}

/* Port nr -> host: one chain of len bytes. */
static unsigned post_tx(Ser *t, unsigned nr, const void *data, uint32_t len)
{
    QVirtQueue *vq = t->vq[qindex_rx(nr) + 1];
    uint64_t g = guest_alloc(&t->a, len, 8);
    unsigned head;

    qtest_memwrite(t->s, g, data, len);
    head = qvirtqueue_add(vq, g, len, false, false);
    qvirtqueue_kick(vq, head);
    return head;
}

static unsigned post_rx(Ser *t, unsigned nr, uint64_t *g, uint32_t len)
{
    QVirtQueue *vq = t->vq[qindex_rx(nr)];
    unsigned head;

    *g = guest_alloc(&t->a, len, 8);
    head = qvirtqueue_add(vq, *g, len, true, false);
    qvirtqueue_kick(vq, head);
    return head;
}

/* A unix socket the VMM's client chardev connects to, and the accepted peer. */
static int listen_for(const char *name, char **path)
{
    *path = qtest_tmp_path(name);
    return qtest_socket_server(*path);
}

/* Device id, features, config: max_nr_ports is max_ports, one window at slot 8. */
static void test_identification(void)
{
    QTestState *s = qtest_init("-chardev null,id=c0 -device virtio-serial-device,max_ports=4 "
                               "-device virtconsole,chardev=c0");
    QVirtioMmio d;

    qvirtio_mmio_init(&d, s, SER_BASE, SER_GSI);
    g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_MAGIC), ==, QVIRTIO_MAGIC);
    g_assert_cmpuint(qvirtio_device_id(&d), ==, VIRTIO_ID_CONSOLE);
    g_assert_cmphex(qvirtio_device_features(&d), ==,
                    (1ull << F_MULTIPORT) | (1ull << QVIRTIO_F_INDIRECT_DESC) |
                    (1ull << QVIRTIO_F_EVENT_IDX) | (1ull << QVIRTIO_F_VERSION_1));
    g_assert_cmpuint(qvirtio_config_readl(&d, 4), ==, 4);
    g_assert_cmpuint(qvirtio_config_readw(&d, 0), ==, 0);
    /* 2 * (max_ports + 1) queues: 9 is the last. */
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 9);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 256);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 10);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);
    qtest_quit(s);
}

/*
 * The control protocol and data both ways: a console on port 0 whose host
 * side is connected, a named port 1 whose host side is not.
 */
static void test_ports(void)
{
    g_autofree char *path = NULL;
    int lfd = listen_for("vser-c0.sock", &path);
    QTestState *s = qtest_initf("-chardev socket,id=c0,path=%s -chardev null,id=c1 "
                                "-device virtio-serial-device -device virtconsole,chardev=c0,"
                                "id=con0 -device virtserialport,chardev=c1,name=org.test.one",
                                path);
    int fd = qtest_socket_accept(lfd);
    char got[16] = { 0 };
    uint64_t g;
    unsigned head;
    Ser t;
    Ctrl c;

    ser_start(&t, s, true);
    expect_no_ctrl(&t);               /* nothing before DEVICE_READY */
    send_ctrl(&t, 0, DEVICE_READY, 1);
    expect_ctrl(&t, 0, DEVICE_ADD, 1);
    expect_ctrl(&t, 1, DEVICE_ADD, 1);
    send_ctrl(&t, 0, PORT_READY, 1);
    expect_ctrl(&t, 0, CONSOLE_PORT, 1);
    expect_ctrl(&t, 0, PORT_OPEN, 1);      /* the socket is connected */
    send_ctrl(&t, 1, PORT_READY, 1);
    g_assert_true(recv_ctrl(&t, &c, 5000));
    g_assert_cmpuint(c.event, ==, PORT_NAME);
    g_assert_cmpstr(c.extra, ==, "org.test.one");
    expect_no_ctrl(&t);                    /* null has no peer: no PORT_OPEN */

    /* Host -> guest waits for the guest to open the port. */
    qtest_socket_write_all(fd, "hello", 5);
    head = post_rx(&t, 0, &g, 16);
    g_assert_false(qvirtqueue_poll_used(t.vq[0], &(uint32_t){0}, &(uint32_t){0}, 300));
    send_ctrl(&t, 0, PORT_OPEN, 1);
    g_assert_cmpuint(qvirtqueue_wait_used(t.vq[0], head, 5000), ==, 5);
    qtest_memread(s, g, got, 5);
    g_assert_cmpstr(got, ==, "hello");

    /* Guest -> host. */
    head = post_tx(&t, 0, "world", 5);
    g_assert_cmpuint(qvirtqueue_wait_used(t.vq[1], head, 5000), ==, 0);
    memset(got, 0, sizeof(got));
    g_assert_true(qtest_socket_read_exact(fd, got, 5, 5000));
    g_assert_cmpstr(got, ==, "world");

    /* The host hangs up: PORT_OPEN 0, and what the guest writes is returned unread. */
    close(fd);
    expect_ctrl(&t, 0, PORT_OPEN, 0);
    head = post_tx(&t, 0, "lost", 4);
    g_assert_cmpuint(qvirtqueue_wait_used(t.vq[1], head, 5000), ==, 0);
    g_assert_cmphex(qvirtio_get_status(&t.d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    ser_stop(&t);
    qtest_quit(s);
    close(lfd);
    unlink(path);
}

/*
 * A host that does not read: the device stops taking chains once the
 * chardev holds VIRTIO_SERIAL_TX_HIGH bytes (plus what the socket buffers),
 * and every byte arrives in order once the host reads.
 */
static void test_backpressure(void)
{
    enum { CHUNK = 64 * 1024, N = 48 };
    g_autofree char *path = NULL;
    int lfd = listen_for("vser-bp.sock", &path);
    QTestState *s = qtest_initf("-m 256M -chardev socket,id=c0,path=%s "
                                "-device virtio-serial-device -device virtconsole,chardev=c0",
                                path);
    int fd = qtest_socket_accept(lfd);
    g_autofree uint8_t *data = g_malloc(CHUNK * N);
    g_autofree uint8_t *back = g_malloc(CHUNK * N);
    int sndbuf = 0;
    socklen_t sl = sizeof(sndbuf);
    uint32_t id, len;
    unsigned used = 0;
    Ser t;

    for (size_t i = 0; i < (size_t)CHUNK * N; i++) {
        data[i] = (uint8_t)(i * 131 + i / 977);
    }
    ser_start(&t, s, true);
    send_ctrl(&t, 0, DEVICE_READY, 1);
    send_ctrl(&t, 0, PORT_READY, 1);
    send_ctrl(&t, 0, PORT_OPEN, 1);
    for (unsigned i = 0; i < N; i++) {
        post_tx(&t, 0, data + (size_t)i * CHUNK, CHUNK);
    }
    /* Let the main loop run as long as it wants: used chains only grow to a bound. */
    for (unsigned round = 0; round < 20; round++) {
        qtest_qmp_assert_success(s, "{'execute':'query-status'}");
        while (qvirtqueue_get_used(t.vq[1], &id, &len)) {
            used++;
        }
    }
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sndbuf, &sl);
    g_test_message("%u of %u chains taken without a reader (socket buffer %d)", used, N,
                   sndbuf);
    g_assert_cmpuint(used, <, N);
    g_assert_true(qtest_socket_read_exact(fd, back, (size_t)CHUNK * N, 20000));
    g_assert_cmpmem(back, (size_t)CHUNK * N, data, (size_t)CHUNK * N);
    while (used < N && qvirtqueue_poll_used(t.vq[1], &id, &len, 5000)) {
        used++;
    }
    g_assert_cmpuint(used, ==, N);
    ser_stop(&t);
    qtest_quit(s);
    close(fd);
    close(lfd);
    unlink(path);
}

/* Without MULTIPORT: port 0 only, open from DRIVER_OK. */
static void test_no_multiport(void)
{
    g_autofree char *path = NULL;
    int lfd = listen_for("vser-nm.sock", &path);
    QTestState *s = qtest_initf("-chardev socket,id=c0,path=%s "
                                "-device virtio-serial-device -device virtconsole,chardev=c0",
                                path);
    int fd = qtest_socket_accept(lfd);
    char got[8] = { 0 };
    uint64_t g;
    unsigned head;
    Ser t;

    ser_start(&t, s, false);
    head = post_rx(&t, 0, &g, 8);
    qtest_socket_write_all(fd, "abc", 3);
    g_assert_cmpuint(qvirtqueue_wait_used(t.vq[0], head, 5000), ==, 3);
    qtest_memread(s, g, got, 3);
    g_assert_cmpstr(got, ==, "abc");
    ser_stop(&t);
    qtest_quit(s);
    close(fd);
    close(lfd);
    unlink(path);
}

/*
 * device_add of a port on a chardev-add'ed chardev: DEVICE_ADD reaches the
 * driver, chardev-remove is refused while the port holds it, device_del
 * sends DEVICE_REMOVE and frees the chardev.
 */
static void test_hotplug(void)
{
    QTestState *s = qtest_init("-chardev null,id=c0 -device virtio-serial-device,id=vser "
                               "-device virtconsole,chardev=c0");
    JsonNode *rep;
    Ser t;

    ser_start(&t, s, true);
    send_ctrl(&t, 0, DEVICE_READY, 1);
    expect_ctrl(&t, 0, DEVICE_ADD, 1);
    qtest_qmp_assert_success(s, "{'execute':'chardev-add','arguments':{'id':'h1',"
                                "'backend':{'type':'null','data':{}}}}");
    qtest_qmp_assert_success(s, "{'execute':'device_add','arguments':{'driver':'virtserialport',"
                                "'id':'p3','chardev':'h1','nr':3,'bus':'vser.0'}}");
    expect_ctrl(&t, 3, DEVICE_ADD, 1);
    rep = qtest_qmp(s, "{'execute':'chardev-remove','arguments':{'id':'h1'}}");
    g_assert_cmpstr(qmp_error_desc(rep), ==, "Chardev 'h1' is busy");
    json_node_unref(rep);
    rep = qtest_qmp(s, "{'execute':'device_add','arguments':{'driver':'virtserialport',"
                       "'id':'p4','chardev':'h1'}}");
    g_assert_cmpstr(qmp_error_desc(rep), ==, "Chardev \"h1\" not found or is in use");
    json_node_unref(rep);
    qtest_qmp_assert_success(s, "{'execute':'device_del','arguments':{'id':'p3'}}");
    expect_ctrl(&t, 3, DEVICE_REMOVE, 1);
    qtest_qmp_assert_success(s, "{'execute':'chardev-remove','arguments':{'id':'h1'}}");
    /* The serial device itself stays put (StratoVirt's microvm). */
    rep = qtest_qmp(s, "{'execute':'device_del','arguments':{'id':'vser'}}");
    g_assert_cmpstr(qmp_error_desc(rep), ==, "Device 'vser' does not support hotplugging");
    json_node_unref(rep);
    ser_stop(&t);
    qtest_quit(s);
}

/* Each way a chain can be hostile breaks the device (NEEDS_RESET), never the VMM. */
typedef enum {
    H_CTRL_SHORT,        /* a 4-byte control message */
    H_CTRL_WRITABLE,     /* a control message with a device-writable part */
    H_CTRL_RX_READABLE,  /* a control receive buffer the device may only read */
    H_CTRL_RX_SHORT,     /* a 4-byte control receive buffer */
    H_TX_WRITABLE,       /* a transmit chain with a device-writable part */
    H_RX_READABLE,       /* a receive chain with a device-readable part */
    H_OUTSIDE_RAM,       /* a transmit buffer beyond guest RAM */
} Hostile;

static void hostile_chain(Ser *t, int fd, Hostile h)
{
    uint64_t g = guest_alloc(&t->a, 64, 8);
    unsigned head;

    switch (h) {
    case H_CTRL_SHORT:
        head = qvirtqueue_add(t->vq[3], g, 4, false, false);
        qvirtqueue_kick(t->vq[3], head);
        break;
    case H_CTRL_WRITABLE:
        head = qvirtqueue_add(t->vq[3], g, 8, false, true);
        qvirtqueue_add(t->vq[3], g + 8, 8, true, false);
        qvirtqueue_kick(t->vq[3], head);
        break;
    case H_CTRL_RX_READABLE:
    case H_CTRL_RX_SHORT:
        /* Replace the posted control buffers: a fresh queue 2 with only the bad one. */
        qvirtio_reset(&t->d);
        ser_stop(t);
        g_assert_true(qvirtio_negotiate(&t->d, 1ull << F_MULTIPORT));
        for (unsigned q = 0; q < 6; q++) {
            t->vq[q] = qvirtqueue_setup(&t->d, &t->a, q, 64);
        }
        qvirtio_driver_ok(&t->d);
        head = qvirtqueue_add(t->vq[2], g, h == H_CTRL_RX_SHORT ? 4 : 64,
                              h == H_CTRL_RX_SHORT, false);
        qvirtqueue_kick(t->vq[2], head);
        send_ctrl(t, 0, DEVICE_READY, 1);
        break;
    case H_TX_WRITABLE:
        head = qvirtqueue_add(t->vq[1], g, 8, false, true);
        qvirtqueue_add(t->vq[1], g + 8, 8, true, false);
        qvirtqueue_kick(t->vq[1], head);
        break;
    case H_RX_READABLE:
        head = qvirtqueue_add(t->vq[0], g, 8, false, true);
        qvirtqueue_add(t->vq[0], g + 8, 8, true, false);
        qvirtqueue_kick(t->vq[0], head);
        qtest_socket_write_all(fd, "x", 1);
        break;
    case H_OUTSIDE_RAM:
        head = qvirtqueue_add(t->vq[1], 0x7ff00000ull, 64, false, false);
        qvirtqueue_kick(t->vq[1], head);
        break;
    }
}

static void test_hostile(gconstpointer opaque)
{
    Hostile h = (Hostile)GPOINTER_TO_INT(opaque);
    g_autofree char *path = NULL;
    int lfd = listen_for("vser-h.sock", &path);
    QTestState *s = qtest_initf("-m 256M -chardev socket,id=c0,path=%s "
                                "-device virtio-serial-device -device virtconsole,chardev=c0",
                                path);
    int fd = qtest_socket_accept(lfd);
    Ser t;

    ser_start(&t, s, true);
    send_ctrl(&t, 0, DEVICE_READY, 1);
    send_ctrl(&t, 0, PORT_READY, 1);
    send_ctrl(&t, 0, PORT_OPEN, 1);
    hostile_chain(&t, fd, h);
    for (unsigned i = 0; i < 500 && !(qvirtio_get_status(&t.d) & QVIRTIO_S_NEEDS_RESET); i++) {
        qtest_qmp_assert_success(s, "{'execute':'query-status'}");
    }
    g_assert_cmphex(qvirtio_get_status(&t.d) & QVIRTIO_S_NEEDS_RESET, ==,
                    QVIRTIO_S_NEEDS_RESET);
    g_assert_cmphex(qvirtio_isr(&t.d) & QVIRTIO_INT_CONFIG, ==, QVIRTIO_INT_CONFIG);
    /* A reset brings it back: the console works again. */
    ser_stop(&t);
    ser_start(&t, s, true);
    send_ctrl(&t, 0, DEVICE_READY, 1);
    expect_ctrl(&t, 0, DEVICE_ADD, 1);
    ser_stop(&t);
    qtest_quit(s);
    close(fd);
    close(lfd);
    unlink(path);
}

/* Control events for ports that do not exist are ignored; the device stays usable. */
static void test_unknown_port(void)
{
    QTestState *s = qtest_init("-chardev null,id=c0 -device virtio-serial-device "
                               "-device virtconsole,chardev=c0");
    Ser t;

    ser_start(&t, s, true);
    send_ctrl(&t, 7, PORT_READY, 1);
    send_ctrl(&t, 0xffffffffu, PORT_OPEN, 1);
    send_ctrl(&t, 0, 99, 1);
    expect_no_ctrl(&t);
    send_ctrl(&t, 0, DEVICE_READY, 1);
    expect_ctrl(&t, 0, DEVICE_ADD, 1);
    g_assert_cmphex(qvirtio_get_status(&t.d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    ser_stop(&t);
    qtest_quit(s);
}

static void expect_cmdline_error(const char *args, const char *text)
{
    g_autofree char *full = g_strdup_printf("-accel qtest -machine microvm %s", args);
    g_autofree char *want = g_strdup_printf("stratus: error: %s\n", text);
    QTestState *s = qtest_spawn_raw(full);
    int status = qtest_wait_exit(s, 10000);

    g_assert_cmpint(status, ==, 1);
    /* One line: the error and nothing else. */
    if (strcmp(qtest_stderr(s), want)) {
        g_error("'%s': stderr '%s', expected '%s'", args, qtest_stderr(s), want);
    }
    qtest_set_expected_status(s, 1);
    qtest_quit(s);
}

/* StratoVirt's texts for the port rules. */
static void test_cmdline_errors(void)
{
    expect_cmdline_error("-chardev null,id=c0 -device virtconsole,chardev=c0",
                         "No virtio serial device specified");
    expect_cmdline_error("-device virtio-serial-device -device virtio-serial-device",
                         "Only one virtio serial device is supported");
    expect_cmdline_error("-device virtio-serial-device -device virtconsole",
                         "'chardev' is missing for 'virtconsole' device.");
    expect_cmdline_error("-device virtio-serial-device -device virtconsole,chardev=nope",
                         "Chardev \"nope\" not found or is in use");
    expect_cmdline_error("-chardev null,id=c0 -device virtio-serial-device "
                         "-device virtserialport,chardev=c0,nr=0",
                         "Port number 0 on virtio-serial devices reserved for virtconsole device.");
    expect_cmdline_error("-chardev null,id=c0 -device virtio-serial-device,max_ports=2 "
                         "-device virtserialport,chardev=c0,nr=2",
                         "virtio serial port nr 2 should be less than virtio serial's "
                         "max_nr_ports 2");
    expect_cmdline_error("-chardev null,id=c0 -chardev null,id=c1 -device virtio-serial-device "
                         "-device virtconsole,chardev=c0 -device virtconsole,chardev=c1,nr=0",
                         "Repetitive virtio serial port nr 0.");
    expect_cmdline_error("-chardev null,id=c0 -device virtio-serial-device "
                         "-device virtconsole,chardev=c0 -device virtserialport,chardev=c0",
                         "Chardev \"c0\" not found or is in use");
    expect_cmdline_error("-device virtio-serial-device,max_ports=32",
                         "Property virtio-serial-device.max_ports doesn't take value 32 "
                         "(minimum: 1, maximum: 31)");
    expect_cmdline_error("-chardev null,id=c0 -chardev null,id=c1 -device virtio-serial-device "
                         "-device virtserialport,chardev=c0,name=a -device "
                         "virtserialport,chardev=c1,name=a",
                         "virtio-serial-bus: A port already exists by name a");
    expect_cmdline_error("-chardev null,id=c0 -device virtio-serial-device,id=vs "
                         "-device virtconsole,chardev=c0,bus=other.0", "Bus 'other.0' not found");
}

int main(int argc, char **argv)
{
    static const char *const hostile_names[] = {
        "ctrl-short", "ctrl-writable", "ctrl-rx-readable", "ctrl-rx-short", "tx-writable",
        "rx-readable", "outside-ram",
    };

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-serial/identification", test_identification);
    g_test_add_func("/virtio-serial/ports", test_ports);
    g_test_add_func("/virtio-serial/backpressure", test_backpressure);
    g_test_add_func("/virtio-serial/no-multiport", test_no_multiport);
    g_test_add_func("/virtio-serial/hotplug", test_hotplug);
    g_test_add_func("/virtio-serial/unknown-port", test_unknown_port);
    g_test_add_func("/virtio-serial/cmdline-errors", test_cmdline_errors);
    for (unsigned i = 0; i < G_N_ELEMENTS(hostile_names); i++) {
        g_autofree char *name = g_strdup_printf("/virtio-serial/hostile/%s", hostile_names[i]);
        g_test_add_data_func(name, GINT_TO_POINTER((int)i), test_hostile);
    }
    return g_test_run();
}
