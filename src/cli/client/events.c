/* `vexil events`: the audit log, newest first, from
 * GET /api/admin/search/events with the filters given as query parameters
 * (each value percent-encoded). */
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"

/* Appends "?key=value" or "&key=value" to the path in (path, cap) when
 * `value` is not NULL. Returns false when it does not fit. */
static bool add_param(char *path, size_t cap, const char *key,
                      const char *value)
{
    char esc[CLI_HTTP_MAX_PATH];
    if (!value)
        return true;
    if (!cli_http_escape(value, esc, sizeof(esc)))
        return false;
    size_t n = strlen(path);
    int w = snprintf(path + n, cap - n, "%c%s=%s",
                     strchr(path, '?') ? '&' : '?', key, esc);
    return w >= 0 && (size_t)w < cap - n;
}

static int events_run(cli_http *h, const cli_args *a)
{
    static const char *const head[] = {"ID",         "TIME",    "TYPE",
                                       "CREATED BY", "FEATURE", "ENV"};
    static const char *const keys[] = {
        "id", "createdAt", "type", "createdBy", "featureName", "environment"};
    enum { NCOLS = sizeof(head) / sizeof(head[0]) };
    json_t *doc = NULL;
    cli_table t = {0};
    char path[CLI_HTTP_MAX_PATH] = "/api/admin/search/events";
    char bufs[NCOLS][256], limit[32];
    const char *cells[NCOLS];
    int rc;

    snprintf(limit, sizeof(limit), "%ld", a->limit_value);
    if (!add_param(path, sizeof(path), "type", a->type) ||
        !add_param(path, sizeof(path), "project", a->project) ||
        !add_param(path, sizeof(path), "feature", a->feature) ||
        !add_param(path, sizeof(path), "limit", a->limit ? limit : NULL))
        return cli_bad_path();
    rc = cli_http_call(h, "GET", path, NULL, &doc);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(doc, stdout);
        goto out;
    }
    const json_t *events = json_object_get(doc, "events");
    if (!json_is_array(events)) {
        rc = cli_bad_answer("GET", path, "no \"events\" array");
        goto out;
    }
    if (json_array_size(events) == 0) {
        puts("no events");
        goto out;
    }
    cli_table_init(&t);
    cli_table_add(&t, head, NCOLS);
    size_t i;
    const json_t *ev;
    json_array_foreach (events, i, ev) {
        for (size_t c = 0; c < NCOLS; c++)
            cells[c] = cli_json_text(json_object_get(ev, keys[c]), bufs[c],
                                     sizeof(bufs[c]));
        cli_table_add(&t, cells, NCOLS);
    }
    rc = cli_table_print(&t, stdout);
    json_int_t total = json_integer_value(json_object_get(doc, "total"));
    if (rc == CLI_EXIT_OK && total > (json_int_t)json_array_size(events))
        fprintf(stderr,
                "(%zu of %" JSON_INTEGER_FORMAT
                " events; --limit shows more)\n",
                json_array_size(events), total);
out:
    cli_table_release(&t);
    json_decref(doc);
    return rc;
}

static const cli_command commands[] = {
    {NULL, "[--feature F] [--type T] [--project P] [--limit N]",
     "Lists audit events, newest first (the server's default limit is 50).",
     NULL, CLI_O_FEATURE | CLI_O_TYPE | CLI_O_PROJECT | CLI_O_LIMIT, 0, NULL,
     events_run},
};

int cli_events_main(int argc, char **argv)
{
    return cli_client_dispatch("events", commands, 1, argc, argv);
}
