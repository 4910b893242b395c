/* Unit tests for src/server/compress.c: which Accept-Encoding values admit
 * gzip (RFC 9110 12.5.3: a coding listed with q=0 is refused, "*" stands
 * for any coding not listed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/compress.h"

static void test_accepts(void **state)
{
    (void)state;
    const char *yes[] = {
        "gzip",   "GZIP", "gzip, deflate, br", "br;q=1, gzip",
        "x-gzip", "*",    "gzip;q=0.5",        "deflate, gzip ;q=0.1"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!server_accepts_gzip(yes[i]))
            fail_msg("'%s' should admit gzip", yes[i]);
}

static void test_refuses(void **state)
{
    (void)state;
    const char *no[] = {"",         "identity",     "deflate, br",
                        "gzip;q=0", "gzip;q=0.000", "*;q=0",
                        "gzipx",    "xgzip, br"};
    assert_false(server_accepts_gzip(NULL));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (server_accepts_gzip(no[i]))
            fail_msg("'%s' should not admit gzip", no[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
