/* bench_load: time and memory of compiling a features document with
 * vx_snapshot_load (JSON parse + validation + compile).
 *
 * The file is read once; every run then happens in a freshly forked child,
 * so each run's peak RSS (ru_maxrss) and heap figures belong to exactly one
 * load and are not muddied by the runs before it. For attribution the same
 * is done for jansson's json_loadb alone (the parse step of the loader). */
#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc_count.h"
#include "bench_util.h"
#include "vexil/vexil.h"

#define MB (1024.0 * 1024.0)

/* What one child measured; sent to the parent through a pipe. */
typedef struct sample {
    int ok;              /* 1 = the load (or parse) succeeded */
    double ms;           /* wall time of the call */
    uint64_t flags;      /* flags in the snapshot */
    uint64_t rss_base;   /* bytes resident before the call */
    uint64_t rss_peak;   /* ru_maxrss after the call, bytes */
    uint64_t rss_after;  /* bytes resident after the call */
    uint64_t rss_trim;   /* bytes resident after malloc_trim(0) */
    uint64_t heap_delta; /* heap bytes in use after - before */
    uint64_t allocs;     /* allocation calls during the call */
} sample;

typedef enum what {
    WHAT_LOAD,  /* one vx_snapshot_load in a fresh process */
    WHAT_PARSE, /* one json_loadb in a fresh process */
    WHAT_WARM,  /* `reps` loads after a warm-up load, same process */
} what;

static uint64_t rss_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t rss_peak(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

static uint64_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

/* WHAT_WARM: the median time of `reps` loads, each freed before the next,
 * after one unmeasured load: a server that reloads its flags pays this, as
 * its heap already holds the pages a load needs. */
static void measure_warm(const char *json, size_t len, size_t reps, sample *s)
{
    double *ms = calloc(reps, sizeof(*ms));
    memset(s, 0, sizeof(*s));
    s->ok = ms != NULL;
    for (size_t r = 0; r <= reps && s->ok; r++) {
        vx_snapshot *snap = NULL;
        uint64_t t0 = bench_now_ns();
        s->ok = vx_snapshot_load(json, len, NULL, &snap, NULL) == VX_OK;
        uint64_t t1 = bench_now_ns();
        if (r > 0)
            ms[r - 1] = (double)(t1 - t0) / 1e6;
        vx_snapshot_unref(snap);
    }
    if (s->ok)
        s->ms = bench_median(ms, reps);
    free(ms);
}

/* The child's side: one measured call, results into `s`. The snapshot (or
 * DOM) is kept alive until after the "after" figures are taken. */
static void measure(what w, const char *json, size_t len, sample *s)
{
    vx_snapshot *snap = NULL;
    json_t *doc = NULL;
    vx_error err;
    memset(s, 0, sizeof(*s));
    s->rss_base = rss_now();
    uint64_t heap0 = heap_in_use();
    uint64_t a0 = bench_alloc_count();
    uint64_t t0 = bench_now_ns();
    if (w == WHAT_LOAD) {
        s->ok = vx_snapshot_load(json, len, NULL, &snap, &err) == VX_OK;
        if (!s->ok)
            fprintf(stderr, "bench_load: %u:%u: %s: %s\n", err.line, err.column,
                    err.path, err.message);
    } else {
        json_error_t jerr;
        doc = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                         &jerr);
        s->ok = doc != NULL;
    }
    uint64_t t1 = bench_now_ns();
    s->allocs = bench_alloc_count() - a0;
    s->ms = (double)(t1 - t0) / 1e6;
    s->flags = snap ? vx_snapshot_flag_count(snap) : 0;
    s->rss_peak = rss_peak();
    s->rss_after = rss_now();
    uint64_t heap1 = heap_in_use();
    s->heap_delta = heap1 > heap0 ? heap1 - heap0 : 0;
    malloc_trim(0);
    s->rss_trim = rss_now();
    vx_snapshot_unref(snap);
    json_decref(doc);
}

/* Runs `measure` (or `measure_warm` with `reps`) in a forked child; returns
 * false if the child failed. */
static bool run_child(what w, const char *json, size_t len, size_t reps,
                      sample *s)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("bench_load: pipe");
        return false;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_load: fork");
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        sample cs;
        if (w == WHAT_WARM)
            measure_warm(json, len, reps, &cs);
        else
            measure(w, json, len, &cs);
        ssize_t n = write(fds[1], &cs, sizeof(cs));
        _exit(n == (ssize_t)sizeof(cs) ? 0 : 1);
    }
    close(fds[1]);
    ssize_t got = 0;
    while (got < (ssize_t)sizeof(*s)) {
        ssize_t n = read(fds[0], (char *)s + got, sizeof(*s) - (size_t)got);
        if (n <= 0)
            break;
        got += n;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return got == (ssize_t)sizeof(*s) && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0 && s->ok;
}

/* Runs `runs` children; fills the medians into `med` (times, memory) and
 * the largest peak into `*worst_peak`. */
static bool run_many(what w, const char *json, size_t len, size_t runs,
                     sample *med, double *ms_min, uint64_t *worst_peak)
{
    double *ms = calloc(runs, sizeof(*ms));
    double *peak = calloc(runs, sizeof(*peak));
    double *base = calloc(runs, sizeof(*base));
    double *after = calloc(runs, sizeof(*after));
    double *trim = calloc(runs, sizeof(*trim));
    bool ok = ms && peak && base && after && trim;
    sample s;
    *worst_peak = 0;
    for (size_t r = 0; r < runs && ok; r++) {
        ok = run_child(w, json, len, 0, &s);
        ms[r] = s.ms;
        peak[r] = (double)s.rss_peak;
        base[r] = (double)s.rss_base;
        after[r] = (double)s.rss_after;
        trim[r] = (double)s.rss_trim;
        *worst_peak = s.rss_peak > *worst_peak ? s.rss_peak : *worst_peak;
        *med = s; /* flags, heap_delta, allocs: identical in every run */
    }
    if (ok) {
        *ms_min = ms[0];
        for (size_t r = 1; r < runs; r++)
            *ms_min = ms[r] < *ms_min ? ms[r] : *ms_min;
        med->ms = bench_median(ms, runs);
        med->rss_peak = (uint64_t)bench_median(peak, runs);
        med->rss_base = (uint64_t)bench_median(base, runs);
        med->rss_after = (uint64_t)bench_median(after, runs);
        med->rss_trim = (uint64_t)bench_median(trim, runs);
    }
    free(trim);
    free(after);
    free(base);
    free(peak);
    free(ms);
    return ok;
}

static void usage(FILE *out)
{
    fputs("usage: bench_load --features FILE [--runs N]\n"
          "\n"
          "Measures vx_snapshot_load (parse + compile) of FILE, each run in a\n"
          "fresh forked process (default 5 runs), and prints the median\n"
          "load_ms, peak RSS (ru_maxrss of that process) and its increase\n"
          "over the RSS before the load, and the heap the snapshot keeps\n"
          "(snapshot_bytes). load_ms_warm is the median of N more loads in\n"
          "one process after a warm-up load (a server's reload). The same\n"
          "for jansson's parse alone is printed as json_* for attribution.\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct option LONG[] = {
        {"features", required_argument, NULL, 'f'},
        {"runs", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    size_t runs = 5, len;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", LONG, NULL)) != -1) {
        switch (opt) {
        case 'f': path = optarg; break;
        case 'r': runs = bench_parse_count("--runs", optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!path || optind != argc) {
        usage(stderr);
        return 2;
    }
    char *json = bench_read_file(path, &len);
    if (!json)
        return 1;
    sample load, parse, warm;
    double load_min, parse_min;
    uint64_t load_worst, parse_worst;
    int rc = 1;
    if (!run_many(WHAT_LOAD, json, len, runs, &load, &load_min, &load_worst)) {
        fprintf(stderr, "bench_load: loading %s failed\n", path);
        goto out;
    }
    if (!run_many(WHAT_PARSE, json, len, runs, &parse, &parse_min,
                  &parse_worst)) {
        fprintf(stderr, "bench_load: jansson cannot parse %s\n", path);
        goto out;
    }
    if (!run_child(WHAT_WARM, json, len, runs, &warm)) {
        fprintf(stderr, "bench_load: warm loads of %s failed\n", path);
        goto out;
    }
    printf("# each run in a fresh forked process; medians over runs\n");
    printf("file_mb=%.1f\n", (double)len / MB);
    printf("runs=%zu\n", runs);
    printf("flags=%llu\n", (unsigned long long)load.flags);
    printf("load_ms=%.1f\n", load.ms);
    printf("load_ms_min=%.1f\n", load_min);
    printf("load_ms_warm=%.1f\n", warm.ms);
    printf("peak_rss_mb=%.1f\n", (double)load.rss_peak / MB);
    printf("peak_rss_max_mb=%.1f\n", (double)load_worst / MB);
    printf("rss_before_mb=%.1f\n", (double)load.rss_base / MB);
    printf("peak_rss_increase_mb=%.1f\n",
           (double)(load.rss_peak - load.rss_base) / MB);
    printf("rss_after_load_mb=%.1f\n", (double)load.rss_after / MB);
    printf("rss_after_trim_mb=%.1f\n", (double)load.rss_trim / MB);
    printf("snapshot_bytes=%llu\n", (unsigned long long)load.heap_delta);
    printf("snapshot_mb=%.1f\n", (double)load.heap_delta / MB);
    printf("bytes_per_flag=%.0f\n",
           load.flags ? (double)load.heap_delta / (double)load.flags : 0.0);
    printf("load_allocs=%llu\n", (unsigned long long)load.allocs);
    printf("json_parse_ms=%.1f\n", parse.ms);
    printf("json_peak_rss_increase_mb=%.1f\n",
           (double)(parse.rss_peak - parse.rss_base) / MB);
    printf("json_dom_mb=%.1f\n", (double)parse.heap_delta / MB);
    printf("json_allocs=%llu\n", (unsigned long long)parse.allocs);
    printf("compile_ms=%.1f\n", load.ms - parse.ms);
    rc = 0;
out:
    free(json);
    return rc;
}
