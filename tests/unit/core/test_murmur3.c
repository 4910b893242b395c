/* Unit tests for src/core/murmur3.c: vx_murmur3_32 against known answers.
 *
 * Reference values:
 *  - "hello" with seeds 0 and 86028157 (Unleash's variant seed):
 *    613153351 / 3619701165, from `murmurhash3js` as below;
 *  - the rest are the widely published MurmurHash3_x86_32 test vectors
 *    (SMHasher's reference implementation), each re-checked with the
 *    `murmurhash3js` 3.0.1 package the Unleash Node SDK uses:
 *      node -e 'console.log(require("murmurhash3js").x86.hash32(s, seed))'
 *    (murmurhash3js hashes charCode & 0xff, which equals the byte for the
 *    single-byte strings used here);
 *  - the bucket values `norm(group, id, N, seed)`: what unleash-client
 *    6.12.1 computes (tests/compat; lib/strategy/util.js,
 *    normalizedStrategyValue and normalizedVariantValue), which the Unleash
 *    client-spec vectors confirm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vexil/vexil.h"

typedef struct kat {
    const char *data;
    size_t len;
    uint32_t seed;
    uint32_t want;
} kat;

#define S(lit) lit, sizeof(lit) - 1

static const kat KATS[] = {
    /* murmurhash3js, the Unleash Node SDK's hash */
    {S("hello"), 0, 613153351u},
    {S("hello"), 86028157u, 3619701165u},
    /* empty input: only the seed and fmix */
    {S(""), 0, 0u},
    {S(""), 1, 0x514E28B7u},
    {S(""), 0xFFFFFFFFu, 0x81F16F39u},
    /* one full block, and 3-, 2-, 1-byte tails */
    {S("\xff\xff\xff\xff"), 0, 0x76293B50u},
    {S("!Ce\x87"), 0, 0xF55B516Bu},
    {S("!Ce\x87"), 0x5082EDEEu, 0x2362F9DEu},
    {S("!Ce"), 0, 0x7E4A8634u},
    {S("!C"), 0, 0xA0F7B07Au},
    {S("!"), 0, 0x72661CF4u},
    /* zero bytes count: they are data, not terminators */
    {S("\0\0\0\0"), 0, 0x2362F9DEu},
    {S("\0\0\0"), 0, 0x85F0B427u},
    {S("\0\0"), 0, 0x30F4C306u},
    {S("\0"), 0, 0x514E28B7u},
    /* seed 0x9747b28c family */
    {S("aaaa"), 0x9747B28Cu, 0x5A97808Au},
    {S("aaa"), 0x9747B28Cu, 0x283E0130u},
    {S("aa"), 0x9747B28Cu, 0x5D211726u},
    {S("a"), 0x9747B28Cu, 0x7FA09EA6u},
    {S("abcd"), 0x9747B28Cu, 0xF0478627u},
    {S("abc"), 0x9747B28Cu, 0xC84A62DDu},
    {S("ab"), 0x9747B28Cu, 0x74875592u},
    /* several blocks plus a tail */
    {S("Hello, world!"), 0x9747B28Cu, 0x24884CBAu},
    {S("The quick brown fox jumps over the lazy dog"), 0x9747B28Cu,
     0x2FA826CDu},
};

static void test_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(KATS) / sizeof(KATS[0]); i++) {
        uint32_t got = vx_murmur3_32(KATS[i].data, KATS[i].len, KATS[i].seed);
        if (got != KATS[i].want)
            fail_msg("case %zu (len %zu, seed %u): got 0x%08X, want 0x%08X", i,
                     KATS[i].len, KATS[i].seed, got, KATS[i].want);
    }
}

/* The input need not be aligned: hashing the same bytes at every offset of
 * a buffer gives the same answer (the implementation reads blocks with
 * memcpy; UBSan's alignment check would catch a cast). */
static void test_unaligned(void **state)
{
    (void)state;
    const char *msg = "The quick brown fox jumps over the lazy dog";
    size_t n = strlen(msg);
    char buf[64];
    for (size_t off = 0; off < 8; off++) {
        memcpy(buf + off, msg, n);
        assert_int_equal(vx_murmur3_32(buf + off, n, 0x9747B28Cu), 0x2FA826CDu);
    }
}

/* Unleash's buckets: murmur3("group:id", seed) % N + 1. */
static uint32_t norm(const char *group_id, uint32_t n, uint32_t seed)
{
    return vx_murmur3_32(group_id, strlen(group_id), seed) % n + 1;
}

static void test_unleash_buckets(void **state)
{
    (void)state;
    assert_int_equal(norm("Feature.flexibleRollout.10:174", 100, 0), 10);
    assert_int_equal(norm("Feature.flexibleRollout.10:499", 100, 0), 32);
    assert_int_equal(norm("Feature.flexibleRollout.userId.55:25", 100, 0), 55);
    assert_int_equal(norm("AB12A:122", 100, 0), 23);
    assert_int_equal(norm("AB12A:155", 100, 0), 100);
    assert_int_equal(norm("Feature.Variants.C:232", 99, 86028157u), 18);
    assert_int_equal(norm("Feature.Variants.C:607", 99, 86028157u), 58);
    assert_int_equal(norm("Feature.Variants.C:656", 99, 86028157u), 94);
    assert_int_equal(norm("Feature.Variants.D:712", 100, 86028157u), 1);
    assert_int_equal(norm("Feature.Variants.D:525", 100, 86028157u), 30);
    assert_int_equal(norm("Feature.Variants.D:537", 100, 86028157u), 70);
    /* UTF-8 bytes, not UTF-16 units: "g:ø" is bucket 36 (docs/semantics.md;
     * murmurhash3js would give 52). */
    assert_int_equal(norm("g:\xc3\xb8", 100, 0), 36);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_unleash_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
