/* `vexil flags ...`: list, inspect, create, switch, roll out and archive
 * feature flags through /api/admin/projects/{p}/features, and list,
 * revive or delete archived ones (/api/admin/archive). Every name that
 * goes into a URL is percent-encoded; every answer is printed either as the
 * server's JSON (--json) or as text for people. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "common.h"

#define ROLLOUT_STRATEGY "flexibleRollout"
#define MAX_ENV_COLUMNS  32 /* environments shown by `flags list` */

/* ---- list ------------------------------------------------------------ */

/* Appends to `names` every environment name of every feature not yet in it,
 * keeping the server's order (environments come sorted by sortOrder). */
static bool collect_envs(const json_t *features, json_t *names)
{
    size_t i, j, k;
    const json_t *f, *env, *known;
    json_array_foreach (features, i, f) {
        json_array_foreach (json_object_get(f, "environments"), j, env) {
            const char *name = cli_json_str(env, "name", NULL);
            bool seen = !name;
            json_array_foreach (names, k, known) {
                if (strcmp(json_string_value(known), name ? name : "") == 0)
                    seen = true;
            }
            if (!seen && json_array_size(names) < MAX_ENV_COLUMNS &&
                json_array_append_new(names, json_string(name)) != 0)
                return false;
        }
    }
    return true;
}

/* "on", "off" or "-" for the environment `env` of feature `f`. */
static const char *env_state(const json_t *f, const char *env)
{
    size_t i;
    const json_t *e;
    json_array_foreach (json_object_get(f, "environments"), i, e) {
        if (strcmp(cli_json_str(e, "name", ""), env) == 0)
            return json_is_true(json_object_get(e, "enabled")) ? "on" : "off";
    }
    return "-";
}

static int flags_list(cli_http *h, const cli_args *a)
{
    int rc = CLI_EXIT_FAIL;
    json_t *doc = NULL, *envs = NULL;
    cli_table t = {0};
    const char *cells[3 + MAX_ENV_COLUMNS];
    char path[CLI_HTTP_MAX_PATH];
    bool ok =
        a->project
            ? cli_http_pathf(path, sizeof(path),
                             "/api/admin/projects/%s/features", a->project)
            : cli_http_pathf(path, sizeof(path), "/api/admin/features");
    if (!ok)
        return cli_bad_path();
    rc = cli_http_call(h, "GET", path, NULL, &doc);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(doc, stdout);
        goto out;
    }
    const json_t *features = json_object_get(doc, "features");
    if (!json_is_array(features)) {
        rc = cli_bad_answer("GET", path, "no \"features\" array");
        goto out;
    }
    if (json_array_size(features) == 0) {
        printf("no flags%s%s\n", a->project ? " in project " : "",
               a->project ? a->project : "");
        rc = CLI_EXIT_OK;
        goto out;
    }
    envs = json_array();
    if (!envs || !collect_envs(features, envs)) {
        fputs("vexil: out of memory\n", stderr);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    size_t nenv = json_array_size(envs), i, j;
    const json_t *f, *e;
    cli_table_init(&t);
    cells[0] = "NAME";
    cells[1] = "PROJECT";
    cells[2] = "TYPE";
    json_array_foreach (envs, j, e)
        cells[3 + j] = json_string_value(e);
    cli_table_add(&t, cells, 3 + nenv);
    json_array_foreach (features, i, f) {
        cells[0] = cli_json_str(f, "name", "?");
        cells[1] = cli_json_str(f, "project", "");
        cells[2] = cli_json_str(f, "type", "");
        json_array_foreach (envs, j, e) {
            cells[3 + j] = env_state(f, json_string_value(e));
        }
        cli_table_add(&t, cells, 3 + nenv);
    }
    rc = cli_table_print(&t, stdout);
out:
    cli_table_release(&t);
    json_decref(envs);
    json_decref(doc);
    return rc;
}

/* ---- get ------------------------------------------------------------- */

/* "50%" or "33.3%" for a variant weight out of 1000. */
static void print_weight(const json_t *w)
{
    json_int_t v = json_integer_value(w);
    if (v % 10 == 0)
        printf("%" JSON_INTEGER_FORMAT "%%", v / 10);
    else
        printf("%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT "%%", v / 10,
               v % 10);
}

static void print_variants(const json_t *variants)
{
    size_t i;
    const json_t *v;
    fputs("    variants: ", stdout);
    json_array_foreach (variants, i, v) {
        if (i)
            fputs(", ", stdout);
        cli_fputs_safe(cli_json_str(v, "name", "?"), stdout);
        fputc(' ', stdout);
        print_weight(json_object_get(v, "weight"));
        if (strcmp(cli_json_str(v, "weightType", ""), "fix") == 0)
            fputs(" fixed", stdout);
    }
    fputc('\n', stdout);
}

static void print_count(size_t n, const char *what)
{
    printf(", %zu %s%s", n, what, n == 1 ? "" : "s");
}

static void print_strategy(const json_t *s, size_t idx)
{
    char buf[64];
    const json_t *params = json_object_get(s, "parameters");
    const json_t *pct = json_object_get(params, "rollout");
    if (!pct)
        pct = json_object_get(params, "percentage");
    printf("    %zu. ", idx + 1);
    cli_fputs_safe(cli_json_str(s, "name", "?"), stdout);
    const char *title = cli_json_str(s, "title", NULL);
    if (title && *title) {
        fputs(" \"", stdout);
        cli_fputs_safe(title, stdout);
        fputc('"', stdout);
    }
    if (pct) {
        printf(": rollout %s%%", cli_json_text(pct, buf, sizeof(buf)));
        const char *stick = cli_json_str(params, "stickiness", NULL);
        if (stick) {
            fputs(" by ", stdout);
            cli_fputs_safe(stick, stdout);
        }
    }
    print_count(json_array_size(json_object_get(s, "constraints")),
                "constraint");
    size_t nseg = json_array_size(json_object_get(s, "segments"));
    if (nseg)
        print_count(nseg, "segment");
    size_t nvar = json_array_size(json_object_get(s, "variants"));
    if (nvar)
        print_count(nvar, "variant");
    if (json_is_true(json_object_get(s, "disabled")))
        fputs(" (disabled)", stdout);
    fputs("  [id ", stdout);
    cli_fputs_safe(cli_json_text(json_object_get(s, "id"), buf, sizeof(buf)),
                   stdout);
    fputs("]\n", stdout);
}

static void print_field(const char *label, const char *value)
{
    printf("  %-13s", label);
    cli_fputs_safe(value && *value ? value : "-", stdout);
    fputc('\n', stdout);
}

static void print_feature(const json_t *f)
{
    size_t i, j;
    const json_t *x, *s;
    cli_fputs_safe(cli_json_str(f, "name", "?"), stdout);
    fputc('\n', stdout);
    print_field("project", cli_json_str(f, "project", ""));
    print_field("type", cli_json_str(f, "type", ""));
    print_field("description", cli_json_str(f, "description", ""));
    if (json_is_true(json_object_get(f, "stale")))
        print_field("stale", "yes");
    if (json_is_true(json_object_get(f, "archived")))
        print_field("archived", cli_json_str(f, "archivedAt", "yes"));
    const json_t *tags = json_object_get(f, "tags");
    if (json_array_size(tags)) {
        printf("  %-13s", "tags");
        json_array_foreach (tags, i, x) {
            fputs(i ? ", " : "", stdout);
            cli_fputs_safe(cli_json_str(x, "type", "?"), stdout);
            fputc(':', stdout);
            cli_fputs_safe(cli_json_str(x, "value", "?"), stdout);
        }
        fputc('\n', stdout);
    }
    const json_t *deps = json_object_get(f, "dependencies");
    if (json_array_size(deps)) {
        printf("  %-13s", "depends on");
        json_array_foreach (deps, i, x) {
            fputs(i ? ", " : "", stdout);
            cli_fputs_safe(cli_json_str(x, "feature", "?"), stdout);
            if (json_is_false(json_object_get(x, "enabled")))
                fputs(" (disabled)", stdout);
        }
        fputc('\n', stdout);
    }
    fputs("environments:\n", stdout);
    json_array_foreach (json_object_get(f, "environments"), i, x) {
        fputs("  ", stdout);
        cli_fputs_safe(cli_json_str(x, "name", "?"), stdout);
        printf(": %s\n",
               json_is_true(json_object_get(x, "enabled")) ? "on" : "off");
        const json_t *strategies = json_object_get(x, "strategies");
        if (json_array_size(strategies) == 0)
            fputs("    no strategies\n", stdout);
        json_array_foreach (strategies, j, s)
            print_strategy(s, j);
        const json_t *variants = json_object_get(x, "variants");
        if (json_array_size(variants))
            print_variants(variants);
    }
}

static int flags_get(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    char path[CLI_HTTP_MAX_PATH];
    if (!cli_http_pathf(path, sizeof(path),
                        "/api/admin/projects/%s/features/%s",
                        cli_args_project(a), a->operand))
        return cli_bad_path();
    int rc = cli_http_call(h, "GET", path, NULL, &doc);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(doc, stdout);
    } else if (!json_is_object(doc)) {
        rc = cli_bad_answer("GET", path, "not a feature object");
    } else {
        print_feature(doc);
    }
out:
    json_decref(doc);
    return rc;
}

/* ---- create, enable, disable, archive -------------------------------- */

static int flags_create(cli_http *h, const cli_args *a)
{
    json_t *body = NULL, *doc = NULL;
    char path[CLI_HTTP_MAX_PATH];
    int rc;
    if (!cli_http_pathf(path, sizeof(path), "/api/admin/projects/%s/features",
                        cli_args_project(a)))
        return cli_bad_path();
    body = json_pack("{s:s, s:s*, s:s*}", "name", a->operand, "type", a->type,
                     "description", a->description);
    if (!body)
        return cli_bad_body();
    rc = cli_http_call(h, "POST", path, body, &doc);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(doc, stdout);
        goto out;
    }
    fputs("created flag ", stdout);
    cli_fputs_safe(cli_json_str(doc, "name", a->operand), stdout);
    fputs(" in project ", stdout);
    cli_fputs_safe(cli_json_str(doc, "project", cli_args_project(a)), stdout);
    fputs(" (type ", stdout);
    cli_fputs_safe(cli_json_str(doc, "type", a->type ? a->type : "release"),
                   stdout);
    fputs(")\n", stdout);
out:
    json_decref(doc);
    json_decref(body);
    return rc;
}

static int switch_env(cli_http *h, const cli_args *a, bool on)
{
    json_t *doc = NULL;
    char path[CLI_HTTP_MAX_PATH];
    if (!cli_http_pathf(path, sizeof(path),
                        "/api/admin/projects/%s/features/%s/environments/%s/%s",
                        cli_args_project(a), a->operand, a->env,
                        on ? "on" : "off"))
        return cli_bad_path();
    int rc = cli_http_call(h, "POST", path, NULL, &doc);
    if (rc == CLI_EXIT_OK && a->json) {
        rc = cli_print_json(doc, stdout);
    } else if (rc == CLI_EXIT_OK) {
        cli_fputs_safe(a->operand, stdout);
        printf(" is %s in ", on ? "on" : "off");
        cli_fputs_safe(a->env, stdout);
        fputc('\n', stdout);
    }
    json_decref(doc);
    return rc;
}

static int flags_enable(cli_http *h, const cli_args *a)
{
    return switch_env(h, a, true);
}

static int flags_disable(cli_http *h, const cli_args *a)
{
    return switch_env(h, a, false);
}

static int flags_archive(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    char path[CLI_HTTP_MAX_PATH];
    if (!cli_http_pathf(path, sizeof(path),
                        "/api/admin/projects/%s/features/%s",
                        cli_args_project(a), a->operand))
        return cli_bad_path();
    int rc = cli_http_call(h, "DELETE", path, NULL, &doc);
    if (rc == CLI_EXIT_OK && a->json) {
        rc = cli_print_json(doc, stdout);
    } else if (rc == CLI_EXIT_OK) {
        fputs("archived flag ", stdout);
        cli_fputs_safe(a->operand, stdout);
        fputc('\n', stdout);
    }
    json_decref(doc);
    return rc;
}

/* ---- rollout --------------------------------------------------------- */

/* The environment named `env` of feature `f`, or NULL. */
static const json_t *find_env(const json_t *f, const char *env)
{
    size_t i;
    const json_t *e;
    json_array_foreach (json_object_get(f, "environments"), i, e) {
        if (strcmp(cli_json_str(e, "name", ""), env) == 0)
            return e;
    }
    return NULL;
}

/* The strategy body to send: a copy of `existing` with the new rollout (and
 * stickiness, if given), or a new flexibleRollout strategy. New reference,
 * NULL when out of memory or an argument is not UTF-8. */
static json_t *rollout_body(const json_t *existing, const cli_args *a)
{
    char pct[8];
    snprintf(pct, sizeof(pct), "%ld", a->percent_value);
    if (!existing)
        return json_pack("{s:s, s:{s:s, s:s, s:s}, s:[]}", "name",
                         ROLLOUT_STRATEGY, "parameters", "rollout", pct,
                         "stickiness",
                         a->stickiness ? a->stickiness : "default", "groupId",
                         a->operand, "constraints");
    json_t *body = json_deep_copy(existing);
    json_t *params = json_object_get(body, "parameters");
    bool ok = body != NULL;
    if (ok && !json_is_object(params)) {
        params = json_object();
        ok = json_object_set_new(body, "parameters", params) == 0;
    }
    if (ok)
        ok = json_object_set_new(params, "rollout", json_string(pct)) == 0;
    if (ok && a->stickiness)
        ok = json_object_set_new(params, "stickiness",
                                 json_string(a->stickiness)) == 0;
    if (!ok) {
        json_decref(body);
        return NULL;
    }
    return body;
}

static int flags_rollout(cli_http *h, const cli_args *a)
{
    json_t *feature = NULL, *body = NULL, *doc = NULL;
    char path[CLI_HTTP_MAX_PATH], id[128];
    const char *project = cli_args_project(a);
    int rc;

    if (!cli_http_pathf(path, sizeof(path),
                        "/api/admin/projects/%s/features/%s", project,
                        a->operand))
        return cli_bad_path();
    rc = cli_http_call(h, "GET", path, NULL, &feature);
    if (rc != CLI_EXIT_OK)
        goto out;
    const json_t *env = find_env(feature, a->env);
    if (!env) {
        fputs("vexil: flag ", stderr);
        cli_fputs_safe(a->operand, stderr);
        fputs(" has no environment ", stderr);
        cli_fputs_safe(a->env, stderr);
        fputc('\n', stderr);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    const json_t *existing = NULL, *s;
    size_t i;
    json_array_foreach (json_object_get(env, "strategies"), i, s) {
        if (!existing &&
            strcmp(cli_json_str(s, "name", ""), ROLLOUT_STRATEGY) == 0)
            existing = s;
    }
    body = rollout_body(existing, a);
    if (!body) {
        rc = cli_bad_body();
        goto out;
    }
    bool ok;
    if (existing) {
        cli_json_text(json_object_get(existing, "id"), id, sizeof(id));
        ok = cli_http_pathf(
            path, sizeof(path),
            "/api/admin/projects/%s/features/%s/environments/%s/strategies/%s",
            project, a->operand, a->env, id);
    } else {
        ok = cli_http_pathf(
            path, sizeof(path),
            "/api/admin/projects/%s/features/%s/environments/%s/strategies",
            project, a->operand, a->env);
    }
    if (!ok) {
        rc = cli_bad_path();
        goto out;
    }
    rc = cli_http_call(h, existing ? "PUT" : "POST", path, body, &doc);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (a->json) {
        rc = cli_print_json(doc, stdout);
        goto out;
    }
    const json_t *params = json_object_get(doc, "parameters");
    cli_fputs_safe(a->operand, stdout);
    fputs(" in ", stdout);
    cli_fputs_safe(a->env, stdout);
    printf(": rollout %ld%% by ", a->percent_value);
    cli_fputs_safe(cli_json_str(params, "stickiness", "default"), stdout);
    printf(" (%s strategy ", existing ? "updated" : "added");
    cli_fputs_safe(cli_json_text(json_object_get(doc, "id"), id, sizeof(id)),
                   stdout);
    fputs(")\n", stdout);
    if (!json_is_true(json_object_get(env, "enabled"))) {
        fputs("note: the flag is off in ", stderr);
        cli_fputs_safe(a->env, stderr);
        fputs("; 'vexil flags enable ", stderr);
        cli_fputs_safe(a->operand, stderr);
        fputs(" --env ", stderr);
        cli_fputs_safe(a->env, stderr);
        fputs("' turns it on\n", stderr);
    }
out:
    json_decref(doc);
    json_decref(body);
    json_decref(feature);
    return rc;
}

/* ---- the archive: list, revive, delete for good ---------------------------
 */

/* GET /api/admin/archive/features (or .../{project}): archived flags with
 * when they were archived. */
static int flags_archived(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    char path[CLI_HTTP_MAX_PATH];
    bool ok =
        a->project
            ? cli_http_pathf(path, sizeof(path),
                             "/api/admin/archive/features/%s", a->project)
            : cli_http_pathf(path, sizeof(path), "/api/admin/archive/features");
    if (!ok)
        return cli_bad_path();
    int rc = cli_http_call(h, "GET", path, NULL, &doc);
    const json_t *features = json_object_get(doc, "features");
    if (rc == CLI_EXIT_OK && a->json) {
        rc = cli_print_json(doc, stdout);
    } else if (rc == CLI_EXIT_OK && !json_is_array(features)) {
        rc = cli_bad_answer("GET", path, "no \"features\" array");
    } else if (rc == CLI_EXIT_OK && json_array_size(features) == 0) {
        printf("no archived flags%s%s\n", a->project ? " in project " : "",
               a->project ? a->project : "");
    } else if (rc == CLI_EXIT_OK) {
        cli_table t;
        cli_table_init(&t);
        const char *head[] = {"NAME", "PROJECT", "TYPE", "ARCHIVED"};
        cli_table_add(&t, head, 4);
        size_t i;
        const json_t *f;
        json_array_foreach (features, i, f) {
            const char *row[] = {cli_json_str(f, "name", "?"),
                                 cli_json_str(f, "project", "?"),
                                 cli_json_str(f, "type", "-"),
                                 cli_json_str(f, "archivedAt", "-")};
            cli_table_add(&t, row, 4);
        }
        rc = cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    json_decref(doc);
    return rc;
}

/* POST /api/admin/archive/revive/{name} or DELETE /api/admin/archive/{name}
 * (`revive`), then says what happened. */
static int archive_action(cli_http *h, const cli_args *a, bool revive)
{
    json_t *doc = NULL;
    char path[CLI_HTTP_MAX_PATH];
    if (!cli_http_pathf(path, sizeof(path),
                        revive ? "/api/admin/archive/revive/%s"
                               : "/api/admin/archive/%s",
                        a->operand))
        return cli_bad_path();
    int rc = cli_http_call(h, revive ? "POST" : "DELETE", path, NULL, &doc);
    if (rc == CLI_EXIT_OK && a->json) {
        rc = cli_print_json(doc, stdout);
    } else if (rc == CLI_EXIT_OK) {
        fputs(revive ? "revived flag " : "deleted flag ", stdout);
        cli_fputs_safe(a->operand, stdout);
        fputs(revive ? " (off in every environment until you enable it)\n"
                     : " for good\n",
              stdout);
    }
    json_decref(doc);
    return rc;
}

static int flags_revive(cli_http *h, const cli_args *a)
{
    return archive_action(h, a, true);
}

static int flags_delete(cli_http *h, const cli_args *a)
{
    return archive_action(h, a, false);
}

/* ---- stale ------------------------------------------------------------- */

/* GET /api/admin/stale-report: flags past their type's lifetime, fully on
 * for a week, or not evaluated for 30 days (the server's defaults). */
static int flags_stale(cli_http *h, const cli_args *a)
{
    json_t *doc = NULL;
    int rc = cli_http_call(h, "GET", "/api/admin/stale-report", NULL, &doc);
    if (rc == CLI_EXIT_OK && a->json) {
        rc = cli_print_json(doc, stdout);
    } else if (rc == CLI_EXIT_OK) {
        cli_table t;
        cli_table_init(&t);
        const char *head[] = {"FLAG", "PROJECT", "TYPE", "WHY"};
        cli_table_add(&t, head, 4);
        size_t i, j;
        const json_t *f, *r;
        json_array_foreach (json_object_get(doc, "flags"), i, f) {
            char why[512] = "";
            json_array_foreach (json_object_get(f, "reasons"), j, r) {
                size_t n = strlen(why);
                const char *env = cli_json_str(r, "environment", NULL);
                snprintf(why + n, sizeof(why) - n, "%s%s%s%s", n ? ", " : "",
                         cli_json_str(r, "reason", "?"), env ? " in " : "",
                         env ? env : "");
            }
            const char *row[] = {cli_json_str(f, "name", "?"),
                                 cli_json_str(f, "project", "?"),
                                 cli_json_str(f, "type", "-"), why};
            cli_table_add(&t, row, 4);
        }
        rc = json_array_size(json_object_get(doc, "flags"))
                 ? cli_table_print(&t, stdout)
                 : (puts("no potentially stale flags"), CLI_EXIT_OK);
        cli_table_release(&t);
    }
    json_decref(doc);
    return rc;
}

/* ---- the group ------------------------------------------------------- */

static const cli_command commands[] = {
    {"list", "[--project P]",
     "Lists the flags (of every project, or of P) and where they are on.", NULL,
     CLI_O_PROJECT, 0, NULL, flags_list},
    {"get", "NAME [--project P]",
     "Shows a flag: type, description, and per environment whether it is on,"
     "\nits strategies and its variants.",
     "NAME", CLI_O_PROJECT, 0, NULL, flags_get},
    {"create", "NAME [--project P] [--type T] [--description D]",
     "Creates a flag (type release unless --type says otherwise).", "NAME",
     CLI_O_PROJECT | CLI_O_TYPE | CLI_O_DESCRIPTION, 0, NULL, flags_create},
    {"enable", "NAME --env ENV [--project P]",
     "Turns a flag on in one environment.", "NAME", CLI_O_PROJECT | CLI_O_ENV,
     CLI_O_ENV, NULL, flags_enable},
    {"disable", "NAME --env ENV [--project P]",
     "Turns a flag off in one environment.", "NAME", CLI_O_PROJECT | CLI_O_ENV,
     CLI_O_ENV, NULL, flags_disable},
    {"rollout", "NAME --env ENV --percent N [--stickiness S] [--project P]",
     "Sets the rollout percentage of the environment's first flexibleRollout"
     "\nstrategy (its other fields are kept), or adds one.",
     "NAME", CLI_O_PROJECT | CLI_O_ENV | CLI_O_PERCENT | CLI_O_STICKINESS,
     CLI_O_ENV | CLI_O_PERCENT, NULL, flags_rollout},
    {"archive", "NAME [--project P]",
     "Archives a flag (it stops being served; revive it from the archive).",
     "NAME", CLI_O_PROJECT, 0, NULL, flags_archive},
    {"archived", "[--project P]",
     "Lists the archived flags (of every project, or of P).", NULL,
     CLI_O_PROJECT, 0, NULL, flags_archived},
    {"revive", "NAME",
     "Brings an archived flag back, off in every environment (as Unleash"
     "\ndoes), its strategies and variants kept.",
     "NAME", 0, 0, NULL, flags_revive},
    {"delete", "NAME",
     "Deletes an archived flag for good (archive it first), with its"
     "\nrelease plans and scheduled changes; its name is free again.",
     "NAME", 0, 0, NULL, flags_delete},
    {"stale", "",
     "Lists potentially stale flags: past their type's lifetime, fully on\n"
     "for 7 days, or not evaluated for 30 days.",
     NULL, 0, 0, NULL, flags_stale},
};

int cli_flags_main(int argc, char **argv)
{
    return cli_client_dispatch(
        "flags", commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
