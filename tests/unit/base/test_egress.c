/* Unit tests for src/base/egress.c, as tables: which URLs a policy lets
 * the server call (only plain http(s) URLs whose host and port are
 * listed; every other spelling refused), which variables may be sent as a
 * key (listed names and prefixes, never the server's own secrets), and
 * which lists are refused when the server starts, with the setting named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/egress.h"
#include "base/limits.h"

typedef struct url_case {
    const char *url;
    bool ok;
} url_case;

static void check_urls(const char *hosts, const url_case *cases, size_t n)
{
    vx_egress *e = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(vx__egress_new(hosts, NULL, &e, &err), VX_OK);
    for (size_t i = 0; i < n; i++) {
        memset(&err, 0, sizeof(err));
        vx_status st = vx__egress_url(e, cases[i].url, "/base_url", &err);
        if ((st == VX_OK) != cases[i].ok)
            fail_msg("%s under '%s': %s (%s)", cases[i].url, hosts,
                     st == VX_OK ? "allowed" : "refused", err.message);
        if (st != VX_OK) {
            assert_int_equal(st, VX_EINVAL);
            assert_string_equal(err.path, "/base_url");
        }
    }
    vx__egress_free(&e);
    assert_null(e);
}

static void test_urls_against_a_list(void **state)
{
    (void)state;
    static const url_case cases[] = {
        {"http://127.0.0.1:11434/v1", true},
        {"HTTP://127.0.0.1:11434/v1", true},
        {"http://127.0.0.1:11435/v1", false}, /* another port */
        {"http://127.0.0.1/v1", false},       /* port 80 */
        {"https://api.openai.com/v1", true},  /* 443 by default */
        {"https://api.openai.com:443/v1", true},
        {"http://api.openai.com/v1", false}, /* 80, listed 443 only */
        {"https://API.OpenAI.com./v1", true},
        {"https://gpu-1.models.internal:8000/v1?x=1", true},
        {"https://a.b.models.internal/v1", true},
        {"https://models.internal/v1", false}, /* *.domain: subdomains */
        {"https://evilmodels.internal/v1", false},
        {"http://[::1]:8080/v1", true},
        {"http://[::1]:8081/v1", false},
        {"http://[0:0:0:0:0:0:0:1]:8080/v1", false}, /* other spelling */
        {"http://2130706433:11434/v1", false},
        {"http://0x7f.1:11434/v1", false},
        {"http://127.1:11434/v1", false},
        {"http://user@127.0.0.1:11434/v1", false},
        {"http://127.0.0.1:11434@evil.example/v1", false},
        {"http://127.0.0.1:11434\\@evil.example/v1", false},
        {"http://127.0.0.1:11434/v1#x", false},
        {"http://127.0.0.1:11434/v 1", false},
        {"http://127.0.0.1:11434/v1\r\nX: y", false},
        {"http://127.0.0.1%2f:11434/v1", false},
        {"http://127.0.0.1:0/v1", false},
        {"http://127.0.0.1:99999/v1", false},
        {"http://127.0.0.1:/v1", false},
        {"http://:11434/v1", false},
        {"http:///v1", false},
        {"ftp://127.0.0.1:11434/", false},
        {"file:///etc/passwd", false},
        {"gopher://127.0.0.1:11434/", false},
        {"127.0.0.1:11434/v1", false},
        {"", false},
    };
    check_urls(" 127.0.0.1:11434 , api.openai.com:443,*.models.internal,"
               "[::1]:8080",
               cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_default_and_special_lists(void **state)
{
    (void)state;
    static const url_case none[] = {{"http://127.0.0.1:1/", false},
                                    {"https://api.openai.com/", false}};
    check_urls("none", none, 2);
    /* The default: this machine's loopback, nothing beyond it. */
    static const url_case loopback[] = {
        {"http://127.0.0.1:11434/v1", true},
        {"http://localhost:8080/hook", true},
        {"http://[::1]:9/", true},
        {"http://127.0.0.2/", false},
        {"http://2130706433/", false},
        {"http://169.254.169.254/latest/meta-data", false},
        {"http://10.0.0.5:8080/", false},
        {"https://api.openai.com/", false}};
    check_urls(NULL, loopback, 8);
    static const url_case any[] = {{"http://10.1.2.3:9/x", true},
                                   {"https://example.com/", true},
                                   {"http://u@example.com/", false},
                                   {"ftp://example.com/", false}};
    check_urls("*", any, 4);
    static const url_case host_any_port[] = {{"http://localhost:1/", true},
                                             {"https://LOCALHOST/", true},
                                             {"http://localhost.x/", false}};
    check_urls("localhost", host_any_port, 3);
    /* NULL policy: the default, as a policy made from NULL lists. */
    vx_error err;
    assert_int_equal(vx__egress_url(NULL, "http://127.0.0.1/", NULL, &err),
                     VX_OK);
    assert_int_equal(vx__egress_url(NULL, "http://10.0.0.5/", NULL, &err),
                     VX_EINVAL);
}

static void test_keys(void **state)
{
    (void)state;
    static const struct {
        const char *list; /* NULL: the default */
        const char *name;
        bool ok;
    } cases[] = {
        {NULL, "VEXIL_MODEL_KEY_OPENAI", true},
        {NULL, "VEXIL_MODEL_KEY_", true},
        {NULL, "OPENAI_API_KEY", false},
        {NULL, "INIT_ADMIN_API_TOKENS", false},
        {NULL, "VEXIL_DATABASE", false},
        {"OPENAI_API_KEY,GW_*", "OPENAI_API_KEY", true},
        {"OPENAI_API_KEY,GW_*", "OPENAI_API_KEY2", false},
        {"OPENAI_API_KEY,GW_*", "GW_TEST_KEY", true},
        {"OPENAI_API_KEY,GW_*", "VEXIL_MODEL_KEY_X", false},
        {"INIT_*,VEXIL_*,A*", "INIT_ADMIN_API_TOKENS", false},
        {"INIT_*,VEXIL_*,A*", "INIT_CLIENT_API_TOKENS", false},
        {"INIT_*,VEXIL_*,A*", "VEXIL_DATABASE", false},
        {"INIT_*,VEXIL_*,A*", "VEXIL_CONFIG", false},
        {"INIT_*,VEXIL_*,A*", "VEXIL_MODEL_KEY_Y", true},
        {"INIT_*,VEXIL_*,A*", "A_KEY", true},
        {"P*", "PGPASSWORD", false},
        {"D*", "DATABASE_URL", false},
        {"none", "VEXIL_MODEL_KEY_X", false},
        {"K*", "K-EY", false},
        {"K*", "", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vx_egress *e = NULL;
        vx_error err;
        memset(&err, 0, sizeof(err));
        assert_int_equal(vx__egress_new(NULL, cases[i].list, &e, &err), VX_OK);
        vx_status st = vx__egress_key(e, cases[i].name, "/api_key_env", &err);
        if ((st == VX_OK) != cases[i].ok)
            fail_msg("%s under '%s': %s", cases[i].name,
                     cases[i].list ? cases[i].list : "(default)", err.message);
        if (st != VX_OK)
            assert_string_equal(err.path, "/api_key_env");
        vx__egress_free(&e);
    }
}

static void test_bad_lists(void **state)
{
    (void)state;
    static const struct {
        const char *hosts, *keys, *path;
    } cases[] = {
        {"http://x/", NULL, "/egress-allow"},
        {"a b", NULL, "/egress-allow"},
        {"host:", NULL, "/egress-allow"},
        {"host:70000", NULL, "/egress-allow"},
        {"*.[::1]", NULL, "/egress-allow"},
        {"[zz]", NULL, "/egress-allow"},
        {"user@host", NULL, "/egress-allow"},
        {NULL, "*", "/gateway-key-env"},
        {NULL, "INIT_ADMIN_API_TOKENS", "/gateway-key-env"},
        {NULL, "VEXIL_DATABASE", "/gateway-key-env"},
        {NULL, "PGPASSWORD", "/gateway-key-env"},
        {NULL, "A-B", "/gateway-key-env"},
        {NULL, "1ABC", "/gateway-key-env"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vx_egress *e = NULL;
        vx_error err;
        memset(&err, 0, sizeof(err));
        vx_status st = vx__egress_new(cases[i].hosts, cases[i].keys, &e, &err);
        if (st == VX_OK)
            fail_msg("accepted hosts '%s' keys '%s'",
                     cases[i].hosts ? cases[i].hosts : "",
                     cases[i].keys ? cases[i].keys : "");
        assert_null(e);
        assert_string_equal(err.path, cases[i].path);
    }
    /* Past the entry limit. */
    char big[VX_LIMIT_EGRESS_LIST_BYTES];
    size_t n = 0;
    for (int i = 0; i <= VX_LIMIT_EGRESS_ENTRIES; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "h%d,", i);
    vx_egress *e = NULL;
    vx_error err;
    assert_int_equal(vx__egress_new(big, NULL, &e, &err), VX_ELIMIT);
    /* Empty entries are skipped; "none" in any case is no host. */
    assert_int_equal(vx__egress_new(" , ,a.example ,", "NONE", &e, &err),
                     VX_OK);
    assert_int_equal(vx__egress_url(e, "http://a.example/", "", &err), VX_OK);
    assert_int_equal(vx__egress_key(e, "VEXIL_MODEL_KEY_X", "", &err),
                     VX_EINVAL);
    vx__egress_free(&e);
    vx__egress_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls_against_a_list),
        cmocka_unit_test(test_default_and_special_lists),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_bad_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
