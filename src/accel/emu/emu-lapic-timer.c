/*
 * The LAPIC timer (Intel SDM vol. 3, 10.5.4): one-shot, periodic and
 * TSC-deadline modes, the divide configuration and the current count,
 * computed from the machine's clock (no host timer: the CPU side polls
 * emu_lapic_timer_deadline). Everything here runs with the LAPIC's lock
 * held, except the public entry points, which take it.
 */
#include "accel/emu/emu-apic-internal.h"

/* ---- timer ---- */

/* DCR bits 3,1:0 -> log2(divisor); encoding 0b111 is divide by 1. */
static unsigned timer_shift(const EmuLapic *l)
{
    unsigned enc = (l->timer_dcr & 3) | ((l->timer_dcr >> 1) & 4);

    return (enc + 1) & 7;
}

static uint64_t timer_ticks_to_ns(const EmuLapic *l, uint64_t ticks)
{
    return emu_muldiv(ticks << timer_shift(l), 1000000, EMU_APIC_BUS_KHZ);
}

static uint64_t timer_ns_to_ticks(const EmuLapic *l, uint64_t ns)
{
    return emu_muldiv(ns, EMU_APIC_BUS_KHZ, 1000000) >> timer_shift(l);
}

uint32_t emu_lapic_timer_current(const EmuLapic *l, uint64_t now)
{
    uint64_t t;

    if (timer_mode(l) == TIMER_TSC_DEADLINE || !l->timer_base_count) {
        return 0;
    }
    t = now > l->timer_base_ns ? timer_ns_to_ticks(l, now - l->timer_base_ns) : 0;
    if (t < l->timer_base_count) {
        return l->timer_base_count - (uint32_t)t;
    }
    if (timer_mode(l) != TIMER_PERIODIC || !l->timer_icr) {
        return 0;
    }
    return l->timer_icr - (uint32_t)((t - l->timer_base_count) % l->timer_icr);
}

/* Counting from `count` at `now`. */
void emu_lapic_timer_start(EmuLapic *l, uint64_t now, uint32_t count)
{
    l->timer_base_ns = now;
    l->timer_base_count = count;
    l->timer_deadline_ns = count ? now + timer_ticks_to_ns(l, count) : UINT64_MAX;
}

void emu_lapic_timer_poll_locked(EmuLapic *l, uint64_t now)
{
    uint64_t period, next;

    if (now < l->timer_deadline_ns) {
        return;
    }
    emu_lapic_local_deliver(l, l->lvt[LVT_TIMER]);
    if (timer_mode(l) == TIMER_TSC_DEADLINE) {
        l->tsc_deadline = 0;
        l->timer_deadline_ns = UINT64_MAX;
        return;
    }
    if (timer_mode(l) != TIMER_PERIODIC || !l->timer_icr) {
        l->timer_deadline_ns = UINT64_MAX;
        return;
    }
    /* Periods the vCPU slept through are one interrupt, as a late hrtimer. */
    period = timer_ticks_to_ns(l, l->timer_icr);
    next = l->timer_deadline_ns + ((now - l->timer_deadline_ns) / period + 1) * period;
    l->timer_base_ns = next - period;
    l->timer_base_count = l->timer_icr;
    l->timer_deadline_ns = next;
}

void emu_lapic_timer_write_icr(EmuLapic *l, uint32_t value)
{
    /* In TSC-deadline mode the initial count is ignored (SDM 10.5.4.1). */
    if (timer_mode(l) == TIMER_TSC_DEADLINE) {
        return;
    }
    l->timer_icr = value;
    emu_lapic_timer_start(l, emu_now(l->bus), value);
}

/* A new divider keeps the current count and counts on at the new rate. */
void emu_lapic_timer_write_dcr(EmuLapic *l, uint32_t value)
{
    uint64_t now = emu_now(l->bus);
    uint32_t cur;

    emu_lapic_timer_poll_locked(l, now);
    cur = emu_lapic_timer_current(l, now);
    l->timer_dcr = value & 0xB;
    if (cur) {
        emu_lapic_timer_start(l, now, cur);
    }
}

/* Switching timer mode disarms the timer, as kvm does. */
void emu_lapic_timer_write_lvt(EmuLapic *l, uint32_t value)
{
    unsigned old_mode = timer_mode(l);

    l->lvt[LVT_TIMER] = value;
    if (timer_mode(l) != old_mode) {
        l->timer_icr = 0;
        l->timer_base_count = 0;
        l->tsc_deadline = 0;
        l->timer_deadline_ns = UINT64_MAX;
    }
}

uint64_t emu_lapic_timer_deadline(EmuLapic *l)
{
    uint64_t d;

    g_mutex_lock(&l->lock);
    d = l->timer_deadline_ns;
    g_mutex_unlock(&l->lock);
    return d;
}

void emu_lapic_timer_poll(EmuLapic *l)
{
    g_mutex_lock(&l->lock);
    emu_lapic_timer_poll_locked(l, emu_now(l->bus));
    emu_lapic_update_hint(l);
    g_mutex_unlock(&l->lock);
}

uint64_t emu_lapic_get_tsc_deadline(EmuLapic *l)
{
    uint64_t v;

    g_mutex_lock(&l->lock);
    v = timer_mode(l) == TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
    g_mutex_unlock(&l->lock);
    return v;
}

/* Clock time at which the guest TSC reaches tsc; 0 if it already has. */
static uint64_t tsc_to_ns(const EmuLapic *l, uint64_t tsc)
{
    __int128 clock_tsc = (__int128)tsc - l->tsc_offset;

    return clock_tsc <= 0 ? 0 : emu_muldiv((uint64_t)clock_tsc, 1000000, EMU_TSC_KHZ);
}

void emu_lapic_tsc_deadline_arm(EmuLapic *l)
{
    l->timer_deadline_ns = l->tsc_deadline ? tsc_to_ns(l, l->tsc_deadline) : UINT64_MAX;
}

void emu_lapic_set_tsc_deadline(EmuLapic *l, uint64_t tsc)
{
    g_mutex_lock(&l->lock);
    if (timer_mode(l) == TIMER_TSC_DEADLINE) {
        l->tsc_deadline = tsc;
        emu_lapic_tsc_deadline_arm(l);
    }
    g_mutex_unlock(&l->lock);
}

void emu_lapic_set_tsc_offset(EmuLapic *l, int64_t offset)
{
    g_mutex_lock(&l->lock);
    l->tsc_offset = offset;
    if (timer_mode(l) == TIMER_TSC_DEADLINE) {
        emu_lapic_tsc_deadline_arm(l);
    }
    g_mutex_unlock(&l->lock);
}
