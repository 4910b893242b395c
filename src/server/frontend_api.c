/* The Unleash frontend API (/api/frontend) for browser and mobile SDKs:
 * the flags that are on for one context, evaluated on the SDK hub's
 * compiled snapshot of the token's environment, plus the SDKs' metrics and
 * register posts, with CORS for the configured origins.
 *
 * Invariant: an evaluation never touches the database or jansson: the
 * context borrows the request's strings, the answer is written straight
 * into the request's arena, and the state it was computed on is held by
 * the request (sdk_req.state) until the answer is sent. */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "server/cors.h"
#include "server/sdk_api.h"
#include "server/sdk_context.h"
#include "server/seen.h"

#define FRONTEND_ANSWER_FIRST 2048 /* first answer buffer: 20 flags fit */

/* Headers a browser may send to /api/frontend (preflight). */
static const char allow_headers[] =
    "Authorization, Content-Type, If-None-Match, Unleash-AppName, "
    "Unleash-Connection-Id, Unleash-Sdk, Unleash-Client-Spec, "
    "Unleash-InstanceId";

static bool is_method(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

typedef enum fe_route {
    FE_NONE,        /* 404 */
    FE_EVAL,        /* /api/frontend */
    FE_METRICS,     /* /api/frontend/client/metrics */
    FE_REGISTER,    /* /api/frontend/client/register */
    FE_UNSUPPORTED, /* Unleash's deliberate 405s */
} fe_route;

static fe_route route_of(const char *p, size_t n)
{
    static const char *const not_implemented[] = {
        "/client/features", "/health", "/internal-backstage/prometheus"};
    if (n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0)
        return FE_EVAL;
    if (n == 15 && memcmp(p, "/client/metrics", 15) == 0)
        return FE_METRICS;
    if (n == 16 && memcmp(p, "/client/register", 16) == 0)
        return FE_REGISTER;
    for (size_t i = 0; i < sizeof(not_implemented) / sizeof(*not_implemented);
         i++) {
        size_t k = strlen(not_implemented[i]);
        if (n >= k && memcmp(p, not_implemented[i], k) == 0 &&
            (n == k || p[k] == '/'))
            return FE_UNSUPPORTED;
    }
    return FE_NONE;
}

/* Writes one toggle: {name, enabled, impressionData, variant}. */
static void put_toggle(sdk_jbuf *j, const hub_flag *f, const vx_variant *v)
{
    sdk_jbuf_lit(j, "{\"name\":");
    sdk_jbuf_str(j, f->name, strlen(f->name));
    sdk_jbuf_lit(j, f->impression_data
                        ? ",\"enabled\":true,\"impressionData\":true,"
                          "\"variant\":{\"name\":"
                        : ",\"enabled\":true,\"impressionData\":false,"
                          "\"variant\":{\"name\":");
    sdk_jbuf_str(j, v->name.ptr ? v->name.ptr : "disabled",
                 v->name.ptr ? v->name.len : 8);
    sdk_jbuf_lit(j, v->enabled ? ",\"enabled\":true" : ",\"enabled\":false");
    if (v->enabled && v->payload_type.ptr) {
        sdk_jbuf_lit(j, ",\"payload\":{\"type\":");
        sdk_jbuf_str(j, v->payload_type.ptr, v->payload_type.len);
        sdk_jbuf_lit(j, ",\"value\":");
        sdk_jbuf_str(j, v->payload_value.ptr ? v->payload_value.ptr : "",
                     v->payload_value.ptr ? v->payload_value.len : 0);
        sdk_jbuf_lit(j, "}");
    }
    sdk_jbuf_lit(j, ",\"feature_enabled\":true,\"featureEnabled\":true}}");
}

/* True when the If-None-Match value lists `etag` (or is "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    size_t n = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        /* Weak comparison: W/ prefixes do not matter. */
        const char *a = p;
        size_t al = len;
        if (al > 2 && a[0] == 'W' && a[1] == '/') {
            a += 2;
            al -= 2;
        }
        if (al == n - 2 && memcmp(a, etag + 2, al) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

/* Evaluates every visible flag for the built context and answers. */
static void answer(sdk_api *a, http_req *r, sdk_req *q, sdk_ctx *b, bool get)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_arena *arena = http_req_arena(r);
    vx_status st = sdk_ctx_finish(b, vx__wall_ms(), http_req_peer(r),
                                  q->who.environment, true, arena, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    server_seen_record(a->seen, q->who.environment, q->who.projects, &b->c);
    if (!q->state &&
        hub_acquire(a->hub, sdk_api_slot(q), &q->state) == VX_EUNAVAILABLE) {
        /* Never loaded and the database does not answer: not "no flag
         * is on". */
        http_reply_header(r, "Retry-After", "1");
        http_reply_problem(r, 503, "the flags are not loaded yet: retry later",
                           "", NULL);
        return;
    }
    sdk_jbuf j;
    sdk_jbuf_init(&j, arena, FRONTEND_ANSWER_FIRST);
    sdk_jbuf_lit(&j, "{\"toggles\":[");
    if (q->state) {
        const vx_snapshot *snap = hub_state_snapshot(q->state);
        vx_scratch *sc = sdk_scratch();
        hub_scope scope = {.projects = q->who.projects};
        size_t n = hub_state_flag_count(q->state);
        bool first = true;
        for (size_t i = 0; i < n && j.fail == VX_OK; i++) {
            const hub_flag *f = hub_state_flag(q->state, i);
            if (f->snap_index < 0 || !hub_scope_match(&scope, f))
                continue;
            vx_variant v;
            if (!vx_evaluate_at(snap, sc, (size_t)f->snap_index, &b->c, &v))
                continue;
            if (!first)
                sdk_jbuf_raw(&j, ",", 1);
            first = false;
            put_toggle(&j, f, &v);
        }
    }
    sdk_jbuf_lit(&j, "]}");
    if (j.fail != VX_OK) {
        vx__error_set(&err, j.fail, "",
                      j.fail == VX_ELIMIT ? "the answer is too large"
                                          : "out of memory");
        http_reply_error(r, j.fail == VX_ELIMIT ? VX_EIO : j.fail, &err);
        return;
    }
    /* A weak validator over the answer, as Express gives it. */
    char tag[64];
    int tn =
        snprintf(tag, sizeof(tag), "W/\"%zx-%016llx\"", j.len,
                 (unsigned long long)hub_hash64(j.p, j.len, HUB_HASH_SEED));
    char *etag = vx__arena_strndup(arena, tag, (size_t)tn);
    http_reply_header(r, "Cache-Control", "no-cache");
    if (etag)
        http_reply_header(r, "ETag", etag);
    if (get && etag &&
        etag_matches(http_req_header(r, "If-None-Match"), etag)) {
        http_reply_text(r, 304, NULL, "", 0);
        return;
    }
    http_reply_text(r, 200, "application/json", j.p, j.len);
}

static void serve_get(sdk_api *a, http_req *r, sdk_req *q)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    const json_t *query = NULL;
    sdk_ctx *b = vx__arena_alloc(http_req_arena(r), sizeof(*b));
    if (!b) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    sdk_ctx_init(b);
    vx_status st = http_req_query(r, &query, &err);
    if (st == VX_OK)
        st = sdk_ctx_from_query(b, query, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    answer(a, r, q, b, true);
}

static void serve_post(sdk_api *a, http_req *r, sdk_req *q)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    const json_t *body = http_req_body(r);
    if (body && !json_is_object(body)) {
        http_reply_problem(r, 400, "the body must be a JSON object", "", NULL);
        return;
    }
    sdk_ctx *b = vx__arena_alloc(http_req_arena(r), sizeof(*b));
    if (!b) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    sdk_ctx_init(b);
    const json_t *ctx = json_object_get(body, "context");
    if (ctx && !json_is_null(ctx)) {
        vx_status st = sdk_ctx_from_json(b, ctx, "/context", false,
                                         http_req_arena(r), &err);
        if (st != VX_OK) {
            http_reply_error(r, st, &err);
            return;
        }
    }
    answer(a, r, q, b, false);
}

void frontend_api_headers(sdk_api *a, http_req *r)
{
    static const char prefix[] = "/api/frontend";
    const char *path = http_req_path(r) + sizeof(prefix) - 1;
    size_t n = http_req_path_len(r) - (sizeof(prefix) - 1);
    fe_route route = n > 0 && path[0] != '/' ? FE_NONE : route_of(path, n);
    const char *m = http_req_method(r);
    int metric = route == FE_METRICS    ? SDK_ROUTE_FRONTEND_METRICS
                 : route == FE_REGISTER ? SDK_ROUTE_FRONTEND_REGISTER
                                        : SDK_ROUTE_FRONTEND;
    if (route == FE_NONE) {
        http_reply_problem(r, 404, "no such route", "", NULL);
        return;
    }
    sdk_api_route(a, r, metric);
    sdk_req *q = sdk_api_req(r);
    if (!q)
        return;
    server_cors_headers(r, a->cors_origins, "ETag");
    if (is_method(m, "OPTIONS")) {
        server_cors_preflight(r, "GET, POST, OPTIONS", allow_headers);
        return;
    }
    if (route == FE_UNSUPPORTED) {
        http_reply_problem(r, 405, "not implemented", "",
                           "the frontend API does not serve this path");
        return;
    }
    bool ok = route == FE_EVAL ? is_method(m, "GET") || is_method(m, "HEAD") ||
                                     is_method(m, "POST")
                               : is_method(m, "POST");
    if (!ok) {
        http_reply_header(r, "Allow",
                          route == FE_EVAL ? "GET, POST, OPTIONS"
                                           : "POST, OPTIONS");
        http_reply_problem(r, 405, "method not allowed", "", NULL);
        return;
    }
    (void)sdk_api_auth_req(a, r, SDK_KIND(SVC_KIND_FRONTEND), q);
    /* Answered in frontend_api_request, GET included: libmicrohttpd closes
     * the connection after an answer made before the request was read to
     * its end, and SDKs poll on keep-alive connections. */
}

void frontend_api_request(sdk_api *a, http_req *r)
{
    sdk_req *q = http_req_udata(r);
    if (!q) {
        http_reply_error(r, VX_EIO, NULL); /* headers always answer or set */
        return;
    }
    if (q->route == SDK_ROUTE_FRONTEND) {
        if (is_method(http_req_method(r), "POST"))
            serve_post(a, r, q);
        else
            serve_get(a, r, q);
        return;
    }
    const json_t *body = http_req_body(r);
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (q->route == SDK_ROUTE_FRONTEND_REGISTER) {
        /* Unleash answers 200 whatever the body; a valid one is recorded
         * so the application shows up like a server-side SDK. */
        if (body)
            (void)sdk_api_register(a, &q->who, body, &err);
        http_reply_text(r, 200, NULL, "", 0);
        return;
    }
    if (!body) {
        http_reply_problem(r, 400, "a JSON body is required", "", NULL);
        return;
    }
    vx_status st = sdk_api_metrics(a, &q->who, body, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    http_reply_text(r, 200, NULL, "", 0);
}
