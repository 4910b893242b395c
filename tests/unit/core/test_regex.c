/* Unit tests for src/core/regex.c: REGEX constraints get RE2's syntax and
 * meaning on top of PCRE2.
 *
 * Reference: re2js 2.10.0 (tests/compat/node_modules/re2js), the RE2 port
 * the Unleash Node SDK compiles REGEX constraints with. "Accepted" means
 * RE2JS.compile(p) does not throw; a match means
 * RE2JS.compile(p, ci ? RE2JS.CASE_INSENSITIVE : 0).matcher(s).find():
 *   cd tests/compat && node -e 'const {RE2JS}=require("re2js");
 *     try { RE2JS.compile("(?#c)a"); console.log(true) }
 *     catch { console.log(false) }'
 * The differences docs/semantics.md already lists as known (\h, \v, \H, \V,
 * octal escapes, counts above 1000, \C) are left out on purpose. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "core/regex.h"
#include "unit/guard_page.h"
#include "vexil/vexil.h"

static vx__regex *compile(const char *p, bool ci)
{
    bool oom = true;
    vx__regex *re = vx__regex_compile(p, strlen(p), ci, &oom);
    assert_false(oom); /* never out of memory here */
    return re;
}

typedef struct pat {
    const char *p;
    bool re2; /* RE2JS.compile accepts it */
} pat;

/* RE2 syntax that must compile. */
static const pat RE2_OK[] = {
    {"(?i)abc", true},   {"\\d+", true},       {"[[:alpha:]]+", true},
    {"^abc$", true},     {"abc$", true},       {"(?s).", true},
    {"(?m)^a", true},    {"(?U)a+", true},     {"(?i:abc)", true},
    {"(?-i)a", true},    {"(?im-sU:a)", true}, {"[\\d]", true},
    {"\\pL", true},      {"\\p{Greek}", true}, {"\\PL", true},
    {"[\\p{L}]", true},  {"\\x41", true},      {"\\x{41}", true},
    {"\\Qa.b\\E", true}, {"\\z", true},        {"\\A", true},
    {"\\b", true},       {"\\B", true},        {"(?P<n>a)", true},
    {"(?<n>a)", true},   {"x*?", true},        {"x{2,}?", true},
    {"a{2}", true},      {"[[:word:]]", true}, {"[[:^alpha:]]", true},
    {"[^]a]", true},     {"[]a]", true},       {"\\0", true},
    {"\\a", true},       {"\\f", true},        {"\\t", true},
    {"\\_", true},       {"\\-", true},        {"\\@", true},
};

/* PCRE-only constructs that must be refused (RE2JS throws). */
static const pat PCRE_ONLY[] = {
    {"(?=a)", false},      /* lookahead */
    {"(?!a)", false},      /* negative lookahead */
    {"(?<=a)", false},     /* lookbehind */
    {"(?<!a)", false},     /* negative lookbehind */
    {"(a)\\1", false},     /* back-reference */
    {"(?<n>x)\\1", false}, /* back-reference to a named group */
    {"(?>a)", false},      /* atomic group */
    {"a++", false},        /* possessive quantifiers */
    {"a*+", false},
    {"a?+", false},
    {"a{2}+", false},
    {"a{1,2}+", false},
    {"(?R)", false},    /* recursion */
    {"(a)(?1)", false}, /* subroutine calls */
    {"(?&n)", false},
    {"(?+1)", false},
    {"(?-1)", false},
    {"(?P>n)", false},
    {"(?P<n>a)(?P=n)", false}, /* named back-references */
    {"\\k<n>", false},
    {"(?<n>a)\\k{n}", false},
    {"(a)\\g1", false},
    {"a\\Kb", false}, /* \K */
    {"\\Ga", false},
    {"a\\Z", false},
    {"\\R", false},
    {"\\X", false},
    {"(?|a|b)", false},    /* branch reset */
    {"(*ACCEPT)a", false}, /* verbs */
    {"(*SKIP)a", false},
    {"(?(1)a|b)", false}, /* conditional */
    {"(?C)a", false},     /* callout */
    {"(?x)a b", false},   /* inline flags RE2 lacks */
    {"(?J)a", false},
    {"(?n)a", false},
};

static void check_table(const pat *t, size_t n, const char *what)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        vx__regex *re = compile(t[i].p, false);
        if ((re != NULL) != t[i].re2) {
            print_error("%s: /%s/ %s by Vexil, %s by RE2\n", what, t[i].p,
                        re ? "accepted" : "refused",
                        t[i].re2 ? "accepted" : "refused");
            bad++;
        }
        vx__regex_free(re);
    }
    assert_int_equal(bad, 0);
}

static void test_re2_syntax_accepted(void **state)
{
    (void)state;
    check_table(RE2_OK, sizeof(RE2_OK) / sizeof(RE2_OK[0]), "RE2 syntax");
}

static void test_pcre_only_refused(void **state)
{
    (void)state;
    check_table(PCRE_ONLY, sizeof(PCRE_ONLY) / sizeof(PCRE_ONLY[0]),
                "PCRE-only");
}

/* Patterns where PCRE2 and RE2 disagree on validity and that are not in
 * docs/semantics.md's list of known differences. With a pattern PCRE2
 * accepts but RE2 refuses, the SDKs say false where Vexil may match
 * (e.g. /a(?#x)b/ against "ab"); with one RE2 accepts but Vexil refuses,
 * it is the other way round (/\Q(?=\E/ is the literal "(?=" in RE2). */
static const pat UNDOCUMENTED[] = {
    {"(?#comment)a", false}, /* PCRE comment group */
    {"\\e", false},          /* PCRE escape char */
    {"\\cA", false},         /* PCRE control char */
    {"[\\1]", false},        /* octal in a class: RE2 refuses \1 anywhere */
    {"\\E", false},          /* stray \E: PCRE ignores it */
    {"a\\E", false},
    {"(?^)a", false},    /* PCRE2 10.32 "unset all flags" */
    {"\\N", false},      /* PCRE "not a newline" */
    {"\\o{101}", false}, /* PCRE braced octal */
    {"\\Q(?=\\E", true}, /* literal text inside \Q...\E */
};
/* Documented in docs/semantics.md: PCRE2 refuses POSIX collating elements
 * such as [[.a.]], which RE2 reads as the class "[.a." followed by "]". */

static void test_undocumented_differences(void **state)
{
    (void)state;
    check_table(UNDOCUMENTED, sizeof(UNDOCUMENTED) / sizeof(UNDOCUMENTED[0]),
                "undocumented RE2/PCRE2 difference");
}

typedef struct mcase {
    const char *p;
    bool ci;
    const char *s;
    bool want; /* RE2JS ...matcher(s).find() */
} mcase;

static const mcase MATCHES[] = {
    {"abc$", false, "abc\n", false}, /* $ only at the very end */
    {"abc$", false, "abc", true},
    {"^abc$", false, "abc", true},
    {"^b", false, "ab", false},
    {"b", false, "abc", true}, /* unanchored search */
    {"(?i)ABC", false, "xabcx", true},
    {"ABC", true, "xabcx", true}, /* caseInsensitive */
    {"abc", false, "xABCx", false},
    {"\\d", false, "a1", true},
    {"\\d", false, "abc", false},
    {"[[:alpha:]]", false, "12a", true},
    {"[[:alpha:]]", false, "123", false},
    {"(?m)^b$", false, "a\nb\nc", true},
    {"^b$", false, "a\nb\nc", false},
    {"^$", false, "", true},
    {"\\bfoo\\b", false, "a foo b", true},
    {"\\bfoo\\b", false, "afoob", false},
    {"\xc3\xa9", true, "\xc3\x89", true}, /* é ~ É, Unicode folding */
    {"a.c", false, "a\nc", false},
    {"(?s)a.c", false, "a\nc", true},
    {"\\Qa.b\\E", false, "axb", false},
    {"\\Qa.b\\E", false, "a.b", true},
    {"^[\\p{Greek}]+$", false, "\xce\xb1\xce\xb2\xce\xb3", true},
    {"^.$", false, "\xc3\xa9", true}, /* one code point, not one byte */
    {"^\\d{3}-\\d{4}$", false, "555-1234", true},
    {"\\d{3}-\\d{4}", false, "call 555-1234 now", true},
    {"^[a-z]+@example\\.com$", false, "bob@example.com", true},
    {"^[a-z]+@example\\.com$", false, "bob@example.com.evil", false},
    {"(?U)a+", false, "aaa", true},
    {"\\Aab", false, "xab", false},
    {"ab\\z", false, "ab\n", false},
};

/* Same answers with a scratch and without one (regex.h: NULL = temporary
 * match data). */
static void test_search(void **state)
{
    (void)state;
    vx_scratch *sc = vx_scratch_new();
    assert_non_null(sc);
    int bad = 0;
    for (size_t i = 0; i < sizeof(MATCHES) / sizeof(MATCHES[0]); i++) {
        const mcase *m = &MATCHES[i];
        vx__regex *re = compile(m->p, m->ci);
        if (!re) {
            print_error("/%s/ did not compile\n", m->p);
            bad++;
            continue;
        }
        guarded g; /* the subject ends at a guard page */
        const char *subj = guard_copy(&g, m->s, strlen(m->s));
        assert_non_null(subj);
        bool with = vx__regex_search(re, sc, subj, strlen(m->s));
        bool without = vx__regex_search(re, NULL, subj, strlen(m->s));
        guard_release(&g);
        if (with != m->want || without != m->want) {
            print_error("/%s/%s on \"%s\": %d with scratch, %d without, "
                        "RE2 says %d\n",
                        m->p, m->ci ? "i" : "", m->s, with, without, m->want);
            bad++;
        }
        vx__regex_free(re);
    }
    vx_scratch_free(sc);
    assert_int_equal(bad, 0);
}

/* A '+' after the closing brace of \p{...} or \x{...} is an ordinary
 * quantifier on that escape, not a possessive one: RE2JS compiles each of
 * these and matches it against the subject (`a{2}+` stays refused). */
static void test_plus_after_braced_escape(void **state)
{
    (void)state;
    static const mcase cases[] = {
        {"^\\p{Greek}+$", false, "\xce\xb1\xce\xb2\xce\xb3", true},
        {"^\\p{L}+$", false, "h\xc3\xa9llo", true},
        {"^\\P{L}+$", false, "123", true},
        {"^\\x{41}+$", false, "AAA", true},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vx__regex *re = compile(cases[i].p, false);
        if (!re ||
            !vx__regex_search(re, NULL, cases[i].s, strlen(cases[i].s))) {
            print_error("/%s/ %s\n", cases[i].p,
                        re ? "does not match" : "refused (taken for a++)");
            bad++;
        }
        vx__regex_free(re);
    }
    vx__regex *re = compile("a{2}+", false);
    assert_null(re);
    assert_int_equal(bad, 0);
}

/* Lengths, not NUL terminators, bound pattern and subject; an absent
 * subject (NULL, 0) is the empty string; invalid UTF-8 in the subject is
 * tolerated (no error, the valid parts still match). */
static void test_bytes(void **state)
{
    (void)state;
    vx_scratch *sc = vx_scratch_new();
    bool oom;
    vx__regex *re = vx__regex_compile("a\0b", 3, false, &oom);
    assert_non_null(re);
    assert_true(vx__regex_search(re, sc, "xa\0by", 5));
    assert_false(vx__regex_search(re, sc, "xa\0by", 2));
    vx__regex_free(re);

    re = compile("abc", false);
    assert_true(vx__regex_search(re, sc, "abcdef", 3));
    assert_false(vx__regex_search(re, sc, "abcdef", 2));
    vx__regex_free(re);

    re = compile("^$", false);
    assert_true(vx__regex_search(re, sc, NULL, 0));
    assert_true(vx__regex_search(re, NULL, NULL, 0));
    vx__regex_free(re);

    re = compile("b", false);
    assert_true(vx__regex_search(re, sc,
                                 "a\xff"
                                 "b",
                                 3));
    assert_true(vx__regex_search(re, NULL,
                                 "\xc3"
                                 "b",
                                 2));
    vx__regex_free(re);

    /* A pattern that is not valid UTF-8 does not compile. */
    re = vx__regex_compile("a\xff", 2, false, &oom);
    assert_null(re);
    assert_false(oom);
    vx_scratch_free(sc);
}

/* One scratch serves any number of patterns in turn; free accepts NULL. */
static void test_scratch_reuse(void **state)
{
    (void)state;
    vx_scratch *sc = vx_scratch_new();
    assert_non_null(sc);
    vx__regex *a = compile("^(a|b)+c$", false);
    vx__regex *b = compile("\\d+", false);
    for (int i = 0; i < 1000; i++) {
        assert_true(vx__regex_search(a, sc, "ababc", 5));
        assert_false(vx__regex_search(a, sc, "ababd", 5));
        assert_true(vx__regex_search(b, sc, "x42", 3));
    }
    vx__regex_free(a);
    vx__regex_free(b);
    vx__regex_free(NULL);
    vx_scratch_free(sc);
    vx_scratch_free(NULL);
}

/* `n` copies of `unit` then `tail`, NUL-terminated (malloc'd). */
static char *repeat(const char *unit, size_t n, const char *tail)
{
    size_t u = strlen(unit), t = strlen(tail);
    char *s = malloc(u * n + t + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * u, unit, u);
    memcpy(s + u * n, tail, t + 1);
    return s;
}

/* Both paths, JIT and the interpreter (what a platform without JIT runs),
 * with and without a scratch: the same answer every time. */
static void expect_search(vx__regex *re, vx_scratch *sc, const char *s,
                          bool want)
{
    for (int jit = 1; jit >= 0; jit--) {
        vx__regex_set_jit(re, jit);
        bool with = vx__regex_search(re, sc, s, strlen(s));
        bool without = vx__regex_search(re, NULL, s, strlen(s));
        if (with != want || without != want)
            fail_msg("%s: %d with a scratch, %d without, want %d",
                     jit ? "JIT" : "interpreter", with, without, want);
    }
    vx__regex_set_jit(re, true);
}

/* Catastrophic backtracking is cut off (base/limits.h, "REGEX cost"): a
 * search that reaches the step budget answers "no match", even where a
 * match lies further on (RE2, which never backtracks, would find it), and
 * ordinary searches are untouched. docs/semantics.md states the rule. */
static void test_cost_limit(void **state)
{
    (void)state;
    vx_scratch *sc = vx_scratch_new();
    vx__regex *re = compile("(a+)+$|x", false);
    assert_non_null(re);
    /* A few a's: the backtracking is small, the x is found. */
    char *s = repeat("a", 8, "!x");
    expect_search(re, sc, s, true);
    free(s);
    /* 2^20 ways to split the a's before the x is tried: over the budget. */
    s = repeat("a", 20, "!x");
    expect_search(re, sc, s, false);
    free(s);
    vx__regex_free(re);

    /* The budget is for the whole search, not per start position: each
     * position here costs a few thousand steps, but there are hundreds. */
    re = compile("(?:a|a){1,12}[bc]|x", false);
    assert_non_null(re);
    s = repeat("a", 300, "x");
    expect_search(re, sc, s, false);
    free(s);
    s = repeat("a", 4, "x");
    expect_search(re, sc, s, true);
    free(s);
    vx__regex_free(re);

    /* Long subjects and ordinary patterns still match, on both paths. */
    re = compile("@example\\.com$", false);
    s = repeat("a", 5000, "@example.com");
    expect_search(re, sc, s, true);
    free(s);
    vx__regex_free(re);
    re = compile("^(a|b)*c$", false);
    s = repeat("ab", 1000, "c");
    expect_search(re, sc, s, true);
    free(s);
    vx__regex_free(re);
    vx_scratch_free(sc);
}

/* The rule seen through a flag: a REGEX constraint whose search reaches a
 * limit does not match, so `inverted` turns it true, as for any other
 * non-matching value. */
static void test_cost_limit_in_a_flag(void **state)
{
    (void)state;
    static const char DOC[] =
        "{\"features\": ["
        "{\"name\": \"re\", \"enabled\": true, \"strategies\": [{\"name\": "
        "\"default\", \"constraints\": [{\"contextName\": \"email\", "
        "\"operator\": \"REGEX\", \"value\": \"(a+)+$|x\"}]}]},"
        "{\"name\": \"not-re\", \"enabled\": true, \"strategies\": [{\"name\": "
        "\"default\", \"constraints\": [{\"contextName\": \"email\", "
        "\"operator\": \"REGEX\", \"value\": \"(a+)+$|x\", \"inverted\": "
        "true}]}]}]}";
    vx_snapshot *snap = NULL;
    assert_int_equal(vx_snapshot_load(DOC, strlen(DOC), NULL, &snap, NULL),
                     VX_OK);
    vx_scratch *sc = vx_scratch_new();
    char *heavy = repeat("a", 20, "!x");
    vx_prop heavy_prop = {{"email", 5}, {heavy, strlen(heavy)}};
    vx_prop light_prop = {{"email", 5}, {"aa!x", 4}};
    vx_context ctx = {0};
    ctx.props = &heavy_prop;
    ctx.nprops = 1;
    assert_false(vx_is_enabled(snap, sc, "re", 2, &ctx));
    assert_true(vx_is_enabled(snap, sc, "not-re", 6, &ctx));
    ctx.props = &light_prop;
    assert_true(vx_is_enabled(snap, sc, "re", 2, &ctx));
    assert_false(vx_is_enabled(snap, sc, "not-re", 6, &ctx));
    free(heavy);
    vx_scratch_free(sc);
    vx_snapshot_unref(snap);
}

/* Heap in use, as glibc counts it (small blocks and mmapped ones): PCRE2
 * allocates with malloc, which vx__alloc_count does not see. */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* With a scratch, a search allocates nothing, on either path, even when
 * the interpreter's backtracking frames outgrow its first block, and when
 * they would outgrow the heap limit (then: no match). */
static void test_no_allocation(void **state)
{
    (void)state;
    vx_scratch *sc = vx_scratch_new();
    assert_non_null(sc);
    vx__regex *re = compile("^(a|b)*c$", false);
    char *deep = repeat("ab", 1000, "c");    /* frames well past 20 KiB */
    char *deeper = repeat("ab", 40000, "c"); /* past the heap limit */
    vx__regex *cat = compile("(a+)+$|x", false);
    char *heavy = repeat("a", 24, "!x");
    uint64_t before = vx__alloc_count();
    size_t heap = heap_in_use();
    for (int jit = 1; jit >= 0; jit--) {
        vx__regex_set_jit(re, jit);
        for (int i = 0; i < 3; i++) {
            assert_true(vx__regex_search(re, sc, deep, strlen(deep)));
            assert_false(vx__regex_search(re, sc, "abd", 3));
        }
    }
    vx__regex_set_jit(re, false);
    assert_false(vx__regex_search(re, sc, deeper, strlen(deeper)));
    assert_false(vx__regex_search(cat, sc, heavy, strlen(heavy)));
    vx__regex_set_jit(cat, false);
    assert_false(vx__regex_search(cat, sc, heavy, strlen(heavy)));
    assert_int_equal(vx__alloc_count(), before);
    assert_int_equal(heap_in_use(), heap);
    free(heavy);
    free(deep);
    free(deeper);
    vx__regex_free(cat);
    vx__regex_free(re);
    vx_scratch_free(sc);
}

/* Compile-time limits: the pattern length (the loader refuses a longer
 * one with VX_ELIMIT before it gets here) and parentheses nesting. */
static void test_compile_limits(void **state)
{
    (void)state;
    bool oom;
    char *at = repeat("a", VX_LIMIT_REGEX_BYTES, "");
    vx__regex *re = vx__regex_compile(at, strlen(at), false, &oom);
    assert_non_null(re);
    vx__regex_free(re);
    char *over = repeat("a", VX_LIMIT_REGEX_BYTES + 1, "");
    assert_null(vx__regex_compile(over, strlen(over), false, &oom));
    assert_false(oom);
    free(at);
    free(over);

    char nest[2 * (VX_LIMIT_REGEX_NEST + 1) + 2];
    for (int depth = VX_LIMIT_REGEX_NEST; depth <= VX_LIMIT_REGEX_NEST + 1;
         depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            nest[n++] = '(';
        nest[n++] = 'a';
        for (int i = 0; i < depth; i++)
            nest[n++] = ')';
        re = vx__regex_compile(nest, n, false, &oom);
        if (depth <= VX_LIMIT_REGEX_NEST)
            assert_non_null(re);
        else
            assert_null(re);
        vx__regex_free(re);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_re2_syntax_accepted),
        cmocka_unit_test(test_pcre_only_refused),
        cmocka_unit_test(test_undocumented_differences),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_plus_after_braced_escape),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_scratch_reuse),
        cmocka_unit_test(test_cost_limit),
        cmocka_unit_test(test_cost_limit_in_a_flag),
        cmocka_unit_test(test_no_allocation),
        cmocka_unit_test(test_compile_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
