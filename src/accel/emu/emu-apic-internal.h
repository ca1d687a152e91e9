/*
 * State shared by emu-lapic.c, emu-lapic-timer.c, emu-apic-bus.c,
 * emu-ioapic.c, emu-pic.c and emu-pit.c; nothing outside these files
 * includes it. VM state (X86VmState) is saved and loaded chip by chip
 * here, put together in emu-ioapic.c.
 */
#ifndef STRATUS_EMU_APIC_INTERNAL_H
#define STRATUS_EMU_APIC_INTERNAL_H

#include "accel/emu/emu-apic.h"

#define EMU_LAPIC_NR_LVT 6

/*
 * LAPICs to wake once every lock is released: wakers must never run under
 * our locks (see emu-apic.h), so deliveries record targets here and the
 * public entry point calls emu_wake_flush() on the way out.
 */
typedef struct EmuWake {
    uint64_t bits[(EMU_APIC_MAX_CPUS + 63) / 64];
} EmuWake;

static inline void emu_wake_add(EmuWake *w, unsigned index)
{
    w->bits[index / 64] |= 1ULL << (index % 64);
}

struct EmuLapic {
    EmuApicBus *bus;
    unsigned index;
    GMutex lock;
    void (*wake)(void *opaque);
    void *wake_opaque;

    /* Under lock. */
    uint32_t id;                  /* the ID register (id in bits 31:24) */
    uint64_t apic_base;
    uint32_t tpr, ldr, dfr, svr;
    uint32_t esr, esr_pending;    /* ESR as read, errors since the last ESR write */
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[EMU_LAPIC_NR_LVT];
    uint32_t irr[8], isr[8], tmr[8];
    uint32_t timer_icr, timer_dcr;
    uint64_t timer_base_ns;       /* at this time the current count was... */
    uint32_t timer_base_count;    /* ...this (1..icr) */
    uint64_t timer_deadline_ns;   /* next expiry, UINT64_MAX: disarmed */
    uint64_t tsc_deadline;        /* MSR value, 0: disarmed */
    int64_t tsc_offset;           /* guest TSC - clock-derived TSC */
    unsigned events;              /* EMU_LAPIC_EV_* */
    uint8_t sipi_vector;
    bool wait_for_sipi;
    bool extint_latched;          /* an ExtINT message from the IOAPIC */

    /* Atomic, for the lock-free emu_lapic_has_events(). */
    gint hint;                    /* events, deliverable IRR or latched ExtINT */
    gint extint_ok;               /* this LAPIC passes the PIC's INT through */
};

typedef struct EmuIoapic {
    GMutex lock;
    /* Under lock. */
    uint32_t id;
    uint32_t regsel;
    uint64_t redir[EMU_IOAPIC_PINS];
    uint32_t ext_level;           /* GSI line levels driven by devices */
    bool pit_level;               /* PIT channel 0 output (GSI 0 source) */
    uint32_t irr;                 /* pin asserted (after polarity) */
    unsigned pit_pin;
} EmuIoapic;

typedef struct EmuPicChip {
    uint8_t last_irr;             /* input levels, for edge detection */
    uint8_t irr, imr, isr;
    uint8_t priority_add;         /* the IR with the highest priority */
    uint8_t irq_base;
    uint8_t init_state;           /* 0: OCW, 1..3: expecting ICW2..ICW4 */
    uint8_t elcr, elcr_mask;
    bool read_isr, poll, special_mask, auto_eoi, rotate_on_auto_eoi;
    bool special_fully_nested, init4, single_mode;
} EmuPicChip;

typedef struct EmuPic {
    GMutex lock;
    EmuPicChip chip[2];           /* master, slave; under lock */
} EmuPic;

typedef struct EmuPitChannel {
    uint32_t count;               /* reload value, 1..0x10000 */
    uint64_t load_ns;             /* when counting started */
    bool loaded;                  /* count written since the control word */
    uint8_t mode, bcd, rw_mode, read_state, write_state, write_latch;
    uint16_t latched_count;
    uint8_t count_latched;        /* rw state of the latch being read, 0: none */
    bool status_latched;
    uint8_t status;
    bool gate;
    bool programmed;              /* a control word since reset */
    uint64_t fired;               /* channel 0: expiries already signalled */
} EmuPitChannel;

typedef struct EmuPit {
    GMutex lock;
    EmuPitChannel ch[3];          /* under lock */
    bool speaker_data_on;
} EmuPit;

struct EmuApicBus {
    unsigned ncpus;
    EmuLapic *lapics;
    EmuClockFn clock;
    void *clock_opaque;
    EmuIoapic ioapic;
    EmuPic pic;
    EmuPit pit;
    gint pic_out;                 /* atomic: the master 8259's INT output */
    bool pio_registered, mmio_registered;
};

static inline uint64_t emu_now(EmuApicBus *bus)
{
    return bus->clock(bus->clock_opaque);
}

/* a * b / c without overflow (c != 0); saturates at UINT64_MAX. */
static inline uint64_t emu_muldiv(uint64_t a, uint64_t b, uint64_t c)
{
    unsigned __int128 r = (unsigned __int128)a * b / c;
    return r > UINT64_MAX ? UINT64_MAX : (uint64_t)r;
}

/*
 * One LAPIC's internals, shared by emu-lapic.c (registers, acceptance, the
 * CPU side), emu-lapic-timer.c (the timer) and emu-apic-bus.c (delivery to
 * the LAPICs).
 */
#define APIC_BASE_BSP    (1ULL << 8)
#define APIC_BASE_X2APIC (1ULL << 10)
#define APIC_BASE_ENABLE (1ULL << 11)

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR };
enum { TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE, TIMER_RESERVED };
enum { SH_NONE, SH_SELF, SH_ALL, SH_OTHERS };

typedef struct EmuIpi {
    unsigned shorthand;
    unsigned self;
    uint8_t dest;
    bool logical;
    unsigned mode;
    uint8_t vector;
    bool level_trig;
} EmuIpi;

static inline bool hw_enabled(const EmuLapic *l)
{
    return l->apic_base & APIC_BASE_ENABLE;
}

static inline unsigned timer_mode(const EmuLapic *l)
{
    return (l->lvt[LVT_TIMER] >> 17) & 3;
}

/* emu-lapic.c (the LAPIC's lock held) */
/* Keeps the lock-free view used by emu_lapic_has_events() in step. */
void emu_lapic_update_hint(EmuLapic *l);
/* A local (LVT) interrupt into this LAPIC's own IRR. */
void emu_lapic_local_deliver(EmuLapic *l, uint32_t lvt);
/* An interrupt or INIT/SIPI/NMI/ExtINT message; false if not accepted. */
bool emu_lapic_accept(EmuLapic *l, unsigned mode, uint8_t vector, bool level_trig);

/* emu-lapic-timer.c (the LAPIC's lock held) */
uint32_t emu_lapic_timer_current(const EmuLapic *l, uint64_t now);
/* Counting from `count` at `now`. */
void emu_lapic_timer_start(EmuLapic *l, uint64_t now, uint32_t count);
/* An expiry due at `now` goes to IRR; a periodic timer is re-armed. */
void emu_lapic_timer_poll_locked(EmuLapic *l, uint64_t now);
void emu_lapic_timer_write_icr(EmuLapic *l, uint32_t value);
void emu_lapic_timer_write_dcr(EmuLapic *l, uint32_t value);
void emu_lapic_timer_write_lvt(EmuLapic *l, uint32_t value);
/* Arms the timer at the clock time of the TSC deadline (0: disarmed). */
void emu_lapic_tsc_deadline_arm(EmuLapic *l);

/* emu-apic-bus.c: an IPI to the LAPICs it names, each one's lock taken in turn. */
unsigned emu_apic_deliver_ipi(EmuApicBus *bus, const EmuIpi *ipi, EmuWake *w);

/* emu-apic-bus.c: wakes the LAPICs in w (no lock held). */
void emu_wake_flush(EmuApicBus *bus, EmuWake *w);
/* emu-apic-bus.c: deliver to the matching LAPICs; returns how many accepted. */
unsigned emu_apic_bus_deliver_w(EmuApicBus *bus, uint32_t dest, bool logical,
                                unsigned delivery_mode, uint8_t vector,
                                bool level_trig, EmuWake *w);
/* emu-apic-bus.c: the PIC's INT output rose; wake the LAPICs that take it. */
void emu_lapic_pic_output_rose(EmuApicBus *bus, EmuWake *w);

/* emu-ioapic.c */
void emu_ioapic_init(EmuApicBus *bus);
void emu_ioapic_destroy(EmuApicBus *bus);
void emu_ioapic_reset(EmuApicBus *bus);
void emu_ioapic_eoi(EmuApicBus *bus, uint8_t vector, EmuWake *w);
/* PIT channel 0's output: GSI 0 on the PIC and the PIT's IOAPIC pin. */
void emu_ioapic_set_pit_line(EmuApicBus *bus, bool level, EmuWake *w);

/* emu-ioapic.c: VM state; NULL s = power-on registers. Line levels from gsi_level. */
void emu_ioapic_save(EmuApicBus *bus, X86IoapicState *s, uint64_t *gsi_level);
void emu_ioapic_load(EmuApicBus *bus, const X86IoapicState *s, uint64_t gsi_level);

/* emu-pic.c (caller holds no PIC lock) */
void emu_pic_init(EmuApicBus *bus);
void emu_pic_destroy(EmuApicBus *bus);
void emu_pic_reset(EmuApicBus *bus, EmuWake *w);
void emu_pic_set_irq(EmuApicBus *bus, unsigned irq, bool level, EmuWake *w);
int emu_pic_peek_vector(EmuApicBus *bus);   /* -1 if INT is low */
int emu_pic_intack(EmuApicBus *bus);        /* -1 if INT is low */
bool emu_pic_register(EmuApicBus *bus, IoBus *pio, GError **err);
void emu_pic_unregister(IoBus *pio);
void emu_pic_save(EmuApicBus *bus, X86PicState s[2]);
/* The ELCR mask of chip i (0 master, 1 slave): what emu_apic_bus_load insists on. */
uint8_t emu_pic_elcr_mask(unsigned chip);
void emu_pic_load(EmuApicBus *bus, const X86PicState s[2], EmuWake *w);

/* emu-pit.c */
void emu_pit_init(EmuApicBus *bus);
void emu_pit_destroy(EmuApicBus *bus);
void emu_pit_reset(EmuApicBus *bus);
bool emu_pit_register(EmuApicBus *bus, IoBus *pio, GError **err);
void emu_pit_unregister(IoBus *pio);
void emu_pit_save(EmuApicBus *bus, X86PitState *s);
void emu_pit_load(EmuApicBus *bus, const X86PitState *s);

#endif
