/*
 * TSC-based delays.  Only loose accuracy is needed (AP start-up timeout,
 * poweroff grace period), so the frequency comes from the first source that
 * answers: kvmclock's scale factors, the KVM/VMware leaf 0x40000010, CPUID
 * 0x15, CPUID 0x16, else an assumed 2 GHz.  (A PIT measurement was tried and
 * dropped: under the paging-based hypervisor it came out 6x too high.)
 */
#include "guest.h"

#define DEFAULT_TSC_KHZ 2000000ULL

u64 tsc_khz;

/* The KVM/VMware timing leaf: EAX = TSC kHz, EBX = APIC bus kHz. */
static int timing_leaf(u32 r[4])
{
	cpuid(1, 0, r);
	if (!(r[2] & (1U << 31)))
		return 0;
	cpuid(0x40000000, 0, r);
	if (r[0] < 0x40000010)
		return 0;
	cpuid(0x40000010, 0, r);
	return 1;
}

static u64 khz_from_hypervisor_leaf(void)
{
	u32 r[4];

	return timing_leaf(r) ? r[0] : 0;
}

u32 apic_bus_khz(void)
{
	u32 r[4];

	return timing_leaf(r) ? r[1] : 0;
}

static u64 khz_from_cpuid(void)
{
	u32 r[4], max;

	cpuid(0, 0, r);
	max = r[0];
	if (max >= 0x15) {
		cpuid(0x15, 0, r);
		if (r[0] && r[1] && r[2])
			return (u64)r[2] * r[1] / r[0] / 1000;
	}
	if (max >= 0x16) {
		cpuid(0x16, 0, r);
		if (r[0])
			return (u64)r[0] * 1000;
	}
	return 0;
}

/* kvmclock (enabled in cpl0.c): ns = ((tsc << shift) * mul) >> 32. */
static u64 khz_from_kvmclock(void)
{
	u32 version, mul;
	int shift;
	u64 khz;

	do {
		version = pvclock.version;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		mul = pvclock.tsc_to_system_mul;
		shift = pvclock.tsc_shift;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((version & 1) || version != pvclock.version);
	if (!version || !mul)
		return 0;
	khz = (1000000ULL << 32) / mul;
	return shift >= 0 ? khz >> shift : khz << -shift;
}

void time_init(void)
{
	u64 khz = khz_from_kvmclock();

	if (!khz)
		khz = khz_from_hypervisor_leaf();
	if (!khz)
		khz = khz_from_cpuid();
	if (khz < 100000 || khz > 20000000) /* implausible: below 100 MHz or above 20 GHz */
		khz = DEFAULT_TSC_KHZ;
	tsc_khz = khz;
}

u64 tsc_deadline(u64 us)
{
	u64 khz = tsc_khz ? tsc_khz : DEFAULT_TSC_KHZ;

	return rdtsc() + us * khz / 1000;
}

int tsc_passed(u64 deadline)
{
	return (int64_t)(rdtsc() - deadline) >= 0;
}

void udelay(u64 us)
{
	u64 end = tsc_deadline(us);

	while (!tsc_passed(end))
		cpu_relax();
}

u64 tsc_to_us(u64 ticks)
{
	return ticks * 1000 / (tsc_khz ? tsc_khz : DEFAULT_TSC_KHZ);
}
