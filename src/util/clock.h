/*
 * The machine clock and timers on the machine's main loop.
 *
 * Every timed behaviour of the guest's machine (UART timeouts, block
 * throttling, balloon statistics...) must use this clock instead of
 * g_get_monotonic_time()/g_timeout_add(), so that a qtest harness can drive
 * time deterministically. (Limits that protect the host rather than model
 * the machine, such as the QMP rate limiter, use host time: a test that
 * never steps the clock must not be throttled for good.)
 *
 *   - under kvm the machine clock is CLOCK_MONOTONIC (nanoseconds) and timers
 *     fire from the main loop (a GSource whose ready time is the earliest
 *     deadline);
 *   - under qtest it is a virtual clock that starts at 0 and only moves when
 *     the harness sends clock_step / clock_set; timers whose deadline is
 *     passed fire synchronously from that command, one at a time, in deadline
 *     order (ties: in arming order), with machine_clock_ns() reading exactly
 *     the timer's deadline inside its callback.
 *
 * A MachineClock belongs to one GMainContext (the machine's): created on
 * first use by machine_clock_get() and freed when that context is destroyed.
 * Its owner keeps the pointer (Machine.clock), which the clock clears when it
 * goes. The functions that only read or advance time accept NULL, "no clock
 * yet": real time and no timers. This file knows nothing of Machine, so that
 * util/ stays the lowest layer.
 *
 * All functions need the caller's lock (the machine lock: main-loop
 * callbacks and vCPU-thread device handlers hold it); timer callbacks run
 * from the context, on the main thread, with it held. A callback may re-arm,
 * delete or free any timer, including its own.
 */
#ifndef STRATUS_CLOCK_H
#define STRATUS_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct MachineClock MachineClock;
typedef struct MachineTimer MachineTimer;
typedef void MachineTimerFn(void *opaque);

#define CLOCK_NS_PER_US 1000LL
#define CLOCK_NS_PER_MS 1000000LL
#define CLOCK_NS_PER_SEC 1000000000LL

/*
 * *slot, after creating it on ctx if it is NULL. The clock stores slot and
 * sets *slot to NULL when ctx destroys it, so slot must outlive ctx.
 */
MachineClock *machine_clock_get(MachineClock **slot, GMainContext *ctx);

/* Nanoseconds on the machine clock (see above). Any thread, lock held. */
int64_t machine_clock_ns(const MachineClock *clk);
/* Same in microseconds (the unit GLib and the QMP clock hook use). */
int64_t machine_clock_us(const MachineClock *clk);
/* True when the clock is the qtest-driven virtual clock. */
bool machine_clock_is_virtual(const MachineClock *clk);

/* A disarmed timer. cb runs on the main thread with the machine lock held. */
MachineTimer *machine_timer_new(MachineClock *clk, MachineTimerFn *cb, void *opaque);
/* Disarms and frees; NULL is a no-op. */
void machine_timer_free(MachineTimer *t);
/* Arms (or re-arms) for an absolute machine-clock time in ns (past = asap). */
void machine_timer_mod(MachineTimer *t, int64_t expire_ns);
/* Arms for now + delta_ns. */
void machine_timer_mod_in(MachineTimer *t, int64_t delta_ns);
void machine_timer_del(MachineTimer *t);
bool machine_timer_pending(const MachineTimer *t);
/* The armed deadline, or -1 when not pending. */
int64_t machine_timer_expire(const MachineTimer *t);

/* ---- For the qtest accelerator ---- */

/* Switches the clock to virtual time (at 0). Call before timers exist. */
void machine_clock_use_virtual(MachineClock *clk);
/* Earliest pending deadline (absolute ns), -1 if no timer is armed. */
int64_t machine_clock_next_deadline(const MachineClock *clk);
/*
 * Virtual clock only: moves time forward to `target` (never backwards),
 * firing every timer that expires on the way, in order. Returns the new time.
 */
int64_t machine_clock_advance_to(MachineClock *clk, int64_t target);

#endif
