/*
 * Hostile guests against virtio-blk: malformed rings must not crash or hang
 * the VMM. The device sets NEEDS_RESET (with a config-change interrupt), the
 * VMM keeps answering qtest and QMP, other devices keep working, and a reset
 * brings the broken device back.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "virtio-mmio.h"

#define DISK_SIZE (1u << 20)

typedef struct Fixture {
    QTestState *s;
    char *img0, *img1;
    QGuestAlloc a;
    QVirtioMmio victim, bystander;
    QVirtQueue *vq, *bvq;
    unsigned num;
    uint64_t want;
} Fixture;

static char *make_disk(void)
{
    char *path = qtest_tmp_path("hostile.img");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, DISK_SIZE), ==, 0);
    close(fd);
    return path;
}

static QVirtQueue *start_dev(Fixture *f, QVirtioMmio *d, unsigned slot, unsigned num,
                             uint64_t want)
{
    QVirtQueue *vq;

    qvirtio_mmio_init_slot(d, f->s, slot);
    g_assert_true(qvirtio_negotiate(d, want));
    vq = qvirtqueue_setup(d, &f->a, 0, num);
    qvirtio_driver_ok(d);
    return vq;
}

static void setup(Fixture *f, unsigned num, uint64_t want)
{
    f->num = num;
    f->want = want;
    f->img0 = make_disk();
    f->img1 = make_disk();
    f->s = qtest_initf("-drive id=d0,file=%s,direct=off,aio=threads "
                       "-drive id=d1,file=%s,direct=off "
                       "-device virtio-blk-device,drive=d0 -device virtio-blk-device,drive=d1",
                       f->img0, f->img1);
    guest_alloc_init(&f->a, QTEST_ALLOC_START, QTEST_ALLOC_START + (32u << 20));
    qtest_irq_intercept_in(f->s, "ioapic");
    f->vq = start_dev(f, &f->victim, 0, num, want);
    f->bvq = start_dev(f, &f->bystander, 1, 0, 0);
}

static void teardown(Fixture *f)
{
    qvirtqueue_free(f->vq);
    qvirtqueue_free(f->bvq);
    qtest_quit(f->s);
    unlink(f->img0);
    unlink(f->img1);
    g_free(f->img0);
    g_free(f->img1);
}

/* A well-formed 512-byte read on vq; returns the status byte. */
static uint8_t good_read(Fixture *f, QVirtQueue *vq)
{
    uint8_t hdr[16] = { 0 /* IN */ };
    uint64_t ghdr = guest_alloc(&f->a, 16, 16);
    uint64_t data = guest_alloc(&f->a, 512, 512);
    uint64_t st = guest_alloc(&f->a, 1, 1);
    unsigned head;

    qtest_memwrite(f->s, ghdr, hdr, sizeof(hdr));
    qtest_writeb(f->s, st, 0xff);
    head = qvirtqueue_add(vq, ghdr, 16, false, true);
    qvirtqueue_add(vq, data, 512, true, true);
    qvirtqueue_add(vq, st, 1, true, false);
    qvirtqueue_kick(vq, head);
    qvirtqueue_wait_used(vq, head, 10000);
    return qtest_readb(f->s, st);
}

/* The victim is broken, everything else is fine; then reset revives it. */
static void check_survived(Fixture *f)
{
    unsigned raises = qtest_irq_raise_count(f->s, f->victim.gsi);
    uint32_t id, len;

    /* NEEDS_RESET and a config-change interrupt. */
    g_assert_cmphex(qvirtio_get_status(&f->victim) & QVIRTIO_S_NEEDS_RESET, ==,
                    QVIRTIO_S_NEEDS_RESET);
    g_assert_cmphex(qvirtio_isr(&f->victim) & QVIRTIO_INT_CONFIG, ==, QVIRTIO_INT_CONFIG);
    g_assert_cmpuint(raises, >=, 1);
    /* The broken queue is ignored: further kicks do nothing. */
    qvirtqueue_notify(f->vq);
    g_assert_false(qvirtqueue_poll_used(f->vq, &id, &len, 50));

    /* The VMM answers qtest and QMP, and the other disk works. */
    g_assert_cmphex(qtest_inb(f->s, 0x5000), ==, 0xff);
    qtest_qmp_assert_success(f->s, "{'execute': 'query-status'}");
    g_assert_cmpuint(good_read(f, f->bvq), ==, 0);

    /* Reset and re-initialise the victim: it works again. */
    qvirtqueue_free(f->vq);
    f->vq = start_dev(f, &f->victim, 0, f->num, f->want);
    g_assert_cmphex(qvirtio_get_status(&f->victim) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    g_assert_cmpuint(good_read(f, f->vq), ==, 0);
}

static uint64_t header(Fixture *f, uint32_t type)
{
    uint8_t hdr[16] = { (uint8_t)type };
    uint64_t g = guest_alloc(&f->a, 16, 16);

    qtest_memwrite(f->s, g, hdr, sizeof(hdr));
    return g;
}

static void test_descriptor_loop(void)
{
    Fixture f;
    uint64_t h, st;

    setup(&f, 16, 0);
    h = header(&f, 0);
    st = guest_alloc(&f.a, 1, 1);
    /* 0 -> 1 -> 2 -> 0 ... */
    qvirtqueue_write_desc(f.vq, 0, h, 16, QVRING_DESC_F_NEXT, 1);
    qvirtqueue_write_desc(f.vq, 1, st, 512, QVRING_DESC_F_NEXT | QVRING_DESC_F_WRITE, 2);
    qvirtqueue_write_desc(f.vq, 2, st, 1, QVRING_DESC_F_NEXT | QVRING_DESC_F_WRITE, 0);
    qvirtqueue_kick(f.vq, 0);
    check_survived(&f);
    teardown(&f);
}

static void test_next_out_of_table(void)
{
    Fixture f;

    setup(&f, 16, 0);
    qvirtqueue_write_desc(f.vq, 0, header(&f, 0), 16, QVRING_DESC_F_NEXT, 200);
    qvirtqueue_kick(f.vq, 0);
    check_survived(&f);
    teardown(&f);
}

static void test_head_out_of_table(void)
{
    Fixture f;

    setup(&f, 16, 0);
    qvirtqueue_kick(f.vq, 1000);
    check_survived(&f);
    teardown(&f);
}

static void test_out_of_ram(void)
{
    Fixture f;
    uint64_t st;

    setup(&f, 16, 0);
    st = guest_alloc(&f.a, 1, 1);
    /* Data buffer in the hole above RAM, and one at the top of the address space. */
    qvirtqueue_write_desc(f.vq, 0, header(&f, 0), 16, QVRING_DESC_F_NEXT, 1);
    qvirtqueue_write_desc(f.vq, 1, 0x80000000ULL, 4096,
                          QVRING_DESC_F_NEXT | QVRING_DESC_F_WRITE, 2);
    qvirtqueue_write_desc(f.vq, 2, st, 1, QVRING_DESC_F_WRITE, 0);
    qvirtqueue_kick(f.vq, 0);
    check_survived(&f);

    /* Wrap-around: address near 2^64. */
    qvirtqueue_write_desc(f.vq, 0, 0xfffffffffffff000ULL, 0x2000, QVRING_DESC_F_NEXT, 1);
    qvirtqueue_write_desc(f.vq, 1, st, 1, QVRING_DESC_F_WRITE, 0);
    qvirtqueue_kick(f.vq, 0);
    check_survived(&f);
    teardown(&f);
}

static void test_zero_length_and_huge(void)
{
    Fixture f;
    uint64_t st;

    setup(&f, 16, 0);
    st = guest_alloc(&f.a, 1, 1);
    /* A header of length 0. */
    qvirtqueue_write_desc(f.vq, 0, header(&f, 0), 0, QVRING_DESC_F_NEXT, 1);
    qvirtqueue_write_desc(f.vq, 1, st, 1, QVRING_DESC_F_WRITE, 0);
    qvirtqueue_kick(f.vq, 0);
    check_survived(&f);

    /* No status byte at all (a lone header). */
    qvirtqueue_write_desc(f.vq, 0, header(&f, 0), 16, 0, 0);
    qvirtqueue_kick(f.vq, 0);
    check_survived(&f);

    /* A 4 GiB - 1 data length. */
    qvirtqueue_write_desc(f.vq, 0, header(&f, 0), 16, QVRING_DESC_F_NEXT, 1);
    qvirtqueue_write_desc(f.vq, 1, QTEST_ALLOC_START, 0xffffffffu,
                          QVRING_DESC_F_NEXT | QVRING_DESC_F_WRITE, 2);
    qvirtqueue_write_desc(f.vq, 2, st, 1, QVRING_DESC_F_WRITE, 0);
    qvirtqueue_kick(f.vq, 0);
    check_survived(&f);

    /* Many zero-length read-only segments filling the whole table. */
    qvirtqueue_write_desc(f.vq, 0, header(&f, 0), 16, QVRING_DESC_F_NEXT, 1);
    for (unsigned i = 1; i < 15; i++) {
        qvirtqueue_write_desc(f.vq, i, QTEST_ALLOC_START, 0, QVRING_DESC_F_NEXT, i + 1);
    }
    qvirtqueue_write_desc(f.vq, 15, st, 1, QVRING_DESC_F_WRITE, 0);
    qvirtqueue_kick(f.vq, 0);
    /* Either completed with an error status or broken; the VMM must be alive. */
    {
        uint32_t id, len;
        if (!qvirtqueue_poll_used(f.vq, &id, &len, 2000)) {
            check_survived(&f);
        } else {
            /* A zero-byte read is a legal (if odd) request: any status will do. */
            g_assert_cmpuint(id, ==, 0);
            g_assert_cmpuint(qtest_readb(f.s, st), <=, 2);
        }
    }
    qtest_qmp_assert_success(f.s, "{'execute': 'query-status'}");
    teardown(&f);
}

static void test_indirect_self(void)
{
    Fixture f;
    uint64_t table, st;
    QVirtQueue *vq;

    setup(&f, 16, 1ULL << QVIRTIO_F_INDIRECT_DESC);
    g_assert_true(f.victim.features & (1ULL << QVIRTIO_F_INDIRECT_DESC));
    vq = f.vq;
    st = guest_alloc(&f.a, 1, 1);
    table = guest_alloc0(f.s, &f.a, 16 * 4, 16);
    /* Entry 0 of the table is an INDIRECT descriptor pointing at the table itself. */
    {
        QVirtQueue fake = *vq;
        fake.desc = table;
        fake.num = 4;
        qvirtqueue_write_desc(&fake, 0, table, 64, QVRING_DESC_F_INDIRECT, 0);
    }
    qvirtqueue_write_desc(vq, 0, table, 64, QVRING_DESC_F_INDIRECT, 0);
    qvirtqueue_kick(vq, 0);
    check_survived(&f);

    /* A loop inside an indirect table. */
    vq = f.vq;
    table = guest_alloc0(f.s, &f.a, 16 * 4, 16);
    {
        QVirtQueue fake = *vq;
        fake.desc = table;
        fake.num = 4;
        qvirtqueue_write_desc(&fake, 0, header(&f, 0), 16, QVRING_DESC_F_NEXT, 1);
        qvirtqueue_write_desc(&fake, 1, st, 1, QVRING_DESC_F_WRITE | QVRING_DESC_F_NEXT, 0);
    }
    qvirtqueue_write_desc(vq, 0, table, 32, QVRING_DESC_F_INDIRECT, 0);
    qvirtqueue_kick(vq, 0);
    check_survived(&f);

    /* INDIRECT together with NEXT, and a table of length 0. */
    vq = f.vq;
    qvirtqueue_write_desc(vq, 0, table, 32, QVRING_DESC_F_INDIRECT | QVRING_DESC_F_NEXT, 1);
    qvirtqueue_write_desc(vq, 1, st, 1, QVRING_DESC_F_WRITE, 0);
    qvirtqueue_kick(vq, 0);
    check_survived(&f);
    teardown(&f);
}

static void test_avail_ahead(void)
{
    Fixture f;

    setup(&f, 16, 0);
    /* avail->idx claims 1000 new entries on a 16-entry ring. */
    qvirtqueue_set_avail_idx(f.vq, 1000);
    qvirtqueue_notify(f.vq);
    check_survived(&f);
    teardown(&f);
}

static void test_write_then_read_order(void)
{
    Fixture f;
    uint64_t st, data;

    setup(&f, 16, 0);
    st = guest_alloc(&f.a, 1, 1);
    data = guest_alloc(&f.a, 512, 512);
    /* A device-readable descriptor after a device-writable one. */
    qvirtqueue_write_desc(f.vq, 0, header(&f, 1), 16, QVRING_DESC_F_NEXT, 1);
    qvirtqueue_write_desc(f.vq, 1, st, 1, QVRING_DESC_F_WRITE | QVRING_DESC_F_NEXT, 2);
    qvirtqueue_write_desc(f.vq, 2, data, 512, 0, 0);
    qvirtqueue_kick(f.vq, 0);
    check_survived(&f);
    teardown(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-hostile/descriptor-loop", test_descriptor_loop);
    g_test_add_func("/virtio-hostile/next-out-of-table", test_next_out_of_table);
    g_test_add_func("/virtio-hostile/head-out-of-table", test_head_out_of_table);
    g_test_add_func("/virtio-hostile/out-of-ram", test_out_of_ram);
    g_test_add_func("/virtio-hostile/zero-length-and-huge", test_zero_length_and_huge);
    g_test_add_func("/virtio-hostile/indirect-self", test_indirect_self);
    g_test_add_func("/virtio-hostile/avail-ahead", test_avail_ahead);
    g_test_add_func("/virtio-hostile/write-then-read", test_write_then_read_order);
    return g_test_run();
}
