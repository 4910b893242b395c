/* The storage interface: a versioned method table that each backend
 * (sqlite/ and postgres/) implements. Vexil's state is a set of JSON
 * documents by kind and key, plus the append-only event log and named
 * sequences; validation, authorization and auditing live above, in
 * src/service, which calls these inside one transaction per use case.
 *
 * Thread-safety: a store handle is used by one thread at a time (the service
 * serialises access), except `watch`, which one other thread may call
 * concurrently (it has its own connection). Documents passed in are
 * borrowed; documents returned are new references the caller must
 * json_decref.
 *
 * Errors: VX_EUNAVAILABLE when the database cannot be reached or cannot
 * store (down, restarting, connection lost, no answer within the call's
 * bound, disk full, read-only, the SQLite file deleted or replaced; the
 * message starts "the database is unavailable"): the caller may retry
 * later, the handle reconnects by itself. Other database failures are
 * VX_EIO.
 *
 * Bounds: every call returns within a bound the backend enforces itself
 * (store_limits.timeout_ms, plus the connect and lock waits below), even
 * when the server stops answering without closing the connection. */
#ifndef VX_STORE_STORE_H
#define VX_STORE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vexil/status.h"

#define STORE_OPS_VERSION                                                      \
    4 /* 2: doc_entries, seq_list/set, event_put;                              \
         3: watch, VX_EUNAVAILABLE;                                            \
         4: open takes store_limits, health, set_call_timeout */

typedef enum store_kind {
    STORE_PROJECT,      /* key: project id */
    STORE_ENVIRONMENT,  /* key: environment name */
    STORE_FEATURE,      /* key: flag name; parent: project id */
    STORE_SEGMENT,      /* key: decimal segment id */
    STORE_FEATURE_TYPE, /* key: type id */
    STORE_TOKEN,        /* key: hex SHA-256 of the secret */
    STORE_USAGE,        /* key: hour|env|app|flag; parent: the hour */
    STORE_CLIENT_APP,   /* key: env|appName|instanceId */
    STORE_IMPACT,       /* key: env|flag|run|epoch|variant|width|start;
                           parent: env|flag|run (service/impact.c) */
    STORE_IMPACT_BATCH, /* key: env|batchId; parent: the hour received */
    STORE_PLAN,         /* key: env|flag; parent: flag (service/plans.c) */
    STORE_SCHEDULE,     /* key: uuid; parent: flag (scheduled changes) */
    STORE_LEASE,        /* key: lease name ("scheduler") */
    STORE_STRATEGY,     /* key: strategy name: custom strategy definitions
                           (service/strategies.c) */
    STORE_SESSION,      /* key: hex SHA-256 of a console session's secret;
                           parent: its token's key (service/sessions.c) */
    STORE_KIND_COUNT,
} store_kind;

typedef struct store store; /* a backend embeds this as its first member */

typedef struct store_event {
    int64_t id;              /* assigned by event_append */
    const char *type;        /* "feature-created", ... */
    const char *created_by;  /* actor: the token's name */
    const char *project;     /* may be NULL */
    const char *environment; /* may be NULL */
    const char *feature;     /* may be NULL */
    const json_t *data;      /* may be NULL */
    const json_t *pre_data;  /* may be NULL */
    int64_t created_ms;      /* ms since the epoch */
} store_event;

typedef struct store_event_filter {
    const char *type, *project, *feature, *environment,
        *created_by;        /* NULL = any */
    int64_t from_ms, to_ms; /* inclusive bounds, 0 = open */
    int64_t offset, limit;  /* pagination, newest first */
    bool brief; /* only id, type, featureName...: "data" and "preData" are
                   null and `total` is -1 (not counted) */
} store_event_filter;

/* How long the database may make a caller wait, and how durable a commit
 * is; zeroes take the defaults. Copied by open. */
typedef struct store_limits {
    int timeout_ms;         /* one call (one statement and its answer) at most,
                               measured by Vexil itself: PostgreSQL also gets it as
                               statement_timeout and idle_in_transaction_session_
                               timeout; 0 = VX_LIMIT_DB_TIMEOUT_MS */
    int sqlite_synchronous; /* SQLite's PRAGMA synchronous: 0 = NORMAL (the
                               default), 1 = NORMAL, 2 = FULL */
} store_limits;

typedef struct store_ops {
    int version;      /* STORE_OPS_VERSION */
    const char *name; /* "sqlite", "postgres" */

    /* Opens the database named by `dsn` (for SQLite the part after
     * "sqlite:", for PostgreSQL the whole postgres:// URI). `lim` may be
     * NULL (defaults). */
    vx_status (*open)(const char *dsn, const store_limits *lim, store **out,
                      vx_error *err);
    /* Closes cleanly; accepts NULL. */
    void (*close)(store *s);
    /* Applies pending numbered migrations; `applied` gets how many. */
    vx_status (*migrate)(store *s, int *applied, vx_error *err);
    /* VX_OK when the database answers a trivial query. */
    vx_status (*ping)(store *s);

    /* One write transaction at a time, across every handle and process on
     * the database (a writer waits for the previous one, up to a timeout:
     * then VX_EIO); rollback is safe after any error. */
    vx_status (*begin)(store *s, vx_error *err);
    vx_status (*commit)(store *s, vx_error *err);
    void (*rollback)(store *s);

    /* Documents. get: VX_ENOTFOUND when absent. put: insert or replace,
     * keeping the original insertion order. list: insertion order, a JSON
     * array of documents, restricted to `parent` unless it is NULL. */
    vx_status (*doc_get)(store *s, store_kind k, const char *key, json_t **out,
                         vx_error *err);
    vx_status (*doc_put)(store *s, store_kind k, const char *key,
                         const char *parent, const json_t *doc, vx_error *err);
    vx_status (*doc_delete)(store *s, store_kind k, const char *key,
                            vx_error *err);
    vx_status (*doc_list)(store *s, store_kind k, const char *parent,
                          json_t **out, vx_error *err);
    vx_status (*doc_count)(store *s, store_kind k, int64_t *out, vx_error *err);
    /* Documents of kind `k` whose top-level boolean `field` is true. */
    vx_status (*doc_count_true)(store *s, store_kind k, const char *field,
                                int64_t *out, vx_error *err);

    /* Next value of a named sequence (1, 2, 3, ...), inside the transaction. */
    vx_status (*next_id)(store *s, const char *seq, int64_t *out,
                         vx_error *err);

    /* The audit log: append-only. query: newest first; `total` counts every
     * match ignoring offset/limit. */
    vx_status (*event_append)(store *s, store_event *ev, vx_error *err);
    vx_status (*event_query)(store *s, const store_event_filter *f,
                             json_t **out, int64_t *total, vx_error *err);
    /* The newest event id (0 when the log is empty): the revision the SDK
     * endpoints label their state with. */
    vx_status (*event_last_id)(store *s, int64_t *out, vx_error *err);

    /* For copying a whole installation (store_copy). entries: every
     * document of kind `k` in insertion order, as a JSON array of
     * [key, parent or null, document]. seq_list: a JSON object of sequence
     * name -> current value. seq_set: sets a sequence's current value.
     * event_put: appends `ev` keeping its id (which must be unused); later
     * event_append ids continue after the largest one. */
    vx_status (*doc_entries)(store *s, store_kind k, json_t **out,
                             vx_error *err);
    vx_status (*seq_list)(store *s, json_t **out, vx_error *err);
    vx_status (*seq_set)(store *s, const char *seq, int64_t value,
                         vx_error *err);
    vx_status (*event_put)(store *s, const store_event *ev, vx_error *err);

    /* VX_OK when the database answers and, as far as can be seen, stores
     * what it is given; else VX_EUNAVAILABLE (or VX_EIO) with the reason
     * in `err`: unreachable, no answer in time, the SQLite file deleted,
     * replaced, read-only, or its last write failed for lack of space and
     * a test write still fails. For a readiness probe: bounded like any
     * call, cheap when all is well. */
    vx_status (*health)(store *s, vx_error *err);

    /* Optional (NULL: calls are local, as SQLite's): the client-side bound
     * of each call from now on, `ms` > 0, or 0 to go back to
     * store_limits.timeout_ms. A call that passes it fails with
     * VX_EUNAVAILABLE and the connection is dropped (re-established by the
     * next call). For a short lookup that must not hold its caller long. */
    void (*set_call_timeout)(store *s, int ms);

    /* Optional (NULL when the backend cannot announce commits, as SQLite):
     * waits up to `timeout_ms` for a committed write transaction that
     * appended events (from any handle or process on the database) and
     * sets `*revision` to the largest event id announced since the last
     * call, 0 when none came in time, or -1 when announcements may have
     * been missed (the first call, or the watch connection was just
     * re-established): then check event_last_id. VX_EUNAVAILABLE, after
     * waiting out `timeout_ms`, when the database cannot be reached. Uses
     * a second connection owned by the handle, never the one of the other
     * calls, so one thread may wait here while another uses the handle;
     * close must not run concurrently with it. */
    vx_status (*watch)(store *s, int timeout_ms, int64_t *revision,
                       vx_error *err);
} store_ops;

struct store {
    const store_ops *ops; /* the backend's method table */
};

/* The backend for a DSN ("sqlite:./data/vexil.db",
 * "postgres://user@host:5432/db", "postgresql://..."), or NULL when the
 * scheme is unknown. `*rest` is what the backend's open takes: the part
 * after "sqlite:", or the whole URI for PostgreSQL. */
const store_ops *store_backend_for(const char *dsn, const char **rest);

/* Writes `dsn` into buf (cap bytes, NUL-terminated) with any password
 * replaced by "***", for messages and logs. */
void store_dsn_redact(const char *dsn, char *buf, size_t cap);

/* What store_copy moved. */
typedef struct store_copy_stats {
    int64_t docs[STORE_KIND_COUNT]; /* documents per kind */
    int64_t sequences;              /* named sequences */
    int64_t events;                 /* audit events */
} store_copy_stats;

/* Copies everything in `from` (documents in insertion order, sequences, the
 * event log with its ids and times) into `to`, which must be migrated and
 * empty (else VX_ECONFLICT, nothing written). `from` is read inside a
 * transaction, so no writer changes it meanwhile; `to` is written in one
 * transaction: on any error nothing is left in it. */
vx_status store_copy(store *from, store *to, store_copy_stats *stats,
                     vx_error *err);

extern const store_ops store_sqlite_ops;
extern const store_ops store_postgres_ops;

#endif
