/* The console's live updates over HTTP (docs/admin-api.md, "Live
 * updates"): GET /api/admin/events/stream, a Server-Sent Events stream of
 * what changes flags, strategies and release plans ("change", with the
 * audit event's id, type and names, never its data), of the scheduler's
 * looks at the plans ("tick"), and "reset" when events may have been
 * missed. Authenticated like the admin API (a token, or the console's
 * session cookie; any role), scoped to the token's projects.
 *
 * One thread reads the audit log and the scheduler's lease through the
 * service (src/service/feed.c) once a second while streams are open, and
 * feeds events_feed.c, which queues per stream within its bounds. The same
 * thread watches the streams' sockets (a closed connection is released
 * within VX_LIMIT_SSE_CHECK_MS), sends heartbeats, ends streams past their
 * lifetime (the browser reconnects, authenticated again) and those whose
 * token is revoked or expired. The serving threads never wait for the
 * database here. */
#ifndef VX_SERVER_EVENTS_API_H
#define VX_SERVER_EVENTS_API_H

#include <stdbool.h>

#include "base/log.h"
#include "server/http.h"
#include "service/service.h"

typedef struct events_api events_api;

typedef struct events_api_config {
    unsigned max_streams;   /* 0: VX_LIMIT_ADMIN_STREAMS */
    unsigned max_per_token; /* 0: VX_LIMIT_ADMIN_STREAMS_PER_TOKEN */
    unsigned poll_ms;       /* 0: VX_LIMIT_ADMIN_FEED_POLL_MS */
    unsigned heartbeat_ms;  /* 0: VX_LIMIT_SSE_HEARTBEAT_MS */
    unsigned lifetime_ms;   /* 0: VX_LIMIT_ADMIN_STREAM_MS */
    vx_log_fn log;          /* may be NULL */
    void *log_ud;           /* passed to log */
} events_api_config;

/* Starts the feed's thread; `svc` is borrowed. Errors: VX_ENOMEM, VX_EIO
 * (no thread). */
vx_status events_api_new(service *svc, const events_api_config *cfg,
                         events_api **out, vx_error *err);
/* Ends every stream and refuses new ones (before the listener stops). */
void events_api_stop(events_api *a);
/* Stops the thread and frees; after the listener stopped. Accepts NULL. */
void events_api_free(events_api **a);

/* True for /api/admin/events/stream. */
bool events_api_owns(const http_req *r);
/* A request's stream, between the request step and the end of the
 * request; the caller keeps the pointer (NULL before). */
typedef struct events_req events_req;
/* The request step, once the caller is authenticated as `who` (an admin
 * token of any role; copied): ?feature= and ?environment= filters (400
 * naming /query/<name> past VX_LIMIT_ADMIN_FILTER_BYTES), Last-Event-ID,
 * the caps (429 per token, 503 in all, with Retry-After); then the stream,
 * whose state is left in *out. Always answers. */
void events_api_request(events_api *a, http_req *r, const svc_principal *who,
                        events_req **out);
/* The request is over: the stream's subscriber goes. Accepts NULL. */
void events_api_done(events_api *a, events_req *q);

#endif
