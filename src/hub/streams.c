/* Streaming subscribers of the SDK hub: each has a bounded queue of SSE
 * text (VX_LIMIT_SSE_QUEUE_BYTES; past it the stream ends and the client
 * reconnects with a hydration) that publishing appends to and the
 * connection drains (hub_sub_read). Everything here is under hub.mu. */
#include "hub/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
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

vx_status hub_subscribe(hub *h, const char *env, const hub_scope *scope,
                        int64_t since, hub_wake_fn wake, void *wake_ud,
                        hub_sub **out, vx_error *err)
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
    snprintf(sub->env, sizeof(sub->env), "%s", env);
    sub->last = since;
    sub->wake = wake;
    sub->wake_ud = wake_ud;
    sub->hub = h;
    vx_status st = VX_OK;
    hub_state_release(hub_acquire(h, env)); /* materialize it */
    pthread_mutex_lock(&h->mu);
    env_slot *e = hub__slot_find(h, env);
    if (h->streams_closed) {
        st = vx__error_set(err, VX_EIO, "", "the server is stopping");
    } else if (!e || !e->cur) {
        st = vx__error_set(err, VX_ENOTFOUND, "", "environment '%s' not found",
                           env);
    } else if (h->nsubs >= VX_LIMIT_SSE_CLIENTS) {
        st = vx__error_set(err, VX_ELIMIT, "", "more than %d streaming clients",
                           VX_LIMIT_SSE_CLIENTS);
    } else {
        if (since >= 0 && since != e->cur->revision &&
            !hub__hist_find(e, since))
            sub->last = -1; /* forgotten revision: hydrate */
        if (sub->last == e->cur->revision)
            hub__sub_put(sub, ": up to date\n\n", 15); /* headers go out now */
        hub__sub_feed(e, sub, e->cur);
        sub->next = h->subs;
        h->subs = sub;
        h->nsubs++;
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
    if (have) {
        size_t k = have < max ? have : max;
        memcpy(buf, sub->q.p + sub->off, k);
        sub->off += k;
        n = (long)k;
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

/* Wakes every subscriber with something to read (under h->mu). */
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
