/* bench_import: what `vexil import --from-unleash` costs the server for a
 * large installation. Generates the document the CLI would send for an
 * Unleash with N flags (default 10000) in two environments (strategies
 * with constraints, segments, custom strategies, strategy and environment
 * variants, dependencies, tags), then on a fresh database runs what
 * POST /api/admin/import/unleash runs: parsing the body, a dry run, and the
 * import. Prints figures (key=value), asserts nothing but success.
 *
 * Usage: bench_import [--flags N] [--database DSN] [--seed S]
 *   DSN: a new, empty database (default: sqlite: in a temporary directory;
 *   a postgres:// URI works too). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "service/service.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Resident set size now (kB, /proc/self/statm) and its peak (getrusage). */
static long rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static long peak_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33) % n;
}

static const char *const OPS[] = {"IN",     "NOT_IN",     "STR_CONTAINS",
                                  "NUM_GT", "SEMVER_GTE", "DATE_AFTER",
                                  "REGEX"};

static json_t *constraint(void)
{
    const char *op = OPS[rnd(7)];
    json_t *c = json_pack("{ss ss sb sb}", "contextName",
                          strcmp(op, "DATE_AFTER") == 0   ? "currentTime"
                          : strcmp(op, "NUM_GT") == 0     ? "score"
                          : strcmp(op, "SEMVER_GTE") == 0 ? "version"
                                                          : "userId",
                          "operator", op, "inverted",
                          rnd(4) == 0 && strcmp(op, "REGEX") != 0,
                          "caseInsensitive", 0);
    if (strcmp(op, "IN") == 0 || strcmp(op, "NOT_IN") == 0 ||
        strcmp(op, "STR_CONTAINS") == 0) {
        json_t *vals = json_array();
        for (uint32_t i = 0, n = 1 + rnd(20); i < n; i++) {
            char v[32];
            snprintf(v, sizeof(v), "user-%u", rnd(100000));
            json_array_append_new(vals, json_string(v));
        }
        json_object_set_new(c, "values", vals);
    } else {
        json_object_set_new(c, "value",
                            json_string(strcmp(op, "NUM_GT") == 0 ? "42"
                                        : strcmp(op, "SEMVER_GTE") == 0
                                            ? "2.1.0"
                                        : strcmp(op, "DATE_AFTER") == 0
                                            ? "2025-01-01T00:00:00.000Z"
                                            : "^user-[0-9]{2}$"));
        json_object_set_new(c, "values", json_array());
    }
    return c;
}

static json_t *variants(int stickiness_default)
{
    json_t *vs = json_array();
    static const char *const names[] = {"control", "treatment", "blue"};
    uint32_t n = 2 + rnd(2);
    for (uint32_t i = 0; i < n; i++) {
        json_t *v =
            json_pack("{ss si ss ss}", "name", names[i], "weight",
                      (int)(1000 / n), "weightType", "variable", "stickiness",
                      stickiness_default ? "default" : "userId");
        if (rnd(2))
            json_object_set_new(v, "payload",
                                json_pack("{ss ss}", "type", "json", "value",
                                          "{\"color\":\"blue\",\"n\":3}"));
        json_array_append_new(vs, v);
    }
    return vs;
}

/* The document the CLI sends for `nflags` flags: the admin lists and one
 * feature export per environment, as Unleash 8 answers them. */
static json_t *document(size_t nflags)
{
    static const char *const envs[] = {"development", "production"};
    json_t *segments = json_array();
    for (int i = 1; i <= 50; i++) {
        char name[32];
        snprintf(name, sizeof(name), "segment-%d", i);
        json_t *cons = json_array();
        json_array_append_new(cons, constraint());
        json_array_append_new(segments,
                              json_pack("{si ss sn so}", "id", i, "name", name,
                                        "project", "constraints", cons));
    }
    json_t *exports = json_array();
    for (int e = 0; e < 2; e++) {
        json_t *features = json_array(), *strategies = json_array(),
               *fenvs = json_array(), *tags = json_array(),
               *deps = json_array();
        for (size_t i = 0; i < nflags; i++) {
            char name[32], id[40];
            snprintf(name, sizeof(name), "flag-%06zu", i);
            json_array_append_new(
                features, json_pack("{ss ss ss ss sb sb sb}", "name", name,
                                    "type", "release", "project", "default",
                                    "description", "a generated flag", "stale",
                                    0, "impressionData", 0, "archived", 0));
            for (uint32_t k = 0, n = 1 + rnd(3); k < n; k++) {
                snprintf(id, sizeof(id), "%s-%d-%u", name, e, k);
                uint32_t kind = rnd(10);
                json_t *s = json_pack(
                    "{ss ss ss sn sb s{} s[] s[] s[]}", "name",
                    kind < 6   ? "flexibleRollout"
                    : kind < 9 ? "default"
                               : "tenant",
                    "id", id, "featureName", name, "title", "disabled", 0,
                    "parameters", "constraints", "variants", "segments");
                json_t *p = json_object_get(s, "parameters");
                if (kind < 6) {
                    char pct[8];
                    snprintf(pct, sizeof(pct), "%u", rnd(101));
                    json_object_set_new(p, "rollout", json_string(pct));
                    json_object_set_new(p, "stickiness",
                                        json_string("default"));
                    json_object_set_new(p, "groupId", json_string(name));
                    if (rnd(3) == 0)
                        json_object_set_new(s, "variants", variants(1));
                } else if (kind == 9) {
                    json_object_set_new(p, "tenants",
                                        json_string("acme,globex"));
                }
                for (uint32_t c = 0, nc = rnd(4); c < nc; c++)
                    json_array_append_new(json_object_get(s, "constraints"),
                                          constraint());
                if (rnd(5) == 0)
                    json_array_append_new(json_object_get(s, "segments"),
                                          json_integer(1 + rnd(50)));
                json_object_set_new(s, "sortOrder", json_integer(k));
                json_array_append_new(strategies, s);
            }
            json_array_append_new(
                fenvs,
                json_pack("{sb ss ss so ss}", "enabled", rnd(2), "featureName",
                          name, "environment", envs[e], "variants",
                          rnd(5) == 0 ? variants(0) : json_array(), "name",
                          name));
            if (i % 4 == 0)
                json_array_append_new(
                    tags, json_pack("{ss ss ss}", "featureName", name,
                                    "tagType", "simple", "tagValue", "team-a"));
            if (i % 10 == 5) {
                char parent[32];
                snprintf(parent, sizeof(parent), "flag-%06zu", i - 1 - i % 2);
                json_array_append_new(
                    deps, json_pack("{ss s[{ss sb s[]}]}", "feature", name,
                                    "dependencies", "feature", parent,
                                    "enabled", 1, "variants"));
            }
        }
        json_array_append_new(
            exports,
            json_pack("{ss ss s{so so so so so s[] s[] s[]}}", "environment",
                      envs[e], "project", "default", "data", "features",
                      features, "featureStrategies", strategies,
                      "featureEnvironments", fenvs, "featureTags", tags,
                      "dependencies", deps, "segments", "contextFields",
                      "tagTypes"));
    }
    return json_pack(
        "{ss ss s[{ss ss}] s[{ss ss}{ss ss}] s[{ss sb s[{ss ss sb}]}] so so}",
        "source", "bench", "version", "8.2.0", "projects", "id", "default",
        "name", "Default", "environments", "name", "development", "type",
        "development", "name", "production", "type", "production", "strategies",
        "name", "tenant", "editable", 1, "parameters", "name", "tenants",
        "type", "list", "required", 1, "segments", segments, "exports",
        exports);
}

int main(int argc, char **argv)
{
    size_t nflags = 10000;
    const char *database = NULL;
    unsigned long seed = 42;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--flags") == 0)
            nflags = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--database") == 0)
            database = argv[i + 1];
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoul(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_import [--flags N] [--database DSN] "
                            "[--seed S]\n");
            return 2;
        }
    }
    rng_state = seed;
    char dir[64] = "", dsn[128];
    if (!database) {
        snprintf(dir, sizeof(dir), "/tmp/vx-bench-import-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(dsn, sizeof(dsn), "sqlite:%s/vexil.db", dir);
        database = dsn;
    }

    json_t *doc = document(nflags);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text) {
        fputs("bench_import: out of memory\n", stderr);
        return 1;
    }
    size_t bytes = strlen(text);

    svc_config cfg = {.database = database};
    service *svc = NULL;
    char secret[SVC_SECRET_MAX];
    vx_error err = {0};
    if (svc_open(&cfg, &svc, secret, &err) != VX_OK) {
        fprintf(stderr, "bench_import: %s\n", err.message);
        return 1;
    }
    svc_principal admin = {.kind = SVC_KIND_ADMIN,
                           .role = SVC_ROLE_ADMIN,
                           .name = "bench",
                           .environment = "*",
                           .projects = "*"};
    long rss_before = rss_kb();

    /* What the server does with the body: parse it. */
    double t0 = now_ms();
    json_error_t jerr;
    json_t *body = json_loads(text, 0, &jerr);
    double parse_ms = now_ms() - t0;
    free(text);
    if (!body) {
        fprintf(stderr, "bench_import: %s\n", jerr.text);
        return 1;
    }

    json_t *out = NULL;
    json_object_set_new(body, "dryRun", json_true());
    svc_req req = {.op = SVC_OP_IMPORT_UNLEASH, .body = body};
    t0 = now_ms();
    vx_status st = svc_call(svc, &admin, &req, &out, &err);
    double dry_ms = now_ms() - t0;
    size_t problems = json_array_size(json_object_get(out, "problems"));
    if (st != VX_OK || problems) {
        fprintf(stderr, "bench_import: dry run: %s (%zu problems)\n",
                err.message, problems);
        char *p =
            json_dumps(json_array_get(json_object_get(out, "problems"), 0), 0);
        fprintf(stderr, "%s\n", p ? p : "");
        free(p);
        return 1;
    }
    json_decref(out);
    json_object_set_new(body, "dryRun", json_false());
    t0 = now_ms();
    st = svc_call(svc, &admin, &req, &out, &err);
    double import_ms = now_ms() - t0;
    if (st != VX_OK) {
        fprintf(stderr, "bench_import: import: %s at %s\n", err.message,
                err.path);
        return 1;
    }
    size_t created = json_array_size(
        json_object_get(json_object_get(out, "created"), "flags"));
    json_decref(out);
    json_decref(body);
    long rss_after = rss_kb();

    printf("flags=%zu\n", created);
    printf("document_mb=%.1f\n", (double)bytes / (1 << 20));
    printf("parse_ms=%.0f\n", parse_ms);
    printf("dry_run_ms=%.0f\n", dry_ms);
    printf("import_ms=%.0f\n", import_ms);
    printf("rss_before_mb=%.1f\n", rss_before / 1024.0);
    printf("rss_after_mb=%.1f\n", rss_after / 1024.0);
    printf("peak_rss_mb=%.1f\n", peak_kb() / 1024.0);
    printf("database=%s\n",
           strncmp(database, "sqlite:", 7) == 0 ? "sqlite" : "postgres");
    svc_close(svc);
    if (dir[0]) {
        char path[128];
        const char *files[] = {"vexil.db", "vexil.db-wal", "vexil.db-shm"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    return 0;
}
