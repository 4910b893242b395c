/* The service's SDK-facing side: the revision and per-environment client
 * documents the server publishes from memory, the token cache that lets SDK
 * endpoints authenticate without a database read, and what SDKs report
 * (registrations and usage metrics), validated like any other input.
 *
 * Invariant: a cached token is trusted only while the write generation it
 * was read at is current; every committed write to tokens (and every
 * change seen from another process that may touch them) bumps it. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/limits.h"
#include "base/log.h"
#include "service/internal.h"
#include "vexil/vexil.h"

/* The token cache is set-associative: a token's hash picks one of
 * SVC_TOKEN_SETS sets, and each set holds SVC_TOKEN_WAYS tokens, the least
 * recently used one going when a new one comes. (Direct-mapped, two tokens
 * whose hashes shared a slot pushed each other out, and the one pushed out
 * got 503 while the database was down.) A slot is allocated when a token
 * first fills it: the memory follows the tokens in use. */
#define SVC_TOKEN_SETS  1024
#define SVC_TOKEN_WAYS  4
#define SVC_TOKEN_CACHE (SVC_TOKEN_SETS * SVC_TOKEN_WAYS)

typedef struct svc_token_slot {
    bool used;            /* slot holds a token */
    char key[65];         /* hex SHA-256 of the secret */
    svc_principal who;    /* what authenticate answers */
    int64_t expires_ms;   /* 0 = never */
    long long generation; /* write generation it was read at */
    uint64_t touched;     /* s->token_tick when last put or found */
} svc_token_slot;

static const svc_principal SDK_SYSTEM = {.token_id = 0,
                                         .kind = SVC_KIND_ADMIN,
                                         .role = SVC_ROLE_ADMIN,
                                         .name = "system",
                                         .environment = "*",
                                         .projects = "*"};

/* ---- token cache ---------------------------------------------------------
 */

vx_status svc__token_cache_init(service *s)
{
    s->tokens = vx__calloc(SVC_TOKEN_CACHE, sizeof(*s->tokens)); /* pointers */
    if (!s->tokens)
        return VX_ENOMEM;
    pthread_mutex_init(&s->cache_mu, NULL);
    return VX_OK;
}

void svc__token_cache_release(service *s)
{
    if (!s->tokens)
        return;
    for (size_t k = 0; k < SVC_TOKEN_CACHE; k++) {
        if (!s->tokens[k])
            continue;
        sodium_memzero(s->tokens[k], sizeof(*s->tokens[k]));
        vx__free(s->tokens[k]);
    }
    vx__free(s->tokens);
    s->tokens = NULL;
    pthread_mutex_destroy(&s->cache_mu);
}

/* The index of the first way of the set of `key`. */
static size_t set_of(const char key[65])
{
    /* The key is a uniformly distributed hash: its first hex digits index. */
    size_t h = 0;
    for (int i = 0; i < 6; i++) {
        char ch = key[i];
        h = h * 16 + (size_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
    }
    return (h % SVC_TOKEN_SETS) * SVC_TOKEN_WAYS;
}

/* The index of the slot holding `key`, or SIZE_MAX (under cache_mu). */
static size_t way_of(service *s, const char key[65])
{
    size_t set = set_of(key);
    for (size_t k = set; k < set + SVC_TOKEN_WAYS; k++) {
        const svc_token_slot *t = s->tokens[k];
        if (t && t->used && sodium_memcmp(t->key, key, 64) == 0)
            return k;
    }
    return SIZE_MAX;
}

bool svc__token_cache_get(service *s, const char key[65], bool stale_ok,
                          svc_principal *who, int64_t *expires_ms)
{
    bool hit = false;
    long long gen = atomic_load(&s->generation);
    pthread_mutex_lock(&s->cache_mu);
    size_t k = way_of(s, key);
    svc_token_slot *t = k == SIZE_MAX ? NULL : s->tokens[k];
    if (t && (stale_ok || t->generation == gen)) {
        *who = t->who;
        *expires_ms = t->expires_ms;
        t->touched = ++s->token_tick;
        hit = true;
    }
    pthread_mutex_unlock(&s->cache_mu);
    return hit;
}

void svc__token_cache_put(service *s, const char key[65],
                          const svc_principal *who, int64_t expires_ms,
                          long long generation)
{
    pthread_mutex_lock(&s->cache_mu);
    /* Read before a token write that committed since: what was read may be
     * what that write changed (and svc__token_forget may have dropped it
     * already), so it is not kept. */
    if (atomic_load(&s->generation) != generation) {
        pthread_mutex_unlock(&s->cache_mu);
        return;
    }
    /* Its own way, else a free one, else the least recently used. */
    size_t set = set_of(key), k = way_of(s, key);
    for (size_t w = set; k == SIZE_MAX && w < set + SVC_TOKEN_WAYS; w++)
        if (!s->tokens[w] || !s->tokens[w]->used)
            k = w;
    if (k == SIZE_MAX) {
        k = set;
        for (size_t w = set + 1; w < set + SVC_TOKEN_WAYS; w++)
            if (s->tokens[w]->touched < s->tokens[k]->touched)
                k = w;
    }
    if (!s->tokens[k])
        s->tokens[k] = vx__calloc(1, sizeof(*s->tokens[k]));
    svc_token_slot *t = s->tokens[k];
    if (!t) { /* out of memory: not kept, looked up next time */
        pthread_mutex_unlock(&s->cache_mu);
        return;
    }
    t->used = true;
    memcpy(t->key, key, 65);
    t->who = *who;
    t->expires_ms = expires_ms;
    t->generation = generation;
    t->touched = ++s->token_tick;
    pthread_mutex_unlock(&s->cache_mu);
}

void svc__token_cache_drop(service *s, const char key[65])
{
    pthread_mutex_lock(&s->cache_mu);
    size_t k = way_of(s, key);
    if (k != SIZE_MAX)
        s->tokens[k]->used = false;
    pthread_mutex_unlock(&s->cache_mu);
}

bool svc_watchable(service *s)
{
    return s->ops->watch != NULL;
}

vx_status svc_watch(service *s, int timeout_ms, int64_t *revision,
                    vx_error *err)
{
    *revision = 0;
    if (!s->ops->watch)
        return vx__error_set(err, VX_EINVAL, "",
                             "the %s backend does not announce changes",
                             s->ops->name);
    /* No s->mu: the store's watch has its own connection (store.h). */
    return s->ops->watch(s->st, timeout_ms, revision, err);
}

/* Takes the service mutex for one of the SDK hub's reads, unless calls
 * fail at once now (svc__db_gate): then VX_EUNAVAILABLE and no lock, so the
 * hub learns of an outage without waiting out the bound again. */
static vx_status read_lock(service *s, vx_error *err, int64_t *t0)
{
    vx_status st = svc__db_gate(s, err);
    if (st != VX_OK)
        return st;
    atomic_fetch_add(&s->hub_waiting, 1); /* ahead of svc__lock's queue */
    pthread_mutex_lock(&s->mu);
    atomic_fetch_sub(&s->hub_waiting, 1);
    *t0 = vx__mono_ms();
    return VX_OK;
}

/* Releases read_lock's mutex and records the read's outcome. */
static void read_unlock(service *s, vx_status st, const vx_error *err,
                        int64_t t0)
{
    int64_t spent = vx__mono_ms() - t0;
    pthread_mutex_unlock(&s->mu);
    svc__db_outcome(s, st, err, spent);
}

void svc_invalidate(service *s)
{
    /* Stamped with the generation from before the read: a token written
     * here meanwhile bumps it, and the refreshed entries are then unusable
     * (looked up again) rather than trusted with what the read saw. */
    long long gen = atomic_load(&s->generation);
    json_t *all = NULL;
    int64_t t0 = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = read_lock(s, &err, &t0);
    if (st == VX_OK) {
        st = s->ops->doc_list(s->st, STORE_TOKEN, NULL, &all, &err);
        read_unlock(s, st, &err, t0);
    }
    if (st != VX_OK) {
        json_decref(all); /* unreadable: the entries stay as they are */
        return;
    }
    bool *seen = vx__calloc(SVC_TOKEN_CACHE, sizeof(*seen));
    if (!seen) {
        json_decref(all);
        atomic_fetch_add(&s->generation, 1); /* cannot refresh: forget */
        return;
    }
    size_t i;
    json_t *doc;
    pthread_mutex_lock(&s->cache_mu);
    json_array_foreach (all, i, doc) {
        const char *hash = json_string_value(json_object_get(doc, "hash"));
        if (!hash || strlen(hash) != 64)
            continue;
        size_t k = way_of(s, hash);
        if (k == SIZE_MAX)
            continue;
        svc_token_slot *t = s->tokens[k];
        seen[k] = true;
        if (json_is_true(json_object_get(doc, "revoked"))) {
            t->used = false;
            continue;
        }
        svc__token_principal(doc, &t->who, &t->expires_ms);
        t->generation = gen; /* checked against the database just now */
    }
    for (size_t k = 0; k < SVC_TOKEN_CACHE; k++)
        if (s->tokens[k] && s->tokens[k]->used && !seen[k])
            s->tokens[k]->used = false; /* deleted */
    pthread_mutex_unlock(&s->cache_mu);
    vx__free(seen);
    json_decref(all);
}

static int by_token_id(const void *a, const void *b)
{
    int64_t x = ((const svc_token_state *)a)->id;
    int64_t y = ((const svc_token_state *)b)->id;
    return (x > y) - (x < y);
}

vx_status svc_token_states(service *s, svc_token_state **out, size_t *n,
                           vx_error *err)
{
    svc_req req = {0};
    svc_ctx c = {s, &SDK_SYSTEM, &req, err, vx__wall_ms()};
    json_t *all = NULL;
    *out = NULL;
    *n = 0;
    int64_t t0 = 0;
    vx_status st = read_lock(s, err, &t0);
    if (st != VX_OK)
        return st;
    st = svc__list(&c, STORE_TOKEN, NULL, &all);
    read_unlock(s, st, err, t0);
    if (st != VX_OK)
        return st;
    size_t k = json_array_size(all);
    svc_token_state *t = vx__calloc(k ? k : 1, sizeof(*t));
    if (!t) {
        json_decref(all);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    size_t i;
    json_t *doc;
    json_array_foreach (all, i, doc) {
        t[i].id = json_integer_value(json_object_get(doc, "id"));
        t[i].revoked = json_is_true(json_object_get(doc, "revoked"));
        t[i].expires_ms =
            json_integer_value(json_object_get(doc, "expiresAtMs"));
    }
    json_decref(all);
    qsort(t, k, sizeof(*t), by_token_id);
    *out = t;
    *n = k;
    return VX_OK;
}

/* ---- published state ------------------------------------------------------
 */

vx_status svc_revision(service *s, int64_t *out, vx_error *err)
{
    *out = 0;
    int64_t t0 = 0;
    vx_status st = read_lock(s, err, &t0);
    if (st != VX_OK)
        return st;
    st = s->ops->event_last_id(s->st, out, err);
    read_unlock(s, st, err, t0);
    if (st == VX_EIO || st == VX_EUNAVAILABLE)
        atomic_fetch_add(&s->db_errors, 1);
    return st;
}

/* The environment names (under s->mu). */
static vx_status env_names(svc_ctx *c, json_t **out)
{
    json_t *all = NULL;
    *out = NULL;
    vx_status st = svc__list(c, STORE_ENVIRONMENT, NULL, &all);
    if (st != VX_OK)
        return st;
    json_t *names = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (all, i, e) {
        json_array_append(names, json_object_get(e, "name"));
    }
    json_decref(all);
    *out = names;
    return VX_OK;
}

vx_status svc_environment_names(service *s, json_t **out, vx_error *err)
{
    svc_req req = {0};
    svc_ctx c = {s, &SDK_SYSTEM, &req, err, vx__wall_ms()};
    int64_t t0 = 0;
    *out = NULL;
    vx_status st = read_lock(s, err, &t0);
    if (st != VX_OK)
        return st;
    st = env_names(&c, out);
    read_unlock(s, st, err, t0);
    return st;
}

/* True when an event of `type` leaves every SDK view as it was (tokens,
 * feature-type lifetimes, the advisor's notes, strategy definitions, which
 * no SDK sees until a flag uses one). */
static bool sdk_neutral(const char *type)
{
    return strncmp(type, "api-token-", 10) == 0 ||
           strcmp(type, "feature-type-updated") == 0 ||
           strcmp(type, "advisor-recommendation") == 0 ||
           strncmp(type, "strategy-", 9) == 0;
}

bool svc_sdk_relevant(const json_t *ev, const char *env)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *e = json_string_value(json_object_get(ev, "environment"));
    return type && !sdk_neutral(type) && (!e || strcmp(e, env) == 0);
}

/* Sets "revision" in each document of `docs` ({env: document}): the newest
 * event at or before `upto` relevant to its environment, 0 when none. Reads
 * brief pages newest first (growing) until each has one or the log ends;
 * events appended meanwhile only repeat rows already seen (under s->mu). */
static vx_status set_revisions(svc_ctx *c, json_t *docs, int64_t upto)
{
    size_t left = json_object_size(docs);
    store_event_filter f = {.limit = 64, .brief = true};
    vx_status st = VX_OK;
    while (left > 0 && st == VX_OK) {
        json_t *page = NULL;
        int64_t total = 0;
        st = c->s->ops->event_query(c->s->st, &f, &page, &total, c->err);
        size_t i;
        json_t *ev;
        json_array_foreach (page, i, ev) {
            int64_t id = json_integer_value(json_object_get(ev, "id"));
            const char *env;
            json_t *doc;
            json_object_foreach (docs, env, doc) {
                if (id > upto || json_object_get(doc, "revision") ||
                    !svc_sdk_relevant(ev, env))
                    continue;
                json_object_set_new(doc, "revision", json_integer(id));
                left--;
            }
        }
        bool end = json_array_size(page) < (size_t)f.limit;
        json_decref(page);
        if (end)
            break;
        f.offset += f.limit;
        if (f.limit < 4096)
            f.limit *= 4;
    }
    const char *env;
    json_t *doc;
    json_object_foreach (docs, env, doc) {
        if (!json_object_get(doc, "revision"))
            json_object_set_new(doc, "revision", json_integer(0));
    }
    return st;
}

vx_status svc_client_states(service *s, const json_t *envs, json_t **docs,
                            int64_t *revision, vx_error *err)
{
    svc_req req = {0};
    svc_ctx c = {s, &SDK_SYSTEM, &req, err, vx__wall_ms()};
    json_t *names = NULL, *want = json_array();
    *docs = NULL;
    *revision = 0;
    if (!want)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    int64_t t0 = 0;
    vx_status st = read_lock(s, err, &t0);
    if (st != VX_OK) {
        json_decref(want);
        return st;
    }
    /* The revision first: what is read after it is at least as new, so a
     * state is never labelled newer than what it holds. */
    st = s->ops->event_last_id(s->st, revision, err);
    if (st == VX_OK)
        st = env_names(&c, &names);
    size_t i, k;
    json_t *a, *b;
    json_array_foreach (names, i, a) {
        json_array_foreach (envs, k, b) {
            if (json_equal(a, b))
                json_array_append(want, a);
        }
    }
    if (st == VX_OK)
        st = svc__client_documents(&c, want, SVC_DOC_TAGS, docs);
    if (st == VX_OK)
        st = set_revisions(&c, *docs, *revision);
    read_unlock(s, st, err, t0);
    json_decref(names);
    json_decref(want);
    if (st == VX_EIO || st == VX_EUNAVAILABLE)
        atomic_fetch_add(&s->db_errors, 1);
    return st;
}

vx_status svc_client_changes(service *s, int64_t since, json_t **changes,
                             int64_t *revision, bool *tokens, vx_error *err)
{
    svc_req req = {0};
    svc_ctx c = {s, &SDK_SYSTEM, &req, err, vx__wall_ms()};
    json_t *events = NULL, *names = NULL, *envs = NULL, *out = NULL;
    int64_t total = 0;
    bool full = false;
    *changes = NULL;
    *tokens = false;
    int64_t t0 = 0;
    vx_status st = read_lock(s, err, &t0);
    if (st != VX_OK)
        return st;
    st = s->ops->event_last_id(s->st, revision, err);
    if (st != VX_OK)
        goto out;
    if (*revision - since > VX_LIMIT_SDK_INCREMENTAL || since < 0) {
        full = true;
        goto out;
    }
    /* Newest first. Other processes may commit between the revision read
     * above and this query, pushing the events after `since` further down
     * the page: read that many more, and take the page as complete only
     * when it reaches an event at or before `since` or the start of the
     * log; otherwise rebuild whole. Events newer than *revision are taken
     * too (harmless: their flags are read as they are now). */
    store_event_filter f = {
        .limit = *revision - since + VX_LIMIT_SDK_INCREMENTAL,
        .brief = true, /* names and types: the flags are read as they are */
    };
    if (*revision > since)
        st = s->ops->event_query(s->st, &f, &events, &total, err);
    if (st != VX_OK)
        goto out;
    names = json_object();
    size_t i;
    json_t *ev;
    bool reached = json_array_size(events) < (size_t)f.limit;
    json_array_foreach (events, i, ev) {
        if (json_integer_value(json_object_get(ev, "id")) <= since) {
            reached = true;
            break;
        }
        const char *flag =
            json_string_value(json_object_get(ev, "featureName"));
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (type && strncmp(type, "api-token-", 10) == 0)
            *tokens = true;
        if (flag)
            json_object_set_new(names, flag, json_true());
        else if (!type || !sdk_neutral(type))
            full = true;
    }
    if (!reached)
        full = true;
    if (full)
        goto out;
    st = env_names(&c, &envs);
    if (st != VX_OK)
        goto out;
    out = json_object();
    json_t *e;
    json_array_foreach (envs, i, e) {
        const char *env = json_string_value(e);
        json_t *one = json_pack("{s{}}", "flags");
        /* The newest event since `since` relevant to it (newest first). */
        size_t k;
        json_array_foreach (events, k, ev) {
            int64_t id = json_integer_value(json_object_get(ev, "id"));
            if (id <= since)
                break;
            if (svc_sdk_relevant(ev, env)) {
                json_object_set_new(one, "revision", json_integer(id));
                break;
            }
        }
        json_object_set_new(out, env, one);
    }
    const char *name;
    json_t *v;
    json_object_foreach (names, name, v) {
        json_t *doc = NULL;
        st = svc__get(&c, STORE_FEATURE, name, &doc);
        if (st == VX_ENOTFOUND)
            st = VX_OK; /* deleted: null below */
        if (st != VX_OK)
            break;
        json_array_foreach (envs, i, e) {
            const char *env = json_string_value(e);
            json_t *cf =
                doc ? svc__client_feature(doc, env, SVC_DOC_TAGS) : NULL;
            json_object_set_new(
                json_object_get(json_object_get(out, env), "flags"), name,
                cf ? cf : json_null());
        }
        json_decref(doc);
    }
out:
    read_unlock(s, st, err, t0);
    if (st == VX_EIO || st == VX_EUNAVAILABLE)
        atomic_fetch_add(&s->db_errors, 1);
    if (st == VX_OK && !full) {
        *changes = out;
        out = NULL;
    }
    json_decref(out);
    json_decref(events);
    json_decref(names);
    json_decref(envs);
    return st;
}

/* ---- what SDKs report -----------------------------------------------------
 */

/* Runs `fn` in one write transaction as the SDK's token. */
/* svc__in_txn's callback, called through svc__run. */
static vx_status in_txn_unit(svc_ctx *c, void *ud)
{
    vx_status (**fn)(svc_ctx *) = ud;
    return (*fn)(c);
}

vx_status svc__in_txn(service *s, const svc_principal *who, const json_t *body,
                      vx_error *err, vx_status (*fn)(svc_ctx *c))
{
    svc_req req = {.body = body};
    return svc__run(s, who, &req, vx__wall_ms(), SVC_CHANGE_RECORDS, err,
                    in_txn_unit, &fn);
}

/* An instance and when it was last seen, for make_room_for_apps. */
typedef struct app_age {
    int64_t seen_ms; /* lastSeen, 0 when unreadable */
    const json_t *doc;
} app_age;

static int by_age(const void *a, const void *b)
{
    int64_t x = ((const app_age *)a)->seen_ms;
    int64_t y = ((const app_age *)b)->seen_ms;
    return (x > y) - (x < y);
}

/* Every deployment brings new instance ids, so the table of registered
 * instances would fill up and refuse every new SDK. At the cap this drops
 * the instances not seen for VX_LIMIT_CLIENT_APP_DAYS days (as Unleash
 * does) and, when that is not enough, the least recently seen, down to
 * 90 % of the cap so the next registrations do not pay for it again. */
static vx_status make_room_for_apps(svc_ctx *c)
{
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_CLIENT_APP, NULL, &all);
    if (st != VX_OK)
        return st;
    size_t n = json_array_size(all);
    app_age *a = vx__calloc(n ? n : 1, sizeof(*a));
    if (!a) {
        json_decref(all);
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_array_get(all, i);
        const json_t *ls = json_object_get(d, "lastSeen");
        a[i].doc = d;
        if (!json_is_string(ls) ||
            !vx_time_parse(json_string_value(ls), json_string_length(ls),
                           &a[i].seen_ms))
            a[i].seen_ms = 0;
    }
    qsort(a, n, sizeof(*a), by_age);
    int64_t stale = c->now_ms - (int64_t)VX_LIMIT_CLIENT_APP_DAYS * 86400000;
    size_t keep = (size_t)VX_LIMIT_CLIENT_APPS / 10 * 9;
    size_t dropped = 0;
    for (size_t i = 0; i < n && st == VX_OK; i++) {
        if (n - i <= keep && a[i].seen_ms >= stale)
            break;
        const json_t *d = a[i].doc;
        char key[600];
        snprintf(key, sizeof(key), "%s|%s|%s",
                 json_string_value(json_object_get(d, "environment")),
                 json_string_value(json_object_get(d, "appName")),
                 json_string_value(json_object_get(d, "instanceId")));
        st = svc__del(c, STORE_CLIENT_APP, key);
        dropped++;
    }
    vx__free(a);
    json_decref(all);
    if (st == VX_OK)
        vx__logf(c->s->log, c->s->log_ud, "info",
                 "registered instances at the cap (%d): dropped %zu of %zu",
                 VX_LIMIT_CLIENT_APPS, dropped, n);
    return st;
}

/* A required non-empty string of at most 255 bytes. */
static vx_status need_text(svc_ctx *c, const json_t *obj, const char *key,
                           const char **out)
{
    const json_t *v = json_object_get(obj, key);
    char path[64];
    snprintf(path, sizeof(path), "/%s", key);
    if (!v)
        return svc__fail(c, VX_EINVAL, path, "%s is required", key);
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > 255)
        return svc__fail(c, VX_EINVAL, path,
                         "%s must be a string of 1 to 255 characters", key);
    *out = json_string_value(v);
    return VX_OK;
}

/* Validates a registration and builds its document and key (`key`, 600
 * bytes); no database. */
static vx_status check_register(svc_ctx *c, char *key, size_t cap, json_t **out)
{
    const json_t *b = c->req->body;
    const char *app = NULL, *instance = NULL;
    *out = NULL;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = need_text(c, b, "appName", &app);
    if (st == VX_OK)
        st = svc__opt_string(c, b, "instanceId", "", &instance);
    if (st == VX_OK && json_object_get(b, "strategies"))
        st = svc__expect_array(c, json_object_get(b, "strategies"),
                               "/strategies", 1000);
    if (st != VX_OK)
        return st;
    const json_t *v;
    size_t i;
    json_array_foreach (json_object_get(b, "strategies"), i, v) {
        if (!json_is_string(v)) {
            char path[48];
            snprintf(path, sizeof(path), "/strategies/%zu", i);
            return svc__fail(c, VX_EINVAL, path, "must be a strategy name");
        }
    }
    const char *env = c->who->environment;
    snprintf(key, cap, "%s|%s|%s", env, app, instance ? instance : "");
    json_t *doc = json_pack(
        "{ss ss ss sO* sO* sO* sO* so}", "appName", app, "instanceId",
        instance ? instance : "", "environment", env, "sdkVersion",
        json_object_get(b, "sdkVersion"), "strategies",
        json_object_get(b, "strategies"), "platformName",
        json_object_get(b, "platformName"), "started",
        json_object_get(b, "started"), "lastSeen", svc__time_json(c->now_ms));
    if (!doc)
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    *out = doc;
    return VX_OK;
}

vx_status svc__report_app(svc_ctx *c, const char *key, const json_t *doc)
{
    json_t *old = NULL;
    vx_status st = svc__get(c, STORE_CLIENT_APP, key, &old);
    if (st == VX_ENOTFOUND) {
        int64_t n = 0;
        st = c->s->ops->doc_count(c->s->st, STORE_CLIENT_APP, &n, c->err);
        if (st == VX_OK && n >= VX_LIMIT_CLIENT_APPS)
            st = make_room_for_apps(c);
    }
    json_decref(old);
    if (st != VX_OK)
        return st;
    return svc__put(c, STORE_CLIENT_APP, key,
                    json_string_value(json_object_get(doc, "environment")),
                    doc);
}

vx_status svc_client_register(service *s, const svc_principal *who,
                              const json_t *body, vx_error *err)
{
    return svc__client_register_at(s, who, body, vx__wall_ms(), err);
}

vx_status svc__client_register_at(service *s, const svc_principal *who,
                                  const json_t *body, int64_t at_ms,
                                  vx_error *err)
{
    svc_req req = {.body = body};
    svc_ctx c = {s, who, &req, err, at_ms};
    char key[600];
    json_t *doc = NULL;
    vx_status st = check_register(&c, key, sizeof(key), &doc);
    if (st == VX_OK)
        st = svc__reports_add_app(s, key, doc, err);
    json_decref(doc);
    return st;
}

/* A count: a non-negative integer below 2^53. */
static vx_status need_count(svc_ctx *c, const json_t *v, const char *path,
                            json_int_t *out)
{
    if (!v) {
        *out = 0;
        return VX_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > ((json_int_t)1 << 53))
        return svc__fail(c, VX_EINVAL, path, "must be a non-negative integer");
    *out = json_integer_value(v);
    return VX_OK;
}

/* Checks the whole bucket before anything is written. */
static vx_status check_bucket(svc_ctx *c, const json_t *b, int64_t *start_ms)
{
    const char *app = NULL, *t = NULL;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = need_text(c, b, "appName", &app);
    if (st != VX_OK)
        return st;
    const json_t *bucket = json_object_get(b, "bucket");
    if (!bucket)
        return svc__fail(c, VX_EINVAL, "/bucket", "bucket is required");
    st = svc__expect_object(c, bucket, "/bucket");
    if (st == VX_OK)
        st = svc__opt_string(c, bucket, "start", "/bucket", &t);
    if (st != VX_OK)
        return st;
    *start_ms = c->now_ms;
    if (t && !vx_time_parse(t, strlen(t), start_ms))
        return svc__fail(c, VX_EINVAL, "/bucket/start",
                         "start must be an ISO-8601 time");
    const json_t *toggles = json_object_get(bucket, "toggles");
    if (!toggles)
        return svc__fail(c, VX_EINVAL, "/bucket/toggles",
                         "toggles is required");
    st = svc__expect_object(c, toggles, "/bucket/toggles");
    if (st != VX_OK)
        return st;
    if (json_object_size(toggles) > VX_LIMIT_METRICS_TOGGLES)
        return svc__fail(c, VX_ELIMIT, "/bucket/toggles",
                         "more than %d flags in one bucket",
                         VX_LIMIT_METRICS_TOGGLES);
    const char *name;
    const json_t *tv;
    json_object_foreach ((json_t *)toggles, name, tv) {
        char path[VX_ERROR_PATH_MAX];
        json_int_t n;
        snprintf(path, sizeof(path), "/bucket/toggles/%.180s", name);
        st = svc__expect_object(c, tv, path);
        const char *const counts[] = {"yes", "no"};
        for (int i = 0; st == VX_OK && i < 2; i++) {
            char p2[VX_ERROR_PATH_MAX];
            snprintf(p2, sizeof(p2), "%s/%s", path, counts[i]);
            st = need_count(c, json_object_get(tv, counts[i]), p2, &n);
        }
        const json_t *vars = json_object_get(tv, "variants");
        if (st == VX_OK && vars) {
            char p2[VX_ERROR_PATH_MAX];
            snprintf(p2, sizeof(p2), "%s/variants", path);
            st = svc__expect_object(c, vars, p2);
            if (st == VX_OK &&
                json_object_size(vars) > VX_LIMIT_METRICS_VARIANTS)
                st = svc__fail(c, VX_ELIMIT, p2, "more than %d variants",
                               VX_LIMIT_METRICS_VARIANTS);
            const char *vn;
            const json_t *vc;
            json_object_foreach ((json_t *)vars, vn, vc) {
                if (st != VX_OK)
                    break;
                char p3[VX_ERROR_PATH_MAX];
                snprintf(p3, sizeof(p3), "%s/%.60s", p2, vn);
                st = need_count(c, vc, p3, &n);
            }
        }
        if (st != VX_OK)
            return st;
    }
    return VX_OK;
}

/* Deletes a usage document (key "hour|environment|appName|feature"). */
static vx_status drop_usage(svc_ctx *c, void *ud, const char *hour, json_t *doc)
{
    (void)ud;
    char key[700];
    snprintf(key, sizeof(key), "%s|%s|%s|%s", hour,
             json_string_value(json_object_get(doc, "environment")),
             json_string_value(json_object_get(doc, "appName")),
             json_string_value(json_object_get(doc, "feature")));
    return svc__del(c, STORE_USAGE, key);
}

/* Keeps the usage documents of one flag. */
typedef struct usage_rows {
    const char *flag; /* the flag's name */
    json_t *rows;     /* the documents kept (array) */
} usage_rows;

static vx_status keep_usage(svc_ctx *c, void *ud, const char *hour, json_t *doc)
{
    usage_rows *u = ud;
    (void)c;
    (void)hour;
    if (strcmp(json_string_value(json_object_get(doc, "feature")), u->flag) ==
        0)
        json_array_append(u->rows, doc);
    return VX_OK;
}

/* Drops usage buckets past the retention, hour by hour since the last
 * sweep (at most 30 days back on the first one). */
static vx_status sweep_usage(svc_ctx *c)
{
    int64_t now_h = c->now_ms / 3600000;
    int64_t keep_from = now_h - VX_LIMIT_USAGE_HOURS;
    int64_t h = c->s->usage_swept_hour;
    if (h == 0 || h < keep_from - 24 * 30)
        h = keep_from - 24 * 30;
    vx_status st =
        svc__each_hour(c, STORE_USAGE, h, keep_from, drop_usage, NULL);
    if (st == VX_OK)
        c->s->usage_swept_hour = keep_from;
    return st;
}

/* Adds one flag's counts to its hourly usage document. */
static vx_status add_usage(svc_ctx *c, const char *hour, const char *app,
                           const char *flag, const json_t *tv)
{
    const char *env = c->who->environment;
    char key[700];
    snprintf(key, sizeof(key), "%s|%s|%s|%s", hour, env, app, flag);
    json_t *doc = NULL;
    vx_status st = svc__get(c, STORE_USAGE, key, &doc);
    if (st == VX_ENOTFOUND) {
        doc = json_pack("{ss ss ss ss si si s{}}", "hour", hour, "environment",
                        env, "appName", app, "feature", flag, "yes", 0, "no", 0,
                        "variants");
        st = doc ? VX_OK : VX_ENOMEM;
    }
    if (st != VX_OK) {
        json_decref(doc);
        return st;
    }
    const char *const counts[] = {"yes", "no"};
    for (int i = 0; i < 2; i++) {
        json_int_t have = json_integer_value(json_object_get(doc, counts[i]));
        json_int_t add = json_integer_value(json_object_get(tv, counts[i]));
        json_object_set_new(doc, counts[i], json_integer(have + add));
    }
    json_t *vars = json_object_get(doc, "variants");
    const char *vn;
    const json_t *vc;
    json_object_foreach ((json_t *)json_object_get(tv, "variants"), vn, vc) {
        json_int_t have = json_integer_value(json_object_get(vars, vn));
        json_object_set_new(vars, vn,
                            json_integer(have + json_integer_value(vc)));
    }
    st = svc__put(c, STORE_USAGE, key, hour, doc);
    json_decref(doc);
    return st;
}

/* Marks the flag as seen (at most once a minute: SDKs report often). */
static vx_status mark_seen(svc_ctx *c, json_t *f)
{
    const char *seen = json_string_value(json_object_get(f, "lastSeenAt"));
    int64_t seen_ms = 0;
    if (seen && vx_time_parse(seen, strlen(seen), &seen_ms) &&
        c->now_ms - seen_ms < 60000)
        return VX_OK;
    json_object_set_new(f, "lastSeenAt", svc__time_json(c->now_ms));
    return svc__put(c, STORE_FEATURE,
                    json_string_value(json_object_get(f, "name")),
                    json_string_value(json_object_get(f, "project")), f);
}

vx_status svc__report_usage(svc_ctx *c, const json_t *e)
{
    const svc_principal *caller = c->who;
    int64_t now = c->now_ms;
    /* The entry counts as its environment's, at the time it arrived (the
     * release-plan epoch in force then, lastSeenAt). */
    svc_principal who = *caller;
    snprintf(who.environment, sizeof(who.environment), "%s",
             json_string_value(json_object_get(e, "env")));
    const char *projects = json_string_value(json_object_get(e, "projects"));
    snprintf(who.projects, sizeof(who.projects), "%s",
             projects ? projects : "*");
    c->who = &who;
    c->now_ms = json_integer_value(json_object_get(e, "at"));
    int64_t start_ms = json_integer_value(json_object_get(e, "minute")) * 60000;
    const char *name = json_string_value(json_object_get(e, "flag"));
    const char *app = json_string_value(json_object_get(e, "app"));
    char hour[16];
    svc__hour_str(start_ms, hour);
    json_t *f = NULL;
    /* Only flags that exist: a client cannot fill the database with
     * made-up names. */
    vx_status st = svc__get(c, STORE_FEATURE, name, &f);
    /* Another project's flag than the reporting token's: as if it did
     * not exist (it would move that project's release-plan exposures). */
    if (st == VX_OK && !svc__in_scope(c->who, json_string_value(json_object_get(
                                                  f, "project"))))
        st = VX_ENOTFOUND;
    if (st == VX_OK)
        st = add_usage(c, hour, app, name, e);
    if (st == VX_OK)
        st = mark_seen(c, f);
    if (st == VX_OK)
        st = svc__impact_sdk(c, name, e, start_ms);
    if (st == VX_ENOTFOUND)
        st = VX_OK;
    json_decref(f);
    c->who = caller;
    c->now_ms = now;
    return st;
}

vx_status svc__report_sweep(svc_ctx *c)
{
    return sweep_usage(c);
}

vx_status svc_client_metrics(service *s, const svc_principal *who,
                             const json_t *body, vx_error *err)
{
    return svc__client_metrics_at(s, who, body, vx__wall_ms(), err);
}

vx_status svc__client_metrics_at(service *s, const svc_principal *who,
                                 const json_t *body, int64_t at_ms,
                                 vx_error *err)
{
    svc_req req = {.body = body};
    svc_ctx c = {s, who, &req, err, at_ms};
    int64_t start_ms = 0;
    vx_status st = check_bucket(&c, body, &start_ms);
    if (st != VX_OK)
        return st;
    /* A bucket from the future or past the retention counts as now. */
    if (start_ms > c.now_ms ||
        start_ms < c.now_ms - (int64_t)VX_LIMIT_USAGE_HOURS * 3600000)
        start_ms = c.now_ms;
    const json_t *toggles =
        json_object_get(json_object_get(body, "bucket"), "toggles");
    return svc__reports_add_usage(
        s, who, json_string_value(json_object_get(body, "appName")), toggles,
        start_ms, c.now_ms, err);
}

/* The checks of register and metrics without a service (an edge node
 * answers its SDKs as the server would, then forwards). */
vx_status svc_check_client_register(const svc_principal *who,
                                    const json_t *body, vx_error *err)
{
    svc_req req = {.body = body};
    svc_ctx c = {NULL, who, &req, err, vx__wall_ms()};
    char key[600];
    json_t *doc = NULL;
    vx_status st = check_register(&c, key, sizeof(key), &doc);
    json_decref(doc);
    return st;
}

vx_status svc_check_client_metrics(const json_t *body, vx_error *err)
{
    svc_principal none;
    memset(&none, 0, sizeof(none));
    svc_req req = {.body = body};
    svc_ctx c = {NULL, &none, &req, err, vx__wall_ms()};
    int64_t start_ms = 0;
    return check_bucket(&c, body, &start_ms);
}

/* ---- admin views ----------------------------------------------------------
 */

/* GET /api/admin/client-metrics/features/{feature}[?hours=N]: the hourly
 * usage of one flag over the last N hours (default 24), oldest first. */
vx_status svc__op_FEATURE_USAGE(svc_ctx *c, json_t **out)
{
    const char *name = c->req->feature;
    json_t *f = NULL;
    vx_status st = svc__get(c, STORE_FEATURE, name, &f);
    json_decref(f);
    if (st == VX_ENOTFOUND)
        return svc__not_found(c, "flag", name);
    if (st != VX_OK)
        return st;
    long hours = 24;
    const char *q = json_string_value(json_object_get(c->req->query, "hours"));
    if (q) {
        char *end = NULL;
        hours = strtol(q, &end, 10);
        if (!*q || *end || hours < 1 || hours > VX_LIMIT_USAGE_HOURS)
            return svc__fail(c, VX_EINVAL, "/query/hours",
                             "hours must be a whole number from 1 to %d",
                             VX_LIMIT_USAGE_HOURS);
    }
    json_t *rows = json_array();
    int64_t now_h = c->now_ms / 3600000;
    usage_rows u = {name, rows};
    if (st == VX_OK)
        st = svc__each_hour(c, STORE_USAGE, now_h - hours + 1, now_h + 1,
                            keep_usage, &u);
    if (st != VX_OK) {
        json_decref(rows);
        return st;
    }
    *out = json_pack("{ss so}", "featureName", name, "usage", rows);
    return VX_OK;
}

/* GET /api/admin/metrics/applications: registered SDK instances. */
vx_status svc__op_APPLICATION_LIST(svc_ctx *c, json_t **out)
{
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_CLIENT_APP, NULL, &all);
    if (st != VX_OK)
        return st;
    *out = json_pack("{so}", "applications", all);
    return VX_OK;
}
