/* An edge node (`vexil edge`, docs/edge.md): an HTTP process without a
 * database that serves SDKs what an upstream Vexil server (or another
 * edge) serves them, from memory, close to the applications.
 *
 * For each token it follows (those it is given, and client tokens it was
 * not given but checked with the upstream) it holds the upstream's SDK
 * state in a fed hub (src/hub/feed.c), kept current by the upstream's
 * stream (/api/client/streaming, resumed with the last event id; delta
 * polling when streams are refused), and answers the Unleash client and
 * frontend APIs, delta, streaming and OFREP with src/server's endpoints,
 * byte for byte as the upstream would. Tokens are checked once with the
 * upstream and cached; revocation reaches the edge through its streams.
 * What SDKs report is checked as the server would, aggregated, journaled
 * on disk and forwarded in batches. While the upstream is down the edge
 * serves its last state (also after a restart, from its snapshots) and
 * says so in /ready and /metrics.
 *
 * Layering: base <- core <- service (checks only, no database) <- hub <-
 * server (listener, endpoints) <- edge <- cli. Thread-safety: edge_start
 * and edge_stop from one thread; the edge runs its own threads. */
#ifndef VX_EDGE_EDGE_H
#define VX_EDGE_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "vexil/status.h"

typedef struct edge edge;

typedef struct edge_config {
    const char *upstream;      /* "http://host:4242" (a path such as /api
                                  is dropped); required */
    const char *const *tokens; /* the tokens given [ntokens] (client ones
                                  are followed; frontend ones checked) */
    size_t ntokens;            /* at least one client token is advised */
    const char *data_dir;      /* snapshots, token cache and the reports'
                                  queue (created 0700); NULL: memory only */
    const char *host;          /* address to bind */
    uint16_t port;             /* 0 = any free port (edge_port) */
    unsigned threads;          /* listener threads, 0 = one per core */
    unsigned max_connections;  /* 0 = the server's default */
    unsigned max_streams;      /* streams in all, 0 = half the connections */
    unsigned max_streams_per_token; /* 0 = half of max_streams */
    const char *frontend_origins;   /* CORS, NULL = "*" */
    unsigned ofrep_rate;            /* OFREP requests/s per token, 0 none */
    unsigned forward_ms;            /* reports forwarded at most this often;
                                       0 = VX_LIMIT_EDGE_FORWARD_MS */
    size_t queue_bytes;             /* journal + outbox on disk at most; 0 =
                                       VX_LIMIT_EDGE_QUEUE_BYTES */
    unsigned poll_ms;               /* delta polling period when streams are
                                       refused; 0 = VX_LIMIT_SDK_POLL_MS */
    unsigned header_timeout_ms;     /* slow clients, as `vexil serve` */
    unsigned body_timeout_ms;
    unsigned max_per_address;
    bool log_requests; /* one log line per request */
    vx_log_fn log;     /* may be NULL */
    void *log_ud;      /* passed to log */
} edge_config;

/* Loads the data directory (snapshots, tokens, queued reports), starts
 * following the upstream and listening. Starts even when the upstream does
 * not answer (then from the snapshots, or not ready until it does).
 * Errors: VX_EINVAL (a setting: err->path names it, "/upstream"...),
 * VX_ELIMIT, VX_EIO (bind, data directory), VX_ENOMEM. */
vx_status edge_start(const edge_config *cfg, edge **out, vx_error *err);

/* The bound port. */
uint16_t edge_port(const edge *e);

/* Stops: streams end, the listener drains, what SDKs reported is queued
 * on disk (and forwarded first when the upstream answers within a
 * second), snapshots are written. Clears `*e`; accepts NULL. */
void edge_stop(edge **e);

#endif
