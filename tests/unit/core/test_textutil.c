/* Unit tests for src/core/textutil.c: JavaScript's Number(string) and
 * String.prototype.trim white space, and the ASCII string predicates.
 *
 * Reference values: every Number() expectation was produced by Node 20
 * (V8, ECMA-262 §7.1.4.1.1 StringToNumber):
 *   node -e 'for (const s of [...]) console.log(JSON.stringify(s), Number(s))'
 * and the white-space set is ECMA-262 §12.2 WhiteSpace + §12.3
 * LineTerminator, checked with node -e 'console.log("\u0085x".trim())'. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/textutil.h"
#include "unit/guard_page.h"

typedef enum { NUM, NAN_, NEG_ZERO } kind;

typedef struct numcase {
    const char *s;
    size_t len;
    kind k;
    double want; /* when k == NUM */
} numcase;

#define S(lit) lit, sizeof(lit) - 1

static const numcase NUMS[] = {
    /* the brief's table */
    {S(""), NUM, 0},
    {S(" 12 "), NUM, 12},
    {S("0x10"), NUM, 16},
    {S("1e3"), NUM, 1000},
    {S("-Infinity"), NUM, -INFINITY},
    {S("12abc"), NAN_, 0},
    {S("+-1"), NAN_, 0},
    {S(".5"), NUM, 0.5},
    {S("5."), NUM, 5},
    {S("0b101"), NUM, 5},
    {S("-0x10"), NAN_, 0}, /* a sign is not allowed before 0x */
    /* more of StringNumericLiteral */
    {S("Infinity"), NUM, INFINITY},
    {S("+Infinity"), NUM, INFINITY},
    {S("infinity"), NAN_, 0},
    {S("NaN"), NAN_, 0},
    {S("0o17"), NUM, 15},
    {S("0X1f"), NUM, 31},
    {S("0B2"), NAN_, 0},
    {S("0x"), NAN_, 0},
    {S("0xG"), NAN_, 0},
    {S("+0x10"), NAN_, 0},
    {S("0x1_0"), NAN_, 0},
    {S("1e"), NAN_, 0},
    {S("1e+"), NAN_, 0},
    {S("1E-2"), NUM, 0.01},
    {S("e5"), NAN_, 0},
    {S("."), NAN_, 0},
    {S("  \t\n"), NUM, 0},
    {S("-0"), NEG_ZERO, 0},
    {S("+5"), NUM, 5},
    {S("-.5e1"), NUM, -5},
    {S("0.1"), NUM, 0.1},
    {S("00012"), NUM, 12},
    {S("1_000"), NAN_, 0},
    {S("1,5"), NAN_, 0},
    {S("12 34"), NAN_, 0},
    {S("--1"), NAN_, 0},
    {S("1.7976931348623157e308"), NUM, 1.7976931348623157e308},
    {S("2e308"), NUM, INFINITY},
    /* Unicode white space is trimmed: U+00A0 ... U+2003, U+FEFF */
    {S("\xc2\xa0"
       "12\xe2\x80\x83"),
     NUM, 12},
    {S("\xef\xbb\xbf"
       "7"),
     NUM, 7},
    {S("\xe3\x80\x80"
       "1\xe3\x80\x80"),
     NUM, 1},
    {S("\xe2\x80\xa8"
       "1\xe2\x80\xa9"),
     NUM, 1},
    /* ... but these are not white space in JavaScript */
    {S("\xc2\x85"
       " 1"),
     NAN_, 0}, /* U+0085 NEL */
    {S("\xe1\xa0\x8e"
       "1"),
     NAN_, 0}, /* U+180E */
    {S("\xe2\x80\x8b"
       "1"),
     NAN_, 0}, /* U+200B zero width space */
    /* NUL is not white space either */
    {S("1\0"), NAN_, 0},
};

static void test_js_number_table(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof(NUMS) / sizeof(NUMS[0]); i++) {
        const numcase *c = &NUMS[i];
        guarded g;
        const char *p = guard_copy(&g, c->s, c->len);
        assert_non_null(p);
        double got = vx__js_number(p, c->len);
        guard_release(&g);
        bool ok;
        switch (c->k) {
        case NAN_: ok = isnan(got); break;
        case NEG_ZERO: ok = got == 0 && signbit(got); break;
        default: ok = got == c->want && !signbit(got) == !signbit(c->want);
        }
        if (!ok) {
            print_error("Number(case %zu, %zu bytes): got %.17g\n", i, c->len,
                        got);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Hex, octal and binary literals are one exact integer rounded once to the
 * nearest double (ECMA-262 StringToNumber: 𝔽(MV)), as in V8:
 *   node -e 'console.log(Number("0x200000000000011") === 2**57 + 32)'
 * prints true; 0x200000000000011 = 2^57 + 17, whose nearest doubles are
 * 2^57 and 2^57 + 32, and 17 > 16 rounds up. Accumulating v * 16 + d in a
 * double rounds at every step and lands on 2^57 instead. */
static void test_js_number_radix_rounding(void **state)
{
    (void)state;
    /* exactly representable: no rounding question */
    assert_true(vx__js_number(S("0x1fffffffffffff")) == 9007199254740991.0);
    assert_true(vx__js_number(S("0b1111")) == 15.0);
    /* ties to even at 2^53 + 1 (V8: 9007199254740992) */
    assert_true(vx__js_number(S("0x20000000000001")) == 9007199254740992.0);
    /* needs one correct rounding of the exact value */
    double got = vx__js_number(S("0x200000000000011"));
    if (got != 0x1p57 + 32)
        fail_msg("Number(\"0x200000000000011\"): got %.17g, want %.17g (V8)",
                 got, 0x1p57 + 32);
}

/* ECMA-262 WhiteSpace and LineTerminator code points, as UTF-8. */
static const struct {
    const char *s;
    size_t len;
} SPACES[] = {
    {S("\t")},           {S("\n")},           {S("\v")},
    {S("\f")},           {S("\r")},           {S(" ")},
    {S("\xc2\xa0")},     {S("\xe1\x9a\x80")}, /* U+1680 */
    {S("\xe2\x80\x80")}, {S("\xe2\x80\x81")}, {S("\xe2\x80\x82")},
    {S("\xe2\x80\x83")}, {S("\xe2\x80\x84")}, {S("\xe2\x80\x85")},
    {S("\xe2\x80\x86")}, {S("\xe2\x80\x87")}, {S("\xe2\x80\x88")},
    {S("\xe2\x80\x89")}, {S("\xe2\x80\x8a")}, /* U+2000..U+200A */
    {S("\xe2\x80\xa8")}, {S("\xe2\x80\xa9")}, /* U+2028, U+2029 */
    {S("\xe2\x80\xaf")}, {S("\xe2\x81\x9f")}, /* U+202F, U+205F */
    {S("\xe3\x80\x80")}, {S("\xef\xbb\xbf")}, /* U+3000, U+FEFF */
};

/* Code points that look like space but that trim() keeps. */
static const struct {
    const char *s;
    size_t len;
} NOT_SPACES[] = {
    {S("\xc2\x85")},     /* U+0085 NEL */
    {S("\xe1\xa0\x8e")}, /* U+180E Mongolian vowel separator */
    {S("\xe2\x80\x8b")}, /* U+200B zero width space */
    {S("\xe2\x80\x8c")}, /* U+200C */
    {S("\xe2\x81\xa0")}, /* U+2060 word joiner */
    {S("\x00")},         {S("x")}, {S("\xc2")}, /* truncated U+00A0 */
    {S("\xe3\x80")},                            /* truncated U+3000 */
};

static void test_js_space_len(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(SPACES) / sizeof(SPACES[0]); i++)
        assert_int_equal(vx__js_space_len(SPACES[i].s, SPACES[i].len),
                         SPACES[i].len);
    for (size_t i = 0; i < sizeof(NOT_SPACES) / sizeof(NOT_SPACES[0]); i++)
        assert_int_equal(vx__js_space_len(NOT_SPACES[i].s, NOT_SPACES[i].len),
                         0);
    assert_int_equal(vx__js_space_len("", 0), 0);
}

static void test_js_trim(void **state)
{
    (void)state;
    /* Every white-space code point is removed from both ends. */
    for (size_t i = 0; i < sizeof(SPACES) / sizeof(SPACES[0]); i++) {
        char buf[32];
        size_t n = 0;
        memcpy(buf + n, SPACES[i].s, SPACES[i].len);
        n += SPACES[i].len;
        memcpy(buf + n, "a b", 3);
        n += 3;
        memcpy(buf + n, SPACES[i].s, SPACES[i].len);
        n += SPACES[i].len;
        size_t len;
        const char *p = vx__js_trim(buf, n, &len);
        assert_int_equal(len, 3);
        assert_memory_equal(p, "a b", 3);
    }
    /* Mixed runs (node: "\u00a0\u1680\u2000 x \t\u3000\ufeff".trim() === "x")
     */
    const char mixed[] = "\xc2\xa0\xe1\x9a\x80\xe2\x80\x80 x \t\xe3\x80\x80"
                         "\xef\xbb\xbf";
    size_t len;
    const char *p = vx__js_trim(mixed, sizeof(mixed) - 1, &len);
    assert_int_equal(len, 1);
    assert_int_equal(p[0], 'x');
    /* Non-spaces stay (node: "\u0085x\u200b".trim() === "\u0085x\u200b"). */
    const char keep[] = "\xc2\x85x\xe2\x80\x8b";
    p = vx__js_trim(keep, sizeof(keep) - 1, &len);
    assert_ptr_equal(p, keep);
    assert_int_equal(len, sizeof(keep) - 1);
    /* All space, and empty. */
    p = vx__js_trim(" \xc2\xa0\t", 4, &len);
    assert_int_equal(len, 0);
    p = vx__js_trim("", 0, &len);
    assert_int_equal(len, 0);
    /* Printable ASCII at both ends: nothing to trim, inner spaces kept. */
    p = vx__js_trim("a \t b", 5, &len);
    assert_int_equal(len, 5);
    p = vx__js_trim("~x\x7f", 3, &len); /* DEL is not white space */
    assert_int_equal(len, 3);
    p = vx__js_trim("!x\v", 3, &len);
    assert_int_equal(len, 2);
    /* A truncated multi-byte sequence at the end is not white space. */
    const char trunc[] = "x\xe3\x80";
    p = vx__js_trim(trunc, 3, &len);
    assert_int_equal(len, 3);
    /* Only the ends are trimmed; inner white space is kept. */
    p = vx__js_trim(" a\xe3\x80\x80"
                    "b ",
                    7, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p,
                        "a\xe3\x80\x80"
                        "b",
                        5);
}

static void test_str_eq(void **state)
{
    (void)state;
    assert_true(vx__str_eq("abc", 3, "abc", 3));
    assert_false(vx__str_eq("abc", 3, "abd", 3));
    assert_false(vx__str_eq("abc", 3, "ab", 2));
    assert_true(vx__str_eq(NULL, 0, "", 0)); /* zero lengths: no memcmp */
    assert_true(vx__str_eq("a\0b", 3, "a\0b", 3));
    assert_false(vx__str_eq("a\0b", 3, "a\0c", 3));
}

/* vx__bytes_eq at every length around its load widths: equal copies are
 * equal, and a difference in any one byte is seen. Keys of equal strings
 * are equal. */
static void test_bytes_eq(void **state)
{
    (void)state;
    char a[48], b[48];
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i < n; i++)
            a[i] = (char)('a' + (i * 7 + n) % 26);
        memcpy(b, a, n);
        assert_true(vx__bytes_eq(a, b, n));
        assert_true(vx__str_tag(a, n) == vx__str_tag(b, n));
        for (size_t i = 0; i < n; i++) {
            b[i] ^= 0x20;
            assert_false(vx__bytes_eq(a, b, n));
            if (n < 8) /* the tag is exact below 8 bytes */
                assert_false(vx__str_tag(a, n) == vx__str_tag(b, n));
            else if (i < 7)
                assert_false(vx__str_tag(a, n) == vx__str_tag(b, n));
            assert_false(vx__str_eq(a, n, b, n));
            b[i] ^= 0x20;
        }
        if (n > 0) {
            assert_false(vx__str_eq(a, n, b, n - 1));
            assert_false(vx__str_tag(a, n) == vx__str_tag(b, n - 1));
        }
    }
    /* Zero bytes are bytes: "a" and "a\0" differ (by length). */
    assert_false(vx__str_tag("a", 1) == vx__str_tag("a\0", 2));
    /* From 8 bytes on the tag is a filter: only the first 7 are in it. */
    assert_true(vx__str_tag("abcdefgX", 8) == vx__str_tag("abcdefgY", 8));
    assert_false(vx__tagged_eq(vx__str_tag("abcdefgX", 8), "abcdefgX", 8,
                               vx__str_tag("abcdefgY", 8), "abcdefgY", 8));
}

/* ASCII predicates: with `fold`, A-Z equal a-z and nothing else folds
 * (docs/semantics.md: "ASCII folding only"). Expected values follow
 * JavaScript's startsWith/endsWith/includes on ASCII text. */
static void test_ascii_predicates(void **state)
{
    (void)state;
    /* starts_with */
    assert_true(vx__ascii_starts_with(S("Hello"), S("He"), false));
    assert_false(vx__ascii_starts_with(S("Hello"), S("HE"), false));
    assert_true(vx__ascii_starts_with(S("Hello"), S("HE"), true));
    assert_true(vx__ascii_starts_with(S("Hello"), S(""), false));
    assert_false(vx__ascii_starts_with(S("He"), S("Hello"), true));
    assert_true(vx__ascii_starts_with(S("Hello"), S("hello"), true));
    /* ends_with */
    assert_true(vx__ascii_ends_with(S("report.PDF"), S(".PDF"), false));
    assert_false(vx__ascii_ends_with(S("report.PDF"), S(".pdf"), false));
    assert_true(vx__ascii_ends_with(S("report.PDF"), S(".pdf"), true));
    assert_true(vx__ascii_ends_with(S("x"), S(""), false));
    assert_false(vx__ascii_ends_with(S("df"), S(".pdf"), true));
    /* contains */
    assert_true(vx__ascii_contains(S("xxABcx"), S("ABc"), false));
    assert_false(vx__ascii_contains(S("xxABcx"), S("abc"), false));
    assert_true(vx__ascii_contains(S("xxABcx"), S("abc"), true));
    assert_true(vx__ascii_contains(S("abc"), S(""), false)); /* "".includes */
    assert_true(vx__ascii_contains(S(""), S(""), true));
    assert_false(vx__ascii_contains(S("ab"), S("abc"), true));
    assert_true(vx__ascii_contains(S("aaab"), S("aab"), true)); /* restart */
    assert_true(vx__ascii_contains(S("a\0b"), S("\0b"), false));
    /* Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ by 32 but
     * are not letters; 'Z'/'z' are the edge letters. */
    assert_false(vx__ascii_starts_with(S("@"), S("`"), true));
    assert_false(vx__ascii_starts_with(S("["), S("{"), true));
    assert_true(vx__ascii_starts_with(S("Z"), S("z"), true));
    assert_true(vx__ascii_starts_with(S("a"), S("A"), true));
    /* Non-ASCII is compared byte for byte: "É" (C3 89) vs "é" (C3 A9). */
    assert_false(vx__ascii_contains(S("caf\xc3\x89"), S("caf\xc3\xa9"), true));
    assert_true(vx__ascii_contains(S("CAF\xc3\xa9"), S("caf\xc3\xa9"), true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_js_number_table),
        cmocka_unit_test(test_js_number_radix_rounding),
        cmocka_unit_test(test_js_space_len),
        cmocka_unit_test(test_js_trim),
        cmocka_unit_test(test_str_eq),
        cmocka_unit_test(test_bytes_eq),
        cmocka_unit_test(test_ascii_predicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
