/* bench_store: what one store transaction costs on a backend. Prints
 * figures, asserts nothing. Each write transaction is what an admin change
 * does: begin, read one document, write it back, append one event, commit.
 * Usage: bench_store DSN [TRANSACTIONS]. DSN must name a new, empty
 * database (the event log it fills cannot be emptied). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

typedef struct run {
    const char *dsn; /* database */
    const char *key; /* counter document of this writer */
    long n;          /* transactions to run */
    long failed;     /* transactions that failed */
    double *lat_ms;  /* per transaction, n entries */
} run;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static store *open_or_die(const char *dsn, const store_ops **ops)
{
    const char *rest;
    *ops = store_backend_for(dsn, &rest);
    store *s = NULL;
    vx_error err = {0};
    if (!*ops || (*ops)->open(rest, NULL, &s, &err) != VX_OK) {
        fprintf(stderr, "bench_store: cannot open %s: %s\n", dsn, err.message);
        exit(1);
    }
    return s;
}

static void *writer(void *arg)
{
    run *r = arg;
    const store_ops *ops;
    store *s = open_or_die(r->dsn, &ops);
    for (long i = 0; i < r->n; i++) {
        double t0 = now_ms();
        json_t *cur = NULL;
        vx_error err = {0};
        vx_status st = ops->begin(s, &err);
        if (st == VX_OK) {
            st = ops->doc_get(s, STORE_PROJECT, r->key, &cur, &err);
            if (st == VX_ENOTFOUND)
                st = VX_OK;
        }
        json_t *next = json_pack(
            "{sI ss}", "n",
            (json_int_t)(json_integer_value(json_object_get(cur, "n")) + 1),
            "pad", "a document of a realistic size is a few hundred bytes");
        if (st == VX_OK)
            st = ops->doc_put(s, STORE_PROJECT, r->key, NULL, next, &err);
        store_event ev = {.type = "bench",
                          .created_by = "bench",
                          .project = "default",
                          .data = next,
                          .created_ms = (int64_t)t0};
        if (st == VX_OK)
            st = ops->event_append(s, &ev, &err);
        if (st == VX_OK)
            st = ops->commit(s, &err);
        if (st != VX_OK) {
            ops->rollback(s);
            r->failed++;
        }
        json_decref(cur);
        json_decref(next);
        r->lat_ms[i] = now_ms() - t0;
    }
    ops->close(s);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs `writers` concurrent writers of n/writers transactions each and
 * prints throughput and latency percentiles. */
static void writes(const char *dsn, const char *name, long n, int writers)
{
    run r[2];
    pthread_t t[2];
    double *lat = calloc((size_t)n, sizeof(double));
    long per = n / writers;
    double t0 = now_ms();
    for (int i = 0; i < writers; i++) {
        r[i] = (run){dsn, i ? "bench-b" : "bench-a", per, 0, lat + i * per};
        pthread_create(&t[i], NULL, writer, &r[i]);
    }
    long failed = 0;
    for (int i = 0; i < writers; i++) {
        pthread_join(t[i], NULL);
        failed += r[i].failed;
    }
    double secs = (now_ms() - t0) / 1e3;
    long done = per * writers;
    qsort(lat, (size_t)done, sizeof(double), cmp_d);
    printf("%s writers=%d tx=%ld failed=%ld tx_per_s=%.0f p50_ms=%.3f "
           "p99_ms=%.3f\n",
           name, writers, done, failed, (double)done / secs, lat[done / 2],
           lat[done * 99 / 100]);
    free(lat);
}

static void reads(const char *dsn, const char *name, long n)
{
    const store_ops *ops;
    store *s = open_or_die(dsn, &ops);
    double t0 = now_ms();
    for (long i = 0; i < n; i++) {
        json_t *d = NULL;
        ops->doc_get(s, STORE_PROJECT, "bench-a", &d, NULL);
        json_decref(d);
    }
    double secs = (now_ms() - t0) / 1e3;
    printf("%s reads=%ld reads_per_s=%.0f\n", name, n, (double)n / secs);
    ops->close(s);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_store DSN [TRANSACTIONS]\n");
        return 2;
    }
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 2000;
    if (n < 2)
        n = 2;
    const store_ops *ops;
    store *s = open_or_die(argv[1], &ops);
    int applied = 0;
    vx_error err = {0};
    if (ops->migrate(s, &applied, &err) != VX_OK) {
        fprintf(stderr, "bench_store: migrate: %s\n", err.message);
        return 1;
    }
    ops->close(s);
    writes(argv[1], ops->name, n, 1);
    writes(argv[1], ops->name, n, 2);
    reads(argv[1], ops->name, n * 5);
    return 0;
}
