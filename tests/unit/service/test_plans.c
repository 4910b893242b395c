/* Unit tests for src/service/impact.c and plans.c against a real SQLite
 * service on a temporary file: what the scheduler's clock-driven parts do
 * that the end-to-end test (tests/integration/plans.test.js) cannot wait
 * for. The lease (one holder, expiry, release), downsampling of minute
 * buckets into hours after 7 days and dropping them after 90 (per-unit
 * groups included), SDK usage counted as exposures of a plan's arms,
 * batch-id idempotency, per-unit groups, unknown flags refused, and the
 * validation paths of an impact batch. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "service/service.h"
#include "temp_service.h"
#include "store/store.h"

typedef struct fixture {
    temp_service t; /* the service under test (t.svc) */
    svc_principal admin, client;
} fixture;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *call(fixture *f, svc_op op, const char *feature, const char *id,
                    json_t *body, vx_status want)
{
    svc_req r = {.op = op,
                 .project = "default",
                 .feature = feature,
                 .environment = "production",
                 .id = id,
                 .body = body};
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_call(f->t.svc, &f->admin, &r, &out, &err);
    if (st != want)
        fail_msg("%s: %s at %s", svc_op_name(op), err.message, err.path);
    json_decref(body);
    return out;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    temp_service_open(&f->t, "plans");
    f->admin = (svc_principal){.kind = SVC_KIND_ADMIN,
                               .role = SVC_ROLE_ADMIN,
                               .name = "tester",
                               .environment = "*",
                               .projects = "*"};
    f->client = (svc_principal){.token_id = 7,
                                .kind = SVC_KIND_CLIENT,
                                .name = "app",
                                .environment = "production",
                                .projects = "*"};
    json_decref(call(f, SVC_OP_FEATURE_CREATE, NULL, NULL,
                     json_pack("{ss}", "name", "f1"), VX_OK));
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

static vx_status impact(fixture *f, const char *json, vx_error *err)
{
    json_t *b = json_loads(json, 0, NULL);
    assert_non_null(b);
    memset(err, 0, sizeof(*err));
    vx_status st = svc_impact_record(f->t.svc, &f->client, b, err);
    json_decref(b);
    return st;
}

/* Every impact bucket in the database, through a second store handle. */
static json_t *buckets(fixture *f)
{
    const char *rest = NULL;
    const store_ops *ops = store_backend_for(f->t.dsn, &rest);
    store *st = NULL;
    json_t *out = NULL;
    vx_error err;
    assert_int_equal(ops->open(rest, NULL, &st, &err), VX_OK);
    assert_int_equal(ops->doc_list(st, STORE_IMPACT, NULL, &out, &err), VX_OK);
    ops->close(st);
    return out;
}

static bool tick(fixture *f, const char *owner, int64_t at)
{
    bool leader = false;
    json_t *hooks = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        svc_scheduler_tick(f->t.svc, owner, at, 3000, &leader, &hooks, &err),
        VX_OK);
    json_decref(hooks);
    return leader;
}

static void test_validation_paths(void **state)
{
    fixture *f = *state;
    vx_error err;
    static const struct {
        const char *body, *path;
    } cases[] = {
        {"[]", ""},
        {"{\"metrics\":{}}", "/metrics"},
        {"{\"batchId\":7,\"metrics\":[]}", "/batchId"},
        {"{\"metrics\":[{\"enabled\":true}]}", "/metrics/0/flag"},
        {"{\"metrics\":[],\"extra\":1}", "/extra"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,\"erors\":1}]}",
         "/metrics/0/erors"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,\"unit\":7}]}",
         "/metrics/0/unit"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"requests\":1}]}",
         "/metrics/0/enabled"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"variant\":\"a|b\"}]}",
         "/metrics/0/variant"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,\"requests\":-1}]}",
         "/metrics/0/requests"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,\"requests\":1,"
         "\"conversions\":2}]}",
         "/metrics/0/conversions"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,"
         "\"latencyMs\":[1,\"x\"]}]}",
         "/metrics/0/latencyMs/1"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,"
         "\"latency\":{\"count\":1,\"sum\":1}}]}",
         "/metrics/0/latency/sumsq"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,"
         "\"logLatency\":{\"count\":-1,\"sum\":1,\"sumsq\":1}}]}",
         "/metrics/0/logLatency/count"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,"
         "\"at\":\"2000-01-01T00:00:00Z\"}]}",
         "/metrics/0/at"},
        {"{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,"
         "\"values\":{\"x\":{\"count\":1,\"sum\":1,\"sumsq\":-1}}}]}",
         "/metrics/0/values/x/sumsq"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_not_equal(impact(f, cases[i].body, &err), VX_OK);
        if (strcmp(err.path, cases[i].path) != 0)
            fail_msg("case %zu: path '%s', want '%s' (%s)", i, err.path,
                     cases[i].path, err.message);
    }
    /* Nothing was written by any of them. */
    json_t *b = buckets(f);
    assert_int_equal(json_array_size(b), 0);
    json_decref(b);
    /* A frontend token may not report. */
    svc_principal fe = f->client;
    fe.kind = SVC_KIND_FRONTEND;
    json_t *ok = json_loads("{\"metrics\":[]}", 0, NULL);
    assert_int_equal(svc_impact_record(f->t.svc, &fe, ok, &err), VX_EFORBIDDEN);
    json_decref(ok);
}

static void test_batch_idempotent_and_sketch(void **state)
{
    fixture *f = *state;
    vx_error err;
    /* An unknown flag is refused with its path, and the batch with it:
     * data under a misspelled name would never be read. */
    const char *bad = "{\"batchId\":\"b-1\",\"metrics\":["
                      "{\"flag\":\"f1\",\"enabled\":true,\"requests\":10,"
                      "\"errors\":1,\"latencyMs\":[10,20,30]},"
                      "{\"flag\":\"nope\",\"enabled\":true,\"requests\":5}]}";
    assert_int_equal(impact(f, bad, &err), VX_ENOTFOUND);
    assert_string_equal(err.path, "/metrics/1/flag");
    json_t *all = buckets(f);
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);
    const char *b = "{\"batchId\":\"b-1\",\"metrics\":["
                    "{\"flag\":\"f1\",\"enabled\":true,\"requests\":10,"
                    "\"errors\":1,\"latencyMs\":[10,20,30],"
                    "\"unit\":\"user-7\"}]}";
    assert_int_equal(impact(f, b, &err), VX_OK);
    assert_int_equal(impact(f, b, &err), VX_OK); /* a repeat: ignored */
    all = buckets(f);
    assert_int_equal(json_array_size(all), 1);
    json_t *d = json_array_get(all, 0);
    /* The unit's group holds the entry: requests, errors, conversions,
     * latency samples, their sum and the sum of their logs. */
    const json_t *gs = json_object_get(d, "groups");
    assert_int_equal(json_object_size(gs), 1);
    const char *gk = json_object_iter_key(json_object_iter((json_t *)gs));
    assert_true(strtol(gk, NULL, 10) >= 0 && strtol(gk, NULL, 10) < 64);
    const json_t *g = json_object_get(gs, gk);
    assert_float_equal(json_number_value(json_array_get(g, 0)), 10, 0);
    assert_float_equal(json_number_value(json_array_get(g, 1)), 1, 0);
    assert_float_equal(json_number_value(json_array_get(g, 3)), 3, 0);
    assert_float_equal(json_number_value(json_array_get(g, 4)), 60, 1e-9);
    assert_float_equal(json_number_value(json_array_get(g, 5)),
                       log(10.0) + log(20.0) + log(30.0), 1e-9);
    assert_int_equal(json_integer_value(json_object_get(d, "requests")), 10);
    assert_int_equal(json_integer_value(json_object_get(d, "errors")), 1);
    assert_string_equal(json_string_value(json_object_get(d, "variant")),
                        "enabled");
    assert_true(json_is_string(json_object_get(d, "sketch")));
    assert_int_equal(json_integer_value(json_object_get(d, "width")), 60);
    json_decref(all);
    /* A token for another project: not found for it, as if unknown. */
    svc_principal other = f->client;
    snprintf(other.projects, sizeof(other.projects), "%s", "shop,blog");
    json_t *x = json_loads("{\"metrics\":[{\"flag\":\"f1\",\"enabled\":"
                           "true,\"requests\":5}]}",
                           0, NULL);
    assert_int_equal(svc_impact_record(f->t.svc, &other, x, &err),
                     VX_ENOTFOUND);
    assert_string_equal(err.path, "/metrics/0/flag");
    snprintf(other.projects, sizeof(other.projects), "%s", "shop,default");
    assert_int_equal(svc_impact_record(f->t.svc, &other, x, &err), VX_OK);
    json_decref(x);
    all = buckets(f);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(all, 0), "requests")),
        15); /* 10 + 5 from the "default" token only */
    json_decref(all);
    /* Aggregates (the gateway's form): the log-latency moments add to those
     * of the raw latencies, for the geometric-mean guard. */
    x = json_loads("{\"metrics\":[{\"flag\":\"f1\",\"enabled\":true,"
                   "\"requests\":2,\"latency\":{\"count\":2,\"sum\":30,"
                   "\"sumsq\":500},\"logLatency\":{\"count\":2,\"sum\":5.3,"
                   "\"sumsq\":14.1}}]}",
                   0, NULL);
    assert_int_equal(svc_impact_record(f->t.svc, &f->client, x, &err), VX_OK);
    json_decref(x);
    all = buckets(f);
    const json_t *ll = json_object_get(json_array_get(all, 0), "logLatency");
    assert_float_equal(json_number_value(json_array_get(ll, 0)), 5.0, 1e-9);
    assert_float_equal(json_number_value(json_array_get(ll, 1)),
                       log(10.0) + log(20.0) + log(30.0) + 5.3, 1e-6);
    const json_t *la = json_object_get(json_array_get(all, 0), "latency");
    assert_float_equal(json_number_value(json_array_get(la, 0)), 5.0, 1e-9);
    json_decref(all);
}

static void test_lease(void **state)
{
    fixture *f = *state;
    int64_t t = now_ms();
    assert_true(tick(f, "a", t));
    assert_false(tick(f, "b", t + 1000)); /* a holds it for 3 s */
    assert_true(tick(f, "a", t + 2000));  /* renewed until t + 5 s */
    assert_false(tick(f, "b", t + 4000));
    assert_true(tick(f, "b", t + 5001)); /* a missed its renewals */
    assert_false(tick(f, "a", t + 5002));
    vx_error err;
    assert_int_equal(svc_scheduler_release(f->t.svc, "a", &err), VX_OK);
    assert_false(tick(f, "a", t + 5003)); /* releasing what b holds: no-op */
    assert_int_equal(svc_scheduler_release(f->t.svc, "b", &err), VX_OK);
    assert_true(tick(f, "a", t + 5004)); /* b let go: a takes it at once */
}

static void test_downsampling(void **state)
{
    fixture *f = *state;
    vx_error err;
    int64_t t = now_ms();
    char at[64], body[512];
    time_t old = (time_t)((t - (7LL * 86400 - 600) * 1000) / 1000);
    struct tm tm;
    gmtime_r(&old, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (int i = 0; i < 2; i++) {
        /* Two minutes of the same hour (or of two, near an hour's end). */
        snprintf(body, sizeof(body),
                 "{\"metrics\":[{\"flag\":\"f1\",\"enabled\":false,"
                 "\"at\":\"%s\",\"requests\":%d,\"errors\":1,"
                 "\"latencyMs\":[5,6],\"unit\":\"u\"}]}",
                 at, 100 + i);
        assert_int_equal(impact(f, body, &err), VX_OK);
        old += 60;
        gmtime_r(&old, &tm);
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    json_t *all = buckets(f);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    /* A day later the minutes are past 7 days: folded into hours. */
    assert_true(tick(f, "a", t + 86400000LL));
    all = buckets(f);
    json_int_t req = 0, errs = 0, greq = 0;
    size_t i;
    json_t *d;
    json_array_foreach (all, i, d) {
        assert_int_equal(json_integer_value(json_object_get(d, "width")), 3600);
        req += json_integer_value(json_object_get(d, "requests"));
        errs += json_integer_value(json_object_get(d, "errors"));
        assert_true(json_is_string(json_object_get(d, "sketch")));
        /* one unit: its group's sums move into the hour too */
        const json_t *gs = json_object_get(d, "groups");
        assert_int_equal(json_object_size(gs), 1);
        greq += (json_int_t)json_number_value(json_array_get(
            json_object_iter_value(json_object_iter((json_t *)gs)), 0));
    }
    assert_true(json_array_size(all) >= 1 && json_array_size(all) <= 2);
    assert_int_equal(greq, 201);
    assert_int_equal(req, 201); /* nothing lost in the merge */
    assert_int_equal(errs, 2);
    json_decref(all);
    /* Past 90 days the hours go too. */
    assert_true(tick(f, "a", t + 91LL * 86400000));
    all = buckets(f);
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);
}

static void test_sdk_usage_counts_as_exposures(void **state)
{
    fixture *f = *state;
    json_t *p = call(f, SVC_OP_PLAN_PUT, "f1", NULL,
                     json_pack("{s[{si}{si}] ss}", "milestones", "percent", 10,
                               "percent", 100, "guard", "none"),
                     VX_OK);
    assert_string_equal(json_string_value(json_object_get(p, "state")),
                        "running");
    json_decref(p);
    json_t *usage = json_pack("{ss s{ss ss s{s{si si s{si}}}}}", "appName",
                              "web", "bucket", "start", "2026-11-30T00:00:00Z",
                              "stop", "2026-11-30T00:01:00Z", "toggles", "f1",
                              "yes", 30, "no", 270, "variants", "blue", 12);
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_client_metrics(f->t.svc, &f->client, usage, &err),
                     VX_OK);
    json_decref(usage);
    assert_true(tick(f, "a", now_ms()));
    p = call(f, SVC_OP_PLAN_GET, "f1", NULL, NULL, VX_OK);
    json_t *last = json_object_get(p, "last");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(last, "control"), "requests")),
                     270);
    /* yes = 30: 12 as variant "blue", 18 as "enabled", both treatment. */
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(last, "treatment"), "requests")),
                     30);
    json_decref(p);
    /* Validation of a plan names the field; nothing changes. */
    p = call(f, SVC_OP_PLAN_PUT, "f1", NULL,
             json_pack("{s[{si}] s[{ss sf}]}", "milestones", "percent", 10,
                       "metrics", "kind", "error_rate", "tolerance", -1.0),
             VX_EINVAL);
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validation_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_idempotent_and_sketch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_downsampling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sdk_usage_counts_as_exposures,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
