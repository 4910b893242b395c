/* `vexil plans ...`: release plans through
 * /api/admin/projects/{p}/features/{f}/environments/{e}/release-plan
 * (docs/guard.md): list, show, start (the plan JSON on standard input),
 * delete, and the manual actions pause, resume, skip, approve, rollback.
 * Every answer prints as the server's JSON (--json) or as text for people. */
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
    const json_t *last = json_object_get(p, "last");
    const json_t *d = json_object_get(last, "decision");
    if (json_is_object(d)) {
        fputs("last decision: ", stdout);
        cli_fputs_safe(cli_json_str(d, "action", "?"), stdout);
        fputs(" (", stdout);
        cli_fputs_safe(cli_json_str(d, "reason", ""), stdout);
        fputs(")\n", stdout);
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
        const char *head[] = {"FLAG", "ENVIRONMENT", "STATE", "PERCENT"};
        cli_table_add(&t, head, 4);
        size_t i;
        const json_t *p;
        json_array_foreach (json_object_get(doc, "plans"), i, p) {
            const json_t *ms =
                json_object_get(json_object_get(p, "plan"), "milestones");
            size_t m =
                (size_t)json_integer_value(json_object_get(p, "milestone"));
            char pct[32];
            cli_json_text(json_object_get(json_array_get(ms, m), "percent"),
                          pct, sizeof(pct));
            const char *row[] = {cli_json_str(p, "feature", "?"),
                                 cli_json_str(p, "environment", "?"),
                                 cli_json_str(p, "state", "?"), pct};
            cli_table_add(&t, row, 4);
        }
        rc = json_array_size(json_object_get(doc, "plans"))
                 ? cli_table_print(&t, stdout)
                 : (puts("no release plans"), CLI_EXIT_OK);
        cli_table_release(&t);
    }
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
};

int cli_plans_main(int argc, char **argv)
{
    return cli_client_dispatch(
        "plans", commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
