/*
 * virtio-pci's notify ioeventfds (src/hw/virtio/virtio-pci-kick.c): a queue
 * the driver enables gets an ioeventfd on its notify address in BAR4 as the
 * guest decodes it now, which moves with the BAR, goes with memory decoding,
 * a device reset, a system reset and unplug, and comes back after a snapshot
 * load; a guest kick through it reaches the device on the main loop. The
 * fake accelerator keeps its ioeventfds on the machine's MMIO bus, as emu
 * does, so the guest writes below take the real dispatch path.
 */
#include <unistd.h>
#include <glib.h>

#include "fake-machine.h"
#include "hw/virtio/virtio-pci.h"
#include "migration/vmstate.h"

#define BAR1 0xC0000000ULL

#define BAR4_A 0xC0100000ULL
#define BAR4_B 0xD0200000ULL
#define NOTIFY 0x3000
#define NQ 2

static unsigned adds, removes;

static bool bus_add(Machine *m, bool pio, uint64_t addr, unsigned size, bool datamatch,
                    uint64_t data, int fd, GError **err)
{
    IoEventfd e = { .addr = addr, .size = size, .datamatch = datamatch, .data = data, .fd = fd };

    g_assert_false(pio);
    adds++;
    return iobus_add_eventfd(&m->mmio, &e, err);
}

static void bus_remove(Machine *m, bool pio, uint64_t addr, unsigned size, bool datamatch,
                       uint64_t data, int fd)
{
    IoEventfd e = { .addr = addr, .size = size, .datamatch = datamatch, .data = data, .fd = fd };

    removes++;
    iobus_remove_eventfd(&m->mmio, &e);
}

static const AccelOps evfd_accel = {
    .name = "fake-evfd",
    .set_irq = fake_set_irq,
    .add_ioeventfd = bus_add,
    .remove_ioeventfd = bus_remove,
};

typedef struct TestDev {
    VirtioDevice vdev;
    unsigned kicks[NQ];
} TestDev;

static void dev_notify(VirtioDevice *vdev, unsigned index)
{
    ((TestDev *)vdev)->kicks[index]++;
}

static void dev_free(VirtioDevice *vdev)
{
    virtio_device_cleanup(vdev);
}

static const VirtioDeviceClass dev_class = {
    .name = "test-dev", .device_id = VIRTIO_ID_RNG, .queue_notify = dev_notify, .free = dev_free,
};

typedef struct Rig {
    Machine *m;
    TestDev dev;
    VirtioPci *t;
} Rig;

static void rig_init(Rig *r, const AccelOps *ops)
{
    memset(r, 0, sizeof(*r));
    r->m = fake_machine_new();
    r->m->accel_ops = ops;
    iobus_init(&r->m->mmio, "mmio", IOBUS_MEMORY);
    g_assert_true(guest_ram_init(&r->m->ram, 16 << 20, 1ULL << 31, false, false, NULL));
    virtio_device_init(&r->dev.vdev, &dev_class, r->m, "t0", 0, NQ, 16, 0);
    r->t = virtio_pci_new(r->m, &r->dev.vdev, 0xff0000, 16, NULL);
    g_assert_nonnull(r->t);
    adds = removes = 0;
}

static void rig_free(Rig *r)
{
    virtio_pci_free(r->t);
    virtio_device_cleanup(&r->dev.vdev);
    guest_ram_destroy(&r->m->ram);
    iobus_destroy(&r->m->mmio);
    fake_machine_free(r->m);
}

static void cfg_write(Rig *r, unsigned reg, uint32_t v, unsigned len)
{
    pci_config_write(virtio_pci_function(r->t), reg, v, len);
}

/* BAR4 (64-bit) at base, memory decoding on or off. */
static void place_bar4(Rig *r, uint64_t base, bool decode)
{
    cfg_write(r, 0x20, (uint32_t)base, 4);
    cfg_write(r, 0x24, (uint32_t)(base >> 32), 4);
    cfg_write(r, 0x04, decode ? 0x6 : 0x4, 2);
}

static void wr(Rig *r, uint64_t addr, uint64_t v, unsigned size)
{
    g_assert_true(iobus_write(&r->m->mmio, addr, &v, size));
}

/* What a driver does to enable queue q, its rings at the bottom of RAM. */
static void enable_queue(Rig *r, uint64_t bar, unsigned q)
{
    wr(r, bar + 0x16, q, 2);
    wr(r, bar + 0x18, 16, 2);
    wr(r, bar + 0x20, 0x10000 + q * 0x1000, 8);
    wr(r, bar + 0x28, 0x10400 + q * 0x1000, 8);
    wr(r, bar + 0x30, 0x10800 + q * 0x1000, 8);
    wr(r, bar + 0x1c, 1, 2);
}

/* ACKNOWLEDGE, DRIVER, VERSION_1, FEATURES_OK, DRIVER_OK. */
static void driver_ok(Rig *r, uint64_t bar)
{
    wr(r, bar + 0x14, 0x3, 1);
    wr(r, bar + 0x08, 1, 4);
    wr(r, bar + 0x0c, 1, 4);
    wr(r, bar + 0x14, 0xb, 1);
    wr(r, bar + 0x14, 0xf, 1);
    g_assert_cmphex(r->dev.vdev.status, ==, 0xf);
}

static bool registered(Rig *r, uint64_t addr)
{
    for (guint i = 0; i < r->m->mmio.eventfds->len; i++) {
        if (g_array_index(r->m->mmio.eventfds, IoEventfd, i).addr == addr) {
            return true;
        }
    }
    return false;
}

static void run_main_loop(Rig *r)
{
    while (g_main_context_iteration(r->m->ctx, FALSE)) {
    }
}

static void test_follows_bar_and_enable(void)
{
    Rig r;

    rig_init(&r, &evfd_accel);
    place_bar4(&r, BAR4_A, true);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 0);     /* nothing enabled yet */
    enable_queue(&r, BAR4_A, 1);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 1);
    g_assert_true(registered(&r, BAR4_A + NOTIFY + 4));
    enable_queue(&r, BAR4_A, 0);
    g_assert_true(registered(&r, BAR4_A + NOTIFY));
    /* The guest moves BAR4: both follow it. */
    place_bar4(&r, BAR4_B, true);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 2);
    g_assert_true(registered(&r, BAR4_B + NOTIFY));
    g_assert_true(registered(&r, BAR4_B + NOTIFY + 4));
    g_assert_false(registered(&r, BAR4_A + NOTIFY));
    /* Memory decoding off: nothing to match; on again: back. */
    cfg_write(&r, 0x04, 0x4, 2);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 0);
    cfg_write(&r, 0x04, 0x6, 2);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 2);
    /* A device reset (status 0) disables every queue. */
    wr(&r, BAR4_B + 0x14, 0, 1);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 0);
    g_assert_cmpuint(adds, ==, removes);
    enable_queue(&r, BAR4_B, 0);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 1);
    /* system_reset: BARs unassigned, queues off. */
    virtio_pci_reset(r.t);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 0);
    place_bar4(&r, BAR4_A, true);
    enable_queue(&r, BAR4_A, 1);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 1);
    /* Unplug takes it away. */
    virtio_pci_free(r.t);
    r.t = NULL;
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 0);
    g_assert_cmpuint(adds, ==, removes);
    rig_free(&r);
}

/* A kick written by the guest signals the eventfd; the main loop notifies the device. */
static void test_kick_through_eventfd(void)
{
    Rig r;

    rig_init(&r, &evfd_accel);
    place_bar4(&r, BAR4_A, true);
    driver_ok(&r, BAR4_A);
    enable_queue(&r, BAR4_A, 0);
    enable_queue(&r, BAR4_A, 1);
    /* Registering looks at each queue once, for a kick that came before it. */
    run_main_loop(&r);
    g_assert_cmpuint(r.dev.kicks[0], ==, 1);
    g_assert_cmpuint(r.dev.kicks[1], ==, 1);
    r.dev.kicks[0] = r.dev.kicks[1] = 0;
    wr(&r, BAR4_A + NOTIFY + 4, 1, 2);  /* Linux writes the index, 16 bits */
    g_assert_cmpuint(r.m->mmio.eventfd_hits, ==, 1);
    g_assert_cmpuint(r.dev.kicks[1], ==, 0);              /* not on the vCPU's call */
    run_main_loop(&r);
    g_assert_cmpuint(r.dev.kicks[1], ==, 1);
    g_assert_cmpuint(r.dev.kicks[0], ==, 0);
    rig_free(&r);
}

/* Without accelerator ioeventfds (qtest) the handler notifies at once. */
static void test_handler_fallback(void)
{
    Rig r;

    rig_init(&r, &fake_accel);
    place_bar4(&r, BAR4_A, true);
    driver_ok(&r, BAR4_A);
    enable_queue(&r, BAR4_A, 0);
    wr(&r, BAR4_A + NOTIFY, 0, 2);
    g_assert_cmpuint(r.dev.kicks[0], ==, 1);
    g_assert_cmpuint(r.m->mmio.eventfds->len, ==, 0);
    rig_free(&r);
}

/* A snapshot's transport loads before its device: the enables arrive with the device. */
static void test_snapshot_load(void)
{
    Rig a, b;
    g_autoptr(GByteArray) tr = g_byte_array_new(), dev = g_byte_array_new();
    size_t used;

    rig_init(&a, &evfd_accel);
    place_bar4(&a, BAR4_B, true);
    enable_queue(&a, BAR4_B, 1);
    g_assert_true(virtio_pci_save(a.t, tr, NULL));
    g_assert_true(vmstate_save(&vmstate_virtio_device, &a.dev.vdev, dev, NULL));
    rig_free(&a);

    rig_init(&b, &evfd_accel);
    g_assert_true(virtio_pci_load(b.t, tr->data, tr->len, &used, NULL));
    g_assert_cmpuint(b.m->mmio.eventfds->len, ==, 0);    /* queues not loaded yet */
    g_assert_true(vmstate_load(&vmstate_virtio_device, &b.dev.vdev, dev->data, dev->len, &used,
                               NULL));
    g_assert_cmpuint(b.m->mmio.eventfds->len, ==, 1);
    g_assert_true(registered(&b, BAR4_B + NOTIFY + 4));
    rig_free(&b);
}

/* ---- MSI-X through irqfds: a fake accelerator with MSI routes ---- */

typedef struct Route {
    bool used;
    uint64_t addr;
    uint32_t data;
    int irqfd;
} Route;

static Route routes[8];
static unsigned route_updates;

static int route_add(Machine *m, uint64_t addr, uint32_t data, GError **err)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(routes); i++) {
        if (!routes[i].used) {
            routes[i] = (Route){ .used = true, .addr = addr, .data = data, .irqfd = -1 };
            return (int)(24 + i);
        }
    }
    return -1;
}

static bool route_update(Machine *m, unsigned gsi, uint64_t addr, uint32_t data, GError **err)
{
    g_assert_true(routes[gsi - 24].used);
    routes[gsi - 24].addr = addr;
    routes[gsi - 24].data = data;
    route_updates++;
    return true;
}

static void route_remove(Machine *m, unsigned gsi)
{
    g_assert_cmpint(routes[gsi - 24].irqfd, ==, -1);     /* its irqfd went first */
    routes[gsi - 24].used = false;
}

static bool irqfd_add(Machine *m, unsigned gsi, int fd, GError **err)
{
    g_assert_cmpuint(gsi, >=, 24);
    g_assert_true(routes[gsi - 24].used);
    routes[gsi - 24].irqfd = fd;
    return true;
}

static void irqfd_remove(Machine *m, unsigned gsi, int fd)
{
    g_assert_cmpint(routes[gsi - 24].irqfd, ==, fd);
    routes[gsi - 24].irqfd = -1;
}

static const AccelOps routes_accel = {
    .name = "fake-routes",
    .set_irq = fake_set_irq,
    .add_irqfd = irqfd_add,
    .remove_irqfd = irqfd_remove,
    .add_msi_route = route_add,
    .update_msi_route = route_update,
    .remove_msi_route = route_remove,
};

/* Signals an irqfd received since the last look. */
static uint64_t signals(const Route *r)
{
    uint64_t n = 0;

    return r->irqfd >= 0 && read(r->irqfd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

static uint8_t msix_cap(Rig *r)
{
    PciDevice *d = virtio_pci_function(r->t);

    for (uint8_t c = pci_config_read(d, 0x34, 1); c; c = pci_config_read(d, c + 1, 1)) {
        if (pci_config_read(d, c, 1) == 0x11) {
            return c;
        }
    }
    g_assert_not_reached();
}

/* BAR1 and BAR4 placed, MSI-X on, queue 0 on vector 1 = (0xfee00000, data). */
static void msix_setup(Rig *r, uint32_t data)
{
    cfg_write(r, 0x14, (uint32_t)BAR1, 4);
    place_bar4(r, BAR4_A, true);
    cfg_write(r, msix_cap(r) + 2, 0x8000, 2);
    wr(r, BAR1 + 16, 0xfee00000, 4);
    wr(r, BAR1 + 20, 0, 4);
    wr(r, BAR1 + 24, data, 4);
    wr(r, BAR1 + 28, 0, 4);             /* unmasked */
    wr(r, BAR4_A + 0x16, 0, 2);
    wr(r, BAR4_A + 0x1a, 1, 2);
}

static void raise_queue0(Rig *r)
{
    r->dev.vdev.isr |= VIRTIO_INT_VRING;
    r->dev.vdev.transport->notify_queue(r->dev.vdev.transport_opaque, 0);
}

static void test_msix_irqfd(void)
{
    Rig r;
    uint64_t pba = 0;

    memset(routes, 0, sizeof(routes));
    route_updates = 0;
    rig_init(&r, &routes_accel);
    msix_setup(&r, 0x4041);
    g_assert_false(routes[0].used);                 /* routes come with the first use */
    raise_queue0(&r);
    g_assert_true(routes[0].used);
    g_assert_cmphex(routes[0].addr, ==, 0xfee00000);
    g_assert_cmphex(routes[0].data, ==, 0x4041);
    g_assert_cmpuint(signals(&routes[0]), ==, 1);
    raise_queue0(&r);
    g_assert_cmpuint(signals(&routes[0]), ==, 1);
    g_assert_cmpuint(route_updates, ==, 0);
    /* Masked: the PBA bit, no signal; a new message waits for the unmask. */
    wr(&r, BAR1 + 28, 1, 4);
    raise_queue0(&r);
    g_assert_cmpuint(signals(&routes[0]), ==, 0);
    g_assert_true(iobus_read(&r.m->mmio, BAR1 + 0x800, &pba, 8));
    g_assert_cmphex(pba, ==, 0x2);
    wr(&r, BAR1 + 24, 0x4051, 4);
    g_assert_cmpuint(route_updates, ==, 0);
    /* Unmask: the route takes the new message, then the pending interrupt goes. */
    wr(&r, BAR1 + 28, 0, 4);
    g_assert_cmpuint(route_updates, ==, 1);
    g_assert_cmphex(routes[0].data, ==, 0x4051);
    g_assert_cmpuint(signals(&routes[0]), ==, 1);
    g_assert_true(iobus_read(&r.m->mmio, BAR1 + 0x800, &pba, 8));
    g_assert_cmphex(pba, ==, 0);
    /* A live entry rewritten: the route follows the write itself. */
    wr(&r, BAR1 + 24, 0x4061, 4);
    g_assert_cmpuint(route_updates, ==, 2);
    g_assert_cmphex(routes[0].data, ==, 0x4061);
    /* The function mask holds it too; lifting it delivers. */
    cfg_write(&r, msix_cap(&r) + 2, 0xc000, 2);
    raise_queue0(&r);
    g_assert_cmpuint(signals(&routes[0]), ==, 0);
    cfg_write(&r, msix_cap(&r) + 2, 0x8000, 2);
    g_assert_cmpuint(signals(&routes[0]), ==, 1);
    /* Unplug: irqfd then route go. */
    virtio_pci_free(r.t);
    r.t = NULL;
    g_assert_false(routes[0].used);
    rig_free(&r);
}

/* ---- shared INTx lines: the GSI is the wired-OR of its sources ---- */

static void test_irq_wired_or(void)
{
    Machine *m = fake_machine_new();
    IrqLine a, b;

    fake_irq_clear();
    irq_line_init(&a, m, 16);
    irq_line_init(&b, m, 16);
    irq_set_level(&a, true);
    irq_set_level(&b, true);
    irq_set_level(&b, false);           /* b is done, a is not: the line stays up */
    g_assert_true(irq_level[16]);
    irq_set_level(&b, false);           /* lowering twice does not count twice */
    g_assert_true(irq_level[16]);
    irq_set_level(&a, false);
    g_assert_false(irq_level[16]);
    g_assert_cmpuint(irq_rises[16], ==, 1);
    g_assert_cmpuint(m->irq_counts[16], ==, 1);
    g_assert_cmpuint(m->irq_high[16], ==, 0);
    fake_machine_free(m);
}

/* Two functions' INTA on GSI 16, each asserted while its ISR has a bit. */
typedef struct Pair {
    Machine *m;
    TestDev dev[2];
    VirtioPci *t[2];
} Pair;

static void pair_init(Pair *p)
{
    memset(p, 0, sizeof(*p));
    p->m = fake_machine_new();
    iobus_init(&p->m->mmio, "mmio", IOBUS_MEMORY);
    g_assert_true(guest_ram_init(&p->m->ram, 16 << 20, 1ULL << 31, false, false, NULL));
    for (int i = 0; i < 2; i++) {
        virtio_device_init(&p->dev[i].vdev, &dev_class, p->m, i ? "t1" : "t0", 0, NQ, 16, 0);
        p->t[i] = virtio_pci_new(p->m, &p->dev[i].vdev, 0xff0000, 16, NULL);
        pci_config_write(virtio_pci_function(p->t[i]), 0x20, (uint32_t)(i ? BAR4_B : BAR4_A), 4);
        pci_config_write(virtio_pci_function(p->t[i]), 0x24, 0, 4);
        pci_config_write(virtio_pci_function(p->t[i]), 0x04, 0x6, 2);
    }
}

static void pair_free(Pair *p)
{
    for (int i = 0; i < 2; i++) {
        virtio_pci_free(p->t[i]);
        virtio_device_cleanup(&p->dev[i].vdev);
    }
    guest_ram_destroy(&p->m->ram);
    iobus_destroy(&p->m->mmio);
    fake_machine_free(p->m);
}

/* The driver's ISR read: acknowledges, the function lowers its INTA. */
static void read_isr(Pair *p, int i)
{
    uint8_t v = 0;

    g_assert_true(iobus_read(&p->m->mmio, (i ? BAR4_B : BAR4_A) + 0x1000, &v, 1));
    g_assert_cmpuint(v, ==, VIRTIO_INT_VRING);
}

static void test_intx_shared_gsi(void)
{
    Pair p;

    fake_irq_clear();
    pair_init(&p);
    for (int i = 0; i < 2; i++) {
        p.dev[i].vdev.isr |= VIRTIO_INT_VRING;
        p.dev[i].vdev.transport->notify_queue(p.dev[i].vdev.transport_opaque, 0);
    }
    g_assert_true(irq_level[16]);
    read_isr(&p, 0);
    g_assert_true(irq_level[16]);       /* function 1 still asserts it (failed before) */
    read_isr(&p, 1);
    g_assert_false(irq_level[16]);
    pair_free(&p);
}

/* Saved with both asserted, loaded into a fresh machine: the same wired-OR. */
static void test_intx_shared_gsi_snapshot(void)
{
    Pair a, b;
    GByteArray *tr[2], *dev[2];
    size_t used;

    fake_irq_clear();
    pair_init(&a);
    for (int i = 0; i < 2; i++) {
        a.dev[i].vdev.isr |= VIRTIO_INT_VRING;
        a.dev[i].vdev.transport->notify_queue(a.dev[i].vdev.transport_opaque, 0);
        tr[i] = g_byte_array_new();
        dev[i] = g_byte_array_new();
        g_assert_true(virtio_pci_save(a.t[i], tr[i], NULL));
        g_assert_true(vmstate_save(&vmstate_virtio_device, &a.dev[i].vdev, dev[i], NULL));
    }
    pair_free(&a);
    fake_irq_clear();
    pair_init(&b);
    /* Boards load before devices (migration.c): transports first, then the ISRs. */
    for (int i = 0; i < 2; i++) {
        g_assert_true(virtio_pci_load(b.t[i], tr[i]->data, tr[i]->len, &used, NULL));
    }
    for (int i = 0; i < 2; i++) {
        g_assert_true(vmstate_load(&vmstate_virtio_device, &b.dev[i].vdev, dev[i]->data,
                                   dev[i]->len, &used, NULL));
        g_byte_array_unref(tr[i]);
        g_byte_array_unref(dev[i]);
    }
    g_assert_true(irq_level[16]);
    g_assert_cmpuint(b.m->irq_high[16], ==, 2);
    read_isr(&b, 1);
    g_assert_true(irq_level[16]);
    read_isr(&b, 0);
    g_assert_false(irq_level[16]);
    g_assert_cmpuint(b.m->irq_high[16], ==, 0);
    pair_free(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-pci/ioeventfd/follows-bar-and-enable", test_follows_bar_and_enable);
    g_test_add_func("/virtio-pci/ioeventfd/kick", test_kick_through_eventfd);
    g_test_add_func("/virtio-pci/ioeventfd/handler-fallback", test_handler_fallback);
    g_test_add_func("/virtio-pci/ioeventfd/snapshot-load", test_snapshot_load);
    g_test_add_func("/virtio-pci/msix/irqfd", test_msix_irqfd);
    g_test_add_func("/irq/wired-or", test_irq_wired_or);
    g_test_add_func("/virtio-pci/intx/shared-gsi", test_intx_shared_gsi);
    g_test_add_func("/virtio-pci/intx/shared-gsi-snapshot", test_intx_shared_gsi_snapshot);
    return g_test_run();
}
