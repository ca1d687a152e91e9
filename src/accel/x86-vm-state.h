/*
 * The state of an x86 VM outside its vCPUs and RAM, independent of the
 * accelerator: what AccelOps.vm_get_state reports and vm_set_state loads
 * (accel.h). It is the interrupt controllers and timers that kvm keeps in
 * the kernel and emu in user space (IOAPIC, the 8259 pair, the 8254 PIT),
 * the GSI line levels and the guest clock.
 *
 * Plain data with a version, no pointers and no KVM types. Register
 * values are in the chips' own terms (8259 and 8254 internal registers as
 * the data sheets and KVM's kvm_pic_state / kvm_pit_channel_state name
 * them, IOAPIC redirection entries as the guest reads them), so kvm and emu
 * fill it alike. Times are durations or guest time, never a host clock, so
 * a state loads on another host. docs/accelerators.md, "VM state and
 * dirty-page log", has the rules in prose.
 */
#ifndef STRATUS_X86_VM_STATE_H
#define STRATUS_X86_VM_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <glib.h>

/* Bumped on any change of the layout or of a field's meaning. */
#define X86_VM_STATE_VERSION 1

#define X86_IOAPIC_PINS 24
/* GSIs gsi_level can describe; the IOAPIC accelerators have X86_IOAPIC_PINS. */
#define X86_VM_MAX_GSI 64

/*
 * flags: which parts the accelerator has. qtest has neither (it models no
 * interrupt controller); loading a state without a part puts that part in
 * its power-on state, as on a freshly created VM.
 */
#define X86_VM_STATE_IRQCHIP 0x1u        /* ioapic and pic[] */
#define X86_VM_STATE_PIT     0x2u        /* pit */
#define X86_VM_STATE_FLAGS   (X86_VM_STATE_IRQCHIP | X86_VM_STATE_PIT)

/* IOAPIC redirection entry bits the checks and conversions look at. */
#define X86_IOAPIC_RTE_VECTOR     0xFFull
#define X86_IOAPIC_RTE_LEVEL      (1ull << 15)
#define X86_IOAPIC_RTE_REMOTE_IRR (1ull << 14)
#define X86_IOAPIC_RTE_MASKED     (1ull << 16)

typedef struct X86IoapicState {
    uint32_t id;                 /* the ID register's bits 27:24, shifted down (0..15) */
    uint32_t regsel;             /* IOREGSEL */
    /*
     * Pins with a request the IOAPIC has latched (KVM's meaning): a
     * level-triggered pin whose line is asserted, or an edge-triggered pin
     * whose edge has not been delivered yet. kvm re-injects these at a
     * load (an undelivered edge is then delivered); emu, which delivers
     * edges at once, drops such an edge and takes level pins from the
     * line levels.
     */
    uint32_t irr;
    uint32_t pad;
    uint64_t redir[X86_IOAPIC_PINS];   /* redirection entries, remote IRR included */
} X86IoapicState;

/* One 8259A. Booleans are 0 or 1. */
typedef struct X86PicState {
    uint8_t last_irr;            /* input levels, for edge detection */
    uint8_t irr, imr, isr;
    uint8_t priority_add;        /* the IR with the highest priority (0..7) */
    uint8_t irq_base;            /* ICW2: vector of IR0 (a multiple of 8) */
    uint8_t read_isr;            /* OCW3: a read of the command port returns ISR (else IRR) */
    uint8_t poll;                /* OCW3 poll command pending */
    uint8_t special_mask;
    uint8_t init_state;          /* 0: initialised; 1, 2, 3: expecting ICW2, ICW3, ICW4 */
    uint8_t auto_eoi;
    uint8_t rotate_on_auto_eoi;
    uint8_t special_fully_nested;
    uint8_t init4;               /* ICW1 announced an ICW4 */
    uint8_t single_mode;         /* ICW1 SNGL: no ICW3 (kvm: always 0) */
    uint8_t elcr;                /* edge/level control (level = 1) */
    uint8_t elcr_mask;           /* ELCR bits the chipset lets the guest set */
    uint8_t pad[7];
} X86PicState;

/* X86PitChannel.mode of a channel no control word has programmed since reset. */
#define X86_PIT_MODE_UNSET 0xFF

/*
 * One 8254 counter, with the read/write state machine of KVM's
 * kvm_pit_channel_state (RW states: 1 LSB, 2 MSB, 3 word low byte next,
 * 4 word high byte next).
 */
typedef struct X86PitChannel {
    uint32_t count;              /* reload value, 1..0x10000 */
    uint16_t latched_count;
    uint8_t count_latched;       /* 0: none; else the RW state of the latch being read */
    uint8_t status_latched;      /* 0 or 1 */
    uint8_t status;
    uint8_t read_state;          /* 0..4 */
    uint8_t write_state;         /* 0..4 */
    uint8_t write_latch;         /* low byte of a word count being written */
    uint8_t rw_mode;             /* control word bits 5:4 (0..3) */
    uint8_t mode;                /* 0..5, or X86_PIT_MODE_UNSET */
    uint8_t bcd;                 /* 0 or 1 */
    uint8_t gate;                /* 0 or 1 */
    /*
     * 1: the counter runs, started elapsed_ns ago (guest time, at the
     * get) by the count write or the gate's rising edge; 0: stopped, a
     * control word written and no count yet (emu; kvm always counts).
     */
    uint8_t counting;
    uint8_t pad[3];
    uint64_t elapsed_ns;
} X86PitChannel;

typedef struct X86PitState {
    X86PitChannel ch[3];
    uint8_t speaker_data_on;     /* port 0x61 bit 1 */
    uint8_t pad[7];
} X86PitState;

typedef struct X86VmState {
    uint32_t version;            /* X86_VM_STATE_VERSION */
    uint32_t flags;              /* X86_VM_STATE_* */
    /*
     * Guest time in ns at the get: the clock the guest's paravirtual clock
     * shows under kvm (KVM_GET_CLOCK), the virtual clock under qtest, and
     * a per-VM clock under emu. A load makes it continue from this value,
     * whatever the host's own clocks say. At most INT64_MAX.
     */
    uint64_t clock_ns;
    /*
     * GSI line levels as the devices drive them (bit n = GSI n; 1 = high).
     * kvm cannot read the level of a line wired to an edge-triggered pin
     * and reports its level-triggered pins' irr bits.
     */
    uint64_t gsi_level;
    X86IoapicState ioapic;       /* with X86_VM_STATE_IRQCHIP */
    X86PicState pic[2];          /* master, slave; with X86_VM_STATE_IRQCHIP */
    X86PitState pit;             /* with X86_VM_STATE_PIT */
} X86VmState;

/* An empty state of the current version (no parts, everything 0). */
static inline void x86_vm_state_init(X86VmState *st)
{
    memset(st, 0, sizeof(*st));
    st->version = X86_VM_STATE_VERSION;
}

/*
 * The checks every accelerator makes before loading anything: version,
 * flags, clock_ns, and for each part present the values no 8259/8254/IOAPIC
 * can hold (IOAPIC id above 15 or irr bits above pin 23; a PIC init_state
 * above 3, an irq_base that is not a multiple of 8, a priority_add above 7,
 * ELCR bits outside elcr_mask, a boolean that is not 0 or 1; a PIT count of
 * 0 or above 0x10000, an unknown mode, rw_mode, read/write or latch state).
 * false with *err naming the first problem.
 */
bool x86_vm_state_check(const X86VmState *st, GError **err);

#endif
