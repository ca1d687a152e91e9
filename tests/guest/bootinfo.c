/* Copies what we need out of boot_params (the zero page) and derives the
 * ranges `mem fill/check` may use. */
#include "guest.h"

#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0C0
#define BP_EXT_RAMDISK_SIZE  0x0C4
#define BP_EXT_CMD_LINE_PTR  0x0C8
#define BP_E820_COUNT        0x1E8
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE      0x21C
#define BP_CMD_LINE_PTR      0x228
#define BP_E820_TABLE        0x2D0

struct bootinfo bi;

static u32 bp32(unsigned off)
{
	return *(const u32 *)(boot_params + off);
}

static void copy_cmdline(void)
{
	u64 addr = bp32(BP_CMD_LINE_PTR) | (u64)bp32(BP_EXT_CMD_LINE_PTR) << 32;
	const char *src = phys(addr);
	size_t i = 0;

	if (addr && addr < map_limit)
		for (; i < CMDLINE_MAX - 1 && src[i]; i++)
			bi.cmdline[i] = src[i];
	bi.cmdline[i] = 0;
}

/* Linux memparse(): number with an optional K/M/G/T suffix. */
static int parse_size(const char *s, const char **end, u64 *out)
{
	static const char suffix[] = "KMGT";

	if (!parse_u64(s, &s, out))
		return 0;
	for (int i = 0; i < 4; i++)
		if ((*s | 0x20) == (suffix[i] | 0x20)) {
			*out <<= 10 * (i + 1);
			s++;
			break;
		}
	*end = s;
	return 1;
}

/* virtio_mmio.device=<size>@<base>:<irq>[:<id>] */
static void parse_virtio_arg(const char *s)
{
	struct virtio_mmio_dev d;
	u64 irq;

	if (bi.nr_virtio >= MAX_VIRTIO_MMIO || !parse_size(s, &s, &d.size) || *s++ != '@' ||
	    !parse_u64(s, &s, &d.base) || *s++ != ':' || !parse_u64(s, &s, &irq))
		return;
	d.irq = (u32)irq;
	bi.virtio[bi.nr_virtio++] = d;
}

/* Is the exact word `word` on the command line? */
int cmdline_has(const char *word)
{
	size_t n = strlen(word);

	for (const char *p = bi.cmdline; *p; p++)
		if ((p == bi.cmdline || p[-1] == ' ') && !strncmp(p, word, n) && (!p[n] || p[n] == ' '))
			return 1;
	return 0;
}

static void parse_cmdline(void)
{
	static const char key[] = "virtio_mmio.device=";
	const char *p = bi.cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, sizeof(key) - 1))
			parse_virtio_arg(p + sizeof(key) - 1);
		while (*p && *p != ' ')
			p++;
	}
}

static void add_free(u64 base, u64 end)
{
	base = ALIGN_UP(base, PAGE_SIZE);
	end = ALIGN_DOWN(end, PAGE_SIZE);
	if (end > base && bi.nr_ram_free < MAX_RAM_FREE)
		bi.ram_free[bi.nr_ram_free++] = (struct range){ base, end - base };
}

/* [base, end) minus the sorted, disjoint holes. */
static void add_free_minus(u64 base, u64 end, const struct range *hole, int nholes)
{
	for (int i = 0; i < nholes && base < end; i++) {
		u64 hs = hole[i].base, he = hole[i].base + hole[i].size;

		if (he <= base || hs >= end)
			continue;
		add_free(base, hs > base ? hs : base);
		base = he;
	}
	add_free(base, end);
}

/* The part of [base, end) inside the mapped window [wbase, wend), minus holes. */
static void add_ram(u64 base, u64 end, u64 wbase, u64 wend, const struct range *hole)
{
	if (base < wbase)
		base = wbase;
	if (end > wend)
		end = wend;
	if (end > base)
		add_free_minus(base, end, hole, 3);
}

/* RAM from e820, limited to what the page tables map, minus the low 1 MiB
 * (boot_params, trampoline, MP table), our image (incl. stacks and page
 * tables) and the initrd. */
static void compute_ram_free(void)
{
	u64 rd_base = ALIGN_DOWN(bi.initrd_base, PAGE_SIZE);
	u64 rd_end = ALIGN_UP(bi.initrd_base + bi.initrd_size, PAGE_SIZE);
	struct range img = { (u64)__image_start, (u64)(__image_end - __image_start) };
	struct range rd = { rd_base, rd_end - rd_base };
	struct range hole[3] = { { 0, MIB }, img, rd };

	if (rd.base < img.base) { /* add_free_minus wants them sorted */
		hole[1] = rd;
		hole[2] = img;
	}
	for (u32 i = 0; i < bi.e820_count; i++) {
		const struct e820_entry *e = &bi.e820[i];

		if (e->type != E820_RAM)
			continue;
		add_ram(e->base, e->base + e->size, 0, mmio_map_base, hole);
		add_ram(e->base, e->base + e->size, 4 * GIB, map_limit, hole);
	}
}

void bootinfo_init(void)
{
	u32 n = boot_params[BP_E820_COUNT];

	bi.e820_count = n > E820_MAX ? E820_MAX : n;
	memcpy(bi.e820, boot_params + BP_E820_TABLE, bi.e820_count * sizeof(struct e820_entry));
	bi.initrd_base = bp32(BP_RAMDISK_IMAGE) | (u64)bp32(BP_EXT_RAMDISK_IMAGE) << 32;
	bi.initrd_size = bp32(BP_RAMDISK_SIZE) | (u64)bp32(BP_EXT_RAMDISK_SIZE) << 32;
	if (!bi.initrd_base)
		bi.initrd_size = 0;
	bi.acpi_rsdp = bp32(BP_ACPI_RSDP_ADDR) | (u64)bp32(BP_ACPI_RSDP_ADDR + 4) << 32;
	copy_cmdline();
	parse_cmdline();
	compute_ram_free();
}

u64 mem_total(void)
{
	u64 t = 0;

	for (u32 i = 0; i < bi.e820_count; i++)
		if (bi.e820[i].type == E820_RAM)
			t += bi.e820[i].size;
	return t;
}

const struct range *ram_free_find(u64 addr, u64 len)
{
	for (u32 i = 0; i < bi.nr_ram_free; i++) {
		const struct range *r = &bi.ram_free[i];

		if (addr >= r->base && len <= r->size && addr - r->base <= r->size - len)
			return r;
	}
	return 0;
}
