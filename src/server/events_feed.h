/* The fan-out of the console's live updates (docs/admin-api.md, "Live
 * updates"): subscribers of GET /api/admin/events/stream, each with a
 * bounded queue of Server-Sent Events text, the project scope of its token
 * and optional flag and environment filters; a short history of the
 * events sent, so that a browser that reconnects with Last-Event-ID gets
 * what it missed (or "reset" when the history does not reach back). No
 * I/O and no clock here: events_api.c feeds it from the service and drives
 * the connections, and the unit tests drive it directly.
 *
 * Invariants: an event is sent at most once per id; a subscriber only
 * ever receives events of its projects (and filters), never their data;
 * every queue, the history and the number of subscribers (in all and per
 * token) are bounded; a subscriber whose queue overflows, whose token is
 * revoked or expired, whose lifetime is over or whose peer closed is
 * ended (its reader sees the end) and woken.
 *
 * Thread-safety: every function may be called from any thread (one
 * mutex); the wake callbacks run with it held and must not call back. */
#ifndef VX_SERVER_EVENTS_FEED_H
#define VX_SERVER_EVENTS_FEED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "service/service.h"

typedef struct ev_feed ev_feed;
typedef struct ev_sub ev_sub;

/* Called (lock held) when a subscriber has something to read, or ended. */
typedef void (*ev_wake_fn)(void *ud);

typedef struct ev_feed_config {
    unsigned max_streams;   /* subscribers in all (>= 1) */
    unsigned max_per_token; /* ... per token (>= 1) */
    size_t queue_bytes;     /* unsent text per subscriber */
    size_t history;         /* events kept for Last-Event-ID (>= 1) */
    int64_t lifetime_ms;    /* a subscriber ends after this (0: never) */
    int64_t recent_ms;      /* a new subscriber without Last-Event-ID gets
                               the events published this recently (what
                               happened while its page was loading) */
} ev_feed_config;

/* Errors: VX_EINVAL (a zero bound), VX_ENOMEM. */
vx_status ev_feed_new(const ev_feed_config *cfg, ev_feed **out, vx_error *err);
void ev_feed_free(ev_feed **f); /* ends nothing: unsubscribe first */

/* Who subscribes and what they want. Strings are copied. */
typedef struct ev_who {
    int64_t token_id;        /* the token (or the session's token) */
    const char *projects;    /* "*" or "a,b": the token's projects */
    const char *feature;     /* only this flag's events, or NULL */
    const char *environment; /* only this environment's, or NULL */
    int64_t last_id;         /* Last-Event-ID, or -1 */
    int fd;                  /* the connection's socket (watched), or -1 */
    int64_t now_ms;          /* the subscription's start (lifetime) */
} ev_who;

/* Adds a subscriber; its queue starts with the stream's preamble, then
 * what it missed since `last_id` (or a "reset" when that is unknown); one
 * without a `last_id` gets the events published in the last recent_ms.
 * Errors: VX_ELIMIT (the token holds max_per_token streams),
 * VX_EUNAVAILABLE (max_streams in all, or the feed is closed), VX_ENOMEM;
 * err->message says which. */
vx_status ev_feed_subscribe(ev_feed *f, const ev_who *who, ev_wake_fn wake,
                            void *wake_ud, ev_sub **out, vx_error *err);

/* Copies up to `max` queued bytes: > 0 bytes, 0 when nothing is queued
 * (wake says when), -1 when the stream is over, -2 when its peer is gone. */
long ev_sub_read(ev_sub *s, char *buf, size_t max);

/* Removes and frees `s` (no wake after it returns). Accepts NULL. */
void ev_feed_unsubscribe(ev_feed *f, ev_sub *s);

/* The feed's starting point: every event up to `revision` is old news
 * (the history is cleared). Until the first call, subscribers that resume
 * get "reset". */
void ev_feed_baseline(ev_feed *f, int64_t revision);

/* True once ev_feed_baseline was called. */
bool ev_feed_has_baseline(ev_feed *f);

/* One brief event from svc_feed_read ({id, type, project, environment,
 * feature, createdAt, createdBy}), read at `now_ms`: kept in the history
 * and queued, as "change", for the subscribers it concerns, unless its id
 * was seen or is not after the baseline. Returns true when it was new. */
bool ev_feed_publish(ev_feed *f, const json_t *event, int64_t now_ms);

/* Events may have been missed (a gap): every subscriber gets "reset"
 * (reload everything), and the feed starts again from `revision`. */
void ev_feed_reset(ev_feed *f, int64_t revision);

/* The scheduler looked at the plans (its lease was renewed at `at_ms` by
 * `owner`): "tick" to every subscriber. */
void ev_feed_tick(ev_feed *f, const char *owner, int64_t at_ms);

/* A comment line to every subscriber (keeps proxies from closing idle
 * streams). */
void ev_feed_heartbeat(ev_feed *f);

/* Ends the subscribers whose token is revoked or expired at `now_ms` in
 * `t` ([n], ascending ids, from svc_token_states), and remembers each
 * token's expiry for ev_feed_expire. */
void ev_feed_tokens(ev_feed *f, const svc_token_state *t, size_t n,
                    int64_t now_ms);

/* Ends the subscribers past their lifetime or their token's expiry. */
void ev_feed_expire(ev_feed *f, int64_t now_ms);

/* The sockets of live subscribers with their serials, at most `cap`;
 * returns how many. */
size_t ev_feed_sockets(ev_feed *f, int *fds, uint64_t *serials, size_t cap);

/* The subscriber `serial`'s peer closed: it ends (reads say -2). */
void ev_feed_gone(ev_feed *f, uint64_t serial);

/* Ends every subscriber and refuses new ones (the server is stopping). */
void ev_feed_close(ev_feed *f);

/* Subscribers now. */
size_t ev_feed_count(ev_feed *f);

/* True when `event` ({type, project, environment, feature}) concerns a
 * subscriber of `projects` with the filters `feature` and `environment`
 * (either may be NULL): a flag, strategy, release-plan or
 * scheduled-change event of one of its projects. */
bool ev_feed_match(const json_t *event, const char *projects,
                   const char *feature, const char *environment);

#endif
