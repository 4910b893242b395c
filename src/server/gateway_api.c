/* The gateway's HTTP routes (see gateway_api.h): authentication, limits
 * and the flag decision on the listener's worker, the upstream call on the
 * gateway's thread (gateway/gw.h), which answers the suspended request and
 * feeds a streamed answer to the listener's pull.
 *
 * Invariant: the variant's payload is read from the snapshot and copied
 * into the call before the state reference is dropped; per-request state
 * (gwq) lives in the request's arena and is touched by the gateway's
 * thread only between http_req_defer and http_req_resume, and through the
 * call's callbacks, which stop at gateway_api_done. */
#include "server/gateway_api.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"
#include "server/gateway_client.h"
#include "server/sdk_context.h"

#define FLAG_PREFIX "model." /* the flag of alias X is "model.X" */

typedef enum gw_route {
    GW_NONE,
    GW_CHAT,       /* POST /v1/chat/completions */
    GW_COMPLETION, /* POST /v1/completions */
    GW_EMBEDDING,  /* POST /v1/embeddings */
    GW_MODELS,     /* GET /v1/models */
    GW_FEEDBACK,   /* POST /v1/feedback */
    GW_STATS,      /* GET /v1/gateway/stats */
    /* Ollama's native API (from here on: is_ollama) */
    GW_OLLAMA_CHAT,       /* POST /api/chat */
    GW_OLLAMA_GENERATE,   /* POST /api/generate */
    GW_OLLAMA_EMBED,      /* POST /api/embed */
    GW_OLLAMA_EMBEDDINGS, /* POST /api/embeddings (the older one) */
    GW_OLLAMA_TAGS,       /* GET /api/tags */
} gw_route;

static const struct {
    const char *path;     /* request path */
    const char *method;   /* the one method */
    const char *endpoint; /* upstream path after base_url, or NULL */
} routes[] = {
    [GW_NONE] = {"", "", NULL},
    [GW_CHAT] = {"/v1/chat/completions", "POST", "chat/completions"},
    [GW_COMPLETION] = {"/v1/completions", "POST", "completions"},
    [GW_EMBEDDING] = {"/v1/embeddings", "POST", "embeddings"},
    [GW_MODELS] = {"/v1/models", "GET", NULL},
    [GW_FEEDBACK] = {"/v1/feedback", "POST", NULL},
    [GW_STATS] = {"/v1/gateway/stats", "GET", NULL},
    /* The endpoint is appended to the upstream's ollama_url. */
    [GW_OLLAMA_CHAT] = {"/api/chat", "POST", "api/chat"},
    [GW_OLLAMA_GENERATE] = {"/api/generate", "POST", "api/generate"},
    [GW_OLLAMA_EMBED] = {"/api/embed", "POST", "api/embed"},
    [GW_OLLAMA_EMBEDDINGS] = {"/api/embeddings", "POST", "api/embeddings"},
    [GW_OLLAMA_TAGS] = {"/api/tags", "GET", NULL},
};

static bool is_ollama(gw_route route)
{
    return route >= GW_OLLAMA_CHAT;
}

/* One batch kept for the stats endpoint. */
typedef struct kept {
    char env[VX_LIMIT_GW_NAME_BYTES]; /* its environment */
    json_t *batch;                    /* owned, NULL when unused */
} kept;

struct gateway_api {
    gateway_api_config cfg;              /* copy */
    sdk_api *sdk;                        /* borrowed */
    gw *gw;                              /* owned: the engine */
    sdk_rate *token_rate;                /* per token, or NULL */
    sdk_rate *route_rate;                /* per (environment, alias), or NULL */
    pthread_mutex_t mu;                  /* guards the ring below */
    kept kept[VX_LIMIT_GW_BATCHES_KEPT]; /* the latest batches */
    size_t next_kept;                    /* next slot to overwrite */
};

/* Per-request state, in the request's arena. */
typedef struct gwq {
    gw_route route;        /* which route */
    svc_principal who;     /* the token */
    http_req *r;           /* the request */
    gw_call *call;         /* the upstream call, until done */
    http_stream *sse;      /* the streamed answer, or NULL */
    char rid[GW_ID_BYTES]; /* the request's id (x-request-id) */
} gwq;

static void on_batch(void *ud, const char *env, json_t *batch)
{
    gateway_api *a = ud;
    pthread_mutex_lock(&a->mu);
    kept *k = &a->kept[a->next_kept];
    a->next_kept = (a->next_kept + 1) % VX_LIMIT_GW_BATCHES_KEPT;
    json_decref(k->batch);
    k->batch = json_incref(batch);
    snprintf(k->env, sizeof(k->env), "%s", env);
    pthread_mutex_unlock(&a->mu);
    if (a->cfg.measure)
        a->cfg.measure(a->cfg.measure_ud, env, batch);
}

vx_status gateway_api_new(const gateway_api_config *cfg, sdk_api *sdk,
                          gateway_api **out, vx_error *err)
{
    vx_status st = VX_OK;
    gateway_api *a = vx__calloc(1, sizeof(*a));
    *out = NULL;
    if (!a)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    a->cfg = *cfg;
    a->sdk = sdk;
    pthread_mutex_init(&a->mu, NULL);
    if (cfg->token_rate)
        st = sdk_rate_new(cfg->token_rate, &a->token_rate, err);
    if (st == VX_OK && cfg->route_rate)
        st = sdk_rate_new(cfg->route_rate, &a->route_rate, err);
    gw_config gc = {
        .fallback = cfg->fallback,
        .flush_ms = cfg->flush_ms,
        .measure = on_batch,
        .measure_ud = a,
        .log = cfg->log,
        .log_ud = cfg->log_ud,
        .egress = svc_egress(sdk->svc),
    };
    if (st == VX_OK)
        st = gw_new(&gc, &a->gw, err);
    if (st != VX_OK) {
        gateway_api_free(&a);
        return st;
    }
    *out = a;
    return VX_OK;
}

void gateway_api_stop(gateway_api *a)
{
    if (a)
        gw_stop(a->gw);
}

void gateway_api_free(gateway_api **ap)
{
    if (!ap || !*ap)
        return;
    gateway_api *a = *ap;
    gw_free(&a->gw);
    sdk_rate_free(&a->token_rate);
    sdk_rate_free(&a->route_rate);
    for (size_t i = 0; i < VX_LIMIT_GW_BATCHES_KEPT; i++)
        json_decref(a->kept[i].batch);
    pthread_mutex_destroy(&a->mu);
    vx__free(a);
    *ap = NULL;
}

static gw_route route_of(const http_req *r);

bool gateway_api_owns(const http_req *r)
{
    return (http_req_path_len(r) >= 4 &&
            memcmp(http_req_path(r), "/v1/", 4) == 0) ||
           is_ollama(route_of(r));
}

static gw_route route_of(const http_req *r)
{
    size_t n = http_req_path_len(r);
    const char *p = http_req_path(r);
    if (n > 1 && p[n - 1] == '/')
        n--;
    for (size_t i = 1; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strlen(routes[i].path) == n && memcmp(p, routes[i].path, n) == 0)
            return (gw_route)i;
    }
    return GW_NONE;
}

/* Every error answer of a gateway request, the listener's own included
 * (http_problem_fn): in the shape its client reads (OpenAI's "error"
 * object, or Ollama's "error" text, besides Vexil's members), with the
 * request's id. */
static void on_problem(void *ud, http_req *r, unsigned status,
                       const char *message, const char *path,
                       const char *detail)
{
    gwq *q = ud;
    gateway_dialect d = is_ollama(q->route) ? GATEWAY_OLLAMA : GATEWAY_OPENAI;
    json_t *doc = gateway_client_error(d, status, message, path, detail);
    if (!doc) /* a text that is not UTF-8 (it quotes the request) */
        doc = gateway_client_error(d, status,
                                   "the request is not acceptable (the error "
                                   "text is not valid UTF-8)",
                                   "", NULL);
    if (!doc)
        return; /* out of memory: the listener answers */
    http_reply_header(r, "x-request-id", q->rid);
    http_reply_json(r, status, doc);
    json_decref(doc);
}

/* Answers 429 with Retry-After when `rate` refuses `key`. */
static bool rate_ok(sdk_rate *rate, int64_t key, const gwq *q, const char *what)
{
    http_req *r = q->r;
    double retry = 0;
    if (!rate || sdk_rate_take(rate, key, vx__wall_ms(), &retry))
        return true;
    char *secs = vx__arena_alloc(http_req_arena(r), 24);
    if (secs)
        snprintf(secs, 24, "%.0f", ceil(retry > 1 ? retry : 1));
    http_reply_header(r, "Retry-After", secs ? secs : "1");
    http_reply_problem(r, 429, what, "", NULL);
    return false;
}

void gateway_api_headers(gateway_api *a, http_req *r)
{
    gw_route route = route_of(r);
    gwq *q = vx__arena_calloc(http_req_arena(r), 1, sizeof(*q));
    if (!q) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    q->route = route;
    q->r = r;
    gw_request_id(a->gw, q->rid);
    /* From here on every error is in the client's dialect. */
    http_req_set_problem(r, on_problem, q);
    if (route == GW_NONE) {
        http_reply_problem(r, 404, "no such route", "", NULL);
        return;
    }
    const char *m = http_req_method(r);
    bool get = strcmp(routes[route].method, "GET") == 0;
    if (strcmp(m, routes[route].method) != 0 &&
        !(get && strcmp(m, "HEAD") == 0)) {
        http_reply_header(r, "Allow", routes[route].method);
        http_reply_problem(r, 405, "method not allowed", "", NULL);
        return;
    }
    if (!sdk_api_auth(a->sdk, r, SDK_KIND(SVC_KIND_CLIENT), &q->who))
        return;
    if (!rate_ok(a->token_rate, q->who.token_id, q,
                 "too many requests for this token"))
        return;
    /* The listener answers 413 past it, after draining the body: answered
     * now, the client could see a reset connection instead. */
    if (VX_LIMIT_GW_BODY_BYTES < http_req_max_body(r))
        http_req_set_max_body(r, VX_LIMIT_GW_BODY_BYTES);
    http_req_set_udata(r, q);
}

/* ---- the flag decision ---------------------------------------------------
 */

/* Whether the operator's allowlists (still) let the server call `up` for
 * this route and send its key: a flag written under other lists is
 * refused here, not sent. VX_EINVAL naming the payload member. */
static vx_status upstream_allowed(gateway_api *a, const vx_upstream *up,
                                  bool ollama, vx_error *err)
{
    const vx_egress *pol = svc_egress(a->sdk->svc);
    vx_status st = ollama
                       ? vx__egress_url(pol, up->ollama_url, "/ollama_url", err)
                       : vx__egress_url(pol, up->base_url, "/base_url", err);
    if (st == VX_OK && up->key_env[0])
        st = vx__egress_key(pol, up->key_env, "/api_key_env", err);
    return st;
}

/* The caller's stickiness key (the context's userId) by the flag's unit
 * (its control's "stickiness"; `settings` NULL: "user"), in `buf` for the
 * token's; NULL when the request has none: then a random sessionId puts
 * the request on its own (docs/gateway.md, "Stickiness"). */
static const char *sticky_key(const gwq *q, const json_t *body,
                              const vx_upstream *settings, char *buf,
                              size_t cap)
{
    const char *h = NULL;
    switch (settings ? settings->sticky : VX_UPSTREAM_STICKY_USER) {
    case VX_UPSTREAM_STICKY_TOKEN:
        /* The token's id: names are not unique. */
        snprintf(buf, cap, "token:%lld", (long long)q->who.token_id);
        return buf;
    case VX_UPSTREAM_STICKY_REQUEST: return NULL;
    case VX_UPSTREAM_STICKY_HEADER:
        h = http_req_header(q->r, settings->sticky_header);
        break;
    case VX_UPSTREAM_STICKY_USER: {
        const json_t *u = json_object_get(body, "user");
        if (json_is_string(u) && json_string_length(u) > 0 &&
            json_string_length(u) < VX_LIMIT_NAME_BYTES &&
            strlen(json_string_value(u)) == json_string_length(u))
            return json_string_value(u);
        h = http_req_header(q->r, "X-Vexil-User");
        break;
    }
    }
    return h && *h && strlen(h) < VX_LIMIT_NAME_BYTES ? h : NULL;
}

static long pull(void *ud, char *buf, size_t max)
{
    return gw_call_read(ud, buf, max);
}

/* Copies the upstream's headers into the request's arena and hands them to
 * the answer; adds x-request-id (the gateway's) when the upstream sent
 * none, and Cache-Control: no-cache to a stream without one. */
static void pass_headers(gwq *q, const gw_reply *rep)
{
    http_req *r = q->r;
    vx_arena *arena = http_req_arena(r);
    size_t n = rep->nheaders, k = 0;
    const char **names = n ? vx__arena_alloc(arena, n * sizeof(*names)) : NULL;
    const char **values =
        n ? vx__arena_alloc(arena, n * sizeof(*values)) : NULL;
    bool has_id = false, has_cache = false;
    for (size_t i = 0; names && values && i < n; i++) {
        const char *nm = rep->hnames[i], *v = rep->hvalues[i];
        names[k] = vx__arena_strndup(arena, nm, strlen(nm));
        values[k] = vx__arena_strndup(arena, v, strlen(v));
        if (!names[k] || !values[k])
            continue;
        has_id = has_id || strcasecmp(nm, "x-request-id") == 0;
        has_cache = has_cache || strcasecmp(nm, "cache-control") == 0;
        k++;
    }
    if (k)
        http_reply_headers(r, names, values, k);
    if (!has_id)
        http_reply_header(r, "x-request-id", q->rid);
    if (rep->stream && !has_cache)
        http_reply_header(r, "Cache-Control", "no-cache");
}

static void on_respond(void *ud, const gw_reply *rep)
{
    gwq *q = ud;
    http_req *r = q->r;
    vx_arena *arena = http_req_arena(r);
    char *variant =
        vx__arena_strndup(arena, rep->variant, strlen(rep->variant));
    char *ctype = vx__arena_strndup(arena, rep->ctype, strlen(rep->ctype));
    if (variant)
        http_reply_header(r, "X-Vexil-Variant", variant);
    http_reply_header(r, "X-Vexil-Response-Id", q->rid);
    if (rep->failed) {
        char *failed =
            vx__arena_strndup(arena, rep->failed, strlen(rep->failed));
        if (failed)
            http_reply_header(r, "X-Vexil-Fallback-From", failed);
    }
    if (rep->problem) {
        /* The gateway's own error, in the client's dialect (on_problem
         * adds x-request-id). */
        http_reply_problem(r, rep->status, rep->problem, "", NULL);
        http_req_resume(r);
        return;
    }
    pass_headers(q, rep);
    if (rep->stream) {
        q->sse = http_reply_stream(
            r, rep->status, ctype ? ctype : "text/event-stream", pull, q->call);
    } else {
        char *body = rep->len ? vx__arena_strndup(arena, rep->body, rep->len)
                              : (char *)"";
        if (body)
            http_reply_text(r, rep->status, ctype ? ctype : "application/json",
                            body, rep->len);
    }
    http_req_resume(r);
}

static void on_wake(void *ud)
{
    gwq *q = ud;
    if (q->sse)
        http_stream_wake(q->sse);
}

/* A variant whose payload cannot be used: 502 naming the member; the
 * reason goes to the log only (it may quote the payload's URLs). */
static void bad_payload(gateway_api *a, gwq *q, const char *flag,
                        const char *variant, const vx_error *err)
{
    char msg[2 * VX_LIMIT_GW_NAME_BYTES + VX_ERROR_PATH_MAX + 128];
    vx__logf(a->cfg.log, a->cfg.log_ud, "warn",
             "gateway: %s variant %s: unusable payload: %s (%s)", flag, variant,
             err->message, err->path);
    snprintf(msg, sizeof(msg),
             "variant '%s' of flag '%s' has no usable upstream payload "
             "(%s%s%sthe server log says why)",
             variant, flag, err->path[0] ? "at '" : "", err->path,
             err->path[0] ? "'; " : "");
    http_reply_problem(q->r, 502, msg, err->path, NULL);
}

static void proxy(gateway_api *a, gwq *q)
{
    http_req *r = q->r;
    vx_arena *arena = http_req_arena(r);
    const json_t *body = http_req_body(r);
    hub_state *state = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (!json_is_object(body)) {
        http_reply_problem(r, 400, "a JSON object body is required", "", NULL);
        goto out;
    }
    const json_t *model = json_object_get(body, "model");
    if (!json_is_string(model) || json_string_length(model) == 0) {
        http_reply_problem(r, 400, "model is required: the model alias",
                           "/model", NULL);
        goto out;
    }
    if (json_string_length(model) + sizeof(FLAG_PREFIX) >
        VX_LIMIT_GW_NAME_BYTES) {
        http_reply_problem(r, 400, "model is too long", "/model", NULL);
        goto out;
    }
    char flag[VX_LIMIT_GW_NAME_BYTES];
    snprintf(flag, sizeof(flag), FLAG_PREFIX "%s", json_string_value(model));
    const char *env = q->who.environment;
    char rkey[2 * VX_LIMIT_GW_NAME_BYTES];
    int rn = snprintf(rkey, sizeof(rkey), "%s/%s", env, flag);
    if (!rate_ok(a->route_rate,
                 (int64_t)hub_hash64(rkey, (size_t)rn, HUB_HASH_SEED), q,
                 "too many requests for this model alias"))
        goto out;
    if (hub_acquire(a->sdk->hub, env, &state) == VX_EUNAVAILABLE) {
        http_reply_header(r, "Retry-After", "1");
        http_reply_problem(r, 503, "the flags are not loaded yet: retry later",
                           "", NULL);
        goto out;
    }
    const hub_flag *f = state ? hub_state_find(state, flag) : NULL;
    hub_scope scope = {.projects = q->who.projects};
    if (!f || f->snap_index < 0 || !hub_scope_match(&scope, f)) {
        char msg[VX_LIMIT_GW_NAME_BYTES + 96];
        snprintf(msg, sizeof(msg),
                 "no model '%s': the flag '%s' does not exist in environment "
                 "'%s'",
                 json_string_value(model), flag, env);
        http_reply_problem(r, 404, msg, "/model", NULL);
        goto out;
    }
    /* The control's payload holds the flag's gateway settings (the unit
     * of stickiness): read before the evaluation, and refused as a whole
     * when unusable. */
    const char *ctl = f->control;
    vx_upstream up, control;
    if (ctl && vx__upstream_parse(ctl, strlen(ctl), &control, &err) != VX_OK) {
        bad_payload(a, q, flag, "control", &err);
        goto out;
    }
    sdk_ctx *b = vx__arena_alloc(arena, sizeof(*b));
    if (!b) {
        http_reply_error(r, VX_ENOMEM, NULL);
        goto out;
    }
    sdk_ctx_init(b);
    char tkey[48];
    const char *who =
        sticky_key(q, body, ctl ? &control : NULL, tkey, sizeof(tkey));
    vx_status st = VX_OK;
    if (who)
        st =
            sdk_ctx_set(b, "userId", 6, who, strlen(who), false, "/user", &err);
    if (st == VX_OK)
        st = gateway_client_context(
            b, http_req_header(r, GATEWAY_CONTEXT_HEADER),
            json_object_get(body, "metadata"), arena, &err);
    /* No key: a random sessionId, so that Unleash's default stickiness
     * splits such requests one by one (not by the client's address). */
    if (st == VX_OK)
        st = sdk_ctx_finish(b, vx__wall_ms(), http_req_peer(r), env, !who,
                            arena, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        goto out;
    }
    vx_variant v;
    memset(&v, 0, sizeof(v));
    vx_evaluate_at(hub_state_snapshot(state), sdk_scratch(),
                   (size_t)f->snap_index, &b->c, &v);
    /* A caller outside the rollout (flag off, or no variant) is served by
     * the control. */
    char variant[VX_LIMIT_GW_NAME_BYTES];
    bool chosen = v.enabled && v.payload_type.ptr && v.payload_value.ptr;
    if (!chosen && !ctl) {
        http_reply_problem(r, 503,
                           "the model alias is off for this caller and its "
                           "flag has no \"control\" variant",
                           "/model", NULL);
        goto out;
    }
    if (chosen)
        snprintf(variant, sizeof(variant), "%.*s", (int)v.name.len, v.name.ptr);
    else
        snprintf(variant, sizeof(variant), "control");
    if (!chosen || (ctl && v.payload_value.len == strlen(ctl) &&
                    memcmp(v.payload_value.ptr, ctl, v.payload_value.len) == 0))
        up = control;
    else if (vx__upstream_parse(v.payload_value.ptr, v.payload_value.len, &up,
                                &err) != VX_OK) {
        bad_payload(a, q, flag, variant, &err);
        goto out;
    }
    /* The operator's allowlists, again at call time: a variant written
     * under wider lists is refused here, nothing is sent. */
    if (upstream_allowed(a, &up, is_ollama(q->route), &err) != VX_OK) {
        bad_payload(a, q, flag, variant, &err);
        goto out;
    }
    bool has_control =
        ctl && strcmp(variant, "control") != 0 &&
        upstream_allowed(a, &control, is_ollama(q->route), NULL) == VX_OK;
    gw_request req = {
        .environment = env,
        .flag = flag,
        .variant = variant,
        .enabled = chosen,
        .endpoint = routes[q->route].endpoint,
        .ollama = is_ollama(q->route),
        .up = &up,
        .control = has_control ? &control : NULL,
        .body = body,
        .id = q->rid,
    };
    hub_state_release(state); /* everything needed is copied */
    state = NULL;
    gw_client client = {.respond = on_respond, .wake = on_wake, .ud = q};
    if (!http_req_defer(r)) {
        http_reply_problem(r, 500, "cannot suspend the request", "", NULL);
        goto out;
    }
    st = gw_call_start(a->gw, &req, &client, &q->call, &err);
    if (st != VX_OK) {
        http_reply_problem(r, 503, err.message, "", NULL);
        http_req_resume(r);
    }
out:
    hub_state_release(state);
}

/* An alias as Ollama's /api/tags lists a model. The gateway knows no
 * size, digest or date: an alias may be served by several models. */
static json_t *ollama_model(const char *alias)
{
    return json_pack("{ss ss ss si ss s{ss ss ss s[] ss ss}}", "name", alias,
                     "model", alias, "modified_at", "1970-01-01T00:00:00Z",
                     "size", 0, "digest", "", "details", "parent_model", "",
                     "format", "", "family", "", "families", "parameter_size",
                     "", "quantization_level", "");
}

/* GET /v1/models (OpenAI's list) and GET /api/tags (Ollama's). */
static void models(gateway_api *a, gwq *q)
{
    http_req *r = q->r;
    json_t *data = json_array();
    hub_state *state = NULL;
    hub_acquire(a->sdk->hub, q->who.environment, &state); /* none: empty */
    hub_scope scope = {.projects = q->who.projects};
    size_t n = state ? hub_state_flag_count(state) : 0;
    size_t plen = strlen(FLAG_PREFIX);
    for (size_t i = 0; data && i < n; i++) {
        const hub_flag *f = hub_state_flag(state, i);
        if (strncmp(f->name, FLAG_PREFIX, plen) != 0 || !f->name[plen] ||
            !hub_scope_match(&scope, f))
            continue;
        if (is_ollama(q->route))
            json_array_append_new(data, ollama_model(f->name + plen));
        else
            json_array_append_new(
                data, json_pack("{ss ss si ss}", "id", f->name + plen, "object",
                                "model", "created", 0, "owned_by", "vexil"));
    }
    hub_state_release(state);
    json_t *doc = is_ollama(q->route)
                      ? json_pack("{so}", "models", data)
                      : json_pack("{ss so}", "object", "list", "data", data);
    if (doc)
        http_reply_json(r, 200, doc);
    else
        http_reply_error(r, VX_ENOMEM, NULL);
    json_decref(doc);
}

static void feedback(gateway_api *a, gwq *q)
{
    http_req *r = q->r;
    const json_t *body = http_req_body(r);
    vx_error err;
    memset(&err, 0, sizeof(err));
    const json_t *id = json_object_get(body, "response_id");
    const char *score = json_string_value(json_object_get(body, "score"));
    if (!json_is_object(body)) {
        http_reply_problem(r, 400, "a JSON object body is required", "", NULL);
        return;
    }
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) >= 128) {
        http_reply_problem(r, 400,
                           "response_id is required: the X-Vexil-Response-Id "
                           "or the answer's id",
                           "/response_id", NULL);
        return;
    }
    if (!score || (strcmp(score, "up") != 0 && strcmp(score, "down") != 0)) {
        http_reply_problem(r, 400, "score must be \"up\" or \"down\"", "/score",
                           NULL);
        return;
    }
    vx_status st = gw_feedback(a->gw, q->who.environment, json_string_value(id),
                               strcmp(score, "up") == 0, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    json_t *doc = json_pack("{sO ss}", "response_id", id, "score", score);
    http_reply_json(r, 202, doc);
    json_decref(doc);
}

/* Whether the token may see measurements of `flag`: a flag of its
 * projects in its environment's published state (a token of every project
 * also sees flags deleted since). */
static bool flag_visible(const gwq *q, hub_state *state, const char *flag)
{
    if (strcmp(q->who.projects, "*") == 0)
        return true;
    hub_scope scope = {.projects = q->who.projects};
    const hub_flag *f = state && flag ? hub_state_find(state, flag) : NULL;
    return f && hub_scope_match(&scope, f);
}

/* A copy of `arr` (series, or a batch's metrics) with the entries whose
 * "flag" the token may see. */
static json_t *visible_only(const gwq *q, hub_state *state, const json_t *arr)
{
    json_t *out = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach (arr, i, e) {
        if (out && flag_visible(q, state,
                                json_string_value(json_object_get(e, "flag"))))
            json_array_append(out, (json_t *)e);
    }
    return out;
}

/* The measurements of the token's environment, of the flags of its
 * projects only. */
static void stats(gateway_api *a, gwq *q)
{
    hub_state *state = NULL;
    hub_acquire(a->sdk->hub, q->who.environment, &state); /* none: nothing */
    json_t *batches = json_array();
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; batches && i < VX_LIMIT_GW_BATCHES_KEPT; i++) {
        /* oldest first */
        kept *k = &a->kept[(a->next_kept + i) % VX_LIMIT_GW_BATCHES_KEPT];
        if (!k->batch || strcmp(k->env, q->who.environment) != 0)
            continue;
        json_t *b = json_copy(k->batch);
        json_t *m =
            b ? visible_only(q, state, json_object_get(b, "metrics")) : NULL;
        if (m && json_array_size(m) > 0 &&
            json_object_set_new(b, "metrics", json_incref(m)) == 0)
            json_array_append(batches, b);
        json_decref(m);
        json_decref(b);
    }
    pthread_mutex_unlock(&a->mu);
    json_t *all = gw_stats(a->gw, q->who.environment);
    json_t *series = visible_only(q, state, all);
    json_decref(all);
    hub_state_release(state);
    json_t *doc = json_pack("{ss so so}", "environment", q->who.environment,
                            "series", series, "batches", batches);
    if (doc)
        http_reply_json(q->r, 200, doc);
    else
        http_reply_error(q->r, VX_ENOMEM, NULL);
    json_decref(doc);
}

void gateway_api_request(gateway_api *a, http_req *r)
{
    gwq *q = http_req_udata(r);
    if (!q) {
        http_reply_error(r, VX_EIO, NULL); /* headers always answer */
        return;
    }
    switch (q->route) {
    case GW_MODELS: models(a, q); break;
    case GW_FEEDBACK: feedback(a, q); break;
    case GW_STATS: stats(a, q); break;
    case GW_CHAT:
    case GW_COMPLETION:
    case GW_EMBEDDING:
    case GW_OLLAMA_CHAT:
    case GW_OLLAMA_GENERATE:
    case GW_OLLAMA_EMBED:
    case GW_OLLAMA_EMBEDDINGS: proxy(a, q); break;
    case GW_OLLAMA_TAGS: models(a, q); break;
    case GW_NONE: http_reply_problem(r, 404, "no such route", "", NULL); break;
    }
}

void gateway_api_done(gateway_api *a, const http_req *r)
{
    (void)a;
    gwq *q = http_req_udata(r);
    if (q)
        gw_call_release(&q->call);
}

/* Appends a Prometheus label value, escaped. */
static void put_label(sdk_jbuf *j, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            sdk_jbuf_raw(j, "\\", 1);
        if (*s == '\n')
            sdk_jbuf_raw(j, "\\n", 2);
        else
            sdk_jbuf_raw(j, s, 1);
    }
}

vx_status gateway_api_metrics(gateway_api *a, vx_arena *arena, char **text,
                              size_t *len)
{
    static const struct {
        const char *key;  /* member of gw_stats */
        const char *name; /* metric */
        const char *help; /* its HELP */
    } counters[] = {
        {"requests", "vexil_gateway_requests_total", "Proxied requests."},
        {"errors", "vexil_gateway_errors_total",
         "Upstream errors (timeouts included)."},
        {"timeouts", "vexil_gateway_timeouts_total", "Upstream timeouts."},
        {"disconnects", "vexil_gateway_disconnects_total",
         "Clients gone before the end of the answer."},
        {"fallbacks", "vexil_gateway_fallbacks_total",
         "Requests answered by the control after an error."},
        {"conversions", "vexil_gateway_feedback_up_total",
         "Positive feedback (conversions)."},
        {"feedbackDown", "vexil_gateway_feedback_down_total",
         "Negative feedback."},
        {"promptTokens", "vexil_gateway_prompt_tokens_total", "Prompt tokens."},
        {"completionTokens", "vexil_gateway_completion_tokens_total",
         "Completion tokens."},
    };
    json_t *list = gw_stats(a->gw, NULL);
    sdk_jbuf j;
    sdk_jbuf_init(&j, arena, 4096);
    for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
        char head[256];
        int n =
            snprintf(head, sizeof(head), "# HELP %s %s\n# TYPE %s counter\n",
                     counters[c].name, counters[c].help, counters[c].name);
        sdk_jbuf_raw(&j, head, (size_t)n);
        size_t i;
        const json_t *s;
        json_array_foreach (list, i, s) {
            sdk_jbuf_lit(&j, counters[c].name);
            sdk_jbuf_lit(&j, "{environment=\"");
            put_label(&j, json_string_value(json_object_get(s, "environment")));
            sdk_jbuf_lit(&j, "\",flag=\"");
            put_label(&j, json_string_value(json_object_get(s, "flag")));
            sdk_jbuf_lit(&j, "\",variant=\"");
            put_label(&j, json_string_value(json_object_get(s, "variant")));
            sdk_jbuf_lit(&j, json_is_true(json_object_get(s, "enabled"))
                                 ? "\",enabled=\"true\"} "
                                 : "\",enabled=\"false\"} ");
            char num[32];
            n = snprintf(num, sizeof(num), "%lld\n",
                         (long long)json_integer_value(
                             json_object_get(s, counters[c].key)));
            sdk_jbuf_raw(&j, num, (size_t)n);
        }
    }
    json_decref(list);
    if (j.fail != VX_OK)
        return j.fail;
    *text = j.p;
    *len = j.len;
    return VX_OK;
}

json_t *gateway_api_series(gateway_api *a, const char *environment)
{
    return gw_stats(a->gw, environment);
}
