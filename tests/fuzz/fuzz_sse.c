/* libFuzzer target for the C SDK's Server-Sent Events parser
 * (src/sdk/sse.c). Invariant checked: feeding the input whole, split at
 * one point chosen by the input, and one byte at a time gives the same
 * events (type, data, last id) and the same final status; every delivered
 * data buffer is NUL-terminated at its length. A small bound (512 bytes)
 * exercises the limit paths. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdk/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENT 512

typedef struct transcript {
    uint64_t hash; /* FNV-1a over every event */
    size_t events; /* events delivered */
} transcript;

static void mix(transcript *t, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        t->hash = (t->hash ^ b[i]) * 1099511628211u;
    t->hash = (t->hash ^ 0xff) * 1099511628211u; /* field separator */
}

static vx_status record(void *ud, const char *event, const char *d, size_t len,
                        const char *id)
{
    transcript *t = ud;
    if (d[len] != '\0' || len > MAX_EVENT)
        abort();
    t->events++;
    mix(t, event, strlen(event));
    mix(t, d, len);
    mix(t, id, strlen(id));
    return VX_OK;
}

/* Feeds `data` in pieces of `step` bytes after a first piece of `first`. */
static vx_status run(const uint8_t *data, size_t size, size_t first,
                     size_t step, transcript *t)
{
    sdk_sse p;
    t->hash = 1469598103934665603u;
    t->events = 0;
    sdk_sse_init(&p, MAX_EVENT, record, t);
    vx_status st = sdk_sse_feed(&p, (const char *)data, first);
    for (size_t off = first; st == VX_OK && off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        st = sdk_sse_feed(&p, (const char *)data + off, n);
    }
    sdk_sse_release(&p);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    transcript whole, split, bytes;
    vx_status a = run(data, size, size, 1, &whole);
    size_t cut = size ? data[0] % (size + 1) : 0;
    vx_status b = run(data, size, cut, size ? size : 1, &split);
    vx_status c = run(data, size, 0, 1, &bytes);
    if (a != b || a != c || whole.hash != split.hash ||
        whole.hash != bytes.hash || whole.events != bytes.events) {
        fprintf(stderr,
                "fuzz_sse: whole %d/%zu, split at %zu %d/%zu, bytes %d/%zu\n",
                (int)a, whole.events, cut, (int)b, split.events, (int)c,
                bytes.events);
        abort();
    }
    return 0;
}
