/* The `acpi` command: finds the RSDP (boot_params.acpi_rsdp_addr, else the
 * EBDA and BIOS-area scan), walks the XSDT (or RSDT), follows the FADT to the
 * DSDT and FACS, checks every checksum and lists the MADT's entries.
 * Output format: docs/guest-shell.md. */
#include "guest.h"

struct sdt_header {
	char sig[4];
	u32 length;
	u8 revision, checksum;
	char oem_id[6], oem_table_id[8];
	u32 oem_revision, creator_id, creator_revision;
} __attribute__((packed));

struct rsdp {
	char sig[8];
	u8 checksum;
	char oem_id[6];
	u8 revision;
	u32 rsdt;
	u32 length;
	u64 xsdt;
	u8 ext_checksum, reserved[3];
} __attribute__((packed));

#define FADT_FIRMWARE_CTRL   36
#define FADT_DSDT            40
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT          140
#define MADT_ENTRIES         44
#define MAX_TABLE_LEN        (1u << 20)

static u8 sum(const u8 *p, u64 len)
{
	u8 s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* The table at addr can be read: mapped RAM, or the mapped window below 4 GiB. */
static int readable(u64 addr, u64 len)
{
	return addr && len <= MAX_TABLE_LEN &&
	       (addr + len <= map_limit || (addr >= mmio_map_base && addr + len <= 4 * GIB));
}

static const struct rsdp *rsdp_at(u64 addr)
{
	const struct rsdp *r = phys(addr);

	if (!readable(addr, 36) || memcmp(r->sig, "RSD PTR ", 8) || sum(phys(addr), 20))
		return 0;
	if (r->revision >= 2 && (r->length < 36 || sum(phys(addr), r->length)))
		return 0;
	return r;
}

static u64 scan(u64 base, u64 len)
{
	for (u64 a = ALIGN_UP(base, 16); a + 36 <= base + len; a += 16)
		if (rsdp_at(a))
			return a;
	return 0;
}

/* boot_params first (a VMM without firmware), then where firmware puts it. */
static u64 find_rsdp(const char **source)
{
	u64 ebda = (u64)*(const u16 *)phys(0x40E) << 4;
	u64 a;

	*source = "bootparam";
	if (bi.acpi_rsdp && rsdp_at(bi.acpi_rsdp))
		return bi.acpi_rsdp;
	*source = "scan";
	a = ebda >= 0x80000 && ebda < 0xA0000 ? scan(ebda, 1024) : 0;
	return a ? a : scan(0xE0000, 0x20000);
}

/* Prints one table line; returns the header if the table can be read. */
static const struct sdt_header *table(u64 addr)
{
	const struct sdt_header *h = phys(addr);

	if (!readable(addr, sizeof(*h)) || !readable(addr, h->length) || h->length < sizeof(*h)) {
		kprintf("acpi table=? addr=0x%lx unreadable\r\n", addr);
		return 0;
	}
	kprintf("acpi table=%c%c%c%c addr=0x%lx length=%u revision=%u checksum=%s\r\n",
		h->sig[0], h->sig[1], h->sig[2], h->sig[3], addr, h->length, h->revision,
		sum(phys(addr), h->length) ? "bad" : "ok");
	return h;
}

static void madt_entries(const struct sdt_header *h)
{
	const u8 *p = (const u8 *)h + MADT_ENTRIES, *end = (const u8 *)h + h->length;

	kprintf("madt lapic_addr=0x%x flags=0x%x\r\n", *(const u32 *)((const u8 *)h + 36),
		*(const u32 *)((const u8 *)h + 40));
	for (; p + 2 <= end && p[1] >= 2 && p + p[1] <= end; p += p[1]) {
		if (p[0] == 0 && p[1] >= 8)
			kprintf("madt lapic uid=%u apic_id=%u enabled=%u\r\n", p[2], p[3],
				*(const u32 *)(p + 4) & 1);
		else if (p[0] == 1 && p[1] >= 12)
			kprintf("madt ioapic id=%u addr=0x%x gsi_base=%u\r\n", p[2],
				*(const u32 *)(p + 4), *(const u32 *)(p + 8));
		else if (p[0] == 2 && p[1] >= 10)
			kprintf("madt override irq=%u gsi=%u flags=0x%x\r\n", p[3],
				*(const u32 *)(p + 4), *(const u16 *)(p + 8));
		else if (p[0] == 4 && p[1] >= 6)
			kprintf("madt lapic_nmi uid=0x%x lint=%u\r\n", p[2], p[5]);
		else
			kprintf("madt entry type=%u length=%u\r\n", p[0], p[1]);
	}
}

/* The FADT's 64-bit pointer when it has one, else the 32-bit one. */
static u64 fadt_ptr(const struct sdt_header *f, unsigned off32, unsigned off64)
{
	const u8 *p = (const u8 *)f;
	u64 x = f->length >= off64 + 8 ? *(const u64 *)(p + off64) : 0;

	return x ? x : *(const u32 *)(p + off32);
}

static void fadt_children(const struct sdt_header *f)
{
	u64 dsdt = fadt_ptr(f, FADT_DSDT, FADT_X_DSDT);
	u64 facs = fadt_ptr(f, FADT_FIRMWARE_CTRL, FADT_X_FIRMWARE_CTRL);

	if (dsdt)
		table(dsdt);
	/* The FACS has a length but no checksum. */
	if (facs && readable(facs, 64))
		kprintf("acpi table=FACS addr=0x%lx length=%u\r\n", facs,
			*(const u32 *)phys(facs + 4));
}

u64 acpi_find_table(const char *sig)
{
	const char *source;
	u64 addr = find_rsdp(&source);
	const struct rsdp *r = addr ? phys(addr) : 0;
	const struct sdt_header *h;
	unsigned entry;
	u64 root;

	if (!r)
		return 0;
	entry = r->revision >= 2 && r->xsdt ? 8 : 4;
	root = entry == 8 ? r->xsdt : r->rsdt;
	h = phys(root);
	if (!readable(root, sizeof(*h)) || !readable(root, h->length) || h->length < sizeof(*h))
		return 0;
	for (unsigned i = 0; i < (h->length - sizeof(*h)) / entry; i++) {
		const u8 *e = (const u8 *)h + sizeof(*h) + i * entry;
		u64 t = entry == 8 ? *(const u64 *)e : *(const u32 *)e;
		const struct sdt_header *c = phys(t);
		if (readable(t, sizeof(*c)) && !memcmp(c->sig, sig, 4) && readable(t, c->length) &&
		    !sum(phys(t), c->length))
			return t;
	}
	return 0;
}

void acpi_command(char *args)
{
	const char *source;
	u64 addr = find_rsdp(&source), root;
	const struct rsdp *r = addr ? phys(addr) : 0;
	const struct sdt_header *h;
	unsigned entry, n;

	(void)args;
	if (!r) {
		kprintf("status=error msg=no-rsdp\r\n");
		return;
	}
	entry = r->revision >= 2 && r->xsdt ? 8 : 4;
	root = entry == 8 ? r->xsdt : r->rsdt;
	kprintf("acpi rsdp=0x%lx source=%s revision=%u checksum=ok oem=%c%c%c%c%c%c\r\n", addr,
		source, r->revision, r->oem_id[0], r->oem_id[1], r->oem_id[2], r->oem_id[3],
		r->oem_id[4], r->oem_id[5]);
	if (!(h = table(root))) {
		kprintf("status=error msg=bad-root-table\r\n");
		return;
	}
	n = (h->length - sizeof(*h)) / entry;
	for (unsigned i = 0; i < n; i++) {
		const u8 *e = (const u8 *)h + sizeof(*h) + i * entry;
		u64 t = entry == 8 ? *(const u64 *)e : *(const u32 *)e;
		const struct sdt_header *c = table(t);

		if (c && !memcmp(c->sig, "FACP", 4))
			fadt_children(c);
		else if (c && !memcmp(c->sig, "APIC", 4))
			madt_entries(c);
	}
	kprintf("status=ok\r\n");
}
