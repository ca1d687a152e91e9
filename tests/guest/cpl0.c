/*
 * The privileged part of boot: page tables, TSS, IDT.  Runs at CPL0, where
 * these hosts emulate every instruction (several us each, more with memory
 * operands), so it does only what CPL3 cannot do and must never fault.  It
 * writes only initialised data (.data, .pgtable): .bss is zeroed later, at
 * CPL3, where that is fast.  Everything else happens in main.c.
 */
#include "guest.h"

#define PTE_P   0x001ULL
#define PTE_RW  0x002ULL
#define PTE_US  0x004ULL
#define PTE_PWT 0x008ULL
#define PTE_PCD 0x010ULL
#define PTE_PS  0x080ULL
#define PTE_TABLE (PTE_P | PTE_RW | PTE_US)
#define PTE_LARGE (PTE_P | PTE_RW | PTE_US | PTE_PS)
#define PTE_UC  (PTE_PCD | PTE_PWT)

#define BP_E820_COUNT 0x1E8
#define BP_E820_TABLE 0x2D0
#define BP_ALT_MEM_K  0x1E0

/*
 * One I/O permission bitmap (all ports allowed) shared by every TSS: it sits
 * right after the TSS array, so each TSS reaches it with its own offset.
 * IOPL=3 alone is enough on native KVM, but a paging-based hypervisor (PVM)
 * runs our CPL3 code with the host's IOPL=0 and checks this bitmap instead.
 */
#define IOMAP_BYTES (65536 / 8)

#define CPL0_DATA __attribute__((section(".data")))

static struct {
	struct tss64 tss[MAX_CPUS];
	u8 iomap[IOMAP_BYTES + 1];      /* + the all-ones byte the CPU requires */
} __attribute__((packed, aligned(16))) tss_area CPL0_DATA = { .iomap[IOMAP_BYTES] = 0xFF };

struct tss64 *const tss = tss_area.tss;
/* All 256 vectors, so that CPL3 code (intr.c) can add gates for 32-255 without
 * a lidt; only the exception gates are written here. */
u64 idt[NUM_VECTORS * 2] __attribute__((aligned(16))) CPL0_DATA;
u8 *boot_params CPL0_DATA;
u64 map_limit CPL0_DATA;
u64 mmio_map_base CPL0_DATA;

/* Highest end of e820 RAM below and above 4 GiB. */
static void ram_extent(const u8 *bp, u64 *low_end, u64 *high_end)
{
	const struct e820_entry *e = (const void *)(bp + BP_E820_TABLE);
	unsigned n = bp[BP_E820_COUNT];

	*low_end = *high_end = 0;
	if (n > E820_MAX)
		n = E820_MAX;
	for (unsigned i = 0; i < n; i++) {
		u64 end = e[i].base + e[i].size;

		if (e[i].type != E820_RAM)
			continue;
		if (end > 4 * GIB && end > *high_end)
			*high_end = end;
		if (end > 4 * GIB)
			end = e[i].base < 4 * GIB ? 4 * GIB : 0;
		if (end > *low_end)
			*low_end = end;
	}
	if (n == 0) /* no e820: fall back to the old "KiB above 1 MiB" field */
		*low_end = MIB + (u64)*(const u32 *)(bp + BP_ALT_MEM_K) * 1024;
	if (*low_end < 64 * MIB)
		*low_end = 64 * MIB;
}

static int have_gbpages(void)
{
	u32 r[4];

	cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000001)
		return 0;
	cpuid(0x80000001, 0, r);
	return (r[3] >> 26) & 1;
}

/* head.S maps [3 GiB, 4 GiB) uncached; switch any RAM there to write-back. */
static void map_low(u64 low_end)
{
	mmio_map_base = 3 * GIB;
	for (; mmio_map_base < low_end && mmio_map_base < MMIO_LOW_BASE; mmio_map_base += 2 * MIB)
		pt_pd_low[mmio_map_base >> 21] &= ~PTE_UC;
	map_limit = mmio_map_base;
}

/* Above 4 GiB: 1 GiB pages if the CPU has them, else 2 MiB from a small pool. */
static void map_high(u64 high_end)
{
	u64 gib = 4, last = ALIGN_UP(high_end, GIB) / GIB;
	int gb = have_gbpages();

	if (last > 512)
		last = 512;
	if (!gb && last > 4 + PD_POOL_PAGES)
		last = 4 + PD_POOL_PAGES;
	for (; gib < last; gib++) {
		u64 *pd = &pt_pd_pool[(gib - 4) * 512];

		if (gb) {
			pt_pdpt[gib] = (gib << 30) | PTE_LARGE;
			continue;
		}
		for (u64 i = 0; i < 512; i++)
			pd[i] = (gib << 30) + (i << 21) + PTE_LARGE;
		pt_pdpt[gib] = (u64)pd | PTE_TABLE;
	}
	if (gib > 4)
		map_limit = gib << 30;
}

static void build_page_tables(const u8 *bp)
{
	u64 low_end, high_end;

	ram_extent(bp, &low_end, &high_end);
	map_low(low_end);
	map_high(high_end);
}

/* Shared with smp.c, which prepares the APs' TSSs from CPL3 (the GDT and the
 * TSSs are ordinary user-mapped memory). */
void tss_init(unsigned cpu, u64 rsp0)
{
	u64 base = (u64)&tss[cpu];
	u64 iomap = (u64)tss_area.iomap - base;
	u64 limit = iomap + IOMAP_BYTES;
	u64 *d = &gdt[TSS_SEL(cpu) / 8];

	tss[cpu].rsp[0] = rsp0;
	tss[cpu].iomap_base = (u16)iomap;
	d[0] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89ULL << 40 |
	       ((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56;
	d[1] = base >> 32;
}

static void idt_init(void)
{
	for (int v = 0; v < NUM_EXCEPTIONS; v++) {
		u64 h = fault_stubs[v];

		idt[2 * v] = (h & 0xFFFF) | (u64)KERNEL_CS << 16 | 0x8EULL << 40 |
			     ((h >> 16) & 0xFFFF) << 48;
		idt[2 * v + 1] = h >> 32;
	}
}

extern u8 bsp_kstack_top[];

#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define KVM_FEATURE_CLOCKSOURCE2 (1U << 3)

struct pvclock pvclock __attribute__((aligned(64))) CPL0_DATA;

/* One wrmsr gives time.c the exact TSC frequency; only if KVM offers it, so
 * that it cannot fault. */
static void kvmclock_enable(void)
{
	u32 r[4];

	cpuid(1, 0, r);
	if (!(r[2] & (1U << 31)))
		return;
	cpuid(0x40000000, 0, r);
	if (r[0] < 0x40000001 || r[1] != 0x4b4d564b || r[2] != 0x564b4d56 || r[3] != 0x4d)
		return;
	cpuid(0x40000001, 0, r);
	if (!(r[0] & KVM_FEATURE_CLOCKSOURCE2))
		return;
	__asm__ volatile("wrmsr" : : "c"(MSR_KVM_SYSTEM_TIME_NEW), "a"((u32)(u64)&pvclock | 1), "d"(0));
}

void cpl0_setup(u8 *bp);
void cpl0_setup(u8 *bp)
{
	boot_params = bp;
	build_page_tables(bp);
	__asm__ volatile("mov %0, %%cr3" : : "r"((u64)pt_pml4) : "memory");
	tss_init(0, (u64)bsp_kstack_top);
	idt_init();
	lgdt_ltr_lidt(TSS_SEL(0));
	kvmclock_enable();
}

/* Entered from an exception stub at CPL0: report and stop the machine. */
struct fault_frame {
	u64 vector, error, rip, cs, rflags, rsp, ss;
};

void fault_report(const struct fault_frame *f);
void fault_report(const struct fault_frame *f)
{
	u64 cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	kprintf("\r\nfault vector=%lu rip=0x%lx error=0x%lx cr2=0x%lx cs=0x%lx rflags=0x%lx rsp=0x%lx\r\n",
		f->vector, f->rip, f->error, cr2, f->cs, f->rflags, f->rsp);
	power_off();
}
