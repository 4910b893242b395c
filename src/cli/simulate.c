/* `vexil simulate`: runs the rollout guard (guard_plan_decide with its
 * always-valid sequential tests, looking every simulated minute) and the
 * hand-written rule (roll back when the treatment's error rate in the last
 * minute is over 5 %, hold when over 2 %) over synthetic traffic from a
 * seeded generator, and prints how often each rolls back healthy and
 * regressed rollouts, how early, and after how many exposures.
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

/* ---- scenarios ---------------------------------------------------------- */

typedef struct sim_scenario {
    const char *name;     /* on the command line and in the table */
    double error_mult;    /* treatment error rate = base x this */
    double latency_mult;  /* treatment latency = base x this */
    double convert_mult;  /* treatment conversion = base x this */
    double exposure_loss; /* share of treatment exposures never reported */
    double drift; /* both arms' error rate rises by this share per hour */
} sim_scenario;

static const sim_scenario SCENARIOS[] = {
    {"healthy", 1.0, 1.0, 1.0, 0.0},
    {"err1.25", 1.25, 1.0, 1.0, 0.0},
    {"err1.5", 1.5, 1.0, 1.0, 0.0},
    {"err2", 2.0, 1.0, 1.0, 0.0},
    {"err3", 3.0, 1.0, 1.0, 0.0},
    {"lat1.10", 1.0, 1.10, 1.0, 0.0},
    {"lat1.25", 1.0, 1.25, 1.0, 0.0},
    {"lat1.50", 1.0, 1.50, 1.0, 0.0},
    {"conv0.90", 1.0, 1.0, 0.90, 0.0},
    /* healthy, but 5 % of the treatment's exposures are never reported:
     * the guard should pause on the sample ratio, not judge the metrics */
    {"srm0.95", 1.0, 1.0, 1.0, 0.05, 0.0},
    /* healthy, but the error rate of everyone rises while the rollout
     * runs: 13 % an hour (the steepest hour of a +-50 % daily cycle), and
     * 50 % an hour (a slow incident). Both arms alike: no rollback is
     * right. */
    {"drift0.13", 1.0, 1.0, 1.0, 0.0, 0.13},
    {"drift0.5", 1.0, 1.0, 1.0, 0.0, 0.5},
};
#define N_SCENARIOS (sizeof SCENARIOS / sizeof SCENARIOS[0])

static bool is_healthy(const sim_scenario *s)
{
    return s->error_mult == 1.0 && s->latency_mult == 1.0 &&
           s->convert_mult == 1.0 && s->exposure_loss == 0.0;
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

/* ---- one minute of one arm --------------------------------------------- */

/* Adds n requests of an arm to *c: errors, conversions and the moments of
 * log-latency, drawn from their exact sampling distributions (the sum of n
 * normal logs and the chi-square of their spread) instead of one draw per
 * request, so 100,000 requests a minute cost as much as 100. */
static void sim_arm_minute(sim_rng *r, guard_counts *c, uint64_t n,
                           double p_err, double p_conv, double mu)
{
    if (n == 0)
        return;
    double dn = (double)n, sd = SIM_LAT_SIGMA_LOG;
    c->requests += n;
    c->errors += rng_binomial(r, n, p_err);
    c->conversions += rng_binomial(r, n, p_conv);
    double mean = mu + sd / sqrt(dn) * rng_normal(r);
    double ss = sd * sd * rng_chi2(r, n - 1); /* sum of squared deviations */
    guard_moments lm = {dn, dn * mean, ss + dn * mean * mean};
    guard_moments none = {0, 0, 0};
    guard_counts_add_moments(c, &none, &lm);
}

/* ---- runs ---------------------------------------------------------------- */

typedef enum sim_outcome {
    SIM_ROLLBACK,
    SIM_COMPLETE,
    SIM_STUCK, /* neither within max_minutes */
    SIM_SRM,   /* paused on a sample-ratio mismatch */
} sim_outcome;

typedef struct sim_run {
    sim_outcome outcome;
    bool before;        /* rolled back at a percentage <= 25 % */
    int minutes;        /* minute of the rollback */
    uint64_t exposures; /* treatment requests until then */
} sim_run;

typedef struct sim_config {
    guard_plan plan; /* the guard's plan; the hand rule uses its milestones */
    int max_minutes; /* cap of one run */
    uint64_t seed;   /* base seed */
    size_t runs;     /* runs per scenario and rpm */
    bool tsv;        /* machine-readable output */
    bool peek;       /* also run the "peek" guard */
    bool pooled;     /* test without stratifying by rollout epoch */
    guard_plan time_plan; /* `plan` without metrics: time, exposures, SRM */
} sim_config;

/* The guards compared. The values are part of each run's seed. */
typedef enum sim_guard {
    SIM_GUARD_MSPRT = 0, /* guard_plan_decide */
    SIM_GUARD_HAND = 1,  /* the hand-written rule */
    SIM_GUARD_PEEK = 2,  /* a fixed-horizon test re-run every minute */
} sim_guard;

/* The "peek" guard: the plan's metrics judged by one-sided fixed-horizon
 * tests (two-proportion z, Welch on log-latency) at alpha / k, re-run
 * every minute, no tolerance; the time and SRM logic of the plan. It shows
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
    if (guard_plan_decide(&cfg->time_plan, st, now, &d, NULL) != VX_OK)
        return GUARD_HOLD;
    return d.action;
}

static void run_one(const sim_config *cfg, const sim_scenario *sc, double rpm,
                    sim_guard guard, sim_rng *r, sim_run *out)
{
    const guard_plan *plan = &cfg->plan;
    guard_state st = {0};
    guard_counts ec[GUARD_PLAN_MAX_MILESTONES] = {{0}};
    guard_counts et[GUARD_PLAN_MAX_MILESTONES] = {{0}};
    st.epoch_control = ec; /* one epoch per milestone */
    st.epoch_treatment = et;
    double mu = log(SIM_LAT_MEDIAN_MS);
    int64_t t0 = 0;
    memset(out, 0, sizeof *out);
    out->outcome = SIM_STUCK;
    for (int m = 1; m <= cfg->max_minutes; m++) {
        double pct = plan->milestones[st.milestone].percent;
        uint64_t total = rng_poisson(r, rpm);
        uint64_t nt = rng_binomial(r, total, pct / 100.0), nc = total - nt;
        if (sc->exposure_loss > 0.0)
            nt -= rng_binomial(r, nt, sc->exposure_loss);
        uint64_t err_before = st.treatment.errors;
        /* a drifting baseline moves both arms alike */
        double base = SIM_BASE_ERROR * (1.0 + sc->drift * (m - 0.5) / 60.0);
        guard_counts mc = {0}, mt = {0};
        sim_arm_minute(r, &mc, nc, base, SIM_BASE_CONVERT, mu);
        sim_arm_minute(r, &mt, nt, base * sc->error_mult,
                       SIM_BASE_CONVERT * sc->convert_mult,
                       mu + log(sc->latency_mult));
        guard_counts_merge(&st.control, &mc);
        guard_counts_merge(&st.treatment, &mt);
        guard_counts_merge(&ec[st.milestone], &mc);
        guard_counts_merge(&et[st.milestone], &mt);
        st.n_epochs = cfg->pooled ? 0 : st.milestone + 1;
        st.stage_control += nc;
        st.stage_treatment += nt;
        int64_t now = t0 + 60 * m;
        guard_action act;
        if (guard == SIM_GUARD_HAND) {
            double rate =
                nt ? (double)(st.treatment.errors - err_before) / (double)nt
                   : 0.0;
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
            guard_decision d;
            if (guard_plan_decide(plan, &st, now, &d, NULL) != VX_OK)
                return; /* the plan was validated: cannot happen */
            act = d.action;
        }
        switch (act) {
        case GUARD_ROLLBACK:
            out->outcome = SIM_ROLLBACK;
            out->before = pct <= SIM_BEFORE_PERCENT;
            out->minutes = m;
            out->exposures = st.treatment.requests;
            return;
        case GUARD_COMPLETE: out->outcome = SIM_COMPLETE; return;
        case GUARD_PAUSE_SRM: out->outcome = SIM_SRM; return;
        case GUARD_ADVANCE:
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
    double stuck;    /* fraction never finished */
    double srm;      /* fraction paused on SRM */
    double med_min;  /* median minutes to rollback (NAN if none) */
    double med_exp;  /* median treatment exposures at rollback */
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

static void run_cell(const sim_config *cfg, size_t sci, double rpm,
                     sim_guard guard, double *mins, double *exps,
                     sim_cell *cell)
{
    size_t nrb = 0, nbefore = 0, nstuck = 0, nsrm = 0;
    for (size_t i = 0; i < cfg->runs; i++) {
        sim_rng r;
        sim_run run;
        rng_seed(&r, cfg->seed, sci, (uint64_t)rpm, i, guard);
        run_one(cfg, &SCENARIOS[sci], rpm, guard, &r, &run);
        if (run.outcome == SIM_ROLLBACK) {
            mins[nrb] = run.minutes;
            exps[nrb] = (double)run.exposures;
            nrb++;
            nbefore += run.before;
        }
        nstuck += run.outcome == SIM_STUCK;
        nsrm += run.outcome == SIM_SRM;
    }
    double n = (double)cfg->runs;
    cell->rollback = (double)nrb / n;
    cell->before = (double)nbefore / n;
    cell->stuck = (double)nstuck / n;
    cell->srm = (double)nsrm / n;
    cell->med_min = median(mins, nrb);
    cell->med_exp = median(exps, nrb);
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

/* ---- options --------------------------------------------------------------
 */

static void usage(FILE *out)
{
    fputs(
        "usage: vexil simulate [--runs N] [--seed S] [--scenarios LIST]\n"
        "                      [--rpm LIST] [--stage-minutes M]\n"
        "                      [--min-exposures N] [--max-minutes M]\n"
        "                      [--error-tolerance X] [--error-tau X]\n"
        "                      [--metrics LIST] [--peek] [--pooled]\n"
        "                      [--tsv]\n"
        "\n"
        "Runs the rollout guard (always-valid mixture SPRT on error rate,\n"
        "latency and conversion, checked every simulated minute) and the\n"
        "hand-written rule (roll back when the treatment's error rate in the\n"
        "last minute is over 5 %, hold when over 2 %) over synthetic traffic\n"
        "on the plan 1 -> 5 -> 25 -> 50 % (then 100 %).\n"
        "\n"
        "  --runs N             runs per scenario and traffic level (1000)\n"
        "  --seed S             base seed (1); same seed, same table\n"
        "  --scenarios LIST     comma-separated, from: healthy, err1.25,\n"
        "                       err1.5, err2, err3, lat1.10, lat1.25,\n"
        "                       lat1.50, conv0.90, srm0.95, drift0.13,\n"
        "                       drift0.5 (all)\n"
        "  --rpm LIST           requests per minute, comma-separated\n"
        "                       (100,1000,10000,100000)\n"
        "  --stage-minutes M    minimum minutes per milestone (10)\n"
        "  --min-exposures N    treatment exposures (since the start) needed\n"
        "                       to leave the 25 % milestone (0)\n"
        "  --max-minutes M      a run that has not finished is 'stuck' (120)\n"
        "  --error-tolerance X  relative error-rate rise allowed (0)\n"
        "  --error-tau X        mixing scale of the error-rate test, relative\n"
        "                       to the control rate (0.5)\n"
        "  --metrics LIST       guard metrics, comma-separated, from: errors,\n"
        "                       latency, conversion (all); alpha 0.05 is "
        "split\n"
        "                       equally over them\n"
        "  --peek               add a third guard: one-sided z / Welch tests\n"
        "                       at the same alpha re-run every minute\n"
        "  --pooled             test all data since the start as one sample\n"
        "                       instead of per rollout epoch (to show why\n"
        "                       the guard stratifies)\n"
        "  --tsv                tab-separated output with a header line\n"
        "\n"
        "Columns per guard: rb = rolled back %, <=25 = rolled back at 25 %\n"
        "or less, stk = stuck %, srm = paused on sample-ratio mismatch %,\n"
        "min and exp = median minutes and treatment exposures to rollback.\n"
        "On 'healthy' every rollback is a false rollback.\n"
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
    for (size_t i = 0; i < 4; i++)
        p->milestones[i] = (guard_milestone){
            pct[i], stage_s, pct[i] == SIM_BEFORE_PERCENT ? min_exp : 0};
    p->n_milestones = 4;
    if (metrics & SIM_M_ERRORS)
        p->metrics[p->n_metrics++] = (guard_metric){
            GUARD_METRIC_ERROR_RATE, GUARD_HIGHER_IS_WORSE, err_tol, err_tau};
    if (metrics & SIM_M_LATENCY)
        p->metrics[p->n_metrics++] =
            (guard_metric){GUARD_METRIC_LATENCY, GUARD_HIGHER_IS_WORSE, 0.0, 0};
    if (metrics & SIM_M_CONVERSION)
        p->metrics[p->n_metrics++] = (guard_metric){
            GUARD_METRIC_CONVERSION, GUARD_LOWER_IS_WORSE, 0.0, 0};
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
    sim_config cfg = {.max_minutes = 120, .seed = 1, .runs = 1000};
    bool on[N_SCENARIOS];
    for (size_t i = 0; i < N_SCENARIOS; i++)
        on[i] = true;
    double rpms[SIM_MAX_RPMS] = {100, 1000, 10000, 100000};
    size_t nrpm = 4;
    uint64_t stage_min = 10, min_exp = 0, v;
    double err_tol = 0.0, err_tau = 0.0;
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
    cfg.time_plan = cfg.plan;
    cfg.time_plan.n_metrics = 0;
    vx_error err;
    if (guard_plan_validate(&cfg.plan, &err) != VX_OK) {
        fprintf(stderr, "vexil simulate: plan %s: %s\n", err.path, err.message);
        return CLI_EXIT_USAGE;
    }

    double *mins = malloc(cfg.runs * sizeof *mins);
    double *exps = malloc(cfg.runs * sizeof *exps);
    if (!mins || !exps) {
        free(mins);
        free(exps);
        fputs("vexil simulate: out of memory\n", stderr);
        return CLI_EXIT_FAIL;
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
        putchar('\n');
    } else {
        printf("vexil simulate: %zu runs per row, seed %llu, plan 1/5/25/50 "
               "%%, %llu min per stage, looks every minute\n",
               cfg.runs, (unsigned long long)cfg.seed,
               (unsigned long long)stage_min);
        printf("%-9s %7s | %-41s | %-41s", "", "",
               "guard (mSPRT, family alpha 0.05)",
               "hand rule (>5 % rollback, >2 % hold)");
        if (cfg.peek)
            printf(" | %-41s", "peek (fixed test every minute)");
        printf("\n%-9s %7s", "scenario", "rpm");
        for (int g = 0; g < (cfg.peek ? 3 : 2); g++)
            printf(" | %5s %5s %4s %4s %6s %8s", "rb", "<=25", "stk", "srm",
                   "min", "exp");
        putchar('\n');
    }
    double worst_false = 0.0, worst_hand_false = 0.0, worst_peek_false = 0.0;
    for (size_t s = 0; s < N_SCENARIOS; s++) {
        if (!on[s])
            continue;
        for (size_t k = 0; k < nrpm; k++) {
            sim_cell g, h, pk = {0};
            run_cell(&cfg, s, rpms[k], SIM_GUARD_MSPRT, mins, exps, &g);
            run_cell(&cfg, s, rpms[k], SIM_GUARD_HAND, mins, exps, &h);
            if (cfg.peek)
                run_cell(&cfg, s, rpms[k], SIM_GUARD_PEEK, mins, exps, &pk);
            if (is_healthy(&SCENARIOS[s])) {
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
                printf("%-9s %7.0f", SCENARIOS[s].name, rpms[k]);
            print_cell(&g, cfg.tsv);
            print_cell(&h, cfg.tsv);
            if (cfg.peek)
                print_cell(&pk, cfg.tsv);
            putchar('\n');
            fflush(stdout);
        }
    }
    if (!cfg.tsv && on[0]) {
        printf("worst false-rollback rate on healthy rollouts: guard %.1f %%, "
               "hand rule %.1f %%",
               100 * worst_false, 100 * worst_hand_false);
        if (cfg.peek)
            printf(", peek %.1f %%", 100 * worst_peek_false);
        putchar('\n');
    }
    free(mins);
    free(exps);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
