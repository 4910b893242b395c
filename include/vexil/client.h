/* libvexil-client: the C SDK. Keeps an up-to-date libvexil snapshot of a
 * Vexil (or Unleash) server's flags and evaluates them in-process.
 *
 * A background thread fetches GET /api/client/features (ETag,
 * If-None-Match, gzip) by polling, or follows GET /api/client/streaming
 * (Server-Sent Events, resumed with Last-Event-ID, falling back to polling
 * when the server refuses streaming), publishes each new snapshot through a
 * vx_engine, keeps a backup file of the last good document to start from
 * when the server is unreachable, registers the application and posts usage
 * counts to /api/client/metrics.
 *
 * Callers evaluate against the current snapshot without blocking on the
 * network and without allocating; usage counting takes one short mutex.
 * The library never prints: everything it has to say goes to the log
 * callback. */
#ifndef VEXIL_CLIENT_H
#define VEXIL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vexil/vexil.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The value of the `unleash-sdk` header ("vexil-c:<version>"). */
#define VX_CLIENT_SDK_NAME     "vexil-c"
#define VX_CLIENT_SPEC_VERSION "5.2.0" /* Unleash-Client-Spec announced */

typedef struct vx_client vx_client;

/* How the background thread learns about changes. */
typedef enum vx_client_mode {
    VX_CLIENT_POLLING = 0,  /* GET /api/client/features every interval */
    VX_CLIENT_STREAMING = 1 /* GET /api/client/streaming (SSE); polls when
                               the server refuses streaming */
} vx_client_mode;

typedef enum vx_client_log_level {
    VX_CLIENT_LOG_DEBUG = 0,
    VX_CLIENT_LOG_INFO = 1,
    VX_CLIENT_LOG_WARN = 2,
    VX_CLIENT_LOG_ERROR = 3
} vx_client_log_level;

/* What happened, for the event callback. */
typedef enum vx_client_event {
    VX_CLIENT_EVENT_READY = 0,        /* the first snapshot is published
                                         (from the server or the backup) */
    VX_CLIENT_EVENT_SYNCHRONIZED = 1, /* the first snapshot from the server */
    VX_CLIENT_EVENT_CHANGED = 2,      /* a new snapshot is published */
    VX_CLIENT_EVENT_REGISTERED = 3,   /* POST /client/register was accepted */
    VX_CLIENT_EVENT_METRICS_SENT = 4  /* a metrics bucket was accepted */
} vx_client_event;

/* One log line (no trailing newline, valid during the call only). Called
 * on the client's background thread, or on the caller's thread from
 * vx_client_new and vx_client_free. Must not call vx_client_free. */
typedef void (*vx_client_log_fn)(void *ud, vx_client_log_level level,
                                 const char *message);

/* An event, called on the background thread (which it delays: keep it
 * short). Must not call vx_client_free. */
typedef void (*vx_client_event_fn)(void *ud, vx_client *c, vx_client_event ev);

/* Settings, filled in by the caller: zero-initialise, then set what you
 * need. Strings are copied by vx_client_new. */
typedef struct vx_client_config {
    const char *url;              /* required: the API base as for Unleash SDKs,
                                     "http://host:4242/api/"; "/api" is appended
                                     when the URL does not end with it */
    const char *token;            /* required: a client (backend) token, sent as
                                     Authorization */
    const char *app_name;         /* required: unleash-appname */
    const char *instance_id;      /* NULL: "<hostname>-<pid>" */
    vx_client_mode mode;          /* polling (default) or streaming */
    uint32_t refresh_interval_ms; /* polling period; 0 = 15000 */
    uint32_t metrics_interval_ms; /* usage post period; 0 = 60000 */
    uint32_t timeout_ms;          /* one request (not the stream); 0 = 10000 */
    bool disable_metrics;         /* no register, no usage counting */
    const char *backup_path;      /* NULL: no backup file */
    vx_client_log_fn log;         /* may be NULL: messages are dropped */
    void *log_ud;                 /* passed to log */
    vx_client_log_level log_level; /* lowest level passed to log */
    vx_client_event_fn on_event;   /* may be NULL */
    void *event_ud;                /* passed to on_event */
} vx_client_config;

/* Counters for monitoring and tests; every field counts since
 * vx_client_new. */
typedef struct vx_client_stats {
    uint64_t fetches;         /* features requests answered */
    uint64_t not_modified;    /* ... of which 304 */
    uint64_t fetch_errors;    /* network errors and error statuses */
    uint64_t stream_connects; /* streams answered 200 */
    uint64_t stream_events;   /* unleash-connected/-updated applied */
    uint64_t updates;         /* snapshots published */
    uint64_t metrics_sent;    /* buckets the server accepted */
    uint64_t metrics_dropped; /* counts lost (table full, bucket refused) */
    uint64_t backup_writes;   /* backup files written */
    bool ready;               /* a snapshot is published */
    bool synchronized;        /* a snapshot came from the server */
    bool from_backup;         /* the current snapshot is the backup's */
    vx_client_mode mode;      /* the mode in use now (after a fallback) */
} vx_client_stats;

/* Validates `cfg` and starts the client: its background thread registers
 * the application and fetches the flags (or, if the server cannot be
 * reached, loads the backup file). Returns at once, before any request;
 * use vx_client_wait_ready or the READY event. On error returns VX_EINVAL
 * (with the field in err->path, "/url"), VX_ENOMEM or VX_EIO (the thread
 * could not start), and leaves `*out` NULL. `err` may be NULL. */
VX_API vx_status vx_client_new(const vx_client_config *cfg, vx_client **out,
                               vx_error *err);

/* Stops the background thread (ending a stream at once), posts the usage
 * counted so far, and frees the client. Snapshots the caller still holds
 * stay valid until released. Accepts NULL. No other thread may use `c`
 * during or after the call. */
VX_API void vx_client_free(vx_client *c);

/* True once a snapshot is published (from the server or the backup). */
VX_API bool vx_client_ready(vx_client *c);

/* Waits up to `timeout_ms` for vx_client_ready; returns its value. */
VX_API bool vx_client_wait_ready(vx_client *c, uint32_t timeout_ms);

/* A new reference to the current snapshot (NULL before ready); release it
 * with vx_snapshot_unref. Thread-safe, never blocks on I/O. */
VX_API vx_snapshot *vx_client_acquire(vx_client *c);

/* isEnabled on the current snapshot, counted in the usage metrics (a flag
 * that does not exist, or any flag before ready, is false and counted as
 * "no"). `sc` may be NULL (see vx_scratch). Thread-safe; no allocation. */
VX_API bool vx_client_is_enabled(vx_client *c, vx_scratch *sc, const char *name,
                                 size_t len, const vx_context *ctx);

/* getVariant on snapshot `s` (from vx_client_acquire, may be NULL: the
 * "disabled" variant), counted in the usage metrics as yes/no plus the
 * variant name. The strings of `*out` point into `s`: valid while the
 * caller holds it. Thread-safe; no allocation. */
VX_API void vx_client_get_variant(vx_client *c, const vx_snapshot *s,
                                  vx_scratch *sc, const char *name, size_t len,
                                  const vx_context *ctx, vx_variant *out);

/* Fills `*out` with the client's counters. Thread-safe. */
VX_API void vx_client_get_stats(vx_client *c, vx_client_stats *out);

/* Asks the background thread to post the usage counted so far now (it
 * does so asynchronously; METRICS_SENT reports success). Thread-safe. */
VX_API void vx_client_flush_metrics(vx_client *c);

/* The time in ms since the epoch (UTC), for vx_context.now_ms. */
VX_API int64_t vx_client_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif
