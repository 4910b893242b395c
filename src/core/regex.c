/* PCRE2 configured for RE2 semantics: UTF mode, invalid UTF tolerated in the
 * subject, `$` only at the very end (PCRE2_DOLLAR_ENDONLY), JIT when the
 * platform has it. The scratch holds a reusable match-data block so that a
 * match does not allocate after the first use on a thread. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/regex.h"

#include <pcre2.h>
#include <string.h>

#include "base/alloc.h"
#include "vexil/vexil.h"

struct vx__regex {
    pcre2_code *code; /* compiled pattern, immutable after compile */
};

struct vx_scratch {
    pcre2_match_data *md; /* reused by every match on this thread */
};

/* Escapes RE2 knows after a backslash, besides punctuation: \a \f \t \n
 * \r \v, \x (hex), \0 (octal), the classes \d \s \w and their negations,
 * \p and \P (Unicode classes), and outside classes \b \B \A \z \C \Q. */
static bool re2_escape_ok(char e, bool in_class)
{
    if (!((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
          (e >= '0' && e <= '9')))
        return true; /* escaped punctuation */
    if (strchr("aftnrvxdDsSwWpP0", e))
        return true;
    return !in_class && strchr("bBAzCQ", e);
}

/* Length of the `{...}` after \p, \P or \x at p[i] (0 when none). */
static size_t brace_len(const char *p, size_t len, size_t i)
{
    if (i >= len || p[i] != '{')
        return 0;
    const char *end = memchr(p + i, '}', len - i);
    return end ? (size_t)(end - (p + i)) + 1 : 0;
}

/* Returns true when the pattern uses syntax RE2 lacks (look-around,
 * back-references, atomic groups, possessive quantifiers, recursion,
 * conditionals, comments, verbs, unknown escapes or inline flags). Text
 * inside \Q...\E and character classes is scanned with their own rules. */
static bool uses_non_re2_syntax(const char *p, size_t len)
{
    bool in_class = false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\\') {
            if (i + 1 >= len)
                return false; /* PCRE2 rejects it anyway */
            char e = p[i + 1];
            if (!re2_escape_ok(e, in_class))
                return true;
            i++;
            if (e == 'p' || e == 'P' || e == 'x')
                i += brace_len(p, len, i + 1);
            if (e == 'Q') { /* literal text up to \E */
                const char *q = p + i + 1;
                const char *end = NULL;
                for (size_t k = 0; q + k + 1 < p + len; k++) {
                    if (q[k] == '\\' && q[k + 1] == 'E') {
                        end = q + k;
                        break;
                    }
                }
                i = end ? (size_t)(end - p) + 1 : len;
            }
            continue;
        }
        if (in_class) {
            if (c == '[' && i + 1 < len && p[i + 1] == ':') {
                const char *end = memchr(p + i + 2, ']', len - i - 2);
                if (end)
                    i = (size_t)(end - p);
            } else if (c == ']') {
                in_class = false;
            }
            continue;
        }
        if (c == '[') {
            in_class = true;
            if (i + 1 < len && p[i + 1] == '^')
                i++;
            if (i + 1 < len && p[i + 1] == ']')
                i++; /* a leading ']' is a literal */
            continue;
        }
        if (c == '(' && i + 1 < len && p[i + 1] == '*')
            return true; /* (*VERB) */
        if (c == '(' && i + 2 < len && p[i + 1] == '?') {
            char q = p[i + 2];
            if (q == '=' || q == '!' || q == '>' || q == '(' || q == 'R' ||
                q == '&' || q == '|' || q == 'C' || q == '+' || q == '#' ||
                q == '^' || (q >= '0' && q <= '9'))
                return true;
            if (q == '<' && i + 3 < len && (p[i + 3] == '=' || p[i + 3] == '!'))
                return true;
            if (q == 'P' && i + 3 < len && (p[i + 3] == '>' || p[i + 3] == '='))
                return true;
            if (q == '-' && i + 3 < len && p[i + 3] >= '0' && p[i + 3] <= '9')
                return true;
            if (q == '-' || (q >= 'a' && q <= 'z') ||
                (q >= 'A' && q <= 'Z' && q != 'P')) {
                /* Inline flags: RE2 knows only i, m, s and U. */
                for (size_t j = i + 2; j < len && p[j] != ')' && p[j] != ':';
                     j++) {
                    if (!strchr("imsU-", p[j]))
                        return true;
                }
            }
        }
        if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < len &&
            p[i + 1] == '+')
            return true; /* possessive quantifier */
    }
    return false;
}

vx__regex *vx__regex_compile(const char *pat, size_t len, bool ci, bool *oom)
{
    *oom = false;
    if (uses_non_re2_syntax(pat, len))
        return NULL;
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    if (ci)
        opts |= PCRE2_CASELESS;
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)pat, len, opts, &errcode, &erroff, NULL);
    if (!code) {
        *oom = errcode == PCRE2_ERROR_NOMEMORY;
        return NULL;
    }
    uint32_t backrefs = 0;
    pcre2_pattern_info(code, PCRE2_INFO_BACKREFMAX, &backrefs);
    if (backrefs > 0) {
        pcre2_code_free(code);
        return NULL;
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional speed-up */
    vx__regex *re = vx__malloc(sizeof(*re));
    if (!re) {
        pcre2_code_free(code);
        *oom = true;
        return NULL;
    }
    re->code = code;
    return re;
}

void vx__regex_free(vx__regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    vx__free(re);
}

bool vx__regex_search(const vx__regex *re, vx_scratch *sc, const char *s,
                      size_t len)
{
    pcre2_match_data *md = sc ? sc->md : pcre2_match_data_create(1, NULL);
    if (!md)
        return false;
    int rc =
        pcre2_match(re->code, (PCRE2_SPTR)(s ? s : ""), len, 0, 0, md, NULL);
    if (!sc)
        pcre2_match_data_free(md);
    return rc >= 0;
}

VX_API vx_scratch *vx_scratch_new(void)
{
    vx_scratch *sc = vx__malloc(sizeof(*sc));
    if (!sc)
        return NULL;
    /* One ovector pair is enough: Vexil only asks "is there a match". */
    sc->md = pcre2_match_data_create(1, NULL);
    if (!sc->md) {
        vx__free(sc);
        return NULL;
    }
    return sc;
}

VX_API void vx_scratch_free(vx_scratch *sc)
{
    if (!sc)
        return;
    pcre2_match_data_free(sc->md);
    vx__free(sc);
}
