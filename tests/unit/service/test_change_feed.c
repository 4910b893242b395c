/* Unit tests for src/service/feed.c, the console's change feed, against a
 * real SQLite service on a temporary file: a first read (since < 0) starts
 * from the newest events; later reads return what came after, oldest
 * first, with `slack` events before it (late commits), names and types
 * only (never the events' data); more events than `max` since the last
 * read is a gap; the scheduler's lease is read with its holder and
 * renewal; the audit log itself is not written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void create(temp_service *t, const char *name)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"description\":\"x\"}",
             name);
    json_t *b = json_loads(body, 0, NULL), *out = NULL;
    svc_req req = {
        .op = SVC_OP_FEATURE_CREATE, .project = "default", .body = b};
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_call(t->svc, &ADMIN, &req, &out, &err), VX_OK);
    json_decref(out);
    json_decref(b);
}

static svc_feed read_feed(temp_service *t, int64_t since, size_t max,
                          size_t slack)
{
    svc_feed f;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_feed_read(t->svc, since, max, slack, &f, &err), VX_OK);
    return f;
}

static const char *feature_of(const svc_feed *f, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(f->events, i), "feature"));
}

static int64_t id_of(const svc_feed *f, size_t i)
{
    return json_integer_value(
        json_object_get(json_array_get(f->events, i), "id"));
}

static void test_reads(void **state)
{
    (void)state;
    temp_service t;
    temp_service_open(&t, "feed");
    svc_feed f = read_feed(&t, -1, 256, 4);
    int64_t start = f.revision;
    assert_true(json_array_size(f.events) <= 4);
    svc_feed_release(&f);

    create(&t, "one");
    create(&t, "two");
    create(&t, "three");
    f = read_feed(&t, start, 256, 0);
    assert_int_equal(f.revision, start + 3);
    assert_false(f.gap);
    assert_int_equal(json_array_size(f.events), 3);
    assert_string_equal(feature_of(&f, 0), "one"); /* oldest first */
    assert_string_equal(feature_of(&f, 2), "three");
    json_t *e = json_array_get(f.events, 0);
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        "feature-created");
    assert_string_equal(json_string_value(json_object_get(e, "project")),
                        "default");
    assert_string_equal(json_string_value(json_object_get(e, "createdBy")),
                        "tester");
    assert_non_null(json_string_value(json_object_get(e, "createdAt")));
    assert_null(json_object_get(e, "data"));
    assert_null(json_object_get(e, "preData"));
    int64_t rev = f.revision;
    svc_feed_release(&f);

    /* Nothing new: nothing read, and reading wrote nothing. */
    f = read_feed(&t, rev, 256, 2);
    assert_int_equal(f.revision, rev);
    assert_int_equal(json_array_size(f.events), 0);
    svc_feed_release(&f);

    /* One new event and `slack` before it, for late commits. */
    create(&t, "four");
    f = read_feed(&t, rev, 256, 2);
    assert_int_equal(json_array_size(f.events), 3);
    assert_int_equal(id_of(&f, 0), rev - 1);
    assert_string_equal(feature_of(&f, 2), "four");
    assert_false(f.gap);
    rev = f.revision;
    svc_feed_release(&f);

    /* More than `max` since: a gap, and the newest ones. */
    for (int i = 0; i < 6; i++) {
        char n[16];
        snprintf(n, sizeof(n), "more-%d", i);
        create(&t, n);
    }
    f = read_feed(&t, rev, 4, 0);
    assert_true(f.gap);
    assert_int_equal(json_array_size(f.events), 4);
    assert_string_equal(feature_of(&f, 3), "more-5");
    svc_feed_release(&f);
    f = read_feed(&t, rev, 6, 0);
    assert_false(f.gap); /* exactly the six */
    svc_feed_release(&f);
    svc_feed_release(NULL);
    temp_service_close(&t);
}

static void test_lease(void **state)
{
    (void)state;
    temp_service t;
    temp_service_open(&t, "feedlease");
    svc_feed f = read_feed(&t, -1, 16, 4);
    assert_string_equal(f.lease_owner, "");
    assert_int_equal(f.lease_renewed_ms, 0);
    svc_feed_release(&f);
    bool leader = false;
    json_t *hooks = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_scheduler_tick(t.svc, "host:1:ab", 1700000000000,
                                        15000, &leader, &hooks, &err),
                     VX_OK);
    json_decref(hooks);
    assert_true(leader);
    f = read_feed(&t, -1, 16, 4);
    assert_string_equal(f.lease_owner, "host:1:ab");
    assert_int_equal(f.lease_renewed_ms, 1700000000000);
    svc_feed_release(&f);
    temp_service_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_lease),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
