/* DDSketch-style quantile sketch with a fixed window of GUARD_SKETCH_BINS
 * log-spaced buckets (see sketch.h).
 *
 * Invariant: count == zero_count + sum(bins); when sum(bins) > 0 every
 * non-zero bucket lies in [base, base + GUARD_SKETCH_BINS). Values whose key
 * falls below the window are counted in bins[0] (collapsing lowest). */
#include "guard/sketch.h"

#include <math.h>
#include <string.h>

#include "base/error.h"

#define SK_VERSION 1
/* Keys of positive finite doubles above GUARD_SKETCH_MIN_VALUE lie well
 * inside this bound (log(DBL_MAX)/log(gamma) is about 35,500). */
#define SK_KEY_BOUND (1 << 24)

static double sk_gamma(void)
{
    return (1.0 + GUARD_SKETCH_REL_ACC) / (1.0 - GUARD_SKETCH_REL_ACC);
}

static int32_t sk_key(double v)
{
    return (int32_t)ceil(log(v) / log(sk_gamma()));
}

static double sk_value(int32_t key)
{
    double g = sk_gamma();
    return 2.0 * pow(g, key) / (g + 1.0);
}

void guard_sketch_init(guard_sketch *s)
{
    memset(s, 0, sizeof *s);
}

static bool sk_bins_empty(const guard_sketch *s)
{
    return s->count == s->zero_count;
}

static int32_t sk_highest(const guard_sketch *s)
{
    for (int32_t i = GUARD_SKETCH_BINS - 1; i > 0; i--)
        if (s->bins[i])
            return s->base + i;
    return s->base;
}

/* Moves the window up by d keys, collapsing the buckets that fall off the
 * bottom into the new lowest bucket. */
static void sk_shift_up(guard_sketch *s, int32_t d)
{
    uint64_t low = 0;
    if (d >= GUARD_SKETCH_BINS) {
        for (size_t i = 0; i < GUARD_SKETCH_BINS; i++)
            low += s->bins[i];
        memset(s->bins, 0, sizeof s->bins);
    } else {
        for (int32_t i = 0; i <= d; i++)
            low += s->bins[i];
        memmove(s->bins, s->bins + d,
                (size_t)(GUARD_SKETCH_BINS - d) * sizeof s->bins[0]);
        memset(s->bins + (GUARD_SKETCH_BINS - d), 0,
               (size_t)d * sizeof s->bins[0]);
    }
    s->bins[0] = low;
    s->base += d;
}

/* Moves the window down by d keys; the caller made sure nothing falls off
 * the top. */
static void sk_shift_down(guard_sketch *s, int32_t d)
{
    memmove(s->bins + d, s->bins,
            (size_t)(GUARD_SKETCH_BINS - d) * sizeof s->bins[0]);
    memset(s->bins, 0, (size_t)d * sizeof s->bins[0]);
    s->base -= d;
}

/* Adds n to the bucket of `key` (count fields are the caller's job). */
static void sk_add_key(guard_sketch *s, int32_t key, uint64_t n)
{
    if (sk_bins_empty(s)) {
        memset(s->bins, 0, sizeof s->bins);
        s->base = key - GUARD_SKETCH_BINS / 2;
    }
    if (key < s->base) {
        int32_t hi = sk_highest(s);
        int32_t nb =
            hi - key >= GUARD_SKETCH_BINS ? hi - GUARD_SKETCH_BINS + 1 : key;
        if (nb < s->base)
            sk_shift_down(s, s->base - nb);
        if (key < s->base)
            key = s->base;
    } else if (key >= s->base + GUARD_SKETCH_BINS) {
        sk_shift_up(s, key - GUARD_SKETCH_BINS + 1 - s->base);
    }
    s->bins[key - s->base] += n;
}

static void sk_minmax(guard_sketch *s, double lo, double hi)
{
    if (s->count == 0) {
        s->min = lo;
        s->max = hi;
        return;
    }
    if (lo < s->min)
        s->min = lo;
    if (hi > s->max)
        s->max = hi;
}

vx_status guard_sketch_add(guard_sketch *s, double value, uint64_t count)
{
    if (!(value >= 0.0) || !isfinite(value))
        return VX_EINVAL;
    if (count == 0)
        return VX_OK;
    sk_minmax(s, value, value);
    if (value <= GUARD_SKETCH_MIN_VALUE)
        s->zero_count += count;
    else
        sk_add_key(s, sk_key(value), count);
    s->count += count;
    return VX_OK;
}

void guard_sketch_merge(guard_sketch *dst, const guard_sketch *src)
{
    if (src->count == 0)
        return;
    sk_minmax(dst, src->min, src->max);
    /* Highest first: the window then settles at the top at once and the
     * low keys collapse into it without repeated shifting. */
    for (int32_t i = GUARD_SKETCH_BINS - 1; i >= 0; i--) {
        if (!src->bins[i])
            continue;
        sk_add_key(dst, src->base + i, src->bins[i]);
        dst->count += src->bins[i];
    }
    dst->zero_count += src->zero_count;
    dst->count += src->zero_count;
}

double guard_sketch_quantile(const guard_sketch *s, double q)
{
    if (s->count == 0 || !(q >= 0.0 && q <= 1.0))
        return 0.0;
    double rank = q * (double)(s->count - 1);
    double cum = (double)s->zero_count;
    double v = s->max;
    if (cum > rank) {
        v = 0.0;
    } else {
        for (size_t i = 0; i < GUARD_SKETCH_BINS; i++) {
            cum += (double)s->bins[i];
            if (cum > rank) {
                v = sk_value(s->base + (int32_t)i);
                break;
            }
        }
    }
    if (v < s->min)
        v = s->min;
    if (v > s->max)
        v = s->max;
    return v;
}

uint64_t guard_sketch_count_above(const guard_sketch *s, double x)
{
    if (s->count == 0 || !(x < s->max))
        return 0;
    uint64_t n = x < 0.0 ? s->zero_count : 0;
    for (size_t i = 0; i < GUARD_SKETCH_BINS; i++)
        if (s->bins[i] && sk_value(s->base + (int32_t)i) > x)
            n += s->bins[i];
    return n;
}

/* ---- encoding ---------------------------------------------------------- */

typedef struct sk_writer {
    uint8_t *buf; /* output */
    size_t cap;   /* its size */
    size_t len;   /* bytes written */
    bool full;    /* a write did not fit */
} sk_writer;

static void w_byte(sk_writer *w, uint8_t b)
{
    if (w->len < w->cap)
        w->buf[w->len++] = b;
    else
        w->full = true;
}

static void w_varint(sk_writer *w, uint64_t v)
{
    while (v >= 0x80) {
        w_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    w_byte(w, (uint8_t)v);
}

static void w_double(sk_writer *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    for (int i = 0; i < 8; i++)
        w_byte(w, (uint8_t)(bits >> (8 * i)));
}

vx_status guard_sketch_encode(const guard_sketch *s, uint8_t *buf, size_t cap,
                              size_t *len)
{
    sk_writer w = {buf, cap, 0, false};
    size_t entries = 0;
    for (size_t i = 0; i < GUARD_SKETCH_BINS; i++)
        entries += s->bins[i] != 0;
    if (sk_bins_empty(s))
        entries = 0;
    w_byte(&w, SK_VERSION);
    w_varint(&w, s->zero_count);
    w_double(&w, s->min);
    w_double(&w, s->max);
    w_varint(&w, entries);
    int32_t prev = 0;
    bool first = true;
    for (size_t i = 0; entries && i < GUARD_SKETCH_BINS; i++) {
        if (!s->bins[i])
            continue;
        int32_t key = s->base + (int32_t)i;
        if (first) {
            /* zigzag: keys are negative for values below 1 */
            w_varint(&w, key < 0 ? ((uint64_t)(-(int64_t)key) << 1) - 1
                                 : (uint64_t)key << 1);
            first = false;
        } else {
            w_varint(&w, (uint64_t)(key - prev));
        }
        prev = key;
        w_varint(&w, s->bins[i]);
    }
    *len = w.full ? 0 : w.len;
    return w.full ? VX_ELIMIT : VX_OK;
}

typedef struct sk_reader {
    const uint8_t *p; /* next byte */
    const uint8_t *end;
    bool bad; /* ran past the end or a varint was too long */
} sk_reader;

static uint64_t r_varint(sk_reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = true;
            return 0;
        }
        uint8_t b = *r->p++;
        /* over 64 bits, or a redundant trailing zero group: one value has
         * one encoding, so stored sketches compare byte for byte */
        if ((shift == 63 && b > 1) || (shift > 0 && b == 0)) {
            r->bad = true;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static double r_double(sk_reader *r)
{
    if (r->end - r->p < 8) {
        r->bad = true;
        return 0.0;
    }
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

vx_status guard_sketch_decode(const uint8_t *buf, size_t len, guard_sketch *s,
                              vx_error *err)
{
    sk_reader r = {buf, buf + len, false};
    const char *why = NULL;
    guard_sketch_init(s);
    if (len == 0 || buf[0] != SK_VERSION) {
        why = "unknown sketch encoding version";
        goto out;
    }
    r.p++;
    uint64_t zero = r_varint(&r);
    double mn = r_double(&r), mx = r_double(&r);
    uint64_t entries = r_varint(&r);
    if (r.bad) {
        why = "truncated sketch header";
        goto out;
    }
    if (!isfinite(mn) || !isfinite(mx) || signbit(mn) || signbit(mx) ||
        mn > mx) {
        why = "sketch min/max out of range";
        goto out;
    }
    if (entries > GUARD_SKETCH_BINS) {
        why = "too many sketch buckets";
        goto out;
    }
    int64_t key = 0, first = 0;
    uint64_t total = zero;
    for (uint64_t i = 0; i < entries; i++) {
        uint64_t k = r_varint(&r);
        uint64_t c = r_varint(&r);
        if (r.bad) {
            why = "truncated sketch bucket";
            goto out;
        }
        if (i == 0) {
            if (k > 2u * SK_KEY_BOUND) {
                why = "sketch key out of range";
                goto out;
            }
            key = (k & 1) ? -(int64_t)((k + 1) >> 1) : (int64_t)(k >> 1);
            first = key;
        } else {
            if (k == 0 || k >= GUARD_SKETCH_BINS) {
                why = "sketch keys not increasing within the window";
                goto out;
            }
            key += (int64_t)k;
        }
        if (key - first >= GUARD_SKETCH_BINS) {
            why = "sketch keys span more than the window";
            goto out;
        }
        if (c == 0 || total + c < total) {
            why = "bad sketch bucket count";
            goto out;
        }
        total += c;
        sk_add_key(s, (int32_t)key, c);
        s->count += c;
    }
    if (r.p != r.end) {
        why = "trailing bytes after the sketch";
        goto out;
    }
    if (total == 0 && (mn != 0.0 || mx != 0.0)) {
        why = "an empty sketch has min and max 0";
        goto out;
    }
    s->zero_count = zero;
    s->count = total;
    s->min = total ? mn : 0.0;
    s->max = total ? mx : 0.0;
out:
    if (why) {
        guard_sketch_init(s);
        return vx__error_set(err, VX_EPARSE, "", "%s", why);
    }
    return VX_OK;
}
