/* Incident summaries: what happened when the guard rolled a flag back,
 * written from the facts of its audit event (ai_incident_facts: flag,
 * environment, milestone, the guard's per-metric statistics; never who or
 * which users).
 *
 * Invariant: a summary only describes; the rollback stands (the schema has
 * no action, and the steps it suggests are text for a person). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ai/advisor.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"

static const char *sget(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double nget(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static json_t *deterministic(const json_t *f)
{
    char title[200], summary[VX_LIMIT_AI_TEXT_BYTES],
        impact[VX_LIMIT_AI_TEXT_BYTES], pct[48] = "";
    const json_t *c = json_object_get(f, "culprit");
    const char *kind = sget(c, "kind");
    const char *unit = strncmp(sget(c, "unit"), "ms", 2) == 0 ? " ms" : "";
    if (isfinite(nget(f, "percent")))
        snprintf(pct, sizeof(pct), " (%g%%)", nget(f, "percent"));
    snprintf(title, sizeof(title), "The guard rolled back %s in %s",
             sget(f, "flag"), sget(f, "environment"));
    snprintf(summary, sizeof(summary),
             "%s%s the guard rolled back %s in %s at step %.0f%s after "
             "%.0f s, %s. %s%s was worse in the treatment: %.4g%s against "
             "%.4g%s in the control (always-valid p = %.2g, tolerance %.3g).",
             *sget(f, "at") ? "At " : "", sget(f, "at"), sget(f, "flag"),
             sget(f, "environment"), nget(f, "milestone") + 1, pct,
             nget(f, "elapsedSeconds"),
             strcmp(sget(f, "rollback"), "disable") == 0
                 ? "disabling the flag"
                 : "setting its rollout to 0%",
             *kind ? "" : "A guard metric", kind, nget(c, "treatment"), unit,
             nget(c, "control"), unit, nget(c, "p"), nget(c, "tolerance"));
    size_t n = 0, used, k;
    const json_t *m;
    used = (size_t)snprintf(impact, sizeof(impact),
                            "Users in the rollout%s were affected until the "
                            "rollback. Other metrics:",
                            pct);
    json_array_foreach (json_object_get(f, "metrics"), k, m) {
        if (m == c || !json_is_true(json_object_get(m, "evaluated")))
            continue;
        char one[200];
        ai_metric_text(m, one, sizeof(one));
        int w = snprintf(impact + used, sizeof(impact) - used, " %s;", one);
        if (w < 0 || (size_t)w >= sizeof(impact) - used)
            break;
        used += (size_t)w;
        n++;
    }
    if (n == 0 && used + 6 < sizeof(impact))
        snprintf(impact + used, sizeof(impact) - used, " none.");
    else if (impact[used - 1] == ';')
        impact[used - 1] = '.';
    json_t *steps = json_pack(
        "[ss]",
        "Find the cause in the change behind the flag before starting a new "
        "release plan; the rollback stands until then.",
        "Compare the treatment's errors and latency around the rollback "
        "time in your logs and traces.");
    if (json_is_true(json_object_get(json_object_get(f, "srm"), "mismatch")))
        json_array_append_new(steps,
                              json_string("The traffic split was also off "
                                          "(sample-ratio mismatch): check "
                                          "how exposures are reported."));
    return json_pack("{ss ss ss so}", "title", title, "summary", summary,
                     "impact", impact, "nextSteps", steps);
}

/* The summary has to name the metric that caused the rollback. */
static vx_status incident_check(void *ud, const json_t *a, vx_error *err)
{
    const char *kind = sget(json_object_get(ud, "culprit"), "kind");
    char spaced[64];
    snprintf(spaced, sizeof(spaced), "%s", kind);
    for (char *p = spaced; *p; p++)
        *p = *p == '_' ? ' ' : *p;
    const char *s = sget(a, "summary");
    if (*kind && !strstr(s, kind) && !strcasestr(s, spaced))
        return vx__error_set(err, VX_ESCHEMA, "/summary",
                             "the summary must name the metric that "
                             "regressed (%s)",
                             kind);
    /* The rollback stands: no step may undo it or widen the rollout. */
    static const char *const UNDO[] = {
        "re-enable",
        "reenable",
        "enable the flag",
        "enable it",
        "roll forward",
        "undo the rollback",
        "revert the rollback",
        "for everyone",
        "to 100%",
        "to 100 %",
        "increase the rollout",
        "resume the rollout",
        "turn it back on",
        "turn the flag back on",
    };
    size_t i;
    const json_t *step;
    vx_status st = VX_OK;
    json_array_foreach (json_object_get(a, "nextSteps"), i, step) {
        const char *t = json_string_value(step);
        for (size_t u = 0;
             t && st == VX_OK && u < sizeof(UNDO) / sizeof(UNDO[0]); u++) {
            if (strcasestr(t, UNDO[u]))
                st = vx__error_set(err, VX_ESCHEMA, "/nextSteps",
                                   "the rollback stands until the cause is "
                                   "found: no step may say \"%s\"",
                                   UNDO[u]);
        }
    }
    return st;
}

static const char INCIDENT_SYSTEM[] =
    "The statistical guard of a feature-flag server rolled a flag back "
    "because a metric was worse for the users in the rollout (treatment) "
    "than for the others (control). The data holds the facts: flag, "
    "environment, time, milestone, the culprit metric and every metric's "
    "statistics. Write an incident summary: title (one line), summary (what "
    "happened, naming the culprit metric and citing its numbers), impact "
    "(who was affected, with the numbers), nextSteps (up to five short "
    "steps for a person). The rollback stands: do not suggest undoing it "
    "before the cause is found.";

vx_status ai_advise_incident(ai_llm *llm, const json_t *facts,
                             const ai_scrub *privacy, json_t **answer,
                             vx_error *err)
{
    vx_status st = VX_OK;
    json_t *model = NULL, *schema = NULL;
    char label[300];
    int attempts = 0;
    uint64_t failures = vx__alloc_failures();
    *answer = NULL;
    if (!llm) {
        model = deterministic(facts);
    } else {
        schema = json_pack(
            "{ss sb s[ssss] s{s{ss si si} s{ss si si} s{ss si si} s{ss si si "
            "s{ss si si}}}}",
            "type", "object", "additionalProperties", 0, "required", "title",
            "summary", "impact", "nextSteps", "properties", "title", "type",
            "string", "minLength", 1, "maxLength", 200, "summary", "type",
            "string", "minLength", 1, "maxLength", VX_LIMIT_AI_TEXT_BYTES,
            "impact", "type", "string", "minLength", 1, "maxLength",
            VX_LIMIT_AI_TEXT_BYTES, "nextSteps", "type", "array", "minItems", 1,
            "maxItems", 5, "items", "type", "string", "minLength", 1,
            "maxLength", 300);
        if (!schema) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        ai_task task = {
            "incident_summary", INCIDENT_SYSTEM, schema, incident_check,
            (void *)facts,      privacy,         NULL};
        st = ai_ask_data(llm, &task, facts, &model, &attempts, err);
        if (st != VX_OK)
            goto out;
    }
    st = ai_answer_take(json_pack("{ss so si}", "advisor",
                                  ai_advisor_label(llm, label, sizeof(label)),
                                  "incident", model, "attempts", attempts),
                        failures, answer, err);
    model = NULL;
out:
    json_decref(model);
    json_decref(schema);
    return st;
}
