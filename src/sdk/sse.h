/* An incremental parser for a text/event-stream body (the WHATWG
 * Server-Sent Events format), fed whatever chunks the transport delivers.
 *
 * Invariant: an event is delivered only when its terminating blank line has
 * been read, so a chunk boundary anywhere (inside a field, between CR and
 * LF) never changes what is delivered. Every buffer is bounded by the
 * `max` given to sdk_sse_init. */
#ifndef VX_SDK_SSE_H
#define VX_SDK_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vexil/status.h"

#define SDK_SSE_NAME_MAX 128 /* event type and id; longer ones are cut */

/* One complete event: `event` is its type ("message" when none was given),
 * `data[0..len)` its data lines joined by "\n" (NUL-terminated too), `id`
 * the last event id seen so far ("" when none). All valid during the call.
 * A non-OK return stops the parser: sdk_sse_feed returns it. */
typedef vx_status (*sdk_sse_fn)(void *ud, const char *event, const char *data,
                                size_t len, const char *id);

typedef struct sdk_sse {
    char *line;                   /* the line being read */
    size_t line_len;              /* bytes in line */
    size_t line_cap;              /* allocated */
    char *data;                   /* data of the event being read */
    size_t data_len;              /* bytes in data */
    size_t data_cap;              /* allocated */
    bool has_data;                /* a data field was seen */
    bool after_cr;                /* the last byte was CR (CRLF split) */
    bool bom_checked;             /* the leading BOM was looked for */
    size_t bom_n;                 /* BOM bytes matched so far */
    size_t max;                   /* bound on line and data */
    char event[SDK_SSE_NAME_MAX]; /* type of the event being read */
    char id[SDK_SSE_NAME_MAX];    /* last event id */
    int64_t retry_ms;             /* last `retry:` value, -1 = none */
    sdk_sse_fn fn;                /* receives each event */
    void *ud;                     /* passed to fn */
} sdk_sse;

/* Prepares `p`; lines and event data longer than `max` bytes fail. */
void sdk_sse_init(sdk_sse *p, size_t max, sdk_sse_fn fn, void *ud);

/* Frees the buffers; `p` may be initialised again. */
void sdk_sse_release(sdk_sse *p);

/* Forgets a partly read event (after a reconnect); keeps the last id. */
void sdk_sse_reset(sdk_sse *p);

/* Parses `buf[0..len)`, calling fn for every event it completes. Returns
 * VX_OK, VX_ELIMIT (a line or event past `max`), VX_ENOMEM, or what fn
 * returned. After an error the parser must be reset before reuse. */
vx_status sdk_sse_feed(sdk_sse *p, const char *buf, size_t len);

#endif
