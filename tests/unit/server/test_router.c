/* Unit tests for src/server/router.c: every template matches a path built
 * from itself (and fills exactly its parameters), parameters are decoded
 * after the split (so "%2F" stays inside one), 404 versus 405 with the
 * Allow list, literal segments before parameters, trailing slashes, bad
 * encodings and the arena running out.
 *
 * Expected values come from docs/admin-api.md (paths, methods, success
 * statuses), not from the table itself, except for the round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "server/router.h"

#define PATH_MAX_TEST 512

/* Matches NUL-terminated `path`, returning the result. */
static router_result match(const char *method, const char *path, vx_arena *a,
                           router_hit *hit, vx_error *err)
{
    return router_match(method, path, strlen(path), a, hit, err);
}

/* Writes the template with each {name} replaced by "v-name". Returns the
 * number of parameters. */
static int instantiate(const char *tpl, char *out, size_t cap)
{
    size_t o = 0;
    int params = 0;
    for (const char *t = tpl; *t; t++) {
        if (*t == '{') {
            const char *close = strchr(t, '}');
            assert_non_null(close);
            int n = snprintf(out + o, cap - o, "v-%.*s", (int)(close - t - 1),
                             t + 1);
            assert_true(n > 0 && (size_t)n < cap - o);
            o += (size_t)n;
            t = close;
            params++;
        } else {
            assert_true(o + 1 < cap);
            out[o++] = *t;
        }
    }
    out[o] = '\0';
    return params;
}

static int count_params(const svc_req *r)
{
    return (r->project != NULL) + (r->feature != NULL) +
           (r->environment != NULL) + (r->id != NULL) + (r->tag_type != NULL) +
           (r->tag_value != NULL);
}

/* Every route's own path (with and without a trailing slash) comes back to
 * that route, with its parameters decoded into the right svc_req fields. */
static void test_every_route_round_trips(void **state)
{
    (void)state;
    assert_true(router_count() > 40);
    assert_null(router_at(router_count()));
    for (size_t i = 0; i < router_count(); i++) {
        const router_route *r = router_at(i);
        char path[PATH_MAX_TEST];
        int params = instantiate(r->path, path, sizeof(path));
        for (int slash = 0; slash < 2; slash++) {
            if (slash) {
                size_t n = strlen(path);
                path[n] = '/';
                path[n + 1] = '\0';
            }
            vx_arena a;
            vx__arena_init(&a, 256);
            router_hit hit;
            vx_error err;
            router_result res = match(r->method, path, &a, &hit, &err);
            if (res != ROUTER_FOUND || hit.index != i)
                fail_msg("%s %s: result %d, index %zu, want %zu", r->method,
                         path, (int)res, hit.index, i);
            assert_ptr_equal(hit.route, r);
            assert_int_equal(hit.req.op, r->op);
            assert_int_equal(count_params(&hit.req), params);
            if (hit.req.project)
                assert_string_equal(hit.req.project, "v-project");
            if (hit.req.feature)
                assert_string_equal(hit.req.feature, "v-feature");
            if (hit.req.environment)
                assert_string_equal(hit.req.environment, "v-environment");
            if (hit.req.id)
                assert_string_equal(hit.req.id, "v-id");
            if (hit.req.tag_type)
                assert_string_equal(hit.req.tag_type, "v-type");
            if (hit.req.tag_value)
                assert_string_equal(hit.req.tag_value, "v-value");
            assert_null(hit.req.query);
            assert_null(hit.req.body);
            vx__arena_release(&a);
        }
    }
}

/* The table covers every service operation, with the documented success
 * statuses (201 for creations, 202 for stale, 204 for segment updates). */
static void test_table_covers_the_api(void **state)
{
    (void)state;
    bool seen[SVC_OP_COUNT] = {false};
    for (size_t i = 0; i < router_count(); i++) {
        const router_route *r = router_at(i);
        assert_true(r->op < SVC_OP_COUNT);
        seen[r->op] = true;
        assert_true(r->status == 200 || r->status == 201 || r->status == 202 ||
                    r->status == 204);
        assert_true(strncmp(r->path, "/api/admin/", 11) == 0);
    }
    for (int op = 0; op < SVC_OP_COUNT; op++) {
        if (!seen[op])
            fail_msg("no route for %s", svc_op_name((svc_op)op));
    }
    static const struct {
        const char *method, *path;
        svc_op op;
        unsigned status;
    } doc[] = {
        {"POST", "/api/admin/projects", SVC_OP_PROJECT_CREATE, 201},
        {"POST", "/api/admin/environments", SVC_OP_ENVIRONMENT_CREATE, 201},
        {"POST", "/api/admin/projects/p/features", SVC_OP_FEATURE_CREATE, 201},
        {"POST", "/api/admin/projects/p/stale", SVC_OP_STALE_SET, 202},
        {"POST", "/api/admin/features/f/tags", SVC_OP_TAG_ADD, 201},
        {"POST", "/api/admin/segments", SVC_OP_SEGMENT_CREATE, 201},
        {"PUT", "/api/admin/segments/3", SVC_OP_SEGMENT_UPDATE, 204},
        {"DELETE", "/api/admin/segments/3", SVC_OP_SEGMENT_DELETE, 204},
        {"POST", "/api/admin/api-tokens", SVC_OP_TOKEN_CREATE, 201},
        {"POST", "/api/admin/projects/p/features/f/environments/e/strategies",
         SVC_OP_STRATEGY_ADD, 200},
        {"GET", "/api/admin/events", SVC_OP_EVENT_SEARCH, 200},
        {"GET", "/api/admin/search/events", SVC_OP_EVENT_SEARCH, 200},
        {"DELETE", "/api/admin/projects/p/features/c/dependencies/parent",
         SVC_OP_DEPENDENCY_REMOVE, 200},
        {"PUT", "/api/admin/feature-types/release/lifetime",
         SVC_OP_FEATURE_TYPE_LIFETIME, 200},
    };
    for (size_t i = 0; i < sizeof(doc) / sizeof(doc[0]); i++) {
        vx_arena a;
        vx__arena_init(&a, 256);
        router_hit hit;
        assert_int_equal(match(doc[i].method, doc[i].path, &a, &hit, NULL),
                         ROUTER_FOUND);
        assert_int_equal(hit.req.op, doc[i].op);
        assert_int_equal(hit.route->status, doc[i].status);
        vx__arena_release(&a);
    }
}

/* Parameters are split on the raw '/', then decoded: "%2F" is a slash
 * inside one parameter, "%20" a space, '+' stays '+', UTF-8 is kept. */
static void test_params_decoded_after_split(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 256);
    router_hit hit;
    assert_int_equal(match("GET",
                           "/api/admin/projects/a%2Fb/features/c%20d+e%2fz", &a,
                           &hit, NULL),
                     ROUTER_FOUND);
    assert_int_equal(hit.req.op, SVC_OP_FEATURE_GET);
    assert_string_equal(hit.req.project, "a/b");
    assert_string_equal(hit.req.feature, "c d+e/z");

    assert_int_equal(match("DELETE",
                           "/api/admin/features/f/tags/simple/%C3%A9t%C3%A9",
                           &a, &hit, NULL),
                     ROUTER_FOUND);
    assert_int_equal(hit.req.op, SVC_OP_TAG_REMOVE);
    assert_string_equal(hit.req.feature, "f");
    assert_string_equal(hit.req.tag_type, "simple");
    assert_string_equal(hit.req.tag_value, "\xC3\xA9t\xC3\xA9");

    /* Literal segments are compared undecoded: "%66eatures" is a name. */
    assert_int_equal(
        match("GET", "/api/admin/projects/p/%66eatures", &a, &hit, NULL),
        ROUTER_NOT_FOUND);
    vx__arena_release(&a);
}

/* The length bounds the path: bytes after it are not looked at. */
static void test_path_length_respected(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 256);
    router_hit hit;
    const char *p = "/api/admin/projects/abc/features";
    assert_int_equal(router_match("GET", p, strlen("/api/admin/projects/abc"),
                                  &a, &hit, NULL),
                     ROUTER_FOUND);
    assert_int_equal(hit.req.op, SVC_OP_PROJECT_GET);
    assert_string_equal(hit.req.project, "abc");
    vx__arena_release(&a);
}

/* No template for the path: 404. A template with other methods: 405 and
 * the Allow list of those methods, each once. */
static void test_not_found_versus_method(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 256);
    router_hit hit;
    static const char *const missing[] = {
        "/api/admin/nothing",
        "/api/admin",
        "/api/admin/projects/p/features/f/extra/more",
        "/api/client/features",
        "/api/frontend",
        "/",
        "",
        "api/admin/projects",
        "/api/admin/projects//",
        "/api/admin//projects",
        "/api/admin/projects/p//features",
        "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s",
    };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        router_result res = match("GET", missing[i], &a, &hit, NULL);
        if (res != ROUTER_NOT_FOUND)
            fail_msg("%s: %d", missing[i], (int)res);
        assert_null(hit.route);
    }

    assert_int_equal(match("PUT", "/api/admin/projects", &a, &hit, NULL),
                     ROUTER_NO_METHOD);
    assert_null(hit.route);
    assert_string_equal(hit.allow, "GET, POST");

    assert_int_equal(match("PATCH", "/api/admin/segments/4", &a, &hit, NULL),
                     ROUTER_NO_METHOD);
    assert_string_equal(hit.allow, "GET, PUT, DELETE");

    /* Two templates overlap here: both contribute their method. */
    assert_int_equal(
        match("PUT", "/api/admin/archive/features", &a, &hit, NULL),
        ROUTER_NO_METHOD);
    assert_string_equal(hit.allow, "GET, DELETE");

    assert_int_equal(
        match("GET", "/api/admin/projects/p/stale", &a, &hit, NULL),
        ROUTER_NO_METHOD);
    assert_string_equal(hit.allow, "POST");
    vx__arena_release(&a);
}

/* Where a literal and a parameter compete for the same segment, the
 * literal wins for its method; other methods fall to the parameter. */
static void test_literal_beats_parameter(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 256);
    router_hit hit;
    assert_int_equal(
        match("GET", "/api/admin/archive/features", &a, &hit, NULL),
        ROUTER_FOUND);
    assert_int_equal(hit.req.op, SVC_OP_ARCHIVE_LIST);
    assert_int_equal(
        match("DELETE", "/api/admin/archive/features", &a, &hit, NULL),
        ROUTER_FOUND);
    assert_int_equal(hit.req.op, SVC_OP_ARCHIVE_DELETE);
    assert_string_equal(hit.req.feature, "features");

    const char *order =
        "/api/admin/projects/p/features/f/environments/e/strategies/"
        "set-sort-order";
    assert_int_equal(match("POST", order, &a, &hit, NULL), ROUTER_FOUND);
    assert_int_equal(hit.req.op, SVC_OP_STRATEGY_ORDER);
    assert_null(hit.req.id);
    assert_int_equal(match("GET", order, &a, &hit, NULL), ROUTER_FOUND);
    assert_int_equal(hit.req.op, SVC_OP_STRATEGY_GET);
    assert_string_equal(hit.req.id, "set-sort-order");

    assert_int_equal(
        match("POST", "/api/admin/features/validate", &a, &hit, NULL),
        ROUTER_FOUND);
    assert_int_equal(hit.req.op, SVC_OP_FEATURE_VALIDATE);
    vx__arena_release(&a);
}

/* HEAD is routed like GET; unknown methods get 405. */
static void test_head_and_odd_methods(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 256);
    router_hit hit;
    assert_int_equal(match("HEAD", "/api/admin/features", &a, &hit, NULL),
                     ROUTER_FOUND);
    assert_int_equal(hit.req.op, SVC_OP_FEATURE_LIST_ALL);
    assert_int_equal(match("OPTIONS", "/api/admin/features", &a, &hit, NULL),
                     ROUTER_NO_METHOD);
    assert_string_equal(hit.allow, "GET");
    assert_int_equal(match("get", "/api/admin/features", &a, &hit, NULL),
                     ROUTER_NO_METHOD);
    vx__arena_release(&a);
}

/* Bad escapes, NUL and invalid UTF-8 are 400s naming the parameter. */
static void test_bad_encoding(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *where;
    } bad[] = {
        {"/api/admin/projects/%ZZ", "/path/project"},
        {"/api/admin/projects/ab%2", "/path/project"},
        {"/api/admin/projects/ab%", "/path/project"},
        {"/api/admin/projects/a%00b", "/path/project"},
        {"/api/admin/projects/%FF", "/path/project"},
        {"/api/admin/projects/%C0%AF", "/path/project"},    /* overlong '/' */
        {"/api/admin/projects/%ED%A0%80", "/path/project"}, /* surrogate */
        {"/api/admin/projects/p/features/%E2%82", "/path/feature"},
        {"/api/admin/segments/%G1", "/path/id"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vx_arena a;
        vx__arena_init(&a, 256);
        router_hit hit;
        vx_error err;
        memset(&err, 0, sizeof(err));
        router_result res = match("GET", bad[i].path, &a, &hit, &err);
        if (res != ROUTER_BAD_PARAM)
            fail_msg("%s: %d", bad[i].path, (int)res);
        assert_int_equal(err.code, VX_EINVAL);
        assert_string_equal(err.path, bad[i].where);
        assert_true(err.message[0] != '\0');
        assert_null(hit.route);
        /* err may be NULL too. */
        assert_int_equal(match("GET", bad[i].path, &a, &hit, NULL),
                         ROUTER_BAD_PARAM);
        vx__arena_release(&a);
    }
}

/* The decoded parameters come from the arena: when it cannot grow, the
 * answer is ROUTER_NOMEM, and a path without parameters still matches. */
static void test_arena_exhausted(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 64);
    router_hit hit;
    vx__alloc_set_budget(0);
    router_result with = match("GET", "/api/admin/projects/p", &a, &hit, NULL);
    router_result without = match("GET", "/api/admin/projects", &a, &hit, NULL);
    vx__alloc_set_budget(SIZE_MAX);
    assert_int_equal(with, ROUTER_NOMEM);
    assert_int_equal(without, ROUTER_FOUND);
    vx__arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_round_trips),
        cmocka_unit_test(test_table_covers_the_api),
        cmocka_unit_test(test_params_decoded_after_split),
        cmocka_unit_test(test_path_length_respected),
        cmocka_unit_test(test_not_found_versus_method),
        cmocka_unit_test(test_literal_beats_parameter),
        cmocka_unit_test(test_head_and_odd_methods),
        cmocka_unit_test(test_bad_encoding),
        cmocka_unit_test(test_arena_exhausted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
