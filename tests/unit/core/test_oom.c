/* Allocation-failure tests for libvexil's fallible entry points (STYLE
 * rule 14): with jansson pointed at Vexil's failing allocator
 * (json_set_alloc_funcs(vx__malloc, vx__free)), the allocation budget is
 * raised 0, 1, 2, ... until the call succeeds. At every failing step the
 * call must report VX_ENOMEM, leave *out NULL, fill the caller's vx_error
 * with the same code, and leak nothing (this binary runs under ASan in
 * `make test`, where LeakSanitizer reports leaks at exit).
 *
 * The cleanliness checks (*out NULL, err consistent, no leak, no crash) and
 * the exact status are separate tests, so a wrong status does not hide a
 * leak. PCRE2 allocates with malloc directly, outside the budget; that is
 * accepted. Expected behaviour comes from vexil.h ("On failure returns ...
 * VX_ENOMEM, leaves *out NULL and fills err") and STYLE rule 14. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "vexil/vexil.h"

#define MAX_STEPS 200000 /* far above any real allocation count */

/* Every feature the loader compiles: all operators, segments, strategy
 * and feature variants with payloads and overrides, dependencies, numbers
 * and booleans as parameters, an unknown strategy and operator. */
static const char RICH[] =
    "{\"version\": 2, \"features\": ["
    "{\"name\": \"parent\", \"enabled\": true, \"impressionData\": true, "
    "\"strategies\": [{\"name\": \"default\"}], \"variants\": ["
    "{\"name\": \"red\", \"weight\": 500, \"stickiness\": \"userId\", "
    "\"payload\": {\"type\": \"json\", \"value\": \"{\\\"a\\\": 1}\"}, "
    "\"overrides\": [{\"contextName\": \"userId\", \"values\": [\"u1\", "
    "\"u2\"]}]},"
    "{\"name\": \"blue\", \"weight\": 500}]},"
    "{\"name\": \"child\", \"enabled\": true, \"strategies\": [], "
    "\"dependencies\": [{\"feature\": \"parent\", \"variants\": [\"red\"]}, "
    "{\"feature\": \"f4\", \"enabled\": false}]},"
    "{\"name\": \"ops\", \"enabled\": true, \"strategies\": [{\"name\": "
    "\"flexibleRollout\", \"parameters\": {\"rollout\": 50, \"stickiness\": "
    "\"tenant\", \"groupId\": \"ops\"}, \"segments\": [1, 2], "
    "\"constraints\": ["
    "{\"contextName\": \"userId\", \"operator\": \"IN\", \"values\": [\"a\", "
    "\" b \", \"\", null]},"
    "{\"contextName\": \"userId\", \"operator\": \"NOT_IN\", \"values\": "
    "[\"z\"]},"
    "{\"contextName\": \"email\", \"operator\": \"STR_ENDS_WITH\", "
    "\"caseInsensitive\": true, \"values\": [\"@EXAMPLE.com\", \".ORG\"]},"
    "{\"contextName\": \"email\", \"operator\": \"STR_CONTAINS\", \"values\": "
    "[\"@\"]},"
    "{\"contextName\": \"n\", \"operator\": \"NUM_GTE\", \"value\": 1.5},"
    "{\"contextName\": \"n\", \"operator\": \"NUM_LT\", \"value\": \"1e3\"},"
    "{\"contextName\": \"currentTime\", \"operator\": \"DATE_AFTER\", "
    "\"value\": \"2020-01-01T00:00:00.000Z\"},"
    "{\"contextName\": \"version\", \"operator\": \"SEMVER_LT\", \"value\": "
    "\"2.0.0-rc.1\"},"
    "{\"contextName\": \"email\", \"operator\": \"REGEX\", \"value\": "
    "\"^[a-z.]+@\", \"caseInsensitive\": true},"
    "{\"contextName\": \"email\", \"operator\": \"REGEX\", \"value\": "
    "\"(?=x)\"},"
    "{\"contextName\": \"remoteAddress\", \"operator\": \"IN_CIDR\", "
    "\"values\": [\"10.0.0.0/8\", \"2001:db8::/32\", \"bad\"]},"
    "{\"contextName\": \"x\", \"operator\": \"FUTURE_OP\", \"values\": []}"
    "], \"variants\": [{\"name\": \"s1\", \"weight\": 1, \"stickiness\": "
    "\"default\", \"payload\": {\"type\": \"string\", \"value\": \"one\"}}, "
    "{\"name\": \"s2\", \"weight\": 3}]},"
    "{\"name\": \"userWithId\", \"parameters\": {\"userIds\": \"a, b,c\"}},"
    "{\"name\": \"remoteAddress\", \"parameters\": {\"IPs\": \"10.1.0.0/16, "
    "::1\"}},"
    "{\"name\": \"applicationHostname\", \"parameters\": {\"hostNames\": "
    "\"Web-1, web-2\"}},"
    "{\"name\": \"gradualRolloutUserId\", \"parameters\": {\"percentage\": "
    "\"30\", \"groupId\": \"g\"}},"
    "{\"name\": \"gradualRolloutSessionId\", \"parameters\": "
    "{\"percentage\": 30}},"
    "{\"name\": \"gradualRolloutRandom\", \"parameters\": {\"percentage\": "
    "true}},"
    "{\"name\": \"someCustomStrategy\", \"parameters\": {\"x\": \"y\"}}"
    "]},"
    "{\"name\": \"f4\", \"enabled\": false, \"strategies\": []},"
    "{\"name\": \"f5\", \"enabled\": true, \"strategies\": []},"
    "{\"name\": \"f6\", \"enabled\": true, \"strategies\": []},"
    "{\"name\": \"f7\", \"enabled\": true, \"strategies\": []},"
    "{\"name\": \"f8\", \"enabled\": true, \"strategies\": []}"
    "], \"segments\": ["
    "{\"id\": 2, \"name\": \"beta\", \"constraints\": [{\"contextName\": "
    "\"tenant\", \"operator\": \"IN\", \"values\": [\"t1\"]}]},"
    "{\"id\": 1, \"constraints\": [{\"contextName\": \"email\", "
    "\"operator\": \"REGEX\", \"value\": \"example\"}]}"
    "]}";

/* Updates one flag, adds one (the base has 8 flags, so the builder's name
 * map has to grow), removes one, and touches both segment events. */
static const char DELTA[] =
    "{\"events\": ["
    "{\"type\": \"feature-updated\", \"eventId\": 1, \"feature\": {\"name\": "
    "\"f5\", \"enabled\": false, \"strategies\": [{\"name\": \"default\", "
    "\"constraints\": [{\"contextName\": \"email\", \"operator\": \"REGEX\", "
    "\"value\": \"^x\"}]}]}},"
    "{\"type\": \"feature-updated\", \"eventId\": 2, \"feature\": {\"name\": "
    "\"new\", \"enabled\": true, \"strategies\": [], \"variants\": "
    "[{\"name\": \"v\", \"weight\": 1}]}},"
    "{\"type\": \"feature-removed\", \"eventId\": 3, \"featureName\": "
    "\"f4\"},"
    "{\"type\": \"segment-updated\", \"eventId\": 4, \"segment\": {\"id\": 3, "
    "\"constraints\": [{\"contextName\": \"a\", \"operator\": \"IN\", "
    "\"values\": [\"b\"]}]}},"
    "{\"type\": \"segment-removed\", \"eventId\": 5, \"segmentId\": 2}"
    "]}";

static const char CONTEXTS[] =
    "[{\"userId\": \"u1\", \"sessionId\": \"s1\", \"remoteAddress\": "
    "\"10.1.2.3\", \"environment\": \"prod\", \"appName\": \"web\", "
    "\"currentTime\": \"2024-05-01T10:00:00.123+02:00\", \"tenant\": \"t1\", "
    "\"properties\": {\"email\": \"bob@example.com\", \"n\": \"7\", "
    "\"version\": \"1.9.0\", \"skip\": null}},"
    "{\"userId\": null},"
    "{\"properties\": {\"a\": \"b\", \"c\": \"d\", \"e\": \"f\"}}]";

/* One step's outcome, gathered so a wrong status does not stop the walk
 * (every step still runs, and LeakSanitizer sees every failure path). */
typedef struct walk {
    size_t steps;        /* budget at which the call first succeeded */
    int unclean;         /* failing steps with *out set or err mismatched */
    int not_enomem;      /* failing steps whose status was not VX_ENOMEM,
                            or whose message was empty */
    vx_status first_bad; /* status of the first such step */
    char first_msg[VX_ERROR_MSG_MAX];
    size_t first_budget;
} walk;

typedef vx_status (*step_fn)(void *arg, void **out, vx_error *err);

static void note(walk *w, size_t budget, vx_status st, bool clean,
                 const vx_error *err)
{
    if (!clean)
        w->unclean++;
    if (st != VX_ENOMEM || err->message[0] == '\0') {
        if (w->not_enomem++ == 0) {
            w->first_bad = st;
            w->first_budget = budget;
            snprintf(w->first_msg, sizeof(w->first_msg), "%s", err->message);
        }
    }
}

/* Runs `fn` with budgets 0, 1, 2, ... until it succeeds; returns the
 * successful result (the caller frees it). */
static void *walk_budget(step_fn fn, void *arg, walk *w)
{
    memset(w, 0, sizeof(*w));
    for (size_t budget = 0; budget < MAX_STEPS; budget++) {
        void *out = (void *)(uintptr_t)1; /* must be reset by the call */
        vx_error err;
        memset(&err, 0, sizeof(err));
        err.code = (vx_status)-1; /* must be overwritten on failure */
        vx__alloc_set_budget(budget);
        vx_status st = fn(arg, &out, &err);
        vx__alloc_set_budget(SIZE_MAX);
        if (st == VX_OK) {
            w->steps = budget;
            return out;
        }
        bool clean = out == NULL && err.code == st;
        if (!clean && w->unclean < 5)
            print_error("budget %zu: status %s, out %p, err.code %d (%s)\n",
                        budget, vx_status_name(st), out, (int)err.code,
                        err.message);
        note(w, budget, st, clean, &err);
    }
    fail_msg("never succeeded within %d allocations", MAX_STEPS);
    return NULL;
}

static void report_status(const char *what, const walk *w)
{
    if (w->not_enomem)
        fail_msg("%s: %d of %zu failing steps returned another status than "
                 "VX_ENOMEM or no message; the first, at budget %zu, was %s "
                 "(\"%s\")",
                 what, w->not_enomem, w->steps, w->first_budget,
                 vx_status_name(w->first_bad), w->first_msg);
}

/* ---- vx_snapshot_load --------------------------------------------------- */

static vx_status load_step(void *arg, void **out, vx_error *err)
{
    (void)arg;
    return vx_snapshot_load(RICH, sizeof(RICH) - 1, NULL, (vx_snapshot **)out,
                            err);
}

static void check_rich(const vx_snapshot *s)
{
    assert_int_equal(vx_snapshot_flag_count(s), 8);
    vx_context c = {0};
    c.user_id = (vx_str){"u1", 2};
    vx_variant v;
    vx_get_variant(s, NULL, "parent", 6, &c, &v); /* override: red */
    assert_int_equal(v.name.len, 3);
    assert_memory_equal(v.name.ptr, "red", 3);
    assert_true(vx_is_enabled(s, NULL, "child", 5, &c));
}

static void test_load_oom_clean(void **state)
{
    (void)state;
    walk w;
    vx_snapshot *s = walk_budget(load_step, NULL, &w);
    assert_non_null(s);
    assert_true(w.steps > 10); /* the walk really failed allocations */
    check_rich(s);
    vx_snapshot_unref(s);
    assert_int_equal(w.unclean, 0);
}

static void test_load_oom_status(void **state)
{
    (void)state;
    walk w;
    vx_snapshot *s = walk_budget(load_step, NULL, &w);
    vx_snapshot_unref(s);
    report_status("vx_snapshot_load", &w);
}

/* ---- vx_snapshot_apply_delta -------------------------------------------- */

static vx_status delta_step(void *arg, void **out, vx_error *err)
{
    return vx_snapshot_apply_delta(arg, DELTA, sizeof(DELTA) - 1, NULL,
                                   (vx_snapshot **)out, err);
}

static vx_snapshot *rich_base(void)
{
    vx_snapshot *base = NULL;
    vx_error err;
    assert_int_equal(
        vx_snapshot_load(RICH, sizeof(RICH) - 1, NULL, &base, &err), VX_OK);
    return base;
}

static void test_delta_oom_clean(void **state)
{
    (void)state;
    vx_snapshot *base = rich_base();
    walk w;
    vx_snapshot *s = walk_budget(delta_step, base, &w);
    assert_non_null(s);
    assert_true(w.steps > 5);
    assert_int_equal(vx_snapshot_flag_count(s), 8); /* +new, -f4 */
    assert_int_equal(vx_snapshot_flag_index(s, "new", 3), 7);
    assert_int_equal(vx_snapshot_flag_index(s, "f4", 2), -1);
    vx_snapshot_unref(s);
    check_rich(base); /* the base survived every failed attempt */
    vx_snapshot_unref(base);
    assert_int_equal(w.unclean, 0);
}

static void test_delta_oom_status(void **state)
{
    (void)state;
    vx_snapshot *base = rich_base();
    walk w;
    vx_snapshot *s = walk_budget(delta_step, base, &w);
    vx_snapshot_unref(s);
    vx_snapshot_unref(base);
    report_status("vx_snapshot_apply_delta", &w);
}

/* ---- vx_context_set_parse ----------------------------------------------- */

static vx_status ctx_step(void *arg, void **out, vx_error *err)
{
    (void)arg;
    return vx_context_set_parse(CONTEXTS, sizeof(CONTEXTS) - 1, 1000,
                                (vx_context_set **)out, err);
}

static void test_context_oom_clean(void **state)
{
    (void)state;
    walk w;
    vx_context_set *cs = walk_budget(ctx_step, NULL, &w);
    assert_non_null(cs);
    assert_true(w.steps > 3);
    assert_int_equal(vx_context_set_count(cs), 3);
    const vx_context *c = vx_context_set_get(cs, 0);
    assert_int_equal(c->user_id.len, 2);
    /* Date.parse("2024-05-01T10:00:00.123+02:00") === 1714550400123 */
    assert_int_equal(c->now_ms, 1714550400123);
    assert_int_equal(vx_context_set_get(cs, 1)->now_ms, 1000);
    vx_context_set_free(cs);
    assert_int_equal(w.unclean, 0);
}

static void test_context_oom_status(void **state)
{
    (void)state;
    walk w;
    vx_context_set_free(walk_budget(ctx_step, NULL, &w));
    report_status("vx_context_set_parse", &w);
}

/* ---- vx_scratch_new and vx_engine_new ----------------------------------- */

static void test_small_constructors_oom(void **state)
{
    (void)state;
    vx__alloc_set_budget(0);
    vx_scratch *sc = vx_scratch_new();
    vx_engine *e = vx_engine_new();
    vx__alloc_set_budget(SIZE_MAX);
    assert_null(sc);
    assert_null(e);
}

int main(void)
{
    /* Before any jansson allocation: everything jansson allocates from now
     * on goes through the budget. */
    json_set_alloc_funcs(vx__malloc, vx__free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_oom_clean),
        cmocka_unit_test(test_load_oom_status),
        cmocka_unit_test(test_delta_oom_clean),
        cmocka_unit_test(test_delta_oom_status),
        cmocka_unit_test(test_context_oom_clean),
        cmocka_unit_test(test_context_oom_status),
        cmocka_unit_test(test_small_constructors_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
