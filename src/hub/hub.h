/* The SDK hub: what the SDK-facing endpoints (Unleash client and frontend
 * APIs, OFREP, streaming) serve, held in memory per environment so that no
 * SDK request touches the database.
 *
 * For each environment the hub publishes an immutable, reference-counted
 * sdk_state: each flag's serialized JSON and the facts the endpoints read
 * (no JSON tree), their libvexil snapshot, and a cache of response bodies
 * per scope (token projects, filters, segment inlining), each serialized
 * and gzipped once.
 * A rebuild runs on the hub's thread whenever the database revision moves:
 * after a write in this process (sdk_hub_kick; SDK requests that start
 * after the write was answered wait for its publish); when the database
 * announces a commit by another process (PostgreSQL LISTEN/NOTIFY, watched
 * by a second thread); and, as a backstop, on a periodic revision check.
 * States whose content did not change are kept, so their ETags stay
 * stable. While the database is unreachable the last published states go
 * on being served.
 *
 * The hub also keeps a short history of each environment's flag hashes, to
 * answer /api/client/delta and resume streams, and fans changes out to
 * streaming subscribers.
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

typedef struct sdk_hub sdk_hub;
typedef struct sdk_state sdk_state;

/* What OpenFeature's reasons need of one strategy (sdk_flag.strategies),
 * taken from the flag's JSON when the state is built. */
enum {
    SDK_S_TARGETED = 1,  /* constraints, segments, or a strategy that names
                            callers (userWithId, remoteAddress,
                            applicationHostname) */
    SDK_S_SPLIT = 2,     /* a rollout below 100% */
    SDK_S_VARIANTS = 4,  /* it has variants of its own */
    SDK_S_MULTI = 8,     /* more than one of them has weight */
    SDK_S_OVERRIDES = 16 /* one of them has overrides */
};

/* One flag of a state, in document order. Strings and arrays live as long
 * as the state; none of it is jansson (a live state keeps no JSON tree). */
typedef struct sdk_flag {
    const char *name;          /* flag name */
    const char *project;       /* its project */
    const char *text;          /* the client feature object, compact JSON
                                  (without "tags"), as SDKs are served it */
    size_t text_len;           /* its length */
    const char *tags;          /* ntags pairs "type\0value\0", or NULL */
    size_t ntags;              /* tags */
    const char *control;       /* the payload value of the first variant named
                                  "control" (flag's, then strategies'), or NULL */
    const uint8_t *strategies; /* [nstrategies] SDK_S_* bits */
    size_t nstrategies;        /* strategies */
    const char *overrides;     /* packed variant overrides (read with
                                  sdk_flag_overridden), or NULL */
    size_t overrides_len;      /* their bytes */
    bool enabled;              /* "enabled" */
    bool has_variants;         /* any variant list is not empty */
    bool has_dependencies;     /* "dependencies" is not empty */
    bool uses_segments;        /* a strategy references segments */
    bool variants_multi;       /* the flag's own variants: more than one
                                  with weight */
    bool variants_overrides;   /* ... one of them has overrides */
    bool impression_data;      /* impressionData */
    int64_t snap_index;        /* index in sdk_state_snapshot(), -1 if absent */
    uint64_t hash;             /* of its serialized JSON: equal = unchanged */
    void *rec;                 /* the block holding it all (refcounted) */
} sdk_flag;

/* True when an override of variant `variant` in variant list `list` of
 * `f` (0: the flag's own variants; k + 1: strategy k's) names the caller:
 * `field(ud, contextName)` returns the caller's value of a context field
 * (an absent vx_str when it has none). */
bool sdk_flag_overridden(const sdk_flag *f, size_t list, vx_str variant,
                         vx_str (*field)(const void *ud, const char *name),
                         const void *ud);

/* Which flags a caller sees and how the document is shaped. Strings are
 * borrowed for the call. */
typedef struct sdk_scope {
    const char *projects;    /* "*" or "a,b": the token's projects */
    const char *project;     /* ?project= filter (may be "a,b"), or NULL */
    const char *name_prefix; /* ?namePrefix=, or NULL */
    const char *tag;         /* ?tag=type:value, or NULL */
    bool inline_segments;    /* old SDKs: segment constraints inlined, no
                                "segments" array */
} sdk_scope;

/* A response body from the cache: lives as long as the state. */
typedef struct sdk_body {
    const char *bytes; /* the body */
    size_t len;        /* its length */
    const char *etag;  /* strong ETag, quoted */
    bool gzipped;      /* Content-Encoding: gzip */
} sdk_body;

typedef vx_log_fn sdk_log_fn;

/* Builds the first state of every environment and starts the hub's thread
 * (and the watch thread when svc_watchable). `poll_ms`: the period of the
 * backstop revision check (0 = VX_LIMIT_SDK_POLL_MS). `svc` is borrowed and
 * must outlive the hub. */
vx_status sdk_hub_new(service *svc, unsigned poll_ms, sdk_log_fn log,
                      void *log_ud, sdk_hub **out, vx_error *err);

/* Ends every stream (their next read reports the end and their connections
 * are woken): call before stopping the listener, which waits for requests
 * in flight. */
void sdk_hub_close_streams(sdk_hub *h);

/* Stops the thread, ends every stream, frees. Clears `*h`; accepts NULL. */
void sdk_hub_free(sdk_hub **h);

/* Tells the hub the database changed (call after a committed write,
 * before answering it). Never waits: the next sdk_hub_acquire, from any
 * request that starts after this call, waits for a publish that includes
 * the change, so whoever saw the write answered reads it on every SDK
 * endpoint, and concurrent writers share one rebuild. */
void sdk_hub_kick(sdk_hub *h);

/* The current state of `env` (a new reference), or NULL when there is no
 * such environment. Release with sdk_state_release. */
sdk_state *sdk_hub_acquire(sdk_hub *h, const char *env);
void sdk_state_release(sdk_state *s); /* accepts NULL */

/* The revision at which this content was first published. */
int64_t sdk_state_revision(const sdk_state *s);
const vx_snapshot *sdk_state_snapshot(const sdk_state *s);
size_t sdk_state_flag_count(const sdk_state *s);
const sdk_flag *sdk_state_flag(const sdk_state *s, size_t i);
/* The flag named `name`, or NULL. */
const sdk_flag *sdk_state_find(const sdk_state *s, const char *name);

/* True when flag `f` is visible in `scope`. */
bool sdk_scope_match(const sdk_scope *scope, const sdk_flag *f);

/* The /api/client/features body for `scope`, built once per state and
 * scope and cached (at most VX_LIMIT_SDK_BODIES scopes per state; past
 * that the body is built into `arena` for this request only). `gzip`
 * asks for the compressed form. */
vx_status sdk_state_features_body(sdk_state *s, const sdk_scope *scope,
                                  bool gzip, vx_arena *arena,
                                  const sdk_body **out, vx_error *err);

/* The /api/client/delta body for a client at revision `since` (< 0: none,
 * a hydration), built into `arena`. `*body` is NULL when the client is up
 * to date (304). A revision the hub no longer remembers gets a
 * hydration. */
vx_status sdk_hub_delta(sdk_hub *h, sdk_state *s, int64_t since,
                        const sdk_scope *scope, vx_arena *arena, char **body,
                        size_t *len, vx_error *err);

/* ---- streaming subscribers ------------------------------------------------
 */

typedef struct sdk_sub sdk_sub;

/* Called on the hub's thread, with no hub lock held, when a subscriber has
 * something new to read (sdk_sub_read): wake the connection. */
typedef void (*sdk_wake_fn)(void *ud);

/* Subscribes to `env` with `scope` (copied), starting after revision
 * `since` (< 0: the first message is a hydration, "unleash-connected").
 * VX_ELIMIT past VX_LIMIT_SSE_CLIENTS. */
vx_status sdk_hub_subscribe(sdk_hub *h, const char *env, const sdk_scope *scope,
                            int64_t since, sdk_wake_fn wake, void *wake_ud,
                            sdk_sub **out, vx_error *err);

/* Copies up to `max` bytes of pending SSE text into `buf`: > 0 bytes, 0
 * when nothing is pending, -1 when the stream is over (hub stopping, or
 * the client fell too far behind). */
long sdk_sub_read(sdk_sub *sub, char *buf, size_t max);

/* Ends the subscription; the wake callback is not called after this
 * returns. Accepts NULL. */
void sdk_hub_unsubscribe(sdk_hub *h, sdk_sub *sub);

/* A fast 64-bit hash of `p[0..n)` (eight bytes a step): content identity
 * for ETags, flags and bodies. Not for anything an attacker may choose to
 * collide on purpose beyond a stale cache. */
uint64_t sdk_hash64(const void *p, size_t n, uint64_t seed);
#define SDK_HASH_SEED 0xcbf29ce484222325ull

/* Counters for /metrics. */
typedef struct sdk_stats {
    int64_t rebuilds;      /* states rebuilt */
    int64_t subscribers;   /* streaming connections now */
    int64_t revision;      /* newest revision published */
    double last_build_sec; /* duration of the last rebuild */
} sdk_stats;
void sdk_hub_stats(sdk_hub *h, sdk_stats *out);

#endif
