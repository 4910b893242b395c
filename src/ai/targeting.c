/* Targeting rules from a sentence: a flexibleRollout strategy with
 * constraints, from the model (schema-bound, then the service's own
 * strategy validation) or from a small deterministic parser of plain
 * English ("pro and enterprise users in Thailand and Vietnam on app
 * version 2.3 or newer, 10% of them") that says what it did not follow.
 *
 * Invariant: the strategy in an answer has passed the same validation as
 * the admin API's strategy POST; nothing here applies it. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ai/advisor.h"
#include "ai/language.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"
#include "vexil/vexil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

json_t *ai_targeting_parse(const char *sentence, const json_t *fields)
{
    return ai_language_read(sentence, fields);
}

/* ---- the model ------------------------------------------------------------
 */

static const char *const OPERATORS[] = {
    "IN",
    "NOT_IN",
    "STR_CONTAINS",
    "STR_STARTS_WITH",
    "STR_ENDS_WITH",
    "NUM_EQ",
    "NUM_GT",
    "NUM_GTE",
    "NUM_LT",
    "NUM_LTE",
    "DATE_AFTER",
    "DATE_BEFORE",
    "SEMVER_EQ",
    "SEMVER_GT",
    "SEMVER_GTE",
    "SEMVER_LT",
    "SEMVER_LTE",
};

static json_t *operators_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; i < N(OPERATORS); i++)
        json_array_append_new(a, json_string(OPERATORS[i]));
    return a;
}

static json_t *targeting_schema(const json_t *fields)
{
    return json_pack(
        "{ss sb s[ssss] s{s{ss si si} s{ss si s{ss sb s[sss] s{s{sO} "
        "s{so} s{ss si s{ss si}} s{ss}}}} s{ss si} s{ss si s{ss si}}}}",
        "type", "object", "additionalProperties", 0, "required", "rollout",
        "constraints", "explanation", "notUnderstood", "properties", "rollout",
        "type", "integer", "minimum", 0, "maximum", 100, "constraints", "type",
        "array", "maxItems", VX_LIMIT_AI_CONSTRAINTS, "items", "type", "object",
        "additionalProperties", 0, "required", "contextName", "operator",
        "values", "properties", "contextName", "enum", fields, "operator",
        "enum", operators_json(), "values", "type", "array", "maxItems",
        VX_LIMIT_AI_VALUES, "items", "type", "string", "maxLength", 200,
        "inverted", "type", "boolean", "explanation", "type", "string",
        "maxLength", VX_LIMIT_AI_TEXT_BYTES, "notUnderstood", "type", "array",
        "maxItems", 10, "items", "type", "string", "maxLength", 200);
}

static const char TARGETING_SYSTEM[] =
    "You turn a person's description of who should get a feature into "
    "targeting rules for Vexil, a feature-flag server. Answer with: rollout, "
    "the percentage (0-100) of matching users who get the feature (100 when "
    "the description gives none); constraints, conditions that must all "
    "hold, each on one field of contextFields (never another field) with one "
    "operator of operators; IN and NOT_IN take a list of values, the other "
    "operators exactly one value; countries are ISO 3166-1 alpha-2 codes "
    "(TH, VN), versions are semantic versions (2.3.0), plan names are lower "
    "case; \"2.3 or newer\" is SEMVER_GTE 2.3.0. Values written like <v1> "
    "are placeholders: copy them unchanged. explanation: one or two plain "
    "sentences saying who gets the feature. notUnderstood: the parts of the "
    "description you could not express with these fields and operators.";

typedef struct tctx {
    const ai_targeting_req *req;
    const json_t *map; /* placeholder -> original value */
    json_t *strategy;  /* the checked strategy of the last valid answer */
} tctx;

/* Builds the strategy of a proposal ({rollout, constraints}) and runs the
 * service's validation on it. */
static vx_status build_strategy(const ai_targeting_req *req,
                                const json_t *proposal, const json_t *map,
                                bool from_model, json_t **out, vx_error *err)
{
    char roll[16];
    snprintf(
        roll, sizeof(roll), "%lld",
        (long long)json_integer_value(json_object_get(proposal, "rollout")));
    json_t *cons = json_array();
    size_t i;
    const json_t *k;
    vx_status st = VX_OK;
    json_array_foreach (json_object_get(proposal, "constraints"), i, k) {
        json_t *c = json_deep_copy(k);
        if (!c) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            break;
        }
        json_t *vals = json_object_get(c, "values");
        size_t j;
        json_t *v;
        json_array_foreach (vals, j, v) {
            const json_t *orig =
                json_is_string(v) ? json_object_get(map, json_string_value(v))
                                  : NULL;
            if (orig)
                json_array_set(vals, j, (json_t *)orig);
        }
        const char *op = json_string_value(json_object_get(c, "operator"));
        if (from_model && op && !vx_operator_takes_list(op, strlen(op))) {
            if (json_array_size(vals) != 1) {
                json_decref(c);
                st = vx__error_set(err, VX_ESCHEMA, "",
                                   "constraint %zu: %s takes exactly one value",
                                   i, op);
                break;
            }
            json_object_set(c, "value", json_array_get(vals, 0));
            json_object_del(c, "values");
        }
        json_array_append_new(cons, c);
    }
    json_t *strategy = NULL;
    if (st == VX_OK)
        strategy =
            json_pack("{ss s{ss ss ss} sO}", "name", "flexibleRollout",
                      "parameters", "rollout", roll, "stickiness", "default",
                      "groupId", req->group_id, "constraints", cons);
    json_decref(cons);
    if (st == VX_OK && !strategy)
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
    if (st == VX_OK)
        st = req->check(req->check_ud, strategy, out, err);
    json_decref(strategy);
    return st;
}

static vx_status model_check(void *ud, const json_t *answer, vx_error *err)
{
    tctx *t = ud;
    json_t *s = NULL;
    vx_status st = build_strategy(t->req, answer, t->map, true, &s, err);
    if (st != VX_OK)
        return st == VX_ENOMEM ? st : VX_ESCHEMA;
    json_decref(t->strategy);
    t->strategy = s;
    return VX_OK;
}

static json_t *fields_used_unknown(const json_t *strategy, const json_t *fields)
{
    json_t *out = json_array();
    size_t i, j;
    const json_t *k, *f;
    json_array_foreach (json_object_get(strategy, "constraints"), i, k) {
        const char *name = json_string_value(json_object_get(k, "contextName"));
        bool found = false;
        json_array_foreach (fields, j, f)
            found = found || (json_is_string(f) && name &&
                              strcmp(json_string_value(f), name) == 0);
        if (!found && name)
            json_array_append_new(out, json_string(name));
    }
    return out;
}

/* The answer when there is no proposal: why, for a 422. */
static json_t *refusal(const char *label, const json_t *reading,
                       json_t *policy /* stolen, may be NULL */, int attempts)
{
    json_t *problems = json_deep_copy(json_object_get(reading, "problems"));
    if (policy) {
        size_t i;
        const json_t *r;
        json_array_foreach (json_object_get(policy, "reasons"), i, r)
            json_array_append_new(
                problems,
                json_pack("{ss sO}", "path", "/sentence", "message", r));
    }
    json_t *a = json_pack("{ss sb so sO si}", "advisor", label, "understood", 0,
                          "problems", problems, "notUnderstood",
                          json_object_get(reading, "notUnderstood"), "attempts",
                          attempts);
    if (a && policy)
        json_object_set_new(a, "policy", policy);
    else
        json_decref(policy);
    return a;
}

vx_status ai_advise_targeting(ai_llm *llm, const ai_targeting_req *req,
                              json_t **answer, vx_error *err)
{
    vx_status st = VX_OK;
    json_t *reading = NULL, *strategy = NULL, *map = NULL, *schema = NULL,
           *data = NULL, *proposal = NULL, *policy = NULL, *refused = NULL,
           *warnings = json_array();
    char label[300];
    int attempts = 0;
    tctx t = {req, NULL, NULL};
    uint64_t failures = vx__alloc_failures();
    *answer = NULL;
    size_t slen = req->sentence ? strlen(req->sentence) : 0;
    if (slen == 0) {
        st = vx__error_set(err, VX_EINVAL, "/sentence", "sentence is required");
        goto out;
    }
    if (slen > VX_LIMIT_AI_SENTENCE_BYTES) {
        st = vx__error_set(err, VX_ELIMIT, "/sentence",
                           "sentence is longer than %d bytes",
                           VX_LIMIT_AI_SENTENCE_BYTES);
        goto out;
    }
    /* The deterministic reading, always: the proposal without a model, the
     * yardstick of a model's proposal with one. */
    reading = ai_language_read(req->sentence, req->fields);
    if (!reading || !warnings) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    bool understood = json_is_true(json_object_get(reading, "understood"));
    ai_advisor_label(llm, label, sizeof(label));
    if (!llm && !understood) {
        st = ai_answer_take(refusal(label, reading, NULL, 0), failures, answer,
                            err);
        goto out;
    }
    if (!llm) {
        st = build_strategy(req, reading, NULL, false, &strategy, err);
        if (st != VX_OK)
            goto out;
        proposal = json_incref(reading);
    } else {
        /* Identifiers and private values in the sentence become
         * placeholders at the gate; the model sees "<v1>" and the answer
         * is mapped back here. */
        map = json_object();
        data =
            json_pack("{ss sO so}", "sentence", req->sentence, "contextFields",
                      req->fields, "operators", operators_json());
        schema = targeting_schema(req->fields);
        if (!map || !data || !schema) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        t.map = map;
        ai_task task = {"targeting_rule",
                        TARGETING_SYSTEM,
                        schema,
                        model_check,
                        &t,
                        req->privacy,
                        map};
        st = ai_ask_data(llm, &task, data, &proposal, &attempts, err);
        if (st != VX_OK)
            goto out;
        strategy = t.strategy;
        t.strategy = NULL;
    }
    policy = ai_policy_targeting(strategy, llm != NULL, reading, &req->confirm);
    if (!policy) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    if (strcmp(json_string_value(json_object_get(policy, "verdict")),
               "refused") == 0) {
        if (!understood) {
            st = ai_answer_take(refusal(label, reading, policy, attempts),
                                failures, answer, err);
            policy = NULL;
            goto out;
        }
        /* The reading stands in for a model's proposal the policy
         * refused; what the model said is kept for the person to see. */
        refused = json_pack("{sO sO sO}", "strategy", strategy, "reasons",
                            json_object_get(policy, "reasons"), "differences",
                            json_object_get(policy, "differences"));
        json_decref(strategy);
        strategy = NULL;
        json_decref(policy);
        policy = NULL;
        json_decref(proposal);
        proposal = json_incref(reading);
        st = build_strategy(req, reading, NULL, false, &strategy, err);
        if (st != VX_OK)
            goto out;
        policy = ai_policy_targeting(strategy, false, reading, &req->confirm);
        snprintf(label, sizeof(label), "deterministic");
        json_array_append_new(
            warnings, json_string("the policy refused the model's proposal "
                                  "(it reaches users the sentence does not "
                                  "name): this is the deterministic reading "
                                  "instead"));
    }
    json_t *unknown = fields_used_unknown(strategy, req->fields);
    size_t i;
    const json_t *f;
    json_array_foreach (unknown, i, f) {
        char w[300];
        snprintf(w, sizeof(w),
                 "no flag of this project uses the context field '%s' yet: "
                 "check that your SDKs send it under this name",
                 json_string_value(f));
        json_array_append_new(warnings, json_string(w));
    }
    json_t *nu = json_object_get(proposal, "notUnderstood");
    json_t *a = json_pack("{ss sb sO sO so so so sO so si}", "advisor", label,
                          "understood", 1, "strategy", strategy, "explanation",
                          json_object_get(proposal, "explanation"),
                          "notUnderstood", nu ? json_incref(nu) : json_array(),
                          "unknownFields", unknown, "warnings", warnings,
                          "notes", json_object_get(reading, "notes"), "policy",
                          policy, "attempts", attempts);
    warnings = policy = NULL;
    if (a && llm)
        json_object_set_new(
            a, "reading",
            json_pack("{sO sO sO sO}", "understood",
                      json_object_get(reading, "understood"), "explanation",
                      json_object_get(reading, "explanation"), "notUnderstood",
                      json_object_get(reading, "notUnderstood"), "problems",
                      json_object_get(reading, "problems")));
    if (a && refused) {
        json_object_set_new(a, "modelRefused", refused);
        refused = NULL;
    }
    st = ai_answer_take(a, failures, answer, err);
out:
    json_decref(t.strategy);
    json_decref(reading);
    json_decref(proposal);
    json_decref(strategy);
    json_decref(map);
    json_decref(schema);
    json_decref(data);
    json_decref(policy);
    json_decref(refused);
    json_decref(warnings);
    return st;
}
