/* The database's health as the service sees it: what /ready reports and
 * what lets calls fail fast during an outage. Every store failure with
 * VX_EUNAVAILABLE marks the database down with its reason (logged once per
 * change); a committed write or a passing check marks it up. A failure
 * that cost its caller a long wait (a timeout, a reconnection that does
 * not finish) also makes the next VX_LIMIT_DB_RETRY_MS of calls fail at
 * once with the same reason, then one call tries again: work queued
 * behind a dead database does not pay the same wait one by one.
 *
 * Invariant: health is read and written only under health_mu, never with
 * a wait for the database inside. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"
#include "service/internal.h"

void svc__health_init(service *s)
{
    pthread_mutex_init(&s->health_mu, NULL);
    memset(&s->health, 0, sizeof(s->health));
    s->health.ok = true;
    s->health.since_ms = vx__wall_ms();
    atomic_init(&s->fast_fail_until, 0);
}

void svc__health_release(service *s)
{
    pthread_mutex_destroy(&s->health_mu);
}

/* Records `ok` (with `reason` when not) and logs a change of state. */
static void record(service *s, bool ok, const char *reason, bool checked)
{
    char line[VX_ERROR_MSG_MAX + 64];
    line[0] = '\0';
    pthread_mutex_lock(&s->health_mu);
    /* The log says when the state flips; the reason is kept current. */
    bool changed = ok != s->health.ok;
    if (changed) {
        if (ok)
            snprintf(line, sizeof(line),
                     "the database is back: writes and admin requests are "
                     "served again");
        else
            snprintf(line, sizeof(line),
                     "%s; SDKs are served from memory, writes answer 503 "
                     "until it is back",
                     reason);
        s->health.ok = ok;
        s->health.since_ms = vx__wall_ms();
    }
    snprintf(s->health.reason, sizeof(s->health.reason), "%s",
             ok ? "" : reason);
    if (checked)
        s->health.checked_ms = vx__wall_ms();
    pthread_mutex_unlock(&s->health_mu);
    if (changed)
        vx__logf(s->log, s->log_ud, ok ? "info" : "error", "%s", line);
}

void svc__db_outcome(service *s, vx_status st, const vx_error *err,
                     int64_t spent_ms)
{
    if (st != VX_EUNAVAILABLE)
        return;
    record(s, false,
           err && err->message[0] ? err->message
                                  : "the database is unavailable",
           false);
    if (spent_ms >= VX_LIMIT_DB_RECONNECT_STEP_MS)
        atomic_store(&s->fast_fail_until, vx__mono_ms() + VX_LIMIT_DB_RETRY_MS);
}

void svc__db_up(service *s)
{
    atomic_store(&s->fast_fail_until, 0);
    pthread_mutex_lock(&s->health_mu);
    bool ok = s->health.ok;
    pthread_mutex_unlock(&s->health_mu);
    if (!ok)
        record(s, true, "", false);
}

vx_status svc__db_gate(service *s, vx_error *err)
{
    int64_t until = atomic_load(&s->fast_fail_until);
    if (until == 0 || vx__mono_ms() >= until)
        return VX_OK;
    pthread_mutex_lock(&s->health_mu);
    vx__error_set(err, VX_EUNAVAILABLE, "", "%s",
                  s->health.reason[0] ? s->health.reason
                                      : "the database is unavailable");
    pthread_mutex_unlock(&s->health_mu);
    return VX_EUNAVAILABLE;
}

void svc_health_get(service *s, svc_health *out)
{
    pthread_mutex_lock(&s->health_mu);
    *out = s->health;
    pthread_mutex_unlock(&s->health_mu);
}

vx_status svc_ready(service *s)
{
    svc_health h;
    svc_health_get(s, &h);
    return h.ok ? VX_OK : VX_EUNAVAILABLE;
}

vx_status svc_probe(service *s, vx_error *err)
{
    struct timespec until =
        vx__deadline(CLOCK_REALTIME, VX_LIMIT_DB_PROBE_WAIT_MS);
    if (pthread_mutex_timedlock(&s->mu, &until) != 0) {
        /* Other work holds the database; its own outcome (bounded by the
         * call bound) is recorded when it ends. */
        svc_health h;
        svc_health_get(s, &h);
        if (h.ok)
            return VX_OK;
        return vx__error_set(err, VX_EUNAVAILABLE, "", "%s", h.reason);
    }
    /* A check that answers slowly says enough: a shorter bound than the
     * calls', so /ready turns 503 within a few seconds of a freeze. */
    int bound = s->db_timeout_ms + VX_LIMIT_DB_DEADLINE_SLACK_MS;
    if (bound > VX_LIMIT_DB_PROBE_CALL_MS)
        bound = VX_LIMIT_DB_PROBE_CALL_MS;
    if (s->ops->set_call_timeout)
        s->ops->set_call_timeout(s->st, bound);
    int64_t t0 = vx__mono_ms();
    vx_status st = s->ops->health(s->st, err);
    if (s->ops->set_call_timeout)
        s->ops->set_call_timeout(s->st, 0);
    pthread_mutex_unlock(&s->mu);
    if (st == VX_OK) {
        atomic_store(&s->fast_fail_until, 0);
        record(s, true, "", true);
    } else {
        char reason[VX_ERROR_MSG_MAX];
        snprintf(reason, sizeof(reason), "%s",
                 err && err->message[0] ? err->message
                                        : "the database does not answer");
        record(s, false, reason, true);
        if (st == VX_EUNAVAILABLE &&
            vx__mono_ms() - t0 >= VX_LIMIT_DB_RECONNECT_STEP_MS)
            atomic_store(&s->fast_fail_until,
                         vx__mono_ms() + VX_LIMIT_DB_RETRY_MS);
    }
    return st;
}
