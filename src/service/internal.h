/* Shared by the service's source files; not part of the service API.
 *
 * A call runs as: authorize (op table) -> lock -> begin -> handler ->
 * commit (or rollback) -> unlock. Handlers read and write documents through
 * the store and record audit events with svc__audit; they never commit. */
#ifndef VX_SERVICE_INTERNAL_H
#define VX_SERVICE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/error.h"
#include "base/limits.h"
#include "guard/bucket.h"
#include "guard/plan.h"
#include "service/service.h"
#include "store/store.h"

struct service {
    pthread_mutex_t mu;             /* serialises every store access */
    pthread_mutex_t queue;          /* svc__lock's callers line up here
                                       first, so that the SDK hub's reads
                                       and token checks, which take mu
                                       directly, compete with one of them
                                       at a time, not with every writer */
    atomic_int hub_waiting;         /* SDK hub reads waiting for mu: the next
                                       svc__lock waits until they have it */
    store *st;                      /* the open database */
    const store_ops *ops;           /* its backend */
    svc_log_fn log;                 /* may be NULL */
    void *log_ud;                   /* passed to log */
    atomic_llong db_errors;         /* failed store calls (VX_EIO) */
    atomic_llong flags_active;      /* kept current by feature handlers */
    atomic_llong flags_archived;    /* idem */
    atomic_llong generation;        /* bumped by every committed write to
                                       tokens and by svc_invalidate: stamps
                                       cached tokens */
    pthread_mutex_t cache_mu;       /* guards tokens[] */
    struct svc_token_slot **tokens; /* SVC_TOKEN_CACHE slots, each NULL
                                        until used (sdk.c) */
    uint64_t token_tick;         /* cache uses so far (least recently used) */
    int64_t usage_swept_hour;    /* usage buckets older are gone (under mu) */
    int64_t batch_swept_hour;    /* impact batch ids older are gone (mu) */
    int64_t impact_compacted_ms; /* last downsampling of impact (mu) */
    svc_commit_fn on_commit;     /* svc_set_commit_hook, may be NULL */
    void *on_commit_ud;          /* passed to on_commit */
    vx_egress *egress;           /* the operator's allowlists (egress.c) */
    /* The database's health (health.c): */
    pthread_mutex_t health_mu;    /* guards health */
    svc_health health;            /* what /ready reports */
    atomic_llong fast_fail_until; /* monotonic ms: calls fail at once with
                                     health's reason (after a call that
                                     spent long failing) */
    int db_timeout_ms;            /* store_limits.timeout_ms */
    /* Token lookups on request threads (svc__token_lookup): */
    atomic_bool lookup_waiting;     /* one request thread waits for mu */
    atomic_llong lookup_busy_until; /* monotonic ms: lookups only try mu
                                       (after a wait for it ran out) */
    struct svc_reports *reports;    /* buffered SDK reports (reports.c) */
    json_t *flag_index;             /* feature_list.c: every flag's summary,
                                       or NULL (under mu) */
    int64_t flag_index_rev;         /* the revision it was read at (mu) */
    /* Edge nodes (edge.c): */
    struct svc_edge_seen *edge_seen; /* batches seen */
};

/* One call in progress. */
typedef struct svc_ctx {
    service *s;               /* the service */
    const svc_principal *who; /* the caller */
    const svc_req *req;       /* the request */
    vx_error *err;            /* where errors go (never NULL here) */
    int64_t now_ms;           /* the call's time, read once */
    json_t *warnings;         /* svc__warn: [{path, message}] or NULL; added
                                 to an object answer, freed by svc__run */
    bool rollback;            /* set by a handler: roll back even on success
                                 (a dry run); nothing is committed */
    json_t *forget;           /* svc__token_forget: keys of tokens whose
                                 cached entries go once committed, or NULL;
                                 freed by svc__run */
} svc_ctx;

typedef vx_status (*svc_handler)(svc_ctx *c, json_t **out);

/* Takes and releases the service mutex for the use cases (svc__run and
 * the few reads outside it). Callers queue behind one another first, and
 * the first in the queue lets a waiting SDK hub read (sdk.c) go before it;
 * token lookups and the health probe take s->mu directly. So what SDKs are
 * served waits for one use case at most, however many queue. */
void svc__lock(service *s);
void svc__unlock(service *s);

/* One unit of work of the service, and the only place a transaction begins
 * and ends: takes the service mutex, begins a transaction when `changes` is
 * not 0 (a write), runs `fn(c, ud)`, and commits; on any error, the
 * commit's included, rolls back, so nothing is written. A committed write
 * that may change tokens bumps the generation (stamping cached tokens; other
 * writes leave them valid, so SDK requests keep authenticating from memory
 * under a stream of flag changes), and every committed write calls the
 * commit hook with `changes`
 * after the mutex is released. `req` may be NULL (internal calls); `now`
 * is the call's time. */
typedef vx_status (*svc_unit_fn)(svc_ctx *c, void *ud);
vx_status svc__run(service *s, const svc_principal *who, const svc_req *req,
                   int64_t now, unsigned changes, vx_error *err, svc_unit_fn fn,
                   void *ud);

/* ---- store access that counts database errors ---------------------------- */
vx_status svc__get(svc_ctx *c, store_kind k, const char *key, json_t **out);
vx_status svc__put(svc_ctx *c, store_kind k, const char *key,
                   const char *parent, const json_t *doc);
vx_status svc__del(svc_ctx *c, store_kind k, const char *key);
vx_status svc__list(svc_ctx *c, store_kind k, const char *parent, json_t **out);

/* Appends the audit event of this call (created_by = caller's name). */
vx_status svc__audit(svc_ctx *c, const char *type, const char *project,
                     const char *environment, const char *feature,
                     const json_t *data, const json_t *pre_data);

/* svc_client_register and svc_client_metrics as if the post had arrived
 * at `at_ms` (an edge node forwards what it received then; sdk.c). */
vx_status svc__client_register_at(service *s, const svc_principal *who,
                                  const json_t *body, int64_t at_ms,
                                  vx_error *err);
vx_status svc__client_metrics_at(service *s, const svc_principal *who,
                                 const json_t *body, int64_t at_ms,
                                 vx_error *err);
/* The batch ids edges forwarded (edge.c). */
vx_status svc__edge_init(service *s);
void svc__edge_release(service *s);

/* ---- errors ----------------------------------------------------------------
 */
vx_status svc__fail(svc_ctx *c, vx_status st, const char *path, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
/* "flag 'x' not found" style 404. */
vx_status svc__not_found(svc_ctx *c, const char *what, const char *name);
/* Records a warning about accepted input ({path, message}); the answer of
 * the call carries them as "warnings" when it is an object. */
void svc__warn(svc_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- time, ids
 * --------------------------------------------------------------- */
/* RFC 3339 with milliseconds, UTC, as a new JSON string. */
json_t *svc__time_json(int64_t ms);
void svc__time_str(int64_t ms, char buf[32]);
/* "2026-11-30T04" for the hour holding `ms` (UTC): the key prefix of the
 * hourly documents (usage, impact batch ids). */
void svc__hour_str(int64_t ms, char out[16]);
/* Called with each document listed under `hour`; `doc` is borrowed. */
typedef vx_status (*svc_hour_fn)(svc_ctx *c, void *ud, const char *hour,
                                 json_t *doc);
/* Calls `fn` for every document of `kind` filed under the hours
 * [from_h, to_h) (hours since the epoch), as svc__list finds them by the
 * hour's prefix. Stops at the first error and returns it. */
vx_status svc__each_hour(svc_ctx *c, store_kind kind, int64_t from_h,
                         int64_t to_h, svc_hour_fn fn, void *ud);
/* A random UUID v4 (libsodium). */
void svc__uuid(char out[37]);

/* ---- validation (validate.c) ----------------------------------------------
 */
/* A name as docs/admin-api.md defines it; `path` names the field. */
vx_status svc__check_name(svc_ctx *c, const json_t *v, const char *path,
                          const char *what);
bool svc__name_ok(const char *s);
/* Optional typed members of a body object: wrong types fail with the path. */
vx_status svc__opt_string(svc_ctx *c, const json_t *obj, const char *key,
                          const char *base, const char **out);
vx_status svc__opt_bool(svc_ctx *c, const json_t *obj, const char *key,
                        const char *base, int *out /* -1 absent */);
vx_status svc__expect_object(svc_ctx *c, const json_t *v, const char *path);
vx_status svc__expect_array(svc_ctx *c, const json_t *v, const char *path,
                            size_t max);
/* Normalised copies (new references) of client input, or an error. */
vx_status svc__norm_constraints(svc_ctx *c, const json_t *arr, const char *path,
                                json_t **out);
vx_status svc__norm_variants(svc_ctx *c, const json_t *arr, const char *path,
                             const char *default_stickiness, json_t **out);
vx_status svc__norm_strategy(svc_ctx *c, const json_t *in, const char *path,
                             const char *flag, json_t **out);

/* ---- strategy definitions (strategies.c) ---------------------------------
 */
/* True for the strategies libvexil evaluates (flexibleRollout, default...). */
bool svc__strategy_builtin(const char *name);
/* The stored definition of custom strategy `name` (new reference), or an
 * error at `path`: "unknown strategy" (VX_EINVAL) when none is defined. */
vx_status svc__strategy_def(svc_ctx *c, const char *name, const char *path,
                            json_t **out);
/* Checks the (already stringified) `params` of a strategy against custom
 * definition `def`: required parameters present and not blank, and the
 * typed ones (percentage, number, boolean) well-formed. `path` names the
 * parameters object ("/parameters"). */
vx_status svc__strategy_params_check(svc_ctx *c, const json_t *def,
                                     const json_t *params, const char *path);
/* The parameter list of a definition body, validated into its stored form
 * (a new array of {name, type, description, required}); errors name
 * `base` + "/parameters/...". */
vx_status svc__strategy_def_params(svc_ctx *c, const json_t *in,
                                   const char *base, json_t **out);
/* ---- the database's health (health.c) --------------------------------------
 * Every call that fails with VX_EUNAVAILABLE marks the database down with
 * its reason; a committed write or a passing health check marks it up. A
 * call that spent at least VX_LIMIT_DB_RECONNECT_STEP_MS failing (a
 * timeout, a reconnection that does not finish) makes the calls of the
 * next VX_LIMIT_DB_RETRY_MS fail at once, so work queued behind it does
 * not pay the same wait again; then one call tries again. */
void svc__health_init(service *s);
void svc__health_release(service *s);
/* Records the outcome of a store call that took `spent_ms`. */
void svc__db_outcome(service *s, vx_status st, const vx_error *err,
                     int64_t spent_ms);
/* A committed write: the database answers and stores. */
void svc__db_up(service *s);
/* VX_EUNAVAILABLE with the last reason while calls fail fast, else VX_OK. */
vx_status svc__db_gate(service *s, vx_error *err);

/* ---- SDK reports kept in memory until flushed (reports.c) ---------------- */
vx_status svc__reports_init(service *s);
void svc__reports_release(service *s);
/* Adds the counts of one validated metrics bucket of `who`'s environment
 * (`toggles` as SDKs send them, counted in the minute of `start_ms`):
 * all of it, or nothing and VX_EUNAVAILABLE when the buffer is full. */
vx_status svc__reports_add_usage(service *s, const svc_principal *who,
                                 const char *app, const json_t *toggles,
                                 int64_t start_ms, int64_t now_ms,
                                 vx_error *err);
/* Keeps the newest registration `doc` (borrowed) of `key`
 * (env|app|instance); VX_EUNAVAILABLE when the buffer is full. */
vx_status svc__reports_add_app(service *s, const char *key, const json_t *doc,
                               vx_error *err);
/* True when something waits to be flushed. */
bool svc__reports_pending(service *s);
/* The writes of one flush (sdk.c): an application instance, one usage
 * entry ({env, app, flag, minute, at, yes, no, variants}), and the end. */
vx_status svc__report_app(svc_ctx *c, const char *key, const json_t *doc);
vx_status svc__report_usage(svc_ctx *c, const json_t *entry);
vx_status svc__report_sweep(svc_ctx *c);

/* ---- tokens and caches (service.c, sdk.c) ---------------------------------
 */
vx_status svc__token_lookup(service *s, const char key[65], svc_principal *who,
                            int64_t *expires_ms, vx_error *err);
/* A write that changes or revokes the token whose hash is `key` calls this:
 * once the write commits, its cache entry is dropped (not only marked
 * stale), so no lookup that cannot run (database busy or down) lets the
 * old token in from the cache. */
void svc__token_forget(svc_ctx *c, const char *key);
void svc__token_cache_drop(service *s, const char key[65]);
/* Fills `who` and `*expires_ms` from a token document (no checks). */
void svc__token_principal(const json_t *doc, svc_principal *who,
                          int64_t *expires_ms);
/* The token whose secret hashes to `key` (hex SHA-256: svc__token_key), as
 * svc_authenticate checks it: VX_EAUTH when unknown, revoked or expired
 * (then `*expired`, which may be NULL, says which). */
void svc__token_key(const char *secret, size_t len, char key[65]);
vx_status svc__token_check(service *s, const char key[65], svc_principal *who,
                           bool *expired, vx_error *err);
void svc__token_cache_put(service *s, const char key[65],
                          const svc_principal *who, int64_t expires_ms,
                          long long generation);
/* A cached token; `stale_ok` also accepts an entry from before the latest
 * write (only while the database cannot be reached). */
bool svc__token_cache_get(service *s, const char key[65], bool stale_ok,
                          svc_principal *who, int64_t *expires_ms);
vx_status svc__token_cache_init(service *s);
void svc__token_cache_release(service *s);

/* ---- handlers, one file per area ----------------------------------------- */
#define SVC__DECL(name) vx_status svc__op_##name(svc_ctx *c, json_t **out);
SVC_OP_MAP(SVC__DECL)
#undef SVC__DECL

/* Feature helpers shared by several files (features.c). */
vx_status svc__feature_load(svc_ctx *c, const char *project, const char *name,
                            bool allow_archived, json_t **out);
vx_status svc__feature_save(svc_ctx *c, json_t *feature);
json_t *svc__feature_env(json_t *feature, const char *env); /* borrowed */
/* The API view of stored flag `f` given every environment (new document). */
json_t *svc__feature_view(svc_ctx *c, const json_t *f, const json_t *envs);
/* Flag lists sorted, filtered and paged by the query (feature_list.c):
 * true when the query asks for any of it; then svc__feature_page answers
 * {version, features, total} for `project` (NULL: all) and `archived`. */
bool svc__feature_list_paged(const json_t *query);
vx_status svc__feature_page(svc_ctx *c, const char *project, bool archived,
                            json_t **out);
/* The live (not archived) flags of `project`, counted from the cached
 * summaries; -1 when the database cannot tell. Read-only calls only. */
int64_t svc__flag_count(svc_ctx *c, const char *project);
/* The Unleash client-features document of `env` (playground, SDK APIs).
 * `what` may add each strategy's id (SVC_DOC_IDS; the SDK APIs leave it
 * out, as Unleash does: old Go SDKs break on it) and each flag's tags
 * (SVC_DOC_TAGS, for the SDK endpoints' tag filter). */
#define SVC_DOC_IDS  1u
#define SVC_DOC_TAGS 2u
vx_status svc__client_document(svc_ctx *c, const char *env, unsigned what,
                               json_t **out);
/* The same for every environment in `envs` (a JSON array of names) from
 * one read of the flags: `*out` is {env: document}. */
vx_status svc__client_documents(svc_ctx *c, const json_t *envs, unsigned what,
                                json_t **out);
/* One flag's client object in `env` (a new reference), NULL when archived;
 * and the client form of the stored segments (a new array). */
json_t *svc__client_feature(const json_t *f, const char *env, unsigned what);
json_t *svc__client_segments(const json_t *segs);

/* ---- egress and model payloads (egress.c) ------------------------------
 * A webhook URL (`path` names the field); a model flag about to be stored
 * (its added or changed upstream payloads, each against the gateway's
 * schema, base/upstream.h, and the operator's allowlists), against the
 * flag as stored (`before`, NULL for a new one; svc__model_check_save
 * loads it), paths after `base`. VX_EINVAL (VX_ELIMIT for a member too
 * long) naming the member, e.g. "/0/payload/value/timeout_ms". */
vx_status svc__egress_check_url(svc_ctx *c, const char *url, const char *path);
vx_status svc__model_check_flag(svc_ctx *c, const json_t *feature,
                                const json_t *before, const char *base);
vx_status svc__model_check_save(svc_ctx *c, const json_t *feature);

/* Whether `who` may touch a flag of `project` (scope.c): "*" or an
 * in-process caller's empty list, else a whole name of its list. */
bool svc__in_scope(const svc_principal *who, const char *project);

/* Runs fn(c) for `who` with `body` in one write transaction (sdk.c). */
vx_status svc__in_txn(service *s, const svc_principal *who, const json_t *body,
                      vx_error *err, vx_status (*fn)(svc_ctx *c));

/* Impact metrics (impact.c). svc__impact_sdk counts one flag's SDK usage
 * ({yes, no, variants}) as exposures of the minute holding `at_ms` in
 * c->who's environment. svc__impact_tag is the bucket tag ("run|epoch") of
 * data measured at `at_ms` for (env, flag): the live plan's epoch in force
 * then, or "|" when no plan runs or the data predates its run.
 * svc__impact_compact downsamples (minutes -> hours) and drops what is past
 * retention. */
vx_status svc__impact_sdk(svc_ctx *c, const char *flag, const json_t *tv,
                          int64_t at_ms);
vx_status svc__impact_tag(svc_ctx *c, const char *env, const char *flag,
                          int64_t at_ms, char *tag, size_t cap);
vx_status svc__impact_compact(svc_ctx *c);
/* The guard counts of one stored bucket (SDK exposures stand in for
 * requests when the application reported none for it). */
void svc__impact_counts(const json_t *doc, guard_counts *out);

/* The impact buckets of one flag in one environment summed per (arm label,
 * epoch): of plan run `run` over its `n_epochs` epochs, or, with run NULL,
 * the buckets of no plan run that start at or after `since_s`, as one
 * epoch. Labels are "disabled" (the control), variants and "enabled", at
 * most SVC_ARMS_MAX_LABELS (buckets of further labels are counted in
 * `dropped`). Per-group sums (guard_cluster) are kept when any bucket has
 * them, latency sketches when `sketches`. Heap-owned: release with
 * svc__impact_arms_release (also after an error). */
#define SVC_ARMS_MAX_LABELS 16
typedef struct svc_arms {
    size_t n_epochs;                      /* >= 1 */
    size_t n_labels;                      /* <= SVC_ARMS_MAX_LABELS */
    char label[SVC_ARMS_MAX_LABELS][128]; /* arm labels, in first-seen order */
    guard_counts *counts;   /* [n_labels * n_epochs], label-major */
    guard_cluster *groups;  /* the same, or NULL: no unit was reported */
    guard_sketch *sketches; /* the same, or NULL */
    size_t dropped;         /* buckets of labels past the limit */
} svc_arms;
vx_status svc__impact_arms(svc_ctx *c, const char *env, const char *flag,
                           const char *run, size_t n_epochs, int64_t since_s,
                           bool sketches, svc_arms *out);
void svc__impact_arms_release(svc_arms *a);
/* The index of `label` in `a`, or -1. */
int svc__impact_arm(const svc_arms *a, const char *label);

/* ---- the one gate for flag data (gate.c) ----------------------------------
 * Limits come from the flag-data table of base/limits.h, which libvexil's
 * loader reads too; a refusal is VX_ELIMIT at `path` with the limit named. */
/* `n` over limit `id`. */
vx_status svc__gate_count(svc_ctx *c, const char *path, vx_flag_limit id,
                          size_t n);
/* `v` is an array (else VX_EINVAL) within limit `id`. */
vx_status svc__gate_array(svc_ctx *c, const json_t *v, const char *path,
                          vx_flag_limit id);
/* Room for one more flag (k STORE_FEATURE; archived ones do not count) or
 * segment (STORE_SEGMENT) in what SDKs are served. */
vx_status svc__gate_room(svc_ctx *c, store_kind k, const char *path);
/* A strategy's constraints with those of the segments it uses (stored)
 * inlined, as SDKs older than client spec 4.2.0 get them, within limit. */
vx_status svc__gate_inlined(svc_ctx *c, const json_t *constraints,
                            const json_t *segments, const char *path);
/* The last line before a flag write commits: feature document `f` loads in
 * libvexil, in every environment, as the SDK state compiles it (and with
 * segments inlined). Refused (VX_ELIMIT or VX_EINVAL at "") unless the
 * stored version did not load either. */
vx_status svc__gate_feature(svc_ctx *c, const json_t *f);
/* The same for segment `seg` (stored form, with its id) about to be
 * written: alone, and inlined into every live flag that uses it; `pre` is
 * its stored version (NULL when new). Errors at `path`. */
vx_status svc__gate_segment(svc_ctx *c, const json_t *seg, const json_t *pre,
                            const char *path);
/* Everything stored (every segment, every live flag, each environment's
 * whole document) loads in libvexil: for copying a database elsewhere. */
vx_status svc__gate_stored(svc_ctx *c);

/* Release plans (plans.c). svc__plan_strategy_write is called before a
 * write to strategy `strategy_id` of the request's flag and environment:
 * VX_OK when no live plan controls it, when its plan is paused, or when
 * the query says pausePlan=true (the plan is then paused, audited, in the
 * same transaction); else VX_ECONFLICT naming the plan.
 * svc__plan_annotate adds each environment's release plan to a flag view
 * ("releasePlan": state, percent, guard, status, lastDecision); on a
 * database error the view stays as it was. */
vx_status svc__plan_strategy_write(svc_ctx *c, const char *strategy_id);
void svc__plan_annotate(svc_ctx *c, json_t *view);

/* JSON Patch (RFC 6902) applied to a copy of `doc`; errors name the
 * operation's index ("/2/path"). */
vx_status svc__json_patch(svc_ctx *c, const json_t *doc, const json_t *patch,
                          json_t **out);
/* A check of a patched document; its error path points into that
 * document. */
typedef vx_status (*svc_patch_check)(svc_ctx *c, const json_t *patched,
                                     void *ud);
/* After `check` refused the result of `patch` on `doc` (c->err says why),
 * makes c->err->path a pointer into the request: the operation that brought
 * the offending value in ("/2"), inside its value when the error is there
 * ("/2/value/overrides/0/contextName"). Leaves the path as it is when no
 * single operation is to blame. */
void svc__json_patch_blame(svc_ctx *c, const json_t *doc, const json_t *patch,
                           svc_patch_check check, void *ud);

#endif
