/* The operator's egress allowlists and the gateway's payload schema applied
 * to what editors write: a model flag's upstream payloads (base_url,
 * model, api_key_env, timeout_ms, ollama_url, stickiness,
 * forward_metadata; see docs/gateway.md) and release-plan webhooks. The
 * schema is base/upstream.c and the policy base/egress.c, the same code
 * the gateway calls with, so nothing is stored that the gateway would
 * refuse; the gateway and the scheduler still check again when they call
 * (the operator's lists may have narrowed since).
 *
 * Invariant: only what a write adds or changes is checked, so a flag
 * whose stored upstream the gateway no longer takes can still be turned
 * off, rolled back or edited otherwise (its calls are refused instead). */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "base/upstream.h"
#include "service/internal.h"

#define MODEL_PREFIX "model." /* the gateway's flags (gateway_api.c) */

vx_status svc_egress_check(const char *egress_allow,
                           const char *gateway_key_env, vx_error *err)
{
    vx_egress *p = NULL;
    vx_status st = vx__egress_new(egress_allow, gateway_key_env, &p, err);
    vx__egress_free(&p);
    return st;
}

const vx_egress *svc_egress(const service *s)
{
    return s->egress;
}

vx_status svc__egress_check_url(svc_ctx *c, const char *url, const char *path)
{
    return vx__egress_url(c->s->egress, url, path, c->err);
}

/* Calls fn for every variant payload of `feature`: the environments'
 * lists and every strategy's, with the place of each. */
typedef struct payload_at {
    size_t env;           /* index in environments */
    const char *env_name; /* its name */
    long strategy;        /* index in its strategies, -1: its own list */
    size_t variant;       /* index in that list */
    const char *value;    /* the payload's value text */
} payload_at;

typedef vx_status (*payload_fn)(svc_ctx *c, void *ud, const payload_at *at);

static vx_status each_payload(svc_ctx *c, const json_t *feature, payload_fn fn,
                              void *ud)
{
    vx_status st = VX_OK;
    size_t i, j, k;
    const json_t *e, *s, *v;
    json_array_foreach (json_object_get(feature, "environments"), i, e) {
        payload_at at = {.env = i,
                         .env_name =
                             json_string_value(json_object_get(e, "name"))};
        at.strategy = -1;
        json_array_foreach (json_object_get(e, "variants"), j, v) {
            at.variant = j;
            at.value = json_string_value(
                json_object_get(json_object_get(v, "payload"), "value"));
            st = at.value ? fn(c, ud, &at) : VX_OK;
            if (st != VX_OK)
                return st;
        }
        json_array_foreach (json_object_get(e, "strategies"), k, s) {
            at.strategy = (long)k;
            json_array_foreach (json_object_get(s, "variants"), j, v) {
                at.variant = j;
                at.value = json_string_value(
                    json_object_get(json_object_get(v, "payload"), "value"));
                st = at.value ? fn(c, ud, &at) : VX_OK;
                if (st != VX_OK)
                    return st;
            }
        }
    }
    return st;
}

/* The payload values of a stored flag (borrowed from it). */
typedef struct known {
    const char **values; /* [n] borrowed from the stored flag */
    size_t n, cap;       /* used and allocated */
} known;

static vx_status collect(svc_ctx *c, void *ud, const payload_at *at)
{
    known *k = ud;
    (void)c;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        const char **p = vx__realloc(k->values, cap * sizeof(*p));
        if (!p)
            return VX_ENOMEM;
        k->values = p;
        k->cap = cap;
    }
    k->values[k->n++] = at->value;
    return VX_OK;
}

typedef struct checking {
    const known *before; /* unchanged payloads pass */
    const char *base;    /* path prefix for whole-flag paths */
} checking;

/* Appends "/" + the JSON-pointer escape of `tok` to `path` (`*len` used of
 * `cap`); false when it does not fit. */
static bool push_token(char *path, size_t cap, size_t *len, const char *tok)
{
    if (*len + 1 >= cap)
        return false;
    path[(*len)++] = '/';
    for (; *tok; tok++) {
        const char *esc = *tok == '~' ? "~0" : *tok == '/' ? "~1" : NULL;
        size_t n = esc ? 2 : 1;
        if (*len + n >= cap)
            return false;
        memcpy(path + *len, esc ? esc : tok, n);
        *len += n;
    }
    path[*len] = '\0';
    return true;
}

/* Finds in the request body the string `value` held as a payload's
 * "value" ({"payload": {"value": ...}}, in whatever place the route's body
 * has it: a list of variants, a strategy, a JSON Patch, an import) and
 * writes its JSON pointer to `path`. False when it is not there. */
static bool find_payload(const json_t *node, const char *value, bool in_payload,
                         char *path, size_t cap, size_t len, int depth)
{
    if (depth > VX_LIMIT_HTTP_JSON_DEPTH)
        return false;
    if (json_is_object(node)) {
        const char *key;
        const json_t *v;
        json_object_foreach ((json_t *)node, key, v) {
            size_t l = len;
            if (in_payload && strcmp(key, "value") == 0 && json_is_string(v) &&
                strcmp(json_string_value(v), value) == 0)
                return push_token(path, cap, &l, key);
            if ((json_is_object(v) || json_is_array(v)) &&
                push_token(path, cap, &l, key) &&
                find_payload(v, value, strcmp(key, "payload") == 0, path, cap,
                             l, depth + 1))
                return true;
        }
    } else if (json_is_array(node)) {
        size_t i;
        const json_t *v;
        json_array_foreach (node, i, v) {
            char idx[24];
            size_t l = len;
            snprintf(idx, sizeof(idx), "%zu", i);
            if ((json_is_object(v) || json_is_array(v)) &&
                push_token(path, cap, &l, idx) &&
                find_payload(v, value, false, path, cap, l, depth + 1))
                return true;
        }
    }
    path[len] = '\0';
    return false;
}

/* The path of `suffix` (a JSON pointer inside the payload's value, "" for
 * the value itself): where the request body holds the payload (so the
 * editor sees the field they sent), else its place in the flag document
 * (after `base`). */
static void member_path(svc_ctx *c, const checking *k, const payload_at *at,
                        const char *suffix, char *out, size_t cap)
{
    out[0] = '\0';
    if (find_payload(c->req->body, at->value, false, out, cap, 0, 0)) {
        size_t n = strlen(out);
        if (n + strlen(suffix) < cap) {
            memcpy(out + n, suffix, strlen(suffix) + 1);
            return;
        }
    }
    if (at->strategy < 0)
        snprintf(out, cap, "%s/environments/%zu/variants/%zu/payload/value%s",
                 k->base, at->env, at->variant, suffix);
    else
        snprintf(out, cap,
                 "%s/environments/%zu/strategies/%ld/variants/%zu/payload/"
                 "value%s",
                 k->base, at->env, at->strategy, at->variant, suffix);
}

/* One payload: the gateway's schema, then the operator's allowlists for
 * its URLs and key variable. */
static vx_status check_one(svc_ctx *c, void *ud, const payload_at *at)
{
    const checking *k = ud;
    for (size_t i = 0; k->before && i < k->before->n; i++)
        if (strcmp(k->before->values[i], at->value) == 0)
            return VX_OK; /* stored before: not this write's doing */
    vx_upstream *up = vx__malloc(sizeof(*up));
    char path[VX_ERROR_PATH_MAX];
    vx_error perr;
    memset(&perr, 0, sizeof(perr));
    vx_status st =
        up ? vx__upstream_parse(at->value, strlen(at->value), up, &perr)
           : VX_ENOMEM;
    if (st == VX_ENOMEM) {
        st = svc__fail(c, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    if (st != VX_OK) {
        member_path(c, k, at, perr.path, path, sizeof(path));
        st = svc__fail(c, st, path,
                       "%s (a model flag's variant payload is the upstream "
                       "the gateway calls: docs/gateway.md)",
                       perr.message);
        goto out;
    }
    member_path(c, k, at, "/base_url", path, sizeof(path));
    st = vx__egress_url(c->s->egress, up->base_url, path, c->err);
    if (st == VX_OK && up->ollama_given) {
        member_path(c, k, at, "/ollama_url", path, sizeof(path));
        st = vx__egress_url(c->s->egress, up->ollama_url, path, c->err);
    }
    if (st == VX_OK && up->key_env[0]) {
        member_path(c, k, at, "/api_key_env", path, sizeof(path));
        st = vx__egress_key(c->s->egress, up->key_env, path, c->err);
    }
out:
    vx__free(up);
    return st;
}

vx_status svc__model_check_flag(svc_ctx *c, const json_t *feature,
                                const json_t *before, const char *base)
{
    const char *name = json_string_value(json_object_get(feature, "name"));
    known k = {0};
    vx_status st = VX_OK;
    if (!name || strncmp(name, MODEL_PREFIX, strlen(MODEL_PREFIX)) != 0)
        return VX_OK; /* only the gateway's flags name upstreams */
    if (before)
        st = each_payload(c, before, collect, &k);
    if (st != VX_OK) {
        vx__free(k.values);
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    }
    checking ck = {.before = before ? &k : NULL, .base = base ? base : ""};
    st = each_payload(c, feature, check_one, &ck);
    vx__free(k.values);
    return st;
}

vx_status svc__model_check_save(svc_ctx *c, const json_t *feature)
{
    const char *name = json_string_value(json_object_get(feature, "name"));
    json_t *before = NULL;
    if (!name || strncmp(name, MODEL_PREFIX, strlen(MODEL_PREFIX)) != 0)
        return VX_OK;
    vx_status st = svc__get(c, STORE_FEATURE, name, &before);
    if (st == VX_ENOTFOUND)
        st = VX_OK; /* a new flag: everything in it is new */
    if (st == VX_OK)
        st = svc__model_check_flag(c, feature, before, "");
    json_decref(before);
    return st;
}
