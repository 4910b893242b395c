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
#define VX_LIMIT_LOG_LINE  1024 /* one log line (base/log.h) */

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
#define VX_LIMIT_CLIENT_APP_DAYS  2     /* ... dropped at the cap after this */
#define VX_LIMIT_SDK_HISTORY      64    /* published states kept for deltas */
#define VX_LIMIT_SDK_BODIES       64    /* cached bodies per state (scopes) */
#define VX_LIMIT_SSE_CLIENTS      4096  /* streaming connections at once */
#define VX_LIMIT_SSE_QUEUE_BYTES  ((size_t)8 << 20) /* unsent per client */
#define VX_LIMIT_SSE_HEARTBEAT_MS 15000 /* comment line to idle streams */
/* The longest a patch waits for more writes to gather (ms). */
#define VX_LIMIT_SDK_GATHER_MS 20
#define VX_LIMIT_SDK_TRIM_MS   1000 /* heap trims during write bursts */
/* Events after which the published state is rebuilt whole, not patched. */
#define VX_LIMIT_SDK_INCREMENTAL 2048
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
/* ---- guarded rollouts (src/guard) -------------------------------------- */
#define VX_LIMIT_GUARD_MILESTONES  32   /* milestones in one release plan */
#define VX_LIMIT_GUARD_METRICS     16   /* guard metrics in one plan */
#define VX_LIMIT_GUARD_SKETCH_BINS 1024 /* buckets of one latency sketch */
/* Impact metrics and release plans (src/service/impact.c, plans.c). */
#define VX_LIMIT_IMPACT_METRICS     1000   /* entries in one impact batch */
#define VX_LIMIT_IMPACT_LATENCIES   10000  /* raw latencies in one entry */
#define VX_LIMIT_IMPACT_VALUES      16     /* named metrics in one entry */
#define VX_LIMIT_IMPACT_MINUTE_DAYS 7      /* minute buckets kept (days) */
#define VX_LIMIT_IMPACT_HOUR_DAYS   90     /* hour buckets kept (days) */
#define VX_LIMIT_IMPACT_BATCH_HOURS 24     /* batch ids remembered (hours) */
#define VX_LIMIT_IMPACT_FUTURE_MS   300000 /* "at" ahead of the clock */
#define VX_LIMIT_PLAN_WEBHOOKS      8      /* webhook URLs of one plan */
#define VX_LIMIT_PLAN_LOG           50     /* decisions kept in a plan's log */
#define VX_LIMIT_PLAN_SEGMENTS      16     /* segments of one plan stage */
#define VX_LIMIT_PLAN_EPOCHS        64     /* rollout epochs of one plan run */
#define VX_LIMIT_SCHEDULES          1000   /* pending scheduled changes */
#define VX_LIMIT_WEBHOOK_TIMEOUT_MS 5000   /* one webhook call */
#define VX_LIMIT_LEASE_MIN_MS       1000 /* scheduler lease: 3 ticks, >= this */
/* ---- end guarded rollouts ---------------------------------------------- */
/* ---- AI advisor (src/ai) ------------------------------------------------ */
#define VX_LIMIT_LLM_RESPONSE_BYTES ((size_t)1 << 20)   /* one model answer */
#define VX_LIMIT_LLM_PROMPT_BYTES   ((size_t)256 << 10) /* one request body */
#define VX_LIMIT_LLM_TIMEOUT_MS     600000 /* --llm-timeout-ms hard cap */
#define VX_LIMIT_LLM_TIMEOUT_DEFAULT_MS                                        \
    15000 /* --llm-timeout-ms: a wait a person sits through */
#define VX_LIMIT_LLM_MAX_TOKENS           8192 /* max_tokens sent to the model */
#define VX_LIMIT_LLM_RETRIES              5 /* extra attempts on 5xx/timeout */
#define VX_LIMIT_LLM_MODELS               10000 /* names read from a model list */
#define VX_LIMIT_AI_SENTENCE_BYTES        2000 /* a targeting sentence */
#define VX_LIMIT_AI_FIELDS                200  /* known context fields */
#define VX_LIMIT_AI_CONSTRAINTS           20   /* constraints in one proposal */
#define VX_LIMIT_AI_VALUES                100 /* values in one proposed constraint */
#define VX_LIMIT_AI_EVENTS                5000 /* audit events in one changelog */
#define VX_LIMIT_AI_FLAGS_IN_PROMPT       300 /* flags described to the model */
#define VX_LIMIT_AI_TEXT_BYTES            600 /* explanations, summaries */
#define VX_LIMIT_AI_DENY                  20000 /* strings the scrubber removes */
#define VX_LIMIT_AI_INFLIGHT              4  /* model calls at once (server) */
#define VX_LIMIT_AI_CONFIRM_ABOVE_DEFAULT 25 /* --advisor-confirm-above (%) */
static_assert(VX_LIMIT_LLM_TIMEOUT_DEFAULT_MS <= VX_LIMIT_LLM_TIMEOUT_MS,
              "the default model timeout is within the hard cap");
/* Recently seen contexts (src/server/seen.c), in memory only, for the
 * targeting dry run; per environment. */
#define VX_LIMIT_SEEN_CONTEXTS      1000 /* contexts kept per environment */
#define VX_LIMIT_SEEN_CONTEXT_BYTES 4096 /* a larger context is not kept */
#define VX_LIMIT_SEEN_BYTES         ((size_t)1 << 20) /* kept per environment */
#define VX_LIMIT_SEEN_FIELDS        200 /* field names kept per environment */
#define VX_LIMIT_SEEN_ENVS          64  /* environments tracked */
#define VX_LIMIT_SEEN_FIELD_BYTES   100 /* a longer field name is not kept */
/* ---- end AI advisor ----------------------------------------------------- */
/* ---- web console (src/service/feature_list.c, sessions.c, src/server) --- */
#define VX_LIMIT_FEATURE_PAGE 1000 /* flags in one page of a flag list */
/* Console sessions: live ones per token (the oldest go first), the longest
 * idle timeout or lifetime (ms), and how stale a session's recorded last
 * use may get before a request writes it (ms). */
#define VX_LIMIT_SESSIONS_PER_TOKEN 100
#define VX_LIMIT_SESSION_MS         (90LL * 86400000)
#define VX_LIMIT_SESSION_TOUCH_MS   60000
/* ---- end web console ---------------------------------------------------- */

/* ---- model gateway (src/gateway, src/server/gateway_api.c) ------------ */
#define VX_LIMIT_GW_BODY_BYTES     ((size_t)1 << 20)  /* one client request */
#define VX_LIMIT_GW_RESPONSE_BYTES ((size_t)16 << 20) /* a whole answer */
/* Streamed bytes the client has not taken yet; past it the upstream is
 * paused until the client catches up. */
#define VX_LIMIT_GW_PIPE_BYTES         ((size_t)1 << 20)
#define VX_LIMIT_GW_SSE_LINE_BYTES     ((size_t)64 << 10) /* a line scanned */
#define VX_LIMIT_GW_INFLIGHT           4096   /* upstream calls at once */
#define VX_LIMIT_GW_TIMEOUT_MS         600000 /* timeout_ms of a payload */
#define VX_LIMIT_GW_TIMEOUT_DEFAULT_MS 60000  /* when a payload has none */
#define VX_LIMIT_GW_URL_BYTES          2048   /* base_url */
#define VX_LIMIT_GW_NAME_BYTES         256    /* model, api_key_env, alias */
#define VX_LIMIT_GW_SERIES             4096 /* (env, flag, variant) measured */
#define VX_LIMIT_GW_RESPONSES          8192 /* response ids kept for feedback */
#define VX_LIMIT_GW_RAW_OBS            256  /* raw TTFTs per series and batch */
#define VX_LIMIT_GW_BATCHES_KEPT       32   /* batches shown by the stats */
#define VX_LIMIT_GW_RATE               100000000u /* --gateway-*-rate cap */
/* An upstream's answer headers passed on to the client (the rest are left
 * out): how many, and their bytes (names and values). */
#define VX_LIMIT_GW_REPLY_HEADERS      64
#define VX_LIMIT_GW_REPLY_HEADER_BYTES ((size_t)16 << 10)
/* The caller's context for targeting (OpenAI's "metadata" and the
 * X-Vexil-Context header; OpenAI's own metadata limits): fields from each,
 * a field name's and a value's bytes, and the header's bytes. */
#define VX_LIMIT_GW_CONTEXT_FIELDS       16
#define VX_LIMIT_GW_CONTEXT_NAME_BYTES   64
#define VX_LIMIT_GW_CONTEXT_VALUE_BYTES  512
#define VX_LIMIT_GW_CONTEXT_HEADER_BYTES ((size_t)8 << 10)
static_assert(VX_LIMIT_GW_CONTEXT_FIELDS * 2 + 8 <= VX_LIMIT_CONTEXT_PROPS,
              "both context sources fit in one evaluated context");
/* ---- end model gateway ------------------------------------------------- */

#endif
