/* A quantile sketch with bounded relative error (DDSketch, Masson et al.,
 * PVLDB 2019): log-spaced buckets of ratio gamma = (1 + a)/(1 - a) with
 * a = GUARD_SKETCH_REL_ACC, so every quantile it returns is within a
 * relative a of the true order statistic, as long as the values span less
 * than gamma^GUARD_SKETCH_BINS (about 1:7.8e8 at a = 1 %). Past that the
 * lowest buckets are collapsed (the high quantiles, which latency guards
 * look at, keep their guarantee).
 *
 * The sketch is a plain fixed-size struct (no heap): embed it, copy it with
 * memcpy, merge it losslessly. Not thread-safe: the owner serialises access.
 * The relative accuracy is a compile-time constant so that every sketch can
 * be merged with every other. */
#ifndef VX_GUARD_SKETCH_H
#define VX_GUARD_SKETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "vexil/status.h"

#define GUARD_SKETCH_REL_ACC 0.01
#define GUARD_SKETCH_BINS    VX_LIMIT_GUARD_SKETCH_BINS
/* Values at or below this go to the zero bucket (reported as 0). */
#define GUARD_SKETCH_MIN_VALUE 1e-9
/* Upper bound of guard_sketch_encode's output, in bytes. */
#define GUARD_SKETCH_ENCODED_MAX (1 + 10 + 10 + 16 + 5 + GUARD_SKETCH_BINS * 15)

typedef struct guard_sketch {
    uint64_t count;      /* all values added, zero bucket included */
    uint64_t zero_count; /* values <= GUARD_SKETCH_MIN_VALUE */
    double min;          /* smallest value added (0 when count == 0) */
    double max;          /* largest value added */
    int32_t base;        /* key of bins[0]; keys below were collapsed in */
    uint64_t bins[GUARD_SKETCH_BINS]; /* counts per key base + i */
} guard_sketch;

/* Makes `s` empty. Never fails. */
void guard_sketch_init(guard_sketch *s);

/* Adds `count` copies of `value`. VX_EINVAL if value is negative, NaN or
 * infinite (the sketch is unchanged). */
vx_status guard_sketch_add(guard_sketch *s, double value, uint64_t count);

/* Adds every value of `src` to `dst` (lossless: the result is the sketch of
 * the union). `src` may not alias `dst`. */
void guard_sketch_merge(guard_sketch *dst, const guard_sketch *src);

/* The q-quantile (0 <= q <= 1) of the values added: within
 * GUARD_SKETCH_REL_ACC of the order statistic of rank floor(q (count - 1)),
 * clamped to [min, max]. Returns 0 for an empty sketch or a q outside
 * [0, 1]. */
double guard_sketch_quantile(const guard_sketch *s, double q);

/* How many values are above x, to the sketch's resolution: a bucket counts
 * when its representative value is above x (so the answer is exact except
 * for values within the relative accuracy of x). */
uint64_t guard_sketch_count_above(const guard_sketch *s, double x);

/* Serialises `s` into buf[0, cap) in a compact form (a version byte, then
 * varints for the non-empty buckets only); sets *len. VX_ELIMIT if cap is
 * too small (GUARD_SKETCH_ENCODED_MAX is always enough). */
vx_status guard_sketch_encode(const guard_sketch *s, uint8_t *buf, size_t cap,
                              size_t *len);

/* Parses what guard_sketch_encode wrote. Validates everything (version,
 * minimal varints, strictly increasing keys, non-zero counts, no overflow,
 * no trailing bytes); on failure returns VX_EPARSE with a message in `err`
 * (may be NULL) and leaves `s` empty. */
vx_status guard_sketch_decode(const uint8_t *buf, size_t len, guard_sketch *s,
                              vx_error *err);

#endif
