/* SQLite schema, as numbered migrations applied in order and recorded in
 * schema_migrations. Never edit a released migration: add the next one. */
#include "store/sqlite/sqlite_store.h"

const char *const sqlite_migrations[] = {
    /* 1: documents, sequences, the event log. */
    "CREATE TABLE docs ("
    "  kind INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  parent TEXT,"
    "  data TEXT NOT NULL CHECK (json_valid(data)),"
    "  PRIMARY KEY (kind, key));"
    "CREATE INDEX docs_parent ON docs (kind, parent);"
    "CREATE TABLE seqs (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  type TEXT NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  project TEXT, environment TEXT, feature TEXT,"
    "  data TEXT, pre_data TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX events_feature ON events (feature, id);"
    "CREATE INDEX events_type ON events (type, id);"
    "CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
    "CREATE TRIGGER events_append_only_d BEFORE DELETE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;",
};

const int sqlite_migration_count =
    (int)(sizeof(sqlite_migrations) / sizeof(sqlite_migrations[0]));
