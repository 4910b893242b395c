/* libvexil: in-process feature-flag evaluation with the Unleash semantics.
 *
 * A flag set (the Unleash client-features document) is compiled once into an
 * immutable, reference-counted vx_snapshot. Any number of threads evaluate
 * against a snapshot at once without locks and without allocating; the
 * owner publishes a new snapshot through a vx_engine, and readers that still
 * hold the old one keep it alive until they release it.
 *
 * Evaluation never reads the clock or a random source of its own: "now" and
 * randomness come in through vx_context. */
#ifndef VEXIL_VEXIL_H
#define VEXIL_VEXIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vexil/status.h"
#include "vexil/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A borrowed byte string. `ptr == NULL` means "absent"; a present value may
 * be empty (`len == 0`). Not NUL-terminated in general. */
typedef struct vx_str {
    const char *ptr; /* borrowed; NULL = absent */
    size_t len;      /* bytes */
} vx_str;

/* One custom context field (`properties` in the Unleash context). */
typedef struct vx_prop {
    vx_str key;   /* field name */
    vx_str value; /* field value; absent (ptr NULL) = treated as missing */
} vx_prop;

/* Caller-supplied randomness, used only by the `random` stickiness and the
 * gradualRolloutRandom strategy. Returns any uint32_t. */
typedef uint32_t (*vx_random_fn)(void *ud);

/* Marks vx_context.now_ms as "not a valid time": DATE_* constraints are
 * then false, as they are for an unparseable currentTime in the SDKs. */
#define VX_TIME_INVALID INT64_MIN

/* The evaluation context, filled in by the caller; every string is borrowed
 * for the duration of the call only. Zero-initialise, then set what you
 * have. */
typedef struct vx_context {
    vx_str user_id;        /* userId */
    vx_str session_id;     /* sessionId */
    vx_str remote_address; /* remoteAddress */
    vx_str environment;    /* environment */
    vx_str app_name;       /* appName */
    vx_str current_time;  /* currentTime as given (for constraints naming it) */
    int64_t now_ms;       /* currentTime in ms since the epoch (UTC), or
                             VX_TIME_INVALID; the caller supplies "now"
                             when the context has no currentTime */
    const vx_prop *props; /* custom fields, `nprops` of them; may be NULL */
    size_t nprops;        /* count of props */
    vx_random_fn random;  /* may be NULL: then every random draw is 0 */
    void *random_ud;      /* passed to `random` */
    vx_str hostname;      /* this process's host name, for the
                             applicationHostname strategy; absent = none */
} vx_context;

/* The result of get_variant: the Unleash SDK's getVariant answer. Strings
 * point into the snapshot (or static storage) and stay valid while the
 * caller holds the snapshot. */
typedef struct vx_variant {
    vx_str name;          /* variant name, "disabled" when none applies */
    bool enabled;         /* a real variant was chosen */
    bool feature_enabled; /* the flag itself evaluated to on */
    vx_str payload_type;  /* "string", "json", "csv", "number"; absent = no
                             payload */
    vx_str payload_value; /* always a string, as on the wire */
} vx_variant;

/* ---- snapshots ------------------------------------------------------- */

typedef struct vx_snapshot vx_snapshot;

/* Receives non-fatal findings while loading (an unknown strategy or
 * operator, accepted for forward compatibility). `path` is a JSON pointer,
 * `line`/`column` locate it (0 = unknown). Called on the loading thread. */
typedef void (*vx_warn_fn)(void *ud, const char *path, uint32_t line,
                           uint32_t column, const char *message);

typedef struct vx_load_options {
    vx_warn_fn warn; /* may be NULL */
    void *warn_ud;   /* passed to warn */
} vx_load_options;

/* Compiles an Unleash client-features document (`{"version", "features",
 * "segments"}`) or a delta body (`{"events": [...]}`, applied to an empty
 * state) from `json[0..len)`. On success stores a new snapshot holding one
 * reference in `*out`. On failure returns VX_EPARSE, VX_ESCHEMA, VX_ELIMIT or
 * VX_ENOMEM, leaves `*out` NULL and fills `err` (may be NULL). `opts` may be
 * NULL. Thread-safe. */
VX_API vx_status vx_snapshot_load(const char *json, size_t len,
                                  const vx_load_options *opts,
                                  vx_snapshot **out, vx_error *err);

/* Applies a delta body (`{"events": [...]}`: hydration, feature-updated,
 * feature-removed, segment-updated, segment-removed) to `base` (which may be
 * NULL for the empty state) and stores the resulting new snapshot in `*out`.
 * `base` is not modified; unchanged flags are shared with it. Errors as for
 * vx_snapshot_load: on any error nothing is produced. */
VX_API vx_status vx_snapshot_apply_delta(const vx_snapshot *base,
                                         const char *json, size_t len,
                                         const vx_load_options *opts,
                                         vx_snapshot **out, vx_error *err);

/* Takes another reference; returns `s`. Thread-safe; `s` may be NULL. */
VX_API vx_snapshot *vx_snapshot_ref(vx_snapshot *s);

/* Drops one reference; the last one frees the snapshot. Accepts NULL. */
VX_API void vx_snapshot_unref(vx_snapshot *s);

/* Number of flags, and the name of flag `i` (document order, 0-based).
 * vx_snapshot_flag_name returns an absent vx_str for i out of range. */
VX_API size_t vx_snapshot_flag_count(const vx_snapshot *s);
VX_API vx_str vx_snapshot_flag_name(const vx_snapshot *s, size_t i);

/* Index of the flag named `name[0..len)`, or -1 when there is none. */
VX_API int64_t vx_snapshot_flag_index(const vx_snapshot *s, const char *name,
                                      size_t len);

/* ---- evaluation: no allocation, no lock, no I/O ----------------------- */

/* Per-thread working memory for evaluation (REGEX match state: the match
 * block, the cost limits, the JIT stack and the backtracking memory, about
 * 2 MiB of address space that is touched only as searches need it). With a
 * scratch, evaluation never allocates. Optional: with a NULL scratch, each
 * REGEX search sets up a temporary one (same answers, much slower). A
 * scratch is used by one thread at a time. */
typedef struct vx_scratch vx_scratch;
VX_API vx_scratch *vx_scratch_new(void);
VX_API void vx_scratch_free(vx_scratch *sc);

/* The SDK's isEnabled: false for an unknown flag. `s` must not be NULL;
 * `sc` may be NULL. */
VX_API bool vx_is_enabled(const vx_snapshot *s, vx_scratch *sc,
                          const char *name, size_t len, const vx_context *ctx);

/* The SDK's getVariant; writes the answer to `*out` (never fails: an
 * unknown flag gives "disabled", feature_enabled false). */
VX_API void vx_get_variant(const vx_snapshot *s, vx_scratch *sc,
                           const char *name, size_t len, const vx_context *ctx,
                           vx_variant *out);

/* The same two calls by flag index (see vx_snapshot_flag_index), for hot
 * loops that resolve names once. An out-of-range index is an unknown flag. */
VX_API bool vx_is_enabled_at(const vx_snapshot *s, vx_scratch *sc, size_t i,
                             const vx_context *ctx);
VX_API void vx_get_variant_at(const vx_snapshot *s, vx_scratch *sc, size_t i,
                              const vx_context *ctx, vx_variant *out);

/* Both answers from one walk of the flag: returns what vx_is_enabled would
 * and writes what vx_get_variant would to `*out` (the return value equals
 * out->feature_enabled). The same as the two calls in a row, at about half
 * the cost, except that a `random` stickiness draws once instead of twice. */
VX_API bool vx_evaluate(const vx_snapshot *s, vx_scratch *sc, const char *name,
                        size_t len, const vx_context *ctx, vx_variant *out);
VX_API bool vx_evaluate_at(const vx_snapshot *s, vx_scratch *sc, size_t i,
                           const vx_context *ctx, vx_variant *out);

/* ---- explanation: why is this flag on? ---------------------------------- */

/* Callbacks for vx_explain; any may be NULL. Indexes count the strategies of
 * the flag as loaded (document order) and, within one strategy, its own
 * constraints in order. */
typedef struct vx_explain_ops {
    void (*strategy)(void *ud, size_t strategy, bool result);
    void (*constraint)(void *ud, size_t strategy, size_t constraint,
                       bool result);
    void (*segment)(void *ud, size_t strategy, int64_t segment_id,
                    bool result); /* result of all its constraints; false
                                     when the segment does not exist */
    void *ud;                     /* passed to every callback */
} vx_explain_ops;

/* Evaluates every strategy of flag `name` for `ctx` without stopping at the
 * first match, reporting each constraint, segment and strategy result.
 * Returns false when there is no such flag. No allocation. */
VX_API bool vx_explain(const vx_snapshot *s, vx_scratch *sc, const char *name,
                       size_t len, const vx_context *ctx,
                       const vx_explain_ops *ops);

/* Why one strategy is on or off for a context, as vx_explain_strategy
 * finds it: the first check that failed, in the order evaluation makes
 * them (constraints, segments, then the strategy's own rule). */
typedef enum vx_reason_kind {
    VX_REASON_MATCH,            /* every check passed: the strategy is on */
    VX_REASON_CONSTRAINT,       /* constraint `index` does not hold */
    VX_REASON_SEGMENT,          /* segment `index` (its id) does not match,
                                   or does not exist */
    VX_REASON_OUTSIDE_ROLLOUT,  /* `bucket` is above `percentage` */
    VX_REASON_NO_STICKINESS,    /* the context lacks the `stickiness` field
                                   the rollout hashes */
    VX_REASON_NOT_LISTED,       /* userWithId, remoteAddress,
                                   applicationHostname: the context's value
                                   is not in the list (or is absent) */
    VX_REASON_UNKNOWN_STRATEGY, /* a strategy libvexil does not implement */
} vx_reason_kind;

typedef struct vx_strategy_reason {
    vx_reason_kind kind; /* see above */
    int64_t index;       /* CONSTRAINT: its index; SEGMENT: the segment id */
    double percentage;   /* rollout strategies: the rollout, else -1 */
    uint32_t bucket;     /* rollout strategies: the context's bucket, 1-100
                            (gradualRolloutRandom: the draw), 0 when no
                            bucket was computed */
    vx_str stickiness;   /* rollout strategies: the field hashed ("userId",
                            "sessionId", a property name) or "random";
                            a static or snapshot string, else absent */
} vx_strategy_reason;

/* Explains strategy `strategy` (vx_explain's index) of flag `name` for
 * `ctx` into `*out`. A rollout with `random` stickiness draws once from
 * ctx->random, so its bucket is that draw's, not another call's. Returns
 * false (and leaves `*out` alone) when there is no such flag or strategy.
 * No allocation; `out->stickiness` borrows from the snapshot. */
VX_API bool vx_explain_strategy(const vx_snapshot *s, vx_scratch *sc,
                                const char *name, size_t len, size_t strategy,
                                const vx_context *ctx, vx_strategy_reason *out);

/* ---- operators: what a constraint may say ------------------------------- */

/* True when `op` is an operator libvexil implements ("IN", "SEMVER_GT"...). */
VX_API bool vx_operator_known(const char *op, size_t len);

/* True when the operator takes a list (`values`) rather than one `value`. */
VX_API bool vx_operator_takes_list(const char *op, size_t len);

/* True when `value` is meaningful for `op`: a number for NUM_*, an ISO-8601
 * time for DATE_*, strict semver for SEMVER_*, an RE2-compatible pattern
 * for REGEX (compiled, so it allocates), an IP or CIDR for IN_CIDR; any
 * string for the others. */
VX_API bool vx_operator_value_ok(const char *op, size_t oplen,
                                 const char *value, size_t len);

/* ---- engine: the owner's slot for the current snapshot ----------------- */

typedef struct vx_engine vx_engine;

/* A slot holding the current snapshot (initially none). */
VX_API vx_engine *vx_engine_new(void);

/* Frees the engine and drops its reference to the current snapshot.
 * Accepts NULL. No reader may be inside vx_engine_acquire. */
VX_API void vx_engine_free(vx_engine *e);

/* Returns a new reference to the current snapshot (NULL if none). Release
 * it with vx_snapshot_unref. Thread-safe with concurrent swaps. */
VX_API vx_snapshot *vx_engine_acquire(vx_engine *e);

/* Publishes `s`, taking over the caller's reference to it, and drops the
 * engine's reference to the previous snapshot. Thread-safe. */
VX_API void vx_engine_swap_take(vx_engine *e, vx_snapshot *s);

/* ---- contexts from JSON (tools, tests, benchmarks) --------------------- */

/* A parsed JSON array of Unleash SDK contexts (or one context object).
 * Owns every string its contexts point to. */
typedef struct vx_context_set vx_context_set;

/* Parses `json[0..len)`: an array of context objects, or a single object.
 * Field values must be strings (or null = absent); `currentTime` must be an
 * ISO-8601 date or date-time. A context without currentTime gets `now_ms`.
 * Errors as for vx_snapshot_load. */
VX_API vx_status vx_context_set_parse(const char *json, size_t len,
                                      int64_t now_ms, vx_context_set **out,
                                      vx_error *err);
VX_API size_t vx_context_set_count(const vx_context_set *cs);
/* Context `i` (borrowed from the set), NULL when out of range. */
VX_API const vx_context *vx_context_set_get(const vx_context_set *cs, size_t i);
VX_API void vx_context_set_free(vx_context_set *cs);

/* Parses an ISO-8601 / RFC 3339 date or date-time (`2024-05-01`,
 * `2024-05-01T10:00:00Z`, with fraction and `+02:00` offset; no offset means
 * UTC) into ms since the epoch. Returns false when `s` is not one. */
VX_API bool vx_time_parse(const char *s, size_t len, int64_t *out_ms);

/* ---- hashing ----------------------------------------------------------- */

/* MurmurHash3 x86 32-bit over `data[0..len)` with `seed`. */
VX_API uint32_t vx_murmur3_32(const void *data, size_t len, uint32_t seed);

#ifdef __cplusplus
}
#endif
#endif
