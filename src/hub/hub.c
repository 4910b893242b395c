/* The SDK hub: see hub.h. A state is built from the service's client
 * document off the request path (the hub's thread), published by swapping
 * one pointer under the hub lock, and read by any number of requests that
 * each hold a reference.
 *
 * Invariants: a published state never changes, except for its body cache
 * (guarded by its own mutex, append-only); `revision` only grows; a
 * subscriber's pending text never exceeds VX_LIMIT_SSE_QUEUE_BYTES (past
 * it the stream ends and the client reconnects with a hydration). */
#include "hub/hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <malloc.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"

#define ENV_NAME_MAX 128

/* ---- small helpers --------------------------------------------------------
 */

uint64_t hub_hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h ^= w;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h ^= w;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h;
}

static uint64_t fnv64(const void *p, size_t n, uint64_t seed)
{
    return hub_hash64(p, n, seed);
}
#define FNV_SEED 0xcbf29ce484222325ull

static double mono_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A growing byte buffer for building bodies (malloc'd; bounded). */
typedef struct sbuf {
    char *p;    /* bytes, NUL-terminated when ok */
    size_t len; /* used */
    size_t cap; /* allocated */
    bool fail;  /* out of memory or over the limit */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->fail)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > VX_LIMIT_DOC_BYTES) {
            b->fail = true;
            return;
        }
        char *q = vx__realloc(b->p, cap);
        if (!q) {
            b->fail = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_fmt(sbuf *b,
                                                         const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->fail = true;
        return;
    }
    sb_put(b, tmp, (size_t)n);
}

/* Appends `j` compact-encoded. */
static void sb_json(sbuf *b, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        b->fail = true;
        return;
    }
    sb_str(b, s);
    free(s);
}

/* ---- states ---------------------------------------------------------------
 */

typedef struct hub_seg {
    int64_t id;    /* segment id */
    char *text;    /* compact JSON */
    uint64_t hash; /* of text */
} hub_seg;

typedef struct cached_body {
    char *key;     /* the scope's key */
    hub_body body; /* plain */
    hub_body gz;   /* gzipped, bytes NULL until asked for */
} cached_body;

/* One flag's bytes (text, name, project, tags, facts) in one block, shared
 * by the states patched from the one that made it. */
typedef struct hub_rec {
    atomic_int refs; /* states holding it */
    char data[];     /* see rec_lay */
} hub_rec;

/* Where a staged flag's parts sit: offsets into its record's data. */
typedef struct rec_lay {
    size_t flag;          /* its index in the state's flags */
    size_t off, size;     /* the record's bytes in the state's stage */
    size_t name, project; /* NUL-terminated */
    size_t tags;          /* ntags "type\0value\0" pairs */
    size_t control;       /* NUL-terminated, or SIZE_MAX for none */
    size_t strategies;    /* [nstrategies] HUB_S_* bits */
    size_t overrides;     /* [overrides_len] packed */
} rec_lay;

struct hub_state {
    atomic_int refs;        /* references */
    char env[ENV_NAME_MAX]; /* environment */
    int64_t revision;       /* when this content was first published */
    vx_snapshot *snap;      /* compiled from the same flags */
    hub_flag *flags;        /* [nflags], document order */
    size_t nflags;          /* flags */
    size_t flags_cap;       /* allocated */
    int64_t *by_name;       /* open-addressing index into flags, -1 empty */
    size_t name_slots;      /* power of two */
    hub_seg *segs;          /* [nsegs] */
    size_t nsegs;           /* segments */
    uint64_t content;       /* order-free hash of everything served */
    const hub_state *base;  /* while patching: the state patched */
    int64_t *src;           /* while patching: flag i's index in base or
                               -1 (new), [nsrc] */
    size_t nsrc, src_cap;   /* used, allocated */
    sbuf stage;             /* while building: new flags' record bytes */
    rec_lay *lay;           /* while building: where they are, [nlay] */
    size_t nlay, lay_cap;   /* used, allocated */
    pthread_mutex_t mu;     /* guards bodies */
    cached_body bodies[VX_LIMIT_SDK_BODIES]; /* per scope */
    size_t nbodies;                          /* used */
};

static uint64_t name_hash(const char *s)
{
    return fnv64(s, strlen(s), FNV_SEED);
}

static void rec_release(hub_rec *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1)
        vx__free(r);
}

static void state_free(hub_state *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nbodies; i++) {
        vx__free(s->bodies[i].key);
        vx__free((char *)s->bodies[i].body.bytes);
        vx__free((char *)s->bodies[i].body.etag);
        vx__free((char *)s->bodies[i].gz.bytes);
        vx__free((char *)s->bodies[i].gz.etag);
    }
    for (size_t i = 0; s->segs && i < s->nsegs; i++)
        vx__free(s->segs[i].text);
    for (size_t i = 0; i < s->nflags; i++)
        rec_release(s->flags[i].rec);
    vx__free(s->src);
    vx__free(s->stage.p);
    vx__free(s->lay);
    vx__free(s->flags);
    vx__free(s->by_name);
    vx__free(s->segs);
    vx_snapshot_unref(s->snap);
    pthread_mutex_destroy(&s->mu);
    vx__free(s);
}

void hub_state_release(hub_state *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        state_free(s);
}

static hub_state *state_ref(hub_state *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

int64_t hub_state_revision(const hub_state *s)
{
    return s->revision;
}

const vx_snapshot *hub_state_snapshot(const hub_state *s)
{
    return s->snap;
}

size_t hub_state_flag_count(const hub_state *s)
{
    return s->nflags;
}

const hub_flag *hub_state_flag(const hub_state *s, size_t i)
{
    return i < s->nflags ? &s->flags[i] : NULL;
}

const hub_flag *hub_state_find(const hub_state *s, const char *name)
{
    if (!s->name_slots)
        return NULL;
    size_t mask = s->name_slots - 1;
    for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
        int64_t k = s->by_name[i];
        if (k < 0)
            return NULL;
        if (strcmp(s->flags[k].name, name) == 0)
            return &s->flags[k];
    }
}

static uint32_t rd32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

bool hub_flag_overridden(const hub_flag *f, size_t list, vx_str variant,
                         vx_str (*field)(const void *ud, const char *name),
                         const void *ud)
{
    /* Entries: list, variant name, context field, values; each string as
     * a 32-bit length, its bytes and a NUL. */
    const char *p = f->overrides;
    const char *end = p ? p + f->overrides_len : NULL;
    while (p && p < end) {
        uint32_t l = rd32(p);
        uint32_t nl = rd32(p + 4);
        const char *name = p + 8;
        p = name + nl + 1;
        uint32_t fl = rd32(p);
        const char *fname = p + 4;
        p = fname + fl + 1;
        uint32_t nv = rd32(p);
        p += 4;
        bool mine = l == list && variant.ptr && variant.len == nl &&
                    memcmp(variant.ptr, name, nl) == 0;
        vx_str val = mine ? field(ud, fname) : (vx_str){NULL, 0};
        for (uint32_t k = 0; k < nv; k++) {
            uint32_t vl = rd32(p);
            const char *v = p + 4;
            p = v + vl + 1;
            if (val.ptr && vl == val.len && memcmp(v, val.ptr, vl) == 0)
                return true;
        }
    }
    return false;
}

static hub_state *state_new(const char *env, int64_t revision)
{
    hub_state *s = vx__calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->env, sizeof(s->env), "%s", env);
    s->revision = revision;
    return s;
}

/* Remembers where flag nsrc came from (patches only). */
static bool note_src(hub_state *s, int64_t from)
{
    if (!s->base)
        return true;
    if (s->nsrc == s->src_cap) {
        size_t cap = s->src_cap ? s->src_cap * 2 : 1024;
        int64_t *p = vx__realloc(s->src, cap * sizeof(*p));
        if (!p)
            return false;
        s->src = p;
        s->src_cap = cap;
    }
    s->src[s->nsrc++] = from;
    return true;
}

/* Room for `n` flags in all. */
static bool flags_reserve(hub_state *s, size_t n)
{
    if (n <= s->flags_cap)
        return true;
    hub_flag *f = vx__realloc(s->flags, n * sizeof(*f));
    if (!f)
        return false;
    s->flags = f;
    s->flags_cap = n;
    return true;
}

/* Room for one more flag (zeroed) at s->flags[s->nflags]. */
static bool flags_grow(hub_state *s)
{
    if (s->nflags == s->flags_cap &&
        !flags_reserve(s, s->flags_cap ? s->flags_cap * 2 : 256))
        return false;
    memset(&s->flags[s->nflags], 0, sizeof(s->flags[0]));
    return true;
}

/* Room for one more staged flag (zeroed) at s->lay[s->nlay]. */
static bool lay_grow(hub_state *s)
{
    if (s->nlay == s->lay_cap) {
        size_t cap = s->lay_cap ? s->lay_cap * 2 : 16;
        rec_lay *l = vx__realloc(s->lay, cap * sizeof(*l));
        if (!l)
            return false;
        s->lay = l;
        s->lay_cap = cap;
    }
    memset(&s->lay[s->nlay], 0, sizeof(s->lay[0]));
    return true;
}

static void sb_u32(sbuf *b, uint32_t v)
{
    sb_put(b, (const char *)&v, sizeof(v));
}

/* A string as the override entries hold it: length, bytes, NUL. */
static void sb_lstr(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    sb_u32(b, (uint32_t)n);
    sb_put(b, s, n);
    sb_put(b, "", 1);
}

static bool nonempty(const json_t *o, const char *key)
{
    return json_array_size(json_object_get(o, key)) > 0;
}

/* A percentage parameter below 100: the rollout, not the context, decides.
 * Unleash sends parameters as strings or numbers. */
static bool partial(const json_t *params, const char *name)
{
    const json_t *p = json_object_get(params, name);
    double v = 100;
    if (json_is_number(p))
        v = json_number_value(p);
    else if (json_is_string(p))
        v = strtod(json_string_value(p), NULL);
    return v < 100;
}

/* Appends the overrides of variant list `variants` (list number `list`)
 * to `b`; `*multi` when more than one variant has weight. True when there
 * was any. */
static bool put_overrides(sbuf *b, const json_t *variants, uint32_t list,
                          bool *multi)
{
    size_t i, k, m, weighted = 0;
    const json_t *x, *o, *w;
    bool any = false;
    json_array_foreach (variants, i, x) {
        const json_t *wt = json_object_get(x, "weight");
        if (!wt || json_number_value(wt) > 0)
            weighted++;
        const char *name = json_string_value(json_object_get(x, "name"));
        if (!name)
            continue;
        json_array_foreach (json_object_get(x, "overrides"), k, o) {
            const char *field =
                json_string_value(json_object_get(o, "contextName"));
            if (!field)
                continue; /* names no field: never the caller */
            sb_u32(b, list);
            sb_lstr(b, name);
            sb_lstr(b, field);
            size_t at = b->len;
            uint32_t nv = 0;
            sb_u32(b, 0);
            json_array_foreach (json_object_get(o, "values"), m, w) {
                if (!json_is_string(w))
                    continue;
                sb_u32(b, (uint32_t)json_string_length(w));
                sb_put(b, json_string_value(w), json_string_length(w));
                sb_put(b, "", 1);
                nv++;
            }
            if (!b->fail)
                memcpy(b->p + at, &nv, sizeof(nv));
            any = true;
        }
    }
    *multi = weighted > 1;
    return any;
}

/* The payload value of the first variant named "control" (the flag's own
 * variants, then each strategy's), or NULL: the gateway's fallback. */
static const char *control_payload(const json_t *feature)
{
    const json_t *lists[1 + VX_LIMIT_STRATEGIES];
    size_t n = 0, i;
    const json_t *s;
    lists[n++] = json_object_get(feature, "variants");
    json_array_foreach (json_object_get(feature, "strategies"), i, s) {
        if (n < sizeof(lists) / sizeof(lists[0]))
            lists[n++] = json_object_get(s, "variants");
    }
    for (size_t k = 0; k < n; k++) {
        const json_t *v;
        json_array_foreach (lists[k], i, v) {
            const char *name = json_string_value(json_object_get(v, "name"));
            if (!name || strcmp(name, "control") != 0)
                continue;
            const json_t *p = json_object_get(v, "payload");
            if (json_is_string(json_object_get(p, "value")))
                return json_string_value(json_object_get(p, "value"));
        }
    }
    return NULL;
}

/* Stages a flag the service just made (its "tags" taken out): its record
 * bytes go to s->stage, its facts to s->flags; state_materialize gives it
 * its own block once the JSON is gone. */
static vx_status state_push_new(hub_state *s, json_t *f, vx_error *err)
{
    if (!note_src(s, -1) || !flags_grow(s) || !lay_grow(s))
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    hub_flag *fl = &s->flags[s->nflags];
    rec_lay *lay = &s->lay[s->nlay];
    lay->flag = s->nflags;
    const char *name = json_string_value(json_object_get(f, "name"));
    const char *project = json_string_value(json_object_get(f, "project"));
    if (!name || !project)
        return vx__error_set(err, VX_EIO, "", "a flag without a name");
    json_t *tags = json_incref(json_object_get(f, "tags"));
    json_object_del(f, "tags");
    char *text = json_dumps(f, JSON_COMPACT);
    char *tt = json_is_array(tags) ? json_dumps(tags, JSON_COMPACT) : NULL;
    if (!text || (json_is_array(tags) && !tt)) {
        free(text);
        free(tt);
        json_decref(tags);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    sbuf *b = &s->stage;
    size_t at = b->len;
    lay->off = at;
    fl->text_len = strlen(text);
    sb_put(b, text, fl->text_len + 1);
    fl->hash = fnv64(text, fl->text_len, FNV_SEED);
    free(text);
    /* Tags are served by no endpoint but select flags: they count. */
    if (tt)
        fl->hash = fnv64(tt, strlen(tt), fl->hash);
    free(tt);
    lay->name = b->len - at;
    sb_put(b, name, strlen(name) + 1);
    lay->project = b->len - at;
    sb_put(b, project, strlen(project) + 1);
    lay->tags = b->len - at;
    size_t i;
    json_t *t;
    json_array_foreach (tags, i, t) {
        const char *ty = json_string_value(json_object_get(t, "type"));
        const char *va = json_string_value(json_object_get(t, "value"));
        if (!ty || !va)
            continue; /* selects nothing */
        sb_put(b, ty, strlen(ty) + 1);
        sb_put(b, va, strlen(va) + 1);
        fl->ntags++;
    }
    json_decref(tags);
    const char *ctl = control_payload(f);
    lay->control = ctl ? b->len - at : SIZE_MAX;
    if (ctl)
        sb_put(b, ctl, strlen(ctl) + 1);
    /* What OFREP's reasons read, so that no request needs the JSON. */
    const json_t *strategies = json_object_get(f, "strategies");
    const json_t *st;
    lay->strategies = b->len - at;
    fl->nstrategies = json_array_size(strategies);
    sbuf ovr = {0};
    fl->variants_overrides = put_overrides(&ovr, json_object_get(f, "variants"),
                                           0, &fl->variants_multi);
    fl->has_variants = nonempty(f, "variants");
    json_array_foreach (strategies, i, st) {
        uint8_t bits = 0;
        const char *sn = json_string_value(json_object_get(st, "name"));
        const json_t *params = json_object_get(st, "parameters");
        sn = sn ? sn : "";
        if (nonempty(st, "segments"))
            fl->uses_segments = true;
        if (nonempty(st, "constraints") || nonempty(st, "segments") ||
            strcmp(sn, "userWithId") == 0 || strcmp(sn, "remoteAddress") == 0 ||
            strcmp(sn, "applicationHostname") == 0)
            bits |= HUB_S_TARGETED;
        if (strcmp(sn, "flexibleRollout") == 0 ? partial(params, "rollout")
            : strncmp(sn, "gradualRollout", 14) == 0
                ? partial(params, "percentage")
                : false)
            bits |= HUB_S_SPLIT;
        const json_t *sv = json_object_get(st, "variants");
        if (json_array_size(sv) > 0) {
            bool multi = false;
            bits |= HUB_S_VARIANTS;
            if (put_overrides(&ovr, sv, (uint32_t)i + 1, &multi))
                bits |= HUB_S_OVERRIDES;
            if (multi)
                bits |= HUB_S_MULTI;
            fl->has_variants = true;
        }
        sb_put(b, (const char *)&bits, 1);
    }
    lay->overrides = b->len - at;
    fl->overrides_len = ovr.len;
    if (ovr.len)
        sb_put(b, ovr.p, ovr.len);
    if (ovr.fail)
        b->fail = true;
    vx__free(ovr.p);
    lay->size = b->len - at;
    fl->enabled = json_is_true(json_object_get(f, "enabled"));
    fl->has_dependencies = nonempty(f, "dependencies");
    fl->impression_data = json_is_true(json_object_get(f, "impressionData"));
    fl->snap_index = -1;
    s->nflags++;
    s->nlay++;
    if (b->fail)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    return VX_OK;
}

/* Appends flag `i` of `old` as it is (shared). */
static bool state_push_old(hub_state *s, const hub_state *old, size_t i)
{
    if (!note_src(s, (int64_t)i) || !flags_grow(s))
        return false;
    s->flags[s->nflags++] = old->flags[i];
    atomic_fetch_add(&((hub_rec *)old->flags[i].rec)->refs, 1);
    return true;
}

/* Gives every staged flag its own block (after the JSON it came from is
 * freed, so that the blocks of a state lie together in the heap) and
 * drops the stage. */
static vx_status state_materialize(hub_state *s, vx_error *err)
{
    for (size_t i = 0; i < s->nlay; i++) {
        const rec_lay *l = &s->lay[i];
        hub_flag *f = &s->flags[l->flag];
        hub_rec *r = vx__malloc(sizeof(*r) + l->size);
        if (!r)
            return vx__error_set(err, VX_ENOMEM, "", "out of memory");
        atomic_init(&r->refs, 1);
        memcpy(r->data, s->stage.p + l->off, l->size);
        f->rec = r;
        f->text = r->data;
        f->name = r->data + l->name;
        f->project = r->data + l->project;
        f->tags = f->ntags ? r->data + l->tags : NULL;
        f->control = l->control != SIZE_MAX ? r->data + l->control : NULL;
        f->strategies = (const uint8_t *)r->data + l->strategies;
        f->overrides = f->overrides_len ? r->data + l->overrides : NULL;
    }
    vx__free(s->stage.p);
    memset(&s->stage, 0, sizeof(s->stage));
    vx__free(s->lay);
    s->lay = NULL;
    s->nlay = s->lay_cap = 0;
    return VX_OK;
}

/* Reads the segments of `segments` (client segment objects, borrowed). */
static vx_status state_set_segments(hub_state *s, const json_t *segments,
                                    vx_error *err)
{
    size_t ns = json_array_size(segments);
    s->segs = vx__calloc(ns ? ns : 1, sizeof(*s->segs));
    if (!s->segs)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    s->nsegs = ns;
    for (size_t i = 0; i < ns; i++) {
        json_t *g = json_array_get(segments, i);
        s->segs[i].id = json_integer_value(json_object_get(g, "id"));
        char *text = json_dumps(g, JSON_COMPACT);
        s->segs[i].text = text ? vx__strdup(text) : NULL;
        free(text);
        if (!s->segs[i].text)
            return vx__error_set(err, VX_ENOMEM, "", "out of memory");
        s->segs[i].hash =
            fnv64(s->segs[i].text, strlen(s->segs[i].text), FNV_SEED);
    }
    return VX_OK;
}

/* The segments of `old`, copied. */
static vx_status state_copy_segments(hub_state *s, const hub_state *old,
                                     vx_error *err)
{
    s->segs = vx__calloc(old->nsegs ? old->nsegs : 1, sizeof(*s->segs));
    if (!s->segs)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    s->nsegs = old->nsegs;
    for (size_t i = 0; i < old->nsegs; i++) {
        s->segs[i] = old->segs[i];
        s->segs[i].text = vx__strdup(old->segs[i].text);
        if (!s->segs[i].text)
            return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    return VX_OK;
}

/* Builds the name index, the snapshot indexes and the content hash; the
 * snapshot must be set. */
static vx_status state_index(hub_state *s, vx_error *err)
{
    size_t n = s->nflags;
    s->name_slots = 16;
    while (s->name_slots < n * 2)
        s->name_slots *= 2;
    s->by_name = vx__malloc(s->name_slots * sizeof(*s->by_name));
    if (!s->by_name)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    memset(s->by_name, 0xff, s->name_slots * sizeof(*s->by_name));
    uint64_t content = 0;
    size_t mask = s->name_slots - 1;
    for (size_t i = 0; i < n; i++) {
        hub_flag *fl = &s->flags[i];
        int64_t from = s->base && i < s->nsrc ? s->src[i] : -1;
        if (from >= 0) {
            /* Shared with the state patched: its index is likely the same. */
            vx_str sn = vx_snapshot_flag_name(s->snap, (size_t)fl->snap_index);
            if (fl->snap_index < 0 || !sn.ptr || sn.len != strlen(fl->name) ||
                memcmp(sn.ptr, fl->name, sn.len) != 0)
                fl->snap_index =
                    vx_snapshot_flag_index(s->snap, fl->name, strlen(fl->name));
        } else {
            fl->snap_index =
                vx_snapshot_flag_index(s->snap, fl->name, strlen(fl->name));
        }
        content += fl->hash * 0x9e3779b97f4a7c15ull + 1;
        size_t k = name_hash(fl->name) & mask;
        while (s->by_name[k] >= 0)
            k = (k + 1) & mask;
        s->by_name[k] = (int64_t)i;
    }
    for (size_t i = 0; i < s->nsegs; i++)
        content += s->segs[i].hash * 0xc2b2ae3d27d4eb4full + 7;
    s->content = content;
    return VX_OK;
}

/* Builds a state from the service's client document `doc`, which it takes
 * over and frees as soon as the flags are staged. */
static vx_status state_build_take(const char *env, json_t *doc,
                                  int64_t revision, hub_state **out,
                                  vx_error *err)
{
    vx_status st = VX_OK;
    sbuf text = {0};
    hub_state *s = state_new(env, revision);
    *out = NULL;
    if (!s) {
        json_decref(doc);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    size_t i;
    json_t *f;
    if (!flags_reserve(s, json_array_size(json_object_get(doc, "features")))) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    json_array_foreach (json_object_get(doc, "features"), i, f) {
        st = state_push_new(s, f, err);
        if (st != VX_OK)
            goto out;
    }
    st = state_set_segments(s, json_object_get(doc, "segments"), err);
    json_decref(doc);
    doc = NULL;
    /* Coalesce what the document freed (many of its pieces sit in
     * unmerged fast bins until then), so that the blocks below are carved
     * side by side rather than in the holes between them: otherwise they
     * pin most pages of the heap the document used. */
    malloc_trim(0);
    if (st == VX_OK)
        st = state_materialize(s, err);
    if (st != VX_OK)
        goto out;
    /* The snapshot is compiled from exactly the text SDKs are served. */
    sb_str(&text, "{\"version\":2,\"features\":[");
    for (i = 0; i < s->nflags; i++) {
        if (i)
            sb_put(&text, ",", 1);
        sb_put(&text, s->flags[i].text, s->flags[i].text_len);
    }
    sb_str(&text, "],\"segments\":[");
    for (i = 0; i < s->nsegs; i++) {
        if (i)
            sb_put(&text, ",", 1);
        sb_str(&text, s->segs[i].text);
    }
    sb_str(&text, "]}");
    if (text.fail) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    st = vx_snapshot_load(text.p, text.len, NULL, &s->snap, err);
    if (st == VX_OK)
        st = state_index(s, err);
    if (st != VX_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    json_decref(doc);
    vx__free(text.p);
    state_free(s);
    return st;
}

/* The next state of `old` with the flags in `changes` ({name: client
 * feature or null}, borrowed) replaced, added at the end or removed;
 * segments and unchanged flags are shared with `old`. */
static vx_status state_patch(const hub_state *old, json_t *changes,
                             int64_t revision, hub_state **out, vx_error *err)
{
    vx_status st = VX_OK;
    sbuf delta = {0};
    size_t nev = 0;
    hub_state *s = state_new(old->env, revision);
    *out = NULL;
    if (!s)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    s->base = old;
    if (!flags_reserve(s, old->nflags + json_object_size(changes))) {
        state_free(s);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    sb_str(&delta, "{\"events\":[");
    bool ok = true;
    for (size_t i = 0; ok && st == VX_OK && i < old->nflags; i++) {
        json_t *cf = json_object_get(changes, old->flags[i].name);
        if (!cf)
            ok = state_push_old(s, old, i);
        else if (json_is_object(cf))
            st = state_push_new(s, cf, err);
    }
    const char *name;
    json_t *cf;
    json_object_foreach (changes, name, cf) {
        if (!ok || st != VX_OK)
            break;
        bool had = hub_state_find(old, name) != NULL;
        if (json_is_object(cf)) {
            if (!had) {
                st = state_push_new(s, cf, err);
                if (st != VX_OK)
                    break;
            }
            char *t = json_dumps(cf, JSON_COMPACT);
            if (!t) {
                ok = false;
                break;
            }
            sb_str(&delta, nev++ ? "," : "");
            sb_str(&delta, "{\"type\":\"feature-updated\",\"feature\":");
            sb_str(&delta, t);
            sb_put(&delta, "}", 1);
            free(t);
        } else if (had) {
            json_t *n = json_string(name);
            sb_str(&delta, nev++ ? "," : "");
            sb_str(&delta, "{\"type\":\"feature-removed\",\"featureName\":");
            if (n)
                sb_json(&delta, n);
            else
                delta.fail = true;
            sb_put(&delta, "}", 1);
            json_decref(n);
        }
    }
    sb_str(&delta, "]}");
    if (st != VX_OK)
        goto out;
    if (!ok || delta.fail) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    st = state_copy_segments(s, old, err);
    if (st == VX_OK)
        st = state_materialize(s, err);
    if (st == VX_OK)
        st = vx_snapshot_apply_delta(old->snap, delta.p, delta.len, NULL,
                                     &s->snap, err);
    if (st == VX_OK)
        st = state_index(s, err);
    if (st != VX_OK)
        goto out;
    s->base = NULL; /* the patched state may go before this one */
    vx__free(s->src);
    s->src = NULL;
    *out = s;
    s = NULL;
out:
    vx__free(delta.p);
    state_free(s);
    return st;
}

/* ---- scopes and bodies ----------------------------------------------------
 */

/* True when `item` is one of the comma-separated `list`. */
static bool in_list(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, item, n) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

bool hub_scope_match(const hub_scope *sc, const hub_flag *f)
{
    if (sc->projects && strcmp(sc->projects, "*") != 0 &&
        !in_list(sc->projects, f->project))
        return false;
    if (sc->project && *sc->project && !in_list(sc->project, f->project))
        return false;
    if (sc->name_prefix && *sc->name_prefix &&
        strncmp(f->name, sc->name_prefix, strlen(sc->name_prefix)) != 0)
        return false;
    if (sc->tag && *sc->tag) {
        const char *colon = strchr(sc->tag, ':');
        size_t tl = colon ? (size_t)(colon - sc->tag) : strlen(sc->tag);
        const char *val = colon ? colon + 1 : NULL;
        bool hit = false;
        const char *p = f->tags;
        for (size_t i = 0; p && i < f->ntags && !hit; i++) {
            const char *ty = p;
            const char *va = ty + strlen(ty) + 1;
            p = va + strlen(va) + 1;
            hit = strlen(ty) == tl && memcmp(ty, sc->tag, tl) == 0 &&
                  (!val || strcmp(va, val) == 0);
        }
        if (!hit)
            return false;
    }
    return true;
}

static const hub_seg *find_seg(const hub_state *s, int64_t id)
{
    for (size_t i = 0; i < s->nsegs; i++)
        if (s->segs[i].id == id)
            return &s->segs[i];
    return NULL;
}

/* The segments of a state parsed, each once, for inlining (a body for old
 * SDKs is built once per state and scope: no request parses). */
typedef struct seg_cache {
    json_t **segs; /* [nsegs], NULL until parsed */
    bool fail;     /* out of memory, or a text that does not parse */
} seg_cache;

static const json_t *seg_constraints(const hub_state *s, seg_cache *c,
                                     int64_t id)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        if (s->segs[i].id != id)
            continue;
        if (!c->segs)
            c->segs = vx__calloc(s->nsegs, sizeof(*c->segs));
        if (c->segs && !c->segs[i])
            c->segs[i] = json_loads(s->segs[i].text, 0, NULL);
        if (!c->segs || !c->segs[i])
            c->fail = true;
        return c->segs ? json_object_get(c->segs[i], "constraints") : NULL;
    }
    return NULL;
}

/* The flag with its segments' constraints appended to each strategy's own,
 * for SDKs older than client spec 4.2.0; parsed from its text. */
static void put_inlined(sbuf *b, const hub_state *s, size_t i, seg_cache *c)
{
    const hub_flag *f = &s->flags[i];
    if (!f->uses_segments) {
        sb_put(b, f->text, f->text_len);
        return;
    }
    json_t *copy = json_loadb(f->text, f->text_len, 0, NULL);
    if (!copy) {
        b->fail = true;
        return;
    }
    size_t k;
    json_t *st;
    json_array_foreach (json_object_get(copy, "strategies"), k, st) {
        json_t *cs = json_object_get(st, "constraints");
        size_t j;
        json_t *id;
        json_array_foreach (json_object_get(st, "segments"), j, id) {
            const json_t *g = seg_constraints(s, c, json_integer_value(id));
            if (g)
                json_array_extend(cs, (json_t *)g);
        }
        json_object_del(st, "segments");
    }
    if (c->fail)
        b->fail = true;
    sb_json(b, copy);
    json_decref(copy);
}

static char *scope_key(const hub_scope *sc)
{
    sbuf b = {0};
    sb_str(&b, sc->projects ? sc->projects : "*");
    sb_put(&b, "\x1f", 1);
    sb_str(&b, sc->project ? sc->project : "");
    sb_put(&b, "\x1f", 1);
    sb_str(&b, sc->name_prefix ? sc->name_prefix : "");
    sb_put(&b, "\x1f", 1);
    sb_str(&b, sc->tag ? sc->tag : "");
    sb_str(&b, sc->inline_segments ? "\x1f"
                                     "i"
                                   : "\x1f"
                                     "s");
    if (b.fail) {
        vx__free(b.p);
        return NULL;
    }
    return b.p;
}

/* The flags `sc` selects, comma-joined: each one's stored text, or with
 * its segments written inline when `inlined`. */
static void put_flags(sbuf *b, const hub_state *s, const hub_scope *sc,
                      bool inlined)
{
    bool first = true;
    seg_cache c = {0};
    for (size_t i = 0; i < s->nflags; i++) {
        if (!hub_scope_match(sc, &s->flags[i]))
            continue;
        if (!first)
            sb_put(b, ",", 1);
        first = false;
        if (inlined)
            put_inlined(b, s, i, &c);
        else
            sb_put(b, s->flags[i].text, s->flags[i].text_len);
    }
    for (size_t i = 0; c.segs && i < s->nsegs; i++)
        json_decref(c.segs[i]);
    vx__free(c.segs);
}

/* Every segment's text, comma-joined. */
static void put_segments(sbuf *b, const hub_state *s)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        if (i)
            sb_put(b, ",", 1);
        sb_str(b, s->segs[i].text);
    }
}

/* The features document for `sc` into `b`. */
static void build_features(sbuf *b, const hub_state *s, const hub_scope *sc)
{
    sb_str(b, "{\"version\":2,\"features\":[");
    put_flags(b, s, sc, sc->inline_segments);
    sb_put(b, "]", 1);
    if (!sc->inline_segments) {
        sb_str(b, ",\"segments\":[");
        put_segments(b, s);
        sb_put(b, "]", 1);
    }
    json_t *q = json_pack("{ss sb}", "environment", s->env,
                          "inlineSegmentConstraints", sc->inline_segments);
    if (q && sc->project && *sc->project)
        json_object_set_new(q, "project", json_string(sc->project));
    if (q && sc->name_prefix && *sc->name_prefix)
        json_object_set_new(q, "namePrefix", json_string(sc->name_prefix));
    if (q && sc->tag && *sc->tag)
        json_object_set_new(q, "tag", json_string(sc->tag));
    sb_str(b, ",\"query\":");
    if (q)
        sb_json(b, q);
    else
        b->fail = true;
    json_decref(q);
    sb_fmt(b, ",\"meta\":{\"revisionId\":%lld}}", (long long)s->revision);
}

static char *make_etag(const char *bytes, size_t len)
{
    char *e = vx__malloc(24);
    if (e)
        snprintf(e, 24, "\"%016llx\"",
                 (unsigned long long)fnv64(bytes, len, FNV_SEED));
    return e;
}

/* gzip of `in` (malloc'd), or NULL. */
static char *gzip_bytes(const char *in, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    char *out = vx__malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        vx__free(out);
        return NULL;
    }
    *out_len = z.total_out;
    return out;
}

vx_status hub_state_features_body(hub_state *s, const hub_scope *scope,
                                  bool gzip, vx_arena *arena,
                                  const hub_body **out, vx_error *err)
{
    vx_status st = VX_OK;
    char *key = scope_key(scope);
    sbuf b = {0};
    *out = NULL;
    if (!key)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    pthread_mutex_lock(&s->mu);
    cached_body *cb = NULL;
    for (size_t i = 0; i < s->nbodies && !cb; i++)
        if (strcmp(s->bodies[i].key, key) == 0)
            cb = &s->bodies[i];
    if (!cb) {
        build_features(&b, s, scope);
        if (b.fail) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        char *etag = make_etag(b.p, b.len);
        if (!etag) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        if (s->nbodies == VX_LIMIT_SDK_BODIES) {
            /* Too many distinct scopes: this request's own copy. */
            hub_body *tmp = vx__arena_calloc(arena, 1, sizeof(*tmp));
            char *bytes = tmp ? vx__arena_strndup(arena, b.p, b.len) : NULL;
            char *et =
                bytes ? vx__arena_strndup(arena, etag, strlen(etag)) : NULL;
            vx__free(etag);
            if (!et) {
                st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
                goto out;
            }
            *tmp = (hub_body){bytes, b.len, et, false};
            *out = tmp;
            goto out;
        }
        cb = &s->bodies[s->nbodies++];
        cb->key = key;
        key = NULL;
        cb->body = (hub_body){b.p, b.len, etag, false};
        b.p = NULL;
    }
    if (gzip && !cb->gz.bytes) {
        size_t zl = 0;
        char *z = gzip_bytes(cb->body.bytes, cb->body.len, &zl);
        /* A distinct strong validator for the distinct encoding: the
         * plain one with a 'z' before its closing quote. */
        size_t el = strlen(cb->body.etag);
        char *etag = z ? vx__malloc(el + 2) : NULL;
        if (etag) {
            memcpy(etag, cb->body.etag, el - 1);
            memcpy(etag + el - 1, "z\"", 3);
        }
        if (!z || !etag) {
            vx__free(z);
            vx__free(etag);
            gzip = false; /* serve it plain */
        } else {
            cb->gz = (hub_body){z, zl, etag, true};
        }
    }
    *out = gzip ? &cb->gz : &cb->body;
out:
    pthread_mutex_unlock(&s->mu);
    vx__free(key);
    vx__free(b.p);
    return st;
}

/* ---- history (for deltas) -------------------------------------------------
 */

/* The flag names and projects of a state, in order, in one block; shared
 * by consecutive history entries while the flag list does not change
 * (most changes edit flags, not the list), so the history costs about its
 * hashes. */
typedef struct hub_names {
    atomic_int refs;       /* history entries holding it */
    size_t n;              /* entries */
    char *strings;         /* every name and project, NUL-separated */
    const char **names;    /* [n] into strings */
    const char **projects; /* [n] into strings */
} hub_names;

static void names_release(hub_names *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    vx__free(m->strings);
    vx__free(m->names);
    vx__free(m->projects);
    vx__free(m);
}

/* `prev` (may be NULL) with another reference when it lists exactly the
 * flags of `s`, else a new copy. */
static hub_names *names_of(const hub_state *s, hub_names *prev)
{
    size_t n = s->nflags;
    if (prev && prev->n == n) {
        size_t i = 0;
        while (i < n && strcmp(prev->names[i], s->flags[i].name) == 0 &&
               strcmp(prev->projects[i], s->flags[i].project) == 0)
            i++;
        if (i == n) {
            atomic_fetch_add(&prev->refs, 1);
            return prev;
        }
    }
    hub_names *m = vx__calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    size_t bytes = 1;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(s->flags[i].name) + strlen(s->flags[i].project) + 2;
    m->strings = vx__malloc(bytes);
    m->names = vx__calloc(n ? n : 1, sizeof(char *));
    m->projects = vx__calloc(n ? n : 1, sizeof(char *));
    if (!m->strings || !m->names || !m->projects) {
        names_release(m);
        return NULL;
    }
    m->n = n;
    char *p = m->strings;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(s->flags[i].name) + 1;
        size_t pl = strlen(s->flags[i].project) + 1;
        memcpy(p, s->flags[i].name, nl);
        m->names[i] = p;
        p += nl;
        memcpy(p, s->flags[i].project, pl);
        m->projects[i] = p;
        p += pl;
    }
    return m;
}

/* What a client at `revision` holds, by hash: enough to diff against a
 * newer state. */
typedef struct hub_index {
    int64_t revision;      /* state revision */
    hub_names *list;       /* the flags' names and projects (shared) */
    size_t nflags;         /* entries */
    const char **names;    /* [nflags] = list->names */
    const char **projects; /* [nflags] = list->projects */
    uint64_t *hashes;      /* [nflags] */
    size_t nsegs;          /* entries */
    int64_t *seg_ids;      /* [nsegs] */
    uint64_t *seg_h;       /* [nsegs] */
} hub_index;

static void index_free(hub_index *x)
{
    if (!x)
        return;
    names_release(x->list);
    vx__free(x->hashes);
    vx__free(x->seg_ids);
    vx__free(x->seg_h);
    vx__free(x);
}

/* What a client at `s` holds, in small copies: the index keeps nothing of
 * the state alive (a state's objects can be tens of megabytes). `prev` is
 * the newest index before it (may be NULL), whose names it may share. */
static hub_index *index_of(const hub_state *s, const hub_index *prev)
{
    hub_index *x = vx__calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->revision = s->revision;
    size_t n = s->nflags;
    x->list = names_of(s, prev ? prev->list : NULL);
    x->hashes = vx__calloc(n ? n : 1, sizeof(uint64_t));
    x->seg_ids = vx__calloc(s->nsegs ? s->nsegs : 1, sizeof(int64_t));
    x->seg_h = vx__calloc(s->nsegs ? s->nsegs : 1, sizeof(uint64_t));
    if (!x->list || !x->hashes || !x->seg_ids || !x->seg_h) {
        index_free(x);
        return NULL;
    }
    x->nflags = n;
    x->names = x->list->names;
    x->projects = x->list->projects;
    for (size_t i = 0; i < n; i++)
        x->hashes[i] = s->flags[i].hash;
    x->nsegs = s->nsegs;
    for (size_t i = 0; i < s->nsegs; i++) {
        x->seg_ids[i] = s->segs[i].id;
        x->seg_h[i] = s->segs[i].hash;
    }
    return x;
}

/* ---- the hub --------------------------------------------------------------
 */

struct hub_sub {
    hub_sub *next;          /* in the hub's list */
    hub *hub;               /* whose lock guards this subscriber */
    char env[ENV_NAME_MAX]; /* environment */
    hub_scope scope;        /* strings in `strings` */
    char *strings;          /* owned copies of the scope's strings */
    int64_t last;           /* revision the client has */
    sbuf q;                 /* queued SSE text */
    size_t off;             /* pending = q.p[off..q.len) */
    bool over;              /* the stream is to end */
    hub_wake_fn wake;       /* wakes the connection */
    void *wake_ud;          /* passed to wake */
};

typedef struct env_slot {
    char name[ENV_NAME_MAX];               /* environment */
    hub_state *cur;                        /* published state, or NULL */
    hub_index *hist[VX_LIMIT_SDK_HISTORY]; /* oldest first */
    size_t nhist;                          /* used */
    bool wanted; /* an SDK asked for it: build it (cur is NULL until) */
} env_slot;

struct hub {
    service *svc;          /* borrowed */
    hub_log_fn log;        /* may be NULL */
    void *log_ud;          /* passed to log */
    pthread_mutex_t mu;    /* guards everything below */
    pthread_cond_t kick;   /* wakes the hub thread */
    pthread_cond_t built;  /* a rebuild finished */
    env_slot *envs;        /* [nenvs] */
    size_t nenvs;          /* environments */
    int64_t revision;      /* newest revision seen and published */
    uint64_t asked, done;  /* sync tickets: asked by writers, done */
    bool stop;             /* the thread is to end */
    bool streams_closed;   /* no new subscribers */
    pthread_t thread;      /* the hub thread */
    bool started;          /* thread runs */
    hub_sub *subs;         /* streaming subscribers */
    size_t nsubs;          /* count */
    int64_t rebuilds;      /* counter */
    double last_build_sec; /* last rebuild's duration */
    double last_build_end; /* monotonic time it ended */
    double last_beat;      /* monotonic time of the last heartbeat */
    bool trim_due;         /* states were replaced since the last trim
                              (only the hub thread uses it) */
    double last_trim;      /* monotonic time of the last trim (same) */
    unsigned poll_ms;      /* backstop revision check period */
    bool notified;         /* the watcher saw a newer revision */
    bool db_down;          /* the last revision check failed (logged) */
    pthread_t watcher;     /* waits for commit announcements */
    bool watching;         /* watcher runs */
};

static env_slot *slot_find(hub *h, const char *env)
{
    for (size_t i = 0; i < h->nenvs; i++)
        if (strcmp(h->envs[i].name, env) == 0)
            return &h->envs[i];
    return NULL;
}

hub_state *hub_acquire(hub *h, const char *env)
{
    pthread_mutex_lock(&h->mu);
    /* A write answered before this request began is served: wait for the
     * publish it asked for (writers themselves never wait). */
    uint64_t target = h->asked;
    while (h->done < target && !h->stop)
        pthread_cond_wait(&h->built, &h->mu);
    env_slot *e = slot_find(h, env);
    if (e && !e->cur) {
        /* The first SDK request for this environment: have the hub thread
         * build it, and wait (slots move when the hub installs). */
        e->wanted = true;
        uint64_t ticket = ++h->asked;
        pthread_cond_signal(&h->kick);
        while (h->done < ticket && !h->stop)
            pthread_cond_wait(&h->built, &h->mu);
        e = slot_find(h, env);
    }
    hub_state *s = e ? state_ref(e->cur) : NULL;
    pthread_mutex_unlock(&h->mu);
    return s;
}

/* The remembered index of `e` at `rev`, or NULL. Under h->mu. */
static const hub_index *hist_find(const env_slot *e, int64_t rev)
{
    for (size_t i = e->nhist; i-- > 0;)
        if (e->hist[i]->revision == rev)
            return e->hist[i];
    return NULL;
}

static bool idx_has_seg(const hub_index *x, int64_t id, uint64_t h)
{
    for (size_t i = 0; i < x->nsegs; i++)
        if (x->seg_ids[i] == id)
            return x->seg_h[i] == h;
    return false;
}

static bool state_has_seg(const hub_state *s, int64_t id)
{
    return find_seg(s, id) != NULL;
}

/* The delta body from `old` (NULL: hydration) to `s` for `sc`; `*empty` when
 * there is nothing to send. Malloc'd into `b`. */
/* A feature-updated event for flag `i`, after a comma when `*count` events
 * came before it (then counted). */
static void put_updated(sbuf *b, const hub_state *s, size_t i, long long ev,
                        size_t *count)
{
    sb_fmt(b, "%s{\"eventId\":%lld,\"type\":\"feature-updated\",\"feature\":",
           (*count)++ ? "," : "", ev);
    sb_put(b, s->flags[i].text, s->flags[i].text_len);
    sb_put(b, "}", 1);
}

static void build_delta(sbuf *b, const hub_index *old, const hub_state *s,
                        const hub_scope *sc, bool *empty)
{
    long long ev = (long long)s->revision;
    *empty = false;
    if (!old) {
        sb_fmt(b,
               "{\"events\":[{\"eventId\":%lld,\"type\":\"hydration\","
               "\"features\":[",
               ev);
        put_flags(b, s, sc, false);
        sb_str(b, "],\"segments\":[");
        put_segments(b, s);
        sb_str(b, "]}]}");
        return;
    }
    size_t count = 0;
    sb_str(b, "{\"events\":[");
    /* Segments first, so that updated flags find the segments they use. */
    for (size_t i = 0; i < s->nsegs; i++) {
        if (idx_has_seg(old, s->segs[i].id, s->segs[i].hash))
            continue;
        sb_fmt(b,
               "%s{\"eventId\":%lld,\"type\":\"segment-updated\",\"segment\":",
               count++ ? "," : "", ev);
        sb_str(b, s->segs[i].text);
        sb_put(b, "}", 1);
    }
    /* One pass over the old index finds the changed and removed flags by
     * name; flags it never reached are new. */
    bool *seen = vx__calloc(s->nflags ? s->nflags : 1, sizeof(bool));
    if (!seen) {
        b->fail = true;
        return;
    }
    for (size_t k = 0; k < old->nflags; k++) {
        const hub_flag *now = hub_state_find(s, old->names[k]);
        hub_flag was = {.name = old->names[k], .project = old->projects[k]};
        if (now)
            seen[now - s->flags] = true;
        bool in_old = hub_scope_match(sc, &was);
        bool in_new = now && hub_scope_match(sc, now);
        if (in_new && (!in_old || now->hash != old->hashes[k])) {
            put_updated(b, s, (size_t)(now - s->flags), ev, &count);
        } else if (in_old && !in_new) {
            json_t *n = json_string(old->names[k]);
            json_t *p = json_string(old->projects[k]);
            sb_fmt(b,
                   "%s{\"eventId\":%lld,\"type\":\"feature-removed\","
                   "\"featureName\":",
                   count++ ? "," : "", ev);
            sb_json(b, n);
            sb_str(b, ",\"project\":");
            sb_json(b, p);
            sb_put(b, "}", 1);
            json_decref(n);
            json_decref(p);
        }
    }
    for (size_t i = 0; i < s->nflags; i++) {
        if (seen[i] || !hub_scope_match(sc, &s->flags[i]))
            continue;
        put_updated(b, s, i, ev, &count);
    }
    vx__free(seen);
    for (size_t k = 0; k < old->nsegs; k++) {
        if (state_has_seg(s, old->seg_ids[k]))
            continue;
        sb_fmt(b,
               "%s{\"eventId\":%lld,\"type\":\"segment-removed\",\"segmentId\":"
               "%lld}",
               count++ ? "," : "", ev, (long long)old->seg_ids[k]);
    }
    sb_str(b, "]}");
    *empty = count == 0;
}

vx_status hub_delta(hub *h, hub_state *s, int64_t since, const hub_scope *scope,
                    vx_arena *arena, char **body, size_t *len, vx_error *err)
{
    sbuf b = {0};
    bool empty = false;
    *body = NULL;
    *len = 0;
    if (since == s->revision)
        return VX_OK; /* up to date */
    pthread_mutex_lock(&h->mu);
    env_slot *e = slot_find(h, s->env);
    const hub_index *old = e && since >= 0 ? hist_find(e, since) : NULL;
    build_delta(&b, old, s, scope, &empty);
    pthread_mutex_unlock(&h->mu);
    vx_status st = VX_OK;
    if (b.fail) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
    } else if (!empty) {
        *body = vx__arena_strndup(arena, b.p, b.len);
        *len = b.len;
        if (!*body)
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    vx__free(b.p);
    return st;
}

/* ---- subscribers ----------------------------------------------------------
 */

/* Queues SSE text for `sub` (under h->mu); past the bound the stream ends. */
static void sub_put(hub_sub *sub, const char *s, size_t n)
{
    sbuf *q = &sub->q;
    if (sub->over)
        return;
    if (sub->off == q->len)
        sub->off = q->len = 0;
    if (q->len - sub->off + n > VX_LIMIT_SSE_QUEUE_BYTES) {
        sub->over = true;
        return;
    }
    if (sub->off && q->len + n + 1 > q->cap) {
        /* Reclaim what was read before growing. */
        memmove(q->p, q->p + sub->off, q->len - sub->off);
        q->len -= sub->off;
        sub->off = 0;
    }
    sb_put(q, s, n);
    if (q->fail)
        sub->over = true;
}

/* Queues what `sub` has not seen of `s` (under h->mu). */
static void sub_feed(env_slot *e, hub_sub *sub, const hub_state *s)
{
    if (sub->last == s->revision)
        return;
    const hub_index *old = sub->last >= 0 ? hist_find(e, sub->last) : NULL;
    sbuf b = {0};
    bool empty = false;
    build_delta(&b, old, s, &sub->scope, &empty);
    if (b.fail) {
        sub->over = true;
    } else if (!empty) {
        char head[96];
        int n = snprintf(head, sizeof(head),
                         "id: %lld\nevent: %s\ndata: ", (long long)s->revision,
                         old ? "unleash-updated" : "unleash-connected");
        sub_put(sub, head, (size_t)n);
        sub_put(sub, b.p, b.len);
        sub_put(sub, "\n\n", 2);
    }
    vx__free(b.p);
    sub->last = s->revision;
}

vx_status hub_subscribe(hub *h, const char *env, const hub_scope *scope,
                        int64_t since, hub_wake_fn wake, void *wake_ud,
                        hub_sub **out, vx_error *err)
{
    *out = NULL;
    hub_sub *sub = vx__calloc(1, sizeof(*sub));
    const char *parts[4] = {scope->projects, scope->project, scope->name_prefix,
                            scope->tag};
    size_t total = 0;
    for (int i = 0; i < 4; i++)
        total += (parts[i] ? strlen(parts[i]) : 0) + 1;
    char *strings = sub ? vx__malloc(total) : NULL;
    if (!strings) {
        vx__free(sub);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    const char **dst[4] = {&sub->scope.projects, &sub->scope.project,
                           &sub->scope.name_prefix, &sub->scope.tag};
    char *p = strings;
    for (int i = 0; i < 4; i++) {
        size_t n = parts[i] ? strlen(parts[i]) : 0;
        memcpy(p, parts[i] ? parts[i] : "", n);
        p[n] = '\0';
        *dst[i] = p;
        p += n + 1;
    }
    sub->strings = strings;
    sub->scope.inline_segments = false;
    snprintf(sub->env, sizeof(sub->env), "%s", env);
    sub->last = since;
    sub->wake = wake;
    sub->wake_ud = wake_ud;
    sub->hub = h;
    vx_status st = VX_OK;
    hub_state_release(hub_acquire(h, env)); /* materialize it */
    pthread_mutex_lock(&h->mu);
    env_slot *e = slot_find(h, env);
    if (h->streams_closed) {
        st = vx__error_set(err, VX_EIO, "", "the server is stopping");
    } else if (!e || !e->cur) {
        st = vx__error_set(err, VX_ENOTFOUND, "", "environment '%s' not found",
                           env);
    } else if (h->nsubs >= VX_LIMIT_SSE_CLIENTS) {
        st = vx__error_set(err, VX_ELIMIT, "", "more than %d streaming clients",
                           VX_LIMIT_SSE_CLIENTS);
    } else {
        if (since >= 0 && since != e->cur->revision && !hist_find(e, since))
            sub->last = -1; /* forgotten revision: hydrate */
        if (sub->last == e->cur->revision)
            sub_put(sub, ": up to date\n\n", 15); /* headers go out now */
        sub_feed(e, sub, e->cur);
        sub->next = h->subs;
        h->subs = sub;
        h->nsubs++;
    }
    pthread_mutex_unlock(&h->mu);
    if (st != VX_OK) {
        vx__free(sub->strings);
        vx__free(sub);
        return st;
    }
    *out = sub;
    return VX_OK;
}

static pthread_mutex_t *hub__lock(hub *h);

long hub_sub_read(hub_sub *sub, char *buf, size_t max)
{
    pthread_mutex_t *mu = hub__lock(sub->hub);
    pthread_mutex_lock(mu);
    long n = 0;
    size_t have = sub->q.len - sub->off;
    if (have) {
        size_t k = have < max ? have : max;
        memcpy(buf, sub->q.p + sub->off, k);
        sub->off += k;
        n = (long)k;
    } else if (sub->over) {
        n = -1;
    }
    pthread_mutex_unlock(mu);
    return n;
}

void hub_unsubscribe(hub *h, hub_sub *sub)
{
    if (!sub)
        return;
    pthread_mutex_lock(&h->mu);
    for (hub_sub **pp = &h->subs; *pp; pp = &(*pp)->next) {
        if (*pp == sub) {
            *pp = sub->next;
            h->nsubs--;
            break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    vx__free(sub->q.p);
    vx__free(sub->strings);
    vx__free(sub);
}

/* Wakes every subscriber with something to read (under h->mu). */
static void wake_all(hub *h)
{
    for (hub_sub *s = h->subs; s; s = s->next)
        if (s->q.len > s->off || s->over)
            s->wake(s->wake_ud);
}

void hub_close_streams(hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->streams_closed = true;
    for (hub_sub *s = h->subs; s; s = s->next)
        s->over = true;
    wake_all(h);
    pthread_mutex_unlock(&h->mu);
}

/* ---- rebuilding -----------------------------------------------------------
 */

/* Publishes `s` for `e` (under h->mu), remembering the old content for
 * deltas and feeding subscribers. */
static void publish(hub *h, env_slot *e, hub_state *s)
{
    hub_index *x = index_of(s, e->nhist ? e->hist[e->nhist - 1] : NULL);
    if (x) {
        if (e->nhist == VX_LIMIT_SDK_HISTORY) {
            index_free(e->hist[0]);
            memmove(e->hist, e->hist + 1,
                    (VX_LIMIT_SDK_HISTORY - 1) * sizeof(e->hist[0]));
            e->nhist--;
        }
        e->hist[e->nhist++] = x;
    }
    hub_state *old = e->cur;
    e->cur = s;
    for (hub_sub *sub = h->subs; sub; sub = sub->next)
        if (strcmp(sub->env, e->name) == 0)
            sub_feed(e, sub, s);
    hub_state_release(old);
}

/* Installs the environments `names` (a JSON array; NULL keeps the current
 * set) with the new states in `built` (by environment, taken over; an
 * environment without one keeps its current state). Under h->mu. */
static vx_status install(hub *h, const json_t *names, hub_state **built,
                         size_t nbuilt, int64_t rev, vx_error *err)
{
    size_t n = names ? json_array_size(names) : h->nenvs;
    env_slot *envs = vx__calloc(n ? n : 1, sizeof(*envs));
    if (!envs)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    for (size_t i = 0; i < n; i++) {
        char name[ENV_NAME_MAX];
        snprintf(name, sizeof(name), "%s",
                 names ? json_string_value(json_array_get(names, i))
                       : h->envs[i].name);
        env_slot *old = slot_find(h, name);
        env_slot *e = &envs[i];
        if (old) {
            *e = *old;
            memset(old, 0, sizeof(*old)); /* moved */
        }
        snprintf(e->name, sizeof(e->name), "%s", name);
        for (size_t k = 0; k < nbuilt; k++) {
            hub_state *b = built[k];
            if (!b || strcmp(b->env, name) != 0)
                continue;
            if (e->cur && e->cur->content == b->content) {
                hub_state_release(b); /* unchanged: keep the ETags */
            } else {
                if (e->cur && b->revision <= e->cur->revision)
                    b->revision = e->cur->revision + 1;
                publish(h, e, b);
            }
            built[k] = NULL;
        }
    }
    /* Environments that are gone. */
    for (size_t i = 0; i < h->nenvs; i++) {
        hub_state_release(h->envs[i].cur);
        for (size_t k = 0; k < h->envs[i].nhist; k++)
            index_free(h->envs[i].hist[k]);
    }
    vx__free(h->envs);
    h->envs = envs;
    h->nenvs = n;
    if (rev > h->revision)
        h->revision = rev;
    return VX_OK;
}

/* Brings the published states up to the database. Only environments an
 * SDK has asked for are materialized (the others cost nothing until then):
 * those are patched with the flags that events name since the last
 * revision, or rebuilt when something else changed; newly asked ones are
 * built. Reads the database outside h->mu; publishes under it. Only the
 * hub thread (and hub_new) call it. */
static vx_status rebuild(hub *h, vx_error *err)
{
    double t0 = mono_sec();
    json_t *docs = NULL, *changes = NULL, *names = NULL, *build = NULL;
    int64_t rev = 0, drev = 0;
    hub_state **built = NULL, **cur = NULL;
    size_t n = 0, nbuilt = 0;
    vx_status st = VX_OK;
    if (h->revision >= 0)
        st = svc_client_changes(h->svc, h->revision, &changes, &rev, err);
    if (st == VX_OK && !changes)
        st = svc_revision(h->svc, &rev, err);
    if (st == VX_OK && !changes)
        st = svc_environment_names(h->svc, &names, err);
    if (st != VX_OK)
        goto out;
    /* Which environments are live (their current states, referenced) and
     * which are to be built whole. */
    build = json_array();
    pthread_mutex_lock(&h->mu);
    n = h->nenvs;
    cur = vx__calloc(n ? n : 1, sizeof(*cur));
    for (size_t i = 0; cur && i < n; i++) {
        env_slot *e = &h->envs[i];
        cur[i] = changes ? state_ref(e->cur) : NULL;
        if ((e->cur && !changes) || (!e->cur && e->wanted))
            json_array_append_new(build, json_string(e->name));
    }
    pthread_mutex_unlock(&h->mu);
    built = vx__calloc(n + json_array_size(build) + 1, sizeof(*built));
    if (!cur || !built || !build) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; st == VX_OK && i < n; i++) {
        json_t *v = cur[i] ? json_object_get(changes, cur[i]->env) : NULL;
        if (v && json_object_size(v))
            st = state_patch(cur[i], v, rev, &built[nbuilt++], err);
    }
    if (st == VX_OK && json_array_size(build))
        st = svc_client_states(h->svc, build, &docs, &drev, err);
    const char *env;
    json_t *doc;
    void *next;
    json_object_foreach_safe (docs, next, env, doc) {
        if (st != VX_OK)
            break;
        /* Each document goes as soon as its state is staged. */
        char name[ENV_NAME_MAX];
        snprintf(name, sizeof(name), "%s", env);
        json_incref(doc);
        json_object_del(docs, name);
        st = state_build_take(name, doc, drev, &built[nbuilt++], err);
    }
    if (st == VX_OK) {
        pthread_mutex_lock(&h->mu);
        st = install(h, names, built, nbuilt,
                     changes ? rev
                     : drev  ? drev
                             : rev,
                     err);
        h->rebuilds++;
        h->last_build_end = mono_sec();
        h->last_build_sec = h->last_build_end - t0;
        wake_all(h);
        pthread_mutex_unlock(&h->mu);
    }
    if (st == VX_OK && json_array_size(build))
        malloc_trim(0); /* a whole build frees much: give it back */
out:
    for (size_t k = 0; built && k < nbuilt; k++)
        hub_state_release(built[k]);
    for (size_t k = 0; cur && k < n; k++)
        hub_state_release(cur[k]);
    vx__free(built);
    vx__free(cur);
    json_decref(docs);
    json_decref(changes);
    json_decref(names);
    json_decref(build);
    return st;
}

/* The watch thread: waits for the database's commit announcements (on the
 * store's own watch connection, never the service mutex) and kicks the hub
 * thread when one names a revision newer than the published one. */
static void *watch_main(void *arg)
{
    hub *h = arg;
    bool down = false;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        bool stop = h->stop;
        pthread_mutex_unlock(&h->mu);
        if (stop)
            break;
        vx_error err;
        memset(&err, 0, sizeof(err));
        int64_t rev = 0;
        vx_status st = svc_watch(h->svc, VX_LIMIT_SDK_WATCH_MS, &rev, &err);
        if (st != VX_OK) {
            if (!down)
                vx__logf(h->log, h->log_ud, "warn",
                         "sdk: change notifications stopped (the periodic "
                         "check goes on): %s",
                         err.message);
            down = true;
            continue;
        }
        if (down)
            vx__logf(h->log, h->log_ud, "info",
                     "sdk: change notifications resumed");
        down = false;
        if (rev == 0)
            continue;
        pthread_mutex_lock(&h->mu);
        if (rev < 0 || rev > h->revision) {
            h->notified = true;
            pthread_cond_signal(&h->kick);
        }
        pthread_mutex_unlock(&h->mu);
    }
    return NULL;
}

static void *hub_main(void *arg)
{
    hub *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        bool quiet = false; /* a whole period passed without a kick */
        if (h->asked == h->done && !h->notified) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)(h->poll_ms % 1000) * 1000000L;
            until.tv_sec += (time_t)(h->poll_ms / 1000);
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            quiet =
                pthread_cond_timedwait(&h->kick, &h->mu, &until) == ETIMEDOUT;
        }
        if (h->stop)
            break;
        /* Under a stream of writes, let them gather: the hub spends at most
         * about a third of a core patching (a patch waits twice the last
         * one's duration, at most VX_LIMIT_SDK_GATHER_MS). */
        double gap = 2 * h->last_build_sec;
        if (gap > VX_LIMIT_SDK_GATHER_MS / 1000.0)
            gap = VX_LIMIT_SDK_GATHER_MS / 1000.0;
        double since = mono_sec() - h->last_build_end;
        if (since < gap) {
            pthread_mutex_unlock(&h->mu);
            struct timespec ts = {0, (long)((gap - since) * 1e9)};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&h->mu);
            if (h->stop)
                break;
        }
        uint64_t ticket = h->asked;
        int64_t seen = h->revision;
        bool wanted = false;
        for (size_t i = 0; i < h->nenvs; i++)
            wanted = wanted || (h->envs[i].wanted && !h->envs[i].cur);
        h->notified = false;
        pthread_mutex_unlock(&h->mu);

        vx_error err;
        memset(&err, 0, sizeof(err));
        vx_status st = VX_OK;
        int64_t rev = 0;
        vx_status rst = svc_revision(h->svc, &rev, &err);
        if (rst != VX_OK && !h->db_down) {
            /* Only this thread reads or writes db_down. */
            vx__logf(h->log, h->log_ud, "warn",
                     "sdk: serving the last published flags: %s", err.message);
            h->db_down = true;
        } else if (rst == VX_OK && h->db_down) {
            vx__logf(h->log, h->log_ud, "info",
                     "sdk: the database answers again");
            h->db_down = false;
        }
        if (rst == VX_OK && (rev != seen || wanted)) {
            /* Another process may have changed tokens too. */
            if (rev != seen)
                svc_invalidate(h->svc);
            st = rebuild(h, &err);
            h->trim_due = true;
        }
        /* What patches churned (the changes read, the replaced states)
         * goes back to the system once a burst is over, and at most every
         * VX_LIMIT_SDK_TRIM_MS during one: a trim walks the whole heap. */
        double t_now = mono_sec();
        if (h->trim_due &&
            (quiet || t_now - h->last_trim >= VX_LIMIT_SDK_TRIM_MS / 1000.0)) {
            malloc_trim(0);
            h->trim_due = false;
            h->last_trim = t_now;
        }
        if (st != VX_OK)
            vx__logf(h->log, h->log_ud, "error",
                     "sdk: rebuilding the published flags failed: %s",
                     err.message);

        pthread_mutex_lock(&h->mu);
        if (ticket > h->done)
            h->done = ticket;
        pthread_cond_broadcast(&h->built);
        double now = mono_sec();
        if (now - h->last_beat >= VX_LIMIT_SSE_HEARTBEAT_MS / 1000.0) {
            h->last_beat = now;
            for (hub_sub *s = h->subs; s; s = s->next)
                sub_put(s, ": heartbeat\n\n", 13);
            wake_all(h);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

void hub_kick(hub *h)
{
    pthread_mutex_lock(&h->mu);
    bool live = false;
    for (size_t i = 0; i < h->nenvs; i++)
        live = live || h->envs[i].cur;
    /* With no environment served yet there is nothing to bring up to
     * date: the first SDK request builds from the database as it is. */
    if (live) {
        h->asked++;
        pthread_cond_signal(&h->kick);
    }
    pthread_mutex_unlock(&h->mu);
}

static pthread_mutex_t *hub__lock(hub *h)
{
    return &h->mu;
}

vx_status hub_new(service *svc, unsigned poll_ms, hub_log_fn log, void *log_ud,
                  hub **out, vx_error *err)
{
    *out = NULL;
    hub *h = vx__calloc(1, sizeof(*h));
    if (!h)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    h->svc = svc;
    h->log = log;
    h->log_ud = log_ud;
    h->revision = -1;
    h->poll_ms = poll_ms ? poll_ms : VX_LIMIT_SDK_POLL_MS;
    h->last_beat = mono_sec();
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->kick, NULL);
    pthread_cond_init(&h->built, NULL);
    vx_status st = rebuild(h, err);
    if (st == VX_OK && pthread_create(&h->thread, NULL, hub_main, h) != 0)
        st = vx__error_set(err, VX_EIO, "", "cannot start the sdk thread");
    if (st == VX_OK)
        h->started = true;
    if (st == VX_OK && svc_watchable(svc)) {
        if (pthread_create(&h->watcher, NULL, watch_main, h) != 0)
            st = vx__error_set(err, VX_EIO, "",
                               "cannot start the sdk watch thread");
        else
            h->watching = true;
    }
    if (st != VX_OK) {
        hub_free(&h);
        return st;
    }
    *out = h;
    return VX_OK;
}

void hub_free(hub **hp)
{
    if (!hp || !*hp)
        return;
    hub *h = *hp;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->kick);
    pthread_cond_broadcast(&h->built);
    pthread_mutex_unlock(&h->mu);
    if (h->started)
        pthread_join(h->thread, NULL);
    if (h->watching)
        pthread_join(h->watcher, NULL);
    hub_close_streams(h);
    while (h->subs)
        hub_unsubscribe(h, h->subs);
    for (size_t i = 0; i < h->nenvs; i++) {
        hub_state_release(h->envs[i].cur);
        for (size_t k = 0; k < h->envs[i].nhist; k++)
            index_free(h->envs[i].hist[k]);
    }
    vx__free(h->envs);
    pthread_cond_destroy(&h->kick);
    pthread_cond_destroy(&h->built);
    pthread_mutex_destroy(&h->mu);
    vx__free(h);
    *hp = NULL;
}

void hub_get_stats(hub *h, hub_stats *out)
{
    pthread_mutex_lock(&h->mu);
    out->rebuilds = h->rebuilds;
    out->subscribers = (int64_t)h->nsubs;
    out->revision = h->revision;
    out->last_build_sec = h->last_build_sec;
    pthread_mutex_unlock(&h->mu);
}
