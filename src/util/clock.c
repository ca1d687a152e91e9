/*
 * The machine clock (see clock.h).
 *
 * One MachineClock per main context, reached through its owner's slot
 * (Machine.clock). Timers are kept in a small array (a machine has a
 * handful): the earliest one is found by a linear scan, which also makes it
 * trivial for a callback to add, re-arm or free timers while we are firing
 * them (we rescan after every callback).
 *
 * Real-time mode: one GSource on the machine context, its ready time set to
 * the earliest deadline (rounded up to the microsecond GLib works in).
 * g_source_set_ready_time() wakes the context, so a vCPU thread arming a
 * timer from an MMIO handler is noticed at once.
 *
 * Lifetime: the context owns the GSource (we keep no reference); when
 * machine_free() drops the context the source is finalized and the clock
 * state goes with it, clearing the owner's slot. Timers still alive then are
 * detached (their clock pointer cleared) so a late machine_timer_free() stays
 * safe.
 */
#include <inttypes.h>
#include <time.h>
#include <glib.h>

#include "util/clock.h"
#include "util/log.h"

/* A timer re-arming itself in the past would otherwise spin forever. */
#define MAX_FIRINGS_PER_RUN 1000000

struct MachineClock {
    MachineClock **slot;     /* the owner's pointer to us, cleared when we go */
    bool virt;
    int64_t virt_ns;
    GPtrArray *timers;       /* MachineTimer*, armed or not */
    uint64_t next_seq;
    GSource *src;            /* owned by the context */
};

struct MachineTimer {
    MachineClock *clk;       /* NULL once the clock is gone */
    MachineTimerFn *cb;
    void *opaque;
    bool pending;
    int64_t expire;
    uint64_t seq;            /* arming order, breaks deadline ties */
};

typedef struct ClockSource {
    GSource base;
    MachineClock *clk;
} ClockSource;

static int64_t host_monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CLOCK_NS_PER_SEC + ts.tv_nsec;
}

static MachineTimer *earliest(const MachineClock *clk, int64_t limit)
{
    MachineTimer *best = NULL;

    for (guint i = 0; i < clk->timers->len; i++) {
        MachineTimer *t = g_ptr_array_index(clk->timers, i);

        if (!t->pending || t->expire > limit) {
            continue;
        }
        if (!best || t->expire < best->expire ||
            (t->expire == best->expire && t->seq < best->seq)) {
            best = t;
        }
    }
    return best;
}

static void update_ready_time(MachineClock *clk)
{
    MachineTimer *t;
    gint64 ready = -1;

    if (!clk->src) {
        return;
    }
    if (!clk->virt) {
        t = earliest(clk, INT64_MAX);
        if (t) {
            int64_t us = t->expire <= 0 ? 0 : (t->expire + 999) / 1000;
            ready = us;
        }
    }
    if (g_source_get_ready_time(clk->src) != ready) {
        g_source_set_ready_time(clk->src, ready);
    }
}

/* Fires every timer due at `now` (real time) in order. */
static gboolean clock_source_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    MachineClock *clk = ((ClockSource *)source)->clk;
    unsigned n = 0;

    g_source_set_ready_time(source, -1);
    if (clk && !clk->virt) {
        MachineTimer *t;

        while (n++ < MAX_FIRINGS_PER_RUN &&
               (t = earliest(clk, host_monotonic_ns())) != NULL) {
            t->pending = false;
            t->cb(t->opaque);
        }
        update_ready_time(clk);
    }
    return G_SOURCE_CONTINUE;
}

static void clock_source_finalize(GSource *source)
{
    MachineClock *clk = ((ClockSource *)source)->clk;

    if (!clk) {
        return;
    }
    for (guint i = 0; i < clk->timers->len; i++) {
        MachineTimer *t = g_ptr_array_index(clk->timers, i);
        t->clk = NULL;
        t->pending = false;
    }
    g_ptr_array_free(clk->timers, TRUE);
    if (clk->slot && *clk->slot == clk) {
        *clk->slot = NULL;
    }
    g_free(clk);
}

/* Not const only because g_source_new() takes a non-const pointer; never written. */
static GSourceFuncs clock_source_funcs = {
    .dispatch = clock_source_dispatch,
    .finalize = clock_source_finalize,
};

MachineClock *machine_clock_get(MachineClock **slot, GMainContext *ctx)
{
    MachineClock *clk = *slot;

    if (!clk) {
        GSource *src;

        clk = g_new0(MachineClock, 1);
        clk->slot = slot;
        clk->timers = g_ptr_array_new();
        src = g_source_new(&clock_source_funcs, sizeof(ClockSource));
        ((ClockSource *)src)->clk = clk;
        g_source_set_name(src, "machine-clock");
        g_source_set_priority(src, G_PRIORITY_DEFAULT);
        g_source_attach(src, ctx);
        clk->src = src;
        g_source_unref(src);     /* the context owns it; see the header comment */
        *slot = clk;
    }
    return clk;
}

int64_t machine_clock_ns(const MachineClock *clk)
{
    if (clk && clk->virt) {
        return clk->virt_ns;
    }
    return host_monotonic_ns();
}

int64_t machine_clock_us(const MachineClock *clk)
{
    return machine_clock_ns(clk) / 1000;
}

bool machine_clock_is_virtual(const MachineClock *clk)
{
    return clk && clk->virt;
}

MachineTimer *machine_timer_new(MachineClock *clk, MachineTimerFn *cb, void *opaque)
{
    MachineTimer *t = g_new0(MachineTimer, 1);

    t->clk = clk;
    t->cb = cb;
    t->opaque = opaque;
    t->expire = -1;
    g_ptr_array_add(clk->timers, t);
    return t;
}

void machine_timer_free(MachineTimer *t)
{
    if (!t) {
        return;
    }
    if (t->clk) {
        MachineClock *clk = t->clk;
        bool was_pending = t->pending;

        g_ptr_array_remove_fast(clk->timers, t);
        if (was_pending) {
            update_ready_time(clk);
        }
    }
    g_free(t);
}

void machine_timer_mod(MachineTimer *t, int64_t expire_ns)
{
    if (!t->clk) {
        return;
    }
    t->pending = true;
    t->expire = expire_ns;
    t->seq = t->clk->next_seq++;
    update_ready_time(t->clk);
}

void machine_timer_mod_in(MachineTimer *t, int64_t delta_ns)
{
    int64_t now;

    if (!t->clk) {
        return;
    }
    now = machine_clock_ns(t->clk);
    if (delta_ns > INT64_MAX - now) {
        delta_ns = INT64_MAX - now;
    }
    machine_timer_mod(t, now + delta_ns);
}

void machine_timer_del(MachineTimer *t)
{
    if (!t->clk || !t->pending) {
        return;
    }
    t->pending = false;
    t->expire = -1;
    update_ready_time(t->clk);
}

bool machine_timer_pending(const MachineTimer *t)
{
    return t->pending;
}

int64_t machine_timer_expire(const MachineTimer *t)
{
    return t->pending ? t->expire : -1;
}

void machine_clock_use_virtual(MachineClock *clk)
{
    if (!clk->virt) {
        clk->virt = true;
        clk->virt_ns = 0;
        update_ready_time(clk);
    }
}

int64_t machine_clock_next_deadline(const MachineClock *clk)
{
    MachineTimer *t;

    if (!clk) {
        return -1;
    }
    t = earliest(clk, INT64_MAX);
    return t ? t->expire : -1;
}

int64_t machine_clock_advance_to(MachineClock *clk, int64_t target)
{
    MachineClock **slot;
    MachineTimer *t;
    unsigned n = 0;

    if (!clk || !clk->virt) {
        return machine_clock_ns(clk);
    }
    slot = clk->slot;
    while ((t = earliest(clk, target)) != NULL) {
        if (++n > MAX_FIRINGS_PER_RUN) {
            log_warn("clock: more than %d timer firings in one step; stopping at %" PRId64,
                     MAX_FIRINGS_PER_RUN, clk->virt_ns);
            return clk->virt_ns;
        }
        if (t->expire > clk->virt_ns) {
            clk->virt_ns = t->expire;
        }
        t->pending = false;
        t->cb(t->opaque);
        if (*slot != clk) {
            return machine_clock_ns(*slot);   /* cannot happen: the context outlives us */
        }
    }
    if (target > clk->virt_ns) {
        clk->virt_ns = target;
    }
    return clk->virt_ns;
}
