/* Test helper for the SDK hub's unit tests: a hub on a real SQLite service
 * in a temporary directory (tests/unit/service/temp_service.h), admin calls
 * through the service as the admin API makes them, and a flag's served
 * text. Header-only, for tests/unit/hub; use after cmocka.h. */
#ifndef VX_TESTS_UNIT_HUB_HUB_FIXTURE_H
#define VX_TESTS_UNIT_HUB_HUB_FIXTURE_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hub/hub.h"
#include "unit/service/temp_service.h"

static const svc_principal HUB_TEST_ADMIN = {.token_id = 1,
                                             .kind = SVC_KIND_ADMIN,
                                             .role = SVC_ROLE_ADMIN,
                                             .name = "tester",
                                             .environment = "*",
                                             .projects = "*"};

/* Runs admin operation `op` on `svc` with `body_text` (JSON, may be NULL);
 * `*out` (may be NULL) gets the answer. */
static inline vx_status hub_test_call(service *svc, svc_op op,
                                      const char *feature, const char *env,
                                      const char *id, const char *body_text,
                                      json_t **out)
{
    json_t *body = body_text ? json_loads(body_text, 0, NULL) : NULL;
    if (body_text)
        assert_non_null(body);
    svc_req req = {.op = op,
                   .project = "default",
                   .feature = feature,
                   .environment = env,
                   .id = id,
                   .body = body};
    json_t *answer = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_call(svc, &HUB_TEST_ADMIN, &req, &answer, &err);
    if (st != VX_OK)
        fprintf(stderr, "# %s: %s at %s\n", svc_op_name(op), err.message,
                err.path);
    if (out)
        *out = answer;
    else
        json_decref(answer);
    json_decref(body);
    return st;
}

/* Creates flag `name` in project default. */
static inline void hub_test_flag(service *svc, const char *name)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    assert_int_equal(
        hub_test_call(svc, SVC_OP_FEATURE_CREATE, NULL, NULL, NULL, body, NULL),
        VX_OK);
}

/* Turns flag `name` on or off in `env`. */
static inline void hub_test_toggle(service *svc, const char *name,
                                   const char *env, bool on)
{
    assert_int_equal(hub_test_call(svc, on ? SVC_OP_ENV_ON : SVC_OP_ENV_OFF,
                                   name, env, NULL, NULL, NULL),
                     VX_OK);
}

/* A hub on `svc` with a short poll and the defaults otherwise. */
static inline hub *hub_test_new(service *svc, unsigned poll_ms)
{
    hub_config cfg = {.poll_ms = poll_ms};
    hub *h = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (hub_new(&cfg, svc, &h, &err) != VX_OK)
        fail_msg("hub_new: %s", err.message);
    return h;
}

/* The state of `env` (fails the test unless there is one). */
static inline hub_state *hub_test_state(hub *h, const char *env)
{
    hub_state *s = NULL;
    assert_int_equal(hub_acquire(h, env, &s), VX_OK);
    return s;
}

/* Whether flag `name` is served in `env` and, when it is, whether it is
 * on (`*on`, may be NULL). */
static inline bool hub_test_served(hub *h, const char *env, const char *name,
                                   bool *on)
{
    hub_state *s = hub_test_state(h, env);
    const hub_flag *f = hub_state_find(s, name);
    if (f && on)
        *on = f->enabled;
    hub_state_release(s);
    return f != NULL;
}

static inline double hub_test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void hub_test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#endif
