/* What the model gateway reads from its clients' requests besides the
 * routing, and how it writes its own errors for them (docs/gateway.md):
 * error bodies in the shape the OpenAI and Ollama clients read, and the
 * caller's context for targeting (OpenAI's "metadata" object and the
 * X-Vexil-Context header). Pure functions of their inputs; the routes are
 * in gateway_api.c.
 *
 * Invariant: a context field taken from a request is a custom property
 * with a valid name, never one of Unleash's standard fields (the gateway
 * sets those itself), within the VX_LIMIT_GW_CONTEXT_* limits; refused
 * input is VX_EINVAL or VX_ELIMIT naming the field. */
#ifndef VX_SERVER_GATEWAY_CLIENT_H
#define VX_SERVER_GATEWAY_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "base/arena.h"
#include "server/sdk_context.h"
#include "vexil/status.h"

/* The request header naming context fields: "plan=enterprise; region=eu". */
#define GATEWAY_CONTEXT_HEADER "X-Vexil-Context"

/* The client protocols the gateway speaks. */
typedef enum gateway_dialect {
    GATEWAY_OPENAI, /* /v1/...: OpenAI's API */
    GATEWAY_OLLAMA, /* /api/...: Ollama's native API */
} gateway_dialect;

/* The body of an error the gateway makes itself, answered with `status`:
 * Vexil's {"message", "details": [{"path", "message"}]} and, for its
 * clients, "error": OpenAI's {"message", "type", "param", "code"} (type
 * and code from the status and path; param the path in OpenAI's notation,
 * "/metadata/plan" -> "metadata.plan", "/headers/X" -> "X", null when
 * empty) or Ollama's message text. `path` and `detail` may be NULL. A new
 * reference; NULL when out of memory or a text is not UTF-8. */
json_t *gateway_client_error(gateway_dialect d, unsigned status,
                             const char *message, const char *path,
                             const char *detail);

/* Adds the caller's context fields to `b` as custom properties: those of
 * `header` (the X-Vexil-Context value, "name=value" pairs separated by
 * ";", values percent-decoded; may be NULL), then those of `metadata`
 * (the body's member: an object of strings; NULL or JSON null for none),
 * which win over the header's. Names are 1 to
 * VX_LIMIT_GW_CONTEXT_NAME_BYTES of A-Z a-z 0-9 - _ . ~ and not one of
 * Unleash's standard fields (userId, sessionId, remoteAddress,
 * environment, appName, currentTime); values at most
 * VX_LIMIT_GW_CONTEXT_VALUE_BYTES of UTF-8; at most
 * VX_LIMIT_GW_CONTEXT_FIELDS from each. Errors name the field:
 * "/metadata/<name>" (JSON pointer) or "/headers/X-Vexil-Context". Decoded
 * header text is allocated in `a`; `header` and `metadata` must outlive
 * the context. */
vx_status gateway_client_context(sdk_ctx *b, const char *header,
                                 const json_t *metadata, vx_arena *a,
                                 vx_error *err);

#endif
