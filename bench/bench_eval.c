/* bench_eval: evaluation throughput and allocations of libvexil.
 *
 * One "eval" is one vx_is_enabled_at plus one vx_get_variant_at for one flag
 * and one context: the pair an SDK-style caller makes to learn both answers.
 * A pass evaluates every flag for every context (context-major, as a server
 * answering "all flags for this user" does); ns_per_eval is the median over
 * the passes of pass time / (flags x contexts). Allocations are counted by
 * the process-wide interposer in alloc_count.c over the measured passes. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "bench_util.h"
#include "vexil/vexil.h"

/* Wed 2024-05-01 10:00:00 UTC: "now" for contexts without currentTime. */
#define BENCH_NOW_MS INT64_C(1714557600000)

typedef enum order { ORDER_CONTEXT, ORDER_FLAG } order;

/* What one step of a pass calls. */
typedef enum mode {
    MODE_PAIR,    /* vx_is_enabled_at + vx_get_variant_at: one "eval" */
    MODE_ENABLED, /* vx_is_enabled_at alone (--split) */
    MODE_VARIANT, /* vx_get_variant_at alone (--split) */
    MODE_BOTH,    /* vx_evaluate_at: both answers, one walk (--split) */
} mode;

typedef struct options {
    const char *features; /* features document path */
    const char *contexts; /* contexts array path */
    size_t passes;        /* measured passes */
    order order;          /* loop nesting */
    bool split;           /* also time each call on its own */
} options;

/* What a pass saw, to show the inputs exercise the interesting paths. */
typedef struct tally {
    uint64_t enabled;  /* is_enabled answered true */
    uint64_t variants; /* get_variant chose a real variant */
    uint64_t payloads; /* ... with a payload */
} tally;

/* xorshift32 for the `random` stickiness and gradualRolloutRandom, which
 * draw from the context's source (the context set supplies none). */
static uint32_t bench_random(void *ud)
{
    uint32_t *s = ud;
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static inline uint64_t eval_one(const vx_snapshot *snap, vx_scratch *sc,
                                size_t flag, const vx_context *ctx, mode m,
                                tally *t)
{
    vx_variant v = {{NULL, 0}, false, false, {NULL, 0}, {NULL, 0}};
    bool on = false;
    if (m == MODE_BOTH) {
        on = vx_evaluate_at(snap, sc, flag, ctx, &v);
    } else {
        if (m != MODE_VARIANT)
            on = vx_is_enabled_at(snap, sc, flag, ctx);
        if (m != MODE_ENABLED)
            vx_get_variant_at(snap, sc, flag, ctx, &v);
    }
    if (t) {
        t->enabled += on;
        t->variants += v.enabled;
        t->payloads += v.payload_type.ptr != NULL;
    }
    return (uint64_t)on + v.name.len + (uintptr_t)v.payload_value.ptr;
}

/* One pass over every (flag, context) pair; returns elapsed nanoseconds.
 * The folded results go to `*sink`, a volatile, so no call can be elided. */
static uint64_t run_pass(const vx_snapshot *snap, vx_scratch *sc,
                         const vx_context *ctxs, size_t nctx, size_t nflags,
                         order ord, mode m, tally *t, volatile uint64_t *sink)
{
    uint64_t acc = 0;
    uint64_t t0 = bench_now_ns();
    if (ord == ORDER_CONTEXT) {
        for (size_t c = 0; c < nctx; c++) {
            for (size_t f = 0; f < nflags; f++)
                acc += eval_one(snap, sc, f, &ctxs[c], m, t);
        }
    } else {
        for (size_t f = 0; f < nflags; f++) {
            for (size_t c = 0; c < nctx; c++)
                acc += eval_one(snap, sc, f, &ctxs[c], m, t);
        }
    }
    uint64_t t1 = bench_now_ns();
    *sink = acc;
    return t1 - t0;
}

static void usage(FILE *out)
{
    fputs("usage: bench_eval --features FILE --contexts FILE [--passes N]\n"
          "                  [--order context|flag]\n"
          "\n"
          "Evaluates vx_is_enabled_at + vx_get_variant_at for every flag and\n"
          "every context, once to warm up and then N times (default 15).\n"
          "Prints ns_per_eval (median over passes; one eval = one\n"
          "is_enabled + one get_variant for one flag and one context) and\n"
          "allocs_per_eval (every malloc/calloc/realloc in the process during\n"
          "the measured passes, divided by the evals).\n"
          "--order: context (default) = all flags for one context, then the\n"
          "next context; flag = all contexts for one flag.\n"
          "--split: also N passes of each call alone (ns_is_enabled,\n"
          "ns_get_variant: per call).\n",
          out);
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct option LONG[] = {
        {"features", required_argument, NULL, 'f'},
        {"contexts", required_argument, NULL, 'c'},
        {"passes", required_argument, NULL, 'p'},
        {"order", required_argument, NULL, 'o'},
        {"split", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.passes = 15, .order = ORDER_CONTEXT};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", LONG, NULL)) != -1) {
        switch (opt) {
        case 'f': o->features = optarg; break;
        case 'c': o->contexts = optarg; break;
        case 'p': o->passes = bench_parse_count("--passes", optarg); break;
        case 'o':
            if (strcmp(optarg, "context") == 0) {
                o->order = ORDER_CONTEXT;
            } else if (strcmp(optarg, "flag") == 0) {
                o->order = ORDER_FLAG;
            } else {
                fprintf(stderr, "bench_eval: unknown --order \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 's': o->split = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (!o->features || !o->contexts || optind != argc) {
        usage(stderr);
        return 2;
    }
    return 0;
}

static void print_error(const char *file, const vx_error *err)
{
    fprintf(stderr, "bench_eval: %s:%u:%u: %s%s%s\n", file, err->line,
            err->column, err->path, err->path[0] ? ": " : "", err->message);
}

int main(int argc, char **argv)
{
    options o;
    char *fjson = NULL, *cjson = NULL;
    vx_snapshot *snap = NULL;
    vx_context_set *set = NULL;
    vx_context *ctxs = NULL;
    vx_scratch *sc = NULL;
    double *ns = NULL;
    size_t flen, clen;
    vx_error err;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc;
    rc = 1;
    fjson = bench_read_file(o.features, &flen);
    cjson = bench_read_file(o.contexts, &clen);
    if (!fjson || !cjson)
        goto out;
    if (vx_snapshot_load(fjson, flen, NULL, &snap, &err) != VX_OK) {
        print_error(o.features, &err);
        goto out;
    }
    if (vx_context_set_parse(cjson, clen, BENCH_NOW_MS, &set, &err) != VX_OK) {
        print_error(o.contexts, &err);
        goto out;
    }
    size_t nflags = vx_snapshot_flag_count(snap);
    size_t nctx = vx_context_set_count(set);
    uint32_t seed = 0x9e3779b9u;
    /* Copies of the contexts (strings still borrowed from the set) that
     * carry a random source. */
    ctxs = calloc(nctx ? nctx : 1, sizeof(*ctxs));
    ns = calloc(o.passes, sizeof(*ns));
    sc = vx_scratch_new();
    if (!ctxs || !ns || !sc) {
        fputs("bench_eval: out of memory\n", stderr);
        goto out;
    }
    for (size_t i = 0; i < nctx; i++) {
        ctxs[i] = *vx_context_set_get(set, i);
        ctxs[i].random = bench_random;
        ctxs[i].random_ud = &seed;
    }
    double evals_per_pass = (double)nflags * (double)nctx;
    if (evals_per_pass == 0) {
        fputs("bench_eval: nothing to evaluate (no flags or no contexts)\n",
              stderr);
        goto out;
    }

    volatile uint64_t sink = 0;
    tally t = {0, 0, 0};
    double warm_ns = (double)run_pass(snap, sc, ctxs, nctx, nflags, o.order,
                                      MODE_PAIR, &t, &sink);
    uint64_t a0 = bench_alloc_count(), f0 = bench_free_count();
    for (size_t p = 0; p < o.passes; p++)
        ns[p] = (double)run_pass(snap, sc, ctxs, nctx, nflags, o.order,
                                 MODE_PAIR, NULL, &sink) /
                evals_per_pass;
    uint64_t allocs = bench_alloc_count() - a0;
    uint64_t frees = bench_free_count() - f0;
    double split[3] = {0, 0, 0};
    static const mode split_modes[3] = {MODE_ENABLED, MODE_VARIANT, MODE_BOTH};
    for (int k = 0; k < 3 && o.split; k++) {
        double *sp = calloc(o.passes, sizeof(*sp));
        if (!sp) {
            fputs("bench_eval: out of memory\n", stderr);
            goto out;
        }
        for (size_t p = 0; p < o.passes; p++)
            sp[p] = (double)run_pass(snap, sc, ctxs, nctx, nflags, o.order,
                                     split_modes[k], NULL, &sink) /
                    evals_per_pass;
        split[k] = bench_median(sp, o.passes);
        free(sp);
    }

    double evals = evals_per_pass * (double)o.passes;
    double min = ns[0], max = ns[0];
    for (size_t p = 1; p < o.passes; p++) {
        min = ns[p] < min ? ns[p] : min;
        max = ns[p] > max ? ns[p] : max;
    }
    double median = bench_median(ns, o.passes);
    printf("# one eval = vx_is_enabled_at + vx_get_variant_at, one flag x one "
           "context\n");
    printf("flags=%zu\n", nflags);
    printf("contexts=%zu\n", nctx);
    printf("order=%s\n", o.order == ORDER_CONTEXT ? "context" : "flag");
    printf("passes=%zu\n", o.passes);
    printf("evals=%.0f\n", evals);
    printf("evals_per_pass=%.0f\n", evals_per_pass);
    printf("ns_per_eval=%.1f\n", median);
    printf("ns_per_eval_min=%.1f\n", min);
    printf("ns_per_eval_max=%.1f\n", max);
    printf("ns_per_eval_warmup=%.1f\n", warm_ns / evals_per_pass);
    printf("evals_per_sec=%.0f\n", 1e9 / median);
    if (o.split) {
        printf("ns_is_enabled=%.1f\n", split[0]);
        printf("ns_get_variant=%.1f\n", split[1]);
        printf("ns_evaluate_both=%.1f\n", split[2]);
    }
    printf("allocs=%llu\n", (unsigned long long)allocs);
    printf("frees=%llu\n", (unsigned long long)frees);
    if (allocs == 0)
        printf("allocs_per_eval=0\n");
    else
        printf("allocs_per_eval=%.6f\n", (double)allocs / evals);
    printf("enabled_ratio=%.3f\n", (double)t.enabled / evals_per_pass);
    printf("variant_ratio=%.3f\n", (double)t.variants / evals_per_pass);
    printf("payload_ratio=%.3f\n", (double)t.payloads / evals_per_pass);
    rc = 0;
out:
    vx_scratch_free(sc);
    free(ns);
    free(ctxs);
    vx_context_set_free(set);
    vx_snapshot_unref(snap);
    free(cjson);
    free(fjson);
    return rc;
}
