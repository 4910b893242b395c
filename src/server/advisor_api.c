/* The advisor endpoints (see advisor_api.h): read what the question needs
 * through the service (short calls, each under the service mutex), ask the
 * advisor (no lock held; the model may take seconds), store the answer as
 * an audit event, reply. When a model is configured and a slot is free, all
 * of that runs on a detached thread while the request is suspended, so no
 * HTTP worker waits on the model. A model that cannot be reached is
 * replaced by the deterministic advisor, and the answer says so; a model
 * whose answers do not validate is an error (502), never a half-checked
 * proposal. */
#include "server/advisor_api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ai/advisor.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"
#include "server/seen.h"

#define PREFIX "/api/admin/advisor/"

struct advisor_api {
    service *svc;              /* borrowed */
    ai_llm *llm;               /* borrowed, may be NULL */
    server_seen *seen;         /* borrowed, may be NULL: recent SDK contexts */
    unsigned policy;           /* AI_AUTO_* rollout advice applied unattended */
    int confirm_above;         /* a first step above this % needs "confirm" */
    bool plan_api;             /* release plans exist: the policy may act */
    void (*changed)(void *ud); /* called after the policy changed a flag */
    void *changed_ud;          /* passed to changed */
    unsigned max_inflight;     /* concurrent model calls allowed */
    atomic_uint inflight;      /* model calls running now */
    pthread_mutex_t mu;        /* guards the three fields below */
    pthread_cond_t idle;       /* signalled when jobs drops to 0 */
    unsigned jobs;             /* deferred requests whose thread runs */
    bool stopping;             /* advisor_api_stop was called */
};

/* A deferred request, in the request's arena (gone once resumed). */
typedef struct job {
    advisor_api *a;    /* the API */
    svc_principal who; /* the caller, copied */
    http_req *r;       /* the suspended request */
} job;

/* Context fields every Unleash SDK sends. */
static const char *const STANDARD_FIELDS[] = {
    "userId",      "sessionId", "remoteAddress",
    "environment", "appName",   "currentTime",
};

vx_status advisor_api_new(service *svc, ai_llm *llm, unsigned max_inflight,
                          advisor_api **out)
{
    advisor_api *a = vx__malloc(sizeof(*a));
    *out = NULL;
    if (!a)
        return VX_ENOMEM;
    a->svc = svc;
    a->llm = llm;
    a->seen = NULL;
    a->policy = 0;
    a->confirm_above = AI_CONFIRM_ABOVE_DEFAULT;
    a->plan_api = false;
    a->changed = NULL;
    a->changed_ud = NULL;
    a->max_inflight = max_inflight ? max_inflight : 1;
    atomic_init(&a->inflight, 0);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->idle, NULL);
    a->jobs = 0;
    a->stopping = false;
    *out = a;
    return VX_OK;
}

void advisor_api_set_seen(advisor_api *a, server_seen *seen)
{
    a->seen = seen;
}

void advisor_api_set_policy(advisor_api *a, unsigned policy)
{
    a->policy = policy;
}

void advisor_api_set_confirm_above(advisor_api *a, int percent)
{
    a->confirm_above = percent;
}

void advisor_api_set_plans(advisor_api *a, void (*changed)(void *ud), void *ud)
{
    a->plan_api = true;
    a->changed = changed;
    a->changed_ud = ud;
}

void advisor_api_stop(advisor_api *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    pthread_mutex_unlock(&a->mu);
    if (a->llm)
        ai_llm_cancel(a->llm); /* jobs fall back and answer at once */
    pthread_mutex_lock(&a->mu);
    while (a->jobs > 0)
        pthread_cond_wait(&a->idle, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

void advisor_api_free(advisor_api **a)
{
    if (!a || !*a)
        return;
    advisor_api_stop(*a);
    pthread_cond_destroy(&(*a)->idle);
    pthread_mutex_destroy(&(*a)->mu);
    vx__free(*a);
    *a = NULL;
}

static bool path_eq(const http_req *r, const char *want)
{
    size_t n = strlen(want);
    return http_req_path_len(r) == n && memcmp(http_req_path(r), want, n) == 0;
}

bool advisor_api_owns(const http_req *r)
{
    size_t n = sizeof(PREFIX) - 1;
    return http_req_path_len(r) >= n &&
           memcmp(http_req_path(r), PREFIX, n) == 0;
}

bool advisor_api_route(http_req *r)
{
    if (!path_eq(r, PREFIX "targeting") && !path_eq(r, PREFIX "changelog") &&
        !path_eq(r, PREFIX "rollout") && !path_eq(r, PREFIX "plan") &&
        !path_eq(r, PREFIX "incident")) {
        http_reply_problem(r, 404, "no such route", "", NULL);
        return false;
    }
    if (strcmp(http_req_method(r), "POST") != 0) {
        http_reply_header(r, "Allow", "POST");
        http_reply_problem(r, 405, "method not allowed", "", NULL);
        return false;
    }
    return true;
}

/* ---- reading what a question needs, through the service ----------------- */

static vx_status call(advisor_api *a, const svc_principal *who, svc_op op,
                      const char *project, const json_t *query, json_t **out,
                      vx_error *err)
{
    svc_req req = {.op = op, .project = project, .query = query};
    return svc_call(a->svc, who, &req, out, err);
}

/* The redaction gate of one question: every private value of the whole
 * state (constraint and segment values, user ids, IPs, host names,
 * payloads, overrides, tag values) and of `extra` (the audit events, a
 * plan status or an event the question reads; may be NULL) is denied, and
 * the names of flags, projects, environments and `fields` stay. NULL with
 * `err` set when the state cannot be read. */
static ai_scrub *privacy_new(advisor_api *a, const svc_principal *who,
                             const json_t *extra, const json_t *fields,
                             vx_error *err)
{
    json_t *state = NULL;
    ai_scrub *s = ai_scrub_new();
    svc_req req = {.op = SVC_OP_EXPORT};
    vx_status st = s ? svc_call(a->svc, who, &req, &state, err) : VX_ENOMEM;
    if (st == VX_OK)
        st = ai_scrub_deny_private(s, state);
    if (st == VX_OK && extra)
        st = ai_scrub_deny_private(s, extra);
    static const char *const NAMED[][2] = {
        {"features", "name"}, {"projects", "id"}, {"environments", "name"}};
    for (size_t k = 0; st == VX_OK && k < 3; k++) {
        size_t i;
        const json_t *o;
        json_array_foreach (json_object_get(state, NAMED[k][0]), i, o) {
            if (st == VX_OK)
                st = ai_scrub_allow_json(s, json_object_get(o, NAMED[k][1]));
        }
    }
    if (st == VX_OK && fields)
        st = ai_scrub_allow_json(s, fields);
    json_decref(state);
    if (st != VX_OK) {
        if (st == VX_ENOMEM || st == VX_ELIMIT)
            vx__error_set(err, st, "", "the redaction gate could not be built");
        ai_scrub_free(&s);
    }
    return s;
}

/* The request's "confirm": true (a person confirms a large first step). */
static bool confirmed(const json_t *body)
{
    return json_is_true(json_object_get(body, "confirm"));
}

static void add_field(json_t *fields, const char *name)
{
    size_t i;
    const json_t *f;
    if (!name || !*name || json_array_size(fields) >= VX_LIMIT_AI_FIELDS)
        return;
    json_array_foreach (fields, i, f) {
        if (strcmp(json_string_value(f), name) == 0)
            return;
    }
    json_array_append_new(fields, json_string(name));
}

/* Adds every contextName found under `doc` (strategies, segments,
 * variant overrides). Field names only: never the values. */
static void collect_fields(json_t *fields, const json_t *doc)
{
    if (json_is_array(doc)) {
        size_t i;
        const json_t *e;
        json_array_foreach (doc, i, e)
            collect_fields(fields, e);
    } else if (json_is_object(doc)) {
        const char *k;
        const json_t *v;
        json_object_foreach ((json_t *)doc, k, v) {
            if (strcmp(k, "contextName") == 0 && json_is_string(v))
                add_field(fields, json_string_value(v));
            else
                collect_fields(fields, v);
        }
    }
}

/* A string member: absent -> `dflt`; wrong type -> VX_EINVAL with path. */
static vx_status opt_str(const json_t *body, const char *key, const char *dflt,
                         size_t max, const char **out, vx_error *err)
{
    const json_t *v = json_object_get(body, key);
    char path[64];
    snprintf(path, sizeof(path), "/%s", key);
    *out = dflt;
    if (!v || json_is_null(v))
        return VX_OK;
    if (!json_is_string(v))
        return vx__error_set(err, VX_EINVAL, path, "%s must be a string", key);
    if (json_string_length(v) > max)
        return vx__error_set(err, VX_ELIMIT, path,
                             "%s is longer than %zu bytes", key, max);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return vx__error_set(err, VX_EINVAL, path, "%s holds a NUL byte", key);
    *out = json_string_value(v);
    return VX_OK;
}

static bool env_exists(const json_t *list, const char *env)
{
    size_t i;
    const json_t *e;
    json_array_foreach (json_object_get(list, "environments"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), env) == 0)
            return true;
    }
    return false;
}

typedef struct check_ud {
    service *svc;
    const char *flag; /* groupId for the validation */
} check_ud;

static vx_status check_strategy(void *ud, const json_t *strategy, json_t **out,
                                vx_error *err)
{
    const check_ud *c = ud;
    return svc_strategy_check(c->svc, strategy, c->flag, out, err);
}

/* Reserves a model slot; false when the advisor is at its limit. */
static bool slot_take(advisor_api *a)
{
    unsigned n = atomic_fetch_add(&a->inflight, 1);
    if (n >= a->max_inflight) {
        atomic_fetch_sub(&a->inflight, 1);
        return false;
    }
    return true;
}

static void slot_give(advisor_api *a)
{
    atomic_fetch_sub(&a->inflight, 1);
}

/* Runs `fn` with the model when `use_model` (the caller holds a slot);
 * when the model cannot be reached, or there is none free, runs it
 * deterministically and notes why. */
typedef vx_status (*advise_fn)(ai_llm *llm, const void *req, json_t **answer,
                               vx_error *err);

static vx_status advise(advisor_api *a, bool use_model, advise_fn fn,
                        const void *req, json_t **answer, vx_error *err)
{
    char why[VX_ERROR_MSG_MAX + 64] = "";
    if (a->llm && use_model) {
        vx_status st = fn(a->llm, req, answer, err);
        /* EIO: unreachable, timed out, HTTP error; EPARSE: what answered
         * does not speak the protocol (a proxy's HTML page...); ELIMIT: a
         * prompt or an answer over its cap (bad input is refused again by
         * the deterministic run). An answer that did not validate is
         * VX_ESCHEMA and stays an error. */
        if (st != VX_EIO && st != VX_EPARSE && st != VX_ELIMIT)
            return st;
        snprintf(why, sizeof(why), "%s", err->message);
    } else if (a->llm) {
        snprintf(why, sizeof(why),
                 "the model is busy with %u other question(s), or the "
                 "server is stopping",
                 a->max_inflight);
    }
    memset(err, 0, sizeof(*err));
    vx_status st = fn(NULL, req, answer, err);
    if (st == VX_OK && why[0]) {
        /* named as such: the person sees that no model answered */
        json_object_set_new(*answer, "modelError", json_string(why));
        json_object_set_new(*answer, "fallback", json_true());
        char note[VX_ERROR_MSG_MAX + 128];
        snprintf(note, sizeof(note),
                 "fallback: the model did not answer (%s); this is the "
                 "deterministic advisor's answer",
                 why);
        json_object_set_new(*answer, "fallbackNote", json_string(note));
    }
    return st;
}

static vx_status targeting_fn(ai_llm *llm, const void *req, json_t **answer,
                              vx_error *err)
{
    return ai_advise_targeting(llm, req, answer, err);
}

static vx_status changelog_fn(ai_llm *llm, const void *req, json_t **answer,
                              vx_error *err)
{
    return ai_advise_changelog(llm, req, answer, err);
}

/* Stores the answer with its inputs; adds "recommendationId". */
static vx_status record(advisor_api *a, const svc_principal *who,
                        const char *kind, const char *project, const char *env,
                        json_t *input, json_t *answer, vx_error *err)
{
    int64_t id = 0;
    json_t *data = json_pack("{ss sO sO sO}", "kind", kind, "advisor",
                             json_object_get(answer, "advisor"), "input", input,
                             "output", answer);
    /* the flag the advice is about names the event's flag */
    const json_t *flag = json_object_get(input, "flag");
    if (!json_is_string(flag))
        flag = json_object_get(json_object_get(input, "status"), "flag");
    if (!json_is_string(flag))
        flag = json_object_get(json_object_get(input, "facts"), "flag");
    if (data && json_is_string(flag))
        json_object_set(data, "flag", (json_t *)flag);
    if (!data)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    vx_status st = svc_record_advice(a->svc, who, project, env, data, &id, err);
    json_decref(data);
    if (st == VX_OK)
        json_object_set_new(answer, "recommendationId", json_integer(id));
    return st;
}

static void reply_advice_error(http_req *r, vx_status st, const vx_error *err)
{
    if (st == VX_ESCHEMA || st == VX_EPARSE)
        http_reply_problem(r, 502, "the model's answer did not validate",
                           err->path, err->message);
    else
        http_reply_error(r, st, err);
}

/* Stores the answer with its inputs (`input` NULL: out of memory) and
 * replies with it, or with the error. */
static void reply_recorded(advisor_api *a, const svc_principal *who,
                           http_req *r, const char *kind, const char *project,
                           const char *env, json_t *input, json_t *answer,
                           vx_error *err)
{
    vx_status st = input
                       ? record(a, who, kind, project, env, input, answer, err)
                       : VX_ENOMEM;
    if (st != VX_OK)
        http_reply_error(r, st, err);
    else
        http_reply_json_people(r, 200, answer);
}

/* Appends `text` to the answer's "warnings". */
static void warn(json_t *answer, const char *text)
{
    json_t *w = json_object_get(answer, "warnings");
    if (!json_is_array(w)) {
        w = json_array();
        json_object_set_new(answer, "warnings", w);
    }
    json_array_append_new(w, json_string(text));
}

/* Checks a proposed (validated) strategy against what SDKs actually sent:
 * "unseenFields" lists constraint fields no recent context carried, and
 * "dryRun" counts the recent contexts it would match, evaluated by
 * libvexil on a one-flag snapshot. Nothing here reaches a prompt. */
static void check_seen(advisor_api *a, const char *project, const char *env,
                       const json_t *seen, const json_t *strategy,
                       json_t *answer)
{
    json_t *unseen = json_array(), *doc = NULL;
    vx_snapshot *snap = NULL;
    char *text = NULL;
    size_t i, j, matched = 0, total = 0;
    const json_t *c, *s;
    json_array_foreach (json_object_get(strategy, "constraints"), i, c) {
        const char *name = json_string_value(json_object_get(c, "contextName"));
        bool found = false;
        json_array_foreach (seen, j, s) {
            if (name && strcmp(json_string_value(s), name) == 0)
                found = true;
        }
        if (name && !found)
            add_field(unseen, name);
    }
    json_array_foreach (unseen, i, c) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "no recently seen context carried the field '%.100s'",
                 json_string_value(c));
        warn(answer, msg);
    }
    json_object_set(answer, "unseenFields", unseen);
    doc = json_pack("{si s[{ss ss sb so}] s[]}", "version", 2, "features",
                    "name", "advisor-dry-run", "type", "release", "enabled", 1,
                    "strategies", json_pack("[O]", strategy), "segments");
    if (doc)
        text = json_dumps(doc, JSON_COMPACT);
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (!text ||
        vx_snapshot_load(text, strlen(text), NULL, &snap, &err) != VX_OK) {
        warn(answer, "the dry run could not compile the proposal");
        goto out;
    }
    server_seen_dry_run(a->seen, project, env, snap, &matched, &total);
    json_object_set_new(
        answer, "dryRun",
        json_pack("{sI sI ss}", "contexts", (json_int_t)total, "matched",
                  (json_int_t)matched, "note",
                  "evaluated over the contexts recently seen by the "
                  "frontend API and OFREP in this environment (kept in "
                  "memory only)"));
out:
    vx_snapshot_unref(snap);
    free(text);
    json_decref(doc);
    json_decref(unseen);
}

static void targeting(advisor_api *a, const svc_principal *who, http_req *r,
                      const json_t *body, bool use_model, vx_error *err)
{
    json_t *proj = NULL, *envs = NULL, *feature = NULL, *fields = NULL,
           *segments = NULL, *answer = NULL, *input = NULL, *seen = NULL;
    ai_scrub *privacy = NULL;
    const char *project, *env, *sentence, *flag;
    vx_status st = opt_str(body, "project", "default", 100, &project, err);
    if (st == VX_OK)
        st = opt_str(body, "environment", "production", 100, &env, err);
    if (st == VX_OK)
        st = opt_str(body, "sentence", NULL, VX_LIMIT_AI_SENTENCE_BYTES,
                     &sentence, err);
    if (st == VX_OK)
        st = opt_str(body, "flag", NULL, 100, &flag, err);
    if (st == VX_OK && (!sentence || !*sentence))
        st = vx__error_set(err, VX_EINVAL, "/sentence",
                           "sentence is required: describe who should get "
                           "the feature");
    const json_t *extra = json_object_get(body, "contextFields");
    if (st == VX_OK && extra && !json_is_array(extra))
        st = vx__error_set(err, VX_EINVAL, "/contextFields",
                           "contextFields must be an array of field names");
    if (st == VX_OK && json_array_size(extra) > VX_LIMIT_AI_FIELDS)
        st = vx__error_set(err, VX_ELIMIT, "/contextFields",
                           "at most %d context fields", VX_LIMIT_AI_FIELDS);
    fields = json_array();
    size_t i;
    const json_t *f;
    json_array_foreach (extra, i, f) {
        if (st != VX_OK)
            break;
        if (!json_is_string(f) || json_string_length(f) == 0 ||
            json_string_length(f) > 100) {
            char p[64];
            snprintf(p, sizeof(p), "/contextFields/%zu", i);
            st = vx__error_set(err, VX_EINVAL, p,
                               "a context field name is a string of 1-100 "
                               "bytes");
        }
    }
    /* The project, environment and flag must exist; their flags and
     * segments tell which context fields the project uses. */
    if (st == VX_OK)
        st = call(a, who, SVC_OP_PROJECT_GET, project, NULL, &proj, err);
    if (st == VX_OK)
        st = call(a, who, SVC_OP_ENVIRONMENT_LIST, NULL, NULL, &envs, err);
    if (st == VX_OK && !env_exists(envs, env))
        st = vx__error_set(err, VX_ENOTFOUND, "/environment",
                           "environment '%s' not found", env);
    if (st == VX_OK && flag) {
        svc_req req = {
            .op = SVC_OP_FEATURE_GET, .project = project, .feature = flag};
        st = svc_call(a->svc, who, &req, &feature, err);
    }
    json_t *features = NULL;
    if (st == VX_OK)
        st = call(a, who, SVC_OP_FEATURE_LIST, project, NULL, &features, err);
    if (st == VX_OK)
        st = call(a, who, SVC_OP_SEGMENT_LIST, NULL, NULL, &segments, err);
    if (st != VX_OK) {
        json_decref(features);
        http_reply_error(r, st, err);
        goto out;
    }
    for (i = 0; i < sizeof(STANDARD_FIELDS) / sizeof(STANDARD_FIELDS[0]); i++)
        add_field(fields, STANDARD_FIELDS[i]);
    collect_fields(fields, features);
    collect_fields(fields, segments);
    seen = json_array();
    server_seen_fields(a->seen, project, env, seen);
    json_array_foreach (seen, i, f)
        add_field(fields, json_string_value(f));
    json_decref(features);
    json_array_foreach (extra, i, f)
        add_field(fields, json_string_value(f));

    check_ud cu = {a->svc, flag ? flag : "advisor"};
    privacy = privacy_new(a, who, NULL, fields, err);
    if (!privacy) {
        http_reply_error(r, err->code ? err->code : VX_ENOMEM, err);
        goto out;
    }
    ai_targeting_req tr = {sentence,
                           cu.flag,
                           fields,
                           check_strategy,
                           &cu,
                           privacy,
                           {a->confirm_above, confirmed(body)}};
    st = advise(a, use_model, targeting_fn, &tr, &answer, err);
    if (st != VX_OK) {
        reply_advice_error(r, st, err);
        goto out;
    }
    if (!json_is_true(json_object_get(answer, "understood"))) {
        /* No proposal rather than a broader one: 422 with every reason. */
        json_t *doc = json_pack(
            "{ss sO sO sO*}", "message",
            "the sentence was not fully understood: nothing was proposed",
            "details", json_object_get(answer, "problems"), "notUnderstood",
            json_object_get(answer, "notUnderstood"), "advisor",
            json_object_get(answer, "advisor"));
        if (doc && json_object_get(answer, "modelError"))
            json_object_set(doc, "modelError",
                            json_object_get(answer, "modelError"));
        if (doc && json_object_get(answer, "policy"))
            json_object_set(doc, "policy", json_object_get(answer, "policy"));
        if (doc)
            http_reply_json_people(r, 422, doc);
        else
            http_reply_error(r, VX_ENOMEM, NULL);
        json_decref(doc);
        goto out;
    }
    json_t *strategy = json_object_get(answer, "strategy");
    check_seen(a, project, env, seen, strategy, answer);
    if (!flag) /* the strategy POST fills in the flag's own groupId */
        json_object_del(json_object_get(strategy, "parameters"), "groupId");
    const char *verdict = json_string_value(
        json_object_get(json_object_get(answer, "policy"), "verdict"));
    if (verdict && strcmp(verdict, "needs-confirmation") == 0) {
        json_object_set_new(
            answer, "apply",
            json_pack("{sb ss}", "confirmationRequired", 1, "note",
                      "this proposal needs an explicit confirmation (see "
                      "policy.reasons): ask again with \"confirm\": true "
                      "(vexil advise ... --confirm) to get the request "
                      "that applies it"));
    } else {
        char apply[400];
        snprintf(apply, sizeof(apply),
                 "/api/admin/projects/%s/features/%s/environments/%s/"
                 "strategies",
                 project, flag ? flag : "{flag}", env);
        json_object_set_new(answer, "apply",
                            json_pack("{ss ss ss}", "method", "POST", "path",
                                      apply, "note",
                                      "a proposal: nothing was changed; a "
                                      "person applies it with this request"));
    }
    input = json_pack("{ss ss ss sO sO sb}", "sentence", sentence, "project",
                      project, "environment", env, "contextFields", fields,
                      "seenFields", seen, "confirm", confirmed(body));
    if (input && flag)
        json_object_set_new(input, "flag", json_string(flag));
    reply_recorded(a, who, r, "targeting", project, env, input, answer, err);
out:
    ai_scrub_free(&privacy);
    json_decref(proj);
    json_decref(envs);
    json_decref(feature);
    json_decref(fields);
    json_decref(segments);
    json_decref(answer);
    json_decref(input);
    json_decref(seen);
}

/* One page (up to 1000 events, newest first) of the audit log from
 * `offset`, as the events API answers it; `from`, `to` and `project` are
 * optional filters. */
static vx_status event_page(advisor_api *a, const svc_principal *who,
                            int64_t offset, const char *from, const char *to,
                            const char *project, json_t **page, vx_error *err)
{
    char off[32];
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    json_t *q = json_pack("{ss ss}", "offset", off, "limit", "1000");
    if (q && from)
        json_object_set_new(q, "from", json_string(from));
    if (q && to)
        json_object_set_new(q, "to", json_string(to));
    if (q && project)
        json_object_set_new(q, "project", json_string(project));
    vx_status st =
        q ? call(a, who, SVC_OP_EVENT_SEARCH, NULL, q, page, err) : VX_ENOMEM;
    json_decref(q);
    return st;
}

static void changelog(advisor_api *a, const svc_principal *who, http_req *r,
                      const json_t *body, bool use_model, vx_error *err)
{
    json_t *events = json_array(), *features = NULL, *answer = NULL,
           *input = NULL;
    ai_scrub *privacy = NULL;
    const char *from, *to, *project;
    bool truncated = false;
    vx_status st = opt_str(body, "from", NULL, 64, &from, err);
    if (st == VX_OK)
        st = opt_str(body, "to", NULL, 64, &to, err);
    if (st == VX_OK)
        st = opt_str(body, "project", NULL, 100, &project, err);
    /* Page through the audit log, as the events API does (its own checks
     * name bad times: /query/from). */
    for (int64_t offset = 0; st == VX_OK;) {
        json_t *page = NULL;
        st = event_page(a, who, offset, from, to, project, &page, err);
        if (st != VX_OK)
            break;
        const json_t *list = json_object_get(page, "events");
        json_array_extend(events, (json_t *)list);
        json_int_t total = json_integer_value(json_object_get(page, "total"));
        size_t got = json_array_size(list);
        json_decref(page);
        offset += (int64_t)got;
        if (got == 0 || offset >= total)
            break;
        if (json_array_size(events) >= VX_LIMIT_AI_EVENTS) {
            truncated = true;
            break;
        }
    }
    if (st == VX_OK)
        st = call(a, who,
                  project ? SVC_OP_FEATURE_LIST : SVC_OP_FEATURE_LIST_ALL,
                  project, NULL, &features, err);
    if (st != VX_OK) {
        if (strncmp(err->path, "/query/", 7) == 0)
            memmove(err->path, err->path + 6, strlen(err->path + 6) + 1);
        http_reply_error(r, st, err);
        goto out;
    }
    privacy = privacy_new(a, who, events, NULL, err);
    if (!privacy) {
        http_reply_error(r, err->code ? err->code : VX_ENOMEM, err);
        goto out;
    }
    ai_changelog_req cr = {events,    json_object_get(features, "features"),
                           from,      to,
                           truncated, privacy};
    st = advise(a, use_model, changelog_fn, &cr, &answer, err);
    if (st != VX_OK) {
        reply_advice_error(r, st, err);
        goto out;
    }
    input =
        json_pack("{so* so* so* si}", "from", from ? json_string(from) : NULL,
                  "to", to ? json_string(to) : NULL, "project",
                  project ? json_string(project) : NULL, "events",
                  (int)json_array_size(events));
    reply_recorded(a, who, r, "changelog", project, NULL, input, answer, err);
out:
    ai_scrub_free(&privacy);
    json_decref(events);
    json_decref(features);
    json_decref(answer);
    json_decref(input);
}

/* ---- rollout analysis, release plans, incidents ---------------------------
 */

/* A question about one document (a plan status, an incident's facts)
 * with its redaction gate. */
typedef struct doc_req {
    const json_t *doc;       /* borrowed */
    const ai_scrub *privacy; /* borrowed */
} doc_req;

static vx_status rollout_fn(ai_llm *llm, const void *req, json_t **answer,
                            vx_error *err)
{
    const doc_req *q = req;
    return ai_advise_rollout(llm, q->doc, q->privacy, answer, err);
}

static vx_status plan_fn(ai_llm *llm, const void *req, json_t **answer,
                         vx_error *err)
{
    return ai_advise_plan(llm, req, answer, err);
}

static vx_status incident_fn(ai_llm *llm, const void *req, json_t **answer,
                             vx_error *err)
{
    const doc_req *q = req;
    return ai_advise_incident(llm, q->doc, q->privacy, answer, err);
}

/* Prefixes an adapter error's path with the body member it came from. */
static void under(vx_error *err, const char *member)
{
    char p[sizeof(err->path)];
    snprintf(p, sizeof(p), "%s%s", member, err->path);
    snprintf(err->path, sizeof(err->path), "%s", p);
}

/* The policy's own principal: what it does is audited under this name. */
static const svc_principal POLICY = {.token_id = 0,
                                     .kind = SVC_KIND_ADMIN,
                                     .role = SVC_ROLE_ADMIN,
                                     .name = "advisor-policy",
                                     .environment = "*",
                                     .projects = "*"};

typedef struct plan_target {
    advisor_api *a;      /* the API */
    const char *project; /* the plan's project */
} plan_target;

/* POST .../release-plan/{action} as the policy. */
static vx_status plan_action(void *ud, const json_t *status, const char *action,
                             const char *reason, vx_error *err)
{
    const plan_target *t = ud;
    json_t *out = NULL, *body = json_pack("{ss}", "reason", reason);
    svc_req req = {
        .op = SVC_OP_PLAN_ACTION,
        .project = t->project,
        .feature = json_string_value(json_object_get(status, "flag")),
        .environment =
            json_string_value(json_object_get(status, "environment")),
        .id = action,
        .body = body,
    };
    vx_status st = body ? svc_call(t->a->svc, &POLICY, &req, &out, err)
                        : vx__error_set(err, VX_ENOMEM, "", "out of memory");
    json_decref(out);
    json_decref(body);
    if (st == VX_OK && t->a->changed)
        t->a->changed(t->a->changed_ud); /* SDKs see the new rollout */
    return st;
}

static vx_status plan_hold(void *ud, const json_t *status, const char *reason,
                           vx_error *err)
{
    return plan_action(ud, status, "pause", reason, err);
}

static vx_status plan_rollback(void *ud, const json_t *status,
                               const char *reason, vx_error *err)
{
    return plan_action(ud, status, "rollback", reason, err);
}

static const ai_plan_ops PLAN_OPS = {plan_hold, plan_rollback};

/* POST rollout {flag, environment?, project?} (the plan API's status of
 * that plan) or {status} (a status document, as the plan's GET answers
 * it: for a plan elsewhere, or a what-if). */
static void rollout(advisor_api *a, const svc_principal *who, http_req *r,
                    const json_t *body, bool use_model, vx_error *err)
{
    json_t *status = NULL, *answer = NULL, *input = NULL, *doc = NULL;
    ai_scrub *privacy = NULL;
    const char *project = NULL, *flag = NULL, *env = NULL;
    vx_status st = opt_str(body, "project", "default", 100, &project, err);
    if (st == VX_OK)
        st = opt_str(body, "flag", NULL, 100, &flag, err);
    if (st == VX_OK)
        st = opt_str(body, "environment", "production", 100, &env, err);
    const json_t *given = json_object_get(body, "status");
    if (st == VX_OK && !given && !flag)
        st = vx__error_set(err, VX_EINVAL, "/flag",
                           "flag (whose release plan to analyse) or status "
                           "is required");
    if (st == VX_OK && !given) {
        svc_req req = {.op = SVC_OP_PLAN_GET,
                       .project = project,
                       .feature = flag,
                       .environment = env};
        st = svc_call(a->svc, who, &req, &doc, err);
        given = doc;
        if (st == VX_OK) {
            st = ai_plan_status_normalize(given, &status, err);
            if (st != VX_OK)
                st = vx__error_set(err, VX_EIO, err->path,
                                   "the plan's status is not understood: %s",
                                   err->message);
        }
        if (st == VX_OK) {
            st = ai_plan_status_guard_data(doc, vx__wall_ms(), status);
        }
    } else if (st == VX_OK) {
        st = ai_plan_status_normalize(given, &status, err);
        if (st != VX_OK)
            under(err, "/status");
    }
    if (st != VX_OK) {
        http_reply_error(r, st, err);
        goto out;
    }
    privacy = privacy_new(a, who, given, NULL, err);
    if (!privacy) {
        http_reply_error(r, err->code ? err->code : VX_ENOMEM, err);
        goto out;
    }
    doc_req q = {status, privacy};
    st = advise(a, use_model, rollout_fn, &q, &answer, err);
    if (st != VX_OK) {
        reply_advice_error(r, st, err);
        goto out;
    }
    /* Only a plan read from this server's plan API can be acted on, and
     * only when the caller could act on it (editor or admin). */
    plan_target target = {a, project};
    const char *no_ops = NULL;
    if (!a->plan_api || !doc)
        no_ops = "a status given in the request is never acted on";
    else if (who->role < SVC_ROLE_EDITOR)
        no_ops = "the caller's role may not change release plans";
    json_object_set_new(answer, "autoApply",
                        ai_policy_apply(a->policy, answer, status,
                                        no_ops ? NULL : &PLAN_OPS, &target,
                                        no_ops));
    input = json_pack("{sO}", "status", status);
    reply_recorded(a, who, r, "rollout", project,
                   json_string_value(json_object_get(status, "environment")),
                   input, answer, err);
out:
    ai_scrub_free(&privacy);
    json_decref(status);
    json_decref(answer);
    json_decref(input);
    json_decref(doc);
}

/* POST plan {description, risk}: a release plan to approve. */
static void plan(advisor_api *a, const svc_principal *who, http_req *r,
                 const json_t *body, bool use_model, vx_error *err)
{
    json_t *answer = NULL, *input = NULL;
    ai_scrub *privacy = NULL;
    const char *desc = NULL, *risk = NULL, *project = NULL;
    vx_status st = opt_str(body, "description", NULL,
                           VX_LIMIT_AI_SENTENCE_BYTES, &desc, err);
    if (st == VX_OK)
        st = opt_str(body, "risk", "medium", 20, &risk, err);
    if (st == VX_OK)
        st = opt_str(body, "project", NULL, 100, &project, err);
    ai_plan_req pr = {desc, risk, NULL, {a->confirm_above, confirmed(body)}};
    if (st == VX_OK) /* bad input: the deterministic check names it */
        st = ai_advise_plan(NULL, &pr, &answer, err);
    if (st == VX_OK) {
        privacy = privacy_new(a, who, NULL, NULL, err);
        if (!privacy)
            st = err->code ? err->code : VX_ENOMEM;
        pr.privacy = privacy;
    }
    json_decref(answer);
    answer = NULL;
    if (st == VX_OK)
        st = advise(a, use_model, plan_fn, &pr, &answer, err);
    if (st != VX_OK) {
        if (st == VX_EINVAL || st == VX_ELIMIT)
            http_reply_error(r, st, err);
        else
            reply_advice_error(r, st, err);
        goto out;
    }
    const char *verdict = json_string_value(
        json_object_get(json_object_get(answer, "policy"), "verdict"));
    json_object_set_new(
        answer, "apply",
        verdict && strcmp(verdict, "needs-confirmation") == 0
            ? json_pack("{sb ss}", "confirmationRequired", 1, "note",
                        "this plan needs an explicit confirmation (see "
                        "policy.reasons): ask again with \"confirm\": true "
                        "(vexil advise plan ... --confirm)")
            : json_pack("{ss}", "note",
                        "a proposal: nothing was changed; a person creates "
                        "the release plan from it"));
    input = json_pack("{ss ss sb}", "description", desc, "risk", risk,
                      "confirm", confirmed(body));
    reply_recorded(a, who, r, "plan", project, NULL, input, answer, err);
out:
    ai_scrub_free(&privacy);
    json_decref(answer);
    json_decref(input);
}

/* The audit event numbered `id`, newest first, at most
 * VX_LIMIT_AI_EVENTS back. New reference or NULL (then `*st` says why). */
static json_t *event_by_id(advisor_api *a, const svc_principal *who,
                           json_int_t id, vx_status *st, vx_error *err)
{
    json_t *found = NULL;
    *st = VX_OK;
    for (int64_t offset = 0; !found && offset < VX_LIMIT_AI_EVENTS;) {
        json_t *page = NULL;
        *st = event_page(a, who, offset, NULL, NULL, NULL, &page, err);
        if (*st != VX_OK)
            return NULL;
        const json_t *list = json_object_get(page, "events");
        size_t i;
        const json_t *e;
        json_array_foreach (list, i, e) {
            if (json_integer_value(json_object_get(e, "id")) == id) {
                found = json_incref((json_t *)e);
                break;
            }
        }
        size_t got = json_array_size(list);
        json_decref(page);
        if (got == 0)
            break;
        offset += (int64_t)got;
    }
    if (!found)
        *st = vx__error_set(err, VX_ENOTFOUND, "/eventId",
                            "event %lld not found among the newest %d",
                            (long long)id, VX_LIMIT_AI_EVENTS);
    return found;
}

/* POST incident {eventId} or {event}: summarises a guard rollback. */
static void incident(advisor_api *a, const svc_principal *who, http_req *r,
                     const json_t *body, bool use_model, vx_error *err)
{
    json_t *event = NULL, *facts = NULL, *answer = NULL, *input = NULL;
    ai_scrub *privacy = NULL;
    vx_status st = VX_OK;
    const json_t *id = json_object_get(body, "eventId");
    const json_t *given = json_object_get(body, "event");
    if (id && !json_is_integer(id))
        st = vx__error_set(err, VX_EINVAL, "/eventId",
                           "eventId must be an integer");
    else if (id)
        event = event_by_id(a, who, json_integer_value(id), &st, err);
    else if (given)
        event = json_incref((json_t *)given);
    else
        st = vx__error_set(err, VX_EINVAL, "/eventId",
                           "eventId (or event) is required: the guard "
                           "rollback's audit event");
    if (st == VX_OK) {
        st = ai_incident_facts(event, &facts, err);
        /* facts' paths start with /event; an id names the event's id */
        if (st != VX_OK && id)
            snprintf(err->path, sizeof(err->path), "/eventId");
    }
    if (st != VX_OK) {
        http_reply_error(r, st, err);
        goto out;
    }
    privacy = privacy_new(a, who, event, NULL, err);
    if (!privacy) {
        http_reply_error(r, err->code ? err->code : VX_ENOMEM, err);
        goto out;
    }
    doc_req q = {facts, privacy};
    st = advise(a, use_model, incident_fn, &q, &answer, err);
    if (st != VX_OK) {
        reply_advice_error(r, st, err);
        goto out;
    }
    json_object_set(answer, "facts", facts);
    input = json_pack("{sO sO}", "eventId",
                      id ? (json_t *)id : json_object_get(event, "id"), "facts",
                      facts);
    if (input && json_is_null(json_object_get(input, "eventId")))
        json_object_del(input, "eventId");
    reply_recorded(a, who, r, "incident", NULL,
                   json_string_value(json_object_get(facts, "environment")),
                   input, answer, err);
out:
    ai_scrub_free(&privacy);
    json_decref(event);
    json_decref(facts);
    json_decref(answer);
    json_decref(input);
}

/* Answers the request (its body was checked by advisor_api_handle). */
static void dispatch(advisor_api *a, const svc_principal *who, http_req *r,
                     bool use_model)
{
    vx_error err;
    memset(&err, 0, sizeof(err));
    const json_t *body = http_req_body(r);
    if (path_eq(r, PREFIX "targeting"))
        targeting(a, who, r, body, use_model, &err);
    else if (path_eq(r, PREFIX "rollout"))
        rollout(a, who, r, body, use_model, &err);
    else if (path_eq(r, PREFIX "plan"))
        plan(a, who, r, body, use_model, &err);
    else if (path_eq(r, PREFIX "incident"))
        incident(a, who, r, body, use_model, &err);
    else
        changelog(a, who, r, body, use_model, &err);
}

static void job_done(advisor_api *a)
{
    pthread_mutex_lock(&a->mu);
    if (--a->jobs == 0)
        pthread_cond_broadcast(&a->idle);
    pthread_mutex_unlock(&a->mu);
}

static void *job_main(void *p)
{
    job *j = p;
    advisor_api *a = j->a;
    dispatch(a, &j->who, j->r, true);
    slot_give(a);
    http_req_resume(j->r); /* j lived in the request's arena: gone now */
    job_done(a);
    return NULL;
}

/* Suspends the request (unless `deferred`: it is already) and answers it
 * from a thread of its own, so neither a worker thread nor a database
 * thread waits on the model call. False when that cannot be done (the
 * caller answers). */
static bool start_job(advisor_api *a, const svc_principal *who, http_req *r,
                      bool deferred)
{
    job *j = vx__arena_alloc(http_req_arena(r), sizeof(*j));
    pthread_attr_t attr;
    pthread_t t;
    if (!j)
        return false;
    pthread_mutex_lock(&a->mu);
    bool ok = !a->stopping;
    if (ok)
        a->jobs++;
    pthread_mutex_unlock(&a->mu);
    if (!ok)
        return false;
    j->a = a;
    j->who = *who;
    j->r = r;
    if (!deferred && !http_req_defer(r)) {
        job_done(a);
        return false;
    }
    bool started = pthread_attr_init(&attr) == 0;
    if (started) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&t, &attr, job_main, j) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started)
        job_main(j); /* no thread: answer from here, then resume */
    return true;
}

bool advisor_api_has_model(const advisor_api *a)
{
    return a && a->llm;
}

/* The checks every advisor request passes first; false when answered. */
static bool admitted(const svc_principal *who, http_req *r)
{
    const json_t *body = http_req_body(r);
    if (!json_is_object(body)) {
        http_reply_problem(r, 400, "a JSON object body is required", "", NULL);
        return false;
    }
    if (who->kind != SVC_KIND_ADMIN) {
        http_reply_problem(r, 403,
                           "invalid token: expected an admin token for this "
                           "endpoint",
                           "", NULL);
        return false;
    }
    /* Roles, as for every route: viewers may ask for explanations
     * (changelog, incident, rollout analysis, which never acts for them);
     * proposals meant to be applied (targeting, plans) need an editor. */
    if ((path_eq(r, PREFIX "targeting") || path_eq(r, PREFIX "plan")) &&
        who->role < SVC_ROLE_EDITOR) {
        http_reply_problem(r, 403,
                           "the viewer role may not ask for proposals to "
                           "apply (targeting, plan): an editor or admin "
                           "token is needed",
                           "", NULL);
        return false;
    }
    return true;
}

/* Answers `r` (deterministically, or through a model thread when one is
 * free); true when a model thread took it. */
static bool handle(advisor_api *a, const svc_principal *who, http_req *r,
                   bool deferred)
{
    if (!admitted(who, r))
        return false;
    if (a->llm && slot_take(a)) {
        if (start_job(a, who, r, deferred))
            return true; /* the job gives the slot back */
        slot_give(a);
    }
    dispatch(a, who, r, false);
    return false;
}

void advisor_api_handle(advisor_api *a, const svc_principal *who, http_req *r)
{
    (void)handle(a, who, r, false);
}

bool advisor_api_handle_deferred(advisor_api *a, const svc_principal *who,
                                 http_req *r)
{
    return handle(a, who, r, true);
}
