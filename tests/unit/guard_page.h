/* Test helper for parser unit tests (STYLE rule 14: "parser unit tests
 * place input against a guard page"): copies an input so that its last
 * byte sits right before an inaccessible page. Reading even one byte past
 * `len` then faults, with or without a sanitizer, and no NUL follows the
 * input to hide the overrun. Header-only, for tests/unit only. */
#ifndef VX_TESTS_UNIT_GUARD_PAGE_H
#define VX_TESTS_UNIT_GUARD_PAGE_H

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct guarded {
    char *map;     /* the whole mapping, data pages + guard page */
    size_t maplen; /* its length */
} guarded;

/* Returns the copy of s[0..len) ending at the guard page, or NULL when the
 * mapping fails. Release with guard_release. */
static inline const char *guard_copy(guarded *g, const char *s, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (len + page - 1) / page;
    if (data == 0)
        data = 1;
    g->maplen = (data + 1) * page;
    void *m = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        g->map = NULL;
        return NULL;
    }
    g->map = m;
    if (mprotect(g->map + data * page, page, PROT_NONE) != 0) {
        munmap(g->map, g->maplen);
        g->map = NULL;
        return NULL;
    }
    char *dst = g->map + data * page - len;
    if (len)
        memcpy(dst, s, len);
    return dst;
}

static inline void guard_release(guarded *g)
{
    if (g->map)
        munmap(g->map, g->maplen);
    g->map = NULL;
}

#endif
