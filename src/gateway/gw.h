/* The model gateway's engine: proxies one OpenAI-compatible request to the
 * upstream a flag's variant names, on one thread of its own running the
 * libcurl multi interface, so no HTTP worker ever waits on a model; streams
 * the answer back as it arrives; measures every request per (environment,
 * flag, variant, enabled) and hands the measurements, aggregated, to a sink
 * in the impact-metrics batch format (docs/gateway.md).
 *
 * Invariant: an upstream API key is read from the environment variable a
 * payload names at the moment a request is sent (when the operator's
 * allowlists let that variable and that host through), kept only in the
 * libcurl header list of that request, and never logged or measured. Every call
 * started is answered exactly once (its `respond` runs), also when the
 * gateway stops. A variant's payload is read with
 * base/upstream.h, the schema the service checks every write with. */
#ifndef VX_GATEWAY_GW_H
#define VX_GATEWAY_GW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/egress.h"
#include "base/limits.h"
#include "base/upstream.h"
#include "base/log.h"
#include "vexil/status.h"

typedef struct gw gw;
typedef struct gw_call gw_call;

/* Receives one batch of measurements for `environment`, in the shape of
 * IMPACT.md (`{"batchId", "metrics": [...]}`); `batch` is borrowed for the
 * call (json_incref to keep it). Runs on the gateway's thread. */
typedef void (*gw_measure_fn)(void *ud, const char *environment, json_t *batch);
/* `level` is "info", "warn" or "error"; `msg` has no newline. */
typedef vx_log_fn gw_log_fn;

typedef struct gw_config {
    bool fallback;         /* on an upstream error, retry on the control */
    unsigned flush_ms;     /* measurement period; 0 = 60000 (one minute) */
    gw_measure_fn measure; /* may be NULL: measurements are only counted */
    void *measure_ud;      /* passed to measure */
    gw_log_fn log;         /* may be NULL */
    void *log_ud;          /* passed to log */
    /* The operator's allowlists, checked again before every upstream
     * request (URL and api_key_env): a refused one is not sent. Borrowed
     * for the engine's life; NULL = no check (the caller's own). */
    const vx_egress *egress;
} gw_config;

/* What the gateway reads out of an upstream's answer for its measurements:
 * `usage` token counts (Ollama: prompt_eval_count and eval_count of the
 * object with "done": true), the answer's "id", and the chunks with
 * content (the token count of a stream without `usage`). Not thread-safe;
 * one per answer. */
typedef struct gw_scan {
    int64_t prompt_tokens;     /* usage.prompt_tokens, -1 unknown */
    int64_t completion_tokens; /* usage.completion_tokens, -1 unknown */
    int64_t chunks;            /* choices[0] delta.content or text, Ollama's
                                  message.content or response, non-empty */
    char id[128];              /* the first "id" seen, "" when none */
    bool done;                 /* an Ollama object with "done": true */
    bool error;                /* a stream line {"error": ...} (Ollama's
                                  way to fail a stream that started) */
    char *line;                /* the SSE line being read (owned) */
    size_t line_len;           /* its bytes */
    bool line_skip;            /* the line is over VX_LIMIT_GW_SSE_LINE_BYTES */
} gw_scan;

void gw_scan_init(gw_scan *s);
/* Frees the line buffer and re-initialises. */
void gw_scan_release(gw_scan *s);
/* A whole JSON answer (`n` bytes; anything else is ignored). */
void gw_scan_whole(gw_scan *s, const char *p, size_t n);
/* A stream, in pieces of any size as it arrives: Server-Sent Events, whose
 * complete "data: {...}" lines are answer chunks, or NDJSON (Ollama), whose
 * lines starting with "{" are; a line over the limit is skipped whole. */
void gw_scan_stream(gw_scan *s, const char *p, size_t n);

/* What the client is answered; strings valid during `respond` only. */
typedef struct gw_reply {
    unsigned status;         /* HTTP status */
    const char *ctype;       /* Content-Type */
    const char *variant;     /* the variant that served it */
    const char *failed;      /* the variant that failed first, or NULL */
    const char *response_id; /* the gateway's id for /v1/feedback */
    bool stream;             /* the body follows through gw_call_read */
    const char *body;        /* a whole body (stream == false) */
    size_t len;              /* its length */
    /* A gateway-made error (the upstream gave no answer): its message, for
     * the client side to write in its client's dialect; body is NULL. It
     * names no upstream address (the log has the details). */
    const char *problem;
    /* The upstream's answer headers worth passing on (not hop-by-hop, not
     * those the gateway owns or that bind the upstream's origin), at most
     * VX_LIMIT_GW_REPLY_HEADERS of them in VX_LIMIT_GW_REPLY_HEADER_BYTES;
     * names as the upstream wrote them. None with `problem`. */
    const char *const *hnames;
    const char *const *hvalues;
    size_t nheaders; /* entries in both */
} gw_reply;

/* The client side of a call. Both run on the gateway's thread. */
typedef struct gw_client {
    /* Exactly once per call: the answer's head (and whole body). */
    void (*respond)(void *ud, const gw_reply *reply);
    /* Streamed bytes are waiting in gw_call_read (or the end is). Never
     * called after gw_call_release. */
    void (*wake)(void *ud);
    void *ud;
} gw_client;

/* One request to proxy. Everything is borrowed for gw_call_start only. */
typedef struct gw_request {
    const char *environment;    /* the token's environment */
    const char *flag;           /* the gateway flag, "model.<alias>" */
    const char *variant;        /* the variant chosen for the caller */
    bool enabled;               /* whether the flag was on for the caller */
    const char *endpoint;       /* "chat/completions", "embeddings"...;
                                   after ollama_url when `ollama` */
    bool ollama;                /* Ollama's native API ("api/chat"...):
                                   the upstream's ollama_url, and errors
                                   carry Ollama's "error" member */
    const vx_upstream *up;      /* the chosen variant's upstream */
    const vx_upstream *control; /* the control's upstream for a fallback,
                                   or NULL (none, or the chosen one is it) */
    const json_t *body;         /* the client's body: "model" is rewritten
                                   (and "metadata" left out unless the
                                   upstream's forward_metadata) in a copy
                                   sent to each upstream */
    const char *id;             /* the request's id (gw_request_id), or
                                   NULL: one is made */
} gw_request;

#define GW_ID_BYTES 40 /* a request id with its NUL */

/* A new request id ("gw-<ms>-<n>", unique in the process): the gateway's
 * response id of the call it is given to (X-Vexil-Response-Id), and the
 * client's request id of an answer whose upstream sent none. Any thread. */
void gw_request_id(gw *g, char out[GW_ID_BYTES]);

/* Starts the gateway's thread. `cfg` is copied. VX_ENOMEM, VX_EIO. */
vx_status gw_new(const gw_config *cfg, gw **out, vx_error *err);

/* Answers every call in flight (503 for those not yet answered, the end of
 * the stream for the others) and stops the thread; later calls fail with
 * VX_EIO. Idempotent. Flushes the measurements a last time. */
void gw_stop(gw *g);

/* gw_stop, then frees. Clears `*g`; accepts NULL. */
void gw_free(gw **g);

/* Hands a request to the gateway's thread; `client->respond` will run
 * exactly once, on that thread. `*out` is the caller's reference (release
 * it with gw_call_release once the client's answer is over). VX_ELIMIT past
 * VX_LIMIT_GW_INFLIGHT calls, VX_EIO when stopping, VX_ENOMEM; then no
 * callback runs. Any thread. */
vx_status gw_call_start(gw *g, const gw_request *req, const gw_client *client,
                        gw_call **out, vx_error *err);

/* For a streamed answer: copies up to `max` bytes into `buf`; > 0 bytes, 0
 * when none are there yet (wake will say when), -1 at the end. Any thread
 * (the listener's pull). */
long gw_call_read(gw_call *c, char *buf, size_t max);

/* The client's answer is over (sent, or the client went away): a call whose
 * upstream is still running is cancelled and counted as a client
 * disconnect. Clears `*c`; accepts NULL. Any thread. */
void gw_call_release(gw_call **c);

/* Feedback on a response (the gateway's X-Vexil-Response-Id or the
 * upstream's "id"): `up` counts a conversion for the variant that served
 * it, else a "feedback_down". VX_ENOTFOUND for an id not (or no longer)
 * known, VX_ECONFLICT for a second feedback on one response. */
vx_status gw_feedback(gw *g, const char *environment, const char *response_id,
                      bool up, vx_error *err);

/* The counters since start, per series, for `environment` (NULL: all): a
 * new reference, [{environment, flag, variant, enabled, requests, ...}]. */
json_t *gw_stats(gw *g, const char *environment);

#endif
