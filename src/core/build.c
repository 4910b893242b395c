/* Snapshot builder: see build.h. The name map is rebuilt whenever it passes
 * half full, so probing stays short; removed entries stay in the array
 * (NULL) until finish compacts them. */
#include "core/build.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "core/textutil.h"

void vx__builder_init(vx__builder *b)
{
    memset(b, 0, sizeof(*b));
}

static vx_status map_rebuild(vx__builder *b, uint32_t want)
{
    uint32_t cap = 16;
    while (cap < want * 2)
        cap *= 2;
    uint32_t *map = vx__malloc(sizeof(uint32_t) * cap);
    if (!map)
        return VX_ENOMEM;
    memset(map, 0, sizeof(uint32_t) * cap);
    for (uint32_t i = 0; i < b->nflags; i++) {
        if (!b->flags[i])
            continue;
        uint32_t j = b->flags[i]->hash & (cap - 1);
        while (map[j])
            j = (j + 1) & (cap - 1);
        map[j] = i + 1;
    }
    vx__free(b->map);
    b->map = map;
    b->map_mask = cap - 1;
    return VX_OK;
}

/* Returns the map slot holding `name` or the empty slot where it would go. */
static uint32_t *map_slot(vx__builder *b, const char *name, size_t len,
                          uint32_t h)
{
    for (uint32_t j = h & b->map_mask;; j = (j + 1) & b->map_mask) {
        uint32_t v = b->map[j];
        if (v == 0)
            return &b->map[j];
        const vx__flag *f = b->flags[v - 1];
        if (f && f->hash == h &&
            vx__str_eq(f->name.ptr, f->name.len, name, len))
            return &b->map[j];
    }
}

vx_status vx__builder_copy(vx__builder *b, const vx_snapshot *base)
{
    if (!base)
        return VX_OK;
    for (uint32_t i = 0; i < base->nflags; i++) {
        vx__chunk_ref(&base->flags[i]->chunk);
        vx_status st = vx__builder_put_flag_take(b, base->flags[i]);
        if (st != VX_OK)
            return st;
    }
    for (uint32_t i = 0; i < base->nsegments; i++) {
        vx__chunk_ref(&base->segments[i]->chunk);
        vx_status st = vx__builder_put_segment_take(b, base->segments[i]);
        if (st != VX_OK)
            return st;
    }
    return VX_OK;
}

vx_status vx__builder_put_flag_take(vx__builder *b, vx__flag *f)
{
    vx_status st = VX_OK;
    if (b->map == NULL || (b->nflags + 1) * 2 > b->map_mask + 1) {
        st = map_rebuild(b, b->nflags + 1);
        if (st != VX_OK)
            goto fail;
    }
    uint32_t *slot = map_slot(b, f->name.ptr, f->name.len, f->hash);
    if (*slot && b->flags[*slot - 1]) {
        vx__chunk_unref(&b->flags[*slot - 1]->chunk);
        b->flags[*slot - 1] = f;
        return VX_OK;
    }
    if (b->live >= VX_LIMIT_FLAGS) {
        st = VX_ELIMIT;
        goto fail;
    }
    if (b->nflags == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 64;
        vx__flag **n = vx__realloc(b->flags, sizeof(*n) * cap);
        if (!n) {
            st = VX_ENOMEM;
            goto fail;
        }
        b->flags = n;
        b->cap = cap;
    }
    b->flags[b->nflags++] = f;
    b->live++;
    *slot = b->nflags;
    return VX_OK;
fail:
    vx__chunk_unref(&f->chunk);
    return st;
}

void vx__builder_remove_flag(vx__builder *b, const char *name, size_t len)
{
    if (!b->map)
        return;
    uint32_t *slot = map_slot(b, name, len, vx_murmur3_32(name, len, 0));
    if (*slot && b->flags[*slot - 1]) {
        vx__chunk_unref(&b->flags[*slot - 1]->chunk);
        b->flags[*slot - 1] = NULL;
        b->live--;
    }
}

vx_status vx__builder_put_segment_take(vx__builder *b, vx__segment *s)
{
    for (uint32_t i = 0; i < b->nsegs; i++) {
        if (b->segs[i]->id == s->id) {
            vx__chunk_unref(&b->segs[i]->chunk);
            b->segs[i] = s;
            return VX_OK;
        }
    }
    if (b->nsegs >= VX_LIMIT_SEGMENTS) {
        vx__chunk_unref(&s->chunk);
        return VX_ELIMIT;
    }
    if (b->nsegs == b->seg_cap) {
        uint32_t cap = b->seg_cap ? b->seg_cap * 2 : 16;
        vx__segment **n = vx__realloc(b->segs, sizeof(*n) * cap);
        if (!n) {
            vx__chunk_unref(&s->chunk);
            return VX_ENOMEM;
        }
        b->segs = n;
        b->seg_cap = cap;
    }
    b->segs[b->nsegs++] = s;
    return VX_OK;
}

void vx__builder_remove_segment(vx__builder *b, int64_t id)
{
    for (uint32_t i = 0; i < b->nsegs; i++) {
        if (b->segs[i]->id == id) {
            vx__chunk_unref(&b->segs[i]->chunk);
            b->segs[i] = b->segs[--b->nsegs];
            return;
        }
    }
}

void vx__builder_clear(vx__builder *b)
{
    for (uint32_t i = 0; i < b->nflags; i++) {
        if (b->flags[i])
            vx__chunk_unref(&b->flags[i]->chunk);
    }
    for (uint32_t i = 0; i < b->nsegs; i++)
        vx__chunk_unref(&b->segs[i]->chunk);
    b->nflags = 0;
    b->live = 0;
    b->nsegs = 0;
    if (b->map)
        memset(b->map, 0, sizeof(uint32_t) * (b->map_mask + 1));
}

void vx__builder_release(vx__builder *b)
{
    vx__builder_clear(b);
    vx__free(b->flags);
    vx__free(b->map);
    vx__free(b->segs);
    vx__builder_init(b);
}

static int seg_cmp(const void *a, const void *b)
{
    int64_t x = (*(vx__segment *const *)a)->id;
    int64_t y = (*(vx__segment *const *)b)->id;
    return (x > y) - (x < y);
}

vx_status vx__builder_finish(vx__builder *b, vx_snapshot **out)
{
    *out = NULL;
    vx_snapshot *s = vx__malloc(sizeof(*s));
    if (!s)
        return VX_ENOMEM;
    memset(s, 0, sizeof(*s));
    atomic_init(&s->refs, 1);
    uint32_t cap = 16;
    while (cap < b->live * 2)
        cap *= 2;
    s->flags = vx__malloc(sizeof(*s->flags) * (b->live ? b->live : 1));
    s->index = vx__malloc(sizeof(uint32_t) * cap);
    if (!s->flags || !s->index) {
        vx__free(s->flags);
        vx__free(s->index);
        vx__free(s);
        return VX_ENOMEM;
    }
    memset(s->index, 0, sizeof(uint32_t) * cap);
    s->index_mask = cap - 1;
    for (uint32_t i = 0; i < b->nflags; i++) {
        vx__flag *f = b->flags[i];
        if (!f)
            continue;
        uint32_t j = f->hash & s->index_mask;
        while (s->index[j])
            j = (j + 1) & s->index_mask;
        s->flags[s->nflags++] = f;
        s->index[j] = s->nflags;
    }
    if (b->nsegs > 1)
        qsort(b->segs, b->nsegs, sizeof(*b->segs), seg_cmp);
    s->segments = b->segs;
    s->nsegments = b->nsegs;
    /* Ownership of the chunks moved to the snapshot. */
    vx__free(b->flags);
    vx__free(b->map);
    vx__builder_init(b);
    *out = s;
    return VX_OK;
}
