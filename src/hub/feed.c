/* A hub fed from outside (hub.h, "a hub fed from outside"): an edge node
 * pushes what an upstream's streams and deltas send, and the states are
 * built and published by the same code as a database-fed hub's, so the
 * SDK endpoints serve them unchanged.
 *
 * Invariant: a slot's states carry the upstream's revisions, flag texts
 * and segment order, never an order of this process's making: segment
 * changes (whose place in the upstream's list the edge cannot know) are
 * refused with VX_ECONFLICT so that the caller hydrates again. */
#include "hub/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

vx_status hub_new_fed(const hub_config *cfg, hub **out, vx_error *err)
{
    *out = NULL;
    hub *h = vx__calloc(1, sizeof(*h));
    if (!h)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    hub__init(h, cfg);
    h->revision = 0;
    vx_status st = hub__streams_start(h, err);
    if (st != VX_OK) {
        hub_free(&h);
        return st;
    }
    *out = h;
    return VX_OK;
}

/* The slot named `key`, added (empty) when missing; NULL when out of
 * memory. Under h->mu. */
static env_slot *slot_add(hub *h, const char *key)
{
    env_slot *e = hub__slot_find(h, key);
    if (e)
        return e;
    env_slot *n = vx__realloc(h->envs, (h->nenvs + 1) * sizeof(*n));
    if (!n)
        return NULL;
    h->envs = n;
    e = &h->envs[h->nenvs++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", key);
    return e;
}

static vx_status check_key(const char *key, vx_error *err)
{
    size_t n = strlen(key);
    if (n == 0 || n >= ENV_NAME_MAX)
        return vx__error_set(err, VX_EINVAL, "", "a slot key has 1 to %d bytes",
                             ENV_NAME_MAX - 1);
    return VX_OK;
}

vx_status hub_feed_open(hub *h, const char *key, vx_error *err)
{
    vx_status st = check_key(key, err);
    if (st != VX_OK)
        return st;
    pthread_mutex_lock(&h->mu);
    if (!slot_add(h, key))
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
    pthread_mutex_unlock(&h->mu);
    return st;
}

/* Publishes `s` (taken) as slot `key`'s state unless it equals the current
 * one, and lets waiting requests go (under h->mu). */
static vx_status fed_publish(hub *h, const char *key, hub_state *s,
                             vx_error *err)
{
    env_slot *e = slot_add(h, key);
    if (!e) {
        hub_state_release(s);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    hub_state *c = e->cur;
    if (c && c->content == s->content && c->revision == s->revision &&
        strcmp(c->label, s->label) == 0)
        hub_state_release(s);
    else
        hub__publish(h, e, s);
    if (s->revision > h->revision)
        h->revision = s->revision;
    h->rebuilds++;
    h->done = h->asked; /* requests waiting for a first state go on */
    pthread_cond_broadcast(&h->built);
    hub__wake_all(h);
    return VX_OK;
}

static const char *type_of(const json_t *ev)
{
    const char *t = json_string_value(json_object_get(ev, "type"));
    return t ? t : "";
}

/* The events of `doc` after the last hydration (all of them without one)
 * as {name: feature or null} in `changes`; `*segments` when one of them
 * changes a segment. */
static vx_status collect_changes(const json_t *events, size_t from,
                                 json_t *changes, bool *segments, vx_error *err)
{
    size_t i;
    const json_t *ev;
    json_array_foreach (events, i, ev) {
        if (i < from)
            continue;
        const char *t = type_of(ev);
        if (strcmp(t, "feature-updated") == 0) {
            json_t *f = json_object_get(ev, "feature");
            const char *name = json_string_value(json_object_get(f, "name"));
            if (!json_is_object(f) || !name)
                return vx__error_set(err, VX_EPARSE, "/events",
                                     "event %zu: feature-updated without a "
                                     "named feature",
                                     i);
            json_object_set(changes, name, f);
        } else if (strcmp(t, "feature-removed") == 0) {
            const char *name =
                json_string_value(json_object_get(ev, "featureName"));
            if (!name)
                return vx__error_set(err, VX_EPARSE, "/events",
                                     "event %zu: feature-removed without a "
                                     "featureName",
                                     i);
            json_object_set_new(changes, name, json_null());
        } else if (strncmp(t, "segment-", 8) == 0) {
            *segments = true;
        }
        /* Other types (newer upstreams) change nothing served here. */
    }
    return VX_OK;
}

vx_status hub_feed_apply(hub *h, const char *key, const char *env,
                         const char *data, size_t len, int64_t revision,
                         vx_error *err)
{
    vx_status st = check_key(key, err);
    hub_state *base = NULL, *s = NULL;
    json_t *changes = json_object();
    json_error_t je;
    json_t *doc = st == VX_OK ? json_loadb(data, len, 0, &je) : NULL;
    const json_t *events = json_object_get(doc, "events");
    bool segments = false;
    if (st != VX_OK)
        goto out;
    if (!changes) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    if (!json_is_array(events)) {
        st = vx__error_set(err, VX_EPARSE, "/events",
                           "expected {\"events\": [...]}%s%s", doc ? "" : ": ",
                           doc ? "" : je.text);
        goto out;
    }
    size_t hyd = SIZE_MAX, i;
    const json_t *ev;
    json_array_foreach (events, i, ev) {
        if (strcmp(type_of(ev), "hydration") == 0)
            hyd = i;
    }
    if (hyd != SIZE_MAX) {
        const json_t *hy = json_array_get(events, hyd);
        const json_t *fs = json_object_get(hy, "features");
        const json_t *gs = json_object_get(hy, "segments");
        if (!json_is_array(fs) || (gs && !json_is_array(gs))) {
            st = vx__error_set(err, VX_EPARSE, "/events",
                               "a hydration needs \"features\" and "
                               "\"segments\" arrays");
            goto out;
        }
        json_t *d = json_pack("{sO so}", "features", fs, "segments",
                              gs ? json_incref((json_t *)gs) : json_array());
        st = d ? hub__state_build_take(key, d, revision, &base, err)
               : vx__error_set(err, VX_ENOMEM, "", "out of memory");
    } else {
        pthread_mutex_lock(&h->mu);
        env_slot *e = hub__slot_find(h, key);
        base = e ? hub__state_ref(e->cur) : NULL;
        pthread_mutex_unlock(&h->mu);
        if (!base)
            st = vx__error_set(err, VX_ENOTFOUND, "",
                               "'%s' has no state to update: hydrate first",
                               key);
    }
    if (st == VX_OK)
        st = collect_changes(events, hyd == SIZE_MAX ? 0 : hyd + 1, changes,
                             &segments, err);
    if (st == VX_OK && segments)
        st = vx__error_set(err, VX_ECONFLICT, "",
                           "segments changed: a fresh hydration is needed");
    if (st != VX_OK)
        goto out;
    if (json_object_size(changes) || base->revision != revision) {
        st = hub__state_patch(base, changes, revision, &s, err);
        if (st != VX_OK)
            goto out;
    } else {
        s = base;
        base = NULL;
    }
    snprintf(s->label, sizeof(s->label), "%s", env);
    pthread_mutex_lock(&h->mu);
    st = fed_publish(h, key, s, err);
    pthread_mutex_unlock(&h->mu);
    s = NULL;
out:
    hub_state_release(base);
    hub_state_release(s);
    json_decref(changes);
    json_decref(doc);
    return st;
}

vx_status hub_feed_export(hub *h, const char *key, char **text, size_t *len,
                          int64_t *revision, char *env, size_t env_cap)
{
    *text = NULL;
    *len = 0;
    pthread_mutex_lock(&h->mu);
    env_slot *e = hub__slot_find(h, key);
    hub_state *s = e ? hub__state_ref(e->cur) : NULL;
    pthread_mutex_unlock(&h->mu);
    if (!s)
        return VX_ENOTFOUND;
    hub_scope all = {.projects = "*", .edge = true};
    sbuf b = {0};
    bool empty = false;
    hub__build_delta(&b, NULL, s, &all, &empty);
    *revision = s->revision;
    snprintf(env, env_cap, "%s", s->label[0] ? s->label : s->env);
    hub_state_release(s);
    if (b.fail) {
        vx__free(b.p);
        return VX_ENOMEM;
    }
    *text = b.p;
    *len = b.len;
    return VX_OK;
}

void hub_feed_drop(hub *h, const char *key)
{
    pthread_mutex_lock(&h->mu);
    env_slot *e = hub__slot_find(h, key);
    if (!e) {
        pthread_mutex_unlock(&h->mu);
        return;
    }
    for (hub_sub *s = h->subs; s; s = s->next) {
        if (strcmp(s->env, key) != 0 || s->over)
            continue;
        s->over = true;
        h->streams_ended++;
        s->wake(s->wake_ud);
    }
    hub_state_release(e->cur);
    for (size_t k = 0; k < e->nhist; k++)
        hub__index_free(e->hist[k]);
    json_decref(e->aside);
    size_t i = (size_t)(e - h->envs);
    memmove(e, e + 1, (h->nenvs - i - 1) * sizeof(*e));
    h->nenvs--;
    pthread_mutex_unlock(&h->mu);
}

vx_status hub_feed_tokens(hub *h, const svc_token_state *tokens, size_t n,
                          vx_error *err)
{
    svc_token_state *copy = vx__calloc(n ? n : 1, sizeof(*copy));
    if (!copy)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    if (n)
        memcpy(copy, tokens, n * sizeof(*copy));
    pthread_mutex_lock(&h->mu);
    hub__check_tokens(h, copy, n);
    vx__free(h->tokens);
    h->tokens = copy;
    h->ntokens = n;
    hub__wake_all(h);
    pthread_mutex_unlock(&h->mu);
    return VX_OK;
}
