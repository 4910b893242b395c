/* Recently seen contexts: what the evaluating SDK endpoints (frontend API,
 * OFREP) were asked about, kept in server memory per environment so the
 * targeting advisor can check proposed fields against the fields actually
 * seen and dry-run a proposed strategy over real recent contexts.
 *
 * Invariant: bounded (VX_LIMIT_SEEN_*), in memory only (never persisted,
 * gone at restart), and nothing here ever reaches a prompt: the advisor
 * only reads field names and match counts. Thread-safe: one mutex guards
 * everything; recording copies one context and never waits for anything
 * else. */
#ifndef VX_SERVER_SEEN_H
#define VX_SERVER_SEEN_H

#include <jansson.h>
#include <stddef.h>

#include "vexil/vexil.h"

typedef struct server_seen server_seen;

/* VX_ENOMEM or VX_OK. */
vx_status server_seen_new(server_seen **out);
/* Frees; clears `*s`; accepts NULL. */
void server_seen_free(server_seen **s);

/* Copies context `c` evaluated in `env` for a token of `projects` ("*" or
 * "a,b") into the environment's ring, dropping the oldest past
 * VX_LIMIT_SEEN_CONTEXTS contexts or VX_LIMIT_SEEN_BYTES. A context over
 * VX_LIMIT_SEEN_CONTEXT_BYTES, or an environment past VX_LIMIT_SEEN_ENVS,
 * is not kept (its field names still are, within their limit). `s` NULL:
 * nothing. Out of memory: nothing is kept. */
void server_seen_record(server_seen *s, const char *env, const char *projects,
                        const vx_context *c);

/* Appends to the array `names` (no duplicates) every field name seen in
 * `env` by tokens that may see `project`. */
void server_seen_fields(server_seen *s, const char *project, const char *env,
                        json_t *names);

/* Evaluates flag 0 of `snap` for each recent context of `env` seen by
 * tokens that may see `project`: `*matched` of `*total` were on. */
void server_seen_dry_run(server_seen *s, const char *project, const char *env,
                         const vx_snapshot *snap, size_t *matched,
                         size_t *total);

#endif
