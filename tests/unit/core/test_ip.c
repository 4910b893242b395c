/* Unit tests for src/core/ip.c: textual IPv4/IPv6 addresses and CIDR
 * ranges, and prefix matching.
 *
 * References:
 *  - validity: Node's net.isIP (RFC 4291 §2.2 text forms) and the
 *    `ip-address` 10.x package the Unleash Node SDK's IN_CIDR operator uses
 *    (Address4.isValid / Address6.isValid), both under tests/compat;
 *  - expected bytes: RFC 4291 §2.2 expansion rules ("::" fills zero groups;
 *    a trailing dotted quad is the low 32 bits), worked by hand;
 *  - range membership: Node's net.BlockList, e.g.
 *      node -e 'const b=new (require("net").BlockList)();
 *               b.addSubnet("10.0.0.0",7,"ipv4");
 *               console.log(b.check("11.255.255.255","ipv4"))'  */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ip.h"
#include "unit/guard_page.h"

/* vx__ip_parse on a copy that ends at a guard page. */
static bool parse(const char *s, vx__ip *out)
{
    guarded g;
    size_t len = strlen(s);
    const char *p = guard_copy(&g, s, len);
    assert_non_null(p);
    bool ok = vx__ip_parse(p, len, out);
    guard_release(&g);
    return ok;
}

static void test_v4(void **state)
{
    (void)state;
    vx__ip ip;
    assert_true(parse("1.2.3.4", &ip));
    assert_int_equal(ip.family, 4);
    assert_int_equal(ip.prefix, 32);
    assert_memory_equal(ip.bytes, "\x01\x02\x03\x04", 4);
    assert_true(parse("0.0.0.0", &ip));
    assert_true(parse("255.255.255.255", &ip));
    assert_memory_equal(ip.bytes, "\xff\xff\xff\xff", 4);
    assert_true(parse("10.1.2.3/8", &ip));
    assert_int_equal(ip.prefix, 8);
    assert_true(parse("1.2.3.4/0", &ip));
    assert_int_equal(ip.prefix, 0);
    assert_true(parse("1.2.3.4/32", &ip));
    assert_int_equal(ip.prefix, 32);
}

static void test_v6(void **state)
{
    (void)state;
    vx__ip ip;
    static const uint8_t zero[16] = {0};
    assert_true(parse("::", &ip));
    assert_int_equal(ip.family, 6);
    assert_int_equal(ip.prefix, 128);
    assert_memory_equal(ip.bytes, zero, 16);
    assert_true(parse("0:0:0:0:0:0:0:0", &ip));
    assert_memory_equal(ip.bytes, zero, 16);

    static const uint8_t one[16] = {[15] = 1};
    assert_true(parse("::1", &ip));
    assert_memory_equal(ip.bytes, one, 16);

    static const uint8_t lead[16] = {0, 1};
    assert_true(parse("1::", &ip));
    assert_memory_equal(ip.bytes, lead, 16);

    static const uint8_t full[16] = {0, 1, 0, 2, 0, 3, 0, 4,
                                     0, 5, 0, 6, 0, 7, 0, 8};
    assert_true(parse("1:2:3:4:5:6:7:8", &ip));
    assert_memory_equal(ip.bytes, full, 16);

    static const uint8_t doc[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    assert_true(parse("2001:DB8::1", &ip)); /* hex is case-insensitive */
    assert_memory_equal(ip.bytes, doc, 16);

    static const uint8_t mid[16] = {0, 1, [14] = 0, 2};
    assert_true(parse("1::2", &ip));
    assert_memory_equal(ip.bytes, mid, 16);

    static const uint8_t tail7[16] = {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7};
    assert_true(parse("1:2:3:4:5:6:7::", &ip));
    assert_memory_equal(ip.bytes, tail7, 16);
    static const uint8_t head7[16] = {0, 0, 0, 2, 0, 3, 0, 4,
                                      0, 5, 0, 6, 0, 7, 0, 8};
    assert_true(parse("::2:3:4:5:6:7:8", &ip));
    assert_memory_equal(ip.bytes, head7, 16);

    /* Embedded dotted quad: the last 32 bits. */
    static const uint8_t mapped[16] = {[10] = 0xff, 0xff, 1, 2, 3, 4};
    assert_true(parse("::ffff:1.2.3.4", &ip));
    assert_int_equal(ip.family, 6);
    assert_memory_equal(ip.bytes, mapped, 16);
    static const uint8_t compat[16] = {[12] = 1, 2, 3, 4};
    assert_true(parse("::1.2.3.4", &ip));
    assert_memory_equal(ip.bytes, compat, 16);
    static const uint8_t six_q[16] = {0, 1, 0, 2, 0, 3, 0, 4,
                                      0, 5, 0, 6, 1, 2, 3, 4};
    assert_true(parse("1:2:3:4:5:6:1.2.3.4", &ip));
    assert_memory_equal(ip.bytes, six_q, 16);

    /* CIDR */
    assert_true(parse("2001:db8::/32", &ip));
    assert_int_equal(ip.prefix, 32);
    assert_true(parse("::/0", &ip));
    assert_int_equal(ip.prefix, 0);
    assert_true(parse("1:2:3:4:5:6:7:8/128", &ip));
    assert_int_equal(ip.prefix, 128);
    assert_true(parse("::1.2.3.4/96", &ip));
    assert_int_equal(ip.prefix, 96);
}

/* net.isIP(...) === 0 and ip-address refuses each of these. */
static const char *const BAD[] = {
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "1..3.4",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.-4",
    "1.2.3.4/33",
    "1.2.3.4/",
    "1.2.3.4/-1",
    "1.2.3.4/1a",
    "1.2.3.4:80",
    "1.2.3.4/8/8",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    ":1::",
    "1:::2",
    "1:",
    ":",
    ":::",
    "12345::",
    "g::",
    "::ffff:1.2.3",
    "::ffff:1.2.3.256",
    "1:2:3:4:5:6:7:1.2.3.4",
    "1:2:3:4:5:6:7",
    "::/129",
    "fe80::1%eth0", /* zone ids: refused by design (ip.c) */
    "1.2.3.4/0032",
};

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        vx__ip ip;
        if (parse(BAD[i], &ip))
            fail_msg("\"%s\" should be refused", BAD[i]);
    }
}

/* Dotted-decimal octets with leading zeros are ambiguous (inet_aton reads
 * "010" as octal 8) and both references refuse them:
 *   node -e 'console.log(require("net").isIP("01.2.3.4"))'          -> 0
 *   Address4.isValid("01.2.3.4") (ip-address, used by IN_CIDR) -> false
 * so the SDK's IN_CIDR is false for "010.0.0.1" where accepting it as
 * 10.0.0.1 would match 10.0.0.0/8. */
static void test_v4_leading_zeros_refused(void **state)
{
    (void)state;
    static const char *const lz[] = {"01.2.3.4", "001.002.003.004", "10.0.0.01",
                                     "::ffff:1.2.3.04", "010.0.0.1/8"};
    int accepted = 0;
    for (size_t i = 0; i < sizeof(lz) / sizeof(lz[0]); i++) {
        vx__ip ip;
        if (parse(lz[i], &ip)) {
            print_error("accepted \"%s\"\n", lz[i]);
            accepted++;
        }
    }
    assert_int_equal(accepted, 0);
}

/* Reads stop at `len`: "1.2.3.4" inside a longer buffer. */
static void test_length_bounded(void **state)
{
    (void)state;
    vx__ip ip;
    assert_true(vx__ip_parse("1.2.3.4/24junk", 7, &ip));
    assert_int_equal(ip.prefix, 32);
    assert_true(vx__ip_parse("1.2.3.4/24junk", 10, &ip));
    assert_int_equal(ip.prefix, 24);
    assert_true(vx__ip_parse("::1zzz", 3, &ip));
    assert_false(vx__ip_parse("", 0, &ip));
}

static bool in(const char *addr, const char *range)
{
    vx__ip a, r;
    if (!parse(addr, &a) || !parse(range, &r))
        fail_msg("cannot parse %s or %s", addr, range);
    return vx__ip_in_range(&a, &r);
}

/* Each expectation is net.BlockList's check() for the same pair. */
static void test_in_range_v4(void **state)
{
    (void)state;
    assert_true(in("10.1.2.3", "10.0.0.0/8"));
    assert_false(in("11.0.0.0", "10.0.0.0/8"));
    assert_true(in("192.168.1.255", "192.168.1.0/24"));
    assert_false(in("192.168.2.0", "192.168.1.0/24"));
    assert_true(in("1.2.3.4", "1.2.3.4/32"));
    assert_false(in("1.2.3.5", "1.2.3.4/32"));
    assert_true(in("1.2.3.4", "1.2.3.4")); /* plain address = /32 */
    assert_false(in("1.2.3.5", "1.2.3.4"));
    assert_true(in("203.0.113.9", "0.0.0.0/0"));
    assert_true(in("0.0.0.0", "255.255.255.255/0"));
    assert_true(in("11.255.255.255", "10.0.0.0/7")); /* not byte aligned */
    assert_false(in("12.0.0.0", "10.0.0.0/7"));
    assert_true(in("10.200.0.0", "10.1.2.3/8")); /* host bits ignored */
    /* A range inside a range: its prefix is at least as long (ip.h; the
     * same answers as ip-address's Address4#isInSubnet). */
    assert_true(in("10.1.0.0/16", "10.0.0.0/8"));
    assert_false(in("10.0.0.0/7", "10.1.0.0/8"));
    /* Same address, shorter prefix: still "equals range's address" (ip.h),
     * as in the SDK, which tests correctForm() equality first. */
    assert_true(in("10.0.0.0/7", "10.0.0.0/8"));
}

static void test_in_range_v6(void **state)
{
    (void)state;
    assert_true(in("2001:db8::1", "2001:db8::/32"));
    assert_false(in("2001:db9::", "2001:db8::/32"));
    assert_true(in("2001:db8:1::5", "2001:db8::/32"));
    assert_true(in("::1", "::/0"));
    assert_true(in("ffff::", "::/0"));
    assert_true(in("::1", "::1/128"));
    assert_false(in("::2", "::1/128"));
    assert_true(in("::1", "::1"));
    assert_false(in("2001:db8:8000::", "2001:db8::/33"));
    assert_true(in("2001:db8:7fff::", "2001:db8::/33"));
    assert_true(in("fe80::abcd", "fe80::/10"));
    assert_true(in("febf::1", "fe80::/10"));
    assert_false(in("fec0::1", "fe80::/10"));
}

/* ip.h: families never mix, even through /0 or an IPv4-mapped address. */
static void test_family_mismatch(void **state)
{
    (void)state;
    assert_false(in("1.2.3.4", "::/0"));
    assert_false(in("::1", "0.0.0.0/0"));
    assert_false(in("::ffff:1.2.3.4", "1.2.3.0/24"));
    assert_false(in("1.2.3.4", "::ffff:1.2.3.4"));
    assert_false(in("0.0.0.0", "::"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4),
        cmocka_unit_test(test_v6),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_v4_leading_zeros_refused),
        cmocka_unit_test(test_length_bounded),
        cmocka_unit_test(test_in_range_v4),
        cmocka_unit_test(test_in_range_v6),
        cmocka_unit_test(test_family_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
