/* Unit tests for src/guard/stats.c against reference values computed
 * independently of this code. Each expectation names its source:
 *   [notes]     the design notes behind docs/guard.md (sections 3.1-3.5,
 *               kept outside this repository): values computed by hand
 *               there with the standard formulas (recomputable as for
 *               [py]), or the GrowthBook test vector quoted there (gbstats,
 *               test_two_sided_ttest_absolute);
 *   [table]     a textbook statistical table value;
 *   [closed]    a closed form evaluated with python3's math module;
 *   [py]        python3 (stdlib only: math, statistics.NormalDist), with the
 *               formula written out in the comment;
 *   [mc]        a Monte-Carlo property checked in the test itself;
 *   [vec]       tests/unit/guard/vectors/guard_vectors.py (mpmath, 50
 *               digits, the formulas of docs/guard.md written anew). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard/sketch.h"
#include "guard/stats.h"

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

static void test_normal(void **state)
{
    (void)state;
    /* [notes 3.1] the critical values */
    rel_near(guard_norm_quantile(0.95), 1.6448536269514722, 1e-14);
    rel_near(guard_norm_quantile(0.975), 1.959963984540054, 1e-14);
    rel_near(guard_norm_quantile(0.99), 2.3263478740408408, 1e-14);
    rel_near(guard_norm_quantile(0.999), 3.090232306167813, 1e-14);
    rel_near(guard_norm_quantile(0.025), -1.959963984540054, 1e-14);
    /* [py] NormalDist().inv_cdf(1e-10) (the far-tail branch) */
    rel_near(guard_norm_quantile(1e-10), -6.361340902404056, 1e-13);
    /* [py] NormalDist().cdf */
    rel_near(guard_norm_cdf(1.96), 0.9750021048517796, 1e-14);
    rel_near(guard_norm_cdf(-3.0), 0.0013498980316301035, 1e-13);
    /* [closed] 0.5 erfc(8 / sqrt 2): the tail keeps its precision */
    rel_near(guard_norm_sf(8.0), 6.220960574271819e-16, 1e-12);
    assert_true(isinf(guard_norm_quantile(0.0)));
    assert_true(isinf(guard_norm_quantile(1.0)));
    /* round trip over the whole range */
    for (double p = 1e-12; p < 1.0;
         p = p < 0.5 ? p * 3.1 : 1.0 - (1.0 - p) / 3.1) {
        rel_near(guard_norm_cdf(guard_norm_quantile(p)), p, 1e-12);
        if (p > 0.9999999)
            break;
    }
}

static void test_chi2(void **state)
{
    (void)state;
    /* [table] 5 % critical values of chi-square */
    near(guard_chi2_sf(3.841458820694124, 1), 0.05, 1e-12);
    near(guard_chi2_sf(5.991464547107979, 2), 0.05, 1e-12);
    near(guard_chi2_sf(11.070497693516351, 5), 0.05, 1e-12);
    near(guard_chi2_sf(18.307038053275146, 10), 0.05, 1e-12);
    /* [closed] df 2: exp(-x/2); df 4: exp(-x/2)(1 + x/2);
     * df 6: exp(-x/2)(1 + x/2 + x^2/8) */
    rel_near(guard_chi2_sf(3.0, 2), 0.22313016014842982, 1e-13);
    rel_near(guard_chi2_sf(7.0, 4), 0.13588822540043324, 1e-13);
    rel_near(guard_chi2_sf(20.0, 6), 0.0027693957155115762, 1e-12);
    /* [notes 3.5] chi2 16 and 1 at df 1 */
    rel_near(guard_chi2_sf(16.0, 1), 6.334e-5, 1e-3);
    rel_near(guard_chi2_sf(1.0, 1), 0.3173, 1e-3);
    near(guard_chi2_sf(0.0, 3), 1.0, 0);
}

static void test_student_t(void **state)
{
    (void)state;
    /* [table] two-sided 5 % and 1 % critical values */
    rel_near(guard_t_quantile(0.975, 1), 12.706204736174698, 1e-10);
    rel_near(guard_t_quantile(0.975, 10), 2.228138851986274, 1e-10);
    rel_near(guard_t_quantile(0.995, 30), 2.749995652, 1e-8);
    rel_near(guard_t_quantile(0.025, 10), -2.228138851986274, 1e-10);
    /* [closed] df 1 is Cauchy: 1/2 + atan(t)/pi; df 2: 1/2 + t/(2 sqrt(2+t^2))
     */
    rel_near(guard_t_cdf(1.5, 1), 0.5 + atan(1.5) / M_PI, 1e-13);
    rel_near(guard_t_cdf(-0.7, 2), 0.5 - 0.7 / (2 * sqrt(2 + 0.49)), 1e-13);
    /* [py] Simpson integration of the t density (lgamma), fractional df */
    rel_near(guard_t_cdf(1.7, 2.5), 0.8971938914200539, 1e-9);
    rel_near(guard_t_cdf(2.1, 7.3), 0.9638766432875807, 1e-9);
    near(guard_t_cdf(0.0, 4), 0.5, 1e-15);
}

static void test_prop_compare(void **state)
{
    (void)state;
    guard_compare c;
    /* [notes 3.2] control 100/10,000, treatment 150/10,000 */
    assert_int_equal(guard_prop_compare(100, 10000, 150, 10000, 0.05, &c),
                     VX_OK);
    near(c.diff, 0.005, 1e-15);
    rel_near(c.stat, 3.182229, 1e-6);
    rel_near(c.p_greater, 7.307e-4, 1e-3);
    rel_near(c.p_two_sided, 1.461e-3, 1e-3);
    rel_near(c.se, 0.00157083, 1e-5);
    near(c.ci_lo, 0.001921, 1e-6);
    near(c.ci_hi, 0.008079, 1e-6);
    assert_true(c.p_less > 0.99);
    /* [py] Katz log risk-ratio CI: exp(log(1.5) -+ 1.96 sqrt(1/150 - 1/1e4
     * + 1/100 - 1/1e4)) - 1 */
    near(c.rel, 0.5, 1e-12);
    rel_near(c.rel_ci_lo, 0.166441439560149, 1e-9);
    rel_near(c.rel_ci_hi, 0.9289438146577234, 1e-9);
    /* bad input */
    assert_int_equal(guard_prop_compare(1, 0, 1, 10, 0.05, &c), VX_EINVAL);
    assert_int_equal(guard_prop_compare(11, 10, 1, 10, 0.05, &c), VX_EINVAL);
    assert_int_equal(guard_prop_compare(1, 10, 1, 10, 1.0, &c), VX_EINVAL);
    /* no events at all: no evidence either way, and no NaN */
    assert_int_equal(guard_prop_compare(0, 10, 0, 10, 0.05, &c), VX_OK);
    near(c.p_two_sided, 1.0, 0);
    assert_true(isinf(c.rel_ci_hi));
}

static void test_welch(void **state)
{
    (void)state;
    /* [notes 3.3] GrowthBook test_two_sided_ttest_absolute: A (control) sum
     * 1396.87, sumsq 52377.9767, n 3407; B sum 2422.7, sumsq 134698.29,
     * n 3461 -> diff 0.29, CI (0.04538, 0.53462), p 0.02016 */
    guard_moments a = {3407, 1396.87, 52377.9767};
    guard_moments b = {3461, 2422.7, 134698.29};
    guard_compare c;
    assert_int_equal(guard_welch_compare(&a, &b, 0.05, &c), VX_OK);
    near(c.diff, 0.29, 1e-12);
    rel_near(c.se, 0.12478363158758794, 1e-10);
    near(c.ci_lo, 0.04538, 1e-5);
    near(c.ci_hi, 0.53462, 1e-5);
    near(c.p_two_sided, 0.02016, 1e-5);
    /* [py] Welch-Satterthwaite df from the same moments */
    rel_near(c.df, 5841.742032093565, 1e-9);
    assert_int_equal(
        guard_welch_compare(&(guard_moments){1, 1, 1}, &b, 0.05, &c),
        VX_EINVAL);
    guard_moments flat = {10, 10, 10}; /* variance 0 in both arms */
    assert_int_equal(guard_welch_compare(&flat, &flat, 0.05, &c), VX_EINVAL);
}

static void test_msprt_vectors(void **state)
{
    (void)state;
    /* [notes 3.4c] Delta 0.005, pooled v 2.46875e-6 */
    double v = 0.0125 * 0.9875 * (2.0 / 10000);
    rel_near(guard_msprt_log_lr(0.005, v, 0.005, 0), 3.40356, 1e-5);
    rel_near(guard_msprt_log_lr(0.005, v, 0.01, 0), 3.07838, 1e-5);
    rel_near(guard_msprt_log_lr(0.005, v, 0.02, 0), 2.48528, 1e-5);
    rel_near(exp(-guard_msprt_log_lr(0.005, v, 0.01, 0)), 0.0460, 1e-3);
    /* [py] one-sided: log(2 Phi(d tau / sqrt(v (v + tau^2)))) + log L */
    rel_near(guard_msprt_log_lr_greater(0.005, v, 0.005, 0), 4.0955072602308,
             1e-10);
    rel_near(guard_msprt_log_lr_greater(0.005, v, 0.01, 0), 3.770692355755226,
             1e-10);
    rel_near(guard_msprt_log_lr_greater(-0.005, v, 0.01, 0), -3.317459386316507,
             1e-9);
    /* far on the wrong side stays finite */
    assert_true(isfinite(guard_msprt_log_lr_greater(-1.0, v, 0.01, 0)));
    /* [py] CS half-width sqrt(v (v+t^2)/t^2 (2 log 20 + log((v+t^2)/v))) */
    rel_near(guard_msprt_cs_halfwidth(v, 0.01, 0.05), 0.004958009048897181,
             1e-10);
}

/* The one-sided bound of the half-normal mixture (guard_msprt_bound_greater):
 * the test sits at its threshold there, and it is never farther from diff
 * than the two-sided confidence sequence with the same v and tau. */
static void test_msprt_bound(void **state)
{
    (void)state;
    double v = 0.0125 * 0.9875 * (2.0 / 10000); /* [notes 3.4c] */
    /* [py] bisection to 1e-300 on log(2 Phi(s)) + log L = log(1/0.05),
     * s = d tau / sqrt(v (v + tau^2)), bound = 0.005 - d */
    rel_near(guard_msprt_bound_greater(0.005, v, 0.005, 0.05),
             0.0006354837902946033, 1e-9);
    rel_near(guard_msprt_bound_greater(0.005, v, 0.01, 0.05),
             0.00040818158540296273, 1e-9);
    rel_near(guard_msprt_bound_greater(0.005, v, 0.02, 0.05),
             9.113524728538054e-05, 1e-8);
    /* it is the edge of the rejected set, to the last bit */
    double b = guard_msprt_bound_greater(0.005, v, 0.01, 0.05);
    assert_true(guard_msprt_log_lr_greater(0.005, v, 0.01, b) >= log(20.0));
    assert_true(guard_msprt_log_lr_greater(0.005, v, 0.01,
                                           nextafter(b, INFINITY)) < log(20.0));
    /* a shift of diff shifts the bound */
    rel_near(guard_msprt_bound_greater(-0.005, v, 0.01, 0.05) + 0.01, b, 1e-9);
    /* nothing is ruled out without a valid variance, tau or alpha */
    assert_true(isinf(guard_msprt_bound_greater(0.005, 0.0, 0.01, 0.05)));
    assert_true(isinf(guard_msprt_bound_greater(0.005, v, 0.0, 0.05)));
    assert_true(isinf(guard_msprt_bound_greater(0.005, v, 0.01, 1.0)));
    assert_true(isinf(guard_msprt_bound_greater(NAN, v, 0.01, 0.05)));
    /* never wider than the two-sided sequence, and never above diff, over
     * twelve decades of v / tau^2 and alphas from 1e-4 to 0.5 */
    for (double vv = 1e-10; vv < 10.0; vv *= 7.3)
        for (double tau = 1e-4; tau < 3.0; tau *= 5.1)
            for (double a = 1e-4; a < 0.6; a *= 4.0) {
                double bb = guard_msprt_bound_greater(0.25, vv, tau, a);
                double h = guard_msprt_cs_halfwidth(vv, tau, a);
                assert_true(bb < 0.25);
                assert_true(bb >= 0.25 - h);
                assert_true(guard_msprt_log_lr_greater(0.25, vv, tau, bb) >=
                            -log(a));
            }
}

/* The harm bound of a verdict (guard_seq_result.harm_bound) against the
 * verdict itself: the test rejects exactly when the bound is at or beyond
 * the margin, and the bound is never farther out than the two-sided
 * sequence at the test's own variance and tau. */
static void check_harm_bound(const guard_seq_result *r, guard_direction dir,
                             double alpha)
{
    assert_true(r->evaluated);
    bool higher = dir == GUARD_HIGHER_IS_WORSE;
    bool beyond =
        higher ? r->harm_bound >= r->margin : r->harm_bound <= r->margin;
    if (beyond != r->regression) {
        print_error("regression %d, bound %.17g, margin %.17g\n", r->regression,
                    r->harm_bound, r->margin);
        fail();
    }
    /* on the excess scale: margin -+ (excess - h) is the two-sided end */
    double h = guard_msprt_cs_halfwidth(r->variance, r->tau, alpha);
    double slack = 1e-12 * (fabs(r->margin) + fabs(r->excess) + h);
    if (higher) {
        assert_true(r->harm_bound >= r->margin + r->excess - h - slack);
        assert_true(r->harm_bound <= r->margin + r->excess + slack);
    } else {
        assert_true(r->harm_bound <= r->margin - r->excess + h + slack);
        assert_true(r->harm_bound >= r->margin - r->excess - slack);
    }
}

static void test_harm_bound(void **state)
{
    (void)state;
    guard_seq_result r;
    /* [notes 3.2] 100/10,000 vs 150/10,000, the test of test_seq_proportion
     * at tolerance 10 %: not a regression, bound [py] 0.005 - d below the
     * margin 0.001, and inside the two-sided sequence */
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.10, 0.5, 0.05, 100};
    assert_int_equal(guard_seq_proportion(100, 10000, 150, 10000, &spec, &r),
                     VX_OK);
    check_harm_bound(&r, spec.direction, spec.alpha);
    rel_near(r.harm_bound, 0.0003944033755026149, 1e-8);
    assert_true(r.harm_bound > r.cs_lo);
    /* at tolerance 0 and tau 0.01 it is a regression, bound [py] 0.000408 */
    spec.tolerance = 0.0;
    spec.tau = 0.01 / 0.0125;
    assert_int_equal(guard_seq_proportion(100, 10000, 150, 10000, &spec, &r),
                     VX_OK);
    check_harm_bound(&r, spec.direction, spec.alpha);
    assert_true(r.regression);
    rel_near(r.harm_bound, 0.00040818158540296273, 1e-9);
    assert_true(r.harm_bound > r.cs_lo);
    /* lower is worse mirrors it: an upper bound on diff */
    guard_seq_spec conv = {GUARD_LOWER_IS_WORSE, 0.0, 0.1, 0.05, 100};
    assert_int_equal(guard_seq_proportion(1000, 10000, 900, 10000, &conv, &r),
                     VX_OK);
    check_harm_bound(&r, conv.direction, conv.alpha);
    assert_false(r.regression); /* p 0.11: not yet */
    assert_true(r.harm_bound > 0.0 && r.harm_bound > r.diff);
    assert_int_equal(guard_seq_proportion(1000, 10000, 850, 10000, &conv, &r),
                     VX_OK);
    check_harm_bound(&r, conv.direction, conv.alpha);
    assert_true(r.regression);
    assert_true(r.harm_bound < 0.0 && r.harm_bound > r.diff);

    /* the grid: both directions, four tolerances, three tau, arms from
     * balanced to 1 %, base rates 0.5 % to 40 %, ratios 0.5 to 3 */
    const double tols[4] = {0.0, 0.05, 0.2, 0.5}, taus[3] = {0.1, 0.5, 2.0};
    int regs = 0, not_regs = 0;
    for (int dir = 0; dir < 2; dir++)
        for (int ti = 0; ti < 4; ti++)
            for (int ui = 0; ui < 3; ui++)
                for (uint64_t nc = 1000; nc <= 1000000; nc *= 10)
                    for (uint64_t nt = 200; nt <= nc; nt *= 5)
                        for (double pc = 0.005; pc < 0.5; pc *= 3.0)
                            for (double rr = 0.5; rr < 3.1; rr += 0.25) {
                                guard_seq_spec sp = {
                                    dir ? GUARD_LOWER_IS_WORSE
                                        : GUARD_HIGHER_IS_WORSE,
                                    tols[ti], taus[ui], 0.05 / 3, 100};
                                uint64_t xc = (uint64_t)(pc * nc + 0.5);
                                uint64_t xt = (uint64_t)(pc * rr * nt + 0.5);
                                if (xt > nt)
                                    continue;
                                assert_int_equal(guard_seq_proportion(
                                                     xc, nc, xt, nt, &sp, &r),
                                                 VX_OK);
                                if (!r.evaluated)
                                    continue;
                                check_harm_bound(&r, sp.direction, sp.alpha);
                                regs += r.regression;
                                not_regs += !r.regression;
                            }
    /* the grid holds plenty of both verdicts */
    assert_true(regs > 1000 && not_regs > 1000);

    /* [notes 3.3] the GrowthBook Welch vector as means (0.41 vs 0.70,
     * lower is worse and higher is worse, several tolerances), and
     * log-latency means */
    guard_moments a = {3407, 1396.87, 52377.9767};
    guard_moments bm = {3461, 2422.7, 134698.29};
    for (int dir = 0; dir < 2; dir++)
        for (double m = 0.0; m < 0.95; m += 0.15) {
            guard_seq_spec sp = {dir ? GUARD_LOWER_IS_WORSE
                                     : GUARD_HIGHER_IS_WORSE,
                                 m, 0.1, 0.05, 100};
            assert_int_equal(guard_seq_mean(&a, &bm, false, &sp, &r), VX_OK);
            check_harm_bound(&r, sp.direction, sp.alpha);
            assert_int_equal(guard_seq_mean(&bm, &a, false, &sp, &r), VX_OK);
            check_harm_bound(&r, sp.direction, sp.alpha);
        }
    for (double mt = 5.2; mt < 5.5; mt += 0.01) {
        guard_moments c = {2000, 2000 * 5.3,
                           2000 * (0.25 * 1999 / 2000 + 5.3 * 5.3)};
        guard_moments t = {2000, 2000 * mt,
                           2000 * (0.25 * 1999 / 2000 + mt * mt)};
        guard_seq_spec sp = {GUARD_HIGHER_IS_WORSE, 0.05, 0.1, 0.05, 100};
        assert_int_equal(guard_seq_mean(&c, &t, true, &sp, &r), VX_OK);
        check_harm_bound(&r, sp.direction, sp.alpha);
    }
    /* the stratified vector of test_seq_strata (a regression) */
    guard_prop_stratum st[3] = {
        {99, 9900, 3, 100}, {95, 9500, 15, 500}, {110, 7500, 60, 2500}};
    assert_int_equal(guard_seq_proportion_strata(st, 3, &spec, &r), VX_OK);
    check_harm_bound(&r, spec.direction, spec.alpha);
    spec.tolerance = 0.10;
    spec.tau = 0.5;
    assert_int_equal(guard_seq_proportion_strata(st, 3, &spec, &r), VX_OK);
    check_harm_bound(&r, spec.direction, spec.alpha);
    assert_true(r.regression);
    /* quantile guards: k of 2,000 above a 1 % bound, margin 0 */
    guard_seq_spec q = {GUARD_HIGHER_IS_WORSE, 0.0, 0.5, 0.05, 100};
    for (uint64_t k = 0; k <= 80; k++) {
        assert_int_equal(guard_seq_share_above(k, 2000, 0.01, &q, &r), VX_OK);
        check_harm_bound(&r, q.direction, q.alpha);
    }
}

static void test_seq_proportion(void **state)
{
    (void)state;
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.10, 0.5, 0.05, 100};
    guard_seq_result r;
    /* [py] tolerance 10 %: p_c0 = 250/(1.1*1e4 + 1e4), v at the
     * null-restricted estimate, tau = 0.5 p_c0, one-sided mixture */
    assert_int_equal(guard_seq_proportion(100, 10000, 150, 10000, &spec, &r),
                     VX_OK);
    assert_true(r.evaluated);
    rel_near(r.variance, 2.715702947845805e-06, 1e-10);
    near(r.excess, 0.004, 1e-15);
    rel_near(r.tau, 0.005952380952380952, 1e-12);
    rel_near(r.log_lr, 2.098360293823621, 1e-10);
    rel_near(r.p, 0.12265738552514073, 1e-9);
    assert_false(r.regression);
    near(r.margin, 0.001, 1e-15);
    rel_near(r.cs_lo, 0.0002017261845464061, 1e-8);
    rel_near(r.cs_hi, 0.009798273815453593, 1e-10);

    /* tolerance 0 reduces to the pooled variance of notes 3.4c, and with
     * tau = 0.01 absolute (tau_rel = 0.01 / 0.0125) its one-sided ratio */
    spec.tolerance = 0.0;
    spec.tau = 0.01 / 0.0125;
    assert_int_equal(guard_seq_proportion(100, 10000, 150, 10000, &spec, &r),
                     VX_OK);
    rel_near(r.variance, 2.46875e-6, 1e-12);
    rel_near(r.log_lr, 3.770692355755226, 1e-10);
    assert_true(r.regression); /* p 0.023 < 0.05 */

    /* [py] conversion, lower is worse: 1000/1e4 vs 900/1e4, m 0, tau 0.1 */
    guard_seq_spec conv = {GUARD_LOWER_IS_WORSE, 0.0, 0.1, 0.05, 100};
    assert_int_equal(guard_seq_proportion(1000, 10000, 900, 10000, &conv, &r),
                     VX_OK);
    rel_near(r.variance, 1.7195e-05, 1e-10);
    rel_near(r.log_lr, 2.2057960230619984, 1e-10);
    near(r.diff, -0.01, 1e-15);
    /* the same data read as "higher is worse" is no evidence of harm */
    conv.direction = GUARD_HIGHER_IS_WORSE;
    assert_int_equal(guard_seq_proportion(1000, 10000, 900, 10000, &conv, &r),
                     VX_OK);
    assert_false(r.regression);
    assert_true(r.p > 0.99);

    /* below the floor: no verdict, not an error */
    assert_int_equal(guard_seq_proportion(5, 99, 50, 99, &spec, &r), VX_OK);
    assert_false(r.evaluated);
    assert_false(r.regression);
    /* no event in either arm: a verdict (nothing is worse), the variance
     * of a continuity-corrected rate 0.5 / (2000 + 1) for the interval:
     * an error-free candidate is not held for want of a verdict */
    assert_int_equal(guard_seq_proportion(0, 1000, 0, 1000, &spec, &r), VX_OK);
    assert_true(r.evaluated);
    assert_false(r.regression);
    near(r.diff, 0.0, 0.0);
    near(r.p, 1.0, 0.0);
    assert_true(r.cs_lo < 0.0 && r.cs_hi > 0.0 && r.cs_hi < 0.01);
    /* bad spec */
    spec.alpha = 0;
    assert_int_equal(guard_seq_proportion(1, 1000, 1, 1000, &spec, &r),
                     VX_EINVAL);
    conv.direction = GUARD_LOWER_IS_WORSE;
    conv.tolerance = 1.0;
    assert_int_equal(guard_seq_proportion(1, 1000, 1, 1000, &conv, &r),
                     VX_EINVAL);
}

static void test_seq_mean(void **state)
{
    (void)state;
    /* log-latency: control mean 5.3, treatment 5.4 (about +10.5 %),
     * variance 0.25 each, n 2000 each; tolerance 5 % -> margin log(1.05).
     * [py] v = 0.25/2000*2 = 2.5e-4; excess = 0.1 - log(1.05)
     *      = 0.05120983583056796; log L one-sided with tau 0.1 */
    guard_moments c = {2000, 2000 * 5.3,
                       2000 * (0.25 * 1999 / 2000 + 5.3 * 5.3)};
    guard_moments t = {2000, 2000 * 5.4,
                       2000 * (0.25 * 1999 / 2000 + 5.4 * 5.4)};
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.05, 0.1, 0.05, 100};
    guard_seq_result r;
    assert_int_equal(guard_seq_mean(&c, &t, true, &spec, &r), VX_OK);
    assert_true(r.evaluated);
    rel_near(r.variance, 2.5e-4, 1e-8);
    rel_near(r.margin, log(1.05), 1e-12);
    rel_near(r.excess, 0.1 - log(1.05), 1e-9);
    /* [py] 0.5*log(v/(v+.01)) + .01*e^2/(2v(v+.01)) + log(2*Phi(e*.1/
     *      sqrt(v(v+.01)))) with e = 0.051209834, v = 2.5e-4 */
    rel_near(r.log_lr, 3.952641824311812, 1e-8);
    assert_true(r.regression);
    /* a 20 % tolerance covers it */
    spec.tolerance = 0.20;
    assert_int_equal(guard_seq_mean(&c, &t, true, &spec, &r), VX_OK);
    assert_false(r.regression);
    /* below the floor */
    guard_moments small = {50, 50 * 5.3, 50 * (5.3 * 5.3 + 0.25)};
    assert_int_equal(guard_seq_mean(&small, &t, true, &spec, &r), VX_OK);
    assert_false(r.evaluated);
}

/* Stratified by rollout epoch (guard_seq_proportion_strata). */
static void test_seq_strata(void **state)
{
    (void)state;
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.10, 0.5, 0.05, 100};
    guard_seq_result r, one;
    /* [vec] three epochs at 1 / 5 / 25 %: Mantel-Haenszel weights
     * n_t n_c / (n_t + n_c); null rate (x_c + x_t)/(1.1 n_t + n_c) scaled
     * per epoch by (x_c,e + 10)/(n_c,e p_c + 10); one-sided mixture with
     * tau = 0.5 x the null rate; CS with the unpooled variances */
    guard_prop_stratum s[3] = {
        {99, 9900, 3, 100}, {95, 9500, 15, 500}, {110, 7500, 60, 2500}};
    assert_int_equal(guard_seq_proportion_strata(s, 3, &spec, &r), VX_OK);
    assert_true(r.evaluated);
    rel_near(r.excess, 0.010476112699060841, 1e-12);
    rel_near(r.diff, 0.011833401388321762, 1e-12);
    rel_near(r.variance, 6.7067716563372532e-06, 1e-12);
    rel_near(r.log_lr, 6.7255150749536694, 1e-10);
    rel_near(r.p, 0.0011999023806522714, 1e-9);
    rel_near(r.cs_lo, 0.00244572224583634, 1e-9);
    rel_near(r.cs_hi, 0.021221080530807186, 1e-10);
    assert_true(r.regression);
    /* totals for display */
    near(r.control, 304.0 / 26900, 1e-15);
    near(r.treatment, 78.0 / 3100, 1e-15);

    /* an empty epoch changes nothing; one epoch is the plain test */
    guard_prop_stratum two[2] = {{100, 10000, 150, 10000}, {0, 0, 0, 0}};
    assert_int_equal(guard_seq_proportion_strata(two, 2, &spec, &r), VX_OK);
    assert_int_equal(guard_seq_proportion(100, 10000, 150, 10000, &spec, &one),
                     VX_OK);
    near(r.log_lr, one.log_lr, 1e-12);
    near(r.variance, one.variance, 1e-18);

    /* Simpson: the baseline doubles between an epoch at 1 % and one at
     * 50 %, the same in both arms. Pooled, the treatment (mostly in the
     * late epoch) looks 1.9x worse; stratified, it is not. */
    spec.tolerance = 0.0;
    guard_prop_stratum drift[2] = {{990, 99000, 10, 1000},
                                   {1000, 50000, 1000, 50000}};
    assert_int_equal(
        guard_seq_proportion(1990, 149000, 1010, 51000, &spec, &one), VX_OK);
    assert_true(one.regression);
    assert_int_equal(guard_seq_proportion_strata(drift, 2, &spec, &r), VX_OK);
    assert_true(r.evaluated);
    assert_false(r.regression);
    near(r.diff, 0.0, 1e-15);

    /* means: log-latency 0.3 higher for everyone in the late epoch */
    guard_mean_stratum ms[2] = {
        {{99000, 99000 * 5.3, 99000 * (5.3 * 5.3 + 0.25)},
         {1000, 1000 * 5.3, 1000 * (5.3 * 5.3 + 0.25)}},
        {{50000, 50000 * 5.6, 50000 * (5.6 * 5.6 + 0.25)},
         {50000, 50000 * 5.6, 50000 * (5.6 * 5.6 + 0.25)}}};
    guard_moments pc = {149000, ms[0].control.sum + ms[1].control.sum,
                        ms[0].control.sumsq + ms[1].control.sumsq};
    guard_moments pt = {51000, ms[0].treatment.sum + ms[1].treatment.sum,
                        ms[0].treatment.sumsq + ms[1].treatment.sumsq};
    spec.tau = 0.1;
    assert_int_equal(guard_seq_mean(&pc, &pt, true, &spec, &one), VX_OK);
    assert_true(one.regression);
    assert_int_equal(guard_seq_mean_strata(ms, 2, true, &spec, &r), VX_OK);
    assert_true(r.evaluated);
    assert_false(r.regression);
    near(r.diff, 0.0, 1e-9);
    /* within-epoch variance: 0.25, not inflated by the shift */
    assert_true(r.variance < 1.01 * (0.25 / 51000 + 0.25 / 149000) * 1.5);

    /* constant values: no variance anywhere, no verdict (and no NaN) */
    guard_mean_stratum flat[2] = {{{500, 500, 500}, {500, 500, 500}},
                                  {{500, 1000, 2000}, {500, 1000, 2000}}};
    assert_int_equal(guard_seq_mean_strata(flat, 2, true, &spec, &r), VX_OK);
    assert_false(r.evaluated);
    assert_false(isnan(r.diff) || isnan(r.p));

    assert_int_equal(guard_seq_proportion_strata(s, 0, &spec, &r), VX_EINVAL);
    s[1].x_t = 501;
    assert_int_equal(guard_seq_proportion_strata(s, 3, &spec, &r), VX_EINVAL);
}

static void test_seq_share_above(void **state)
{
    (void)state;
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.0, 0.5, 0.05, 100};
    guard_seq_result r;
    /* [py] 35 of 2,000 above a 1 % bound: d = 0.0075, v = .01*.99/2000,
     * tau = 0.005, one-sided mixture */
    assert_int_equal(guard_seq_share_above(35, 2000, 0.01, &spec, &r), VX_OK);
    assert_true(r.evaluated);
    rel_near(r.variance, 4.95e-06, 1e-12);
    rel_near(r.log_lr, 4.534793336011159, 1e-10);
    rel_near(r.p, 0.010729124321037594, 1e-9);
    assert_true(r.regression);
    /* at the bound: no evidence */
    assert_int_equal(guard_seq_share_above(20, 2000, 0.01, &spec, &r), VX_OK);
    assert_false(r.regression);
    assert_int_equal(guard_seq_share_above(3, 2, 0.01, &spec, &r), VX_EINVAL);
    assert_int_equal(guard_seq_share_above(1, 2000, 1.0, &spec, &r), VX_EINVAL);
}

static void test_srm(void **state)
{
    (void)state;
    guard_srm_result r;
    double half[2] = {50, 50};
    /* [notes 3.5] 5,200 vs 4,800 at 50/50: chi2 16, p 6.334e-5 */
    uint64_t a[2] = {5200, 4800};
    assert_int_equal(guard_srm_check(a, half, 2, 0.001, 8, &r), VX_OK);
    near(r.chi2, 16.0, 1e-9);
    rel_near(r.p, 6.334e-5, 1e-3);
    assert_true(r.mismatch);
    /* [notes 3.5] 5,050/4,950: p 0.3173 */
    uint64_t b[2] = {5050, 4950};
    assert_int_equal(guard_srm_check(b, half, 2, 0.001, 8, &r), VX_OK);
    rel_near(r.p, 0.3173, 1e-3);
    assert_false(r.mismatch);
    /* [notes 3.5] 1,100 treatment of 100,000 at 1 %: chi2 10.101, p 0.00148 */
    uint64_t c[2] = {98900, 1100};
    double one[2] = {99, 1};
    assert_int_equal(guard_srm_check(c, one, 2, 0.001, 8, &r), VX_OK);
    rel_near(r.chi2, 10.101, 1e-4);
    rel_near(r.p, 0.00148, 1e-2);
    assert_false(r.mismatch);
    /* too few expected units: no verdict */
    uint64_t d[2] = {300, 0};
    assert_int_equal(guard_srm_check(d, one, 2, 0.001, 8, &r), VX_OK);
    assert_false(r.evaluated);
    /* traffic where the split says none: certain mismatch */
    double none[2] = {100, 0};
    uint64_t e[2] = {300, 2};
    assert_int_equal(guard_srm_check(e, none, 2, 0.001, 8, &r), VX_OK);
    assert_true(r.mismatch);
    near(r.p, 0.0, 0);
    /* [closed] three arms, df 2: p = exp(-chi2/2); observed 30/40/50
     * against 1:1:1 -> chi2 = (100+0+100)/40 = 5 */
    uint64_t f[3] = {30, 40, 50};
    double eq[3] = {1, 1, 1};
    assert_int_equal(guard_srm_check(f, eq, 3, 0.001, 8, &r), VX_OK);
    near(r.chi2, 5.0, 1e-12);
    rel_near(r.p, exp(-2.5), 1e-12);
    assert_int_equal(guard_srm_check(f, eq, 1, 0.001, 8, &r), VX_EINVAL);
    double neg[2] = {-1, 2};
    assert_int_equal(guard_srm_check(a, neg, 2, 0.001, 8, &r), VX_EINVAL);

    /* The sequential form: same chi2, an always-valid p that is larger
     * than the fixed-horizon one. [py] v = .5*.5/10000, tau = .05*.5,
     * log L = 1/2 log(v/(v+tau^2)) + tau^2 16 / (2 (v + tau^2)) */
    assert_int_equal(guard_srm_sequential(4800, 5200, 0.5, 0.001, 0.05, 8, &r),
                     VX_OK);
    near(r.chi2, 16.0, 1e-9);
    rel_near(r.p_always_valid, exp(-6.063259423296952), 1e-9);
    assert_true(r.p_always_valid > r.p);
    assert_false(r.mismatch); /* p_always_valid 0.0023 > 0.001 */
    assert_int_equal(guard_srm_sequential(4500, 5500, 0.5, 0.001, 0.05, 8, &r),
                     VX_OK);
    assert_true(r.mismatch);
    assert_int_equal(guard_srm_sequential(1, 1, 1.0, 0.001, 0.05, 8, &r),
                     VX_EINVAL);
}

/* A small deterministic generator for the Monte-Carlo checks. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t binomial(uint64_t *s, uint64_t n, double p)
{
    uint64_t k = 0;
    for (uint64_t i = 0; i < n; i++)
        k += (double)(rng_next(s) >> 11) * 0x1.0p-53 < p;
    return k;
}

/* [mc] Notes 3.8: under H0 with a look every minute for 40 minutes, the
 * always-valid test rejects at most alpha of the time, while a fixed
 * one-sided z test re-run at every look (the "peeking" guard) rejects far
 * more often: the same harness tells the two apart. */
static void test_msprt_peeking_mc(void **state)
{
    (void)state;
    const int runs = 1000, looks = 40;
    int msprt = 0, peek = 0;
    uint64_t s = 42;
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.0, 0.5, 0.05, 100};
    for (int r = 0; r < runs; r++) {
        uint64_t xc = 0, nc = 0, xt = 0, nt = 0;
        bool hit_m = false, hit_p = false;
        for (int m = 0; m < looks; m++) {
            nc += 400;
            nt += 100;
            xc += binomial(&s, 400, 0.02);
            xt += binomial(&s, 100, 0.02);
            guard_seq_result sr;
            guard_compare cmp;
            assert_int_equal(guard_seq_proportion(xc, nc, xt, nt, &spec, &sr),
                             VX_OK);
            hit_m |= sr.regression;
            if (guard_prop_compare(xc, nc, xt, nt, 0.05, &cmp) == VX_OK)
                hit_p |= cmp.p_greater < 0.05;
        }
        msprt += hit_m;
        peek += hit_p;
    }
    /* alpha 0.05 plus three Monte-Carlo standard errors (0.0069) */
    assert_true(msprt <= 0.071 * runs);
    assert_true(peek > 0.12 * runs);
}

/* [mc] and the test has power: a 2x error rate is found in most runs. */
static void test_msprt_power_mc(void **state)
{
    (void)state;
    const int runs = 300, looks = 40;
    int found = 0;
    uint64_t s = 7;
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.0, 0.5, 0.05, 100};
    for (int r = 0; r < runs; r++) {
        uint64_t xc = 0, nc = 0, xt = 0, nt = 0;
        for (int m = 0; m < looks; m++) {
            nc += 400;
            nt += 100;
            xc += binomial(&s, 400, 0.02);
            xt += binomial(&s, 100, 0.04);
            guard_seq_result sr;
            assert_int_equal(guard_seq_proportion(xc, nc, xt, nt, &spec, &sr),
                             VX_OK);
            if (sr.regression) {
                found++;
                break;
            }
        }
    }
    assert_true(found > 0.8 * runs);
}

/* [mc] The per-epoch test keeps its bound when everyone's error rate
 * drifts under a widening rollout (1 -> 5 -> 25 -> 50 %, ten looks per
 * epoch, the rate rising from 1 % to 3 %), where the pooled test on the
 * same data does not. */
static void test_strata_drift_mc(void **state)
{
    (void)state;
    const int runs = 400;
    const double pct[4] = {0.01, 0.05, 0.25, 0.50};
    int strat = 0, pooled = 0;
    uint64_t s = 99;
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.0, 0.5, 0.05, 100};
    for (int r = 0; r < runs; r++) {
        guard_prop_stratum ep[4] = {{0}};
        bool hit_s = false, hit_p = false;
        for (int m = 0; m < 40; m++) {
            int e = m / 10;
            double p = 0.01 + 0.02 * m / 39.0;
            uint64_t nt = (uint64_t)(1000 * pct[e]), nc = 1000 - nt;
            ep[e].n_c += nc;
            ep[e].n_t += nt;
            ep[e].x_c += binomial(&s, nc, p);
            ep[e].x_t += binomial(&s, nt, p);
            guard_prop_stratum all = {0};
            for (int i = 0; i <= e; i++) {
                all.x_c += ep[i].x_c;
                all.n_c += ep[i].n_c;
                all.x_t += ep[i].x_t;
                all.n_t += ep[i].n_t;
            }
            guard_seq_result rs, rp;
            assert_int_equal(
                guard_seq_proportion_strata(ep, (size_t)e + 1, &spec, &rs),
                VX_OK);
            assert_int_equal(guard_seq_proportion_strata(&all, 1, &spec, &rp),
                             VX_OK);
            hit_s |= rs.regression;
            hit_p |= rp.regression;
        }
        strat += hit_s;
        pooled += hit_p;
    }
    /* alpha plus three Monte-Carlo standard errors (0.011) */
    assert_true(strat <= 0.083 * runs);
    assert_true(pooled > 0.2 * runs);
}

/* ---- evidence, clusters, estimates (issue 14) ----------------------- */

/* [vec] The boundary z of the one-sided mixture and the power scale. */
static void test_boundary_and_power(void **state)
{
    (void)state;
    rel_near(guard_msprt_boundary_z(1.0, 0.05), 3.2617532654326916, 1e-11);
    rel_near(guard_msprt_boundary_z(10.0, 0.05 * 0.7 / 3), 3.3025456378546919,
             1e-11);
    rel_near(guard_msprt_boundary_z(0.25, 0.01), 6.3449746775769476, 1e-11);
    /* on the boundary the test rejects, a hair below it does not */
    double z = guard_msprt_boundary_z(4.0, 0.02), v = 1e-4;
    double tau = sqrt(4.0 * v);
    assert_true(guard_msprt_log_lr_greater(z * sqrt(v), v, tau, 0.0) >=
                -log(0.02) - 1e-9);
    assert_true(guard_msprt_log_lr_greater(0.999 * z * sqrt(v), v, tau, 0.0) <
                -log(0.02));
    assert_true(isnan(guard_msprt_boundary_z(0.0, 0.05)));
    assert_true(isnan(guard_msprt_boundary_z(1.0, 1.0)));
    /* errors 1 % -> 2 % with 1,000 treatment and 3,000 control units:
     * about 4x the data is needed for 95 % power at alpha 0.05 x 0.7 / 3 */
    double pc = 0.01, nt = 1000, nc = 3000;
    double v0 = pc * (1 - pc) / nt + pc * (1 - pc) / nc;
    double v1 = 2 * pc * (1 - 2 * pc) / nt + pc * (1 - pc) / nc;
    rel_near(guard_power_scale(pc, v0, v1, 0.5 * pc, 0.05 * 0.7 / 3, 0.95),
             3.9566602238663706, 1e-8);
    rel_near(guard_power_scale(0.0953, 0.25 / 400, 0.25 / 400, 0.1, 0.05, 0.8),
             0.91479127604700994, 1e-8);
    /* monotone: more power or a smaller effect needs more data */
    double s95 = guard_power_scale(pc, v0, v1, 0.5 * pc, 0.01, 0.95);
    assert_true(guard_power_scale(pc, v0, v1, 0.5 * pc, 0.01, 0.8) < s95);
    assert_true(guard_power_scale(pc / 2, v0, v1, 0.5 * pc, 0.01, 0.95) > s95);
    assert_true(isinf(guard_power_scale(0.0, v0, v1, 0.005, 0.05, 0.95)));
    assert_true(isinf(guard_power_scale(pc, v0, v1, 0.005, 0.05, 1.0)));
}

/* The deterministic per-group data of guard_vectors.py's cluster case:
 * units spread evenly over the 64 groups, events placed so that every
 * third visited group gets three (clustered). */
static void vec_groups(uint64_t n, uint64_t x, int seed, double *gn, double *gy)
{
    for (size_t k = 0; k < GUARD_GROUPS; k++) {
        gn[k] = (double)(n / GUARD_GROUPS + (k < n % GUARD_GROUPS ? 1 : 0));
        gy[k] = 0;
    }
    long left = (long)x;
    for (long k = seed; left > 0; k += 7) {
        long add = left < (k % 3 == 0 ? 3 : 1) ? left : (k % 3 == 0 ? 3 : 1);
        size_t g = (size_t)(k % GUARD_GROUPS);
        double room = gn[g] - gy[g];
        gy[g] += (double)add < room ? (double)add : room;
        left -= add;
    }
}

/* [vec] The cluster-robust variance: two strata whose events cluster in
 * groups; the design effect and the test match the reference. */
static void test_cluster_deff(void **state)
{
    (void)state;
    static double g[2][4][GUARD_GROUPS];
    const uint64_t cs[2][4] = {{100, 10000, 30, 1000}, {150, 10000, 60, 3000}};
    guard_prop_stratum st[2];
    for (int i = 0; i < 2; i++) {
        vec_groups(cs[i][1], cs[i][0], 1 + i, g[i][0], g[i][1]);
        vec_groups(cs[i][3], cs[i][2], 5 + i, g[i][2], g[i][3]);
        st[i] = (guard_prop_stratum){cs[i][0], cs[i][1], cs[i][2], cs[i][3],
                                     g[i][0],  g[i][1],  g[i][2],  g[i][3]};
    }
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.0, 0.5, 0.05, 100};
    guard_seq_result r, plain;
    assert_int_equal(guard_seq_proportion_strata(st, 2, &spec, &r), VX_OK);
    assert_true(r.evaluated);
    rel_near(r.design_effect, 1.8777534273846083, 1e-10);
    rel_near(r.excess, 0.0092391304347826087, 1e-12);
    rel_near(r.variance, 8.7953927052230441e-06, 1e-10);
    rel_near(r.log_lr, 3.8685687427338687, 1e-9);
    /* the same counts without groups: the binomial variance, more
     * confident by the design effect */
    for (int i = 0; i < 2; i++)
        st[i].gn_c = st[i].gy_c = st[i].gn_t = st[i].gy_t = NULL;
    assert_int_equal(guard_seq_proportion_strata(st, 2, &spec, &plain), VX_OK);
    near(plain.design_effect, 1.0, 0.0);
    rel_near(r.variance / plain.variance, r.design_effect, 1e-12);
    assert_true(plain.log_lr > r.log_lr);

    /* one request per unit (no clustering): the estimate stays at the
     * floor of 1 or near it */
    static double n1[GUARD_GROUPS], y1[GUARD_GROUPS], n2[GUARD_GROUPS],
        y2[GUARD_GROUPS];
    for (size_t k = 0; k < GUARD_GROUPS; k++) {
        n1[k] = 150;
        y1[k] = (k % 10 == 3) ? 2 : 1; /* 70 events in 9,600 */
        n2[k] = 50;
        y2[k] = (k % 8 == 0) ? 1 : 0;
    }
    guard_prop_stratum flat = {70, 9600, 8, 3200, n1, y1, n2, y2};
    assert_int_equal(guard_seq_proportion_strata(&flat, 1, &spec, &r), VX_OK);
    assert_true(r.evaluated && r.design_effect >= 1.0 && r.design_effect < 1.3);
    /* all units in three groups: too few to judge clustering, no verdict */
    for (size_t k = 3; k < GUARD_GROUPS; k++)
        n1[k] = y1[k] = n2[k] = y2[k] = 0;
    flat = (guard_prop_stratum){4, 450, 1, 150, n1, y1, n2, y2};
    assert_int_equal(guard_seq_proportion_strata(&flat, 1, &spec, &r), VX_OK);
    assert_false(r.evaluated);

    /* means: the same machinery on sums of values */
    static double mn[GUARD_GROUPS], ms_[GUARD_GROUPS], tn[GUARD_GROUPS],
        ts[GUARD_GROUPS];
    guard_moments c = {0, 0, 0}, t = {0, 0, 0};
    for (size_t k = 0; k < GUARD_GROUPS; k++) {
        /* each group's level differs: a unit effect shared by its values */
        double lvl = 5.0 + 0.2 * ((double)(k % 5) - 2.0);
        mn[k] = 100;
        ms_[k] = 100 * lvl;
        tn[k] = 20;
        ts[k] = 20 * lvl;
        c.n += 100;
        c.sum += 100 * lvl;
        c.sumsq += 100 * (lvl * lvl + 0.01);
        t.n += 20;
        t.sum += 20 * lvl;
        t.sumsq += 20 * (lvl * lvl + 0.01);
    }
    guard_mean_stratum m1 = {c, t, mn, ms_, tn, ts};
    guard_mean_stratum m0 = {c, t, NULL, NULL, NULL, NULL};
    spec.tau = 0.1;
    assert_int_equal(guard_seq_mean_strata(&m1, 1, true, &spec, &r), VX_OK);
    assert_int_equal(guard_seq_mean_strata(&m0, 1, true, &spec, &plain), VX_OK);
    assert_true(r.evaluated && plain.evaluated);
    assert_true(r.design_effect >= 1.0);
    rel_near(r.variance, plain.variance * r.design_effect, 1e-12);
}

/* [vec] The sample-ratio check under sticky units. */
static void test_srm_deff(void **state)
{
    (void)state;
    static double gc[GUARD_GROUPS], gt[GUARD_GROUPS];
    for (size_t k = 0; k < 20; k++) {
        gc[k] = 90.0 + (double)k;
        gt[k] = 10.0 + (double)(k % 4) * 5.0;
    }
    rel_near(guard_srm_design_effect(2040, 350, gc, gt), 1.5749378368392061,
             1e-12);
    near(guard_srm_design_effect(2040, 350, NULL, gt), 1.0, 0.0);
    /* the clustered split is judged with the wider variance */
    guard_srm_result a, b;
    assert_int_equal(guard_srm_sequential(9000, 1300, 0.1, 0.001, 0.05, 8, &a),
                     VX_OK);
    assert_int_equal(
        guard_srm_sequential_deff(9000, 1300, 0.1, 0.001, 0.05, 8, 4.0, &b),
        VX_OK);
    assert_true(a.mismatch);
    assert_false(b.mismatch);
    near(a.chi2, b.chi2, 0.0);
}

/* [closed] The estimate corrected for stopping: x - v / x. */
static void test_stopping_estimate(void **state)
{
    (void)state;
    near(guard_stopping_estimate(0.02, 1e-5), 0.02 - 1e-5 / 0.02, 1e-18);
    near(guard_stopping_estimate(-0.01, 1e-5), -0.01, 0.0);
    near(guard_stopping_estimate(0.02, 0.0), 0.02, 0.0);
}

/* [mc] Why the correction: a Brownian motion with drift 1 that stops when
 * its sum first reaches c = 4 reports S/T with mean 1 + 1/c; the corrected
 * estimate's mean is 1 (inverse-Gaussian first passage). Steps of 0.002
 * in information; 3,000 paths. */
static void test_stopping_estimate_mc(void **state)
{
    (void)state;
    uint64_t s = 99;
    const int paths = 3000;
    const double dt = 0.002, c = 4.0, theta = 1.0;
    double naive = 0.0, fixed = 0.0;
    for (int i = 0; i < paths; i++) {
        double sum = 0.0, t = 0.0;
        while (sum < c && t < 100.0) {
            double u1 = ((double)(rng_next(&s) >> 11) + 0.5) * 0x1.0p-53;
            double u2 = ((double)(rng_next(&s) >> 11) + 0.5) * 0x1.0p-53;
            double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
            sum += theta * dt + sqrt(dt) * z;
            t += dt;
        }
        double x = sum / t, v = 1.0 / t;
        naive += x;
        fixed += guard_stopping_estimate(x, v);
    }
    naive /= paths;
    fixed /= paths;
    /* Monte-Carlo SE of either mean is about 0.01 */
    assert_true(fabs(naive - (theta + 1.0 / c)) < 0.05);
    assert_true(fabs(fixed - theta) < 0.04);
    assert_true(fabs(fixed - theta) < 0.3 * fabs(naive - theta));
}

/* Gamma(k, 1) and a beta from two of them, for the clustered users. */
static double mc_unif(uint64_t *s)
{
    return ((double)(rng_next(s) >> 11) + 0.5) * 0x1.0p-53;
}

static double mc_gamma(uint64_t *s, double k)
{
    if (k < 1.0)
        return mc_gamma(s, k + 1.0) * pow(mc_unif(s), 1.0 / k);
    double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double z = sqrt(-2.0 * log(mc_unif(s))) * cos(2.0 * M_PI * mc_unif(s));
        double v = 1.0 + c * z;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        if (log(mc_unif(s)) < 0.5 * z * z + d - d * v + d * log(v))
            return d * v;
    }
}

/* [mc] Errors that cluster per user (issue 14: ICC 0.17, sticky arms):
 * judged per request the test rolls back healthy rollouts well beyond
 * alpha; with the units' groups it keeps alpha. 2,000 users (a quarter in
 * the treatment), 30 looks of about one request per user each, 300 runs
 * (measured: 45 against 1). */
static void test_cluster_mc(void **state)
{
    (void)state;
    const int runs = 300, looks = 30, users = 2000;
    const double p = 0.01, icc = 0.17, ab = 1.0 / icc - 1.0;
    static double prop[2000];
    static double gn[2][GUARD_GROUPS], gy[2][GUARD_GROUPS];
    uint64_t s = 2024;
    int with = 0, without = 0;
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.0, 0.5, 0.05, 100};
    for (int r = 0; r < runs; r++) {
        for (int u = 0; u < users; u++) {
            double x = mc_gamma(&s, p * ab), y = mc_gamma(&s, (1 - p) * ab);
            prop[u] = x / (x + y);
        }
        memset(gn, 0, sizeof gn);
        memset(gy, 0, sizeof gy);
        uint64_t n[2] = {0, 0}, e[2] = {0, 0};
        bool hit_w = false, hit_o = false;
        for (int l = 0; l < looks; l++) {
            for (int u = 0; u < users; u++) {
                int arm = u % 4 == 0; /* a quarter in the treatment */
                size_t g = (size_t)(u * 2654435761u >> 7) % GUARD_GROUPS;
                /* Poisson(1) requests */
                int k = 0;
                double lim = exp(-1.0), prod = mc_unif(&s);
                while (prod > lim) {
                    k++;
                    prod *= mc_unif(&s);
                }
                for (int q = 0; q < k; q++) {
                    bool err = mc_unif(&s) < prop[u];
                    n[arm]++;
                    e[arm] += err;
                    gn[arm][g] += 1;
                    gy[arm][g] += err;
                }
            }
            guard_prop_stratum st = {e[0],  n[0],  e[1],  n[1],
                                     gn[0], gy[0], gn[1], gy[1]};
            guard_seq_result res;
            assert_int_equal(guard_seq_proportion_strata(&st, 1, &spec, &res),
                             VX_OK);
            hit_w |= res.regression;
            st.gn_c = st.gy_c = st.gn_t = st.gy_t = NULL;
            assert_int_equal(guard_seq_proportion_strata(&st, 1, &spec, &res),
                             VX_OK);
            hit_o |= res.regression;
        }
        with += hit_w;
        without += hit_o;
    }
    /* alpha 0.05 plus three Monte-Carlo standard errors (0.0126) */
    assert_true(with <= 0.088 * runs);
    assert_true(without > 0.1 * runs);
}

/* A sketch with n log-normal(mu, 0.5) values at the normal quantiles
 * (deterministic "perfect" samples). */
static void lognormal_sketch(guard_sketch *sk, size_t n, double mu)
{
    guard_sketch_init(sk);
    for (size_t i = 0; i < n; i++) {
        double z = guard_norm_quantile(((double)i + 0.5) / (double)n);
        assert_int_equal(guard_sketch_add(sk, exp(mu + 0.5 * z), 1), VX_OK);
    }
}

/* The p99 guard per epoch: everyone's latency rises 30 % between an
 * epoch at 1 % and one at 50 %; per epoch the treatment matches the
 * control, pooled it looks slower. The variance includes the control
 * quantile's own sampling error. */
static void test_quantile_strata(void **state)
{
    (void)state;
    static guard_sketch c0, t0, c1, t1, cp, tp;
    lognormal_sketch(&c0, 20000, log(200.0));
    lognormal_sketch(&t0, 200, log(200.0));
    lognormal_sketch(&c1, 10000, log(260.0));
    lognormal_sketch(&t1, 10000, log(260.0));
    guard_seq_spec spec = {GUARD_HIGHER_IS_WORSE, 0.0, 0.5, 0.05, 100};
    const guard_sketch *cs[2] = {&c0, &c1}, *ts[2] = {&t0, &t1};
    guard_seq_result r, pooled;
    assert_int_equal(guard_seq_quantile_strata(cs, ts, 2, 0.99, 0.0, &spec, &r),
                     VX_OK);
    assert_true(r.evaluated);
    assert_false(r.regression);
    assert_true(fabs(r.excess) < 0.002);
    /* v = sum w^2 q(1-q)(1/n_t + 1/n_c) / (sum w)^2, w = n_t n_c/(n_t+n_c) */
    double w0 = 200.0 * 20000 / 20200, w1 = 10000.0 * 10000 / 20000;
    double v = (w0 * w0 * 0.0099 * (1 / 200.0 + 1 / 20000.0) +
                w1 * w1 * 0.0099 * (1 / 10000.0 + 1 / 10000.0)) /
               ((w0 + w1) * (w0 + w1));
    rel_near(r.variance, v, 1e-12);
    /* pooled: one stratum of everything */
    guard_sketch_init(&cp);
    guard_sketch_init(&tp);
    guard_sketch_merge(&cp, &c0);
    guard_sketch_merge(&cp, &c1);
    guard_sketch_merge(&tp, &t0);
    guard_sketch_merge(&tp, &t1);
    const guard_sketch *cpp[1] = {&cp}, *tpp[1] = {&tp};
    assert_int_equal(
        guard_seq_quantile_strata(cpp, tpp, 1, 0.99, 0.0, &spec, &pooled),
        VX_OK);
    assert_true(pooled.regression);
    /* a control too small for its p99 (fewer than 1,000 values): none */
    lognormal_sketch(&c0, 900, log(200.0));
    const guard_sketch *small[1] = {&c0}, *tt[1] = {&t1};
    assert_int_equal(
        guard_seq_quantile_strata(small, tt, 1, 0.99, 0.0, &spec, &r), VX_OK);
    assert_false(r.evaluated);
    assert_int_equal(guard_seq_quantile_strata(small, tt, 1, 0.3, 0, &spec, &r),
                     VX_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal),
        cmocka_unit_test(test_chi2),
        cmocka_unit_test(test_student_t),
        cmocka_unit_test(test_prop_compare),
        cmocka_unit_test(test_welch),
        cmocka_unit_test(test_msprt_vectors),
        cmocka_unit_test(test_msprt_bound),
        cmocka_unit_test(test_harm_bound),
        cmocka_unit_test(test_seq_proportion),
        cmocka_unit_test(test_seq_mean),
        cmocka_unit_test(test_seq_strata),
        cmocka_unit_test(test_seq_share_above),
        cmocka_unit_test(test_srm),
        cmocka_unit_test(test_msprt_peeking_mc),
        cmocka_unit_test(test_msprt_power_mc),
        cmocka_unit_test(test_strata_drift_mc),
        cmocka_unit_test(test_boundary_and_power),
        cmocka_unit_test(test_cluster_deff),
        cmocka_unit_test(test_srm_deff),
        cmocka_unit_test(test_stopping_estimate),
        cmocka_unit_test(test_stopping_estimate_mc),
        cmocka_unit_test(test_cluster_mc),
        cmocka_unit_test(test_quantile_strata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
