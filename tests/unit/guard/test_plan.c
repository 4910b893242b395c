/* Unit tests for src/guard/plan.c: validation with field paths, and every
 * decision the scheduler can be told (HOLD, ADVANCE, WAIT_APPROVAL,
 * PAUSE_SRM, ROLLBACK with its statistics, COMPLETE), in the documented
 * order of precedence. The traffic in each case is chosen so the expected
 * verdict is clear-cut (a 2x error rate over 50,000 requests per arm; a
 * split 5x off its percentage), not tuned to the threshold. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard/plan.h"

#define T0 1800000000 /* an arbitrary "started" time */

static void near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("got %.17g, want %.17g (tol %g)\n", got, want, tol);
        fail();
    }
}

static void rel_near(double got, double want, double rel)
{
    near(got, want, fabs(want) * rel);
}

/* 1 -> 5 -> 25 -> 50 %, 10 minutes each, guarding errors (+10 % allowed),
 * latency and conversion. */
static void make_plan(guard_plan *p)
{
    guard_plan_init(p);
    const double pct[] = {1, 5, 25, 50};
    for (size_t i = 0; i < 4; i++)
        p->milestones[i] = (guard_milestone){pct[i], 600, 0};
    p->n_milestones = 4;
    p->metrics[0] =
        (guard_metric){GUARD_METRIC_ERROR_RATE, GUARD_HIGHER_IS_WORSE, 0.10, 0};
    p->metrics[1] =
        (guard_metric){GUARD_METRIC_LATENCY, GUARD_HIGHER_IS_WORSE, 0.0, 0};
    p->metrics[2] =
        (guard_metric){GUARD_METRIC_CONVERSION, GUARD_LOWER_IS_WORSE, 0.0, 0};
    p->n_metrics = 3;
}

/* An arm with n requests at error rate e, conversion rate c, and
 * log-latency mean mu with variance 0.25. */
static guard_counts arm(uint64_t n, double e, double c, double mu)
{
    guard_counts a = {0};
    double dn = (double)n;
    a.requests = n;
    a.errors = (uint64_t)(e * dn);
    a.conversions = (uint64_t)(c * dn);
    a.log_latency =
        (guard_moments){dn, dn * mu, dn * mu * mu + 0.25 * (dn - 1)};
    a.latency = (guard_moments){dn, dn * 200, dn * 200 * 200 + 1e4 * (dn - 1)};
    return a;
}

/* A healthy state at milestone `m` (rollout pct), t seconds in. */
static guard_state healthy(size_t m, double pct, uint64_t total)
{
    guard_state s = {0};
    uint64_t nt = (uint64_t)(total * pct / 100.0), nc = total - nt;
    s.milestone = m;
    s.milestone_started = T0;
    s.control = arm(nc, 0.01, 0.10, 5.3);
    s.treatment = arm(nt, 0.01, 0.10, 5.3);
    s.stage_control = nc;
    s.stage_treatment = nt;
    return s;
}

static void test_validate(void **state)
{
    (void)state;
    guard_plan p;
    vx_error err;
    make_plan(&p);
    assert_int_equal(guard_plan_validate(&p, &err), VX_OK);
    p.milestones[2].percent = 5;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/milestones/2/percent");
    make_plan(&p);
    p.milestones[0].percent = 0;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/milestones/0/percent");
    make_plan(&p);
    p.milestones[3].percent = 100.5;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/milestones/3/percent");
    make_plan(&p);
    p.milestones[1].min_duration_s = -1;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/milestones/1/minDuration");
    make_plan(&p);
    p.metrics[2].tolerance = 1.0; /* "conversion may drop 100 %" */
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/metrics/2/tolerance");
    make_plan(&p);
    p.metrics[1].tau = NAN;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/metrics/1/tau");
    make_plan(&p);
    p.metrics[0].kind = (guard_metric_kind)42;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/metrics/0/kind");
    make_plan(&p);
    p.n_milestones = 0;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/milestones");
    make_plan(&p);
    p.alpha = 1.0;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/alpha");
    make_plan(&p);
    p.n_metrics = GUARD_PLAN_MAX_METRICS + 1;
    assert_int_equal(guard_plan_validate(&p, NULL), VX_EINVAL);
}

static void test_hold_then_advance(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    guard_state s = healthy(0, 1, 100000);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 300, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_int_equal(d.elapsed_s, 300);
    assert_int_equal(d.n_verdicts, 3);
    assert_true(d.verdicts[0].seq.evaluated);
    assert_false(d.verdicts[0].seq.regression);
    /* Bonferroni: alpha (less the cadence margin) is split over the
     * three metrics */
    assert_float_equal(d.verdicts[1].alpha, 0.05 * 0.7 / 3, 1e-15);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ADVANCE);
    assert_int_equal(d.next_milestone, 1);
    assert_float_equal(d.next_percent, 5, 0);
    assert_string_equal(guard_action_name(d.action), "advance");
    /* a clock behind the start counts as no time at all */
    assert_int_equal(guard_plan_decide(&p, &s, T0 - 50, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_int_equal(d.elapsed_s, 0);
}

static void test_min_exposures(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    p.milestones[0].min_exposures = 3000;
    guard_state s = healthy(0, 1, 100000); /* 1,000 treatment requests */
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 3600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_non_null(strstr(d.reason, "exposures"));
    s = healthy(0, 1, 300000);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 3600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ADVANCE);
}

static void test_approval(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    p.mode = GUARD_MODE_APPROVAL;
    guard_state s = healthy(1, 5, 100000);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 900, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_WAIT_APPROVAL);
    s.approved = true;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 900, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ADVANCE);
    assert_int_equal(d.next_milestone, 2);
}

static void test_complete(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    /* the last milestone (50 %) done: complete */
    guard_state s = healthy(3, 50, 100000);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_COMPLETE);
    /* a 100 % milestone completes on arrival */
    p.milestones[4] = (guard_milestone){100, 600, 0};
    p.n_milestones = 5;
    s.milestone = 4;
    assert_int_equal(guard_plan_decide(&p, &s, T0, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_COMPLETE);
    /* past the end is a caller bug */
    vx_error err;
    s.milestone = 5;
    assert_int_equal(guard_plan_decide(&p, &s, T0, &d, &err), VX_EINVAL);
    assert_string_equal(err.path, "/milestone");
    assert_int_equal(d.action, GUARD_HOLD);
}

/* Impossible counts are refused with the field's path, not tested. */
static void test_bad_counts(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    vx_error err;
    make_plan(&p);
    guard_state s = healthy(1, 5, 100000);
    s.treatment.errors = s.treatment.requests + 1;
    assert_int_equal(guard_plan_decide(&p, &s, T0, &d, &err), VX_EINVAL);
    assert_string_equal(err.path, "/treatment/errors");
    assert_int_equal(d.action, GUARD_HOLD);
    s = healthy(1, 5, 100000);
    s.control.conversions = s.control.requests + 5;
    assert_int_equal(guard_plan_decide(&p, &s, T0, &d, &err), VX_EINVAL);
    assert_string_equal(err.path, "/control/conversions");
    s = healthy(1, 5, 100000);
    s.control.log_latency.sum = NAN;
    assert_int_equal(guard_plan_decide(&p, &s, T0, &d, &err), VX_EINVAL);
    assert_string_equal(err.path, "/control/logLatency");
}

static void test_srm_pauses(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    /* at 5 %, the treatment got 1 % of the milestone's traffic */
    guard_state s = healthy(1, 5, 100000);
    s.stage_treatment = 1000;
    s.stage_control = 99000;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 900, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_PAUSE_SRM);
    assert_true(d.srm.evaluated);
    assert_true(d.srm.p < 1e-100);
    /* the SRM pause wins over a regression: the data cannot be trusted */
    s.treatment = arm(s.treatment.requests, 0.03, 0.10, 5.3);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 900, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_PAUSE_SRM);
}

static void test_rollback_error_rate(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    p.rollback = GUARD_ROLLBACK_DISABLE;
    guard_state s = healthy(2, 25, 200000); /* 50,000 treatment requests */
    s.treatment = arm(50000, 0.02, 0.10, 5.3);
    /* even before the minimum duration */
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK);
    assert_int_equal(d.rollback, GUARD_ROLLBACK_DISABLE);
    assert_int_equal(d.culprit, 0);
    const guard_seq_result *r = &d.verdicts[0].seq;
    assert_true(r->regression);
    assert_true(r->p < 0.05 / 3);
    assert_float_equal(r->control, 0.01, 1e-12);
    assert_float_equal(r->treatment, 0.02, 1e-12);
    assert_float_equal(r->margin, 0.001, 1e-12);
    assert_true(r->cs_lo > 0.0 && r->cs_hi > 0.01 && r->cs_lo < 0.01);
    assert_false(d.verdicts[1].seq.regression);
    assert_string_equal(guard_metric_kind_name(d.verdicts[0].kind),
                        "error_rate");
    /* a 5 % rise is inside the 10 % tolerance: no rollback */
    s.treatment = arm(50000, 0.0105, 0.10, 5.3);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    /* fewer errors is never a regression */
    s.treatment = arm(50000, 0.002, 0.10, 5.3);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
}

static void test_rollback_latency_and_conversion(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    guard_state s = healthy(2, 25, 200000);
    /* latency +25 % (log +0.223) and conversion 10 % -> 8 %: both regress;
     * the latency evidence is overwhelming, so it is the culprit */
    s.treatment = arm(50000, 0.01, 0.08, 5.3 + log(1.25));
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK);
    assert_true(d.verdicts[1].seq.regression);
    assert_true(d.verdicts[2].seq.regression);
    assert_int_equal(d.culprit,
                     d.verdicts[1].seq.p <= d.verdicts[2].seq.p ? 1 : 2);
    assert_float_equal(d.verdicts[1].seq.diff, log(1.25), 1e-9);
    /* conversion alone */
    s.treatment = arm(50000, 0.01, 0.08, 5.3);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK);
    assert_int_equal(d.culprit, 2);
    assert_float_equal(d.verdicts[2].seq.diff, -0.02, 1e-12);
    /* a higher conversion is fine */
    s.treatment = arm(50000, 0.01, 0.12, 5.3);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
}

static void test_floor_holds(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    /* 50 treatment requests, all failed: below min_per_arm, no verdict */
    guard_state s = healthy(0, 1, 5000);
    s.treatment = arm(50, 1.0, 0.10, 5.3);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_false(d.verdicts[0].seq.evaluated);
    /* a plan without metrics just follows the clock */
    p.n_metrics = 0;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ADVANCE);
}

/* Everyone's error rate doubled while the rollout went from 1 % to 50 %:
 * with the epochs the plan holds; given only the totals it would roll a
 * healthy flag back. Bad epoch input is refused with its path. */
/* Metric kind names read back as the kinds they name (the plan API and
 * the advisor parse them with guard_metric_kind_parse). */
static void test_metric_kind_names(void **state)
{
    (void)state;
    static const char *const names[GUARD_METRIC_KINDS] = {
        "error_rate", "latency", "conversion", "latency_mean",
        "latency_quantile"};
    for (int k = 0; k < GUARD_METRIC_KINDS; k++) {
        guard_metric_kind got = GUARD_METRIC_ERROR_RATE;
        assert_string_equal(guard_metric_kind_name((guard_metric_kind)k),
                            names[k]);
        assert_true(guard_metric_kind_parse(names[k], &got));
        assert_int_equal(got, k);
    }
    guard_metric_kind got = GUARD_METRIC_LATENCY;
    assert_false(guard_metric_kind_parse("errors", &got));
    assert_false(guard_metric_kind_parse("", &got));
    assert_false(guard_metric_kind_parse(NULL, &got));
    assert_int_equal(got, GUARD_METRIC_LATENCY);
}

static void test_epochs(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    vx_error err;
    make_plan(&p);
    p.n_metrics = 1; /* error rate, tolerance 10 % */
    guard_counts ec[2] = {arm(99000, 0.01, 0.1, 5.3),
                          arm(50000, 0.02, 0.1, 5.3)};
    guard_counts et[2] = {arm(1000, 0.01, 0.1, 5.3),
                          arm(50000, 0.02, 0.1, 5.3)};
    guard_state s = healthy(3, 50, 100000);
    s.control = ec[0];
    guard_counts_merge(&s.control, &ec[1]);
    s.treatment = et[0];
    guard_counts_merge(&s.treatment, &et[1]);
    s.stage_control = s.stage_treatment = 50000;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK); /* pooled: Simpson */
    s.epoch_control = ec;
    s.epoch_treatment = et;
    s.n_epochs = 2;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_true(d.verdicts[0].seq.evaluated);
    assert_float_equal(d.verdicts[0].seq.diff, 0.0, 1e-12);
    /* a real regression in the late epoch is still caught */
    et[1] = arm(50000, 0.03, 0.1, 5.3);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK);
    et[1].errors = et[1].requests + 1;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, &err), VX_EINVAL);
    assert_string_equal(err.path, "/epochs/1/treatment/errors");
    et[1] = arm(50000, 0.02, 0.1, 5.3);
    s.epoch_treatment = NULL;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, &err), VX_EINVAL);
    assert_string_equal(err.path, "/epochs");
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* n log-normal latencies (median 200 ms, sigma_log 0.5) times `scale`. */
static void fill_sketch(guard_sketch *s, uint64_t *r, size_t n, double scale)
{
    guard_sketch_init(s);
    for (size_t i = 0; i < n; i++) {
        double u1 = ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
        double u2 = ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        guard_sketch_add(s, scale * 200.0 * exp(0.5 * z), 1);
    }
}

/* "p99 not above 1.2 x control": a treatment 1.5x slower rolls back, the
 * same distribution does not, missing sketches hold. */
static void test_latency_quantile(void **state)
{
    (void)state;
    static guard_sketch ctl, same, slow, fast;
    uint64_t r = 11;
    guard_plan p;
    guard_decision d;
    vx_error err;
    make_plan(&p);
    p.metrics[0] = (guard_metric){GUARD_METRIC_LATENCY_QUANTILE,
                                  GUARD_HIGHER_IS_WORSE, 0.2, 0, 0.99};
    p.n_metrics = 1;
    fill_sketch(&ctl, &r, 40000, 1.0);
    fill_sketch(&same, &r, 5000, 1.0);
    fill_sketch(&slow, &r, 5000, 1.5);
    fill_sketch(&fast, &r, 5000, 0.8);
    guard_state s = healthy(1, 5, 100000);
    s.control_latency = &ctl;
    s.treatment_latency = &same;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_true(d.verdicts[0].seq.evaluated);
    /* p99 of log-normal(ln 200, 0.5) = 200 e^(0.5 x 2.3263) = 640.0 ms */
    assert_true(fabs(d.verdicts[0].seq.control - 640.0) < 0.05 * 640.0);
    assert_float_equal(d.verdicts[0].seq.margin,
                       1.2 * d.verdicts[0].seq.control, 1e-9);
    s.treatment_latency = &slow;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK);
    assert_true(d.verdicts[0].seq.treatment > 1.4 * d.verdicts[0].seq.control);
    s.treatment_latency = &fast;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    s.treatment_latency = NULL;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_false(d.verdicts[0].seq.evaluated);
    /* validation */
    p.metrics[0].quantile = 0.9999;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/metrics/0/quantile");
    p.metrics[0].quantile = 0.99;
    p.metrics[0].direction = GUARD_LOWER_IS_WORSE;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/metrics/0/direction");
}

/* ---- the evidence gate, arms, time-based plans (issue 14) ----------- */

/* No traffic at all: the plan holds for want of evidence (not for time),
 * then, past max_wait, stalls (hold and alert) or rolls back, as the plan
 * says. It never advances. */
static void test_gate_no_traffic(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    guard_state s = {0};
    s.milestone_started = T0;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_false(d.insufficient); /* still the minimum duration */
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_true(d.insufficient);
    assert_non_null(strstr(d.reason, "no verdict"));
    assert_int_equal(d.n_verdicts, 3);
    assert_true(d.verdicts[0].evidence.checked);
    assert_false(d.verdicts[0].evidence.met);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600 + 3599, &d, NULL),
                     VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600 + 3600, &d, NULL),
                     VX_OK);
    assert_int_equal(d.action, GUARD_STALL);
    assert_true(d.insufficient);
    assert_string_equal(guard_action_name(d.action), "stall");
    p.on_timeout = GUARD_TIMEOUT_ROLLBACK;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600 + 3600, &d, NULL),
                     VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK);
    assert_true(d.insufficient);
    assert_true(d.culprit >= d.n_verdicts); /* no metric is to blame */
    /* without the gate (the simulator's --no-gate) it would advance
     * blind: what the gate exists to prevent */
    p.gate = false;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ADVANCE);
}

/* A metric with no data never passes the gate, however much the others
 * have: latency is guarded but no request reported one. */
static void test_gate_metric_never_evaluated(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    guard_state s = healthy(0, 1, 100000);
    memset(&s.control.log_latency, 0, sizeof s.control.log_latency);
    memset(&s.treatment.log_latency, 0, sizeof s.treatment.log_latency);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 7200, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_STALL);
    assert_true(d.verdicts[0].evidence.met);
    assert_false(d.verdicts[1].seq.evaluated);
    assert_false(d.verdicts[1].evidence.met);
}

/* Leaving 25 % (next 50 % > powerBeyond) needs, in the milestone's own
 * data, the power to see each metric's MDE; the figure the gate reports
 * is guard_power_scale of the documented inputs times the units. */
static void test_gate_power(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    p.n_metrics = 1; /* errors, +10 % tolerated: MDE 1.1 (2.1x) */
    guard_state s = healthy(2, 25, 8000); /* 2,000 treatment requests */
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_true(d.insufficient);
    assert_non_null(strstr(d.reason, "minimum detectable effect"));
    const guard_evidence *e = &d.verdicts[0].evidence;
    assert_true(e->power_needed);
    near(e->units_t, 2000, 0);
    near(e->units_c, 6000, 0);
    /* the inputs: control rate (x + 1/2)/(n + 1), effect (1.1 - 0.1) p_c
     * beyond the margin, variances under the null and the effect, tau =
     * 0.5 p_c, alpha 0.05 x 0.7 / 1 */
    double pc = (60 + 0.5) / (6000 + 1.0), f = 1.1, th = (1.1 - 0.1) * pc;
    double p0 = f * pc, p1 = p0 + th;
    double vc = f * f * pc * (1 - pc) / 6000;
    double v0 = p0 * (1 - p0) / 2000 + vc, v1 = p1 * (1 - p1) / 2000 + vc;
    double sc = guard_power_scale(th, v0, v1, 0.5 * pc, 0.05 * 0.7, 0.95);
    rel_near(e->power_scale, sc, 1e-12);
    near(e->need_t, ceil(sc * 2000), 0);
    assert_true(e->need_t > 2000);
    /* four times the data: enough */
    s = healthy(2, 25, 32000);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ADVANCE);
    assert_true(d.verdicts[0].evidence.met);
    /* at 1 % (next 5 %) only the floor counts */
    s = healthy(0, 1, 20000); /* 200 treatment requests */
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ADVANCE);
    assert_false(d.verdicts[0].evidence.power_needed);
}

/* Exposures and the floor count this milestone's epochs, not the plan's:
 * a milestone that served 100 requests does not pass on the 10,000 of
 * the one before. */
static void test_gate_per_milestone(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    p.milestones[1].min_exposures = 1000;
    guard_counts ec[2], et[2];
    ec[0] = arm(990000, 0.01, 0.10, 5.3);
    et[0] = arm(10000, 0.01, 0.10, 5.3);
    ec[1] = arm(1900, 0.01, 0.10, 5.3);
    et[1] = arm(100, 0.01, 0.10, 5.3);
    guard_state s = {0};
    s.milestone = 1;
    s.milestone_started = T0;
    s.control = ec[0];
    guard_counts_merge(&s.control, &ec[1]);
    s.treatment = et[0];
    guard_counts_merge(&s.treatment, &et[1]);
    s.epoch_control = ec;
    s.epoch_treatment = et;
    s.n_epochs = 2;
    s.milestone_epoch = 1;
    s.stage_control = 1900;
    s.stage_treatment = 100;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_non_null(strstr(d.reason, "exposures"));
    p.milestones[1].min_exposures = 0;
    p.milestones[1].min_per_arm = 500; /* the milestone's own floor */
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    near(d.verdicts[0].evidence.units_t, 100, 0);
    near(d.verdicts[0].evidence.need_t, 500, 0);
    /* counted since the start (milestone_epoch 0), it would have gone */
    s.milestone_epoch = 0;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ADVANCE);
}

/* Two variants against the control: alpha is split over arms x metrics;
 * the 2x one is the culprit and named; a retired arm is not tested. */
static void test_arms(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    p.n_metrics = 1;
    guard_counts ec[1] = {arm(150000, 0.01, 0.10, 5.3)};
    guard_counts ea[1] = {arm(25000, 0.01, 0.10, 5.3)};
    guard_counts eb[1] = {arm(25000, 0.02, 0.10, 5.3)};
    guard_arm arms[2] = {{"a", ea, NULL, NULL, false},
                         {"b", eb, NULL, NULL, false}};
    guard_state s = {0};
    s.milestone = 2;
    s.milestone_started = T0;
    s.control = ec[0];
    s.treatment = ea[0];
    guard_counts_merge(&s.treatment, &eb[0]);
    s.epoch_control = ec;
    s.n_epochs = 1;
    s.arms = arms;
    s.n_arms = 2;
    s.stage_control = 150000;
    s.stage_treatment = 50000;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ROLLBACK);
    assert_int_equal(d.n_verdicts, 2);
    assert_int_equal(d.culprit_arm, 1);
    assert_int_equal(d.verdicts[d.culprit].arm, 1);
    assert_string_equal(d.arm_names[d.culprit_arm], "b");
    assert_false(d.verdicts[0].seq.regression);
    assert_float_equal(d.verdicts[0].alpha, 0.05 * 0.7 / 2, 1e-15);
    /* b retired: only a is tested, alpha stays split in two */
    arms[1].retired = true;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_int_equal(d.n_verdicts, 1);
    assert_int_equal(d.verdicts[0].arm, 0);
    assert_float_equal(d.verdicts[0].alpha, 0.05 * 0.7 / 2, 1e-15);
    /* too many pairs for one decision */
    vx_error err;
    guard_arm many[GUARD_PLAN_MAX_ARMS];
    for (size_t i = 0; i < GUARD_PLAN_MAX_ARMS; i++)
        many[i] = (guard_arm){"v", ea, NULL, NULL, false};
    s.arms = many;
    s.n_arms = GUARD_PLAN_MAX_ARMS;
    p.n_metrics = 3;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, &err), VX_EINVAL);
    assert_string_equal(err.path, "/arms");
    /* arms need per-epoch counts */
    s.n_arms = 1;
    s.n_epochs = 0;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 60, &d, &err), VX_EINVAL);
}

/* A plan without metrics advances on time alone and says so. */
static void test_time_based(void **state)
{
    (void)state;
    guard_plan p;
    guard_decision d;
    make_plan(&p);
    p.n_metrics = 0;
    guard_state s = {0};
    s.milestone_started = T0;
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 599, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_HOLD);
    assert_int_equal(guard_plan_decide(&p, &s, T0 + 600, &d, NULL), VX_OK);
    assert_int_equal(d.action, GUARD_ADVANCE);
    assert_non_null(strstr(d.reason, "unguarded"));
}

/* The MDE defaults beyond the tolerance; an explicit one must exceed it. */
static void test_mde(void **state)
{
    (void)state;
    guard_metric m = {
        GUARD_METRIC_LATENCY, GUARD_HIGHER_IS_WORSE, 0.2, 0, 0, 0};
    near(guard_metric_mde(&m), 0.3, 1e-15);
    m = (guard_metric){
        GUARD_METRIC_CONVERSION, GUARD_LOWER_IS_WORSE, 0.9, 0, 0, 0};
    near(guard_metric_mde(&m), 0.95, 1e-15); /* a drop stays below 100 % */
    guard_plan p;
    vx_error err;
    make_plan(&p);
    p.metrics[0].mde = 0.05; /* below its tolerance 0.1 */
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/metrics/0/mde");
    make_plan(&p);
    p.power = 1.0;
    assert_int_equal(guard_plan_validate(&p, &err), VX_EINVAL);
    assert_string_equal(err.path, "/evidence/power");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_hold_then_advance),
        cmocka_unit_test(test_min_exposures),
        cmocka_unit_test(test_approval),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_bad_counts),
        cmocka_unit_test(test_srm_pauses),
        cmocka_unit_test(test_rollback_error_rate),
        cmocka_unit_test(test_rollback_latency_and_conversion),
        cmocka_unit_test(test_floor_holds),
        cmocka_unit_test(test_latency_quantile),
        cmocka_unit_test(test_epochs),
        cmocka_unit_test(test_metric_kind_names),
        cmocka_unit_test(test_gate_no_traffic),
        cmocka_unit_test(test_gate_metric_never_evaluated),
        cmocka_unit_test(test_gate_power),
        cmocka_unit_test(test_gate_per_milestone),
        cmocka_unit_test(test_arms),
        cmocka_unit_test(test_time_based),
        cmocka_unit_test(test_mde),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
