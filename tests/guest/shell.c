/* The console shell; the protocol is specified in docs/guest-shell.md. */
#include "guest.h"

#define LINE_MAX        255
#define PM1A_STS        0x600
#define PM1A_CNT        0x604
#define PM1_PWRBTN_STS  0x0100
#define PM1_SLP_EN      0x2000  /* SLP_TYP=0 (S5 on QEMU/Stratus) | SLP_EN */
#define PWRBTN_POLL_US  10000
#define PVPANIC_PORT    0x505   /* QEMU's ISA pvpanic default */
#define PVPANIC_PANICKED     1
#define PVPANIC_CRASH_LOADED 2

struct command {
	const char *name;
	void (*run)(char *args);
};

static const struct command commands[];

static void ok(void) { kprintf("status=ok\r\n"); }
static void fail(const char *msg) { kprintf("status=error msg=%s\r\n", msg); }

/* Next space-separated number; NULL if missing or malformed. */
static char *next_u64(char *s, u64 *v)
{
	const char *end;

	s = arg_skip(s);
	if (!parse_u64(s, &end, v) || (*end && *end != ' '))
		return 0;
	return (char *)end;
}

static void cmd_help(char *args)
{
	(void)args;
	for (const struct command *c = commands; c->name; c++)
		kprintf("cmd=%s\r\n", c->name);
	ok();
}

static void cmd_echo(char *args)
{
	kprintf("text=%s\r\n", args);
	ok();
}

static void info_memory(void)
{
	kprintf("mem_total=%lu\r\n", mem_total());
	for (u32 i = 0; i < bi.e820_count; i++)
		kprintf("e820 index=%u base=0x%lx size=0x%lx type=%u\r\n", i, bi.e820[i].base,
			bi.e820[i].size, bi.e820[i].type);
	for (u32 i = 0; i < bi.nr_ram_free; i++)
		kprintf("ram_free base=0x%lx size=0x%lx\r\n", bi.ram_free[i].base, bi.ram_free[i].size);
}

static void info_cpus(void)
{
	kprintf("cpus=%u online=%u apic_ids=", nr_cpus, aps_online + 1);
	for (unsigned i = 0; i < nr_cpus; i++)
		kprintf("%s%u", i ? "," : "", cpu_apic_id[i]);
	kprintf("\r\n");
}

static void info_initrd(void)
{
	static int done;
	static u32 crc;
	int mapped = bi.initrd_base + bi.initrd_size <= map_limit;

	if (!done && bi.initrd_size && mapped)
		crc = crc32_update(0, phys(bi.initrd_base), bi.initrd_size);
	done = 1;
	kprintf("initrd_size=%lu initrd_crc32=0x%08x\r\n", bi.initrd_size, crc);
}

static int mmio_mapped(u64 base)
{
	return base >= mmio_map_base && base + 0x100 <= 4 * GIB;
}

static void info_virtio(void)
{
	kprintf("virtio_mmio count=%u\r\n", bi.nr_virtio);
	for (u32 i = 0; i < bi.nr_virtio; i++) {
		const struct virtio_mmio_dev *d = &bi.virtio[i];

		if (d->pci_bdf) {
			kprintf("virtio_pci index=%u bdf=%02x:%02x.%x irq=%u device_id=%u common=0x%lx\r\n",
				i, (d->pci_bdf - 1) >> 8, ((d->pci_bdf - 1) >> 3) & 0x1f, (d->pci_bdf - 1) & 7,
				d->irq, d->pci_device_id,
				d->common);
			continue;
		}
		int m = mmio_mapped(d->base);
		u32 magic = m ? mmio_read32(d->base) : 0;
		u32 version = m ? mmio_read32(d->base + 4) : 0;
		u32 id = m ? mmio_read32(d->base + 8) : 0;

		kprintf("virtio_mmio index=%u base=0x%lx size=%lu irq=%u magic_ok=%u version=%u device_id=%u\r\n",
			i, d->base, d->size, d->irq, magic == 0x74726976, version, id);
	}
}

static void cmd_info(char *args)
{
	(void)args;
	info_memory();
	info_cpus();
	info_initrd();
	info_virtio();
	kprintf("cmdline=%s\r\n", bi.cmdline);
	ok();
}

/* Parses "<addr> <len> <seed>" and validates it against ram_free (also `smp churn`). */
int mem_args(char *s, u64 *addr, u64 *len, u64 *seed)
{
	if (!(s = next_u64(s, addr)) || !(s = next_u64(s, len)) || !(s = next_u64(s, seed)) ||
	    *arg_skip(s)) {
		fail("bad-arguments");
		return 0;
	}
	if ((*addr | *len) & 7) {
		fail("unaligned");
		return 0;
	}
	if (!ram_free_find(*addr, *len)) {
		fail("not-in-ram-free");
		return 0;
	}
	return 1;
}

static void mem_fill(char *s)
{
	u64 addr, len, seed;

	if (!mem_args(s, &addr, &len, &seed))
		return;
	for (u64 a = addr; a < addr + len; a += 8)
		*(volatile u64 *)phys(a) = splitmix64(seed ^ a);
	kprintf("filled=%lu\r\n", len);
	ok();
}

static void mem_check(char *s)
{
	u64 addr, len, seed, bad = 0, first = 0;

	if (!mem_args(s, &addr, &len, &seed))
		return;
	for (u64 a = addr; a < addr + len; a += 8) {
		if (*(volatile u64 *)phys(a) == splitmix64(seed ^ a))
			continue;
		if (!bad++)
			first = a;
	}
	kprintf("checked=%lu mismatches=%lu first_bad=", len, bad);
	if (bad) {
		kprintf("0x%lx\r\n", first);
		fail("mismatch");
		return;
	}
	kprintf("none\r\n");
	ok();
}

/*
 * "mem churn <passes> <addr> <len> <seed>": writes the fill pattern over and
 * over, so a live migration has pages dirtied all the time; the result is
 * what one fill writes, so "mem check" verifies it anywhere afterwards.
 */
void mem_churn_range(u64 passes, u64 addr, u64 len, u64 seed)
{
	for (u64 p = 0; p < passes; p++)
		for (u64 a = addr; a < addr + len; a += 8)
			*(volatile u64 *)phys(a) = splitmix64(seed ^ a);
}

static void mem_churn(char *s)
{
	u64 passes, addr, len, seed;

	if (!(s = next_u64(s, &passes)) || !mem_args(s, &addr, &len, &seed))
		return;
	mem_churn_range(passes, addr, len, seed);
	kprintf("churned=%lu\r\n", passes);
	ok();
}

static void cmd_mem(char *args)
{
	args = arg_skip(args);
	if (!strncmp(args, "fill ", 5))
		mem_fill(args + 5);
	else if (!strncmp(args, "churn ", 6))
		mem_churn(args + 6);
	else if (!strncmp(args, "check ", 6))
		mem_check(args + 6);
	else
		fail("bad-arguments");
}

static void cmd_irq(char *args)
{
	(void)args;
	irq_command();
	ok();
}

/* Also used by the fault handler (at CPL0). */
void power_off(void)
{
	outw(PM1A_CNT, PM1_SLP_EN);
	udelay(100000);
}

static void cmd_poweroff(char *args)
{
	(void)args;
	kprintf("poweroff=requested\r\n");
	power_off();
	fail("poweroff-ignored");
}

static void cmd_reboot(char *args)
{
	(void)args;
	kprintf("reboot=requested\r\n");
	outb(0x64, 0xFE);
	udelay(100000);
	/* The IDT is user-mapped: emptying it makes the fault below a triple
	 * fault on any host, not just where `int` from CPL3 is fatal anyway. */
	memset(idt, 0, sizeof(idt));
	__asm__ volatile("int $0x80");
	fail("reboot-ignored");
}

/* True if s is exactly the word w, apart from spaces around it. */
static int is_word(char *s, const char *w)
{
	size_t n = strlen(w);

	s = arg_skip(s);
	return !strncmp(s, w, n) && !*arg_skip(s + n);
}

/*
 * The write is unconditional (no probe first, unlike Linux's driver) so tests
 * can check that the device ignores events it was not configured for.  The
 * 100 ms wait gives a host that pauses on panic time to do so before the
 * status line, which then only appears after `cont`.
 */
static void cmd_panic(char *args)
{
	u8 value;

	if (is_word(args, "probe")) {
		kprintf("events=%u\r\n", inb(PVPANIC_PORT));
		ok();
		return;
	}
	if (*arg_skip(args) && !is_word(args, "crash")) {
		fail("bad-arguments");
		return;
	}
	value = *arg_skip(args) ? PVPANIC_CRASH_LOADED : PVPANIC_PANICKED;
	kprintf("panic=%s value=%u\r\n", value == PVPANIC_PANICKED ? "panicked" : "crash-loaded",
		value);
	outb(PVPANIC_PORT, value);
	udelay(100000);
	ok();
}

static const struct command commands[] = {
	{ "help", cmd_help },
	{ "echo", cmd_echo },
	{ "info", cmd_info },
	{ "mem", cmd_mem },
	{ "irq", cmd_irq },
	{ "blk", blk_command },
	{ "intr", intr_command },
	{ "smp", smp_command },
	{ "panic", cmd_panic },
	{ "balloon", balloon_command },
	{ "rng", rng_command },
	{ "net", net_command },
	{ "vsock", vsock_command },
	{ "vcon", vcon_command },
	{ "acpi", acpi_command },
	{ "pci", pci_command },
	{ "poweroff", cmd_poweroff },
	{ "reboot", cmd_reboot },
	{ 0, 0 },
};

static void execute(char *line)
{
	size_t n;

	line = arg_skip(line);
	if (!*line)
		return;
	for (const struct command *c = commands; c->name; c++) {
		n = strlen(c->name);
		if (!strncmp(line, c->name, n) && (line[n] == ' ' || !line[n])) {
			c->run(line[n] ? line + n + 1 : line + n);
			return;
		}
	}
	fail("unknown-command");
}

/* PM1a status reads as 0xFFFF where there is no PM1 block (QEMU microvm). */
static void poll_power_button(void)
{
	static u64 next;
	u16 sts;

	if (!tsc_passed(next))
		return;
	next = tsc_deadline(PWRBTN_POLL_US);
	sts = inw(PM1A_STS);
	if (sts == 0xFFFF || !(sts & PM1_PWRBTN_STS))
		return;
	outw(PM1A_STS, PM1_PWRBTN_STS);
	kprintf("\r\npowerbutton=pressed\r\n");
	power_off();
	kprintf("poweroff=ignored\r\n");
}

struct line {
	char buf[LINE_MAX + 1];
	size_t len;
	int overflow;
	int last_cr;
};

/* Returns 1 when a complete line is in l->buf. */
static int line_input(struct line *l, char c)
{
	int was_cr = l->last_cr;

	l->last_cr = c == '\r';
	if (c == '\n' && was_cr)
		return 0;
	if (c == '\r' || c == '\n') {
		kprintf("\r\n");
		l->buf[l->len] = 0;
		return 1;
	}
	if (c == 0x08 || c == 0x7F) {
		if (l->len) {
			l->len--;
			kprintf("\b \b");
		}
		return 0;
	}
	if ((u8)c < 0x20)
		return 0;
	uart_putc(c);
	if (l->len < LINE_MAX)
		l->buf[l->len++] = c;
	else
		l->overflow = 1;
	return 0;
}

void shell_run(void)
{
	static struct line l;
	int c;

	kprintf("guest# ");
	for (;;) {
		c = uart_getc();
		if (c < 0) {
			poll_power_button();
			balloon_idle();
			net_idle();
			pcie_hp_poll();
			cpu_relax();
			continue;
		}
		if (!line_input(&l, (char)c))
			continue;
		if (l.overflow)
			fail("line-too-long");
		else
			execute(l.buf);
		l.len = 0;
		l.overflow = 0;
		kprintf("guest# ");
	}
}
