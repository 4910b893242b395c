/* Unit tests for custom strategy definitions (service/strategies.c) and the
 * Unleash rules the service keeps (validate.c, features.c), against a real
 * SQLite service on a temporary file: definitions with typed parameters,
 * parameters checked on flags, what SDKs are served and what the
 * server-side evaluators answer for a custom strategy; dependencies within
 * one project; date operators on another field than currentTime (a
 * warning); Unleash's name rules; archive, revive and delete for good,
 * one flag or in bulk. */
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

typedef struct fixture {
    temp_service t;      /* the service under test */
    svc_principal admin; /* an admin principal */
    vx_error err;        /* the last call's error */
} fixture;

/* One call; `body` is JSON text (may be NULL). Returns the status; the
 * answer goes to *out when out is not NULL. */
static vx_status call(fixture *f, svc_req r, const char *body, json_t **out)
{
    json_error_t jerr;
    json_t *b = body ? json_loads(body, 0, &jerr) : NULL;
    if (body && !b)
        fail_msg("bad test JSON: %s: %s", jerr.text, body);
    r.body = b;
    json_t *ans = NULL;
    memset(&f->err, 0, sizeof(f->err));
    vx_status st = svc_call(f->t.svc, &f->admin, &r, &ans, &f->err);
    if (out)
        *out = ans;
    else
        json_decref(ans);
    json_decref(b);
    return st;
}

static void ok(fixture *f, svc_req r, const char *body)
{
    if (call(f, r, body, NULL) != VX_OK)
        fail_msg("%s: %s at %s", svc_op_name(r.op), f->err.message,
                 f->err.path);
}

/* A call that must be refused with `want` at `path`. */
static void refused(fixture *f, svc_req r, const char *body, vx_status want,
                    const char *path)
{
    vx_status st = call(f, r, body, NULL);
    if (st != want)
        fail_msg("%s: got %s (%s), want %s", svc_op_name(r.op),
                 vx_status_name(st), f->err.message, vx_status_name(want));
    if (path && strcmp(f->err.path, path) != 0)
        fail_msg("%s: error at '%s' (%s), want '%s'", svc_op_name(r.op),
                 f->err.path, f->err.message, path);
}

#define REQ(...) ((svc_req){__VA_ARGS__})

static const char TENANT[] =
    "{\"name\":\"tenant\",\"description\":\"by tenant\",\"parameters\":["
    "{\"name\":\"tenants\",\"type\":\"list\",\"required\":true},"
    "{\"name\":\"percent\",\"type\":\"percentage\"},"
    "{\"name\":\"beta\",\"type\":\"boolean\"},"
    "{\"name\":\"max\",\"type\":\"number\"},"
    "{\"name\":\"label\",\"type\":\"string\"}]}";

static void add_flag(fixture *f, const char *project, const char *name)
{
    char body[160];
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    ok(f, REQ(.op = SVC_OP_FEATURE_CREATE, .project = project), body);
}

static svc_req strategy_add(const char *flag)
{
    return REQ(.op = SVC_OP_STRATEGY_ADD, .project = "default", .feature = flag,
               .environment = "production");
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    temp_service_open(&f->t, "strategies");
    f->admin = (svc_principal){.token_id = 1,
                               .kind = SVC_KIND_ADMIN,
                               .role = SVC_ROLE_ADMIN,
                               .name = "tester",
                               .environment = "*",
                               .projects = "*"};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    temp_service_close(&f->t);
    free(f);
    return 0;
}

/* ---- definitions --------------------------------------------------------- */

static void test_definitions(void **state)
{
    fixture *f = *state;
    json_t *out = NULL;
    assert_int_equal(
        call(f, REQ(.op = SVC_OP_STRATEGY_DEF_CREATE), TENANT, &out), VX_OK);
    assert_true(json_is_true(json_object_get(out, "editable")));
    json_t *p1 = json_array_get(json_object_get(out, "parameters"), 1);
    assert_string_equal(json_string_value(json_object_get(p1, "type")),
                        "percentage");
    assert_true(json_is_false(json_object_get(p1, "required")));
    json_decref(out);

    /* Listed after the built-ins (not editable), as Unleash lists them. */
    assert_int_equal(call(f, REQ(.op = SVC_OP_STRATEGY_DEF_LIST), NULL, &out),
                     VX_OK);
    json_t *list = json_object_get(out, "strategies");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(list, 0), "name")),
        "flexibleRollout");
    assert_true(
        json_is_false(json_object_get(json_array_get(list, 0), "editable")));
    json_t *last = json_array_get(list, json_array_size(list) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "name")),
                        "tenant");
    json_decref(out);

    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_CREATE), TENANT, VX_ECONFLICT,
            "/name");
    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_CREATE),
            "{\"name\":\"default\",\"parameters\":[]}", VX_ECONFLICT, "/name");
    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_CREATE),
            "{\"name\":\"x\",\"parameters\":[{\"name\":\"a\",\"type\":"
            "\"date\"}]}",
            VX_EINVAL, "/parameters/0/type");
    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_CREATE),
            "{\"name\":\"x\",\"parameters\":[{\"name\":\"a\",\"type\":"
            "\"string\"},{\"name\":\"a\",\"type\":\"list\"}]}",
            VX_ECONFLICT, "/parameters/1/name");
    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_CREATE), "{\"name\":\"x\"}",
            VX_EINVAL, "/parameters");
    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_UPDATE, .id = "flexibleRollout"),
            "{\"parameters\":[]}", VX_ECONFLICT, NULL);
    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_GET, .id = "nope"), NULL,
            VX_ENOTFOUND, NULL);

    ok(f, REQ(.op = SVC_OP_STRATEGY_DEF_DEPRECATE, .id = "tenant"), NULL);
    assert_int_equal(
        call(f, REQ(.op = SVC_OP_STRATEGY_DEF_GET, .id = "tenant"), NULL, &out),
        VX_OK);
    assert_true(json_is_true(json_object_get(out, "deprecated")));
    json_decref(out);
    ok(f, REQ(.op = SVC_OP_STRATEGY_DEF_REACTIVATE, .id = "tenant"), NULL);
    /* A built-in can be deprecated too (Unleash allows it). */
    ok(f, REQ(.op = SVC_OP_STRATEGY_DEF_DEPRECATE, .id = "userWithId"), NULL);
    assert_int_equal(
        call(f, REQ(.op = SVC_OP_STRATEGY_DEF_GET, .id = "userWithId"), NULL,
             &out),
        VX_OK);
    assert_true(json_is_true(json_object_get(out, "deprecated")));
    assert_true(json_is_false(json_object_get(out, "editable")));
    json_decref(out);

    ok(f, REQ(.op = SVC_OP_STRATEGY_DEF_UPDATE, .id = "tenant"),
       "{\"description\":\"tenants\",\"parameters\":[{\"name\":\"tenants\","
       "\"type\":\"list\",\"required\":true}]}");
    ok(f, REQ(.op = SVC_OP_STRATEGY_DEF_DELETE, .id = "tenant"), NULL);
    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_GET, .id = "tenant"), NULL,
            VX_ENOTFOUND, NULL);
}

/* ---- parameters on flags ------------------------------------------------- */

static void test_parameters_checked(void **state)
{
    fixture *f = *state;
    ok(f, REQ(.op = SVC_OP_STRATEGY_DEF_CREATE), TENANT);
    add_flag(f, "default", "f1");
    refused(f, strategy_add("f1"), "{\"name\":\"tenant\",\"parameters\":{}}",
            VX_EINVAL, "/parameters/tenants");
    refused(f, strategy_add("f1"),
            "{\"name\":\"tenant\",\"parameters\":{\"tenants\":\"  \"}}",
            VX_EINVAL, "/parameters/tenants");
    refused(f, strategy_add("f1"),
            "{\"name\":\"tenant\",\"parameters\":{\"tenants\":\"a\","
            "\"percent\":\"150\"}}",
            VX_EINVAL, "/parameters/percent");
    refused(f, strategy_add("f1"),
            "{\"name\":\"tenant\",\"parameters\":{\"tenants\":\"a\","
            "\"max\":\"lots\"}}",
            VX_EINVAL, "/parameters/max");
    refused(f, strategy_add("f1"),
            "{\"name\":\"tenant\",\"parameters\":{\"tenants\":\"a\","
            "\"beta\":\"yes\"}}",
            VX_EINVAL, "/parameters/beta");
    refused(f, strategy_add("f1"), "{\"name\":\"nope\"}", VX_EINVAL, "/name");

    json_t *out = NULL;
    assert_int_equal(call(f, strategy_add("f1"),
                          "{\"name\":\"tenant\",\"parameters\":{\"tenants\":"
                          "\"a,b\",\"percent\":50,\"beta\":\"true\",\"max\":"
                          "\"1e3\",\"extra\":\"kept\"}}",
                          &out),
                     VX_OK);
    json_t *params = json_object_get(out, "parameters");
    assert_string_equal(json_string_value(json_object_get(params, "percent")),
                        "50");
    assert_string_equal(json_string_value(json_object_get(params, "extra")),
                        "kept");
    /* No flexibleRollout defaults on a custom strategy. */
    assert_null(json_object_get(params, "groupId"));
    json_decref(out);

    /* Served to SDKs as Unleash serves it. */
    json_t *envs = json_pack("[s]", "production"), *docs = NULL;
    int64_t rev = 0;
    assert_int_equal(svc_client_states(f->t.svc, envs, &docs, &rev, &f->err),
                     VX_OK);
    json_t *cf = json_array_get(
        json_object_get(json_object_get(docs, "production"), "features"), 0);
    json_t *cs = json_array_get(json_object_get(cf, "strategies"), 0);
    assert_string_equal(json_string_value(json_object_get(cs, "name")),
                        "tenant");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(cs, "parameters"), "tenants")),
                        "a,b");
    assert_null(json_object_get(cs, "id"));
    json_decref(docs);
    json_decref(envs);

    /* Used (archived included): the definition stays. */
    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_DELETE, .id = "tenant"), NULL,
            VX_ECONFLICT, NULL);
    ok(f,
       REQ(.op = SVC_OP_FEATURE_ARCHIVE, .project = "default", .feature = "f1"),
       NULL);
    refused(f, REQ(.op = SVC_OP_STRATEGY_DEF_DELETE, .id = "tenant"), NULL,
            VX_ECONFLICT, NULL);
    ok(f, REQ(.op = SVC_OP_ARCHIVE_DELETE, .feature = "f1"), NULL);
    ok(f, REQ(.op = SVC_OP_STRATEGY_DEF_DELETE, .id = "tenant"), NULL);
}

/* The playground answers for a custom strategy as Unleash's does: the
 * flag is off for the server, the strategy "unknown" when its
 * constraints hold, false when they do not. */
static void test_playground_unknown(void **state)
{
    fixture *f = *state;
    ok(f, REQ(.op = SVC_OP_STRATEGY_DEF_CREATE), TENANT);
    add_flag(f, "default", "f1");
    ok(f, strategy_add("f1"),
       "{\"name\":\"tenant\",\"parameters\":{\"tenants\":\"a\"},"
       "\"constraints\":[{\"contextName\":\"userId\",\"operator\":\"IN\","
       "\"values\":[\"u1\"]}]}");
    ok(f,
       REQ(.op = SVC_OP_ENV_ON, .project = "default", .feature = "f1",
           .environment = "production"),
       NULL);
    const char *ctx[] = {"{\"environment\":\"production\",\"context\":"
                         "{\"userId\":\"u1\"}}",
                         "{\"environment\":\"production\",\"context\":"
                         "{\"userId\":\"u2\"}}"};
    for (int i = 0; i < 2; i++) {
        json_t *out = NULL;
        assert_int_equal(call(f, REQ(.op = SVC_OP_PLAYGROUND), ctx[i], &out),
                         VX_OK);
        json_t *ft = json_array_get(json_object_get(out, "features"), 0);
        assert_true(json_is_false(json_object_get(ft, "isEnabled")));
        json_t *ss = json_object_get(ft, "strategies");
        json_t *s0 = json_array_get(json_object_get(ss, "data"), 0);
        if (i == 0) {
            assert_string_equal(
                json_string_value(json_object_get(ss, "result")), "unknown");
            assert_string_equal(
                json_string_value(json_object_get(s0, "result")), "unknown");
        } else {
            assert_true(json_is_false(json_object_get(ss, "result")));
            assert_true(json_is_false(json_object_get(s0, "result")));
        }
        assert_string_equal(
            json_string_value(json_object_get(s0, "evaluationStatus")),
            "incomplete");
        json_decref(out);
    }
}

/* ---- Unleash's rules ------------------------------------------------------
 */

static void test_dependency_same_project(void **state)
{
    fixture *f = *state;
    ok(f, REQ(.op = SVC_OP_PROJECT_CREATE), "{\"id\":\"other\"}");
    add_flag(f, "default", "child");
    add_flag(f, "default", "parent");
    add_flag(f, "other", "elsewhere");
    svc_req dep = REQ(.op = SVC_OP_DEPENDENCY_ADD, .project = "default",
                      .feature = "child");
    refused(f, dep, "{\"feature\":\"elsewhere\"}", VX_EINVAL, "/feature");
    assert_non_null(strstr(f->err.message, "own project"));
    ok(f, dep, "{\"feature\":\"parent\"}");
}

static void test_date_operator_warning(void **state)
{
    fixture *f = *state;
    add_flag(f, "default", "f1");
    json_t *out = NULL;
    assert_int_equal(
        call(f, strategy_add("f1"),
             "{\"name\":\"default\",\"constraints\":[{\"contextName\":"
             "\"registeredAt\",\"operator\":\"DATE_BEFORE\",\"value\":"
             "\"2024-01-01T00:00:00Z\"}]}",
             &out),
        VX_OK);
    json_t *w = json_array_get(json_object_get(out, "warnings"), 0);
    assert_non_null(w);
    assert_string_equal(json_string_value(json_object_get(w, "path")),
                        "/constraints/0/contextName");
    assert_non_null(strstr(json_string_value(json_object_get(w, "message")),
                           "currentTime"));
    /* Accepted as Unleash accepts it, stored as sent. */
    json_t *c0 = json_array_get(json_object_get(out, "constraints"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "contextName")),
                        "registeredAt");
    json_decref(out);
    assert_int_equal(
        call(f, strategy_add("f1"),
             "{\"name\":\"default\",\"constraints\":[{\"contextName\":"
             "\"currentTime\",\"operator\":\"DATE_AFTER\",\"value\":"
             "\"2024-01-01T00:00:00Z\"}]}",
             &out),
        VX_OK);
    assert_null(json_object_get(out, "warnings"));
    json_decref(out);
}

static void test_names(void **state)
{
    fixture *f = *state;
    add_flag(f, "default", "new(checkout)!*'~");
    refused(f, REQ(.op = SVC_OP_FEATURE_CREATE, .project = "default"),
            "{\"name\":\"a b\"}", VX_EINVAL, "/name");
    refused(f, REQ(.op = SVC_OP_FEATURE_CREATE, .project = "default"),
            "{\"name\":\"..\"}", VX_EINVAL, "/name");
    refused(f, REQ(.op = SVC_OP_FEATURE_CREATE, .project = "default"),
            "{\"name\":\"a/b\"}", VX_EINVAL, "/name");
    char longname[160];
    memset(longname, 'x', 101);
    longname[101] = '\0';
    char body[200];
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", longname);
    refused(f, REQ(.op = SVC_OP_FEATURE_CREATE, .project = "default"), body,
            VX_EINVAL, "/name");
}

/* ---- archive --------------------------------------------------------------
 */

static json_t *feature(fixture *f, const char *name)
{
    json_t *all = NULL;
    assert_int_equal(call(f, REQ(.op = SVC_OP_ARCHIVE_LIST), NULL, &all),
                     VX_OK);
    json_t *found = NULL;
    size_t i;
    json_t *x;
    json_array_foreach (json_object_get(all, "features"), i, x) {
        if (strcmp(json_string_value(json_object_get(x, "name")), name) == 0)
            found = json_incref(x);
    }
    json_decref(all);
    if (!found) {
        json_t *one = NULL;
        if (call(f,
                 REQ(.op = SVC_OP_FEATURE_GET, .project = "default",
                     .feature = name),
                 NULL, &one) == VX_OK)
            found = one;
    }
    return found;
}

static bool env_enabled(const json_t *ft, const char *env)
{
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(ft, "environments"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), env) == 0)
            return json_is_true(json_object_get(e, "enabled"));
    }
    return false;
}

static void test_archive_revive_delete(void **state)
{
    fixture *f = *state;
    add_flag(f, "default", "parent");
    add_flag(f, "default", "child");
    ok(f,
       REQ(.op = SVC_OP_DEPENDENCY_ADD, .project = "default",
           .feature = "child"),
       "{\"feature\":\"parent\"}");
    ok(f,
       REQ(.op = SVC_OP_ENV_ON, .project = "default", .feature = "child",
           .environment = "production"),
       NULL);
    /* A parent of a live flag stays. */
    refused(f,
            REQ(.op = SVC_OP_FEATURE_ARCHIVE, .project = "default",
                .feature = "parent"),
            NULL, VX_ECONFLICT, NULL);
    ok(f,
       REQ(.op = SVC_OP_FEATURE_ARCHIVE, .project = "default",
           .feature = "child"),
       NULL);
    json_t *ft = feature(f, "child");
    assert_true(json_is_true(json_object_get(ft, "archived")));
    /* Archived: its own dependencies go (Unleash). */
    assert_int_equal(json_array_size(json_object_get(ft, "dependencies")), 0);
    json_decref(ft);
    /* Listed per project. */
    json_t *out = NULL;
    assert_int_equal(
        call(f, REQ(.op = SVC_OP_ARCHIVE_LIST_PROJECT, .project = "default"),
             NULL, &out),
        VX_OK);
    assert_int_equal(json_array_size(json_object_get(out, "features")), 1);
    json_decref(out);
    /* Revived: every environment off (Unleash), strategies kept. */
    ok(f, REQ(.op = SVC_OP_ARCHIVE_REVIVE, .feature = "child"), NULL);
    ft = feature(f, "child");
    assert_true(json_is_false(json_object_get(ft, "archived")));
    assert_false(env_enabled(ft, "production"));
    json_decref(ft);
    /* Delete for good needs the archive first. */
    refused(f, REQ(.op = SVC_OP_ARCHIVE_DELETE, .feature = "child"), NULL,
            VX_ECONFLICT, NULL);
    ok(f,
       REQ(.op = SVC_OP_FEATURE_ARCHIVE, .project = "default",
           .feature = "child"),
       NULL);
    ok(f, REQ(.op = SVC_OP_ARCHIVE_DELETE, .feature = "child"), NULL);
    assert_null(feature(f, "child"));
    /* The name is free again. */
    add_flag(f, "default", "child");
}

static void test_bulk(void **state)
{
    fixture *f = *state;
    ok(f, REQ(.op = SVC_OP_PROJECT_CREATE), "{\"id\":\"other\"}");
    add_flag(f, "default", "p");
    add_flag(f, "default", "c");
    add_flag(f, "other", "o");
    ok(f,
       REQ(.op = SVC_OP_DEPENDENCY_ADD, .project = "default", .feature = "c"),
       "{\"feature\":\"p\"}");
    svc_req arch = REQ(.op = SVC_OP_ARCHIVE_BULK, .project = "default");
    /* Another project's flag: refused, nothing archived. */
    refused(f, arch, "{\"features\":[\"p\",\"c\",\"o\"]}", VX_EINVAL,
            "/features/2");
    json_t *ft = feature(f, "c");
    assert_true(json_is_false(json_object_get(ft, "archived")));
    json_decref(ft);
    /* A parent alone: refused; with its child in the same call: fine, in
     * any order; unknown names are skipped as in Unleash. */
    refused(f, arch, "{\"features\":[\"p\"]}", VX_ECONFLICT, "/features/0");
    ok(f, arch, "{\"features\":[\"p\",\"gone\",\"c\"]}");
    ft = feature(f, "p");
    assert_true(json_is_true(json_object_get(ft, "archived")));
    json_decref(ft);
    ok(f, REQ(.op = SVC_OP_REVIVE_BULK, .project = "default"),
       "{\"features\":[\"p\"]}");
    ok(f, REQ(.op = SVC_OP_DELETE_BULK, .project = "default"),
       "{\"features\":[\"p\",\"c\"]}");
    assert_null(feature(f, "c"));
    ft = feature(f, "p"); /* live: delete skipped it */
    assert_non_null(ft);
    json_decref(ft);
}

/* Variants are kept in the order Unleash stores them: JavaScript's
 * localeCompare, not byte order (the expected order is Node.js 22's
 * ["..."].sort((a, b) => a.localeCompare(b))). The order decides which
 * variant a user gets. */
static void test_variant_order(void **state)
{
    fixture *f = *state;
    static const char *const names[] = {
        "Red", "green", "alpha", "Beta", "_x",  "a-b", "ab", "v10", "v2",
        "V1",  "v1",    "A-b",   "x.y",  "x~y", "x$y", "9z", "Zed"};
    static const char *const node[] = {
        "_x", "9z", "a-b", "A-b", "ab",  "alpha", "Beta", "green", "Red",
        "v1", "V1", "v10", "v2",  "x.y", "x~y",   "x$y",  "Zed"};
    add_flag(f, "default", "f1");
    json_t *body = json_array();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        json_array_append_new(body, json_pack("{ss ss}", "name", names[i],
                                              "weightType", "variable"));
    char *text = json_dumps(body, 0);
    json_decref(body);
    json_t *out = NULL;
    assert_int_equal(call(f,
                          REQ(.op = SVC_OP_VARIANTS_PUT, .project = "default",
                              .feature = "f1", .environment = "production"),
                          text, &out),
                     VX_OK);
    free(text);
    json_t *vs = json_object_get(out, "variants");
    for (size_t i = 0; i < sizeof(node) / sizeof(node[0]); i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(vs, i), "name")),
            node[i]);
    json_decref(out);
}

/* An export carries the custom definitions, and an import puts them in
 * before the flags that use them. */
static void test_export_import(void **state)
{
    fixture *f = *state;
    ok(f, REQ(.op = SVC_OP_STRATEGY_DEF_CREATE), TENANT);
    add_flag(f, "default", "f1");
    ok(f, strategy_add("f1"),
       "{\"name\":\"tenant\",\"parameters\":{\"tenants\":\"a\"}}");
    json_t *doc = NULL;
    assert_int_equal(call(f, REQ(.op = SVC_OP_EXPORT), NULL, &doc), VX_OK);
    assert_int_equal(json_array_size(json_object_get(doc, "strategies")), 1);
    temp_service other;
    temp_service_open(&other, "strategies-to");
    svc_req r = REQ(.op = SVC_OP_IMPORT, .body = doc);
    json_t *out = NULL;
    vx_status st = svc_call(other.svc, &f->admin, &r, &out, &f->err);
    json_decref(out);
    if (st != VX_OK)
        fail_msg("import: %s at %s", f->err.message, f->err.path);
    r = REQ(.op = SVC_OP_STRATEGY_DEF_GET, .id = "tenant");
    assert_int_equal(svc_call(other.svc, &f->admin, &r, &out, &f->err), VX_OK);
    assert_string_equal(json_string_value(json_object_get(out, "name")),
                        "tenant");
    json_decref(out);
    /* An export from before custom strategies has no "strategies". */
    json_object_del(doc, "strategies");
    json_object_set_new(doc, "features", json_array());
    temp_service third;
    temp_service_open(&third, "strategies-old");
    r = REQ(.op = SVC_OP_IMPORT, .body = doc);
    assert_int_equal(svc_call(third.svc, &f->admin, &r, &out, &f->err), VX_OK);
    json_decref(out);
    temp_service_close(&third);
    temp_service_close(&other);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_definitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parameters_checked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_playground_unknown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dependency_same_project, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_date_operator_warning, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_revive_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bulk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_variant_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
