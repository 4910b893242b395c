/* The Vexil HTTP server: the listener (http.h) wired to the router, the
 * service, authentication and the operational endpoints /health, /ready
 * and /metrics.
 *
 * Invariant: the server borrows the service and never closes it; every
 * /api/ request is authenticated before its body is read. */
#ifndef VX_SERVER_SERVER_H
#define VX_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/llm.h"
#include "base/limits.h"
#include "base/log.h"
#include "service/service.h"

typedef struct server server;

typedef vx_log_fn server_log_fn;

#define SERVER_MAX_BODY_DEFAULT    VX_LIMIT_HTTP_BODY_DEFAULT
#define SERVER_MAX_BODY_HARD       VX_LIMIT_HTTP_BODY_MAX
#define SERVER_CONNECTIONS_DEFAULT VX_LIMIT_HTTP_CONNECTIONS_DEFAULT
#define SERVER_CONNECTIONS_HARD    VX_LIMIT_HTTP_CONNECTIONS
#define SERVER_THREADS_HARD        VX_LIMIT_HTTP_THREADS
#define SERVER_OFREP_RATE_DEFAULT  VX_LIMIT_OFREP_RATE
#define SERVER_OFREP_RATE_HARD     100000000u
#define SERVER_LLM_TIMEOUT_DEFAULT VX_LIMIT_LLM_TIMEOUT_DEFAULT_MS
#define SERVER_LLM_TIMEOUT_HARD    VX_LIMIT_LLM_TIMEOUT_MS
#define SERVER_LLM_MAX_TOKENS_HARD VX_LIMIT_LLM_MAX_TOKENS
#define SERVER_GW_RATE_HARD        VX_LIMIT_GW_RATE
#define SERVER_TIMEOUT_MS_HARD     VX_LIMIT_HTTP_TIMEOUT_MS_MAX
#define SERVER_PER_ADDRESS_NONE    0xffffffffu /* max_per_address: no cap */
#define SERVER_FD_RESERVE          VX_LIMIT_HTTP_FD_RESERVE

typedef struct server_config {
    const char *host;               /* address to bind, e.g. "127.0.0.1" */
    uint16_t port;                  /* 0 = any free port (see server_port) */
    unsigned threads;               /* 0 = one per online core */
    unsigned max_connections;       /* 0 = SERVER_CONNECTIONS_DEFAULT */
    size_t max_body;                /* 0 = SERVER_MAX_BODY_DEFAULT */
    bool log_requests;              /* one log line per request */
    const char *frontend_origins;   /* CORS of /api/frontend and OFREP: "*"
                                       or "https://a,https://b"; NULL = "*" */
    unsigned ofrep_rate;            /* OFREP requests/s per token, 0 = none */
    unsigned sdk_poll_ms;           /* backstop check of the database revision
                                       for other replicas' writes, 0 =
                                       VX_LIMIT_SDK_POLL_MS */
    unsigned max_streams;           /* streaming connections in all; 0 =
                                       hub_stream_caps' default; must be
                                       below max_connections */
    unsigned max_streams_per_token; /* ... per token; 0 = the default */
    server_log_fn log;              /* may be NULL */
    void *log_ud;                   /* passed to log */
    ai_llm *llm;                    /* the advisor's model, borrowed; NULL =
                                       the deterministic advisors only */
    unsigned plan_tick_ms;          /* release-plan scheduler; 0 = default */
    unsigned advisor_auto_apply;    /* AI_AUTO_* rollout advice applied
                                       without a person; 0 = none */
    int advisor_confirm_above;      /* % a first step may reach without
                                       "confirm"; 0 = the default */
    bool gw_fallback;               /* gateway: retry on the control */
    unsigned gw_token_rate;         /* gateway requests/s per token, 0 none */
    unsigned gw_route_rate;         /* per (environment, alias), 0 none */
    unsigned gw_flush_ms;           /* measurement period, 0 = a minute */
    /* Slow clients (docs/operations.md, "Connections and slow clients"). */
    unsigned header_timeout_ms; /* request headers, at most; 0 = default */
    unsigned body_timeout_ms;   /* then the body, at most; 0 = default */
    unsigned max_per_address;   /* connections from one address; 0 =
                                   VX_LIMIT_HTTP_PER_ADDRESS_DEFAULT,
                                   SERVER_PER_ADDRESS_NONE = no cap */
    unsigned db_threads;        /* database threads (dbpool.h), 0 =
                                   VX_LIMIT_DB_THREADS_DEFAULT */
    unsigned db_queue;          /* requests waiting for one, 0 =
                                   VX_LIMIT_DB_QUEUE_DEFAULT */
    unsigned db_timeout_ms;     /* one database call at most (as given to
                                   the service), 0 = VX_LIMIT_DB_TIMEOUT_MS;
                                   bounds a request's wait in the queue */
    unsigned session_idle_secs; /* console sessions end after this long
                                   unused; 0 = 12 hours */
    unsigned session_max_secs;  /* and after this long; 0 = 7 days */
    int session_secure;         /* the cookie's Secure: session_secure of
                                   session_api.h; 0 = auto */
} server_config;

/* Starts listening. `svc` is borrowed and must outlive the server; the
 * strings in `cfg` likewise. Errors: VX_ELIMIT (a setting over its hard
 * limit: err->path names it, "/threads"...), VX_EINVAL (bad host), VX_EIO
 * (cannot bind), VX_ENOMEM. */
vx_status server_start(const server_config *cfg, service *svc, server **out,
                       vx_error *err);

/* The bound port. */
uint16_t server_port(const server *s);

/* Graceful stop: no new connections, requests in flight finish (bounded
 * wait), then the threads are joined. Does not close the service. Clears
 * `*s`; accepts NULL and *s == NULL. */
void server_stop(server **s);

/* The configured default for threads: the number of online cores, bounded
 * by SERVER_THREADS_HARD. */
unsigned server_default_threads(void);

#endif
