/* Unit tests for src/guard/bucket.c: observing requests, exact merging of
 * minutes into an hour (the downsampling the server does), the window
 * checks, and the floor of negative times. Expected values are counted by
 * hand from the observations each test makes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard/bucket.h"

static void test_floor(void **state)
{
    (void)state;
    assert_int_equal(guard_bucket_floor(125, 60), 120);
    assert_int_equal(guard_bucket_floor(120, 60), 120);
    assert_int_equal(guard_bucket_floor(-1, 60), -60);
    assert_int_equal(guard_bucket_floor(-60, 60), -60);
    assert_int_equal(guard_bucket_floor(7199, 3600), 3600);
}

static void test_observe(void **state)
{
    (void)state;
    static guard_bucket b;
    assert_int_equal(guard_bucket_init(&b, 1000, 60), VX_OK);
    assert_int_equal(b.start, 960);
    assert_int_equal(guard_bucket_observe(&b, false, true, 100.0), VX_OK);
    assert_int_equal(guard_bucket_observe(&b, true, false, 300.0), VX_OK);
    assert_int_equal(guard_bucket_observe(&b, false, false, -1.0), VX_OK);
    assert_int_equal(guard_bucket_observe(&b, false, false, NAN), VX_EINVAL);
    assert_int_equal(b.counts.requests, 3);
    assert_int_equal(b.counts.errors, 1);
    assert_int_equal(b.counts.conversions, 1);
    /* two latencies: 100 and 300 -> mean 200, variance 20000 */
    assert_float_equal(b.counts.latency.n, 2, 0);
    assert_float_equal(guard_moments_mean(&b.counts.latency), 200.0, 1e-12);
    assert_float_equal(guard_moments_var(&b.counts.latency), 20000.0, 1e-9);
    /* log moments: mean of ln 100 and ln 300 = ln(sqrt(30000)) */
    assert_float_equal(guard_moments_mean(&b.counts.log_latency),
                       log(sqrt(30000.0)), 1e-12);
    assert_int_equal(b.latency.count, 2);
    /* zero latency is floored for the log, kept as 0 in the sketch */
    assert_int_equal(guard_bucket_observe(&b, false, false, 0.0), VX_OK);
    assert_true(isfinite(b.counts.log_latency.sum));
    assert_int_equal(b.latency.zero_count, 1);
    assert_int_equal(guard_bucket_init(&b, 0, 0), VX_EINVAL);
}

static void test_merge_minutes_into_hour(void **state)
{
    (void)state;
    static guard_bucket hour, minute, direct;
    assert_int_equal(guard_bucket_init(&hour, 3600, 3600), VX_OK);
    assert_int_equal(guard_bucket_init(&direct, 3600, 3600), VX_OK);
    for (int m = 0; m < 60; m++) {
        assert_int_equal(guard_bucket_init(&minute, 3600 + 60 * m, 60), VX_OK);
        for (int i = 0; i < 10; i++) {
            double lat = 50.0 + m + i;
            bool err = (m * 10 + i) % 7 == 0;
            guard_bucket_observe(&minute, err, i == 3, lat);
            guard_bucket_observe(&direct, err, i == 3, lat);
        }
        assert_int_equal(guard_bucket_merge(&hour, &minute), VX_OK);
    }
    /* 600 requests; errors at multiples of 7 in 0..599: 86; one conversion
     * per minute: 60 */
    assert_int_equal(hour.counts.requests, 600);
    assert_int_equal(hour.counts.errors, 86);
    assert_int_equal(hour.counts.conversions, 60);
    assert_float_equal(hour.counts.latency.sum, direct.counts.latency.sum,
                       1e-9);
    assert_float_equal(hour.counts.latency.sumsq, direct.counts.latency.sumsq,
                       1e-6);
    assert_float_equal(guard_sketch_quantile(&hour.latency, 0.99),
                       guard_sketch_quantile(&direct.latency, 0.99), 0);
    /* a minute of the next hour does not belong here */
    assert_int_equal(guard_bucket_init(&minute, 7200, 60), VX_OK);
    guard_bucket_observe(&minute, true, false, 1.0);
    assert_int_equal(guard_bucket_merge(&hour, &minute), VX_EINVAL);
    assert_int_equal(hour.counts.requests, 600);
    /* nor does a wider bucket */
    assert_int_equal(guard_bucket_merge(&minute, &hour), VX_EINVAL);
}

static void test_counts_merge(void **state)
{
    (void)state;
    guard_counts a = {0}, b = {0};
    a.requests = 10;
    a.errors = 1;
    b.requests = 5;
    b.conversions = 2;
    assert_int_equal(guard_counts_add_latency(&a, 10.0), VX_OK);
    assert_int_equal(guard_counts_add_latency(&b, 30.0), VX_OK);
    assert_int_equal(guard_counts_add_latency(&b, -3.0), VX_EINVAL);
    guard_counts_merge(&a, &b);
    assert_int_equal(a.requests, 15);
    assert_int_equal(a.errors, 1);
    assert_int_equal(a.conversions, 2);
    assert_float_equal(guard_moments_mean(&a.latency), 20.0, 1e-12);
    guard_moments lm = {2, 3.0, 5.0}, llm = {2, 1.0, 0.5};
    guard_counts_add_moments(&a, &lm, &llm);
    assert_float_equal(a.latency.n, 4, 0);
    assert_float_equal(a.log_latency.n, 4, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floor),
        cmocka_unit_test(test_observe),
        cmocka_unit_test(test_merge_minutes_into_hour),
        cmocka_unit_test(test_counts_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
