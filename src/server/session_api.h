/* The web console's session over HTTP (docs/admin-api.md, "Console
 * sessions"): /api/admin/session exchanges an admin token for an HttpOnly,
 * SameSite=Strict cookie (Secure over HTTPS), tells who is signed in, and
 * signs out; every other /api/admin route accepts that cookie in place of
 * an Authorization header, with a CSRF token and an Origin check on unsafe
 * methods. The cookie's path is /api/admin and nothing outside the admin
 * API ever reads it, so a session cannot call the SDK endpoints. State
 * lives in the service (src/service/sessions.c); this file only
 * translates, and its object holds configuration only. */
#ifndef VX_SERVER_SESSION_API_H
#define VX_SERVER_SESSION_API_H

#include <stdbool.h>

#include "server/http.h"
#include "service/service.h"

typedef enum session_secure {
    SESSION_SECURE_AUTO, /* Secure when the request came over HTTPS as far
                            as the server can tell: X-Forwarded-Proto or
                            Forwarded proto=https, or an https Origin */
    SESSION_SECURE_ON,   /* always Secure */
    SESSION_SECURE_OFF,  /* never (plain-HTTP test setups) */
} session_secure;

typedef struct session_api_config {
    unsigned idle_secs;    /* idle timeout; 0 = SESSION_IDLE_DEFAULT_SECS */
    unsigned max_secs;     /* lifetime; 0 = SESSION_MAX_DEFAULT_SECS */
    session_secure secure; /* the cookie's Secure attribute */
} session_api_config;

#define SESSION_IDLE_DEFAULT_SECS (12u * 3600)      /* 12 hours */
#define SESSION_MAX_DEFAULT_SECS  (7u * 24 * 3600)  /* 7 days */
#define SESSION_SECS_MAX          (90u * 24 * 3600) /* either, at most */

typedef struct session_api session_api;

/* `svc` is borrowed. Errors: VX_EINVAL (a timeout outside 1 s .. 90 days:
 * err->path names it, "/session-idle-secs"), VX_ENOMEM. */
vx_status session_api_new(service *svc, const session_api_config *cfg,
                          session_api **out, vx_error *err);
void session_api_free(session_api **a); /* accepts NULL */

/* True for /api/admin/session. */
bool session_api_owns(const http_req *r);

/* The headers step of /api/admin/session: the method (else 405), and for
 * POST the token in Authorization and the Origin; answers on failure. */
void session_api_headers(session_api *a, http_req *r);

/* The request step of /api/admin/session: POST signs in, GET says who is
 * signed in, DELETE signs out. Always answers. Reads and writes the
 * database: call it on a database thread (dbpool.h). */
void session_api_request(session_api *a, http_req *r);

/* True when the request carries a console session cookie. */
bool session_api_has_cookie(const http_req *r);

/* The headers step of an admin request that carries a session cookie (and
 * no Authorization): what needs no database. True when the request may go
 * on, its session still to be confirmed by session_api_confirm on a
 * database thread; false when answered: 401 for a cookie that is no
 * session secret at all (clearing it), 403 for a missing or foreign CSRF
 * token or a foreign Origin on an unsafe method. Never reads the
 * database, so it is safe on a serving thread. */
bool session_api_precheck(session_api *a, http_req *r);

/* Confirms the request's session against the database and fills `who`;
 * else answers (401 with the reason the session ended and a cookie that
 * clears it; 503 while the database does not answer) and returns false.
 * Reads the database and may write it (the last use): call it on a
 * database thread (dbpool.h), never on a serving thread. */
bool session_api_confirm(session_api *a, http_req *r, svc_principal *who);

#endif
