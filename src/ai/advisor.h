/* The advisor: turns a question (a sentence, a period of the audit log)
 * into a checked proposal, from a model when one is configured and from a
 * deterministic advisor otherwise. It never writes anything: callers store
 * the answer and a person applies it.
 *
 * Invariants: user-written text enters a prompt only as a JSON string
 * inside a data block the instructions call data; no context property
 * value, user identifier or IP address enters a prompt (the prompt
 * builders take field names and aggregates, and the scrubber removes what
 * slips through); every model answer is validated against its schema and
 * the service's own checks before anyone sees it (one retry, then an
 * error); every answer names its advisor ("model:<name>" or
 * "deterministic"). */
#ifndef VX_AI_ADVISOR_H
#define VX_AI_ADVISOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/llm.h"
#include "vexil/status.h"

/* ---- schema checks (schema.c) ------------------------------------------ */

/* Checks `doc` against `schema`, a subset of JSON Schema: type (object,
 * array, string, integer, number, boolean), enum, required, properties,
 * additionalProperties:false, items, minItems/maxItems, minLength/
 * maxLength, minimum/maximum. Errors: VX_ESCHEMA with err->path the JSON
 * pointer of the first offending value. */
vx_status ai_schema_check(const json_t *schema, const json_t *doc,
                          vx_error *err);

/* Parses a model's text as one JSON object, tolerating a ```json fence
 * around it. Errors: VX_EPARSE. Returns a new reference. */
vx_status ai_parse_answer(const char *text, size_t len, json_t **out,
                          vx_error *err);

/* ---- the scrubber (scrub.c) -------------------------------------------- */

typedef struct ai_scrub ai_scrub; /* a set of values never to send */

ai_scrub *ai_scrub_new(void); /* NULL when out of memory */
void ai_scrub_free(ai_scrub **s);
/* Adds every string (and number) leaf under `values` (any JSON) to the
 * deny set; values shorter than 2 bytes are ignored. VX_ELIMIT past
 * VX_LIMIT_AI_DENY values. */
vx_status ai_scrub_deny_json(ai_scrub *s, const json_t *values);
/* A copy of `text` (the caller frees it with vx__free) where emails, IPv4/IPv6
 * addresses, UUIDs, long digit runs and denied values (as whole words) are
 * replaced: by "[redacted]", or when `map` is an object by "<vN>" placeholders
 * recorded in map ("<v1>" -> original) so an answer can be mapped back.
 * `*count` (may be NULL) gets the number of replacements. NULL on OOM. */
char *ai_scrub_text(const ai_scrub *s, const char *text, json_t *map,
                    size_t *count);
/* True when `text` holds something ai_scrub_text would replace. */
bool ai_scrub_finds(const ai_scrub *s, const char *text);

/* ---- the features ------------------------------------------------------- */

/* Validates and normalises a strategy exactly as the admin API would
 * (the service's validation). `*out` is the normalised strategy. */
typedef vx_status (*ai_strategy_check_fn)(void *ud, const json_t *strategy,
                                          json_t **out, vx_error *err);

typedef struct ai_targeting_req {
    const char *sentence;       /* what the person wants, required */
    const char *group_id;       /* groupId of the strategy (the flag or
                                   "advisor"), required */
    const json_t *fields;       /* array of known context field names */
    ai_strategy_check_fn check; /* the service's validation, required */
    void *check_ud;             /* passed to check */
} ai_targeting_req;

/* Proposes a flexibleRollout strategy for `req->sentence`. With `llm` NULL
 * the deterministic parser answers. `*answer` (new reference):
 *   {"advisor", "strategy", "explanation", "notUnderstood":[...],
 *    "unknownFields":[...], "warnings":[...], "attempts"}
 * Errors: VX_EINVAL (empty or over-long sentence), VX_ESCHEMA (the model's
 * answers did not validate twice: err says why), VX_EIO (model server). */
vx_status ai_advise_targeting(ai_llm *llm, const ai_targeting_req *req,
                              json_t **answer, vx_error *err);

/* The deterministic half, exposed for tests: the parsed proposal before
 * the service check ({"rollout", "constraints", "notUnderstood",
 * "unknownFields", "explanation"}); field names are taken from `fields`
 * (may be NULL) when one matches. New reference, NULL on OOM. */
json_t *ai_targeting_parse(const char *sentence, const json_t *fields);

typedef struct ai_changelog_req {
    const json_t *events;   /* <event> array (EVENT_SEARCH), any order */
    const json_t *features; /* <feature> array for descriptions; may be NULL */
    const char *from;       /* the period, as given (for the text) */
    const char *to;         /* idem */
    bool truncated;         /* more events existed than were read */
} ai_changelog_req;

/* Writes a changelog of `req->events`. `*answer`:
 *   {"advisor", "changelog":{"summary","entries":[{"flag","text"}]},
 *    "eventCount", "attempts"}
 * Errors as ai_advise_targeting. */
vx_status ai_advise_changelog(ai_llm *llm, const ai_changelog_req *req,
                              json_t **answer, vx_error *err);

/* The data block the changelog prompt carries (aggregates, field names and
 * quoted descriptions only), exposed for tests. New reference. */
json_t *ai_changelog_prompt_data(const ai_changelog_req *req,
                                 const ai_scrub *scrub);

/* ---- release plans: the adapter (plan_adapter.c) ------------------------ */

/* The plan API's documents, mapped into the shapes the rollout features
 * read, so that only this file knows the plan API's field names. */

/* A plan status (what the plan status GET answers: the flag, environment,
 * state, current milestone, the plan's milestones and the latest guard
 * statistics, a decision report of src/guard/report.h, at "last/decision"
 * or "statistics") into
 *   {"flag","environment","state","milestone","percent","milestones":[%],
 *    "statistics": {"action","reason","elapsedSeconds","srm":{...},
 *                   "metrics":[{"kind","direction","tolerance","evaluated",
 *                               "regression","control","treatment","p",
 *                               "csLow","csHigh"}]} | null}
 * Leading audience stages (milestones with segments or constraints) count
 * as 0.001 %, 0.002 %... as the guard counts them, and "audienceStages"
 * says how many there are; their segments and constraints are dropped.
 * Aggregates only: any other member of the input is dropped. Errors:
 * VX_EINVAL with the JSON pointer of the offending member. */
vx_status ai_plan_status_normalize(const json_t *status, json_t **out,
                                   vx_error *err);

/* A release plan in the plan API's format
 *   {"milestones":[{"percent" (1-100, whole),"minDurationSeconds"?,
 *    "minExposures"?}], "metrics":[{"kind","direction"?:"higher-is-worse"|
 *    "lower-is-worse","tolerance"?}], "mode"?:"approval"|"auto",
 *    "rollback"?:"rollout-zero"|"disable", "alpha"?}
 * into a guard_plan checked by guard_plan_validate (the guard's own rules).
 * `out` may be NULL (check only). Errors: VX_EINVAL with a JSON pointer. */
struct guard_plan;
vx_status ai_plan_from_json(const json_t *plan, struct guard_plan *out,
                            vx_error *err);

/* The facts of a guard rollback from its audit event (an event as the
 * events API returns it, whose data holds the decision report, at "data",
 * "data/decision", "data/report" or "data/statistics"):
 *   {"flag","environment","at","milestone","percent"?,"elapsedSeconds",
 *    "rollback","culprit":{metric},"metrics":[...],"srm":{...}}
 * Never the event's actor. VX_EINVAL when the event is not a rollback. */
vx_status ai_incident_facts(const json_t *event, json_t **out, vx_error *err);

/* ---- rollout analysis, rollout plans, incidents ------------------------- */

/* Recommends what to do with a running plan from `status` (normalized by
 * ai_plan_status_normalize). `*answer`:
 *   {"advisor","recommendation":"INCREASE"|"HOLD"|"DECREASE"|"ROLLBACK",
 *    "nextPercent","explanation","confidence"(0..1),"attempts"}
 * The guard is the authority: after a guard rollback the answer is always
 * ROLLBACK (0 %), and INCREASE is refused while the guard holds, pauses,
 * sees a regression or has no verdict. Errors as ai_advise_targeting. */
vx_status ai_advise_rollout(ai_llm *llm, const json_t *status, json_t **answer,
                            vx_error *err);

typedef struct ai_plan_req {
    const char *description; /* the change, user-written, required */
    const char *risk;        /* "low", "medium" or "high", required */
} ai_plan_req;

/* Proposes a release plan (ai_plan_from_json's format, checked by the
 * guard's validation) for a described change. `*answer`:
 *   {"advisor","plan":{...},"explanation","attempts"}
 * A proposal only: never applied. VX_EINVAL for an empty description or
 * an unknown risk. */
vx_status ai_advise_plan(ai_llm *llm, const ai_plan_req *req, json_t **answer,
                         vx_error *err);

/* Summarises a guard rollback from `facts` (ai_incident_facts). `*answer`:
 *   {"advisor","incident":{"title","summary","impact","nextSteps":[...]},
 *    "attempts"} */
vx_status ai_advise_incident(ai_llm *llm, const json_t *facts, json_t **answer,
                             vx_error *err);

/* ---- the auto-apply policy (rollout.c) ----------------------------------- */

/* Which rollout recommendations may be applied without a person: a set of
 * AI_AUTO_* bits, none by default. INCREASE and DECREASE never can. */
#define AI_AUTO_HOLD     1u
#define AI_AUTO_ROLLBACK 2u

/* "none", "hold", "rollback" or "hold,rollback" (any order). Errors:
 * VX_EINVAL naming the setting; "increase" or "decrease" say why not. */
vx_status ai_policy_parse(const char *text, unsigned *out, vx_error *err);

/* How a policy acts on a plan: the plan API's hold and rollback, behind an
 * adapter (NULL members: that action is not available). */
typedef struct ai_plan_ops {
    vx_status (*hold)(void *ud, const json_t *status, vx_error *err);
    vx_status (*rollback)(void *ud, const json_t *status, vx_error *err);
} ai_plan_ops;

/* Applies the rollout answer's recommendation when `policy` allows it:
 * HOLD with AI_AUTO_HOLD (only while the guard would go on: its action is
 * advance or wait_approval), ROLLBACK with AI_AUTO_ROLLBACK (not on a plan
 * already rolled back), and nothing else ever (INCREASE and DECREASE need
 * a person). `ops` NULL: nothing can be applied, and `no_ops` (may be
 * NULL) says why. Returns a new object
 *   {"policy","applied":bool,"action"?,"reason"} for the answer. */
json_t *ai_policy_apply(unsigned policy, const json_t *answer,
                        const json_t *status, const ai_plan_ops *ops, void *ud,
                        const char *no_ops);

/* ---- shared (advisor.c) ---------------------------------------------------
 */

/* One question to the model: the schema-checked answer, or an error. */
typedef struct ai_task {
    const char *name;     /* schema name, e.g. "targeting_rule" */
    const char *system;   /* instructions */
    const char *user;     /* the data block */
    const json_t *schema; /* the answer's schema */
    /* Semantic check after the schema; may be NULL. An error here counts
     * as an invalid answer (retried once). */
    vx_status (*check)(void *ud, const json_t *answer, vx_error *err);
    void *ud; /* passed to check */
} ai_task;

/* Asks, validates, retries once with the validation error when invalid.
 * `*attempts` gets the number of model calls made. */
vx_status ai_ask(ai_llm *llm, const ai_task *task, json_t **answer,
                 int *attempts, vx_error *err);

/* ai_ask with `data` as the data block ("<data>\n" JSON "\n</data>"). */
vx_status ai_ask_data(ai_llm *llm, const ai_task *task, const json_t *data,
                      json_t **answer, int *attempts, vx_error *err);

/* "model:<name>" into (buf, cap), or "deterministic" when llm is NULL. */
const char *ai_advisor_label(const ai_llm *llm, char *buf, size_t cap);

/* Takes `built`, an answer (or part of one) built with jansson: a member
 * jansson could not allocate is missing, not an error, so when `built` is
 * NULL or an allocation was refused on this thread since `failures` (read
 * from vx__alloc_failures() before building) it is freed, `*out` is NULL
 * and the result VX_ENOMEM; otherwise `*out` = `built` and VX_OK. */
vx_status ai_answer_take(json_t *built, uint64_t failures, json_t **out,
                         vx_error *err);

/* The instruction every system prompt ends with: the data is data. */
extern const char AI_DATA_RULE[];

#endif
