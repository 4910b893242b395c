/* Unit tests for src/server/gateway_client.c: the gateway's own error
 * bodies in OpenAI's shape (type, code and param per status and field
 * path) and Ollama's, both keeping Vexil's members. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/gateway_client.h"

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        unsigned status;
        const char *path;
        const char *type;
        const char *code;  /* NULL: JSON null */
        const char *param; /* NULL: JSON null */
    } cases[] = {
        {400, "/metadata/plan", "invalid_request_error", NULL, "metadata.plan"},
        {400, "/messages/0/content", "invalid_request_error", NULL,
         "messages[0].content"},
        {400, "/metadata/a~1b~0c", "invalid_request_error", NULL,
         "metadata.a/b~c"},
        {400, "/headers/X-Vexil-Context", "invalid_request_error", NULL,
         "X-Vexil-Context"},
        {401, "", "invalid_request_error", "invalid_api_key", NULL},
        {403, "", "invalid_request_error", "permission_denied", NULL},
        {404, "/model", "invalid_request_error", "model_not_found", "model"},
        {404, "", "invalid_request_error", NULL, NULL},
        {413, "", "invalid_request_error", "request_too_large", NULL},
        {429, "", "requests", "rate_limit_exceeded", NULL},
        {500, "", "server_error", NULL, NULL},
        {502, "/base_url", "server_error", "upstream_error", "base_url"},
        {503, "/model", "server_error", "service_unavailable", "model"},
        {504, NULL, "server_error", "upstream_timeout", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *doc = gateway_client_error(GATEWAY_OPENAI, cases[i].status,
                                           "it failed", cases[i].path, NULL);
        assert_non_null(doc);
        const json_t *e = json_object_get(doc, "error");
        assert_string_equal(str(e, "message"), "it failed");
        assert_string_equal(str(e, "type"), cases[i].type);
        if (cases[i].code)
            assert_string_equal(str(e, "code"), cases[i].code);
        else
            assert_true(json_is_null(json_object_get(e, "code")));
        if (cases[i].param)
            assert_string_equal(str(e, "param"), cases[i].param);
        else
            assert_true(json_is_null(json_object_get(e, "param")));
        /* Vexil's own members stay. */
        assert_string_equal(str(doc, "message"), "it failed");
        const json_t *d = json_array_get(json_object_get(doc, "details"), 0);
        assert_string_equal(str(d, "path"), cases[i].path ? cases[i].path : "");
        json_decref(doc);
    }
    json_t *doc = gateway_client_error(GATEWAY_OLLAMA, 404, "no model 'x'",
                                       "/model", "more");
    assert_string_equal(str(doc, "error"), "no model 'x'");
    assert_string_equal(str(doc, "message"), "no model 'x'");
    const json_t *d = json_array_get(json_object_get(doc, "details"), 0);
    assert_string_equal(str(d, "message"), "more");
    json_decref(doc);
    /* A text that is not UTF-8: NULL, the caller writes another. */
    assert_null(
        gateway_client_error(GATEWAY_OPENAI, 400, "bad \xff", "", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
