/* Results people can read: GET .../environments/{env}/results. Per arm
 * (the control "disabled", each variant) the exposures, events, rates,
 * latency mean, geometric mean and quantiles; per treatment arm and metric
 * the difference from the baseline with its always-valid confidence
 * sequence and an estimate corrected for stopping at a crossing. For a
 * flag with a release plan the figures are the plan run's, compared within
 * rollout epochs with the plan's metrics (what its guard saw); without one,
 * the impact data of the last `hours` (24) for plain A/B variants.
 *
 * Invariant: read-only (one read transaction), and every figure is
 * computed by src/guard from the same buckets the scheduler reads, so the
 * page and the guard cannot disagree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "guard/plan.h"
#include "service/internal.h"

#define RESULTS_MAX_HOURS (VX_LIMIT_IMPACT_HOUR_DAYS * 24)

/* A number for JSON, null when not finite. */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Query parameter `key` as a number in [lo, hi]; `dflt` when absent. */
static vx_status query_num(svc_ctx *c, const char *key, double lo, double hi,
                           double dflt, double *out)
{
    const char *q = json_string_value(json_object_get(c->req->query, key));
    *out = dflt;
    if (!q)
        return VX_OK;
    char *end = NULL;
    double v = strtod(q, &end);
    if (!*q || *end || !isfinite(v) || v < lo || v > hi) {
        char path[64];
        snprintf(path, sizeof(path), "/query/%s", key);
        return svc__fail(c, VX_EINVAL, path,
                         "%s must be a number from %g to %g", key, lo, hi);
    }
    *out = v;
    return VX_OK;
}

/* Sums one label's epochs [0, k) of `a` into *out (and its sketches). */
static void label_total(const svc_arms *a, size_t li, guard_counts *out,
                        guard_sketch *sk)
{
    memset(out, 0, sizeof(*out));
    for (size_t e = 0; e < a->n_epochs; e++) {
        guard_counts_merge(out, &a->counts[li * a->n_epochs + e]);
        if (a->sketches)
            guard_sketch_merge(sk, &a->sketches[li * a->n_epochs + e]);
    }
}

static json_t *arm_json(const char *label, bool baseline, const guard_counts *k,
                        const guard_sketch *sk)
{
    double n = (double)k->requests;
    json_t *o = json_pack(
        "{ss sb sI sI so sI so}", "variant", label, "baseline", baseline,
        "exposures", (json_int_t)k->requests, "errors", (json_int_t)k->errors,
        "errorRate", n > 0 ? json_real((double)k->errors / n) : json_null(),
        "conversions", (json_int_t)k->conversions, "conversionRate",
        n > 0 ? json_real((double)k->conversions / n) : json_null());
    json_object_set_new(o, "latencySamples",
                        json_integer((json_int_t)k->latency.n));
    json_object_set_new(o, "latencyMeanMs",
                        k->latency.n > 0 ? num(k->latency.sum / k->latency.n)
                                         : json_null());
    json_object_set_new(o, "latencyGeoMeanMs",
                        k->log_latency.n > 0
                            ? num(exp(k->log_latency.sum / k->log_latency.n))
                            : json_null());
    bool q = sk && sk->count > 0;
    json_object_set_new(o, "latencyP50Ms",
                        q ? num(guard_sketch_quantile(sk, 0.5)) : json_null());
    json_object_set_new(o, "latencyP99Ms",
                        q ? num(guard_sketch_quantile(sk, 0.99)) : json_null());
    return o;
}

/* One comparison: metric `m` of label `ti` against label `ci`, over the
 * epochs (stratified), at level alpha. */
static json_t *compare(const svc_arms *a, size_t ci, size_t ti,
                       const guard_metric *m, double alpha)
{
    size_t k = a->n_epochs;
    guard_seq_spec spec = {
        .direction = m->direction,
        .tolerance = m->tolerance,
        .tau = m->tau > 0 ? m->tau : guard_metric_default_tau(m->kind),
        .alpha = alpha,
        .min_per_arm = 100,
    };
    guard_seq_result r;
    memset(&r, 0, sizeof(r));
    const guard_counts *c = &a->counts[ci * k], *t = &a->counts[ti * k];
    const guard_cluster *cc = a->groups ? &a->groups[ci * k] : NULL;
    const guard_cluster *tc = a->groups ? &a->groups[ti * k] : NULL;
    guard_prop_stratum ps[VX_LIMIT_PLAN_EPOCHS];
    guard_mean_stratum ms[VX_LIMIT_PLAN_EPOCHS];
    const guard_sketch *cs[VX_LIMIT_PLAN_EPOCHS], *ts[VX_LIMIT_PLAN_EPOCHS];
    switch (m->kind) {
    case GUARD_METRIC_ERROR_RATE:
    case GUARD_METRIC_CONVERSION: {
        bool err = m->kind == GUARD_METRIC_ERROR_RATE;
        for (size_t e = 0; e < k; e++)
            ps[e] = (guard_prop_stratum){
                err ? c[e].errors : c[e].conversions,
                c[e].requests,
                err ? t[e].errors : t[e].conversions,
                t[e].requests,
                cc ? cc[e].requests : NULL,
                cc ? (err ? cc[e].errors : cc[e].conversions) : NULL,
                tc ? tc[e].requests : NULL,
                tc ? (err ? tc[e].errors : tc[e].conversions) : NULL};
        (void)guard_seq_proportion_strata(ps, k, &spec, &r);
        break;
    }
    case GUARD_METRIC_LATENCY:
    case GUARD_METRIC_LATENCY_MEAN: {
        bool lg = m->kind == GUARD_METRIC_LATENCY;
        for (size_t e = 0; e < k; e++)
            ms[e] = (guard_mean_stratum){
                lg ? c[e].log_latency : c[e].latency,
                lg ? t[e].log_latency : t[e].latency,
                cc ? cc[e].lat_n : NULL,
                cc ? (lg ? cc[e].loglat_sum : cc[e].lat_sum) : NULL,
                tc ? tc[e].lat_n : NULL,
                tc ? (lg ? tc[e].loglat_sum : tc[e].lat_sum) : NULL};
        (void)guard_seq_mean_strata(ms, k, lg, &spec, &r);
        break;
    }
    case GUARD_METRIC_LATENCY_QUANTILE:
        for (size_t e = 0; e < k; e++) {
            cs[e] = a->sketches ? &a->sketches[ci * k + e] : NULL;
            ts[e] = a->sketches ? &a->sketches[ti * k + e] : NULL;
        }
        (void)guard_seq_quantile_strata(cs, ts, k,
                                        m->quantile > 0 ? m->quantile : 0.99,
                                        m->tolerance, &spec, &r);
        break;
    }
    /* The two-sided always-valid p of "no difference", and the estimate:
     * corrected for stopping when the one-sided test crossed (a plan
     * would have rolled back) or the interval excludes 0 (a person could
     * have called it), else the difference itself. */
    double p2 = 1.0;
    double est = r.diff;
    bool crossed = r.evaluated && (r.regression || r.cs_lo > 0 || r.cs_hi < 0);
    if (r.evaluated) {
        double l = guard_msprt_log_lr(r.diff, r.variance, r.tau, 0.0);
        p2 = l > 0 ? exp(-l) : 1.0;
        est = r.regression ? r.estimate
              : crossed    ? r.diff - r.variance / r.diff
                           : r.diff;
    }
    bool lg = m->kind == GUARD_METRIC_LATENCY;
    json_t *o = json_pack(
        "{ss ss ss sb so so so so s{so so sf sb} so ss sb so so so sb}",
        "variant", a->label[ti], "baseline", a->label[ci], "metric",
        guard_metric_kind_name(m->kind), "evaluated", r.evaluated,
        "baselineValue", r.evaluated ? num(r.control) : json_null(), "value",
        r.evaluated ? num(r.treatment) : json_null(), "difference",
        r.evaluated ? num(r.diff) : json_null(), "relative",
        r.evaluated && lg               ? num(expm1(r.diff))
        : r.evaluated && r.control != 0 ? num(r.diff / r.control)
                                        : json_null(),
        "interval", "low", r.evaluated ? num(r.cs_lo) : json_null(), "high",
        r.evaluated ? num(r.cs_hi) : json_null(), "level", 1.0 - alpha,
        "alwaysValid", true, "estimate", r.evaluated ? num(est) : json_null(),
        "estimateMethod",
        crossed ? "corrected for stopping at the crossing (x - v/x)"
                : "the difference (no crossing to correct for)",
        "crossed", crossed, "pAlwaysValid", num(p2), "pHarm", num(r.p),
        "designEffect", num(r.design_effect), "harm", r.regression);
    /* the one-sided bound the guard decides with: the difference is at
     * least this where higher is worse (at most, where lower is); beyond
     * the margin exactly when the harm test rejects. The two-sided
     * interval can still hold 0 at that moment. */
    json_object_set_new(o, "harmBound",
                        r.evaluated ? num(r.harm_bound) : json_null());
    json_object_set_new(o, "margin", r.evaluated ? num(r.margin) : json_null());
    if (lg)
        json_object_set_new(o, "scale", json_string("log (geometric mean)"));
    if (m->kind == GUARD_METRIC_LATENCY_QUANTILE)
        json_object_set_new(o, "scale",
                            json_string("share of requests above the "
                                        "threshold"));
    return o;
}

/* The metrics to compare: the plan's, else errors, conversion and latency
 * (tolerance 0) for those with data. */
static size_t metrics_of(const json_t *plan, const guard_counts *tot,
                         size_t n_labels, guard_metric *out)
{
    size_t n = 0;
    const json_t *ms =
        json_object_get(json_object_get(plan, "plan"), "metrics");
    size_t i;
    const json_t *m;
    json_array_foreach (ms, i, m) {
        guard_metric_kind k;
        if (n == GUARD_PLAN_MAX_METRICS ||
            !guard_metric_kind_parse(
                json_string_value(json_object_get(m, "kind")), &k))
            continue;
        const char *dir = json_string_value(json_object_get(m, "direction"));
        out[n] = (guard_metric){
            k,
            dir && strcmp(dir, "lower-is-worse") == 0 ? GUARD_LOWER_IS_WORSE
                                                      : GUARD_HIGHER_IS_WORSE,
            json_number_value(json_object_get(m, "tolerance")),
            0,
            json_number_value(json_object_get(m, "quantile")),
            0};
        n++;
    }
    if (plan && n > 0)
        return n;
    bool errs = false, conv = false, lat = false;
    for (size_t l = 0; l < n_labels; l++) {
        errs |= tot[l].errors > 0;
        conv |= tot[l].conversions > 0;
        lat |= tot[l].log_latency.n > 0;
    }
    if (errs)
        out[n++] = (guard_metric){
            GUARD_METRIC_ERROR_RATE, GUARD_HIGHER_IS_WORSE, 0, 0, 0, 0};
    if (conv)
        out[n++] = (guard_metric){
            GUARD_METRIC_CONVERSION, GUARD_LOWER_IS_WORSE, 0, 0, 0, 0};
    if (lat)
        out[n++] = (guard_metric){
            GUARD_METRIC_LATENCY, GUARD_HIGHER_IS_WORSE, 0, 0, 0, 0};
    return n;
}

/* GET .../environments/{env}/results?alpha=&hours=&baseline= */
vx_status svc__op_RESULTS(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *env = NULL, *plan = NULL, *arms = NULL, *cmp = NULL;
    svc_arms a;
    memset(&a, 0, sizeof(a));
    guard_counts *tot = NULL;
    guard_sketch *sk = NULL;
    double alpha = 0.05, hours = 24;
    vx_status st = svc__get(c, STORE_ENVIRONMENT, c->req->environment, &env);
    if (st == VX_ENOTFOUND)
        st = svc__not_found(c, "environment", c->req->environment);
    if (st == VX_OK)
        st = svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    if (st == VX_OK)
        st = query_num(c, "alpha", 0.001, 0.5, 0.05, &alpha);
    if (st == VX_OK)
        st = query_num(c, "hours", 1, RESULTS_MAX_HOURS, 24, &hours);
    char key[600];
    snprintf(key, sizeof(key), "%s|%s", c->req->environment, c->req->feature);
    if (st == VX_OK) {
        st = svc__get(c, STORE_PLAN, key, &plan);
        if (st == VX_ENOTFOUND)
            st = VX_OK;
    }
    /* a plan's run, unless the caller asks for a window of plain traffic */
    bool use_plan = plan && !json_object_get(c->req->query, "hours");
    int64_t since = c->now_ms / 1000 - (int64_t)(hours * 3600);
    if (st == VX_OK)
        st = svc__impact_arms(
            c, c->req->environment, c->req->feature,
            use_plan ? json_string_value(json_object_get(plan, "run")) : NULL,
            use_plan ? json_array_size(json_object_get(plan, "epochs")) : 1,
            since, true, &a);
    if (st != VX_OK)
        goto out;
    tot = vx__calloc(a.n_labels ? a.n_labels : 1, sizeof(*tot));
    sk = vx__malloc((a.n_labels ? a.n_labels : 1) * sizeof(*sk));
    if (!tot || !sk) {
        st = VX_ENOMEM;
        goto out;
    }
    const char *base =
        json_string_value(json_object_get(c->req->query, "baseline"));
    if (!base)
        base = "disabled";
    int bi = svc__impact_arm(&a, base);
    if (bi < 0 && json_object_get(c->req->query, "baseline")) {
        st = svc__fail(c, VX_ENOTFOUND, "/query/baseline",
                       "no impact data for variant '%s' of '%s' in '%s'", base,
                       c->req->feature, c->req->environment);
        goto out;
    }
    if (bi < 0 && a.n_labels > 0)
        bi = 0; /* no control: the first arm seen is the baseline */
    arms = json_array();
    for (size_t l = 0; l < a.n_labels; l++) {
        guard_sketch_init(&sk[l]);
        label_total(&a, l, &tot[l], &sk[l]);
        json_array_append_new(
            arms, arm_json(a.label[l], (int)l == bi, &tot[l], &sk[l]));
    }
    guard_metric mets[GUARD_PLAN_MAX_METRICS];
    size_t nm = metrics_of(use_plan ? plan : NULL, tot, a.n_labels, mets);
    cmp = json_array();
    for (size_t l = 0; bi >= 0 && l < a.n_labels; l++) {
        if ((int)l == bi)
            continue;
        for (size_t i = 0; i < nm; i++)
            json_array_append_new(cmp,
                                  compare(&a, (size_t)bi, l, &mets[i], alpha));
    }
    *out = json_pack("{ss ss ss sf so so}", "feature", c->req->feature,
                     "environment", c->req->environment, "source",
                     use_plan ? "release-plan" : "traffic", "alpha", alpha,
                     "arms", arms, "comparisons", cmp);
    arms = cmp = NULL;
    if (use_plan) {
        json_object_set(*out, "run", json_object_get(plan, "run"));
        json_object_set_new(*out, "epochs",
                            json_integer((json_int_t)a.n_epochs));
        json_object_set(*out, "planState", json_object_get(plan, "state"));
    } else {
        json_object_set_new(*out, "from", svc__time_json(since * 1000));
        json_object_set_new(*out, "to", svc__time_json(c->now_ms));
    }
    if (a.dropped)
        json_object_set_new(*out, "otherVariantsDropped",
                            json_integer((json_int_t)a.dropped));
out:
    json_decref(arms);
    json_decref(cmp);
    vx__free(tot);
    vx__free(sk);
    svc__impact_arms_release(&a);
    json_decref(plan);
    json_decref(env);
    json_decref(f);
    return st;
}
