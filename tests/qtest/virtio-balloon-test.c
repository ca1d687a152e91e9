/*
 * virtio-balloon on microvm, the test playing the guest driver: the device
 * on the first virtio-mmio window after the 8 slots, QMP balloon /
 * query-balloon and BALLOON_CHANGED (rate-limited on the virtual clock)
 * driven by writing the driver's side through the rings, inflated pages
 * reading zero and leaving the VMM's RSS, free-page reporting, hostile
 * buffers, resets, and the command-line and device_add errors.
 */
#include <stdio.h>
#include <string.h>
#include "virtio-mmio.h"

#define BALLOON_BASE (QVIRTIO_MICROVM_BASE + 8 * QVIRTIO_MICROVM_STRIDE)
#define BALLOON_GSI (QVIRTIO_MICROVM_IRQ0 + 8)
#define MIB (1ULL << 20)
#define RAM (256 * MIB)
#define PAGE 4096ULL
#define SEC 1000000000LL

#define F_STATS_VQ 1
#define F_DEFLATE_ON_OOM 2
#define F_REPORTING 5
#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS 2
#define CFG_NUM_PAGES 0
#define CFG_ACTUAL 4

/* Guest memory the tests balloon: well above the rings and buffers. */
#define DATA (64 * MIB)

typedef struct Bln {
    QTestState *s;
    QVirtioMmio d;
    QGuestAlloc a;
    QVirtQueue *vq[4];
    unsigned nq;
    uint64_t pfn_buf;
} Bln;

static void bln_start(Bln *b, const char *props, uint64_t want, unsigned nq)
{
    memset(b, 0, sizeof(*b));
    b->s = qtest_initf("-m 256M -device virtio-balloon-device,id=bal0%s", props);
    guest_alloc_init(&b->a, QTEST_ALLOC_START, QTEST_ALLOC_START + 16 * MIB);
    qtest_irq_intercept_in(b->s, "ioapic");
    qvirtio_mmio_init(&b->d, b->s, BALLOON_BASE, BALLOON_GSI);
    g_assert_cmpuint(qvirtio_device_id(&b->d), ==, 5);
    g_assert_true(qvirtio_negotiate(&b->d, want));
    for (unsigned q = 0; q < nq; q++) {
        b->vq[q] = qvirtqueue_setup(&b->d, &b->a, q, 0);
    }
    b->nq = nq;
    b->pfn_buf = guest_alloc(&b->a, 256 * 4, 4096);
    qvirtio_driver_ok(&b->d);
}

static void bln_stop(Bln *b)
{
    for (unsigned q = 0; q < b->nq; q++) {
        qvirtqueue_free(b->vq[q]);
    }
    qtest_quit(b->s);
}

/* PFNs [first, first+n) in one buffer per 256, as Linux posts them. */
static void post_range(Bln *b, unsigned q, uint64_t first, uint64_t n)
{
    uint32_t pfns[256];

    while (n) {
        unsigned k = n < 256 ? (unsigned)n : 256;
        for (unsigned i = 0; i < k; i++) {
            pfns[i] = GUINT32_TO_LE((uint32_t)(first + i));
        }
        qtest_bufwrite(b->s, b->pfn_buf, pfns, 4 * k);
        unsigned head = qvirtqueue_add(b->vq[q], b->pfn_buf, 4 * k, false, false);
        qvirtqueue_kick(b->vq[q], head);
        qvirtqueue_wait_used(b->vq[q], head, 10000);
        first += k;
        n -= k;
    }
}

static void post_pfns(Bln *b, unsigned q, const uint32_t *pfn, unsigned n)
{
    uint32_t le[64];

    g_assert_cmpuint(n, <=, G_N_ELEMENTS(le));
    for (unsigned i = 0; i < n; i++) {
        le[i] = GUINT32_TO_LE(pfn[i]);
    }
    qtest_bufwrite(b->s, b->pfn_buf, le, 4 * n);
    unsigned head = qvirtqueue_add(b->vq[q], b->pfn_buf, 4 * n, false, false);
    qvirtqueue_kick(b->vq[q], head);
    qvirtqueue_wait_used(b->vq[q], head, 10000);
}

static void set_actual(Bln *b, uint32_t pages)
{
    qtest_writel(b->s, BALLOON_BASE + QVIRTIO_MMIO_CONFIG + CFG_ACTUAL, pages);
}

static uint32_t num_pages(Bln *b)
{
    return qvirtio_config_readl(&b->d, CFG_NUM_PAGES);
}

static int64_t query_actual(QTestState *s)
{
    JsonNode *r = qtest_qmp_assert_success_ref(s, "{'execute': 'query-balloon'}");
    JsonObject *o = qmp_obj(r);
    int64_t v;

    g_assert_cmpuint(json_object_get_size(o), ==, 1);
    v = json_object_get_int_member(o, "actual");
    json_node_unref(r);
    return v;
}

/* The next BALLOON_CHANGED: exactly {"actual": bytes}. */
static void expect_event(QTestState *s, int64_t actual)
{
    JsonNode *ev = qtest_qmp_eventwait_ref(s, "BALLOON_CHANGED");
    JsonObject *data = json_object_get_object_member(qmp_obj(ev), "data");

    g_assert_cmpuint(json_object_get_size(data), ==, 1);
    g_assert_cmpint(json_object_get_int_member(data, "actual"), ==, actual);
    json_node_unref(ev);
}

/* No BALLOON_CHANGED has arrived (a QMP round trip lets pending ones in). */
static void expect_no_event(QTestState *s)
{
    JsonNode *ev;

    query_actual(s);
    ev = qtest_qmp_event_ref(s, "BALLOON_CHANGED");
    if (ev) {
        g_error("unexpected BALLOON_CHANGED: %s", json_to_string(ev, FALSE));
    }
}

static void expect_qmp_error(QTestState *s, const char *cmd, const char *cls, const char *desc)
{
    JsonNode *r = qtest_qmp(s, "%s", cmd);

    g_assert_cmpstr(qmp_error_class(r), ==, cls);
    g_assert_cmpstr(qmp_error_desc(r), ==, desc);
    json_node_unref(r);
}

/* In 1 MiB steps: qtest's memset copies through a buffer of its length. */
static void touch(QTestState *s, uint64_t gpa, uint64_t len, uint8_t byte)
{
    for (uint64_t off = 0; off < len; off += MIB) {
        qtest_memset(s, gpa + off, byte, MIN(MIB, len - off));
    }
}

static long vm_rss_kib(QTestState *s)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)qtest_pid(s));
    g_autofree char *text = NULL;
    const char *p;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    p = strstr(text, "VmRSS:");
    g_assert_nonnull(p);
    return strtol(p + 6, NULL, 10);
}

/* ---- tests ---- */

/* The first window after the slots, GSI 13; features by property. */
static void test_window(void)
{
    QTestState *s = qtest_init("-device virtio-balloon-device -device pvpanic");
    QVirtioMmio d;
    uint64_t f;

    /* The slots come first: 6 virtio-blk, 2 virtio-net, then the balloon. */
    qvirtio_mmio_init(&d, s, QVIRTIO_MICROVM_BASE + 7 * QVIRTIO_MICROVM_STRIDE, 12);
    g_assert_cmpuint(qvirtio_device_id(&d), ==, 1);
    qvirtio_mmio_init(&d, s, BALLOON_BASE, BALLOON_GSI);
    g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_MAGIC), ==, QVIRTIO_MAGIC);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_VERSION), ==, 2);
    g_assert_cmpuint(qvirtio_device_id(&d), ==, 5);
    f = qvirtio_device_features(&d);
    g_assert_cmphex(f, ==, (1ULL << QVIRTIO_F_VERSION_1) | (1ULL << F_STATS_VQ) |
                    (1ULL << QVIRTIO_F_EVENT_IDX) | (1ULL << QVIRTIO_F_INDIRECT_DESC));
    for (unsigned q = 0; q < 4; q++) {
        qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, q);
        g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, q < 3 ? 128 : 0);
    }
    g_assert_cmpuint(qvirtio_config_readl(&d, CFG_NUM_PAGES), ==, 0);
    g_assert_cmpuint(qvirtio_config_readl(&d, CFG_ACTUAL), ==, 0);
    /* Nothing after it. */
    g_assert_cmphex(qtest_readl(s, BALLOON_BASE + QVIRTIO_MICROVM_STRIDE), ==, 0);
    qtest_quit(s);

    s = qtest_init("-device virtio-balloon-mmio,deflate-on-oom=on,free-page-reporting=on");
    qvirtio_mmio_init(&d, s, BALLOON_BASE, BALLOON_GSI);
    f = qvirtio_device_features(&d);
    g_assert_true(f & (1ULL << F_DEFLATE_ON_OOM));
    g_assert_true(f & (1ULL << F_REPORTING));
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 3);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 128);
    /* A driver accepting deflate-on-oom gets it. */
    g_assert_true(qvirtio_negotiate(&d, 1ULL << F_DEFLATE_ON_OOM));
    g_assert_cmphex(d.features, ==, (1ULL << F_DEFLATE_ON_OOM) | (1ULL << QVIRTIO_F_VERSION_1));
    qtest_quit(s);
}

/*
 * With other devices of their own window (virtio-rng): command-line order,
 * one window each after the slots (IRQs 13..23).
 */
static void test_placement(void)
{
    QTestState *s = qtest_init("-m 256M -object rng-random,id=r0 -object rng-random,id=r1 "
                               "-device virtio-rng-device,rng=r0 -device virtio-balloon-device "
                               "-device virtio-rng-device,rng=r1,id=rng1");
    QVirtioMmio d;

    qvirtio_mmio_init(&d, s, BALLOON_BASE, BALLOON_GSI);
    g_assert_cmpuint(qvirtio_device_id(&d), ==, 4);
    qvirtio_mmio_init(&d, s, BALLOON_BASE + QVIRTIO_MICROVM_STRIDE, BALLOON_GSI + 1);
    g_assert_cmpuint(qvirtio_device_id(&d), ==, 5);
    qvirtio_mmio_init(&d, s, BALLOON_BASE + 2 * QVIRTIO_MICROVM_STRIDE, BALLOON_GSI + 2);
    g_assert_cmpuint(qvirtio_device_id(&d), ==, 4);
    g_assert_cmpint(query_actual(s), ==, RAM);
    qtest_quit(s);
}

static void test_no_device(void)
{
    QTestState *s = qtest_init("");

    expect_qmp_error(s, "{'execute': 'query-balloon'}", "DeviceNotActive",
                     "No balloon device has been activated");
    expect_qmp_error(s, "{'execute': 'balloon', 'arguments': {'value': 134217728}}",
                     "DeviceNotActive", "No balloon device has been activated");
    /* The device is looked for first, as QEMU does. */
    expect_qmp_error(s, "{'execute': 'balloon', 'arguments': {'value': 0}}",
                     "DeviceNotActive", "No balloon device has been activated");
    qtest_quit(s);
}

static void test_target(void)
{
    Bln b;
    uint32_t gen;

    bln_start(&b, "", 0, 2);
    g_assert_cmpint(query_actual(b.s), ==, RAM);
    gen = qvirtio_readl(&b.d, QVIRTIO_MMIO_CONFIG_GEN);
    qtest_qmp_assert_success(b.s, "{'execute': 'balloon', 'arguments': {'value': %llu}}",
                             (unsigned long long)(RAM / 2));
    g_assert_cmpuint(num_pages(&b), ==, RAM / 2 / PAGE);
    g_assert_cmpuint(qvirtio_readl(&b.d, QVIRTIO_MMIO_CONFIG_GEN), !=, gen);
    /* A config-change interrupt on GSI 13. */
    g_assert_cmpuint(qtest_irq_raise_count(b.s, BALLOON_GSI), ==, 1);
    g_assert_cmphex(qvirtio_isr(&b.d) & QVIRTIO_INT_CONFIG, ==, QVIRTIO_INT_CONFIG);
    qvirtio_ack_isr(&b.d, QVIRTIO_INT_CONFIG);
    /* The guest has not moved: query-balloon and no event. */
    g_assert_cmpint(query_actual(b.s), ==, RAM);
    expect_no_event(b.s);
    /* More than RAM: all of it (the seeds' clamp). */
    qtest_qmp_assert_success(b.s, "{'execute': 'balloon', 'arguments': {'value': %llu}}",
                             (unsigned long long)(1ULL << 40));
    g_assert_cmpuint(num_pages(&b), ==, 0);
    qtest_qmp_assert_success(b.s, "{'execute': 'balloon', 'arguments': {'value': 1}}");
    g_assert_cmpuint(num_pages(&b), ==, RAM / PAGE - 1);
    /* StratoVirt's lenient command: unknown members are ignored. */
    qtest_qmp_assert_success(b.s, "{'execute': 'balloon', 'arguments': "
                             "{'value': 134217728, 'extra': 1}}");
    qtest_qmp_assert_success(b.s, "{'execute': 'query-balloon', 'arguments': {'x': 1}}");
    expect_qmp_error(b.s, "{'execute': 'balloon', 'arguments': {'value': 0}}",
                     "GenericError", "Parameter 'value' expects a size");
    expect_qmp_error(b.s, "{'execute': 'balloon', 'arguments': {'value': -4096}}",
                     "GenericError", "Parameter 'value' expects a size");
    expect_qmp_error(b.s, "{'execute': 'balloon'}", "GenericError",
                     "Parameter 'value' is missing");
    expect_qmp_error(b.s, "{'execute': 'balloon', 'arguments': {'value': '1G'}}",
                     "GenericError", "Invalid parameter type for 'value', expected: integer");
    /* A refused command left the target alone. */
    g_assert_cmpuint(num_pages(&b), ==, RAM / 2 / PAGE);
    /* The guest cannot change the host's half of the config. */
    qtest_writel(b.s, BALLOON_BASE + QVIRTIO_MMIO_CONFIG + CFG_NUM_PAGES, 5);
    g_assert_cmpuint(num_pages(&b), ==, RAM / 2 / PAGE);
    bln_stop(&b);
}

/*
 * The guest side of `balloon` to half: inflate, write actual, one event;
 * then the rate limit: changes within a second come as one event at its end.
 */
static void test_inflate_events(void)
{
    uint64_t n = RAM / 2 / PAGE, first = DATA / PAGE;
    uint8_t buf[64];
    Bln b;

    bln_start(&b, "", 0, 2);
    qtest_qmp_assert_success(b.s, "{'execute': 'balloon', 'arguments': {'value': %llu}}",
                             (unsigned long long)(RAM / 2));
    /* The balloon takes [DATA, DATA + 128 MiB): 32768 PFNs, 128 buffers. */
    qtest_memset(b.s, DATA, 0xa5, 64);
    qtest_memset(b.s, DATA + RAM / 2 - 64, 0xa5, 64);
    post_range(&b, Q_INFLATE, first, n);
    qtest_memread(b.s, DATA, buf, sizeof(buf));
    for (unsigned i = 0; i < sizeof(buf); i++) {
        g_assert_cmpuint(buf[i], ==, 0);
    }
    qtest_memread(b.s, DATA + RAM / 2 - 64, buf, sizeof(buf));
    g_assert_cmpuint(buf[63], ==, 0);
    g_assert_cmpint(query_actual(b.s), ==, RAM);      /* until the guest says so */
    set_actual(&b, (uint32_t)n);
    expect_event(b.s, RAM / 2);
    g_assert_cmpint(query_actual(b.s), ==, RAM / 2);
    g_assert_cmpuint(qvirtio_config_readl(&b.d, CFG_ACTUAL), ==, n);

    /* Within the second: held, then the latest value at its end. */
    set_actual(&b, (uint32_t)(n - 10));
    set_actual(&b, (uint32_t)(n - 20));
    expect_no_event(b.s);
    g_assert_cmpint(query_actual(b.s), ==, RAM / 2 + 20 * PAGE);
    qtest_clock_step(b.s, SEC);
    expect_event(b.s, RAM / 2 + 20 * PAGE);
    expect_no_event(b.s);
    /* The same value again is no change. */
    qtest_clock_step(b.s, 2 * SEC);
    set_actual(&b, (uint32_t)(n - 20));
    expect_no_event(b.s);

    /* Deflate, back to all of RAM; a second later, so at once. */
    qtest_qmp_assert_success(b.s, "{'execute': 'balloon', 'arguments': {'value': %llu}}",
                             (unsigned long long)RAM);
    g_assert_cmpuint(num_pages(&b), ==, 0);
    post_range(&b, Q_DEFLATE, first, n);
    set_actual(&b, 0);
    expect_event(b.s, RAM);
    g_assert_cmpint(query_actual(b.s), ==, RAM);
    /* Deflated pages are the guest's again. */
    qtest_memset(b.s, DATA, 0x3c, 64);
    qtest_memread(b.s, DATA, buf, sizeof(buf));
    g_assert_cmpuint(buf[0], ==, 0x3c);
    bln_stop(&b);
}

/* The VMM's RSS drops by (at least 80% of) what was ballooned, and grows back. */
static void test_rss(void)
{
    const uint64_t len = 96 * MIB, first = DATA / PAGE, n = len / PAGE;
    long touched, ballooned, refilled;
    Bln b;

    bln_start(&b, "", 0, 2);
    g_test_message("VmRSS: %ld KiB at start", vm_rss_kib(b.s));
    touch(b.s, DATA, len, 0x5a);
    touched = vm_rss_kib(b.s);
    post_range(&b, Q_INFLATE, first, n);
    ballooned = vm_rss_kib(b.s);
    g_test_message("VmRSS: %ld KiB touched, %ld KiB ballooned", touched, ballooned);
    g_assert_cmpint(touched - ballooned, >=, (long)(len / 1024) * 8 / 10);
    post_range(&b, Q_DEFLATE, first, n);
    touch(b.s, DATA, len, 0x5b);
    refilled = vm_rss_kib(b.s);
    g_test_message("VmRSS: %ld KiB after deflate and refill", refilled);
    g_assert_cmpint(refilled - ballooned, >=, (long)(len / 1024) * 8 / 10);
    bln_stop(&b);
}

/* Out-of-RAM PFNs are ignored, the device carries on; bad shapes need a reset. */
static void test_hostile(void)
{
    const uint32_t pfns[] = { 0xffffffff, (uint32_t)(RAM / PAGE), 0xF0101,
                              (uint32_t)(DATA / PAGE), 0xFEE00 };
    uint8_t byte;
    unsigned head;
    Bln b;

    bln_start(&b, "", 0, 2);
    qtest_memset(b.s, DATA, 0x77, PAGE);
    post_pfns(&b, Q_INFLATE, pfns, G_N_ELEMENTS(pfns));
    g_assert_cmpuint(qvirtio_get_status(&b.d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    byte = qtest_readb(b.s, DATA);
    g_assert_cmpuint(byte, ==, 0);
    post_pfns(&b, Q_DEFLATE, pfns, G_N_ELEMENTS(pfns));
    g_assert_cmpuint(qvirtio_get_status(&b.d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    /* Both buffers came back with a used-buffer interrupt. */
    g_assert_cmpuint(qtest_irq_raise_count(b.s, BALLOON_GSI), >=, 2);

    /* 6 bytes is not an array of PFNs: NEEDS_RESET and a config interrupt. */
    head = qvirtqueue_add(b.vq[Q_INFLATE], b.pfn_buf, 6, false, false);
    qvirtqueue_kick(b.vq[Q_INFLATE], head);
    g_assert_cmphex(qvirtio_get_status(&b.d) & QVIRTIO_S_NEEDS_RESET, ==, QVIRTIO_S_NEEDS_RESET);
    g_assert_cmphex(qvirtio_isr(&b.d) & QVIRTIO_INT_CONFIG, ==, QVIRTIO_INT_CONFIG);
    /* A broken device ignores kicks until reset; QMP still answers. */
    g_assert_cmpint(query_actual(b.s), ==, RAM);
    qtest_qmp_assert_success(b.s, "{'execute': 'balloon', 'arguments': {'value': 1048576}}");
    bln_stop(&b);

    /* A device-writable buffer on the deflate queue, a ring entry beyond RAM. */
    bln_start(&b, "", 0, 2);
    head = qvirtqueue_add(b.vq[Q_DEFLATE], b.pfn_buf, 8, true, false);
    qvirtqueue_kick(b.vq[Q_DEFLATE], head);
    g_assert_cmphex(qvirtio_get_status(&b.d) & QVIRTIO_S_NEEDS_RESET, ==, QVIRTIO_S_NEEDS_RESET);
    g_assert_true(qvirtio_negotiate(&b.d, 0));
    qvirtqueue_free(b.vq[Q_INFLATE]);
    b.vq[Q_INFLATE] = qvirtqueue_setup(&b.d, &b.a, Q_INFLATE, 0);
    qvirtio_driver_ok(&b.d);
    head = qvirtqueue_add(b.vq[Q_INFLATE], RAM - 4, 8, false, false);
    qvirtqueue_kick(b.vq[Q_INFLATE], head);
    g_assert_cmphex(qvirtio_get_status(&b.d) & QVIRTIO_S_NEEDS_RESET, ==, QVIRTIO_S_NEEDS_RESET);
    bln_stop(&b);
}

/* Reported free ranges lose their host memory and stay the guest's. */
static void test_reporting(void)
{
    uint64_t want = (1ULL << F_STATS_VQ) | (1ULL << F_REPORTING);
    uint8_t buf[4];
    unsigned head;
    Bln b;

    bln_start(&b, ",free-page-reporting=on", want, 4);
    qtest_memset(b.s, DATA, 0x66, 4 * PAGE);
    head = qvirtqueue_add(b.vq[3], DATA + PAGE, 2 * PAGE, true, false);
    qvirtqueue_kick(b.vq[3], head);
    qvirtqueue_wait_used(b.vq[3], head, 10000);
    qtest_memread(b.s, DATA + PAGE - 2, buf, 4);
    g_assert_cmpuint(buf[0], ==, 0x66);
    g_assert_cmpuint(buf[2], ==, 0);
    qtest_memread(b.s, DATA + 3 * PAGE - 2, buf, 4);
    g_assert_cmpuint(buf[0], ==, 0);
    g_assert_cmpuint(buf[2], ==, 0x66);
    /* Reporting is not ballooning: nothing changed for QMP. */
    g_assert_cmpint(query_actual(b.s), ==, RAM);
    expect_no_event(b.s);
    /* A device-readable report is malformed. */
    head = qvirtqueue_add(b.vq[3], DATA, PAGE, false, false);
    qvirtqueue_kick(b.vq[3], head);
    g_assert_cmphex(qvirtio_get_status(&b.d) & QVIRTIO_S_NEEDS_RESET, ==, QVIRTIO_S_NEEDS_RESET);
    bln_stop(&b);
}

/* The stats buffer stays with the device; a second one sends the first back. */
static void test_stats(void)
{
    uint8_t stat[10] = { 4, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0 };   /* MEMFREE = 4096 */
    unsigned h1, h2;
    uint32_t id, len;
    uint64_t g;
    Bln b;

    bln_start(&b, "", 1ULL << F_STATS_VQ, 3);
    g = guest_alloc(&b.a, 16, 16);
    qtest_memwrite(b.s, g, stat, sizeof(stat));
    h1 = qvirtqueue_add(b.vq[Q_STATS], g, 10, false, false);
    qvirtqueue_kick(b.vq[Q_STATS], h1);
    g_assert_false(qvirtqueue_poll_used(b.vq[Q_STATS], &id, &len, 200));
    h2 = qvirtqueue_add(b.vq[Q_STATS], g, 10, false, false);
    qvirtqueue_kick(b.vq[Q_STATS], h2);
    g_assert_true(qvirtqueue_poll_used(b.vq[Q_STATS], &id, &len, 1000));
    g_assert_cmpuint(id, ==, h1);
    g_assert_false(qvirtqueue_poll_used(b.vq[Q_STATS], &id, &len, 200));
    bln_stop(&b);
}

/*
 * A device reset (the driver's) leaves the balloon empty: the guest has all
 * of its memory, BALLOON_CHANGED says so; the target stays for the next
 * driver. system_reset does the same.
 */
static void test_reset(void)
{
    Bln b;

    bln_start(&b, "", 0, 2);
    qtest_qmp_assert_success(b.s, "{'execute': 'balloon', 'arguments': {'value': %llu}}",
                             (unsigned long long)(RAM - 100 * PAGE));
    set_actual(&b, 100);
    expect_event(b.s, RAM - 100 * PAGE);
    qtest_clock_step(b.s, SEC);
    qvirtio_reset(&b.d);
    expect_event(b.s, RAM);
    g_assert_cmpint(query_actual(b.s), ==, RAM);
    g_assert_cmpuint(num_pages(&b), ==, 100);
    g_assert_cmpuint(qvirtio_config_readl(&b.d, CFG_ACTUAL), ==, 0);
    g_assert_true(qvirtio_negotiate(&b.d, 0));
    qvirtio_driver_ok(&b.d);
    set_actual(&b, 100);
    qtest_clock_step(b.s, SEC);
    expect_event(b.s, RAM - 100 * PAGE);
    qtest_clock_step(b.s, SEC);
    qtest_qmp_assert_success(b.s, "{'execute': 'system_reset'}");
    expect_event(b.s, RAM);
    g_assert_cmpuint(qvirtio_get_status(&b.d), ==, 0);
    g_assert_cmpuint(num_pages(&b), ==, 100);
    bln_stop(&b);
}

static void test_errors(void)
{
    QTestState *s;
    GString *args;

    qtest_expect_startup_error("-accel qtest -device virtio-balloon-device "
                         "-device virtio-balloon-device,id=b2",
                         "stratus: error: Only one balloon device is supported for each vm.\n");
    qtest_expect_startup_error("-accel qtest -device virtio-balloon-device,deflate-on-oom=maybe",
                         "stratus: error: Parameter 'deflate-on-oom' expects 'on' or 'off'\n");
    qtest_expect_startup_error("-accel qtest -device virtio-balloon-device,free-page-reporting=2",
                         "stratus: error: Parameter 'free-page-reporting' expects 'on' or "
                         "'off'\n");
    qtest_expect_startup_error("-accel qtest -device virtio-balloon-device,guest-stats=1",
                         "stratus: error: Property 'virtio-balloon-device.guest-stats' "
                         "not found\n");
    qtest_expect_startup_error("-accel qtest -device virtio-balloon-device,id=b,addr=0x1",
                         "stratus: error: Invalid addr for device b: virtio-balloon-device "
                         "is not a replaceable device\n");
    /* Eleven windows (IRQs 13..23) taken by virtio-rng: no twelfth. */
    args = g_string_new("-accel qtest");
    for (unsigned i = 0; i < 11; i++) {
        g_string_append_printf(args, " -object rng-random,id=r%u -device virtio-rng-device,rng=r%u",
                               i, i);
    }
    g_string_append(args, " -device virtio-balloon-device");
    qtest_expect_startup_error(args->str, "stratus: error: IRQ number exhausted.\n");
    g_string_free(args, TRUE);

    /* Not hot-pluggable on microvm (StratoVirt's texts), before or after boot. */
    s = qtest_init("-m 256M -device virtio-balloon-device,id=bal0");
    expect_qmp_error(s, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'virtio-balloon-device', 'id': 'bal1'}}",
                     "GenericError", "Unsupported replaceable device type.");
    expect_qmp_error(s, "{'execute': 'device_del', 'arguments': {'id': 'bal0'}}",
                     "GenericError", "Device 'bal0' does not support hotplugging");
    g_assert_cmpint(query_actual(s), ==, RAM);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-balloon/window", test_window);
    g_test_add_func("/virtio-balloon/placement", test_placement);
    g_test_add_func("/virtio-balloon/no-device", test_no_device);
    g_test_add_func("/virtio-balloon/target", test_target);
    g_test_add_func("/virtio-balloon/inflate-events", test_inflate_events);
    g_test_add_func("/virtio-balloon/rss", test_rss);
    g_test_add_func("/virtio-balloon/hostile", test_hostile);
    g_test_add_func("/virtio-balloon/reporting", test_reporting);
    g_test_add_func("/virtio-balloon/stats", test_stats);
    g_test_add_func("/virtio-balloon/reset", test_reset);
    g_test_add_func("/virtio-balloon/errors", test_errors);
    return g_test_run();
}
