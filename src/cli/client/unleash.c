/* `vexil import --from-unleash URL` and `vexil import FILE` for an Unleash
 * feature export: the CLI side of moving over from Unleash. It only
 * fetches (the Unleash 7/8 admin API: projects, environments, feature
 * types, strategy definitions, segments, context fields, tag types, API
 * token scopes, then one feature export per project and environment, and
 * one per environment for the archived flags) and prints; the mapping,
 * the validation and the one transaction are the server's
 * (POST /api/admin/import/unleash, src/service/unleash.c).
 *
 * Every import is first run as a dry run: its plan and every problem are
 * printed, and the import proper runs only when there is none (and
 * --dry-run was not given). Token secrets read from Unleash are dropped
 * here and never sent on. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"
#include "unleash.h"

#define IMPORT_SECS      1800L /* the import of a large installation */
#define UNLEASH_SECS     300L  /* one Unleash answer (a large export) */
#define ARCHIVED_PAGE    500   /* archived flag names per search page */
#define ARCHIVED_MAX     200000
#define EXPORT_NAMES_MAX 1000 /* names per export of archived flags */

/* ---- reading a running Unleash ------------------------------------------ */

/* GET `path` from Unleash into *out; `key` picks a member of the answer
 * (NULL: the answer itself). */
static int get(cli_http *u, const char *path, const char *key, json_t **out)
{
    json_t *ans = NULL;
    *out = NULL;
    int rc = cli_http_call(u, "GET", path, NULL, &ans);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *v = key ? json_object_get(ans, key) : ans;
    if (!json_is_array(v)) {
        json_decref(ans);
        return cli_bad_answer("GET", path, "not the list Unleash answers");
    }
    *out = json_incref(v);
    json_decref(ans);
    return CLI_EXIT_OK;
}

/* Token scopes without their secrets. */
static json_t *scopes_only(const json_t *tokens)
{
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach (tokens, i, t) {
        json_t *c = json_deep_copy(t);
        json_object_del(c, "secret");
        json_object_del(c, "alias");
        json_array_append_new(out, c);
    }
    return out;
}

/* The names of the archived flags (Unleash 5+: the search API, a page at a
 * time). An Unleash without it gives none, with a warning. */
static int archived_names(cli_http *u, json_t *names)
{
    for (int offset = 0; offset < ARCHIVED_MAX; offset += ARCHIVED_PAGE) {
        char path[160];
        snprintf(path, sizeof(path),
                 "/api/admin/search/features?archived=IS%%3Atrue&limit=%d"
                 "&offset=%d",
                 ARCHIVED_PAGE, offset);
        json_t *ans = NULL;
        int rc = cli_http_call(u, "GET", path, NULL, &ans);
        if (rc != CLI_EXIT_OK) {
            if (u->status == 404) {
                fputs("vexil: this Unleash has no search API: archived "
                      "flags are not imported\n",
                      stderr);
                return CLI_EXIT_OK;
            }
            return rc;
        }
        const json_t *fs = json_object_get(ans, "features");
        size_t i;
        const json_t *f;
        json_array_foreach (fs, i, f) {
            const json_t *n = json_object_get(f, "name");
            if (json_is_string(n))
                json_array_append(names, (json_t *)n);
        }
        size_t got = json_array_size(fs);
        json_decref(ans);
        if (got < ARCHIVED_PAGE)
            break;
    }
    return CLI_EXIT_OK;
}

/* POSTs one feature export and appends {environment, project?, data}. */
static int export_one(cli_http *u, json_t *exports, const char *env,
                      const char *project, const json_t *names)
{
    json_t *body = json_pack("{ss}", "environment", env);
    if (project)
        json_object_set_new(body, "project", json_string(project));
    if (names)
        json_object_set(body, "features", (json_t *)names);
    json_t *data = NULL;
    int rc = cli_http_call(u, "POST", "/api/admin/features-batch/export", body,
                           &data);
    json_decref(body);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (!json_is_object(data)) {
        json_decref(data);
        return cli_bad_answer("POST", "/api/admin/features-batch/export",
                              "not an export document");
    }
    json_t *x = json_pack("{ss so}", "environment", env, "data", data);
    if (project)
        json_object_set_new(x, "project", json_string(project));
    json_array_append_new(exports, x);
    return CLI_EXIT_OK;
}

/* Unleash's feature export lists a flag's strategies in no particular
 * order and without their "sortOrder"; the order decides which strategy's
 * variants an SDK picks. Each flag's own admin view has it: one request per
 * flag adds it to the export's strategies (by id). A flag Unleash no longer
 * shows (archived) keeps the export's order. */
static int add_sort_orders(cli_http *u, json_t *exports)
{
    json_t *orders = json_object(); /* strategy id -> sortOrder */
    json_t *seen = json_object();   /* flag names looked at */
    int rc = CLI_EXIT_OK;
    size_t i, j;
    json_t *x, *f;
    json_array_foreach (exports, i, x) {
        json_array_foreach (
            json_object_get(json_object_get(x, "data"), "features"), j, f) {
            const char *name = cli_json_str(f, "name", NULL);
            const char *proj = cli_json_str(f, "project", "default");
            if (rc != CLI_EXIT_OK || !name || json_object_get(seen, name) ||
                json_is_true(json_object_get(f, "archived")))
                continue;
            json_object_set_new(seen, name, json_true());
            char path[CLI_HTTP_MAX_PATH];
            if (!cli_http_pathf(path, sizeof(path),
                                "/api/admin/projects/%s/features/%s", proj,
                                name)) {
                rc = cli_bad_path();
                break;
            }
            json_t *view = NULL;
            rc = cli_http_call(u, "GET", path, NULL, &view);
            size_t k, l;
            json_t *e, *s;
            json_array_foreach (json_object_get(view, "environments"), k, e) {
                json_array_foreach (json_object_get(e, "strategies"), l, s) {
                    const char *id = cli_json_str(s, "id", NULL);
                    const json_t *so = json_object_get(s, "sortOrder");
                    if (id && json_is_integer(so))
                        json_object_set(orders, id, (json_t *)so);
                }
            }
            json_decref(view);
        }
    }
    json_array_foreach (exports, i, x) {
        json_array_foreach (
            json_object_get(json_object_get(x, "data"), "featureStrategies"), j,
            f) {
            const char *id = cli_json_str(f, "id", NULL);
            json_t *so = id ? json_object_get(orders, id) : NULL;
            if (so)
                json_object_set(f, "sortOrder", so);
        }
    }
    json_decref(orders);
    json_decref(seen);
    return rc;
}

/* Reads everything the import needs from the Unleash at `u` into a new
 * import document `*doc`. */
static int read_unleash(cli_http *u, const char *url, json_t **doc)
{
    json_t *projects = NULL, *envs = NULL, *types = NULL, *strategies = NULL,
           *segments = NULL, *context = NULL, *tag_types = NULL, *tokens = NULL,
           *archived = json_array(), *exports = json_array(), *ui = NULL;
    *doc = NULL;
    int rc = get(u, "/api/admin/projects", "projects", &projects);
    if (rc == CLI_EXIT_OK)
        rc = get(u, "/api/admin/environments", "environments", &envs);
    if (rc == CLI_EXIT_OK)
        rc = get(u, "/api/admin/feature-types", "types", &types);
    if (rc == CLI_EXIT_OK)
        rc = get(u, "/api/admin/strategies", "strategies", &strategies);
    if (rc == CLI_EXIT_OK)
        rc = get(u, "/api/admin/segments", "segments", &segments);
    if (rc == CLI_EXIT_OK)
        rc = get(u, "/api/admin/context", NULL, &context);
    if (rc == CLI_EXIT_OK)
        rc = get(u, "/api/admin/tag-types", "tagTypes", &tag_types);
    json_t *raw_tokens = NULL;
    if (rc == CLI_EXIT_OK)
        rc = get(u, "/api/admin/api-tokens", "tokens", &raw_tokens);
    if (rc == CLI_EXIT_OK)
        tokens = scopes_only(raw_tokens);
    json_decref(raw_tokens);
    if (rc == CLI_EXIT_OK)
        rc = archived_names(u, archived);
    size_t i, j;
    const json_t *p, *e;
    json_array_foreach (envs, j, e) {
        const char *env = cli_json_str(e, "name", NULL);
        if (rc != CLI_EXIT_OK || !env)
            continue;
        json_array_foreach (projects, i, p) {
            const char *proj = cli_json_str(p, "id", NULL);
            if (rc == CLI_EXIT_OK && proj)
                rc = export_one(u, exports, env, proj, NULL);
        }
        for (size_t k = 0; rc == CLI_EXIT_OK && k < json_array_size(archived);
             k += EXPORT_NAMES_MAX) {
            json_t *chunk = json_array();
            for (size_t n = k;
                 n < k + EXPORT_NAMES_MAX && n < json_array_size(archived); n++)
                json_array_append(chunk, json_array_get(archived, n));
            rc = export_one(u, exports, env, NULL, chunk);
            json_decref(chunk);
        }
    }
    if (rc == CLI_EXIT_OK)
        rc = add_sort_orders(u, exports);
    /* The version, for the record (never needed). */
    if (rc == CLI_EXIT_OK && cli_http_call(u, "GET", "/api/admin/ui-config",
                                           NULL, &ui) != CLI_EXIT_OK)
        ui = NULL;
    if (rc == CLI_EXIT_OK)
        *doc = json_pack("{ss so so so so so so so so so}", "source", url,
                         "projects", json_incref(projects), "environments",
                         json_incref(envs), "featureTypes", json_incref(types),
                         "strategies", json_incref(strategies), "segments",
                         json_incref(segments), "contextFields",
                         json_incref(context), "tagTypes",
                         json_incref(tag_types), "apiTokens",
                         json_incref(tokens), "exports", json_incref(exports));
    if (*doc && json_is_string(json_object_get(ui, "version")))
        json_object_set(*doc, "version", json_object_get(ui, "version"));
    json_decref(projects);
    json_decref(envs);
    json_decref(types);
    json_decref(strategies);
    json_decref(segments);
    json_decref(context);
    json_decref(tag_types);
    json_decref(tokens);
    json_decref(archived);
    json_decref(exports);
    json_decref(ui);
    return rc;
}

/* ---- printing the plan ----------------------------------------------------
 */

/* "(project p, environment e)" for a path into export N of `doc`. */
static void where(const json_t *doc, const char *path, FILE *out)
{
    if (strncmp(path, "/exports/", 9) != 0)
        return;
    long n = strtol(path + 9, NULL, 10);
    const json_t *x =
        json_array_get(json_object_get(doc, "exports"), (size_t)n);
    const char *env = cli_json_str(x, "environment", NULL);
    const char *proj = cli_json_str(x, "project", NULL);
    if (!env && !proj)
        return;
    fputs(" (", out);
    if (proj) {
        fputs("project ", out);
        cli_fputs_safe(proj, out);
    }
    if (env) {
        fputs(proj ? ", environment " : "environment ", out);
        cli_fputs_safe(env, out);
    }
    fputc(')', out);
}

static void print_group(const char *title, const json_t *group, FILE *out)
{
    const char *k;
    const json_t *v;
    bool any = false;
    json_object_foreach ((json_t *)group, k, v) {
        if (!json_array_size(v))
            continue;
        if (!any)
            fprintf(out, "%s:\n", title);
        any = true;
        fprintf(out, "  %zu %s: ", json_array_size(v), k);
        size_t i;
        const json_t *n;
        json_array_foreach (v, i, n) {
            if (i == 8) {
                fputs(", ...", out);
                break;
            }
            if (i)
                fputs(", ", out);
            cli_fputs_safe(json_is_string(n)
                               ? json_string_value(n)
                               : cli_json_str(n, "tokenName", "?"),
                           out);
        }
        fputc('\n', out);
    }
}

static void print_plan(const json_t *doc, const json_t *ans, bool done,
                       FILE *out)
{
    print_group(done ? "created" : "will create",
                json_object_get(ans, "created"), out);
    print_group(done ? "updated" : "will update",
                json_object_get(ans, "updated"), out);
    print_group(done ? "kept (already in Vexil)"
                     : "will keep (already in Vexil)",
                json_object_get(ans, "reused"), out);
    const json_t *notes = json_object_get(ans, "notCarriedOver");
    if (json_array_size(notes))
        fputs("not carried over:\n", out);
    size_t i;
    const json_t *n;
    json_array_foreach (notes, i, n) {
        fputs("  ", out);
        cli_fputs_safe(cli_json_str(n, "what", "?"), out);
        const char *name = cli_json_str(n, "name", NULL);
        if (name) {
            fputc(' ', out);
            cli_fputs_safe(name, out);
        }
        fputs(": ", out);
        cli_fputs_safe(cli_json_str(n, "message", ""), out);
        fputc('\n', out);
    }
    const json_t *warnings = json_object_get(ans, "warnings");
    if (json_array_size(warnings))
        fputs("warnings (imported as they are):\n", out);
    json_array_foreach (warnings, i, n) {
        fputs("  ", out);
        cli_fputs_safe(cli_json_str(n, "path", ""), out);
        where(doc, cli_json_str(n, "path", ""), out);
        fputs(": ", out);
        cli_fputs_safe(cli_json_str(n, "message", ""), out);
        fputc('\n', out);
    }
}

/* Prints the problems of a dry run to stderr; returns how many. */
static size_t print_problems(const json_t *doc, const json_t *ans)
{
    const json_t *ps = json_object_get(ans, "problems");
    if (!json_array_size(ps))
        return 0;
    fprintf(stderr,
            "vexil: %zu problem%s: nothing is imported until %s fixed (in "
            "Unleash, or in Vexil for names already taken):\n",
            json_array_size(ps), json_array_size(ps) == 1 ? "" : "s",
            json_array_size(ps) == 1 ? "it is" : "they are");
    size_t i;
    const json_t *p;
    json_array_foreach (ps, i, p) {
        fputs("  ", stderr);
        cli_fputs_safe(cli_json_str(p, "path", ""), stderr);
        where(doc, cli_json_str(p, "path", ""), stderr);
        fputs(": ", stderr);
        cli_fputs_safe(cli_json_str(p, "message", ""), stderr);
        fputc('\n', stderr);
    }
    return json_array_size(ps);
}

/* ---- the import ------------------------------------------------------------
 */

int cli_unleash_import(cli_http *h, const cli_args *a, json_t *doc)
{
    json_t *plan = NULL, *done = NULL;
    long saved = h->total_secs;
    h->total_secs = IMPORT_SECS;
    json_object_set_new(doc, "dryRun", json_true());
    int rc = cli_http_call(h, "POST", "/api/admin/import/unleash", doc, &plan);
    if (rc != CLI_EXIT_OK)
        goto out;
    size_t nproblems = json_array_size(json_object_get(plan, "problems"));
    if (a->dry_run || nproblems) {
        if (a->json)
            cli_print_json(plan, stdout);
        else
            print_plan(doc, plan, false, stdout);
        fflush(stdout);
        print_problems(doc, plan);
        rc = nproblems ? CLI_EXIT_FAIL : CLI_EXIT_OK;
        goto out;
    }
    json_object_set_new(doc, "dryRun", json_false());
    rc = cli_http_call(h, "POST", "/api/admin/import/unleash", doc, &done);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(done, stdout);
        goto out;
    }
    print_plan(doc, done, true, stdout);
    const json_t *tokens = json_object_get(done, "tokens");
    if (json_array_size(tokens))
        fputs("new API token secrets (shown once; give each to its "
              "application):\n",
              stdout);
    size_t i;
    const json_t *t;
    json_array_foreach (tokens, i, t) {
        char projects[512];
        printf("  %s (%s, %s, projects %s): %s\n",
               cli_json_str(t, "tokenName", "?"), cli_json_str(t, "type", "?"),
               cli_json_str(t, "environment", "*"),
               cli_json_text(json_object_get(t, "projects"), projects,
                             sizeof(projects)),
               cli_json_str(t, "secret", "?"));
    }
out:
    h->total_secs = saved;
    json_decref(plan);
    json_decref(done);
    return rc;
}

int cli_unleash_import_url(cli_http *h, const cli_args *a, const char *token)
{
    /* The base URL, with or without a trailing "/api". */
    char url[CLI_HTTP_MAX_URL];
    snprintf(url, sizeof(url), "%s", a->from_unleash);
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    if (n >= 4 && strcmp(url + n - 4, "/api") == 0)
        url[n - 4] = '\0';
    cli_http u;
    int rc = cli_http_init(&u, url, token);
    if (rc != CLI_EXIT_OK)
        return rc;
    u.total_secs = UNLEASH_SECS;
    json_t *doc = NULL;
    rc = read_unleash(&u, url, &doc);
    cli_http_release(&u);
    if (rc != CLI_EXIT_OK) {
        fprintf(stderr,
                "vexil: reading the Unleash at %s failed; nothing "
                "was imported\n",
                url);
        return rc;
    }
    if (!a->json) {
        size_t nflags = 0, i;
        const json_t *x;
        json_array_foreach (json_object_get(doc, "exports"), i, x) {
            nflags += json_array_size(
                json_object_get(json_object_get(x, "data"), "features"));
        }
        printf("read Unleash %s at %s: %zu projects, %zu environments, %zu "
               "feature exports (%zu flag entries), %zu segments, %zu "
               "strategy definitions, %zu API tokens\n",
               cli_json_str(doc, "version", "?"), url,
               json_array_size(json_object_get(doc, "projects")),
               json_array_size(json_object_get(doc, "environments")),
               json_array_size(json_object_get(doc, "exports")), nflags,
               json_array_size(json_object_get(doc, "segments")),
               json_array_size(json_object_get(doc, "strategies")),
               json_array_size(json_object_get(doc, "apiTokens")));
    }
    rc = cli_unleash_import(h, a, doc);
    json_decref(doc);
    return rc;
}

bool cli_unleash_is_export(const json_t *doc)
{
    return json_is_array(json_object_get(doc, "featureStrategies")) ||
           (json_is_array(json_object_get(doc, "features")) &&
            json_is_array(json_object_get(doc, "featureEnvironments")));
}
