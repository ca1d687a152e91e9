/*
 * Local xAPIC (Intel SDM vol. 3, ch. 10/11): one LAPIC's register file
 * (reads, writes, ICR sends, EOI), the IRR/ISR/TMR and priority, accepting
 * interrupts and INIT/SIPI/NMI, IA32_APIC_BASE and CR8, what the CPU takes
 * (pending vector, acknowledge, events), and saving and loading it. The
 * timer is emu-lapic-timer.c; the APIC bus that connects the LAPICs, the
 * IOAPIC, the PIC and the PIT of one machine is emu-apic-bus.c.
 *
 * Register state is behind the LAPIC's mutex; the vCPU thread itself and
 * other senders (IPIs, IOAPIC) both take it. A delivery never holds two
 * LAPIC locks: the sender's lock is dropped before its IPI or EOI goes out.
 */
#include <string.h>

#include "accel/emu/emu-apic-internal.h"

#define APIC_ID        0x020
#define APIC_LVR       0x030
#define APIC_TPR       0x080
#define APIC_PPR       0x0A0
#define APIC_EOI       0x0B0
#define APIC_LDR       0x0D0
#define APIC_DFR       0x0E0
#define APIC_SVR       0x0F0
#define APIC_ISR       0x100
#define APIC_TMR       0x180
#define APIC_IRR       0x200
#define APIC_ESR       0x280
#define APIC_ICR_LO    0x300
#define APIC_ICR_HI    0x310
#define APIC_LVT_FIRST 0x320
#define APIC_LVT_LAST  0x370
#define APIC_TMICT     0x380
#define APIC_TMCCT     0x390
#define APIC_TDCR      0x3E0

/* Version 0x14, max LVT entry 5: what kvm reports without CMCI. */
#define LAPIC_VERSION  0x00050014u

#define SVR_ENABLE     (1u << 8)
#define LVT_MASKED     (1u << 16)
#define LVT_MODE_MASK  (7u << 8)
#define LVT_MODE_EXTINT (7u << 8)

#define ICR_DEST_LOGICAL (1u << 11)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_TRIG_LEVEL   (1u << 15)
/* Delivery status (bit 12) is never stored: sending is instantaneous. */
#define ICR_WRITABLE     0x000CCFFFu

#define ESR_SEND_ILLEGAL (1u << 5)
#define ESR_RECV_ILLEGAL (1u << 6)

/*
 * Writable bits per LVT (kvm's apic_lvt_mask): delivery status and remote
 * IRR are read-only and, as nothing is ever in flight, read 0.
 */
static const uint32_t lvt_writable[EMU_LAPIC_NR_LVT] = {
    [LVT_TIMER] = 0x000700FF,
    [LVT_THERMAL] = 0x000107FF,
    [LVT_PERF] = 0x000107FF,
    [LVT_LINT0] = 0x0001A7FF,
    [LVT_LINT1] = 0x0001A7FF,
    [LVT_ERROR] = 0x000100FF,
};

/* ---- 256-bit vector banks (ISR, TMR, IRR) ---- */

static bool vec_test(const uint32_t *bank, unsigned v)
{
    return (bank[v / 32] >> (v % 32)) & 1;
}

static void vec_set(uint32_t *bank, unsigned v)
{
    bank[v / 32] |= 1u << (v % 32);
}

static void vec_clear(uint32_t *bank, unsigned v)
{
    bank[v / 32] &= ~(1u << (v % 32));
}

static int vec_highest(const uint32_t *bank)
{
    for (int i = 7; i >= 0; i--) {
        if (bank[i]) {
            return i * 32 + 31 - __builtin_clz(bank[i]);
        }
    }
    return -1;
}

/* ---- state predicates (lock held) ---- */

static bool sw_enabled(const EmuLapic *l)
{
    return l->svr & SVR_ENABLE;
}

static uint32_t lapic_ppr(const EmuLapic *l)
{
    int isrv = vec_highest(l->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;

    return (l->tpr & 0xF0) >= isr_class ? l->tpr & 0xFF : isr_class;
}

static int deliverable_irr(const EmuLapic *l)
{
    int v;

    if (!hw_enabled(l) || !sw_enabled(l)) {
        return -1;
    }
    v = vec_highest(l->irr);
    if (v < 0 || ((uint32_t)v & 0xF0) <= (lapic_ppr(l) & 0xF0)) {
        return -1;
    }
    return v;
}

/* Keeps the lock-free view used by emu_lapic_has_events() in step. */
void emu_lapic_update_hint(EmuLapic *l)
{
    bool lint0_extint = (l->lvt[LVT_LINT0] & (LVT_MASKED | LVT_MODE_MASK)) == LVT_MODE_EXTINT;

    g_atomic_int_set(&l->hint, l->events || l->extint_latched || deliverable_irr(l) >= 0);
    /* A hardware-disabled LAPIC lets the PIC straight through (kvm). */
    g_atomic_int_set(&l->extint_ok, !hw_enabled(l) || lint0_extint);
}

static void set_irr(EmuLapic *l, uint8_t vector, bool level_trig)
{
    vec_set(l->irr, vector);
    if (level_trig) {
        vec_set(l->tmr, vector);
    } else {
        vec_clear(l->tmr, vector);
    }
}

/*
 * Errors accumulate until the guest writes ESR. The error LVT reports
 * them, unless its own vector is illegal: that would only loop.
 */
static void lapic_error(EmuLapic *l, uint32_t bits)
{
    uint32_t lvt = l->lvt[LVT_ERROR];

    l->esr_pending |= bits;
    if (!(lvt & LVT_MASKED) && (lvt & 0xFF) >= 16) {
        set_irr(l, lvt & 0xFF, false);
    }
}

/* A local (LVT) interrupt into this LAPIC's own IRR. */
void emu_lapic_local_deliver(EmuLapic *l, uint32_t lvt)
{
    if ((lvt & LVT_MASKED) || !sw_enabled(l)) {
        return;
    }
    if ((lvt & 0xFF) < 16) {
        lapic_error(l, ESR_RECV_ILLEGAL);
        return;
    }
    set_irr(l, lvt & 0xFF, false);
}

/* ---- reset ---- */

/* Everything INIT resets: all but the ID and IA32_APIC_BASE. */
static void lapic_regs_reset(EmuLapic *l)
{
    l->tpr = 0;
    l->ldr = 0;
    l->dfr = 0xFFFFFFFF;
    l->svr = 0xFF;
    l->esr = l->esr_pending = 0;
    l->icr_lo = l->icr_hi = 0;
    for (unsigned i = 0; i < EMU_LAPIC_NR_LVT; i++) {
        l->lvt[i] = LVT_MASKED;
    }
    /*
     * kvm's LINT0_REENABLED quirk: the BSP comes up with LINT0 in ExtINT
     * mode so a guest that never touches the LAPIC still gets PIC interrupts.
     */
    if (l->apic_base & APIC_BASE_BSP) {
        l->lvt[LVT_LINT0] = LVT_MODE_EXTINT;
    }
    memset(l->irr, 0, sizeof(l->irr));
    memset(l->isr, 0, sizeof(l->isr));
    memset(l->tmr, 0, sizeof(l->tmr));
    l->timer_icr = 0;
    l->timer_dcr = 0;
    l->timer_base_ns = 0;
    l->timer_base_count = 0;
    l->timer_deadline_ns = UINT64_MAX;
    l->tsc_deadline = 0;
    l->extint_latched = false;
}

void emu_lapic_reset(EmuLapic *l, uint32_t apic_id, bool bsp)
{
    g_mutex_lock(&l->lock);
    __atomic_store_n(&l->apic_base, EMU_LAPIC_BASE | APIC_BASE_ENABLE | (bsp ? APIC_BASE_BSP : 0),
                     __ATOMIC_RELEASE);
    l->id = (apic_id & 0xFF) << 24;
    lapic_regs_reset(l);
    l->events = 0;
    l->sipi_vector = 0;
    l->wait_for_sipi = false;
    emu_lapic_update_hint(l);
    g_mutex_unlock(&l->lock);
}

/* ---- accepting interrupts (target's lock held) ---- */

static bool accept_init(EmuLapic *l)
{
    lapic_regs_reset(l);
    /* A new INIT supersedes whatever was pending, including a SIPI. */
    l->events = EMU_LAPIC_EV_INIT;
    l->wait_for_sipi = !(l->apic_base & APIC_BASE_BSP);
    return true;
}

bool emu_lapic_accept(EmuLapic *l, unsigned mode, uint8_t vector, bool level_trig)
{
    switch (mode) {
    case EMU_APIC_DM_FIXED:
    case EMU_APIC_DM_LOWEST:
        if (!sw_enabled(l)) {
            return false;
        }
        if (vector < 16) {
            lapic_error(l, ESR_RECV_ILLEGAL);
            return false;
        }
        set_irr(l, vector, level_trig);
        return true;
    case EMU_APIC_DM_NMI:
        if (l->wait_for_sipi) {
            return false;
        }
        l->events |= EMU_LAPIC_EV_NMI;
        return true;
    case EMU_APIC_DM_INIT:
        return accept_init(l);
    case EMU_APIC_DM_SIPI:
        /* Only the first SIPI after INIT counts; the usual second is dropped. */
        if (!l->wait_for_sipi) {
            return false;
        }
        l->wait_for_sipi = false;
        l->events |= EMU_LAPIC_EV_SIPI;
        l->sipi_vector = vector;
        return true;
    case EMU_APIC_DM_EXTINT:
        l->extint_latched = true;
        return true;
    default:
        return false;   /* SMI and the reserved modes */
    }
}

/* ---- register writes ---- */

/* Returns true when the ICR write sends something, described in *ipi. */
static bool write_icr(EmuLapic *l, uint32_t value, EmuIpi *ipi)
{
    l->icr_lo = value & ICR_WRITABLE;
    *ipi = (EmuIpi) {
        .shorthand = (value >> 18) & 3,
        .self = l->index,
        .dest = l->icr_hi >> 24,
        .logical = value & ICR_DEST_LOGICAL,
        .mode = (value >> 8) & 7,
        .vector = value & 0xFF,
        .level_trig = value & ICR_TRIG_LEVEL,
    };
    /* INIT level de-assert only synchronised arbitration IDs on old parts. */
    if (ipi->mode == EMU_APIC_DM_INIT && ipi->level_trig && !(value & ICR_LEVEL_ASSERT)) {
        return false;
    }
    if ((ipi->mode == EMU_APIC_DM_FIXED || ipi->mode == EMU_APIC_DM_LOWEST) && ipi->vector < 16) {
        lapic_error(l, ESR_SEND_ILLEGAL);
        return false;
    }
    /* Only fixed and lowest-priority interrupts get an EOI, so only they may set TMR. */
    ipi->level_trig = ipi->level_trig && ipi->mode <= EMU_APIC_DM_LOWEST;
    return true;
}

/* Returns the vector to broadcast to the IOAPIC, -1 for none. */
static int write_eoi(EmuLapic *l)
{
    int v = vec_highest(l->isr);

    if (v < 0) {
        return -1;
    }
    vec_clear(l->isr, v);
    return vec_test(l->tmr, v) ? v : -1;
}

static void write_svr(EmuLapic *l, uint32_t value)
{
    l->svr = value & 0x3FF;
    if (!(value & SVR_ENABLE)) {
        for (unsigned i = 0; i < EMU_LAPIC_NR_LVT; i++) {
            l->lvt[i] |= LVT_MASKED;
        }
    }
}

static void write_lvt(EmuLapic *l, unsigned idx, uint32_t value)
{
    value &= lvt_writable[idx];
    /* While software-disabled, LVT mask bits cannot be cleared (SDM 10.4.7.2). */
    if (!sw_enabled(l)) {
        value |= LVT_MASKED;
    }
    if (idx == LVT_TIMER) {
        emu_lapic_timer_write_lvt(l, value);
    } else {
        l->lvt[idx] = value;
    }
}

static void write_reg(EmuLapic *l, uint32_t offset, uint32_t value)
{
    switch (offset) {
    case APIC_ID:
        l->id = value & 0xFF000000;
        break;
    case APIC_TPR:
        l->tpr = value & 0xFF;
        break;
    case APIC_LDR:
        l->ldr = value & 0xFF000000;
        break;
    case APIC_DFR:
        l->dfr = value | 0x0FFFFFFF;
        break;
    case APIC_SVR:
        write_svr(l, value);
        break;
    case APIC_ESR:
        l->esr = l->esr_pending;
        l->esr_pending = 0;
        break;
    case APIC_ICR_HI:
        l->icr_hi = value & 0xFF000000;
        break;
    case APIC_TMICT:
        emu_lapic_timer_write_icr(l, value);
        break;
    case APIC_TDCR:
        emu_lapic_timer_write_dcr(l, value);
        break;
    default:
        if (offset >= APIC_LVT_FIRST && offset <= APIC_LVT_LAST) {
            write_lvt(l, (offset - APIC_LVT_FIRST) >> 4, value);
        }
        break;   /* read-only and reserved registers ignore writes */
    }
}

void emu_lapic_write(EmuLapic *l, uint32_t offset, uint32_t value)
{
    EmuWake w = { { 0 } };
    EmuIpi ipi;
    bool send = false;
    int eoi_vector = -1;

    if (offset >= EMU_LAPIC_SIZE || (offset & 0xF)) {
        return;
    }
    g_mutex_lock(&l->lock);
    if (offset == APIC_EOI) {
        eoi_vector = write_eoi(l);
    } else if (offset == APIC_ICR_LO) {
        send = write_icr(l, value, &ipi);
    } else {
        write_reg(l, offset, value);
    }
    emu_lapic_update_hint(l);
    g_mutex_unlock(&l->lock);

    if (eoi_vector >= 0) {
        emu_ioapic_eoi(l->bus, eoi_vector, &w);
    }
    if (send) {
        emu_apic_deliver_ipi(l->bus, &ipi, &w);
    }
    emu_wake_flush(l->bus, &w);
}

/* ---- register reads ---- */

static uint32_t read_bank(const EmuLapic *l, uint32_t offset)
{
    unsigned idx = (offset >> 4) & 7;

    if (offset < APIC_TMR) {
        return l->isr[idx];
    }
    return offset < APIC_IRR ? l->tmr[idx] : l->irr[idx];
}

static uint32_t read_reg(const EmuLapic *l, uint32_t offset)
{
    switch (offset) {
    case APIC_ID: return l->id;
    case APIC_LVR: return LAPIC_VERSION;
    case APIC_TPR: return l->tpr;
    case APIC_PPR: return lapic_ppr(l);
    case APIC_LDR: return l->ldr;
    case APIC_DFR: return l->dfr;
    case APIC_SVR: return l->svr;
    case APIC_ESR: return l->esr;
    case APIC_ICR_LO: return l->icr_lo;
    case APIC_ICR_HI: return l->icr_hi;
    case APIC_TMICT: return l->timer_icr;
    case APIC_TMCCT: return emu_lapic_timer_current(l, emu_now(l->bus));
    case APIC_TDCR: return l->timer_dcr;
    default:
        break;
    }
    if (offset >= APIC_ISR && offset < APIC_ESR) {
        return read_bank(l, offset);
    }
    if (offset >= APIC_LVT_FIRST && offset <= APIC_LVT_LAST) {
        return l->lvt[(offset - APIC_LVT_FIRST) >> 4];
    }
    return 0;   /* APR, EOI, RRD, CMCI and reserved */
}

uint32_t emu_lapic_read(EmuLapic *l, uint32_t offset)
{
    uint32_t v;

    if (offset >= EMU_LAPIC_SIZE || (offset & 0xF)) {
        return 0;
    }
    g_mutex_lock(&l->lock);
    v = read_reg(l, offset);
    g_mutex_unlock(&l->lock);
    return v;
}

/* ---- MSRs and CR8 ---- */

/*
 * Without the lock: every TLB fill asks (emu-mmu.c, lapic_page), and the
 * writers below store it atomically under the lock.
 */
uint64_t emu_lapic_get_apic_base(EmuLapic *l)
{
    return __atomic_load_n(&l->apic_base, __ATOMIC_ACQUIRE);
}

bool emu_lapic_set_apic_base(EmuLapic *l, uint64_t v)
{
    const uint64_t reserved = ~((1ULL << EMU_APIC_PHYS_BITS) - 1) | 0x2FF | APIC_BASE_X2APIC;
    bool was_enabled;

    if (v & reserved) {
        return false;
    }
    g_mutex_lock(&l->lock);
    was_enabled = hw_enabled(l);
    __atomic_store_n(&l->apic_base, (v & ~APIC_BASE_BSP) | (l->apic_base & APIC_BASE_BSP),
                     __ATOMIC_RELEASE);
    /* Global disable may lose all state (SDM 10.4.3): come back as at power-on. */
    if (was_enabled && !hw_enabled(l)) {
        lapic_regs_reset(l);
        l->id = (uint32_t)l->index << 24;
    }
    emu_lapic_update_hint(l);
    g_mutex_unlock(&l->lock);
    return true;
}

uint64_t emu_lapic_get_cr8(EmuLapic *l)
{
    uint64_t v;

    g_mutex_lock(&l->lock);
    v = (l->tpr >> 4) & 0xF;
    g_mutex_unlock(&l->lock);
    return v;
}

void emu_lapic_set_cr8(EmuLapic *l, uint64_t v)
{
    g_mutex_lock(&l->lock);
    l->tpr = (uint32_t)(v & 0xF) << 4;
    emu_lapic_update_hint(l);
    g_mutex_unlock(&l->lock);
}

/* ---- the CPU side ---- */

void emu_lapic_set_waker(EmuLapic *l, void (*wake)(void *opaque), void *opaque)
{
    g_mutex_lock(&l->lock);
    l->wake = wake;
    l->wake_opaque = opaque;
    g_mutex_unlock(&l->lock);
}

unsigned emu_lapic_take_events(EmuLapic *l, uint8_t *sipi_vector)
{
    unsigned ev;

    g_mutex_lock(&l->lock);
    ev = l->events;
    l->events = 0;
    if (sipi_vector) {
        *sipi_vector = l->sipi_vector;
    }
    emu_lapic_update_hint(l);
    g_mutex_unlock(&l->lock);
    return ev;
}

bool emu_lapic_has_events(EmuLapic *l)
{
    return g_atomic_int_get(&l->hint) ||
           (g_atomic_int_get(&l->extint_ok) && g_atomic_int_get(&l->bus->pic_out));
}

bool emu_lapic_is_bsp(EmuLapic *l)
{
    return emu_lapic_get_apic_base(l) & APIC_BASE_BSP;
}

bool emu_lapic_waiting_for_sipi(EmuLapic *l)
{
    bool v;

    g_mutex_lock(&l->lock);
    v = l->wait_for_sipi;
    g_mutex_unlock(&l->lock);
    return v;
}

/* ---- saving and loading (the vCPU is parked) ---- */

static void page_put(uint8_t *regs, uint32_t offset, uint32_t value)
{
    uint32_t v = GUINT32_TO_LE(value);

    memcpy(regs + offset, &v, sizeof(v));
}

static uint32_t page_get(const uint8_t *regs, uint32_t offset)
{
    uint32_t v;

    memcpy(&v, regs + offset, sizeof(v));
    return GUINT32_FROM_LE(v);
}

void emu_lapic_save(EmuLapic *l, EmuLapicState *s)
{
    memset(s, 0, sizeof(*s));
    g_mutex_lock(&l->lock);
    /* An expiry the vCPU has not polled yet goes to IRR first, as it would. */
    emu_lapic_timer_poll_locked(l, emu_now(l->bus));
    emu_lapic_update_hint(l);
    for (uint32_t offset = 0; offset < sizeof(s->regs); offset += 0x10) {
        page_put(s->regs, offset, read_reg(l, offset));
    }
    s->apic_base = l->apic_base;
    s->tsc_deadline = timer_mode(l) == TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
    s->tsc_offset = l->tsc_offset;
    s->esr_pending = l->esr_pending;
    s->events = l->events;
    s->sipi_vector = l->sipi_vector;
    s->wait_for_sipi = l->wait_for_sipi;
    s->extint_latched = l->extint_latched;
    g_mutex_unlock(&l->lock);
}

bool emu_lapic_load(EmuLapic *l, const EmuLapicState *s)
{
    const uint64_t reserved = ~((1ULL << EMU_APIC_PHYS_BITS) - 1) | 0x2FF | APIC_BASE_X2APIC;
    const uint8_t *r = s->regs;

    if (s->apic_base & reserved) {
        return false;
    }
    g_mutex_lock(&l->lock);
    __atomic_store_n(&l->apic_base, s->apic_base, __ATOMIC_RELEASE);
    l->id = page_get(r, APIC_ID) & 0xFF000000;
    l->tpr = page_get(r, APIC_TPR) & 0xFF;
    l->ldr = page_get(r, APIC_LDR) & 0xFF000000;
    l->dfr = page_get(r, APIC_DFR) | 0x0FFFFFFF;
    l->svr = page_get(r, APIC_SVR) & 0x3FF;
    l->esr = page_get(r, APIC_ESR) & 0xFF;
    l->esr_pending = s->esr_pending & 0xFF;
    l->icr_lo = page_get(r, APIC_ICR_LO) & ICR_WRITABLE;
    l->icr_hi = page_get(r, APIC_ICR_HI) & 0xFF000000;
    for (unsigned i = 0; i < EMU_LAPIC_NR_LVT; i++) {
        l->lvt[i] = page_get(r, APIC_LVT_FIRST + 0x10 * i) & lvt_writable[i];
    }
    for (unsigned i = 0; i < 8; i++) {
        l->isr[i] = page_get(r, APIC_ISR + 0x10 * i);
        l->tmr[i] = page_get(r, APIC_TMR + 0x10 * i);
        l->irr[i] = page_get(r, APIC_IRR + 0x10 * i);
    }
    l->timer_dcr = page_get(r, APIC_TDCR) & 0xB;
    l->timer_icr = page_get(r, APIC_TMICT);
    l->tsc_offset = s->tsc_offset;
    if (timer_mode(l) == TIMER_TSC_DEADLINE) {
        l->timer_base_ns = 0;
        l->timer_base_count = 0;
        l->tsc_deadline = s->tsc_deadline;
        emu_lapic_tsc_deadline_arm(l);
    } else {
        l->tsc_deadline = 0;
        emu_lapic_timer_start(l, emu_now(l->bus), page_get(r, APIC_TMCCT));
    }
    l->events = s->events & (EMU_LAPIC_EV_INIT | EMU_LAPIC_EV_SIPI | EMU_LAPIC_EV_NMI);
    l->sipi_vector = s->sipi_vector;
    l->wait_for_sipi = s->wait_for_sipi;
    l->extint_latched = s->extint_latched;
    emu_lapic_update_hint(l);
    g_mutex_unlock(&l->lock);
    return true;
}

/* Does the PIC's INT reach this CPU now? Clears a stale IOAPIC ExtINT. */
static bool extint_route(EmuLapic *l)
{
    bool route;

    g_mutex_lock(&l->lock);
    if (l->extint_latched && !g_atomic_int_get(&l->bus->pic_out)) {
        l->extint_latched = false;
        emu_lapic_update_hint(l);
    }
    route = (g_atomic_int_get(&l->extint_ok) || l->extint_latched) &&
            g_atomic_int_get(&l->bus->pic_out);
    g_mutex_unlock(&l->lock);
    return route;
}

int emu_lapic_pending_vector(EmuLapic *l)
{
    int v;

    /* As kvm: an ExtINT from the PIC goes before the LAPIC's own IRR. */
    if (extint_route(l)) {
        v = emu_pic_peek_vector(l->bus);
        if (v >= 0) {
            return v;
        }
    }
    g_mutex_lock(&l->lock);
    v = deliverable_irr(l);
    g_mutex_unlock(&l->lock);
    return v;
}

int emu_lapic_ack(EmuLapic *l)
{
    int v;

    if (extint_route(l)) {
        v = emu_pic_intack(l->bus);
        if (v >= 0) {
            g_mutex_lock(&l->lock);
            l->extint_latched = false;
            emu_lapic_update_hint(l);
            g_mutex_unlock(&l->lock);
            return v;
        }
    }
    g_mutex_lock(&l->lock);
    v = deliverable_irr(l);
    if (v >= 0) {
        vec_clear(l->irr, v);
        vec_set(l->isr, v);
    }
    emu_lapic_update_hint(l);
    g_mutex_unlock(&l->lock);
    return v;
}
