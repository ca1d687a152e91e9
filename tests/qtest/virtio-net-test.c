/*
 * virtio-net over virtio-mmio on microvm (docs/net.md), driven like a guest
 * driver: the net slots (device id 1, MAC and STATUS in config), feature
 * negotiation, frames both ways through a back end the test owns (one end of
 * a socketpair given as -netdev socket,fd=N: one frame per datagram), the
 * control queue, hostile rx/tx chains, and the socket back end's errors.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "virtio-mmio.h"

/* Net slot 0 is microvm window 6 (after the 6 block slots), GSI 11. */
#define NET_SLOT0 6
#define VIRTIO_ID_NET 1

#define F_CSUM        0
#define F_MAC         5
#define F_MRG_RXBUF   15
#define F_STATUS      16
#define F_CTRL_VQ     17
#define F_CTRL_RX     18
#define F_CTRL_VLAN   19
#define F_GUEST_ANNOUNCE 21
#define F_MQ          22
#define F_CTRL_MAC_ADDR 23

#define CFG_MAC    0
#define CFG_STATUS 6
#define CFG_MAX_VQP 8

#define HDR_LEN 12
#define RX_BUF 1526

typedef struct Net {
    QTestState *s;
    QVirtioMmio d;
    QGuestAlloc a;
    QVirtQueue *rxq, *txq, *ctrlq;
    int host;                   /* our end of the wire (-1: no back end) */
} Net;

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

/*
 * Starts a VM whose netdev n0 is the other end of a socketpair of `type`
 * (the child inherits it; our copy is closed once it runs).
 */
static QTestState *start_with_socket(Net *n, int type, const char *extra)
{
    int sv[2];

    memset(n, 0, sizeof(*n));
    g_assert_cmpint(socketpair(AF_UNIX, type, 0, sv), ==, 0);
    fcntl(sv[0], F_SETFD, FD_CLOEXEC);
    n->s = qtest_initf("-netdev socket,id=n0,fd=%d "
                       "-device virtio-net-device,netdev=n0,id=nic0,mac=52:54:00:aa:bb:cc %s",
                       sv[1], extra ? extra : "");
    close(sv[1]);
    n->host = sv[0];
    return n->s;
}

/* Negotiates `want`, sets up rx, tx (and ctrl if negotiated), DRIVER_OK. */
static void net_driver_start(Net *n, uint64_t want)
{
    guest_alloc_init(&n->a, QTEST_ALLOC_START, QTEST_ALLOC_START + (16u << 20));
    qvirtio_mmio_init_slot(&n->d, n->s, NET_SLOT0);
    g_assert_cmpuint(qvirtio_device_id(&n->d), ==, VIRTIO_ID_NET);
    g_assert_true(qvirtio_negotiate(&n->d, want));
    n->rxq = qvirtqueue_setup(&n->d, &n->a, 0, 0);
    n->txq = qvirtqueue_setup(&n->d, &n->a, 1, 0);
    if (n->d.features & (1ULL << F_CTRL_VQ)) {
        n->ctrlq = qvirtqueue_setup(&n->d, &n->a, 2, 0);
    }
    qvirtio_driver_ok(&n->d);
}

static void net_driver_stop(Net *n)
{
    g_clear_pointer(&n->rxq, qvirtqueue_free);
    g_clear_pointer(&n->txq, qvirtqueue_free);
    g_clear_pointer(&n->ctrlq, qvirtqueue_free);
}

static void net_quit(Net *n)
{
    net_driver_stop(n);
    qtest_quit(n->s);
    if (n->host >= 0) {
        close(n->host);
    }
}

/* An Ethernet frame to `dst` from 52:54:00:00:00:01, type 0x88b5, `len` bytes in all. */
static void make_frame(uint8_t *f, size_t len, const uint8_t dst[6], uint8_t seed)
{
    static const uint8_t src[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };

    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    for (size_t i = 14; i < len; i++) {
        f[i] = (uint8_t)(i * 3 + seed);
    }
}

/* Posts one device-writable rx buffer of len bytes (filled with 0xee) and kicks. */
static unsigned post_rx(Net *n, uint64_t *g, uint32_t len)
{
    unsigned head;

    *g = guest_alloc(&n->a, len, 16);
    qtest_memset(n->s, *g, 0xee, len);
    head = qvirtqueue_add(n->rxq, *g, len, true, false);
    qvirtqueue_kick(n->rxq, head);
    return head;
}

/* Sends a frame as a header descriptor plus a data descriptor; waits for it to be used. */
static void send_tx(Net *n, const uint8_t *frame, size_t len)
{
    uint8_t hdr[HDR_LEN] = { 0 };
    uint64_t gh = guest_alloc(&n->a, HDR_LEN, 16), gf = guest_alloc(&n->a, len, 16);
    unsigned head;

    qtest_bufwrite(n->s, gh, hdr, sizeof(hdr));
    qtest_bufwrite(n->s, gf, frame, len);
    head = qvirtqueue_add(n->txq, gh, HDR_LEN, false, true);
    qvirtqueue_add(n->txq, gf, len, false, false);
    qvirtqueue_kick(n->txq, head);
    g_assert_cmpuint(qvirtqueue_wait_used(n->txq, head, 10000), ==, 0);
}

/* Reads one datagram from our end (bounded wait); its length, or -1 on timeout. */
static ssize_t host_recv(Net *n, uint8_t *buf, size_t len, int timeout_ms)
{
    for (int i = 0; i < timeout_ms; i++) {
        ssize_t r = recv(n->host, buf, len, MSG_DONTWAIT);
        if (r >= 0) {
            return r;
        }
        g_usleep(1000);
    }
    return -1;
}

static void wait_status(Net *n, uint8_t bit)
{
    for (int i = 0; i < 1000 && !(qvirtio_get_status(&n->d) & bit); i++) {
        g_usleep(2000);
    }
    g_assert_cmphex(qvirtio_get_status(&n->d) & bit, ==, bit);
}

/* Both net slots exist from boot: id 1, their own MACs, link down, 3 queues of 256. */
static void test_identification(void)
{
    QTestState *s = qtest_init("");
    QVirtioMmio d;
    uint64_t f;

    for (unsigned i = 0; i < 2; i++) {
        qvirtio_mmio_init_slot(&d, s, NET_SLOT0 + i);
        g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_MAGIC), ==, QVIRTIO_MAGIC);
        g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_VERSION), ==, 2);
        g_assert_cmpuint(qvirtio_device_id(&d), ==, VIRTIO_ID_NET);
        for (unsigned b = 0; b < 6; b++) {
            static const uint8_t slot_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
            g_assert_cmphex(qvirtio_config_readb(&d, CFG_MAC + b), ==, slot_mac[b] + (b == 5) * i);
        }
        g_assert_cmpuint(qvirtio_config_readw(&d, CFG_STATUS), ==, 0);
        g_assert_cmpuint(qvirtio_config_readw(&d, CFG_MAX_VQP), ==, 1);
        for (unsigned q = 0; q < 3; q++) {
            qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, q);
            g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 256);
        }
        qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 3);
        g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);
    }
    f = qvirtio_device_features(&d);
    g_assert_true(f & (1ULL << QVIRTIO_F_VERSION_1));
    g_assert_true(f & (1ULL << F_MAC));
    g_assert_true(f & (1ULL << F_STATUS));
    g_assert_true(f & (1ULL << F_MRG_RXBUF));
    g_assert_true(f & (1ULL << F_CTRL_VQ));
    g_assert_true(f & (1ULL << F_CSUM));
    g_assert_true(f & (1ULL << F_CTRL_MAC_ADDR));
    /* Not offered: VLAN filtering, announcements, multiqueue without mq=on. */
    g_assert_false(f & (1ULL << F_CTRL_VLAN));
    g_assert_false(f & (1ULL << F_GUEST_ANNOUNCE));
    g_assert_false(f & (1ULL << F_MQ));
    qtest_quit(s);
}

/* FEATURES_OK does not stick with a bit the device did not offer, nor without VERSION_1. */
static void test_features_refused(void)
{
    QTestState *s = qtest_init("");
    QVirtioMmio d;
    const uint64_t bad[] = { 1ULL << F_MQ | 1ULL << QVIRTIO_F_VERSION_1,
                             1ULL << F_CTRL_VLAN | 1ULL << QVIRTIO_F_VERSION_1,
                             1ULL << F_MAC };

    qvirtio_mmio_init_slot(&d, s, NET_SLOT0);
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        qvirtio_reset(&d);
        qvirtio_add_status(&d, QVIRTIO_S_ACKNOWLEDGE | QVIRTIO_S_DRIVER);
        qvirtio_write_driver_features(&d, bad[i]);
        qvirtio_add_status(&d, QVIRTIO_S_FEATURES_OK);
        g_assert_cmphex(qvirtio_get_status(&d) & QVIRTIO_S_FEATURES_OK, ==, 0);
    }
    /* What is offered is accepted. */
    g_assert_true(qvirtio_negotiate(&d, 1ULL << F_MAC | 1ULL << F_STATUS | 1ULL << F_CTRL_VQ));
    qtest_quit(s);
}

/* The NIC's MAC and a link that is up; frames both ways, one per datagram. */
static void test_rx_tx(gconstpointer opaque)
{
    int type = GPOINTER_TO_INT(opaque);
    uint8_t frame[200], got[2048], bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint64_t g;
    unsigned head;
    Net n;

    start_with_socket(&n, type, NULL);
    qtest_irq_intercept_in(n.s, "ioapic");
    net_driver_start(&n, 1ULL << F_MAC | 1ULL << F_STATUS);
    qvirtio_mmio_init_slot(&n.d, n.s, NET_SLOT0);
    for (unsigned i = 0; i < 6; i++) {
        g_assert_cmphex(qvirtio_config_readb(&n.d, CFG_MAC + i), ==, MAC[i]);
    }
    g_assert_cmpuint(qvirtio_config_readw(&n.d, CFG_STATUS), ==, 1);

    /* tx: the frame alone (no header: the back end has none) in one datagram. */
    make_frame(frame, sizeof(frame), bcast, 1);
    send_tx(&n, frame, sizeof(frame));
    g_assert_cmpint(host_recv(&n, got, sizeof(got), 5000), ==, sizeof(frame));
    g_assert_cmpmem(got, sizeof(frame), frame, sizeof(frame));
    make_frame(frame, 60, bcast, 2);
    send_tx(&n, frame, 60);
    g_assert_cmpint(host_recv(&n, got, sizeof(got), 5000), ==, 60);
    g_assert_cmpmem(got, 60, frame, 60);

    /* rx: a plain header, then the frame; an interrupt. */
    head = post_rx(&n, &g, RX_BUF);
    make_frame(frame, sizeof(frame), MAC, 3);
    g_assert_cmpint(send(n.host, frame, sizeof(frame), 0), ==, sizeof(frame));
    g_assert_cmpuint(qvirtqueue_wait_used(n.rxq, head, 10000), ==, HDR_LEN + sizeof(frame));
    qtest_bufread(n.s, g, got, HDR_LEN + sizeof(frame) + 1);
    for (unsigned i = 0; i < HDR_LEN; i++) {
        g_assert_cmpuint(got[i], ==, 0);
    }
    g_assert_cmpmem(got + HDR_LEN, sizeof(frame), frame, sizeof(frame));
    g_assert_cmpuint(got[HDR_LEN + sizeof(frame)], ==, 0xee);
    g_assert_cmpuint(qtest_irq_raise_count(n.s, QVIRTIO_MICROVM_IRQ0 + NET_SLOT0), >=, 1);

    /* Frames that arrive before a buffer wait for one (in order). */
    make_frame(frame, 100, bcast, 4);
    g_assert_cmpint(send(n.host, frame, 100, 0), ==, 100);
    make_frame(frame, 120, bcast, 5);
    g_assert_cmpint(send(n.host, frame, 120, 0), ==, 120);
    head = post_rx(&n, &g, RX_BUF);
    g_assert_cmpuint(qvirtqueue_wait_used(n.rxq, head, 10000), ==, HDR_LEN + 100);
    head = post_rx(&n, &g, RX_BUF);
    g_assert_cmpuint(qvirtqueue_wait_used(n.rxq, head, 10000), ==, HDR_LEN + 120);
    qtest_bufread(n.s, g + HDR_LEN, got, 120);
    g_assert_cmpmem(got, 120, frame, 120);
    net_quit(&n);
}

/* With MRG_RXBUF a frame larger than one buffer spreads over two; num_buffers says so. */
static void test_rx_mergeable(void)
{
    uint8_t frame[1400], got[2048];
    uint64_t g1, g2;
    unsigned h1, h2;
    Net n;

    start_with_socket(&n, SOCK_DGRAM, NULL);
    net_driver_start(&n, 1ULL << F_MAC | 1ULL << F_MRG_RXBUF);
    h1 = post_rx(&n, &g1, 1024);
    h2 = post_rx(&n, &g2, 1024);
    make_frame(frame, sizeof(frame), MAC, 7);
    g_assert_cmpint(send(n.host, frame, sizeof(frame), 0), ==, sizeof(frame));
    g_assert_cmpuint(qvirtqueue_wait_used(n.rxq, h1, 10000), ==, 1024);
    g_assert_cmpuint(qvirtqueue_wait_used(n.rxq, h2, 10000), ==, HDR_LEN + sizeof(frame) - 1024);
    qtest_bufread(n.s, g1, got, 1024);
    qtest_bufread(n.s, g2, got + 1024, HDR_LEN + sizeof(frame) - 1024);
    g_assert_cmpuint(got[10] | got[11] << 8, ==, 2);
    g_assert_cmpmem(got + HDR_LEN, sizeof(frame), frame, sizeof(frame));
    net_quit(&n);
}

/*
 * The control queue's rx mode decides what reaches the guest: with PROMISC
 * off and an empty MAC table only our address (and broadcast) passes.
 */
static void test_ctrl_filter(void)
{
    static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0x99, 0x99, 0x99 };
    uint8_t cmd[3] = { 0 /* RX */, 0 /* PROMISC */, 0 /* off */ }, ack = 0xff;
    uint8_t frame[80], got[128];
    uint64_t gc, ga, g;
    unsigned head;
    Net n;

    start_with_socket(&n, SOCK_DGRAM, NULL);
    net_driver_start(&n, 1ULL << F_MAC | 1ULL << F_CTRL_VQ | 1ULL << F_CTRL_RX);
    gc = guest_alloc(&n.a, sizeof(cmd), 16);
    ga = guest_alloc(&n.a, 1, 16);
    qtest_bufwrite(n.s, gc, cmd, sizeof(cmd));
    qtest_writeb(n.s, ga, 0xff);
    head = qvirtqueue_add(n.ctrlq, gc, sizeof(cmd), false, true);
    qvirtqueue_add(n.ctrlq, ga, 1, true, false);
    qvirtqueue_kick(n.ctrlq, head);
    g_assert_cmpuint(qvirtqueue_wait_used(n.ctrlq, head, 10000), ==, 1);
    ack = qtest_readb(n.s, ga);
    g_assert_cmpuint(ack, ==, 0);
    /* Another address is filtered out; ours, after it, comes in. */
    make_frame(frame, sizeof(frame), other, 1);
    g_assert_cmpint(send(n.host, frame, sizeof(frame), 0), ==, sizeof(frame));
    make_frame(frame, sizeof(frame), MAC, 2);
    g_assert_cmpint(send(n.host, frame, sizeof(frame), 0), ==, sizeof(frame));
    head = post_rx(&n, &g, RX_BUF);
    g_assert_cmpuint(qvirtqueue_wait_used(n.rxq, head, 10000), ==, HDR_LEN + sizeof(frame));
    qtest_bufread(n.s, g + HDR_LEN, got, sizeof(frame));
    g_assert_cmpmem(got, sizeof(frame), frame, sizeof(frame));
    net_quit(&n);
}

/*
 * Hostile chains on rx and tx: the device goes NEEDS_RESET (config
 * interrupt), nothing reaches the wire, the VMM keeps answering; after a
 * reset frames flow again.
 */
typedef enum {
    H_RX_READABLE,      /* rx buffer the device may only read */
    H_RX_SHORT,         /* rx buffer smaller than the header */
    H_RX_OUT_OF_RAM,    /* rx buffer outside guest RAM */
    H_TX_WRITABLE,      /* tx chain with a device-writable descriptor */
    H_TX_SHORT,         /* tx chain shorter than the header */
    H_TX_LOOP,          /* tx descriptor chained to itself */
    H_TX_OUT_OF_RAM,    /* tx descriptor outside guest RAM */
} Hostile;

static void test_hostile(gconstpointer opaque)
{
    Hostile h = GPOINTER_TO_INT(opaque);
    uint8_t frame[64], got[256], bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint64_t g;
    unsigned head;
    Net n;

    start_with_socket(&n, SOCK_DGRAM, "-m 256M");
    net_driver_start(&n, 1ULL << F_MAC);
    g = guest_alloc(&n.a, 256, 16);
    make_frame(frame, sizeof(frame), bcast, 9);
    switch (h) {
    case H_RX_READABLE:
    case H_RX_SHORT:
    case H_RX_OUT_OF_RAM:
        head = qvirtqueue_add(n.rxq, h == H_RX_OUT_OF_RAM ? 0xE0000000ULL : g,
                              h == H_RX_SHORT ? HDR_LEN - 1 : 256, h != H_RX_READABLE, false);
        qvirtqueue_kick(n.rxq, head);
        /* The device looks at rx buffers when a frame comes. */
        g_assert_cmpint(send(n.host, frame, sizeof(frame), 0), ==, sizeof(frame));
        break;
    case H_TX_WRITABLE:
        head = qvirtqueue_add(n.txq, g, HDR_LEN, false, true);
        qvirtqueue_add(n.txq, g + HDR_LEN, 64, true, false);
        qvirtqueue_kick(n.txq, head);
        break;
    case H_TX_SHORT:
        head = qvirtqueue_add(n.txq, g, HDR_LEN - 2, false, false);
        qvirtqueue_kick(n.txq, head);
        break;
    case H_TX_LOOP:
        head = n.txq->next_desc;
        qvirtqueue_write_desc(n.txq, head, g, 64, QVRING_DESC_F_NEXT, head);
        n.txq->next_desc++;
        qvirtqueue_kick(n.txq, head);
        break;
    case H_TX_OUT_OF_RAM:
    default:
        head = qvirtqueue_add(n.txq, 0xE0000000ULL, 64, false, false);
        qvirtqueue_kick(n.txq, head);
        break;
    }
    wait_status(&n, QVIRTIO_S_NEEDS_RESET);
    g_assert_cmphex(qvirtio_isr(&n.d) & QVIRTIO_INT_CONFIG, ==, QVIRTIO_INT_CONFIG);
    g_assert_cmpint(host_recv(&n, got, sizeof(got), 50), ==, -1);
    /* The VMM still answers QMP. */
    qtest_qmp_assert_success(n.s, "{'execute':'query-status'}");

    net_driver_stop(&n);
    net_driver_start(&n, 1ULL << F_MAC);
    g_assert_cmphex(qvirtio_get_status(&n.d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    /* What the hostile chain left in the socket may arrive first; ours follows. */
    while (host_recv(&n, got, sizeof(got), 0) >= 0) {
    }
    send_tx(&n, frame, sizeof(frame));
    g_assert_cmpint(host_recv(&n, got, sizeof(got), 5000), ==, sizeof(frame));
    head = post_rx(&n, &g, RX_BUF);
    g_assert_cmpint(send(n.host, frame, sizeof(frame), 0), ==, sizeof(frame));
    g_assert_cmpuint(qvirtqueue_wait_used(n.rxq, head, 10000), >=, HDR_LEN + sizeof(frame));
    net_quit(&n);
}

/* A peer closing a SOCK_SEQPACKET end: reading stops, tx frames are lost, no spin or crash. */
static void test_peer_closed(void)
{
    uint8_t frame[64], bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint32_t id, len;
    uint64_t g;
    Net n;

    start_with_socket(&n, SOCK_SEQPACKET, NULL);
    net_driver_start(&n, 1ULL << F_MAC);
    close(n.host);
    n.host = -1;
    post_rx(&n, &g, RX_BUF);
    make_frame(frame, sizeof(frame), bcast, 1);
    send_tx(&n, frame, sizeof(frame));
    g_assert_false(qvirtqueue_poll_used(n.rxq, &id, &len, 100));
    qtest_qmp_assert_success(n.s, "{'execute':'query-status'}");
    g_assert_cmphex(qvirtio_get_status(&n.d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    net_quit(&n);
}

/* Command-line errors of -netdev socket. */
static void test_socket_errors(void)
{
    int sv[2], null = open("/dev/null", O_RDWR);
    g_autofree char *a = NULL, *b = NULL;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    a = g_strdup_printf("-machine microvm -accel qtest -netdev socket,id=n0,fd=%d", sv[1]);
    qtest_expect_startup_error(a, "-netdev: Add netdev error: socket fd");
    qtest_expect_startup_error(a, "must be SOCK_DGRAM or SOCK_SEQPACKET");
    b = g_strdup_printf("-machine microvm -accel qtest -netdev socket,id=n0,fd=%d", null);
    qtest_expect_startup_error(b, "is not a socket");
    qtest_expect_startup_error("-machine microvm -accel qtest -netdev socket,id=n0",
                               "Parameter 'fd' is missing");
    qtest_expect_startup_error("-machine microvm -accel qtest -netdev socket,id=n0,fd=99999",
                               "failed to convert {} to RawFd");
    close(sv[0]);
    close(sv[1]);
    close(null);
}

/* netdev_add type=socket with a getfd'd descriptor, then the NIC on it; errors over QMP. */
static void test_qmp_socket(void)
{
    QTestState *s = qtest_init("");
    int sv[2], null = open("/dev/null", O_RDWR);
    uint8_t frame[64], got[128], bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    JsonNode *rep;
    Net n = { .s = s };

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    rep = qtest_qmp_fds(s, &sv[1], 1, "{'execute':'getfd','arguments':{'fdname':'wire'}}");
    g_assert_false(qmp_has_error(rep));
    json_node_unref(rep);
    close(sv[1]);
    rep = qtest_qmp_fds(s, &null, 1, "{'execute':'getfd','arguments':{'fdname':'null'}}");
    json_node_unref(rep);
    qtest_qmp_assert_error(s, "GenericError", "Add netdev error: failed to convert {} to RawFd.",
                           "{\"execute\":\"netdev_add\",\"arguments\":{\"id\":\"x\","
                           "\"type\":\"socket\",\"fd\":\"nosuch\"}}");
    qtest_qmp_assert_success(s, "{'execute':'netdev_add','arguments':{'id':'n0',"
                                "'type':'socket','fd':'wire'}}");
    qtest_qmp_assert_success(s, "{'execute':'device_add','arguments':{'id':'nic0',"
                                "'driver':'virtio-net-mmio','netdev':'n0'}}");
    n.host = sv[0];
    net_driver_start(&n, 1ULL << F_MAC | 1ULL << F_STATUS);
    g_assert_cmpuint(qvirtio_config_readw(&n.d, CFG_STATUS), ==, 1);
    make_frame(frame, sizeof(frame), bcast, 3);
    send_tx(&n, frame, sizeof(frame));
    g_assert_cmpint(host_recv(&n, got, sizeof(got), 5000), ==, sizeof(frame));
    g_assert_cmpmem(got, sizeof(frame), frame, sizeof(frame));
    close(null);
    net_quit(&n);
}

/* One control command (class, cmd, data); returns the ack byte. */
static uint8_t ctrl_cmd(Net *n, QVirtQueue *cq, uint8_t cls, uint8_t cmd, const void *data,
                        size_t len)
{
    uint8_t buf[64] = { cls, cmd };
    uint64_t gc = guest_alloc(&n->a, 2 + len, 16), ga = guest_alloc(&n->a, 1, 16);
    unsigned head;

    memcpy(buf + 2, data, len);
    qtest_bufwrite(n->s, gc, buf, 2 + len);
    qtest_writeb(n->s, ga, 0xff);
    head = qvirtqueue_add(cq, gc, 2 + len, false, true);
    qvirtqueue_add(cq, ga, 1, true, false);
    qvirtqueue_kick(cq, head);
    g_assert_cmpuint(qvirtqueue_wait_used(cq, head, 10000), ==, 1);
    return qtest_readb(n->s, ga);
}

/* tx on a given pair: the frame leaves through that pair's back-end queue. */
static void send_tx_on(Net *n, QVirtQueue *txq, const uint8_t *frame, size_t len)
{
    QVirtQueue *saved = n->txq;

    n->txq = txq;
    send_tx(n, frame, len);
    n->txq = saved;
}

static ssize_t recv_on(int fd, uint8_t *buf, size_t len)
{
    Net tmp = { .host = fd };

    return host_recv(&tmp, buf, len, 5000);
}

/*
 * mq=on over a two-queue back end (-netdev socket,fds=A:B): MQ offered,
 * max_virtqueue_pairs 2, queues rx0 tx0 rx1 tx1 ctrl; VQ_PAIRS_SET's range;
 * each pair bound to its own back-end queue, both ways.
 */
static void test_multiqueue(void)
{
    int a[2], b[2];
    uint8_t frame[90], got[256], bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint16_t pairs;
    QVirtQueue *rx1, *tx1, *cq;
    uint64_t g;
    unsigned head;
    Net n = { .host = -1 };

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, a), ==, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, b), ==, 0);
    fcntl(a[0], F_SETFD, FD_CLOEXEC);
    fcntl(b[0], F_SETFD, FD_CLOEXEC);
    n.s = qtest_initf("-netdev socket,id=n0,fds=%d:%d "
                      "-device virtio-net-device,netdev=n0,mq=on,mac=52:54:00:aa:bb:cc",
                      a[1], b[1]);
    close(a[1]);
    close(b[1]);
    guest_alloc_init(&n.a, QTEST_ALLOC_START, QTEST_ALLOC_START + (16u << 20));
    qvirtio_mmio_init_slot(&n.d, n.s, NET_SLOT0);
    g_assert_true(qvirtio_device_features(&n.d) & (1ULL << F_MQ));
    g_assert_cmpuint(qvirtio_config_readw(&n.d, CFG_MAX_VQP), ==, 2);
    for (unsigned q = 0; q < 6; q++) {
        qvirtio_writel(&n.d, QVIRTIO_MMIO_QUEUE_SEL, q);
        g_assert_cmpuint(qvirtio_readl(&n.d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, q < 5 ? 256 : 0);
    }
    g_assert_true(qvirtio_negotiate(&n.d, 1ULL << F_MAC | 1ULL << F_CTRL_VQ | 1ULL << F_MQ));
    n.rxq = qvirtqueue_setup(&n.d, &n.a, 0, 0);
    n.txq = qvirtqueue_setup(&n.d, &n.a, 1, 0);
    rx1 = qvirtqueue_setup(&n.d, &n.a, 2, 0);
    tx1 = qvirtqueue_setup(&n.d, &n.a, 3, 0);
    cq = qvirtqueue_setup(&n.d, &n.a, 4, 0);
    qvirtio_driver_ok(&n.d);

    /* The range is [1, max_virtqueue_pairs]; the data is exactly a le16. */
    pairs = 0;
    g_assert_cmpuint(ctrl_cmd(&n, cq, 4, 0, &pairs, 2), ==, 1);
    pairs = 3;
    g_assert_cmpuint(ctrl_cmd(&n, cq, 4, 0, &pairs, 2), ==, 1);
    g_assert_cmpuint(ctrl_cmd(&n, cq, 4, 0, &pairs, 1), ==, 1);
    g_assert_cmpuint(ctrl_cmd(&n, cq, 4, 1, &pairs, 2), ==, 1);
    pairs = 2;
    g_assert_cmpuint(ctrl_cmd(&n, cq, 4, 0, &pairs, 2), ==, 0);

    /* tx: pair 0 to socket A, pair 1 to socket B. */
    make_frame(frame, sizeof(frame), bcast, 1);
    send_tx_on(&n, n.txq, frame, sizeof(frame));
    g_assert_cmpint(recv_on(a[0], got, sizeof(got)), ==, sizeof(frame));
    g_assert_cmpmem(got, sizeof(frame), frame, sizeof(frame));
    make_frame(frame, sizeof(frame), bcast, 2);
    send_tx_on(&n, tx1, frame, sizeof(frame));
    g_assert_cmpint(recv_on(b[0], got, sizeof(got)), ==, sizeof(frame));
    g_assert_cmpmem(got, sizeof(frame), frame, sizeof(frame));
    g_assert_cmpint(recv(a[0], got, sizeof(got), MSG_DONTWAIT), ==, -1);

    /* rx: socket B into pair 1's rx queue, socket A into pair 0's. */
    head = post_rx(&n, &g, RX_BUF);
    make_frame(frame, sizeof(frame), MAC, 4);
    g_assert_cmpint(send(a[0], frame, sizeof(frame), 0), ==, sizeof(frame));
    g_assert_cmpuint(qvirtqueue_wait_used(n.rxq, head, 10000), ==, HDR_LEN + sizeof(frame));
    qtest_bufread(n.s, g + HDR_LEN, got, sizeof(frame));
    g_assert_cmpmem(got, sizeof(frame), frame, sizeof(frame));
    qvirtqueue_free(n.rxq);
    n.rxq = rx1;
    head = post_rx(&n, &g, RX_BUF);
    make_frame(frame, sizeof(frame), MAC, 3);
    g_assert_cmpint(send(b[0], frame, sizeof(frame), 0), ==, sizeof(frame));
    g_assert_cmpuint(qvirtqueue_wait_used(rx1, head, 10000), ==, HDR_LEN + sizeof(frame));
    qtest_bufread(n.s, g + HDR_LEN, got, sizeof(frame));
    g_assert_cmpmem(got, sizeof(frame), frame, sizeof(frame));
    n.rxq = NULL;
    qvirtqueue_free(rx1);
    qvirtqueue_free(tx1);
    qvirtqueue_free(cq);

    /* Without MQ negotiated the command is refused (and the control queue is still 2 * 2). */
    qvirtio_reset(&n.d);
    net_driver_stop(&n);
    g_assert_true(qvirtio_negotiate(&n.d, 1ULL << F_MAC | 1ULL << F_CTRL_VQ));
    cq = qvirtqueue_setup(&n.d, &n.a, 4, 0);
    qvirtio_driver_ok(&n.d);
    g_assert_cmpuint(ctrl_cmd(&n, cq, 4, 0, &pairs, 2), ==, 1);
    qvirtqueue_free(cq);
    net_quit(&n);
    close(a[0]);
    close(b[0]);
}

/*
 * mq=off on a two-queue back end: one pair, no MQ; a multiqueue NIC cannot
 * be plugged into a slot whose driver runs, but can into one in reset.
 */
static void test_multiqueue_plug(void)
{
    int a[2], b[2];
    QTestState *s;
    QVirtioMmio d;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, a), ==, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, b), ==, 0);
    s = qtest_init("");
    json_node_unref(qtest_qmp_fds(s, &a[1], 1, "{'execute':'getfd','arguments':{'fdname':'a'}}"));
    json_node_unref(qtest_qmp_fds(s, &b[1], 1, "{'execute':'getfd','arguments':{'fdname':'b'}}"));
    qtest_qmp_assert_success(s, "{'execute':'netdev_add','arguments':{'id':'n0',"
                                "'type':'socket','fds':'a:b'}}");
    /* Slot 0's driver is running: the layout cannot change under it. */
    qvirtio_mmio_init_slot(&d, s, NET_SLOT0);
    g_assert_true(qvirtio_negotiate(&d, 1ULL << F_MAC));
    qvirtio_driver_ok(&d);
    qtest_qmp_assert_error(s, "GenericError",
                           "virtio-net 'nic0': cannot change from 1 to 2 queue pairs while the "
                           "guest drives the slot (plug a multiqueue NIC with -device at startup)",
                           "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"nic0\","
                           "\"driver\":\"virtio-net-mmio\",\"netdev\":\"n0\",\"mq\":true,"
                           "\"addr\":\"0x0\"}}");
    /* mq=off: one pair, no MQ. */
    qtest_qmp_assert_success(s, "{'execute':'device_add','arguments':{'id':'nic0',"
                                "'driver':'virtio-net-mmio','netdev':'n0','addr':'0x0'}}");
    g_assert_false(qvirtio_device_features(&d) & (1ULL << F_MQ));
    g_assert_cmpuint(qvirtio_config_readw(&d, CFG_MAX_VQP), ==, 1);
    qtest_qmp_assert_success(s, "{'execute':'device_del','arguments':{'id':'nic0'}}");
    /* Slot 0 in reset: a multiqueue NIC goes in. */
    qvirtio_reset(&d);
    qtest_qmp_assert_success(s, "{'execute':'device_add','arguments':{'id':'nic0',"
                                "'driver':'virtio-net-mmio','netdev':'n0','mq':true,"
                                "'addr':'0x0'}}");
    g_assert_true(qvirtio_device_features(&d) & (1ULL << F_MQ));
    g_assert_cmpuint(qvirtio_config_readw(&d, CFG_MAX_VQP), ==, 2);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 4);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 256);
    qtest_quit(s);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

/* fds= count against queues=, and more than 16 descriptors. */
static void test_multiqueue_errors(void)
{
    int a[2];
    g_autofree char *x = NULL;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, a), ==, 0);
    x = g_strdup_printf("-machine microvm -accel qtest -netdev tap,id=n0,fds=%d:%d,queues=3",
                        a[0], a[1]);
    qtest_expect_startup_error(x, "The number of fds passed does not match the number of "
                                  "queues (3)");
    qtest_expect_startup_error("-machine microvm -accel qtest -netdev "
                               "tap,id=n0,fds=1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1",
                               "at most 16 descriptors");
    qtest_expect_startup_error("-machine microvm -accel qtest -netdev "
                               "tap,id=n0,ifname=x,queues=17", "queues=17: must be between 1 and 16");
    qtest_expect_startup_error("-machine microvm -accel qtest -netdev "
                               "tap,id=n0,ifname=x,queues=0", "queues=0: must be between 1 and 16");
    close(a[0]);
    close(a[1]);
}

/*
 * vhost=on on this host (no /dev/vhost-net): the error names the node; a
 * vhostfd that is not a vhost device, and a vhostfds count that does not
 * match, are refused before any tap is opened (command line and QMP).
 */
static void test_vhost_errors(void)
{
    int null = open("/dev/null", O_RDWR);
    g_autofree char *a = NULL, *b = NULL;
    QTestState *s;
    int dup_null;

    g_assert_cmpint(null, >=, 0);
    if (access("/dev/vhost-net", F_OK) == 0) {
        g_test_message("this host has /dev/vhost-net: the missing-node error is not checked");
    } else {
        qtest_expect_startup_error("-machine microvm -accel qtest -netdev "
                                   "tap,id=n0,ifname=stvh0,vhost=on",
                                   "-netdev: vhost=on: cannot open /dev/vhost-net: No such file "
                                   "or directory (load the vhost_net module, or use vhost=off)");
    }
    a = g_strdup_printf("-machine microvm -accel qtest -netdev tap,id=n0,ifname=stvh0,"
                        "vhost=on,vhostfd=%d", null);
    qtest_expect_startup_error(a, "is not a usable vhost-net device: Inappropriate ioctl for "
                                  "device");
    b = g_strdup_printf("-machine microvm -accel qtest -netdev tap,id=n0,ifname=stvh0,"
                        "queues=2,vhost=on,vhostfds=%d", null);
    qtest_expect_startup_error(b, "The number of fds passed does not match the number of "
                                  "vhostfds passed");

    s = qtest_init("");
    dup_null = dup(null);
    json_node_unref(qtest_qmp_fds(s, &dup_null, 1,
                                  "{'execute':'getfd','arguments':{'fdname':'vh'}}"));
    close(dup_null);
    /* The VMM's copy of the descriptor gets a number of its own: only the tail is fixed. */
    {
        JsonNode *rep = qtest_qmp(s, "{'execute':'netdev_add','arguments':{'id':'n0',"
                                     "'ifname':'stvh0','vhost':true,'vhostfd':'vh'}}");
        const char *d = qmp_error_desc(rep);
        g_assert_nonnull(d);
        g_assert_true(g_str_has_prefix(d, "vhostfd "));
        g_assert_true(g_str_has_suffix(d, " is not a usable vhost-net device: Inappropriate "
                                          "ioctl for device"));
        json_node_unref(rep);
    }
    /* The name was consumed; the tap was never created. */
    qtest_qmp_assert_error(s, "GenericError", "Add netdev error: failed to convert {} to RawFd.",
                           "{\"execute\":\"netdev_add\",\"arguments\":{\"id\":\"n0\","
                           "\"ifname\":\"stvh0\",\"vhostfd\":\"vh\"}}");
    qtest_quit(s);
    g_assert_cmpint(access("/sys/class/net/stvh0", F_OK), !=, 0);
    close(null);
}

int main(int argc, char **argv)
{
    static const struct { const char *name; Hostile h; } hostile[] = {
        { "rx-readable", H_RX_READABLE }, { "rx-short", H_RX_SHORT },
        { "rx-out-of-ram", H_RX_OUT_OF_RAM }, { "tx-writable", H_TX_WRITABLE },
        { "tx-short", H_TX_SHORT }, { "tx-loop", H_TX_LOOP },
        { "tx-out-of-ram", H_TX_OUT_OF_RAM },
    };

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-net/identification", test_identification);
    g_test_add_func("/virtio-net/features-refused", test_features_refused);
    g_test_add_data_func("/virtio-net/rx-tx/dgram", GINT_TO_POINTER(SOCK_DGRAM), test_rx_tx);
    g_test_add_data_func("/virtio-net/rx-tx/seqpacket", GINT_TO_POINTER(SOCK_SEQPACKET),
                         test_rx_tx);
    g_test_add_func("/virtio-net/rx-mergeable", test_rx_mergeable);
    g_test_add_func("/virtio-net/ctrl-filter", test_ctrl_filter);
    for (unsigned i = 0; i < G_N_ELEMENTS(hostile); i++) {
        g_autofree char *name = g_strdup_printf("/virtio-net/hostile/%s", hostile[i].name);
        g_test_add_data_func(name, GINT_TO_POINTER(hostile[i].h), test_hostile);
    }
    g_test_add_func("/virtio-net/peer-closed", test_peer_closed);
    g_test_add_func("/virtio-net/socket-errors", test_socket_errors);
    g_test_add_func("/virtio-net/qmp-socket", test_qmp_socket);
    g_test_add_func("/virtio-net/multiqueue", test_multiqueue);
    g_test_add_func("/virtio-net/multiqueue-plug", test_multiqueue_plug);
    g_test_add_func("/virtio-net/multiqueue-errors", test_multiqueue_errors);
    g_test_add_func("/virtio-net/vhost-errors", test_vhost_errors);
    return g_test_run();
}
