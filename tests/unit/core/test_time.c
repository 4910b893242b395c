/* Unit tests for vx_time_parse (src/core/time.c): ISO-8601 / RFC 3339 dates
 * and date-times to milliseconds since the epoch.
 *
 * Reference: every expected number is JavaScript's Date.parse, run in UTC
 * (Vexil reads a date-time without an offset as UTC, docs/semantics.md):
 *   TZ=UTC node -e 'console.log(Date.parse("2024-05-01T10:00:00.5+01:00"))'
 * For the rejected inputs Date.parse's ISO parser rejects them too (NaN);
 * where V8's legacy fallback parser would accept a non-ISO string anyway
 * ("2023-02-29" rolls over to March 1st) the case is marked: Vexil follows
 * the ISO grammar (ECMA-262 §21.4.1.32: out-of-bounds fields make the
 * string "not a valid instance of this format"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "unit/guard_page.h"
#include "vexil/vexil.h"

/* vx_time_parse on a copy that ends at a guard page. */
static bool parse(const char *s, int64_t *ms)
{
    guarded g;
    size_t len = strlen(s);
    const char *p = guard_copy(&g, s, len);
    assert_non_null(p);
    bool ok = vx_time_parse(p, len, ms);
    guard_release(&g);
    return ok;
}

typedef struct tcase {
    const char *s;
    int64_t want;
} tcase;

static const tcase GOOD[] = {
    /* date only: UTC midnight */
    {"2024-05-01", 1714521600000},
    {"2024-05", 1714521600000},
    {"2024", 1704067200000},
    {"1970-01-01", 0},
    /* Z, minutes only, seconds */
    {"2024-05-01T10:00:00Z", 1714557600000},
    {"2024-05-01T10:00Z", 1714557600000},
    {"2024-05-01T10:00:00", 1714557600000}, /* no offset: UTC */
    {"1970-01-01T00:00:00Z", 0},
    {"1969-12-31T23:59:59.999Z", -1},
    /* fractions: scaled to ms, extra digits truncated (not rounded) */
    {"2024-05-01T10:00:00.1Z", 1714557600100},
    {"2024-05-01T10:00:00.12Z", 1714557600120},
    {"2024-05-01T10:00:00.123Z", 1714557600123},
    {"2024-05-01T10:00:00.123456789Z", 1714557600123},
    {"2024-05-01T10:00:00.9999Z", 1714557600999},
    /* offsets */
    {"2024-05-01T10:00:00+02:00", 1714550400000},
    {"2024-05-01T10:00:00-05:30", 1714577400000},
    {"2024-05-01T10:00:00.5+01:00", 1714554000500},
    {"2024-05-01T10:00:00+0200", 1714550400000},
    /* 24:00 is the end of the day */
    {"2024-05-01T24:00:00Z", 1714608000000},
    /* leap years: divisible by 4, except centuries, except by 400 */
    {"2024-02-29", 1709164800000},
    {"2000-02-29", 951782400000},
    {"2024-04-30", 1714435200000},
    /* range ends */
    {"9999-12-31T23:59:59.999Z", 253402300799999},
    {"0000-01-01T00:00:00Z", -62167219200000},
};

/* Date.parse gives NaN for each of these. */
static const char *const BAD[] = {
    "",
    "2024-13-01",
    "2024-00-10",
    "2024-05-00",
    "2024-05-32",
    "2024-05-01T24:00:01Z",
    "2024-05-01T23:60:00Z",
    "2024-05-01T23:59:60Z",
    "2024-05-01T10:00:00+24:00",
    "2024-05-01T10:00:00.Z",
    "2024-05-01T10Z",
    "2024-05-01T10:00:00+02",
    "2024-05-01T10:00:00 Z",
    "24-05-01",
    "2024-05-01T",
    "2024-05-01T10:00:00Zjunk",
    "May 1, 2024", /* legacy format: not a date to Vexil (semantics.md) */
};

/* Out-of-range days that V8's *legacy* parser rolls over (Date.parse
 * ("2023-02-29") is March 1st) but the ISO grammar refuses. */
static const char *const BAD_DAY[] = {
    "2023-02-29",               /* not a leap year */
    "1900-02-29",               /* century, not divisible by 400 */
    "2100-02-29", "2024-04-31", /* April has 30 days */
    "2024-06-31", "2024-09-31", "2024-11-31",
};

static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(GOOD) / sizeof(GOOD[0]); i++) {
        int64_t ms = 42;
        if (!parse(GOOD[i].s, &ms))
            fail_msg("\"%s\" should parse", GOOD[i].s);
        if (ms != GOOD[i].want)
            fail_msg("\"%s\": got %lld, want %lld", GOOD[i].s, (long long)ms,
                     (long long)GOOD[i].want);
    }
}

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        int64_t ms = 42;
        if (parse(BAD[i], &ms))
            fail_msg("\"%s\" should not parse (got %lld)", BAD[i],
                     (long long)ms);
    }
    for (size_t i = 0; i < sizeof(BAD_DAY) / sizeof(BAD_DAY[0]); i++) {
        int64_t ms = 42;
        if (parse(BAD_DAY[i], &ms))
            fail_msg("\"%s\" should not parse", BAD_DAY[i]);
    }
    int64_t ms;
    assert_false(vx_time_parse(NULL, 0, &ms));
}

/* The length bounds the input: a valid prefix followed by more bytes is
 * not a date, and a date cut short is not one either; nothing is read past
 * `len` (the guarded copies below fault on any overrun). */
static void test_length_bounds(void **state)
{
    (void)state;
    const char full[] = {'2', '0', '2', '4', '-', '0', '5', '-', '0', '1',
                         'T', '1', '0', ':', '0', '0', ':', '0', '0', 'Z'};
    int64_t ms;
    assert_true(vx_time_parse(full, sizeof(full), &ms));
    assert_int_equal(ms, 1714557600000);
    assert_true(vx_time_parse(full, 10, &ms)); /* "2024-05-01" */
    assert_int_equal(ms, 1714521600000);
    for (size_t n = 11; n < sizeof(full) - 1; n++) {
        /* Every other prefix either parses to a consistent value or is
         * refused; "2024-05-01T10:00" (16 bytes) and "...:00" (19) parse. */
        bool ok = vx_time_parse(full, n, &ms);
        assert_int_equal(ok, n == 16 || n == 19);
        if (ok)
            assert_int_equal(ms, 1714557600000);
    }
    /* Every prefix again, ending at a guard page. */
    for (size_t n = 0; n <= sizeof(full); n++) {
        guarded g;
        const char *p = guard_copy(&g, full, n);
        assert_non_null(p);
        (void)vx_time_parse(p, n, &ms);
        guard_release(&g);
    }
}

/* RFC 3339 §5.6 (NOTE after the ABNF): "T" and "Z" may be lower case, and
 * JavaScript accepts them: Date.parse("2024-05-01t10:00:00z") ===
 * 1714557600000. vexil.h documents vx_time_parse as RFC 3339. */
static void test_lowercase_t_and_z(void **state)
{
    (void)state;
    int64_t ms = 42;
    bool a = vx_time_parse("2024-05-01t10:00:00Z", 20, &ms);
    bool b = vx_time_parse("2024-05-01T10:00:00z", 20, &ms);
    if (!a || !b)
        fail_msg("lower-case t/z refused (t: %d, z: %d); RFC 3339 and "
                 "Date.parse accept both",
                 a, b);
    assert_int_equal(ms, 1714557600000);
}

/* RFC 3339 §5.6: time-secfrac = "." 1*DIGIT, and JavaScript agrees:
 * Date.parse("2024-05-01T10:00:00,5Z") is NaN. (ISO 8601 also allows a
 * comma, but vexil.h and time.c name RFC 3339 and JavaScript's Date as the
 * meaning; the SDK would treat such a DATE_* value as invalid.) */
static void test_comma_fraction_refused(void **state)
{
    (void)state;
    int64_t ms = 42;
    if (parse("2024-05-01T10:00:00,5Z", &ms))
        fail_msg("\"2024-05-01T10:00:00,5Z\" parsed (%lld); Date.parse and "
                 "RFC 3339 refuse a comma before the fraction",
                 (long long)ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_length_bounds),
        cmocka_unit_test(test_lowercase_t_and_z),
        cmocka_unit_test(test_comma_fraction_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
