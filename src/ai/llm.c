/* The LLM client (see llm.h). A call is: breaker check -> attempts (each a
 * fresh curl easy handle, bounded buffers, backoff between them) -> breaker
 * update. Streaming answers are parsed line by line as they arrive (SSE
 * `data:` lines for OpenAI-compatible servers, NDJSON for Ollama); plain
 * answers are parsed once complete.
 *
 * Invariant: no buffer here grows past cfg.max_response bytes; the API key
 * lives only in this struct and in the header list of a call in flight. */
#include "ai/llm.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"

#define DEFAULT_MAX_TOKENS  1024u
#define DEFAULT_BACKOFF_MS  200u
#define DEFAULT_BREAKER     5u
#define DEFAULT_COOLDOWN_MS 30000u
#define URL_MAX             2048

struct ai_llm {
    char *base;             /* URL without trailing '/', owned */
    char *model;            /* owned */
    char *auth;             /* "Authorization: Bearer <key>" or NULL */
    ai_protocol proto;      /* never AI_PROTO_AUTO */
    long timeout_ms;        /* whole call */
    unsigned max_tokens;    /* sent as max_tokens / num_predict */
    unsigned retries;       /* extra attempts */
    unsigned backoff_ms;    /* first delay */
    unsigned breaker_after; /* failures that open the breaker */
    unsigned cooldown_ms;   /* open -> half-open */
    size_t max_response;    /* bytes */
    ai_log_fn log;          /* may be NULL */
    void *log_ud;           /* passed to log */
    pthread_mutex_t mu;     /* guards the three fields below */
    unsigned failures;      /* consecutive failed calls */
    int64_t open_until_ms;  /* > 0: open until then (monotonic) */
    bool trial;             /* half-open: one trial call in flight */
    atomic_bool cancelled;  /* ai_llm_cancel: abort everything */
};

/* A bounded byte buffer, NUL-terminated when non-empty. */
typedef struct buf {
    char *p;    /* vx__malloc'd */
    size_t n;   /* bytes used */
    size_t cap; /* bytes allocated */
    size_t max; /* never more than this */
} buf;

static bool buf_add(buf *b, const char *s, size_t n)
{
    if (n > b->max - b->n)
        return false;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = vx__realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

static void buf_release(buf *b)
{
    vx__free(b->p);
    memset(b, 0, sizeof(*b));
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *p = vx__malloc(n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

const char *ai_protocol_name(ai_protocol p)
{
    return p == AI_PROTO_OPENAI   ? "openai"
           : p == AI_PROTO_OLLAMA ? "ollama"
                                  : "auto";
}

bool ai_protocol_parse(const char *s, ai_protocol *out)
{
    if (strcmp(s, "openai") == 0)
        *out = AI_PROTO_OPENAI;
    else if (strcmp(s, "ollama") == 0)
        *out = AI_PROTO_OLLAMA;
    else if (strcmp(s, "auto") == 0)
        *out = AI_PROTO_AUTO;
    else
        return false;
    return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

ai_protocol ai_llm_guess_protocol(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (ends_with(url, n, "/api") || strstr(url, ":11434") != NULL)
        return ends_with(url, n, "/v1") ? AI_PROTO_OPENAI : AI_PROTO_OLLAMA;
    return AI_PROTO_OPENAI;
}

const char *ai_llm_model(const ai_llm *l)
{
    return l->model;
}

ai_protocol ai_llm_protocol(const ai_llm *l)
{
    return l->proto;
}

vx_status ai_llm_new(const ai_llm_config *cfg, ai_llm **out, vx_error *err)
{
    vx_status st = VX_OK;
    ai_llm *l = NULL;
    *out = NULL;
    if (!cfg->url || (strncmp(cfg->url, "http://", 7) != 0 &&
                      strncmp(cfg->url, "https://", 8) != 0))
        return vx__error_set(err, VX_EINVAL, "/llm-url",
                             "the model server URL must start with http:// "
                             "or https://");
    if (strlen(cfg->url) > URL_MAX - 64)
        return vx__error_set(err, VX_ELIMIT, "/llm-url", "URL too long");
    if (!cfg->model || !*cfg->model || strlen(cfg->model) > 256)
        return vx__error_set(err, VX_EINVAL, "/llm-model",
                             "a model name (1-256 bytes) is required");
    if (cfg->timeout_ms < 0 || cfg->timeout_ms > VX_LIMIT_LLM_TIMEOUT_MS)
        return vx__error_set(err, VX_ELIMIT, "/llm-timeout-ms",
                             "timeout must be 0-%d ms",
                             VX_LIMIT_LLM_TIMEOUT_MS);
    if (cfg->max_tokens > VX_LIMIT_LLM_MAX_TOKENS ||
        cfg->retries > VX_LIMIT_LLM_RETRIES ||
        cfg->max_response > VX_LIMIT_LLM_RESPONSE_BYTES)
        return vx__error_set(err, VX_ELIMIT, "/llm",
                             "max tokens, retries or response size over the "
                             "limit");
    l = vx__malloc(sizeof(*l));
    if (!l)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    atomic_init(&l->cancelled, false);
    l->base = dup_str(cfg->url);
    l->model = dup_str(cfg->model);
    if (!l->base || !l->model) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    size_t n = strlen(l->base);
    while (n > 0 && l->base[n - 1] == '/')
        l->base[--n] = '\0';
    if (cfg->api_key && *cfg->api_key) {
        if (strpbrk(cfg->api_key, "\r\n")) {
            st = vx__error_set(err, VX_EINVAL, "/llm-api-key-env",
                               "the API key holds a line break");
            goto out;
        }
        size_t need = strlen(cfg->api_key) + 32;
        l->auth = vx__malloc(need);
        if (!l->auth) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        snprintf(l->auth, need, "Authorization: Bearer %s", cfg->api_key);
    }
    l->proto = cfg->protocol == AI_PROTO_AUTO ? ai_llm_guess_protocol(l->base)
                                              : cfg->protocol;
    l->timeout_ms =
        cfg->timeout_ms ? cfg->timeout_ms : VX_LIMIT_LLM_TIMEOUT_DEFAULT_MS;
    l->max_tokens = cfg->max_tokens ? cfg->max_tokens : DEFAULT_MAX_TOKENS;
    l->retries = cfg->retries;
    l->backoff_ms = cfg->backoff_ms ? cfg->backoff_ms : DEFAULT_BACKOFF_MS;
    l->breaker_after =
        cfg->breaker_after ? cfg->breaker_after : DEFAULT_BREAKER;
    l->cooldown_ms = cfg->breaker_cooldown_ms ? cfg->breaker_cooldown_ms
                                              : DEFAULT_COOLDOWN_MS;
    l->max_response =
        cfg->max_response ? cfg->max_response : VX_LIMIT_LLM_RESPONSE_BYTES;
    l->log = cfg->log;
    l->log_ud = cfg->log_ud;
    *out = l;
    l = NULL;
out:
    ai_llm_free(&l);
    return st;
}

void ai_llm_free(ai_llm **lp)
{
    if (!lp || !*lp)
        return;
    ai_llm *l = *lp;
    if (l->auth) {
        /* The key must not linger in freed memory. */
        memset(l->auth, 0, strlen(l->auth));
        vx__free(l->auth);
    }
    vx__free(l->base);
    vx__free(l->model);
    pthread_mutex_destroy(&l->mu);
    vx__free(l);
    *lp = NULL;
}

/* ---- the circuit breaker --------------------------------------------- */

/* May this call go out? Half-open lets exactly one trial through. */
static bool breaker_admit(ai_llm *l, bool *trial)
{
    bool ok = true;
    *trial = false;
    pthread_mutex_lock(&l->mu);
    if (l->open_until_ms > 0) {
        if (vx__mono_ms() < l->open_until_ms || l->trial) {
            ok = false;
        } else {
            l->trial = true;
            *trial = true;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

static void breaker_done(ai_llm *l, bool trial, bool failed)
{
    pthread_mutex_lock(&l->mu);
    if (trial)
        l->trial = false;
    if (!failed) {
        if (l->open_until_ms > 0)
            vx__logf(l->log, l->log_ud, "info",
                     "model server answers again: breaker closed");
        l->failures = 0;
        l->open_until_ms = 0;
    } else {
        l->failures++;
        if (trial || l->failures >= l->breaker_after) {
            if (l->open_until_ms == 0 || trial)
                vx__logf(l->log, l->log_ud, "warn",
                         "model server failed %u time(s) in a row: breaker "
                         "open for %u ms",
                         l->failures, l->cooldown_ms);
            l->open_until_ms = vx__mono_ms() + l->cooldown_ms;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

void ai_llm_cancel(ai_llm *l)
{
    atomic_store(&l->cancelled, true);
}

bool ai_llm_breaker_open(ai_llm *l)
{
    pthread_mutex_lock(&l->mu);
    bool open = l->open_until_ms > 0;
    pthread_mutex_unlock(&l->mu);
    return open;
}

/* ---- request bodies ----------------------------------------------------- */

json_t *ai_llm_request_body(ai_protocol proto, const char *model,
                            unsigned max_tokens, const ai_chat *chat)
{
    json_t *msgs = json_array();
    if (chat->system)
        json_array_append_new(msgs, json_pack("{ss ss}", "role", "system",
                                              "content", chat->system));
    json_array_append_new(
        msgs, json_pack("{ss ss}", "role", "user", "content", chat->user));
    json_t *body = json_pack("{ss so sb}", "model", model, "messages", msgs,
                             "stream", chat->on_delta != NULL);
    if (!body)
        return NULL;
    if (proto == AI_PROTO_OLLAMA) {
        json_object_set_new(body, "options",
                            json_pack("{si si}", "temperature", 0,
                                      "num_predict", (int)max_tokens));
        if (chat->schema)
            json_object_set(body, "format", (json_t *)chat->schema);
    } else {
        json_object_set_new(body, "temperature", json_integer(0));
        json_object_set_new(body, "max_tokens", json_integer(max_tokens));
        if (chat->schema)
            json_object_set_new(
                body, "response_format",
                json_pack("{ss s{ss sb sO}}", "type", "json_schema",
                          "json_schema", "name",
                          chat->schema_name ? chat->schema_name : "answer",
                          "strict", 1, "schema", chat->schema));
        if (chat->on_delta)
            json_object_set_new(body, "stream_options",
                                json_pack("{sb}", "include_usage", 1));
    }
    return body;
}

/* ---- one attempt --------------------------------------------------------- */

typedef struct attempt {
    const ai_llm *l;
    const ai_chat *chat;    /* NULL for GET requests */
    buf raw;                /* whole body (plain answers) */
    buf line;               /* current line (streaming) */
    buf content;            /* text collected from a stream */
    bool over;              /* a buffer hit max_response */
    bool bad;               /* a stream line was not the protocol's JSON */
    bool done;              /* the stream said it is finished */
    bool delivered;         /* on_delta was called */
    char stream_error[160]; /* an error the server sent inside the stream */
    vx_status st;           /* the failure run_once reported */
} attempt;

static void stream_line(attempt *a, const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n == 0)
        return;
    if (a->l->proto == AI_PROTO_OPENAI) {
        if (n < 5 || memcmp(s, "data:", 5) != 0)
            return; /* SSE comments, event: and id: lines */
        s += 5;
        n -= 5;
        while (n > 0 && *s == ' ') {
            s++;
            n--;
        }
        if (n == 6 && memcmp(s, "[DONE]", 6) == 0) {
            a->done = true;
            return;
        }
    }
    json_error_t je;
    json_t *j = json_loadb(s, n, 0, &je);
    if (!j) {
        a->bad = true;
        return;
    }
    const char *text = NULL;
    size_t tlen = 0;
    const json_t *e = json_object_get(j, "error");
    if (e) {
        const char *m = json_is_string(e)
                            ? json_string_value(e)
                            : json_string_value(json_object_get(e, "message"));
        snprintf(a->stream_error, sizeof(a->stream_error), "%s",
                 m ? m : "error");
    }
    if (a->l->proto == AI_PROTO_OPENAI) {
        const json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
        const json_t *t =
            json_object_get(json_object_get(c0, "delta"), "content");
        if (json_is_string(t)) {
            text = json_string_value(t);
            tlen = json_string_length(t);
        }
    } else {
        const json_t *t =
            json_object_get(json_object_get(j, "message"), "content");
        if (json_is_string(t)) {
            text = json_string_value(t);
            tlen = json_string_length(t);
        }
        if (json_is_true(json_object_get(j, "done")))
            a->done = true;
    }
    if (text && tlen > 0) {
        if (!buf_add(&a->content, text, tlen))
            a->over = true;
        else {
            a->chat->on_delta(a->chat->delta_ud, text, tlen);
            a->delivered = true;
        }
    }
    json_decref(j);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    attempt *a = ud;
    size_t n = size * nmemb;
    if (!a->chat || !a->chat->on_delta) {
        if (!buf_add(&a->raw, ptr, n)) {
            a->over = true;
            return 0;
        }
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        if (!buf_add(&a->line, ptr + i, 1)) {
            a->over = true;
            return 0;
        }
        if (ptr[i] == '\n') {
            stream_line(a, a->line.p, a->line.n);
            a->line.n = 0;
            if (a->over)
                return 0;
        }
    }
    return n;
}

/* libcurl's progress hook: a non-zero return aborts the transfer. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    const attempt *a = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&a->l->cancelled) ? 1 : 0;
}

static void attempt_release(attempt *a)
{
    buf_release(&a->raw);
    buf_release(&a->line);
    buf_release(&a->content);
}

typedef enum outcome {
    OUT_OK,    /* 2xx with a body */
    OUT_RETRY, /* may be retried: connect, timeout, 429, 5xx */
    OUT_FAIL,  /* do not retry: 4xx, over the cap */
} outcome;

/* Runs one HTTP exchange; fills `a` and describes failures in `err`. */
static outcome run_once(const ai_llm *l, const char *url, const char *body,
                        long budget_ms, attempt *a, vx_error *err)
{
    outcome res = OUT_FAIL;
    struct curl_slist *hdrs = NULL;
    char ebuf[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    if (!c) {
        a->st =
            vx__error_set(err, VX_ENOMEM, "", "cannot create a curl handle");
        return OUT_FAIL;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Accept: application/json, "
                                   "text/event-stream, application/x-ndjson");
    if (l->auth)
        hdrs = curl_slist_append(hdrs, l->auth);
    if (!hdrs) {
        a->st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, budget_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     budget_ms < 10000 ? budget_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (a->over) {
        a->st = vx__error_set(err, VX_ELIMIT, "",
                              "the model's answer is over %zu bytes",
                              l->max_response);
        res = OUT_FAIL;
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        a->st = vx__error_set(err, VX_EIO, "",
                              "model call cancelled: the server is stopping");
        res = OUT_FAIL;
    } else if (cc != CURLE_OK) {
        a->st = vx__error_set(err, VX_EIO, "", "model server %s: %s",
                              cc == CURLE_OPERATION_TIMEDOUT ? "timed out"
                                                             : "unreachable",
                              ebuf[0] ? ebuf : curl_easy_strerror(cc));
        res = OUT_RETRY;
    } else if (code == 429 || code >= 500) {
        a->st = vx__error_set(err, VX_EIO, "", "model server answered HTTP %ld",
                              code);
        res = OUT_RETRY;
    } else if (code < 200 || code > 299) {
        /* A 4xx names a configuration problem (model not found, bad key):
         * show the server's message, which never holds our key. */
        const char *m = NULL;
        json_t *j = a->raw.p ? json_loadb(a->raw.p, a->raw.n, 0, NULL) : NULL;
        const json_t *e = json_object_get(j, "error");
        m = json_is_string(e)
                ? json_string_value(e)
                : json_string_value(json_object_get(e, "message"));
        a->st = vx__error_set(err, VX_EIO, "",
                              "model server answered HTTP %ld%s%.160s", code,
                              m ? ": " : "", m ? m : "");
        json_decref(j);
        res = OUT_FAIL;
    } else {
        res = OUT_OK;
    }
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return res;
}

/* Extracts the assistant text from a complete (non-streamed) answer. */
static vx_status plain_content(const ai_llm *l, const buf *raw, buf *content,
                               vx_error *err)
{
    json_error_t je;
    json_t *j = raw->p ? json_loadb(raw->p, raw->n, 0, &je) : NULL;
    vx_status st = VX_OK;
    const json_t *t;
    if (!j)
        return vx__error_set(err, VX_EPARSE, "",
                             "the model server's answer is not JSON");
    if (l->proto == AI_PROTO_OPENAI) {
        const json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
        t = json_object_get(json_object_get(c0, "message"), "content");
    } else {
        t = json_object_get(json_object_get(j, "message"), "content");
    }
    if (!json_is_string(t))
        st = vx__error_set(err, VX_EPARSE, "",
                           "the model server's answer has no message content");
    else if (!buf_add(content, json_string_value(t), json_string_length(t)))
        st = vx__error_set(err, VX_ELIMIT, "",
                           "the model's answer is over %zu bytes",
                           l->max_response);
    json_decref(j);
    return st;
}

vx_status ai_llm_chat(ai_llm *l, const ai_chat *chat, char **content,
                      size_t *len, vx_error *err)
{
    vx_status st = VX_OK;
    char *body = NULL;
    json_t *req = NULL;
    bool trial = false, admitted = false, transport_failed = false;
    char url[URL_MAX];
    *content = NULL;
    *len = 0;
    if (!chat->user)
        return vx__error_set(err, VX_EINVAL, "", "no user message");
    if (l->proto == AI_PROTO_OPENAI)
        snprintf(url, sizeof(url), "%s%s", l->base,
                 ends_with(l->base, strlen(l->base), "/v1")
                     ? "/chat/completions"
                     : "/v1/chat/completions");
    else
        snprintf(url, sizeof(url), "%s%s", l->base,
                 ends_with(l->base, strlen(l->base), "/api") ? "/chat"
                                                             : "/api/chat");
    req = ai_llm_request_body(l->proto, l->model, l->max_tokens, chat);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (!body) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    if (strlen(body) > VX_LIMIT_LLM_PROMPT_BYTES) {
        st = vx__error_set(err, VX_ELIMIT, "", "the prompt is over %zu bytes",
                           (size_t)VX_LIMIT_LLM_PROMPT_BYTES);
        goto out;
    }
    if (atomic_load(&l->cancelled)) {
        st = vx__error_set(err, VX_EIO, "",
                           "model call cancelled: the server is stopping");
        goto out;
    }
    if (!breaker_admit(l, &trial)) {
        st = vx__error_set(err, VX_EIO, "",
                           "model server unavailable: circuit breaker open "
                           "after repeated failures");
        goto out;
    }
    admitted = true;
    transport_failed = true;
    /* The timeout bounds the whole call, retries and backoff included. */
    int64_t deadline = vx__mono_ms() + l->timeout_ms;
    for (unsigned i = 0; i <= l->retries; i++) {
        attempt a;
        memset(&a, 0, sizeof(a));
        st = VX_OK; /* a retry starts afresh */
        a.l = l;
        a.chat = chat;
        a.raw.max = a.line.max = a.content.max = l->max_response;
        int64_t left = deadline - vx__mono_ms();
        outcome o = run_once(l, url, body, left > 1 ? (long)left : 1L, &a, err);
        if (o == OUT_OK && chat->on_delta && a.line.n > 0)
            stream_line(&a, a.line.p, a.line.n); /* no final newline */
        if (o == OUT_OK) {
            transport_failed = false;
            buf text = {0};
            text.max = l->max_response;
            if (chat->on_delta) {
                if (a.stream_error[0])
                    st =
                        vx__error_set(err, VX_EIO, "", "model server error: %s",
                                      a.stream_error);
                else if (a.bad && a.content.n == 0)
                    st = vx__error_set(err, VX_EPARSE, "",
                                       "the model server's stream is not the "
                                       "%s protocol",
                                       ai_protocol_name(l->proto));
                else if (!a.done) {
                    st = vx__error_set(err, VX_EIO, "",
                                       "the model's stream ended before it "
                                       "was finished");
                    transport_failed = true;
                }
                text = a.content;
                a.content = (buf){0};
            } else {
                st = plain_content(l, &a.raw, &text, err);
            }
            if (st == VX_OK) {
                *len = text.n;
                *content = text.p ? text.p : dup_str("");
                if (!*content)
                    st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            } else {
                buf_release(&text);
            }
            attempt_release(&a);
            break;
        }
        bool delivered = a.delivered;
        attempt_release(&a);
        st = a.st;
        if (o == OUT_FAIL) {
            transport_failed = st == VX_EIO;
            break;
        }
        if (delivered || i == l->retries)
            break;
        unsigned delay = l->backoff_ms << (i < 10 ? i : 10);
        if (vx__mono_ms() + delay + 50 >= deadline)
            break; /* no time left for another attempt */
        vx__logf(l->log, l->log_ud, "warn",
                 "model call failed (%s); retry %u of %u in %u ms",
                 err ? err->message : "error", i + 1, l->retries, delay);
        sleep_ms(delay);
    }
    if (st == VX_OK && !transport_failed && err)
        memset(err, 0, sizeof(*err));
out:
    if (admitted)
        breaker_done(l, trial, transport_failed);
    if (st != VX_OK) {
        vx__free(*content);
        *content = NULL;
        *len = 0;
    }
    free(body);
    json_decref(req);
    return st;
}

vx_status ai_llm_models(ai_llm *l, json_t **names, vx_error *err)
{
    vx_status st = VX_OK;
    char url[URL_MAX];
    attempt a;
    json_t *j = NULL, *res = NULL;
    *names = NULL;
    memset(&a, 0, sizeof(a));
    a.l = l;
    a.raw.max = l->max_response;
    size_t n = strlen(l->base);
    if (l->proto == AI_PROTO_OPENAI)
        snprintf(url, sizeof(url), "%s%s", l->base,
                 ends_with(l->base, n, "/v1") ? "/models" : "/v1/models");
    else
        snprintf(url, sizeof(url), "%s%s", l->base,
                 ends_with(l->base, n, "/api") ? "/tags" : "/api/tags");
    if (run_once(l, url, NULL, l->timeout_ms, &a, err) != OUT_OK) {
        st = a.st;
        goto out;
    }
    j = a.raw.p ? json_loadb(a.raw.p, a.raw.n, 0, NULL) : NULL;
    const json_t *list =
        json_object_get(j, l->proto == AI_PROTO_OPENAI ? "data" : "models");
    if (!json_is_array(list)) {
        st = vx__error_set(err, VX_EPARSE, "",
                           "the model list is not the %s protocol's JSON",
                           ai_protocol_name(l->proto));
        goto out;
    }
    res = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach (list, i, m) {
        if (i >= VX_LIMIT_LLM_MODELS)
            break;
        const json_t *id =
            json_object_get(m, l->proto == AI_PROTO_OPENAI ? "id" : "name");
        if (json_is_string(id))
            json_array_append(res, (json_t *)id);
    }
    *names = res;
    res = NULL;
out:
    json_decref(res);
    json_decref(j);
    attempt_release(&a);
    return st;
}
