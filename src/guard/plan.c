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
    p->alpha_margin = 0.7;
    p->gate = true;
    p->power = 0.95;
    p->power_beyond = 25.0;
    p->max_wait_s = 3600;
    p->on_timeout = GUARD_TIMEOUT_HOLD;
    p->bounds = true;
}

double guard_metric_default_mde(guard_metric_kind kind)
{
    switch (kind) {
    case GUARD_METRIC_ERROR_RATE: return 1.0;       /* 2x */
    case GUARD_METRIC_LATENCY: return 0.1;          /* +10 % */
    case GUARD_METRIC_CONVERSION: return 0.2;       /* -20 % */
    case GUARD_METRIC_LATENCY_MEAN: return 0.1;     /* +10 % */
    case GUARD_METRIC_LATENCY_QUANTILE: return 1.0; /* tail share 2x */
    }
    return 1.0;
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

double guard_metric_mde(const guard_metric *m)
{
    if (m->mde > 0.0)
        return m->mde;
    if (m->kind == GUARD_METRIC_LATENCY_QUANTILE)
        return guard_metric_default_mde(m->kind);
    double d = m->tolerance + guard_metric_default_mde(m->kind);
    if (m->direction == GUARD_LOWER_IS_WORSE && d >= 1.0)
        d = 0.5 * (1.0 + m->tolerance); /* a drop is at most 100 % */
    return d;
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
    case GUARD_STALL: return "stall";
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
        double below =
            m->kind == GUARD_METRIC_LATENCY_QUANTILE ? 0.0 : m->tolerance;
        if (m->mde != 0.0 &&
            (!isfinite(m->mde) || !(m->mde > below) ||
             (m->direction == GUARD_LOWER_IS_WORSE && !(m->mde < 1.0)))) {
            snprintf(path, sizeof path, "/metrics/%zu/mde", i);
            return vx__error_set(
                err, VX_EINVAL, path, "must be above the tolerance%s",
                m->direction == GUARD_LOWER_IS_WORSE ? " and below 1" : "");
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
    if (!(p->alpha_margin > 0.0 && p->alpha_margin <= 1.0))
        return vx__error_set(err, VX_EINVAL, "/alphaMargin",
                             "must be above 0 and at most 1");
    if (!prob_ok(p->power))
        return vx__error_set(err, VX_EINVAL, "/evidence/power",
                             "must be between 0 and 1");
    if (!(p->power_beyond >= 0.0 && p->power_beyond <= 100.0))
        return vx__error_set(err, VX_EINVAL, "/evidence/powerBeyond",
                             "must be a percentage from 0 to 100");
    if (p->max_wait_s < 0)
        return vx__error_set(err, VX_EINVAL, "/evidence/maxWaitSeconds",
                             "must not be negative");
    if (p->on_timeout != GUARD_TIMEOUT_HOLD &&
        p->on_timeout != GUARD_TIMEOUT_ROLLBACK)
        return vx__error_set(err, VX_EINVAL, "/evidence/onTimeout",
                             "unknown action");
    if (!prob_ok(p->srm_alpha))
        return vx__error_set(err, VX_EINVAL, "/srmAlpha",
                             "must be between 0 and 1");
    if (!(p->srm_tau > 0.0) || !isfinite(p->srm_tau))
        return vx__error_set(err, VX_EINVAL, "/srmTau",
                             "must be a positive number");
    return VX_OK;
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

/* ---- the arms and the epochs ------------------------------------------- */

/* What the tests read, normalised: k epochs of control and of each arm
 * (the cumulative counts as one epoch when the caller gave none). */
typedef struct plan_view {
    size_t k;                           /* epochs */
    size_t first;                       /* first epoch of this milestone */
    const guard_counts *ctl;            /* [k] */
    const guard_sketch *const *ctl_lat; /* [k] or NULL */
    const guard_cluster *ctl_cl;        /* [k] or NULL */
    guard_arm arms[GUARD_PLAN_MAX_ARMS];
    size_t n_arms;
    const guard_sketch *one_ctl_lat[1]; /* the legacy cumulative sketches */
    const guard_sketch *one_trt_lat[1];
} plan_view;

static void make_view(const guard_state *st, plan_view *pv)
{
    memset(pv, 0, sizeof *pv);
    bool epochs = st->n_epochs > 0 && st->epoch_control &&
                  (st->epoch_treatment || st->n_arms > 0);
    pv->k = epochs ? st->n_epochs : 1;
    pv->first =
        epochs && st->milestone_epoch < st->n_epochs ? st->milestone_epoch : 0;
    pv->ctl = epochs ? st->epoch_control : &st->control;
    pv->ctl_cl = epochs ? st->epoch_control_clusters : NULL;
    pv->one_ctl_lat[0] = st->control_latency;
    pv->one_trt_lat[0] = st->treatment_latency;
    if (st->n_arms > 0 && epochs) {
        pv->n_arms = st->n_arms;
        memcpy(pv->arms, st->arms, st->n_arms * sizeof st->arms[0]);
        pv->ctl_lat = st->epoch_control_latency;
        return;
    }
    pv->n_arms = 1;
    pv->arms[0].epochs = epochs ? st->epoch_treatment : &st->treatment;
    if (epochs && st->epoch_control_latency) {
        pv->ctl_lat = st->epoch_control_latency;
    } else if (!epochs && st->control_latency) {
        pv->ctl_lat = pv->one_ctl_lat;
        pv->arms[0].latency = pv->one_trt_lat;
    }
    if (!epochs) {
        /* cumulative sketches stand for one epoch */
        pv->ctl_lat = st->control_latency ? pv->one_ctl_lat : NULL;
        pv->arms[0].latency = st->treatment_latency ? pv->one_trt_lat : NULL;
    }
}

/* A sketch's count, 0 for NULL. */
static double sk_count(const guard_sketch *const *s, size_t i)
{
    return s && s[i] ? (double)s[i]->count : 0.0;
}

/* Units of metric `m` in epochs [e0, e1) of one arm. */
static double units(const guard_metric *m, const guard_counts *c,
                    const guard_sketch *const *lat, size_t e0, size_t e1)
{
    double u = 0.0;
    for (size_t i = e0; i < e1; i++) {
        switch (m->kind) {
        case GUARD_METRIC_ERROR_RATE:
        case GUARD_METRIC_CONVERSION: u += (double)c[i].requests; break;
        case GUARD_METRIC_LATENCY: u += c[i].log_latency.n; break;
        case GUARD_METRIC_LATENCY_MEAN: u += c[i].latency.n; break;
        case GUARD_METRIC_LATENCY_QUANTILE: u += sk_count(lat, i); break;
        }
    }
    return u;
}

/* Runs metric `m`'s sequential test on control against `arm`, stratified
 * by epoch. */
static void run_metric(const guard_plan *plan, const guard_metric *m,
                       const plan_view *pv, const guard_arm *arm, double alpha,
                       guard_verdict *v)
{
    guard_seq_spec spec = {
        .direction = m->direction,
        .tolerance = m->tolerance,
        .tau = m->tau > 0.0 ? m->tau : guard_metric_default_tau(m->kind),
        .alpha = alpha,
        .min_per_arm = plan->min_per_arm,
        .no_bound = !plan->bounds,
    };
    const guard_counts *c = pv->ctl, *t = arm->epochs;
    const guard_cluster *cc = pv->ctl_cl, *tc = arm->clusters;
    size_t k = pv->k;
    guard_prop_stratum ps[GUARD_MAX_STRATA];
    guard_mean_stratum ms[GUARD_MAX_STRATA];
    v->kind = m->kind;
    v->alpha = alpha;
    /* Errors are impossible here: the plan and the counts were validated.
     * A test without enough data leaves seq.evaluated false, which can
     * only hold, never roll back. */
    switch (m->kind) {
    case GUARD_METRIC_ERROR_RATE:
    case GUARD_METRIC_CONVERSION: {
        bool err = m->kind == GUARD_METRIC_ERROR_RATE;
        for (size_t i = 0; i < k; i++)
            ps[i] = (guard_prop_stratum){
                err ? c[i].errors : c[i].conversions,
                c[i].requests,
                err ? t[i].errors : t[i].conversions,
                t[i].requests,
                cc ? cc[i].requests : NULL,
                cc ? (err ? cc[i].errors : cc[i].conversions) : NULL,
                tc ? tc[i].requests : NULL,
                tc ? (err ? tc[i].errors : tc[i].conversions) : NULL};
        (void)guard_seq_proportion_strata(ps, k, &spec, &v->seq);
        break;
    }
    case GUARD_METRIC_LATENCY:
    case GUARD_METRIC_LATENCY_MEAN: {
        bool lg = m->kind == GUARD_METRIC_LATENCY;
        for (size_t i = 0; i < k; i++)
            ms[i] = (guard_mean_stratum){
                lg ? c[i].log_latency : c[i].latency,
                lg ? t[i].log_latency : t[i].latency,
                cc ? cc[i].lat_n : NULL,
                cc ? (lg ? cc[i].loglat_sum : cc[i].lat_sum) : NULL,
                tc ? tc[i].lat_n : NULL,
                tc ? (lg ? tc[i].loglat_sum : tc[i].lat_sum) : NULL};
        (void)guard_seq_mean_strata(ms, k, lg, &spec, &v->seq);
        break;
    }
    case GUARD_METRIC_LATENCY_QUANTILE: {
        double q = m->quantile > 0.0 ? m->quantile : 0.99;
        if (pv->ctl_lat && arm->latency)
            (void)guard_seq_quantile_strata(pv->ctl_lat, arm->latency, k, q,
                                            m->tolerance, &spec, &v->seq);
        break;
    }
    }
}

/* ---- the evidence gate -------------------------------------------------- */

/* Sum of squared deviations and degrees of freedom of moments within
 * epochs (the tests' pooled variance). */
static double within_var(const guard_counts *c, size_t k, bool lg)
{
    double ss = 0.0, df = 0.0;
    for (size_t i = 0; i < k; i++) {
        const guard_moments *m = lg ? &c[i].log_latency : &c[i].latency;
        if (!(m->n >= 1.0))
            continue;
        double d = m->sumsq - m->sum * m->sum / m->n;
        ss += d > 0.0 && isfinite(d) ? d : 0.0;
        df += m->n - 1.0;
    }
    return df >= 1.0 ? ss / df : 0.0;
}

static double mean_of(const guard_counts *c, size_t k, bool lg)
{
    double n = 0.0, s = 0.0;
    for (size_t i = 0; i < k; i++) {
        const guard_moments *m = lg ? &c[i].log_latency : &c[i].latency;
        n += m->n;
        s += m->sum;
    }
    return n > 0.0 ? s / n : 0.0;
}

/* Fills v->evidence for one (arm, metric) at milestone percentage `pct`:
 * the milestone's units per arm against the floor, and, when `power` is
 * wanted, guard_power_scale of the milestone's own data for the metric's
 * MDE (rates and variances read from all epochs, which estimate them
 * better; the variance scaled by the verdict's design effect). */
static void gate_metric(const guard_plan *plan, const guard_metric *m,
                        const plan_view *pv, const guard_arm *arm, double pct,
                        uint64_t floor, bool power, guard_verdict *v)
{
    guard_evidence *ev = &v->evidence;
    size_t k = pv->k, e0 = pv->first;
    const guard_counts *c = pv->ctl, *t = arm->epochs;
    ev->checked = true;
    ev->power_needed = power;
    ev->units_t = units(m, t, arm->latency, e0, k);
    ev->units_c = units(m, c, pv->ctl_lat, e0, k);
    ev->need_t = (double)floor;
    bool ok = v->seq.evaluated && ev->units_t >= (double)floor &&
              ev->units_c >= (double)floor;
    if (!power) {
        ev->met = ok;
        return;
    }
    /* Per-unit variances under the null and under the effect, at the
     * milestone's allocation (its own counts, or its percentage when it
     * has none yet), for one treatment unit. */
    double nt = ev->units_t > 0.0 ? ev->units_t : 1.0;
    double nc = ev->units_c > 0.0 ? ev->units_c : nt * (100.0 - pct) / pct;
    double tol = m->tolerance;
    double mde = guard_metric_mde(m);
    double tau_rel = m->tau > 0.0 ? m->tau : guard_metric_default_tau(m->kind);
    bool higher = m->direction == GUARD_HIGHER_IS_WORSE;
    /* plan with a pessimistic design effect: an estimate from at most 64
     * groups is noisy, and a low one would let the milestone go early */
    double deff = v->seq.design_effect_hi > 1.0 ? v->seq.design_effect_hi : 1.0;
    double theta = 0.0, v0 = 0.0, v1 = 0.0, tau = 0.0;
    switch (m->kind) {
    case GUARD_METRIC_ERROR_RATE:
    case GUARD_METRIC_CONVERSION: {
        bool err = m->kind == GUARD_METRIC_ERROR_RATE;
        double x = 0.0, n = 0.0;
        for (size_t i = 0; i < k; i++) {
            x += (double)(err ? c[i].errors : c[i].conversions);
            n += (double)c[i].requests;
        }
        double pc = (x + 0.5) / (n + 1.0); /* never 0: a floor, not a test */
        double f = higher ? 1.0 + tol : 1.0 - tol;
        theta = (mde - tol) * pc;
        if (theta < GUARD_MDE_ABS_PROPORTION)
            theta = GUARD_MDE_ABS_PROPORTION;
        double p0 = f * pc > 1.0 ? 1.0 : f * pc;
        double p1 = higher ? p0 + theta : p0 - theta;
        p1 = p1 < 0.0 ? 0.0 : p1 > 1.0 ? 1.0 : p1;
        double vc = f * f * pc * (1.0 - pc) / nc;
        v0 = deff * (p0 * (1.0 - p0) / nt + vc);
        v1 = deff * (p1 * (1.0 - p1) / nt + vc);
        tau = tau_rel * pc;
        break;
    }
    case GUARD_METRIC_LATENCY:
    case GUARD_METRIC_LATENCY_MEAN: {
        bool lg = m->kind == GUARD_METRIC_LATENCY;
        double vt = within_var(t, k, lg), vc = within_var(c, k, lg);
        double f = lg ? 1.0 : (higher ? 1.0 + tol : 1.0 - tol);
        if (lg) {
            theta = higher ? log1p(mde) - log1p(tol)
                           : log1p(-tol) - log1p(mde < 1.0 ? -mde : -0.999);
            tau = tau_rel;
        } else {
            double mc = fabs(mean_of(c, k, false));
            theta = (mde - tol) * mc;
            tau = tau_rel * mc;
        }
        v0 = v1 = deff * (vt / nt + f * f * vc / nc);
        break;
    }
    case GUARD_METRIC_LATENCY_QUANTILE: {
        double q = m->quantile > 0.0 ? m->quantile : 0.99;
        double s1 = (1.0 - q) * (1.0 + mde);
        s1 = s1 < 1.0 ? s1 : 1.0;
        theta = (1.0 - q) * mde;
        v0 = q * (1.0 - q) * (1.0 / nt + 1.0 / nc);
        v1 = s1 * (1.0 - s1) / nt + q * (1.0 - q) / nc;
        tau = tau_rel * (1.0 - q);
        break;
    }
    }
    ev->mde_abs = theta;
    double s = guard_power_scale(theta, v0, v1, tau, v->alpha, plan->power);
    ev->power_scale = s;
    double need = isfinite(s) ? ceil(s * nt) : INFINITY;
    if (need > ev->need_t)
        ev->need_t = need;
    ev->met = ok && isfinite(s) && ev->units_t >= need;
}

/* ---- the decision -------------------------------------------------------- */

static vx_status check_arms(const guard_state *st, vx_error *err)
{
    if (st->n_arms > GUARD_PLAN_MAX_ARMS || (st->n_arms > 0 && !st->arms))
        return vx__error_set(err, VX_EINVAL, "/arms", "give 0 to %d arms",
                             GUARD_PLAN_MAX_ARMS);
    if (st->n_arms > 0 && (st->n_epochs == 0 || !st->epoch_control))
        return vx__error_set(err, VX_EINVAL, "/arms",
                             "per-variant arms need per-epoch counts");
    for (size_t a = 0; a < st->n_arms; a++) {
        if (!st->arms[a].epochs)
            return vx__error_set(err, VX_EINVAL, "/arms",
                                 "arm %zu has no counts", a);
        for (size_t i = 0; i < st->n_epochs; i++) {
            char arm[48];
            snprintf(arm, sizeof arm, "arms/%zu/epochs/%zu", a, i);
            vx_status s2 = check_counts(&st->arms[a].epochs[i], arm, err);
            if (s2 != VX_OK)
                return s2;
        }
    }
    return VX_OK;
}

/* The design effect of the current epoch's split when units are sticky
 * (guard_srm_design_effect over the last epoch's groups, all treatment
 * arms together); 1 without groups. */
static double srm_deff(const guard_state *st, const plan_view *pv)
{
    if (st->n_epochs == 0 || !pv->ctl_cl)
        return 1.0;
    size_t e = st->n_epochs - 1;
    double gt[GUARD_GROUPS] = {0};
    bool any = false;
    for (size_t a = 0; a < pv->n_arms; a++) {
        const guard_cluster *c = pv->arms[a].clusters;
        if (!c)
            continue;
        any = true;
        for (size_t g = 0; g < GUARD_GROUPS; g++)
            gt[g] += c[e].requests[g];
    }
    return any ? guard_srm_design_effect(st->stage_control, st->stage_treatment,
                                         pv->ctl_cl[e].requests, gt)
               : 1.0;
}

/* Treatment requests of this milestone (all arms). */
static double milestone_exposures(const guard_state *st, const plan_view *pv)
{
    if (st->n_epochs == 0 || !st->epoch_control)
        return (double)st->stage_treatment;
    double n = 0.0;
    for (size_t a = 0; a < pv->n_arms; a++)
        for (size_t i = pv->first; i < pv->k; i++)
            n += (double)pv->arms[a].epochs[i].requests;
    return n;
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
        (state->n_epochs > 0 && !state->epoch_control) ||
        (state->n_epochs > 0 && !state->epoch_treatment && !state->n_arms))
        return vx__error_set(err, VX_EINVAL, "/epochs",
                             "give 0 to %d epochs, with both arms' counts",
                             GUARD_MAX_STRATA);
    for (size_t i = 0; i < state->n_epochs; i++) {
        char arm[40];
        snprintf(arm, sizeof arm, "epochs/%zu/control", i);
        st = check_counts(&state->epoch_control[i], arm, err);
        if (st == VX_OK && state->epoch_treatment) {
            snprintf(arm, sizeof arm, "epochs/%zu/treatment", i);
            st = check_counts(&state->epoch_treatment[i], arm, err);
        }
        if (st != VX_OK)
            return st;
    }
    st = check_arms(state, err);
    if (st != VX_OK)
        return st;
    plan_view view;
    plan_view *pv = &view;
    make_view(state, pv);
    if (pv->n_arms * plan->n_metrics > GUARD_PLAN_MAX_METRICS)
        return vx__error_set(err, VX_EINVAL, "/arms",
                             "%zu arms x %zu metrics: a plan tests at most %d "
                             "(arm, metric) pairs",
                             pv->n_arms, plan->n_metrics,
                             GUARD_PLAN_MAX_METRICS);
    const guard_milestone *ms = &plan->milestones[state->milestone];
    bool last = state->milestone + 1 == plan->n_milestones;
    out->milestone = state->milestone;
    out->rollback = plan->rollback;
    out->n_arms = pv->n_arms;
    for (size_t a = 0; a < pv->n_arms; a++)
        out->arm_names[a] = pv->arms[a].name;
    out->elapsed_s =
        now > state->milestone_started ? now - state->milestone_started : 0;

    if (ms->percent >= 100.0) {
        out->action = GUARD_COMPLETE;
        out->reason = "the rollout reached 100 %";
        return VX_OK;
    }

    (void)guard_srm_sequential_deff(
        state->stage_control, state->stage_treatment, ms->percent / 100.0,
        plan->srm_alpha, plan->srm_tau, plan->srm_min_per_arm,
        srm_deff(state, pv), &out->srm);
    if (out->srm.mismatch) {
        out->action = GUARD_PAUSE_SRM;
        out->reason = "the traffic split does not match the rollout "
                      "percentage (sample ratio mismatch)";
        return VX_OK;
    }

    /* Bonferroni over the whole family, retired arms included: what a
     * retired arm spent stays spent. */
    double alpha =
        plan->alpha * plan->alpha_margin /
        (double)(pv->n_arms * (plan->n_metrics ? plan->n_metrics : 1));
    double best_p = 2.0;
    bool regressed = false;
    for (size_t a = 0; a < pv->n_arms; a++) {
        if (pv->arms[a].retired)
            continue;
        for (size_t i = 0; i < plan->n_metrics; i++) {
            guard_verdict *v = &out->verdicts[out->n_verdicts++];
            v->metric = i;
            v->arm = a;
            run_metric(plan, &plan->metrics[i], pv, &pv->arms[a], alpha, v);
            if (v->seq.regression && v->seq.p < best_p) {
                best_p = v->seq.p;
                out->culprit = out->n_verdicts - 1;
                out->culprit_arm = a;
                regressed = true;
            }
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
    bool pending = false;
    const char *why = NULL;
    if (milestone_exposures(state, pv) < (double)ms->min_exposures) {
        pending = true;
        why = "the treatment has not reached the milestone's minimum "
              "exposures";
    }
    if (plan->gate) {
        double next =
            last ? 100.0 : plan->milestones[state->milestone + 1].percent;
        bool power = next > plan->power_beyond;
        uint64_t floor =
            ms->min_per_arm > 0 ? ms->min_per_arm : plan->min_per_arm;
        for (size_t j = 0; j < out->n_verdicts; j++) {
            guard_verdict *v = &out->verdicts[j];
            gate_metric(plan, &plan->metrics[v->metric], pv, &pv->arms[v->arm],
                        ms->percent, floor, power, v);
            if (!v->evidence.met && !pending) {
                pending = true;
                why = !v->seq.evaluated
                          ? "a guard metric has no verdict yet (too little "
                            "data in an arm)"
                      : v->evidence.units_t < (double)floor ||
                              v->evidence.units_c < (double)floor
                          ? "a guard metric has too few units in an arm in "
                            "this milestone"
                          : "this milestone's data cannot yet detect the "
                            "minimum detectable effect with the plan's power";
            }
        }
    }
    if (pending) {
        out->reason = why;
        out->insufficient = true;
        if (plan->gate &&
            out->elapsed_s >= ms->min_duration_s + plan->max_wait_s) {
            if (plan->on_timeout == GUARD_TIMEOUT_ROLLBACK) {
                out->action = GUARD_ROLLBACK;
                out->reason = "the milestone ran out of time without the "
                              "evidence to advance (insufficient data)";
                out->culprit = SIZE_MAX;
            } else {
                out->action = GUARD_STALL;
                out->reason = "the milestone ran out of time without the "
                              "evidence to advance: holding (insufficient "
                              "data)";
            }
        }
        return VX_OK;
    }
    if (plan->mode == GUARD_MODE_APPROVAL && !state->approved) {
        out->action = GUARD_WAIT_APPROVAL;
        out->reason = "the milestone is done; waiting for approval";
        return VX_OK;
    }
    if (last) {
        out->action = GUARD_COMPLETE;
        out->reason = plan->n_metrics
                          ? "the last milestone is done with no regression"
                          : "the last milestone's time is done (time-based, "
                            "unguarded)";
        return VX_OK;
    }
    out->action = GUARD_ADVANCE;
    out->reason = plan->n_metrics ? "the milestone is done with no regression"
                                  : "the milestone's time is done (time-based, "
                                    "unguarded)";
    out->next_milestone = state->milestone + 1;
    out->next_percent = plan->milestones[out->next_milestone].percent;
    return VX_OK;
}
