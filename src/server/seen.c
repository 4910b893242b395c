/* Recently seen contexts (see seen.h): per environment, a ring of deep
 * copies (one allocation each: the struct, its props and its bytes) and a
 * small set of (field name, token projects) pairs.
 *
 * Invariant: env->bytes is the sum of the kept copies' sizes and never
 * exceeds VX_LIMIT_SEEN_BYTES after a record; env->count <=
 * VX_LIMIT_SEEN_CONTEXTS; all under `mu`. */
#include "server/seen.h"

#include <pthread.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"

/* One kept context; `c` points into the same allocation. */
typedef struct seen_ctx {
    vx_context c;     /* borrowed from this allocation */
    const char *proj; /* the token's projects, NUL-terminated */
    size_t bytes;     /* size of the allocation */
} seen_ctx;

typedef struct seen_field {
    char *name; /* field name, owned */
    char *proj; /* token projects that sent it, owned */
} seen_field;

typedef struct seen_env {
    char *name;                              /* owned */
    seen_ctx *ring[VX_LIMIT_SEEN_CONTEXTS];  /* oldest at `head` */
    size_t head;                             /* index of the oldest */
    size_t count;                            /* contexts kept */
    size_t bytes;                            /* their total size */
    seen_field fields[VX_LIMIT_SEEN_FIELDS]; /* distinct pairs */
    size_t nfields;                          /* used */
} seen_env;

struct server_seen {
    pthread_mutex_t mu;                 /* guards everything below */
    seen_env *envs[VX_LIMIT_SEEN_ENVS]; /* owned */
    size_t nenvs;                       /* used */
};

vx_status server_seen_new(server_seen **out)
{
    server_seen *s = vx__malloc(sizeof(*s));
    *out = NULL;
    if (!s)
        return VX_ENOMEM;
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return VX_OK;
}

static void env_free(seen_env *e)
{
    for (size_t i = 0; i < e->count; i++)
        vx__free(e->ring[(e->head + i) % VX_LIMIT_SEEN_CONTEXTS]);
    for (size_t i = 0; i < e->nfields; i++) {
        vx__free(e->fields[i].name);
        vx__free(e->fields[i].proj);
    }
    vx__free(e->name);
    vx__free(e);
}

void server_seen_free(server_seen **s)
{
    if (!s || !*s)
        return;
    for (size_t i = 0; i < (*s)->nenvs; i++)
        env_free((*s)->envs[i]);
    pthread_mutex_destroy(&(*s)->mu);
    vx__free(*s);
    *s = NULL;
}

/* The environment `name`, created when `create` and there is room. */
static seen_env *env_get(server_seen *s, const char *name, bool create)
{
    for (size_t i = 0; i < s->nenvs; i++) {
        if (strcmp(s->envs[i]->name, name) == 0)
            return s->envs[i];
    }
    if (!create || s->nenvs >= VX_LIMIT_SEEN_ENVS)
        return NULL;
    seen_env *e = vx__malloc(sizeof(*e));
    if (!e)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->name = vx__strdup(name);
    if (!e->name) {
        vx__free(e);
        return NULL;
    }
    s->envs[s->nenvs++] = e;
    return e;
}

/* True when a token of `projects` ("*" or "a,b") may see `project`. */
static bool proj_covers(const char *projects, const char *project)
{
    if (strcmp(projects, "*") == 0)
        return true;
    size_t n = strlen(project);
    for (const char *p = projects; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, project, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

static void field_add(seen_env *e, const char *name, size_t len,
                      const char *proj)
{
    if (len == 0 || len > VX_LIMIT_SEEN_FIELD_BYTES)
        return;
    for (size_t i = 0; i < e->nfields; i++) {
        if (strlen(e->fields[i].name) == len &&
            memcmp(e->fields[i].name, name, len) == 0 &&
            strcmp(e->fields[i].proj, proj) == 0)
            return;
    }
    if (e->nfields >= VX_LIMIT_SEEN_FIELDS)
        return;
    char *n = vx__malloc(len + 1), *p = vx__strdup(proj);
    if (!n || !p) {
        vx__free(n);
        vx__free(p);
        return;
    }
    memcpy(n, name, len);
    n[len] = '\0';
    e->fields[e->nfields].name = n;
    e->fields[e->nfields].proj = p;
    e->nfields++;
}

/* Bytes a copy of `v` needs (0 for an absent value). */
static size_t str_need(vx_str v)
{
    return v.ptr ? v.len + 1 : 0;
}

/* Copies `v` to *cur and advances it. */
static vx_str str_copy(vx_str v, char **cur)
{
    vx_str out = {NULL, 0};
    if (!v.ptr)
        return out;
    memcpy(*cur, v.ptr, v.len);
    (*cur)[v.len] = '\0';
    out.ptr = *cur;
    out.len = v.len;
    *cur += v.len + 1;
    return out;
}

/* One allocation holding a deep copy of `c` (without its random source or
 * host name), or NULL when it is over the limit or memory is short. */
static seen_ctx *ctx_copy(const vx_context *c, const char *proj)
{
    size_t need = sizeof(seen_ctx) + c->nprops * sizeof(vx_prop) +
                  strlen(proj) + 1 + str_need(c->user_id) +
                  str_need(c->session_id) + str_need(c->remote_address) +
                  str_need(c->environment) + str_need(c->app_name) +
                  str_need(c->current_time);
    for (size_t i = 0; i < c->nprops; i++)
        need += str_need(c->props[i].key) + str_need(c->props[i].value);
    if (need > VX_LIMIT_SEEN_CONTEXT_BYTES)
        return NULL;
    seen_ctx *k = vx__malloc(need);
    if (!k)
        return NULL;
    memset(k, 0, sizeof(*k));
    vx_prop *props = (vx_prop *)(k + 1);
    char *cur = (char *)(props + c->nprops);
    k->bytes = need;
    k->c.user_id = str_copy(c->user_id, &cur);
    k->c.session_id = str_copy(c->session_id, &cur);
    k->c.remote_address = str_copy(c->remote_address, &cur);
    k->c.environment = str_copy(c->environment, &cur);
    k->c.app_name = str_copy(c->app_name, &cur);
    k->c.current_time = str_copy(c->current_time, &cur);
    k->c.now_ms = c->now_ms;
    for (size_t i = 0; i < c->nprops; i++) {
        props[i].key = str_copy(c->props[i].key, &cur);
        props[i].value = str_copy(c->props[i].value, &cur);
    }
    k->c.props = c->nprops ? props : NULL;
    k->c.nprops = c->nprops;
    size_t pl = strlen(proj);
    memcpy(cur, proj, pl + 1);
    k->proj = cur;
    return k;
}

static void drop_oldest(seen_env *e)
{
    seen_ctx *old = e->ring[e->head];
    e->bytes -= old->bytes;
    vx__free(old);
    e->ring[e->head] = NULL;
    e->head = (e->head + 1) % VX_LIMIT_SEEN_CONTEXTS;
    e->count--;
}

static void field_if(seen_env *e, vx_str v, const char *name, const char *proj)
{
    if (v.ptr)
        field_add(e, name, strlen(name), proj);
}

void server_seen_record(server_seen *s, const char *env, const char *projects,
                        const vx_context *c)
{
    if (!s || !env || !c)
        return;
    const char *proj = projects ? projects : "*";
    /* Copy outside the lock: the lock then only moves pointers. */
    seen_ctx *k = ctx_copy(c, proj);
    pthread_mutex_lock(&s->mu);
    seen_env *e = env_get(s, env, true);
    if (!e) {
        vx__free(k);
        goto out;
    }
    field_if(e, c->user_id, "userId", proj);
    field_if(e, c->session_id, "sessionId", proj);
    field_if(e, c->remote_address, "remoteAddress", proj);
    field_if(e, c->environment, "environment", proj);
    field_if(e, c->app_name, "appName", proj);
    field_if(e, c->current_time, "currentTime", proj);
    for (size_t i = 0; i < c->nprops; i++) {
        if (c->props[i].value.ptr)
            field_add(e, c->props[i].key.ptr, c->props[i].key.len, proj);
    }
    if (!k)
        goto out;
    while (e->count > 0 && (e->count >= VX_LIMIT_SEEN_CONTEXTS ||
                            e->bytes + k->bytes > VX_LIMIT_SEEN_BYTES))
        drop_oldest(e);
    e->ring[(e->head + e->count) % VX_LIMIT_SEEN_CONTEXTS] = k;
    e->count++;
    e->bytes += k->bytes;
out:
    pthread_mutex_unlock(&s->mu);
}

void server_seen_fields(server_seen *s, const char *project, const char *env,
                        json_t *names)
{
    if (!s || !env || !project)
        return;
    pthread_mutex_lock(&s->mu);
    seen_env *e = env_get(s, env, false);
    for (size_t i = 0; e && i < e->nfields; i++) {
        if (!proj_covers(e->fields[i].proj, project))
            continue;
        size_t j;
        const json_t *have;
        bool dup = false;
        json_array_foreach (names, j, have) {
            if (strcmp(json_string_value(have), e->fields[i].name) == 0)
                dup = true;
        }
        if (!dup)
            json_array_append_new(names, json_string(e->fields[i].name));
    }
    pthread_mutex_unlock(&s->mu);
}

void server_seen_dry_run(server_seen *s, const char *project, const char *env,
                         const vx_snapshot *snap, size_t *matched,
                         size_t *total)
{
    *matched = 0;
    *total = 0;
    if (!s || !env || !project || !snap)
        return;
    vx_scratch *sc = vx_scratch_new(); /* NULL still evaluates */
    pthread_mutex_lock(&s->mu);
    seen_env *e = env_get(s, env, false);
    for (size_t i = 0; e && i < e->count; i++) {
        const seen_ctx *k = e->ring[(e->head + i) % VX_LIMIT_SEEN_CONTEXTS];
        if (!proj_covers(k->proj, project))
            continue;
        vx_variant v;
        (*total)++;
        if (vx_evaluate_at(snap, sc, 0, &k->c, &v))
            (*matched)++;
    }
    pthread_mutex_unlock(&s->mu);
    vx_scratch_free(sc);
}
