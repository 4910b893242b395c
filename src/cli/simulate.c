/* `vexil simulate`: runs the rollout guard (guard_plan_decide with its
 * always-valid sequential tests and its evidence gate, looking every
 * --look-seconds, by default the server's 5 s) and the hand-written rule
 * (roll back when the treatment's error rate in the last minute is over
 * 5 %, hold when over 2 %) over synthetic traffic from a seeded generator,
 * and prints how often each rolls back healthy and regressed rollouts, how
 * early, after how many exposures, how often plans wait for evidence
 * instead of shipping, and how far the estimate at a rollback is from the
 * truth.
 *
 * Invariant: the output is a function of the options alone (seed included):
 * every run draws from its own generator seeded from (seed, scenario, rpm,
 * run, guard), so results do not depend on the order runs execute in. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "guard/plan.h"

#define SIM_MAX_RPMS       16
#define SIM_MAX_RUNS       1000000
#define SIM_MAX_RPM        10000000
#define SIM_BASE_ERROR     0.01
#define SIM_BASE_CONVERT   0.10
#define SIM_LAT_MEDIAN_MS  200.0
#define SIM_LAT_SIGMA_LOG  0.5
#define SIM_HAND_ROLLBACK  0.05
#define SIM_HAND_HOLD      0.02
#define SIM_BEFORE_PERCENT 25.0
#define SIM_MILESTONES     4
#define SIM_ARMS           2
/* Clustered errors (notes 3.4d; issue 14): every user makes 20 requests
 * on average over two hours, sticky to its arm, with an error propensity
 * drawn from a beta distribution of mean 1 % and intra-class correlation
 * 0.17 (a + b = 1/0.17 - 1). */
#define SIM_USER_REQUESTS 20.0
#define SIM_USER_MINUTES  120.0
#define SIM_ICC           0.17
/* Users' rollout buckets fall in these slices of [0, 100): the plan's
 * percentages, so a slice is wholly in or out of the treatment. */
#define SIM_SLICES 5

/* ---- scenarios ---------------------------------------------------------- */

typedef struct sim_scenario {
    const char *name;     /* on the command line and in the table */
    double error_mult;    /* treatment error rate = base x this */
    double latency_mult;  /* treatment latency = base x this */
    double convert_mult;  /* treatment conversion = base x this */
    double exposure_loss; /* share of treatment exposures never reported */
    double drift;     /* both arms' error rate rises by this share per hour */
    double lat_drift; /* both arms' latency rises by this share per hour */
    double tail_mult; /* treatment's log-latency spread x this (p99 up) */
    int variants;     /* treatment variants, 1 or 2: effects hit the last */
    bool cluster;     /* errors cluster per user; units are reported */
    bool p99;         /* the plan adds a p99 guard (tolerance 0) */
} sim_scenario;

static const sim_scenario SCENARIOS[] = {
    {"healthy", 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1, false, false},
    {"err1.25", 1.25, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1, false, false},
    {"err1.5", 1.5, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1, false, false},
    {"err2", 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1, false, false},
    {"err3", 3.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1, false, false},
    {"lat1.10", 1.0, 1.10, 1.0, 0.0, 0.0, 0.0, 1.0, 1, false, false},
    {"lat1.25", 1.0, 1.25, 1.0, 0.0, 0.0, 0.0, 1.0, 1, false, false},
    {"lat1.50", 1.0, 1.50, 1.0, 0.0, 0.0, 0.0, 1.0, 1, false, false},
    {"conv0.90", 1.0, 1.0, 0.90, 0.0, 0.0, 0.0, 1.0, 1, false, false},
    /* healthy, but 5 % of the treatment's exposures are never reported:
     * the guard should pause on the sample ratio, not judge the metrics */
    {"srm0.95", 1.0, 1.0, 1.0, 0.05, 0.0, 0.0, 1.0, 1, false, false},
    /* healthy, but the error rate of everyone rises while the rollout
     * runs: 13 % an hour (the steepest hour of a +-50 % daily cycle), and
     * 50 % an hour (a slow incident). Both arms alike: no rollback is
     * right. */
    {"drift0.13", 1.0, 1.0, 1.0, 0.0, 0.13, 0.0, 1.0, 1, false, false},
    {"drift0.5", 1.0, 1.0, 1.0, 0.0, 0.5, 0.0, 1.0, 1, false, false},
    /* errors that cluster per user (sticky assignment): healthy, and 2x */
    {"cluster", 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1, true, false},
    {"cluster-err2", 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1, true, false},
    /* two treatment variants against the control: both healthy, and the
     * second one 2x (only it should be rolled back) */
    {"var-healthy", 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 2, false, false},
    {"var-err2", 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 2, false, false},
    /* a p99 guard (tolerance 0): everyone's latency rises 30 % an hour
     * (healthy), and the treatment's tail widens (p99 +26 %) */
    {"p99-drift0.3", 1.0, 1.0, 1.0, 0.0, 0.0, 0.3, 1.0, 1, false, true},
    {"p99-tail", 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.2, 1, false, true},
};
#define N_SCENARIOS (sizeof SCENARIOS / sizeof SCENARIOS[0])

static bool is_healthy(const sim_scenario *s)
{
    return s->error_mult == 1.0 && s->latency_mult == 1.0 &&
           s->convert_mult == 1.0 && s->exposure_loss == 0.0 &&
           s->tail_mult == 1.0;
}

/* ---- random numbers (splitmix64 seeding xoshiro256**) ----------------- */

typedef struct sim_rng {
    uint64_t s[4]; /* xoshiro256** state */
} sim_rng;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void rng_seed(sim_rng *r, uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                     uint64_t e)
{
    uint64_t x = a;
    x = splitmix(&x) ^ b;
    x = splitmix(&x) ^ c;
    x = splitmix(&x) ^ d;
    x = splitmix(&x) ^ e;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_u64(sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in (0, 1). */
static double rng_unif(sim_rng *r)
{
    return ((double)(rng_u64(r) >> 11) + 0.5) * 0x1.0p-53;
}

static double rng_normal(sim_rng *r)
{
    return sqrt(-2.0 * log(rng_unif(r))) * cos(2.0 * M_PI * rng_unif(r));
}

/* Binomial(n, p): exact inversion while the mean is small (where the
 * hand rule and the floors live), the normal approximation above (mean and
 * n - mean both >= 25; its error there is far below the Monte-Carlo
 * error of the table). */
static uint64_t rng_binomial(sim_rng *r, uint64_t n, double p)
{
    if (n == 0 || p <= 0.0)
        return 0;
    if (p >= 1.0)
        return n;
    if (p > 0.5)
        return n - rng_binomial(r, n, 1.0 - p);
    double mean = (double)n * p;
    if (mean < 25.0) {
        double u = rng_unif(r), q = 1.0 - p;
        double pk = exp((double)n * log1p(-p)), cum = pk;
        uint64_t k = 0;
        while (u > cum && k < n) {
            pk *= (double)(n - k) / (double)(k + 1) * p / q;
            k++;
            cum += pk;
            if (pk < 1e-300 && (double)k > mean)
                break;
        }
        return k;
    }
    double x = floor(mean + sqrt(mean * (1.0 - p)) * rng_normal(r) + 0.5);
    return x < 0 ? 0 : x > (double)n ? n : (uint64_t)x;
}

/* Requests in one minute: Poisson(rpm), normal approximation for large
 * means, inversion below. */
static uint64_t rng_poisson(sim_rng *r, double mean)
{
    if (mean < 30.0) {
        double u = rng_unif(r), pk = exp(-mean), cum = pk;
        uint64_t k = 0;
        while (u > cum && k < 1000) {
            k++;
            pk *= mean / (double)k;
            cum += pk;
        }
        return k;
    }
    double x = floor(mean + sqrt(mean) * rng_normal(r) + 0.5);
    return x < 0 ? 0 : (uint64_t)x;
}

/* Chi-square with k degrees of freedom: a sum of squares for small k,
 * Wilson-Hilferty above. */
static double rng_chi2(sim_rng *r, uint64_t k)
{
    if (k == 0)
        return 0.0;
    if (k < 30) {
        double s = 0;
        for (uint64_t i = 0; i < k; i++) {
            double z = rng_normal(r);
            s += z * z;
        }
        return s;
    }
    double dk = (double)k, a = 2.0 / (9.0 * dk);
    double c = 1.0 - a + rng_normal(r) * sqrt(a);
    return c > 0 ? dk * c * c * c : 0.0;
}

/* Gamma(k, 1) (Marsaglia and Tsang; k < 1 through Gamma(k + 1) u^(1/k)). */
static double rng_gamma(sim_rng *r, double k)
{
    if (!(k > 0.0))
        return 0.0;
    if (k < 1.0)
        return rng_gamma(r, k + 1.0) * pow(rng_unif(r), 1.0 / k);
    double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = rng_normal(r), v = 1.0 + c * x;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        double u = rng_unif(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v;
    }
}

/* ---- the traffic of one look -------------------------------------------- */

/* Adds n requests of an arm to *c: errors, conversions and the moments of
 * log-latency, drawn from their exact sampling distributions (the sum of n
 * normal logs and the chi-square of their spread) instead of one draw per
 * request, so 100,000 requests a minute cost as much as 100. */
static void sim_arm_add(sim_rng *r, guard_counts *c, uint64_t n, double p_err,
                        double p_conv, double mu, double sd)
{
    if (n == 0)
        return;
    double dn = (double)n;
    c->requests += n;
    c->errors += rng_binomial(r, n, p_err);
    c->conversions += rng_binomial(r, n, p_conv);
    double mean = mu + sd / sqrt(dn) * rng_normal(r);
    double ss = sd * sd * rng_chi2(r, n - 1); /* sum of squared deviations */
    guard_moments lm = {dn, dn * mean, ss + dn * mean * mean};
    guard_moments none = {0, 0, 0};
    guard_counts_add_moments(c, &none, &lm);
}

/* Adds n log-normal(mu, sd) latencies to a sketch, exactly in the upper
 * tail (bins of the sketch's width above the 90th percentile, where the
 * quantile guards look) and as one value at the median below it. */
static void sim_sketch_add(sim_rng *r, guard_sketch *sk, uint64_t n, double mu,
                           double sd)
{
    const double z0 = 1.2815515655446004; /* Phi^-1(0.9) */
    if (n == 0)
        return;
    uint64_t low = rng_binomial(r, n, 0.9);
    (void)guard_sketch_add(sk, exp(mu), low);
    uint64_t m = n - low;
    double step =
        log((1.0 + GUARD_SKETCH_REL_ACC) / (1.0 - GUARD_SKETCH_REL_ACC)) / sd;
    for (double lo = z0; m > 0 && lo < 9.0; lo += step) {
        double sf = guard_norm_sf(lo);
        double pb = sf > 0.0 ? (sf - guard_norm_sf(lo + step)) / sf : 1.0;
        uint64_t k = rng_binomial(r, m, pb);
        if (k)
            (void)guard_sketch_add(sk, exp(mu + sd * (lo + 0.5 * step)), k);
        m -= k;
    }
    if (m)
        (void)guard_sketch_add(sk, exp(mu + 9.0 * sd), m);
}

/* ---- runs ---------------------------------------------------------------- */

typedef enum sim_outcome {
    SIM_ROLLBACK,
    SIM_COMPLETE,
    SIM_STUCK, /* still running at max_minutes */
    SIM_SRM,   /* paused on a sample-ratio mismatch */
    SIM_HELD,  /* out of time without evidence: holding, alerted */
} sim_outcome;

typedef struct sim_run {
    sim_outcome outcome;
    bool before;        /* rolled back at a percentage <= 25 % */
    bool blind;         /* advanced with a guard metric never evaluated */
    bool wrong;         /* rolled back a healthy variant */
    double minutes;     /* time of the rollback */
    uint64_t exposures; /* treatment requests until then */
    double est;         /* the culprit's difference / the true one */
    double adj;         /* its shrunk estimate / the true one */
} sim_run;

typedef struct sim_config {
    guard_plan plan; /* the guard's plan; the hand rule uses its milestones */
    guard_plan p99_plan; /* the plan with a p99 guard added */
    int max_minutes;     /* cap of one run */
    int look_s;          /* seconds between looks (and traffic batches) */
    uint64_t seed;       /* base seed */
    size_t runs;         /* runs per scenario and rpm */
    bool tsv;            /* machine-readable output */
    bool peek;           /* also run the "peek" guard */
    bool pooled;         /* test without stratifying by rollout epoch */
    bool no_units;       /* clustered scenarios: report no unit (per request) */
    guard_plan time_plan; /* `plan` without metrics: time, exposures, SRM */
} sim_config;

/* The guards compared. The values are part of each run's seed. */
typedef enum sim_guard {
    SIM_GUARD_MSPRT = 0, /* guard_plan_decide */
    SIM_GUARD_HAND = 1,  /* the hand-written rule */
    SIM_GUARD_PEEK = 2,  /* a fixed-horizon test re-run every look */
} sim_guard;

/* The "peek" guard: the plan's metrics judged by one-sided fixed-horizon
 * tests (two-proportion z, Welch on log-latency) at alpha / k, re-run
 * every look, no tolerance; the time and SRM logic of the plan. It shows
 * what repeated looks do to an ordinary test. */
static guard_action peek_decide(const sim_config *cfg, const guard_state *st,
                                int64_t now)
{
    const guard_plan *p = &cfg->plan;
    const guard_counts *c = &st->control, *t = &st->treatment;
    double a = p->alpha / (double)p->n_metrics;
    for (size_t i = 0; i < p->n_metrics; i++) {
        const guard_metric *m = &p->metrics[i];
        guard_compare cmp;
        vx_status rc = VX_EINVAL;
        if (c->requests < p->min_per_arm || t->requests < p->min_per_arm)
            break;
        if (m->kind == GUARD_METRIC_ERROR_RATE)
            rc = guard_prop_compare(c->errors, c->requests, t->errors,
                                    t->requests, a, &cmp);
        else if (m->kind == GUARD_METRIC_CONVERSION)
            rc = guard_prop_compare(c->conversions, c->requests, t->conversions,
                                    t->requests, a, &cmp);
        else if (m->kind == GUARD_METRIC_LATENCY)
            rc = guard_welch_compare(&c->log_latency, &t->log_latency, a, &cmp);
        if (rc != VX_OK)
            continue;
        double pv =
            m->direction == GUARD_LOWER_IS_WORSE ? cmp.p_less : cmp.p_greater;
        if (pv < a)
            return GUARD_ROLLBACK;
    }
    guard_decision d;
    guard_state s2 = *st;
    s2.arms = NULL;
    s2.n_arms = 0;
    s2.n_epochs = 0; /* the time plan has no metrics to stratify */
    if (guard_plan_decide(&cfg->time_plan, &s2, now, &d, NULL) != VX_OK)
        return GUARD_HOLD;
    return d.action;
}

/* Everything one run keeps: counts per milestone (one epoch each) for the
 * control ([0]) and each treatment arm, per-group sums and sketches when
 * the scenario needs them, and the users of the clustered scenarios. */
typedef struct sim_world {
    guard_counts ep[1 + SIM_ARMS][SIM_MILESTONES];
    guard_cluster *cl; /* [(1 + SIM_ARMS) * SIM_MILESTONES] or NULL */
    guard_sketch *sk;  /* the same, or NULL */
    const guard_sketch *skp[1 + SIM_ARMS][SIM_MILESTONES];
    double users[GUARD_GROUPS][SIM_SLICES]; /* users per (group, slice) */
    double prop[GUARD_GROUPS][SIM_SLICES];  /* their mean error propensity */
} sim_world;

static const double SLICE_TOP[SIM_SLICES] = {1, 5, 25, 50, 100};

/* The clustered scenarios' users: 20 requests each over two hours at the
 * run's rate, so rpm x 6 of them, spread over (group, slice) cells; the
 * cell's mean propensity is the mean of its users' beta draws, drawn from
 * the gamma with the same mean and variance (the sum of many small-shape
 * betas is close to it). */
static void sim_users(sim_rng *r, sim_world *w, double rpm)
{
    double users = rpm * SIM_USER_MINUTES / SIM_USER_REQUESTS;
    double p = SIM_BASE_ERROR, scale = (1.0 - p) * SIM_ICC;
    for (size_t g = 0; g < GUARD_GROUPS; g++) {
        double lo = 0.0;
        for (size_t s = 0; s < SIM_SLICES; s++) {
            double share = (SLICE_TOP[s] - lo) / 100.0;
            lo = SLICE_TOP[s];
            double u = (double)rng_poisson(r, users * share / GUARD_GROUPS);
            w->users[g][s] = u;
            double sum = u > 0.0 ? scale * rng_gamma(r, u * p / scale) : 0.0;
            w->prop[g][s] = u > 0.0 && sum / u < 1.0 ? sum / u : 1.0;
        }
    }
}

/* One look's traffic of a clustered scenario, cell by cell: a cell's
 * requests come from its users, its errors at its propensity (times the
 * regression in the treatment); conversions and latency independent. */
static void sim_clustered(sim_rng *r, const sim_scenario *sc, sim_world *w,
                          size_t e, double pct, double dt_s, double base_mult,
                          double mu, double sd, uint64_t *n_arm)
{
    double sum_log[2] = {0, 0}, cells_ss[2] = {0, 0}, cells[2] = {0, 0};
    for (size_t g = 0; g < GUARD_GROUPS; g++) {
        for (size_t s = 0; s < SIM_SLICES; s++) {
            double rate = w->users[g][s] * SIM_USER_REQUESTS /
                          (SIM_USER_MINUTES * 60.0) * dt_s;
            if (!(rate > 0.0))
                continue;
            uint64_t n = rng_poisson(r, rate);
            if (!n)
                continue;
            int a = SLICE_TOP[s] <= pct ? 1 : 0;
            double pe = w->prop[g][s] * base_mult * (a ? sc->error_mult : 1.0);
            uint64_t x = rng_binomial(r, n, pe > 1.0 ? 1.0 : pe);
            uint64_t cv = rng_binomial(r, n, SIM_BASE_CONVERT);
            double dn = (double)n, m = mu + (a ? log(sc->latency_mult) : 0.0);
            double sl = dn * m + sd * sqrt(dn) * rng_normal(r);
            guard_counts *c = &w->ep[a][e];
            guard_cluster *cl = &w->cl[a * SIM_MILESTONES + e];
            c->requests += n;
            c->errors += x;
            c->conversions += cv;
            cl->requests[g] += dn;
            cl->errors[g] += (double)x;
            cl->conversions[g] += (double)cv;
            cl->lat_n[g] += dn;
            cl->loglat_sum[g] += sl;
            sum_log[a] += sl;
            cells_ss[a] += sl * sl / dn;
            cells[a] += 1.0;
            n_arm[a] += n;
        }
    }
    for (int a = 0; a < 2; a++) {
        double dn = (double)n_arm[a];
        if (dn < 1.0)
            continue;
        uint64_t df = n_arm[a] - (uint64_t)cells[a];
        guard_moments lm = {dn, sum_log[a],
                            sd * sd * rng_chi2(r, df) + cells_ss[a]};
        guard_moments none = {0, 0, 0};
        guard_counts_add_moments(&w->ep[a][e], &none, &lm);
    }
}

/* The milestone's rollout epoch: one per milestone, or all in the first
 * when the guard pools (--pooled). */
static size_t epoch_of(const sim_config *cfg, size_t milestone)
{
    return cfg->pooled ? 0 : milestone;
}

/* The true difference a regressed metric has, on the verdict's scale;
 * 0 when that metric is healthy in the scenario. */
static double truth(const sim_scenario *sc, guard_metric_kind k)
{
    switch (k) {
    case GUARD_METRIC_ERROR_RATE:
        return SIM_BASE_ERROR * (sc->error_mult - 1.0);
    case GUARD_METRIC_CONVERSION:
        return SIM_BASE_CONVERT * (sc->convert_mult - 1.0);
    case GUARD_METRIC_LATENCY: return log(sc->latency_mult);
    default: return 0.0;
    }
}

static bool blind_advance(const guard_decision *d, size_t want)
{
    if (d->n_verdicts < want)
        return true;
    for (size_t i = 0; i < d->n_verdicts; i++)
        if (!d->verdicts[i].seq.evaluated)
            return true;
    return false;
}

static void run_one(const sim_config *cfg, const sim_scenario *sc, double rpm,
                    sim_guard guard, sim_rng *r, sim_world *w, sim_run *out)
{
    const guard_plan *plan = sc->p99 ? &cfg->p99_plan : &cfg->plan;
    int n_arms = sc->variants > 1 ? sc->variants : 1;
    double mu = log(SIM_LAT_MEDIAN_MS), sd = SIM_LAT_SIGMA_LOG;
    double dt = (double)cfg->look_s;
    memset(w->ep, 0, sizeof w->ep);
    memset(out, 0, sizeof *out);
    out->outcome = SIM_STUCK;
    if (w->cl)
        memset(w->cl, 0,
               (1 + SIM_ARMS) * SIM_MILESTONES * sizeof(guard_cluster));
    for (size_t i = 0; w->sk && i < (1 + SIM_ARMS) * SIM_MILESTONES; i++)
        guard_sketch_init(&w->sk[i]);
    if (sc->cluster)
        sim_users(r, w, rpm);
    guard_state st;
    memset(&st, 0, sizeof st);
    guard_arm arms[SIM_ARMS];
    static const char *const names[SIM_ARMS] = {"a", "b"};
    bool units = sc->cluster && !cfg->no_units;
    for (int a = 0; a < n_arms; a++)
        arms[a] =
            (guard_arm){names[a], w->ep[1 + a], w->sk ? w->skp[1 + a] : NULL,
                        units ? &w->cl[(1 + a) * SIM_MILESTONES] : NULL, false};
    st.arms = arms;
    st.n_arms = (size_t)n_arms;
    st.epoch_control = w->ep[0];
    st.epoch_control_latency = w->sk ? w->skp[0] : NULL;
    st.epoch_control_clusters = units ? w->cl : NULL;
    uint64_t min_req = 0, min_err = 0; /* the hand rule's last minute */
    long looks = (long)cfg->max_minutes * 60 / cfg->look_s;
    for (long l = 1; l <= looks; l++) {
        double t_min = (double)l * dt / 60.0;
        double pct = plan->milestones[st.milestone].percent;
        size_t e = epoch_of(cfg, st.milestone);
        /* a drifting baseline moves both arms alike */
        double drift = 1.0 + sc->drift * (t_min - 0.5 * dt / 60.0) / 60.0;
        double mu_t = mu + log1p(sc->lat_drift * t_min / 60.0);
        uint64_t n_arm[1 + SIM_ARMS] = {0};
        if (sc->cluster) {
            sim_clustered(r, sc, w, e, pct, dt, drift, mu_t, sd, n_arm);
        } else {
            uint64_t total = rng_poisson(r, rpm * dt / 60.0);
            uint64_t nt = rng_binomial(r, total, pct / 100.0);
            n_arm[0] = total - nt;
            if (sc->exposure_loss > 0.0)
                nt -= rng_binomial(r, nt, sc->exposure_loss);
            for (int a = 0; a < n_arms; a++) {
                uint64_t k = a + 1 == n_arms
                                 ? nt
                                 : rng_binomial(r, nt, 1.0 / (n_arms - a));
                n_arm[1 + a] = k;
                nt -= k;
            }
            for (int a = 0; a <= n_arms; a++) {
                bool bad = a == n_arms && a > 0; /* effects hit the last */
                double lm = bad ? log(sc->latency_mult) : 0.0;
                double sdt = bad ? sd * sc->tail_mult : sd;
                sim_arm_add(r, &w->ep[a][e], n_arm[a],
                            SIM_BASE_ERROR * drift * (bad ? sc->error_mult : 1),
                            SIM_BASE_CONVERT * (bad ? sc->convert_mult : 1.0),
                            mu_t + lm, sdt);
                if (w->sk && sc->p99)
                    sim_sketch_add(r, &w->sk[a * SIM_MILESTONES + e], n_arm[a],
                                   mu_t + lm, sdt);
            }
        }
        uint64_t nt_all = 0;
        for (int a = 1; a <= n_arms; a++)
            nt_all += n_arm[a];
        /* totals for the SRM check, the hand rule and the peek guard */
        memset(&st.control, 0, sizeof st.control);
        memset(&st.treatment, 0, sizeof st.treatment);
        for (size_t i = 0; i < SIM_MILESTONES; i++) {
            guard_counts_merge(&st.control, &w->ep[0][i]);
            for (int a = 1; a <= n_arms; a++)
                guard_counts_merge(&st.treatment, &w->ep[a][i]);
        }
        st.stage_control += n_arm[0];
        st.stage_treatment += nt_all;
        st.n_epochs = e + 1;
        st.milestone_epoch = e;
        int64_t now = (int64_t)((double)l * dt);
        guard_action act = GUARD_HOLD;
        guard_decision d;
        d.n_verdicts = 0;
        d.culprit = SIZE_MAX;
        if (guard == SIM_GUARD_HAND) {
            /* the hand rule looks once a minute, at the last minute */
            if ((l * cfg->look_s) / 60 == ((l - 1) * cfg->look_s) / 60)
                continue;
            uint64_t nreq = st.treatment.requests - min_req;
            uint64_t nerr = st.treatment.errors - min_err;
            min_req = st.treatment.requests;
            min_err = st.treatment.errors;
            double rate = nreq ? (double)nerr / (double)nreq : 0.0;
            bool last = st.milestone + 1 == plan->n_milestones;
            if (rate > SIM_HAND_ROLLBACK)
                act = GUARD_ROLLBACK;
            else if (rate > SIM_HAND_HOLD ||
                     now - st.milestone_started <
                         plan->milestones[st.milestone].min_duration_s)
                act = GUARD_HOLD;
            else
                act = last ? GUARD_COMPLETE : GUARD_ADVANCE;
        } else if (guard == SIM_GUARD_PEEK) {
            act = peek_decide(cfg, &st, now);
        } else {
            if (guard_plan_decide(plan, &st, now, &d, NULL) != VX_OK)
                return; /* the plan was validated: cannot happen */
            act = d.action;
        }
        switch (act) {
        case GUARD_ROLLBACK:
            out->outcome = SIM_ROLLBACK;
            out->before = pct <= SIM_BEFORE_PERCENT;
            out->minutes = t_min;
            out->exposures = st.treatment.requests;
            if (guard == SIM_GUARD_MSPRT && d.culprit < d.n_verdicts) {
                const guard_verdict *v = &d.verdicts[d.culprit];
                out->wrong = n_arms > 1 && (int)v->arm != n_arms - 1;
                double tr = out->wrong ? 0.0 : truth(sc, v->kind);
                out->est = tr != 0.0 ? v->seq.diff / tr : NAN;
                out->adj = tr != 0.0 ? v->seq.estimate / tr : NAN;
            } else {
                out->est = out->adj = NAN;
            }
            return;
        case GUARD_COMPLETE:
            out->blind |= guard == SIM_GUARD_MSPRT &&
                          blind_advance(&d, plan->n_metrics * (size_t)n_arms);
            out->outcome = SIM_COMPLETE;
            return;
        case GUARD_PAUSE_SRM: out->outcome = SIM_SRM; return;
        case GUARD_STALL: out->outcome = SIM_HELD; return;
        case GUARD_ADVANCE:
            out->blind |= guard == SIM_GUARD_MSPRT &&
                          blind_advance(&d, plan->n_metrics * (size_t)n_arms);
            st.milestone++;
            st.milestone_started = now;
            st.stage_control = st.stage_treatment = 0;
            break;
        case GUARD_HOLD:
        case GUARD_WAIT_APPROVAL: break;
        }
    }
}
/* One row of the table: figures over all runs of one guard. */
typedef struct sim_cell {
    double rollback; /* fraction of runs rolled back */
    double before;   /* fraction rolled back at <= 25 % */
    double stuck;    /* fraction still running at the cap */
    double srm;      /* fraction paused on SRM */
    double held;     /* fraction holding for want of evidence (alerted) */
    double shipped;  /* fraction completed */
    double blind;    /* fraction that advanced with a metric never judged */
    double wrong;    /* fraction that rolled back a healthy variant */
    double med_min;  /* median minutes to rollback (NAN if none) */
    double med_exp;  /* median treatment exposures at rollback */
    double est;      /* median of the rollback's difference / the truth */
    double adj;      /* median of its shrunk estimate / the truth */
} sim_cell;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Scratch of one cell: medians' inputs (runs entries each) and a world. */
typedef struct sim_scratch {
    double *mins, *exps, *ests, *adjs;
    sim_world *w;
} sim_scratch;

static void run_cell(const sim_config *cfg, size_t sci, double rpm,
                     sim_guard guard, sim_scratch *x, sim_cell *cell)
{
    size_t nrb = 0, nbefore = 0, nstuck = 0, nsrm = 0, nheld = 0, nship = 0;
    size_t nblind = 0, nwrong = 0, nest = 0;
    for (size_t i = 0; i < cfg->runs; i++) {
        sim_rng r;
        sim_run run;
        rng_seed(&r, cfg->seed, sci, (uint64_t)rpm, i, guard);
        run_one(cfg, &SCENARIOS[sci], rpm, guard, &r, x->w, &run);
        if (run.outcome == SIM_ROLLBACK) {
            x->mins[nrb] = run.minutes;
            x->exps[nrb] = (double)run.exposures;
            nrb++;
            nbefore += run.before;
            nwrong += run.wrong;
            if (isfinite(run.est)) {
                x->ests[nest] = run.est;
                x->adjs[nest] = run.adj;
                nest++;
            }
        }
        nstuck += run.outcome == SIM_STUCK;
        nsrm += run.outcome == SIM_SRM;
        nheld += run.outcome == SIM_HELD;
        nship += run.outcome == SIM_COMPLETE;
        nblind += run.blind;
    }
    double n = (double)cfg->runs;
    cell->rollback = (double)nrb / n;
    cell->before = (double)nbefore / n;
    cell->stuck = (double)nstuck / n;
    cell->srm = (double)nsrm / n;
    cell->held = (double)nheld / n;
    cell->shipped = (double)nship / n;
    cell->blind = (double)nblind / n;
    cell->wrong = (double)nwrong / n;
    cell->med_min = median(x->mins, nrb);
    cell->med_exp = median(x->exps, nrb);
    cell->est = median(x->ests, nest);
    cell->adj = median(x->adjs, nest);
}

static void print_cell(const sim_cell *c, bool tsv)
{
    if (tsv) {
        printf("\t%.4f\t%.4f\t%.4f\t%.4f\t", c->rollback, c->before, c->stuck,
               c->srm);
        if (isnan(c->med_min))
            printf("-\t-");
        else
            printf("%.1f\t%.0f", c->med_min, c->med_exp);
        return;
    }
    printf(" | %5.1f %5.1f %4.1f %4.1f ", 100 * c->rollback, 100 * c->before,
           100 * c->stuck, 100 * c->srm);
    if (isnan(c->med_min))
        printf("%6s %8s", "-", "-");
    else
        printf("%6.1f %8.0f", c->med_min, c->med_exp);
}

/* The guard's own columns: held, shipped, blind, wrong variant, and the
 * estimates at a rollback against the truth. */
static void print_extra(const sim_cell *c, bool tsv)
{
    if (tsv) {
        printf("\t%.4f\t%.4f\t%.4f\t%.4f", c->held, c->shipped, c->blind,
               c->wrong);
        if (isnan(c->est))
            printf("\t-\t-");
        else
            printf("\t%.3f\t%.3f", c->est, c->adj);
        return;
    }
    printf(" | %5.1f %5.1f %5.1f %5.1f ", 100 * c->held, 100 * c->shipped,
           100 * c->blind, 100 * c->wrong);
    if (isnan(c->est))
        printf("%5s %5s", "-", "-");
    else
        printf("%5.2f %5.2f", c->est, c->adj);
}

/* ---- options --------------------------------------------------------------
 */

static void usage(FILE *out)
{
    fputs(
        "usage: vexil simulate [--runs N] [--seed S] [--scenarios LIST]\n"
        "                      [--rpm LIST] [--stage-minutes M]\n"
        "                      [--min-exposures N] [--max-minutes M]\n"
        "                      [--look-seconds S] [--error-tolerance X]\n"
        "                      [--error-tau X] [--metrics LIST]\n"
        "                      [--alpha-margin X] [--power X]\n"
        "                      [--max-wait-minutes M]\n"
        "                      [--no-gate] [--no-units] [--peek] [--pooled]\n"
        "                      [--tsv]\n"
        "\n"
        "Runs the rollout guard (always-valid mixture SPRT per variant on\n"
        "error rate, latency and conversion, with its evidence gate, looking\n"
        "every 5 seconds as the server does) and the hand-written rule (roll\n"
        "back when the treatment's error rate in the last minute is over\n"
        "5 %, hold when over 2 %) over synthetic traffic on the plan\n"
        "1 -> 5 -> 25 -> 50 % (then 100 %).\n"
        "\n"
        "  --runs N             runs per scenario and traffic level (1000)\n"
        "  --seed S             base seed (1); same seed, same table\n"
        "  --scenarios LIST     comma-separated, from: healthy, err1.25,\n"
        "                       err1.5, err2, err3, lat1.10, lat1.25,\n"
        "                       lat1.50, conv0.90, srm0.95, drift0.13,\n"
        "                       drift0.5, cluster, cluster-err2,\n"
        "                       var-healthy, var-err2, p99-drift0.3,\n"
        "                       p99-tail (all)\n"
        "  --rpm LIST           requests per minute, comma-separated\n"
        "                       (100,1000,10000,100000)\n"
        "  --stage-minutes M    minimum minutes per milestone (10)\n"
        "  --min-exposures N    treatment exposures in the 25 % milestone\n"
        "                       needed to leave it (0)\n"
        "  --max-minutes M      a run that has not finished is 'stuck' (120)\n"
        "  --look-seconds S     seconds between looks and traffic batches,\n"
        "                       1 to 60 (5, the server's cadence)\n"
        "  --error-tolerance X  relative error-rate rise allowed (0)\n"
        "  --error-tau X        mixing scale of the error-rate test, relative\n"
        "                       to the control rate (0.5)\n"
        "  --metrics LIST       guard metrics, comma-separated, from: errors,\n"
        "                       latency, conversion (all); alpha 0.05 is "
        "split\n"
        "                       equally over them (and the variants)\n"
        "  --alpha-margin X     the tests run at alpha x this (0.7)\n"
        "  --power X            the evidence gate's power for the MDE (0.95)\n"
        "  --max-wait-minutes M how long a milestone short of evidence waits\n"
        "                       past its minimum before holding (60)\n"
        "  --no-gate            no evidence gate: advance on time and\n"
        "                       exposures alone (to show what it prevents)\n"
        "  --no-units           the clustered scenarios report no unit: the\n"
        "                       guard judges requests as independent (to\n"
        "                       show what the per-unit groups prevent)\n"
        "  --peek               add a third guard: one-sided z / Welch tests\n"
        "                       at the same alpha re-run every look\n"
        "  --pooled             test all data since the start as one sample\n"
        "                       instead of per rollout epoch (to show why\n"
        "                       the guard stratifies)\n"
        "  --tsv                tab-separated output with a header line\n"
        "\n"
        "Columns per guard: rb = rolled back %, <=25 = rolled back at 25 %\n"
        "or less, stk = still running at the cap %, srm = paused on\n"
        "sample-ratio mismatch %, min and exp = median minutes and treatment\n"
        "exposures to rollback. The guard's own: held = holding for want of\n"
        "evidence (alerted) %, ship = completed %, blind = advanced with a\n"
        "guard metric never evaluated %, wrong = rolled back a healthy\n"
        "variant %, est and adj = median of the difference and of its shrunk\n"
        "estimate at a rollback over the true difference.\n"
        "On 'healthy', 'drift*', 'cluster', 'var-healthy' and 'p99-drift*'\n"
        "every rollback is a false rollback.\n"
        "Exit status: 0 success, 2 bad usage.\n",
        out);
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_scenarios(char *list, bool *on)
{
    memset(on, 0, N_SCENARIOS * sizeof on[0]);
    bool any = false;
    for (char *p = list; p && *p;) {
        char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        size_t i = 0;
        for (; i < N_SCENARIOS; i++)
            if (strlen(SCENARIOS[i].name) == len &&
                memcmp(SCENARIOS[i].name, p, len) == 0)
                break;
        if (i == N_SCENARIOS) {
            fprintf(stderr, "vexil simulate: unknown scenario '%.*s'\n",
                    (int)len, p);
            return false;
        }
        on[i] = any = true;
        p = comma ? comma + 1 : NULL;
    }
    return any;
}

static bool parse_rpms(char *list, double *rpms, size_t *n)
{
    *n = 0;
    for (char *p = list; p && *p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        uint64_t v;
        if (*n == SIM_MAX_RPMS || !parse_u64(p, 1, SIM_MAX_RPM, &v)) {
            fprintf(stderr,
                    "vexil simulate: --rpm takes up to %d integers from 1 "
                    "to %d, got '%s'\n",
                    SIM_MAX_RPMS, SIM_MAX_RPM, p);
            return false;
        }
        rpms[(*n)++] = (double)v;
        p = comma ? comma + 1 : NULL;
    }
    return *n > 0;
}

/* Which guard metrics the plan watches (bits of --metrics). */
enum { SIM_M_ERRORS = 1, SIM_M_LATENCY = 2, SIM_M_CONVERSION = 4 };

static void make_plan(guard_plan *p, int64_t stage_s, uint64_t min_exp,
                      double err_tol, double err_tau, unsigned metrics)
{
    static const double pct[] = {1, 5, 25, 50};
    guard_plan_init(p);
    p->bounds = false; /* no decision reads harm_bound */
    for (size_t i = 0; i < SIM_MILESTONES; i++)
        p->milestones[i] = (guard_milestone){
            pct[i], stage_s, pct[i] == SIM_BEFORE_PERCENT ? min_exp : 0, 0};
    p->n_milestones = SIM_MILESTONES;
    if (metrics & SIM_M_ERRORS)
        p->metrics[p->n_metrics++] = (guard_metric){GUARD_METRIC_ERROR_RATE,
                                                    GUARD_HIGHER_IS_WORSE,
                                                    err_tol,
                                                    err_tau,
                                                    0,
                                                    0};
    if (metrics & SIM_M_LATENCY)
        p->metrics[p->n_metrics++] = (guard_metric){
            GUARD_METRIC_LATENCY, GUARD_HIGHER_IS_WORSE, 0.0, 0, 0, 0};
    if (metrics & SIM_M_CONVERSION)
        p->metrics[p->n_metrics++] = (guard_metric){
            GUARD_METRIC_CONVERSION, GUARD_LOWER_IS_WORSE, 0.0, 0, 0, 0};
}

static bool parse_metrics(const char *list, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"errors", SIM_M_ERRORS},
                 {"latency", SIM_M_LATENCY},
                 {"conversion", SIM_M_CONVERSION}};
    *out = 0;
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p), i = 0;
        for (; i < 3; i++)
            if (strlen(names[i].name) == len &&
                memcmp(names[i].name, p, len) == 0)
                break;
        if (i == 3) {
            fprintf(stderr, "vexil simulate: unknown metric '%.*s'\n", (int)len,
                    p);
            return false;
        }
        *out |= names[i].bit;
        p = comma ? comma + 1 : NULL;
    }
    return *out != 0;
}

int cli_simulate_main(int argc, char **argv)
{
    sim_config cfg = {.max_minutes = 120, .look_s = 5, .seed = 1, .runs = 1000};
    bool on[N_SCENARIOS];
    for (size_t i = 0; i < N_SCENARIOS; i++)
        on[i] = true;
    double rpms[SIM_MAX_RPMS] = {100, 1000, 10000, 100000};
    size_t nrpm = 4;
    uint64_t stage_min = 10, min_exp = 0, v;
    double err_tol = 0.0, err_tau = 0.0, margin = -1.0, power = -1.0;
    long max_wait = 60;
    bool no_gate = false;
    unsigned metrics = SIM_M_ERRORS | SIM_M_LATENCY | SIM_M_CONVERSION;
    static const struct option longopts[] = {
        {"runs", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"scenarios", required_argument, NULL, 'S'},
        {"rpm", required_argument, NULL, 'r'},
        {"stage-minutes", required_argument, NULL, 'm'},
        {"min-exposures", required_argument, NULL, 'e'},
        {"max-minutes", required_argument, NULL, 'M'},
        {"error-tolerance", required_argument, NULL, 't'},
        {"error-tau", required_argument, NULL, 'u'},
        {"metrics", required_argument, NULL, 'G'},
        {"tsv", no_argument, NULL, 'T'},
        {"peek", no_argument, NULL, 'P'},
        {"pooled", no_argument, NULL, 'O'},
        {"look-seconds", required_argument, NULL, 'L'},
        {"alpha-margin", required_argument, NULL, 'A'},
        {"max-wait-minutes", required_argument, NULL, 'W'},
        {"no-gate", no_argument, NULL, 'N'},
        {"no-units", no_argument, NULL, 'U'},
        {"power", required_argument, NULL, 'W' + 1},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    for (;;) {
        int opt = getopt_long(argc, argv, "h", longopts, NULL);
        if (opt == -1)
            break;
        switch (opt) {
        case 'n':
            if (!parse_u64(optarg, 1, SIM_MAX_RUNS, &v)) {
                fprintf(stderr, "vexil simulate: --runs takes 1 to %d\n",
                        SIM_MAX_RUNS);
                return CLI_EXIT_USAGE;
            }
            cfg.runs = v;
            break;
        case 's':
            if (!parse_u64(optarg, 0, UINT64_MAX, &cfg.seed)) {
                fprintf(stderr, "vexil simulate: --seed takes an unsigned "
                                "integer\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'S':
            if (!parse_scenarios(optarg, on)) {
                fprintf(stderr, "vexil simulate: --scenarios needs at least "
                                "one known scenario\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'r':
            if (!parse_rpms(optarg, rpms, &nrpm))
                return CLI_EXIT_USAGE;
            break;
        case 'm':
            if (!parse_u64(optarg, 0, 10000, &stage_min)) {
                fprintf(stderr, "vexil simulate: --stage-minutes takes 0 to "
                                "10000\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'e':
            if (!parse_u64(optarg, 0, UINT64_MAX, &min_exp)) {
                fprintf(stderr, "vexil simulate: --min-exposures takes an "
                                "unsigned integer\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'M':
            if (!parse_u64(optarg, 1, 100000, &v)) {
                fprintf(stderr, "vexil simulate: --max-minutes takes 1 to "
                                "100000\n");
                return CLI_EXIT_USAGE;
            }
            cfg.max_minutes = (int)v;
            break;
        case 't': {
            char *end;
            errno = 0;
            err_tol = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(err_tol >= 0.0) ||
                err_tol > 100.0) {
                fprintf(stderr, "vexil simulate: --error-tolerance takes a "
                                "number from 0 to 100\n");
                return CLI_EXIT_USAGE;
            }
            break;
        }
        case 'u': {
            char *end;
            errno = 0;
            err_tau = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(err_tau > 0.0) ||
                err_tau > 100.0) {
                fprintf(stderr, "vexil simulate: --error-tau takes a number "
                                "above 0, at most 100\n");
                return CLI_EXIT_USAGE;
            }
            break;
        }
        case 'G':
            if (!parse_metrics(optarg, &metrics)) {
                fprintf(stderr, "vexil simulate: --metrics needs at least one "
                                "of errors, latency, conversion\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'T': cfg.tsv = true; break;
        case 'P': cfg.peek = true; break;
        case 'O': cfg.pooled = true; break;
        case 'N': no_gate = true; break;
        case 'U': cfg.no_units = true; break;
        case 'W' + 1: {
            char *end;
            errno = 0;
            power = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(power >= 0.5) ||
                power > 0.999) {
                fprintf(stderr, "vexil simulate: --power takes a number from "
                                "0.5 to 0.999\n");
                return CLI_EXIT_USAGE;
            }
            break;
        }
        case 'L':
            if (!parse_u64(optarg, 1, 60, &v)) {
                fprintf(stderr, "vexil simulate: --look-seconds takes 1 to "
                                "60\n");
                return CLI_EXIT_USAGE;
            }
            cfg.look_s = (int)v;
            break;
        case 'W':
            if (!parse_u64(optarg, 0, 100000, &v)) {
                fprintf(stderr, "vexil simulate: --max-wait-minutes takes 0 "
                                "to 100000\n");
                return CLI_EXIT_USAGE;
            }
            max_wait = (long)v;
            break;
        case 'A': {
            char *end;
            errno = 0;
            margin = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(margin > 0.0) ||
                margin > 1.0) {
                fprintf(stderr, "vexil simulate: --alpha-margin takes a "
                                "number above 0, at most 1\n");
                return CLI_EXIT_USAGE;
            }
            break;
        }
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vexil simulate: unexpected argument '%s'\n",
                argv[optind]);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    make_plan(&cfg.plan, (int64_t)stage_min * 60, min_exp, err_tol, err_tau,
              metrics);
    cfg.plan.gate = !no_gate;
    cfg.plan.max_wait_s = (int64_t)max_wait * 60;
    if (margin > 0.0)
        cfg.plan.alpha_margin = margin;
    if (power > 0.0)
        cfg.plan.power = power;
    cfg.time_plan = cfg.plan;
    cfg.time_plan.n_metrics = 0;
    cfg.p99_plan = cfg.plan;
    if (cfg.p99_plan.n_metrics < GUARD_PLAN_MAX_METRICS)
        cfg.p99_plan.metrics[cfg.p99_plan.n_metrics++] =
            (guard_metric){GUARD_METRIC_LATENCY_QUANTILE,
                           GUARD_HIGHER_IS_WORSE,
                           0.0,
                           0,
                           0.99,
                           0};
    vx_error err;
    if (guard_plan_validate(&cfg.plan, &err) != VX_OK) {
        fprintf(stderr, "vexil simulate: plan %s: %s\n", err.path, err.message);
        return CLI_EXIT_USAGE;
    }
    bool any_p99 = false, any_cluster = false;
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        any_p99 |= on[i] && SCENARIOS[i].p99;
        any_cluster |= on[i] && SCENARIOS[i].cluster;
    }
    size_t cells = (1 + SIM_ARMS) * SIM_MILESTONES;
    sim_scratch x = {malloc(cfg.runs * sizeof(double)),
                     malloc(cfg.runs * sizeof(double)),
                     malloc(cfg.runs * sizeof(double)),
                     malloc(cfg.runs * sizeof(double)), calloc(1, sizeof *x.w)};
    if (x.w) {
        x.w->cl = any_cluster ? calloc(cells, sizeof(guard_cluster)) : NULL;
        x.w->sk = any_p99 ? calloc(cells, sizeof(guard_sketch)) : NULL;
        for (size_t a = 0; x.w->sk && a < 1 + SIM_ARMS; a++)
            for (size_t e = 0; e < SIM_MILESTONES; e++)
                x.w->skp[a][e] = &x.w->sk[a * SIM_MILESTONES + e];
    }
    int rc = CLI_EXIT_OK;
    if (!x.mins || !x.exps || !x.ests || !x.adjs || !x.w ||
        (any_cluster && !x.w->cl) || (any_p99 && !x.w->sk)) {
        fputs("vexil simulate: out of memory\n", stderr);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (cfg.tsv) {
        static const char *cols = "rollback\tbefore25\tstuck\tsrm\t"
                                  "median_minutes\tmedian_exposures";
        printf("scenario\trpm");
        static const char *pres[] = {"guard_", "hand_", "peek_"};
        for (int g = 0; g < (cfg.peek ? 3 : 2); g++) {
            const char *pre = pres[g];
            const char *c = cols;
            while (*c) {
                size_t l = strcspn(c, "\t");
                printf("\t%s%.*s", pre, (int)l, c);
                c += l + (c[l] == '\t');
            }
        }
        printf("\tguard_held\tguard_shipped\tguard_blind\tguard_wrong_arm"
               "\tguard_est_ratio\tguard_adj_ratio\n");
    } else {
        printf("vexil simulate: %zu runs per row, seed %llu, plan 1/5/25/50 "
               "%%, %llu min per stage, looks every %d s, evidence gate %s\n",
               cfg.runs, (unsigned long long)cfg.seed,
               (unsigned long long)stage_min, cfg.look_s,
               cfg.plan.gate ? "on" : "off");
        printf("%-12s %7s | %-41s | %-41s", "", "",
               "guard (mSPRT, family alpha 0.05)",
               "hand rule (>5 % rollback, >2 % hold)");
        if (cfg.peek)
            printf(" | %-41s", "peek (fixed test every look)");
        printf(" | %-35s", "guard: waiting, shipping, estimates");
        printf("\n%-12s %7s", "scenario", "rpm");
        for (int g = 0; g < (cfg.peek ? 3 : 2); g++)
            printf(" | %5s %5s %4s %4s %6s %8s", "rb", "<=25", "stk", "srm",
                   "min", "exp");
        printf(" | %5s %5s %5s %5s %5s %5s", "held", "ship", "blind", "wrong",
               "est", "adj");
        putchar('\n');
    }
    double worst_false = 0.0, worst_hand_false = 0.0, worst_peek_false = 0.0;
    bool any_healthy = false;
    for (size_t s = 0; s < N_SCENARIOS; s++) {
        if (!on[s])
            continue;
        for (size_t k = 0; k < nrpm; k++) {
            sim_cell g, h, pk = {0};
            run_cell(&cfg, s, rpms[k], SIM_GUARD_MSPRT, &x, &g);
            run_cell(&cfg, s, rpms[k], SIM_GUARD_HAND, &x, &h);
            if (cfg.peek)
                run_cell(&cfg, s, rpms[k], SIM_GUARD_PEEK, &x, &pk);
            if (is_healthy(&SCENARIOS[s])) {
                any_healthy = true;
                worst_false =
                    g.rollback > worst_false ? g.rollback : worst_false;
                worst_hand_false = h.rollback > worst_hand_false
                                       ? h.rollback
                                       : worst_hand_false;
                worst_peek_false = pk.rollback > worst_peek_false
                                       ? pk.rollback
                                       : worst_peek_false;
            }
            if (cfg.tsv)
                printf("%s\t%.0f", SCENARIOS[s].name, rpms[k]);
            else
                printf("%-12s %7.0f", SCENARIOS[s].name, rpms[k]);
            print_cell(&g, cfg.tsv);
            print_cell(&h, cfg.tsv);
            if (cfg.peek)
                print_cell(&pk, cfg.tsv);
            print_extra(&g, cfg.tsv);
            putchar('\n');
            fflush(stdout);
        }
    }
    if (!cfg.tsv && any_healthy) {
        printf("worst false-rollback rate on healthy rollouts: guard %.1f %%, "
               "hand rule %.1f %%",
               100 * worst_false, 100 * worst_hand_false);
        if (cfg.peek)
            printf(", peek %.1f %%", 100 * worst_peek_false);
        putchar('\n');
    }
    if (fflush(stdout) != 0)
        rc = CLI_EXIT_FAIL;
out:
    if (x.w) {
        free(x.w->cl);
        free(x.w->sk);
    }
    free(x.w);
    free(x.mins);
    free(x.exps);
    free(x.ests);
    free(x.adjs);
    return rc;
}
