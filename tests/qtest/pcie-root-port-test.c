/*
 * pcie-root-port on q35 (src/hw/pci/pcie-root-port.c, docs/pci.md), driven
 * register by register as a guest's pciehp drives it: the port's identity
 * and capabilities, bus numbering and forwarding windows reaching the
 * device behind it, a hot-plug (presence and link events, MSI to memory as
 * under QEMU's qtest), a guest-cooperative unplug (attention button, power
 * off, DEVICE_DELETED), INTx when MSI is off, a reset completing a pending
 * unplug, placement and unplug errors, and hostile config writes.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "qtest.h"

#define ECAM 0xB0000000ULL
#define PORT_SLOT 2
#define PORT_GSI (16 + PORT_SLOT % 4)
#define MSI_ADDR 0x00200000ULL           /* RAM: under qtest an MSI is a memory write */
#define MSI_DATA 0x4321
#define WINDOW 0xC0000000ULL             /* the port's memory window, 1 MiB */

/* Offsets in the port's PCI Express capability */
#define LNKSTA 0x12
#define SLTCAP 0x14
#define SLTCTL 0x18
#define SLTSTA 0x1a

#define ST_ABP   0x0001
#define ST_PDC   0x0008
#define ST_CC    0x0010
#define ST_PDS   0x0040
#define ST_DLLSC 0x0100
#define CTL_ENABLES 0x103b               /* ABPE PDCE CCIE HPIE DLLSCE */
#define CTL_ON      0x01c0               /* power on, power indicator on, attention off */
#define CTL_OFF     0x07c0               /* power off, power indicator off */
#define DEL_DISK0 "{'execute': 'device_del', 'arguments': {'id': 'disk0'}}"

typedef struct Port {
    QTestState *s;
    uint8_t exp, msi;
    char *img;
} Port;

static uint64_t cfg(unsigned bus, unsigned slot, unsigned reg)
{
    return ECAM + ((uint64_t)bus << 20 | slot << 15 | reg);
}

static uint64_t pcfg(unsigned reg)
{
    return cfg(0, PORT_SLOT, reg);
}

static uint8_t find_cap(QTestState *s, uint8_t id)
{
    for (uint8_t c = qtest_readb(s, pcfg(0x34)), n = 0; c && n < 48;
         c = qtest_readb(s, pcfg(c + 1)), n++) {
        if (qtest_readb(s, pcfg(c)) == id) {
            return c;
        }
    }
    return 0;
}

static char *make_image(const char *name)
{
    char *img = qtest_tmp_path(name);
    int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 1 << 20), ==, 0);
    close(fd);
    return img;
}

static void start(Port *p, const char *extra)
{
    p->img = make_image("rp-disk.img");
    p->s = qtest_initf("-machine q35 -drive if=none,id=d0,file=%s,format=raw,direct=off "
                       "-device pcie-root-port,id=rp1,port=0x1,chassis=1,bus=pcie.0,addr=0x%x %s",
                       p->img, PORT_SLOT, extra);
    p->exp = find_cap(p->s, 0x10);
    p->msi = find_cap(p->s, 0x05);
    g_assert_cmpuint(p->exp, !=, 0);
    g_assert_cmpuint(p->msi, !=, 0);
}

static void stop(Port *p)
{
    qtest_quit(p->s);
    unlink(p->img);
    g_free(p->img);
}

static uint16_t slot_status(Port *p)
{
    return qtest_readw(p->s, pcfg(p->exp + SLTSTA));
}

/* Bus 1 below the port, a 1 MiB memory window at WINDOW, decoding on. */
static void number_and_open(Port *p)
{
    qtest_writel(p->s, pcfg(0x18), 0x010100);
    qtest_writel(p->s, pcfg(0x20), (uint32_t)(WINDOW >> 16) | (uint32_t)(WINDOW >> 16) << 16);
    qtest_writew(p->s, pcfg(0x04), 0x0006);
}

static void enable_msi(Port *p)
{
    qtest_writel(p->s, pcfg(p->msi + 4), (uint32_t)MSI_ADDR);
    qtest_writel(p->s, pcfg(p->msi + 8), 0);
    qtest_writew(p->s, pcfg(p->msi + 12), MSI_DATA);
    qtest_writew(p->s, pcfg(p->msi + 2), 0x0001);
}

/* Whether an MSI arrived since the last call (the message is a 4-byte write). */
static bool msi_seen(Port *p)
{
    uint32_t v = qtest_readl(p->s, MSI_ADDR);

    qtest_writel(p->s, MSI_ADDR, 0);
    g_assert_true(v == 0 || v == MSI_DATA);
    return v == MSI_DATA;
}

/* The guest's answer to an event: read the status, write the bits back. */
static uint16_t ack(Port *p)
{
    uint16_t st = slot_status(p);

    qtest_writew(p->s, pcfg(p->exp + SLTSTA), st & 0x011f);
    return st;
}

static void hotplug_disk(Port *p)
{
    qtest_qmp_assert_success(p->s, "{'execute': 'device_add', 'arguments': {'id': 'disk0', "
                             "'driver': 'virtio-blk-pci', 'drive': 'd0', 'bus': 'rp1', "
                             "'addr': '0x0'}}");
}

/* device_del's answer only: the device goes when the guest (or a reset) gives it up. */
static void unplug_disk(Port *p)
{
    qtest_qmp_assert_success(p->s, DEL_DISK0);
}

static void test_identity(void)
{
    Port p;

    start(&p, "");
    g_assert_cmphex(qtest_readl(p.s, pcfg(0x00)), ==, 0x000c1b36);
    g_assert_cmphex(qtest_readl(p.s, pcfg(0x08)) >> 8, ==, 0x060400);
    g_assert_cmphex(qtest_readb(p.s, pcfg(0x0e)), ==, 0x01);
    g_assert_cmphex(qtest_readb(p.s, pcfg(0x3d)), ==, 1);                   /* INTA */
    /* PCIe v2, root port, slot implemented; a hot-plug capable slot, PSN chassis:port. */
    g_assert_cmphex(qtest_readw(p.s, pcfg(p.exp + 2)), ==, 0x0142);
    g_assert_cmphex(qtest_readl(p.s, pcfg(p.exp + SLTCAP)), ==, 0x0101u << 19 | 0x5b);
    g_assert_cmphex(qtest_readl(p.s, pcfg(p.exp + 0x0c)) >> 24, ==, 1);     /* port number */
    /* Empty: power off, indicator off, nothing present, link down. */
    g_assert_cmphex(qtest_readw(p.s, pcfg(p.exp + SLTCTL)), ==, 0x07c0);
    g_assert_cmphex(slot_status(&p), ==, 0);
    g_assert_cmphex(qtest_readw(p.s, pcfg(p.exp + LNKSTA)) & 0x2000, ==, 0);
    /* 64-bit MSI, one vector; prefetchable window 64-bit capable. */
    g_assert_cmphex(qtest_readw(p.s, pcfg(p.msi + 2)), ==, 0x0080);
    g_assert_cmphex(qtest_readl(p.s, pcfg(0x24)), ==, 0x00010001);
    stop(&p);
}

/* A cold-plugged disk behind the port: present, reachable once numbered and windowed. */
static void test_cold_plug_and_windows(void)
{
    Port p;

    start(&p, "-device virtio-blk-pci,drive=d0,id=disk0,bus=rp1,addr=0x0");
    g_assert_cmphex(slot_status(&p), ==, ST_PDS);
    g_assert_cmphex(qtest_readw(p.s, pcfg(p.exp + SLTCTL)), ==, 0x01c0);
    g_assert_cmphex(qtest_readw(p.s, pcfg(p.exp + LNKSTA)) & 0x2000, ==, 0x2000);
    g_assert_cmphex(qtest_readl(p.s, cfg(1, 0, 0)), ==, 0xffffffff);        /* not numbered */
    number_and_open(&p);
    g_assert_cmphex(qtest_readl(p.s, cfg(1, 0, 0)), ==, 0x10421af4);
    g_assert_cmphex(qtest_readl(p.s, cfg(1, 1, 0)), ==, 0xffffffff);        /* slot 0 only */
    g_assert_cmphex(qtest_readl(p.s, cfg(2, 0, 0)), ==, 0xffffffff);
    /* BAR 4 (16 KiB, 64-bit) inside the window: the common config answers. */
    qtest_writel(p.s, cfg(1, 0, 0x20), (uint32_t)WINDOW);
    qtest_writel(p.s, cfg(1, 0, 0x24), 0);
    qtest_writew(p.s, cfg(1, 0, 0x04), 0x0002);
    g_assert_cmpuint(qtest_readw(p.s, WINDOW + 0x12), ==, 1);               /* num_queues */
    /* The window closes: the BAR decodes nothing, then again when it reopens. */
    qtest_writel(p.s, pcfg(0x20), 0x0000fff0);
    g_assert_cmpuint(qtest_readw(p.s, WINDOW + 0x12), !=, 1);
    number_and_open(&p);
    g_assert_cmpuint(qtest_readw(p.s, WINDOW + 0x12), ==, 1);
    stop(&p);
}

/*
 * Secondary bus reset (bridge control bit 6): the function below goes back to
 * its power-on state (decoding off, BARs unassigned, virtio status 0) while
 * the port keeps its own numbers and windows.
 */
static void test_secondary_bus_reset(void)
{
    Port p;

    start(&p, "-device virtio-blk-pci,drive=d0,id=disk0,bus=rp1,addr=0x0");
    number_and_open(&p);
    qtest_writel(p.s, cfg(1, 0, 0x20), (uint32_t)WINDOW);
    qtest_writel(p.s, cfg(1, 0, 0x24), 0);
    qtest_writew(p.s, cfg(1, 0, 0x04), 0x0006);
    qtest_writeb(p.s, WINDOW + 0x14, 1);                                   /* ACKNOWLEDGE */
    g_assert_cmpuint(qtest_readb(p.s, WINDOW + 0x14), ==, 1);
    qtest_writew(p.s, pcfg(0x3e), 0x0040);
    g_assert_cmphex(qtest_readw(p.s, cfg(1, 0, 0x04)) & 0x7, ==, 0);
    g_assert_cmphex(qtest_readl(p.s, cfg(1, 0, 0x20)), ==, 0xc);           /* 64-bit, prefetch */
    g_assert_cmpuint(qtest_readw(p.s, WINDOW + 0x12), !=, 1);               /* decodes nothing */
    qtest_writew(p.s, pcfg(0x3e), 0x0000);
    g_assert_cmphex(qtest_readl(p.s, pcfg(0x18)) & 0xffffff, ==, 0x010100);
    g_assert_cmphex(qtest_readl(p.s, cfg(1, 0, 0)), ==, 0x10421af4);
    qtest_writel(p.s, cfg(1, 0, 0x20), (uint32_t)WINDOW);
    qtest_writew(p.s, cfg(1, 0, 0x04), 0x0002);
    g_assert_cmpuint(qtest_readw(p.s, WINDOW + 0x12), ==, 1);
    g_assert_cmpuint(qtest_readb(p.s, WINDOW + 0x14), ==, 0);               /* device reset */
    /* Holding the bit, or writing it set again, resets nothing more. */
    qtest_writew(p.s, pcfg(0x3e), 0x0040);
    qtest_writew(p.s, cfg(1, 0, 0x04), 0x0002);
    qtest_writel(p.s, cfg(1, 0, 0x20), (uint32_t)WINDOW);
    qtest_writew(p.s, pcfg(0x3e), 0x0040);
    g_assert_cmphex(qtest_readw(p.s, cfg(1, 0, 0x04)) & 0x7, ==, 0x2);
    stop(&p);
}

/*
 * The seeds' standard-machine sequence, register by register: device_add
 * below the port, the guest powers the slot on; device_del presses the
 * attention button, the guest powers the slot off and DEVICE_DELETED comes.
 */
static void test_hotplug_unplug(void)
{
    Port p;
    JsonNode *ev;

    start(&p, "");
    number_and_open(&p);
    enable_msi(&p);
    qtest_writew(p.s, pcfg(p.exp + SLTCTL), CTL_OFF | CTL_ENABLES);
    g_assert_true(msi_seen(&p));                          /* command completed */
    g_assert_cmphex(ack(&p), ==, ST_CC);
    hotplug_disk(&p);
    g_assert_true(msi_seen(&p));
    g_assert_cmphex(ack(&p), ==, ST_PDS | ST_PDC | ST_DLLSC);
    g_assert_cmphex(qtest_readl(p.s, cfg(1, 0, 0)), ==, 0x10421af4);
    qtest_writew(p.s, pcfg(p.exp + SLTCTL), CTL_ON | CTL_ENABLES);
    g_assert_true(msi_seen(&p));
    g_assert_cmphex(ack(&p), ==, ST_PDS | ST_CC);
    g_assert_false(msi_seen(&p));

    unplug_disk(&p);
    g_assert_true(msi_seen(&p));
    g_assert_cmphex(ack(&p), ==, ST_PDS | ST_ABP);
    g_assert_null(qtest_qmp_event_ref(p.s, "DEVICE_DELETED"));
    qtest_qmp_assert_error(p.s, "GenericError", "Device 'disk0' is already in the process of unplug",
                           DEL_DISK0);
    /* pciehp blinks the power indicator first, then powers off with it off. */
    qtest_writew(p.s, pcfg(p.exp + SLTCTL), 0x0280 | CTL_ENABLES);
    g_assert_cmphex(ack(&p), ==, ST_PDS | ST_CC);
    qtest_qmp_assert_error(p.s, "GenericError", "Device 'disk0' is already in the process of unplug",
                           DEL_DISK0);
    qtest_writew(p.s, pcfg(p.exp + SLTCTL), 0x0480 | CTL_ENABLES);        /* power off, blinking */
    qtest_writew(p.s, pcfg(p.exp + SLTCTL), CTL_OFF | CTL_ENABLES);
    ev = qtest_qmp_eventwait_ref(p.s, "DEVICE_DELETED");
    g_assert_cmpstr(qmp_get_str(json_object_get_object_member(qmp_obj(ev), "data"), "device"),
                    ==, "disk0");
    g_assert_cmpstr(qmp_get_str(json_object_get_object_member(qmp_obj(ev), "data"), "path"),
                    ==, "disk0");
    json_node_unref(ev);
    g_assert_cmphex(ack(&p) & (ST_PDS | ST_PDC | ST_DLLSC), ==, ST_PDC | ST_DLLSC);
    g_assert_cmphex(qtest_readw(p.s, pcfg(p.exp + LNKSTA)) & 0x2000, ==, 0);
    g_assert_cmphex(qtest_readl(p.s, cfg(1, 0, 0)), ==, 0xffffffff);
    qtest_qmp_assert_error(p.s, "GenericError", "Device disk0 not found",
                           DEL_DISK0);
    /* The drive is free again: plug it a second time. */
    hotplug_disk(&p);
    g_assert_cmphex(ack(&p) & ST_PDS, ==, ST_PDS);
    stop(&p);
}

/* Without MSI the hot-plug interrupt is INTA of the port's slot, a level until acked. */
static void test_intx(void)
{
    Port p;

    start(&p, "");
    qtest_irq_intercept_in(p.s, "ioapic");
    number_and_open(&p);
    qtest_writew(p.s, pcfg(p.exp + SLTCTL), CTL_OFF | CTL_ENABLES);
    g_assert_true(qtest_get_irq(p.s, PORT_GSI));          /* command completed */
    ack(&p);
    g_assert_false(qtest_get_irq(p.s, PORT_GSI));
    hotplug_disk(&p);
    g_assert_true(qtest_get_irq(p.s, PORT_GSI));
    /* INTx disable in the command register lowers it. */
    qtest_writew(p.s, pcfg(0x04), 0x0406);
    g_assert_false(qtest_get_irq(p.s, PORT_GSI));
    ack(&p);
    qtest_writew(p.s, pcfg(0x04), 0x0006);
    g_assert_false(qtest_get_irq(p.s, PORT_GSI));
    g_assert_false(msi_seen(&p));
    stop(&p);
}

/*
 * -global pcie-root-port.fast-unplug=1 (StratoVirt's spelling, 0|1): device_del
 * also takes the link down and raises presence and link events, so a guest
 * need not wait out the attention button's grace period. The keyed form works
 * too; a bad global fails at start with QEMU's text.
 */
static void test_fast_unplug(void)
{
    Port p;

    start(&p, "-global pcie-root-port.fast-unplug=1");
    hotplug_disk(&p);
    qtest_writew(p.s, pcfg(p.exp + SLTCTL), CTL_ON);
    ack(&p);
    qtest_qmp_assert_success(p.s, "{'execute': 'device_del', 'arguments': {'id': 'disk0'}}");
    g_assert_cmphex(ack(&p), ==, ST_PDS | ST_ABP | ST_PDC | ST_DLLSC);
    g_assert_cmphex(qtest_readw(p.s, pcfg(p.exp + LNKSTA)) & 0x2000, ==, 0);
    qtest_writew(p.s, pcfg(p.exp + SLTCTL), CTL_OFF);
    qtest_qmp_eventwait(p.s, "DEVICE_DELETED");
    stop(&p);
    start(&p, "-global driver=pcie-root-port,property=fast-unplug,value=on");
    hotplug_disk(&p);
    qtest_qmp_assert_success(p.s, "{'execute': 'device_del', 'arguments': {'id': 'disk0'}}");
    g_assert_cmphex(ack(&p) & ST_PDC, ==, ST_PDC);
    stop(&p);
    qtest_expect_startup_error("-machine q35 -accel qtest -display none "
                               "-global pcie-root-port.nope=1 -device pcie-root-port,id=rp1",
                               "can't apply global pcie-root-port.nope=1: Property "
                               "'pcie-root-port.nope' not found");
    qtest_expect_startup_error("-machine q35 -accel qtest -display none "
                               "-global pcie-root-port.fast-unplug=2 -device pcie-root-port,id=rp1",
                               "can't apply global pcie-root-port.fast-unplug=2: ");
    qtest_expect_startup_error("-machine q35 -accel qtest -display none -global fast-unplug",
                               "-global: invalid value 'fast-unplug' (expected "
                               "DRIVER.PROPERTY=VALUE)");
}

/* A reset completes an unplug the guest never answered; the slot powers up empty. */
static void test_reset_completes_unplug(void)
{
    Port p;

    start(&p, "");
    hotplug_disk(&p);
    unplug_disk(&p);
    qtest_qmp_assert_success(p.s, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(p.s, "DEVICE_DELETED");
    g_assert_cmphex(slot_status(&p) & ST_PDS, ==, 0);
    g_assert_cmphex(qtest_readl(p.s, pcfg(0x18)), ==, 0);                  /* bus numbers */
    stop(&p);
}

/* A slot the guest already powered off gives the device up without asking. */
static void test_unplug_powered_off_slot(void)
{
    Port p;

    start(&p, "");
    hotplug_disk(&p);
    unplug_disk(&p);
    qtest_writew(p.s, pcfg(p.exp + SLTCTL), CTL_OFF);
    qtest_qmp_eventwait(p.s, "DEVICE_DELETED");
    hotplug_disk(&p);                 /* the slot stays off: nothing for the guest to confirm */
    unplug_disk(&p);
    qtest_qmp_eventwait(p.s, "DEVICE_DELETED");
    stop(&p);
}

static void test_placement_errors(void)
{
    Port p;

    start(&p, "-object rng-random,id=r0,filename=/dev/urandom "
             "-device virtio-rng-pci,rng=r0,id=rng0,addr=0x4 -device virtio-net-pci,id=nic0,addr=0x5");
    qtest_qmp_assert_error(p.s, "GenericError", "Bus 'pcie.0' does not support hotplugging",
                           "{'execute': 'device_add', 'arguments': {'id': 'x', "
                           "'driver': 'virtio-blk-pci', 'drive': 'd0', 'bus': 'pcie.0'}}");
    qtest_qmp_assert_error(p.s, "GenericError", "Bus 'pcie.0' does not support hotplugging",
                           "{'execute': 'device_add', 'arguments': {'id': 'x', "
                           "'driver': 'virtio-blk-pci', 'drive': 'd0'}}");
    qtest_qmp_assert_error(p.s, "GenericError", "Failed to add device: Bus not found",
                           "{'execute': 'device_add', 'arguments': {'id': 'x', "
                           "'driver': 'virtio-blk-pci', 'drive': 'd0', 'bus': 'pcie.9'}}");
    qtest_qmp_assert_error(p.s, "GenericError", "HotPlug is not supported for device with devfn 8",
                           "{'execute': 'device_add', 'arguments': {'id': 'x', "
                           "'driver': 'virtio-blk-pci', 'drive': 'd0', 'bus': 'rp1', "
                           "'addr': '0x1'}}");
    hotplug_disk(&p);
    qtest_qmp_assert_error(p.s, "GenericError",
                           "PCI: slot 0 function 0 not available for virtio-net-pci, in use by "
                           "virtio-blk-pci",
                           "{'execute': 'device_add', 'arguments': {'id': 'n', "
                           "'driver': 'virtio-net-pci', 'bus': 'rp1', 'addr': '0x0'}}");
    qtest_qmp_assert_error(p.s, "GenericError", "Bus 'pcie.0' does not support hotplugging",
                           "{'execute': 'device_del', 'arguments': {'id': 'nic0'}}");
    qtest_qmp_assert_error(p.s, "GenericError", "Device 'rng0' does not support hotplugging",
                           "{'execute': 'device_del', 'arguments': {'id': 'rng0'}}");
    stop(&p);
    qtest_expect_startup_error("-machine q35 -accel qtest -display none -device pcie-root-port,bus=pcie.0,addr=0x2",
                               "'id' is required");
    qtest_expect_startup_error("-machine q35 -accel qtest -display none -device pcie-root-port,id=rp1,addr=0x2 "
                               "-object rng-random,id=r0,filename=/dev/urandom "
                               "-device virtio-rng-pci,rng=r0,bus=rp1,addr=0x2",
                               "PCI: slot 2 is not valid for virtio-rng-pci, parent device only "
                               "allows plugging into slot 0.");
    qtest_expect_startup_error("-machine q35 -accel qtest -display none -object rng-random,id=r0,filename=/dev/urandom "
                               "-device virtio-rng-pci,rng=r0,bus=rp1",
                               "Bus 'rp1' not found");
    /* A port below a port would be freed with the outer slot while it still held devices. */
    qtest_expect_startup_error("-machine q35 -accel qtest -display none -device pcie-root-port,id=rp1,addr=0x2 "
                               "-device pcie-root-port,id=rp2,bus=rp1,addr=0x0",
                               "pcie-root-port: bus 'rp1' is a root port's; root ports go on pcie.0");
}

/*
 * Every register of an empty port written with all ones, then zeros:
 * nothing breaks; two ports claiming one bus number: the first in slot
 * order answers, and nothing loops.
 */
static void test_hostile_config(void)
{
    Port p;

    start(&p, "-device pcie-root-port,id=rp2,addr=0x3 "
              "-device virtio-blk-pci,drive=d0,id=disk0,bus=rp2,addr=0x0");
    for (unsigned reg = 0; reg < 0x1000; reg += 4) {
        qtest_writel(p.s, pcfg(reg), 0xffffffff);
    }
    for (unsigned reg = 0; reg < 0x1000; reg += 4) {
        qtest_writel(p.s, pcfg(reg), 0);
    }
    g_assert_cmphex(qtest_readl(p.s, pcfg(0)), ==, 0x000c1b36);
    g_assert_null(qtest_qmp_event_ref(p.s, "DEVICE_DELETED"));     /* it was empty */
    qtest_writel(p.s, pcfg(0x18), 0x030300);
    qtest_writel(p.s, cfg(0, 3, 0x18), 0x030300);
    g_assert_cmphex(qtest_readl(p.s, cfg(3, 0, 0)), ==, 0xffffffff);
    qtest_writel(p.s, pcfg(0x18), 0x000000);
    g_assert_cmphex(qtest_readl(p.s, cfg(3, 0, 0)), ==, 0x10421af4);
    /* A bridge numbered 0 hides nothing of bus 0. */
    qtest_writel(p.s, cfg(0, 3, 0x18), 0x000000);
    g_assert_cmphex(qtest_readl(p.s, cfg(0, 3, 0)), ==, 0x000c1b36);
    qtest_qmp_assert_success(p.s, "{'execute': 'query-pci'}");
    stop(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pcie-root-port/identity", test_identity);
    g_test_add_func("/pcie-root-port/cold-plug-and-windows", test_cold_plug_and_windows);
    g_test_add_func("/pcie-root-port/hotplug-unplug", test_hotplug_unplug);
    g_test_add_func("/pcie-root-port/secondary-bus-reset", test_secondary_bus_reset);
    g_test_add_func("/pcie-root-port/intx", test_intx);
    g_test_add_func("/pcie-root-port/fast-unplug", test_fast_unplug);
    g_test_add_func("/pcie-root-port/reset-completes-unplug", test_reset_completes_unplug);
    g_test_add_func("/pcie-root-port/unplug-powered-off-slot", test_unplug_powered_off_slot);
    g_test_add_func("/pcie-root-port/placement-errors", test_placement_errors);
    g_test_add_func("/pcie-root-port/hostile-config", test_hostile_config);
    return g_test_run();
}
