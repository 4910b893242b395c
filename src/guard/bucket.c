/* Per-variant outcome aggregates and time buckets (see bucket.h).
 *
 * Invariant: latency.n == log_latency.n, and (for a bucket) the sketch holds
 * exactly the latencies counted in the moments, unless the caller added
 * pre-summarised moments with guard_counts_add_moments. */
#include "guard/bucket.h"

#include <math.h>
#include <string.h>

static void moments_add(guard_moments *m, double x)
{
    m->n += 1.0;
    m->sum += x;
    m->sumsq += x * x;
}

static void moments_merge(guard_moments *dst, const guard_moments *src)
{
    dst->n += src->n;
    dst->sum += src->sum;
    dst->sumsq += src->sumsq;
}

vx_status guard_counts_add_latency(guard_counts *c, double ms)
{
    if (!(ms >= 0.0) || !isfinite(ms))
        return VX_EINVAL;
    moments_add(&c->latency, ms);
    moments_add(&c->log_latency,
                log(ms > GUARD_LATENCY_FLOOR_MS ? ms : GUARD_LATENCY_FLOOR_MS));
    return VX_OK;
}

void guard_counts_add_moments(guard_counts *c, const guard_moments *latency,
                              const guard_moments *log_latency)
{
    moments_merge(&c->latency, latency);
    moments_merge(&c->log_latency, log_latency);
}

void guard_counts_merge(guard_counts *dst, const guard_counts *src)
{
    dst->requests += src->requests;
    dst->errors += src->errors;
    dst->conversions += src->conversions;
    moments_merge(&dst->latency, &src->latency);
    moments_merge(&dst->log_latency, &src->log_latency);
}

int64_t guard_bucket_floor(int64_t t, int64_t width)
{
    int64_t r = t % width;
    return r < 0 ? t - r - width : t - r;
}

vx_status guard_bucket_init(guard_bucket *b, int64_t t, int64_t width)
{
    memset(b, 0, sizeof *b);
    if (width <= 0)
        return VX_EINVAL;
    b->start = guard_bucket_floor(t, width);
    b->width = width;
    guard_sketch_init(&b->latency);
    return VX_OK;
}

vx_status guard_bucket_observe(guard_bucket *b, bool error, bool converted,
                               double latency_ms)
{
    if (isnan(latency_ms) || isinf(latency_ms))
        return VX_EINVAL;
    if (latency_ms >= 0.0) {
        (void)guard_counts_add_latency(&b->counts, latency_ms);
        (void)guard_sketch_add(&b->latency, latency_ms, 1);
    }
    b->counts.requests++;
    b->counts.errors += error;
    b->counts.conversions += converted;
    return VX_OK;
}

vx_status guard_bucket_merge(guard_bucket *dst, const guard_bucket *src)
{
    if (dst->width <= 0 || src->width <= 0 || src->start < dst->start ||
        src->start + src->width > dst->start + dst->width)
        return VX_EINVAL;
    guard_counts_merge(&dst->counts, &src->counts);
    guard_sketch_merge(&dst->latency, &src->latency);
    return VX_OK;
}
