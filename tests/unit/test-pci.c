/*
 * PCI configuration space (src/hw/pci/pci.c): read-only IDs, writable and
 * write-1-to-clear bits, the BAR sizing protocol, BAR decode following the
 * command register, capability chains, CF8 and ECAM addressing; the host
 * bridge's port pair and ECAM window on the machine's buses (pci-host.c).
 */
#include <glib.h>

#include "hw/pci/pci.h"
#include "hw/pci/pci-host.h"

typedef struct MapLog {
    int n;
    uint64_t old, now;
    unsigned calls;
} MapLog;

static void log_map(PciDevice *d, int n, uint64_t old, uint64_t now)
{
    MapLog *l = d->opaque;

    l->n = n;
    l->old = old;
    l->now = now;
    l->calls++;
}

static void make(PciDevice *d, MapLog *l, bool pcie)
{
    pci_device_init(d, 0x1af4, 0x1041, 0x020000, 1, pcie);
    d->bar_map = log_map;
    d->opaque = l;
}

static void test_header(void)
{
    PciDevice d;
    MapLog l = { 0 };

    make(&d, &l, false);
    g_assert_cmphex(pci_config_read(&d, PCI_VENDOR_ID, 4), ==, 0x10411af4);
    g_assert_cmphex(pci_config_read(&d, PCI_REVISION_ID, 4), ==, 0x02000001);
    pci_config_write(&d, PCI_VENDOR_ID, 0xffffffff, 4);          /* read-only */
    g_assert_cmphex(pci_config_read(&d, PCI_VENDOR_ID, 2), ==, 0x1af4);
    pci_config_write(&d, PCI_COMMAND, 0xffff, 2);
    g_assert_cmphex(pci_config_read(&d, PCI_COMMAND, 2), ==, 0x0507);
    pci_config_write(&d, PCI_INTERRUPT_LINE, 0x0b, 1);
    g_assert_cmphex(pci_config_read(&d, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
    /* Misaligned, odd-sized and out-of-space accesses read 0 and write nothing. */
    g_assert_cmphex(pci_config_read(&d, 1, 2), ==, 0);
    g_assert_cmphex(pci_config_read(&d, 0, 3), ==, 0);
    g_assert_cmphex(pci_config_read(&d, 0x100, 4), ==, 0);
    pci_config_write(&d, 0x3d, 0x55, 2);
    g_assert_cmphex(pci_config_read(&d, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
}

static void test_status_w1c(void)
{
    PciDevice d;
    MapLog l = { 0 };

    make(&d, &l, false);
    pci_set_word(&d, PCI_STATUS, 0x8000 | 0x2000 | PCI_STATUS_INTERRUPT);
    pci_config_write(&d, PCI_STATUS, 0x2000 | PCI_STATUS_INTERRUPT, 2);
    /* The error bit written as 1 clears; the interrupt bit is read-only. */
    g_assert_cmphex(pci_config_read(&d, PCI_STATUS, 2), ==, 0x8000 | PCI_STATUS_INTERRUPT);
}

static void test_bar_sizing_and_decode(void)
{
    PciDevice d;
    MapLog l = { 0 };

    make(&d, &l, false);
    pci_register_bar(&d, 0, 0x1000, 0);
    pci_register_bar(&d, 1, 0x20, PCI_BAR_IO);
    pci_register_bar(&d, 2, 0x4000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH);
    /* Sizing: all ones reads back the size mask with the type bits. */
    pci_config_write(&d, 0x10, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(&d, 0x10, 4), ==, 0xfffff000);
    pci_config_write(&d, 0x14, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(&d, 0x14, 4), ==, 0xffffffe1);
    pci_config_write(&d, 0x18, 0xffffffff, 4);
    pci_config_write(&d, 0x1c, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(&d, 0x18, 4), ==, 0xffffc00c);
    g_assert_cmphex(pci_config_read(&d, 0x1c, 4), ==, 0xffffffff);
    g_assert_cmpuint(l.calls, ==, 0);              /* decode is off */
    /* Enabling memory with a sizing pattern still decodes nothing. */
    pci_config_write(&d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    g_assert_cmpuint(l.calls, ==, 0);
    pci_config_write(&d, 0x10, 0xfebf1000, 4);
    g_assert_cmpuint(l.calls, ==, 1);
    g_assert_cmpint(l.n, ==, 0);
    g_assert_cmphex(l.old, ==, PCI_BAR_UNMAPPED);
    g_assert_cmphex(l.now, ==, 0xfebf1000);
    pci_config_write(&d, 0x18, 0x0, 4);
    pci_config_write(&d, 0x1c, 0x80, 4);
    g_assert_cmpint(l.n, ==, 2);
    g_assert_cmphex(l.now, ==, 0x8000000000ULL);
    g_assert_cmphex(d.bars[2].mapped, ==, 0x8000000000ULL);
    /* I/O needs the I/O enable. */
    pci_config_write(&d, 0x14, 0xc040, 4);
    g_assert_cmphex(d.bars[1].mapped, ==, PCI_BAR_UNMAPPED);
    pci_config_write(&d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
    g_assert_cmphex(d.bars[1].mapped, ==, 0xc040);
    /* Disabling memory unmaps both memory BARs, each reported once. */
    l.calls = 0;
    pci_config_write(&d, PCI_COMMAND, PCI_COMMAND_IO, 2);
    g_assert_cmpuint(l.calls, ==, 2);
    g_assert_cmphex(d.bars[0].mapped, ==, PCI_BAR_UNMAPPED);
    g_assert_cmphex(d.bars[1].mapped, ==, 0xc040);
    /* A 32-bit BAR whose region would reach the last byte below 4 GiB decodes nothing. */
    pci_config_write(&d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    pci_config_write(&d, 0x10, 0xfffff000, 4);
    g_assert_cmphex(d.bars[0].mapped, ==, PCI_BAR_UNMAPPED);
}

static void test_capabilities(void)
{
    PciDevice d;
    MapLog l = { 0 };
    uint8_t a, b;
    uint16_t x, y;

    make(&d, &l, true);
    a = pci_add_capability(&d, 0x11, 12);        /* MSI-X */
    b = pci_add_capability(&d, 0x09, 17);        /* vendor-specific, odd length */
    g_assert_cmphex(a, ==, 0x40);
    g_assert_cmphex(b, ==, 0x4c);
    g_assert_cmphex(pci_config_read(&d, PCI_CAPABILITY_LIST, 1), ==, 0x40);
    g_assert_true(pci_config_read(&d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    g_assert_cmphex(pci_config_read(&d, a, 2), ==, 0x4c11);
    g_assert_cmphex(pci_config_read(&d, b, 2), ==, 0x0009);
    g_assert_cmphex(pci_add_capability(&d, 0x10, 0xa0), ==, 0x60);
    g_assert_cmphex(pci_add_capability(&d, 0x05, 0x40), ==, 0);   /* no room */
    /* The body is read-only until opened. */
    pci_config_write(&d, a + 2, 0xffff, 2);
    g_assert_cmphex(pci_config_read(&d, a + 2, 2), ==, 0);
    pci_set_wmask(&d, a + 2, 0xc000, 2);
    pci_config_write(&d, a + 2, 0xffff, 2);
    g_assert_cmphex(pci_config_read(&d, a + 2, 2), ==, 0xc000);
    /* Extended capabilities chain from 0x100. */
    x = pci_add_ext_capability(&d, 0x0001, 2, 0x48);   /* AER */
    y = pci_add_ext_capability(&d, 0x000b, 1, 0x14);
    g_assert_cmphex(x, ==, 0x100);
    g_assert_cmphex(y, ==, 0x148);
    g_assert_cmphex(pci_config_read(&d, 0x100, 4), ==, 0x14820001);
    g_assert_cmphex(pci_config_read(&d, 0x148, 4), ==, 0x0001000b);
    make(&d, &l, false);
    g_assert_cmphex(pci_add_ext_capability(&d, 1, 1, 8), ==, 0);
}

static void test_addressing(void)
{
    uint8_t bus, devfn;
    uint16_t reg;

    g_assert_false(pci_cf8_decode(0x00001000, 0, &bus, &devfn, &reg));
    g_assert_true(pci_cf8_decode(0x80011a3c, 2, &bus, &devfn, &reg));
    g_assert_cmpuint(bus, ==, 1);
    g_assert_cmphex(devfn, ==, PCI_DEVFN(3, 2));
    g_assert_cmphex(reg, ==, 0x3e);
    pci_ecam_decode(0x0231c104, &bus, &devfn, &reg);
    g_assert_cmpuint(bus, ==, 0x23);
    g_assert_cmphex(devfn, ==, 0x1c);
    g_assert_cmphex(reg, ==, 0x104);
}

#define ECAM 0xb0000000ULL

static uint32_t pio_rd(IoBus *b, uint64_t a, unsigned n)
{
    uint32_t v = 0;

    iobus_read(b, a, &v, n);
    return v;
}

static void pio_wr(IoBus *b, uint64_t a, uint32_t v, unsigned n)
{
    iobus_write(b, a, &v, n);
}

static void test_host_bridge(void)
{
    g_autoptr(GError) err = NULL;
    IoBus pio, mmio;
    PciHost h;
    PciDevice bridge, port, nic;
    PciBus sec = { 0 };
    MapLog l = { 0 };

    iobus_init(&pio, "pio", IOBUS_PORTS);
    iobus_init(&mmio, "mmio", IOBUS_MEMORY);
    pci_host_init(&h);
    g_assert_true(pci_host_map(&h, &pio, &mmio, ECAM, 256ULL << 20, &err));
    pci_device_init(&bridge, 0x8086, 0x29c0, 0x060000, 0, true);
    make(&nic, &l, true);
    pci_register_bar(&nic, 0, 0x4000, 0);
    g_assert_true(pci_host_plug(&h, 0, PCI_DEVFN(0, 0), &bridge));
    /* Bus 1 exists once the bridge at 00:02.0 is numbered (here directly). */
    pci_bridge_init(&port, &sec, 0x1b36, 0x000c, true);
    g_assert_true(pci_host_plug(&h, 0, PCI_DEVFN(2, 0), &port));
    g_assert_false(pci_host_plug(&h, 1, PCI_DEVFN(0, 0), &nic));       /* no bus 1 yet */
    pci_config_write(&port, PCI_PRIMARY_BUS, 0x010100, 4);
    g_assert_true(pci_host_plug(&h, 1, PCI_DEVFN(0, 0), &nic));
    g_assert_false(pci_host_plug(&h, 1, PCI_DEVFN(0, 0), &bridge));     /* taken */
    /* The window the nic's BAR below needs, memory decoding on. */
    pci_config_write(&port, PCI_MEMORY_BASE, 0xc000c000, 4);
    pci_config_write(&port, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    /* CF8/CFC: dword address, then any-width data at CFC + (reg & 3). */
    pio_wr(&pio, 0xcf8, 0x80000000, 4);
    g_assert_cmphex(pio_rd(&pio, 0xcfc, 4), ==, 0x29c08086);
    g_assert_cmphex(pio_rd(&pio, 0xcfe, 2), ==, 0x29c0);
    g_assert_cmphex(pio_rd(&pio, 0xcf8, 4), ==, 0x80000000);
    pio_wr(&pio, 0xcf8, 0x80010008, 4);                       /* 01:00.0 reg 8 */
    g_assert_cmphex(pio_rd(&pio, 0xcfc + 3, 1), ==, 0x02);     /* class 0x02 */
    /* Empty slot: all ones, writes dropped; disabled address: all ones. */
    pio_wr(&pio, 0xcf8, 0x80000800, 4);                       /* 00:01.0 */
    g_assert_cmphex(pio_rd(&pio, 0xcfc, 4), ==, 0xffffffff);
    g_assert_cmphex(pio_rd(&pio, 0xcfc, 2), ==, 0xffff);
    pio_wr(&pio, 0xcf8, 0x00000000, 4);
    g_assert_cmphex(pio_rd(&pio, 0xcfc, 4), ==, 0xffffffff);
    /* A byte write to 0xCF8 does not change the address. */
    pio_wr(&pio, 0xcf8, 0x80000000, 4);
    pio_wr(&pio, 0xcf8, 0x12, 1);
    g_assert_cmphex(pio_rd(&pio, 0xcf8, 4), ==, 0x80000000);
    /* ECAM reaches the same functions, extended space included. */
    g_assert_cmphex(pio_rd(&mmio, ECAM + (1 << 20), 4), ==, 0x10411af4);
    g_assert_cmphex(pio_rd(&mmio, ECAM + (2 << 20), 4), ==, 0xffffffff);
    g_assert_cmphex(pci_add_ext_capability(&nic, 0x000b, 1, 0x10), ==, 0x100);
    g_assert_cmphex(pio_rd(&mmio, ECAM + (1 << 20) + 0x100, 4), ==, 0x0001000b);
    /* A BAR programmed through ECAM moves the device's region (the hook). */
    pio_wr(&mmio, ECAM + (1 << 20) + 0x10, 0xc0000000, 4);
    pio_wr(&mmio, ECAM + (1 << 20) + PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    g_assert_cmpuint(l.calls, ==, 1);
    g_assert_cmphex(l.now, ==, 0xc0000000);
    pci_host_unplug(&h, 1, PCI_DEVFN(0, 0));
    g_assert_cmphex(pio_rd(&mmio, ECAM + (1 << 20), 4), ==, 0xffffffff);
    pci_host_unmap(&h, &pio, &mmio);
    g_assert_false(iobus_read(&pio, 0xcfc, &(uint32_t){ 0 }, 4));
    pci_host_cleanup(&h);
    iobus_destroy(&pio);
    iobus_destroy(&mmio);
}

/*
 * A function behind bridges decodes only inside every bridge's windows with
 * the bridge's enables on; moving a window or an enable re-decodes it.
 */
static void test_bridge_windows(void)
{
    PciDevice top, port, nic;
    PciBus root = { 0 }, mid = { 0 }, sec = { 0 };
    MapLog l = { 0 };

    pci_bridge_init(&top, &mid, 0x1b36, 0x0001, false);
    pci_bridge_init(&port, &sec, 0x1b36, 0x000c, true);
    g_assert_cmphex(pci_config_read(&port, PCI_REVISION_ID, 4), ==, 0x06040000);
    g_assert_cmphex(pci_config_read(&port, PCI_HEADER_TYPE, 1), ==, PCI_HEADER_TYPE_BRIDGE);
    g_assert_cmphex(pci_config_read(&port, PCI_PREF_MEMORY_BASE, 4), ==, 0x00010001);
    make(&nic, &l, true);
    pci_register_bar(&nic, 0, 0x4000, 0);
    pci_register_bar(&nic, 2, 0x4000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH);
    g_assert_true(pci_bus_plug(&root, PCI_DEVFN(1, 0), &top));
    g_assert_true(pci_bus_plug(&mid, PCI_DEVFN(0, 0), &port));
    g_assert_true(pci_bus_plug(&sec, PCI_DEVFN(0, 0), &nic));
    /* Numbering: 1 below top (subordinate 2), 2 below port. */
    g_assert_null(pci_bus_find(&root, 1, 0));
    pci_config_write(&top, PCI_PRIMARY_BUS, 0x020100, 4);
    pci_config_write(&port, PCI_PRIMARY_BUS, 0x020201, 4);
    g_assert_true(pci_bus_find(&root, 1, 0) == &mid);
    g_assert_true(pci_bus_find(&root, 2, 0) == &sec);
    g_assert_null(pci_bus_find(&root, 3, 0));
    g_assert_cmpuint(pci_bus_number(&sec), ==, 2);
    /* BAR 0 programmed and enabled on the nic: nothing until both bridges forward. */
    pci_config_write(&nic, PCI_BASE_ADDRESS_0, 0xc0100000, 4);
    pci_config_write(&nic, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    g_assert_cmphex(nic.bars[0].mapped, ==, PCI_BAR_UNMAPPED);
    pci_config_write(&top, PCI_MEMORY_BASE, 0xc0f0c000, 4);       /* [0xc0000000, 0xc0ffffff] */
    pci_config_write(&top, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    g_assert_cmphex(nic.bars[0].mapped, ==, PCI_BAR_UNMAPPED);    /* port still closed */
    pci_config_write(&port, PCI_MEMORY_BASE, 0xc010c010, 4);      /* [0xc0100000, 0xc01fffff] */
    pci_config_write(&port, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    g_assert_cmphex(nic.bars[0].mapped, ==, 0xc0100000);
    g_assert_cmphex(l.now, ==, 0xc0100000);
    /* The window moves away, then the upstream bridge stops decoding memory. */
    pci_config_write(&port, PCI_MEMORY_BASE, 0xc020c020, 4);
    g_assert_cmphex(nic.bars[0].mapped, ==, PCI_BAR_UNMAPPED);
    pci_config_write(&port, PCI_MEMORY_BASE, 0xc010c010, 4);
    g_assert_cmphex(nic.bars[0].mapped, ==, 0xc0100000);
    pci_config_write(&top, PCI_COMMAND, 0, 2);
    g_assert_cmphex(nic.bars[0].mapped, ==, PCI_BAR_UNMAPPED);
    pci_config_write(&top, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    /* A 64-bit BAR above 4 GiB through the prefetchable windows. */
    pci_config_write(&nic, PCI_BASE_ADDRESS_0 + 8, 0x0000000c, 4);
    pci_config_write(&nic, PCI_BASE_ADDRESS_0 + 12, 0x80, 4);       /* 512 GiB */
    g_assert_cmphex(nic.bars[2].mapped, ==, PCI_BAR_UNMAPPED);
    for (PciDevice *b = &top; b; b = b == &top ? &port : NULL) {
        pci_config_write(b, PCI_PREF_MEMORY_BASE, 0x00010001, 4);  /* [0, 1 MiB) of the 4 GiB block */
        pci_config_write(b, PCI_PREF_BASE_UPPER32, 0x80, 4);
        pci_config_write(b, PCI_PREF_LIMIT_UPPER32, 0x80, 4);
    }
    g_assert_cmphex(nic.bars[2].mapped, ==, 0x8000000000ULL);
    pci_bus_unplug(&sec, PCI_DEVFN(0, 0));
    g_assert_null(nic.bus);
    g_assert_null(sec.fn[0]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pci/header", test_header);
    g_test_add_func("/pci/status-w1c", test_status_w1c);
    g_test_add_func("/pci/bar-sizing-and-decode", test_bar_sizing_and_decode);
    g_test_add_func("/pci/capabilities", test_capabilities);
    g_test_add_func("/pci/addressing", test_addressing);
    g_test_add_func("/pci/host-bridge", test_host_bridge);
    g_test_add_func("/pci/bridge-windows", test_bridge_windows);
    return g_test_run();
}
