/* Unit tests for src/server/sdk_context.c: a context built from the
 * frontend query string and from JSON context objects (frontend POST and
 * OFREP) has the fields Unleash would give it (unknown keys become
 * properties, remoteAddress from the client, a random sessionId, "now"),
 * the property limit and the field-path errors, the JSON string escaping
 * of the answer builder and its size limit, and the effect on a real
 * evaluation through libvexil. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/arena.h"
#include "hub/hub.h"
#include "server/sdk_context.h"

#define NOW 1700000000000LL

/* The value of property `key`, or NULL. */
static const vx_str *prop(const sdk_ctx *b, const char *key)
{
    for (size_t i = 0; i < b->c.nprops; i++)
        if (b->props[i].key.len == strlen(key) &&
            memcmp(b->props[i].key.ptr, key, strlen(key)) == 0)
            return &b->props[i].value;
    return NULL;
}

static void assert_str(vx_str s, const char *want)
{
    assert_non_null(s.ptr);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static void test_query_fields_and_properties(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 1024);
    json_t *q = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "userId", "u1",
                          "appName", "web", "properties[plan]", "pro", "region",
                          "eu", "properties", "x", "remoteAddress", "10.0.0.7");
    sdk_ctx b;
    sdk_ctx_init(&b);
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_ctx_from_query(&b, q, &err), VX_OK);
    assert_int_equal(
        sdk_ctx_finish(&b, NOW, "127.0.0.1", "production", true, &a, &err),
        VX_OK);
    assert_str(b.c.user_id, "u1");
    assert_str(b.c.app_name, "web");
    assert_str(b.c.remote_address, "10.0.0.7"); /* given: not the peer */
    assert_str(b.c.environment, "production");
    assert_int_equal(b.c.nprops, 2); /* plan, region; bare "properties" no */
    assert_str(*prop(&b, "plan"), "pro");
    assert_str(*prop(&b, "region"), "eu");
    assert_non_null(b.c.session_id.ptr); /* a random one */
    assert_true(b.c.session_id.len >= 1 && b.c.session_id.len <= 10);
    assert_int_equal(b.c.now_ms, NOW);
    assert_non_null(b.c.random);
    json_decref(q);
    vx__arena_release(&a);
}

static void test_peer_and_time(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 1024);
    json_t *q = json_pack("{s:s, s:s}", "sessionId", "s9", "currentTime",
                          "2024-05-01T10:00:00Z");
    sdk_ctx b;
    sdk_ctx_init(&b);
    assert_int_equal(sdk_ctx_from_query(&b, q, NULL), VX_OK);
    assert_int_equal(sdk_ctx_finish(&b, NOW, "::1", NULL, true, &a, NULL),
                     VX_OK);
    assert_str(b.c.remote_address, "::1");
    assert_str(b.c.session_id, "s9"); /* given: kept */
    assert_int_equal(b.c.now_ms, 1714557600000LL);
    assert_null(b.c.environment.ptr);
    json_decref(q);

    q = json_pack("{s:s}", "currentTime", "yesterday");
    sdk_ctx_init(&b);
    assert_int_equal(sdk_ctx_from_query(&b, q, NULL), VX_OK);
    assert_int_equal(sdk_ctx_finish(&b, NOW, NULL, NULL, false, &a, NULL),
                     VX_OK);
    assert_true(b.c.now_ms == VX_TIME_INVALID);
    assert_null(b.c.session_id.ptr); /* not asked for */
    assert_null(b.c.remote_address.ptr);
    json_decref(q);
    vx__arena_release(&a);
}

static void test_json_context(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 1024);
    json_error_t jerr;
    json_t *body = json_loads(
        "{\"context\":{\"userId\":\"u2\",\"sessionId\":42,\"properties\":"
        "{\"plan\":\"free\",\"beta\":true,\"score\":1.5,\"nothing\":null},"
        "\"tenant\":\"acme\",\"tags\":[\"x\",\"y\"],\"profile\":{\"a\":1}}}",
        0, &jerr);
    assert_non_null(body);
    sdk_ctx b;
    sdk_ctx_init(&b);
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_ctx_from_json(&b, json_object_get(body, "context"),
                                       "/context", false, &a, &err),
                     VX_OK);
    assert_str(b.c.user_id, "u2");
    assert_str(b.c.session_id, "42");
    assert_str(*prop(&b, "plan"), "free");
    assert_str(*prop(&b, "beta"), "true");
    assert_str(*prop(&b, "score"), "1.5");
    assert_null(prop(&b, "nothing"));
    assert_str(*prop(&b, "tenant"), "acme");
    assert_str(*prop(&b, "tags"), "[\"x\",\"y\"]");
    assert_str(*prop(&b, "profile"), "{\"a\":1}");
    json_decref(body);
    vx__arena_release(&a);
}

static void test_ofrep_targeting_key(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 1024);
    json_t *ctx = json_pack("{s:s, s:s, s:s}", "userId", "ignored",
                            "targetingKey", "user-123", "email", "a@b.c");
    sdk_ctx b;
    sdk_ctx_init(&b);
    assert_int_equal(sdk_ctx_from_json(&b, ctx, "/context", true, &a, NULL),
                     VX_OK);
    assert_str(b.c.user_id, "user-123");
    assert_str(*prop(&b, "email"), "a@b.c");
    assert_null(prop(&b, "targetingKey"));
    json_decref(ctx);

    /* Without the OFREP mapping, targetingKey is just a property. */
    ctx = json_pack("{s:s}", "targetingKey", "k");
    sdk_ctx_init(&b);
    assert_int_equal(sdk_ctx_from_json(&b, ctx, "/context", false, &a, NULL),
                     VX_OK);
    assert_null(b.c.user_id.ptr);
    assert_str(*prop(&b, "targetingKey"), "k");
    json_decref(ctx);
    vx__arena_release(&a);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 1024);
    vx_error err;
    sdk_ctx b;

    json_t *ctx = json_pack("{s:{s:i}}", "userId", "x", 1);
    sdk_ctx_init(&b);
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_ctx_from_json(&b, ctx, "/context", false, &a, &err),
                     VX_EINVAL);
    assert_string_equal(err.path, "/context/userId");
    json_decref(ctx);

    ctx = json_pack("{s:i}", "targetingKey", 7);
    sdk_ctx_init(&b);
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_ctx_from_json(&b, ctx, "/context", true, &a, &err),
                     VX_EINVAL);
    assert_string_equal(err.path, "/context/targetingKey");
    json_decref(ctx);

    ctx = json_string("not an object");
    sdk_ctx_init(&b);
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_ctx_from_json(&b, ctx, "/context", false, &a, &err),
                     VX_EINVAL);
    assert_string_equal(err.path, "/context");
    json_decref(ctx);

    /* Too many properties: the limit, naming the first one past it. */
    ctx = json_object();
    for (int i = 0; i <= VX_LIMIT_CONTEXT_PROPS; i++) {
        char k[32];
        snprintf(k, sizeof(k), "p%03d", i);
        json_object_set_new(ctx, k, json_string("v"));
    }
    sdk_ctx_init(&b);
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_ctx_from_json(&b, ctx, "/context", false, &a, &err),
                     VX_ELIMIT);
    assert_int_equal(strncmp(err.path, "/context/p", 10), 0);
    assert_int_equal(b.c.nprops, VX_LIMIT_CONTEXT_PROPS);
    json_decref(ctx);

    /* A JSON pointer escapes "/" and "~" in member names. */
    ctx = json_object();
    json_t *props = json_object();
    for (int i = 0; i < VX_LIMIT_CONTEXT_PROPS; i++) {
        char k[32];
        snprintf(k, sizeof(k), "q%03d", i);
        json_object_set_new(props, k, json_pack("[i]", i));
    }
    json_object_set_new(ctx, "properties", props);
    json_object_set_new(ctx, "x/y~z", json_string("v"));
    sdk_ctx_init(&b);
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_ctx_from_json(&b, ctx, "/context", false, &a, &err),
                     VX_ELIMIT);
    assert_string_equal(err.path, "/context/x~1y~0z");
    json_decref(ctx);

    ctx = json_pack("{s:[]}", "appName");
    sdk_ctx_init(&b);
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_ctx_from_json(&b, ctx, "/context", false, &a, &err),
                     VX_EINVAL);
    assert_string_equal(err.path, "/context/appName");
    json_decref(ctx);

    /* The query: the limit names the parameter. */
    json_t *q = json_object();
    for (int i = 0; i <= VX_LIMIT_CONTEXT_PROPS; i++) {
        char k[32];
        snprintf(k, sizeof(k), "properties[k%03d]", i);
        json_object_set_new(q, k, json_string("v"));
    }
    sdk_ctx_init(&b);
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_ctx_from_query(&b, q, &err), VX_ELIMIT);
    assert_int_equal(strncmp(err.path, "/query/properties[k", 19), 0);
    json_decref(q);
    vx__arena_release(&a);
}

static void test_repeated_and_removed(void **state)
{
    (void)state;
    sdk_ctx b;
    sdk_ctx_init(&b);
    assert_int_equal(sdk_ctx_set(&b, "k", 1, "1", 1, true, "/k", NULL), VX_OK);
    assert_int_equal(sdk_ctx_set(&b, "k", 1, "2", 1, true, "/k", NULL), VX_OK);
    assert_int_equal(b.c.nprops, 1);
    assert_str(*prop(&b, "k"), "2");
    assert_int_equal(sdk_ctx_set(&b, "k", 1, NULL, 0, true, "/k", NULL), VX_OK);
    assert_int_equal(b.c.nprops, 0);
    /* as_prop keeps a known name as a property. */
    assert_int_equal(
        sdk_ctx_set(&b, "userId", 6, "p", 1, true, "/userId", NULL), VX_OK);
    assert_null(b.c.user_id.ptr);
    assert_str(*prop(&b, "userId"), "p");
}

static void test_jbuf(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 1024);
    sdk_jbuf j;
    sdk_jbuf_init(&j, &a, 4); /* tiny: forces growth */
    sdk_jbuf_lit(&j, "{\"k\":");
    const char in[] = "a\"b\\c\n\x01\xc3\xa9";
    sdk_jbuf_str(&j, in, sizeof(in) - 1);
    sdk_jbuf_lit(&j, "}");
    assert_int_equal(j.fail, VX_OK);
    const char want[] = "{\"k\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"}";
    assert_int_equal(j.len, sizeof(want) - 1);
    assert_memory_equal(j.p, want, j.len);
    /* The text is valid JSON and round-trips. */
    json_t *v = json_loadb(j.p, j.len, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "k")), in);
    json_decref(v);
    /* Past the limit: refused, and later appends are ignored. */
    sdk_jbuf_str(&j, "x", VX_LIMIT_SDK_ANSWER_BYTES);
    assert_int_equal(j.fail, VX_ELIMIT);
    size_t len = j.len;
    sdk_jbuf_lit(&j, "more");
    assert_int_equal(j.len, len);
    vx__arena_release(&a);

    assert_true(hub_hash64("a", 1, HUB_HASH_SEED) !=
                hub_hash64("b", 1, HUB_HASH_SEED));
    assert_true(hub_hash64("abcdefghi", 9, HUB_HASH_SEED) ==
                hub_hash64("abcdefghi", 9, HUB_HASH_SEED));
    assert_true(hub_hash64("abcdefghi", 9, HUB_HASH_SEED) !=
                hub_hash64("abcdefghj", 9, HUB_HASH_SEED));
    assert_true(hub_hash64("a", 1, HUB_HASH_SEED) !=
                hub_hash64("a\0", 2, HUB_HASH_SEED));
}

/* The built context drives a real evaluation: a constraint on a property
 * given as properties[x], and a userWithId strategy on targetingKey. */
static void test_evaluation(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"version\":2,\"features\":["
        "{\"name\":\"pro\",\"enabled\":true,\"strategies\":[{\"name\":"
        "\"default\",\"constraints\":[{\"contextName\":\"plan\",\"operator\":"
        "\"IN\",\"values\":[\"pro\"]}]}]},"
        "{\"name\":\"who\",\"enabled\":true,\"strategies\":[{\"name\":"
        "\"userWithId\",\"parameters\":{\"userIds\":\"user-123\"}}]},"
        "{\"name\":\"ip\",\"enabled\":true,\"strategies\":[{\"name\":"
        "\"remoteAddress\",\"parameters\":{\"IPs\":\"127.0.0.1\"}}]}]}";
    vx_snapshot *snap = NULL;
    assert_int_equal(vx_snapshot_load(doc, sizeof(doc) - 1, NULL, &snap, NULL),
                     VX_OK);
    vx_arena a;
    vx__arena_init(&a, 1024);
    json_t *q = json_pack("{s:s}", "properties[plan]", "pro");
    sdk_ctx b;
    sdk_ctx_init(&b);
    assert_int_equal(sdk_ctx_from_query(&b, q, NULL), VX_OK);
    assert_int_equal(sdk_ctx_finish(&b, NOW, "127.0.0.1", NULL, true, &a, NULL),
                     VX_OK);
    vx_scratch *sc = sdk_scratch();
    assert_non_null(sc);
    assert_ptr_equal(sdk_scratch(), sc); /* one per thread */
    assert_true(vx_is_enabled(snap, sc, "pro", 3, &b.c));
    assert_false(vx_is_enabled(snap, sc, "who", 3, &b.c));
    assert_true(vx_is_enabled(snap, sc, "ip", 2, &b.c)); /* the peer */
    json_decref(q);

    json_t *ctx =
        json_pack("{s:s, s:s}", "targetingKey", "user-123", "plan", "free");
    sdk_ctx_init(&b);
    assert_int_equal(sdk_ctx_from_json(&b, ctx, "/context", true, &a, NULL),
                     VX_OK);
    assert_int_equal(sdk_ctx_finish(&b, NOW, "10.1.1.1", NULL, false, &a, NULL),
                     VX_OK);
    assert_false(vx_is_enabled(snap, sc, "pro", 3, &b.c));
    assert_true(vx_is_enabled(snap, sc, "who", 3, &b.c));
    assert_false(vx_is_enabled(snap, sc, "ip", 2, &b.c));
    json_decref(ctx);
    vx__arena_release(&a);
    vx_snapshot_unref(snap);
}

/* The token bucket: a burst of rate * VX_LIMIT_OFREP_BURST_SECS, refilled
 * at the rate, per key; the wait is reported. */
static void test_rate(void **state)
{
    (void)state;
    sdk_rate *r = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(sdk_rate_new(0, &r, &err), VX_EINVAL);
    assert_null(r);
    assert_int_equal(sdk_rate_new(10, &r, NULL), VX_OK);
    const int burst = (int)(10 * VX_LIMIT_OFREP_BURST_SECS);
    double wait = 0;
    for (int i = 0; i < burst; i++)
        assert_true(sdk_rate_take(r, 7, NOW, &wait));
    assert_false(sdk_rate_take(r, 7, NOW, &wait));
    assert_true(wait > 0.09 && wait <= 0.1 + 1e-9);
    assert_true(sdk_rate_take(r, 8, NOW, &wait));       /* another key */
    assert_false(sdk_rate_take(r, 7, NOW + 50, &wait)); /* half a token */
    assert_true(sdk_rate_take(r, 7, NOW + 100, &wait)); /* one more */
    assert_false(sdk_rate_take(r, 7, NOW + 100, &wait));
    /* Many keys: past the tracked maximum the limiter starts over. */
    for (int64_t k = 100; k < 100 + 2 * VX_LIMIT_OFREP_TOKENS; k++)
        assert_true(sdk_rate_take(r, k, NOW + 100, &wait));
    sdk_rate_free(&r);
    assert_null(r);
    sdk_rate_free(&r); /* NULL is fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_fields_and_properties),
        cmocka_unit_test(test_peer_and_time),
        cmocka_unit_test(test_json_context),
        cmocka_unit_test(test_ofrep_targeting_key),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_repeated_and_removed),
        cmocka_unit_test(test_jbuf),
        cmocka_unit_test(test_evaluation),
        cmocka_unit_test(test_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
