/* Unit tests for src/base/log.c: vx__logf formats one line and hands it to
 * the callback with the caller's user data and level, truncates a line past
 * VX_LIMIT_LOG_LINE - 1 bytes, and does nothing without a callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/limits.h"
#include "base/log.h"

typedef struct {
    int calls;                   /* callback invocations */
    void *ud;                    /* last user data seen */
    char level[16];              /* last level */
    char msg[VX_LIMIT_LOG_LINE]; /* last line */
    size_t len;                  /* strlen of the last line */
} sink;

static void record(void *ud, const char *level, const char *msg)
{
    sink *s = ud;
    s->calls++;
    s->ud = ud;
    snprintf(s->level, sizeof(s->level), "%s", level);
    s->len = strlen(msg);
    memcpy(s->msg, msg, s->len < sizeof(s->msg) ? s->len + 1 : sizeof(s->msg));
}

static void test_formats_and_passes_through(void **state)
{
    (void)state;
    sink s = {0};
    vx__logf(record, &s, "warn", "model call failed (%s); retry %u of %u",
             "timeout", 1u, 3u);
    assert_int_equal(s.calls, 1);
    assert_ptr_equal(s.ud, &s);
    assert_string_equal(s.level, "warn");
    assert_string_equal(s.msg, "model call failed (timeout); retry 1 of 3");
}

static void test_truncates_long_lines(void **state)
{
    (void)state;
    sink s = {0};
    char big[VX_LIMIT_LOG_LINE * 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    vx__logf(record, &s, "info", "%s", big);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.len, VX_LIMIT_LOG_LINE - 1);
}

static void test_null_callback_is_silent(void **state)
{
    (void)state;
    vx__logf(NULL, NULL, "error", "%s", "dropped"); /* must not crash */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_and_passes_through),
        cmocka_unit_test(test_truncates_long_lines),
        cmocka_unit_test(test_null_callback_is_silent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
