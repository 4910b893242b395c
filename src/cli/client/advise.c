/* `vexil advise`: asks the server's advisor (POST /api/admin/advisor/...)
 * and prints its proposal. Nothing is applied: a targeting proposal comes
 * with the strategy request a person would send to apply it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"

/* Prints "label: text" when `text` is a non-empty string. */
static void line(const char *label, const json_t *text)
{
    if (!json_is_string(text) || json_string_length(text) == 0)
        return;
    printf("%s: ", label);
    cli_fputs_safe(json_string_value(text), stdout);
    putchar('\n');
}

/* Pretty-prints `j` for people: reals with at most 15 significant digits
 * (0.1, not 0.10000000000000001). */
static int print_people(const json_t *j)
{
    if (j && json_dumpf(j, stdout,
                        JSON_INDENT(2) | JSON_ENCODE_ANY |
                            JSON_REAL_PRECISION(15)) != 0) {
        fputs("vexil: cannot write the JSON\n", stderr);
        return CLI_EXIT_FAIL;
    }
    putchar('\n');
    return CLI_EXIT_OK;
}

/* The policy's verdict: its reasons and the differences it found. */
static void policy_lines(const json_t *doc)
{
    const json_t *p = json_object_get(doc, "policy");
    size_t i;
    const json_t *w;
    if (!p)
        return;
    line("policy", json_object_get(p, "verdict"));
    json_array_foreach (json_object_get(p, "reasons"), i, w)
        line("  because", w);
    json_array_foreach (json_object_get(p, "differences"), i, w)
        line("  difference", w);
}

static void common_tail(const json_t *doc)
{
    size_t i;
    const json_t *w;
    line("fallback", json_object_get(doc, "fallbackNote"));
    json_array_foreach (json_object_get(doc, "warnings"), i, w)
        line("warning", w);
    json_array_foreach (json_object_get(doc, "notes"), i, w)
        line("note", w);
    policy_lines(doc);
    json_int_t id =
        json_integer_value(json_object_get(doc, "recommendationId"));
    if (id)
        printf("recorded as audit event %" JSON_INTEGER_FORMAT
               " (advisor-recommendation)\n",
               id);
}

/* POSTs `body` (taken; NULL: out of memory) to the advisor at `path`. With
 * --json the answer is printed here; otherwise `*doc` is the answer to
 * show (new reference). `*doc` is NULL whenever there is nothing more to
 * do: the result is then the exit code. */
static int post(cli_http *h, const cli_args *a, const char *path, json_t *body,
                json_t **doc)
{
    json_t *d = NULL;
    *doc = NULL;
    if (!body)
        return cli_bad_body();
    h->total_secs = CLI_HTTP_ADVISE_SECS;
    int rc = cli_http_call(h, "POST", path, body, &d);
    json_decref(body);
    if (rc != CLI_EXIT_OK || a->json) {
        if (rc == CLI_EXIT_OK)
            rc = print_people(d);
        json_decref(d);
        return rc;
    }
    *doc = d;
    return rc;
}

static int targeting_run(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    const char *path = "/api/admin/advisor/targeting";
    json_t *body = json_pack("{ss ss ss}", "sentence", a->operand, "project",
                             cli_args_project(a), "environment",
                             a->env ? a->env : "production");
    if (body && a->feature)
        json_object_set_new(body, "flag", json_string(a->feature));
    if (body && a->confirm)
        json_object_set_new(body, "confirm", json_true());
    int rc = post(h, a, path, body, &doc);
    if (!doc)
        return rc;
    const json_t *strategy = json_object_get(doc, "strategy");
    if (!json_is_object(strategy)) {
        rc = cli_bad_answer("POST", path, "no \"strategy\" object");
        goto out;
    }
    line("advisor", json_object_get(doc, "advisor"));
    line("proposal", json_object_get(doc, "explanation"));
    size_t i;
    const json_t *n;
    json_array_foreach (json_object_get(doc, "notUnderstood"), i, n)
        line("not understood", n);
    common_tail(doc);
    const json_t *apply = json_object_get(doc, "apply");
    if (json_is_true(json_object_get(apply, "confirmationRequired"))) {
        printf("\nstrategy (not applied; it needs an explicit confirmation: "
               "run again with --confirm):\n");
    } else {
        printf("\nstrategy (not applied; a person applies it with POST %s):\n",
               cli_json_str(apply, "path", "the strategies endpoint"));
    }
    rc = print_people(strategy);
out:
    json_decref(doc);
    return rc;
}

static int changelog_run(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    const char *path = "/api/admin/advisor/changelog";
    json_t *body = json_object();
    if (body && a->from)
        json_object_set_new(body, "from", json_string(a->from));
    if (body && a->to)
        json_object_set_new(body, "to", json_string(a->to));
    if (body && a->project)
        json_object_set_new(body, "project", json_string(a->project));
    int rc = post(h, a, path, body, &doc);
    if (!doc)
        return rc;
    const json_t *log = json_object_get(doc, "changelog");
    if (!json_is_object(log)) {
        rc = cli_bad_answer("POST", path, "no \"changelog\" object");
        goto out;
    }
    line("advisor", json_object_get(doc, "advisor"));
    common_tail(doc);
    putchar('\n');
    cli_fputs_safe(cli_json_str(log, "summary", ""), stdout);
    puts("\n");
    size_t i;
    const json_t *e;
    json_array_foreach (json_object_get(log, "entries"), i, e)
        line(cli_json_str(e, "flag", "?"), json_object_get(e, "text"));
out:
    json_decref(doc);
    return rc;
}

/* Asks `path` with `body` (taken); prints the JSON with --json, else
 * calls `show`. */
static int ask(cli_http *h, const cli_args *a, const char *path, json_t *body,
               const char *member, void (*show)(const json_t *doc))
{
    json_t *doc = NULL;
    int rc = post(h, a, path, body, &doc);
    if (!doc)
        return rc;
    if (!json_object_get(doc, member)) {
        char why[64];
        snprintf(why, sizeof(why), "no \"%s\" member", member);
        rc = cli_bad_answer("POST", path, why);
        goto out;
    }
    line("advisor", json_object_get(doc, "advisor"));
    show(doc);
    common_tail(doc);
out:
    json_decref(doc);
    return rc;
}

/* The JSON document in file `path` ("-": standard input is not read). */
static json_t *json_file(const char *path)
{
    size_t len = 0;
    char *text = cli_read_file(path, &len);
    json_error_t e;
    if (!text)
        return NULL;
    json_t *doc = json_loadb(text, len, 0, &e);
    free(text);
    if (!doc)
        fprintf(stderr, "vexil: %s:%d: %s\n", path, e.line, e.text);
    return doc;
}

static void rollout_show(const json_t *doc)
{
    char pct[32];
    snprintf(pct, sizeof(pct), "%g%%",
             json_number_value(json_object_get(doc, "nextPercent")));
    printf("recommendation: %s to %s (confidence %.2f)\n",
           cli_json_str(doc, "recommendation", "?"), pct,
           json_number_value(json_object_get(doc, "confidence")));
    line("why", json_object_get(doc, "explanation"));
    const json_t *ap = json_object_get(doc, "autoApply");
    printf("applied automatically: %s",
           json_is_true(json_object_get(ap, "applied")) ? "yes" : "no");
    line(" ", json_object_get(ap, "reason"));
}

/* A flag's release plan, or (an operand ending in .json) a status file. */
static int rollout_run(cli_http *h, const cli_args *a)
{
    size_t n = strlen(a->operand);
    json_t *body = NULL;
    if (n > 5 && strcmp(a->operand + n - 5, ".json") == 0) {
        json_t *status = json_file(a->operand);
        if (!status)
            return CLI_EXIT_USAGE;
        body = json_pack("{so}", "status", status);
    } else {
        body = json_pack("{ss ss ss}", "flag", a->operand, "environment",
                         a->env ? a->env : "production", "project",
                         cli_args_project(a));
    }
    if (body && a->project && !json_object_get(body, "project"))
        json_object_set_new(body, "project", json_string(a->project));
    return ask(h, a, "/api/admin/advisor/rollout", body, "recommendation",
               rollout_show);
}

static void plan_show(const json_t *doc)
{
    line("plan", json_object_get(doc, "explanation"));
    if (json_is_true(json_object_get(json_object_get(doc, "apply"),
                                     "confirmationRequired")))
        printf("\nrelease plan (not applied; it needs an explicit "
               "confirmation: run again with --confirm):\n");
    else
        printf("\nrelease plan (not applied; a person creates it):\n");
    print_people(json_object_get(doc, "plan"));
}

static int plan_run(cli_http *h, const cli_args *a)
{
    json_t *body =
        json_pack("{ss ss sb}", "description", a->operand, "risk",
                  a->risk ? a->risk : "medium", "confirm", a->confirm);
    if (body && a->project)
        json_object_set_new(body, "project", json_string(a->project));
    return ask(h, a, "/api/admin/advisor/plan", body, "plan", plan_show);
}

static void incident_show(const json_t *doc)
{
    const json_t *inc = json_object_get(doc, "incident");
    size_t i;
    const json_t *s;
    line("title", json_object_get(inc, "title"));
    line("summary", json_object_get(inc, "summary"));
    line("impact", json_object_get(inc, "impact"));
    json_array_foreach (json_object_get(inc, "nextSteps"), i, s)
        line("next", s);
}

static int incident_run(cli_http *h, const cli_args *a)
{
    const char *op = a->operand;
    bool digits = *op != '\0';
    for (const char *p = op; *p; p++)
        digits = digits && *p >= '0' && *p <= '9';
    json_t *body = NULL;
    if (digits) {
        body = json_pack("{sI}", "eventId", (json_int_t)strtoll(op, NULL, 10));
    } else {
        json_t *ev = json_file(op);
        if (!ev)
            return CLI_EXIT_USAGE;
        body = json_pack("{so}", "event", ev);
    }
    return ask(h, a, "/api/admin/advisor/incident", body, "incident",
               incident_show);
}

static const cli_command commands[] = {
    {"rollout", "<flag | status.json> [--env ENV] [--project P]",
     "Recommends INCREASE, HOLD, DECREASE or ROLLBACK for a flag's release\n"
     "plan (or a status file, as the plan's GET answers it) from the guard's\n"
     "statistics. Applied only by a person, or by the server's\n"
     "advisor-auto-apply policy (HOLD and ROLLBACK at most).",
     "flag", CLI_O_PROJECT | CLI_O_ENV, 0, NULL, rollout_run},
    {"plan",
     "\"<description>\" [--risk low|medium|high] [--project P] [--confirm]",
     "Proposes a release plan for a described change. Nothing is applied.\n"
     "--confirm: a person confirms a first step above the server's share.",
     "description", CLI_O_RISK | CLI_O_PROJECT | CLI_O_CONFIRM, 0, NULL,
     plan_run},
    {"incident", "<event id | event.json>",
     "Summarises a guard rollback from its audit event.", "event", 0, 0, NULL,
     incident_run},
    {"targeting",
     "\"<sentence>\" [--project P] [--env ENV] [--feature F] [--confirm]",
     "Proposes a strategy (flexibleRollout with constraints) for a sentence\n"
     "such as \"pro users in Thailand, 10% of them\". Nothing is applied.\n"
     "A sentence not fully understood gets no proposal (exit status 1).\n"
     "--confirm: a person confirms a first step above the server's share.",
     "sentence", CLI_O_PROJECT | CLI_O_ENV | CLI_O_FEATURE | CLI_O_CONFIRM, 0,
     NULL, targeting_run},
    {"changelog", "[--from TIME] [--to TIME] [--project P]",
     "Writes a changelog of the audit events of a period (RFC 3339 times).",
     NULL, CLI_O_FROM | CLI_O_TO | CLI_O_PROJECT, 0, NULL, changelog_run},
};

int cli_advise_main(int argc, char **argv)
{
    return cli_client_dispatch(
        "advise", commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
