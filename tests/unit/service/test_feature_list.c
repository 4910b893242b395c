/* Unit tests for src/service/feature_list.c against a real SQLite service
 * on a temporary file: the flag list sorted (ties broken by name, absent
 * keys first), filtered and paged, and the answer without paging
 * parameters left exactly as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "service/service.h"
#include "temp_service.h"

static const svc_principal ADMIN = {.token_id = 1,
                                    .kind = SVC_KIND_ADMIN,
                                    .role = SVC_ROLE_ADMIN,
                                    .name = "tester",
                                    .environment = "*",
                                    .projects = "*"};

static vx_status call(temp_service *t, svc_op op, const char *project,
                      const char *feature, const char *query, const char *body,
                      json_t **out, vx_error *err)
{
    json_t *q = query ? json_loads(query, 0, NULL) : NULL;
    json_t *b = body ? json_loads(body, 0, NULL) : NULL;
    svc_req req = {.op = op,
                   .project = project,
                   .feature = feature,
                   .query = q,
                   .body = b};
    memset(err, 0, sizeof(*err));
    vx_status st = svc_call(t->svc, &ADMIN, &req, out, err);
    json_decref(q);
    json_decref(b);
    return st;
}

static int setup(void **state)
{
    temp_service *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    temp_service_open(t, "flist");
    /* "b", "a", "c" created in that order; "a" is an experiment, "c" stale */
    const char *bodies[] = {"{\"name\":\"b\"}",
                            "{\"name\":\"a\",\"type\":\"experiment\"}",
                            "{\"name\":\"c\",\"description\":\"Zebra\"}"};
    for (int i = 0; i < 3; i++) {
        json_t *out = NULL;
        vx_error err;
        assert_int_equal(call(t, SVC_OP_FEATURE_CREATE, "default", NULL, NULL,
                              bodies[i], &out, &err),
                         VX_OK);
        json_decref(out);
    }
    json_t *out = NULL;
    vx_error err;
    assert_int_equal(call(t, SVC_OP_FEATURE_UPDATE, "default", "c", NULL,
                          "{\"stale\":true}", &out, &err),
                     VX_OK);
    json_decref(out);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    temp_service *t = *state;
    temp_service_close(t);
    free(t);
    return 0;
}

/* The names of a list answer, joined: "a,b,c". */
static void names(const json_t *ans, char *buf, size_t cap)
{
    size_t i, n = 0;
    json_t *f;
    buf[0] = '\0';
    json_array_foreach (json_object_get(ans, "features"), i, f) {
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "",
                              json_string_value(json_object_get(f, "name")));
    }
}

static void expect(temp_service *t, const char *query, const char *want,
                   long long total)
{
    json_t *out = NULL;
    vx_error err;
    char got[256];
    assert_int_equal(
        call(t, SVC_OP_FEATURE_LIST_ALL, NULL, NULL, query, NULL, &out, &err),
        VX_OK);
    names(out, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("%s: got [%s], want [%s]", query ? query : "(none)", got,
                 want);
    const json_t *tot = json_object_get(out, "total");
    if (total < 0)
        assert_null(tot);
    else
        assert_int_equal(json_integer_value(tot), total);
    json_decref(out);
}

static void test_unpaged_is_unchanged(void **state)
{
    expect(*state, NULL, "b,a,c", -1); /* insertion order, no total */
    expect(*state, "{}", "b,a,c", -1);
}

static void test_sort_and_page(void **state)
{
    expect(*state, "{\"sortBy\":\"name\"}", "a,b,c", 3);
    expect(*state, "{\"sortBy\":\"name\",\"sortOrder\":\"desc\"}", "c,b,a", 3);
    expect(*state, "{\"sortBy\":\"type\"}", "a,b,c", 3); /* experiment first */
    expect(*state, "{\"offset\":\"1\",\"limit\":\"1\"}", "b", 3);
    expect(*state, "{\"offset\":\"3\"}", "", 3);
    /* every flag has no lastSeenAt: ties are broken by name */
    expect(*state, "{\"sortBy\":\"lastSeenAt\"}", "a,b,c", 3);
}

static void test_filters(void **state)
{
    expect(*state, "{\"query\":\"zeb\"}", "c", 1);
    expect(*state, "{\"type\":\"release\"}", "b,c", 2);
    expect(*state, "{\"stale\":\"true\"}", "c", 1);
    expect(*state, "{\"stale\":\"false\",\"sortOrder\":\"desc\"}", "b,a", 2);
    expect(*state, "{\"project\":\"nope\"}", "", 0);
    expect(*state, "{\"namePrefix\":\"b\"}", "b", 1); /* Unleash's old one */
}

static void test_refusals(void **state)
{
    const char *bad[][2] = {{"{\"sortBy\":\"x\"}", "/query/sortBy"},
                            {"{\"limit\":\"0\"}", "/query/limit"},
                            {"{\"limit\":\"1001\"}", "/query/limit"},
                            {"{\"offset\":\"1e3\"}", "/query/offset"},
                            {"{\"stale\":\"yes\"}", "/query/stale"},
                            {"{\"sortOrder\":\"up\"}", "/query/sortOrder"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *out = NULL;
        vx_error err;
        assert_int_equal(call(*state, SVC_OP_FEATURE_LIST_ALL, NULL, NULL,
                              bad[i][0], NULL, &out, &err),
                         VX_EINVAL);
        assert_string_equal(err.path, bad[i][1]);
        assert_null(out);
    }
}

/* The kept summaries follow every change: a new flag, a changed one, an
 * archived one, each seen by the next list (and by the projects' counts). */
static void test_follows_changes(void **state)
{
    temp_service *t = *state;
    json_t *out = NULL;
    vx_error err;
    expect(t, "{\"sortBy\":\"name\"}", "a,b,c", 3); /* summaries kept */
    assert_int_equal(call(t, SVC_OP_FEATURE_CREATE, "default", NULL, NULL,
                          "{\"name\":\"d\",\"description\":\"zebra "
                          "crossing\"}",
                          &out, &err),
                     VX_OK);
    json_decref(out);
    expect(t, "{\"sortBy\":\"name\"}", "a,b,c,d", 4);
    expect(t, "{\"query\":\"zebra\"}", "c,d", 2);
    assert_int_equal(call(t, SVC_OP_FEATURE_UPDATE, "default", "c", NULL,
                          "{\"description\":\"horse\",\"stale\":false}", &out,
                          &err),
                     VX_OK);
    json_decref(out);
    expect(t, "{\"query\":\"zebra\"}", "d", 1);
    expect(t, "{\"stale\":\"true\"}", "", 0);
    assert_int_equal(
        call(t, SVC_OP_FEATURE_ARCHIVE, "default", "b", NULL, NULL, &out, &err),
        VX_OK);
    json_decref(out);
    expect(t, "{\"sortBy\":\"name\"}", "a,c,d", 3);
    assert_int_equal(
        call(t, SVC_OP_PROJECT_LIST, NULL, NULL, NULL, NULL, &out, &err),
        VX_OK);
    const json_t *p = json_array_get(json_object_get(out, "projects"), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "featureCount")), 3);
    json_decref(out);
    json_t *arch = NULL;
    json_t *q = json_loads("{\"limit\":\"10\"}", 0, NULL);
    svc_req req = {.op = SVC_OP_ARCHIVE_LIST, .query = q};
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_call(t->svc, &ADMIN, &req, &arch, &err), VX_OK);
    char got[64];
    names(arch, got, sizeof(got));
    assert_string_equal(got, "b");
    json_decref(arch);
    json_decref(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpaged_is_unchanged),
        cmocka_unit_test(test_sort_and_page),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_refusals),
    };
    const struct CMUnitTest changing[] = {
        cmocka_unit_test_setup_teardown(test_follows_changes, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return failed + cmocka_run_group_tests(changing, NULL, NULL);
}
