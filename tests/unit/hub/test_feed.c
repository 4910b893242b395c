/* A hub fed from outside (hub.h, feed.c): what an edge node holds. A fed
 * hub given a source hub's edge hydration and deltas serves the same bytes
 * and ETags as the source, tag filters included; segment changes ask for a
 * new hydration; a dropped slot ends its streams; token lists end revoked
 * streams and tell edge streams that tokens changed; a slot waits for its
 * first state in the bound; a drained stream gives its queue back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "hub/internal.h"
#include "hub_fixture.h"

/* Everything `key` serves for `sc` that a body can show, as one text: the
 * features body plain and gzipped (with ETags), the inlined form, a
 * hydration, the revision. */
static char *served(hub *h, const char *key, const char *tag)
{
    hub_state *s = hub_test_state(h, key);
    hub_scope plain = {.projects = "*", .tag = tag};
    hub_scope inl = {.projects = "*", .tag = tag, .inline_segments = true};
    const hub_body *b1 = NULL, *b2 = NULL, *b3 = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_state_features_body(s, &plain, false, NULL, &b1, &err),
                     VX_OK);
    assert_int_equal(hub_state_features_body(s, &plain, true, NULL, &b2, &err),
                     VX_OK);
    assert_int_equal(hub_state_features_body(s, &inl, false, NULL, &b3, &err),
                     VX_OK);
    vx_arena arena;
    vx__arena_init(&arena, 4096);
    char *delta = NULL;
    size_t dlen = 0;
    assert_int_equal(hub_delta(h, s, -1, &plain, &arena, &delta, &dlen, &err),
                     VX_OK);
    size_t cap = b1->len + b3->len + dlen + 256;
    char *out = malloc(cap);
    assert_non_null(out);
    snprintf(out, cap, "rev %lld\n%s %s\n%s gz %zu %016llx\n%s\n%s\n%.*s",
             (long long)hub_state_revision(s), b1->etag, b1->bytes, b2->etag,
             b2->len,
             (unsigned long long)hub_hash64(b2->bytes, b2->len, HUB_HASH_SEED),
             b3->etag, b3->bytes, (int)dlen, delta);
    vx__arena_release(&arena);
    hub_state_release(s);
    return out;
}

static void assert_same(hub *src, hub *fed, const char *tag)
{
    char *x = served(src, "production", tag), *y = served(fed, "k1", tag);
    if (strcmp(x, y) != 0)
        fail_msg("the fed hub serves other bytes (tag %s):\n# source: %.600s\n"
                 "# fed:    %.600s",
                 tag ? tag : "-", x, y);
    free(x);
    free(y);
}

/* What an edge following `src` receives for its state at revision `since`
 * (< 0: a hydration), applied to `fed`'s slot "k1". */
static vx_status follow(hub *src, hub *fed, int64_t since, int64_t *rev)
{
    hub_state *s = hub_test_state(src, "production");
    hub_scope edge = {.projects = "*", .edge = true};
    vx_arena arena;
    vx__arena_init(&arena, 4096);
    char *body = NULL;
    size_t len = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_delta(src, s, since, &edge, &arena, &body, &len, &err),
                     VX_OK);
    *rev = hub_state_revision(s);
    vx_status st =
        body ? hub_feed_apply(fed, "k1", "production", body, len, *rev, &err)
             : VX_OK;
    vx__arena_release(&arena);
    hub_state_release(s);
    return st;
}

static hub *fed_new(unsigned fresh_ms)
{
    hub_config cfg = {.fresh_ms = fresh_ms};
    hub *h = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_new_fed(&cfg, &h, &err), VX_OK);
    return h;
}

static void test_same_bytes_as_the_source(void **state)
{
    (void)state;
    temp_service t;
    temp_service_open(&t, "hubfeed");
    hub *src = hub_test_new(t.svc, 50);
    hub *fed = fed_new(0);
    assert_int_equal(
        hub_test_call(t.svc, SVC_OP_SEGMENT_CREATE, NULL, NULL, NULL,
                      "{\"name\":\"beta\",\"constraints\":[{"
                      "\"contextName\":\"userId\",\"operator\":\"IN\","
                      "\"values\":[\"1\",\"2\"]}]}",
                      NULL),
        VX_OK);
    hub_test_flag(t.svc, "zeta");
    hub_test_flag(t.svc, "alpha");
    hub_test_flag(t.svc, "tagged");
    assert_int_equal(hub_test_call(t.svc, SVC_OP_TAG_ADD, "tagged", NULL, NULL,
                                   "{\"type\":\"simple\",\"value\":\"x\"}",
                                   NULL),
                     VX_OK);
    assert_int_equal(
        hub_test_call(t.svc, SVC_OP_STRATEGY_ADD, "alpha", "production", NULL,
                      "{\"name\":\"flexibleRollout\",\"parameters\":{"
                      "\"rollout\":\"50\",\"stickiness\":\"userId\"},"
                      "\"segments\":[1]}",
                      NULL),
        VX_OK);
    hub_test_toggle(t.svc, "alpha", "production", true);

    int64_t rev = -1;
    assert_int_equal(follow(src, fed, -1, &rev), VX_OK);
    assert_same(src, fed, NULL);
    assert_same(src, fed, "simple:x"); /* the tags came along */

    /* Changes arrive as deltas and patch the fed state. */
    hub_test_toggle(t.svc, "zeta", "production", true);
    assert_int_equal(follow(src, fed, rev, &rev), VX_OK);
    assert_same(src, fed, NULL);
    hub_test_flag(t.svc, "beta-new");
    assert_int_equal(hub_test_call(t.svc, SVC_OP_FEATURE_ARCHIVE, "zeta", NULL,
                                   NULL, NULL, NULL),
                     VX_OK);
    assert_int_equal(follow(src, fed, rev, &rev), VX_OK);
    assert_same(src, fed, NULL);
    assert_same(src, fed, "simple:x");

    /* A segment's place in the upstream's list is not the edge's to guess:
     * it asks for a hydration, then serves the same again. */
    assert_int_equal(
        hub_test_call(t.svc, SVC_OP_SEGMENT_UPDATE, NULL, NULL, "1",
                      "{\"name\":\"beta\",\"constraints\":[{"
                      "\"contextName\":\"userId\",\"operator\":\"IN\","
                      "\"values\":[\"3\"]}]}",
                      NULL),
        VX_OK);
    int64_t old = rev;
    assert_int_equal(follow(src, fed, old, &rev), VX_ECONFLICT);
    assert_int_equal(follow(src, fed, -1, &rev), VX_OK);
    assert_same(src, fed, NULL);

    /* The export is a hydration another fed hub takes back whole. */
    char *text = NULL;
    size_t len = 0;
    int64_t xrev = 0;
    char env[64];
    assert_int_equal(
        hub_feed_export(fed, "k1", &text, &len, &xrev, env, sizeof(env)),
        VX_OK);
    assert_string_equal(env, "production");
    assert_int_equal(xrev, rev);
    hub *again = fed_new(0);
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_feed_apply(again, "k1", env, text, len, xrev, &err),
                     VX_OK);
    assert_same(src, again, NULL);
    assert_same(src, again, "simple:x");
    vx__free(text);

    /* Not a document: refused, nothing changes. */
    assert_int_equal(hub_feed_apply(again, "k1", env, "{\"x\":1}", 7, 99, &err),
                     VX_EPARSE);
    assert_same(src, again, NULL);

    hub_free(&again);
    hub_free(&fed);
    hub_free(&src);
    temp_service_close(&t);
}

typedef struct woken {
    atomic_int n; /* wake calls */
} woken;

static void on_wake(void *ud)
{
    woken *w = ud;
    atomic_fetch_add(&w->n, 1);
}

/* All pending text of `sub` into `buf` (cap bytes); the last read's
 * result (0 nothing more, -1 ended). */
static long drain(hub_sub *sub, char *buf, size_t cap)
{
    size_t used = 0;
    long n;
    buf[0] = '\0';
    while ((n = hub_sub_read(sub, buf + used, cap - used - 1)) > 0) {
        used += (size_t)n;
        buf[used] = '\0';
    }
    return n;
}

static const char HYDRATION[] =
    "{\"events\":[{\"eventId\":7,\"type\":\"hydration\",\"features\":["
    "{\"name\":\"a\",\"type\":\"release\",\"project\":\"default\","
    "\"enabled\":true,\"stale\":false,\"strategies\":[{\"name\":\"default\","
    "\"parameters\":{}}],\"variants\":[],\"impressionData\":false}],"
    "\"segments\":[]}]}";

static void test_drop_tokens_and_waits(void **state)
{
    (void)state;
    hub *fed = fed_new(200);
    vx_error err;
    memset(&err, 0, sizeof(err));

    /* An opened slot has no state: a request waits its bound, then 503. */
    assert_int_equal(hub_feed_open(fed, "k1", &err), VX_OK);
    hub_state *s = NULL;
    double t0 = hub_test_now();
    assert_int_equal(hub_acquire(fed, "k1", &s), VX_EUNAVAILABLE);
    assert_true(hub_test_now() - t0 < 2.0);
    assert_int_equal(hub_acquire(fed, "nope", &s), VX_ENOTFOUND);
    assert_int_equal(hub_feed_apply(fed, "k1", "production", HYDRATION,
                                    sizeof(HYDRATION) - 1, 7, &err),
                     VX_OK);
    s = hub_test_state(fed, "k1");
    assert_int_equal(hub_state_revision(s), 7);
    assert_non_null(hub_state_find(s, "a"));
    hub_state_release(s);

    /* An edge stream hears that tokens changed; a revoked token's stream
     * ends. */
    woken w1 = {0}, w2 = {0};
    hub_scope edge = {.projects = "*", .edge = true};
    hub_scope plain = {.projects = "*"};
    hub_peer p1 = {5, -1}, p2 = {6, -1};
    hub_sub *s1 = NULL, *s2 = NULL;
    assert_int_equal(
        hub_subscribe(fed, "k1", &edge, -1, &p1, on_wake, &w1, &s1, &err),
        VX_OK);
    assert_int_equal(
        hub_subscribe(fed, "k1", &plain, -1, &p2, on_wake, &w2, &s2, &err),
        VX_OK);
    char buf[8192];
    assert_int_equal(drain(s1, buf, sizeof(buf)), 0);
    assert_int_equal(drain(s2, buf, sizeof(buf)), 0);
    svc_token_state list[2] = {{5, false, 0}, {6, false, 0}};
    assert_int_equal(hub_feed_tokens(fed, list, 2, &err), VX_OK);
    assert_int_equal(drain(s1, buf, sizeof(buf)), 0);
    assert_non_null(strstr(buf, "event: vexil-tokens"));
    assert_int_equal(drain(s2, buf, sizeof(buf)), 0);
    assert_null(strstr(buf, "vexil-tokens")); /* SDKs never see it */
    /* The same list again: nothing to say. */
    assert_int_equal(hub_feed_tokens(fed, list, 2, &err), VX_OK);
    assert_int_equal(drain(s1, buf, sizeof(buf)), 0);
    assert_null(strstr(buf, "vexil-tokens"));
    list[1].revoked = true;
    assert_int_equal(hub_feed_tokens(fed, list, 2, &err), VX_OK);
    assert_int_equal(drain(s2, buf, sizeof(buf)), -1);
    assert_int_equal(drain(s1, buf, sizeof(buf)), 0);
    assert_non_null(strstr(buf, "event: vexil-tokens"));

    /* Dropping the slot ends its streams; it is gone. */
    hub_feed_drop(fed, "k1");
    assert_int_equal(drain(s1, buf, sizeof(buf)), -1);
    assert_int_equal(hub_acquire(fed, "k1", &s), VX_ENOTFOUND);
    static const char removed[] = "{\"events\":[{\"type\":\"feature-removed\","
                                  "\"featureName\":\"a\"}]}";
    assert_int_equal(hub_feed_apply(fed, "k1", "production", removed,
                                    sizeof(removed) - 1, 8, &err),
                     VX_ENOTFOUND);
    hub_unsubscribe(fed, s1);
    hub_unsubscribe(fed, s2);
    hub_free(&fed);
}

/* A stream's queue held a hydration; once read, its room is given back
 * (a quiet stream costs its connection, not its largest message). */
static void test_drained_queue_is_freed(void **state)
{
    (void)state;
    hub *fed = fed_new(0);
    vx_error err;
    memset(&err, 0, sizeof(err));
    /* A hydration well over the room a drained queue keeps. */
    size_t n = 200;
    size_t cap = n * 256 + 256;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t len = (size_t)snprintf(doc, cap,
                                  "{\"events\":[{\"type\":"
                                  "\"hydration\",\"features\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(
            doc + len, cap - len,
            "%s{\"name\":\"flag-%04zu\",\"project\":\"default\","
            "\"enabled\":true,\"strategies\":[{\"name\":\"default\","
            "\"parameters\":{}}],\"variants\":[]}",
            i ? "," : "", i);
    len += (size_t)snprintf(doc + len, cap - len, "],\"segments\":[]}]}");
    assert_int_equal(hub_feed_apply(fed, "k1", "production", doc, len, 3, &err),
                     VX_OK);
    free(doc);
    woken w = {0};
    hub_scope sc = {.projects = "*"};
    hub_peer p = {1, -1};
    hub_sub *sub = NULL;
    assert_int_equal(
        hub_subscribe(fed, "k1", &sc, -1, &p, on_wake, &w, &sub, &err), VX_OK);
    pthread_mutex_lock(&fed->mu);
    assert_true(sub->q.cap > VX_LIMIT_SSE_KEEP_BYTES);
    pthread_mutex_unlock(&fed->mu);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    assert_int_equal(drain(sub, buf, 1 << 20), 0);
    assert_non_null(strstr(buf, "flag-0199"));
    pthread_mutex_lock(&fed->mu);
    assert_true(sub->q.cap <= VX_LIMIT_SSE_KEEP_BYTES);
    pthread_mutex_unlock(&fed->mu);
    free(buf);
    hub_unsubscribe(fed, sub);
    hub_free(&fed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bytes_as_the_source),
        cmocka_unit_test(test_drop_tokens_and_waits),
        cmocka_unit_test(test_drained_queue_is_freed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
