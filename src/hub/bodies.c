/* Scopes and response bodies of the SDK hub: which flags a caller sees,
 * and the /api/client/features body of each scope, serialized and gzipped
 * once per state (append-only cache under the state's own mutex). */
#include "hub/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/error.h"

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

const hub_seg *hub__find_seg(const hub_state *s, int64_t id)
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
        hub__sb_put(b, f->text, f->text_len);
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
    hub__sb_json(b, copy);
    json_decref(copy);
}

static char *scope_key(const hub_scope *sc)
{
    sbuf b = {0};
    hub__sb_str(&b, sc->projects ? sc->projects : "*");
    hub__sb_put(&b, "\x1f", 1);
    hub__sb_str(&b, sc->project ? sc->project : "");
    hub__sb_put(&b, "\x1f", 1);
    hub__sb_str(&b, sc->name_prefix ? sc->name_prefix : "");
    hub__sb_put(&b, "\x1f", 1);
    hub__sb_str(&b, sc->tag ? sc->tag : "");
    hub__sb_str(&b, sc->inline_segments ? "\x1f"
                                          "i"
                                        : "\x1f"
                                          "s");
    if (sc->edge)
        hub__sb_str(&b, "\x1f"
                        "e");
    if (b.fail) {
        vx__free(b.p);
        return NULL;
    }
    return b.p;
}

/* The flags `sc` selects, comma-joined: each one's stored text, or with
 * its segments written inline when `inlined`. */
void hub__put_flags(sbuf *b, const hub_state *s, const hub_scope *sc,
                    bool inlined)
{
    bool first = true;
    seg_cache c = {0};
    for (size_t i = 0; i < s->nflags; i++) {
        if (!hub_scope_match(sc, &s->flags[i]))
            continue;
        if (!first)
            hub__sb_put(b, ",", 1);
        first = false;
        if (inlined)
            put_inlined(b, s, i, &c);
        else
            hub__put_flag_text(b, &s->flags[i], sc->edge);
    }
    for (size_t i = 0; c.segs && i < s->nsegs; i++)
        json_decref(c.segs[i]);
    vx__free(c.segs);
}

void hub__put_flag_text(sbuf *b, const hub_flag *f, bool tags)
{
    if (!tags || !f->ntags) {
        hub__sb_put(b, f->text, f->text_len);
        return;
    }
    /* The text is an object: its closing brace goes after the tags. */
    json_t *arr = json_array();
    const char *p = f->tags;
    for (size_t i = 0; arr && i < f->ntags; i++) {
        const char *ty = p;
        const char *va = ty + strlen(ty) + 1;
        p = va + strlen(va) + 1;
        if (json_array_append_new(
                arr, json_pack("{ss ss}", "type", ty, "value", va)) != 0)
            b->fail = true;
    }
    hub__sb_put(b, f->text, f->text_len - 1);
    hub__sb_str(b, ",\"tags\":");
    if (arr)
        hub__sb_json(b, arr);
    else
        b->fail = true;
    hub__sb_put(b, "}", 1);
    json_decref(arr);
}

/* Every segment's text, comma-joined. */
void hub__put_segments(sbuf *b, const hub_state *s)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        if (i)
            hub__sb_put(b, ",", 1);
        hub__sb_str(b, s->segs[i].text);
    }
}

/* The features document for `sc` into `b`. */
static void build_features(sbuf *b, const hub_state *s, const hub_scope *sc)
{
    hub__sb_str(b, "{\"version\":2,\"features\":[");
    hub__put_flags(b, s, sc, sc->inline_segments);
    hub__sb_put(b, "]", 1);
    if (!sc->inline_segments) {
        hub__sb_str(b, ",\"segments\":[");
        hub__put_segments(b, s);
        hub__sb_put(b, "]", 1);
    }
    json_t *q =
        json_pack("{ss sb}", "environment", s->label[0] ? s->label : s->env,
                  "inlineSegmentConstraints", sc->inline_segments);
    if (q && sc->project && *sc->project)
        json_object_set_new(q, "project", json_string(sc->project));
    if (q && sc->name_prefix && *sc->name_prefix)
        json_object_set_new(q, "namePrefix", json_string(sc->name_prefix));
    if (q && sc->tag && *sc->tag)
        json_object_set_new(q, "tag", json_string(sc->tag));
    hub__sb_str(b, ",\"query\":");
    if (q)
        hub__sb_json(b, q);
    else
        b->fail = true;
    json_decref(q);
    hub__sb_fmt(b, ",\"meta\":{\"revisionId\":%lld}}", (long long)s->revision);
}

static char *make_etag(const char *bytes, size_t len)
{
    char *e = vx__malloc(24);
    if (e)
        snprintf(e, 24, "\"%016llx\"",
                 (unsigned long long)hub_hash64(bytes, len, HUB_HASH_SEED));
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
