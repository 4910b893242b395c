/* Unit tests for vx_context_set_parse (src/core/context.c): Unleash SDK
 * context objects in JSON to vx_context values.
 *
 * Reference: the contract in vexil.h (array or single object, strings or
 * null, ISO-8601 currentTime, `now_ms` for contexts without one, errors as
 * for vx_snapshot_load) and the Node SDK's resolveContextValue (a top-level
 * field first, then `properties`), which is why top-level custom fields are
 * kept as properties ahead of `properties`. Times are Date.parse values:
 *   node -e 'console.log(Date.parse("2024-05-01"))'  -> 1714521600000 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/limits.h"
#include "unit/guard_page.h"
#include "vexil/vexil.h"

static vx_status parse(const char *json, vx_context_set **out, vx_error *err)
{
    memset(err, 0, sizeof(*err));
    guarded g;
    size_t len = strlen(json);
    const char *p = guard_copy(&g, json, len);
    assert_non_null(p);
    vx_status st = vx_context_set_parse(p, len, 777, out, err);
    guard_release(&g);
    return st;
}

static void expect_str(vx_str got, const char *want)
{
    if (!want) {
        assert_null(got.ptr);
        return;
    }
    assert_non_null(got.ptr);
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.ptr, want, got.len);
}

static void test_fields(void **state)
{
    (void)state;
    vx_context_set *cs = NULL;
    vx_error err;
    assert_int_equal(
        parse("[{\"userId\": \"u1\", \"sessionId\": \"s1\", \"remoteAddress\": "
              "\"::1\", \"environment\": \"prod\", \"appName\": \"web\", "
              "\"currentTime\": \"2024-05-01\", \"tenant\": \"t1\", "
              "\"properties\": {\"email\": \"a@b\", \"gone\": null}},"
              "{},"
              "{\"userId\": null, \"properties\": null}]",
              &cs, &err),
        VX_OK);
    assert_int_equal(vx_context_set_count(cs), 3);
    const vx_context *c = vx_context_set_get(cs, 0);
    expect_str(c->user_id, "u1");
    expect_str(c->session_id, "s1");
    expect_str(c->remote_address, "::1");
    expect_str(c->environment, "prod");
    expect_str(c->app_name, "web");
    expect_str(c->current_time, "2024-05-01");
    assert_int_equal(c->now_ms, 1714521600000);
    /* Top-level custom fields first, then properties; null = absent. */
    assert_int_equal(c->nprops, 3);
    expect_str(c->props[0].key, "tenant");
    expect_str(c->props[0].value, "t1");
    expect_str(c->props[1].key, "email");
    expect_str(c->props[1].value, "a@b");
    expect_str(c->props[2].key, "gone");
    expect_str(c->props[2].value, NULL);
    assert_null(c->random);
    expect_str(c->hostname, NULL);

    c = vx_context_set_get(cs, 1); /* {} */
    expect_str(c->user_id, NULL);
    assert_int_equal(c->now_ms, 777); /* the caller's "now" */
    assert_int_equal(c->nprops, 0);
    c = vx_context_set_get(cs, 2);
    expect_str(c->user_id, NULL);
    assert_null(vx_context_set_get(cs, 3));
    vx_context_set_free(cs);

    /* A single object is a set of one. */
    assert_int_equal(parse("{\"userId\": \"\"}", &cs, &err), VX_OK);
    assert_int_equal(vx_context_set_count(cs), 1);
    expect_str(vx_context_set_get(cs, 0)->user_id, ""); /* present, empty */
    vx_context_set_free(cs);

    /* An empty array is an empty set. */
    assert_int_equal(parse("[]", &cs, &err), VX_OK);
    assert_int_equal(vx_context_set_count(cs), 0);
    assert_null(vx_context_set_get(cs, 0));
    vx_context_set_free(cs);

    assert_int_equal(vx_context_set_count(NULL), 0);
    assert_null(vx_context_set_get(NULL, 0));
    vx_context_set_free(NULL);
}

/* Parsed contexts evaluate like hand-built ones. */
static void test_evaluates(void **state)
{
    (void)state;
    const char doc[] =
        "{\"features\": [{\"name\": \"t\", \"enabled\": true, \"strategies\": "
        "[{\"name\": \"default\", \"constraints\": [{\"contextName\": "
        "\"tenant\", \"operator\": \"IN\", \"values\": [\"t1\"]}, "
        "{\"contextName\": \"currentTime\", \"operator\": \"DATE_AFTER\", "
        "\"value\": \"2024-01-01T00:00:00Z\"}]}]}]}";
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(vx_snapshot_load(doc, sizeof(doc) - 1, NULL, &s, &err),
                     VX_OK);
    vx_context_set *cs = NULL;
    assert_int_equal(
        parse(
            "[{\"tenant\": \"t1\", \"currentTime\": \"2024-05-01T10:00Z\"},"
            "{\"properties\": {\"tenant\": \"t1\"}, \"currentTime\": "
            "\"2024-05-01T10:00:00+02:00\"},"
            "{\"tenant\": \"t2\", \"currentTime\": \"2024-05-01\"},"
            "{\"tenant\": \"t1\", \"currentTime\": \"2023-12-31T23:59:59Z\"}]",
            &cs, &err),
        VX_OK);
    assert_true(vx_is_enabled(s, NULL, "t", 1, vx_context_set_get(cs, 0)));
    assert_true(vx_is_enabled(s, NULL, "t", 1, vx_context_set_get(cs, 1)));
    assert_false(vx_is_enabled(s, NULL, "t", 1, vx_context_set_get(cs, 2)));
    assert_false(vx_is_enabled(s, NULL, "t", 1, vx_context_set_get(cs, 3)));
    vx_context_set_free(cs);
    vx_snapshot_unref(s);
}

typedef struct ecase {
    const char *json;
    vx_status code;
    const char *path;
} ecase;

static const ecase ERRORS[] = {
    {"[{\"userId\": 5}]", VX_ESCHEMA, "/0/userId"},
    {"{\"userId\": true}", VX_ESCHEMA, "/userId"},
    {"[{}, {\"properties\": []}]", VX_ESCHEMA, "/1/properties"},
    {"[{\"properties\": {\"a\": 1}}]", VX_ESCHEMA, "/0/properties/a"},
    {"[{\"tenant\": {}}]", VX_ESCHEMA, "/0/tenant"},
    {"[{\"currentTime\": \"yesterday\"}]", VX_ESCHEMA, "/0/currentTime"},
    {"[{\"currentTime\": \"2023-02-29\"}]", VX_ESCHEMA, "/0/currentTime"},
    {"[1]", VX_ESCHEMA, "/0"},
    {"\"x\"", VX_EPARSE, ""}, /* jansson: top level must be [ or { */
    {"[{", VX_EPARSE, ""},
    {"", VX_EPARSE, ""},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ERRORS) / sizeof(ERRORS[0]); i++) {
        vx_context_set *cs = (vx_context_set *)(uintptr_t)1;
        vx_error err;
        vx_status st = parse(ERRORS[i].json, &cs, &err);
        if (st != ERRORS[i].code)
            fail_msg("%s: got %s, want %s", ERRORS[i].json, vx_status_name(st),
                     vx_status_name(ERRORS[i].code));
        assert_null(cs);
        assert_int_equal(err.code, st);
        if (strcmp(err.path, ERRORS[i].path) != 0)
            fail_msg("%s: path \"%s\", want \"%s\"", ERRORS[i].json, err.path,
                     ERRORS[i].path);
        assert_true(err.line >= 1);
        assert_true(err.column >= 1);
    }
}

/* The wrong-typed value on line 3 is located there: column 14 is where
 * `7` starts in `  {"userId": 7}` (counted by hand). */
static void test_error_position(void **state)
{
    (void)state;
    vx_context_set *cs = NULL;
    vx_error err;
    assert_int_equal(parse("[\n  {},\n  {\"userId\": 7}\n]", &cs, &err),
                     VX_ESCHEMA);
    assert_string_equal(err.path, "/1/userId");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 14);
}

/* VX_LIMIT_PROPS custom fields per context. */
static void test_props_limit(void **state)
{
    (void)state;
    size_t n = VX_LIMIT_PROPS + 1;
    size_t cap = n * 24 + 16;
    char *doc = malloc(cap);
    assert_non_null(doc);
    size_t len = 0;
    doc[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(doc + len, cap - len, "%s\"k%zu\": \"v\"",
                                i ? ", " : "", i);
    doc[len++] = '}';
    doc[len] = '\0';
    vx_context_set *cs = NULL;
    vx_error err;
    assert_int_equal(parse(doc, &cs, &err), VX_ELIMIT);
    assert_null(cs);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_evaluates),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_position),
        cmocka_unit_test(test_props_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
