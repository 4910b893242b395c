/* Every committed write reaches the SDK hub through the service's commit
 * hook, whoever makes it (hub.h: the hook is its only entry besides the
 * revision check): an SDK request that starts after the write returned is
 * served it, for a change the scheduler applies, an import, and the admin
 * API; what SDKs report (records) asks for no publish. The revision check
 * is slowed down here so that only the hook can explain a prompt publish. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_fixture.h"

#define SLOW_POLL_MS 3600000 /* no backstop during the test */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_scheduler_change_is_served(void **state)
{
    (void)state;
    temp_service t;
    temp_service_open(&t, "hubsched");
    hub *h = hub_test_new(t.svc, SLOW_POLL_MS);
    hub_test_flag(t.svc, "timed");
    bool on = true;
    assert_true(hub_test_served(h, "production", "timed", &on));
    assert_false(on);
    /* Due in an hour; the scheduler's clock says two hours from now. */
    time_t at = (time_t)(wall_ms() / 1000 + 3600);
    struct tm tm;
    gmtime_r(&at, &tm);
    char body[128];
    strftime(body, sizeof(body),
             "{\"at\":\"%Y-%m-%dT%H:%M:%SZ\",\"action\":\"enable\"}", &tm);
    assert_int_equal(hub_test_call(t.svc, SVC_OP_SCHEDULE_CREATE, "timed",
                                   "production", NULL, body, NULL),
                     VX_OK);
    bool leader = false;
    json_t *hooks = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_scheduler_tick(t.svc, "test", wall_ms() + 7200000,
                                        60000, &leader, &hooks, &err),
                     VX_OK);
    json_decref(hooks);
    assert_true(leader);
    assert_true(hub_test_served(h, "production", "timed", &on));
    assert_true(on);
    hub_free(&h);
    temp_service_close(&t);
}

static void test_import_is_served(void **state)
{
    (void)state;
    temp_service src, dst;
    temp_service_open(&src, "hubexp");
    temp_service_open(&dst, "hubimp");
    hub_test_flag(src.svc, "carried");
    hub_test_toggle(src.svc, "carried", "production", true);
    json_t *doc = NULL;
    assert_int_equal(
        hub_test_call(src.svc, SVC_OP_EXPORT, NULL, NULL, NULL, NULL, &doc),
        VX_OK);
    hub *h = hub_test_new(dst.svc, SLOW_POLL_MS);
    assert_false(hub_test_served(h, "production", "carried", NULL));
    svc_req req = {.op = SVC_OP_IMPORT, .body = doc};
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_call(dst.svc, &HUB_TEST_ADMIN, &req, &out, &err),
                     VX_OK);
    json_decref(out);
    bool on = false;
    assert_true(hub_test_served(h, "production", "carried", &on));
    assert_true(on);
    json_decref(doc);
    hub_free(&h);
    temp_service_close(&dst);
    temp_service_close(&src);
}

static void test_records_publish_nothing(void **state)
{
    (void)state;
    temp_service t;
    temp_service_open(&t, "hubrec");
    hub *h = hub_test_new(t.svc, SLOW_POLL_MS);
    hub_test_flag(t.svc, "reported");
    hub_state_release(hub_test_state(h, "production"));
    hub_stats before;
    hub_get_stats(h, &before);
    svc_principal client = {.token_id = 2,
                            .kind = SVC_KIND_CLIENT,
                            .name = "app",
                            .environment = "production",
                            .projects = "*"};
    json_t *reg = json_pack("{ss ss}", "appName", "shop", "instanceId", "i-1");
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_client_register(t.svc, &client, reg, &err), VX_OK);
    json_decref(reg);
    hub_state_release(hub_test_state(h, "production"));
    hub_test_sleep_ms(100);
    hub_stats after;
    hub_get_stats(h, &after);
    assert_int_equal(after.rebuilds, before.rebuilds);
    hub_free(&h);
    temp_service_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheduler_change_is_served),
        cmocka_unit_test(test_import_is_served),
        cmocka_unit_test(test_records_publish_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
