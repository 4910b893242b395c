/* Flags: lifecycle, metadata, tags, per-environment state, strategies,
 * variants and dependencies. A flag is one document (docs/admin-api.md's
 * <feature>): every handler loads it, changes it, saves it and writes one
 * audit event, all inside the caller's transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "service/internal.h"

static const json_t *body(svc_ctx *c)
{
    return c->req->body;
}

/* ---- loading and viewing --------------------------------------------------
 */

vx_status svc__feature_load(svc_ctx *c, const char *project, const char *name,
                            bool allow_archived, json_t **out)
{
    *out = NULL;
    json_t *f = NULL;
    vx_status st = svc__get(c, STORE_FEATURE, name ? name : "", &f);
    if (st == VX_ENOTFOUND)
        return svc__not_found(c, "flag", name);
    if (st != VX_OK)
        return st;
    const char *p = json_string_value(json_object_get(f, "project"));
    if ((project && strcmp(p, project) != 0) ||
        (!allow_archived && json_is_true(json_object_get(f, "archived")))) {
        json_decref(f);
        return svc__not_found(c, "flag", name);
    }
    *out = f;
    return VX_OK;
}

json_t *svc__feature_env(json_t *feature, const char *env)
{
    json_t *envs = json_object_get(feature, "environments");
    size_t i;
    json_t *e;
    json_array_foreach (envs, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), env) == 0)
            return e;
    }
    e = json_pack("{ss sb s[] s[]}", "name", env, "enabled", 0, "strategies",
                  "variants");
    json_array_append_new(envs, e);
    return e;
}

vx_status svc__feature_save(svc_ctx *c, json_t *feature)
{
    vx_status st = svc__model_check_save(c, feature); /* model.* upstreams */
    if (st != VX_OK)
        return st;
    json_object_set_new(feature, "updatedAt", svc__time_json(c->now_ms));
    /* Every flag write ends here: the last check that SDKs can load it. */
    st = svc__gate_feature(c, feature);
    if (st != VX_OK)
        return st;
    return svc__put(
        c, STORE_FEATURE, json_string_value(json_object_get(feature, "name")),
        json_string_value(json_object_get(feature, "project")), feature);
}

/* The API view of a flag: every environment present, with its type and
 * order. Returns a new document. */
json_t *svc__feature_view(svc_ctx *c, const json_t *f, const json_t *envs)
{
    json_t *v = json_deep_copy(f);
    json_t *out_envs = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach (envs, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *fe = json_deep_copy(svc__feature_env(v, name));
        json_object_set(fe, "type", json_object_get(e, "type"));
        json_object_set(fe, "sortOrder", json_object_get(e, "sortOrder"));
        json_array_append_new(out_envs, fe);
    }
    json_object_set_new(v, "environments", out_envs);
    svc__plan_annotate(c, v);
    return v;
}

static vx_status envs_all(svc_ctx *c, json_t **out)
{
    return svc__list(c, STORE_ENVIRONMENT, NULL, out);
}

static vx_status env_exists(svc_ctx *c, const char *env)
{
    json_t *e = NULL;
    vx_status st = svc__get(c, STORE_ENVIRONMENT, env ? env : "", &e);
    json_decref(e);
    return st == VX_ENOTFOUND ? svc__not_found(c, "environment", env) : st;
}

static vx_status project_exists(svc_ctx *c, const char *p)
{
    json_t *doc = NULL;
    vx_status st = svc__get(c, STORE_PROJECT, p ? p : "", &doc);
    json_decref(doc);
    return st == VX_ENOTFOUND ? svc__not_found(c, "project", p) : st;
}

/* Answers a list of features filtered by project and archived state. */
static vx_status list_features(svc_ctx *c, const char *project, bool archived,
                               json_t **out)
{
    json_t *all = NULL, *envs = NULL;
    vx_status st = svc__list(c, STORE_FEATURE, project, &all);
    if (st == VX_OK)
        st = envs_all(c, &envs);
    if (st == VX_OK) {
        json_t *list = json_array();
        size_t i;
        json_t *f;
        json_array_foreach (all, i, f) {
            if (json_is_true(json_object_get(f, "archived")) == archived)
                json_array_append_new(list, svc__feature_view(c, f, envs));
        }
        *out = json_pack("{si so}", "version", 1, "features", list);
    }
    json_decref(all);
    json_decref(envs);
    return st;
}

vx_status svc__op_FEATURE_LIST(svc_ctx *c, json_t **out)
{
    vx_status st = project_exists(c, c->req->project);
    if (st == VX_OK && svc__feature_list_paged(c->req->query))
        return svc__feature_page(c, c->req->project, false, out);
    return st == VX_OK ? list_features(c, c->req->project, false, out) : st;
}

vx_status svc__op_FEATURE_LIST_ALL(svc_ctx *c, json_t **out)
{
    if (svc__feature_list_paged(c->req->query))
        return svc__feature_page(c, NULL, false, out);
    return list_features(c, NULL, false, out);
}

vx_status svc__op_ARCHIVE_LIST(svc_ctx *c, json_t **out)
{
    if (svc__feature_list_paged(c->req->query))
        return svc__feature_page(c, NULL, true, out);
    return list_features(c, NULL, true, out);
}

static vx_status answer_feature(svc_ctx *c, const json_t *f, json_t **out)
{
    json_t *envs = NULL;
    vx_status st = envs_all(c, &envs);
    if (st == VX_OK)
        *out = svc__feature_view(c, f, envs);
    json_decref(envs);
    return st;
}

vx_status svc__op_FEATURE_GET(svc_ctx *c, json_t **out)
{
    json_t *f = NULL;
    vx_status st =
        svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    if (st == VX_OK)
        st = answer_feature(c, f, out);
    json_decref(f);
    return st;
}

/* ---- create, validate, update
 * ------------------------------------------------ */

static vx_status check_type(svc_ctx *c, const char *type, const char *path)
{
    json_t *t = NULL;
    vx_status st = svc__get(c, STORE_FEATURE_TYPE, type, &t);
    json_decref(t);
    if (st == VX_ENOTFOUND)
        return svc__fail(c, VX_EINVAL, path, "unknown flag type '%s'", type);
    return st;
}

static vx_status name_free(svc_ctx *c, const char *name)
{
    json_t *f = NULL;
    vx_status st = svc__get(c, STORE_FEATURE, name, &f);
    json_decref(f);
    if (st == VX_OK)
        return svc__fail(c, VX_ECONFLICT, "/name",
                         "a flag named '%s' already exists%s", name, "");
    return st == VX_ENOTFOUND ? VX_OK : st;
}

static vx_status norm_tags(svc_ctx *c, const json_t *tags, const char *path,
                           json_t **out)
{
    *out = json_array();
    if (!tags || json_is_null(tags))
        return VX_OK;
    vx_status st = svc__expect_array(c, tags, path, 100);
    size_t i;
    const json_t *t;
    json_array_foreach (tags, i, t) {
        if (st != VX_OK)
            break;
        char p[128], q[160];
        snprintf(p, sizeof(p), "%s/%zu", path, i);
        st = svc__expect_object(c, t, p);
        snprintf(q, sizeof(q), "%s/type", p);
        if (st == VX_OK)
            st = svc__check_name(c, json_object_get(t, "type"), q, "tag type");
        snprintf(q, sizeof(q), "%s/value", p);
        const json_t *v = json_object_get(t, "value");
        if (st == VX_OK && (!json_is_string(v) || json_string_length(v) == 0 ||
                            json_string_length(v) > 100))
            st = svc__fail(c, VX_EINVAL, q,
                           "tag value must be 1-100 characters");
        if (st == VX_OK)
            json_array_append_new(*out, json_pack("{sO sO}", "type",
                                                  json_object_get(t, "type"),
                                                  "value", v));
    }
    return st;
}

vx_status svc__op_FEATURE_VALIDATE(svc_ctx *c, json_t **out)
{
    vx_status st = svc__expect_object(c, body(c), "");
    if (st == VX_OK)
        st = svc__check_name(c, json_object_get(body(c), "name"), "/name",
                             "name");
    if (st == VX_OK)
        st = name_free(c, json_string_value(json_object_get(body(c), "name")));
    if (st == VX_OK)
        *out = json_object();
    return st;
}

vx_status svc__op_FEATURE_CREATE(svc_ctx *c, json_t **out)
{
    const json_t *b = body(c);
    const char *type = "release", *desc = "";
    int impression;
    json_t *tags = NULL, *envs = NULL, *f = NULL;
    vx_status st = project_exists(c, c->req->project);
    if (st == VX_OK)
        st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__check_name(c, json_object_get(b, "name"), "/name", "name");
    if (st == VX_OK)
        st = svc__opt_string(c, b, "type", "", &type);
    if (st == VX_OK && !type)
        type = "release";
    if (st == VX_OK)
        st = check_type(c, type, "/type");
    if (st == VX_OK)
        st = svc__opt_string(c, b, "description", "", &desc);
    if (st == VX_OK)
        st = svc__opt_bool(c, b, "impressionData", "", &impression);
    if (st == VX_OK)
        st = norm_tags(c, json_object_get(b, "tags"), "/tags", &tags);
    const char *name = json_string_value(json_object_get(b, "name"));
    if (st == VX_OK)
        st = name_free(c, name);
    if (st == VX_OK)
        st = svc__gate_room(c, STORE_FEATURE, "");
    if (st == VX_OK)
        st = envs_all(c, &envs);
    if (st == VX_OK) {
        json_t *fenvs = json_array();
        size_t i;
        json_t *e;
        json_array_foreach (envs, i, e) {
            json_array_append_new(fenvs, json_pack("{sO sb s[] s[]}", "name",
                                                   json_object_get(e, "name"),
                                                   "enabled", 0, "strategies",
                                                   "variants"));
        }
        f = json_pack("{ss ss ss ss sb sb sb sn so so sn so s[] so}", "name",
                      name, "project", c->req->project, "type", type,
                      "description", desc ? desc : "", "impressionData",
                      impression == 1, "stale", 0, "archived", 0, "archivedAt",
                      "createdAt", svc__time_json(c->now_ms), "updatedAt",
                      svc__time_json(c->now_ms), "lastSeenAt", "tags",
                      json_incref(tags), "dependencies", "environments", fenvs);
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-created", c->req->project, NULL, name, f,
                        NULL);
    if (st == VX_OK)
        st = answer_feature(c, f, out);
    json_decref(f);
    json_decref(tags);
    json_decref(envs);
    return st;
}

/* Applies the editable metadata fields of `b` to `f`. */
static vx_status apply_meta(svc_ctx *c, json_t *f, const json_t *b)
{
    const char *type = NULL, *desc = NULL;
    int imp, stale;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__opt_string(c, b, "type", "", &type);
    if (st == VX_OK && type)
        st = check_type(c, type, "/type");
    if (st == VX_OK)
        st = svc__opt_string(c, b, "description", "", &desc);
    if (st == VX_OK)
        st = svc__opt_bool(c, b, "impressionData", "", &imp);
    if (st == VX_OK)
        st = svc__opt_bool(c, b, "stale", "", &stale);
    const json_t *n = json_object_get(b, "name");
    if (st == VX_OK && n &&
        !json_equal((json_t *)n, json_object_get(f, "name")))
        st = svc__fail(c, VX_EINVAL, "/name", "a flag cannot be renamed");
    const json_t *p = json_object_get(b, "project");
    if (st == VX_OK && p &&
        !json_equal((json_t *)p, json_object_get(f, "project")))
        st = svc__fail(c, VX_EINVAL, "/project",
                       "moving a flag between projects is not supported");
    if (st != VX_OK)
        return st;
    if (type)
        json_object_set_new(f, "type", json_string(type));
    if (desc)
        json_object_set_new(f, "description", json_string(desc));
    if (imp >= 0)
        json_object_set_new(f, "impressionData", json_boolean(imp));
    if (stale >= 0)
        json_object_set_new(f, "stale", json_boolean(stale));
    return VX_OK;
}

static vx_status update_meta(svc_ctx *c, const json_t *b, json_t **out)
{
    json_t *f = NULL, *pre = NULL;
    vx_status st =
        svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    if (st == VX_OK) {
        pre = json_deep_copy(f);
        st = apply_meta(c, f, b);
    }
    if (st == VX_OK)
        st = svc__feature_save(c, f);
    if (st == VX_OK)
        st = svc__audit(c, "feature-metadata-updated", c->req->project, NULL,
                        c->req->feature, f, pre);
    if (st == VX_OK)
        st = answer_feature(c, f, out);
    json_decref(f);
    json_decref(pre);
    return st;
}

vx_status svc__op_FEATURE_UPDATE(svc_ctx *c, json_t **out)
{
    return update_meta(c, body(c), out);
}

vx_status svc__op_FEATURE_PATCH(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *patched = NULL, *meta = NULL;
    vx_status st =
        svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    if (st == VX_OK) {
        meta = json_pack("{sO sO sO sO}", "type", json_object_get(f, "type"),
                         "description", json_object_get(f, "description"),
                         "impressionData", json_object_get(f, "impressionData"),
                         "stale", json_object_get(f, "stale"));
        st = svc__json_patch(c, meta, body(c), &patched);
    }
    if (st == VX_OK) {
        const char *k;
        json_t *v;
        json_object_foreach (patched, k, v) {
            if (!json_object_get(meta, k)) {
                char p[128];
                snprintf(p, sizeof(p), "/%s", k);
                st = svc__fail(c, VX_EINVAL, p, "'%s' cannot be patched", k);
                break;
            }
        }
    }
    json_decref(f);
    json_decref(meta);
    if (st == VX_OK)
        st = update_meta(c, patched, out);
    json_decref(patched);
    return st;
}

/* ---- archive, revive, delete, stale
 * --------------------------------------------- */

static vx_status dependents_besides(svc_ctx *c, const char *name,
                                    const json_t *besides, bool *has);

/* True when some other live flag depends on `name`. */
static vx_status dependents(svc_ctx *c, const char *name, bool *has)
{
    return dependents_besides(c, name, NULL, has);
}

/* True when a live flag other than those named in `besides` (an array of
 * names, may be NULL) depends on `name`. */
static vx_status dependents_besides(svc_ctx *c, const char *name,
                                    const json_t *besides, bool *has)
{
    json_t *all = NULL;
    *has = false;
    vx_status st = svc__list(c, STORE_FEATURE, NULL, &all);
    size_t i, j;
    json_t *f, *d;
    json_array_foreach (all, i, f) {
        if (json_is_true(json_object_get(f, "archived")))
            continue;
        bool leaving = false;
        size_t k;
        const json_t *b;
        json_array_foreach (besides, k, b) {
            leaving = leaving || json_equal(b, json_object_get(f, "name"));
        }
        if (leaving)
            continue;
        json_array_foreach (json_object_get(f, "dependencies"), j, d) {
            if (strcmp(json_string_value(json_object_get(d, "feature")),
                       name) == 0)
                *has = true;
        }
    }
    json_decref(all);
    return st;
}

/* Archives live flag `f` (loaded, saved here) with its audit event. As in
 * Unleash, an archived flag loses its own dependencies (a revived flag
 * starts without parents; the event's preData keeps them). */
static vx_status archive_one(svc_ctx *c, json_t *f)
{
    const char *name = json_string_value(json_object_get(f, "name"));
    json_t *deps = json_incref(json_object_get(f, "dependencies"));
    json_object_set_new(f, "archived", json_true());
    json_object_set_new(f, "archivedAt", svc__time_json(c->now_ms));
    json_object_set_new(f, "dependencies", json_array());
    vx_status st = svc__feature_save(c, f);
    json_t *pre =
        json_array_size(deps) ? json_pack("{sO}", "dependencies", deps) : NULL;
    if (st == VX_OK)
        st = svc__audit(c, "feature-archived",
                        json_string_value(json_object_get(f, "project")), NULL,
                        name, NULL, pre);
    json_decref(pre);
    json_decref(deps);
    return st;
}

vx_status svc__op_FEATURE_ARCHIVE(svc_ctx *c, json_t **out)
{
    json_t *f = NULL;
    bool has;
    vx_status st =
        svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    if (st == VX_OK)
        st = dependents(c, c->req->feature, &has);
    if (st == VX_OK && has)
        st = svc__fail(c, VX_ECONFLICT, "",
                       "other flags depend on '%s'; remove "
                       "those dependencies first",
                       c->req->feature);
    if (st == VX_OK)
        st = archive_one(c, f);
    if (st == VX_OK)
        *out = json_object();
    json_decref(f);
    return st;
}

static vx_status load_archived(svc_ctx *c, json_t **f)
{
    vx_status st = svc__feature_load(c, NULL, c->req->feature, true, f);
    if (st == VX_OK && !json_is_true(json_object_get(*f, "archived"))) {
        json_decref(*f);
        *f = NULL;
        st = svc__fail(c, VX_ECONFLICT, "", "flag '%s' is not archived",
                       c->req->feature);
    }
    return st;
}

/* Revives archived flag `f` (saved here) with its audit event. As in
 * Unleash, it comes back switched off in every environment, its
 * strategies kept, so nothing is served on until someone turns it on. */
static vx_status revive_one(svc_ctx *c, json_t *f)
{
    size_t i;
    json_t *e;
    json_object_set_new(f, "archived", json_false());
    json_object_set_new(f, "archivedAt", json_null());
    json_array_foreach (json_object_get(f, "environments"), i, e) {
        json_object_set_new(e, "enabled", json_false());
    }
    /* A revived flag counts against the limit on live flags again. */
    vx_status st = svc__gate_room(c, STORE_FEATURE, "");
    if (st == VX_OK)
        st = svc__feature_save(c, f);
    if (st == VX_OK)
        st = svc__audit(c, "feature-revived",
                        json_string_value(json_object_get(f, "project")), NULL,
                        json_string_value(json_object_get(f, "name")), NULL,
                        NULL);
    return st;
}

/* Deletes archived flag `f` for good, with what hangs off it (release
 * plans, scheduled changes: a new flag of that name starts clean). */
static vx_status delete_one(svc_ctx *c, json_t *f)
{
    const char *name = json_string_value(json_object_get(f, "name"));
    static const store_kind kinds[] = {STORE_PLAN, STORE_SCHEDULE};
    vx_status st = svc__del(c, STORE_FEATURE, name);
    for (size_t k = 0; st == VX_OK && k < 2; k++) {
        json_t *docs = NULL;
        st = c->s->ops->doc_entries(c->s->st, kinds[k], &docs, c->err);
        size_t i;
        json_t *d;
        json_array_foreach (docs, i, d) {
            const char *parent = json_string_value(json_array_get(d, 1));
            if (st == VX_OK && parent && strcmp(parent, name) == 0)
                st = svc__del(c, kinds[k],
                              json_string_value(json_array_get(d, 0)));
        }
        json_decref(docs);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-deleted",
                        json_string_value(json_object_get(f, "project")), NULL,
                        name, NULL, f);
    return st;
}

vx_status svc__op_ARCHIVE_REVIVE(svc_ctx *c, json_t **out)
{
    json_t *f = NULL;
    vx_status st = load_archived(c, &f);
    if (st == VX_OK)
        st = revive_one(c, f);
    if (st == VX_OK)
        *out = json_object();
    json_decref(f);
    return st;
}

vx_status svc__op_ARCHIVE_DELETE(svc_ctx *c, json_t **out)
{
    json_t *f = NULL;
    vx_status st = load_archived(c, &f);
    if (st == VX_OK)
        st = delete_one(c, f);
    if (st == VX_OK)
        *out = json_object();
    json_decref(f);
    return st;
}

vx_status svc__op_ARCHIVE_LIST_PROJECT(svc_ctx *c, json_t **out)
{
    vx_status st = project_exists(c, c->req->project);
    return st == VX_OK ? list_features(c, c->req->project, true, out) : st;
}

/* The bulk forms (Unleash's POST /api/admin/projects/{p}/archive, revive,
 * delete with {"features": [names]}): every named flag must exist in the
 * project; as in Unleash, flags already in the wanted state are skipped.
 * All or nothing: one refused flag (a parent of live flags) fails the
 * whole call. */
typedef enum bulk_kind { BULK_ARCHIVE, BULK_REVIVE, BULK_DELETE } bulk_kind;

static vx_status bulk(svc_ctx *c, bulk_kind kind, json_t **out)
{
    const json_t *b = body(c), *names = NULL;
    vx_status st = project_exists(c, c->req->project);
    if (st == VX_OK)
        st = svc__expect_object(c, b, "");
    if (st == VX_OK) {
        names = json_object_get(b, "features");
        st = svc__expect_array(c, names, "/features", VX_LIMIT_FLAGS);
    }
    size_t i;
    const json_t *n;
    json_array_foreach (names, i, n) {
        char p[64];
        snprintf(p, sizeof(p), "/features/%zu", i);
        if (st == VX_OK && !json_is_string(n))
            st = svc__fail(c, VX_EINVAL, p, "expected a flag name");
        json_t *f = NULL;
        if (st == VX_OK) {
            st = svc__feature_load(c, NULL, json_string_value(n), true, &f);
            if (st == VX_ENOTFOUND) { /* gone already: skipped, as Unleash */
                memset(c->err, 0, sizeof(*c->err));
                st = VX_OK;
                continue;
            }
        }
        const char *fp = json_string_value(json_object_get(f, "project"));
        if (st == VX_OK && strcmp(fp, c->req->project) != 0)
            st = svc__fail(c, VX_EINVAL, p,
                           "flag '%s' is in project '%s', not '%s'",
                           json_string_value(n), fp, c->req->project);
        bool archived = json_is_true(json_object_get(f, "archived"));
        bool has = false;
        if (st == VX_OK && kind == BULK_ARCHIVE && !archived) {
            st = dependents_besides(c, json_string_value(n), names, &has);
            if (st == VX_OK && has)
                st = svc__fail(c, VX_ECONFLICT, p,
                               "other flags depend on '%s'; remove those "
                               "dependencies first",
                               json_string_value(n));
            if (st == VX_OK)
                st = archive_one(c, f);
        } else if (st == VX_OK && kind == BULK_REVIVE && archived) {
            st = revive_one(c, f);
        } else if (st == VX_OK && kind == BULK_DELETE && archived) {
            st = delete_one(c, f);
        }
        json_decref(f);
    }
    if (st == VX_OK)
        *out = json_object();
    return st;
}

vx_status svc__op_ARCHIVE_BULK(svc_ctx *c, json_t **out)
{
    return bulk(c, BULK_ARCHIVE, out);
}

vx_status svc__op_REVIVE_BULK(svc_ctx *c, json_t **out)
{
    return bulk(c, BULK_REVIVE, out);
}

vx_status svc__op_DELETE_BULK(svc_ctx *c, json_t **out)
{
    return bulk(c, BULK_DELETE, out);
}

vx_status svc__op_STALE_SET(svc_ctx *c, json_t **out)
{
    const json_t *b = body(c);
    int stale;
    vx_status st = project_exists(c, c->req->project);
    if (st == VX_OK)
        st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__expect_array(c, json_object_get(b, "features"), "/features",
                               VX_LIMIT_FLAGS);
    if (st == VX_OK)
        st = svc__opt_bool(c, b, "stale", "", &stale);
    if (st == VX_OK && stale < 0)
        st = svc__fail(c, VX_EINVAL, "/stale", "stale (a boolean) is required");
    size_t i;
    const json_t *n;
    json_array_foreach (json_object_get(b, "features"), i, n) {
        if (st != VX_OK)
            break;
        char p[64];
        snprintf(p, sizeof(p), "/features/%zu", i);
        if (!json_is_string(n)) {
            st = svc__fail(c, VX_EINVAL, p, "expected a flag name");
            break;
        }
        json_t *f = NULL;
        st = svc__feature_load(c, c->req->project, json_string_value(n), false,
                               &f);
        if (st == VX_ENOTFOUND)
            st = svc__fail(c, VX_ENOTFOUND, p, "flag '%s' not found",
                           json_string_value(n));
        if (st == VX_OK) {
            json_object_set_new(f, "stale", json_boolean(stale));
            st = svc__feature_save(c, f);
        }
        if (st == VX_OK)
            st = svc__audit(c, stale ? "feature-stale-on" : "feature-stale-off",
                            c->req->project, NULL, json_string_value(n), NULL,
                            NULL);
        json_decref(f);
    }
    if (st == VX_OK)
        *out = json_object();
    return st;
}

/* ---- tags
 * ------------------------------------------------------------------------ */

vx_status svc__op_TAG_LIST(svc_ctx *c, json_t **out)
{
    json_t *f = NULL;
    vx_status st = svc__feature_load(c, NULL, c->req->feature, true, &f);
    if (st == VX_OK)
        *out = json_pack("{si sO}", "version", 1, "tags",
                         json_object_get(f, "tags"));
    json_decref(f);
    return st;
}

vx_status svc__op_TAG_ADD(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *one = NULL, *wrapped = json_array();
    json_array_append(wrapped, (json_t *)body(c));
    vx_status st = svc__feature_load(c, NULL, c->req->feature, true, &f);
    if (st == VX_OK)
        st = svc__expect_object(c, body(c), "");
    if (st == VX_OK)
        st = norm_tags(c, wrapped, "", &one);
    if (st != VX_OK && c->err->path[0] == '/' && c->err->path[1] == '0') {
        /* report paths relative to the body, not the wrapper array */
        memmove(c->err->path, c->err->path + 2, strlen(c->err->path + 2) + 1);
    }
    json_t *tag = st == VX_OK ? json_array_get(one, 0) : NULL;
    json_t *tags = json_object_get(f, "tags");
    size_t i;
    json_t *t;
    json_array_foreach (tags, i, t) {
        if (st == VX_OK && json_equal(t, tag))
            st =
                svc__fail(c, VX_ECONFLICT, "", "the flag already has this tag");
    }
    if (st == VX_OK) {
        json_array_append(tags, tag);
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-tagged",
                        json_string_value(json_object_get(f, "project")), NULL,
                        c->req->feature, tag, NULL);
    if (st == VX_OK)
        *out = json_incref(tag);
    json_decref(one);
    json_decref(wrapped);
    json_decref(f);
    return st;
}

vx_status svc__op_TAG_REMOVE(svc_ctx *c, json_t **out)
{
    json_t *f = NULL;
    vx_status st = svc__feature_load(c, NULL, c->req->feature, true, &f);
    json_t *tags = json_object_get(f, "tags");
    size_t i;
    json_t *t;
    bool found = false;
    json_array_foreach (tags, i, t) {
        if (st == VX_OK && !found &&
            strcmp(json_string_value(json_object_get(t, "type")),
                   c->req->tag_type) == 0 &&
            strcmp(json_string_value(json_object_get(t, "value")),
                   c->req->tag_value) == 0) {
            found = true;
            json_t *gone = json_pack("{ss ss}", "type", c->req->tag_type,
                                     "value", c->req->tag_value);
            json_array_remove(tags, i);
            st = svc__feature_save(c, f);
            if (st == VX_OK)
                st =
                    svc__audit(c, "feature-untagged",
                               json_string_value(json_object_get(f, "project")),
                               NULL, c->req->feature, NULL, gone);
            json_decref(gone);
            break;
        }
    }
    if (st == VX_OK && !found)
        st = svc__not_found(c, "tag", c->req->tag_value);
    if (st == VX_OK)
        *out = json_object();
    json_decref(f);
    return st;
}

/* ---- environments: on/off
 * -------------------------------------------------------- */

/* Loads the flag and checks the environment for an env-scoped operation. */
static vx_status load_for_env(svc_ctx *c, json_t **f, json_t **fenv)
{
    vx_status st = env_exists(c, c->req->environment);
    if (st == VX_OK)
        st = svc__feature_load(c, c->req->project, c->req->feature, false, f);
    if (st == VX_OK)
        *fenv = svc__feature_env(*f, c->req->environment);
    return st;
}

static vx_status set_enabled(svc_ctx *c, bool on, json_t **out)
{
    json_t *f = NULL, *fenv = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    json_t *strategies = json_object_get(fenv, "strategies");
    if (st == VX_OK && on && json_array_size(strategies) == 0) {
        char id[37];
        svc__uuid(id);
        json_t *s = json_pack(
            "{ss ss sn sb si s{ss ss ss} s[] s[] s[]}", "id", id, "name",
            "flexibleRollout", "title", "disabled", 0, "sortOrder", 0,
            "parameters", "rollout", "100", "stickiness", "default", "groupId",
            c->req->feature, "constraints", "segments", "variants");
        json_array_append_new(strategies, s);
        st = svc__audit(c, "feature-strategy-add", c->req->project,
                        c->req->environment, c->req->feature, s, NULL);
    }
    if (st == VX_OK) {
        json_object_set_new(fenv, "enabled", json_boolean(on));
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st = svc__audit(
            c,
            on ? "feature-environment-enabled" : "feature-environment-disabled",
            c->req->project, c->req->environment, c->req->feature, NULL, NULL);
    if (st == VX_OK)
        *out = json_object();
    json_decref(f);
    return st;
}

vx_status svc__op_ENV_ON(svc_ctx *c, json_t **out)
{
    return set_enabled(c, true, out);
}

vx_status svc__op_ENV_OFF(svc_ctx *c, json_t **out)
{
    return set_enabled(c, false, out);
}

/* ---- strategies
 * ---------------------------------------------------------------- */

static int by_sort_order(const void *a, const void *b)
{
    json_int_t x =
        json_integer_value(json_object_get(*(json_t *const *)a, "sortOrder"));
    json_int_t y =
        json_integer_value(json_object_get(*(json_t *const *)b, "sortOrder"));
    return (x > y) - (x < y);
}

/* Keeps strategies ordered by sortOrder (stable). */
static void sort_strategies(json_t *strategies)
{
    size_t n = json_array_size(strategies);
    if (n < 2)
        return;
    json_t **v = vx__malloc(n * sizeof(*v));
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(strategies, i));
    /* insertion sort: stable and n is small (<= limit) */
    for (size_t i = 1; i < n; i++) {
        json_t *x = v[i];
        size_t j = i;
        while (j > 0 && by_sort_order(&v[j - 1], &x) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    json_array_clear(strategies);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(strategies, v[i]);
    vx__free(v);
}

static json_t *find_strategy(json_t *strategies, const char *id, size_t *at)
{
    size_t i;
    json_t *s;
    json_array_foreach (strategies, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "id")), id ? id : "") ==
            0) {
            if (at)
                *at = i;
            return s;
        }
    }
    return NULL;
}

vx_status svc__op_STRATEGY_LIST(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *fenv = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    if (st == VX_OK)
        *out = json_incref(json_object_get(fenv, "strategies"));
    json_decref(f);
    return st;
}

vx_status svc__op_STRATEGY_GET(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *fenv = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    json_t *s = st == VX_OK ? find_strategy(json_object_get(fenv, "strategies"),
                                            c->req->id, NULL)
                            : NULL;
    if (st == VX_OK && !s)
        st = svc__not_found(c, "strategy", c->req->id);
    if (st == VX_OK)
        *out = json_incref(s);
    json_decref(f);
    return st;
}

vx_status svc__op_STRATEGY_ADD(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *fenv = NULL, *s = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    json_t *strategies = json_object_get(fenv, "strategies");
    if (st == VX_OK)
        st = svc__gate_count(c, "", VX_FL_STRATEGIES,
                             json_array_size(strategies) + 1);
    if (st == VX_OK)
        st = svc__norm_strategy(c, body(c), "", c->req->feature, &s);
    if (st == VX_OK) {
        char id[37];
        svc__uuid(id);
        json_object_set_new(s, "id", json_string(id));
        if (!json_object_get(body(c), "sortOrder")) {
            json_int_t max = -1;
            size_t i;
            json_t *x;
            json_array_foreach (strategies, i, x) {
                json_int_t so =
                    json_integer_value(json_object_get(x, "sortOrder"));
                max = so > max ? so : max;
            }
            json_object_set_new(s, "sortOrder", json_integer(max + 1));
        }
        json_array_append(strategies, s);
        sort_strategies(strategies);
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-strategy-add", c->req->project,
                        c->req->environment, c->req->feature, s, NULL);
    if (st == VX_OK)
        *out = json_incref(s);
    json_decref(s);
    json_decref(f);
    return st;
}

vx_status svc__op_STRATEGY_UPDATE(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *fenv = NULL, *s = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    json_t *strategies = json_object_get(fenv, "strategies");
    size_t at = 0;
    json_t *old =
        st == VX_OK ? find_strategy(strategies, c->req->id, &at) : NULL;
    if (st == VX_OK && !old)
        st = svc__not_found(c, "strategy", c->req->id);
    if (st == VX_OK)
        st = svc__plan_strategy_write(c, c->req->id);
    if (st == VX_OK)
        st = svc__norm_strategy(c, body(c), "", c->req->feature, &s);
    json_t *pre = NULL;
    if (st == VX_OK) {
        pre = json_incref(old);
        json_object_set_new(s, "id", json_string(c->req->id));
        if (!json_object_get(body(c), "sortOrder"))
            json_object_set(s, "sortOrder", json_object_get(old, "sortOrder"));
        json_array_set(strategies, at, s);
        sort_strategies(strategies);
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-strategy-update", c->req->project,
                        c->req->environment, c->req->feature, s, pre);
    if (st == VX_OK)
        *out = json_incref(s);
    json_decref(pre);
    json_decref(s);
    json_decref(f);
    return st;
}

vx_status svc__op_STRATEGY_DELETE(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *fenv = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    json_t *strategies = json_object_get(fenv, "strategies");
    size_t at = 0;
    json_t *old =
        st == VX_OK ? find_strategy(strategies, c->req->id, &at) : NULL;
    if (st == VX_OK && !old)
        st = svc__not_found(c, "strategy", c->req->id);
    if (st == VX_OK)
        st = svc__plan_strategy_write(c, c->req->id);
    json_t *pre = json_incref(old);
    if (st == VX_OK) {
        json_array_remove(strategies, at);
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-strategy-remove", c->req->project,
                        c->req->environment, c->req->feature, NULL, pre);
    if (st == VX_OK)
        *out = json_object();
    json_decref(pre);
    json_decref(f);
    return st;
}

/* PATCH .../strategies/{id}: a JSON Patch of the strategy, then as PUT. */
vx_status svc__op_STRATEGY_PATCH(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *fenv = NULL, *patched = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    json_t *old = st == VX_OK
                      ? find_strategy(json_object_get(fenv, "strategies"),
                                      c->req->id, NULL)
                      : NULL;
    if (st == VX_OK && !old)
        st = svc__not_found(c, "strategy", c->req->id);
    if (st == VX_OK)
        st = svc__json_patch(c, old, body(c), &patched);
    json_decref(f);
    if (st == VX_OK) {
        svc_req r = *c->req;
        svc_ctx c2 = *c;
        r.body = patched;
        c2.req = &r;
        st = svc__op_STRATEGY_UPDATE(&c2, out);
    }
    json_decref(patched);
    return st;
}

vx_status svc__op_STRATEGY_ORDER(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *fenv = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    json_t *strategies = json_object_get(fenv, "strategies");
    if (st == VX_OK)
        st = svc__expect_array(c, body(c), "", VX_LIMIT_STRATEGIES);
    size_t i;
    const json_t *o;
    json_array_foreach (body(c), i, o) {
        if (st != VX_OK)
            break;
        char p[64];
        snprintf(p, sizeof(p), "/%zu", i);
        st = svc__expect_object(c, o, p);
        const json_t *id = json_object_get(o, "id");
        const json_t *so = json_object_get(o, "sortOrder");
        json_t *s = st == VX_OK && json_is_string(id)
                        ? find_strategy(strategies, json_string_value(id), NULL)
                        : NULL;
        snprintf(p, sizeof(p), "/%zu/id", i);
        if (st == VX_OK && !s)
            st = svc__fail(c, VX_EINVAL, p,
                           "no such strategy in this environment");
        snprintf(p, sizeof(p), "/%zu/sortOrder", i);
        if (st == VX_OK && !json_is_integer(so))
            st = svc__fail(c, VX_EINVAL, p, "sortOrder must be an integer");
        if (st == VX_OK)
            json_object_set(s, "sortOrder", (json_t *)so);
    }
    if (st == VX_OK) {
        sort_strategies(strategies);
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st = svc__audit(c, "strategy-order-changed", c->req->project,
                        c->req->environment, c->req->feature, body(c), NULL);
    if (st == VX_OK)
        *out = json_object();
    json_decref(f);
    return st;
}

/* ---- environment variants
 * ----------------------------------------------------------- */

static vx_status save_variants(svc_ctx *c, const json_t *in, json_t **out)
{
    json_t *f = NULL, *fenv = NULL, *vs = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    if (st == VX_OK)
        st = svc__norm_variants(c, in, "", "default", &vs);
    json_t *pre = json_incref(json_object_get(fenv, "variants"));
    if (st == VX_OK) {
        json_object_set(fenv, "variants", vs);
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-environment-variants-updated",
                        c->req->project, c->req->environment, c->req->feature,
                        vs, pre);
    if (st == VX_OK)
        *out = json_pack("{si sO}", "version", 1, "variants", vs);
    json_decref(pre);
    json_decref(vs);
    json_decref(f);
    return st;
}

vx_status svc__op_VARIANTS_GET(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *fenv = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    if (st == VX_OK)
        *out = json_pack("{si sO}", "version", 1, "variants",
                         json_object_get(fenv, "variants"));
    json_decref(f);
    return st;
}

vx_status svc__op_VARIANTS_PUT(svc_ctx *c, json_t **out)
{
    vx_status st = svc__expect_array(c, body(c), "", VX_LIMIT_VARIANTS);
    return st == VX_OK ? save_variants(c, body(c), out) : st;
}

/* The validation save_variants runs, for svc__json_patch_blame. */
static vx_status check_variants(svc_ctx *c, const json_t *patched, void *ud)
{
    json_t *vs = NULL;
    (void)ud;
    vx_status st = svc__norm_variants(c, patched, "", "default", &vs);
    json_decref(vs);
    return st;
}

vx_status svc__op_VARIANTS_PATCH(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *fenv = NULL, *patched = NULL;
    vx_status st = load_for_env(c, &f, &fenv);
    if (st == VX_OK)
        st = svc__json_patch(c, json_object_get(fenv, "variants"), body(c),
                             &patched);
    if (st == VX_OK) {
        st = check_variants(c, patched, NULL);
        /* Errors name the patch operation, not the patched list. */
        if (st != VX_OK && st != VX_EIO && st != VX_EUNAVAILABLE &&
            st != VX_ENOMEM)
            svc__json_patch_blame(c, json_object_get(fenv, "variants"), body(c),
                                  check_variants, NULL);
    }
    json_decref(f);
    if (st == VX_OK)
        st = save_variants(c, patched, out);
    json_decref(patched);
    return st;
}

/* ---- dependencies
 * -------------------------------------------------------------------- */

vx_status svc__op_DEPENDENCY_ADD(svc_ctx *c, json_t **out)
{
    const json_t *b = body(c);
    json_t *child = NULL, *parent = NULL, *vars = json_array();
    int enabled;
    vx_status st =
        svc__feature_load(c, c->req->project, c->req->feature, false, &child);
    if (st == VX_OK)
        st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__check_name(c, json_object_get(b, "feature"), "/feature",
                             "parent flag");
    if (st == VX_OK)
        st = svc__opt_bool(c, b, "enabled", "", &enabled);
    const char *pname = json_string_value(json_object_get(b, "feature"));
    if (st == VX_OK && strcmp(pname, c->req->feature) == 0)
        st = svc__fail(c, VX_EINVAL, "/feature",
                       "a flag cannot depend on itself");
    if (st == VX_OK) {
        st = svc__feature_load(c, NULL, pname, false, &parent);
        if (st == VX_ENOTFOUND)
            st = svc__fail(c, VX_EINVAL, "/feature",
                           "parent flag '%s' does not "
                           "exist",
                           pname);
    }
    const char *pproj = json_string_value(json_object_get(parent, "project"));
    if (st == VX_OK && strcmp(pproj, c->req->project) != 0)
        st = svc__fail(c, VX_EINVAL, "/feature",
                       "parent flag '%s' is in project '%s': a flag can only "
                       "depend on flags of its own project ('%s'), as in "
                       "Unleash",
                       pname, pproj, c->req->project);
    if (st == VX_OK && json_array_size(json_object_get(parent, "dependencies")))
        st = svc__fail(c, VX_EINVAL, "/feature",
                       "'%s' has parents itself; only "
                       "one level of dependencies is allowed",
                       pname);
    bool has_children = false;
    if (st == VX_OK)
        st = dependents(c, c->req->feature, &has_children);
    if (st == VX_OK && has_children)
        st = svc__fail(c, VX_EINVAL, "/feature",
                       "'%s' is a parent of other "
                       "flags; only one level of dependencies is allowed",
                       c->req->feature);
    /* One parent more (or the same one replaced). */
    size_t nparents = 1, di;
    const json_t *d;
    json_array_foreach (json_object_get(child, "dependencies"), di, d) {
        const char *pn = json_string_value(json_object_get(d, "feature"));
        nparents += !pn || !pname || strcmp(pn, pname) != 0;
    }
    if (st == VX_OK)
        st = svc__gate_count(c, "/feature", VX_FL_DEPENDENCIES, nparents);
    const json_t *vin = json_object_get(b, "variants");
    if (st == VX_OK && vin && !json_is_null(vin))
        st = svc__gate_array(c, vin, "/variants", VX_FL_DEPENDENCY_VARIANTS);
    size_t i;
    const json_t *v;
    json_array_foreach (vin, i, v) {
        if (st == VX_OK && !json_is_string(v)) {
            char p[64];
            snprintf(p, sizeof(p), "/variants/%zu", i);
            st = svc__fail(c, VX_EINVAL, p, "expected a variant name");
        }
        if (st == VX_OK)
            json_array_append(vars, (json_t *)v);
    }
    json_t *dep = NULL;
    if (st == VX_OK) {
        dep = json_pack("{ss sb sO}", "feature", pname, "enabled", enabled != 0,
                        "variants", vars);
        json_t *deps = json_object_get(child, "dependencies");
        for (i = 0; i < json_array_size(deps); i++) {
            if (strcmp(json_string_value(
                           json_object_get(json_array_get(deps, i), "feature")),
                       pname) == 0) {
                json_array_remove(deps, i);
                break;
            }
        }
        json_array_append(deps, dep);
        st = svc__feature_save(c, child);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-dependency-added", c->req->project, NULL,
                        c->req->feature, dep, NULL);
    if (st == VX_OK)
        *out = json_object();
    json_decref(dep);
    json_decref(vars);
    json_decref(child);
    json_decref(parent);
    return st;
}

vx_status svc__op_DEPENDENCY_REMOVE(svc_ctx *c, json_t **out)
{
    json_t *f = NULL;
    vx_status st =
        svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    json_t *deps = json_object_get(f, "dependencies");
    bool found = false;
    for (size_t i = 0; st == VX_OK && i < json_array_size(deps); i++) {
        json_t *d = json_array_get(deps, i);
        if (strcmp(json_string_value(json_object_get(d, "feature")),
                   c->req->id) == 0) {
            json_t *pre = json_incref(d);
            json_array_remove(deps, i);
            found = true;
            st = svc__feature_save(c, f);
            if (st == VX_OK)
                st =
                    svc__audit(c, "feature-dependency-removed", c->req->project,
                               NULL, c->req->feature, NULL, pre);
            json_decref(pre);
            break;
        }
    }
    if (st == VX_OK && !found)
        st = svc__not_found(c, "dependency", c->req->id);
    if (st == VX_OK)
        *out = json_object();
    json_decref(f);
    return st;
}

vx_status svc__op_DEPENDENCY_REMOVE_ALL(svc_ctx *c, json_t **out)
{
    json_t *f = NULL;
    vx_status st =
        svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    json_t *pre =
        st == VX_OK ? json_deep_copy(json_object_get(f, "dependencies")) : NULL;
    if (st == VX_OK) {
        json_object_set_new(f, "dependencies", json_array());
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st = svc__audit(c, "feature-dependencies-removed", c->req->project,
                        NULL, c->req->feature, NULL, pre);
    if (st == VX_OK)
        *out = json_object();
    json_decref(pre);
    json_decref(f);
    return st;
}

/* ---- the SDK view
 * ---------------------------------------------------------------------- */

json_t *svc__client_feature(const json_t *f, const char *env, unsigned what)
{
    if (json_is_true(json_object_get(f, "archived")))
        return NULL;
    json_t *fenv = svc__feature_env((json_t *)f, env);
    json_t *strategies = json_array();
    size_t j;
    json_t *s;
    json_array_foreach (json_object_get(fenv, "strategies"), j, s) {
        if (json_is_true(json_object_get(s, "disabled")))
            continue;
        json_t *cs =
            json_pack("{sO sO sO sO sO}", "name", json_object_get(s, "name"),
                      "parameters", json_object_get(s, "parameters"),
                      "constraints", json_object_get(s, "constraints"),
                      "segments", json_object_get(s, "segments"), "variants",
                      json_object_get(s, "variants"));
        if (what & SVC_DOC_IDS)
            json_object_set(cs, "id", json_object_get(s, "id"));
        json_array_append_new(strategies, cs);
    }
    json_t *cf = json_pack(
        "{sO sO sO sO sO sO sO so sO}", "name", json_object_get(f, "name"),
        "type", json_object_get(f, "type"), "description",
        json_object_get(f, "description"), "project",
        json_object_get(f, "project"), "stale", json_object_get(f, "stale"),
        "impressionData", json_object_get(f, "impressionData"), "enabled",
        json_object_get(fenv, "enabled"), "strategies", strategies, "variants",
        json_object_get(fenv, "variants"));
    json_t *deps = json_object_get(f, "dependencies");
    if (cf && json_array_size(deps)) {
        /* As Unleash serves them: "variants" only when enabled is true. */
        json_t *cdeps = json_array();
        size_t k;
        json_t *d;
        json_array_foreach (deps, k, d) {
            json_t *cd = json_copy(d);
            if (json_is_false(json_object_get(d, "enabled")))
                json_object_del(cd, "variants");
            json_array_append_new(cdeps, cd);
        }
        json_object_set_new(cf, "dependencies", cdeps);
    }
    if (cf && (what & SVC_DOC_TAGS))
        json_object_set(cf, "tags", json_object_get(f, "tags"));
    return cf;
}

json_t *svc__client_segments(const json_t *segs)
{
    json_t *csegs = json_array();
    size_t i;
    json_t *s;
    json_array_foreach (segs, i, s) {
        json_array_append_new(
            csegs, json_pack("{sO sO sO}", "id", json_object_get(s, "id"),
                             "name", json_object_get(s, "name"), "constraints",
                             json_object_get(s, "constraints")));
    }
    return csegs;
}

vx_status svc__client_documents(svc_ctx *c, const json_t *envs, unsigned what,
                                json_t **out)
{
    json_t *all = NULL, *segs = NULL;
    *out = NULL;
    vx_status st = svc__list(c, STORE_FEATURE, NULL, &all);
    if (st == VX_OK)
        st = svc__list(c, STORE_SEGMENT, NULL, &segs);
    if (st != VX_OK) {
        json_decref(all);
        json_decref(segs);
        return st;
    }
    json_t *docs = json_object();
    json_t *csegs = svc__client_segments(segs);
    size_t e;
    json_t *envj;
    json_array_foreach (envs, e, envj) {
        const char *env = json_string_value(envj);
        json_t *features = json_array();
        size_t i;
        json_t *f;
        json_array_foreach (all, i, f) {
            json_t *cf = svc__client_feature(f, env, what);
            if (cf)
                json_array_append_new(features, cf);
        }
        json_object_set_new(docs, env,
                            json_pack("{si so sO}", "version", 2, "features",
                                      features, "segments", csegs));
    }
    json_decref(csegs);
    json_decref(all);
    json_decref(segs);
    *out = docs;
    return VX_OK;
}

vx_status svc__client_document(svc_ctx *c, const char *env, unsigned what,
                               json_t **out)
{
    json_t *envs = json_pack("[s]", env);
    json_t *docs = NULL;
    vx_status st = envs ? svc__client_documents(c, envs, what, &docs)
                        : svc__fail(c, VX_ENOMEM, "", "out of memory");
    *out = st == VX_OK ? json_incref(json_object_get(docs, env)) : NULL;
    json_decref(docs);
    json_decref(envs);
    return st;
}
