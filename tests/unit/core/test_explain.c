/* Unit tests for vx_explain_strategy (src/core/eval.c): the reason one
 * strategy gives for a context, as the playground shows it ("outside the
 * 25 % (bucket 55)"). Buckets follow the Unleash Node SDK's hash,
 * murmurhash3js.x86.hash32(group + ":" + id, 0) % 100 + 1 (test_eval.c
 * says how to run it): g25:u1 -> 19, g25:u2 -> 55. Besides those
 * hand-checked figures, the reason is held to the evaluator itself over
 * many contexts: "match" exactly when the flag is on, and the bucket on the
 * right side of the percentage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vexil/vexil.h"

static const char DOC[] =
    "{\"version\": 2, \"features\": ["
    "{\"name\": \"roll\", \"enabled\": true, \"strategies\": "
    "[{\"name\": \"flexibleRollout\", \"parameters\": {\"rollout\": \"25\", "
    "\"stickiness\": \"default\", \"groupId\": \"g25\"}}]},"
    "{\"name\": \"tenant\", \"enabled\": true, \"strategies\": "
    "[{\"name\": \"flexibleRollout\", \"parameters\": {\"rollout\": \"50\", "
    "\"stickiness\": \"tenantId\", \"groupId\": \"t\"}}]},"
    "{\"name\": \"checks\", \"enabled\": true, \"strategies\": ["
    "{\"name\": \"default\", \"constraints\": ["
    "{\"contextName\": \"country\", \"operator\": \"IN\", \"values\": "
    "[\"TH\"]},"
    "{\"contextName\": \"plan\", \"operator\": \"IN\", \"values\": "
    "[\"pro\"]}]},"
    "{\"name\": \"default\", \"segments\": [7]},"
    "{\"name\": \"userWithId\", \"parameters\": {\"userIds\": \"a,b\"}},"
    "{\"name\": \"gradualRolloutRandom\", \"parameters\": "
    "{\"percentage\": \"30\"}},"
    "{\"name\": \"gradualRolloutSessionId\", \"parameters\": "
    "{\"percentage\": \"30\", \"groupId\": \"g\"}},"
    "{\"name\": \"myCustomStrategy\"}]}"
    "], \"segments\": [{\"id\": 7, \"constraints\": [{\"contextName\": "
    "\"n\", \"operator\": \"NUM_LT\", \"value\": \"100\"}]}]}";

static uint32_t fixed_random(void *ud)
{
    return *(uint32_t *)ud;
}

static int setup(void **state)
{
    vx_snapshot *s = NULL;
    vx_error err;
    if (vx_snapshot_load(DOC, sizeof(DOC) - 1, NULL, &s, &err) != VX_OK) {
        print_error("load: %s at %s\n", err.message, err.path);
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    vx_snapshot_unref(*state);
    return 0;
}

static vx_str str(const char *s)
{
    return (vx_str){s, strlen(s)};
}

static bool same(vx_str a, const char *b)
{
    return a.ptr && a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

static vx_strategy_reason explain(const vx_snapshot *s, const char *flag,
                                  size_t i, const vx_context *ctx)
{
    vx_scratch *sc = vx_scratch_new();
    vx_strategy_reason r;
    memset(&r, 0xAB, sizeof(r));
    assert_true(vx_explain_strategy(s, sc, flag, strlen(flag), i, ctx, &r));
    vx_scratch_free(sc);
    return r;
}

static void test_outside_the_rollout(void **state)
{
    vx_context ctx = {.user_id = str("u2")};
    vx_strategy_reason r = explain(*state, "roll", 0, &ctx);
    assert_int_equal(r.kind, VX_REASON_OUTSIDE_ROLLOUT);
    assert_int_equal(r.bucket, 55);
    assert_true(r.percentage == 25.0);
    assert_true(same(r.stickiness, "userId"));
}

static void test_inside_the_rollout(void **state)
{
    vx_context ctx = {.user_id = str("u1")};
    vx_strategy_reason r = explain(*state, "roll", 0, &ctx);
    assert_int_equal(r.kind, VX_REASON_MATCH);
    assert_int_equal(r.bucket, 19);
    assert_true(same(r.stickiness, "userId"));
}

static void test_session_then_random_stickiness(void **state)
{
    vx_context ctx = {.session_id = str("s-1")};
    vx_strategy_reason r = explain(*state, "roll", 0, &ctx);
    assert_true(same(r.stickiness, "sessionId"));
    assert_in_range(r.bucket, 1, 100);
    uint32_t value = 41;
    vx_context none = {.random = fixed_random, .random_ud = &value};
    r = explain(*state, "roll", 0, &none);
    assert_true(same(r.stickiness, "random"));
    assert_in_range(r.bucket, 1, 100);
}

static void test_missing_custom_stickiness(void **state)
{
    vx_context ctx = {.user_id = str("u1")};
    vx_strategy_reason r = explain(*state, "tenant", 0, &ctx);
    assert_int_equal(r.kind, VX_REASON_NO_STICKINESS);
    assert_true(same(r.stickiness, "tenantId"));
    assert_int_equal(r.bucket, 0);
    vx_prop p = {str("tenantId"), str("acme")};
    vx_context with = {.props = &p, .nprops = 1};
    r = explain(*state, "tenant", 0, &with);
    assert_true(r.kind == VX_REASON_MATCH ||
                r.kind == VX_REASON_OUTSIDE_ROLLOUT);
    assert_in_range(r.bucket, 1, 100);
}

static void test_first_failing_check(void **state)
{
    vx_prop props[] = {{str("country"), str("TH")},
                       {str("plan"), str("free")},
                       {str("n"), str("500")}};
    vx_context ctx = {.user_id = str("c"), .props = props, .nprops = 3};
    vx_strategy_reason r = explain(*state, "checks", 0, &ctx);
    assert_int_equal(r.kind, VX_REASON_CONSTRAINT);
    assert_int_equal(r.index, 1); /* the second: the first holds */
    r = explain(*state, "checks", 1, &ctx);
    assert_int_equal(r.kind, VX_REASON_SEGMENT);
    assert_int_equal(r.index, 7);
    r = explain(*state, "checks", 2, &ctx);
    assert_int_equal(r.kind, VX_REASON_NOT_LISTED);
    assert_int_equal(r.bucket, 0);
    assert_true(r.percentage < 0);
    ctx.user_id = str("b");
    r = explain(*state, "checks", 2, &ctx);
    assert_int_equal(r.kind, VX_REASON_MATCH);
}

static void test_random_and_unknown(void **state)
{
    uint32_t value = 250; /* 250 % 100 + 1 = 51, above 30 */
    vx_context ctx = {.random = fixed_random, .random_ud = &value};
    vx_strategy_reason r = explain(*state, "checks", 3, &ctx);
    assert_int_equal(r.kind, VX_REASON_OUTSIDE_ROLLOUT);
    assert_int_equal(r.bucket, 51);
    assert_true(same(r.stickiness, "random"));
    value = 229; /* 30: inside */
    r = explain(*state, "checks", 3, &ctx);
    assert_int_equal(r.kind, VX_REASON_MATCH);
    r = explain(*state, "checks", 4, &ctx); /* no sessionId */
    assert_int_equal(r.kind, VX_REASON_NO_STICKINESS);
    assert_true(same(r.stickiness, "sessionId"));
    r = explain(*state, "checks", 5, &ctx);
    assert_int_equal(r.kind, VX_REASON_UNKNOWN_STRATEGY);
}

static void test_no_such_flag_or_strategy(void **state)
{
    vx_scratch *sc = vx_scratch_new();
    vx_context ctx = {0};
    vx_strategy_reason r = {.kind = VX_REASON_MATCH, .index = 42};
    assert_false(vx_explain_strategy(*state, sc, "nope", 4, 0, &ctx, &r));
    assert_false(vx_explain_strategy(*state, sc, "roll", 4, 1, &ctx, &r));
    assert_int_equal(r.index, 42); /* untouched */
    vx_scratch_free(sc);
}

/* The reason agrees with the evaluator for a thousand users, and the
 * bucket lies on the side of the percentage the answer says. */
static void test_agrees_with_evaluation(void **state)
{
    vx_scratch *sc = vx_scratch_new();
    int inside = 0;
    for (int i = 0; i < 1000; i++) {
        char id[16];
        snprintf(id, sizeof(id), "user-%d", i);
        vx_context ctx = {.user_id = str(id)};
        vx_strategy_reason r;
        assert_true(vx_explain_strategy(*state, sc, "roll", 4, 0, &ctx, &r));
        bool on = vx_is_enabled(*state, sc, "roll", 4, &ctx);
        assert_int_equal(on, r.kind == VX_REASON_MATCH);
        assert_in_range(r.bucket, 1, 100);
        if (on)
            assert_true(r.bucket <= 25);
        else
            assert_true(r.bucket > 25);
        inside += on;
    }
    assert_in_range(inside, 180, 320); /* about a quarter */
    vx_scratch_free(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_the_rollout),
        cmocka_unit_test(test_inside_the_rollout),
        cmocka_unit_test(test_session_then_random_stickiness),
        cmocka_unit_test(test_missing_custom_stickiness),
        cmocka_unit_test(test_first_failing_check),
        cmocka_unit_test(test_random_and_unknown),
        cmocka_unit_test(test_no_such_flag_or_strategy),
        cmocka_unit_test(test_agrees_with_evaluation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
