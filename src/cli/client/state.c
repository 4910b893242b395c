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

static int import_run(cli_http *h, const cli_args *a)
{
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

static const cli_command import_cmd[] = {
    {NULL, "FILE",
     "Loads an export document ('-' = standard input) into a server that has"
     "\nno flags yet.",
     "FILE", 0, 0, NULL, import_run},
};

int cli_export_main(int argc, char **argv)
{
    return cli_client_dispatch("export", export_cmd, 1, argc, argv);
}

int cli_import_main(int argc, char **argv)
{
    return cli_client_dispatch("import", import_cmd, 1, argc, argv);
}
