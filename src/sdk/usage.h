/* Usage counting for the metrics the SDK posts: yes/no and variant counts
 * per flag name, in fixed-size tables allocated once, so that counting on
 * the caller's evaluation path never allocates.
 *
 * Two buckets: callers count into the active one under a short mutex; the
 * background thread swaps them, serialises the filled one without the lock
 * and clears it. Invariant: only the active bucket is written by callers,
 * and only the background thread touches the inactive one. */
#ifndef VX_SDK_USAGE_H
#define VX_SDK_USAGE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vexil/status.h"

typedef struct sdk_usage_flag {
    uint32_t hash;         /* murmur3 of the name; slot used when len > 0 */
    uint32_t name_off;     /* name in the bucket's pool */
    uint32_t name_len;     /* 0 = free slot */
    int32_t first_variant; /* head of its variant list, -1 = none */
    uint64_t yes;          /* isEnabled true */
    uint64_t no;           /* isEnabled false */
} sdk_usage_flag;

typedef struct sdk_usage_variant {
    uint32_t name_off; /* name in the bucket's pool */
    uint32_t name_len; /* bytes */
    int32_t next;      /* next variant of the same flag, -1 = end */
    uint64_t count;    /* getVariant answers with this name */
} sdk_usage_variant;

typedef struct sdk_usage_bucket {
    sdk_usage_flag *slots;       /* open addressing, 2 * flag limit */
    uint32_t nflags;             /* used slots */
    sdk_usage_variant *variants; /* pool of variant counters */
    uint32_t nvariants;          /* used */
    char *names;                 /* pool of names */
    size_t names_len;            /* used bytes */
    int64_t start_ms;            /* wall time of the first count, 0 = none */
    uint64_t dropped;            /* counts lost to a full table */
} sdk_usage_bucket;

typedef struct sdk_usage {
    pthread_mutex_t mu;    /* guards `active` and the active bucket */
    sdk_usage_bucket b[2]; /* the two buckets */
    int active;            /* index of the bucket callers count into */
} sdk_usage;

/* Allocates both buckets (VX_ENOMEM on failure, nothing held). */
vx_status sdk_usage_init(sdk_usage *u);
void sdk_usage_release(sdk_usage *u);

/* Counts one answer for flag `name[0..len)`: yes or no, and, when
 * `variant` is not NULL, one for that variant name. Never allocates; a
 * count that does not fit the tables is added to `dropped`. Thread-safe. */
void sdk_usage_count(sdk_usage *u, const char *name, size_t len, bool yes,
                     const char *variant, size_t vlen);

/* Makes the other bucket active and returns the one that was (only the
 * background thread may call this, and must sdk_usage_clear the result
 * before the next swap). */
sdk_usage_bucket *sdk_usage_swap(sdk_usage *u);

/* The bucket as the `toggles` object of a metrics body
 * ({"<flag>": {"yes", "no", "variants": {...}}}); NULL when empty or out
 * of memory (then *oom is set). */
json_t *sdk_usage_toggles(const sdk_usage_bucket *b, bool *oom);

/* Empties a bucket returned by sdk_usage_swap. */
void sdk_usage_clear(sdk_usage_bucket *b);

#endif
