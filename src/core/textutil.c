/* JavaScript-compatible text primitives: see textutil.h. */
#include "core/textutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t vx__js_space_len(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0)
        return 0;
    switch (u[0]) {
    case ' ':
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r': return 1;
    }
    if (len >= 2 && u[0] == 0xC2 && u[1] == 0xA0) /* U+00A0 */
        return 2;
    if (len >= 3) {
        uint32_t cp = ((uint32_t)(u[0] & 0x0F) << 12) |
                      ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
        if ((u[0] & 0xF0) != 0xE0 || (u[1] & 0xC0) != 0x80 ||
            (u[2] & 0xC0) != 0x80)
            return 0;
        if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
            cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
            cp == 0xFEFF)
            return 3;
    }
    return 0;
}

static size_t js_space_len_back(const char *s, size_t len)
{
    for (size_t n = 1; n <= 3 && n <= len; n++) {
        if (vx__js_space_len(s + len - n, n) == n)
            return n;
    }
    return 0;
}

const char *vx__js_trim(const char *s, size_t len, size_t *out_len)
{
    /* The common case: printable ASCII at both ends, nothing to trim
     * (every white space this trims is a control, a space or >= 0x80). */
    if (len > 0 && (unsigned char)(s[0] - 0x21) < 0x5E &&
        (unsigned char)(s[len - 1] - 0x21) < 0x5E) {
        *out_len = len;
        return s;
    }
    for (size_t n = vx__js_space_len(s, len); n > 0;
         n = vx__js_space_len(s, len)) {
        s += n;
        len -= n;
    }
    for (size_t n = js_space_len_back(s, len); n > 0;
         n = js_space_len_back(s, len))
        len -= n;
    *out_len = len;
    return s;
}

static int digit_val(char c, int base)
{
    int v;
    if (c >= '0' && c <= '9')
        v = c - '0';
    else if (c >= 'a' && c <= 'z')
        v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'Z')
        v = c - 'A' + 10;
    else
        return -1;
    return v < base ? v : -1;
}

/* StrUnsignedDecimalLiteral: Infinity | digits [. digits] [e [+-] digits]
 * | . digits [exp]. Returns true when s[0..len) is exactly one. */
static bool is_decimal_literal(const char *s, size_t len)
{
    size_t i = 0, int_digits = 0, frac_digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        int_digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            frac_digits++;
        }
    }
    if (int_digits + frac_digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp_digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            exp_digits++;
        }
        if (exp_digits == 0)
            return false;
    }
    return i == len;
}

double vx__js_number(const char *s, size_t len)
{
    /* Fast path: 1-15 plain digits (exact in a double), the common case. */
    if (len > 0 && len <= 15) {
        uint64_t v = 0;
        size_t i = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            v = v * 10 + (uint64_t)(s[i++] - '0');
        if (i == len)
            return (double)v;
    }
    s = vx__js_trim(s, len, &len);
    if (len == 0)
        return 0.0;
    if (len > 2 && s[0] == '0') {
        int base = 0;
        switch (s[1]) {
        case 'x':
        case 'X': base = 16; break;
        case 'o':
        case 'O': base = 8; break;
        case 'b':
        case 'B': base = 2; break;
        }
        if (base) {
            for (size_t i = 2; i < len; i++) {
                if (digit_val(s[i], base) < 0)
                    return NAN;
            }
            if (base == 16 && len < 512) {
                /* strtod rounds a hex literal once, correctly, as V8 does */
                char buf[512];
                memcpy(buf, s, len);
                buf[len] = '\0';
                return strtod(buf, NULL);
            }
            /* Octal and binary: exact while the value fits 64 bits. */
            uint64_t v = 0;
            double d = 0;
            bool exact = true;
            for (size_t i = 2; i < len; i++) {
                uint64_t dv = (uint64_t)digit_val(s[i], base);
                if (exact && v > (UINT64_MAX - dv) / (uint64_t)base)
                    exact = false;
                if (exact)
                    v = v * (uint64_t)base + dv;
                d = d * base + (double)dv;
            }
            return exact ? (double)v : d;
        }
    }
    bool neg = false;
    const char *b = s;
    size_t blen = len;
    if (b[0] == '+' || b[0] == '-') {
        neg = b[0] == '-';
        b++;
        blen--;
    }
    if (blen == 8 && memcmp(b, "Infinity", 8) == 0)
        return neg ? -INFINITY : INFINITY;
    if (!is_decimal_literal(b, blen))
        return NAN;
    char buf[512];
    if (len >= sizeof(buf))
        return NAN; /* longer than any number anyone writes; documented */
    memcpy(buf, s, len);
    buf[len] = '\0';
    return strtod(buf, NULL); /* the C locale: Vexil never calls setlocale */
}

static inline unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool eq_n(const char *a, const char *b, size_t n, bool f)
{
    if (!f)
        return n == 0 || memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++) {
        if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
            return false;
    }
    return true;
}

bool vx__ascii_starts_with(const char *s, size_t slen, const char *pre,
                           size_t plen, bool f)
{
    return plen <= slen && eq_n(s, pre, plen, f);
}

bool vx__ascii_ends_with(const char *s, size_t slen, const char *suf,
                         size_t sflen, bool f)
{
    return sflen <= slen && eq_n(s + slen - sflen, suf, sflen, f);
}

bool vx__ascii_contains(const char *s, size_t slen, const char *needle,
                        size_t nlen, bool f)
{
    if (nlen == 0)
        return true;
    if (nlen > slen)
        return false;
    if (!f)
        return memmem(s, slen, needle, nlen) != NULL;
    for (size_t i = 0; i + nlen <= slen; i++) {
        if (eq_n(s + i, needle, nlen, true))
            return true;
    }
    return false;
}
