/* Rollout analysis: what to do next with a running release plan, from its
 * status and the guard's latest statistics (aggregates only); and the
 * auto-apply policy that may let a HOLD or a ROLLBACK through without a
 * person.
 *
 * Invariants: the guard is the authority. After a guard rollback every
 * answer is ROLLBACK at 0 % (the advisor never undoes it); INCREASE is
 * never proposed while the guard holds, pauses, sees a regression or has
 * no verdict; and no policy ever applies INCREASE or DECREASE. */
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

static double nget(const json_t *o, const char *k, double dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* What the status says about the guard, read once. */
typedef struct rview {
    const json_t *stats; /* the report, or NULL */
    const char *action;  /* its action, "" without one */
    double cur;          /* current percent */
    double next;         /* the next milestone's percent (cur at the end) */
    double prev;         /* the previous milestone's (0 at the first) */
    bool rolled_back;    /* the guard (or a person) rolled it back */
    bool complete;       /* nothing left to do */
    bool srm;            /* the traffic split is off */
    bool regression;     /* a metric regressed */
    size_t evaluated;    /* metrics with a verdict */
    const json_t *worst; /* the evaluated metric leaning most to harm */
    double worst_p;      /* its p (1 when none leans to harm) */
} rview;

static bool worse(const json_t *m)
{
    double c = nget(m, "control", NAN), t = nget(m, "treatment", NAN);
    if (!isfinite(c) || !isfinite(t))
        return false;
    const char *dir = sget(m, "direction");
    bool lower = strcmp(dir, "lower_is_worse") == 0 ||
                 strcmp(dir, "lower-is-worse") == 0;
    return lower ? t < c : t > c;
}

/* Plan states, as the plan API may spell them. */
static const char *const ROLLED_BACK[] = {"rolled_back", "rolledBack",
                                          "rollback", "rolled-back", NULL};
static const char *const COMPLETE[] = {"complete", "completed", NULL};

static bool one_of(const char *s, const char *const *set)
{
    for (; *set; set++) {
        if (strcmp(s, *set) == 0)
            return true;
    }
    return false;
}

static void view_of(const json_t *status, rview *v)
{
    memset(v, 0, sizeof(*v));
    const json_t *ms = json_object_get(status, "milestones");
    size_t i = (size_t)json_integer_value(json_object_get(status, "milestone"));
    v->stats = json_object_get(status, "statistics");
    if (json_is_null(v->stats))
        v->stats = NULL;
    v->action = sget(v->stats, "action");
    v->cur = nget(status, "percent", 0);
    v->next = i + 1 < json_array_size(ms)
                  ? json_number_value(json_array_get(ms, i + 1))
                  : v->cur;
    v->prev = i > 0 ? json_number_value(json_array_get(ms, i - 1)) : 0;
    const char *state = sget(status, "state");
    v->rolled_back =
        one_of(state, ROLLED_BACK) || strcmp(v->action, "rollback") == 0;
    v->complete = one_of(state, COMPLETE) || strcmp(v->action, "complete") == 0;
    v->srm = strcmp(v->action, "pause_srm") == 0 ||
             json_is_true(
                 json_object_get(json_object_get(v->stats, "srm"), "mismatch"));
    v->worst_p = 1;
    size_t k;
    const json_t *m;
    json_array_foreach (json_object_get(v->stats, "metrics"), k, m) {
        if (json_is_true(json_object_get(m, "regression")))
            v->regression = true;
        if (!json_is_true(json_object_get(m, "evaluated")))
            continue;
        v->evaluated++;
        double p = nget(m, "p", 1);
        if (worse(m) && (p < v->worst_p || !v->worst)) {
            v->worst = m;
            v->worst_p = p;
        }
    }
}

/* "error_rate: treatment 0.02 vs control 0.01 (p = 0.0004)" for every
 * evaluated metric, at most 4, into buf; numbers rounded for people and in
 * the metric's unit (ai_metric_text). */
static void cite(const rview *v, char *buf, size_t cap)
{
    size_t k, n = 0, used = 0;
    const json_t *m;
    buf[0] = '\0';
    json_array_foreach (json_object_get(v->stats, "metrics"), k, m) {
        if (!json_is_true(json_object_get(m, "evaluated")) || n == 4)
            continue;
        char one[200];
        ai_metric_text(m, one, sizeof(one));
        int w = snprintf(buf + used, cap - used, "%s%s", n ? "; " : "", one);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
        n++;
    }
}

static json_t *decide(const json_t *status)
{
    rview v;
    char nums[400], text[VX_LIMIT_AI_TEXT_BYTES];
    const char *rec = "HOLD";
    double next, conf;
    view_of(status, &v);
    cite(&v, nums, sizeof(nums));
    next = v.cur;
    if (v.rolled_back) {
        rec = "ROLLBACK";
        next = 0;
        conf = 0.95;
        snprintf(text, sizeof(text),
                 "The guard rolled this rollout back%s%s. The rollback "
                 "stands: start a new plan once the cause is fixed.",
                 nums[0] ? ": " : "", nums);
    } else if (v.complete) {
        conf = 0.9;
        snprintf(text, sizeof(text), "The plan is complete at %g%%.", v.cur);
    } else if (v.srm) {
        conf = 0.9;
        snprintf(text, sizeof(text),
                 "The traffic split does not match %g%% (sample-ratio "
                 "mismatch, p = %.2g): no comparison can be trusted until "
                 "it is fixed; hold at %g%%.",
                 v.cur,
                 nget(json_object_get(v.stats, "srm"), "pAlwaysValid",
                      nget(json_object_get(v.stats, "srm"), "p", NAN)),
                 v.cur);
    } else if (v.regression) {
        rec = "ROLLBACK";
        next = 0;
        conf = 0.9;
        snprintf(text, sizeof(text),
                 "A guard metric regressed: %s. Roll back to 0%%.", nums);
    } else if (v.worst && v.worst_p < 0.05) {
        rec = v.prev > 0 ? "DECREASE" : "ROLLBACK";
        next = v.prev;
        conf = 0.7;
        snprintf(text, sizeof(text),
                 "%s is worse in the treatment and the evidence is building "
                 "(%s), though not yet enough for the guard to roll back; "
                 "go back to %g%% while it is looked at.",
                 sget(v.worst, "kind"), nums, v.prev);
    } else if (v.worst && v.worst_p < 0.3) {
        conf = 0.6;
        snprintf(text, sizeof(text),
                 "%s leans worse in the treatment (%s); hold at %g%% for "
                 "more data before going on.",
                 sget(v.worst, "kind"), nums, v.cur);
    } else if (v.evaluated == 0) {
        conf = 0.5;
        snprintf(text, sizeof(text),
                 "No guard metric has a verdict yet at %g%% (each arm "
                 "needs enough requests); hold.",
                 v.cur);
    } else if (strcmp(v.action, "advance") == 0 ||
               strcmp(v.action, "wait_approval") == 0) {
        rec = v.next > v.cur ? "INCREASE" : "HOLD";
        next = v.next;
        conf = 0.8;
        snprintf(text, sizeof(text),
                 "Every guard metric is healthy (%s) and the milestone's "
                 "time and exposures are met: go from %g%% to %g%%.",
                 nums, v.cur, v.next);
    } else {
        conf = 0.7;
        snprintf(text, sizeof(text),
                 "Healthy so far (%s), but the milestone's minimum time or "
                 "exposures are not met (%.0f s elapsed); hold at %g%%.",
                 nums, nget(v.stats, "elapsedSeconds", 0), v.cur);
    }
    return json_pack("{ss sf ss sf}", "recommendation", rec, "nextPercent",
                     next, "explanation", text, "confidence", conf);
}

/* The model's answer must agree with itself and with the guard. */
static vx_status rollout_check(void *ud, const json_t *a, vx_error *err)
{
    rview v;
    view_of(ud, &v);
    const char *rec = sget(a, "recommendation");
    double next = nget(a, "nextPercent", -1);
    if (v.rolled_back && strcmp(rec, "ROLLBACK") != 0)
        return vx__error_set(err, VX_ESCHEMA, "/recommendation",
                             "the guard rolled this plan back: only ROLLBACK "
                             "is possible");
    if (strcmp(rec, "INCREASE") == 0) {
        if (v.complete || v.srm || v.regression || v.evaluated == 0 ||
            (strcmp(v.action, "advance") != 0 &&
             strcmp(v.action, "wait_approval") != 0))
            return vx__error_set(err, VX_ESCHEMA, "/recommendation",
                                 "INCREASE needs the guard's go-ahead "
                                 "(action advance or wait_approval, "
                                 "healthy metrics, no mismatch)");
        if (!(next > v.cur && next <= v.next))
            return vx__error_set(err, VX_ESCHEMA, "/nextPercent",
                                 "INCREASE goes above %g%% and at most to "
                                 "the next milestone, %g%%",
                                 v.cur, v.next);
    } else if (strcmp(rec, "HOLD") == 0 && fabs(next - v.cur) > 1e-9) {
        return vx__error_set(err, VX_ESCHEMA, "/nextPercent", "HOLD keeps %g%%",
                             v.cur);
    } else if (strcmp(rec, "DECREASE") == 0 && !(next > 0 && next < v.cur)) {
        return vx__error_set(err, VX_ESCHEMA, "/nextPercent",
                             "DECREASE goes below %g%% and above 0", v.cur);
    } else if (strcmp(rec, "ROLLBACK") == 0 && next != 0) {
        return vx__error_set(err, VX_ESCHEMA, "/nextPercent",
                             "ROLLBACK goes to 0");
    }
    if (!strpbrk(sget(a, "explanation"), "0123456789"))
        return vx__error_set(err, VX_ESCHEMA, "/explanation",
                             "the explanation must cite the numbers");
    return VX_OK;
}

static const char ROLLOUT_SYSTEM[] =
    "You advise on a guarded progressive rollout of a feature flag. The "
    "data is the release plan's status: its state, the milestones "
    "(percentages), the current percentage and the statistical guard's "
    "latest report (per metric: control and treatment values, always-valid "
    "p-value, whether it regressed, margin: the worst difference tolerated, "
    "harmBound: the one-sided always-valid bound on the difference, beyond "
    "the margin exactly when it regressed; srm: sample-ratio mismatch); "
    "percentages below 0.01 are audience stages (one segment each) before "
    "the percentage steps. Recommend "
    "one of INCREASE (to at most the next milestone), HOLD (keep the "
    "current percentage), DECREASE (to a lower percentage above 0) or "
    "ROLLBACK (to 0). The guard is the authority: if it rolled back, answer "
    "ROLLBACK; never INCREASE unless its action is advance or "
    "wait_approval with healthy metrics. explanation: two or three plain "
    "sentences citing the numbers. confidence: 0 to 1.";

vx_status ai_advise_rollout(ai_llm *llm, const json_t *status,
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
        model = decide(status);
    } else {
        schema = json_pack(
            "{ss sb s[ssss] s{s{s[ssss]} s{ss si si} s{ss si} s{ss si si}}}",
            "type", "object", "additionalProperties", 0, "required",
            "recommendation", "nextPercent", "explanation", "confidence",
            "properties", "recommendation", "enum", "INCREASE", "HOLD",
            "DECREASE", "ROLLBACK", "nextPercent", "type", "number", "minimum",
            0, "maximum", 100, "explanation", "type", "string", "maxLength",
            VX_LIMIT_AI_TEXT_BYTES, "confidence", "type", "number", "minimum",
            0, "maximum", 1);
        if (!schema) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        ai_task task = {
            "rollout_analysis", ROLLOUT_SYSTEM, schema, rollout_check,
            (void *)status,     privacy,        NULL};
        st = ai_ask_data(llm, &task, status, &model, &attempts, err);
        if (st != VX_OK)
            goto out;
    }
    if (!model) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    json_object_set_new(
        model, "advisor",
        json_string(ai_advisor_label(llm, label, sizeof(label))));
    json_object_set_new(model, "attempts", json_integer(attempts));
    json_object_set_new(
        model, "guard",
        json_pack("{ss ss}", "state", sget(status, "state"), "action",
                  sget(json_object_get(status, "statistics"), "action")));
    st = ai_answer_take(model, failures, answer, err);
    model = NULL;
out:
    json_decref(model);
    json_decref(schema);
    return st;
}

/* ---- the auto-apply policy ------------------------------------------------
 */

vx_status ai_policy_parse(const char *text, unsigned *out, vx_error *err)
{
    *out = 0;
    if (!text || !*text || strcmp(text, "none") == 0)
        return VX_OK;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 4 && strncmp(p, "hold", 4) == 0)
            *out |= AI_AUTO_HOLD;
        else if (n == 8 && strncmp(p, "rollback", 8) == 0)
            *out |= AI_AUTO_ROLLBACK;
        else if ((n == 8 && strncmp(p, "increase", 8) == 0) ||
                 (n == 8 && strncmp(p, "decrease", 8) == 0))
            return vx__error_set(err, VX_EINVAL, "/advisor-auto-apply",
                                 "only hold and rollback may be applied "
                                 "automatically; %.*s always needs a person",
                                 (int)n, p);
        else
            return vx__error_set(err, VX_EINVAL, "/advisor-auto-apply",
                                 "use none, hold, rollback or hold,rollback");
        if (!end)
            break;
        p = end + 1;
    }
    return VX_OK;
}

bool ai_guard_agrees(const json_t *status, const char *rec, char *why,
                     size_t cap)
{
    rview v;
    view_of(status, &v);
    const json_t *gd = json_object_get(status, "guardData");
    double missing = nget(gd, "missingSeconds", -1);
    double allowed = nget(gd, "allowedSeconds", -1);
    bool hold = strcmp(rec, "HOLD") == 0;
    char nums[400];
    cite(&v, nums, sizeof(nums));
    if (missing >= 0 && allowed >= 0 && missing > allowed) {
        snprintf(why, cap,
                 "the guard's data has been missing for %.0f s, longer than "
                 "the %.0f s the plan allows",
                 missing, allowed);
        return true;
    }
    if (v.regression) {
        snprintf(why, cap, "the guard sees a regression (%s)", nums);
        return true;
    }
    if (v.worst && v.worst_p < (hold ? 0.3 : 0.05)) {
        char one[200];
        ai_metric_text(v.worst, one, sizeof(one));
        snprintf(why, cap, "the guard's verdict is worse: %s", one);
        return true;
    }
    if (hold && v.srm) {
        snprintf(why, cap, "the guard sees a sample-ratio mismatch");
        return true;
    }
    if (v.evaluated == 0)
        snprintf(why, cap,
                 "the guard has no verdict yet, and its data is not missing "
                 "longer than the plan allows");
    else
        snprintf(why, cap, "the guard's metrics do not back it (%s)", nums);
    return false;
}

json_t *ai_policy_apply(unsigned policy, const json_t *answer,
                        const json_t *status, const ai_plan_ops *ops, void *ud,
                        const char *no_ops)
{
    const char *rec = sget(answer, "recommendation");
    const char *names[] = {"none", "hold", "rollback", "hold,rollback"};
    json_t *o =
        json_pack("{ss sb}", "policy", names[policy & 3u], "applied", 0);
    const char *why = NULL;
    vx_status (*fn)(void *, const json_t *, const char *, vx_error *) = NULL;
    char because[600] = "", reason[900];
    rview v;
    view_of(status, &v);
    if (!o)
        return NULL;
    if ((policy & 3u) == 0)
        why = "automatic application is off: a person applies advice";
    else if (strcmp(rec, "HOLD") == 0 && (policy & AI_AUTO_HOLD))
        fn = ops ? ops->hold : NULL;
    else if (strcmp(rec, "ROLLBACK") == 0 && (policy & AI_AUTO_ROLLBACK))
        fn = ops ? ops->rollback : NULL;
    else if (strcmp(rec, "INCREASE") == 0 || strcmp(rec, "DECREASE") == 0)
        why = "INCREASE and DECREASE are never applied automatically";
    else
        why = "the policy does not allow this recommendation";
    if (!why && strcmp(rec, "ROLLBACK") == 0 && v.rolled_back)
        why = "the guard already rolled this plan back";
    else if (!why && strcmp(rec, "HOLD") == 0 && (v.complete || v.srm))
        why = "the plan is already stopped";
    else if (!why && strcmp(rec, "HOLD") == 0 &&
             strcmp(v.action, "advance") != 0 &&
             strcmp(v.action, "wait_approval") != 0)
        why = "the guard is holding this plan already: nothing to apply";
    if (!why && !fn)
        why = no_ops ? no_ops : "no plan operations to apply it with";
    if (!why) {
        bool agrees = ai_guard_agrees(status, rec, because, sizeof(because));
        json_object_set_new(
            o, "guard", json_pack("{sb ss}", "agrees", agrees, "why", because));
        if (!agrees)
            why = "the guard does not agree, and the advice alone never "
                  "changes a flag";
    }
    if (!why) {
        vx_error err;
        memset(&err, 0, sizeof(err));
        snprintf(reason, sizeof(reason),
                 "%s by the advisor-auto-apply policy (%s) on the advice %s "
                 "for %s in %s: %s",
                 strcmp(rec, "HOLD") == 0 ? "paused" : "rolled back",
                 names[policy & 3u], rec, sget(status, "flag"),
                 sget(status, "environment"), because);
        vx_status st = fn(ud, status, reason, &err);
        if (st == VX_OK) {
            json_object_set_new(o, "applied", json_true());
            json_object_set_new(o, "action", json_string(rec));
            why = reason;
        } else {
            json_object_set_new(o, "reason", json_string(err.message));
            return o;
        }
    }
    json_object_set_new(o, "reason", json_string(why));
    return o;
}
