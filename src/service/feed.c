/* The console's change feed: what the admin event stream
 * (src/server/events_api.c, docs/admin-api.md "Live updates") sends comes
 * from here, one read per poll: the newest audit events, briefly (id,
 * type, names, time and actor, never their data), and the scheduler's
 * lease, whose renewal says that the guard has looked at the plans.
 *
 * Invariant: read-only, one unit of work of the service (so bounded like
 * every call); nothing is written, no audit event, no commit hook. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "service/internal.h"

static const svc_principal FEED = {.kind = SVC_KIND_ADMIN,
                                   .role = SVC_ROLE_ADMIN,
                                   .name = "feed",
                                   .environment = "*",
                                   .projects = "*"};

typedef struct feed_arg {
    int64_t since; /* events after this id are new */
    size_t max;    /* at most this many events read */
    size_t slack;  /* and this many before `since` (late commits) */
    svc_feed *out; /* filled */
} feed_arg;

/* One brief event as the feed carries it, or NULL (out of memory). */
static json_t *brief(const json_t *ev)
{
    return json_pack(
        "{sO sO sO sO sO so sO}", "id", json_object_get(ev, "id"), "type",
        json_object_get(ev, "type"), "project", json_object_get(ev, "project"),
        "environment", json_object_get(ev, "environment"), "feature",
        json_object_get(ev, "featureName"), "createdAt",
        svc__time_json(json_integer_value(json_object_get(ev, "createdAtMs"))),
        "createdBy", json_object_get(ev, "createdBy"));
}

static vx_status feed_unit(svc_ctx *c, void *ud)
{
    feed_arg *a = ud;
    svc_feed *o = a->out;
    json_t *page = NULL, *lease = NULL;
    int64_t total = 0;
    vx_status st = c->s->ops->event_last_id(c->s->st, &o->revision, c->err);
    if (st == VX_OK && o->revision > 0 && o->revision != a->since) {
        /* Newest first: the events after `since` and `slack` before it
         * (a transaction that took its id earlier may commit later). */
        int64_t want = a->since < 0
                           ? (int64_t)a->slack
                           : o->revision - a->since + (int64_t)a->slack;
        if (want > (int64_t)a->max)
            want = (int64_t)a->max;
        if (want < 1)
            want = 1;
        store_event_filter f = {.limit = want, .brief = true};
        st = c->s->ops->event_query(c->s->st, &f, &page, &total, c->err);
        if (st == VX_OK && a->since >= 0 &&
            json_array_size(page) == (size_t)want) {
            /* a full page that does not reach back to `since` may have
             * left events out */
            int64_t oldest = json_integer_value(json_object_get(
                json_array_get(page, json_array_size(page) - 1), "id"));
            o->gap = oldest > a->since + 1;
        }
    }
    if (st == VX_OK) {
        st = svc__get(c, STORE_LEASE, "scheduler", &lease);
        if (st == VX_ENOTFOUND)
            st = VX_OK;
    }
    if (st != VX_OK)
        goto out;
    o->events = json_array();
    for (size_t i = json_array_size(page); o->events && i-- > 0;) {
        json_t *b = brief(json_array_get(page, i)); /* oldest first */
        if (!b || json_array_append_new(o->events, b) != 0) {
            st = VX_ENOMEM;
            break;
        }
    }
    if (!o->events)
        st = VX_ENOMEM;
    if (st == VX_OK && lease) {
        o->lease_owner[0] = '\0';
        const char *owner = json_string_value(json_object_get(lease, "owner"));
        if (owner)
            snprintf(o->lease_owner, sizeof(o->lease_owner), "%s", owner);
        o->lease_renewed_ms =
            json_integer_value(json_object_get(lease, "renewedMs"));
    }
out:
    json_decref(page);
    json_decref(lease);
    return st;
}

vx_status svc_feed_read(service *s, int64_t since, size_t max, size_t slack,
                        svc_feed *out, vx_error *err)
{
    memset(out, 0, sizeof(*out));
    feed_arg a = {since, max ? max : 1, slack, out};
    vx_status st =
        svc__run(s, &FEED, NULL, vx__wall_ms(), 0, err, feed_unit, &a);
    if (st != VX_OK)
        svc_feed_release(out);
    return st;
}

void svc_feed_release(svc_feed *f)
{
    if (!f)
        return;
    json_decref(f->events);
    f->events = NULL;
}
