/* JSON contexts (the Unleash SDK context object) to vx_context values, for
 * tools, tests and benchmarks. One arena owns every string of the set.
 * Top-level fields other than the six built-ins are kept as properties
 * ahead of `properties`, because the SDKs look a field up at the top level
 * first (resolveContextValue). */
#include <jansson.h>
#include <string.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/error.h"
#include "base/limits.h"
#include "core/jsonpos.h"
#include "vexil/vexil.h"

struct vx_context_set {
    vx_arena arena;       /* owns everything below */
    vx_context *contexts; /* parsed contexts */
    size_t n;             /* count */
};

typedef struct cparse {
    const char *text;             /* input, for positions */
    size_t len;                   /* its length */
    vx_error *err;                /* may be NULL */
    vx_arena *arena;              /* the set's arena */
    char path[VX_ERROR_PATH_MAX]; /* current pointer */
} cparse;

static vx_status cfail(cparse *P, vx_status code, const char *msg,
                       const char *detail)
{
    if (!P->err)
        return code;
    vx__error_set(P->err, code, P->path, "%s%s", msg, detail ? detail : "");
    vx__json_locate(P->text, P->len, P->path, &P->err->line, &P->err->column);
    return code;
}

static vx_status str_of(cparse *P, const json_t *v, vx_str *out)
{
    *out = (vx_str){NULL, 0};
    if (json_is_null(v))
        return VX_OK;
    if (!json_is_string(v))
        return cfail(P, VX_ESCHEMA, "expected a string or null", NULL);
    size_t n = json_string_length(v);
    char *p = vx__arena_strndup(P->arena, json_string_value(v), n);
    if (!p)
        return cfail(P, VX_ENOMEM, "out of memory", NULL);
    *out = (vx_str){p, n};
    return VX_OK;
}

static vx_status parse_one(cparse *P, const json_t *obj, int64_t now_ms,
                           vx_context *c)
{
    memset(c, 0, sizeof(*c));
    c->now_ms = now_ms;
    if (!json_is_object(obj))
        return cfail(P, VX_ESCHEMA, "expected a context object", NULL);
    size_t base = strlen(P->path);
    const json_t *props = json_object_get(obj, "properties");
    if (props && !json_is_null(props) && !json_is_object(props)) {
        snprintf(P->path + base, sizeof(P->path) - base, "/properties");
        return cfail(P, VX_ESCHEMA, "expected an object", NULL);
    }
    size_t nprops =
        json_object_size(obj) + (props ? json_object_size(props) : 0);
    if (nprops > VX_LIMIT_PROPS)
        return cfail(P, VX_ELIMIT, "too many context fields", NULL);
    vx_prop *pv = vx__arena_calloc(P->arena, nprops ? nprops : 1, sizeof(*pv));
    if (!pv)
        return cfail(P, VX_ENOMEM, "out of memory", NULL);
    size_t np = 0;
    const char *key;
    json_t *v;
    static const char *const builtin[] = {"userId",        "sessionId",
                                          "remoteAddress", "environment",
                                          "appName",       "currentTime"};
    json_object_foreach ((json_t *)obj, key, v) {
        if (strcmp(key, "properties") == 0)
            continue;
        snprintf(P->path + base, sizeof(P->path) - base, "/%s", key);
        vx_str s;
        vx_status st = str_of(P, v, &s);
        if (st != VX_OK)
            return st;
        vx_str *slot = NULL;
        vx_str *fields[] = {&c->user_id,     &c->session_id, &c->remote_address,
                            &c->environment, &c->app_name,   &c->current_time};
        for (size_t i = 0; i < 6; i++) {
            if (strcmp(key, builtin[i]) == 0)
                slot = fields[i];
        }
        if (slot) {
            *slot = s;
        } else {
            char *k = vx__arena_strndup(P->arena, key, strlen(key));
            if (!k)
                return cfail(P, VX_ENOMEM, "out of memory", NULL);
            pv[np++] = (vx_prop){{k, strlen(k)}, s};
        }
    }
    if (props && json_is_object(props)) {
        json_object_foreach ((json_t *)props, key, v) {
            snprintf(P->path + base, sizeof(P->path) - base, "/properties/%s",
                     key);
            vx_str s;
            vx_status st = str_of(P, v, &s);
            if (st != VX_OK)
                return st;
            char *k = vx__arena_strndup(P->arena, key, strlen(key));
            if (!k)
                return cfail(P, VX_ENOMEM, "out of memory", NULL);
            pv[np++] = (vx_prop){{k, strlen(k)}, s};
        }
    }
    if (c->current_time.ptr) {
        snprintf(P->path + base, sizeof(P->path) - base, "/currentTime");
        if (!vx_time_parse(c->current_time.ptr, c->current_time.len,
                           &c->now_ms))
            return cfail(P, VX_ESCHEMA, "not an ISO-8601 date or date-time: ",
                         c->current_time.ptr);
    }
    P->path[base] = '\0';
    c->props = pv;
    c->nprops = np;
    return VX_OK;
}

VX_API vx_status vx_context_set_parse(const char *json, size_t len,
                                      int64_t now_ms, vx_context_set **out,
                                      vx_error *err)
{
    json_error_t jerr;
    *out = NULL;
    uint64_t refused = vx__alloc_failures();
    json_t *doc = json_loadb(json, len, 0, &jerr);
    if (!doc && vx__alloc_failures() != refused)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    if (!doc) {
        vx__error_set(err, VX_EPARSE, "", "%s", jerr.text);
        if (err)
            vx__json_error_pos(json, len, (size_t)jerr.position, &err->line,
                               &err->column);
        return VX_EPARSE;
    }
    vx_context_set *cs = vx__malloc(sizeof(*cs));
    if (!cs) {
        json_decref(doc);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    vx__arena_init(&cs->arena, 4096);
    cparse P = {.text = json, .len = len, .err = err, .arena = &cs->arena};
    vx_status st = VX_OK;
    size_t n = json_is_array(doc) ? json_array_size(doc) : 1;
    if (n > VX_LIMIT_CONTEXTS)
        st = cfail(&P, VX_ELIMIT, "too many contexts", NULL);
    cs->n = n;
    cs->contexts = st == VX_OK ? vx__arena_calloc(&cs->arena, n ? n : 1,
                                                  sizeof(vx_context))
                               : NULL;
    if (st == VX_OK && !cs->contexts)
        st = cfail(&P, VX_ENOMEM, "out of memory", NULL);
    for (size_t i = 0; i < n && st == VX_OK; i++) {
        if (json_is_array(doc)) {
            snprintf(P.path, sizeof(P.path), "/%zu", i);
            st =
                parse_one(&P, json_array_get(doc, i), now_ms, &cs->contexts[i]);
        } else {
            P.path[0] = '\0';
            st = parse_one(&P, doc, now_ms, &cs->contexts[i]);
        }
    }
    json_decref(doc);
    if (st != VX_OK) {
        vx_context_set_free(cs);
        return st;
    }
    *out = cs;
    return VX_OK;
}

VX_API size_t vx_context_set_count(const vx_context_set *cs)
{
    return cs ? cs->n : 0;
}

VX_API const vx_context *vx_context_set_get(const vx_context_set *cs, size_t i)
{
    return cs && i < cs->n ? &cs->contexts[i] : NULL;
}

VX_API void vx_context_set_free(vx_context_set *cs)
{
    if (!cs)
        return;
    vx__arena_release(&cs->arena);
    vx__free(cs);
}
