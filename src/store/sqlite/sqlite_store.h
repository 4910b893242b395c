/* The SQLite backend of store.h: WAL, foreign keys, a busy timeout, numbered
 * migrations. One connection, used by one thread at a time. */
#ifndef VX_STORE_SQLITE_STORE_H
#define VX_STORE_SQLITE_STORE_H

#include "store/store.h"

extern const char *const sqlite_migrations[];
extern const int sqlite_migration_count;

#endif
