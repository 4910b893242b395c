/* Usage counters (usage.h): a fixed open-addressing table of flag names,
 * a pool of variant counters chained per flag, and a pool of names.
 *
 * Invariant: nflags <= VX_LIMIT_SDK_USAGE_FLAGS, which is half the slots,
 * so a probe always ends at a free slot. */
#include "sdk/usage.h"

#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/limits.h"
#include "vexil/vexil.h"

#define NSLOTS ((uint32_t)VX_LIMIT_SDK_USAGE_FLAGS * 2)

static_assert((NSLOTS & (NSLOTS - 1)) == 0, "the slot count is a power of 2");

static void bucket_free(sdk_usage_bucket *b)
{
    vx__free(b->slots);
    vx__free(b->variants);
    vx__free(b->names);
    memset(b, 0, sizeof(*b));
}

static vx_status bucket_init(sdk_usage_bucket *b)
{
    memset(b, 0, sizeof(*b));
    b->slots = vx__calloc(NSLOTS, sizeof(*b->slots));
    b->variants = vx__calloc(VX_LIMIT_SDK_USAGE_VARIANTS, sizeof(*b->variants));
    b->names = vx__malloc(VX_LIMIT_SDK_USAGE_NAME_BYTES);
    if (!b->slots || !b->variants || !b->names) {
        bucket_free(b);
        return VX_ENOMEM;
    }
    return VX_OK;
}

vx_status sdk_usage_init(sdk_usage *u)
{
    memset(u, 0, sizeof(*u));
    vx_status st = bucket_init(&u->b[0]);
    if (st == VX_OK)
        st = bucket_init(&u->b[1]);
    if (st != VX_OK) {
        bucket_free(&u->b[0]);
        return st;
    }
    pthread_mutex_init(&u->mu, NULL);
    return VX_OK;
}

void sdk_usage_release(sdk_usage *u)
{
    if (!u->b[0].slots)
        return;
    bucket_free(&u->b[0]);
    bucket_free(&u->b[1]);
    pthread_mutex_destroy(&u->mu);
}

/* Copies a name into the pool; false when it is full. */
static bool pool_put(sdk_usage_bucket *b, const char *s, size_t n,
                     uint32_t *off)
{
    if (n > VX_LIMIT_SDK_USAGE_NAME_BYTES - b->names_len)
        return false;
    memcpy(b->names + b->names_len, s, n);
    *off = (uint32_t)b->names_len;
    b->names_len += n;
    return true;
}

static bool same(const sdk_usage_bucket *b, uint32_t off, uint32_t len,
                 const char *s, size_t n)
{
    return len == n && memcmp(b->names + off, s, n) == 0;
}

/* The slot of `name`, created when missing; NULL when the table is full. */
static sdk_usage_flag *find_flag(sdk_usage_bucket *b, uint32_t h,
                                 const char *name, size_t len)
{
    for (uint32_t i = h & (NSLOTS - 1);; i = (i + 1) & (NSLOTS - 1)) {
        sdk_usage_flag *f = &b->slots[i];
        if (f->name_len == 0) {
            if (b->nflags >= VX_LIMIT_SDK_USAGE_FLAGS ||
                !pool_put(b, name, len, &f->name_off))
                return NULL;
            f->hash = h;
            f->name_len = (uint32_t)len;
            f->first_variant = -1;
            b->nflags++;
            return f;
        }
        if (f->hash == h && same(b, f->name_off, f->name_len, name, len))
            return f;
    }
}

static sdk_usage_variant *find_variant(sdk_usage_bucket *b, sdk_usage_flag *f,
                                       const char *name, size_t len)
{
    int32_t *link = &f->first_variant;
    while (*link >= 0) {
        sdk_usage_variant *v = &b->variants[*link];
        if (same(b, v->name_off, v->name_len, name, len))
            return v;
        link = &v->next;
    }
    if (b->nvariants >= VX_LIMIT_SDK_USAGE_VARIANTS)
        return NULL;
    sdk_usage_variant *v = &b->variants[b->nvariants];
    if (!pool_put(b, name, len, &v->name_off))
        return NULL;
    v->name_len = (uint32_t)len;
    v->next = -1;
    v->count = 0;
    *link = (int32_t)b->nvariants++;
    return v;
}

void sdk_usage_count(sdk_usage *u, const char *name, size_t len, bool yes,
                     const char *variant, size_t vlen)
{
    if (len == 0 || len > VX_LIMIT_NAME_BYTES ||
        (variant && (vlen == 0 || vlen > VX_LIMIT_NAME_BYTES)))
        return; /* not a flag name the server would accept */
    uint32_t h = vx_murmur3_32(name, len, 0);
    pthread_mutex_lock(&u->mu);
    sdk_usage_bucket *b = &u->b[u->active];
    if (b->start_ms == 0)
        b->start_ms = vx__wall_ms();
    sdk_usage_flag *f = find_flag(b, h, name, len);
    if (!f) {
        b->dropped++;
    } else {
        if (yes)
            f->yes++;
        else
            f->no++;
        if (variant) {
            sdk_usage_variant *v = find_variant(b, f, variant, vlen);
            if (v)
                v->count++;
            else
                b->dropped++;
        }
    }
    pthread_mutex_unlock(&u->mu);
}

sdk_usage_bucket *sdk_usage_swap(sdk_usage *u)
{
    pthread_mutex_lock(&u->mu);
    sdk_usage_bucket *b = &u->b[u->active];
    u->active ^= 1;
    pthread_mutex_unlock(&u->mu);
    return b;
}

json_t *sdk_usage_toggles(const sdk_usage_bucket *b, bool *oom)
{
    *oom = false;
    if (b->nflags == 0)
        return NULL;
    json_t *toggles = json_object();
    bool ok = toggles != NULL;
    for (uint32_t i = 0; ok && i < NSLOTS; i++) {
        const sdk_usage_flag *f = &b->slots[i];
        if (f->name_len == 0)
            continue;
        json_t *vars = json_object();
        json_t *t = json_pack("{sI sI so}", "yes", (json_int_t)f->yes, "no",
                              (json_int_t)f->no, "variants", vars);
        ok = t != NULL;
        /* A name that is not UTF-8 cannot be sent: setn refuses it (and
         * frees the value); the rest of the bucket still goes. */
        for (int32_t k = f->first_variant; ok && k >= 0;
             k = b->variants[k].next) {
            const sdk_usage_variant *v = &b->variants[k];
            json_object_setn_new(vars, b->names + v->name_off, v->name_len,
                                 json_integer((json_int_t)v->count));
        }
        if (ok)
            json_object_setn_new(toggles, b->names + f->name_off, f->name_len,
                                 t);
    }
    if (!ok) {
        json_decref(toggles);
        *oom = true;
        return NULL;
    }
    return toggles;
}

void sdk_usage_clear(sdk_usage_bucket *b)
{
    if (b->nflags)
        memset(b->slots, 0, NSLOTS * sizeof(*b->slots));
    b->nflags = 0;
    b->nvariants = 0;
    b->names_len = 0;
    b->start_ms = 0;
    b->dropped = 0;
}
