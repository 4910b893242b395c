/* Unit tests for src/guard/report.c: the JSON of a decision parses (with
 * jansson, an independent parser), carries the verdict's statistics, the
 * variant names (escaped) and the evidence gate's view, uses null for
 * undefined numbers, and a short buffer yields VX_ELIMIT and "". */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "guard/report.h"

static guard_counts arm(uint64_t n, double e)
{
    guard_counts a = {0};
    a.requests = n;
    a.errors = (uint64_t)(e * (double)n);
    return a;
}

static void make(guard_plan *p, guard_state *s)
{
    guard_plan_init(p);
    p->milestones[0] = (guard_milestone){5, 600, 0};
    p->milestones[1] = (guard_milestone){50, 600, 0};
    p->n_milestones = 2;
    p->metrics[0] = (guard_metric){GUARD_METRIC_ERROR_RATE,
                                   GUARD_HIGHER_IS_WORSE, 0.1, 0, 0};
    p->metrics[1] =
        (guard_metric){GUARD_METRIC_LATENCY, GUARD_HIGHER_IS_WORSE, 0.0, 0, 0};
    p->n_metrics = 2;
    memset(s, 0, sizeof *s);
    s->control = arm(190000, 0.01);
    s->treatment = arm(10000, 0.03);
    s->stage_control = 190000;
    s->stage_treatment = 10000;
}

static void test_rollback_json(void **state)
{
    (void)state;
    guard_plan p;
    guard_state s;
    guard_decision d;
    char buf[GUARD_REPORT_MAX];
    size_t len = 0;
    make(&p, &s);
    assert_int_equal(guard_plan_decide(&p, &s, 120, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK);
    assert_int_equal(guard_decision_json(&p, &d, buf, sizeof buf, &len), VX_OK);
    assert_int_equal(len, strlen(buf));
    json_error_t jerr;
    json_t *root = json_loads(buf, 0, &jerr);
    if (!root)
        fail_msg("not JSON: %s: %s", jerr.text, buf);
    assert_string_equal(json_string_value(json_object_get(root, "action")),
                        "rollback");
    assert_string_equal(json_string_value(json_object_get(root, "rollback")),
                        "zero");
    assert_int_equal(json_integer_value(json_object_get(root, "culprit")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(root, "elapsedSeconds")), 120);
    json_t *m = json_array_get(json_object_get(root, "metrics"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "kind")),
                        "error_rate");
    assert_true(json_is_true(json_object_get(m, "regression")));
    assert_float_equal(json_number_value(json_object_get(m, "control")), 0.01,
                       1e-9);
    assert_float_equal(json_number_value(json_object_get(m, "treatment")), 0.03,
                       1e-9);
    assert_float_equal(json_number_value(json_object_get(m, "p")),
                       d.verdicts[0].seq.p, 1e-9 * d.verdicts[0].seq.p);
    assert_float_equal(json_number_value(json_object_get(m, "alpha")),
                       0.05 * 0.7 / 2, 1e-12);
    /* the one-sided bound that goes with the verdict: beyond the margin */
    double hb = json_number_value(json_object_get(m, "harmBound"));
    assert_float_equal(hb, d.verdicts[0].seq.harm_bound,
                       1e-9 * fabs(d.verdicts[0].seq.harm_bound));
    assert_true(hb >= json_number_value(json_object_get(m, "margin")));
    assert_true(hb >= json_number_value(json_object_get(m, "csLow")));
    /* the latency metric had no data: evaluated false, no statistics */
    json_t *lat = json_array_get(json_object_get(root, "metrics"), 1);
    assert_true(json_is_false(json_object_get(lat, "evaluated")));
    assert_null(json_object_get(lat, "control"));
    json_t *srm = json_object_get(root, "srm");
    assert_true(json_is_true(json_object_get(srm, "evaluated")));
    assert_true(json_is_false(json_object_get(srm, "mismatch")));
    json_decref(root);
}

static void test_nonfinite_and_short_buffer(void **state)
{
    (void)state;
    guard_plan p;
    guard_state s;
    guard_decision d;
    char buf[GUARD_REPORT_MAX];
    size_t len = 1;
    make(&p, &s);
    assert_int_equal(guard_plan_decide(&p, &s, 120, &d, NULL), VX_OK);
    d.verdicts[0].seq.cs_hi = INFINITY;
    assert_int_equal(guard_decision_json(&p, &d, buf, sizeof buf, &len), VX_OK);
    assert_non_null(strstr(buf, "\"csHigh\":null"));
    json_t *root = json_loads(buf, 0, NULL);
    assert_non_null(root);
    json_decref(root);
    size_t full = len;
    assert_int_equal(guard_decision_json(&p, &d, buf, full, &len), VX_ELIMIT);
    assert_string_equal(buf, "");
    assert_int_equal(len, 0);
    assert_int_equal(guard_decision_json(&p, &d, buf, full + 1, &len), VX_OK);
    assert_int_equal(len, full);
}

/* GUARD_REPORT_MAX holds the largest decision: every metric evaluated,
 * every number at full width. */
static void test_max_size(void **state)
{
    (void)state;
    guard_plan p;
    guard_state s;
    guard_decision d;
    static char buf[GUARD_REPORT_MAX];
    size_t len;
    make(&p, &s);
    p.n_metrics = GUARD_PLAN_MAX_METRICS;
    for (size_t i = 0; i < GUARD_PLAN_MAX_METRICS; i++)
        p.metrics[i] =
            (guard_metric){GUARD_METRIC_LATENCY_QUANTILE, GUARD_LOWER_IS_WORSE,
                           0.123456789012, 0, 0};
    memset(&d, 0, sizeof d);
    d.action = GUARD_ROLLBACK;
    d.reason = "a guard metric is significantly worse in the treatment "
               "(always-valid test)";
    d.elapsed_s = -1234567890123;
    d.srm = (guard_srm_result){true,
                               true,
                               -1.234567891e-300,
                               1.5,
                               -1.234567891e-300,
                               -1.234567891e-300};
    d.n_verdicts = GUARD_PLAN_MAX_METRICS;
    /* the longest arm names (127 bytes), every byte escaped */
    static char name[128];
    memset(name, '"', sizeof name - 1);
    d.n_arms = GUARD_PLAN_MAX_ARMS;
    for (size_t a = 0; a < GUARD_PLAN_MAX_ARMS; a++)
        d.arm_names[a] = name;
    d.culprit = 3;
    d.culprit_arm = 3;
    d.insufficient = true;
    for (size_t i = 0; i < GUARD_PLAN_MAX_METRICS; i++) {
        guard_seq_result *r = &d.verdicts[i].seq;
        guard_evidence *e = &d.verdicts[i].evidence;
        d.verdicts[i].kind = GUARD_METRIC_LATENCY_QUANTILE;
        d.verdicts[i].metric = i;
        d.verdicts[i].arm = i % GUARD_PLAN_MAX_ARMS;
        d.verdicts[i].alpha = -1.234567891e-300;
        e->checked = e->power_needed = true;
        e->units_t = e->units_c = e->need_t = e->power_scale = e->mde_abs =
            -1.234567891e-300;
        r->design_effect = r->estimate = -1.234567891e-300;
        r->evaluated = r->regression = false;
        r->control = r->treatment = r->diff = r->margin = r->excess =
            r->variance = r->tau = r->log_lr = r->p = r->cs_lo = r->cs_hi =
                r->harm_bound = -1.234567891e-300;
        r->evaluated = true;
    }
    assert_int_equal(guard_decision_json(&p, &d, buf, sizeof buf, &len), VX_OK);
    json_t *root = json_loads(buf, 0, NULL);
    assert_non_null(root);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(root, "metrics"), 0), "variant")),
        name);
    json_decref(root);
}

/* Per-variant verdicts name their variant; the culprit's is repeated at
 * the top; the evidence gate's view is in each verdict; a hold for want of
 * evidence says so. */
static void test_variants_and_evidence(void **state)
{
    (void)state;
    guard_plan p;
    guard_state s;
    guard_decision d;
    static char buf[GUARD_REPORT_MAX];
    size_t len;
    make(&p, &s);
    p.n_metrics = 1;
    guard_counts ec[1] = {arm(190000, 0.01)};
    guard_counts ea[1] = {arm(10000, 0.01)};
    guard_counts eb[1] = {arm(10000, 0.03)};
    guard_arm arms[2] = {{"blue", ea, NULL, NULL, false},
                         {"r\u00e9d\"", eb, NULL, NULL, false}};
    s.epoch_control = ec;
    s.n_epochs = 1;
    s.arms = arms;
    s.n_arms = 2;
    assert_int_equal(guard_plan_decide(&p, &s, 120, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK);
    assert_int_equal(guard_decision_json(&p, &d, buf, sizeof buf, &len), VX_OK);
    json_t *root = json_loads(buf, 0, NULL);
    assert_non_null(root);
    assert_string_equal(
        json_string_value(json_object_get(root, "culpritVariant")),
        "r\u00e9d\"");
    assert_int_equal(json_integer_value(json_object_get(root, "culpritArm")),
                     1);
    const json_t *m = json_object_get(root, "metrics");
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(m, 0), "variant")),
        "blue");
    assert_true(
        json_is_true(json_object_get(json_array_get(m, 1), "regression")));
    json_decref(root);
    /* no data: a hold for evidence, with each verdict's view */
    memset(ec, 0, sizeof ec);
    memset(ea, 0, sizeof ea);
    memset(eb, 0, sizeof eb);
    s.control = s.treatment = ec[0];
    s.stage_control = s.stage_treatment = 0;
    assert_int_equal(guard_plan_decide(&p, &s, 900, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_int_equal(guard_decision_json(&p, &d, buf, sizeof buf, &len), VX_OK);
    root = json_loads(buf, 0, NULL);
    assert_true(json_is_true(json_object_get(root, "insufficient")));
    const json_t *ev = json_object_get(
        json_array_get(json_object_get(root, "metrics"), 0), "evidence");
    assert_true(json_is_false(json_object_get(ev, "met")));
    assert_true(json_is_true(json_object_get(ev, "powerNeeded")));
    assert_int_equal(json_number_value(json_object_get(ev, "units")), 0);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollback_json),
        cmocka_unit_test(test_nonfinite_and_short_buffer),
        cmocka_unit_test(test_max_size),
        cmocka_unit_test(test_variants_and_evidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
