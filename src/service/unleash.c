/* Moving over from Unleash: POST /api/admin/import/unleash takes the
 * documents an Unleash 7/8 admin API answers (projects, environments,
 * feature types, strategy definitions, segments, API token scopes, context
 * fields, tag types) and its feature exports (`/api/admin/features-batch/
 * export`, one per project and environment, or one export file), maps them
 * onto Vexil's documents and writes them in one transaction. The CLI only
 * fetches (`vexil import --from-unleash`); every mapping decision is here.
 *
 * Everything goes through the same gate as the admin API: projects,
 * environments, strategy definitions and tokens through their own op
 * handlers, strategies, variants and segments through validate.c. What the
 * gate refuses is collected as a problem (a JSON pointer into the import
 * document and a message) instead of stopping at the first, so a dry run
 * lists them all; an import with any problem writes nothing. A dry run does
 * the whole import and rolls it back, so its plan is exactly what the
 * import would do.
 *
 * What SDKs see is carried exactly: strategy order, parameters as Unleash
 * stored them (no defaults added), variant order and weights as stored
 * (whatever version or path wrote them), segment constraints; only segment
 * ids may change (references follow). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/limits.h"
#include "service/internal.h"

/* One import in progress. */
typedef struct imp {
    svc_ctx *c;            /* the call */
    const json_t *doc;     /* the import document (borrowed) */
    const char *project;   /* "project" override for every flag, or NULL */
    json_t *problems;      /* [{path, message}] the gate refused */
    json_t *notes;         /* [{what, name, message}] not carried over */
    json_t *created;       /* {projects, environments, ...: [names]} */
    json_t *updated;       /* {flags, featureTypes: [names]} */
    json_t *reused;        /* {projects, environments, ...: [names]} */
    json_t *tokens;        /* minted tokens with their secrets */
    json_t *segmap;        /* {"<Unleash segment id>": Vexil id} */
    json_t *segnames;      /* {"<Unleash segment id>": name} (exports) */
    json_t *flags;         /* {name: gathered flag} */
    json_t *order;         /* flag names in first-seen order */
    json_t *envs;          /* Vexil's environments after step 2 */
    bool infer_strategies; /* no definitions sent: infer from the uses */
} imp;

static void add_name(json_t *group, const char *key, const char *name)
{
    json_t *arr = json_object_get(group, key);
    if (!arr) {
        arr = json_array();
        json_object_set_new(group, key, arr);
    }
    json_array_append_new(arr, json_string(name));
}

static void note(imp *m, const char *what, const char *name, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void note(imp *m, const char *what, const char *name, const char *fmt,
                 ...)
{
    if (json_array_size(m->notes) >= VX_LIMIT_UNLEASH_NOTES)
        return;
    char msg[VX_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(m->notes, json_pack("{ss ss? ss}", "what", what,
                                              "name", name, "message", msg));
}

static bool fatal(vx_status st)
{
    return st == VX_EIO || st == VX_ENOMEM || st == VX_EUNAVAILABLE;
}

/* Turns a refusal of the gate (c->err) into a problem at `prefix` + its
 * path and returns VX_OK; a database or memory failure is returned as is. */
static vx_status keep(imp *m, vx_status st, const char *prefix)
{
    if (st == VX_OK || fatal(st))
        return st;
    vx_error *e = m->c->err;
    if (json_array_size(m->problems) < VX_LIMIT_UNLEASH_NOTES) {
        char path[VX_ERROR_PATH_MAX * 2];
        snprintf(path, sizeof(path), "%s%s", prefix ? prefix : "", e->path);
        json_array_append_new(m->problems, json_pack("{ss ss}", "path", path,
                                                     "message", e->message));
    }
    memset(e, 0, sizeof(*e));
    return VX_OK;
}

static vx_status problem(imp *m, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vx_status problem(imp *m, const char *path, const char *fmt, ...)
{
    char msg[VX_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (json_array_size(m->problems) < VX_LIMIT_UNLEASH_NOTES)
        json_array_append_new(
            m->problems, json_pack("{ss ss}", "path", path, "message", msg));
    return VX_OK;
}

/* Runs admin op handler `fn` on `body` as if it were the request (the same
 * validation, writes and audit event as the API); `prefix` locates a
 * refusal in the import document. `*out` may be NULL. */
static vx_status run_op(imp *m, vx_status (*fn)(svc_ctx *, json_t **),
                        const svc_req *req, const char *prefix, json_t **out)
{
    json_t *ans = NULL;
    const svc_req *saved = m->c->req;
    m->c->req = req;
    vx_status st = fn(m->c, &ans);
    m->c->req = saved;
    if (out)
        *out = st == VX_OK ? ans : NULL;
    else
        json_decref(ans);
    return keep(m, st, prefix);
}

static vx_status exists(imp *m, store_kind k, const char *key, bool *yes)
{
    json_t *d = NULL;
    vx_status st = svc__get(m->c, k, key, &d);
    json_decref(d);
    *yes = st == VX_OK;
    return st == VX_ENOTFOUND ? VX_OK : st;
}

/* An optional array member of the document; a wrong type is an error. */
static vx_status opt_array(imp *m, const json_t *obj, const char *key,
                           const char *base, size_t max, const json_t **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return VX_OK;
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", base, key);
    vx_status st = svc__expect_array(m->c, v, p, max);
    if (st == VX_OK)
        *out = v;
    return st;
}

/* ---- projects and environments ----------------------------------------- */

/* Creates project `id` unless it exists (from the project list when
 * `src` is given, else an empty one named after its id). */
static vx_status ensure_project(imp *m, const char *id, const json_t *src,
                                const char *path)
{
    bool have = false;
    vx_status st = exists(m, STORE_PROJECT, id, &have);
    if (st != VX_OK || have) {
        if (st == VX_OK && src)
            add_name(m->reused, "projects", id);
        return st;
    }
    const json_t *name = json_object_get(src, "name");
    const json_t *desc = json_object_get(src, "description");
    json_t *body = json_pack("{ss}", "id", id);
    if (json_is_string(name))
        json_object_set(body, "name", (json_t *)name);
    if (json_is_string(desc))
        json_object_set(body, "description", (json_t *)desc);
    svc_req req = {.op = SVC_OP_PROJECT_CREATE, .body = body};
    size_t before = json_array_size(m->problems);
    st = run_op(m, svc__op_PROJECT_CREATE, &req, path, NULL);
    if (st == VX_OK && json_array_size(m->problems) == before)
        add_name(m->created, "projects", id);
    json_decref(body);
    return st;
}

static vx_status import_projects(imp *m)
{
    const json_t *list = NULL;
    vx_status st = opt_array(m, m->doc, "projects", "", 10000, &list);
    size_t i;
    const json_t *p;
    json_array_foreach (list, i, p) {
        char path[64];
        snprintf(path, sizeof(path), "/projects/%zu", i);
        const json_t *id = json_object_get(p, "id");
        if (st != VX_OK)
            break;
        if (!json_is_string(id)) {
            st = problem(m, path, "a project without an id");
            continue;
        }
        if (json_is_string(json_object_get(p, "archivedAt")))
            note(m, "project", json_string_value(id),
                 "archived in Unleash: imported as a live project");
        st = ensure_project(m, json_string_value(id), p, path);
    }
    return st;
}

static const char *env_type(const char *t)
{
    static const char *const known[] = {"development", "test", "preproduction",
                                        "production"};
    for (size_t i = 0; t && i < 4; i++)
        if (strcmp(t, known[i]) == 0)
            return known[i];
    return NULL;
}

/* Creates environment `name` unless it exists. */
static vx_status ensure_env(imp *m, const char *name, const json_t *src,
                            const char *path)
{
    bool have = false;
    vx_status st = exists(m, STORE_ENVIRONMENT, name, &have);
    if (st != VX_OK || have) {
        if (st == VX_OK && src)
            add_name(m->reused, "environments", name);
        return st;
    }
    const char *t = json_string_value(json_object_get(src, "type"));
    const char *type = env_type(t);
    if (t && !type)
        note(m, "environment", name,
             "Unleash type '%s' is not one of Vexil's (development, test, "
             "preproduction, production): imported as development",
             t);
    json_t *body =
        json_pack("{ss ss}", "name", name, "type", type ? type : "development");
    const json_t *so = json_object_get(src, "sortOrder");
    if (json_is_integer(so))
        json_object_set(body, "sortOrder", (json_t *)so);
    if (json_is_false(json_object_get(src, "enabled")))
        note(m, "environment", name,
             "disabled in Unleash: Vexil serves every environment");
    svc_req req = {.op = SVC_OP_ENVIRONMENT_CREATE, .body = body};
    size_t before = json_array_size(m->problems);
    st = run_op(m, svc__op_ENVIRONMENT_CREATE, &req, path, NULL);
    if (st == VX_OK && json_array_size(m->problems) == before)
        add_name(m->created, "environments", name);
    json_decref(body);
    return st;
}

/* The environment of export `i`: its own "environment", else the one its
 * feature environments name. NULL when neither says. */
static const char *export_env(const json_t *x)
{
    const char *e = json_string_value(json_object_get(x, "environment"));
    if (e)
        return e;
    const json_t *fe =
        json_object_get(json_object_get(x, "data"), "featureEnvironments");
    return json_string_value(
        json_object_get(json_array_get(fe, 0), "environment"));
}

static vx_status import_envs(imp *m, const json_t *exports)
{
    const json_t *list = NULL;
    vx_status st = opt_array(m, m->doc, "environments", "", 1000, &list);
    size_t i;
    const json_t *e;
    json_array_foreach (list, i, e) {
        char path[64];
        snprintf(path, sizeof(path), "/environments/%zu", i);
        const json_t *name = json_object_get(e, "name");
        if (st != VX_OK)
            break;
        if (!json_is_string(name)) {
            st = problem(m, path, "an environment without a name");
            continue;
        }
        st = ensure_env(m, json_string_value(name), e, path);
    }
    json_array_foreach (exports, i, e) {
        char path[64];
        snprintf(path, sizeof(path), "/exports/%zu/environment", i);
        const char *env = export_env(e);
        if (st == VX_OK && env)
            st = ensure_env(m, env, NULL, path);
    }
    if (st == VX_OK)
        st = svc__list(m->c, STORE_ENVIRONMENT, NULL, &m->envs);
    return st;
}

/* ---- feature types, strategy definitions ------------------------------- */

static vx_status import_feature_types(imp *m)
{
    const json_t *list = NULL;
    vx_status st = opt_array(m, m->doc, "featureTypes", "", 1000, &list);
    size_t i;
    const json_t *t;
    json_array_foreach (list, i, t) {
        char path[64];
        snprintf(path, sizeof(path), "/featureTypes/%zu", i);
        const json_t *id = json_object_get(t, "id");
        const json_t *days = json_object_get(t, "lifetimeDays");
        if (st != VX_OK)
            break;
        if (!json_is_null(days) && days &&
            !(json_is_integer(days) && json_integer_value(days) >= 0 &&
              json_integer_value(days) <= 100000))
            days = NULL;
        st = svc__check_name(m->c, id, path, "feature type id");
        if (st != VX_OK) {
            st = keep(m, st, "");
            continue;
        }
        const char *tid = json_string_value(id);
        json_t *have = NULL;
        st = svc__get(m->c, STORE_FEATURE_TYPE, tid, &have);
        json_t *life =
            !days || json_is_null(days) || json_integer_value(days) == 0
                ? json_null()
                : json_integer(json_integer_value(days));
        if (st == VX_ENOTFOUND) {
            const json_t *name = json_object_get(t, "name");
            const json_t *desc = json_object_get(t, "description");
            /* "so" takes the description's reference: a borrowed one is
             * taken first, a new one (no description) is handed over. */
            json_t *d = json_is_string(desc) ? json_incref((json_t *)desc)
                                             : json_string("");
            json_t *doc = json_pack("{ss sO so sO}", "id", tid, "name",
                                    json_is_string(name) ? name : id,
                                    "description", d, "lifetimeDays", life);
            st = doc ? svc__put(m->c, STORE_FEATURE_TYPE, tid, NULL, doc)
                     : VX_ENOMEM;
            if (st == VX_OK)
                st = svc__audit(m->c, "feature-type-created", NULL, NULL, NULL,
                                doc, NULL);
            if (st == VX_OK)
                add_name(m->created, "featureTypes", tid);
            json_decref(doc);
        } else if (st == VX_OK &&
                   !json_equal(json_object_get(have, "lifetimeDays"), life)) {
            json_t *pre = json_deep_copy(have);
            json_object_set(have, "lifetimeDays", life);
            st = svc__put(m->c, STORE_FEATURE_TYPE, tid, NULL, have);
            if (st == VX_OK)
                st = svc__audit(m->c, "feature-type-updated", NULL, NULL, NULL,
                                have, pre);
            if (st == VX_OK)
                add_name(m->updated, "featureTypes", tid);
            json_decref(pre);
        }
        json_decref(life);
        json_decref(have);
    }
    return st;
}

static vx_status import_strategies(imp *m)
{
    const json_t *list = NULL;
    vx_status st = opt_array(m, m->doc, "strategies", "",
                             VX_LIMIT_STRATEGY_DEFS + 100, &list);
    m->infer_strategies = st == VX_OK && !list;
    size_t i;
    const json_t *d;
    json_array_foreach (list, i, d) {
        char path[64];
        snprintf(path, sizeof(path), "/strategies/%zu", i);
        const char *name = json_string_value(json_object_get(d, "name"));
        if (st != VX_OK)
            break;
        if (!name) {
            st = problem(m, path, "a strategy definition without a name");
            continue;
        }
        if (svc__strategy_builtin(name) ||
            json_is_false(json_object_get(d, "editable"))) {
            if (!svc__strategy_builtin(name))
                note(m, "strategy", name,
                     "built into this Unleash but not into Vexil: flags "
                     "using it cannot be imported");
            continue;
        }
        json_t *have = NULL, *params = NULL;
        st = svc__get(m->c, STORE_STRATEGY, name, &have);
        if (st == VX_OK) {
            st = svc__strategy_def_params(
                m->c, json_object_get(d, "parameters"), path, &params);
            if (st == VX_OK &&
                !json_equal(params, json_object_get(have, "parameters")))
                st = problem(m, path,
                             "Vexil already has a strategy '%s' with other "
                             "parameters: make the two definitions the same "
                             "first",
                             name);
            else if (st == VX_OK)
                add_name(m->reused, "strategies", name);
            st = keep(m, st, "");
        } else if (st == VX_ENOTFOUND) {
            memset(m->c->err, 0, sizeof(*m->c->err));
            json_t *body = json_pack("{ss sO}", "name", name, "parameters",
                                     json_object_get(d, "parameters")
                                         ? json_object_get(d, "parameters")
                                         : json_null());
            const char *keys[] = {"title", "description"};
            for (int k = 0; k < 2; k++) {
                const json_t *v = json_object_get(d, keys[k]);
                if (json_is_string(v))
                    json_object_set(body, keys[k], (json_t *)v);
            }
            svc_req req = {.op = SVC_OP_STRATEGY_DEF_CREATE, .body = body};
            size_t before = json_array_size(m->problems);
            st = run_op(m, svc__op_STRATEGY_DEF_CREATE, &req, path, NULL);
            bool made = json_array_size(m->problems) == before;
            if (st == VX_OK && made &&
                json_is_true(json_object_get(d, "deprecated"))) {
                svc_req dep = {.op = SVC_OP_STRATEGY_DEF_DEPRECATE, .id = name};
                st =
                    run_op(m, svc__op_STRATEGY_DEF_DEPRECATE, &dep, path, NULL);
            }
            if (st == VX_OK && made)
                add_name(m->created, "strategies", name);
            json_decref(body);
        }
        json_decref(params);
        json_decref(have);
    }
    return st;
}

/* With no definitions sent (an export file), a custom strategy a flag uses
 * is defined from its uses: every parameter seen, as an optional string. */
static vx_status infer_strategy(imp *m, const json_t *s, const char *path)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    if (!m->infer_strategies || !name || svc__strategy_builtin(name))
        return VX_OK;
    bool have = false;
    vx_status st = exists(m, STORE_STRATEGY, name, &have);
    if (st != VX_OK)
        return st;
    json_t *params = json_array();
    const char *k;
    json_t *v;
    json_object_foreach (json_object_get(s, "parameters"), k, v) {
        json_array_append_new(
            params, json_pack("{ss ss}", "name", k, "type", "string"));
    }
    if (have) { /* an earlier use defined it: add what this use adds */
        json_t *d = NULL;
        st = svc__get(m->c, STORE_STRATEGY, name, &d);
        json_t *known = json_object_get(d, "parameters");
        size_t i, j;
        json_t *p, *q;
        bool grew = false;
        json_array_foreach (params, i, p) {
            bool found = false;
            json_array_foreach (known, j, q) {
                found = found || json_equal(json_object_get(p, "name"),
                                            json_object_get(q, "name"));
            }
            if (!found && json_is_true(json_object_get(d, "inferred"))) {
                json_array_append_new(known,
                                      json_pack("{sO ss ss sb}", "name",
                                                json_object_get(p, "name"),
                                                "type", "string", "description",
                                                "", "required", 0));
                grew = true;
            }
        }
        if (st == VX_OK && grew)
            st = svc__put(m->c, STORE_STRATEGY, name, NULL, d);
        json_decref(d);
        json_decref(params);
        return st;
    }
    json_t *body = json_pack("{ss so ss}", "name", name, "parameters", params,
                             "description",
                             "Imported from an Unleash export file: "
                             "parameters inferred from the flags using it");
    svc_req req = {.op = SVC_OP_STRATEGY_DEF_CREATE, .body = body};
    size_t before = json_array_size(m->problems);
    st = run_op(m, svc__op_STRATEGY_DEF_CREATE, &req, path, NULL);
    if (st == VX_OK && json_array_size(m->problems) == before) {
        json_t *d = NULL;
        st = svc__get(m->c, STORE_STRATEGY, name, &d);
        if (st == VX_OK) {
            json_object_set_new(d, "inferred", json_true());
            st = svc__put(m->c, STORE_STRATEGY, name, NULL, d);
        }
        json_decref(d);
        add_name(m->created, "strategies", name);
        note(m, "strategy", name,
             "an export file has no strategy definitions: defined with the "
             "parameters its flags use, as optional strings (give them types "
             "with PUT /api/admin/strategies/%s)",
             name);
    }
    json_decref(body);
    return st;
}

/* ---- segments ---------------------------------------------------------- */

static void map_segment(imp *m, json_int_t from, json_int_t to)
{
    char k[32];
    snprintf(k, sizeof(k), "%lld", (long long)from);
    json_object_set_new(m->segmap, k, json_integer(to));
}

static vx_status import_segments(imp *m)
{
    const json_t *list = NULL;
    vx_status st =
        opt_array(m, m->doc, "segments", "", VX_LIMIT_SEGMENTS, &list);
    json_t *all = NULL;
    if (st == VX_OK)
        st = svc__list(m->c, STORE_SEGMENT, NULL, &all);
    /* Pass 1: validate; reuse a Vexil segment of the same name and
     * constraints; note which Unleash ids can be kept. */
    json_t *todo = json_array(); /* [[index, normalised constraints, keep]] */
    json_int_t max_kept = 0;
    size_t i, j;
    const json_t *sg;
    json_array_foreach (list, i, sg) {
        if (st != VX_OK)
            break;
        char path[64], q[96];
        snprintf(path, sizeof(path), "/segments/%zu", i);
        const json_t *id = json_object_get(sg, "id");
        const json_t *name = json_object_get(sg, "name");
        json_t *cons = NULL;
        snprintf(q, sizeof(q), "%s/name", path);
        st = svc__check_name(m->c, name, q, "segment name");
        if (st == VX_OK && !json_is_integer(id))
            st = svc__fail(m->c, VX_EINVAL, path, "a segment without an id");
        snprintf(q, sizeof(q), "%s/constraints", path);
        if (st == VX_OK)
            st = svc__norm_constraints(m->c, json_object_get(sg, "constraints"),
                                       q, &cons);
        const char *proj = json_string_value(json_object_get(sg, "project"));
        if (st == VX_OK && proj) {
            snprintf(q, sizeof(q), "%s/project", path);
            st = ensure_project(m, proj, NULL, q);
        }
        if (st != VX_OK) {
            json_decref(cons);
            st = keep(m, st, "");
            continue;
        }
        const json_t *same = NULL;
        json_t *v;
        json_array_foreach (all, j, v) {
            if (json_equal(json_object_get(v, "name"), (json_t *)name))
                same = v;
        }
        if (same) {
            json_t *jp = proj ? json_string(proj) : json_null();
            bool equal =
                json_equal(json_object_get(same, "constraints"), cons) &&
                json_equal(json_object_get(same, "project"), jp);
            json_decref(jp);
            if (equal) {
                map_segment(m, json_integer_value(id),
                            json_integer_value(json_object_get(same, "id")));
                add_name(m->reused, "segments", json_string_value(name));
            } else {
                problem(m, path,
                        "Vexil already has a segment '%s' with other "
                        "constraints or project: rename one of them first",
                        json_string_value(name));
            }
            json_decref(cons);
            continue;
        }
        json_int_t uid = json_integer_value(id);
        bool taken = uid <= 0 || uid > 1000000;
        json_array_foreach (all, j, v) {
            taken =
                taken || json_integer_value(json_object_get(v, "id")) == uid;
        }
        if (!taken && uid > max_kept)
            max_kept = uid;
        json_array_append_new(
            todo, json_pack("[I o b]", (json_int_t)i, cons, !taken));
    }
    /* The id sequence moves past every kept id before new ones are drawn. */
    for (int64_t n = 0; st == VX_OK && n < max_kept;)
        st = m->c->s->ops->next_id(m->c->s->st, "segment", &n, m->c->err);
    const json_t *t;
    json_array_foreach (todo, i, t) {
        if (st != VX_OK)
            break;
        sg = json_array_get(list,
                            (size_t)json_integer_value(json_array_get(t, 0)));
        json_int_t uid = json_integer_value(json_object_get(sg, "id"));
        int64_t vid = uid;
        if (!json_is_true(json_array_get(t, 2)))
            st = m->c->s->ops->next_id(m->c->s->st, "segment", &vid, m->c->err);
        const char *desc =
            json_string_value(json_object_get(sg, "description"));
        const char *proj = json_string_value(json_object_get(sg, "project"));
        json_t *seg = json_pack(
            "{sI sO ss so sO so}", "id", (json_int_t)vid, "name",
            json_object_get(sg, "name"), "description", desc ? desc : "",
            "project", proj ? json_string(proj) : json_null(), "constraints",
            json_array_get(t, 1), "createdAt", svc__time_json(m->c->now_ms));
        char key[32];
        snprintf(key, sizeof(key), "%lld", (long long)vid);
        if (st == VX_OK)
            st = svc__put(m->c, STORE_SEGMENT, key, NULL, seg);
        if (st == VX_OK)
            st = svc__audit(m->c, "segment-created", proj, NULL, NULL, seg,
                            NULL);
        if (st == VX_OK) {
            map_segment(m, uid, vid);
            add_name(m->created, "segments",
                     json_string_value(json_object_get(sg, "name")));
        }
        json_decref(seg);
    }
    json_decref(todo);
    json_decref(all);
    return st;
}

/* Maps the segments an export names ({id, name}) that the segment list did
 * not carry: to the Vexil segment of that name, if there is one. */
static vx_status map_export_segments(imp *m, const json_t *exports)
{
    json_t *all = NULL;
    vx_status st = svc__list(m->c, STORE_SEGMENT, NULL, &all);
    size_t i, j, k;
    const json_t *x, *sg, *v;
    json_array_foreach (exports, i, x) {
        json_array_foreach (
            json_object_get(json_object_get(x, "data"), "segments"), j, sg) {
            char key[32];
            snprintf(key, sizeof(key), "%lld",
                     (long long)json_integer_value(json_object_get(sg, "id")));
            json_object_set(m->segnames, key, json_object_get(sg, "name"));
            if (json_object_get(m->segmap, key))
                continue;
            json_array_foreach (all, k, v) {
                if (json_equal(json_object_get(v, "name"),
                               json_object_get(sg, "name")))
                    json_object_set(m->segmap, key, json_object_get(v, "id"));
            }
        }
    }
    json_decref(all);
    return st;
}

/* ---- flags ------------------------------------------------------------- */

/* The gathered form of one flag, created on first sight. */
static json_t *flag_entry(imp *m, const char *name)
{
    json_t *f = json_object_get(m->flags, name);
    if (!f) {
        f = json_pack("{s{} s[] s[] sb}", "envs", "tags", "deps", "hasDeps", 0);
        json_object_set_new(m->flags, name, f);
        json_array_append_new(m->order, json_string(name));
    }
    return f;
}

static json_t *env_entry(json_t *f, const char *env)
{
    json_t *e = json_object_get(json_object_get(f, "envs"), env);
    if (!e) {
        e = json_pack("{sb s[] sn}", "enabled", 0, "strategies", "variants");
        json_object_set_new(json_object_get(f, "envs"), env, e);
    }
    return e;
}

/* Gathers every export into m->flags: metadata, per-environment state,
 * strategies in order, tags and dependencies. */
static vx_status gather(imp *m, const json_t *exports)
{
    size_t i, j;
    const json_t *x, *v;
    json_array_foreach (exports, i, x) {
        char base[64], path[128];
        snprintf(base, sizeof(base), "/exports/%zu", i);
        const json_t *data = json_object_get(x, "data");
        vx_status st = svc__expect_object(m->c, data, base);
        const char *env = export_env(x);
        if (st == VX_OK && !env &&
            json_array_size(json_object_get(data, "featureStrategies")))
            st = svc__fail(m->c, VX_EINVAL, base,
                           "which environment is this export of? give "
                           "\"environment\" beside \"data\"");
        static const char *const parts[] = {
            "features",    "featureStrategies", "featureEnvironments",
            "featureTags", "dependencies",      "segments"};
        for (size_t p = 0; st == VX_OK && p < 6; p++) {
            snprintf(path, sizeof(path), "%s/data", base);
            const json_t *arr = NULL;
            st = opt_array(m, data, parts[p], path, VX_LIMIT_FLAGS * 10, &arr);
        }
        if (st != VX_OK)
            return st;
        json_array_foreach (json_object_get(data, "features"), j, v) {
            const char *name = json_string_value(json_object_get(v, "name"));
            snprintf(path, sizeof(path), "%s/data/features/%zu", base, j);
            if (!name) {
                problem(m, path, "a flag without a name");
                continue;
            }
            json_t *f = flag_entry(m, name);
            if (!json_object_get(f, "meta")) {
                json_object_set(f, "meta", (json_t *)v);
                json_object_set_new(f, "path", json_string(path));
            }
        }
        json_array_foreach (json_object_get(data, "featureEnvironments"), j,
                            v) {
            const char *name =
                json_string_value(json_object_get(v, "featureName"));
            const char *fenv =
                json_string_value(json_object_get(v, "environment"));
            if (!fenv)
                fenv = env;
            if (!name || !fenv || !json_object_get(m->flags, name))
                continue;
            json_t *e = env_entry(json_object_get(m->flags, name), fenv);
            json_object_set_new(
                e, "enabled",
                json_boolean(json_is_true(json_object_get(v, "enabled"))));
            snprintf(path, sizeof(path),
                     "%s/data/featureEnvironments/%zu/variants", base, j);
            json_object_set(e, "variants", json_object_get(v, "variants"));
            json_object_set_new(e, "vpath", json_string(path));
        }
        json_array_foreach (json_object_get(data, "featureStrategies"), j, v) {
            const char *name =
                json_string_value(json_object_get(v, "featureName"));
            const char *senv =
                json_string_value(json_object_get(v, "environment"));
            snprintf(path, sizeof(path), "%s/data/featureStrategies/%zu", base,
                     j);
            if (!name || !json_object_get(m->flags, name)) {
                problem(m, path,
                        "a strategy of a flag the export does not "
                        "list");
                continue;
            }
            json_t *e =
                env_entry(json_object_get(m->flags, name), senv ? senv : env);
            json_array_append_new(json_object_get(e, "strategies"),
                                  json_pack("[O s]", v, path));
        }
        json_array_foreach (json_object_get(data, "featureTags"), j, v) {
            const char *name =
                json_string_value(json_object_get(v, "featureName"));
            json_t *f = name ? json_object_get(m->flags, name) : NULL;
            snprintf(path, sizeof(path), "%s/data/featureTags/%zu", base, j);
            if (!f)
                continue;
            json_t *tag =
                json_pack("{sO sO}", "type", json_object_get(v, "tagType"),
                          "value", json_object_get(v, "tagValue"));
            bool dup = false;
            size_t k;
            json_t *t;
            json_array_foreach (json_object_get(f, "tags"), k, t) {
                dup = dup || json_equal(json_array_get(t, 0), tag);
            }
            if (!dup && tag)
                json_array_append_new(json_object_get(f, "tags"),
                                      json_pack("[O s]", tag, path));
            json_decref(tag);
        }
        json_array_foreach (json_object_get(data, "dependencies"), j, v) {
            const char *child =
                json_string_value(json_object_get(v, "feature"));
            json_t *f = child ? json_object_get(m->flags, child) : NULL;
            snprintf(path, sizeof(path), "%s/data/dependencies/%zu", base, j);
            if (!f || json_is_true(json_object_get(f, "hasDeps")))
                continue;
            json_object_set_new(f, "hasDeps", json_true());
            size_t k;
            const json_t *d;
            json_array_foreach (json_object_get(v, "dependencies"), k, d) {
                char q[160];
                snprintf(q, sizeof(q), "%s/dependencies/%zu", path, k);
                json_array_append_new(json_object_get(f, "deps"),
                                      json_pack("[O s]", d, q));
            }
        }
        json_array_foreach (json_object_get(data, "links"), j, v) {
            const char *name = json_string_value(json_object_get(v, "feature"));
            if (name && json_array_size(json_object_get(v, "links")))
                note(m, "links", name, "flag links (%zu) are not carried over",
                     json_array_size(json_object_get(v, "links")));
        }
    }
    return VX_OK;
}

/* Puts the strategies of every gathered environment in their "sortOrder"
 * (stable; those without one keep their place after those with one): an
 * Unleash feature export lists them in no particular order and without it,
 * so `vexil import --from-unleash` adds it from the admin API. */
static void sort_strategies(imp *m)
{
    const char *name, *env;
    json_t *g, *e;
    json_object_foreach (m->flags, name, g) {
        json_object_foreach (json_object_get(g, "envs"), env, e) {
            json_t *arr = json_object_get(e, "strategies");
            size_t n = json_array_size(arr);
            for (size_t i = 1; i < n; i++) {
                json_t *x = json_incref(json_array_get(arr, i));
                const json_t *xs =
                    json_object_get(json_array_get(x, 0), "sortOrder");
                size_t j = i;
                while (j > 0 && json_is_integer(xs)) {
                    const json_t *ys = json_object_get(
                        json_array_get(json_array_get(arr, j - 1), 0),
                        "sortOrder");
                    if (json_is_integer(ys) &&
                        json_integer_value(ys) <= json_integer_value(xs))
                        break;
                    json_array_set(arr, j, json_array_get(arr, j - 1));
                    j--;
                }
                json_array_set_new(arr, j, x);
            }
        }
    }
}

/* Restores the order and the weights Unleash stored onto the normalised
 * variants `norm` (re-sorted, weights recomputed), so SDKs pick exactly
 * what they picked from Unleash: its stored lists need not follow today's
 * rule (older versions, variants-batch, its own imports). */
static json_t *as_stored(const json_t *src, json_t *norm)
{
    json_t *out = json_array();
    size_t i, j;
    const json_t *v, *n;
    json_array_foreach (src, i, v) {
        json_array_foreach (norm, j, n) {
            if (!json_equal(json_object_get(n, "name"),
                            json_object_get(v, "name")))
                continue;
            json_t *c = json_deep_copy(n);
            const json_t *w = json_object_get(v, "weight");
            if (json_is_integer(w) && json_integer_value(w) >= 0 &&
                json_integer_value(w) <= VX_LIMIT_VARIANT_WEIGHT)
                json_object_set(c, "weight", (json_t *)w);
            json_array_append_new(out, c);
            break;
        }
    }
    json_decref(norm);
    return out;
}

/* A strategy id worth keeping (Unleash's ULIDs and UUIDs). */
static bool id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return n > 0 && n <= 64;
}

/* One strategy of flag `flag`: through the gate, then as Unleash stored
 * it. `*out` is NULL when refused (a problem was recorded). */
static vx_status one_strategy(imp *m, const char *flag, const json_t *src,
                              const char *path, int order, json_t **out)
{
    *out = NULL;
    json_t *s = json_deep_copy(src);
    vx_status st = infer_strategy(m, s, path);
    /* Segment ids as Vexil knows them. */
    json_t *segs = json_array();
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get(s, "segments"), i, v) {
        char k[32];
        snprintf(k, sizeof(k), "%lld", (long long)json_integer_value(v));
        json_t *to = json_object_get(m->segmap, k);
        if (!to) {
            const char *sn = json_string_value(json_object_get(m->segnames, k));
            char q[300];
            snprintf(q, sizeof(q), "%s/segments/%zu", path, i);
            problem(m, q,
                    "segment %s%s%s%s is not in the import and Vexil has "
                    "none of that name (an export file carries no segment "
                    "constraints: create it in Vexil first, or import from "
                    "the running Unleash)",
                    k, sn ? " ('" : "", sn ? sn : "", sn ? "')" : "");
            json_decref(segs);
            json_decref(s);
            return st;
        }
        json_array_append(segs, to);
    }
    json_object_set_new(s, "segments", segs);
    json_object_del(s, "sortOrder");
    json_t *norm = NULL;
    if (st == VX_OK)
        st = svc__norm_strategy(m->c, s, path, flag, &norm);
    if (st != VX_OK) {
        json_decref(s);
        return keep(m, st, "");
    }
    /* Parameters exactly as stored (no defaults added: a flexibleRollout
     * Unleash stored without groupId hashes with "" in the Node SDK). */
    json_t *params = json_object_get(norm, "parameters");
    const char *k;
    json_t *pv, *tmp;
    json_object_foreach_safe (params, tmp, k, pv) {
        if (!json_object_get(json_object_get(src, "parameters"), k))
            json_object_del(params, k);
    }
    json_object_set_new(
        norm, "variants",
        as_stored(json_object_get(src, "variants"),
                  json_incref(json_object_get(norm, "variants"))));
    const char *id = json_string_value(json_object_get(src, "id"));
    char uuid[37];
    if (!id_ok(id)) {
        svc__uuid(uuid);
        id = uuid;
    }
    json_object_set_new(norm, "id", json_string(id));
    json_object_set_new(norm, "sortOrder", json_integer(order));
    *out = norm;
    json_decref(s);
    return VX_OK;
}

/* Tags through the API's rules (type a name, value 1-100 characters). */
static vx_status one_tag(imp *m, const json_t *tag, const char *path,
                         json_t *tags)
{
    char q[200];
    snprintf(q, sizeof(q), "%s/tagType", path);
    vx_status st =
        svc__check_name(m->c, json_object_get(tag, "type"), q, "tag type");
    const json_t *v = json_object_get(tag, "value");
    snprintf(q, sizeof(q), "%s/tagValue", path);
    if (st == VX_OK && (!json_is_string(v) || json_string_length(v) == 0 ||
                        json_string_length(v) > 100))
        st =
            svc__fail(m->c, VX_EINVAL, q, "tag value must be 1-100 characters");
    if (st == VX_OK)
        json_array_append(tags, (json_t *)tag);
    return keep(m, st, "");
}

/* A flag type an export file uses and Vexil lacks (Unleash 8's "sunset"):
 * made with no lifetime, and said so. */
static vx_status make_type(imp *m, const char *type, const char *path)
{
    json_t *id = json_string(type);
    vx_status st = keep(m, svc__check_name(m->c, id, path, "flag type"), "");
    json_decref(id);
    if (st != VX_OK || !svc__name_ok(type))
        return st;
    json_t *doc = json_pack("{ss ss ss sn}", "id", type, "name", type,
                            "description", "", "lifetimeDays");
    st = svc__put(m->c, STORE_FEATURE_TYPE, type, NULL, doc);
    if (st == VX_OK)
        st = svc__audit(m->c, "feature-type-created", NULL, NULL, NULL, doc,
                        NULL);
    if (st == VX_OK) {
        add_name(m->created, "featureTypes", type);
        note(m, "featureType", type,
             "an export file has no flag types: made with no lifetime (set "
             "one with PUT /api/admin/feature-types/%s/lifetime)",
             type);
    }
    json_decref(doc);
    return st;
}

/* Builds (or updates) the Vexil document of flag `name` from its gathered
 * form; `*doc` is NULL when the flag was refused. */
static vx_status build_flag(imp *m, const char *name, json_t *g, json_t **doc,
                            bool *is_new)
{
    *doc = NULL;
    const json_t *meta = json_object_get(g, "meta");
    const char *path = json_string_value(json_object_get(g, "path"));
    char q[200];
    size_t before = json_array_size(m->problems);
    snprintf(q, sizeof(q), "%s/name", path);
    json_t *jname = json_string(name);
    vx_status st = keep(m, svc__check_name(m->c, jname, q, "name"), "");
    json_decref(jname);
    const char *project =
        m->project ? m->project
                   : json_string_value(json_object_get(meta, "project"));
    if (!project)
        project = "default";
    snprintf(q, sizeof(q), "%s/project", path);
    if (st == VX_OK)
        st = ensure_project(m, project, NULL, q);
    const char *type = json_string_value(json_object_get(meta, "type"));
    if (!type)
        type = "release";
    bool have_type = false;
    if (st == VX_OK)
        st = exists(m, STORE_FEATURE_TYPE, type, &have_type);
    snprintf(q, sizeof(q), "%s/type", path);
    if (st == VX_OK && !have_type && !json_object_get(m->doc, "featureTypes"))
        st = make_type(m, type, q);
    else if (st == VX_OK && !have_type)
        st = problem(m, q, "unknown flag type '%s'", type);
    json_t *f = NULL;
    if (st == VX_OK) {
        st = svc__get(m->c, STORE_FEATURE, name, &f);
        *is_new = st == VX_ENOTFOUND;
        if (st == VX_ENOTFOUND)
            st = VX_OK;
    }
    size_t conflicts = json_array_size(m->problems);
    if (st == VX_OK && f) {
        const char *fp = json_string_value(json_object_get(f, "project"));
        if (strcmp(fp, project) != 0)
            st = problem(m, path,
                         "Vexil has a flag '%s' in project '%s' (here: '%s'): "
                         "rename or delete one of them first",
                         name, fp, project);
        else if (json_is_true(json_object_get(f, "archived")) !=
                 json_is_true(json_object_get(meta, "archived")))
            st = problem(m, path,
                         "Vexil has '%s' %s: revive or delete it first", name,
                         json_is_true(json_object_get(f, "archived"))
                             ? "archived"
                             : "live, and Unleash has it archived");
    }
    /* The description as the API would take it (a string, 10,000 bytes at
     * most): nothing is stored that a later edit would refuse. */
    const char *desc_in = NULL;
    if (st == VX_OK)
        st = keep(m, svc__opt_string(m->c, meta, "description", "", &desc_in),
                  path);
    if (st != VX_OK) {
        json_decref(f);
        return st;
    }
    /* A refused flag is still walked to the end, so that a dry run lists
     * every problem it has (on a fresh document when it collides with
     * Vexil's). */
    if (f && json_array_size(m->problems) > conflicts) {
        json_decref(f);
        f = NULL;
    }
    if (!f) {
        f = json_pack("{ss ss ss ss sb sb sb sn so so sn s[] s[] s[]}", "name",
                      name, "project", project, "type", type, "description", "",
                      "impressionData", 0, "stale", 0, "archived", 0,
                      "archivedAt", "createdAt", svc__time_json(m->c->now_ms),
                      "updatedAt", svc__time_json(m->c->now_ms), "lastSeenAt",
                      "tags", "dependencies", "environments");
        size_t i;
        json_t *e;
        json_array_foreach (m->envs, i, e) {
            json_array_append_new(
                json_object_get(f, "environments"),
                json_pack("{sO sb s[] s[]}", "name", json_object_get(e, "name"),
                          "enabled", 0, "strategies", "variants"));
        }
    }
    const char *desc = json_string_value(json_object_get(meta, "description"));
    json_object_set_new(f, "type", json_string(type));
    json_object_set_new(f, "description", json_string(desc ? desc : ""));
    json_object_set_new(
        f, "impressionData",
        json_boolean(json_is_true(json_object_get(meta, "impressionData"))));
    json_object_set_new(
        f, "stale", json_boolean(json_is_true(json_object_get(meta, "stale"))));
    if (json_is_true(json_object_get(meta, "archived")) &&
        !json_is_true(json_object_get(f, "archived"))) {
        json_object_set_new(f, "archived", json_true());
        json_object_set_new(f, "archivedAt", svc__time_json(m->c->now_ms));
    }
    /* Environments. */
    const char *env;
    json_t *ge;
    json_object_foreach (json_object_get(g, "envs"), env, ge) {
        json_t *fe = svc__feature_env(f, env);
        json_t *strategies = json_array();
        size_t i;
        json_t *s;
        if (json_array_size(json_object_get(ge, "strategies")) >
            VX_LIMIT_STRATEGIES)
            problem(m, path, "more than %d strategies in %s",
                    VX_LIMIT_STRATEGIES, env);
        json_array_foreach (json_object_get(ge, "strategies"), i, s) {
            json_t *one = NULL;
            if (st == VX_OK)
                st = one_strategy(m, name, json_array_get(s, 0),
                                  json_string_value(json_array_get(s, 1)),
                                  (int)i, &one);
            if (one)
                json_array_append_new(strategies, one);
        }
        json_t *vs = NULL;
        const json_t *vin = json_object_get(ge, "variants");
        if (st == VX_OK) {
            const char *vp = json_string_value(json_object_get(ge, "vpath"));
            st = keep(
                m,
                svc__norm_variants(m->c, vin, vp ? vp : path, "default", &vs),
                "");
        }
        if (vs)
            vs = as_stored(vin, vs);
        json_object_set_new(fe, "strategies", strategies);
        json_object_set_new(fe, "variants", vs ? vs : json_array());
        json_object_set(fe, "enabled", json_object_get(ge, "enabled"));
    }
    /* Tags: added to those the flag has. */
    size_t i;
    json_t *t;
    json_t *tags = json_object_get(f, "tags");
    json_array_foreach (json_object_get(g, "tags"), i, t) {
        bool dup = false;
        size_t k;
        json_t *x;
        json_array_foreach (tags, k, x) {
            dup = dup || json_equal(x, json_array_get(t, 0));
        }
        if (!dup && st == VX_OK)
            st = one_tag(m, json_array_get(t, 0),
                         json_string_value(json_array_get(t, 1)), tags);
    }
    /* A model flag's upstream payloads, as the gateway reads them: a
     * problem like any other, so a dry run lists it. */
    if (st == VX_OK)
        st = keep(m, svc__model_check_save(m->c, f), "");
    if (st != VX_OK || json_array_size(m->problems) > before) {
        json_decref(f);
        return st;
    }
    *doc = f;
    return VX_OK;
}

/* The live flag `name` as the import leaves it: the imported document,
 * else Vexil's own (borrowed into *f, new reference). */
static vx_status flag_after(imp *m, json_t *docs, const char *name, json_t **f)
{
    *f = json_incref(json_object_get(docs, name));
    if (*f)
        return VX_OK;
    vx_status st = svc__get(m->c, STORE_FEATURE, name, f);
    if (st == VX_ENOTFOUND) {
        memset(m->c->err, 0, sizeof(*m->c->err));
        return VX_OK;
    }
    return st;
}

/* Dependencies, once every flag is built: the API's rules (parent exists
 * and is live, same project, one level, not itself). */
static vx_status link_deps(imp *m, json_t *docs)
{
    vx_status st = VX_OK;
    size_t i, k;
    json_t *n, *d;
    json_array_foreach (m->order, i, n) {
        const char *child = json_string_value(n);
        json_t *g = json_object_get(m->flags, child);
        json_t *cf = json_object_get(docs, child);
        if (!cf || !json_is_true(json_object_get(g, "hasDeps")))
            continue;
        json_t *deps = json_array();
        json_array_foreach (json_object_get(g, "deps"), k, d) {
            const json_t *dep = json_array_get(d, 0);
            const char *path = json_string_value(json_array_get(d, 1));
            const char *parent =
                json_string_value(json_object_get(dep, "feature"));
            json_t *pf = NULL;
            if (st == VX_OK && parent)
                st = flag_after(m, docs, parent, &pf);
            if (st != VX_OK)
                break;
            const char *why = NULL;
            char buf[256];
            if (parent && !pf && json_object_get(m->flags, parent)) {
                json_decref(pf); /* refused itself: its problem says why */
                continue;
            }
            if (!parent || !pf || json_is_true(json_object_get(pf, "archived")))
                why = "does not exist (or is archived)";
            else if (strcmp(parent, child) == 0)
                why = "is the flag itself";
            else if (!json_equal(json_object_get(pf, "project"),
                                 json_object_get(cf, "project"))) {
                snprintf(buf, sizeof(buf),
                         "is in project '%s': a flag can only depend on flags "
                         "of its own project",
                         json_string_value(json_object_get(pf, "project")));
                why = buf;
            }
            json_t *pg = parent ? json_object_get(m->flags, parent) : NULL;
            bool parent_has =
                pg ? json_array_size(json_object_get(pg, "deps")) > 0
                   : json_array_size(json_object_get(pf, "dependencies")) > 0;
            if (!why && parent_has)
                why = "has parents itself: only one level of dependencies";
            if (why) {
                problem(m, path, "parent flag '%s' of '%s' %s",
                        parent ? parent : "?", child, why);
                json_decref(pf);
                continue;
            }
            json_t *vars = json_array();
            const json_t *vin = json_object_get(dep, "variants");
            size_t j;
            const json_t *v;
            json_array_foreach (vin, j, v) {
                if (json_is_string(v))
                    json_array_append(vars, (json_t *)v);
            }
            const json_t *en = json_object_get(dep, "enabled");
            /* One entry per parent, as the API keeps them (Unleash 8.2 may
             * list a dependency once per environment). */
            for (size_t k2 = 0; k2 < json_array_size(deps); k2++) {
                if (strcmp(json_string_value(json_object_get(
                               json_array_get(deps, k2), "feature")),
                           parent) == 0) {
                    json_array_remove(deps, k2);
                    break;
                }
            }
            json_array_append_new(
                deps, json_pack("{ss sb so}", "feature", parent, "enabled",
                                !json_is_false(en), "variants", vars));
            json_decref(pf);
        }
        if (json_is_true(json_object_get(cf, "archived"))) {
            if (json_array_size(deps))
                note(m, "dependencies", child,
                     "archived flags keep no dependencies (as in Unleash)");
            json_array_clear(deps);
        }
        json_object_set_new(cf, "dependencies", deps);
    }
    return st;
}

/* A child in Vexil (not in the import) whose parent is being imported with
 * parents of its own would be two levels deep. */
static vx_status check_children(imp *m, json_t *docs)
{
    json_t *all = NULL;
    vx_status st = svc__list(m->c, STORE_FEATURE, NULL, &all);
    size_t i, j;
    json_t *f, *d;
    json_array_foreach (all, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (json_object_get(docs, name) ||
            json_is_true(json_object_get(f, "archived")))
            continue;
        json_array_foreach (json_object_get(f, "dependencies"), j, d) {
            const char *parent =
                json_string_value(json_object_get(d, "feature"));
            json_t *p = parent ? json_object_get(docs, parent) : NULL;
            const char *at = json_string_value(
                json_object_get(json_object_get(m->flags, parent), "path"));
            if (p && json_array_size(json_object_get(p, "dependencies")))
                problem(m, at ? at : "/exports",
                        "'%s' would get parents, but Vexil's '%s' depends on "
                        "it: only one level of dependencies",
                        parent, name);
        }
    }
    json_decref(all);
    return st;
}

static vx_status import_flags(imp *m, const json_t *exports)
{
    vx_status st = gather(m, exports);
    if (st == VX_OK)
        sort_strategies(m);
    json_t *docs = json_object();
    if (st == VX_OK && json_array_size(m->order) > VX_LIMIT_FLAGS)
        st = svc__fail(m->c, VX_ELIMIT, "/exports", "more than %d flags",
                       VX_LIMIT_FLAGS);
    size_t i;
    json_t *n;
    json_array_foreach (m->order, i, n) {
        if (st != VX_OK)
            break;
        const char *name = json_string_value(n);
        json_t *g = json_object_get(m->flags, name), *doc = NULL;
        bool is_new = false;
        if (!json_object_get(g, "meta")) {
            problem(m, "/exports",
                    "flag '%s' has a state but no entry in any "
                    "export's \"features\"",
                    name);
            continue;
        }
        st = build_flag(m, name, g, &doc, &is_new);
        if (doc) {
            json_object_set_new(docs, name, doc);
            add_name(is_new ? m->created : m->updated, "flags", name);
        }
    }
    if (st == VX_OK)
        st = link_deps(m, docs);
    if (st == VX_OK)
        st = check_children(m, docs);
    /* Written only when nothing was refused: an import is all or nothing. */
    json_array_foreach (m->order, i, n) {
        if (st != VX_OK || json_array_size(m->problems) > 0)
            break;
        const char *name = json_string_value(n);
        json_t *doc = json_object_get(docs, name);
        st = svc__feature_save(m->c, doc);
        json_t *data = json_pack("{ss}", "from", "unleash");
        if (st == VX_OK)
            st = svc__audit(m->c, "feature-imported",
                            json_string_value(json_object_get(doc, "project")),
                            NULL, name, data, NULL);
        json_decref(data);
    }
    json_decref(docs);
    return st;
}

/* ---- tokens, context fields, tag types ----------------------------------- */

/* True when Vexil has a live token of the same name, kind, environment and
 * projects as `body` (a token-create body): running the import again must
 * not mint a second secret for the same application. */
static vx_status token_exists(imp *m, const json_t *body, bool *have)
{
    *have = false;
    const char *type = json_string_value(json_object_get(body, "type"));
    const char *kind = strcasecmp(type, "backend") == 0 ? "client" : type;
    const char *env = json_string_value(json_object_get(body, "environment"));
    json_t *want = json_object_get(body, "projects");
    json_t *all = NULL;
    json_t *star = json_pack("[s]", "*");
    if (!want || json_array_size(want) == 0)
        want = star;
    if (strcasecmp(kind, "admin") == 0)
        env = "*";
    vx_status st = svc__list(m->c, STORE_TOKEN, NULL, &all);
    size_t i;
    json_t *t;
    json_array_foreach (all, i, t) {
        if (json_is_true(json_object_get(t, "revoked")))
            continue;
        const char *te = json_string_value(json_object_get(t, "environment"));
        *have =
            *have || (json_equal(json_object_get(t, "tokenName"),
                                 json_object_get(body, "tokenName")) &&
                      strcasecmp(json_string_value(json_object_get(t, "type")),
                                 kind) == 0 &&
                      te && env && strcmp(te, env) == 0 &&
                      json_equal(json_object_get(t, "projects"), want));
    }
    json_decref(star);
    json_decref(all);
    return st;
}

static vx_status import_tokens(imp *m)
{
    const json_t *list = NULL;
    vx_status st =
        opt_array(m, m->doc, "apiTokens", "", VX_LIMIT_UNLEASH_TOKENS, &list);
    size_t i;
    const json_t *t;
    json_array_foreach (list, i, t) {
        if (st != VX_OK || json_array_size(m->problems) > 0)
            break;
        char path[64];
        snprintf(path, sizeof(path), "/apiTokens/%zu", i);
        const char *tname = json_string_value(json_object_get(t, "tokenName"));
        const char *type = json_string_value(json_object_get(t, "type"));
        const char *exp = json_string_value(json_object_get(t, "expiresAt"));
        if (!tname || !type) {
            problem(m, path, "a token without a tokenName or type");
            continue;
        }
        if (exp && strcmp(exp, "") != 0) {
            char now[32];
            svc__time_str(m->c->now_ms, now);
            if (strcmp(exp, now) <= 0) {
                note(m, "token", tname, "expired in Unleash: not carried over");
                continue;
            }
        }
        /* Vexil's token names are URL-safe names: other characters become
         * '-'. */
        char safe[101];
        size_t n = 0;
        for (const char *p = tname; *p && n < 100; p++)
            safe[n++] = isalnum((unsigned char)*p) || strchr("-_.~!*'()", *p)
                            ? *p
                            : '-';
        safe[n] = '\0';
        if (n == 0 || strcmp(safe, tname) != 0)
            note(m, "token", tname, "named '%s' in Vexil", n ? safe : "token");
        json_t *body =
            json_pack("{ss ss}", "tokenName", n ? safe : "token", "type", type);
        const json_t *env = json_object_get(t, "environment");
        if (json_is_string(env))
            json_object_set(body, "environment", (json_t *)env);
        const json_t *projects = json_object_get(t, "projects");
        if (!json_is_array(projects) &&
            json_is_string(json_object_get(t, "project")))
            json_object_set_new(
                body, "projects",
                json_pack("[O]", json_object_get(t, "project")));
        else if (json_is_array(projects))
            json_object_set(body, "projects", (json_t *)projects);
        if (exp)
            json_object_set_new(body, "expiresAt", json_string(exp));
        bool have = false;
        st = token_exists(m, body, &have);
        if (st == VX_OK && have) { /* an earlier import made it */
            add_name(m->reused, "tokens",
                     json_string_value(json_object_get(body, "tokenName")));
            json_decref(body);
            continue;
        }
        svc_req req = {.op = SVC_OP_TOKEN_CREATE, .body = body};
        json_t *made = NULL;
        st = run_op(m, svc__op_TOKEN_CREATE, &req, path, &made);
        if (made) {
            json_array_append(m->tokens, made);
            json_t *view = json_deep_copy(made);
            json_object_del(view, "secret");
            json_t *arr = json_object_get(m->created, "tokens");
            if (!arr) {
                arr = json_array();
                json_object_set_new(m->created, "tokens", arr);
            }
            json_array_append_new(arr, view);
        }
        json_decref(made);
        json_decref(body);
    }
    return st;
}

static void note_unmapped(imp *m)
{
    size_t i;
    const json_t *x;
    json_array_foreach (json_object_get(m->doc, "contextFields"), i, x) {
        const char *name = json_string_value(json_object_get(x, "name"));
        size_t legal = json_array_size(json_object_get(x, "legalValues"));
        static const char *const builtin[] = {"appName",     "currentTime",
                                              "environment", "sessionId",
                                              "userId",      "remoteAddress"};
        bool is_builtin = false;
        for (size_t k = 0; name && k < 6; k++)
            is_builtin = is_builtin || strcmp(name, builtin[k]) == 0;
        if (name && (!is_builtin || legal))
            note(m, "contextField", name,
                 "Vexil keeps no context-field list: constraints name any "
                 "field%s",
                 legal ? "; its legal values are not enforced" : "");
    }
    json_array_foreach (json_object_get(m->doc, "tagTypes"), i, x) {
        const char *name = json_string_value(json_object_get(x, "name"));
        if (name && strcmp(name, "simple") != 0)
            note(m, "tagType", name,
                 "Vexil keeps no tag-type list: tags keep their type name; "
                 "its description and icon are not carried over");
    }
    if (json_array_size(json_object_get(m->doc, "apiTokens")))
        note(m, "token", NULL,
             "secrets are never carried over: each token gets a new secret "
             "(shown once, in this answer); give it to its application");
}

/* ---- the operation ------------------------------------------------------ */

static json_t *num_of(const json_t *group)
{
    json_t *o = json_object();
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)group, k, v) {
        json_object_set_new(o, k, json_integer((json_int_t)json_array_size(v)));
    }
    return o;
}

vx_status svc__op_IMPORT_UNLEASH(svc_ctx *c, json_t **out)
{
    const json_t *b = c->req->body;
    imp m = {.c = c, .doc = b};
    int dry = -1;
    const char *qdry =
        json_string_value(json_object_get(c->req->query, "dryRun"));
    const json_t *exports = NULL;
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = svc__opt_bool(c, b, "dryRun", "", &dry);
    if (st == VX_OK)
        st = svc__opt_string(c, b, "project", "", &m.project);
    if (st == VX_OK)
        st =
            opt_array(&m, b, "exports", "", VX_LIMIT_UNLEASH_EXPORTS, &exports);
    if (st != VX_OK)
        return st;
    bool dry_run = dry == 1 || (qdry && strcmp(qdry, "true") == 0);
    m.problems = json_array();
    m.notes = json_array();
    m.created = json_object();
    m.updated = json_object();
    m.reused = json_object();
    m.tokens = json_array();
    m.segmap = json_object();
    m.segnames = json_object();
    m.flags = json_object();
    m.order = json_array();
    if (m.project)
        st = keep(&m,
                  svc__check_name(c, json_object_get(b, "project"), "/project",
                                  "project"),
                  "");
    if (st == VX_OK)
        st = import_projects(&m);
    if (st == VX_OK)
        st = import_envs(&m, exports);
    if (st == VX_OK)
        st = import_feature_types(&m);
    if (st == VX_OK)
        st = import_strategies(&m);
    if (st == VX_OK)
        st = import_segments(&m);
    if (st == VX_OK)
        st = map_export_segments(&m, exports);
    if (st == VX_OK)
        st = import_flags(&m, exports);
    if (st == VX_OK)
        st = import_tokens(&m);
    if (st == VX_OK)
        note_unmapped(&m);
    size_t nproblems = json_array_size(m.problems);
    json_t *summary = NULL;
    if (st == VX_OK) {
        summary = json_pack("{sO* so so}", "source",
                            json_object_get(b, "source"), "created",
                            num_of(m.created), "updated", num_of(m.updated));
        if (!dry_run && nproblems == 0)
            st = svc__audit(c, "unleash-imported", NULL, NULL, NULL, summary,
                            NULL);
    }
    if (st == VX_OK && !dry_run && nproblems > 0) {
        const json_t *p0 = json_array_get(m.problems, 0);
        st = svc__fail(c, VX_EINVAL,
                       json_string_value(json_object_get(p0, "path")),
                       "nothing was imported: %zu problem%s (a dry run lists "
                       "them all); the first: %s",
                       nproblems, nproblems == 1 ? "" : "s",
                       json_string_value(json_object_get(p0, "message")));
    }
    if (st == VX_OK) {
        c->rollback = dry_run; /* a dry run does it all, then rolls back */
        *out = json_pack("{sb sb sO sO sO sO sO so}", "dryRun", dry_run, "ok",
                         nproblems == 0, "created", m.created, "updated",
                         m.updated, "reused", m.reused, "problems", m.problems,
                         "notCarriedOver", m.notes, "counts",
                         json_pack("{so so}", "created", num_of(m.created),
                                   "updated", num_of(m.updated)));
        if (!dry_run)
            json_object_set(*out, "tokens", m.tokens);
    }
    json_decref(summary);
    json_decref(m.problems);
    json_decref(m.notes);
    json_decref(m.created);
    json_decref(m.updated);
    json_decref(m.reused);
    json_decref(m.tokens);
    json_decref(m.segmap);
    json_decref(m.segnames);
    json_decref(m.flags);
    json_decref(m.order);
    json_decref(m.envs);
    return st;
}
