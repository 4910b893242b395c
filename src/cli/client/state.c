/* `vexil export` and `vexil import`: the whole server state as one JSON
 * document (GET /api/admin/export, POST /api/admin/import). An import is
 * parsed locally first, so a malformed file is reported with its line and
 * column and never reaches the server. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"
#include "unleash.h"

static int export_run(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    FILE *f = NULL;
    bool to_stdout = !a->output || strcmp(a->output, "-") == 0;
    int rc = cli_http_call(h, "GET", "/api/admin/export", NULL, &doc);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (!json_is_object(doc)) {
        rc = cli_bad_answer("GET", "/api/admin/export", "not an object");
        goto out;
    }
    if (to_stdout) {
        rc = cli_print_json(doc, stdout);
        goto out;
    }
    /* Written only once the whole answer is in, so a failed request leaves
     * an existing file alone. */
    f = fopen(a->output, "w");
    if (!f) {
        fprintf(stderr, "vexil: cannot open %s: %s\n", a->output,
                strerror(errno));
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    rc = cli_print_json(doc, f);
    int closed = fclose(f);
    if (rc == CLI_EXIT_OK && closed != 0) {
        fprintf(stderr, "vexil: cannot write %s: %s\n", a->output,
                strerror(errno));
        rc = CLI_EXIT_FAIL;
    }
out:
    json_decref(doc);
    return rc;
}

/* `--from-unleash URL`: the Unleash token is --unleash-token, else
 * $UNLEASH_TOKEN, else --token (as `--from-unleash URL --token T` reads),
 * and then Vexil's token comes from $VEXIL_TOKEN. */
static int import_from_unleash(cli_http *h, const cli_args *a)
{
    const char *ut = a->unleash_token;
    if (!ut || !*ut)
        ut = getenv("UNLEASH_TOKEN");
    if (ut && *ut)
        return cli_unleash_import_url(h, a, ut);
    const char *vt = getenv("VEXIL_TOKEN");
    if (!a->token_given || !vt || !*vt) {
        fputs("vexil import: no Unleash token: give --unleash-token T (or "
              "$UNLEASH_TOKEN), or --token T with Vexil's token in "
              "$VEXIL_TOKEN\n",
              stderr);
        return CLI_EXIT_USAGE;
    }
    cli_http vexil;
    int rc = cli_http_init(&vexil, a->server, vt);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_unleash_import_url(&vexil, a, a->token);
    cli_http_release(&vexil);
    return rc;
}

/* An Unleash feature export file: one environment (--env, else the one
 * its featureEnvironments name), flags in their own projects unless
 * --project. */
static int import_unleash_file(cli_http *h, const cli_args *a, json_t *data)
{
    json_t *x = json_pack("{sO}", "data", data);
    if (a->env)
        json_object_set_new(x, "environment", json_string(a->env));
    json_t *doc = json_pack("{s[o]}", "exports", x);
    if (a->project)
        json_object_set_new(doc, "project", json_string(a->project));
    int rc = doc ? cli_unleash_import(h, a, doc) : cli_bad_body();
    json_decref(doc);
    return rc;
}

static int import_run(cli_http *h, const cli_args *a)
{
    if (a->from_unleash)
        return import_from_unleash(h, a);
    const char *name = strcmp(a->operand, "-") == 0 ? "<stdin>" : a->operand;
    json_t *doc = NULL, *answer = NULL;
    size_t len = 0;
    char *text = cli_read_file(a->operand, &len);
    if (!text)
        return CLI_EXIT_USAGE;
    json_error_t jerr;
    int rc = CLI_EXIT_USAGE;
    doc = json_loadb(text, len, 0, &jerr);
    if (!doc) {
        fprintf(stderr, "vexil: %s:%d:%d: %s\n", name, jerr.line, jerr.column,
                jerr.text);
        goto out;
    }
    if (!json_is_object(doc)) {
        fprintf(stderr, "vexil: %s: not an export document (an object)\n",
                name);
        goto out;
    }
    if (cli_unleash_is_export(doc)) {
        rc = import_unleash_file(h, a, doc);
        goto out;
    }
    if (a->dry_run || a->env || a->project) {
        fprintf(stderr,
                "vexil import: --dry-run, --env and --project apply "
                "to Unleash documents; %s is a Vexil export\n",
                name);
        goto out;
    }
    rc = cli_http_call(h, "POST", "/api/admin/import", doc, &answer);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(answer, stdout);
        goto out;
    }
    size_t nflags = json_array_size(json_object_get(doc, "features"));
    printf("imported %zu flag%s from %s\n", nflags, nflags == 1 ? "" : "s",
           name);
out:
    json_decref(answer);
    json_decref(doc);
    free(text);
    return rc;
}

static const cli_command export_cmd[] = {
    {NULL, "[--output FILE]",
     "Prints the whole server state (projects, environments, feature types,"
     "\nsegments, flags, tags, dependencies) as JSON, or writes it to "
     "FILE.",
     NULL, CLI_O_OUTPUT, 0, NULL, export_run},
};

/* FILE or --from-unleash, not both; --env and --project only for files. */
static int import_check(const char *prog, const cli_args *a)
{
    if (!a->operand == !a->from_unleash) {
        fprintf(stderr, "%s: give FILE or --from-unleash URL (one of them)\n",
                prog);
        return CLI_EXIT_USAGE;
    }
    if (a->from_unleash && (a->env || a->project)) {
        fprintf(stderr, "%s: --env and --project apply to an export file\n",
                prog);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static const cli_command import_cmd[] = {
    {NULL,
     "FILE [--env ENV] [--project P] [--dry-run] | --from-unleash URL "
     "[--unleash-token T] [--dry-run]",
     "Loads an export document ('-' = standard input). A Vexil export goes"
     "\ninto a server that has no flags yet. An Unleash feature export file"
     "\n(/api/admin/features-batch/export) is imported into its environment"
     "\n(--env overrides; --project puts every flag in P).\n"
     "--from-unleash URL reads a running Unleash 7/8 through its admin API"
     "\n(projects, environments, flags with strategies, variants, segments,"
     "\ndependencies, tags, custom strategy definitions, API token scopes)"
     "\nand imports it in one transaction; its admin token is --unleash-token"
     "\nor $UNLEASH_TOKEN, or --token when Vexil's is in $VEXIL_TOKEN."
     "\nUnleash imports run as a dry run first and print what will be created"
     "\nand what cannot be carried over; any problem stops them (nothing is"
     "\nwritten). --dry-run stops after the plan.",
     "FILE",
     CLI_O_ENV | CLI_O_PROJECT | CLI_O_DRY_RUN | CLI_O_FROM_UNLEASH |
         CLI_O_UNLEASH_TOKEN,
     0, import_check, import_run, true},
};

int cli_export_main(int argc, char **argv)
{
    return cli_client_dispatch("export", export_cmd, 1, argc, argv);
}

int cli_import_main(int argc, char **argv)
{
    return cli_client_dispatch("import", import_cmd, 1, argc, argv);
}
