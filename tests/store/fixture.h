/* The backend-specific part of the store contract suite: making a fresh,
 * empty database and reaching it behind the store's back (raw SQL), so that
 * test_store_contract.c itself is the same for every backend. */
#ifndef VX_TESTS_STORE_FIXTURE_H
#define VX_TESTS_STORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#define FIXTURE_DSN_MAX 512

/* Selects the backend ("sqlite" or "postgres"). Returns false, with a reason
 * printed, when it cannot run here (postgres without VEXIL_TEST_PG_DSN). */
bool fixture_init(const char *backend);

/* A DSN naming a new empty database; fixture_drop removes it. */
void fixture_fresh(char dsn[FIXTURE_DSN_MAX]);
void fixture_drop(const char *dsn);

/* Runs `sql` on `dsn` directly; false when the database refuses it. */
bool fixture_raw_exec(const char *dsn, const char *sql);

/* Cuts every other connection to `dsn`, as a server restart would. False
 * when the backend has no connections to cut (SQLite). */
bool fixture_kill_connections(const char *dsn);

/* A DSN that cannot be opened, holding the password "sekrit" where the
 * backend has passwords. */
const char *fixture_unreachable(void);

#endif
