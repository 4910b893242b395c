/* Where the server may send requests, and which of its environment
 * variables may go along: the operator's allowlists for the model
 * gateway's upstreams and their API keys, and for release-plan webhooks
 * (docs/admin-api.md, "Egress: what the server may call"). Editors pick
 * among what the operator listed; anything else is refused when written
 * and again when called.
 *
 * Invariant: a policy never changes once made, so any thread may read it
 * without a lock. A URL passes only when it is plain (http or https, a
 * host without user name or password, printable ASCII, no fragment) and
 * its host and port are listed; a variable passes only when it is listed
 * and is not one of the server's own secrets (seeded tokens, database
 * settings), whatever the list says. */
#ifndef VX_BASE_EGRESS_H
#define VX_BASE_EGRESS_H

#include <stddef.h>

#include "vexil/status.h"

typedef struct vx_egress vx_egress;

/* The defaults of --egress-allow and --gateway-key-env. Hosts: this
 * machine's loopback only, so a model server beside Vexil (Ollama on
 * localhost:11434) and a local webhook receiver work out of the box, while
 * the network beyond (private ranges, cloud metadata addresses, any other
 * host) takes the operator's word. Keys: never a server secret. */
#define VX_EGRESS_HOSTS_DEFAULT "localhost,127.0.0.1,[::1]"
#define VX_EGRESS_KEYS_DEFAULT  "VEXIL_MODEL_KEY_*"

/* Makes a policy from two comma-separated lists (NULL takes the default):
 * `hosts` of `host`, `host:port`, `*.domain[:port]`, `[v6]`, `[v6]:port`,
 * `*` (any host: no egress limit) or `none`; `keys` of variable names and
 * prefixes ending in `*` (`OPENAI_API_KEY,VEXIL_MODEL_KEY_*`) or `none`.
 * Errors: VX_EINVAL with err->path "/egress-allow" or "/gateway-key-env"
 * and the entry at fault; VX_ELIMIT past VX_LIMIT_EGRESS_ENTRIES entries;
 * VX_ENOMEM. */
vx_status vx__egress_new(const char *hosts, const char *keys, vx_egress **out,
                         vx_error *err);

/* Frees a policy and clears `*e`; accepts NULL and *e == NULL. */
void vx__egress_free(vx_egress **e);

/* VX_OK when the server may send a request to `url` under policy `e`
 * (NULL: the default policy); else VX_EINVAL with `path` (borrowed, may
 * be NULL for "") and a message saying why (not plain, or the host and
 * port are not listed). */
vx_status vx__egress_url(const vx_egress *e, const char *url, const char *path,
                         vx_error *err);

/* VX_OK when the environment variable `name` may be read and sent as an
 * upstream's API key under policy `e` (NULL: the default policy); else
 * VX_EINVAL with `path` and the reason. */
vx_status vx__egress_key(const vx_egress *e, const char *name, const char *path,
                         vx_error *err);

#endif
