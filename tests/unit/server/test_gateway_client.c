/* Unit tests for src/server/gateway_client.c: the gateway's own error
 * bodies in OpenAI's shape (type, code and param per status and field
 * path) and Ollama's, both keeping Vexil's members; the caller's context
 * from the X-Vexil-Context header and OpenAI's metadata (percent-decoding,
 * precedence, every refusal with its field path, the limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/arena.h"
#include "base/limits.h"
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

/* The value of property `key`, or NULL. */
static const char *prop(const sdk_ctx *b, const char *key, char *buf,
                        size_t cap)
{
    for (size_t i = 0; i < b->c.nprops; i++) {
        if (b->props[i].key.len == strlen(key) &&
            memcmp(b->props[i].key.ptr, key, strlen(key)) == 0) {
            snprintf(buf, cap, "%.*s", (int)b->props[i].value.len,
                     b->props[i].value.ptr);
            return buf;
        }
    }
    return NULL;
}

static vx_status context(sdk_ctx *b, vx_arena *a, const char *header,
                         const char *metadata, vx_error *err)
{
    json_t *md = metadata ? json_loads(metadata, JSON_DECODE_ANY, NULL) : NULL;
    if (metadata)
        assert_non_null(md);
    sdk_ctx_init(b);
    memset(err, 0, sizeof(*err));
    /* (The context borrows the metadata's strings: no property is read
     * after this.) */
    vx_status st = gateway_client_context(b, header, md, a, err);
    json_decref(md);
    return st;
}

static void test_context(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 4096);
    sdk_ctx b;
    vx_error err;
    char buf[1024];
    assert_int_equal(
        context(&b, &a, " plan = enterprise ;region=e%75;;x.y-z_~=a%3Bb%C3%A9;",
                NULL, &err),
        VX_OK);
    assert_int_equal(b.c.nprops, 3);
    assert_string_equal(prop(&b, "plan", buf, sizeof(buf)), "enterprise");
    assert_string_equal(prop(&b, "region", buf, sizeof(buf)), "eu");
    assert_string_equal(prop(&b, "x.y-z_~", buf, sizeof(buf)), "a;b\xc3\xa9");
    /* Empty values are values; no header and no metadata are nothing. */
    assert_int_equal(context(&b, &a, "plan=", NULL, &err), VX_OK);
    assert_string_equal(prop(&b, "plan", buf, sizeof(buf)), "");
    assert_int_equal(context(&b, &a, NULL, NULL, &err), VX_OK);
    assert_int_equal(b.c.nprops, 0);
    assert_int_equal(context(&b, &a, "", "null", &err), VX_OK);
    assert_int_equal(b.c.nprops, 0);

    /* Metadata wins over the header. */
    json_t *md = json_pack("{ss ss}", "plan", "enterprise", "tier", "gold");
    sdk_ctx_init(&b);
    assert_int_equal(
        gateway_client_context(&b, "plan=free; region=eu", md, &a, &err),
        VX_OK);
    assert_string_equal(prop(&b, "plan", buf, sizeof(buf)), "enterprise");
    assert_string_equal(prop(&b, "region", buf, sizeof(buf)), "eu");
    assert_string_equal(prop(&b, "tier", buf, sizeof(buf)), "gold");
    assert_null(b.c.user_id.ptr);
    json_decref(md);

    char many[1024] = "";
    for (int i = 0; i <= VX_LIMIT_GW_CONTEXT_FIELDS; i++) {
        size_t n = strlen(many);
        snprintf(many + n, sizeof(many) - n, "f%d=v;", i);
    }
    char many_md[1024] = "{";
    for (int i = 0; i <= VX_LIMIT_GW_CONTEXT_FIELDS; i++) {
        size_t n = strlen(many_md);
        snprintf(many_md + n, sizeof(many_md) - n, "%s\"f%d\":\"v\"",
                 i ? "," : "", i);
    }
    size_t mn = strlen(many_md);
    snprintf(many_md + mn, sizeof(many_md) - mn, "}");
    char long_value[VX_LIMIT_GW_CONTEXT_VALUE_BYTES + 32];
    snprintf(long_value, sizeof(long_value), "plan=%0*d",
             VX_LIMIT_GW_CONTEXT_VALUE_BYTES + 1, 0);
    char long_md[VX_LIMIT_GW_CONTEXT_VALUE_BYTES + 32];
    snprintf(long_md, sizeof(long_md), "{\"plan\":\"%0*d\"}",
             VX_LIMIT_GW_CONTEXT_VALUE_BYTES + 1, 0);
    char long_header[VX_LIMIT_GW_CONTEXT_HEADER_BYTES + 8];
    memset(long_header, ' ', sizeof(long_header) - 1);
    long_header[sizeof(long_header) - 1] = '\0';
    static const char hp[] = "/headers/X-Vexil-Context";
    const struct {
        const char *header;
        const char *metadata;
        vx_status st;
        const char *path;
    } bad[] = {
        {"plan", NULL, VX_EINVAL, hp},
        {"=x", NULL, VX_EINVAL, hp},
        {"pl an=x", NULL, VX_EINVAL, hp},
        {"plän=x", NULL, VX_EINVAL, hp},
        {"userId=x", NULL, VX_EINVAL, hp},
        {"currentTime=2099-01-01", NULL, VX_EINVAL, hp},
        {"plan=%zz", NULL, VX_EINVAL, hp},
        {"plan=%4", NULL, VX_EINVAL, hp},
        {"plan=%ff", NULL, VX_EINVAL, hp},
        {"plan=%00", NULL, VX_EINVAL, hp},
        {"plan=a\x01", NULL, VX_EINVAL, hp},
        {many, NULL, VX_ELIMIT, hp},
        {long_value, NULL, VX_ELIMIT, hp},
        {long_header, NULL, VX_ELIMIT, hp},
        {NULL, "\"x\"", VX_EINVAL, "/metadata"},
        {NULL, "[]", VX_EINVAL, "/metadata"},
        {NULL, "{\"plan\":5}", VX_EINVAL, "/metadata/plan"},
        {NULL, "{\"plan\":null}", VX_EINVAL, "/metadata/plan"},
        {NULL, "{\"pl/an\":\"x\"}", VX_EINVAL, "/metadata/pl~1an"},
        {NULL, "{\"\":\"x\"}", VX_EINVAL, "/metadata/"},
        {NULL, "{\"sessionId\":\"x\"}", VX_EINVAL, "/metadata/sessionId"},
        {NULL, many_md, VX_ELIMIT, "/metadata"},
        {NULL, long_md, VX_ELIMIT, "/metadata/plan"},
        /* A bad header is refused even when the metadata is fine. */
        {"plan", "{\"plan\":\"x\"}", VX_EINVAL, hp},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vx_status st = context(&b, &a, bad[i].header, bad[i].metadata, &err);
        if (st != bad[i].st || strcmp(err.path, bad[i].path) != 0)
            fail_msg("case %zu: status %d path '%s' (%s)", i, (int)st, err.path,
                     err.message);
        assert_true(err.message[0] != '\0');
    }
    char long_name[128];
    snprintf(long_name, sizeof(long_name), "{\"%0*d\":\"x\"}",
             VX_LIMIT_GW_CONTEXT_NAME_BYTES + 1, 0);
    assert_int_equal(context(&b, &a, NULL, long_name, &err), VX_EINVAL);
    assert_string_equal(err.path, "/metadata");
    vx__arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
