/* Shared by the libvexil fuzz targets: a deterministic random source, the
 * fixed evaluation contexts, and checkers that evaluate every flag of a
 * snapshot through each public entry point and abort when an API invariant
 * does not hold (so libFuzzer records the input as a crash).
 *
 * Invariants checked: index and name lookups agree; by-index and by-name
 * evaluation agree, with and without a scratch; a variant answer is
 * self-consistent; evaluation makes no vx__malloc call (STYLE rule 7).
 * Header-only and all `static`, so each target stays one translation unit. */
#ifndef VX_FUZZ_COMMON_H
#define VX_FUZZ_COMMON_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "vexil/vexil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* abort() with the failed condition: libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Process setup for every target, from LLVMFuzzerInitialize. Returns the
 * scratch for the one fuzzing thread.
 *
 * With VX_FUZZ_JANSSON_OOM=1 in the environment, jansson allocates through
 * Vexil's allocator (as in tests/unit/core/test_oom.c), so the allocation
 * budgets reach the JSON parser too. It is off by default because jansson
 * 2.14 then aborts on an assertion in its lexer (crashes/README.md, #3),
 * which would hide everything else. */
static inline vx_scratch *fuzz_init(void)
{
    const char *j = getenv("VX_FUZZ_JANSSON_OOM");
    if (j && strcmp(j, "1") == 0)
        json_set_alloc_funcs(vx__malloc, vx__free);
    vx_scratch *sc = vx_scratch_new();
    FUZZ_CHECK(sc != NULL);
    return sc;
}

/* ---- randomness ------------------------------------------------------- */

/* The state every fixed context's `random` reads; reset before each call so
 * that two evaluations of one flag see the same draws. */
static uint64_t fuzz_rng_state;

#define FUZZ_RNG_SEED 0x9e3779b97f4a7c15ull

static inline void fuzz_rng_reset(void)
{
    fuzz_rng_state = FUZZ_RNG_SEED;
}

/* splitmix64: any uint32_t, as vx_random_fn allows. */
static inline uint32_t fuzz_random(void *ud)
{
    uint64_t *st = ud;
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* FNV-1a, for digests and for deriving choices from an input. */
static inline uint64_t fuzz_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *u = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ u[i]) * 0x100000001b3ull;
    return h;
}

#define FUZZ_HASH_INIT 0xcbf29ce484222325ull

/* ---- fixed contexts --------------------------------------------------- */

#define VS(lit) ((vx_str){lit, sizeof(lit) - 1})

static const vx_prop FUZZ_PROPS_A[] = {
    {VS("customField"), VS("some-string-is-cool")},
    {VS("version"), VS("1.2.3-beta.2")},
    {VS("country"), VS("NO")},
    {VS("age"), VS("42")},
    {VS("score"), VS(" 2.5 ")},
    {VS("email"), VS("jane.doe@example.com")},
    {VS("tenant"), VS("acme")},
    {VS("clientIp"), VS("10.1.2.3")},
};

static const vx_prop FUZZ_PROPS_C[] = {
    {VS("userId"), VS("shadowed-by-top-level")},
    {VS("customField"), VS("\xff\xfe not utf-8 \xc3")},
    {VS("customField"), VS("second with same key")},
    {VS("version"), VS("v1.2.3")},
    {VS("age"), VS("0x1F")},
    {VS("score"), VS("0o777777777777777777777777")},
    {VS("missing"), {NULL, 0}},
    {VS(""), VS("empty key")},
    {VS("email"), VS("")},
    {VS("clientIp"), VS("::ffff:10.0.0.1")},
    {VS("tenant"), VS("\xc2\xa0 acme \xe3\x80\x80")},
};

/* Three contexts: a full one, an empty one, an odd one. The random source
 * and now_ms are set per context; the caller may add its own contexts. */
static const vx_context FUZZ_CONTEXTS[] = {
    {
        .user_id = VS("123"),
        .session_id = VS("s-1"),
        .remote_address = VS("192.168.1.10"),
        .environment = VS("production"),
        .app_name = VS("web"),
        .current_time = VS("2024-05-01T10:00:00Z"),
        .now_ms = 1714557600000,
        .props = FUZZ_PROPS_A,
        .nprops = sizeof(FUZZ_PROPS_A) / sizeof(FUZZ_PROPS_A[0]),
        .random = fuzz_random,
        .random_ud = &fuzz_rng_state,
        .hostname = VS("Host-A"),
    },
    {
        .now_ms = VX_TIME_INVALID,
        .random = fuzz_random,
        .random_ud = &fuzz_rng_state,
    },
    {
        .user_id = VS(""),
        .session_id = VS("\x00sess\x00"),
        .remote_address = VS("2001:db8::1"),
        .environment = VS("staging"),
        .app_name = VS("MOBILE"),
        .now_ms = INT64_MAX,
        .props = FUZZ_PROPS_C,
        .nprops = sizeof(FUZZ_PROPS_C) / sizeof(FUZZ_PROPS_C[0]),
        .hostname = VS("web-1"),
    },
};

#define FUZZ_NCONTEXTS (sizeof(FUZZ_CONTEXTS) / sizeof(FUZZ_CONTEXTS[0]))

/* ---- checks ------------------------------------------------------------ */

/* Fills an output record with garbage before a call, so that a field the
 * call forgets to set is caught (stale stack contents could pass). */
#define FUZZ_POISON(x) memset(&(x), 0xA5, sizeof(x))

/* What an output pointer holds before a call that must set it. */
#define FUZZ_BAD_PTR ((void *)(uintptr_t)0xA5A5A5A5A5A5A5A5ull)

static volatile uint64_t fuzz_sink; /* keeps byte reads from being elided */

/* Reads every byte of `s` (so ASan sees a dangling or short string) and
 * folds it into `h`. */
static inline uint64_t fuzz_touch(uint64_t h, vx_str s)
{
    uint64_t present = s.ptr != NULL;
    h = fuzz_hash(h, &present, sizeof(present));
    if (s.ptr)
        h = fuzz_hash(h, s.ptr, s.len);
    h = fuzz_hash(h, &s.len, sizeof(s.len));
    fuzz_sink += h;
    return h;
}

static inline bool fuzz_str_eq(vx_str a, vx_str b)
{
    if ((a.ptr == NULL) != (b.ptr == NULL) || a.len != b.len)
        return false;
    return a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0;
}

static inline void fuzz_check_variant(const vx_variant *v)
{
    FUZZ_CHECK(v->name.ptr != NULL);
    if (v->enabled)
        FUZZ_CHECK(v->feature_enabled);
    if (!v->enabled) {
        FUZZ_CHECK(fuzz_str_eq(v->name, VS("disabled")));
        FUZZ_CHECK(v->payload_type.ptr == NULL);
        FUZZ_CHECK(v->payload_value.ptr == NULL);
    }
    FUZZ_CHECK((v->payload_type.ptr == NULL) == (v->payload_value.ptr == NULL));
}

static inline bool fuzz_variant_eq(const vx_variant *a, const vx_variant *b)
{
    return a->enabled == b->enabled &&
           a->feature_enabled == b->feature_enabled &&
           fuzz_str_eq(a->name, b->name) &&
           fuzz_str_eq(a->payload_type, b->payload_type) &&
           fuzz_str_eq(a->payload_value, b->payload_value);
}

static inline uint64_t fuzz_variant_digest(uint64_t h, const vx_variant *v)
{
    unsigned char bits[2] = {v->enabled, v->feature_enabled};
    h = fuzz_hash(h, bits, sizeof(bits));
    h = fuzz_touch(h, v->name);
    h = fuzz_touch(h, v->payload_type);
    return fuzz_touch(h, v->payload_value);
}

/* Allocations made by evaluations without a scratch (allowed: each REGEX
 * search then sets up a temporary scratch and frees it). */
static uint64_t fuzz_unscratched_allocs;

/* Evaluates flag `i` under `ctx` four ways (index/name x is_enabled/
 * get_variant, the name calls without a scratch) and checks they agree.
 * Returns a digest of the answer. */
static inline uint64_t fuzz_check_one(const vx_snapshot *s, vx_scratch *sc,
                                      size_t i, vx_str name,
                                      const vx_context *ctx, uint64_t h)
{
    vx_variant va, vn;
    FUZZ_POISON(va);
    FUZZ_POISON(vn);
    fuzz_rng_reset();
    bool on = vx_is_enabled_at(s, sc, i, ctx);
    fuzz_rng_reset();
    /* Without a scratch a REGEX search sets up a temporary one (the API's
     * contract); those allocations are set apart from the count that must
     * stay flat (fuzz_check_all). */
    uint64_t a0 = vx__alloc_count();
    bool on_name = vx_is_enabled(s, NULL, name.ptr, name.len, ctx);
    fuzz_rng_reset();
    fuzz_unscratched_allocs += vx__alloc_count() - a0;
    vx_get_variant_at(s, sc, i, ctx, &va);
    fuzz_rng_reset();
    a0 = vx__alloc_count();
    vx_get_variant(s, NULL, name.ptr, name.len, ctx, &vn);
    fuzz_unscratched_allocs += vx__alloc_count() - a0;
    FUZZ_CHECK(on == on_name);
    fuzz_check_variant(&va);
    FUZZ_CHECK(va.feature_enabled == on);
    FUZZ_CHECK(fuzz_variant_eq(&va, &vn));
    unsigned char b = on;
    h = fuzz_hash(h, &b, 1);
    return fuzz_variant_digest(h, &va);
}

/* Checks flag `i` of `s` under every context in ctxs[0..n): the name and
 * index lookups, the four evaluations. Returns a digest of the answers that
 * depends only on the flag's behaviour, not on its index. */
static inline uint64_t fuzz_check_flag(const vx_snapshot *s, vx_scratch *sc,
                                       size_t i, const vx_context *ctxs,
                                       size_t n)
{
    vx_str name = vx_snapshot_flag_name(s, i);
    FUZZ_CHECK(name.ptr != NULL);
    fuzz_touch(0, name);
    FUZZ_CHECK(vx_snapshot_flag_index(s, name.ptr, name.len) == (int64_t)i);
    uint64_t h = FUZZ_HASH_INIT;
    for (size_t c = 0; c < n; c++)
        h = fuzz_check_one(s, sc, i, name, &ctxs[c], h);
    return h;
}

/* A name not necessarily in `s`: the lookup either misses or finds a flag
 * of exactly that name, and evaluation by name matches evaluation by the
 * index found. */
static inline void fuzz_check_lookup(const vx_snapshot *s, vx_scratch *sc,
                                     const char *name, size_t len,
                                     const vx_context *ctx)
{
    int64_t idx = vx_snapshot_flag_index(s, name, len);
    FUZZ_CHECK(idx >= -1 && idx < (int64_t)vx_snapshot_flag_count(s));
    vx_variant v;
    FUZZ_POISON(v);
    fuzz_rng_reset();
    bool on = vx_is_enabled(s, sc, name, len, ctx);
    fuzz_rng_reset();
    vx_get_variant(s, sc, name, len, ctx, &v);
    fuzz_check_variant(&v);
    if (idx < 0) {
        FUZZ_CHECK(!on && !v.feature_enabled && !v.enabled);
        return;
    }
    vx_str got = vx_snapshot_flag_name(s, (size_t)idx);
    FUZZ_CHECK(fuzz_str_eq(got, (vx_str){name, len}));
    fuzz_rng_reset();
    FUZZ_CHECK(vx_is_enabled_at(s, sc, (size_t)idx, ctx) == on);
}

/* Evaluates every flag of `s` under ctxs[0..n) and checks the invariants,
 * including out-of-range indexes and near-miss names. Returns a digest of
 * the whole snapshot's behaviour in document order. */
static inline uint64_t fuzz_check_all(const vx_snapshot *s, vx_scratch *sc,
                                      const vx_context *ctxs, size_t n)
{
    uint64_t allocs = vx__alloc_count();
    uint64_t unscratched = fuzz_unscratched_allocs;
    size_t count = vx_snapshot_flag_count(s);
    uint64_t h = FUZZ_HASH_INIT;
    for (size_t i = 0; i < count; i++) {
        uint64_t d = fuzz_check_flag(s, sc, i, ctxs, n);
        h = fuzz_hash(h, &d, sizeof(d));
        /* A near-miss name: the flag's name plus one byte, and minus one. */
        vx_str name = vx_snapshot_flag_name(s, i);
        char buf[64];
        if (name.len + 1 <= sizeof(buf)) {
            if (name.len)
                memcpy(buf, name.ptr, name.len);
            buf[name.len] = 'x';
            fuzz_check_lookup(s, sc, buf, name.len + 1, &ctxs[0]);
            if (name.len)
                fuzz_check_lookup(s, sc, buf, name.len - 1, &ctxs[0]);
        }
    }
    /* Out of range: an unknown flag. */
    FUZZ_CHECK(vx_snapshot_flag_name(s, count).ptr == NULL);
    for (size_t c = 0; c < n; c++) {
        vx_variant v;
        FUZZ_POISON(v);
        FUZZ_CHECK(!vx_is_enabled_at(s, sc, count, &ctxs[c]));
        vx_get_variant_at(s, sc, count, &ctxs[c], &v);
        fuzz_check_variant(&v);
        FUZZ_CHECK(!v.enabled && !v.feature_enabled);
    }
    fuzz_check_lookup(s, sc, "", 0, &ctxs[0]);
    /* With a scratch, evaluation never allocates. */
    FUZZ_CHECK(vx__alloc_count() - allocs ==
               fuzz_unscratched_allocs - unscratched);
    return h;
}

/* Checks that `a` and `b` hold the same flags (by name, in any order) that
 * behave the same under ctxs[0..n). */
static inline void fuzz_check_same(const vx_snapshot *a, const vx_snapshot *b,
                                   vx_scratch *sc, const vx_context *ctxs,
                                   size_t n)
{
    size_t count = vx_snapshot_flag_count(a);
    FUZZ_CHECK(vx_snapshot_flag_count(b) == count);
    for (size_t i = 0; i < count; i++) {
        vx_str name = vx_snapshot_flag_name(a, i);
        int64_t j = vx_snapshot_flag_index(b, name.ptr, name.len);
        FUZZ_CHECK(j >= 0);
        uint64_t da = fuzz_check_flag(a, sc, i, ctxs, n);
        uint64_t db = fuzz_check_flag(b, sc, (size_t)j, ctxs, n);
        FUZZ_CHECK(da == db);
    }
}

/* After a failed load or delta: nothing produced, the error record filled
 * and terminated, the status one the API documents. */
static inline void fuzz_check_failure(vx_status st, const vx_snapshot *out,
                                      const vx_error *err)
{
    FUZZ_CHECK(out == NULL);
    FUZZ_CHECK(st == VX_EPARSE || st == VX_ESCHEMA || st == VX_ELIMIT ||
               st == VX_ENOMEM);
    FUZZ_CHECK(err->code == st);
    FUZZ_CHECK(memchr(err->path, '\0', sizeof(err->path)) != NULL);
    FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
    FUZZ_CHECK(err->path[0] == '\0' || err->path[0] == '/');
    FUZZ_CHECK(err->message[0] != '\0');
    FUZZ_CHECK(err->line >= 1 && err->column >= 1);
    FUZZ_CHECK(strcmp(vx_status_name(st), "") != 0);
}

/* The embedded documents are written with ' for " so that they stay
 * readable as C literals (none of them contains an apostrophe). Returns a
 * heap copy with the quotes swapped, NUL-terminated; the caller frees it. */
static inline char *fuzz_json_from_squote(const char *src, size_t *len)
{
    size_t n = strlen(src);
    char *p = malloc(n + 1);
    FUZZ_CHECK(p != NULL);
    for (size_t i = 0; i <= n; i++)
        p[i] = src[i] == '\'' ? '"' : src[i];
    *len = n;
    return p;
}

/* Loads an embedded document that must be valid. */
static inline vx_snapshot *fuzz_load_fixed(const char *squoted)
{
    size_t len;
    char *json = fuzz_json_from_squote(squoted, &len);
    vx_snapshot *s = NULL;
    vx_error err;
    FUZZ_POISON(err);
    vx_status st = vx_snapshot_load(json, len, NULL, &s, &err);
    if (st != VX_OK) {
        fprintf(stderr, "embedded document: %s at %s (%u:%u): %s\n",
                vx_status_name(st), err.path, err.line, err.column,
                err.message);
        abort();
    }
    free(json);
    return s;
}

/* A warning callback that checks its arguments and counts. */
static inline void fuzz_warn(void *ud, const char *path, uint32_t line,
                             uint32_t column, const char *message)
{
    FUZZ_CHECK(path != NULL && message != NULL);
    FUZZ_CHECK(path[0] == '\0' || path[0] == '/');
    FUZZ_CHECK(strlen(path) < VX_ERROR_PATH_MAX);
    FUZZ_CHECK(strlen(message) < VX_ERROR_MSG_MAX);
    FUZZ_CHECK(line >= 1 && column >= 1);
    (*(size_t *)ud)++;
}

#endif
