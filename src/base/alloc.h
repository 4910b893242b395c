/* The one place heap memory comes from, so tests can make it fail on
 * purpose (the allocation-budget tests) and benchmarks can count it.
 *
 * Invariant: all of Vexil's own heap use goes through vx__malloc/vx__free
 * (third-party libraries are pointed at them where they allow it). */
#ifndef VX_BASE_ALLOC_H
#define VX_BASE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *vx__malloc(size_t n);
void *vx__realloc(void *p, size_t n);
void vx__free(void *p);
/* Zero-filled `count * size` bytes (NULL on overflow or out of memory). */
void *vx__calloc(size_t count, size_t size);
/* A copy of the NUL-terminated `s`, or NULL. */
char *vx__strdup(const char *s);

/* Test and benchmark hooks, not for production code. A budget of N makes
 * the (N+1)th allocation from now fail; SIZE_MAX means unlimited. */
void vx__alloc_set_budget(size_t budget);
uint64_t vx__alloc_count(void); /* allocations made so far, process-wide */
/* Allocations refused on the calling thread so far: lets a caller tell an
 * out-of-memory failure inside a library (jansson) from bad input. */
uint64_t vx__alloc_failures(void);

#endif
