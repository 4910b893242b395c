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

static_assert(VX_LIMIT_HTTP_BODY_DEFAULT <= VX_LIMIT_HTTP_BODY_MAX,
              "the default body limit is within the hard cap");
static_assert(VX_LIMIT_HTTP_SEGMENTS <= 32, "route specificity fits 32 bits");
/* ---- end HTTP server --------------------------------------------------- */

/* ---- AI advisor (src/ai) ------------------------------------------------ */
#define VX_LIMIT_LLM_RESPONSE_BYTES     ((size_t)1 << 20) /* one model answer */
#define VX_LIMIT_LLM_PROMPT_BYTES       ((size_t)256 << 10) /* one request body */
#define VX_LIMIT_LLM_TIMEOUT_MS         600000 /* --llm-timeout-ms hard cap */
#define VX_LIMIT_LLM_TIMEOUT_DEFAULT_MS 60000  /* --llm-timeout-ms */
#define VX_LIMIT_LLM_MAX_TOKENS         8192 /* max_tokens sent to the model */
#define VX_LIMIT_LLM_RETRIES            5    /* extra attempts on 5xx/timeout */
#define VX_LIMIT_LLM_MODELS             10000 /* names read from a model list */
#define VX_LIMIT_AI_SENTENCE_BYTES      2000  /* a targeting sentence */
#define VX_LIMIT_AI_FIELDS              200   /* known context fields */
#define VX_LIMIT_AI_CONSTRAINTS         20    /* constraints in one proposal */
#define VX_LIMIT_AI_VALUES              100 /* values in one proposed constraint */
#define VX_LIMIT_AI_EVENTS              5000 /* audit events in one changelog */
#define VX_LIMIT_AI_FLAGS_IN_PROMPT     300  /* flags described to the model */
#define VX_LIMIT_AI_TEXT_BYTES          600  /* explanations, summaries */
#define VX_LIMIT_AI_DENY                20000 /* strings the scrubber removes */
#define VX_LIMIT_AI_INFLIGHT            4     /* model calls at once (server) */
static_assert(VX_LIMIT_LLM_TIMEOUT_DEFAULT_MS <= VX_LIMIT_LLM_TIMEOUT_MS,
              "the default model timeout is within the hard cap");
/* ---- end AI advisor ----------------------------------------------------- */

#endif
