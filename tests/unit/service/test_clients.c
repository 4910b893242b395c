/* Unit tests for SDK registrations (src/service/sdk.c) against a real
 * SQLite service on a temporary file: the table of registered instances is
 * bounded, and at the cap it makes room (stale instances first, then the
 * least recently seen) instead of refusing every new SDK. The instances are
 * written straight into the store so the test can age them. */
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

#include "base/limits.h"
#include "service/service.h"
#include "temp_service.h"
#include "store/store.h"

#define STALE 100 /* instances last seen VX_LIMIT_CLIENT_APP_DAYS + 1 ago */

typedef struct fixture {
    temp_service t; /* the service under test (t.svc) */
    svc_principal client;
} fixture;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *iso(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[40];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    snprintf(out, sizeof(out), "%s.%03dZ", buf, (int)(ms % 1000));
    return json_string(out);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    temp_service_open(&f->t, "clients");
    f->client = (svc_principal){.token_id = 7,
                                .kind = SVC_KIND_CLIENT,
                                .name = "app",
                                .environment = "production",
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

/* Fills the table to the cap in one transaction: instance i of app "svc"
 * was last seen i seconds after a base time; the first STALE of them more
 * than VX_LIMIT_CLIENT_APP_DAYS ago, the rest within the last hours. */
static void fill(fixture *f, int64_t now)
{
    const char *rest;
    const store_ops *ops = store_backend_for(f->t.dsn, &rest);
    assert_non_null(ops);
    store *st = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(ops->open(rest, NULL, &st, &err), VX_OK);
    assert_int_equal(ops->begin(st, &err), VX_OK);
    int64_t old = now - (VX_LIMIT_CLIENT_APP_DAYS + 1) * 86400000LL;
    int64_t recent = now - 6 * 3600000LL;
    for (int i = 0; i < VX_LIMIT_CLIENT_APPS; i++) {
        char inst[32], key[64];
        snprintf(inst, sizeof(inst), "i%05d", i);
        snprintf(key, sizeof(key), "production|svc|%s", inst);
        int64_t seen = (i < STALE ? old : recent) + i * 1000LL;
        json_t *doc =
            json_pack("{ss ss ss so}", "appName", "svc", "instanceId", inst,
                      "environment", "production", "lastSeen", iso(seen));
        assert_int_equal(
            ops->doc_put(st, STORE_CLIENT_APP, key, "production", doc, &err),
            VX_OK);
        json_decref(doc);
    }
    assert_int_equal(ops->commit(st, &err), VX_OK);
    ops->close(st);
}

static vx_status do_register(fixture *f, const char *app, const char *inst)
{
    json_t *b = json_pack("{ss ss}", "appName", app, "instanceId", inst);
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_client_register(f->t.svc, &f->client, b, &err);
    json_decref(b);
    return st;
}

/* The registered instances: {instanceId: true}, and their count. */
static json_t *instances(fixture *f, size_t *count)
{
    svc_req r = {.op = SVC_OP_APPLICATION_LIST};
    svc_principal admin = {.kind = SVC_KIND_ADMIN,
                           .role = SVC_ROLE_ADMIN,
                           .name = "tester",
                           .environment = "*",
                           .projects = "*"};
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_call(f->t.svc, &admin, &r, &out, &err), VX_OK);
    json_t *apps = json_object_get(out, "applications");
    json_t *ids = json_object();
    size_t i;
    json_t *a;
    json_array_foreach (apps, i, a)
        json_object_set_new(ids,
                            json_string_value(json_object_get(a, "instanceId")),
                            json_true());
    *count = json_array_size(apps);
    json_decref(out);
    return ids;
}

/* A known instance re-registers at the cap without dropping anyone. */
static void test_known_instance_at_cap(void **state)
{
    fixture *f = *state;
    fill(f, now_ms());
    assert_int_equal(do_register(f, "svc", "i00000"), VX_OK);
    size_t n;
    json_t *ids = instances(f, &n);
    assert_int_equal(n, VX_LIMIT_CLIENT_APPS);
    json_decref(ids);
}

/* A new instance at the cap is registered: the stale instances go, then
 * the least recently seen, down to 90 % of the cap; the most recently seen
 * stay. */
static void test_new_instance_at_cap(void **state)
{
    fixture *f = *state;
    fill(f, now_ms());
    assert_int_equal(do_register(f, "web", "fresh"), VX_OK);
    size_t n;
    json_t *ids = instances(f, &n);
    size_t keep = VX_LIMIT_CLIENT_APPS / 10 * 9;
    assert_int_equal(n, keep + 1);
    assert_non_null(json_object_get(ids, "fresh"));
    char inst[32];
    for (int i = 0; i < VX_LIMIT_CLIENT_APPS; i++) {
        snprintf(inst, sizeof(inst), "i%05d", i);
        bool kept = json_object_get(ids, inst) != NULL;
        /* instance i was seen i seconds after its base: the oldest go */
        if (kept != (i >= VX_LIMIT_CLIENT_APPS - (int)keep))
            fail_msg("instance %s: kept=%d", inst, kept);
    }
    json_decref(ids);
    /* The next new instance finds room without dropping more. */
    assert_int_equal(do_register(f, "web", "fresh-2"), VX_OK);
    ids = instances(f, &n);
    assert_int_equal(n, keep + 2);
    json_decref(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_instance_at_cap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_new_instance_at_cap, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
