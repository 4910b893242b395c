/* Unit tests for src/server/metrics.c: counters by route, method and
 * status; the latency histogram is cumulative and ends with +Inf == count;
 * unknown methods and statuses land in "other"; idle series are not
 * printed; and the allocation-budget walk of STYLE rule 14 for both
 * metrics_new and metrics_render (VX_ENOMEM at every step, no leak).
 *
 * Expected text follows the Prometheus text exposition format 0.0.4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "server/metrics.h"

static const char *const labels[] = {"/a", "/b/{id}", "unmatched"};
#define NLABELS (sizeof(labels) / sizeof(labels[0]))

static char *render(metrics *m, vx_arena *a)
{
    svc_stats st = {.flags_active = 7, .flags_archived = 2, .db_errors = 1};
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(m, &st, a, &text, &len), VX_OK);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_counters_and_histogram(void **state)
{
    (void)state;
    metrics *m = NULL;
    assert_int_equal(metrics_new(labels, NLABELS, &m), VX_OK);
    metrics_observe(m, 0, "GET", 200, 0.0001);  /* le 0.0005 */
    metrics_observe(m, 0, "GET", 200, 0.003);   /* le 0.005 */
    metrics_observe(m, 0, "POST", 201, 7.0);    /* only +Inf */
    metrics_observe(m, 1, "BREW", 418, 0.0005); /* other, other; le 0.0005 */
    metrics_observe(m, 99, "GET", 200, 1.0);    /* no such route: ignored */
    vx_arena a;
    vx__arena_init(&a, 64);
    const char *t = render(m, &a);

    assert_non_null(strstr(t, "# TYPE vexil_http_requests_total counter\n"));
    assert_non_null(strstr(t, "vexil_http_requests_total{route=\"/a\","
                              "method=\"GET\",status=\"200\"} 2\n"));
    assert_non_null(strstr(t, "vexil_http_requests_total{route=\"/a\","
                              "method=\"POST\",status=\"201\"} 1\n"));
    assert_non_null(strstr(t, "vexil_http_requests_total{route=\"/b/{id}\","
                              "method=\"other\",status=\"other\"} 1\n"));
    assert_null(strstr(t, "route=\"unmatched\""));

    const char *h = "vexil_http_request_duration_seconds";
    char want[256];
    static const struct {
        const char *le;
        int n;
    } cum[] = {{"0.0005", 1}, {"0.001", 1}, {"0.0025", 1}, {"0.005", 2},
               {"1", 2},      {"2.5", 2},   {"5", 2},      {"+Inf", 3}};
    for (size_t i = 0; i < sizeof(cum) / sizeof(cum[0]); i++) {
        snprintf(want, sizeof(want), "%s_bucket{route=\"/a\",le=\"%s\"} %d\n",
                 h, cum[i].le, cum[i].n);
        if (!strstr(t, want))
            fail_msg("missing: %s", want);
    }
    snprintf(want, sizeof(want), "%s_count{route=\"/a\"} 3\n", h);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof(want), "%s_sum{route=\"/a\"} 7.003100000\n", h);
    assert_non_null(strstr(t, want));
    /* 0.0005 is inside the first bucket (le means <=). */
    snprintf(want, sizeof(want),
             "%s_bucket{route=\"/b/{id}\",le=\"0.0005\"} 1\n", h);
    assert_non_null(strstr(t, want));

    assert_non_null(strstr(t, "vexil_flags{state=\"active\"} 7\n"));
    assert_non_null(strstr(t, "vexil_flags{state=\"archived\"} 2\n"));
    assert_non_null(strstr(t, "# TYPE vexil_db_errors_total counter\n"
                              "vexil_db_errors_total 1\n"));
    vx__arena_release(&a);
    metrics_free(&m);
    assert_null(m);
    metrics_free(&m); /* NULL is fine */
    metrics_free(NULL);
}

/* Many series force the render buffer to grow several times. */
static void test_render_grows(void **state)
{
    (void)state;
    static const char *many[200];
    static char names[200][16];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "/r%d", i);
        many[i] = names[i];
    }
    metrics *m = NULL;
    assert_int_equal(metrics_new(many, 200, &m), VX_OK);
    for (size_t r = 0; r < 200; r++)
        metrics_observe(m, r, "DELETE", 204, 0.01);
    vx_arena a;
    vx__arena_init(&a, 64);
    const char *t = render(m, &a);
    assert_non_null(strstr(t, "{route=\"/r199\",method=\"DELETE\","
                              "status=\"204\"} 1\n"));
    assert_non_null(strstr(t, "vexil_db_errors_total 1\n"));
    vx__arena_release(&a);
    metrics_free(&m);
}

/* STYLE rule 14: fail the Nth allocation for N = 0, 1, ... until the call
 * succeeds; every failure is VX_ENOMEM and leaves nothing behind (ASan). */
static void test_allocation_budget(void **state)
{
    (void)state;
    metrics *m = NULL;
    size_t budget = 0;
    for (;; budget++) {
        vx__alloc_set_budget(budget);
        vx_status st = metrics_new(labels, NLABELS, &m);
        vx__alloc_set_budget(SIZE_MAX);
        if (st == VX_OK)
            break;
        assert_int_equal(st, VX_ENOMEM);
        assert_null(m);
        assert_true(budget < 100);
    }
    metrics_observe(m, 0, "GET", 200, 0.1);
    svc_stats stats = {0};
    for (budget = 0;; budget++) {
        vx_arena a;
        vx__arena_init(&a, 64);
        char *text = NULL;
        size_t len = 0;
        vx__alloc_set_budget(budget);
        vx_status st = metrics_render(m, &stats, &a, &text, &len);
        vx__alloc_set_budget(SIZE_MAX);
        vx__arena_release(&a);
        if (st == VX_OK)
            break;
        assert_int_equal(st, VX_ENOMEM);
        assert_null(text);
        assert_true(budget < 100);
    }
    metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_histogram),
        cmocka_unit_test(test_render_grows),
        cmocka_unit_test(test_allocation_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
