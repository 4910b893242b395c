/* The database pool and the probe/flush thread: see dbpool.h. The queue is
 * a ring of `cap` slots under one mutex; pool threads sleep on `work`,
 * the background thread on `tick` (timed). Invariant: a job is either in
 * the ring or being run by exactly one thread, and every job submitted is
 * called exactly once (db_pool_stop drains the ring). */
#include "server/dbpool.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"

typedef struct job {
    db_job_fn fn;   /* what to run */
    void *ud;       /* its argument */
    int64_t queued; /* monotonic ms: when it was submitted */
} job;

struct db_pool {
    service *svc;        /* borrowed */
    vx_log_fn log;       /* may be NULL */
    void *log_ud;        /* passed to log */
    int wait_ms;         /* longest wait in the queue */
    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t work; /* a job was queued, or stopping */
    pthread_cond_t tick; /* stopping (the background thread) */
    job *ring;           /* cap slots */
    size_t cap;          /* ring size */
    size_t head;         /* next job to run */
    size_t count;        /* jobs in the ring */
    size_t running;      /* jobs being run */
    int64_t rejected;    /* refused: full */
    int64_t expired;     /* ran expired */
    bool stopping;       /* no more jobs taken */
    pthread_t *threads;  /* nthreads pool threads */
    unsigned nthreads;   /* started */
    pthread_t bg;        /* the probe and flush thread */
    bool bg_started;     /* bg runs */
};

static void *pool_main(void *arg)
{
    db_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->count == 0 && !p->stopping)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->count == 0)
            break; /* stopping and drained */
        job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->running++;
        bool expired = vx__mono_ms() - j.queued > p->wait_ms;
        if (expired)
            p->expired++;
        pthread_mutex_unlock(&p->mu);
        j.fn(j.ud, expired);
        pthread_mutex_lock(&p->mu);
        p->running--;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Every VX_LIMIT_DB_PROBE_MS: the readiness check, then the flush of what
 * SDKs reported; once more at the end. */
static void *bg_main(void *arg)
{
    db_pool *p = arg;
    vx_error err;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        pthread_mutex_unlock(&p->mu);
        memset(&err, 0, sizeof(err));
        svc_probe(p->svc, &err);
        memset(&err, 0, sizeof(err));
        if (svc_ready(p->svc) == VX_OK)
            svc_usage_flush(p->svc, &err);
        struct timespec until =
            vx__deadline(CLOCK_REALTIME, VX_LIMIT_DB_PROBE_MS);
        pthread_mutex_lock(&p->mu);
        if (!p->stopping)
            pthread_cond_timedwait(&p->tick, &p->mu, &until);
    }
    pthread_mutex_unlock(&p->mu);
    memset(&err, 0, sizeof(err));
    if (svc_usage_flush(p->svc, &err) != VX_OK)
        vx__logf(p->log, p->log_ud, "warn",
                 "SDK metrics and registrations kept in memory: %s",
                 err.message);
    return NULL;
}

vx_status db_pool_new(const db_pool_config *cfg, db_pool **out, vx_error *err)
{
    *out = NULL;
    unsigned threads =
        cfg->threads ? cfg->threads : VX_LIMIT_DB_THREADS_DEFAULT;
    unsigned queue = cfg->queue ? cfg->queue : VX_LIMIT_DB_QUEUE_DEFAULT;
    if (threads > VX_LIMIT_DB_THREADS_MAX)
        return vx__error_set(err, VX_ELIMIT, "/db-threads",
                             "db-threads %u is over the limit %d", threads,
                             VX_LIMIT_DB_THREADS_MAX);
    if (queue > VX_LIMIT_DB_QUEUE_MAX)
        return vx__error_set(err, VX_ELIMIT, "/db-queue",
                             "db-queue %u is over the limit %d", queue,
                             VX_LIMIT_DB_QUEUE_MAX);
    db_pool *p = vx__calloc(1, sizeof(*p));
    if (!p)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    p->svc = cfg->svc;
    p->log = cfg->log;
    p->log_ud = cfg->log_ud;
    p->wait_ms = cfg->wait_ms > 0 ? cfg->wait_ms : VX_LIMIT_DB_TIMEOUT_MS;
    p->cap = queue;
    p->ring = vx__calloc(queue, sizeof(*p->ring));
    p->threads = vx__calloc(threads, sizeof(*p->threads));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->tick, NULL);
    if (!p->ring || !p->threads) {
        db_pool_free(&p);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) {
            db_pool_free(&p);
            return vx__error_set(err, VX_EIO, "",
                                 "cannot start the database threads");
        }
        p->nthreads++;
    }
    if (cfg->background) {
        if (pthread_create(&p->bg, NULL, bg_main, p) != 0) {
            db_pool_free(&p);
            return vx__error_set(err, VX_EIO, "",
                                 "cannot start the database probe thread");
        }
        p->bg_started = true;
    }
    *out = p;
    return VX_OK;
}

bool db_pool_submit(db_pool *p, db_job_fn fn, void *ud)
{
    bool ok = false;
    pthread_mutex_lock(&p->mu);
    if (!p->stopping && p->count < p->cap) {
        p->ring[(p->head + p->count) % p->cap] = (job){fn, ud, vx__mono_ms()};
        p->count++;
        ok = true;
        pthread_cond_signal(&p->work);
    } else {
        p->rejected++;
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void db_pool_reply_busy(db_pool *p, http_req *r, bool expired)
{
    svc_health h;
    svc_health_get(p->svc, &h);
    char msg[VX_ERROR_MSG_MAX + 64];
    if (!h.ok)
        snprintf(msg, sizeof(msg), "%s", h.reason);
    else if (expired)
        snprintf(msg, sizeof(msg),
                 "the database is busy: the request waited more than %d ms "
                 "for it; retry later",
                 p->wait_ms);
    else
        snprintf(msg, sizeof(msg),
                 "the database is busy: %zu requests already wait for it; "
                 "retry later",
                 p->cap);
    http_reply_header(r, "Retry-After", "1");
    http_reply_problem(r, 503, msg, "", NULL); /* copied */
}

bool db_pool_defer(db_pool *p, http_req *r, db_job_fn fn, void *ud)
{
    if (!http_req_defer(r))
        return false;
    if (!db_pool_submit(p, fn, ud)) {
        db_pool_reply_busy(p, r, false);
        http_req_resume(r);
    }
    return true;
}

void db_pool_stats_get(db_pool *p, db_pool_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    out->queued = (int64_t)p->count;
    out->running = (int64_t)p->running;
    out->rejected = p->rejected;
    out->expired = p->expired;
    pthread_mutex_unlock(&p->mu);
}

void db_pool_stop(db_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_cond_broadcast(&p->tick);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
    if (p->bg_started)
        pthread_join(p->bg, NULL);
    p->bg_started = false;
}

void db_pool_free(db_pool **pp)
{
    if (!pp || !*pp)
        return;
    db_pool *p = *pp;
    db_pool_stop(p);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->tick);
    pthread_mutex_destroy(&p->mu);
    vx__free(p->ring);
    vx__free(p->threads);
    vx__free(p);
    *pp = NULL;
}
