/* Allocation counting for benchmarks that must prove "no allocation per
 * evaluation". Linking alloc_count.c into a program replaces malloc and
 * friends for the whole process (libvexil, jansson, PCRE2 and libc alike). */
#ifndef VX_BENCH_ALLOC_COUNT_H
#define VX_BENCH_ALLOC_COUNT_H

#include <stdint.h>

/* Calls to malloc, calloc, realloc, aligned_alloc, memalign and
 * posix_memalign since the program started (every one counts, including
 * realloc that shrinks or grows in place). Relaxed atomics: exact for one
 * thread. */
uint64_t bench_alloc_count(void);

/* Calls to free with a non-NULL pointer. */
uint64_t bench_free_count(void);

#endif
