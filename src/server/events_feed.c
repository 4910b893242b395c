/* The fan-out of the console's live updates: see events_feed.h. Every
 * function takes the feed's mutex; the queues are plain byte buffers with
 * a read offset, bounded by queue_bytes (past it the stream ends and the
 * browser resumes with Last-Event-ID); the history is a ring of the last
 * `history` events sent, oldest first. */
#include "server/events_feed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

#define EV_NAME_MAX     128 /* a filter (names are at most 100 bytes) */
#define EV_PROJECTS_MAX 512 /* svc_principal.projects */

/* One queued byte buffer. */
typedef struct ev_buf {
    char *p;    /* bytes [off, len) are unsent */
    size_t len; /* used */
    size_t off; /* read so far */
    size_t cap; /* allocated */
} ev_buf;

struct ev_sub {
    ev_sub *next;                   /* in ev_feed.subs (newest first) */
    ev_feed *feed;                  /* its feed */
    uint64_t serial;                /* unique, increasing */
    int64_t token_id;               /* whose */
    char projects[EV_PROJECTS_MAX]; /* its token's projects */
    char feature[EV_NAME_MAX];      /* filter, "" = any */
    char environment[EV_NAME_MAX];  /* filter, "" = any */
    int fd;                         /* socket, -1 when unknown */
    int64_t end_ms;                 /* lifetime's end, 0 = none */
    int64_t token_expires_ms;       /* its token's expiry, 0 = none known */
    ev_buf q;                       /* queued SSE text */
    bool over;                      /* ended: reads end once q is empty */
    bool gone;                      /* its peer closed */
    ev_wake_fn wake;                /* see ev_wake_fn */
    void *wake_ud;                  /* passed to wake */
};

/* One event of the history. */
typedef struct ev_entry {
    int64_t id;      /* the audit event's id */
    int64_t at_ms;   /* when it was published */
    json_t *brief;   /* {id, type, project, environment, feature, ...} */
    char *text;      /* its SSE text ("id:...event: change...") */
    size_t text_len; /* bytes */
} ev_entry;

struct ev_feed {
    pthread_mutex_t mu; /* guards everything below */
    ev_feed_config cfg; /* as given */
    ev_sub *subs;       /* newest first */
    size_t nsubs;       /* subscribers */
    uint64_t serial;    /* last serial given */
    bool closed;        /* ev_feed_close was called */
    bool based;         /* a baseline exists */
    int64_t start;      /* events up to this id are old news */
    ev_entry *hist;     /* [cfg.history] ring */
    size_t hist_head;   /* index of the oldest */
    size_t hist_n;      /* entries used */
};

static const char PREAMBLE[] = "retry: 2000\n: connected\n\n";

/* Appends to `s`'s queue; past the bound the stream ends (under mu). */
static void put(ev_sub *s, const char *t, size_t n)
{
    ev_buf *b = &s->q;
    if (s->over)
        return;
    if (b->off == b->len)
        b->off = b->len = 0;
    if (b->len - b->off + n > s->feed->cfg.queue_bytes) {
        s->over = true;
        return;
    }
    if (b->len + n > b->cap && b->off) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n)
            cap *= 2;
        char *p = vx__realloc(b->p, cap);
        if (!p) {
            s->over = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, t, n);
    b->len += n;
}

static void wake(ev_sub *s)
{
    if (s->wake)
        s->wake(s->wake_ud);
}

/* Ends `s` (under mu). */
static void end(ev_sub *s, bool gone)
{
    if (s->over && (!gone || s->gone))
        return;
    s->over = true;
    s->gone = s->gone || gone;
    wake(s);
}

/* True when `name` is one of the comma-separated `list` ("*" = all). */
static bool in_list(const char *list, const char *name)
{
    if (!list || !name)
        return false;
    if (strcmp(list, "*") == 0)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t k = c ? (size_t)(c - p) : strlen(p);
        if (k == n && memcmp(p, name, n) == 0)
            return true;
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

static bool starts(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool ev_feed_match(const json_t *event, const char *projects,
                   const char *feature, const char *environment)
{
    const char *type = json_string_value(json_object_get(event, "type"));
    const char *project = json_string_value(json_object_get(event, "project"));
    const char *flag = json_string_value(json_object_get(event, "feature"));
    const char *env = json_string_value(json_object_get(event, "environment"));
    if (!(starts(type, "release-plan-") || starts(type, "scheduled-change-") ||
          starts(type, "feature-") || starts(type, "strategy-order-changed")))
        return false;
    if (!in_list(projects, project))
        return false;
    if (feature && *feature && (!flag || strcmp(flag, feature) != 0))
        return false;
    if (environment && *environment && env && strcmp(env, environment) != 0)
        return false;
    return true;
}

static bool sub_match(const ev_sub *s, const json_t *brief)
{
    return ev_feed_match(brief, s->projects, s->feature, s->environment);
}

vx_status ev_feed_new(const ev_feed_config *cfg, ev_feed **out, vx_error *err)
{
    *out = NULL;
    if (!cfg->max_streams || !cfg->max_per_token || !cfg->queue_bytes ||
        !cfg->history)
        return vx__error_set(err, VX_EINVAL, "", "a bound of the feed is 0");
    ev_feed *f = vx__calloc(1, sizeof(*f));
    ev_entry *h = f ? vx__calloc(cfg->history, sizeof(*h)) : NULL;
    if (!h) {
        vx__free(f);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    pthread_mutex_init(&f->mu, NULL);
    f->cfg = *cfg;
    f->hist = h;
    *out = f;
    return VX_OK;
}

static void entry_clear(ev_entry *e)
{
    json_decref(e->brief);
    vx__free(e->text);
    memset(e, 0, sizeof(*e));
}

static void hist_clear(ev_feed *f)
{
    for (size_t i = 0; i < f->cfg.history; i++)
        entry_clear(&f->hist[i]);
    f->hist_head = f->hist_n = 0;
}

void ev_feed_free(ev_feed **fp)
{
    if (!fp || !*fp)
        return;
    ev_feed *f = *fp;
    hist_clear(f);
    vx__free(f->hist);
    pthread_mutex_destroy(&f->mu);
    vx__free(f);
    *fp = NULL;
}

static ev_entry *hist_at(ev_feed *f, size_t i)
{
    return &f->hist[(f->hist_head + i) % f->cfg.history];
}

static bool hist_has(ev_feed *f, int64_t id)
{
    for (size_t i = 0; i < f->hist_n; i++)
        if (hist_at(f, i)->id == id)
            return true;
    return false;
}

/* "reset": reload everything; the id moves the browser's Last-Event-ID to
 * where the feed starts now. */
static void put_reset(ev_sub *s, int64_t revision)
{
    char t[96];
    int n = snprintf(t, sizeof(t), "id: %lld\nevent: reset\ndata: {}\n\n",
                     (long long)revision);
    put(s, t, (size_t)n);
}

/* What was published since `since_ms` and concerns `s` (under mu). */
static void replay_recent(ev_feed *f, ev_sub *s, int64_t since_ms)
{
    for (size_t i = 0; i < f->hist_n; i++) {
        ev_entry *e = hist_at(f, i);
        if (e->at_ms >= since_ms && sub_match(s, e->brief))
            put(s, e->text, e->text_len);
    }
}

/* What `s` missed after `last` (under mu). */
static void replay(ev_feed *f, ev_sub *s, int64_t last)
{
    if (!f->based || last < f->start) {
        put_reset(s, f->based ? f->start : 0);
        return;
    }
    for (size_t i = 0; i < f->hist_n; i++) {
        ev_entry *e = hist_at(f, i);
        if (e->id > last && sub_match(s, e->brief))
            put(s, e->text, e->text_len);
    }
}

static size_t streams_of(const ev_feed *f, int64_t token_id)
{
    size_t n = 0;
    for (const ev_sub *s = f->subs; s; s = s->next)
        n += s->token_id == token_id;
    return n;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

vx_status ev_feed_subscribe(ev_feed *f, const ev_who *who, ev_wake_fn wakefn,
                            void *wake_ud, ev_sub **out, vx_error *err)
{
    *out = NULL;
    ev_sub *s = vx__calloc(1, sizeof(*s));
    if (!s)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    s->feed = f;
    s->token_id = who->token_id;
    copy_str(s->projects, sizeof(s->projects), who->projects);
    copy_str(s->feature, sizeof(s->feature), who->feature);
    copy_str(s->environment, sizeof(s->environment), who->environment);
    s->fd = who->fd;
    s->wake = wakefn;
    s->wake_ud = wake_ud;
    vx_status st = VX_OK;
    pthread_mutex_lock(&f->mu);
    if (f->closed) {
        st = vx__error_set(err, VX_EUNAVAILABLE, "", "the server is stopping");
    } else if (f->nsubs >= f->cfg.max_streams) {
        st = vx__error_set(err, VX_EUNAVAILABLE, "",
                           "all %u live-update streams are taken: the console "
                           "refreshes by itself meanwhile; retry later",
                           f->cfg.max_streams);
    } else if (streams_of(f, who->token_id) >= f->cfg.max_per_token) {
        st = vx__error_set(err, VX_ELIMIT, "",
                           "this token holds %u live-update streams, its most: "
                           "close a console tab, or retry later",
                           f->cfg.max_per_token);
    } else {
        s->serial = ++f->serial;
        s->end_ms = f->cfg.lifetime_ms ? who->now_ms + f->cfg.lifetime_ms : 0;
        put(s, PREAMBLE, sizeof(PREAMBLE) - 1);
        if (who->last_id >= 0)
            replay(f, s, who->last_id);
        else if (f->cfg.recent_ms > 0)
            replay_recent(f, s, who->now_ms - f->cfg.recent_ms);
        s->next = f->subs;
        f->subs = s;
        f->nsubs++;
    }
    pthread_mutex_unlock(&f->mu);
    if (st != VX_OK) {
        vx__free(s);
        return st;
    }
    *out = s;
    return VX_OK;
}

long ev_sub_read(ev_sub *s, char *buf, size_t max)
{
    pthread_mutex_t *mu = &s->feed->mu;
    pthread_mutex_lock(mu);
    long n = 0;
    size_t have = s->q.len - s->q.off;
    if (s->gone) {
        n = -2;
    } else if (have) {
        size_t k = have < max ? have : max;
        memcpy(buf, s->q.p + s->q.off, k);
        s->q.off += k;
        n = (long)k;
    } else if (s->over) {
        n = -1;
    }
    pthread_mutex_unlock(mu);
    return n;
}

void ev_feed_unsubscribe(ev_feed *f, ev_sub *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&f->mu);
    for (ev_sub **pp = &f->subs; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            f->nsubs--;
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
    vx__free(s->q.p);
    vx__free(s);
}

void ev_feed_baseline(ev_feed *f, int64_t revision)
{
    pthread_mutex_lock(&f->mu);
    hist_clear(f);
    f->start = revision;
    f->based = true;
    pthread_mutex_unlock(&f->mu);
}

bool ev_feed_has_baseline(ev_feed *f)
{
    pthread_mutex_lock(&f->mu);
    bool b = f->based;
    pthread_mutex_unlock(&f->mu);
    return b;
}

bool ev_feed_publish(ev_feed *f, const json_t *event, int64_t now_ms)
{
    int64_t id = json_integer_value(json_object_get(event, "id"));
    char *data = json_dumps(event, JSON_COMPACT);
    size_t cap = data ? strlen(data) + 64 : 0;
    char *text = data ? vx__malloc(cap) : NULL;
    int n = text ? snprintf(text, cap, "id: %lld\nevent: change\ndata: %s\n\n",
                            (long long)id, data)
                 : -1;
    free(data);
    if (n < 0 || (size_t)n >= cap) {
        vx__free(text);
        return false;
    }
    bool fresh = false;
    pthread_mutex_lock(&f->mu);
    if (f->based && id > f->start && !hist_has(f, id)) {
        fresh = true;
        if (f->hist_n == f->cfg.history) {
            /* the oldest goes: the history no longer reaches before it */
            ev_entry *old = hist_at(f, 0);
            if (old->id > f->start)
                f->start = old->id;
            entry_clear(old);
            f->hist_head = (f->hist_head + 1) % f->cfg.history;
            f->hist_n--;
        }
        ev_entry *e = hist_at(f, f->hist_n++);
        e->id = id;
        e->at_ms = now_ms;
        e->brief = json_incref((json_t *)event);
        e->text = text;
        e->text_len = (size_t)n;
        text = NULL;
        for (ev_sub *s = f->subs; s; s = s->next) {
            if (!s->over && sub_match(s, event)) {
                put(s, e->text, e->text_len);
                wake(s);
            }
        }
    }
    pthread_mutex_unlock(&f->mu);
    vx__free(text);
    return fresh;
}

void ev_feed_reset(ev_feed *f, int64_t revision)
{
    pthread_mutex_lock(&f->mu);
    hist_clear(f);
    f->start = revision;
    f->based = true;
    for (ev_sub *s = f->subs; s; s = s->next) {
        put_reset(s, revision);
        wake(s);
    }
    pthread_mutex_unlock(&f->mu);
}

void ev_feed_tick(ev_feed *f, const char *owner, int64_t at_ms)
{
    json_t *d = json_pack("{ss sI}", "owner", owner ? owner : "", "atMs",
                          (json_int_t)at_ms);
    char *data = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!data)
        return;
    char t[512];
    int n = snprintf(t, sizeof(t), "event: tick\ndata: %s\n\n", data);
    free(data);
    if (n < 0 || (size_t)n >= sizeof(t))
        return;
    pthread_mutex_lock(&f->mu);
    for (ev_sub *s = f->subs; s; s = s->next) {
        put(s, t, (size_t)n);
        wake(s);
    }
    pthread_mutex_unlock(&f->mu);
}

void ev_feed_heartbeat(ev_feed *f)
{
    static const char beat[] = ": heartbeat\n\n";
    pthread_mutex_lock(&f->mu);
    for (ev_sub *s = f->subs; s; s = s->next) {
        put(s, beat, sizeof(beat) - 1);
        wake(s);
    }
    pthread_mutex_unlock(&f->mu);
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

void ev_feed_tokens(ev_feed *f, const svc_token_state *t, size_t n,
                    int64_t now_ms)
{
    pthread_mutex_lock(&f->mu);
    for (ev_sub *s = f->subs; s; s = s->next) {
        const svc_token_state *k = token_find(t, n, s->token_id);
        if (!k)
            continue; /* newer than the list: the next read has it */
        s->token_expires_ms = k->expires_ms;
        if (k->revoked || (k->expires_ms && k->expires_ms <= now_ms))
            end(s, false);
    }
    pthread_mutex_unlock(&f->mu);
}

void ev_feed_expire(ev_feed *f, int64_t now_ms)
{
    pthread_mutex_lock(&f->mu);
    for (ev_sub *s = f->subs; s; s = s->next) {
        if ((s->end_ms && s->end_ms <= now_ms) ||
            (s->token_expires_ms && s->token_expires_ms <= now_ms))
            end(s, false);
    }
    pthread_mutex_unlock(&f->mu);
}

size_t ev_feed_sockets(ev_feed *f, int *fds, uint64_t *serials, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&f->mu);
    for (ev_sub *s = f->subs; s && n < cap; s = s->next) {
        if (s->over || s->fd < 0)
            continue;
        fds[n] = s->fd;
        serials[n++] = s->serial;
    }
    pthread_mutex_unlock(&f->mu);
    return n;
}

void ev_feed_gone(ev_feed *f, uint64_t serial)
{
    pthread_mutex_lock(&f->mu);
    for (ev_sub *s = f->subs; s; s = s->next) {
        if (s->serial == serial) {
            end(s, true);
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
}

void ev_feed_close(ev_feed *f)
{
    pthread_mutex_lock(&f->mu);
    f->closed = true;
    for (ev_sub *s = f->subs; s; s = s->next)
        end(s, false);
    pthread_mutex_unlock(&f->mu);
}

size_t ev_feed_count(ev_feed *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->nsubs;
    pthread_mutex_unlock(&f->mu);
    return n;
}
