/* The one gate for flag data: what the service stores must be something
 * libvexil loads, in every form SDKs are served it. Two layers:
 *
 *  - limit checks with request paths, reading the flag-data table of
 *    base/limits.h that the engine's loader reads too (svc__gate_count,
 *    svc__gate_array, svc__gate_inlined, svc__gate_room), called by the
 *    validation of each write;
 *  - a last line of defence before a write is committed: the flag (or every
 *    flag using a segment) is compiled with libvexil exactly as the SDK
 *    state compiles it (the client document, and the form with segments
 *    inlined for SDKs older than client spec 4.2.0), and the write is
 *    refused when it would not load (svc__gate_feature, svc__gate_segment).
 *
 * Invariant: a write refused here leaves nothing behind (the caller's
 * transaction is rolled back). Data that was already unloadable before the
 * write (a database from an older version) does not block writes to it:
 * only a write that turns loadable data into unloadable data is refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "service/internal.h"
#include "vexil/vexil.h"

/* ---- limit checks ---------------------------------------------------------
 */

vx_status svc__gate_count(svc_ctx *c, const char *path, vx_flag_limit id,
                          size_t n)
{
    if (n <= vx__limit_value(id))
        return VX_OK;
    char msg[VX_ERROR_MSG_MAX];
    vx__limit_message(msg, sizeof(msg), id, n);
    return svc__fail(c, VX_ELIMIT, path, "%s", msg);
}

vx_status svc__gate_array(svc_ctx *c, const json_t *v, const char *path,
                          vx_flag_limit id)
{
    vx_status st = svc__expect_array(c, v, path, SIZE_MAX);
    return st == VX_OK ? svc__gate_count(c, path, id, json_array_size(v)) : st;
}

vx_status svc__gate_room(svc_ctx *c, store_kind k, const char *path)
{
    int64_t all = 0, archived = 0;
    vx_status st = c->s->ops->doc_count(c->s->st, k, &all, c->err);
    if (st == VX_OK && k == STORE_FEATURE)
        st = c->s->ops->doc_count_true(c->s->st, k, "archived", &archived,
                                       c->err);
    if (st != VX_OK)
        return st;
    /* One more: the flag (or segment) this write adds. Archived flags are
     * not served and do not count. */
    size_t n = (size_t)(all - archived) + 1;
    return svc__gate_count(
        c, path, k == STORE_FEATURE ? VX_FL_FLAGS : VX_FL_SEGMENTS, n);
}

/* The constraints of segment `id` as stored (borrowed from `cache`, a JSON
 * object id -> constraints filled on first use), or NULL when there is no
 * such segment. `over`, when not NULL, stands for segment `over_id`. */
static vx_status seg_constraints(svc_ctx *c, json_t *cache, json_int_t id,
                                 json_int_t over_id, const json_t *over,
                                 const json_t **out)
{
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)id);
    *out = NULL;
    if (over && id == over_id) {
        *out = json_object_get(over, "constraints");
        return VX_OK;
    }
    json_t *hit = json_object_get(cache, key);
    if (hit) {
        *out = json_is_null(hit) ? NULL : json_object_get(hit, "constraints");
        return VX_OK;
    }
    json_t *seg = NULL;
    vx_status st = svc__get(c, STORE_SEGMENT, key, &seg);
    if (st == VX_ENOTFOUND) {
        json_object_set_new(cache, key, json_null());
        return VX_OK;
    }
    if (st != VX_OK)
        return st;
    json_object_set_new(cache, key, seg);
    *out = json_object_get(seg, "constraints");
    return VX_OK;
}

/* Constraints of one strategy once its segments are inlined. */
static vx_status inlined_count(svc_ctx *c, json_t *cache,
                               const json_t *constraints,
                               const json_t *segments, json_int_t over_id,
                               const json_t *over, size_t *n)
{
    *n = json_array_size(constraints);
    size_t i;
    const json_t *id;
    json_array_foreach (segments, i, id) {
        const json_t *cs = NULL;
        vx_status st = seg_constraints(c, cache, json_integer_value(id),
                                       over_id, over, &cs);
        if (st != VX_OK)
            return st;
        *n += json_array_size(cs);
    }
    return VX_OK;
}

vx_status svc__gate_inlined(svc_ctx *c, const json_t *constraints,
                            const json_t *segments, const char *path)
{
    json_t *cache = json_object();
    size_t n = 0;
    vx_status st =
        cache ? inlined_count(c, cache, constraints, segments, 0, NULL, &n)
              : svc__fail(c, VX_ENOMEM, "", "out of memory");
    json_decref(cache);
    return st == VX_OK ? svc__gate_count(c, path, VX_FL_CONSTRAINTS, n) : st;
}

/* ---- compiling as the SDK state does --------------------------------------
 */

/* Why a flag does not load: the environment, the loader's error. */
typedef struct refusal {
    char env[128]; /* environment name */
    bool inlined;  /* in the form with segments inlined */
    vx_error load; /* the loader's error (path into the document) */
} refusal;

/* Loads `doc` (a client features document) with libvexil. */
static vx_status try_load(svc_ctx *c, const json_t *doc, bool *ok,
                          vx_error *why)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    if (!text)
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    vx_snapshot *snap = NULL;
    memset(why, 0, sizeof(*why));
    vx_status st = vx_snapshot_load(text, strlen(text), NULL, &snap, why);
    free(text);
    vx_snapshot_unref(snap);
    if (st == VX_ENOMEM)
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    *ok = st == VX_OK;
    return VX_OK;
}

/* Checks client flag `cf` of environment `env` in both forms: with the
 * segments it uses beside it, and with them inlined. */
static vx_status check_client(svc_ctx *c, json_t *cache, const json_t *cf,
                              const char *env, json_int_t over_id,
                              const json_t *over, bool *ok, refusal *why)
{
    json_t *segs = json_array(), *inl = json_deep_copy(cf);
    json_t *seen = json_object();
    vx_status st = segs && inl && seen
                       ? VX_OK
                       : svc__fail(c, VX_ENOMEM, "", "out of memory");
    size_t i, j;
    json_t *s, *id;
    json_array_foreach (json_object_get(inl, "strategies"), i, s) {
        json_t *cs = json_object_get(s, "constraints");
        json_array_foreach (json_object_get(s, "segments"), j, id) {
            const json_t *sc = NULL;
            if (st == VX_OK)
                st = seg_constraints(c, cache, json_integer_value(id), over_id,
                                     over, &sc);
            if (st != VX_OK || !sc)
                continue; /* no such segment: SDKs skip it too */
            if (json_is_array(cs))
                json_array_extend(cs, (json_t *)sc);
            char key[32];
            snprintf(key, sizeof(key), "%lld",
                     (long long)json_integer_value(id));
            if (!json_object_get(seen, key)) {
                json_object_set_new(seen, key, json_true());
                json_array_append_new(segs, json_pack("{sO ss sO}", "id", id,
                                                      "name", "", "constraints",
                                                      (json_t *)sc));
            }
        }
        json_object_del(s, "segments");
    }
    json_t *plain = NULL, *flat = NULL;
    if (st == VX_OK) {
        plain = json_pack("{si s[O] sO}", "version", 2, "features", cf,
                          "segments", segs);
        flat = json_pack("{si s[O] s[]}", "version", 2, "features", inl,
                         "segments");
        if (!plain || !flat)
            st = svc__fail(c, VX_ENOMEM, "", "out of memory");
    }
    *ok = true;
    if (st == VX_OK)
        st = try_load(c, plain, ok, &why->load);
    /* Without segments both forms are the same text. */
    if (st == VX_OK && *ok && json_object_size(seen) > 0) {
        st = try_load(c, flat, ok, &why->load);
        why->inlined = true;
    }
    if (!*ok)
        snprintf(why->env, sizeof(why->env), "%s", env);
    json_decref(plain);
    json_decref(flat);
    json_decref(segs);
    json_decref(inl);
    json_decref(seen);
    return st;
}

/* Checks stored flag `f` (a feature document) in each of its environments;
 * `*ok` false with `why` filled at the first one that does not load. */
static vx_status check_flag(svc_ctx *c, json_t *cache, const json_t *f,
                            json_int_t over_id, const json_t *over, bool *ok,
                            refusal *why)
{
    *ok = true;
    if (json_is_true(json_object_get(f, "archived")))
        return VX_OK; /* not served */
    vx_status st = VX_OK;
    size_t i;
    const json_t *e;
    json_array_foreach (json_object_get(f, "environments"), i, e) {
        const char *env = json_string_value(json_object_get(e, "name"));
        if (!env)
            continue; /* names no environment: never served */
        json_t *cf = svc__client_feature(f, env, 0);
        if (!cf) {
            /* Not archived, yet no client form: the hub would drop it. */
            *ok = false;
            snprintf(why->env, sizeof(why->env), "%s", env);
            vx__error_set(&why->load, VX_ESCHEMA, "",
                          "the flag has no valid state in this environment");
            return VX_OK;
        }
        st = check_client(c, cache, cf, env, over_id, over, ok, why);
        json_decref(cf);
        if (st != VX_OK || !*ok)
            break;
    }
    return st;
}

/* The refusal of a write, at the request's root. */
static vx_status refuse(svc_ctx *c, const char *flag, const refusal *why)
{
    const char *at = why->load.path;
    return svc__fail(
        c, why->load.code == VX_ELIMIT ? VX_ELIMIT : VX_EINVAL, "",
        "SDKs could not load flag '%.100s' in %.60s%s: %s%s%.80s%s", flag,
        why->env, why->inlined ? " (segments inlined)" : "", why->load.message,
        *at ? " (at " : "", at, *at ? ")" : "");
}

/* Flag `f` loads; when `lenient`, a flag whose stored version does not
 * load either is let through (the write does not make things worse). */
static vx_status gate_flag(svc_ctx *c, const json_t *f, bool lenient)
{
    const char *name = json_string_value(json_object_get(f, "name"));
    json_t *cache = json_object(), *old = NULL;
    refusal why;
    memset(&why, 0, sizeof(why));
    bool ok = true;
    vx_status st = cache ? check_flag(c, cache, f, 0, NULL, &ok, &why)
                         : svc__fail(c, VX_ENOMEM, "", "out of memory");
    if (st == VX_OK && !ok && !lenient)
        st = refuse(c, name ? name : "", &why);
    if (st == VX_OK && !ok) {
        /* Refused unless the stored flag did not load either. */
        st = svc__get(c, STORE_FEATURE, name ? name : "", &old);
        bool old_ok = true;
        refusal ignored;
        memset(&ignored, 0, sizeof(ignored));
        if (st == VX_ENOTFOUND)
            st = VX_OK;
        else if (st == VX_OK)
            st = check_flag(c, cache, old, 0, NULL, &old_ok, &ignored);
        if (st == VX_OK && old_ok)
            st = refuse(c, name ? name : "", &why);
    }
    json_decref(old);
    json_decref(cache);
    return st;
}

vx_status svc__gate_feature(svc_ctx *c, const json_t *f)
{
    return gate_flag(c, f, true);
}

/* True when a strategy of live flag `f` uses segment `id`. */
static bool uses_segment(const json_t *f, json_int_t id)
{
    size_t i, j, k;
    const json_t *e, *s, *ref;
    if (json_is_true(json_object_get(f, "archived")))
        return false;
    json_array_foreach (json_object_get(f, "environments"), i, e) {
        json_array_foreach (json_object_get(e, "strategies"), j, s) {
            json_array_foreach (json_object_get(s, "segments"), k, ref) {
                if (json_integer_value(ref) == id)
                    return true;
            }
        }
    }
    return false;
}

/* The segment alone, as every environment's document carries it. */
static vx_status check_segment_alone(svc_ctx *c, const json_t *seg, bool *ok,
                                     vx_error *why)
{
    json_t *doc =
        json_pack("{si s[] s[{sO ss sO}]}", "version", 2, "features",
                  "segments", "id", json_object_get(seg, "id"), "name", "",
                  "constraints", json_object_get(seg, "constraints"));
    vx_status st = doc ? try_load(c, doc, ok, why)
                       : svc__fail(c, VX_ENOMEM, "", "out of memory");
    json_decref(doc);
    return st;
}

vx_status svc__gate_segment(svc_ctx *c, const json_t *seg, const json_t *pre,
                            const char *path)
{
    json_int_t id = json_integer_value(json_object_get(seg, "id"));
    json_t *flags = NULL, *cache = json_object(), *old_cache = json_object();
    bool ok = true, old_ok = true;
    vx_error why;
    memset(&why, 0, sizeof(why));
    vx_status st = cache && old_cache
                       ? check_segment_alone(c, seg, &ok, &why)
                       : svc__fail(c, VX_ENOMEM, "", "out of memory");
    if (st == VX_OK && !ok && pre) {
        vx_error ignored;
        st = check_segment_alone(c, pre, &old_ok, &ignored);
    }
    if (st == VX_OK && !ok && old_ok) {
        st = svc__fail(c, why.code == VX_ELIMIT ? VX_ELIMIT : VX_EINVAL, path,
                       "SDKs could not load segment %lld: %s (at %.80s)",
                       (long long)id, why.message, why.path);
        goto out;
    }
    /* A new segment is used by no flag yet (strategies name existing
     * segments only). */
    if (st == VX_OK && pre)
        st = svc__list(c, STORE_FEATURE, NULL, &flags);
    size_t i;
    json_t *f;
    json_array_foreach (flags, i, f) {
        if (st != VX_OK)
            break;
        if (!uses_segment(f, id))
            continue;
        const char *name = json_string_value(json_object_get(f, "name"));
        refusal r;
        memset(&r, 0, sizeof(r));
        /* The counts first, for a message that names the limit. */
        size_t j, k;
        json_t *e, *s;
        json_array_foreach (json_object_get(f, "environments"), j, e) {
            json_array_foreach (json_object_get(e, "strategies"), k, s) {
                size_t n = 0, was = 0;
                if (json_is_true(json_object_get(s, "disabled")))
                    continue; /* not served */
                if (st == VX_OK)
                    st = inlined_count(
                        c, cache, json_object_get(s, "constraints"),
                        json_object_get(s, "segments"), id, seg, &n);
                if (st == VX_OK && pre)
                    st = inlined_count(
                        c, old_cache, json_object_get(s, "constraints"),
                        json_object_get(s, "segments"), id, pre, &was);
                if (st == VX_OK && n > vx__limit_value(VX_FL_CONSTRAINTS) &&
                    (!pre || was <= vx__limit_value(VX_FL_CONSTRAINTS))) {
                    char msg[VX_ERROR_MSG_MAX];
                    vx__limit_message(msg, sizeof(msg), VX_FL_CONSTRAINTS, n);
                    st = svc__fail(
                        c, VX_ELIMIT, path,
                        "flag '%.100s' in %.60s, with this segment inlined: %s",
                        name ? name : "",
                        json_string_value(json_object_get(e, "name")), msg);
                }
            }
        }
        if (st == VX_OK)
            st = check_flag(c, cache, f, id, seg, &ok, &r);
        if (st == VX_OK && !ok && pre)
            st = check_flag(c, old_cache, f, id, pre, &old_ok, &(refusal){0});
        if (st == VX_OK && !ok && (!pre || old_ok)) {
            st = refuse(c, name ? name : "", &r);
            snprintf(c->err->path, sizeof(c->err->path), "%s", path);
        }
    }
out:
    json_decref(flags);
    json_decref(cache);
    json_decref(old_cache);
    return st;
}

/* Every environment's whole client document, as the SDK state builds and
 * compiles it (this catches the limits of a whole document: flags,
 * segments, bytes). */
static vx_status gate_documents(svc_ctx *c)
{
    json_t *envs = NULL, *names = json_array(), *docs = NULL;
    vx_status st = names ? svc__list(c, STORE_ENVIRONMENT, NULL, &envs)
                         : svc__fail(c, VX_ENOMEM, "", "out of memory");
    size_t i;
    json_t *e;
    json_array_foreach (envs, i, e) {
        json_array_append(names, json_object_get(e, "name"));
    }
    if (st == VX_OK)
        st = svc__client_documents(c, names, 0, &docs);
    const char *env;
    json_t *doc;
    json_object_foreach (docs, env, doc) {
        bool ok = true;
        vx_error why;
        if (st == VX_OK)
            st = try_load(c, doc, &ok, &why);
        if (st != VX_OK)
            break;
        if (!ok) {
            st = svc__fail(c, why.code == VX_ELIMIT ? VX_ELIMIT : VX_EINVAL, "",
                           "SDKs could not load environment %.60s: %s (at "
                           "%.80s)",
                           env, why.message, why.path);
            break;
        }
    }
    json_decref(docs);
    json_decref(names);
    json_decref(envs);
    return st;
}

vx_status svc__gate_stored(svc_ctx *c)
{
    json_t *flags = NULL, *segs = NULL;
    vx_status st = svc__list(c, STORE_SEGMENT, NULL, &segs);
    size_t i;
    json_t *d;
    json_array_foreach (segs, i, d) {
        bool ok = true;
        vx_error why;
        if (st == VX_OK)
            st = check_segment_alone(c, d, &ok, &why);
        if (st != VX_OK)
            break;
        if (!ok) {
            st = svc__fail(
                c, why.code == VX_ELIMIT ? VX_ELIMIT : VX_EINVAL, "",
                "SDKs could not load segment %lld: %s (at %.80s)",
                (long long)json_integer_value(json_object_get(d, "id")),
                why.message, why.path);
            break;
        }
    }
    if (st == VX_OK)
        st = svc__list(c, STORE_FEATURE, NULL, &flags);
    json_array_foreach (flags, i, d) {
        if (st != VX_OK)
            break;
        st = gate_flag(c, d, false);
    }
    if (st == VX_OK)
        st = gate_documents(c);
    json_decref(flags);
    json_decref(segs);
    return st;
}
