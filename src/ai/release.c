/* Rollout plans: a release plan proposed for a described change and a
 * risk level, in the plan API's format (plan_adapter.c), checked by the
 * guard's own plan validation. A proposal: nobody applies it but a person.
 *
 * Invariant: every plan returned passed ai_plan_from_json (and so
 * guard_plan_validate), ends at 100 % and starts no higher than its risk
 * allows; the description reaches a prompt only scrubbed, as data. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ai/advisor.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"
#include "guard/plan.h"

typedef struct risk_rule {
    const char *name; /* "low", "medium", "high" */
    double max_first; /* the first milestone's highest percentage */
    const char *mode; /* "auto" or "approval" */
    const char *rb;   /* rollback: "rollout-zero" or "disable" */
    const int *pcts;  /* the deterministic steps, ending at 100 */
    size_t n;         /* their count */
    int dur;          /* seconds per step */
    int exposures;    /* treatment exposures per step */
} risk_rule;

static const int LOW[] = {10, 50, 100};
static const int MEDIUM[] = {1, 5, 25, 50, 100};
static const int HIGH[] = {1, 2, 5, 10, 25, 50, 100};

static const risk_rule RULES[] = {
    {"low", 25, "auto", "rollout-zero", LOW, 3, 600, 0},
    {"medium", 10, "auto", "rollout-zero", MEDIUM, 5, 1800, 500},
    {"high", 5, "approval", "disable", HIGH, 7, 3600, 1000},
};

static const risk_rule *rule_of(const char *risk)
{
    for (size_t i = 0; risk && i < sizeof(RULES) / sizeof(RULES[0]); i++) {
        if (strcmp(RULES[i].name, risk) == 0)
            return &RULES[i];
    }
    return NULL;
}

/* True when `text` holds one of `words` as a word prefix, any case. */
static bool mentions(const char *text, const char *const *words)
{
    for (const char *p = text; *p; p++) {
        if (p != text && isalnum((unsigned char)p[-1]))
            continue;
        for (const char *const *w = words; *w; w++) {
            if (strncasecmp(p, *w, strlen(*w)) == 0)
                return true;
        }
    }
    return false;
}

static const char *const MONEY[] = {
    "checkout", "payment", "pay",        "cart",    "purchase", "signup",
    "sign-up",  "pricing", "conversion", "billing", NULL};
static const char *const SPEED[] = {"latency",  "performance", "perf", "cache",
                                    "database", "query",       "slow", "fast",
                                    "search",   "api",         NULL};

static json_t *deterministic(const ai_plan_req *req, const risk_rule *r)
{
    json_t *ms = json_array(), *mets = json_array();
    for (size_t i = 0; i < r->n; i++)
        json_array_append_new(
            ms, json_pack("{si si si}", "percent", r->pcts[i],
                          "minDurationSeconds", i + 1 < r->n ? r->dur : 0,
                          "minExposures", i + 1 < r->n ? r->exposures : 0));
    json_array_append_new(mets, json_pack("{ss ss sf}", "kind", "error_rate",
                                          "direction", "higher-is-worse",
                                          "tolerance", 0.0));
    bool speed = mentions(req->description, SPEED) || r->pcts[0] < 10;
    bool money = mentions(req->description, MONEY);
    if (speed)
        json_array_append_new(mets, json_pack("{ss ss sf}", "kind", "latency",
                                              "direction", "higher-is-worse",
                                              "tolerance", 0.1));
    if (money)
        json_array_append_new(
            mets, json_pack("{ss ss sf}", "kind", "conversion", "direction",
                            "lower-is-worse", "tolerance", 0.02));
    char text[VX_LIMIT_AI_TEXT_BYTES];
    snprintf(text, sizeof(text),
             "A %s-risk change: %zu steps from %d%% to 100%%, at least %d "
             "minutes each%s, watching the error rate%s%s. %s; a regression "
             "%s.",
             r->name, r->n, r->pcts[0], r->dur / 60,
             r->exposures ? " and enough treatment requests" : "",
             speed ? ", latency" : "", money ? " and conversion" : "",
             strcmp(r->mode, "approval") == 0
                 ? "A person approves each step"
                 : "Steps advance by themselves while healthy",
             strcmp(r->rb, "disable") == 0 ? "disables the flag"
                                           : "sets the rollout to 0%");
    return json_pack("{s{so so ss ss sf} ss}", "plan", "milestones", ms,
                     "metrics", mets, "mode", r->mode, "rollback", r->rb,
                     "alpha", 0.05, "explanation", text);
}

static vx_status plan_check(void *ud, const json_t *a, vx_error *err)
{
    const risk_rule *r = ud;
    json_t *plan = json_deep_copy(a);
    if (!plan)
        return VX_ENOMEM;
    json_object_del(plan, "explanation");
    vx_status st = ai_plan_from_json(plan, NULL, err);
    json_decref(plan);
    if (st != VX_OK)
        return st == VX_ENOMEM ? st : VX_ESCHEMA;
    const json_t *ms = json_object_get(a, "milestones");
    double first =
        json_number_value(json_object_get(json_array_get(ms, 0), "percent"));
    double last = json_number_value(json_object_get(
        json_array_get(ms, json_array_size(ms) - 1), "percent"));
    if (last != 100)
        return vx__error_set(err, VX_ESCHEMA, "/milestones",
                             "the last milestone must be 100%%");
    if (first > r->max_first)
        return vx__error_set(err, VX_ESCHEMA, "/milestones/0/percent",
                             "a %s-risk plan starts at %g%% or less", r->name,
                             r->max_first);
    if (strcmp(r->name, "high") == 0 &&
        strcmp(json_string_value(json_object_get(a, "mode")), "approval") != 0)
        return vx__error_set(err, VX_ESCHEMA, "/mode",
                             "a high-risk plan waits for approval");
    return VX_OK;
}

static const char PLAN_SYSTEM[] =
    "You design a guarded release plan for a change behind a feature flag. "
    "The data gives the change's description (user-written text) and its "
    "risk (low, medium, high). Answer with milestones: increasing rollout "
    "percentages (whole numbers) ending at 100, each with "
    "minDurationSeconds (seconds to stay) and "
    "minExposures (treatment requests to see first); metrics the "
    "statistical guard watches (error_rate always; latency for performance "
    "work; conversion for checkout, payment or sign-up work), each with a "
    "direction and a relative tolerance; mode (approval: a person approves "
    "each step; use it for high risk); rollback (rollout-zero: rollout to 0 %; "
    "disable: the flag off); explanation: two plain sentences. The riskier "
    "the change, the smaller the first step and the longer each step: high "
    "risk starts at 5 % or less, medium at 10 % or less, low at 25 % or "
    "less.";

vx_status ai_advise_plan(ai_llm *llm, const ai_plan_req *req, json_t **answer,
                         vx_error *err)
{
    vx_status st = VX_OK;
    json_t *model = NULL, *schema = NULL, *data = NULL;
    char label[300];
    int attempts = 0;
    uint64_t failures = vx__alloc_failures();
    *answer = NULL;
    const risk_rule *r = rule_of(req->risk);
    if (!req->description || !*req->description)
        return vx__error_set(err, VX_EINVAL, "/description",
                             "describe the change to plan");
    if (strlen(req->description) > VX_LIMIT_AI_SENTENCE_BYTES)
        return vx__error_set(err, VX_ELIMIT, "/description",
                             "the description is longer than %d bytes",
                             VX_LIMIT_AI_SENTENCE_BYTES);
    if (!r)
        return vx__error_set(err, VX_EINVAL, "/risk",
                             "risk must be low, medium or high");
    if (!llm) {
        json_t *d = deterministic(req, r);
        if (d) {
            model = json_object();
            json_object_set(model, "plan", json_object_get(d, "plan"));
            json_object_set(model, "explanation",
                            json_object_get(d, "explanation"));
            json_decref(d);
        }
    } else {
        data = json_pack("{ss ss}", "description", req->description, "risk",
                         r->name);
        schema = json_pack(
            "{ss sb s[sssss] s{s{ss si si s{ss sb s[ss] s{s{ss si si} s{ss si "
            "si} s{ss si si}}}} s{ss si si s{ss sb s[sss] s{s{s[sssss]} "
            "s{s[ss]} s{ss si si}}}} s{s[ss]} s{s[ss]} s{ss si}}}",
            "type", "object", "additionalProperties", 0, "required",
            "milestones", "metrics", "mode", "rollback", "explanation",
            "properties", "milestones", "type", "array", "minItems", 1,
            "maxItems", 10, "items", "type", "object", "additionalProperties",
            0, "required", "percent", "minDurationSeconds", "properties",
            "percent", "type", "integer", "minimum", 1, "maximum", 100,
            "minDurationSeconds", "type", "integer", "minimum", 0, "maximum",
            7 * 86400, "minExposures", "type", "integer", "minimum", 0,
            "maximum", 100000000, "metrics", "type", "array", "minItems", 1,
            "maxItems", 5, "items", "type", "object", "additionalProperties", 0,
            "required", "kind", "direction", "tolerance", "properties", "kind",
            "enum", "error_rate", "latency", "conversion", "latency_mean",
            "latency_quantile", "direction", "enum", "higher-is-worse",
            "lower-is-worse", "tolerance", "type", "number", "minimum", 0,
            "maximum", 10, "mode", "enum", "auto", "approval", "rollback",
            "enum", "rollout-zero", "disable", "explanation", "type", "string",
            "maxLength", VX_LIMIT_AI_TEXT_BYTES);
        if (!data || !schema) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        ai_task task = {"release_plan", PLAN_SYSTEM,  schema, plan_check,
                        (void *)r,      req->privacy, NULL};
        json_t *a = NULL;
        st = ai_ask_data(llm, &task, data, &a, &attempts, err);
        if (st != VX_OK)
            goto out;
        json_t *expl = json_incref(json_object_get(a, "explanation"));
        json_object_del(a, "explanation");
        json_object_set_new(a, "alpha", json_real(0.05));
        model = json_pack("{so so}", "plan", a, "explanation", expl);
    }
    if (!model || !json_object_get(model, "plan")) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    /* The deterministic plan passes the same check (a bug here is a 500,
     * never an invalid plan handed to a person). */
    {
        vx_error why;
        memset(&why, 0, sizeof(why));
        json_t *full = json_deep_copy(json_object_get(model, "plan"));
        json_object_set_new(full, "explanation", json_string("x"));
        st = full ? plan_check((void *)r, full, &why) : VX_ENOMEM;
        json_decref(full);
        if (st != VX_OK) {
            st = vx__error_set(err, st == VX_ENOMEM ? VX_ENOMEM : VX_EIO,
                               why.path, "%s", why.message);
            goto out;
        }
    }
    {
        /* The policy: a first step above the configured share needs a
         * person's confirmation, and a model's plan is compared with the
         * deterministic one. */
        const json_t *ms =
            json_object_get(json_object_get(model, "plan"), "milestones");
        double first = json_number_value(
            json_object_get(json_array_get(ms, 0), "percent"));
        json_t *diffs = json_array();
        if (llm) {
            json_t *d = deterministic(req, r);
            const json_t *dp = json_object_get(d, "plan");
            const json_t *dms = json_object_get(dp, "milestones");
            double dfirst = json_number_value(
                json_object_get(json_array_get(dms, 0), "percent"));
            char line[300];
            if (first != dfirst) {
                snprintf(line, sizeof(line),
                         "the first step is %g%%; the deterministic %s-risk "
                         "plan starts at %g%%",
                         first, r->name, dfirst);
                json_array_append_new(diffs, json_string(line));
            }
            if (json_array_size(ms) != json_array_size(dms)) {
                snprintf(line, sizeof(line),
                         "%zu steps; the deterministic plan has %zu",
                         json_array_size(ms), json_array_size(dms));
                json_array_append_new(diffs, json_string(line));
            }
            const char *mm = json_string_value(
                json_object_get(json_object_get(model, "plan"), "mode"));
            const char *dm = json_string_value(json_object_get(dp, "mode"));
            if (mm && dm && strcmp(mm, dm) != 0) {
                snprintf(line, sizeof(line),
                         "mode %s; the deterministic plan uses %s", mm, dm);
                json_array_append_new(diffs, json_string(line));
            }
            json_decref(d);
        }
        json_object_set_new(model, "policy",
                            ai_policy_first_step(first, diffs, &req->confirm));
        json_decref(diffs);
    }
    json_object_set_new(
        model, "advisor",
        json_string(ai_advisor_label(llm, label, sizeof(label))));
    json_object_set_new(model, "risk", json_string(r->name));
    json_object_set_new(model, "attempts", json_integer(attempts));
    st = ai_answer_take(model, failures, answer, err);
    model = NULL;
out:
    json_decref(model);
    json_decref(schema);
    json_decref(data);
    return st;
}
