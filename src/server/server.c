/* Wiring of the HTTP server: see server.h. on_headers routes and
 * authenticates (so nothing unauthenticated is ever buffered), on_request
 * runs the service call, on_done feeds the metrics. Route indexes
 * 0..router_count()-1 are the admin table; the few after it are the
 * operational endpoints and "unmatched" (404/405), for metrics labels. */
#include "server/server.h"

#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "server/advisor_api.h"
#include "server/compress.h"
#include "server/scheduler.h"
#include "server/gateway_api.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/router.h"
#include "server/sdk.h"
#include "server/sdk_api.h"
#include "server/sdk_context.h"
#include "server/seen.h"
#include "server/session_api.h"
#include "server/ui.h"

enum {
    EXTRA_HEALTH,
    EXTRA_READY,
    EXTRA_METRICS,
    EXTRA_UNMATCHED,
    EXTRA_UI,
    EXTRA_ADVISOR,
    EXTRA_GATEWAY,
    EXTRA_SESSION,
    NEXTRA
};

static const char *const extra_labels[NEXTRA] = {
    "/health",  "/ready",
    "/metrics", "unmatched",
    "ui",       "/api/admin/advisor",
    "/v1",      "/api/admin/session"};
static const char *const extra_names[NEXTRA] = {
    "health", "ready",   "metrics", "unmatched",
    "ui",     "advisor", "gateway", "session"};

struct server {
    service *svc;         /* borrowed */
    http_listener *http;  /* owned */
    metrics *metrics;     /* owned */
    sdk_hub *hub;         /* owned: what the SDK endpoints serve */
    sdk_api sdk;          /* the SDK endpoints' shared state */
    const char **labels;  /* [nroutes] metric labels, owned array */
    size_t ntable;        /* router_count() */
    advisor_api *advisor; /* owned: /api/admin/advisor/ (advisor_api.c) */
    server_seen *seen;    /* owned: recent SDK contexts (seen.c) */
    server_scheduler *scheduler; /* owned: release plans (scheduler.c) */
    gateway_api *gateway;        /* owned: the model gateway, /v1/ */
    session_api *sessions;       /* owned: console sessions (session_api.c) */
    server_log_fn log;           /* may be NULL */
    void *log_ud;                /* passed to log */
};

/* Per-request state, in the request's arena. */
typedef struct api_req {
    router_hit hit;    /* the route and its parameters */
    svc_principal who; /* the authenticated caller */
    bool advisor;      /* an /api/admin/advisor/ request */
} api_req;

unsigned server_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > SERVER_THREADS_HARD)
        n = SERVER_THREADS_HARD;
    return (unsigned)n;
}

static bool path_is(const http_req *r, const char *want)
{
    size_t n = strlen(want);
    return http_req_path_len(r) == n && memcmp(http_req_path(r), want, n) == 0;
}

static bool path_has_prefix(const http_req *r, const char *prefix)
{
    size_t n = strlen(prefix);
    return http_req_path_len(r) >= n &&
           memcmp(http_req_path(r), prefix, n) == 0;
}

static void set_extra(server *s, http_req *r, int which)
{
    http_req_set_route(r, s->ntable + (size_t)which, extra_names[which]);
}

/* GET (or HEAD) only, else 405; true when the method is fine. */
static bool only_get(http_req *r)
{
    const char *m = http_req_method(r);
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return true;
    http_reply_header(r, "Allow", "GET");
    http_reply_problem(r, 405, "method not allowed", "", NULL);
    return false;
}

static void serve_health(http_req *r)
{
    static const char body[] = "{\"health\":\"GOOD\"}";
    if (only_get(r))
        http_reply_text(r, 200, "application/json", body, sizeof(body) - 1);
}

static void serve_ready(server *s, http_req *r)
{
    static const char ok[] = "{\"health\":\"READY\"}";
    static const char bad[] = "{\"health\":\"NOT_READY\",\"message\":\"the "
                              "database does not answer\",\"details\":[]}";
    if (!only_get(r))
        return;
    if (svc_ready(s->svc) == VX_OK)
        http_reply_text(r, 200, "application/json", ok, sizeof(ok) - 1);
    else
        http_reply_text(r, 503, "application/json", bad, sizeof(bad) - 1);
}

static void serve_metrics(server *s, http_req *r)
{
    if (!only_get(r))
        return;
    svc_stats stats;
    memset(&stats, 0, sizeof(stats));
    svc_get_stats(s->svc, &stats);
    char *text = NULL;
    size_t len = 0;
    vx_status st =
        metrics_render(s->metrics, &stats, http_req_arena(r), &text, &len);
    if (st != VX_OK) {
        http_reply_error(r, st, NULL);
        return;
    }
    sdk_stats ss;
    sdk_hub_stats(s->hub, &ss);
    char extra[640];
    int n = snprintf(
        extra, sizeof(extra),
        "# HELP vexil_sdk_rebuilds_total Published flag states rebuilt.\n"
        "# TYPE vexil_sdk_rebuilds_total counter\n"
        "vexil_sdk_rebuilds_total %lld\n"
        "# HELP vexil_sdk_revision Newest revision the SDK endpoints serve.\n"
        "# TYPE vexil_sdk_revision gauge\n"
        "vexil_sdk_revision %lld\n"
        "# HELP vexil_sdk_rebuild_seconds Duration of the last rebuild.\n"
        "# TYPE vexil_sdk_rebuild_seconds gauge\n"
        "vexil_sdk_rebuild_seconds %.6f\n"
        "# HELP vexil_sdk_streaming_clients Open streaming connections.\n"
        "# TYPE vexil_sdk_streaming_clients gauge\n"
        "vexil_sdk_streaming_clients %lld\n",
        (long long)ss.rebuilds, (long long)ss.revision, ss.last_build_sec,
        (long long)ss.subscribers);
    char *gtext = NULL;
    size_t glen = 0;
    if (gateway_api_metrics(s->gateway, http_req_arena(r), &gtext, &glen) !=
        VX_OK)
        glen = 0;
    char *all = n > 0
                    ? vx__arena_alloc(http_req_arena(r), len + (size_t)n + glen)
                    : NULL;
    if (!all) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    memcpy(all, text, len);
    memcpy(all + len, extra, (size_t)n);
    if (glen)
        memcpy(all + len + (size_t)n, gtext, glen);
    http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", all,
                    len + (size_t)n + glen);
}

/* Fills `who` from the Authorization header, or answers 401 and returns
 * false. */
static bool authenticate(server *s, http_req *r, svc_principal *who)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    size_t len = 0;
    if (!http_req_header(r, "Authorization") && session_api_has_cookie(r))
        return session_api_authenticate(s->sessions, r, who); /* console */
    const char *secret =
        sdk_api_bearer(http_req_header(r, "Authorization"), &len);
    if (!secret) {
        http_reply_problem(r, 401, "missing token", "", NULL);
        return false;
    }
    vx_status st = svc_authenticate(s->svc, secret, len, who, &err);
    if (st != VX_OK) {
        /* Unknown, revoked or expired: always 401 (a service that reports
         * something else for a bad secret must not leak why). */
        bool keep = st == VX_EIO || st == VX_ENOMEM || st == VX_EUNAVAILABLE;
        http_reply_error(r, keep ? st : VX_EAUTH, &err);
        return false;
    }
    return true;
}

/* Routes and authenticates an /api/ request; answers on failure. */
static void api_headers(server *s, http_req *r)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    api_req *a = vx__arena_calloc(http_req_arena(r), 1, sizeof(*a));
    if (!a) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    router_result res =
        router_match(http_req_method(r), http_req_path(r), http_req_path_len(r),
                     http_req_arena(r), &a->hit, &err);
    switch (res) {
    case ROUTER_FOUND: break;
    case ROUTER_NOT_FOUND:
        set_extra(s, r, EXTRA_UNMATCHED);
        http_reply_problem(r, 404, "no such route", "", NULL);
        return;
    case ROUTER_NO_METHOD: {
        set_extra(s, r, EXTRA_UNMATCHED);
        char *allow = vx__arena_strndup(http_req_arena(r), a->hit.allow,
                                        strlen(a->hit.allow));
        if (allow)
            http_reply_header(r, "Allow", allow);
        http_reply_problem(r, 405, "method not allowed", "", NULL);
        return;
    }
    case ROUTER_BAD_PARAM:
        set_extra(s, r, EXTRA_UNMATCHED);
        http_reply_error(r, VX_EINVAL, &err);
        return;
    case ROUTER_NOMEM:
        set_extra(s, r, EXTRA_UNMATCHED);
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    http_req_set_route(r, a->hit.index, svc_op_name(a->hit.req.op));
    if (authenticate(s, r, &a->who))
        http_req_set_udata(r, a);
}

/* Authenticates an /api/admin/advisor/ request, then lets the advisor
 * check its route; answers on failure. */
static void advisor_headers(server *s, http_req *r)
{
    api_req *a = vx__arena_calloc(http_req_arena(r), 1, sizeof(*a));
    if (!a) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    set_extra(s, r, EXTRA_ADVISOR);
    a->advisor = true;
    if (authenticate(s, r, &a->who) && advisor_api_route(r))
        http_req_set_udata(r, a);
}

static void on_headers(void *ud, http_req *r)
{
    server *s = ud;
    if (path_is(r, "/health")) {
        set_extra(s, r, EXTRA_HEALTH);
        serve_health(r);
    } else if (path_is(r, "/ready")) {
        set_extra(s, r, EXTRA_READY);
        serve_ready(s, r);
    } else if (path_is(r, "/metrics")) {
        set_extra(s, r, EXTRA_METRICS);
        serve_metrics(s, r);
    } else if (path_has_prefix(r, "/api/client/")) {
        unleash_api_headers(&s->sdk, r);
    } else if (path_has_prefix(r, "/api/frontend")) {
        frontend_api_headers(&s->sdk, r);
    } else if (path_has_prefix(r, "/ofrep/")) {
        ofrep_api_headers(&s->sdk, r);
    } else if (session_api_owns(r)) {
        set_extra(s, r, EXTRA_SESSION);
        session_api_headers(s->sessions, r);
    } else if (advisor_api_owns(r)) {
        advisor_headers(s, r);
    } else if (gateway_api_owns(r)) {
        set_extra(s, r, EXTRA_GATEWAY);
        gateway_api_headers(s->gateway, r);
    } else if (path_has_prefix(r, "/api/")) {
        api_headers(s, r);
    } else {
        set_extra(s, r, EXTRA_UI); /* the web UI's files (ui.h) */
        ui_serve(r);
    }
}

static void on_request(void *ud, http_req *r)
{
    server *s = ud;
    if (path_has_prefix(r, "/api/client/")) {
        unleash_api_request(&s->sdk, r);
        return;
    }
    if (path_has_prefix(r, "/api/frontend")) {
        frontend_api_request(&s->sdk, r);
        return;
    }
    if (path_has_prefix(r, "/ofrep/")) {
        ofrep_api_request(&s->sdk, r);
        return;
    }
    if (http_req_route(r) == s->ntable + EXTRA_GATEWAY) {
        gateway_api_request(s->gateway, r);
        return;
    }
    if (http_req_route(r) == s->ntable + EXTRA_SESSION) {
        session_api_request(s->sessions, r);
        return;
    }
    api_req *a = http_req_udata(r);
    json_t *answer = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (!a) {
        http_reply_error(r, VX_EIO, NULL); /* on_headers always answers */
        goto out;
    }
    if (a->advisor) {
        advisor_api_handle(s->advisor, &a->who, r);
        goto out;
    }
    const router_route *route = a->hit.route;
    a->hit.req.body = http_req_body(r);
    if (route->body && !a->hit.req.body) {
        http_reply_problem(r, 400, "a JSON body is required", "", NULL);
        goto out;
    }
    vx_status st = http_req_query(r, &a->hit.req.query, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        goto out;
    }
    st = svc_call(s->svc, &a->who, &a->hit.req, &answer, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        goto out;
    }
    server_reply_json_gz(r, route->status, answer); /* compress.h */
out:
    json_decref(answer);
}

static void on_done(void *ud, const http_req *r, unsigned status,
                    double seconds)
{
    server *s = ud;
    size_t route = http_req_route(r);
    if (route >= s->sdk.route_base &&
        route < s->sdk.route_base + SDK_ROUTE_COUNT)
        sdk_api_done(&s->sdk, r);
    if (route == s->ntable + EXTRA_GATEWAY)
        gateway_api_done(s->gateway, r);
    if (status)
        metrics_observe(s->metrics, route, http_req_method(r), status, seconds);
}

/* Checks `v` against [1, hard]; 0 takes `def`. */
static vx_status bounded(unsigned long long v, unsigned long long def,
                         unsigned long long hard, const char *name,
                         unsigned long long *out, vx_error *err)
{
    if (v == 0)
        v = def;
    if (v > hard)
        return vx__error_set(err, VX_ELIMIT, name,
                             "%s %llu is over the limit %llu", name + 1, v,
                             hard);
    *out = v;
    return VX_OK;
}

/* The service's commit hook: every committed write that may change what
 * SDKs are served (admin API, scheduler, advisor, import) wakes the hub,
 * before the write's caller answers, so SDK requests that start after that
 * answer are served the change. */
static void on_commit(void *ud, unsigned changes)
{
    server *s = ud;
    if (changes & (SVC_CHANGE_SDK | SVC_CHANGE_TOKENS))
        sdk_hub_kick(s->hub);
}

/* The gateway's measurements are impact metrics like any application's:
 * recorded for the gateway's environment, where the release-plan guard
 * reads them. Runs on the gateway's thread; the batch is borrowed. */
static void gateway_to_impact(void *ud, const char *environment, json_t *batch)
{
    server *s = ud;
    svc_principal who;
    memset(&who, 0, sizeof(who));
    who.kind = SVC_KIND_CLIENT;
    snprintf(who.name, sizeof(who.name), "gateway");
    snprintf(who.environment, sizeof(who.environment), "%s", environment);
    snprintf(who.projects, sizeof(who.projects), "*");
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_impact_record(s->svc, &who, batch, &err);
    if (st != VX_OK)
        vx__logf(s->log, s->log_ud, "error",
                 "gateway: impact metrics not recorded: %s", err.message);
}

vx_status server_start(const server_config *cfg, service *svc, server **out,
                       vx_error *err)
{
    vx_status st = VX_OK;
    server *s = NULL;
    unsigned long long threads = 0, conns = 0, body = 0;
    *out = NULL;

    st = bounded(cfg->threads, server_default_threads(), SERVER_THREADS_HARD,
                 "/threads", &threads, err);
    if (st == VX_OK)
        st = bounded(cfg->max_connections, SERVER_CONNECTIONS_DEFAULT,
                     SERVER_CONNECTIONS_HARD, "/max-connections", &conns, err);
    if (st == VX_OK)
        st = bounded(cfg->max_body, SERVER_MAX_BODY_DEFAULT,
                     SERVER_MAX_BODY_HARD, "/max-body", &body, err);
    if (st != VX_OK)
        goto out;

    s = vx__malloc(sizeof(*s));
    if (!s) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    memset(s, 0, sizeof(*s));
    s->svc = svc;
    s->log = cfg->log;
    s->log_ud = cfg->log_ud;
    s->ntable = router_count();
    size_t nroutes = s->ntable + NEXTRA + SDK_ROUTE_COUNT;
    s->labels = vx__malloc(nroutes * sizeof(*s->labels));
    if (!s->labels) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->ntable; i++)
        s->labels[i] = router_at(i)->path;
    for (size_t i = 0; i < NEXTRA; i++)
        s->labels[s->ntable + i] = extra_labels[i];
    for (size_t i = 0; i < SDK_ROUTE_COUNT; i++)
        s->labels[s->ntable + NEXTRA + i] = sdk_route_labels[i];
    st =
        sdk_hub_new(svc, cfg->sdk_poll_ms, cfg->log, cfg->log_ud, &s->hub, err);
    if (st != VX_OK)
        goto out;
    svc_set_commit_hook(svc, on_commit, s);
    s->sdk = (sdk_api){
        .svc = svc,
        .hub = s->hub,
        .cors_origins = cfg->frontend_origins ? cfg->frontend_origins : "*",
        .route_base = s->ntable + NEXTRA,
    };
    if (cfg->ofrep_rate > 0) {
        st = sdk_rate_new(cfg->ofrep_rate, &s->sdk.ofrep_rate, err);
        if (st != VX_OK)
            goto out;
    }
    st = server_seen_new(&s->seen);
    if (st != VX_OK) {
        vx__error_set(err, st, "", "out of memory");
        goto out;
    }
    s->sdk.seen = s->seen;
    st = advisor_api_new(svc, cfg->llm, VX_LIMIT_AI_INFLIGHT, &s->advisor);
    if (st == VX_OK) {
        advisor_api_set_seen(s->advisor, s->seen);
        advisor_api_set_policy(s->advisor, cfg->advisor_auto_apply);
        if (cfg->advisor_confirm_above > 0)
            advisor_api_set_confirm_above(s->advisor,
                                          cfg->advisor_confirm_above);
        advisor_api_set_plans(s->advisor, NULL, NULL);
    }
    if (st != VX_OK) {
        vx__error_set(err, st, "", "out of memory");
        goto out;
    }
    gateway_api_config gc = {
        .fallback = cfg->gw_fallback,
        .token_rate = cfg->gw_token_rate,
        .route_rate = cfg->gw_route_rate,
        .flush_ms = cfg->gw_flush_ms,
        .measure = gateway_to_impact,
        .measure_ud = s,
        .log = cfg->log,
        .log_ud = cfg->log_ud,
    };
    st = gateway_api_new(&gc, &s->sdk, &s->gateway, err);
    if (st != VX_OK)
        goto out;
    session_api_config sac = {.idle_secs = cfg->session_idle_secs,
                              .max_secs = cfg->session_max_secs,
                              .secure = (session_secure)cfg->session_secure};
    st = session_api_new(svc, &sac, &s->sessions, err);
    if (st != VX_OK)
        goto out;
    st = metrics_new(s->labels, nroutes, &s->metrics);
    if (st != VX_OK) {
        vx__error_set(err, st, "", "out of memory");
        goto out;
    }

    http_config hc = {
        .host = cfg->host,
        .port = cfg->port,
        .threads = (unsigned)threads,
        .max_connections = (unsigned)conns,
        .idle_secs = VX_LIMIT_HTTP_IDLE_SECS,
        .max_body = (size_t)body,
        .log_requests = cfg->log_requests,
        .log = cfg->log,
        .log_ud = cfg->log_ud,
    };
    http_handler h = {
        .on_headers = on_headers,
        .on_request = on_request,
        .on_done = on_done,
        .ud = s,
    };
    st = http_start(&hc, &h, &s->http, err);
    if (st != VX_OK)
        goto out;
    st = server_scheduler_start(svc, cfg->plan_tick_ms, cfg->log, NULL, NULL,
                                &s->scheduler);
    if (st != VX_OK) {
        vx__error_set(err, st, "", "cannot start the scheduler");
        goto out;
    }
    *out = s;
    s = NULL;
out:
    server_stop(&s);
    return st;
}

uint16_t server_port(const server *s)
{
    return http_port(s->http);
}

void server_stop(server **sp)
{
    if (!sp || !*sp)
        return;
    server *s = *sp;
    server_scheduler_stop(&s->scheduler); /* before the hub it kicks */
    advisor_api_stop(s->advisor);         /* answers every suspended request */
    gateway_api_stop(s->gateway);         /* likewise, and ends its streams */
    sdk_hub_close_streams(s->hub); /* streams end, so the drain is short */
    http_stop(&s->http);
    if (s->hub)
        svc_set_commit_hook(s->svc, NULL, NULL); /* no kick after the free */
    sdk_hub_free(&s->hub);
    sdk_rate_free(&s->sdk.ofrep_rate);
    metrics_free(&s->metrics);
    advisor_api_free(&s->advisor);
    server_seen_free(&s->seen);
    gateway_api_free(&s->gateway);
    session_api_free(&s->sessions);
    vx__free(s->labels);
    vx__free(s);
    *sp = NULL;
}
