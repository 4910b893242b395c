/* The route table and its matcher: see router.h. Templates are split into
 * segments while matching (the table is small, about fifty rows, and a
 * segment compare is a memcmp), so the table stays a plain const array that
 * reads like the API document. */
#include "server/router.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/limits.h"

#define A    "/api/admin"
#define FLAG A "/projects/{project}/features/{feature}"
#define FENV FLAG "/environments/{environment}"

/* clang-format off */
static const router_route routes[] = {
    {"GET",    A "/projects",                   SVC_OP_PROJECT_LIST,        200, false},
    {"POST",   A "/projects",                   SVC_OP_PROJECT_CREATE,      201, true},
    {"GET",    A "/projects/{project}",         SVC_OP_PROJECT_GET,         200, false},
    {"DELETE", A "/projects/{project}",         SVC_OP_PROJECT_DELETE,      200, false},
    {"GET",    A "/environments",               SVC_OP_ENVIRONMENT_LIST,    200, false},
    {"POST",   A "/environments",               SVC_OP_ENVIRONMENT_CREATE,  201, true},

    {"GET",    A "/projects/{project}/features", SVC_OP_FEATURE_LIST,       200, false},
    {"POST",   A "/projects/{project}/features", SVC_OP_FEATURE_CREATE,     201, true},
    {"GET",    FLAG,                            SVC_OP_FEATURE_GET,         200, false},
    {"PUT",    FLAG,                            SVC_OP_FEATURE_UPDATE,      200, true},
    {"PATCH",  FLAG,                            SVC_OP_FEATURE_PATCH,       200, true},
    {"DELETE", FLAG,                            SVC_OP_FEATURE_ARCHIVE,     200, false},
    {"POST",   A "/features/validate",          SVC_OP_FEATURE_VALIDATE,    200, true},
    {"GET",    A "/features",                   SVC_OP_FEATURE_LIST_ALL,    200, false},
    {"GET",    A "/archive/features",           SVC_OP_ARCHIVE_LIST,        200, false},
    {"POST",   A "/archive/revive/{feature}",   SVC_OP_ARCHIVE_REVIVE,      200, false},
    {"DELETE", A "/archive/{feature}",          SVC_OP_ARCHIVE_DELETE,      200, false},
    {"POST",   A "/projects/{project}/stale",   SVC_OP_STALE_SET,           202, true},
    {"GET",    A "/features/{feature}/tags",    SVC_OP_TAG_LIST,            200, false},
    {"POST",   A "/features/{feature}/tags",    SVC_OP_TAG_ADD,             201, true},
    {"DELETE", A "/features/{feature}/tags/{type}/{value}", SVC_OP_TAG_REMOVE, 200, false},

    {"POST",   FENV "/on",                      SVC_OP_ENV_ON,              200, false},
    {"POST",   FENV "/off",                     SVC_OP_ENV_OFF,             200, false},
    {"GET",    FENV "/strategies",              SVC_OP_STRATEGY_LIST,       200, false},
    {"POST",   FENV "/strategies",              SVC_OP_STRATEGY_ADD,        200, true},
    {"GET",    FENV "/strategies/{id}",         SVC_OP_STRATEGY_GET,        200, false},
    {"PUT",    FENV "/strategies/{id}",         SVC_OP_STRATEGY_UPDATE,     200, true},
    {"DELETE", FENV "/strategies/{id}",         SVC_OP_STRATEGY_DELETE,     200, false},
    {"PATCH",  FENV "/strategies/{id}",         SVC_OP_STRATEGY_PATCH,      200, true},
    {"POST",   FENV "/strategies/set-sort-order", SVC_OP_STRATEGY_ORDER,    200, true},
    {"GET",    FENV "/variants",                SVC_OP_VARIANTS_GET,        200, false},
    {"PUT",    FENV "/variants",                SVC_OP_VARIANTS_PUT,        200, true},
    {"PATCH",  FENV "/variants",                SVC_OP_VARIANTS_PATCH,      200, true},

    {"GET",    A "/segments",                   SVC_OP_SEGMENT_LIST,        200, false},
    {"POST",   A "/segments",                   SVC_OP_SEGMENT_CREATE,      201, true},
    {"GET",    A "/segments/{id}",              SVC_OP_SEGMENT_GET,         200, false},
    {"PUT",    A "/segments/{id}",              SVC_OP_SEGMENT_UPDATE,      204, true},
    {"DELETE", A "/segments/{id}",              SVC_OP_SEGMENT_DELETE,      204, false},
    {"POST",   FLAG "/dependencies",            SVC_OP_DEPENDENCY_ADD,      200, true},
    {"DELETE", FLAG "/dependencies/{id}",       SVC_OP_DEPENDENCY_REMOVE,   200, false},
    {"DELETE", FLAG "/dependencies",            SVC_OP_DEPENDENCY_REMOVE_ALL, 200, false},

    {"GET",    A "/api-tokens",                 SVC_OP_TOKEN_LIST,          200, false},
    {"POST",   A "/api-tokens",                 SVC_OP_TOKEN_CREATE,        201, true},
    {"PUT",    A "/api-tokens/{id}",            SVC_OP_TOKEN_UPDATE,        200, true},
    {"DELETE", A "/api-tokens/{id}",            SVC_OP_TOKEN_DELETE,        200, false},

    {"GET",    A "/search/events",              SVC_OP_EVENT_SEARCH,        200, false},
    {"GET",    A "/events",                     SVC_OP_EVENT_SEARCH,        200, false},
    {"GET",    A "/feature-types",              SVC_OP_FEATURE_TYPE_LIST,   200, false},
    {"PUT",    A "/feature-types/{id}/lifetime", SVC_OP_FEATURE_TYPE_LIFETIME, 200, true},
    {"POST",   A "/playground",                 SVC_OP_PLAYGROUND,          200, true},
    {"GET",    A "/export",                     SVC_OP_EXPORT,              200, false},
    {"POST",   A "/import",                     SVC_OP_IMPORT,              200, true},
    {"GET",    A "/client-metrics/features/{feature}", SVC_OP_FEATURE_USAGE, 200, false},
    {"GET",    A "/metrics/applications",       SVC_OP_APPLICATION_LIST,    200, false},
    {"GET",    A "/release-plans",              SVC_OP_PLAN_LIST,           200, false},
    {"GET",    FENV "/release-plan",            SVC_OP_PLAN_GET,            200, false},
    {"PUT",    FENV "/release-plan",            SVC_OP_PLAN_PUT,            200, true},
    {"DELETE", FENV "/release-plan",            SVC_OP_PLAN_DELETE,         200, false},
    {"POST",   FENV "/release-plan/{id}",       SVC_OP_PLAN_ACTION,         200, false},
    {"GET",    FENV "/scheduled-changes",       SVC_OP_SCHEDULE_LIST,       200, false},
    {"POST",   FENV "/scheduled-changes",       SVC_OP_SCHEDULE_CREATE,     201, true},
    {"DELETE", FENV "/scheduled-changes/{id}",  SVC_OP_SCHEDULE_DELETE,     200, false},
    {"GET",    A "/stale-report",               SVC_OP_STALE_REPORT,        200, false},
    /* Custom strategies, archive in bulk, the Unleash import. */
    {"GET",    A "/strategies",                 SVC_OP_STRATEGY_DEF_LIST,   200, false},
    {"POST",   A "/strategies",                 SVC_OP_STRATEGY_DEF_CREATE, 201, true},
    {"GET",    A "/strategies/{id}",            SVC_OP_STRATEGY_DEF_GET,    200, false},
    {"PUT",    A "/strategies/{id}",            SVC_OP_STRATEGY_DEF_UPDATE, 200, true},
    {"DELETE", A "/strategies/{id}",            SVC_OP_STRATEGY_DEF_DELETE, 200, false},
    {"POST",   A "/strategies/{id}/deprecate",  SVC_OP_STRATEGY_DEF_DEPRECATE, 200, false},
    {"POST",   A "/strategies/{id}/reactivate", SVC_OP_STRATEGY_DEF_REACTIVATE, 200, false},
    {"GET",    A "/archive/features/{project}", SVC_OP_ARCHIVE_LIST_PROJECT, 200, false},
    {"POST",   A "/projects/{project}/archive", SVC_OP_ARCHIVE_BULK,        202, true},
    {"POST",   A "/projects/{project}/revive",  SVC_OP_REVIVE_BULK,         200, true},
    {"POST",   A "/projects/{project}/delete",  SVC_OP_DELETE_BULK,         200, true},
    {"POST",   A "/import/unleash",             SVC_OP_IMPORT_UNLEASH,      200, true},
    {"GET",    FENV "/results",                 SVC_OP_RESULTS,             200, false},
};
/* clang-format on */

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* One segment of the request path, still percent-encoded. */
typedef struct seg {
    const char *p; /* first byte */
    size_t n;      /* length, > 0 */
} seg;

size_t router_count(void)
{
    return NROUTES;
}

const router_route *router_at(size_t i)
{
    return i < NROUTES ? &routes[i] : NULL;
}

/* Splits `path` on '/' into at most VX_LIMIT_HTTP_SEGMENTS non-empty
 * segments; a single trailing '/' is dropped. Returns the count, or -1
 * when the path is not "/..." or has an empty or surplus segment. */
static int split_path(const char *path, size_t len, seg *out)
{
    if (len == 0 || path[0] != '/')
        return -1;
    if (len > 1 && path[len - 1] == '/')
        len--;
    int n = 0;
    size_t i = 1;
    while (i <= len && len > 1) {
        const char *end = memchr(path + i, '/', len - i);
        size_t stop = end ? (size_t)(end - path) : len;
        if (stop == i || n == VX_LIMIT_HTTP_SEGMENTS)
            return -1;
        out[n].p = path + i;
        out[n].n = stop - i;
        n++;
        i = stop + 1;
    }
    return n;
}

/* Compares the template `tpl` against the segments. Returns -1 when it
 * does not match, else a specificity score: bit (31 - i) set when segment
 * i is a literal, so literal-first templates score higher. */
static long long template_score(const char *tpl, const seg *segs, int n)
{
    long long score = 0;
    const char *t = tpl + 1; /* templates start with '/' */
    for (int i = 0; i < n; i++) {
        if (*t == '\0')
            return -1;
        const char *slash = strchr(t, '/');
        size_t tn = slash ? (size_t)(slash - t) : strlen(t);
        bool param = tn >= 2 && t[0] == '{' && t[tn - 1] == '}';
        if (!param) {
            if (tn != segs[i].n || memcmp(t, segs[i].p, tn) != 0)
                return -1;
            score |= 1LL << (31 - i);
        }
        t += tn;
        if (*t == '/')
            t++;
    }
    return *t == '\0' ? score : -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* True when `s[0..n)` is well-formed UTF-8 (no overlongs, no surrogates). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t more;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            more = 1;
            min = 0x80;
            c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            more = 2;
            min = 0x800;
            c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            more = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}

/* Percent-decodes one segment into the arena. '+' stays '+' (that rule is
 * for query strings only). Returns VX_OK, VX_EINVAL (bad escape, NUL or
 * not UTF-8) or VX_ENOMEM. */
static vx_status decode_segment(const seg *s, vx_arena *arena, char **out)
{
    vx_status st = VX_OK;
    char *d = vx__arena_alloc(arena, s->n + 1);
    if (!d) {
        st = VX_ENOMEM;
        goto out;
    }
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        char c = s->p[i];
        if (c == '%') {
            int hi = s->n - i >= 3 ? hexval(s->p[i + 1]) : -1;
            int lo = s->n - i >= 3 ? hexval(s->p[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                st = VX_EINVAL;
                goto out;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0') {
            st = VX_EINVAL;
            goto out;
        }
        d[o++] = c;
    }
    d[o] = '\0';
    if (!utf8_valid((const unsigned char *)d, o))
        st = VX_EINVAL;
out:
    *out = st == VX_OK ? d : NULL;
    return st;
}

vx_status router_decode(const char *p, size_t n, vx_arena *arena, char **out)
{
    seg s = {p, n};
    return decode_segment(&s, arena, out);
}

/* Stores a decoded parameter in the svc_req field its name selects. */
static bool set_param(svc_req *req, const char *name, size_t n,
                      const char *value)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"project", offsetof(svc_req, project)},
        {"feature", offsetof(svc_req, feature)},
        {"environment", offsetof(svc_req, environment)},
        {"id", offsetof(svc_req, id)},
        {"type", offsetof(svc_req, tag_type)},
        {"value", offsetof(svc_req, tag_value)},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strlen(fields[i].name) == n &&
            memcmp(fields[i].name, name, n) == 0) {
            const char **slot =
                (const char **)(void *)((char *)req + fields[i].off);
            *slot = value;
            return true;
        }
    }
    return false;
}

/* Fills the parameters of `r` from the segments. */
static router_result fill_params(const router_route *r, const seg *segs, int n,
                                 vx_arena *arena, svc_req *req, vx_error *err)
{
    const char *t = r->path + 1;
    for (int i = 0; i < n; i++) {
        const char *slash = strchr(t, '/');
        size_t tn = slash ? (size_t)(slash - t) : strlen(t);
        if (t[0] == '{') {
            char *value = NULL;
            vx_status st = decode_segment(&segs[i], arena, &value);
            if (st == VX_ENOMEM)
                return ROUTER_NOMEM;
            if (st != VX_OK) {
                char where[VX_ERROR_PATH_MAX];
                snprintf(where, sizeof(where), "/path/%.*s", (int)(tn - 2),
                         t + 1);
                vx__error_set(err, VX_EINVAL, where,
                              "%.*s is not valid percent-encoded UTF-8",
                              (int)(tn - 2), t + 1);
                return ROUTER_BAD_PARAM;
            }
            bool known = set_param(req, t + 1, tn - 2, value);
            assert(known && "template parameter names a svc_req field");
            (void)known;
        }
        t += tn;
        if (*t == '/')
            t++;
    }
    return ROUTER_FOUND;
}

/* Appends `method` to the comma-separated Allow list unless present. */
static void allow_add(char *allow, const char *method)
{
    size_t len = strlen(allow);
    size_t mlen = strlen(method);
    const char *p = allow;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == mlen && memcmp(p, method, n) == 0)
            return;
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    if (len + mlen + 3 > ROUTER_ALLOW_MAX)
        return;
    if (len > 0) {
        memcpy(allow + len, ", ", 2);
        len += 2;
    }
    memcpy(allow + len, method, mlen + 1);
}

router_result router_match(const char *method, const char *path, size_t len,
                           vx_arena *arena, router_hit *hit, vx_error *err)
{
    seg segs[VX_LIMIT_HTTP_SEGMENTS];
    memset(hit, 0, sizeof(*hit));
    int n = split_path(path, len, segs);
    if (n <= 0)
        return ROUTER_NOT_FOUND;
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    long long best_score = -1;
    size_t best = 0;
    bool any = false;
    for (size_t i = 0; i < NROUTES; i++) {
        long long score = template_score(routes[i].path, segs, n);
        if (score < 0)
            continue;
        any = true;
        allow_add(hit->allow, routes[i].method);
        if (strcmp(routes[i].method, want) == 0 && score > best_score) {
            best_score = score;
            best = i;
        }
    }
    if (!any)
        return ROUTER_NOT_FOUND;
    if (best_score < 0)
        return ROUTER_NO_METHOD;
    hit->allow[0] = '\0';
    hit->index = best;
    hit->req.op = routes[best].op;
    router_result res =
        fill_params(&routes[best], segs, n, arena, &hit->req, err);
    if (res == ROUTER_FOUND)
        hit->route = &routes[best];
    return res;
}
