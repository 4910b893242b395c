/* Unit tests for the service's one transaction runner (svc__run) as its
 * callers see it, against a real SQLite service on a temporary file: every
 * committed write, whoever makes it (the admin API, the offline admin-token
 * path, SDK reports, the advisor), calls the commit hook exactly once with
 * what it may have changed; reads and refused writes never call it, and a
 * refused write leaves no audit event behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "service/service.h"
#include "temp_service.h"

typedef struct hook_log {
    int calls;     /* hook calls so far */
    unsigned last; /* mask of the last call */
    unsigned all;  /* union of every mask */
} hook_log;

static void on_commit(void *ud, unsigned changes)
{
    hook_log *h = ud;
    h->calls++;
    h->last = changes;
    h->all |= changes;
}

typedef struct fixture {
    temp_service t;      /* the service under test */
    hook_log hook;       /* what the hook saw */
    svc_principal admin; /* an admin principal */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    temp_service_open(&f->t, "commit");
    svc_set_commit_hook(f->t.svc, on_commit, &f->hook);
    f->admin = (svc_principal){.token_id = 1,
                               .kind = SVC_KIND_ADMIN,
                               .role = SVC_ROLE_ADMIN,
                               .name = "tester",
                               .environment = "*",
                               .projects = "*"};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    temp_service_close(&f->t);
    free(f);
    return 0;
}

static vx_status call(fixture *f, svc_op op, const char *project,
                      const char *feature, const char *body_text)
{
    json_t *body = body_text ? json_loads(body_text, 0, NULL) : NULL;
    svc_req req = {
        .op = op, .project = project, .feature = feature, .body = body};
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_call(f->t.svc, &f->admin, &req, &out, &err);
    json_decref(out);
    json_decref(body);
    return st;
}

static int64_t revision(fixture *f)
{
    int64_t rev = -1;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_revision(f->t.svc, &rev, &err), VX_OK);
    return rev;
}

/* An admin write calls the hook once with SDK data changed; a read does
 * not call it at all. */
static void test_admin_write_and_read(void **state)
{
    fixture *f = *state;
    assert_int_equal(call(f, SVC_OP_FEATURE_CREATE, "default", NULL,
                          "{\"name\":\"hooked\"}"),
                     VX_OK);
    assert_int_equal(f->hook.calls, 1);
    assert_int_equal(f->hook.last, SVC_CHANGE_SDK);
    assert_int_equal(call(f, SVC_OP_FEATURE_GET, "default", "hooked", NULL),
                     VX_OK);
    assert_int_equal(f->hook.calls, 1);
}

/* A refused write (bad input) neither calls the hook nor writes an audit
 * event: the revision does not move. */
static void test_refused_write(void **state)
{
    fixture *f = *state;
    int64_t before = revision(f);
    assert_int_not_equal(call(f, SVC_OP_FEATURE_CREATE, "default", NULL,
                              "{\"name\":\"bad name with spaces\"}"),
                         VX_OK);
    assert_int_not_equal(call(f, SVC_OP_FEATURE_CREATE, "no-such-project", NULL,
                              "{\"name\":\"orphan\"}"),
                         VX_OK);
    assert_int_equal(f->hook.calls, 0);
    assert_int_equal(revision(f), before);
}

/* Token writes say so, through the admin API and the offline path. */
static void test_tokens(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        call(f, SVC_OP_TOKEN_CREATE, NULL, NULL,
             "{\"tokenName\":\"ci\",\"type\":\"client\","
             "\"environment\":\"production\",\"projects\":[\"*\"]}"),
        VX_OK);
    assert_int_equal(f->hook.calls, 1);
    assert_int_equal(f->hook.last, SVC_CHANGE_TOKENS);
    char secret[SVC_SECRET_MAX];
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_admin_token(f->t.svc, "ops", true, secret, &err),
                     VX_OK);
    assert_int_equal(f->hook.calls, 2);
    assert_int_equal(f->hook.last, SVC_CHANGE_TOKENS);
}

/* What SDKs report and what the advisor notes are records: the hook hears
 * of them, with a mask that asks nobody to republish. */
static void test_records(void **state)
{
    fixture *f = *state;
    svc_principal client = {.token_id = 2,
                            .kind = SVC_KIND_CLIENT,
                            .name = "app",
                            .environment = "production",
                            .projects = "*"};
    json_t *reg = json_pack("{ss ss}", "appName", "shop", "instanceId", "i-1");
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(svc_client_register(f->t.svc, &client, reg, &err), VX_OK);
    json_decref(reg);
    /* Kept in memory (no database on the SDK's request), stored by the
     * flush in one committed write. */
    assert_int_equal(f->hook.calls, 0);
    assert_int_equal(svc_usage_flush(f->t.svc, &err), VX_OK);
    assert_int_equal(f->hook.calls, 1);
    assert_int_equal(f->hook.last, SVC_CHANGE_RECORDS);
    json_t *data = json_pack("{ss}", "question", "why");
    int64_t id = 0;
    assert_int_equal(svc_record_advice(f->t.svc, &f->admin, "default",
                                       "production", data, &id, &err),
                     VX_OK);
    json_decref(data);
    assert_true(id > 0);
    assert_int_equal(f->hook.calls, 2);
    assert_int_equal(f->hook.all, SVC_CHANGE_RECORDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_write_and_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
