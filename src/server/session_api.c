/* Console sessions over HTTP: see session_api.h. The cookie carries the
 * session secret (src/service/sessions.c keeps only its hash); the CSRF
 * token the console echoes in X-Vexil-CSRF is derived from it, so every
 * replica checks both without shared memory. Requests that carry an
 * Authorization header never look at the cookie: scripts and the CLI work
 * exactly as before.
 *
 * Invariant: what runs on a serving thread (the headers step,
 * session_api_precheck) never touches the database; everything that does
 * (session_api_confirm, session_api_request) runs on a database thread,
 * so console requests against a database that does not answer never hold
 * the threads that serve SDKs and /health. */
#include "server/session_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"
#include "server/sdk_api.h"
#include "service/sessions.h"

#define COOKIE      "vexil_session"
#define COOKIE_PATH "/api/admin"
#define CSRF_HEADER "X-Vexil-CSRF"
#define ROUTE       "/api/admin/session"

static_assert((long long)SESSION_SECS_MAX * 1000 == VX_LIMIT_SESSION_MS,
              "the CLI cap of the timeouts is the service's");

struct session_api {
    service *svc;          /* borrowed */
    int64_t idle_ms;       /* idle timeout of new sessions */
    int64_t max_ms;        /* lifetime of new sessions */
    session_secure secure; /* the cookie's Secure attribute */
};

/* Per-request state of /api/admin/session, in the request's arena. */
typedef struct sess_req {
    svc_principal who; /* POST: the token that signs in */
    const char *token; /* POST: its secret, borrowed from the header */
    size_t token_len;  /* its length */
} sess_req;

vx_status session_api_new(service *svc, const session_api_config *cfg,
                          session_api **out, vx_error *err)
{
    *out = NULL;
    unsigned idle = cfg->idle_secs ? cfg->idle_secs : SESSION_IDLE_DEFAULT_SECS;
    unsigned max = cfg->max_secs ? cfg->max_secs : SESSION_MAX_DEFAULT_SECS;
    if ((int64_t)idle * 1000 > VX_LIMIT_SESSION_MS)
        return vx__error_set(err, VX_EINVAL, "/session-idle-secs",
                             "session-idle-secs is over %lld",
                             VX_LIMIT_SESSION_MS / 1000);
    if ((int64_t)max * 1000 > VX_LIMIT_SESSION_MS)
        return vx__error_set(err, VX_EINVAL, "/session-max-secs",
                             "session-max-secs is over %lld",
                             VX_LIMIT_SESSION_MS / 1000);
    session_api *a = vx__calloc(1, sizeof(*a));
    if (!a)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    a->svc = svc;
    a->idle_ms = (int64_t)idle * 1000;
    a->max_ms = (int64_t)max * 1000;
    a->secure = cfg->secure;
    *out = a;
    return VX_OK;
}

void session_api_free(session_api **a)
{
    if (!a || !*a)
        return;
    vx__free(*a);
    *a = NULL;
}

bool session_api_owns(const http_req *r)
{
    size_t n = sizeof(ROUTE) - 1;
    size_t len = http_req_path_len(r);
    const char *p = http_req_path(r);
    return (len == n || (len == n + 1 && p[n] == '/')) &&
           memcmp(p, ROUTE, n) == 0;
}

/* ---- cookies, origins -----------------------------------------------------
 */

/* The value of the session cookie in the Cookie header, or NULL. */
static const char *cookie_value(const http_req *r, size_t *len)
{
    const char *h = http_req_header(r, "Cookie");
    size_t n = sizeof(COOKIE) - 1;
    while (h && *h) {
        while (*h == ' ' || *h == '\t' || *h == ';')
            h++;
        size_t item = strcspn(h, ";");
        if (item > n && memcmp(h, COOKIE, n) == 0 && h[n] == '=') {
            const char *v = h + n + 1;
            size_t vl = item - n - 1;
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            *len = vl;
            return vl ? v : NULL;
        }
        h += item;
    }
    return NULL;
}

bool session_api_has_cookie(const http_req *r)
{
    size_t len = 0;
    return cookie_value(r, &len) != NULL;
}

static bool safe_method(const http_req *r)
{
    const char *m = http_req_method(r);
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
           strcmp(m, "OPTIONS") == 0;
}

/* `host` without a default port for `https` (":443") or plain (":80"). */
static size_t host_len(const char *host, size_t n, bool https)
{
    const char *dflt = https ? ":443" : ":80";
    size_t d = strlen(dflt);
    if (n > d && memcmp(host + n - d, dflt, d) == 0)
        return n - d;
    return n;
}

/* The first value of a comma-separated header, trimmed. */
static const char *first_value(const char *v, size_t *len)
{
    if (!v)
        return NULL;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strcspn(v, ",");
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *len = n;
    return n ? v : NULL;
}

/* True when the browser says the request comes from this server's own
 * pages: Origin, when sent, names the host the request was sent to (Host,
 * or X-Forwarded-Host behind a proxy); without Origin, Sec-Fetch-Site
 * must not say another site. Clients that are not browsers send neither. */
static bool same_origin(const http_req *r)
{
    const char *origin = http_req_header(r, "Origin");
    if (!origin) {
        const char *site = http_req_header(r, "Sec-Fetch-Site");
        return !site || strcmp(site, "same-origin") == 0 ||
               strcmp(site, "none") == 0;
    }
    bool https = strncasecmp(origin, "https://", 8) == 0;
    if (!https && strncasecmp(origin, "http://", 7) != 0)
        return false; /* "null", file:, another scheme */
    const char *oh = origin + (https ? 8 : 7);
    size_t ol = strcspn(oh, "/");
    size_t hl = 0;
    const char *host = first_value(http_req_header(r, "X-Forwarded-Host"), &hl);
    if (!host)
        host = first_value(http_req_header(r, "Host"), &hl);
    if (!host)
        return false;
    ol = host_len(oh, ol, https);
    hl = host_len(host, hl, https);
    return ol == hl && strncasecmp(oh, host, ol) == 0;
}

/* Whether the cookie gets Secure: see session_secure. */
static bool over_https(const session_api *a, const http_req *r)
{
    if (a->secure != SESSION_SECURE_AUTO)
        return a->secure == SESSION_SECURE_ON;
    size_t n = 0;
    const char *proto =
        first_value(http_req_header(r, "X-Forwarded-Proto"), &n);
    if (proto && n == 5 && strncasecmp(proto, "https", 5) == 0)
        return true;
    const char *fwd = http_req_header(r, "Forwarded");
    if (fwd && strcasestr(fwd, "proto=https"))
        return true;
    const char *origin = http_req_header(r, "Origin");
    return origin && strncasecmp(origin, "https://", 8) == 0;
}

/* Sets the session cookie to `value` for `max_age` seconds (0: clears it). */
static void set_cookie(session_api *a, http_req *r, const char *value,
                       long long max_age)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf),
                     COOKIE "=%s; Path=" COOKIE_PATH
                            "; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
                     value, max_age, over_https(a, r) ? "; Secure" : "");
    if (n <= 0 || (size_t)n >= sizeof(buf))
        return;
    char *h = vx__arena_strndup(http_req_arena(r), buf, (size_t)n);
    if (h)
        http_reply_header(r, "Set-Cookie", h);
}

/* ---- answers ----------------------------------------------------------------
 */

/* "12 hours", "30 minutes", "5 seconds". */
static void duration(int64_t ms, char *out, size_t cap)
{
    int64_t s = ms / 1000;
    if (s % 86400 == 0 && s >= 86400)
        snprintf(out, cap, "%lld day%s", (long long)(s / 86400),
                 s == 86400 ? "" : "s");
    else if (s % 3600 == 0 && s >= 3600)
        snprintf(out, cap, "%lld hour%s", (long long)(s / 3600),
                 s == 3600 ? "" : "s");
    else if (s % 60 == 0 && s >= 60)
        snprintf(out, cap, "%lld minute%s", (long long)(s / 60),
                 s == 60 ? "" : "s");
    else
        snprintf(out, cap, "%lld second%s", (long long)s, s == 1 ? "" : "s");
}

/* Answers `status` with {message, details, reason}. */
static void refuse(http_req *r, unsigned status, const char *reason,
                   const char *message)
{
    json_t *doc = json_pack("{ss s[{ss ss}] ss}", "message", message, "details",
                            "path", "", "message", message, "reason", reason);
    if (!doc) {
        http_reply_problem(r, status, message, "", NULL);
        return;
    }
    http_reply_json(r, status, doc);
    json_decref(doc);
}

/* The 401 for a session that is not live, clearing its cookie. */
static void refuse_session(session_api *a, http_req *r, const svc_session *s)
{
    char msg[256], d[64];
    const char *reason = "unknown";
    switch (s->state) {
    case SVC_SESSION_LIVE:
    case SVC_SESSION_UNKNOWN:
        snprintf(msg, sizeof(msg),
                 "this console session is not known (it may have ended long "
                 "ago); sign in again");
        break;
    case SVC_SESSION_IDLE:
        reason = "idle";
        duration(s->idle_ms, d, sizeof(d));
        snprintf(msg, sizeof(msg),
                 "your session ended after %s without use; sign in again", d);
        break;
    case SVC_SESSION_EXPIRED:
        reason = "expired";
        duration(s->expires_ms - s->created_ms, d, sizeof(d));
        snprintf(msg, sizeof(msg),
                 "your session expired: sessions last at most %s; sign in "
                 "again",
                 d);
        break;
    case SVC_SESSION_SIGNED_OUT:
        reason = "signed-out";
        snprintf(msg, sizeof(msg),
                 "this session was signed out (in another tab or window); "
                 "sign in again");
        break;
    case SVC_SESSION_TOKEN_REVOKED:
        reason = "token-revoked";
        snprintf(msg, sizeof(msg),
                 "the token '%s' this session was opened with has been "
                 "revoked; sign in with another token",
                 s->token_name);
        break;
    case SVC_SESSION_TOKEN_EXPIRED:
        reason = "token-expired";
        snprintf(msg, sizeof(msg),
                 "the token '%s' this session was opened with has expired; "
                 "sign in with another token",
                 s->token_name);
        break;
    }
    set_cookie(a, r, "", 0);
    refuse(r, 401, reason, msg);
}

static const char *role_str(svc_role role)
{
    return role == SVC_ROLE_ADMIN    ? "admin"
           : role == SVC_ROLE_EDITOR ? "editor"
           : role == SVC_ROLE_VIEWER ? "viewer"
                                     : NULL;
}

static const char *kind_str(svc_token_kind k)
{
    return k == SVC_KIND_ADMIN    ? "admin"
           : k == SVC_KIND_CLIENT ? "client"
                                  : "frontend";
}

static json_t *time_json(int64_t ms)
{
    char buf[32], base[24];
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, sizeof(buf), "%s.%03dZ", base, (int)(ms % 1000));
    return json_string(buf);
}

/* Who is signed in: the token, and the session when there is one. */
static void answer_who(http_req *r, unsigned status, const svc_principal *who,
                       const svc_session *s)
{
    json_t *doc = json_pack("{ss ss? ss ss}", "tokenName", who->name, "role",
                            role_str(who->role), "type", kind_str(who->kind),
                            "via", s ? "session" : "token");
    if (doc && s) {
        json_object_set_new(doc, "csrfToken", json_string(s->csrf));
        json_object_set_new(doc, "session",
                            json_pack("{ss so so so sI}", "id", s->id,
                                      "createdAt", time_json(s->created_ms),
                                      "expiresAt", time_json(s->expires_ms),
                                      "lastSeenAt", time_json(s->last_seen_ms),
                                      "idleTimeoutSeconds",
                                      (json_int_t)(s->idle_ms / 1000)));
    }
    if (!doc) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    http_reply_json(r, status, doc);
    json_decref(doc);
}

/* Checks the request's session: true (and `*out` live) or answered. */
static bool check_session(session_api *a, http_req *r, svc_session *out)
{
    size_t len = 0;
    const char *secret = cookie_value(r, &len);
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st =
        svc_session_check(a->svc, secret ? secret : "", secret ? len : 0,
                          vx__wall_ms(), out, &err);
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return false;
    }
    if (out->state != SVC_SESSION_LIVE) {
        refuse_session(a, r, out);
        return false;
    }
    return true;
}

bool session_api_precheck(session_api *a, http_req *r)
{
    size_t len = 0;
    const char *secret = cookie_value(r, &len);
    if (!svc_session_well_formed(secret, len)) {
        svc_session none = {.state = SVC_SESSION_UNKNOWN};
        refuse_session(a, r, &none);
        return false;
    }
    if (safe_method(r))
        return true;
    if (!same_origin(r)) {
        refuse(r, 403, "origin",
               "this request comes from another site (its Origin is not "
               "this server): refused");
        return false;
    }
    if (!svc_session_csrf_ok(secret, len, http_req_header(r, CSRF_HEADER))) {
        refuse(r, 403, "csrf",
               "the console's CSRF token (" CSRF_HEADER
               ") is missing or belongs to another session: reload the "
               "page");
        return false;
    }
    return true;
}

bool session_api_confirm(session_api *a, http_req *r, svc_principal *who)
{
    svc_session s;
    if (!check_session(a, r, &s))
        return false;
    *who = s.who;
    return true;
}

/* ---- /api/admin/session
 * ------------------------------------------------------ */

void session_api_headers(session_api *a, http_req *r)
{
    (void)a;
    const char *m = http_req_method(r);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
        strcmp(m, "POST") != 0 && strcmp(m, "DELETE") != 0) {
        http_reply_header(r, "Allow", "GET, POST, DELETE");
        http_reply_problem(r, 405, "method not allowed", "", NULL);
        return;
    }
    sess_req *q = vx__arena_calloc(http_req_arena(r), 1, sizeof(*q));
    if (!q) {
        http_reply_error(r, VX_ENOMEM, NULL);
        return;
    }
    if (strcmp(m, "POST") == 0) {
        /* Signing in: the token, and the page it comes from. */
        q->token =
            sdk_api_bearer(http_req_header(r, "Authorization"), &q->token_len);
        if (!q->token) {
            refuse(r, 401, "missing",
                   "send the admin token in the Authorization header to sign "
                   "in");
            return;
        }
        if (!same_origin(r)) {
            refuse(r, 403, "origin",
                   "signing in from another site is refused (its Origin is "
                   "not this server)");
            return;
        }
    }
    http_req_set_udata(r, q);
}

static void sign_in(session_api *a, http_req *r, sess_req *q)
{
    char secret[SVC_SESSION_SECRET_MAX];
    svc_session s;
    vx_error err;
    memset(&err, 0, sizeof(err));
    size_t old_len = 0;
    const char *old = cookie_value(r, &old_len);
    int64_t now = vx__wall_ms();
    if (old) /* replaced: the previous session of this browser ends */
        (void)svc_session_close(a->svc, old, old_len, now, &err);
    vx_status st = svc_session_open(a->svc, q->token, q->token_len, a->idle_ms,
                                    a->max_ms, now, secret, &s, &err);
    if (st == VX_EAUTH) {
        refuse(r, 401, "token",
               "this token is not accepted: it is unknown, revoked or expired");
        return;
    }
    if (st != VX_OK) {
        http_reply_error(r, st, &err);
        return;
    }
    set_cookie(a, r, secret, (long long)(a->max_ms / 1000));
    answer_who(r, 201, &s.who, &s);
}

void session_api_request(session_api *a, http_req *r)
{
    sess_req *q = http_req_udata(r);
    const char *m = http_req_method(r);
    if (!q) {
        http_reply_error(r, VX_EIO, NULL); /* the headers step answers */
        return;
    }
    if (strcmp(m, "POST") == 0) {
        sign_in(a, r, q);
        return;
    }
    size_t alen = 0;
    const char *bearer =
        sdk_api_bearer(http_req_header(r, "Authorization"), &alen);
    if (strcmp(m, "DELETE") == 0) {
        size_t len = 0;
        const char *secret = cookie_value(r, &len);
        if (secret && !same_origin(r)) {
            refuse(r, 403, "origin",
                   "signing out from another site is refused (its Origin is "
                   "not this server)");
            return;
        }
        vx_error err;
        memset(&err, 0, sizeof(err));
        vx_status st =
            secret ? svc_session_close(a->svc, secret, len, vx__wall_ms(), &err)
                   : VX_OK;
        if (st != VX_OK) {
            http_reply_error(r, st, &err);
            return;
        }
        set_cookie(a, r, "", 0);
        http_reply_text(r, 200, "application/json", "{}", 2);
        return;
    }
    /* GET: who is signed in, by token or by session. */
    if (bearer) {
        svc_principal who;
        vx_error err;
        memset(&err, 0, sizeof(err));
        vx_status st = svc_authenticate(a->svc, bearer, alen, &who, &err);
        if (st != VX_OK) {
            bool keep =
                st == VX_EIO || st == VX_ENOMEM || st == VX_EUNAVAILABLE;
            http_reply_error(r, keep ? st : VX_EAUTH, &err);
            return;
        }
        answer_who(r, 200, &who, NULL);
        return;
    }
    if (!session_api_has_cookie(r)) {
        refuse(r, 401, "missing", "not signed in");
        return;
    }
    svc_session s;
    if (check_session(a, r, &s))
        answer_who(r, 200, &s.who, &s);
}
