/* Unit tests for the database pool (dbpool.h) without a database: the
 * queue is bounded (a submit past it is refused at once), a job that
 * waited past its bound runs with `expired` set, and stopping runs every
 * job still queued, exactly once, and refuses later ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>

#include "server/dbpool.h"

/* A gate the first job waits on, and what every job saw. */
typedef struct board {
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;  /* open or a job ran */
    bool open;          /* the first job may finish */
    int ran;            /* jobs run */
    int expired;        /* of which with `expired` set */
} board;

static void blocking_job(void *ud, bool expired)
{
    board *b = ud;
    pthread_mutex_lock(&b->mu);
    while (!b->open)
        pthread_cond_wait(&b->cv, &b->mu);
    b->ran++;
    b->expired += expired;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_bounded_queue_and_expiry(void **state)
{
    (void)state;
    board b = {.open = false};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    db_pool_config cfg = {.threads = 1, .queue = 2, .wait_ms = 50};
    db_pool *p = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(db_pool_new(&cfg, &p, &err), VX_OK);
    assert_true(db_pool_submit(p, blocking_job, &b)); /* runs, waits */
    db_pool_stats ps;
    for (int i = 0; i < 1000; i++) { /* until the thread has taken it */
        db_pool_stats_get(p, &ps);
        if (ps.running == 1)
            break;
        sleep_ms(5);
    }
    assert_true(db_pool_submit(p, blocking_job, &b));
    assert_true(db_pool_submit(p, blocking_job, &b));
    assert_false(db_pool_submit(p, blocking_job, &b)); /* full: at once */
    db_pool_stats_get(p, &ps);
    assert_int_equal(ps.queued, 2);
    assert_int_equal(ps.running, 1);
    assert_int_equal(ps.rejected, 1);
    sleep_ms(120); /* the two queued ones wait past their 50 ms */
    pthread_mutex_lock(&b.mu);
    b.open = true;
    pthread_cond_broadcast(&b.cv);
    while (b.ran < 3)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    assert_int_equal(b.expired, 2);
    db_pool_stats_get(p, &ps);
    assert_int_equal(ps.expired, 2);
    db_pool_free(&p);
    assert_null(p);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
}

static void test_stop_runs_what_is_queued(void **state)
{
    (void)state;
    board b = {.open = true};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    db_pool_config cfg = {.threads = 2, .queue = 64, .wait_ms = 60000};
    db_pool *p = NULL;
    assert_int_equal(db_pool_new(&cfg, &p, NULL), VX_OK);
    for (int i = 0; i < 50; i++)
        assert_true(db_pool_submit(p, blocking_job, &b));
    db_pool_stop(p);
    assert_int_equal(b.ran, 50);
    assert_int_equal(b.expired, 0);
    assert_false(db_pool_submit(p, blocking_job, &b)); /* stopped */
    db_pool_free(&p);
    assert_int_equal(b.ran, 50);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
}

static void test_limits(void **state)
{
    (void)state;
    db_pool *p = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    db_pool_config cfg = {.threads = 100000, .queue = 1};
    assert_int_equal(db_pool_new(&cfg, &p, &err), VX_ELIMIT);
    assert_string_equal(err.path, "/db-threads");
    cfg = (db_pool_config){.threads = 1, .queue = 10000000};
    assert_int_equal(db_pool_new(&cfg, &p, &err), VX_ELIMIT);
    assert_string_equal(err.path, "/db-queue");
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_queue_and_expiry),
        cmocka_unit_test(test_stop_runs_what_is_queued),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
