/* Unit tests for the SDK's handle (src/sdk/client.c) that need no server:
 * configuration errors name the field (vx_error.path), a client whose
 * server cannot be reached starts from its backup file (READY without
 * SYNCHRONIZED, the backup's answers) or stays not ready with a bad backup,
 * evaluation before ready answers false, and vx_client_free returns at once
 * even while requests are retried. The server side is covered end to end
 * by tests/sdk/sdk.test.js. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sdk/backup.h"
#include "vexil/client.h"

/* Nothing listens on port 1 of the loopback: connections are refused. */
#define DEAD_URL "http://127.0.0.1:1/api/"

static const char DOC[] =
    "{\"version\":2,\"features\":[{\"name\":\"on\",\"enabled\":true,"
    "\"strategies\":[{\"name\":\"default\",\"parameters\":{}}]},"
    "{\"name\":\"off\",\"enabled\":false,\"strategies\":[]}]}";

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void expect_invalid(vx_client_config cfg, const char *path)
{
    vx_client *c = (vx_client *)&cfg; /* must be reset to NULL */
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(vx_client_new(&cfg, &c, &err), VX_EINVAL);
    assert_null(c);
    assert_string_equal(err.path, path);
    assert_true(err.message[0] != '\0');
}

static void test_config_errors(void **state)
{
    (void)state;
    vx_client_config ok = {0};
    ok.url = DEAD_URL;
    ok.token = "default:production.secret";
    ok.app_name = "unit";
    vx_client_config cfg = ok;
    cfg.url = NULL;
    expect_invalid(cfg, "/url");
    cfg = ok;
    cfg.url = "ftp://example.com/api";
    expect_invalid(cfg, "/url");
    cfg = ok;
    cfg.token = "secret\r\nX-Injected: 1";
    expect_invalid(cfg, "/token");
    cfg = ok;
    cfg.app_name = "";
    expect_invalid(cfg, "/app_name");
    cfg = ok;
    cfg.refresh_interval_ms = 5;
    expect_invalid(cfg, "/refresh_interval_ms");
    cfg = ok;
    cfg.metrics_interval_ms = 1;
    expect_invalid(cfg, "/metrics_interval_ms");
    cfg = ok;
    cfg.mode = (vx_client_mode)7;
    expect_invalid(cfg, "/mode");
    assert_int_equal(vx_client_new(NULL, &(vx_client *){NULL}, NULL),
                     VX_EINVAL);
}

typedef struct events {
    atomic_int ready, synced, changed; /* how often each came */
} events;

static void on_event(void *ud, vx_client *c, vx_client_event ev)
{
    events *e = ud;
    (void)c;
    if (ev == VX_CLIENT_EVENT_READY)
        atomic_fetch_add(&e->ready, 1);
    else if (ev == VX_CLIENT_EVENT_SYNCHRONIZED)
        atomic_fetch_add(&e->synced, 1);
    else if (ev == VX_CLIENT_EVENT_CHANGED)
        atomic_fetch_add(&e->changed, 1);
}

typedef struct logs {
    atomic_int warnings; /* WARN or ERROR lines */
} logs;

static void on_log(void *ud, vx_client_log_level level, const char *msg)
{
    logs *l = ud;
    assert_non_null(msg);
    if (level >= VX_CLIENT_LOG_WARN)
        atomic_fetch_add(&l->warnings, 1);
}

static void start_from_backup(vx_client_mode mode)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vx-client-%ld.json", (long)getpid());
    assert_int_equal(sdk_backup_write(path, DOC, sizeof(DOC) - 1, NULL), VX_OK);
    events ev = {0};
    logs lg = {0};
    vx_client_config cfg = {0};
    cfg.url = DEAD_URL;
    cfg.token = "default:production.secret";
    cfg.app_name = "unit";
    cfg.mode = mode;
    cfg.refresh_interval_ms = 50;
    cfg.backup_path = path;
    cfg.on_event = on_event;
    cfg.event_ud = &ev;
    cfg.log = on_log;
    cfg.log_ud = &lg;
    vx_client *c = NULL;
    assert_int_equal(vx_client_new(&cfg, &c, NULL), VX_OK);
    assert_true(vx_client_wait_ready(c, 5000));
    vx_context ctx = {0};
    assert_true(vx_client_is_enabled(c, NULL, "on", 2, &ctx));
    assert_false(vx_client_is_enabled(c, NULL, "off", 3, &ctx));
    vx_client_stats st;
    vx_client_get_stats(c, &st);
    assert_true(st.ready);
    assert_true(st.from_backup);
    assert_false(st.synchronized);
    assert_true(st.fetch_errors >= 1);
    assert_int_equal(atomic_load(&ev.ready), 1);
    assert_int_equal(atomic_load(&ev.synced), 0);
    assert_int_equal(atomic_load(&ev.changed), 1);
    assert_true(atomic_load(&lg.warnings) >= 1); /* the failure is logged */
    int64_t t0 = ms_now();
    vx_client_free(c);
    /* The final metrics post fails fast (refused); no waiting on retries. */
    assert_true(ms_now() - t0 < 3000);
    unlink(path);
}

static void test_polling_starts_from_backup(void **state)
{
    (void)state;
    start_from_backup(VX_CLIENT_POLLING);
}

static void test_streaming_starts_from_backup(void **state)
{
    (void)state;
    start_from_backup(VX_CLIENT_STREAMING);
}

static void test_bad_backup_is_not_used(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vx-client-bad-%ld.json", (long)getpid());
    assert_int_equal(sdk_backup_write(path, "{\"features\": 3}", 15, NULL),
                     VX_OK);
    vx_client_config cfg = {0};
    cfg.url = "http://127.0.0.1:1";
    cfg.token = "t";
    cfg.app_name = "unit";
    cfg.refresh_interval_ms = 50;
    cfg.backup_path = path;
    vx_client *c = NULL;
    assert_int_equal(vx_client_new(&cfg, &c, NULL), VX_OK);
    assert_false(vx_client_wait_ready(c, 300));
    vx_context ctx = {0};
    assert_false(vx_client_is_enabled(c, NULL, "on", 2, &ctx));
    assert_null(vx_client_acquire(c));
    vx_variant v;
    vx_client_get_variant(c, NULL, NULL, "on", 2, &ctx, &v);
    assert_int_equal(v.name.len, 8);
    assert_memory_equal(v.name.ptr, "disabled", 8);
    assert_false(v.feature_enabled);
    vx_client_free(c);
    vx_client_free(NULL);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_polling_starts_from_backup),
        cmocka_unit_test(test_streaming_starts_from_backup),
        cmocka_unit_test(test_bad_backup_is_not_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
