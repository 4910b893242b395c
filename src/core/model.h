/* The compiled form of a flag set: what vx_snapshot_load produces and what
 * evaluation reads. Everything here is immutable once published.
 *
 * Each flag and each segment is compiled into its own reference-counted
 * chunk (one arena), so a delta that changes one flag builds a new snapshot
 * that shares every other chunk with the old one. A snapshot is a sorted
 * segment table, the flags in document order and a hash index by name. */
#ifndef VX_CORE_MODEL_H
#define VX_CORE_MODEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "core/hash.h"
#include "core/ip.h"
#include "core/regex.h"
#include "core/semver.h"
#include "vexil/vexil.h"

typedef enum vx__op {
    VX__OP_IN,
    VX__OP_NOT_IN,
    VX__OP_STR_CONTAINS,
    VX__OP_STR_STARTS_WITH,
    VX__OP_STR_ENDS_WITH,
    VX__OP_NUM_EQ,
    VX__OP_NUM_GT,
    VX__OP_NUM_GTE,
    VX__OP_NUM_LT,
    VX__OP_NUM_LTE,
    VX__OP_DATE_AFTER,
    VX__OP_DATE_BEFORE,
    VX__OP_SEMVER_EQ,
    VX__OP_SEMVER_GT,
    VX__OP_SEMVER_LT,
    VX__OP_SEMVER_GTE,
    VX__OP_SEMVER_LTE,
    VX__OP_REGEX,
    VX__OP_IN_CIDR,
    VX__OP_UNKNOWN, /* forward compatibility: always false */
} vx__op;

/* Which context field a name refers to: a built-in one or a property. */
typedef enum vx__field {
    VX__F_USER_ID,
    VX__F_SESSION_ID,
    VX__F_REMOTE_ADDRESS,
    VX__F_ENVIRONMENT,
    VX__F_APP_NAME,
    VX__F_CURRENT_TIME,
    VX__F_PROPERTY,
} vx__field;

typedef struct vx__fieldref {
    vx__field kind; /* built-in, or VX__F_PROPERTY looked up by name */
    uint64_t tag;   /* vx__str_tag of name */
    vx_str name;    /* the field name as written */
} vx__fieldref;

typedef struct vx__constraint {
    /* Hot fields first; the parsed value is a union (64 bytes, was 96). */
    vx__op op;              /* operator */
    bool inverted;          /* negate the operator's result */
    bool ci;                /* caseInsensitive (STR_* and REGEX) */
    bool value_ok;          /* the single value parsed for this operator */
    uint32_t nvalues;       /* count of values */
    uint32_t nips;          /* count of ips */
    vx_str *values;         /* list operators: cleaned values (trimmed, empties
                               dropped; lower-cased for case-insensitive STR_*) */
    uint64_t *tags;         /* IN, NOT_IN: vx__str_tag of each value */
    union {                 /* the operator's parsed value; one per operator */
        double num;         /* NUM_*: Number(value) */
        int64_t date_ms;    /* DATE_*: parsed value */
        vx__semver *semver; /* SEMVER_*: parsed value (arena), else NULL */
        vx__regex *re;      /* REGEX: compiled pattern, NULL = never matches */
        vx__ip *ips;        /* IN_CIDR: the values that parse, nips of them */
    };
    vx__fieldref field; /* contextName */
} vx__constraint;

typedef struct vx__override {
    vx__fieldref field; /* contextName */
    vx_str *values;     /* exact values */
    uint32_t nvalues;   /* count of values */
} vx__override;

typedef struct vx__variant {
    vx_str name;             /* variant name */
    uint32_t weight;         /* weight (0 = never picked by hashing) */
    vx_str payload_type;     /* absent = no payload */
    vx_str payload_value;    /* string form */
    vx__override *overrides; /* override rules */
    uint32_t noverrides;     /* count of overrides */
} vx__variant;

/* How a stickiness name resolves, decided at load time. */
typedef enum vx__stick {
    VX__STICK_DEFAULT, /* userId, sessionId (variants: remoteAddress), random */
    VX__STICK_RANDOM,  /* a fresh random value */
    VX__STICK_FIELD,   /* a named context field */
} vx__stick;

/* A variant list with how to pick from it. */
typedef struct vx__variants {
    vx__variant *v;           /* the variants in order */
    uint64_t *cum;            /* cum[i] = weights of v[0..i], nondecreasing */
    uint64_t total;           /* sum of weights */
    uint32_t n;               /* count */
    vx__stick stick;          /* how stickiness resolves */
    bool has_overrides;       /* any variant has overrides */
    vx__hstate group_pre;     /* murmur3 state after "group:" (variant seed) */
    vx__fieldref stick_field; /* resolved stickiness field */
    vx_str group;      /* hash group: strategy groupId or the flag name */
    vx_str stickiness; /* "default", "random" or a field name */
} vx__variants;

typedef enum vx__strategy_kind {
    VX__S_DEFAULT,
    VX__S_FLEXIBLE_ROLLOUT,
    VX__S_USER_WITH_ID,
    VX__S_REMOTE_ADDRESS,
    VX__S_APPLICATION_HOSTNAME,
    VX__S_GRADUAL_USER_ID,
    VX__S_GRADUAL_SESSION_ID,
    VX__S_GRADUAL_RANDOM,
    VX__S_UNKNOWN, /* custom or future strategy: always false */
} vx__strategy_kind;

typedef struct vx__strategy {
    /* What evaluation reads first, together. */
    vx__strategy_kind kind;      /* which built-in */
    vx__stick stick;             /* how stickiness resolves */
    uint32_t nconstraints;       /* count */
    uint32_t nsegments;          /* count */
    vx__constraint *constraints; /* own constraints, ANDed */
    int64_t *segments;           /* referenced segment ids, ANDed */
    double percentage;           /* rollout / percentage as Number() */
    vx__hstate group_pre;        /* murmur3 state after "group_id:" (seed 0) */
    vx_str group_id;             /* rollout hash group ("" when absent) */
    vx_str stickiness;           /* flexibleRollout stickiness */
    vx__fieldref stick_field;    /* resolved custom stickiness */
    vx_str *list;                /* userIds / IPs / hostNames (lower-cased) */
    uint32_t nlist;              /* count */
    vx__ip *ips;                 /* remoteAddress: the entries that parse */
    bool *ip_ok;                 /* per list entry: ips[i] is valid */
    vx__variants variants;       /* strategy variants (n may be 0) */
} vx__strategy;

typedef struct vx__dependency {
    vx_str feature;     /* parent flag name */
    bool enabled;       /* parent must be on (true) or off (false) */
    vx_str *variants;   /* parent variant must be one of these, if any */
    uint32_t nvariants; /* count */
} vx__dependency;

typedef struct vx__chunk {
    atomic_uint refs;     /* snapshots sharing this chunk */
    vx_arena arena;       /* owns everything below */
    vx__regex **regexes;  /* compiled patterns to free with the chunk */
    uint32_t nregexes;    /* count */
    uint32_t cap_regexes; /* capacity of regexes */
} vx__chunk;

typedef struct vx__flag {
    vx__chunk chunk; /* must be first */
    /* What every evaluation reads, together. */
    bool enabled;             /* on in this environment */
    bool impression_data;     /* impressionData */
    uint32_t nstrategies;     /* count */
    uint32_t ndeps;           /* count */
    uint32_t hash;            /* murmur3 of name, for the index */
    vx__strategy *strategies; /* in order */
    vx__dependency *deps;     /* parents */
    vx_str name;              /* flag name (NUL-terminated copy) */
    vx__variants variants;    /* feature-level variants */
} vx__flag;

typedef struct vx__segment {
    vx__chunk chunk;             /* must be first */
    int64_t id;                  /* segment id */
    vx__constraint *constraints; /* ANDed */
    uint32_t nconstraints;       /* count */
} vx__segment;

struct vx_snapshot {
    atomic_uint refs;       /* holders of this snapshot */
    vx__flag **flags;       /* document order */
    uint32_t nflags;        /* count */
    uint32_t *index;        /* open addressing: flag index + 1, 0 = empty */
    uint32_t index_mask;    /* index capacity - 1 (power of two) */
    vx__segment **segments; /* sorted by id */
    uint32_t nsegments;     /* count */
};

/* Chunk reference counting (shared between snapshots). */
void vx__chunk_ref(vx__chunk *c);
void vx__chunk_unref(vx__chunk *c);

/* Looks a flag up by name; NULL when absent. */
const vx__flag *vx__snapshot_find(const vx_snapshot *s, const char *name,
                                  size_t len);
const vx__segment *vx__snapshot_segment(const vx_snapshot *s, int64_t id);

/* Maps a context field name to its kind. */
vx__fieldref vx__fieldref_make(const char *name, size_t len);

#endif
