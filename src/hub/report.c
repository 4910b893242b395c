/* What the SDK hub sets aside, per environment: a flag (or segment) that
 * libvexil refuses is left out of its environment's state (state.c); this
 * file keeps each environment's list as hub_report shows it, logs one line
 * when a flag is set aside and one when it is served again, and checks the
 * environments no SDK has loaded (their changed flags, one by one). */
#include "hub/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"

json_t *hub__aside_json(const hub_state *s)
{
    json_t *flags = json_array(), *segs = json_array();
    for (size_t i = 0; flags && segs && i < hub_state_aside_count(s); i++) {
        const hub_aside *a = hub_state_aside(s, i);
        if (a->flag)
            json_array_append_new(
                flags, json_pack("{ss ss ss ss}", "name", a->flag, "project",
                                 a->project ? a->project : "", "path", a->path,
                                 "message", a->message));
        else
            json_array_append_new(
                segs, json_pack("{sI ss ss}", "id", (json_int_t)a->segment,
                                "path", a->path, "message", a->message));
    }
    return json_pack("{so so}", "flags", flags ? flags : json_array(),
                     "segments", segs ? segs : json_array());
}

/* The entry of `list` with "name" (or "id") equal to that of `e`, or
 * NULL. */
static const json_t *entry_in(const json_t *list, const json_t *e,
                              const char *key)
{
    size_t i;
    const json_t *x;
    json_array_foreach (list, i, x) {
        if (json_equal(json_object_get(x, key), json_object_get(e, key)))
            return x;
    }
    return NULL;
}

/* Logs what `now` sets aside that `was` did not, and the reverse. */
static void log_changes(hub *h, const char *env, const json_t *was,
                        const json_t *now)
{
    static const char *const kinds[2] = {"flags", "segments"};
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "id" : "name";
        const json_t *a = json_object_get(now, kinds[k]);
        const json_t *b = json_object_get(was, kinds[k]);
        size_t i;
        const json_t *e;
        json_array_foreach (a, i, e) {
            const json_t *old = entry_in(b, e, key);
            if (old && json_equal(old, e))
                continue;
            const char *path = json_string_value(json_object_get(e, "path"));
            char what[160];
            if (k)
                snprintf(
                    what, sizeof(what), "segment %lld",
                    (long long)json_integer_value(json_object_get(e, "id")));
            else
                snprintf(what, sizeof(what), "flag '%.100s' (project '%.40s')",
                         json_string_value(json_object_get(e, "name")),
                         json_string_value(json_object_get(e, "project")));
            vx__logf(h->log, h->log_ud, "warn",
                     "sdk: environment '%s': %s is set aside, libvexil "
                     "refuses it%s%s: %s",
                     env, what, path && *path ? " at " : "", path ? path : "",
                     json_string_value(json_object_get(e, "message")));
        }
        json_array_foreach (b, i, e) {
            if (entry_in(a, e, key))
                continue;
            if (k)
                vx__logf(
                    h->log, h->log_ud, "info",
                    "sdk: environment '%s': segment %lld is served again", env,
                    (long long)json_integer_value(json_object_get(e, "id")));
            else
                vx__logf(h->log, h->log_ud, "info",
                         "sdk: environment '%s': flag '%s' is served again",
                         env, json_string_value(json_object_get(e, "name")));
        }
    }
}

void hub__aside_note(hub *h, env_slot *e, json_t *now)
{
    if (!now)
        return; /* out of memory: keep the last list */
    log_changes(h, e->name, e->aside, now);
    json_decref(e->aside);
    e->aside = now;
}

/* Whether the strategies of client feature `cf` name segment `id`. */
static bool names_segment(const json_t *cf, json_int_t id)
{
    size_t i, k;
    const json_t *st, *sid;
    json_array_foreach (json_object_get(cf, "strategies"), i, st) {
        json_array_foreach (json_object_get(st, "segments"), k, sid) {
            if (json_integer_value(sid) == id)
                return true;
        }
    }
    return false;
}

void hub__aside_flags(hub *h, env_slot *e, const json_t *flags)
{
    if (!e->aside || !json_object_size(flags))
        return; /* never checked: the next whole check covers it */
    json_t *now = json_deep_copy(e->aside);
    json_t *list = json_object_get(now, "flags");
    const json_t *segs = json_object_get(now, "segments");
    const char *name;
    const json_t *cf;
    json_object_foreach ((json_t *)flags, name, cf) {
        for (size_t i = json_array_size(list); i-- > 0;) {
            const char *n = json_string_value(
                json_object_get(json_array_get(list, i), "name"));
            if (n && strcmp(n, name) == 0)
                json_array_remove(list, i);
        }
        if (!json_is_object(cf))
            continue;
        vx_error err;
        memset(&err, 0, sizeof(err));
        const char *project = json_string_value(json_object_get(cf, "project"));
        size_t i;
        const json_t *g;
        json_array_foreach (segs, i, g) {
            json_int_t id = json_integer_value(json_object_get(g, "id"));
            if (names_segment(cf, id)) {
                snprintf(err.message, sizeof(err.message),
                         "it uses segment %lld, set aside: %s", (long long)id,
                         json_string_value(json_object_get(g, "message")));
                break;
            }
        }
        char *text = err.message[0] ? NULL : json_dumps(cf, JSON_COMPACT);
        vx_status st = err.message[0] ? VX_EINVAL
                       : text
                           ? hub__compile_alone(text, strlen(text), false, &err)
                           : VX_ENOMEM;
        free(text);
        if (st != VX_OK && st != VX_ENOMEM)
            json_array_append_new(
                list, json_pack("{ss ss ss ss}", "name", name, "project",
                                project ? project : "", "path", err.path,
                                "message", err.message));
    }
    hub__aside_note(h, e, now);
}

json_t *hub_report(hub *h)
{
    json_t *envs = json_array();
    json_int_t total = 0;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; envs && i < h->nenvs; i++) {
        const env_slot *e = &h->envs[i];
        json_t *flags = json_object_get(e->aside, "flags");
        json_t *segs = json_object_get(e->aside, "segments");
        json_t *one = json_pack(
            "{ss sb so so}", "name", e->name, "loaded", e->cur != NULL,
            "flagsSetAside", flags ? json_deep_copy(flags) : json_array(),
            "segmentsSetAside", segs ? json_deep_copy(segs) : json_array());
        if (one && e->cur)
            json_object_set_new(one, "revision",
                                json_integer(e->cur->revision));
        json_array_append_new(envs, one);
        total += (json_int_t)json_array_size(flags);
    }
    pthread_mutex_unlock(&h->mu);
    return envs ? json_pack("{sI so}", "flagsSetAside", total, "environments",
                            envs)
                : NULL;
}
