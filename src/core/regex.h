/* REGEX constraints: RE2 syntax and meaning on top of PCRE2.
 *
 * Patterns are compiled once, at load time. Constructs RE2 does not have
 * (look-around, back-references, atomic groups, possessive quantifiers,
 * recursion, conditionals, \K, \G, \Z) are refused, so such a constraint is
 * false, exactly as in the SDKs where RE2 fails to compile it. */
#ifndef VX_CORE_REGEX_H
#define VX_CORE_REGEX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct vx__regex vx__regex;
typedef struct vx_scratch vx_scratch;

/* Compiles `pat` (caseless when `ci`). NULL when it does not compile or is
 * not RE2 syntax; `*oom` is set when the failure was out of memory. */
vx__regex *vx__regex_compile(const char *pat, size_t len, bool ci, bool *oom);
void vx__regex_free(vx__regex *re);

/* Test hook: with `on` false, searches use PCRE2's interpreter even when
 * the pattern was JIT-compiled (the path platforms without JIT take). */
void vx__regex_set_jit(vx__regex *re, bool on);

/* Unanchored search. Uses `sc`'s match state, or a temporary scratch when
 * `sc` is NULL (that path allocates; the answers are the same). With a
 * scratch it never allocates. False on no match, on any match error, and
 * when the search reaches a cost limit (base/limits.h, "REGEX cost": steps,
 * backtracking depth and heap, JIT stack). */
bool vx__regex_search(const vx__regex *re, vx_scratch *sc, const char *s,
                      size_t len);

#endif
