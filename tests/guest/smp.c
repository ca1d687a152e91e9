/*
 * Application processor start-up, driven from CPL3: the BSP copies the
 * trampoline to low memory, prepares the AP's TSS (the GDT is user-mapped
 * memory), and sends INIT + SIPI + SIPI through the ICR.  APs are started one
 * at a time because they share the trampoline's parameter block.
 */
#include "guest.h"

#define ICR_INIT    0x00004500  /* INIT, level assert */
#define ICR_STARTUP 0x00004600
#define AP_TIMEOUT_US 1000000

struct tramp_params {
	u64 cr3;
	u64 ustack;
	u64 cpu;
	u64 tss_sel;
};

volatile u32 aps_online;

void ap_main(u64 cpu)
{
	(void)cpu;
	__atomic_fetch_add(&aps_online, 1, __ATOMIC_SEQ_CST);
	for (;;)
		cpu_relax();
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

	if (nr_cpus < 2)
		return;
	tp = tramp_install();
	for (unsigned cpu = 0, slot = 1; cpu < nr_cpus && slot < MAX_CPUS; cpu++)
		if (cpu_apic_id[cpu] != self && !start_ap(tp, cpu_apic_id[cpu], slot++))
			break; /* a dead AP: report fewer rather than wait again */
}
