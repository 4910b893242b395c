/* The edge's one upstream thread: every call to the upstream goes through
 * one curl multi handle here. Per feed, a stream
 * (/api/client/streaming?edge, resumed with Last-Event-ID) whose events go
 * into the hub as they arrive; when streams are refused, delta polls
 * (/api/client/delta?edge with If-None-Match). Token checks
 * (/api/edge/validate) in batches; reports forwarded (/api/edge/metrics,
 * /api/client/impact) one batch at a time; snapshots, the token file and
 * the journal's fsync on their timers.
 *
 * Faults: a stream that ends is opened again at once (a revoked token's
 * stream is ended by the upstream: the next connect gets 401 and the feed
 * is dropped, within a second); a failed connect backs off from
 * VX_LIMIT_EDGE_RETRY_MS doubling to VX_LIMIT_EDGE_RETRY_MAX_MS; a stream
 * silent for VX_LIMIT_EDGE_SILENT_MS counts as broken. Meanwhile the last
 * state is served and /ready says how old it is. */
#include "edge/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "vexil/version.h"

#define CONNECT_MS      5000
#define STREAM_RETRY_MS 60000 /* streams refused: try again after */
#define LOOP_MS         250   /* the thread's longest sleep */

/* What a curl handle is for (CURLOPT_PRIVATE). */
typedef enum up_kind { UP_FEED, UP_VALIDATE, UP_FORWARD } up_kind;

typedef struct up_call {
    up_kind kind;            /* which */
    edge *e;                 /* the edge */
    edge_feed *feed;         /* UP_FEED */
    CURL *h;                 /* UP_VALIDATE, UP_FORWARD */
    struct curl_slist *hdrs; /* their headers */
    char *post;              /* their body */
    char *body;              /* their answer */
    size_t len, cap;         /* bytes, allocated */
    char **asked;            /* UP_VALIDATE: the secrets asked [nasked] */
    size_t nasked;           /* entries */
    char *auth;              /* UP_VALIDATE: the token it was asked with */
    char id[32];             /* UP_FORWARD: the outbox */
    char kind_name[16];      /* UP_FORWARD: "impact" or "reports" */
} up_call;

/* ---- small helpers ------------------------------------------------------- */

void edge__upstream_wake(edge *e)
{
    atomic_store(&e->wake, true);
    if (e->multi)
        curl_multi_wakeup(e->multi);
}

static int64_t backoff_ms(unsigned retries)
{
    int64_t d = VX_LIMIT_EDGE_RETRY_MS;
    for (unsigned i = 1; i < retries && d < VX_LIMIT_EDGE_RETRY_MAX_MS; i++)
        d *= 2;
    return d < VX_LIMIT_EDGE_RETRY_MAX_MS ? d : VX_LIMIT_EDGE_RETRY_MAX_MS;
}

/* Notes that the upstream answered (or not: `problem`) under mu. */
static void note_upstream(edge *e, const char *problem)
{
    if (!problem) {
        if (!e->upstream_up && e->down_since_ms) {
            vx__logf(e->log, e->log_ud, "info",
                     "edge: the upstream %s answers again", e->upstream);
            e->recheck_due = true; /* tokens may have changed meanwhile */
            e->reconnects++;
        }
        e->upstream_up = true;
        e->down_since_ms = 0;
        e->upstream_problem[0] = '\0';
        return;
    }
    if (e->upstream_up || !e->down_since_ms) {
        vx__logf(e->log, e->log_ud, "warn",
                 "edge: the upstream %s does not answer (%s): serving what "
                 "the edge holds",
                 e->upstream, problem);
        e->down_since_ms = vx__wall_ms();
    }
    e->upstream_up = false;
    snprintf(e->upstream_problem, sizeof(e->upstream_problem), "%s", problem);
}

/* Appends `p[0..n)` to the buffer `*b` (`*len` used, `*cap` allocated),
 * NUL-terminated, at most `max` bytes: the bytes taken, 0 past the bound
 * or out of memory (the transfer then fails). */
static size_t append(char **b, size_t *len, size_t *cap, const char *p,
                     size_t n, size_t max)
{
    if (*len + n + 1 > max)
        return 0;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n + 1)
            c *= 2;
        char *q = vx__realloc(*b, c);
        if (!q)
            return 0;
        *b = q;
        *cap = c;
    }
    memcpy(*b + *len, p, n);
    *len += n;
    (*b)[*len] = '\0';
    return n;
}

/* The common headers of every call, with `token`. */
static struct curl_slist *headers(edge *e, const char *token, size_t len)
{
    char line[VX_LIMIT_SDK_URL_BYTES + 64];
    struct curl_slist *h = NULL, *t;
    snprintf(line, sizeof(line), "Authorization: %.*s", (int)len, token);
    h = curl_slist_append(NULL, line);
    static const char *const fixed[] = {"Unleash-Client-Spec: 5.2.0",
                                        "unleash-appname: vexil-edge",
                                        "Content-Type: application/json"};
    for (size_t i = 0; h && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        t = curl_slist_append(h, fixed[i]);
        h = t ? t : h;
    }
    snprintf(line, sizeof(line), "unleash-instanceid: %s", e->instance);
    t = h ? curl_slist_append(h, line) : NULL;
    h = t ? t : h;
    snprintf(line, sizeof(line), "unleash-sdk: vexil-edge:%s",
             VX_VERSION_STRING);
    t = h ? curl_slist_append(h, line) : NULL;
    return t ? t : h;
}

static CURL *easy_new(edge *e, const char *path, up_call *c)
{
    char url[VX_LIMIT_SDK_URL_BYTES + 128];
    snprintf(url, sizeof(url), "%s%s", e->upstream, path);
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
    curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    return h;
}

static long status_of(CURL *h)
{
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* ---- feeds --------------------------------------------------------------- */

edge_feed *edge__feed_add(edge *e, const edge_token *t)
{
    if (e->nfeeds == VX_LIMIT_EDGE_FEEDS)
        return NULL;
    edge_feed *f = vx__calloc(1, sizeof(*f));
    char *s = f ? vx__malloc(t->len + 1) : NULL;
    if (!s) {
        vx__free(f);
        return NULL;
    }
    memcpy(s, t->secret, t->len + 1);
    f->secret = s;
    f->len = t->len;
    f->given = t->given;
    f->revision = -1;
    f->owner = e;
    snprintf(f->key, sizeof(f->key), "f%u", ++e->next_feed);
    snprintf(f->env, sizeof(f->env), "%s", t->env);
    snprintf(f->projects, sizeof(f->projects), "%s", t->projects);
    snprintf(f->problem, sizeof(f->problem), "not connected yet");
    vx_error err;
    memset(&err, 0, sizeof(err));
    (void)hub_feed_open(e->hub, f->key, &err);
    e->feeds[e->nfeeds++] = f;
    edge__upstream_wake(e);
    return f;
}

static void feed_free(edge_feed *f)
{
    curl_slist_free_all(f->hdrs);
    sdk_sse_release(&f->sse);
    vx__free(f->body);
    vx__free(f->secret);
    vx__free(f);
}

/* Marks `f` down with `why` (under mu). */
static void feed_down(edge *e, edge_feed *f, const char *why, bool upstream)
{
    f->up = false;
    snprintf(f->problem, sizeof(f->problem), "%s", why);
    if (upstream)
        note_upstream(e, why);
}

/* An event of the stream (sdk_sse_fn). */
static vx_status on_event(void *ud, const char *event, const char *data,
                          size_t len, const char *id)
{
    edge_feed *f = ud;
    edge *e = f->owner;
    if (strcmp(event, "vexil-tokens") == 0) {
        pthread_mutex_lock(&e->mu);
        e->recheck_due = true;
        pthread_mutex_unlock(&e->mu);
        return VX_OK;
    }
    if (strcmp(event, "fetch-mode") == 0 && strncmp(data, "polling", 7) == 0) {
        f->polling = true;
        f->stream_retry_ms = vx__mono_ms() + STREAM_RETRY_MS;
        return VX_ECONFLICT; /* ends the stream: poll instead */
    }
    if (strcmp(event, "unleash-connected") != 0 &&
        strcmp(event, "unleash-updated") != 0)
        return VX_OK;
    char *end = NULL;
    long long rev = strtoll(id, &end, 10);
    if (!id[0] || *end || rev < 0) {
        f->hydrate = true;
        return VX_ECONFLICT;
    }
    pthread_mutex_lock(&e->mu);
    char env[EDGE_ENV_MAX], key[EDGE_KEY_MAX];
    snprintf(env, sizeof(env), "%s", f->env);
    snprintf(key, sizeof(key), "%s", f->key);
    pthread_mutex_unlock(&e->mu);
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = hub_feed_apply(e->hub, key, env, data, len, rev, &err);
    if (st != VX_OK) {
        if (st != VX_ECONFLICT && st != VX_ENOTFOUND)
            vx__logf(e->log, e->log_ud, "warn",
                     "edge: '%s': an upstream event was not applied (%s): "
                     "hydrating again",
                     env, err.message);
        f->hydrate = true;
        f->apply_failed = true;
        return VX_ECONFLICT;
    }
    pthread_mutex_lock(&e->mu);
    f->have_state = true;
    f->revision = rev;
    f->synced_ms = vx__wall_ms();
    pthread_mutex_unlock(&e->mu);
    f->hydrate = false;
    f->retries = 0; /* progress: the next failure starts over */
    if (!f->snap_due_ms)
        f->snap_due_ms = vx__mono_ms();
    return VX_OK;
}

static size_t on_stream(char *buf, size_t size, size_t n, void *ud)
{
    edge_feed *f = ud;
    edge *e = f->owner;
    size_t len = size * n;
    f->code = status_of(f->h);
    if (f->code != 200)
        return len; /* an error body: the status says it */
    if (!f->got_bytes) {
        f->got_bytes = true;
        f->connected_ms = vx__mono_ms();
        pthread_mutex_lock(&e->mu);
        f->up = true;
        f->problem[0] = '\0';
        f->synced_ms = vx__wall_ms();
        note_upstream(e, NULL);
        pthread_mutex_unlock(&e->mu);
    } else {
        pthread_mutex_lock(&e->mu);
        f->synced_ms = vx__wall_ms(); /* heartbeats too: still current */
        pthread_mutex_unlock(&e->mu);
    }
    return sdk_sse_feed(&f->sse, buf, len) == VX_OK ? len : 0;
}

static size_t on_poll(char *buf, size_t size, size_t n, void *ud)
{
    edge_feed *f = ud;
    return append(&f->body, &f->body_len, &f->body_cap, buf, size * n,
                  VX_LIMIT_EDGE_ANSWER_BYTES);
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    edge_feed *f = ud;
    size_t len = size * n;
    if (len > 5 && strncasecmp(buf, "etag:", 5) == 0) {
        const char *v = buf + 5;
        while (*v == ' ' || *v == '"' || *v == 'W' || *v == '/')
            v++;
        size_t k = 0;
        while (k + 1 < sizeof(f->etag) && v + k < buf + len && v[k] != '"' &&
               v[k] != '\r' && v[k] != '\n')
            k++;
        memcpy(f->etag, v, k);
        f->etag[k] = '\0';
    }
    return len;
}

/* Opens `f`'s stream or poll. */
static void feed_start(edge *e, edge_feed *f, up_call *c, int64_t now)
{
    bool poll = f->polling && now < f->stream_retry_ms;
    if (!poll)
        f->polling = false;
    char line[96];
    char path[64];
    snprintf(path, sizeof(path), "/api/client/%s?edge=1",
             poll ? "delta" : "streaming");
    c->kind = UP_FEED;
    c->e = e;
    c->feed = f;
    CURL *h = easy_new(e, path, c);
    if (!h) {
        f->next_ms = now + backoff_ms(++f->retries);
        return;
    }
    f->hdrs = headers(e, f->secret, f->len);
    pthread_mutex_lock(&e->mu);
    int64_t rev = f->have_state && !f->hydrate ? f->revision : -1;
    pthread_mutex_unlock(&e->mu);
    if (rev >= 0) {
        if (poll)
            snprintf(line, sizeof(line), "If-None-Match: \"%lld\"",
                     (long long)rev);
        else
            snprintf(line, sizeof(line), "Last-Event-ID: %lld", (long long)rev);
        struct curl_slist *t = curl_slist_append(f->hdrs, line);
        f->hdrs = t ? t : f->hdrs;
    }
    struct curl_slist *t =
        curl_slist_append(f->hdrs, poll ? "Accept: application/json"
                                        : "Accept: text/event-stream");
    f->hdrs = t ? t : f->hdrs;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, f->hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    f->h = h;
    f->code = 0;
    f->got_bytes = false;
    f->apply_failed = false;
    f->body_len = 0;
    f->etag[0] = '\0';
    if (poll) {
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_poll);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, f);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)VX_LIMIT_EDGE_CALL_MS);
    } else {
        sdk_sse_release(&f->sse);
        sdk_sse_init(&f->sse, VX_LIMIT_SDK_SSE_EVENT_BYTES, on_event, f);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
        /* Silent past four heartbeats: broken (the upstream went away
         * without closing, or a proxy holds the connection). */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                         (long)(VX_LIMIT_EDGE_SILENT_MS / 1000));
    }
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK) {
        curl_easy_cleanup(h);
        f->h = NULL;
        f->next_ms = now + backoff_ms(++f->retries);
    }
}

/* The token of `f` is refused upstream: it is revoked here, its feed and
 * snapshot go (the upstream thread, without the feed's call). */
static void feed_refused(edge *e, edge_feed *f, long code)
{
    pthread_mutex_lock(&e->mu);
    edge_token *t = edge__token_find(e, f->secret, f->len);
    if (t && t->status == TOK_VALID) {
        t->status = TOK_INVALID;
        t->revoked = true;
        snprintf(t->refusal, sizeof(t->refusal), "token revoked");
        vx__logf(e->log, e->log_ud, "info",
                 "edge: the upstream refuses token %lld (%ld): its streams "
                 "end and its state is dropped",
                 (long long)t->id, code);
    }
    f->dropped = true;
    e->hub_tokens_due = true;
    e->tokens_dirty = true;
    pthread_mutex_unlock(&e->mu);
}

/* A feed's call ended. */
static void feed_done(edge *e, edge_feed *f, CURLcode rc, int64_t now)
{
    long code = f->code ? f->code : status_of(f->h);
    bool poll = f->polling;
    if (code == 401 || code == 403) {
        feed_refused(e, f, code);
        return;
    }
    if (poll && (code == 200 || code == 304)) {
        bool ok = true;
        if (code == 200) {
            char *end = NULL;
            long long rev = strtoll(f->etag, &end, 10);
            pthread_mutex_lock(&e->mu);
            char env[EDGE_ENV_MAX], key[EDGE_KEY_MAX];
            snprintf(env, sizeof(env), "%s", f->env);
            snprintf(key, sizeof(key), "%s", f->key);
            pthread_mutex_unlock(&e->mu);
            vx_error err;
            memset(&err, 0, sizeof(err));
            ok = f->etag[0] && !*end &&
                 hub_feed_apply(e->hub, key, env, f->body ? f->body : "",
                                f->body_len, rev, &err) == VX_OK;
            if (ok) {
                pthread_mutex_lock(&e->mu);
                f->have_state = true;
                f->revision = rev;
                pthread_mutex_unlock(&e->mu);
                if (!f->snap_due_ms)
                    f->snap_due_ms = now;
            }
            f->hydrate = !ok;
        }
        pthread_mutex_lock(&e->mu);
        if (ok) {
            f->up = true;
            f->problem[0] = '\0';
            f->synced_ms = vx__wall_ms();
        }
        note_upstream(e, NULL);
        pthread_mutex_unlock(&e->mu);
        /* A body that could not be applied: a hydration next, at once the
         * first time, then backing off (an upstream that keeps sending what
         * cannot be applied must not spin the edge). */
        f->next_ms = ok           ? now + e->poll_ms
                     : f->retries ? now + backoff_ms(f->retries)
                                  : now;
        f->retries = ok ? 0 : f->retries + 1;
        return;
    }
    if (!poll && (code == 404 || code == 405 || code == 501 || code == 429 ||
                  code == 503)) {
        /* Streams refused (at a cap, or not served): delta polls. */
        if (!f->polling)
            vx__logf(e->log, e->log_ud, "info",
                     "edge: '%s': the upstream refuses a stream (%ld): "
                     "polling /api/client/delta meanwhile",
                     f->env, code);
        f->polling = true;
        /* A cap (or a server stopping: 503) may pass soon; no streaming
         * at all (404...) will not. */
        f->stream_retry_ms =
            now + (code == 503 || code == 429 ? backoff_ms(++f->retries + 4)
                                              : STREAM_RETRY_MS);
        f->next_ms = now;
        pthread_mutex_lock(&e->mu);
        note_upstream(e, NULL);
        pthread_mutex_unlock(&e->mu);
        return;
    }
    if (!poll && f->got_bytes && code == 200) {
        /* A stream that worked ended: the upstream restarts, or ended it
         * (a revoked token: the next connect says so). At once, unless
         * streams keep ending as soon as they start (then backing off). */
        if (now - f->connected_ms >= 1000)
            f->retries = 0;
        f->next_ms = f->retries ? now + backoff_ms(f->retries) : now;
        f->retries++;
        pthread_mutex_lock(&e->mu);
        feed_down(e, f, "the stream ended; reconnecting", false);
        pthread_mutex_unlock(&e->mu);
        return;
    }
    if (f->apply_failed) {
        /* A fresh hydration: at once the first time, then backing off. */
        f->next_ms = f->retries ? now + backoff_ms(f->retries) : now;
        f->retries++;
        return;
    }
    char why[200];
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
    else
        snprintf(why, sizeof(why), "HTTP %ld", code);
    f->retries++;
    f->next_ms = now + backoff_ms(f->retries);
    pthread_mutex_lock(&e->mu);
    feed_down(e, f, why, code == 0 || code >= 500);
    pthread_mutex_unlock(&e->mu);
}

/* Removes the feeds whose token was refused (their streams end, their
 * snapshots go), and gives the tokens their feeds again. */
static void feeds_reap(edge *e)
{
    pthread_mutex_lock(&e->mu);
    bool any = false;
    for (size_t i = 0; i < e->nfeeds;) {
        edge_feed *f = e->feeds[i];
        if (!f->dropped || f->h) {
            i++;
            continue;
        }
        hub_feed_drop(e->hub, f->key);
        edge__snapshot_remove(e, f);
        memmove(e->feeds + i, e->feeds + i + 1,
                (e->nfeeds - i - 1) * sizeof(*e->feeds));
        e->nfeeds--;
        feed_free(f);
        any = true;
    }
    if (any)
        edge__tokens_map(e);
    pthread_mutex_unlock(&e->mu);
}

/* ---- token checks -------------------------------------------------------- */

static void call_free(up_call *c)
{
    if (!c)
        return;
    curl_slist_free_all(c->hdrs);
    for (size_t i = 0; i < c->nasked; i++)
        vx__free(c->asked[i]);
    vx__free(c->asked);
    vx__free(c->auth);
    vx__free(c->post);
    vx__free(c->body);
    vx__free(c);
}

static size_t on_answer(char *buf, size_t size, size_t n, void *ud)
{
    up_call *c = ud;
    return append(&c->body, &c->len, &c->cap, buf, size * n,
                  VX_LIMIT_EDGE_ANSWER_BYTES);
}

/* Asks the upstream about the pending tokens and those to check again. */
static up_call *validate_start(edge *e, int64_t now)
{
    pthread_mutex_lock(&e->mu);
    if (e->validating || now < e->validate_after_ms) {
        pthread_mutex_unlock(&e->mu);
        return NULL;
    }
    up_call *c = vx__calloc(1, sizeof(*c));
    json_t *list = json_array();
    const edge_token *auth = NULL;
    for (size_t i = 0; c && list && i < e->ntokens; i++) {
        edge_token *t = e->tokens[i];
        if (t->status == TOK_VALID && t->kind == SVC_KIND_CLIENT &&
            (!auth || (t->given && !auth->given)))
            auth = t;
    }
    c = c && list ? c : NULL;
    if (c)
        c->asked = vx__calloc(VX_LIMIT_EDGE_VALIDATE_MAX, sizeof(char *));
    for (size_t i = 0; c && c->asked && i < e->ntokens &&
                       c->nasked < VX_LIMIT_EDGE_VALIDATE_MAX;
         i++) {
        edge_token *t = e->tokens[i];
        if (t->status != TOK_PENDING && !t->recheck)
            continue;
        c->asked[c->nasked] = vx__strdup(t->secret);
        if (!c->asked[c->nasked])
            break;
        json_array_append_new(list, json_stringn(t->secret, t->len));
        c->nasked++;
        if (!auth && !t->not_client)
            auth = t; /* none known yet: the token vouches for itself */
    }
    if (!c || !c->nasked || !auth) {
        pthread_mutex_unlock(&e->mu);
        json_decref(list);
        call_free(c);
        return NULL;
    }
    c->auth = vx__strdup(auth->secret);
    e->validating = true;
    e->validations++;
    pthread_mutex_unlock(&e->mu);
    json_t *doc = json_pack("{so}", "tokens", list);
    c->post = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    c->kind = UP_VALIDATE;
    c->e = e;
    c->h = c->post && c->auth ? easy_new(e, "/api/edge/validate", c) : NULL;
    c->hdrs = c->h ? headers(e, c->auth, strlen(c->auth)) : NULL;
    if (!c->h || !c->hdrs) {
        if (c->h)
            curl_easy_cleanup(c->h);
        call_free(c);
        pthread_mutex_lock(&e->mu);
        e->validating = false;
        e->validate_after_ms = now + VX_LIMIT_EDGE_RETRY_MS;
        pthread_cond_broadcast(&e->answered);
        pthread_mutex_unlock(&e->mu);
        return NULL;
    }
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->post);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)VX_LIMIT_EDGE_CALL_MS);
    if (curl_multi_add_handle(e->multi, c->h) != CURLM_OK) {
        curl_easy_cleanup(c->h);
        call_free(c);
        pthread_mutex_lock(&e->mu);
        e->validating = false;
        pthread_mutex_unlock(&e->mu);
        return NULL;
    }
    return c;
}

static void validate_done(edge *e, up_call *c, CURLcode rc, int64_t now)
{
    long code = status_of(c->h);
    json_t *doc =
        code == 200 && c->body ? json_loadb(c->body, c->len, 0, NULL) : NULL;
    pthread_mutex_lock(&e->mu);
    e->validating = false;
    if (doc) {
        edge__tokens_answer(e, c->asked, c->nasked, doc);
        note_upstream(e, NULL);
    } else if (code == 401 || code == 403) {
        /* The token it asked with is refused: another one next time. A
         * 401 says it is not a token (any more); a 403 that it is not a
         * client token: it may be a valid frontend token, checked once a
         * client token is known. */
        edge_token *t = edge__token_find(e, c->auth, strlen(c->auth));
        if (t && code == 403) {
            t->not_client = true;
            if (t->status == TOK_VALID && t->kind == SVC_KIND_CLIENT) {
                t->status = TOK_INVALID;
                t->revoked = true;
                snprintf(t->refusal, sizeof(t->refusal), "token revoked");
            }
            e->validate_after_ms = now + backoff_ms(3);
        } else if (t && t->status == TOK_VALID) {
            t->status = TOK_INVALID;
            t->revoked = true;
            snprintf(t->refusal, sizeof(t->refusal), "token revoked");
        } else if (t && t->status == TOK_PENDING) {
            t->status = TOK_INVALID; /* it vouched for itself: refused */
            snprintf(t->refusal, sizeof(t->refusal), "unknown token");
        }
        if (t && t->status == TOK_INVALID)
            t->recheck = false;
        e->hub_tokens_due = true;
        e->tokens_dirty = true;
        edge__tokens_map(e);
        note_upstream(e, NULL);
    } else {
        char why[200];
        if (rc != CURLE_OK)
            snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
        else
            snprintf(why, sizeof(why), "/api/edge/validate answered %ld", code);
        if (code == 404)
            vx__logf(e->log, e->log_ud, "error",
                     "edge: the upstream %s has no /api/edge/validate: "
                     "follow a Vexil server or edge of this version",
                     e->upstream);
        note_upstream(e, why);
        e->validate_after_ms = now + backoff_ms(3);
    }
    pthread_cond_broadcast(&e->answered);
    pthread_mutex_unlock(&e->mu);
    json_decref(doc);
}

/* Every cached token is checked again (a token changed upstream, or the
 * upstream is back, or the period passed); unknown secrets are forgotten
 * so that their next use asks again. */
static void recheck_all(edge *e)
{
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->ntokens;) {
        edge_token *t = e->tokens[i];
        if (t->status == TOK_INVALID && !t->revoked && !t->given) {
            vx__free(t->secret);
            vx__free(t);
            memmove(e->tokens + i, e->tokens + i + 1,
                    (e->ntokens - i - 1) * sizeof(*e->tokens));
            e->ntokens--;
            continue;
        }
        if (t->status == TOK_VALID || t->given)
            t->recheck = true;
        i++;
    }
    e->recheck_due = false;
    edge__tokens_map(e);
    pthread_mutex_unlock(&e->mu);
}

/* ---- forwarding ------------------------------------------------------------
 */

/* A client token that may forward for view (env, projects): a valid one
 * whose feed covers it (under mu). */
static char *forward_token(edge *e, const char *env, const char *projects)
{
    int f = edge__feed_cover(e, env, projects);
    if (f < 0)
        return NULL;
    const edge_feed *feed = e->feeds[f];
    const edge_token *t = edge__token_find(e, feed->secret, feed->len);
    return t && t->status == TOK_VALID ? vx__strdup(feed->secret) : NULL;
}

static up_call *forward_start(edge *e, int64_t now, int64_t *retry_at)
{
    char id[32], kind[16], env[EDGE_ENV_MAX], pr[EDGE_PROJ_MAX];
    json_t *body = NULL;
    if (now < *retry_at || !edge__reports_next(e->reports, id, sizeof(id), kind,
                                               sizeof(kind), env, pr, &body))
        return NULL;
    pthread_mutex_lock(&e->mu);
    char *token = forward_token(e, env, pr);
    pthread_mutex_unlock(&e->mu);
    up_call *c = token ? vx__calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        /* No valid token for that view now: later. */
        vx__free(token);
        json_decref(body);
        *retry_at = now + backoff_ms(4);
        return NULL;
    }
    c->kind = UP_FORWARD;
    c->e = e;
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->kind_name, sizeof(c->kind_name), "%s", kind);
    c->post = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    c->h = c->post ? easy_new(e,
                              strcmp(kind, "impact") == 0 ? "/api/client/impact"
                                                          : "/api/edge/metrics",
                              c)
                   : NULL;
    c->hdrs = c->h ? headers(e, token, strlen(token)) : NULL;
    vx__free(token);
    if (!c->h || !c->hdrs) {
        if (c->h)
            curl_easy_cleanup(c->h);
        call_free(c);
        *retry_at = now + backoff_ms(2);
        return NULL;
    }
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->post);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)VX_LIMIT_EDGE_CALL_MS);
    if (curl_multi_add_handle(e->multi, c->h) != CURLM_OK) {
        curl_easy_cleanup(c->h);
        call_free(c);
        return NULL;
    }
    return c;
}

/* The entry an impact refusal names ("/metrics/<i>/..."), or SIZE_MAX. */
static size_t refused_entry(const up_call *c)
{
    json_t *doc = c->body ? json_loadb(c->body, c->len, 0, NULL) : NULL;
    const char *p = json_string_value(json_object_get(
        json_array_get(json_object_get(doc, "details"), 0), "path"));
    size_t i = SIZE_MAX;
    if (p && strncmp(p, "/metrics/", 9) == 0) {
        char *end = NULL;
        unsigned long long v = strtoull(p + 9, &end, 10);
        if (end != p + 9 && (*end == '/' || !*end))
            i = (size_t)v;
    }
    json_decref(doc);
    return i;
}

static void forward_done(edge *e, up_call *c, CURLcode rc, int64_t now,
                         int64_t *retry_at, unsigned *failures)
{
    long code = status_of(c->h);
    bool impact = strcmp(c->kind_name, "impact") == 0;
    if (code >= 200 && code < 300) {
        edge__reports_done(e->reports, c->id, true);
        *failures = 0;
        pthread_mutex_lock(&e->mu);
        note_upstream(e, NULL);
        pthread_mutex_unlock(&e->mu);
        edge__upstream_wake(e); /* the next batch at once */
        return;
    }
    edge__reports_failed(e->reports);
    if (impact && (code == 400 || code == 404)) {
        /* One entry the upstream refuses (a flag archived meanwhile): it
         * goes, the rest is sent again. */
        size_t i = refused_entry(c);
        vx__logf(e->log, e->log_ud, "warn",
                 "edge: the upstream refuses an impact entry (%ld): %.200s",
                 code, c->body ? c->body : "");
        if (i == SIZE_MAX || !edge__reports_drop_entry(e->reports, c->id, i))
            edge__reports_done(e->reports, c->id, false);
        return;
    }
    if (code == 400 || code == 413 || code == 404) {
        vx__logf(e->log, e->log_ud, "error",
                 "edge: the upstream refuses a batch of reports (%ld), "
                 "dropped: %.200s",
                 code, c->body ? c->body : "");
        edge__reports_done(e->reports, c->id, false);
        return;
    }
    /* 503 (its memory for reports is full), 401 (the token is checked
     * again meanwhile), 5xx, network: the same batch later. */
    if (code == 401 || code == 403) {
        pthread_mutex_lock(&e->mu);
        e->recheck_due = true;
        pthread_mutex_unlock(&e->mu);
    }
    (*failures)++;
    *retry_at = now + backoff_ms(*failures + 2);
    if (rc != CURLE_OK || code >= 500) {
        pthread_mutex_lock(&e->mu);
        note_upstream(e, rc != CURLE_OK ? curl_easy_strerror(rc)
                                        : "reports refused for now");
        pthread_mutex_unlock(&e->mu);
    }
}

/* ---- the thread ---------------------------------------------------------- */

/* The thread's own bookkeeping of its calls other than feeds. */
typedef struct up_loop {
    up_call *validate;     /* in flight, or NULL */
    up_call *forward;      /* in flight, or NULL */
    int64_t fwd_retry;     /* monotonic: forward again after */
    unsigned fwd_failures; /* consecutive */
} up_loop;

static void finish(edge *e, up_loop *L, CURL *h, CURLcode rc, int64_t now)
{
    up_call *c = NULL;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c);
    curl_multi_remove_handle(e->multi, h);
    if (c->kind == UP_FEED) {
        edge_feed *f = c->feed;
        feed_done(e, f, rc, now);
        curl_easy_cleanup(f->h);
        f->h = NULL;
        curl_slist_free_all(f->hdrs);
        f->hdrs = NULL;
        vx__free(c);
        return;
    }
    if (c->kind == UP_VALIDATE) {
        validate_done(e, c, rc, now);
        L->validate = NULL;
    } else {
        forward_done(e, c, rc, now, &L->fwd_retry, &L->fwd_failures);
        L->forward = NULL;
    }
    curl_easy_cleanup(c->h);
    call_free(c);
}

/* Stops what is in flight as the thread ends: feeds keep their state (on
 * disk too), a validation's waiters are told, a forward is sent again at
 * the next start (its batch id makes the repeat harmless). */
static void end_calls(edge *e, up_loop *L)
{
    up_call *calls[2] = {L->validate, L->forward};
    for (int i = 0; i < 2; i++) {
        if (!calls[i])
            continue;
        curl_multi_remove_handle(e->multi, calls[i]->h);
        curl_easy_cleanup(calls[i]->h);
        call_free(calls[i]);
    }
    pthread_mutex_lock(&e->mu);
    e->validating = false;
    pthread_cond_broadcast(&e->answered);
    size_t n = e->nfeeds;
    for (size_t i = 0; i < n; i++) {
        edge_feed *f = e->feeds[i];
        if (!f->h)
            continue;
        up_call *c = NULL;
        curl_easy_getinfo(f->h, CURLINFO_PRIVATE, (char **)&c);
        curl_multi_remove_handle(e->multi, f->h);
        curl_easy_cleanup(f->h);
        f->h = NULL;
        vx__free(c);
    }
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < n; i++)
        if (e->feeds[i]->have_state && !e->feeds[i]->dropped)
            edge__snapshot_write(e, e->feeds[i]);
}

static void *upstream_main(void *arg)
{
    edge *e = arg;
    up_loop L = {0};
    int64_t snap_last = 0;
    e->last_recheck_ms = e->last_forward_ms = e->last_sync_ms = vx__mono_ms();
    while (!atomic_load(&e->stop)) {
        int64_t now = vx__mono_ms();
        atomic_store(&e->wake, false);
        feeds_reap(e);
        pthread_mutex_lock(&e->mu);
        size_t n = e->nfeeds;
        edge_feed *feeds[VX_LIMIT_EDGE_FEEDS];
        memcpy(feeds, e->feeds, n * sizeof(*feeds));
        if (e->hub_tokens_due)
            edge__tokens_push(e);
        bool recheck = e->recheck_due ||
                       now - e->last_recheck_ms >= VX_LIMIT_EDGE_RECHECK_MS;
        pthread_mutex_unlock(&e->mu);
        /* Feeds: connect what is not connected and due. */
        for (size_t i = 0; i < n; i++) {
            edge_feed *f = feeds[i];
            if (f->dropped || f->h || now < f->next_ms)
                continue;
            up_call *c = vx__calloc(1, sizeof(*c));
            if (!c)
                continue;
            feed_start(e, f, c, now);
            if (!f->h)
                vx__free(c);
        }
        if (recheck && !L.validate) {
            recheck_all(e);
            e->last_recheck_ms = now;
        }
        if (!L.validate)
            L.validate = validate_start(e, now);
        /* Reports: cut, then forward one batch at a time. */
        if (now - e->last_forward_ms >= (int64_t)e->forward_ms) {
            edge__reports_cut(e->reports);
            e->last_forward_ms = now;
        }
        if (!L.forward)
            L.forward = forward_start(e, now, &L.fwd_retry);
        if (now - e->last_sync_ms >= VX_LIMIT_EDGE_SYNC_MS) {
            edge__reports_sync(e->reports);
            edge__tokens_save(e);
            e->last_sync_ms = now;
        }
        /* Snapshots, at most one per feed every VX_LIMIT_EDGE_SNAPSHOT_MS. */
        if (now - snap_last >= VX_LIMIT_EDGE_SNAPSHOT_MS) {
            for (size_t i = 0; i < n; i++) {
                if (!feeds[i]->dropped && feeds[i]->snap_due_ms &&
                    feeds[i]->snap_due_ms <= now) {
                    feeds[i]->snap_due_ms = 0;
                    edge__snapshot_write(e, feeds[i]);
                }
            }
            snap_last = now;
        }
        int still = 0;
        curl_multi_perform(e->multi, &still);
        int left = 0;
        for (CURLMsg *m = curl_multi_info_read(e->multi, &left); m;
             m = curl_multi_info_read(e->multi, &left)) {
            if (m->msg == CURLMSG_DONE)
                finish(e, &L, m->easy_handle, m->data.result, vx__mono_ms());
        }
        if (atomic_load(&e->wake))
            continue;
        /* Sleep until the next due feed, at most LOOP_MS. */
        int64_t wait = LOOP_MS;
        for (size_t i = 0; i < n; i++)
            if (!feeds[i]->dropped && !feeds[i]->h &&
                feeds[i]->next_ms - now < wait)
                wait = feeds[i]->next_ms - now;
        if (wait > 0)
            curl_multi_poll(e->multi, NULL, 0, (int)wait, NULL);
    }
    end_calls(e, &L);
    return NULL;
}

vx_status edge__upstream_start(edge *e, vx_error *err)
{
    e->multi = curl_multi_init();
    if (!e->multi)
        return vx__error_set(err, VX_ENOMEM, "", "cannot start libcurl");
    if (pthread_create(&e->thread, NULL, upstream_main, e) != 0)
        return vx__error_set(err, VX_EIO, "", "cannot start the edge thread");
    e->started = true;
    return VX_OK;
}

void edge__upstream_stop(edge *e)
{
    if (e->started) {
        atomic_store(&e->stop, true);
        curl_multi_wakeup(e->multi);
        pthread_join(e->thread, NULL);
        e->started = false;
    }
    if (e->multi) {
        curl_multi_cleanup(e->multi);
        e->multi = NULL;
    }
    for (size_t i = 0; i < e->nfeeds; i++)
        feed_free(e->feeds[i]);
    e->nfeeds = 0;
}
