/* The SDK hub: what the SDK-facing endpoints (Unleash client and frontend
 * APIs, OFREP, streaming) serve, held in memory per environment so that no
 * SDK request touches the database or waits on it.
 *
 * For each environment the hub publishes an immutable, reference-counted
 * hub_state: each flag's serialized JSON and the facts the endpoints read
 * (no JSON tree), their libvexil snapshot, and a cache of response bodies
 * per scope (token projects, filters, segment inlining), each serialized
 * and gzipped once. The content of a state is a function of the database
 * alone (flags by name, the environment's SDK revision), so every process
 * on one database serves the same bytes and ETags for the same state.
 *
 * It is fed only by the service: the commit hook that hub_new installs
 * (every committed write in this process; SDK requests that start after a
 * write was answered wait, at most VX_LIMIT_SDK_FRESH_MS, for its
 * publish), the database's commit announcements (PostgreSQL
 * LISTEN/NOTIFY, watched by a second thread), and a periodic revision
 * check. Only the hub's threads wait on the database; while it is
 * unreachable the last published states go on being served.
 *
 * A flag (or segment) that libvexil refuses is set aside: left out of
 * what is served and reported (hub_report), while the rest of its
 * environment is served and patched as usual.
 *
 * The hub also keeps a short history of each environment's flag hashes, to
 * answer /api/client/delta and resume streams, and fans changes out to
 * streaming subscribers, within per-token and total caps; a subscriber
 * whose connection closed, or whose token is revoked or expired (in this
 * process or any other on the database), is ended within a second.
 *
 * Thread-safety: every function may be called from any thread. */
#ifndef VX_HUB_HUB_H
#define VX_HUB_HUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/log.h"
#include "service/service.h"
#include "vexil/vexil.h"

typedef struct hub hub;
typedef struct hub_state hub_state;

/* What OpenFeature's reasons need of one strategy (hub_flag.strategies),
 * taken from the flag's JSON when the state is built. */
enum {
    HUB_S_TARGETED = 1,  /* constraints, segments, or a strategy that names
                            callers (userWithId, remoteAddress,
                            applicationHostname) */
    HUB_S_SPLIT = 2,     /* a rollout below 100% */
    HUB_S_VARIANTS = 4,  /* it has variants of its own */
    HUB_S_MULTI = 8,     /* more than one of them has weight */
    HUB_S_OVERRIDES = 16 /* one of them has overrides */
};

/* One flag of a state, in name order (strcmp). Strings and arrays live as long
 * as the state; none of it is jansson (a live state keeps no JSON tree). */
typedef struct hub_flag {
    const char *name;          /* flag name */
    const char *project;       /* its project */
    const char *text;          /* the client feature object, compact JSON
                                  (without "tags"), as SDKs are served it */
    size_t text_len;           /* its length */
    const char *tags;          /* ntags pairs "type\0value\0", or NULL */
    size_t ntags;              /* tags */
    const char *control;       /* the payload value of the first variant named
                                  "control" (flag's, then strategies'), or NULL */
    const uint8_t *strategies; /* [nstrategies] HUB_S_* bits */
    size_t nstrategies;        /* strategies */
    const char *overrides;     /* packed variant overrides (read with
                                  hub_flag_overridden), or NULL */
    size_t overrides_len;      /* their bytes */
    bool enabled;              /* "enabled" */
    bool has_variants;         /* any variant list is not empty */
    bool has_dependencies;     /* "dependencies" is not empty */
    bool uses_segments;        /* a strategy references segments */
    bool variants_multi;       /* the flag's own variants: more than one
                                  with weight */
    bool variants_overrides;   /* ... one of them has overrides */
    bool impression_data;      /* impressionData */
    int64_t snap_index;        /* index in hub_state_snapshot(), -1 if absent */
    uint64_t hash;             /* of its serialized JSON: equal = unchanged */
    void *rec;                 /* the block holding it all (refcounted) */
} hub_flag;

/* True when an override of variant `variant` in variant list `list` of
 * `f` (0: the flag's own variants; k + 1: strategy k's) names the caller:
 * `field(ud, contextName)` returns the caller's value of a context field
 * (an absent vx_str when it has none). */
bool hub_flag_overridden(const hub_flag *f, size_t list, vx_str variant,
                         vx_str (*field)(const void *ud, const char *name),
                         const void *ud);

/* Which flags a caller sees and how the document is shaped. Strings are
 * borrowed for the call. */
typedef struct hub_scope {
    const char *projects;    /* "*" or "a,b": the token's projects */
    const char *project;     /* ?project= filter (may be "a,b"), or NULL */
    const char *name_prefix; /* ?namePrefix=, or NULL */
    const char *tag;         /* ?tag=type:value, or NULL */
    bool inline_segments;    /* old SDKs: segment constraints inlined, no
                                "segments" array */
    bool edge;               /* an edge node following this hub (feed.c):
                                deltas carry each feature's "tags" (its
                                own ?tag= filters need them), and a
                                stream gets "event: vexil-tokens" when
                                API tokens change */
} hub_scope;

/* A response body from the cache: lives as long as the state. */
typedef struct hub_body {
    const char *bytes; /* the body */
    size_t len;        /* its length */
    const char *etag;  /* strong ETag, quoted */
    bool gzipped;      /* Content-Encoding: gzip */
} hub_body;

typedef vx_log_fn hub_log_fn;

/* How the hub runs; zero fields take their defaults. */
typedef struct hub_config {
    unsigned poll_ms;     /* the backstop revision check's period
                             (VX_LIMIT_SDK_POLL_MS) */
    unsigned fresh_ms;    /* the longest an SDK request waits for a write
                             answered before it (VX_LIMIT_SDK_FRESH_MS) */
    unsigned max_streams; /* streaming subscribers in all
                             (VX_LIMIT_SSE_CLIENTS, at most that) */
    unsigned max_streams_per_token; /* ... per token (max_streams) */
    hub_log_fn log;                 /* may be NULL */
    void *log_ud;                   /* passed to log */
} hub_config;

/* Checks every environment once (reporting what is set aside), starts the
 * hub's threads (and the watch thread when svc_watchable), and installs
 * the service's commit hook (svc_set_commit_hook: the hub is its only
 * user). `svc` is borrowed and must outlive the hub. Errors: VX_EIO (the
 * database), VX_ENOMEM. */
vx_status hub_new(const hub_config *cfg, service *svc, hub **out,
                  vx_error *err);

/* Ends every stream (their next read reports the end and their connections
 * are woken): call before stopping the listener, which waits for requests
 * in flight. */
void hub_close_streams(hub *h);

/* Removes the commit hook, stops the threads, ends every stream, frees.
 * Call once no other thread writes through the service. Clears `*h`;
 * accepts NULL. */
void hub_free(hub **h);

/* The current state of `env` in `*out` (a new reference; release with
 * hub_state_release). A write this process answered before the call is
 * included unless publishing it takes longer than VX_LIMIT_SDK_FRESH_MS
 * (then the last published state is served: the call never waits on the
 * database). VX_ENOTFOUND: no such environment. VX_EUNAVAILABLE: the
 * environment was never loaded and could not be in time (the database
 * does not answer). */
vx_status hub_acquire(hub *h, const char *env, hub_state **out);
void hub_state_release(hub_state *s); /* accepts NULL */

/* The environment's SDK revision: the newest audit event that may change
 * what its SDKs are served (svc_sdk_relevant), the same in every process
 * on the database. */
int64_t hub_state_revision(const hub_state *s);
const vx_snapshot *hub_state_snapshot(const hub_state *s);
size_t hub_state_flag_count(const hub_state *s);
const hub_flag *hub_state_flag(const hub_state *s, size_t i);
/* The flag named `name`, or NULL. */
const hub_flag *hub_state_find(const hub_state *s, const char *name);

/* A flag (or segment) a state leaves out because libvexil refuses it. */
typedef struct hub_aside {
    const char *flag;    /* the flag's name, or NULL for a segment */
    const char *project; /* the flag's project, or NULL */
    int64_t segment;     /* the segment's id, or -1 for a flag */
    const char *path;    /* where in it (JSON pointer; "" for the whole) */
    const char *message; /* why */
} hub_aside;
size_t hub_state_aside_count(const hub_state *s);
const hub_aside *hub_state_aside(const hub_state *s, size_t i);

/* What is set aside in every environment, as a new JSON object:
 * {"flagsSetAside": total, "environments": [{"name", "loaded" (an SDK asked
 * for it since the start; the others are checked at start and on each
 * change), "revision" (loaded only), "flagsSetAside": [{"name", "project",
 * "path", "message"}], "segmentsSetAside": [{"id", "path", "message"}]}]}.
 * NULL when out of memory. */
json_t *hub_report(hub *h);

/* True when flag `f` is visible in `scope`. */
bool hub_scope_match(const hub_scope *scope, const hub_flag *f);

/* The /api/client/features body for `scope`, built once per state and
 * scope and cached (at most VX_LIMIT_SDK_BODIES scopes per state; past
 * that the body is built into `arena` for this request only). `gzip`
 * asks for the compressed form. */
vx_status hub_state_features_body(hub_state *s, const hub_scope *scope,
                                  bool gzip, vx_arena *arena,
                                  const hub_body **out, vx_error *err);

/* The /api/client/delta body for a client at revision `since` (< 0: none,
 * a hydration), built into `arena`. `*body` is NULL when the client is up
 * to date (304). A revision the hub no longer remembers gets a
 * hydration. */
vx_status hub_delta(hub *h, hub_state *s, int64_t since, const hub_scope *scope,
                    vx_arena *arena, char **body, size_t *len, vx_error *err);

/* ---- streaming subscribers ------------------------------------------------
 */

typedef struct hub_sub hub_sub;

/* Called with the hub's lock held when a subscriber has something new to
 * read (hub_sub_read): wake the connection, and do not call into the
 * hub. */
typedef void (*hub_wake_fn)(void *ud);

/* Who subscribes: the token checked (hub_sub ends when it is revoked or
 * expires) and the connection's socket, which the hub watches for the
 * peer closing (-1: not watched). */
typedef struct hub_peer {
    int64_t token_id; /* svc_principal.token_id */
    int fd;           /* the connection's socket, or -1 */
} hub_peer;

/* Subscribes to `env` with `scope` (copied), starting after revision
 * `since` (< 0: the first message is a hydration, "unleash-connected").
 * VX_ELIMIT when the token holds max_streams_per_token streams,
 * VX_EUNAVAILABLE when all max_streams are taken (or the environment
 * cannot be loaded in time), VX_ENOTFOUND for an unknown environment, and
 * VX_EAUTH when the token is revoked or expired. */
vx_status hub_subscribe(hub *h, const char *env, const hub_scope *scope,
                        int64_t since, const hub_peer *peer, hub_wake_fn wake,
                        void *wake_ud, hub_sub **out, vx_error *err);

/* Copies up to `max` bytes of pending SSE text into `buf`: > 0 bytes, 0
 * when nothing is pending, -1 when the stream is over (hub stopping, the
 * client fell too far behind, its token was revoked or expired), -2 when
 * the peer closed its connection (drop it without an answer). */
long hub_sub_read(hub_sub *sub, char *buf, size_t max);

/* Ends the subscription; the wake callback is not called after this
 * returns. Accepts NULL. */
void hub_unsubscribe(hub *h, hub_sub *sub);

/* A fast 64-bit hash of `p[0..n)` (eight bytes a step): content identity
 * for ETags, flags and bodies. Not for anything an attacker may choose to
 * collide on purpose beyond a stale cache. */
uint64_t hub_hash64(const void *p, size_t n, uint64_t seed);
#define HUB_HASH_SEED 0xcbf29ce484222325ull

/* Counters for /metrics. */
typedef struct hub_stats {
    int64_t rebuilds;        /* states rebuilt */
    int64_t subscribers;     /* streaming connections now */
    int64_t revision;        /* newest database revision seen */
    double last_build_sec;   /* duration of the last rebuild */
    int64_t streams_refused; /* new streams refused at a cap */
    int64_t streams_ended;   /* streams ended by the hub: peer gone,
                                token revoked or expired */
} hub_stats;
void hub_get_stats(hub *h, hub_stats *out);

/* The stream caps for `conns` connections: `max_streams` (0: the default
 * share of the connections) and `per_token` (0: the default share of
 * those), bounded by VX_LIMIT_SSE_CLIENTS, into `*total` and `*per`.
 * VX_ELIMIT (err->path "/max-streams") when the streams would take every
 * connection: polls and /health need some. */
vx_status hub_stream_caps(unsigned conns, unsigned max_streams,
                          unsigned per_token, unsigned *total, unsigned *per,
                          vx_error *err);

/* The state of token `id` as the hub last read it (for an edge's token
 * check: its expiry); false when the hub does not know it. */
bool hub_token_state(hub *h, int64_t id, svc_token_state *out);

/* ---- a hub fed from outside (feed.c) ---------------------------------------
 * An edge node has no database: it follows another server's streams and
 * pushes what they send into a hub created with hub_new_fed, so that the
 * SDK endpoints of src/server serve it unchanged. Each followed view is a
 * slot named by the caller's `key` (not an environment name: two tokens of
 * one environment may see different projects); its states are labelled
 * with the environment they belong to (the features body's "query"). The
 * slot's states carry the upstream's revisions, texts and segment order,
 * so the bodies and ETags served equal the upstream's. */

/* A hub without a service, thread or database: only the streams thread
 * runs (heartbeats, closed peers, token expiry). `cfg` as hub_new (poll_ms
 * unused). Errors: VX_ENOMEM, VX_EIO (a thread). */
vx_status hub_new_fed(const hub_config *cfg, hub **out, vx_error *err);

/* Opens slot `key` without a state (requests wait for its first state at
 * most fresh_ms, then get VX_EUNAVAILABLE); no-op when it exists. */
vx_status hub_feed_open(hub *h, const char *key, vx_error *err);

/* Applies `data[0..len)`, the data of a stream event or a delta body
 * ({"events": [...]}: a "hydration", or "feature-updated",
 * "feature-removed", "segment-updated", "segment-removed"), to slot `key`
 * (created when missing), as revision `revision`, labelled environment
 * `env`. Features may carry "tags" (an upstream's edge scope). Publishes
 * unless the result equals the current state. Errors: VX_EPARSE (not such
 * a document: err says where), VX_ENOTFOUND (updates to a slot without a
 * state: hydrate first), VX_ENOMEM, or libvexil's refusal of the whole. */
vx_status hub_feed_apply(hub *h, const char *key, const char *env,
                         const char *data, size_t len, int64_t revision,
                         vx_error *err);

/* The current state of slot `key` as a hydration ({"events": [{"eventId",
 * "type": "hydration", "features" (with tags), "segments"}]}) in a new
 * buffer (`*text`, free with vx__free), its revision and environment
 * label (cap ENV bytes): what hub_feed_apply takes back. VX_ENOTFOUND when
 * the slot has no state. */
vx_status hub_feed_export(hub *h, const char *key, char **text, size_t *len,
                          int64_t *revision, char *env, size_t env_cap);

/* Removes slot `key`: its streams end (their token was revoked), later
 * requests for it get VX_ENOTFOUND. No-op when absent. */
void hub_feed_drop(hub *h, const char *key);

/* The edge's token list ([n], by id ascending, copied): streams whose
 * token is revoked or expired end, and edge streams hear "vexil-tokens"
 * when the list changed. */
vx_status hub_feed_tokens(hub *h, const svc_token_state *tokens, size_t n,
                          vx_error *err);

#endif
