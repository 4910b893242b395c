/* Bump allocator: see arena.h. Blocks are singly linked, newest first;
 * allocations are carved from the newest block and never individually freed. */
#include "base/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

#define ARENA_MAX_BLOCK ((size_t)1 << 20)

struct vx__arena_block {
    vx__arena_block *next; /* older block */
    size_t used;           /* bytes handed out from data */
    size_t cap;            /* bytes in data */
    alignas(max_align_t) unsigned char data[];
};

void vx__arena_init(vx_arena *a, size_t first)
{
    a->head = NULL;
    a->next_size = first < 64 ? 64 : first;
    a->total = 0;
}

void vx__arena_release(vx_arena *a)
{
    vx__arena_block *b = a->head;
    while (b) {
        vx__arena_block *next = b->next;
        vx__free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

void vx__arena_reset(vx_arena *a)
{
    vx__arena_block *keep = a->head;
    if (!keep)
        return;
    vx__arena_block *b = keep->next;
    while (b) {
        vx__arena_block *next = b->next;
        a->total -= sizeof(*b) + b->cap;
        vx__free(b);
        b = next;
    }
    keep->next = NULL;
    keep->used = 0;
}

void *vx__arena_alloc(vx_arena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    size_t need = (n + align - 1) & ~(align - 1);
    if (need < n)
        return NULL;
    vx__arena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = a->next_size;
        if (cap < need)
            cap = need;
        if (cap > SIZE_MAX - sizeof(*b))
            return NULL;
        b = vx__malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        a->total += sizeof(*b) + cap;
        if (a->next_size < ARENA_MAX_BLOCK)
            a->next_size *= 2;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

void *vx__arena_calloc(vx_arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = vx__arena_alloc(a, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

char *vx__arena_strndup(vx_arena *a, const char *s, size_t len)
{
    char *p = vx__arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
