/* The store contract (src/store/store.h), run unchanged against every
 * backend: `test_store_contract sqlite|postgres`. Each test gets a new empty
 * database from fixture.c; nothing here knows which backend it talks to
 * except through store_backend_for. Exit 77 (ctest: skipped) when the
 * backend cannot run here. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store/fixture.h"
#include "store/store.h"

typedef struct env {
    char dsn[FIXTURE_DSN_MAX]; /* the fresh database */
    const store_ops *ops;      /* its backend */
    store *s;                  /* one handle, migrated */
} env;

static store *open_store(const char *dsn, const store_ops **ops)
{
    const char *rest = NULL;
    *ops = store_backend_for(dsn, &rest);
    assert_non_null(*ops);
    assert_int_equal((*ops)->version, STORE_OPS_VERSION);
    store *s = NULL;
    vx_error err = {0};
    vx_status st = (*ops)->open(rest, NULL, &s, &err);
    if (st != VX_OK)
        fail_msg("open %s: %s", dsn, err.message);
    return s;
}

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));
    fixture_fresh(e->dsn);
    e->s = open_store(e->dsn, &e->ops);
    int applied = -1;
    vx_error err = {0};
    assert_int_equal(e->ops->migrate(e->s, &applied, &err), VX_OK);
    assert_true(applied >= 1);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    e->ops->close(e->s);
    fixture_drop(e->dsn);
    free(e);
    return 0;
}

/* Asserts a call succeeded, showing the store's message when not; the
 * call passes E as its vx_error. */
#define OK(call)                                                               \
    do {                                                                       \
        vx_error ok_err_ = {0};                                                \
        vx_status st_ = (call);                                                \
        if (st_ != VX_OK)                                                      \
            fail_msg("%s: %s (%s)", #call, vx_status_name(st_),                \
                     ok_err_.message);                                         \
    } while (0)
#define E (&ok_err_)

static json_t *doc(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void put(env *e, store_kind k, const char *key, const char *parent,
                const char *text)
{
    json_t *j = doc(text);
    OK(e->ops->doc_put(e->s, k, key, parent, j, E));
    json_decref(j);
}

/* The compact text of a document, for exact comparisons (key order). */
static void assert_doc_text(json_t *j, const char *want)
{
    char *got = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_string_equal(got, want);
    free(got);
}

/* The "name" fields of a list, joined by commas. */
static void names(json_t *list, char *out, size_t cap)
{
    size_t i, n = 0;
    json_t *d;
    out[0] = '\0';
    json_array_foreach (list, i, d) {
        int w = snprintf(out + n, cap - n, "%s%s", i ? "," : "",
                         json_string_value(json_object_get(d, "name")));
        n += (size_t)w;
    }
}

static void assert_list(env *e, store_kind k, const char *parent,
                        const char *want)
{
    json_t *list = NULL;
    char got[512];
    OK(e->ops->doc_list(e->s, k, parent, &list, E));
    assert_true(json_is_array(list));
    names(list, got, sizeof(got));
    assert_string_equal(got, want);
    json_decref(list);
}

/* ---- migrations --------------------------------------------------------- */

static void test_migrate_idempotent(void **state)
{
    env *e = *state;
    int applied = -1;
    OK(e->ops->migrate(e->s, &applied, E));
    assert_int_equal(applied, 0);
    const store_ops *ops;
    store *b = open_store(e->dsn, &ops);
    OK(ops->migrate(b, &applied, E));
    assert_int_equal(applied, 0);
    assert_int_equal(ops->ping(b), VX_OK);
    ops->close(b);
}

static void test_ping_needs_schema(void **state)
{
    (void)state;
    char dsn[FIXTURE_DSN_MAX];
    fixture_fresh(dsn);
    const store_ops *ops;
    store *s = open_store(dsn, &ops);
    assert_int_not_equal(ops->ping(s), VX_OK);
    int applied = 0;
    OK(ops->migrate(s, &applied, E));
    assert_true(applied >= 1);
    assert_int_equal(ops->ping(s), VX_OK);
    ops->close(s);
    fixture_drop(dsn);
}

typedef struct migrator {
    const char *dsn; /* shared fresh database */
    int applied;     /* what this thread's migrate applied */
    vx_status st;    /* its result */
    char msg[256];   /* its error */
} migrator;

static void *migrate_thread(void *arg)
{
    migrator *m = arg;
    const char *rest;
    const store_ops *ops = store_backend_for(m->dsn, &rest);
    store *s = NULL;
    vx_error err = {0};
    m->st = ops->open(rest, NULL, &s, &err);
    if (m->st == VX_OK)
        m->st = ops->migrate(s, &m->applied, &err);
    snprintf(m->msg, sizeof(m->msg), "%s", err.message);
    ops->close(s);
    return NULL;
}

/* Two processes (here: handles) starting at once on a new database apply
 * every migration exactly once between them. */
static void test_migrate_concurrently(void **state)
{
    (void)state;
    char dsn[FIXTURE_DSN_MAX];
    fixture_fresh(dsn);
    migrator m[2] = {{.dsn = dsn}, {.dsn = dsn}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, migrate_thread, &m[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (m[i].st != VX_OK)
            fail_msg("migrate %d: %s", i, m[i].msg);
    }
    /* One of them applied everything, the other nothing. */
    assert_true(m[0].applied + m[1].applied >= 1);
    assert_true(m[0].applied == 0 || m[1].applied == 0);
    fixture_drop(dsn);
}

/* ---- documents ---------------------------------------------------------- */

static void test_doc_get_put_delete(void **state)
{
    env *e = *state;
    json_t *got = NULL;
    vx_error err = {0};
    assert_int_equal(e->ops->doc_get(e->s, STORE_PROJECT, "p", &got, &err),
                     VX_ENOTFOUND);
    assert_null(got);
    /* The text comes back as written: key order, nesting, unicode. */
    put(e, STORE_PROJECT, "p", NULL,
        "{\"z\":1,\"a\":{\"y\":[1,2.5,null,true],\"b\":\"\\u00e9\\u2603\"},"
        "\"m\":\"x\"}");
    OK(e->ops->doc_get(e->s, STORE_PROJECT, "p", &got, E));
    assert_doc_text(got, "{\"z\":1,\"a\":{\"y\":[1,2.5,null,true],\"b\":"
                         "\"\xc3\xa9\xe2\x98\x83\"},\"m\":\"x\"}");
    json_decref(got);
    /* The same key in another kind is another document. */
    put(e, STORE_ENVIRONMENT, "p", NULL, "{\"name\":\"env\"}");
    put(e, STORE_PROJECT, "p", NULL, "{\"name\":\"replaced\"}");
    OK(e->ops->doc_get(e->s, STORE_PROJECT, "p", &got, E));
    assert_doc_text(got, "{\"name\":\"replaced\"}");
    json_decref(got);
    OK(e->ops->doc_delete(e->s, STORE_PROJECT, "p", E));
    assert_int_equal(e->ops->doc_get(e->s, STORE_PROJECT, "p", &got, &err),
                     VX_ENOTFOUND);
    assert_int_equal(e->ops->doc_delete(e->s, STORE_PROJECT, "p", &err),
                     VX_ENOTFOUND);
    OK(e->ops->doc_get(e->s, STORE_ENVIRONMENT, "p", &got, E));
    assert_doc_text(got, "{\"name\":\"env\"}");
    json_decref(got);
}

static void test_doc_order_and_parents(void **state)
{
    env *e = *state;
    assert_list(e, STORE_FEATURE, NULL, "");
    put(e, STORE_FEATURE, "c", "p1", "{\"name\":\"c\"}");
    put(e, STORE_FEATURE, "a", "p2", "{\"name\":\"a\"}");
    put(e, STORE_FEATURE, "b", "p1", "{\"name\":\"b\"}");
    put(e, STORE_FEATURE, "d", NULL, "{\"name\":\"d\"}");
    put(e, STORE_SEGMENT, "1", NULL, "{\"name\":\"s\"}");
    assert_list(e, STORE_FEATURE, NULL, "c,a,b,d");
    assert_list(e, STORE_FEATURE, "p1", "c,b");
    assert_list(e, STORE_FEATURE, "p2", "a");
    assert_list(e, STORE_FEATURE, "nope", "");
    /* Replacing keeps the place; a replace may move it to another parent. */
    put(e, STORE_FEATURE, "c", "p2", "{\"name\":\"c\",\"v\":2}");
    assert_list(e, STORE_FEATURE, NULL, "c,a,b,d");
    assert_list(e, STORE_FEATURE, "p1", "b");
    assert_list(e, STORE_FEATURE, "p2", "c,a");
    /* Deleted and written again: last. */
    OK(e->ops->doc_delete(e->s, STORE_FEATURE, "a", E));
    put(e, STORE_FEATURE, "a", "p2", "{\"name\":\"a\"}");
    assert_list(e, STORE_FEATURE, NULL, "c,b,d,a");
    int64_t n = 0;
    OK(e->ops->doc_count(e->s, STORE_FEATURE, &n, E));
    assert_int_equal(n, 4);
    OK(e->ops->doc_count(e->s, STORE_SEGMENT, &n, E));
    assert_int_equal(n, 1);
    OK(e->ops->doc_count(e->s, STORE_TOKEN, &n, E));
    assert_int_equal(n, 0);

    json_t *rows = NULL;
    OK(e->ops->doc_entries(e->s, STORE_FEATURE, &rows, E));
    assert_doc_text(rows, "[[\"c\",\"p2\",{\"name\":\"c\",\"v\":2}],"
                          "[\"b\",\"p1\",{\"name\":\"b\"}],"
                          "[\"d\",null,{\"name\":\"d\"}],"
                          "[\"a\",\"p2\",{\"name\":\"a\"}]]");
    json_decref(rows);
}

static void test_doc_count_true(void **state)
{
    env *e = *state;
    put(e, STORE_FEATURE, "t1", "p", "{\"archived\":true}");
    put(e, STORE_FEATURE, "t2", "p", "{\"x\":1,\"archived\":true}");
    put(e, STORE_FEATURE, "f", "p", "{\"archived\":false}");
    put(e, STORE_FEATURE, "m", "p", "{}");
    put(e, STORE_FEATURE, "s", "p", "{\"archived\":\"true\"}");
    put(e, STORE_FEATURE, "n", "p", "{\"archived\":1}");
    put(e, STORE_FEATURE, "deep", "p", "{\"o\":{\"archived\":true}}");
    put(e, STORE_SEGMENT, "1", NULL, "{\"archived\":true}");
    int64_t n = -1;
    OK(e->ops->doc_count_true(e->s, STORE_FEATURE, "archived", &n, E));
    assert_int_equal(n, 2);
    OK(e->ops->doc_count_true(e->s, STORE_FEATURE, "stale", &n, E));
    assert_int_equal(n, 0);
}

/* ---- transactions ------------------------------------------------------- */

static int64_t event_total(env *e)
{
    store_event_filter f = {.limit = 1};
    json_t *out = NULL;
    int64_t total = -1;
    OK(e->ops->event_query(e->s, &f, &out, &total, E));
    json_decref(out);
    return total;
}

static void append(env *e, const char *type, const char *feature, int64_t ms,
                   int64_t *id)
{
    store_event ev = {.type = type,
                      .created_by = "tester",
                      .project = "default",
                      .feature = feature,
                      .created_ms = ms};
    OK(e->ops->event_append(e->s, &ev, E));
    if (id)
        *id = ev.id;
}

static void test_rollback_discards_everything(void **state)
{
    env *e = *state;
    int64_t id = 0;
    OK(e->ops->begin(e->s, E));
    put(e, STORE_FEATURE, "gone", "p", "{\"name\":\"gone\"}");
    OK(e->ops->next_id(e->s, "segment", &id, E));
    assert_int_equal(id, 1);
    append(e, "feature-created", "gone", 1000, NULL);
    e->ops->rollback(e->s);

    json_t *got = NULL;
    vx_error err = {0};
    assert_int_equal(e->ops->doc_get(e->s, STORE_FEATURE, "gone", &got, &err),
                     VX_ENOTFOUND);
    assert_int_equal(event_total(e), 0);
    OK(e->ops->next_id(e->s, "segment", &id, E));
    assert_int_equal(id, 1); /* the rolled-back value was not kept */
    /* Rollback with no transaction open is harmless. */
    e->ops->rollback(e->s);
}

static void test_commit_is_visible_to_others_only_after(void **state)
{
    env *e = *state;
    const store_ops *ops;
    store *b = open_store(e->dsn, &ops);
    json_t *got = NULL;
    vx_error err = {0};
    OK(e->ops->begin(e->s, E));
    put(e, STORE_FEATURE, "x", "p", "{\"name\":\"x\"}");
    assert_int_equal(ops->doc_get(b, STORE_FEATURE, "x", &got, &err),
                     VX_ENOTFOUND);
    OK(e->ops->commit(e->s, E));
    OK(ops->doc_get(b, STORE_FEATURE, "x", &got, E));
    assert_doc_text(got, "{\"name\":\"x\"}");
    json_decref(got);
    ops->close(b);
}

/* The release-plan kinds (service/impact.c, plans.c) on every backend:
 * keys and parents with '|', listing one plan run's buckets by parent, and
 * the scheduler's lease read-then-write seen by a second handle only once
 * committed (the write lock makes the read-then-write exclusive). */
static void test_plan_kinds_and_lease(void **state)
{
    env *e = *state;
    put(e, STORE_IMPACT, "prod|f|r1|0|disabled|60|120", "prod|f|r1",
        "{\"requests\":1}");
    put(e, STORE_IMPACT, "prod|f|r1|1|on|60|180", "prod|f|r1",
        "{\"requests\":2}");
    put(e, STORE_IMPACT, "prod|f||disabled|60|120", "prod|f|",
        "{\"requests\":3}");
    put(e, STORE_PLAN, "prod|f", "f", "{\"state\":\"running\"}");
    json_t *got = NULL;
    OK(e->ops->doc_list(e->s, STORE_IMPACT, "prod|f|r1", &got, E));
    assert_doc_text(got, "[{\"requests\":1},{\"requests\":2}]");
    json_decref(got);
    OK(e->ops->doc_list(e->s, STORE_IMPACT, "prod|f|", &got, E));
    assert_doc_text(got, "[{\"requests\":3}]");
    json_decref(got);

    const store_ops *ops;
    store *b = open_store(e->dsn, &ops);
    vx_error err = {0};
    OK(e->ops->begin(e->s, E));
    assert_int_equal(
        e->ops->doc_get(e->s, STORE_LEASE, "scheduler", &got, &err),
        VX_ENOTFOUND);
    put(e, STORE_LEASE, "scheduler", NULL, "{\"owner\":\"a\"}");
    assert_int_equal(ops->doc_get(b, STORE_LEASE, "scheduler", &got, &err),
                     VX_ENOTFOUND);
    OK(e->ops->commit(e->s, E));
    OK(ops->begin(b, E));
    OK(ops->doc_get(b, STORE_LEASE, "scheduler", &got, E));
    assert_doc_text(got, "{\"owner\":\"a\"}");
    json_decref(got);
    OK(ops->commit(b, E));
    ops->close(b);
}

static void test_begin_twice_fails(void **state)
{
    env *e = *state;
    vx_error err = {0};
    assert_int_equal(e->ops->commit(e->s, &err), VX_EIO); /* none open */
    OK(e->ops->begin(e->s, E));
    assert_int_equal(e->ops->begin(e->s, &err), VX_EIO);
    e->ops->rollback(e->s);
    OK(e->ops->begin(e->s, E));
    OK(e->ops->commit(e->s, E));
}

/* A writer waits for the one before it, but not forever: past the wait
 * limit (VX_LIMIT_DB_WAIT_MS) begin fails cleanly, and works again once the
 * first writer is done. */
static void test_busy_writer_times_out(void **state)
{
    env *e = *state;
    const store_ops *ops;
    store *b = open_store(e->dsn, &ops);
    OK(e->ops->begin(e->s, E));
    put(e, STORE_FEATURE, "held", "p", "{\"name\":\"held\"}");
    vx_error err = {0};
    assert_int_equal(ops->begin(b, &err), VX_EIO);
    assert_true(err.message[0] != '\0');
    ops->rollback(b);
    OK(e->ops->commit(e->s, E));
    OK(ops->begin(b, E));
    json_t *got = NULL;
    OK(ops->doc_get(b, STORE_FEATURE, "held", &got, E));
    json_decref(got);
    OK(ops->commit(b, E));
    ops->close(b);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every call is bounded by the store itself, not only by the server: a
 * call whose answer does not come within the call bound (here a begin
 * behind another writer's lock, with a bound shorter than the server's
 * lock wait) fails with VX_EUNAVAILABLE in about that time, and the handle
 * works again afterwards. health answers VX_OK on a healthy database. */
static void test_call_bound_holds(void **state)
{
    env *e = *state;
    vx_error err = {0};
    assert_int_equal(e->ops->health(e->s, &err), VX_OK);
    if (!e->ops->set_call_timeout)
        skip(); /* local calls: nothing to wait for but the busy timeout */
    const store_ops *ops;
    store *b = open_store(e->dsn, &ops);
    OK(e->ops->begin(e->s, E));
    put(e, STORE_FEATURE, "held", "p", "{\"name\":\"held\"}");
    ops->set_call_timeout(b, 300);
    int64_t t0 = now_ms();
    assert_int_equal(ops->begin(b, &err), VX_EUNAVAILABLE);
    int64_t took = now_ms() - t0;
    assert_true(took >= 250 && took < 3000);
    assert_non_null(strstr(err.message, "no answer within 300 ms"));
    ops->rollback(b);
    ops->set_call_timeout(b, 0);
    OK(e->ops->commit(e->s, E));
    /* The dropped connection is made again by a later call. */
    vx_status st = VX_EUNAVAILABLE;
    for (int i = 0; i < 100 && st != VX_OK; i++) {
        st = ops->begin(b, &err);
        if (st != VX_OK) {
            struct timespec nap = {0, 50 * 1000000L};
            nanosleep(&nap, NULL);
        }
    }
    assert_int_equal(st, VX_OK);
    json_t *got = NULL;
    OK(ops->doc_get(b, STORE_FEATURE, "held", &got, E));
    json_decref(got);
    OK(ops->commit(b, E));
    assert_int_equal(ops->health(b, &err), VX_OK);
    ops->close(b);
}

/* A statement that fails inside a transaction fails the transaction: the
 * caller rolls back and nothing of it stays. */
static void test_failed_statement_then_rollback(void **state)
{
    env *e = *state;
    OK(e->ops->begin(e->s, E));
    put(e, STORE_FEATURE, "half", "p", "{\"name\":\"half\"}");
    store_event ev = {.id = 1, .type = "x", .created_by = "t", .created_ms = 1};
    OK(e->ops->event_put(e->s, &ev, E));
    vx_error err = {0};
    assert_int_not_equal(e->ops->event_put(e->s, &ev, &err), VX_OK);
    assert_true(err.message[0] != '\0');
    e->ops->rollback(e->s);
    json_t *got = NULL;
    assert_int_equal(e->ops->doc_get(e->s, STORE_FEATURE, "half", &got, &err),
                     VX_ENOTFOUND);
    assert_int_equal(event_total(e), 0);
}

/* The connection is cut in the middle of a transaction (a database
 * restart): that transaction fails whole, nothing of it is committed on a
 * new connection, and the handle works again afterwards. */
static void test_lost_connection(void **state)
{
    env *e = *state;
    OK(e->ops->begin(e->s, E));
    put(e, STORE_FEATURE, "before", "p", "{\"name\":\"before\"}");
    if (!fixture_kill_connections(e->dsn)) {
        e->ops->rollback(e->s);
        skip(); /* nothing to cut on this backend */
    }
    vx_error err = {0};
    json_t *d = doc("{\"name\":\"after\"}");
    vx_status st = e->ops->doc_put(e->s, STORE_FEATURE, "after", "p", d, &err);
    if (st == VX_OK)
        st = e->ops->commit(e->s, &err);
    json_decref(d);
    assert_int_equal(st, VX_EUNAVAILABLE);
    assert_non_null(strstr(err.message, "the database is unavailable"));
    e->ops->rollback(e->s);
    json_t *got = NULL;
    assert_int_equal(e->ops->doc_get(e->s, STORE_FEATURE, "before", &got, &err),
                     VX_ENOTFOUND);
    assert_int_equal(e->ops->doc_get(e->s, STORE_FEATURE, "after", &got, &err),
                     VX_ENOTFOUND);
    assert_int_equal(e->ops->ping(e->s), VX_OK);
    OK(e->ops->begin(e->s, E));
    put(e, STORE_FEATURE, "again", "p", "{\"name\":\"again\"}");
    OK(e->ops->commit(e->s, E));
    assert_list(e, STORE_FEATURE, NULL, "again");
    /* Cut outside a transaction: the next read reconnects by itself. */
    assert_true(fixture_kill_connections(e->dsn));
    assert_list(e, STORE_FEATURE, NULL, "again");
}

/* ---- sequences ---------------------------------------------------------- */

static void test_sequences(void **state)
{
    env *e = *state;
    int64_t v = 0;
    for (int64_t want = 1; want <= 3; want++) {
        OK(e->ops->next_id(e->s, "segment", &v, E));
        assert_int_equal(v, want);
    }
    OK(e->ops->next_id(e->s, "token", &v, E));
    assert_int_equal(v, 1);
    const store_ops *ops;
    store *b = open_store(e->dsn, &ops);
    OK(ops->next_id(b, "segment", &v, E));
    assert_int_equal(v, 4);
    ops->close(b);
    json_t *all = NULL;
    OK(e->ops->seq_list(e->s, &all, E));
    assert_doc_text(all, "{\"segment\":4,\"token\":1}");
    json_decref(all);
    OK(e->ops->seq_set(e->s, "segment", 10, E));
    OK(e->ops->seq_set(e->s, "new", 7, E));
    OK(e->ops->next_id(e->s, "segment", &v, E));
    assert_int_equal(v, 11);
    OK(e->ops->next_id(e->s, "new", &v, E));
    assert_int_equal(v, 8);
}

/* ---- the event log ------------------------------------------------------ */

/* 30 events: types alternate created/updated, features f0..f2, envs
 * development for every third, actors alice/bob, created_ms 1000..30000. */
static void seed_events(env *e, int64_t ids[30])
{
    static const char *const feats[] = {"f0", "f1", "f2"};
    for (int i = 0; i < 30; i++) {
        json_t *data = json_pack("{si}", "i", i);
        store_event ev = {
            .type = i % 2 ? "feature-updated" : "feature-created",
            .created_by = i < 10 ? "alice" : "bob",
            .project = i < 20 ? "default" : "other",
            .environment = i % 3 == 0 ? "development" : NULL,
            .feature = feats[i % 3],
            .data = data,
            .pre_data = i % 2 ? data : NULL,
            .created_ms = (int64_t)(i + 1) * 1000,
        };
        OK(e->ops->event_append(e->s, &ev, E));
        ids[i] = ev.id;
        json_decref(data);
    }
}

static json_t *query(env *e, store_event_filter f, int64_t *total)
{
    json_t *out = NULL;
    OK(e->ops->event_query(e->s, &f, &out, total, E));
    assert_true(json_is_array(out));
    return out;
}

/* The "i" payloads of a page, joined. */
static void payloads(json_t *events, char *out, size_t cap)
{
    size_t i, n = 0;
    json_t *ev;
    out[0] = '\0';
    json_array_foreach (events, i, ev) {
        json_t *d = json_object_get(ev, "data");
        int w =
            snprintf(out + n, cap - n, "%s%lld", i ? "," : "",
                     (long long)json_integer_value(json_object_get(d, "i")));
        n += (size_t)w;
    }
}

static void test_events_ids_and_shape(void **state)
{
    env *e = *state;
    int64_t ids[30];
    seed_events(e, ids);
    for (int i = 1; i < 30; i++)
        assert_true(ids[i] > ids[i - 1]);
    int64_t total = 0;
    json_t *all = query(e, (store_event_filter){.limit = 1000}, &total);
    assert_int_equal(total, 30);
    assert_int_equal(json_array_size(all), 30);
    /* Newest first, every field as appended. */
    json_t *first = json_array_get(all, 0);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), ids[29]);
    assert_string_equal(json_string_value(json_object_get(first, "type")),
                        "feature-updated");
    assert_string_equal(json_string_value(json_object_get(first, "createdBy")),
                        "bob");
    assert_string_equal(json_string_value(json_object_get(first, "project")),
                        "other");
    assert_true(json_is_null(json_object_get(first, "environment")));
    assert_string_equal(
        json_string_value(json_object_get(first, "featureName")), "f2");
    assert_doc_text(json_object_get(first, "data"), "{\"i\":29}");
    assert_doc_text(json_object_get(first, "preData"), "{\"i\":29}");
    assert_int_equal(json_integer_value(json_object_get(first, "createdAtMs")),
                     30000);
    json_t *second = json_array_get(all, 1), *third = json_array_get(all, 2);
    assert_true(json_is_null(json_object_get(second, "preData")));
    assert_string_equal(
        json_string_value(json_object_get(third, "environment")),
        "development");
    json_decref(all);
}

/* A brief page (what the SDK hub reads to find the flags that changed):
 * the same events and names, no payloads, no total. */
static void test_events_brief(void **state)
{
    env *e = *state;
    int64_t ids[30];
    seed_events(e, ids);
    int64_t total = 0;
    json_t *page =
        query(e, (store_event_filter){.limit = 5, .brief = true}, &total);
    assert_int_equal(total, -1);
    assert_int_equal(json_array_size(page), 5);
    json_t *first = json_array_get(page, 0);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), ids[29]);
    assert_string_equal(json_string_value(json_object_get(first, "type")),
                        "feature-updated");
    assert_string_equal(
        json_string_value(json_object_get(first, "featureName")), "f2");
    assert_true(json_is_null(json_object_get(first, "data")));
    assert_true(json_is_null(json_object_get(first, "preData")));
    json_decref(page);
}

static void test_events_filters(void **state)
{
    env *e = *state;
    int64_t ids[30], total = 0;
    char got[256];
    seed_events(e, ids);
    json_t *r =
        query(e,
              (store_event_filter){
                  .type = "feature-created", .feature = "f1", .limit = 100},
              &total);
    payloads(r, got, sizeof(got));
    assert_string_equal(got, "28,22,16,10,4");
    assert_int_equal(total, 5);
    json_decref(r);
    r = query(e,
              (store_event_filter){
                  .project = "default", .created_by = "bob", .limit = 100},
              &total);
    assert_int_equal(total, 10);
    json_decref(r);
    r = query(e,
              (store_event_filter){.environment = "development",
                                   .from_ms = 4000,
                                   .to_ms = 13000,
                                   .limit = 100},
              &total);
    payloads(r, got, sizeof(got));
    assert_string_equal(got, "12,9,6,3"); /* bounds are inclusive */
    json_decref(r);
    r = query(e, (store_event_filter){.to_ms = 2000, .limit = 100}, &total);
    payloads(r, got, sizeof(got));
    assert_string_equal(got, "1,0");
    json_decref(r);
    r = query(e, (store_event_filter){.type = "nope", .limit = 100}, &total);
    assert_int_equal(total, 0);
    assert_int_equal(json_array_size(r), 0);
    json_decref(r);
}

static void test_events_pagination(void **state)
{
    env *e = *state;
    int64_t ids[30], total = 0;
    seed_events(e, ids);
    char all[512] = "", page[256];
    size_t n = 0;
    for (int64_t off = 0; off < 30; off += 7) {
        json_t *r =
            query(e, (store_event_filter){.offset = off, .limit = 7}, &total);
        assert_int_equal(total, 30); /* ignores offset and limit */
        assert_int_equal(json_array_size(r), off + 7 <= 30 ? 7 : 30 - off);
        payloads(r, page, sizeof(page));
        n += (size_t)snprintf(all + n, sizeof(all) - n, "%s%s", off ? "," : "",
                              page);
        json_decref(r);
    }
    assert_string_equal(all, "29,28,27,26,25,24,23,22,21,20,19,18,17,16,15,"
                             "14,13,12,11,10,9,8,7,6,5,4,3,2,1,0");
    json_t *r =
        query(e, (store_event_filter){.offset = 100, .limit = 7}, &total);
    assert_int_equal(total, 30);
    assert_int_equal(json_array_size(r), 0);
    json_decref(r);
    r = query(e, (store_event_filter){.feature = "f0", .offset = 2, .limit = 3},
              &total);
    payloads(r, page, sizeof(page));
    assert_string_equal(page, "21,18,15");
    assert_int_equal(total, 10);
    json_decref(r);
}

static void test_events_append_only(void **state)
{
    env *e = *state;
    int64_t ids[30];
    seed_events(e, ids);
    assert_false(fixture_raw_exec(e->dsn, "UPDATE events SET type = 'x'"));
    assert_false(fixture_raw_exec(e->dsn, "DELETE FROM events WHERE id = 1"));
    assert_false(fixture_raw_exec(e->dsn, "DELETE FROM events"));
    assert_int_equal(event_total(e), 30);
    /* The same session can still write documents: only the log is fixed. */
    assert_true(fixture_raw_exec(e->dsn, "DELETE FROM docs"));
}

static void test_event_put_keeps_ids(void **state)
{
    env *e = *state;
    OK(e->ops->begin(e->s, E));
    json_t *data = doc("{\"k\":[1,2]}");
    store_event a = {.id = 5,
                     .type = "a",
                     .created_by = "t",
                     .feature = "f",
                     .data = data,
                     .created_ms = 50};
    store_event b = {.id = 9, .type = "b", .created_by = "t", .created_ms = 90};
    OK(e->ops->event_put(e->s, &a, E));
    OK(e->ops->event_put(e->s, &b, E));
    OK(e->ops->commit(e->s, E));
    json_decref(data);
    int64_t id = 0;
    append(e, "c", NULL, 100, &id);
    assert_true(id > 9);
    int64_t total = 0;
    json_t *r = query(e, (store_event_filter){.limit = 10}, &total);
    assert_int_equal(total, 3);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(r, 1), "id")), 9);
    json_t *oldest = json_array_get(r, 2);
    assert_int_equal(json_integer_value(json_object_get(oldest, "id")), 5);
    assert_doc_text(json_object_get(oldest, "data"), "{\"k\":[1,2]}");
    assert_int_equal(json_integer_value(json_object_get(oldest, "createdAtMs")),
                     50);
    json_decref(r);
}

/* ---- several handles writing at once ------------------------------------ */

#define WRITES_PER_THREAD 40

typedef struct writer {
    const char *dsn;                /* shared database */
    int64_t ids[WRITES_PER_THREAD]; /* next_id values it got */
    int failures;                   /* transactions that failed */
    char msg[256];                  /* the first failure */
} writer;

/* Each transaction is a read-modify-write of one counter document, a
 * sequence value and an event: lost updates would show in the count. */
static void *writer_thread(void *arg)
{
    writer *w = arg;
    const char *rest;
    const store_ops *ops = store_backend_for(w->dsn, &rest);
    store *s = NULL;
    vx_error err = {0};
    if (ops->open(rest, NULL, &s, &err) != VX_OK) {
        w->failures = WRITES_PER_THREAD;
        snprintf(w->msg, sizeof(w->msg), "open: %s", err.message);
        return NULL;
    }
    for (int i = 0; i < WRITES_PER_THREAD; i++) {
        json_t *cur = NULL, *next = NULL;
        vx_status st = ops->begin(s, &err);
        if (st == VX_OK) {
            st = ops->doc_get(s, STORE_PROJECT, "counter", &cur, &err);
            json_int_t n =
                st == VX_OK ? json_integer_value(json_object_get(cur, "n")) : 0;
            if (st == VX_ENOTFOUND)
                st = VX_OK;
            next = json_pack("{sI}", "n", n + 1);
            if (st == VX_OK)
                st =
                    ops->doc_put(s, STORE_PROJECT, "counter", NULL, next, &err);
        }
        if (st == VX_OK)
            st = ops->next_id(s, "c", &w->ids[i], &err);
        if (st == VX_OK) {
            store_event ev = {
                .type = "bump", .created_by = "w", .created_ms = 1};
            st = ops->event_append(s, &ev, &err);
        }
        if (st == VX_OK)
            st = ops->commit(s, &err);
        if (st != VX_OK) {
            ops->rollback(s);
            if (!w->failures++)
                snprintf(w->msg, sizeof(w->msg), "%s", err.message);
        }
        json_decref(cur);
        json_decref(next);
    }
    ops->close(s);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_concurrent_writers(void **state)
{
    env *e = *state;
    writer w[2] = {{.dsn = e->dsn}, {.dsn = e->dsn}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, writer_thread, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (w[i].failures)
            fail_msg("writer %d: %d failed transactions, first: %s", i,
                     w[i].failures, w[i].msg);
    }
    json_t *cur = NULL;
    OK(e->ops->doc_get(e->s, STORE_PROJECT, "counter", &cur, E));
    assert_int_equal(json_integer_value(json_object_get(cur, "n")),
                     2 * WRITES_PER_THREAD);
    json_decref(cur);
    int64_t all[2 * WRITES_PER_THREAD];
    memcpy(all, w[0].ids, sizeof(w[0].ids));
    memcpy(all + WRITES_PER_THREAD, w[1].ids, sizeof(w[1].ids));
    qsort(all, 2 * WRITES_PER_THREAD, sizeof(all[0]), cmp_i64);
    for (int i = 0; i < 2 * WRITES_PER_THREAD; i++)
        assert_int_equal(all[i], i + 1); /* no value twice, none skipped */
    assert_int_equal(event_total(e), 2 * WRITES_PER_THREAD);
}

/* ---- change announcements (watch) --------------------------------------- */

/* Waits on `e`'s watch until it reports something other than "nothing"
 * (at most ~5 s), returning the revision. */
static int64_t watch_next(env *e)
{
    for (int i = 0; i < 25; i++) {
        int64_t rev = 0;
        vx_error err = {0};
        vx_status st = e->ops->watch(e->s, 200, &rev, &err);
        if (st == VX_OK && rev != 0)
            return rev;
        if (st != VX_OK && st != VX_EUNAVAILABLE)
            fail_msg("watch: %s (%s)", vx_status_name(st), err.message);
    }
    fail_msg("watch: nothing announced within 5 s");
    return 0;
}

/* One transaction on `b`: a document and, when `event`, an audit event;
 * committed or rolled back. Returns the event id (0 without one). */
static int64_t write_on(const store_ops *ops, store *b, bool event, bool commit)
{
    int64_t id = 0;
    OK(ops->begin(b, E));
    json_t *d = doc("{\"name\":\"w\"}");
    OK(ops->doc_put(b, STORE_FEATURE, "w", "p", d, E));
    json_decref(d);
    if (event) {
        store_event ev = {.type = "feature-updated",
                          .created_by = "tester",
                          .feature = "w",
                          .created_ms = 1};
        OK(ops->event_append(b, &ev, E));
        id = ev.id;
    }
    if (commit)
        OK(ops->commit(b, E));
    else
        ops->rollback(b);
    return id;
}

/* A backend that announces commits (watch != NULL) tells a watcher about a
 * transaction committed by another handle, with its newest event id; never
 * about a rollback or a transaction that wrote no event; and keeps doing
 * so after its connections were cut. Backends without announcements are
 * polled by the server instead (skipped). */
static void test_watch_announces_commits(void **state)
{
    env *e = *state;
    if (!e->ops->watch)
        skip();
    const store_ops *ops;
    store *b = open_store(e->dsn, &ops);
    /* The first call starts listening: "check the revision". */
    assert_int_equal(watch_next(e), -1);

    int64_t id = write_on(ops, b, true, true);
    assert_true(id > 0);
    assert_int_equal(watch_next(e), id);

    /* Two commits before the watcher looks: what is reported only grows,
     * and reaches the newest. */
    int64_t id2 = write_on(ops, b, true, true);
    int64_t id3 = write_on(ops, b, true, true);
    int64_t got = watch_next(e);
    assert_true(got == id2 || got == id3);
    if (got == id2)
        assert_int_equal(watch_next(e), id3);

    /* Nothing for a rollback or a commit without events: the wait runs
     * out (about the timeout, not returning early). */
    write_on(ops, b, true, false);
    write_on(ops, b, false, true);
    int64_t rev = 1, t0 = now_ms();
    OK(e->ops->watch(e->s, 300, &rev, E));
    assert_int_equal(rev, 0);
    assert_true(now_ms() - t0 >= 250);

    /* Connections cut (a database restart): the watch reconnects, says
     * "check" (announcements may have been missed), then works again. */
    assert_true(fixture_kill_connections(e->dsn));
    assert_int_equal(watch_next(e), -1);
    int64_t id4 = write_on(ops, b, true, true);
    assert_int_equal(watch_next(e), id4);
    ops->close(b);
}

/* ---- copying an installation -------------------------------------------- */

static void test_copy_everything(void **state)
{
    env *e = *state;
    int64_t ids[30], v;
    put(e, STORE_PROJECT, "default", NULL, "{\"name\":\"default\"}");
    put(e, STORE_FEATURE, "zeta", "default", "{\"name\":\"zeta\",\"z\":1}");
    put(e, STORE_FEATURE, "alpha", "other", "{\"name\":\"alpha\"}");
    put(e, STORE_TOKEN, "abc", NULL, "{\"name\":\"tok\"}");
    OK(e->ops->next_id(e->s, "segment", &v, E));
    OK(e->ops->next_id(e->s, "segment", &v, E));
    seed_events(e, ids);

    env to = {0};
    fixture_fresh(to.dsn);
    to.s = open_store(to.dsn, &to.ops);
    int applied;
    OK(to.ops->migrate(to.s, &applied, E));
    store_copy_stats stats;
    OK(store_copy(e->s, to.s, &stats, E));
    assert_int_equal(stats.docs[STORE_FEATURE], 2);
    assert_int_equal(stats.docs[STORE_PROJECT], 1);
    assert_int_equal(stats.docs[STORE_TOKEN], 1);
    assert_int_equal(stats.sequences, 1);
    assert_int_equal(stats.events, 30);

    for (int k = 0; k < STORE_KIND_COUNT; k++) {
        json_t *a = NULL, *b = NULL;
        OK(e->ops->doc_entries(e->s, (store_kind)k, &a, E));
        OK(to.ops->doc_entries(to.s, (store_kind)k, &b, E));
        assert_true(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    assert_list(&to, STORE_FEATURE, NULL, "zeta,alpha");
    int64_t t1, t2;
    json_t *a = query(e, (store_event_filter){.limit = 100}, &t1);
    json_t *b = query(&to, (store_event_filter){.limit = 100}, &t2);
    assert_int_equal(t1, t2);
    assert_true(json_equal(a, b)); /* ids, times, payloads */
    json_decref(a);
    json_decref(b);
    OK(to.ops->next_id(to.s, "segment", &v, E));
    assert_int_equal(v, 3);
    int64_t id;
    append(&to, "after", NULL, 99999, &id);
    assert_true(id > ids[29]);

    /* A second copy into the now non-empty target is refused whole. */
    vx_error err = {0};
    assert_int_equal(store_copy(e->s, to.s, &stats, &err), VX_ECONFLICT);
    assert_non_null(strstr(err.message, "not empty"));
    assert_int_equal(event_total(&to), 31);
    to.ops->close(to.s);
    fixture_drop(to.dsn);
}

/* ---- errors ------------------------------------------------------------- */

static void test_open_failure_is_clear(void **state)
{
    (void)state;
    const char *dsn = fixture_unreachable();
    const char *rest;
    const store_ops *ops = store_backend_for(dsn, &rest);
    assert_non_null(ops);
    store *s = (store *)&s; /* must be reset to NULL */
    vx_error err = {0};
    assert_int_equal(ops->open(rest, NULL, &s, &err), VX_EIO);
    assert_null(s);
    assert_true(strlen(err.message) > 10);
    assert_null(strstr(err.message, "sekrit"));
}

static void test_backend_for(void **state)
{
    (void)state;
    const char *rest = NULL;
    assert_ptr_equal(store_backend_for("sqlite:/x.db", &rest),
                     &store_sqlite_ops);
    assert_string_equal(rest, "/x.db");
    assert_ptr_equal(store_backend_for("postgres://u@h:5/d", &rest),
                     &store_postgres_ops);
    assert_string_equal(rest, "postgres://u@h:5/d");
    assert_ptr_equal(store_backend_for("postgresql://h/d", &rest),
                     &store_postgres_ops);
    assert_null(store_backend_for("mysql://h/d", &rest));
    assert_null(store_backend_for("", &rest));

    char buf[128];
    store_dsn_redact("postgres://u:pw@h:5432/db", buf, sizeof(buf));
    assert_string_equal(buf, "postgres://u:***@h:5432/db");
    store_dsn_redact("postgresql://u@h/db?password=pw&sslmode=require", buf,
                     sizeof(buf));
    assert_string_equal(buf,
                        "postgresql://u@h/db?password=***&sslmode=require");
    store_dsn_redact("postgres://u:p@ss@h/db", buf, sizeof(buf));
    assert_string_equal(buf, "postgres://u:***@h/db");
    store_dsn_redact("sqlite:./data/a:b@c.db", buf, sizeof(buf));
    assert_string_equal(buf, "sqlite:./data/a:b@c.db");
    store_dsn_redact("postgres://u:pw@h/db", buf, 12);
    assert_null(strstr(buf, "pw"));
}

int main(int argc, char **argv)
{
    const char *backend = argc > 1 ? argv[1] : "sqlite";
    if (!fixture_init(backend))
        return 77; /* ctest SKIP_RETURN_CODE */
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_for),
        cmocka_unit_test(test_open_failure_is_clear),
        T(test_migrate_idempotent),
        cmocka_unit_test(test_ping_needs_schema),
        cmocka_unit_test(test_migrate_concurrently),
        T(test_doc_get_put_delete),
        T(test_doc_order_and_parents),
        T(test_doc_count_true),
        T(test_rollback_discards_everything),
        T(test_commit_is_visible_to_others_only_after),
        T(test_plan_kinds_and_lease),
        T(test_begin_twice_fails),
        T(test_busy_writer_times_out),
        T(test_call_bound_holds),
        T(test_failed_statement_then_rollback),
        T(test_lost_connection),
        T(test_sequences),
        T(test_events_ids_and_shape),
        T(test_events_brief),
        T(test_events_filters),
        T(test_events_pagination),
        T(test_events_append_only),
        T(test_event_put_keeps_ids),
        T(test_concurrent_writers),
        T(test_watch_announces_commits),
        T(test_copy_everything),
    };
#undef T
    char name[64];
    snprintf(name, sizeof(name), "store contract (%s)", backend);
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
