/* The service layer: every use case of the admin API, as one call that
 * authorizes the caller, validates the request (errors name the JSON pointer
 * of the offending field), runs in one store transaction and writes its
 * audit event in that same transaction. Nothing here knows about HTTP.
 *
 * Thread-safety: all calls on one service are serialised by its mutex;
 * call from any thread. */
#ifndef VX_SERVICE_SERVICE_H
#define VX_SERVICE_SERVICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/egress.h"
#include "base/log.h"
#include "vexil/status.h"

typedef struct service service;

typedef enum svc_token_kind {
    SVC_KIND_ADMIN,
    SVC_KIND_CLIENT,   /* "client" or "backend": server-side SDKs */
    SVC_KIND_FRONTEND, /* browser and mobile SDKs */
} svc_token_kind;

typedef enum svc_role {
    SVC_ROLE_NONE,   /* client and frontend tokens */
    SVC_ROLE_VIEWER, /* read-only admin */
    SVC_ROLE_EDITOR, /* everything but tokens, environments, feature types */
    SVC_ROLE_ADMIN,  /* everything */
} svc_role;

/* Who is calling: the token that authenticated, as svc_authenticate found
 * it. Plain data; `projects` is a comma-joined list ("*" = all). */
typedef struct svc_principal {
    int64_t token_id;      /* 0 for internal calls */
    svc_token_kind kind;   /* token kind */
    svc_role role;         /* admin tokens' role */
    char name[128];        /* token name: the audit actor */
    char environment[128]; /* client/frontend tokens' environment, else "*" */
    char projects[512];    /* "*" or "p1,p2" */
} svc_principal;

/* One operation per admin route (docs/admin-api.md). */
#define SVC_OP_MAP(X)                                                          \
    X(PROJECT_LIST)                                                            \
    X(PROJECT_CREATE)                                                          \
    X(PROJECT_GET)                                                             \
    X(PROJECT_DELETE)                                                          \
    X(ENVIRONMENT_LIST)                                                        \
    X(ENVIRONMENT_CREATE)                                                      \
    X(FEATURE_LIST) /* project */                                              \
    X(FEATURE_LIST_ALL)                                                        \
    X(FEATURE_CREATE)  /* project */                                           \
    X(FEATURE_GET)     /* project, feature */                                  \
    X(FEATURE_UPDATE)  /* project, feature: PUT */                             \
    X(FEATURE_PATCH)   /* project, feature: JSON Patch */                      \
    X(FEATURE_ARCHIVE) /* project, feature */                                  \
    X(FEATURE_VALIDATE)                                                        \
    X(ARCHIVE_LIST)                                                            \
    X(ARCHIVE_REVIVE)  /* feature */                                           \
    X(ARCHIVE_DELETE)  /* feature */                                           \
    X(STALE_SET)       /* project */                                           \
    X(TAG_LIST)        /* feature */                                           \
    X(TAG_ADD)         /* feature */                                           \
    X(TAG_REMOVE)      /* feature, tag_type, tag_value */                      \
    X(ENV_ON)          /* project, feature, environment */                     \
    X(ENV_OFF)         /* project, feature, environment */                     \
    X(STRATEGY_LIST)   /* project, feature, environment */                     \
    X(STRATEGY_ADD)    /* project, feature, environment */                     \
    X(STRATEGY_GET)    /* project, feature, environment, id */                 \
    X(STRATEGY_UPDATE) /* project, feature, environment, id */                 \
    X(STRATEGY_DELETE) /* project, feature, environment, id */                 \
    X(STRATEGY_ORDER)  /* project, feature, environment */                     \
    X(VARIANTS_GET)    /* project, feature, environment */                     \
    X(VARIANTS_PUT)    /* project, feature, environment */                     \
    X(VARIANTS_PATCH)  /* project, feature, environment */                     \
    X(SEGMENT_LIST)                                                            \
    X(SEGMENT_CREATE)                                                          \
    X(SEGMENT_GET)           /* id */                                          \
    X(SEGMENT_UPDATE)        /* id */                                          \
    X(SEGMENT_DELETE)        /* id */                                          \
    X(DEPENDENCY_ADD)        /* project, feature (child) */                    \
    X(DEPENDENCY_REMOVE)     /* project, feature, id (parent name) */          \
    X(DEPENDENCY_REMOVE_ALL) /* project, feature */                            \
    X(TOKEN_LIST)                                                              \
    X(TOKEN_CREATE)                                                            \
    X(TOKEN_UPDATE) /* id */                                                   \
    X(TOKEN_DELETE) /* id */                                                   \
    X(EVENT_SEARCH) /* query */                                                \
    X(FEATURE_TYPE_LIST)                                                       \
    X(FEATURE_TYPE_LIFETIME) /* id */                                          \
    X(PLAYGROUND)                                                              \
    X(EXPORT)                                                                  \
    X(IMPORT)                                                                  \
    X(FEATURE_USAGE) /* feature: hourly SDK usage */                           \
    X(APPLICATION_LIST)                                                        \
    X(PLAN_LIST)                                                               \
    X(PLAN_GET)        /* project, feature, environment */                     \
    X(PLAN_PUT)        /* project, feature, environment */                     \
    X(PLAN_DELETE)     /* project, feature, environment */                     \
    X(PLAN_ACTION)     /* project, feature, environment, id (the action) */    \
    X(SCHEDULE_LIST)   /* project, feature, environment */                     \
    X(SCHEDULE_CREATE) /* project, feature, environment */                     \
    X(SCHEDULE_DELETE) /* project, feature, environment, id */                 \
    X(STALE_REPORT)                                                            \
    X(STRATEGY_DEF_LIST)                                                       \
    X(STRATEGY_DEF_GET) /* id (strategy name) */                               \
    X(STRATEGY_DEF_CREATE)                                                     \
    X(STRATEGY_DEF_UPDATE)     /* id */                                        \
    X(STRATEGY_DEF_DELETE)     /* id */                                        \
    X(STRATEGY_DEF_DEPRECATE)  /* id */                                        \
    X(STRATEGY_DEF_REACTIVATE) /* id */                                        \
    X(ARCHIVE_LIST_PROJECT)    /* project */                                   \
    X(ARCHIVE_BULK)            /* project: {"features": [names]} */            \
    X(REVIVE_BULK)             /* project */                                   \
    X(DELETE_BULK)             /* project */                                   \
    X(IMPORT_UNLEASH)          /* docs/migrating-from-unleash.md */            \
    X(STRATEGY_PATCH) /* project, feature, environment, id: JSON Patch */      \
    X(RESULTS)        /* project, feature, environment */

typedef enum svc_op {
#define SVC__OP_ENUM(name) SVC_OP_##name,
    SVC_OP_MAP(SVC__OP_ENUM)
#undef SVC__OP_ENUM
        SVC_OP_COUNT
} svc_op;

/* "PROJECT_LIST" etc., for logs and metrics. */
const char *svc_op_name(svc_op op);

/* One request: path parameters (NULL when the route has none), the query
 * string as a JSON object of strings (may be NULL) and the parsed body (may
 * be NULL). Everything is borrowed for the call. */
typedef struct svc_req {
    svc_op op;
    const char *project;     /* {project} */
    const char *feature;     /* {feature} */
    const char *environment; /* {environment} */
    const char *id;          /* {id}: strategy, segment, token, type, parent */
    const char *tag_type;    /* {type} of a tag */
    const char *tag_value;   /* {value} of a tag */
    const json_t *query;     /* query parameters */
    const json_t *body;      /* request body */
} svc_req;

typedef vx_log_fn svc_log_fn;

typedef struct svc_config {
    const char *database;             /* DSN, e.g. "sqlite:./data/vexil.db" */
    const char *init_admin_tokens;    /* INIT_ADMIN_API_TOKENS, may be NULL */
    const char *init_client_tokens;   /* INIT_CLIENT_API_TOKENS (or BACKEND) */
    const char *init_frontend_tokens; /* INIT_FRONTEND_API_TOKENS */
    bool no_first_admin_token;        /* skip creating the first admin token
                                         (vexil admin-token makes its own) */
    const char *egress_allow;         /* hosts the server may call (egress.h);
                                         NULL = SVC_EGRESS_HOSTS_DEFAULT */
    const char *gateway_key_env;      /* variables model keys may come from;
                                         NULL = SVC_EGRESS_KEYS_DEFAULT */
    svc_log_fn log;                   /* may be NULL */
    void *log_ud;                     /* passed to log */
    int db_timeout_ms;                /* one database call at most (0: default,
                                         VX_LIMIT_DB_TIMEOUT_MS; see store_limits) */
    int sqlite_synchronous;           /* 0/1 NORMAL, 2 FULL (SQLite only) */
} svc_config;

#define SVC_SECRET_MAX 160 /* room for any secret Vexil generates */

/* Opens the database, applies migrations, creates the defaults on first
 * start (project "default", environments development and production,
 * feature types) and seeds INIT_* tokens. When no admin token exists at all
 * it creates one and writes its secret to `new_admin_secret` (else ""):
 * the caller prints it once; only its hash is stored. */
vx_status svc_open(const svc_config *cfg, service **out,
                   char new_admin_secret[SVC_SECRET_MAX], vx_error *err);

/* What a committed write may have changed (a mask), as the commit hook and
 * the token cache see it. */
typedef enum svc_change {
    SVC_CHANGE_SDK = 1,    /* flags, segments, projects, environments:
                              what SDKs are served */
    SVC_CHANGE_TOKENS = 2, /* API tokens (created, changed, revoked) */
    SVC_CHANGE_RECORDS = 4 /* only what SDKs report or the advisor noted
                              (usage, instances, impact, advice, leases):
                              nothing any SDK or token check reads */
} svc_change;

/* Called after every committed write of this service (any caller, any
 * thread: the admin API, the scheduler, SDK reports, the advisor), with
 * the service mutex released and before that write's caller returns, with
 * the mask of what it may have changed. The only way a write reaches the
 * SDK state: it must not block (signal a thread and return). */
typedef void (*svc_commit_fn)(void *ud, unsigned changes);

/* Installs the commit hook (NULL removes it). Call before other threads use
 * the service. */
void svc_set_commit_hook(service *s, svc_commit_fn fn, void *ud);

/* Closes the database cleanly. Accepts NULL. */
void svc_close(service *s);

/* ---- egress: what the server may call (egress.c, base/egress.h) ---------
 * The operator's allowlists, from svc_config: the hosts model gateway
 * upstreams and release-plan webhooks may reach, and the environment
 * variables a model flag's api_key_env may name. Writes that name anything
 * else are refused (400 naming the field); callers check again before
 * every call, since the lists may have changed since the write. */
#define SVC_EGRESS_HOSTS_DEFAULT VX_EGRESS_HOSTS_DEFAULT
#define SVC_EGRESS_KEYS_DEFAULT  VX_EGRESS_KEYS_DEFAULT

/* Checks the two lists as svc_open would read them (either may be NULL):
 * VX_EINVAL or VX_ELIMIT with err->path "/egress-allow" or
 * "/gateway-key-env" naming the entry at fault. */
vx_status svc_egress_check(const char *egress_allow,
                           const char *gateway_key_env, vx_error *err);

/* The service's policy, for vx__egress_url/vx__egress_key; valid while the
 * service is open, read-only, any thread. */
const vx_egress *svc_egress(const service *s);

/* Applies pending migrations to `database` and reports how many ran. */
vx_status svc_migrate(const char *database, int *applied, vx_error *err);

/* What svc_copy_database moved. */
typedef struct svc_copy_stats {
    int64_t documents; /* all kinds */
    int64_t flags;     /* of which flags */
    int64_t sequences; /* named sequences */
    int64_t events;    /* audit events, ids and times kept */
} svc_copy_stats;

/* Moves a whole installation from database `from` into `to` (any backend
 * to any backend): both are migrated first, `to` must be empty (else
 * VX_ECONFLICT) and is written in one transaction, so it ends up either
 * complete or untouched. Nobody should serve `from` meanwhile (its writers
 * are held off while the copy runs). */
vx_status svc_copy_database(const char *from, const char *to,
                            svc_copy_stats *stats, vx_error *err);

/* `dsn` with any password replaced by "***", for messages (cap bytes,
 * NUL-terminated). */
void svc_dsn_redact(const char *dsn, char *buf, size_t cap);

/* The database's health as the last check and the last calls saw it.
 * Plain data. */
typedef struct svc_health {
    bool ok;                       /* answers and stores */
    char reason[VX_ERROR_MSG_MAX]; /* why not ("" when ok) */
    int64_t since_ms;              /* wall clock: this state began */
    int64_t checked_ms;            /* wall clock: last check, 0 = none yet */
} svc_health;

/* Copies the health without waiting for the database (a short lock). */
void svc_health_get(service *s, svc_health *out);

/* Checks the database now (store_ops.health: reachable, the SQLite file
 * still in place and writable), within VX_LIMIT_DB_PROBE_CALL_MS, and
 * records the result for svc_health_get. Waits for the service mutex at
 * most VX_LIMIT_DB_PROBE_WAIT_MS: when other work holds it longer, nothing
 * is checked or recorded (that work records its own outcome, within the
 * call bound) and the recorded state is returned. For a background thread
 * (the server's probe, every VX_LIMIT_DB_PROBE_MS). */
vx_status svc_probe(service *s, vx_error *err);

/* VX_OK while the recorded health is good (never waits for the database;
 * see svc_health_get for the reason). */
vx_status svc_ready(service *s);

/* Finds the token whose secret is `secret[0..len)`: VX_EAUTH when unknown,
 * revoked or expired. Fills `who`. */
vx_status svc_authenticate(service *s, const char *secret, size_t len,
                           svc_principal *who, vx_error *err);

/* Runs one operation for `who`. On success `*out` is the answer body (a new
 * reference; never NULL). Errors: VX_EFORBIDDEN (wrong kind or role),
 * VX_EINVAL/VX_ESCHEMA (bad input, `err->path` names the field),
 * VX_ENOTFOUND, VX_ECONFLICT, VX_ELIMIT, VX_EIO. On any error nothing was
 * written. */
vx_status svc_call(service *s, const svc_principal *who, const svc_req *req,
                   json_t **out, vx_error *err);

/* Creates an admin token named `name` (revoking earlier tokens of that name
 * when `rotate`) and returns its secret: the offline recovery path used by
 * `vexil admin-token` and `make run`. */
vx_status svc_admin_token(service *s, const char *name, bool rotate,
                          char secret[SVC_SECRET_MAX], vx_error *err);

/* ---- the SDK-facing side (sdk.c) ----------------------------------------
 * The SDK endpoints serve from memory (src/hub/hub.h); these calls feed
 * that memory and record what SDKs report. */

/* The newest event id: every committed change writes one, so two equal
 * revisions mean the same state. 0 for an empty log. */
vx_status svc_revision(service *s, int64_t *out, vx_error *err);

/* The names of every environment, as a new JSON array of strings. */
vx_status svc_environment_names(service *s, json_t **out, vx_error *err);

/* The Unleash client-features documents of the environments named in
 * `envs` (a JSON array; names that do not exist are skipped) as the SDK
 * endpoints serve them (no strategy ids; each feature also carries its
 * "tags" for the tag filter), as {env: document}, from one read of the
 * flags, and the revision they reflect (read first: the documents are at
 * least that new). Each document also has "revision": the environment's
 * SDK revision, the newest event up to `*revision` that may change what
 * that environment's SDKs are served (svc_sdk_relevant; 0 when none), so
 * that every process labels the same state alike. `*docs` is a new
 * reference. */
vx_status svc_client_states(service *s, const json_t *envs, json_t **docs,
                            int64_t *revision, vx_error *err);

/* What changed since revision `since`, for an incremental update of the
 * published state: `*changes` is {env: {"revision": r, "flags": {flag:
 * client feature, or null when it is gone}}} for every flag an event since
 * then names, where r (absent when none) is the newest of those events
 * relevant to the environment (svc_sdk_relevant); or NULL when only a full
 * rebuild will do (segments, environments, projects, an import, or more
 * than VX_LIMIT_SDK_INCREMENTAL events). `*tokens` is true when one of the
 * events changed an API token. `*revision` as above. */
vx_status svc_client_changes(service *s, int64_t since, json_t **changes,
                             int64_t *revision, bool *tokens, vx_error *err);

/* True when the audit event `ev` (as event_query returns it: "type",
 * "environment") may change what the SDKs of environment `env` are served:
 * any event but those about tokens, feature types or advice, when it names
 * no environment or that one. */
bool svc_sdk_relevant(const json_t *ev, const char *env);

/* An API token as open streams are checked against it. */
typedef struct svc_token_state {
    int64_t id;         /* the token's id (svc_principal.token_id) */
    bool revoked;       /* revoked */
    int64_t expires_ms; /* expiry, ms since the epoch; 0 = never */
} svc_token_state;

/* Every API token's id, revocation and expiry, by id ascending: `*out` is
 * a new array of `*n` (free with vx__free). */
vx_status svc_token_states(service *s, svc_token_state **out, size_t *n,
                           vx_error *err);

/* True when the database announces commits (PostgreSQL), so svc_watch can
 * replace polling for changes made by other processes. */
bool svc_watchable(service *s);

/* Waits up to `timeout_ms` for a commit announcing a new revision (see
 * store_ops.watch: `*revision` > 0 the newest announced, 0 none, -1 check
 * svc_revision). Does not take the service mutex: call it from one
 * dedicated thread while the other calls go on. VX_EUNAVAILABLE (after the
 * timeout) while the database cannot be reached; VX_EINVAL when not
 * svc_watchable. */
vx_status svc_watch(service *s, int timeout_ms, int64_t *revision,
                    vx_error *err);

/* Brings what the service caches from the database (tokens) up to date:
 * called when the revision changed, possibly by another process. Re-reads
 * the tokens (one query, bounded like any call) and refreshes or drops
 * each cached one; meanwhile the cached entries keep answering, so SDK
 * requests never wait for it. When the database cannot be read the cache
 * is left as it is. Changes made by this process need no call: a token
 * write invalidates the cache when it commits. For a background thread. */
void svc_invalidate(service *s);

/* POST /api/client/register and /api/frontend/client/register: validates
 * `body` (appName required; errors name the field) and keeps the
 * application instance for `who`'s environment in memory until
 * svc_usage_flush stores it. Never touches the database, so it may run on
 * a serving thread; VX_EUNAVAILABLE when VX_LIMIT_USAGE_BUFFER_APPS
 * instances already wait (nothing kept). */
vx_status svc_client_register(service *s, const svc_principal *who,
                              const json_t *body, vx_error *err);

/* POST /api/client/metrics and /api/frontend/client/metrics: validates the
 * bucket ({appName, bucket: {start, stop, toggles: {name: {yes, no,
 * variants}}}}: errors name the field, nothing is kept on error) and adds
 * its counts to what waits in memory, per (environment, application, flag,
 * minute). svc_usage_flush adds them to the hourly usage, marks each flag
 * that exists as seen and counts the exposures of release plans. Never
 * touches the database; VX_EUNAVAILABLE (nothing kept) when the memory
 * bound is reached (VX_LIMIT_USAGE_BUFFER_*). A bucket that starts in the
 * future or past VX_LIMIT_USAGE_HOURS counts as now. */
vx_status svc_client_metrics(service *s, const svc_principal *who,
                             const json_t *body, vx_error *err);

/* Stores what SDKs reported since the last flush, at most
 * VX_LIMIT_USAGE_FLUSH_BATCH entries per transaction. On failure what was
 * not stored goes back to memory (within the bounds; the rest is counted
 * in svc_stats.reports_dropped) and the error is returned. Admin reads
 * and scheduler ticks flush first, so they see what SDKs reported. One
 * flush at a time; thread-safe. */
vx_status svc_usage_flush(service *s, vx_error *err);

/* POST /api/client/impact (docs/sdk-api.md): records one
 * batch of outcome measurements for `who`'s environment (client tokens;
 * the gateway calls it in-process with a principal for its environment).
 * Validated whole before anything is written (errors name the field, e.g.
 * /metrics/3/errors); idempotent by batchId; added to per-minute buckets
 * per (environment, flag, variant). Entries for flags that do not exist,
 * or lie outside who->projects ("*" or "" = every project), are skipped.
 * Frontend tokens and principals without one environment get
 * VX_EFORBIDDEN. */
vx_status svc_impact_record(service *s, const svc_principal *who,
                            const json_t *batch, vx_error *err);

/* ---- edge nodes (edge.c; docs/edge.md) -------------------------------------
 * An edge node serves SDKs without a database and forwards what they
 * report. It answers them as the server would, with the checks below
 * (no service needed), and forwards in batches. */

/* The checks of svc_client_register, svc_client_metrics and
 * svc_impact_record (all but whether the flags exist), keeping nothing:
 * VX_OK, or the same error (and field path) the server would answer. */
vx_status svc_check_client_register(const svc_principal *who,
                                    const json_t *body, vx_error *err);
vx_status svc_check_client_metrics(const json_t *body, vx_error *err);
vx_status svc_check_impact(const svc_principal *who, const json_t *batch,
                           vx_error *err);
/* The arm an impact entry counts for: "disabled" (the flag was off), the
 * variant, or "enabled"; NULL when it names none. The string is the
 * entry's or static. */
const char *svc_impact_label(const json_t *entry);

/* POST /api/edge/metrics: what an edge forwards for `who` (the token it
 * follows with): {"batchId": "1 to 100 characters", "items": [{"receivedAt":
 * ms, "register": {...}} or {"receivedAt": ms, "metrics": {...}}]} (at
 * most VX_LIMIT_EDGE_BATCH_ENTRIES items). Each item is kept as
 * svc_client_register or svc_client_metrics keeps a post that arrived at
 * receivedAt (the release-plan epoch in force then; within
 * VX_LIMIT_EDGE_ARRIVAL_MS and not in the future, else now). An item the
 * checks refuse is skipped and listed in `*rejected` (a new array of
 * {"index", "path", "message"}). `*accepted` counts the items handled
 * from the first on: VX_EUNAVAILABLE (the memory for reports is full)
 * stops there, the rest is to be sent again. A batchId already handled
 * (this process remembers VX_LIMIT_EDGE_SEEN_BATCHES) resumes after the
 * items it handled, so a forward repeated after a lost answer counts
 * once. VX_EINVAL for a malformed batch (nothing kept). */
vx_status svc_edge_reports(service *s, const svc_principal *who,
                           const json_t *body, size_t *accepted,
                           json_t **rejected, vx_error *err);

/* One step of the release-plan scheduler at `now_ms`: takes or renews the
 * "scheduler" lease for `owner` (held `lease_ms` without renewal; one
 * holder across every process on the database), and when this caller
 * holds it (`*leader`) runs every live plan's decision and every due
 * scheduled change, each in its own transaction with its audit event, and
 * downsamples impact buckets once an hour. `*hooks` (new reference, always
 * set) is a JSON array of {url, body} webhook calls for the caller to make
 * after the transactions. Errors: VX_EIO (database); a plan that cannot be
 * applied is paused instead. Thread-safe. */
vx_status svc_scheduler_tick(service *s, const char *owner, int64_t now_ms,
                             int64_t lease_ms, bool *leader, json_t **hooks,
                             vx_error *err);

/* Gives up the scheduler lease if `owner` holds it (a clean shutdown), so
 * another process takes over at its next tick instead of at expiry. */
vx_status svc_scheduler_release(service *s, const char *owner, vx_error *err);

/* Counters for /metrics. */
typedef struct svc_stats {
    int64_t flags_active;    /* not archived */
    int64_t flags_archived;  /* archived */
    int64_t db_errors;       /* store calls that failed with VX_EIO */
    int64_t db_up;           /* 1 while the recorded health is good */
    int64_t reports_pending; /* usage entries and instances in memory */
    int64_t reports_dropped; /* usage entries and instances lost after a
                                failed flush found no room */
    int64_t reports_refused; /* SDK posts answered 503 (memory full) */
    int64_t flush_failures;  /* flushes that failed */
} svc_stats;
void svc_get_stats(service *s, svc_stats *out);

/* ---- for the advisor (advice.c) ----------------------------------------- */

/* Validates and normalises `strategy` exactly as a strategy POST on flag
 * `flag` would (field paths start at "/strategy"), writing nothing. `*out`
 * is the normalised strategy (new reference). Errors as svc_call. */
vx_status svc_strategy_check(service *s, const json_t *strategy,
                             const char *flag, json_t **out, vx_error *err);

/* Appends one "advisor-recommendation" audit event with `data` (the
 * question, the advisor and its answer; its "flag", when a string, names
 * the event's flag) for `who`, in its own transaction, and returns its id.
 * Changes no flag. Errors: VX_EFORBIDDEN (not an admin token), VX_EIO. */
vx_status svc_record_advice(service *s, const svc_principal *who,
                            const char *project, const char *environment,
                            const json_t *data, int64_t *event_id,
                            vx_error *err);

/* ---- the console's change feed (feed.c) -------------------------------- */

/* One read of the feed: the audit log's newest id, the events after
 * `since` (and up to `slack` before it: a transaction that took an earlier
 * id may commit later; the caller drops those it has seen), and the
 * scheduler's lease. Plain data with one JSON array. */
typedef struct svc_feed {
    int64_t revision;         /* newest event id (0: empty log) */
    json_t *events;           /* [{id, type, project, environment, feature,
                                 createdAt, createdBy}] oldest first; never
                                 the events' data */
    bool gap;                 /* more events followed `since` than were read:
                                 the caller must assume it missed some */
    char lease_owner[160];    /* the scheduler lease's holder, "" if none */
    int64_t lease_renewed_ms; /* its last renewal (a tick), 0 if none */
} svc_feed;

/* Reads the feed (`since` < 0: only the newest `slack` events, to start
 * from), at most `max` events. Read-only, bounded like any call; errors
 * VX_EIO, VX_EUNAVAILABLE, VX_ENOMEM (then `out` holds nothing). Release
 * with svc_feed_release. */
vx_status svc_feed_read(service *s, int64_t since, size_t max, size_t slack,
                        svc_feed *out, vx_error *err);
void svc_feed_release(svc_feed *f); /* accepts NULL */

#endif
