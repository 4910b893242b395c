/* Process-wide malloc interposer: every allocation entry point counts one
 * call, then forwards to glibc's own allocator (__libc_*), so the program's
 * behaviour and memory use are unchanged. The definitions must be exported
 * from the executable (default visibility) so that shared libraries such as
 * jansson and PCRE2 bind to them too. */
#include "alloc_count.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#define BENCH_EXPORT __attribute__((visibility("default")))

/* glibc's real allocator, exported for exactly this purpose. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

/* The only mutable globals of the benchmarks: an interposed malloc has no
 * context argument to hang them on (STYLE rule 10 exception, as for a
 * signal flag). */
static _Atomic uint64_t g_allocs; /* allocation calls */
static _Atomic uint64_t g_frees;  /* free calls with a non-NULL pointer */

static inline void count_alloc(void)
{
    atomic_fetch_add_explicit(&g_allocs, 1, memory_order_relaxed);
}

BENCH_EXPORT void *malloc(size_t n)
{
    count_alloc();
    return __libc_malloc(n);
}

BENCH_EXPORT void *calloc(size_t count, size_t size)
{
    count_alloc();
    return __libc_calloc(count, size);
}

BENCH_EXPORT void *realloc(void *p, size_t n)
{
    count_alloc();
    return __libc_realloc(p, n);
}

BENCH_EXPORT void free(void *p)
{
    if (p)
        atomic_fetch_add_explicit(&g_frees, 1, memory_order_relaxed);
    __libc_free(p);
}

BENCH_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    count_alloc();
    return __libc_memalign(align, n);
}

BENCH_EXPORT void *memalign(size_t align, size_t n)
{
    count_alloc();
    return __libc_memalign(align, n);
}

BENCH_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    count_alloc();
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

uint64_t bench_alloc_count(void)
{
    return atomic_load_explicit(&g_allocs, memory_order_relaxed);
}

uint64_t bench_free_count(void)
{
    return atomic_load_explicit(&g_frees, memory_order_relaxed);
}
