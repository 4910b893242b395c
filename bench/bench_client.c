/* bench_client: what the C SDK adds to an evaluation. A vx_client starts
 * from a backup file (its URL points at a closed port, so nothing is
 * fetched and the numbers measure only the caller's path), then 1..N
 * threads call vx_client_is_enabled over 100 flags, against a baseline of
 * vx_is_enabled on the same snapshot. Prints ns per call (median of 5
 * passes of 1,000,000 calls per thread) and allocations per call.
 *
 *   bench_client [THREADS]   (default 2) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_count.h"
#include "bench_util.h"
#include "vexil/client.h"

#define FLAGS  100
#define CALLS  1000000
#define PASSES 5

static char names[FLAGS][16];

typedef struct job {
    vx_client *c;   /* the client (NULL: baseline) */
    vx_snapshot *s; /* the baseline's snapshot */
    uint64_t ns;    /* time of this thread's calls */
    unsigned on;    /* answers that were true (keeps the calls alive) */
} job;

static void *run(void *ud)
{
    job *j = ud;
    vx_scratch *sc = vx_scratch_new();
    vx_context ctx = {0};
    ctx.user_id = (vx_str){"user-42", 7};
    ctx.now_ms = vx_client_now_ms();
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < CALLS; i++) {
        const char *n = names[i % FLAGS];
        size_t len = strlen(n);
        j->on += j->c ? vx_client_is_enabled(j->c, sc, n, len, &ctx)
                      : vx_is_enabled(j->s, sc, n, len, &ctx);
    }
    j->ns = bench_now_ns() - t0;
    vx_scratch_free(sc);
    return NULL;
}

/* Median ns per call over the passes, with `threads` threads. */
static double measure(vx_client *c, vx_snapshot *s, int threads, double *allocs)
{
    double per[PASSES];
    uint64_t a0 = bench_alloc_count();
    for (int p = 0; p < PASSES; p++) {
        pthread_t th[16];
        job jobs[16];
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){c, s, 0, 0};
            pthread_create(&th[t], NULL, run, &jobs[t]);
        }
        uint64_t sum = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(th[t], NULL);
            sum += jobs[t].ns;
        }
        per[p] = (double)sum / threads / CALLS;
    }
    /* Thread creation and the scratch allocate a fixed amount per pass. */
    *allocs = (double)(bench_alloc_count() - a0) / PASSES / threads / CALLS;
    return bench_median(per, PASSES);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2;
    if (threads < 1 || threads > 16) {
        fprintf(stderr, "usage: bench_client [THREADS (1-16)]\n");
        return 2;
    }
    /* 100 flags, half on with a 50% userId rollout, half off. */
    char path[64];
    snprintf(path, sizeof(path), "/tmp/bench-client-%ld.json", (long)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fputs("{\"version\":2,\"features\":[", f);
    for (int i = 0; i < FLAGS; i++) {
        snprintf(names[i], sizeof(names[i]), "flag-%d", i);
        fprintf(f,
                "%s{\"name\":\"%s\",\"enabled\":%s,\"strategies\":[{\"name\":"
                "\"flexibleRollout\",\"parameters\":{\"rollout\":\"50\","
                "\"stickiness\":\"userId\",\"groupId\":\"%s\"}}]}",
                i ? "," : "", names[i], i % 2 ? "false" : "true", names[i]);
    }
    fputs("]}", f);
    fclose(f);
    vx_client_config cfg = {0};
    cfg.url = "http://127.0.0.1:1/api";
    cfg.token = "bench";
    cfg.app_name = "bench";
    cfg.backup_path = path;
    cfg.refresh_interval_ms = 3600000;
    cfg.metrics_interval_ms = 3600000;
    vx_client *c = NULL;
    if (vx_client_new(&cfg, &c, NULL) != VX_OK ||
        !vx_client_wait_ready(c, 5000)) {
        fprintf(stderr, "bench_client: the client did not start\n");
        return 1;
    }
    vx_snapshot *s = vx_client_acquire(c);
    for (int t = 1; t <= threads; t++) {
        double a_base = 0, a_client = 0;
        double base = measure(NULL, s, t, &a_base);
        double cl = measure(c, NULL, t, &a_client);
        printf("threads=%d vx_is_enabled_ns=%.1f vx_client_is_enabled_ns=%.1f "
               "overhead_ns=%.1f allocs_per_call=%.6f\n",
               t, base, cl, cl - base, a_client);
    }
    vx_snapshot_unref(s);
    vx_client_free(c);
    unlink(path);
    return 0;
}
