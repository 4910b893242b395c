/* The HTTP listener on libmicrohttpd: one request = one http_req with its
 * own vx_arena, the body limits (bytes, header count, media type, JSON
 * syntax and depth) enforced before any handler sees a body, the JSON
 * error shape, and the one vx_status -> HTTP status mapping.
 *
 * Invariant: everything a request allocates lives in its arena (or is a
 * jansson reference the request drops) and is released when libmicrohttpd
 * reports the request completed; handlers never talk to libmicrohttpd. */
#ifndef VX_SERVER_HTTP_H
#define VX_SERVER_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/log.h"
#include "vexil/status.h"

typedef struct http_listener http_listener;
typedef struct http_req http_req; /* one request in flight */

/* Log sink: `level` is "info", "warn" or "error"; `msg` has no newline. */
typedef vx_log_fn http_log_fn;

/* The application behind the listener. Callbacks run on libmicrohttpd's
 * worker threads, several at once. */
typedef struct http_handler {
    /* The request line and headers are in, no byte of the body has been
     * read. May answer (then the body is never read: 404, 405, 401...).
     * Otherwise the listener checks the body's size and media type, reads
     * and parses it, and calls on_request. */
    void (*on_headers)(void *ud, http_req *r);
    /* The body (if any) is in and parsed: must answer (else 500). */
    void (*on_request)(void *ud, http_req *r);
    /* The request is over; `status` is 0 when no answer was sent (the
     * client went away). For metrics; may be NULL. */
    void (*on_done)(void *ud, const http_req *r, unsigned status,
                    double seconds);
    void *ud; /* passed to every callback */
} http_handler;

typedef struct http_config {
    const char *host;         /* numeric address or name to bind */
    uint16_t port;            /* 0 = a free port (see http_port) */
    unsigned threads;         /* worker threads, >= 1 */
    unsigned max_connections; /* concurrent connections */
    unsigned idle_secs;       /* idle keep-alive connections close after */
    size_t max_body;          /* request body bytes; more is 413 */
    bool log_requests;        /* one "info" line per request */
    http_log_fn log;          /* may be NULL: no logging */
    void *log_ud;             /* passed to log */
    /* Slow clients (http_edge.h): the request line and headers must be in
     * within header_ms, then the body within body_ms (0: the defaults of
     * limits.h); per_address caps one client address's connections (0:
     * no cap). */
    unsigned header_ms;
    unsigned body_ms;
    unsigned per_address;
} http_config;

/* Binds and starts the worker threads. `cfg` and `h` are copied; the
 * strings in them are borrowed for the listener's life. Errors: VX_EINVAL
 * (bad host), VX_EIO (cannot bind or start: err says why), VX_ENOMEM. */
vx_status http_start(const http_config *cfg, const http_handler *h,
                     http_listener **out, vx_error *err);

/* The bound port (useful after asking for port 0). */
uint16_t http_port(const http_listener *l);

/* Connections now, and those closed for being slow (deadlines) or idle
 * near the connection limit since the start, for /metrics. */
typedef struct http_conn_stats {
    long long open;            /* open connections */
    long long header_timeouts; /* headers not in by their deadline */
    long long body_timeouts;   /* body not in by its deadline */
    long long reclaimed;       /* idle ones closed near the limit */
} http_conn_stats;
void http_conn_stats_get(http_listener *l, http_conn_stats *out);

/* Graceful stop: stops accepting, lets requests in flight finish (waiting
 * at most VX_LIMIT_HTTP_DRAIN_MS), then closes every connection and joins
 * the threads. Clears `*l`; accepts NULL and *l == NULL. */
void http_stop(http_listener **l);

/* --- Request accessors, valid inside the callbacks ---------------------- */

const char *http_req_method(const http_req *r); /* "GET"... */
/* The path as sent, still percent-encoded, without the query string. */
const char *http_req_path(const http_req *r);
size_t http_req_path_len(const http_req *r);
/* A request header (case-insensitive name) or NULL. */
const char *http_req_header(const http_req *r, const char *name);
/* The client's address as numeric text ("127.0.0.1", "::1"), in the
 * request's arena; NULL when unknown or out of memory. */
const char *http_req_peer(http_req *r);
/* The connection's socket, for watching whether the peer closed it (never
 * to read or write); -1 when unknown. */
int http_req_socket(const http_req *r);
/* The request's arena: freed when the request completes. */
vx_arena *http_req_arena(http_req *r);
/* The parsed body, or NULL when the request had none (on_request only). */
const json_t *http_req_body(const http_req *r);
/* The query string as a JSON object of strings (values "" when absent;
 * a repeated name keeps its last value), or NULL when there is none. The
 * request owns it. VX_ELIMIT past VX_LIMIT_HTTP_QUERY_PARAMS, VX_EINVAL
 * for a name or value that is not UTF-8 (err->path "/query/<name>"). */
vx_status http_req_query(http_req *r, const json_t **out, vx_error *err);
/* Names the route for the log line and on_done; `name` is borrowed for
 * the request's life. */
void http_req_set_route(http_req *r, size_t route, const char *name);
size_t http_req_route(const http_req *r); /* SIZE_MAX until set */
/* A pointer for the handler's own per-request state (arena memory). */
void http_req_set_udata(http_req *r, void *p);
void *http_req_udata(const http_req *r);

/* Writes this request's error answers in its client's dialect (the model
 * gateway's OpenAI and Ollama routes): from the call on, http_reply_problem
 * and http_reply_error, also the listener's own (413, 415, a body that is
 * not JSON...), call `fn` with their arguments instead of writing Vexil's
 * shape; `fn` answers with http_reply_json (or http_reply_text). Inside
 * `fn`, http_reply_problem writes Vexil's shape (no recursion). `ud` is
 * borrowed for the request's life. From on_headers on; the header-count
 * check (431) runs before it. */
typedef void (*http_problem_fn)(void *ud, http_req *r, unsigned status,
                                const char *message, const char *path,
                                const char *detail);
void http_req_set_problem(http_req *r, http_problem_fn fn, void *ud);

/* Sets this request's body limit (the listener's max_body until set):
 * lower for a route that takes less (the gateway), higher for one an
 * authenticated admin may send more to (an import). Past it the answer is
 * 413 once the body is drained (or at once for a body far over it or an
 * Expect: 100-continue), so that the client reads the 413 instead of a
 * reset connection. From on_headers, before the body is read. */
void http_req_set_max_body(http_req *r, size_t max);
/* This request's body limit now. */
size_t http_req_max_body(const http_req *r);

/* --- Deferred answers ------------------------------------------------------
 * For work that waits on something slow (a model call): inside on_request,
 * http_req_defer suspends the connection, so its worker thread goes on
 * serving other connections; another thread then answers with http_reply_*
 * and calls http_req_resume exactly once. Between the two, only that thread
 * may touch the request. Every deferred request must be resumed before
 * http_stop. */

/* Suspends the request's connection. Inside on_request only; false when it
 * cannot be done (then answer as usual). */
bool http_req_defer(http_req *r);
/* Hands the answer of a deferred request back to the listener; from any
 * thread, after an http_reply_* (none: 500). `r` must not be used after. */
void http_req_resume(http_req *r);

/* --- Answers: the first one wins, later ones are ignored --------------- */

/* Adds a header to the answer about to be made (at most
 * VX_LIMIT_HTTP_REPLY_HEADERS, later ones are dropped; the strings are
 * borrowed for the request's life). */
void http_reply_header(http_req *r, const char *name, const char *value);
/* Adds `n` more headers to the answer about to be made, besides those of
 * http_reply_header (a proxy's upstream headers; the caller bounds `n`).
 * The arrays and strings are borrowed for the request's life (arena). A
 * header libmicrohttpd refuses (a name or value it deems malformed, or one
 * it owns, such as Content-Length) is left out, not fatal. A later call
 * replaces the list. */
void http_reply_headers(http_req *r, const char *const *names,
                        const char *const *values, size_t n);
/* `body` compact-encoded as application/json (borrowed, copied); 204 and
 * a NULL body send no body. */
void http_reply_json(http_req *r, unsigned status, const json_t *body);
/* http_reply_json for answers people read: reals with at most 15
 * significant digits, so 0.1 reads 0.1 (not 0.10000000000000001). */
void http_reply_json_people(http_req *r, unsigned status, const json_t *body);
/* `len` bytes of `text` (borrowed for the request's life, e.g. arena). */
void http_reply_text(http_req *r, unsigned status, const char *ctype,
                     const char *text, size_t len);
/* The error shape {"message", "details":[{"path","message"}]} with the
 * status http_status_of(st). `err` may be NULL (the status's text). */
void http_reply_error(http_req *r, vx_status st, const vx_error *err);
/* The same shape with an explicit HTTP status and texts; `detail` NULL
 * means the same as `message`. */
void http_reply_problem(http_req *r, unsigned status, const char *message,
                        const char *path, const char *detail);

/* A streamed answer (Server-Sent Events): `pull` fills `buf` with up to
 * `max` bytes and returns how many (> 0), 0 when it has nothing now (the
 * connection then sleeps, using no thread, until http_stream_wake), -1
 * to end the body, or -2 to drop the connection (its peer is gone). It runs on
 * a listener thread, never with a lock of the listener's held. Returns the
 * handle for http_stream_wake, valid until on_done for this request has
 * returned; NULL when out of memory (then an error was answered). */
typedef long (*http_pull_fn)(void *ud, char *buf, size_t max);
typedef struct http_stream http_stream;
http_stream *http_reply_stream(http_req *r, unsigned status, const char *ctype,
                               http_pull_fn pull, void *ud);
/* Has the listener call `pull` again soon. Any thread; cheap when the
 * stream is not asleep. */
void http_stream_wake(http_stream *s);

/* The one mapping from vx_status to an HTTP status (docs/admin-api.md):
 * EINVAL/ESCHEMA/EPARSE/ELIMIT 400, EAUTH 401, EFORBIDDEN 403, ENOTFOUND
 * 404, ECONFLICT 409, EUNSUPPORTED 415, EUNAVAILABLE 503 (the database
 * is down: retry later), EIO/ENOMEM/others 500. The body
 * size limit is answered 413 by the listener itself. */
unsigned http_status_of(vx_status st);

#endif
