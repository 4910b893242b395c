/* Bad data in the database sets one flag aside, never the environment
 * (hub.h): a database holding flags libvexil refuses (written here
 * straight into the SQLite file, as an older version or any other writer
 * could have: a REGEX over VX_LIMIT_REGEX_BYTES, a variant override whose
 * contextName is over VX_LIMIT_NAME_BYTES, more than VX_LIMIT_DEPENDENCIES
 * dependencies) loads with those flags left out and reported
 * (hub_report); the rest of the environment is served and keeps receiving
 * changes, kill switches included; a flag that turns bad by a later change
 * is set aside by the patch, and served again once fixed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/limits.h"
#include "hub_fixture.h"
#include "store/store.h"

/* Runs `sql` on the service's SQLite file from a second connection, as
 * another program would. `arg` and `arg2` bind ?1 and ?2 when not NULL. */
static void poke(const temp_service *t, const char *sql, const char *arg,
                 const char *arg2)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/vexil.db", t->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (arg)
        sqlite3_bind_text(q, 1, arg, -1, SQLITE_TRANSIENT);
    if (arg2)
        sqlite3_bind_text(q, 2, arg2, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    assert_true(sqlite3_changes(db) > 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* A string of `n` times `ch` (malloc'd). */
static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

/* Replaces `from` by `to` in the stored document of flag `flag`. */
static void corrupt(const temp_service *t, const char *flag, const char *from,
                    const char *to)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE docs SET data = replace(data, ?2, ?1) "
             "WHERE kind = %d AND key = '%s'",
             (int)STORE_FEATURE, flag);
    poke(t, sql, to, from);
}

/* A strategy with a REGEX constraint whose pattern is `pattern` on flag
 * `name` in production. */
static void add_regex(service *svc, const char *name, const char *pattern)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"default\",\"constraints\":[{\"contextName\":"
             "\"email\",\"operator\":\"REGEX\",\"value\":\"%s\"}]}",
             pattern);
    assert_int_equal(hub_test_call(svc, SVC_OP_STRATEGY_ADD, name, "production",
                                   NULL, body, NULL),
                     VX_OK);
}

/* The entries of `env` in hub_report, as an array (borrowed from `rep`). */
static json_t *aside_of(json_t *rep, const char *env)
{
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(rep, "environments"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), env) == 0)
            return json_object_get(e, "flagsSetAside");
    }
    fail_msg("no environment %s in the report", env);
    return NULL;
}

static bool lists(const json_t *aside, const char *flag)
{
    size_t i;
    const json_t *a;
    json_array_foreach (aside, i, a) {
        if (strcmp(json_string_value(json_object_get(a, "name")), flag) == 0)
            return true;
    }
    return false;
}

/* Waits up to 5 s for `pred` over the report. */
static json_t *report_until(hub *h, bool (*pred)(json_t *rep))
{
    for (int i = 0; i < 100; i++) {
        json_t *rep = hub_report(h);
        assert_non_null(rep);
        if (pred(rep))
            return rep;
        json_decref(rep);
        hub_test_sleep_ms(50);
    }
    fail_msg("the report never got there");
    return NULL;
}

static bool good2_aside(json_t *rep)
{
    return lists(aside_of(rep, "production"), "good2");
}

static bool good2_served(json_t *rep)
{
    return !lists(aside_of(rep, "production"), "good2");
}

/* Log lines that say a flag is set aside. */
static int aside_lines;

static void count_log(void *ud, const char *level, const char *msg)
{
    (void)ud;
    if (strcmp(level, "warn") == 0 && strstr(msg, "is set aside"))
        aside_lines++;
}

static void test_bad_rows_set_one_flag_aside(void **state)
{
    (void)state;
    temp_service t;
    temp_service_open(&t, "hubaside");
    hub_test_flag(t.svc, "good");
    hub_test_flag(t.svc, "good2");
    hub_test_toggle(t.svc, "good", "production", true);
    hub_test_toggle(t.svc, "good2", "production", true);
    hub_test_flag(t.svc, "bad-regex");
    add_regex(t.svc, "bad-regex", "PLACEHOLDER_REGEX");
    hub_test_flag(t.svc, "bad-override");
    assert_int_equal(
        hub_test_call(t.svc, SVC_OP_VARIANTS_PUT, "bad-override", "production",
                      NULL,
                      "[{\"name\":\"a\",\"weightType\":\"variable\","
                      "\"overrides\":[{\"contextName\":\"PLACEHOLDER_CTX\","
                      "\"values\":[\"x\"]}]}]",
                      NULL),
        VX_OK);
    hub_test_flag(t.svc, "bad-deps");
    /* What an older version (or anything) may have written. */
    char *pattern = repeat('a', VX_LIMIT_REGEX_BYTES + 10);
    char *ctx = repeat('c', VX_LIMIT_NAME_BYTES + 10);
    corrupt(&t, "bad-regex", "PLACEHOLDER_REGEX", pattern);
    corrupt(&t, "bad-override", "PLACEHOLDER_CTX", ctx);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "UPDATE docs SET data = json_set(data, '$.dependencies', "
             "json(?1)) WHERE kind = %d AND key = 'bad-deps'",
             (int)STORE_FEATURE);
    size_t cap = (VX_LIMIT_DEPENDENCIES + 1) * 48 + 4;
    char *deps = malloc(cap);
    assert_non_null(deps);
    size_t n = 0;
    deps[n++] = '[';
    for (int i = 0; i <= VX_LIMIT_DEPENDENCIES; i++)
        n += (size_t)snprintf(deps + n, cap - n,
                              "%s{\"feature\":\"p%d\",\"enabled\":true}",
                              i ? "," : "", i);
    deps[n++] = ']';
    deps[n] = '\0';
    poke(&t, sql, deps, NULL);
    free(deps);

    hub_config cfg = {.poll_ms = 50, .log = count_log};
    hub *h = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(hub_new(&cfg, t.svc, &h, &err), VX_OK);
    /* Reported (one log line each) before any SDK asked for the
     * environment. */
    assert_int_equal(aside_lines, 4);
    json_t *rep = hub_report(h);
    /* Production has all three; development only the dependencies (its
     * strategies and variants are its own). */
    assert_int_equal(json_integer_value(json_object_get(rep, "flagsSetAside")),
                     4);
    json_t *aside = aside_of(rep, "production");
    assert_true(lists(aside, "bad-regex"));
    assert_true(lists(aside, "bad-override"));
    assert_true(lists(aside, "bad-deps"));
    assert_int_equal(json_array_size(aside_of(rep, "development")), 1);
    assert_true(lists(aside_of(rep, "development"), "bad-deps"));
    size_t i;
    json_t *a;
    json_array_foreach (aside, i, a) {
        if (strcmp(json_string_value(json_object_get(a, "name")),
                   "bad-regex") == 0) {
            assert_string_equal(json_string_value(json_object_get(a, "path")),
                                "/strategies/0/constraints/0/value");
            assert_non_null(strstr(
                json_string_value(json_object_get(a, "message")), "4096"));
        }
    }
    json_decref(rep);

    /* The rest is served. */
    bool on = false;
    assert_true(hub_test_served(h, "production", "good", &on));
    assert_true(on);
    assert_false(hub_test_served(h, "production", "bad-regex", NULL));
    assert_false(hub_test_served(h, "production", "bad-deps", NULL));
    hub_state *s = hub_test_state(h, "production");
    hub_scope all = {.projects = "*"};
    const hub_body *b = NULL;
    assert_int_equal(hub_state_features_body(s, &all, false, NULL, &b, &err),
                     VX_OK);
    assert_non_null(strstr(b->bytes, "\"good\""));
    assert_null(strstr(b->bytes, "bad-override"));
    hub_state_release(s);

    /* A kill switch lands. */
    hub_test_toggle(t.svc, "good", "production", false);
    assert_true(hub_test_served(h, "production", "good", &on));
    assert_false(on);
    assert_int_equal(aside_lines, 4); /* once per flag, not per publish */

    /* A flag that turns bad by a change is set aside by the patch, the
     * others still change, and it is served again once fixed. */
    add_regex(t.svc, "good2", "PLACEHOLDER_TWO");
    corrupt(&t, "good2", "PLACEHOLDER_TWO", pattern);
    hub_test_toggle(t.svc, "good2", "production", false); /* an event */
    rep = report_until(h, good2_aside);
    json_decref(rep);
    assert_false(hub_test_served(h, "production", "good2", NULL));
    hub_test_toggle(t.svc, "good", "production", true);
    assert_true(hub_test_served(h, "production", "good", &on));
    assert_true(on);
    corrupt(&t, "good2", pattern, "^ok$");
    hub_test_toggle(t.svc, "good2", "production", true);
    rep = report_until(h, good2_served);
    json_decref(rep);
    assert_true(hub_test_served(h, "production", "good2", &on));
    assert_true(on);

    free(pattern);
    free(ctx);
    hub_free(&h);
    temp_service_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_rows_set_one_flag_aside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
