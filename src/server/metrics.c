/* Prometheus registry: see metrics.h. Layout: one flat array of counters
 * indexed [route][method][status] and one of histogram slots indexed
 * [route][bucket]; the bucket slots are not cumulative (render adds them
 * up), so an observation touches exactly three atomics. */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"

static const char *const methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                      "PATCH", "DELETE", "OPTIONS", "other"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static const unsigned statuses[] = {200, 201, 202, 204, 304, 400,
                                    401, 403, 404, 405, 409, 413,
                                    415, 429, 431, 500, 503, 0 /* other */};
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))

/* Upper bounds in seconds; one more slot holds +Inf. */
static const double buckets[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define NSLOTS   (NBUCKETS + 1)

struct metrics {
    const char *const *labels; /* route labels, borrowed */
    size_t nroutes;            /* rows of the arrays below */
    _Atomic uint64_t *count;   /* [route][method][status] requests */
    _Atomic uint64_t *slot;    /* [route][NSLOTS] latency, not cumulative */
    _Atomic uint64_t *sum_ns;  /* [route] total latency in nanoseconds */
};

vx_status metrics_new(const char *const *labels, size_t nroutes, metrics **out)
{
    vx_status st = VX_ENOMEM;
    metrics *m = vx__malloc(sizeof(*m));
    *out = NULL;
    if (!m)
        goto out;
    memset(m, 0, sizeof(*m));
    m->labels = labels;
    m->nroutes = nroutes;
    size_t ncount = nroutes * NMETHODS * NSTATUSES;
    m->count = vx__malloc(ncount * sizeof(*m->count));
    m->slot = vx__malloc(nroutes * NSLOTS * sizeof(*m->slot));
    m->sum_ns = vx__malloc(nroutes * sizeof(*m->sum_ns));
    if (!m->count || !m->slot || !m->sum_ns)
        goto out;
    for (size_t i = 0; i < ncount; i++)
        atomic_init(&m->count[i], 0);
    for (size_t i = 0; i < nroutes * NSLOTS; i++)
        atomic_init(&m->slot[i], 0);
    for (size_t i = 0; i < nroutes; i++)
        atomic_init(&m->sum_ns[i], 0);
    *out = m;
    m = NULL;
    st = VX_OK;
out:
    metrics_free(&m);
    return st;
}

void metrics_free(metrics **mp)
{
    if (!mp || !*mp)
        return;
    metrics *m = *mp;
    vx__free(m->count);
    vx__free(m->slot);
    vx__free(m->sum_ns);
    vx__free(m);
    *mp = NULL;
}

static size_t method_index(const char *method)
{
    for (size_t i = 0; i + 1 < NMETHODS; i++) {
        if (strcmp(methods[i], method) == 0)
            return i;
    }
    return NMETHODS - 1;
}

static size_t status_index(unsigned status)
{
    for (size_t i = 0; i + 1 < NSTATUSES; i++) {
        if (statuses[i] == status)
            return i;
    }
    return NSTATUSES - 1;
}

void metrics_observe(metrics *m, size_t route, const char *method,
                     unsigned status, double seconds)
{
    if (!m || route >= m->nroutes)
        return;
    size_t ci = (route * NMETHODS + method_index(method)) * NSTATUSES +
                status_index(status);
    atomic_fetch_add_explicit(&m->count[ci], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < NBUCKETS && seconds > buckets[b])
        b++;
    atomic_fetch_add_explicit(&m->slot[route * NSLOTS + b], 1,
                              memory_order_relaxed);
    if (seconds < 0)
        seconds = 0;
    atomic_fetch_add_explicit(&m->sum_ns[route], (uint64_t)(seconds * 1e9),
                              memory_order_relaxed);
}

/* A text buffer grown in the arena (doubling; the old copies are garbage
 * until the arena goes) and bounded by VX_LIMIT_HTTP_METRICS_BYTES. */
typedef struct text {
    vx_arena *arena; /* where the bytes live */
    char *p;         /* NUL-terminated text */
    size_t len;      /* bytes used, without the NUL */
    size_t cap;      /* bytes available including the NUL */
    vx_status st;    /* first failure; later appends do nothing */
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt,
                                                      ...)
{
    if (t->st != VX_OK)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->st = VX_EINVAL;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        if (cap > VX_LIMIT_HTTP_METRICS_BYTES) {
            t->st = VX_ELIMIT;
            return;
        }
        char *p = vx__arena_alloc(t->arena, cap);
        if (!p) {
            t->st = VX_ENOMEM;
            return;
        }
        memcpy(p, t->p, t->len + 1);
        t->p = p;
        t->cap = cap;
    }
}

static void render_counters(const metrics *m, text *t)
{
    put(t, "# HELP vexil_http_requests_total HTTP requests answered, by "
           "route, method and status.\n"
           "# TYPE vexil_http_requests_total counter\n");
    for (size_t r = 0; r < m->nroutes; r++) {
        for (size_t mi = 0; mi < NMETHODS; mi++) {
            for (size_t si = 0; si < NSTATUSES; si++) {
                size_t ci = (r * NMETHODS + mi) * NSTATUSES + si;
                uint64_t v =
                    atomic_load_explicit(&m->count[ci], memory_order_relaxed);
                if (v == 0)
                    continue;
                char status[16];
                if (statuses[si])
                    snprintf(status, sizeof(status), "%u", statuses[si]);
                else
                    snprintf(status, sizeof(status), "other");
                put(t,
                    "vexil_http_requests_total{route=\"%s\",method=\"%s\","
                    "status=\"%s\"} %llu\n",
                    m->labels[r], methods[mi], status, (unsigned long long)v);
            }
        }
    }
}

static void render_histograms(const metrics *m, text *t)
{
    put(t, "# HELP vexil_http_request_duration_seconds Time from the request "
           "line to the answer sent.\n"
           "# TYPE vexil_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < m->nroutes; r++) {
        uint64_t seen[NSLOTS];
        uint64_t total = 0;
        for (size_t b = 0; b < NSLOTS; b++) {
            seen[b] = atomic_load_explicit(&m->slot[r * NSLOTS + b],
                                           memory_order_relaxed);
            total += seen[b];
        }
        if (total == 0)
            continue;
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += seen[b];
            put(t,
                "vexil_http_request_duration_seconds_bucket{route=\"%s\","
                "le=\"%g\"} %llu\n",
                m->labels[r], buckets[b], (unsigned long long)cum);
        }
        uint64_t ns = atomic_load_explicit(&m->sum_ns[r], memory_order_relaxed);
        put(t,
            "vexil_http_request_duration_seconds_bucket{route=\"%s\","
            "le=\"+Inf\"} %llu\n"
            "vexil_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
            "vexil_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
            m->labels[r], (unsigned long long)total, m->labels[r],
            (double)ns / 1e9, m->labels[r], (unsigned long long)total);
    }
}

vx_status metrics_render(const metrics *m, const svc_stats *stats,
                         vx_arena *arena, char **out, size_t *len)
{
    text t = {.arena = arena, .cap = 4096, .st = VX_OK};
    *out = NULL;
    *len = 0;
    t.p = vx__arena_alloc(arena, t.cap);
    if (!t.p) {
        t.st = VX_ENOMEM;
        goto out;
    }
    t.p[0] = '\0';
    render_counters(m, &t);
    render_histograms(m, &t);
    put(&t,
        "# HELP vexil_flags Feature flags by state.\n"
        "# TYPE vexil_flags gauge\n"
        "vexil_flags{state=\"active\"} %lld\n"
        "vexil_flags{state=\"archived\"} %lld\n"
        "# HELP vexil_db_errors_total Store calls that failed with an I/O "
        "error.\n"
        "# TYPE vexil_db_errors_total counter\n"
        "vexil_db_errors_total %lld\n",
        (long long)stats->flags_active, (long long)stats->flags_archived,
        (long long)stats->db_errors);
    if (t.st == VX_OK) {
        *out = t.p;
        *len = t.len;
    }
out:
    return t.st;
}
