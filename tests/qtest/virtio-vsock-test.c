/*
 * virtio-vsock-device over virtio-mmio on microvm (docs/devices-vsock.md),
 * driven like a guest driver: the window after the 8 slots (device id 19,
 * GSI 13) and its config, both connection directions of the hybrid unix
 * socket convention with data each way, refusals, hostile packets and
 * descriptors, and the command-line errors of both vsock types.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "virtio-mmio.h"

#define VSOCK_SLOT 8
#define VSOCK_BASE (QVIRTIO_MICROVM_BASE + VSOCK_SLOT * QVIRTIO_MICROVM_STRIDE)
#define VSOCK_GSI (QVIRTIO_MICROVM_IRQ0 + VSOCK_SLOT)
#define VIRTIO_ID_VSOCK 19
#define GUEST_CID 42
#define HDR 44
#define RX_BUFS 16
#define RX_PAYLOAD 4096
#define TMO 5000

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE,
       OP_CREDIT_REQUEST };

typedef struct __attribute__((packed)) Hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} Hdr;

typedef struct V {
    QTestState *s;
    QVirtioMmio d;
    QGuestAlloc a;
    QVirtQueue *rx, *tx, *ev;
    uint64_t rxbuf[RX_BUFS];    /* by descriptor index (rx chains are one descriptor) */
    uint64_t txbuf;
    char *uds;
} V;

static void post_rx(V *v, unsigned i)
{
    unsigned head = qvirtqueue_add(v->rx, v->rxbuf[i], HDR + RX_PAYLOAD, true, false);

    g_assert_cmpuint(head, ==, i);
    qvirtqueue_kick(v->rx, head);
}

static void v_start(V *v)
{
    g_assert_cmpuint(qvirtio_device_id(&v->d), ==, VIRTIO_ID_VSOCK);
    g_assert_true(qvirtio_negotiate(&v->d, qvirtio_device_features(&v->d)));
    v->rx = qvirtqueue_setup(&v->d, &v->a, 0, RX_BUFS);
    v->tx = qvirtqueue_setup(&v->d, &v->a, 1, 16);
    v->ev = qvirtqueue_setup(&v->d, &v->a, 2, 4);
    qvirtio_driver_ok(&v->d);
    for (unsigned i = 0; i < RX_BUFS; i++) {
        post_rx(v, i);
    }
}

static void v_init(V *v, const char *extra)
{
    v->uds = qtest_tmp_path("vsock.sock");
    unlink(v->uds);
    v->s = qtest_initf("-device virtio-vsock-device,id=vs0,guest-cid=%d,uds-path=%s %s",
                       GUEST_CID, v->uds, extra ? extra : "");
    guest_alloc_init(&v->a, QTEST_ALLOC_START, QTEST_ALLOC_START + (16u << 20));
    qvirtio_mmio_init(&v->d, v->s, VSOCK_BASE, VSOCK_GSI);
    for (unsigned i = 0; i < RX_BUFS; i++) {
        v->rxbuf[i] = guest_alloc(&v->a, HDR + RX_PAYLOAD, 16);
    }
    v->txbuf = guest_alloc(&v->a, HDR + 65536, 16);
    v_start(v);
}

static void v_quit(V *v)
{
    g_clear_pointer(&v->rx, qvirtqueue_free);
    g_clear_pointer(&v->tx, qvirtqueue_free);
    g_clear_pointer(&v->ev, qvirtqueue_free);
    qtest_quit(v->s);
    g_free(v->uds);
}

/* The next packet to the guest (payload into buf, at most RX_PAYLOAD); the buffer goes back. */
static bool v_recv_tmo(V *v, Hdr *h, void *buf, int tmo)
{
    uint32_t id, len;

    if (!qvirtqueue_poll_used(v->rx, &id, &len, tmo)) {
        return false;
    }
    g_assert_cmpuint(id, <, RX_BUFS);
    g_assert_cmpuint(len, >=, HDR);
    qtest_memread(v->s, v->rxbuf[id], h, HDR);
    g_assert_cmpuint(len, ==, HDR + h->len);
    g_assert_cmpuint(h->src_cid, ==, 2);
    g_assert_cmpuint(h->dst_cid, ==, GUEST_CID);
    g_assert_cmpuint(h->type, ==, 1);
    g_assert_cmpuint(h->buf_alloc, ==, 65536);
    if (buf && h->len) {
        qtest_memread(v->s, v->rxbuf[id] + HDR, buf, h->len);
    }
    post_rx(v, id);
    return true;
}

#define v_recv(v, h, buf) g_assert_true(v_recv_tmo(v, h, buf, TMO))

/* One tx packet, waited for; the fields not named are a well-behaved guest's. */
static void v_send_hdr(V *v, const Hdr *h, const void *data, uint32_t len)
{
    unsigned head;

    qtest_memwrite(v->s, v->txbuf, h, HDR);
    if (len) {
        qtest_memwrite(v->s, v->txbuf + HDR, data, len);
    }
    head = qvirtqueue_add(v->tx, v->txbuf, HDR + len, false, false);
    qvirtqueue_kick(v->tx, head);
    g_assert_cmpuint(qvirtqueue_wait_used(v->tx, head, TMO), ==, 0);
}

static void v_send(V *v, uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t flags,
                   const void *data, uint32_t len)
{
    Hdr h = { .src_cid = GUEST_CID, .dst_cid = 2, .src_port = src_port, .dst_port = dst_port,
              .len = len, .type = 1, .op = op, .flags = flags, .buf_alloc = 65536 };

    v_send_hdr(v, &h, data, len);
}

static int host_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    strcpy(sa.sun_path, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

/* Reads a "\n"-terminated line (bounded). */
static char *read_line(int fd)
{
    char buf[64];
    size_t n = 0;

    while (n < sizeof(buf) - 1) {
        g_assert_true(qtest_socket_read_exact(fd, buf + n, 1, TMO));
        if (buf[n++] == '\n') {
            break;
        }
    }
    buf[n] = '\0';
    return g_strdup(buf);
}

static bool host_eof(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char c;

    /* A close with unread bytes in our direction is a reset (ECONNRESET). */
    return poll(&p, 1, TMO) == 1 && read(fd, &c, 1) <= 0;
}

/* ---- tests ---- */

static void test_identification(void)
{
    V v = { 0 };
    uint64_t f;

    v_init(&v, NULL);
    g_assert_cmphex(qvirtio_readl(&v.d, QVIRTIO_MMIO_MAGIC), ==, QVIRTIO_MAGIC);
    f = qvirtio_device_features(&v.d);
    g_assert_cmphex(f, ==, (1ULL << QVIRTIO_F_VERSION_1) | (1ULL << QVIRTIO_F_EVENT_IDX) |
                            (1ULL << QVIRTIO_F_INDIRECT_DESC));
    g_assert_cmpuint(qvirtio_config_readq(&v.d, 0), ==, GUEST_CID);
    qvirtio_writel(&v.d, QVIRTIO_MMIO_QUEUE_SEL, 3);
    g_assert_cmpuint(qvirtio_readl(&v.d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);
    qvirtio_writel(&v.d, QVIRTIO_MMIO_QUEUE_SEL, 0);
    g_assert_cmpuint(qvirtio_readl(&v.d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 256);
    v_quit(&v);
}

/* Host connects with CONNECT; the guest accepts; bytes both ways; the guest closes. */
static void test_host_connect(void)
{
    V v = { 0 };
    Hdr h;
    char buf[RX_PAYLOAD];
    g_autofree char *line = NULL, *want = NULL;
    uint32_t hostport;
    int fd;

    v_init(&v, NULL);
    fd = host_connect(v.uds);
    qtest_socket_write_all(fd, "CONNECT 1234\nhello", 18);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_REQUEST);
    g_assert_cmpuint(h.dst_port, ==, 1234);
    g_assert_cmpuint(h.src_port, >=, 1u << 30);
    hostport = h.src_port;
    v_send(&v, 1234, hostport, OP_RESPONSE, 0, NULL, 0);
    line = read_line(fd);
    want = g_strdup_printf("OK %u\n", hostport);
    g_assert_cmpstr(line, ==, want);
    /* What followed the CONNECT line is the stream's first bytes. */
    v_recv(&v, &h, buf);
    g_assert_cmpuint(h.op, ==, OP_RW);
    g_assert_cmpuint(h.src_port, ==, hostport);
    g_assert_cmpuint(h.len, ==, 5);
    g_assert_cmpmem(buf, 5, "hello", 5);
    v_send(&v, 1234, hostport, OP_RW, 0, "world!", 6);
    g_assert_true(qtest_socket_read_exact(fd, buf, 6, TMO));
    g_assert_cmpmem(buf, 6, "world!", 6);
    /* Credit asked for: answered with our fwd_cnt (6 bytes forwarded). */
    v_send(&v, 1234, hostport, OP_CREDIT_REQUEST, 0, NULL, 0);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_CREDIT_UPDATE);
    g_assert_cmpuint(h.fwd_cnt, ==, 6);
    /* The guest closes both ways: RST back, the host sees the end. */
    v_send(&v, 1234, hostport, OP_SHUTDOWN, 3, NULL, 0);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    g_assert_true(host_eof(fd));
    close(fd);
    v_quit(&v);
}

/* The guest connects to port 5000: "<uds-path>_5000"; the host closes first. */
static void test_guest_connect(void)
{
    V v = { 0 };
    Hdr h;
    char buf[RX_PAYLOAD];
    g_autofree char *lpath = NULL;
    int lfd, fd;

    v_init(&v, NULL);
    lpath = g_strdup_printf("%s_5000", v.uds);
    lfd = qtest_socket_server(lpath);
    v_send(&v, 777, 5000, OP_REQUEST, 0, NULL, 0);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RESPONSE);
    g_assert_cmpuint(h.src_port, ==, 5000);
    g_assert_cmpuint(h.dst_port, ==, 777);
    fd = qtest_socket_accept(lfd);
    v_send(&v, 777, 5000, OP_RW, 0, "ping", 4);
    g_assert_true(qtest_socket_read_exact(fd, buf, 4, TMO));
    g_assert_cmpmem(buf, 4, "ping", 4);
    qtest_socket_write_all(fd, "pong", 4);
    v_recv(&v, &h, buf);
    g_assert_cmpuint(h.op, ==, OP_RW);
    g_assert_cmpmem(buf, h.len, "pong", 4);
    close(fd);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_SHUTDOWN);
    g_assert_cmpuint(h.flags, ==, 2);
    v_send(&v, 777, 5000, OP_RST, 0, NULL, 0);
    /* Nothing listens on 5001: refused with RST. */
    v_send(&v, 778, 5001, OP_REQUEST, 0, NULL, 0);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    g_assert_cmpuint(h.src_port, ==, 5001);
    g_assert_cmpuint(h.dst_port, ==, 778);
    close(lfd);
    unlink(lpath);
    v_quit(&v);
}

/* A bad CONNECT line closes the host's socket; the guest hears nothing of it. */
static void test_bad_handshake(void)
{
    static const char *const lines[] = { "CONNECT\n", "CONNECT x\n", "connect 1\n",
                                         "CONNECT 99999999999\n",
                                         "CONNECT 11111111111111111111111111111111111\n" };
    V v = { 0 };
    Hdr h;

    v_init(&v, NULL);
    for (unsigned i = 0; i < G_N_ELEMENTS(lines); i++) {
        int fd = host_connect(v.uds);

        qtest_socket_write_all(fd, lines[i], strlen(lines[i]));
        g_assert_true(host_eof(fd));
        close(fd);
    }
    g_assert_false(v_recv_tmo(&v, &h, NULL, 100));
    v_quit(&v);
}

/*
 * Packets well formed as buffers but wrong as vsock: answered with RST
 * (a foreign source CID: dropped), and the device keeps working.
 */
static void test_hostile_packets(void)
{
    V v = { 0 };
    Hdr h, bad;
    const Hdr good = { .src_cid = GUEST_CID, .dst_cid = 2, .src_port = 10, .dst_port = 20,
                       .type = 1, .buf_alloc = 65536 };

    v_init(&v, NULL);
    bad = good;
    bad.op = 42;
    v_send_hdr(&v, &bad, NULL, 0);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    g_assert_cmpuint(h.dst_port, ==, 10);
    bad = good;
    bad.op = OP_REQUEST;
    bad.type = 2;                       /* seqpacket: not offered */
    v_send_hdr(&v, &bad, NULL, 0);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    bad = good;
    bad.op = OP_RW;
    bad.len = 1u << 20;                 /* beyond the buffer and the packet limit */
    v_send_hdr(&v, &bad, "x", 1);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    bad = good;
    bad.op = OP_RW;                     /* data for no connection */
    bad.len = 1;
    v_send_hdr(&v, &bad, "x", 1);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    bad = good;
    bad.op = OP_REQUEST;
    bad.dst_cid = 7;                    /* not the host */
    v_send_hdr(&v, &bad, NULL, 0);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    bad = good;
    bad.op = OP_REQUEST;
    bad.src_cid = 99;                   /* not the guest's: dropped */
    v_send_hdr(&v, &bad, NULL, 0);
    g_assert_false(v_recv_tmo(&v, &h, NULL, 100));
    bad = good;
    bad.op = OP_RST;                    /* RST for nothing: no answer */
    v_send_hdr(&v, &bad, NULL, 0);
    g_assert_false(v_recv_tmo(&v, &h, NULL, 100));
    g_assert_cmphex(qvirtio_get_status(&v.d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    v_quit(&v);
}

typedef enum { HD_TX_WRITABLE, HD_TX_SHORT, HD_RX_READABLE, HD_RX_SHORT, HD_OUT_OF_RAM } HostileDesc;

/* Malformed chains break the device (NEEDS_RESET); a reset brings it back. */
static void test_hostile_desc(gconstpointer opaque)
{
    HostileDesc k = GPOINTER_TO_INT(opaque);
    V v = { 0 };
    uint64_t g;
    unsigned head;
    Hdr h;

    v_init(&v, "-m 256M");
    g = guest_alloc(&v.a, 128, 16);
    switch (k) {
    case HD_TX_WRITABLE:
        head = qvirtqueue_add(v.tx, g, 128, true, false);
        qvirtqueue_kick(v.tx, head);
        break;
    case HD_TX_SHORT:
        head = qvirtqueue_add(v.tx, g, 10, false, false);
        qvirtqueue_kick(v.tx, head);
        break;
    case HD_OUT_OF_RAM:
        head = qvirtqueue_add(v.tx, 0xE0000000ULL, 64, false, false);
        qvirtqueue_kick(v.tx, head);
        break;
    case HD_RX_READABLE:
    case HD_RX_SHORT:
    default:
        /* Replace the posted rx buffers by one bad one (fresh queue). */
        qvirtio_reset(&v.d);
        g_clear_pointer(&v.rx, qvirtqueue_free);
        g_clear_pointer(&v.tx, qvirtqueue_free);
        g_clear_pointer(&v.ev, qvirtqueue_free);
        g_assert_true(qvirtio_negotiate(&v.d, qvirtio_device_features(&v.d)));
        v.rx = qvirtqueue_setup(&v.d, &v.a, 0, RX_BUFS);
        v.tx = qvirtqueue_setup(&v.d, &v.a, 1, 16);
        v.ev = qvirtqueue_setup(&v.d, &v.a, 2, 4);
        qvirtio_driver_ok(&v.d);
        head = qvirtqueue_add(v.rx, g, k == HD_RX_SHORT ? 20 : 128, k == HD_RX_SHORT, false);
        qvirtqueue_kick(v.rx, head);
        /* Something for it: a refused REQUEST's RST. */
        v_send(&v, 1, 2, OP_REQUEST, 0, NULL, 0);
        break;
    }
    for (int i = 0; i < 200 && !(qvirtio_get_status(&v.d) & QVIRTIO_S_NEEDS_RESET); i++) {
        g_usleep(2000);
    }
    g_assert_cmphex(qvirtio_get_status(&v.d) & QVIRTIO_S_NEEDS_RESET, ==, QVIRTIO_S_NEEDS_RESET);
    g_assert_cmphex(qvirtio_isr(&v.d) & QVIRTIO_INT_CONFIG, ==, QVIRTIO_INT_CONFIG);
    /* Reset and start again: a refused REQUEST is answered. */
    qvirtio_reset(&v.d);
    g_clear_pointer(&v.rx, qvirtqueue_free);
    g_clear_pointer(&v.tx, qvirtqueue_free);
    g_clear_pointer(&v.ev, qvirtqueue_free);
    v_start(&v);
    v_send(&v, 1, 2, OP_REQUEST, 0, NULL, 0);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    v_quit(&v);
}

/* A driver reset closes every connection: the host sees the end. */
static void test_reset_closes(void)
{
    V v = { 0 };
    Hdr h;
    int fd;

    v_init(&v, NULL);
    fd = host_connect(v.uds);
    qtest_socket_write_all(fd, "CONNECT 80\n", 11);
    v_recv(&v, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_REQUEST);
    v_send(&v, 80, h.src_port, OP_RESPONSE, 0, NULL, 0);
    g_free(read_line(fd));
    qvirtio_reset(&v.d);
    g_assert_true(host_eof(fd));
    close(fd);
    g_clear_pointer(&v.rx, qvirtqueue_free);
    g_clear_pointer(&v.tx, qvirtqueue_free);
    g_clear_pointer(&v.ev, qvirtqueue_free);
    qtest_quit(v.s);
    g_free(v.uds);
}

static void expect_error(const char *args, const char *msg)
{
    g_autofree char *full = g_strdup_printf("-accel qtest -machine microvm %s", args);
    g_autofree char *want = g_strdup_printf("stratus: error: %s\n", msg);

    qtest_expect_startup_error(full, want);
}

static void test_cli_errors(void)
{
    g_autofree char *uds = qtest_tmp_path("vsock-cli.sock");
    g_autofree char *a = NULL;
    g_autofree char *longp = g_strnfill(100, 'x');
    struct stat st;

    unlink(uds);
    a = g_strdup_printf("-device virtio-vsock-device,id=v,uds-path=%s", uds);
    expect_error(a, "'guest-cid' is missing for 'vsock' device.");
    g_clear_pointer(&a, g_free);
    a = g_strdup_printf("-device virtio-vsock-device,id=v,guest-cid=2,uds-path=%s", uds);
    expect_error(a, "Vsock guest-cid must >= 3 and < 4294967295.");
    g_clear_pointer(&a, g_free);
    a = g_strdup_printf("-device virtio-vsock-device,id=v,guest-cid=4294967295,uds-path=%s", uds);
    expect_error(a, "Vsock guest-cid must >= 3 and < 4294967295.");
    g_clear_pointer(&a, g_free);
    expect_error("-device virtio-vsock-device,id=v,guest-cid=3",
                 "'uds-path' is missing for 'vsock' device.");
    a = g_strdup_printf("-device virtio-vsock-device,id=v,guest-cid=3,uds-path=/tmp/%s", longp);
    expect_error(a, "uds-path '/tmp/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is too long: at most 96 bytes, so that "
                 "'<uds-path>_<port>' fits a unix socket address");
    g_clear_pointer(&a, g_free);
    expect_error("-device virtio-vsock-device,id=v,guest-cid=3,uds-path=/nonexistent/dir/s",
                 "Failed to listen on vsock uds-path '/nonexistent/dir/s': "
                 "No such file or directory");
    a = g_strdup_printf("-device virtio-vsock-device,id=v,guest-cid=3,uds-path=%s "
                        "-device virtio-vsock-device,id=w,guest-cid=4,uds-path=%s_2", uds, uds);
    expect_error(a, "Only one vsock device is supported for each vm.");
    g_clear_pointer(&a, g_free);
    /* The first device's socket is gone with it. */
    g_assert_cmpint(stat(uds, &st), <, 0);
    a = g_strdup_printf("-device virtio-vsock-device,id=v,guest-cid=3,uds-path=%s,addr=0x8", uds);
    expect_error(a, "Invalid addr for device v: virtio-vsock-device is not a "
                 "replaceable device");
    g_clear_pointer(&a, g_free);
    expect_error("-device vhost-vsock-device,id=v", "'guest-cid' is missing for 'vsock' device.");
    expect_error("-device vhost-vsock-device,id=v,guest-cid=1",
                 "Vsock guest-cid must >= 3 and < 4294967295.");
    if (access("/dev/vhost-vsock", F_OK) == 0) {
        g_test_message("/dev/vhost-vsock exists here: its absence is not checked");
    } else {
        expect_error("-device vhost-vsock-device,id=v,guest-cid=3",
                     "vhost-vsock-device: cannot open /dev/vhost-vsock: No such file or "
                     "directory (the host needs the vhost_vsock module; virtio-vsock-device "
                     "works without it)");
    }
    expect_error("-device vhost-vsock-device,id=v,guest-cid=3,vhostfd=999",
                 "vhost-vsock-device: vhostfd '999' is not an open file descriptor");
}

/* Not hot-pluggable on microvm (StratoVirt's texts). */
static void test_hotplug_refused(void)
{
    V v = { 0 };
    JsonNode *rep;

    v_init(&v, NULL);
    rep = qtest_qmp(v.s, "{'execute':'device_add','arguments':{'driver':'vhost-vsock-device',"
                         "'id':'v1','guest-cid':5}}");
    g_assert_cmpstr(qmp_error_desc(rep), ==, "Unsupported replaceable device type.");
    json_node_unref(rep);
    rep = qtest_qmp(v.s, "{'execute':'device_del','arguments':{'id':'vs0'}}");
    g_assert_cmpstr(qmp_error_desc(rep), ==, "Device 'vs0' does not support hotplugging");
    json_node_unref(rep);
    v_quit(&v);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-vsock/identification", test_identification);
    g_test_add_func("/virtio-vsock/host-connect", test_host_connect);
    g_test_add_func("/virtio-vsock/guest-connect", test_guest_connect);
    g_test_add_func("/virtio-vsock/bad-handshake", test_bad_handshake);
    g_test_add_func("/virtio-vsock/hostile-packets", test_hostile_packets);
    g_test_add_data_func("/virtio-vsock/hostile-desc/tx-writable",
                         GINT_TO_POINTER(HD_TX_WRITABLE), test_hostile_desc);
    g_test_add_data_func("/virtio-vsock/hostile-desc/tx-short", GINT_TO_POINTER(HD_TX_SHORT),
                         test_hostile_desc);
    g_test_add_data_func("/virtio-vsock/hostile-desc/tx-out-of-ram",
                         GINT_TO_POINTER(HD_OUT_OF_RAM), test_hostile_desc);
    g_test_add_data_func("/virtio-vsock/hostile-desc/rx-readable",
                         GINT_TO_POINTER(HD_RX_READABLE), test_hostile_desc);
    g_test_add_data_func("/virtio-vsock/hostile-desc/rx-short", GINT_TO_POINTER(HD_RX_SHORT),
                         test_hostile_desc);
    g_test_add_func("/virtio-vsock/reset-closes", test_reset_closes);
    g_test_add_func("/virtio-vsock/hotplug-refused", test_hotplug_refused);
    g_test_add_func("/virtio-vsock/cli-errors", test_cli_errors);
    return g_test_run();
}
