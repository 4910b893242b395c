/* libmicrohttpd glue: see http.h. The request object is created by the URI
 * callback (which sees the path before libmicrohttpd unescapes it, so "%2F"
 * survives for the router), lives in its own arena, and is released by the
 * completion callback, which libmicrohttpd calls for every request whose
 * URI callback ran. A request's life: URI callback -> first access call
 * (header count, then on_headers may answer, else the body's announced
 * size and type) -> upload calls (append up to the limit) -> last access
 * call (parse, on_request) -> completion (on_done, log line, release). */
#include "server/http.h"

#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"
#include "server/http_edge.h"

#define REQ_ARENA_FIRST                                                        \
    2048 /* first arena block: most requests fit, a                            \
            stream's whole life too (its memory) */
/* libmicrohttpd zeroes a block of this size with each streamed answer; a
 * chunked stream writes into the connection's buffer instead, so the
 * block only serves HTTP/1.0 clients (smaller writes). */
#define STREAM_BLOCK    256
#define REQ_HEADERS_MAX VX_LIMIT_HTTP_REPLY_HEADERS /* Allow, ETag... */

struct http_listener {
    struct MHD_Daemon *daemon; /* NULL once stopped */
    http_config cfg;           /* copy; strings borrowed */
    http_handler h;            /* copy */
    uint16_t port;             /* bound port */
    _Atomic int inflight;      /* requests between URI and completion */
    http_watch *watch;         /* deadlines of slow connections (owned) */
};

struct http_req {
    vx_arena arena;              /* owns this struct and everything below */
    http_listener *l;            /* the listener */
    struct MHD_Connection *conn; /* set by the first access call */
    struct timespec start;       /* monotonic: request line seen */
    char *path;                  /* raw path, no query, NUL-terminated */
    size_t path_len;             /* bytes in path */
    char *method;                /* copy of the method, "" until known */
    bool started;                /* the first access call ran */
    bool queued;                 /* the answer went to libmicrohttpd */
    bool discard;                /* body over the limit: drop the rest */
    size_t discarded;            /* bytes dropped since */
    char *body;                  /* raw body bytes in the arena */
    size_t body_len;             /* bytes in body */
    size_t body_cap;             /* bytes allocated for body */
    json_t *body_json;           /* parsed body (owned), NULL when none */
    json_t *query;               /* query object (owned), built lazily */
    bool query_built;            /* query was looked at */
    struct MHD_Response *resp;   /* the answer, not yet queued */
    unsigned status;             /* its HTTP status, 0 until answered */
    size_t route;                /* handler's route index or SIZE_MAX */
    const char *route_name;      /* for the log line, or NULL */
    void *udata;                 /* handler state */
    struct http_stream *stream;  /* a streamed answer (one reference) */
    const char *hname[REQ_HEADERS_MAX];  /* extra answer header names */
    const char *hvalue[REQ_HEADERS_MAX]; /* and values */
    size_t nheaders;                     /* used entries */
    const char *const *xname;  /* more header names (http_reply_headers) */
    const char *const *xvalue; /* and values */
    size_t nx;                 /* their count */
    size_t max_body;           /* this request's body limit */
    http_problem_fn problem;   /* error answers in a client's dialect */
    void *problem_ud;          /* passed to problem */
    bool deferred;             /* http_req_defer suspended the connection */
    bool bad_target;           /* the request-target is not valid (400) */
    bool early; /* answered before its body: the body is drained */
};

static const char oom_body[] =
    "{\"message\":\"out of memory\",\"details\":[{\"path\":\"\","
    "\"message\":\"out of memory\"}]}";

static double elapsed_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) +
           (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

unsigned http_status_of(vx_status st)
{
    switch (st) {
    case VX_OK: return 200;
    case VX_EINVAL:
    case VX_ESCHEMA:
    case VX_EPARSE:
    case VX_ELIMIT: return 400;
    case VX_EAUTH: return 401;
    case VX_EFORBIDDEN: return 403;
    case VX_ENOTFOUND: return 404;
    case VX_ECONFLICT: return 409;
    case VX_EUNSUPPORTED: return 415;
    case VX_EUNAVAILABLE: return 503;
    case VX_EIO:
    case VX_ENOMEM: return 500;
    }
    return 500;
}

/* --- accessors ----------------------------------------------------------- */

const char *http_req_method(const http_req *r)
{
    return r->method;
}

const char *http_req_path(const http_req *r)
{
    return r->path;
}

size_t http_req_path_len(const http_req *r)
{
    return r->path_len;
}

const char *http_req_header(const http_req *r, const char *name)
{
    if (!r->conn)
        return NULL;
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_peer(http_req *r)
{
    char host[NI_MAXHOST];
    if (!r->conn)
        return NULL;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return NULL;
    socklen_t len = ci->client_addr->sa_family == AF_INET6
                        ? sizeof(struct sockaddr_in6)
                        : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, len, host, sizeof(host), NULL, 0,
                    NI_NUMERICHOST) != 0)
        return NULL;
    const char *h = host;
    if (strncmp(h, "::ffff:", 7) == 0 && strchr(h + 7, '.'))
        h += 7; /* an IPv4 client on an IPv6 socket */
    return vx__arena_strndup(&r->arena, h, strlen(h));
}

vx_arena *http_req_arena(http_req *r)
{
    return &r->arena;
}

const json_t *http_req_body(const http_req *r)
{
    return r->body_json;
}

void http_req_set_route(http_req *r, size_t route, const char *name)
{
    r->route = route;
    r->route_name = name;
}

size_t http_req_route(const http_req *r)
{
    return r->route;
}

void http_req_set_udata(http_req *r, void *p)
{
    r->udata = p;
}

void *http_req_udata(const http_req *r)
{
    return r->udata;
}

/* State for building the query object. */
typedef struct query_walk {
    json_t *obj;   /* the object being filled */
    size_t count;  /* arguments seen */
    vx_status st;  /* first failure */
    vx_error *err; /* where to report it */
} query_walk;

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value)
{
    query_walk *w = cls;
    (void)kind;
    if (++w->count > VX_LIMIT_HTTP_QUERY_PARAMS) {
        w->st = vx__error_set(w->err, VX_ELIMIT, "/query",
                              "more than %d query parameters",
                              VX_LIMIT_HTTP_QUERY_PARAMS);
        return MHD_NO;
    }
    json_t *k = json_string(key); /* NULL when the name is not UTF-8 */
    json_t *v = json_string(value ? value : "");
    bool ok = k && v && json_object_set_new(w->obj, key, v) == 0;
    if (!ok) {
        char where[VX_ERROR_PATH_MAX];
        snprintf(where, sizeof(where), "/query%s%s", k ? "/" : "",
                 k ? key : "");
        w->st = vx__error_set(w->err, VX_EINVAL, where,
                              "query parameter %s is not valid UTF-8",
                              k ? "value" : "name");
        if (!k)
            json_decref(v);
    }
    json_decref(k);
    return ok ? MHD_YES : MHD_NO;
}

vx_status http_req_query(http_req *r, const json_t **out, vx_error *err)
{
    vx_status st = VX_OK;
    query_walk w = {.obj = NULL, .count = 0, .st = VX_OK, .err = err};
    *out = NULL;
    if (r->query_built) {
        *out = r->query;
        goto out;
    }
    if (!r->conn)
        goto out;
    if (MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL) <=
        0) {
        r->query_built = true;
        goto out;
    }
    w.obj = json_object();
    if (!w.obj) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_arg, &w);
    st = w.st;
    if (st != VX_OK)
        goto out;
    r->query = w.obj;
    r->query_built = true;
    w.obj = NULL;
    *out = r->query;
out:
    json_decref(w.obj);
    return st;
}

/* --- answers -------------------------------------------------------------- */

void http_reply_header(http_req *r, const char *name, const char *value)
{
    if (r->nheaders < REQ_HEADERS_MAX) {
        r->hname[r->nheaders] = name;
        r->hvalue[r->nheaders] = value;
        r->nheaders++;
    }
}

void http_req_set_problem(http_req *r, http_problem_fn fn, void *ud)
{
    r->problem = fn;
    r->problem_ud = ud;
}

void http_req_set_max_body(http_req *r, size_t max)
{
    r->max_body = max;
}

size_t http_req_max_body(const http_req *r)
{
    return r->max_body;
}

void http_reply_headers(http_req *r, const char *const *names,
                        const char *const *values, size_t n)
{
    r->xname = names;
    r->xvalue = values;
    r->nx = n;
}

/* Adds the answer's extra headers to `resp`; false when one of
 * http_reply_header's is refused (those of http_reply_headers may be). */
static bool add_headers(const http_req *r, struct MHD_Response *resp)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        if (MHD_add_response_header(resp, r->hname[i], r->hvalue[i]) != MHD_YES)
            return false;
    }
    for (size_t i = 0; i < r->nx; i++)
        (void)MHD_add_response_header(resp, r->xname[i], r->xvalue[i]);
    return true;
}

/* Makes the answer from `len` bytes that live as long as the request. */
static void reply_bytes(http_req *r, unsigned status, const char *ctype,
                        const char *bytes, size_t len)
{
    if (r->resp || r->queued)
        return;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)bytes, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return;
    bool ok = true;
    if (ctype)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                     ctype) == MHD_YES;
    ok = ok && add_headers(r, resp);
    if (!ok) {
        MHD_destroy_response(resp);
        return;
    }
    r->resp = resp;
    r->status = status;
}

/* The last resort when building an answer failed for lack of memory. */
static void reply_oom(http_req *r)
{
    r->nheaders = 0;
    r->nx = 0;
    reply_bytes(r, 500, "application/json", oom_body, sizeof(oom_body) - 1);
}

void http_reply_text(http_req *r, unsigned status, const char *ctype,
                     const char *text, size_t len)
{
    reply_bytes(r, status, ctype, text, len);
}

static void reply_json_flags(http_req *r, unsigned status, const json_t *body,
                             size_t flags);

void http_reply_json(http_req *r, unsigned status, const json_t *body)
{
    reply_json_flags(r, status, body, JSON_COMPACT | JSON_ENCODE_ANY);
}

void http_reply_json_people(http_req *r, unsigned status, const json_t *body)
{
    reply_json_flags(r, status, body,
                     JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
}

static void reply_json_flags(http_req *r, unsigned status, const json_t *body,
                             size_t flags)
{
    if (r->resp || r->queued)
        return;
    if (status == 204 || !body) {
        reply_bytes(r, status, NULL, "", 0);
        return;
    }
    size_t len = json_dumpb(body, NULL, 0, flags);
    char *buf = len ? vx__arena_alloc(&r->arena, len) : NULL;
    if (!buf || json_dumpb(body, buf, len, flags) != len) {
        reply_oom(r);
        return;
    }
    reply_bytes(r, status, "application/json", buf, len);
}

void http_reply_problem(http_req *r, unsigned status, const char *message,
                        const char *path, const char *detail)
{
    if (r->problem && !r->resp && !r->queued) {
        http_problem_fn fn = r->problem;
        r->problem = NULL; /* inside fn, Vexil's shape */
        fn(r->problem_ud, r, status, message, path, detail);
        r->problem = fn;
        if (r->resp || r->queued)
            return;
    }
    json_t *doc = json_pack("{s:s, s:[{s:s, s:s}]}", "message", message,
                            "details", "path", path ? path : "", "message",
                            detail ? detail : message);
    if (!doc) {
        /* A text that is not UTF-8 (it quotes the request): keep the status,
         * drop the text. */
        static const char plain[] = "the request is not acceptable (the "
                                    "error text is not valid UTF-8)";
        doc = json_pack("{s:s, s:[{s:s, s:s}]}", "message", plain, "details",
                        "path", "", "message", plain);
    }
    if (!doc) {
        reply_oom(r);
        return;
    }
    http_reply_json(r, status, doc);
    json_decref(doc);
}

void http_reply_error(http_req *r, vx_status st, const vx_error *err)
{
    const char *msg = err && err->message[0] ? err->message : vx_status_str(st);
    if (http_status_of(st) == 503)
        http_reply_header(r, "Retry-After", "1"); /* the database: retry */
    http_reply_problem(r, http_status_of(st), msg, err ? err->path : "", NULL);
}

struct http_stream {
    struct MHD_Connection *conn; /* the connection */
    http_pull_fn pull;           /* the producer */
    void *ud;                    /* passed to pull */
    pthread_mutex_t mu;          /* guards the two flags */
    bool asleep;                 /* suspended until a wake */
    bool kicked;                 /* woken since the last pull began */
    atomic_int refs;             /* the response's and the request's */
};

static void stream_unref(http_stream *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        pthread_mutex_destroy(&s->mu);
        vx__free(s);
    }
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_stream *s = cls;
    (void)pos;
    pthread_mutex_lock(&s->mu);
    s->kicked = false;
    pthread_mutex_unlock(&s->mu);
    long n = s->pull(s->ud, buf, max);
    if (n > 0)
        return (ssize_t)n;
    if (n == -2)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* closes at once */
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    pthread_mutex_lock(&s->mu);
    if (!s->kicked) {
        /* Nothing to send: sleep without a thread until woken. A wake that
         * came during pull() is not lost: `kicked` says so and we return
         * to be called again at once. */
        s->asleep = true;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void stream_free(void *cls)
{
    stream_unref(cls);
}

http_stream *http_reply_stream(http_req *r, unsigned status, const char *ctype,
                               http_pull_fn pull, void *ud)
{
    if (r->resp || r->queued || !r->conn)
        return NULL;
    http_stream *s = vx__calloc(1, sizeof(*s));
    if (!s) {
        reply_oom(r);
        return NULL;
    }
    atomic_init(&s->refs, 2);
    s->conn = r->conn;
    s->pull = pull;
    s->ud = ud;
    pthread_mutex_init(&s->mu, NULL);
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_reader, s, stream_free);
    if (!resp) {
        pthread_mutex_destroy(&s->mu);
        vx__free(s);
        reply_oom(r);
        return NULL;
    }
    bool ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      ctype) == MHD_YES;
    ok = ok && add_headers(r, resp);
    if (!ok) {
        MHD_destroy_response(resp); /* drops the response's reference */
        stream_unref(s);
        reply_oom(r);
        return NULL;
    }
    r->resp = resp;
    r->status = status;
    r->stream = s;
    return s;
}

void http_stream_wake(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->kicked = true;
    if (s->asleep) {
        s->asleep = false;
        MHD_resume_connection(s->conn);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Hands the answer to libmicrohttpd once. */
static enum MHD_Result queue(http_req *r)
{
    if (r->queued)
        return MHD_YES;
    if (!r->resp)
        reply_oom(r);
    if (!r->resp)
        return MHD_NO;
    enum MHD_Result res = MHD_queue_response(r->conn, r->status, r->resp);
    if (res == MHD_YES) {
        r->queued = true;
        MHD_destroy_response(r->resp);
        r->resp = NULL;
    }
    return res;
}

int http_req_socket(const http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        r->conn ? MHD_get_connection_info(r->conn,
                                          MHD_CONNECTION_INFO_CONNECTION_FD)
                : NULL;
    return ci ? (int)ci->connect_fd : -1;
}

/* --- body ----------------------------------------------------------------- */

/* True when `ct` is application/json, parameters allowed. */
static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return false;
    char c = ct[sizeof(want) - 1];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

/* Parses a Content-Length value; false when malformed. */
static bool parse_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static void reply_too_big(http_req *r)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "request body is larger than %zu bytes",
             r->max_body);
    http_reply_problem(r, 413, msg, "", NULL);
}

/* Before any handler: the number of header fields. May answer 431. */
static void check_header_count(http_req *r)
{
    int nh = MHD_get_connection_values(r->conn, MHD_HEADER_KIND, NULL, NULL);
    if (nh > VX_LIMIT_HTTP_HEADERS) {
        char msg[96];
        snprintf(msg, sizeof(msg), "more than %d header fields",
                 VX_LIMIT_HTTP_HEADERS);
        http_reply_problem(r, 431, msg, "", NULL);
    }
}

/* After on_headers, before any body byte is read: the size announced by
 * Content-Length and the media type. May answer 413 or 415. */
static void check_body_headers(http_req *r)
{
    const char *cl = http_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = http_req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    uint64_t len = 0;
    if (cl && !parse_length(cl, &len)) {
        http_reply_problem(r, 400, "malformed Content-Length", "", NULL);
        return;
    }
    if (len == 0 && !te)
        return; /* no body announced */
    if (len > r->max_body) {
        /* Answering before the body is read makes the server close while
         * the client is still sending, and the client's kernel may then
         * reset the connection and lose the 413. A body within reach is
         * drained first and answered at its end; a client that asked for
         * 100-continue, or a body far too big, gets the answer now. */
        const char *expect = http_req_header(r, MHD_HTTP_HEADER_EXPECT);
        if (!expect && len - r->max_body <= VX_LIMIT_HTTP_DISCARD_BYTES)
            r->discard = true;
        else
            reply_too_big(r);
        return;
    }
    if (!is_json_type(http_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        http_reply_problem(r, 415, "the body must be application/json", "",
                           NULL);
        return;
    }
    if (len > 0) {
        r->body = vx__arena_alloc(&r->arena, (size_t)len);
        if (!r->body) {
            reply_oom(r);
            return;
        }
        r->body_cap = (size_t)len;
    }
}

/* Appends upload data, growing the arena buffer by doubling (chunked
 * bodies) up to the limit. Answers 413 when the limit is passed. */
static void append_body(http_req *r, const char *data, size_t n)
{
    size_t max = r->max_body;
    if (r->discard)
        return;
    if (n > max - r->body_len) {
        r->discard = true;
        reply_too_big(r);
        return;
    }
    if (r->body_len + n > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
        while (cap < r->body_len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        char *p = vx__arena_alloc(&r->arena, cap);
        if (!p) {
            r->discard = true;
            reply_oom(r);
            return;
        }
        if (r->body_len)
            memcpy(p, r->body, r->body_len);
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
}

/* Nesting depth (a scalar is 0, "[]" is 1), exact up to `limit` and
 * some value above it once past: the walk stops there. */
static size_t json_depth(const json_t *j, size_t limit)
{
    size_t deepest = 0;
    const char *key;
    size_t i;
    json_t *v;
    if (!json_is_object(j) && !json_is_array(j))
        return 0;
    if (limit == 0)
        return 1; /* a container past the limit: enough to refuse */
    if (json_is_object(j)) {
        json_object_foreach ((json_t *)j, key, v) {
            size_t d = json_depth(v, limit - 1);
            deepest = d > deepest ? d : deepest;
            if (deepest >= limit)
                break;
        }
    } else {
        json_array_foreach (j, i, v) {
            size_t d = json_depth(v, limit - 1);
            deepest = d > deepest ? d : deepest;
            if (deepest >= limit)
                break;
        }
    }
    return deepest + 1;
}

/* Parses the received body; answers 400 when it is not JSON. */
static void parse_body(http_req *r)
{
    if (r->body_len == 0)
        return; /* no body, or an empty chunked one */
    json_error_t jerr;
    r->body_json = json_loadb(r->body, r->body_len,
                              JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!r->body_json) {
        char msg[VX_ERROR_MSG_MAX], detail[VX_ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "invalid JSON: %s", jerr.text);
        snprintf(detail, sizeof(detail), "%s at line %d column %d", jerr.text,
                 jerr.line, jerr.column);
        http_reply_problem(r, 400, msg, "", detail);
        return;
    }
    if (json_depth(r->body_json, VX_LIMIT_HTTP_JSON_DEPTH) >
        VX_LIMIT_HTTP_JSON_DEPTH) {
        char msg[96];
        snprintf(msg, sizeof(msg), "JSON nested deeper than %d levels",
                 VX_LIMIT_HTTP_JSON_DEPTH);
        http_reply_problem(r, 400, msg, "", NULL);
    }
}

/* --- framing and keep-alive ---------------------------------------------- */

/* Before any handler: the request-target and the header fields that frame
 * the request (http_edge.h). A request that fails is answered 400 (or 501)
 * with "Connection: close": what follows it on the connection cannot be
 * trusted to be the next request. True when answered. */
static bool check_framing(http_req *r, const char *version)
{
    char msg[160];
    unsigned status = 0;
    if (r->bad_target) {
        status = 400;
        snprintf(msg, sizeof(msg),
                 "invalid request-target: a path of visible ASCII is "
                 "expected (no spaces, control bytes or '#')");
    } else {
        status = http_edge_check_headers(r->conn, version, msg, sizeof(msg));
    }
    if (!status)
        return false;
    http_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    http_reply_problem(r, status, msg, "", NULL);
    return true;
}

/* True when the request announces a body (Content-Length > 0 or a
 * Transfer-Encoding); `*len` is the announced length (0 when chunked). */
static bool body_announced(http_req *r, uint64_t *len)
{
    const char *cl = http_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    *len = 0;
    if (http_req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return true;
    return cl && parse_length(cl, len) && *len > 0;
}

/* The end of the first access call. An answer made there (401, 404, 415,
 * /health, the console's files...) is handed over in the last call
 * instead, once the request is read to its end: libmicrohttpd closes the
 * connection after an answer queued earlier, which would drop pipelined
 * requests and cost every client a new connection. A body still to come
 * is drained when it is small; otherwise (large, chunked, or a client
 * waiting for 100-continue) the answer goes now and the connection
 * closes. */
static enum MHD_Result first_answer(http_req *r)
{
    uint64_t len = 0;
    bool body = body_announced(r, &len);
    if (!r->resp) {
        http_watch_phase(r->conn, body ? HTTP_PHASE_BODY : HTTP_PHASE_BUSY);
        return MHD_YES;
    }
    if (!body)
        return MHD_YES; /* the last call follows at once */
    if (!http_req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING) &&
        !http_req_header(r, MHD_HTTP_HEADER_EXPECT) &&
        len <= VX_LIMIT_HTTP_EARLY_DRAIN_BYTES) {
        r->discard = true;
        r->early = true;
        http_watch_phase(r->conn, HTTP_PHASE_BODY);
        return MHD_YES;
    }
    http_watch_phase(r->conn, HTTP_PHASE_BUSY);
    return queue(r);
}

/* --- libmicrohttpd callbacks --------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_listener *l = cls;
    vx_arena a;
    vx__arena_init(&a, REQ_ARENA_FIRST);
    http_req *r = vx__arena_calloc(&a, 1, sizeof(*r));
    if (!r) {
        vx__arena_release(&a);
        return NULL;
    }
    r->arena = a;
    r->l = l;
    r->max_body = l->cfg.max_body;
    r->route = SIZE_MAX;
    r->method = "";
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    http_watch_phase(conn, HTTP_PHASE_HEAD);
    size_t skip = 0;
    r->bad_target = !http_edge_target_ok(uri, &skip);
    if (r->bad_target)
        skip = strlen(uri); /* answered 400 before anything reads it */
    uri += skip;
    if (skip > 0 && *uri != '/')
        uri = "/"; /* "http://host" or "http://host?q" means "/" */
    size_t n = strcspn(uri, "?#");
    r->path = vx__arena_strndup(&r->arena, uri, n);
    if (!r->path) {
        a = r->arena;
        vx__arena_release(&a);
        return NULL;
    }
    r->path_len = n;
    atomic_fetch_add(&l->inflight, 1);
    return r;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls)
{
    http_listener *l = cls;
    http_req *r = *req_cls;
    (void)url;
    if (!r)
        return MHD_NO; /* the URI callback ran out of memory */
    if (!r->started) {
        r->started = true;
        r->conn = conn;
        r->method = vx__arena_strndup(&r->arena, method, strlen(method));
        if (!r->method) {
            r->method = "";
            reply_oom(r);
            return queue(r);
        }
        if (check_framing(r, version))
            return queue(r); /* 400 and close */
        check_header_count(r);
        if (!r->resp)
            l->h.on_headers(l->h.ud, r);
        if (!r->resp)
            check_body_headers(r);
        return first_answer(r);
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->discard) {
            /* libmicrohttpd cannot answer in the middle of a body, so the
             * 413 waits for its end; a body that goes on and on past the
             * limit is not worth reading: cut the connection. */
            r->discarded += n;
            if (r->discarded >
                (r->early ? VX_LIMIT_HTTP_EARLY_DRAIN_BYTES
                          : r->max_body + VX_LIMIT_HTTP_DISCARD_BYTES)) {
                vx__logf(l->cfg.log, l->cfg.log_ud, "warn",
                         "%s %s: body far over the limit, closing", r->method,
                         r->path);
                return MHD_NO;
            }
        } else if (!r->queued && !r->resp) {
            append_body(r, upload, n);
        }
        return MHD_YES;
    }
    http_watch_phase(conn, HTTP_PHASE_BUSY);
    if (r->discard && !r->resp && !r->queued)
        reply_too_big(r); /* a drained over-long body */
    if (r->deferred) {
        /* Called again after http_req_resume: the answer is in. (While
         * suspended the connection is not polled, so this is the only
         * other way here.) */
        return queue(r);
    }
    if (!r->resp && !r->queued) {
        parse_body(r);
        if (!r->resp)
            l->h.on_request(l->h.ud, r);
        if (r->deferred)
            return MHD_YES; /* another thread answers */
    }
    return queue(r);
}

bool http_req_defer(http_req *r)
{
    if (r->deferred || r->resp || r->queued || !r->conn)
        return false;
    MHD_suspend_connection(r->conn);
    r->deferred = true;
    return true;
}

void http_req_resume(http_req *r)
{
    if (!r->resp)
        reply_oom(r); /* a deferred request always gets an answer */
    MHD_resume_connection(r->conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_listener *l = cls;
    http_req *r = *req_cls;
    http_watch_phase(conn, HTTP_PHASE_IDLE);
    if (!r)
        return;
    *req_cls = NULL;
    double secs = elapsed_since(&r->start);
    unsigned status = r->queued ? r->status : 0;
    if (l->h.on_done)
        l->h.on_done(l->h.ud, r, status, secs);
    if (l->cfg.log_requests) {
        char st[16];
        if (status)
            snprintf(st, sizeof(st), "%u", status);
        else
            snprintf(st, sizeof(st), "-");
        vx__logf(l->cfg.log, l->cfg.log_ud, "info", "%s %s %s %.3fms %s%s",
                 r->method[0] ? r->method : "-", r->path, st, secs * 1e3,
                 r->route_name ? r->route_name : "-",
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
                                                            : " (aborted)");
    }
    if (r->resp)
        MHD_destroy_response(r->resp);
    stream_unref(r->stream);
    json_decref(r->body_json);
    json_decref(r->query);
    vx_arena a = r->arena;
    vx__arena_release(&a);
    atomic_fetch_sub(&l->inflight, 1);
}

__attribute__((format(printf, 2, 0))) static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_listener *l = cls;
    char line[VX_LIMIT_LOG_LINE];
    long long dropped = 0;
    if (!l->cfg.log || !http_watch_log_ok(l->watch, &dropped))
        return; /* a flood of bad clients must not flood the log */
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (dropped)
        vx__logf(l->cfg.log, l->cfg.log_ud, "warn",
                 "(%lld more libmicrohttpd messages were not logged)", dropped);
    l->cfg.log(l->cfg.log_ud, "warn", line);
}

/* --- start and stop ------------------------------------------------------ */

vx_status http_start(const http_config *cfg, const http_handler *h,
                     http_listener **out, vx_error *err)
{
    vx_status st = VX_OK;
    struct addrinfo *ai = NULL;
    http_listener *l = NULL;
    *out = NULL;

    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        st = vx__error_set(err, VX_EINVAL, "", "cannot resolve host '%s': %s",
                           cfg->host, gai_strerror(gai));
        goto out;
    }
    l = vx__malloc(sizeof(*l));
    if (!l) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    memset(l, 0, sizeof(*l));
    l->cfg = *cfg;
    l->h = *h;
    atomic_init(&l->inflight, 0);
    http_watch_config wc = {
        .header_ms =
            cfg->header_ms ? cfg->header_ms : VX_LIMIT_HTTP_HEADER_TIMEOUT_MS,
        .body_ms = cfg->body_ms ? cfg->body_ms : VX_LIMIT_HTTP_BODY_TIMEOUT_MS,
        .idle_ms = cfg->idle_secs * 1000u,
        .max_connections = cfg->max_connections,
        .log = cfg->log,
        .log_ud = cfg->log_ud,
    };
    st = http_watch_new(&wc, &l->watch, err);
    if (st != VX_OK)
        goto out;

    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
        MHD_ALLOW_SUSPEND_RESUME; /* deferred answers (http_req_defer) */
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    l->daemon = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, on_access, l, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, l, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_secs,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)VX_LIMIT_HTTP_CONN_MEMORY,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, l, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, l, MHD_OPTION_NOTIFY_CONNECTION, http_watch_notify,
        l->watch, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->per_address, MHD_OPTION_END);
    if (!l->daemon) {
        st = vx__error_set(err, VX_EIO, "",
                           "cannot listen on %s:%u (address in use or not "
                           "available?)",
                           cfg->host, (unsigned)cfg->port);
        goto out;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_BIND_PORT);
    l->port = info ? info->port : cfg->port;
    *out = l;
    l = NULL;
out:
    if (l) {
        http_watch_free(&l->watch);
        vx__free(l);
    }
    if (ai)
        freeaddrinfo(ai);
    return st;
}

uint16_t http_port(const http_listener *l)
{
    return l->port;
}

void http_conn_stats_get(http_listener *l, http_conn_stats *out)
{
    http_watch_counts c;
    http_watch_counts_get(l ? l->watch : NULL, &c);
    out->open = c.open;
    out->header_timeouts = c.header_timeouts;
    out->body_timeouts = c.body_timeouts;
    out->reclaimed = c.reclaimed;
}

void http_stop(http_listener **lp)
{
    if (!lp || !*lp)
        return;
    http_listener *l = *lp;
    if (l->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(l->daemon);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (atomic_load(&l->inflight) > 0 &&
               elapsed_since(&t0) * 1e3 < VX_LIMIT_HTTP_DRAIN_MS) {
            struct timespec nap = {0, 5 * 1000 * 1000};
            nanosleep(&nap, NULL);
        }
        int left = atomic_load(&l->inflight);
        if (left > 0)
            vx__logf(l->cfg.log, l->cfg.log_ud, "warn",
                     "stopping with %d request(s) still running", left);
        MHD_stop_daemon(l->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    http_watch_free(&l->watch); /* every connection is closed by now */
    vx__free(l);
    *lp = NULL;
}
