/*
 * Application processor start-up, driven from CPL3: the BSP copies the
 * trampoline to low memory, prepares the AP's TSS (the GDT is user-mapped
 * memory), and sends INIT + SIPI + SIPI through the ICR.  APs are started one
 * at a time because they share the trampoline's parameter block.
 *
 * Started APs spin in ap_main() and run the jobs the BSP posts with smp_run()
 * (`smp xadd`, `smp churn`, and `intr` turning their interrupts on and off).
 */
#include "guest.h"

#define ICR_INIT    0x00004500  /* INIT, level assert */
#define ICR_STARTUP 0x00004600
#define AP_TIMEOUT_US 1000000
#define XADD_MAX      1000000000ULL
#define XADD_TIMEOUT_US 60000000ULL     /* for the APs, after the BSP's own share */

struct tramp_params {
	u64 cr3;
	u64 ustack;
	u64 cpu;
	u64 tss_sel;
};

volatile u32 aps_online;
u8 slot_apic_id[MAX_CPUS];

/*
 * One job at a time for all APs: the BSP fills fn/arg, then bumps gen; each
 * AP runs it once and stores gen into its done[] slot (per slot, so that an AP
 * that finishes a job the BSP gave up waiting for cannot be counted for the
 * next one).
 */
static struct {
	void (*fn)(unsigned slot, u64 arg);
	u64 arg;
	u32 gen;
	u32 done[MAX_CPUS];
} job;

/* Nothing but a load per iteration until the BSP posts a job; a job may leave
 * IF=1 (`intr`), and then the handlers run on this CPU inside this loop. */
void ap_main(u64 cpu)
{
	u32 seen = 0;

	__atomic_fetch_add(&aps_online, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		u32 gen = __atomic_load_n(&job.gen, __ATOMIC_ACQUIRE);

		if (gen != seen) {
			seen = gen;
			job.fn((unsigned)cpu, job.arg);
			__atomic_store_n(&job.done[cpu], gen, __ATOMIC_RELEASE);
		}
		cpu_relax();
	}
}

unsigned smp_run(void (*fn)(unsigned slot, u64 arg), u64 arg, int bsp, u64 us)
{
	unsigned aps = aps_online, finished = 0;
	u32 gen;
	u64 end;

	if (aps) {
		job.fn = fn;
		job.arg = arg;
		gen = job.gen + 1;
		__atomic_store_n(&job.gen, gen, __ATOMIC_RELEASE);
	}
	if (bsp)
		fn(0, arg);
	if (!aps)
		return 0;
	end = tsc_deadline(us);
	for (unsigned slot = 1; slot <= aps; slot++) {
		while (__atomic_load_n(&job.done[slot], __ATOMIC_ACQUIRE) != gen && !tsc_passed(end))
			cpu_relax();
		finished += __atomic_load_n(&job.done[slot], __ATOMIC_ACQUIRE) == gen;
	}
	return finished;
}

static struct tramp_params *tramp_install(void)
{
	struct tramp_params *tp = phys(TRAMP_BASE + (tramp_params - tramp_start));

	memcpy(phys(TRAMP_BASE), tramp_start, tramp_end - tramp_start);
	tp->cr3 = (u64)pt_pml4;
	return tp;
}

static int wait_online(u32 target, u64 us)
{
	u64 end = tsc_deadline(us);

	while (aps_online < target)
		if (tsc_passed(end))
			return 0;
		else
			cpu_relax();
	return 1;
}

/* slot: this CPU's TSS and stacks (slot 0 is the BSP's). */
static int start_ap(struct tramp_params *tp, u32 apic_id, unsigned slot)
{
	u8 *stack = &ap_stacks[slot * AP_STACK_SIZE];
	u32 target = aps_online + 1;

	tss_init(slot, (u64)stack + AP_STACK_SIZE - AP_USTACK_SIZE);
	slot_apic_id[slot] = (u8)apic_id;
	tp->ustack = (u64)stack + AP_STACK_SIZE - 8;
	tp->cpu = slot;
	tp->tss_sel = TSS_SEL(slot);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	lapic_send_ipi(apic_id, ICR_INIT);
	udelay(10);
	lapic_send_ipi(apic_id, ICR_STARTUP | (TRAMP_BASE >> 12));
	if (wait_online(target, 200))
		return 1;
	lapic_send_ipi(apic_id, ICR_STARTUP | (TRAMP_BASE >> 12));
	return wait_online(target, AP_TIMEOUT_US);
}

void smp_start_aps(void)
{
	struct tramp_params *tp;
	u32 self = lapic_id();

	slot_apic_id[0] = (u8)self;
	if (nr_cpus < 2)
		return;
	tp = tramp_install();
	for (unsigned cpu = 0, slot = 1; cpu < nr_cpus && slot < MAX_CPUS; cpu++)
		if (cpu_apic_id[cpu] != self && !start_ap(tp, cpu_apic_id[cpu], slot++))
			break; /* a dead AP: report fewer rather than wait again */
}

/* ---- `smp xadd <n>` ---- */

static u64 xadd_counter __attribute__((aligned(64)));

static void xadd_job(unsigned slot, u64 n)
{
	(void)slot;
	for (u64 i = 0; i < n; i++) {
		u64 one = 1;

		__asm__ volatile("lock xaddq %0, %1" : "+r"(one), "+m"(xadd_counter) : : "memory");
	}
}

static void smp_xadd(u64 n)
{
	unsigned cpus = aps_online + 1, finished;
	u64 counter;

	__atomic_store_n(&xadd_counter, 0, __ATOMIC_SEQ_CST);
	finished = smp_run(xadd_job, n, 1, XADD_TIMEOUT_US);
	counter = __atomic_load_n(&xadd_counter, __ATOMIC_SEQ_CST);
	kprintf("counter=%lu expected=%lu cpus=%u\r\n", counter, n * cpus, cpus);
	if (finished + 1 != cpus)
		kprintf("status=error msg=timeout\r\n");
	else if (counter != n * cpus)
		kprintf("status=error msg=mismatch\r\n");
	else
		kprintf("status=ok\r\n");
}

/* ---- `smp churn <passes> <addr> <len> <seed>` ---- */

/* What the job writes: CPU slot k rewrites the k-th of `cpus` shares of the range. */
static struct {
	u64 passes, addr, len, seed;
	unsigned cpus;
} churn;

static void churn_job(unsigned slot, u64 arg)
{
	u64 share = churn.len / 8 / churn.cpus * 8;
	u64 start = churn.addr + slot * share;
	u64 len = slot + 1 == churn.cpus ? churn.addr + churn.len - start : share;

	(void)arg;
	if (slot < churn.cpus)
		mem_churn_range(churn.passes, start, len, churn.seed);
}

/*
 * Every online CPU rewrites its share of the range with `mem fill`'s pattern
 * at once, so a live migration sees pages dirtied by several vCPUs; the
 * result is one `mem fill` of the whole range.
 */
static void smp_churn(char *args)
{
	unsigned finished;
	char *s = args;

	if (!arg_u64(&s, &churn.passes) || !churn.passes) {
		kprintf("status=error msg=bad-arguments\r\n");
		return;
	}
	if (!mem_args(s, &churn.addr, &churn.len, &churn.seed))
		return;
	churn.cpus = aps_online + 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	finished = smp_run(churn_job, 0, 1, XADD_TIMEOUT_US);
	kprintf("churned=%lu cpus=%u\r\n", churn.passes, churn.cpus);
	if (finished + 1 != churn.cpus)
		kprintf("status=error msg=timeout\r\n");
	else
		kprintf("status=ok\r\n");
}

void smp_command(char *args)
{
	const char *end;
	u64 n;

	while (*args == ' ')
		args++;
	if (!strncmp(args, "churn ", 6)) {
		smp_churn(args + 6);
		return;
	}
	if (strncmp(args, "xadd ", 5)) {
		kprintf("status=error msg=bad-arguments\r\n");
		return;
	}
	for (args += 5; *args == ' '; args++)
		;
	if (!parse_u64(args, &end, &n) || (*end && *end != ' ') || !n || n > XADD_MAX) {
		kprintf("status=error msg=bad-arguments\r\n");
		return;
	}
	while (*end == ' ')
		end++;
	if (*end) {
		kprintf("status=error msg=bad-arguments\r\n");
		return;
	}
	smp_xadd(n);
}
