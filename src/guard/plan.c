/* The release-plan decision (see plan.h and docs/guard.md).
 *
 * Invariant: guard_plan_decide reads nothing but its arguments and writes
 * nothing but *out and *err; every verdict in the decision was computed from
 * the state passed in, so an audit entry built from it can be reproduced. */
#include "guard/plan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

void guard_plan_init(guard_plan *p)
{
    memset(p, 0, sizeof *p);
    p->mode = GUARD_MODE_AUTO;
    p->rollback = GUARD_ROLLBACK_ZERO;
    p->alpha = 0.05;
    p->min_per_arm = 100;
    p->srm_alpha = 0.001;
    p->srm_min_per_arm = 8;
    p->srm_tau = 0.05;
}

double guard_metric_default_tau(guard_metric_kind kind)
{
    switch (kind) {
    case GUARD_METRIC_ERROR_RATE: return 0.5; /* half the control rate */
    case GUARD_METRIC_LATENCY: return 0.1;    /* ~10 % in log units */
    case GUARD_METRIC_CONVERSION: return 0.1;
    case GUARD_METRIC_LATENCY_MEAN: return 0.1;
    case GUARD_METRIC_LATENCY_QUANTILE: return 0.5; /* of the 1 % tail */
    }
    return 0.1;
}

const char *guard_action_name(guard_action a)
{
    switch (a) {
    case GUARD_HOLD: return "hold";
    case GUARD_ADVANCE: return "advance";
    case GUARD_WAIT_APPROVAL: return "wait_approval";
    case GUARD_PAUSE_SRM: return "pause_srm";
    case GUARD_ROLLBACK: return "rollback";
    case GUARD_COMPLETE: return "complete";
    }
    return "unknown";
}

const char *guard_metric_kind_name(guard_metric_kind k)
{
    switch (k) {
    case GUARD_METRIC_ERROR_RATE: return "error_rate";
    case GUARD_METRIC_LATENCY: return "latency";
    case GUARD_METRIC_CONVERSION: return "conversion";
    case GUARD_METRIC_LATENCY_MEAN: return "latency_mean";
    case GUARD_METRIC_LATENCY_QUANTILE: return "latency_quantile";
    }
    return "unknown";
}

bool guard_metric_kind_parse(const char *name, guard_metric_kind *out)
{
    for (int k = 0; name && k < GUARD_METRIC_KINDS; k++) {
        if (strcmp(guard_metric_kind_name((guard_metric_kind)k), name) == 0) {
            *out = (guard_metric_kind)k;
            return true;
        }
    }
    return false;
}

static bool prob_ok(double a)
{
    return a > 0.0 && a < 1.0;
}

vx_status guard_plan_validate(const guard_plan *p, vx_error *err)
{
    char path[64];
    if (p->n_milestones == 0 || p->n_milestones > GUARD_PLAN_MAX_MILESTONES)
        return vx__error_set(err, VX_EINVAL, "/milestones",
                             "a plan needs 1 to %d milestones",
                             GUARD_PLAN_MAX_MILESTONES);
    if (p->n_metrics > GUARD_PLAN_MAX_METRICS)
        return vx__error_set(err, VX_EINVAL, "/metrics",
                             "a plan has at most %d guard metrics",
                             GUARD_PLAN_MAX_METRICS);
    for (size_t i = 0; i < p->n_milestones; i++) {
        const guard_milestone *m = &p->milestones[i];
        if (!(m->percent > 0.0 && m->percent <= 100.0)) {
            snprintf(path, sizeof path, "/milestones/%zu/percent", i);
            return vx__error_set(err, VX_EINVAL, path,
                                 "must be above 0 and at most 100");
        }
        if (i > 0 && !(m->percent > p->milestones[i - 1].percent)) {
            snprintf(path, sizeof path, "/milestones/%zu/percent", i);
            return vx__error_set(err, VX_EINVAL, path,
                                 "must be above the previous milestone's");
        }
        if (m->min_duration_s < 0) {
            snprintf(path, sizeof path, "/milestones/%zu/minDuration", i);
            return vx__error_set(err, VX_EINVAL, path, "must not be negative");
        }
    }
    for (size_t i = 0; i < p->n_metrics; i++) {
        const guard_metric *m = &p->metrics[i];
        if (m->kind != GUARD_METRIC_ERROR_RATE &&
            m->kind != GUARD_METRIC_LATENCY &&
            m->kind != GUARD_METRIC_CONVERSION &&
            m->kind != GUARD_METRIC_LATENCY_MEAN &&
            m->kind != GUARD_METRIC_LATENCY_QUANTILE) {
            snprintf(path, sizeof path, "/metrics/%zu/kind", i);
            return vx__error_set(err, VX_EINVAL, path, "unknown metric kind");
        }
        if (m->direction != GUARD_HIGHER_IS_WORSE &&
            m->direction != GUARD_LOWER_IS_WORSE) {
            snprintf(path, sizeof path, "/metrics/%zu/direction", i);
            return vx__error_set(err, VX_EINVAL, path, "unknown direction");
        }
        double lim = m->direction == GUARD_LOWER_IS_WORSE ? 1.0 : 1e6;
        if (!(m->tolerance >= 0.0 && m->tolerance < lim)) {
            snprintf(path, sizeof path, "/metrics/%zu/tolerance", i);
            return vx__error_set(err, VX_EINVAL, path,
                                 m->direction == GUARD_LOWER_IS_WORSE
                                     ? "must be at least 0 and below 1"
                                     : "must be at least 0");
        }
        if (m->kind == GUARD_METRIC_LATENCY_QUANTILE &&
            m->direction != GUARD_HIGHER_IS_WORSE) {
            snprintf(path, sizeof path, "/metrics/%zu/direction", i);
            return vx__error_set(err, VX_EINVAL, path,
                                 "a latency quantile guard is higher-is-worse");
        }
        if (m->kind == GUARD_METRIC_LATENCY_QUANTILE && m->quantile != 0.0 &&
            !(m->quantile >= 0.5 && m->quantile <= 0.999)) {
            snprintf(path, sizeof path, "/metrics/%zu/quantile", i);
            return vx__error_set(err, VX_EINVAL, path,
                                 "must be between 0.5 and 0.999");
        }
        if (!(m->tau >= 0.0) || !isfinite(m->tau)) {
            snprintf(path, sizeof path, "/metrics/%zu/tau", i);
            return vx__error_set(err, VX_EINVAL, path,
                                 "must be a positive number, or 0 for the "
                                 "default");
        }
    }
    if (p->mode != GUARD_MODE_AUTO && p->mode != GUARD_MODE_APPROVAL)
        return vx__error_set(err, VX_EINVAL, "/mode", "unknown mode");
    if (p->rollback != GUARD_ROLLBACK_ZERO &&
        p->rollback != GUARD_ROLLBACK_DISABLE)
        return vx__error_set(err, VX_EINVAL, "/rollback",
                             "unknown rollback action");
    if (!prob_ok(p->alpha))
        return vx__error_set(err, VX_EINVAL, "/alpha",
                             "must be between 0 and 1");
    if (!prob_ok(p->srm_alpha))
        return vx__error_set(err, VX_EINVAL, "/srmAlpha",
                             "must be between 0 and 1");
    if (!(p->srm_tau > 0.0) || !isfinite(p->srm_tau))
        return vx__error_set(err, VX_EINVAL, "/srmTau",
                             "must be a positive number");
    return VX_OK;
}

/* The quantile guard: the control's q-quantile (which needs 10 / (1 - q)
 * control samples to be estimated at all) times (1 + tolerance) is the
 * threshold; the treatment's share above it is tested against 1 - q. The
 * verdict's control / treatment are the two quantiles (ms), margin is the
 * threshold; diff, excess and the confidence sequence are on the share
 * scale. */
static void run_quantile(const guard_metric *m, const guard_state *st,
                         guard_seq_spec *spec, guard_verdict *v)
{
    const guard_sketch *cs = st->control_latency, *ts = st->treatment_latency;
    double q = m->quantile > 0.0 ? m->quantile : 0.99;
    double floor_n = ceil(10.0 / (1.0 - q)); /* ten expected tail units */
    if (!cs || !ts || (double)cs->count < floor_n)
        return;
    if ((double)spec->min_per_arm < floor_n)
        spec->min_per_arm = (uint64_t)floor_n;
    double qc = guard_sketch_quantile(cs, q), qt = guard_sketch_quantile(ts, q);
    double c = (1.0 + m->tolerance) * qc;
    (void)guard_seq_share_above(guard_sketch_count_above(ts, c), ts->count,
                                1.0 - q, spec, &v->seq);
    v->seq.control = qc;
    v->seq.treatment = qt;
    v->seq.margin = c;
}

static bool moments_ok(const guard_moments *m)
{
    return m->n >= 0.0 && isfinite(m->n) && isfinite(m->sum) &&
           m->sumsq >= 0.0 && isfinite(m->sumsq);
}

/* Counts that cannot come from real traffic (more errors than requests, a
 * NaN sum) are a storage or caller bug: refuse them with the field's path
 * rather than let a test run on them. */
static vx_status check_counts(const guard_counts *c, const char *arm,
                              vx_error *err)
{
    const char *field = NULL;
    if (c->errors > c->requests)
        field = "errors";
    else if (c->conversions > c->requests)
        field = "conversions";
    else if (!moments_ok(&c->latency))
        field = "latency";
    else if (!moments_ok(&c->log_latency))
        field = "logLatency";
    if (!field)
        return VX_OK;
    char path[80];
    snprintf(path, sizeof path, "/%s/%s", arm, field);
    return vx__error_set(err, VX_EINVAL, path,
                         "inconsistent with the arm's request count or not "
                         "a finite number");
}

/* Runs metric `m`'s sequential test on the state's cumulative counts. */
/* The state's epochs, or the cumulative counts as one epoch. */
static size_t epochs(const guard_state *st, const guard_counts **c,
                     const guard_counts **t)
{
    if (st->n_epochs > 0 && st->epoch_control && st->epoch_treatment) {
        *c = st->epoch_control;
        *t = st->epoch_treatment;
        return st->n_epochs;
    }
    *c = &st->control;
    *t = &st->treatment;
    return 1;
}

/* Runs metric `m`'s sequential test on the state's counts, stratified by
 * rollout epoch. */
static void run_metric(const guard_plan *plan, const guard_metric *m,
                       const guard_state *st, guard_verdict *v)
{
    guard_seq_spec spec = {
        .direction = m->direction,
        .tolerance = m->tolerance,
        .tau = m->tau > 0.0 ? m->tau : guard_metric_default_tau(m->kind),
        .alpha = plan->alpha / (double)plan->n_metrics,
        .min_per_arm = plan->min_per_arm,
    };
    const guard_counts *c, *t;
    size_t k = epochs(st, &c, &t);
    guard_prop_stratum ps[GUARD_MAX_STRATA];
    guard_mean_stratum ms[GUARD_MAX_STRATA];
    v->kind = m->kind;
    v->alpha = spec.alpha;
    /* Errors are impossible here: the plan and the counts were validated.
     * A test without enough data leaves seq.evaluated false, which can
     * only hold, never roll back. */
    switch (m->kind) {
    case GUARD_METRIC_ERROR_RATE:
    case GUARD_METRIC_CONVERSION: {
        bool err = m->kind == GUARD_METRIC_ERROR_RATE;
        for (size_t i = 0; i < k; i++)
            ps[i] = (guard_prop_stratum){
                err ? c[i].errors : c[i].conversions, c[i].requests,
                err ? t[i].errors : t[i].conversions, t[i].requests};
        (void)guard_seq_proportion_strata(ps, k, &spec, &v->seq);
        break;
    }
    case GUARD_METRIC_LATENCY:
    case GUARD_METRIC_LATENCY_MEAN: {
        bool lg = m->kind == GUARD_METRIC_LATENCY;
        for (size_t i = 0; i < k; i++)
            ms[i] = (guard_mean_stratum){lg ? c[i].log_latency : c[i].latency,
                                         lg ? t[i].log_latency : t[i].latency};
        (void)guard_seq_mean_strata(ms, k, lg, &spec, &v->seq);
        break;
    }
    case GUARD_METRIC_LATENCY_QUANTILE: run_quantile(m, st, &spec, v); break;
    }
}

vx_status guard_plan_decide(const guard_plan *plan, const guard_state *state,
                            int64_t now, guard_decision *out, vx_error *err)
{
    memset(out, 0, sizeof *out);
    out->action = GUARD_HOLD;
    out->reason = "invalid plan or state";
    out->srm.p = out->srm.p_always_valid = 1.0;
    vx_status st = guard_plan_validate(plan, err);
    if (st != VX_OK)
        return st;
    if (state->milestone >= plan->n_milestones)
        return vx__error_set(err, VX_EINVAL, "/milestone",
                             "milestone index %zu is past the plan's %zu "
                             "milestones",
                             state->milestone, plan->n_milestones);
    st = check_counts(&state->control, "control", err);
    if (st == VX_OK)
        st = check_counts(&state->treatment, "treatment", err);
    if (st != VX_OK)
        return st;
    if (state->n_epochs > GUARD_MAX_STRATA ||
        (state->n_epochs > 0 &&
         (!state->epoch_control || !state->epoch_treatment)))
        return vx__error_set(err, VX_EINVAL, "/epochs",
                             "give 0 to %d epochs, with both arms' counts",
                             GUARD_MAX_STRATA);
    for (size_t i = 0; i < state->n_epochs; i++) {
        char arm[40];
        snprintf(arm, sizeof arm, "epochs/%zu/control", i);
        st = check_counts(&state->epoch_control[i], arm, err);
        if (st == VX_OK) {
            snprintf(arm, sizeof arm, "epochs/%zu/treatment", i);
            st = check_counts(&state->epoch_treatment[i], arm, err);
        }
        if (st != VX_OK)
            return st;
    }
    const guard_milestone *ms = &plan->milestones[state->milestone];
    bool last = state->milestone + 1 == plan->n_milestones;
    out->milestone = state->milestone;
    out->rollback = plan->rollback;
    out->elapsed_s =
        now > state->milestone_started ? now - state->milestone_started : 0;

    if (ms->percent >= 100.0) {
        out->action = GUARD_COMPLETE;
        out->reason = "the rollout reached 100 %";
        return VX_OK;
    }

    (void)guard_srm_sequential(state->stage_control, state->stage_treatment,
                               ms->percent / 100.0, plan->srm_alpha,
                               plan->srm_tau, plan->srm_min_per_arm, &out->srm);
    if (out->srm.mismatch) {
        out->action = GUARD_PAUSE_SRM;
        out->reason = "the traffic split does not match the rollout "
                      "percentage (sample ratio mismatch)";
        return VX_OK;
    }

    out->n_verdicts = plan->n_metrics;
    double best_p = 2.0;
    bool regressed = false;
    for (size_t i = 0; i < plan->n_metrics; i++) {
        guard_verdict *v = &out->verdicts[i];
        run_metric(plan, &plan->metrics[i], state, v);
        if (v->seq.regression && v->seq.p < best_p) {
            best_p = v->seq.p;
            out->culprit = i;
            regressed = true;
        }
    }
    if (regressed) {
        out->action = GUARD_ROLLBACK;
        out->reason = "a guard metric is significantly worse in the "
                      "treatment (always-valid test)";
        return VX_OK;
    }

    if (out->elapsed_s < ms->min_duration_s) {
        out->reason = "the milestone's minimum duration has not passed";
        return VX_OK;
    }
    if (state->treatment.requests < ms->min_exposures) {
        out->reason = "the treatment has not reached the milestone's "
                      "minimum exposures";
        return VX_OK;
    }
    if (plan->mode == GUARD_MODE_APPROVAL && !state->approved) {
        out->action = GUARD_WAIT_APPROVAL;
        out->reason = "the milestone is done; waiting for approval";
        return VX_OK;
    }
    if (last) {
        out->action = GUARD_COMPLETE;
        out->reason = "the last milestone is done with no regression";
        return VX_OK;
    }
    out->action = GUARD_ADVANCE;
    out->reason = "the milestone is done with no regression";
    out->next_milestone = state->milestone + 1;
    out->next_percent = plan->milestones[out->next_milestone].percent;
    return VX_OK;
}
