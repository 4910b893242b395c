/* Prometheus metrics of the HTTP server: request counters by route, method
 * and status, a latency histogram by route, and the service's gauges,
 * rendered as the text exposition format for GET /metrics.
 *
 * Invariant: every counter is a relaxed atomic in one array sized at
 * creation from the route count, so recording never locks or allocates. */
#ifndef VX_SERVER_METRICS_H
#define VX_SERVER_METRICS_H

#include <stddef.h>

#include "base/arena.h"
#include "service/service.h"

typedef struct metrics metrics;

/* Creates a registry for `nroutes` routes labelled `labels[i]` (borrowed:
 * the strings must outlive the registry; they are printed unescaped, so
 * they must not contain '"', '\\' or newlines). VX_ENOMEM on failure. */
vx_status metrics_new(const char *const *labels, size_t nroutes, metrics **out);

/* Frees the registry and clears `*m`. Accepts NULL and *m == NULL. */
void metrics_free(metrics **m);

/* Records one answered request. `route` < nroutes (else ignored);
 * unknown methods and statuses are counted as "other". Thread-safe,
 * lock-free. */
void metrics_observe(metrics *m, size_t route, const char *method,
                     unsigned status, double seconds);

/* Renders every non-zero series plus the gauges from `stats` into `arena`
 * (NUL-terminated; `*len` excludes the NUL). VX_ENOMEM, or VX_ELIMIT past
 * VX_LIMIT_HTTP_METRICS_BYTES. Thread-safe (reads are relaxed: a scrape
 * racing requests may see a histogram one request behind its sum). */
vx_status metrics_render(const metrics *m, const svc_stats *stats,
                         vx_arena *arena, char **text, size_t *len);

#endif
