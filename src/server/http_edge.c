/* The listener's edge: request framing checks and the connection watchdog
 * (see http_edge.h).
 *
 * The watchdog keeps every connection in a list (under `mu`) with its
 * phase and the phase's start packed in one atomic word, so the
 * libmicrohttpd threads that move a connection from phase to phase never
 * take the lock. Every VX_LIMIT_HTTP_WATCH_MS its thread walks the list
 * and shuts down (shutdown(2), which libmicrohttpd's poll then sees as the
 * peer going away) the sockets past their deadline. libmicrohttpd reports
 * a connection closed before it closes its socket, and the report takes
 * `mu`, so a descriptor in the list is always still that connection's. */
#include "server/http_edge.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"

/* --- request framing ------------------------------------------------------ */

bool http_edge_target_ok(const char *uri, size_t *skip)
{
    *skip = 0;
    if (!uri || !*uri)
        return false;
    for (const char *p = uri; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return false;
    }
    if (uri[0] == '/')
        return true;
    if (strcmp(uri, "*") == 0)
        return true; /* OPTIONS * (the method is checked later) */
    size_t k = strncasecmp(uri, "http://", 7) == 0    ? 7
               : strncasecmp(uri, "https://", 8) == 0 ? 8
                                                      : 0;
    if (k == 0 || uri[k] == '\0' || uri[k] == '/')
        return false;
    size_t auth = strcspn(uri + k, "/?");
    if (memchr(uri + k, '@', auth))
        return false; /* no userinfo in a request-target (RFC 9110 4.2.4) */
    *skip = k + auth; /* the path (or "?query", or nothing: "/") follows */
    return true;
}

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A Host value: uri-host [":" port], from RFC 3986's characters. */
static bool host_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        unsigned char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') ||
                  (c != 0 && strchr("-._~!$&'()*+,;=%:[]", c) != NULL);
        if (!ok)
            return false;
    }
    return true;
}

/* Parses a Content-Length value (digits, optional blanks around). */
static bool length_value(const char *v, uint64_t *out)
{
    uint64_t n = 0;
    size_t digits = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v >= '0' && *v <= '9'; v++, digits++) {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    while (*v == ' ' || *v == '\t')
        v++;
    *out = n;
    return digits > 0 && *v == '\0';
}

typedef struct framing {
    unsigned status;    /* first failure, 0 none */
    char *msg;          /* its reason */
    size_t cap;         /* bytes of msg */
    unsigned hosts;     /* Host fields */
    unsigned lengths;   /* Content-Length fields */
    uint64_t length;    /* the first one's value */
    unsigned encodings; /* Transfer-Encoding fields */
    const char *te;     /* the first one's value */
} framing;

__attribute__((format(printf, 3, 4))) static enum MHD_Result
fail(framing *f, unsigned status, const char *fmt, ...)
{
    if (!f->status) {
        va_list ap;
        va_start(ap, fmt);
        f->status = status;
        vsnprintf(f->msg, f->cap, fmt, ap);
        va_end(ap);
    }
    return MHD_NO;
}

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value)
{
    framing *f = cls;
    (void)kind;
    if (!value)
        value = "";
    if (!*key)
        return fail(f, 400, "a header field has no name");
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (!tchar(*p))
            return fail(f, 400,
                        "header field name '%.60s' is not a token (no "
                        "spaces or separators, also not before the colon)",
                        key);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return fail(f, 400, "header field %.60s holds a control byte", key);
    if (strcasecmp(key, "Host") == 0) {
        f->hosts++;
        if (!host_value_ok(value))
            return fail(f, 400, "the Host header is not a valid host");
    } else if (strcasecmp(key, "Content-Length") == 0) {
        uint64_t n = 0;
        if (!length_value(value, &n))
            return fail(f, 400, "Content-Length '%.40s' is not a number",
                        value);
        if (f->lengths++ > 0 && n != f->length)
            return fail(f, 400, "conflicting Content-Length headers");
        f->length = n;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        if (f->encodings++ == 0)
            f->te = value;
    }
    return MHD_YES;
}

/* Whether `te` (one field's value) is "chunked" alone, and else whether
 * its last coding is "chunked" (other codings before it). */
static bool te_chunked_only(const char *te, bool *chunked_last)
{
    while (*te == ' ' || *te == '\t')
        te++;
    size_t n = strlen(te);
    while (n > 0 && (te[n - 1] == ' ' || te[n - 1] == '\t'))
        n--;
    const char *last = te + n;
    while (last > te && last[-1] != ',')
        last--;
    while (*last == ' ' || *last == '\t')
        last++;
    *chunked_last =
        (size_t)(te + n - last) == 7 && strncasecmp(last, "chunked", 7) == 0;
    return *chunked_last && last == te;
}

unsigned http_edge_check_headers(struct MHD_Connection *conn,
                                 const char *version, char *msg, size_t cap)
{
    framing f = {.msg = msg, .cap = cap};
    msg[0] = '\0';
    MHD_get_connection_values(conn, MHD_HEADER_KIND, on_field, &f);
    if (f.status)
        return f.status;
    bool v11 = version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    if (v11 && f.hosts == 0) {
        snprintf(msg, cap, "an HTTP/1.1 request needs a Host header");
        return 400;
    }
    if (f.hosts > 1) {
        snprintf(msg, cap, "more than one Host header");
        return 400;
    }
    if (f.encodings == 0)
        return 0;
    if (!v11) {
        snprintf(msg, cap, "Transfer-Encoding needs HTTP/1.1");
        return 400;
    }
    if (f.lengths > 0) {
        snprintf(msg, cap,
                 "Transfer-Encoding and Content-Length together: the body's "
                 "length is ambiguous");
        return 400;
    }
    bool chunked_last = false;
    if (f.encodings == 1 && te_chunked_only(f.te, &chunked_last))
        return 0;
    if (f.encodings == 1 && chunked_last) {
        snprintf(msg, cap,
                 "Transfer-Encoding: only chunked is implemented, not '%.60s'",
                 f.te);
        return 501;
    }
    snprintf(msg, cap,
             "Transfer-Encoding must end in chunked: the body's length cannot "
             "be determined");
    return 400;
}

/* --- the connection watchdog ---------------------------------------------- */

/* One connection, from its start to its close. */
typedef struct watched {
    struct watched *prev, *next; /* the list, under http_watch.mu */
    MHD_socket fd;               /* its socket (valid while listed) */
    _Atomic uint64_t state;      /* since_ms << 3 | phase */
    bool cut;                    /* shut down already (under mu) */
} watched;

struct http_watch {
    http_watch_config cfg;        /* copy */
    pthread_mutex_t mu;           /* guards the list, ncut and stop */
    pthread_cond_t cv;            /* signalled on stop */
    watched *head;                /* every open connection */
    long long count;              /* listed */
    long long ncut;               /* listed and shut down (closing) */
    bool stop;                    /* the thread ends */
    pthread_t thread;             /* the watchdog */
    bool started;                 /* thread runs */
    atomic_llong header_timeouts; /* counts, for /metrics */
    atomic_llong body_timeouts;
    atomic_llong reclaimed;
    int64_t logged_ms;      /* last log line about cuts (thread only) */
    long long unlogged[3];  /* cuts since then (thread only) */
    pthread_mutex_t log_mu; /* guards the three below */
    uint64_t log_second;    /* the second being counted */
    unsigned log_count;     /* messages logged in it */
    long long log_dropped;  /* held back since the last one logged */
};

static uint64_t mono_ms(void)
{
    return (uint64_t)vx__mono_ms();
}

static uint64_t pack(uint64_t since, http_phase phase)
{
    return since << 3 | (uint64_t)phase;
}

void http_watch_phase(struct MHD_Connection *conn, http_phase phase)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    watched *w = ci ? ci->socket_context : NULL;
    if (w)
        atomic_store(&w->state, pack(mono_ms(), phase));
}

void http_watch_notify(void *cls, struct MHD_Connection *conn,
                       void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    http_watch *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        watched *w = ci ? vx__calloc(1, sizeof(*w)) : NULL;
        *socket_context = w;
        if (!w)
            return; /* not watched: libmicrohttpd's idle timeout still is */
        w->fd = ci->connect_fd;
        atomic_init(&w->state, pack(mono_ms(), HTTP_PHASE_NEW));
        pthread_mutex_lock(&h->mu);
        w->next = h->head;
        if (h->head)
            h->head->prev = w;
        h->head = w;
        h->count++;
        pthread_mutex_unlock(&h->mu);
        return;
    }
    watched *w = *socket_context;
    if (!w)
        return;
    *socket_context = NULL;
    pthread_mutex_lock(&h->mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        h->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    h->count--;
    if (w->cut)
        h->ncut--;
    pthread_mutex_unlock(&h->mu);
    vx__free(w);
}

enum { CUT_HEADER, CUT_BODY, CUT_RECLAIM };

/* Shuts `w` down (under mu); libmicrohttpd closes it at its next poll. */
static void cut(http_watch *h, watched *w, int why)
{
    shutdown(w->fd, SHUT_RDWR);
    w->cut = true;
    h->ncut++;
    h->unlogged[why]++;
    atomic_fetch_add(why == CUT_HEADER ? &h->header_timeouts
                     : why == CUT_BODY ? &h->body_timeouts
                                       : &h->reclaimed,
                     1);
}

/* One pass over the list (under mu). */
static void sweep(http_watch *h)
{
    uint64_t now = mono_ms();
    uint64_t max = h->cfg.max_connections;
    long long live = h->count - h->ncut;
    /* Near the limit, connections that hold a slot without a request in
     * progress make room for new ones, oldest first (the list is newest
     * first, so the walk below starts from its tail). */
    bool pressure = max > 0 && (uint64_t)live * 8 >= max * 7;
    long long target = (long long)(max * 3 / 4);
    watched *tail = h->head;
    while (tail && tail->next)
        tail = tail->next;
    for (watched *w = tail; w; w = w->prev) {
        if (w->cut)
            continue;
        uint64_t s = atomic_load(&w->state);
        http_phase phase = (http_phase)(s & 7);
        uint64_t since = s >> 3;
        uint64_t age = now > since ? now - since : 0;
        switch (phase) {
        case HTTP_PHASE_NEW:
        case HTTP_PHASE_HEAD:
            if (age >= h->cfg.header_ms) {
                cut(h, w, CUT_HEADER);
                continue;
            }
            break;
        case HTTP_PHASE_BODY:
            if (age >= h->cfg.body_ms)
                cut(h, w, CUT_BODY);
            continue;
        case HTTP_PHASE_IDLE:
            if (age >= (uint64_t)h->cfg.idle_ms + h->cfg.header_ms) {
                cut(h, w, CUT_HEADER);
                continue;
            }
            break;
        case HTTP_PHASE_BUSY: continue;
        }
        if (pressure && live > target && age >= VX_LIMIT_HTTP_RECLAIM_IDLE_MS) {
            cut(h, w, CUT_RECLAIM);
            live--;
        }
    }
}

static void log_cuts(http_watch *h)
{
    long long *u = h->unlogged;
    int64_t now = (int64_t)mono_ms();
    if ((!u[0] && !u[1] && !u[2]) || now - h->logged_ms < 10000)
        return;
    vx__logf(h->cfg.log, h->cfg.log_ud, "warn",
             "closed %lld connection(s) past the header deadline (%u ms), "
             "%lld past the body deadline (%u ms), %lld idle near the "
             "connection limit",
             u[0], h->cfg.header_ms, u[1], h->cfg.body_ms, u[2]);
    memset(h->unlogged, 0, sizeof(h->unlogged));
    h->logged_ms = now;
}

static void *watch_loop(void *ud)
{
    http_watch *h = ud;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec until =
            vx__deadline(CLOCK_MONOTONIC, VX_LIMIT_HTTP_WATCH_MS);
        pthread_cond_timedwait(&h->cv, &h->mu, &until);
        if (h->stop)
            break;
        sweep(h);
        log_cuts(h);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

vx_status http_watch_new(const http_watch_config *cfg, http_watch **out,
                         vx_error *err)
{
    pthread_condattr_t ca;
    http_watch *h = vx__calloc(1, sizeof(*h));
    *out = NULL;
    if (!h)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    h->cfg = *cfg;
    h->logged_ms = -100000;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->log_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&h->thread, NULL, watch_loop, h) != 0) {
        http_watch_free(&h);
        return vx__error_set(err, VX_EIO, "",
                             "cannot start the connection watchdog");
    }
    h->started = true;
    *out = h;
    return VX_OK;
}

void http_watch_free(http_watch **wp)
{
    if (!wp || !*wp)
        return;
    http_watch *h = *wp;
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    while (h->head) { /* none once the daemon stopped; defensive */
        watched *w = h->head;
        h->head = w->next;
        vx__free(w);
    }
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->log_mu);
    vx__free(h);
    *wp = NULL;
}

bool http_watch_log_ok(http_watch *h, long long *dropped)
{
    *dropped = 0;
    if (!h)
        return true;
    uint64_t sec = mono_ms() / 1000u;
    pthread_mutex_lock(&h->log_mu);
    if (sec != h->log_second) {
        h->log_second = sec;
        h->log_count = 0;
    }
    bool ok = h->log_count < VX_LIMIT_HTTP_LOG_PER_SEC;
    if (ok) {
        h->log_count++;
        *dropped = h->log_dropped;
        h->log_dropped = 0;
    } else {
        h->log_dropped++;
    }
    pthread_mutex_unlock(&h->log_mu);
    return ok;
}

void http_watch_counts_get(http_watch *h, http_watch_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    out->open = h->count;
    pthread_mutex_unlock(&h->mu);
    out->header_timeouts = atomic_load(&h->header_timeouts);
    out->body_timeouts = atomic_load(&h->body_timeouts);
    out->reclaimed = atomic_load(&h->reclaimed);
}
