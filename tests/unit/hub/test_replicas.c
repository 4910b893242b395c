/* Byte-identical replicas (hub.h): processes on one database that hold the
 * same state serve the same bytes and ETags, revisions included, whichever
 * way each got there: patched change by change, built whole at start, or
 * built by a process that started after the changes (a restart). Here
 * three hubs on one SQLite file: A sees every write as it happens, B polls,
 * C starts at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_fixture.h"

static service *open_again(const temp_service *t)
{
    svc_config sc = {.database = t->dsn};
    char secret[SVC_SECRET_MAX];
    service *svc = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_open(&sc, &svc, secret, &err), VX_OK);
    return svc;
}

/* Everything `env` serves that a body can show, in one comparable text:
 * the features body plain and gzipped (with their ETags), the inlined
 * form, a hydration delta, and the revision. */
static char *served(hub *h, const char *env)
{
    hub_state *s = hub_test_state(h, env);
    hub_scope plain = {.projects = "*"};
    hub_scope inl = {.projects = "*", .inline_segments = true};
    const hub_body *b1 = NULL, *b2 = NULL, *b3 = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_state_features_body(s, &plain, false, NULL, &b1, &err),
                     VX_OK);
    assert_int_equal(hub_state_features_body(s, &plain, true, NULL, &b2, &err),
                     VX_OK);
    assert_int_equal(hub_state_features_body(s, &inl, false, NULL, &b3, &err),
                     VX_OK);
    vx_arena arena;
    vx__arena_init(&arena, 4096);
    char *delta = NULL;
    size_t dlen = 0;
    assert_int_equal(hub_delta(h, s, -1, &plain, &arena, &delta, &dlen, &err),
                     VX_OK);
    size_t cap = b1->len + b3->len + dlen + 256;
    char *out = malloc(cap);
    assert_non_null(out);
    snprintf(out, cap, "rev %lld\n%s %s\n%s gz %zu %016llx\n%s\n%s\n%.*s",
             (long long)hub_state_revision(s), b1->etag, b1->bytes, b2->etag,
             b2->len,
             (unsigned long long)hub_hash64(b2->bytes, b2->len, HUB_HASH_SEED),
             b3->etag, b3->bytes, (int)dlen, delta);
    vx__arena_release(&arena);
    hub_state_release(s);
    return out;
}

static bool same_served(hub *a, hub *b, const char *env)
{
    char *x = served(a, env), *y = served(b, env);
    bool same = strcmp(x, y) == 0;
    if (!same)
        print_message("# %s differs:\n# A: %.400s\n# B: %.400s\n", env, x, y);
    free(x);
    free(y);
    return same;
}

/* Waits up to 5 s for B to serve what A serves. */
static void converge(hub *a, hub *b, const char *env)
{
    for (int i = 0; i < 100; i++) {
        char *x = served(a, env), *y = served(b, env);
        bool same = strcmp(x, y) == 0;
        free(x);
        free(y);
        if (same)
            return;
        hub_test_sleep_ms(50);
    }
    assert_true(same_served(a, b, env));
}

/* An SDK of A reads after a write: A publishes it (read-your-writes). */
static void read_a(hub *a)
{
    hub_state_release(hub_test_state(a, "production"));
    hub_state_release(hub_test_state(a, "development"));
}

static void test_same_state_same_bytes(void **state)
{
    (void)state;
    temp_service t;
    temp_service_open(&t, "hubrepl");
    service *b_svc = open_again(&t);
    hub *a = hub_test_new(t.svc, 50);
    hub *b = hub_test_new(b_svc, 50);
    hub_state_release(hub_test_state(a, "production"));
    hub_state_release(hub_test_state(b, "production"));
    hub_state_release(hub_test_state(a, "development"));

    /* Writes that each process sees differently: a segment (a whole
     * rebuild), flags made one after the other, one archived and revived
     * (the database keeps its place), changes in another environment, a
     * token. */
    assert_int_equal(
        hub_test_call(t.svc, SVC_OP_SEGMENT_CREATE, NULL, NULL, NULL,
                      "{\"name\":\"beta-users\",\"constraints\":[{"
                      "\"contextName\":\"userId\",\"operator\":\"IN\","
                      "\"values\":[\"1\",\"2\"]}]}",
                      NULL),
        VX_OK);
    read_a(a);
    hub_test_flag(t.svc, "zeta");
    read_a(a);
    hub_test_flag(t.svc, "alpha");
    read_a(a);
    hub_test_flag(t.svc, "mid");
    read_a(a);
    hub_test_toggle(t.svc, "alpha", "production", true);
    read_a(a);
    assert_int_equal(hub_test_call(t.svc, SVC_OP_FEATURE_ARCHIVE, "zeta", NULL,
                                   NULL, NULL, NULL),
                     VX_OK);
    read_a(a);
    svc_req revive = {.op = SVC_OP_ARCHIVE_REVIVE, .feature = "zeta"};
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_call(t.svc, &HUB_TEST_ADMIN, &revive, &out, &err),
                     VX_OK);
    json_decref(out);
    read_a(a);
    hub_test_toggle(t.svc, "mid", "development", true);
    read_a(a);
    assert_int_equal(
        hub_test_call(t.svc, SVC_OP_TOKEN_CREATE, NULL, NULL, NULL,
                      "{\"tokenName\":\"late\",\"type\":\"client\","
                      "\"environment\":\"production\",\"projects\":[\"*\"]}",
                      NULL),
        VX_OK);
    read_a(a);
    hub_test_sleep_ms(300); /* the token's event is seen by every hub */
    converge(a, b, "production");
    converge(a, b, "development");

    /* A process started now (a restart) serves the same bytes. */
    service *c_svc = open_again(&t);
    hub *c = hub_test_new(c_svc, 50);
    assert_true(same_served(a, c, "production"));
    assert_true(same_served(a, c, "development"));

    /* A change in development only leaves production's bytes as they were
     * (its revision is per environment), on every process. */
    char *before = served(a, "production");
    hub_test_toggle(t.svc, "zeta", "development", true);
    converge(a, b, "development");
    converge(a, c, "development");
    char *after = served(a, "production");
    assert_string_equal(before, after);
    assert_true(same_served(a, b, "production"));
    assert_true(same_served(a, c, "production"));
    free(before);
    free(after);

    hub_free(&c);
    hub_free(&b);
    hub_free(&a);
    svc_close(c_svc);
    svc_close(b_svc);
    temp_service_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_state_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
