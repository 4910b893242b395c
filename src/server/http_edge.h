/* The listener's edge (used by http.c only): what a request must look like
 * before any handler sees it (RFC 9112 framing: one Content-Length, a
 * Transfer-Encoding that is "chunked" alone, one valid Host on HTTP/1.1, a
 * request-target of visible ASCII), and the connection watchdog that gives
 * every connection a deadline for its request headers and body, so that
 * slow or silent clients cannot hold the connection slots.
 *
 * Invariant: the watchdog only ever shuts down a socket whose connection
 * libmicrohttpd still holds (entries leave the list, under its lock,
 * before libmicrohttpd closes the socket), and never one that is
 * answering: a stream or a model call in progress has no deadline. */
#ifndef VX_SERVER_HTTP_EDGE_H
#define VX_SERVER_HTTP_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "base/log.h"
#include "vexil/status.h"

/* --- request framing ------------------------------------------------------ */

/* Checks the request-target as libmicrohttpd saw it (before unescaping):
 * origin-form ("/path?query"), absolute-form ("http://host/path", whose
 * path is then used: `*skip` says how many bytes to skip) or "*". False
 * for anything else, or a byte that is not visible ASCII, or a '#'. */
bool http_edge_target_ok(const char *uri, size_t *skip);

/* Checks the header fields of a request whose headers are in: field names
 * are tokens and values hold no control byte; at most one Content-Length
 * value (repeats must agree); Transfer-Encoding only as "chunked", never
 * with Content-Length nor on HTTP/1.0; exactly one valid Host on HTTP/1.1
 * (at most one otherwise). Returns 0 when the request is fine, else the
 * HTTP status to answer (400, or 501 for a transfer coding Vexil does not
 * implement) with the reason in `msg` (`cap` bytes). The answer must close
 * the connection: the request's framing cannot be trusted. */
unsigned http_edge_check_headers(struct MHD_Connection *conn,
                                 const char *version, char *msg, size_t cap);

/* --- the connection watchdog ---------------------------------------------- */

/* Where a connection is; each phase but BUSY has a deadline. */
typedef enum http_phase {
    HTTP_PHASE_NEW,  /* accepted, no request line yet: header deadline */
    HTTP_PHASE_HEAD, /* request line in, headers coming: header deadline */
    HTTP_PHASE_BODY, /* headers in, body coming: body deadline */
    HTTP_PHASE_BUSY, /* the request is in: being answered, no deadline */
    HTTP_PHASE_IDLE  /* between requests: idle time + header deadline */
} http_phase;

typedef struct http_watch_config {
    unsigned header_ms;       /* NEW and HEAD, from the phase's start */
    unsigned body_ms;         /* BODY */
    unsigned idle_ms;         /* IDLE lasts at most idle_ms + header_ms */
    unsigned max_connections; /* the listener's limit (pressure: 7/8 of it) */
    vx_log_fn log;            /* may be NULL */
    void *log_ud;             /* passed to log */
} http_watch_config;

/* What the watchdog counted, for /metrics. */
typedef struct http_watch_counts {
    long long open;            /* connections open now */
    long long header_timeouts; /* closed: headers not in by their deadline */
    long long body_timeouts;   /* closed: body not in by its deadline */
    long long reclaimed;       /* closed idle near the connection limit */
} http_watch_counts;

typedef struct http_watch http_watch;

/* Starts the watchdog's thread. `cfg` is copied. VX_ENOMEM, VX_EIO. */
vx_status http_watch_new(const http_watch_config *cfg, http_watch **out,
                         vx_error *err);

/* Stops the thread and frees; call after the daemon has stopped (every
 * connection closed). Clears `*w`; accepts NULL and *w == NULL. */
void http_watch_free(http_watch **w);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback; `cls` is the
 * watch. Registers a connection when it starts, forgets it when it
 * closes (before its socket is closed). */
void http_watch_notify(void *cls, struct MHD_Connection *conn,
                       void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

/* The connection's phase changes now; from libmicrohttpd's callbacks. */
void http_watch_phase(struct MHD_Connection *conn, http_phase phase);

void http_watch_counts_get(http_watch *w, http_watch_counts *out);

/* Whether a libmicrohttpd message may be logged now (at most
 * VX_LIMIT_HTTP_LOG_PER_SEC per second); when it may, `*dropped` is how
 * many were held back since the last one. Any thread; NULL `w` allows. */
bool http_watch_log_ok(http_watch *w, long long *dropped);

#endif
