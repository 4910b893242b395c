/* The console's admin routes answered from memory rather than by the
 * service (docs/admin-api.md): GET /api/admin/gateway/stats, the model
 * gateway's per-variant counters of this process, for an admin token (any
 * role) and scoped to its projects. Authentication happens before (the
 * server's headers step, as for every admin route); this file translates
 * only. */
#ifndef VX_SERVER_CONSOLE_API_H
#define VX_SERVER_CONSOLE_API_H

#include <stdbool.h>

#include "hub/hub.h"
#include "server/gateway_api.h"
#include "server/http.h"
#include "service/service.h"

/* True for /api/admin/gateway/stats. */
bool console_api_gateway_owns(const http_req *r);

/* Answers GET /api/admin/gateway/stats?environment=: 200
 * {"environment": name | null, "series": [{environment, flag, project,
 * variant, enabled, requests, errors, timeouts, disconnects, fallbacks,
 * conversions, feedbackDown, promptTokens, completionTokens, latencyMs,
 * ttftMs, tokensPerSec}]}: the series of flags of `who`'s projects (a
 * token of every project also sees flags deleted since, with "project":
 * null); 404 naming /query/environment for an environment that does not
 * exist; 503 while it cannot be loaded. The hub tells each flag's project
 * (no database call). */
void console_api_gateway_stats(gateway_api *gateway, hub *h,
                               const svc_principal *who, http_req *r);

#endif
