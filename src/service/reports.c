/* What SDKs report (metrics buckets, registrations), kept in memory until
 * a flush stores it, so an SDK post never waits for the database and a
 * slow or absent database never holds a serving thread. Metrics are summed
 * per (environment, application, flag, minute): the minute keeps the
 * release-plan exposures exact, the hour of the usage documents is derived
 * from it. Registrations keep the newest document per instance.
 *
 * Bounds: VX_LIMIT_USAGE_BUFFER_ENTRIES entries and _BYTES bytes of usage,
 * VX_LIMIT_USAGE_BUFFER_APPS instances. A post that does not fit whole is
 * refused (503, nothing kept), so what was acknowledged is never silently
 * dropped while it waits. A flush takes a batch out, stores it in one
 * transaction (svc__run) and, when that fails, puts it back; only what no
 * longer fits then (posts arrived meanwhile) is dropped, and counted.
 *
 * Invariant: `mu` guards the two tables and their counts and is never held
 * across a database call; `flush_mu` lets one flush run at a time. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"
#include "service/internal.h"

typedef struct svc_reports {
    pthread_mutex_t mu;       /* guards usage, apps, bytes */
    pthread_mutex_t flush_mu; /* one flush at a time */
    json_t *usage;            /* key -> entry (see svc__report_usage) */
    json_t *apps;             /* env|app|instance -> registration document */
    size_t bytes;             /* approximate memory of usage */
    atomic_llong pending;     /* entries in usage + apps */
    atomic_llong dropped;     /* lost after a failed flush */
    atomic_llong refused;     /* posts refused: no room */
    atomic_llong failures;    /* failed flushes */
} svc_reports;

/* What one usage entry costs in memory, roughly (jansson's object, the
 * key, its strings). */
#define ENTRY_COST   320
#define VARIANT_COST 64

vx_status svc__reports_init(service *s)
{
    svc_reports *r = vx__calloc(1, sizeof(*r));
    if (!r)
        return VX_ENOMEM;
    r->usage = json_object();
    r->apps = json_object();
    if (!r->usage || !r->apps) {
        json_decref(r->usage);
        json_decref(r->apps);
        vx__free(r);
        return VX_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->flush_mu, NULL);
    atomic_init(&r->pending, 0);
    atomic_init(&r->dropped, 0);
    atomic_init(&r->refused, 0);
    atomic_init(&r->failures, 0);
    s->reports = r;
    return VX_OK;
}

void svc__reports_release(service *s)
{
    svc_reports *r = s ? s->reports : NULL;
    if (!r)
        return;
    json_decref(r->usage);
    json_decref(r->apps);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->flush_mu);
    vx__free(r);
    s->reports = NULL;
}

bool svc__reports_pending(service *s)
{
    return s->reports && atomic_load(&s->reports->pending) > 0;
}

/* The key of a usage entry: fields joined by U+001F, which no name holds
 * (names are JSON strings, the separator only joins them). */
/* The token's projects are part of the key: the flush counts a flag only
 * when it lies in the projects of the token that reported it. */
static void usage_key(char *buf, size_t cap, const char *env,
                      const char *projects, const char *app, const char *flag,
                      int64_t minute)
{
    snprintf(buf, cap, "%s\x1f%s\x1f%s\x1f%s\x1f%lld", env, projects, app, flag,
             (long long)minute);
}

static json_int_t count_of(const json_t *v)
{
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* Adds `tv` ({yes, no, variants}) into `entry`; returns the bytes the new
 * variant names cost. Counts saturate below 2^62. */
static size_t add_counts(json_t *entry, const json_t *tv)
{
    const json_int_t cap = (json_int_t)1 << 62;
    size_t cost = 0;
    const char *const counts[] = {"yes", "no"};
    for (int i = 0; i < 2; i++) {
        json_int_t v = count_of(json_object_get(entry, counts[i])) +
                       count_of(json_object_get(tv, counts[i]));
        json_object_set_new(entry, counts[i], json_integer(v > cap ? cap : v));
    }
    json_t *vars = json_object_get(entry, "variants");
    const char *vn;
    const json_t *vc;
    json_object_foreach ((json_t *)json_object_get(tv, "variants"), vn, vc) {
        json_t *have = json_object_get(vars, vn);
        if (!have)
            cost += strlen(vn) + VARIANT_COST;
        json_int_t v = count_of(have) + count_of(vc);
        json_object_set_new(vars, vn, json_integer(v > cap ? cap : v));
    }
    return cost;
}

/* The memory one new entry for `flag` with the variants of `tv` costs. */
static size_t new_cost(const char *key, const json_t *tv)
{
    size_t cost = ENTRY_COST + 2 * strlen(key);
    const char *vn;
    const json_t *vc;
    json_object_foreach ((json_t *)json_object_get(tv, "variants"), vn, vc) {
        (void)vc;
        cost += strlen(vn) + VARIANT_COST;
    }
    return cost;
}

vx_status svc__reports_add_usage(service *s, const svc_principal *who,
                                 const char *app, const json_t *toggles,
                                 int64_t start_ms, int64_t now_ms,
                                 vx_error *err)
{
    svc_reports *r = s->reports;
    int64_t minute = start_ms / 60000;
    char key[2600];
    const char *flag;
    const json_t *tv;
    vx_status st = VX_OK;
    pthread_mutex_lock(&r->mu);
    /* All of it or nothing: first what the new entries would cost. */
    size_t add = 0, fresh = 0;
    json_object_foreach ((json_t *)toggles, flag, tv) {
        usage_key(key, sizeof(key), who->environment, who->projects, app, flag,
                  minute);
        if (!json_object_get(r->usage, key)) {
            fresh++;
            add += new_cost(key, tv);
        }
    }
    if (json_object_size(r->usage) + fresh > VX_LIMIT_USAGE_BUFFER_ENTRIES ||
        r->bytes + add > VX_LIMIT_USAGE_BUFFER_BYTES) {
        pthread_mutex_unlock(&r->mu);
        atomic_fetch_add(&r->refused, 1);
        return vx__error_set(err, VX_EUNAVAILABLE, "",
                             "too many SDK metrics wait to be stored (the "
                             "database is slow or unavailable); retry later");
    }
    json_object_foreach ((json_t *)toggles, flag, tv) {
        usage_key(key, sizeof(key), who->environment, who->projects, app, flag,
                  minute);
        json_t *e = json_object_get(r->usage, key);
        if (!e) {
            e = json_pack("{ss ss ss ss sI sI sI sI s{}}", "env",
                          who->environment, "projects", who->projects, "app",
                          app, "flag", flag, "minute", (json_int_t)minute, "at",
                          (json_int_t)now_ms, "yes", (json_int_t)0, "no",
                          (json_int_t)0, "variants");
            if (!e || json_object_set_new(r->usage, key, e) != 0) {
                st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
                break;
            }
            r->bytes += ENTRY_COST + 2 * strlen(key);
            atomic_fetch_add(&r->pending, 1);
        }
        r->bytes += add_counts(e, tv);
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

vx_status svc__reports_add_app(service *s, const char *key, const json_t *doc,
                               vx_error *err)
{
    svc_reports *r = s->reports;
    vx_status st = VX_OK;
    pthread_mutex_lock(&r->mu);
    bool fresh = !json_object_get(r->apps, key);
    if (fresh && json_object_size(r->apps) >= VX_LIMIT_USAGE_BUFFER_APPS) {
        atomic_fetch_add(&r->refused, 1);
        st = vx__error_set(err, VX_EUNAVAILABLE, "",
                           "too many SDK registrations wait to be stored (the "
                           "database is slow or unavailable); retry later");
    } else if (json_object_set(r->apps, key, (json_t *)doc) != 0) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
    } else if (fresh) {
        atomic_fetch_add(&r->pending, 1);
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

/* Moves up to `max` members of `from` into the new object `*to` (in
 * insertion order: the oldest first). Returns how many moved. */
static size_t take(json_t *from, size_t max, json_t *to)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe (from, tmp, k, v) {
        if (n == max)
            break;
        if (json_object_set(to, k, v) != 0)
            break;
        json_object_del(from, k);
        n++;
    }
    return n;
}

/* A batch taken out for one transaction. */
typedef struct batch {
    json_t *apps;  /* key -> document */
    json_t *usage; /* key -> entry */
} batch;

static vx_status flush_unit(svc_ctx *c, void *ud)
{
    batch *b = ud;
    const char *k;
    json_t *v;
    vx_status st = VX_OK;
    json_object_foreach (b->apps, k, v) {
        st = svc__report_app(c, k, v);
        if (st != VX_OK)
            return st;
    }
    json_object_foreach (b->usage, k, v) {
        st = svc__report_usage(c, v);
        if (st != VX_OK)
            return st;
    }
    return svc__report_sweep(c);
}

/* A failed batch goes back: merged into what arrived meanwhile, as far as
 * the bounds allow; the rest is counted as dropped. */
static void put_back(svc_reports *r, batch *b)
{
    const char *k;
    json_t *v;
    long long dropped = 0, back = 0;
    pthread_mutex_lock(&r->mu);
    json_object_foreach (b->apps, k, v) {
        if (json_object_get(r->apps, k))
            continue; /* a newer registration of the same instance */
        if (json_object_size(r->apps) >= VX_LIMIT_USAGE_BUFFER_APPS ||
            json_object_set(r->apps, k, v) != 0)
            dropped++;
        else
            back++;
    }
    json_object_foreach (b->usage, k, v) {
        json_t *e = json_object_get(r->usage, k);
        if (e) {
            r->bytes += add_counts(e, v);
            continue;
        }
        size_t cost = new_cost(k, v);
        if (json_object_size(r->usage) >= VX_LIMIT_USAGE_BUFFER_ENTRIES ||
            r->bytes + cost > VX_LIMIT_USAGE_BUFFER_BYTES ||
            json_object_set(r->usage, k, v) != 0) {
            dropped++;
        } else {
            r->bytes += cost;
            back++;
        }
    }
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_add(&r->pending, back);
    atomic_fetch_add(&r->dropped, dropped);
}

static const svc_principal REPORTER = {.token_id = 0,
                                       .kind = SVC_KIND_CLIENT,
                                       .role = SVC_ROLE_NONE,
                                       .name = "sdk-reports",
                                       .environment = "*",
                                       .projects = "*"};

vx_status svc_usage_flush(service *s, vx_error *err)
{
    svc_reports *r = s->reports;
    vx_status st = VX_OK;
    pthread_mutex_lock(&r->flush_mu);
    for (;;) {
        batch b = {json_object(), json_object()};
        if (!b.apps || !b.usage) {
            json_decref(b.apps);
            json_decref(b.usage);
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            break;
        }
        pthread_mutex_lock(&r->mu);
        size_t na = take(r->apps, VX_LIMIT_USAGE_FLUSH_BATCH, b.apps);
        size_t nu = take(r->usage, VX_LIMIT_USAGE_FLUSH_BATCH - na, b.usage);
        const char *k;
        json_t *v;
        json_object_foreach (b.usage, k, v) {
            size_t cost = new_cost(k, v);
            r->bytes = r->bytes > cost ? r->bytes - cost : 0;
        }
        if (json_object_size(r->usage) == 0)
            r->bytes = 0;
        pthread_mutex_unlock(&r->mu);
        atomic_fetch_sub(&r->pending, (long long)(na + nu));
        if (na + nu == 0) {
            json_decref(b.apps);
            json_decref(b.usage);
            break;
        }
        st = svc__run(s, &REPORTER, NULL, vx__wall_ms(), SVC_CHANGE_RECORDS,
                      err, flush_unit, &b);
        if (st != VX_OK) {
            put_back(r, &b);
            atomic_fetch_add(&r->failures, 1);
        }
        json_decref(b.apps);
        json_decref(b.usage);
        if (st != VX_OK)
            break;
    }
    pthread_mutex_unlock(&r->flush_mu);
    return st;
}

void svc_get_stats(service *s, svc_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->flags_active = atomic_load(&s->flags_active);
    out->flags_archived = atomic_load(&s->flags_archived);
    out->db_errors = atomic_load(&s->db_errors);
    out->db_up = svc_ready(s) == VX_OK;
    if (s->reports) {
        out->reports_pending = atomic_load(&s->reports->pending);
        out->reports_dropped = atomic_load(&s->reports->dropped);
        out->reports_refused = atomic_load(&s->reports->refused);
        out->flush_failures = atomic_load(&s->reports->failures);
    }
}
