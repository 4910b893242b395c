/* Per-variant aggregates of the outcomes applications report: the counts a
 * guard metric needs (guard_counts) and a time bucket that adds a latency
 * sketch (guard_bucket). The server keeps one bucket per (flag, environment,
 * variant, minute), merges minutes into hours to downsample, and sums
 * buckets into a guard_counts per arm for the plan decision.
 *
 * Plain structs, no heap, no locks: the owner serialises access. Merging is
 * exact (counts and sums add; sketches merge losslessly), so any window can
 * be rebuilt from its buckets in any order. */
#ifndef VX_GUARD_BUCKET_H
#define VX_GUARD_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

#include "guard/sketch.h"
#include "guard/stats.h"

/* Latencies below this (ms) are taken as this for the log moments, so a
 * reported 0 ms does not make log(latency) infinite. */
#define GUARD_LATENCY_FLOOR_MS 0.001

typedef struct guard_counts {
    uint64_t requests;         /* exposures: requests served by the arm */
    uint64_t errors;           /* of which failed */
    uint64_t conversions;      /* of which converted */
    guard_moments latency;     /* latency in ms: n, sum, sum of squares */
    guard_moments log_latency; /* the same for ln(latency in ms) */
} guard_counts;

/* Adds one latency observation (ms, finite, >= 0) to both moment sets.
 * VX_EINVAL (and no change) otherwise. */
vx_status guard_counts_add_latency(guard_counts *c, double ms);

/* Adds a batch already summarised by the caller: n latencies with their
 * sum and sum of squares, in ms and in ln(ms). */
void guard_counts_add_moments(guard_counts *c, const guard_moments *latency,
                              const guard_moments *log_latency);

/* dst += src. */
void guard_counts_merge(guard_counts *dst, const guard_counts *src);

typedef struct guard_bucket {
    int64_t start;        /* unix seconds, a multiple of width */
    int64_t width;        /* seconds: 60 for minutes, 3600 for hours */
    guard_counts counts;  /* outcome counts and moments */
    guard_sketch latency; /* latency sketch, ms */
} guard_bucket;

/* The start of the width-second bucket holding unix time t (floor, also for
 * negative t). width must be > 0. */
int64_t guard_bucket_floor(int64_t t, int64_t width);

/* An empty bucket for the window holding `t`. VX_EINVAL if width <= 0. */
vx_status guard_bucket_init(guard_bucket *b, int64_t t, int64_t width);

/* Records one request: whether it failed, whether it converted, and its
 * latency in ms (pass a negative latency when there is none). VX_EINVAL if
 * the latency is NaN or infinite (nothing is recorded). */
vx_status guard_bucket_observe(guard_bucket *b, bool error, bool converted,
                               double latency_ms);

/* Adds `src` into `dst` (downsampling). VX_EINVAL unless src's window lies
 * inside dst's window; dst is then unchanged. */
vx_status guard_bucket_merge(guard_bucket *dst, const guard_bucket *src);

#endif
