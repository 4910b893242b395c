/* What the files of the edge share (never included outside src/edge): the
 * token cache, the views followed upstream (feeds), the reports queue and
 * the edge itself.
 *
 * Locking: edge.mu guards the tokens, the feeds' shared fields and the
 * counters; it is never held across a network call, a disk write or a
 * hub_feed_apply (the upstream thread applies without it). Fields marked
 * "thread" belong to the upstream thread alone. The reports have their
 * own lock (reports.c). Order: edge.mu before hub.mu, never the reverse. */
#ifndef VX_EDGE_INTERNAL_H
#define VX_EDGE_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "edge/edge.h"
#include "hub/hub.h"
#include "sdk/sse.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/sdk_api.h"
#include "service/service.h"

#define EDGE_KEY_MAX  24 /* a feed's hub slot, "f<n>" */
#define EDGE_ENV_MAX  128
#define EDGE_PROJ_MAX 512

/* ---- tokens.c ------------------------------------------------------------ */
typedef enum edge_tok_status {
    TOK_PENDING, /* asked upstream, no answer yet */
    TOK_VALID,   /* an SDK token (kind, environment, projects known) */
    TOK_INVALID, /* unknown upstream, or revoked (then `revoked`) */
} edge_tok_status;

typedef struct edge_token {
    char *secret;                 /* owned */
    size_t len;                   /* its bytes */
    uint64_t hash;                /* of the secret */
    int64_t id;                   /* this process's id (principal, hub) */
    edge_tok_status status;       /* see above */
    bool given;                   /* from the configuration */
    bool revoked;                 /* was valid, then refused */
    bool recheck;                 /* to ask upstream again */
    bool not_client;              /* a check asked with it got 403: not a
                                     client token, never asked with again */
    svc_token_kind kind;          /* client or frontend (VALID) */
    char env[EDGE_ENV_MAX];       /* its environment (VALID) */
    char projects[EDGE_PROJ_MAX]; /* "*" or "a,b" (VALID) */
    int64_t expires_ms;           /* 0 = never */
    int64_t checked_ms;           /* wall time of the last answer */
    char refusal[64];             /* the upstream's answer when INVALID */
    int feed;                     /* the feed serving it, -1 none */
} edge_token;

/* ---- feeds (upstream.c) -------------------------------------------------- */
typedef struct edge_feed {
    /* shared (edge.mu) */
    char key[EDGE_KEY_MAX];       /* the hub slot */
    char env[EDGE_ENV_MAX];       /* the environment it serves */
    char projects[EDGE_PROJ_MAX]; /* its token's projects */
    char *secret;                 /* the token it follows with (owned) */
    size_t len;                   /* its bytes */
    bool given;                   /* a given token's feed */
    bool have_state;              /* the hub has a state for it */
    bool up;                      /* the upstream answers it now */
    bool dropped;                 /* its token was revoked: to remove */
    int64_t revision;             /* of the state held, -1 none */
    int64_t synced_ms;            /* wall time the state was last known
                                     current; 0 = never (snapshot only) */
    char problem[200];            /* why it is not up ("" when up) */
    /* thread */
    struct edge *owner;        /* the edge */
    CURL *h;                   /* the stream or poll in flight */
    struct curl_slist *hdrs;   /* its headers */
    sdk_sse sse;               /* stream parser */
    char *body;                /* a poll's answer */
    size_t body_len, body_cap; /* bytes, allocated */
    char etag[64];             /* a poll's ETag */
    long code;                 /* HTTP status of the answer */
    bool polling;              /* streams refused: delta polls */
    bool hydrate;              /* connect without Last-Event-ID */
    bool got_bytes;            /* this stream delivered something */
    bool apply_failed;         /* an event could not be applied */
    unsigned retries;          /* consecutive failures */
    int64_t next_ms;           /* monotonic: next connect or poll */
    int64_t stream_retry_ms;   /* monotonic: try streaming again */
    int64_t snap_due_ms;       /* monotonic: write the snapshot, 0 none */
    int64_t connected_ms;      /* monotonic: the stream's first bytes */
} edge_feed;

/* ---- reports.c ----------------------------------------------------------- */
typedef struct edge_reports edge_reports;

/* A view: what a batch is forwarded for (its environment and projects). */
typedef struct edge_view {
    const char *env;      /* environment */
    const char *projects; /* "*" or "a,b" */
} edge_view;

/* ---- the edge (edge.c) ----------------------------------------------------
 */
struct edge {
    /* configuration (owned copies) */
    char *upstream;      /* base URL, no trailing slash */
    char *data_dir;      /* NULL: memory only */
    unsigned poll_ms;    /* delta polling period */
    unsigned forward_ms; /* reports forwarding period */
    vx_log_fn log;       /* may be NULL */
    void *log_ud;        /* passed to log */
    char instance[96];   /* unleash-instanceid: host-pid */
    char edge_id[24];    /* stable id of this edge (data dir), batch ids */
    /* serving */
    hub *hub;            /* the fed hub */
    http_listener *http; /* the listener */
    metrics *metrics;    /* request counters */
    const char **labels; /* metric route labels */
    sdk_api sdk;         /* the SDK endpoints, with edge ops */
    edge_reports *reports;
    /* shared state (mu) */
    pthread_mutex_t mu;                    /* see the file comment */
    pthread_cond_t answered;               /* a validation finished */
    edge_token **tokens;                   /* [ntokens] */
    size_t ntokens;                        /* entries */
    int64_t next_token_id;                 /* for the next entry */
    edge_feed *feeds[VX_LIMIT_EDGE_FEEDS]; /* [nfeeds] */
    size_t nfeeds;                         /* entries */
    unsigned next_feed;                    /* for the next key */
    bool tokens_dirty;                     /* the token file is to be written */
    bool hub_tokens_due;        /* the hub's token list is to be refreshed */
    bool validating;            /* a validation is in flight */
    unsigned waiters;           /* request threads waiting for an answer */
    unsigned waiters_max;       /* at most: one listener thread stays free */
    int64_t slow_until_ms;      /* monotonic: do not wait before */
    int64_t validate_after_ms;  /* monotonic: retry validations after */
    bool recheck_due;           /* check every cached token again */
    bool upstream_up;           /* the last call reached the upstream */
    int64_t down_since_ms;      /* wall time it stopped answering, 0 = up */
    char upstream_problem[256]; /* why, for /ready */
    /* counters (mu) */
    int64_t reconnects;  /* upstream connections made again */
    int64_t validations; /* validation calls */
    /* the upstream thread */
    CURLM *multi;            /* its requests */
    pthread_t thread;        /* runs upstream_main */
    bool started;            /* thread runs */
    atomic_bool stop;        /* asked to end */
    atomic_bool wake;        /* woken (validation asked...) */
    int64_t last_recheck_ms; /* monotonic */
    int64_t last_forward_ms; /* monotonic */
    int64_t last_sync_ms;    /* monotonic */
};

/* ---- tokens.c ------------------------------------------------------------ */
/* The sdk_ops authenticate: the cache, else a bounded wait for the
 * upstream's answer. */
vx_status edge__authenticate(void *ud, const char *secret, size_t len,
                             svc_principal *who, char *slot, size_t cap,
                             vx_error *err);
int64_t edge__token_expiry(void *ud, const svc_principal *who);
/* The entry of `secret`, or NULL (under mu). */
edge_token *edge__token_find(edge *e, const char *secret, size_t len);
/* Adds an entry (PENDING, or as given); NULL when out of room (under mu). */
edge_token *edge__token_add(edge *e, const char *secret, size_t len,
                            bool given);
/* Takes the upstream's answer for the tokens asked (`asked` [n] secrets,
 * `answer` the validate body): each listed becomes VALID, the others
 * INVALID (revoked when they were valid); feeds are made for client tokens
 * that no feed covers and dropped for revoked tokens (under mu). */
void edge__tokens_answer(edge *e, char *const *asked, size_t n,
                         const json_t *answer);
/* Gives every token the feed that serves it (under mu). */
void edge__tokens_map(edge *e);
/* The hub's token list from the cache (under mu: copies, then pushes
 * outside? no: pushes under mu, hub.mu nests inside). */
void edge__tokens_push(edge *e);
/* The token cache as the token file holds it (a new array; under mu), and
 * back. */
json_t *edge__tokens_json(edge *e);
void edge__tokens_load(edge *e, const json_t *list);
/* Frees every entry. */
void edge__tokens_free(edge *e);

/* ---- upstream.c: the thread that follows the upstream -------------------- */
vx_status edge__upstream_start(edge *e, vx_error *err);
void edge__upstream_stop(edge *e);
/* Wakes the thread (any thread). */
void edge__upstream_wake(edge *e);
/* A new feed for token `t` (under mu): its key, view and slot; NULL when
 * full. */
edge_feed *edge__feed_add(edge *e, const edge_token *t);
/* The feed covering environment `env` and projects `projects` (under mu),
 * preferring given feeds; -1 when none. */
int edge__feed_cover(edge *e, const char *env, const char *projects);

/* ---- disk.c: files in the data directory --------------------------------- */
/* Replaces `path` with `buf[0..len)` (mode 0600, fsynced, renamed, the
 * directory fsynced). */
vx_status edge__file_write(const char *path, const char *buf, size_t len,
                           vx_error *err);
/* Reads `path` whole (at most `max` bytes) into a new NUL-terminated
 * buffer. VX_ENOTFOUND when absent. */
vx_status edge__file_read(const char *path, size_t max, char **out, size_t *len,
                          vx_error *err);
/* "<data_dir>/<name>" into `out`; false when it does not fit. */
bool edge__path(const edge *e, const char *name, char *out, size_t cap);
/* Writes feed `f`'s snapshot (its state as a hydration and its view);
 * called on the upstream thread without mu. */
void edge__snapshot_write(edge *e, edge_feed *f);
/* Removes feed `f`'s snapshot. */
void edge__snapshot_remove(edge *e, const edge_feed *f);
/* Loads the token file and every snapshot at start. */
void edge__disk_load(edge *e);
/* Writes the token file when dirty (upstream thread). */
void edge__tokens_save(edge *e);

/* ---- reports.c ------------------------------------------------------------
 */
/* The reports queue under `dir` (NULL: memory only), bounded by `max`
 * bytes; replays what an earlier run left. */
vx_status edge__reports_new(edge *e, const char *dir, size_t max,
                            edge_reports **out, vx_error *err);
void edge__reports_free(edge_reports **r);
/* The sdk_ops that take reports. */
vx_status edge__register(void *ud, const svc_principal *who, const json_t *body,
                         vx_error *err);
vx_status edge__metrics(void *ud, const svc_principal *who, const json_t *body,
                        vx_error *err);
vx_status edge__impact(void *ud, const svc_principal *who, const json_t *batch,
                       vx_error *err);
vx_status edge__edge_reports(void *ud, const svc_principal *who,
                             const json_t *body, size_t *accepted,
                             json_t **rejected, vx_error *err);
/* Closes the current aggregation into outbox batches (durably). */
void edge__reports_cut(edge_reports *r);
/* fdatasyncs the journal when written since the last call. */
void edge__reports_sync(edge_reports *r);
/* The oldest batch waiting: its file (`path`, cap bytes), kind ("impact"
 * or "reports"), view and body (new reference); false when none. */
bool edge__reports_next(edge_reports *r, char *path, size_t cap, char *kind,
                        size_t kcap, char *env, char *projects, json_t **body);
/* The batch at `path` was taken (removed), or must lose entry `index`
 * (impact: the upstream refused it; rewritten), or was dropped. */
void edge__reports_done(edge_reports *r, const char *path, bool forwarded);
bool edge__reports_drop_entry(edge_reports *r, const char *path, size_t index);

/* Counters for /metrics. */
typedef struct edge_reports_stats {
    int64_t queued_bytes; /* journal and outbox */
    int64_t batches;      /* waiting in the outbox */
    int64_t forwarded;    /* batches the upstream took */
    int64_t dropped;      /* entries dropped (refused upstream) */
    int64_t refused;      /* SDK posts answered 503: the queue was full */
    int64_t failures;     /* failed forwards */
} edge_reports_stats;
void edge__reports_stats(edge_reports *r, edge_reports_stats *out);
void edge__reports_failed(edge_reports *r);

#endif
