/* Console sessions: an admin token exchanged once for a session secret that
 * the web console keeps in an HttpOnly cookie (src/server/session_api.c).
 * A session lives in the database, keyed by the SHA-256 of its secret (as
 * tokens are), so every replica on the database can check it and a
 * sign-out on one is seen by all. It ends when it is idle too long, past
 * its absolute lifetime, signed out, or when its token is revoked or
 * expires; a check says which.
 *
 * Thread-safety: as the rest of the service (its mutex); call from any
 * thread. `now_ms` is the caller's wall clock (ms since the epoch). */
#ifndef VX_SERVICE_SESSIONS_H
#define VX_SERVICE_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service/service.h"

/* "vxs1." and 64 hex digits (256 random bits), NUL included. */
#define SVC_SESSION_SECRET_MAX 72
#define SVC_SESSION_CSRF_MAX   65 /* 64 hex digits and NUL */

/* What a session check found. */
typedef enum svc_session_state {
    SVC_SESSION_LIVE,          /* good: `who` is its token's principal */
    SVC_SESSION_UNKNOWN,       /* no such session (malformed, never opened
                                  here, or forgotten after its lifetime) */
    SVC_SESSION_IDLE,          /* unused for longer than its idle timeout */
    SVC_SESSION_EXPIRED,       /* past its absolute lifetime */
    SVC_SESSION_SIGNED_OUT,    /* ended by a sign-out */
    SVC_SESSION_TOKEN_REVOKED, /* its token was revoked */
    SVC_SESSION_TOKEN_EXPIRED, /* its token expired */
} svc_session_state;

/* One session as a check or an open sees it. Plain data. */
typedef struct svc_session {
    svc_session_state state;         /* see above */
    svc_principal who;               /* LIVE: its token, as svc_authenticate */
    char id[40];                     /* public id (a UUID), "" when unknown */
    char token_name[128];            /* the token's name, "" when unknown */
    char csrf[SVC_SESSION_CSRF_MAX]; /* the token unsafe methods must echo */
    int64_t created_ms;              /* when it was opened */
    int64_t last_seen_ms;            /* last use recorded (to the minute) */
    int64_t expires_ms;              /* absolute end */
    int64_t idle_ms;                 /* idle timeout */
    int64_t ended_ms;                /* when it was signed out, else 0 */
} svc_session;

/* Opens a session for the admin token `token[0..len)` lasting at most
 * `max_ms` and ending after `idle_ms` without use; writes its secret (for
 * the cookie, never stored) to `secret` and its facts to `*out`. Drops the
 * token's sessions past their lifetime, and its oldest live ones beyond
 * VX_LIMIT_SESSIONS_PER_TOKEN. Errors: VX_EAUTH (token unknown, revoked or
 * expired), VX_EFORBIDDEN (not an admin token), VX_EINVAL (a timeout out
 * of range), VX_EIO/VX_EUNAVAILABLE (database). No audit event: a session
 * changes nothing an SDK or the audit log shows. */
vx_status svc_session_open(service *s, const char *token, size_t len,
                           int64_t idle_ms, int64_t max_ms, int64_t now_ms,
                           char secret[SVC_SESSION_SECRET_MAX],
                           svc_session *out, vx_error *err);

/* Checks the session whose secret is `secret[0..len)`: VX_OK with
 * out->state saying whether it is live and, if not, why. A live session's
 * last use is recorded when the recorded one is older than a quarter of
 * its idle timeout (at most a minute), so checks rarely write. Errors only
 * for the database (VX_EIO, VX_EUNAVAILABLE). */
vx_status svc_session_check(service *s, const char *secret, size_t len,
                            int64_t now_ms, svc_session *out, vx_error *err);

/* Signs the session out (later checks say SVC_SESSION_SIGNED_OUT). An
 * unknown or already ended session is not an error. */
vx_status svc_session_close(service *s, const char *secret, size_t len,
                            int64_t now_ms, vx_error *err);

/* True when `secret[0..len)` has the shape of a session secret ("vxs1."
 * and 64 lowercase hex digits): anything else is no session, which a
 * check answers SVC_SESSION_UNKNOWN without the database. */
bool svc_session_well_formed(const char *secret, size_t len);

/* The CSRF token of a session: derived from its secret (hex SHA-256 of a
 * domain-separated copy), so any replica computes it and it reveals
 * nothing of the secret. */
void svc_session_csrf(const char *secret, size_t len,
                      char out[SVC_SESSION_CSRF_MAX]);

/* True when `given` (NUL-terminated, may be NULL) is the session's CSRF
 * token; compared in constant time. */
bool svc_session_csrf_ok(const char *secret, size_t len, const char *given);

#endif
