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
#include "guard/bucket.h"
#include "service/service.h"
#include "store/store.h"

struct service {
    pthread_mutex_t mu;            /* serialises every store access */
    store *st;                     /* the open database */
    const store_ops *ops;          /* its backend */
    svc_log_fn log;                /* may be NULL */
    void *log_ud;                  /* passed to log */
    atomic_llong db_errors;        /* failed store calls (VX_EIO) */
    atomic_llong flags_active;     /* kept current by feature handlers */
    atomic_llong flags_archived;   /* idem */
    atomic_llong generation;       /* bumped by every committed write and by
                                      svc_invalidate: stamps cached tokens */
    pthread_mutex_t cache_mu;      /* guards tokens[] */
    struct svc_token_slot *tokens; /* SVC_TOKEN_CACHE slots (sdk.c) */
    int64_t usage_swept_hour;      /* usage buckets older are gone (under mu) */
    int64_t batch_swept_hour;      /* impact batch ids older are gone (mu) */
    int64_t impact_compacted_ms;   /* last downsampling of impact (mu) */
    svc_commit_fn on_commit;       /* svc_set_commit_hook, may be NULL */
    void *on_commit_ud;            /* passed to on_commit */
    json_t *flag_index;            /* feature_list.c: every flag's summary,
                                      or NULL (under mu) */
    int64_t flag_index_rev;        /* the revision it was read at (mu) */
};

/* One call in progress. */
typedef struct svc_ctx {
    service *s;               /* the service */
    const svc_principal *who; /* the caller */
    const svc_req *req;       /* the request */
    vx_error *err;            /* where errors go (never NULL here) */
    int64_t now_ms;           /* the call's time, read once */
} svc_ctx;

typedef vx_status (*svc_handler)(svc_ctx *c, json_t **out);

/* One unit of work of the service, and the only place a transaction begins
 * and ends: takes the service mutex, begins a transaction when `changes` is
 * not 0 (a write), runs `fn(c, ud)`, and commits; on any error, the
 * commit's included, rolls back, so nothing is written. A committed write
 * that may change SDK data or tokens bumps the generation (stamping cached
 * tokens), and every committed write calls the commit hook with `changes`
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

/* ---- errors ----------------------------------------------------------------
 */
vx_status svc__fail(svc_ctx *c, vx_status st, const char *path, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
/* "flag 'x' not found" style 404. */
vx_status svc__not_found(svc_ctx *c, const char *what, const char *name);

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

/* ---- tokens and caches (service.c, sdk.c) ---------------------------------
 */
vx_status svc__token_lookup(service *s, const char key[65], svc_principal *who,
                            int64_t *expires_ms, vx_error *err);
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
int64_t svc__wall_ms(void);

/* JSON Patch (RFC 6902) applied to a copy of `doc`; errors name the
 * operation's index ("/2/path"). */
vx_status svc__json_patch(svc_ctx *c, const json_t *doc, const json_t *patch,
                          json_t **out);

#endif
