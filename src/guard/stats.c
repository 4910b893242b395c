/* Statistics for guarded rollouts (see stats.h and docs/guard.md).
 *
 * Invariant: every function is pure and total: for any input it returns a
 * finite number or +-INFINITY, never NaN, and never reads state other than
 * its arguments. The special functions follow well-known algorithms (AS241,
 * the Numerical Recipes series / Lentz continued fractions); the unit tests
 * check them against textbook values. */
#include "guard/stats.h"

#include "guard/sketch.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define SQRT1_2 0.70710678118654752440
#define LN_2PI  1.8378770664093454836

/* ---- normal ------------------------------------------------------------ */

double guard_norm_cdf(double x)
{
    return 0.5 * erfc(-x * SQRT1_2);
}

double guard_norm_sf(double x)
{
    return 0.5 * erfc(x * SQRT1_2);
}

/* log Phi(x), accurate far in the lower tail where Phi underflows. */
static double log_norm_cdf(double x)
{
    if (x > -30.0)
        return log(guard_norm_cdf(x));
    /* Mills ratio: Phi(x) ~ phi(x)/(-x) * (1 - 1/x^2 + 3/x^4). */
    double x2 = x * x;
    return -0.5 * x2 - 0.5 * LN_2PI - log(-x) +
           log1p(-1.0 / x2 + 3.0 / (x2 * x2));
}

/* Wichura, Algorithm AS241 (PPND16), Applied Statistics 37 (1988). */
double guard_norm_quantile(double p)
{
    if (!(p > 0.0))
        return -INFINITY;
    if (!(p < 1.0))
        return INFINITY;
    double q = p - 0.5, r, val;
    if (fabs(q) <= 0.425) {
        r = 0.180625 - q * q;
        return q *
               (((((((2509.0809287301226727 * r + 33430.575583588128105) * r +
                     67265.770927008700853) *
                        r +
                    45921.953931549871457) *
                       r +
                   13731.693765509461125) *
                      r +
                  1971.5909503065514427) *
                     r +
                 133.14166789178437745) *
                    r +
                3.387132872796366608) /
               (((((((5226.495278852545925 * r + 28729.085735721942674) * r +
                     39307.89580009271061) *
                        r +
                    21213.794301586595867) *
                       r +
                   5394.1960214247511077) *
                      r +
                  687.1870074920579083) *
                     r +
                 42.313330701600911252) *
                    r +
                1.0);
    }
    r = q < 0 ? p : 1.0 - p;
    r = sqrt(-log(r));
    if (r <= 5.0) {
        r -= 1.6;
        val = (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) *
                        r +
                    0.24178072517745061177) *
                       r +
                   1.27045825245236838258) *
                      r +
                  3.64784832476320460504) *
                     r +
                 5.7694972214606914055) *
                    r +
                4.6303378461565452959) *
                   r +
               1.42343711074968357734) /
              (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) *
                        r +
                    0.0151986665636164571966) *
                       r +
                   0.14810397642748007459) *
                      r +
                  0.68976733498510000455) *
                     r +
                 1.6763848301838038494) *
                    r +
                2.05319162663775882187) *
                   r +
               1.0);
    } else {
        r -= 5.0;
        val =
            (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) *
                      r +
                  0.0012426609473880784386) *
                     r +
                 0.026532189526576123093) *
                    r +
                0.29656057182850489123) *
                   r +
               1.7848265399172913358) *
                  r +
              5.4637849111641143699) *
                 r +
             6.6579046435011037772) /
            (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) *
                      r +
                  1.8463183175100546818e-5) *
                     r +
                 7.868691311456132591e-4) *
                    r +
                0.0148753612908506148525) *
                   r +
               0.13692988092273580531) *
                  r +
              0.59983220655588793769) *
                 r +
             1.0);
    }
    return q < 0.0 ? -val : val;
}

/* ---- gamma and beta ---------------------------------------------------- */

#define SF_EPS   1e-15
#define SF_ITERS 10000
#define SF_TINY  1e-300

/* One step of Lentz's method for a continued fraction term a / (b + ...):
 * updates c and d (kept away from 0) and returns the factor for h. */
static double lentz_step(double *c, double *d, double a, double b)
{
    *d = b + a * *d;
    if (fabs(*d) < SF_TINY)
        *d = SF_TINY;
    *c = b + a / *c;
    if (fabs(*c) < SF_TINY)
        *c = SF_TINY;
    *d = 1.0 / *d;
    return *d * *c;
}

/* Q(a, x) by the series for P when x < a + 1, else Lentz's continued
 * fraction for Q (Numerical Recipes 6.2). */
double guard_gamma_q(double a, double x)
{
    if (!(a > 0.0) || isnan(x))
        return 1.0;
    if (x <= 0.0)
        return 1.0;
    if (isinf(x))
        return 0.0;
    double lpre = a * log(x) - x - lgamma(a);
    if (x < a + 1.0) {
        double ap = a, sum = 1.0 / a, del = sum;
        for (int i = 0; i < SF_ITERS; i++) {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * SF_EPS)
                break;
        }
        double pv = sum * exp(lpre);
        return pv >= 1.0 ? 0.0 : 1.0 - pv;
    }
    double b = x + 1.0 - a, c = 1.0 / SF_TINY, d = 1.0 / b, h = d;
    for (int i = 1; i < SF_ITERS; i++) {
        double an = -i * (i - a);
        b += 2.0;
        double del = lentz_step(&c, &d, an, b);
        h *= del;
        if (fabs(del - 1.0) < SF_EPS)
            break;
    }
    double qv = exp(lpre) * h;
    return qv > 1.0 ? 1.0 : qv;
}

double guard_chi2_sf(double x, double df)
{
    if (!(df > 0.0))
        return 1.0;
    if (isinf(x) && x > 0)
        return 0.0;
    return guard_gamma_q(0.5 * df, 0.5 * x);
}

/* Continued fraction for I_x(a, b) (Numerical Recipes 6.4, Lentz). */
static double betacf(double a, double b, double x)
{
    double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 - qab * x / qap;
    if (fabs(d) < SF_TINY)
        d = SF_TINY;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m < SF_ITERS; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        h *= lentz_step(&c, &d, aa, 1.0);
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        double del = lentz_step(&c, &d, aa, 1.0);
        h *= del;
        if (fabs(del - 1.0) < SF_EPS)
            break;
    }
    return h;
}

double guard_beta_inc(double a, double b, double x)
{
    if (!(x > 0.0))
        return 0.0;
    if (!(x < 1.0))
        return 1.0;
    double lbt =
        lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1.0) / (a + b + 2.0))
        return exp(lbt) * betacf(a, b, x) / a;
    return 1.0 - exp(lbt) * betacf(b, a, 1.0 - x) / b;
}

/* P(T >= t) for t >= 0. */
static double t_sf_pos(double t, double nu)
{
    if (nu > 1e7)
        return guard_norm_sf(t);
    return 0.5 * guard_beta_inc(0.5 * nu, 0.5, nu / (nu + t * t));
}

double guard_t_cdf(double t, double nu)
{
    if (isnan(t) || !(nu > 0.0))
        return 0.5;
    return t >= 0.0 ? 1.0 - t_sf_pos(t, nu) : t_sf_pos(-t, nu);
}

double guard_t_quantile(double p, double nu)
{
    if (!(p > 0.0))
        return -INFINITY;
    if (!(p < 1.0))
        return INFINITY;
    if (p == 0.5)
        return 0.0;
    if (nu > 1e7)
        return guard_norm_quantile(p);
    /* Solve P(T >= t) = tail for t >= 0 by bisection on a bracket that
     * doubles until it holds the root; 200 halvings reach double precision
     * for any bracket a double can hold. */
    double tail = p < 0.5 ? p : 1.0 - p;
    double lo = 0.0, hi = 1.0;
    while (t_sf_pos(hi, nu) > tail && hi < 1e300)
        hi *= 2.0;
    for (int i = 0; i < 200 && hi - lo > 1e-15 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (t_sf_pos(mid, nu) > tail)
            lo = mid;
        else
            hi = mid;
    }
    double t = 0.5 * (lo + hi);
    return p < 0.5 ? -t : t;
}

/* ---- moments ----------------------------------------------------------- */

double guard_moments_mean(const guard_moments *m)
{
    return m->n > 0.0 ? m->sum / m->n : 0.0;
}

double guard_moments_var(const guard_moments *m)
{
    if (!(m->n >= 2.0))
        return 0.0;
    double mean = m->sum / m->n;
    double v = (m->sumsq - m->n * mean * mean) / (m->n - 1.0);
    return v > 0.0 && isfinite(v) ? v : 0.0;
}

/* ---- fixed-horizon comparisons ----------------------------------------- */

static bool alpha_ok(double alpha)
{
    return alpha > 0.0 && alpha < 1.0;
}

static void fill_pvalues(guard_compare *o)
{
    if (o->df == INFINITY) {
        o->p_greater = guard_norm_sf(o->stat);
        o->p_less = guard_norm_cdf(o->stat);
    } else if (o->stat >= 0.0) {
        o->p_greater = t_sf_pos(o->stat, o->df);
        o->p_less = 1.0 - o->p_greater;
    } else {
        o->p_less = t_sf_pos(-o->stat, o->df);
        o->p_greater = 1.0 - o->p_less;
    }
    double small = o->p_greater < o->p_less ? o->p_greater : o->p_less;
    o->p_two_sided = 2.0 * small > 1.0 ? 1.0 : 2.0 * small;
}

/* Relative difference and its CI from the log ratio with variance
 * var_log; `q` is the two-sided critical value. */
static void fill_relative(guard_compare *o, double var_log, double q)
{
    o->rel = o->control != 0.0 ? o->treatment / o->control - 1.0 : 0.0;
    o->rel_ci_lo = -INFINITY;
    o->rel_ci_hi = INFINITY;
    if (o->control > 0.0 && o->treatment > 0.0 && var_log > 0.0 &&
        isfinite(var_log)) {
        double lr = log(o->treatment / o->control), h = q * sqrt(var_log);
        o->rel_ci_lo = expm1(lr - h);
        o->rel_ci_hi = expm1(lr + h);
    }
}

vx_status guard_prop_compare(uint64_t x_c, uint64_t n_c, uint64_t x_t,
                             uint64_t n_t, double alpha, guard_compare *out)
{
    memset(out, 0, sizeof *out);
    out->p_two_sided = out->p_greater = out->p_less = 1.0;
    if (n_c == 0 || n_t == 0 || x_c > n_c || x_t > n_t || !alpha_ok(alpha))
        return VX_EINVAL;
    double nc = (double)n_c, nt = (double)n_t;
    double pc = (double)x_c / nc, pt = (double)x_t / nt;
    double pool = (double)(x_c + x_t) / (nc + nt);
    double se0 = sqrt(pool * (1.0 - pool) * (1.0 / nt + 1.0 / nc));
    double q = guard_norm_quantile(1.0 - alpha / 2.0);
    out->control = pc;
    out->treatment = pt;
    out->diff = pt - pc;
    out->se = sqrt(pt * (1.0 - pt) / nt + pc * (1.0 - pc) / nc);
    out->ci_lo = out->diff - q * out->se;
    out->ci_hi = out->diff + q * out->se;
    out->stat = se0 > 0.0 ? out->diff / se0 : 0.0;
    out->df = INFINITY;
    fill_pvalues(out);
    double var_log = x_c > 0 && x_t > 0 ? 1.0 / (double)x_t - 1.0 / nt +
                                              1.0 / (double)x_c - 1.0 / nc
                                        : 0.0;
    fill_relative(out, var_log, q);
    return VX_OK;
}

vx_status guard_welch_compare(const guard_moments *control,
                              const guard_moments *treatment, double alpha,
                              guard_compare *out)
{
    memset(out, 0, sizeof *out);
    out->p_two_sided = out->p_greater = out->p_less = 1.0;
    if (!alpha_ok(alpha) || !(control->n >= 2.0) || !(treatment->n >= 2.0))
        return VX_EINVAL;
    double mc = guard_moments_mean(control), mt = guard_moments_mean(treatment);
    double vc = guard_moments_var(control) / control->n;
    double vt = guard_moments_var(treatment) / treatment->n;
    if (!(vc + vt > 0.0) || !isfinite(mc) || !isfinite(mt))
        return VX_EINVAL;
    out->control = mc;
    out->treatment = mt;
    out->diff = mt - mc;
    out->se = sqrt(vc + vt);
    out->df = (vc + vt) * (vc + vt) /
              (vc * vc / (control->n - 1.0) + vt * vt / (treatment->n - 1.0));
    out->stat = out->diff / out->se;
    double q = guard_t_quantile(1.0 - alpha / 2.0, out->df);
    out->ci_lo = out->diff - q * out->se;
    out->ci_hi = out->diff + q * out->se;
    fill_pvalues(out);
    double var_log =
        mc != 0.0 && mt != 0.0 ? vt / (mt * mt) + vc / (mc * mc) : 0.0;
    fill_relative(out, var_log, q);
    return VX_OK;
}

/* ---- mixture SPRT ------------------------------------------------------ */

double guard_msprt_log_lr(double diff, double v, double tau, double theta0)
{
    double t2 = tau * tau, d = diff - theta0;
    return 0.5 * log(v / (v + t2)) + t2 * d * d / (2.0 * v * (v + t2));
}

double guard_msprt_log_lr_greater(double diff, double v, double tau,
                                  double theta0)
{
    double t2 = tau * tau, d = diff - theta0;
    double s = d * tau / sqrt(v * (v + t2));
    return M_LN2 + log_norm_cdf(s) + guard_msprt_log_lr(diff, v, tau, theta0);
}

double guard_msprt_cs_halfwidth(double v, double tau, double alpha)
{
    double t2 = tau * tau;
    return sqrt(v * (v + t2) / t2 *
                (2.0 * log(1.0 / alpha) + log((v + t2) / v)));
}

double guard_msprt_bound_greater(double diff, double v, double tau,
                                 double alpha)
{
    if (!(v > 0.0) || !(tau > 0.0) || !alpha_ok(alpha) || !isfinite(v) ||
        !isfinite(tau) || !isfinite(diff))
        return -INFINITY;
    double crit = -log(alpha);
    /* Bracket: theta0 = diff is never rejected (the ratio is below 1
     * there); diff - h, with h the two-sided half-width at the same v and
     * tau, is, since 2 Phi(s) > 1 for s > 0. Rounding may blur the lower
     * end, so widen it while it is not rejected. `lo` stays rejected, `hi`
     * not, and the loop ends when they are adjacent doubles, so the
     * rejected set is exactly (-inf, lo] wherever the ratio is monotone. */
    double hi = diff, h = guard_msprt_cs_halfwidth(v, tau, alpha);
    double lo = diff - h;
    bool rejected = guard_msprt_log_lr_greater(diff, v, tau, lo) >= crit;
    for (int i = 0; i < 64 && !rejected; i++) {
        h *= 2.0;
        lo = diff - h;
        rejected = guard_msprt_log_lr_greater(diff, v, tau, lo) >= crit;
    }
    if (!rejected)
        return -INFINITY;
    for (int i = 0; i < 2200; i++) {
        double mid = lo + 0.5 * (hi - lo);
        if (!(mid > lo && mid < hi))
            break;
        if (guard_msprt_log_lr_greater(diff, v, tau, mid) >= crit)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static bool spec_ok(const guard_seq_spec *s)
{
    if (s->direction != GUARD_HIGHER_IS_WORSE &&
        s->direction != GUARD_LOWER_IS_WORSE)
        return false;
    if (!(s->tolerance >= 0.0) || !isfinite(s->tolerance))
        return false;
    if (s->direction == GUARD_LOWER_IS_WORSE && !(s->tolerance < 1.0))
        return false;
    return s->tau > 0.0 && isfinite(s->tau) && alpha_ok(s->alpha);
}

static void seq_reset(guard_seq_result *out)
{
    memset(out, 0, sizeof *out);
    out->p = 1.0;
    out->design_effect = out->design_effect_hi = 1.0;
}

/* The common tail: the one-sided mixture on `excess` with variance v, its
 * bound on diff's scale (harm_bound), the confidence sequence on diff with
 * variance v_diff. `higher`: harm is a larger diff. */
static void seq_finish(guard_seq_result *out, double v, double v_diff,
                       double tau, const guard_seq_spec *spec, bool higher)
{
    double alpha = spec->alpha;
    if (!(v > 0.0) || !(tau > 0.0) || !isfinite(v)) {
        out->evaluated = false;
        return;
    }
    out->evaluated = true;
    out->variance = v;
    out->tau = tau;
    out->estimate = out->diff;
    out->log_lr = guard_msprt_log_lr_greater(out->excess, v, tau, 0.0);
    out->p = out->log_lr > 0.0 ? exp(-out->log_lr) : 1.0;
    out->regression = out->log_lr >= -log(alpha);
    if (out->regression) {
        /* the excess corrected for having stopped on the boundary,
         * moved to diff's scale */
        double ex = guard_stopping_estimate(out->excess, v);
        out->estimate = out->diff - (higher ? 1.0 : -1.0) * (out->excess - ex);
    }
    double h = guard_msprt_cs_halfwidth(v_diff > 0.0 ? v_diff : v, tau, alpha);
    out->cs_lo = out->diff - h;
    out->cs_hi = out->diff + h;
    /* excess is diff - margin (higher) or margin - diff (lower) up to the
     * stratum weighting, so the bound on excess moves to diff's scale by
     * the margin. The test rejects exactly when the excess bound is >= 0;
     * adding the margin can round a bound a hair below 0 onto the margin,
     * and ulp-level wobble of the ratio could do the opposite, so the
     * last two lines keep "regression iff the bound is at or beyond the
     * margin" exact (they move the bound by at most a rounding error). */
    if (spec->no_bound)
        return;
    double b = guard_msprt_bound_greater(out->excess, v, tau, alpha);
    double hb = higher ? out->margin + b : out->margin - b;
    bool beyond = higher ? hb >= out->margin : hb <= out->margin;
    if (out->regression && !beyond)
        hb = out->margin;
    else if (!out->regression && beyond)
        hb = nextafter(out->margin, higher ? -INFINITY : INFINITY);
    out->harm_bound = hb;
}

vx_status guard_seq_proportion(uint64_t x_c, uint64_t n_c, uint64_t x_t,
                               uint64_t n_t, const guard_seq_spec *spec,
                               guard_seq_result *out)
{
    guard_prop_stratum one = {x_c, n_c, x_t, n_t, NULL, NULL, NULL, NULL};
    return guard_seq_proportion_strata(&one, 1, spec, out);
}

/* Combination over strata with weights w that do not depend on the
 * outcomes: the combined excess is sum(w ex) / sum(w), its variance
 * sum(w^2 v) / sum(w)^2 (v the stratum's null variance). With one stratum
 * the weight cancels. See guard_seq_proportion_strata for the choice. */
typedef struct strata_sum {
    double w;      /* sum of weights */
    double excess; /* sum of w * excess */
    double diff;   /* sum of w * diff */
    double var;    /* sum of w^2 * v */
    double vdiff;  /* sum of w^2 * v_diff */
} strata_sum;

static void strata_add(strata_sum *a, double w, double excess, double diff,
                       double v, double v_diff)
{
    if (!(w > 0.0) || !isfinite(w) || !isfinite(v) || !isfinite(v_diff))
        return;
    a->w += w;
    a->excess += w * excess;
    a->diff += w * diff;
    a->var += w * w * v;
    a->vdiff += w * w * v_diff;
}

/* Writes the combined excess and difference into out; returns v. */
static double strata_finish(const strata_sum *a, guard_seq_result *out,
                            double *v_diff)
{
    if (!(a->w > 0.0)) {
        *v_diff = 0.0;
        return 0.0;
    }
    out->excess = a->excess / a->w;
    out->diff = a->diff / a->w;
    *v_diff = a->vdiff / (a->w * a->w);
    return a->var / (a->w * a->w);
}

/* The cluster-robust variance of a stratified difference, accumulated
 * stratum by stratum: the difference is linear in each cell's residuals
 * (an arm's events minus its rate times its units, over its units), so
 * with weight w_i its per-group contribution is
 *   r_g = sum_i w_i (res_t,i,g / n_t,i - f res_c,i,g / n_c,i),
 * the groups are independent (a unit lives in one group), and
 *   v_cl = G/(G - 1) sum_g r_g^2 / W^2  (+ the ungrouped units' binomial
 *                                        or sample variance)
 * with G the groups that hold data. `ind` is the same variance with every
 * unit independent; their ratio is the design effect. */
typedef struct cluster_sum {
    double r[GUARD_GROUPS]; /* per-group weighted residual sums */
    double loose;           /* sum of w^2 var of ungrouped units */
    double ind;             /* sum of w^2 var with units independent */
    bool any;               /* some stratum had groups */
    bool used[GUARD_GROUPS];
} cluster_sum;

/* The fewest groups with data for a cluster-robust variance to mean
 * anything; below it a test with per-unit groups gives no verdict. */
#define GUARD_MIN_GROUPS 10

/* Pseudo-events that pull a stratum's baseline towards the whole's. */
#define GUARD_STRATUM_PRIOR 10.0

/* Adds one arm of one stratum: `m` its mean (rate), `n` its units, `s2`
 * its per-unit variance, `gn` / `gy` its groups (may be NULL), `coef` the
 * arm's coefficient in the difference times the stratum's weight (w for
 * the treatment, -f w for the control). */
static void cluster_add(cluster_sum *a, double coef, double m, double n,
                        double s2, const double *gn, const double *gy)
{
    if (!(n > 0.0))
        return;
    double grouped = 0.0;
    a->ind += coef * coef * s2 / n;
    if (gn && gy) {
        a->any = true;
        for (size_t g = 0; g < GUARD_GROUPS; g++) {
            if (!(gn[g] > 0.0))
                continue;
            a->used[g] = true;
            grouped += gn[g];
            a->r[g] += coef * (gy[g] - m * gn[g]) / n;
        }
    }
    double loose = n - grouped;
    if (loose > 0.0)
        a->loose += coef * coef * s2 * loose / (n * n);
}

/* The design effect (>= 1), or 0 when groups are present but too few hold
 * data to estimate it (no verdict then). 1 without groups. `*hi` gets its
 * upper 90 % bound: the cluster-robust variance is roughly chi-square with
 * G - 1 degrees of freedom, so v (G - 1) / chi2_{G-1}(0.10) (the quantile
 * by Wilson-Hilferty). */
static double cluster_deff(const cluster_sum *a, double *hi)
{
    *hi = 1.0;
    if (!a->any)
        return 1.0;
    double ss = 0.0, g = 0.0;
    for (size_t i = 0; i < GUARD_GROUPS; i++) {
        if (!a->used[i])
            continue;
        ss += a->r[i] * a->r[i];
        g += 1.0;
    }
    if (g < GUARD_MIN_GROUPS)
        return 0.0;
    double v = g / (g - 1.0) * ss + a->loose;
    if (!(a->ind > 0.0) || !isfinite(v))
        return 1.0;
    double d = v / a->ind, k = g - 1.0, h = 2.0 / (9.0 * k);
    double q = 1.0 - h - 1.2815515655446004 * sqrt(h);
    double up = q > 0.0 ? d / (q * q * q) : d;
    *hi = up > 1.0 ? up : 1.0;
    return d > 1.0 ? d : 1.0;
}

vx_status guard_seq_proportion_strata(const guard_prop_stratum *s, size_t k,
                                      const guard_seq_spec *spec,
                                      guard_seq_result *out)
{
    seq_reset(out);
    if (k == 0 || k > GUARD_MAX_STRATA || !spec_ok(spec))
        return VX_EINVAL;
    uint64_t xc = 0, nc = 0, xt = 0, nt = 0;
    for (size_t i = 0; i < k; i++) {
        if (s[i].x_c > s[i].n_c || s[i].x_t > s[i].n_t)
            return VX_EINVAL;
        xc += s[i].x_c;
        nc += s[i].n_c;
        xt += s[i].x_t;
        nt += s[i].n_t;
    }
    if (nc == 0 || nt == 0 || nc < spec->min_per_arm || nt < spec->min_per_arm)
        return VX_OK;
    bool higher = spec->direction == GUARD_HIGHER_IS_WORSE;
    double m = spec->tolerance, f = higher ? 1.0 + m : 1.0 - m;
    double pc = (double)xc / (double)nc, pt = (double)xt / (double)nt;
    out->control = pc;
    out->treatment = pt;
    out->margin = higher ? m * pc : -m * pc;
    double p_null = (double)(xc + xt) / (f * (double)nt + (double)nc);
    /* No event in either arm: no regression to see (the difference is 0),
     * but a verdict all the same, with the variance of a continuity-
     * corrected rate so the interval says how small the rate can be. */
    if (xc + xt == 0)
        p_null = 0.5 / ((double)nc + (double)nt + 1.0);
    double pc_all = pc;
    strata_sum acc = {0};
    cluster_sum cl;
    memset(&cl, 0, sizeof cl);
    for (size_t i = 0; i < k; i++) {
        if (s[i].n_c == 0 || s[i].n_t == 0)
            continue;
        double ncs = (double)s[i].n_c, nts = (double)s[i].n_t;
        double pcs = (double)s[i].x_c / ncs, pts = (double)s[i].x_t / nts;
        /* The null-restricted rate: the all-strata estimate on the
         * boundary p_t = f p_c (exact MLE for Poisson counts; the pooled
         * rate when f == 1), scaled by the stratum's baseline relative to
         * the whole, read from the control (the large arm; +1/2 shrinks a
         * tiny stratum towards 1). With one stratum this is the plain
         * restricted estimate. A stratum's own restricted rate would be
         * inflated by its treatment share under a regression and cost
         * power for nothing. */
        double g = pc_all > 0.0 ? ((double)s[i].x_c + GUARD_STRATUM_PRIOR) /
                                      (ncs * pc_all + GUARD_STRATUM_PRIOR)
                                : 1.0;
        double pc0 = p_null * g;
        if (pc0 > 1.0)
            pc0 = 1.0;
        double pt0 = f * pc0 > 1.0 ? 1.0 : f * pc0;
        double v = pt0 * (1.0 - pt0) / nts + f * f * pc0 * (1.0 - pc0) / ncs;
        double vd = pts * (1.0 - pts) / nts + pcs * (1.0 - pcs) / ncs;
        /* Mantel-Haenszel weight n_t n_c / (n_t + n_c): proportional to the
         * inverse variance when the strata share a rate, and free of the
         * outcomes, so a stratum with more treatment errors is not
         * down-weighted for it. */
        double w = nts * ncs / (nts + ncs);
        strata_add(&acc, w, higher ? pts - f * pcs : f * pcs - pts, pts - pcs,
                   v, vd);
        cluster_add(&cl, w, pts, nts, pts * (1.0 - pts), s[i].gn_t, s[i].gy_t);
        cluster_add(&cl, -f * w, pcs, ncs, pcs * (1.0 - pcs), s[i].gn_c,
                    s[i].gy_c);
    }
    double v_diff, v = strata_finish(&acc, out, &v_diff), deff_hi;
    double deff = cluster_deff(&cl, &deff_hi);
    if (!(deff > 0.0))
        return VX_OK; /* groups, but too few to judge clustering: hold */
    out->design_effect = deff;
    out->design_effect_hi = deff_hi;
    seq_finish(out, v * deff, v_diff * deff,
               spec->tau * (p_null > 1.0 ? 1.0 : p_null), spec, higher);
    return VX_OK;
}

vx_status guard_seq_mean(const guard_moments *control,
                         const guard_moments *treatment, bool log_scale,
                         const guard_seq_spec *spec, guard_seq_result *out)
{
    guard_mean_stratum one = {*control, *treatment, NULL, NULL, NULL, NULL};
    return guard_seq_mean_strata(&one, 1, log_scale, spec, out);
}

/* Sum of squared deviations from the mean of one moment set. */
static double moments_ss(const guard_moments *m)
{
    if (!(m->n >= 1.0))
        return 0.0;
    double ss = m->sumsq - m->sum * m->sum / m->n;
    return ss > 0.0 && isfinite(ss) ? ss : 0.0;
}

vx_status guard_seq_mean_strata(const guard_mean_stratum *s, size_t k,
                                bool log_scale, const guard_seq_spec *spec,
                                guard_seq_result *out)
{
    seq_reset(out);
    if (k == 0 || k > GUARD_MAX_STRATA || !spec_ok(spec))
        return VX_EINVAL;
    guard_moments tc = {0, 0, 0}, tt = {0, 0, 0};
    double ssc = 0, sst = 0, dfc = 0, dft = 0;
    for (size_t i = 0; i < k; i++) {
        const guard_moments *c = &s[i].control, *t = &s[i].treatment;
        if (!(c->n >= 0.0) || !(t->n >= 0.0) || !isfinite(c->sum) ||
            !isfinite(t->sum))
            return VX_EINVAL;
        tc.n += c->n;
        tc.sum += c->sum;
        tt.n += t->n;
        tt.sum += t->sum;
        /* within-stratum spread: shifts of the mean between strata (a
         * drifting baseline) do not inflate the variance */
        ssc += moments_ss(c);
        sst += moments_ss(t);
        dfc += c->n >= 1.0 ? c->n - 1.0 : 0.0;
        dft += t->n >= 1.0 ? t->n - 1.0 : 0.0;
    }
    double floor_n = spec->min_per_arm > 2 ? (double)spec->min_per_arm : 2.0;
    if (tc.n < floor_n || tt.n < floor_n || dfc < 1.0 || dft < 1.0)
        return VX_OK;
    bool higher = spec->direction == GUARD_HIGHER_IS_WORSE;
    double m = spec->tolerance;
    double mc = guard_moments_mean(&tc), mt = guard_moments_mean(&tt);
    double varc = ssc / dfc, vart = sst / dft;
    out->control = mc;
    out->treatment = mt;
    double f = 1.0, tau = spec->tau, lmargin = 0.0;
    if (log_scale) {
        lmargin = higher ? log1p(m) : log1p(-m);
        out->margin = lmargin;
    } else {
        f = higher ? 1.0 + m : 1.0 - m;
        out->margin = higher ? m * mc : -m * mc;
        tau = spec->tau * fabs(mc);
    }
    strata_sum acc = {0};
    cluster_sum cl;
    memset(&cl, 0, sizeof cl);
    for (size_t i = 0; i < k; i++) {
        const guard_moments *c = &s[i].control, *t = &s[i].treatment;
        if (!(c->n >= 1.0) || !(t->n >= 1.0))
            continue;
        double ys = guard_moments_mean(t), yc = guard_moments_mean(c);
        double ex;
        if (log_scale)
            ex = higher ? ys - yc - lmargin : lmargin - (ys - yc);
        else
            ex = higher ? ys - f * yc : f * yc - ys;
        double v = vart / t->n + f * f * varc / c->n;
        /* the pooled variances are shared, so 1/v is the inverse-variance
         * weight and does not depend on the stratum's outcomes */
        strata_add(&acc, 1.0 / v, ex, ys - yc, v, vart / t->n + varc / c->n);
        cluster_add(&cl, 1.0 / v, ys, t->n, vart, s[i].gn_t, s[i].gy_t);
        cluster_add(&cl, -f / v, yc, c->n, varc, s[i].gn_c, s[i].gy_c);
    }
    double v_diff, v = strata_finish(&acc, out, &v_diff), deff_hi;
    double deff = cluster_deff(&cl, &deff_hi);
    if (!(deff > 0.0))
        return VX_OK;
    out->design_effect = deff;
    out->design_effect_hi = deff_hi;
    seq_finish(out, v * deff, v_diff * deff, tau, spec, higher);
    return VX_OK;
}

vx_status guard_seq_share_above(uint64_t k, uint64_t n, double bound,
                                const guard_seq_spec *spec,
                                guard_seq_result *out)
{
    seq_reset(out);
    if (k > n || !spec_ok(spec) || !(bound > 0.0 && bound < 1.0))
        return VX_EINVAL;
    if (n == 0 || n < spec->min_per_arm)
        return VX_OK;
    double share = (double)k / (double)n;
    out->control = bound;
    out->treatment = share;
    out->diff = share - bound;
    out->excess = out->diff;
    double v = bound * (1.0 - bound) / (double)n;
    double v_diff = share * (1.0 - share) / (double)n;
    seq_finish(out, v, v_diff, spec->tau * bound, spec, true);
    return VX_OK;
}

vx_status guard_seq_quantile_strata(const guard_sketch *const *c,
                                    const guard_sketch *const *t, size_t k,
                                    double q, double tolerance,
                                    const guard_seq_spec *spec,
                                    guard_seq_result *out)
{
    seq_reset(out);
    if (k == 0 || k > GUARD_MAX_STRATA || !spec_ok(spec) ||
        !(q >= 0.5 && q < 1.0) || !(tolerance >= 0.0) || !isfinite(tolerance))
        return VX_EINVAL;
    double floor_c = ceil(10.0 / (1.0 - q)), nt_all = 0.0, nc_all = 0.0;
    double thr_w = 0.0, thr_sum = 0.0;
    strata_sum acc = {0};
    for (size_t i = 0; i < k; i++) {
        const guard_sketch *cs = c ? c[i] : NULL, *ts = t ? t[i] : NULL;
        if (!cs || !ts || (double)cs->count < floor_c || ts->count == 0)
            continue;
        double nc = (double)cs->count, nt = (double)ts->count;
        double thr = (1.0 + tolerance) * guard_sketch_quantile(cs, q);
        double share = (double)guard_sketch_count_above(ts, thr) / nt;
        double v = q * (1.0 - q) * (1.0 / nt + 1.0 / nc);
        double vd = share * (1.0 - share) / nt + q * (1.0 - q) / nc;
        double w = nt * nc / (nt + nc);
        strata_add(&acc, w, share - (1.0 - q), share - (1.0 - q), v, vd);
        thr_sum += w * thr;
        thr_w += w;
        nt_all += nt;
        nc_all += nc;
    }
    double floor_n =
        spec->min_per_arm > floor_c ? (double)spec->min_per_arm : floor_c;
    if (!(thr_w > 0.0) || nt_all < floor_n || nc_all < floor_n)
        return VX_OK;
    /* the quantiles of all strata together, for people (16 KiB) */
    guard_sketch mc[2];
    guard_sketch_init(&mc[0]);
    guard_sketch_init(&mc[1]);
    for (size_t i = 0; i < k; i++) {
        if (c && c[i])
            guard_sketch_merge(&mc[0], c[i]);
        if (t && t[i])
            guard_sketch_merge(&mc[1], t[i]);
    }
    double qc = guard_sketch_quantile(&mc[0], q);
    double qt = guard_sketch_quantile(&mc[1], q);
    double v_diff, v = strata_finish(&acc, out, &v_diff);
    seq_finish(out, v, v_diff, spec->tau * (1.0 - q), spec, true);
    out->control = qc;
    out->treatment = qt;
    out->margin = thr_sum / thr_w;
    return VX_OK;
}

/* ---- evidence ------------------------------------------------------------ */

/* log of the one-sided mixture ratio as a function of z = diff / sqrt(v)
 * and r = tau^2 / v (guard_msprt_log_lr_greater rewritten). */
static double log_lr_z(double z, double r)
{
    double a = r / (1.0 + r);
    return M_LN2 + log_norm_cdf(z * sqrt(a)) - 0.5 * log1p(r) + 0.5 * z * z * a;
}

double guard_msprt_boundary_z(double r, double alpha)
{
    if (!(r > 0.0) || !isfinite(r) || !alpha_ok(alpha))
        return NAN;
    double crit = -log(alpha), a = r / (1.0 + r), sa = sqrt(a);
    /* log_lr_z rises in z >= 0 (every term does). Without the log Phi
     * term (< 0) the root is g below, so the root is at least g: bracket
     * upwards from there, then safeguarded Newton. */
    double g2 = 2.0 * (crit - M_LN2 + 0.5 * log1p(r)) / a;
    double lo = g2 > 0.0 ? sqrt(g2) : 0.0, hi = lo > 0.0 ? 1.25 * lo : 1.0;
    while (log_lr_z(hi, r) < crit && hi < 1e12) {
        lo = hi;
        hi *= 2.0;
    }
    double z = hi;
    for (int i = 0; i < 100; i++) {
        double f = log_lr_z(z, r) - crit;
        if (f >= 0.0)
            hi = z;
        else
            lo = z;
        double u = z * sa;
        double mills = exp(-0.5 * u * u - 0.5 * LN_2PI - log_norm_cdf(u));
        double d = sa * mills + z * a;
        double next = d > 0.0 ? z - f / d : 0.5 * (lo + hi);
        if (!(next > lo && next < hi))
            next = 0.5 * (lo + hi);
        if (fabs(next - z) <= 1e-13 * (z > 1.0 ? z : 1.0))
            return next;
        z = next;
    }
    return z;
}

/* theta x - z*(tau^2 x^2 / v0) sqrt(v0) - z_p sqrt(v1): the margin of
 * detection with the data scaled by x^2. */
static double power_gap(double x, double theta, double v0, double v1, double t2,
                        double alpha, double zp)
{
    double z = guard_msprt_boundary_z(t2 * x * x / v0, alpha);
    return theta * x - z * sqrt(v0) - zp * sqrt(v1);
}

double guard_power_scale(double theta, double v0, double v1, double tau,
                         double alpha, double power)
{
    if (!(theta > 0.0) || !(v0 > 0.0) || !(v1 > 0.0) || !(tau > 0.0) ||
        !isfinite(theta) || !isfinite(v0) || !isfinite(v1) || !isfinite(tau) ||
        !alpha_ok(alpha) || !(power > 0.0 && power < 1.0))
        return INFINITY;
    double zp = guard_norm_quantile(power), t2 = tau * tau;
    /* The gap rises with x for all x that matter (theta x grows linearly,
     * the boundary only like sqrt(log x)) and is nearly straight: bracket,
     * then regula falsi (Illinois) to a relative 1e-10 of x. */
    double lo = 0.0, hi = 1.0;
    double flo = power_gap(lo, theta, v0, v1, t2, alpha, zp);
    double fhi = power_gap(hi, theta, v0, v1, t2, alpha, zp);
    while (fhi < 0.0) {
        lo = hi;
        flo = fhi;
        hi *= 4.0;
        if (hi > 1e9)
            return INFINITY;
        fhi = power_gap(hi, theta, v0, v1, t2, alpha, zp);
    }
    if (!isfinite(flo))
        flo = -INFINITY;
    int side = 0;
    for (int i = 0; i < 200 && hi - lo > 1e-10 * hi; i++) {
        double x = isfinite(flo) && fhi - flo > 0.0
                       ? hi - fhi * (hi - lo) / (fhi - flo)
                       : 0.5 * (lo + hi);
        if (!(x > lo && x < hi))
            x = 0.5 * (lo + hi);
        double fx = power_gap(x, theta, v0, v1, t2, alpha, zp);
        if (fx >= 0.0) {
            hi = x;
            fhi = fx;
            if (side == 1)
                flo *= 0.5;
            side = 1;
        } else {
            lo = x;
            flo = fx;
            if (side == -1)
                fhi *= 0.5;
            side = -1;
        }
    }
    return hi * hi;
}

double guard_stopping_estimate(double x, double v)
{
    if (!(x > 0.0) || !(v > 0.0) || !isfinite(x) || !isfinite(v))
        return x;
    return x - v / x;
}

/* ---- sample ratio mismatch --------------------------------------------- */

vx_status guard_srm_check(const uint64_t *observed, const double *weights,
                          size_t k, double alpha, uint64_t min_per_arm,
                          guard_srm_result *out)
{
    memset(out, 0, sizeof *out);
    out->p = out->p_always_valid = 1.0;
    if (k < 2 || !alpha_ok(alpha))
        return VX_EINVAL;
    double wsum = 0.0, total = 0.0;
    for (size_t i = 0; i < k; i++) {
        if (!(weights[i] >= 0.0) || !isfinite(weights[i]))
            return VX_EINVAL;
        wsum += weights[i];
        total += (double)observed[i];
    }
    if (!(wsum > 0.0))
        return VX_EINVAL;
    double chi2 = 0.0;
    size_t arms = 0;
    bool enough = true;
    for (size_t i = 0; i < k; i++) {
        double e = total * weights[i] / wsum, o = (double)observed[i];
        if (weights[i] == 0.0) {
            if (observed[i] > 0)
                chi2 = INFINITY;
            continue;
        }
        arms++;
        if (e < (double)min_per_arm)
            enough = false;
        if (e > 0.0)
            chi2 += (o - e) * (o - e) / e;
    }
    out->chi2 = chi2;
    out->df = arms > 1 ? (double)(arms - 1) : 1.0;
    if (!enough && !isinf(chi2))
        return VX_OK;
    out->evaluated = true;
    out->p = isinf(chi2) ? 0.0 : guard_chi2_sf(chi2, out->df);
    out->mismatch = out->p < alpha;
    return VX_OK;
}

double guard_srm_design_effect(uint64_t n_control, uint64_t n_treatment,
                               const double *gn_c, const double *gn_t)
{
    double nc = (double)n_control, nt = (double)n_treatment, n = nc + nt;
    if (!gn_c || !gn_t || !(nc > 0.0) || !(nt > 0.0))
        return 1.0;
    double r = nt / n, ss = 0.0, g = 0.0, gc = 0.0, gt = 0.0;
    for (size_t i = 0; i < GUARD_GROUPS; i++) {
        double t = gn_t[i] > 0.0 ? gn_t[i] : 0.0;
        double c = gn_c[i] > 0.0 ? gn_c[i] : 0.0;
        if (t + c <= 0.0)
            continue;
        double res = t - r * (t + c);
        ss += res * res;
        g += 1.0;
        gc += c;
        gt += t;
    }
    if (g < GUARD_MIN_GROUPS)
        return 1.0;
    /* requests without a unit: independent draws of the split */
    double loose =
        (nc - gc > 0.0 ? nc - gc : 0.0) + (nt - gt > 0.0 ? nt - gt : 0.0);
    double v = (g / (g - 1.0) * ss + loose * r * (1.0 - r)) / (n * n);
    double vb = r * (1.0 - r) / n;
    double d = vb > 0.0 ? v / vb : 1.0;
    return d > 1.0 && isfinite(d) ? d : 1.0;
}

vx_status guard_srm_sequential(uint64_t n_control, uint64_t n_treatment,
                               double share, double alpha, double tau_rel,
                               uint64_t min_per_arm, guard_srm_result *out)
{
    return guard_srm_sequential_deff(n_control, n_treatment, share, alpha,
                                     tau_rel, min_per_arm, 1.0, out);
}

vx_status guard_srm_sequential_deff(uint64_t n_control, uint64_t n_treatment,
                                    double share, double alpha, double tau_rel,
                                    uint64_t min_per_arm, double deff,
                                    guard_srm_result *out)
{
    memset(out, 0, sizeof *out);
    out->p = out->p_always_valid = 1.0;
    if (!(share > 0.0 && share < 1.0) || !alpha_ok(alpha) || !(tau_rel > 0.0) ||
        !isfinite(tau_rel))
        return VX_EINVAL;
    uint64_t obs[2] = {n_control, n_treatment};
    double w[2] = {1.0 - share, share};
    vx_status st = guard_srm_check(obs, w, 2, alpha, min_per_arm, out);
    out->p_always_valid = 1.0;
    out->mismatch = false;
    if (st != VX_OK || !out->evaluated)
        return st;
    if (!(deff >= 1.0) || !isfinite(deff))
        deff = 1.0;
    double n = (double)n_control + (double)n_treatment;
    double v = deff * share * (1.0 - share) / n, tau = tau_rel * share;
    double t2 = tau * tau;
    /* chi2 = z^2 at the binomial variance; the test's z^2 is chi2 / deff */
    double llr =
        0.5 * log(v / (v + t2)) + t2 * (out->chi2 / deff) / (2.0 * (v + t2));
    out->p_always_valid = llr > 0.0 ? exp(-llr) : 1.0;
    out->mismatch = out->p_always_valid < alpha;
    return VX_OK;
}
