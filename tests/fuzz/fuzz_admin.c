/* libFuzzer target for the admin API's use cases (src/service) on a real
 * SQLite database: arbitrary bodies for the calls that change flags,
 * strategies (and their JSON Patch), variants, segments, dependencies,
 * tags, tokens, release plans (and their actions), schedules, custom
 * strategy definitions, the archive (one flag and in bulk) and the two
 * imports (Vexil's export, an Unleash installation), as the HTTP handlers
 * pass them on.
 *
 * Input: byte 0 picks the call, byte 1 the flag, environment and id it
 * names, the rest is the JSON body (inputs that are not JSON are skipped).
 * An id "@k" stands for the k-th strategy of that flag and environment
 * (strategy ids are generated); some calls carry a fixed query
 * (`?pausePlan=true` on a plan's strategy, `?dryRun=true`).
 *
 * Invariants checked: a refused call names what was wrong (a message, and
 * a JSON pointer or no path) and writes nothing (the audit revision does
 * not move and the export is unchanged: no partial write); so does a dry
 * run; an accepted change is audited (the revision moves; for the calls
 * that may accept a no-op, whenever the export changed); whatever the calls
 * accepted, the documents the SDK endpoints serve for every environment
 * load into libvexil and evaluate under the fixed contexts (validated data
 * never produces a flag set the engine rejects), and so do they with each
 * strategy's segments inlined, as SDKs before client spec 4.2.0 are served
 * them; and every model flag's variant payload is one the gateway can call
 * (base/upstream.h). Every 1,000 inputs the database starts afresh so it
 * stays small.
 *
 * The seeds (corpus/admin) and admin.dict reach each limit of the flag-data
 * table (base/limits.h) from each write: REGEX patterns and context-field
 * names at and one past the limit, in strategies, segments, variants (PUT
 * and PATCH), release plans and imports; 101 dependencies; a strategy and a
 * segment that cross 1000 constraints together once inlined; and each of
 * the newer writes (strategy PATCH, custom strategies, bulk archive, the
 * Unleash import, plans with an audience, evidence and variant rollback). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/upstream.h"
#include "fuzz_common.h"
#include "service/service.h"

/* What an id names. */
typedef enum ids_kind {
    IDS_NONE,     /* the call names no id */
    IDS_STRATEGY, /* a strategy of the flag and environment ("@k") */
    IDS_SEGMENT,  /* a segment id */
    IDS_PARENT,   /* a dependency's parent flag */
    IDS_DEF,      /* a strategy definition's name */
    IDS_ACTION,   /* a release plan's action */
} ids_kind;

/* What an accepted call must have audited. */
typedef enum audit_rule {
    AUDIT_ALWAYS,  /* the revision moved */
    AUDIT_CHANGED, /* the revision moved if the export changed (the call
                      may accept a no-op: nothing to revive, ...) */
    AUDIT_NONE,    /* a read */
} audit_rule;

typedef struct call {
    svc_op op;
    ids_kind ids;      /* what its id names */
    bool feature;      /* the call names a flag */
    audit_rule audit;  /* see audit_rule */
    const char *query; /* its query (JSON object text), or NULL */
} call;

/* Appended only: byte 0 of the seeds is an index into this table. */
static const call CALLS[] = {
    {SVC_OP_FEATURE_CREATE, IDS_NONE, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_FEATURE_UPDATE, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_FEATURE_PATCH, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_ENV_ON, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_ENV_OFF, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_STRATEGY_ADD, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_STRATEGY_UPDATE, IDS_STRATEGY, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_STRATEGY_ORDER, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_VARIANTS_PUT, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_VARIANTS_PATCH, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_SEGMENT_CREATE, IDS_NONE, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_SEGMENT_UPDATE, IDS_SEGMENT, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_DEPENDENCY_ADD, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_TAG_ADD, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_STALE_SET, IDS_NONE, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_TOKEN_CREATE, IDS_NONE, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_PROJECT_CREATE, IDS_NONE, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_ENVIRONMENT_CREATE, IDS_NONE, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_PLAN_PUT, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_SCHEDULE_CREATE, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_IMPORT, IDS_NONE, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_PLAYGROUND, IDS_NONE, false, AUDIT_NONE, NULL},
    /* The newer writes. */
    {SVC_OP_STRATEGY_PATCH, IDS_STRATEGY, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_STRATEGY_PATCH, IDS_STRATEGY, true, AUDIT_ALWAYS,
     "{\"pausePlan\":\"true\"}"},
    {SVC_OP_STRATEGY_UPDATE, IDS_STRATEGY, true, AUDIT_ALWAYS,
     "{\"pausePlan\":\"true\"}"},
    {SVC_OP_STRATEGY_DELETE, IDS_STRATEGY, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_STRATEGY_DEF_CREATE, IDS_NONE, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_STRATEGY_DEF_UPDATE, IDS_DEF, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_STRATEGY_DEF_DELETE, IDS_DEF, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_STRATEGY_DEF_DEPRECATE, IDS_DEF, false, AUDIT_CHANGED, NULL},
    {SVC_OP_STRATEGY_DEF_REACTIVATE, IDS_DEF, false, AUDIT_CHANGED, NULL},
    {SVC_OP_ARCHIVE_BULK, IDS_NONE, false, AUDIT_CHANGED, NULL},
    {SVC_OP_REVIVE_BULK, IDS_NONE, false, AUDIT_CHANGED, NULL},
    {SVC_OP_DELETE_BULK, IDS_NONE, false, AUDIT_CHANGED, NULL},
    {SVC_OP_IMPORT_UNLEASH, IDS_NONE, false, AUDIT_CHANGED, NULL},
    {SVC_OP_IMPORT_UNLEASH, IDS_NONE, false, AUDIT_CHANGED,
     "{\"dryRun\":\"true\"}"},
    {SVC_OP_PLAN_ACTION, IDS_ACTION, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_PLAN_DELETE, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_FEATURE_ARCHIVE, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_ARCHIVE_REVIVE, IDS_NONE, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_SEGMENT_DELETE, IDS_SEGMENT, false, AUDIT_ALWAYS, NULL},
    {SVC_OP_DEPENDENCY_REMOVE, IDS_PARENT, true, AUDIT_ALWAYS, NULL},
    {SVC_OP_SCHEDULE_DELETE, IDS_SEGMENT, true, AUDIT_ALWAYS, NULL},
};

static const char *const FEATURES[] = {"f", "g", "model.chat", "nope"};
static const char *const ENVS[] = {"development", "production", "nope"};
/* Ids by kind, picked by bits 4..6 of byte 1 (bit 7 picks the project). */
static const char *const IDS_OF[][8] = {
    [IDS_NONE] = {NULL},
    [IDS_STRATEGY] = {"@0", "@1", "x", "@0", "@2", "0", "@1", "@0"},
    [IDS_SEGMENT] = {"1", "2", "f", "0", "x", "3", "1", "2"},
    [IDS_PARENT] = {"f", "g", "model.chat", "nope", "f", "g", "", "f"},
    [IDS_DEF] = {"tenant", "flexibleRollout", "nope", "region", "tenant",
                 "default", "Tenant", "tenant"},
    [IDS_ACTION] = {"pause", "resume", "skip", "approve", "rollback", "nope",
                    "pause", "resume"},
};

static const svc_principal ADMIN = {.kind = SVC_KIND_ADMIN,
                                    .role = SVC_ROLE_ADMIN,
                                    .name = "fuzz",
                                    .environment = "*",
                                    .projects = "*"};

static vx_scratch *scratch;
static service *svc;
static bool trace; /* VX_FUZZ_ADMIN_TRACE=1: one line per call on stderr */
static char dir[64];
static unsigned runs;

static void remove_db(void)
{
    const char *files[] = {"vexil.db", "vexil.db-wal", "vexil.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[96];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
}

/* A fresh database with flags f, g (on in production) and model.chat (a
 * model gateway's flag). */
static void open_db(void)
{
    char dsn[96];
    snprintf(dsn, sizeof(dsn), "sqlite:%s/vexil.db", dir);
    svc_config sc = {.database = dsn, .no_first_admin_token = true};
    char secret[SVC_SECRET_MAX];
    vx_error err;
    memset(&err, 0, sizeof(err));
    FUZZ_CHECK(svc_open(&sc, &svc, secret, &err) == VX_OK);
    const char *const init[] = {"{\"name\":\"f\"}", "{\"name\":\"g\"}",
                                "{\"name\":\"model.chat\"}"};
    for (int i = 0; i < 3; i++) {
        json_t *b = json_loads(init[i], 0, NULL);
        svc_req r = {
            .op = SVC_OP_FEATURE_CREATE, .project = "default", .body = b};
        json_t *out = NULL;
        FUZZ_CHECK(svc_call(svc, &ADMIN, &r, &out, &err) == VX_OK);
        json_decref(out);
        json_decref(b);
    }
    svc_req on = {.op = SVC_OP_ENV_ON,
                  .project = "default",
                  .feature = "g",
                  .environment = "production"};
    json_t *out = NULL;
    FUZZ_CHECK(svc_call(svc, &ADMIN, &on, &out, &err) == VX_OK);
    json_decref(out);
}

/* At exit (libFuzzer ends with exit()): the database goes with it. */
static void cleanup(void)
{
    svc_close(svc);
    remove_db();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    scratch = fuzz_init();
    trace = getenv("VX_FUZZ_ADMIN_TRACE") != NULL;
    snprintf(dir, sizeof(dir), "/tmp/vx-fuzz-admin-XXXXXX");
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    open_db();
    atexit(cleanup);
    return 0;
}

static int64_t revision(void)
{
    int64_t rev = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    FUZZ_CHECK(svc_revision(svc, &rev, &err) == VX_OK);
    return rev;
}

/* `doc` as SDKs before client spec 4.2.0 get it: each strategy's segments'
 * constraints appended to its own (src/server/sdk.c, put_inlined). */
static json_t *inlined(const json_t *doc)
{
    json_t *out = json_deep_copy(doc);
    FUZZ_CHECK(out != NULL);
    json_t *segs = json_object_get(out, "segments");
    size_t i, j, k, m;
    json_t *f, *st, *id, *g;
    json_array_foreach (json_object_get(out, "features"), i, f) {
        json_array_foreach (json_object_get(f, "strategies"), j, st) {
            json_t *cs = json_object_get(st, "constraints");
            json_array_foreach (json_object_get(st, "segments"), k, id) {
                json_array_foreach (segs, m, g) {
                    if (json_equal(json_object_get(g, "id"), id) &&
                        json_is_array(cs))
                        json_array_extend(cs,
                                          json_object_get(g, "constraints"));
                }
            }
            json_object_del(st, "segments");
        }
    }
    json_object_del(out, "segments");
    return out;
}

static void check_loads(const char *env, const json_t *doc, bool inline_segs)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_snapshot *snap = NULL;
    vx_status st = vx_snapshot_load(text, strlen(text), NULL, &snap, &err);
    if (st != VX_OK)
        fprintf(stderr, "environment %s%s: %s at %s\n%.4000s\n", env,
                inline_segs ? " (segments inlined)" : "", err.message, err.path,
                text);
    FUZZ_CHECK(st == VX_OK);
    fuzz_check_all(snap, scratch, FUZZ_CONTEXTS,
                   sizeof(FUZZ_CONTEXTS) / sizeof(FUZZ_CONTEXTS[0]));
    vx_snapshot_unref(snap);
    free(text);
}

/* Every payload a model flag serves is one the gateway calls: its schema
 * (base/upstream.h) and the default allowlists (this machine, keys named
 * VEXIL_MODEL_KEY_*), which the service checked when it was written. */
static void check_payloads(const json_t *variants)
{
    static vx_egress *policy;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (!policy)
        FUZZ_CHECK(vx__egress_new(NULL, NULL, &policy, &err) == VX_OK);
    size_t i;
    const json_t *v;
    json_array_foreach (variants, i, v) {
        const char *value = json_string_value(
            json_object_get(json_object_get(v, "payload"), "value"));
        if (!value)
            continue;
        vx_upstream up;
        vx_status st = vx__upstream_parse(value, strlen(value), &up, &err);
        if (st == VX_OK)
            st = vx__egress_url(policy, up.base_url, "", &err);
        if (st == VX_OK && up.ollama_given)
            st = vx__egress_url(policy, up.ollama_url, "", &err);
        if (st == VX_OK && up.key_env[0])
            st = vx__egress_key(policy, up.key_env, "", &err);
        if (st != VX_OK)
            fprintf(stderr,
                    "a model flag serves a payload the gateway "
                    "refuses: %s at %s\n%s\n",
                    err.message, err.path, value);
        FUZZ_CHECK(st == VX_OK);
    }
}

/* What SDKs are served for every environment loads and evaluates. */
static void check_served(void)
{
    json_t *envs = NULL, *docs = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    FUZZ_CHECK(svc_environment_names(svc, &envs, &err) == VX_OK);
    int64_t rev;
    FUZZ_CHECK(svc_client_states(svc, envs, &docs, &rev, &err) == VX_OK);
    const char *env;
    json_t *doc;
    json_object_foreach (docs, env, doc) {
        check_loads(env, doc, false);
        json_t *flat = inlined(doc);
        check_loads(env, flat, true);
        json_decref(flat);
        size_t i, j;
        json_t *f, *st;
        json_array_foreach (json_object_get(doc, "features"), i, f) {
            const char *name = json_string_value(json_object_get(f, "name"));
            if (!name || strncmp(name, "model.", 6) != 0)
                continue;
            check_payloads(json_object_get(f, "variants"));
            json_array_foreach (json_object_get(f, "strategies"), j, st)
                check_payloads(json_object_get(st, "variants"));
        }
    }
    json_decref(docs);
    json_decref(envs);
}

/* Everything an export holds (projects, environments, segments, strategy
 * definitions, flags, tags, dependencies): what a refused call must leave
 * as it was. A new reference. */
static json_t *export_state(void)
{
    svc_req r = {.op = SVC_OP_EXPORT};
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    FUZZ_CHECK(svc_call(svc, &ADMIN, &r, &out, &err) == VX_OK);
    return out;
}

/* The id of the k-th strategy of `feature` in `env` (into buf), or "x"
 * when there is none: strategy ids are generated, so an input names one
 * by its place. */
static const char *strategy_id(const char *feature, const char *env, size_t k,
                               char *buf, size_t cap)
{
    svc_req r = {.op = SVC_OP_STRATEGY_LIST,
                 .project = "default",
                 .feature = feature,
                 .environment = env};
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    snprintf(buf, cap, "x");
    if (svc_call(svc, &ADMIN, &r, &out, &err) == VX_OK) {
        const char *id =
            json_string_value(json_object_get(json_array_get(out, k), "id"));
        if (id)
            snprintf(buf, cap, "%s", id);
    }
    json_decref(out);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    json_error_t jerr;
    json_t *body =
        json_loadb((const char *)data + 2, size - 2, JSON_DECODE_ANY, &jerr);
    if (!body)
        return 0;
    if (++runs % 1000 == 0) {
        svc_close(svc);
        remove_db();
        open_db();
    }
    const call *c = &CALLS[data[0] % (sizeof(CALLS) / sizeof(CALLS[0]))];
    uint8_t pick = data[1];
    json_t *query = c->query ? json_loads(c->query, 0, NULL) : NULL;
    FUZZ_CHECK(!c->query || query);
    char sid[64];
    const char *feature = c->feature ? FEATURES[pick % 4] : NULL;
    const char *environment = ENVS[(pick >> 2) % 3];
    const char *id =
        c->ids != IDS_NONE ? IDS_OF[c->ids][(pick >> 4) % 8] : NULL;
    if (id && id[0] == '@')
        id = strategy_id(feature, environment, (size_t)(id[1] - '0'), sid,
                         sizeof(sid));
    svc_req r = {
        .op = c->op,
        .project = (pick & 0x80) ? "nope" : "default",
        .feature = feature,
        .environment = environment,
        .id = id,
        .query = query,
        .body = body,
    };
    bool dry = json_object_get(query, "dryRun") ||
               json_is_true(json_object_get(body, "dryRun"));
    int64_t before = revision();
    json_t *state = export_state();
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_call(svc, &ADMIN, &r, &out, &err);
    json_t *after = export_state();
    bool same = json_equal(state, after);
    if (trace)
        fprintf(stderr, "%s %s/%s id=%s: %s%s%s\n", svc_op_name(c->op),
                feature ? feature : "-", environment, id ? id : "-",
                st == VX_OK ? "ok" : err.message, st == VX_OK ? "" : " at ",
                st == VX_OK ? "" : err.path);
    if (st != VX_OK) {
        if (!same || revision() != before)
            fprintf(stderr, "refused (%s at %s), yet written\n", err.message,
                    err.path);
        FUZZ_CHECK(err.message[0] != '\0');
        FUZZ_CHECK(err.path[0] == '\0' || err.path[0] == '/');
        FUZZ_CHECK(out == NULL);
        FUZZ_CHECK(revision() == before); /* nothing written */
        FUZZ_CHECK(same);
    } else if (dry) {
        FUZZ_CHECK(revision() == before && same); /* a dry run writes nothing */
    } else if (c->audit == AUDIT_ALWAYS) {
        FUZZ_CHECK(revision() > before); /* every change is audited */
    } else if (c->audit == AUDIT_CHANGED) {
        FUZZ_CHECK(same || revision() > before);
    }
    json_decref(after);
    json_decref(state);
    json_decref(out);
    json_decref(body);
    json_decref(query);
    check_served();
    return 0;
}
