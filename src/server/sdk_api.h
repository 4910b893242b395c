/* The SDK-facing endpoints, one file per protocol, all served from the SDK
 * hub's memory (sdk.h): the Unleash client API (unleash_api.c: features,
 * delta, streaming, register, metrics), the Unleash frontend API
 * (frontend_api.c) and OpenFeature's OFREP (ofrep_api.c).
 *
 * Each protocol has the listener's two steps: *_headers routes and
 * authenticates (answering 401/403/404/405 before any body is read) and
 * *_request answers once the body is in. server.c dispatches by path
 * prefix. */
#ifndef VX_SERVER_SDK_API_H
#define VX_SERVER_SDK_API_H

#include <stdbool.h>

#include "server/http.h"
#include "hub/hub.h"
#include "service/service.h"

/* Who checks the tokens and takes what SDKs report, when not the service:
 * an edge node (src/edge), which has none. Each call as its service
 * counterpart; `authenticate` also names the hub slot that serves the
 * token (`slot`, `cap` bytes; the service's is the environment). */
typedef struct sdk_ops {
    vx_status (*authenticate)(void *ud, const char *secret, size_t len,
                              svc_principal *who, char *slot, size_t cap,
                              vx_error *err);
    vx_status (*client_register)(void *ud, const svc_principal *who,
                                 const json_t *body, vx_error *err);
    vx_status (*client_metrics)(void *ud, const svc_principal *who,
                                const json_t *body, vx_error *err);
    vx_status (*impact)(void *ud, const svc_principal *who, const json_t *batch,
                        vx_error *err);
    /* POST /api/edge/metrics (svc_edge_reports); NULL: 404 */
    vx_status (*edge_reports)(void *ud, const svc_principal *who,
                              const json_t *body, size_t *accepted,
                              json_t **rejected, vx_error *err);
    /* A token's expiry (ms, 0 = none) for /api/edge/validate */
    int64_t (*token_expiry)(void *ud, const svc_principal *who);
} sdk_ops;

/* Shared by the SDK endpoints; owned by the server. */
typedef struct sdk_api {
    service *svc;                /* borrowed; NULL with ops */
    const sdk_ops *ops;          /* NULL: the service answers */
    void *ops_ud;                /* passed to ops */
    hub *hub;                    /* borrowed */
    const char *cors_origins;    /* "*" or "https://a,https://b" (frontend,
                                    OFREP) */
    struct sdk_rate *ofrep_rate; /* OFREP per-token limit (sdk_context.h),
                                    owned by the server; NULL = none */
    size_t route_base;        /* metrics route index of the first SDK route */
    struct server_seen *seen; /* recently seen contexts (seen.h), borrowed;
                                 NULL = not kept */
    struct db_pool *db;       /* database threads (dbpool.h), borrowed: the
                                 impact posts run there */
} sdk_api;

/* Metric routes of the SDK endpoints (their labels are sdk_route_labels). */
enum {
    SDK_ROUTE_CLIENT_FEATURES,
    SDK_ROUTE_CLIENT_FEATURE,
    SDK_ROUTE_CLIENT_DELTA,
    SDK_ROUTE_CLIENT_STREAMING,
    SDK_ROUTE_CLIENT_REGISTER,
    SDK_ROUTE_CLIENT_METRICS,
    SDK_ROUTE_CLIENT_IMPACT,
    SDK_ROUTE_FRONTEND,
    SDK_ROUTE_FRONTEND_METRICS,
    SDK_ROUTE_FRONTEND_REGISTER,
    SDK_ROUTE_OFREP_FLAG,
    SDK_ROUTE_OFREP_BULK,
    SDK_ROUTE_EDGE_VALIDATE,
    SDK_ROUTE_EDGE_METRICS,
    SDK_ROUTE_COUNT
};
extern const char *const sdk_route_labels[SDK_ROUTE_COUNT];

/* Per-request state of an SDK route, in the request's arena (the request's
 * udata): what the request holds until it is done. */
typedef struct sdk_req {
    int route;         /* SDK_ROUTE_* */
    svc_principal who; /* the authenticated token */
    hub_state *state;  /* a state reference held for the answer, or NULL */
    hub_sub *sub;      /* a streaming subscription, or NULL */
    void *proto;       /* the protocol file's own state, or NULL */
    char slot[128];    /* the hub slot serving the token ("": its
                          environment; sdk_api_slot) */
} sdk_req;

/* The hub slot that serves the request's token. */
const char *sdk_api_slot(const sdk_req *q);

/* The request's sdk_req, created (zeroed) on first use; NULL when out of
 * memory (an error was answered). */
sdk_req *sdk_api_req(http_req *r);

/* Takes the published state of the token's environment into q->state
 * (held until the request is done): false with 404 answered when the
 * environment does not exist, or 503 (Retry-After) when it could not be
 * loaded in time; never waits on the database (hub_acquire). */
bool sdk_api_state(sdk_api *a, http_req *r, sdk_req *q);

/* Releases what the request held (state reference, subscription): the
 * server calls it when any SDK request is done. */
void sdk_api_done(sdk_api *a, const http_req *r);

/* Token kinds an endpoint accepts, as a mask. */
#define SDK_KIND(k) (1u << (unsigned)(k))

/* Authenticates the request's token ("Authorization: <secret>" or
 * "Bearer <secret>", else "X-API-Key: <secret>") and checks its kind
 * against `kinds` (SDK_KIND mask): answers 401 (missing, unknown) or 403
 * (another kind) and returns false, else fills `who`. */
bool sdk_api_auth(sdk_api *a, http_req *r, unsigned kinds, svc_principal *who);

/* sdk_api_auth for the request's own sdk_req (q->who), which also notes
 * the hub slot serving the token (q->slot). */
bool sdk_api_auth_req(sdk_api *a, http_req *r, unsigned kinds, sdk_req *q);

/* What SDKs report, to the service or the ops. */
vx_status sdk_api_register(sdk_api *a, const svc_principal *who,
                           const json_t *body, vx_error *err);
vx_status sdk_api_metrics(sdk_api *a, const svc_principal *who,
                          const json_t *body, vx_error *err);
vx_status sdk_api_impact(sdk_api *a, const svc_principal *who,
                         const json_t *batch, vx_error *err);

/* The secret of an "Authorization" value, "<secret>" or "Bearer <secret>"
 * (any case), trimmed; NULL when empty. */
const char *sdk_api_bearer(const char *h, size_t *len);

/* Marks the request as one of the SDK routes for the log and metrics. */
void sdk_api_route(sdk_api *a, http_req *r, int route);

void unleash_api_headers(sdk_api *a, http_req *r);
void unleash_api_request(sdk_api *a, http_req *r);
void frontend_api_headers(sdk_api *a, http_req *r);
void frontend_api_request(sdk_api *a, http_req *r);
void ofrep_api_headers(sdk_api *a, http_req *r);
void ofrep_api_request(sdk_api *a, http_req *r);
/* /api/edge/: what edge nodes following this process ask (edge_api.c). */
void edge_api_headers(sdk_api *a, http_req *r);
void edge_api_request(sdk_api *a, http_req *r);

#endif
