/*
 * The saved state of every device (vmstate_<x> in each device's header):
 * drive a device into a non-default state through its registers, save it,
 * load it into a fresh device on a fresh machine, save that again and compare
 * the bytes; then check what the guest sees on the loaded device and that it
 * carries on where the first one stopped. And the refusals: every truncation,
 * a newer version, another device's section, values the device cannot hold.
 */
#include <endian.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "block-test-util.h"
#include "fake-machine.h"
#include "pio-test.h"
#include "hw/char/serial.h"
#include "hw/misc/pm.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/virtio/virtio-mmio.h"
#include "migration/vmstate.h"

#define MIB (1ULL << 20)

/* ---- helpers shared by every device ---- */

static GByteArray *save(const VMStateDescription *vmsd, void *opaque)
{
    GByteArray *b = g_byte_array_new();
    GError *err = NULL;

    g_assert_true(vmstate_save(vmsd, opaque, b, &err));
    g_assert_no_error(err);
    return b;
}

static size_t load_at(const VMStateDescription *vmsd, void *opaque, GByteArray *b, size_t at)
{
    GError *err = NULL;
    size_t consumed = 0;

    g_assert_true(vmstate_load(vmsd, opaque, b->data + at, b->len - at, &consumed, &err));
    g_assert_no_error(err);
    return consumed;
}

static void load(const VMStateDescription *vmsd, void *opaque, GByteArray *b)
{
    g_assert_cmpuint(load_at(vmsd, opaque, b, 0), ==, b->len);
}

static void assert_same(GByteArray *a, GByteArray *b)
{
    g_assert_cmpmem(a->data, a->len, b->data, b->len);
}

static void refused(const VMStateDescription *vmsd, void *opaque, const uint8_t *buf,
                    size_t len, int code, const char *fragment)
{
    GError *err = NULL;

    g_assert_false(vmstate_load(vmsd, opaque, buf, len, NULL, &err));
    g_assert_error(err, VMSTATE_ERROR, code);
    if (!strstr(err->message, fragment)) {
        g_error("'%s' does not contain '%s'", err->message, fragment);
    }
    g_error_free(err);
}

/* Loading b with byte `at` replaced is refused with `code` and `fragment`. */
static void refused_patched(const VMStateDescription *vmsd, void *opaque, GByteArray *b,
                            size_t at, uint8_t v, int code, const char *fragment)
{
    g_autofree uint8_t *bad = g_memdup2(b->data, b->len);

    bad[at] = v;
    refused(vmsd, opaque, bad, b->len, code, fragment);
}

/* Every proper prefix is refused as truncated, and the device is left as it was. */
static void truncations_refused(const VMStateDescription *vmsd, void *opaque, GByteArray *b)
{
    g_autoptr(GByteArray) before = save(vmsd, opaque), after = NULL;

    for (size_t n = 0; n < b->len; n++) {
        g_autofree uint8_t *cut = g_memdup2(b->data, n);   /* exact size, for ASan */
        refused(vmsd, opaque, cut, n, VMSTATE_ERROR_TRUNCATED, "truncated in");
    }
    after = save(vmsd, opaque);
    assert_same(before, after);
}

/* The section's version (after the name) one past what this build reads. */
static void newer_refused(const VMStateDescription *vmsd, void *opaque, GByteArray *b)
{
    g_autofree char *want = g_strdup_printf("%s: stream version %u is newer than the supported "
                                            "%u", vmsd->name, vmsd->version_id + 1,
                                            vmsd->version_id);

    refused_patched(vmsd, opaque, b, 1 + strlen(vmsd->name), vmsd->version_id + 1,
                    VMSTATE_ERROR_VERSION, want);
}

/*
 * Every byte flipped (two patterns): a load may succeed or fail, but never
 * crashes or writes out of bounds (ASan). Leaves the device in whatever state
 * the last accepted stream gave it; callers then use it as the guest would.
 */
static void flips_survive(const VMStateDescription *vmsd, void *opaque, GByteArray *b)
{
    static const uint8_t masks[] = { 0x01, 0xff };

    for (size_t i = 0; i < b->len; i++) {
        for (size_t k = 0; k < G_N_ELEMENTS(masks); k++) {
            g_autofree uint8_t *bad = g_memdup2(b->data, b->len);
            GError *err = NULL;

            bad[i] ^= masks[k];
            if (!vmstate_load(vmsd, opaque, bad, b->len, NULL, &err)) {
                g_assert_true(err->domain == VMSTATE_ERROR);
                g_error_free(err);
            }
        }
    }
}

/* Offset of the first payload byte of a top-level section of vmsd. */
static size_t payload_at(const VMStateDescription *vmsd)
{
    return 1 + strlen(vmsd->name) + 4 + 4;
}

/* ---- 16550A UART ---- */

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4,
       LSR = 5, MSR = 6, SCR = 7 };

typedef struct SerialRig {
    Machine *m;
    SerialState *s;
} SerialRig;

static void serial_rig_init(SerialRig *r)
{
    GError *err = NULL;

    fake_irq_clear();
    r->m = fake_machine_new();
    r->s = serial_new(r->m, SERIAL_COM1_BASE, SERIAL_COM1_IRQ, NULL, &err);
    g_assert_no_error(err);
}

static void serial_rig_free(SerialRig *r)
{
    serial_free(r->s);
    fake_machine_free(r->m);
}

static uint8_t uart_in(SerialRig *r, unsigned reg)
{
    return test_pio_inb(&r->m->pio, SERIAL_COM1_BASE + reg);
}

static void uart_out(SerialRig *r, unsigned reg, uint8_t v)
{
    test_pio_outb(&r->m->pio, SERIAL_COM1_BASE + reg, v);
}

/*
 * Divisor, framing, FIFO on, loopback with OUT2, "hello" looped back of which
 * two bytes are read (so the ring no longer starts at rx[0]), scratch, and
 * the received-data and line-status interrupts enabled.
 */
static void serial_dirty(SerialRig *r)
{
    uart_out(r, LCR, 0x80 | 0x1b);
    uart_out(r, DLL, 0x01);
    uart_out(r, DLM, 0x02);
    uart_out(r, LCR, 0x1b);
    uart_out(r, FCR, 0xc1);
    uart_out(r, MCR, 0x1f);
    for (const char *p = "hello"; *p; p++) {
        uart_out(r, THR, (uint8_t)*p);
    }
    g_assert_cmpuint(uart_in(r, RBR), ==, 'h');
    g_assert_cmpuint(uart_in(r, RBR), ==, 'e');
    uart_out(r, SCR, 0x5a);
    uart_out(r, IER, 0x05);
    g_assert_true(irq_level[SERIAL_COM1_IRQ]);
}

static void assert_reads(SerialRig *r, const char *expect)
{
    for (const char *p = expect; *p; p++) {
        g_assert_cmphex(uart_in(r, LSR) & 0x01, ==, 0x01);
        g_assert_cmpuint(uart_in(r, RBR), ==, (uint8_t)*p);
    }
    g_assert_cmphex(uart_in(r, LSR), ==, 0x60);
}

static void test_serial_roundtrip(void)
{
    SerialRig a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;

    serial_rig_init(&a);
    serial_dirty(&a);
    sa = save(&vmstate_serial, a.s);
    assert_reads(&a, "llo");             /* saving changed nothing the guest sees */
    serial_rig_free(&a);

    serial_rig_init(&b);
    g_assert_false(irq_level[SERIAL_COM1_IRQ]);
    load(&vmstate_serial, b.s, sa);
    g_assert_true(irq_level[SERIAL_COM1_IRQ]);   /* re-evaluated on load */
    sb = save(&vmstate_serial, b.s);
    assert_same(sa, sb);

    g_assert_cmphex(uart_in(&b, IER), ==, 0x05);
    g_assert_cmphex(uart_in(&b, LCR), ==, 0x1b);
    g_assert_cmphex(uart_in(&b, MCR), ==, 0x1f);
    g_assert_cmphex(uart_in(&b, SCR), ==, 0x5a);
    g_assert_cmphex(uart_in(&b, IIR), ==, 0xc4);
    assert_reads(&b, "llo");
    g_assert_cmphex(uart_in(&b, IIR), ==, 0xc1);
    g_assert_false(irq_level[SERIAL_COM1_IRQ]);
    uart_out(&b, LCR, 0x9b);
    g_assert_cmphex(uart_in(&b, DLL), ==, 0x01);
    g_assert_cmphex(uart_in(&b, DLM), ==, 0x02);
    /* Loopback still loops. */
    uart_out(&b, LCR, 0x1b);
    uart_out(&b, THR, '!');
    assert_reads(&b, "!");
    serial_rig_free(&b);
}

static void test_serial_refused(void)
{
    SerialRig a, b;
    g_autoptr(GByteArray) sa = NULL;
    size_t p = payload_at(&vmstate_serial);

    serial_rig_init(&a);
    serial_dirty(&a);
    sa = save(&vmstate_serial, a.s);
    serial_rig_free(&a);
    serial_rig_init(&b);

    truncations_refused(&vmstate_serial, b.s, sa);
    newer_refused(&vmstate_serial, b.s, sa);
    /* rx's count follows 7 u8, a u16 and a bool; 3 becomes 1027. */
    refused_patched(&vmstate_serial, b.s, sa, p + 10 + 1, 0x04, VMSTATE_ERROR_RANGE,
                    "serial: field 'rx' has 1027 elements in the stream, the device holds "
                    "at most 1024");
    g_assert_cmphex(uart_in(&b, IER), ==, 0x00);
    g_assert_false(irq_level[SERIAL_COM1_IRQ]);
    /* Last: a hook's refusal comes after the store (the device must then be reset). */
    refused_patched(&vmstate_serial, b.s, sa, p, 0xff, VMSTATE_ERROR_INVALID,
                    "serial: IER 0xff or MCR 0x1f has bits a 16550A does not have");
    flips_survive(&vmstate_serial, b.s, sa);
    for (unsigned i = 0; i < 2 * SERIAL_RX_FIFO; i++) {
        uart_in(&b, i % 8);
    }
    serial_rig_free(&b);
}

/* ---- PM block ---- */

typedef struct PmRig {
    Machine *m;
    PmState *pm;
} PmRig;

static void pm_rig_init(PmRig *r)
{
    GError *err = NULL;

    fake_irq_clear();
    r->m = fake_machine_new();
    r->pm = pm_new(r->m, false, &err);
    g_assert_no_error(err);
}

static void pm_rig_free(PmRig *r)
{
    pm_free(r->pm);
    fake_machine_free(r->m);
}

static void pm_out(PmRig *r, uint16_t port, uint16_t v)
{
    g_assert_true(iobus_write(&r->m->pio, port, &v, 2));
}

static uint16_t pm_in(PmRig *r, uint16_t port)
{
    uint16_t v = 0;

    g_assert_true(iobus_read(&r->m->pio, port, &v, 2));
    return v;
}

/* Power button enabled and pressed; SCI_EN and a sleep type that does nothing. */
static void pm_dirty(PmRig *r)
{
    pm_out(r, PM1A_EVT_BASE + 2, PM1_EN_PWRBTN);
    pm_press_power_button(r->pm);
    g_assert_cmpuint(irq_rises[PM_SCI_GSI], ==, 1);
    pm_out(r, PM1A_CNT_BASE, 0x0001 | (5u << PM1_CNT_SLP_TYP_SHIFT));
    g_assert_cmpint(r->m->shutdown_request, ==, SHUTDOWN_NONE);
}

static void test_pm_roundtrip(void)
{
    PmRig a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;

    pm_rig_init(&a);
    pm_dirty(&a);
    sa = save(&vmstate_pm, a.pm);
    pm_rig_free(&a);

    pm_rig_init(&b);
    load(&vmstate_pm, b.pm, sa);
    sb = save(&vmstate_pm, b.pm);
    assert_same(sa, sb);
    g_assert_cmphex(pm_in(&b, PM1A_EVT_BASE), ==, PM1_STS_PWRBTN);
    g_assert_cmphex(pm_in(&b, PM1A_EVT_BASE + 2), ==, PM1_EN_PWRBTN);
    g_assert_cmphex(pm_in(&b, PM1A_CNT_BASE), ==, 0x1401);
    g_assert_cmpuint(irq_rises[PM_SCI_GSI], ==, 0);   /* the edge was the source's */
    g_assert_cmpint(b.m->shutdown_request, ==, SHUTDOWN_NONE);
    /* The guest acknowledges the button as it would have on the source. */
    pm_out(&b, PM1A_EVT_BASE, PM1_STS_PWRBTN);
    g_assert_cmphex(pm_in(&b, PM1A_EVT_BASE), ==, 0);
    pm_rig_free(&b);
}

static void test_pm_refused(void)
{
    PmRig a, b;
    SerialRig s;
    g_autoptr(GByteArray) sa = NULL, ss = NULL;

    pm_rig_init(&a);
    pm_dirty(&a);
    sa = save(&vmstate_pm, a.pm);
    pm_rig_free(&a);
    serial_rig_init(&s);
    ss = save(&vmstate_serial, s.s);
    pm_rig_init(&b);

    truncations_refused(&vmstate_pm, b.pm, sa);
    newer_refused(&vmstate_pm, b.pm, sa);
    refused(&vmstate_pm, b.pm, ss->data, ss->len, VMSTATE_ERROR_WRONG_SECTION,
            "pm: the stream holds section 'serial'");
    refused(&vmstate_serial, s.s, sa->data, sa->len, VMSTATE_ERROR_WRONG_SECTION,
            "serial: the stream holds section 'pm'");
    g_assert_cmphex(pm_in(&b, PM1A_CNT_BASE), ==, 0);
    /* cnt's high byte with SLP_EN. */
    refused_patched(&vmstate_pm, b.pm, sa, payload_at(&vmstate_pm) + 5, 0x34,
                    VMSTATE_ERROR_INVALID, "pm: PM1a control 0x3401 has write-only bits set");
    flips_survive(&vmstate_pm, b.pm, sa);
    pm_in(&b, PM1A_EVT_BASE);
    pm_in(&b, PM1A_CNT_BASE);
    pm_rig_free(&b);
    serial_rig_free(&s);
}

/* ---- virtqueue ---- */

#define VQ_SIZE 8
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define HDR   0x10000
#define DATA  0x11000
#define STAT  0x12000

typedef struct VqRig {
    GuestRam ram;
    VirtQueue vq;
} VqRig;

static void vq_rig_init(VqRig *r)
{
    g_assert_true(guest_ram_init(&r->ram, 16 * MIB, 3ULL << 30, false, false, NULL));
    virtqueue_init(&r->vq, &r->ram, VQ_SIZE);
}

static void ram_put16(const GuestRam *ram, uint64_t gpa, uint16_t v)
{
    v = htole16(v);
    g_assert_true(guest_ram_write(ram, gpa, &v, 2));
}

/* Descriptor i: one 16-byte device-readable buffer; made available in slot `slot`. */
static void offer_chain(const GuestRam *ram, unsigned slot, uint16_t i)
{
    uint8_t d[16] = { 0 };
    uint64_t addr = htole64(HDR);
    uint32_t len = htole32(16);

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    g_assert_true(guest_ram_write(ram, DESC + 16ULL * i, d, 16));
    ram_put16(ram, AVAIL + 4 + 2 * (slot % VQ_SIZE), i);
    ram_put16(ram, AVAIL + 2, slot + 1);
}

/* Whatever the queue state, a pop either yields a chain or explains why not. */
static void pop_any(VirtQueue *vq)
{
    VirtQueueElement *e = NULL;
    char *why = NULL;
    int r = virtqueue_pop(vq, &e, &why);

    if (r == 1) {
        virtqueue_push(vq, e, 0);
    }
    g_assert_true(r >= 0 || why);
    g_free(e);
    g_free(why);
}

static void pop_push(VirtQueue *vq, uint16_t want_head)
{
    VirtQueueElement *e = NULL;
    char *why = NULL;

    g_assert_cmpint(virtqueue_pop(vq, &e, &why), ==, 1);
    g_assert_null(why);
    g_assert_cmpuint(e->head, ==, want_head);
    virtqueue_push(vq, e, 0);
    g_free(e);
}

/* Enabled with EVENT_IDX, one chain consumed, notifications suppressed. */
static void vq_dirty(VqRig *r)
{
    const char *why = NULL;

    r->vq.num = VQ_SIZE;
    r->vq.desc = DESC;
    r->vq.avail = AVAIL;
    r->vq.used = USED;
    g_assert_true(virtqueue_enable(&r->vq, true, true, &why));
    offer_chain(&r->ram, 0, 3);
    pop_push(&r->vq, 3);
    g_assert_true(virtqueue_should_notify(&r->vq));
    virtqueue_set_notification(&r->vq, false);
}

static void test_virtqueue_roundtrip(void)
{
    VqRig a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;

    vq_rig_init(&a);
    vq_dirty(&a);
    sa = save(&vmstate_virtqueue, &a.vq);
    vq_rig_init(&b);
    load(&vmstate_virtqueue, &b.vq, sa);
    sb = save(&vmstate_virtqueue, &b.vq);
    assert_same(sa, sb);
    g_assert_true(b.vq.ready && b.vq.event_idx && b.vq.indirect);
    g_assert_cmpuint(b.vq.last_avail_idx, ==, 1);
    g_assert_cmpuint(b.vq.used_idx, ==, 1);
    g_assert_true(b.vq.signalled_used_valid && !b.vq.notification);
    g_assert_true(b.vq.ram == &b.ram);     /* host side kept */

    /* Guest RAM travels separately: the next chain continues from slot 1. */
    offer_chain(&b.ram, 0, 3);
    offer_chain(&b.ram, 1, 5);
    pop_push(&b.vq, 5);
    g_assert_cmpuint(b.vq.used_idx, ==, 2);
    guest_ram_destroy(&a.ram);
    guest_ram_destroy(&b.ram);
}

static void test_virtqueue_refused(void)
{
    VqRig a, b;
    g_autoptr(GByteArray) sa = NULL;
    size_t p = payload_at(&vmstate_virtqueue);   /* num, then ready, then desc */

    vq_rig_init(&a);
    vq_dirty(&a);
    sa = save(&vmstate_virtqueue, &a.vq);
    vq_rig_init(&b);

    truncations_refused(&vmstate_virtqueue, &b.vq, sa);
    newer_refused(&vmstate_virtqueue, &b.vq, sa);
    refused_patched(&vmstate_virtqueue, &b.vq, sa, p, 3, VMSTATE_ERROR_INVALID,
                    "virtqueue: ready queue of size 3: queue size is not a power of two");
    g_assert_false(b.vq.ready);
    refused_patched(&vmstate_virtqueue, &b.vq, sa, p, 16, VMSTATE_ERROR_INVALID,
                    "not a power of two within the maximum");    /* above num_max 8 */
    refused_patched(&vmstate_virtqueue, &b.vq, sa, p + 5 + 3, 0x40, VMSTATE_ERROR_INVALID,
                    "ring is outside guest RAM");
    refused_patched(&vmstate_virtqueue, &b.vq, sa, p + 5, 0x08, VMSTATE_ERROR_INVALID,
                    "ring address is misaligned");
    refused_patched(&vmstate_virtqueue, &b.vq, sa, p + 4, 2, VMSTATE_ERROR_CORRUPT,
                    "virtqueue: field 'ready' holds 2, not a bool");
    g_assert_false(b.vq.ready);

    /* A queue the driver has not enabled may hold any size. */
    a.vq.ready = false;
    a.vq.num = 3;
    g_byte_array_unref(sa);
    sa = save(&vmstate_virtqueue, &a.vq);
    load(&vmstate_virtqueue, &b.vq, sa);
    g_assert_cmpuint(b.vq.num, ==, 3);
    g_byte_array_unref(sa);
    a.vq.ready = true;
    a.vq.num = VQ_SIZE;
    sa = save(&vmstate_virtqueue, &a.vq);
    flips_survive(&vmstate_virtqueue, &b.vq, sa);
    offer_chain(&b.ram, b.vq.last_avail_idx, 1);
    pop_any(&b.vq);
    guest_ram_destroy(&a.ram);
    guest_ram_destroy(&b.ram);
}

/* ---- virtio device core, virtio-mmio, virtio-blk ---- */

#define MMIO_BASE 0xF0100000ULL
#define MMIO_GSI 5
#define BLK_QSZ 16

static Machine *ram_machine_new(void)
{
    Machine *m;

    fake_irq_clear();
    m = fake_machine_new();
    g_assert_true(guest_ram_init(&m->ram, 16 * MIB, 3ULL << 30, false, false, NULL));
    iobus_init(&m->mmio, "mmio", IOBUS_MEMORY);
    return m;
}

static void ram_machine_free(Machine *m)
{
    iobus_destroy(&m->mmio);
    guest_ram_destroy(&m->ram);
    fake_machine_free(m);
}

static void dummy_free(VirtioDevice *vdev)
{
    virtio_device_cleanup(vdev);
    g_free(vdev);
}

static const VirtioDeviceClass dummy_class = {
    .name = "dummy",
    .device_id = 99,
    .free = dummy_free,
};

static VirtioDevice *dummy_new(Machine *m, unsigned nvqs, uint32_t config_len,
                               uint64_t features)
{
    VirtioDevice *vdev = g_new0(VirtioDevice, 1);

    virtio_device_init(vdev, &dummy_class, m, "d0", features, nvqs, 16, config_len);
    return vdev;
}

/* The number of queues and the config length are the device's, not the stream's. */
static void test_virtio_core_shape_refused(void)
{
    Machine *m = ram_machine_new();
    VirtioDevice *two = dummy_new(m, 2, 8, 0), *one = dummy_new(m, 1, 8, 0);
    VirtioDevice *small = dummy_new(m, 2, 4, 0);
    g_autoptr(GByteArray) s = NULL;

    two->config[7] = 0x77;
    s = save(&vmstate_virtio_device, two);
    refused(&vmstate_virtio_device, one, s->data, s->len, VMSTATE_ERROR_RANGE,
            "virtio-device: field 'vqs' has 2 elements in the stream, the device has 1");
    refused(&vmstate_virtio_device, small, s->data, s->len, VMSTATE_ERROR_RANGE,
            "virtio-device: field 'config' has 8 elements in the stream, the device has 4");
    g_assert_cmpuint(small->config[3], ==, 0);
    virtio_device_free(two);
    virtio_device_free(one);
    virtio_device_free(small);
    ram_machine_free(m);
}

/* Negotiated features must be offered by the destination's device. */
static void test_virtio_core_features_refused(void)
{
    Machine *m = ram_machine_new();
    VirtioDevice *a = dummy_new(m, 1, 4, VIRTIO_BIT(5)), *b = dummy_new(m, 1, 4, 0);
    g_autoptr(GByteArray) s = NULL;

    virtio_set_status(a, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_set_driver_features(a, 0, VIRTIO_BIT(5));
    virtio_set_driver_features(a, 1, 1);
    virtio_set_status(a, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                      VIRTIO_STATUS_FEATURES_OK);
    g_assert_true(a->status & VIRTIO_STATUS_FEATURES_OK);
    s = save(&vmstate_virtio_device, a);
    refused(&vmstate_virtio_device, b, s->data, s->len, VMSTATE_ERROR_INVALID,
            "virtio-device: negotiated features 0x20 are not offered by 'd0'");
    virtio_device_free(a);
    virtio_device_free(b);
    ram_machine_free(m);
}

typedef struct BlkRig {
    Machine *m;
    VirtioBlk *blk;
    VirtioMmio *t;
} BlkRig;

static void blk_rig_init(BlkRig *r, BlockBackend *bb)
{
    GError *err = NULL;

    r->m = ram_machine_new();
    r->blk = virtio_blk_new(r->m, "vd0", bb, NULL, true, &err);
    g_assert_no_error(err);
    r->t = virtio_mmio_new(r->m, virtio_blk_vdev(r->blk), MMIO_BASE, MMIO_GSI, &err);
    g_assert_no_error(err);
}

static void blk_rig_free(BlkRig *r)
{
    virtio_mmio_free(r->t);
    virtio_device_free(virtio_blk_vdev(r->blk));
    ram_machine_free(r->m);
}

static uint32_t mmio_rd(BlkRig *r, uint64_t off)
{
    uint32_t v = 0;

    g_assert_true(iobus_read(&r->m->mmio, MMIO_BASE + off, &v, 4));
    return v;
}

static void mmio_wr(BlkRig *r, uint64_t off, uint32_t v)
{
    g_assert_true(iobus_write(&r->m->mmio, MMIO_BASE + off, &v, 4));
}

static void drv_start(BlkRig *r)
{
    uint8_t s = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

    mmio_wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    mmio_wr(r, VIRTIO_MMIO_STATUS, s);
    mmio_wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    mmio_wr(r, VIRTIO_MMIO_DRIVER_FEATURES, VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
            VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
    mmio_wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    mmio_wr(r, VIRTIO_MMIO_DRIVER_FEATURES, 1);      /* VERSION_1 */
    mmio_wr(r, VIRTIO_MMIO_STATUS, s | VIRTIO_STATUS_FEATURES_OK);
    mmio_wr(r, VIRTIO_MMIO_QUEUE_SEL, 0);
    mmio_wr(r, VIRTIO_MMIO_QUEUE_NUM, BLK_QSZ);
    mmio_wr(r, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
    mmio_wr(r, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL);
    mmio_wr(r, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED);
    mmio_wr(r, VIRTIO_MMIO_QUEUE_READY, 1);
    mmio_wr(r, VIRTIO_MMIO_STATUS, s | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    g_assert_cmphex(mmio_rd(r, VIRTIO_MMIO_STATUS), ==, 0x0f);
}

static void put_desc(BlkRig *r, unsigned i, uint64_t addr, uint32_t len, uint16_t flags)
{
    uint8_t d[16];
    uint64_t a = htole64(addr);
    uint32_t l = htole32(len);
    uint16_t f = htole16(flags), n = htole16(i + 1);

    memcpy(d, &a, 8);
    memcpy(d + 8, &l, 4);
    memcpy(d + 12, &f, 2);
    memcpy(d + 14, &n, 2);
    g_assert_true(guest_ram_write(&r->m->ram, DESC + 16ULL * i, d, 16));
}

static uint16_t used_idx(BlkRig *r)
{
    uint16_t v = 0;

    g_assert_true(guest_ram_read(&r->m->ram, USED + 2, &v, 2));
    return le16toh(v);
}

/* Request `type` (GET_ID needs no backend) with a 512-byte device-writable buffer. */
static void blk_submit(BlkRig *r, uint16_t slot, uint32_t type)
{
    struct { uint32_t type, reserved; uint64_t sector; } hdr = { htole32(type), 0, 0 };

    g_assert_true(guest_ram_write(&r->m->ram, HDR, &hdr, sizeof(hdr)));
    put_desc(r, 0, HDR, sizeof(hdr), VIRTQ_DESC_F_NEXT);
    put_desc(r, 1, DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE);
    put_desc(r, 2, STAT, 1, VIRTQ_DESC_F_WRITE);
    ram_put16(&r->m->ram, AVAIL + 4 + 2 * (slot % BLK_QSZ), 0);
    ram_put16(&r->m->ram, AVAIL + 2, slot + 1);
    mmio_wr(r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* A running driver with one completed request, an unacknowledged interrupt, selectors set. */
static void blk_dirty(BlkRig *r)
{
    drv_start(r);
    blk_submit(r, 0, VIRTIO_BLK_T_GET_ID);
    g_assert_cmpuint(used_idx(r), ==, 1);
    g_assert_cmpuint(mmio_rd(r, VIRTIO_MMIO_INTERRUPT_STATUS), ==, VIRTIO_INT_VRING);
    mmio_wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    mmio_wr(r, VIRTIO_MMIO_SHM_SEL, 2);
}

/* The transport's section, then the device's, as a container would store them. */
static GByteArray *blk_save(BlkRig *r)
{
    GByteArray *b = save(&vmstate_virtio_mmio, r->t);
    GError *err = NULL;

    g_assert_true(vmstate_save(&vmstate_virtio_blk, r->blk, b, &err));
    g_assert_no_error(err);
    return b;
}

static void blk_load(BlkRig *r, GByteArray *b)
{
    size_t n = load_at(&vmstate_virtio_mmio, r->t, b, 0);

    g_assert_cmpuint(n + load_at(&vmstate_virtio_blk, r->blk, b, n), ==, b->len);
}

static void test_virtio_blk_roundtrip(void)
{
    BlkRig a, b;
    g_autoptr(GByteArray) sa = NULL, sb = NULL;
    uint8_t rings[USED + 8 * BLK_QSZ + 6 - DESC];

    blk_rig_init(&a, NULL);
    blk_dirty(&a);
    sa = blk_save(&a);
    g_assert_true(guest_ram_read(&a.m->ram, DESC, rings, sizeof(rings)));
    blk_rig_free(&a);

    blk_rig_init(&b, NULL);
    blk_load(&b, sa);
    sb = blk_save(&b);
    assert_same(sa, sb);
    g_assert_cmphex(mmio_rd(&b, VIRTIO_MMIO_STATUS), ==, 0x0f);
    g_assert_cmpuint(mmio_rd(&b, VIRTIO_MMIO_INTERRUPT_STATUS), ==, VIRTIO_INT_VRING);
    g_assert_cmpuint(mmio_rd(&b, VIRTIO_MMIO_DEVICE_FEATURES), ==, 1);   /* sel 1 kept */
    g_assert_cmpuint(mmio_rd(&b, VIRTIO_MMIO_QUEUE_READY), ==, 1);
    g_assert_cmpuint(mmio_rd(&b, VIRTIO_MMIO_QUEUE_NUM), ==, BLK_QSZ);
    g_assert_cmphex(mmio_rd(&b, VIRTIO_MMIO_QUEUE_DESC_LOW), ==, DESC);
    g_assert_cmphex(mmio_rd(&b, VIRTIO_MMIO_QUEUE_DRIVER_LOW), ==, AVAIL);
    g_assert_cmphex(mmio_rd(&b, VIRTIO_MMIO_QUEUE_DEVICE_LOW), ==, USED);
    g_assert_cmpuint(mmio_rd(&b, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_SEG_MAX), ==,
                     VIRTIO_BLK_SEG_MAX);

    /* With guest RAM carried over, the driver's next request completes. */
    g_assert_true(guest_ram_write(&b.m->ram, DESC, rings, sizeof(rings)));
    mmio_wr(&b, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
    /* used_event 1: the restored EVENT_IDX bookkeeping decides to interrupt. */
    ram_put16(&b.m->ram, AVAIL + 4 + 2 * BLK_QSZ, 1);
    blk_submit(&b, 1, VIRTIO_BLK_T_GET_ID);
    g_assert_cmpuint(used_idx(&b), ==, 2);
    g_assert_cmpuint(mmio_rd(&b, VIRTIO_MMIO_INTERRUPT_STATUS), ==, VIRTIO_INT_VRING);
    blk_rig_free(&b);
}

static void test_virtio_blk_refused(void)
{
    BlkRig a, b;
    g_autoptr(GByteArray) all = NULL, dev = NULL;
    const uint8_t *vq;

    blk_rig_init(&a, NULL);
    blk_dirty(&a);
    all = blk_save(&a);
    dev = save(&vmstate_virtio_blk, a.blk);
    blk_rig_free(&a);
    blk_rig_init(&b, NULL);

    truncations_refused(&vmstate_virtio_blk, b.blk, dev);
    newer_refused(&vmstate_virtio_blk, b.blk, dev);
    refused(&vmstate_virtio_blk, b.blk, all->data, all->len, VMSTATE_ERROR_WRONG_SECTION,
            "virtio-blk: the stream holds section 'virtio-mmio'");
    vq = memmem(dev->data, dev->len, "\x09virtqueue\x01\x00\x00\x00", 14);
    g_assert_nonnull(vq);
    refused_patched(&vmstate_virtio_blk, b.blk, dev, vq - dev->data + 10, 2,
                    VMSTATE_ERROR_VERSION, "virtio-blk: field 'vdev': virtio-device: field "
                    "'vqs'[0]: virtqueue: stream version 2 is newer than the supported 1");
    g_assert_cmphex(mmio_rd(&b, VIRTIO_MMIO_STATUS), ==, 0);
    flips_survive(&vmstate_virtio_blk, b.blk, dev);
    flips_survive(&vmstate_virtio_mmio, b.t, all);
    for (uint64_t off = 0; off < VIRTIO_MMIO_REGION_SIZE; off += 4) {
        mmio_rd(&b, off);
    }
    blk_submit(&b, 0, VIRTIO_BLK_T_GET_ID);
    blk_rig_free(&b);
}

/* ---- virtio-blk with a disk: requests in flight, a different disk ---- */

typedef struct Disk {
    char *dir;
    char *path;
    BlockBackend *bb;
} Disk;

static void disk_open(Disk *d)
{
    g_autoptr(GError) err = NULL;
    BlockOptions o;
    int fd;

    d->dir = make_image_dir("test-device-state");
    d->path = g_build_filename(d->dir, "disk.img", NULL);
    fd = open(d->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, MIB), ==, 0);
    close(fd);
    block_options_init(&o);
    o.node_name = "drive0";
    o.filename = d->path;
    o.aio = BLOCK_AIO_THREADS;
    o.direct = false;
    d->bb = block_open(&o, NULL, &err);
    g_assert_no_error(err);
}

static void disk_close(Disk *d)
{
    block_unref(d->bb);
    g_unlink(d->path);
    g_rmdir(d->dir);
    g_free(d->path);
    g_free(d->dir);
}

/* Completions arrive on the main context: until then the request is in flight. */
static void test_virtio_blk_inflight_refused(void)
{
    Disk disk;
    BlkRig a;
    g_autoptr(GByteArray) out = g_byte_array_new();
    GError *err = NULL;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    disk_open(&disk);
    blk_rig_init(&a, disk.bb);
    drv_start(&a);
    blk_submit(&a, 0, VIRTIO_BLK_T_IN);
    g_assert_cmpuint(used_idx(&a), ==, 0);
    g_assert_false(vmstate_save(&vmstate_virtio_blk, a.blk, out, &err));
    g_assert_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID);
    g_assert_cmpstr(err->message, ==, "virtio-blk: 'vd0' has 1 requests in flight");
    g_assert_cmpuint(out->len, ==, 0);
    g_clear_error(&err);
    while (used_idx(&a) == 0) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_true(vmstate_save(&vmstate_virtio_blk, a.blk, out, NULL));
    blk_rig_free(&a);
    disk_close(&disk);
}

/* The guest saw a 1 MiB disk: an empty slot on the destination is refused. */
static void test_virtio_blk_capacity_refused(void)
{
    Disk disk;
    BlkRig a, b;
    g_autoptr(GByteArray) s = NULL;

    disk_open(&disk);
    blk_rig_init(&a, disk.bb);
    drv_start(&a);
    s = save(&vmstate_virtio_blk, a.blk);
    blk_rig_free(&a);
    blk_rig_init(&b, NULL);
    refused(&vmstate_virtio_blk, b.blk, s->data, s->len, VMSTATE_ERROR_INVALID,
            "virtio-blk: 'vd0' had 2048 sectors, its backend here has 0");
    blk_rig_free(&b);
    disk_close(&disk);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/device-state/serial/roundtrip", test_serial_roundtrip);
    g_test_add_func("/device-state/serial/refused", test_serial_refused);
    g_test_add_func("/device-state/pm/roundtrip", test_pm_roundtrip);
    g_test_add_func("/device-state/pm/refused", test_pm_refused);
    g_test_add_func("/device-state/virtqueue/roundtrip", test_virtqueue_roundtrip);
    g_test_add_func("/device-state/virtqueue/refused", test_virtqueue_refused);
    g_test_add_func("/device-state/virtio-core/shape-refused", test_virtio_core_shape_refused);
    g_test_add_func("/device-state/virtio-core/features-refused",
                    test_virtio_core_features_refused);
    g_test_add_func("/device-state/virtio-blk/roundtrip", test_virtio_blk_roundtrip);
    g_test_add_func("/device-state/virtio-blk/refused", test_virtio_blk_refused);
    g_test_add_func("/device-state/virtio-blk/inflight-refused",
                    test_virtio_blk_inflight_refused);
    g_test_add_func("/device-state/virtio-blk/capacity-refused",
                    test_virtio_blk_capacity_refused);
    return g_test_run();
}
