/* The SDK hub's history: per published state a small index (names,
 * projects, per-flag hashes) in a ring per environment, and the delta from
 * such an index to the current state, for /api/client/delta and streams.
 * An index keeps nothing of its state alive. */
#include "hub/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/error.h"

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

void hub__index_free(hub_index *x)
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
hub_index *hub__index_of(const hub_state *s, const hub_index *prev)
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
        hub__index_free(x);
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

/* The remembered index of `e` at `rev`, or NULL. Under h->mu. */
const hub_index *hub__hist_find(const env_slot *e, int64_t rev)
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
    return hub__find_seg(s, id) != NULL;
}

/* A feature-updated event for flag `i`, after a comma when `*count` events
 * came before it (then counted). */
static void put_updated(sbuf *b, const hub_state *s, size_t i, long long ev,
                        const hub_scope *sc, size_t *count)
{
    hub__sb_fmt(b,
                "%s{\"eventId\":%lld,\"type\":\"feature-updated\",\"feature\":",
                (*count)++ ? "," : "", ev);
    hub__put_flag_text(b, &s->flags[i], sc->edge);
    hub__sb_put(b, "}", 1);
}

void hub__build_delta(sbuf *b, const hub_index *old, const hub_state *s,
                      const hub_scope *sc, bool *empty)
{
    long long ev = (long long)s->revision;
    *empty = false;
    if (!old) {
        hub__sb_fmt(b,
                    "{\"events\":[{\"eventId\":%lld,\"type\":\"hydration\","
                    "\"features\":[",
                    ev);
        hub__put_flags(b, s, sc, false);
        hub__sb_str(b, "],\"segments\":[");
        hub__put_segments(b, s);
        hub__sb_str(b, "]}]}");
        return;
    }
    size_t count = 0;
    hub__sb_str(b, "{\"events\":[");
    /* Segments first, so that updated flags find the segments they use. */
    for (size_t i = 0; i < s->nsegs; i++) {
        if (idx_has_seg(old, s->segs[i].id, s->segs[i].hash))
            continue;
        hub__sb_fmt(
            b, "%s{\"eventId\":%lld,\"type\":\"segment-updated\",\"segment\":",
            count++ ? "," : "", ev);
        hub__sb_str(b, s->segs[i].text);
        hub__sb_put(b, "}", 1);
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
            put_updated(b, s, (size_t)(now - s->flags), ev, sc, &count);
        } else if (in_old && !in_new) {
            json_t *n = json_string(old->names[k]);
            json_t *p = json_string(old->projects[k]);
            hub__sb_fmt(b,
                        "%s{\"eventId\":%lld,\"type\":\"feature-removed\","
                        "\"featureName\":",
                        count++ ? "," : "", ev);
            hub__sb_json(b, n);
            hub__sb_str(b, ",\"project\":");
            hub__sb_json(b, p);
            hub__sb_put(b, "}", 1);
            json_decref(n);
            json_decref(p);
        }
    }
    for (size_t i = 0; i < s->nflags; i++) {
        if (seen[i] || !hub_scope_match(sc, &s->flags[i]))
            continue;
        put_updated(b, s, i, ev, sc, &count);
    }
    vx__free(seen);
    for (size_t k = 0; k < old->nsegs; k++) {
        if (state_has_seg(s, old->seg_ids[k]))
            continue;
        hub__sb_fmt(
            b,
            "%s{\"eventId\":%lld,\"type\":\"segment-removed\",\"segmentId\":"
            "%lld}",
            count++ ? "," : "", ev, (long long)old->seg_ids[k]);
    }
    hub__sb_str(b, "]}");
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
    env_slot *e = hub__slot_find(h, s->env);
    const hub_index *old = e && since >= 0 ? hub__hist_find(e, since) : NULL;
    hub__build_delta(&b, old, s, scope, &empty);
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
