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
#include "base/limits.h"
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
/* Names that are identifiers, not private values (flag, project,
 * environment and context field names): never replaced, even when a
 * private value is spelled the same. `names`: a string or an array. */
vx_status ai_scrub_allow_json(ai_scrub *s, const json_t *names);
/* Denies every private value anywhere under `doc` (flags, segments, audit
 * events, plan statuses, contexts): the values of the members "values",
 * "value", "userIds", "IPs", "hostNames", "overrides", "payload",
 * "context", "properties", "userId", "sessionId", "remoteAddress",
 * "targetUsers", and tag values. */
vx_status ai_scrub_deny_private(ai_scrub *s, const json_t *doc);
/* A copy of `doc` whose every string (not the keys) passed ai_scrub_text
 * with `map` (see there). NULL when out of memory. */
json_t *ai_scrub_json(const ai_scrub *s, const json_t *doc, json_t *map);

/* ---- the features ------------------------------------------------------- */

/* Validates and normalises a strategy exactly as the admin API would
 * (the service's validation). `*out` is the normalised strategy. */
typedef vx_status (*ai_strategy_check_fn)(void *ud, const json_t *strategy,
                                          json_t **out, vx_error *err);

/* ---- the policy (policy.c) ------------------------------------------- */

/* A first step above this share (%) needs an explicit confirmation unless
 * the server says otherwise (--advisor-confirm-above). */
#define AI_CONFIRM_ABOVE_DEFAULT VX_LIMIT_AI_CONFIRM_ABOVE_DEFAULT

/* What a first step may be without a person's explicit confirmation. */
typedef struct ai_confirm {
    int above;      /* a share (%) above this needs confirmation, 0-100 */
    bool confirmed; /* the person confirmed ("confirm": true) */
} ai_confirm;

/* True when strategy `proposal` (rollout `proposal_rollout`) reaches only
 * users the reading `reading` (ai_language_read) names: its rollout is not
 * larger and each of the reading's constraints has one in the proposal at
 * least as narrow (IN subsets, NOT_IN supersets, version ranges within,
 * dates within). Appends each difference, in words, to `differences`. */
bool ai_strategy_within(const json_t *proposal, long proposal_rollout,
                        const json_t *reading, json_t *differences);

/* The policy's verdict on a targeting proposal: {"verdict": "ok" |
 * "needs-confirmation" | "confirmed" | "refused", "confirmAbove",
 * "reasons": [...], "differences": [...]}. A model's proposal broader than
 * the reading is refused; one that differs, or that the reading could not
 * check, needs confirmation, as does any rollout above confirm->above. */
json_t *ai_policy_targeting(const json_t *strategy, bool from_model,
                            const json_t *reading, const ai_confirm *confirm);

/* The same verdict for a release plan's first step (`first` %) and the
 * differences from the deterministic plan (copied; may be NULL). */
json_t *ai_policy_first_step(double first, const json_t *differences,
                             const ai_confirm *confirm);

typedef struct ai_targeting_req {
    const char *sentence;       /* what the person wants, required */
    const char *group_id;       /* groupId of the strategy (the flag or
                                   "advisor"), required */
    const json_t *fields;       /* array of known context field names */
    ai_strategy_check_fn check; /* the service's validation, required */
    void *check_ud;             /* passed to check */
    const ai_scrub *privacy;    /* what never reaches the model;
                                   required with a model */
    ai_confirm confirm;         /* the first-step policy */
} ai_targeting_req;

/* Proposes a flexibleRollout strategy for `req->sentence`. The
 * deterministic reading (ai_language_read) is made in any case; with `llm`
 * NULL it is the proposal. `*answer` (new reference):
 *   {"advisor", "understood": true, "strategy", "explanation",
 *    "notUnderstood":[], "unknownFields":[...], "warnings":[...],
 *    "notes":[...], "policy": {ai_policy_targeting}, "attempts",
 *    "reading"?: the deterministic reading, with a model}
 * or, when there is no proposal (the sentence was not understood without a
 * model, or the model's proposal was refused and the reading cannot stand
 * in), {"advisor", "understood": false, "problems": [{path, message}],
 * "notUnderstood", "policy"?}: the caller answers 422.
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
    const json_t *events;    /* <event> array (EVENT_SEARCH), any order */
    const json_t *features;  /* <feature> array for descriptions; may be NULL */
    const char *from;        /* the period, as given (for the text) */
    const char *to;          /* idem */
    bool truncated;          /* more events existed than were read */
    const ai_scrub *privacy; /* the redaction gate; required with a model */
} ai_changelog_req;

/* Writes a changelog of `req->events`. `*answer`:
 *   {"advisor", "changelog":{"summary","entries":[{"flag","text",
 *    "events":[ids], "changes":[{"eventId","type","text"}]}]},
 *    "eventCount", "attempts"}
 * Every entry lists only events of the period, each by its audit event
 * id; a model's entry must cite them (eventIds) and its text may claim
 * only what they hold (percentages, environments, "enabled", "everyone"),
 * or it is invalid. Errors as ai_advise_targeting. */
vx_status ai_advise_changelog(ai_llm *llm, const ai_changelog_req *req,
                              json_t **answer, vx_error *err);

/* The data block the changelog prompt carries (aggregates, field names and
 * quoted descriptions only), exposed for tests. New reference. */
json_t *ai_changelog_prompt_data(const ai_changelog_req *req);

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

/* Adds "guardData": {"missingSeconds", "allowedSeconds", "verdict"} to
 * `normalized` from the plan API's status `status` at `now_ms`: how long
 * the guard has been without a verdict (since the milestone began, or
 * since its last report when that one had a verdict) and how long the
 * plan allows (the current milestone's minDurationSeconds). Nothing for a
 * status that is not the plan API's. */
vx_status ai_plan_status_guard_data(const json_t *status, int64_t now_ms,
                                    json_t *normalized);

/* One metric of a normalized report in words for people, in its unit:
 * "latency: treatment 212 ms vs control 200 ms (p = 0.21)", "error_rate:
 * treatment 0.0213 vs control 0.01 (p = 0.0004)". Latency arrives in ms
 * (the adapter converts the guard's ln(ms) means), numbers rounded. */
void ai_metric_text(const json_t *metric, char *buf, size_t cap);

/* ---- rollout analysis, rollout plans, incidents ------------------------- */

/* Recommends what to do with a running plan from `status` (normalized by
 * ai_plan_status_normalize). `*answer`:
 *   {"advisor","recommendation":"INCREASE"|"HOLD"|"DECREASE"|"ROLLBACK",
 *    "nextPercent","explanation","confidence"(0..1),"attempts"}
 * The guard is the authority: after a guard rollback the answer is always
 * ROLLBACK (0 %), and INCREASE is refused while the guard holds, pauses,
 * sees a regression or has no verdict. Errors as ai_advise_targeting. */
vx_status ai_advise_rollout(ai_llm *llm, const json_t *status,
                            const ai_scrub *privacy, json_t **answer,
                            vx_error *err);

typedef struct ai_plan_req {
    const char *description; /* the change, user-written, required */
    const char *risk;        /* "low", "medium" or "high", required */
    const ai_scrub *privacy; /* the redaction gate; required with a model */
    ai_confirm confirm;      /* the first-step policy */
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
vx_status ai_advise_incident(ai_llm *llm, const json_t *facts,
                             const ai_scrub *privacy, json_t **answer,
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
 * adapter (NULL members: that action is not available). `reason` is the
 * sentence the plan's log and audit event keep: which policy acted on
 * which plan, and why the guard agreed. */
typedef struct ai_plan_ops {
    vx_status (*hold)(void *ud, const json_t *status, const char *reason,
                      vx_error *err);
    vx_status (*rollback)(void *ud, const json_t *status, const char *reason,
                          vx_error *err);
} ai_plan_ops;

/* Whether the guard's own data backs a HOLD or a ROLLBACK of the plan
 * `status` (normalized, with its "guardData" when the server read the
 * plan): for ROLLBACK a metric regressed or is worse in the treatment
 * with p < 0.05; for HOLD a metric leans worse (p < 0.3) or the split is
 * off; for both, the guard's data is missing longer than the plan allows
 * ("guardData": missingSeconds > allowedSeconds). `why` gets the reason in
 * words either way. */
bool ai_guard_agrees(const json_t *status, const char *recommendation,
                     char *why, size_t cap);

/* Applies the rollout answer's recommendation when `policy` allows it and
 * the guard agrees (ai_guard_agrees): HOLD with AI_AUTO_HOLD (only while
 * the guard would go on: its action is advance or wait_approval),
 * ROLLBACK with AI_AUTO_ROLLBACK (not on a plan already rolled back), and
 * nothing else ever (INCREASE and DECREASE need a person): the model's
 * word alone never changes a flag. `ops` NULL: nothing can be applied,
 * and `no_ops` (may be NULL) says why. Returns a new object
 *   {"policy","applied":bool,"action"?,"reason","guard":{"agrees","why"}}
 * for the answer. */
json_t *ai_policy_apply(unsigned policy, const json_t *answer,
                        const json_t *status, const ai_plan_ops *ops, void *ud,
                        const char *no_ops);

/* ---- shared (advisor.c) ---------------------------------------------------
 */

/* One question to the model: the schema-checked answer, or an error. */
typedef struct ai_task {
    const char *name;     /* schema name, e.g. "targeting_rule" */
    const char *system;   /* instructions */
    const json_t *schema; /* the answer's schema */
    /* Semantic check after the schema; may be NULL. An error here counts
     * as an invalid answer (retried once). */
    vx_status (*check)(void *ud, const json_t *answer, vx_error *err);
    void *ud; /* passed to check */
    /* The redaction gate, required: every string of the data block passes
     * it (ai_scrub_json), and so does the reason a retry gives. */
    const ai_scrub *scrub;
    /* NULL: what the gate removes becomes "[redacted]"; an object: "<vN>"
     * placeholders recorded here, for the caller to map an answer back. */
    json_t *map;
} ai_task;

/* The one way to ask the model: `data` passes the task's redaction gate
 * and travels as the data block ("<data>\n" JSON "\n</data>") after the
 * system prompt; the answer is validated (schema, then the check) and
 * asked again once with the reason when invalid. `*attempts` gets the
 * number of model calls made. VX_EINVAL when the task has no gate. */
vx_status ai_ask_data(ai_llm *llm, const ai_task *task, const json_t *data,
                      json_t **answer, int *attempts, vx_error *err);

/* The user message ai_ask_data would send for `data` (the gate applied),
 * for tests and the documentation's example prompt. Caller frees with
 * vx__free. NULL when out of memory. */
char *ai_prompt_user(const ai_task *task, const json_t *data);
/* The system message ai_ask_data sends for `task`. vx__free it. */
char *ai_prompt_system(const ai_task *task);

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
