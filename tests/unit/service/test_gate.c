/* Unit tests for the one gate for flag data (src/service/gate.c and the
 * flag-data table of src/base/limits.h) against a real SQLite service:
 *
 *  - for each row of the table a write can reach, the service accepts a
 *    write at the limit (and what SDKs are then served loads in libvexil)
 *    and refuses one over it with VX_ELIMIT, the field's path and the very
 *    message libvexil's loader gives for the same excess: both read the
 *    same row, so they cannot drift;
 *  - the last line of defence: a write that would make a flag unloadable
 *    through data the validation does not see (a segment stored by an older
 *    version) is refused, while writes to data that was already unloadable
 *    are not blocked (a kill switch on it still works);
 *  - `vexil migrate` (svc_copy_database) refuses a source holding such data
 *    and leaves the target empty.
 *
 * Rows not reached here: flags (200,000), segments (100,000) and document
 * bytes (256 MiB) are whole-environment limits checked by svc__gate_room
 * and the migrate check; a variant's weight cannot pass 1000 through the
 * admin API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/limits.h"
#include "service/service.h"
#include "store/store.h"
#include "temp_service.h"
#include "vexil/vexil.h"

static const svc_principal ADMIN = {.kind = SVC_KIND_ADMIN,
                                    .role = SVC_ROLE_ADMIN,
                                    .name = "tester",
                                    .environment = "*",
                                    .projects = "*"};

/* ---- helpers ------------------------------------------------------------- */

typedef struct call_res {
    vx_status st;  /* what svc_call answered */
    vx_error err;  /* its error */
    json_t *out;   /* its answer (NULL on error) */
    int64_t moved; /* revision after - before: 0 = nothing written */
} call_res;

static int64_t revision(service *s)
{
    int64_t rev = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_revision(s, &rev, &err), VX_OK);
    return rev;
}

/* Runs one admin call; takes `body` (may be NULL). */
static call_res call(service *s, svc_op op, const char *feature, const char *id,
                     json_t *body)
{
    call_res r;
    memset(&r, 0, sizeof(r));
    svc_req req = {.op = op,
                   .project = "default",
                   .feature = feature,
                   .environment = "production",
                   .id = id,
                   .body = body};
    int64_t before = revision(s);
    r.st = svc_call(s, &ADMIN, &req, &r.out, &r.err);
    r.moved = revision(s) - before;
    json_decref(body);
    return r;
}

static void ok(service *s, svc_op op, const char *feature, const char *id,
               json_t *body)
{
    call_res r = call(s, op, feature, id, body);
    if (r.st != VX_OK)
        fail_msg("%s: %s at '%s'", svc_op_name(op), r.err.message, r.err.path);
    json_decref(r.out);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in the test: %s", e.text);
    return j;
}

/* Every environment's SDK document loads in libvexil. */
static void served_loads(service *s)
{
    json_t *envs = NULL, *docs = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    int64_t rev;
    assert_int_equal(svc_environment_names(s, &envs, &err), VX_OK);
    assert_int_equal(svc_client_states(s, envs, &docs, &rev, &err), VX_OK);
    const char *env;
    json_t *doc;
    json_object_foreach (docs, env, doc) {
        char *text = json_dumps(doc, JSON_COMPACT);
        vx_snapshot *snap = NULL;
        vx_status st = vx_snapshot_load(text, strlen(text), NULL, &snap, &err);
        if (st != VX_OK)
            fail_msg("%s does not load: %s at %s", env, err.message, err.path);
        vx_snapshot_unref(snap);
        free(text);
    }
    json_decref(docs);
    json_decref(envs);
}

/* The loader's error for client document `doc` (taken). */
static vx_error load_error(json_t *doc)
{
    assert_non_null(doc);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    vx_snapshot *snap = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = vx_snapshot_load(text, strlen(text), NULL, &snap, &err);
    free(text);
    vx_snapshot_unref(snap);
    if (st == VX_OK)
        memset(&err, 0, sizeof(err));
    return err;
}

/* The refusal of limit `id` at `path` with loader error `lerr` for the same
 * excess `got`: the same status and the same message, from the table. */
static void expect_refusal(call_res r, const char *path, vx_flag_limit id,
                           size_t got, const vx_error *lerr)
{
    char want[VX_ERROR_MSG_MAX];
    vx__limit_message(want, sizeof(want), id, got);
    if (r.st != VX_ELIMIT)
        fail_msg("want VX_ELIMIT (%s), got %s: %s at '%s'", want,
                 vx_status_name(r.st), r.err.message, r.err.path);
    assert_string_equal(r.err.path, path);
    assert_string_equal(r.err.message, want);
    assert_non_null(strstr(r.err.message, vx__limit_name(id)));
    assert_int_equal(r.moved, 0); /* nothing written */
    assert_null(r.out);
    assert_int_equal(lerr->code, VX_ELIMIT);
    assert_string_equal(lerr->message, want);
}

/* n copies of the JSON `item` in an array (new reference). */
static json_t *many(const char *item, size_t n)
{
    json_t *one = parse(item), *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_deep_copy(one));
    json_decref(one);
    return arr;
}

static json_t *strings(const char *prefix, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char v[64];
        snprintf(v, sizeof(v), "%s%zu", prefix, i);
        json_array_append_new(arr, json_string(v));
    }
    return arr;
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* A client document with one flag whose one strategy is `strategy`
 * (taken), with its segments (taken, may be NULL). */
static json_t *doc_with_strategy(json_t *strategy, json_t *segments)
{
    return json_pack("{si s[{ss sb s[o]}] so}", "version", 2, "features",
                     "name", "f", "enabled", 1, "strategies", strategy,
                     "segments", segments ? segments : json_array());
}

static int setup(void **state)
{
    temp_service *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    temp_service_open(t, "gate");
    ok(t->svc, SVC_OP_FEATURE_CREATE, NULL, NULL, parse("{\"name\":\"f\"}"));
    ok(t->svc, SVC_OP_ENV_ON, "f", NULL, NULL);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    temp_service *t = *state;
    temp_service_close(t);
    free(t);
    return 0;
}

/* ---- the table, row by row ------------------------------------------------
 */

static void test_message(void **state)
{
    (void)state;
    char m[VX_ERROR_MSG_MAX];
    vx__limit_message(m, sizeof(m), VX_FL_REGEX_BYTES, 5000);
    assert_string_equal(
        m,
        "at most 4096 bytes in a REGEX pattern (limit regex_bytes), got 5000");
    vx__limit_message(m, sizeof(m), VX_FL_DEPENDENCIES, 0);
    assert_string_equal(m,
                        "at most 100 parents in a flag (limit dependencies)");
    assert_int_equal(vx__limit_value(VX_FL_NAME_BYTES), VX_LIMIT_NAME_BYTES);
    assert_string_equal(vx__limit_name(VX_FL_OVERRIDES), "overrides");
}

/* REGEX_BYTES: a strategy constraint and a segment. */
static void test_regex_bytes(void **state)
{
    temp_service *t = *state;
    size_t lim = VX_LIMIT_REGEX_BYTES;
    for (size_t n = lim; n <= lim + 1; n++) {
        char *pat = repeat('a', n);
        json_t *k = json_pack("{ss ss ss}", "contextName", "email", "operator",
                              "REGEX", "value", pat);
        call_res r =
            call(t->svc, SVC_OP_STRATEGY_ADD, "f", NULL,
                 json_pack("{ss s[O]}", "name", "default", "constraints", k));
        call_res rs =
            call(t->svc, SVC_OP_SEGMENT_CREATE, NULL, NULL,
                 json_pack("{ss s[O]}", "name", n == lim ? "at" : "over",
                           "constraints", k));
        if (n == lim) {
            assert_int_equal(r.st, VX_OK);
            assert_int_equal(rs.st, VX_OK);
            served_loads(t->svc);
        } else {
            vx_error le = load_error(doc_with_strategy(
                json_pack("{ss s[O]}", "name", "default", "constraints", k),
                NULL));
            expect_refusal(r, "/constraints/0/value", VX_FL_REGEX_BYTES, n,
                           &le);
            expect_refusal(rs, "/constraints/0/value", VX_FL_REGEX_BYTES, n,
                           &le);
        }
        json_decref(r.out);
        json_decref(rs.out);
        json_decref(k);
        free(pat);
    }
}

/* NAME_BYTES: an override's and a constraint's context field. */
static void test_name_bytes(void **state)
{
    temp_service *t = *state;
    size_t lim = VX_LIMIT_NAME_BYTES;
    for (size_t n = lim; n <= lim + 1; n++) {
        char *name = repeat('c', n);
        call_res r =
            call(t->svc, SVC_OP_VARIANTS_PUT, "f", NULL,
                 json_pack("[{ss s[{ss s[s]}]}]", "name", "v", "overrides",
                           "contextName", name, "values", "x"));
        call_res rk = call(t->svc, SVC_OP_STRATEGY_ADD, "f", NULL,
                           json_pack("{ss s[{ss ss s[s]}]}", "name", "default",
                                     "constraints", "contextName", name,
                                     "operator", "IN", "values", "x"));
        if (n == lim) {
            assert_int_equal(r.st, VX_OK);
            assert_int_equal(rk.st, VX_OK);
            served_loads(t->svc);
        } else {
            json_t *doc =
                json_pack("{s[{ss sb s[] s[{ss si s[{ss s[s]}]}]}]}",
                          "features", "name", "f", "enabled", 1, "strategies",
                          "variants", "name", "v", "weight", 1000, "overrides",
                          "contextName", name, "values", "x");
            vx_error le = load_error(doc);
            expect_refusal(r, "/0/overrides/0/contextName", VX_FL_NAME_BYTES, n,
                           &le);
            expect_refusal(rk, "/constraints/0/contextName", VX_FL_NAME_BYTES,
                           n, &le);
        }
        json_decref(r.out);
        json_decref(rk.out);
        free(name);
    }
}

/* Array rows reached through one strategy or variant list. */
static void test_array_rows(void **state)
{
    temp_service *t = *state;
    static const char IN1[] =
        "{\"contextName\":\"a\",\"operator\":\"IN\",\"values\":[\"x\"]}";
    static const struct {
        vx_flag_limit id;
        size_t lim;
        const char *path;
    } ROWS[] = {
        {VX_FL_CONSTRAINTS, VX_LIMIT_CONSTRAINTS, "/constraints"},
        {VX_FL_VALUES, VX_LIMIT_VALUES, "/constraints/0/values"},
        {VX_FL_VARIANTS, VX_LIMIT_VARIANTS, "/variants"},
        {VX_FL_OVERRIDES, VX_LIMIT_VARIANTS, "/variants/0/overrides"},
    };
    for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
        for (size_t n = ROWS[i].lim; n <= ROWS[i].lim + 1; n++) {
            json_t *s = json_pack("{ss}", "name", "default");
            if (ROWS[i].id == VX_FL_CONSTRAINTS)
                json_object_set_new(s, "constraints", many(IN1, n));
            if (ROWS[i].id == VX_FL_VALUES)
                json_object_set_new(s, "constraints",
                                    json_pack("[{ss ss so}]", "contextName",
                                              "a", "operator", "IN", "values",
                                              strings("v", n)));
            if (ROWS[i].id == VX_FL_VARIANTS) {
                json_t *vs = json_array();
                for (size_t k = 0; k < n; k++) {
                    char name[32];
                    snprintf(name, sizeof(name), "v%zu", k);
                    json_array_append_new(vs, json_pack("{ss}", "name", name));
                }
                json_object_set_new(s, "variants", vs);
            }
            if (ROWS[i].id == VX_FL_OVERRIDES)
                json_object_set_new(
                    s, "variants",
                    json_pack(
                        "[{ss so}]", "name", "v", "overrides",
                        many("{\"contextName\":\"a\",\"values\":[\"x\"]}", n)));
            /* The loader's view: the same strategy with weights set. */
            json_t *ls = json_deep_copy(s);
            size_t k;
            json_t *v;
            json_array_foreach (json_object_get(ls, "variants"), k, v)
                json_object_set_new(v, "weight", json_integer(1));
            call_res r = call(t->svc, SVC_OP_STRATEGY_ADD, "f", NULL, s);
            if (n == ROWS[i].lim) {
                if (r.st != VX_OK)
                    fail_msg("%s at the limit: %s at %s",
                             vx__limit_name(ROWS[i].id), r.err.message,
                             r.err.path);
                json_decref(ls);
            } else {
                vx_error le = load_error(doc_with_strategy(ls, NULL));
                expect_refusal(r, ROWS[i].path, ROWS[i].id, n, &le);
            }
            json_decref(r.out);
        }
    }
    served_loads(t->svc);
}

/* DEPENDENCIES and DEPENDENCY_VARIANTS. */
static void test_dependencies(void **state)
{
    temp_service *t = *state;
    for (size_t i = 0; i <= VX_LIMIT_DEPENDENCIES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "p%zu", i);
        ok(t->svc, SVC_OP_FEATURE_CREATE, NULL, NULL,
           json_pack("{ss}", "name", name));
    }
    call_res r = call(t->svc, SVC_OP_DEPENDENCY_ADD, "f", NULL,
                      json_pack("{ss so}", "feature", "p0", "variants",
                                strings("v", VX_LIMIT_VARIANTS + 1)));
    json_t *ld =
        json_pack("{s[{ss sb s[] s[{ss so}]}]}", "features", "name", "f",
                  "enabled", 1, "strategies", "dependencies", "feature", "p0",
                  "variants", strings("v", VX_LIMIT_VARIANTS + 1));
    vx_error le = load_error(ld);
    expect_refusal(r, "/variants", VX_FL_DEPENDENCY_VARIANTS,
                   VX_LIMIT_VARIANTS + 1, &le);
    ok(t->svc, SVC_OP_DEPENDENCY_ADD, "f", NULL,
       json_pack("{ss so}", "feature", "p0", "variants",
                 strings("v", VX_LIMIT_VARIANTS)));
    for (size_t i = 1; i < VX_LIMIT_DEPENDENCIES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "p%zu", i);
        ok(t->svc, SVC_OP_DEPENDENCY_ADD, "f", NULL,
           json_pack("{ss}", "feature", name));
    }
    served_loads(t->svc);
    char last[32];
    snprintf(last, sizeof(last), "p%d", VX_LIMIT_DEPENDENCIES);
    r = call(t->svc, SVC_OP_DEPENDENCY_ADD, "f", NULL,
             json_pack("{ss}", "feature", last));
    json_t *deps = json_array();
    for (size_t i = 0; i <= VX_LIMIT_DEPENDENCIES; i++)
        json_array_append_new(deps, json_pack("{ss}", "feature", "p"));
    le =
        load_error(json_pack("{s[{ss sb s[] so}]}", "features", "name", "f",
                             "enabled", 1, "strategies", "dependencies", deps));
    expect_refusal(r, "/feature", VX_FL_DEPENDENCIES, VX_LIMIT_DEPENDENCIES + 1,
                   &le);
}

/* STRATEGIES and STRATEGY_SEGMENTS, at the limit through an import. */
static void test_strategy_rows(void **state)
{
    temp_service *t = *state;
    temp_service fresh;
    temp_service_open(&fresh, "gate-import");
    call_res ex = call(fresh.svc, SVC_OP_EXPORT, NULL, NULL, NULL);
    assert_int_equal(ex.st, VX_OK);
    json_t *segs = json_array(), *ids = json_array();
    for (int i = 1; i <= VX_LIMIT_CONSTRAINTS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "s%d", i);
        json_array_append_new(segs, json_pack("{si ss s[]}", "id", i, "name",
                                              name, "constraints"));
        json_array_append_new(ids, json_integer(i));
    }
    json_t *strategies = json_array();
    json_array_append_new(strategies,
                          json_pack("{ss ss sO}", "id", "s0", "name", "default",
                                    "segments", ids));
    for (int i = 1; i < VX_LIMIT_STRATEGIES; i++) {
        char id[32];
        snprintf(id, sizeof(id), "s%d", i);
        json_array_append_new(
            strategies, json_pack("{ss ss}", "id", id, "name", "default"));
    }
    json_t *doc = json_deep_copy(ex.out);
    json_object_set_new(doc, "segments", segs);
    json_object_set_new(doc, "features",
                        json_pack("[{ss ss s[{ss sb so s[]}]}]", "name", "f",
                                  "project", "default", "environments", "name",
                                  "production", "enabled", 1, "strategies",
                                  strategies, "variants"));
    call_res r = call(fresh.svc, SVC_OP_IMPORT, NULL, NULL, doc);
    if (r.st != VX_OK)
        fail_msg("import at the limits: %s at %s", r.err.message, r.err.path);
    json_decref(r.out);
    served_loads(fresh.svc);

    r = call(fresh.svc, SVC_OP_STRATEGY_ADD, "f", NULL,
             json_pack("{ss}", "name", "default"));
    vx_error le = load_error(json_pack(
        "{s[{ss sb so}]}", "features", "name", "f", "enabled", 1, "strategies",
        many("{\"name\":\"default\"}", VX_LIMIT_STRATEGIES + 1)));
    expect_refusal(r, "", VX_FL_STRATEGIES, VX_LIMIT_STRATEGIES + 1, &le);
    json_decref(ex.out);
    temp_service_close(&fresh);

    json_array_append_new(ids, json_integer(VX_LIMIT_CONSTRAINTS + 1));
    r = call(t->svc, SVC_OP_STRATEGY_ADD, "f", NULL,
             json_pack("{ss sO}", "name", "default", "segments", ids));
    le = load_error(doc_with_strategy(
        json_pack("{ss sO}", "name", "default", "segments", ids), NULL));
    expect_refusal(r, "/segments", VX_FL_STRATEGY_SEGMENTS,
                   VX_LIMIT_CONSTRAINTS + 1, &le);
    json_decref(ids);
}

/* ---- the last line, and data that was unloadable before -------------------
 */

/* Writes `doc` of `kind` under `key` straight into the store, as a version
 * without the gate could have. */
static void store_raw(temp_service *t, store_kind kind, const char *key,
                      const char *parent, json_t *doc)
{
    const char *rest;
    const store_ops *ops = store_backend_for(t->dsn, &rest);
    store *st = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(ops->open(rest, NULL, &st, &err), VX_OK);
    assert_int_equal(ops->begin(st, &err), VX_OK);
    assert_int_equal(ops->doc_put(st, kind, key, parent, doc, &err), VX_OK);
    assert_int_equal(ops->commit(st, &err), VX_OK);
    ops->close(st);
    json_decref(doc);
}

static json_t *long_regex_constraints(void)
{
    char *pat = repeat('a', VX_LIMIT_REGEX_BYTES + 1);
    json_t *k =
        json_pack("[{ss ss ss sb sb}]", "contextName", "email", "operator",
                  "REGEX", "value", pat, "inverted", 0, "caseInsensitive", 0);
    free(pat);
    return k;
}

static void test_last_line(void **state)
{
    temp_service *t = *state;
    /* A segment an older version stored: unloadable. */
    store_raw(t, STORE_SEGMENT, "900", NULL,
              json_pack("{si ss ss sn so}", "id", 900, "name", "legacy",
                        "description", "", "project", "constraints",
                        long_regex_constraints()));
    /* Using it would make a loadable flag unloadable: refused, with the
     * flag, the environment and the loader's own words. */
    call_res r =
        call(t->svc, SVC_OP_STRATEGY_ADD, "f", NULL,
             json_pack("{ss s[i]}", "name", "default", "segments", 900));
    assert_int_equal(r.st, VX_ELIMIT);
    assert_int_equal(r.moved, 0);
    assert_string_equal(r.err.path, "");
    assert_non_null(strstr(r.err.message, "'f' in production"));
    assert_non_null(strstr(r.err.message, "limit regex_bytes"));

    /* Fixing the segment is allowed; so is any write to it that leaves it
     * unloadable (it was so already). */
    ok(t->svc, SVC_OP_SEGMENT_UPDATE, NULL, "900",
       json_pack("{ss s[]}", "name", "legacy", "constraints"));
    served_loads(t->svc);

    /* A flag an older version stored: unloadable. A kill switch on it
     * still works, and so does removing what is wrong. */
    call_res s = call(t->svc, SVC_OP_FEATURE_GET, "f", NULL, NULL);
    json_t *f = json_deep_copy(s.out);
    json_decref(s.out);
    json_object_set_new(f, "name", json_string("old"));
    json_object_del(f, "environments");
    json_object_set_new(f, "environments",
                        json_pack("[{ss sb s[{ss ss s{} so s[] s[]}] s[]}]",
                                  "name", "production", "enabled", 1,
                                  "strategies", "id", "x", "name", "default",
                                  "parameters", "constraints",
                                  long_regex_constraints(), "segments",
                                  "variants", "variants"));
    store_raw(t, STORE_FEATURE, "old", "default", f);
    ok(t->svc, SVC_OP_ENV_OFF, "old", NULL, NULL);
    ok(t->svc, SVC_OP_STRATEGY_DELETE, "old", "x", NULL);
    served_loads(t->svc);
}

/* vexil migrate: a source holding unloadable data is refused, naming the
 * flag and the limit, and the target stays empty; once fixed, it copies. */
static void test_migrate(void **state)
{
    temp_service *t = *state;
    call_res s = call(t->svc, SVC_OP_FEATURE_GET, "f", NULL, NULL);
    json_t *f = json_deep_copy(s.out);
    json_decref(s.out);
    json_object_set_new(f, "name", json_string("bad"));
    json_object_set_new(f, "environments",
                        json_pack("[{ss sb s[{ss ss s{} so s[] s[]}] s[]}]",
                                  "name", "production", "enabled", 1,
                                  "strategies", "id", "x", "name", "default",
                                  "parameters", "constraints",
                                  long_regex_constraints(), "segments",
                                  "variants", "variants"));
    store_raw(t, STORE_FEATURE, "bad", "default", f);

    char dir[64], to[128];
    snprintf(dir, sizeof(dir), "/tmp/vx-gate-to-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(to, sizeof(to), "sqlite:%s/vexil.db", dir);
    svc_copy_stats stats;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_copy_database(t->dsn, to, &stats, &err);
    assert_int_equal(st, VX_ELIMIT);
    assert_non_null(strstr(err.message, "'bad'"));
    assert_non_null(strstr(err.message, "limit regex_bytes"));
    /* The target holds no flag. */
    const char *rest;
    const store_ops *ops = store_backend_for(to, &rest);
    store *dst = NULL;
    int64_t n = -1;
    assert_int_equal(ops->open(rest, NULL, &dst, &err), VX_OK);
    int applied;
    assert_int_equal(ops->migrate(dst, &applied, &err), VX_OK);
    assert_int_equal(ops->doc_count(dst, STORE_FEATURE, &n, &err), VX_OK);
    assert_int_equal(n, 0);
    ops->close(dst);

    ok(t->svc, SVC_OP_STRATEGY_DELETE, "bad", "x", NULL);
    memset(&err, 0, sizeof(err));
    st = svc_copy_database(t->dsn, to, &stats, &err);
    if (st != VX_OK)
        fail_msg("migrate after the fix: %s", err.message);
    const char *files[] = {"vexil.db", "vexil.db-wal", "vexil.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[sizeof(dir) + 16];
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message),
        cmocka_unit_test_setup_teardown(test_regex_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_array_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dependencies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strategy_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
