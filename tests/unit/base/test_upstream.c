/* Unit tests for src/base/upstream.c: a model flag's upstream payload,
 * with the field path of every refusal (the paths the admin API answers
 * after the payload's own), the Ollama root a payload gives, the unit of
 * stickiness, forward_metadata; and every allocation failure is
 * VX_ENOMEM, never a crash or a wrong answer. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/upstream.h"

static void test_upstream_parse(void **state)
{
    (void)state;
    vx_upstream u;
    vx_error err;
    const char *ok = "{\"base_url\":\"http://127.0.0.1:11434/v1\",\"model\":"
                     "\"llama3.2:1b\",\"api_key_env\":\"KEY\",\"timeout_ms\":"
                     "2500}";
    assert_int_equal(vx__upstream_parse(ok, strlen(ok), &u, &err), VX_OK);
    assert_string_equal(u.base_url, "http://127.0.0.1:11434/v1");
    assert_string_equal(u.model, "llama3.2:1b");
    assert_string_equal(u.key_env, "KEY");
    assert_int_equal(u.timeout_ms, 2500);
    assert_string_equal(u.ollama_url, "http://127.0.0.1:11434");

    /* Ollama's native root: the payload's ollama_url, else base_url
     * without a trailing "/v1"; trailing slashes go. */
    static const struct {
        const char *text;
        const char *root;
    } roots[] = {
        {"{\"base_url\":\"http://h:1/v1/\",\"model\":\"m\"}", "http://h:1"},
        {"{\"base_url\":\"http://h:1/\",\"model\":\"m\"}", "http://h:1"},
        {"{\"base_url\":\"http://h/x/v1\",\"model\":\"m\"}", "http://h/x"},
        {"{\"base_url\":\"http://h/v12\",\"model\":\"m\"}", "http://h/v12"},
        /* Found by fuzz_gateway: the host is never cut. */
        {"{\"base_url\":\"http://v1\",\"model\":\"m\"}", "http://v1"},
        {"{\"base_url\":\"http://h//v1//\",\"model\":\"m\"}", "http://h"},
        {"{\"base_url\":\"http://h/v1\",\"ollama_url\":\"https://o:2//\","
         "\"model\":\"m\"}",
         "https://o:2"},
        {"{\"base_url\":\"http://h/v1\",\"ollama_url\":null,\"model\":"
         "\"m\"}",
         "http://h"},
    };
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        assert_int_equal(
            vx__upstream_parse(roots[i].text, strlen(roots[i].text), &u, &err),
            VX_OK);
        assert_string_equal(u.ollama_url, roots[i].root);
    }

    const char *bare = "{\"base_url\":\"https://x\",\"model\":\"m\"}";
    assert_int_equal(vx__upstream_parse(bare, strlen(bare), &u, &err), VX_OK);
    assert_int_equal(u.timeout_ms, VX_LIMIT_GW_TIMEOUT_DEFAULT_MS);
    assert_string_equal(u.key_env, "");

    static const struct {
        const char *text;
        vx_status st;
        const char *path;
    } bad[] = {
        {"[1]", VX_EINVAL, ""},
        {"not json", VX_EINVAL, ""},
        {"{\"model\":\"m\"}", VX_EINVAL, "/base_url"},
        {"{\"base_url\":\"ftp://x\",\"model\":\"m\"}", VX_EINVAL, "/base_url"},
        /* Found by fuzz_gateway: no host, no Ollama root to derive. */
        {"{\"base_url\":\"http://\",\"model\":\"m\"}", VX_EINVAL, "/base_url"},
        {"{\"base_url\":\"https:///v1\",\"model\":\"m\"}", VX_EINVAL,
         "/base_url"},
        {"{\"base_url\":\"http://x\"}", VX_EINVAL, "/model"},
        {"{\"base_url\":\"http://x\",\"model\":7}", VX_EINVAL, "/model"},
        /* Found by fuzz_gateway: an empty model was accepted. */
        {"{\"base_url\":\"http://x\",\"model\":\"\"}", VX_EINVAL, "/model"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"api_key_env\":[]}",
         VX_EINVAL, "/api_key_env"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"timeout_ms\":0}",
         VX_EINVAL, "/timeout_ms"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"timeout_ms\":1.5}",
         VX_EINVAL, "/timeout_ms"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"timeout_ms\":"
         "600001}",
         VX_EINVAL, "/timeout_ms"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"ollama_url\":7}",
         VX_EINVAL, "/ollama_url"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"ollama_url\":"
         "\"file:///etc\"}",
         VX_EINVAL, "/ollama_url"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(
            vx__upstream_parse(bad[i].text, strlen(bad[i].text), &u, &err),
            bad[i].st);
        assert_string_equal(err.path, bad[i].path);
    }
    /* The flag's gateway settings: the unit of stickiness, and whether
     * the caller's metadata goes upstream. */
    assert_int_equal(u.sticky, VX_UPSTREAM_STICKY_USER);
    assert_false(u.forward_metadata);
    static const struct {
        const char *unit;
        vx_upstream_sticky sticky;
        const char *header;
    } units[] = {
        {"\"user\"", VX_UPSTREAM_STICKY_USER, ""},
        {"\"token\"", VX_UPSTREAM_STICKY_TOKEN, ""},
        {"\"request\"", VX_UPSTREAM_STICKY_REQUEST, ""},
        {"\"header:X-Tenant-Id\"", VX_UPSTREAM_STICKY_HEADER, "X-Tenant-Id"},
        {"null", VX_UPSTREAM_STICKY_USER, ""},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        char t[256];
        int tn = snprintf(t, sizeof(t),
                          "{\"base_url\":\"http://x\",\"model\":\"m\","
                          "\"stickiness\":%s,\"forward_metadata\":%s}",
                          units[i].unit, i % 2 ? "true" : "false");
        assert_int_equal(vx__upstream_parse(t, (size_t)tn, &u, &err), VX_OK);
        assert_int_equal(u.sticky, units[i].sticky);
        assert_string_equal(u.sticky_header, units[i].header);
        assert_int_equal(u.forward_metadata, i % 2 == 1);
    }
    static const struct {
        const char *member;
        const char *path;
    } bad_settings[] = {
        {"\"stickiness\":\"tenant\"", "/stickiness"},
        {"\"stickiness\":\"header:\"", "/stickiness"},
        {"\"stickiness\":\"header:X Tenant\"", "/stickiness"},
        {"\"stickiness\":7", "/stickiness"},
        {"\"forward_metadata\":\"yes\"", "/forward_metadata"},
    };
    for (size_t i = 0; i < sizeof(bad_settings) / sizeof(bad_settings[0]);
         i++) {
        char t[256];
        int tn = snprintf(t, sizeof(t),
                          "{\"base_url\":\"http://x\",\"model\":\"m\",%s}",
                          bad_settings[i].member);
        memset(&err, 0, sizeof(err));
        assert_int_equal(vx__upstream_parse(t, (size_t)tn, &u, &err),
                         VX_EINVAL);
        assert_string_equal(err.path, bad_settings[i].path);
    }

    char long_model[VX_LIMIT_GW_NAME_BYTES + 64];
    int n = snprintf(long_model, sizeof(long_model),
                     "{\"base_url\":\"http://x\",\"model\":\"%0*d\"}",
                     VX_LIMIT_GW_NAME_BYTES, 0);
    assert_int_equal(vx__upstream_parse(long_model, (size_t)n, &u, &err),
                     VX_ELIMIT);
    assert_string_equal(err.path, "/model");
}

static void test_upstream_oom(void **state)
{
    (void)state;
    vx_error err;
    bool done = false;
    const char *text = "{\"base_url\":\"http://x/v1\",\"model\":\"m\","
                       "\"timeout_ms\":5}";
    json_set_alloc_funcs(vx__malloc, vx__free);
    done = false;
    for (size_t budget = 0; budget < 64 && !done; budget++) {
        vx_upstream u;
        vx__alloc_set_budget(budget);
        vx_status st = vx__upstream_parse(text, strlen(text), &u, &err);
        vx__alloc_set_budget(SIZE_MAX);
        if (st == VX_OK) {
            done = true;
            assert_int_equal(u.timeout_ms, 5);
        } else {
            assert_int_equal(st, VX_ENOMEM);
        }
    }
    assert_true(done);

    json_set_alloc_funcs(malloc, free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_parse),
        cmocka_unit_test(test_upstream_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
