/* Every limit Vexil enforces, in one place (STYLE rule 8). Exceeding one is
 * a clear error naming the field, never a crash. */
#ifndef VX_BASE_LIMITS_H
#define VX_BASE_LIMITS_H

#include <assert.h>

#define VX_LIMIT_DOC_BYTES ((size_t)256 << 20) /* one features document */
/* JSON nesting is bounded by jansson itself (2048 levels). */
#define VX_LIMIT_FLAGS          200000 /* flags in one snapshot */
#define VX_LIMIT_SEGMENTS       100000 /* segments in one snapshot */
#define VX_LIMIT_STRATEGIES     1000   /* strategies per flag */
#define VX_LIMIT_CONSTRAINTS    1000   /* constraints per strategy or segment */
#define VX_LIMIT_VALUES         100000 /* values per constraint */
#define VX_LIMIT_VARIANTS       1000   /* variants per list */
#define VX_LIMIT_DEPENDENCIES   100    /* parents per flag */
#define VX_LIMIT_NAME_BYTES     1024   /* flag names, field names */
#define VX_LIMIT_REGEX_BYTES    4096   /* one REGEX pattern */
#define VX_LIMIT_PROPS          1000   /* custom fields per context */
#define VX_LIMIT_VARIANT_WEIGHT 1000000000 /* one variant's weight */
#define VX_LIMIT_CONTEXTS       10000000   /* contexts in one file */

#define VX_LIMIT_PATCH_OPS 1000 /* operations in one JSON Patch */

static_assert(VX_LIMIT_FLAGS < (1u << 30), "flag indexes fit in 32 bits");

/* ---- HTTP server (src/server) ------------------------------------------ */
/* Request bodies: the default and the hard cap of --max-body. */
#define VX_LIMIT_HTTP_BODY_DEFAULT ((size_t)1 << 20)
#define VX_LIMIT_HTTP_BODY_MAX     ((size_t)64 << 20)
/* A chunked body past the limit is read and dropped (libmicrohttpd cannot
 * answer mid-body) up to this many bytes, then the connection is cut. */
#define VX_LIMIT_HTTP_DISCARD_BYTES ((size_t)4 << 20)
/* Request line plus headers: libmicrohttpd's per-connection pool. */
#define VX_LIMIT_HTTP_CONN_MEMORY         ((size_t)64 << 10)
#define VX_LIMIT_HTTP_HEADERS             100 /* header fields in one request */
#define VX_LIMIT_HTTP_JSON_DEPTH          64  /* nesting of a request body */
#define VX_LIMIT_HTTP_QUERY_PARAMS        64  /* query-string parameters */
#define VX_LIMIT_HTTP_SEGMENTS            16 /* path segments of a routed URL */
#define VX_LIMIT_HTTP_THREADS             256   /* --threads */
#define VX_LIMIT_HTTP_CONNECTIONS         65536 /* --max-connections hard cap */
#define VX_LIMIT_HTTP_CONNECTIONS_DEFAULT 1024  /* --max-connections */
#define VX_LIMIT_HTTP_IDLE_SECS           60    /* idle keep-alive connection */
#define VX_LIMIT_HTTP_DRAIN_MS            10000 /* wait for requests on stop */
#define VX_LIMIT_HTTP_METRICS_BYTES       ((size_t)8 << 20) /* one /metrics text */
#define VX_LIMIT_HTTP_REPLY_HEADERS       12 /* extra headers of one answer */

static_assert(VX_LIMIT_HTTP_BODY_DEFAULT <= VX_LIMIT_HTTP_BODY_MAX,
              "the default body limit is within the hard cap");
static_assert(VX_LIMIT_HTTP_SEGMENTS <= 32, "route specificity fits 32 bits");
/* ---- SDK-facing APIs (src/server/sdk, src/service/sdk.c) --------------- */
#define VX_LIMIT_USAGE_HOURS      (24 * 14) /* hourly usage kept */
#define VX_LIMIT_METRICS_TOGGLES  10000     /* flags in one metrics bucket */
#define VX_LIMIT_METRICS_VARIANTS 100       /* variants per flag in a bucket */
#define VX_LIMIT_CLIENT_APPS      10000 /* registered application instances */
#define VX_LIMIT_SDK_HISTORY      64    /* published states kept for deltas */
#define VX_LIMIT_SDK_BODIES       64    /* cached bodies per state (scopes) */
#define VX_LIMIT_SSE_CLIENTS      4096  /* streaming connections at once */
#define VX_LIMIT_SSE_QUEUE_BYTES  ((size_t)8 << 20) /* unsent per client */
#define VX_LIMIT_SSE_HEARTBEAT_MS 15000 /* comment line to idle streams */
/* Events after which the published state is rebuilt whole, not patched. */
#define VX_LIMIT_SDK_INCREMENTAL 256
#define VX_LIMIT_SDK_POLL_MS     1000    /* revision check (other writers) */
#define VX_LIMIT_SDK_POLL_MS_MAX 3600000 /* --sdk-poll-ms at most */
#define VX_LIMIT_SDK_WATCH_MS    250     /* one wait for change notifications */
/* Properties in one frontend or OFREP context. */
#define VX_LIMIT_CONTEXT_PROPS 64
/* ---- end HTTP server --------------------------------------------------- */

/* ---- frontend API and OFREP (src/server/frontend_api.c, ofrep_api.c) ---- */
/* One evaluated answer (frontend, OFREP bulk). */
#define VX_LIMIT_SDK_ANSWER_BYTES ((size_t)64 << 20)
#define VX_LIMIT_OFREP_RATE       100000 /* default requests/s per token */
#define VX_LIMIT_OFREP_BURST_SECS 2.0    /* bucket size, in seconds of rate */
#define VX_LIMIT_OFREP_TOKENS     4096   /* tokens the rate limiter tracks */

/* ---- C SDK, libvexil-client (src/sdk) ------------------------------------ */
/* One metrics bucket: flags, (flag, variant) pairs and their name bytes. */
#define VX_LIMIT_SDK_USAGE_FLAGS      4096
#define VX_LIMIT_SDK_USAGE_VARIANTS   16384
#define VX_LIMIT_SDK_USAGE_NAME_BYTES ((size_t)512 << 10)
#define VX_LIMIT_SDK_SSE_EVENT_BYTES  VX_LIMIT_DOC_BYTES /* one SSE event */
#define VX_LIMIT_SDK_REPLY_BYTES      ((size_t)64 << 10) /* register/metrics */
#define VX_LIMIT_SDK_BACKUP_EVENTS    1000 /* deltas kept before re-hydrating */
#define VX_LIMIT_SDK_STREAM_IDLE_SECS 60   /* silent stream (4 heartbeats) */
#define VX_LIMIT_SDK_MIN_INTERVAL_MS  10   /* refresh and metrics periods */
#define VX_LIMIT_SDK_URL_BYTES        2048 /* server URL, token, names */
/* ---- store: waiting on the database ------------------------------------ */
/* How long a writer waits for the one before it (SQLite busy timeout,
 * PostgreSQL lock_timeout on the write lock) before failing. */
#define VX_LIMIT_DB_WAIT_MS 5000
/* PostgreSQL: one statement at most; a session idle inside a transaction
 * this long is cut, releasing the write lock; connecting at most (s). */
#define VX_LIMIT_DB_STATEMENT_MS    60000
#define VX_LIMIT_DB_IDLE_TX_MS      60000
#define VX_LIMIT_DB_CONNECT_SECS    5
#define VX_LIMIT_DB_COPY_EVENT_PAGE 500 /* events per read in store_copy */
/* PostgreSQL: after a failed (re)connection, calls fail at once with
 * VX_EUNAVAILABLE for this long before the next attempt, so requests do not
 * queue behind connect timeouts while the database is down. */
#define VX_LIMIT_DB_RETRY_MS 1000
/* PostgreSQL: a reconnection runs in steps of at most this long per call
 * (the rest at the next call), never one whole connect timeout. */
#define VX_LIMIT_DB_RECONNECT_STEP_MS 100
/* ---- end store --------------------------------------------------------- */

#endif
