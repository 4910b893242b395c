/* Statistics for guarded rollouts: special functions, fixed-horizon
 * comparisons (two proportions, Welch), the always-valid mixture SPRT and
 * the sample-ratio-mismatch check.
 *
 * Every function here is pure: no I/O, no clock, no allocation, no global
 * state, so all of them are safe to call from any thread. Inputs are the
 * sufficient statistics (counts, sums, sums of squares); a result struct is
 * always fully written, NaN-free, even when the function returns an error. */
#ifndef VX_GUARD_STATS_H
#define VX_GUARD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "vexil/status.h"

/* ---- special functions ------------------------------------------------ */

/* Standard normal CDF Phi(x) and survival 1 - Phi(x) (accurate in the
 * tails: computed with erfc, not 1 - cdf). */
double guard_norm_cdf(double x);
double guard_norm_sf(double x);
/* Inverse of Phi for 0 < p < 1 (Wichura AS241, about 1e-16 relative).
 * Returns -INFINITY / +INFINITY for p <= 0 / p >= 1. */
double guard_norm_quantile(double p);

/* Regularized upper incomplete gamma Q(a, x) for a > 0, x >= 0. */
double guard_gamma_q(double a, double x);
/* Survival function of the chi-square distribution with df > 0 degrees of
 * freedom: P(X >= x). */
double guard_chi2_sf(double x, double df);
/* Regularized incomplete beta I_x(a, b) for a, b > 0, 0 <= x <= 1. */
double guard_beta_inc(double a, double b, double x);
/* Student t CDF P(T <= t) with nu > 0 degrees of freedom, and its inverse
 * for 0 < p < 1 (nu may be fractional, as Welch's is). */
double guard_t_cdf(double t, double nu);
double guard_t_quantile(double p, double nu);

/* ---- sufficient statistics -------------------------------------------- */

/* Moments of a numeric metric from count, sum and sum of squares. These
 * are the form a database can aggregate with SUM(); see guard_moments_var
 * for the precision caveat. */
typedef struct guard_moments {
    double n;     /* observations */
    double sum;   /* sum of the values */
    double sumsq; /* sum of the squared values */
} guard_moments;

double guard_moments_mean(const guard_moments *m); /* 0 when n == 0 */
/* Unbiased sample variance, clamped at 0 (cancellation in sumsq - n*mean^2
 * can make it slightly negative). 0 when n < 2. */
double guard_moments_var(const guard_moments *m);

/* ---- fixed-horizon comparisons ---------------------------------------- */

/* A comparison of treatment against control. The difference is always
 * treatment - control. */
typedef struct guard_compare {
    double control;     /* control estimate (rate or mean) */
    double treatment;   /* treatment estimate */
    double diff;        /* treatment - control */
    double se;          /* standard error of diff used for the CI */
    double ci_lo;       /* two-sided (1 - alpha) CI of diff */
    double ci_hi;       /*   "   */
    double rel;         /* treatment / control - 1 (0 if control is 0) */
    double rel_ci_lo;   /* CI of rel (log-ratio, delta method); */
    double rel_ci_hi;   /*   +-INFINITY when it is not defined */
    double stat;        /* z (proportions, pooled SE) or Welch t */
    double df;          /* Welch degrees of freedom; INFINITY for z */
    double p_two_sided; /* P(|Z| >= |stat|) */
    double p_greater;   /* one-sided p for H1: treatment > control */
    double p_less;      /* one-sided p for H1: treatment < control */
} guard_compare;

/* Two-proportion z test: x_c of n_c control and x_t of n_t treatment units
 * had the event. The test uses the pooled SE, the CI the unpooled SE, the
 * relative CI the log risk ratio (Katz). VX_EINVAL if an arm is empty, a
 * count exceeds its total, or alpha is not in (0, 1); `out` is then zeroed. */
vx_status guard_prop_compare(uint64_t x_c, uint64_t n_c, uint64_t x_t,
                             uint64_t n_t, double alpha, guard_compare *out);

/* Welch's unequal-variance t test of means from moments. VX_EINVAL if an
 * arm has fewer than 2 observations or both variances are 0. */
vx_status guard_welch_compare(const guard_moments *control,
                              const guard_moments *treatment, double alpha,
                              guard_compare *out);

/* ---- always-valid sequential test (mixture SPRT) ---------------------- */

/* Log of the two-sided normal-mixture likelihood ratio of Johari et al.:
 * the estimate `diff` ~ N(theta, v) tested against theta = theta0 with the
 * mixing distribution N(theta0, tau^2):
 *   log L = 1/2 log(v / (v + tau^2)) + tau^2 (diff - theta0)^2
 *                                      / (2 v (v + tau^2)).
 * Requires v > 0 and tau > 0. */
double guard_msprt_log_lr(double diff, double v, double tau, double theta0);

/* Log of the one-sided (half-normal) mixture: mixing over theta > theta0
 * only, which is 2 Phi(d tau / sqrt(v (v + tau^2))) times the two-sided
 * ratio (d = diff - theta0). It is a supermartingale under every
 * theta <= theta0, so P(ever >= 1/alpha) <= alpha by Ville's inequality. */
double guard_msprt_log_lr_greater(double diff, double v, double tau,
                                  double theta0);

/* The half-width of the always-valid (1 - alpha) confidence sequence for
 * theta: diff +- sqrt(v (v + tau^2) / tau^2 (2 log(1/alpha)
 *                                          + log((v + tau^2) / v))). */
double guard_msprt_cs_halfwidth(double v, double tau, double alpha);

/* The one-sided always-valid lower bound that goes with
 * guard_msprt_log_lr_greater: the largest theta0 that the one-sided test of
 * H0 "theta <= theta0" rejects at level alpha (log ratio >= log(1/alpha)),
 * found by bisection on theta0 (the log ratio falls as theta0 rises), so
 * every theta0 <= the bound is rejected and every theta0 above it is not.
 * The test of theta0 = 0 therefore rejects exactly when the bound is >= 0.
 * v and tau are held fixed over theta0, so the bound is never below
 * diff - guard_msprt_cs_halfwidth(v, tau, alpha) (the half-normal mixture
 * weighs the evidence at least as much as the normal one on that side).
 * Requires v > 0, tau > 0 and 0 < alpha < 1, all finite, and a finite
 * diff; otherwise returns -INFINITY (nothing is ruled out). Pure. */
double guard_msprt_bound_greater(double diff, double v, double tau,
                                 double alpha);

/* Which way is harm. */
typedef enum guard_direction {
    GUARD_HIGHER_IS_WORSE = 0, /* error rate, latency */
    GUARD_LOWER_IS_WORSE = 1,  /* conversion */
} guard_direction;

/* The question asked of one guard metric. */
typedef struct guard_seq_spec {
    guard_direction direction;
    double tolerance; /* relative: 0.10 = "may worsen by up to 10 %"; >= 0 */
    double tau;       /* mixing scale relative to the control level: x the
                         null rate (proportions), x |control mean| (means),
                         in log units (log-scale means); docs/guard.md */
    double alpha;     /* always-valid false-rollback bound, in (0, 1) */
    uint64_t min_per_arm; /* no verdict below this many units in an arm */
    bool no_bound;        /* skip harm_bound (left 0; the decision does not use
                             it): the simulator's fast path */
} guard_seq_spec;

/* The answer, with everything an audit entry should carry. */
typedef struct guard_seq_result {
    bool evaluated;       /* false: too few samples or no variance yet */
    bool regression;      /* always-valid p < alpha on the harmful side */
    double control;       /* control estimate */
    double treatment;     /* treatment estimate */
    double diff;          /* treatment - control (on the test's scale) */
    double margin;        /* harm threshold on diff's scale (from tolerance) */
    double excess;        /* how far diff is beyond margin, harmful side > 0 */
    double variance;      /* variance of excess used by the test */
    double tau;           /* absolute mixing scale used */
    double log_lr;        /* log of the one-sided mixture ratio */
    double p;             /* always-valid p for this look: min(1, 1/LR) */
    double cs_lo;         /* always-valid (1 - alpha) CS of diff */
    double cs_hi;         /*   "   */
    double design_effect; /* the variance factor the per-unit groups
                             showed (cluster-robust over independent,
                             at least 1); 1 without groups */
    double design_effect_hi; /* its upper 90 % bound (the cluster-robust
                                variance has G - 1 degrees of freedom):
                                what the evidence gate plans with; 1
                                without groups */
    double estimate;         /* diff corrected for stopping at the crossing
                                (guard_stopping_estimate on the excess) when
                                `regression`; diff otherwise */
    double harm_bound;       /* the test's one-sided always-valid bound on diff:
                                margin +- guard_msprt_bound_greater(excess, ...)
                                with the test's variance and tau; diff >= it when
                                higher is worse, diff <= it when lower is worse;
                                `regression` holds exactly when it is at or
                                beyond `margin` (docs/guard.md) */
} guard_seq_result;

/* Sequential test of a proportion (error rate, conversion): H0 "treatment
 * is not worse than control by more than the tolerance", i.e. for
 * GUARD_HIGHER_IS_WORSE p_t <= (1 + m) p_c, for GUARD_LOWER_IS_WORSE
 * p_t >= (1 - m) p_c. The variance is taken at the null-restricted
 * estimate, which for m = 0 is the usual pooled p(1-p)(1/n_t + 1/n_c).
 * VX_EINVAL on bad counts or spec; a result with evaluated == false is not
 * an error. */
vx_status guard_seq_proportion(uint64_t x_c, uint64_t n_c, uint64_t x_t,
                               uint64_t n_t, const guard_seq_spec *spec,
                               guard_seq_result *out);

/* The same tests stratified: one stratum per rollout epoch (the time a
 * milestone's percentage was in force). Within an epoch the allocation is
 * constant, so a baseline that drifts over time (daily cycles, an incident
 * hitting everyone) moves both arms alike; pooling epochs with different
 * allocations would turn that drift into a false difference. Proportions
 * combine strata with Mantel-Haenszel weights n_t n_c / (n_t + n_c) and a
 * per-stratum null variance at the all-strata restricted rate scaled by
 * the stratum's control baseline; means combine by inverse variance with
 * each arm's within-strata pooled variance. Empty strata are skipped;
 * floors apply to the totals. `control` / `treatment` in the result are
 * the totals' estimates, `diff` the stratified difference. At most
 * GUARD_MAX_STRATA strata. With one stratum these are exactly
 * guard_seq_proportion / guard_seq_mean. */
#define GUARD_MAX_STRATA 64

/* Units (users, context keys) hashed into GUARD_GROUPS fixed groups: all
 * requests of one unit land in one group, in every stratum and arm. The
 * per-group sums of a stratum's arm (`gn`: units of the metric, requests or
 * latency samples; `gy`: events or the sum of the values) let the tests
 * estimate the variance of the stratified difference with the groups as
 * clusters (cluster-robust, delta method), so errors that cluster per user
 * do not pass for independent evidence. Requests reported without a unit
 * are the arm's total minus the groups' and count as independent. */
#define GUARD_GROUPS VX_LIMIT_IMPACT_GROUPS

typedef struct guard_prop_stratum {
    uint64_t x_c;       /* control events */
    uint64_t n_c;       /* control units */
    uint64_t x_t;       /* treatment events */
    uint64_t n_t;       /* treatment units */
    const double *gn_c; /* control per-group requests [GUARD_GROUPS], or
                           NULL: the control's requests are independent */
    const double *gy_c; /* control per-group events (with gn_c) */
    const double *gn_t; /* treatment per-group requests, or NULL */
    const double *gy_t; /* treatment per-group events (with gn_t) */
} guard_prop_stratum;

vx_status guard_seq_proportion_strata(const guard_prop_stratum *s, size_t k,
                                      const guard_seq_spec *spec,
                                      guard_seq_result *out);

typedef struct guard_mean_stratum {
    guard_moments control;   /* the control's moments in the stratum */
    guard_moments treatment; /* the treatment's */
    const double *gn_c;      /* control per-group observation counts, or NULL */
    const double *gy_c;      /* control per-group sums of the values */
    const double *gn_t;      /* treatment per-group counts, or NULL */
    const double *gy_t;      /* treatment per-group sums */
} guard_mean_stratum;

/* Means use the within-strata pooled variance of each arm. */
vx_status guard_seq_mean_strata(const guard_mean_stratum *s, size_t k,
                                bool log_scale, const guard_seq_spec *spec,
                                guard_seq_result *out);

/* Sequential test of a difference of means from moments (use the moments
 * of log(latency) for latency: then diff is the log of the geometric-mean
 * ratio and the tolerance m becomes the margin log(1 + m)). With
 * `log_scale` false the margin is m * |mean_c| instead. */
vx_status guard_seq_mean(const guard_moments *control,
                         const guard_moments *treatment, bool log_scale,
                         const guard_seq_spec *spec, guard_seq_result *out);

/* Sequential test that a share is not above a fixed bound: k of n units had
 * the event, H0 "share <= bound" (0 < bound < 1). The null variance
 * bound (1 - bound) / n is exact, tau is spec->tau * bound; direction and
 * tolerance of `spec` are ignored (the caller folds the tolerance into the
 * event, e.g. "slower than 1.2 x the control p99"). Used for quantile
 * guards: if p99_t <= c then P_t(latency > c) <= 1 %. */
vx_status guard_seq_share_above(uint64_t k, uint64_t n, double bound,
                                const guard_seq_spec *spec,
                                guard_seq_result *out);

/* The quantile guard stratified by epoch: in stratum i the threshold is
 * c_i = (1 + tolerance) x the control's q-quantile of that stratum, and
 * the treatment's share above c_i is compared with 1 - q; strata combine
 * with the weights n_t n_c / (n_t + n_c). The variance under the null,
 * q (1 - q) (1/n_t + 1/n_c) per stratum, includes the sampling error of
 * the control's quantile (the control's own share above its estimated
 * quantile is 1 - q by construction). A stratum is used when its control
 * has at least 10 / (1 - q) values and its treatment any; the floors of
 * `spec` apply to the totals. `control` / `treatment` in the result are the
 * quantiles of all strata merged, `margin` the threshold over all strata;
 * diff, excess and the confidence sequence are on the share scale. `c` and
 * `t` are k sketches each (entries may be NULL: empty). */
struct guard_sketch;
vx_status guard_seq_quantile_strata(const struct guard_sketch *const *c,
                                    const struct guard_sketch *const *t,
                                    size_t k, double q, double tolerance,
                                    const guard_seq_spec *spec,
                                    guard_seq_result *out);

/* ---- evidence: power, boundaries, estimates --------------------------- */

/* The z = diff / sqrt(v) at which the one-sided mixture test rejects at
 * level alpha when r = tau^2 / v: the root of
 *   -1/2 log(1 + r) + z^2 r / (2 (1 + r)) + log(2 Phi(z sqrt(r / (1 + r))))
 *     = log(1 / alpha).
 * Requires r > 0 and 0 < alpha < 1; NAN otherwise. Pure. */
double guard_msprt_boundary_z(double r, double alpha);

/* How much data a one-sided mixture test at level alpha needs to detect an
 * effect theta > 0 (on its excess scale) with probability `power` at one
 * look, relative to the data it has: v0 is its variance now (under the
 * null, what the test uses), v1 the variance of the estimate under the
 * effect, tau the mixing scale. Scaling the data by s divides both by s;
 * the answer is the smallest s with
 *   theta - z*(tau^2 s / v0) sqrt(v0 / s) >= z_power sqrt(v1 / s)
 * (z* from guard_msprt_boundary_z, z_power the normal quantile of power).
 * s <= 1: the data suffice. Looking more often only adds power, so this is
 * conservative for a test that looks all along. INFINITY when an input is
 * not positive and finite or power is not in (0, 1). Pure. */
double guard_power_scale(double theta, double v0, double v1, double tau,
                         double alpha, double power);

/* The estimate at a crossing corrected for having stopped there. A test
 * that stops when its estimate first crosses a boundary reports estimates
 * that are high by selection (the winner's curse). For a boundary that is
 * level in the sum S = x / v, the first-passage information T of a
 * Brownian motion with drift theta is inverse Gaussian, so the estimate
 * c / T has mean theta + 1/c exactly, and x - v / x (1/c on the
 * estimate's scale at the crossing) is unbiased (Whitehead's bias
 * correction, in closed form). The mixture boundary rises slowly in S, so
 * this corrects a little less than the whole selection; docs/guard.md
 * measures what is left. x itself when x <= 0 or v is not positive and
 * finite. Pure. */
double guard_stopping_estimate(double x, double v);

/* ---- sample ratio mismatch -------------------------------------------- */

typedef struct guard_srm_result {
    bool evaluated; /* false if some arm had fewer than min_per_arm units */
    bool mismatch;  /* guard_srm_check: p < alpha; guard_srm_sequential:
                       p_always_valid < alpha */
    double chi2;    /* Pearson statistic */
    double df;      /* k - 1 */
    double p;       /* chi-square survival (fixed-horizon) */
    double p_always_valid; /* guard_srm_sequential only; 1 otherwise */
} guard_srm_result;

/* Pearson chi-square of observed counts against the expected split given by
 * non-negative `weights` (any scale), over k >= 2 arms. VX_EINVAL if k < 2,
 * a weight is negative or not finite, or all weights are 0; an arm with
 * weight 0 but observations is an infinite mismatch (p = 0). */
vx_status guard_srm_check(const uint64_t *observed, const double *weights,
                          size_t k, double alpha, uint64_t min_per_arm,
                          guard_srm_result *out);

/* The same question for two arms under continuous monitoring: the
 * treatment's share of n_control + n_treatment units against `share`
 * (0 < share < 1), with the two-sided normal-mixture SPRT of the share
 * (variance share (1 - share) / N exact under H0, mixing scale
 * tau_rel * share). Its log ratio is a function of chi2 alone:
 *   1/2 log(v / (v + tau^2)) + tau^2 chi2 / (2 (v + tau^2)),
 * so looking after every minute keeps P(false pause) <= alpha. Fills chi2
 * and p as guard_srm_check does; `mismatch` uses p_always_valid. */
vx_status guard_srm_sequential(uint64_t n_control, uint64_t n_treatment,
                               double share, double alpha, double tau_rel,
                               uint64_t min_per_arm, guard_srm_result *out);

/* The design effect of the treatment's share when units are sticky: with
 * per-group request counts of both arms (GUARD_GROUPS each; the requests
 * reported without a unit are the totals minus the groups' and count as
 * independent), the cluster-robust variance of the share over the
 * binomial r (1 - r) / N. A unit's requests all land in one arm, so the
 * share of requests varies more than requests drawn one by one would
 * (ten users in the treatment making 20 requests each are ten draws, not
 * two hundred). At least 1; 1 when either is NULL or fewer than ten groups
 * hold data. guard_srm_sequential's chi-square is divided by it (its
 * variance multiplied). Pure. */
double guard_srm_design_effect(uint64_t n_control, uint64_t n_treatment,
                               const double *gn_c, const double *gn_t);

/* guard_srm_sequential with the share's variance multiplied by `deff`
 * (>= 1; guard_srm_design_effect). */
vx_status guard_srm_sequential_deff(uint64_t n_control, uint64_t n_treatment,
                                    double share, double alpha, double tau_rel,
                                    uint64_t min_per_arm, double deff,
                                    guard_srm_result *out);

#endif
