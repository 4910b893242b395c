/* Counting, failure-injectable allocator wrappers: see alloc.h. The counters
 * are relaxed atomics: exact under one thread, approximate under several. */
#include "base/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t g_count;           /* allocations made */
static _Atomic size_t g_budget = SIZE_MAX; /* remaining before failure */
static _Thread_local uint64_t t_failures;  /* refusals on this thread */

static int take_budget(void)
{
    size_t b = atomic_load_explicit(&g_budget, memory_order_relaxed);
    if (b == SIZE_MAX)
        return 1;
    while (b > 0) {
        if (atomic_compare_exchange_weak(&g_budget, &b, b - 1))
            return 1;
    }
    t_failures++;
    return 0;
}

void *vx__malloc(size_t n)
{
    if (!take_budget())
        return NULL;
    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
    return malloc(n ? n : 1);
}

void *vx__realloc(void *p, size_t n)
{
    if (!take_budget())
        return NULL;
    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
    return realloc(p, n ? n : 1);
}

void vx__free(void *p)
{
    free(p);
}

void *vx__calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    if (!take_budget())
        return NULL;
    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
    /* calloc, not malloc + memset: large blocks come zeroed from the
     * kernel and cost no memory until they are written. */
    return calloc(count ? count : 1, size ? size : 1);
}

char *vx__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = vx__malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void vx__alloc_set_budget(size_t budget)
{
    atomic_store(&g_budget, budget);
}

uint64_t vx__alloc_failures(void)
{
    return t_failures;
}

uint64_t vx__alloc_count(void)
{
    return atomic_load_explicit(&g_count, memory_order_relaxed);
}
