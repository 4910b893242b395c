/* The console's live updates over HTTP: see events_api.h. The thread
 * below is the only one here that calls the service; the serving threads
 * only subscribe, read queued text and unsubscribe (events_feed.c). */
#include "server/events_api.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"
#include "server/events_feed.h"

#define EVENTS_PATH "/api/admin/events/stream"

struct events_api {
    service *svc;          /* borrowed */
    ev_feed *feed;         /* owned: the subscribers */
    unsigned poll_ms;      /* feed reads while streams are open */
    unsigned heartbeat_ms; /* comment lines */
    vx_log_fn log;         /* may be NULL */
    void *log_ud;          /* passed to log */
    pthread_t thread;      /* the loop */
    bool started;          /* thread is running */
    pthread_mutex_t mu;    /* guards stop */
    pthread_cond_t cv;     /* signalled on stop */
    bool stop;             /* under mu */
    /* The loop's own state (only the thread touches it): */
    int64_t last_rev;    /* newest audit event read, -1 = none yet */
    int64_t lease_ms;    /* the lease's last renewal seen, 0 = none */
    bool tokens_due;     /* re-read the tokens at the next poll */
    int *fds;            /* [max_streams] sockets being watched */
    uint64_t *serials;   /* [max_streams] their subscribers */
    struct pollfd *pfds; /* [max_streams] */
    size_t max_streams;  /* size of the three arrays */
    bool failing;        /* the last feed read failed (logged once) */
};

/* Per request: the caller, then its subscriber and stream. */
struct events_req {
    svc_principal who;             /* authenticated in the headers step */
    ev_sub *sub;                   /* set once subscribed */
    _Atomic(http_stream *) stream; /* set once the answer is made */
};
typedef events_req ev_req;

static void note(events_api *a, const char *level, const char *what,
                 const char *why)
{
    if (!a->log)
        return;
    char msg[600];
    snprintf(msg, sizeof(msg), "live updates: %s: %s", what, why);
    a->log(a->log_ud, level, msg);
}

/* ---- the loop ------------------------------------------------------------ */

/* Ends the streams whose peer closed (poll() without waiting: a stream's
 * browser sends nothing after its request, so only the end counts). */
static void watch_sockets(events_api *a)
{
    size_t n = ev_feed_sockets(a->feed, a->fds, a->serials, a->max_streams);
    if (!n)
        return;
    for (size_t i = 0; i < n; i++)
        a->pfds[i] = (struct pollfd){.fd = a->fds[i], .events = POLLRDHUP};
    if (poll(a->pfds, (nfds_t)n, 0) <= 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (a->pfds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
            ev_feed_gone(a->feed, a->serials[i]);
}

static void check_tokens(events_api *a)
{
    svc_token_state *t = NULL;
    size_t n = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (svc_token_states(a->svc, &t, &n, &err) == VX_OK)
        ev_feed_tokens(a->feed, t, n, vx__wall_ms());
    else
        a->tokens_due = true; /* try again at the next poll */
    vx__free(t);
}

/* One read of the audit log and the lease, fanned out. */
static void poll_feed(events_api *a)
{
    svc_feed f;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_feed_read(a->svc, a->last_rev, VX_LIMIT_ADMIN_FEED_READ,
                                 VX_LIMIT_ADMIN_FEED_SLACK, &f, &err);
    if (st != VX_OK) {
        if (!a->failing)
            note(a, "warn", "cannot read the audit log", err.message);
        a->failing = true;
        return;
    }
    if (a->failing)
        note(a, "info", "the audit log", "readable again");
    a->failing = false;
    if (a->last_rev < 0) {
        /* The starting point: what happened before is old news. */
        ev_feed_baseline(a->feed, f.revision);
    } else if (f.gap) {
        ev_feed_reset(a->feed, f.revision);
    } else {
        size_t i;
        const json_t *e;
        json_array_foreach (f.events, i, e) {
            const char *type = json_string_value(json_object_get(e, "type"));
            if (ev_feed_publish(a->feed, e, vx__wall_ms()) && type &&
                strncmp(type, "api-token-", 10) == 0)
                a->tokens_due = true;
        }
    }
    if (f.revision > a->last_rev)
        a->last_rev = f.revision;
    if (f.lease_renewed_ms && f.lease_renewed_ms != a->lease_ms) {
        if (a->lease_ms)
            ev_feed_tick(a->feed, f.lease_owner, f.lease_renewed_ms);
        a->lease_ms = f.lease_renewed_ms;
    }
    svc_feed_release(&f);
}

static void *loop(void *ud)
{
    events_api *a = ud;
    int64_t last_poll = vx__mono_ms(), last_beat = vx__mono_ms(),
            last_tokens = 0;
    size_t had = 0; /* subscribers at the last look */
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        struct timespec until =
            vx__deadline(CLOCK_REALTIME, VX_LIMIT_SSE_CHECK_MS);
        pthread_cond_timedwait(&a->cv, &a->mu, &until);
        if (a->stop)
            break;
        pthread_mutex_unlock(&a->mu);
        int64_t now = vx__mono_ms();
        ev_feed_expire(a->feed, vx__wall_ms());
        watch_sockets(a);
        if (now - last_beat >= (int64_t)a->heartbeat_ms) {
            ev_feed_heartbeat(a->feed);
            last_beat = now;
        }
        /* Once a poll_ms while streams are open, at once when the first
         * one opens, and slowly when none is (so that the feed always has
         * a recent starting point: a stream that opens gets what happened
         * while its page was loading). */
        size_t n = ev_feed_count(a->feed);
        int64_t every = n ? (int64_t)a->poll_ms : VX_LIMIT_ADMIN_FEED_IDLE_MS;
        if (now - last_poll >= every || (n && !had)) {
            last_poll = now;
            poll_feed(a);
            if (n &&
                (a->tokens_due ||
                 now - last_tokens >= VX_LIMIT_ADMIN_FEED_TOKEN_CHECK_MS)) {
                a->tokens_due = false;
                last_tokens = now;
                check_tokens(a);
            }
        }
        had = n;
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

vx_status events_api_new(service *svc, const events_api_config *cfg,
                         events_api **out, vx_error *err)
{
    *out = NULL;
    events_api *a = vx__calloc(1, sizeof(*a));
    if (!a)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    a->svc = svc;
    a->poll_ms = cfg->poll_ms ? cfg->poll_ms : VX_LIMIT_ADMIN_FEED_POLL_MS;
    a->heartbeat_ms =
        cfg->heartbeat_ms ? cfg->heartbeat_ms : VX_LIMIT_SSE_HEARTBEAT_MS;
    a->log = cfg->log;
    a->log_ud = cfg->log_ud;
    a->last_rev = -1;
    ev_feed_config fc = {
        .max_streams =
            cfg->max_streams ? cfg->max_streams : VX_LIMIT_ADMIN_STREAMS,
        .max_per_token = cfg->max_per_token ? cfg->max_per_token
                                            : VX_LIMIT_ADMIN_STREAMS_PER_TOKEN,
        .queue_bytes = VX_LIMIT_ADMIN_STREAM_QUEUE_BYTES,
        .history = VX_LIMIT_ADMIN_FEED_HISTORY,
        .lifetime_ms =
            cfg->lifetime_ms ? cfg->lifetime_ms : VX_LIMIT_ADMIN_STREAM_MS,
        .recent_ms = VX_LIMIT_ADMIN_FEED_RECENT_MS,
    };
    a->max_streams = fc.max_streams;
    a->fds = vx__calloc(a->max_streams, sizeof(*a->fds));
    a->serials = vx__calloc(a->max_streams, sizeof(*a->serials));
    a->pfds = vx__calloc(a->max_streams, sizeof(*a->pfds));
    vx_status st = a->fds && a->serials && a->pfds
                       ? ev_feed_new(&fc, &a->feed, err)
                       : vx__error_set(err, VX_ENOMEM, "", "out of memory");
    if (st != VX_OK)
        goto fail;
    /* The starting point, before any request is served: what happens
     * from now on reaches the streams (a database that does not answer
     * now gets its starting point at the thread's first read). */
    poll_feed(a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, loop, a) != 0) {
        st = vx__error_set(err, VX_EIO, "",
                           "cannot start the live updates thread");
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        goto fail;
    }
    a->started = true;
    *out = a;
    return VX_OK;
fail:
    ev_feed_free(&a->feed);
    vx__free(a->fds);
    vx__free(a->serials);
    vx__free(a->pfds);
    vx__free(a);
    return st;
}

void events_api_stop(events_api *a)
{
    if (a)
        ev_feed_close(a->feed);
}

void events_api_free(events_api **ap)
{
    if (!ap || !*ap)
        return;
    events_api *a = *ap;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
    }
    ev_feed_free(&a->feed);
    vx__free(a->fds);
    vx__free(a->serials);
    vx__free(a->pfds);
    vx__free(a);
    *ap = NULL;
}

/* ---- HTTP ---------------------------------------------------------------- */

bool events_api_owns(const http_req *r)
{
    size_t n = sizeof(EVENTS_PATH) - 1;
    return http_req_path_len(r) == n &&
           memcmp(http_req_path(r), EVENTS_PATH, n) == 0;
}

static void wake(void *ud)
{
    ev_req *q = ud;
    http_stream *s = atomic_load(&q->stream);
    if (s)
        http_stream_wake(s);
}

static long pull(void *ud, char *buf, size_t max)
{
    ev_req *q = ud;
    return ev_sub_read(q->sub, buf, max);
}

/* A filter of the query: NULL when absent; false with a 400 answered when
 * too long. */
static bool filter(http_req *r, const json_t *query, const char *name,
                   const char **out)
{
    const char *v = json_string_value(json_object_get(query, name));
    *out = v && *v ? v : NULL;
    if (!v || strlen(v) <= VX_LIMIT_ADMIN_FILTER_BYTES)
        return true;
    char path[64], msg[128];
    snprintf(path, sizeof(path), "/query/%s", name);
    snprintf(msg, sizeof(msg), "%s is at most %d bytes (a name)", name,
             VX_LIMIT_ADMIN_FILTER_BYTES);
    http_reply_problem(r, 400, msg, path, NULL);
    return false;
}

/* Last-Event-ID as a number, or -1 (absent or not a number). */
static int64_t last_id(const http_req *r)
{
    const char *v = http_req_header(r, "Last-Event-ID");
    if (!v || !*v)
        return -1;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    return (*end || x < 0) ? -1 : (int64_t)x;
}

void events_api_request(events_api *a, http_req *r, const svc_principal *who,
                        events_req **out)
{
    if (strcmp(http_req_method(r), "HEAD") == 0) {
        /* what a GET would answer, without opening a stream */
        http_reply_header(r, "Cache-Control", "no-cache");
        http_reply_text(r, 200, "text/event-stream", "", 0);
        return;
    }
    ev_req *q = vx__arena_calloc(http_req_arena(r), 1, sizeof(*q));
    if (!q) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    q->who = *who;
    *out = q;
    vx_error err;
    memset(&err, 0, sizeof(err));
    const json_t *query = NULL;
    vx_status st = http_req_query(r, &query, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    const char *feature = NULL, *environment = NULL;
    if (!filter(r, query, "feature", &feature) ||
        !filter(r, query, "environment", &environment))
        return;
    ev_who w = {
        .token_id = q->who.token_id,
        .projects = q->who.projects,
        .feature = feature,
        .environment = environment,
        .last_id = last_id(r),
        .fd = http_req_socket(r),
        .now_ms = vx__wall_ms(),
    };
    st = ev_feed_subscribe(a->feed, &w, wake, q, &q->sub, &err);
    if (st == VX_ELIMIT || st == VX_EUNAVAILABLE) {
        http_reply_header(r, "Retry-After", st == VX_ELIMIT ? "30" : "10");
        http_reply_problem(r, st == VX_ELIMIT ? 429 : 503, err.message, "",
                           NULL);
        return;
    }
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    http_reply_header(r, "Cache-Control", "no-cache");
    http_reply_header(r, "X-Accel-Buffering", "no");
    http_stream *s = http_reply_stream(r, 200, "text/event-stream", pull, q);
    atomic_store(&q->stream, s);
}

void events_api_done(events_api *a, events_req *q)
{
    if (!q || !q->sub)
        return;
    ev_feed_unsubscribe(a->feed, q->sub);
    q->sub = NULL;
}
