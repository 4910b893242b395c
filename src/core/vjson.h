/* A small JSON reader for loading flag sets: strict RFC 8259 parsing into a
 * compact read-only tree allocated from a caller's arena. It exists because
 * a general DOM (jansson) costs about 200 heap objects per flag, which
 * dominated load time; here a whole flag is a few arena bumps and the arena
 * is reused for the next one.
 *
 * The accessors mirror jansson's names (vj_object_get, vj_is_string ...) so
 * the loader reads like ordinary jansson code. Strings are NUL-terminated
 * copies that may also contain NUL bytes (use vj_string_length). Objects
 * keep their members in document order; duplicate keys are an error. */
#ifndef VX_CORE_VJSON_H
#define VX_CORE_VJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"

typedef enum vj_type {
    VJ_NULL,
    VJ_FALSE,
    VJ_TRUE,
    VJ_INTEGER,
    VJ_REAL,
    VJ_STRING,
    VJ_ARRAY,
    VJ_OBJECT,
} vj_type;

typedef struct vj vj;
struct vj {
    uint32_t type; /* vj_type */
    uint32_t n;    /* string bytes, array items, object members */
    union {
        const char *s; /* VJ_STRING */
        int64_t i;     /* VJ_INTEGER */
        double d;      /* VJ_REAL */
        vj *items;     /* VJ_ARRAY: n values; VJ_OBJECT: n (key, value) pairs */
    } u;
};

typedef struct vj_error {
    size_t position; /* byte offset of the problem */
    bool oom;        /* the arena ran out of memory */
    char text[160];  /* what is wrong */
} vj_error;

#define VJ_MAX_DEPTH 512 /* nesting; flag documents need about 8 */

/* Parses exactly one JSON value filling text[0..len) (surrounding white
 * space allowed). Returns the root, or NULL with `err` filled (a failed
 * arena allocation says "out of memory"). */
vj *vj_parse(vx_arena *a, const char *text, size_t len, vj_error *err);

static inline vj_type vj_typeof(const vj *v)
{
    return (vj_type)v->type;
}
static inline bool vj_is_null(const vj *v)
{
    return v && v->type == VJ_NULL;
}
static inline bool vj_is_true(const vj *v)
{
    return v && v->type == VJ_TRUE;
}
static inline bool vj_is_boolean(const vj *v)
{
    return v && (v->type == VJ_TRUE || v->type == VJ_FALSE);
}
static inline bool vj_is_integer(const vj *v)
{
    return v && v->type == VJ_INTEGER;
}
static inline bool vj_is_real(const vj *v)
{
    return v && v->type == VJ_REAL;
}
static inline bool vj_is_number(const vj *v)
{
    return v && (v->type == VJ_INTEGER || v->type == VJ_REAL);
}
static inline bool vj_is_string(const vj *v)
{
    return v && v->type == VJ_STRING;
}
static inline bool vj_is_array(const vj *v)
{
    return v && v->type == VJ_ARRAY;
}
static inline bool vj_is_object(const vj *v)
{
    return v && v->type == VJ_OBJECT;
}
static inline const char *vj_string_value(const vj *v)
{
    return vj_is_string(v) ? v->u.s : NULL;
}
static inline size_t vj_string_length(const vj *v)
{
    return vj_is_string(v) ? v->n : 0;
}
static inline int64_t vj_integer_value(const vj *v)
{
    return vj_is_integer(v) ? v->u.i : 0;
}
static inline double vj_real_value(const vj *v)
{
    return vj_is_real(v) ? v->u.d : 0.0;
}
static inline double vj_number_value(const vj *v)
{
    return vj_is_integer(v) ? (double)v->u.i : vj_real_value(v);
}
static inline size_t vj_array_size(const vj *v)
{
    return vj_is_array(v) ? v->n : 0;
}
static inline const vj *vj_array_get(const vj *v, size_t i)
{
    return vj_is_array(v) && i < v->n ? &v->u.items[i] : NULL;
}
static inline size_t vj_object_size(const vj *v)
{
    return vj_is_object(v) ? v->n : 0;
}

/* The member named `key` (a C string), or NULL. */
const vj *vj_object_get(const vj *obj, const char *key);

#endif
