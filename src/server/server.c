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
#include "base/limits.h"
#include "server/advisor_api.h"
#include "server/dbpool.h"
#include "server/compress.h"
#include "server/console_api.h"
#include "server/events_api.h"
#include "server/scheduler.h"
#include "server/gateway_api.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/router.h"
#include "hub/hub.h"
#include "server/sdk_api.h"
#include "server/sdk_context.h"
#include "server/seen.h"
#include "server/session_api.h"
#include "server/ui.h"

#define ENV_LABEL_MAX 128 /* bytes of an environment name in a label */

enum {
    EXTRA_HEALTH,
    EXTRA_READY,
    EXTRA_METRICS,
    EXTRA_UNMATCHED,
    EXTRA_UI,
    EXTRA_ADVISOR,
    EXTRA_GATEWAY,
    EXTRA_SDK_HEALTH,
    EXTRA_SESSION,
    EXTRA_EVENTS,        /* the console's live updates (events_api.h) */
    EXTRA_GATEWAY_STATS, /* the gateway's figures for the console */
    NEXTRA
};

static const char *const extra_labels[NEXTRA] = {"/health",
                                                 "/ready",
                                                 "/metrics",
                                                 "unmatched",
                                                 "ui",
                                                 "/api/admin/advisor",
                                                 "/v1",
                                                 "/api/admin/sdk-health",
                                                 "/api/admin/session",
                                                 "/api/admin/events/stream",
                                                 "/api/admin/gateway/stats"};
static const char *const extra_names[NEXTRA] = {
    "health",  "ready",      "metrics", "unmatched", "ui",           "advisor",
    "gateway", "sdk-health", "session", "events",    "gateway-stats"};

struct server {
    service *svc;         /* borrowed */
    http_listener *http;  /* owned */
    metrics *metrics;     /* owned */
    hub *hub;             /* owned: what the SDK endpoints serve */
    sdk_api sdk;          /* the SDK endpoints' shared state */
    const char **labels;  /* [nroutes] metric labels, owned array */
    size_t ntable;        /* router_count() */
    advisor_api *advisor; /* owned: /api/admin/advisor/ (advisor_api.c) */
    server_seen *seen;    /* owned: recent SDK contexts (seen.c) */
    server_scheduler *scheduler; /* owned: release plans (scheduler.c) */
    gateway_api *gateway;        /* owned: the model gateway, /v1/ */
    db_pool *db;                 /* owned: database work (dbpool.h) */
    session_api *sessions;       /* owned: console sessions (session_api.c) */
    events_api *events;          /* owned: live updates (events_api.c) */
    server_log_fn log;           /* may be NULL */
    void *log_ud;                /* passed to log */
};

/* Per-request state, in the request's arena. */
typedef struct api_req {
    router_hit hit;     /* the route and its parameters */
    svc_principal who;  /* the authenticated caller */
    bool advisor;       /* an /api/admin/advisor/ request */
    bool session;       /* `who` is still to be confirmed from the console
                           session cookie, on a database thread (confirm) */
    events_req *events; /* an admin event stream's (events_api.h) */
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

/* /ready while ready: 200, and "degraded" with what the SDK hub sets
 * aside (the replica serves, but not every flag: an operator should look,
 * not a load balancer take it out, as every replica reads the same data). */
static void reply_ready(server *s, http_req *r)
{
    json_t *rep = hub_report(s->hub);
    json_int_t n = json_integer_value(json_object_get(rep, "flagsSetAside"));
    json_t *details = json_array();
    size_t i, k;
    json_t *e, *f;
    json_array_foreach (json_object_get(rep, "environments"), i, e) {
        const char *env = json_string_value(json_object_get(e, "name"));
        json_array_foreach (json_object_get(e, "flagsSetAside"), k, f) {
            char path[VX_ERROR_PATH_MAX];
            snprintf(path, sizeof(path), "/environments/%s/flags/%s", env,
                     json_string_value(json_object_get(f, "name")));
            json_array_append_new(details,
                                  json_pack("{ss sO}", "path", path, "message",
                                            json_object_get(f, "message")));
        }
    }
    char msg[160];
    snprintf(msg, sizeof(msg),
             "%lld flag(s) set aside: libvexil refuses them, the rest is "
             "served (GET /api/admin/sdk-health)",
             (long long)n);
    json_t *body = n ? json_pack("{ss sb ss so}", "health", "READY", "degraded",
                                 true, "message", msg, "details", details)
                     : json_pack("{ss}", "health", "READY");
    if (!n)
        json_decref(details);
    if (body)
        http_reply_json(r, 200, body);
    else
        http_reply_error(r, VX_ENOMEM, NULL);
    json_decref(body);
    json_decref(rep);
}

/* From the background probe's last result (dbpool.h): never waits for the
 * database. While ready, reply_ready says what the hub sets aside. */
static void serve_ready(server *s, http_req *r)
{
    if (!only_get(r))
        return;
    svc_health h;
    svc_health_get(s->svc, &h);
    if (h.ok) {
        reply_ready(s, r);
        return;
    }
    json_t *doc =
        json_pack("{ss ss s[{ss ss}]}", "health", "NOT_READY", "message",
                  h.reason, "details", "path", "", "message", h.reason);
    http_reply_header(r, "Retry-After", "1");
    if (doc)
        http_reply_json(r, 503, doc);
    else
        http_reply_problem(r, 503, "the database is unavailable", "", NULL);
    json_decref(doc);
}

/* The database side of /metrics: its health, the pool, SDK reports kept
 * in memory. Appended to the text; 0 bytes when it does not fit. */
static int db_metrics(server *s, const svc_stats *st, char *buf, size_t cap)
{
    db_pool_stats ps;
    db_pool_stats_get(s->db, &ps);
    int n = snprintf(
        buf, cap,
        "# HELP vexil_db_up 1 while the database answers and stores "
        "(the /ready probe).\n"
        "# TYPE vexil_db_up gauge\n"
        "vexil_db_up %lld\n"
        "# HELP vexil_db_queue Requests waiting for a database thread.\n"
        "# TYPE vexil_db_queue gauge\n"
        "vexil_db_queue %lld\n"
        "# HELP vexil_db_rejected_total Requests answered 503: no room in "
        "the database queue, or waited too long in it.\n"
        "# TYPE vexil_db_rejected_total counter\n"
        "vexil_db_rejected_total{why=\"full\"} %lld\n"
        "vexil_db_rejected_total{why=\"waited\"} %lld\n"
        "# HELP vexil_sdk_reports_pending SDK metrics entries and "
        "registrations kept in memory until stored.\n"
        "# TYPE vexil_sdk_reports_pending gauge\n"
        "vexil_sdk_reports_pending %lld\n"
        "# HELP vexil_sdk_reports_dropped_total SDK metrics entries and "
        "registrations lost: a failed store found no room to keep them.\n"
        "# TYPE vexil_sdk_reports_dropped_total counter\n"
        "vexil_sdk_reports_dropped_total %lld\n"
        "# HELP vexil_sdk_reports_refused_total SDK metrics and register "
        "posts answered 503: the memory for them was full.\n"
        "# TYPE vexil_sdk_reports_refused_total counter\n"
        "vexil_sdk_reports_refused_total %lld\n"
        "# HELP vexil_sdk_reports_flush_failures_total Failed attempts to "
        "store SDK reports.\n"
        "# TYPE vexil_sdk_reports_flush_failures_total counter\n"
        "vexil_sdk_reports_flush_failures_total %lld\n",
        (long long)st->db_up, (long long)ps.queued, (long long)ps.rejected,
        (long long)ps.expired, (long long)st->reports_pending,
        (long long)st->reports_dropped, (long long)st->reports_refused,
        (long long)st->flush_failures);
    return n > 0 && (size_t)n < cap ? n : 0;
}

/* The listener's connection gauges and deadline counters. */
static size_t edge_metrics(server *s, char *buf, size_t cap)
{
    http_conn_stats cs;
    http_conn_stats_get(s->http, &cs);
    int n = snprintf(
        buf, cap,
        "# HELP vexil_http_connections Open client connections.\n"
        "# TYPE vexil_http_connections gauge\n"
        "vexil_http_connections %lld\n"
        "# HELP vexil_http_connections_closed_total Connections the server "
        "closed: slow headers or body, or idle near the connection limit.\n"
        "# TYPE vexil_http_connections_closed_total counter\n"
        "vexil_http_connections_closed_total{reason=\"header_timeout\"} "
        "%lld\n"
        "vexil_http_connections_closed_total{reason=\"body_timeout\"} %lld\n"
        "vexil_http_connections_closed_total{reason=\"reclaimed\"} %lld\n",
        cs.open, cs.header_timeouts, cs.body_timeouts, cs.reclaimed);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* vexil_sdk_flags_set_aside{environment}: flags each environment's SDK
 * state leaves out (hub_report), as Prometheus text in `arena`. */
static vx_status set_aside_metrics(server *s, vx_arena *arena, char **out,
                                   size_t *len)
{
    static const char head[] =
        "# HELP vexil_sdk_flags_set_aside Flags left out of what SDKs are "
        "served because libvexil refuses them (GET /api/admin/sdk-health).\n"
        "# TYPE vexil_sdk_flags_set_aside gauge\n";
    json_t *rep = hub_report(s->hub);
    json_t *envs = json_object_get(rep, "environments");
    size_t cap =
        sizeof(head) + json_array_size(envs) * (2 * ENV_LABEL_MAX + 64);
    char *p = vx__arena_alloc(arena, cap);
    size_t n = 0;
    if (p) {
        memcpy(p, head, sizeof(head) - 1);
        n = sizeof(head) - 1;
    }
    size_t i;
    json_t *e;
    json_array_foreach (envs, i, e) {
        if (!p)
            break;
        /* Names are validated identifiers, but the database may hold
         * anything: a label value escapes \\, " and newlines. */
        char label[2 * ENV_LABEL_MAX + 1];
        size_t l = 0;
        const char *name = json_string_value(json_object_get(e, "name"));
        for (size_t k = 0; name && name[k] && k < ENV_LABEL_MAX; k++) {
            char ch = name[k];
            if (ch == '\\' || ch == '"' || ch == '\n')
                label[l++] = '\\';
            label[l++] = ch == '\n' ? 'n' : ch;
        }
        label[l] = '\0';
        int w = snprintf(p + n, cap - n,
                         "vexil_sdk_flags_set_aside{environment=\"%s\"} %zu\n",
                         label,
                         json_array_size(json_object_get(e, "flagsSetAside")));
        if (w > 0 && (size_t)w < cap - n)
            n += (size_t)w;
    }
    json_decref(rep);
    *out = p;
    *len = n;
    return p && rep ? VX_OK : VX_ENOMEM;
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
    hub_stats ss;
    hub_get_stats(s->hub, &ss);
    char dbx[2048];
    int dbn = db_metrics(s, &stats, dbx, sizeof(dbx));
    char extra[1280];
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
        "vexil_sdk_streaming_clients %lld\n"
        "# HELP vexil_sdk_streams_refused_total New streams refused at a cap "
        "(429 per token, 503 in all).\n"
        "# TYPE vexil_sdk_streams_refused_total counter\n"
        "vexil_sdk_streams_refused_total %lld\n"
        "# HELP vexil_sdk_streams_ended_total Streams the server ended: "
        "client gone, token revoked or expired.\n"
        "# TYPE vexil_sdk_streams_ended_total counter\n"
        "vexil_sdk_streams_ended_total %lld\n",
        (long long)ss.rebuilds, (long long)ss.revision, ss.last_build_sec,
        (long long)ss.subscribers, (long long)ss.streams_refused,
        (long long)ss.streams_ended);
    char *aside = NULL;
    size_t alen = 0;
    if (set_aside_metrics(s, http_req_arena(r), &aside, &alen) != VX_OK)
        alen = 0;
    char *gtext = NULL;
    size_t glen = 0;
    if (gateway_api_metrics(s->gateway, http_req_arena(r), &gtext, &glen) !=
        VX_OK)
        glen = 0;
    char edge[768];
    size_t elen = edge_metrics(s, edge, sizeof(edge));
    size_t total = len + (size_t)n + (size_t)dbn + alen + glen + elen;
    char *all = n > 0 ? vx__arena_alloc(http_req_arena(r), total) : NULL;
    if (!all) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    memcpy(all, text, len);
    memcpy(all + len, extra, (size_t)n);
    memcpy(all + len + (size_t)n, dbx, (size_t)dbn);
    size_t at = len + (size_t)n + (size_t)dbn;
    if (alen)
        memcpy(all + at, aside, alen);
    at += alen;
    if (glen)
        memcpy(all + at, gtext, glen);
    at += glen;
    memcpy(all + at, edge, elen);
    http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", all,
                    total);
}

/* Fills a->who from the Authorization header, or answers 401 and returns
 * false. A console session cookie gets only its checks without the
 * database here (a serving thread); a->session then says that the
 * request's database job must confirm it first (confirm). */
static bool authenticate(server *s, http_req *r, api_req *a)
{
    svc_principal *who = &a->who;
    vx_error err;
    memset(&err, 0, sizeof(err));
    size_t len = 0;
    if (!http_req_header(r, "Authorization") && session_api_has_cookie(r)) {
        a->session = true; /* console */
        return session_api_precheck(s->sessions, r);
    }
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
    if (!authenticate(s, r, a))
        return;
    http_req_set_udata(r, a);
    /* A whole installation comes in one body: imports by an admin token
     * may pass --max-body, up to their own limit. */
    if ((a->hit.req.op == SVC_OP_IMPORT ||
         a->hit.req.op == SVC_OP_IMPORT_UNLEASH) &&
        !a->session && a->who.kind == SVC_KIND_ADMIN &&
        a->who.role == SVC_ROLE_ADMIN)
        http_req_set_max_body(r, VX_LIMIT_IMPORT_BODY);
}

/* GET /api/admin/sdk-health (admin tokens, any role): what each
 * environment's SDK state sets aside (hub_report). Routed and
 * authenticated here, answered in on_request (keep-alive). */
static void sdk_health_headers(server *s, http_req *r)
{
    api_req *a = vx__arena_calloc(http_req_arena(r), 1, sizeof(*a));
    if (!a) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    set_extra(s, r, EXTRA_SDK_HEALTH);
    if (!only_get(r) || !authenticate(s, r, a))
        return;
    if (!a->session && a->who.kind != SVC_KIND_ADMIN) {
        http_reply_problem(r, 403, "an admin token is required", "", NULL);
        return;
    }
    http_req_set_udata(r, a);
}

static void serve_sdk_health(server *s, http_req *r)
{
    const api_req *a = http_req_udata(r);
    if (a && a->who.kind != SVC_KIND_ADMIN) { /* a session's token */
        http_reply_problem(r, 403, "an admin token is required", "", NULL);
        return;
    }
    json_t *rep = hub_report(s->hub);
    if (rep)
        http_reply_json(r, 200, rep);
    else
        http_reply_error(r, VX_ENOMEM, NULL);
    json_decref(rep);
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
    if (authenticate(s, r, a) && advisor_api_route(r))
        http_req_set_udata(r, a);
}

/* The console's routes served from memory (live updates, the gateway's
 * figures): GET only, admin tokens of any role (or the session cookie,
 * confirmed on a database thread by the request step, console_job). */
static void console_headers(server *s, http_req *r)
{
    set_extra(s, r, events_api_owns(r) ? EXTRA_EVENTS : EXTRA_GATEWAY_STATS);
    api_req *a = vx__arena_calloc(http_req_arena(r), 1, sizeof(*a));
    if (!a) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    if (!only_get(r) || !authenticate(s, r, a))
        return;
    if (!a->session && a->who.kind != SVC_KIND_ADMIN) {
        http_reply_problem(r, 403, "an admin token is required", "", NULL);
        return;
    }
    http_req_set_udata(r, a);
}

/* Serves a console route for a->who, confirmed. */
static void serve_console(server *s, http_req *r, api_req *a)
{
    if (a->who.kind != SVC_KIND_ADMIN) { /* a session's token */
        http_reply_problem(r, 403, "an admin token is required", "", NULL);
        return;
    }
    if (http_req_route(r) == s->ntable + EXTRA_EVENTS) {
        events_api_request(s->events, r, &a->who, &a->events);
    } else {
        console_api_gateway_stats(s->gateway, s->hub, &a->who, r);
    }
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
    } else if (path_has_prefix(r, "/api/edge/")) {
        edge_api_headers(&s->sdk, r); /* edge nodes (edge_api.c) */
    } else if (path_is(r, "/api/admin/sdk-health")) {
        sdk_health_headers(s, r);
    } else if (events_api_owns(r) || console_api_gateway_owns(r)) {
        console_headers(s, r);
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

/* Confirms a console session (session_api_confirm: database work, so on
 * a database thread) before anything else the request does; true when
 * a->who may be trusted, else answered. */
static bool confirm(server *s, http_req *r, api_req *a)
{
    if (!a->session)
        return true;
    if (!session_api_confirm(s->sessions, r, &a->who))
        return false;
    a->session = false;
    return true;
}

/* Runs the admin call of `a` and answers `r` (on a database thread). */
static void run_call(server *s, http_req *r, api_req *a)
{
    if (!confirm(s, r, a))
        return;
    json_t *answer = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_call(s->svc, &a->who, &a->hit.req, &answer, &err);
    if (st != VX_OK)
        http_reply_error(r, st, &err);
    else
        server_reply_json_gz(r, a->hit.route->status, answer); /* compress.h */
    json_decref(answer);
}

/* A request suspended while its database work runs on the pool. */
typedef struct db_job {
    server *s;   /* the server */
    http_req *r; /* the suspended request */
    api_req *a;  /* its route and caller */
} db_job;

static void call_job(void *ud, bool expired)
{
    db_job *j = ud;
    if (expired)
        db_pool_reply_busy(j->s->db, j->r, true);
    else
        run_call(j->s, j->r, j->a);
    http_req_resume(j->r); /* j lived in the request's arena: gone now */
}

/* The advisor's request: answered here without a model, or handed to a
 * thread of the advisor's own that calls the model (which resumes it). */
static void advisor_job(void *ud, bool expired)
{
    db_job *j = ud;
    if (expired)
        db_pool_reply_busy(j->s->db, j->r, true);
    else if (confirm(j->s, j->r, j->a) &&
             advisor_api_handle_deferred(j->s->advisor, &j->a->who, j->r))
        return; /* the advisor's thread answers and resumes */
    http_req_resume(j->r);
}

static void sdk_health_job(void *ud, bool expired)
{
    db_job *j = ud;
    if (expired)
        db_pool_reply_busy(j->s->db, j->r, true);
    else if (confirm(j->s, j->r, j->a))
        serve_sdk_health(j->s, j->r);
    http_req_resume(j->r);
}

static void console_job(void *ud, bool expired)
{
    db_job *j = ud;
    if (expired)
        db_pool_reply_busy(j->s->db, j->r, true);
    else if (confirm(j->s, j->r, j->a))
        serve_console(j->s, j->r, j->a);
    http_req_resume(j->r);
}

static void session_job(void *ud, bool expired)
{
    db_job *j = ud;
    if (expired)
        db_pool_reply_busy(j->s->db, j->r, true);
    else
        session_api_request(j->s->sessions, j->r);
    http_req_resume(j->r);
}

/* Hands the rest of `r` to the database pool (fn answers and resumes);
 * false when it must be answered here. */
static bool to_pool(server *s, http_req *r, api_req *a, db_job_fn fn)
{
    db_job *j = vx__arena_alloc(http_req_arena(r), sizeof(*j));
    if (!j)
        return false;
    *j = (db_job){s, r, a};
    return db_pool_defer(s->db, r, fn, j);
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
    if (path_has_prefix(r, "/api/edge/")) {
        edge_api_request(&s->sdk, r);
        return;
    }
    if (http_req_route(r) == s->ntable + EXTRA_GATEWAY) {
        gateway_api_request(s->gateway, r);
        return;
    }
    if (http_req_route(r) == s->ntable + EXTRA_SDK_HEALTH) {
        api_req *h = http_req_udata(r);
        /* A console session is confirmed on a database thread. */
        if (h && h->session && to_pool(s, r, h, sdk_health_job))
            return;
        if (!h || confirm(s, r, h))
            serve_sdk_health(s, r);
        return;
    }
    if (http_req_route(r) == s->ntable + EXTRA_SESSION) {
        /* Signing in and out and "who" read the database. */
        if (!to_pool(s, r, NULL, session_job))
            session_api_request(s->sessions, r);
        return;
    }
    if (http_req_route(r) == s->ntable + EXTRA_EVENTS ||
        http_req_route(r) == s->ntable + EXTRA_GATEWAY_STATS) {
        api_req *c = http_req_udata(r);
        /* A console session is confirmed on a database thread. */
        if (c && c->session && to_pool(s, r, c, console_job))
            return;
        if (!c)
            http_reply_error(r, VX_EIO, NULL); /* on_headers answers */
        else if (confirm(s, r, c))
            serve_console(s, r, c);
        return;
    }
    api_req *a = http_req_udata(r);
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (!a) {
        http_reply_error(r, VX_EIO, NULL); /* on_headers always answers */
        goto out;
    }
    if (a->advisor) {
        /* Its answers are database work (and a session's check): off this
         * thread; a model call then runs on a thread of the advisor's. */
        if (!to_pool(s, r, a, advisor_job) && confirm(s, r, a))
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
    /* The call runs on a database thread: this one goes on serving. */
    if (!to_pool(s, r, a, call_job))
        run_call(s, r, a);
out:;
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
    if (route == s->ntable + EXTRA_EVENTS && http_req_udata(r)) {
        api_req *a = http_req_udata(r);
        events_api_done(s->events, a->events);
    }
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

/* One batch of the gateway's measurements on its way to the database. */
typedef struct impact_job {
    server *s;             /* the server */
    json_t *batch;         /* owned */
    char environment[128]; /* the gateway's environment */
} impact_job;

static void record_impact(server *s, const char *environment, json_t *batch)
{
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

/* On a database thread: stored even when it waited long (the store call
 * is bounded, and fails at once while the database is known down). */
static void impact_job_run(void *ud, bool expired)
{
    impact_job *j = ud;
    (void)expired;
    record_impact(j->s, j->environment, j->batch);
    json_decref(j->batch);
    vx__free(j);
}

/* The gateway's measurements are impact metrics like any application's:
 * recorded for the gateway's environment, where the release-plan guard
 * reads them. Called on the gateway's thread, which drives every model
 * call: the database work goes to the database threads, so a slow or
 * frozen database never holds a model call (pg_frozen.test.js). */
static void gateway_to_impact(void *ud, const char *environment, json_t *batch)
{
    server *s = ud;
    impact_job *j = vx__calloc(1, sizeof(*j));
    if (j) {
        j->s = s;
        j->batch = json_incref(batch);
        snprintf(j->environment, sizeof(j->environment), "%s", environment);
        if (db_pool_submit(s->db, impact_job_run, j))
            return;
        json_decref(j->batch);
        vx__free(j);
    }
    vx__logf(s->log, s->log_ud, "error",
             "gateway: impact metrics not recorded: the database queue is "
             "full");
}

/* The SDK hub, with stream caps that leave room for other requests
 * (hub_stream_caps). */
static vx_status start_hub(const server_config *cfg, unsigned conns,
                           service *svc, hub **out, vx_error *err)
{
    unsigned total = 0, per = 0;
    vx_status st = hub_stream_caps(
        conns, cfg->max_streams, cfg->max_streams_per_token, &total, &per, err);
    if (st != VX_OK)
        return st;
    hub_config hc = {
        .poll_ms = cfg->sdk_poll_ms,
        .max_streams = total,
        .max_streams_per_token = per,
        .log = cfg->log,
        .log_ud = cfg->log_ud,
    };
    return hub_new(&hc, svc, out, err);
}

vx_status server_start(const server_config *cfg, service *svc, server **out,
                       vx_error *err)
{
    vx_status st = VX_OK;
    server *s = NULL;
    unsigned long long threads = 0, conns = 0, body = 0, head_ms = 0,
                       body_ms = 0;
    *out = NULL;

    st = bounded(cfg->threads, server_default_threads(), SERVER_THREADS_HARD,
                 "/threads", &threads, err);
    if (st == VX_OK)
        st = bounded(cfg->max_connections, SERVER_CONNECTIONS_DEFAULT,
                     SERVER_CONNECTIONS_HARD, "/max-connections", &conns, err);
    if (st == VX_OK)
        st = bounded(cfg->max_body, SERVER_MAX_BODY_DEFAULT,
                     SERVER_MAX_BODY_HARD, "/max-body", &body, err);
    if (st == VX_OK)
        st = bounded(cfg->header_timeout_ms, VX_LIMIT_HTTP_HEADER_TIMEOUT_MS,
                     SERVER_TIMEOUT_MS_HARD, "/header-timeout-ms", &head_ms,
                     err);
    if (st == VX_OK)
        st = bounded(cfg->body_timeout_ms, VX_LIMIT_HTTP_BODY_TIMEOUT_MS,
                     SERVER_TIMEOUT_MS_HARD, "/body-timeout-ms", &body_ms, err);
    if (st != VX_OK)
        goto out;
    unsigned per_address = cfg->max_per_address == SERVER_PER_ADDRESS_NONE ? 0
                           : cfg->max_per_address
                               ? cfg->max_per_address
                               : VX_LIMIT_HTTP_PER_ADDRESS_DEFAULT;

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
    st = start_hub(cfg, (unsigned)conns, svc, &s->hub, err);
    if (st != VX_OK)
        goto out;
    db_pool_config dc = {
        .svc = svc,
        .threads = cfg->db_threads,
        .queue = cfg->db_queue,
        .wait_ms = (cfg->db_timeout_ms ? (int)cfg->db_timeout_ms
                                       : VX_LIMIT_DB_TIMEOUT_MS) +
                   VX_LIMIT_DB_DEADLINE_SLACK_MS,
        .background = true,
        .log = cfg->log,
        .log_ud = cfg->log_ud,
    };
    st = db_pool_new(&dc, &s->db, err);
    if (st != VX_OK)
        goto out;
    s->sdk = (sdk_api){
        .svc = svc,
        .hub = s->hub,
        .db = s->db,
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
    events_api_config eac = {.log = cfg->log, .log_ud = cfg->log_ud};
    st = events_api_new(svc, &eac, &s->events, err);
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
        .header_ms = (unsigned)head_ms,
        .body_ms = (unsigned)body_ms,
        .per_address = per_address,
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
    hub_close_streams(s->hub); /* streams end, so the drain is short */
    db_pool_stop(s->db);       /* answers every deferred request (bounded) */
    /* The console's streams end too, so the drain is short. */
    events_api_stop(s->events);
    http_stop(&s->http);
    hub_free(&s->hub);
    sdk_rate_free(&s->sdk.ofrep_rate);
    metrics_free(&s->metrics);
    db_pool_free(&s->db);
    advisor_api_free(&s->advisor);
    server_seen_free(&s->seen);
    gateway_api_free(&s->gateway);
    session_api_free(&s->sessions);
    events_api_free(&s->events);
    vx__free(s->labels);
    vx__free(s);
    *sp = NULL;
}
