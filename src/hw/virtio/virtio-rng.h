/*
 * virtio-rng (virtio 1.2 §5.4): the `virtio-rng-device` type (docs/devices-rng.md).
 * One request queue of device-writable buffers that the
 * device fills with bytes from an rng-random back end (backends/object.h),
 * optionally rate-limited to max-bytes per period milliseconds.
 *
 * The limiter is plain arithmetic on machine-clock times so that it can be
 * tested without a machine; the device arms a machine timer at window_end.
 */
#ifndef STRATUS_VIRTIO_RNG_H
#define STRATUS_VIRTIO_RNG_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#define VIRTIO_RNG_QUEUE_SIZE 256          /* StratoVirt's QUEUE_SIZE_RNG */

/* StratoVirt's bounds on max-bytes * 1000 / period (bytes per second). */
#define VIRTIO_RNG_MIN_BYTES_PER_SEC 64ULL
#define VIRTIO_RNG_MAX_BYTES_PER_SEC 1000000000ULL

/*
 * QEMU's model: a window opens when the first byte is delivered, lasts
 * period_ns, and allows max_bytes; the next window opens with the next byte
 * delivered after it ended. So no window of the machine's time that starts
 * where a window opens gives the guest more than max_bytes.
 */
typedef struct RngLimiter {
    uint64_t max_bytes;        /* per window; 0 = no limit */
    int64_t period_ns;
    uint64_t quota;            /* bytes left in the open window */
    int64_t window_end;        /* machine-clock ns the open window ends; -1: none open */
} RngLimiter;

/* max_bytes 0: unlimited. */
void rng_limiter_init(RngLimiter *l, uint64_t max_bytes, uint64_t period_ms);
static inline bool rng_limiter_active(const RngLimiter *l)
{
    return l->max_bytes != 0;
}
/* Bytes the guest may be given at `now` (UINT64_MAX when unlimited). */
uint64_t rng_limiter_allowance(const RngLimiter *l, int64_t now);
/* n bytes (at most the allowance) were given at `now`; opens a window if none is. */
void rng_limiter_charge(RngLimiter *l, int64_t now, uint64_t n);

/*
 * StratoVirt's checks on the properties, with its texts: both or neither of
 * max-bytes and period, max-bytes * 1000 within 64 bits (then
 * *bytes_per_sec = max-bytes * 1000 / period, 0 when there is no limit).
 * 0 means "not given": the properties refuse an explicit 0. StratoVirt looks
 * the back end up before it checks the rate's range, so that is separate.
 */
bool virtio_rng_check_rate(uint64_t max_bytes, uint64_t period_ms, uint64_t *bytes_per_sec,
                           GError **err);
/* The rate within [64, 1e9] bytes per second. */
bool virtio_rng_check_rate_range(uint64_t bytes_per_sec, GError **err);

#endif
