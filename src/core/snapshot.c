/* Snapshot lifetime and lookup, and the engine slot that publishes them.
 *
 * Invariants: a snapshot never changes after vx__snapshot_finish; its
 * chunks outlive it while other snapshots share them. The engine's spin lock
 * guards only the two-instruction "load pointer + take reference" step, so
 * a reader can never take a reference to a snapshot being freed; evaluation
 * itself takes no lock. */
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "base/alloc.h"
#include "core/build.h"
#include "core/model.h"
#include "core/textutil.h"

void vx__chunk_ref(vx__chunk *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void vx__chunk_unref(vx__chunk *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (uint32_t i = 0; i < c->nregexes; i++)
        vx__regex_free(c->regexes[i]);
    vx__free(c->regexes);
    vx_arena arena = c->arena; /* the chunk itself lives in its arena */
    vx__arena_release(&arena);
}

VX_API vx_snapshot *vx_snapshot_ref(vx_snapshot *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void vx__snapshot_destroy(vx_snapshot *s)
{
    for (uint32_t i = 0; i < s->nflags; i++)
        vx__chunk_unref(&s->flags[i]->chunk);
    for (uint32_t i = 0; i < s->nsegments; i++)
        vx__chunk_unref(&s->segments[i]->chunk);
    vx__free(s->flags);
    vx__free(s->index);
    vx__free(s->segments);
    vx__free(s);
}

VX_API void vx_snapshot_unref(vx_snapshot *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        vx__snapshot_destroy(s);
}

VX_API size_t vx_snapshot_flag_count(const vx_snapshot *s)
{
    return s ? s->nflags : 0;
}

VX_API vx_str vx_snapshot_flag_name(const vx_snapshot *s, size_t i)
{
    if (!s || i >= s->nflags)
        return (vx_str){NULL, 0};
    return s->flags[i]->name;
}

static int64_t find_index(const vx_snapshot *s, const char *name, size_t len)
{
    if (!s || s->nflags == 0)
        return -1;
    uint32_t h = vx_murmur3_32(name, len, 0);
    for (uint32_t i = h & s->index_mask;; i = (i + 1) & s->index_mask) {
        uint32_t slot = s->index[i];
        if (slot == 0)
            return -1;
        const vx__flag *f = s->flags[slot - 1];
        if (f->hash == h && vx__str_eq(f->name.ptr, f->name.len, name, len))
            return (int64_t)slot - 1;
    }
}

VX_API int64_t vx_snapshot_flag_index(const vx_snapshot *s, const char *name,
                                      size_t len)
{
    return find_index(s, name, len);
}

const vx__flag *vx__snapshot_find(const vx_snapshot *s, const char *name,
                                  size_t len)
{
    int64_t i = find_index(s, name, len);
    return i < 0 ? NULL : s->flags[i];
}

const vx__segment *vx__snapshot_segment(const vx_snapshot *s, int64_t id)
{
    uint32_t lo = 0, hi = s->nsegments;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t m = s->segments[mid]->id;
        if (m == id)
            return s->segments[mid];
        if (m < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- engine ------------------------------------------------------------ */

struct vx_engine {
    atomic_flag lock;     /* guards `current` during acquire and swap */
    vx_snapshot *current; /* the published snapshot, one reference held */
};

static void spin_lock(atomic_flag *l)
{
    while (atomic_flag_test_and_set_explicit(l, memory_order_acquire))
        sched_yield();
}

static void spin_unlock(atomic_flag *l)
{
    atomic_flag_clear_explicit(l, memory_order_release);
}

VX_API vx_engine *vx_engine_new(void)
{
    vx_engine *e = vx__malloc(sizeof(*e));
    if (!e)
        return NULL;
    atomic_flag_clear(&e->lock);
    e->current = NULL;
    return e;
}

VX_API void vx_engine_free(vx_engine *e)
{
    if (!e)
        return;
    vx_snapshot_unref(e->current);
    vx__free(e);
}

VX_API vx_snapshot *vx_engine_acquire(vx_engine *e)
{
    spin_lock(&e->lock);
    vx_snapshot *s = vx_snapshot_ref(e->current);
    spin_unlock(&e->lock);
    return s;
}

VX_API void vx_engine_swap_take(vx_engine *e, vx_snapshot *s)
{
    spin_lock(&e->lock);
    vx_snapshot *old = e->current;
    e->current = s;
    spin_unlock(&e->lock);
    vx_snapshot_unref(old);
}

vx__fieldref vx__fieldref_make(const char *name, size_t len)
{
    static const struct {
        const char *name;
        vx__field kind;
    } builtins[] = {
        {"userId", VX__F_USER_ID},
        {"sessionId", VX__F_SESSION_ID},
        {"remoteAddress", VX__F_REMOTE_ADDRESS},
        {"environment", VX__F_ENVIRONMENT},
        {"appName", VX__F_APP_NAME},
        {"currentTime", VX__F_CURRENT_TIME},
    };
    vx__fieldref r = {VX__F_PROPERTY, vx__str_tag(name, len), {name, len}};
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (vx__str_eq(name, len, builtins[i].name, strlen(builtins[i].name)))
            r.kind = builtins[i].kind;
    }
    return r;
}
