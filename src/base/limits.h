/* Every limit Vexil enforces, in one place (STYLE rule 8). Exceeding one is
 * a clear error naming the field, never a crash. */
#ifndef VX_BASE_LIMITS_H
#define VX_BASE_LIMITS_H

#include <assert.h>

#define VX_LIMIT_DOC_BYTES ((size_t)256 << 20) /* one features document */
/* JSON nesting is bounded by jansson itself (2048 levels). */
#define VX_LIMIT_FLAGS          200000 /* flags in one snapshot */
#define VX_LIMIT_SEGMENTS       100000 /* segments in one snapshot */
#define VX_LIMIT_STRATEGIES     1000   /* strategies per flag */
#define VX_LIMIT_CONSTRAINTS    1000   /* constraints per strategy or segment */
#define VX_LIMIT_VALUES         100000 /* values per constraint */
#define VX_LIMIT_VARIANTS       1000   /* variants per list */
#define VX_LIMIT_DEPENDENCIES   100    /* parents per flag */
#define VX_LIMIT_NAME_BYTES     1024   /* flag names, field names */
#define VX_LIMIT_REGEX_BYTES    4096   /* one REGEX pattern */
#define VX_LIMIT_PROPS          1000   /* custom fields per context */
#define VX_LIMIT_VARIANT_WEIGHT 1000000000 /* one variant's weight */
#define VX_LIMIT_CONTEXTS       10000000   /* contexts in one file */

static_assert(VX_LIMIT_FLAGS < (1u << 30), "flag indexes fit in 32 bits");

#endif
