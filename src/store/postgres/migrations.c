/* PostgreSQL schema, as numbered migrations applied in order and recorded
 * in schema_migrations; the same logical schema as sqlite/migrations.c.
 * Never edit a released migration: add the next one. */
#include "store/postgres/pg_store.h"

const char *const pg_migrations[] = {
    /* 1: documents (json keeps the text as written, key order included;
     * pos keeps insertion order), sequences, the append-only event log. */
    "CREATE TABLE docs ("
    "  kind integer NOT NULL,"
    "  key text NOT NULL,"
    "  parent text,"
    "  pos bigint GENERATED ALWAYS AS IDENTITY,"
    "  data json NOT NULL,"
    "  PRIMARY KEY (kind, key));"
    "CREATE INDEX docs_order ON docs (kind, pos);"
    "CREATE INDEX docs_parent ON docs (kind, parent, pos);"
    "CREATE TABLE seqs (name text PRIMARY KEY, value bigint NOT NULL);"
    "CREATE TABLE events ("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  type text NOT NULL,"
    "  created_by text NOT NULL,"
    "  project text, environment text, feature text,"
    "  data json, pre_data json,"
    "  created_at bigint NOT NULL);"
    "CREATE INDEX events_feature ON events (feature, id);"
    "CREATE INDEX events_type ON events (type, id);"
    "CREATE FUNCTION vexil_events_append_only() RETURNS trigger"
    "  LANGUAGE plpgsql AS $$ BEGIN"
    "  RAISE EXCEPTION 'the event log is append-only'"
    "    USING ERRCODE = 'restrict_violation';"
    "  END $$;"
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events"
    "  FOR EACH ROW EXECUTE FUNCTION vexil_events_append_only();"
    "CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON events"
    "  FOR EACH STATEMENT EXECUTE FUNCTION vexil_events_append_only();",
};

const int pg_migration_count =
    (int)(sizeof(pg_migrations) / sizeof(pg_migrations[0]));
