/* Unit tests for API tokens (src/service/admin.c, service.c) against a real
 * SQLite service on a temporary file: creation refuses an expiry in the
 * past, unknown projects (singular and list) and a project list longer
 * than a principal holds; a token stored with such a list (by an older
 * version) never authenticates with a project name cut short, which could
 * name another project; and while the service is busy (a long write holds
 * it), lookups of tokens missing from the cache hold at most one request
 * thread, and a token revoked a moment before is not let in; tokens whose
 * hashes share a set of the cache all stay in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "service/internal.h"
#include "service/service.h"
#include "store/store.h"
#include "temp_service.h"

static const svc_principal admin = {.kind = SVC_KIND_ADMIN,
                                    .role = SVC_ROLE_ADMIN,
                                    .name = "test",
                                    .environment = "*",
                                    .projects = "*"};

static int setup(void **state)
{
    temp_service *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    temp_service_open(t, "tokens");
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

static vx_status call(temp_service *t, svc_op op, const char *id, json_t *body,
                      json_t **out, vx_error *err)
{
    svc_req r = {.op = op, .id = id, .body = body};
    memset(err, 0, sizeof(*err));
    vx_status st = svc_call(t->svc, &admin, &r, out, err);
    json_decref(body);
    return st;
}

static void make_project(temp_service *t, const char *id)
{
    json_t *out = NULL;
    vx_error err;
    assert_int_equal(call(t, SVC_OP_PROJECT_CREATE, NULL,
                          json_pack("{ss}", "id", id), &out, &err),
                     VX_OK);
    json_decref(out);
}

static void refused(temp_service *t, json_t *body, vx_status want,
                    const char *path)
{
    json_t *out = NULL;
    vx_error err;
    vx_status st = call(t, SVC_OP_TOKEN_CREATE, NULL, body, &out, &err);
    assert_int_equal(st, want);
    assert_string_equal(err.path, path);
    assert_null(out);
}

static void test_create_refuses(void **state)
{
    temp_service *t = *state;
    refused(t,
            json_pack("{ss ss ss ss}", "tokenName", "past", "type", "client",
                      "environment", "production", "expiresAt",
                      "2020-01-01T00:00:00.000Z"),
            VX_EINVAL, "/expiresAt");
    refused(t,
            json_pack("{ss ss ss ss}", "tokenName", "ghost", "type", "client",
                      "environment", "production", "project", "no-such"),
            VX_EINVAL, "/project");
    refused(t,
            json_pack("{ss ss ss s[ss]}", "tokenName", "ghosts", "type",
                      "client", "environment", "production", "projects",
                      "default", "no-such"),
            VX_EINVAL, "/projects/1");
    /* 40 projects of 15 bytes: 639 bytes joined, over the 511 a principal
     * holds. */
    json_t *list = json_array();
    for (int i = 0; i < 40; i++) {
        char id[32];
        snprintf(id, sizeof(id), "project-long-%02d", i);
        make_project(t, id);
        json_array_append_new(list, json_string(id));
    }
    refused(t,
            json_pack("{ss ss ss so}", "tokenName", "many", "type", "client",
                      "environment", "production", "projects", list),
            VX_ELIMIT, "/projects");
    /* A future expiry and existing projects are fine; an update to the past
     * is refused like a creation. */
    json_t *out = NULL;
    vx_error err;
    assert_int_equal(
        call(t, SVC_OP_TOKEN_CREATE, NULL,
             json_pack("{ss ss ss ss ss}", "tokenName", "ok", "type", "client",
                       "environment", "production", "project", "default",
                       "expiresAt", "2999-01-01T00:00:00.000Z"),
             &out, &err),
        VX_OK);
    char id[32];
    snprintf(id, sizeof(id), "%lld",
             (long long)json_integer_value(json_object_get(out, "id")));
    json_decref(out);
    out = NULL;
    assert_int_equal(
        call(t, SVC_OP_TOKEN_UPDATE, id,
             json_pack("{ss}", "expiresAt", "2020-01-01T00:00:00.000Z"), &out,
             &err),
        VX_EINVAL);
    assert_string_equal(err.path, "/expiresAt");
}

/* True when `item` is a whole entry of the comma-separated `list`. */
static bool listed(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, item, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

static void test_long_stored_list_is_not_cut(void **state)
{
    temp_service *t = *state;
    /* "shop" is the project a cut name could become. */
    make_project(t, "shop");
    json_t *out = NULL;
    vx_error err;
    assert_int_equal(
        call(t, SVC_OP_TOKEN_CREATE, NULL,
             json_pack("{ss ss ss ss}", "tokenName", "old", "type", "client",
                       "environment", "production", "project", "default"),
             &out, &err),
        VX_OK);
    const char *secret = json_string_value(json_object_get(out, "secret"));
    assert_non_null(secret);
    char *sec = strdup(secret);
    json_decref(out);

    /* Rewrite the stored token as an older version could have stored it:
     * 29 names of 16 bytes and one of 13 fill 506 bytes with their commas,
     * so of ",shop-extended" only ",shop" fits the principal's 511. */
    json_t *list = json_array();
    for (int i = 0; i < 29; i++) {
        char id[32];
        snprintf(id, sizeof(id), "p%015d", i);
        json_array_append_new(list, json_string(id));
    }
    json_array_append_new(list, json_string("q123456789012"));
    json_array_append_new(list, json_string("shop-extended"));
    const char *rest;
    const store_ops *ops = store_backend_for(t->dsn, &rest);
    store *st = NULL;
    memset(&err, 0, sizeof(err));
    assert_int_equal(ops->open(rest, NULL, &st, &err), VX_OK);
    json_t *all = NULL;
    assert_int_equal(ops->doc_list(st, STORE_TOKEN, NULL, &all, &err), VX_OK);
    json_t *doc = NULL;
    size_t i;
    json_t *d;
    json_array_foreach (all, i, d)
        if (strcmp(json_string_value(json_object_get(d, "tokenName")), "old") ==
            0)
            doc = json_deep_copy(d);
    json_decref(all);
    assert_non_null(doc);
    json_object_set_new(doc, "projects", list);
    assert_int_equal(ops->begin(st, &err), VX_OK);
    assert_int_equal(
        ops->doc_put(st, STORE_TOKEN,
                     json_string_value(json_object_get(doc, "hash")), NULL, doc,
                     &err),
        VX_OK);
    assert_int_equal(ops->commit(st, &err), VX_OK);
    ops->close(st);
    json_decref(doc);
    svc_invalidate(t->svc);

    svc_principal who;
    memset(&who, 0, sizeof(who));
    assert_int_equal(svc_authenticate(t->svc, sec, strlen(sec), &who, &err),
                     VX_OK);
    free(sec);
    assert_true(listed(who.projects, "p000000000000000"));
    assert_true(listed(who.projects, "q123456789012"));
    assert_false(listed(who.projects, "shop"));
    assert_true(strlen(who.projects) < sizeof(who.projects));
}

/* Creates a client token; returns its secret (malloc'd) and id. */
static char *client_token(temp_service *t, const char *name, char id[32])
{
    json_t *out = NULL;
    vx_error err;
    assert_int_equal(call(t, SVC_OP_TOKEN_CREATE, NULL,
                          json_pack("{ss ss ss}", "tokenName", name, "type",
                                    "client", "environment", "production"),
                          &out, &err),
                     VX_OK);
    char *secret = strdup(json_string_value(json_object_get(out, "secret")));
    snprintf(id, 32, "%lld",
             (long long)json_integer_value(json_object_get(out, "id")));
    json_decref(out);
    return secret;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One lookup on a thread of its own, as a request thread makes it. */
typedef struct lookup {
    service *svc;       /* borrowed */
    const char *secret; /* the token sent */
    vx_status st;       /* out: the answer */
    int64_t ms;         /* out: how long it took */
    pthread_t thread;   /* its thread */
} lookup;

static void *lookup_main(void *arg)
{
    lookup *l = arg;
    svc_principal who;
    vx_error err;
    memset(&err, 0, sizeof(err));
    int64_t t0 = mono_ms();
    l->st = svc_authenticate(l->svc, l->secret, strlen(l->secret), &who, &err);
    l->ms = mono_ms() - t0;
    return NULL;
}

static void test_lookups_while_busy(void **state)
{
    temp_service *t = *state;
    char id[32], spare[32];
    char *revoked = client_token(t, "revoked", id);
    char *other = client_token(t, "other", spare);
    svc_principal who;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        svc_authenticate(t->svc, revoked, strlen(revoked), &who, &err), VX_OK);
    assert_int_equal(svc_authenticate(t->svc, other, strlen(other), &who, &err),
                     VX_OK);
    json_t *out = NULL;
    assert_int_equal(call(t, SVC_OP_TOKEN_DELETE, id, NULL, &out, &err), VX_OK);
    json_decref(out);

    /* A long write holds the service. Eight lookups of tokens nobody holds,
     * at once, then the revoked token (its cache entry is stale since the
     * revocation). */
    pthread_mutex_lock(&t->svc->mu);
    static const char *const made_up[] = {
        "*:production.0000000000000000000000000000000000000000000000000001",
        "*:production.0000000000000000000000000000000000000000000000000002",
        "*:production.0000000000000000000000000000000000000000000000000003",
        "*:production.0000000000000000000000000000000000000000000000000004",
        "*:production.0000000000000000000000000000000000000000000000000005",
        "*:production.0000000000000000000000000000000000000000000000000006",
        "*:production.0000000000000000000000000000000000000000000000000007",
        "*:production.0000000000000000000000000000000000000000000000000008",
    };
    enum { N = sizeof(made_up) / sizeof(made_up[0]) };
    lookup ls[N];
    for (size_t i = 0; i < N; i++) {
        ls[i] = (lookup){.svc = t->svc, .secret = made_up[i]};
        assert_int_equal(
            pthread_create(&ls[i].thread, NULL, lookup_main, &ls[i]), 0);
    }
    int waited = 0;
    for (size_t i = 0; i < N; i++) {
        pthread_join(ls[i].thread, NULL);
        assert_int_equal(ls[i].st, VX_EUNAVAILABLE); /* 503: retry */
        waited += ls[i].ms >= 150;
    }
    /* One request thread waited for its turn (about 200 ms), not each. */
    assert_true(waited <= 1);
    lookup late = {.svc = t->svc, .secret = revoked};
    lookup_main(&late);
    assert_int_equal(late.st, VX_EUNAVAILABLE); /* not let in: retry */
    assert_true(late.ms < 150); /* and at once, after a wait ran out */
    /* A token seen before goes on working from memory (its entry is only
     * stale since the revocation of another). */
    lookup seen = {.svc = t->svc, .secret = other};
    lookup_main(&seen);
    assert_int_equal(seen.st, VX_OK);
    assert_true(seen.ms < 150);
    pthread_mutex_unlock(&t->svc->mu);

    /* Once the service answers: the revocation holds, others pass. */
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        svc_authenticate(t->svc, revoked, strlen(revoked), &who, &err),
        VX_EAUTH);
    assert_int_equal(svc_authenticate(t->svc, other, strlen(other), &who, &err),
                     VX_OK);
    free(revoked);
    free(other);
}

/* Tokens whose hashes fall in the same set of the cache each stay there
 * (up to its ways), so none of them gets 503 while the database is down;
 * past that the least recently used one goes. (Direct-mapped, each pushed
 * the last one out.) */
static void test_cache_keeps_tokens_sharing_a_set(void **state)
{
    temp_service *t = *state;
    service *s = t->svc;
    enum { WAYS = 4 };
    char keys[WAYS + 1][65];
    for (int i = 0; i <= WAYS; i++)
        snprintf(keys[i], sizeof(keys[i]), "000000%058x", i + 1);
    long long gen = atomic_load(&s->generation);
    for (int i = 0; i < WAYS; i++) {
        svc_principal who = {.token_id = i + 1, .kind = SVC_KIND_CLIENT};
        svc__token_cache_put(s, keys[i], &who, 0, gen);
    }
    svc_principal got;
    int64_t expires = -1;
    for (int i = 0; i < WAYS; i++) {
        memset(&got, 0, sizeof(got));
        assert_true(svc__token_cache_get(s, keys[i], false, &got, &expires));
        assert_int_equal(got.token_id, i + 1);
        assert_int_equal(expires, 0);
    }
    /* keys[0] used again: keys[1] is now the least recently used. */
    assert_true(svc__token_cache_get(s, keys[0], false, &got, &expires));
    svc_principal fifth = {.token_id = WAYS + 1, .kind = SVC_KIND_CLIENT};
    svc__token_cache_put(s, keys[WAYS], &fifth, 0, gen);
    assert_true(svc__token_cache_get(s, keys[WAYS], false, &got, &expires));
    assert_int_equal(got.token_id, WAYS + 1);
    assert_false(svc__token_cache_get(s, keys[1], true, &got, &expires));
    for (int i = 0; i < WAYS; i++) {
        if (i == 1)
            continue;
        assert_true(svc__token_cache_get(s, keys[i], false, &got, &expires));
        assert_int_equal(got.token_id, i + 1);
    }
    /* A dropped token leaves the others in place. */
    svc__token_cache_drop(s, keys[2]);
    assert_false(svc__token_cache_get(s, keys[2], true, &got, &expires));
    assert_true(svc__token_cache_get(s, keys[3], false, &got, &expires));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_stored_list_is_not_cut, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cache_keeps_tokens_sharing_a_set,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookups_while_busy, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
