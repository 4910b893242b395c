/* Unit tests for what SDKs report (reports.c) against a real SQLite
 * service on a temporary file: metrics and registrations are kept in
 * memory until a flush stores them (an admin call flushes first, so it
 * reads them); a flush that fails keeps them, and they are stored once the
 * database takes writes again; a post that does not fit in the memory
 * bound is refused whole, keeping nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>

#include "base/limits.h"
#include "service/service.h"
#include "temp_service.h"

typedef struct fixture {
    temp_service t;       /* the service under test */
    svc_principal admin;  /* an admin principal */
    svc_principal client; /* a client token of production */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    temp_service_open(&f->t, "reports");
    f->admin = (svc_principal){.token_id = 1,
                               .kind = SVC_KIND_ADMIN,
                               .role = SVC_ROLE_ADMIN,
                               .name = "tester",
                               .environment = "*",
                               .projects = "*"};
    f->client = (svc_principal){.token_id = 2,
                                .kind = SVC_KIND_CLIENT,
                                .name = "app",
                                .environment = "production",
                                .projects = "*"};
    *state = f;
    return 0;
}

/* Removes what a test left next to the database (rescued copies). */
static void remove_extra(const char *dir)
{
    DIR *d = opendir(dir);
    for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
        if (strstr(e->d_name, ".rescued-")) {
            char p[256];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    if (d)
        closedir(d);
}

static int teardown(void **state)
{
    fixture *f = *state;
    temp_service_close(&f->t);
    remove_extra(f->t.dir);
    rmdir(f->t.dir);
    free(f);
    return 0;
}

static json_t *call(fixture *f, svc_op op, const char *feature, json_t *body)
{
    svc_req req = {
        .op = op, .project = "default", .feature = feature, .body = body};
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_call(f->t.svc, &f->admin, &req, &out, &err);
    json_decref(body);
    if (st != VX_OK)
        fail_msg("%s: %s", svc_op_name(op), err.message);
    return out;
}

/* The start of an hour ago's minute, as SDKs write it: every bucket of a
 * test lands in the same minute whatever the clock says. */
static const char *an_hour_ago(void)
{
    static char buf[32];
    time_t t = time(NULL) - 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_sec = 0;
    if (!buf[0])
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static json_t *bucket(const char *flag, int yes)
{
    return json_pack("{ss s{ss s{s{si si}}}}", "appName", "shop", "bucket",
                     "start", an_hour_ago(), "toggles", flag, "yes", yes, "no",
                     1);
}

/* The summed "yes" of a flag's usage, as the admin API reads it. */
static json_int_t usage_yes(fixture *f, const char *flag)
{
    json_t *u = call(f, SVC_OP_FEATURE_USAGE, flag, NULL);
    json_int_t yes = 0;
    size_t i;
    json_t *row;
    json_array_foreach (json_object_get(u, "usage"), i, row)
        yes += json_integer_value(json_object_get(row, "yes"));
    json_decref(u);
    return yes;
}

static svc_stats stats(fixture *f)
{
    svc_stats s;
    svc_get_stats(f->t.svc, &s);
    return s;
}

static void post(fixture *f, json_t *body, vx_status want)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_client_metrics(f->t.svc, &f->client, body, &err),
                     want);
    json_decref(body);
}

static void test_kept_until_flushed(void **state)
{
    fixture *f = *state;
    json_decref(call(f, SVC_OP_FEATURE_CREATE, NULL,
                     json_pack("{ss}", "name", "counted")));
    post(f, bucket("counted", 3), VX_OK);
    post(f, bucket("counted", 4), VX_OK);
    post(f, bucket("no-such-flag", 9), VX_OK);
    assert_int_equal(stats(f).reports_pending, 2); /* summed per flag */
    json_t *reg = json_pack("{ss ss}", "appName", "shop", "instanceId", "i-1");
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_client_register(f->t.svc, &f->client, reg, &err),
                     VX_OK);
    json_decref(reg);
    assert_int_equal(stats(f).reports_pending, 3);
    /* An admin call stores them first, then reads them. */
    assert_int_equal(usage_yes(f, "counted"), 7);
    assert_int_equal(stats(f).reports_pending, 0);
    json_t *apps = call(f, SVC_OP_APPLICATION_LIST, NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(apps, "applications")), 1);
    json_decref(apps);
    /* A bad bucket is refused with the field, nothing kept. */
    json_t *bad = json_pack("{ss s{s{s{si}}}}", "appName", "shop", "bucket",
                            "toggles", "counted", "yes", -1);
    post(f, bad, VX_EINVAL);
    assert_int_equal(stats(f).reports_pending, 0);
}

static void test_failed_flush_keeps_them(void **state)
{
    fixture *f = *state;
    json_decref(call(f, SVC_OP_FEATURE_CREATE, NULL,
                     json_pack("{ss}", "name", "kept")));
    post(f, bucket("kept", 5), VX_OK);
    char db[128], away[140];
    snprintf(db, sizeof(db), "%s/vexil.db", f->t.dir);
    snprintf(away, sizeof(away), "%s/vexil.db.away", f->t.dir);
    assert_int_equal(rename(db, away), 0); /* the file is gone */
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_usage_flush(f->t.svc, &err), VX_EUNAVAILABLE);
    assert_non_null(strstr(err.message, "deleted"));
    svc_stats s = stats(f);
    assert_int_equal(s.reports_pending, 1);
    assert_int_equal(s.flush_failures, 1);
    assert_int_equal(s.reports_dropped, 0);
    post(f, bucket("kept", 6), VX_OK); /* meanwhile: summed into it */
    assert_int_equal(stats(f).reports_pending, 1);
    assert_int_equal(rename(away, db), 0); /* back */
    assert_int_equal(svc_usage_flush(f->t.svc, &err), VX_OK);
    assert_int_equal(stats(f).reports_pending, 0);
    assert_int_equal(usage_yes(f, "kept"), 11);
}

static void test_full_memory_refuses_whole_posts(void **state)
{
    fixture *f = *state;
    int n = 0;
    vx_status st = VX_OK;
    /* Distinct flags, VX_LIMIT_METRICS_TOGGLES per post, until the bound. */
    for (int p = 0; st == VX_OK && p < 2 * VX_LIMIT_USAGE_BUFFER_ENTRIES /
                                           VX_LIMIT_METRICS_TOGGLES;
         p++) {
        json_t *toggles = json_object();
        for (int i = 0; i < VX_LIMIT_METRICS_TOGGLES; i++) {
            char name[32];
            snprintf(name, sizeof(name), "f-%d", n++);
            json_object_set_new(toggles, name, json_pack("{si}", "yes", 1));
        }
        json_t *body = json_pack("{ss s{ss so}}", "appName", "flood", "bucket",
                                 "start", an_hour_ago(), "toggles", toggles);
        int64_t before = stats(f).reports_pending;
        vx_error err;
        memset(&err, 0, sizeof(err));
        st = svc_client_metrics(f->t.svc, &f->client, body, &err);
        json_decref(body);
        if (st != VX_OK) {
            assert_int_equal(st, VX_EUNAVAILABLE);
            assert_int_equal(stats(f).reports_pending, before); /* nothing */
        }
    }
    assert_int_equal(st, VX_EUNAVAILABLE);
    svc_stats s = stats(f);
    assert_true(s.reports_pending <= VX_LIMIT_USAGE_BUFFER_ENTRIES);
    assert_int_equal(s.reports_refused, 1);
    /* Counts for entries already kept still add up. */
    post(f,
         json_pack("{ss s{ss s{s{si}}}}", "appName", "flood", "bucket", "start",
                   an_hour_ago(), "toggles", "f-0", "yes", 1),
         VX_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kept_until_flushed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_flush_keeps_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_memory_refuses_whole_posts,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
