/* Local APIC and IOAPIC, programmed from CPL3 through the uncached user
 * mapping.  Interrupts are normally not taken (IF=0): they are observed in the
 * IRR.  Only the `intr` command (intr.c) takes them, and uses the timer. */
#include "guest.h"

#define LAPIC_ID      0x020
#define LAPIC_EOI     0x0B0
#define LAPIC_SVR     0x0F0
#define LAPIC_IRR     0x200
#define LAPIC_ICR_LO  0x300
#define LAPIC_ICR_HI  0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LINT0   0x350
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_DCR 0x3E0
#define ICR_BUSY      (1U << 12)
#define LVT_MASKED    (1U << 16)
#define LVT_PERIODIC  (1U << 17)

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_VER    0x01
#define IOREDTBL(pin) (0x10 + 2 * (pin))

#define COM1_IRQ      4
#define IRQ_VECTOR(irq) (0x20 + (irq))

u64 ioapic_base = IOAPIC_DEFAULT;

static u32 lapic_read(u32 reg) { return mmio_read32(LAPIC_BASE + reg); }
static void lapic_write(u32 reg, u32 v) { mmio_write32(LAPIC_BASE + reg, v); }

static void ioapic_write(u32 reg, u32 v)
{
	mmio_write32(ioapic_base + IOAPIC_REGSEL, reg);
	mmio_write32(ioapic_base + IOAPIC_WIN, v);
}

static u32 ioapic_read(u32 reg)
{
	mmio_write32(ioapic_base + IOAPIC_REGSEL, reg);
	return mmio_read32(ioapic_base + IOAPIC_WIN);
}

u32 lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

/* Edge, active high, fixed delivery to the BSP, unmasked. */
static void ioapic_route(u32 pin, u32 vector)
{
	u32 max_pin = (ioapic_read(IOAPIC_VER) >> 16) & 0xFF;

	if (pin > max_pin || vector > 0xFF)
		return;
	ioapic_write(IOREDTBL(pin) + 1, lapic_id() << 24);
	ioapic_write(IOREDTBL(pin), vector);
}

/* Software-enables this CPU's LAPIC, spurious vector 0xFF.  APs stay disabled
 * (as after INIT) unless `intr` needs them to accept fixed IPIs. */
void lapic_enable(void)
{
	lapic_write(LAPIC_SVR, 0x100 | 0xFF);
}

void apic_init(void)
{
	lapic_enable();
	lapic_write(LAPIC_LINT0, lapic_read(LAPIC_LINT0) | LVT_MASKED); /* keep the PIC out */
	ioapic_route(COM1_IRQ, IRQ_VECTOR(COM1_IRQ));
	for (u32 i = 0; i < bi.nr_virtio; i++)
		ioapic_route(bi.virtio[i].irq, IRQ_VECTOR(bi.virtio[i].irq));
}

void lapic_send_ipi(u32 apic_id, u32 icr_low)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr_low);
	for (int i = 0; i < 100000 && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
		cpu_relax();
}

/* `irq`: list the pending vectors, then EOI once per vector. */
void irq_command(void)
{
	int n = 0;

	kprintf("lapic_irr=");
	for (u32 v = 0; v < 256; v++) {
		if (!(lapic_read(LAPIC_IRR + 0x10 * (v / 32)) & (1U << (v % 32))))
			continue;
		kprintf("%s0x%02x", n++ ? "," : "", v);
	}
	kprintf("%s\r\n", n ? "" : "none");
	while (n--)
		lapic_write(LAPIC_EOI, 0);
}

int lapic_irr_test(u32 vector)
{
	return (lapic_read(LAPIC_IRR + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

/* dcr: the Divide Configuration Register encoding. */
void lapic_timer_periodic(u32 vector, u32 count, u32 dcr)
{
	lapic_write(LAPIC_TIMER_DCR, dcr);
	lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | vector);
	lapic_write(LAPIC_TIMER_ICR, count);
}

void lapic_timer_stop(void)
{
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	lapic_write(LAPIC_TIMER_ICR, 0);
}
