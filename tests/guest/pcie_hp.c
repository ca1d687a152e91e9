/*
 * PCI Express native hot-plug from CPL3 (docs/guest-shell.md "Hot-plug"),
 * what an OS's pciehp does, polled instead of interrupt-driven (the guest
 * keeps interrupts off on some hosts):
 *   - at boot every root port on bus 0 (a bridge whose PCIe capability
 *     says root port with a slot) gets the next bus number and a 2 MiB
 *     memory window above the bus-0 BARs; an occupied slot is powered on
 *     and its virtio function added as bus 0's are;
 *   - from the shell's idle loop (every 5 ms), each slot's status: presence
 *     detect changed with a device present powers the slot on and adds the
 *     device (BARs inside the window); the attention button powers an
 *     occupied slot off at once (pciehp waits 5 s for a cancel first), with
 *     the power indicator off, which is when the VMM lets the device go.
 * Status bits are acknowledged with 16-bit writes: a dword write would also
 * write slot control, which is a hot-plug command of its own.
 */
#include "guest.h"

#define PORT_WINDOW_START 0xE0000000ULL
#define PORT_WINDOW_SIZE  (2ULL << 20)
#define MAX_PORTS         16
#define POLL_US           5000

#define SLTCTL  0x18                 /* offsets in the PCI Express capability */
#define SLTSTA  0x1a
#define ST_ABP  0x0001
#define ST_PDC  0x0008
#define ST_PDS  0x0040
#define ST_ACK  0x011f               /* every event bit (write 1 to clear) */
#define CTL_ON  0x01c0               /* power on, power indicator on, attention indicator off */
#define CTL_OFF 0x07c0               /* power off, power indicator off */

struct rport {
	u32 devfn, exp, sec;
	u64 window;
	int vidx;                    /* its device's bi.virtio index once added, else -1 */
	int powered;
	u32 plugs, unplugs;
};

static struct rport ports[MAX_PORTS];
static u32 nports;
static u64 next_poll;

static u16 slot_status(const struct rport *p)
{
	return (u16)(pci_conf_read32(0, p->devfn, p->exp + SLTCTL) >> 16);
}

static void slot_control(struct rport *p, u16 ctl)
{
	pci_conf_write16(0, p->devfn, p->exp + SLTCTL, ctl);
	p->powered = !(ctl & 0x0400);
}

/* Behind a root port INTA swizzles to the port's own slot: GSI 16 + slot mod 4. */
static void add_child(struct rport *p)
{
	u64 next = p->window;
	int i = pci_add_virtio(p->sec, 0, &next, p->window + PORT_WINDOW_SIZE,
			       16 + (p->devfn >> 3) % 4, p->vidx);

	if (i >= 0)
		p->vidx = i;
}

/* The function went away: drivers probing afterwards must not find it. */
static void child_gone(struct rport *p)
{
	if (p->vidx >= 0) {
		bi.virtio[p->vidx].pci_device_id = 0;
		bi.virtio[p->vidx].plugs++;
	}
}

static void setup_port(struct rport *p)
{
	u32 win = (u32)p->window, last = (u32)(p->window + PORT_WINDOW_SIZE - 1);

	pci_conf_write32(0, p->devfn, 0x18, p->sec << 16 | p->sec << 8);   /* primary 0 */
	pci_conf_write32(0, p->devfn, 0x20, (last & 0xfff00000u) | win >> 16);
	pci_conf_write32(0, p->devfn, 0x04, 0x0006);
	if (slot_status(p) & ST_PDS) {
		slot_control(p, CTL_ON);
		add_child(p);
	} else {
		slot_control(p, CTL_OFF);
	}
	pci_conf_write16(0, p->devfn, p->exp + SLTSTA, ST_ACK);
}

void pcie_hp_init(void)
{
	/* Functions 1..7 only where function 0 says multi-function (few config exits on KVM). */
	for (u32 devfn = 0; devfn < 256 && nports < MAX_PORTS; devfn++) {
		u32 id = pci_conf_read32(0, devfn, 0), exp;
		struct rport *p = &ports[nports];

		if ((id & 0xffff) == 0xffff || (pci_conf_read32(0, devfn, 0x08) >> 8) != 0x060400) {
			if (!(devfn & 7) && ((id & 0xffff) == 0xffff ||
					     !(pci_conf_read32(0, devfn, 0x0c) & 0x800000)))
				devfn += 7;
			continue;
		}
		exp = pci_find_cap(0, devfn, 0x10);
		/* Root port (type 4) with a slot implemented (bit 8 of the capabilities). */
		if (!exp || ((pci_conf_read32(0, devfn, exp) >> 16) & 0x1f0) != 0x140)
			continue;
		p->devfn = devfn;
		p->exp = exp;
		p->sec = ++nports;
		p->window = PORT_WINDOW_START + (u64)(p->sec - 1) * PORT_WINDOW_SIZE;
		p->vidx = -1;
		setup_port(p);
	}
}

static void service(struct rport *p)
{
	u16 st = slot_status(p);

	if (!(st & ST_ACK))
		return;
	pci_conf_write16(0, p->devfn, p->exp + SLTSTA, st & ST_ACK);
	if ((st & ST_ABP) && p->powered) {
		slot_control(p, CTL_OFF);
		child_gone(p);
		p->unplugs++;
		return;
	}
	if ((st & ST_PDC) && !(st & ST_PDS))
		child_gone(p);          /* removed without asking (a powered-off slot) */
	if ((st & ST_PDC) && (st & ST_PDS) && !p->powered) {
		slot_control(p, CTL_ON);
		add_child(p);
		p->plugs++;
	}
}

void pcie_hp_poll(void)
{
	if (!nports || !tsc_passed(next_poll))
		return;
	next_poll = tsc_deadline(POLL_US);
	for (u32 i = 0; i < nports; i++)
		service(&ports[i]);
}

/* `pci slots`: one line per root port, then the status line. */
void pcie_hp_slots(void)
{
	for (u32 i = 0; i < nports; i++) {
		struct rport *p = &ports[i];
		u16 st = slot_status(p);
		u32 id = pci_conf_read32(p->sec, 0, 0);

		kprintf("slot bdf=00:%02x.%x bus=%u window=0x%lx present=%u power=%u device=%04x:%04x "
			"virtio_index=%d plugs=%u unplugs=%u\r\n", p->devfn >> 3, p->devfn & 7, p->sec,
			p->window, !!(st & ST_PDS), p->powered, id & 0xffff, id >> 16, p->vidx,
			p->plugs, p->unplugs);
	}
	kprintf("slots count=%u\r\n", nports);
	kprintf("status=ok\r\n");
}
