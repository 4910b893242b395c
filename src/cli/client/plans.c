/* `vexil plans ...`: release plans through
 * /api/admin/projects/{p}/features/{f}/environments/{e}/release-plan
 * (docs/guard.md): list, show, start (the plan JSON on standard input),
 * delete, the manual actions pause, resume, skip, approve, rollback, and
 * results (.../results: per-variant figures of the plan's run, or of plain
 * A/B traffic). Every answer prints as the server's JSON (--json) or as
 * text for people; the text always says whether a plan is guarded and
 * what it last decided. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"

/* The plan's URL for the command's flag and environment, plus "/action"
 * when `action` is not empty. */
static bool plan_path(const cli_args *a, const char *action, char *out,
                      size_t cap)
{
    if (!action[0])
        return cli_http_pathf(
            out, cap,
            "/api/admin/projects/%s/features/%s/environments/%s/release-plan",
            cli_args_project(a), a->operand, a->env);
    return cli_http_pathf(
        out, cap,
        "/api/admin/projects/%s/features/%s/environments/%s/release-plan/%s",
        cli_args_project(a), a->operand, a->env, action);
}

/* One line per (variant, metric) of the latest look: the estimates, the
 * always-valid p, and the evidence this milestone has against what it
 * needs. */
static void print_verdicts(const json_t *d)
{
    size_t i;
    const json_t *v;
    json_array_foreach (json_object_get(d, "metrics"), i, v) {
        fputs("  ", stdout);
        cli_fputs_safe(cli_json_str(v, "kind", "?"), stdout);
        const char *var = cli_json_str(v, "variant", NULL);
        if (var) {
            fputs(" [", stdout);
            cli_fputs_safe(var, stdout);
            fputc(']', stdout);
        }
        if (json_is_true(json_object_get(v, "evaluated")))
            printf(": treatment %.4g, control %.4g, p %.3g%s",
                   json_number_value(json_object_get(v, "treatment")),
                   json_number_value(json_object_get(v, "control")),
                   json_number_value(json_object_get(v, "p")),
                   json_is_true(json_object_get(v, "regression")) ? " (worse)"
                                                                  : "");
        else
            fputs(": no verdict yet", stdout);
        const json_t *ev = json_object_get(v, "evidence");
        if (json_is_object(ev)) {
            double need = json_number_value(json_object_get(ev, "needUnits"));
            printf("; evidence %s: %.0f units here",
                   json_is_true(json_object_get(ev, "met")) ? "met" : "pending",
                   json_number_value(json_object_get(ev, "units")));
            if (json_is_number(json_object_get(ev, "needUnits")) &&
                isfinite(need))
                printf(" of %.0f needed", need);
        }
        fputc('\n', stdout);
    }
}

/* "flag in env: state, milestone i (p %)" and the latest decision. */
static void print_plan(const json_t *p)
{
    const json_t *ms =
        json_object_get(json_object_get(p, "plan"), "milestones");
    json_int_t m = json_integer_value(json_object_get(p, "milestone"));
    cli_fputs_safe(cli_json_str(p, "feature", "?"), stdout);
    fputs(" in ", stdout);
    cli_fputs_safe(cli_json_str(p, "environment", "?"), stdout);
    fputs(": ", stdout);
    cli_fputs_safe(cli_json_str(p, "state", "?"), stdout);
    printf(", milestone %lld of %zu (%lld %%)\n", (long long)m + 1,
           json_array_size(ms),
           (long long)json_integer_value(
               json_object_get(json_array_get(ms, (size_t)m), "percent")));
    const json_t *sum = json_object_get(p, "summary");
    if (json_is_object(sum)) {
        fputs("guard: ", stdout);
        cli_fputs_safe(cli_json_str(sum, "guard", "?"), stdout);
        printf("\nnow: %lld %% of the traffic; ",
               (long long)json_integer_value(json_object_get(sum, "percent")));
        cli_fputs_safe(cli_json_str(sum, "status", ""), stdout);
        fputc('\n', stdout);
        const char *ld = cli_json_str(sum, "lastDecision", "");
        if (ld[0]) {
            fputs("last decision: ", stdout);
            cli_fputs_safe(ld, stdout);
            fputc('\n', stdout);
        }
    }
    const json_t *last = json_object_get(p, "last");
    const json_t *d = json_object_get(last, "decision");
    if (json_is_object(d)) {
        fputs("last look: ", stdout);
        cli_fputs_safe(cli_json_str(d, "action", "?"), stdout);
        fputs(" (", stdout);
        cli_fputs_safe(cli_json_str(d, "reason", ""), stdout);
        const char *det = cli_json_str(last, "detail", "");
        if (det[0]) {
            fputs(": ", stdout);
            cli_fputs_safe(det, stdout);
        }
        fputs(")\n", stdout);
        print_verdicts(d);
        printf("control: %lld requests, %lld errors; treatment: %lld "
               "requests, %lld errors\n",
               (long long)json_integer_value(json_object_get(
                   json_object_get(last, "control"), "requests")),
               (long long)json_integer_value(
                   json_object_get(json_object_get(last, "control"), "errors")),
               (long long)json_integer_value(json_object_get(
                   json_object_get(last, "treatment"), "requests")),
               (long long)json_integer_value(json_object_get(
                   json_object_get(last, "treatment"), "errors")));
    }
    size_t i;
    const json_t *e;
    json_array_foreach (json_object_get(p, "log"), i, e) {
        fputs("  ", stdout);
        cli_fputs_safe(cli_json_str(e, "at", ""), stdout);
        fputc(' ', stdout);
        cli_fputs_safe(cli_json_str(e, "action", ""), stdout);
        printf(" at %lld %% by ",
               (long long)json_integer_value(json_object_get(e, "percent")));
        cli_fputs_safe(cli_json_str(e, "by", ""), stdout);
        fputs(": ", stdout);
        cli_fputs_safe(cli_json_str(e, "reason", ""), stdout);
        fputc('\n', stdout);
    }
}

static int answer(int rc, const cli_args *a, json_t *doc)
{
    if (rc == CLI_EXIT_OK && a->json)
        rc = cli_print_json(doc, stdout);
    else if (rc == CLI_EXIT_OK && json_is_object(doc) &&
             json_object_get(doc, "state"))
        print_plan(doc);
    json_decref(doc);
    return rc;
}

static int plans_show(cli_http *h, const cli_args *a)
{
    char path[CLI_HTTP_MAX_PATH];
    json_t *doc = NULL;
    if (!plan_path(a, "", path, sizeof(path)))
        return cli_bad_path();
    int rc = cli_http_call(h, "GET", path, NULL, &doc);
    return answer(rc, a, doc);
}

static int plans_start(cli_http *h, const cli_args *a)
{
    char path[CLI_HTTP_MAX_PATH];
    json_t *doc = NULL;
    if (!plan_path(a, "", path, sizeof(path)))
        return cli_bad_path();
    size_t len = 0;
    char *text = cli_read_file("-", &len);
    if (!text)
        return CLI_EXIT_USAGE;
    json_error_t jerr;
    json_t *body = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!body) {
        fprintf(stderr,
                "vexil: the plan on standard input is not JSON: "
                "line %d: %s\n",
                jerr.line, jerr.text);
        return CLI_EXIT_USAGE;
    }
    int rc = cli_http_call(h, "PUT", path, body, &doc);
    json_decref(body);
    return answer(rc, a, doc);
}

static int plans_action(cli_http *h, const cli_args *a, const char *method,
                        const char *suffix)
{
    char path[CLI_HTTP_MAX_PATH];
    json_t *doc = NULL;
    if (!plan_path(a, suffix, path, sizeof(path)))
        return cli_bad_path();
    int rc = cli_http_call(h, method, path, NULL, &doc);
    if (rc == CLI_EXIT_OK && !a->json && !json_object_get(doc, "state")) {
        fputs("deleted the release plan of ", stdout);
        cli_fputs_safe(a->operand, stdout);
        fputc('\n', stdout);
    }
    return answer(rc, a, doc);
}

static int plans_delete(cli_http *h, const cli_args *a)
{
    return plans_action(h, a, "DELETE", "");
}
/* pause, resume, skip, approve, rollback: POST to the plan's action of
 * the command's own name. */
static int plans_post(cli_http *h, const cli_args *a)
{
    return plans_action(h, a, "POST", a->command);
}

static int plans_list(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    int rc = cli_http_call(h, "GET", "/api/admin/release-plans", NULL, &doc);
    if (rc == CLI_EXIT_OK && a->json) {
        rc = cli_print_json(doc, stdout);
    } else if (rc == CLI_EXIT_OK) {
        cli_table t;
        cli_table_init(&t);
        const char *head[] = {"FLAG",    "ENVIRONMENT", "STATE",
                              "PERCENT", "GUARD",       "LAST DECISION"};
        cli_table_add(&t, head, 6);
        size_t i;
        const json_t *p;
        json_array_foreach (json_object_get(doc, "plans"), i, p) {
            const json_t *sum = json_object_get(p, "summary");
            char pct[32];
            /* the rollout in force (0 after a rollback), not the
             * milestone's */
            cli_json_text(json_object_get(sum, "percent"), pct, sizeof(pct));
            const char *row[] = {cli_json_str(p, "feature", "?"),
                                 cli_json_str(p, "environment", "?"),
                                 cli_json_str(p, "state", "?"),
                                 pct,
                                 cli_json_str(sum, "guard", "?"),
                                 cli_json_str(sum, "lastDecision", "-")};
            cli_table_add(&t, row, 6);
        }
        rc = json_array_size(json_object_get(doc, "plans"))
                 ? cli_table_print(&t, stdout)
                 : (puts("no release plans"), CLI_EXIT_OK);
        cli_table_release(&t);
    }
    json_decref(doc);
    return rc;
}

/* A number with `digits` significant digits and a suffix, or "-" for
 * null. */
static const char *fmt_num(const json_t *v, int digits, const char *suffix,
                           char *buf, size_t cap)
{
    if (!json_is_number(v))
        return "-";
    snprintf(buf, cap, "%.*g%s", digits, json_number_value(v), suffix);
    return buf;
}

static int plans_results(cli_http *h, const cli_args *a)
{
    char path[CLI_HTTP_MAX_PATH];
    json_t *doc = NULL;
    if (!cli_http_pathf(
            path, sizeof(path),
            "/api/admin/projects/%s/features/%s/environments/%s/results",
            cli_args_project(a), a->operand, a->env))
        return cli_bad_path();
    int rc = cli_http_call(h, "GET", path, NULL, &doc);
    if (rc == CLI_EXIT_OK && a->json) {
        rc = cli_print_json(doc, stdout);
        json_decref(doc);
        return rc;
    }
    if (rc != CLI_EXIT_OK) {
        json_decref(doc);
        return rc;
    }
    cli_fputs_safe(a->operand, stdout);
    fputs(" in ", stdout);
    cli_fputs_safe(a->env, stdout);
    fputs(": ", stdout);
    if (strcmp(cli_json_str(doc, "source", ""), "release-plan") == 0) {
        fputs("the release plan's run (", stdout);
        cli_fputs_safe(cli_json_str(doc, "planState", "?"), stdout);
        fputs("), compared within rollout epochs\n", stdout);
    } else {
        fputs("traffic from ", stdout);
        cli_fputs_safe(cli_json_str(doc, "from", "?"), stdout);
        fputs(" to now\n", stdout);
    }
    cli_table t;
    cli_table_init(&t);
    const char *head[] = {"VARIANT",    "EXPOSURES",   "ERRORS", "ERROR RATE",
                          "CONVERSION", "LATENCY P50", "P99"};
    cli_table_add(&t, head, 7);
    size_t i;
    const json_t *x;
    char b[7][48];
    json_array_foreach (json_object_get(doc, "arms"), i, x) {
        char name[140];
        snprintf(name, sizeof(name), "%s%s", cli_json_str(x, "variant", "?"),
                 json_is_true(json_object_get(x, "baseline")) ? " (baseline)"
                                                              : "");
        const char *row[] = {
            name,
            fmt_num(json_object_get(x, "exposures"), 15, "", b[1], 48),
            fmt_num(json_object_get(x, "errors"), 15, "", b[2], 48),
            fmt_num(json_object_get(x, "errorRate"), 4, "", b[3], 48),
            fmt_num(json_object_get(x, "conversionRate"), 4, "", b[4], 48),
            fmt_num(json_object_get(x, "latencyP50Ms"), 4, " ms", b[5], 48),
            fmt_num(json_object_get(x, "latencyP99Ms"), 4, " ms", b[6], 48)};
        cli_table_add(&t, row, 7);
    }
    rc = cli_table_print(&t, stdout);
    cli_table_release(&t);
    cli_table c2;
    cli_table_init(&c2);
    const char *h2[] = {"VARIANT",  "METRIC",     "VALUE",
                        "BASELINE", "DIFFERENCE", "ALWAYS-VALID INTERVAL",
                        "ESTIMATE", "P"};
    cli_table_add(&c2, h2, 8);
    json_array_foreach (json_object_get(doc, "comparisons"), i, x) {
        const json_t *iv = json_object_get(x, "interval");
        char ivs[100] = "-";
        if (json_is_number(json_object_get(iv, "low")))
            snprintf(ivs, sizeof(ivs), "[%.4g, %.4g]",
                     json_number_value(json_object_get(iv, "low")),
                     json_number_value(json_object_get(iv, "high")));
        char e[64];
        snprintf(e, sizeof(e), "%s%s",
                 fmt_num(json_object_get(x, "estimate"), 4, "", b[5], 48),
                 json_is_true(json_object_get(x, "crossed")) ? " (corrected)"
                                                             : "");
        const char *row[] = {
            cli_json_str(x, "variant", "?"),
            cli_json_str(x, "metric", "?"),
            fmt_num(json_object_get(x, "value"), 4, "", b[1], 48),
            fmt_num(json_object_get(x, "baselineValue"), 4, "", b[2], 48),
            fmt_num(json_object_get(x, "difference"), 4, "", b[3], 48),
            ivs,
            e,
            fmt_num(json_object_get(x, "pAlwaysValid"), 3, "", b[4], 48)};
        cli_table_add(&c2, row, 8);
    }
    if (rc == CLI_EXIT_OK &&
        json_array_size(json_object_get(doc, "comparisons"))) {
        fputc('\n', stdout);
        rc = cli_table_print(&c2, stdout);
        printf("intervals and p hold at any time (always valid, level %.3g); "
               "an estimate marked corrected is adjusted for stopping when "
               "the difference crossed\n",
               1.0 - json_number_value(json_object_get(doc, "alpha")));
    }
    cli_table_release(&c2);
    json_decref(doc);
    return rc;
}

#define ONE(name, summary, fn)                                                 \
    {                                                                          \
        name, "NAME --env ENV [--project P]", summary, "NAME",                 \
            CLI_O_PROJECT | CLI_O_ENV, CLI_O_ENV, NULL, fn                     \
    }

static const cli_command commands[] = {
    {"list", "", "Lists every release plan and where it stands.", NULL, 0, 0,
     NULL, plans_list},
    ONE("show",
        "Shows a plan: state, milestone, the latest statistics and the\n"
        "decision log.",
        plans_show),
    ONE("start",
        "Starts (or replaces) the plan of a flag in an environment; the plan\n"
        "JSON is read from standard input (docs/guard.md).",
        plans_start),
    ONE("delete", "Deletes a plan (the flag keeps its rollout).", plans_delete),
    ONE("pause", "Pauses a running plan.", plans_post),
    ONE("resume", "Resumes a paused plan.", plans_post),
    ONE("skip", "Moves to the next milestone now.", plans_post),
    ONE("approve", "Approves leaving the current milestone (approval mode).",
        plans_post),
    ONE("rollback", "Rolls back now, as the plan says (rollout 0 or disable).",
        plans_post),
    ONE("results",
        "Per-variant figures of a flag in an environment: exposures, rates,\n"
        "latency, and each variant against the control with its always-valid\n"
        "interval (the release plan's run, else the last 24 hours).",
        plans_results),
};

int cli_plans_main(int argc, char **argv)
{
    return cli_client_dispatch(
        "plans", commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
