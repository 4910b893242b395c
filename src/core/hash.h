/* Incremental MurmurHash3 x86 32-bit, for hashing "group:id" without
 * joining the strings: the state after "group:" is computed once at load
 * time and copied for each evaluation, which then feeds only the id.
 * Header-only so the evaluation loop can inline it. Little-endian hosts
 * (murmur3.c refuses to build elsewhere). */
#ifndef VX_CORE_HASH_H
#define VX_CORE_HASH_H

#include <stdint.h>
#include <string.h>

#include "vexil/vexil.h"

typedef struct vx__hstate {
    uint32_t h;     /* running hash */
    uint32_t tail;  /* pending bytes, little-endian */
    uint32_t ntail; /* pending byte count (0..3) */
    uint32_t len;   /* bytes fed, mod 2^32 as in the reference */
} vx__hstate;

static inline uint32_t vx__rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static inline uint32_t vx__mix_k(uint32_t k)
{
    k *= 0xcc9e2d51u;
    k = vx__rotl32(k, 15);
    return k * 0x1b873593u;
}

static inline void vx__hash_block(vx__hstate *hs, uint32_t k)
{
    hs->h ^= vx__mix_k(k);
    hs->h = vx__rotl32(hs->h, 13) * 5 + 0xe6546b64u;
}

static inline void vx__hash_feed(vx__hstate *hs, const char *p, size_t n)
{
    const uint8_t *u = (const uint8_t *)p;
    size_t i = 0;
    hs->len += (uint32_t)n;
    while (hs->ntail && i < n) {
        hs->tail |= (uint32_t)u[i++] << (8 * hs->ntail);
        if (++hs->ntail == 4) {
            vx__hash_block(hs, hs->tail);
            hs->tail = 0;
            hs->ntail = 0;
        }
    }
    for (; i + 4 <= n; i += 4) {
        uint32_t k;
        memcpy(&k, u + i, 4);
        vx__hash_block(hs, k);
    }
    for (; i < n; i++)
        hs->tail |= (uint32_t)u[i] << (8 * hs->ntail++);
}

static inline uint32_t vx__hash_final(const vx__hstate *hs)
{
    uint32_t h = hs->h;
    if (hs->ntail)
        h ^= vx__mix_k(hs->tail);
    h ^= hs->len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* The state after feeding "group:" with `seed`. */
static inline vx__hstate vx__hash_prefix(vx_str group, uint32_t seed)
{
    vx__hstate hs = {seed, 0, 0, 0};
    vx__hash_feed(&hs, group.ptr, group.len);
    vx__hash_feed(&hs, ":", 1);
    return hs;
}

#endif
