/* Segments: named, reusable constraint lists referenced by strategies.
 * Every environment's SDK document carries every segment, and SDKs older
 * than client spec 4.2.0 get a segment's constraints inlined into each
 * strategy using it: a segment is written only after the gate (gate.c)
 * has compiled it, alone and inlined, as the SDK state will. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"

static vx_status load(svc_ctx *c, json_t **out)
{
    *out = NULL;
    const char *id = c->req->id ? c->req->id : "";
    char *end;
    long long v = strtoll(id, &end, 10);
    if (!*id || *end || v <= 0)
        return svc__not_found(c, "segment", id);
    vx_status st = svc__get(c, STORE_SEGMENT, id, out);
    return st == VX_ENOTFOUND ? svc__not_found(c, "segment", id) : st;
}

/* Validates a segment body into `seg` (name, description, project,
 * constraints); `self_id` excludes the segment itself from the name check. */
static vx_status fill(svc_ctx *c, json_t *seg, long long self_id)
{
    const json_t *b = c->req->body;
    const char *desc = NULL, *project = NULL;
    json_t *constraints = NULL, *all = NULL;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__check_name(c, json_object_get(b, "name"), "/name",
                             "segment name");
    if (st == VX_OK)
        st = svc__opt_string(c, b, "description", "", &desc);
    if (st == VX_OK)
        st = svc__opt_string(c, b, "project", "", &project);
    if (st == VX_OK && project) {
        json_t *p = NULL;
        if (svc__get(c, STORE_PROJECT, project, &p) != VX_OK)
            st = svc__fail(c, VX_EINVAL, "/project",
                           "project '%s' does not exist", project);
        json_decref(p);
    }
    if (st == VX_OK)
        st = svc__norm_constraints(c, json_object_get(b, "constraints"),
                                   "/constraints", &constraints);
    const char *name = json_string_value(json_object_get(b, "name"));
    if (st == VX_OK)
        st = svc__list(c, STORE_SEGMENT, NULL, &all);
    size_t i;
    json_t *s;
    json_array_foreach (all, i, s) {
        if (st == VX_OK &&
            json_integer_value(json_object_get(s, "id")) != self_id &&
            strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            st = svc__fail(c, VX_ECONFLICT, "/name",
                           "a segment named '%s' already exists", name);
    }
    if (st == VX_OK) {
        json_object_set_new(seg, "name", json_string(name));
        json_object_set_new(seg, "description", json_string(desc ? desc : ""));
        json_object_set_new(seg, "project",
                            project ? json_string(project) : json_null());
        json_object_set(seg, "constraints", constraints);
    }
    json_decref(constraints);
    json_decref(all);
    return st;
}

vx_status svc__op_SEGMENT_LIST(svc_ctx *c, json_t **out)
{
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_SEGMENT, NULL, &all);
    if (st == VX_OK)
        *out = json_pack("{so}", "segments", all);
    return st;
}

vx_status svc__op_SEGMENT_GET(svc_ctx *c, json_t **out)
{
    return load(c, out);
}

vx_status svc__op_SEGMENT_CREATE(svc_ctx *c, json_t **out)
{
    json_t *seg = json_object();
    int64_t id = 0;
    vx_status st = fill(c, seg, -1);
    if (st == VX_OK)
        st = svc__gate_room(c, STORE_SEGMENT, "");
    if (st == VX_OK)
        st = c->s->ops->next_id(c->s->st, "segment", &id, c->err);
    if (st == VX_OK) {
        json_object_set_new(seg, "id", json_integer(id));
        json_object_set_new(seg, "createdAt", svc__time_json(c->now_ms));
        st = svc__gate_segment(c, seg, NULL, "/constraints");
    }
    if (st == VX_OK) {
        char key[32];
        snprintf(key, sizeof(key), "%lld", (long long)id);
        st = svc__put(c, STORE_SEGMENT, key, NULL, seg);
    }
    if (st == VX_OK)
        st = svc__audit(c, "segment-created",
                        json_string_value(json_object_get(seg, "project")),
                        NULL, NULL, seg, NULL);
    if (st == VX_OK)
        *out = json_incref(seg);
    json_decref(seg);
    return st;
}

vx_status svc__op_SEGMENT_UPDATE(svc_ctx *c, json_t **out)
{
    json_t *seg = NULL, *pre = NULL;
    vx_status st = load(c, &seg);
    if (st == VX_OK) {
        pre = json_deep_copy(seg);
        st = fill(c, seg, json_integer_value(json_object_get(seg, "id")));
    }
    if (st == VX_OK)
        st = svc__gate_segment(c, seg, pre, "/constraints");
    if (st == VX_OK)
        st = svc__put(c, STORE_SEGMENT, c->req->id, NULL, seg);
    if (st == VX_OK)
        st = svc__audit(c, "segment-updated",
                        json_string_value(json_object_get(seg, "project")),
                        NULL, NULL, seg, pre);
    if (st == VX_OK)
        *out = json_object();
    json_decref(pre);
    json_decref(seg);
    return st;
}

vx_status svc__op_SEGMENT_DELETE(svc_ctx *c, json_t **out)
{
    json_t *seg = NULL, *flags = NULL;
    vx_status st = load(c, &seg);
    if (st == VX_OK)
        st = svc__list(c, STORE_FEATURE, NULL, &flags);
    json_int_t id = json_integer_value(json_object_get(seg, "id"));
    size_t i, j, k, l;
    json_t *f, *e, *s, *ref;
    json_array_foreach (flags, i, f) {
        json_array_foreach (json_object_get(f, "environments"), j, e) {
            json_array_foreach (json_object_get(e, "strategies"), k, s) {
                json_array_foreach (json_object_get(s, "segments"), l, ref) {
                    if (st == VX_OK && json_integer_value(ref) == id)
                        st = svc__fail(
                            c, VX_ECONFLICT, "",
                            "segment %lld is used by flag '%s'", (long long)id,
                            json_string_value(json_object_get(f, "name")));
                }
            }
        }
    }
    if (st == VX_OK)
        st = svc__del(c, STORE_SEGMENT, c->req->id);
    if (st == VX_OK)
        st = svc__audit(c, "segment-deleted", NULL, NULL, NULL, NULL, seg);
    if (st == VX_OK)
        *out = json_object();
    json_decref(flags);
    json_decref(seg);
    return st;
}
