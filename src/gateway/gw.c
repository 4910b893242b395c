/* The gateway's engine (gw.h): one thread drives every upstream transfer
 * with the libcurl multi interface. Callers hand calls over through a
 * locked queue and curl_multi_wakeup; the thread answers them through
 * their gw_client. A call is shared by the caller (until gw_call_release)
 * and the thread (until its transfer is over), reference-counted.
 *
 * Invariant: only the gateway's thread touches curl handles and a call's
 * transfer fields; a call's pipe and flags are guarded by its own mutex;
 * the measurement series by the gateway's `mu`. The API key lives only in
 * the transfer's header list. */
#include "gateway/gw.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/alloc.h"
#include "base/error.h"
#include "guard/bucket.h"

#define EASY_POOL 64 /* idle easy handles kept for reuse */

/* Count, sum and sum of squares of one quantity. */
typedef struct moments {
    int64_t count; /* observations */
    double sum;    /* their sum */
    double sumsq;  /* sum of squares */
} moments;

/* The counters of one series over some period. */
typedef struct agg {
    int64_t requests;    /* requests measured (exposures) */
    int64_t errors;      /* upstream errors, timeouts included */
    int64_t timeouts;    /* upstream timeouts */
    int64_t disconnects; /* clients gone before the end */
    int64_t fallbacks;   /* requests answered by the control instead */
    int64_t conversions; /* feedback "up" */
    int64_t down;        /* feedback "down" */
    moments latency;     /* ms, request sent to answer complete */
    moments log_latency; /* ln of it, floored as the guard does */
    moments ttft;        /* ms, request sent to first byte */
    moments tps;         /* completion tokens per second */
    moments prompt;      /* prompt tokens per request */
    moments completion;  /* completion tokens per request */
    double raw_ttft[VX_LIMIT_GW_RAW_OBS]; /* the batch's first TTFTs */
    size_t nraw;                          /* used entries */
} agg;

/* One measured (environment, flag, variant, enabled). */
typedef struct series {
    char env[VX_LIMIT_GW_NAME_BYTES];     /* environment */
    char flag[VX_LIMIT_GW_NAME_BYTES];    /* gateway flag */
    char variant[VX_LIMIT_GW_NAME_BYTES]; /* variant */
    bool enabled;                         /* the flag was on */
    agg total;                            /* since start */
    agg delta;                            /* since the last batch */
} series;

/* A response id remembered for feedback. */
typedef struct response {
    char id[128];    /* gateway or upstream id, "" when unused */
    size_t series;   /* index in gw.series */
    uint64_t answer; /* the answer's number: its two ids share it */
    bool scored;     /* feedback was given */
} response;

typedef enum mode { MODE_UNKNOWN, MODE_WHOLE, MODE_STREAM } mode;

/* The current attempt's answer headers worth passing on (gw_reply). */
typedef struct hdrs {
    char *buf;                            /* "name\0value\0" pairs (owned) */
    size_t len;                           /* bytes used */
    size_t cap;                           /* bytes allocated */
    size_t at[VX_LIMIT_GW_REPLY_HEADERS]; /* offset of each name */
    size_t n;                             /* pairs */
    size_t dropped;                       /* left out past the limits */
    char conn[256];                       /* the Connection header's names */
} hdrs;

struct gw_call {
    atomic_int refs;    /* the caller's and the thread's */
    gw *g;              /* the gateway */
    gw_call *next;      /* in the queue or the active list */
    gw_call *prev;      /* in the active list */
    gw_client client;   /* the caller's callbacks */
    pthread_mutex_t mu; /* guards the fields up to `gone` */
    char *pipe;         /* streamed bytes not read yet */
    size_t pipe_off;    /* first unread byte */
    size_t pipe_len;    /* end of the unread bytes */
    size_t pipe_cap;    /* bytes allocated */
    bool ended;         /* no more bytes will come */
    bool paused;        /* the transfer waits for the reader */
    bool released;      /* the caller let go (no more callbacks) */
    bool gone;          /* released before the end: a disconnect */
    /* The rest belongs to the gateway's thread. */
    CURL *easy;                        /* the transfer, NULL between attempts */
    struct curl_slist *headers;        /* its headers (the key is in here) */
    char err[CURL_ERROR_SIZE];         /* libcurl's message */
    mode mode;                         /* what the answer turned out to be */
    bool responded;                    /* respond ran */
    bool on_control;                   /* the attempt runs on the control */
    char *body[2];                     /* request bodies: chosen, control */
    size_t body_len[2];                /* their lengths */
    vx_upstream up[2];                 /* upstreams: chosen, control */
    bool has_control;                  /* up[1] is set */
    char endpoint[64];                 /* "chat/completions"... */
    bool ollama;                       /* native Ollama route */
    char env[VX_LIMIT_GW_NAME_BYTES];  /* environment */
    char flag[VX_LIMIT_GW_NAME_BYTES]; /* flag */
    char variant[VX_LIMIT_GW_NAME_BYTES]; /* chosen variant */
    bool enabled;                         /* the flag was on */
    char rid[GW_ID_BYTES];                /* the gateway's response id */
    char host[VX_LIMIT_GW_URL_BYTES];     /* the attempt's upstream host */
    hdrs hdr;                             /* the attempt's answer headers */
    bool too_big;                         /* a whole answer over the limit */
    char *whole;                          /* a whole answer being read */
    size_t whole_len, whole_cap;          /* its size and allocation */
    double t0;                            /* attempt started (ms, monotonic) */
    double t_first;                       /* first byte, 0 until then */
    gw_scan scan;                         /* usage, id, chunks */
};

struct gw {
    gw_config cfg;         /* copy */
    CURLM *multi;          /* owned by the thread */
    pthread_t thread;      /* the gateway's thread */
    bool started;          /* thread runs */
    pthread_mutex_t qmu;   /* guards the queue fields below */
    gw_call *queue;        /* calls to start (LIFO; order is irrelevant) */
    bool stopping;         /* gw_stop was called */
    bool stopped;          /* the thread has ended */
    atomic_int inflight;   /* calls started, not finished */
    atomic_bool poked;     /* a call asks for attention */
    gw_call *active;       /* thread only: calls with a transfer */
    CURL *pool[EASY_POOL]; /* thread only: idle easy handles */
    size_t npool;          /* used entries */
    double next_flush;     /* thread only: wall ms of the next batch */
    pthread_mutex_t mu;    /* guards the measurement fields below */
    series *series;        /* [VX_LIMIT_GW_SERIES] */
    size_t nseries;        /* used entries */
    response *responses;   /* ring [VX_LIMIT_GW_RESPONSES] */
    size_t next_response;  /* next slot to overwrite */
    atomic_ullong seq;     /* request ids */
    uint64_t answers;      /* answers remembered (under mu) */
};

/* ---- small helpers ------------------------------------------------------ */

static double mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void moments_add(moments *m, double x)
{
    m->count++;
    m->sum += x;
    m->sumsq += x * x;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- measurement -------------------------------------------------------- */

/* The series of (env, flag, variant, enabled), created on first use; NULL
 * past VX_LIMIT_GW_SERIES. Under g->mu. */
static series *series_get(gw *g, const char *env, const char *flag,
                          const char *variant, bool enabled, size_t *index)
{
    for (size_t i = 0; i < g->nseries; i++) {
        series *s = &g->series[i];
        if (s->enabled == enabled && strcmp(s->variant, variant) == 0 &&
            strcmp(s->flag, flag) == 0 && strcmp(s->env, env) == 0) {
            if (index)
                *index = i;
            return s;
        }
    }
    if (g->nseries >= VX_LIMIT_GW_SERIES)
        return NULL;
    series *s = &g->series[g->nseries];
    memset(s, 0, sizeof(*s));
    copy_str(s->env, sizeof(s->env), env);
    copy_str(s->flag, sizeof(s->flag), flag);
    copy_str(s->variant, sizeof(s->variant), variant);
    s->enabled = enabled;
    if (index)
        *index = g->nseries;
    g->nseries++;
    return s;
}

typedef enum outcome { OUT_OK, OUT_ERROR, OUT_TIMEOUT, OUT_GONE } outcome;

/* Counts one request of `c`'s chosen variant. */
static void measure(gw *g, gw_call *c, outcome o, bool fell_back)
{
    double now = mono_ms();
    pthread_mutex_lock(&g->mu);
    size_t idx = 0;
    series *s = series_get(g, c->env, c->flag, c->variant, c->enabled, &idx);
    if (!s)
        goto out;
    agg *a[2] = {&s->total, &s->delta};
    for (int k = 0; k < 2; k++) {
        a[k]->requests++;
        if (o == OUT_ERROR || o == OUT_TIMEOUT)
            a[k]->errors++;
        if (o == OUT_TIMEOUT)
            a[k]->timeouts++;
        if (o == OUT_GONE)
            a[k]->disconnects++;
        if (fell_back)
            a[k]->fallbacks++;
        if (o != OUT_OK)
            continue;
        double lat = now - c->t0;
        moments_add(&a[k]->latency, lat);
        moments_add(
            &a[k]->log_latency,
            log(lat > GUARD_LATENCY_FLOOR_MS ? lat : GUARD_LATENCY_FLOOR_MS));
        if (c->t_first > 0) {
            double ttft = c->t_first - c->t0;
            moments_add(&a[k]->ttft, ttft);
            if (a[k]->nraw < VX_LIMIT_GW_RAW_OBS)
                a[k]->raw_ttft[a[k]->nraw++] = ttft;
        }
        int64_t done = c->scan.completion_tokens >= 0
                           ? c->scan.completion_tokens
                       : c->mode == MODE_STREAM ? c->scan.chunks
                                                : -1;
        if (c->scan.prompt_tokens >= 0)
            moments_add(&a[k]->prompt, (double)c->scan.prompt_tokens);
        if (done >= 0) {
            moments_add(&a[k]->completion, (double)done);
            /* Generation time: from the first byte for a stream, the
             * whole request otherwise. */
            double gen = c->mode == MODE_STREAM && c->t_first > 0
                             ? now - c->t_first
                             : lat;
            if (done > 0 && gen > 0)
                moments_add(&a[k]->tps, (double)done * 1e3 / gen);
        }
    }
    /* Remember the ids for feedback (successful answers only). */
    if (o == OUT_OK && !fell_back) {
        const char *ids[2] = {c->rid, c->scan.id};
        g->answers++;
        for (int k = 0; k < 2; k++) {
            if (!ids[k][0])
                continue;
            response *r = &g->responses[g->next_response];
            g->next_response = (g->next_response + 1) % VX_LIMIT_GW_RESPONSES;
            copy_str(r->id, sizeof(r->id), ids[k]);
            r->series = idx;
            r->answer = g->answers;
            r->scored = false;
        }
    }
out:
    pthread_mutex_unlock(&g->mu);
}

vx_status gw_feedback(gw *g, const char *environment, const char *response_id,
                      bool up, vx_error *err)
{
    vx_status st = VX_OK;
    pthread_mutex_lock(&g->mu);
    response *hit = NULL;
    for (size_t i = 0; i < VX_LIMIT_GW_RESPONSES && !hit; i++) {
        response *r = &g->responses[i];
        if (r->id[0] && strcmp(r->id, response_id) == 0 &&
            strcmp(g->series[r->series].env, environment) == 0)
            hit = r;
    }
    if (!hit) {
        st = vx__error_set(err, VX_ENOTFOUND, "/response_id",
                           "no response '%s' is known (too old, or another "
                           "environment's)",
                           response_id);
        goto out;
    }
    if (hit->scored) {
        st = vx__error_set(err, VX_ECONFLICT, "/response_id",
                           "response '%s' already has feedback", response_id);
        goto out;
    }
    /* Both ids of the answer count as scored. */
    for (size_t i = 0; i < VX_LIMIT_GW_RESPONSES; i++) {
        response *r = &g->responses[i];
        if (r->id[0] && r->answer == hit->answer)
            r->scored = true;
    }
    series *s = &g->series[hit->series];
    if (up) {
        s->total.conversions++;
        s->delta.conversions++;
    } else {
        s->total.down++;
        s->delta.down++;
    }
out:
    pthread_mutex_unlock(&g->mu);
    return st;
}

static json_t *moments_json(const moments *m)
{
    return json_pack("{sI sf sf}", "count", (json_int_t)m->count, "sum", m->sum,
                     "sumsq", m->sumsq);
}

/* A per-request rate as moments: `n` of `requests` requests had it. */
static json_t *rate_json(int64_t n, int64_t requests)
{
    return json_pack("{sI sf sf}", "count", (json_int_t)requests, "sum",
                     (double)n, "sumsq", (double)n);
}

static double mean(const moments *m)
{
    return m->count ? m->sum / (double)m->count : 0.0;
}

json_t *gw_stats(gw *g, const char *environment)
{
    json_t *list = json_array();
    if (!list)
        return NULL;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nseries; i++) {
        const series *s = &g->series[i];
        const agg *a = &s->total;
        if (environment && strcmp(s->env, environment) != 0)
            continue;
        json_array_append_new(
            list,
            json_pack(
                "{ss ss ss sb sI sI sI sI sI sI sI sI sI s{sI sf} s{sI sf} "
                "s{sI sf}}",
                "environment", s->env, "flag", s->flag, "variant", s->variant,
                "enabled", s->enabled, "requests", (json_int_t)a->requests,
                "errors", (json_int_t)a->errors, "timeouts",
                (json_int_t)a->timeouts, "disconnects",
                (json_int_t)a->disconnects, "fallbacks",
                (json_int_t)a->fallbacks, "conversions",
                (json_int_t)a->conversions, "feedbackDown", (json_int_t)a->down,
                "promptTokens", (json_int_t)a->prompt.sum, "completionTokens",
                (json_int_t)a->completion.sum, "latencyMs", "count",
                (json_int_t)a->latency.count, "mean", mean(&a->latency),
                "ttftMs", "count", (json_int_t)a->ttft.count, "mean",
                mean(&a->ttft), "tokensPerSec", "count",
                (json_int_t)a->tps.count, "mean", mean(&a->tps)));
    }
    pthread_mutex_unlock(&g->mu);
    return list;
}

static void uuid4(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        uint64_t t = (uint64_t)wall_ms();
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)i;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

/* One metric item of IMPACT.md's batch for a series' delta. */
static json_t *metric_json(const series *s, const agg *a, const char *at)
{
    json_t *raw = json_array();
    for (size_t i = 0; raw && i < a->nraw; i++)
        json_array_append_new(raw, json_real(a->raw_ttft[i]));
    return json_pack(
        "{ss ss sb ss sI sI sI so so so s{so so so so so so so so}}", "flag",
        s->flag, "variant", s->variant, "enabled", s->enabled, "at", at,
        "requests", (json_int_t)a->requests, "errors", (json_int_t)a->errors,
        "conversions", (json_int_t)a->conversions, "latency",
        moments_json(&a->latency), "logLatency", moments_json(&a->log_latency),
        "ttftMs", raw, "values", "ttft_ms", moments_json(&a->ttft),
        "tokens_per_sec", moments_json(&a->tps), "prompt_tokens",
        moments_json(&a->prompt), "completion_tokens",
        moments_json(&a->completion), "timeouts",
        rate_json(a->timeouts, a->requests), "disconnects",
        rate_json(a->disconnects, a->requests), "fallbacks",
        rate_json(a->fallbacks, a->requests), "feedback_down",
        rate_json(a->down, a->requests));
}

/* Takes every series' delta and hands one batch per environment to the
 * sink. Thread only. The batch is stamped with the time it is taken, to
 * the millisecond: the guard puts an entry in the rollout epoch in force at
 * its `at`, so a stamp before the requests were served (such as the start
 * of their minute) would drop the first requests of a release plan and
 * count those after an advance in the previous epoch. */
static void flush(gw *g)
{
    double ms = wall_ms();
    time_t now = (time_t)(ms / 1e3);
    struct tm tm;
    gmtime_r(&now, &tm);
    char sec[32], at[40];
    strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(at, sizeof(at), "%s.%03dZ", sec, (int)fmod(ms, 1e3));
    json_t *by_env = json_object();
    if (!by_env)
        return;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nseries; i++) {
        series *s = &g->series[i];
        agg *d = &s->delta;
        if (d->requests == 0 && d->conversions == 0 && d->down == 0)
            continue;
        json_t *batch = json_object_get(by_env, s->env);
        if (!batch) {
            char id[37];
            uuid4(id);
            batch = json_pack("{ss s[]}", "batchId", id, "metrics");
            json_object_set_new(by_env, s->env, batch);
        }
        json_array_append_new(json_object_get(batch, "metrics"),
                              metric_json(s, d, at));
        memset(d, 0, sizeof(*d));
    }
    pthread_mutex_unlock(&g->mu);
    const char *env;
    json_t *batch;
    json_object_foreach (by_env, env, batch) {
        if (g->cfg.measure)
            g->cfg.measure(g->cfg.measure_ud, env, batch);
    }
    json_decref(by_env);
}

/* ---- calls -------------------------------------------------------------- */

void gw_request_id(gw *g, char out[GW_ID_BYTES])
{
    snprintf(out, GW_ID_BYTES, "gw-%llx-%llx",
             (unsigned long long)(uint64_t)wall_ms(),
             (unsigned long long)(atomic_fetch_add(&g->seq, 1) + 1));
}

static void call_unref(gw_call *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&c->mu);
    vx__free(c->pipe);
    vx__free(c->whole);
    vx__free(c->hdr.buf);
    gw_scan_release(&c->scan);
    vx__free(c->body[0]);
    vx__free(c->body[1]);
    vx__free(c);
}

static void poke(gw *g)
{
    atomic_store(&g->poked, true);
    curl_multi_wakeup(g->multi);
}

/* The body sent to `up`: the client's with "model" rewritten, without
 * "metadata" (the caller's context for targeting) unless `up` asks. */
static char *rewrite(const json_t *body, const vx_upstream *up, size_t *len)
{
    json_t *copy = json_copy((json_t *)body);
    char *text = NULL, *out = NULL;
    if (!copy || json_object_set_new(copy, "model", json_string(up->model)))
        goto done;
    if (!up->forward_metadata)
        json_object_del(copy, "metadata");
    text = json_dumps(copy, JSON_COMPACT);
    if (!text)
        goto done;
    *len = strlen(text);
    out = vx__malloc(*len + 1);
    if (out)
        memcpy(out, text, *len + 1);
done:
    free(text);
    json_decref(copy);
    return out;
}

vx_status gw_call_start(gw *g, const gw_request *req, const gw_client *client,
                        gw_call **out, vx_error *err)
{
    gw_call *c = NULL;
    vx_status st = VX_OK;
    *out = NULL;
    if (atomic_fetch_add(&g->inflight, 1) >= VX_LIMIT_GW_INFLIGHT) {
        atomic_fetch_sub(&g->inflight, 1);
        return vx__error_set(err, VX_ELIMIT, "",
                             "the gateway has %d requests in flight",
                             VX_LIMIT_GW_INFLIGHT);
    }
    c = vx__calloc(1, sizeof(*c));
    if (!c) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto fail;
    }
    atomic_init(&c->refs, 2);
    pthread_mutex_init(&c->mu, NULL);
    c->g = g;
    c->client = *client;
    c->up[0] = *req->up;
    c->has_control = req->control != NULL;
    if (c->has_control)
        c->up[1] = *req->control;
    copy_str(c->endpoint, sizeof(c->endpoint), req->endpoint);
    c->ollama = req->ollama;
    copy_str(c->env, sizeof(c->env), req->environment);
    copy_str(c->flag, sizeof(c->flag), req->flag);
    copy_str(c->variant, sizeof(c->variant), req->variant);
    c->enabled = req->enabled;
    if (req->id && req->id[0])
        copy_str(c->rid, sizeof(c->rid), req->id);
    else
        gw_request_id(g, c->rid);
    gw_scan_init(&c->scan);
    for (int k = 0; k < (c->has_control ? 2 : 1); k++) {
        c->body[k] = rewrite(req->body, &c->up[k], &c->body_len[k]);
        if (!c->body[k]) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto fail;
        }
    }
    /* The caller's pointer is set before the thread can see the call: its
     * callbacks may run at once. */
    *out = c;
    pthread_mutex_lock(&g->qmu);
    bool stopping = g->stopping;
    if (!stopping) {
        c->next = g->queue;
        g->queue = c;
    }
    pthread_mutex_unlock(&g->qmu);
    if (stopping) {
        *out = NULL;
        st = vx__error_set(err, VX_EIO, "", "the gateway is stopping");
        goto fail;
    }
    curl_multi_wakeup(g->multi);
    return VX_OK;
fail:
    if (c) {
        atomic_store(&c->refs, 1);
        call_unref(c);
    }
    atomic_fetch_sub(&g->inflight, 1);
    return st;
}

long gw_call_read(gw_call *c, char *buf, size_t max)
{
    long n = 0;
    bool resume = false;
    pthread_mutex_lock(&c->mu);
    size_t avail = c->pipe_len - c->pipe_off;
    if (avail == 0) {
        n = c->ended ? -1 : 0;
    } else {
        size_t k = avail < max ? avail : max;
        memcpy(buf, c->pipe + c->pipe_off, k);
        c->pipe_off += k;
        if (c->pipe_off == c->pipe_len)
            c->pipe_off = c->pipe_len = 0;
        n = (long)k;
        if (c->paused && c->pipe_len - c->pipe_off < VX_LIMIT_GW_PIPE_BYTES / 2)
            resume = true;
    }
    pthread_mutex_unlock(&c->mu);
    if (resume)
        poke(c->g);
    return n;
}

void gw_call_release(gw_call **cp)
{
    if (!cp || !*cp)
        return;
    gw_call *c = *cp;
    *cp = NULL;
    pthread_mutex_lock(&c->mu);
    c->released = true;
    bool running = !c->ended;
    if (running)
        c->gone = true;
    pthread_mutex_unlock(&c->mu);
    if (running)
        poke(c->g);
    call_unref(c);
}

/* Appends to the stream pipe; false when it is full (pause). */
static bool pipe_push(gw_call *c, const char *p, size_t n)
{
    pthread_mutex_lock(&c->mu);
    bool ok = true;
    if (c->pipe_off > 0 && c->pipe_len + n > c->pipe_cap) {
        memmove(c->pipe, c->pipe + c->pipe_off, c->pipe_len - c->pipe_off);
        c->pipe_len -= c->pipe_off;
        c->pipe_off = 0;
    }
    if (c->pipe_len + n > VX_LIMIT_GW_PIPE_BYTES && c->pipe_len > 0) {
        c->paused = true;
        ok = false;
    } else if (c->pipe_len + n > c->pipe_cap) {
        size_t cap = c->pipe_cap ? c->pipe_cap : 16384;
        while (cap < c->pipe_len + n)
            cap *= 2;
        char *np = vx__realloc(c->pipe, cap);
        if (!np) {
            c->paused = true; /* try again when the reader drained */
            ok = false;
        } else {
            c->pipe = np;
            c->pipe_cap = cap;
        }
    }
    if (ok) {
        memcpy(c->pipe + c->pipe_len, p, n);
        c->pipe_len += n;
        if (!c->released && c->client.wake)
            c->client.wake(c->client.ud);
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* ---- reading answers: usage, id, content chunks -------------------------- */

void gw_scan_init(gw_scan *s)
{
    memset(s, 0, sizeof(*s));
    s->prompt_tokens = s->completion_tokens = -1;
}

void gw_scan_release(gw_scan *s)
{
    vx__free(s->line);
    gw_scan_init(s);
}

/* One answer object (whole, or a stream's chunk). */
static void scan_object(gw_scan *s, const json_t *o)
{
    const json_t *id = json_object_get(o, "id");
    if (!s->id[0] && json_is_string(id))
        copy_str(s->id, sizeof(s->id), json_string_value(id));
    const json_t *usage = json_object_get(o, "usage");
    const json_t *pt = json_object_get(usage, "prompt_tokens");
    const json_t *ct = json_object_get(usage, "completion_tokens");
    if (json_is_integer(pt))
        s->prompt_tokens = json_integer_value(pt);
    if (json_is_integer(ct))
        s->completion_tokens = json_integer_value(ct);
    const json_t *choice = json_array_get(json_object_get(o, "choices"), 0);
    const json_t *delta = json_object_get(choice, "delta");
    const json_t *text = delta ? json_object_get(delta, "content")
                               : json_object_get(choice, "text");
    if (json_is_string(text) && json_string_length(text) > 0)
        s->chunks++;
    /* Ollama's native answers: the counts come with the last object
     * ("done": true; /api/embed has prompt_eval_count only). */
    const json_t *pe = json_object_get(o, "prompt_eval_count");
    const json_t *ev = json_object_get(o, "eval_count");
    if (json_is_integer(pe))
        s->prompt_tokens = json_integer_value(pe);
    if (json_is_integer(ev))
        s->completion_tokens = json_integer_value(ev);
    if (json_is_true(json_object_get(o, "done")))
        s->done = true;
    const json_t *msg = json_object_get(o, "message");
    text =
        msg ? json_object_get(msg, "content") : json_object_get(o, "response");
    if (json_is_string(text) && json_string_length(text) > 0)
        s->chunks++;
}

void gw_scan_whole(gw_scan *s, const char *p, size_t n)
{
    json_t *o = n ? json_loadb(p, n, 0, NULL) : NULL;
    if (o)
        scan_object(s, o);
    json_decref(o);
}

/* One complete line: an SSE "data:" JSON object, or an NDJSON object
 * (a line starting with "{", which no SSE field does), is an answer
 * chunk; one with an "error" member says the stream failed. */
static void scan_line(gw_scan *s)
{
    const char *p = s->line;
    size_t n = s->line_len;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n >= 5 && memcmp(p, "data:", 5) == 0) {
        p += 5;
        n -= 5;
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
    }
    if (n == 0 || *p != '{')
        return;
    json_t *o = json_loadb(p, n, 0, NULL);
    if (o) {
        scan_object(s, o);
        if (json_object_get(o, "error"))
            s->error = true;
    }
    json_decref(o);
}

void gw_scan_stream(gw_scan *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (!s->line_skip)
                scan_line(s);
            s->line_len = 0;
            s->line_skip = false;
            continue;
        }
        if (s->line_skip)
            continue;
        if (!s->line) {
            s->line = vx__malloc(VX_LIMIT_GW_SSE_LINE_BYTES);
            if (!s->line) {
                s->line_skip = true; /* counts are lost, not the answer */
                continue;
            }
        }
        if (s->line_len >= VX_LIMIT_GW_SSE_LINE_BYTES) {
            s->line_skip = true;
            continue;
        }
        s->line[s->line_len++] = p[i];
    }
}

static void respond(gw_call *c, const gw_reply *r)
{
    c->responded = true;
    pthread_mutex_lock(&c->mu);
    bool released = c->released;
    pthread_mutex_unlock(&c->mu);
    if (!released)
        c->client.respond(c->client.ud, r);
}

static const char *served_variant(const gw_call *c)
{
    return c->on_control ? "control" : c->variant;
}

/* ---- the upstream's answer headers -------------------------------------- */

/* Headers never passed on (compared without case): the hop-by-hop ones
 * (RFC 9110 7.6.1), those the gateway writes itself (framing, type, date,
 * server, its own X-Vexil-*), and those that bind the upstream's origin or
 * its session: they would claim the gateway's origin for another server
 * (cookies, addresses, transport, security and reporting policies, CORS). */
static const char *const not_passed[] = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-type",
    "date",
    "server",
    "set-cookie",
    "set-cookie2",
    "location",
    "content-location",
    "refresh",
    "alt-svc",
    "strict-transport-security",
    "public-key-pins",
    "expect-ct",
    "nel",
    "report-to",
    "reporting-endpoints",
};
static const char *const not_passed_prefix[] = {"x-vexil-", "proxy-",
                                                "access-control-"};

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* `n` bytes of `a` equal the lowercase `b`, or start with it (`prefix`). */
static bool ieq(const char *a, size_t n, const char *b, bool prefix)
{
    size_t bn = strlen(b);
    if (prefix ? n < bn : n != bn)
        return false;
    for (size_t i = 0; i < bn; i++) {
        if (lower(a[i]) != b[i])
            return false;
    }
    return true;
}

/* `needle` (NUL-terminated, not empty) in `n` bytes of `hay`, any case. */
static bool icontains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k && i + k <= n; i++) {
        size_t j = 0;
        while (j < k && lower(hay[i + j]) == lower(needle[j]))
            j++;
        if (j == k)
            return true;
    }
    return false;
}

static bool passable(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(not_passed) / sizeof(not_passed[0]); i++) {
        if (ieq(name, n, not_passed[i], false))
            return false;
    }
    for (size_t i = 0;
         i < sizeof(not_passed_prefix) / sizeof(not_passed_prefix[0]); i++) {
        if (ieq(name, n, not_passed_prefix[i], true))
            return false;
    }
    return true;
}

/* A field value without control characters (tabs aside). */
static bool value_ok(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

static void hdrs_reset(hdrs *h)
{
    h->len = 0;
    h->n = 0;
    h->dropped = 0;
    h->conn[0] = '\0';
}

/* The host of an is_http `url`, without userinfo, port or brackets. */
static void url_host(const char *url, char *out, size_t cap)
{
    const char *p = url + vx__url_scheme_len(url);
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n > 0 && *p == '[') {
        const char *end = memchr(p, ']', n);
        n = end ? (size_t)(end - p - 1) : n - 1;
        p++;
    } else {
        const char *colon = memchr(p, ':', n);
        if (colon)
            n = (size_t)(colon - p);
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* libcurl's header callback: keeps the answer's headers worth passing on
 * (one line each; the status line of every answer, 1xx included, starts
 * the list over). Thread only. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    gw_call *c = ud;
    hdrs *h = &c->hdr;
    size_t len = size * nmemb;
    if (c->mode != MODE_UNKNOWN)
        return len; /* trailers: the head went out already */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        hdrs_reset(h);
        return len;
    }
    size_t n = len;
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (n == 0 || p[0] == ' ' || p[0] == '\t')
        return len; /* the end of the head, or an obsolete folded line */
    const char *colon = memchr(p, ':', n);
    if (!colon)
        return len;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (!vx__http_token(p, nl) || !value_ok(v, vl)) {
        h->dropped++;
        return len;
    }
    if (ieq(p, nl, "connection", false)) {
        /* Names more hop-by-hop headers, left out at the end. */
        size_t cl = strlen(h->conn);
        if (cl + vl + 2 < sizeof(h->conn))
            snprintf(h->conn + cl, sizeof(h->conn) - cl, ",%.*s", (int)vl, v);
        return len;
    }
    if (!passable(p, nl))
        return len;
    if ((c->host[0] && icontains(v, vl, c->host)) ||
        h->n >= VX_LIMIT_GW_REPLY_HEADERS ||
        h->len + nl + vl + 2 > VX_LIMIT_GW_REPLY_HEADER_BYTES) {
        h->dropped++; /* names the upstream, or past the limits */
        return len;
    }
    if (h->len + nl + vl + 2 > h->cap) {
        size_t cap = h->cap ? h->cap : 1024;
        while (cap < h->len + nl + vl + 2)
            cap *= 2;
        char *np = vx__realloc(h->buf, cap);
        if (!np) {
            h->dropped++;
            return len;
        }
        h->buf = np;
        h->cap = cap;
    }
    h->at[h->n++] = h->len;
    memcpy(h->buf + h->len, p, nl);
    h->buf[h->len + nl] = '\0';
    memcpy(h->buf + h->len + nl + 1, v, vl);
    h->buf[h->len + nl + 1 + vl] = '\0';
    h->len += nl + vl + 2;
    return len;
}

/* True when the upstream's Connection header named `name`. */
static bool conn_named(const hdrs *h, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = h->conn; *p;) {
        p += strspn(p, ", \t");
        size_t k = strcspn(p, ", \t");
        if (k == nl) {
            size_t i = 0;
            while (i < k && lower(p[i]) == lower(name[i]))
                i++;
            if (i == k)
                return true;
        }
        p += k;
    }
    return false;
}

/* The headers to pass on, into `names` and `values`; their count. */
static size_t hdrs_out(const gw_call *c, const char **names,
                       const char **values)
{
    size_t k = 0;
    for (size_t i = 0; i < c->hdr.n; i++) {
        const char *name = c->hdr.buf + c->hdr.at[i];
        if (conn_named(&c->hdr, name))
            continue;
        names[k] = name;
        values[k] = name + strlen(name) + 1;
        k++;
    }
    return k;
}

/* The upstream's answer: its head, and its whole body unless `stream`. */
static void respond_upstream(gw_call *c, unsigned status, const char *ctype,
                             bool stream, const char *body, size_t len)
{
    const char *names[VX_LIMIT_GW_REPLY_HEADERS];
    const char *values[VX_LIMIT_GW_REPLY_HEADERS];
    size_t n = hdrs_out(c, names, values);
    gw_reply r = {
        .status = status,
        .ctype = ctype,
        .variant = served_variant(c),
        .failed = c->on_control ? c->variant : NULL,
        .response_id = c->rid,
        .stream = stream,
        .body = body ? body : "",
        .len = len,
        .hnames = names,
        .hvalues = values,
        .nheaders = n,
    };
    respond(c, &r);
}

/* A gateway-made error: the client side writes it in its dialect. */
static void respond_problem(gw_call *c, unsigned status, const char *msg)
{
    gw_reply r = {
        .status = status,
        .ctype = "application/json",
        .variant = served_variant(c),
        .failed = c->on_control ? c->variant : NULL,
        .response_id = c->rid,
        .body = "",
        .problem = msg,
    };
    respond(c, &r);
}

/* What the client is told of a failed attempt, and its status: no URL and
 * no address (libcurl's message has them; it goes to the log). */
static unsigned failure_text(const gw_call *c, CURLcode rc, char *msg,
                             size_t cap)
{
    const char *v = served_variant(c);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(msg, cap,
                 "the model upstream of variant '%s' did not answer within "
                 "%u ms",
                 v, c->up[c->on_control ? 1 : 0].timeout_ms);
        return 504;
    }
    if (c->too_big) {
        snprintf(msg, cap,
                 "the model upstream of variant '%s' answered more than %zu "
                 "bytes",
                 v, VX_LIMIT_GW_RESPONSE_BYTES);
        return 502;
    }
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        snprintf(msg, cap,
                 "the model upstream of variant '%s' could not be reached", v);
        break;
    default:
        snprintf(msg, cap,
                 "the model upstream of variant '%s' failed before its answer "
                 "was complete",
                 v);
        break;
    }
    return 502;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    gw_call *c = ud;
    size_t n = size * nmemb;
    pthread_mutex_lock(&c->mu);
    bool gone = c->gone;
    pthread_mutex_unlock(&c->mu);
    if (gone)
        return 0; /* aborts the transfer */
    if (c->t_first == 0)
        c->t_first = mono_ms();
    if (c->mode == MODE_UNKNOWN) {
        long code = 0;
        char *ctype = NULL;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ctype);
        bool sse = ctype && (strncmp(ctype, "text/event-stream", 17) == 0 ||
                             strncmp(ctype, "application/x-ndjson", 20) == 0);
        if (code >= 200 && code < 300 && sse) {
            c->mode = MODE_STREAM;
            respond_upstream(c, (unsigned)code, ctype, true, NULL, 0);
        } else {
            c->mode = MODE_WHOLE;
        }
    }
    if (c->mode == MODE_WHOLE) {
        if (c->whole_len + n > VX_LIMIT_GW_RESPONSE_BYTES) {
            c->too_big = true;
            return 0;
        }
        if (c->whole_len + n > c->whole_cap) {
            size_t cap = c->whole_cap ? c->whole_cap : 4096;
            while (cap < c->whole_len + n)
                cap *= 2;
            char *np = vx__realloc(c->whole, cap);
            if (!np)
                return 0;
            c->whole = np;
            c->whole_cap = cap;
        }
        memcpy(c->whole + c->whole_len, p, n);
        c->whole_len += n;
        return n;
    }
    if (!pipe_push(c, p, n))
        return CURL_WRITEFUNC_PAUSE; /* the same bytes come again later */
    gw_scan_stream(&c->scan, p, n);
    return n;
}

static CURL *easy_get(gw *g)
{
    if (g->npool > 0) {
        CURL *e = g->pool[--g->npool];
        curl_easy_reset(e);
        return e;
    }
    return curl_easy_init();
}

static void easy_put(gw *g, CURL *e)
{
    if (g->npool < EASY_POOL)
        g->pool[g->npool++] = e;
    else
        curl_easy_cleanup(e);
}

static void active_add(gw *g, gw_call *c)
{
    c->prev = NULL;
    c->next = g->active;
    if (g->active)
        g->active->prev = c;
    g->active = c;
}

static void active_remove(gw *g, gw_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        g->active = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* Sends the current attempt (chosen or control). False when it cannot be
 * set up (then the caller finishes the call). Thread only. */
static bool attempt_start(gw *g, gw_call *c)
{
    int k = c->on_control ? 1 : 0;
    const vx_upstream *up = &c->up[k];
    const char *root = c->ollama ? up->ollama_url : up->base_url;
    char url[VX_LIMIT_GW_URL_BYTES + 80];
    size_t bl = strlen(root);
    while (bl > 0 && root[bl - 1] == '/')
        bl--;
    snprintf(url, sizeof(url), "%.*s/%s", (int)bl, root, c->endpoint);
    if (g->cfg.egress) {
        vx_error why;
        memset(&why, 0, sizeof(why));
        if (vx__egress_url(g->cfg.egress, url, "", &why) != VX_OK ||
            (up->key_env[0] &&
             vx__egress_key(g->cfg.egress, up->key_env, "", &why) != VX_OK)) {
            vx__logf(g->cfg.log, g->cfg.log_ud, "warn",
                     "gateway: %s/%s: upstream not called: %s", c->flag,
                     k ? "control" : c->variant, why.message);
            return false;
        }
    }
    url_host(root, c->host, sizeof(c->host));
    c->easy = easy_get(g);
    if (!c->easy)
        return false;
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = c->headers ? curl_slist_append(c->headers, "Expect:") : NULL;
    if (c->headers && up->key_env[0]) {
        const char *key = getenv(up->key_env);
        if (key && *key) {
            char h[1024];
            int hn = snprintf(h, sizeof(h), "Authorization: Bearer %s", key);
            struct curl_slist *nh = hn > 0 && (size_t)hn < sizeof(h)
                                        ? curl_slist_append(c->headers, h)
                                        : NULL;
            explicit_bzero(h, sizeof(h)); /* no copy of the key left */
            if (!nh) {
                curl_slist_free_all(c->headers);
                c->headers = NULL;
            } else {
                c->headers = nh;
            }
        }
    }
    if (!c->headers) {
        easy_put(g, c->easy);
        c->easy = NULL;
        return false;
    }
    CURL *e = c->easy;
    c->err[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body[k]);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)c->body_len[k]);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)up->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    c->mode = MODE_UNKNOWN;
    c->whole_len = 0;
    c->too_big = false;
    hdrs_reset(&c->hdr);
    c->t_first = 0;
    gw_scan_release(&c->scan);
    c->t0 = mono_ms();
    if (curl_multi_add_handle(g->multi, e) != CURLM_OK) {
        curl_slist_free_all(c->headers);
        c->headers = NULL;
        easy_put(g, e);
        c->easy = NULL;
        return false;
    }
    return true;
}

static void attempt_end(gw *g, gw_call *c)
{
    if (c->easy) {
        curl_multi_remove_handle(g->multi, c->easy);
        easy_put(g, c->easy);
        c->easy = NULL;
    }
    curl_slist_free_all(c->headers); /* the key goes with it */
    c->headers = NULL;
}

/* The call is over for the thread: end the stream, drop its reference. */
static void finish(gw *g, gw_call *c)
{
    pthread_mutex_lock(&c->mu);
    c->ended = true;
    if (!c->released && c->client.wake)
        c->client.wake(c->client.ud);
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_sub(&g->inflight, 1);
    call_unref(c);
}

/* A transfer ended with `rc`. Thread only; `c` is off the active list. */
static void attempt_done(gw *g, gw_call *c, CURLcode rc)
{
    long code = 0;
    char *ct = NULL;
    char ctype[128] = "application/json";
    if (c->easy) {
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
        if (ct && *ct)
            copy_str(ctype, sizeof(ctype), ct);
    }
    pthread_mutex_lock(&c->mu);
    bool gone = c->gone;
    pthread_mutex_unlock(&c->mu);
    char why[CURL_ERROR_SIZE + 64];
    snprintf(why, sizeof(why), "%s",
             c->err[0] ? c->err : curl_easy_strerror(rc));
    attempt_end(g, c);
    if (gone) {
        if (!c->on_control)
            measure(g, c, OUT_GONE, false);
        finish(g, c);
        return;
    }
    bool timeout = rc == CURLE_OPERATION_TIMEDOUT;
    bool failed = rc != CURLE_OK || (c->mode != MODE_STREAM && code >= 500) ||
                  (c->mode == MODE_STREAM && c->scan.error);
    if (failed && !c->responded && !c->on_control && c->has_control &&
        g->cfg.fallback) {
        /* The log may name the upstream (libcurl's message); the answer
         * never does. */
        vx__logf(g->cfg.log, g->cfg.log_ud, "warn",
                 "gateway: %s variant %s failed (%s), falling back to control",
                 c->flag, c->variant,
                 c->too_big       ? "an answer over the size limit"
                 : rc != CURLE_OK ? why
                                  : "an HTTP 5xx answer");
        measure(g, c, timeout ? OUT_TIMEOUT : OUT_ERROR, true);
        c->on_control = true;
        if (attempt_start(g, c)) {
            active_add(g, c);
            return;
        }
        respond_problem(c, 502,
                        "the control's model upstream could not be called");
        finish(g, c);
        return;
    }
    /* Measured before the client is answered: whoever saw the answer
     * finds it in the stats and can give feedback on its id. */
    outcome o = timeout ? OUT_TIMEOUT : failed ? OUT_ERROR : OUT_OK;
    if (c->responded || rc != CURLE_OK) {
        if (!c->on_control)
            measure(g, c, o, false);
        if (!c->responded) {
            char msg[VX_LIMIT_GW_NAME_BYTES + 128];
            unsigned status = failure_text(c, rc, msg, sizeof(msg));
            vx__logf(g->cfg.log, g->cfg.log_ud, "warn",
                     "gateway: %s variant %s failed (%s), answered %u", c->flag,
                     served_variant(c),
                     c->too_big ? "an answer over the size limit" : why,
                     status);
            respond_problem(c, status, msg);
        }
        finish(g, c);
        return;
    }
    gw_scan_whole(&c->scan, c->whole, c->whole_len);
    if (!c->on_control)
        measure(g, c, o, false);
    respond_upstream(c, (unsigned)(code ? code : 502), ctype, false, c->whole,
                     c->whole_len);
    finish(g, c);
}

/* Starts the queued calls. Thread only. */
static void take_queue(gw *g)
{
    pthread_mutex_lock(&g->qmu);
    gw_call *q = g->queue;
    g->queue = NULL;
    pthread_mutex_unlock(&g->qmu);
    while (q) {
        gw_call *c = q;
        q = q->next;
        c->next = NULL;
        if (attempt_start(g, c)) {
            active_add(g, c);
        } else {
            respond_problem(c, 502,
                            "the model upstream request could not be set up");
            finish(g, c);
        }
    }
}

/* Cancels calls whose client went away and resumes paused ones. */
static void visit_active(gw *g)
{
    if (!atomic_exchange(&g->poked, false))
        return;
    for (gw_call *c = g->active, *next; c; c = next) {
        next = c->next;
        pthread_mutex_lock(&c->mu);
        bool gone = c->gone;
        bool resume =
            c->paused && c->pipe_len - c->pipe_off < VX_LIMIT_GW_PIPE_BYTES / 2;
        if (resume)
            c->paused = false;
        pthread_mutex_unlock(&c->mu);
        if (gone) {
            active_remove(g, c);
            attempt_done(g, c, CURLE_ABORTED_BY_CALLBACK);
        } else if (resume && c->easy) {
            curl_easy_pause(c->easy, CURLPAUSE_CONT);
        }
    }
}

static void read_done(gw *g)
{
    CURLMsg *m;
    int left = 0;
    for (;;) {
        m = curl_multi_info_read(g->multi, &left);
        if (!m)
            break;
        if (m->msg != CURLMSG_DONE)
            continue;
        gw_call *c = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CURLcode rc = m->data.result;
        if (!c)
            continue;
        active_remove(g, c);
        attempt_done(g, c, rc);
    }
}

static double next_flush_at(const gw *g, double now)
{
    double p = g->cfg.flush_ms;
    if (p >= 60000)
        return now - fmod(now, 60000.0) + 60000.0; /* minute boundaries */
    return now + p;
}

static void *thread_main(void *ud)
{
    gw *g = ud;
    int running = 0;
    g->next_flush = next_flush_at(g, wall_ms());
    for (;;) {
        pthread_mutex_lock(&g->qmu);
        bool stopping = g->stopping;
        pthread_mutex_unlock(&g->qmu);
        if (stopping)
            break;
        double until = g->next_flush - wall_ms();
        int wait = until < 1 ? 0 : until > 1000 ? 1000 : (int)until;
        curl_multi_poll(g->multi, NULL, 0, wait, NULL);
        take_queue(g);
        visit_active(g);
        curl_multi_perform(g->multi, &running);
        read_done(g);
        if (wall_ms() >= g->next_flush) {
            flush(g);
            g->next_flush = next_flush_at(g, wall_ms());
        }
    }
    /* Stopping: answer everything still here. */
    take_queue(g);
    while (g->active) {
        gw_call *c = g->active;
        active_remove(g, c);
        attempt_end(g, c);
        if (!c->responded)
            respond_problem(c, 503, "the gateway is stopping");
        finish(g, c);
    }
    flush(g);
    return NULL;
}

vx_status gw_new(const gw_config *cfg, gw **out, vx_error *err)
{
    vx_status st = VX_OK;
    gw *g = vx__calloc(1, sizeof(*g));
    *out = NULL;
    if (!g)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    g->cfg = *cfg;
    if (g->cfg.flush_ms == 0 || g->cfg.flush_ms > 60000)
        g->cfg.flush_ms = 60000;
    pthread_mutex_init(&g->qmu, NULL);
    pthread_mutex_init(&g->mu, NULL);
    atomic_init(&g->inflight, 0);
    atomic_init(&g->poked, false);
    atomic_init(&g->seq, 0);
    g->series = vx__calloc(VX_LIMIT_GW_SERIES, sizeof(*g->series));
    g->responses = vx__calloc(VX_LIMIT_GW_RESPONSES, sizeof(*g->responses));
    g->multi = curl_multi_init();
    if (!g->series || !g->responses || !g->multi) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto fail;
    }
    curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, 256L);
    if (pthread_create(&g->thread, NULL, thread_main, g) != 0) {
        st = vx__error_set(err, VX_EIO, "", "cannot start the gateway thread");
        goto fail;
    }
    g->started = true;
    *out = g;
    return VX_OK;
fail:
    gw_free(&g);
    return st;
}

void gw_stop(gw *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->qmu);
    bool was = g->stopping;
    g->stopping = true;
    pthread_mutex_unlock(&g->qmu);
    if (was || !g->started)
        return;
    curl_multi_wakeup(g->multi);
    pthread_join(g->thread, NULL);
    g->stopped = true;
}

void gw_free(gw **gp)
{
    if (!gp || !*gp)
        return;
    gw *g = *gp;
    gw_stop(g);
    for (size_t i = 0; i < g->npool; i++)
        curl_easy_cleanup(g->pool[i]);
    if (g->multi)
        curl_multi_cleanup(g->multi);
    vx__free(g->series);
    vx__free(g->responses);
    pthread_mutex_destroy(&g->qmu);
    pthread_mutex_destroy(&g->mu);
    vx__free(g);
    *gp = NULL;
}
