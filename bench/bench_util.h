/* Helpers shared by the benchmark programs: whole-file reading, a monotonic
 * clock in nanoseconds and the median of a sample. Benchmarks see only the
 * public API of libvexil (include/vexil), like any embedder. */
#ifndef VX_BENCH_UTIL_H
#define VX_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Reads the whole file at `path` into a malloc'd buffer with a trailing NUL
 * and stores its length in `*len`. Returns NULL and prints the reason to
 * stderr on failure; the caller frees the buffer. */
char *bench_read_file(const char *path, size_t *len);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Median of `v[0..n)` (sorts `v` in place); 0 when n == 0. */
double bench_median(double *v, size_t n);

/* Parses a positive decimal count for option `opt`; exits with status 2 on
 * a malformed value. */
size_t bench_parse_count(const char *opt, const char *s);

#endif
