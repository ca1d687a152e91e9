/* CPL3 entry of the BSP: device and SMP set-up, then the shell. */
#include "guest.h"

void cpl3_main(void) __attribute__((noreturn));
void cpl3_main(void)
{
	extern u8 __bss_start[], __bss_end[];

	memset(__bss_start, 0, __bss_end - __bss_start);
	uart_init();
	time_init();
	bootinfo_init();        /* before anything reuses low memory */
	mptable_parse();
	virtio_pci_discover();
	apic_init();
	smp_start_aps();
	if (cmdline_has("guest.timing"))
		kprintf("timing cpl0_us=%lu cpl3_us=%lu tsc_khz=%lu\r\n",
			tsc_to_us(boot_tsc[1] - boot_tsc[0]), tsc_to_us(rdtsc() - boot_tsc[1]),
			tsc_khz);
	kprintf("stratus-testguest version=%s entry=%u\r\n", GUEST_VERSION_STR, boot_entry);
	shell_run();
}
