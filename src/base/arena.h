/* vx_arena: a bump allocator for objects that share one lifetime (a compiled
 * flag, a parsed context set, an HTTP request).
 *
 * Invariant: every allocation lives until vx__arena_release; nothing is
 * freed one by one. Blocks come from malloc and grow geometrically up to a
 * cap, so small arenas stay small and large ones take few blocks. */
#ifndef VX_BASE_ARENA_H
#define VX_BASE_ARENA_H

#include <stddef.h>

typedef struct vx__arena_block vx__arena_block;

typedef struct vx_arena {
    vx__arena_block *head; /* newest block, NULL when empty */
    size_t next_size;      /* size of the next block to allocate */
    size_t total;          /* bytes obtained from malloc, for accounting */
} vx_arena;

/* Initialises an empty arena whose first block will hold `first` bytes. */
void vx__arena_init(vx_arena *a, size_t first);

/* Frees every block; the arena is empty (and reusable) afterwards. */
void vx__arena_release(vx_arena *a);

/* Empties the arena but keeps its newest block for reuse: for a scratch
 * arena refilled many times (one per parsed value). */
void vx__arena_reset(vx_arena *a);

/* Returns `n` bytes aligned for any type, or NULL on out of memory. */
void *vx__arena_alloc(vx_arena *a, size_t n);

/* Like vx__arena_alloc, zero-filled; `count * size` checked for overflow. */
void *vx__arena_calloc(vx_arena *a, size_t count, size_t size);

/* Copies `s[0..len)` into the arena with a trailing NUL; NULL on OOM. */
char *vx__arena_strndup(vx_arena *a, const char *s, size_t len);

#endif
