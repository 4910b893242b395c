/* The Unleash client API for server-side SDKs (/api/client/...): features
 * with ETag and gzip, one feature, delta, streaming (SSE), register and
 * metrics. Everything but register and metrics is answered from the SDK
 * hub's memory while the request's headers are in: no database query. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/limits.h"
#include "server/dbpool.h"
#include "server/router.h"
#include "server/sdk_api.h"

/* Per-request state of a streaming request. */
typedef struct sse {
    _Atomic(http_stream *) stream; /* set once the answer is made */
} sse;

/* Strips one pair of quotes and a weak prefix from a validator. */
static const char *unquote(const char *v, size_t *len, vx_arena *a)
{
    if (!v)
        return NULL;
    while (*v == ' ')
        v++;
    if (strncmp(v, "W/", 2) == 0)
        v += 2;
    size_t n = strlen(v);
    while (n && v[n - 1] == ' ')
        n--;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    *len = n;
    return vx__arena_strndup(a, v, n);
}

/* Parses a revision from If-None-Match or Last-Event-ID; -1 when absent or
 * not a number. */
static int64_t revision_of(const char *v, vx_arena *a)
{
    size_t n = 0;
    const char *s = unquote(v, &n, a);
    if (!s || !n)
        return -1;
    char *end = NULL;
    long long x = strtoll(s, &end, 10);
    return (*end || x < 0) ? -1 : (int64_t)x;
}

/* Whether the SDK receives a "segments" array (client spec >= 4.2.0) or
 * inlined constraints; false with a 400 answered for a malformed header. */
static bool segments_mode(http_req *r, bool *inline_segments)
{
    const char *v = http_req_header(r, "Unleash-Client-Spec");
    *inline_segments = true;
    if (!v)
        return true;
    unsigned maj = 0, min = 0, pat = 0;
    char rest = 0;
    int n = sscanf(v, "%u.%u.%u%c", &maj, &min, &pat, &rest);
    if (n < 3 || (n == 4 && rest != '-' && rest != '+')) {
        http_reply_problem(r, 400, "Unleash-Client-Spec must be a version",
                           "/headers/Unleash-Client-Spec", NULL);
        return false;
    }
    *inline_segments = maj < 4 || (maj == 4 && min < 2);
    return true;
}

static bool accepts_gzip(http_req *r)
{
    const char *v = http_req_header(r, "Accept-Encoding");
    return v && strstr(v, "gzip") != NULL;
}

/* The scope of an SDK request: the token's projects and the query's
 * filters (the token's environment always wins over ?environment=). */
static bool scope_of(http_req *r, const svc_principal *who, hub_scope *sc)
{
    const json_t *q = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = http_req_query(r, &q, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return false;
    }
    memset(sc, 0, sizeof(*sc));
    sc->projects = who->projects;
    sc->project = json_string_value(json_object_get(q, "project"));
    sc->name_prefix = json_string_value(json_object_get(q, "namePrefix"));
    sc->tag = json_string_value(json_object_get(q, "tag"));
    /* An edge node following this process (hub_scope.edge). */
    sc->edge = json_object_get(q, "edge") != NULL;
    return true;
}

/* The published state of the token's environment, held by the request
 * (never waits on the database: sdk_api_state). */
static hub_state *state_for(sdk_api *a, http_req *r, sdk_req *q)
{
    return sdk_api_state(a, r, q) ? q->state : NULL;
}

static void serve_features(sdk_api *a, http_req *r, sdk_req *q)
{
    hub_scope sc;
    bool inl = true;
    if (!segments_mode(r, &inl) || !scope_of(r, &q->who, &sc))
        return;
    sc.inline_segments = inl;
    sc.edge = false; /* the edge scope is for delta and streams */
    hub_state *s = state_for(a, r, q);
    if (!s)
        return;
    const hub_body *b = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = hub_state_features_body(s, &sc, accepts_gzip(r),
                                           http_req_arena(r), &b, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    http_reply_header(r, "ETag", b->etag);
    http_reply_header(r, "Cache-Control", "no-cache");
    http_reply_header(r, "Vary", "Accept-Encoding");
    const char *inm = http_req_header(r, "If-None-Match");
    if (inm && strcmp(inm, b->etag) == 0) {
        http_reply_text(r, 304, NULL, "", 0);
        return;
    }
    if (b->gzipped)
        http_reply_header(r, "Content-Encoding", "gzip");
    http_reply_text(r, 200, "application/json", b->bytes, b->len);
}

static void serve_feature(sdk_api *a, http_req *r, sdk_req *q, const char *name)
{
    hub_scope sc;
    if (!scope_of(r, &q->who, &sc))
        return;
    hub_state *s = state_for(a, r, q);
    if (!s)
        return;
    const hub_flag *f = hub_state_find(s, name);
    if (!f || !hub_scope_match(&sc, f)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "flag '%.150s' not found", name);
        http_reply_problem(r, 404, msg, "", NULL);
        return;
    }
    http_reply_text(r, 200, "application/json", f->text, f->text_len);
}

static void serve_delta(sdk_api *a, http_req *r, sdk_req *q)
{
    hub_scope sc;
    if (!scope_of(r, &q->who, &sc))
        return;
    hub_state *s = state_for(a, r, q);
    if (!s)
        return;
    int64_t since =
        revision_of(http_req_header(r, "If-None-Match"), http_req_arena(r));
    char *body = NULL;
    size_t len = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st =
        hub_delta(a->hub, s, since, &sc, http_req_arena(r), &body, &len, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    char *etag = vx__arena_alloc(http_req_arena(r), 32);
    if (!etag) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    snprintf(etag, 32, "\"%lld\"", (long long)hub_state_revision(s));
    http_reply_header(r, "ETag", etag);
    http_reply_header(r, "Cache-Control", "no-cache");
    if (!body)
        http_reply_text(r, 304, NULL, "", 0);
    else
        http_reply_text(r, 200, "application/json", body, len);
}

static void sse_wake(void *ud)
{
    sse *e = ud;
    http_stream *s = atomic_load(&e->stream);
    if (s)
        http_stream_wake(s);
}

static long sse_pull(void *ud, char *buf, size_t max)
{
    sdk_req *q = ud;
    /* A bounded piece per call: libmicrohttpd writes it into the
     * connection's buffer, and only the pages written count in its memory
     * (a stream is mostly idle; a hydration just takes more calls). */
    return hub_sub_read(
        q->sub, buf,
        max < VX_LIMIT_SSE_WRITE_BYTES ? max : VX_LIMIT_SSE_WRITE_BYTES);
}

static void serve_streaming(sdk_api *a, http_req *r, sdk_req *q)
{
    hub_scope sc;
    if (!scope_of(r, &q->who, &sc))
        return;
    sse *e = vx__arena_calloc(http_req_arena(r), 1, sizeof(*e));
    if (!e) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    q->proto = e;
    int64_t since =
        revision_of(http_req_header(r, "Last-Event-ID"), http_req_arena(r));
    vx_error err;
    memset(&err, 0, sizeof(err));
    hub_peer peer = {q->who.token_id, http_req_socket(r)};
    vx_status st = hub_subscribe(a->hub, sdk_api_slot(q), &sc, since, &peer,
                                 sse_wake, e, &q->sub, &err);
    if (st == VX_ELIMIT || st == VX_EUNAVAILABLE) {
        /* The token's streams (429, as Unleash says "too many streaming
         * clients") or all of them (503) are at their cap: SDKs poll
         * meanwhile, and polls are never refused for it. */
        http_reply_header(r, "Retry-After", st == VX_ELIMIT ? "60" : "30");
        http_reply_problem(r, st == VX_ELIMIT ? 429 : 503, err.message, "",
                           NULL);
        return;
    }
    if (st == VX_EAUTH) {
        http_reply_problem(r, 401, err.message, "", NULL);
        return;
    }
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    http_reply_header(r, "Cache-Control", "no-cache");
    http_reply_header(r, "X-Accel-Buffering", "no");
    http_stream *s =
        http_reply_stream(r, 200, "text/event-stream", sse_pull, q);
    atomic_store(&e->stream, s);
}

/* /api/client/<rest>: which route, or -1 (404). */
static int route_of(const char *rest, size_t n, const char **name, vx_arena *a)
{
    *name = NULL;
    if (n && rest[n - 1] == '/')
        n--;
    static const struct {
        const char *path;
        int route;
    } fixed[] = {
        {"features", SDK_ROUTE_CLIENT_FEATURES},
        {"delta", SDK_ROUTE_CLIENT_DELTA},
        {"streaming", SDK_ROUTE_CLIENT_STREAMING},
        {"register", SDK_ROUTE_CLIENT_REGISTER},
        {"metrics", SDK_ROUTE_CLIENT_METRICS},
        {"impact", SDK_ROUTE_CLIENT_IMPACT},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (strlen(fixed[i].path) == n && memcmp(fixed[i].path, rest, n) == 0)
            return fixed[i].route;
    static const char pre[] = "features/";
    if (n > sizeof(pre) - 1 && memcmp(rest, pre, sizeof(pre) - 1) == 0 &&
        !memchr(rest + sizeof(pre) - 1, '/', n - (sizeof(pre) - 1))) {
        char *out = NULL;
        if (router_decode(rest + sizeof(pre) - 1, n - (sizeof(pre) - 1), a,
                          &out) != VX_OK)
            return -1;
        *name = out;
        return SDK_ROUTE_CLIENT_FEATURE;
    }
    return -1;
}

static bool is_get(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

void unleash_api_headers(sdk_api *a, http_req *r)
{
    static const char prefix[] = "/api/client/";
    const char *path = http_req_path(r) + sizeof(prefix) - 1;
    size_t n = http_req_path_len(r) - (sizeof(prefix) - 1);
    const char *name = NULL;
    int route = route_of(path, n, &name, http_req_arena(r));
    if (route < 0) {
        http_reply_problem(r, 404, "no such route", "", NULL);
        return;
    }
    sdk_api_route(a, r, route);
    sdk_req *q = sdk_api_req(r);
    if (!q)
        return;
    const char *m = http_req_method(r);
    bool post = route == SDK_ROUTE_CLIENT_REGISTER ||
                route == SDK_ROUTE_CLIENT_METRICS ||
                route == SDK_ROUTE_CLIENT_IMPACT;
    if (post ? strcmp(m, "POST") != 0 : !is_get(m)) {
        http_reply_header(r, "Allow", post ? "POST" : "GET");
        http_reply_problem(r, 405, "method not allowed", "", NULL);
        return;
    }
    /* Answered in unleash_api_request: libmicrohttpd closes a connection
     * whose answer was made before the request was read, and SDKs poll on
     * keep-alive connections. */
    if (sdk_api_auth_req(a, r, SDK_KIND(SVC_KIND_CLIENT), q))
        q->proto = (void *)name;
}

/* An impact post suspended while a database thread stores it. */
typedef struct impact_job {
    sdk_api *a;  /* the endpoints */
    http_req *r; /* the suspended request */
    sdk_req *q;  /* its token */
} impact_job;

/* Stores the batch and answers (202, or the error). */
static void impact_answer(sdk_api *a, http_req *r, sdk_req *q)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = sdk_api_impact(a, &q->who, http_req_body(r), &err);
    if (st != VX_OK)
        http_reply_error(r, st, &err);
    else
        http_reply_text(r, 202, NULL, "", 0);
}

static void impact_run(void *ud, bool expired)
{
    impact_job *j = ud;
    if (expired)
        db_pool_reply_busy(j->a->db, j->r, true);
    else
        impact_answer(j->a, j->r, j->q);
    http_req_resume(j->r); /* j lived in the request's arena: gone now */
}

void unleash_api_request(sdk_api *a, http_req *r)
{
    sdk_req *q = http_req_udata(r);
    if (!q) {
        http_reply_error(r, VX_EIO, NULL);
        return;
    }
    switch (q->route) {
    case SDK_ROUTE_CLIENT_FEATURES: serve_features(a, r, q); return;
    case SDK_ROUTE_CLIENT_FEATURE: serve_feature(a, r, q, q->proto); return;
    case SDK_ROUTE_CLIENT_DELTA: serve_delta(a, r, q); return;
    case SDK_ROUTE_CLIENT_STREAMING: serve_streaming(a, r, q); return;
    default: break;
    }
    const json_t *body = http_req_body(r);
    if (!body) {
        http_reply_problem(r, 400, "a JSON body is required", "", NULL);
        return;
    }
    /* Impact batches are stored before the answer (idempotent by
     * batchId): on a database thread. Register and metrics are validated
     * here and kept in memory (svc_client_metrics): answered at once. */
    if (q->route == SDK_ROUTE_CLIENT_IMPACT) {
        impact_job *j = vx__arena_alloc(http_req_arena(r), sizeof(*j));
        if (j) {
            *j = (impact_job){a, r, q};
            if (a->db && db_pool_defer(a->db, r, impact_run, j))
                return;
        }
        impact_answer(a, r, q);
        return;
    }
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = q->route == SDK_ROUTE_CLIENT_REGISTER
                       ? sdk_api_register(a, &q->who, body, &err)
                       : sdk_api_metrics(a, &q->who, body, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    http_reply_text(r, 202, NULL, "", 0);
}
