/* The PostgreSQL backend of store.h (libpq): one connection per handle,
 * writers serialised across processes by a transaction-scoped advisory
 * lock, numbered migrations. A handle is used by one thread at a time. */
#ifndef VX_STORE_POSTGRES_PG_STORE_H
#define VX_STORE_POSTGRES_PG_STORE_H

#include "store/store.h"

extern const char *const pg_migrations[];
extern const int pg_migration_count;

/* The advisory lock key every Vexil writer and migration takes (ASCII
 * "vexil.wr"), so one transaction writes at a time per database. */
#define PG_WRITE_LOCK_KEY "8531357463305156466"

#endif
