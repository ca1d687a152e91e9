/* Intel MP table: the processors (APIC ids) and the IOAPIC. */
#include "guest.h"

struct mp_floating {
	char sig[4];
	u32 config;
	u8 length, rev, checksum, feature[5];
} __attribute__((packed));

struct mp_config {
	char sig[4];
	u16 length;
	u8 rev, checksum;
	char oem[8], product[12];
	u32 oem_table;
	u16 oem_size, count;
	u32 lapic;
	u16 ext_length;
	u8 ext_checksum, reserved;
} __attribute__((packed));

#define MP_PROCESSOR 0
#define MP_IOAPIC    2

unsigned nr_cpus;
u8 cpu_apic_id[MAX_CPUS];

static int checksum_ok(const u8 *p, u64 len)
{
	u8 sum = 0;

	while (len--)
		sum += *p++;
	return sum == 0;
}

static const struct mp_floating *scan(u64 base, u64 len)
{
	for (u64 a = ALIGN_UP(base, 16); a + 16 <= base + len; a += 16) {
		const struct mp_floating *f = phys(a);

		if (!memcmp(f->sig, "_MP_", 4) && f->length == 1 && checksum_ok(phys(a), 16))
			return f;
	}
	return 0;
}

static const struct mp_floating *find_floating(void)
{
	u64 ebda = (u64)*(const u16 *)phys(0x40E) << 4;
	u64 base_kb = *(const u16 *)phys(0x413);
	const struct mp_floating *f = 0;

	if (ebda >= 0x80000 && ebda < 0xA0000)
		f = scan(ebda, 1024);
	if (!f && base_kb >= 512 && base_kb <= 640)
		f = scan(base_kb * 1024 - 1024, 1024);
	if (!f)
		f = scan(0x9FC00, 1024);
	if (!f)
		f = scan(0xF0000, 0x10000);
	return f;
}

static void add_cpu(const u8 *e)
{
	if ((e[3] & 1) && nr_cpus < MAX_CPUS)   /* enabled */
		cpu_apic_id[nr_cpus++] = e[1];
}

/* Walks by length like Linux does: some tables (qboot's) leave count at 0. */
static void parse_entries(const struct mp_config *c)
{
	const u8 *e = (const u8 *)(c + 1), *end = (const u8 *)c + c->length;

	while (e < end && e[0] <= 4) {
		if (e[0] == MP_PROCESSOR) {
			add_cpu(e);
			e += 20;
			continue;
		}
		if (e[0] == MP_IOAPIC && (e[3] & 1) && *(const u32 *)(e + 4) >= mmio_map_base)
			ioapic_base = *(const u32 *)(e + 4); /* only if our UC window maps it */
		e += 8;
	}
}

void mptable_parse(void)
{
	const struct mp_floating *f = find_floating();
	const struct mp_config *c = f && f->config && f->config < mmio_map_base ? phys(f->config) : 0;

	nr_cpus = 0;
	if (c && !memcmp(c->sig, "PCMP", 4) && checksum_ok((const u8 *)c, c->length))
		parse_entries(c);
	if (!nr_cpus) { /* no usable table: just us */
		cpu_apic_id[0] = (u8)lapic_id();
		nr_cpus = 1;
	}
}
