/*
 * The `intr` command (docs/guest-shell.md): the guest taking interrupts and
 * exceptions instead of polling.  Only for hosts that can deliver them (the
 * software CPUs: Stratus's emu, QEMU's tcg); on the nested KVM hosts an
 * interrupt delivered to the guest kills it, so nothing here runs at boot and
 * the tests never run it on KVM.
 *
 * The IDT has room for all 256 vectors (cpl0.c, head.S) and is user-mapped,
 * so the gates for vectors 32-255 are written here, at CPL3, on first use:
 * interrupt gates to KERNEL_CS, so an interrupt at CPL3 switches to the
 * TSS.RSP0 stack, and the timer's gate to IST1 as well.  The handlers are the
 * head.S stubs plus intr_dispatch(): count per CPU and per kind, read what the
 * device needs read, EOI.  The shell keeps running with IF=0; each subcommand
 * opens a window with IF=1 and closes it again before printing.
 */
#include "virtio.h"

#define VEC_TIMER       0xF0
#define VEC_IPI         0xF1
#define VEC_SPURIOUS    0xFF            /* LAPIC SVR, apic.c */
#define VEC_BP          3
#define VEC_UD          6
#define IRQ_VECTOR(irq) (0x20 + (irq))  /* the IOAPIC routing of apic.c */
#define COM1_IRQ        4

#define ICR_FIXED       0x00004000      /* fixed, physical, assert */
#define IPI_WAIT_US     1000000ULL
#define AP_JOB_US       1000000ULL
#define BLK_IRQ_US      10000000ULL
#define DRAIN_US        1000ULL
#define MAX_MS          60000ULL
#define MAX_HZ          100000ULL

#define IIR_ID_MASK     0x0F
#define IIR_RX_DATA     0x04
#define IIR_RX_TIMEOUT  0x0C
#define IER_RX          0x01
#define IER_RX_THRE     0x03            /* uart_init()'s setting */
#define RX_TEXT_MAX     200

/* What a vector is, for counting and for what the handler does. */
enum { IV_OTHER, IV_TIMER, IV_IPI, IV_COM1, IV_BLK, IV_SPURIOUS, IV_UD, IV_BP, IV_MAX };

/* As head.S's intr_common leaves the stack: saved registers, then the vector
 * pushed by the stub, then the CPU's frame (no error code). */
struct intr_frame {
	u64 r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	u64 vector;
	u64 rip, cs, rflags, rsp, ss;
};

static u8 kind_of[NUM_VECTORS];
static volatile u32 counts[MAX_CPUS][IV_MAX];
static volatile u32 timer_on_ist, timer_from_cpl3;
static volatile u32 rx_irqs, rx_len, rx_eol;
static char rx_text[RX_TEXT_MAX + 1];
static struct virtio_dev *volatile blk_vd;
static volatile u32 blk_isr;

/* Set before `intr fault` provokes a trap: where the trap must resume. */
static volatile struct {
	u32 count;
	u64 cs, rip;
} trap[IV_MAX];
static volatile u64 trap_resume;

static void ok(void) { kprintf("status=ok\r\n"); }
static void fail(const char *msg) { kprintf("status=error msg=%s\r\n", msg); }

/* This CPU's slot: its task register (one TSS per CPU, smp.c). */
static unsigned this_cpu(void)
{
	u16 tr;

	__asm__ volatile("str %0" : "=r"(tr));
	return (unsigned)(tr - TSS_SEL_BASE) / 16;
}

/* ---- handlers (CPL0, IF=0) ---- */

static void serial_irq(void)
{
	u8 id = uart_iir() & IIR_ID_MASK;   /* also acknowledges a THRE interrupt */
	int c;

	if (id != IIR_RX_DATA && id != IIR_RX_TIMEOUT)
		return;
	rx_irqs++;
	while ((c = uart_getc()) >= 0) {
		if (c == '\r' || c == '\n')
			rx_eol = 1;
		else if (!rx_eol && rx_len < RX_TEXT_MAX)
			rx_text[rx_len++] = (char)c;
	}
}

/* #UD and #BP provoked by `intr fault`: record, then resume after the
 * instruction (ud2 is a fault, 2 bytes; int3 a trap, RIP is already past it).
 * A wrong saved RIP resumes at trap_resume rather than looping. */
static void trap_handler(struct intr_frame *f, unsigned kind)
{
	const u8 *p = phys(f->rip);

	trap[kind].count++;
	trap[kind].cs = f->cs;
	trap[kind].rip = f->rip;
	if (kind == IV_UD && p[0] == 0x0F && p[1] == 0x0B)
		f->rip += 2;
	if (f->rip != trap_resume)
		f->rip = trap_resume;
}

void intr_dispatch(struct intr_frame *f);
void intr_dispatch(struct intr_frame *f)
{
	unsigned cpu = this_cpu(), kind = kind_of[f->vector & 0xFF];

	if (cpu < MAX_CPUS)
		counts[cpu][kind]++;
	switch (kind) {
	case IV_UD:
	case IV_BP:
		trap_handler(f, kind);
		return;                 /* exceptions: nothing to EOI */
	case IV_SPURIOUS:
		return;                 /* never EOIed */
	case IV_TIMER:
		if ((u64)f >= (u64)&ist_stacks[cpu * IST_STACK_SIZE] &&
		    (u64)f < (u64)&ist_stacks[(cpu + 1) * IST_STACK_SIZE])
			timer_on_ist++;
		if ((f->cs & 3) == 3)
			timer_from_cpl3++;
		break;
	case IV_COM1:
		serial_irq();
		break;
	case IV_BLK:
		if (blk_vd)
			blk_isr |= virtio_ack_interrupt(blk_vd);
		break;
	}
	lapic_eoi();
}

/* ---- gates ---- */

static void set_gate(u32 v, u32 dpl, u32 ist)
{
	u64 h = (u64)&intr_stubs[16 * v];

	idt[2 * v] = (h & 0xFFFF) | (u64)KERNEL_CS << 16 | (u64)ist << 32 |
		     (0x8EULL | dpl << 5) << 40 | ((h >> 16) & 0xFFFF) << 48;
	idt[2 * v + 1] = h >> 32;
}

/*
 * Every vector from 32 up gets a gate (a stale IRR bit, e.g. COM1's THRE
 * interrupts from the last prompt, is delivered as soon as IF=1: a missing
 * gate would be a #NP), and every online CPU an IST1 stack.
 */
static void intr_install(void)
{
	static int installed;

	if (!installed) {
		for (u32 v = NUM_EXCEPTIONS; v < NUM_VECTORS; v++)
			set_gate(v, 0, v == VEC_TIMER);
		kind_of[VEC_TIMER] = IV_TIMER;
		kind_of[VEC_IPI] = IV_IPI;
		kind_of[VEC_SPURIOUS] = IV_SPURIOUS;
		kind_of[IRQ_VECTOR(COM1_IRQ)] = IV_COM1;
		kind_of[VEC_UD] = IV_UD;
		kind_of[VEC_BP] = IV_BP;
		installed = 1;
	}
	for (unsigned s = 0; s <= aps_online; s++)
		tss[s].ist[0] = (u64)&ist_stacks[(s + 1) * IST_STACK_SIZE];
}

/* Gates, then whatever was pending is taken, and the counters start at zero. */
static void intr_begin(void)
{
	intr_install();
	sti();
	udelay(DRAIN_US);
	cli();
	memset((void *)counts, 0, sizeof(counts));
}

/* IF=1 until done() says so or `us` pass; returns done()'s last answer. */
static int intr_window(u64 us, int (*done)(void))
{
	u64 end = tsc_deadline(us);
	int r = 0;

	sti();
	while (!(done && (r = done())) && !tsc_passed(end))
		cpu_relax();
	cli();
	return r;
}

/* ---- intr timer <hz> <ms> ---- */

/* DCR encodings of the dividers 1, 2, 4, ... 128. */
static const u8 dcr_of_div[] = { 0xB, 0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA };

static void intr_timer(u64 hz, u64 ms)
{
	u64 khz = apic_bus_khz(), count;
	unsigned d = 0;

	if (!khz) {
		fail("no-bus-freq");
		return;
	}
	count = khz * 1000 / hz;
	while (count >> d > 0xFFFFFFFFULL && d + 1 < ARRAY_SIZE(dcr_of_div))
		d++;
	count >>= d;
	if (!count || count > 0xFFFFFFFFULL) {
		fail("bad-arguments");
		return;
	}
	intr_begin();
	timer_on_ist = timer_from_cpl3 = 0;
	lapic_timer_periodic(VEC_TIMER, (u32)count, dcr_of_div[d]);
	intr_window(ms * 1000, 0);
	lapic_timer_stop();
	kprintf("ticks=%u expected=%lu ist=%u cpl3=%u\r\n", counts[0][IV_TIMER], hz * ms / 1000,
		timer_on_ist, timer_from_cpl3);
	ok();
}

/* ---- intr ipi ---- */

/* Runs on each AP (smp_run): its LAPIC must be enabled to accept fixed IPIs;
 * IF stays as set here while the AP spins in ap_main(). */
static void ap_intr(unsigned slot, u64 on)
{
	(void)slot;
	if (on) {
		lapic_enable();
		sti();
	} else {
		cli();
	}
}

static void intr_ipi(void)
{
	unsigned aps = aps_online, sent = 0, received = 0;

	if (!aps) {
		fail("no-aps");
		return;
	}
	intr_begin();
	if (smp_run(ap_intr, 1, 0, AP_JOB_US) != aps) {
		smp_run(ap_intr, 0, 0, AP_JOB_US);
		fail("ap-timeout");
		return;
	}
	for (unsigned s = 1; s <= aps; s++) {
		u64 end = tsc_deadline(IPI_WAIT_US);

		lapic_send_ipi(slot_apic_id[s], ICR_FIXED | VEC_IPI);
		sent++;
		while (!counts[s][IV_IPI] && !tsc_passed(end))
			cpu_relax();
	}
	smp_run(ap_intr, 0, 0, AP_JOB_US);
	for (unsigned s = 1; s <= aps; s++)
		received += counts[s][IV_IPI];
	kprintf("ipi_sent=%u ipi_received=%u\r\n", sent, received);
	if (sent == received)
		ok();
	else
		fail("lost-ipi");
}

/* ---- intr fault ---- */

static int fault_one(const char *name, unsigned kind)
{
	u32 v = kind == IV_UD ? VEC_UD : VEC_BP;
	u64 gate[2] = { idt[2 * v], idt[2 * v + 1] };
	volatile u32 resumed = 0;
	int cpl, rip_ok;
	u64 at, tmp;

	trap[kind].count = 0;
	/* int3 is a software interrupt: from CPL3 it needs a DPL3 gate. */
	set_gate(v, kind == IV_BP ? 3 : 0, 0);
	/* at = the RIP the CPU must save: ud2 itself (a fault), or the
	 * instruction after int3 (a trap); label 2 is where both resume. */
	if (kind == IV_UD)
		__asm__ volatile("lea 2f(%%rip), %1\n\t"
				 "movq %1, %3\n\t"
				 "lea 1f(%%rip), %0\n"
				 "1:\tud2\n"
				 "2:\tmovl $1, %2"
				 : "=&r"(at), "=&r"(tmp), "=m"(resumed), "=m"(trap_resume) : : "memory");
	else
		__asm__ volatile("lea 2f(%%rip), %0\n\t"
				 "movq %0, %1\n\t"
				 "movq %1, %3\n\t"
				 "int3\n"
				 "2:\tmovl $1, %2"
				 : "=&r"(at), "=&r"(tmp), "=m"(resumed), "=m"(trap_resume) : : "memory");
	idt[2 * v] = gate[0];
	idt[2 * v + 1] = gate[1];
	cpl = trap[kind].count ? (int)(trap[kind].cs & 3) : -1;
	rip_ok = trap[kind].count && trap[kind].rip == at;
	kprintf("fault=%s handled=%u from_cpl=%d rip_ok=%u resumed=%u\r\n", name, trap[kind].count,
		cpl, rip_ok, resumed);
	return trap[kind].count == 1 && cpl == 3 && rip_ok && resumed;
}

static void intr_fault(void)
{
	int good;

	intr_install();
	good = fault_one("ud", IV_UD);

	good &= fault_one("bp", IV_BP);
	if (good)
		ok();
	else
		fail("mismatch");
}

/* ---- intr serial <ms> ---- */

static int rx_line_done(void)
{
	return rx_eol;
}

static void intr_serial(u64 ms)
{
	intr_begin();
	rx_irqs = rx_len = rx_eol = 0;
	/* Received data only: THR-empty interrupts would follow every byte printed. */
	uart_set_ier(IER_RX);
	kprintf("serial=ready\r\n");
	intr_window(ms * 1000, rx_line_done);
	uart_set_ier(IER_RX_THRE);
	rx_text[rx_len] = 0;
	kprintf("rx_irqs=%u text=%s\r\n", rx_irqs, rx_text);
	if (rx_eol)
		ok();
	else
		fail("timeout");
}

/* ---- intr blk ---- */

static int blk_irq_done(void)
{
	return counts[0][IV_BLK] && (blk_isr & 1);
}

/* blk_read_intr()'s wait: the request is in flight, take its interrupt. */
static void blk_wait(struct virtio_dev *vd)
{
	blk_vd = vd;
	kind_of[IRQ_VECTOR(vd->irq)] = IV_BLK;
	intr_window(BLK_IRQ_US, blk_irq_done);
}

static void intr_blk(void)
{
	const u8 *data = 0;
	int st;

	blk_init();             /* before the drain: its own interrupts are stale */
	intr_begin();
	blk_isr = 0;
	st = blk_read_intr(0, 0, 1, blk_wait, &data);
	if (blk_vd)
		kind_of[IRQ_VECTOR(blk_vd->irq)] = IV_OTHER;
	blk_vd = 0;
	if (st) {
		fail(blk_status_msg(st));
		return;
	}
	kprintf("blk_irqs=%u isr_used=%u sectors=1 bytes=512 crc32=0x%08x\r\n", counts[0][IV_BLK],
		blk_isr & 1, crc32_update(0, data, 512));
	if (counts[0][IV_BLK])
		ok();
	else
		fail("no-interrupt");
}

/* ---- the command ---- */

/* A number in [1, max]. */
static int num(char **s, u64 max, u64 *v)
{
	return arg_u64(s, v) && *v && *v <= max;
}

void intr_command(char *args)
{
	char *s = args, *w = arg_word(&s);
	u64 a, b;

	if (!strncmp(w, "timer", 6) && num(&s, MAX_HZ, &a) && num(&s, MAX_MS, &b) && arg_end(s))
		intr_timer(a, b);
	else if (!strncmp(w, "ipi", 4) && arg_end(s))
		intr_ipi();
	else if (!strncmp(w, "fault", 6) && arg_end(s))
		intr_fault();
	else if (!strncmp(w, "serial", 7) && num(&s, MAX_MS, &a) && arg_end(s))
		intr_serial(a);
	else if (!strncmp(w, "blk", 4) && arg_end(s))
		intr_blk();
	else
		fail("bad-arguments");
}
