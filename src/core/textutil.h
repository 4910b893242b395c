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

/* A string's tag: its length (capped at 255) in the top byte and its
 * first 7 bytes below, zero-padded. Equal strings have equal tags, and for
 * strings shorter than 8 bytes equal tags mean equal strings, so a list
 * scan compares tags and touches the bytes only for a long candidate.
 * Loads stay inside s[0..len). */
static inline uint64_t vx__str_tag(const char *s, size_t len)
{
    uint64_t h = 0;
    if (len >= 8) {
        memcpy(&h, s, 8);
        h &= 0x00ffffffffffffffull;
    } else if (len >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + len - 4, 4);
        h = lo | (uint64_t)hi << (8 * (len - 4));
    } else if (len > 0) {
        h = (uint64_t)(uint8_t)s[0] |
            (uint64_t)(uint8_t)s[len / 2] << (8 * (len / 2)) |
            (uint64_t)(uint8_t)s[len - 1] << (8 * (len - 1));
    }
    return h | (uint64_t)(len < 255 ? len : 255) << 56;
}

/* Equality of `b` with a string whose tag is `tag_a`, given b's tag. */
static inline bool vx__tagged_eq(uint64_t tag_a, const char *a, size_t alen,
                                 uint64_t tag_b, const char *b, size_t blen)
{
    return tag_a == tag_b && (alen < 8 || vx__str_eq(a, alen, b, blen));
}

/* ASCII case-insensitive helpers. */
bool vx__ascii_starts_with(const char *s, size_t slen, const char *pre,
                           size_t plen, bool fold);
bool vx__ascii_ends_with(const char *s, size_t slen, const char *suf,
                         size_t sflen, bool fold);
bool vx__ascii_contains(const char *s, size_t slen, const char *needle,
                        size_t nlen, bool fold);

#endif
