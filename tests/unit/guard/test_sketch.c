/* Unit tests for src/guard/sketch.c: the relative-error guarantee against
 * exact order statistics computed here by sorting (the independent
 * reference), lossless merging, the collapsing window, and the compact
 * encoding (round trip and rejection of malformed input). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard/sketch.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s)
{
    return ((double)(rng_next(s) >> 11) + 0.5) * 0x1.0p-53;
}

/* log-normal latency, median 200 ms, sigma_log 1 */
static double latency(uint64_t *s)
{
    double z = sqrt(-2.0 * log(unif(s))) * cos(2.0 * M_PI * unif(s));
    return 200.0 * exp(z);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const double QS[] = {0.0, 0.01, 0.1,  0.25,  0.5, 0.75,
                            0.9, 0.95, 0.99, 0.999, 1.0};

/* Every quantile within the relative accuracy of the exact order statistic
 * of rank floor(q (n - 1)). */
static void check_quantiles(const guard_sketch *s, double *vals, size_t n)
{
    qsort(vals, n, sizeof vals[0], cmp_double);
    for (size_t i = 0; i < sizeof QS / sizeof QS[0]; i++) {
        double want = vals[(size_t)floor(QS[i] * (double)(n - 1))];
        double got = guard_sketch_quantile(s, QS[i]);
        if (!(fabs(got - want) <= GUARD_SKETCH_REL_ACC * want * (1 + 1e-12))) {
            print_error("q %g: got %.10g want %.10g\n", QS[i], got, want);
            fail();
        }
    }
}

static void test_relative_error(void **state)
{
    (void)state;
    static guard_sketch s;
    enum { N = 20000 };
    static double vals[N];
    uint64_t r = 1;
    guard_sketch_init(&s);
    for (size_t i = 0; i < N; i++) {
        vals[i] = latency(&r);
        assert_int_equal(guard_sketch_add(&s, vals[i], 1), VX_OK);
    }
    assert_int_equal(s.count, N);
    check_quantiles(&s, vals, N);
}

static void test_merge_is_union(void **state)
{
    (void)state;
    static guard_sketch a, b, all;
    enum { N = 6000 };
    static double vals[N];
    uint64_t r = 2;
    guard_sketch_init(&a);
    guard_sketch_init(&b);
    guard_sketch_init(&all);
    for (size_t i = 0; i < N; i++) {
        /* the second half is 1000x slower: the window has to move */
        vals[i] = latency(&r) * (i < N / 2 ? 1.0 : 1000.0);
        guard_sketch_add(i < N / 2 ? &a : &b, vals[i], 1);
        guard_sketch_add(&all, vals[i], 1);
    }
    guard_sketch_merge(&a, &b);
    assert_int_equal(a.count, all.count);
    assert_true(a.min == all.min && a.max == all.max);
    for (size_t i = 0; i < sizeof QS / sizeof QS[0]; i++)
        assert_true(guard_sketch_quantile(&a, QS[i]) ==
                    guard_sketch_quantile(&all, QS[i]));
    check_quantiles(&a, vals, N);
}

static void test_zero_and_bad_values(void **state)
{
    (void)state;
    static guard_sketch s;
    guard_sketch_init(&s);
    assert_float_equal(guard_sketch_quantile(&s, 0.5), 0.0, 0);
    assert_int_equal(guard_sketch_add(&s, -1.0, 1), VX_EINVAL);
    assert_int_equal(guard_sketch_add(&s, NAN, 1), VX_EINVAL);
    assert_int_equal(guard_sketch_add(&s, INFINITY, 1), VX_EINVAL);
    assert_int_equal(s.count, 0);
    assert_int_equal(guard_sketch_add(&s, 0.0, 3), VX_OK);
    assert_int_equal(guard_sketch_add(&s, 10.0, 1), VX_OK);
    assert_int_equal(s.zero_count, 3);
    /* ranks 0..2 are zeros, rank 3 is 10 */
    assert_float_equal(guard_sketch_quantile(&s, 0.5), 0.0, 0);
    assert_float_equal(guard_sketch_quantile(&s, 1.0), 10.0, 0);
    assert_float_equal(guard_sketch_quantile(&s, 1.5), 0.0, 0);
}

/* Values spanning more than the window: the lowest buckets collapse, the
 * high quantiles keep their guarantee. */
static void test_collapse_keeps_high_quantiles(void **state)
{
    (void)state;
    static guard_sketch s;
    enum { N = 4000 };
    static double vals[N];
    guard_sketch_init(&s);
    for (size_t i = 0; i < N; i++) {
        /* 1e-6 .. 1e6: twelve decades, the window holds about nine */
        vals[i] = pow(10.0, -6.0 + 12.0 * (double)i / (N - 1));
        guard_sketch_add(&s, vals[i], 1);
    }
    double p99 = guard_sketch_quantile(&s, 0.99);
    double want = vals[(size_t)floor(0.99 * (N - 1))];
    assert_true(fabs(p99 - want) <= GUARD_SKETCH_REL_ACC * want);
    /* the collapsed low end reads high, never below the minimum */
    assert_true(guard_sketch_quantile(&s, 0.0) >= vals[0]);
}

/* count_above against an exact count: off only by values within the
 * relative accuracy of the threshold. */
static void test_count_above(void **state)
{
    (void)state;
    static guard_sketch s;
    enum { N = 20000 };
    static double vals[N];
    uint64_t r = 9;
    guard_sketch_init(&s);
    for (size_t i = 0; i < N; i++) {
        vals[i] = latency(&r);
        guard_sketch_add(&s, vals[i], 1);
    }
    const double xs[] = {50, 200, 700, 1500, 5000};
    for (size_t j = 0; j < sizeof xs / sizeof xs[0]; j++) {
        uint64_t above = 0, near_x = 0;
        for (size_t i = 0; i < N; i++) {
            above += vals[i] > xs[j];
            near_x += fabs(vals[i] - xs[j]) <= 2 * GUARD_SKETCH_REL_ACC * xs[j];
        }
        uint64_t got = guard_sketch_count_above(&s, xs[j]);
        uint64_t diff = got > above ? got - above : above - got;
        assert_true(diff <= near_x);
    }
    assert_int_equal(guard_sketch_count_above(&s, 1e9), 0);
    assert_int_equal(guard_sketch_count_above(&s, 0.0), N);
}

static void test_encode_round_trip(void **state)
{
    (void)state;
    static guard_sketch s, d;
    static uint8_t buf[GUARD_SKETCH_ENCODED_MAX];
    uint64_t r = 3;
    size_t len = 0;
    guard_sketch_init(&s);
    /* empty sketch */
    assert_int_equal(guard_sketch_encode(&s, buf, sizeof buf, &len), VX_OK);
    assert_int_equal(guard_sketch_decode(buf, len, &d, NULL), VX_OK);
    assert_int_equal(d.count, 0);
    guard_sketch_add(&s, 0.0, 2);
    for (int i = 0; i < 5000; i++)
        guard_sketch_add(&s, latency(&r) / 1000.0, 1); /* seconds: keys < 0 */
    assert_int_equal(guard_sketch_encode(&s, buf, sizeof buf, &len), VX_OK);
    assert_true(len < 4 * 600); /* compact: a few bytes per used bucket */
    assert_int_equal(guard_sketch_decode(buf, len, &d, NULL), VX_OK);
    assert_int_equal(d.count, s.count);
    assert_int_equal(d.zero_count, s.zero_count);
    assert_true(d.min == s.min && d.max == s.max);
    for (size_t i = 0; i < sizeof QS / sizeof QS[0]; i++)
        assert_true(guard_sketch_quantile(&d, QS[i]) ==
                    guard_sketch_quantile(&s, QS[i]));
    /* too small a buffer */
    assert_int_equal(guard_sketch_encode(&s, buf, len - 1, &len), VX_ELIMIT);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    static guard_sketch s, d;
    static uint8_t buf[GUARD_SKETCH_ENCODED_MAX], bad[GUARD_SKETCH_ENCODED_MAX];
    size_t len = 0;
    vx_error err;
    guard_sketch_init(&s);
    guard_sketch_add(&s, 5.0, 2);
    guard_sketch_add(&s, 50.0, 3);
    assert_int_equal(guard_sketch_encode(&s, buf, sizeof buf, &len), VX_OK);
    /* every truncation fails cleanly */
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(guard_sketch_decode(buf, n, &d, &err), VX_EPARSE);
        assert_int_equal(d.count, 0);
    }
    /* trailing byte */
    memcpy(bad, buf, len);
    bad[len] = 0;
    assert_int_equal(guard_sketch_decode(bad, len + 1, &d, &err), VX_EPARSE);
    assert_string_equal(err.message, "trailing bytes after the sketch");
    /* wrong version */
    memcpy(bad, buf, len);
    bad[0] = 9;
    assert_int_equal(guard_sketch_decode(bad, len, &d, &err), VX_EPARSE);
    /* a zero count. Layout: version, zero count, min, max, entries (19
     * bytes), then key 81 (5.0) as zigzag 162 in two varint bytes, its
     * count, the key delta 115 (50.0 has key 196), its count. */
    assert_int_equal(len, 24);
    assert_int_equal(buf[19], 0xa2);
    assert_int_equal(buf[22], 115);
    memcpy(bad, buf, len);
    bad[21] = 0;
    assert_int_equal(guard_sketch_decode(bad, len, &d, &err), VX_EPARSE);
    /* a zero key delta (not increasing) */
    memcpy(bad, buf, len);
    bad[22] = 0;
    assert_int_equal(guard_sketch_decode(bad, len, &d, &err), VX_EPARSE);
    /* NaN minimum */
    memcpy(bad, buf, len);
    memset(bad + 2, 0xff, 8);
    assert_int_equal(guard_sketch_decode(bad, len, &d, &err), VX_EPARSE);
    /* an over-long varint */
    uint8_t longv[] = {1,    0xff, 0xff, 0xff, 0xff, 0xff,
                       0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(guard_sketch_decode(longv, sizeof longv, &d, &err),
                     VX_EPARSE);
    /* a redundant varint group: 0 written as 0x80 0x00 */
    uint8_t pad[40] = {1, 0x80, 0x00};
    assert_int_equal(guard_sketch_decode(pad, 3 + 16 + 1, &d, &err), VX_EPARSE);
    /* an empty sketch with a non-zero max */
    uint8_t emp[19] = {1, 0};
    emp[17] = 0x3f; /* max's top byte */
    assert_int_equal(guard_sketch_decode(emp, 19, &d, &err), VX_EPARSE);
    /* -0.0 as max (found by fuzz_sketch): it would decode to +0 and
     * re-encode differently */
    emp[17] = 0x80;
    assert_int_equal(guard_sketch_decode(emp, 19, &d, &err), VX_EPARSE);
    /* the original still decodes */
    assert_int_equal(guard_sketch_decode(buf, len, &d, &err), VX_OK);
    assert_int_equal(d.count, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relative_error),
        cmocka_unit_test(test_merge_is_union),
        cmocka_unit_test(test_zero_and_bad_values),
        cmocka_unit_test(test_collapse_keeps_high_quantiles),
        cmocka_unit_test(test_count_above),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_decode_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
