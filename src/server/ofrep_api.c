/* OpenFeature Remote Evaluation Protocol (docs/ofrep.md): POST
 * /ofrep/v1/evaluate/flags/{key} and the bulk POST /ofrep/v1/evaluate/flags,
 * evaluated on the SDK hub's compiled snapshot of the token's environment.
 * Values are typed from variant payloads, reasons come from the flag's
 * shape and the strategy that decided, errors use OFREP's codes.
 *
 * Invariant: an answer is computed on one published state, held by the
 * request until it is sent, and written straight into the request's arena;
 * the only jansson use is the request body (parsed by the listener) and
 * the check of a json payload. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "server/cors.h"
#include "server/router.h"
#include "server/sdk_api.h"
#include "server/sdk_context.h"
#include "server/seen.h"

#define OFREP_ANSWER_FIRST 512 /* first answer buffer: one flag fits */

enum { OFREP_FLAG, OFREP_BULK };

/* Per-request state (sdk_req.proto). */
typedef struct ofrep_req {
    const char *key; /* the decoded flag key (single), NULL for bulk */
} ofrep_req;

/* ---- routing -------------------------------------------------------------
 */

/* ---- answers ---------------------------------------------------------------
 */

/* A failure body {"key", "errorCode", "errorDetails"} (no key for bulk). */
static void reply_failure(http_req *r, unsigned status, const char *key,
                          const char *code, const char *details)
{
    sdk_jbuf j;
    sdk_jbuf_init(&j, http_req_arena(r), 256);
    sdk_jbuf_lit(&j, "{");
    if (key) {
        sdk_jbuf_lit(&j, "\"key\":");
        sdk_jbuf_str(&j, key, strlen(key));
        sdk_jbuf_lit(&j, ",");
    }
    if (code) {
        sdk_jbuf_lit(&j, "\"errorCode\":");
        sdk_jbuf_str(&j, code, strlen(code));
        sdk_jbuf_lit(&j, ",");
    }
    sdk_jbuf_lit(&j, "\"errorDetails\":");
    sdk_jbuf_str(&j, details, strlen(details));
    sdk_jbuf_lit(&j, "}");
    if (j.fail != VX_OK) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    http_reply_text(r, status, "application/json", j.p, j.len);
}

/* "path: message" of an error, for errorDetails. */
static const char *details_of(vx_arena *a, const vx_error *err)
{
    char buf[VX_ERROR_PATH_MAX + VX_ERROR_MSG_MAX + 4];
    int n = snprintf(buf, sizeof(buf), "%s%s%s", err->path,
                     err->path[0] ? ": " : "", err->message);
    const char *s = n > 0 ? vx__arena_strndup(a, buf, (size_t)n) : NULL;
    return s ? s : "invalid context";
}

/* ---- values and reasons ----------------------------------------------------
 */

/* Shortest text of a finite `d` that reads back the same. */
static int number_text(double d, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%.15g", d);
    if (n > 0 && strtod(buf, NULL) != d)
        n = snprintf(buf, cap, "%.17g", d);
    return n;
}

/* A number payload as the admin API accepts it (C strtod: "0x1A", " 12",
 * "+5", "1."), as JSON number text in `buf`; false when it is not a
 * finite number (then the payload cannot be an OFREP number). */
static bool number_payload(const char *s, size_t n, char *buf, size_t cap)
{
    char tmp[128];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    double d = strtod(tmp, &end);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (!end || end == tmp || *end != '\0' || !isfinite(d))
        return false;
    int k = number_text(d, buf, cap);
    return k > 0 && (size_t)k < cap;
}

/* True when `s[0..n)` is a JSON number (RFC 8259 grammar). */
static bool json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

static bool str_is(vx_str s, const char *want)
{
    return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* The context's value of field `name` (for variant overrides). */
static vx_str field_of(const vx_context *c, const char *name)
{
    static const struct {
        const char *name;
        size_t off;
    } std[] = {
        {"userId", offsetof(vx_context, user_id)},
        {"sessionId", offsetof(vx_context, session_id)},
        {"remoteAddress", offsetof(vx_context, remote_address)},
        {"environment", offsetof(vx_context, environment)},
        {"appName", offsetof(vx_context, app_name)},
    };
    for (size_t i = 0; i < sizeof(std) / sizeof(*std); i++)
        if (strcmp(name, std[i].name) == 0)
            return *(const vx_str *)(const void *)((const char *)c +
                                                   std[i].off);
    for (size_t i = 0; i < c->nprops; i++)
        if (c->props[i].key.len == strlen(name) &&
            memcmp(c->props[i].key.ptr, name, c->props[i].key.len) == 0)
            return c->props[i].value;
    return (vx_str){NULL, 0};
}

/* The caller's value of a context field, for hub_flag_overridden. */
static vx_str field_cb(const void *ud, const char *name)
{
    return field_of(ud, name);
}

typedef struct winner_walk {
    long first; /* index of the first strategy that is on, -1 none */
} winner_walk;

static void on_strategy(void *ud, size_t s, bool result)
{
    winner_walk *w = ud;
    if (result && w->first < 0)
        w->first = (long)s;
}

/* The OpenFeature reason of an evaluation that found the flag on, from the
 * facts the hub took from the flag's JSON (hub_flag). */
static const char *reason_on(const vx_snapshot *snap, vx_scratch *sc,
                             const hub_flag *f, const vx_context *c,
                             const vx_variant *v)
{
    size_t n = f->nstrategies;
    long win = -1; /* the strategy that decided */
    bool targeted = f->has_dependencies;
    if (n == 1) {
        win = 0;
    } else if (n > 1) {
        winner_walk w = {.first = -1};
        vx_explain_ops ops = {.strategy = on_strategy, .ud = &w};
        vx_explain(snap, sc, f->name, strlen(f->name), c, &ops);
        win = w.first >= 0 && (size_t)w.first < n ? w.first : -1;
        targeted = targeted || win < 0;
    }
    bool split = false;
    uint8_t bits = win >= 0 ? f->strategies[win] : 0;
    if (bits & HUB_S_TARGETED)
        targeted = true;
    if (bits & HUB_S_SPLIT)
        split = true;
    if (v->enabled) {
        /* The variant came from the deciding strategy's own list when it
         * has one, else from the flag's: weighed among several (a split),
         * unless an override named the caller. */
        bool own = bits & HUB_S_VARIANTS;
        bool multi = own ? bits & HUB_S_MULTI : f->variants_multi;
        bool overrides = own ? bits & HUB_S_OVERRIDES : f->variants_overrides;
        size_t list = own ? (size_t)win + 1 : 0;
        if (overrides && hub_flag_overridden(f, list, v->name, field_cb, c))
            return "TARGETING_MATCH";
        split = multi || split;
    }
    return split ? "SPLIT" : targeted ? "TARGETING_MATCH" : "STATIC";
}

/* Writes one evaluation item for flag `f`. */
static void put_item(sdk_jbuf *j, const vx_snapshot *snap, vx_scratch *sc,
                     const hub_flag *f, const vx_context *c, bool *failed)
{
    vx_variant v;
    bool on = vx_evaluate_at(snap, sc, (size_t)f->snap_index, c, &v);
    bool variants = f->has_variants;
    const char *reason = !f->enabled ? "DISABLED"
                         : !on       ? "DEFAULT"
                                     : reason_on(snap, sc, f, c, &v);
    *failed = false;
    sdk_jbuf_lit(j, "{\"key\":");
    sdk_jbuf_str(j, f->name, strlen(f->name));
    if (!variants) {
        sdk_jbuf_lit(j, on ? ",\"value\":true,\"variant\":\"on\""
                           : ",\"value\":false,\"variant\":\"off\"");
    } else if (v.enabled) {
        vx_str t = v.payload_type, val = v.payload_value;
        const char *vp = val.ptr ? val.ptr : "";
        if (str_is(t, "json") || str_is(t, "number")) {
            char num[64];
            size_t nlen = val.len;
            bool ok = false;
            if (str_is(t, "number")) {
                /* Finite numbers only ("1e999" is JSON but not a number a
                 * client can hold); served as written when that is JSON,
                 * else as the canonical text of "0x1A", "+5"... */
                ok = number_payload(vp, val.len, num, sizeof(num));
                if (ok && !json_number(vp, val.len)) {
                    vp = num;
                    nlen = strlen(num);
                }
            } else {
                json_t *doc = json_loadb(vp, val.len, JSON_DECODE_ANY, NULL);
                ok = doc != NULL;
                json_decref(doc);
            }
            if (!ok) {
                sdk_jbuf_lit(j, ",\"errorCode\":\"PARSE_ERROR\","
                                "\"errorDetails\":");
                char msg[160];
                snprintf(msg, sizeof(msg),
                         "the payload of variant '%.*s' is not a valid %.*s",
                         (int)(v.name.len > 64 ? 64 : v.name.len), v.name.ptr,
                         (int)t.len, t.ptr);
                sdk_jbuf_str(j, msg, strlen(msg));
                sdk_jbuf_lit(j, "}");
                *failed = true;
                return;
            }
            sdk_jbuf_lit(j, ",\"value\":");
            sdk_jbuf_raw(j, vp, nlen);
        } else if (t.ptr) {
            sdk_jbuf_lit(j, ",\"value\":"); /* string and csv */
            sdk_jbuf_str(j, vp, val.len);
        } else {
            sdk_jbuf_lit(j, ",\"value\":"); /* no payload: the name */
            sdk_jbuf_str(j, v.name.ptr, v.name.len);
        }
        sdk_jbuf_lit(j, ",\"variant\":");
        sdk_jbuf_str(j, v.name.ptr, v.name.len);
    }
    /* A variant flag that is off has no value: the caller's default. */
    sdk_jbuf_lit(j, ",\"reason\":\"");
    sdk_jbuf_lit(j, reason);
    sdk_jbuf_lit(j, on ? "\",\"metadata\":{\"featureEnabled\":true}}"
                       : "\",\"metadata\":{\"featureEnabled\":false}}");
}

/* ---- the endpoints
 * -----------------------------------------------------------
 */

void ofrep_api_headers(sdk_api *a, http_req *r)
{
    static const char bulk[] = "/ofrep/v1/evaluate/flags";
    const char *path = http_req_path(r);
    size_t n = http_req_path_len(r);
    size_t nb = sizeof(bulk) - 1;
    vx_arena *arena = http_req_arena(r);
    int which = -1;
    const char *key = NULL;
    if (n >= nb && memcmp(path, bulk, nb) == 0) {
        if (n == nb || (n == nb + 1 && path[nb] == '/'))
            which = OFREP_BULK;
        else if (path[nb] == '/')
            which = OFREP_FLAG;
    }
    if (which < 0) {
        http_reply_problem(r, 404, "no such route", "", NULL);
        return;
    }
    sdk_api_route(a, r,
                  which == OFREP_BULK ? SDK_ROUTE_OFREP_BULK
                                      : SDK_ROUTE_OFREP_FLAG);
    sdk_req *q = sdk_api_req(r);
    if (!q)
        return;
    /* Browsers (OpenFeature's web provider) call OFREP like the frontend
     * API: the same origins, every answer readable, preflight without a
     * token. */
    server_cors_headers(r, a->cors_origins, "ETag, Retry-After");
    if (strcmp(http_req_method(r), "OPTIONS") == 0) {
        server_cors_preflight(r, "POST, OPTIONS",
                              "Authorization, Content-Type, If-None-Match");
        return;
    }
    if (strcmp(http_req_method(r), "POST") != 0) {
        http_reply_header(r, "Allow", "POST, OPTIONS");
        http_reply_problem(r, 405, "method not allowed", "", NULL);
        return;
    }
    if (which == OFREP_FLAG) {
        char *k = NULL;
        if (router_decode(path + nb + 1, n - nb - 1, arena, &k) == VX_OK)
            key = k;
        if (!key) {
            reply_failure(r, 400, "", "GENERAL",
                          "the flag key is not validly percent-encoded");
            return;
        }
    }
    if (!sdk_api_auth_req(
            a, r, SDK_KIND(SVC_KIND_CLIENT) | SDK_KIND(SVC_KIND_FRONTEND), q))
        return;
    double retry = 0;
    if (a->ofrep_rate &&
        !sdk_rate_take(a->ofrep_rate, q->who.token_id, vx__wall_ms(), &retry)) {
        char *secs = vx__arena_alloc(arena, 24);
        if (secs)
            snprintf(secs, 24, "%.0f", ceil(retry > 1 ? retry : 1));
        http_reply_header(r, "Retry-After", secs ? secs : "1");
        http_reply_text(r, 429, NULL, "", 0);
        return;
    }
    ofrep_req *o = vx__arena_calloc(arena, 1, sizeof(*o));
    if (!o) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    o->key = key;
    q->proto = o;
}

void ofrep_api_request(sdk_api *a, http_req *r)
{
    sdk_req *q = http_req_udata(r);
    ofrep_req *o = q ? q->proto : NULL;
    vx_arena *arena = http_req_arena(r);
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (!o) {
        reply_failure(r, 500, NULL, NULL, "internal error");
        return;
    }
    const char *key = o->key; /* NULL: bulk */
    const json_t *body = http_req_body(r);
    const json_t *ctx = json_object_get(body, "context");
    if (!json_is_object(ctx)) {
        reply_failure(r, 400, key, "INVALID_CONTEXT",
                      !json_is_object(body) ? "the body must be a JSON object "
                                              "{\"context\": {...}}"
                      : ctx                 ? "/context: must be an object"
                                            : "/context: is required");
        return;
    }
    const json_t *tk = json_object_get(ctx, "targetingKey");
    if (tk && (json_is_null(tk) ||
               (json_is_string(tk) && json_string_length(tk) == 0))) {
        reply_failure(r, 400, key, "TARGETING_KEY_MISSING",
                      "/context/targetingKey: is empty");
        return;
    }
    sdk_ctx *b = vx__arena_alloc(arena, sizeof(*b));
    if (!b) {
        reply_failure(r, 500, NULL, NULL, "out of memory");
        return;
    }
    sdk_ctx_init(b);
    vx_status st = sdk_ctx_from_json(b, ctx, "/context", true, arena, &err);
    if (st == VX_OK)
        st = sdk_ctx_finish(b, vx__wall_ms(), NULL, q->who.environment, false,
                            arena, &err);
    if (st != VX_OK) {
        if (st == VX_ENOMEM)
            reply_failure(r, 500, NULL, NULL, "out of memory");
        else
            reply_failure(r, 400, key, "INVALID_CONTEXT",
                          details_of(arena, &err));
        return;
    }
    server_seen_record(a->seen, q->who.environment, q->who.projects, &b->c);
    if (!q->state &&
        hub_acquire(a->hub, sdk_api_slot(q), &q->state) == VX_EUNAVAILABLE) {
        /* Never loaded and the database does not answer: not "no such
         * flag". */
        http_reply_header(r, "Retry-After", "1");
        reply_failure(r, 503, key, "GENERAL",
                      "the flags are not loaded yet: retry later");
        return;
    }
    const vx_snapshot *snap = q->state ? hub_state_snapshot(q->state) : NULL;
    vx_scratch *sc = sdk_scratch();
    hub_scope scope = {.projects = q->who.projects};
    sdk_jbuf j;
    sdk_jbuf_init(&j, arena, OFREP_ANSWER_FIRST);
    bool failed = false;
    if (key) {
        const hub_flag *f = q->state ? hub_state_find(q->state, key) : NULL;
        if (!f || f->snap_index < 0 || !hub_scope_match(&scope, f)) {
            char msg[160];
            snprintf(msg, sizeof(msg), "flag '%.100s' was not found", key);
            reply_failure(r, 404, key, "FLAG_NOT_FOUND", msg);
            return;
        }
        put_item(&j, snap, sc, f, &b->c, &failed);
    } else {
        sdk_jbuf_lit(&j, "{\"flags\":[");
        size_t nf = q->state ? hub_state_flag_count(q->state) : 0;
        bool first = true;
        for (size_t i = 0; i < nf && j.fail == VX_OK; i++) {
            const hub_flag *f = hub_state_flag(q->state, i);
            if (f->snap_index < 0 || !hub_scope_match(&scope, f))
                continue;
            if (!first)
                sdk_jbuf_raw(&j, ",", 1);
            first = false;
            bool item_failed;
            put_item(&j, snap, sc, f, &b->c, &item_failed);
        }
        sdk_jbuf_lit(&j, "]}");
    }
    if (j.fail != VX_OK) {
        reply_failure(r, 500, NULL, NULL,
                      j.fail == VX_ELIMIT ? "the answer is too large"
                                          : "out of memory");
        return;
    }
    if (key) {
        http_reply_text(r, failed ? 400 : 200, "application/json", j.p, j.len);
        return;
    }
    /* The ETag is over the evaluated answer: it changes exactly when this
     * context's result does. */
    char tag[40];
    int tn =
        snprintf(tag, sizeof(tag), "\"%016llx\"",
                 (unsigned long long)hub_hash64(j.p, j.len, HUB_HASH_SEED));
    char *etag = vx__arena_strndup(arena, tag, (size_t)tn);
    if (etag) {
        http_reply_header(r, "ETag", etag);
        const char *inm = http_req_header(r, "If-None-Match");
        if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
            http_reply_text(r, 304, NULL, "", 0);
            return;
        }
    }
    http_reply_text(r, 200, "application/json", j.p, j.len);
}
