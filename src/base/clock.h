/* The clocks, read in one place. Everything that needs the time outside the
 * evaluation core reads it here; the core never does (every evaluation takes
 * "now" as an input, see vexil.h).
 *
 * Thread-safety: every function may be called from any thread. */
#ifndef VX_BASE_CLOCK_H
#define VX_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): for what is stored
 * or shown (timestamps, expiries). */
int64_t vx__wall_ms(void);

/* Milliseconds of CLOCK_MONOTONIC: for durations and deadlines, which a
 * change of the wall clock must not move. */
int64_t vx__mono_ms(void);

/* The absolute time `ms` milliseconds from now on `clock` (CLOCK_REALTIME
 * for pthread_mutex_timedlock and default condition variables,
 * CLOCK_MONOTONIC for those made with pthread_condattr_setclock). `ms` < 0
 * counts as 0. */
struct timespec vx__deadline(clockid_t clock, int64_t ms);

#endif
