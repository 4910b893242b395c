/* The flag lists (GET /api/admin/features, /projects/{p}/features,
 * /archive/features) sorted, filtered and paged on the server, in the
 * style of Unleash's feature search: sortBy, sortOrder, offset, limit,
 * query, and the filters type, tag, stale and project. A caller that asks
 * for none of them gets the old unpaged answer unchanged; one that asks
 * for any gets {version, features, total}, total counting every match.
 * Errors name the query parameter (/query/<name>).
 *
 * Filtering and sorting read a summary of every flag (name, project, type,
 * stale, archived, description, tags, times) that the service keeps
 * between calls, labelled with the revision (the newest audit event id) it
 * was read at: every committed flag change writes an event, on any
 * replica, so a summary whose label equals the database's revision is
 * exact, and one that differs is read again. Only lastSeenAt (recorded
 * from SDK metrics, without an event) may lag until the next change; it
 * only orders the "last seen" sort. The flags of the page are then read
 * whole, so what the page shows is never stale. Ten thousand flags cost
 * one revision query, a sort of small records and fifty reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "service/internal.h"

static const char *const PAGE_PARAMS[] = {
    "sortBy", "sortOrder", "offset", "limit",   "query",
    "type",   "tag",       "stale",  "project", "namePrefix"};

static const char *const SORT_KEYS[] = {"name",       "createdAt", "updatedAt",
                                        "lastSeenAt", "type",      "project"};

/* What the query string asks for. */
typedef struct page_query {
    const char *sort_by; /* one of SORT_KEYS */
    bool desc;           /* sortOrder=desc */
    long long offset;    /* first match to answer */
    long long limit;     /* matches to answer at most */
    const char *text;    /* query: substring of name, description or tag */
    const char *type;    /* flag type, or NULL */
    const char *tag;     /* "type:value", or NULL */
    int stale;           /* -1 any, 0 not stale, 1 stale */
    const char *project; /* project id, or NULL */
    const char *prefix;  /* namePrefix (Unleash's old filter), or NULL */
} page_query;

/* One candidate flag and its sort key, both borrowed from the list. */
typedef struct row {
    const char *key;  /* the sortBy field ("" when absent) */
    const char *name; /* tie-breaker */
    json_t *flag;     /* the stored document */
} row;

bool svc__feature_list_paged(const json_t *query)
{
    for (size_t i = 0; i < sizeof(PAGE_PARAMS) / sizeof(PAGE_PARAMS[0]); i++)
        if (json_object_get(query, PAGE_PARAMS[i]))
            return true;
    return false;
}

static const char *param(svc_ctx *c, const char *key)
{
    return json_string_value(json_object_get(c->req->query, key));
}

static vx_status number(svc_ctx *c, const char *key, long long lo, long long hi,
                        long long *out)
{
    const char *v = param(c, key);
    if (!v)
        return VX_OK;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        char path[64];
        snprintf(path, sizeof(path), "/query/%s", key);
        return svc__fail(c, VX_EINVAL, path,
                         "%s must be a whole number from %lld to %lld", key, lo,
                         hi);
    }
    *out = n;
    return VX_OK;
}

static vx_status parse_query(svc_ctx *c, page_query *q)
{
    *q = (page_query){
        .sort_by = "name", .offset = 0, .limit = VX_LIMIT_FLAGS, .stale = -1};
    const char *sb = param(c, "sortBy"), *so = param(c, "sortOrder");
    if (sb) {
        size_t i, n = sizeof(SORT_KEYS) / sizeof(SORT_KEYS[0]);
        for (i = 0; i < n && strcmp(sb, SORT_KEYS[i]) != 0; i++)
            ;
        if (i == n)
            return svc__fail(c, VX_EINVAL, "/query/sortBy",
                             "sortBy must be name, createdAt, updatedAt, "
                             "lastSeenAt, type or project");
        q->sort_by = SORT_KEYS[i];
    }
    if (so && strcmp(so, "asc") != 0 && strcmp(so, "desc") != 0)
        return svc__fail(c, VX_EINVAL, "/query/sortOrder",
                         "sortOrder must be asc or desc");
    q->desc = so && strcmp(so, "desc") == 0;
    vx_status st = number(c, "offset", 0, VX_LIMIT_FLAGS, &q->offset);
    if (st == VX_OK)
        st = number(c, "limit", 1, VX_LIMIT_FEATURE_PAGE, &q->limit);
    if (st != VX_OK)
        return st;
    const char *stale = param(c, "stale");
    if (stale && strcmp(stale, "true") != 0 && strcmp(stale, "false") != 0)
        return svc__fail(c, VX_EINVAL, "/query/stale",
                         "stale must be true or false");
    q->stale = stale ? strcmp(stale, "true") == 0 : -1;
    q->text = param(c, "query");
    if (q->text && strlen(q->text) > VX_LIMIT_NAME_BYTES)
        return svc__fail(c, VX_ELIMIT, "/query/query",
                         "query is longer than %d bytes", VX_LIMIT_NAME_BYTES);
    if (q->text && !*q->text)
        q->text = NULL;
    q->type = param(c, "type");
    q->tag = param(c, "tag");
    q->project = param(c, "project");
    q->prefix = param(c, "namePrefix");
    if (q->tag && !strchr(q->tag, ':'))
        return svc__fail(c, VX_EINVAL, "/query/tag",
                         "tag must be written type:value");
    return VX_OK;
}

/* Case-insensitive substring (ASCII), for the query filter. */
static bool contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay && *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

static bool tag_is(const json_t *t, const char *type, size_t tlen,
                   const char *value)
{
    const char *ty = json_string_value(json_object_get(t, "type"));
    const char *va = json_string_value(json_object_get(t, "value"));
    return ty && va && strlen(ty) == tlen && strncmp(ty, type, tlen) == 0 &&
           strcmp(va, value) == 0;
}

static bool wanted(const page_query *q, const json_t *f)
{
    const char *name = json_string_value(json_object_get(f, "name"));
    if (q->type &&
        strcmp(q->type, json_string_value(json_object_get(f, "type"))) != 0)
        return false;
    if (q->project &&
        strcmp(q->project, json_string_value(json_object_get(f, "project"))) !=
            0)
        return false;
    if (q->prefix && strncmp(name, q->prefix, strlen(q->prefix)) != 0)
        return false;
    if (q->stale >= 0 && json_is_true(json_object_get(f, "stale")) != q->stale)
        return false;
    const json_t *tags = json_object_get(f, "tags");
    size_t i;
    const json_t *t;
    if (q->tag) {
        const char *colon = strchr(q->tag, ':');
        bool hit = false;
        json_array_foreach (tags, i, t)
            hit = hit || tag_is(t, q->tag, (size_t)(colon - q->tag), colon + 1);
        if (!hit)
            return false;
    }
    if (q->text) {
        if (contains(name, q->text) ||
            contains(json_string_value(json_object_get(f, "description")),
                     q->text))
            return true;
        json_array_foreach (tags, i, t) {
            if (contains(json_string_value(json_object_get(t, "value")),
                         q->text))
                return true;
        }
        return false;
    }
    return true;
}

static int by_key(const void *a, const void *b)
{
    const row *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->name, y->name);
}

static const char *const SUMMARY_KEYS[] = {
    "name",        "project", "type",      "stale",     "archived",
    "description", "tags",    "createdAt", "updatedAt", "lastSeenAt"};

/* The summaries of every flag at the database's current revision
 * (borrowed from the service's cache, valid until the next call). Call in
 * read-only operations only: inside a write transaction the revision could
 * name events a rollback takes back. */
static vx_status flag_index(svc_ctx *c, const json_t **out)
{
    service *s = c->s;
    int64_t rev = 0;
    json_t *all = NULL, *index = NULL;
    vx_status st = s->ops->event_last_id(s->st, &rev, c->err);
    if (st != VX_OK)
        return st;
    if (s->flag_index && s->flag_index_rev == rev) {
        *out = s->flag_index;
        return VX_OK;
    }
    st = svc__list(c, STORE_FEATURE, NULL, &all);
    index = st == VX_OK ? json_array() : NULL;
    size_t i;
    json_t *f;
    json_array_foreach (all, i, f) {
        if (!index)
            break;
        json_t *sum = json_object();
        for (size_t k = 0;
             sum && k < sizeof(SUMMARY_KEYS) / sizeof(*SUMMARY_KEYS); k++) {
            json_t *v = json_object_get(f, SUMMARY_KEYS[k]);
            if (v)
                json_object_set(sum, SUMMARY_KEYS[k], v);
        }
        if (!sum || json_array_append_new(index, sum) != 0) {
            json_decref(index);
            index = NULL;
        }
    }
    json_decref(all);
    if (st == VX_OK && !index)
        st = svc__fail(c, VX_ENOMEM, "", "out of memory");
    if (st != VX_OK)
        return st;
    json_decref(s->flag_index);
    s->flag_index = index;
    s->flag_index_rev = rev;
    *out = index;
    return VX_OK;
}

int64_t svc__flag_count(svc_ctx *c, const char *project)
{
    const json_t *index = NULL;
    if (flag_index(c, &index) != VX_OK)
        return -1;
    int64_t n = 0;
    size_t i;
    const json_t *f;
    json_array_foreach (index, i, f) {
        const char *p = json_string_value(json_object_get(f, "project"));
        n += p && strcmp(p, project) == 0 &&
             !json_is_true(json_object_get(f, "archived"));
    }
    return n;
}

vx_status svc__feature_page(svc_ctx *c, const char *project, bool archived,
                            json_t **out)
{
    page_query q;
    const json_t *index = NULL;
    json_t *envs = NULL, *page = NULL;
    row *rows = NULL;
    size_t n = 0;
    vx_status st = parse_query(c, &q);
    if (st == VX_OK)
        st = flag_index(c, &index);
    if (st == VX_OK)
        st = svc__list(c, STORE_ENVIRONMENT, NULL, &envs);
    if (st != VX_OK)
        goto out;
    rows = vx__calloc(json_array_size(index) + 1, sizeof(*rows));
    page = json_array();
    if (!rows || !page) {
        st = svc__fail(c, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    size_t i;
    json_t *f;
    json_array_foreach (index, i, f) {
        const char *p = json_string_value(json_object_get(f, "project"));
        if (json_is_true(json_object_get(f, "archived")) != archived ||
            (project && (!p || strcmp(p, project) != 0)) || !wanted(&q, f))
            continue;
        const char *key = json_string_value(json_object_get(f, q.sort_by));
        rows[n++] = (row){key ? key : "",
                          json_string_value(json_object_get(f, "name")), f};
    }
    qsort(rows, n, sizeof(*rows), by_key);
    for (long long k = q.offset;
         st == VX_OK && k < (long long)n && k - q.offset < q.limit; k++) {
        size_t at = q.desc ? n - 1 - (size_t)k : (size_t)k;
        json_t *doc = NULL;
        st = svc__get(c, STORE_FEATURE, rows[at].name, &doc);
        if (st == VX_OK)
            json_array_append_new(page, svc__feature_view(c, doc, envs));
        json_decref(doc);
    }
    if (st != VX_OK)
        goto out;
    *out = json_pack("{si sO sI}", "version", 1, "features", page, "total",
                     (json_int_t)n);
    if (!*out)
        st = svc__fail(c, VX_ENOMEM, "", "out of memory");
out:
    vx__free(rows);
    json_decref(page);
    json_decref(envs);
    return st;
}
