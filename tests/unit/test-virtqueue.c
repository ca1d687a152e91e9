/* Split virtqueue validation with hostile guest input. */
#include <string.h>

#include "memory.h"
#include "hw/virtio/virtqueue.h"

#define MIB (1ULL << 20)
#define RAM_SIZE (16 * MIB)
#define QSZ 8
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define BUF   0x10000

typedef struct Fixture {
    GuestRam ram;
    VirtQueue vq;
} Fixture;

static void set_desc(Fixture *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t d[16];
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    g_assert_true(guest_ram_write(&f->ram, table + 16ULL * i, d, 16));
}

static void w16(Fixture *f, uint64_t gpa, uint16_t v)
{
    g_assert_true(guest_ram_write(&f->ram, gpa, &v, 2));
}

static uint16_t r16(Fixture *f, uint64_t gpa)
{
    uint16_t v;
    g_assert_true(guest_ram_read(&f->ram, gpa, &v, 2));
    return v;
}

static uint32_t r32(Fixture *f, uint64_t gpa)
{
    uint32_t v;
    g_assert_true(guest_ram_read(&f->ram, gpa, &v, 4));
    return v;
}

/* Put head in avail ring slot idx and publish idx+1. */
static void make_avail(Fixture *f, uint16_t idx, uint16_t head)
{
    w16(f, AVAIL + 4 + 2 * (idx % QSZ), head);
    w16(f, AVAIL + 2, idx + 1);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    const char *why = NULL;

    g_assert_true(guest_ram_init(&f->ram, RAM_SIZE, 3ULL << 30, false, false, NULL));
    virtqueue_init(&f->vq, &f->ram, QSZ);
    f->vq.num = QSZ;
    f->vq.desc = DESC;
    f->vq.avail = AVAIL;
    f->vq.used = USED;
    g_assert_true(virtqueue_enable(&f->vq, data != NULL, true, &why));
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    guest_ram_destroy(&f->ram);
}

/* Expect pop to fail; returns the reason. */
static void expect_malformed(Fixture *f, const char *fragment)
{
    VirtQueueElement *e;
    char *why;

    g_assert_cmpint(virtqueue_pop(&f->vq, &e, &why), ==, -1);
    g_assert_null(e);
    g_assert_nonnull(why);
    if (fragment && !strstr(why, fragment)) {
        g_error("reason '%s' lacks '%s'", why, fragment);
    }
    g_free(why);
}

static void test_simple_chain(Fixture *f, gconstpointer data)
{
    VirtQueueElement *e;
    char *why;

    set_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, DESC, 1, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    set_desc(f, DESC, 2, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
    g_assert_true(virtqueue_empty(&f->vq));
    make_avail(f, 0, 0);
    g_assert_false(virtqueue_empty(&f->vq));
    g_assert_cmpint(virtqueue_pop(&f->vq, &e, &why), ==, 1);
    g_assert_cmpuint(e->out_num, ==, 1);
    g_assert_cmpuint(e->in_num, ==, 2);
    g_assert_cmpuint(e->out_len, ==, 16);
    g_assert_cmpuint(e->in_len, ==, 513);
    g_assert_true(e->out_sg[0].iov_base == guest_ram_ptr(&f->ram, BUF, 16));
    virtqueue_push(&f->vq, e, 513);
    g_assert_cmpuint(r16(f, USED + 2), ==, 1);
    g_assert_cmpuint(r32(f, USED + 4), ==, 0);
    g_assert_cmpuint(r32(f, USED + 8), ==, 513);
    g_free(e);
    g_assert_cmpint(virtqueue_pop(&f->vq, &e, &why), ==, 0);
}

static void test_loop(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, DESC, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "loop");
}

static void test_self_loop(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 3);
    make_avail(f, 0, 3);
    expect_malformed(f, "loop");
}

static void test_indirect_ok(Fixture *f, gconstpointer data)
{
    const uint64_t table = 0x5000;
    VirtQueueElement *e;
    char *why;

    set_desc(f, table, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, table, 1, BUF + 0x200, 4096, VIRTQ_DESC_F_NEXT, 2);
    set_desc(f, table, 2, BUF + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
    set_desc(f, DESC, 0, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0, 0);
    g_assert_cmpint(virtqueue_pop(&f->vq, &e, &why), ==, 1);
    g_assert_cmpuint(e->out_num, ==, 2);
    g_assert_cmpuint(e->in_num, ==, 1);
    g_assert_cmpuint(e->out_len, ==, 4112);
    g_free(e);
}

static void test_indirect_self_reference(Fixture *f, gconstpointer data)
{
    const uint64_t table = 0x5000;

    /* The table's only entry points back at the table, as indirect. */
    set_desc(f, table, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc(f, DESC, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "inside an indirect table");
}

static void test_indirect_loop(Fixture *f, gconstpointer data)
{
    const uint64_t table = 0x5000;

    set_desc(f, table, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, table, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    set_desc(f, DESC, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "loop");
}

static void test_indirect_bad(Fixture *f, gconstpointer data)
{
    const uint64_t table = 0x5000;

    /* NEXT pointing beyond the indirect table */
    set_desc(f, table, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc(f, DESC, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "beyond its table");
}

static void test_indirect_flags(Fixture *f, gconstpointer data)
{
    /* INDIRECT together with NEXT */
    set_desc(f, DESC, 0, 0x5000, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    make_avail(f, 0, 0);
    expect_malformed(f, "NEXT");
}

static void test_indirect_len(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC, 0, 0x5000, 24, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "indirect table length");
}

static void test_indirect_out_of_ram(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC, 0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "outside guest RAM");
}

static void test_indirect_not_negotiated(Fixture *f, gconstpointer data)
{
    f->vq.indirect = false;
    set_desc(f, DESC, 0, 0x5000, 32, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "not negotiated");
}

static void test_out_of_ram(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC, 0, RAM_SIZE - 8, 16, 0, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "outside guest RAM");
}

static void test_wrapping_address(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC, 0, UINT64_MAX - 4, 16, 0, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "outside guest RAM");
}

static void test_zero_length(Fixture *f, gconstpointer data)
{
    VirtQueueElement *e;
    char *why;

    set_desc(f, DESC, 0, BUF, 0, 0, 0);
    make_avail(f, 0, 0);
    g_assert_cmpint(virtqueue_pop(&f->vq, &e, &why), ==, 1);
    g_assert_cmpuint(e->out_len, ==, 0);
    g_assert_cmpuint(e->in_len, ==, 0);
    g_free(e);
}

static void test_huge_chain(Fixture *f, gconstpointer data)
{
    /* A maximal indirect table whose lengths sum beyond 4 GiB. */
    const uint64_t table = 0x100000;
    for (unsigned i = 0; i < VIRTQ_MAX_CHAIN; i++) {
        set_desc(f, table, i, 0, 8 * MIB, VIRTQ_DESC_F_NEXT, i + 1);
    }
    set_desc(f, DESC, 0, table, 16 * VIRTQ_MAX_CHAIN, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "overflows");
}

static void test_too_long_indirect(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC, 0, 0x100000, 16 * (VIRTQ_MAX_CHAIN + 1), VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "indirect table length");
}

static void test_write_then_read(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, DESC, 1, BUF, 16, 0, 0);
    make_avail(f, 0, 0);
    expect_malformed(f, "after a device-writable");
}

static void test_bad_head_and_next(Fixture *f, gconstpointer data)
{
    make_avail(f, 0, QSZ);
    expect_malformed(f, "head");
}

static void test_next_beyond(Fixture *f, gconstpointer data)
{
    set_desc(f, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, QSZ);
    make_avail(f, 0, 0);
    expect_malformed(f, "beyond its table");
}

static void test_avail_ahead(Fixture *f, gconstpointer data)
{
    w16(f, AVAIL + 2, QSZ + 1);
    expect_malformed(f, "ahead");
    /* Exactly a full ring is fine. */
    for (unsigned i = 0; i < QSZ; i++) {
        set_desc(f, DESC, i, BUF, 16, 0, 0);
        w16(f, AVAIL + 4 + 2 * i, i);
    }
    w16(f, AVAIL + 2, QSZ);
    for (unsigned i = 0; i < QSZ; i++) {
        VirtQueueElement *e;
        char *why;
        g_assert_cmpint(virtqueue_pop(&f->vq, &e, &why), ==, 1);
        g_assert_cmpuint(e->head, ==, i);
        g_free(e);
    }
}

static void test_index_wrap(Fixture *f, gconstpointer data)
{
    VirtQueueElement *e;
    char *why;

    f->vq.last_avail_idx = 0xfffe;
    f->vq.used_idx = 0xfffe;
    w16(f, USED + 2, 0xfffe);
    set_desc(f, DESC, 0, BUF, 16, 0, 0);
    set_desc(f, DESC, 1, BUF, 16, 0, 0);
    set_desc(f, DESC, 2, BUF, 16, 0, 0);
    w16(f, AVAIL + 4 + 2 * (0xfffe % QSZ), 0);
    w16(f, AVAIL + 4 + 2 * (0xffff % QSZ), 1);
    w16(f, AVAIL + 4 + 2 * (0x0000 % QSZ), 2);
    w16(f, AVAIL + 2, 0x0001);       /* three entries across the wrap */
    for (unsigned i = 0; i < 3; i++) {
        g_assert_cmpint(virtqueue_pop(&f->vq, &e, &why), ==, 1);
        g_assert_cmpuint(e->head, ==, i);
        virtqueue_push(&f->vq, e, 0);
        g_free(e);
    }
    g_assert_cmpint(virtqueue_pop(&f->vq, &e, &why), ==, 0);
    g_assert_cmpuint(f->vq.last_avail_idx, ==, 1);
    g_assert_cmpuint(r16(f, USED + 2), ==, 1);
    g_assert_cmpuint(r32(f, USED + 4 + 8 * (0xffff % QSZ)), ==, 1);
}

static void test_need_event_math(void)
{
    /* event in (old, new] -> notify */
    g_assert_true(virtqueue_need_event(0, 1, 0));
    g_assert_false(virtqueue_need_event(1, 1, 0));
    g_assert_true(virtqueue_need_event(4, 5, 3));
    g_assert_false(virtqueue_need_event(5, 5, 3));
    g_assert_false(virtqueue_need_event(2, 5, 3));
    /* wrap-around */
    g_assert_true(virtqueue_need_event(0xffff, 0x0001, 0xfffe));
    g_assert_true(virtqueue_need_event(0x0000, 0x0001, 0xfffe));
    g_assert_false(virtqueue_need_event(0x0001, 0x0001, 0xfffe));
    g_assert_false(virtqueue_need_event(0xfffd, 0x0001, 0xfffe));
}

static void push_one(Fixture *f, uint16_t idx)
{
    VirtQueueElement *e;
    char *why;

    set_desc(f, DESC, idx % QSZ, BUF, 16, 0, 0);
    make_avail(f, idx, idx % QSZ);
    g_assert_cmpint(virtqueue_pop(&f->vq, &e, &why), ==, 1);
    virtqueue_push(&f->vq, e, 0);
    g_free(e);
}

static void test_event_idx_suppression(Fixture *f, gconstpointer data)
{
    /* used_event = avail->ring[QSZ]: the driver wants an interrupt after used idx 2. */
    w16(f, AVAIL + 4 + 2 * QSZ, 2);
    push_one(f, 0);
    g_assert_true(virtqueue_should_notify(&f->vq));   /* first one: no history */
    push_one(f, 1);
    g_assert_false(virtqueue_should_notify(&f->vq));  /* used 2, event 2: not crossed */
    push_one(f, 2);
    g_assert_true(virtqueue_should_notify(&f->vq));   /* used 3 passes event 2 */
    push_one(f, 3);
    g_assert_false(virtqueue_should_notify(&f->vq));
    /* The device publishes avail_event after each pop. */
    g_assert_cmpuint(r16(f, USED + 4 + 8 * QSZ), ==, 4);
}

static void test_no_interrupt_flag(Fixture *f, gconstpointer data)
{
    w16(f, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
    push_one(f, 0);
    g_assert_false(virtqueue_should_notify(&f->vq));
    w16(f, AVAIL, 0);
    push_one(f, 1);
    g_assert_true(virtqueue_should_notify(&f->vq));
    virtqueue_set_notification(&f->vq, false);
    g_assert_cmpuint(r16(f, USED), ==, VIRTQ_USED_F_NO_NOTIFY);
    virtqueue_set_notification(&f->vq, true);
    g_assert_cmpuint(r16(f, USED), ==, 0);
}

/*
 * Under a live migration's log (ram.dma_log) every ring write the device
 * makes is marked: the used entry and index (push), and the used flags
 * (notification off/on without EVENT_IDX), which no vCPU stored.
 */
static void test_dirty_log(Fixture *f, gconstpointer data)
{
    f->ram.dma_log = dirty_bitmap_new(&f->ram);
    push_one(f, 0);         /* its ring set-up goes through guest_ram_write: marked too */
    g_assert_true(dirty_bitmap_test(f->ram.dma_log, USED));
    dirty_bitmap_clear(f->ram.dma_log);
    virtqueue_set_notification(&f->vq, false);
    g_assert_true(dirty_bitmap_test(f->ram.dma_log, USED));
    g_assert_cmpuint(dirty_bitmap_count(f->ram.dma_log), ==, 1);
    dirty_bitmap_free(f->ram.dma_log);
    f->ram.dma_log = NULL;
}

static void test_enable_checks(void)
{
    GuestRam ram;
    VirtQueue vq;
    const char *why;

    g_assert_true(guest_ram_init(&ram, RAM_SIZE, 3ULL << 30, false, false, NULL));
    virtqueue_init(&vq, &ram, 256);
    vq.desc = DESC;
    vq.avail = AVAIL;
    vq.used = USED;
    vq.num = 100;
    g_assert_false(virtqueue_enable(&vq, false, false, &why));
    vq.num = 512;
    g_assert_false(virtqueue_enable(&vq, false, false, &why));
    vq.num = 0;
    g_assert_false(virtqueue_enable(&vq, false, false, &why));
    vq.num = 0x10000;
    g_assert_false(virtqueue_enable(&vq, false, false, &why));
    vq.num = 256;
    vq.desc = DESC + 8;
    g_assert_false(virtqueue_enable(&vq, false, false, &why));
    g_assert_cmpstr(why, ==, "ring address is misaligned");
    vq.desc = RAM_SIZE - 16;
    g_assert_false(virtqueue_enable(&vq, false, false, &why));
    g_assert_cmpstr(why, ==, "ring is outside guest RAM");
    vq.desc = DESC;
    vq.used = UINT64_MAX - 3;
    g_assert_false(virtqueue_enable(&vq, false, false, &why));
    vq.used = USED;
    g_assert_true(virtqueue_enable(&vq, false, false, &why));
    g_assert_true(vq.ready);
    guest_ram_destroy(&ram);
}

static void test_iov_helpers(void)
{
    char a[4] = "abcd", b[3] = "efg", out[8] = { 0 };
    struct iovec iov[2] = { { a, 4 }, { b, 3 } };
    unsigned n;
    struct iovec *s = iov_slice(iov, 2, 2, 4, &n);

    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpuint(iov_size(s, n), ==, 4);
    g_assert_cmpuint(iov_to_buf(s, n, 0, out, 8), ==, 4);
    g_assert_cmpstr(out, ==, "cdef");
    g_free(s);
    g_assert_cmpuint(iov_from_buf(iov, 2, 3, "XY", 2), ==, 2);
    g_assert_cmpint(a[3], ==, 'X');
    g_assert_cmpint(b[0], ==, 'Y');
}

#define ADD(name, fn) \
    g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
#define ADD_EVT(name, fn) \
    g_test_add(name, Fixture, (void *)1, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/virtqueue/simple-chain", test_simple_chain);
    ADD("/virtqueue/loop", test_loop);
    ADD("/virtqueue/self-loop", test_self_loop);
    ADD("/virtqueue/indirect/ok", test_indirect_ok);
    ADD("/virtqueue/indirect/self-reference", test_indirect_self_reference);
    ADD("/virtqueue/indirect/loop", test_indirect_loop);
    ADD("/virtqueue/indirect/next-beyond-table", test_indirect_bad);
    ADD("/virtqueue/indirect/with-next", test_indirect_flags);
    ADD("/virtqueue/indirect/bad-length", test_indirect_len);
    ADD("/virtqueue/indirect/out-of-ram", test_indirect_out_of_ram);
    ADD("/virtqueue/indirect/not-negotiated", test_indirect_not_negotiated);
    ADD("/virtqueue/indirect/too-long", test_too_long_indirect);
    ADD("/virtqueue/out-of-ram", test_out_of_ram);
    ADD("/virtqueue/wrapping-address", test_wrapping_address);
    ADD("/virtqueue/zero-length", test_zero_length);
    ADD("/virtqueue/huge-chain", test_huge_chain);
    ADD("/virtqueue/write-then-read", test_write_then_read);
    ADD("/virtqueue/bad-head", test_bad_head_and_next);
    ADD("/virtqueue/next-beyond", test_next_beyond);
    ADD("/virtqueue/avail-ahead", test_avail_ahead);
    ADD("/virtqueue/index-wrap", test_index_wrap);
    ADD_EVT("/virtqueue/event-idx/suppression", test_event_idx_suppression);
    ADD("/virtqueue/no-interrupt-flag", test_no_interrupt_flag);
    ADD("/virtqueue/dirty-log", test_dirty_log);
    g_test_add_func("/virtqueue/event-idx/math", test_need_event_math);
    g_test_add_func("/virtqueue/enable-checks", test_enable_checks);
    g_test_add_func("/virtqueue/iov-helpers", test_iov_helpers);
    return g_test_run();
}
