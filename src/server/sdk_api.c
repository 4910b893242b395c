/* What the SDK endpoints share: route labels, token checks and the
 * per-request state that holds a published state (or a subscription) for
 * as long as the answer is being sent. */
#include "server/sdk_api.h"

#include <string.h>
#include <strings.h>

#include "base/error.h"

const char *const sdk_route_labels[SDK_ROUTE_COUNT] = {
    [SDK_ROUTE_CLIENT_FEATURES] = "/api/client/features",
    [SDK_ROUTE_CLIENT_FEATURE] = "/api/client/features/{feature}",
    [SDK_ROUTE_CLIENT_DELTA] = "/api/client/delta",
    [SDK_ROUTE_CLIENT_STREAMING] = "/api/client/streaming",
    [SDK_ROUTE_CLIENT_REGISTER] = "/api/client/register",
    [SDK_ROUTE_CLIENT_METRICS] = "/api/client/metrics",
    [SDK_ROUTE_CLIENT_IMPACT] = "/api/client/impact",
    [SDK_ROUTE_FRONTEND] = "/api/frontend",
    [SDK_ROUTE_FRONTEND_METRICS] = "/api/frontend/client/metrics",
    [SDK_ROUTE_FRONTEND_REGISTER] = "/api/frontend/client/register",
    [SDK_ROUTE_OFREP_FLAG] = "/ofrep/v1/evaluate/flags/{key}",
    [SDK_ROUTE_OFREP_BULK] = "/ofrep/v1/evaluate/flags",
    [SDK_ROUTE_EDGE_VALIDATE] = "/api/edge/validate",
    [SDK_ROUTE_EDGE_METRICS] = "/api/edge/metrics",
};

const char *sdk_api_bearer(const char *h, size_t *len)
{
    static const char scheme[] = "bearer";
    if (!h)
        return NULL;
    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, scheme, sizeof(scheme) - 1) == 0 &&
        (h[sizeof(scheme) - 1] == ' ' || h[sizeof(scheme) - 1] == '\t')) {
        h += sizeof(scheme) - 1;
        while (*h == ' ' || *h == '\t')
            h++;
    }
    size_t n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    *len = n;
    return n ? h : NULL;
}

sdk_req *sdk_api_req(http_req *r)
{
    sdk_req *q = http_req_udata(r);
    if (q)
        return q;
    q = vx__arena_calloc(http_req_arena(r), 1, sizeof(*q));
    if (!q) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return NULL;
    }
    http_req_set_udata(r, q);
    return q;
}

void sdk_api_route(sdk_api *a, http_req *r, int route)
{
    http_req_set_route(r, a->route_base + (size_t)route,
                       sdk_route_labels[route]);
    sdk_req *q = sdk_api_req(r);
    if (q)
        q->route = route;
}

const char *sdk_api_slot(const sdk_req *q)
{
    return q->slot[0] ? q->slot : q->who.environment;
}

/* sdk_api_auth, noting the slot in `slot` (cap bytes) when not NULL. */
static bool auth(sdk_api *a, http_req *r, unsigned kinds, svc_principal *who,
                 char *slot, size_t cap)
{
    size_t len = 0;
    const char *secret =
        sdk_api_bearer(http_req_header(r, "Authorization"), &len);
    if (!secret)
        secret = sdk_api_bearer(http_req_header(r, "X-API-Key"), &len);
    if (!secret) {
        http_reply_problem(r, 401, "missing token", "", NULL);
        return false;
    }
    vx_error err;
    memset(&err, 0, sizeof(err));
    char none[8];
    vx_status st = a->ops
                       ? a->ops->authenticate(a->ops_ud, secret, len, who,
                                              slot ? slot : none,
                                              slot ? cap : sizeof(none), &err)
                       : svc_authenticate(a->svc, secret, len, who, &err);
    if (st != VX_OK) {
        http_reply_error(
            r,
            st == VX_EIO || st == VX_ENOMEM || st == VX_EUNAVAILABLE ? st
                                                                     : VX_EAUTH,
            &err);
        return false;
    }
    if (!(kinds & SDK_KIND(who->kind))) {
        http_reply_problem(r, 403,
                           "invalid token: expected a different token type "
                           "for this endpoint",
                           "", NULL);
        return false;
    }
    return true;
}

bool sdk_api_auth(sdk_api *a, http_req *r, unsigned kinds, svc_principal *who)
{
    return auth(a, r, kinds, who, NULL, 0);
}

bool sdk_api_auth_req(sdk_api *a, http_req *r, unsigned kinds, sdk_req *q)
{
    return auth(a, r, kinds, &q->who, q->slot, sizeof(q->slot));
}

vx_status sdk_api_register(sdk_api *a, const svc_principal *who,
                           const json_t *body, vx_error *err)
{
    return a->ops ? a->ops->client_register(a->ops_ud, who, body, err)
                  : svc_client_register(a->svc, who, body, err);
}

vx_status sdk_api_metrics(sdk_api *a, const svc_principal *who,
                          const json_t *body, vx_error *err)
{
    return a->ops ? a->ops->client_metrics(a->ops_ud, who, body, err)
                  : svc_client_metrics(a->svc, who, body, err);
}

vx_status sdk_api_impact(sdk_api *a, const svc_principal *who,
                         const json_t *batch, vx_error *err)
{
    return a->ops ? a->ops->impact(a->ops_ud, who, batch, err)
                  : svc_impact_record(a->svc, who, batch, err);
}

bool sdk_api_state(sdk_api *a, http_req *r, sdk_req *q)
{
    if (q->state)
        return true;
    vx_status st = hub_acquire(a->hub, sdk_api_slot(q), &q->state);
    if (st == VX_ENOTFOUND) {
        http_reply_problem(r, 404, "the token's environment does not exist", "",
                           NULL);
    } else if (st != VX_OK) {
        http_reply_header(r, "Retry-After", "1");
        http_reply_problem(r, 503,
                           "the flags of the token's environment are not "
                           "loaded yet: retry later",
                           "", NULL);
    }
    return st == VX_OK;
}

void sdk_api_done(sdk_api *a, const http_req *r)
{
    sdk_req *q = http_req_udata(r);
    if (!q)
        return;
    hub_unsubscribe(a->hub, q->sub);
    q->sub = NULL;
    hub_state_release(q->state);
    q->state = NULL;
}
