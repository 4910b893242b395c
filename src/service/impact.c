/* Impact metrics: outcome batches from applications, SDKs and the model
 * gateway, added to per-minute buckets per (environment, flag, variant)
 * that the release-plan scheduler compares (docs/guard.md). A bucket is
 * also tagged with the plan run and rollout epoch in force at the entry's
 * "at" time (its arrival when absent), so a plan compares treatment and
 * control within each epoch even when a batch arrives after an advance.
 *
 * Invariants: a batch is validated whole before anything is written; a
 * repeated batchId writes nothing; storage is bounded (minutes for
 * VX_LIMIT_IMPACT_MINUTE_DAYS, then hours until VX_LIMIT_IMPACT_HOUR_DAYS;
 * batch ids for VX_LIMIT_IMPACT_BATCH_HOURS). */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/limits.h"
#include "guard/bucket.h"
#include "guard/sketch.h"
#include "service/internal.h"
#include "vexil/vexil.h"

#define MINUTE_S 60
#define HOUR_S   3600
#define KEY_MAX  1200

/* ---- validation ------------------------------------------------------- */

static vx_status need_count(svc_ctx *c, const json_t *v, const char *path,
                            json_int_t *out)
{
    *out = 0;
    if (!v || json_is_null(v))
        return VX_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > ((json_int_t)1 << 53))
        return svc__fail(c, VX_EINVAL, path,
                         "must be a whole number from 0 to 2^53");
    *out = json_integer_value(v);
    return VX_OK;
}

static vx_status need_number(svc_ctx *c, const json_t *v, const char *path,
                             double min, double *out)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
        json_number_value(v) < min)
        return svc__fail(c, VX_EINVAL, path,
                         min == 0 ? "must be a finite number >= 0"
                                  : "must be a finite number");
    *out = json_number_value(v);
    return VX_OK;
}

/* {count, sum, sumsq}: the aggregate form of a set of observations. */
static vx_status check_moments(svc_ctx *c, const json_t *v, const char *base)
{
    char p[VX_ERROR_PATH_MAX];
    if (!json_is_object(v))
        return svc__fail(c, VX_EINVAL, base,
                         "must be an object {count, sum, sumsq}");
    json_int_t n;
    double x;
    snprintf(p, sizeof(p), "%s/count", base);
    vx_status st = need_count(c, json_object_get(v, "count"), p, &n);
    snprintf(p, sizeof(p), "%s/sum", base);
    if (st == VX_OK)
        st = need_number(c, json_object_get(v, "sum"), p, -INFINITY, &x);
    snprintf(p, sizeof(p), "%s/sumsq", base);
    if (st == VX_OK)
        st = need_number(c, json_object_get(v, "sumsq"), p, 0, &x);
    return st;
}

/* An array of raw observations (finite, >= 0), at most the limit. */
static vx_status check_samples(svc_ctx *c, const json_t *v, const char *base)
{
    if (!v || json_is_null(v))
        return VX_OK;
    vx_status st = svc__expect_array(c, v, base, VX_LIMIT_IMPACT_LATENCIES);
    size_t i;
    const json_t *x;
    json_array_foreach (v, i, x) {
        if (st != VX_OK)
            break;
        char p[VX_ERROR_PATH_MAX];
        double d;
        snprintf(p, sizeof(p), "%s/%zu", base, i);
        st = need_number(c, x, p, 0, &d);
    }
    return st;
}

static bool label_ok(const char *s, size_t len)
{
    if (len == 0 || len > 100 || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '|')
            return false;
    return true;
}

/* The arm label of an entry: "disabled" (control) when the flag was off,
 * else the variant, else "enabled". Unleash SDKs name the absence of a
 * variant "disabled": with the flag on, that is the treatment ("enabled").
 * NULL when neither is given. */
static const char *label_of(const json_t *m)
{
    const json_t *en = json_object_get(m, "enabled");
    const json_t *va = json_object_get(m, "variant");
    if (json_is_false(en))
        return "disabled";
    if (json_is_string(va) && json_is_true(en) &&
        strcmp(json_string_value(va), "disabled") == 0)
        return "enabled";
    if (json_is_string(va))
        return json_string_value(va);
    if (json_is_true(en))
        return "enabled";
    return NULL;
}

/* The fields an entry may have: anything else is a misspelling that would
 * otherwise be dropped without a word. */
static const char *const ENTRY_FIELDS[] = {
    "flag",       "variant",     "enabled",   "at",     "requests",
    "errors",     "conversions", "latencyMs", "ttftMs", "latency",
    "logLatency", "values",      "unit",      NULL};

static vx_status check_fields(svc_ctx *c, const json_t *o,
                              const char *const *known, const char *base)
{
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)o, k, v) {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (!known[i]) {
            char p[VX_ERROR_PATH_MAX];
            snprintf(p, sizeof(p), "%s/%.64s", base, k);
            return svc__fail(c, VX_EINVAL, p,
                             "unknown field '%.64s' (docs/sdk-api.md lists "
                             "the fields of an impact entry)",
                             k);
        }
    }
    return VX_OK;
}

/* The group of a unit (a user or context key, ideally already hashed by
 * the application): BLAKE2b of its bytes, modulo GUARD_GROUPS, the same
 * on every server. */
static size_t unit_group(const char *unit, size_t len)
{
    unsigned char h[8];
    crypto_generichash(h, sizeof(h), (const unsigned char *)unit, len, NULL, 0);
    uint64_t x = 0;
    for (size_t i = 0; i < sizeof(h); i++)
        x = x << 8 | h[i];
    return (size_t)(x % GUARD_GROUPS);
}

static vx_status check_entry(svc_ctx *c, const json_t *m, size_t i,
                             int64_t *at_ms)
{
    char base[64], p[VX_ERROR_PATH_MAX];
    snprintf(base, sizeof(base), "/metrics/%zu", i);
    vx_status st = svc__expect_object(c, m, base);
    if (st != VX_OK)
        return st;
    st = check_fields(c, m, ENTRY_FIELDS, base);
    snprintf(p, sizeof(p), "%s/flag", base);
    if (st == VX_OK)
        st = svc__check_name(c, json_object_get(m, "flag"), p, "flag");
    const json_t *un = json_object_get(m, "unit");
    if (st == VX_OK && un && !json_is_null(un) &&
        (!json_is_string(un) || json_string_length(un) == 0 ||
         json_string_length(un) > 256)) {
        snprintf(p, sizeof(p), "%s/unit", base);
        st = svc__fail(c, VX_EINVAL, p,
                       "unit must be a string of 1 to 256 characters (the "
                       "user or context key, hashed)");
    }
    const json_t *va = json_object_get(m, "variant");
    const json_t *en = json_object_get(m, "enabled");
    if (st == VX_OK && va && !json_is_null(va) &&
        (!json_is_string(va) ||
         !label_ok(json_string_value(va), json_string_length(va)))) {
        snprintf(p, sizeof(p), "%s/variant", base);
        st = svc__fail(c, VX_EINVAL, p,
                       "variant must be a string of 1 to 100 characters "
                       "without '|' or control characters");
    }
    if (st == VX_OK && en && !json_is_null(en) && !json_is_boolean(en)) {
        snprintf(p, sizeof(p), "%s/enabled", base);
        st = svc__fail(c, VX_EINVAL, p, "enabled must be a boolean");
    }
    if (st == VX_OK && !label_of(m)) {
        snprintf(p, sizeof(p), "%s/enabled", base);
        st = svc__fail(c, VX_EINVAL, p,
                       "variant or enabled is required: which arm served "
                       "these requests");
    }
    const json_t *at = json_object_get(m, "at");
    *at_ms = c->now_ms;
    if (st == VX_OK && at && !json_is_null(at)) {
        snprintf(p, sizeof(p), "%s/at", base);
        int64_t t = 0;
        if (!json_is_string(at) ||
            !vx_time_parse(json_string_value(at), json_string_length(at), &t))
            st = svc__fail(c, VX_EINVAL, p,
                           "at must be an RFC 3339 time such as "
                           "2026-11-30T05:00:00Z");
        else if (t > c->now_ms + VX_LIMIT_IMPACT_FUTURE_MS ||
                 t < c->now_ms -
                         (int64_t)VX_LIMIT_IMPACT_MINUTE_DAYS * 86400000)
            st = svc__fail(c, VX_EINVAL, p,
                           "at must be within the last %d days and not in "
                           "the future",
                           VX_LIMIT_IMPACT_MINUTE_DAYS);
        else
            *at_ms = t;
    }
    json_int_t req = 0, errs = 0, conv = 0;
    snprintf(p, sizeof(p), "%s/requests", base);
    if (st == VX_OK)
        st = need_count(c, json_object_get(m, "requests"), p, &req);
    snprintf(p, sizeof(p), "%s/errors", base);
    if (st == VX_OK)
        st = need_count(c, json_object_get(m, "errors"), p, &errs);
    if (st == VX_OK && errs > req)
        st = svc__fail(c, VX_EINVAL, p, "errors (%lld) exceed requests (%lld)",
                       (long long)errs, (long long)req);
    snprintf(p, sizeof(p), "%s/conversions", base);
    if (st == VX_OK)
        st = need_count(c, json_object_get(m, "conversions"), p, &conv);
    if (st == VX_OK && conv > req)
        st = svc__fail(c, VX_EINVAL, p,
                       "conversions (%lld) exceed requests (%lld)",
                       (long long)conv, (long long)req);
    snprintf(p, sizeof(p), "%s/latencyMs", base);
    if (st == VX_OK)
        st = check_samples(c, json_object_get(m, "latencyMs"), p);
    snprintf(p, sizeof(p), "%s/ttftMs", base);
    if (st == VX_OK)
        st = check_samples(c, json_object_get(m, "ttftMs"), p);
    const json_t *lat = json_object_get(m, "latency");
    snprintf(p, sizeof(p), "%s/latency", base);
    if (st == VX_OK && lat && !json_is_null(lat))
        st = check_moments(c, lat, p);
    const json_t *llat = json_object_get(m, "logLatency");
    snprintf(p, sizeof(p), "%s/logLatency", base);
    if (st == VX_OK && llat && !json_is_null(llat))
        st = check_moments(c, llat, p);
    const json_t *vals = json_object_get(m, "values");
    snprintf(p, sizeof(p), "%s/values", base);
    if (st == VX_OK && vals && !json_is_null(vals)) {
        if (!json_is_object(vals))
            st = svc__fail(c, VX_EINVAL, p, "values must be an object");
        else if (json_object_size(vals) > VX_LIMIT_IMPACT_VALUES)
            st = svc__fail(c, VX_ELIMIT, p, "at most %d named values",
                           VX_LIMIT_IMPACT_VALUES);
        const char *k;
        const json_t *v;
        json_object_foreach ((json_t *)vals, k, v) {
            if (st != VX_OK)
                break;
            char vp[VX_ERROR_PATH_MAX];
            snprintf(vp, sizeof(vp), "%s/%.64s", p, k);
            if (!label_ok(k, strlen(k)) || strlen(k) > 64)
                st = svc__fail(c, VX_EINVAL, vp,
                               "a value name has 1 to 64 characters");
            else
                st = check_moments(c, v, vp);
        }
    }
    return st;
}

/* ---- buckets ------------------------------------------------------------ */

static void moments_get(const json_t *doc, const char *key, guard_moments *m)
{
    const json_t *a = json_object_get(doc, key);
    m->n = json_number_value(json_array_get(a, 0));
    m->sum = json_number_value(json_array_get(a, 1));
    m->sumsq = json_number_value(json_array_get(a, 2));
}

static json_t *moments_json(const guard_moments *m)
{
    return json_pack("[f f f]", m->n, m->sum, m->sumsq);
}

static void moments_add(guard_moments *d, const guard_moments *s)
{
    d->n += s->n;
    d->sum += s->sum;
    d->sumsq += s->sumsq;
}

/* Decodes a bucket's sketch (absent = empty). */
static vx_status sketch_get(const json_t *doc, guard_sketch *sk)
{
    guard_sketch_init(sk);
    const char *b64 = json_string_value(json_object_get(doc, "sketch"));
    if (!b64)
        return VX_OK;
    size_t cap = strlen(b64), len = 0;
    uint8_t *bin = vx__malloc(cap + 1);
    if (!bin)
        return VX_ENOMEM;
    vx_status st = VX_EPARSE;
    if (sodium_base642bin(bin, cap + 1, b64, cap, NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0)
        st = guard_sketch_decode(bin, len, sk, NULL);
    vx__free(bin);
    return st;
}

static vx_status sketch_put(json_t *doc, const guard_sketch *sk)
{
    if (sk->count == 0) {
        json_object_del(doc, "sketch");
        return VX_OK;
    }
    size_t len = 0;
    size_t b64cap = sodium_base64_ENCODED_LEN(GUARD_SKETCH_ENCODED_MAX,
                                              sodium_base64_VARIANT_ORIGINAL);
    uint8_t *bin = vx__malloc(GUARD_SKETCH_ENCODED_MAX + b64cap);
    if (!bin)
        return VX_ENOMEM;
    char *b64 = (char *)bin + GUARD_SKETCH_ENCODED_MAX;
    vx_status st = guard_sketch_encode(sk, bin, GUARD_SKETCH_ENCODED_MAX, &len);
    if (st == VX_OK) {
        sodium_bin2base64(b64, b64cap, bin, len,
                          sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new(doc, "sketch", json_string(b64));
    }
    vx__free(bin);
    return st;
}

/* The counts of a bucket document; SDK exposures stand in for requests
 * when the application reported none for that bucket (never both: the
 * same requests would count twice). */
void svc__impact_counts(const json_t *doc, guard_counts *out)
{
    memset(out, 0, sizeof(*out));
    json_int_t req = json_integer_value(json_object_get(doc, "requests"));
    json_int_t sdk = json_integer_value(json_object_get(doc, "sdkRequests"));
    out->requests = (uint64_t)(req > 0 ? req : sdk);
    out->errors = (uint64_t)json_integer_value(json_object_get(doc, "errors"));
    out->conversions =
        (uint64_t)json_integer_value(json_object_get(doc, "conversions"));
    moments_get(doc, "latency", &out->latency);
    moments_get(doc, "logLatency", &out->log_latency);
}

#define GROUP_FIELDS 6
static void group_get(const json_t *doc, const char *key,
                      double out[GROUP_FIELDS]);

/* ---- reading buckets back: sums per arm and epoch ---------------------- */

void svc__impact_arms_release(svc_arms *a)
{
    vx__free(a->counts);
    vx__free(a->groups);
    vx__free(a->sketches);
    memset(a, 0, sizeof(*a));
}

int svc__impact_arm(const svc_arms *a, const char *label)
{
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->label[i], label) == 0)
            return (int)i;
    return -1;
}

/* Whether bucket `d` belongs to the read (a plan run's epoch < n, or an
 * untagged bucket from `since_s` on); its epoch in *e. */
static bool arms_wanted(const json_t *d, const char *run, size_t n,
                        int64_t since_s, size_t *e)
{
    const char *r = json_string_value(json_object_get(d, "run"));
    json_int_t ep = json_integer_value(json_object_get(d, "epoch"));
    if (run) {
        if (!r || strcmp(r, run) != 0 || ep < 0 || (size_t)ep >= n)
            return false;
        *e = (size_t)ep;
        return true;
    }
    *e = 0;
    return (!r || !r[0]) &&
           json_integer_value(json_object_get(d, "start")) >= since_s;
}

vx_status svc__impact_arms(svc_ctx *c, const char *env, const char *flag,
                           const char *run, size_t n_epochs, int64_t since_s,
                           bool sketches, svc_arms *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = run ? (n_epochs ? n_epochs : 1) : 1;
    if (n > VX_LIMIT_PLAN_EPOCHS)
        n = VX_LIMIT_PLAN_EPOCHS;
    out->n_epochs = n;
    char parent[KEY_MAX];
    snprintf(parent, sizeof(parent), "%s|%s|%s", env, flag, run ? run : "");
    json_t *docs = NULL;
    vx_status st = svc__list(c, STORE_IMPACT, parent, &docs);
    if (st != VX_OK)
        return st;
    /* first pass: the labels, and whether any bucket has groups */
    bool grouped = false;
    size_t i, e;
    json_t *d;
    json_array_foreach (docs, i, d) {
        const char *l = json_string_value(json_object_get(d, "variant"));
        if (!l || !arms_wanted(d, run, n, since_s, &e))
            continue;
        grouped |= json_object_size(json_object_get(d, "groups")) > 0;
        if (svc__impact_arm(out, l) >= 0)
            continue;
        if (out->n_labels == SVC_ARMS_MAX_LABELS || strlen(l) >= 128) {
            out->dropped++;
            continue;
        }
        snprintf(out->label[out->n_labels++], 128, "%s", l);
    }
    size_t cells = (out->n_labels ? out->n_labels : 1) * n;
    out->counts = vx__calloc(cells, sizeof(guard_counts));
    if (grouped)
        out->groups = vx__calloc(cells, sizeof(guard_cluster));
    if (sketches) {
        out->sketches = vx__calloc(cells, sizeof(guard_sketch));
        for (size_t k = 0; out->sketches && k < cells; k++)
            guard_sketch_init(&out->sketches[k]);
    }
    guard_sketch *one = sketches ? vx__malloc(sizeof(*one)) : NULL;
    if (!out->counts || (grouped && !out->groups) ||
        (sketches && (!out->sketches || !one))) {
        vx__free(one);
        json_decref(docs);
        return VX_ENOMEM;
    }
    json_array_foreach (docs, i, d) {
        const char *l = json_string_value(json_object_get(d, "variant"));
        int li = l ? svc__impact_arm(out, l) : -1;
        if (li < 0 || !arms_wanted(d, run, n, since_s, &e))
            continue;
        size_t cell = (size_t)li * n + e;
        guard_counts k;
        svc__impact_counts(d, &k);
        guard_counts_merge(&out->counts[cell], &k);
        const char *gk;
        const json_t *gv;
        json_object_foreach ((json_t *)json_object_get(d, "groups"), gk, gv) {
            long g = strtol(gk, NULL, 10);
            if (!out->groups || g < 0 || g >= GUARD_GROUPS)
                continue;
            guard_cluster *cl = &out->groups[cell];
            double v[GROUP_FIELDS];
            group_get(d, gk, v);
            cl->requests[g] += v[0];
            cl->errors[g] += v[1];
            cl->conversions[g] += v[2];
            cl->lat_n[g] += v[3];
            cl->lat_sum[g] += v[4];
            cl->loglat_sum[g] += v[5];
        }
        if (one && json_is_string(json_object_get(d, "sketch")) &&
            sketch_get(d, one) == VX_OK)
            guard_sketch_merge(&out->sketches[cell], one);
    }
    vx__free(one);
    json_decref(docs);
    return VX_OK;
}

static void add_int(json_t *doc, const char *key, json_int_t n)
{
    json_int_t have = json_integer_value(json_object_get(doc, key));
    json_object_set_new(doc, key, json_integer(have + n));
}

/* The bucket document for (env, flag, tag, label, width, start), created
 * empty when absent. `*key` receives its key. */
static vx_status bucket_load(svc_ctx *c, const char *env, const char *flag,
                             const char *tag, const char *label, int64_t width,
                             int64_t start, char key[KEY_MAX], json_t **doc)
{
    char run[64] = "";
    const char *bar = strchr(tag, '|');
    size_t rl = bar ? (size_t)(bar - tag) : strlen(tag);
    if (rl >= sizeof(run))
        rl = sizeof(run) - 1;
    memcpy(run, tag, rl);
    run[rl] = '\0';
    long long epoch = bar && bar[1] ? strtoll(bar + 1, NULL, 10) : 0;
    snprintf(key, KEY_MAX, "%s|%s|%s|%s|%lld|%lld", env, flag, tag, label,
             (long long)width, (long long)start);
    vx_status st = svc__get(c, STORE_IMPACT, key, doc);
    if (st != VX_ENOTFOUND)
        return st;
    *doc = json_pack("{ss ss ss sI ss sb sI sI si si si si s[fff] s[fff] s{}}",
                     "environment", env, "feature", flag, "run", run, "epoch",
                     (json_int_t)epoch, "variant", label, "control",
                     strcmp(label, "disabled") == 0, "start", (json_int_t)start,
                     "width", (json_int_t)width, "requests", 0, "errors", 0,
                     "conversions", 0, "sdkRequests", 0, "latency", 0.0, 0.0,
                     0.0, "logLatency", 0.0, 0.0, 0.0, "values");
    return *doc ? VX_OK : VX_ENOMEM;
}

static vx_status bucket_save(svc_ctx *c, const char *key, const json_t *doc)
{
    char parent[KEY_MAX];
    snprintf(parent, sizeof(parent), "%s|%s|%s",
             json_string_value(json_object_get(doc, "environment")),
             json_string_value(json_object_get(doc, "feature")),
             json_string_value(json_object_get(doc, "run")));
    return svc__put(c, STORE_IMPACT, key, parent, doc);
}

vx_status svc__impact_tag(svc_ctx *c, const char *env, const char *flag,
                          int64_t at_ms, char *tag, size_t cap)
{
    char key[600];
    snprintf(key, sizeof(key), "%s|%s", env, flag);
    json_t *plan = NULL;
    vx_status st = svc__get(c, STORE_PLAN, key, &plan);
    snprintf(tag, cap, "|");
    if (st == VX_ENOTFOUND)
        return VX_OK;
    if (st != VX_OK)
        return st;
    const char *state = json_string_value(json_object_get(plan, "state"));
    if (state &&
        (strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
         strcmp(state, "waiting-approval") == 0 ||
         strcmp(state, "held") == 0)) {
        /* The epoch in force at `at_ms`: the last one started by then.
         * Data from before the plan run belongs to no epoch. */
        const json_t *eps = json_object_get(plan, "epochs");
        long long epoch = -1;
        size_t i;
        const json_t *e;
        json_array_foreach (eps, i, e) {
            if (json_integer_value(json_object_get(e, "startedMs")) <= at_ms)
                epoch = (long long)i;
        }
        if (epoch >= 0)
            snprintf(tag, cap, "%s|%lld",
                     json_string_value(json_object_get(plan, "run")), epoch);
    }
    json_decref(plan);
    return VX_OK;
}

static void samples_moments(const json_t *arr, guard_moments *m)
{
    size_t i;
    const json_t *x;
    json_array_foreach (arr, i, x) {
        double v = json_number_value(x);
        m->n += 1;
        m->sum += v;
        m->sumsq += v * v;
    }
}

/* The per-group sums of a bucket ("groups": {"g": [requests, errors,
 * conversions, latency samples, sum of latency, sum of ln latency]}):
 * what the guard's cluster-robust variance reads (guard_cluster). */

static void group_get(const json_t *doc, const char *key,
                      double out[GROUP_FIELDS])
{
    const json_t *a = json_object_get(json_object_get(doc, "groups"), key);
    for (size_t i = 0; i < GROUP_FIELDS; i++)
        out[i] = json_number_value(json_array_get(a, i));
}

static void group_put(json_t *doc, const char *key,
                      const double v[GROUP_FIELDS])
{
    json_t *gs = json_object_get(doc, "groups");
    if (!json_is_object(gs)) {
        gs = json_object();
        json_object_set_new(doc, "groups", gs);
    }
    json_t *a = json_array();
    for (size_t i = 0; i < GROUP_FIELDS; i++)
        json_array_append_new(a, json_real(v[i]));
    json_object_set_new(gs, key, a);
}

/* Adds entry `m`, all from one unit of group `g`, to the bucket's groups.
 * Latencies count when both their forms are known (raw, or the latency
 * and logLatency aggregates of the same count); otherwise they stay
 * ungrouped (independent) in the bucket. */
static void group_add(json_t *doc, size_t g, const json_t *m)
{
    char key[16];
    double v[GROUP_FIELDS];
    snprintf(key, sizeof(key), "%zu", g);
    group_get(doc, key, v);
    v[0] += (double)json_integer_value(json_object_get(m, "requests"));
    v[1] += (double)json_integer_value(json_object_get(m, "errors"));
    v[2] += (double)json_integer_value(json_object_get(m, "conversions"));
    size_t i;
    const json_t *x;
    json_array_foreach (json_object_get(m, "latencyMs"), i, x) {
        double ms = json_number_value(x);
        v[3] += 1.0;
        v[4] += ms;
        v[5] += log(ms > GUARD_LATENCY_FLOOR_MS ? ms : GUARD_LATENCY_FLOOR_MS);
    }
    const json_t *agg = json_object_get(m, "latency");
    const json_t *lagg = json_object_get(m, "logLatency");
    json_int_t n = json_integer_value(json_object_get(agg, "count"));
    if (json_is_object(agg) && json_is_object(lagg) && n > 0 &&
        n == json_integer_value(json_object_get(lagg, "count"))) {
        v[3] += (double)n;
        v[4] += json_number_value(json_object_get(agg, "sum"));
        v[5] += json_number_value(json_object_get(lagg, "sum"));
    }
    group_put(doc, key, v);
}

/* Adds one validated entry to its bucket. */
static vx_status add_entry(svc_ctx *c, const json_t *m, int64_t at_ms)
{
    const char *env = c->who->environment;
    const char *flag = json_string_value(json_object_get(m, "flag"));
    const char *label = label_of(m);
    char tag[128], key[KEY_MAX];
    json_t *doc = NULL;
    guard_sketch *sk = NULL;
    vx_status st = svc__impact_tag(c, env, flag, at_ms, tag, sizeof(tag));
    int64_t start = guard_bucket_floor(at_ms / 1000, MINUTE_S);
    if (st == VX_OK)
        st = bucket_load(c, env, flag, tag, label, MINUTE_S, start, key, &doc);
    if (st != VX_OK)
        goto out;
    add_int(doc, "requests",
            json_integer_value(json_object_get(m, "requests")));
    add_int(doc, "errors", json_integer_value(json_object_get(m, "errors")));
    add_int(doc, "conversions",
            json_integer_value(json_object_get(m, "conversions")));
    guard_counts cnt;
    svc__impact_counts(doc, &cnt);
    const json_t *raw = json_object_get(m, "latencyMs");
    const json_t *agg = json_object_get(m, "latency");
    if (json_array_size(raw) > 0) {
        sk = vx__malloc(sizeof(*sk));
        if (!sk) {
            st = VX_ENOMEM;
            goto out;
        }
        st = sketch_get(doc, sk);
        size_t i;
        const json_t *x;
        json_array_foreach (raw, i, x) {
            if (st != VX_OK)
                break;
            st = guard_counts_add_latency(&cnt, json_number_value(x));
            if (st == VX_OK)
                st = guard_sketch_add(sk, json_number_value(x), 1);
        }
        if (st == VX_OK)
            st = sketch_put(doc, sk);
    }
    if (st == VX_OK && json_is_object(agg)) {
        guard_moments lm = {
            (double)json_integer_value(json_object_get(agg, "count")),
            json_number_value(json_object_get(agg, "sum")),
            json_number_value(json_object_get(agg, "sumsq"))};
        moments_add(&cnt.latency, &lm);
    }
    /* The aggregate form of the log-latencies (the geometric-mean guard's
     * input), from a reporter that does not send raw latencies. */
    const json_t *lagg = json_object_get(m, "logLatency");
    if (st == VX_OK && json_is_object(lagg)) {
        guard_moments lm = {
            (double)json_integer_value(json_object_get(lagg, "count")),
            json_number_value(json_object_get(lagg, "sum")),
            json_number_value(json_object_get(lagg, "sumsq"))};
        moments_add(&cnt.log_latency, &lm);
    }
    if (st != VX_OK)
        goto out;
    json_object_set_new(doc, "latency", moments_json(&cnt.latency));
    json_object_set_new(doc, "logLatency", moments_json(&cnt.log_latency));
    const json_t *unit = json_object_get(m, "unit");
    if (json_is_string(unit))
        group_add(doc,
                  unit_group(json_string_value(unit), json_string_length(unit)),
                  m);
    json_t *vals = json_object_get(doc, "values");
    const json_t *ttft = json_object_get(m, "ttftMs");
    if (json_array_size(ttft) > 0) {
        guard_moments tm;
        moments_get(vals, "ttft_ms", &tm);
        samples_moments(ttft, &tm);
        json_object_set_new(vals, "ttft_ms", moments_json(&tm));
    }
    const char *vn;
    const json_t *vv;
    json_object_foreach ((json_t *)json_object_get(m, "values"), vn, vv) {
        guard_moments have,
            add = {(double)json_integer_value(json_object_get(vv, "count")),
                   json_number_value(json_object_get(vv, "sum")),
                   json_number_value(json_object_get(vv, "sumsq"))};
        moments_get(vals, vn, &have);
        moments_add(&have, &add);
        json_object_set_new(vals, vn, moments_json(&have));
    }
    st = bucket_save(c, key, doc);
out:
    vx__free(sk);
    json_decref(doc);
    return st;
}

/* Deletes a batch-id document (it names its own key). */
static vx_status drop_batch(svc_ctx *c, void *ud, const char *hour, json_t *doc)
{
    (void)ud;
    (void)hour;
    return svc__del(c, STORE_IMPACT_BATCH,
                    json_string_value(json_object_get(doc, "key")));
}

/* Forgets batch ids past VX_LIMIT_IMPACT_BATCH_HOURS, hour by hour. */
static vx_status sweep_batches(svc_ctx *c)
{
    int64_t keep_from = c->now_ms / 3600000 - VX_LIMIT_IMPACT_BATCH_HOURS;
    int64_t h = c->s->batch_swept_hour;
    if (h == 0 || h < keep_from - 48)
        h = keep_from - 48;
    vx_status st =
        svc__each_hour(c, STORE_IMPACT_BATCH, h, keep_from, drop_batch, NULL);
    if (st == VX_OK)
        c->s->batch_swept_hour = keep_from;
    return st;
}

/* Whether flag document `f` serves variant `name` in `env` (in one of its
 * strategies or the environment's list), and whether it has variants at
 * all there. */
static bool has_variant(const json_t *f, const char *env, const char *name,
                        bool *any)
{
    size_t i, j, k;
    const json_t *e, *st, *v;
    *any = false;
    json_array_foreach (json_object_get(f, "environments"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), env) != 0)
            continue;
        json_array_foreach (json_object_get(e, "variants"), k, v) {
            *any = true;
            if (strcmp(json_string_value(json_object_get(v, "name")), name) ==
                0)
                return true;
        }
        json_array_foreach (json_object_get(e, "strategies"), j, st) {
            json_array_foreach (json_object_get(st, "variants"), k, v) {
                *any = true;
                if (strcmp(json_string_value(json_object_get(v, "name")),
                           name) == 0)
                    return true;
            }
        }
    }
    return false;
}

/* Entry `i` names a flag of the token's projects and, when the flag
 * serves variants in the environment, one of them (or the control).
 * `flags` caches the flag documents by name. */
static vx_status check_flag(svc_ctx *c, const json_t *m, size_t i,
                            json_t *flags)
{
    const char *name = json_string_value(json_object_get(m, "flag"));
    char p[64];
    json_t *f = json_object_get(flags, name);
    vx_status st = VX_OK;
    if (!f) {
        st = svc__get(c, STORE_FEATURE, name, &f);
        if (st == VX_OK &&
            (json_is_true(json_object_get(f, "archived")) ||
             !svc__in_scope(
                 c->who, json_string_value(json_object_get(f, "project"))))) {
            json_decref(f);
            f = NULL;
            st = VX_ENOTFOUND;
        }
        if (st == VX_OK)
            json_object_set_new(flags, name, f);
    }
    snprintf(p, sizeof(p), "/metrics/%zu/flag", i);
    if (st == VX_ENOTFOUND)
        return svc__fail(c, VX_ENOTFOUND, p,
                         "flag '%s' not found (impact data is only kept for "
                         "existing flags of the token's projects)",
                         name);
    if (st != VX_OK)
        return st;
    const char *label = label_of(m);
    if (strcmp(label, "disabled") == 0)
        return VX_OK;
    bool any = false, known = has_variant(f, c->who->environment, label, &any);
    snprintf(p, sizeof(p), "/metrics/%zu/variant", i);
    if (any && strcmp(label, "enabled") == 0)
        return svc__fail(c, VX_EINVAL, p,
                         "flag '%s' serves variants in '%s': name the variant "
                         "that served these requests",
                         name, c->who->environment);
    if (any && !known)
        return svc__fail(c, VX_ENOTFOUND, p,
                         "flag '%s' has no variant '%s' in '%s'", name, label,
                         c->who->environment);
    return VX_OK;
}

/* The batch's shape and every entry (no database): the kind of token,
 * the fields, batchId, at most VX_LIMIT_IMPACT_METRICS entries; each
 * entry's time into `at` ([n], may be NULL). */
static vx_status check_batch(svc_ctx *c, const json_t *b, int64_t *at)
{
    static const char *const BATCH_FIELDS[] = {"batchId", "metrics", NULL};
    const char *env = c->who->environment;
    if (!env[0] || strcmp(env, "*") == 0 || c->who->kind == SVC_KIND_FRONTEND)
        return svc__fail(c, VX_EFORBIDDEN, "",
                         "impact metrics need a client token for one "
                         "environment");
    vx_status st = svc__expect_object(c, b, "");
    if (st == VX_OK)
        st = check_fields(c, b, BATCH_FIELDS, "");
    const json_t *id = json_object_get(b, "batchId");
    if (st == VX_OK && id && !json_is_null(id) &&
        (!json_is_string(id) ||
         !label_ok(json_string_value(id), json_string_length(id))))
        st = svc__fail(c, VX_EINVAL, "/batchId",
                       "batchId must be a string of 1 to 100 characters");
    const json_t *ms = json_object_get(b, "metrics");
    if (st == VX_OK)
        st = svc__expect_array(c, ms, "/metrics", VX_LIMIT_IMPACT_METRICS);
    for (size_t i = 0; st == VX_OK && i < json_array_size(ms); i++) {
        int64_t t = 0;
        st = check_entry(c, json_array_get(ms, i), i, &t);
        if (at)
            at[i] = t;
    }
    return st;
}

static vx_status do_impact(svc_ctx *c)
{
    const json_t *b = c->req->body;
    const char *env = c->who->environment;
    const json_t *id = json_object_get(b, "batchId");
    const json_t *ms = json_object_get(b, "metrics");
    size_t n = json_array_size(ms);
    int64_t *at = vx__calloc(n ? n : 1, sizeof(*at));
    json_t *flags = json_object();
    vx_status st = at && flags ? check_batch(c, b, at) : VX_ENOMEM;
    /* Every flag (and variant) must exist: data under a misspelled name
     * would be accepted and never read. */
    for (size_t i = 0; st == VX_OK && i < n; i++)
        st = check_flag(c, json_array_get(ms, i), i, flags);
    json_decref(flags);
    if (st == VX_OK && json_is_string(id)) {
        char key[400];
        json_t *seen = NULL;
        snprintf(key, sizeof(key), "%s|%s", env, json_string_value(id));
        st = svc__get(c, STORE_IMPACT_BATCH, key, &seen);
        json_decref(seen);
        if (st == VX_OK) {
            vx__free(at);
            return VX_OK; /* a repeat: accepted and ignored */
        }
        if (st == VX_ENOTFOUND) {
            char hs[16];
            svc__hour_str(c->now_ms, hs);
            json_t *doc = json_pack("{ss sI}", "key", key, "receivedMs",
                                    (json_int_t)c->now_ms);
            st =
                doc ? svc__put(c, STORE_IMPACT_BATCH, key, hs, doc) : VX_ENOMEM;
            json_decref(doc);
        }
    }
    for (size_t i = 0; st == VX_OK && i < n; i++)
        st = add_entry(c, json_array_get(ms, i), at[i]);
    vx__free(at);
    if (st == VX_OK)
        st = sweep_batches(c);
    return st;
}

vx_status svc_impact_record(service *s, const svc_principal *who,
                            const json_t *batch, vx_error *err)
{
    return svc__in_txn(s, who, batch, err, do_impact);
}

/* ---- SDK usage as exposures -------------------------------------------- */

static vx_status add_sdk(svc_ctx *c, const char *flag, const char *tag,
                         const char *label, int64_t start, json_int_t n)
{
    if (n <= 0)
        return VX_OK;
    char key[KEY_MAX];
    json_t *doc = NULL;
    vx_status st = bucket_load(c, c->who->environment, flag, tag, label,
                               MINUTE_S, start, key, &doc);
    if (st == VX_OK) {
        add_int(doc, "sdkRequests", n);
        st = bucket_save(c, key, doc);
    }
    json_decref(doc);
    return st;
}

vx_status svc__impact_sdk(svc_ctx *c, const char *flag, const json_t *tv,
                          int64_t at_ms)
{
    char tag[128];
    /* Usage buckets span a minute or more: they count in the epoch in
     * force when they arrive. */
    vx_status st = svc__impact_tag(c, c->who->environment, flag, c->now_ms, tag,
                                   sizeof(tag));
    int64_t start = guard_bucket_floor(at_ms / 1000, MINUTE_S);
    json_int_t yes = json_integer_value(json_object_get(tv, "yes"));
    json_int_t no = json_integer_value(json_object_get(tv, "no"));
    if (st == VX_OK)
        st = add_sdk(c, flag, tag, "disabled", start, no);
    const char *vn;
    const json_t *vc;
    json_object_foreach ((json_t *)json_object_get(tv, "variants"), vn, vc) {
        if (st != VX_OK || strcmp(vn, "disabled") == 0 ||
            !label_ok(vn, strlen(vn)))
            continue;
        json_int_t k = json_integer_value(vc);
        k = k > yes ? yes : k;
        st = add_sdk(c, flag, tag, vn, start, k);
        yes -= k;
    }
    if (st == VX_OK)
        st = add_sdk(c, flag, tag, "enabled", start, yes);
    return st;
}

/* ---- downsampling ------------------------------------------------------- */

/* Adds minute bucket `m` into its hour bucket (created when absent). */
static vx_status merge_into_hour(svc_ctx *c, const json_t *m)
{
    char tag[128], key[KEY_MAX];
    snprintf(tag, sizeof(tag), "%s|%lld",
             json_string_value(json_object_get(m, "run")),
             (long long)json_integer_value(json_object_get(m, "epoch")));
    if (json_string_length(json_object_get(m, "run")) == 0)
        snprintf(tag, sizeof(tag), "|");
    int64_t start = guard_bucket_floor(
        json_integer_value(json_object_get(m, "start")), HOUR_S);
    json_t *h = NULL;
    guard_sketch *a = vx__malloc(2 * sizeof(guard_sketch));
    if (!a)
        return VX_ENOMEM;
    vx_status st =
        bucket_load(c, json_string_value(json_object_get(m, "environment")),
                    json_string_value(json_object_get(m, "feature")), tag,
                    json_string_value(json_object_get(m, "variant")), HOUR_S,
                    start, key, &h);
    if (st == VX_OK)
        st = sketch_get(h, &a[0]);
    if (st == VX_OK)
        st = sketch_get(m, &a[1]);
    if (st != VX_OK)
        goto out;
    guard_sketch_merge(&a[0], &a[1]);
    st = sketch_put(h, &a[0]);
    const char *const ints[] = {"requests", "errors", "conversions",
                                "sdkRequests"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        add_int(h, ints[i], json_integer_value(json_object_get(m, ints[i])));
    const char *const moms[] = {"latency", "logLatency"};
    for (size_t i = 0; i < 2; i++) {
        guard_moments x, y;
        moments_get(h, moms[i], &x);
        moments_get(m, moms[i], &y);
        moments_add(&x, &y);
        json_object_set_new(h, moms[i], moments_json(&x));
    }
    const char *gk;
    const json_t *gv;
    json_object_foreach ((json_t *)json_object_get(m, "groups"), gk, gv) {
        double x[GROUP_FIELDS], y[GROUP_FIELDS];
        group_get(h, gk, x);
        group_get(m, gk, y);
        for (size_t i = 0; i < GROUP_FIELDS; i++)
            x[i] += y[i];
        group_put(h, gk, x);
    }
    json_t *hv = json_object_get(h, "values");
    const char *vn;
    const json_t *vv;
    json_object_foreach ((json_t *)json_object_get(m, "values"), vn, vv) {
        guard_moments x, y;
        moments_get(hv, vn, &x);
        moments_get(json_object_get(m, "values"), vn, &y);
        moments_add(&x, &y);
        json_object_set_new(hv, vn, moments_json(&x));
    }
    if (st == VX_OK)
        st = bucket_save(c, key, h);
out:
    vx__free(a);
    json_decref(h);
    return st;
}

vx_status svc__impact_compact(svc_ctx *c)
{
    int64_t now_s = c->now_ms / 1000;
    int64_t minute_cut = now_s - (int64_t)VX_LIMIT_IMPACT_MINUTE_DAYS * 86400;
    int64_t hour_cut = now_s - (int64_t)VX_LIMIT_IMPACT_HOUR_DAYS * 86400;
    json_t *all = NULL;
    vx_status st = svc__list(c, STORE_IMPACT, NULL, &all);
    size_t i;
    json_t *d;
    json_array_foreach (all, i, d) {
        if (st != VX_OK)
            break;
        int64_t start = json_integer_value(json_object_get(d, "start"));
        int64_t width = json_integer_value(json_object_get(d, "width"));
        bool drop_hour = width == HOUR_S && start < hour_cut;
        bool fold = width == MINUTE_S && start < minute_cut;
        if (!drop_hour && !fold)
            continue;
        char tag[128], key[KEY_MAX];
        const char *run = json_string_value(json_object_get(d, "run"));
        if (run && run[0])
            snprintf(
                tag, sizeof(tag), "%s|%lld", run,
                (long long)json_integer_value(json_object_get(d, "epoch")));
        else
            snprintf(tag, sizeof(tag), "|");
        snprintf(key, sizeof(key), "%s|%s|%s|%s|%lld|%lld",
                 json_string_value(json_object_get(d, "environment")),
                 json_string_value(json_object_get(d, "feature")), tag,
                 json_string_value(json_object_get(d, "variant")),
                 (long long)width, (long long)start);
        if (fold && start >= hour_cut)
            st = merge_into_hour(c, d);
        if (st == VX_OK)
            st = svc__del(c, STORE_IMPACT, key);
    }
    json_decref(all);
    return st;
}

/* ---- without a service: an edge node's check ---------------------------- */

vx_status svc_check_impact(const svc_principal *who, const json_t *batch,
                           vx_error *err)
{
    svc_req req = {.body = batch};
    svc_ctx c = {NULL, who, &req, err, vx__wall_ms()};
    return check_batch(&c, batch, NULL);
}

const char *svc_impact_label(const json_t *entry)
{
    return label_of(entry);
}
