/* Statistics for guarded rollouts (see stats.h and docs/guard.md).
 *
 * Invariant: every function is pure and total: for any input it returns a
 * finite number or +-INFINITY, never NaN, and never reads state other than
 * its arguments. The special functions follow well-known algorithms (AS241,
 * the Numerical Recipes series / Lentz continued fractions); the unit tests
 * check them against textbook values. */
#include "guard/stats.h"

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
}

/* The common tail: the one-sided mixture on `excess` with variance v, its
 * bound on diff's scale (harm_bound), the confidence sequence on diff with
 * variance v_diff. `higher`: harm is a larger diff. */
static void seq_finish(guard_seq_result *out, double v, double v_diff,
                       double tau, double alpha, bool higher)
{
    if (!(v > 0.0) || !(tau > 0.0) || !isfinite(v)) {
        out->evaluated = false;
        return;
    }
    out->evaluated = true;
    out->variance = v;
    out->tau = tau;
    out->log_lr = guard_msprt_log_lr_greater(out->excess, v, tau, 0.0);
    out->p = out->log_lr > 0.0 ? exp(-out->log_lr) : 1.0;
    out->regression = out->log_lr >= -log(alpha);
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
    guard_prop_stratum one = {x_c, n_c, x_t, n_t};
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
    double pc_all = pc;
    strata_sum acc = {0};
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
        double g = ((double)s[i].x_c + 0.5) / (ncs * pc_all + 0.5);
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
        strata_add(&acc, nts * ncs / (nts + ncs),
                   higher ? pts - f * pcs : f * pcs - pts, pts - pcs, v, vd);
    }
    double v_diff, v = strata_finish(&acc, out, &v_diff);
    seq_finish(out, v, v_diff, spec->tau * (p_null > 1.0 ? 1.0 : p_null),
               spec->alpha, higher);
    return VX_OK;
}

vx_status guard_seq_mean(const guard_moments *control,
                         const guard_moments *treatment, bool log_scale,
                         const guard_seq_spec *spec, guard_seq_result *out)
{
    guard_mean_stratum one = {*control, *treatment};
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
    }
    double v_diff, v = strata_finish(&acc, out, &v_diff);
    seq_finish(out, v, v_diff, tau, spec->alpha, higher);
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
    seq_finish(out, v, v_diff, spec->tau * bound, spec->alpha, true);
    return VX_OK;
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

vx_status guard_srm_sequential(uint64_t n_control, uint64_t n_treatment,
                               double share, double alpha, double tau_rel,
                               uint64_t min_per_arm, guard_srm_result *out)
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
    double n = (double)n_control + (double)n_treatment;
    double v = share * (1.0 - share) / n, tau = tau_rel * share;
    double t2 = tau * tau;
    double llr = 0.5 * log(v / (v + t2)) + t2 * out->chi2 / (2.0 * (v + t2));
    out->p_always_valid = llr > 0.0 ? exp(-llr) : 1.0;
    out->mismatch = out->p_always_valid < alpha;
    return VX_OK;
}
