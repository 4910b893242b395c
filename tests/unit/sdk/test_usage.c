/* Unit tests for the SDK's usage counters (src/sdk/usage.c).
 *
 * Expectations from the Unleash metrics contract (notes/unleash.md 2.6:
 * `toggles` maps a flag to {yes, no, variants: {name: count}}) and from
 * usage.h: counts go to the active bucket, a swap starts a fresh one,
 * counts that do not fit are reported as dropped (never an allocation on
 * the counting path), concurrent counting loses nothing, and a name the
 * server could not read (not UTF-8) is left out of the body. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "sdk/usage.h"

static json_int_t get(json_t *toggles, const char *flag, const char *key)
{
    return json_integer_value(
        json_object_get(json_object_get(toggles, flag), key));
}

static json_int_t variant(json_t *toggles, const char *flag, const char *v)
{
    return json_integer_value(json_object_get(
        json_object_get(json_object_get(toggles, flag), "variants"), v));
}

static void test_counts_and_body(void **state)
{
    (void)state;
    sdk_usage u;
    int64_t before = (int64_t)time(NULL) * 1000 - 1000;
    assert_int_equal(sdk_usage_init(&u), VX_OK);
    sdk_usage_count(&u, "a", 1, true, NULL, 0);
    sdk_usage_count(&u, "a", 1, true, "blue", 4);
    sdk_usage_count(&u, "a", 1, false, "disabled", 8);
    sdk_usage_count(&u, "a", 1, true, "blue", 4);
    sdk_usage_count(&u, "bb", 2, false, NULL, 0);
    sdk_usage_bucket *b = sdk_usage_swap(&u);
    assert_true(b->start_ms >= before &&
                b->start_ms <= time(NULL) * 1000 + 1000);
    bool oom = true;
    json_t *t = sdk_usage_toggles(b, &oom);
    assert_false(oom);
    assert_non_null(t);
    assert_int_equal(json_object_size(t), 2);
    assert_int_equal(get(t, "a", "yes"), 3);
    assert_int_equal(get(t, "a", "no"), 1);
    assert_int_equal(variant(t, "a", "blue"), 2);
    assert_int_equal(variant(t, "a", "disabled"), 1);
    assert_int_equal(get(t, "bb", "no"), 1);
    assert_int_equal(
        json_object_size(json_object_get(json_object_get(t, "bb"), "variants")),
        0);
    json_decref(t);
    sdk_usage_clear(b);
    /* The other bucket is active and empty; the cleared one is empty. */
    assert_null(sdk_usage_toggles(b, &oom));
    assert_false(oom);
    sdk_usage_count(&u, "c", 1, true, NULL, 0);
    sdk_usage_bucket *b2 = sdk_usage_swap(&u);
    assert_ptr_not_equal(b2, b);
    t = sdk_usage_toggles(b2, &oom);
    assert_int_equal(json_object_size(t), 1);
    assert_int_equal(get(t, "c", "yes"), 1);
    json_decref(t);
    sdk_usage_clear(b2);
    sdk_usage_release(&u);
}

static void test_bad_names(void **state)
{
    (void)state;
    sdk_usage u;
    assert_int_equal(sdk_usage_init(&u), VX_OK);
    sdk_usage_count(&u, "", 0, true, NULL, 0);         /* no name */
    sdk_usage_count(&u, "\xff\xfe", 2, true, NULL, 0); /* not UTF-8 */
    sdk_usage_count(&u, "ok", 2, true, "\xff", 1);     /* bad variant */
    sdk_usage_bucket *b = sdk_usage_swap(&u);
    bool oom = false;
    json_t *t = sdk_usage_toggles(b, &oom);
    assert_int_equal(json_object_size(t), 1);
    assert_int_equal(get(t, "ok", "yes"), 1);
    assert_int_equal(
        json_object_size(json_object_get(json_object_get(t, "ok"), "variants")),
        0);
    json_decref(t);
    sdk_usage_clear(b);
    sdk_usage_release(&u);
}

static void test_full_table_drops(void **state)
{
    (void)state;
    sdk_usage u;
    assert_int_equal(sdk_usage_init(&u), VX_OK);
    uint64_t allocs = vx__alloc_count();
    char name[32];
    for (int i = 0; i < VX_LIMIT_SDK_USAGE_FLAGS + 10; i++) {
        int n = snprintf(name, sizeof(name), "flag-%d", i);
        sdk_usage_count(&u, name, (size_t)n, i % 2 == 0, NULL, 0);
    }
    sdk_usage_count(&u, "flag-0", 6, true, NULL, 0); /* still counted */
    assert_int_equal(vx__alloc_count(), allocs);     /* no allocation */
    sdk_usage_bucket *b = sdk_usage_swap(&u);
    assert_int_equal(b->nflags, VX_LIMIT_SDK_USAGE_FLAGS);
    assert_int_equal(b->dropped, 10);
    bool oom = false;
    json_t *t = sdk_usage_toggles(b, &oom);
    assert_int_equal(json_object_size(t), VX_LIMIT_SDK_USAGE_FLAGS);
    assert_int_equal(get(t, "flag-0", "yes"), 2);
    json_decref(t);
    sdk_usage_clear(b);
    assert_int_equal(b->dropped, 0);
    sdk_usage_release(&u);
}

#define THREADS 4
#define PER     20000

static void *counter(void *ud)
{
    sdk_usage *u = ud;
    for (int i = 0; i < PER; i++)
        sdk_usage_count(u, i % 2 ? "x" : "y", 1, i % 3 == 0,
                        i % 5 == 0 ? "v" : NULL, 1);
    return NULL;
}

static void test_concurrent_counts(void **state)
{
    (void)state;
    sdk_usage u;
    assert_int_equal(sdk_usage_init(&u), VX_OK);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, counter, &u), 0);
    /* Swapping while they count: the two buckets together hold it all. */
    json_int_t total = 0, variants = 0;
    for (int round = 0; round < 3; round++) {
        sdk_usage_bucket *b = sdk_usage_swap(&u);
        bool oom = false;
        json_t *t = sdk_usage_toggles(b, &oom);
        const char *k;
        json_t *v;
        json_object_foreach (t, k, v) {
            total += get(t, k, "yes") + get(t, k, "no");
            variants += variant(t, k, "v");
        }
        json_decref(t);
        sdk_usage_clear(b);
        if (round == 1)
            for (int i = 0; i < THREADS; i++)
                pthread_join(th[i], NULL);
    }
    assert_int_equal(total, THREADS * PER);
    assert_int_equal(variants, THREADS * (PER / 5));
    sdk_usage_release(&u);
}

static void test_init_out_of_memory(void **state)
{
    (void)state;
    for (size_t budget = 0; budget < 6; budget++) {
        sdk_usage u;
        vx__alloc_set_budget(budget);
        vx_status st = sdk_usage_init(&u);
        vx__alloc_set_budget(SIZE_MAX);
        assert_int_equal(st, VX_ENOMEM); /* six blocks: three per bucket */
        sdk_usage_release(&u);           /* harmless after a failed init */
    }
    sdk_usage u;
    vx__alloc_set_budget(6);
    assert_int_equal(sdk_usage_init(&u), VX_OK);
    vx__alloc_set_budget(SIZE_MAX);
    sdk_usage_release(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_body),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_full_table_drops),
        cmocka_unit_test(test_concurrent_counts),
        cmocka_unit_test(test_init_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
