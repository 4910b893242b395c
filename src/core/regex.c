/* PCRE2 configured for RE2 semantics: UTF mode, invalid UTF tolerated in the
 * subject, `$` only at the very end (PCRE2_DOLLAR_ENDONLY), JIT when the
 * platform has it.
 *
 * Bounded cost (base/limits.h, "REGEX cost"): patterns compile under a
 * length and nesting limit; a match runs under a step budget shared by all
 * start positions, a backtracking depth and heap limit (interpreter) and a
 * bounded JIT stack. A match that reaches any limit is "no match".
 *
 * Invariant: after vx_scratch_new, a match with that scratch makes no heap
 * allocation: its match context, JIT stack, match block and the memory the
 * interpreter keeps its backtracking frames in (two slots of the heap limit,
 * handed out by pool_alloc) all exist already. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/regex.h"

#include <pcre2.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "vexil/vexil.h"

struct vx__regex {
    pcre2_code *code;   /* compiled pattern, immutable after compile */
    uint32_t match_opt; /* PCRE2_NO_JIT after vx__regex_set_jit(false) */
    bool anchored;      /* can match only at the start (^, \A, (?s).*) */
};

#define FRAME_SLOTS 2 /* a frames block and the larger one replacing it */
#define SLOT_BYTES  ((size_t)VX_LIMIT_REGEX_HEAP_KIB * 1024)

struct vx_scratch {
    pcre2_general_context *gc; /* allocates through pool_alloc */
    pcre2_match_context *mc;   /* the limits, and the JIT stack */
    pcre2_jit_stack *jit;      /* NULL without JIT */
    pcre2_match_data *md;      /* reused by every match on this thread */
    unsigned char *pool;       /* FRAME_SLOTS x SLOT_BYTES */
    bool used[FRAME_SLOTS];    /* slot handed out to PCRE2 */
    bool ready;                /* set up: no vx__malloc from here on */
};

static_assert(VX_LIMIT_REGEX_HEAP_KIB >= 20,
              "PCRE2's first frames block (20 KiB) fits a slot");

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
    if (len > VX_LIMIT_REGEX_BYTES)
        return NULL; /* the loader refuses it before: VX_ELIMIT */
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        *oom = true;
        return NULL;
    }
    pcre2_set_max_pattern_length(cc, VX_LIMIT_REGEX_BYTES);
    pcre2_set_parens_nest_limit(cc, VX_LIMIT_REGEX_NEST);
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)pat, len, opts, &errcode, &erroff, cc);
    pcre2_compile_context_free(cc);
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
    uint32_t all = 0;
    pcre2_pattern_info(code, PCRE2_INFO_ALLOPTIONS, &all);
    re->code = code;
    re->match_opt = 0;
    re->anchored = (all & PCRE2_ANCHORED) != 0;
    return re;
}

void vx__regex_set_jit(vx__regex *re, bool on)
{
    re->match_opt = on ? 0 : PCRE2_NO_JIT;
}

void vx__regex_free(vx__regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    vx__free(re);
}

/* The general context's allocator. While the scratch is being set up it
 * is vx__malloc; afterwards only the interpreter's backtracking frames ask
 * for memory, and get a free slot of the pool (PCRE2 allocates the larger
 * block before it frees the smaller one, so two slots suffice). A request
 * past the heap limit cannot come (PCRE2 checks the limit first); if one
 * did, NULL makes the match fail with PCRE2_ERROR_NOMEMORY: no match. */
static void *pool_alloc(PCRE2_SIZE n, void *ud)
{
    vx_scratch *sc = ud;
    if (!sc->ready)
        return vx__malloc(n);
    for (int i = 0; i < FRAME_SLOTS; i++) {
        if (!sc->used[i] && n <= SLOT_BYTES) {
            sc->used[i] = true;
            return sc->pool + (size_t)i * SLOT_BYTES;
        }
    }
    return NULL;
}

static void pool_free(void *p, void *ud)
{
    vx_scratch *sc = ud;
    unsigned char *b = p;
    if (sc->pool && b >= sc->pool && b < sc->pool + FRAME_SLOTS * SLOT_BYTES) {
        sc->used[(size_t)(b - sc->pool) / SLOT_BYTES] = false;
        return;
    }
    vx__free(p);
}

/* The step budget of one pcre2_match call. PCRE2 counts steps per start
 * position (JIT and interpreter alike), so the budget of the whole search,
 * VX_LIMIT_REGEX_STEPS, is shared out over every position a match could
 * start at (one for an anchored pattern): the cost of a search is bounded
 * whatever the subject's length. */
static uint32_t step_limit(const vx__regex *re, size_t len)
{
    size_t per = (size_t)VX_LIMIT_REGEX_STEPS / (re->anchored ? 1 : len + 1);
    if (per > VX_LIMIT_REGEX_STEPS_PER_START)
        per = VX_LIMIT_REGEX_STEPS_PER_START;
    return per ? (uint32_t)per : 1;
}

bool vx__regex_search(const vx__regex *re, vx_scratch *sc, const char *s,
                      size_t len)
{
    vx_scratch *tmp = sc ? NULL : vx_scratch_new();
    vx_scratch *use = sc ? sc : tmp;
    if (!use)
        return false;
    pcre2_set_match_limit(use->mc, step_limit(re, len));
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(s ? s : ""), len, 0,
                         re->match_opt, use->md, use->mc);
    vx_scratch_free(tmp);
    return rc >= 0; /* no match, a limit reached, any error: no match */
}

VX_API vx_scratch *vx_scratch_new(void)
{
    vx_scratch *sc = vx__calloc(1, sizeof(*sc));
    if (!sc)
        return NULL;
    sc->gc = pcre2_general_context_create(pool_alloc, pool_free, sc);
    sc->mc = sc->gc ? pcre2_match_context_create(sc->gc) : NULL;
    /* One ovector pair is enough: Vexil only asks "is there a match". */
    sc->md = sc->gc ? pcre2_match_data_create(1, sc->gc) : NULL;
    sc->pool = vx__malloc(FRAME_SLOTS * SLOT_BYTES);
    if (!sc->mc || !sc->md || !sc->pool) {
        vx_scratch_free(sc);
        return NULL;
    }
    uint32_t jit = 0;
    if (pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit) {
        sc->jit = pcre2_jit_stack_create(VX_LIMIT_REGEX_JIT_STACK_START,
                                         VX_LIMIT_REGEX_JIT_STACK, sc->gc);
        if (!sc->jit) {
            vx_scratch_free(sc);
            return NULL;
        }
        pcre2_jit_stack_assign(sc->mc, NULL, sc->jit);
    }
    pcre2_set_depth_limit(sc->mc, VX_LIMIT_REGEX_DEPTH);
    pcre2_set_heap_limit(sc->mc, VX_LIMIT_REGEX_HEAP_KIB);
    sc->ready = true;
    return sc;
}

VX_API void vx_scratch_free(vx_scratch *sc)
{
    if (!sc)
        return;
    /* Each of these frees through pool_free, which still needs `sc`. */
    pcre2_match_data_free(sc->md);
    pcre2_jit_stack_free(sc->jit);
    pcre2_match_context_free(sc->mc);
    pcre2_general_context_free(sc->gc);
    vx__free(sc->pool);
    vx__free(sc);
}
