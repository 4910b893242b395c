/* Export and import of the whole state (tokens excepted: their secrets are
 * not kept). An import goes into a server with no flags and no segments,
 * re-validating every flag, and keeps ids and times, so that export ->
 * import -> export gives the same document. */
#include <stdio.h>
#include <string.h>

#include "base/limits.h"
#include "service/internal.h"

static const struct {
    const char *key;
    store_kind kind;
} PARTS[] = {
    {"projects", STORE_PROJECT},          {"environments", STORE_ENVIRONMENT},
    {"featureTypes", STORE_FEATURE_TYPE}, {"segments", STORE_SEGMENT},
    {"strategies", STORE_STRATEGY}, /* custom definitions, before flags */
    {"features", STORE_FEATURE},
};
#define NPARTS (sizeof(PARTS) / sizeof(PARTS[0]))

vx_status svc__op_EXPORT(svc_ctx *c, json_t **out)
{
    json_t *doc = json_pack("{si}", "version", 1);
    vx_status st = VX_OK;
    for (size_t i = 0; i < NPARTS && st == VX_OK; i++) {
        json_t *all = NULL;
        st = svc__list(c, PARTS[i].kind, NULL, &all);
        if (st == VX_OK)
            json_object_set_new(doc, PARTS[i].key, all);
    }
    if (st != VX_OK) {
        json_decref(doc);
        return st;
    }
    *out = doc;
    return VX_OK;
}

static const char *key_of(store_kind k, const json_t *d, char buf[32])
{
    switch (k) {
    case STORE_PROJECT:
    case STORE_FEATURE_TYPE: return json_string_value(json_object_get(d, "id"));
    case STORE_SEGMENT:
        snprintf(buf, 32, "%lld",
                 (long long)json_integer_value(json_object_get(d, "id")));
        return buf;
    default: return json_string_value(json_object_get(d, "name"));
    }
}

/* Re-validates the dependencies of an imported flag in place: the shape
 * and limits libvexil loads ({feature, enabled, variants}). */
static vx_status check_dependencies(svc_ctx *c, json_t *f, size_t fi)
{
    char path[160];
    json_t *deps = json_object_get(f, "dependencies");
    snprintf(path, sizeof(path), "/features/%zu/dependencies", fi);
    if (!deps || json_is_null(deps)) {
        json_object_set_new(f, "dependencies", json_array());
        return VX_OK;
    }
    vx_status st = svc__gate_array(c, deps, path, VX_FL_DEPENDENCIES);
    size_t i, j;
    json_t *d, *v;
    json_array_foreach (deps, i, d) {
        if (st != VX_OK)
            break;
        snprintf(path, sizeof(path), "/features/%zu/dependencies/%zu", fi, i);
        st = svc__expect_object(c, d, path);
        snprintf(path, sizeof(path), "/features/%zu/dependencies/%zu/feature",
                 fi, i);
        if (st == VX_OK)
            st = svc__check_name(c, json_object_get(d, "feature"), path,
                                 "parent flag");
        int enabled = -1;
        snprintf(path, sizeof(path), "/features/%zu/dependencies/%zu", fi, i);
        if (st == VX_OK)
            st = svc__opt_bool(c, d, "enabled", path, &enabled);
        json_t *vars = json_object_get(d, "variants");
        snprintf(path, sizeof(path), "/features/%zu/dependencies/%zu/variants",
                 fi, i);
        if (st == VX_OK && vars && !json_is_null(vars))
            st = svc__gate_array(c, vars, path, VX_FL_DEPENDENCY_VARIANTS);
        json_array_foreach (vars, j, v) {
            if (st == VX_OK && !json_is_string(v)) {
                char vp[192];
                snprintf(vp, sizeof(vp), "%s/%zu", path, j);
                st = svc__fail(c, VX_EINVAL, vp, "expected a variant name");
            }
        }
        if (st == VX_OK)
            json_array_set_new(deps, i,
                               json_pack("{sO sb so}", "feature",
                                         json_object_get(d, "feature"),
                                         "enabled", enabled != 0, "variants",
                                         vars && !json_is_null(vars)
                                             ? json_incref(vars)
                                             : json_array()));
    }
    return st;
}

/* Re-validates one imported flag in place (strategies and variants go
 * through the same rules as the API), keeping ids and order. */
static vx_status check_feature(svc_ctx *c, json_t *f, size_t fi,
                               const json_t *doc)
{
    char path[128];
    snprintf(path, sizeof(path), "/features/%zu/name", fi);
    vx_status st = svc__check_name(c, json_object_get(f, "name"), path, "name");
    /* What SDKs are served of a flag: present and typed (a flag without
     * them would be left out of the SDK document). */
    static const char *const BOOLS[] = {"impressionData", "archived", "stale"};
    snprintf(path, sizeof(path), "/features/%zu", fi);
    for (size_t b = 0; st == VX_OK && b < 3; b++) {
        int flag;
        st = svc__opt_bool(c, f, BOOLS[b], path, &flag);
        if (st == VX_OK && flag < 0)
            json_object_set_new(f, BOOLS[b], json_false());
    }
    const char *type = NULL, *desc = NULL;
    if (st == VX_OK)
        st = svc__opt_string(c, f, "type", path, &type);
    if (st == VX_OK && !type)
        json_object_set_new(f, "type", json_string("release"));
    if (st == VX_OK)
        st = svc__opt_string(c, f, "description", path, &desc);
    if (st == VX_OK && !desc)
        json_object_set_new(f, "description", json_string(""));
    const json_t *fenvs = json_object_get(f, "environments");
    snprintf(path, sizeof(path), "/features/%zu/environments", fi);
    if (st == VX_OK && fenvs && !json_is_array(fenvs))
        st = svc__fail(c, VX_EINVAL, path, "expected an array");
    const char *name = json_string_value(json_object_get(f, "name"));
    const json_t *proj = json_object_get(f, "project");
    bool found = false;
    size_t i, j;
    json_t *x, *e;
    json_array_foreach (json_object_get(doc, "projects"), i, x) {
        found = found || json_equal(json_object_get(x, "id"), (json_t *)proj);
    }
    snprintf(path, sizeof(path), "/features/%zu/project", fi);
    if (st == VX_OK && !found)
        st = svc__fail(c, VX_EINVAL, path, "unknown project");
    /* Dependencies stay within a project (as in Unleash). */
    json_array_foreach (json_object_get(f, "dependencies"), i, x) {
        const json_t *pn = json_object_get(x, "feature");
        json_array_foreach (json_object_get(doc, "features"), j, e) {
            if (st == VX_OK && json_equal(json_object_get(e, "name"), pn) &&
                !json_equal(json_object_get(e, "project"), (json_t *)proj)) {
                snprintf(path, sizeof(path), "/features/%zu/dependencies/%zu",
                         fi, i);
                st = svc__fail(c, VX_EINVAL, path,
                               "parent flag '%s' is in another project: a "
                               "flag can only depend on flags of its own "
                               "project",
                               json_string_value(pn));
            }
        }
    }
    json_array_foreach (json_object_get(f, "environments"), i, e) {
        if (st != VX_OK)
            break;
        snprintf(path, sizeof(path), "/features/%zu/environments/%zu", fi, i);
        st = svc__expect_object(c, e, path);
        int on = -1;
        if (st == VX_OK && !json_is_string(json_object_get(e, "name")))
            st = svc__fail(c, VX_EINVAL, path,
                           "an environment of a flag needs its name");
        if (st == VX_OK)
            st = svc__opt_bool(c, e, "enabled", path, &on);
        if (st == VX_OK)
            json_object_set_new(e, "enabled", json_boolean(on == 1));
        json_t *ss = json_object_get(e, "strategies");
        snprintf(path, sizeof(path),
                 "/features/%zu/environments/%zu/strategies", fi, i);
        if (st == VX_OK && ss && !json_is_null(ss))
            st = svc__gate_array(c, ss, path, VX_FL_STRATEGIES);
        if (st == VX_OK && !json_is_array(ss))
            json_object_set_new(e, "strategies", json_array());
        ss = json_object_get(e, "strategies");
        for (j = 0; st == VX_OK && j < json_array_size(ss); j++) {
            json_t *s = json_array_get(ss, j), *norm = NULL;
            snprintf(path, sizeof(path),
                     "/features/%zu/environments/%zu/strategies/%zu", fi, i, j);
            st = svc__norm_strategy(c, s, path, name, &norm);
            if (st == VX_OK) {
                json_object_set(norm, "id", json_object_get(s, "id"));
                json_array_set_new(ss, j, norm);
            }
        }
        json_t *vs = NULL;
        snprintf(path, sizeof(path), "/features/%zu/environments/%zu/variants",
                 fi, i);
        if (st == VX_OK)
            st = svc__norm_variants(c, json_object_get(e, "variants"), path,
                                    "default", &vs);
        if (st == VX_OK)
            json_object_set_new(e, "variants", vs);
    }
    snprintf(path, sizeof(path), "/features/%zu", fi);
    if (st == VX_OK)
        st = svc__model_check_flag(c, f, NULL, path); /* model.* upstreams */
    return st;
}

/* Re-validates one imported segment in place: its name, and its
 * constraints through the same rules as the API. */
static vx_status check_segment(svc_ctx *c, json_t *seg, size_t si)
{
    char path[96];
    snprintf(path, sizeof(path), "/segments/%zu/id", si);
    const json_t *id = json_object_get(seg, "id");
    if (!json_is_integer(id) || json_integer_value(id) < 1)
        return svc__fail(c, VX_EINVAL, path,
                         "a segment id is a whole number >= 1");
    snprintf(path, sizeof(path), "/segments/%zu/name", si);
    vx_status st =
        svc__check_name(c, json_object_get(seg, "name"), path, "segment name");
    json_t *norm = NULL;
    snprintf(path, sizeof(path), "/segments/%zu/constraints", si);
    if (st == VX_OK)
        st = svc__norm_constraints(c, json_object_get(seg, "constraints"), path,
                                   &norm);
    if (st == VX_OK)
        json_object_set_new(seg, "constraints", norm);
    return st;
}

/* The flag named `name` in the import's `features`, or NULL. */
static const json_t *find_flag(const json_t *features, const char *name)
{
    size_t i;
    const json_t *f;
    json_array_foreach (features, i, f) {
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && name && strcmp(n, name) == 0)
            return f;
    }
    return NULL;
}

/* The dependency rules of the admin API (one level, parents that exist,
 * never the flag itself), which libvexil relies on: a flag whose parent
 * has parents of its own is off for everyone. Runs after check_feature
 * has shaped every flag's dependencies. */
static vx_status check_dependency_graph(svc_ctx *c, const json_t *features)
{
    size_t i, j;
    const json_t *f, *d;
    json_array_foreach (features, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        json_array_foreach (json_object_get(f, "dependencies"), j, d) {
            const char *pn = json_string_value(json_object_get(d, "feature"));
            const json_t *parent = find_flag(features, pn);
            char path[96];
            snprintf(path, sizeof(path),
                     "/features/%zu/dependencies/%zu/feature", i, j);
            if (pn && name && strcmp(pn, name) == 0)
                return svc__fail(c, VX_EINVAL, path,
                                 "a flag cannot depend on itself");
            if (!parent)
                return svc__fail(c, VX_EINVAL, path,
                                 "parent flag '%.100s' is not in the import",
                                 pn ? pn : "");
            if (json_array_size(json_object_get(parent, "dependencies")) > 0)
                return svc__fail(c, VX_EINVAL, path,
                                 "'%.100s' has parents itself; only one level "
                                 "of dependencies is allowed",
                                 pn);
        }
    }
    return VX_OK;
}

/* Flags SDKs would be served (archived ones are not). */
static size_t live_flags(const json_t *features)
{
    size_t i, n = 0;
    const json_t *f;
    json_array_foreach (features, i, f) {
        n += !json_is_true(json_object_get(f, "archived"));
    }
    return n;
}

vx_status svc__op_IMPORT(svc_ctx *c, json_t **out)
{
    json_t *doc = json_deep_copy(c->req->body);
    int64_t nflags = 0, nsegs = 0;
    vx_status st = svc__expect_object(c, doc, "");
    if (st == VX_OK)
        st = c->s->ops->doc_count(c->s->st, STORE_FEATURE, &nflags, c->err);
    if (st == VX_OK)
        st = c->s->ops->doc_count(c->s->st, STORE_SEGMENT, &nsegs, c->err);
    if (st == VX_OK && (nflags || nsegs))
        st = svc__fail(c, VX_ECONFLICT, "",
                       "import needs a server with no flags "
                       "and no segments");
    for (size_t i = 0; i < NPARTS && st == VX_OK; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/%s", PARTS[i].key);
        /* Exports from before custom strategies have no "strategies". */
        if (PARTS[i].kind == STORE_STRATEGY &&
            !json_object_get(doc, PARTS[i].key))
            json_object_set_new(doc, PARTS[i].key, json_array());
        st = svc__expect_array(c, json_object_get(doc, PARTS[i].key), path,
                               VX_LIMIT_FLAGS);
    }
    if (st == VX_OK)
        st = svc__gate_count(c, "/features", VX_FL_FLAGS,
                             live_flags(json_object_get(doc, "features")));
    if (st == VX_OK)
        st = svc__gate_array(c, json_object_get(doc, "segments"), "/segments",
                             VX_FL_SEGMENTS);
    size_t fi;
    json_t *fd;
    json_array_foreach (json_object_get(doc, "features"), fi, fd) {
        if (st == VX_OK) {
            char path[64];
            snprintf(path, sizeof(path), "/features/%zu", fi);
            st = svc__expect_object(c, fd, path);
        }
        if (st == VX_OK)
            st = check_dependencies(c, fd, fi);
    }
    if (st == VX_OK)
        st = check_dependency_graph(c, json_object_get(doc, "features"));
    /* Segments and projects first: strategies are checked against them. */
    int64_t max_seg = 0;
    for (size_t i = 0; i < NPARTS && st == VX_OK; i++) {
        json_t *arr = json_object_get(doc, PARTS[i].key);
        size_t j;
        json_t *d;
        json_array_foreach (arr, j, d) {
            char path[64], buf[32];
            snprintf(path, sizeof(path), "/%s/%zu", PARTS[i].key, j);
            st = svc__expect_object(c, d, path);
            if (st == VX_OK && PARTS[i].kind == STORE_SEGMENT)
                st = check_segment(c, d, j);
            if (st == VX_OK && PARTS[i].kind == STORE_SEGMENT)
                st = svc__gate_segment(c, d, NULL, path);
            if (st == VX_OK && PARTS[i].kind == STORE_FEATURE)
                st = check_feature(c, d, j, doc);
            /* The last line: the flag as SDKs would get it loads (its
             * segments are stored already). */
            if (st == VX_OK && PARTS[i].kind == STORE_FEATURE) {
                st = svc__gate_feature(c, d);
                if (st == VX_EINVAL || st == VX_ELIMIT)
                    snprintf(c->err->path, sizeof(c->err->path), "%s", path);
            }
            const char *key =
                st == VX_OK ? key_of(PARTS[i].kind, d, buf) : NULL;
            if (st == VX_OK && (!key || !*key || strcmp(key, "0") == 0))
                st = svc__fail(c, VX_EINVAL, path, "missing its id or name");
            if (st != VX_OK)
                break;
            if (PARTS[i].kind == STORE_SEGMENT) {
                json_int_t id = json_integer_value(json_object_get(d, "id"));
                max_seg = id > max_seg ? id : max_seg;
            }
            st = svc__put(c, PARTS[i].kind, key,
                          PARTS[i].kind == STORE_FEATURE
                              ? json_string_value(json_object_get(d, "project"))
                              : NULL,
                          d);
        }
    }
    for (int64_t id = 0; st == VX_OK && id < max_seg && max_seg <= 1000000;) {
        st = c->s->ops->next_id(c->s->st, "segment", &id, c->err);
    }
    json_t *summary = NULL;
    if (st == VX_OK) {
        summary = json_pack(
            "{sI sI}", "features",
            (json_int_t)json_array_size(json_object_get(doc, "features")),
            "segments",
            (json_int_t)json_array_size(json_object_get(doc, "segments")));
        st = svc__audit(c, "state-imported", NULL, NULL, NULL, summary, NULL);
    }
    if (st == VX_OK)
        *out = json_object();
    json_decref(summary);
    json_decref(doc);
    return st;
}
