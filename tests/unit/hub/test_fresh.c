/* The SDK hub's serving path never waits on the database (hub.h,
 * hub_acquire): while the database does not answer (here: the service
 * mutex is held, as a frozen database call holds it), a request that
 * follows a write is served the last published state after at most the
 * freshness bound, the next ones at once, and an environment never loaded
 * answers VX_EUNAVAILABLE in the same bound. Without a freeze, a write
 * answered before a request is served to it. Tokens: flag writes (here or
 * seen from the database) leave the token cache valid, so an SDK request
 * authenticates from memory while the database does not answer. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_fixture.h"
#include "service/internal.h"

#define FREEZE_MS 4000 /* the database "does not answer" this long */

typedef struct freezer {
    service *svc;       /* whose mutex it holds */
    pthread_mutex_t mu; /* guards held */
    pthread_cond_t cv;  /* signals held */
    bool held;          /* the service mutex is taken */
} freezer;

/* Holds the service mutex for FREEZE_MS (or until the process moves on):
 * every database call of the hub's thread waits meanwhile. */
static void *freeze_main(void *arg)
{
    freezer *z = arg;
    pthread_mutex_lock(&z->svc->mu);
    pthread_mutex_lock(&z->mu);
    z->held = true;
    pthread_cond_signal(&z->cv);
    pthread_mutex_unlock(&z->mu);
    hub_test_sleep_ms(FREEZE_MS);
    pthread_mutex_unlock(&z->svc->mu);
    return NULL;
}

static void test_bounded_while_frozen(void **state)
{
    (void)state;
    temp_service t;
    temp_service_open(&t, "hubfresh");
    hub_config cfg = {.poll_ms = 50, .fresh_ms = 200};
    hub *h = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_new(&cfg, t.svc, &h, &err), VX_OK);
    hub_state_release(hub_test_state(h, "production"));
    hub_test_flag(t.svc, "before");
    /* Read-your-writes when the database answers. */
    assert_true(hub_test_served(h, "production", "before", NULL));

    freezer z = {.svc = t.svc};
    pthread_mutex_init(&z.mu, NULL);
    pthread_cond_init(&z.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, freeze_main, &z), 0);
    pthread_mutex_lock(&z.mu);
    while (!z.held)
        pthread_cond_wait(&z.cv, &z.mu);
    pthread_mutex_unlock(&z.mu);
    /* A write committed just now (its hook runs after the commit, outside
     * the mutex): the hub is asked to publish, and cannot read. */
    t.svc->on_commit(t.svc->on_commit_ud, SVC_CHANGE_SDK);

    double t0 = hub_test_now();
    hub_state *s = NULL;
    assert_int_equal(hub_acquire(h, "production", &s), VX_OK);
    double first = hub_test_now() - t0;
    assert_non_null(hub_state_find(s, "before")); /* the last published */
    hub_state_release(s);
    t0 = hub_test_now();
    assert_int_equal(hub_acquire(h, "production", &s), VX_OK);
    double second = hub_test_now() - t0;
    hub_state_release(s);
    t0 = hub_test_now();
    assert_int_equal(hub_acquire(h, "development", &s), VX_EUNAVAILABLE);
    double unloaded = hub_test_now() - t0;
    assert_null(s);
    assert_int_equal(hub_acquire(h, "no-such-env", &s), VX_ENOTFOUND);
    print_message("# frozen: first %.0f ms, next %.0f ms, unloaded %.0f ms\n",
                  first * 1e3, second * 1e3, unloaded * 1e3);
    /* Generous for a loaded machine, far below the freeze. */
    assert_true(first < 1.5);
    assert_true(second < 0.5);
    assert_true(unloaded < 1.5);

    pthread_join(th, NULL);
    /* Once the database answers, the environment loads (within a few
     * tries of the bound: the hub first finishes what it was doing). */
    vx_status dst = VX_EUNAVAILABLE;
    for (int i = 0; i < 50 && dst == VX_EUNAVAILABLE; i++) {
        dst = hub_acquire(h, "development", &s);
        if (dst != VX_OK)
            hub_test_sleep_ms(100);
    }
    assert_int_equal(dst, VX_OK);
    hub_state_release(s);
    pthread_cond_destroy(&z.cv);
    pthread_mutex_destroy(&z.mu);
    hub_free(&h);
    temp_service_close(&t);
}

static void test_tokens_from_memory_after_flag_writes(void **state)
{
    (void)state;
    temp_service t;
    temp_service_open(&t, "hubauth");
    hub *h = hub_test_new(t.svc, 50);
    hub_state_release(hub_test_state(h, "production"));
    json_t *tok = NULL;
    assert_int_equal(
        hub_test_call(t.svc, SVC_OP_TOKEN_CREATE, NULL, NULL, NULL,
                      "{\"tokenName\":\"sdk\",\"type\":\"client\","
                      "\"environment\":\"production\",\"projects\":[\"*\"]}",
                      &tok),
        VX_OK);
    const char *secret = json_string_value(json_object_get(tok, "secret"));
    assert_non_null(secret);
    hub_test_sleep_ms(300); /* token changes do invalidate: let it pass */
    svc_principal who;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        svc_authenticate(t.svc, secret, strlen(secret), &who, &err),
        VX_OK); /* now cached */
    /* A stream of flag writes, each published. */
    hub_test_flag(t.svc, "w1");
    hub_test_toggle(t.svc, "w1", "production", true);
    assert_true(hub_test_served(h, "production", "w1", NULL));
    hub_test_sleep_ms(200); /* the hub's checks after them are done */

    freezer z = {.svc = t.svc};
    pthread_mutex_init(&z.mu, NULL);
    pthread_cond_init(&z.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, freeze_main, &z), 0);
    pthread_mutex_lock(&z.mu);
    while (!z.held)
        pthread_cond_wait(&z.cv, &z.mu);
    pthread_mutex_unlock(&z.mu);
    double t0 = hub_test_now();
    assert_int_equal(
        svc_authenticate(t.svc, secret, strlen(secret), &who, &err), VX_OK);
    double took = hub_test_now() - t0;
    print_message("# authenticated in %.1f ms while frozen\n", took * 1e3);
    assert_true(took < 1.0);
    pthread_join(th, NULL);
    pthread_cond_destroy(&z.cv);
    pthread_mutex_destroy(&z.mu);
    json_decref(tok);
    hub_free(&h);
    temp_service_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_while_frozen),
        cmocka_unit_test(test_tokens_from_memory_after_flag_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
