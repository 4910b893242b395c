/* What the evaluating SDK endpoints (frontend API, OFREP) share besides the
 * hub: building a vx_context from a request (the frontend query string, or
 * a JSON context object), a bounded JSON text builder for their answers,
 * a 64-bit hash for ETags, and the per-thread evaluation scratch.
 *
 * Invariant: a built context only borrows strings from the request (its
 * query object, its body) or from the request's arena, so it lives exactly
 * as long as the request; nothing here keeps state across requests except
 * the per-thread scratch and random state. */
#ifndef VX_SERVER_SDK_CONTEXT_H
#define VX_SERVER_SDK_CONTEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/limits.h"
#include "vexil/vexil.h"

/* A context under construction. Zero it with sdk_ctx_init, feed it with
 * sdk_ctx_from_query / sdk_ctx_from_json (or sdk_ctx_set), then call
 * sdk_ctx_finish; `c` is then ready for vx_evaluate. */
typedef struct sdk_ctx {
    vx_context c;                          /* the result; props = `props` */
    vx_prop props[VX_LIMIT_CONTEXT_PROPS]; /* custom fields, c.nprops used */
    bool has_time;                         /* a currentTime was given */
} sdk_ctx;

void sdk_ctx_init(sdk_ctx *b);

/* Sets one field `key` = `val` (both borrowed: they must outlive the
 * context). Known Unleash field names (userId, sessionId, remoteAddress,
 * environment, appName, currentTime) set that field, unless `as_prop`,
 * which makes it a custom property whatever its name. A repeated key
 * replaces the earlier value. `val == NULL` removes the field. Errors
 * (VX_ELIMIT past VX_LIMIT_CONTEXT_PROPS, VX_EINVAL for a key longer than
 * VX_LIMIT_NAME_BYTES) name `path`. */
vx_status sdk_ctx_set(sdk_ctx *b, const char *key, size_t klen, const char *val,
                      size_t vlen, bool as_prop, const char *path,
                      vx_error *err);

/* The Unleash frontend query string, as http_req_query gives it (an object
 * of strings; NULL = none): known fields, "properties[x]=y" as property x,
 * and any other top-level name as a property (Unleash moves unknown keys
 * into properties). Errors name "/query/<name>". */
vx_status sdk_ctx_from_query(sdk_ctx *b, const json_t *query, vx_error *err);

/* A JSON context object at JSON pointer `path` (e.g. "/context"): known
 * fields, a "properties" object, and other members as properties. With
 * `ofrep`, "targetingKey" is the userId (and wins over "userId"). Values
 * may be strings, numbers or booleans (numbers and booleans become their
 * JSON text); null means absent; an object or array is kept as compact
 * JSON text when it is a property and refused (VX_EINVAL) for a known
 * field. Text that has to be made is allocated in `a`. `obj` must outlive
 * the context. Errors name the member's JSON pointer. */
vx_status sdk_ctx_from_json(sdk_ctx *b, const json_t *obj, const char *path,
                            bool ofrep, vx_arena *a, vx_error *err);

/* Completes the context the way the Unleash frontend API does: "now" for
 * a context without currentTime (an unparseable one makes DATE
 * constraints false), `peer` (the client address, may be NULL) as
 * remoteAddress when none was given, `env` (may be NULL) as environment
 * when none was given, and with `random_session` a fresh random sessionId
 * when none was given (written into `a`). Random draws for the `random`
 * stickiness come from a per-thread generator. */
vx_status sdk_ctx_finish(sdk_ctx *b, int64_t now_ms, const char *peer,
                         const char *env, bool random_session, vx_arena *a,
                         vx_error *err);

/* The calling thread's evaluation scratch, created on first use and freed
 * when the thread exits; NULL when out of memory (evaluation still works
 * without one). */
vx_scratch *sdk_scratch(void);

/* ---- a JSON text builder ------------------------------------------------ */

/* Appends into one growing buffer in an arena, at most
 * VX_LIMIT_SDK_ANSWER_BYTES. After a failure (out of memory or the limit)
 * every append is ignored and `failed` says why. */
typedef struct sdk_jbuf {
    vx_arena *a;    /* where the buffer lives */
    char *p;        /* the text, not NUL-terminated */
    size_t len;     /* bytes used */
    size_t cap;     /* bytes allocated */
    vx_status fail; /* VX_OK, VX_ENOMEM or VX_ELIMIT */
} sdk_jbuf;

void sdk_jbuf_init(sdk_jbuf *j, vx_arena *a, size_t first);
/* Appends `n` bytes as they are. */
void sdk_jbuf_raw(sdk_jbuf *j, const char *s, size_t n);
/* Appends a NUL-terminated literal as it is. */
void sdk_jbuf_lit(sdk_jbuf *j, const char *s);
/* Appends `s[0..n)` as a quoted JSON string (escaping quotes, backslashes
 * and control characters; other bytes are copied: the inputs are UTF-8). */
void sdk_jbuf_str(sdk_jbuf *j, const char *s, size_t n);

/* ---- a rate limiter: one token bucket per API token ----------------------
 */

typedef struct sdk_rate sdk_rate;

/* A limiter allowing `rate` requests per second per key, in bursts of
 * rate * VX_LIMIT_OFREP_BURST_SECS. It tracks at most VX_LIMIT_OFREP_TOKENS
 * keys; when that many are tracked, it forgets them all (a full bucket
 * again: the limiter errs on the side of serving). VX_EINVAL for a rate
 * that is not > 0, VX_ENOMEM. Thread-safe. */
vx_status sdk_rate_new(double rate, sdk_rate **out, vx_error *err);
/* Clears `*r`; accepts NULL. */
void sdk_rate_free(sdk_rate **r);
/* Takes one request for `key` at `now_ms`: true when allowed, else false
 * with the seconds until the next one is in `*retry_after`. */
bool sdk_rate_take(sdk_rate *r, int64_t key, int64_t now_ms,
                   double *retry_after);

#endif
