/* Fresh databases for the store contract suite: a temporary SQLite file, or
 * a new database on the PostgreSQL server named by VEXIL_TEST_PG_DSN
 * (tests/support/pg.sh starts a private one). */
#include "store/fixture.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool use_pg;                      /* the backend under test */
static char pg_admin[FIXTURE_DSN_MAX];   /* VEXIL_TEST_PG_DSN */
static char sqlite_dir[FIXTURE_DSN_MAX]; /* holds the test databases */
static int serial;                       /* databases made so far */

bool fixture_init(const char *backend)
{
    if (strcmp(backend, "sqlite") == 0) {
        snprintf(sqlite_dir, sizeof(sqlite_dir), "%s/vexil-store-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(sqlite_dir)) {
            perror("mkdtemp");
            return false;
        }
        return true;
    }
    if (strcmp(backend, "postgres") == 0) {
        const char *dsn = getenv("VEXIL_TEST_PG_DSN");
        if (!dsn || !*dsn) {
            fprintf(stderr, "store contract (postgres): VEXIL_TEST_PG_DSN is "
                            "not set; `make store-pg` runs this suite on a "
                            "private PostgreSQL\n");
            return false;
        }
        snprintf(pg_admin, sizeof(pg_admin), "%s", dsn);
        use_pg = true;
        return true;
    }
    fprintf(stderr, "unknown backend '%s'\n", backend);
    return false;
}

static void quiet(void *ud, const char *msg)
{
    (void)ud;
    (void)msg;
}

/* Runs `sql` on a libpq connection to `dsn`. */
static bool pg_exec(const char *dsn, const char *sql)
{
    PGconn *c = PQconnectdb(dsn);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PQsetNoticeProcessor(c, quiet, NULL);
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
             PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
    }
    PQfinish(c);
    return ok;
}

/* `base` with its database name (the URI path) replaced by `db`. */
static void pg_with_db(const char *base, const char *db, char *out, size_t cap)
{
    const char *auth = strstr(base, "://");
    auth = auth ? auth + 3 : base;
    size_t host = strcspn(auth, "/?");
    const char *query = strchr(auth + host, '?');
    snprintf(out, cap, "%.*s/%s%s", (int)(auth + host - base), base, db,
             query ? query : "");
}

void fixture_fresh(char dsn[FIXTURE_DSN_MAX])
{
    serial++;
    if (!use_pg) {
        snprintf(dsn, FIXTURE_DSN_MAX, "sqlite:%s/db%d.sqlite", sqlite_dir,
                 serial);
        return;
    }
    char db[64], sql[128];
    snprintf(db, sizeof(db), "vexil_store_%ld_%d", (long)getpid(), serial);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db);
    pg_exec(pg_admin, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    if (!pg_exec(pg_admin, sql)) {
        fprintf(stderr, "fixture: cannot create database %s\n", db);
        abort();
    }
    pg_with_db(pg_admin, db, dsn, FIXTURE_DSN_MAX);
}

void fixture_drop(const char *dsn)
{
    if (!use_pg) {
        const char *path = dsn + strlen("sqlite:");
        char p[FIXTURE_DSN_MAX + 8];
        static const char *const suffix[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
            unlink(p);
        }
        return;
    }
    const char *slash = strrchr(dsn, '/');
    char db[64], sql[160];
    snprintf(db, sizeof(db), "%.*s", (int)strcspn(slash + 1, "?"), slash + 1);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    pg_exec(pg_admin, sql);
}

bool fixture_raw_exec(const char *dsn, const char *sql)
{
    if (use_pg)
        return pg_exec(dsn, sql);
    sqlite3 *db = NULL;
    bool ok = sqlite3_open(dsn + strlen("sqlite:"), &db) == SQLITE_OK &&
              sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
}

bool fixture_kill_connections(const char *dsn)
{
    if (!use_pg)
        return false;
    return pg_exec(dsn, "SELECT pg_terminate_backend(pid)"
                        " FROM pg_stat_activity"
                        " WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()");
}

const char *fixture_unreachable(void)
{
    /* Port 1 on loopback: refused at once. */
    return use_pg ? "postgres://vexil:sekrit@127.0.0.1:1/nowhere"
                  : "sqlite:/proc/vexil-no-such-dir/sub/db.sqlite";
}
