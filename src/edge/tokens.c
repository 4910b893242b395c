/* The edge's token cache: every secret an SDK (or the configuration)
 * presented, with what the upstream said of it: valid (kind, environment,
 * projects, expiry), invalid, revoked. An unknown secret is checked once
 * (its request waits for the answer at most VX_LIMIT_EDGE_VALIDATE_MS, on
 * all listener threads but one, and not again for a while after a wait
 * ran out: the others get 503 at once);
 * cached ones are checked again when the upstream says tokens changed
 * (event vexil-tokens on its streams), periodically, and after an outage.
 *
 * Invariant: a token is served only from a feed whose view covers it (the
 * same environment, projects a superset), so that what it sees equals what
 * the upstream serves it; a client token that no feed covers gets a feed
 * of its own. All under edge.mu. */
#include "edge/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"

static uint64_t secret_hash(const char *s, size_t n)
{
    return hub_hash64(s, n, HUB_HASH_SEED);
}

edge_token *edge__token_find(edge *e, const char *secret, size_t len)
{
    uint64_t h = secret_hash(secret, len);
    for (size_t i = 0; i < e->ntokens; i++) {
        edge_token *t = e->tokens[i];
        if (t->hash == h && t->len == len &&
            memcmp(t->secret, secret, len) == 0)
            return t;
    }
    return NULL;
}

static void token_free(edge_token *t)
{
    if (!t)
        return;
    vx__free(t->secret);
    vx__free(t);
}

/* Makes room by forgetting the oldest invalid entry (never a given one):
 * false when there is none. */
static bool evict(edge *e)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < e->ntokens; i++) {
        const edge_token *t = e->tokens[i];
        if (t->given || t->status != TOK_INVALID)
            continue;
        if (best == SIZE_MAX || t->checked_ms < e->tokens[best]->checked_ms)
            best = i;
    }
    if (best == SIZE_MAX)
        return false;
    token_free(e->tokens[best]);
    memmove(e->tokens + best, e->tokens + best + 1,
            (e->ntokens - best - 1) * sizeof(*e->tokens));
    e->ntokens--;
    return true;
}

edge_token *edge__token_add(edge *e, const char *secret, size_t len, bool given)
{
    if (len == 0 || len > VX_LIMIT_SDK_URL_BYTES)
        return NULL;
    if (e->ntokens == VX_LIMIT_EDGE_TOKENS && !evict(e))
        return NULL;
    if (!e->tokens) {
        e->tokens = vx__calloc(VX_LIMIT_EDGE_TOKENS, sizeof(*e->tokens));
        if (!e->tokens)
            return NULL;
    }
    edge_token *t = vx__calloc(1, sizeof(*t));
    char *s = t ? vx__malloc(len + 1) : NULL;
    if (!s) {
        vx__free(t);
        return NULL;
    }
    memcpy(s, secret, len);
    s[len] = '\0';
    t->secret = s;
    t->len = len;
    t->hash = secret_hash(secret, len);
    t->id = ++e->next_token_id;
    t->status = TOK_PENDING;
    t->given = given;
    t->feed = -1;
    e->tokens[e->ntokens++] = t;
    return t;
}

void edge__tokens_free(edge *e)
{
    for (size_t i = 0; i < e->ntokens; i++)
        token_free(e->tokens[i]);
    vx__free(e->tokens);
    e->tokens = NULL;
    e->ntokens = 0;
}

/* "a,b" equal as sets is not needed: projects come from the upstream in
 * one order. True when `outer` ("*" or "a,b") includes every project of
 * `inner`. */
static bool covers(const char *outer, const char *inner)
{
    if (strcmp(outer, "*") == 0)
        return true;
    if (strcmp(inner, "*") == 0)
        return false;
    for (const char *p = inner; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        bool found = false;
        for (const char *q = outer; *q && !found;) {
            const char *d = strchr(q, ',');
            size_t m = d ? (size_t)(d - q) : strlen(q);
            found = m == n && memcmp(p, q, n) == 0;
            q = d ? d + 1 : q + m;
        }
        if (!found)
            return false;
        p = c ? c + 1 : p + n;
    }
    return true;
}

int edge__feed_cover(edge *e, const char *env, const char *projects)
{
    int best = -1;
    for (size_t i = 0; i < e->nfeeds; i++) {
        const edge_feed *f = e->feeds[i];
        if (f->dropped || strcmp(f->env, env) != 0 ||
            !covers(f->projects, projects))
            continue;
        if (best < 0 || (f->given && !e->feeds[best]->given))
            best = (int)i;
    }
    return best;
}

/* The feed following with token `t` itself, or -1. */
static int own_feed(edge *e, const edge_token *t)
{
    for (size_t i = 0; i < e->nfeeds; i++) {
        const edge_feed *f = e->feeds[i];
        if (!f->dropped && f->len == t->len &&
            memcmp(f->secret, t->secret, t->len) == 0)
            return (int)i;
    }
    return -1;
}

void edge__tokens_map(edge *e)
{
    for (size_t i = 0; i < e->ntokens; i++) {
        edge_token *t = e->tokens[i];
        t->feed = -1;
        if (t->status != TOK_VALID || t->kind == SVC_KIND_ADMIN)
            continue;
        /* A given client token is followed with itself; another one is
         * served by a feed that covers it, or gets its own. */
        int f = t->kind == SVC_KIND_CLIENT && t->given ? own_feed(e, t) : -1;
        if (f < 0)
            f = edge__feed_cover(e, t->env, t->projects);
        if (f < 0 && t->kind == SVC_KIND_CLIENT && edge__feed_add(e, t))
            f = (int)e->nfeeds - 1;
        t->feed = f;
    }
}

static void join_projects(const json_t *list, char *out, size_t cap)
{
    size_t used = 0, i;
    const json_t *p;
    out[0] = '\0';
    json_array_foreach (list, i, p) {
        const char *s = json_string_value(p);
        if (!s)
            continue;
        int n = snprintf(out + used, cap - used, "%s%s", used ? "," : "", s);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    if (!out[0])
        snprintf(out, cap, "*");
}

/* The entry for `t` in the answer's `list` ("tokens" or "refused"), or
 * NULL. */
static const json_t *listed(const json_t *answer, const char *list,
                            const edge_token *t)
{
    size_t i;
    const json_t *x;
    json_array_foreach (json_object_get(answer, list), i, x) {
        const json_t *s = json_object_get(x, "token");
        if (json_is_string(s) && json_string_length(s) == t->len &&
            memcmp(json_string_value(s), t->secret, t->len) == 0)
            return x;
    }
    return NULL;
}

void edge__tokens_answer(edge *e, char *const *asked, size_t n,
                         const json_t *answer)
{
    int64_t now = vx__wall_ms();
    for (size_t k = 0; k < n; k++) {
        edge_token *t = edge__token_find(e, asked[k], strlen(asked[k]));
        if (!t)
            continue; /* forgotten meanwhile */
        const json_t *x = listed(answer, "tokens", t);
        t->checked_ms = now;
        t->recheck = false;
        const char *type = json_string_value(json_object_get(x, "type"));
        const char *env = json_string_value(json_object_get(x, "environment"));
        if (x && type && env &&
            (strcmp(type, "client") == 0 || strcmp(type, "backend") == 0 ||
             strcmp(type, "frontend") == 0)) {
            t->status = TOK_VALID;
            t->revoked = false;
            t->refusal[0] = '\0';
            t->kind = strcmp(type, "frontend") == 0 ? SVC_KIND_FRONTEND
                                                    : SVC_KIND_CLIENT;
            snprintf(t->env, sizeof(t->env), "%s", env);
            join_projects(json_object_get(x, "projects"), t->projects,
                          sizeof(t->projects));
            const json_t *ex = json_object_get(x, "expiresAt");
            t->expires_ms = json_is_integer(ex) ? json_integer_value(ex) : 0;
            continue;
        }
        const json_t *no = listed(answer, "refused", t);
        const char *why = json_string_value(json_object_get(no, "message"));
        const char *nt = json_string_value(json_object_get(no, "type"));
        if (nt && strcmp(nt, "admin") == 0) {
            /* An admin token: no SDK endpoint takes it (403, as the server
             * answers), and it has no view. */
            t->status = TOK_VALID;
            t->revoked = false;
            t->refusal[0] = '\0';
            t->kind = SVC_KIND_ADMIN;
            snprintf(t->env, sizeof(t->env), "*");
            snprintf(t->projects, sizeof(t->projects), "*");
            t->expires_ms = 0;
            continue;
        }
        snprintf(t->refusal, sizeof(t->refusal), "%s",
                 why                      ? why
                 : t->status == TOK_VALID ? "token revoked"
                                          : "unknown token");
        if (t->status == TOK_VALID) {
            t->revoked = true;
            vx__logf(e->log, e->log_ud, "info",
                     "edge: token %lld (%s, %s) is no longer valid upstream: "
                     "refused from now on",
                     (long long)t->id, t->env, t->projects);
        }
        t->status = TOK_INVALID;
        int f = own_feed(e, t);
        if (f >= 0)
            e->feeds[f]->dropped = true; /* the upstream thread removes it */
    }
    edge__tokens_map(e);
    e->tokens_dirty = true;
    e->hub_tokens_due = true;
    pthread_cond_broadcast(&e->answered);
}

void edge__tokens_push(edge *e)
{
    svc_token_state *list =
        vx__calloc(e->ntokens ? e->ntokens : 1, sizeof(*list));
    if (!list)
        return;
    for (size_t i = 0; i < e->ntokens; i++) {
        const edge_token *t = e->tokens[i];
        list[i] =
            (svc_token_state){t->id, t->status == TOK_INVALID, t->expires_ms};
    }
    /* Entries are added with rising ids and removed in place: sorted. */
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (hub_feed_tokens(e->hub, list, e->ntokens, &err) == VX_OK)
        e->hub_tokens_due = false;
    vx__free(list);
}

/* The token file's names of the kinds, and back. */
static const char *kind_name(svc_token_kind k)
{
    return k == SVC_KIND_FRONTEND ? "frontend"
           : k == SVC_KIND_ADMIN  ? "admin"
                                  : "client";
}

static svc_token_kind kind_of(const char *name)
{
    if (name && strcmp(name, "frontend") == 0)
        return SVC_KIND_FRONTEND;
    if (name && strcmp(name, "admin") == 0)
        return SVC_KIND_ADMIN;
    return SVC_KIND_CLIENT;
}

json_t *edge__tokens_json(edge *e)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < e->ntokens; i++) {
        const edge_token *t = e->tokens[i];
        if (t->status == TOK_PENDING ||
            (t->status == TOK_INVALID && !t->revoked))
            continue;
        json_array_append_new(
            a, json_pack("{ss# sb ss ss ss ss sI sI}", "secret", t->secret,
                         t->len, "given", t->given, "status",
                         t->status == TOK_VALID ? "valid" : "revoked", "type",
                         kind_name(t->kind), "environment", t->env, "projects",
                         t->projects, "expiresAt", (json_int_t)t->expires_ms,
                         "checkedMs", (json_int_t)t->checked_ms));
        if (t->refusal[0])
            json_object_set_new(json_array_get(a, json_array_size(a) - 1),
                                "message", json_string(t->refusal));
    }
    return a;
}

void edge__tokens_load(edge *e, const json_t *list)
{
    size_t i;
    const json_t *x;
    json_array_foreach (list, i, x) {
        const json_t *s = json_object_get(x, "secret");
        const char *st = json_string_value(json_object_get(x, "status"));
        const char *env = json_string_value(json_object_get(x, "environment"));
        const char *pr = json_string_value(json_object_get(x, "projects"));
        if (!json_is_string(s) || !st || !env || !pr)
            continue;
        edge_token *t =
            edge__token_find(e, json_string_value(s), json_string_length(s));
        if (!t)
            t = edge__token_add(e, json_string_value(s), json_string_length(s),
                                false);
        if (!t)
            break;
        bool valid = strcmp(st, "valid") == 0;
        t->status = valid ? TOK_VALID : TOK_INVALID;
        t->revoked = !valid;
        t->recheck = true; /* once the upstream answers */
        t->kind = kind_of(json_string_value(json_object_get(x, "type")));
        snprintf(t->env, sizeof(t->env), "%s", env);
        snprintf(t->projects, sizeof(t->projects), "%s", pr);
        t->expires_ms = json_integer_value(json_object_get(x, "expiresAt"));
        t->checked_ms = json_integer_value(json_object_get(x, "checkedMs"));
        const char *why = json_string_value(json_object_get(x, "message"));
        snprintf(t->refusal, sizeof(t->refusal), "%s",
                 why     ? why
                 : valid ? ""
                         : "token revoked");
    }
}

vx_status edge__authenticate(void *ud, const char *secret, size_t len,
                             svc_principal *who, char *slot, size_t cap,
                             vx_error *err)
{
    edge *e = ud;
    vx_status st = VX_OK;
    struct timespec until =
        vx__deadline(CLOCK_MONOTONIC, VX_LIMIT_EDGE_VALIDATE_MS);
    pthread_mutex_lock(&e->mu);
    edge_token *t = edge__token_find(e, secret, len);
    if (!t) {
        t = edge__token_add(e, secret, len, false);
        if (!t) {
            st = vx__error_set(err, VX_EUNAVAILABLE, "",
                               "this edge checks no more tokens now: retry "
                               "later");
            goto out;
        }
    }
    /* Checked once, with a bound: past it (or when the upstream does not
     * answer) 503, and the next request waits again. A listener thread
     * that waits serves nobody else, so at most waiters_max wait at once
     * (one thread always stays free for the tokens already known), and
     * none for a while after a wait ran out: the others get 503 at once,
     * their check asked for all the same. */
    if (t->status == TOK_PENDING) {
        edge__upstream_wake(e);
        if (e->waiters < e->waiters_max && vx__mono_ms() >= e->slow_until_ms) {
            e->waiters++;
            while (t && t->status == TOK_PENDING) {
                bool was_up = e->upstream_up;
                if (pthread_cond_timedwait(&e->answered, &e->mu, &until) ==
                    ETIMEDOUT) {
                    e->slow_until_ms =
                        vx__mono_ms() + VX_LIMIT_EDGE_VALIDATE_BUSY_MS;
                    break;
                }
                t = edge__token_find(e, secret, len);
                if (t && t->status == TOK_PENDING && !e->upstream_up &&
                    !was_up && !e->validating)
                    break; /* the upstream does not answer: do not hold the
                              caller */
            }
            e->waiters--;
        }
    }
    if (!t || t->status == TOK_PENDING) {
        st = vx__error_set(err, VX_EUNAVAILABLE, "",
                           "this token is not known here yet and the upstream "
                           "has not answered: retry later");
    } else if (t->status == TOK_INVALID) {
        st = vx__error_set(err, VX_EAUTH, "", "%s",
                           t->refusal[0] ? t->refusal
                           : t->revoked  ? "token revoked"
                                         : "unknown token");
    } else if (t->expires_ms && t->expires_ms <= vx__wall_ms()) {
        st = vx__error_set(err, VX_EAUTH, "", "token expired");
    } else if (t->kind != SVC_KIND_ADMIN &&
               (t->feed < 0 || (size_t)t->feed >= e->nfeeds)) {
        st = vx__error_set(err, VX_EUNAVAILABLE, "",
                           "no token given to this edge serves environment "
                           "'%.60s' with projects '%.60s': give the edge a "
                           "client token that does (--token)",
                           t->env, t->projects);
    } else {
        memset(who, 0, sizeof(*who));
        who->token_id = t->id;
        who->kind = t->kind;
        who->role = SVC_ROLE_NONE;
        snprintf(who->name, sizeof(who->name), "edge-token-%lld",
                 (long long)t->id);
        snprintf(who->environment, sizeof(who->environment), "%s", t->env);
        snprintf(who->projects, sizeof(who->projects), "%s", t->projects);
        snprintf(slot, cap, "%s",
                 t->kind == SVC_KIND_ADMIN ? "" : e->feeds[t->feed]->key);
    }
out:
    pthread_mutex_unlock(&e->mu);
    return st;
}

int64_t edge__token_expiry(void *ud, const svc_principal *who)
{
    edge *e = ud;
    int64_t exp = 0;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->ntokens; i++)
        if (e->tokens[i]->id == who->token_id)
            exp = e->tokens[i]->expires_ms;
    pthread_mutex_unlock(&e->mu);
    return exp;
}
