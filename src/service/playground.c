/* The playground: every flag evaluated for one context in the chosen
 * environments, with each strategy's, constraint's and segment's result and
 * the reason it is on or off ("outside the 25 % (bucket 61)"), so a person
 * can see why a flag is on. Evaluation is libvexil's, on a snapshot
 * compiled from the same document the SDK endpoints serve; titles and
 * disabled strategies (which SDKs never see) come from the stored flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "vexil/vexil.h"

typedef struct explain_state {
    json_t *strategies; /* array of per-strategy result objects */
} explain_state;

static void on_constraint(void *ud, size_t s, size_t k, bool r)
{
    explain_state *x = ud;
    json_t *cs =
        json_object_get(json_array_get(x->strategies, s), "constraints");
    json_object_set_new(json_array_get(cs, k), "result", json_boolean(r));
}

static void on_segment(void *ud, size_t s, int64_t id, bool r)
{
    explain_state *x = ud;
    json_t *segs =
        json_object_get(json_array_get(x->strategies, s), "segments");
    json_array_append_new(
        segs, json_pack("{sI sb}", "id", (json_int_t)id, "result", r));
}

static void on_strategy(void *ud, size_t s, bool r)
{
    explain_state *x = ud;
    json_object_set_new(json_array_get(x->strategies, s), "result",
                        json_boolean(r));
}

/* Per-strategy result skeletons for flag `cf` of the client document. */
static json_t *skeleton(const json_t *cf)
{
    json_t *arr = json_array();
    size_t i, j;
    json_t *s, *k;
    json_array_foreach (json_object_get(cf, "strategies"), i, s) {
        json_t *cs = json_array();
        json_array_foreach (json_object_get(s, "constraints"), j, k) {
            json_array_append_new(cs, json_deep_copy(k));
        }
        json_array_append_new(
            arr,
            json_pack("{sO sO sO so s[] sb}", "id", json_object_get(s, "id"),
                      "name", json_object_get(s, "name"), "parameters",
                      json_object_get(s, "parameters"), "constraints", cs,
                      "segments", "result", 0));
    }
    return arr;
}

/* A custom strategy only the application can evaluate: when its
 * constraints and segments hold, its result is "unknown" (as in Unleash's
 * playground; evaluationStatus "incomplete"), else false; the flag's
 * isEnabled stays what libvexil answers (false for it). Returns true for
 * "unknown". */
static bool mark_custom(json_t *s)
{
    if (svc__strategy_builtin(json_string_value(json_object_get(s, "name"))))
        return false;
    bool all = true;
    size_t i;
    json_t *k;
    json_array_foreach (json_object_get(s, "constraints"), i, k) {
        all = all && json_is_true(json_object_get(k, "result"));
    }
    json_array_foreach (json_object_get(s, "segments"), i, k) {
        all = all && json_is_true(json_object_get(k, "result"));
    }
    json_object_set_new(s, "result",
                        all ? json_string("unknown") : json_false());
    json_object_set_new(s, "evaluationStatus", json_string("incomplete"));
    return all;
}

/* "42" for a context field as the context has it, for messages. */
static void field_value(const vx_context *ctx, const char *field, char *out,
                        size_t cap)
{
    vx_str v = {NULL, 0};
    if (strcmp(field, "userId") == 0)
        v = ctx->user_id;
    else if (strcmp(field, "sessionId") == 0)
        v = ctx->session_id;
    for (size_t i = 0; !v.ptr && i < ctx->nprops; i++) {
        const vx_prop *p = &ctx->props[i];
        if (p->key.len == strlen(field) &&
            memcmp(p->key.ptr, field, p->key.len) == 0)
            v = p->value;
    }
    snprintf(out, cap, "%.*s", v.ptr ? (int)(v.len > 60 ? 60 : v.len) : 0,
             v.ptr ? v.ptr : "");
}

/* The segment's name, or "#<id>". */
static void segment_name(const json_t *segments, int64_t id, char *out,
                         size_t cap)
{
    size_t i;
    json_t *sg;
    json_array_foreach (segments, i, sg) {
        if (json_integer_value(json_object_get(sg, "id")) == id) {
            snprintf(out, cap, "'%s'",
                     json_string_value(json_object_get(sg, "name")));
            return;
        }
    }
    snprintf(out, cap, "#%lld", (long long)id);
}

static const char *const REASON_KIND[] = {
    [VX_REASON_MATCH] = "match",
    [VX_REASON_CONSTRAINT] = "constraint",
    [VX_REASON_SEGMENT] = "segment",
    [VX_REASON_OUTSIDE_ROLLOUT] = "outside-rollout",
    [VX_REASON_NO_STICKINESS] = "no-stickiness",
    [VX_REASON_NOT_LISTED] = "not-listed",
    [VX_REASON_UNKNOWN_STRATEGY] = "unknown-strategy",
};

/* The playground's "reason" object of one strategy: the kind, the figures
 * and a sentence saying it. */
static json_t *reason_json(const vx_strategy_reason *r, const json_t *strategy,
                           const json_t *segments, const vx_context *ctx)
{
    char msg[512], stick[128], val[64], seg[160];
    const char *name = json_string_value(json_object_get(strategy, "name"));
    snprintf(stick, sizeof(stick), "%.*s", (int)r->stickiness.len,
             r->stickiness.ptr ? r->stickiness.ptr : "");
    msg[0] = '\0';
    switch (r->kind) {
    case VX_REASON_MATCH:
        if (r->percentage >= 0)
            snprintf(msg, sizeof(msg), "inside the %g %% (bucket %u by %s)",
                     r->percentage, r->bucket, stick);
        else
            snprintf(msg, sizeof(msg), "every condition holds");
        break;
    case VX_REASON_CONSTRAINT: {
        const json_t *k = json_array_get(
            json_object_get(strategy, "constraints"), (size_t)r->index);
        snprintf(msg, sizeof(msg), "constraint %lld (%s %s) does not hold",
                 (long long)r->index + 1,
                 json_string_value(json_object_get(k, "contextName")),
                 json_string_value(json_object_get(k, "operator")));
        break;
    }
    case VX_REASON_SEGMENT:
        segment_name(segments, r->index, seg, sizeof(seg));
        snprintf(msg, sizeof(msg), "segment %s does not match", seg);
        break;
    case VX_REASON_OUTSIDE_ROLLOUT:
        field_value(ctx, stick, val, sizeof(val));
        if (val[0])
            snprintf(msg, sizeof(msg), "outside the %g %% (bucket %u: %s %s)",
                     r->percentage, r->bucket, stick, val);
        else
            snprintf(msg, sizeof(msg), "outside the %g %% (bucket %u by %s)",
                     r->percentage, r->bucket, stick);
        break;
    case VX_REASON_NO_STICKINESS:
        snprintf(msg, sizeof(msg),
                 "the context has no %s, which this rollout is sticky on",
                 stick);
        break;
    case VX_REASON_NOT_LISTED:
        snprintf(msg, sizeof(msg), "%s",
                 strcmp(name, "userWithId") == 0 ? "the userId is not listed"
                 : strcmp(name, "remoteAddress") == 0
                     ? "the remoteAddress is not listed"
                     : "this host name is not listed");
        break;
    case VX_REASON_UNKNOWN_STRATEGY:
        snprintf(msg, sizeof(msg),
                 "Vexil does not implement the strategy '%s': it is off", name);
        break;
    }
    json_t *o =
        json_pack("{ss ss}", "kind", REASON_KIND[r->kind], "message", msg);
    if (r->kind == VX_REASON_CONSTRAINT)
        json_object_set_new(o, "constraint", json_integer(r->index));
    if (r->kind == VX_REASON_SEGMENT)
        json_object_set_new(o, "segment", json_integer(r->index));
    if (r->percentage >= 0)
        json_object_set_new(o, "percentage",
                            r->percentage == (double)(json_int_t)r->percentage
                                ? json_integer((json_int_t)r->percentage)
                                : json_real(r->percentage));
    if (r->bucket)
        json_object_set_new(o, "bucket", json_integer(r->bucket));
    if (stick[0])
        json_object_set_new(o, "stickiness", json_string(stick));
    return o;
}

/* Adds title, disabled and the reason to each evaluated strategy of flag
 * `name`, and puts the disabled ones (which SDKs never see) back where the
 * stored flag has them. */
static json_t *annotate(const vx_snapshot *snap, vx_scratch *sc,
                        const char *name, const vx_context *ctx,
                        json_t *evaluated, const json_t *stored_env,
                        const json_t *segments)
{
    json_t *out = json_array();
    size_t i, next = 0;
    json_t *s;
    json_array_foreach (json_object_get(stored_env, "strategies"), i, s) {
        const json_t *title = json_object_get(s, "title");
        json_t *row;
        if (json_is_true(json_object_get(s, "disabled"))) {
            row = json_pack(
                "{sO sO sO sb sb s[] s[] s{ss ss}}", "id",
                json_object_get(s, "id"), "name", json_object_get(s, "name"),
                "parameters", json_object_get(s, "parameters"), "disabled", 1,
                "result", 0, "constraints", "segments", "reason", "kind",
                "disabled", "message", "disabled: kept, but not evaluated");
        } else {
            size_t at = next++;
            row = json_incref(json_array_get(evaluated, at));
            if (!row)
                continue; /* another replica changed the flag between reads */
            vx_strategy_reason r;
            if (vx_explain_strategy(snap, sc, name, strlen(name), at, ctx, &r))
                json_object_set_new(row, "reason",
                                    reason_json(&r,
                                                json_array_get(evaluated, at),
                                                segments, ctx));
            json_object_set_new(row, "disabled", json_false());
        }
        json_object_set(row, "title",
                        json_is_string(title) && json_string_length(title)
                            ? (json_t *)title
                            : json_null());
        json_array_append_new(out, row);
    }
    return out;
}

static vx_status eval_env(svc_ctx *c, const char *env, const json_t *projects,
                          const vx_context *ctx, const json_t *stored,
                          const json_t *segments, json_t *results)
{
    json_t *doc = NULL;
    vx_status st = svc__client_document(c, env, SVC_DOC_IDS, &doc);
    if (st != VX_OK)
        return st;
    char *text = json_dumps(doc, JSON_COMPACT);
    vx_snapshot *snap = NULL;
    vx_scratch *sc = vx_scratch_new();
    st = text && sc ? vx_snapshot_load(text, strlen(text), NULL, &snap, c->err)
                    : VX_ENOMEM;
    size_t i;
    json_t *cf;
    json_array_foreach (json_object_get(doc, "features"), i, cf) {
        if (st != VX_OK)
            break;
        const char *name = json_string_value(json_object_get(cf, "name"));
        const char *project = json_string_value(json_object_get(cf, "project"));
        bool wanted = !projects;
        size_t j;
        json_t *p;
        json_array_foreach (projects, j, p) {
            wanted = wanted || strcmp(json_string_value(p), project) == 0;
        }
        if (!wanted)
            continue;
        explain_state x = {skeleton(cf)};
        vx_explain_ops ops = {on_strategy, on_constraint, on_segment, &x};
        vx_explain(snap, sc, name, strlen(name), ctx, &ops);
        bool on = vx_is_enabled(snap, sc, name, strlen(name), ctx);
        vx_variant v;
        vx_get_variant(snap, sc, name, strlen(name), ctx, &v);
        json_t *variant = json_pack("{ss# sb sb}", "name", v.name.ptr,
                                    (int)v.name.len, "enabled", v.enabled,
                                    "feature_enabled", v.feature_enabled);
        if (v.payload_type.ptr)
            json_object_set_new(
                variant, "payload",
                json_pack("{ss# ss#}", "type", v.payload_type.ptr,
                          (int)v.payload_type.len, "value", v.payload_value.ptr,
                          (int)v.payload_value.len));
        bool any = false, unknown = false;
        json_t *s;
        json_array_foreach (x.strategies, j, s) {
            any = any || json_is_true(json_object_get(s, "result"));
            unknown = unknown || mark_custom(s);
        }
        json_t *sf = json_object_get(stored, name);
        json_t *fenv = sf ? svc__feature_env(sf, env) : NULL; /* borrowed */
        json_t *data =
            annotate(snap, sc, name, ctx, x.strategies, fenv, segments);
        json_decref(x.strategies);
        x.strategies = data;
        json_array_append_new(
            results,
            json_pack("{ss ss ss sb so s{so sb so}}", "name", name, "projectId",
                      project, "environment", env, "isEnabled", on, "variant",
                      variant, "strategies", "result",
                      any       ? json_true()
                      : unknown ? json_string("unknown")
                                : json_false(),
                      "enabledInEnvironment",
                      json_is_true(json_object_get(cf, "enabled")), "data",
                      x.strategies));
    }
    vx_snapshot_unref(snap);
    vx_scratch_free(sc);
    free(text);
    json_decref(doc);
    return st;
}

vx_status svc__op_PLAYGROUND(svc_ctx *c, json_t **out)
{
    const json_t *b = c->req->body;
    vx_status st = svc__expect_object(c, b, "");
    json_t *envs = json_array(), *projects = NULL, *results = json_array();
    const json_t *e1 = json_object_get(b, "environment");
    const json_t *en = json_object_get(b, "environments");
    if (st == VX_OK && e1 && !json_is_null(e1)) {
        if (!json_is_string(e1))
            st = svc__fail(c, VX_EINVAL, "/environment", "expected a string");
        else
            json_array_append(envs, (json_t *)e1);
    }
    if (st == VX_OK && en && !json_is_null(en)) {
        st = svc__expect_array(c, en, "/environments", 100);
        size_t i;
        const json_t *v;
        json_array_foreach (en, i, v) {
            if (st == VX_OK && !json_is_string(v))
                st = svc__fail(c, VX_EINVAL, "/environments", "expected names");
            if (st == VX_OK)
                json_array_append(envs, (json_t *)v);
        }
    }
    if (st == VX_OK && json_array_size(envs) == 0)
        json_array_append_new(envs, json_string("production"));
    size_t i;
    json_t *v;
    json_array_foreach (envs, i, v) {
        json_t *doc = NULL;
        if (st == VX_OK &&
            svc__get(c, STORE_ENVIRONMENT, json_string_value(v), &doc) != VX_OK)
            st = svc__fail(c, VX_EINVAL, "/environments",
                           "environment '%s' does not exist",
                           json_string_value(v));
        json_decref(doc);
    }
    const json_t *pin = json_object_get(b, "projects");
    if (st == VX_OK && pin && json_is_array(pin))
        projects = json_incref((json_t *)pin);
    else if (st == VX_OK && pin && !json_is_null(pin) &&
             !(json_is_string(pin) && strcmp(json_string_value(pin), "*") == 0))
        st = svc__fail(c, VX_EINVAL, "/projects", "expected \"*\" or a list");
    const json_t *ctxj = json_object_get(b, "context");
    if (st == VX_OK && ctxj && !json_is_object(ctxj))
        st = svc__fail(c, VX_EINVAL, "/context", "expected an object");
    vx_context_set *cs = NULL;
    if (st == VX_OK) {
        char *text = ctxj ? json_dumps(ctxj, JSON_COMPACT) : strdup("{}");
        st = text ? vx_context_set_parse(text, strlen(text), c->now_ms, &cs,
                                         c->err)
                  : VX_ENOMEM;
        if (st != VX_OK && c->err->path[0] == '/') {
            char p[VX_ERROR_PATH_MAX];
            snprintf(p, sizeof(p), "/context%s", c->err->path);
            snprintf(c->err->path, sizeof(c->err->path), "%s", p);
            c->err->code = st = VX_EINVAL;
        }
        free(text);
    }
    json_t *flags = NULL, *stored = json_object(), *segments = NULL;
    if (st == VX_OK)
        st = svc__list(c, STORE_FEATURE, NULL, &flags);
    if (st == VX_OK)
        st = svc__list(c, STORE_SEGMENT, NULL, &segments);
    json_array_foreach (flags, i, v) {
        json_object_set(stored, json_string_value(json_object_get(v, "name")),
                        v);
    }
    json_array_foreach (envs, i, v) {
        if (st != VX_OK)
            break;
        st = eval_env(c, json_string_value(v), projects,
                      vx_context_set_get(cs, 0), stored, segments, results);
    }
    json_decref(flags);
    json_decref(stored);
    json_decref(segments);
    if (st == VX_OK)
        *out = json_pack("{sO so}", "input", b, "features", results);
    else
        json_decref(results);
    vx_context_set_free(cs);
    json_decref(envs);
    json_decref(projects);
    return st;
}
