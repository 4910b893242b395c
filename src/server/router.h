/* The admin API's route table and the matcher that maps a request line to
 * one service operation (docs/admin-api.md).
 *
 * Invariant: the table is const and every template's `{param}` segments
 * name a field of svc_req; matching never allocates except for the decoded
 * parameters, which live in the caller's request arena. */
#ifndef VX_SERVER_ROUTER_H
#define VX_SERVER_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "service/service.h"

/* One route: a method, a path template whose `{name}` segments are
 * parameters (project, feature, environment, id, type, value), the service
 * operation it runs and the HTTP status of a success. */
typedef struct router_route {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;   /* template, e.g. "/api/admin/projects/{project}" */
    svc_op op;          /* what the service runs */
    unsigned status;    /* 200, 201, 202 or 204 on success */
    bool body;          /* a JSON body is required */
} router_route;

/* Number of routes in the table, and the route at `i` (< router_count()). */
size_t router_count(void);
const router_route *router_at(size_t i);

typedef enum router_result {
    ROUTER_FOUND,     /* `hit` names the route and holds its parameters */
    ROUTER_NOT_FOUND, /* no template matches the path: 404 */
    ROUTER_NO_METHOD, /* a template matches, not with this method: 405 */
    ROUTER_BAD_PARAM, /* a parameter is badly encoded: 400, err says which */
    ROUTER_NOMEM,     /* the arena ran out of memory: 500 */
} router_result;

#define ROUTER_ALLOW_MAX 48 /* "GET, POST, PUT, PATCH, DELETE" fits */

/* What router_match found. */
typedef struct router_hit {
    size_t index;                 /* the route's index when FOUND */
    const router_route *route;    /* the route when FOUND, else NULL */
    svc_req req;                  /* op and decoded path parameters */
    char allow[ROUTER_ALLOW_MAX]; /* NO_METHOD: the Allow header value */
} router_hit;

/* Matches `method` and the raw (still percent-encoded) `path` (no query
 * string; `len` bytes, need not be NUL-terminated) against the table. The
 * path is split on '/' first and each parameter is decoded afterwards, so
 * "%2F" stays inside one parameter; a single trailing '/' is ignored; HEAD
 * matches GET routes. Literal segments beat parameters where templates
 * overlap ("/archive/features" before "/archive/{feature}"). Decoded
 * parameters are NUL-terminated UTF-8 copies in `arena`. On BAD_PARAM,
 * `err` (may be NULL) gets the path "/path/<name>" and a message. Only
 * `hit->req.op` and the parameter fields are filled; `query` and `body` are
 * left NULL. Pure and thread-safe. */
router_result router_match(const char *method, const char *path, size_t len,
                           vx_arena *arena, router_hit *hit, vx_error *err);

/* Percent-decodes one path segment `p[0..n)` into `arena` ('+' stays '+'):
 * VX_EINVAL for a bad escape, a NUL or bytes that are not UTF-8. For the
 * SDK endpoints, which route outside the admin table. */
vx_status router_decode(const char *p, size_t n, vx_arena *arena, char **out);

#endif
