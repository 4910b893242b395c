/* Unit tests for the Unleash import (service/unleash.c) against a real
 * SQLite service on a temporary file: the documents of an Unleash admin
 * API (shaped as Unleash 8.2 answers them) become projects, environments,
 * feature types, custom strategies, segments, flags and token scopes; what
 * SDKs see is carried exactly (strategy order and parameters, variant
 * order and weights); a dry run writes nothing; every refusal is listed
 * with its place in the document and an import with one writes nothing;
 * an Unleash export file imports on its own. */
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

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    temp_service_open(&f->t, "unleash");
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

static vx_status call(fixture *f, svc_req r, json_t *body, json_t **out)
{
    r.body = body;
    json_t *ans = NULL;
    memset(&f->err, 0, sizeof(f->err));
    vx_status st = svc_call(f->t.svc, &f->admin, &r, &ans, &f->err);
    if (out)
        *out = ans;
    else
        json_decref(ans);
    return st;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON at %d: %s", e.position, e.text);
    return j;
}

/* An Unleash installation as its admin API answers: two projects, a new
 * environment, the sunset type, a custom strategy, a segment, flags with
 * strategies (custom, segments, strategy variants in Unleash's
 * localeCompare order, a flexibleRollout stored without groupId),
 * environment variants with overrides, a dependency, tags, an archived
 * flag and two tokens (one with its secret, which must not be kept). */
static const char BUNDLE[] =
    "{\"source\":\"http://unleash.test\",\"version\":\"8.2.0\","
    "\"projects\":[{\"id\":\"default\",\"name\":\"Default\"},"
    "  {\"id\":\"team\",\"name\":\"Team\",\"description\":\"the team\"}],"
    "\"environments\":[{\"name\":\"development\",\"type\":\"development\"},"
    "  {\"name\":\"production\",\"type\":\"production\"},"
    "  {\"name\":\"staging\",\"type\":\"test\",\"sortOrder\":5}],"
    "\"featureTypes\":[{\"id\":\"release\",\"name\":\"Release\","
    "  \"lifetimeDays\":40},{\"id\":\"sunset\",\"name\":\"Sunset\","
    "  \"description\":\"removal\",\"lifetimeDays\":90}],"
    "\"strategies\":[{\"name\":\"flexibleRollout\",\"editable\":false,"
    "  \"parameters\":[]},{\"name\":\"tenant\",\"editable\":true,"
    "  \"description\":\"d\",\"parameters\":[{\"name\":\"tenants\","
    "  \"type\":\"list\",\"required\":true}]}],"
    "\"segments\":[{\"id\":7,\"name\":\"beta\",\"project\":null,"
    "  \"constraints\":[{\"values\":[\"1\",\"2\"],\"operator\":\"IN\","
    "  \"contextName\":\"userId\"}]}],"
    "\"contextFields\":[{\"name\":\"region\",\"legalValues\":[{\"value\":"
    "  \"eu\"}]}],"
    "\"tagTypes\":[{\"name\":\"simple\"},{\"name\":\"team\"}],"
    "\"apiTokens\":[{\"tokenName\":\"backend app\",\"type\":\"client\","
    "  \"environment\":\"production\",\"projects\":[\"team\"],"
    "  \"expiresAt\":null},{\"tokenName\":\"old\",\"type\":\"client\","
    "  \"environment\":\"production\",\"projects\":[\"*\"],"
    "  \"expiresAt\":\"2001-01-01T00:00:00.000Z\"}],"
    "\"exports\":[{\"environment\":\"production\",\"project\":\"team\","
    "  \"data\":{"
    "  \"features\":[{\"name\":\"checkout\",\"type\":\"sunset\","
    "    \"description\":null,\"project\":\"team\",\"stale\":false,"
    "    \"impressionData\":true,\"archived\":false},"
    "    {\"name\":\"child\",\"type\":\"release\",\"project\":\"team\"},"
    "    {\"name\":\"old\",\"type\":\"release\",\"project\":\"team\","
    "    \"archived\":true}],"
    "  \"featureStrategies\":["
    "    {\"name\":\"tenant\",\"id\":\"01M988N1NCJ51MY6AP45BM8RNR\","
    "     \"featureName\":\"checkout\",\"parameters\":{\"tenants\":\"a,b\"},"
    "     \"constraints\":[],\"variants\":[],\"segments\":[]},"
    "    {\"name\":\"flexibleRollout\",\"id\":\"01M988N29AZTMQQTSBH0D7QEE4\","
    "     \"featureName\":\"checkout\",\"parameters\":{\"rollout\":\"30\","
    "     \"stickiness\":\"default\"},\"constraints\":[{\"value\":"
    "     \"2024-01-01T00:00:00.000Z\",\"values\":[],\"operator\":"
    "     \"DATE_BEFORE\",\"contextName\":\"registeredAt\"}],"
    "     \"variants\":[{\"name\":\"alpha\",\"weight\":333,\"weightType\":"
    "     \"variable\",\"stickiness\":\"default\"},{\"name\":\"Beta\","
    "     \"weight\":667,\"weightType\":\"variable\",\"stickiness\":"
    "     \"default\",\"payload\":{\"type\":\"json\",\"value\":\"{}\"}}],"
    "     \"segments\":[7]},"
    "    {\"name\":\"default\",\"id\":\"x\",\"featureName\":\"child\","
    "     \"parameters\":{},\"constraints\":[]}],"
    "  \"featureEnvironments\":[{\"enabled\":true,\"featureName\":"
    "    \"checkout\",\"environment\":\"production\",\"variants\":["
    "    {\"name\":\"v1\",\"weight\":1000,\"weightType\":\"variable\","
    "    \"stickiness\":\"default\",\"overrides\":[{\"contextName\":"
    "    \"userId\",\"values\":[\"7\"]}]}]},"
    "    {\"enabled\":true,\"featureName\":\"child\",\"environment\":"
    "    \"production\",\"variants\":[]}],"
    "  \"featureTags\":[{\"featureName\":\"checkout\",\"tagType\":\"team\","
    "    \"tagValue\":\"payments\"}],"
    "  \"segments\":[{\"id\":7,\"name\":\"beta\"}],"
    "  \"dependencies\":[{\"feature\":\"child\",\"dependencies\":[{"
    "    \"feature\":\"checkout\",\"enabled\":true,\"variants\":[]}]}],"
    "  \"tagTypes\":[],\"contextFields\":[],\"links\":[]}}]}";

static json_t *get_flag(fixture *f, const char *project, const char *name)
{
    json_t *out = NULL;
    svc_req r = {.op = SVC_OP_FEATURE_GET, .project = project, .feature = name};
    return call(f, r, NULL, &out) == VX_OK ? out : NULL;
}

static json_t *strategies(json_t *flag, const char *env)
{
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(flag, "environments"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), env) == 0)
            return e;
    }
    return NULL;
}

static int64_t events(fixture *f)
{
    int64_t rev = 0;
    assert_int_equal(svc_revision(f->t.svc, &rev, &f->err), VX_OK);
    return rev;
}

static void test_import(void **state)
{
    fixture *f = *state;
    json_t *doc = parse(BUNDLE), *out = NULL;
    svc_req r = {.op = SVC_OP_IMPORT_UNLEASH};

    /* A dry run: the whole plan, nothing written. */
    int64_t before = events(f);
    json_object_set_new(doc, "dryRun", json_true());
    assert_int_equal(call(f, r, doc, &out), VX_OK);
    assert_true(json_is_true(json_object_get(out, "ok")));
    assert_int_equal(json_array_size(json_object_get(out, "problems")), 0);
    json_t *created = json_object_get(out, "created");
    assert_int_equal(json_array_size(json_object_get(created, "flags")), 3);
    assert_int_equal(json_array_size(json_object_get(created, "tokens")), 1);
    assert_null(json_object_get(out, "tokens")); /* no secrets in a dry run */
    json_t *w = json_array_get(json_object_get(out, "warnings"), 0);
    assert_non_null(w); /* DATE_BEFORE on registeredAt */
    json_decref(out);
    assert_int_equal(events(f), before);
    assert_null(get_flag(f, "team", "checkout"));

    /* The import. */
    json_object_set_new(doc, "dryRun", json_false());
    assert_int_equal(call(f, r, doc, &out), VX_OK);
    json_t *tok = json_array_get(json_object_get(out, "tokens"), 0);
    assert_string_equal(json_string_value(json_object_get(tok, "tokenName")),
                        "backend-app");
    assert_non_null(json_object_get(tok, "secret"));
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(tok, "projects"), 0)),
        "team");
    assert_int_equal(json_array_size(json_object_get(out, "tokens")), 1);
    bool noted_region = false, noted_secret = false;
    size_t i;
    json_t *n;
    json_array_foreach (json_object_get(out, "notCarriedOver"), i, n) {
        const char *name = json_string_value(json_object_get(n, "name"));
        noted_region = noted_region || (name && strcmp(name, "region") == 0);
        noted_secret = noted_secret ||
                       strstr(json_string_value(json_object_get(n, "message")),
                              "secret") != NULL;
    }
    assert_true(noted_region);
    assert_true(noted_secret);
    json_decref(out);

    json_t *ck = get_flag(f, "team", "checkout");
    assert_non_null(ck);
    assert_string_equal(json_string_value(json_object_get(ck, "type")),
                        "sunset");
    assert_true(json_is_true(json_object_get(ck, "impressionData")));
    json_t *prod = strategies(ck, "production");
    assert_true(json_is_true(json_object_get(prod, "enabled")));
    json_t *ss = json_object_get(prod, "strategies");
    assert_int_equal(json_array_size(ss), 2);
    json_t *s0 = json_array_get(ss, 0), *s1 = json_array_get(ss, 1);
    assert_string_equal(json_string_value(json_object_get(s0, "name")),
                        "tenant");
    assert_string_equal(json_string_value(json_object_get(s0, "id")),
                        "01M988N1NCJ51MY6AP45BM8RNR");
    /* Parameters as stored: no groupId added to the flexibleRollout. */
    assert_null(json_object_get(json_object_get(s1, "parameters"), "groupId"));
    /* Variants in Unleash's order with its weights (byte order would put
     * "Beta" first). */
    json_t *vs = json_object_get(s1, "variants");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(vs, 0), "name")),
        "alpha");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(vs, 0), "weight")),
        333);
    /* The segment kept its id (free in Vexil). */
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(s1, "segments"), 0)),
        7);
    /* Environment variants with their overrides; the tag. */
    json_t *v1 = json_array_get(json_object_get(prod, "variants"), 0);
    assert_non_null(json_object_get(v1, "overrides"));
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(ck, "tags"), 0), "value")),
        "payments");
    json_decref(ck);

    json_t *child = get_flag(f, "team", "child");
    json_t *d0 = json_array_get(json_object_get(child, "dependencies"), 0);
    assert_string_equal(json_string_value(json_object_get(d0, "feature")),
                        "checkout");
    json_decref(child);

    /* The archived flag is in the archive. */
    assert_int_equal(call(f, (svc_req){.op = SVC_OP_ARCHIVE_LIST}, NULL, &out),
                     VX_OK);
    assert_int_equal(json_array_size(json_object_get(out, "features")), 1);
    json_decref(out);

    /* The custom strategy and the new environment exist. */
    assert_int_equal(
        call(f, (svc_req){.op = SVC_OP_STRATEGY_DEF_GET, .id = "tenant"}, NULL,
             NULL),
        VX_OK);
    assert_int_equal(
        call(f, (svc_req){.op = SVC_OP_ENVIRONMENT_LIST}, NULL, &out), VX_OK);
    assert_int_equal(json_array_size(json_object_get(out, "environments")), 3);
    json_decref(out);

    /* Again: the flags are updated in place, nothing doubles. */
    assert_int_equal(call(f, r, doc, &out), VX_OK);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(out, "updated"), "flags")),
                     3);
    assert_null(json_object_get(json_object_get(out, "created"), "flags"));
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(out, "reused"), "segments")),
                     1);
    /* The token came over the first time: no second secret. */
    assert_int_equal(json_array_size(json_object_get(out, "tokens")), 0);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(out, "reused"), "tokens")),
                     1);
    json_decref(out);
    json_decref(doc);
}

/* Every refusal is listed at its place; the import then writes nothing. */
static void test_problems(void **state)
{
    fixture *f = *state;
    json_t *doc = parse(BUNDLE), *out = NULL;
    json_t *data = json_object_get(
        json_array_get(json_object_get(doc, "exports"), 0), "data");
    /* The tenant strategy without its required parameter; a segment the
     * import does not carry; the child's parent in another project. */
    json_t *fs = json_object_get(data, "featureStrategies");
    json_object_set_new(json_array_get(fs, 0), "parameters", json_object());
    json_object_set_new(json_array_get(fs, 1), "segments",
                        json_pack("[i]", 99));
    json_t *feats = json_object_get(data, "features");
    char *longdesc = calloc(1, 10002);
    memset(longdesc, 'd', 10001);
    json_object_set_new(json_array_get(feats, 0), "description",
                        json_string(longdesc));
    free(longdesc);
    json_array_append_new(feats,
                          json_pack("{ss ss ss}", "name", "elsewhere", "type",
                                    "release", "project", "default"));
    json_t *deps = json_object_get(data, "dependencies");
    json_array_append_new(deps, parse("{\"feature\":\"elsewhere\","
                                      "\"dependencies\":[{\"feature\":"
                                      "\"child\"}]}"));
    svc_req r = {.op = SVC_OP_IMPORT_UNLEASH};
    json_object_set_new(doc, "dryRun", json_true());
    assert_int_equal(call(f, r, doc, &out), VX_OK);
    assert_true(json_is_false(json_object_get(out, "ok")));
    json_t *ps = json_object_get(out, "problems");
    const char *want[] = {
        "/exports/0/data/featureStrategies/0/parameters/tenants",
        "/exports/0/data/featureStrategies/1/segments/0",
        "/exports/0/data/dependencies/1/dependencies/0",
        "/exports/0/data/features/0/description"};
    for (size_t k = 0; k < 4; k++) {
        bool found = false;
        size_t i;
        json_t *p;
        json_array_foreach (ps, i, p) {
            found =
                found || strcmp(json_string_value(json_object_get(p, "path")),
                                want[k]) == 0;
        }
        if (!found)
            fail_msg("no problem at %s in %s", want[k],
                     json_dumps(ps, JSON_COMPACT));
    }
    json_decref(out);

    int64_t before = events(f);
    json_object_set_new(doc, "dryRun", json_false());
    assert_int_equal(call(f, r, doc, NULL), VX_EINVAL);
    assert_non_null(strstr(f->err.message, "nothing was imported"));
    assert_int_equal(events(f), before);
    assert_null(get_flag(f, "team", "checkout"));
    json_decref(doc);
}

/* An Unleash export file alone: no definitions (inferred from the uses),
 * segments by name from Vexil. */
static void test_export_file(void **state)
{
    fixture *f = *state;
    json_t *out = NULL;
    json_t *seg_body = parse("{\"name\":\"beta\",\"constraints\":[]}");
    assert_int_equal(
        call(f, (svc_req){.op = SVC_OP_SEGMENT_CREATE}, seg_body, &out), VX_OK);
    json_decref(seg_body);
    json_int_t seg = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    json_t *full = parse(BUNDLE);
    json_t *x = json_array_get(json_object_get(full, "exports"), 0);
    json_t *doc = json_pack("{s[{sO}] ss}", "exports", "data",
                            json_object_get(x, "data"), "project", "default");
    if (call(f, (svc_req){.op = SVC_OP_IMPORT_UNLEASH}, doc, &out) != VX_OK)
        fail_msg("%s at %s", f->err.message, f->err.path);
    json_decref(out);
    json_t *ck = get_flag(f, "default", "checkout");
    assert_non_null(ck);
    json_t *s1 = json_array_get(
        json_object_get(strategies(ck, "production"), "strategies"), 1);
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(s1, "segments"), 0)),
        seg);
    json_decref(ck);
    assert_int_equal(
        call(f, (svc_req){.op = SVC_OP_STRATEGY_DEF_GET, .id = "tenant"}, NULL,
             &out),
        VX_OK);
    json_t *p0 = json_array_get(json_object_get(out, "parameters"), 0);
    assert_string_equal(json_string_value(json_object_get(p0, "name")),
                        "tenants");
    json_decref(out);
    json_decref(doc);
    json_decref(full);
}

/* A feature type without a description (Unleash may answer none) is
 * created with "" as its description, and nothing leaks (LeakSanitizer:
 * found by fuzz_admin). */
static void test_type_without_description(void **state)
{
    fixture *f = *state;
    json_t *out = NULL;
    json_t *doc = parse("{\"featureTypes\":[{\"id\":\"spike\","
                        "\"name\":\"Spike\",\"lifetimeDays\":7}]}");
    if (call(f, (svc_req){.op = SVC_OP_IMPORT_UNLEASH}, doc, &out) != VX_OK)
        fail_msg("%s at %s", f->err.message, f->err.path);
    json_decref(out);
    json_decref(doc);
    assert_int_equal(
        call(f, (svc_req){.op = SVC_OP_FEATURE_TYPE_LIST}, NULL, &out), VX_OK);
    size_t i;
    json_t *t, *spike = NULL;
    json_array_foreach (json_object_get(out, "types"), i, t) {
        if (strcmp(json_string_value(json_object_get(t, "id")), "spike") == 0)
            spike = t;
    }
    assert_non_null(spike);
    assert_string_equal(
        json_string_value(json_object_get(spike, "description")), "");
    assert_int_equal(json_integer_value(json_object_get(spike, "lifetimeDays")),
                     7);
    json_decref(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_problems, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_without_description, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
