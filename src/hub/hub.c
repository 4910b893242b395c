/* The SDK hub: see hub.h. A state is built from the service's client
 * document off the request path (the hub's thread), published by swapping
 * one pointer under the hub lock, and read by any number of requests that
 * each hold a reference.
 *
 * Invariants: `revision` only grows; hub.mu is never held across a
 * database call (the hub's thread reads the database without it and
 * publishes under it). */
#include "hub/internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/log.h"

static double mono_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

env_slot *hub__slot_find(hub *h, const char *env)
{
    for (size_t i = 0; i < h->nenvs; i++)
        if (strcmp(h->envs[i].name, env) == 0)
            return &h->envs[i];
    return NULL;
}

hub_state *hub_acquire(hub *h, const char *env)
{
    pthread_mutex_lock(&h->mu);
    /* A write answered before this request began is served: wait for the
     * publish it asked for (writers themselves never wait). */
    uint64_t target = h->asked;
    while (h->done < target && !h->stop)
        pthread_cond_wait(&h->built, &h->mu);
    env_slot *e = hub__slot_find(h, env);
    if (e && !e->cur) {
        /* The first SDK request for this environment: have the hub thread
         * build it, and wait (slots move when the hub installs). */
        e->wanted = true;
        uint64_t ticket = ++h->asked;
        pthread_cond_signal(&h->kick);
        while (h->done < ticket && !h->stop)
            pthread_cond_wait(&h->built, &h->mu);
        e = hub__slot_find(h, env);
    }
    hub_state *s = e ? hub__state_ref(e->cur) : NULL;
    pthread_mutex_unlock(&h->mu);
    return s;
}

/* ---- rebuilding -----------------------------------------------------------
 */

/* Publishes `s` for `e` (under h->mu), remembering the old content for
 * deltas and feeding subscribers. */
static void publish(hub *h, env_slot *e, hub_state *s)
{
    hub_index *x = hub__index_of(s, e->nhist ? e->hist[e->nhist - 1] : NULL);
    if (x) {
        if (e->nhist == VX_LIMIT_SDK_HISTORY) {
            hub__index_free(e->hist[0]);
            memmove(e->hist, e->hist + 1,
                    (VX_LIMIT_SDK_HISTORY - 1) * sizeof(e->hist[0]));
            e->nhist--;
        }
        e->hist[e->nhist++] = x;
    }
    hub_state *old = e->cur;
    e->cur = s;
    for (hub_sub *sub = h->subs; sub; sub = sub->next)
        if (strcmp(sub->env, e->name) == 0)
            hub__sub_feed(e, sub, s);
    hub_state_release(old);
}

/* Installs the environments `names` (a JSON array; NULL keeps the current
 * set) with the new states in `built` (by environment, taken over; an
 * environment without one keeps its current state). Under h->mu. */
static vx_status install(hub *h, const json_t *names, hub_state **built,
                         size_t nbuilt, int64_t rev, vx_error *err)
{
    size_t n = names ? json_array_size(names) : h->nenvs;
    env_slot *envs = vx__calloc(n ? n : 1, sizeof(*envs));
    if (!envs)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    for (size_t i = 0; i < n; i++) {
        char name[ENV_NAME_MAX];
        snprintf(name, sizeof(name), "%s",
                 names ? json_string_value(json_array_get(names, i))
                       : h->envs[i].name);
        env_slot *old = hub__slot_find(h, name);
        env_slot *e = &envs[i];
        if (old) {
            *e = *old;
            memset(old, 0, sizeof(*old)); /* moved */
        }
        snprintf(e->name, sizeof(e->name), "%s", name);
        for (size_t k = 0; k < nbuilt; k++) {
            hub_state *b = built[k];
            if (!b || strcmp(b->env, name) != 0)
                continue;
            if (e->cur && e->cur->content == b->content) {
                hub_state_release(b); /* unchanged: keep the ETags */
            } else {
                if (e->cur && b->revision <= e->cur->revision)
                    b->revision = e->cur->revision + 1;
                publish(h, e, b);
            }
            built[k] = NULL;
        }
    }
    /* Environments that are gone. */
    for (size_t i = 0; i < h->nenvs; i++) {
        hub_state_release(h->envs[i].cur);
        for (size_t k = 0; k < h->envs[i].nhist; k++)
            hub__index_free(h->envs[i].hist[k]);
    }
    vx__free(h->envs);
    h->envs = envs;
    h->nenvs = n;
    if (rev > h->revision)
        h->revision = rev;
    return VX_OK;
}

/* Brings the published states up to the database. Only environments an
 * SDK has asked for are materialized (the others cost nothing until then):
 * those are patched with the flags that events name since the last
 * revision, or rebuilt when something else changed; newly asked ones are
 * built. Reads the database outside h->mu; publishes under it. Only the
 * hub thread (and hub_new) call it. */
static vx_status rebuild(hub *h, vx_error *err)
{
    double t0 = mono_sec();
    json_t *docs = NULL, *changes = NULL, *names = NULL, *build = NULL;
    int64_t rev = 0, drev = 0;
    hub_state **built = NULL, **cur = NULL;
    size_t n = 0, nbuilt = 0;
    vx_status st = VX_OK;
    if (h->revision >= 0)
        st = svc_client_changes(h->svc, h->revision, &changes, &rev, err);
    if (st == VX_OK && !changes)
        st = svc_revision(h->svc, &rev, err);
    if (st == VX_OK && !changes)
        st = svc_environment_names(h->svc, &names, err);
    if (st != VX_OK)
        goto out;
    /* Which environments are live (their current states, referenced) and
     * which are to be built whole. */
    build = json_array();
    pthread_mutex_lock(&h->mu);
    n = h->nenvs;
    cur = vx__calloc(n ? n : 1, sizeof(*cur));
    for (size_t i = 0; cur && i < n; i++) {
        env_slot *e = &h->envs[i];
        cur[i] = changes ? hub__state_ref(e->cur) : NULL;
        if ((e->cur && !changes) || (!e->cur && e->wanted))
            json_array_append_new(build, json_string(e->name));
    }
    pthread_mutex_unlock(&h->mu);
    built = vx__calloc(n + json_array_size(build) + 1, sizeof(*built));
    if (!cur || !built || !build) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; st == VX_OK && i < n; i++) {
        json_t *v = cur[i] ? json_object_get(changes, cur[i]->env) : NULL;
        if (v && json_object_size(v))
            st = hub__state_patch(cur[i], v, rev, &built[nbuilt++], err);
    }
    if (st == VX_OK && json_array_size(build))
        st = svc_client_states(h->svc, build, &docs, &drev, err);
    const char *env;
    json_t *doc;
    void *next;
    json_object_foreach_safe (docs, next, env, doc) {
        if (st != VX_OK)
            break;
        /* Each document goes as soon as its state is staged. */
        char name[ENV_NAME_MAX];
        snprintf(name, sizeof(name), "%s", env);
        json_incref(doc);
        json_object_del(docs, name);
        st = hub__state_build_take(name, doc, drev, &built[nbuilt++], err);
    }
    if (st == VX_OK) {
        pthread_mutex_lock(&h->mu);
        st = install(h, names, built, nbuilt,
                     changes ? rev
                     : drev  ? drev
                             : rev,
                     err);
        h->rebuilds++;
        h->last_build_end = mono_sec();
        h->last_build_sec = h->last_build_end - t0;
        hub__wake_all(h);
        pthread_mutex_unlock(&h->mu);
    }
    if (st == VX_OK && json_array_size(build))
        malloc_trim(0); /* a whole build frees much: give it back */
out:
    for (size_t k = 0; built && k < nbuilt; k++)
        hub_state_release(built[k]);
    for (size_t k = 0; cur && k < n; k++)
        hub_state_release(cur[k]);
    vx__free(built);
    vx__free(cur);
    json_decref(docs);
    json_decref(changes);
    json_decref(names);
    json_decref(build);
    return st;
}

/* The watch thread: waits for the database's commit announcements (on the
 * store's own watch connection, never the service mutex) and kicks the hub
 * thread when one names a revision newer than the published one. */
static void *watch_main(void *arg)
{
    hub *h = arg;
    bool down = false;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        bool stop = h->stop;
        pthread_mutex_unlock(&h->mu);
        if (stop)
            break;
        vx_error err;
        memset(&err, 0, sizeof(err));
        int64_t rev = 0;
        vx_status st = svc_watch(h->svc, VX_LIMIT_SDK_WATCH_MS, &rev, &err);
        if (st != VX_OK) {
            if (!down)
                vx__logf(h->log, h->log_ud, "warn",
                         "sdk: change notifications stopped (the periodic "
                         "check goes on): %s",
                         err.message);
            down = true;
            continue;
        }
        if (down)
            vx__logf(h->log, h->log_ud, "info",
                     "sdk: change notifications resumed");
        down = false;
        if (rev == 0)
            continue;
        pthread_mutex_lock(&h->mu);
        if (rev < 0 || rev > h->revision) {
            h->notified = true;
            pthread_cond_signal(&h->kick);
        }
        pthread_mutex_unlock(&h->mu);
    }
    return NULL;
}

static void *hub_main(void *arg)
{
    hub *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        bool quiet = false; /* a whole period passed without a kick */
        if (h->asked == h->done && !h->notified) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)(h->poll_ms % 1000) * 1000000L;
            until.tv_sec += (time_t)(h->poll_ms / 1000);
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            quiet =
                pthread_cond_timedwait(&h->kick, &h->mu, &until) == ETIMEDOUT;
        }
        if (h->stop)
            break;
        /* Under a stream of writes, let them gather: the hub spends at most
         * about a third of a core patching (a patch waits twice the last
         * one's duration, at most VX_LIMIT_SDK_GATHER_MS). */
        double gap = 2 * h->last_build_sec;
        if (gap > VX_LIMIT_SDK_GATHER_MS / 1000.0)
            gap = VX_LIMIT_SDK_GATHER_MS / 1000.0;
        double since = mono_sec() - h->last_build_end;
        if (since < gap) {
            pthread_mutex_unlock(&h->mu);
            struct timespec ts = {0, (long)((gap - since) * 1e9)};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&h->mu);
            if (h->stop)
                break;
        }
        uint64_t ticket = h->asked;
        int64_t seen = h->revision;
        bool wanted = false;
        for (size_t i = 0; i < h->nenvs; i++)
            wanted = wanted || (h->envs[i].wanted && !h->envs[i].cur);
        h->notified = false;
        pthread_mutex_unlock(&h->mu);

        vx_error err;
        memset(&err, 0, sizeof(err));
        vx_status st = VX_OK;
        int64_t rev = 0;
        vx_status rst = svc_revision(h->svc, &rev, &err);
        if (rst != VX_OK && !h->db_down) {
            /* Only this thread reads or writes db_down. */
            vx__logf(h->log, h->log_ud, "warn",
                     "sdk: serving the last published flags: %s", err.message);
            h->db_down = true;
        } else if (rst == VX_OK && h->db_down) {
            vx__logf(h->log, h->log_ud, "info",
                     "sdk: the database answers again");
            h->db_down = false;
        }
        if (rst == VX_OK && (rev != seen || wanted)) {
            /* Another process may have changed tokens too. */
            if (rev != seen)
                svc_invalidate(h->svc);
            st = rebuild(h, &err);
            h->trim_due = true;
        }
        /* What patches churned (the changes read, the replaced states)
         * goes back to the system once a burst is over, and at most every
         * VX_LIMIT_SDK_TRIM_MS during one: a trim walks the whole heap. */
        double t_now = mono_sec();
        if (h->trim_due &&
            (quiet || t_now - h->last_trim >= VX_LIMIT_SDK_TRIM_MS / 1000.0)) {
            malloc_trim(0);
            h->trim_due = false;
            h->last_trim = t_now;
        }
        if (st != VX_OK)
            vx__logf(h->log, h->log_ud, "error",
                     "sdk: rebuilding the published flags failed: %s",
                     err.message);

        pthread_mutex_lock(&h->mu);
        if (ticket > h->done)
            h->done = ticket;
        pthread_cond_broadcast(&h->built);
        double now = mono_sec();
        if (now - h->last_beat >= VX_LIMIT_SSE_HEARTBEAT_MS / 1000.0) {
            h->last_beat = now;
            for (hub_sub *s = h->subs; s; s = s->next)
                hub__sub_put(s, ": heartbeat\n\n", 13);
            hub__wake_all(h);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

void hub_kick(hub *h)
{
    pthread_mutex_lock(&h->mu);
    bool live = false;
    for (size_t i = 0; i < h->nenvs; i++)
        live = live || h->envs[i].cur;
    /* With no environment served yet there is nothing to bring up to
     * date: the first SDK request builds from the database as it is. */
    if (live) {
        h->asked++;
        pthread_cond_signal(&h->kick);
    }
    pthread_mutex_unlock(&h->mu);
}

vx_status hub_new(service *svc, unsigned poll_ms, hub_log_fn log, void *log_ud,
                  hub **out, vx_error *err)
{
    *out = NULL;
    hub *h = vx__calloc(1, sizeof(*h));
    if (!h)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    h->svc = svc;
    h->log = log;
    h->log_ud = log_ud;
    h->revision = -1;
    h->poll_ms = poll_ms ? poll_ms : VX_LIMIT_SDK_POLL_MS;
    h->last_beat = mono_sec();
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->kick, NULL);
    pthread_cond_init(&h->built, NULL);
    vx_status st = rebuild(h, err);
    if (st == VX_OK && pthread_create(&h->thread, NULL, hub_main, h) != 0)
        st = vx__error_set(err, VX_EIO, "", "cannot start the sdk thread");
    if (st == VX_OK)
        h->started = true;
    if (st == VX_OK && svc_watchable(svc)) {
        if (pthread_create(&h->watcher, NULL, watch_main, h) != 0)
            st = vx__error_set(err, VX_EIO, "",
                               "cannot start the sdk watch thread");
        else
            h->watching = true;
    }
    if (st != VX_OK) {
        hub_free(&h);
        return st;
    }
    *out = h;
    return VX_OK;
}

void hub_free(hub **hp)
{
    if (!hp || !*hp)
        return;
    hub *h = *hp;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->kick);
    pthread_cond_broadcast(&h->built);
    pthread_mutex_unlock(&h->mu);
    if (h->started)
        pthread_join(h->thread, NULL);
    if (h->watching)
        pthread_join(h->watcher, NULL);
    hub_close_streams(h);
    while (h->subs)
        hub_unsubscribe(h, h->subs);
    for (size_t i = 0; i < h->nenvs; i++) {
        hub_state_release(h->envs[i].cur);
        for (size_t k = 0; k < h->envs[i].nhist; k++)
            hub__index_free(h->envs[i].hist[k]);
    }
    vx__free(h->envs);
    pthread_cond_destroy(&h->kick);
    pthread_cond_destroy(&h->built);
    pthread_mutex_destroy(&h->mu);
    vx__free(h);
    *hp = NULL;
}

void hub_get_stats(hub *h, hub_stats *out)
{
    pthread_mutex_lock(&h->mu);
    out->rebuilds = h->rebuilds;
    out->subscribers = (int64_t)h->nsubs;
    out->revision = h->revision;
    out->last_build_sec = h->last_build_sec;
    pthread_mutex_unlock(&h->mu);
}
