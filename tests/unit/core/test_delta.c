/* Unit tests for vx_snapshot_apply_delta (src/core/load.c + build.c): each
 * Unleash delta event type, ordering rules, error atomicity, and that the
 * base snapshot never changes.
 *
 * Reference: the delta semantics of the Unleash client API (unleash.md:
 * hydration replaces the state; feature-updated upserts by name,
 * feature-removed / segment-removed delete by key) and, for ordering,
 * JavaScript object semantics, which the Node SDK's repository has because
 * it keys features by name: updating a key keeps its position, a new key is
 * appended, and deleting then re-adding a key moves it to the end
 * (`const o = {a:1, b:2}; delete o.a; o.a = 3; Object.keys(o)` is
 * ["b", "a"]). Expected enabled/disabled answers follow from the documents
 * (userId IN ["u1"] is on for u1 only, unleash.md §4.3-4.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vexil/vexil.h"

/* A (on), B (off), C (on only through segment 1: userId IN [u1]). */
static const char BASE[] =
    "{\"version\": 2, \"features\": ["
    "{\"name\": \"A\", \"enabled\": true, \"strategies\": []},"
    "{\"name\": \"B\", \"enabled\": false, \"strategies\": []},"
    "{\"name\": \"C\", \"enabled\": true, \"strategies\": "
    "[{\"name\": \"default\", \"segments\": [1]}]}"
    "], \"segments\": [{\"id\": 1, \"constraints\": [{\"contextName\": "
    "\"userId\", \"operator\": \"IN\", \"values\": [\"u1\"]}]}]}";

typedef struct fx {
    vx_snapshot *base;
    vx_context u1, u2;
} fx;

static int setup(void **state)
{
    static fx f;
    memset(&f, 0, sizeof(f));
    vx_error err;
    if (vx_snapshot_load(BASE, sizeof(BASE) - 1, NULL, &f.base, &err) != VX_OK)
        return -1;
    f.u1.user_id = (vx_str){"u1", 2};
    f.u2.user_id = (vx_str){"u2", 2};
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vx_snapshot_unref(f->base);
    return 0;
}

static vx_snapshot *apply(const vx_snapshot *base, const char *delta)
{
    vx_snapshot *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st =
        vx_snapshot_apply_delta(base, delta, strlen(delta), NULL, &out, &err);
    if (st != VX_OK)
        fail_msg("delta failed: %s: %s at %s", vx_status_name(st), err.message,
                 err.path);
    assert_non_null(out);
    return out;
}

static void expect_names(const vx_snapshot *s, const char *const *names,
                         size_t n)
{
    assert_int_equal(vx_snapshot_flag_count(s), n);
    for (size_t i = 0; i < n; i++) {
        vx_str got = vx_snapshot_flag_name(s, i);
        if (got.len != strlen(names[i]) ||
            memcmp(got.ptr, names[i], got.len) != 0)
            fail_msg("flag %zu is \"%.*s\", want \"%s\"", i, (int)got.len,
                     got.ptr, names[i]);
        assert_int_equal(vx_snapshot_flag_index(s, names[i], strlen(names[i])),
                         (int64_t)i);
    }
}

static bool on(const vx_snapshot *s, const char *name, const vx_context *c)
{
    return vx_is_enabled(s, NULL, name, strlen(name), c);
}

/* The base keeps its three flags, its answers and its segment. */
static void expect_base_unchanged(const fx *f)
{
    static const char *const names[] = {"A", "B", "C"};
    expect_names(f->base, names, 3);
    assert_true(on(f->base, "A", &f->u1));
    assert_false(on(f->base, "B", &f->u1));
    assert_true(on(f->base, "C", &f->u1));
    assert_false(on(f->base, "C", &f->u2));
}

static void test_feature_updated_replaces_in_place(void **state)
{
    fx *f = *state;
    vx_snapshot *s =
        apply(f->base, "{\"events\": [{\"type\": \"feature-updated\", "
                       "\"feature\": {\"name\": \"B\", \"enabled\": true, "
                       "\"strategies\": []}}]}");
    static const char *const names[] = {"A", "B", "C"};
    expect_names(s, names, 3);
    assert_true(on(s, "B", &f->u1));
    assert_true(on(s, "A", &f->u1)); /* shared, unchanged */
    assert_true(on(s, "C", &f->u1));
    vx_snapshot_unref(s);
    expect_base_unchanged(f);
}

static void test_feature_updated_appends_new(void **state)
{
    fx *f = *state;
    vx_snapshot *s =
        apply(f->base, "{\"events\": [{\"type\": \"feature-updated\", "
                       "\"feature\": {\"name\": \"D\", \"enabled\": true, "
                       "\"strategies\": []}}]}");
    static const char *const names[] = {"A", "B", "C", "D"};
    expect_names(s, names, 4);
    assert_true(on(s, "D", &f->u1));
    assert_int_equal(vx_snapshot_flag_index(f->base, "D", 1), -1);
    vx_snapshot_unref(s);
    expect_base_unchanged(f);
}

static void test_feature_removed(void **state)
{
    fx *f = *state;
    vx_snapshot *s = apply(f->base, "{\"events\": [{\"type\": "
                                    "\"feature-removed\", \"featureName\": "
                                    "\"A\"}]}");
    static const char *const names[] = {"B", "C"};
    expect_names(s, names, 2);
    assert_int_equal(vx_snapshot_flag_index(s, "A", 1), -1);
    assert_false(on(s, "A", &f->u1)); /* unknown flag: off */
    vx_variant v;
    vx_get_variant(s, NULL, "A", 1, &f->u1, &v);
    assert_false(v.feature_enabled);
    vx_snapshot_unref(s);

    /* Removing a name that does not exist is not an error. */
    s = apply(f->base, "{\"events\": [{\"type\": \"feature-removed\", "
                       "\"featureName\": \"nope\"}]}");
    static const char *const all[] = {"A", "B", "C"};
    expect_names(s, all, 3);
    vx_snapshot_unref(s);
    expect_base_unchanged(f);
}

/* Delete then re-add: the key moves to the end (JS object semantics). */
static void test_remove_then_readd_moves_to_end(void **state)
{
    fx *f = *state;
    vx_snapshot *s = apply(
        f->base, "{\"events\": ["
                 "{\"type\": \"feature-removed\", \"featureName\": \"A\"},"
                 "{\"type\": \"feature-updated\", \"feature\": {\"name\": "
                 "\"A\", \"enabled\": false, \"strategies\": []}}]}");
    static const char *const names[] = {"B", "C", "A"};
    expect_names(s, names, 3);
    assert_false(on(s, "A", &f->u1));
    vx_snapshot_unref(s);
    expect_base_unchanged(f);
}

static void test_segment_updated(void **state)
{
    fx *f = *state;
    vx_snapshot *s = apply(
        f->base,
        "{\"events\": [{\"type\": \"segment-updated\", \"segment\": {\"id\": "
        "1, \"constraints\": [{\"contextName\": \"userId\", \"operator\": "
        "\"IN\", \"values\": [\"u2\"]}]}}]}");
    assert_false(on(s, "C", &f->u1));
    assert_true(on(s, "C", &f->u2));
    vx_snapshot_unref(s);
    expect_base_unchanged(f);

    /* A new segment id becomes visible to a flag that referenced it while
     * it was missing (missing segment = false, unleash.md §4.4). */
    vx_snapshot *s1 = apply(
        f->base,
        "{\"events\": [{\"type\": \"feature-updated\", \"feature\": {\"name\": "
        "\"E\", \"enabled\": true, \"strategies\": [{\"name\": \"default\", "
        "\"segments\": [7]}]}}]}");
    assert_false(on(s1, "E", &f->u1));
    vx_snapshot *s2 =
        apply(s1, "{\"events\": [{\"type\": \"segment-updated\", \"segment\": "
                  "{\"id\": 7, \"constraints\": []}}]}");
    assert_true(on(s2, "E", &f->u1));
    assert_false(on(s1, "E", &f->u1)); /* s1 unchanged */
    vx_snapshot_unref(s1);
    assert_true(on(s2, "E", &f->u1)); /* s2 does not depend on s1 living */
    vx_snapshot_unref(s2);
}

static void test_segment_removed(void **state)
{
    fx *f = *state;
    vx_snapshot *s = apply(f->base, "{\"events\": [{\"type\": "
                                    "\"segment-removed\", \"segmentId\": 1}]}");
    assert_false(on(s, "C", &f->u1)); /* missing segment: strategy false */
    assert_false(on(s, "C", &f->u2));
    assert_true(on(s, "A", &f->u1));
    vx_snapshot_unref(s);
    expect_base_unchanged(f);
}

static void test_hydration_replaces_everything(void **state)
{
    fx *f = *state;
    vx_snapshot *s = apply(
        f->base,
        "{\"events\": [{\"type\": \"hydration\", \"eventId\": 9, "
        "\"features\": [{\"name\": \"X\", \"enabled\": true, \"strategies\": "
        "[{\"name\": \"default\", \"segments\": [1]}]}], \"segments\": "
        "[{\"id\": 1, \"constraints\": [{\"contextName\": \"userId\", "
        "\"operator\": \"IN\", \"values\": [\"u2\"]}]}]}]}");
    static const char *const names[] = {"X"};
    expect_names(s, names, 1);
    assert_int_equal(vx_snapshot_flag_index(s, "A", 1), -1);
    assert_false(on(s, "X", &f->u1));
    assert_true(on(s, "X", &f->u2)); /* the new segment 1 */
    vx_snapshot_unref(s);

    /* Events after a hydration in the same body apply on top of it. */
    s = apply(f->base,
              "{\"events\": [{\"type\": \"hydration\", \"features\": "
              "[{\"name\": \"X\", \"enabled\": true, \"strategies\": []}]},"
              "{\"type\": \"feature-updated\", \"feature\": {\"name\": \"Y\", "
              "\"enabled\": true, \"strategies\": []}}]}");
    static const char *const xy[] = {"X", "Y"};
    expect_names(s, xy, 2);
    vx_snapshot_unref(s);
    expect_base_unchanged(f);
}

/* A NULL base is the empty state; vx_snapshot_load accepts a delta body
 * too (vexil.h), applied to the empty state. Empty events: a copy. */
static void test_empty_base_and_load(void **state)
{
    fx *f = *state;
    const char *d =
        "{\"events\": [{\"type\": \"feature-updated\", \"feature\": "
        "{\"name\": \"N\", \"enabled\": true, \"strategies\": []}}]}";
    vx_snapshot *s = apply(NULL, d);
    static const char *const names[] = {"N"};
    expect_names(s, names, 1);
    vx_snapshot_unref(s);

    vx_error err;
    assert_int_equal(vx_snapshot_load(d, strlen(d), NULL, &s, &err), VX_OK);
    expect_names(s, names, 1);
    vx_snapshot_unref(s);

    s = apply(f->base, "{\"events\": []}");
    static const char *const all[] = {"A", "B", "C"};
    expect_names(s, all, 3);
    assert_true(on(s, "C", &f->u1));
    vx_snapshot_unref(s);
}

/* Unknown event types are skipped with a warning naming them. */
static int g_warns;
static char g_warn_path[VX_ERROR_PATH_MAX];
static void count_warn(void *ud, const char *path, uint32_t line,
                       uint32_t column, const char *message)
{
    (void)ud;
    (void)line;
    (void)column;
    (void)message;
    g_warns++;
    snprintf(g_warn_path, sizeof(g_warn_path), "%s", path);
}

static void test_unknown_event_type(void **state)
{
    fx *f = *state;
    const char *d =
        "{\"events\": [{\"type\": \"feature-updated\", \"feature\": "
        "{\"name\": \"A\", \"enabled\": false, \"strategies\": []}},"
        "{\"type\": \"feature-teleported\"}]}";
    vx_load_options opts = {count_warn, NULL};
    vx_snapshot *s = NULL;
    g_warns = 0;
    assert_int_equal(
        vx_snapshot_apply_delta(f->base, d, strlen(d), &opts, &s, NULL), VX_OK);
    assert_int_equal(g_warns, 1);
    assert_string_equal(g_warn_path, "/events/1/type");
    assert_false(on(s, "A", &f->u1));
    vx_snapshot_unref(s);
}

/* Any invalid event: an error status, *out NULL, nothing half-applied, and
 * the base still intact. */
static void expect_invalid(const fx *f, const char *delta, vx_status want,
                           const char *path)
{
    vx_snapshot *out = (vx_snapshot *)(uintptr_t)1;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = vx_snapshot_apply_delta(f->base, delta, strlen(delta), NULL,
                                           &out, &err);
    if (st != want)
        fail_msg("%s: got %s (%s at %s), want %s", delta, vx_status_name(st),
                 err.message, err.path, vx_status_name(want));
    assert_null(out);
    assert_int_equal(err.code, want);
    if (path)
        assert_string_equal(err.path, path);
    expect_base_unchanged(f);
}

static void test_invalid_event_produces_nothing(void **state)
{
    fx *f = *state;
    /* a valid event first, then a broken one: nothing is published */
    expect_invalid(f,
                   "{\"events\": [{\"type\": \"feature-removed\", "
                   "\"featureName\": \"A\"}, {\"type\": \"feature-updated\", "
                   "\"feature\": {\"name\": \"Z\"}}]}",
                   VX_ESCHEMA, "/events/1/feature/enabled");
    expect_invalid(f, "{\"events\": [{\"featureName\": \"A\"}]}", VX_ESCHEMA,
                   "/events/0/type");
    expect_invalid(f, "{\"events\": [{\"type\": 5}]}", VX_ESCHEMA,
                   "/events/0/type");
    expect_invalid(f, "{\"events\": [{\"type\": \"feature-updated\"}]}",
                   VX_ESCHEMA, "/events/0/feature");
    expect_invalid(f, "{\"events\": [{\"type\": \"feature-removed\"}]}",
                   VX_ESCHEMA, "/events/0/featureName");
    expect_invalid(f,
                   "{\"events\": [{\"type\": \"segment-removed\", "
                   "\"segmentId\": \"1\"}]}",
                   VX_ESCHEMA, "/events/0/segmentId");
    expect_invalid(f, "{\"events\": [{\"type\": \"segment-updated\"}]}",
                   VX_ESCHEMA, "/events/0/segment");
    expect_invalid(f,
                   "{\"events\": [{\"type\": \"segment-updated\", "
                   "\"segment\": {\"constraints\": []}}]}",
                   VX_ESCHEMA, "/events/0/segment/id");
    expect_invalid(f, "{\"events\": [{\"type\": \"hydration\"}]}", VX_ESCHEMA,
                   "/events/0/features");
    expect_invalid(f, "{\"events\": [7]}", VX_ESCHEMA, "/events/0");
    expect_invalid(f, "{\"events\": {}}", VX_ESCHEMA, "/events");
    expect_invalid(f, "{\"events\": [", VX_EPARSE, "");
    expect_invalid(f, "[]", VX_ESCHEMA, "");
}

/* Chains of deltas: each snapshot is independent of its predecessors'
 * lifetime (chunks are shared by reference counting, not borrowed). */
static void test_chain(void **state)
{
    fx *f = *state;
    vx_snapshot *cur = vx_snapshot_ref(f->base);
    for (int i = 0; i < 50; i++) {
        char d[256];
        snprintf(d, sizeof(d),
                 "{\"events\": [{\"type\": \"feature-updated\", \"feature\": "
                 "{\"name\": \"B\", \"enabled\": %s, \"strategies\": []}},"
                 "{\"type\": \"feature-updated\", \"feature\": {\"name\": "
                 "\"n%d\", \"enabled\": true, \"strategies\": []}}]}",
                 i % 2 ? "false" : "true", i);
        vx_snapshot *next = apply(cur, d);
        vx_snapshot_unref(cur);
        cur = next;
        assert_int_equal(vx_snapshot_flag_count(cur), 3 + (size_t)i + 1);
        assert_int_equal(on(cur, "B", &f->u1), i % 2 == 0);
    }
    assert_true(on(cur, "C", &f->u1)); /* segment carried along */
    assert_int_equal(vx_snapshot_flag_index(cur, "n49", 3), 52);
    vx_snapshot_unref(cur);
    expect_base_unchanged(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feature_updated_replaces_in_place),
        cmocka_unit_test(test_feature_updated_appends_new),
        cmocka_unit_test(test_feature_removed),
        cmocka_unit_test(test_remove_then_readd_moves_to_end),
        cmocka_unit_test(test_segment_updated),
        cmocka_unit_test(test_segment_removed),
        cmocka_unit_test(test_hydration_replaces_everything),
        cmocka_unit_test(test_empty_base_and_load),
        cmocka_unit_test(test_unknown_event_type),
        cmocka_unit_test(test_invalid_event_produces_nothing),
        cmocka_unit_test(test_chain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
