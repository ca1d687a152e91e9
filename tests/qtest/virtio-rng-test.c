/*
 * virtio-rng over virtio-mmio on microvm (docs/devices-rng.md),
 * driven like a guest driver: the window after the 8 slots (device id 4,
 * GSI 13), reads through the ring from /dev/urandom and from a file of known
 * bytes, the rate limit on the virtual clock, hostile requests, hot-plug
 * refused, and the command-line errors.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "virtio-mmio.h"

/* The first window after the 6 block and 2 net slots. */
#define RNG_SLOT 8
#define RNG_BASE (QVIRTIO_MICROVM_BASE + RNG_SLOT * QVIRTIO_MICROVM_STRIDE)
#define RNG_GSI (QVIRTIO_MICROVM_IRQ0 + RNG_SLOT)
#define VIRTIO_ID_RNG 4
#define MS 1000000LL

typedef struct Rng {
    QTestState *s;
    QVirtioMmio d;
    QGuestAlloc a;
    QVirtQueue *vq;
} Rng;

static void rng_start_at(Rng *r, QTestState *s, unsigned slot)
{
    r->s = s;
    guest_alloc_init(&r->a, QTEST_ALLOC_START, QTEST_ALLOC_START + (16u << 20));
    qvirtio_mmio_init(&r->d, s, QVIRTIO_MICROVM_BASE + slot * QVIRTIO_MICROVM_STRIDE,
                      QVIRTIO_MICROVM_IRQ0 + (int)slot);
    g_assert_cmpuint(qvirtio_device_id(&r->d), ==, VIRTIO_ID_RNG);
    g_assert_true(qvirtio_negotiate(&r->d, qvirtio_device_features(&r->d)));
    r->vq = qvirtqueue_setup(&r->d, &r->a, 0, 0);
    qvirtio_driver_ok(&r->d);
}

static void rng_start(Rng *r, QTestState *s)
{
    rng_start_at(r, s, RNG_SLOT);
}

static void rng_stop(Rng *r)
{
    g_clear_pointer(&r->vq, qvirtqueue_free);
}

/* Posts one device-writable buffer of len bytes (filled with 0xee) and kicks. */
static unsigned post(Rng *r, uint64_t *gaddr, uint32_t len)
{
    unsigned head;

    *gaddr = guest_alloc(&r->a, len, 16);
    qtest_memset(r->s, *gaddr, 0xee, len);
    head = qvirtqueue_add(r->vq, *gaddr, len, true, false);
    qvirtqueue_kick(r->vq, head);
    return head;
}

/* One request: returns the used length and the bytes in buf. */
static uint32_t rng_read(Rng *r, void *buf, uint32_t len)
{
    uint64_t g;
    unsigned head = post(r, &g, len);
    uint32_t used = qvirtqueue_wait_used(r->vq, head, 10000);

    g_assert_cmpuint(used, <=, len);
    qtest_bufread(r->s, g, buf, len);
    return used;
}

static char *make_file(const char *name, size_t len, uint8_t seed)
{
    char *path = qtest_tmp_path(name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_autofree uint8_t *buf = g_malloc(len);

    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 7 + seed);
    }
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, buf, len), ==, (ssize_t)len);
    close(fd);
    return path;
}

static void test_identification(void)
{
    QTestState *s = qtest_init("-object rng-random,id=r0 -device virtio-rng-device,rng=r0,id=rng0");
    QVirtioMmio d;
    uint64_t f;

    qvirtio_mmio_init(&d, s, RNG_BASE, RNG_GSI);
    g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_MAGIC), ==, QVIRTIO_MAGIC);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_VERSION), ==, 2);
    g_assert_cmpuint(qvirtio_device_id(&d), ==, VIRTIO_ID_RNG);
    f = qvirtio_device_features(&d);
    g_assert_true(f & (1ULL << QVIRTIO_F_VERSION_1));
    g_assert_true(f & (1ULL << QVIRTIO_F_INDIRECT_DESC));
    g_assert_true(f & (1ULL << QVIRTIO_F_EVENT_IDX));
    /* One queue of 256 (StratoVirt's size), nothing behind it. */
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 0);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 256);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 1);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);
    /* No config space. */
    g_assert_cmphex(qvirtio_config_readl(&d, 0), ==, 0);
    /* The slots are where they were; nothing after the rng window. */
    g_assert_cmpuint(qvirtio_readl(&(QVirtioMmio){ .qts = s, .base = QVIRTIO_MICROVM_BASE },
                                   QVIRTIO_MMIO_DEVICE_ID), ==, 2);
    /* (Whatever an unassigned read returns, it is not a virtio magic.) */
    g_assert_cmphex(qtest_readl(s, RNG_BASE + QVIRTIO_MICROVM_STRIDE), !=, QVIRTIO_MAGIC);
    qtest_quit(s);
}

/* From /dev/urandom: full buffers, different every time, and an interrupt. */
static void test_read_urandom(void)
{
    QTestState *s = qtest_init("-object rng-random,id=r0,filename=/dev/urandom "
                               "-device virtio-rng-device,rng=r0");
    uint8_t a[64], b[64], zero[64] = { 0 };
    Rng r;

    qtest_irq_intercept_in(s, "ioapic");
    rng_start(&r, s);
    g_assert_cmpuint(rng_read(&r, a, sizeof(a)), ==, sizeof(a));
    g_assert_cmpuint(qtest_irq_raise_count(s, RNG_GSI), >=, 1);
    g_assert_cmpuint(qvirtio_isr(&r.d) & QVIRTIO_INT_VRING, ==, QVIRTIO_INT_VRING);
    qvirtio_ack_isr(&r.d, QVIRTIO_INT_VRING);
    g_assert_cmpuint(rng_read(&r, b, sizeof(b)), ==, sizeof(b));
    g_assert_true(memcmp(a, b, sizeof(a)) != 0);
    g_assert_true(memcmp(a, zero, sizeof(a)) != 0);
    /* A large buffer is filled whole (the device may write less; it need not). */
    {
        g_autofree uint8_t *big = g_malloc(32768);
        g_assert_cmpuint(rng_read(&r, big, 32768), ==, 32768);
    }
    rng_stop(&r);
    qtest_quit(s);
}

/*
 * A file of known bytes: delivered in order, each byte once, split across
 * buffers and descriptors as they come; at its end the device stops serving
 * (nothing is returned) instead of spinning or repeating bytes.
 */
static void test_read_file(void)
{
    g_autofree char *path = make_file("rng-src.bin", 100, 3);
    QTestState *s = qtest_initf("-object rng-random,id=r0,filename=%s "
                                "-device virtio-rng-device,rng=r0", path);
    uint8_t buf[64];
    uint64_t g1, g2, g3;
    uint32_t id, len;
    unsigned head;
    Rng r;

    rng_start(&r, s);
    g_assert_cmpuint(rng_read(&r, buf, 10), ==, 10);
    for (unsigned i = 0; i < 10; i++) {
        g_assert_cmpuint(buf[i], ==, (uint8_t)(i * 7 + 3));
    }
    /* A chain of two writable descriptors is one request. */
    g1 = guest_alloc(&r.a, 20, 16);
    g2 = guest_alloc(&r.a, 30, 16);
    head = qvirtqueue_add(r.vq, g1, 20, true, true);
    qvirtqueue_add(r.vq, g2, 30, true, false);
    qvirtqueue_kick(r.vq, head);
    g_assert_cmpuint(qvirtqueue_wait_used(r.vq, head, 10000), ==, 50);
    qtest_bufread(s, g1, buf, 20);
    qtest_bufread(s, g2, buf + 20, 30);
    for (unsigned i = 0; i < 50; i++) {
        g_assert_cmpuint(buf[i], ==, (uint8_t)((i + 10) * 7 + 3));
    }
    /* 40 left: a 64-byte buffer gets exactly those. */
    g_assert_cmpuint(rng_read(&r, buf, 64), ==, 40);
    g_assert_cmpuint(buf[39], ==, (uint8_t)(99 * 7 + 3));
    g_assert_cmpuint(buf[40], ==, 0xee);
    /* End of file: the buffer stays with the device. */
    head = post(&r, &g3, 16);
    g_assert_false(qvirtqueue_poll_used(r.vq, &id, &len, 300));
    g_assert_cmphex(qvirtio_get_status(&r.d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    (void)head;
    rng_stop(&r);
    qtest_quit(s);
    unlink(path);
}

static uint32_t used_now(Rng *r, uint32_t *len)
{
    uint32_t id;

    return qvirtqueue_poll_used(r->vq, &id, len, 200) ? 1 : 0;
}

/*
 * max-bytes=100,period=1000 on the virtual clock: 100 bytes, then nothing
 * until the window that opened with the first byte ends; a driver reset does
 * not buy a new window.
 */
static void test_rate_limit(void)
{
    g_autofree char *path = make_file("rng-rate.bin", 4096, 9);
    QTestState *s = qtest_initf("-object rng-random,id=r0,filename=%s "
                                "-device virtio-rng-device,rng=r0,max-bytes=100,period=1000",
                                path);
    uint64_t g;
    uint32_t len;
    Rng r;

    rng_start(&r, s);
    for (unsigned i = 0; i < 4; i++) {
        post(&r, &g, 64);
    }
    g_assert_true(used_now(&r, &len));
    g_assert_cmpuint(len, ==, 64);
    g_assert_true(used_now(&r, &len));
    g_assert_cmpuint(len, ==, 36);
    g_assert_false(used_now(&r, &len));
    /* Just before the window ends: still nothing. */
    qtest_clock_step(s, 1000 * MS - 1);
    g_assert_false(used_now(&r, &len));
    qtest_clock_step(s, 1);
    g_assert_true(used_now(&r, &len));
    g_assert_cmpuint(len, ==, 64);
    g_assert_true(used_now(&r, &len));
    g_assert_cmpuint(len, ==, 36);
    g_assert_false(used_now(&r, &len));

    /* The second window is spent: resetting and re-initialising does not refill it. */
    rng_stop(&r);
    rng_start(&r, s);
    post(&r, &g, 64);
    g_assert_false(used_now(&r, &len));
    qtest_clock_step(s, 1000 * MS);
    g_assert_true(used_now(&r, &len));
    g_assert_cmpuint(len, ==, 64);

    /*
     * Ten 64-byte buffers from a fresh window: each window fills one whole
     * and one with the 36 bytes left, exactly 100 bytes per window.
     */
    qtest_clock_step(s, 1000 * MS);
    for (unsigned i = 0; i < 10; i++) {
        post(&r, &g, 64);
    }
    for (unsigned w = 0; w < 5; w++) {
        uint32_t got = 0, n = 0;
        while (used_now(&r, &len)) {
            got += len;
            n++;
        }
        g_assert_cmpuint(got, ==, 100);
        g_assert_cmpuint(n, ==, 2);
        qtest_clock_step(s, 1000 * MS);
    }
    g_assert_false(used_now(&r, &len));
    rng_stop(&r);
    qtest_quit(s);
    unlink(path);
}

/*
 * Hostile requests: a device-readable descriptor, a zero-length one, one
 * outside RAM. Each sets NEEDS_RESET with a config interrupt; after a reset
 * the device works again.
 */
typedef enum { H_READABLE, H_ZERO_LEN, H_OUT_OF_RAM, H_MIXED } Hostile;

static void test_hostile(gconstpointer opaque)
{
    Hostile h = GPOINTER_TO_INT(opaque);
    QTestState *s = qtest_init("-m 256M -object rng-random,id=r0 "
                               "-device virtio-rng-device,rng=r0");
    uint8_t buf[16];
    uint64_t g;
    unsigned head;
    uint32_t id, len;
    Rng r;

    rng_start(&r, s);
    g = guest_alloc(&r.a, 64, 16);
    switch (h) {
    case H_READABLE:
        head = qvirtqueue_add(r.vq, g, 64, false, false);
        break;
    case H_ZERO_LEN:
        head = qvirtqueue_add(r.vq, g, 0, true, false);
        break;
    case H_OUT_OF_RAM:
        head = qvirtqueue_add(r.vq, 0xE0000000ULL, 64, true, false);
        break;
    case H_MIXED:
    default:
        head = qvirtqueue_add(r.vq, g, 8, false, true);
        qvirtqueue_add(r.vq, g + 8, 56, true, false);
        break;
    }
    qvirtqueue_kick(r.vq, head);
    for (int i = 0; i < 100 && !(qvirtio_get_status(&r.d) & QVIRTIO_S_NEEDS_RESET); i++) {
        g_usleep(2000);
    }
    g_assert_cmphex(qvirtio_get_status(&r.d) & QVIRTIO_S_NEEDS_RESET, ==, QVIRTIO_S_NEEDS_RESET);
    g_assert_cmphex(qvirtio_isr(&r.d) & QVIRTIO_INT_CONFIG, ==, QVIRTIO_INT_CONFIG);
    g_assert_false(qvirtqueue_poll_used(r.vq, &id, &len, 50));
    /* Broken until reset: a good buffer now is not served either. */
    post(&r, &g, 16);
    g_assert_false(qvirtqueue_poll_used(r.vq, &id, &len, 100));
    rng_stop(&r);
    rng_start(&r, s);
    g_assert_cmphex(qvirtio_get_status(&r.d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    g_assert_cmpuint(rng_read(&r, buf, sizeof(buf)), ==, sizeof(buf));
    rng_stop(&r);
    qtest_quit(s);
}

/* "-object rng-random,id=rN -device virtio-rng-device,rng=rN" for N < n. */
static char *rng_devices_args(unsigned n)
{
    GString *args = g_string_new("");

    for (unsigned i = 0; i < n; i++) {
        g_string_append_printf(args, " -object rng-random,id=r%u -device virtio-rng-device,rng=r%u",
                               i, i);
    }
    return g_string_free(args, FALSE);
}

/*
 * Each device its own window, in command-line order, from IRQ 13 to the
 * IOAPIC's last pin (23): eleven windows, checked at both ends.
 */
static void test_windows(void)
{
    g_autofree char *args = rng_devices_args(11);
    QTestState *s = qtest_init(args);
    const unsigned slots[] = { 8, 9, 18 };
    uint8_t buf[8];
    Rng r;

    qtest_irq_intercept_in(s, "ioapic");
    for (unsigned i = 0; i < G_N_ELEMENTS(slots); i++) {
        rng_start_at(&r, s, slots[i]);
        g_assert_cmpuint(rng_read(&r, buf, sizeof(buf)), ==, sizeof(buf));
        g_assert_cmpuint(qtest_irq_raise_count(s, QVIRTIO_MICROVM_IRQ0 + (int)slots[i]), >=, 1);
        rng_stop(&r);
    }
    qtest_quit(s);
}

/* Not hot-pluggable on microvm (StratoVirt's texts), nor removable. */
static void test_hotplug_refused(void)
{
    QTestState *s = qtest_init("-object rng-random,id=r0 -object rng-random,id=r1 "
                               "-device virtio-rng-device,rng=r0,id=rng0");
    JsonNode *rep;

    rep = qtest_qmp(s, "{'execute':'device_add','arguments':{'driver':'virtio-rng-device',"
                       "'rng':'r1','id':'rng1'}}");
    g_assert_cmpstr(qmp_error_desc(rep), ==, "Unsupported replaceable device type.");
    json_node_unref(rep);
    rep = qtest_qmp(s, "{'execute':'device_del','arguments':{'id':'rng0'}}");
    g_assert_cmpstr(qmp_error_desc(rep), ==, "Device 'rng0' does not support hotplugging");
    json_node_unref(rep);
    qtest_quit(s);
}

static void expect_qmp_error(QTestState *s, const char *cmd, const char *desc)
{
    JsonNode *rep = qtest_qmp(s, "%s", cmd);

    g_assert_cmpstr(qmp_error_class(rep), ==, "GenericError");
    if (g_strcmp0(qmp_error_desc(rep), desc)) {
        g_error("%s: got '%s', expected '%s'", cmd, qmp_error_desc(rep), desc);
    }
    json_node_unref(rep);
}

/* object-add / object-del with QEMU's texts (checked against QEMU 7.2). */
static void test_qmp_objects(void)
{
    QTestState *s = qtest_init("-object rng-random,id=r0 -device virtio-rng-device,rng=r0");

    qtest_qmp_assert_success(s, "{'execute':'object-add','arguments':{'qom-type':'rng-random',"
                                "'id':'r1','filename':'/dev/urandom'}}");
    qtest_qmp_assert_success(s, "{'execute':'object-add','arguments':{'qom-type':'rng-random',"
                                "'id':'r2'}}");
    expect_qmp_error(s, "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":"
                     "\"rng-random\",\"id\":\"r1\"}}",
                     "attempt to add duplicate property 'r1' to object (type 'container')");
    expect_qmp_error(s, "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":"
                     "\"rng-random\",\"id\":\"r0\"}}",
                     "attempt to add duplicate property 'r0' to object (type 'container')");
    expect_qmp_error(s, "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"foo\","
                     "\"id\":\"f\"}}", "Parameter 'qom-type' does not accept value 'foo'");
    expect_qmp_error(s, "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":"
                     "\"rng-random\",\"id\":\"m\",\"filename\":\"/nonexist\"}}",
                     "Could not open '/nonexist': No such file or directory");
    expect_qmp_error(s, "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":"
                     "\"rng-random\",\"id\":\"b\",\"bogus\":1}}",
                     "Parameter 'bogus' is unexpected");
    expect_qmp_error(s, "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":"
                     "\"rng-random\",\"id\":\"n\",\"filename\":5}}",
                     "Invalid parameter type for 'filename', expected: string");
    expect_qmp_error(s, "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":"
                     "\"rng-random\"}}", "Parameter 'id' is missing");
    expect_qmp_error(s, "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":"
                     "\"rng-random\",\"id\":\"1bad\"}}",
                     "Parameter 'id' expects an identifier");
    /* r0 feeds the device: it stays. */
    expect_qmp_error(s, "{\"execute\":\"object-del\",\"arguments\":{\"id\":\"r0\"}}",
                     "object 'r0' is in use, can not be deleted");
    qtest_qmp_assert_success(s, "{'execute':'object-del','arguments':{'id':'r1'}}");
    expect_qmp_error(s, "{\"execute\":\"object-del\",\"arguments\":{\"id\":\"r1\"}}",
                     "object 'r1' not found");
    expect_qmp_error(s, "{\"execute\":\"object-del\",\"arguments\":{\"id\":\"zz\"}}",
                     "object 'zz' not found");
    /* The id is free again. */
    qtest_qmp_assert_success(s, "{'execute':'object-add','arguments':{'qom-type':'rng-random',"
                                "'id':'r1'}}");
    qtest_quit(s);
}

static void expect_error(const char *args, const char *msg)
{
    g_autofree char *full = g_strdup_printf("-accel qtest -machine microvm %s", args);
    g_autofree char *want = g_strdup_printf("stratus: error: %s\n", msg);

    qtest_expect_startup_error(full, want);
}

static void test_cli_errors(void)
{
    const char *obj = "-object rng-random,id=r0";
    g_autofree char *v = NULL;

    expect_error("-object rng-random,id=r0 -device virtio-rng-device",
                 "'rng' is missing for 'rng' device.");
    expect_error("-object rng-random,id=r0 -device virtio-rng-device,rng=nope",
                 "Object for rng-random device not found");
    expect_error("-device virtio-rng-device,rng=r0", "Object for rng-random device not found");
    v = g_strdup_printf("%s -device virtio-rng-device,rng=r0,max-bytes=63,period=1000", obj);
    expect_error(v, "The bytes per second of rng device must >= 64 and <= 1000000000.");
    g_clear_pointer(&v, g_free);
    v = g_strdup_printf("%s -device virtio-rng-device,rng=r0,max-bytes=1000000001,period=1000",
                        obj);
    expect_error(v, "The bytes per second of rng device must >= 64 and <= 1000000000.");
    g_clear_pointer(&v, g_free);
    v = g_strdup_printf("%s -device virtio-rng-device,rng=r0,max-bytes=64", obj);
    expect_error(v, "Argument 'period' is missing");
    g_clear_pointer(&v, g_free);
    v = g_strdup_printf("%s -device virtio-rng-device,rng=r0,period=64", obj);
    expect_error(v, "Argument 'max-bytes' is missing");
    g_clear_pointer(&v, g_free);
    v = g_strdup_printf("%s -device virtio-rng-device,rng=r0,max-bytes=0,period=1000", obj);
    expect_error(v, "Property virtio-rng-device.max-bytes doesn't take value 0 "
                 "(minimum: 1, maximum: 18446744073709551615)");
    g_clear_pointer(&v, g_free);
    v = g_strdup_printf("%s -device virtio-rng-device,rng=r0,addr=0x8", obj);
    expect_error(v, "Invalid addr for device virtio-rng-device: virtio-rng-device is not a "
                 "replaceable device");
    g_clear_pointer(&v, g_free);
    v = g_strdup_printf("%s -device virtio-rng-device,rng=r0 -device virtio-rng-device,rng=r0",
                        obj);
    expect_error(v, "rng-random 'r0' is already used by device 'virtio-rng-device'");
    g_clear_pointer(&v, g_free);
    v = rng_devices_args(12);
    expect_error(v, "IRQ number exhausted.");
    g_clear_pointer(&v, g_free);
    expect_error("-object rng-random,id=r0,filename=/nonexistent/random",
                 "Could not open '/nonexistent/random': No such file or directory");
    expect_error("-object rng-random,id=r0,filename=/", "Could not open '/': Is a directory");
    expect_error("-object rng-egd,id=r0", "-object: Parameter 'qom-type' does not accept "
                 "value 'rng-egd'");
    expect_error("-object rng-random", "-object: Parameter 'id' is missing");
    expect_error("-object rng-random,id=0r", "-object: Parameter 'id' expects an identifier");
    expect_error("-object rng-random,id=r0,file=/dev/urandom",
                 "-object: Invalid parameter 'file'");
    expect_error("-object rng-random,id=r0 -object rng-random,id=r0",
                 "-object: Duplicate ID 'r0' for object");
}

/*
 * x-query-virtio-status / -queue-status / -queue-element (docs/qmp.md
 * "Virtio introspection") see what this driver did: status bits, the rings
 * it placed and the chain it posted.
 */
static void test_introspection(void)
{
    QTestState *s = qtest_init("-object rng-random,id=r0 -device virtio-rng-device,rng=r0,id=rng0");
    const char *path = "/machine/peripheral/rng0";
    g_autoptr(JsonNode) st = NULL, q = NULL, e = NULL;
    JsonObject *o;
    JsonArray *descs;
    uint8_t buf[32];
    uint64_t g;
    unsigned head;
    Rng r;

    rng_start(&r, s);
    g_assert_cmpuint(rng_read(&r, buf, sizeof(buf)), ==, sizeof(buf));
    st = qtest_qmp_assert_success_ref(s, "{'execute': 'x-query-virtio-status', 'arguments': "
                                      "{'path': '%s'}}", path);
    o = json_node_get_object(st);
    g_assert_true(json_object_get_boolean_member(o, "started"));
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(
        json_object_get_object_member(o, "status"), "statuses")), ==, 4);
    g_assert_cmpint(json_object_get_int_member(o, "device-id"), ==, VIRTIO_ID_RNG);
    q = qtest_qmp_assert_success_ref(s, "{'execute': 'x-query-virtio-queue-status', "
                                     "'arguments': {'path': '%s', 'queue': 0}}", path);
    o = json_node_get_object(q);
    g_assert_cmphex(json_object_get_int_member(o, "vring-desc"), ==, r.vq->desc);
    g_assert_cmphex(json_object_get_int_member(o, "vring-avail"), ==, r.vq->avail);
    g_assert_cmphex(json_object_get_int_member(o, "vring-used"), ==, r.vq->used);
    g_assert_cmpint(json_object_get_int_member(o, "vring-num"), ==, r.vq->num);
    g_assert_cmpint(json_object_get_int_member(o, "last-avail-idx"), ==, 1);
    /* The second chain the driver made available sits in available-ring slot 1. */
    head = post(&r, &g, 48);
    qvirtqueue_wait_used(r.vq, head, 10000);
    e = qtest_qmp_assert_success_ref(s, "{'execute': 'x-query-virtio-queue-element', "
                                     "'arguments': {'path': '%s', 'queue': 0, 'index': 1}}",
                                     path);
    o = json_node_get_object(e);
    g_assert_cmpint(json_object_get_int_member(o, "index"), ==, head);
    descs = json_object_get_array_member(o, "descs");
    g_assert_cmpuint(json_array_get_length(descs), ==, 1);
    g_assert_cmphex(json_object_get_int_member(json_array_get_object_element(descs, 0), "addr"),
                    ==, g);
    g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(descs, 0), "len"),
                    ==, 48);
    g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(o, "avail"), "idx"),
                    ==, 2);
    rng_stop(&r);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-rng/identification", test_identification);
    g_test_add_func("/virtio-rng/read-urandom", test_read_urandom);
    g_test_add_func("/virtio-rng/read-file", test_read_file);
    g_test_add_func("/virtio-rng/rate-limit", test_rate_limit);
    g_test_add_data_func("/virtio-rng/hostile/readable", GINT_TO_POINTER(H_READABLE),
                         test_hostile);
    g_test_add_data_func("/virtio-rng/hostile/zero-length", GINT_TO_POINTER(H_ZERO_LEN),
                         test_hostile);
    g_test_add_data_func("/virtio-rng/hostile/out-of-ram", GINT_TO_POINTER(H_OUT_OF_RAM),
                         test_hostile);
    g_test_add_data_func("/virtio-rng/hostile/mixed", GINT_TO_POINTER(H_MIXED), test_hostile);
    g_test_add_func("/virtio-rng/windows", test_windows);
    g_test_add_func("/virtio-rng/hotplug-refused", test_hotplug_refused);
    g_test_add_func("/virtio-rng/cli-errors", test_cli_errors);
    g_test_add_func("/virtio-rng/qmp-objects", test_qmp_objects);
    g_test_add_func("/virtio-rng/introspection", test_introspection);
    return g_test_run();
}
