/* What edge nodes ask of the process they follow (/api/edge/, docs/edge.md):
 * POST /api/edge/validate (which of these secrets are SDK tokens, of what
 * kind, environment, projects and expiry) and POST /api/edge/metrics (the
 * registrations and usage an edge forwards, each counted at the time the
 * edge received it). Both take a client token; the same code answers in
 * `vexil serve` (the service) and in `vexil edge` (the edge's ops, so that
 * an edge may follow another edge). */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/limits.h"
#include "server/sdk_api.h"

/* "a,b" as ["a","b"]; "*" as ["*"]. */
static json_t *project_list(const char *projects)
{
    json_t *a = json_array();
    const char *p = projects;
    while (a && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n)
            json_array_append_new(a, json_stringn(p, n));
        if (!e)
            break;
        p = e + 1;
    }
    return a;
}

static const char *kind_name(svc_token_kind k)
{
    return k == SVC_KIND_FRONTEND ? "frontend" : "client";
}

/* The token's expiry in ms since the epoch, 0 = none. */
static int64_t expiry_of(sdk_api *a, const svc_principal *who)
{
    if (a->ops && a->ops->token_expiry)
        return a->ops->token_expiry(a->ops_ud, who);
    svc_token_state t;
    return a->hub && hub_token_state(a->hub, who->token_id, &t) ? t.expires_ms
                                                                : 0;
}

static void serve_validate(sdk_api *a, http_req *r)
{
    const json_t *body = http_req_body(r);
    const json_t *tokens = json_object_get(body, "tokens");
    if (!json_is_array(tokens)) {
        http_reply_problem(r, 400, "expected {\"tokens\": [secrets]}",
                           "/tokens", NULL);
        return;
    }
    if (json_array_size(tokens) > VX_LIMIT_EDGE_VALIDATE_MAX) {
        char msg[80];
        snprintf(msg, sizeof(msg), "at most %d tokens",
                 VX_LIMIT_EDGE_VALIDATE_MAX);
        http_reply_problem(r, 400, msg, "/tokens", NULL);
        return;
    }
    json_t *out = json_array();
    json_t *refused = json_array(); /* why the others are not listed */
    size_t i;
    const json_t *t;
    vx_status st = out ? VX_OK : VX_ENOMEM;
    json_array_foreach (tokens, i, t) {
        if (st != VX_OK)
            break;
        if (!json_is_string(t) || json_string_length(t) == 0)
            continue;
        svc_principal who;
        char slot[128];
        vx_error err;
        memset(&err, 0, sizeof(err));
        memset(&who, 0, sizeof(who));
        const char *sec = json_string_value(t);
        size_t len = json_string_length(t);
        vx_status one = a->ops ? a->ops->authenticate(a->ops_ud, sec, len, &who,
                                                      slot, sizeof(slot), &err)
                               : svc_authenticate(a->svc, sec, len, &who, &err);
        if (one == VX_EUNAVAILABLE || one == VX_EIO || one == VX_ENOMEM) {
            st = one; /* unknown is not the same as invalid: retry */
            break;
        }
        if (one != VX_OK || who.kind == SVC_KIND_ADMIN) {
            /* Only valid SDK tokens are listed (as Unleash does); the
             * others with the answer an SDK would get, so that an edge
             * answers alike. */
            json_t *x = json_pack("{sO ss}", "token", t, "message",
                                  one == VX_OK ? "invalid token: expected a "
                                                 "different token type"
                                               : err.message);
            if (x && one == VX_OK) /* an edge answers it 403, as here */
                json_object_set_new(x, "type", json_string("admin"));
            json_array_append_new(refused, x);
            continue;
        }
        int64_t exp = expiry_of(a, &who);
        json_t *e =
            json_pack("{sO ss ss so so}", "token", t, "type",
                      kind_name(who.kind), "environment", who.environment,
                      "projects", project_list(who.projects), "expiresAt",
                      exp ? json_integer(exp) : json_null());
        if (!e || json_array_append_new(out, e) != 0)
            st = VX_ENOMEM;
    }
    json_t *doc = st == VX_OK && refused
                      ? json_pack("{so so}", "tokens", out, "refused", refused)
                      : NULL;
    if (st == VX_OK && !doc)
        st = VX_ENOMEM;
    if (st != VX_OK) {
        if (!doc) {
            json_decref(out);
            json_decref(refused);
        }
        http_reply_error(r, st, NULL);
        return;
    }
    http_reply_json(r, 200, doc);
    json_decref(doc);
}

static void serve_metrics(sdk_api *a, http_req *r, const svc_principal *who)
{
    size_t accepted = 0;
    json_t *rejected = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = a->ops
                       ? a->ops->edge_reports(a->ops_ud, who, http_req_body(r),
                                              &accepted, &rejected, &err)
                       : svc_edge_reports(a->svc, who, http_req_body(r),
                                          &accepted, &rejected, &err);
    if (st == VX_EUNAVAILABLE) {
        json_t *doc = json_pack("{ss sI}", "message", err.message, "accepted",
                                (json_int_t)accepted);
        http_reply_header(r, "Retry-After", "5");
        if (doc)
            http_reply_json(r, 503, doc);
        else
            http_reply_error(r, st, &err);
        json_decref(doc);
    } else if (st != VX_OK) {
        http_reply_error(r, st, &err);
    } else {
        json_t *doc = json_pack("{sI sO}", "accepted", (json_int_t)accepted,
                                "rejected", rejected ? rejected : json_null());
        if (doc)
            http_reply_json(r, 202, doc);
        else
            http_reply_error(r, VX_ENOMEM, NULL);
        json_decref(doc);
    }
    json_decref(rejected);
}

void edge_api_headers(sdk_api *a, http_req *r)
{
    static const char prefix[] = "/api/edge/";
    const char *rest = http_req_path(r) + sizeof(prefix) - 1;
    size_t n = http_req_path_len(r) - (sizeof(prefix) - 1);
    int route =
        n == 8 && memcmp(rest, "validate", 8) == 0  ? SDK_ROUTE_EDGE_VALIDATE
        : n == 7 && memcmp(rest, "metrics", 7) == 0 ? SDK_ROUTE_EDGE_METRICS
                                                    : -1;
    if (route < 0 ||
        (route == SDK_ROUTE_EDGE_METRICS && a->ops && !a->ops->edge_reports)) {
        http_reply_problem(r, 404, "no such route", "", NULL);
        return;
    }
    sdk_api_route(a, r, route);
    sdk_req *q = sdk_api_req(r);
    if (!q)
        return;
    if (strcmp(http_req_method(r), "POST") != 0) {
        http_reply_header(r, "Allow", "POST");
        http_reply_problem(r, 405, "method not allowed", "", NULL);
        return;
    }
    /* The edge's own token: a client token (answered in edge_api_request,
     * keep-alive as the other SDK routes). */
    (void)sdk_api_auth_req(a, r, SDK_KIND(SVC_KIND_CLIENT), q);
}

void edge_api_request(sdk_api *a, http_req *r)
{
    sdk_req *q = http_req_udata(r);
    if (!q) {
        http_reply_error(r, VX_EIO, NULL);
        return;
    }
    if (!http_req_body(r)) {
        http_reply_problem(r, 400, "a JSON body is required", "", NULL);
        return;
    }
    if (q->route == SDK_ROUTE_EDGE_VALIDATE)
        serve_validate(a, r);
    else
        serve_metrics(a, r, &q->who);
}
