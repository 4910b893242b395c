/* The snapshot builder: a mutable set of compiled flag and segment chunks
 * that loading and delta application edit, then freeze into a snapshot.
 * It keeps JavaScript object semantics for names: replacing a flag keeps its
 * position, removing then re-adding one moves it to the end. */
#ifndef VX_CORE_BUILD_H
#define VX_CORE_BUILD_H

#include "core/model.h"

typedef struct vx__builder {
    vx__flag **flags;   /* document order; NULL = removed */
    uint32_t nflags;    /* used entries (including removed) */
    uint32_t cap;       /* capacity of flags */
    uint32_t live;      /* non-NULL entries */
    uint32_t *map;      /* name -> index + 1, open addressing */
    uint32_t map_mask;  /* map capacity - 1 */
    vx__segment **segs; /* unordered until finish */
    uint32_t nsegs;     /* count */
    uint32_t seg_cap;   /* capacity of segs */
} vx__builder;

void vx__builder_init(vx__builder *b);
/* Starts from `base`'s contents (sharing its chunks). */
vx_status vx__builder_copy(vx__builder *b, const vx_snapshot *base);
/* Inserts or replaces by name, taking over the caller's chunk reference. */
vx_status vx__builder_put_flag_take(vx__builder *b, vx__flag *f);
void vx__builder_remove_flag(vx__builder *b, const char *name, size_t len);
vx_status vx__builder_put_segment_take(vx__builder *b, vx__segment *s);
void vx__builder_remove_segment(vx__builder *b, int64_t id);
/* Drops every flag and segment (a hydration event). */
void vx__builder_clear(vx__builder *b);
/* Freezes into a new snapshot (one reference) and empties the builder. */
vx_status vx__builder_finish(vx__builder *b, vx_snapshot **out);
void vx__builder_release(vx__builder *b);

void vx__snapshot_destroy(vx_snapshot *s);

#endif
