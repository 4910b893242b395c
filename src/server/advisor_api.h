/* The advisor's HTTP endpoints under /api/admin/advisor/ (docs/ai.md):
 *   POST /api/admin/advisor/targeting  {project?, environment?, sentence,
 *                                       flag?, contextFields?}
 *   POST /api/admin/advisor/changelog  {from?, to?, project?}
 * Each answer is stored as an "advisor-recommendation" audit event with its
 * inputs and output, and is never applied: applying a proposed strategy is
 * the ordinary strategy POST, made by a person.
 *
 * Invariant: model calls run on the request's worker thread without the
 * service mutex (the service is called before and after, briefly), and at
 * most `max_inflight` of them at once; more are answered 503. */
#ifndef VX_SERVER_ADVISOR_API_H
#define VX_SERVER_ADVISOR_API_H

#include <stdbool.h>

#include "ai/llm.h"
#include "server/http.h"
#include "service/service.h"

typedef struct advisor_api advisor_api;

/* `svc` and `llm` are borrowed (llm may be NULL: deterministic advisors
 * only) and must outlive the API object. */
vx_status advisor_api_new(service *svc, ai_llm *llm, unsigned max_inflight,
                          advisor_api **out);
void advisor_api_free(advisor_api **a); /* accepts NULL */

/* True when the request's path is under /api/admin/advisor/. */
bool advisor_api_owns(const http_req *r);

/* After authentication (on_headers): answers 404/405 for an unknown route
 * or method and returns false; true when the body should be read. */
bool advisor_api_route(http_req *r);

/* The request with its body (on_request): always answers. */
void advisor_api_handle(advisor_api *a, const svc_principal *who, http_req *r);

#endif
