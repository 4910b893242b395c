/* SemVer 2.0 parsing and precedence exactly as node-semver (strict mode)
 * does it, which is what the Unleash SDKs use for SEMVER_* constraints. */
#ifndef VX_CORE_SEMVER_H
#define VX_CORE_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VX_SEMVER_MAX_PRE 16 /* prerelease identifiers kept; more = invalid */

typedef struct vx__semver_ident {
    const char *s; /* borrowed from the parsed text */
    uint32_t len;  /* bytes */
    bool numeric;  /* all digits: compared as a number */
    double num;    /* value when numeric (node compares +a < +b) */
} vx__semver_ident;

typedef struct vx__semver {
    uint64_t major, minor, patch; /* each <= 2^53 - 1, as in node-semver */
    uint8_t npre;                 /* prerelease identifiers */
    vx__semver_ident pre[VX_SEMVER_MAX_PRE]; /* prerelease identifiers */
} vx__semver;

/* Parses `s` after JS trimming; a leading 'v' is allowed (node-semver's
 * semver.valid accepts it). Borrowing: `out` points into `s`. */
bool vx__semver_parse(const char *s, size_t len, vx__semver *out);

/* -1, 0 or 1 by SemVer precedence (build metadata ignored). */
int vx__semver_cmp(const vx__semver *a, const vx__semver *b);

#endif
