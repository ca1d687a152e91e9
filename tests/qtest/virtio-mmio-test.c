/*
 * virtio-mmio transport on microvm (docs/block.md): identification registers,
 * feature negotiation, the status machine, queue setup limits, reset,
 * config space and interrupt status.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "virtio-mmio.h"

#define NSLOTS 8
#define DISK_SIZE (4u << 20)

static char *make_disk(size_t size)
{
    char *path = qtest_tmp_path("disk.img");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
    close(fd);
    return path;
}

static void test_identification(void)
{
    QTestState *s = qtest_init("");

    for (unsigned i = 0; i < NSLOTS; i++) {
        QVirtioMmio d;

        qvirtio_mmio_init_slot(&d, s, i);
        g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_MAGIC), ==, QVIRTIO_MAGIC);
        g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_VERSION), ==, 2);
        g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_VENDOR_ID), ==, 0);
        /* 6 virtio-blk slots, then 2 net. */
        g_assert_cmpuint(qvirtio_device_id(&d), ==, i < 6 ? 2 : 1);
        g_assert_cmphex(qvirtio_get_status(&d), ==, 0);
        /* VERSION_1 is always offered (modern only). */
        g_assert_true(qvirtio_device_features(&d) & (1ULL << QVIRTIO_F_VERSION_1));
    }
    /* Nothing right after the last slot. */
    g_assert_cmphex(qtest_readl(s, QVIRTIO_MICROVM_BASE + NSLOTS * 0x200), ==, 0);
    qtest_quit(s);
}

static void test_feature_negotiation(void)
{
    QTestState *s = qtest_init("");
    QVirtioMmio d;
    uint64_t offered;

    qvirtio_mmio_init_slot(&d, s, 0);
    offered = qvirtio_device_features(&d);
    /* Feature words beyond 1 read 0. */
    qvirtio_writel(&d, QVIRTIO_MMIO_DEV_FEATURES_SEL, 2);
    g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_DEV_FEATURES), ==, 0);

    /* A legacy driver (no VERSION_1) is refused FEATURES_OK. */
    qvirtio_reset(&d);
    qvirtio_add_status(&d, QVIRTIO_S_ACKNOWLEDGE | QVIRTIO_S_DRIVER);
    qvirtio_write_driver_features(&d, offered & 0xffffffffULL);
    qvirtio_add_status(&d, QVIRTIO_S_FEATURES_OK);
    g_assert_cmphex(qvirtio_get_status(&d) & QVIRTIO_S_FEATURES_OK, ==, 0);
    /* And DRIVER_OK without FEATURES_OK does not stick. */
    qvirtio_add_status(&d, QVIRTIO_S_DRIVER_OK);
    g_assert_cmphex(qvirtio_get_status(&d) & QVIRTIO_S_DRIVER_OK, ==, 0);

    /* Features the device did not offer: refused. */
    qvirtio_reset(&d);
    qvirtio_add_status(&d, QVIRTIO_S_ACKNOWLEDGE | QVIRTIO_S_DRIVER);
    qvirtio_write_driver_features(&d, (1ULL << QVIRTIO_F_VERSION_1) | (1ULL << 63));
    qvirtio_add_status(&d, QVIRTIO_S_FEATURES_OK);
    g_assert_cmphex(qvirtio_get_status(&d) & QVIRTIO_S_FEATURES_OK, ==, 0);

    /* Everything offered: accepted; later feature writes are ignored. */
    g_assert_true(qvirtio_negotiate(&d, offered));
    g_assert_cmphex(d.features, ==, offered);
    qvirtio_write_driver_features(&d, 1ULL << QVIRTIO_F_VERSION_1);
    qvirtio_driver_ok(&d);
    g_assert_cmphex(qvirtio_get_status(&d), ==, QVIRTIO_S_ACKNOWLEDGE | QVIRTIO_S_DRIVER |
                    QVIRTIO_S_FEATURES_OK | QVIRTIO_S_DRIVER_OK);
    qtest_quit(s);
}

static void test_status_machine(void)
{
    QTestState *s = qtest_init("");
    QVirtioMmio d;

    qvirtio_mmio_init_slot(&d, s, 1);
    g_assert_true(qvirtio_negotiate(&d, 0));
    /* Clearing bits without a reset is ignored. */
    qvirtio_set_status(&d, QVIRTIO_S_ACKNOWLEDGE);
    g_assert_cmphex(qvirtio_get_status(&d), ==, QVIRTIO_S_ACKNOWLEDGE | QVIRTIO_S_DRIVER |
                    QVIRTIO_S_FEATURES_OK);
    /* The driver cannot set NEEDS_RESET itself. */
    qvirtio_add_status(&d, QVIRTIO_S_NEEDS_RESET);
    g_assert_cmphex(qvirtio_get_status(&d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    /* FAILED sticks until reset. */
    qvirtio_add_status(&d, QVIRTIO_S_FAILED);
    g_assert_cmphex(qvirtio_get_status(&d) & QVIRTIO_S_FAILED, ==, QVIRTIO_S_FAILED);
    qvirtio_reset(&d);
    qtest_quit(s);
}

static void test_queue_setup(void)
{
    QTestState *s = qtest_init("");
    QVirtioMmio d;
    QGuestAlloc a;
    QVirtQueue *vq;
    uint32_t max;

    guest_alloc_init(&a, QTEST_ALLOC_START, QTEST_ALLOC_START + (16u << 20));
    qvirtio_mmio_init_slot(&d, s, 0);
    g_assert_true(qvirtio_negotiate(&d, 0));

    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 0);
    max = qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX);
    g_assert_cmpuint(max, ==, 256);
    /* virtio-blk has one queue: others report NumMax 0 and cannot be enabled. */
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 1);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_READY), ==, 0);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 0xffff);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);

    /* A valid smaller queue, with its addresses read back. */
    vq = qvirtqueue_setup(&d, &a, 0, 64);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 0);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM), ==, 64);
    g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_DESC_LO), ==, (uint32_t)vq->desc);
    g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_AVAIL_LO), ==, (uint32_t)vq->avail);
    g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_USED_LO), ==, (uint32_t)vq->used);
    g_assert_cmphex(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_DESC_HI), ==, 0);
    /* Reconfiguring a live queue is ignored. */
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_NUM, 32);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM), ==, 64);
    qvirtio_driver_ok(&d);
    g_assert_cmphex(qvirtio_get_status(&d) & QVIRTIO_S_NEEDS_RESET, ==, 0);
    qvirtqueue_free(vq);

    /* Reset disables the queue and restores the default size. */
    qvirtio_reset(&d);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 0);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_READY), ==, 0);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_NUM), ==, max);

    /* Sizes that are not a power of two, or above the maximum, are refused. */
    static const uint32_t bad_sizes[] = { 0, 3, 100, 512, 0x10000 };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad_sizes); i++) {
        g_assert_true(qvirtio_negotiate(&d, 0));
        qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 0);
        qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_NUM, bad_sizes[i]);
        qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_DESC_LO, 0x100000);
        qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_AVAIL_LO, 0x101000);
        qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_USED_LO, 0x102000);
        qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_READY, 1);
        g_assert_true(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_READY) == 0 ||
                      (qvirtio_get_status(&d) & QVIRTIO_S_NEEDS_RESET));
        qvirtio_reset(&d);
    }
    /* Ring addresses outside RAM are refused too. */
    g_assert_true(qvirtio_negotiate(&d, 0));
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_SEL, 0);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_NUM, 16);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_DESC_LO, 0x00000000);
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_DESC_HI, 0x10);      /* 64 GiB */
    qvirtio_writel(&d, QVIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_true(qvirtio_readl(&d, QVIRTIO_MMIO_QUEUE_READY) == 0 ||
                  (qvirtio_get_status(&d) & QVIRTIO_S_NEEDS_RESET));
    qvirtio_reset(&d);
    g_assert_cmphex(qvirtio_get_status(&d), ==, 0);
    qtest_quit(s);
}

static void test_config_space(void)
{
    g_autofree char *img = make_disk(DISK_SIZE);
    QTestState *s = qtest_initf("-drive id=d0,file=%s,direct=off "
                                "-device virtio-blk-device,drive=d0", img);
    QVirtioMmio d, empty;
    uint32_t gen;

    qvirtio_mmio_init_slot(&d, s, 0);
    qvirtio_mmio_init_slot(&empty, s, 1);
    g_assert_cmpuint(qvirtio_config_readq(&d, 0), ==, DISK_SIZE / 512);
    g_assert_cmpuint(qvirtio_config_readq(&empty, 0), ==, 0);
    /* seg_max and blk_size. */
    g_assert_cmpuint(qvirtio_config_readl(&d, 12), ==, 254);
    g_assert_cmpuint(qvirtio_config_readl(&d, 20) % 512, ==, 0);
    /* Byte-wise reads agree with the wide ones. */
    g_assert_cmpuint(qvirtio_config_readb(&d, 1) | qvirtio_config_readb(&d, 2) << 8, ==,
                     ((DISK_SIZE / 512) >> 8) & 0xffff);
    /* Beyond the config structure: 0. */
    g_assert_cmpuint(qvirtio_config_readl(&d, 0xf0), ==, 0);
    gen = qvirtio_readl(&d, QVIRTIO_MMIO_CONFIG_GEN);
    g_assert_cmpuint(qvirtio_readl(&d, QVIRTIO_MMIO_CONFIG_GEN), ==, gen);
    /* The capacity field is read-only for the driver. */
    qvirtio_config_writeb(&d, 0, 0x55);
    g_assert_cmpuint(qvirtio_config_readq(&d, 0), ==, DISK_SIZE / 512);
    qtest_quit(s);
    unlink(img);
}

static void test_interrupt_status(void)
{
    g_autofree char *img = make_disk(DISK_SIZE);
    QTestState *s = qtest_initf("-drive id=d0,file=%s,direct=off "
                                "-device virtio-blk-device,drive=d0", img);
    QVirtioMmio d;
    QGuestAlloc a;
    QVirtQueue *vq;
    uint64_t req, status;
    unsigned head, raises;
    uint8_t hdr[16] = { 8 /* GET_ID */ };

    guest_alloc_init(&a, QTEST_ALLOC_START, QTEST_ALLOC_START + (16u << 20));
    qtest_irq_intercept_in(s, "ioapic");
    qvirtio_mmio_init_slot(&d, s, 0);
    g_assert_true(qvirtio_negotiate(&d, 0));
    vq = qvirtqueue_setup(&d, &a, 0, 0);
    qvirtio_driver_ok(&d);
    g_assert_cmphex(qvirtio_isr(&d), ==, 0);

    req = guest_alloc0(s, &a, 64, 16);
    status = guest_alloc0(s, &a, 1, 1);
    qtest_memwrite(s, req, hdr, sizeof(hdr));
    raises = qtest_irq_raise_count(s, d.gsi);
    head = qvirtqueue_add(vq, req, 16, false, true);
    qvirtqueue_add(vq, req + 16, 20, true, true);
    qvirtqueue_add(vq, status, 1, true, false);
    qvirtqueue_kick(vq, head);
    qvirtqueue_wait_used(vq, head, 10000);
    /* Used-buffer interrupt: InterruptStatus bit 0 and an edge on GSI 5. */
    g_assert_cmphex(qvirtio_isr(&d) & QVIRTIO_INT_VRING, ==, QVIRTIO_INT_VRING);
    g_assert_cmpuint(qtest_irq_raise_count(s, d.gsi), >, raises);
    qvirtio_ack_isr(&d, QVIRTIO_INT_VRING);
    g_assert_cmphex(qvirtio_isr(&d), ==, 0);
    qvirtqueue_free(vq);
    qtest_quit(s);
    unlink(img);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-mmio/identification", test_identification);
    g_test_add_func("/virtio-mmio/features", test_feature_negotiation);
    g_test_add_func("/virtio-mmio/status", test_status_machine);
    g_test_add_func("/virtio-mmio/queue-setup", test_queue_setup);
    g_test_add_func("/virtio-mmio/config-space", test_config_space);
    g_test_add_func("/virtio-mmio/interrupt-status", test_interrupt_status);
    return g_test_run();
}
