/* The SDK hub's states: each flag's record (its served text and the facts
 * endpoints read, one refcounted block shared by the states patched from
 * the one that made it), a whole build from the service's document, and a
 * patch of the flags events name.
 *
 * Invariant: a published state never changes but for its body cache; the
 * snapshot is compiled from exactly the text SDKs are served. */
#include "hub/internal.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

static uint64_t name_hash(const char *s)
{
    return hub_hash64(s, strlen(s), HUB_HASH_SEED);
}

static void aside_release(hub_aside *a, size_t n);

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
    aside_release(s->aside, s->naside);
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

hub_state *hub__state_ref(hub_state *s)
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

size_t hub_state_aside_count(const hub_state *s)
{
    return s->naside;
}

const hub_aside *hub_state_aside(const hub_state *s, size_t i)
{
    return i < s->naside ? &s->aside[i] : NULL;
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
    hub__sb_put(b, (const char *)&v, sizeof(v));
}

/* A string as the override entries hold it: length, bytes, NUL. */
static void sb_lstr(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    sb_u32(b, (uint32_t)n);
    hub__sb_put(b, s, n);
    hub__sb_put(b, "", 1);
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
                hub__sb_put(b, json_string_value(w), json_string_length(w));
                hub__sb_put(b, "", 1);
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
    hub__sb_put(b, text, fl->text_len + 1);
    fl->hash = hub_hash64(text, fl->text_len, HUB_HASH_SEED);
    free(text);
    /* Tags are served by no endpoint but select flags: they count. */
    if (tt)
        fl->hash = hub_hash64(tt, strlen(tt), fl->hash);
    free(tt);
    lay->name = b->len - at;
    hub__sb_put(b, name, strlen(name) + 1);
    lay->project = b->len - at;
    hub__sb_put(b, project, strlen(project) + 1);
    lay->tags = b->len - at;
    size_t i;
    json_t *t;
    json_array_foreach (tags, i, t) {
        const char *ty = json_string_value(json_object_get(t, "type"));
        const char *va = json_string_value(json_object_get(t, "value"));
        if (!ty || !va)
            continue; /* selects nothing */
        hub__sb_put(b, ty, strlen(ty) + 1);
        hub__sb_put(b, va, strlen(va) + 1);
        fl->ntags++;
    }
    json_decref(tags);
    const char *ctl = control_payload(f);
    lay->control = ctl ? b->len - at : SIZE_MAX;
    if (ctl)
        hub__sb_put(b, ctl, strlen(ctl) + 1);
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
        hub__sb_put(b, (const char *)&bits, 1);
    }
    lay->overrides = b->len - at;
    fl->overrides_len = ovr.len;
    if (ovr.len)
        hub__sb_put(b, ovr.p, ovr.len);
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
            hub_hash64(s->segs[i].text, strlen(s->segs[i].text), HUB_HASH_SEED);
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

/* ---- flags set aside
 * --------------------------------------------------------- A state leaves out
 * what libvexil refuses (a database written by an older version, or by anything
 * else, may hold it), so that one such flag costs that flag only: the rest of
 * the environment is served and patched as usual. The entries are part of the
 * state's content. */

static void aside_release(hub_aside *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        vx__free((char *)a[i].flag);
        vx__free((char *)a[i].project);
        vx__free((char *)a[i].path);
        vx__free((char *)a[i].message);
    }
    vx__free(a);
}

/* Appends an entry (strings copied; `flag` NULL for segment `segment`). */
static vx_status aside_add(hub_state *s, const char *flag, const char *project,
                           int64_t segment, const char *path,
                           const char *message, vx_error *err)
{
    hub_aside *a = vx__realloc(s->aside, (s->naside + 1) * sizeof(*a));
    if (!a)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    s->aside = a;
    hub_aside *e = &a[s->naside];
    memset(e, 0, sizeof(*e));
    e->segment = segment;
    e->flag = flag ? vx__strdup(flag) : NULL;
    e->project = project ? vx__strdup(project) : NULL;
    e->path = vx__strdup(path);
    e->message = vx__strdup(message);
    s->naside++;
    if ((flag && !e->flag) || (project && !e->project) || !e->path ||
        !e->message)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    return VX_OK;
}

static int aside_cmp(const void *a, const void *b)
{
    const hub_aside *x = a, *y = b;
    if (!x->flag || !y->flag)
        return x->flag ? 1
               : y->flag
                   ? -1
                   : (x->segment > y->segment) - (x->segment < y->segment);
    return strcmp(x->flag, y->flag);
}

/* Sorts the entries (segments first, then flags by name) and folds them
 * into the content hash. */
static void aside_seal(hub_state *s)
{
    if (s->naside)
        qsort(s->aside, s->naside, sizeof(*s->aside), aside_cmp);
    for (size_t i = 0; i < s->naside; i++) {
        const hub_aside *a = &s->aside[i];
        uint64_t h = hub_hash64(a->message, strlen(a->message),
                                (uint64_t)a->segment + HUB_HASH_SEED);
        if (a->flag)
            h = hub_hash64(a->flag, strlen(a->flag), h);
        s->content += h * 0xff51afd7ed558ccdull + 3;
    }
}

/* Whether libvexil compiles `text` as the only flag (or segment) of a
 * document: the segments a flag names are ids, resolved when evaluating,
 * so a flag compiles alone exactly as it does among the others. The error
 * path is made relative to the flag (or segment). */
vx_status hub__compile_alone(const char *text, size_t len, bool segment,
                             vx_error *err)
{
    sbuf b = {0};
    hub__sb_str(&b, segment ? "{\"version\":2,\"features\":[],\"segments\":["
                            : "{\"version\":2,\"features\":[");
    hub__sb_put(&b, text, len);
    hub__sb_str(&b, segment ? "]}" : "],\"segments\":[]}");
    if (b.fail) {
        vx__free(b.p);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    vx_snapshot *snap = NULL;
    vx_status st = vx_snapshot_load(b.p, b.len, NULL, &snap, err);
    vx__free(b.p);
    vx_snapshot_unref(snap);
    if (st != VX_OK && err) {
        const char *pre = segment ? "/segments/0" : "/features/0";
        size_t n = strlen(pre);
        if (strncmp(err->path, pre, n) == 0)
            memmove(err->path, err->path + n, strlen(err->path + n) + 1);
    }
    return st;
}

/* Whether flag `f` names segment `id` in one of its strategies. */
static bool uses_segment(const hub_flag *f, int64_t id)
{
    if (!f->uses_segments)
        return false;
    json_t *j = json_loadb(f->text, f->text_len, 0, NULL);
    bool hit = false;
    size_t i, k;
    json_t *st, *sid;
    json_array_foreach (json_object_get(j, "strategies"), i, st) {
        json_array_foreach (json_object_get(st, "segments"), k, sid) {
            hit = hit || json_integer_value(sid) == id;
        }
    }
    json_decref(j);
    return hit;
}

/* Drops the flags marked in `bad` (indexes into s->flags), keeping the
 * order and, while patching, where the others came from. */
static void drop_flags(hub_state *s, const bool *bad)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nflags; i++) {
        if (bad[i]) {
            rec_release(s->flags[i].rec);
            continue;
        }
        s->flags[k] = s->flags[i];
        if (s->src && i < s->nsrc)
            s->src[k] = s->src[i];
        k++;
    }
    s->nflags = k;
    if (s->src)
        s->nsrc = k;
}

/* Finds what libvexil refuses among the flags at `from` (indexes, [n]; all
 * of them when `from` is NULL) and, when `segments`, among the segments:
 * each is set aside (an entry; segments and the flags naming them leave
 * the state). VX_OK with `*found` false when nothing alone is refused. */
static vx_status set_aside(hub_state *s, const size_t *from, size_t n,
                           bool segments, bool *found, vx_error *err)
{
    vx_status st = VX_OK;
    *found = false;
    bool *bad = vx__calloc(s->nflags ? s->nflags : 1, sizeof(bool));
    if (!bad)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    for (size_t g = 0; segments && st == VX_OK && g < s->nsegs;) {
        vx_error e;
        memset(&e, 0, sizeof(e));
        hub_seg *seg = &s->segs[g];
        vx_status cs =
            hub__compile_alone(seg->text, strlen(seg->text), true, &e);
        if (cs == VX_ENOMEM)
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        if (cs == VX_OK || cs == VX_ENOMEM) {
            g++;
            continue;
        }
        *found = true;
        st = aside_add(s, NULL, NULL, seg->id, e.path, e.message, err);
        for (size_t i = 0; st == VX_OK && i < s->nflags; i++) {
            if (bad[i] || !uses_segment(&s->flags[i], seg->id))
                continue;
            char msg[VX_ERROR_MSG_MAX];
            snprintf(msg, sizeof(msg), "it uses segment %lld, set aside: %s",
                     (long long)seg->id, e.message);
            bad[i] = true;
            st = aside_add(s, s->flags[i].name, s->flags[i].project, -1, "",
                           msg, err);
        }
        vx__free(seg->text);
        memmove(seg, seg + 1, (s->nsegs - g - 1) * sizeof(*seg));
        s->nsegs--;
    }
    for (size_t k = 0; st == VX_OK && k < (from ? n : s->nflags); k++) {
        size_t i = from ? from[k] : k;
        if (bad[i])
            continue;
        vx_error e;
        memset(&e, 0, sizeof(e));
        const hub_flag *f = &s->flags[i];
        vx_status cs = hub__compile_alone(f->text, f->text_len, false, &e);
        if (cs == VX_ENOMEM)
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        if (cs == VX_OK || cs == VX_ENOMEM)
            continue;
        *found = true;
        bad[i] = true;
        st = aside_add(s, f->name, f->project, -1, e.path, e.message, err);
    }
    if (st == VX_OK)
        drop_flags(s, bad);
    vx__free(bad);
    return st;
}

/* The whole document the snapshot of `s` is compiled from: exactly the
 * text SDKs are served. */
static void put_document(sbuf *text, const hub_state *s)
{
    hub__sb_str(text, "{\"version\":2,\"features\":[");
    for (size_t i = 0; i < s->nflags; i++) {
        if (i)
            hub__sb_put(text, ",", 1);
        hub__sb_put(text, s->flags[i].text, s->flags[i].text_len);
    }
    hub__sb_str(text, "],\"segments\":[");
    for (size_t i = 0; i < s->nsegs; i++) {
        if (i)
            hub__sb_put(text, ",", 1);
        hub__sb_str(text, s->segs[i].text);
    }
    hub__sb_str(text, "]}");
}

/* Compiles the snapshot of a whole build; what libvexil refuses is set
 * aside first. */
static vx_status compile_whole(hub_state *s, vx_error *err)
{
    for (int round = 0;; round++) {
        sbuf text = {0};
        put_document(&text, s);
        if (text.fail) {
            vx__free(text.p);
            return vx__error_set(err, VX_ENOMEM, "", "out of memory");
        }
        vx_status st = vx_snapshot_load(text.p, text.len, NULL, &s->snap, err);
        vx__free(text.p);
        if (st == VX_OK || st == VX_ENOMEM || round > 0)
            return st;
        vx_status refused = st;
        bool found = false;
        st = set_aside(s, NULL, 0, true, &found, err);
        if (st != VX_OK)
            return st;
        if (!found) /* the document as a whole (its size, its count) */
            return refused;
    }
}

static int by_feature_name(const void *a, const void *b)
{
    const char *x =
        json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y =
        json_string_value(json_object_get(*(json_t *const *)b, "name"));
    return strcmp(x ? x : "", y ? y : "");
}

vx_status hub__state_build_take(const char *env, json_t *doc, int64_t revision,
                                hub_state **out, vx_error *err)
{
    vx_status st = VX_OK;
    json_t **order = NULL;
    hub_state *s = state_new(env, revision);
    *out = NULL;
    json_t *features = json_object_get(doc, "features");
    size_t n = json_array_size(features);
    order = vx__calloc(n ? n : 1, sizeof(*order));
    if (!s || !order || !flags_reserve(s, n)) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    /* By name: the order is a function of the flags alone, whichever
     * process builds it and whatever order the database lists them in. */
    for (size_t i = 0; i < n; i++)
        order[i] = json_array_get(features, i);
    qsort(order, n, sizeof(*order), by_feature_name);
    for (size_t i = 0; i < n && st == VX_OK; i++)
        st = state_push_new(s, order[i], err);
    if (st == VX_OK)
        st = state_set_segments(s, json_object_get(doc, "segments"), err);
    vx__free(order);
    order = NULL;
    json_decref(doc);
    doc = NULL;
    /* Coalesce what the document freed (many of its pieces sit in
     * unmerged fast bins until then), so that the blocks below are carved
     * side by side rather than in the holes between them: otherwise they
     * pin most pages of the heap the document used. */
    malloc_trim(0);
    if (st == VX_OK)
        st = state_materialize(s, err);
    if (st == VX_OK)
        st = compile_whole(s, err);
    if (st == VX_OK)
        st = state_index(s, err);
    if (st != VX_OK)
        goto out;
    aside_seal(s);
    *out = s;
    s = NULL;
out:
    vx__free(order);
    json_decref(doc);
    state_free(s);
    return st;
}

/* The delta that turns `old`'s snapshot into that of `s`: each flag named
 * in `changes` is updated with its text in `s`, or removed when `s` does
 * not serve it. */
static void patch_delta(sbuf *d, const hub_state *old, const hub_state *s,
                        const size_t *fresh, size_t nfresh,
                        const json_t *changes)
{
    size_t nev = 0;
    hub__sb_str(d, "{\"events\":[");
    for (size_t k = 0; k < nfresh; k++) {
        const hub_flag *f = &s->flags[fresh[k]];
        hub__sb_str(d, nev++ ? "," : "");
        hub__sb_str(d, "{\"type\":\"feature-updated\",\"feature\":");
        hub__sb_put(d, f->text, f->text_len);
        hub__sb_put(d, "}", 1);
    }
    const char *name;
    json_t *cf;
    json_object_foreach ((json_t *)changes, name, cf) {
        bool served = false;
        for (size_t k = 0; k < nfresh && !served; k++)
            served = strcmp(s->flags[fresh[k]].name, name) == 0;
        if (served || !hub_state_find(old, name))
            continue;
        json_t *n = json_string(name);
        hub__sb_str(d, nev++ ? "," : "");
        hub__sb_str(d, "{\"type\":\"feature-removed\",\"featureName\":");
        if (n)
            hub__sb_json(d, n);
        else
            d->fail = true;
        hub__sb_put(d, "}", 1);
        json_decref(n);
    }
    hub__sb_str(d, "]}");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

vx_status hub__state_patch(const hub_state *old, json_t *changes,
                           int64_t revision, hub_state **out, vx_error *err)
{
    vx_status st = VX_OK;
    sbuf delta = {0};
    size_t nfresh = 0, nadded = 0;
    size_t nch = json_object_size(changes);
    hub_state *s = state_new(old->env, revision);
    size_t *fresh = vx__calloc(nch ? nch : 1, sizeof(*fresh));
    const char **added = vx__calloc(nch ? nch : 1, sizeof(*added));
    *out = NULL;
    if (!s || !fresh || !added || !flags_reserve(s, old->nflags + nch)) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    s->base = old;
    /* New names go where their name sorts: the order stays a function of
     * the flags alone. */
    const char *name;
    json_t *cf;
    json_object_foreach (changes, name, cf) {
        if (json_is_object(cf) && !hub_state_find(old, name))
            added[nadded++] = name;
    }
    qsort(added, nadded, sizeof(*added), by_name);
    size_t i = 0, k = 0;
    while (st == VX_OK && (i < old->nflags || k < nadded)) {
        bool take_old =
            i < old->nflags &&
            (k == nadded || strcmp(old->flags[i].name, added[k]) < 0);
        const char *nm = take_old ? old->flags[i].name : added[k];
        cf = json_object_get(changes, nm);
        if (take_old && !cf) {
            if (!state_push_old(s, old, i))
                st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        } else if (json_is_object(cf)) {
            fresh[nfresh++] = s->nflags;
            st = state_push_new(s, cf, err);
        }
        if (take_old)
            i++;
        else
            k++;
    }
    /* What was set aside stays so unless a change names it again. */
    for (size_t a = 0; st == VX_OK && a < old->naside; a++) {
        const hub_aside *e = &old->aside[a];
        if (!e->flag || !json_object_get(changes, e->flag))
            st = aside_add(s, e->flag, e->project, e->segment, e->path,
                           e->message, err);
    }
    if (st == VX_OK)
        st = state_copy_segments(s, old, err);
    if (st == VX_OK)
        st = state_materialize(s, err);
    for (int round = 0; st == VX_OK; round++) {
        vx__free(delta.p);
        memset(&delta, 0, sizeof(delta));
        patch_delta(&delta, old, s, fresh, nfresh, changes);
        if (delta.fail) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            break;
        }
        st = vx_snapshot_apply_delta(old->snap, delta.p, delta.len, NULL,
                                     &s->snap, err);
        if (st == VX_OK || st == VX_ENOMEM || round > 0)
            break;
        /* Which of the changed flags libvexil refuses: those are set
         * aside, the others go on. */
        vx_status refused = st;
        bool found = false;
        st = set_aside(s, fresh, nfresh, false, &found, err);
        if (st == VX_OK && !found)
            st = refused; /* the delta as a whole: err says why */
        if (st != VX_OK)
            break;
        /* The fresh flags left (the order is kept). */
        size_t kept = 0;
        for (size_t a = 0; a < s->nflags; a++)
            if (s->src[a] < 0)
                fresh[kept++] = a;
        nfresh = kept;
    }
    if (st == VX_OK)
        st = state_index(s, err);
    if (st != VX_OK)
        goto out;
    aside_seal(s);
    s->base = NULL; /* the patched state may go before this one */
    vx__free(s->src);
    s->src = NULL;
    *out = s;
    s = NULL;
out:
    vx__free(delta.p);
    vx__free(fresh);
    vx__free(added);
    state_free(s);
    return st;
}
