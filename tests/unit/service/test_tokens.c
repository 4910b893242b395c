/* Unit tests for API tokens (src/service/admin.c, service.c) against a real
 * SQLite service on a temporary file: creation refuses an expiry in the
 * past, unknown projects (singular and list) and a project list longer
 * than a principal holds; and a token stored with such a list (by an older
 * version) never authenticates with a project name cut short, which could
 * name another project. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_stored_list_is_not_cut, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
