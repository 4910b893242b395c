/* PostgreSQL implementation of the store method table (libpq). Documents are
 * stored as `json` (the text as written); statements are prepared once per
 * connection. Every write transaction runs in READ COMMITTED after taking
 * the transaction-scoped advisory lock PG_WRITE_LOCK_KEY, so writers from
 * any number of processes run one at a time, each seeing everything
 * committed before it: the same guarantee as SQLite's BEGIN IMMEDIATE, and
 * no serialization failures to retry. Waiting for that lock is bounded by
 * lock_timeout (VX_LIMIT_DB_WAIT_MS unless the DSN sets options).
 *
 * A transaction that appended events announces the newest id with
 * pg_notify('vexil_revision', id) just before COMMIT (PostgreSQL delivers
 * it at commit, never for a rollback); `watch` LISTENs on a second
 * connection. When the database cannot be reached, calls fail with
 * VX_EUNAVAILABLE, and a failed reconnection is not retried for
 * VX_LIMIT_DB_RETRY_MS (calls meanwhile fail at once), so callers never
 * queue behind connect timeouts.
 *
 * Every call is bounded by Vexil itself, not only by the server: commands
 * go out with libpq's asynchronous API on a non-blocking connection and
 * their answers are awaited with poll() up to a deadline (store_limits.
 * timeout_ms plus VX_LIMIT_DB_DEADLINE_SLACK_MS). A server that is frozen
 * (SIGSTOP) or cut off keeps the connection open and sends nothing: past
 * the deadline the call fails with VX_EUNAVAILABLE, a cancel request is
 * sent from a thread of its own (PQcancel itself waits for the server),
 * and the connection is dropped and re-established by a later call.
 * Invariant: no message carries the DSN's password (store_dsn_redact). */
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"
#include "store/postgres/pg_store.h"

enum {
    Q_GET,
    Q_PUT,
    Q_DELETE,
    Q_LIST_ALL,
    Q_LIST_PARENT,
    Q_COUNT,
    Q_EVENT_LAST,
    Q_COUNT_TRUE,
    Q_SEQ_NEXT,
    Q_EVENT_ADD,
    Q_EVENT_COUNT,
    Q_EVENT_PAGE,
    Q_ENTRIES,
    Q_SEQ_LIST,
    Q_SEQ_SET,
    Q_EVENT_PUT,
    Q_PING,
    Q_COUNT_STMTS,
};

#define EVENT_WHERE                                                            \
    " WHERE ($1::text IS NULL OR type = $1)"                                   \
    " AND ($2::text IS NULL OR project = $2)"                                  \
    " AND ($3::text IS NULL OR feature = $3)"                                  \
    " AND ($4::text IS NULL OR environment = $4)"                              \
    " AND ($5::text IS NULL OR created_by = $5)"                               \
    " AND ($6::bigint = 0 OR created_at >= $6)"                                \
    " AND ($7::bigint = 0 OR created_at <= $7)"

/* Each statement, and whether it only reads (then it is retried once on a
 * fresh connection when the old one turns out to be broken). */
static const struct {
    const char *sql; /* the statement, $n parameters */
    bool reads;      /* read-only: safe to retry outside a transaction */
} SQL[Q_COUNT_STMTS] = {
    [Q_GET] = {"SELECT data FROM docs WHERE kind = $1 AND key = $2", true},
    [Q_PUT] = {"INSERT INTO docs (kind, key, parent, data)"
               " VALUES ($1, $2, $3, $4) ON CONFLICT (kind, key) DO UPDATE"
               " SET parent = excluded.parent, data = excluded.data",
               false},
    [Q_DELETE] = {"DELETE FROM docs WHERE kind = $1 AND key = $2", false},
    [Q_LIST_ALL] = {"SELECT data FROM docs WHERE kind = $1 ORDER BY pos", true},
    [Q_LIST_PARENT] = {"SELECT data FROM docs WHERE kind = $1 AND parent = $2"
                       " ORDER BY pos",
                       true},
    [Q_COUNT] = {"SELECT count(*) FROM docs WHERE kind = $1", true},
    [Q_EVENT_LAST] = {"SELECT coalesce(max(id), 0) FROM events", true},
    [Q_COUNT_TRUE] = {"SELECT count(*) FROM docs WHERE kind = $1"
                      " AND json_typeof(data -> $2::text) = 'boolean'"
                      " AND (data ->> $2::text) = 'true'",
                      true},
    [Q_SEQ_NEXT] = {"INSERT INTO seqs (name, value) VALUES ($1, 1)"
                    " ON CONFLICT (name) DO UPDATE SET value = seqs.value + 1"
                    " RETURNING value",
                    false},
    [Q_EVENT_ADD] = {"INSERT INTO events (type, created_by, project,"
                     " environment, feature, data, pre_data, created_at)"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                     false},
    [Q_EVENT_COUNT] = {"SELECT count(*) FROM events" EVENT_WHERE, true},
    [Q_EVENT_PAGE] = {"SELECT id, type, created_by, project, environment,"
                      " feature, data, pre_data, created_at FROM events"
                      " " EVENT_WHERE " ORDER BY id DESC LIMIT $8 OFFSET $9",
                      true},
    [Q_ENTRIES] = {"SELECT key, parent, data FROM docs WHERE kind = $1"
                   " ORDER BY pos",
                   true},
    [Q_SEQ_LIST] = {"SELECT name, value FROM seqs ORDER BY name", true},
    [Q_SEQ_SET] = {"INSERT INTO seqs (name, value) VALUES ($1, $2)"
                   " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                   false},
    [Q_EVENT_PUT] = {"INSERT INTO events (id, type, created_by, project,"
                     " environment, feature, data, pre_data, created_at)"
                     " OVERRIDING SYSTEM VALUE"
                     " VALUES ($9, $1, $2, $3, $4, $5, $6, $7, $8)",
                     false},
    [Q_PING] = {"SELECT 1 FROM schema_migrations LIMIT 1", true},
};

#define WHERE_MAX 256 /* the redacted DSN kept for messages */

#define CHANNEL "vexil_revision" /* NOTIFY channel of committed revisions */

/* At most one cancel request in flight per handle; shared with the thread
 * that sends it, so it outlives a handle closed meanwhile. */
typedef struct cancel_gate {
    atomic_int refs;  /* the handle's and the sending thread's */
    atomic_bool busy; /* a cancel request is being sent */
} cancel_gate;

typedef struct pg_store {
    store base;                   /* must be first */
    PGconn *conn;                 /* the connection */
    int timeout_ms;               /* store_limits.timeout_ms */
    int call_timeout_ms;          /* set_call_timeout, 0 = timeout_ms */
    bool broken;                  /* a call passed its deadline: the
                                     connection is dropped, reconnect */
    cancel_gate *gate;            /* cancel requests (cancel_async) */
    bool prepared[Q_COUNT_STMTS]; /* prepared on this connection */
    bool in_tx;                   /* between a successful begin and the end */
    bool imported;                /* event_put ran in this transaction */
    int64_t tx_event;             /* largest event id written in this
                                     transaction, 0 = none: announced */
    int64_t retry_at;             /* monotonic ms: no reconnection before */
    bool resetting;               /* a non-blocking reconnection is under
                                     way (ensure_conn) */
    int64_t reset_deadline;       /* monotonic ms: that attempt fails */
    char where[WHERE_MAX];        /* redacted DSN, for messages */
    char *dsn;                    /* the DSN, for the watch connection */
    /* Used only by the thread in watch (its own connection): */
    PGconn *listen;          /* LISTENing connection, NULL until needed */
    bool listen_ready;       /* connected and LISTENing (else connecting) */
    int64_t listen_deadline; /* monotonic ms: that connection attempt fails */
    int64_t listen_retry_at; /* monotonic ms: no reconnection before */
} pg_store;

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Copies a server or libpq message into `out` on one line. */
static void one_line(const char *msg, char *out, size_t cap)
{
    size_t n = 0;
    for (; msg && *msg && n + 1 < cap; msg++)
        out[n++] = (*msg == '\n' || *msg == '\t') ? ' ' : *msg;
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* The reason in a libpq connection message, on one line: its first line,
 * after the last "failed: " ("Connection refused", "server closed the
 * connection unexpectedly"); the server and port are in s->where. */
static void short_reason(const char *msg, char *out, size_t cap)
{
    char line[200];
    size_t n = 0;
    for (; msg && *msg && *msg != '\n' && n + 1 < sizeof(line); msg++)
        line[n++] = *msg;
    line[n] = '\0';
    const char *from = line;
    for (const char *p = strstr(line, "failed: "); p;
         p = strstr(p + 1, "failed: "))
        from = p + 8;
    one_line(from, out, cap);
}

/* Fills `err` from a failed result (or the connection when res is NULL).
 * Status: VX_ECONFLICT for a unique violation, VX_ENOMEM for libpq's out of
 * memory, else VX_EIO. */
static vx_status db_error(pg_store *s, const PGresult *res, vx_error *err,
                          const char *what)
{
    char msg[200];
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!primary)
        primary = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
                                                    : PQerrorMessage(s->conn);
    one_line(primary, msg, sizeof(msg));
    if (!res && !*msg)
        snprintf(msg, sizeof(msg), "out of memory");
    vx_status st = VX_EIO;
    if (state && strcmp(state, "23505") == 0)
        st = VX_ECONFLICT;
    if (state && (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0))
        return vx__error_set(err, VX_EIO, "",
                             "database busy: %s: %s (another writer held the "
                             "lock too long)",
                             what, msg);
    /* The server is there but cannot take the work now: connection
     * trouble (08), out of disk, memory or connections (53), shutting down
     * or starting (57P01-03), a read-only server (25006). Retry later. */
    if (state &&
        (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
         strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
         strcmp(state, "57P03") == 0 || strcmp(state, "25006") == 0))
        return vx__error_set(err, VX_EUNAVAILABLE, "",
                             "the database is unavailable: %s (%s; %s)", msg,
                             s->where, what);
    if (PQstatus(s->conn) != CONNECTION_OK || s->resetting || s->broken) {
        short_reason(PQerrorMessage(s->conn), msg, sizeof(msg));
        if (!msg[0] || s->broken)
            snprintf(msg, sizeof(msg), "%s",
                     s->resetting ? "reconnecting"
                     : s->broken  ? "the connection was dropped after a call "
                                    "got no answer in time"
                                  : "no connection");
        return vx__error_set(err, VX_EUNAVAILABLE, "",
                             "the database is unavailable: %s (%s; %s)", msg,
                             s->where, what);
    }
    return vx__error_set(err, st, "", "database: %s: %s", what, msg);
}

/* Settings every session starts with; a DSN's own `options` replace them.
 * lock_timeout bounds the wait for the write lock, statement_timeout any
 * one statement, and idle_in_transaction_session_timeout frees the lock of
 * a process that stopped in the middle of a transaction (both: the call
 * bound, `timeout_ms`). */
static void session_options(char *buf, size_t cap, int timeout_ms)
{
    snprintf(buf, cap,
             "-c lock_timeout=%d -c statement_timeout=%d"
             " -c idle_in_transaction_session_timeout=%d"
             " -c client_min_messages=warning",
             VX_LIMIT_DB_WAIT_MS < timeout_ms ? VX_LIMIT_DB_WAIT_MS
                                              : timeout_ms,
             timeout_ms, timeout_ms);
}

/* ---- bounded calls -------------------------------------------------------
 * Everything sent on a connection goes through send_* and await_results:
 * nothing here ever blocks without a deadline. */

/* The deadline of a call starting now (monotonic ms). */
static int64_t call_deadline(const pg_store *s)
{
    if (s->call_timeout_ms > 0)
        return vx__mono_ms() + s->call_timeout_ms;
    return vx__mono_ms() + s->timeout_ms + VX_LIMIT_DB_DEADLINE_SLACK_MS;
}

/* The bound of a call, for messages (ms). */
static int call_bound(const pg_store *s)
{
    return s->call_timeout_ms > 0
               ? s->call_timeout_ms
               : s->timeout_ms + VX_LIMIT_DB_DEADLINE_SLACK_MS;
}

/* Waits until `c`'s socket is ready for `events` or `deadline` passes
 * (false). A socket error counts as ready: libpq then reports it. */
static bool wait_socket(PGconn *c, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - vx__mono_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = PQsocket(c), .events = events};
        if (p.fd < 0)
            return true;
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0 || (r < 0 && errno != EINTR))
            return true;
    }
}

typedef enum await_result {
    AWAIT_DONE,    /* every result is in (*out may still be an error) */
    AWAIT_TIMEOUT, /* the deadline passed: the connection is unusable */
    AWAIT_LOST,    /* the connection failed in the middle: unusable */
} await_result;

/* Sends what the command just queued on `c` (PQsend*) and collects all of
 * its results, up to `deadline`. `*out` is the first failed result, else
 * the last one (the caller PQclears it), or NULL. */
static await_result await_results(PGconn *c, int64_t deadline, PGresult **out)
{
    *out = NULL;
    for (;;) {
        int f = PQflush(c);
        if (f == 0)
            break;
        if (f < 0)
            return AWAIT_LOST;
        if (!wait_socket(c, POLLIN | POLLOUT, deadline))
            return AWAIT_TIMEOUT;
        if (!PQconsumeInput(c))
            return AWAIT_LOST;
    }
    for (;;) {
        while (PQisBusy(c)) {
            if (!wait_socket(c, POLLIN, deadline))
                return AWAIT_TIMEOUT;
            if (!PQconsumeInput(c) && PQisBusy(c))
                return AWAIT_LOST;
        }
        PGresult *r = PQgetResult(c);
        if (!r)
            return AWAIT_DONE;
        ExecStatusType ks = *out ? PQresultStatus(*out) : PGRES_COMMAND_OK;
        if (ks != PGRES_COMMAND_OK && ks != PGRES_TUPLES_OK) {
            PQclear(r); /* the first failure is the one to report */
        } else {
            PQclear(*out);
            *out = r;
        }
    }
}

static void gate_unref(cancel_gate *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1)
        vx__free(g);
}

typedef struct cancel_job {
    cancel_gate *gate; /* one reference */
    PGcancel *cancel;  /* owned */
} cancel_job;

static void *cancel_main(void *p)
{
    cancel_job *j = p;
    char buf[256];
    (void)PQcancel(j->cancel, buf, sizeof(buf));
    PQfreeCancel(j->cancel);
    atomic_store(&j->gate->busy, false);
    gate_unref(j->gate);
    vx__free(j);
    return NULL;
}

/* Asks the server to stop what `c` is running, from a detached thread:
 * PQcancel opens a connection and waits for the server to close it, which
 * a frozen server never does. At most one request per handle is in flight
 * (a stuck one is simply not repeated). Best effort: the server's own
 * statement_timeout ends the statement anyway. */
static void cancel_async(pg_store *s, PGconn *c)
{
    bool idle = false;
    if (!s->gate ||
        !atomic_compare_exchange_strong(&s->gate->busy, &idle, true))
        return;
    cancel_job *j = vx__malloc(sizeof(*j));
    PGcancel *pc = PQgetCancel(c);
    pthread_attr_t attr;
    pthread_t t;
    bool started = false;
    if (j && pc && pthread_attr_init(&attr) == 0) {
        j->gate = s->gate;
        j->cancel = pc;
        atomic_fetch_add(&s->gate->refs, 1);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&t, &attr, cancel_main, j) == 0;
        pthread_attr_destroy(&attr);
        if (!started)
            atomic_fetch_sub(&s->gate->refs, 1);
    }
    if (!started) {
        PQfreeCancel(pc);
        vx__free(j);
        atomic_store(&s->gate->busy, false);
    }
}

/* A call on `c` passed its deadline or lost the connection halfway: the
 * connection is in an unknown state and must not be used again. Cancels
 * what it runs (timeouts only) and shuts its socket down, so nothing libpq
 * sends on it later (the Terminate message of PQfinish/PQresetStart) can
 * block; libpq closes the descriptor itself. */
static void drop_conn(pg_store *s, PGconn *c, bool timed_out)
{
    if (timed_out)
        cancel_async(s, c);
    int fd = PQsocket(c);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    if (c == s->conn)
        s->broken = true;
}

/* The error of a call that did not finish (await_results): VX_EUNAVAILABLE
 * saying why, after dropping the connection. */
static vx_status unfinished(pg_store *s, PGconn *c, await_result ar,
                            vx_error *err, const char *what)
{
    char msg[200];
    if (ar == AWAIT_TIMEOUT)
        snprintf(msg, sizeof(msg), "no answer within %d ms", call_bound(s));
    else
        short_reason(PQerrorMessage(c), msg, sizeof(msg));
    drop_conn(s, c, ar == AWAIT_TIMEOUT);
    return vx__error_set(err, VX_EUNAVAILABLE, "",
                         "the database is unavailable: %s (%s; %s)",
                         msg[0] ? msg : "connection lost", s->where, what);
}

/* Runs SQL text (one or several statements, no parameters) on `c` within
 * the call's deadline. On success `*out` (when not NULL) gets the last
 * result; the caller PQclears it. */
static vx_status send_sql(pg_store *s, PGconn *c, const char *sql,
                          PGresult **out, vx_error *err, const char *what)
{
    PGresult *res = NULL;
    if (out)
        *out = NULL;
    if (c == s->conn && s->broken)
        return db_error(s, NULL, err, what);
    if (!PQsendQuery(c, sql))
        return db_error(s, NULL, err, what);
    await_result ar = await_results(c, call_deadline(s), &res);
    if (ar != AWAIT_DONE) {
        PQclear(res);
        return unfinished(s, c, ar, err, what);
    }
    ExecStatusType rs = PQresultStatus(res);
    vx_status st = (res && (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK))
                       ? VX_OK
                       : db_error(s, res, err, what);
    if (st == VX_OK && out)
        *out = res;
    else
        PQclear(res);
    return st;
}

static void no_notices(void *ud, const char *msg)
{
    (void)ud;
    (void)msg;
}

/* Reconnects a broken connection, but never inside a transaction: the rest
 * of it would run on the new connection in autocommit, committing half of
 * it. The reconnection is non-blocking (PQresetStart/PQresetPoll): each
 * call drives it for at most VX_LIMIT_DB_RECONNECT_STEP_MS and then fails,
 * leaving it to go on at the next call, so a caller (holding the service
 * mutex) never waits a whole connect timeout for a server that does not
 * answer. An attempt fails past VX_LIMIT_DB_CONNECT_SECS; after a failed
 * attempt none starts for VX_LIMIT_DB_RETRY_MS. True when the connection
 * is usable. */
static bool ensure_conn(pg_store *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK && !s->resetting && !s->broken)
        return true;
    if (s->in_tx)
        return false;
    int64_t now = vx__mono_ms();
    if (!s->resetting) {
        if (now < s->retry_at)
            return false;
        memset(s->prepared, 0, sizeof(s->prepared));
        s->broken = false; /* PQresetStart closes the dropped socket */
        if (!PQresetStart(s->conn)) {
            s->retry_at = now + VX_LIMIT_DB_RETRY_MS;
            return false;
        }
        s->resetting = true;
        s->reset_deadline = now + (int64_t)VX_LIMIT_DB_CONNECT_SECS * 1000;
    }
    int64_t step_end = now + VX_LIMIT_DB_RECONNECT_STEP_MS;
    for (;;) {
        PostgresPollingStatusType ps = PQresetPoll(s->conn);
        if (ps == PGRES_POLLING_OK) {
            s->resetting = false;
            PQsetnonblocking(s->conn, 1);
            return true;
        }
        now = vx__mono_ms();
        if (ps == PGRES_POLLING_FAILED || now >= s->reset_deadline) {
            s->resetting = false;
            s->retry_at = now + VX_LIMIT_DB_RETRY_MS;
            return false;
        }
        if (now >= step_end)
            return false; /* still connecting: go on at the next call */
        struct pollfd p = {.fd = PQsocket(s->conn),
                           .events =
                               ps == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        if (poll(&p, 1, (int)(step_end - now)) < 0 && errno != EINTR) {
            s->resetting = false;
            s->retry_at = now + VX_LIMIT_DB_RETRY_MS;
            return false;
        }
    }
}

/* Runs statement `q` with text parameters (NULL = SQL NULL). On success
 * *out is the result (the caller PQclears it). */
static vx_status run(pg_store *s, int q, int n, const char *const *params,
                     PGresult **out, vx_error *err, const char *what)
{
    *out = NULL;
    bool idle = !s->in_tx;
    for (int attempt = 0;; attempt++) {
        if ((idle && !ensure_conn(s)) || s->broken)
            return db_error(s, NULL, err, what);
        PGresult *res = NULL;
        char name[16];
        snprintf(name, sizeof(name), "vx%d", q);
        int64_t deadline = call_deadline(s);
        await_result ar = AWAIT_DONE;
        if (!s->prepared[q]) {
            if (!PQsendPrepare(s->conn, name, SQL[q].sql, n, NULL))
                return db_error(s, NULL, err, what);
            ar = await_results(s->conn, deadline, &res);
            if (ar == AWAIT_DONE && PQresultStatus(res) == PGRES_COMMAND_OK) {
                s->prepared[q] = true;
                PQclear(res);
                res = NULL;
            }
        }
        if (ar == AWAIT_DONE && !res) {
            if (!PQsendQueryPrepared(s->conn, name, n, params, NULL, NULL, 0))
                return db_error(s, NULL, err, what);
            ar = await_results(s->conn, deadline, &res);
        }
        if (ar != AWAIT_DONE) {
            PQclear(res);
            return unfinished(s, s->conn, ar, err, what);
        }
        ExecStatusType rs = PQresultStatus(res);
        if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK) {
            *out = res;
            return VX_OK;
        }
        bool retry = idle && SQL[q].reads && attempt == 0 &&
                     PQstatus(s->conn) == CONNECTION_BAD;
        if (!retry) {
            vx_status st = db_error(s, res, err, what);
            PQclear(res);
            return st;
        }
        PQclear(res);
    }
}

/* Runs SQL text without parameters (one or several statements) on the
 * main connection. */
static vx_status exec(pg_store *s, const char *sql, vx_error *err,
                      const char *what)
{
    return send_sql(s, s->conn, sql, NULL, err, what);
}

static void pg_close(store *base)
{
    pg_store *s = (pg_store *)base;
    if (!s)
        return;
    if (s->broken)
        drop_conn(s, s->conn, false); /* nothing PQfinish sends can block */
    PQfinish(s->conn);
    PQfinish(s->listen);
    gate_unref(s->gate);
    vx__free(s->dsn);
    vx__free(s);
}

/* True when this libpq knows the connection parameter `key` (older ones
 * refuse unknown keys, and tcp_user_timeout came with libpq 12). */
static bool libpq_knows(const char *key)
{
    PQconninfoOption *all = PQconndefaults();
    bool found = false;
    for (PQconninfoOption *o = all; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            found = true;
    PQconninfoFree(all);
    return found;
}

/* A new connection to `dsn` with Vexil's session defaults (the URI,
 * expanded from dbname, overrides them): bounded connect time, TCP
 * keepalives and tcp_user_timeout so a vanished server is noticed.
 * `start`: begin connecting without waiting (PQconnectStartParams; drive
 * it with PQconnectPoll), else connect now, waiting up to connect_timeout.
 * NULL only when out of memory; check PQstatus. */
static PGconn *connect_to(const pg_store *s, const char *app, bool start)
{
    char options[256], connect_secs[16], user_timeout[16];
    session_options(options, sizeof(options), s->timeout_ms);
    snprintf(connect_secs, sizeof(connect_secs), "%d",
             VX_LIMIT_DB_CONNECT_SECS);
    snprintf(user_timeout, sizeof(user_timeout), "%d", s->timeout_ms);
    const char *keys[12] = {
        "application_name", "connect_timeout", "client_encoding",
        "options",          "keepalives_idle", "keepalives_interval",
        "keepalives_count", "dbname",          NULL};
    const char *vals[12] = {app,  connect_secs, "UTF8", options, "30",
                            "10", "3",          s->dsn, NULL};
    if (libpq_knows("tcp_user_timeout")) {
        /* Before dbname, so a DSN that sets it wins. */
        keys[7] = "tcp_user_timeout";
        vals[7] = user_timeout;
        keys[8] = "dbname";
        vals[8] = s->dsn;
        keys[9] = NULL;
        vals[9] = NULL;
    }
    PGconn *c = start ? PQconnectStartParams(keys, vals, 1)
                      : PQconnectdbParams(keys, vals, 1);
    if (c) {
        PQsetNoticeProcessor(c, no_notices, NULL);
        if (!start && PQstatus(c) == CONNECTION_OK)
            PQsetnonblocking(c, 1);
    }
    return c;
}

static vx_status pg_open(const char *dsn, const store_limits *lim, store **out,
                         vx_error *err)
{
    *out = NULL;
    pg_store *s = vx__malloc(sizeof(*s));
    if (!s)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    memset(s, 0, sizeof(*s));
    s->base.ops = &store_postgres_ops;
    s->timeout_ms =
        lim && lim->timeout_ms > 0 ? lim->timeout_ms : VX_LIMIT_DB_TIMEOUT_MS;
    store_dsn_redact(dsn, s->where, sizeof(s->where));
    size_t n = strlen(dsn) + 1;
    s->dsn = vx__malloc(n);
    if (s->dsn)
        memcpy(s->dsn, dsn, n);
    s->gate = vx__calloc(1, sizeof(*s->gate));
    if (s->gate)
        atomic_init(&s->gate->refs, 1);
    s->conn = s->dsn && s->gate ? connect_to(s, "vexil", false) : NULL;
    if (!s->conn) {
        pg_close(&s->base);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        char msg[200];
        one_line(PQerrorMessage(s->conn), msg, sizeof(msg));
        vx__error_set(err, VX_EIO, "", "cannot connect to %s: %s", s->where,
                      msg);
        pg_close(&s->base);
        return VX_EIO;
    }
    if (PQserverVersion(s->conn) < 110000) {
        vx__error_set(err, VX_EIO, "",
                      "%s: PostgreSQL %d.%d is too old (11 or later is needed)",
                      s->where, PQserverVersion(s->conn) / 10000,
                      PQserverVersion(s->conn) % 10000);
        pg_close(&s->base);
        return VX_EIO;
    }
    *out = &s->base;
    return VX_OK;
}

/* Applies the pending migrations in one transaction under the write lock,
 * so several processes starting at once apply each migration once. */
static vx_status pg_migrate(store *base, int *applied, vx_error *err)
{
    pg_store *s = (pg_store *)base;
    *applied = 0;
    PGresult *res = NULL;
    if (!ensure_conn(s))
        return db_error(s, NULL, err, "migrate");
    vx_status st =
        exec(s,
             "BEGIN; SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK_KEY ");"
             "CREATE TABLE IF NOT EXISTS schema_migrations ("
             " version integer PRIMARY KEY,"
             " applied_at bigint NOT NULL)",
             err, "migrate");
    if (st != VX_OK)
        goto out;
    st = send_sql(s, s->conn,
                  "SELECT coalesce(max(version), 0) FROM schema_migrations",
                  &res, err, "migrate");
    if (st != VX_OK)
        goto out;
    int have = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    if (have > pg_migration_count) {
        st = vx__error_set(err, VX_EIO, "",
                           "database: schema version %d is newer than this "
                           "Vexil knows (%d); upgrade Vexil",
                           have, pg_migration_count);
        goto out;
    }
    for (int v = have + 1; v <= pg_migration_count && st == VX_OK; v++) {
        char record[160];
        snprintf(record, sizeof(record),
                 "INSERT INTO schema_migrations VALUES (%d,"
                 " (extract(epoch FROM now()) * 1000)::bigint)",
                 v);
        st = exec(s, pg_migrations[v - 1], err, "migrate");
        if (st == VX_OK)
            st = exec(s, record, err, "migrate");
        if (st == VX_OK)
            (*applied)++;
    }
    if (st == VX_OK)
        st = exec(s, "COMMIT", err, "migrate");
out:
    PQclear(res);
    if (st != VX_OK) {
        *applied = 0;
        if (!s->broken && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
            exec(s, "ROLLBACK", NULL, "rollback");
    }
    return st;
}

static vx_status pg_ping(store *base)
{
    pg_store *s = (pg_store *)base;
    PGresult *res;
    vx_status st = run(s, Q_PING, 0, NULL, &res, NULL, "ping");
    PQclear(res);
    return st;
}

/* A readiness check: the ping, with the reason. (Disk space and the like
 * are the server's: its errors say so when a write fails.) */
static vx_status pg_health(store *base, vx_error *err)
{
    pg_store *s = (pg_store *)base;
    PGresult *res;
    vx_status st = run(s, Q_PING, 0, NULL, &res, err, "check");
    PQclear(res);
    return st;
}

static void pg_set_call_timeout(store *base, int ms)
{
    ((pg_store *)base)->call_timeout_ms = ms > 0 ? ms : 0;
}

static vx_status pg_begin(store *base, vx_error *err)
{
    pg_store *s = (pg_store *)base;
    if (s->in_tx)
        return vx__error_set(err, VX_EIO, "",
                             "database: a transaction is already open");
    if (!ensure_conn(s))
        return db_error(s, NULL, err, "begin");
    s->imported = false;
    s->tx_event = 0;
    vx_status st = exec(s,
                        "BEGIN ISOLATION LEVEL READ COMMITTED;"
                        " SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK_KEY ")",
                        err, "begin");
    /* BEGIN is idempotent: a connection found broken only now (the server
     * restarted) gets one fresh try; one that timed out does not (the
     * server is not answering: trying again would double the wait). */
    if (st != VX_OK && !s->broken && PQstatus(s->conn) == CONNECTION_BAD &&
        ensure_conn(s))
        st = exec(s,
                  "BEGIN ISOLATION LEVEL READ COMMITTED;"
                  " SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK_KEY ")",
                  err, "begin");
    if (st != VX_OK && !s->broken && PQstatus(s->conn) == CONNECTION_OK &&
        PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        exec(s, "ROLLBACK", NULL, "rollback");
    s->in_tx = st == VX_OK;
    return st;
}

static vx_status pg_commit(store *base, vx_error *err)
{
    pg_store *s = (pg_store *)base;
    vx_status st = VX_OK;
    if (!s->in_tx)
        return vx__error_set(err, VX_EIO, "",
                             "database: commit: no transaction is open");
    if (PQtransactionStatus(s->conn) == PQTRANS_INERROR)
        return vx__error_set(err, VX_EIO, "",
                             "database: commit: the transaction failed "
                             "earlier and was not committed");
    /* Imported ids bypassed the identity: move it past the largest. */
    if (s->imported)
        st = exec(s,
                  "SELECT setval(pg_get_serial_sequence('events', 'id'), m)"
                  " FROM (SELECT max(id) AS m FROM events) x"
                  " WHERE m IS NOT NULL",
                  err, "commit");
    /* Announce the new revision to every watcher; delivered at COMMIT. */
    if (st == VX_OK && s->tx_event > 0) {
        char notify[96];
        snprintf(notify, sizeof(notify),
                 "SELECT pg_notify('" CHANNEL "', '%lld')",
                 (long long)s->tx_event);
        st = exec(s, notify, err, "commit");
    }
    if (st == VX_OK && (PQstatus(s->conn) == CONNECTION_BAD || s->broken))
        st = vx__error_set(err, VX_EUNAVAILABLE, "",
                           "the database is unavailable: lost the connection "
                           "to %s during the transaction; nothing was saved",
                           s->where);
    if (st != VX_OK)
        return st;
    PGresult *res = NULL;
    await_result ar = AWAIT_LOST;
    if (PQsendQuery(s->conn, "COMMIT"))
        ar = await_results(s->conn, call_deadline(s), &res);
    if (ar != AWAIT_DONE) {
        char msg[200];
        if (ar == AWAIT_TIMEOUT)
            snprintf(msg, sizeof(msg), "no answer within %d ms", call_bound(s));
        else
            short_reason(PQerrorMessage(s->conn), msg, sizeof(msg));
        drop_conn(s, s->conn, ar == AWAIT_TIMEOUT);
        st = vx__error_set(err, VX_EUNAVAILABLE, "",
                           "the database is unavailable: %s during COMMIT "
                           "(%s); the change may or may not have been saved",
                           msg[0] ? msg : "connection lost", s->where);
    } else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        st = PQstatus(s->conn) == CONNECTION_BAD
                 ? vx__error_set(err, VX_EUNAVAILABLE, "",
                                 "the database is unavailable: the connection "
                                 "to %s was lost during COMMIT; the change "
                                 "may or may not have been saved",
                                 s->where)
                 : db_error(s, res, err, "commit");
    } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        /* COMMIT of a failed transaction answers ROLLBACK. */
        st = vx__error_set(err, VX_EIO, "",
                           "database: commit: the transaction was rolled "
                           "back");
    }
    PQclear(res);
    s->imported = false;
    s->tx_event = 0;
    s->in_tx = false; /* COMMIT ends the transaction, even when it fails */
    return st;
}

static void pg_rollback(store *base)
{
    pg_store *s = (pg_store *)base;
    s->imported = false;
    s->tx_event = 0;
    s->in_tx = false;
    if (!s->broken && PQstatus(s->conn) == CONNECTION_OK &&
        PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        exec(s, "ROLLBACK", NULL, "rollback");
}

static json_t *cell_json(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return json_loadb(PQgetvalue(res, row, col),
                      (size_t)PQgetlength(res, row, col), JSON_DECODE_ANY,
                      NULL);
}

static int64_t cell_int(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *cell_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static vx_status pg_doc_get(store *base, store_kind k, const char *key,
                            json_t **out, vx_error *err)
{
    pg_store *s = (pg_store *)base;
    char kind[16];
    snprintf(kind, sizeof(kind), "%d", (int)k);
    const char *p[] = {kind, key};
    PGresult *res;
    *out = NULL;
    vx_status st = run(s, Q_GET, 2, p, &res, err, "read");
    if (st != VX_OK)
        return st;
    if (PQntuples(res) == 0) {
        st = VX_ENOTFOUND;
    } else {
        *out = cell_json(res, 0, 0);
        if (!*out)
            st = vx__error_set(err, VX_EIO, "", "database: corrupt document");
    }
    PQclear(res);
    return st;
}

/* json_dumps into a malloc'd string; NULL when out of memory. */
static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

static vx_status pg_doc_put(store *base, store_kind k, const char *key,
                            const char *parent, const json_t *doc,
                            vx_error *err)
{
    pg_store *s = (pg_store *)base;
    char kind[16];
    snprintf(kind, sizeof(kind), "%d", (int)k);
    char *text = dump(doc);
    if (!text)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    const char *p[] = {kind, key, parent, text};
    PGresult *res;
    vx_status st = run(s, Q_PUT, 4, p, &res, err, "write");
    PQclear(res);
    free(text);
    return st;
}

static vx_status pg_doc_delete(store *base, store_kind k, const char *key,
                               vx_error *err)
{
    pg_store *s = (pg_store *)base;
    char kind[16];
    snprintf(kind, sizeof(kind), "%d", (int)k);
    const char *p[] = {kind, key};
    PGresult *res;
    vx_status st = run(s, Q_DELETE, 2, p, &res, err, "delete");
    if (st == VX_OK && strcmp(PQcmdTuples(res), "0") == 0)
        st = VX_ENOTFOUND;
    PQclear(res);
    return st;
}

/* Builds one result from row `i` of `res` (`ud`: what the caller passes
 * to collect); NULL when the row cannot be read. */
typedef json_t *(*row_fn)(const PGresult *res, int i, const void *ud);

/* Stores in `*out` a new array of row(res, i, ud) for every row of `res`,
 * and clears `res`. */
static vx_status collect(PGresult *res, row_fn row, const void *ud,
                         const char *what, json_t **out, vx_error *err)
{
    json_t *arr = json_array();
    vx_status st =
        arr ? VX_OK : vx__error_set(err, VX_ENOMEM, "", "out of memory");
    for (int i = 0; st == VX_OK && i < PQntuples(res); i++) {
        json_t *r = row(res, i, ud);
        if (!r || json_array_append_new(arr, r) != 0)
            st =
                vx__error_set(err, VX_EIO, "", "database: unreadable %s", what);
    }
    PQclear(res);
    if (st != VX_OK) {
        json_decref(arr);
        arr = NULL;
    }
    *out = arr;
    return st;
}

/* A document row: its JSON in column 0. */
static json_t *doc_row(const PGresult *res, int i, const void *ud)
{
    (void)ud;
    return cell_json(res, i, 0);
}

static vx_status pg_doc_list(store *base, store_kind k, const char *parent,
                             json_t **out, vx_error *err)
{
    pg_store *s = (pg_store *)base;
    char kind[16];
    snprintf(kind, sizeof(kind), "%d", (int)k);
    const char *p[] = {kind, parent};
    PGresult *res;
    *out = NULL;
    vx_status st = run(s, parent ? Q_LIST_PARENT : Q_LIST_ALL, parent ? 2 : 1,
                       p, &res, err, "list");
    if (st != VX_OK)
        return st;
    return collect(res, doc_row, NULL, "document", out, err);
}

/* Runs a one-row, one-column count statement. */
static vx_status count(pg_store *s, int q, int n, const char *const *p,
                       int64_t *out, vx_error *err)
{
    PGresult *res;
    vx_status st = run(s, q, n, p, &res, err, "count");
    if (st == VX_OK)
        *out = cell_int(res, 0, 0);
    PQclear(res);
    return st;
}

static vx_status pg_doc_count(store *base, store_kind k, int64_t *out,
                              vx_error *err)
{
    char kind[16];
    snprintf(kind, sizeof(kind), "%d", (int)k);
    const char *p[] = {kind};
    return count((pg_store *)base, Q_COUNT, 1, p, out, err);
}

static vx_status pg_doc_count_true(store *base, store_kind k, const char *field,
                                   int64_t *out, vx_error *err)
{
    char kind[16];
    snprintf(kind, sizeof(kind), "%d", (int)k);
    const char *p[] = {kind, field};
    return count((pg_store *)base, Q_COUNT_TRUE, 2, p, out, err);
}

static vx_status pg_next_id(store *base, const char *seq, int64_t *out,
                            vx_error *err)
{
    const char *p[] = {seq};
    return count((pg_store *)base, Q_SEQ_NEXT, 1, p, out, err);
}

/* Inserts `ev` with Q_EVENT_ADD (the id comes back in *id) or Q_EVENT_PUT
 * (ev->id is kept). */
static vx_status event_insert(pg_store *s, int q, const store_event *ev,
                              int64_t *id, vx_error *err)
{
    char created[32], given[32];
    snprintf(created, sizeof(created), "%lld", (long long)ev->created_ms);
    snprintf(given, sizeof(given), "%lld", (long long)ev->id);
    char *data = ev->data ? dump(ev->data) : NULL;
    char *pre = ev->pre_data ? dump(ev->pre_data) : NULL;
    vx_status st = VX_OK;
    PGresult *res = NULL;
    if ((ev->data && !data) || (ev->pre_data && !pre)) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    const char *p[] = {
        ev->type,    ev->created_by, ev->project, ev->environment,
        ev->feature, data,           pre,         created,
        given};
    st = run(s, q, q == Q_EVENT_PUT ? 9 : 8, p, &res, err, "event");
    if (st == VX_OK && id)
        *id = cell_int(res, 0, 0);
    if (st == VX_OK) {
        int64_t wrote = id ? *id : ev->id;
        if (wrote > s->tx_event)
            s->tx_event = wrote;
    }
out:
    PQclear(res);
    free(data);
    free(pre);
    return st;
}

static vx_status pg_event_append(store *base, store_event *ev, vx_error *err)
{
    return event_insert((pg_store *)base, Q_EVENT_ADD, ev, &ev->id, err);
}

static vx_status pg_event_put(store *base, const store_event *ev, vx_error *err)
{
    pg_store *s = (pg_store *)base;
    vx_status st = event_insert(s, Q_EVENT_PUT, ev, NULL, err);
    if (st == VX_OK)
        s->imported = true;
    return st;
}

static json_t *text_or_null(const PGresult *res, int row, int col)
{
    const char *t = cell_text(res, row, col);
    return t ? json_string(t) : json_null();
}

static json_t *json_or_null(const PGresult *res, int row, int col)
{
    json_t *j = cell_json(res, row, col);
    return j ? j : json_null();
}

static vx_status pg_event_last_id(store *base, int64_t *out, vx_error *err)
{
    return count((pg_store *)base, Q_EVENT_LAST, 0, NULL, out, err);
}

/* An event row (`ud`: the filter; brief pages leave data out). */
static json_t *event_row(const PGresult *res, int i, const void *ud)
{
    const store_event_filter *f = ud;
    return json_pack(
        "{sI so so so so so so so sI}", "id", (json_int_t)cell_int(res, i, 0),
        "type", text_or_null(res, i, 1), "createdBy", text_or_null(res, i, 2),
        "project", text_or_null(res, i, 3), "environment",
        text_or_null(res, i, 4), "featureName", text_or_null(res, i, 5), "data",
        f->brief ? json_null() : json_or_null(res, i, 6), "preData",
        f->brief ? json_null() : json_or_null(res, i, 7), "createdAtMs",
        (json_int_t)cell_int(res, i, 8));
}

/* An entry row: [key, parent or null, document]. */
static json_t *entry_row(const PGresult *res, int i, const void *ud)
{
    (void)ud;
    json_t *doc = cell_json(res, i, 2);
    return doc ? json_pack("[s s? o]", cell_text(res, i, 0),
                           cell_text(res, i, 1), doc)
               : NULL;
}

static vx_status pg_event_query(store *base, const store_event_filter *f,
                                json_t **out, int64_t *total, vx_error *err)
{
    pg_store *s = (pg_store *)base;
    char from[32], to[32], limit[32], offset[32];
    snprintf(from, sizeof(from), "%lld", (long long)f->from_ms);
    snprintf(to, sizeof(to), "%lld", (long long)f->to_ms);
    snprintf(limit, sizeof(limit), "%lld", (long long)f->limit);
    snprintf(offset, sizeof(offset), "%lld", (long long)f->offset);
    /* A negative limit means no limit, as in SQLite. */
    const char *p[] = {f->type,
                       f->project,
                       f->feature,
                       f->environment,
                       f->created_by,
                       from,
                       to,
                       f->limit < 0 ? NULL : limit,
                       f->offset < 0 ? "0" : offset};
    *out = NULL;
    *total = -1;
    vx_status st = f->brief ? VX_OK : count(s, Q_EVENT_COUNT, 7, p, total, err);
    if (st != VX_OK)
        return st;
    PGresult *res;
    st = run(s, Q_EVENT_PAGE, 9, p, &res, err, "events");
    if (st != VX_OK)
        return st;
    return collect(res, event_row, f, "event", out, err);
}

static vx_status pg_doc_entries(store *base, store_kind k, json_t **out,
                                vx_error *err)
{
    pg_store *s = (pg_store *)base;
    char kind[16];
    snprintf(kind, sizeof(kind), "%d", (int)k);
    const char *p[] = {kind};
    PGresult *res;
    *out = NULL;
    vx_status st = run(s, Q_ENTRIES, 1, p, &res, err, "list");
    if (st != VX_OK)
        return st;
    return collect(res, entry_row, NULL, "document", out, err);
}

static vx_status pg_seq_list(store *base, json_t **out, vx_error *err)
{
    pg_store *s = (pg_store *)base;
    PGresult *res;
    *out = NULL;
    vx_status st = run(s, Q_SEQ_LIST, 0, NULL, &res, err, "sequences");
    if (st != VX_OK)
        return st;
    json_t *obj = json_object();
    for (int i = 0; obj && i < PQntuples(res); i++) {
        if (json_object_set_new(obj, PQgetvalue(res, i, 0),
                                json_integer(cell_int(res, i, 1))) != 0) {
            json_decref(obj);
            obj = NULL;
        }
    }
    PQclear(res);
    if (!obj)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    *out = obj;
    return VX_OK;
}

static vx_status pg_seq_set(store *base, const char *seq, int64_t value,
                            vx_error *err)
{
    char v[32];
    snprintf(v, sizeof(v), "%lld", (long long)value);
    const char *p[] = {seq, v};
    PGresult *res;
    vx_status st =
        run((pg_store *)base, Q_SEQ_SET, 2, p, &res, err, "sequence");
    PQclear(res);
    return st;
}

/* Takes every notification already read on the watch connection: the
 * largest revision announced (a payload that is not a number counts as
 * "check", -1, unless a real revision came too). */
static int64_t drain_notifies(PGconn *c, int64_t have)
{
    PGnotify *n;
    for (n = PQnotifies(c); n; n = PQnotifies(c)) {
        char *end = NULL;
        long long v = strtoll(n->extra, &end, 10);
        if (!end || *end || v <= 0)
            v = -1;
        if (v > have || (v < 0 && have == 0))
            have = v;
        PQfreemem(n);
    }
    return have;
}

/* Closes the watch connection (it is re-opened by a later watch). */
static void listen_close(pg_store *s)
{
    PQfinish(s->listen);
    s->listen = NULL;
    s->listen_ready = false;
}

/* The watch connection failed: closes it, backs off, and fills `err`. */
static vx_status listen_failed(pg_store *s, const char *why, vx_error *err)
{
    char msg[200];
    short_reason(why && *why ? why : PQerrorMessage(s->listen), msg,
                 sizeof(msg));
    listen_close(s);
    s->listen_retry_at = vx__mono_ms() + VX_LIMIT_DB_RETRY_MS;
    return vx__error_set(err, VX_EUNAVAILABLE, "",
                         "the database is unavailable: %s (%s; listen)",
                         msg[0] ? msg : "connection lost", s->where);
}

/* Brings the watch connection up without blocking past `deadline`:
 * starts connecting when there is none (not before listen_retry_at),
 * drives PQconnectPoll, then LISTENs. VX_OK and *fresh when it has just
 * become ready (announcements before may have been missed); VX_EAGAIN-like
 * progress is VX_OK with the connection still not ready. */
static vx_status listen_up(pg_store *s, int64_t deadline, bool *fresh,
                           vx_error *err)
{
    *fresh = false;
    if (s->listen_ready)
        return VX_OK;
    int64_t now = vx__mono_ms();
    if (!s->listen) {
        if (now < s->listen_retry_at)
            return vx__error_set(err, VX_EUNAVAILABLE, "",
                                 "the database is unavailable: the watch "
                                 "connection to %s is down",
                                 s->where);
        s->listen = connect_to(s, "vexil-watch", true);
        if (!s->listen)
            return vx__error_set(err, VX_ENOMEM, "", "out of memory");
        if (PQstatus(s->listen) == CONNECTION_BAD)
            return listen_failed(s, NULL, err);
        s->listen_deadline = now + (int64_t)VX_LIMIT_DB_CONNECT_SECS * 1000;
    }
    for (;;) {
        PostgresPollingStatusType ps = PQconnectPoll(s->listen);
        if (ps == PGRES_POLLING_OK)
            break;
        if (ps == PGRES_POLLING_FAILED)
            return listen_failed(s, NULL, err);
        now = vx__mono_ms();
        if (now >= s->listen_deadline)
            return listen_failed(s, "timeout expired", err);
        int64_t until =
            deadline < s->listen_deadline ? deadline : s->listen_deadline;
        if (now >= until)
            return VX_OK; /* still connecting: go on at the next watch */
        wait_socket(s->listen, ps == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                    until);
    }
    PQsetnonblocking(s->listen, 1);
    PGresult *res = NULL;
    await_result ar = AWAIT_LOST;
    int64_t listen_by = vx__mono_ms() + s->timeout_ms;
    if (PQsendQuery(s->listen, "LISTEN " CHANNEL))
        ar = await_results(s->listen, listen_by, &res);
    bool ok = ar == AWAIT_DONE && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        if (ar == AWAIT_TIMEOUT) {
            drop_conn(s, s->listen, true);
            return listen_failed(s, "no answer to LISTEN", err);
        }
        return listen_failed(s, NULL, err);
    }
    s->listen_ready = true;
    *fresh = true;
    return VX_OK;
}

static vx_status pg_watch(store *base, int timeout_ms, int64_t *revision,
                          vx_error *err)
{
    pg_store *s = (pg_store *)base;
    int64_t start = vx__mono_ms(), deadline = start + timeout_ms;
    *revision = 0;
    if (!s->listen_ready) {
        bool fresh = false;
        vx_status st = listen_up(s, deadline, &fresh, err);
        if (st == VX_OK && fresh) {
            *revision = -1; /* anything before the LISTEN was missed */
            return VX_OK;
        }
        sleep_ms(deadline - vx__mono_ms());
        return st; /* VX_OK: still connecting, nothing announced yet */
    }
    /* Whatever already arrived (without blocking), then wait for more. */
    int64_t got = 0;
    if (PQconsumeInput(s->listen))
        got = drain_notifies(s->listen, 0);
    while (got == 0) {
        int left = timeout_ms - (int)(vx__mono_ms() - start);
        if (left <= 0)
            break;
        struct pollfd p = {.fd = PQsocket(s->listen), .events = POLLIN};
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (!PQconsumeInput(s->listen) || PQstatus(s->listen) != CONNECTION_OK)
            return listen_failed(s, NULL, err);
        got = drain_notifies(s->listen, 0);
    }
    *revision = got;
    return VX_OK;
}

const store_ops store_postgres_ops = {
    .version = STORE_OPS_VERSION,
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .migrate = pg_migrate,
    .ping = pg_ping,
    .health = pg_health,
    .set_call_timeout = pg_set_call_timeout,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .doc_get = pg_doc_get,
    .doc_put = pg_doc_put,
    .doc_delete = pg_doc_delete,
    .doc_list = pg_doc_list,
    .doc_count = pg_doc_count,
    .doc_count_true = pg_doc_count_true,
    .next_id = pg_next_id,
    .event_append = pg_event_append,
    .event_query = pg_event_query,
    .event_last_id = pg_event_last_id,
    .doc_entries = pg_doc_entries,
    .seq_list = pg_seq_list,
    .seq_set = pg_seq_set,
    .event_put = pg_event_put,
    .watch = pg_watch,
};
