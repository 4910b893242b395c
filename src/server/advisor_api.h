/* The advisor's HTTP endpoints under /api/admin/advisor/ (docs/ai.md):
 *   POST /api/admin/advisor/targeting  {project?, environment?, sentence,
 *                                       flag?, contextFields?}
 *   POST /api/admin/advisor/changelog  {from?, to?, project?}
 *   POST /api/admin/advisor/rollout    {flag, environment?, project?} or
 *                                       {status}
 *   POST /api/admin/advisor/plan       {description, risk?, project?}
 *   POST /api/admin/advisor/incident   {eventId} or {event}
 * Each answer is stored as an "advisor-recommendation" audit event with its
 * inputs and output, and is never applied: applying a proposed strategy is
 * the ordinary strategy POST, made by a person.
 *
 * Invariant: a request that may call the model is suspended and answered
 * from a thread of its own, so no HTTP worker thread waits on a model and
 * the service mutex is never held during a model call (the service is
 * called before and after, briefly). At most `max_inflight` model calls
 * run at once; past that the deterministic advisor answers. */
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
/* The recently seen contexts (seen.h, borrowed, must outlive `a`): the
 * targeting advisor then knows the fields SDKs send and dry-runs its
 * proposals over those contexts. */
struct server_seen;
void advisor_api_set_seen(advisor_api *a, struct server_seen *seen);
/* Which rollout recommendations (AI_AUTO_* of ai/advisor.h) may be applied
 * without a person; 0 (the default) = none. */
void advisor_api_set_policy(advisor_api *a, unsigned policy);
/* A first step (a proposed strategy's rollout, a plan's first milestone)
 * above `percent` needs the request's "confirm": true before the answer
 * says how to apply it; default AI_CONFIRM_ABOVE_DEFAULT. */
void advisor_api_set_confirm_above(advisor_api *a, int percent);
/* Release plans exist (the service's PLAN_* operations): the policy may
 * pause or roll back a plan read from them, then calls `changed(ud)` so
 * the SDKs are served the new rollout. */
void advisor_api_set_plans(advisor_api *a, void (*changed)(void *ud), void *ud);
/* Cancels model calls in flight and waits until every deferred request
 * has been answered; later requests get the deterministic advisor. Call
 * before the listener stops. Accepts NULL. */
void advisor_api_stop(advisor_api *a);
/* Stops (as above) and frees. Accepts NULL. */
void advisor_api_free(advisor_api **a);

/* True when the request's path is under /api/admin/advisor/. */
bool advisor_api_owns(const http_req *r);

/* After authentication (on_headers): answers 404/405 for an unknown route
 * or method and returns false; true when the body should be read. */
bool advisor_api_route(http_req *r);

/* The request with its body (on_request): always answers; with a model it
 * suspends the request and answers from a thread of its own. Without a
 * model (or a free slot) the answer is a few database calls made here:
 * the server calls advisor_api_handle_deferred on its database pool
 * instead, and this only when a request cannot be suspended. */
void advisor_api_handle(advisor_api *a, const svc_principal *who, http_req *r);

/* The same for a request already suspended (http_req_defer), on a database
 * thread: true when a thread of the advisor's own took it to call the
 * model (that thread answers and resumes it); false when it was answered
 * here (deterministically, or a refusal): the caller resumes it. */
bool advisor_api_handle_deferred(advisor_api *a, const svc_principal *who,
                                 http_req *r);

/* True when a model is configured. */
bool advisor_api_has_model(const advisor_api *a);

#endif
