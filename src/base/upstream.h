/* The schema of a model gateway upstream: the JSON payload a `model.*`
 * flag's variant carries (docs/gateway.md), parsed and validated in one
 * place. The service checks every payload a write adds or changes with it
 * (refused 400 naming the field), and the gateway parses the payload it
 * calls with it, so nothing is stored that the gateway would refuse.
 *
 * Invariant: a payload this accepts is one the gateway can call (within
 * the operator's allowlists, which base/egress.h checks separately);
 * every refusal names the member as a JSON pointer relative to the
 * payload ("/timeout_ms"; "" for the payload as a whole), and no message
 * quotes a URL (they may reach a client). */
#ifndef VX_BASE_UPSTREAM_H
#define VX_BASE_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "base/limits.h"
#include "vexil/status.h"

/* The unit of stickiness of a gateway flag ("stickiness" in its control's
 * payload): what the flag's variant is sticky on. */
typedef enum vx_upstream_sticky {
    VX_UPSTREAM_STICKY_USER,    /* "user": the body's "user", else
                                   X-Vexil-User */
    VX_UPSTREAM_STICKY_TOKEN,   /* "token": the client token */
    VX_UPSTREAM_STICKY_REQUEST, /* "request": none, each request on its own */
    VX_UPSTREAM_STICKY_HEADER,  /* "header:<Name>": that request header */
} vx_upstream_sticky;

/* An upstream, from a variant's JSON payload
 * {"base_url", "model", "api_key_env", "timeout_ms", "ollama_url",
 *  "stickiness", "forward_metadata"}. Plain data. */
typedef struct vx_upstream {
    char base_url[VX_LIMIT_GW_URL_BYTES]; /* "http://host:11434/v1" */
    /* The root of Ollama's native API ("/api/chat" is appended): the
     * payload's "ollama_url", else base_url without its trailing "/v1";
     * no trailing slash. */
    char ollama_url[VX_LIMIT_GW_URL_BYTES];
    bool ollama_given;                    /* the payload names ollama_url */
    char model[VX_LIMIT_GW_NAME_BYTES];   /* the upstream's model name */
    char key_env[VX_LIMIT_GW_NAME_BYTES]; /* variable holding the key, or "" */
    unsigned timeout_ms;                  /* whole request, 1..limit */
    vx_upstream_sticky sticky; /* "stickiness" (the control's is the flag's) */
    char sticky_header[VX_LIMIT_GW_NAME_BYTES]; /* ..._HEADER's name */
    bool forward_metadata; /* the body's "metadata" goes to this upstream */
} vx_upstream;

/* Parses a payload (`len` bytes of JSON text) into `*out`. Errors:
 * VX_EINVAL naming the member ("/base_url"..., "" when the text is not a
 * JSON object), VX_ELIMIT for a member over its size, VX_ENOMEM. */
vx_status vx__upstream_parse(const char *text, size_t len, vx_upstream *out,
                             vx_error *err);

/* The length of `url`'s "http://" or "https://", 0 for another scheme. */
size_t vx__url_scheme_len(const char *url);

/* True when `s[0..n)` is an HTTP token (RFC 9110: a header's name). */
bool vx__http_token(const char *s, size_t n);

#endif
