/* SQLite implementation of the store method table. Documents are stored as
 * JSON text; statements are prepared once per connection and reset after
 * each use. Writes happen inside BEGIN IMMEDIATE ... COMMIT, so every use
 * case is one transaction and a crash leaves either all of it or none.
 *
 * Honest durability: the file's identity (device and inode) is taken at
 * open and compared with what the path names before every write
 * transaction begins and before it commits. A file deleted or replaced
 * under a running Vexil would take every later write with it when Vexil
 * stops, so such writes are refused (VX_EUNAVAILABLE) and never
 * acknowledged; what the handle still holds is copied once to
 * "<path>.rescued-<time>" for the operator. Storage errors (disk full,
 * read-only, I/O) are VX_EUNAVAILABLE too, and health reports them until a
 * write succeeds again. */
#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"
#include "store/sqlite/sqlite_store.h"

enum {
    Q_GET,
    Q_PUT,
    Q_DELETE,
    Q_LIST_ALL,
    Q_LIST_PARENT,
    Q_COUNT,
    Q_COUNT_TRUE,
    Q_SEQ_BUMP,
    Q_SEQ_GET,
    Q_EVENT_ADD,
    Q_EVENT_LAST,
    Q_ENTRIES,
    Q_SEQ_LIST,
    Q_SEQ_SET,
    Q_EVENT_PUT,
    Q_COUNT_STMTS,
};

static const char *const SQL[Q_COUNT_STMTS] = {
    [Q_GET] = "SELECT data FROM docs WHERE kind = ?1 AND key = ?2",
    [Q_PUT] =
        "INSERT INTO docs (kind, key, parent, data) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT (kind, key) DO UPDATE SET parent = excluded.parent,"
        " data = excluded.data",
    [Q_DELETE] = "DELETE FROM docs WHERE kind = ?1 AND key = ?2",
    [Q_LIST_ALL] = "SELECT data FROM docs WHERE kind = ?1 ORDER BY rowid",
    [Q_LIST_PARENT] =
        "SELECT data FROM docs WHERE kind = ?1 AND parent = ?2 ORDER BY rowid",
    [Q_COUNT] = "SELECT count(*) FROM docs WHERE kind = ?1",
    [Q_COUNT_TRUE] = "SELECT count(*) FROM docs WHERE kind = ?1"
                     " AND json_type(data, '$.' || ?2) = 'true'",
    [Q_SEQ_BUMP] = "INSERT INTO seqs (name, value) VALUES (?1, 1)"
                   " ON CONFLICT (name) DO UPDATE SET value = value + 1",
    [Q_SEQ_GET] = "SELECT value FROM seqs WHERE name = ?1",
    [Q_EVENT_ADD] =
        "INSERT INTO events (type, created_by, project, environment,"
        " feature, data, pre_data, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_EVENT_LAST] = "SELECT coalesce(max(id), 0) FROM events",
    [Q_ENTRIES] =
        "SELECT key, parent, data FROM docs WHERE kind = ?1 ORDER BY rowid",
    [Q_SEQ_LIST] = "SELECT name, value FROM seqs ORDER BY name",
    [Q_SEQ_SET] = "INSERT INTO seqs (name, value) VALUES (?1, ?2)"
                  " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [Q_EVENT_PUT] =
        "INSERT INTO events (id, type, created_by, project, environment,"
        " feature, data, pre_data, created_at)"
        " VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};

#define PATH_MAX_BYTES 4096 /* the database path kept for checks */

typedef struct sqlite_store {
    store base;                        /* must be first */
    sqlite3 *db;                       /* the connection */
    sqlite3_stmt *stmt[Q_COUNT_STMTS]; /* prepared lazily */
    char path[PATH_MAX_BYTES];         /* the file, "" for :memory: */
    dev_t dev;                         /* its device at open */
    ino_t ino;                         /* and inode */
    bool lost;                         /* deleted or replaced (sticky while
                                          the path names another file) */
    bool rescued;                      /* the rescue copy was attempted */
    char rescue[PATH_MAX_BYTES + 64];  /* where it went, "" when failed */
    char unwritable[200];              /* why the last write failed (disk
                                          full, read-only...), "" when the
                                          last write went through */
} sqlite_store;

/* True for the result codes that mean the file cannot store: the caller
 * may retry once the operator has fixed it (HTTP 503), not a bug. */
static bool storage_error(int code)
{
    switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM: return true;
    }
    return false;
}

/* Fills `err` from the connection's last error. A storage error is
 * VX_EUNAVAILABLE and is remembered for health. */
static vx_status db_error_msg(sqlite_store *s, vx_error *err, const char *what,
                              int code, const char *msg)
{
    if (storage_error(code)) {
        snprintf(s->unwritable, sizeof(s->unwritable), "%s", msg);
        return vx__error_set(err, VX_EUNAVAILABLE, "",
                             "the database is unavailable: %s (sqlite:%s; %s)",
                             msg, s->path[0] ? s->path : ":memory:", what);
    }
    vx_status st = (code == SQLITE_NOMEM) ? VX_ENOMEM : VX_EIO;
    vx__error_set(err, st, "", "database: %s: %s", what, msg);
    return st;
}

static vx_status db_error(sqlite_store *s, vx_error *err, const char *what)
{
    return db_error_msg(s, err, what, sqlite3_extended_errcode(s->db),
                        sqlite3_errmsg(s->db));
}

static sqlite3_stmt *stmt(sqlite_store *s, int q, vx_error *err)
{
    if (!s->stmt[q] &&
        sqlite3_prepare_v3(s->db, SQL[q], -1, SQLITE_PREPARE_PERSISTENT,
                           &s->stmt[q], NULL) != SQLITE_OK) {
        db_error(s, err, "prepare");
        return NULL;
    }
    return s->stmt[q];
}

static vx_status exec(sqlite_store *s, const char *sql, vx_error *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        vx_status st;
        if (storage_error(rc)) {
            st = db_error_msg(s, err, "write", rc, msg ? msg : "error");
        } else {
            st = VX_EIO;
            vx__error_set(err, VX_EIO, "", "database: %s", msg ? msg : "error");
        }
        sqlite3_free(msg);
        return st;
    }
    return VX_OK;
}

/* Copies what the handle still holds (the deleted or replaced file, open)
 * to "<path>.rescued-<UTC time>" with SQLite's backup API, once. */
static void rescue(sqlite_store *s)
{
    if (s->rescued)
        return;
    s->rescued = true;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(s->rescue, sizeof(s->rescue), "%s.rescued-%s", s->path, when);
    sqlite3 *to = NULL;
    bool ok = sqlite3_open_v2(s->rescue, &to,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              NULL) == SQLITE_OK;
    sqlite3_backup *b =
        ok ? sqlite3_backup_init(to, "main", s->db, "main") : NULL;
    ok = b && sqlite3_backup_step(b, -1) == SQLITE_DONE;
    if (b)
        ok = sqlite3_backup_finish(b) == SQLITE_OK && ok;
    sqlite3_close(to);
    if (!ok) {
        unlink(s->rescue);
        s->rescue[0] = '\0';
    }
}

/* VX_OK while the path still names the file opened (for :memory:,
 * always). Else VX_EUNAVAILABLE saying what happened; the first time, a
 * rescue copy is made. A file moved back in place is fine again. */
static vx_status check_file(sqlite_store *s, vx_error *err, const char *what)
{
    if (!s->path[0])
        return VX_OK;
    struct stat now;
    int e = stat(s->path, &now) == 0 ? 0 : errno;
    bool same = e == 0 && now.st_dev == s->dev && now.st_ino == s->ino;
    if (same) {
        s->lost = false;
        return VX_OK;
    }
    s->lost = true;
    rescue(s);
    return vx__error_set(err, VX_EUNAVAILABLE, "",
                         "the database is unavailable: %s was %s while Vexil "
                         "ran, so writes are refused (%s; %s%s)",
                         s->path,
                         e == ENOENT ? "deleted"
                         : e         ? "made unreachable"
                                     : "replaced by another file",
                         what, s->rescue[0] ? "its data is in " : "no copy",
                         s->rescue);
}

static void sq_close(store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!s)
        return;
    for (int i = 0; i < Q_COUNT_STMTS; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    vx__free(s);
}

/* Creates the directory holding `path` when it is missing (one level). */
static void ensure_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return;
    *slash = '\0';
    mkdir(dir, 0700);
}

/* A file that is missing although the directory shows it existed: its
 * write-ahead log, or a copy rescued when it was deleted under a running
 * Vexil. Opening would silently start an empty database: refused, with
 * what to do. */
static vx_status check_missing(const char *path, vx_error *err)
{
    char wal[PATH_MAX_BYTES + 8];
    struct stat st;
    if (stat(path, &st) == 0 || errno != ENOENT)
        return VX_OK;
    char dir[PATH_MAX_BYTES];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? path + (slash - dir) + 1 : path;
    if (slash == dir)
        dir[1] = '\0'; /* a file in "/" */
    else if (slash)
        *slash = '\0';
    DIR *d = opendir(slash ? dir : ".");
    char found[PATH_MAX_BYTES] = "";
    size_t blen = strlen(base);
    for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d))
        if (strncmp(e->d_name, base, blen) == 0 &&
            strncmp(e->d_name + blen, ".rescued-", 9) == 0)
            snprintf(found, sizeof(found), "%s", e->d_name);
    if (d)
        closedir(d);
    if (found[0])
        return vx__error_set(err, VX_EIO, "",
                             "%s is missing; %s next to it is what Vexil "
                             "rescued when it was deleted: to keep that data "
                             "move it to %s (removing the -wal and -shm "
                             "files), or remove it to start empty",
                             path, found, base);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    if (stat(wal, &st) == 0)
        return vx__error_set(err, VX_EIO, "",
                             "%s is missing but its write-ahead log %s-wal "
                             "is there: the database was deleted or moved. "
                             "Restore it, or remove its -wal and -shm files "
                             "to start empty",
                             path, base);
    return VX_OK;
}

static vx_status sq_open(const char *dsn, const store_limits *lim, store **out,
                         vx_error *err)
{
    *out = NULL;
    if (strlen(dsn) >= PATH_MAX_BYTES)
        return vx__error_set(err, VX_EINVAL, "", "database path too long");
    if (strcmp(dsn, ":memory:") != 0) {
        vx_status miss = check_missing(dsn, err);
        if (miss != VX_OK)
            return miss;
    }
    sqlite_store *s = vx__malloc(sizeof(*s));
    if (!s)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    memset(s, 0, sizeof(*s));
    s->base.ops = &store_sqlite_ops;
    if (strcmp(dsn, ":memory:") != 0) {
        ensure_dir(dsn);
        snprintf(s->path, sizeof(s->path), "%s", dsn);
    }
    int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(dsn, &s->db, flags, NULL) != SQLITE_OK) {
        vx__error_set(err, VX_EIO, "", "cannot open database %s: %s", dsn,
                      s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close(&s->base);
        return VX_EIO;
    }
    sqlite3_busy_timeout(s->db, VX_LIMIT_DB_WAIT_MS);
    /* Switching a new file to WAL needs it alone, and SQLite answers BUSY
     * at once, without the busy handler, when another connection is
     * opening it too: retry for as long as a writer would wait. */
    vx_status st = VX_EIO;
    for (int waited = 0; st != VX_OK && waited <= VX_LIMIT_DB_WAIT_MS;
         waited += 10) {
        st = exec(s, "PRAGMA journal_mode = WAL", err);
        if (st != VX_OK && (sqlite3_errcode(s->db) & 0xff) != SQLITE_BUSY)
            break;
        if (st != VX_OK)
            sqlite3_sleep(10);
    }
    /* NORMAL in WAL mode: a commit survives a crash of the process, and a
     * power loss may drop the last commits (never corrupts); FULL syncs
     * the log at every commit (docs/operations.md). */
    if (st == VX_OK)
        st = exec(s,
                  lim && lim->sqlite_synchronous == 2
                      ? "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                      : "PRAGMA synchronous = NORMAL;"
                        "PRAGMA foreign_keys = ON;",
                  err);
    struct stat fst;
    if (st == VX_OK && s->path[0]) {
        if (stat(s->path, &fst) == 0) {
            s->dev = fst.st_dev;
            s->ino = fst.st_ino;
        } else {
            st = vx__error_set(err, VX_EIO, "", "cannot open database %s: %s",
                               s->path, strerror(errno));
        }
    }
    if (st == VX_OK && sqlite3_db_readonly(s->db, "main") == 1)
        snprintf(s->unwritable, sizeof(s->unwritable),
                 "the database file is read-only");
    if (st != VX_OK) {
        sq_close(&s->base);
        return st;
    }
    *out = &s->base;
    return VX_OK;
}

static vx_status sq_migrate(store *base, int *applied, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    *applied = 0;
    vx_status st = exec(s,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version INTEGER PRIMARY KEY,"
                        " applied_at INTEGER NOT NULL)",
                        err);
    if (st != VX_OK)
        return st;
    for (int v = 1; v <= sqlite_migration_count; v++) {
        /* Checked inside the write transaction: another process migrating
         * at the same time has either finished this version or not begun. */
        st = exec(s, "BEGIN IMMEDIATE", err);
        if (st != VX_OK)
            return st;
        char check[128];
        snprintf(check, sizeof(check),
                 "SELECT 1 FROM schema_migrations WHERE version = %d", v);
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(s->db, check, -1, &q, NULL) != SQLITE_OK) {
            st = db_error(s, err, "migrate");
            exec(s, "ROLLBACK", NULL);
            return st;
        }
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc == SQLITE_ROW) {
            exec(s, "COMMIT", NULL);
            continue;
        }
        char record[160];
        snprintf(record, sizeof(record),
                 "INSERT INTO schema_migrations VALUES (%d, unixepoch())", v);
        st = exec(s, sqlite_migrations[v - 1], err);
        if (st == VX_OK)
            st = exec(s, record, err);
        if (st == VX_OK)
            st = exec(s, "COMMIT", err);
        if (st != VX_OK) {
            exec(s, "ROLLBACK", NULL);
            return st;
        }
        (*applied)++;
    }
    return VX_OK;
}

static vx_status sq_ping(store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    return exec(s, "SELECT 1 FROM schema_migrations LIMIT 1", NULL);
}

static vx_status sq_begin(store *base, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    vx_status st = check_file(s, err, "begin");
    return st == VX_OK ? exec(s, "BEGIN IMMEDIATE", err) : st;
}

/* Checks the file once more, so nothing is acknowledged that went to a
 * file no longer at its path; the caller rolls back on any error. */
static vx_status sq_commit(store *base, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    vx_status st = check_file(s, err, "commit");
    if (st == VX_OK)
        st = exec(s, "COMMIT", err);
    if (st == VX_OK)
        s->unwritable[0] = '\0';
    return st;
}

/* The readiness check: the file is still the one opened, it is writable
 * (after a failed write, a test write that changes nothing must commit),
 * and it answers a query. */
static vx_status sq_health(store *base, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    vx_status st = check_file(s, err, "check");
    if (st != VX_OK)
        return st;
    if (sqlite3_db_readonly(s->db, "main") == 1)
        return vx__error_set(err, VX_EUNAVAILABLE, "",
                             "the database is unavailable: the file sqlite:%s "
                             "is read-only, so no change can be stored",
                             s->path);
    if (s->unwritable[0]) {
        char why[sizeof(s->unwritable)];
        snprintf(why, sizeof(why), "%s", s->unwritable);
        st = exec(s,
                  "BEGIN IMMEDIATE; UPDATE schema_migrations SET applied_at ="
                  " applied_at WHERE version = (SELECT max(version) FROM"
                  " schema_migrations); COMMIT",
                  NULL);
        if (!sqlite3_get_autocommit(s->db))
            exec(s, "ROLLBACK", NULL);
        if (st != VX_OK)
            return vx__error_set(err, VX_EUNAVAILABLE, "",
                                 "the database is unavailable: %s "
                                 "(sqlite:%s; a test write still fails)",
                                 s->unwritable[0] ? s->unwritable : why,
                                 s->path);
        s->unwritable[0] = '\0';
    }
    st = exec(s, "SELECT 1 FROM schema_migrations LIMIT 1", err);
    return st;
}

static void sq_rollback(store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!sqlite3_get_autocommit(s->db))
        exec(s, "ROLLBACK", NULL);
}

static json_t *row_json(sqlite3_stmt *q, int col)
{
    const char *text = (const char *)sqlite3_column_text(q, col);
    int n = sqlite3_column_bytes(q, col);
    return text ? json_loadb(text, (size_t)n, JSON_DECODE_ANY, NULL) : NULL;
}

static vx_status sq_doc_get(store *base, store_kind k, const char *key,
                            json_t **out, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    *out = NULL;
    sqlite3_stmt *q = stmt(s, Q_GET, err);
    if (!q)
        return VX_EIO;
    sqlite3_bind_int(q, 1, (int)k);
    sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    vx_status st = VX_OK;
    if (rc == SQLITE_ROW) {
        *out = row_json(q, 0);
        if (!*out)
            st = vx__error_set(err, VX_EIO, "", "database: corrupt document");
    } else if (rc == SQLITE_DONE) {
        st = VX_ENOTFOUND;
    } else {
        st = db_error(s, err, "read");
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return st;
}

static vx_status sq_doc_put(store *base, store_kind k, const char *key,
                            const char *parent, const json_t *doc,
                            vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *q = stmt(s, Q_PUT, err);
    if (!q)
        return VX_EIO;
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    sqlite3_bind_int(q, 1, (int)k);
    sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
    if (parent)
        sqlite3_bind_text(q, 3, parent, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 3);
    sqlite3_bind_text(q, 4, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    vx_status st = rc == SQLITE_DONE ? VX_OK : db_error(s, err, "write");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    free(text);
    return st;
}

static vx_status sq_doc_delete(store *base, store_kind k, const char *key,
                               vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *q = stmt(s, Q_DELETE, err);
    if (!q)
        return VX_EIO;
    sqlite3_bind_int(q, 1, (int)k);
    sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    vx_status st = rc == SQLITE_DONE ? VX_OK : db_error(s, err, "delete");
    if (st == VX_OK && sqlite3_changes(s->db) == 0)
        st = VX_ENOTFOUND;
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return st;
}

/* Builds one result from the current row of `q` (`ud`: what the caller
 * passes to collect); NULL when the row cannot be read. */
typedef json_t *(*row_fn)(sqlite3_stmt *q, const void *ud);

/* Steps `q` to its end and stores in `*out` a new array of row(q, ud) for
 * every row. The statement is reset and its bindings cleared. */
static vx_status collect(sqlite_store *s, sqlite3_stmt *q, row_fn row,
                         const void *ud, const char *what, json_t **out,
                         vx_error *err)
{
    json_t *arr = json_array();
    vx_status st =
        arr ? VX_OK : vx__error_set(err, VX_ENOMEM, "", "out of memory");
    int rc = SQLITE_DONE;
    while (st == VX_OK) {
        rc = sqlite3_step(q);
        if (rc != SQLITE_ROW)
            break;
        json_t *r = row(q, ud);
        if (!r || json_array_append_new(arr, r) != 0)
            st =
                vx__error_set(err, VX_EIO, "", "database: unreadable %s", what);
    }
    if (st == VX_OK && rc != SQLITE_DONE)
        st = db_error(s, err, what);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (st != VX_OK) {
        json_decref(arr);
        arr = NULL;
    }
    *out = arr;
    return st;
}

/* A document row: its JSON in column 0. */
static json_t *doc_row(sqlite3_stmt *q, const void *ud)
{
    (void)ud;
    return row_json(q, 0);
}

static vx_status sq_doc_list(store *base, store_kind k, const char *parent,
                             json_t **out, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    *out = NULL;
    sqlite3_stmt *q = stmt(s, parent ? Q_LIST_PARENT : Q_LIST_ALL, err);
    if (!q)
        return VX_EIO;
    sqlite3_bind_int(q, 1, (int)k);
    if (parent)
        sqlite3_bind_text(q, 2, parent, -1, SQLITE_STATIC);
    return collect(s, q, doc_row, NULL, "document", out, err);
}

/* Steps `q` (bound already) for its one integer into `*out`, then resets it
 * and clears its bindings: the counts and the newest event id. */
static vx_status one_int(sqlite_store *s, sqlite3_stmt *q, const char *what,
                         int64_t *out, vx_error *err)
{
    vx_status st = VX_OK;
    if (sqlite3_step(q) == SQLITE_ROW)
        *out = sqlite3_column_int64(q, 0);
    else
        st = db_error(s, err, what);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return st;
}

static vx_status sq_doc_count(store *base, store_kind k, int64_t *out,
                              vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *q = stmt(s, Q_COUNT, err);
    if (!q)
        return VX_EIO;
    sqlite3_bind_int(q, 1, (int)k);
    return one_int(s, q, "count", out, err);
}

static vx_status sq_event_last_id(store *base, int64_t *out, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *q = stmt(s, Q_EVENT_LAST, err);
    if (!q)
        return VX_EIO;
    return one_int(s, q, "last event", out, err);
}

static vx_status sq_doc_count_true(store *base, store_kind k, const char *field,
                                   int64_t *out, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *q = stmt(s, Q_COUNT_TRUE, err);
    if (!q)
        return VX_EIO;
    sqlite3_bind_int(q, 1, (int)k);
    sqlite3_bind_text(q, 2, field, -1, SQLITE_STATIC);
    return one_int(s, q, "count", out, err);
}

static vx_status sq_next_id(store *base, const char *seq, int64_t *out,
                            vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *bump = stmt(s, Q_SEQ_BUMP, err);
    sqlite3_stmt *get = stmt(s, Q_SEQ_GET, err);
    if (!bump || !get)
        return VX_EIO;
    sqlite3_bind_text(bump, 1, seq, -1, SQLITE_STATIC);
    int rc = sqlite3_step(bump);
    sqlite3_reset(bump);
    if (rc != SQLITE_DONE)
        return db_error(s, err, "sequence");
    sqlite3_bind_text(get, 1, seq, -1, SQLITE_STATIC);
    vx_status st = VX_OK;
    if (sqlite3_step(get) == SQLITE_ROW)
        *out = sqlite3_column_int64(get, 0);
    else
        st = db_error(s, err, "sequence");
    sqlite3_reset(get);
    return st;
}

static void bind_opt(sqlite3_stmt *q, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

/* Inserts `ev` with statement `which` (Q_EVENT_ADD, or Q_EVENT_PUT, which
 * also binds the id). */
static vx_status event_insert(sqlite_store *s, int which, const store_event *ev,
                              vx_error *err)
{
    sqlite3_stmt *q = stmt(s, which, err);
    if (!q)
        return VX_EIO;
    char *data =
        ev->data ? json_dumps(ev->data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *pre = ev->pre_data
                    ? json_dumps(ev->pre_data, JSON_COMPACT | JSON_ENCODE_ANY)
                    : NULL;
    vx_status st = VX_OK;
    if ((ev->data && !data) || (ev->pre_data && !pre)) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    sqlite3_bind_text(q, 1, ev->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, ev->created_by, -1, SQLITE_STATIC);
    bind_opt(q, 3, ev->project);
    bind_opt(q, 4, ev->environment);
    bind_opt(q, 5, ev->feature);
    bind_opt(q, 6, data);
    bind_opt(q, 7, pre);
    sqlite3_bind_int64(q, 8, ev->created_ms);
    if (which == Q_EVENT_PUT)
        sqlite3_bind_int64(q, 9, ev->id);
    int rc = sqlite3_step(q);
    st = rc == SQLITE_DONE ? VX_OK : db_error(s, err, "event");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
out:
    free(data);
    free(pre);
    return st;
}

static vx_status sq_event_append(store *base, store_event *ev, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    vx_status st = event_insert(s, Q_EVENT_ADD, ev, err);
    if (st == VX_OK)
        ev->id = sqlite3_last_insert_rowid(s->db);
    return st;
}

/* AUTOINCREMENT keeps sqlite_sequence at the largest id ever inserted, so
 * event_append continues after an imported id by itself. */
static vx_status sq_event_put(store *base, const store_event *ev, vx_error *err)
{
    return event_insert((sqlite_store *)base, Q_EVENT_PUT, ev, err);
}

/* An entry row: [key, parent or null, document]. */
static json_t *entry_row(sqlite3_stmt *q, const void *ud)
{
    (void)ud;
    json_t *doc = row_json(q, 2);
    return doc ? json_pack("[s s? o]", (const char *)sqlite3_column_text(q, 0),
                           (const char *)sqlite3_column_text(q, 1), doc)
               : NULL;
}

static vx_status sq_doc_entries(store *base, store_kind k, json_t **out,
                                vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    *out = NULL;
    sqlite3_stmt *q = stmt(s, Q_ENTRIES, err);
    if (!q)
        return VX_EIO;
    sqlite3_bind_int(q, 1, (int)k);
    return collect(s, q, entry_row, NULL, "document", out, err);
}

static vx_status sq_seq_list(store *base, json_t **out, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    *out = NULL;
    sqlite3_stmt *q = stmt(s, Q_SEQ_LIST, err);
    if (!q)
        return VX_EIO;
    json_t *obj = json_object();
    vx_status st = obj ? VX_OK : VX_ENOMEM;
    int rc = SQLITE_DONE;
    while (st == VX_OK) {
        rc = sqlite3_step(q);
        if (rc != SQLITE_ROW)
            break;
        if (json_object_set_new(
                obj, (const char *)sqlite3_column_text(q, 0),
                json_integer((json_int_t)sqlite3_column_int64(q, 1))) != 0)
            st = VX_ENOMEM;
    }
    if (st == VX_OK && rc != SQLITE_DONE)
        st = db_error(s, err, "sequences");
    sqlite3_reset(q);
    if (st != VX_OK) {
        json_decref(obj);
        return st == VX_ENOMEM
                   ? vx__error_set(err, VX_ENOMEM, "", "out of memory")
                   : st;
    }
    *out = obj;
    return VX_OK;
}

static vx_status sq_seq_set(store *base, const char *seq, int64_t value,
                            vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *q = stmt(s, Q_SEQ_SET, err);
    if (!q)
        return VX_EIO;
    sqlite3_bind_text(q, 1, seq, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, value);
    int rc = sqlite3_step(q);
    vx_status st = rc == SQLITE_DONE ? VX_OK : db_error(s, err, "sequence");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return st;
}

/* Builds the WHERE clause of an event query; binds are numbered ?1..?7. */
static void event_where(char *buf, size_t cap, const store_event_filter *f)
{
    snprintf(
        buf, cap,
        " WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR project = ?2)"
        " AND (?3 IS NULL OR feature = ?3)"
        " AND (?4 IS NULL OR environment = ?4)"
        " AND (?5 IS NULL OR created_by = ?5)"
        " AND (?6 = 0 OR created_at >= ?6) AND (?7 = 0 OR created_at <= ?7)");
    (void)f;
}

static void event_bind(sqlite3_stmt *q, const store_event_filter *f)
{
    bind_opt(q, 1, f->type);
    bind_opt(q, 2, f->project);
    bind_opt(q, 3, f->feature);
    bind_opt(q, 4, f->environment);
    bind_opt(q, 5, f->created_by);
    sqlite3_bind_int64(q, 6, f->from_ms);
    sqlite3_bind_int64(q, 7, f->to_ms);
}

static json_t *text_json(sqlite3_stmt *q, int col)
{
    if (sqlite3_column_type(q, col) == SQLITE_NULL)
        return json_null();
    json_t *j = row_json(q, col);
    return j ? j : json_null();
}

static json_t *text_or_null(sqlite3_stmt *q, int col)
{
    const char *t = (const char *)sqlite3_column_text(q, col);
    return t ? json_string(t) : json_null();
}

/* An event row (`ud`: the filter; brief pages leave data out). */
static json_t *event_row(sqlite3_stmt *q, const void *ud)
{
    const store_event_filter *f = ud;
    return json_pack("{sI so so so so so so so sI}", "id",
                     (json_int_t)sqlite3_column_int64(q, 0), "type",
                     text_or_null(q, 1), "createdBy", text_or_null(q, 2),
                     "project", text_or_null(q, 3), "environment",
                     text_or_null(q, 4), "featureName", text_or_null(q, 5),
                     "data", f->brief ? json_null() : text_json(q, 6),
                     "preData", f->brief ? json_null() : text_json(q, 7),
                     "createdAtMs", (json_int_t)sqlite3_column_int64(q, 8));
}

static vx_status sq_event_query(store *base, const store_event_filter *f,
                                json_t **out, int64_t *total, vx_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    char where[512], sql[1024];
    *out = NULL;
    event_where(where, sizeof(where), f);
    sqlite3_stmt *q;
    *total = -1;
    if (!f->brief) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM events%s", where);
        if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
            return db_error(s, err, "events");
        event_bind(q, f);
        *total = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
        sqlite3_finalize(q);
    }
    snprintf(sql, sizeof(sql),
             "SELECT id, type, created_by, project, environment, feature, data,"
             " pre_data, created_at FROM events%s ORDER BY id DESC"
             " LIMIT ?8 OFFSET ?9",
             where);
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(s, err, "events");
    event_bind(q, f);
    sqlite3_bind_int64(q, 8, f->limit);
    sqlite3_bind_int64(q, 9, f->offset);
    vx_status st = collect(s, q, event_row, f, "event", out, err);
    sqlite3_finalize(q);
    return st;
}

const store_ops store_sqlite_ops = {
    .version = STORE_OPS_VERSION,
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .migrate = sq_migrate,
    .ping = sq_ping,
    .health = sq_health,
    .set_call_timeout = NULL, /* local calls: the busy timeout bounds waits */
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .doc_get = sq_doc_get,
    .doc_put = sq_doc_put,
    .doc_delete = sq_doc_delete,
    .doc_list = sq_doc_list,
    .doc_count = sq_doc_count,
    .doc_count_true = sq_doc_count_true,
    .next_id = sq_next_id,
    .event_append = sq_event_append,
    .event_query = sq_event_query,
    .event_last_id = sq_event_last_id,
    .doc_entries = sq_doc_entries,
    .seq_list = sq_seq_list,
    .seq_set = sq_seq_set,
    .event_put = sq_event_put,
    .watch = NULL, /* no cross-process announcements: the hub polls */
};
