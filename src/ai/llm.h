/* The LLM client: chat completions against a self-hosted model server over
 * libcurl, in either dialect: OpenAI-compatible `/v1/chat/completions`
 * (LocalAI, llama.cpp's server, vLLM, Ollama's /v1) or Ollama's native
 * `/api/chat`. Structured output with a JSON schema, streaming, retries with
 * backoff on 5xx and timeouts, a circuit breaker, and a cap on the answer's
 * size. Listing models checks a configuration at start.
 *
 * Invariant: the API key only ever goes into the Authorization header; it
 * is never logged, never in an error message. One call = one curl easy
 * handle, so calls on one client may run on several threads at once; only
 * the breaker's state is shared (under its mutex). */
#ifndef VX_AI_LLM_H
#define VX_AI_LLM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/log.h"
#include "vexil/status.h"

typedef struct ai_llm ai_llm;

typedef enum ai_protocol {
    AI_PROTO_AUTO,   /* from the URL: port 11434 or no /v1 -> see llm.c */
    AI_PROTO_OPENAI, /* POST <base>/v1/chat/completions, GET /v1/models */
    AI_PROTO_OLLAMA, /* POST <base>/api/chat, GET /api/tags */
} ai_protocol;

typedef vx_log_fn ai_log_fn;

typedef struct ai_llm_config {
    const char *url;        /* base URL: "http://127.0.0.1:11434",
                               "http://host:8080" or ".../v1" */
    ai_protocol protocol;   /* AI_PROTO_AUTO guesses from the URL */
    const char *model;      /* model name sent with every call */
    const char *api_key;    /* secret value (not the env var name); NULL
                               = no Authorization header */
    long timeout_ms;        /* whole call, retries included; 0 = the
                               default */
    unsigned max_tokens;    /* 0 = 1024 */
    unsigned retries;       /* extra attempts on 5xx/timeout; 0 = none */
    unsigned backoff_ms;    /* first retry delay, doubled each time; 0 = 200 */
    unsigned breaker_after; /* consecutive failed calls that open the
                               breaker; 0 = 5 */
    unsigned breaker_cooldown_ms; /* open -> half-open after; 0 = 30000 */
    size_t max_response;          /* bytes of one answer; 0 = the limit */
    ai_log_fn log;                /* may be NULL */
    void *log_ud;                 /* passed to log */
} ai_llm_config;

/* Called with each piece of text as the model streams it. */
typedef void (*ai_delta_fn)(void *ud, const char *text, size_t len);

/* One chat call: a system and a user message. */
typedef struct ai_chat {
    const char *system;      /* instructions; may be NULL */
    const char *user;        /* the data; required */
    const char *schema_name; /* [a-zA-Z0-9_-]{1,64}, with `schema` */
    const json_t *schema;    /* JSON Schema of the answer, or NULL */
    ai_delta_fn on_delta;    /* non-NULL: stream (SSE or NDJSON) */
    void *delta_ud;          /* passed to on_delta */
} ai_chat;

/* Creates a client; every string of `cfg` is copied. Requires
 * curl_global_init (done once in main). Errors: VX_EINVAL (no URL or model,
 * URL not http(s), bad protocol), VX_ENOMEM. */
vx_status ai_llm_new(const ai_llm_config *cfg, ai_llm **out, vx_error *err);

/* Frees the client and clears `*l`; accepts NULL and *l == NULL. Calls in
 * flight must have returned. */
void ai_llm_free(ai_llm **l);

/* The model name and the protocol in use (after AI_PROTO_AUTO). */
const char *ai_llm_model(const ai_llm *l);
ai_protocol ai_llm_protocol(const ai_llm *l);
const char *ai_protocol_name(ai_protocol p); /* "openai", "ollama", "auto" */
/* Parses "openai", "ollama" or "auto"; false on anything else. */
bool ai_protocol_parse(const char *s, ai_protocol *out);

/* Sends one chat request and returns the assistant's text in `*content`
 * (NUL-terminated, `*len` bytes; the caller frees it with vx__free). Retries
 * on connection errors, timeouts, 429 and 5xx (a streaming call only while
 * nothing was delivered). Errors: VX_EIO (unreachable, timed out, HTTP
 * error, answer without content, breaker open: err->message says which),
 * VX_ELIMIT (answer over the size cap), VX_EPARSE (the server's envelope is
 * not the protocol's JSON), VX_ENOMEM. Thread-safe. */
vx_status ai_llm_chat(ai_llm *l, const ai_chat *chat, char **content,
                      size_t *len, vx_error *err);

/* The server's model names (`/v1/models` or `/api/tags`) as a new JSON
 * array of strings. Not subject to the breaker. Errors as ai_llm_chat. */
vx_status ai_llm_models(ai_llm *l, json_t **names, vx_error *err);

/* Aborts every call in flight (they return VX_EIO "cancelled" at once)
 * and makes later calls fail the same way: for a server that is stopping.
 * Thread-safe. */
void ai_llm_cancel(ai_llm *l);

/* True while the breaker is open (calls fail fast). */
bool ai_llm_breaker_open(ai_llm *l);

/* Pure helpers, exposed for tests. ------------------------------------- */

/* The JSON body of a chat request for `proto` (a new reference). */
json_t *ai_llm_request_body(ai_protocol proto, const char *model,
                            unsigned max_tokens, const ai_chat *chat);

/* Guesses the protocol of `url`: OLLAMA for port 11434 or a path ending in
 * "/api", else OPENAI. */
ai_protocol ai_llm_guess_protocol(const char *url);

#endif
