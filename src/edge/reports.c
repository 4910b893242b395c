/* What SDKs report to an edge (registrations, usage metrics, impact
 * metrics, and the batches of edges that follow this one), checked as the
 * server checks them, aggregated per view (environment and projects of
 * the feed that serves the token) and forwarded in batches.
 *
 * Durability: every accepted report is appended to the journal
 * (reports/journal-<gen>.log, one JSON line) before it is answered, and
 * the journal is fdatasynced every VX_LIMIT_EDGE_SYNC_MS, so a crash of
 * the process loses nothing and a crash of the machine at most that
 * long. A cut turns the aggregation into batches, written whole to
 * reports/outbox-<gen>.json (naming the journals it covers) before those
 * journals are removed; a batch leaves the outbox when the upstream took
 * it. A restart replays the journals no outbox covers. Journal and outbox
 * together stay within the configured bytes: past them a report gets 503
 * (nothing kept), as the server answers when its memory for reports is
 * full.
 *
 * Exactness: usage is summed per (view, application, flag, minute) with
 * the first arrival kept, as the server keeps it, and forwarded with that
 * arrival (svc_edge_reports); impact entries keep their unit, variant and
 * time (stamped with the arrival when the SDK gave none) and are merged
 * only when all of those are equal, with equal shapes; impact batches get
 * ids so a forward repeated after a lost answer counts once upstream.
 *
 * Locking: `mu` guards everything here; it is never held across a
 * network call. Journal appends happen under it (a write(2) of a line);
 * outbox files are written by the upstream thread outside it. */
#include "edge/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"

#define PATH_CAP    4096
#define SAMPLES_MAX 10000 /* raw latencies in one impact entry (server) */

/* One outbox file (or, without a data directory, its memory). */
typedef struct outbox {
    uint64_t gen; /* the cut that made it */
    json_t *doc;  /* {"covers": [gens], "batches": [{kind, environment,
                     projects, body}]} */
    size_t bytes; /* its size on disk (estimated in memory) */
} outbox;

struct edge_reports {
    edge *e;              /* the edge (log, id, hub) */
    pthread_mutex_t mu;   /* guards everything below */
    char *dir;            /* <data>/reports, NULL = memory only */
    size_t max;           /* journal + outbox bytes at most */
    int jfd;              /* the journal being written, -1 = none */
    uint64_t gen;         /* its generation */
    json_t *covers;       /* journal gens the aggregation holds */
    size_t journal_bytes; /* in those journals */
    bool dirty;           /* written since the last sync */
    json_t *usage;        /* key -> {e, p, app, flag, minute, at, yes, no,
                             variants} */
    json_t *apps;         /* key -> {e, p, at, b} */
    json_t *impact;       /* key -> {e, p, m (entry)} */
    size_t agg_keys;      /* a counter for keys of entries not merged */
    json_t *impact_seen;  /* "env|batchId" -> arrival ms */
    json_t *edge_seen;    /* "env|batchId" -> items handled */
    outbox *out;          /* [nout], oldest first */
    size_t nout, out_cap; /* used, allocated */
    size_t outbox_bytes;  /* sum of their bytes */
    int64_t forwarded, dropped, refused, failures; /* counters */
};

/* ---- small helpers ------------------------------------------------------- */

/* RFC 3339 with milliseconds, UTC. */
static void iso_ms(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[24];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", day, (int)(ms % 1000));
}

static bool path_of(const edge_reports *r, const char *name, uint64_t gen,
                    char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s-%020" PRIu64 "%s", r->dir, name, gen,
                     strcmp(name, "journal") == 0 ? ".log" : ".json");
    return n > 0 && (size_t)n < cap;
}

static void add_int(json_t *o, const char *k, json_int_t n)
{
    json_object_set_new(
        o, k, json_integer(json_integer_value(json_object_get(o, k)) + n));
}

/* ---- aggregation (under mu) ---------------------------------------------- */

static void agg_usage(edge_reports *r, const char *env, const char *projects,
                      const char *app, int64_t minute, int64_t at,
                      const json_t *toggles)
{
    const char *flag;
    const json_t *tv;
    json_object_foreach ((json_t *)toggles, flag, tv) {
        char key[2048];
        snprintf(key, sizeof(key), "%s\x1f%s\x1f%s\x1f%s\x1f%lld", env,
                 projects, app, flag, (long long)minute);
        json_t *u = json_object_get(r->usage, key);
        if (!u) {
            u = json_pack("{ss ss ss ss sI sI sI sI s{}}", "e", env, "p",
                          projects, "app", app, "flag", flag, "minute",
                          (json_int_t)minute, "at", (json_int_t)at, "yes",
                          (json_int_t)0, "no", (json_int_t)0, "variants");
            if (!u || json_object_set_new(r->usage, key, u) != 0)
                continue;
        }
        add_int(u, "yes", json_integer_value(json_object_get(tv, "yes")));
        add_int(u, "no", json_integer_value(json_object_get(tv, "no")));
        json_t *vs = json_object_get(u, "variants");
        const char *vn;
        const json_t *vc;
        json_object_foreach ((json_t *)json_object_get(tv, "variants"), vn,
                             vc) {
            add_int(vs, vn, json_integer_value(vc));
        }
    }
}

static void agg_register(edge_reports *r, const char *env, const char *projects,
                         int64_t at, const json_t *body)
{
    char key[1200];
    const char *app = json_string_value(json_object_get(body, "appName"));
    const char *inst = json_string_value(json_object_get(body, "instanceId"));
    snprintf(key, sizeof(key), "%s\x1f%s\x1f%s\x1f%s", env, projects,
             app ? app : "", inst ? inst : "");
    json_object_set_new(r->apps, key,
                        json_pack("{ss ss sI sO}", "e", env, "p", projects,
                                  "at", (json_int_t)at, "b", body));
}

/* Whether an entry's latency aggregates are "plain" (none), "paired"
 * (latency and logLatency of one count, which the server groups per unit)
 * or anything else (never merged). */
static int shape_of(const json_t *m)
{
    const json_t *a = json_object_get(m, "latency");
    const json_t *l = json_object_get(m, "logLatency");
    bool ha = json_is_object(a), hl = json_is_object(l);
    if (!ha && !hl)
        return 0;
    if (ha && hl &&
        json_integer_value(json_object_get(a, "count")) ==
            json_integer_value(json_object_get(l, "count")))
        return 1;
    return 2;
}

static void moments_add(json_t *into, const char *k, const json_t *add)
{
    if (!json_is_object(add))
        return;
    json_t *m = json_object_get(into, k);
    if (!json_is_object(m)) {
        json_object_set_new(into, k, json_deep_copy(add));
        return;
    }
    add_int(m, "count", json_integer_value(json_object_get(add, "count")));
    static const char *const reals[] = {"sum", "sumsq"};
    for (int i = 0; i < 2; i++)
        json_object_set_new(
            m, reals[i],
            json_real(json_number_value(json_object_get(m, reals[i])) +
                      json_number_value(json_object_get(add, reals[i]))));
}

static bool samples_fit(const json_t *a, const json_t *b, const char *k)
{
    return json_array_size(json_object_get(a, k)) +
               json_array_size(json_object_get(b, k)) <=
           SAMPLES_MAX;
}

static void samples_add(json_t *into, const json_t *from, const char *k)
{
    const json_t *add = json_object_get(from, k);
    if (!json_array_size(add))
        return;
    json_t *have = json_object_get(into, k);
    if (!json_is_array(have))
        json_object_set_new(into, k, json_deep_copy(add));
    else
        json_array_extend(have, (json_t *)add);
}

/* Adds entry `m` (stamped) into `into`: counts, raw samples, aggregates and
 * named values, all sums. */
static void entry_merge(json_t *into, const json_t *m)
{
    static const char *const counts[] = {"requests", "errors", "conversions"};
    for (int i = 0; i < 3; i++)
        if (json_object_get(m, counts[i]))
            add_int(into, counts[i],
                    json_integer_value(json_object_get(m, counts[i])));
    samples_add(into, m, "latencyMs");
    samples_add(into, m, "ttftMs");
    moments_add(into, "latency", json_object_get(m, "latency"));
    moments_add(into, "logLatency", json_object_get(m, "logLatency"));
    const json_t *vals = json_object_get(m, "values");
    if (json_is_object(vals)) {
        json_t *have = json_object_get(into, "values");
        if (!json_is_object(have)) {
            have = json_object();
            json_object_set_new(into, "values", have);
        }
        const char *vn;
        const json_t *vv;
        json_object_foreach ((json_t *)vals, vn, vv) {
            moments_add(have, vn, vv);
        }
    }
}

static void agg_impact(edge_reports *r, const char *env, const char *projects,
                       const json_t *m)
{
    const json_t *en = json_object_get(m, "enabled");
    const char *va = json_string_value(json_object_get(m, "variant"));
    const char *unit = json_string_value(json_object_get(m, "unit"));
    int shape = shape_of(m);
    char key[2400];
    snprintf(
        key, sizeof(key), "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%d", env,
        projects, json_string_value(json_object_get(m, "flag")), va ? va : "",
        json_is_true(en)    ? "t"
        : json_is_false(en) ? "f"
                            : "",
        unit ? unit : "", json_string_value(json_object_get(m, "at")), shape);
    json_t *have = json_object_get(r->impact, key);
    const json_t *hm = json_object_get(have, "m");
    if (have && shape != 2 && samples_fit(hm, m, "latencyMs") &&
        samples_fit(hm, m, "ttftMs")) {
        entry_merge((json_t *)hm, m);
        return;
    }
    if (have) /* kept apart: a key of its own */
        snprintf(key + strlen(key), sizeof(key) - strlen(key), "\x1f#%zu",
                 ++r->agg_keys);
    json_object_set_new(r->impact, key,
                        json_pack("{ss ss so}", "e", env, "p", projects, "m",
                                  json_deep_copy(m)));
}

/* Applies one journal record (also when replaying). */
static void apply_record(edge_reports *r, const json_t *rec)
{
    const char *k = json_string_value(json_object_get(rec, "k"));
    const char *env = json_string_value(json_object_get(rec, "e"));
    const char *pr = json_string_value(json_object_get(rec, "p"));
    int64_t at = json_integer_value(json_object_get(rec, "at"));
    if (!k || !env || !pr)
        return;
    if (strcmp(k, "u") == 0) {
        const char *app = json_string_value(json_object_get(rec, "app"));
        agg_usage(r, env, pr, app ? app : "",
                  json_integer_value(json_object_get(rec, "minute")), at,
                  json_object_get(rec, "t"));
    } else if (strcmp(k, "r") == 0) {
        agg_register(r, env, pr, at, json_object_get(rec, "b"));
    } else if (strcmp(k, "i") == 0) {
        size_t i;
        const json_t *m;
        json_array_foreach (json_object_get(rec, "m"), i, m) {
            agg_impact(r, env, pr, m);
        }
        const char *id = json_string_value(json_object_get(rec, "id"));
        if (id) {
            char key[400];
            snprintf(key, sizeof(key), "%s|%s", env, id);
            json_object_set_new(r->impact_seen, key, json_integer(at));
        }
    } else if (strcmp(k, "x") == 0) {
        const char *id = json_string_value(json_object_get(rec, "id"));
        if (id)
            json_object_set_new(
                r->edge_seen, id,
                json_integer(json_integer_value(json_object_get(rec, "n"))));
        /* The oldest first (insertion order) beyond the bound. */
        const char *old;
        json_t *v;
        void *tmp;
        json_object_foreach_safe (r->edge_seen, tmp, old, v) {
            if (json_object_size(r->edge_seen) <= VX_LIMIT_EDGE_SEEN_BATCHES)
                break;
            json_object_del(r->edge_seen, old);
        }
    }
}

/* ---- the journal ------------------------------------------------------- */

/* Opens journal `gen` for appending (under mu, or before threads). */
static vx_status journal_open(edge_reports *r, uint64_t gen, vx_error *err)
{
    if (!r->dir)
        return VX_OK;
    char path[PATH_CAP];
    if (!path_of(r, "journal", gen, path, sizeof(path)))
        return vx__error_set(err, VX_EINVAL, "", "path too long");
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return vx__error_set(err, VX_EIO, "", "cannot open %s: %s", path,
                             strerror(errno));
    if (r->jfd >= 0)
        close(r->jfd);
    r->jfd = fd;
    r->gen = gen;
    json_array_append_new(r->covers, json_integer((json_int_t)gen));
    return VX_OK;
}

/* Keeps `rec` (taken): journaled, then aggregated; VX_EUNAVAILABLE (503)
 * when the queue is full or the journal cannot be written. Under mu. */
static vx_status keep(edge_reports *r, json_t *rec, vx_error *err)
{
    char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    vx_status st = VX_OK;
    size_t n = line ? strlen(line) + 1 : 0;
    if (!line) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
    } else if (r->journal_bytes + r->outbox_bytes + n > r->max) {
        r->refused++;
        st = vx__error_set(err, VX_EUNAVAILABLE, "",
                           "the edge's queue of reports is full (the "
                           "upstream does not take them): retry later");
    } else if (r->jfd >= 0) {
        line[n - 1] = '\n';
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(r->jfd, line + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        if (off < n) {
            /* A torn line is skipped on replay; nothing was acknowledged. */
            r->refused++;
            st = vx__error_set(err, VX_EUNAVAILABLE, "",
                               "the edge cannot write its journal: retry "
                               "later");
        }
        r->dirty = true;
    }
    if (st == VX_OK) {
        r->journal_bytes += n;
        apply_record(r, rec);
    }
    free(line);
    json_decref(rec);
    return st;
}

void edge__reports_sync(edge_reports *r)
{
    pthread_mutex_lock(&r->mu);
    int fd = r->dirty && r->jfd >= 0 ? dup(r->jfd) : -1;
    r->dirty = false;
    pthread_mutex_unlock(&r->mu);
    if (fd >= 0) {
        (void)fdatasync(fd);
        close(fd);
    }
}

/* ---- the outbox ------------------------------------------------------- */

static size_t doc_bytes(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0;
    free(s);
    return n;
}

/* Writes outbox `o` (or removes it when it holds no batch). */
static vx_status outbox_write(edge_reports *r, outbox *o, vx_error *err)
{
    if (!r->dir)
        return VX_OK;
    char path[PATH_CAP];
    if (!path_of(r, "outbox", o->gen, path, sizeof(path)))
        return vx__error_set(err, VX_EINVAL, "", "path too long");
    if (!json_array_size(json_object_get(o->doc, "batches"))) {
        unlink(path);
        return VX_OK;
    }
    char *s = json_dumps(o->doc, JSON_COMPACT);
    if (!s)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    vx_status st = edge__file_write(path, s, strlen(s), err);
    free(s);
    return st;
}

static bool outbox_push(edge_reports *r, uint64_t gen, json_t *doc)
{
    if (r->nout == r->out_cap) {
        size_t cap = r->out_cap ? r->out_cap * 2 : 8;
        outbox *p = vx__realloc(r->out, cap * sizeof(*p));
        if (!p)
            return false;
        r->out = p;
        r->out_cap = cap;
    }
    size_t bytes = doc_bytes(doc);
    r->out[r->nout++] = (outbox){gen, doc, bytes};
    r->outbox_bytes += bytes;
    return true;
}

/* One batch: {"kind", "environment", "projects", "body"}. */
static json_t *batch(const char *kind, const char *env, const char *projects,
                     json_t *body)
{
    return json_pack("{ss ss ss so}", "kind", kind, "environment", env,
                     "projects", projects, "body", body);
}

/* The per-view entry of `views` for aggregated entry `x` ({e, p, ...}):
 * {e, p, items, impact, groups}, made when missing. */
static json_t *view_get(json_t *views, const json_t *x)
{
    char vk[800];
    snprintf(vk, sizeof(vk), "%s\x1f%s",
             json_string_value(json_object_get(x, "e")),
             json_string_value(json_object_get(x, "p")));
    json_t *vw = json_object_get(views, vk);
    if (!vw) {
        vw = json_pack("{sO sO s[] s[] s{}}", "e", json_object_get(x, "e"), "p",
                       json_object_get(x, "p"), "items", "impact", "groups");
        json_object_set_new(views, vk, vw);
    }
    return vw;
}

/* The batches of the taken aggregation, per view: reports (registrations
 * then usage grouped per application, minute and arrival) and impact, at
 * most VX_LIMIT_EDGE_BATCH_ENTRIES items or VX_LIMIT_IMPACT_METRICS
 * entries each, with ids "e<edge>-<gen>-<n>". */
static json_t *make_batches(edge_reports *r, json_t *usage, json_t *apps,
                            json_t *impact, uint64_t gen)
{
    json_t *out = json_array();
    json_t *views = json_object(); /* "env\x1fprojects" -> {reports, impact,
                                      groups} */
    const char *key;
    json_t *v;
    size_t n = 0;
    if (!out || !views) {
        json_decref(out);
        json_decref(views);
        return NULL;
    }
    json_object_foreach (apps, key, v) {
        json_t *vw = view_get(views, v);
        json_array_append_new(json_object_get(vw, "items"),
                              json_pack("{sO sO}", "receivedAt",
                                        json_object_get(v, "at"), "register",
                                        json_object_get(v, "b")));
    }
    json_object_foreach (usage, key, v) {
        json_t *vw = view_get(views, v);
        char gk[600];
        snprintf(gk, sizeof(gk), "%s\x1f%lld\x1f%lld",
                 json_string_value(json_object_get(v, "app")),
                 (long long)json_integer_value(json_object_get(v, "minute")),
                 (long long)json_integer_value(json_object_get(v, "at")));
        json_t *groups = json_object_get(vw, "groups");
        json_t *g = json_object_get(groups, gk);
        if (!g) {
            int64_t start =
                json_integer_value(json_object_get(v, "minute")) * 60000;
            char s[32], e[32];
            iso_ms(start, s);
            iso_ms(start + 60000, e);
            g = json_pack("{sO s{sO s{ss ss s{}}}}", "receivedAt",
                          json_object_get(v, "at"), "metrics", "appName",
                          json_object_get(v, "app"), "bucket", "start", s,
                          "stop", e, "toggles");
            json_object_set_new(groups, gk, g);
            json_array_append(json_object_get(vw, "items"), g);
        }
        json_t *tg = json_object_get(
            json_object_get(json_object_get(g, "metrics"), "bucket"),
            "toggles");
        json_object_set_new(tg, json_string_value(json_object_get(v, "flag")),
                            json_pack("{sO sO sO}", "yes",
                                      json_object_get(v, "yes"), "no",
                                      json_object_get(v, "no"), "variants",
                                      json_object_get(v, "variants")));
    }
    json_object_foreach (impact, key, v) {
        json_t *vw = view_get(views, v);
        json_array_append(json_object_get(vw, "impact"),
                          json_object_get(v, "m"));
    }
    json_object_foreach (views, key, v) {
        const char *env = json_string_value(json_object_get(v, "e"));
        const char *pr = json_string_value(json_object_get(v, "p"));
        static const char *const parts[2] = {"items", "impact"};
        for (int k = 0; k < 2; k++) {
            const json_t *all = json_object_get(v, parts[k]);
            size_t per =
                k ? VX_LIMIT_IMPACT_METRICS : VX_LIMIT_EDGE_BATCH_ENTRIES;
            for (size_t i = 0; i < json_array_size(all); i += per) {
                json_t *chunk = json_array();
                for (size_t j = i;
                     chunk && j < i + per && j < json_array_size(all); j++)
                    json_array_append(chunk, json_array_get(all, j));
                char id[96];
                snprintf(id, sizeof(id), "e%s-%" PRIu64 "-%zu", r->e->edge_id,
                         gen, n++);
                json_t *body = json_pack("{ss so}", "batchId", id,
                                         k ? "metrics" : "items", chunk);
                json_array_append_new(
                    out, batch(k ? "impact" : "reports", env, pr, body));
            }
        }
    }
    json_decref(views);
    return out;
}

void edge__reports_cut(edge_reports *r)
{
    pthread_mutex_lock(&r->mu);
    if (!json_object_size(r->usage) && !json_object_size(r->apps) &&
        !json_object_size(r->impact)) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    json_t *usage = r->usage, *apps = r->apps, *impact = r->impact;
    json_t *covers = r->covers;
    uint64_t gen = r->gen;
    size_t jbytes = r->journal_bytes;
    r->usage = json_object();
    r->apps = json_object();
    r->impact = json_object();
    r->covers = json_array();
    r->journal_bytes = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (journal_open(r, gen + 1, &err) != VX_OK)
        vx__logf(r->e->log, r->e->log_ud, "error", "edge: reports journal: %s",
                 err.message);
    if (!r->dir)
        r->gen = gen + 1;
    /* Until the outbox is written, the old journals count as the outbox. */
    r->outbox_bytes += jbytes;
    pthread_mutex_unlock(&r->mu);

    json_t *batches = make_batches(r, usage, apps, impact, gen);
    json_t *doc =
        batches ? json_pack("{sO so}", "covers", covers, "batches", batches)
                : NULL;
    outbox o = {gen, doc, 0};
    vx_status st = doc ? outbox_write(r, &o, &err) : VX_ENOMEM;
    if (st == VX_OK && r->dir) {
        /* The outbox holds them now: the journals go. */
        size_t i;
        const json_t *g;
        json_array_foreach (covers, i, g) {
            char path[PATH_CAP];
            if (path_of(r, "journal", (uint64_t)json_integer_value(g), path,
                        sizeof(path)))
                unlink(path);
        }
    }
    pthread_mutex_lock(&r->mu);
    r->outbox_bytes -= jbytes;
    if (st == VX_OK && outbox_push(r, gen, doc)) {
        doc = NULL;
    } else {
        /* Not written: back into the aggregation, still journaled. */
        vx__logf(r->e->log, r->e->log_ud, "error",
                 "edge: reports not moved to the outbox (kept): %s",
                 st == VX_OK ? "out of memory" : err.message);
        const char *k;
        json_t *v;
        json_object_foreach (usage, k, v) {
            json_object_set(r->usage, k, v);
        }
        json_object_foreach (apps, k, v) {
            json_object_set(r->apps, k, v);
        }
        json_object_foreach (impact, k, v) {
            json_object_set(r->impact, k, v);
        }
        json_array_extend(r->covers, covers);
        r->journal_bytes += jbytes;
    }
    pthread_mutex_unlock(&r->mu);
    json_decref(doc);
    json_decref(usage);
    json_decref(apps);
    json_decref(impact);
    json_decref(covers);
}

bool edge__reports_next(edge_reports *r, char *path, size_t cap, char *kind,
                        size_t kcap, char *env, char *projects, json_t **body)
{
    bool found = false;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->nout && !found; i++) {
        const json_t *b =
            json_array_get(json_object_get(r->out[i].doc, "batches"), 0);
        if (!b)
            continue;
        snprintf(path, cap, "%" PRIu64, r->out[i].gen);
        snprintf(kind, kcap, "%s",
                 json_string_value(json_object_get(b, "kind")));
        snprintf(env, EDGE_ENV_MAX, "%s",
                 json_string_value(json_object_get(b, "environment")));
        snprintf(projects, EDGE_PROJ_MAX, "%s",
                 json_string_value(json_object_get(b, "projects")));
        *body = json_deep_copy(json_object_get(b, "body"));
        found = *body != NULL;
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

/* The outbox named `id` (its gen as text), or NULL (under mu). */
static outbox *outbox_find(edge_reports *r, const char *id)
{
    uint64_t gen = strtoull(id, NULL, 10);
    for (size_t i = 0; i < r->nout; i++)
        if (r->out[i].gen == gen)
            return &r->out[i];
    return NULL;
}

/* Rewrites `o` after its batches changed; drops it when empty (under mu:
 * the write is short and rare). */
static void outbox_changed(edge_reports *r, outbox *o)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (outbox_write(r, o, &err) != VX_OK)
        vx__logf(r->e->log, r->e->log_ud, "warn",
                 "edge: outbox not rewritten (a batch may be sent twice; "
                 "upstream ignores the repeat): %s",
                 err.message);
    r->outbox_bytes -= o->bytes;
    if (!json_array_size(json_object_get(o->doc, "batches"))) {
        json_decref(o->doc);
        size_t i = (size_t)(o - r->out);
        memmove(o, o + 1, (r->nout - i - 1) * sizeof(*o));
        r->nout--;
        return;
    }
    o->bytes = doc_bytes(o->doc);
    r->outbox_bytes += o->bytes;
}

void edge__reports_done(edge_reports *r, const char *id, bool forwarded)
{
    pthread_mutex_lock(&r->mu);
    outbox *o = outbox_find(r, id);
    if (o) {
        json_t *bs = json_object_get(o->doc, "batches");
        if (!forwarded) {
            const json_t *b = json_array_get(bs, 0);
            const json_t *body = json_object_get(b, "body");
            r->dropped += (int64_t)json_array_size(json_object_get(
                body, json_object_get(body, "items") ? "items" : "metrics"));
        } else {
            r->forwarded++;
        }
        json_array_remove(bs, 0);
        outbox_changed(r, o);
    }
    pthread_mutex_unlock(&r->mu);
}

bool edge__reports_drop_entry(edge_reports *r, const char *id, size_t index)
{
    bool done = false;
    pthread_mutex_lock(&r->mu);
    outbox *o = outbox_find(r, id);
    json_t *b =
        o ? json_array_get(json_object_get(o->doc, "batches"), 0) : NULL;
    json_t *ms = json_object_get(json_object_get(b, "body"), "metrics");
    if (ms && index < json_array_size(ms)) {
        json_array_remove(ms, index);
        r->dropped++;
        if (!json_array_size(ms))
            json_array_remove(json_object_get(o->doc, "batches"), 0);
        outbox_changed(r, o);
        done = true;
    }
    pthread_mutex_unlock(&r->mu);
    return done;
}

void edge__reports_failed(edge_reports *r)
{
    pthread_mutex_lock(&r->mu);
    r->failures++;
    pthread_mutex_unlock(&r->mu);
}

void edge__reports_stats(edge_reports *r, edge_reports_stats *out)
{
    pthread_mutex_lock(&r->mu);
    out->queued_bytes = (int64_t)(r->journal_bytes + r->outbox_bytes);
    out->batches = 0;
    for (size_t i = 0; i < r->nout; i++)
        out->batches +=
            (int64_t)json_array_size(json_object_get(r->out[i].doc, "batches"));
    out->forwarded = r->forwarded;
    out->dropped = r->dropped;
    out->refused = r->refused;
    out->failures = r->failures;
    pthread_mutex_unlock(&r->mu);
}

/* ---- start: what an earlier run left ------------------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays journal `path` into the aggregation (a torn last line is
 * skipped). */
static void replay(edge_reports *r, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (edge__file_read(path, r->max + 65536, &buf, &len, &err) != VX_OK) {
        vx__logf(r->e->log, r->e->log_ud, "warn", "edge: %s not replayed: %s",
                 path, err.message);
        return;
    }
    size_t records = 0;
    for (char *p = buf; p < buf + len;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (!nl)
            break;
        json_t *rec = json_loadb(p, (size_t)(nl - p), 0, NULL);
        if (rec) {
            apply_record(r, rec);
            records++;
        }
        json_decref(rec);
        p = nl + 1;
    }
    r->journal_bytes += len;
    if (records)
        vx__logf(r->e->log, r->e->log_ud, "info",
                 "edge: %zu SDK report(s) from before the restart are queued "
                 "again",
                 records);
    vx__free(buf);
}

static vx_status load_dir(edge_reports *r, vx_error *err)
{
    if (mkdir(r->dir, 0700) != 0 && errno != EEXIST)
        return vx__error_set(err, VX_EIO, "/data-dir", "cannot create %s: %s",
                             r->dir, strerror(errno));
    DIR *d = opendir(r->dir);
    if (!d)
        return vx__error_set(err, VX_EIO, "/data-dir", "cannot read %s: %s",
                             r->dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *de = readdir(d); de; de = readdir(d)) {
        if (strncmp(de->d_name, "journal-", 8) != 0 &&
            strncmp(de->d_name, "outbox-", 7) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = vx__realloc(names, cap * sizeof(*names));
            if (!p)
                break;
            names = p;
        }
        names[n] = vx__strdup(de->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), by_name);
    /* Outboxes first: the journals they cover are done. */
    json_t *covered = json_object();
    uint64_t top = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_CAP];
        snprintf(path, sizeof(path), "%s/%s", r->dir, names[i]);
        const char *num = strchr(names[i], '-') + 1;
        uint64_t gen = strtoull(num, NULL, 10);
        top = gen > top ? gen : top;
        if (names[i][0] != 'o')
            continue;
        char *buf = NULL;
        size_t len = 0;
        json_t *doc = NULL;
        if (edge__file_read(path, r->max + 65536, &buf, &len, err) == VX_OK)
            doc = json_loadb(buf, len, 0, NULL);
        vx__free(buf);
        if (!json_is_array(json_object_get(doc, "batches"))) {
            vx__logf(r->e->log, r->e->log_ud, "warn",
                     "edge: %s is not an outbox: left aside", path);
            json_decref(doc);
            continue;
        }
        size_t k;
        const json_t *g;
        json_array_foreach (json_object_get(doc, "covers"), k, g) {
            char key[32];
            snprintf(key, sizeof(key), "%lld",
                     (long long)json_integer_value(g));
            json_object_set_new(covered, key, json_true());
        }
        if (!outbox_push(r, gen, doc))
            json_decref(doc);
    }
    for (size_t i = 0; i < n; i++) {
        if (names[i][0] != 'j')
            continue;
        char path[PATH_CAP], key[32];
        snprintf(path, sizeof(path), "%s/%s", r->dir, names[i]);
        uint64_t gen = strtoull(strchr(names[i], '-') + 1, NULL, 10);
        snprintf(key, sizeof(key), "%lld", (long long)gen);
        if (json_object_get(covered, key)) {
            unlink(path); /* a cut that ended before removing it */
            continue;
        }
        replay(r, path);
        json_array_append_new(r->covers, json_integer((json_int_t)gen));
    }
    json_decref(covered);
    for (size_t i = 0; i < n; i++)
        vx__free(names[i]);
    vx__free(names);
    return journal_open(r, top + 1, err);
}

vx_status edge__reports_new(edge *e, const char *dir, size_t max,
                            edge_reports **out, vx_error *err)
{
    *out = NULL;
    edge_reports *r = vx__calloc(1, sizeof(*r));
    if (!r)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    r->e = e;
    r->max = max;
    r->jfd = -1;
    pthread_mutex_init(&r->mu, NULL);
    r->usage = json_object();
    r->apps = json_object();
    r->impact = json_object();
    r->covers = json_array();
    r->impact_seen = json_object();
    r->edge_seen = json_object();
    vx_status st = VX_OK;
    if (!r->usage || !r->apps || !r->impact || !r->covers || !r->impact_seen ||
        !r->edge_seen)
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
    if (st == VX_OK && dir) {
        r->dir = vx__strdup(dir);
        st = r->dir ? load_dir(r, err)
                    : vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    if (st != VX_OK) {
        edge__reports_free(&r);
        return st;
    }
    *out = r;
    return VX_OK;
}

void edge__reports_free(edge_reports **rp)
{
    if (!rp || !*rp)
        return;
    edge_reports *r = *rp;
    if (r->jfd >= 0) {
        (void)fdatasync(r->jfd);
        close(r->jfd);
    }
    for (size_t i = 0; i < r->nout; i++)
        json_decref(r->out[i].doc);
    vx__free(r->out);
    json_decref(r->usage);
    json_decref(r->apps);
    json_decref(r->impact);
    json_decref(r->covers);
    json_decref(r->impact_seen);
    json_decref(r->edge_seen);
    vx__free(r->dir);
    pthread_mutex_destroy(&r->mu);
    vx__free(r);
    *rp = NULL;
}

/* ---- the sdk_ops: what SDKs post ------------------------------------------
 */

/* The view of `who` (the feed serving its token) and that feed's state (a
 * reference, or NULL when it has none yet). False when the token has no
 * feed (it was refused meanwhile). */
static bool view_of(edge *e, const svc_principal *who, char *env,
                    char *projects, hub_state **state)
{
    char key[EDGE_KEY_MAX] = "";
    *state = NULL;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->ntokens; i++) {
        const edge_token *t = e->tokens[i];
        if (t->id != who->token_id || t->feed < 0 ||
            (size_t)t->feed >= e->nfeeds)
            continue;
        const edge_feed *f = e->feeds[t->feed];
        snprintf(key, sizeof(key), "%s", f->key);
        snprintf(env, EDGE_ENV_MAX, "%s", f->env);
        snprintf(projects, EDGE_PROJ_MAX, "%s", f->projects);
    }
    pthread_mutex_unlock(&e->mu);
    if (!key[0])
        return false;
    if (hub_acquire(e->hub, key, state) != VX_OK)
        *state = NULL;
    return true;
}

/* Whether flag `name` is served to `who` by `s` (NULL: no state yet, so
 * the upstream decides). */
static const hub_flag *served_flag(const hub_state *s, const svc_principal *who,
                                   const char *name)
{
    const hub_flag *f = hub_state_find(s, name);
    hub_scope sc = {.projects = who->projects};
    return f && hub_scope_match(&sc, f) ? f : NULL;
}

static vx_status no_view(vx_error *err)
{
    return vx__error_set(err, VX_EUNAVAILABLE, "",
                         "this token has no view on this edge now: retry "
                         "later");
}

/* Registration `body` arrived at `at` for `who`: checked and kept. */
static vx_status keep_register(edge *e, const svc_principal *who,
                               const json_t *body, int64_t at, vx_error *err)
{
    vx_status st = svc_check_client_register(who, body, err);
    char env[EDGE_ENV_MAX], pr[EDGE_PROJ_MAX];
    hub_state *s = NULL;
    if (st != VX_OK)
        return st;
    if (!view_of(e, who, env, pr, &s))
        return no_view(err);
    hub_state_release(s);
    json_t *rec = json_pack("{ss ss ss sI sO}", "k", "r", "e", env, "p", pr,
                            "at", (json_int_t)at, "b", body);
    pthread_mutex_lock(&e->reports->mu);
    st = keep(e->reports, rec, err);
    pthread_mutex_unlock(&e->reports->mu);
    return st;
}

vx_status edge__register(void *ud, const svc_principal *who, const json_t *body,
                         vx_error *err)
{
    return keep_register(ud, who, body, vx__wall_ms(), err);
}

/* The bucket's start as a minute, as the server takes it (absent, in the
 * future or past the usage retention: now). */
static int64_t start_minute(const json_t *body, int64_t now)
{
    const char *t = json_string_value(
        json_object_get(json_object_get(body, "bucket"), "start"));
    int64_t ms = now;
    if (t && !vx_time_parse(t, strlen(t), &ms))
        ms = now;
    if (ms > now || ms < now - (int64_t)VX_LIMIT_USAGE_HOURS * 3600000)
        ms = now;
    return ms / 60000;
}

/* Usage `body` (checked) arrived at `at` for `who`: kept. */
static vx_status keep_usage(edge *e, const svc_principal *who,
                            const json_t *body, int64_t at, vx_error *err)
{
    char env[EDGE_ENV_MAX], pr[EDGE_PROJ_MAX];
    hub_state *s = NULL;
    if (!view_of(e, who, env, pr, &s))
        return no_view(err);
    /* Flags the token does not see count for nothing upstream (as a direct
     * post's): left out here, since the view may see more. */
    const json_t *toggles =
        json_object_get(json_object_get(body, "bucket"), "toggles");
    json_t *kept = json_object();
    const char *name;
    const json_t *tv;
    json_object_foreach ((json_t *)toggles, name, tv) {
        if (!s || served_flag(s, who, name))
            json_object_set(kept, name, (json_t *)tv);
    }
    hub_state_release(s);
    const char *app = json_string_value(json_object_get(body, "appName"));
    json_t *rec =
        json_pack("{ss ss ss sI ss sI so}", "k", "u", "e", env, "p", pr, "at",
                  (json_int_t)at, "app", app ? app : "", "minute",
                  (json_int_t)start_minute(body, at), "t", kept);
    if (!json_object_size(kept)) {
        json_decref(rec);
        return VX_OK;
    }
    pthread_mutex_lock(&e->reports->mu);
    vx_status st = keep(e->reports, rec, err);
    pthread_mutex_unlock(&e->reports->mu);
    return st;
}

vx_status edge__metrics(void *ud, const svc_principal *who, const json_t *body,
                        vx_error *err)
{
    vx_status st = svc_check_client_metrics(body, err);
    return st == VX_OK ? keep_usage(ud, who, body, vx__wall_ms(), err) : st;
}

static bool name_is(const json_t *v, const char *label)
{
    const char *n = json_string_value(json_object_get(v, "name"));
    return n && strcmp(n, label) == 0;
}

/* Whether flag `f` (its served text) has variant `label` in its own list or
 * a strategy's; `*any` when it has variants at all. */
static bool has_variant(const hub_flag *f, const char *label, bool *any)
{
    json_t *j = json_loadb(f->text, f->text_len, 0, NULL);
    bool hit = false;
    *any = false;
    size_t i, k;
    const json_t *v, *st;
    json_array_foreach (json_object_get(j, "variants"), i, v) {
        *any = true;
        hit = hit || name_is(v, label);
    }
    json_array_foreach (json_object_get(j, "strategies"), k, st) {
        json_array_foreach (json_object_get(st, "variants"), i, v) {
            *any = true;
            hit = hit || name_is(v, label);
        }
    }
    json_decref(j);
    return hit;
}

/* The server's flag checks of an impact entry, on the token's state. */
static vx_status check_flags(const hub_state *s, const svc_principal *who,
                             const json_t *ms, vx_error *err)
{
    size_t i;
    const json_t *m;
    json_array_foreach (ms, i, m) {
        const char *name = json_string_value(json_object_get(m, "flag"));
        char p[64];
        const hub_flag *f = served_flag(s, who, name);
        snprintf(p, sizeof(p), "/metrics/%zu/flag", i);
        if (!f)
            return vx__error_set(err, VX_ENOTFOUND, p,
                                 "flag '%s' not found (impact data is only "
                                 "kept for existing flags of the token's "
                                 "projects)",
                                 name);
        const char *label = svc_impact_label(m);
        if (strcmp(label, "disabled") == 0)
            continue;
        bool any = false, known = has_variant(f, label, &any);
        snprintf(p, sizeof(p), "/metrics/%zu/variant", i);
        if (any && strcmp(label, "enabled") == 0)
            return vx__error_set(err, VX_EINVAL, p,
                                 "flag '%s' serves variants in '%s': name the "
                                 "variant that served these requests",
                                 name, who->environment);
        if (any && !known)
            return vx__error_set(err, VX_ENOTFOUND, p,
                                 "flag '%s' has no variant '%s' in '%s'", name,
                                 label, who->environment);
    }
    return VX_OK;
}

vx_status edge__impact(void *ud, const svc_principal *who, const json_t *batch,
                       vx_error *err)
{
    edge *e = ud;
    vx_status st = svc_check_impact(who, batch, err);
    char env[EDGE_ENV_MAX], pr[EDGE_PROJ_MAX];
    hub_state *s = NULL;
    if (st != VX_OK)
        return st;
    if (!view_of(e, who, env, pr, &s))
        return no_view(err);
    const json_t *ms = json_object_get(batch, "metrics");
    if (!s)
        st = vx__error_set(err, VX_EUNAVAILABLE, "",
                           "the flags of the token's environment are not "
                           "loaded yet: retry later");
    else
        st = check_flags(s, who, ms, err);
    hub_state_release(s);
    if (st != VX_OK)
        return st;
    /* When served: the arrival here, as the server would take it. */
    int64_t now = vx__wall_ms();
    char stamp[32];
    iso_ms(now, stamp);
    json_t *stamped = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach (ms, i, m) {
        json_t *c = json_deep_copy(m);
        const json_t *at = json_object_get(c, "at");
        if (!at || json_is_null(at))
            json_object_set_new(c, "at", json_string(stamp));
        json_array_append_new(stamped, c);
    }
    const json_t *id = json_object_get(batch, "batchId");
    char key[400] = "";
    if (json_is_string(id))
        snprintf(key, sizeof(key), "%s|%s", env, json_string_value(id));
    json_t *rec = json_pack("{ss ss ss sI so}", "k", "i", "e", env, "p", pr,
                            "at", (json_int_t)now, "m", stamped);
    if (rec && key[0])
        json_object_set(rec, "id", (json_t *)id);
    edge_reports *r = e->reports;
    pthread_mutex_lock(&r->mu);
    if (key[0] && json_object_get(r->impact_seen, key)) {
        json_decref(rec); /* a repeat: accepted and ignored */
    } else {
        st = keep(r, rec, err);
        /* Batch ids are kept a day, at most VX_LIMIT_EDGE_BATCH_IDS. */
        if (json_object_size(r->impact_seen) > VX_LIMIT_EDGE_BATCH_IDS) {
            const char *k;
            json_t *v;
            void *tmp;
            json_object_foreach_safe (r->impact_seen, tmp, k, v) {
                if (json_integer_value(v) <
                        now - (int64_t)VX_LIMIT_EDGE_BATCH_HOURS * 3600000 ||
                    json_object_size(r->impact_seen) > VX_LIMIT_EDGE_BATCH_IDS)
                    json_object_del(r->impact_seen, k);
            }
        }
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

vx_status edge__edge_reports(void *ud, const svc_principal *who,
                             const json_t *body, size_t *accepted,
                             json_t **rejected, vx_error *err)
{
    edge *e = ud;
    *accepted = 0;
    *rejected = json_array();
    const json_t *id = json_object_get(body, "batchId");
    const json_t *items = json_object_get(body, "items");
    if (!*rejected)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) > 100)
        return vx__error_set(err, VX_EINVAL, "/batchId",
                             "batchId must be a string of 1 to 100 "
                             "characters");
    if (!json_is_array(items) ||
        json_array_size(items) > VX_LIMIT_EDGE_BATCH_ENTRIES)
        return vx__error_set(err, VX_EINVAL, "/items",
                             "items must be an array of at most %d",
                             VX_LIMIT_EDGE_BATCH_ENTRIES);
    char key[400];
    snprintf(key, sizeof(key), "%s|%s", who->environment,
             json_string_value(id));
    pthread_mutex_lock(&e->reports->mu);
    size_t i =
        (size_t)json_integer_value(json_object_get(e->reports->edge_seen, key));
    pthread_mutex_unlock(&e->reports->mu);
    int64_t now = vx__wall_ms();
    vx_status st = VX_OK;
    for (; i < json_array_size(items); i++) {
        const json_t *it = json_array_get(items, i);
        int64_t at = json_integer_value(json_object_get(it, "receivedAt"));
        if (at > now || at < now - VX_LIMIT_EDGE_ARRIVAL_MS)
            at = now;
        const json_t *reg = json_object_get(it, "register");
        const json_t *met = json_object_get(it, "metrics");
        vx_error one;
        memset(&one, 0, sizeof(one));
        vx_status s1 = reg   ? keep_register(e, who, reg, at, &one)
                       : met ? svc_check_client_metrics(met, &one)
                             : vx__error_set(&one, VX_EINVAL, "",
                                             "register or metrics is needed");
        if (s1 == VX_OK && met)
            s1 = keep_usage(e, who, met, at, &one);
        if (s1 == VX_EUNAVAILABLE || s1 == VX_ENOMEM) {
            st = vx__error_set(err, s1, one.path, "%s", one.message);
            break;
        }
        if (s1 != VX_OK)
            json_array_append_new(
                *rejected, json_pack("{sI ss ss}", "index", (json_int_t)i,
                                     "path", one.path, "message", one.message));
    }
    *accepted = i;
    json_t *rec =
        json_pack("{ss ss ss sI ss sI}", "k", "x", "e", "", "p", "", "at",
                  (json_int_t)now, "id", key, "n", (json_int_t)i);
    pthread_mutex_lock(&e->reports->mu);
    vx_error ignore;
    memset(&ignore, 0, sizeof(ignore));
    (void)keep(e->reports, rec, &ignore);
    pthread_mutex_unlock(&e->reports->mu);
    return st;
}
