/* Unit tests for the rollout features of src/ai, against fixture JSON in
 * the plan API's format whose statistics are real guard decision reports
 * (guard_decision_json): the adapter (only aggregates come out, errors
 * name the field), the deterministic rollout analysis for each guard
 * situation, the auto-apply policy (INCREASE and DECREASE never applied,
 * whatever the policy), the deterministic release plans (checked by the
 * guard's validation) and incident summaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ai/advisor.h"
#include "base/alloc.h"
#include "guard/plan.h"
#include "guard/report.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", text, e.text);
    return j;
}

/* A two-metric plan (error rate, conversion) and a decision on it. */
static void plan2(guard_plan *p)
{
    guard_plan_init(p);
    p->n_milestones = 4;
    p->milestones[0].percent = 1;
    p->milestones[1].percent = 5;
    p->milestones[2].percent = 25;
    p->milestones[3].percent = 100;
    p->n_metrics = 2;
    p->metrics[0].kind = GUARD_METRIC_ERROR_RATE;
    p->metrics[1].kind = GUARD_METRIC_CONVERSION;
    p->metrics[1].direction = GUARD_LOWER_IS_WORSE;
}

static void verdict(guard_decision *d, size_t i, double c, double t, double p,
                    bool regression)
{
    d->verdicts[i].kind =
        i == 0 ? GUARD_METRIC_ERROR_RATE : GUARD_METRIC_CONVERSION;
    d->verdicts[i].alpha = 0.025;
    d->verdicts[i].seq.evaluated = true;
    d->verdicts[i].seq.control = c;
    d->verdicts[i].seq.treatment = t;
    d->verdicts[i].seq.diff = t - c;
    d->verdicts[i].seq.p = p;
    d->verdicts[i].seq.regression = regression;
    if (d->n_verdicts < i + 1)
        d->n_verdicts = i + 1;
}

/* The plan status GET as the plan API answers it (fixture), with the
 * decision `d` as its latest statistics and some members that must never
 * reach a prompt. New reference. */
static json_t *status_of(const guard_decision *d, const char *state)
{
    guard_plan p;
    char rep[GUARD_REPORT_MAX];
    size_t len = 0;
    plan2(&p);
    assert_int_equal(guard_decision_json(&p, d, rep, sizeof(rep), &len), VX_OK);
    char doc[GUARD_REPORT_MAX + 1024];
    snprintf(doc, sizeof(doc),
             "{\"flag\":\"checkout\",\"environment\":\"production\","
             "\"state\":\"%s\",\"milestone\":%zu,\"createdBy\":"
             "\"alice@example.com\",\"plan\":{\"milestones\":[{\"percent\":1},"
             "{\"percent\":5},{\"percent\":25},{\"percent\":100}],"
             "\"description\":\"secret-plan-note\"},\"statistics\":%s}",
             state, d->milestone, rep);
    return J(doc);
}

static json_t *normalized(const guard_decision *d, const char *state)
{
    json_t *st = status_of(d, state), *n = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(ai_plan_status_normalize(st, &n, &err), VX_OK);
    json_decref(st);
    return n;
}

static json_t *analyse(const json_t *n)
{
    json_t *a = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(ai_advise_rollout(NULL, n, NULL, &a, &err), VX_OK);
    assert_string_equal(json_string_value(json_object_get(a, "advisor")),
                        "deterministic");
    return a;
}

static const char *rec(const json_t *a)
{
    return json_string_value(json_object_get(a, "recommendation"));
}

static double next_pct(const json_t *a)
{
    return json_number_value(json_object_get(a, "nextPercent"));
}

static void test_status_adapter(void **state)
{
    (void)state;
    guard_decision d;
    memset(&d, 0, sizeof(d));
    d.action = GUARD_ADVANCE;
    d.reason = "healthy";
    d.milestone = 1;
    d.next_milestone = 2;
    d.next_percent = 25;
    verdict(&d, 0, 0.0101, 0.0099, 1, false);
    json_t *n = normalized(&d, "running");
    char *text = json_dumps(n, JSON_COMPACT);
    assert_null(strstr(text, "alice@example.com"));
    assert_null(strstr(text, "secret-plan-note"));
    assert_non_null(strstr(text, "\"kind\":\"error_rate\""));
    free(text);
    assert_int_equal(json_number_value(json_object_get(n, "percent")), 5);
    assert_int_equal(json_array_size(json_object_get(n, "milestones")), 4);
    json_decref(n);

    /* Audience stages (a canary segment, then user ids) count as tiny
     * steps, as the guard counts them; their members never come out. */
    json_t *aud = J("{\"feature\":\"f\",\"environment\":\"p\",\"state\":"
                    "\"running\",\"milestone\":1,\"plan\":{\"milestones\":["
                    "{\"percent\":100,\"segments\":[3]},{\"percent\":100,"
                    "\"constraints\":[{\"contextName\":\"userId\",\"operator\":"
                    "\"IN\",\"values\":[\"user-secret-9\"]}]},{\"percent\":10},"
                    "{\"percent\":100}]}}");
    json_t *an = NULL;
    vx_error aerr;
    memset(&aerr, 0, sizeof(aerr));
    assert_int_equal(ai_plan_status_normalize(aud, &an, &aerr), VX_OK);
    text = json_dumps(an, JSON_COMPACT);
    assert_null(strstr(text, "user-secret-9"));
    free(text);
    assert_true(json_number_value(json_object_get(an, "percent")) == 0.002);
    assert_int_equal(json_integer_value(json_object_get(an, "audienceStages")),
                     2);
    json_t *aa = NULL;
    assert_int_equal(ai_advise_rollout(NULL, an, NULL, &aa, &aerr), VX_OK);
    assert_string_equal(rec(aa), "HOLD"); /* no statistics yet */
    json_decref(aa);
    json_decref(an);
    json_decref(aud);

    struct {
        const char *doc, *path;
    } bad[] = {
        {"{\"environment\":\"p\",\"state\":\"running\",\"milestone\":0,"
         "\"milestones\":[1]}",
         "/flag"},
        {"{\"flag\":\"f\",\"environment\":\"p\",\"state\":\"running\","
         "\"milestone\":3,\"milestones\":[1,100]}",
         "/milestone"},
        {"{\"flag\":\"f\",\"environment\":\"p\",\"state\":\"running\","
         "\"milestone\":0,\"plan\":{\"milestones\":[{\"percent\":1},"
         "{\"percent\":101}]}}",
         "/plan/milestones/1/percent"},
        {"{\"flag\":\"f\",\"environment\":\"p\",\"state\":\"running\","
         "\"milestone\":0,\"milestones\":[1],\"statistics\":{\"metrics\":[]}}",
         "/statistics/action"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *in = J(bad[i].doc), *out = NULL;
        vx_error err;
        memset(&err, 0, sizeof(err));
        assert_int_equal(ai_plan_status_normalize(in, &out, &err), VX_EINVAL);
        assert_null(out);
        assert_string_equal(err.path, bad[i].path);
        json_decref(in);
    }
}

static void test_rollout_deterministic(void **state)
{
    (void)state;
    guard_decision d;
    json_t *n, *a;

    /* Healthy and the guard would advance: INCREASE to the next step. */
    memset(&d, 0, sizeof(d));
    d.action = GUARD_ADVANCE;
    d.milestone = 1;
    verdict(&d, 0, 0.0101, 0.0099, 1, false);
    verdict(&d, 1, 0.10, 0.102, 1, false);
    n = normalized(&d, "running");
    a = analyse(n);
    assert_string_equal(rec(a), "INCREASE");
    assert_true(next_pct(a) == 25);
    const char *ex = json_string_value(json_object_get(a, "explanation"));
    assert_non_null(strstr(ex, "0.0099"));
    assert_non_null(strstr(ex, "0.0101"));
    double conf = json_number_value(json_object_get(a, "confidence"));
    assert_true(conf > 0 && conf <= 1);
    json_decref(a);
    json_decref(n);

    /* Healthy but the milestone's time is not up: HOLD at 5 %. */
    d.action = GUARD_HOLD;
    d.elapsed_s = 120;
    n = normalized(&d, "running");
    a = analyse(n);
    assert_string_equal(rec(a), "HOLD");
    assert_true(next_pct(a) == 5);
    json_decref(a);
    json_decref(n);

    /* The guard rolled back: ROLLBACK, 0 %, whatever else. */
    d.action = GUARD_ROLLBACK;
    d.culprit = 0;
    verdict(&d, 0, 0.01, 0.02, 0.0004, true);
    n = normalized(&d, "running");
    a = analyse(n);
    assert_string_equal(rec(a), "ROLLBACK");
    assert_true(next_pct(a) == 0);
    assert_non_null(
        strstr(json_string_value(json_object_get(a, "explanation")), "0.02"));
    json_decref(a);
    json_decref(n);
    d.action = GUARD_ADVANCE; /* a stale report, but the plan's state says */
    verdict(&d, 0, 0.01, 0.01, 1, false);
    n = normalized(&d, "rolled_back");
    a = analyse(n);
    assert_string_equal(rec(a), "ROLLBACK");
    json_decref(a);
    json_decref(n);

    /* Sample-ratio mismatch: HOLD. */
    d.action = GUARD_PAUSE_SRM;
    d.srm.evaluated = true;
    d.srm.mismatch = true;
    d.srm.p_always_valid = 0.0002;
    n = normalized(&d, "paused");
    a = analyse(n);
    assert_string_equal(rec(a), "HOLD");
    json_decref(a);
    json_decref(n);

    /* Harm building up (conversion lower, p 0.02) but no regression yet:
     * DECREASE to the previous step, 1 %. */
    memset(&d.srm, 0, sizeof(d.srm));
    d.action = GUARD_HOLD;
    verdict(&d, 0, 0.01, 0.0101, 0.9, false);
    verdict(&d, 1, 0.10, 0.085, 0.02, false);
    n = normalized(&d, "running");
    a = analyse(n);
    assert_string_equal(rec(a), "DECREASE");
    assert_true(next_pct(a) == 1);
    json_decref(a);
    json_decref(n);

    /* Leaning worse, weak evidence: HOLD. Nothing evaluated yet: HOLD. */
    verdict(&d, 1, 0.10, 0.095, 0.2, false);
    d.action = GUARD_ADVANCE;
    n = normalized(&d, "running");
    a = analyse(n);
    assert_string_equal(rec(a), "HOLD");
    json_decref(a);
    json_decref(n);
    d.verdicts[0].seq.evaluated = false;
    d.verdicts[1].seq.evaluated = false;
    n = normalized(&d, "running");
    a = analyse(n);
    assert_string_equal(rec(a), "HOLD");
    json_decref(a);
    json_decref(n);
}

/* A fake plan API: counts what the policy applied. */
typedef struct fake_ops {
    int holds, rollbacks;
} fake_ops;

static char last_reason[1000];

static vx_status fake_hold(void *ud, const json_t *status, const char *reason,
                           vx_error *err)
{
    (void)status;
    (void)err;
    snprintf(last_reason, sizeof(last_reason), "%s", reason);
    ((fake_ops *)ud)->holds++;
    return VX_OK;
}

static vx_status fake_rollback(void *ud, const json_t *status,
                               const char *reason, vx_error *err)
{
    (void)status;
    snprintf(last_reason, sizeof(last_reason), "%s", reason);
    (void)err;
    ((fake_ops *)ud)->rollbacks++;
    return VX_OK;
}

static void test_policy(void **state)
{
    (void)state;
    unsigned p = 99;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(ai_policy_parse(NULL, &p, &err), VX_OK);
    assert_int_equal(p, 0);
    assert_int_equal(ai_policy_parse("none", &p, &err), VX_OK);
    assert_int_equal(p, 0);
    assert_int_equal(ai_policy_parse("rollback,hold", &p, &err), VX_OK);
    assert_int_equal(p, AI_AUTO_HOLD | AI_AUTO_ROLLBACK);
    assert_int_equal(ai_policy_parse("hold,increase", &p, &err), VX_EINVAL);
    assert_non_null(strstr(err.message, "increase always needs a person"));
    assert_int_equal(ai_policy_parse("decrease", &p, &err), VX_EINVAL);
    assert_int_equal(ai_policy_parse("everything", &p, &err), VX_EINVAL);

    /* Every recommendation under every policy, in four guard situations:
     * healthy (the model's word alone: nothing applied), leaning worse
     * (p < 0.3: a HOLD), worse (p < 0.05: a ROLLBACK too), and healthy
     * but with the guard's data missing longer than the plan allows. */
    ai_plan_ops ops = {fake_hold, fake_rollback};
    const char *recs[] = {"INCREASE", "HOLD", "DECREASE", "ROLLBACK"};
    static const struct {
        double t, p;
        bool missing;
        bool hold_ok, rollback_ok;
    } SITUATIONS[] = {
        {0.01, 1, false, false, false},
        {0.012, 0.2, false, true, false},
        {0.015, 0.01, false, true, true},
        {0.01, 1, true, true, true},
    };
    guard_decision d;
    json_t *n = NULL;
    for (size_t s = 0; s < 4; s++) {
        memset(&d, 0, sizeof(d));
        d.action = GUARD_ADVANCE;
        d.milestone = 1;
        verdict(&d, 0, 0.01, SITUATIONS[s].t, SITUATIONS[s].p, false);
        n = normalized(&d, "running");
        if (SITUATIONS[s].missing)
            json_object_set_new(n, "guardData",
                                json_pack("{sf sf}", "missingSeconds", 4000.0,
                                          "allowedSeconds", 3600.0));
        else
            json_object_set_new(n, "guardData",
                                json_pack("{sf sf}", "missingSeconds", 10.0,
                                          "allowedSeconds", 3600.0));
        for (unsigned pol = 0; pol < 4; pol++) {
            for (size_t r = 0; r < 4; r++) {
                fake_ops f = {0, 0};
                json_t *a = json_pack("{ss}", "recommendation", recs[r]);
                json_t *o = ai_policy_apply(pol, a, n, &ops, &f, NULL);
                bool applied = json_is_true(json_object_get(o, "applied"));
                bool want =
                    (r == 1 && (pol & AI_AUTO_HOLD) && SITUATIONS[s].hold_ok) ||
                    (r == 3 && (pol & AI_AUTO_ROLLBACK) &&
                     SITUATIONS[s].rollback_ok);
                if (applied != want)
                    fail_msg("situation %zu, policy %u, %s: applied %d", s, pol,
                             recs[r], applied);
                assert_int_equal(f.holds, r == 1 && want ? 1 : 0);
                assert_int_equal(f.rollbacks, r == 3 && want ? 1 : 0);
                assert_non_null(json_object_get(o, "reason"));
                if (want) {
                    /* the audit text names the policy, flag and why */
                    assert_non_null(strstr(last_reason, "advisor-auto-apply"));
                    assert_non_null(strstr(last_reason, "checkout"));
                    assert_null(strstr(last_reason, "by hand"));
                }
                json_decref(o);
                json_decref(a);
            }
        }
        json_decref(n);
    }
    memset(&d, 0, sizeof(d));
    d.action = GUARD_ADVANCE;
    d.milestone = 1;
    verdict(&d, 0, 0.01, 0.01, 1, false);
    n = normalized(&d, "running");
    /* Not again after the guard's own rollback; nothing without a plan
     * API. */
    json_decref(n);
    d.action = GUARD_ROLLBACK;
    n = normalized(&d, "rolled_back");
    fake_ops f = {0, 0};
    json_t *a = json_pack("{ss}", "recommendation", "ROLLBACK");
    json_t *o = ai_policy_apply(AI_AUTO_ROLLBACK, a, n, &ops, &f, NULL);
    assert_false(json_is_true(json_object_get(o, "applied")));
    assert_int_equal(f.rollbacks, 0);
    json_decref(o);
    json_decref(n);
    d.action = GUARD_HOLD;
    n = normalized(&d, "running");
    json_object_set_new(
        n, "guardData",
        json_pack("{sf sf}", "missingSeconds", 99.0, "allowedSeconds", 10.0));
    o = ai_policy_apply(AI_AUTO_ROLLBACK, a, n, NULL, NULL, "why not");
    assert_false(json_is_true(json_object_get(o, "applied")));
    assert_string_equal(json_string_value(json_object_get(o, "reason")),
                        "why not");
    json_decref(o);
    json_decref(a);
    /* HOLD while the guard itself holds (or has no report) changes
     * nothing: it is not applied. */
    a = json_pack("{ss}", "recommendation", "HOLD");
    memset(&f, 0, sizeof(f));
    o = ai_policy_apply(AI_AUTO_HOLD, a, n, &ops, &f, NULL);
    assert_false(json_is_true(json_object_get(o, "applied")));
    assert_int_equal(f.holds, 0);
    json_decref(o);
    json_decref(a);
    json_decref(n);
}

static void test_plans(void **state)
{
    (void)state;
    const char *risks[] = {"low", "medium", "high"};
    double max_first[] = {25, 10, 5};
    for (size_t i = 0; i < 3; i++) {
        ai_plan_req req = {"New checkout flow with a faster payment API",
                           risks[i]};
        json_t *a = NULL;
        vx_error err;
        memset(&err, 0, sizeof(err));
        assert_int_equal(ai_advise_plan(NULL, &req, &a, &err), VX_OK);
        const json_t *plan = json_object_get(a, "plan");
        guard_plan gp;
        assert_int_equal(ai_plan_from_json(plan, &gp, &err), VX_OK);
        assert_true(gp.milestones[0].percent <= max_first[i]);
        assert_true(gp.milestones[gp.n_milestones - 1].percent == 100);
        bool conversion = false;
        for (size_t k = 0; k < gp.n_metrics; k++)
            conversion |= gp.metrics[k].kind == GUARD_METRIC_CONVERSION &&
                          gp.metrics[k].direction == GUARD_LOWER_IS_WORSE;
        assert_true(conversion); /* "checkout" */
        assert_int_equal(gp.mode,
                         i == 2 ? GUARD_MODE_APPROVAL : GUARD_MODE_AUTO);
        json_decref(a);
    }
    ai_plan_req bad = {"x", "extreme"}, empty = {"", "low"};
    json_t *a = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(ai_advise_plan(NULL, &bad, &a, &err), VX_EINVAL);
    assert_string_equal(err.path, "/risk");
    assert_int_equal(ai_advise_plan(NULL, &empty, &a, &err), VX_EINVAL);
    assert_string_equal(err.path, "/description");

    struct {
        const char *doc, *path;
    } wrong[] = {
        {"{\"milestones\":[]}", "/milestones"},
        {"{\"milestones\":[{\"percent\":10},{\"percent\":100}],\"metrics\":"
         "[{\"kind\":\"happiness\"}]}",
         "/metrics/0/kind"},
        {"{\"milestones\":[{\"percent\":50},{\"percent\":10}]}",
         "/milestones/1/percent"},
        {"{\"milestones\":[{\"percent\":10}],\"mode\":\"yolo\"}", "/mode"},
        {"{\"milestones\":[{\"percent\":0.5},{\"percent\":100}]}",
         "/milestones/0/percent"},
        {"{\"milestones\":[{\"percent\":10}],\"rollback\":\"zero\"}",
         "/rollback"},
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        json_t *j = J(wrong[i].doc);
        memset(&err, 0, sizeof(err));
        assert_int_equal(ai_plan_from_json(j, NULL, &err), VX_EINVAL);
        assert_string_equal(err.path, wrong[i].path);
        json_decref(j);
    }
}

static void test_incident(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    char rep[GUARD_REPORT_MAX], doc[GUARD_REPORT_MAX + 512];
    size_t len = 0;
    plan2(&p);
    memset(&d, 0, sizeof(d));
    d.action = GUARD_ROLLBACK;
    d.milestone = 2;
    d.elapsed_s = 240;
    d.culprit = 0;
    verdict(&d, 0, 0.0100, 0.0213, 0.0004, true);
    verdict(&d, 1, 0.10, 0.099, 0.8, false);
    assert_int_equal(guard_decision_json(&p, &d, rep, sizeof(rep), &len),
                     VX_OK);
    snprintf(doc, sizeof(doc),
             "{\"id\":7,\"type\":\"release-plan-rollback\",\"featureName\":"
             "\"checkout\",\"environment\":\"production\",\"createdBy\":"
             "\"guard-by-bob@example.com\",\"createdAt\":"
             "\"2026-11-30T04:00:00Z\",\"data\":{\"percent\":25,"
             "\"decision\":%s}}",
             rep);
    json_t *ev = J(doc), *facts = NULL, *a = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(ai_incident_facts(ev, &facts, &err), VX_OK);
    char *text = json_dumps(facts, JSON_COMPACT);
    assert_null(strstr(text, "bob@example.com"));
    free(text);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(facts, "culprit"), "kind")),
                        "error_rate");
    assert_int_equal(ai_advise_incident(NULL, facts, NULL, &a, &err), VX_OK);
    const json_t *inc = json_object_get(a, "incident");
    const char *sum = json_string_value(json_object_get(inc, "summary"));
    assert_non_null(strstr(sum, "error_rate"));
    assert_non_null(strstr(sum, "0.0213"));
    assert_non_null(strstr(sum, "checkout"));
    assert_non_null(strstr(sum, "25%"));
    assert_true(json_array_size(json_object_get(inc, "nextSteps")) >= 1);
    json_decref(a);
    json_decref(facts);
    json_decref(ev);

    /* An event that is not a guard rollback. */
    ev = J("{\"type\":\"feature-updated\",\"featureName\":\"x\","
           "\"environment\":\"production\",\"data\":{\"action\":\"advance\"}}");
    assert_int_equal(ai_incident_facts(ev, &facts, &err), VX_EINVAL);
    assert_null(facts);
    json_decref(ev);
}

/* Runs `fn` under an allocation budget raised step by step (STYLE rule
 * 14): every step fails with VX_ENOMEM and no output (ASan checks for
 * leaks) until it succeeds with the same answer as without a budget. */
typedef vx_status (*oom_fn)(const void *in, json_t **out, vx_error *err);

static void oom_loop(oom_fn fn, const void *in)
{
    json_t *ref = NULL, *a = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(fn(in, &ref, &err), VX_OK);
    for (size_t budget = 0;; budget++) {
        assert_true(budget < 100000);
        vx__alloc_set_budget(budget);
        vx_status st = fn(in, &a, &err);
        vx__alloc_set_budget(SIZE_MAX);
        if (st == VX_OK) {
            assert_true(json_equal(a, ref));
            json_decref(a);
            break;
        }
        assert_int_equal(st, VX_ENOMEM);
        assert_null(a);
    }
    json_decref(ref);
}

static vx_status oom_normalize(const void *in, json_t **out, vx_error *err)
{
    return ai_plan_status_normalize(in, out, err);
}

static vx_status oom_rollout(const void *in, json_t **out, vx_error *err)
{
    json_t *n = NULL;
    vx_status st = ai_plan_status_normalize(in, &n, err);
    if (st == VX_OK)
        st = ai_advise_rollout(NULL, n, NULL, out, err);
    json_decref(n);
    return st;
}

static vx_status oom_plan(const void *in, json_t **out, vx_error *err)
{
    return ai_advise_plan(NULL, in, out, err);
}

static vx_status oom_incident(const void *in, json_t **out, vx_error *err)
{
    json_t *f = NULL;
    vx_status st = ai_incident_facts(in, &f, err);
    if (st == VX_OK)
        st = ai_advise_incident(NULL, f, NULL, out, err);
    json_decref(f);
    return st;
}

static void test_oom(void **state)
{
    (void)state;
    guard_decision d;
    memset(&d, 0, sizeof(d));
    d.action = GUARD_ROLLBACK;
    d.milestone = 1;
    verdict(&d, 0, 0.01, 0.02, 0.0004, true);
    verdict(&d, 1, 0.10, 0.099, 0.8, false);
    json_t *st = status_of(&d, "rolled-back");
    json_t *ev = json_pack("{ss ss s{sO}}", "featureName", "checkout",
                           "environment", "production", "data", "statistics",
                           json_object_get(st, "statistics"));
    assert_non_null(ev);
    json_set_alloc_funcs(vx__malloc, vx__free);
    ai_plan_req req = {"checkout rewrite", "high"};
    oom_loop(oom_normalize, st);
    oom_loop(oom_rollout, st);
    oom_loop(oom_plan, &req);
    oom_loop(oom_incident, ev);
    json_set_alloc_funcs(malloc, free);
    json_decref(st);
    json_decref(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_adapter),
        cmocka_unit_test(test_rollout_deterministic),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_plans),
        cmocka_unit_test(test_incident),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
