/* The SDK hub: see hub.h. A state is built from the service's client
 * document off the request path (the hub's thread), published by swapping
 * one pointer under the hub lock, and read by any number of requests that
 * each hold a reference.
 *
 * Invariants: hub.revision only grows; hub.mu is never held across a
 * database call (the hub's thread reads the database without it and
 * publishes under it), so a request waits on the hub at most
 * VX_LIMIT_SDK_FRESH_MS and never on the database. */
#include "hub/internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"

env_slot *hub__slot_find(hub *h, const char *env)
{
    for (size_t i = 0; i < h->nenvs; i++)
        if (strcmp(h->envs[i].name, env) == 0)
            return &h->envs[i];
    return NULL;
}

/* `now` plus `ms` on the clock of the hub's condition variables
 * (monotonic: a wall clock that jumps does not stretch a wait). */
struct timespec hub__deadline_in(unsigned ms)
{
    return vx__deadline(CLOCK_MONOTONIC, (int64_t)ms);
}

/* Waits (under h->mu) until ticket `t` is done, at most until `until`.
 * A wait that runs out marks `t` given up: until the hub has done it, no
 * request waits (for it or a newer one), so a stuck or slow database costs
 * one bounded wait per publish, not one per request. */
static void wait_ticket(hub *h, uint64_t t, const struct timespec *until)
{
    while (h->done < t && h->done >= h->given_up && !h->stop) {
        if (pthread_cond_timedwait(&h->built, &h->mu, until) == ETIMEDOUT) {
            if (t > h->given_up)
                h->given_up = t;
            break;
        }
    }
}

vx_status hub_acquire(hub *h, const char *env, hub_state **out)
{
    struct timespec until = hub__deadline_in(h->fresh_ms);
    *out = NULL;
    pthread_mutex_lock(&h->mu);
    /* A write answered before this request began is served, if it is
     * published in time (writers themselves never wait). */
    wait_ticket(h, h->asked, &until);
    env_slot *e = hub__slot_find(h, env);
    if (e && !e->cur) {
        /* The first SDK request for this environment: have the hub thread
         * build it (once per attempt), and wait in the same bound (slots
         * move when the hub installs). */
        if (!e->wanted || e->want_ticket <= h->done) {
            e->wanted = true;
            e->want_ticket = ++h->asked;
            pthread_cond_signal(&h->kick);
        }
        wait_ticket(h, e->want_ticket, &until);
        e = hub__slot_find(h, env);
    }
    vx_status st = !e ? VX_ENOTFOUND : !e->cur ? VX_EUNAVAILABLE : VX_OK;
    if (st == VX_OK)
        *out = hub__state_ref(e->cur);
    pthread_mutex_unlock(&h->mu);
    return st;
}

/* ---- rebuilding -----------------------------------------------------------
 */

/* Publishes `s` for `e` (under h->mu), remembering the old content for
 * deltas, feeding subscribers and noting what it sets aside. */
void hub__publish(hub *h, env_slot *e, hub_state *s)
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
    hub__aside_note(h, e, hub__aside_json(s));
    hub_state_release(old);
}

/* Publishes `b` (taken) for `e` unless it is the current state again
 * (under h->mu). Equal content and revision keep the current state, and
 * with it the ETags; a revision that moved publishes even equal content,
 * since every process labels it so. */
static void offer(hub *h, env_slot *e, hub_state *b)
{
    hub_state *c = e->cur;
    if (c && c->content == b->content && b->revision <= c->revision) {
        hub_state_release(b); /* unchanged (or labelled older: a read
                                 raced a commit; the next check fixes it) */
        return;
    }
    if (c && c->content != b->content && b->revision <= c->revision) {
        /* New content under an old revision: no event announced the change
         * (which svc_sdk_relevant should prevent). A client must not be
         * told it is up to date, so the revision moves on. */
        b->revision = c->revision + 1;
    }
    hub__publish(h, e, b);
}

/* Installs the environments `names` (a JSON array; NULL keeps the current
 * set) with the new states in `built` (by environment, taken over; an
 * environment without one keeps its current state) and the lists of
 * `checked` (states built only to see what they set aside, released).
 * Under h->mu. */
static vx_status install(hub *h, const json_t *names, hub_state **built,
                         size_t nbuilt, hub_state **checked, size_t nchecked,
                         int64_t rev, vx_error *err)
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
            if (built[k] && strcmp(built[k]->env, name) == 0) {
                offer(h, e, built[k]);
                built[k] = NULL;
            }
        }
        for (size_t k = 0; k < nchecked; k++) {
            if (checked[k] && strcmp(checked[k]->env, name) == 0 && !e->cur)
                hub__aside_note(h, e, hub__aside_json(checked[k]));
        }
    }
    /* Environments that are gone. */
    for (size_t i = 0; i < h->nenvs; i++) {
        hub_state_release(h->envs[i].cur);
        for (size_t k = 0; k < h->envs[i].nhist; k++)
            hub__index_free(h->envs[i].hist[k]);
        json_decref(h->envs[i].aside);
    }
    vx__free(h->envs);
    h->envs = envs;
    h->nenvs = n;
    if (rev > h->revision)
        h->revision = rev;
    return VX_OK;
}

/* Builds each environment of `envs` (a JSON array) that no SDK loaded, one
 * at a time, into `checked` (at most `cap`), only to see what it sets
 * aside. */
static vx_status check_unloaded(hub *h, const json_t *envs, hub_state **checked,
                                size_t cap, size_t *n, vx_error *err)
{
    vx_status st = VX_OK;
    size_t i;
    const json_t *name;
    json_array_foreach (envs, i, name) {
        if (st != VX_OK || *n == cap)
            break;
        json_t *one = json_pack("[O]", name), *docs = NULL;
        int64_t rev = 0;
        st = one ? svc_client_states(h->svc, one, &docs, &rev, err)
                 : vx__error_set(err, VX_ENOMEM, "", "out of memory");
        json_t *doc =
            json_incref(json_object_get(docs, json_string_value(name)));
        json_decref(docs);
        json_decref(one);
        if (st == VX_OK && doc)
            st = hub__state_build_take(json_string_value(name), doc, 0,
                                       &checked[(*n)++], err);
        else
            json_decref(doc);
    }
    return st;
}

/* The revision of environment `env` in `changes` (svc_client_changes),
 * else `cur`. */
static int64_t env_revision(const json_t *changes, const char *env, int64_t cur)
{
    const json_t *r =
        json_object_get(json_object_get(changes, env), "revision");
    return r ? (int64_t)json_integer_value(r) : cur;
}

/* Brings the published states up to the database. Only environments an
 * SDK has asked for are materialized (the others cost nothing until then,
 * but what they set aside is checked): those are patched with the flags
 * that events name since the last revision, or rebuilt when something else
 * changed; newly asked ones are built. When a token may have changed (an
 * event says so, a whole rebuild, or `tokens_due`), the tokens are read
 * after the flags and the subscribers checked before anything is
 * published, so a revoked token is sent nothing newer than its
 * revocation. Reads the
 * database outside h->mu; publishes under it. Only the hub thread (and
 * hub_new) call it. */
static vx_status rebuild(hub *h, bool tokens_due, vx_error *err)
{
    double t0 = hub__mono_sec();
    json_t *docs = NULL, *changes = NULL, *names = NULL, *build = NULL,
           *unloaded = NULL;
    int64_t rev = 0, drev = 0;
    hub_state **built = NULL, **cur = NULL, **checked = NULL;
    size_t n = 0, nbuilt = 0, nchecked = 0, ntok = 0;
    svc_token_state *tok = NULL;
    bool tok_events = false;
    vx_status st = VX_OK;
    if (h->revision >= 0)
        st = svc_client_changes(h->svc, h->revision, &changes, &rev,
                                &tok_events, err);
    if (st == VX_OK && !changes)
        st = svc_revision(h->svc, &rev, err);
    if (st == VX_OK && !changes)
        st = svc_environment_names(h->svc, &names, err);
    if (st != VX_OK)
        goto out;
    if (!changes || tok_events)
        svc_invalidate(h->svc); /* another process may have changed tokens */
    /* Which environments are live (their current states, referenced), which
     * are to be built whole, and which only checked. */
    build = json_array();
    unloaded = json_array();
    pthread_mutex_lock(&h->mu);
    n = h->nenvs;
    cur = vx__calloc(n ? n : 1, sizeof(*cur));
    for (size_t i = 0; cur && i < n; i++) {
        env_slot *e = &h->envs[i];
        cur[i] = changes ? hub__state_ref(e->cur) : NULL;
        if ((e->cur && !changes) || (!e->cur && e->wanted))
            json_array_append_new(build, json_string(e->name));
        else if (!e->cur && changes)
            hub__aside_flags(
                h, e,
                json_object_get(json_object_get(changes, e->name), "flags"));
    }
    pthread_mutex_unlock(&h->mu);
    /* A whole rebuild checks the environments no SDK loaded (new ones
     * included: `names` is the new list). */
    size_t nnames = json_array_size(names);
    for (size_t i = 0; i < nnames; i++) {
        const json_t *nm = json_array_get(names, i);
        bool listed = false;
        for (size_t k = 0; k < json_array_size(build); k++)
            listed = listed || json_equal(json_array_get(build, k), nm);
        if (!listed)
            json_array_append(unloaded, (json_t *)nm);
    }
    built = vx__calloc(n + json_array_size(build) + 1, sizeof(*built));
    checked = vx__calloc(json_array_size(unloaded) + 1, sizeof(*checked));
    if (!cur || !built || !build || !unloaded || !checked) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; st == VX_OK && i < n; i++) {
        if (!cur[i])
            continue;
        json_t *v = json_object_get(changes, cur[i]->env);
        json_t *flags = json_object_get(v, "flags");
        int64_t r = env_revision(changes, cur[i]->env, cur[i]->revision);
        if (json_object_size(flags) || r != cur[i]->revision)
            st = hub__state_patch(cur[i], flags, r, &built[nbuilt++], err);
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
        int64_t r = json_integer_value(json_object_get(doc, "revision"));
        json_incref(doc);
        json_object_del(docs, name);
        st = hub__state_build_take(name, doc, r, &built[nbuilt++], err);
    }
    if (st == VX_OK)
        st = check_unloaded(h, unloaded, checked, json_array_size(unloaded),
                            &nchecked, err);
    if (st == VX_OK && (tokens_due || tok_events || !changes))
        st = svc_token_states(h->svc, &tok, &ntok, err);
    if (st == VX_OK) {
        pthread_mutex_lock(&h->mu);
        if (tok) {
            hub__check_tokens(h, tok, ntok);
            vx__free(h->tokens);
            h->tokens = tok;
            h->ntokens = ntok;
            tok = NULL;
        }
        st = install(h, names, built, nbuilt, checked, nchecked,
                     changes ? rev
                     : drev  ? drev
                             : rev,
                     err);
        h->rebuilds++;
        h->last_build_end = hub__mono_sec();
        h->last_build_sec = h->last_build_end - t0;
        hub__wake_all(h);
        pthread_mutex_unlock(&h->mu);
    }
    if (st == VX_OK && (json_array_size(build) || nchecked))
        malloc_trim(0); /* a whole build frees much: give it back */
out:
    for (size_t k = 0; built && k < nbuilt; k++)
        hub_state_release(built[k]);
    for (size_t k = 0; checked && k < nchecked; k++)
        hub_state_release(checked[k]);
    for (size_t k = 0; cur && k < n; k++)
        hub_state_release(cur[k]);
    vx__free(built);
    vx__free(checked);
    vx__free(cur);
    vx__free(tok);
    json_decref(docs);
    json_decref(changes);
    json_decref(names);
    json_decref(build);
    json_decref(unloaded);
    return st;
}

/* Reads every token's state for the subscribers' checks (the hub thread,
 * when nothing else is to be rebuilt). */
static vx_status refresh_tokens(hub *h, vx_error *err)
{
    svc_token_state *tok = NULL;
    size_t ntok = 0;
    vx_status st = svc_token_states(h->svc, &tok, &ntok, err);
    if (st != VX_OK)
        return st;
    pthread_mutex_lock(&h->mu);
    hub__check_tokens(h, tok, ntok);
    vx__free(h->tokens);
    h->tokens = tok;
    h->ntokens = ntok;
    pthread_mutex_unlock(&h->mu);
    return VX_OK;
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
        if (h->asked == h->done && !h->notified && !h->tokens_due) {
            struct timespec until = hub__deadline_in(h->poll_ms);
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
        double since = hub__mono_sec() - h->last_build_end;
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
        bool tokens_due = h->tokens_due;
        h->tokens_due = false;
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
            st = rebuild(h, tokens_due, &err);
            h->trim_due = true;
        } else if (rst == VX_OK && tokens_due) {
            st = refresh_tokens(h, &err);
        }
        if (rst != VX_OK && tokens_due) {
            pthread_mutex_lock(&h->mu);
            h->tokens_due = true; /* check them once the database answers */
            pthread_mutex_unlock(&h->mu);
        }
        /* What patches churned (the changes read, the replaced states)
         * goes back to the system once a burst is over, and at most every
         * VX_LIMIT_SDK_TRIM_MS during one: a trim walks the whole heap. */
        double t_now = hub__mono_sec();
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
        if (rst != VX_OK && !h->stop) {
            /* The database does not answer: try again after a poll period
             * rather than at once for each request that asks. */
            struct timespec until = hub__deadline_in(h->poll_ms);
            pthread_cond_timedwait(&h->kick, &h->mu, &until);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* The service's commit hook (any writer's thread, after its commit, before
 * it answers): never waits. A change to what SDKs are served asks for a
 * publish that SDK requests starting after this call wait for (bounded);
 * a change to tokens has the subscribers' tokens checked. */
static void on_commit(void *ud, unsigned changes)
{
    hub *h = ud;
    pthread_mutex_lock(&h->mu);
    bool live = false;
    for (size_t i = 0; i < h->nenvs; i++)
        live = live || h->envs[i].cur;
    /* With no environment served yet there is nothing to bring up to
     * date: the first SDK request builds from the database as it is. */
    if (live && (changes & SVC_CHANGE_SDK))
        h->asked++;
    if (changes & SVC_CHANGE_TOKENS)
        h->tokens_due = true;
    if (changes & (SVC_CHANGE_SDK | SVC_CHANGE_TOKENS))
        pthread_cond_signal(&h->kick);
    pthread_mutex_unlock(&h->mu);
}

void hub__init(hub *h, const hub_config *cfg)
{
    h->log = cfg->log;
    h->log_ud = cfg->log_ud;
    h->revision = -1;
    h->poll_ms = cfg->poll_ms ? cfg->poll_ms : VX_LIMIT_SDK_POLL_MS;
    h->fresh_ms = cfg->fresh_ms ? cfg->fresh_ms : VX_LIMIT_SDK_FRESH_MS;
    h->max_streams = cfg->max_streams && cfg->max_streams < VX_LIMIT_SSE_CLIENTS
                         ? cfg->max_streams
                         : VX_LIMIT_SSE_CLIENTS;
    h->max_per_token = cfg->max_streams_per_token &&
                               cfg->max_streams_per_token < h->max_streams
                           ? cfg->max_streams_per_token
                           : h->max_streams;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->kick, &ca);
    pthread_cond_init(&h->built, &ca);
    pthread_cond_init(&h->calm, &ca);
    pthread_condattr_destroy(&ca);
}

vx_status hub_new(const hub_config *cfg, service *svc, hub **out, vx_error *err)
{
    *out = NULL;
    hub *h = vx__calloc(1, sizeof(*h));
    if (!h)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    hub__init(h, cfg);
    h->svc = svc;
    /* The first pass is whole: every environment is checked for what it
     * sets aside (and logged) before the server answers anything. */
    vx_status st = rebuild(h, false, err); /* whole: reads the tokens too */
    if (st == VX_OK && pthread_create(&h->thread, NULL, hub_main, h) != 0)
        st = vx__error_set(err, VX_EIO, "", "cannot start the sdk thread");
    if (st == VX_OK)
        h->started = true;
    if (st == VX_OK)
        st = hub__streams_start(h, err);
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
    svc_set_commit_hook(svc, on_commit, h);
    *out = h;
    return VX_OK;
}

void hub_free(hub **hp)
{
    if (!hp || !*hp)
        return;
    hub *h = *hp;
    if (h->started)
        svc_set_commit_hook(h->svc, NULL, NULL); /* no call after the free */
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->kick);
    pthread_cond_broadcast(&h->built);
    pthread_mutex_unlock(&h->mu);
    if (h->started)
        pthread_join(h->thread, NULL);
    if (h->watching)
        pthread_join(h->watcher, NULL);
    hub__streams_stop(h);
    hub_close_streams(h);
    while (h->subs)
        hub_unsubscribe(h, h->subs);
    for (size_t i = 0; i < h->nenvs; i++) {
        hub_state_release(h->envs[i].cur);
        for (size_t k = 0; k < h->envs[i].nhist; k++)
            hub__index_free(h->envs[i].hist[k]);
        json_decref(h->envs[i].aside);
    }
    vx__free(h->envs);
    vx__free(h->tokens);
    pthread_cond_destroy(&h->kick);
    pthread_cond_destroy(&h->built);
    pthread_cond_destroy(&h->calm);
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
    out->streams_refused = h->streams_refused;
    out->streams_ended = h->streams_ended;
    pthread_mutex_unlock(&h->mu);
}
