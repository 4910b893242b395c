/* Console sessions: see sessions.h. A session is one STORE_SESSION document
 * keyed by the hex SHA-256 of its secret, filed under its token's key:
 *   {id, tokenKey, tokenName, createdAtMs, lastSeenMs, expiresAtMs,
 *    idleMs, endedAtMs}
 * The secret itself is never stored; the CSRF token is derived from it.
 * Invariant: a check never trusts the document alone: the token is checked
 * too (through the token cache, which every committed token change and
 * every revision from another process invalidates), so revoking a token
 * ends its sessions on every replica at their next request. */
#include "service/sessions.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "service/internal.h"

static const char PREFIX[] = "vxs1.";
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define SECRET_LEN (PREFIX_LEN + 64)

static_assert(SECRET_LEN < SVC_SESSION_SECRET_MAX, "a secret fits its buffer");

bool svc_session_well_formed(const char *secret, size_t len)
{
    if (!secret || len != SECRET_LEN || memcmp(secret, PREFIX, PREFIX_LEN))
        return false;
    for (size_t i = PREFIX_LEN; i < len; i++) {
        char ch = secret[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return false;
    }
    return true;
}

void svc_session_csrf(const char *secret, size_t len,
                      char out[SVC_SESSION_CSRF_MAX])
{
    static const char domain[] = "vexil console csrf\n";
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)domain,
                              sizeof(domain) - 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)secret, len);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(out, SVC_SESSION_CSRF_MAX, h, sizeof(h));
}

bool svc_session_csrf_ok(const char *secret, size_t len, const char *given)
{
    char want[SVC_SESSION_CSRF_MAX];
    if (!given || strlen(given) != SVC_SESSION_CSRF_MAX - 1)
        return false;
    svc_session_csrf(secret, len, want);
    return sodium_memcmp(want, given, SVC_SESSION_CSRF_MAX - 1) == 0;
}

static int64_t num(const json_t *doc, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(doc, key));
}

/* Fills the facts of `out` from a stored session document. */
static void facts(const json_t *doc, svc_session *out)
{
    snprintf(out->id, sizeof(out->id), "%s",
             json_string_value(json_object_get(doc, "id")));
    snprintf(out->token_name, sizeof(out->token_name), "%s",
             json_string_value(json_object_get(doc, "tokenName")));
    out->created_ms = num(doc, "createdAtMs");
    out->last_seen_ms = num(doc, "lastSeenMs");
    out->expires_ms = num(doc, "expiresAtMs");
    out->idle_ms = num(doc, "idleMs");
    out->ended_ms = num(doc, "endedAtMs");
}

/* ---- opening ------------------------------------------------------------ */

typedef struct open_arg {
    const char *token_key; /* the token's key */
    const svc_principal *who;
    int64_t idle_ms, max_ms;
    const char *key; /* the session's key */
    const char *id;  /* its public id */
} open_arg;

static int by_created(const void *a, const void *b)
{
    int64_t x = num(*(json_t *const *)a, "createdAtMs");
    int64_t y = num(*(json_t *const *)b, "createdAtMs");
    return (x > y) - (x < y);
}

/* Deletes `doc` (a session document) from the store. */
static vx_status drop(svc_ctx *c, const json_t *doc)
{
    const char *key = json_string_value(json_object_get(doc, "key"));
    return key ? svc__del(c, STORE_SESSION, key) : VX_OK;
}

/* Drops every dead session (past its lifetime, or idle past its timeout:
 * signing in is rare, so this sweep is cheap enough), then the token's
 * oldest live ones while it has VX_LIMIT_SESSIONS_PER_TOKEN or more, to
 * make room for one. Signed-out sessions are kept until they die, so a
 * check can say "signed out". */
static vx_status prune(svc_ctx *c, const char *token_key)
{
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_SESSION, NULL, &all);
    size_t n = json_array_size(all), live = 0, i;
    json_t **keep = n ? vx__calloc(n, sizeof(*keep)) : NULL;
    if (st == VX_OK && n && !keep)
        st = svc__fail(c, VX_ENOMEM, "", "out of memory");
    json_t *doc;
    json_array_foreach (all, i, doc) {
        if (st != VX_OK)
            break;
        bool dead = num(doc, "expiresAtMs") <= c->now_ms ||
                    c->now_ms - num(doc, "lastSeenMs") > num(doc, "idleMs");
        const char *tk = json_string_value(json_object_get(doc, "tokenKey"));
        if (dead)
            st = drop(c, doc);
        else if (!num(doc, "endedAtMs") && tk && strcmp(tk, token_key) == 0)
            keep[live++] = doc;
    }
    if (st == VX_OK && live >= VX_LIMIT_SESSIONS_PER_TOKEN) {
        qsort(keep, live, sizeof(*keep), by_created);
        for (i = 0; st == VX_OK && i <= live - VX_LIMIT_SESSIONS_PER_TOKEN; i++)
            st = drop(c, keep[i]);
    }
    vx__free(keep);
    json_decref(all);
    return st;
}

static vx_status open_unit(svc_ctx *c, void *ud)
{
    open_arg *a = ud;
    vx_status st = prune(c, a->token_key);
    if (st != VX_OK)
        return st;
    json_t *doc = json_pack(
        "{ss ss ss sI sI sI sI sI sI ss}", "id", a->id, "tokenKey",
        a->token_key, "tokenName", a->who->name, "tokenId",
        (json_int_t)a->who->token_id, "createdAtMs", (json_int_t)c->now_ms,
        "lastSeenMs", (json_int_t)c->now_ms, "expiresAtMs",
        (json_int_t)(c->now_ms + a->max_ms), "idleMs", (json_int_t)a->idle_ms,
        "endedAtMs", (json_int_t)0, "key", a->key);
    if (!doc)
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    st = svc__put(c, STORE_SESSION, a->key, a->token_key, doc);
    json_decref(doc);
    return st;
}

vx_status svc_session_open(service *s, const char *token, size_t len,
                           int64_t idle_ms, int64_t max_ms, int64_t now_ms,
                           char secret[SVC_SESSION_SECRET_MAX],
                           svc_session *out, vx_error *err)
{
    char token_key[65], key[65], id[37];
    secret[0] = '\0';
    memset(out, 0, sizeof(*out));
    if (idle_ms < 1000 || idle_ms > VX_LIMIT_SESSION_MS || max_ms < 1000 ||
        max_ms > VX_LIMIT_SESSION_MS)
        return vx__error_set(err, VX_EINVAL, "",
                             "session timeouts must be from 1 s to %d days",
                             (int)(VX_LIMIT_SESSION_MS / 86400000));
    if (!token || len == 0 || len > 512)
        return vx__error_set(err, VX_EAUTH, "", "missing or invalid token");
    svc__token_key(token, len, token_key);
    svc_principal who;
    vx_status st = svc__token_check(s, token_key, &who, NULL, err);
    if (st != VX_OK)
        return st;
    if (who.kind != SVC_KIND_ADMIN)
        return vx__error_set(err, VX_EFORBIDDEN, "",
                             "only admin tokens can sign in to the console");
    unsigned char r[32];
    char hex[65];
    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    snprintf(secret, SVC_SESSION_SECRET_MAX, "%s%s", PREFIX, hex);
    svc__token_key(secret, SECRET_LEN, key);
    svc__uuid(id);
    open_arg a = {token_key, &who, idle_ms, max_ms, key, id};
    st =
        svc__run(s, &who, NULL, now_ms, SVC_CHANGE_RECORDS, err, open_unit, &a);
    if (st != VX_OK) {
        sodium_memzero(secret, SVC_SESSION_SECRET_MAX);
        return st;
    }
    out->state = SVC_SESSION_LIVE;
    out->who = who;
    snprintf(out->id, sizeof(out->id), "%s", id);
    snprintf(out->token_name, sizeof(out->token_name), "%s", who.name);
    svc_session_csrf(secret, SECRET_LEN, out->csrf);
    out->created_ms = out->last_seen_ms = now_ms;
    out->expires_ms = now_ms + max_ms;
    out->idle_ms = idle_ms;
    return VX_OK;
}

/* ---- checking and closing ------------------------------------------------ */

typedef struct read_arg {
    const char *key; /* the session's key */
    json_t *doc;     /* out: the document, or NULL when there is none */
    bool touch;      /* record the use (write) */
    bool end;        /* sign it out (write) */
} read_arg;

static vx_status read_unit(svc_ctx *c, void *ud)
{
    read_arg *a = ud;
    vx_status st = svc__get(c, STORE_SESSION, a->key, &a->doc);
    if (st == VX_ENOTFOUND) {
        a->doc = NULL;
        return VX_OK;
    }
    if (st != VX_OK || (!a->touch && !a->end))
        return st;
    if (num(a->doc, "endedAtMs"))
        return VX_OK; /* already ended: keep the first end */
    if (a->end)
        json_object_set_new(a->doc, "endedAtMs", json_integer(c->now_ms));
    if (c->now_ms > num(a->doc, "lastSeenMs"))
        json_object_set_new(a->doc, "lastSeenMs", json_integer(c->now_ms));
    return svc__put(c, STORE_SESSION, a->key,
                    json_string_value(json_object_get(a->doc, "tokenKey")),
                    a->doc);
}

/* How stale the recorded last use may get before a check writes it. */
static int64_t touch_after(int64_t idle_ms)
{
    int64_t t = idle_ms / 4;
    return t > VX_LIMIT_SESSION_TOUCH_MS ? VX_LIMIT_SESSION_TOUCH_MS : t;
}

static const svc_principal SESSIONS = {.kind = SVC_KIND_ADMIN,
                                       .role = SVC_ROLE_ADMIN,
                                       .name = "sessions",
                                       .environment = "*",
                                       .projects = "*"};

vx_status svc_session_check(service *s, const char *secret, size_t len,
                            int64_t now_ms, svc_session *out, vx_error *err)
{
    char key[65];
    memset(out, 0, sizeof(*out));
    out->state = SVC_SESSION_UNKNOWN;
    if (!svc_session_well_formed(secret, len))
        return VX_OK;
    svc__token_key(secret, len, key);
    read_arg a = {key, NULL, false, false};
    vx_status st = svc__run(s, &SESSIONS, NULL, now_ms, 0, err, read_unit, &a);
    if (st != VX_OK || !a.doc)
        goto out;
    facts(a.doc, out);
    svc_session_csrf(secret, len, out->csrf);
    if (out->ended_ms)
        out->state = SVC_SESSION_SIGNED_OUT;
    else if (now_ms >= out->expires_ms)
        out->state = SVC_SESSION_EXPIRED;
    else if (now_ms - out->last_seen_ms > out->idle_ms)
        out->state = SVC_SESSION_IDLE;
    if (out->state != SVC_SESSION_UNKNOWN)
        goto out;
    bool expired = false;
    vx_error terr;
    memset(&terr, 0, sizeof(terr));
    const char *tk = json_string_value(json_object_get(a.doc, "tokenKey"));
    st = svc__token_check(s, tk ? tk : "", &out->who, &expired, &terr);
    if (st == VX_EAUTH) {
        out->state =
            expired ? SVC_SESSION_TOKEN_EXPIRED : SVC_SESSION_TOKEN_REVOKED;
        st = VX_OK;
        goto out;
    }
    if (st != VX_OK) {
        *err = terr;
        goto out;
    }
    out->state = SVC_SESSION_LIVE;
    if (now_ms - out->last_seen_ms >= touch_after(out->idle_ms)) {
        json_decref(a.doc);
        a = (read_arg){key, NULL, true, false};
        st = svc__run(s, &SESSIONS, NULL, now_ms, SVC_CHANGE_RECORDS, err,
                      read_unit, &a);
        if (st == VX_OK && a.doc && !num(a.doc, "endedAtMs"))
            out->last_seen_ms = num(a.doc, "lastSeenMs");
        else if (st == VX_OK)
            out->state = a.doc ? SVC_SESSION_SIGNED_OUT : SVC_SESSION_UNKNOWN;
    }
out:
    json_decref(a.doc);
    if (st != VX_OK)
        memset(out->csrf, 0, sizeof(out->csrf));
    return st;
}

vx_status svc_session_close(service *s, const char *secret, size_t len,
                            int64_t now_ms, vx_error *err)
{
    char key[65];
    if (!svc_session_well_formed(secret, len))
        return VX_OK;
    svc__token_key(secret, len, key);
    read_arg a = {key, NULL, false, true};
    vx_status st = svc__run(s, &SESSIONS, NULL, now_ms, SVC_CHANGE_RECORDS, err,
                            read_unit, &a);
    json_decref(a.doc);
    return st;
}
