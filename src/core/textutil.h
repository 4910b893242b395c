/* Text helpers with JavaScript's exact meaning, because the Unleash Node SDK
 * defines the semantics Vexil reproduces: String.prototype.trim's white
 * space, Number(string), ASCII case folding. Pure functions, no allocation. */
#ifndef VX_CORE_TEXTUTIL_H
#define VX_CORE_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Length in bytes of a JavaScript white-space or line-terminator code point
 * at s[0..len) (UTF-8), or 0 when there is none. */
size_t vx__js_space_len(const char *s, size_t len);

/* Trims JavaScript white space from both ends: returns the new start and
 * stores the new length. */
const char *vx__js_trim(const char *s, size_t len, size_t *out_len);

/* JavaScript's Number(s) for a string: NaN when it is not a number. */
double vx__js_number(const char *s, size_t len);

/* memcmp(a, b, n) == 0 without a call or a per-byte branch for n <= 16:
 * two overlapping loads cover every byte. */
static inline bool vx__bytes_eq(const char *a, const char *b, size_t n)
{
    if (n > 16)
        return memcmp(a, b, n) == 0;
    if (n >= 8) {
        uint64_t a0, b0, a1, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4) {
        uint32_t a0, b0, a1, b1;
        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n == 0)
        return true;
    return ((a[0] ^ b[0]) | (a[n / 2] ^ b[n / 2]) | (a[n - 1] ^ b[n - 1])) == 0;
}

/* Byte-wise equality (inline: it is on every evaluation's path). */
static inline bool vx__str_eq(const char *a, size_t alen, const char *b,
                              size_t blen)
{
    return alen == blen && vx__bytes_eq(a, b, alen);
}

/* A summary of a string: the low 16 bits of its length, its first and its
 * last byte. Equal strings have equal keys, so a list scan compares keys
 * and touches the bytes only for the rare candidate. */
static inline uint32_t vx__str_key(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    return (uint32_t)(len & 0xffff) << 16 | (uint32_t)(uint8_t)s[0] << 8 |
           (uint8_t)s[len - 1];
}

/* ASCII case-insensitive helpers. */
bool vx__ascii_starts_with(const char *s, size_t slen, const char *pre,
                           size_t plen, bool fold);
bool vx__ascii_ends_with(const char *s, size_t slen, const char *suf,
                         size_t sflen, bool fold);
bool vx__ascii_contains(const char *s, size_t slen, const char *needle,
                        size_t nlen, bool fold);

#endif
