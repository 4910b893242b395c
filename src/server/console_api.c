/* The console's admin routes answered from memory: see console_api.h. */
#include "server/console_api.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/limits.h"
#include "server/compress.h"

#define GATEWAY_STATS_PATH "/api/admin/gateway/stats"
#define ENV_STATES_MAX     64 /* environments looked up once per call */

bool console_api_gateway_owns(const http_req *r)
{
    size_t n = sizeof(GATEWAY_STATS_PATH) - 1;
    return http_req_path_len(r) == n &&
           memcmp(http_req_path(r), GATEWAY_STATS_PATH, n) == 0;
}

/* The published states of the environments one answer needs, each
 * acquired once. */
typedef struct env_states {
    const char *name[ENV_STATES_MAX]; /* borrowed from the series */
    hub_state *state[ENV_STATES_MAX]; /* NULL when it could not be had */
    size_t n;                         /* used */
} env_states;

/* The state of `env`, or NULL (not loaded, gone, or past the table: the
 * caller then treats the flag's project as unknown). */
static hub_state *state_of(hub *h, env_states *t, const char *env)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->name[i], env) == 0)
            return t->state[i];
    if (t->n == ENV_STATES_MAX)
        return NULL;
    hub_state *s = NULL;
    if (hub_acquire(h, env, &s) != VX_OK)
        s = NULL;
    t->name[t->n] = env;
    t->state[t->n++] = s;
    return s;
}

static void reply_not_found(http_req *r, const char *env, vx_status st)
{
    char msg[VX_ERROR_MSG_MAX];
    if (st == VX_ENOTFOUND)
        snprintf(msg, sizeof(msg), "environment '%s' not found", env);
    else
        snprintf(msg, sizeof(msg),
                 "environment '%s' cannot be loaded now: retry later", env);
    http_reply_problem(r, st == VX_ENOTFOUND ? 404 : 503, msg,
                       "/query/environment", NULL);
}

void console_api_gateway_stats(gateway_api *gateway, hub *h,
                               const svc_principal *who, http_req *r)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    const json_t *query = NULL;
    vx_status st = http_req_query(r, &query, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    const char *env = json_string_value(json_object_get(query, "environment"));
    if (env && !*env)
        env = NULL;
    if (env && strlen(env) > VX_LIMIT_ADMIN_FILTER_BYTES) {
        http_reply_problem(r, 400, "environment is at most 100 bytes (a name)",
                           "/query/environment", NULL);
        return;
    }
    if (env) {
        hub_state *s = NULL;
        st = hub_acquire(h, env, &s);
        hub_state_release(s);
        if (st != VX_OK) {
            reply_not_found(r, env, st);
            return;
        }
    }
    json_t *all = gateway_api_series(gateway, env);
    json_t *series = json_array();
    env_states t = {0};
    bool every = strcmp(who->projects, "*") == 0;
    hub_scope scope = {.projects = who->projects};
    size_t i;
    json_t *e;
    json_array_foreach (all, i, e) {
        const char *en = json_string_value(json_object_get(e, "environment"));
        const char *flag = json_string_value(json_object_get(e, "flag"));
        hub_state *s = en ? state_of(h, &t, en) : NULL;
        const hub_flag *f = s && flag ? hub_state_find(s, flag) : NULL;
        if (!every && !(f && hub_scope_match(&scope, f)))
            continue;
        json_object_set_new(e, "project",
                            f ? json_string(f->project) : json_null());
        if (series)
            json_array_append(series, e);
    }
    for (size_t k = 0; k < t.n; k++)
        hub_state_release(t.state[k]);
    json_t *doc = series ? json_pack("{so sO}", "environment",
                                     env ? json_string(env) : json_null(),
                                     "series", series)
                         : NULL;
    if (doc)
        server_reply_json_gz(r, 200, doc);
    else
        http_reply_error(r, VX_ENOMEM, NULL);
    json_decref(doc);
    json_decref(series);
    json_decref(all);
}
