/* bench_guard: the cost of the guard's building blocks, the figures a
 * scheduler looking at many running plans every few seconds and an ingest
 * path filling minute buckets care about. Prints key=value lines:
 *   ns_decide          guard_plan_decide, 3 metrics, 4 epochs
 *   ns_sketch_add      guard_sketch_add, one latency
 *   ns_sketch_merge    merging one minute's sketch into an hour's
 *   ns_sketch_encode   encoding one minute's sketch (1,000 latencies)
 *   ns_sketch_decode   decoding it
 *   sketch_bytes       its encoded size
 * Each figure is the median of --passes passes (default 7). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "guard/plan.h"
#include "guard/sketch.h"

#define PASSES_MAX 101

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* log-normal latency, median 200 ms, sigma_log 0.5 */
static double latency(uint64_t *s)
{
    double u1 = ((double)(rng(s) >> 11) + 0.5) * 0x1.0p-53;
    double u2 = ((double)(rng(s) >> 11) + 0.5) * 0x1.0p-53;
    return 200.0 * exp(0.5 * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

static guard_counts arm(uint64_t n, double err, double mu)
{
    guard_counts a = {0};
    double dn = (double)n;
    a.requests = n;
    a.errors = (uint64_t)(err * dn);
    a.conversions = n / 10;
    a.log_latency = (guard_moments){dn, dn * mu, dn * (mu * mu + 0.25)};
    return a;
}

static double per_op(uint64_t t0, uint64_t t1, size_t ops)
{
    return (double)(t1 - t0) / (double)ops;
}

int main(int argc, char **argv)
{
    size_t passes = 7;
    static const struct option longopts[] = {
        {"passes", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
    for (;;) {
        int opt = getopt_long(argc, argv, "", longopts, NULL);
        if (opt == -1)
            break;
        if (opt != 'p') {
            fputs("usage: bench_guard [--passes N]\n", stderr);
            return 2;
        }
        passes = bench_parse_count("--passes", optarg);
        if (passes > PASSES_MAX)
            passes = PASSES_MAX;
    }

    guard_plan plan;
    guard_plan_init(&plan);
    const double pct[4] = {1, 5, 25, 50};
    for (size_t i = 0; i < 4; i++)
        plan.milestones[i] = (guard_milestone){pct[i], 600, 0};
    plan.n_milestones = 4;
    plan.metrics[0] = (guard_metric){GUARD_METRIC_ERROR_RATE,
                                     GUARD_HIGHER_IS_WORSE, 0.1, 0, 0};
    plan.metrics[1] =
        (guard_metric){GUARD_METRIC_LATENCY, GUARD_HIGHER_IS_WORSE, 0, 0, 0};
    plan.metrics[2] =
        (guard_metric){GUARD_METRIC_CONVERSION, GUARD_LOWER_IS_WORSE, 0, 0, 0};
    plan.n_metrics = 3;
    guard_counts ec[4], et[4];
    guard_state st = {0};
    for (size_t i = 0; i < 4; i++) {
        uint64_t nt = (uint64_t)(100000 * pct[i] / 100);
        ec[i] = arm(100000 - nt, 0.01, 5.3);
        et[i] = arm(nt, 0.0105, 5.31);
        guard_counts_merge(&st.control, &ec[i]);
        guard_counts_merge(&st.treatment, &et[i]);
    }
    st.milestone = 3;
    st.epoch_control = ec;
    st.epoch_treatment = et;
    st.n_epochs = 4;
    st.stage_control = ec[3].requests;
    st.stage_treatment = et[3].requests;

    static guard_sketch minute, hour, back;
    static uint8_t buf[GUARD_SKETCH_ENCODED_MAX];
    static double lat[1000];
    uint64_t seed = 1;
    for (size_t i = 0; i < 1000; i++)
        lat[i] = latency(&seed);

    double f_decide[PASSES_MAX], f_add[PASSES_MAX], f_merge[PASSES_MAX];
    double f_enc[PASSES_MAX], f_dec[PASSES_MAX];
    size_t bytes = 0;
    volatile int sink = 0;
    for (size_t p = 0; p < passes; p++) {
        const size_t nd = 20000;
        guard_decision d;
        uint64_t t0 = bench_now_ns();
        for (size_t i = 0; i < nd; i++) {
            (void)guard_plan_decide(&plan, &st, 1800000000 + (int64_t)i, &d,
                                    NULL);
            sink += (int)d.action;
        }
        f_decide[p] = per_op(t0, bench_now_ns(), nd);

        t0 = bench_now_ns();
        guard_sketch_init(&minute);
        for (size_t i = 0; i < 1000; i++)
            (void)guard_sketch_add(&minute, lat[i], 1);
        f_add[p] = per_op(t0, bench_now_ns(), 1000);

        const size_t nm = 2000;
        guard_sketch_init(&hour);
        t0 = bench_now_ns();
        for (size_t i = 0; i < nm; i++)
            guard_sketch_merge(&hour, &minute);
        f_merge[p] = per_op(t0, bench_now_ns(), nm);

        const size_t ne = 2000;
        t0 = bench_now_ns();
        for (size_t i = 0; i < ne; i++)
            (void)guard_sketch_encode(&minute, buf, sizeof buf, &bytes);
        f_enc[p] = per_op(t0, bench_now_ns(), ne);
        t0 = bench_now_ns();
        for (size_t i = 0; i < ne; i++) {
            (void)guard_sketch_decode(buf, bytes, &back, NULL);
            sink += (int)back.count;
        }
        f_dec[p] = per_op(t0, bench_now_ns(), ne);
    }
    (void)sink;
    printf("ns_decide=%.0f\n", bench_median(f_decide, passes));
    printf("ns_sketch_add=%.1f\n", bench_median(f_add, passes));
    printf("ns_sketch_merge=%.0f\n", bench_median(f_merge, passes));
    printf("ns_sketch_encode=%.0f\n", bench_median(f_enc, passes));
    printf("ns_sketch_decode=%.0f\n", bench_median(f_dec, passes));
    printf("sketch_bytes=%zu\n", bytes);
    printf("sketch_struct_bytes=%zu\n", sizeof(guard_sketch));
    return 0;
}
