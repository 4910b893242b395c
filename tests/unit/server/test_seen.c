/* Unit tests for src/server/seen.c: the ring keeps the newest
 * VX_LIMIT_SEEN_CONTEXTS contexts and at most VX_LIMIT_SEEN_BYTES, drops a
 * context over VX_LIMIT_SEEN_CONTEXT_BYTES but keeps its field names,
 * copies what it keeps (the caller's buffers may change), scopes contexts
 * and field names by the token's projects, and bounds the field set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "server/seen.h"

static vx_str S(const char *s)
{
    vx_str v = {s, strlen(s)};
    return v;
}

/* A one-flag snapshot with `strategy` (JSON text). */
static vx_snapshot *snap_of(const char *strategy)
{
    char doc[512];
    vx_snapshot *s = NULL;
    snprintf(doc, sizeof(doc),
             "{\"version\":2,\"features\":[{\"name\":\"f\",\"enabled\":true,"
             "\"strategies\":[%s]}]}",
             strategy);
    assert_int_equal(vx_snapshot_load(doc, strlen(doc), NULL, &s, NULL), VX_OK);
    return s;
}

static void record_user(server_seen *s, const char *env, const char *proj,
                        const char *user)
{
    vx_context c;
    memset(&c, 0, sizeof(c));
    c.user_id = S(user);
    server_seen_record(s, env, proj, &c);
}

static void count(server_seen *s, const char *proj, const char *env,
                  vx_snapshot *snap, size_t want_matched, size_t want_total)
{
    size_t m = 99, t = 99;
    server_seen_dry_run(s, proj, env, snap, &m, &t);
    assert_int_equal(t, want_total);
    assert_int_equal(m, want_matched);
}

static void test_ring_keeps_the_newest(void **state)
{
    (void)state;
    server_seen *s = NULL;
    assert_int_equal(server_seen_new(&s), VX_OK);
    char id[32];
    for (int i = 0; i < VX_LIMIT_SEEN_CONTEXTS + 500; i++) {
        snprintf(id, sizeof(id), "u%d", i);
        record_user(s, "production", "*", id);
    }
    vx_snapshot *all = snap_of("{\"name\":\"default\"}");
    vx_snapshot *old = snap_of("{\"name\":\"userWithId\",\"parameters\":"
                               "{\"userIds\":\"u0,u1,u499\"}}");
    vx_snapshot *new = snap_of("{\"name\":\"userWithId\",\"parameters\":"
                               "{\"userIds\":\"u500,u1499\"}}");
    count(s, "default", "production", all, VX_LIMIT_SEEN_CONTEXTS,
          VX_LIMIT_SEEN_CONTEXTS);
    count(s, "default", "production", old, 0, VX_LIMIT_SEEN_CONTEXTS);
    count(s, "default", "production", new, 2, VX_LIMIT_SEEN_CONTEXTS);
    count(s, "default", "staging", all, 0, 0);
    vx_snapshot_unref(all);
    vx_snapshot_unref(old);
    vx_snapshot_unref(new);
    server_seen_free(&s);
    assert_null(s);
    server_seen_free(&s); /* NULL is fine */
}

static void test_bytes_bound_and_copies(void **state)
{
    (void)state;
    server_seen *s = NULL;
    assert_int_equal(server_seen_new(&s), VX_OK);
    static char big[3000], huge[VX_LIMIT_SEEN_CONTEXT_BYTES + 10];
    memset(big, 'b', sizeof(big) - 1);
    memset(huge, 'h', sizeof(huge) - 1);
    vx_prop p[1];
    vx_context c;
    memset(&c, 0, sizeof(c));
    c.props = p;
    c.nprops = 1;
    p[0].key = S("blob");
    p[0].value = S(big);
    for (int i = 0; i < 600; i++)
        server_seen_record(s, "production", "*", &c);
    vx_snapshot *all = snap_of("{\"name\":\"default\"}");
    size_t m = 0, t = 0;
    server_seen_dry_run(s, "default", "production", all, &m, &t);
    assert_true(t > 0);
    assert_true(t * sizeof(big) <= VX_LIMIT_SEEN_BYTES);
    assert_true((t + 1) * (sizeof(big) + 256) > VX_LIMIT_SEEN_BYTES);

    /* Over the per-context limit: not kept, but its field is. */
    p[0].key = S("hugeField");
    p[0].value = S(huge);
    server_seen_record(s, "staging", "*", &c);
    count(s, "default", "staging", all, 0, 0);
    json_t *names = json_array();
    server_seen_fields(s, "default", "staging", names);
    assert_int_equal(json_array_size(names), 1);
    assert_string_equal(json_string_value(json_array_get(names, 0)),
                        "hugeField");
    json_decref(names);

    /* What is kept is a copy. */
    char buf[16] = "TH";
    p[0].key = S("country");
    p[0].value.ptr = buf;
    p[0].value.len = 2;
    server_seen_record(s, "dev", "*", &c);
    memcpy(buf, "DE", 2);
    vx_snapshot *th = snap_of(
        "{\"name\":\"default\",\"constraints\":[{\"contextName\":\"country\","
        "\"operator\":\"IN\",\"values\":[\"TH\"]}]}");
    count(s, "default", "dev", th, 1, 1);
    vx_snapshot_unref(th);
    vx_snapshot_unref(all);
    server_seen_free(&s);
}

static void test_projects_scope(void **state)
{
    (void)state;
    server_seen *s = NULL;
    assert_int_equal(server_seen_new(&s), VX_OK);
    vx_prop p[1] = {{S("plan"), S("pro")}};
    vx_context c;
    memset(&c, 0, sizeof(c));
    c.props = p;
    c.nprops = 1;
    server_seen_record(s, "production", "web,shop", &c);
    record_user(s, "production", "*", "u1");
    vx_snapshot *all = snap_of("{\"name\":\"default\"}");
    count(s, "shop", "production", all, 2, 2);
    count(s, "other", "production", all, 1, 1);
    count(s, "we", "production", all, 1, 1); /* not a prefix match */
    json_t *names = json_array();
    server_seen_fields(s, "other", "production", names);
    assert_int_equal(json_array_size(names), 1);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "userId");
    server_seen_fields(s, "web", "production", names);
    assert_int_equal(json_array_size(names), 2); /* no duplicate userId */
    json_decref(names);
    vx_snapshot_unref(all);
    server_seen_free(&s);
}

static void test_field_set_bounded(void **state)
{
    (void)state;
    server_seen *s = NULL;
    assert_int_equal(server_seen_new(&s), VX_OK);
    char key[32];
    vx_prop p[1];
    vx_context c;
    memset(&c, 0, sizeof(c));
    c.props = p;
    c.nprops = 1;
    for (int i = 0; i < VX_LIMIT_SEEN_FIELDS + 50; i++) {
        snprintf(key, sizeof(key), "field%d", i);
        p[0].key = S(key);
        p[0].value = S("v");
        server_seen_record(s, "production", "*", &c);
    }
    json_t *names = json_array();
    server_seen_fields(s, "default", "production", names);
    assert_int_equal(json_array_size(names), VX_LIMIT_SEEN_FIELDS);
    json_decref(names);
    /* NULL store: nothing, no crash. */
    server_seen_record(NULL, "production", "*", &c);
    server_seen_free(&s);
}

/* Under an allocation budget raised step by step: creation fails with
 * VX_ENOMEM, a record that cannot allocate keeps nothing, nothing leaks
 * (ASan), and once memory suffices the context is kept. */
static void test_oom(void **state)
{
    (void)state;
    vx_snapshot *all = snap_of("{\"name\":\"default\"}");
    for (size_t budget = 0;; budget++) {
        assert_true(budget < 1000);
        server_seen *s = NULL;
        vx__alloc_set_budget(budget);
        vx_status st = server_seen_new(&s);
        if (st == VX_OK)
            record_user(s, "production", "*", "u1");
        vx__alloc_set_budget(SIZE_MAX);
        if (st != VX_OK) {
            assert_int_equal(st, VX_ENOMEM);
            assert_null(s);
            continue;
        }
        size_t m = 0, t = 0;
        server_seen_dry_run(s, "default", "production", all, &m, &t);
        server_seen_free(&s);
        if (t == 1)
            break;
        assert_int_equal(t, 0);
    }
    vx_snapshot_unref(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_keeps_the_newest),
        cmocka_unit_test(test_bytes_bound_and_copies),
        cmocka_unit_test(test_projects_scope),
        cmocka_unit_test(test_field_set_bounded),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
