/* Unit tests for src/core/semver.c: node-semver's strict grammar and SemVer
 * precedence.
 *
 * Reference: node-semver 7.x (the copy under tests/compat/node_modules, the
 * one unleash-client 6.12.1 uses). Validity is `semver.valid(s) !== null`
 * and ordering is `semver.compare(a, b)`:
 *   cd tests/compat && node -e 'const s=require("semver");
 *     console.log(s.valid("01.2.3"), s.compare("1.0.0-alpha","1.0.0"))'
 * The precedence chain is the SemVer 2.0.0 specification's own example
 * (semver.org §11), which node-semver reproduces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/semver.h"
#include "unit/guard_page.h"

static bool parse(const char *s, vx__semver *out)
{
    return vx__semver_parse(s, strlen(s), out);
}

/* Validity only, on a copy that ends at a guard page (the parsed value
 * borrows from the input, so it is not used after the copy is gone). */
static bool valid(const char *s)
{
    guarded g;
    vx__semver v;
    size_t len = strlen(s);
    const char *p = guard_copy(&g, s, len);
    assert_non_null(p);
    bool ok = vx__semver_parse(p, len, &v);
    guard_release(&g);
    return ok;
}

/* semver.valid(...) !== null for each of these. */
static const char *const VALID[] = {
    "1.2.3",
    "0.0.0",
    "v1.2.3",    /* a leading v is accepted by semver.valid */
    " 1.2.3 ",   /* trimmed */
    "\t1.2.3\n", /* trimmed */
    " v1.2.3",
    "1.2.3-alpha",
    "1.2.3-alpha.1",
    "1.2.3-0",
    "1.2.3-0a", /* alphanumeric: a leading zero is fine */
    "1.2.3--",  /* '-' is an identifier character */
    "1.2.3+build",
    "1.2.3+build.01", /* build identifiers may have leading zeros */
    "1.2.3-rc.1+build.5",
    "9007199254740991.0.0", /* Number.MAX_SAFE_INTEGER */
    "1.2.3-99999999999999999999",
};

/* semver.valid(...) === null for each of these. */
static const char *const INVALID[] = {
    "",
    "=1.2.3",
    "V1.2.3",
    "vv1.2.3",
    "01.2.3", /* leading zeros in numeric parts */
    "1.02.3",
    "1.2.03",
    "1.2",
    "1.2.3.4",
    "1.2.3-",
    "1.2.3-01", /* numeric prerelease with a leading zero */
    "1.2.3-alpha..1",
    "1.2.3+",
    "1.2.3+a+b",
    "1.2.3-a_b",
    "1.2.3-\xc3\xa9",
    "9007199254740992.0.0", /* above MAX_SAFE_INTEGER */
    "1.2.-3",
    "-1.2.3",
    "1.2.3 4",
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(VALID) / sizeof(VALID[0]); i++) {
        if (!valid(VALID[i]))
            fail_msg("\"%s\" should be valid", VALID[i]);
    }
    for (size_t i = 0; i < sizeof(INVALID) / sizeof(INVALID[0]); i++) {
        if (valid(INVALID[i]))
            fail_msg("\"%s\" should be invalid", INVALID[i]);
    }
}

static void test_fields(void **state)
{
    (void)state;
    vx__semver v;
    assert_true(parse("v10.20.30-rc.7+sha.1", &v));
    assert_int_equal(v.major, 10);
    assert_int_equal(v.minor, 20);
    assert_int_equal(v.patch, 30);
    assert_int_equal(v.npre, 2);
    assert_int_equal(v.pre[0].len, 2);
    assert_memory_equal(v.pre[0].s, "rc", 2);
    assert_false(v.pre[0].numeric);
    assert_true(v.pre[1].numeric);
    assert_int_equal(v.pre[1].num, 7);
    assert_true(parse("9007199254740991.0.0", &v));
    assert_int_equal(v.major, 9007199254740991ull);
}

/* node-semver's MAX_LENGTH is 256, checked on the untrimmed string:
 * "1.2.3-" + 250 'a' (256 chars) is valid, 251 'a' (257) is not, and
 * padding a valid version past 256 with spaces also makes it invalid. */
static void test_length_limit(void **state)
{
    (void)state;
    char buf[300];
    vx__semver v;
    memcpy(buf, "1.2.3-", 6);
    memset(buf + 6, 'a', 251);
    assert_true(vx__semver_parse(buf, 256, &v));
    assert_false(vx__semver_parse(buf, 257, &v));
    memset(buf, ' ', 260);
    memcpy(buf + 1, "1.2.3", 5);
    assert_true(vx__semver_parse(buf, 256, &v));
    assert_false(vx__semver_parse(buf, 257, &v));
}

/* semver.h: more than VX_SEMVER_MAX_PRE (16) prerelease identifiers is
 * invalid by design (node-semver itself has no such cap: a deliberate,
 * documented limit). */
static void test_prerelease_cap(void **state)
{
    (void)state;
    vx__semver v;
    assert_true(parse("1.2.3-a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", &v));
    assert_int_equal(v.npre, 16);
    assert_false(parse("1.2.3-a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", &v));
}

static int cmp(const char *a, const char *b)
{
    vx__semver x, y;
    if (!parse(a, &x) || !parse(b, &y))
        fail_msg("cannot parse %s or %s", a, b);
    return vx__semver_cmp(&x, &y);
}

/* semver.org §11: each is lower than the next (node-semver agrees). */
static void test_precedence_chain(void **state)
{
    (void)state;
    static const char *const chain[] = {
        "1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
        "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",       "1.0.0",
    };
    size_t n = sizeof(chain) / sizeof(chain[0]);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int want = i < j ? -1 : i > j ? 1 : 0;
            int got = cmp(chain[i], chain[j]);
            if (got != want)
                fail_msg("cmp(%s, %s) = %d, want %d", chain[i], chain[j], got,
                         want);
        }
    }
}

static void test_precedence_more(void **state)
{
    (void)state;
    assert_int_equal(cmp("2.0.0", "10.0.0"), -1); /* numeric, not textual */
    assert_int_equal(cmp("1.10.0", "1.9.0"), 1);
    assert_int_equal(cmp("1.0.10", "1.0.9"), 1);
    assert_int_equal(cmp("1.2.3+a", "1.2.3+b"), 0); /* build ignored */
    assert_int_equal(cmp("v1.2.3", "1.2.3"), 0);
    assert_int_equal(cmp("1.0.0-1", "1.0.0-a"), -1); /* numeric < alnum */
    assert_int_equal(cmp("1.0.0-10", "1.0.0-9"), 1);
    assert_int_equal(cmp("1.0.0-B", "1.0.0-a"), -1); /* ASCII order */
    assert_int_equal(cmp("1.0.0-alpha", "1.0.0-alpha"), 0);
    assert_int_equal(cmp("1.0.0-a.b", "1.0.0-a"), 1);
    /* identifiers above MAX_SAFE_INTEGER, where node-semver's answer is
     * still well defined:
     *   compare("1.0.0-99999999999999999999", "1.0.0-a") === -1
     *   compare("1.0.0-99999999999999999999", "1.0.0-1") === 1 */
    assert_int_equal(cmp("1.0.0-99999999999999999999", "1.0.0-a"), -1);
    assert_int_equal(cmp("1.0.0-99999999999999999999", "1.0.0-1"), 1);
}

/* node-semver's compareIdentifiers decides "numeric" with /^[0-9]+$/ on
 * the text, so an all-digit identifier above 2^53 - 1 is still numeric
 * when compared: it sorts below any alphanumeric identifier and is
 * compared with other numbers by value (as doubles: `+a`). With
 * tests/compat/node_modules/semver 7.x:
 *   compare("1.0.0-99999999999999999999", "1.0.0--")            === -1
 *   compare("1.0.0-9007199254740992", "1.0.0-10000000000000000") === -1
 */
static void test_precedence_huge_numeric_identifiers(void **state)
{
    (void)state;
    int a = cmp("1.0.0-99999999999999999999", "1.0.0--");
    int b = cmp("1.0.0-9007199254740992", "1.0.0-10000000000000000");
    if (a != -1 || b != -1)
        fail_msg("huge numeric prerelease ids: cmp = %d and %d, node-semver "
                 "gives -1 and -1",
                 a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_prerelease_cap),
        cmocka_unit_test(test_precedence_chain),
        cmocka_unit_test(test_precedence_more),
        cmocka_unit_test(test_precedence_huge_numeric_identifiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
