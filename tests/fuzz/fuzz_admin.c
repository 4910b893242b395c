/* libFuzzer target for the admin API's use cases (src/service) on a real
 * SQLite database: arbitrary bodies for the calls that change flags,
 * strategies, variants, segments, dependencies, tokens, plans, schedules
 * and imports, as the HTTP handlers pass them on.
 *
 * Input: byte 0 picks the call, byte 1 the flag and environment it names,
 * the rest is the JSON body (inputs that are not JSON are skipped).
 *
 * Invariants checked: a refused call names what was wrong (a message, and
 * a JSON pointer or no path) and writes nothing (the audit revision does
 * not move: no partial write); an accepted change is audited (it moves);
 * whatever the calls accepted, the documents
 * the SDK endpoints serve for every environment load into libvexil and
 * evaluate under the fixed contexts (validated data never produces a flag
 * set the engine rejects), and so do they with each strategy's segments
 * inlined, as SDKs before client spec 4.2.0 are served them. Every 1,000
 * inputs the database starts afresh so it stays small.
 *
 * The seeds (corpus/admin) and admin.dict reach each limit of the flag-data
 * table (base/limits.h) from each write: REGEX patterns and context-field
 * names at and one past the limit, in strategies, segments, variants (PUT
 * and PATCH), release plans and imports; 101 dependencies; a strategy and a
 * segment that cross 1000 constraints together once inlined. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "service/service.h"

typedef struct call {
    svc_op op;
    bool id;      /* the call names an id (the strategy, segment, parent) */
    bool feature; /* the call names a flag */
} call;

static const call CALLS[] = {
    {SVC_OP_FEATURE_CREATE, false, false},
    {SVC_OP_FEATURE_UPDATE, false, true},
    {SVC_OP_FEATURE_PATCH, false, true},
    {SVC_OP_ENV_ON, false, true},
    {SVC_OP_ENV_OFF, false, true},
    {SVC_OP_STRATEGY_ADD, false, true},
    {SVC_OP_STRATEGY_UPDATE, true, true},
    {SVC_OP_STRATEGY_ORDER, false, true},
    {SVC_OP_VARIANTS_PUT, false, true},
    {SVC_OP_VARIANTS_PATCH, false, true},
    {SVC_OP_SEGMENT_CREATE, false, false},
    {SVC_OP_SEGMENT_UPDATE, true, false},
    {SVC_OP_DEPENDENCY_ADD, false, true},
    {SVC_OP_TAG_ADD, false, true},
    {SVC_OP_STALE_SET, false, false},
    {SVC_OP_TOKEN_CREATE, false, false},
    {SVC_OP_PROJECT_CREATE, false, false},
    {SVC_OP_ENVIRONMENT_CREATE, false, false},
    {SVC_OP_PLAN_PUT, false, true},
    {SVC_OP_SCHEDULE_CREATE, false, true},
    {SVC_OP_IMPORT, false, false},
    {SVC_OP_PLAYGROUND, false, false},
};

static const char *const FEATURES[] = {"f", "g", "model.chat", "nope"};
static const char *const ENVS[] = {"development", "production", "nope"};
static const char *const IDS[] = {"1", "2", "f", "0", "x"};

static const svc_principal ADMIN = {.kind = SVC_KIND_ADMIN,
                                    .role = SVC_ROLE_ADMIN,
                                    .name = "fuzz",
                                    .environment = "*",
                                    .projects = "*"};

static vx_scratch *scratch;
static service *svc;
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

/* A fresh database with flags f and g (g on in production). */
static void open_db(void)
{
    char dsn[96];
    snprintf(dsn, sizeof(dsn), "sqlite:%s/vexil.db", dir);
    svc_config sc = {.database = dsn, .no_first_admin_token = true};
    char secret[SVC_SECRET_MAX];
    vx_error err;
    memset(&err, 0, sizeof(err));
    FUZZ_CHECK(svc_open(&sc, &svc, secret, &err) == VX_OK);
    const char *const init[] = {"{\"name\":\"f\"}", "{\"name\":\"g\"}"};
    for (int i = 0; i < 2; i++) {
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
    }
    json_decref(docs);
    json_decref(envs);
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
    svc_req r = {
        .op = c->op,
        .project = (pick & 0x80) ? "nope" : "default",
        .feature = c->feature ? FEATURES[pick % 4] : NULL,
        .environment = ENVS[(pick >> 2) % 3],
        .id = c->id ? IDS[(pick >> 4) % 5] : NULL,
        .body = body,
    };
    int64_t before = revision();
    json_t *out = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_call(svc, &ADMIN, &r, &out, &err);
    if (st != VX_OK) {
        FUZZ_CHECK(err.message[0] != '\0');
        FUZZ_CHECK(err.path[0] == '\0' || err.path[0] == '/');
        FUZZ_CHECK(out == NULL);
        FUZZ_CHECK(revision() == before); /* nothing written */
    } else if (c->op != SVC_OP_PLAYGROUND) {
        FUZZ_CHECK(revision() > before); /* every change is audited */
    }
    json_decref(out);
    json_decref(body);
    check_served();
    return 0;
}
