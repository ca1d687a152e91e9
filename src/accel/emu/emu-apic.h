/*
 * Interrupt controllers of the software-CPU accelerator (emu): one xAPIC per
 * vCPU, the 82093AA IOAPIC, the 8259A pair and the 8254 PIT.
 *
 * They play the role of KVM's in-kernel irqchip, so the guest sees what it
 * sees under kvm: xAPIC at 0xFEE00000 (version 0x14, 6 LVT entries),
 * IOAPIC id 0 version 0x20 with 24 pins at 0xFEC00000, PIC and PIT on the
 * legacy ports. They are part of the accelerator, not devices: nothing here
 * depends on src/hw or src/qmp.
 *
 * Threads and locks
 *   - Each LAPIC has its own mutex. emu_lapic_read/write, the MSR/CR8 helpers,
 *     take_events, pending_vector, ack and the timer functions are called by
 *     that LAPIC's vCPU thread (without the machine lock); deliveries come
 *     from any thread.
 *   - The IOAPIC (and the GSI line state), the PIC pair and the PIT each have
 *     their own mutex. Order: pit -> ioapic -> pic, ioapic -> lapic. No two
 *     LAPIC locks are ever held together.
 *   - Wakers are called with none of these locks held, but possibly from a
 *     thread holding the machine lock (set_irq comes from the main loop):
 *     a waker must only signal/kick, never take the machine lock nor call
 *     back into this API.
 *   - emu_lapic_has_events() is lock-free.
 *
 * Time is read from the caller's clock (nanoseconds, monotonic); nothing here
 * creates threads or timers. The CPU side polls the LAPIC timer on every vCPU
 * and the PIT on the BSP (see emu_lapic_timer_deadline, emu_pit_deadline).
 */
#ifndef STRATUS_EMU_APIC_H
#define STRATUS_EMU_APIC_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "accel/x86-vm-state.h"
#include "memory.h"

#define EMU_LAPIC_BASE   0xFEE00000ULL
#define EMU_LAPIC_SIZE   0x1000
#define EMU_IOAPIC_BASE  0xFEC00000ULL
#define EMU_IOAPIC_SIZE  0x1000
#define EMU_IOAPIC_PINS  24
/* xAPIC ids are 8 bits and 0xFF is the broadcast id. */
#define EMU_APIC_MAX_CPUS 255

/* Time: nanoseconds from a caller-supplied monotonic clock (unit tests pass a fake one). */
typedef uint64_t (*EmuClockFn)(void *opaque);
#define EMU_TSC_KHZ 1000000ULL      /* the guest's TSC runs at 1 GHz: tsc = clock ns */
#define EMU_APIC_BUS_KHZ 1000000ULL /* LAPIC timer input clock before the divider: 1 GHz */
#define EMU_PIT_HZ 1193182ULL
/*
 * IA32_APIC_BASE bits above this are reserved (#GP). The CPU side should
 * report the same MAXPHYADDR in CPUID 0x80000008.
 */
#define EMU_APIC_PHYS_BITS 40

/* Delivery modes (ICR bits 10:8, IOAPIC redirection entry bits 10:8). */
enum {
    EMU_APIC_DM_FIXED = 0,
    EMU_APIC_DM_LOWEST = 1,
    EMU_APIC_DM_SMI = 2,
    EMU_APIC_DM_NMI = 4,
    EMU_APIC_DM_INIT = 5,
    EMU_APIC_DM_SIPI = 6,
    EMU_APIC_DM_EXTINT = 7,
};

typedef struct EmuApicBus EmuApicBus;   /* all LAPICs of one machine, the IOAPIC, PIC, PIT and the clock */
typedef struct EmuLapic EmuLapic;

/*
 * ncpus in [1, EMU_APIC_MAX_CPUS], else NULL. Every LAPIC starts in its
 * power-on state with apic_id = index, index 0 being the BSP.
 */
EmuApicBus *emu_apic_bus_new(unsigned ncpus, EmuClockFn clock, void *clock_opaque);
void emu_apic_bus_free(EmuApicBus *bus);
/* NULL if cpu_index >= ncpus. */
EmuLapic *emu_apic_bus_lapic(EmuApicBus *bus, unsigned cpu_index);
/*
 * System reset of the IOAPIC, PIC and PIT (the LAPICs are reset per vCPU by
 * emu_lapic_reset). Device line levels are kept: they belong to the devices.
 */
void emu_apic_bus_reset(EmuApicBus *bus);
/*
 * The IOAPIC pin PIT channel 0 drives (it always drives PIC IRQ0). Default 0:
 * KVM's default GSI routing, which the kvm accelerator uses, sends the
 * in-kernel PIT's GSI 0 to IOAPIC pin 0, and the microvm MP table says ISA
 * IRQ0 -> pin 0. A board that declares an IRQ0 -> pin 2 override sets 2.
 */
void emu_apic_bus_set_pit_ioapic_pin(EmuApicBus *bus, unsigned pin);

/*
 * Called when something becomes pending for this LAPIC's CPU (an interrupt
 * in IRR that may be deliverable, INIT, SIPI, NMI, ExtINT from the PIC, PIT
 * reprogrammed for the BSP): the CPU side wakes its thread from hlt. Set it
 * before the vCPU threads start.
 */
void emu_lapic_set_waker(EmuLapic *l, void (*wake)(void *opaque), void *opaque);
/*
 * Power-on state; apic_id = cpu index; bsp sets the BSP bit in
 * IA32_APIC_BASE. Clears pending events and the wait-for-SIPI state (an AP
 * needs INIT before a SIPI, as under kvm). As kvm does, the BSP's LINT0
 * starts unmasked in ExtINT mode so that the PIC reaches it.
 */
void emu_lapic_reset(EmuLapic *l, uint32_t apic_id, bool bsp);
/*
 * xAPIC MMIO, 4-byte aligned offset in [0, 0x1000); other offsets read 0
 * and ignore writes. As kvm: the CPU side serves a 1- or 2-byte read from
 * the containing dword and drops writes that are not 4 bytes wide.
 */
uint32_t emu_lapic_read(EmuLapic *l, uint32_t offset);
void emu_lapic_write(EmuLapic *l, uint32_t offset, uint32_t value);
uint64_t emu_lapic_get_apic_base(EmuLapic *l);                      /* MSR 0x1B */
/*
 * false -> #GP (reserved bits, x2APIC enable). The BSP bit is read-only.
 * The CPU side maps the LAPIC page at the base it returns while bit 11 is set.
 */
bool emu_lapic_set_apic_base(EmuLapic *l, uint64_t v);
/* MSR 0x6E0; reads 0 and ignores writes unless the LVT timer is in TSC-deadline mode. */
uint64_t emu_lapic_get_tsc_deadline(EmuLapic *l);
void emu_lapic_set_tsc_deadline(EmuLapic *l, uint64_t tsc);
/*
 * The guest TSC the CPU side shows is clock_ns * EMU_TSC_KHZ / 1e6 + offset
 * (offset 0 after bus creation; not touched by reset). Tell the LAPIC when
 * the CPU side changes it (IA32_TSC writes...) so TSC deadlines stay right.
 */
void emu_lapic_set_tsc_offset(EmuLapic *l, int64_t offset);
uint64_t emu_lapic_get_cr8(EmuLapic *l);    /* TPR[7:4] */
void emu_lapic_set_cr8(EmuLapic *l, uint64_t v);   /* caller #GPs on v > 15 */

/* CPU side, polled by the vCPU thread between instructions. */
enum { EMU_LAPIC_EV_INIT = 1, EMU_LAPIC_EV_SIPI = 2, EMU_LAPIC_EV_NMI = 4 };
/*
 * Returns and clears the event bits. Handle INIT before SIPI when both are
 * set. On EV_INIT the LAPIC is already in its INIT state; the CPU resets
 * itself and, unless it is the BSP (emu_lapic_is_bsp), stops executing until
 * an EV_SIPI, then starts in real mode at CS = vector << 8, IP = 0.
 */
unsigned emu_lapic_take_events(EmuLapic *l, uint8_t *sipi_vector);
/*
 * Lock-free hint: true if events or an interrupt (LAPIC or ExtINT) may be
 * pending. Cheap enough for every few instructions. Timer expiry is not
 * included: compare the deadlines with the clock.
 */
bool emu_lapic_has_events(EmuLapic *l);
/*
 * Highest-priority vector deliverable now: ExtINT from the PIC first (LVT
 * LINT0 unmasked in ExtINT mode, or the LAPIC hardware-disabled, or an ExtINT
 * redirected by the IOAPIC), then IRR above PPR with the LAPIC enabled.
 * -1 if none. Does not look at RFLAGS.IF: the CPU does.
 */
int emu_lapic_pending_vector(EmuLapic *l);
/*
 * The CPU takes the interrupt (IF=1): for ExtINT the PIC's INTA cycle
 * (possibly its spurious IRQ7/15 vector), else IRR -> ISR. Returns the
 * vector, -1 if nothing is pending any more.
 */
int emu_lapic_ack(EmuLapic *l);
/* Clock ns of the next timer expiry, UINT64_MAX if none. */
uint64_t emu_lapic_timer_deadline(EmuLapic *l);
/* Fires the timer if expired (sets IRR, re-arms periodic; missed periods coalesce). */
void emu_lapic_timer_poll(EmuLapic *l);
bool emu_lapic_is_bsp(EmuLapic *l);
/* True between an INIT (to an AP) and the next SIPI. */
bool emu_lapic_waiting_for_sipi(EmuLapic *l);

/*
 * Saving and loading one LAPIC with its vCPU parked (accel.h vcpu_get_state).
 * regs is the first KiB of the register page as KVM's struct
 * kvm_lapic_state has it: each register's 32-bit little-endian value at its
 * MMIO offset, TMCCT being the current count at the save (a load restarts
 * the timer from it; a TSC-deadline timer from tsc_deadline). The other
 * fields are the state the page does not show.
 */
typedef struct EmuLapicState {
    uint8_t regs[1024];
    uint64_t apic_base;          /* IA32_APIC_BASE, BSP bit included */
    uint64_t tsc_deadline;       /* IA32_TSC_DEADLINE, 0: disarmed */
    int64_t tsc_offset;          /* as emu_lapic_set_tsc_offset */
    uint32_t esr_pending;        /* errors since the last ESR write */
    unsigned events;             /* EMU_LAPIC_EV_* the CPU has not taken */
    uint8_t sipi_vector;         /* with EMU_LAPIC_EV_SIPI */
    bool wait_for_sipi;          /* INIT accepted, SIPI not yet */
    bool extint_latched;         /* an ExtINT message from the IOAPIC */
} EmuLapicState;
void emu_lapic_save(EmuLapic *l, EmuLapicState *s);
/*
 * false, changing nothing, if apic_base has reserved bits set (as
 * emu_lapic_set_apic_base). Read-only registers (LVR, PPR) are ignored and
 * writable ones masked as guest writes are. Wakes nobody: the vCPU is parked
 * and looks at its events when it runs again.
 */
bool emu_lapic_load(EmuLapic *l, const EmuLapicState *s);

/*
 * The IOAPIC, PIC pair, PIT and GSI line levels as an X86VmState (accel.h
 * vm_get_state), with every vCPU parked. save first signals a PIT channel 0
 * expiry that is due (as the BSP's next poll would), then fills ioapic,
 * pic[], pit and gsi_level and sets X86_VM_STATE_IRQCHIP and _PIT; version
 * and clock_ns are the caller's. load refuses, changing nothing, what emu
 * cannot hold beyond x86_vm_state_check (a GSI above 23 asserted, an ELCR
 * mask of another chipset); parts st lacks go to their power-on state. It
 * delivers nothing: an edge the IOAPIC held undelivered (kvm's irr) is
 * dropped, the PIC's output is recomputed and the BSP woken to re-read the
 * PIT deadline.
 */
void emu_apic_bus_save(EmuApicBus *bus, X86VmState *st);
bool emu_apic_bus_load(EmuApicBus *bus, const X86VmState *st, GError **err);

/*
 * Interrupt delivery (IOAPIC redirection, MSI-style). dest is the 8-bit xAPIC
 * destination (0xFF = broadcast); logical selects flat/cluster matching by
 * each LAPIC's DFR/LDR. Lowest priority goes to the lowest-index match.
 */
void emu_apic_bus_deliver(EmuApicBus *bus, uint32_t dest, bool logical, unsigned delivery_mode,
                          uint8_t vector, bool level_trig);

/* IOAPIC. GSI i < 16 also drives PIC input i (except 2, the cascade). */
void emu_ioapic_set_irq(EmuApicBus *bus, unsigned pin, bool level);   /* GSI 0..23 */
/*
 * IOREGSEL 0x00, IOWIN 0x10, EOI 0x40; 4-byte accesses (8 = the low 4).
 * Anything else: writes ignored, reads 0.
 */
uint64_t emu_ioapic_read(EmuApicBus *bus, uint64_t offset, unsigned size);
void emu_ioapic_write(EmuApicBus *bus, uint64_t offset, uint64_t value, unsigned size);
/* Registers EMU_IOAPIC_SIZE bytes at EMU_IOAPIC_BASE. */
bool emu_ioapic_register(EmuApicBus *bus, IoBus *mmio, GError **err);

/*
 * PIC + PIT on port I/O: 0x20-0x21, 0xA0-0xA1, 0x4D0-0x4D1 (ELCR), 0x40-0x43,
 * 0x61. On failure nothing stays registered.
 */
bool emu_pic_pit_register(EmuApicBus *bus, IoBus *pio, GError **err);
void emu_pic_pit_unregister(EmuApicBus *bus, IoBus *pio);
/*
 * PIT channel 0 (IRQ0). The BSP thread sleeps no later than
 * emu_pit_deadline() (UINT64_MAX: none) and then calls emu_pit_poll(), which
 * pulses IRQ0 once per expiry (missed periods coalesce, as a late hrtimer).
 * Reprogramming channel 0 wakes LAPIC 0 so it can re-read the deadline.
 */
uint64_t emu_pit_deadline(EmuApicBus *bus);
void emu_pit_poll(EmuApicBus *bus);

#endif
