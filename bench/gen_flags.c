/* bench_gen: writes a synthetic but realistic Unleash client-features
 * document and a matching array of SDK contexts for the benchmarks. The
 * output depends only on the options (a seeded splitmix64), so every run of
 * bench/run.sh measures the same inputs; contexts draw their properties from
 * the same value pools as the constraints, so constraints match often. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define NSEGMENTS 50      /* segment pool of the mixed kind */
#define NVARIANTS 4       /* strategy variants per flexibleRollout */
#define IN_VALUES 5       /* values of an IN constraint (of a pool of 8) */
#define POOL      8       /* values in each property pool */
#define USER_IDS  1000000 /* userId space of the contexts */

typedef struct rng {
    uint64_t s; /* splitmix64 state */
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t below(rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* True with probability pct/100. */
static bool chance(rng *r, uint32_t pct)
{
    return below(r, 100) < pct;
}

/* ---- value pools shared by constraints and contexts ------------------- */

typedef struct pool {
    const char *field;              /* context property name */
    const char *const values[POOL]; /* what contexts draw from */
} pool;

static const pool IN_POOLS[] = {
    {"country", {"NO", "SE", "DK", "FI", "DE", "FR", "GB", "US"}},
    {"plan",
     {"free", "starter", "pro", "team", "business", "enterprise", "edu",
      "trial"}},
    {"platform",
     {"ios", "android", "web", "windows", "macos", "linux", "tvos", "watchos"}},
    {"region",
     {"eu-north-1", "eu-west-1", "eu-central-1", "us-east-1", "us-west-2",
      "ap-south-1", "ap-east-1", "sa-east-1"}},
    {"tier",
     {"bronze", "silver", "gold", "platinum", "diamond", "basic", "internal",
      "partner"}},
};
#define NPOOLS (sizeof(IN_POOLS) / sizeof(IN_POOLS[0]))

static const char *const APPS[] = {"web-shop", "ios-app", "android-app",
                                   "backoffice"};
static const char *const TEAMS[] = {"checkout", "search",   "payments",
                                    "growth",   "platform", "mobile",
                                    "ads",      "identity"};
static const char *const VARIANT_NAMES[NVARIANTS] = {"control", "variant-a",
                                                     "variant-b", "variant-c"};
static const char *const COLORS[] = {"blue", "green", "red", "orange"};

typedef enum kind { KIND_MIXED, KIND_FLEXIBLE, KIND_CATASTROPHIC } kind;

/* The catastrophic kind: a REGEX that backtracks exponentially on a text
 * of a's that ends in something else (issue 12: ~25 ms a search without
 * limits), and that text. */
#define CATASTROPHIC_PATTERN "(a+)+$"
#define CATASTROPHIC_TEXT    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa!"

typedef struct gen {
    rng r;          /* the one random stream */
    FILE *out;      /* file being written */
    kind kind;      /* document shape */
    size_t nflags;  /* flags to write */
    bool *has_deps; /* per flag: has dependencies (parents must not) */
} gen;

/* ---- small writers ----------------------------------------------------- */

/* Writes `k` distinct values of `p` as a JSON array. */
static void put_subset(gen *g, const pool *p, uint32_t k)
{
    uint32_t idx[POOL];
    for (uint32_t i = 0; i < POOL; i++)
        idx[i] = i;
    fputc('[', g->out);
    for (uint32_t i = 0; i < k && i < POOL; i++) {
        uint32_t j = i + below(&g->r, POOL - i);
        uint32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        fprintf(g->out, "%s\"%s\"", i ? "," : "", p->values[idx[i]]);
    }
    fputc(']', g->out);
}

static void put_constraint_head(gen *g, const char *field, const char *op,
                                bool ci, bool inverted)
{
    fprintf(g->out,
            "{\"contextName\":\"%s\",\"operator\":\"%s\","
            "\"caseInsensitive\":%s,\"inverted\":%s",
            field, op, ci ? "true" : "false", inverted ? "true" : "false");
}

/* IN on a property with 5 of its 8 values: matches 5/8 of the contexts. */
static void put_in_constraint(gen *g)
{
    const pool *p = &IN_POOLS[below(&g->r, NPOOLS)];
    put_constraint_head(g, p->field, "IN", false, false);
    fputs(",\"values\":", g->out);
    put_subset(g, p, IN_VALUES);
    fputc('}', g->out);
}

/* The second constraint of the target shape: STR_STARTS_WITH on tenantId,
 * NUM_GTE on seats or SEMVER_GTE on appVersion (each matches ~60-70%). */
static void put_second_constraint(gen *g)
{
    switch (below(&g->r, 3)) {
    case 0: {
        uint32_t first = below(&g->r, 4);
        bool ci = chance(&g->r, 20);
        put_constraint_head(g, "tenantId", "STR_STARTS_WITH", ci, false);
        fputs(",\"values\":[", g->out);
        for (uint32_t i = 0; i < 5; i++)
            fprintf(g->out, "%s\"%s-%c\"", i ? "," : "", ci ? "T" : "t",
                    (char)('a' + first + i));
        fputs("]}", g->out);
        break;
    }
    case 1:
        put_constraint_head(g, "seats", "NUM_GTE", false, false);
        fprintf(g->out, ",\"value\":\"%u\",\"values\":[]}",
                1 + below(&g->r, 600));
        break;
    default:
        put_constraint_head(g, "appVersion", "SEMVER_GTE", false, false);
        fprintf(g->out, ",\"value\":\"%u.%u.0\",\"values\":[]}",
                1 + below(&g->r, 3), below(&g->r, 20));
        break;
    }
}

/* A constraint of the kinds the main shape does not use (mixed kind). */
static void put_other_constraint(gen *g)
{
    uint32_t k = below(&g->r, 100);
    if (k < 30) {
        put_constraint_head(g, "currentTime", "DATE_AFTER", false, false);
        fprintf(g->out, ",\"value\":\"2024-%02u-01T00:00:00.000Z\"}",
                1 + below(&g->r, 12));
    } else if (k < 55) {
        put_constraint_head(g, "email", "STR_CONTAINS", true, false);
        fputs(",\"values\":[\"@example.com\",\"@corp.example\"]}", g->out);
    } else if (k < 75) {
        put_constraint_head(g, "country", "NOT_IN", false, false);
        fputs(",\"values\":", g->out);
        put_subset(g, &IN_POOLS[0], 2);
        fputc('}', g->out);
    } else if (k < 95) {
        put_constraint_head(g, "seats", "NUM_LT", false, chance(&g->r, 30));
        fprintf(g->out, ",\"value\":\"%u\"}", 100 + below(&g->r, 800));
    } else {
        put_constraint_head(g, "email", "REGEX", false, false);
        fputs(
            ",\"value\":\"^user-[0-9]+@(example\\\\.com|corp\\\\.example)$\"}",
            g->out);
    }
}

/* Four weights in [1, 997] summing to 1000. */
static void split_weights(gen *g, uint32_t w[NVARIANTS])
{
    uint32_t cut[NVARIANTS - 1];
    for (uint32_t i = 0; i < NVARIANTS - 1; i++)
        cut[i] = 1 + below(&g->r, 999);
    for (uint32_t i = 1; i < NVARIANTS - 1; i++) { /* insertion sort */
        for (uint32_t j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
            uint32_t t = cut[j];
            cut[j] = cut[j - 1];
            cut[j - 1] = t;
        }
    }
    uint32_t prev = 0, sum = 0;
    for (uint32_t i = 0; i < NVARIANTS - 1; i++) {
        w[i] = cut[i] - prev;
        if (w[i] == 0)
            w[i] = 1;
        prev = cut[i];
    }
    for (uint32_t i = 0; i < NVARIANTS - 1; i++)
        sum += w[i];
    w[NVARIANTS - 1] = sum < 1000 ? 1000 - sum : 1;
    if (sum >= 1000) { /* only when cuts collided: take it from the largest */
        uint32_t big = 0;
        for (uint32_t i = 1; i < NVARIANTS - 1; i++)
            big = w[i] > w[big] ? i : big;
        w[big] -= sum + 1 - 1000;
    }
}

/* One variant with a payload of type json, string, number or csv. */
static void put_variant(gen *g, const char *name, uint32_t weight,
                        const char *stickiness, uint32_t i)
{
    fprintf(g->out,
            "{\"name\":\"%s\",\"weight\":%u,\"weightType\":\"variable\","
            "\"stickiness\":\"%s\",\"payload\":",
            name, weight, stickiness);
    switch (i % 4) {
    case 0:
        fprintf(g->out,
                "{\"type\":\"json\",\"value\":\"{\\\"color\\\":\\\"%s\\\","
                "\\\"limit\\\":%u}\"}",
                COLORS[below(&g->r, 4)], below(&g->r, 100));
        break;
    case 1:
        fprintf(g->out, "{\"type\":\"string\",\"value\":\"banner-v%u\"}",
                below(&g->r, 10));
        break;
    case 2:
        fprintf(g->out, "{\"type\":\"number\",\"value\":\"%u\"}",
                below(&g->r, 1000));
        break;
    default:
        fputs("{\"type\":\"csv\",\"value\":\"alpha,beta,gamma\"}", g->out);
        break;
    }
    fputc('}', g->out);
}

static const char *pick_stickiness(gen *g)
{
    uint32_t k = below(&g->r, 100);
    return k < 70   ? "default"
           : k < 85 ? "userId"
           : k < 95 ? "sessionId"
                    : "tenantId";
}

static uint32_t pick_rollout(gen *g)
{
    static const uint32_t R[] = {0, 5, 10, 25, 50, 50, 75, 100, 100, 100};
    return R[below(&g->r, sizeof(R) / sizeof(R[0]))];
}

/* The target shape: flexibleRollout, IN + one more constraint, four
 * variants with payloads; the mixed kind adds one segment reference. */
static void put_flexible(gen *g, const char *flag, bool segment)
{
    const char *stick = pick_stickiness(g);
    uint32_t w[NVARIANTS];
    split_weights(g, w);
    fprintf(g->out,
            "{\"name\":\"flexibleRollout\",\"parameters\":{\"rollout\":\"%u\","
            "\"stickiness\":\"%s\",\"groupId\":\"%s\"},\"constraints\":[",
            pick_rollout(g), stick, flag);
    put_in_constraint(g);
    fputc(',', g->out);
    put_second_constraint(g);
    fputs("],\"segments\":[", g->out);
    if (segment)
        fprintf(g->out, "%u", 1 + below(&g->r, NSEGMENTS));
    fputs("],\"variants\":[", g->out);
    for (uint32_t i = 0; i < NVARIANTS; i++) {
        if (i)
            fputc(',', g->out);
        put_variant(g, VARIANT_NAMES[i], w[i], stick, i);
    }
    fputs("]}", g->out);
}

static void put_user_ids(gen *g, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        fprintf(g->out, "%suser-%u", i ? "," : "", 1 + below(&g->r, 2000));
}

/* One strategy of a kind other than flexibleRollout (mixed kind). */
static void put_other_strategy(gen *g, uint32_t k)
{
    FILE *o = g->out;
    if (k < 8) {
        fputs("{\"name\":\"default\",\"parameters\":{},\"constraints\":[", o);
        put_other_constraint(g);
        fputs("]}", o);
    } else if (k < 13) {
        fputs("{\"name\":\"userWithId\",\"parameters\":{\"userIds\":\"", o);
        put_user_ids(g, 20);
        fputs("\"},\"constraints\":[]}", o);
    } else if (k < 17) {
        fprintf(o,
                "{\"name\":\"gradualRolloutUserId\",\"parameters\":"
                "{\"percentage\":\"%u\",\"groupId\":\"g%u\"},"
                "\"constraints\":[]}",
                pick_rollout(g), below(&g->r, 100));
    } else if (k < 20) {
        fprintf(o,
                "{\"name\":\"gradualRolloutSessionId\",\"parameters\":"
                "{\"percentage\":\"%u\",\"groupId\":\"g%u\"},"
                "\"constraints\":[]}",
                pick_rollout(g), below(&g->r, 100));
    } else if (k < 22) {
        fprintf(o,
                "{\"name\":\"gradualRolloutRandom\",\"parameters\":"
                "{\"percentage\":\"%u\"},\"constraints\":[]}",
                pick_rollout(g));
    } else if (k < 25) {
        fprintf(o,
                "{\"name\":\"remoteAddress\",\"parameters\":{\"IPs\":"
                "\"10.%u.0.0/16, 192.168.1.%u, 172.16.0.0/12, 2001:db8::/32\"},"
                "\"constraints\":[]}",
                below(&g->r, 256), below(&g->r, 256));
    } else {
        fputs("{\"name\":\"applicationHostname\",\"parameters\":"
              "{\"hostNames\":\"web-1,web-2,Worker-3\"},\"constraints\":[]}",
              o);
    }
}

/* Feature-level variants (legacy Unleash): three, some with overrides. */
static void put_feature_variants(gen *g)
{
    bool overrides = chance(&g->r, 30);
    fputs(",\"variants\":[", g->out);
    for (uint32_t i = 0; i < 3; i++) {
        fprintf(g->out,
                "%s{\"name\":\"%s\",\"weight\":%u,\"weightType\":\"variable\","
                "\"stickiness\":\"default\",\"payload\":{\"type\":\"string\","
                "\"value\":\"v%u\"}",
                i ? "," : "", VARIANT_NAMES[i], i == 0 ? 334 : 333, i);
        if (overrides && i == 1) {
            fputs(",\"overrides\":[{\"contextName\":\"userId\",\"values\":[\"",
                  g->out);
            put_user_ids(g, 1);
            fputs("\"]}]", g->out);
        }
        fputc('}', g->out);
    }
    fputc(']', g->out);
}

static void flag_name(size_t i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.flag-%06zu", TEAMS[i % 8], i);
}

/* A dependency on an earlier flag that has none itself (Unleash allows one
 * level). Returns false when there is no candidate. */
static bool put_dependency(gen *g, size_t i)
{
    if (i < 10)
        return false;
    size_t parent = i - 1 - below(&g->r, (uint32_t)(i < 500 ? i - 1 : 500));
    if (g->has_deps[parent])
        return false;
    char name[64];
    flag_name(parent, name, sizeof(name));
    uint32_t k = below(&g->r, 100);
    fprintf(g->out, ",\"dependencies\":[{\"feature\":\"%s\"", name);
    if (k < 15)
        fputs(",\"enabled\":false", g->out);
    else if (k < 30)
        fputs(",\"variants\":[\"control\",\"variant-a\"]", g->out);
    fputs("}]", g->out);
    return true;
}

/* An enabled flag whose one strategy has one catastrophic REGEX. */
static void put_catastrophic_flag(gen *g, size_t i)
{
    char name[64];
    flag_name(i, name, sizeof(name));
    fprintf(g->out,
            "{\"name\":\"%s\",\"type\":\"release\",\"project\":\"default\","
            "\"enabled\":true,\"strategies\":[{\"name\":\"default\","
            "\"parameters\":{},\"constraints\":[",
            name);
    put_constraint_head(g, "email", "REGEX", false, false);
    fputs(",\"value\":\"" CATASTROPHIC_PATTERN "\"}]}],\"variants\":[]}",
          g->out);
}

static void put_flag(gen *g, size_t i)
{
    if (g->kind == KIND_CATASTROPHIC) {
        put_catastrophic_flag(g, i);
        return;
    }
    char name[64];
    flag_name(i, name, sizeof(name));
    bool flexible = g->kind == KIND_FLEXIBLE;
    bool enabled = flexible || !chance(&g->r, 10);
    fprintf(g->out,
            "{\"name\":\"%s\",\"type\":\"release\",\"description\":"
            "\"Synthetic flag %zu for the benchmarks\",\"project\":\"default\","
            "\"enabled\":%s,\"stale\":false,\"impressionData\":%s,"
            "\"strategies\":[",
            name, i, enabled ? "true" : "false",
            chance(&g->r, 10) ? "true" : "false");
    uint32_t shape = flexible ? 0 : below(&g->r, 100);
    if (shape < 70) {
        if (!flexible && chance(&g->r, 15)) { /* an allow-list first */
            put_other_strategy(g, 10);
            fputc(',', g->out);
        }
        put_flexible(g, name, !flexible);
    } else if (shape < 97) {
        put_other_strategy(g, below(&g->r, 27));
    } /* else: no strategies, on for everyone */
    fputc(']', g->out);
    if (!flexible && chance(&g->r, 20))
        put_feature_variants(g);
    else
        fputs(",\"variants\":[]", g->out);
    if (!flexible && chance(&g->r, 5))
        g->has_deps[i] = put_dependency(g, i);
    fputc('}', g->out);
}

static void put_segment(gen *g, uint32_t id)
{
    uint32_t n = 1 + below(&g->r, 2);
    fprintf(g->out, "{\"id\":%u,\"name\":\"segment-%u\",\"constraints\":[", id,
            id);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            fputc(',', g->out);
        switch (below(&g->r, 5)) {
        case 0:
            put_constraint_head(g, "environment", "IN", false, false);
            fputs(",\"values\":[\"production\",\"staging\"]}", g->out);
            break;
        case 1:
            put_constraint_head(g, "appName", "IN", false, false);
            fputs(",\"values\":[\"web-shop\",\"ios-app\",\"android-app\"]}",
                  g->out);
            break;
        case 2:
            put_constraint_head(g, "country", "NOT_IN", false, false);
            fputs(",\"values\":", g->out);
            put_subset(g, &IN_POOLS[0], 2);
            fputc('}', g->out);
            break;
        case 3:
            put_constraint_head(g, "currentTime", "DATE_AFTER", false, false);
            fputs(",\"value\":\"2023-01-01T00:00:00.000Z\"}", g->out);
            break;
        default: {
            const pool *p = &IN_POOLS[2 + below(&g->r, 3)];
            put_constraint_head(g, p->field, "IN", false, false);
            fputs(",\"values\":", g->out);
            put_subset(g, p, 6);
            fputc('}', g->out);
            break;
        }
        }
    }
    fputs("]}", g->out);
}

static void put_features(gen *g)
{
    fputs("{\"version\":2,\"query\":{\"environment\":\"production\","
          "\"inlineSegmentConstraints\":false},\"features\":[\n",
          g->out);
    for (size_t i = 0; i < g->nflags; i++) {
        put_flag(g, i);
        fputs(i + 1 < g->nflags ? ",\n" : "\n", g->out);
    }
    fputs("],\"segments\":[", g->out);
    if (g->kind == KIND_MIXED) {
        for (uint32_t id = 1; id <= NSEGMENTS; id++) {
            fputs(id > 1 ? ",\n" : "\n", g->out);
            put_segment(g, id);
        }
    }
    fputs("\n]}\n", g->out);
}

static void put_context(gen *g)
{
    FILE *o = g->out;
    if (g->kind == KIND_CATASTROPHIC) {
        fprintf(o,
                "{\"userId\":\"user-%u\",\"properties\":{\"email\":"
                "\"" CATASTROPHIC_TEXT "\"}}",
                1 + below(&g->r, USER_IDS));
        return;
    }
    uint32_t user = 1 + below(&g->r, USER_IDS);
    uint64_t sess = rng_next(&g->r);
    uint32_t env = below(&g->r, 100);
    fputc('{', o);
    if (chance(&g->r, 90)) /* 10% anonymous: sessionId stickiness */
        fprintf(o, "\"userId\":\"user-%u\",", user);
    fprintf(o,
            "\"sessionId\":\"%016llx\",\"appName\":\"%s\","
            "\"environment\":\"%s\",\"remoteAddress\":\"10.%u.%u.%u\","
            "\"currentTime\":\"2024-%02u-%02uT%02u:%02u:00.000Z\","
            "\"properties\":{",
            (unsigned long long)sess, APPS[below(&g->r, 4)],
            env < 80   ? "production"
            : env < 95 ? "staging"
                       : "development",
            below(&g->r, 256), below(&g->r, 256), 1 + below(&g->r, 254),
            1 + below(&g->r, 12), 1 + below(&g->r, 28), below(&g->r, 24),
            below(&g->r, 60));
    for (size_t i = 0; i < NPOOLS; i++)
        fprintf(o, "\"%s\":\"%s\",", IN_POOLS[i].field,
                IN_POOLS[i].values[below(&g->r, POOL)]);
    fprintf(o,
            "\"tenantId\":\"t-%c%04u\",\"seats\":\"%u\","
            "\"appVersion\":\"%u.%u.%u%s\",\"email\":\"user-%u@%s\"}}",
            (char)('a' + below(&g->r, 8)), below(&g->r, 10000),
            1 + below(&g->r, 1000), 1 + below(&g->r, 4), below(&g->r, 20),
            below(&g->r, 10), chance(&g->r, 10) ? "-rc.1" : "", user,
            chance(&g->r, 70) ? "example.com" : "mail.test");
}

static void put_contexts(gen *g, size_t n)
{
    fputs("[\n", g->out);
    for (size_t i = 0; i < n; i++) {
        put_context(g);
        fputs(i + 1 < n ? ",\n" : "\n", g->out);
    }
    fputs("]\n", g->out);
}

static int write_file(gen *g, const char *path, bool features, size_t n)
{
    g->out = fopen(path, "w");
    if (!g->out) {
        perror(path);
        return 1;
    }
    if (features)
        put_features(g);
    else
        put_contexts(g, n);
    int bad = ferror(g->out);
    if (fclose(g->out) != 0 || bad) {
        fprintf(stderr, "bench_gen: cannot write %s\n", path);
        return 1;
    }
    g->out = NULL;
    return 0;
}

static void usage(FILE *out)
{
    fputs("usage: bench_gen --flags N --contexts M --out-features FILE\n"
          "                 --out-contexts FILE [--seed S]\n"
          "                 [--kind mixed|flexible|catastrophic]\n"
          "\n"
          "Writes an Unleash client-features document with N flags and a JSON\n"
          "array of M SDK contexts. `flexible` makes every flag one enabled\n"
          "flexibleRollout strategy with two constraints and four variants;\n"
          "`mixed` (default) adds a segment to those (70% of the flags),\n"
          "other strategy kinds, feature variants, dependencies and\n"
          "disabled flags. `catastrophic` gives every flag one REGEX\n"
          "constraint, " CATASTROPHIC_PATTERN ", and every context a text it\n"
          "backtracks on exponentially: the cost of one search at the\n"
          "REGEX limits (base/limits.h).\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct option LONG[] = {
        {"flags", required_argument, NULL, 'n'},
        {"contexts", required_argument, NULL, 'm'},
        {"out-features", required_argument, NULL, 'f'},
        {"out-contexts", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'},
        {"kind", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    size_t nflags = 0, nctx = 0;
    const char *fpath = NULL, *cpath = NULL;
    uint64_t seed = 42;
    kind k = KIND_MIXED;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", LONG, NULL)) != -1) {
        switch (opt) {
        case 'n': nflags = bench_parse_count("--flags", optarg); break;
        case 'm': nctx = bench_parse_count("--contexts", optarg); break;
        case 'f': fpath = optarg; break;
        case 'c': cpath = optarg; break;
        case 's': seed = bench_parse_count("--seed", optarg); break;
        case 'k':
            if (strcmp(optarg, "mixed") == 0) {
                k = KIND_MIXED;
            } else if (strcmp(optarg, "flexible") == 0) {
                k = KIND_FLEXIBLE;
            } else if (strcmp(optarg, "catastrophic") == 0) {
                k = KIND_CATASTROPHIC;
            } else {
                fprintf(stderr, "bench_gen: unknown --kind \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!nflags || !nctx || !fpath || !cpath || optind != argc) {
        usage(stderr);
        return 2;
    }
    gen g = {.r = {seed}, .kind = k, .nflags = nflags};
    g.has_deps = calloc(nflags, sizeof(*g.has_deps));
    if (!g.has_deps) {
        fputs("bench_gen: out of memory\n", stderr);
        return 1;
    }
    int rc = write_file(&g, fpath, true, nflags);
    if (rc == 0)
        rc = write_file(&g, cpath, false, nctx);
    free(g.has_deps);
    return rc;
}
