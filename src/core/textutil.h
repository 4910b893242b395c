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

/* Byte-wise equality (inline: it is on every evaluation's path). */
static inline bool vx__str_eq(const char *a, size_t alen, const char *b,
                              size_t blen)
{
    return alen == blen &&
           (alen == 0 || (a[0] == b[0] && memcmp(a, b, alen) == 0));
}

/* ASCII case-insensitive helpers. */
bool vx__ascii_starts_with(const char *s, size_t slen, const char *pre,
                           size_t plen, bool fold);
bool vx__ascii_ends_with(const char *s, size_t slen, const char *suf,
                         size_t sflen, bool fold);
bool vx__ascii_contains(const char *s, size_t slen, const char *needle,
                        size_t nlen, bool fold);

#endif
