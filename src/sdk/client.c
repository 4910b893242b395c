/* libvexil-client (include/vexil/client.h): the handle, the public calls,
 * and the background thread that keeps the snapshot current.
 *
 * One thread drives every request through one curl multi handle: the
 * features poll, the SSE stream, register and metrics. Callers never touch
 * curl; they read the snapshot through the vx_engine and count usage in
 * sdk_usage. Invariant: every field below "background thread only" is
 * read and written by that thread alone; what callers may read is atomic
 * or guarded by `mu`. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"
#include "sdk/backup.h"
#include "sdk/sse.h"
#include "sdk/usage.h"
#include "vexil/client.h"

#define DEFAULT_REFRESH_MS 15000
#define DEFAULT_METRICS_MS 60000
#define DEFAULT_TIMEOUT_MS 10000
#define STREAM_RETRY_MS    250   /* first reconnect delay, doubled */
#define STREAM_RETRY_MAX   10000 /* reconnect delay cap */
#define STREAM_FAIL_WINDOW 60000 /* Node SDK: 5 failures in 60 s */
#define STREAM_FAIL_MAX    5

/* The strategies libvexil implements, announced at register. */
static const char *const STRATEGIES[] = {"default",
                                         "userWithId",
                                         "gradualRolloutUserId",
                                         "gradualRolloutSessionId",
                                         "gradualRolloutRandom",
                                         "flexibleRollout",
                                         "remoteAddress",
                                         "applicationHostname"};

typedef enum req_kind {
    REQ_FEATURES,
    REQ_STREAM,
    REQ_REGISTER,
    REQ_METRICS,
    REQ_COUNT
} req_kind;

/* One request in flight (at most one of each kind). */
typedef struct req {
    vx_client *c;            /* owner */
    req_kind kind;           /* which */
    CURL *h;                 /* NULL when idle */
    struct curl_slist *hdrs; /* request headers */
    char *post;              /* request body (owned), or NULL */
    char *body;              /* response body (not for the stream) */
    size_t len;              /* bytes in body */
    size_t cap;              /* allocated */
    size_t max;              /* bound on body */
    bool over;               /* body past max: the transfer is aborted */
    bool connected;          /* stream: a 200 was seen */
    char etag[256];          /* ETag response header */
    char fetch_mode[16];     /* fetch-mode response header */
} req;

struct vx_client {
    /* configuration: immutable after vx_client_new */
    char *base;                  /* ".../api", no trailing slash */
    char *token;                 /* Authorization */
    char *app_name;              /* unleash-appname */
    char *instance_id;           /* unleash-instanceid */
    char *backup_path;           /* NULL = none */
    char connection_id[40];      /* unleash-connection-id (UUID) */
    vx_client_mode mode_cfg;     /* asked for */
    uint32_t refresh_ms;         /* polling period */
    uint32_t metrics_ms;         /* metrics period */
    uint32_t timeout_ms;         /* one request */
    atomic_bool metrics_on;      /* register and count (off after 401/403) */
    vx_client_log_fn log;        /* may be NULL */
    void *log_ud;                /* passed to log */
    vx_client_log_level level;   /* lowest level logged */
    vx_client_event_fn on_event; /* may be NULL */
    void *event_ud;              /* passed to on_event */

    /* shared with callers */
    vx_engine *engine;       /* the current snapshot */
    sdk_usage usage;         /* usage counters */
    pthread_mutex_t mu;      /* guards `announced` */
    pthread_cond_t cond;     /* signalled when announced turns true */
    bool announced;          /* READY was emitted: wait_ready's condition */
    atomic_bool ready;       /* a snapshot is published */
    atomic_bool synced;      /* one came from the server */
    atomic_bool from_backup; /* the current one is the backup's */
    atomic_bool stop;        /* vx_client_free asked the thread to end */
    atomic_bool flush;       /* vx_client_flush_metrics asked */
    atomic_int mode;         /* the mode in use (vx_client_mode) */
    _Atomic uint64_t n_fetches, n_304, n_fetch_err, n_connects, n_events,
        n_updates, n_metrics, n_dropped, n_backups; /* vx_client_stats */
    CURLM *multi;     /* wakeup is the only cross-thread call */
    pthread_t thread; /* the background thread */

    /* background thread only */
    req reqs[REQ_COUNT];     /* one slot per kind */
    sdk_sse sse;             /* stream parser (keeps Last-Event-ID) */
    char etag[256];          /* of the current features document */
    json_t *bk_events;       /* streaming: the events since hydration */
    char *metrics_pending;   /* a bucket the server did not take yet */
    int64_t next_poll;       /* monotonic ms */
    int64_t next_stream;     /* monotonic ms */
    int64_t next_metrics;    /* monotonic ms */
    unsigned poll_failures;  /* consecutive failed polls */
    unsigned stream_retries; /* consecutive failed connects */
    int64_t stream_fail_at[STREAM_FAIL_MAX]; /* ring of failure times */
    unsigned stream_fail_n;                  /* failures recorded in the ring */
    bool stream_refused;                     /* fell back to polling for good */
    bool polling_stopped;                    /* 401/403: the token is refused */
    bool registered;                         /* register accepted */
    bool backup_tried; /* the backup was loaded (or tried) */
    bool failing;      /* the last request failed (log once) */
};

/* ---- small helpers ------------------------------------------------------ */

VX_API int64_t vx_client_now_ms(void)
{
    return vx__wall_ms();
}

static void iso_time(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[24];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", day, (int)(ms % 1000));
}

static void log_msg(vx_client *c, vx_client_log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void log_msg(vx_client *c, vx_client_log_level lv, const char *fmt, ...)
{
    if (!c->log || lv < c->level)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->log(c->log_ud, lv, msg);
}

static void emit(vx_client *c, vx_client_event ev)
{
    if (c->on_event)
        c->on_event(c->event_ud, c, ev);
}

static void bump(_Atomic uint64_t *n)
{
    atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

/* A header-safe copy: no control characters (no header injection). */
static vx_status copy_text(const char *s, const char *path, bool required,
                           char **out, vx_error *err)
{
    *out = NULL;
    if (!s || !*s) {
        if (required)
            return vx__error_set(err, VX_EINVAL, path, "%s is required",
                                 path + 1);
        return VX_OK;
    }
    size_t n = strlen(s);
    if (n > VX_LIMIT_SDK_URL_BYTES)
        return vx__error_set(err, VX_EINVAL, path, "longer than %d bytes",
                             VX_LIMIT_SDK_URL_BYTES);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return vx__error_set(err, VX_EINVAL, path,
                                 "must not contain control characters");
    *out = vx__strdup(s);
    return *out ? VX_OK : vx__error_set(err, VX_ENOMEM, path, "out of memory");
}

static void make_uuid(char out[40])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* No entropy source: unique enough to tell connections apart. */
        uint64_t x = (uint64_t)vx__mono_ms() ^ ((uint64_t)getpid() << 32) ^
                     (uint64_t)(uintptr_t)out;
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            b[i] = (unsigned char)(x >> 56);
        }
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 40,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

/* ---- publishing -------------------------------------------------------- */

/* Publishes `s` (taking its reference). The events are emitted before
 * vx_client_wait_ready returns, so that a caller who waited has seen them. */
static void publish(vx_client *c, vx_snapshot *s, bool from_server)
{
    vx_engine_swap_take(c->engine, s);
    bump(&c->n_updates);
    atomic_store(&c->from_backup, !from_server);
    if (!atomic_exchange(&c->ready, true))
        emit(c, VX_CLIENT_EVENT_READY);
    if (from_server && !atomic_exchange(&c->synced, true))
        emit(c, VX_CLIENT_EVENT_SYNCHRONIZED);
    emit(c, VX_CLIENT_EVENT_CHANGED);
    pthread_mutex_lock(&c->mu);
    if (!c->announced) {
        c->announced = true;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->mu);
}

static void load_warn(void *ud, const char *path, uint32_t line,
                      uint32_t column, const char *message)
{
    vx_client *c = ud;
    log_msg(c, VX_CLIENT_LOG_WARN, "flags %s (%u:%u): %s", path, line, column,
            message);
}

static void save_backup(vx_client *c, const char *buf, size_t len)
{
    if (!c->backup_path)
        return;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (sdk_backup_write(c->backup_path, buf, len, &err) != VX_OK) {
        log_msg(c, VX_CLIENT_LOG_WARN, "backup: %s", err.message);
        return;
    }
    bump(&c->n_backups);
}

/* Starts from the backup file, once, when the server cannot be reached
 * before the first snapshot. */
static void try_backup(vx_client *c)
{
    if (c->backup_tried || atomic_load(&c->ready))
        return;
    c->backup_tried = true;
    if (!c->backup_path)
        return;
    char *buf = NULL;
    size_t len = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st =
        sdk_backup_read(c->backup_path, VX_LIMIT_DOC_BYTES, &buf, &len, &err);
    vx_snapshot *s = NULL;
    vx_load_options lo = {load_warn, c};
    if (st == VX_OK)
        st = vx_snapshot_load(buf, len, &lo, &s, &err);
    vx__free(buf);
    if (st != VX_OK) {
        log_msg(c, st == VX_ENOTFOUND ? VX_CLIENT_LOG_INFO : VX_CLIENT_LOG_WARN,
                "backup %s not used: %s%s%s", c->backup_path, err.path,
                err.path[0] ? ": " : "", err.message);
        return;
    }
    log_msg(
        c, VX_CLIENT_LOG_INFO,
        "the server is unreachable: starting from the backup %s (%zu flags)",
        c->backup_path, vx_snapshot_flag_count(s));
    publish(c, s, false);
}

/* ---- requests ------------------------------------------------------------ */

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    req *r = ud;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t off;
        size_t cap;
    } want[] = {{"etag:", offsetof(req, etag), sizeof(((req *)0)->etag)},
                {"fetch-mode:", offsetof(req, fetch_mode),
                 sizeof(((req *)0)->fetch_mode)}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        size_t k = strlen(want[i].name);
        if (len <= k || strncasecmp(buf, want[i].name, k) != 0)
            continue;
        const char *v = buf + k;
        size_t vn = len - k;
        while (vn && (*v == ' ' || *v == '\t')) {
            v++;
            vn--;
        }
        while (vn &&
               (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
            vn--;
        char *dst = (char *)r + want[i].off;
        if (vn >= want[i].cap)
            vn = 0; /* too long to be ours: treat as absent */
        memcpy(dst, v, vn);
        dst[vn] = '\0';
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    req *r = ud;
    size_t len = size * n;
    if (len > r->max - r->len) {
        r->over = true;
        return 0;
    }
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *p = vx__realloc(r->body, cap);
        if (!p) {
            r->over = true;
            return 0;
        }
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, buf, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_stream(char *buf, size_t size, size_t n, void *ud)
{
    req *r = ud;
    vx_client *c = r->c;
    size_t len = size * n;
    if (!r->connected) {
        long code = 0;
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200)
            return len; /* an error body: the status decides */
        r->connected = true;
        bump(&c->n_connects);
        c->stream_retries = 0;
        c->failing = false;
        log_msg(c, VX_CLIENT_LOG_INFO, "streaming from %s/client/streaming",
                c->base);
    }
    vx_status st = sdk_sse_feed(&c->sse, buf, len);
    if (st != VX_OK) {
        if (st != VX_ECONFLICT)
            log_msg(c, VX_CLIENT_LOG_ERROR, "stream: %s", vx_status_str(st));
        return 0; /* aborts the transfer; the loop reconnects */
    }
    return len;
}

/* The headers every request carries. */
static struct curl_slist *base_headers(vx_client *c, uint32_t interval_ms)
{
    struct curl_slist *h = NULL;
    char line[VX_LIMIT_SDK_URL_BYTES + 64];
    for (int i = 0; i < 7; i++) {
        switch (i) {
        case 0:
            snprintf(line, sizeof(line), "Authorization: %s", c->token);
            break;
        case 1:
            snprintf(line, sizeof(line), "unleash-appname: %s", c->app_name);
            break;
        case 2:
            snprintf(line, sizeof(line), "unleash-instanceid: %s",
                     c->instance_id);
            break;
        case 3:
            snprintf(line, sizeof(line), "unleash-connection-id: %s",
                     c->connection_id);
            break;
        case 4:
            snprintf(line, sizeof(line), "%s",
                     "Unleash-Client-Spec: " VX_CLIENT_SPEC_VERSION);
            break;
        case 5:
            snprintf(line, sizeof(line), "%s",
                     "unleash-sdk: " VX_CLIENT_SDK_NAME ":" VX_VERSION_STRING);
            break;
        default:
            snprintf(line, sizeof(line), "unleash-interval: %u", interval_ms);
            break;
        }
        struct curl_slist *t = curl_slist_append(h, line);
        if (!t) {
            curl_slist_free_all(h);
            return NULL;
        }
        h = t;
    }
    return h;
}

/* Makes an easy handle for `path` under the base URL with the common
 * options. NULL on out of memory. */
static CURL *make_handle(vx_client *c, req *r, const char *path,
                         struct curl_slist *hdrs)
{
    char url[VX_LIMIT_SDK_URL_BYTES + 64];
    snprintf(url, sizeof(url), "%s%s", c->base, path);
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT,
                     VX_CLIENT_SDK_NAME "/" VX_VERSION_STRING);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_PRIVATE, r);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    return h;
}

static void req_end(vx_client *c, req *r)
{
    if (r->h) {
        curl_multi_remove_handle(c->multi, r->h);
        curl_easy_cleanup(r->h);
    }
    curl_slist_free_all(r->hdrs);
    vx__free(r->post);
    vx__free(r->body);
    req_kind k = r->kind;
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->kind = k;
}

/* Starts request `r` for `path`; `post` (owned, may be NULL) makes it a
 * POST. Returns false (and frees post) when it could not start. */
static bool req_start(vx_client *c, req *r, const char *path, char *post,
                      uint32_t interval_ms)
{
    r->hdrs = base_headers(c, interval_ms);
    struct curl_slist *t = NULL;
    if (r->hdrs && post)
        t = curl_slist_append(r->hdrs, "Content-Type: application/json");
    if (r->hdrs && r->kind == REQ_FEATURES && c->etag[0]) {
        char line[300];
        snprintf(line, sizeof(line), "If-None-Match: %s", c->etag);
        t = curl_slist_append(r->hdrs, line);
    }
    if (r->hdrs && r->kind == REQ_STREAM) {
        t = curl_slist_append(r->hdrs, "Accept: text/event-stream");
        if (t && c->sse.id[0]) {
            char line[SDK_SSE_NAME_MAX + 32];
            snprintf(line, sizeof(line), "Last-Event-ID: %s", c->sse.id);
            t = curl_slist_append(r->hdrs, line);
        }
    } else if (r->hdrs && !post) {
        t = curl_slist_append(r->hdrs, "Accept: application/json");
    }
    r->post = post;
    r->h = (r->hdrs && t) ? make_handle(c, r, path, r->hdrs) : NULL;
    if (!r->h) {
        log_msg(c, VX_CLIENT_LOG_ERROR, "%s: out of memory", path);
        req_end(c, r);
        return false;
    }
    if (post) {
        curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(r->h, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
    }
    if (r->kind == REQ_STREAM) {
        curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_stream);
        curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_TIME,
                         (long)VX_LIMIT_SDK_STREAM_IDLE_SECS);
        sdk_sse_reset(&c->sse);
    } else {
        curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(r->h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
        r->max = r->kind == REQ_FEATURES ? VX_LIMIT_DOC_BYTES
                                         : VX_LIMIT_SDK_REPLY_BYTES;
    }
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    if (r->kind == REQ_FEATURES || r->kind == REQ_STREAM)
        curl_easy_setopt(r->h, CURLOPT_ACCEPT_ENCODING, "gzip");
    if (curl_multi_add_handle(c->multi, r->h) != CURLM_OK) {
        log_msg(c, VX_CLIENT_LOG_ERROR, "%s: cannot start the request", path);
        req_end(c, r);
        return false;
    }
    return true;
}

/* ---- features (polling) ---------------------------------------------- */

static void poll_failed(vx_client *c, const char *why)
{
    bump(&c->n_fetch_err);
    c->poll_failures++;
    log_msg(c, c->failing ? VX_CLIENT_LOG_DEBUG : VX_CLIENT_LOG_WARN,
            "fetching %s/client/features failed: %s", c->base, why);
    c->failing = true;
    try_backup(c);
}

static void features_done(vx_client *c, req *r, CURLcode rc, long code)
{
    int64_t now = vx__mono_ms();
    char why[CURL_ERROR_SIZE + 32];
    if (rc != CURLE_OK) {
        snprintf(why, sizeof(why), "%s",
                 r->over ? "the document is too large"
                         : curl_easy_strerror(rc));
        poll_failed(c, why);
    } else if (code == 304) {
        bump(&c->n_fetches);
        bump(&c->n_304);
        c->poll_failures = 0;
        c->failing = false;
    } else if (code == 200) {
        bump(&c->n_fetches);
        vx_snapshot *s = NULL;
        vx_error err;
        memset(&err, 0, sizeof(err));
        vx_load_options lo = {load_warn, c};
        if (vx_snapshot_load(r->body ? r->body : "", r->len, &lo, &s, &err) !=
            VX_OK) {
            snprintf(why, sizeof(why), "%s:%u:%u: %s", err.path, err.line,
                     err.column, err.message);
            poll_failed(c, why);
        } else {
            if (c->failing)
                log_msg(c, VX_CLIENT_LOG_INFO, "the server answers again");
            c->poll_failures = 0;
            c->failing = false;
            snprintf(c->etag, sizeof(c->etag), "%s", r->etag);
            log_msg(c, VX_CLIENT_LOG_DEBUG, "fetched %zu flags (ETag %s)",
                    vx_snapshot_flag_count(s), c->etag);
            /* The backup first: once READY is reported, it is on disk. */
            save_backup(c, r->body, r->len);
            publish(c, s, true);
        }
    } else if (code == 401 || code == 403) {
        bump(&c->n_fetch_err);
        log_msg(c, VX_CLIENT_LOG_ERROR,
                "%s/client/features answered %ld: the token is refused; "
                "polling stops",
                c->base, code);
        c->polling_stopped = true;
        try_backup(c);
    } else {
        snprintf(why, sizeof(why), "status %ld", code);
        poll_failed(c, why);
    }
    unsigned k = c->poll_failures < 9 ? c->poll_failures : 9;
    c->next_poll = now + (int64_t)c->refresh_ms * (1 + k);
    /* The server may ask a polling SDK to stream instead. */
    if (rc == CURLE_OK && strcasecmp(r->fetch_mode, "streaming") == 0 &&
        !c->stream_refused && atomic_load(&c->mode) == VX_CLIENT_POLLING) {
        log_msg(c, VX_CLIENT_LOG_INFO, "the server asks for streaming");
        atomic_store(&c->mode, VX_CLIENT_STREAMING);
        c->next_stream = now;
    }
}

/* ---- streaming ---------------------------------------------------------- */

static void to_polling(vx_client *c, const char *why)
{
    log_msg(c, VX_CLIENT_LOG_WARN,
            "streaming unavailable (%s): polling instead", why);
    c->stream_refused = true;
    atomic_store(&c->mode, VX_CLIENT_POLLING);
    c->next_poll = vx__mono_ms();
}

/* Keeps the streaming backup: the hydration and the deltas since, a body
 * vx_snapshot_load accepts. */
static void stream_backup(vx_client *c, bool hydrate, const char *data,
                          size_t len)
{
    if (!c->backup_path)
        return;
    json_t *doc = json_loadb(data, len, 0, NULL);
    json_t *events = json_object_get(doc, "events");
    if (!json_is_array(events)) {
        json_decref(doc);
        return;
    }
    if (hydrate) {
        json_decref(c->bk_events);
        c->bk_events = json_incref(events);
    } else if (c->bk_events) {
        json_array_extend(c->bk_events, events);
    } else {
        json_decref(doc); /* deltas without their hydration: no backup */
        return;
    }
    json_decref(doc);
    json_t *body = json_pack("{sO}", "events", c->bk_events);
    size_t n = body ? json_dumpb(body, NULL, 0, JSON_COMPACT) : 0;
    char *buf = n ? vx__malloc(n) : NULL;
    if (buf && json_dumpb(body, buf, n, JSON_COMPACT) == n)
        save_backup(c, buf, n);
    vx__free(buf);
    json_decref(body);
}

static vx_status on_event(void *ud, const char *event, const char *data,
                          size_t len, const char *id)
{
    vx_client *c = ud;
    bool hydrate = strcmp(event, "unleash-connected") == 0;
    if (!hydrate && strcmp(event, "unleash-updated") != 0) {
        if (strcmp(event, "fetch-mode") == 0 && len == 7 &&
            memcmp(data, "polling", 7) == 0) {
            to_polling(c, "the server asks for polling");
            return VX_ECONFLICT; /* ends the stream */
        }
        return VX_OK; /* other events are not ours */
    }
    vx_snapshot *base = hydrate ? NULL : vx_engine_acquire(c->engine);
    vx_snapshot *s = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_load_options lo = {load_warn, c};
    vx_status st = vx_snapshot_apply_delta(base, data, len, &lo, &s, &err);
    vx_snapshot_unref(base);
    if (st != VX_OK) {
        log_msg(
            c, VX_CLIENT_LOG_ERROR,
            "stream event %s (id %s): %s: %s; reconnecting for a full state",
            event, id, err.path, err.message);
        c->sse.id[0] = '\0'; /* resume from scratch: hydrate */
        return VX_ECONFLICT;
    }
    bump(&c->n_events);
    log_msg(c, VX_CLIENT_LOG_DEBUG, "stream %s (id %s): %zu flags", event, id,
            vx_snapshot_flag_count(s));
    if (c->failing)
        log_msg(c, VX_CLIENT_LOG_INFO, "the server answers again");
    c->failing = false;
    stream_backup(c, hydrate, data, len);
    publish(c, s, true);
    if (c->bk_events &&
        json_array_size(c->bk_events) > VX_LIMIT_SDK_BACKUP_EVENTS) {
        c->sse.id[0] = '\0'; /* a fresh hydration compacts the backup */
        return VX_ECONFLICT;
    }
    return VX_OK;
}

/* Records a failed connect; true when the Node SDK's rule (5 failures in
 * 60 s) says to give up streaming. */
static bool stream_fail(vx_client *c, int64_t now)
{
    c->stream_fail_at[c->stream_fail_n++ % STREAM_FAIL_MAX] = now;
    if (c->stream_fail_n < STREAM_FAIL_MAX)
        return false;
    int64_t oldest = c->stream_fail_at[c->stream_fail_n % STREAM_FAIL_MAX];
    return now - oldest <= STREAM_FAIL_WINDOW;
}

static void stream_done(vx_client *c, req *r, CURLcode rc, long code)
{
    int64_t now = vx__mono_ms();
    if (atomic_load(&c->mode) != VX_CLIENT_STREAMING)
        return; /* switched to polling by the server's event */
    if (r->connected) {
        /* A stream that worked and ended (server restart, idle timeout,
         * compaction): reconnect soon with Last-Event-ID. */
        log_msg(c, VX_CLIENT_LOG_INFO, "stream ended (%s); reconnecting",
                rc == CURLE_OK ? "closed by the server"
                               : curl_easy_strerror(rc));
        c->next_stream = now + STREAM_RETRY_MS;
        return;
    }
    bump(&c->n_fetch_err);
    char why[CURL_ERROR_SIZE + 32];
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
    else
        snprintf(why, sizeof(why), "status %ld", code);
    try_backup(c);
    if (rc == CURLE_OK && (code == 401 || code == 403 || code == 404 ||
                           code == 429 || code == 501)) {
        to_polling(c, why);
        return;
    }
    if (rc == CURLE_OK && code != 408 && code < 500) {
        to_polling(c, why); /* anything else unexpected: poll */
        return;
    }
    if (stream_fail(c, now)) {
        to_polling(c, "5 failures within 60 s");
        return;
    }
    log_msg(c, c->failing ? VX_CLIENT_LOG_DEBUG : VX_CLIENT_LOG_WARN,
            "streaming from %s failed: %s; retrying", c->base, why);
    c->failing = true;
    int64_t delay = STREAM_RETRY_MS
                    << (c->stream_retries < 6 ? c->stream_retries : 6);
    if (delay > STREAM_RETRY_MAX)
        delay = STREAM_RETRY_MAX;
    c->stream_retries++;
    c->next_stream = now + delay;
}

/* ---- register and metrics ---------------------------------------------- */

static json_t *identity(vx_client *c)
{
    return json_pack("{ss ss ss ss ss ss sn ss}", "appName", c->app_name,
                     "instanceId", c->instance_id, "connectionId",
                     c->connection_id, "sdkVersion",
                     VX_CLIENT_SDK_NAME ":" VX_VERSION_STRING, "platformName",
                     "C", "platformVersion", "C11", "yggdrasilVersion",
                     "specVersion", VX_CLIENT_SPEC_VERSION);
}

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return NULL;
    /* json_dumps allocates with jansson's allocator: copy into ours. */
    char *out = vx__strdup(s);
    free(s);
    return out;
}

static void start_register(vx_client *c)
{
    json_t *b = identity(c);
    json_t *strategies = json_array();
    for (size_t i = 0;
         strategies && i < sizeof(STRATEGIES) / sizeof(*STRATEGIES); i++)
        json_array_append_new(strategies, json_string(STRATEGIES[i]));
    char started[32];
    iso_time(vx_client_now_ms(), started);
    if (b && strategies) {
        json_object_set_new(b, "strategies", strategies);
        json_object_set_new(b, "started", json_string(started));
        json_object_set_new(b, "interval", json_integer(c->metrics_ms));
    } else {
        json_decref(strategies);
    }
    char *body = dump(b);
    if (!body) {
        log_msg(c, VX_CLIENT_LOG_ERROR, "register: out of memory");
        return;
    }
    req_start(c, &c->reqs[REQ_REGISTER], "/client/register", body,
              c->metrics_ms);
}

/* The metrics body for the bucket counted so far (swapping buckets), or
 * NULL when there is nothing to send. */
static char *metrics_body(vx_client *c)
{
    sdk_usage_bucket *b = sdk_usage_swap(&c->usage);
    bool oom = false;
    json_t *toggles = sdk_usage_toggles(b, &oom);
    if (b->dropped) {
        atomic_fetch_add(&c->n_dropped, b->dropped);
        log_msg(c, VX_CLIENT_LOG_WARN,
                "metrics: %llu counts dropped (more than %d flags, %d "
                "variants or %zu name bytes in one bucket)",
                (unsigned long long)b->dropped, VX_LIMIT_SDK_USAGE_FLAGS,
                VX_LIMIT_SDK_USAGE_VARIANTS, VX_LIMIT_SDK_USAGE_NAME_BYTES);
    }
    char start[32], stop[32];
    iso_time(b->start_ms, start);
    iso_time(vx_client_now_ms(), stop);
    sdk_usage_clear(b);
    if (oom)
        log_msg(c, VX_CLIENT_LOG_ERROR, "metrics: out of memory");
    if (!toggles)
        return NULL;
    json_t *body = identity(c);
    json_t *bucket = json_pack("{ss ss so}", "start", start, "stop", stop,
                               "toggles", toggles);
    if (!body || !bucket) {
        json_decref(body);
        json_decref(bucket);
        log_msg(c, VX_CLIENT_LOG_ERROR, "metrics: out of memory");
        return NULL;
    }
    json_object_set_new(body, "bucket", bucket);
    return dump(body);
}

static void start_metrics(vx_client *c)
{
    char *body = c->metrics_pending;
    c->metrics_pending = NULL;
    if (!body)
        body = metrics_body(c);
    if (body)
        req_start(c, &c->reqs[REQ_METRICS], "/client/metrics", body,
                  c->metrics_ms);
}

/* What a metrics or register answer means; true when accepted. Keeps a
 * refused-for-now metrics body for the next tick. */
static void post_done(vx_client *c, req *r, CURLcode rc, long code)
{
    bool is_metrics = r->kind == REQ_METRICS;
    const char *what = is_metrics ? "metrics" : "register";
    if (rc == CURLE_OK && code >= 200 && code < 300) {
        if (is_metrics) {
            bump(&c->n_metrics);
            emit(c, VX_CLIENT_EVENT_METRICS_SENT);
        } else {
            c->registered = true;
            emit(c, VX_CLIENT_EVENT_REGISTERED);
        }
        return;
    }
    if (rc == CURLE_OK && (code == 401 || code == 403)) {
        log_msg(c, VX_CLIENT_LOG_ERROR,
                "%s answered %ld: the token is refused; metrics stop", what,
                code);
        c->metrics_on = false;
        return;
    }
    if (rc == CURLE_OK && code >= 400 && code < 500 && code != 404 &&
        code != 408 && code != 429) {
        log_msg(c, VX_CLIENT_LOG_ERROR, "%s refused (status %ld): %.200s", what,
                code, r->body ? r->body : "");
        if (is_metrics)
            bump(&c->n_dropped);
        else
            c->registered = true; /* do not retry a body the server refuses */
        return;
    }
    log_msg(c, VX_CLIENT_LOG_WARN, "%s: %s; retrying at the next interval",
            what, rc != CURLE_OK ? curl_easy_strerror(rc) : "server error");
    if (is_metrics && !c->metrics_pending) {
        c->metrics_pending = r->post; /* sent again next time */
        r->post = NULL;
    }
}

/* Posts `body` (owned) synchronously: the final flush at close. */
static void post_now(vx_client *c, char *body)
{
    req r;
    memset(&r, 0, sizeof(r));
    r.c = c;
    r.kind = REQ_METRICS;
    r.hdrs = base_headers(c, c->metrics_ms);
    struct curl_slist *t =
        r.hdrs ? curl_slist_append(r.hdrs, "Content-Type: application/json")
               : NULL;
    r.post = body;
    r.max = VX_LIMIT_SDK_REPLY_BYTES;
    r.h = t ? make_handle(c, &r, "/client/metrics", r.hdrs) : NULL;
    if (r.h) {
        curl_easy_setopt(r.h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(r.h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(r.h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(r.h, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(r.h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
        CURLcode rc = curl_easy_perform(r.h);
        long code = 0;
        curl_easy_getinfo(r.h, CURLINFO_RESPONSE_CODE, &code);
        post_done(c, &r, rc, code);
        curl_easy_cleanup(r.h);
    }
    if (r.post == body) {
        curl_slist_free_all(r.hdrs);
        vx__free(r.post);
        vx__free(r.body);
    } else { /* kept as pending: dropped now, we are closing */
        curl_slist_free_all(r.hdrs);
        vx__free(r.body);
    }
}

/* ---- the background thread -------------------------------------------- */

static void finish(vx_client *c, CURL *h, CURLcode rc)
{
    req *r = NULL;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&r);
    if (!r)
        return;
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    switch (r->kind) {
    case REQ_FEATURES: features_done(c, r, rc, code); break;
    case REQ_STREAM: stream_done(c, r, rc, code); break;
    default: post_done(c, r, rc, code); break;
    }
    req_end(c, r);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void *run(void *ud)
{
    vx_client *c = ud;
    int64_t now = vx__mono_ms();
    c->next_poll = c->next_stream = now;
    c->next_metrics = now + c->metrics_ms;
    if (c->metrics_on)
        start_register(c);
    while (!atomic_load(&c->stop)) {
        now = vx__mono_ms();
        bool polling = atomic_load(&c->mode) == VX_CLIENT_POLLING;
        if (polling && !c->polling_stopped && !c->reqs[REQ_FEATURES].h &&
            now >= c->next_poll &&
            !req_start(c, &c->reqs[REQ_FEATURES], "/client/features", NULL,
                       c->refresh_ms))
            c->next_poll = now + c->refresh_ms;
        if (!polling && !c->reqs[REQ_STREAM].h && now >= c->next_stream &&
            !req_start(c, &c->reqs[REQ_STREAM], "/client/streaming", NULL,
                       c->refresh_ms))
            c->next_stream = now + STREAM_RETRY_MAX;
        if (c->metrics_on && !c->reqs[REQ_METRICS].h &&
            (now >= c->next_metrics || atomic_exchange(&c->flush, false))) {
            c->next_metrics = now + c->metrics_ms;
            start_metrics(c);
            if (!c->registered && !c->reqs[REQ_REGISTER].h)
                start_register(c);
        }
        int running = 0;
        curl_multi_perform(c->multi, &running);
        for (;;) {
            int left = 0;
            CURLMsg *m = curl_multi_info_read(c->multi, &left);
            if (!m)
                break;
            if (m->msg == CURLMSG_DONE)
                finish(c, m->easy_handle, m->data.result);
        }
        /* Sleep until the next deadline, a socket event or a wakeup. */
        now = vx__mono_ms();
        int64_t wait = 1000;
        if (polling && !c->polling_stopped && !c->reqs[REQ_FEATURES].h)
            wait = min64(wait, c->next_poll - now);
        if (!polling && !c->reqs[REQ_STREAM].h)
            wait = min64(wait, c->next_stream - now);
        if (c->metrics_on && !c->reqs[REQ_METRICS].h)
            wait = min64(wait, c->next_metrics - now);
        if (wait > 0)
            curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL);
    }
    /* Closing: drop what is in flight, then post the last counts. */
    for (int k = 0; k < REQ_COUNT; k++)
        if (k != REQ_METRICS)
            req_end(c, &c->reqs[k]);
    char *pending = NULL;
    if (c->reqs[REQ_METRICS].h) {
        pending = c->reqs[REQ_METRICS].post; /* not known to have arrived */
        c->reqs[REQ_METRICS].post = NULL;
        req_end(c, &c->reqs[REQ_METRICS]);
    }
    if (!pending) {
        pending = c->metrics_pending;
        c->metrics_pending = NULL;
    }
    if (c->metrics_on && pending)
        post_now(c, pending);
    else
        vx__free(pending);
    char *last = c->metrics_on ? metrics_body(c) : NULL;
    if (last)
        post_now(c, last);
    return NULL;
}

/* ---- public calls ------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    /* Process-wide, once: libcurl's global state (STYLE rule 10). */
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void client_free(vx_client *c)
{
    for (int k = 0; k < REQ_COUNT; k++)
        req_end(c, &c->reqs[k]);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    sdk_sse_release(&c->sse);
    json_decref(c->bk_events);
    vx__free(c->metrics_pending);
    sdk_usage_release(&c->usage);
    vx_engine_free(c->engine);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    vx__free(c->base);
    vx__free(c->token);
    vx__free(c->app_name);
    vx__free(c->instance_id);
    vx__free(c->backup_path);
    vx__free(c);
}

/* "<url>" normalised to end in "/api" without a trailing slash. */
static vx_status make_base(const char *url, char **out, vx_error *err)
{
    char *u = NULL;
    vx_status st = copy_text(url, "/url", true, &u, err);
    if (st != VX_OK)
        return st;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        vx__free(u);
        return vx__error_set(err, VX_EINVAL, "/url",
                             "must start with http:// or https://");
    }
    size_t n = strlen(u);
    while (n > 8 && u[n - 1] == '/')
        n--;
    u[n] = '\0';
    bool has_api = n >= 4 && memcmp(u + n - 4, "/api", 4) == 0;
    *out = vx__malloc(n + 5);
    if (*out)
        snprintf(*out, n + 5, "%s%s", u, has_api ? "" : "/api");
    vx__free(u);
    return *out ? VX_OK
                : vx__error_set(err, VX_ENOMEM, "/url", "out of memory");
}

static vx_status check_interval(uint32_t v, const char *path, vx_error *err)
{
    if (v && v < VX_LIMIT_SDK_MIN_INTERVAL_MS)
        return vx__error_set(err, VX_EINVAL, path, "must be at least %d ms",
                             VX_LIMIT_SDK_MIN_INTERVAL_MS);
    return VX_OK;
}

VX_API vx_status vx_client_new(const vx_client_config *cfg, vx_client **out,
                               vx_error *err)
{
    *out = NULL;
    if (!cfg)
        return vx__error_set(err, VX_EINVAL, "", "no configuration");
    vx_status st =
        check_interval(cfg->refresh_interval_ms, "/refresh_interval_ms", err);
    if (st == VX_OK)
        st = check_interval(cfg->metrics_interval_ms, "/metrics_interval_ms",
                            err);
    if (st == VX_OK && cfg->mode != VX_CLIENT_POLLING &&
        cfg->mode != VX_CLIENT_STREAMING)
        st = vx__error_set(err, VX_EINVAL, "/mode", "unknown mode");
    if (st != VX_OK)
        return st;
    vx_client *c = vx__calloc(1, sizeof(*c));
    if (!c)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    for (int k = 0; k < REQ_COUNT; k++) {
        c->reqs[k].c = c;
        c->reqs[k].kind = (req_kind)k;
    }
    st = make_base(cfg->url, &c->base, err);
    if (st == VX_OK)
        st = copy_text(cfg->token, "/token", true, &c->token, err);
    if (st == VX_OK)
        st = copy_text(cfg->app_name, "/app_name", true, &c->app_name, err);
    if (st == VX_OK)
        st = copy_text(cfg->instance_id, "/instance_id", false, &c->instance_id,
                       err);
    if (st == VX_OK && cfg->backup_path && *cfg->backup_path) {
        c->backup_path = vx__strdup(cfg->backup_path);
        if (!c->backup_path)
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    if (st == VX_OK && !c->instance_id) {
        char host[256] = "host", id[320];
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(id, sizeof(id), "%s-%ld", host, (long)getpid());
        st = copy_text(id, "/instance_id", true, &c->instance_id, err);
    }
    if (st != VX_OK)
        goto fail;
    make_uuid(c->connection_id);
    c->mode_cfg = cfg->mode;
    atomic_store(&c->mode, cfg->mode);
    c->refresh_ms = cfg->refresh_interval_ms ? cfg->refresh_interval_ms
                                             : DEFAULT_REFRESH_MS;
    c->metrics_ms = cfg->metrics_interval_ms ? cfg->metrics_interval_ms
                                             : DEFAULT_METRICS_MS;
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->metrics_on = !cfg->disable_metrics;
    c->log = cfg->log;
    c->log_ud = cfg->log_ud;
    c->level = cfg->log_level;
    c->on_event = cfg->on_event;
    c->event_ud = cfg->event_ud;
    sdk_sse_init(&c->sse, VX_LIMIT_SDK_SSE_EVENT_BYTES, on_event, c);
    c->engine = vx_engine_new();
    if (!c->engine || sdk_usage_init(&c->usage) != VX_OK) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto fail;
    }
    pthread_once(&curl_once, curl_init);
    c->multi = curl_multi_init();
    if (!c->multi) {
        st = vx__error_set(err, VX_ENOMEM, "", "cannot create a curl handle");
        goto fail;
    }
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        st = vx__error_set(err, VX_EIO, "", "cannot start the thread");
        goto fail;
    }
    *out = c;
    return VX_OK;
fail:
    client_free(c);
    return st;
}

VX_API void vx_client_free(vx_client *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    curl_multi_wakeup(c->multi);
    pthread_join(c->thread, NULL);
    client_free(c);
}

VX_API bool vx_client_ready(vx_client *c)
{
    return atomic_load(&c->ready);
}

VX_API bool vx_client_wait_ready(vx_client *c, uint32_t timeout_ms)
{
    struct timespec until = vx__deadline(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&c->mu);
    while (!c->announced) {
        if (pthread_cond_timedwait(&c->cond, &c->mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&c->mu);
    return atomic_load(&c->ready);
}

VX_API vx_snapshot *vx_client_acquire(vx_client *c)
{
    return vx_engine_acquire(c->engine);
}

VX_API bool vx_client_is_enabled(vx_client *c, vx_scratch *sc, const char *name,
                                 size_t len, const vx_context *ctx)
{
    vx_snapshot *s = vx_engine_acquire(c->engine);
    bool on = s && vx_is_enabled(s, sc, name, len, ctx);
    vx_snapshot_unref(s);
    if (c->metrics_on)
        sdk_usage_count(&c->usage, name, len, on, NULL, 0);
    return on;
}

VX_API void vx_client_get_variant(vx_client *c, const vx_snapshot *s,
                                  vx_scratch *sc, const char *name, size_t len,
                                  const vx_context *ctx, vx_variant *out)
{
    if (s) {
        vx_get_variant(s, sc, name, len, ctx, out);
    } else {
        memset(out, 0, sizeof(*out));
        out->name = (vx_str){"disabled", 8};
    }
    if (c->metrics_on)
        sdk_usage_count(&c->usage, name, len, out->feature_enabled,
                        out->name.ptr, out->name.len);
}

VX_API void vx_client_get_stats(vx_client *c, vx_client_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->fetches = atomic_load(&c->n_fetches);
    out->not_modified = atomic_load(&c->n_304);
    out->fetch_errors = atomic_load(&c->n_fetch_err);
    out->stream_connects = atomic_load(&c->n_connects);
    out->stream_events = atomic_load(&c->n_events);
    out->updates = atomic_load(&c->n_updates);
    out->metrics_sent = atomic_load(&c->n_metrics);
    out->metrics_dropped = atomic_load(&c->n_dropped);
    out->backup_writes = atomic_load(&c->n_backups);
    out->ready = atomic_load(&c->ready);
    out->synchronized = atomic_load(&c->synced);
    out->from_backup = atomic_load(&c->from_backup);
    out->mode = (vx_client_mode)atomic_load(&c->mode);
}

VX_API void vx_client_flush_metrics(vx_client *c)
{
    atomic_store(&c->flush, true);
    curl_multi_wakeup(c->multi);
}
