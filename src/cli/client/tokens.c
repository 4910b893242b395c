/* `vexil tokens ...`: create, list and revoke API tokens through
 * /api/admin/api-tokens (admin tokens with the admin role only). The one
 * secret printed is that of a token just created, since the server shows it
 * once; the token used to call the server is never printed. */
#include <assert.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"

static bool one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

static int check_create(const char *prog, const cli_args *a)
{
    static const char *const types[] = {"admin", "client", "backend",
                                        "frontend"};
    static const char *const roles[] = {"admin", "editor", "viewer"};
    if (!one_of(a->type, types, sizeof(types) / sizeof(types[0]))) {
        fprintf(stderr, "%s: --type must be admin, client or frontend\n", prog);
        return CLI_EXIT_USAGE;
    }
    bool admin = strcmp(a->type, "admin") == 0;
    if (a->role && !admin) {
        fprintf(stderr, "%s: --role applies to admin tokens only\n", prog);
        return CLI_EXIT_USAGE;
    }
    if (a->role && !one_of(a->role, roles, sizeof(roles) / sizeof(roles[0]))) {
        fprintf(stderr, "%s: --role must be admin, editor or viewer\n", prog);
        return CLI_EXIT_USAGE;
    }
    if (!admin && (!a->env || !*a->env || strcmp(a->env, "*") == 0)) {
        fprintf(stderr, "%s: %s tokens need --env ENV (one environment)\n",
                prog, a->type);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* The request body: tokenName, type, and role, environment, projects when
 * given. New reference or NULL (not UTF-8, or out of memory). */
static json_t *create_body(const cli_args *a)
{
    json_t *body =
        json_pack("{s:s, s:s, s:s*, s:s*}", "tokenName", a->name, "type",
                  a->type, "role", a->role, "environment", a->env);
    if (!body || a->nprojects == 0)
        return body;
    json_t *projects = json_array();
    bool ok = projects && json_object_set_new(body, "projects", projects) == 0;
    for (size_t i = 0; ok && i < a->nprojects; i++)
        ok = json_array_append_new(projects, json_string(a->projects[i])) == 0;
    if (!ok) {
        json_decref(body);
        return NULL;
    }
    return body;
}

static int tokens_create(cli_http *h, const cli_args *a)
{
    json_t *body = create_body(a), *doc = NULL;
    char buf[512];
    if (!body)
        return cli_bad_body();
    int rc = cli_http_call(h, "POST", "/api/admin/api-tokens", body, &doc);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(doc, stdout);
        goto out;
    }
    const char *secret = cli_json_str(doc, "secret", NULL);
    if (!secret) {
        rc = cli_bad_answer("POST", "/api/admin/api-tokens", "no \"secret\"");
        goto out;
    }
    fputs("created ", stdout);
    cli_fputs_safe(cli_json_str(doc, "type", a->type), stdout);
    fputs(" token ", stdout);
    cli_fputs_safe(cli_json_text(json_object_get(doc, "id"), buf, sizeof(buf)),
                   stdout);
    fputs(" \"", stdout);
    cli_fputs_safe(cli_json_str(doc, "tokenName", a->name), stdout);
    fputs("\"", stdout);
    const char *role = cli_json_str(doc, "role", NULL);
    if (role) {
        fputs(", role ", stdout);
        cli_fputs_safe(role, stdout);
    }
    fputs(", environment ", stdout);
    cli_fputs_safe(
        cli_json_text(json_object_get(doc, "environment"), buf, sizeof(buf)),
        stdout);
    fputs(", projects ", stdout);
    cli_fputs_safe(
        cli_json_text(json_object_get(doc, "projects"), buf, sizeof(buf)),
        stdout);
    fputs("\n\nsecret (shown only this once; store it now):\n\n    ", stdout);
    cli_fputs_safe(secret, stdout);
    fputs("\n\n", stdout);
out:
    json_decref(doc);
    json_decref(body);
    return rc;
}

static int tokens_list(cli_http *h, const cli_args *a)
{
    static const char path[] = "/api/admin/api-tokens";
    static const char *const head[] = {"ID",      "NAME",    "TYPE",
                                       "ROLE",    "ENV",     "PROJECTS",
                                       "CREATED", "EXPIRES", "REVOKED"};
    static const char *const keys[] = {"id",        "tokenName",   "type",
                                       "role",      "environment", "projects",
                                       "createdAt", "expiresAt",   "revoked"};
    enum { NCOLS = sizeof(head) / sizeof(head[0]) };
    static_assert(sizeof(keys) / sizeof(keys[0]) == NCOLS, "one key a column");
    json_t *doc = NULL;
    cli_table t = {0};
    char bufs[NCOLS][256];
    const char *cells[NCOLS];
    int rc = cli_http_call(h, "GET", path, NULL, &doc);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(doc, stdout);
        goto out;
    }
    const json_t *tokens = json_object_get(doc, "tokens");
    if (!json_is_array(tokens)) {
        rc = cli_bad_answer("GET", path, "no \"tokens\" array");
        goto out;
    }
    if (json_array_size(tokens) == 0) {
        puts("no tokens");
        goto out;
    }
    cli_table_init(&t);
    cli_table_add(&t, head, NCOLS);
    size_t i;
    const json_t *tok;
    json_array_foreach (tokens, i, tok) {
        for (size_t c = 0; c < NCOLS; c++)
            cells[c] = cli_json_text(json_object_get(tok, keys[c]), bufs[c],
                                     sizeof(bufs[c]));
        cli_table_add(&t, cells, NCOLS);
    }
    rc = cli_table_print(&t, stdout);
out:
    cli_table_release(&t);
    json_decref(doc);
    return rc;
}

static int tokens_revoke(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    char path[CLI_HTTP_MAX_PATH];
    if (!cli_http_pathf(path, sizeof(path), "/api/admin/api-tokens/%s",
                        a->operand))
        return cli_bad_path();
    int rc = cli_http_call(h, "DELETE", path, NULL, &doc);
    if (rc == CLI_EXIT_OK && a->json) {
        rc = cli_print_json(doc, stdout);
    } else if (rc == CLI_EXIT_OK) {
        fputs("revoked token ", stdout);
        cli_fputs_safe(a->operand, stdout);
        fputc('\n', stdout);
    }
    json_decref(doc);
    return rc;
}

static const cli_command commands[] = {
    {"create",
     "--name N --type admin|client|frontend [--role R] [--env ENV]"
     " [--project P]...",
     "Creates an API token and prints its secret, which is shown only once."
     "\nClient and frontend tokens need --env; admin tokens take --role"
     "\nadmin|editor|viewer (default admin). Without --project the token"
     "\ncovers every project.",
     NULL,
     CLI_O_NAME | CLI_O_TYPE | CLI_O_ROLE | CLI_O_ENV | CLI_O_PROJECT |
         CLI_O_MANY_PROJECTS,
     CLI_O_NAME | CLI_O_TYPE, check_create, tokens_create},
    {"list", "", "Lists the API tokens (never their secrets).", NULL, 0, 0,
     NULL, tokens_list},
    {"revoke", "ID", "Revokes a token; requests made with it then get 401.",
     "ID", 0, 0, NULL, tokens_revoke},
};

int cli_tokens_main(int argc, char **argv)
{
    return cli_client_dispatch(
        "tokens", commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
