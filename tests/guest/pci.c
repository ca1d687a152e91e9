/*
 * PCI configuration space from CPL3 (docs/guest-shell.md "pci"): through
 * the ECAM window ACPI's MCFG names (as an OS finds it), else the legacy
 * port pair 0xCF8/0xCFC; either can be forced. The
 * guest keeps IOPL 3, so port I/O works without the kernel; ECAM is plain
 * MMIO below 4 GiB, already in the boot page tables.
 *
 * Buses: 0, then the secondary bus of every bridge whose secondary-bus
 * register the firmware or a later `pci` step has set. Functions 1..7 of a
 * slot are probed only when function 0 says multi-function.
 */
#include "guest.h"

#define PCI_CONF_ADDR  0xcf8
#define PCI_CONF_DATA  0xcfc

static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static u64 ecam_base;            /* 0: use the port pair */

/* Segment 0's ECAM base from MCFG (its first allocation, at offset 44), or 0. */
static u64 mcfg_ecam(void)
{
	u64 t = acpi_find_table("MCFG");
	u32 len = t ? *(const u32 *)phys(t + 4) : 0;

	if (len < 44 + 16 || *(const u16 *)phys(t + 52) != 0)
		return 0;
	return *(const u64 *)phys(t + 44);
}

u32 pci_conf_read32(u32 bus, u32 devfn, u32 reg)
{
	if (ecam_base)
		return mmio_read32(ecam_base + ((u64)bus << 20 | devfn << 12 | (reg & 0xffc)));
	outl(PCI_CONF_ADDR, 0x80000000u | bus << 16 | devfn << 8 | (reg & 0xfc));
	return inl(PCI_CONF_DATA);
}

void pci_conf_write32(u32 bus, u32 devfn, u32 reg, u32 v)
{
	if (ecam_base) {
		mmio_write32(ecam_base + ((u64)bus << 20 | devfn << 12 | (reg & 0xffc)), v);
		return;
	}
	outl(PCI_CONF_ADDR, 0x80000000u | bus << 16 | devfn << 8 | (reg & 0xfc));
	outl(PCI_CONF_DATA, v);
}

/*
 * A 16-bit write, for registers that share a dword with one whose write
 * has side effects (a root port's slot status next to its slot control).
 */
void pci_conf_write16(u32 bus, u32 devfn, u32 reg, u16 v)
{
	if (ecam_base) {
		*(volatile u16 *)phys(ecam_base + ((u64)bus << 20 | devfn << 12 | (reg & 0xffe))) = v;
		return;
	}
	outl(PCI_CONF_ADDR, 0x80000000u | bus << 16 | devfn << 8 | (reg & 0xfc));
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"((u16)(PCI_CONF_DATA + (reg & 2))));
}

#define conf_read32 pci_conf_read32
#define conf_write32 pci_conf_write32

/* Bounded (48 entries fill the 256-byte space): a looping list must not hang the shell. */
u32 pci_find_cap(u32 bus, u32 devfn, u8 id)
{
	for (u32 c = conf_read32(bus, devfn, 0x34) & 0xfc, n = 0; c && n < 48;
	     c = (conf_read32(bus, devfn, c) >> 8) & 0xfc, n++)
		if ((conf_read32(bus, devfn, c) & 0xff) == id)
			return c;
	return 0;
}

static void list_function(u32 bus, u32 devfn, u32 id, u32 *buses, u32 *nbus)
{
	u32 cls = conf_read32(bus, devfn, 0x08) >> 8;
	u32 hdr = (conf_read32(bus, devfn, 0x0c) >> 16) & 0x7f;
	u32 pin = (conf_read32(bus, devfn, 0x3c) >> 8) & 0xff;

	kprintf("pci bdf=%02x:%02x.%x id=%04x:%04x class=%06x header=%u pin=%u\r\n",
		bus, devfn >> 3, devfn & 7, id & 0xffff, id >> 16, cls, hdr, pin);
	if (hdr == 1) {
		u32 sec = (conf_read32(bus, devfn, 0x18) >> 8) & 0xff;
		for (u32 i = 0; i < *nbus; i++)
			if (buses[i] == sec)
				return;     /* a loop the guest's numbering made */
		if (sec && *nbus < 256)
			buses[(*nbus)++] = sec;
	}
}

static u32 scan_bus(u32 bus, u32 *buses, u32 *nbus)
{
	u32 count = 0;

	for (u32 slot = 0; slot < 32; slot++) {
		u32 fns = 1;
		for (u32 fn = 0; fn < fns; fn++) {
			u32 devfn = slot << 3 | fn;
			u32 id = conf_read32(bus, devfn, 0);
			if ((id & 0xffff) == 0xffff)
				continue;
			if (fn == 0 && (conf_read32(bus, devfn, 0x0c) >> 16) & 0x80)
				fns = 8;
			list_function(bus, devfn, id, buses, nbus);
			count++;
		}
	}
	return count;
}

static void pci_msix(char *args);

void pci_command(char *args)
{
	static u32 buses[256];
	u32 nbus = 1, count = 0;
	char *w;

	const char *via = "cf8";

	ecam_base = mcfg_ecam();
	if (ecam_base)
		via = "mcfg";
	if (!strncmp(arg_skip(args), "msix ", 5)) {
		pci_msix(arg_skip(args) + 5);
		return;
	}
	if (!strncmp(arg_skip(args), "slots", 6)) {
		pcie_hp_slots();
		return;
	}
	while (*(w = arg_word(&args))) {
		const char *end;
		if (!strncmp(w, "ecam=", 5) && parse_u64(w + 5, &end, &ecam_base) && !*end &&
		    ecam_base && ecam_base < 4 * GIB - (1 << 20)) {
			via = "ecam";
			continue;
		}
		if (!strncmp(w, "cf8", 4)) {
			ecam_base = 0;
			via = "cf8";
			continue;
		}
		kprintf("status=error msg=usage: pci [cf8|ecam=ADDR]\r\n");
		return;
	}
	buses[0] = 0;
	for (u32 i = 0; i < nbus && i < 256; i++)
		count += scan_bus(buses[i], buses, &nbus);
	kprintf("pci functions=%u via=%s ecam=0x%lx\r\n", count, via, ecam_base);
	kprintf("status=ok\r\n");
}

/* ---- virtio-pci discovery (virtio 1.2 §4.1.4) ---- */

#define VIRTIO_PCI_VENDOR 0x1af4
#define BAR_WINDOW_START  0xC0000000ULL   /* q35's 32-bit window, mapped UC at CPL3 */
#define BAR_WINDOW_END    0xE0000000ULL   /* above: the root ports' windows (pcie_hp.c) */

/*
 * Sizes memory BAR n of bus:devfn and places it at the next aligned
 * address below `end`; 0 if none.
 */
static u64 place_bar(u32 bus, u32 devfn, unsigned n, u64 *next, u64 end)
{
	u32 reg = 0x10 + 4 * n, lo = conf_read32(bus, devfn, reg);
	int is64 = (lo & 6) == 4;
	u64 size, addr;

	if (lo & 1)
		return 0;                         /* I/O BAR: not used by virtio 1.x */
	conf_write32(bus, devfn, reg, 0xffffffff);
	size = ~(u64)(conf_read32(bus, devfn, reg) & ~0xfu) + 1;
	size &= 0xffffffffULL;
	if (!size || size > (1u << 30))
		return 0;
	addr = (*next + size - 1) & ~(size - 1);
	if (addr + size > end)
		return 0;
	conf_write32(bus, devfn, reg, (u32)addr | (lo & 0xf));
	if (is64)
		conf_write32(bus, devfn, reg + 4, 0);
	*next = addr + size;
	return addr;
}

static void read_virtio_caps(u32 bus, u32 devfn, const u64 bar[6], struct virtio_mmio_dev *e)
{
	for (u32 c = conf_read32(bus, devfn, 0x34) & 0xfc, n = 0; c && n < 48;
	     c = (conf_read32(bus, devfn, c) >> 8) & 0xfc, n++) {
		u32 hdr = conf_read32(bus, devfn, c);
		u32 barno = conf_read32(bus, devfn, c + 4) & 0xff;
		u64 at = barno < 6 && bar[barno] ? bar[barno] + conf_read32(bus, devfn, c + 8) : 0;

		if ((hdr & 0xff) != 0x09 || !at)
			continue;
		switch ((hdr >> 24) & 0xff) {
		case 1: e->common = at; break;
		case 2: e->notify = at; e->notify_mult = conf_read32(bus, devfn, c + 16); break;
		case 3: e->isr = at; break;
		case 4: e->devcfg = at; break;
		}
	}
}

int pci_add_virtio(u32 bus, u32 devfn, u64 *next, u64 end, u32 irq, int reuse)
{
	u32 id = conf_read32(bus, devfn, 0);
	struct virtio_mmio_dev e = { 0 };
	u64 bar[6] = { 0 };

	if ((id & 0xffff) != VIRTIO_PCI_VENDOR || (id >> 16) < 0x1040 || (id >> 16) > 0x107f)
		return -1;
	if (reuse < 0 && bi.nr_virtio >= MAX_VIRTIO_MMIO)
		return -1;
	for (unsigned n = 0; n < 6; n++) {
		bar[n] = place_bar(bus, devfn, n, next, end);
		if (bar[n] && (conf_read32(bus, devfn, 0x10 + 4 * n) & 6) == 4)
			n++;                  /* the upper half of a 64-bit BAR */
	}
	conf_write32(bus, devfn, 0x04, 0x0006);   /* memory decoding, bus master */
	read_virtio_caps(bus, devfn, bar, &e);
	if (!e.common || !e.notify || !e.isr || !e.devcfg)
		return -1;
	e.pci_bdf = (bus << 8 | devfn) + 1;
	e.pci_device_id = (id >> 16) - 0x1040;
	e.irq = irq;
	if (reuse >= 0) {
		e.plugs = bi.virtio[reuse].plugs + 1;   /* drivers see a new function there */
		bi.virtio[reuse] = e;
		return reuse;
	}
	bi.virtio[bi.nr_virtio] = e;
	return (int)bi.nr_virtio++;
}

void virtio_pci_discover(void)
{
	u64 next = BAR_WINDOW_START;

	ecam_base = mcfg_ecam();
	for (u32 devfn = 0; devfn < 256; devfn += 8) {
		/* INTA of bus 0, routed as the DSDT's _PRT says (q35: GSI 16 + slot mod 4). */
		pci_add_virtio(0, devfn, &next, BAR_WINDOW_END, 16 + (devfn >> 3) % 4, -1);
	}
	pcie_hp_init();
}

/*
 * `pci msix <slot> <vector>`: MSI-X vector table entry 0 of the virtio-pci
 * function in <slot> becomes a fixed, edge message of <vector> to APIC 0,
 * queue 0 is pointed at it, and MSI-X is enabled. The driver must have set
 * the device up first (a reset clears the queue's vector).
 */
static void pci_msix(char *args)
{
	u64 slot, vector, table;
	u32 devfn, cap, bir, ctrl;
	const struct virtio_mmio_dev *e = 0;

	if (!arg_u64(&args, &slot) || !arg_u64(&args, &vector) || !arg_end(args) || slot > 31 ||
	    vector < 0x20 || vector > 0xfe) {
		kprintf("status=error msg=usage: pci msix <slot> <vector 0x20-0xfe>\r\n");
		return;
	}
	devfn = (u32)slot << 3;
	for (u32 i = 0; i < bi.nr_virtio; i++)
		if (bi.virtio[i].pci_bdf == devfn + 1)
			e = &bi.virtio[i];
	if (!e) {
		kprintf("status=error msg=no-virtio-pci\r\n");
		return;
	}
	cap = pci_find_cap(0, devfn, 0x11);
	if (!cap) {
		kprintf("status=error msg=no-msix\r\n");
		return;
	}
	bir = conf_read32(0, devfn, cap + 4);
	table = conf_read32(0, devfn, 0x10 + 4 * (bir & 7)) & ~0xfULL;
	if ((conf_read32(0, devfn, 0x10 + 4 * (bir & 7)) & 6) == 4)
		table |= (u64)conf_read32(0, devfn, 0x14 + 4 * (bir & 7)) << 32;
	table += bir & ~7u;
	mmio_write32(table + 0, 0xfee00000u);            /* destination APIC 0, physical */
	mmio_write32(table + 4, 0);
	mmio_write32(table + 8, (u32)vector);            /* fixed delivery, edge */
	mmio_write32(table + 12, 0);                     /* unmasked */
	*(volatile u16 *)phys(e->common + 0x16) = 0;     /* queue_select */
	*(volatile u16 *)phys(e->common + 0x1a) = 0;     /* queue_msix_vector */
	if (*(volatile u16 *)phys(e->common + 0x1a) != 0) {
		kprintf("status=error msg=no-vector\r\n");
		return;
	}
	ctrl = conf_read32(0, devfn, cap);
	conf_write32(0, devfn, cap, ctrl | 0x80000000u);  /* MSI-X enable */
	kprintf("msix slot=%lu vector=0x%lx table=0x%lx entries=%u\r\n", slot, vector, table,
		((ctrl >> 16) & 0x7ff) + 1);
	kprintf("status=ok\r\n");
}

