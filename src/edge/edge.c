/* The edge process (edge.h): the data directory, the fed hub, the upstream
 * thread and the HTTP listener, whose SDK routes are src/server's own
 * endpoints (unleash_api, frontend_api, ofrep_api, edge_api) with the
 * edge's sdk_ops; /health, /ready and /metrics are the edge's. Every other
 * path is 404: an edge has no admin API and no console. */
#include "edge/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "server/sdk_context.h"
#include "server/server.h"

enum { X_HEALTH, X_READY, X_METRICS, X_UNMATCHED, NX };
static const char *const x_labels[NX] = {"/health", "/ready", "/metrics",
                                         "unmatched"};
static const char *const x_names[NX] = {"health", "ready", "metrics",
                                        "unmatched"};

static const sdk_ops EDGE_OPS = {
    .authenticate = edge__authenticate,
    .client_register = edge__register,
    .client_metrics = edge__metrics,
    .impact = edge__impact,
    .edge_reports = edge__edge_reports,
    .token_expiry = edge__token_expiry,
};

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

static bool only_get(http_req *r)
{
    const char *m = http_req_method(r);
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return true;
    http_reply_header(r, "Allow", "GET");
    http_reply_problem(r, 405, "method not allowed", "", NULL);
    return false;
}

static void set_extra(edge *e, http_req *r, int which)
{
    http_req_set_route(r, e->sdk.route_base - NX + (size_t)which,
                       x_names[which]);
}

/* ---- /ready ----------------------------------------------------------------
 */

/* What /ready and /metrics report of the feeds (under mu). */
typedef struct feed_view {
    size_t feeds, with_state, up;
    int64_t oldest_ms; /* the oldest state's last sync (wall), 0 none */
} feed_view;

static void view_feeds(edge *e, feed_view *v)
{
    memset(v, 0, sizeof(*v));
    for (size_t i = 0; i < e->nfeeds; i++) {
        const edge_feed *f = e->feeds[i];
        if (f->dropped)
            continue;
        v->feeds++;
        v->with_state += f->have_state;
        v->up += f->up;
        if (f->have_state && !f->up &&
            (!v->oldest_ms || f->synced_ms < v->oldest_ms))
            v->oldest_ms = f->synced_ms ? f->synced_ms : 1;
    }
}

static void serve_ready(edge *e, http_req *r)
{
    if (!only_get(r))
        return;
    pthread_mutex_lock(&e->mu);
    feed_view v;
    view_feeds(e, &v);
    json_t *details = json_array();
    for (size_t i = 0; details && i < e->nfeeds; i++) {
        const edge_feed *f = e->feeds[i];
        if (f->dropped || f->up)
            continue;
        char path[EDGE_ENV_MAX + 32], msg[400];
        snprintf(path, sizeof(path), "/environments/%s", f->env);
        snprintf(msg, sizeof(msg), "%s%s (projects %s)",
                 f->have_state ? "serving its last state: " : "no state yet: ",
                 f->problem, f->projects);
        json_array_append_new(
            details, json_pack("{ss ss}", "path", path, "message", msg));
    }
    bool up = e->upstream_up;
    int64_t down_since = e->down_since_ms;
    char problem[256];
    snprintf(problem, sizeof(problem), "%s", e->upstream_problem);
    pthread_mutex_unlock(&e->mu);
    int64_t now = vx__wall_ms();
    json_t *body = NULL;
    if (!v.feeds || v.with_state < v.feeds) {
        /* A view without a state: its SDKs would get 503. */
        body = json_pack("{ss ss so}", "health", "NOT_READY", "message",
                         v.feeds ? "waiting for the upstream's state"
                                 : "no token to follow: give the edge a "
                                   "client token (--token)",
                         "details", details);
        details = NULL;
        http_reply_header(r, "Retry-After", "1");
        if (body)
            http_reply_json(r, 503, body);
        else
            http_reply_error(r, VX_ENOMEM, NULL);
    } else if (v.up < v.feeds || !up) {
        double age = v.oldest_ms ? (double)(now - v.oldest_ms) / 1000.0 : 0;
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "the upstream %s does not answer%s%s: serving a state %.0f "
                 "s old",
                 e->upstream, problem[0] ? " (" : "", problem[0] ? ")" : "",
                 age);
        if (problem[0])
            snprintf(msg, sizeof(msg),
                     "the upstream %s does not answer (%s): serving a state "
                     "%.0f s old",
                     e->upstream, problem, age);
        body = json_pack("{ss sb ss sI sI so}", "health", "READY", "degraded",
                         true, "message", msg, "stateAgeSeconds",
                         (json_int_t)age, "upstreamDownSinceMs",
                         (json_int_t)down_since, "details", details);
        details = NULL;
        if (body)
            http_reply_json(r, 200, body);
        else
            http_reply_error(r, VX_ENOMEM, NULL);
    } else {
        body = json_pack("{ss}", "health", "READY");
        if (body)
            http_reply_json(r, 200, body);
        else
            http_reply_error(r, VX_ENOMEM, NULL);
    }
    json_decref(details);
    json_decref(body);
}

/* ---- /metrics --------------------------------------------------------------
 */

static void serve_metrics(edge *e, http_req *r)
{
    if (!only_get(r))
        return;
    svc_stats stats;
    memset(&stats, 0, sizeof(stats));
    pthread_mutex_lock(&e->mu);
    feed_view v;
    view_feeds(e, &v);
    size_t keys = 0;
    char key[VX_LIMIT_EDGE_FEEDS][EDGE_KEY_MAX];
    for (size_t i = 0; i < e->nfeeds; i++)
        if (!e->feeds[i]->dropped)
            snprintf(key[keys++], EDGE_KEY_MAX, "%s", e->feeds[i]->key);
    size_t tok[3] = {0};
    for (size_t i = 0; i < e->ntokens; i++)
        tok[e->tokens[i]->status]++;
    bool up = e->upstream_up;
    int64_t reconnects = e->reconnects, validations = e->validations;
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < keys; i++) {
        hub_state *s = NULL;
        if (hub_acquire(e->hub, key[i], &s) == VX_OK &&
            (int64_t)hub_state_flag_count(s) > stats.flags_active)
            stats.flags_active = (int64_t)hub_state_flag_count(s);
        hub_state_release(s);
    }
    char *text = NULL;
    size_t len = 0;
    vx_status st =
        metrics_render(e->metrics, &stats, http_req_arena(r), &text, &len);
    if (st != VX_OK) {
        http_reply_error(r, st, NULL);
        return;
    }
    hub_stats hs;
    hub_get_stats(e->hub, &hs);
    edge_reports_stats rs;
    edge__reports_stats(e->reports, &rs);
    double age =
        v.oldest_ms ? (double)(vx__wall_ms() - v.oldest_ms) / 1000.0 : 0;
    char extra[4096];
    int n = snprintf(
        extra, sizeof(extra),
        "# HELP vexil_sdk_streaming_clients Open streaming connections.\n"
        "# TYPE vexil_sdk_streaming_clients gauge\n"
        "vexil_sdk_streaming_clients %lld\n"
        "# HELP vexil_sdk_streams_refused_total New streams refused at a cap "
        "(429 per token, 503 in all).\n"
        "# TYPE vexil_sdk_streams_refused_total counter\n"
        "vexil_sdk_streams_refused_total %lld\n"
        "# HELP vexil_sdk_streams_ended_total Streams the edge ended: client "
        "gone, token revoked or expired.\n"
        "# TYPE vexil_sdk_streams_ended_total counter\n"
        "vexil_sdk_streams_ended_total %lld\n"
        "# HELP vexil_sdk_revision Newest upstream revision served.\n"
        "# TYPE vexil_sdk_revision gauge\n"
        "vexil_sdk_revision %lld\n"
        "# HELP vexil_edge_upstream_up 1 while the upstream answers every "
        "view.\n"
        "# TYPE vexil_edge_upstream_up gauge\n"
        "vexil_edge_upstream_up %d\n"
        "# HELP vexil_edge_state_age_seconds Age of the oldest state served "
        "while its upstream does not answer (0 while all are current).\n"
        "# TYPE vexil_edge_state_age_seconds gauge\n"
        "vexil_edge_state_age_seconds %.3f\n"
        "# HELP vexil_edge_views Views followed upstream (tokens), by "
        "state.\n"
        "# TYPE vexil_edge_views gauge\n"
        "vexil_edge_views{state=\"up\"} %zu\n"
        "vexil_edge_views{state=\"down\"} %zu\n"
        "vexil_edge_views{state=\"empty\"} %zu\n"
        "# HELP vexil_edge_reconnects_total Times the upstream answered "
        "again after an outage.\n"
        "# TYPE vexil_edge_reconnects_total counter\n"
        "vexil_edge_reconnects_total %lld\n"
        "# HELP vexil_edge_tokens Tokens the edge knows, by state.\n"
        "# TYPE vexil_edge_tokens gauge\n"
        "vexil_edge_tokens{state=\"pending\"} %zu\n"
        "vexil_edge_tokens{state=\"valid\"} %zu\n"
        "vexil_edge_tokens{state=\"invalid\"} %zu\n"
        "# HELP vexil_edge_token_checks_total Token checks asked of the "
        "upstream.\n"
        "# TYPE vexil_edge_token_checks_total counter\n"
        "vexil_edge_token_checks_total %lld\n"
        "# HELP vexil_edge_reports_queued_bytes SDK reports journaled and in "
        "the outbox, waiting for the upstream.\n"
        "# TYPE vexil_edge_reports_queued_bytes gauge\n"
        "vexil_edge_reports_queued_bytes %lld\n"
        "# HELP vexil_edge_reports_batches Batches in the outbox.\n"
        "# TYPE vexil_edge_reports_batches gauge\n"
        "vexil_edge_reports_batches %lld\n"
        "# HELP vexil_edge_reports_forwarded_total Batches the upstream "
        "took.\n"
        "# TYPE vexil_edge_reports_forwarded_total counter\n"
        "vexil_edge_reports_forwarded_total %lld\n"
        "# HELP vexil_edge_reports_dropped_total Entries the upstream "
        "refused (dropped).\n"
        "# TYPE vexil_edge_reports_dropped_total counter\n"
        "vexil_edge_reports_dropped_total %lld\n"
        "# HELP vexil_edge_reports_refused_total SDK posts answered 503: the "
        "queue was full.\n"
        "# TYPE vexil_edge_reports_refused_total counter\n"
        "vexil_edge_reports_refused_total %lld\n"
        "# HELP vexil_edge_forward_failures_total Forwards that failed (sent "
        "again).\n"
        "# TYPE vexil_edge_forward_failures_total counter\n"
        "vexil_edge_forward_failures_total %lld\n",
        (long long)hs.subscribers, (long long)hs.streams_refused,
        (long long)hs.streams_ended, (long long)hs.revision,
        up && v.up == v.feeds ? 1 : 0, age, v.up, v.with_state - v.up,
        v.feeds - v.with_state, (long long)reconnects, tok[TOK_PENDING],
        tok[TOK_VALID], tok[TOK_INVALID], (long long)validations,
        (long long)rs.queued_bytes, (long long)rs.batches,
        (long long)rs.forwarded, (long long)rs.dropped, (long long)rs.refused,
        (long long)rs.failures);
    if (n < 0 || (size_t)n >= sizeof(extra))
        n = 0;
    char *all = vx__arena_alloc(http_req_arena(r), len + (size_t)n);
    if (!all) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    memcpy(all, text, len);
    memcpy(all + len, extra, (size_t)n);
    http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", all,
                    len + (size_t)n);
}

/* ---- the listener's callbacks ---------------------------------------------
 */

static void on_headers(void *ud, http_req *r)
{
    edge *e = ud;
    if (path_is(r, "/health")) {
        static const char body[] = "{\"health\":\"GOOD\"}";
        set_extra(e, r, X_HEALTH);
        if (only_get(r))
            http_reply_text(r, 200, "application/json", body, sizeof(body) - 1);
    } else if (path_is(r, "/ready")) {
        set_extra(e, r, X_READY);
        serve_ready(e, r);
    } else if (path_is(r, "/metrics")) {
        set_extra(e, r, X_METRICS);
        serve_metrics(e, r);
    } else if (path_has_prefix(r, "/api/client/")) {
        unleash_api_headers(&e->sdk, r);
    } else if (path_has_prefix(r, "/api/frontend")) {
        frontend_api_headers(&e->sdk, r);
    } else if (path_has_prefix(r, "/ofrep/")) {
        ofrep_api_headers(&e->sdk, r);
    } else if (path_has_prefix(r, "/api/edge/")) {
        edge_api_headers(&e->sdk, r);
    } else {
        set_extra(e, r, X_UNMATCHED);
        http_reply_problem(r, 404,
                           "no such route (an edge serves the SDK APIs only)",
                           "", NULL);
    }
}

static void on_request(void *ud, http_req *r)
{
    edge *e = ud;
    if (path_has_prefix(r, "/api/client/"))
        unleash_api_request(&e->sdk, r);
    else if (path_has_prefix(r, "/api/frontend"))
        frontend_api_request(&e->sdk, r);
    else if (path_has_prefix(r, "/ofrep/"))
        ofrep_api_request(&e->sdk, r);
    else if (path_has_prefix(r, "/api/edge/"))
        edge_api_request(&e->sdk, r);
    else
        http_reply_error(r, VX_EIO, NULL); /* on_headers answered */
}

static void on_done(void *ud, const http_req *r, unsigned status,
                    double seconds)
{
    edge *e = ud;
    size_t route = http_req_route(r);
    if (route >= e->sdk.route_base &&
        route < e->sdk.route_base + SDK_ROUTE_COUNT)
        sdk_api_done(&e->sdk, r);
    if (status)
        metrics_observe(e->metrics, route, http_req_method(r), status, seconds);
}

/* ---- start and stop --------------------------------------------------------
 */

static vx_status check_upstream(const char *url, char **out, vx_error *err)
{
    if (!url ||
        (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return vx__error_set(err, VX_EINVAL, "/upstream",
                             "upstream must be an http:// or https:// URL");
    size_t n = strlen(url);
    if (n > VX_LIMIT_SDK_URL_BYTES)
        return vx__error_set(err, VX_EINVAL, "/upstream",
                             "upstream is longer than %d bytes",
                             VX_LIMIT_SDK_URL_BYTES);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
            return vx__error_set(err, VX_EINVAL, "/upstream",
                                 "upstream has a space or control character");
    char *u = vx__strdup(url);
    if (!u)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    /* "http://h:1/", "http://h:1/api" and "http://h:1/api/" are the same. */
    n = strlen(u);
    while (n && u[n - 1] == '/')
        u[--n] = '\0';
    if (n >= 4 && strcmp(u + n - 4, "/api") == 0)
        u[n - 4] = '\0';
    *out = u;
    return VX_OK;
}

static vx_status make_dirs(const char *dir, vx_error *err)
{
    static const char *const subs[] = {"", "/feeds"};
    for (size_t i = 0; i < 2; i++) {
        char p[4096];
        snprintf(p, sizeof(p), "%s%s", dir, subs[i]);
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return vx__error_set(err, VX_EIO, "/data-dir",
                                 "cannot create %s: %s", p, strerror(errno));
    }
    return VX_OK;
}

vx_status edge_start(const edge_config *cfg, edge **out, vx_error *err)
{
    *out = NULL;
    edge *e = vx__calloc(1, sizeof(*e));
    if (!e)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->answered, &ca);
    pthread_condattr_destroy(&ca);
    e->log = cfg->log;
    e->log_ud = cfg->log_ud;
    e->poll_ms = cfg->poll_ms ? cfg->poll_ms : VX_LIMIT_SDK_POLL_MS;
    e->forward_ms =
        cfg->forward_ms ? cfg->forward_ms : VX_LIMIT_EDGE_FORWARD_MS;
    if (e->forward_ms < VX_LIMIT_EDGE_FORWARD_MIN_MS)
        e->forward_ms = VX_LIMIT_EDGE_FORWARD_MIN_MS;
    char host[64] = "edge";
    gethostname(host, sizeof(host) - 1);
    snprintf(e->instance, sizeof(e->instance), "%s-%d", host, (int)getpid());
    unsigned conns = cfg->max_connections ? cfg->max_connections
                                          : SERVER_CONNECTIONS_DEFAULT;
    hub_config hc = {.log = cfg->log, .log_ud = cfg->log_ud};
    vx_status st = check_upstream(cfg->upstream, &e->upstream, err);
    if (st == VX_OK && conns > SERVER_CONNECTIONS_HARD)
        st = vx__error_set(err, VX_ELIMIT, "/max-connections",
                           "max-connections %u is over the limit %u", conns,
                           (unsigned)SERVER_CONNECTIONS_HARD);
    unsigned total = 0, per = 0;
    if (st == VX_OK)
        st = hub_stream_caps(conns, cfg->max_streams,
                             cfg->max_streams_per_token, &total, &per, err);
    hc.max_streams = total;
    hc.max_streams_per_token = per;
    if (st == VX_OK && cfg->data_dir && *cfg->data_dir) {
        e->data_dir = vx__strdup(cfg->data_dir);
        st = e->data_dir ? make_dirs(e->data_dir, err)
                         : vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    if (st == VX_OK)
        st = hub_new_fed(&hc, &e->hub, err);
    if (st != VX_OK)
        goto out;
    /* The given tokens, then what the data directory remembers. */
    for (size_t i = 0; i < cfg->ntokens; i++) {
        const char *t = cfg->tokens[i];
        size_t len = t ? strlen(t) : 0;
        pthread_mutex_lock(&e->mu);
        edge_token *tk = len ? edge__token_find(e, t, len) : NULL;
        if (!tk && len)
            tk = edge__token_add(e, t, len, true);
        pthread_mutex_unlock(&e->mu);
        if (!tk) {
            st = vx__error_set(err, VX_EINVAL, "/token",
                               "token %zu is empty or too long", i + 1);
            goto out;
        }
    }
    edge__disk_load(e);
    size_t qmax =
        cfg->queue_bytes ? cfg->queue_bytes : VX_LIMIT_EDGE_QUEUE_BYTES;
    char rdir[4096];
    st = edge__reports_new(
        e, edge__path(e, "reports", rdir, sizeof(rdir)) ? rdir : NULL, qmax,
        &e->reports, err);
    if (st != VX_OK)
        goto out;
    size_t nroutes = NX + SDK_ROUTE_COUNT;
    e->labels = vx__malloc(nroutes * sizeof(*e->labels));
    if (!e->labels) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < NX; i++)
        e->labels[i] = x_labels[i];
    for (size_t i = 0; i < SDK_ROUTE_COUNT; i++)
        e->labels[NX + i] = sdk_route_labels[i];
    st = metrics_new(e->labels, nroutes, &e->metrics);
    if (st != VX_OK) {
        vx__error_set(err, st, "", "out of memory");
        goto out;
    }
    e->sdk = (sdk_api){
        .ops = &EDGE_OPS,
        .ops_ud = e,
        .hub = e->hub,
        .cors_origins = cfg->frontend_origins ? cfg->frontend_origins : "*",
        .route_base = NX,
    };
    if (cfg->ofrep_rate > 0) {
        st = sdk_rate_new(cfg->ofrep_rate, &e->sdk.ofrep_rate, err);
        if (st != VX_OK)
            goto out;
    }
    st = edge__upstream_start(e, err);
    if (st != VX_OK)
        goto out;
    unsigned threads = cfg->threads ? cfg->threads : server_default_threads();
    /* Threads that may wait for a token check (tokens.c): all but one; a
     * one-thread edge lets its thread wait (VX_LIMIT_EDGE_VALIDATE_BUSY_MS
     * bounds how often), or no new SDK would get a first answer. */
    e->waiters_max = threads > 1 ? threads - 1 : 1;
    http_config hcfg = {
        .host = cfg->host ? cfg->host : "127.0.0.1",
        .port = cfg->port,
        .threads = threads,
        .max_connections = conns,
        .idle_secs = VX_LIMIT_HTTP_IDLE_SECS,
        .header_ms = cfg->header_timeout_ms ? cfg->header_timeout_ms
                                            : VX_LIMIT_HTTP_HEADER_TIMEOUT_MS,
        .body_ms = cfg->body_timeout_ms ? cfg->body_timeout_ms
                                        : VX_LIMIT_HTTP_BODY_TIMEOUT_MS,
        .per_address = cfg->max_per_address == SERVER_PER_ADDRESS_NONE ? 0
                       : cfg->max_per_address
                           ? cfg->max_per_address
                           : VX_LIMIT_HTTP_PER_ADDRESS_DEFAULT,
        .max_body = SERVER_MAX_BODY_DEFAULT,
        .log_requests = cfg->log_requests,
        .log = cfg->log,
        .log_ud = cfg->log_ud,
    };
    http_handler h = {.on_headers = on_headers,
                      .on_request = on_request,
                      .on_done = on_done,
                      .ud = e};
    st = http_start(&hcfg, &h, &e->http, err);
    if (st != VX_OK)
        goto out;
    *out = e;
    e = NULL;
out:
    edge_stop(&e);
    return st;
}

uint16_t edge_port(const edge *e)
{
    return http_port(e->http);
}

void edge_stop(edge **ep)
{
    if (!ep || !*ep)
        return;
    edge *e = *ep;
    if (e->hub)
        hub_close_streams(e->hub); /* streams end: the drain is short */
    http_stop(&e->http);
    edge__upstream_stop(e);
    if (e->reports) {
        edge__reports_cut(e->reports); /* to disk: sent after the restart */
        edge__reports_sync(e->reports);
    }
    pthread_mutex_lock(&e->mu);
    e->tokens_dirty = true;
    pthread_mutex_unlock(&e->mu);
    edge__tokens_save(e);
    edge__reports_free(&e->reports);
    hub_free(&e->hub);
    sdk_rate_free(&e->sdk.ofrep_rate);
    metrics_free(&e->metrics);
    edge__tokens_free(e);
    vx__free(e->labels);
    vx__free(e->upstream);
    vx__free(e->data_dir);
    pthread_cond_destroy(&e->answered);
    pthread_mutex_destroy(&e->mu);
    vx__free(e);
    *ep = NULL;
}
