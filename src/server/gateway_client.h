/* How the model gateway writes its own errors for its clients
 * (docs/gateway.md): error bodies in the shape the OpenAI and Ollama
 * clients read. Pure functions of their inputs; the routes are in
 * gateway_api.c.
 *
 * Invariant: every error body keeps Vexil's members beside the client's. */
#ifndef VX_SERVER_GATEWAY_CLIENT_H
#define VX_SERVER_GATEWAY_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "vexil/status.h"

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

#endif
