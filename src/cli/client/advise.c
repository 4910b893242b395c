/* `vexil advise`: asks the server's advisor (POST /api/admin/advisor/...)
 * and prints its proposal. Nothing is applied: a targeting proposal comes
 * with the strategy request a person would send to apply it. */
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

static void common_tail(const json_t *doc)
{
    size_t i;
    const json_t *w;
    line("model error (answered by the deterministic advisor)",
         json_object_get(doc, "modelError"));
    json_array_foreach (json_object_get(doc, "warnings"), i, w)
        line("warning", w);
    json_int_t id =
        json_integer_value(json_object_get(doc, "recommendationId"));
    if (id)
        printf("recorded as audit event %" JSON_INTEGER_FORMAT
               " (advisor-recommendation)\n",
               id);
}

static int targeting_run(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    const char *path = "/api/admin/advisor/targeting";
    json_t *body = json_pack("{ss ss ss}", "sentence", a->operand, "project",
                             cli_args_project(a), "environment",
                             a->env ? a->env : "production");
    if (!body)
        return cli_bad_body();
    if (a->feature)
        json_object_set_new(body, "flag", json_string(a->feature));
    h->total_secs = CLI_HTTP_ADVISE_SECS;
    int rc = cli_http_call(h, "POST", path, body, &doc);
    json_decref(body);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(doc, stdout);
        goto out;
    }
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
    printf("\nstrategy (not applied; a person applies it with POST %s):\n",
           cli_json_str(apply, "path", "the strategies endpoint"));
    rc = cli_print_json(strategy, stdout);
out:
    json_decref(doc);
    return rc;
}

static int changelog_run(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    const char *path = "/api/admin/advisor/changelog";
    json_t *body = json_object();
    if (!body)
        return cli_bad_body();
    if (a->from)
        json_object_set_new(body, "from", json_string(a->from));
    if (a->to)
        json_object_set_new(body, "to", json_string(a->to));
    if (a->project)
        json_object_set_new(body, "project", json_string(a->project));
    h->total_secs = CLI_HTTP_ADVISE_SECS;
    int rc = cli_http_call(h, "POST", path, body, &doc);
    json_decref(body);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(doc, stdout);
        goto out;
    }
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

static const cli_command commands[] = {
    {"targeting", "\"<sentence>\" [--project P] [--env ENV] [--feature F]",
     "Proposes a strategy (flexibleRollout with constraints) for a sentence\n"
     "such as \"pro users in Thailand, 10% of them\". Nothing is applied.",
     "sentence", CLI_O_PROJECT | CLI_O_ENV | CLI_O_FEATURE, 0, NULL,
     targeting_run},
    {"changelog", "[--from TIME] [--to TIME] [--project P]",
     "Writes a changelog of the audit events of a period (RFC 3339 times).",
     NULL, CLI_O_FROM | CLI_O_TO | CLI_O_PROJECT, 0, NULL, changelog_run},
};

int cli_advise_main(int argc, char **argv)
{
    return cli_client_dispatch(
        "advise", commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
