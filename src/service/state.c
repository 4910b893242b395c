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

/* Re-validates one imported flag in place (strategies and variants go
 * through the same rules as the API), keeping ids and order. */
static vx_status check_feature(svc_ctx *c, json_t *f, size_t fi,
                               const json_t *doc)
{
    char path[128];
    snprintf(path, sizeof(path), "/features/%zu/name", fi);
    vx_status st = svc__check_name(c, json_object_get(f, "name"), path, "name");
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
        json_t *ss = json_object_get(e, "strategies");
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
    return st;
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
            if (st == VX_OK && PARTS[i].kind == STORE_FEATURE)
                st = check_feature(c, d, j, doc);
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
