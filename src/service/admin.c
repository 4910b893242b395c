/* Projects, environments, feature types, API tokens and the event log. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "service/internal.h"
#include "vexil/vexil.h"

/* ---- projects
 * ------------------------------------------------------------------- */

static json_t *project_view(svc_ctx *c, const json_t *p, bool with_features)
{
    json_t *v = json_deep_copy(p);
    json_t *flags = NULL;
    int64_t n = 0;
    /* The list only counts: from the flag summaries (feature_list.c),
     * which read-only calls may use. */
    int64_t counted =
        c->req->op == SVC_OP_PROJECT_LIST
            ? svc__flag_count(c, json_string_value(json_object_get(p, "id")))
            : -1;
    if (counted >= 0) {
        json_object_set_new(v, "featureCount", json_integer(counted));
        return v;
    }
    if (svc__list(c, STORE_FEATURE, json_string_value(json_object_get(p, "id")),
                  &flags) == VX_OK) {
        json_t *summary = json_array();
        size_t i;
        json_t *f;
        json_array_foreach (flags, i, f) {
            if (json_is_true(json_object_get(f, "archived")))
                continue;
            n++;
            json_array_append_new(
                summary,
                json_pack("{sO sO sO sO}", "name", json_object_get(f, "name"),
                          "type", json_object_get(f, "type"), "stale",
                          json_object_get(f, "stale"), "createdAt",
                          json_object_get(f, "createdAt")));
        }
        if (with_features)
            json_object_set_new(v, "features", summary);
        else
            json_decref(summary);
    }
    json_decref(flags);
    json_object_set_new(v, "featureCount", json_integer(n));
    return v;
}

vx_status svc__op_PROJECT_LIST(svc_ctx *c, json_t **out)
{
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_PROJECT, NULL, &all);
    if (st != VX_OK)
        return st;
    json_t *list = json_array();
    size_t i;
    json_t *p;
    json_array_foreach (all, i, p) {
        json_array_append_new(list, project_view(c, p, false));
    }
    json_decref(all);
    *out = json_pack("{si so}", "version", 1, "projects", list);
    return VX_OK;
}

vx_status svc__op_PROJECT_GET(svc_ctx *c, json_t **out)
{
    json_t *p = NULL;
    vx_status st = svc__get(c, STORE_PROJECT, c->req->project, &p);
    if (st == VX_ENOTFOUND)
        return svc__not_found(c, "project", c->req->project);
    if (st == VX_OK)
        *out = project_view(c, p, true);
    json_decref(p);
    return st;
}

vx_status svc__op_PROJECT_CREATE(svc_ctx *c, json_t **out)
{
    const json_t *b = c->req->body;
    const char *name = NULL, *desc = NULL;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__check_name(c, json_object_get(b, "id"), "/id", "project id");
    if (st == VX_OK)
        st = svc__opt_string(c, b, "name", "", &name);
    if (st == VX_OK)
        st = svc__opt_string(c, b, "description", "", &desc);
    const char *id = json_string_value(json_object_get(b, "id"));
    json_t *existing = NULL;
    if (st == VX_OK && svc__get(c, STORE_PROJECT, id, &existing) == VX_OK)
        st = svc__fail(c, VX_ECONFLICT, "/id", "project '%s' already exists",
                       id);
    json_decref(existing);
    json_t *p = NULL;
    if (st == VX_OK) {
        p = json_pack("{ss ss ss so}", "id", id, "name", name ? name : id,
                      "description", desc ? desc : "", "createdAt",
                      svc__time_json(c->now_ms));
        st = svc__put(c, STORE_PROJECT, id, NULL, p);
    }
    if (st == VX_OK)
        st = svc__audit(c, "project-created", id, NULL, NULL, p, NULL);
    if (st == VX_OK)
        *out = project_view(c, p, false);
    json_decref(p);
    return st;
}

vx_status svc__op_PROJECT_DELETE(svc_ctx *c, json_t **out)
{
    json_t *p = NULL, *flags = NULL;
    vx_status st = svc__get(c, STORE_PROJECT, c->req->project, &p);
    if (st == VX_ENOTFOUND)
        st = svc__not_found(c, "project", c->req->project);
    if (st == VX_OK && strcmp(c->req->project, "default") == 0)
        st = svc__fail(c, VX_ECONFLICT, "",
                       "the default project cannot be deleted");
    if (st == VX_OK)
        st = svc__list(c, STORE_FEATURE, c->req->project, &flags);
    if (st == VX_OK && json_array_size(flags) > 0)
        st = svc__fail(c, VX_ECONFLICT, "",
                       "project '%s' still has flags "
                       "(archived ones included)",
                       c->req->project);
    if (st == VX_OK)
        st = svc__del(c, STORE_PROJECT, c->req->project);
    if (st == VX_OK)
        st = svc__audit(c, "project-deleted", c->req->project, NULL, NULL, NULL,
                        p);
    if (st == VX_OK)
        *out = json_object();
    json_decref(p);
    json_decref(flags);
    return st;
}

/* ---- environments
 * -------------------------------------------------------------- */

vx_status svc__op_ENVIRONMENT_LIST(svc_ctx *c, json_t **out)
{
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_ENVIRONMENT, NULL, &all);
    if (st == VX_OK)
        *out = json_pack("{si so}", "version", 1, "environments", all);
    return st;
}

vx_status svc__op_ENVIRONMENT_CREATE(svc_ctx *c, json_t **out)
{
    const json_t *b = c->req->body;
    const char *type = NULL;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__check_name(c, json_object_get(b, "name"), "/name",
                             "environment name");
    if (st == VX_OK)
        st = svc__opt_string(c, b, "type", "", &type);
    static const char *const types[] = {"development", "test", "preproduction",
                                        "production"};
    bool ok = !type;
    for (int i = 0; type && i < 4; i++)
        ok = ok || strcmp(type, types[i]) == 0;
    if (st == VX_OK && !ok)
        st = svc__fail(c, VX_EINVAL, "/type",
                       "type must be development, test, "
                       "preproduction or production");
    const json_t *so = json_object_get(b, "sortOrder");
    if (st == VX_OK && so && !json_is_integer(so))
        st = svc__fail(c, VX_EINVAL, "/sortOrder",
                       "sortOrder must be an integer");
    const char *name = json_string_value(json_object_get(b, "name"));
    json_t *existing = NULL, *all = NULL, *e = NULL;
    if (st == VX_OK && svc__get(c, STORE_ENVIRONMENT, name, &existing) == VX_OK)
        st = svc__fail(c, VX_ECONFLICT, "/name", "environment '%s' exists",
                       name);
    json_decref(existing);
    if (st == VX_OK)
        st = svc__list(c, STORE_ENVIRONMENT, NULL, &all);
    if (st == VX_OK) {
        e = json_pack("{ss ss sb sI so}", "name", name, "type",
                      type ? type : "development", "enabled", 1, "sortOrder",
                      so ? json_integer_value(so)
                         : (json_int_t)json_array_size(all) + 1,
                      "createdAt", svc__time_json(c->now_ms));
        st = svc__put(c, STORE_ENVIRONMENT, name, NULL, e);
    }
    if (st == VX_OK)
        st = svc__audit(c, "environment-created", NULL, name, NULL, e, NULL);
    if (st == VX_OK)
        *out = json_incref(e);
    json_decref(e);
    json_decref(all);
    return st;
}

/* ---- feature types
 * ------------------------------------------------------------- */

vx_status svc__op_FEATURE_TYPE_LIST(svc_ctx *c, json_t **out)
{
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_FEATURE_TYPE, NULL, &all);
    if (st == VX_OK)
        *out = json_pack("{si so}", "version", 1, "types", all);
    return st;
}

vx_status svc__op_FEATURE_TYPE_LIFETIME(svc_ctx *c, json_t **out)
{
    json_t *t = NULL;
    const json_t *b = c->req->body;
    vx_status st = svc__get(c, STORE_FEATURE_TYPE, c->req->id, &t);
    if (st == VX_ENOTFOUND)
        st = svc__not_found(c, "feature type", c->req->id);
    if (st == VX_OK)
        st = svc__expect_object(c, b, "");
    const json_t *days = json_object_get(b, "lifetimeDays");
    if (st == VX_OK &&
        (!days || !(json_is_null(days) ||
                    (json_is_integer(days) && json_integer_value(days) >= 0 &&
                     json_integer_value(days) <= 100000))))
        st = svc__fail(
            c, VX_EINVAL, "/lifetimeDays",
            "lifetimeDays must be null or an integer from 0 to 100000");
    json_t *pre = json_deep_copy(t);
    if (st == VX_OK) {
        json_object_set_new(t, "lifetimeDays",
                            json_is_null(days) || json_integer_value(days) == 0
                                ? json_null()
                                : json_integer(json_integer_value(days)));
        st = svc__put(c, STORE_FEATURE_TYPE, c->req->id, NULL, t);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-type-updated", NULL, NULL, NULL, t, pre);
    if (st == VX_OK)
        *out = json_incref(t);
    json_decref(pre);
    json_decref(t);
    return st;
}

/* ---- API tokens
 * ------------------------------------------------------------------ */

vx_status svc__token_store(svc_ctx *c, const char *secret, const char *name,
                           svc_token_kind kind, svc_role role, const char *env,
                           json_t *projects, int64_t expires_ms, json_t **out);

/* The public view of a token document: never the hash. */
static json_t *token_view(const json_t *t)
{
    json_t *v = json_deep_copy(t);
    json_object_del(v, "hash");
    json_object_del(v, "createdAtMs");
    json_object_del(v, "expiresAtMs");
    return v;
}

vx_status svc__op_TOKEN_LIST(svc_ctx *c, json_t **out)
{
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_TOKEN, NULL, &all);
    if (st != VX_OK)
        return st;
    json_t *list = json_array();
    size_t i;
    json_t *t;
    json_array_foreach (all, i, t) {
        json_array_append_new(list, token_view(t));
    }
    json_decref(all);
    *out = json_pack("{so}", "tokens", list);
    return VX_OK;
}

/* An optional expiry, which must be ahead of the call's time: a token
 * that would be born expired is a mistake (to end one now, revoke it). */
static vx_status parse_expiry(svc_ctx *c, const json_t *b, int64_t *ms)
{
    const json_t *e = json_object_get(b, "expiresAt");
    *ms = 0;
    if (!e || json_is_null(e))
        return VX_OK;
    if (!json_is_string(e) ||
        !vx_time_parse(json_string_value(e), json_string_length(e), ms))
        return svc__fail(c, VX_EINVAL, "/expiresAt",
                         "expiresAt must be an RFC 3339 time");
    if (*ms <= c->now_ms)
        return svc__fail(c, VX_EINVAL, "/expiresAt",
                         "expiresAt is in the past: revoke the token to end "
                         "it now");
    return VX_OK;
}

/* `p` names an existing project (or is "*"). */
static vx_status project_known(svc_ctx *c, const char *p, const char *path)
{
    json_t *doc = NULL;
    if (strcmp(p, "*") == 0)
        return VX_OK;
    vx_status st = svc__get(c, STORE_PROJECT, p, &doc);
    json_decref(doc);
    if (st == VX_ENOTFOUND)
        return svc__fail(c, VX_EINVAL, path, "project '%s' does not exist", p);
    return st;
}

/* The token's projects must fit a principal's list (svc_principal.projects,
 * joined by commas): a longer list would be cut when the token is used. */
static vx_status projects_fit(svc_ctx *c, const json_t *projects)
{
    size_t i, len = 0;
    const json_t *p;
    json_array_foreach (projects, i, p)
        len += (i ? 1 : 0) + json_string_length(p);
    if (len >= sizeof(((svc_principal *)0)->projects))
        return svc__fail(c, VX_ELIMIT, "/projects",
                         "the projects, joined by commas, are longer than "
                         "%zu bytes",
                         sizeof(((svc_principal *)0)->projects) - 1);
    return VX_OK;
}

vx_status svc__op_TOKEN_CREATE(svc_ctx *c, json_t **out)
{
    const json_t *b = c->req->body;
    const char *type = NULL, *role = NULL, *env = NULL, *project = NULL;
    int64_t expires;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__check_name(c, json_object_get(b, "tokenName"), "/tokenName",
                             "tokenName");
    if (st == VX_OK)
        st = svc__opt_string(c, b, "type", "", &type);
    svc_token_kind kind = SVC_KIND_ADMIN;
    if (st == VX_OK) {
        if (type && strcasecmp(type, "admin") == 0)
            kind = SVC_KIND_ADMIN;
        else if (type && (strcasecmp(type, "client") == 0 ||
                          strcasecmp(type, "backend") == 0))
            kind = SVC_KIND_CLIENT;
        else if (type && strcasecmp(type, "frontend") == 0)
            kind = SVC_KIND_FRONTEND;
        else
            st = svc__fail(c, VX_EINVAL, "/type",
                           "type must be admin, client, backend or frontend");
    }
    if (st == VX_OK)
        st = svc__opt_string(c, b, "role", "", &role);
    svc_role r = SVC_ROLE_NONE;
    if (st == VX_OK && kind == SVC_KIND_ADMIN) {
        if (!role || strcmp(role, "admin") == 0)
            r = SVC_ROLE_ADMIN;
        else if (strcmp(role, "editor") == 0)
            r = SVC_ROLE_EDITOR;
        else if (strcmp(role, "viewer") == 0)
            r = SVC_ROLE_VIEWER;
        else
            st = svc__fail(c, VX_EINVAL, "/role",
                           "role must be admin, editor or viewer");
    } else if (st == VX_OK && role) {
        st = svc__fail(c, VX_EINVAL, "/role", "only admin tokens have a role");
    }
    if (st == VX_OK)
        st = svc__opt_string(c, b, "environment", "", &env);
    if (st == VX_OK && kind != SVC_KIND_ADMIN) {
        json_t *e = NULL;
        if (!env || strcmp(env, "*") == 0)
            st = svc__fail(c, VX_EINVAL, "/environment",
                           "client and frontend "
                           "tokens need one environment");
        else if (svc__get(c, STORE_ENVIRONMENT, env, &e) != VX_OK)
            st = svc__fail(c, VX_EINVAL, "/environment",
                           "environment '%s' does not exist", env);
        json_decref(e);
    }
    json_t *projects = json_array();
    if (st == VX_OK)
        st = svc__opt_string(c, b, "project", "", &project);
    if (st == VX_OK && project)
        st = project_known(c, project, "/project");
    const json_t *pin = json_object_get(b, "projects");
    if (st == VX_OK && project)
        json_array_append_new(projects, json_string(project));
    if (st == VX_OK && pin && !json_is_null(pin)) {
        st = svc__expect_array(c, pin, "/projects", 100);
        size_t i;
        const json_t *p;
        json_array_foreach (pin, i, p) {
            if (st != VX_OK)
                break;
            char path[64];
            snprintf(path, sizeof(path), "/projects/%zu", i);
            if (!json_is_string(p)) {
                st = svc__fail(c, VX_EINVAL, path, "expected a project id");
            } else {
                st = project_known(c, json_string_value(p), path);
            }
            if (st == VX_OK)
                json_array_append(projects, (json_t *)p);
        }
    }
    if (json_array_size(projects) == 0)
        json_array_append_new(projects, json_string("*"));
    if (st == VX_OK && kind == SVC_KIND_ADMIN &&
        (json_array_size(projects) != 1 ||
         strcmp(json_string_value(json_array_get(projects, 0)), "*") != 0))
        st = svc__fail(c, VX_EINVAL, "/projects",
                       "admin tokens cover all projects");
    if (st == VX_OK)
        st = projects_fit(c, projects);
    if (st == VX_OK)
        st = parse_expiry(c, b, &expires);
    if (st != VX_OK) {
        json_decref(projects);
        return st;
    }
    char secret[SVC_SECRET_MAX], prefix[128];
    const char *p0 = json_string_value(json_array_get(projects, 0));
    snprintf(prefix, sizeof(prefix), "%s",
             json_array_size(projects) > 1 ? "[]" : p0);
    unsigned char rnd[32];
    char hex[65];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(secret, sizeof(secret), "%s:%s.%s", prefix,
             kind == SVC_KIND_ADMIN ? "*" : env, hex);
    json_t *doc = NULL;
    st = svc__token_store(
        c, secret, json_string_value(json_object_get(b, "tokenName")), kind, r,
        kind == SVC_KIND_ADMIN ? "*" : env, projects, expires, &doc);
    json_t *view = st == VX_OK ? token_view(doc) : NULL;
    if (st == VX_OK)
        st = svc__audit(c, "api-token-created", NULL, NULL, NULL, view, NULL);
    if (st == VX_OK) {
        json_object_set_new(view, "secret", json_string(secret));
        *out = json_incref(view);
    }
    sodium_memzero(secret, sizeof(secret));
    json_decref(view);
    json_decref(doc);
    return st;
}

/* Finds a token by numeric id. */
static vx_status token_by_id(svc_ctx *c, json_t **out)
{
    json_t *all = NULL;
    *out = NULL;
    vx_status st = svc__list(c, STORE_TOKEN, NULL, &all);
    size_t i;
    json_t *t;
    json_array_foreach (all, i, t) {
        char id[32];
        snprintf(id, sizeof(id), "%lld",
                 (long long)json_integer_value(json_object_get(t, "id")));
        if (c->req->id && strcmp(id, c->req->id) == 0)
            *out = json_incref(t);
    }
    json_decref(all);
    if (st == VX_OK && !*out)
        st = svc__not_found(c, "token", c->req->id);
    return st;
}

vx_status svc__op_TOKEN_UPDATE(svc_ctx *c, json_t **out)
{
    json_t *t = NULL;
    int64_t expires;
    vx_status st = token_by_id(c, &t);
    if (st == VX_OK)
        st = svc__expect_object(c, c->req->body, "");
    if (st == VX_OK)
        st = parse_expiry(c, c->req->body, &expires);
    if (st == VX_OK) {
        json_object_set_new(t, "expiresAt",
                            expires ? svc__time_json(expires) : json_null());
        json_object_set_new(t, "expiresAtMs", json_integer(expires));
        svc__token_forget(c, json_string_value(json_object_get(t, "hash")));
        st = svc__put(c, STORE_TOKEN,
                      json_string_value(json_object_get(t, "hash")), NULL, t);
    }
    json_t *view = st == VX_OK ? token_view(t) : NULL;
    if (st == VX_OK)
        st = svc__audit(c, "api-token-updated", NULL, NULL, NULL, view, NULL);
    if (st == VX_OK)
        *out = json_incref(view);
    json_decref(view);
    json_decref(t);
    return st;
}

vx_status svc__op_TOKEN_DELETE(svc_ctx *c, json_t **out)
{
    json_t *t = NULL;
    vx_status st = token_by_id(c, &t);
    if (st == VX_OK && json_is_true(json_object_get(t, "revoked")))
        st = svc__not_found(c, "token", c->req->id);
    if (st == VX_OK) {
        json_object_set_new(t, "revoked", json_true());
        json_object_set_new(t, "revokedAt", svc__time_json(c->now_ms));
        svc__token_forget(c, json_string_value(json_object_get(t, "hash")));
        st = svc__put(c, STORE_TOKEN,
                      json_string_value(json_object_get(t, "hash")), NULL, t);
    }
    json_t *view = st == VX_OK ? token_view(t) : NULL;
    if (st == VX_OK)
        st = svc__audit(c, "api-token-deleted", NULL, NULL, NULL, view, NULL);
    if (st == VX_OK)
        *out = json_object();
    json_decref(view);
    json_decref(t);
    return st;
}

/* ---- events
 * ---------------------------------------------------------------------- */

static const char *q(svc_ctx *c, const char *key)
{
    const json_t *v =
        c->req->query ? json_object_get(c->req->query, key) : NULL;
    const char *s = json_string_value(v);
    return s && *s ? s : NULL;
}

static vx_status q_int(svc_ctx *c, const char *key, int64_t dflt, int64_t max,
                       int64_t *out)
{
    const char *s = q(c, key);
    *out = dflt;
    if (!s)
        return VX_OK;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0 || v > max) {
        char p[64];
        snprintf(p, sizeof(p), "/query/%s", key);
        return svc__fail(c, VX_EINVAL, p,
                         "%s must be an integer from 0 to %lld", key,
                         (long long)max);
    }
    *out = v;
    return VX_OK;
}

static vx_status q_time(svc_ctx *c, const char *key, int64_t *out)
{
    const char *s = q(c, key);
    *out = 0;
    if (s && !vx_time_parse(s, strlen(s), out)) {
        char p[64];
        snprintf(p, sizeof(p), "/query/%s", key);
        return svc__fail(c, VX_EINVAL, p, "%s must be an ISO-8601 date or time",
                         key);
    }
    return VX_OK;
}

vx_status svc__op_EVENT_SEARCH(svc_ctx *c, json_t **out)
{
    store_event_filter f = {
        .type = q(c, "type"),
        .project = q(c, "project"),
        .feature = q(c, "feature"),
        .environment = q(c, "environment"),
        .created_by = q(c, "createdBy"),
    };
    vx_status st = q_int(c, "offset", 0, INT64_MAX / 2, &f.offset);
    if (st == VX_OK)
        st = q_int(c, "limit", 50, 1000, &f.limit);
    if (st == VX_OK)
        st = q_time(c, "from", &f.from_ms);
    if (st == VX_OK)
        st = q_time(c, "to", &f.to_ms);
    json_t *events = NULL;
    int64_t total = 0;
    if (st == VX_OK)
        st = c->s->ops->event_query(c->s->st, &f, &events, &total, c->err);
    if (st != VX_OK)
        return st;
    size_t i;
    json_t *e;
    json_array_foreach (events, i, e) {
        json_int_t ms = json_integer_value(json_object_get(e, "createdAtMs"));
        json_object_set_new(e, "createdAt", svc__time_json(ms));
        json_object_del(e, "createdAtMs");
    }
    *out = json_pack("{so sI}", "events", events, "total", (json_int_t)total);
    return VX_OK;
}
