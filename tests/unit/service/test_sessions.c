/* Unit tests for src/service/sessions.c against a real SQLite service on a
 * temporary file, with the clock given to each call: a session opened with
 * an admin token is live until it is idle too long, outlives its lifetime,
 * is signed out, or its token is revoked or expires, and each check says
 * which; use is recorded, so a session in use does not go idle; the CSRF
 * token is the session's own; a token keeps at most
 * VX_LIMIT_SESSIONS_PER_TOKEN live sessions. */
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

#include "base/limits.h"
#include "service/sessions.h"
#include "temp_service.h"

#define IDLE 10000  /* ms */
#define LIFE 100000 /* ms */

typedef struct fixture {
    temp_service t;
    char token[SVC_SECRET_MAX]; /* an admin token's secret */
    int64_t t0;                 /* the test's clock */
} fixture;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    temp_service_open(&f->t, "sessions");
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        svc_admin_token(f->t.svc, "console", false, f->token, &err), VX_OK);
    f->t0 = wall_ms();
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

static void open_at(fixture *f, int64_t now,
                    char secret[SVC_SESSION_SECRET_MAX], svc_session *out)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_session_open(f->t.svc, f->token, strlen(f->token), IDLE,
                                    LIFE, now, secret, out, &err);
    if (st != VX_OK)
        fail_msg("open: %s", err.message);
}

static svc_session_state check_at(fixture *f, const char *secret, int64_t now)
{
    svc_session s;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        svc_session_check(f->t.svc, secret, strlen(secret), now, &s, &err),
        VX_OK);
    return s.state;
}

static void test_open_and_check(void **state)
{
    fixture *f = *state;
    char secret[SVC_SESSION_SECRET_MAX];
    svc_session s;
    open_at(f, f->t0, secret, &s);
    assert_int_equal(s.state, SVC_SESSION_LIVE);
    assert_string_equal(s.who.name, "console");
    assert_int_equal(s.who.role, SVC_ROLE_ADMIN);
    assert_int_equal(s.expires_ms, f->t0 + LIFE);
    assert_int_equal(strlen(secret), 69);
    assert_null(strstr(secret, f->token)); /* a new secret, not the token */
    svc_session c;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_session_check(f->t.svc, secret, strlen(secret),
                                       f->t0 + 1, &c, &err),
                     VX_OK);
    assert_int_equal(c.state, SVC_SESSION_LIVE);
    assert_string_equal(c.id, s.id);
    assert_string_equal(c.csrf, s.csrf);
    assert_true(svc_session_csrf_ok(secret, strlen(secret), s.csrf));
    assert_false(svc_session_csrf_ok(secret, strlen(secret), "x"));
    assert_false(svc_session_csrf_ok(secret, strlen(secret), NULL));
    char other[SVC_SESSION_SECRET_MAX];
    svc_session o;
    open_at(f, f->t0, other, &o);
    assert_string_not_equal(o.csrf, s.csrf);
    assert_false(svc_session_csrf_ok(other, strlen(other), s.csrf));
}

static void test_idle_and_kept_alive(void **state)
{
    fixture *f = *state;
    char a[SVC_SESSION_SECRET_MAX], b[SVC_SESSION_SECRET_MAX];
    svc_session s;
    open_at(f, f->t0, a, &s);
    open_at(f, f->t0, b, &s);
    /* a is used at 6 s, so at 15 s it was idle 9 s: still live; b was not
     * used since 0 s: idle. */
    assert_int_equal(check_at(f, a, f->t0 + 6000), SVC_SESSION_LIVE);
    assert_int_equal(check_at(f, a, f->t0 + 15000), SVC_SESSION_LIVE);
    assert_int_equal(check_at(f, b, f->t0 + 15000), SVC_SESSION_IDLE);
    assert_int_equal(check_at(f, a, f->t0 + 15000 + IDLE + 1),
                     SVC_SESSION_IDLE);
}

static void test_lifetime(void **state)
{
    fixture *f = *state;
    char a[SVC_SESSION_SECRET_MAX];
    svc_session s;
    open_at(f, f->t0, a, &s);
    int64_t t;
    for (t = f->t0 + 5000; t < f->t0 + LIFE; t += 5000)
        assert_int_equal(check_at(f, a, t), SVC_SESSION_LIVE);
    assert_int_equal(check_at(f, a, f->t0 + LIFE), SVC_SESSION_EXPIRED);
}

static void test_sign_out(void **state)
{
    fixture *f = *state;
    char a[SVC_SESSION_SECRET_MAX], b[SVC_SESSION_SECRET_MAX];
    svc_session s;
    open_at(f, f->t0, a, &s);
    open_at(f, f->t0, b, &s);
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_session_close(f->t.svc, a, strlen(a), f->t0 + 1, &err),
                     VX_OK);
    assert_int_equal(check_at(f, a, f->t0 + 2), SVC_SESSION_SIGNED_OUT);
    assert_int_equal(check_at(f, b, f->t0 + 2), SVC_SESSION_LIVE);
    /* signing out twice, or an unknown session, is fine */
    assert_int_equal(svc_session_close(f->t.svc, a, strlen(a), f->t0 + 3, &err),
                     VX_OK);
    assert_int_equal(svc_session_close(f->t.svc, "nope", 4, f->t0 + 3, &err),
                     VX_OK);
}

static void test_unknown(void **state)
{
    fixture *f = *state;
    const char *bad[] = {
        "", "vxs1.", f->token,
        "vxs1.0000000000000000000000000000000000000000000000000"
        "000000000000000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(check_at(f, bad[i], f->t0), SVC_SESSION_UNKNOWN);
}

static const svc_principal ADMIN = {.token_id = 1,
                                    .kind = SVC_KIND_ADMIN,
                                    .role = SVC_ROLE_ADMIN,
                                    .name = "tester",
                                    .environment = "*",
                                    .projects = "*"};

static json_t *call(fixture *f, svc_op op, const char *id, const char *body)
{
    json_t *b = body ? json_loads(body, 0, NULL) : NULL;
    svc_req req = {.op = op, .id = id, .body = b};
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_call(f->t.svc, &ADMIN, &req, &out, &err);
    json_decref(b);
    if (st != VX_OK)
        fail_msg("%s: %s", svc_op_name(op), err.message);
    return out;
}

/* Opens a session with the token `sec` at `now`, which must succeed. */
static void open_token(fixture *f, const char *sec, int64_t now,
                       char secret[SVC_SESSION_SECRET_MAX], svc_session *s)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_session_open(f->t.svc, sec, strlen(sec), IDLE, LIFE,
                                      now, secret, s, &err),
                     VX_OK);
}

static void test_token_revoked_or_expired(void **state)
{
    fixture *f = *state;
    json_t *tk = call(f, SVC_OP_TOKEN_CREATE, NULL,
                      "{\"tokenName\":\"ed\",\"type\":\"admin\","
                      "\"role\":\"editor\"}");
    const char *sec = json_string_value(json_object_get(tk, "secret"));
    char a[SVC_SESSION_SECRET_MAX];
    svc_session s;
    int64_t now = wall_ms();
    open_token(f, sec, now, a, &s);
    assert_int_equal(s.who.role, SVC_ROLE_EDITOR);
    assert_int_equal(check_at(f, a, now + 1), SVC_SESSION_LIVE);
    char id[32];
    snprintf(id, sizeof(id), "%lld",
             (long long)json_integer_value(json_object_get(tk, "id")));
    json_decref(call(f, SVC_OP_TOKEN_DELETE, id, NULL));
    assert_int_equal(check_at(f, a, now + 2), SVC_SESSION_TOKEN_REVOKED);
    json_decref(tk);

    /* A token that expires in a second: its session ends with it. */
    char when[200];
    time_t soon = (time_t)(wall_ms() / 1000 + 2);
    struct tm tm;
    gmtime_r(&soon, &tm);
    strftime(when, sizeof(when),
             "{\"tokenName\":\"short\",\"type\":\"admin\","
             "\"role\":\"viewer\",\"expiresAt\":\"%Y-%m-%dT%H:%M:%SZ\"}",
             &tm);
    tk = call(f, SVC_OP_TOKEN_CREATE, NULL, when);
    sec = json_string_value(json_object_get(tk, "secret"));
    now = wall_ms();
    open_token(f, sec, now, a, &s);
    assert_int_equal(check_at(f, a, now + 1), SVC_SESSION_LIVE);
    while (wall_ms() < (int64_t)soon * 1000 + 50) {
        struct timespec nap = {0, 50 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    assert_int_equal(check_at(f, a, wall_ms()), SVC_SESSION_TOKEN_EXPIRED);
    json_decref(tk);
}

static void test_only_admin_tokens(void **state)
{
    fixture *f = *state;
    json_t *tk = call(f, SVC_OP_TOKEN_CREATE, NULL,
                      "{\"tokenName\":\"sdk\",\"type\":\"client\","
                      "\"environment\":\"production\"}");
    const char *sec = json_string_value(json_object_get(tk, "secret"));
    char a[SVC_SESSION_SECRET_MAX];
    svc_session s;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_session_open(f->t.svc, sec, strlen(sec), IDLE, LIFE,
                                      f->t0, a, &s, &err),
                     VX_EFORBIDDEN);
    assert_string_equal(a, "");
    assert_int_equal(svc_session_open(f->t.svc, "*:*.nope", 8, IDLE, LIFE,
                                      f->t0, a, &s, &err),
                     VX_EAUTH);
    assert_int_equal(svc_session_open(f->t.svc, f->token, strlen(f->token), 10,
                                      LIFE, f->t0, a, &s, &err),
                     VX_EINVAL);
    json_decref(tk);
}

static void test_sessions_per_token(void **state)
{
    fixture *f = *state;
    char first[SVC_SESSION_SECRET_MAX], last[SVC_SESSION_SECRET_MAX];
    svc_session s;
    open_at(f, f->t0, first, &s);
    for (int i = 1; i <= VX_LIMIT_SESSIONS_PER_TOKEN; i++)
        open_at(f, f->t0 + i, last, &s);
    assert_int_equal(check_at(f, first, f->t0 + 500), SVC_SESSION_UNKNOWN);
    assert_int_equal(check_at(f, last, f->t0 + 500), SVC_SESSION_LIVE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_and_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_and_kept_alive, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lifetime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_revoked_or_expired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_only_admin_tokens, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sessions_per_token, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
