/* Unit tests for src/server/events_feed.c, the fan-out of the console's
 * live updates: which events reach which subscriber (project scope, flag
 * and environment filters, only flag, strategy, plan and scheduled-change
 * events), an event is sent once per id and never before the baseline,
 * a browser that resumes with Last-Event-ID gets what it missed or
 * "reset", and every bound holds: streams in all and per token, the
 * queue, the history; ended streams (token revoked or expired, lifetime,
 * peer gone, server stopping) read their end; no leak when memory runs
 * out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "server/events_feed.h"

static ev_feed_config cfg(void)
{
    return (ev_feed_config){.max_streams = 8,
                            .max_per_token = 3,
                            .queue_bytes = 64 << 10,
                            .history = 16,
                            .lifetime_ms = 0};
}

static ev_feed *feed_new(ev_feed_config c)
{
    ev_feed *f = NULL;
    vx_error err;
    assert_int_equal(ev_feed_new(&c, &f, &err), VX_OK);
    return f;
}

static json_t *ev(int64_t id, const char *type, const char *project,
                  const char *feature, const char *env)
{
    return json_pack(
        "{sI ss so so so ss ss}", "id", (json_int_t)id, "type", type, "project",
        project ? json_string(project) : json_null(), "feature",
        feature ? json_string(feature) : json_null(), "environment",
        env ? json_string(env) : json_null(), "createdAt",
        "2026-12-01T00:00:00.000Z", "createdBy", "test");
}

static bool publish_at(ev_feed *f, int64_t at_ms, int64_t id, const char *type,
                       const char *project, const char *feature,
                       const char *env)
{
    json_t *e = ev(id, type, project, feature, env);
    bool fresh = ev_feed_publish(f, e, at_ms);
    json_decref(e);
    return fresh;
}

static bool publish(ev_feed *f, int64_t id, const char *type,
                    const char *project, const char *feature, const char *env)
{
    return publish_at(f, 1000, id, type, project, feature, env);
}

static int wakes;
static void count_wake(void *ud)
{
    (void)ud;
    wakes++;
}

static ev_sub *sub(ev_feed *f, int64_t token, const char *projects,
                   const char *feature, const char *env, int64_t last)
{
    ev_who w = {.token_id = token,
                .projects = projects,
                .feature = feature,
                .environment = env,
                .last_id = last,
                .fd = -1,
                .now_ms = 1000};
    ev_sub *s = NULL;
    vx_error err;
    assert_int_equal(ev_feed_subscribe(f, &w, count_wake, NULL, &s, &err),
                     VX_OK);
    return s;
}

/* Everything queued for `s` (at most 64 KiB), and the read's end code. */
static char drained[70000];
static long drain(ev_sub *s)
{
    size_t n = 0;
    long r;
    while ((r = ev_sub_read(s, drained + n, sizeof(drained) - 1 - n)) > 0)
        n += (size_t)r;
    drained[n] = '\0';
    return r;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_match(void **state)
{
    (void)state;
    json_t *a = ev(1, "release-plan-rolled-back", "shop", "checkout", "prod");
    assert_true(ev_feed_match(a, "*", NULL, NULL));
    assert_true(ev_feed_match(a, "blog,shop", NULL, NULL));
    assert_false(ev_feed_match(a, "blog,shopping", NULL, NULL));
    assert_false(ev_feed_match(a, "sho", NULL, NULL));
    assert_true(ev_feed_match(a, "shop", "checkout", "prod"));
    assert_false(ev_feed_match(a, "shop", "check", NULL));
    assert_false(ev_feed_match(a, "shop", NULL, "dev"));
    json_decref(a);
    /* a flag event without an environment concerns every environment */
    json_t *b = ev(2, "feature-updated", "shop", "checkout", NULL);
    assert_true(ev_feed_match(b, "shop", "checkout", "prod"));
    json_decref(b);
    /* tokens, segments, projects: not for the console's live pages */
    const char *other[] = {"api-token-created", "segment-updated",
                           "project-created", "advisor-recommendation"};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        json_t *c = ev(3, other[i], "shop", NULL, NULL);
        assert_false(ev_feed_match(c, "*", NULL, NULL));
        json_decref(c);
    }
    json_t *d = ev(4, "feature-created", NULL, "x", NULL);
    assert_false(ev_feed_match(d, "*", NULL, NULL)); /* no project */
    json_decref(d);
    json_t *e = ev(5, "scheduled-change-applied", "shop", "x", "prod");
    assert_true(ev_feed_match(e, "shop", NULL, NULL));
    json_decref(e);
}

static void test_caps(void **state)
{
    (void)state;
    ev_feed_config c = cfg();
    c.max_streams = 4;
    c.max_per_token = 2;
    ev_feed *f = feed_new(c);
    ev_sub *s[4];
    s[0] = sub(f, 1, "*", NULL, NULL, -1);
    s[1] = sub(f, 1, "*", NULL, NULL, -1);
    ev_who w = {.token_id = 1, .projects = "*", .last_id = -1, .fd = -1};
    ev_sub *x = NULL;
    vx_error err;
    assert_int_equal(ev_feed_subscribe(f, &w, NULL, NULL, &x, &err), VX_ELIMIT);
    assert_null(x);
    assert_non_null(strstr(err.message, "2 live-update streams"));
    s[2] = sub(f, 2, "*", NULL, NULL, -1);
    s[3] = sub(f, 3, "*", NULL, NULL, -1);
    w.token_id = 4;
    assert_int_equal(ev_feed_subscribe(f, &w, NULL, NULL, &x, &err),
                     VX_EUNAVAILABLE);
    assert_int_equal(ev_feed_count(f), 4);
    /* a stream that goes makes room */
    ev_feed_unsubscribe(f, s[0]);
    assert_int_equal(ev_feed_count(f), 3);
    w.token_id = 1;
    assert_int_equal(ev_feed_subscribe(f, &w, NULL, NULL, &s[0], &err), VX_OK);
    for (int i = 0; i < 4; i++)
        ev_feed_unsubscribe(f, s[i]);
    ev_feed_free(&f);
    assert_null(f);
}

static void test_publish_scope_and_once(void **state)
{
    (void)state;
    ev_feed *f = feed_new(cfg());
    ev_sub *shop = sub(f, 1, "shop", NULL, NULL, -1);
    ev_sub *blog = sub(f, 2, "blog", NULL, NULL, -1);
    ev_sub *one = sub(f, 3, "*", "checkout", "prod", -1);
    /* nothing before the baseline counts */
    assert_false(publish(f, 5, "feature-created", "shop", "checkout", NULL));
    ev_feed_baseline(f, 10);
    assert_false(publish(f, 9, "feature-created", "shop", "old", NULL));
    wakes = 0;
    assert_true(
        publish(f, 11, "release-plan-rolled-back", "shop", "checkout", "prod"));
    assert_int_equal(wakes, 2); /* shop and the checkout filter, not blog */
    assert_false(publish(f, 11, "release-plan-rolled-back", "shop", "checkout",
                         "prod")); /* seen: once */
    assert_true(
        publish(f, 12, "feature-strategy-update", "blog", "post", "prod"));
    assert_true(
        publish(f, 14, "release-plan-advanced", "shop", "checkout", "dev"));
    /* a late commit with an earlier id is still new */
    assert_true(publish(f, 13, "feature-updated", "shop", "checkout", NULL));
    assert_true(publish(f, 15, "api-token-created", "shop", NULL, NULL));

    assert_int_equal(drain(shop), 0);
    assert_non_null(strstr(drained, "retry: 2000\n"));
    assert_int_equal(count_of(drained, "event: change"), 3);
    assert_non_null(strstr(drained, "id: 11\nevent: change\ndata: {"));
    assert_non_null(strstr(drained, "\"type\":\"release-plan-rolled-back\""));
    assert_null(strstr(drained, "\"post\""));
    assert_null(strstr(drained, "api-token"));

    assert_int_equal(drain(blog), 0);
    assert_int_equal(count_of(drained, "event: change"), 1);
    assert_non_null(strstr(drained, "id: 12\n"));

    assert_int_equal(drain(one), 0);
    assert_int_equal(count_of(drained, "event: change"), 2); /* 11 and 13 */
    assert_non_null(strstr(drained, "id: 11\n"));
    assert_non_null(strstr(drained, "id: 13\n"));
    assert_null(strstr(drained, "id: 14\n")); /* dev */

    ev_feed_tick(f, "host:1:ab", 123);
    ev_feed_heartbeat(f);
    assert_int_equal(drain(blog), 0);
    assert_non_null(strstr(drained,
                           "event: tick\ndata: {\"owner\":\"host:1:ab\","
                           "\"atMs\":123}\n\n"));
    assert_non_null(strstr(drained, ": heartbeat\n\n"));
    ev_feed_unsubscribe(f, shop);
    ev_feed_unsubscribe(f, blog);
    ev_feed_unsubscribe(f, one);
    ev_feed_free(&f);
}

static void test_resume(void **state)
{
    (void)state;
    ev_feed *f = feed_new(cfg());
    /* before any baseline nobody can say what was missed: reset */
    ev_sub *early = sub(f, 1, "*", NULL, NULL, 3);
    assert_int_equal(drain(early), 0);
    assert_non_null(strstr(drained, "event: reset\n"));
    ev_feed_unsubscribe(f, early);

    ev_feed_baseline(f, 100);
    for (int64_t id = 101; id <= 105; id++)
        publish(f, id, "feature-updated", id % 2 ? "shop" : "blog", "x", NULL);
    ev_sub *r = sub(f, 1, "shop", NULL, NULL, 102);
    assert_int_equal(drain(r), 0);
    assert_null(strstr(drained, "event: reset"));
    assert_int_equal(count_of(drained, "event: change"), 2); /* 103, 105 */
    assert_non_null(strstr(drained, "id: 103\n"));
    assert_non_null(strstr(drained, "id: 105\n"));
    ev_feed_unsubscribe(f, r);
    /* older than the feed's start */
    r = sub(f, 1, "shop", NULL, NULL, 99);
    assert_int_equal(drain(r), 0);
    assert_non_null(strstr(drained, "id: 100\nevent: reset\n"));
    assert_int_equal(count_of(drained, "event: change"), 0);
    /* a gap: everyone reloads, the feed starts again */
    ev_feed_reset(f, 500);
    assert_int_equal(drain(r), 0);
    assert_non_null(strstr(drained, "id: 500\nevent: reset\n"));
    assert_false(publish(f, 499, "feature-updated", "shop", "x", NULL));
    assert_true(publish(f, 501, "feature-updated", "shop", "x", NULL));
    ev_feed_unsubscribe(f, r);
    ev_feed_free(&f);
}

/* A stream opened without Last-Event-ID gets what was published while its
 * page was loading (recent_ms), nothing older. */
static void test_recent(void **state)
{
    (void)state;
    ev_feed_config c = cfg();
    c.recent_ms = 5000;
    ev_feed *f = feed_new(c);
    ev_feed_baseline(f, 0);
    publish_at(f, 1000, 1, "feature-updated", "p", "old", NULL);
    publish_at(f, 9000, 2, "release-plan-rolled-back", "p", "new", "prod");
    ev_who w = {.token_id = 1,
                .projects = "*",
                .last_id = -1,
                .fd = -1,
                .now_ms = 10000};
    ev_sub *s = NULL;
    vx_error err;
    assert_int_equal(ev_feed_subscribe(f, &w, NULL, NULL, &s, &err), VX_OK);
    assert_int_equal(drain(s), 0);
    assert_int_equal(count_of(drained, "event: change"), 1);
    assert_non_null(strstr(drained, "id: 2\n"));
    assert_null(strstr(drained, "reset"));
    ev_feed_unsubscribe(f, s);
    ev_feed_free(&f);
}

static void test_history_bound(void **state)
{
    (void)state;
    ev_feed_config c = cfg();
    c.history = 4;
    ev_feed *f = feed_new(c);
    ev_feed_baseline(f, 0);
    for (int64_t id = 1; id <= 10; id++)
        assert_true(publish(f, id, "feature-updated", "p", "x", NULL));
    /* 7..10 are kept: resuming after 6 works, after 5 does not */
    ev_sub *ok = sub(f, 1, "*", NULL, NULL, 6);
    assert_int_equal(drain(ok), 0);
    assert_int_equal(count_of(drained, "event: change"), 4);
    assert_null(strstr(drained, "reset"));
    ev_sub *lost = sub(f, 2, "*", NULL, NULL, 5);
    assert_int_equal(drain(lost), 0);
    assert_non_null(strstr(drained, "id: 6\nevent: reset\n"));
    /* ids that fell off the history are not sent again */
    assert_false(publish(f, 3, "feature-updated", "p", "x", NULL));
    ev_feed_unsubscribe(f, ok);
    ev_feed_unsubscribe(f, lost);
    ev_feed_free(&f);
}

static void test_queue_bound(void **state)
{
    (void)state;
    ev_feed_config c = cfg();
    c.queue_bytes = 2048;
    c.history = 64;
    ev_feed *f = feed_new(c);
    ev_feed_baseline(f, 0);
    ev_sub *s = sub(f, 1, "*", NULL, NULL, -1);
    for (int64_t id = 1; id <= 40; id++)
        publish(f, id, "feature-updated", "p", "a-flag-name", NULL);
    /* what fitted is read, then the end: the browser resumes from it */
    assert_int_equal(drain(s), -1);
    size_t n = strlen(drained);
    assert_true(n > 0 && n <= 2048);
    ev_feed_unsubscribe(f, s);
    ev_feed_free(&f);
}

static void test_endings(void **state)
{
    (void)state;
    ev_feed_config c = cfg();
    c.lifetime_ms = 60000;
    ev_feed *f = feed_new(c);
    ev_sub *a = sub(f, 1, "*", NULL, NULL, -1);
    ev_sub *b = sub(f, 2, "*", NULL, NULL, -1);
    ev_sub *d = sub(f, 3, "*", NULL, NULL, -1);
    ev_sub *e = sub(f, 4, "*", NULL, NULL, -1);
    svc_token_state t[] = {
        {1, true, 0}, {2, false, 0}, {3, false, 5000}, {4, false, 0}};
    wakes = 0;
    ev_feed_tokens(f, t, 4, 2000);
    assert_int_equal(wakes, 1);
    assert_int_equal(drain(a), -1); /* revoked: preamble, then the end */
    assert_int_equal(drain(b), 0);
    assert_int_equal(drain(d), 0);
    ev_feed_expire(f, 5000); /* token 3 expires */
    assert_int_equal(drain(d), -1);
    assert_int_equal(drain(b), 0);
    ev_feed_expire(f, 1000 + 60000); /* the lifetime of every stream */
    assert_int_equal(drain(b), -1);
    /* a peer that went away */
    ev_sub *g = sub(f, 5, "*", NULL, NULL, -1);
    int fds[8];
    uint64_t serials[8];
    assert_int_equal(ev_feed_sockets(f, fds, serials, 8), 0); /* fd -1 */
    ev_feed_unsubscribe(f, g);
    ev_who w = {.token_id = 6, .projects = "*", .last_id = -1, .fd = 7};
    vx_error err;
    assert_int_equal(ev_feed_subscribe(f, &w, NULL, NULL, &g, &err), VX_OK);
    assert_int_equal(ev_feed_sockets(f, fds, serials, 8), 1);
    assert_int_equal(fds[0], 7);
    ev_feed_gone(f, serials[0]);
    assert_int_equal(ev_sub_read(g, drained, sizeof(drained)), -2);
    assert_int_equal(ev_feed_sockets(f, fds, serials, 8), 0);
    /* stopping ends the rest and refuses new streams */
    ev_feed_close(f);
    assert_int_equal(drain(e), -1);
    ev_sub *late = NULL;
    w.token_id = 9;
    assert_int_equal(ev_feed_subscribe(f, &w, NULL, NULL, &late, &err),
                     VX_EUNAVAILABLE);
    ev_feed_unsubscribe(f, a);
    ev_feed_unsubscribe(f, b);
    ev_feed_unsubscribe(f, d);
    ev_feed_unsubscribe(f, e);
    ev_feed_unsubscribe(f, g);
    assert_int_equal(ev_feed_count(f), 0);
    ev_feed_free(&f);
}

static void test_oom(void **state)
{
    (void)state;
    for (size_t budget = 0;; budget++) {
        vx__alloc_set_budget(budget);
        ev_feed *f = NULL;
        ev_feed_config c = cfg();
        vx_error err;
        vx_status st = ev_feed_new(&c, &f, &err);
        ev_sub *s = NULL;
        bool fresh = false;
        if (st == VX_OK) {
            ev_feed_baseline(f, 0);
            ev_who w = {
                .token_id = 1, .projects = "*", .last_id = -1, .fd = -1};
            st = ev_feed_subscribe(f, &w, NULL, NULL, &s, &err);
        }
        if (st == VX_OK)
            fresh = publish(f, 1, "feature-updated", "p", "x", NULL);
        vx__alloc_set_budget(SIZE_MAX);
        if (s)
            drain(s);
        ev_feed_unsubscribe(f, s);
        ev_feed_free(&f);
        if (st == VX_OK && fresh && strstr(drained, "id: 1\n"))
            break;
        assert_true(st == VX_OK || st == VX_ENOMEM);
        assert_true(budget < 100);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_publish_scope_and_once),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_recent),
        cmocka_unit_test(test_history_bound),
        cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_endings),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
