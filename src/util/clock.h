/*
 * The machine clock and timers on the machine's main loop.
 *
 * Every timed behaviour in the VMM (UART timeouts, QMP rate limits, block
 * throttling, balloon statistics...) must use this clock instead of
 * g_get_monotonic_time()/g_timeout_add(), so that a qtest harness can drive
 * time deterministically:
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
 * The state lives in Machine.clock (created on first use, freed when the
 * machine's GMainContext is destroyed). All functions need the machine lock
 * (main-loop callbacks and vCPU-thread device handlers hold it); timer
 * callbacks run with it held, on the main thread. A callback may re-arm,
 * delete or free any timer, including its own.
 */
#ifndef STRATUS_CLOCK_H
#define STRATUS_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct Machine Machine;
typedef struct MachineTimer MachineTimer;
typedef void MachineTimerFn(void *opaque);

#define CLOCK_NS_PER_US 1000LL
#define CLOCK_NS_PER_MS 1000000LL
#define CLOCK_NS_PER_SEC 1000000000LL

/* Nanoseconds on the machine clock (see above). Any thread, lock held. */
int64_t machine_clock_ns(Machine *m);
/* Same in microseconds (the unit GLib and the QMP clock hook use). */
int64_t machine_clock_us(Machine *m);
/* True when the clock is the qtest-driven virtual clock. */
bool machine_clock_is_virtual(Machine *m);

/* A disarmed timer. cb runs on the main thread with the machine lock held. */
MachineTimer *machine_timer_new(Machine *m, MachineTimerFn *cb, void *opaque);
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

/* Switches the machine to the virtual clock (at 0). Call before timers exist. */
void machine_clock_use_virtual(Machine *m);
/* Earliest pending deadline (absolute ns), -1 if no timer is armed. */
int64_t machine_clock_next_deadline(Machine *m);
/*
 * Virtual clock only: moves time forward to `target` (never backwards),
 * firing every timer that expires on the way, in order. Returns the new time.
 */
int64_t machine_clock_advance_to(Machine *m, int64_t target);

#endif
