/* Strategy definitions, as Unleash has them (/api/admin/strategies): the
 * built-in strategies libvexil evaluates, listed from a const table and
 * never stored, and custom strategies with typed parameters, stored under
 * STORE_STRATEGY. A flag may use a custom strategy once it is defined; its
 * parameters are checked against the definition on every write
 * (svc__strategy_params_check, called from validate.c). SDKs with the
 * strategy registered evaluate it; every server-side evaluator answers
 * false for it, as Unleash's own server does (docs/semantics.md).
 *
 * Invariant: a stored definition is never a built-in name, except for the
 * marker {name, builtIn: true, deprecated} that deprecates a built-in; a
 * custom definition is deleted only when no flag (archived ones included)
 * uses it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "service/internal.h"
#include "vexil/vexil.h"

/* The built-in strategies, as Unleash 8 lists them (its order, display
 * names, descriptions and parameters), then the legacy ones Vexil still
 * evaluates. `params` is the JSON of the parameter list. */
static const struct {
    const char *name, *display, *description, *params;
    bool deprecated; /* deprecated out of the box */
} BUILTIN[] = {
    {"flexibleRollout", "Gradual rollout",
     "Roll out to a percentage of your userbase, and ensure that the "
     "experience is the same for the user on each visit.",
     "[{\"name\":\"rollout\",\"type\":\"percentage\",\"description\":\"\","
     "\"required\":false},{\"name\":\"stickiness\",\"type\":\"string\","
     "\"description\":\"Used define stickiness. Possible values: default, "
     "userId, sessionId, random\",\"required\":true},{\"name\":\"groupId\","
     "\"type\":\"string\",\"description\":\"Used to define a activation "
     "groups, which allows you to correlate across feature toggles.\","
     "\"required\":true}]",
     false},
    {"default", "Standard",
     "This strategy turns on / off for your entire userbase. Prefer using "
     "\"Gradual rollout\" strategy (100%=on, 0%=off).",
     "[]", false},
    {"remoteAddress", "IPs",
     "Enable the feature for a specific set of IP addresses.",
     "[{\"name\":\"IPs\",\"type\":\"list\",\"description\":\"List of IPs to "
     "enable the feature toggle for.\",\"required\":true}]",
     false},
    {"applicationHostname", "Hosts",
     "Enable the feature for a specific set of hostnames.",
     "[{\"name\":\"hostNames\",\"type\":\"list\",\"description\":\"List of "
     "hostnames to enable the feature toggle for.\",\"required\":false}]",
     false},
    {"userWithId", "UserIDs",
     "Enable the feature for a specific set of userIds.",
     "[{\"name\":\"userIds\",\"type\":\"list\",\"description\":\"\","
     "\"required\":false}]",
     false},
    {"gradualRolloutUserId", NULL,
     "Gradually activate feature toggle for logged in users. Stickiness "
     "based on user id.",
     "[{\"name\":\"percentage\",\"type\":\"percentage\",\"description\":\"\","
     "\"required\":false},{\"name\":\"groupId\",\"type\":\"string\","
     "\"description\":\"Used to define a activation groups, which allows you "
     "to correlate across feature toggles.\",\"required\":true}]",
     true},
    {"gradualRolloutSessionId", NULL,
     "Gradually activate feature toggle. Stickiness based on session id.",
     "[{\"name\":\"percentage\",\"type\":\"percentage\",\"description\":\"\","
     "\"required\":false},{\"name\":\"groupId\",\"type\":\"string\","
     "\"description\":\"Used to define a activation groups, which allows you "
     "to correlate across feature toggles.\",\"required\":true}]",
     true},
    {"gradualRolloutRandom", NULL,
     "Randomly activate the feature toggle. No stickiness.",
     "[{\"name\":\"percentage\",\"type\":\"percentage\",\"description\":\"\","
     "\"required\":false}]",
     true},
};
#define NBUILTIN (sizeof(BUILTIN) / sizeof(BUILTIN[0]))

static const char *const PARAM_TYPES[] = {"string", "percentage", "list",
                                          "number", "boolean"};

static int builtin_index(const char *name)
{
    for (size_t i = 0; name && i < NBUILTIN; i++)
        if (strcmp(BUILTIN[i].name, name) == 0)
            return (int)i;
    return -1;
}

bool svc__strategy_builtin(const char *name)
{
    return builtin_index(name) >= 0;
}

/* The API view of built-in `i`, deprecated as `marker` says (may be NULL). */
static json_t *builtin_view(size_t i, const json_t *marker)
{
    const json_t *dep = json_object_get(marker, "deprecated");
    return json_pack("{ss? ss sb ss so sb sn}", "displayName",
                     BUILTIN[i].display, "name", BUILTIN[i].name, "editable", 0,
                     "description", BUILTIN[i].description, "parameters",
                     json_loads(BUILTIN[i].params, 0, NULL), "deprecated",
                     dep ? json_is_true(dep) : BUILTIN[i].deprecated, "title");
}

/* The API view of a stored custom definition (Unleash's field order). */
static json_t *custom_view(const json_t *d)
{
    return json_pack(
        "{sO sO sb sO sO sO sO}", "displayName",
        json_object_get(d, "displayName"), "name", json_object_get(d, "name"),
        "editable", 1, "description", json_object_get(d, "description"),
        "parameters", json_object_get(d, "parameters"), "deprecated",
        json_object_get(d, "deprecated"), "title", json_object_get(d, "title"));
}

vx_status svc__strategy_def(svc_ctx *c, const char *name, const char *path,
                            json_t **out)
{
    *out = NULL;
    json_t *d = NULL;
    vx_status st = svc__get(c, STORE_STRATEGY, name ? name : "", &d);
    if (st == VX_OK && json_is_true(json_object_get(d, "builtIn"))) {
        json_decref(d);
        st = VX_ENOTFOUND;
    }
    if (st == VX_ENOTFOUND)
        return svc__fail(c, VX_EINVAL, path,
                         "unknown strategy '%s': define it first "
                         "(POST /api/admin/strategies)",
                         name ? name : "");
    if (st == VX_OK)
        *out = d;
    return st;
}

/* ---- parameter values against a definition ------------------------------- */

static bool blank(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return *s == '\0';
}

/* An integer from 0 to 100, white space around it allowed (the console's
 * slider writes "50"; Unleash's SDKs read it with Number()). */
static bool percentage_ok(const char *s)
{
    while (*s == ' ')
        s++;
    int v = 0, digits = 0;
    for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
        v = v * 10 + (*s - '0');
    while (*s == ' ')
        s++;
    return digits > 0 && digits < 4 && *s == '\0' && v <= 100;
}

vx_status svc__strategy_params_check(svc_ctx *c, const json_t *def,
                                     const json_t *params, const char *path)
{
    const char *sname = json_string_value(json_object_get(def, "name"));
    size_t i;
    const json_t *p;
    json_array_foreach (json_object_get(def, "parameters"), i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!name || !type)
            continue; /* not a definition this file wrote */
        const char *v = json_string_value(json_object_get(params, name));
        char q[300];
        snprintf(q, sizeof(q), "%s/%s", path, name);
        if (!v || blank(v)) {
            if (json_is_true(json_object_get(p, "required")))
                return svc__fail(c, VX_EINVAL, q,
                                 "strategy %s needs the parameter %s (%s)",
                                 sname, name, type);
            continue;
        }
        if (strcmp(type, "percentage") == 0 && !percentage_ok(v))
            return svc__fail(c, VX_EINVAL, q,
                             "%s is a percentage: an integer from 0 to 100, "
                             "got '%s'",
                             name, v);
        if (strcmp(type, "number") == 0 &&
            !vx_operator_value_ok("NUM_EQ", 6, v, strlen(v)))
            return svc__fail(c, VX_EINVAL, q, "%s is a number, got '%s'", name,
                             v);
        if (strcmp(type, "boolean") == 0 && strcmp(v, "true") != 0 &&
            strcmp(v, "false") != 0)
            return svc__fail(c, VX_EINVAL, q,
                             "%s is a boolean: true or false, got '%s'", name,
                             v);
    }
    return VX_OK;
}

/* ---- definitions ------------------------------------------------------- */

vx_status svc__strategy_def_params(svc_ctx *c, const json_t *in,
                                   const char *base, json_t **out)
{
    *out = NULL;
    char where[256];
    snprintf(where, sizeof(where), "%s/parameters", base);
    vx_status st = svc__expect_array(c, in, where, VX_LIMIT_STRATEGY_PARAMS);
    if (st != VX_OK)
        return st;
    json_t *res = json_array();
    size_t i;
    const json_t *p;
    json_array_foreach (in, i, p) {
        char at[300], q[330];
        snprintf(at, sizeof(at), "%s/%zu", where, i);
        st = svc__expect_object(c, p, at);
        if (st != VX_OK)
            break;
        const json_t *name = json_object_get(p, "name");
        snprintf(q, sizeof(q), "%s/name", at);
        if (!json_is_string(name) || json_string_length(name) == 0 ||
            json_string_length(name) > 100 ||
            strlen(json_string_value(name)) != json_string_length(name)) {
            st = svc__fail(c, VX_EINVAL, q,
                           "a parameter name is a string of 1-100 characters");
            break;
        }
        for (size_t j = 0; j < i; j++) {
            if (json_equal(json_object_get(json_array_get(res, j), "name"),
                           (json_t *)name))
                st = svc__fail(c, VX_ECONFLICT, q,
                               "parameter '%s' is defined twice",
                               json_string_value(name));
        }
        const json_t *type = json_object_get(p, "type");
        snprintf(q, sizeof(q), "%s/type", at);
        bool known = false;
        for (size_t k = 0; json_is_string(type) &&
                           k < sizeof(PARAM_TYPES) / sizeof(PARAM_TYPES[0]);
             k++)
            known =
                known || strcmp(json_string_value(type), PARAM_TYPES[k]) == 0;
        if (st == VX_OK && !known)
            st = svc__fail(c, VX_EINVAL, q,
                           "type must be string, percentage, list, number or "
                           "boolean");
        const char *desc = NULL;
        int req = -1;
        if (st == VX_OK)
            st = svc__opt_string(c, p, "description", at, &desc);
        if (st == VX_OK)
            st = svc__opt_bool(c, p, "required", at, &req);
        if (st != VX_OK)
            break;
        json_array_append_new(res,
                              json_pack("{sO sO ss sb}", "name", name, "type",
                                        type, "description", desc ? desc : "",
                                        "required", req == 1));
    }
    if (st != VX_OK) {
        json_decref(res);
        return st;
    }
    *out = res;
    return VX_OK;
}

/* Fills title, description and parameters of `d` from the request body. */
static vx_status fill(svc_ctx *c, json_t *d)
{
    const json_t *b = c->req->body;
    const char *title = NULL, *desc = NULL;
    json_t *params = NULL;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__opt_string(c, b, "title", "", &title);
    if (st == VX_OK)
        st = svc__opt_string(c, b, "description", "", &desc);
    if (st == VX_OK)
        st = svc__strategy_def_params(c, json_object_get(b, "parameters"), "",
                                      &params);
    if (st != VX_OK)
        return st;
    if (title || !json_object_get(d, "title"))
        json_object_set_new(d, "title",
                            title ? json_string(title) : json_null());
    if (desc || !json_object_get(d, "description"))
        json_object_set_new(d, "description", json_string(desc ? desc : ""));
    json_object_set_new(d, "parameters", params);
    return VX_OK;
}

/* Loads custom definition c->req->id: 404 when there is none; 409 for a
 * built-in when `editing`. */
static vx_status load(svc_ctx *c, bool editing, json_t **out)
{
    *out = NULL;
    const char *name = c->req->id ? c->req->id : "";
    if (editing && svc__strategy_builtin(name))
        return svc__fail(c, VX_ECONFLICT, "",
                         "'%s' is a built-in strategy: it cannot be changed "
                         "or deleted",
                         name);
    vx_status st = svc__get(c, STORE_STRATEGY, name, out);
    if (st == VX_OK && json_is_true(json_object_get(*out, "builtIn"))) {
        json_decref(*out);
        *out = NULL;
        st = VX_ENOTFOUND;
    }
    return st == VX_ENOTFOUND ? svc__not_found(c, "strategy", name) : st;
}

vx_status svc__op_STRATEGY_DEF_LIST(svc_ctx *c, json_t **out)
{
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_STRATEGY, NULL, &all);
    if (st != VX_OK)
        return st;
    json_t *list = json_array();
    for (size_t i = 0; i < NBUILTIN; i++) {
        json_t *marker = NULL;
        size_t j;
        json_t *d;
        json_array_foreach (all, j, d) {
            if (strcmp(json_string_value(json_object_get(d, "name")),
                       BUILTIN[i].name) == 0)
                marker = d;
        }
        json_array_append_new(list, builtin_view(i, marker));
    }
    /* Custom definitions by name, after the built-ins, as Unleash sorts
     * them (its sort order 9999, then the name). */
    size_t n = json_array_size(all), k = 0;
    json_t **v = vx__calloc(n ? n : 1, sizeof(*v));
    if (!v) {
        json_decref(list);
        json_decref(all);
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(all, i);
        if (!json_is_true(json_object_get(d, "builtIn")))
            v[k++] = d;
    }
    for (size_t i = 1; i < k; i++) {
        json_t *x = v[i];
        size_t j = i;
        while (j > 0 &&
               strcmp(json_string_value(json_object_get(v[j - 1], "name")),
                      json_string_value(json_object_get(x, "name"))) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    for (size_t i = 0; i < k; i++)
        json_array_append_new(list, custom_view(v[i]));
    vx__free(v);
    json_decref(all);
    *out = json_pack("{si so}", "version", 1, "strategies", list);
    return VX_OK;
}

vx_status svc__op_STRATEGY_DEF_GET(svc_ctx *c, json_t **out)
{
    int b = builtin_index(c->req->id);
    json_t *d = NULL;
    if (b >= 0) {
        vx_status st = svc__get(c, STORE_STRATEGY, c->req->id, &d);
        if (st != VX_OK && st != VX_ENOTFOUND)
            return st;
        *out = builtin_view((size_t)b, d);
        json_decref(d);
        return VX_OK;
    }
    vx_status st = load(c, false, &d);
    if (st == VX_OK)
        *out = custom_view(d);
    json_decref(d);
    return st;
}

vx_status svc__op_STRATEGY_DEF_CREATE(svc_ctx *c, json_t **out)
{
    const json_t *b = c->req->body;
    json_t *d = json_object(), *existing = NULL;
    int64_t count = 0;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__check_name(c, json_object_get(b, "name"), "/name",
                             "strategy name");
    const char *name = json_string_value(json_object_get(b, "name"));
    if (st == VX_OK && svc__strategy_builtin(name))
        st = svc__fail(c, VX_ECONFLICT, "/name", "'%s' is a built-in strategy",
                       name);
    if (st == VX_OK) {
        st = svc__get(c, STORE_STRATEGY, name, &existing);
        if (st == VX_OK)
            st = svc__fail(c, VX_ECONFLICT, "/name",
                           "a strategy named '%s' already exists", name);
        else if (st == VX_ENOTFOUND)
            st = VX_OK;
    }
    if (st == VX_OK)
        st = c->s->ops->doc_count(c->s->st, STORE_STRATEGY, &count, c->err);
    if (st == VX_OK && count >= VX_LIMIT_STRATEGY_DEFS)
        st = svc__fail(c, VX_ELIMIT, "", "at most %d strategy definitions",
                       VX_LIMIT_STRATEGY_DEFS);
    if (st == VX_OK) {
        json_object_set_new(d, "name", json_string(name));
        json_object_set_new(d, "displayName", json_null());
        st = fill(c, d);
    }
    if (st == VX_OK) {
        json_object_set_new(d, "editable", json_true());
        json_object_set_new(d, "deprecated", json_false());
        json_object_set_new(d, "createdAt", svc__time_json(c->now_ms));
        st = svc__put(c, STORE_STRATEGY, name, NULL, d);
    }
    if (st == VX_OK)
        st = svc__audit(c, "strategy-created", NULL, NULL, NULL, d, NULL);
    if (st == VX_OK)
        *out = custom_view(d);
    json_decref(existing);
    json_decref(d);
    return st;
}

vx_status svc__op_STRATEGY_DEF_UPDATE(svc_ctx *c, json_t **out)
{
    json_t *d = NULL, *pre = NULL;
    vx_status st = load(c, true, &d);
    const json_t *n = json_object_get(c->req->body, "name");
    if (st == VX_OK && n &&
        !json_equal((json_t *)n, json_object_get(d, "name")))
        st = svc__fail(c, VX_EINVAL, "/name", "a strategy cannot be renamed");
    if (st == VX_OK) {
        pre = json_deep_copy(d);
        st = fill(c, d);
    }
    if (st == VX_OK)
        st = svc__put(c, STORE_STRATEGY, c->req->id, NULL, d);
    if (st == VX_OK)
        st = svc__audit(c, "strategy-updated", NULL, NULL, NULL, d, pre);
    if (st == VX_OK)
        *out = custom_view(d);
    json_decref(pre);
    json_decref(d);
    return st;
}

/* The flags (archived ones included) with a strategy named `name`, as a
 * new array of flag names. */
static vx_status users_of(svc_ctx *c, const char *name, json_t **out)
{
    json_t *all = NULL;
    *out = json_array();
    vx_status st = svc__list(c, STORE_FEATURE, NULL, &all);
    size_t i, j, k;
    json_t *f, *e, *s;
    json_array_foreach (all, i, f) {
        bool uses = false;
        json_array_foreach (json_object_get(f, "environments"), j, e) {
            json_array_foreach (json_object_get(e, "strategies"), k, s) {
                uses = uses ||
                       strcmp(json_string_value(json_object_get(s, "name")),
                              name) == 0;
            }
        }
        if (uses)
            json_array_append(*out, json_object_get(f, "name"));
    }
    json_decref(all);
    return st;
}

vx_status svc__op_STRATEGY_DEF_DELETE(svc_ctx *c, json_t **out)
{
    json_t *d = NULL, *users = NULL;
    vx_status st = load(c, true, &d);
    if (st == VX_OK)
        st = users_of(c, c->req->id, &users);
    if (st == VX_OK && json_array_size(users) > 0) {
        char names[256] = "";
        size_t n = 0, i;
        json_t *u;
        json_array_foreach (users, i, u) {
            if (i == 3)
                break;
            int w = snprintf(names + n, sizeof(names) - n, "%s'%s'",
                             i ? ", " : "", json_string_value(u));
            n = w > 0 && (size_t)w < sizeof(names) - n ? n + (size_t)w
                                                       : sizeof(names) - 1;
        }
        st = svc__fail(c, VX_ECONFLICT, "",
                       "strategy '%s' is used by %zu flag%s (%s%s, archived "
                       "ones included): remove it from them first",
                       c->req->id, json_array_size(users),
                       json_array_size(users) == 1 ? "" : "s", names,
                       json_array_size(users) > 3 ? ", ..." : "");
    }
    if (st == VX_OK)
        st = svc__del(c, STORE_STRATEGY, c->req->id);
    if (st == VX_OK)
        st = svc__audit(c, "strategy-deleted", NULL, NULL, NULL, NULL, d);
    if (st == VX_OK)
        *out = json_object();
    json_decref(users);
    json_decref(d);
    return st;
}

/* Deprecates or reactivates c->req->id (a built-in gets a marker). */
static vx_status set_deprecated(svc_ctx *c, bool on, json_t **out)
{
    json_t *d = NULL;
    vx_status st;
    if (svc__strategy_builtin(c->req->id)) {
        st = svc__get(c, STORE_STRATEGY, c->req->id, &d);
        if (st == VX_ENOTFOUND) {
            d = json_pack("{ss sb}", "name", c->req->id, "builtIn", 1);
            st = VX_OK;
        }
    } else {
        st = load(c, false, &d);
    }
    if (st == VX_OK) {
        json_object_set_new(d, "deprecated", json_boolean(on));
        st = svc__put(c, STORE_STRATEGY, c->req->id, NULL, d);
    }
    if (st == VX_OK)
        st = svc__audit(c, on ? "strategy-deprecated" : "strategy-reactivated",
                        NULL, NULL, NULL, d, NULL);
    if (st == VX_OK)
        *out = json_object();
    json_decref(d);
    return st;
}

vx_status svc__op_STRATEGY_DEF_DEPRECATE(svc_ctx *c, json_t **out)
{
    return set_deprecated(c, true, out);
}

vx_status svc__op_STRATEGY_DEF_REACTIVATE(svc_ctx *c, json_t **out)
{
    return set_deprecated(c, false, out);
}
