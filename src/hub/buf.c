/* The SDK hub's small helpers: the content hash used for ETags and flag
 * identity, the bounded byte buffer that bodies are built in, and the
 * clocks. */
#include "hub/internal.h"

#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

uint64_t hub_hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h ^= w;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h ^= w;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h;
}

void hub__sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->fail)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > VX_LIMIT_DOC_BYTES) {
            b->fail = true;
            return;
        }
        char *q = vx__realloc(b->p, cap);
        if (!q) {
            b->fail = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void hub__sb_str(sbuf *b, const char *s)
{
    hub__sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) void hub__sb_fmt(sbuf *b, const char *fmt,
                                                       ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->fail = true;
        return;
    }
    hub__sb_put(b, tmp, (size_t)n);
}

/* Appends `j` compact-encoded. */
void hub__sb_json(sbuf *b, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        b->fail = true;
        return;
    }
    hub__sb_str(b, s);
    free(s);
}

double hub__mono_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
