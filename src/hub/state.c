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

/* Builds a state from the service's client document `doc`, which it takes
 * over and frees as soon as the flags are staged. */
vx_status hub__state_build_take(const char *env, json_t *doc, int64_t revision,
                                hub_state **out, vx_error *err)
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
    hub__sb_str(&text, "{\"version\":2,\"features\":[");
    for (i = 0; i < s->nflags; i++) {
        if (i)
            hub__sb_put(&text, ",", 1);
        hub__sb_put(&text, s->flags[i].text, s->flags[i].text_len);
    }
    hub__sb_str(&text, "],\"segments\":[");
    for (i = 0; i < s->nsegs; i++) {
        if (i)
            hub__sb_put(&text, ",", 1);
        hub__sb_str(&text, s->segs[i].text);
    }
    hub__sb_str(&text, "]}");
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
vx_status hub__state_patch(const hub_state *old, json_t *changes,
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
    hub__sb_str(&delta, "{\"events\":[");
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
            hub__sb_str(&delta, nev++ ? "," : "");
            hub__sb_str(&delta, "{\"type\":\"feature-updated\",\"feature\":");
            hub__sb_str(&delta, t);
            hub__sb_put(&delta, "}", 1);
            free(t);
        } else if (had) {
            json_t *n = json_string(name);
            hub__sb_str(&delta, nev++ ? "," : "");
            hub__sb_str(&delta,
                        "{\"type\":\"feature-removed\",\"featureName\":");
            if (n)
                hub__sb_json(&delta, n);
            else
                delta.fail = true;
            hub__sb_put(&delta, "}", 1);
            json_decref(n);
        }
    }
    hub__sb_str(&delta, "]}");
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
