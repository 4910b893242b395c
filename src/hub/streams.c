/* Streaming subscribers of the SDK hub: each has a bounded queue of SSE
 * text (VX_LIMIT_SSE_QUEUE_BYTES; past it the stream ends and the client
 * reconnects with a hydration) that publishing appends to and the
 * connection drains (hub_sub_read). Everything here is under hub.mu. */
#include "hub/internal.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"

/* Queues SSE text for `sub` (under h->mu); past the bound the stream ends. */
void hub__sub_put(hub_sub *sub, const char *s, size_t n)
{
    sbuf *q = &sub->q;
    if (sub->over)
        return;
    if (sub->off == q->len)
        sub->off = q->len = 0;
    if (q->len - sub->off + n > VX_LIMIT_SSE_QUEUE_BYTES) {
        sub->over = true;
        return;
    }
    if (sub->off && q->len + n + 1 > q->cap) {
        /* Reclaim what was read before growing. */
        memmove(q->p, q->p + sub->off, q->len - sub->off);
        q->len -= sub->off;
        sub->off = 0;
    }
    hub__sb_put(q, s, n);
    if (q->fail)
        sub->over = true;
}

/* Queues what `sub` has not seen of `s` (under h->mu). */
void hub__sub_feed(env_slot *e, hub_sub *sub, const hub_state *s)
{
    if (sub->last == s->revision)
        return;
    const hub_index *old = sub->last >= 0 ? hub__hist_find(e, sub->last) : NULL;
    sbuf b = {0};
    bool empty = false;
    hub__build_delta(&b, old, s, &sub->scope, &empty);
    if (b.fail) {
        sub->over = true;
    } else if (!empty) {
        char head[96];
        int n = snprintf(head, sizeof(head),
                         "id: %lld\nevent: %s\ndata: ", (long long)s->revision,
                         old ? "unleash-updated" : "unleash-connected");
        hub__sub_put(sub, head, (size_t)n);
        hub__sub_put(sub, b.p, b.len);
        hub__sub_put(sub, "\n\n", 2);
    }
    vx__free(b.p);
    sub->last = s->revision;
}

/* Streams `token_id` holds (under h->mu). */
static size_t streams_of(const hub *h, int64_t token_id)
{
    size_t n = 0;
    for (const hub_sub *s = h->subs; s; s = s->next)
        n += s->token_id == token_id;
    return n;
}

/* The entry of token `id` in `t` ([n], by id), or NULL. */
static const svc_token_state *token_find(const svc_token_state *t, size_t n,
                                         int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid].id == id)
            return &t[mid];
        if (t[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Ends `sub`'s stream (under h->mu); `gone`: its peer closed. */
static void end_sub(hub *h, hub_sub *sub, bool gone)
{
    if (sub->over)
        return;
    sub->over = true;
    sub->gone = gone;
    h->streams_ended++;
    sub->wake(sub->wake_ud);
}

/* True when `a` ([na]) and `b` ([nb]) list the same tokens alike. */
static bool tokens_equal(const svc_token_state *a, size_t na,
                         const svc_token_state *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].id != b[i].id || a[i].revoked != b[i].revoked ||
            a[i].expires_ms != b[i].expires_ms)
            return false;
    return true;
}

void hub__check_tokens(hub *h, const svc_token_state *tokens, size_t n)
{
    int64_t now = vx__wall_ms();
    /* Edges check the tokens they cached again when the list changes (a
     * token revoked, created, its expiry moved): they are told so. */
    if (!tokens_equal(tokens, n, h->tokens, h->ntokens)) {
        static const char ev[] = "event: vexil-tokens\ndata: {}\n\n";
        for (hub_sub *s = h->subs; s; s = s->next)
            if (s->scope.edge && !s->over) {
                hub__sub_put(s, ev, sizeof(ev) - 1);
                s->wake(s->wake_ud);
            }
    }
    for (hub_sub *s = h->subs; s; s = s->next) {
        const svc_token_state *t = token_find(tokens, n, s->token_id);
        if (!t)
            continue; /* newer than the list: the next check has it */
        s->expires_ms = t->expires_ms;
        if (t->revoked || (t->expires_ms && t->expires_ms <= now))
            end_sub(h, s, false);
    }
}

vx_status hub_subscribe(hub *h, const char *env, const hub_scope *scope,
                        int64_t since, const hub_peer *peer, hub_wake_fn wake,
                        void *wake_ud, hub_sub **out, vx_error *err)
{
    *out = NULL;
    hub_sub *sub = vx__calloc(1, sizeof(*sub));
    const char *parts[4] = {scope->projects, scope->project, scope->name_prefix,
                            scope->tag};
    size_t total = 0;
    for (int i = 0; i < 4; i++)
        total += (parts[i] ? strlen(parts[i]) : 0) + 1;
    char *strings = sub ? vx__malloc(total) : NULL;
    if (!strings) {
        vx__free(sub);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    const char **dst[4] = {&sub->scope.projects, &sub->scope.project,
                           &sub->scope.name_prefix, &sub->scope.tag};
    char *p = strings;
    for (int i = 0; i < 4; i++) {
        size_t n = parts[i] ? strlen(parts[i]) : 0;
        memcpy(p, parts[i] ? parts[i] : "", n);
        p[n] = '\0';
        *dst[i] = p;
        p += n + 1;
    }
    sub->strings = strings;
    sub->scope.inline_segments = false;
    sub->scope.edge = scope->edge;
    snprintf(sub->env, sizeof(sub->env), "%s", env);
    sub->last = since;
    sub->wake = wake;
    sub->wake_ud = wake_ud;
    sub->hub = h;
    sub->token_id = peer->token_id;
    sub->fd = peer->fd;
    hub_state *cur = NULL;
    vx_status st = hub_acquire(h, env, &cur); /* loads it */
    hub_state_release(cur);
    if (st == VX_ENOTFOUND)
        st = vx__error_set(err, st, "", "environment '%s' not found", env);
    else if (st != VX_OK)
        st = vx__error_set(err, st, "",
                           "environment '%s' is not loaded yet: retry later",
                           env);
    pthread_mutex_lock(&h->mu);
    env_slot *e = st == VX_OK ? hub__slot_find(h, env) : NULL;
    const svc_token_state *t =
        token_find(h->tokens, h->ntokens, peer->token_id);
    if (st != VX_OK) {
        /* as set above */
    } else if (h->streams_closed) {
        st = vx__error_set(err, VX_EUNAVAILABLE, "", "the server is stopping");
    } else if (!e || !e->cur) {
        st = vx__error_set(err, VX_ENOTFOUND, "", "environment '%s' not found",
                           env);
    } else if (t && (t->revoked ||
                     (t->expires_ms && t->expires_ms <= vx__wall_ms()))) {
        st = vx__error_set(err, VX_EAUTH, "", "token revoked or expired");
    } else if (h->nsubs >= h->max_streams) {
        h->streams_refused++;
        st = vx__error_set(err, VX_EUNAVAILABLE, "",
                           "all %u streaming connections are taken: poll, or "
                           "retry later",
                           h->max_streams);
    } else if (streams_of(h, peer->token_id) >= h->max_per_token) {
        h->streams_refused++;
        st = vx__error_set(err, VX_ELIMIT, "",
                           "this token holds %u streaming connections, its "
                           "most: poll, or retry later",
                           h->max_per_token);
    } else {
        sub->expires_ms = t ? t->expires_ms : 0;
        sub->serial = ++h->next_serial;
        if (since >= 0 && since != e->cur->revision &&
            !hub__hist_find(e, since))
            sub->last = -1; /* forgotten revision: hydrate */
        if (sub->last == e->cur->revision)
            hub__sub_put(sub, ": up to date\n\n", 15); /* headers go out now */
        hub__sub_feed(e, sub, e->cur);
        sub->next = h->subs;
        h->subs = sub;
        h->nsubs++;
        if (!t) {
            h->tokens_due = true; /* a token newer than the list: read it */
            pthread_cond_signal(&h->kick);
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (st != VX_OK) {
        vx__free(sub->strings);
        vx__free(sub);
        return st;
    }
    *out = sub;
    return VX_OK;
}

long hub_sub_read(hub_sub *sub, char *buf, size_t max)
{
    pthread_mutex_t *mu = &sub->hub->mu;
    pthread_mutex_lock(mu);
    long n = 0;
    size_t have = sub->q.len - sub->off;
    if (sub->gone) {
        n = -2; /* nobody to send it to */
    } else if (have) {
        size_t k = have < max ? have : max;
        memcpy(buf, sub->q.p + sub->off, k);
        sub->off += k;
        n = (long)k;
        if (sub->off == sub->q.len && sub->q.cap > VX_LIMIT_SSE_KEEP_BYTES) {
            /* Drained: a hydration's room is not kept for the deltas and
             * heartbeats that follow (most of a stream's life). */
            vx__free(sub->q.p);
            memset(&sub->q, 0, sizeof(sub->q));
            sub->off = 0;
        }
    } else if (sub->over) {
        n = -1;
    }
    pthread_mutex_unlock(mu);
    return n;
}

void hub_unsubscribe(hub *h, hub_sub *sub)
{
    if (!sub)
        return;
    pthread_mutex_lock(&h->mu);
    for (hub_sub **pp = &h->subs; *pp; pp = &(*pp)->next) {
        if (*pp == sub) {
            *pp = sub->next;
            h->nsubs--;
            break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    vx__free(sub->q.p);
    vx__free(sub->strings);
    vx__free(sub);
}

vx_status hub_stream_caps(unsigned conns, unsigned max_streams,
                          unsigned per_token, unsigned *total, unsigned *per,
                          vx_error *err)
{
    unsigned t = max_streams ? max_streams
                             : (unsigned)((unsigned long long)conns *
                                          VX_LIMIT_SSE_SHARE_EIGHTHS / 8);
    if (t > VX_LIMIT_SSE_CLIENTS)
        t = VX_LIMIT_SSE_CLIENTS;
    if (t < 1)
        t = 1;
    if (t >= conns)
        return vx__error_set(err, VX_ELIMIT, "/max-streams",
                             "max-streams %u must be below max-connections %u "
                             "(polls and /health need connections too)",
                             t, conns);
    unsigned p = per_token ? per_token
                           : (unsigned)((unsigned long long)t *
                                        VX_LIMIT_SSE_PER_TOKEN_QUARTERS / 4);
    *total = t;
    *per = p && p < t ? p : t;
    return VX_OK;
}

bool hub_token_state(hub *h, int64_t id, svc_token_state *out)
{
    pthread_mutex_lock(&h->mu);
    const svc_token_state *t = token_find(h->tokens, h->ntokens, id);
    if (t)
        *out = *t;
    pthread_mutex_unlock(&h->mu);
    return t != NULL;
}

void hub__wake_all(hub *h)
{
    for (hub_sub *s = h->subs; s; s = s->next)
        if (s->q.len > s->off || s->over)
            s->wake(s->wake_ud);
}

void hub_close_streams(hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->streams_closed = true;
    for (hub_sub *s = h->subs; s; s = s->next)
        s->over = true;
    hub__wake_all(h);
    pthread_mutex_unlock(&h->mu);
}

/* ---- the streams thread
 * ------------------------------------------------------- A connection whose
 * response libmicrohttpd suspended (a stream with nothing to send) is not
 * polled by libmicrohttpd, so a peer that closes it would be noticed only when
 * the next heartbeat fails. This thread looks at every subscriber's socket
 * every VX_LIMIT_SSE_CHECK_MS without the lock (poll() with no wait, for
 * POLLRDHUP/POLLHUP/POLLERR: a stream's client sends nothing after its request,
 * so only the end counts) and ends the subscribers whose peer is gone, which
 * resumes their connections so that libmicrohttpd closes them. It also ends
 * subscribers whose token expired, and queues the heartbeats. Its cost is one
 * poll() over the streams' sockets per period (bench/README.md). */

/* Sockets to look at, with the subscribers they belong to. */
typedef struct watch_set {
    struct pollfd *fds; /* [n] */
    uint64_t *serials;  /* [n] */
    size_t n, cap;      /* used, allocated */
} watch_set;

static bool watch_reserve(watch_set *w, size_t n)
{
    if (n <= w->cap)
        return true;
    struct pollfd *f = vx__realloc(w->fds, n * sizeof(*f));
    if (f)
        w->fds = f;
    uint64_t *s = f ? vx__realloc(w->serials, n * sizeof(*s)) : NULL;
    if (s)
        w->serials = s;
    if (!f || !s)
        return false;
    w->cap = n;
    return true;
}

/* One pass (called with h->mu held; releases it around poll()). */
static void check_streams(hub *h, watch_set *w, bool beat)
{
    w->n = 0;
    int64_t now = vx__wall_ms();
    if (watch_reserve(w, h->nsubs)) {
        for (hub_sub *s = h->subs; s; s = s->next) {
            if (s->expires_ms && s->expires_ms <= now)
                end_sub(h, s, false);
            if (s->over || s->fd < 0)
                continue;
            w->fds[w->n] = (struct pollfd){.fd = s->fd, .events = POLLRDHUP};
            w->serials[w->n++] = s->serial;
        }
    }
    if (beat) {
        for (hub_sub *s = h->subs; s; s = s->next)
            hub__sub_put(s, ": heartbeat\n\n", 13);
        hub__wake_all(h);
    }
    if (!w->n)
        return;
    pthread_mutex_unlock(&h->mu);
    int ready = poll(w->fds, (nfds_t)w->n, 0);
    pthread_mutex_lock(&h->mu);
    if (ready <= 0)
        return;
    /* Subscribers only ever join at the head, so both lists run in
     * descending serial order: one merge finds the closed ones still
     * here. */
    size_t k = 0;
    for (hub_sub *s = h->subs; s && k < w->n; s = s->next) {
        while (k < w->n && w->serials[k] > s->serial)
            k++;
        if (k == w->n || w->serials[k] != s->serial)
            continue;
        if (w->fds[k].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
            end_sub(h, s, true);
        k++;
    }
}

static void *streams_main(void *arg)
{
    hub *h = arg;
    watch_set w = {0};
    double last_beat = hub__mono_sec();
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec until = hub__deadline_in(VX_LIMIT_SSE_CHECK_MS);
        pthread_cond_timedwait(&h->calm, &h->mu, &until);
        if (h->stop)
            break;
        double now = hub__mono_sec();
        bool beat = now - last_beat >= VX_LIMIT_SSE_HEARTBEAT_MS / 1000.0;
        if (beat)
            last_beat = now;
        check_streams(h, &w, beat);
    }
    pthread_mutex_unlock(&h->mu);
    vx__free(w.fds);
    vx__free(w.serials);
    return NULL;
}

vx_status hub__streams_start(hub *h, vx_error *err)
{
    if (pthread_create(&h->streamer, NULL, streams_main, h) != 0)
        return vx__error_set(err, VX_EIO, "",
                             "cannot start the sdk streams thread");
    h->streaming = true;
    return VX_OK;
}

void hub__streams_stop(hub *h)
{
    if (!h->streaming)
        return;
    pthread_mutex_lock(&h->mu);
    pthread_cond_broadcast(&h->calm);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->streamer, NULL);
    h->streaming = false;
}
