/* The model gateway's HTTP side (docs/gateway.md): the OpenAI-compatible
 * routes /v1/chat/completions, /v1/completions, /v1/embeddings and
 * /v1/models, Ollama's native /api/chat, /api/generate, /api/embed,
 * /api/embeddings and /api/tags, plus /v1/feedback and /v1/gateway/stats.
 * A client token
 * authenticates; its environment's SDK-hub snapshot decides, per request,
 * which variant of the flag "model.<alias>" serves it; the engine
 * (gateway/gw.h) calls that upstream while the request is suspended.
 *
 * Invariant: no HTTP worker waits on an upstream: a proxied request is
 * deferred and answered (and resumed) from the gateway's thread. */
#ifndef VX_SERVER_GATEWAY_API_H
#define VX_SERVER_GATEWAY_API_H

#include <stdbool.h>

#include "gateway/gw.h"
#include "server/http.h"
#include "server/sdk_api.h"

typedef struct gateway_api gateway_api;

typedef struct gateway_api_config {
    bool fallback;         /* retry a failed variant on "control" */
    unsigned token_rate;   /* requests/s per token, 0 = no limit */
    unsigned route_rate;   /* requests/s per (environment, alias), 0 = none */
    unsigned flush_ms;     /* measurement period, 0 = one minute */
    gw_measure_fn measure; /* also receives every batch; may be NULL */
    void *measure_ud;      /* passed to measure */
    gw_log_fn log;         /* may be NULL */
    void *log_ud;          /* passed to log */
} gateway_api_config;

/* `sdk` is borrowed (auth, the hub) and must outlive the gateway. */
vx_status gateway_api_new(const gateway_api_config *cfg, sdk_api *sdk,
                          gateway_api **out, vx_error *err);
/* Answers every request in flight; call before stopping the listener. */
void gateway_api_stop(gateway_api *a);
/* Stops and frees; clears `*a`, accepts NULL. */
void gateway_api_free(gateway_api **a);

/* True for the paths the gateway serves (/v1/..., and Ollama's /api/chat,
 * /api/generate, /api/embed, /api/embeddings, /api/tags). */
bool gateway_api_owns(const http_req *r);
void gateway_api_headers(gateway_api *a, http_req *r);
void gateway_api_request(gateway_api *a, http_req *r);
/* The request is over: lets go of its upstream call (a client gone
 * early is counted as a disconnect). */
void gateway_api_done(gateway_api *a, const http_req *r);

/* The per-variant counters as Prometheus text, in `arena`. */
vx_status gateway_api_metrics(gateway_api *a, vx_arena *arena, char **text,
                              size_t *len);

/* The gateway's counters since this process started, per (environment,
 * flag, variant, enabled), for `environment` (NULL: all), as gw_stats
 * returns them: a new reference. For the console's admin route
 * (console_api.c), which scopes them to the caller's projects. */
json_t *gateway_api_series(gateway_api *a, const char *environment);

#endif
