/* Unit tests for src/base/status.c and error.c: every status code has its
 * documented name and message, unknown codes get the fallback strings, and
 * vx__error_set fills (or skips) the caller's vx_error.
 *
 * The expected names and messages are written out by hand from the list in
 * include/vexil/status.h, so a code added to VX_STATUS_MAP without a test
 * entry (or a message changed by accident) fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "vexil/status.h"

static const struct {
    vx_status code;
    int value;
    const char *name;
    const char *message;
} EXPECTED[] = {
    {VX_OK, 0, "VX_OK", "success"},
    {VX_ENOMEM, 1, "VX_ENOMEM", "out of memory"},
    {VX_EINVAL, 2, "VX_EINVAL", "invalid argument"},
    {VX_EPARSE, 3, "VX_EPARSE", "malformed JSON"},
    {VX_ESCHEMA, 4, "VX_ESCHEMA",
     "document does not match the expected schema"},
    {VX_ELIMIT, 5, "VX_ELIMIT", "a limit was exceeded"},
    {VX_ENOTFOUND, 6, "VX_ENOTFOUND", "not found"},
    {VX_EIO, 7, "VX_EIO", "input/output error"},
    {VX_ECONFLICT, 8, "VX_ECONFLICT", "conflicts with the current state"},
    {VX_EAUTH, 9, "VX_EAUTH", "missing or invalid credentials"},
    {VX_EFORBIDDEN, 10, "VX_EFORBIDDEN", "not allowed for these credentials"},
    {VX_EUNSUPPORTED, 11, "VX_EUNSUPPORTED", "unsupported media type"},
    {VX_EUNAVAILABLE, 12, "VX_EUNAVAILABLE", "temporarily unavailable"},
};
#define NEXPECTED (sizeof(EXPECTED) / sizeof(EXPECTED[0]))

static void test_every_code_named(void **state)
{
    (void)state;
    for (size_t i = 0; i < NEXPECTED; i++) {
        assert_int_equal((int)EXPECTED[i].code, EXPECTED[i].value);
        assert_string_equal(vx_status_name(EXPECTED[i].code), EXPECTED[i].name);
        assert_string_equal(vx_status_str(EXPECTED[i].code),
                            EXPECTED[i].message);
    }
}

/* The table above covers the whole X-macro list: same count, and every
 * code in the list has a non-empty, distinct name and message. */
static void test_table_is_complete(void **state)
{
    (void)state;
    static const vx_status all[] = {
#define X(name, value, msg) VX_##name,
        VX_STATUS_MAP(X)
#undef X
    };
    size_t n = sizeof(all) / sizeof(all[0]);
    assert_int_equal(n, NEXPECTED);
    for (size_t i = 0; i < n; i++) {
        const char *nm = vx_status_name(all[i]);
        const char *msg = vx_status_str(all[i]);
        assert_non_null(nm);
        assert_non_null(msg);
        assert_true(strncmp(nm, "VX_", 3) == 0 && strlen(nm) > 3);
        assert_true(strlen(msg) > 0);
        assert_string_not_equal(nm, "VX_UNKNOWN");
        assert_string_not_equal(msg, "unknown status");
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(nm, vx_status_name(all[j]));
            assert_string_not_equal(msg, vx_status_str(all[j]));
        }
    }
}

/* Never NULL (status.h), even for values outside the enum. */
static void test_unknown_code(void **state)
{
    (void)state;
    const int bad[] = {13, 99, -1, 1 << 30};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vx_status st = (vx_status)bad[i];
        assert_string_equal(vx_status_name(st), "VX_UNKNOWN");
        assert_string_equal(vx_status_str(st), "unknown status");
    }
}

static void test_error_set(void **state)
{
    (void)state;
    vx_error err;
    memset(&err, 0x5A, sizeof(err));
    vx_status st = vx__error_set(&err, VX_ESCHEMA, "/features/0/name",
                                 "expected %s, got %d", "a string", 42);
    assert_int_equal(st, VX_ESCHEMA);
    assert_int_equal(err.code, VX_ESCHEMA);
    assert_int_equal(err.line, 0);
    assert_int_equal(err.column, 0);
    assert_string_equal(err.path, "/features/0/name");
    assert_string_equal(err.message, "expected a string, got 42");

    /* NULL path is the document (""), NULL err is allowed. */
    st = vx__error_set(&err, VX_ENOMEM, NULL, "out of memory");
    assert_int_equal(st, VX_ENOMEM);
    assert_string_equal(err.path, "");
    assert_int_equal(vx__error_set(NULL, VX_EIO, "/x", "y"), VX_EIO);

    /* Over-long path and message are truncated, still NUL-terminated. */
    char longp[600];
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    vx__error_set(&err, VX_ELIMIT, longp, "%s", longp);
    assert_int_equal(strlen(err.path), VX_ERROR_PATH_MAX - 1);
    assert_int_equal(strlen(err.message), VX_ERROR_MSG_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_named),
        cmocka_unit_test(test_table_is_complete),
        cmocka_unit_test(test_unknown_code),
        cmocka_unit_test(test_error_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
