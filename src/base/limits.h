/* Every limit Vexil enforces, in one place (STYLE rule 8). Exceeding one is
 * a clear error naming the field, never a crash. */
#ifndef VX_BASE_LIMITS_H
#define VX_BASE_LIMITS_H

#include <assert.h>
#include <stddef.h>

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

/* ---- flag data: the one gate (src/core/load.c, src/service/gate.c) ----- */
/* Every limit libvexil's loader checks in a flag set, as one table that the
 * loader and the service's validation both read: the service refuses (4xx,
 * naming the field and the limit) whatever the loader would refuse, so an
 * accepted write never stops an environment from being served.
 * X(id, name, value, unit, what); messages name a limit by `name`
 * ("limit regex_bytes"), see vx__limit_message. NAME_BYTES bounds every
 * name the loader reads: flag, strategy, variant, context field (of a
 * constraint or an override), operator, parent flag, payload type. */
#define VX_FLAG_LIMITS(X)                                                      \
    X(DOC_BYTES, "doc_bytes", VX_LIMIT_DOC_BYTES, "bytes",                     \
      "a features document")                                                   \
    X(FLAGS, "flags", VX_LIMIT_FLAGS, "flags", "an environment")               \
    X(SEGMENTS, "segments", VX_LIMIT_SEGMENTS, "segments", "a flag set")       \
    X(STRATEGIES, "strategies", VX_LIMIT_STRATEGIES, "strategies",             \
      "a flag in one environment")                                             \
    X(CONSTRAINTS, "constraints", VX_LIMIT_CONSTRAINTS, "constraints",         \
      "a strategy (with its segments' when inlined) or a segment")             \
    X(STRATEGY_SEGMENTS, "strategy_segments", VX_LIMIT_CONSTRAINTS,            \
      "segments", "a strategy")                                                \
    X(VALUES, "values", VX_LIMIT_VALUES, "values",                             \
      "a constraint or an override")                                           \
    X(VARIANTS, "variants", VX_LIMIT_VARIANTS, "variants",                     \
      "a flag or a strategy")                                                  \
    X(OVERRIDES, "overrides", VX_LIMIT_VARIANTS, "overrides", "a variant")     \
    X(DEPENDENCY_VARIANTS, "dependency_variants", VX_LIMIT_VARIANTS,           \
      "variants", "a dependency")                                              \
    X(DEPENDENCIES, "dependencies", VX_LIMIT_DEPENDENCIES, "parents",          \
      "a flag")                                                                \
    X(NAME_BYTES, "name_bytes", VX_LIMIT_NAME_BYTES, "bytes", "a name")        \
    X(REGEX_BYTES, "regex_bytes", VX_LIMIT_REGEX_BYTES, "bytes",               \
      "a REGEX pattern")                                                       \
    X(VARIANT_WEIGHT, "variant_weight", VX_LIMIT_VARIANT_WEIGHT, "",           \
      "a variant's weight")

typedef enum vx_flag_limit {
#define VX__FLAG_LIMIT_ENUM(id, name, value, unit, what) VX_FL_##id,
    VX_FLAG_LIMITS(VX__FLAG_LIMIT_ENUM)
#undef VX__FLAG_LIMIT_ENUM
        VX_FL_COUNT
} vx_flag_limit;

/* The value, the name ("regex_bytes") and the unit of a row. */
size_t vx__limit_value(vx_flag_limit id);
const char *vx__limit_name(vx_flag_limit id);
const char *vx__limit_unit(vx_flag_limit id);
/* The one wording of "over the limit", for the loader and the service:
 * "at most 4096 bytes in a REGEX pattern (limit regex_bytes), got 5000".
 * `got` 0 leaves out ", got N". Writes at most `cap` bytes (NUL included). */
void vx__limit_message(char *buf, size_t cap, vx_flag_limit id, size_t got);

/* ---- REGEX cost (src/core/regex.c, docs/semantics.md) ------------------ */
/* A pattern compiles under a length and a parentheses nesting limit; one
 * search runs under a budget of PCRE2 steps shared by every start position
 * (PCRE2 counts per position: each call gets VX_LIMIT_REGEX_STEPS divided
 * by the positions, at most VX_LIMIT_REGEX_STEPS_PER_START), a backtracking
 * depth and heap limit (interpreter) and a bounded JIT stack. A search that
 * reaches a limit is "no match". */
#define VX_LIMIT_REGEX_STEPS           1000000 /* one search, in all */
#define VX_LIMIT_REGEX_STEPS_PER_START 100000  /* one start position */
#define VX_LIMIT_REGEX_DEPTH           10000   /* nested backtracking */
#define VX_LIMIT_REGEX_HEAP_KIB        1024    /* interpreter frames */
#define VX_LIMIT_REGEX_JIT_STACK       ((size_t)1 << 20) /* JIT stack */
#define VX_LIMIT_REGEX_JIT_STACK_START ((size_t)32 << 10)
#define VX_LIMIT_REGEX_NEST            250 /* nested parentheses */
static_assert(VX_LIMIT_REGEX_STEPS_PER_START <= VX_LIMIT_REGEX_STEPS,
              "a start position gets at most the whole budget");

/* ---- HTTP server (src/server) ------------------------------------------ */
/* Request bodies: the default and the hard cap of --max-body. */
#define VX_LIMIT_HTTP_BODY_DEFAULT ((size_t)1 << 20)
#define VX_LIMIT_HTTP_BODY_MAX     ((size_t)64 << 20)
/* A chunked body past the limit is read and dropped (libmicrohttpd cannot
 * answer mid-body) up to this many bytes, then the connection is cut. */
#define VX_LIMIT_HTTP_DISCARD_BYTES ((size_t)4 << 20)
/* Request line plus headers: libmicrohttpd's per-connection pool. About
 * half of it is touched by every connection, which makes it most of an
 * idle stream's memory (bench/edge/README.md): 16 KB leaves room for about
 * 12 KB of headers (nginx's default is 8 KB). */
#define VX_LIMIT_HTTP_CONN_MEMORY         ((size_t)16 << 10)
#define VX_LIMIT_HTTP_HEADERS             100 /* header fields in one request */
#define VX_LIMIT_HTTP_JSON_DEPTH          64  /* nesting of a request body */
#define VX_LIMIT_HTTP_QUERY_PARAMS        64  /* query-string parameters */
#define VX_LIMIT_HTTP_SEGMENTS            16 /* path segments of a routed URL */
#define VX_LIMIT_HTTP_THREADS             256   /* --threads */
#define VX_LIMIT_HTTP_CONNECTIONS         65536 /* --max-connections hard cap */
#define VX_LIMIT_HTTP_CONNECTIONS_DEFAULT 16384 /* --max-connections */
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
#define VX_LIMIT_SSE_CLIENTS      65536 /* streaming connections at once */
#define VX_LIMIT_SSE_QUEUE_BYTES  ((size_t)8 << 20) /* unsent per client */
#define VX_LIMIT_SSE_HEARTBEAT_MS 15000 /* comment line to idle streams */
/* The SDK hub (src/hub): an SDK request waits at most this long for a
 * write answered before it to be published, then is served the last
 * state; a closed stream, or one whose token expired, ends within one
 * check period. */
#define VX_LIMIT_SDK_FRESH_MS 300
#define VX_LIMIT_SSE_CHECK_MS 250
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
/* One database call (a statement and its answer) at most, measured by
 * Vexil itself, so it holds even when the server is frozen and sends
 * nothing (--db-timeout-ms). PostgreSQL also gets it as statement_timeout
 * and idle_in_transaction_session_timeout (a process that stopped inside a
 * transaction releases the write lock), and as tcp_user_timeout. The
 * client-side deadline is that plus the slack, so a live but slow server
 * reports its own timeout first. */
#define VX_LIMIT_DB_TIMEOUT_MS        10000
#define VX_LIMIT_DB_TIMEOUT_MS_MIN    100
#define VX_LIMIT_DB_TIMEOUT_MS_MAX    600000
#define VX_LIMIT_DB_DEADLINE_SLACK_MS 500
#define VX_LIMIT_DB_CONNECT_SECS      5 /* PostgreSQL: connecting at most (s) */
#define VX_LIMIT_DB_COPY_EVENT_PAGE   500 /* events per read in store_copy */
/* PostgreSQL: after a failed (re)connection, calls fail at once with
 * VX_EUNAVAILABLE for this long before the next attempt, so requests do not
 * queue behind connect timeouts while the database is down. */
#define VX_LIMIT_DB_RETRY_MS 1000
/* PostgreSQL: a reconnection runs in steps of at most this long per call
 * (the rest at the next call), never one whole connect timeout. */
#define VX_LIMIT_DB_RECONNECT_STEP_MS 100
/* Database work off the serving threads (src/server/dbpool.c): the
 * threads that run admin calls, impact posts and flushes (--db-threads),
 * the requests that may wait for one (--db-queue; past it: 503 at once),
 * and how long one may wait in that queue before it is answered 503. */
#define VX_LIMIT_DB_THREADS_DEFAULT 4
#define VX_LIMIT_DB_THREADS_MAX     64
#define VX_LIMIT_DB_QUEUE_DEFAULT   256
#define VX_LIMIT_DB_QUEUE_MAX       65536
/* The readiness probe: its period (/ready answers from its last result),
 * how long it waits for other database work, and the bound of its check
 * (or the call bound when shorter): a database that takes longer to answer
 * a trivial query is not ready. */
#define VX_LIMIT_DB_PROBE_MS      1000
#define VX_LIMIT_DB_PROBE_WAIT_MS 1000
#define VX_LIMIT_DB_PROBE_CALL_MS 2000
/* A token missing from the cache is checked on the request thread only
 * within these bounds: waiting for the service, then the lookup itself;
 * past either it is answered 503 (retry), never left hanging. */
#define VX_LIMIT_DB_AUTH_WAIT_MS 200
#define VX_LIMIT_DB_AUTH_CALL_MS 800
/* At most one request thread waits for the service at a time, and after
 * such a wait ran out the next lookups for this long only try it (503 at
 * once when it is busy): tokens anyone can make up, sent during a long
 * write, never hold more than one serving thread, and that one briefly. */
#define VX_LIMIT_DB_AUTH_BUSY_MS 1000
/* SDK metrics and registrations are answered at once and kept in memory
 * until flushed (every VX_LIMIT_DB_PROBE_MS, and before admin reads and
 * scheduler ticks; at most VX_LIMIT_USAGE_FLUSH_BATCH entries per
 * transaction): at most this many
 * (flag, application, minute) entries, bytes and application instances.
 * A post that does not fit is answered 503 and nothing of it is kept; a
 * failed flush keeps what fits and counts what it drops. */
#define VX_LIMIT_USAGE_BUFFER_ENTRIES 100000
#define VX_LIMIT_USAGE_BUFFER_BYTES   ((size_t)32 << 20)
#define VX_LIMIT_USAGE_BUFFER_APPS    10000
#define VX_LIMIT_USAGE_FLUSH_BATCH    1000
static_assert(VX_LIMIT_DB_TIMEOUT_MS >= VX_LIMIT_DB_TIMEOUT_MS_MIN &&
                  VX_LIMIT_DB_TIMEOUT_MS <= VX_LIMIT_DB_TIMEOUT_MS_MAX,
              "the default database timeout is within its bounds");
/* ---- end store --------------------------------------------------------- */
/* ---- guarded rollouts (src/guard) -------------------------------------- */
#define VX_LIMIT_GUARD_MILESTONES  32   /* milestones in one release plan */
#define VX_LIMIT_GUARD_METRICS     16   /* guard metrics in one plan */
#define VX_LIMIT_GUARD_SKETCH_BINS 1024 /* buckets of one latency sketch */
#define VX_LIMIT_GUARD_ARMS        8    /* treatment variants one plan tests */
/* Units (users) are hashed into this many fixed groups per arm; the guard
 * estimates the variance of clustered outcomes from the group totals. */
#define VX_LIMIT_IMPACT_GROUPS 64
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

/* ---- the HTTP edge: slow clients, connection caps, egress -------------- */
/* From a connection's start (or the end of its previous request's idle
 * wait) to the end of its request headers; from there to the end of the
 * body. Answers (streams, model calls) have no such deadline. */
#define VX_LIMIT_HTTP_HEADER_TIMEOUT_MS 10000   /* --header-timeout-ms */
#define VX_LIMIT_HTTP_BODY_TIMEOUT_MS   30000   /* --body-timeout-ms */
#define VX_LIMIT_HTTP_TIMEOUT_MS_MAX    3600000 /* either, at most */
/* --max-per-address by default: a quarter of the default connection
 * limit, so one address cannot hold them all (with a lower
 * --max-connections it does not bind unless set). */
#define VX_LIMIT_HTTP_PER_ADDRESS_DEFAULT 4096
/* Descriptors kept for everything but client connections (database,
 * upstream calls, logs) when the open-file limit bounds the connections. */
#define VX_LIMIT_HTTP_FD_RESERVE 256
/* The connection watchdog: how often it looks; past 7/8 of the connection
 * limit it closes connections idle (or silent before their request) for
 * more than VX_LIMIT_HTTP_RECLAIM_IDLE_MS, down to 3/4. */
#define VX_LIMIT_HTTP_WATCH_MS        100
#define VX_LIMIT_HTTP_RECLAIM_IDLE_MS 1000
/* An answer made before the body was read (401, 404, 415...) keeps the
 * connection when the announced body is at most this big (it is read and
 * dropped); a larger one closes it. */
#define VX_LIMIT_HTTP_EARLY_DRAIN_BYTES ((size_t)64 << 10)
/* libmicrohttpd's own messages (one per malformed request or dropped
 * connection) logged per second at most; the rest are counted and the
 * count logged with the next one, so a flood of bad clients cannot flood
 * the log. */
#define VX_LIMIT_HTTP_LOG_PER_SEC 10
/* Egress allowlists (src/base/egress.c): entries per list, bytes per host
 * or variable name, bytes per list. */
#define VX_LIMIT_EGRESS_ENTRIES    64
#define VX_LIMIT_EGRESS_HOST_BYTES 256
#define VX_LIMIT_EGRESS_LIST_BYTES 8192
static_assert(VX_LIMIT_HTTP_HEADER_TIMEOUT_MS <= VX_LIMIT_HTTP_TIMEOUT_MS_MAX &&
                  VX_LIMIT_HTTP_BODY_TIMEOUT_MS <= VX_LIMIT_HTTP_TIMEOUT_MS_MAX,
              "the default deadlines are within the hard cap");
/* ---- end HTTP edge ----------------------------------------------------- */
/* ---- custom strategies and the Unleash import (src/service) ------------- */
#define VX_LIMIT_STRATEGY_DEFS   1000 /* custom strategy definitions */
#define VX_LIMIT_STRATEGY_PARAMS 100  /* parameters of one definition */
/* One Unleash document set (`vexil import --from-unleash`): its exports
 * (one per project and environment) and the objects beside them. */
#define VX_LIMIT_UNLEASH_EXPORTS 10000
#define VX_LIMIT_UNLEASH_TOKENS  10000 /* API token scopes carried over */
#define VX_LIMIT_UNLEASH_NOTES   1000  /* problems and notes in one answer */
#define VX_LIMIT_WARNINGS        1000  /* warnings in one admin answer */
/* The body of an import (POST /api/admin/import and /import/unleash) by an
 * admin token, whatever --max-body says: a whole installation. */
#define VX_LIMIT_IMPORT_BODY ((size_t)256 << 20)
/* ---- end custom strategies and the Unleash import ---------------------- */

/* ---- edge nodes (src/edge) and the streams' memory ---------------------- */
/* A stream's queue keeps at most this much room once drained (a hydration
 * is freed once sent): the memory of a quiet stream is its connection. */
#define VX_LIMIT_SSE_KEEP_BYTES ((size_t)0)
/* A stream hands libmicrohttpd at most this much per write: the pages of
 * its connection buffer a stream touches (bench/edge/README.md). */
#define VX_LIMIT_SSE_WRITE_BYTES ((size_t)2 << 10)
/* The stream caps' defaults (--max-streams, --max-streams-per-token):
 * 7/8 of the connections may stream (the rest stays for polls, /health,
 * the admin API), one token 3/4 of those. A stream costs about 16 KB of
 * the server's memory (bench/edge/README.md): 16,384 connections, 14,336
 * streams, about 230 MB. */
#define VX_LIMIT_SSE_SHARE_EIGHTHS      7
#define VX_LIMIT_SSE_PER_TOKEN_QUARTERS 3
/* Tokens an edge remembers (given, checked: valid, invalid, revoked), and
 * how many secrets one check of the upstream carries. */
#define VX_LIMIT_EDGE_TOKENS       10000
#define VX_LIMIT_EDGE_VALIDATE_MAX 100
/* An unknown token waits at most this long for the upstream's answer
 * (then 503 with Retry-After); checked tokens are checked again this
 * often, and at once when the upstream says tokens changed. */
#define VX_LIMIT_EDGE_VALIDATE_MS 2000
#define VX_LIMIT_EDGE_RECHECK_MS  60000
/* After a wait for the upstream's answer ran out (it is slow), unknown
 * tokens get 503 at once for this long instead of holding a thread. */
#define VX_LIMIT_EDGE_VALIDATE_BUSY_MS 5000
/* Views (tokens followed) one edge holds. */
#define VX_LIMIT_EDGE_FEEDS 256
/* Reconnecting to the upstream: the first retry, doubled up to the cap;
 * a stream silent this long (four heartbeats) counts as broken. */
#define VX_LIMIT_EDGE_RETRY_MS     250
#define VX_LIMIT_EDGE_RETRY_MAX_MS 10000
#define VX_LIMIT_EDGE_SILENT_MS    60000
/* One upstream answer (a hydration, a validation) at most. */
#define VX_LIMIT_EDGE_ANSWER_BYTES VX_LIMIT_DOC_BYTES
/* The snapshot of a view is rewritten at most this often. */
#define VX_LIMIT_EDGE_SNAPSHOT_MS 1000
/* SDK reports kept for the upstream: forwarded every --forward-ms (at
 * least the minimum), the journal fsynced every VX_LIMIT_EDGE_SYNC_MS,
 * and journal plus outbox bounded (past it reports get 503). */
#define VX_LIMIT_EDGE_FORWARD_MS     60000
#define VX_LIMIT_EDGE_FORWARD_MIN_MS 100
#define VX_LIMIT_EDGE_SYNC_MS        1000
#define VX_LIMIT_EDGE_QUEUE_BYTES    ((size_t)64 << 20)
#define VX_LIMIT_EDGE_QUEUE_MAX      ((size_t)4 << 30)
#define VX_LIMIT_EDGE_BATCH_ENTRIES  1000 /* usage entries in one forward */
/* Impact batch ids an edge remembers (a repeated one is accepted and
 * ignored, as the server does), and for how long. */
#define VX_LIMIT_EDGE_BATCH_IDS   100000
#define VX_LIMIT_EDGE_BATCH_HOURS 24
/* An upstream call (validation, forward, delta poll) at most. */
#define VX_LIMIT_EDGE_CALL_MS 10000
/* Usage batches from edges (POST /api/edge/metrics): ids remembered to
 * ignore a repeat (a forward whose answer was lost), per process. */
#define VX_LIMIT_EDGE_SEEN_BATCHES 10000
/* A forwarded usage entry's arrival time may lie this far in the past. */
#define VX_LIMIT_EDGE_ARRIVAL_MS ((int64_t)VX_LIMIT_USAGE_HOURS * 3600000)
/* ---- end edge nodes ---------------------------------------------------- */

/* ---- the console's live updates (src/server/events_api.c) -------------- */
/* Admin event streams (GET /api/admin/events/stream) at once, in all and
 * per admin token (a console tab holds one while it shows a page that
 * updates itself); past either the answer is 503 / 429 and the console
 * refreshes by itself instead. */
#define VX_LIMIT_ADMIN_STREAMS           64
#define VX_LIMIT_ADMIN_STREAMS_PER_TOKEN 16
/* One stream lasts at most this long, then ends; the browser reconnects
 * (authenticated again, resuming with Last-Event-ID). */
#define VX_LIMIT_ADMIN_STREAM_MS          (5 * 60 * 1000)
#define VX_LIMIT_ADMIN_STREAM_QUEUE_BYTES ((size_t)256 << 10) /* unsent */
/* While streams are open: the audit log and the scheduler's lease are
 * read this often, and the tokens' revocation and expiry every
 * TOKEN_CHECK (and after any token event). */
#define VX_LIMIT_ADMIN_FEED_POLL_MS        1000
#define VX_LIMIT_ADMIN_FEED_TOKEN_CHECK_MS 30000
/* Without streams, the audit log's newest id (and the lease) is read this
 * often, so that a stream that opens starts from a recent point; a new
 * stream gets the events of the last RECENT_MS (its page was loading). */
#define VX_LIMIT_ADMIN_FEED_IDLE_MS   5000
#define VX_LIMIT_ADMIN_FEED_RECENT_MS 5000
#define VX_LIMIT_ADMIN_FEED_HISTORY   256 /* events kept to resume */
#define VX_LIMIT_ADMIN_FEED_READ      256 /* events read per poll */
#define VX_LIMIT_ADMIN_FEED_SLACK     32  /* re-read for late commits */
#define VX_LIMIT_ADMIN_FILTER_BYTES   100 /* ?feature=, ?environment= */
static_assert(VX_LIMIT_ADMIN_FEED_SLACK < VX_LIMIT_ADMIN_FEED_READ,
              "a poll reads past the re-read events");
/* ---- end the console's live updates ------------------------------------ */

#endif
