/* Database work off the serving threads. A small pool of threads with a
 * bounded queue runs whatever needs the database for a request the
 * listener suspended (http_req_defer): admin calls, impact posts, the
 * advisor's deterministic answers. A full queue refuses at once (the
 * caller answers 503 with Retry-After), and a job that waited in the queue
 * longer than its bound runs with `expired` set (it answers 503 without
 * touching the database), so no request waits without a bound and no
 * libmicrohttpd worker thread ever waits on the database.
 *
 * One more thread keeps what the server reports about the database
 * current: every VX_LIMIT_DB_PROBE_MS it runs svc_probe (GET /ready
 * answers from its result at once) and svc_usage_flush (SDK metrics and
 * registrations buffered in memory).
 *
 * Thread-safety: db_pool_submit and db_pool_stats from any thread;
 * new/stop/free from one. */
#ifndef VX_SERVER_DBPOOL_H
#define VX_SERVER_DBPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/log.h"
#include "server/http.h"
#include "service/service.h"

typedef struct db_pool db_pool;

/* One job: `expired` is true when it waited in the queue past its bound
 * (or the pool is stopping): then it must only answer (503) and resume. */
typedef void (*db_job_fn)(void *ud, bool expired);

typedef struct db_pool_config {
    service *svc;     /* borrowed: probed and flushed */
    unsigned threads; /* 0 = VX_LIMIT_DB_THREADS_DEFAULT */
    unsigned queue;   /* waiting jobs at most, 0 = VX_LIMIT_DB_QUEUE_DEFAULT */
    int wait_ms;      /* a job's longest wait in the queue (> 0) */
    bool background;  /* run the probe and flush thread */
    vx_log_fn log;    /* may be NULL */
    void *log_ud;     /* passed to log */
} db_pool_config;

/* Starts the threads. Errors: VX_ELIMIT (threads or queue over their hard
 * limits; err->path names "/db-threads" or "/db-queue"), VX_ENOMEM, VX_EIO
 * (a thread could not start). */
vx_status db_pool_new(const db_pool_config *cfg, db_pool **out, vx_error *err);

/* Queues fn(ud) for a pool thread; false (and fn is never called) when
 * the queue is full or the pool is stopping. */
bool db_pool_submit(db_pool *p, db_job_fn fn, void *ud);

typedef struct db_pool_stats {
    int64_t queued;   /* jobs waiting now */
    int64_t running;  /* jobs running now */
    int64_t rejected; /* refused: queue full (total) */
    int64_t expired;  /* waited past their bound (total) */
} db_pool_stats;
void db_pool_stats_get(db_pool *p, db_pool_stats *out);

/* For a request in on_request: suspends it (http_req_defer) and queues
 * fn(ud), which must answer it and then call http_req_resume. When the
 * queue is full it answers 503 with Retry-After at once and resumes (fn
 * is never called). Returns false, calling nothing, when the request
 * cannot be suspended: the caller answers it as usual. */
bool db_pool_defer(db_pool *p, http_req *r, db_job_fn fn, void *ud);

/* The answer of a job that waited too long or found no room: 503 with
 * Retry-After and the database's health in the message. */
void db_pool_reply_busy(db_pool *p, http_req *r, bool expired);

/* Stops taking jobs, runs every job still queued (each bounded), joins
 * the threads and the background thread (after one last flush). Call
 * before the listener stops: every deferred request is answered. Accepts
 * NULL; idempotent. */
void db_pool_stop(db_pool *p);

/* Stops (as db_pool_stop) and frees; clears *p; accepts NULL. */
void db_pool_free(db_pool **p);

#endif
