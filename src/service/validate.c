/* Validation and normalisation of client input: names, constraints,
 * variants (Unleash's weight rules) and strategies. Every error names the
 * JSON pointer of the offending field in the request body. Outputs are new
 * JSON documents in the canonical stored form. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/limits.h"
#include "service/internal.h"
#include "vexil/vexil.h"

/* Names of projects, flags, environments, segments, tokens: URL-safe and
 * short, as Unleash requires; well within what libvexil takes. Names the
 * SDKs only read (context fields, variants) get the engine's own limit. */
#define NAME_MAX_LEN 100
static_assert(NAME_MAX_LEN <= VX_LIMIT_NAME_BYTES,
              "a valid name is one libvexil loads");

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

static void join(char *out, size_t cap, const char *base, const char *key)
{
    snprintf(out, cap, "%s/%s", base, key);
}

static void join_idx(char *out, size_t cap, const char *base, size_t i)
{
    snprintf(out, cap, "%s/%zu", base, i);
}

bool svc__name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > NAME_MAX_LEN || strcmp(s, ".") == 0 ||
        strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                  ch == '.' || ch == '~' || (ch && strchr("!*'()", ch));
        if (!ok)
            return false;
    }
    return true;
}

vx_status svc__check_name(svc_ctx *c, const json_t *v, const char *path,
                          const char *what)
{
    if (!v)
        return svc__fail(c, VX_EINVAL, path, "%s is required", what);
    if (!json_is_string(v))
        return svc__fail(c, VX_EINVAL, path, "%s must be a string, got %s",
                         what, type_name(v));
    const char *s = json_string_value(v);
    if (strlen(s) > NAME_MAX_LEN)
        return svc__fail(c, VX_EINVAL, path, "%s is longer than %d characters",
                         what, NAME_MAX_LEN);
    if (!svc__name_ok(s) || strlen(s) != json_string_length(v))
        return svc__fail(c, VX_EINVAL, path,
                         "%s must be 1-%d characters of A-Z a-z 0-9 - _ . ~ "
                         "! * ' ( ) (URL-safe, as in Unleash; not '.' or "
                         "'..')",
                         what, NAME_MAX_LEN);
    return VX_OK;
}

vx_status svc__expect_object(svc_ctx *c, const json_t *v, const char *path)
{
    if (!v)
        return svc__fail(c, VX_EINVAL, path, "a JSON object body is required");
    if (!json_is_object(v))
        return svc__fail(c, VX_EINVAL, path, "expected an object, got %s",
                         type_name(v));
    return VX_OK;
}

vx_status svc__expect_array(svc_ctx *c, const json_t *v, const char *path,
                            size_t max)
{
    if (!v || !json_is_array(v))
        return svc__fail(c, VX_EINVAL, path, "expected an array, got %s",
                         v ? type_name(v) : "nothing");
    if (json_array_size(v) > max)
        return svc__fail(c, VX_ELIMIT, path, "at most %zu entries", max);
    return VX_OK;
}

vx_status svc__opt_string(svc_ctx *c, const json_t *obj, const char *key,
                          const char *base, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return VX_OK;
    if (!json_is_string(v)) {
        char p[256];
        join(p, sizeof(p), base, key);
        return svc__fail(c, VX_EINVAL, p, "expected a string, got %s",
                         type_name(v));
    }
    if (json_string_length(v) > 10000) {
        char p[256];
        join(p, sizeof(p), base, key);
        return svc__fail(c, VX_ELIMIT, p, "longer than 10000 bytes");
    }
    *out = json_string_value(v);
    return VX_OK;
}

vx_status svc__opt_bool(svc_ctx *c, const json_t *obj, const char *key,
                        const char *base, int *out)
{
    const json_t *v = json_object_get(obj, key);
    *out = -1;
    if (!v || json_is_null(v))
        return VX_OK;
    if (!json_is_boolean(v)) {
        char p[256];
        join(p, sizeof(p), base, key);
        return svc__fail(c, VX_EINVAL, p, "expected a boolean, got %s",
                         type_name(v));
    }
    *out = json_is_true(v);
    return VX_OK;
}

/* A string-or-number value as a string (new reference), else an error. */
static vx_status stringish(svc_ctx *c, const json_t *v, const char *path,
                           json_t **out)
{
    if (json_is_string(v)) {
        *out = json_incref((json_t *)v);
        return VX_OK;
    }
    if (json_is_integer(v)) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        *out = json_string(buf);
        return VX_OK;
    }
    if (json_is_real(v)) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        *out = json_string(buf);
        return VX_OK;
    }
    return svc__fail(c, VX_EINVAL, path, "expected a string, got %s",
                     type_name(v));
}

/* ---- constraints ------------------------------------------------------------
 */

static vx_status norm_constraint(svc_ctx *c, const json_t *in, const char *path,
                                 json_t **out)
{
    char p[256];
    vx_status st = svc__expect_object(c, in, path);
    if (st != VX_OK)
        return st;
    join(p, sizeof(p), path, "contextName");
    const json_t *cn = json_object_get(in, "contextName");
    if (!json_is_string(cn) || json_string_length(cn) == 0)
        return svc__fail(c, VX_EINVAL, p,
                         "contextName must be a non-empty string");
    st = svc__gate_count(c, p, VX_FL_NAME_BYTES, json_string_length(cn));
    if (st != VX_OK)
        return st;
    join(p, sizeof(p), path, "operator");
    const json_t *op = json_object_get(in, "operator");
    if (!json_is_string(op))
        return svc__fail(c, VX_EINVAL, p, "operator must be a string");
    const char *ops = json_string_value(op);
    size_t oplen = json_string_length(op);
    if (!vx_operator_known(ops, oplen))
        return svc__fail(c, VX_EINVAL, p, "unknown operator '%s'", ops);
    int ci, inv;
    st = svc__opt_bool(c, in, "caseInsensitive", path, &ci);
    if (st == VX_OK)
        st = svc__opt_bool(c, in, "inverted", path, &inv);
    if (st != VX_OK)
        return st;
    json_t *res = json_pack("{sO sO sb sb}", "contextName", cn, "operator", op,
                            "caseInsensitive", ci == 1, "inverted", inv == 1);
    if (vx_operator_takes_list(ops, oplen)) {
        const json_t *vals = json_object_get(in, "values");
        join(p, sizeof(p), path, "values");
        st = svc__gate_array(c, vals, p, VX_FL_VALUES);
        json_t *clean = json_array();
        size_t i;
        const json_t *v;
        json_array_foreach (vals, i, v) {
            if (st != VX_OK)
                break;
            char vp[300];
            join_idx(vp, sizeof(vp), p, i);
            json_t *sv = NULL;
            st = stringish(c, v, vp, &sv);
            if (st == VX_OK &&
                !vx_operator_value_ok(ops, oplen, json_string_value(sv),
                                      json_string_length(sv)))
                st = svc__fail(c, VX_EINVAL, vp, "'%s' is not valid for %s",
                               json_string_value(sv), ops);
            if (st == VX_OK)
                json_array_append_new(clean, sv);
            else
                json_decref(sv);
        }
        json_object_set_new(res, "values", clean);
    } else {
        const json_t *val = json_object_get(in, "value");
        join(p, sizeof(p), path, "value");
        json_t *sv = NULL;
        if (!val || json_is_null(val))
            st = svc__fail(c, VX_EINVAL, p, "%s needs a value", ops);
        else
            st = stringish(c, val, p, &sv);
        if (st == VX_OK && strcmp(ops, "REGEX") == 0)
            st = svc__gate_count(c, p, VX_FL_REGEX_BYTES,
                                 json_string_length(sv));
        if (st == VX_OK &&
            !vx_operator_value_ok(ops, oplen, json_string_value(sv),
                                  json_string_length(sv)))
            st = svc__fail(c, VX_EINVAL, p, "'%s' is not a valid value for %s",
                           json_string_value(sv), ops);
        if (st == VX_OK && strcmp(ops, "REGEX") == 0 && inv == 1)
            st = svc__fail(c, VX_EINVAL, path,
                           "a REGEX constraint cannot be "
                           "inverted (as in Unleash)");
        if (st == VX_OK && strncmp(ops, "DATE_", 5) == 0 &&
            strcmp(json_string_value(cn), "currentTime") != 0) {
            join(p, sizeof(p), path, "contextName");
            svc__warn(c, p,
                      "%s compares the time of the request (currentTime), "
                      "never '%s': SDKs ignore the field name of a date "
                      "constraint (docs/semantics.md)",
                      ops, json_string_value(cn));
        }
        if (st == VX_OK)
            json_object_set_new(res, "value", sv);
        else
            json_decref(sv);
    }
    if (st != VX_OK) {
        json_decref(res);
        return st;
    }
    *out = res;
    return VX_OK;
}

vx_status svc__norm_constraints(svc_ctx *c, const json_t *arr, const char *path,
                                json_t **out)
{
    *out = NULL;
    json_t *res = json_array();
    if (!arr || json_is_null(arr)) {
        *out = res;
        return VX_OK;
    }
    vx_status st = svc__gate_array(c, arr, path, VX_FL_CONSTRAINTS);
    size_t i;
    const json_t *v;
    json_array_foreach (arr, i, v) {
        if (st != VX_OK)
            break;
        char p[256];
        join_idx(p, sizeof(p), path, i);
        json_t *k = NULL;
        st = norm_constraint(c, v, p, &k);
        if (st == VX_OK)
            json_array_append_new(res, k);
    }
    if (st != VX_OK) {
        json_decref(res);
        return st;
    }
    *out = res;
    return VX_OK;
}

/* ---- variants
 * ------------------------------------------------------------------ */

/* Unleash sorts variants with JavaScript's localeCompare (ICU's root
 * collation), and the order decides which variant a user gets. For ASCII:
 * control characters are ignored, then punctuation < digits < letters
 * (case-blind) decide, then lowercase before uppercase ("alpha" < "Beta",
 * "green" < "Red"). ROOT_PRIMARY holds each byte's weight, measured in
 * Node.js 22; bytes past ASCII come after 'z', by value. Ties fall back to
 * byte order. */
static const unsigned char ROOT_PRIMARY[128] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  1,  2,  3,  4,  5,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  6,  12, 16, 28, 38, 29,
    27, 15, 17, 18, 24, 32, 9,  8,  14, 25, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 11, 10, 33, 34, 35, 13, 23, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,
    60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 19, 26, 20, 31,
    7,  30, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
    66, 67, 68, 69, 70, 71, 72, 73, 74, 21, 36, 22, 37, 0,
};

static int root_weight(unsigned char ch)
{
    return ch < 128 ? ROOT_PRIMARY[ch] : 100 + ch;
}

static int root_compare(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;
    int tertiary = 0; /* first case difference: lowercase first */
    for (;;) {
        while (*p && root_weight(*p) == 0)
            p++;
        while (*q && root_weight(*q) == 0)
            q++;
        if (!*p || !*q)
            break;
        int x = root_weight(*p), y = root_weight(*q);
        if (x != y)
            return x < y ? -1 : 1;
        if (!tertiary && *p != *q)
            tertiary = (*p >= 'a' && *p <= 'z') ? -1 : 1;
        p++;
        q++;
    }
    if (*p || *q)
        return *p ? 1 : -1;
    return tertiary ? tertiary : strcmp(a, b);
}

static int by_name(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return root_compare(json_string_value(json_object_get(x, "name")),
                        json_string_value(json_object_get(y, "name")));
}

static vx_status norm_payload(svc_ctx *c, const json_t *in, const char *path,
                              json_t **out)
{
    char p[256];
    *out = NULL;
    if (!in || json_is_null(in))
        return VX_OK;
    vx_status st = svc__expect_object(c, in, path);
    if (st != VX_OK)
        return st;
    const json_t *type = json_object_get(in, "type");
    join(p, sizeof(p), path, "type");
    static const char *const types[] = {"string", "json", "csv", "number"};
    bool ok = false;
    for (int i = 0; json_is_string(type) && i < 4; i++)
        ok = ok || strcmp(json_string_value(type), types[i]) == 0;
    if (!ok)
        return svc__fail(c, VX_EINVAL, p,
                         "payload type must be string, json, csv or number");
    const json_t *value = json_object_get(in, "value");
    join(p, sizeof(p), path, "value");
    if (!json_is_string(value))
        return svc__fail(c, VX_EINVAL, p, "payload value must be a string");
    const char *t = json_string_value(type), *v = json_string_value(value);
    if (strcmp(t, "json") == 0) {
        json_error_t jerr;
        json_t *parsed = json_loads(v, JSON_DECODE_ANY, &jerr);
        if (!parsed)
            return svc__fail(c, VX_EINVAL, p, "payload is not valid JSON: %s",
                             jerr.text);
        json_decref(parsed);
    }
    if (strcmp(t, "number") == 0 &&
        !vx_operator_value_ok("NUM_EQ", 6, v, strlen(v)))
        return svc__fail(c, VX_EINVAL, p, "payload is not a number");
    *out = json_pack("{sO sO}", "type", type, "value", value);
    return VX_OK;
}

static vx_status norm_overrides(svc_ctx *c, const json_t *in, const char *path,
                                json_t **out)
{
    *out = NULL;
    if (!in || json_is_null(in))
        return VX_OK;
    vx_status st = svc__gate_array(c, in, path, VX_FL_OVERRIDES);
    json_t *res = json_array();
    size_t i;
    const json_t *o;
    json_array_foreach (in, i, o) {
        if (st != VX_OK)
            break;
        char p[256], q[300];
        join_idx(p, sizeof(p), path, i);
        st = svc__expect_object(c, o, p);
        const json_t *cn = json_object_get(o, "contextName");
        join(q, sizeof(q), p, "contextName");
        if (st == VX_OK && (!json_is_string(cn) || json_string_length(cn) == 0))
            st = svc__fail(c, VX_EINVAL, q,
                           "contextName must be a non-empty string");
        if (st == VX_OK)
            st =
                svc__gate_count(c, q, VX_FL_NAME_BYTES, json_string_length(cn));
        const json_t *vals = json_object_get(o, "values");
        join(q, sizeof(q), p, "values");
        if (st == VX_OK)
            st = svc__gate_array(c, vals, q, VX_FL_VALUES);
        size_t j;
        const json_t *v;
        json_array_foreach (vals, j, v) {
            if (st == VX_OK && !json_is_string(v)) {
                char r[320];
                join_idx(r, sizeof(r), q, j);
                st = svc__fail(c, VX_EINVAL, r, "expected a string");
            }
        }
        if (st == VX_OK)
            json_array_append_new(
                res, json_pack("{sO sO}", "contextName", cn, "values", vals));
    }
    if (st != VX_OK) {
        json_decref(res);
        return st;
    }
    *out = res;
    return VX_OK;
}

vx_status svc__norm_variants(svc_ctx *c, const json_t *arr, const char *path,
                             const char *default_stickiness, json_t **out)
{
    *out = NULL;
    if (!arr || json_is_null(arr)) {
        *out = json_array();
        return VX_OK;
    }
    vx_status st = svc__gate_array(c, arr, path, VX_FL_VARIANTS);
    if (st != VX_OK)
        return st;
    size_t n = json_array_size(arr);
    json_t **vs = vx__calloc(n ? n : 1, sizeof(*vs));
    if (!vs)
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    long fixed_sum = 0, nvariable = 0;
    size_t i;
    for (i = 0; i < n && st == VX_OK; i++) {
        const json_t *in = json_array_get(arr, i);
        char p[256], q[300];
        join_idx(p, sizeof(p), path, i);
        st = svc__expect_object(c, in, p);
        if (st != VX_OK)
            break;
        const json_t *name = json_object_get(in, "name");
        join(q, sizeof(q), p, "name");
        if (!json_is_string(name) || json_string_length(name) == 0) {
            st = svc__fail(c, VX_EINVAL, q,
                           "variant name must be a non-empty string");
            break;
        }
        st = svc__gate_count(c, q, VX_FL_NAME_BYTES, json_string_length(name));
        if (st != VX_OK)
            break;
        for (size_t j = 0; j < i; j++) {
            if (json_equal(json_object_get(vs[j], "name"), (json_t *)name))
                st = svc__fail(c, VX_ECONFLICT, q,
                               "variant name '%s' is used twice",
                               json_string_value(name));
        }
        const char *wtype = "variable", *stick = NULL;
        if (st == VX_OK)
            st = svc__opt_string(c, in, "weightType", p, &wtype);
        if (st == VX_OK && !wtype)
            wtype = "variable";
        join(q, sizeof(q), p, "weightType");
        if (st == VX_OK && strcmp(wtype, "variable") != 0 &&
            strcmp(wtype, "fix") != 0)
            st = svc__fail(c, VX_EINVAL, q,
                           "weightType must be variable or fix");
        if (st == VX_OK)
            st = svc__opt_string(c, in, "stickiness", p, &stick);
        const json_t *w = json_object_get(in, "weight");
        join(q, sizeof(q), p, "weight");
        long weight = 0;
        if (st == VX_OK && strcmp(wtype, "fix") == 0) {
            if (!json_is_integer(w) || json_integer_value(w) < 0 ||
                json_integer_value(w) > 1000)
                st =
                    svc__fail(c, VX_EINVAL, q,
                              "a fix weight must be an integer from 0 to 1000");
            else
                weight = (long)json_integer_value(w);
            fixed_sum += weight;
        } else if (st == VX_OK) {
            if (w && !json_is_null(w) && !json_is_number(w))
                st = svc__fail(c, VX_EINVAL, q, "weight must be a number");
            nvariable++;
        }
        json_t *payload = NULL, *overrides = NULL;
        char pp[300];
        join(pp, sizeof(pp), p, "payload");
        if (st == VX_OK)
            st = norm_payload(c, json_object_get(in, "payload"), pp, &payload);
        join(pp, sizeof(pp), p, "overrides");
        if (st == VX_OK)
            st = norm_overrides(c, json_object_get(in, "overrides"), pp,
                                &overrides);
        if (st != VX_OK) {
            json_decref(payload);
            json_decref(overrides);
            break;
        }
        vs[i] = json_pack("{sO si ss ss}", "name", name, "weight", (int)weight,
                          "weightType", wtype, "stickiness",
                          stick ? stick : default_stickiness);
        if (payload)
            json_object_set_new(vs[i], "payload", payload);
        if (overrides)
            json_object_set_new(vs[i], "overrides", overrides);
    }
    if (st == VX_OK && n > 0) {
        if (fixed_sum > 1000)
            st = svc__fail(c, VX_EINVAL, path,
                           "fix weights add up to %ld, more than 1000",
                           fixed_sum);
        else if (nvariable == 0 && fixed_sum != 1000)
            st = svc__fail(c, VX_EINVAL, path,
                           "with only fix variants the "
                           "weights must add up to 1000");
    }
    json_t *res = NULL;
    if (st == VX_OK) {
        long rest = 1000 - fixed_sum;
        long share = nvariable ? rest / nvariable : 0;
        long left = nvariable ? rest % nvariable : 0;
        for (i = 0; i < n; i++) {
            if (strcmp(json_string_value(json_object_get(vs[i], "weightType")),
                       "variable") != 0)
                continue;
            long w = share + (left > 0 ? 1 : 0);
            if (left > 0)
                left--;
            json_object_set_new(vs[i], "weight", json_integer(w));
        }
        qsort(vs, n, sizeof(*vs), by_name);
        res = json_array();
        for (i = 0; i < n; i++) {
            json_array_append_new(res, vs[i]);
            vs[i] = NULL;
        }
    }
    for (i = 0; i < n; i++)
        json_decref(vs[i]);
    vx__free(vs);
    *out = res;
    return st;
}

/* ---- strategies
 * ------------------------------------------------------------------ */

static const struct {
    const char *name;
    const char *required; /* parameter that must be present, or NULL */
    bool percent;         /* `required` is a 0-100 integer */
} STRATEGIES[] = {
    {"default", NULL, false},
    {"flexibleRollout", NULL, false}, /* defaults are filled in */
    {"userWithId", "userIds", false},
    {"remoteAddress", "IPs", false},
    {"applicationHostname", "hostNames", false},
    {"gradualRolloutUserId", "percentage", true},
    {"gradualRolloutSessionId", "percentage", true},
    {"gradualRolloutRandom", "percentage", true},
};

static bool percent_ok(const char *s)
{
    if (!*s || strlen(s) > 3)
        return false;
    int v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    return v <= 100;
}

/* remoteAddress's IPs: every comma-separated entry an IP address or a CIDR
 * range (IN_CIDR's check), so "10.0.0.0/33" is refused rather than stored
 * as text that never matches. `base` is the path of the parameters. */
static vx_status check_ips(svc_ctx *c, const char *ips, const char *base)
{
    char p[300];
    join(p, sizeof(p), base, "IPs");
    for (const char *at = ips; at && *at;) {
        const char *end = strchr(at, ',');
        size_t n = end ? (size_t)(end - at) : strlen(at);
        const char *e = at;
        while (n > 0 && (*e == ' ' || *e == '\t')) {
            e++;
            n--;
        }
        while (n > 0 && (e[n - 1] == ' ' || e[n - 1] == '\t'))
            n--;
        if (n > 0 && !vx_operator_value_ok("IN_CIDR", 7, e, n))
            return svc__fail(c, VX_EINVAL, p,
                             "'%.*s' is not an IP address or a CIDR range "
                             "(such as 10.0.0.0/8)",
                             (int)(n > 100 ? 100 : n), e);
        at = end ? end + 1 : NULL;
    }
    return VX_OK;
}

vx_status svc__norm_strategy(svc_ctx *c, const json_t *in, const char *path,
                             const char *flag, json_t **out)
{
    char p[256];
    *out = NULL;
    vx_status st = svc__expect_object(c, in, path);
    if (st != VX_OK)
        return st;
    const json_t *name = json_object_get(in, "name");
    join(p, sizeof(p), path, "name");
    int kind = -1;
    for (size_t i = 0;
         json_is_string(name) && i < sizeof(STRATEGIES) / sizeof(STRATEGIES[0]);
         i++) {
        if (strcmp(json_string_value(name), STRATEGIES[i].name) == 0)
            kind = (int)i;
    }
    if (!json_is_string(name))
        return svc__fail(c, VX_EINVAL, p, "strategy name is required");
    json_t *def = NULL; /* a custom strategy's definition (strategies.c) */
    if (kind < 0 && !svc__strategy_builtin(json_string_value(name)))
        st = svc__strategy_def(c, json_string_value(name), p, &def);
    else if (kind < 0)
        st = svc__fail(c, VX_EINVAL, p, "unknown strategy '%s'",
                       json_string_value(name));
    if (st != VX_OK)
        return st;
    const char *title = NULL;
    int disabled;
    st = svc__opt_string(c, in, "title", path, &title);
    if (st == VX_OK)
        st = svc__opt_bool(c, in, "disabled", path, &disabled);
    const json_t *so = json_object_get(in, "sortOrder");
    join(p, sizeof(p), path, "sortOrder");
    if (st == VX_OK && so && !json_is_null(so) && !json_is_integer(so))
        st = svc__fail(c, VX_EINVAL, p, "sortOrder must be an integer");
    /* parameters: an object of strings (numbers are converted) */
    const json_t *pin = json_object_get(in, "parameters");
    join(p, sizeof(p), path, "parameters");
    if (st == VX_OK && pin && !json_is_null(pin) && !json_is_object(pin))
        st = svc__fail(c, VX_EINVAL, p, "expected an object, got %s",
                       type_name(pin));
    if (st != VX_OK) {
        json_decref(def);
        return st;
    }
    json_t *params = json_object();
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)pin, key, v) {
        char q[300];
        join(q, sizeof(q), p, key);
        json_t *sv = NULL;
        st = stringish(c, v, q, &sv);
        if (st != VX_OK)
            break;
        json_object_set_new(params, key, sv);
    }
    if (st == VX_OK && def)
        st = svc__strategy_params_check(c, def, params, p);
    json_decref(def);
    const char *sname =
        kind >= 0 ? STRATEGIES[kind].name : json_string_value(name);
    if (st == VX_OK && strcmp(sname, "flexibleRollout") == 0) {
        if (!json_object_get(params, "rollout"))
            json_object_set_new(params, "rollout", json_string("100"));
        if (!json_object_get(params, "stickiness"))
            json_object_set_new(params, "stickiness", json_string("default"));
        if (!json_object_get(params, "groupId"))
            json_object_set_new(params, "groupId", json_string(flag));
        char q[300];
        join(q, sizeof(q), p, "rollout");
        if (!percent_ok(json_string_value(json_object_get(params, "rollout"))))
            st = svc__fail(c, VX_EINVAL, q,
                           "rollout must be an integer from 0 to 100");
    }
    const char *req = kind >= 0 ? STRATEGIES[kind].required : NULL;
    if (st == VX_OK && req) {
        char q[300];
        join(q, sizeof(q), p, req);
        const json_t *rv = json_object_get(params, req);
        if (!rv)
            st = svc__fail(c, VX_EINVAL, q,
                           "strategy %s needs the parameter %s", sname, req);
        else if (STRATEGIES[kind].percent && !percent_ok(json_string_value(rv)))
            st = svc__fail(c, VX_EINVAL, q,
                           "%s must be an integer from 0 to 100", req);
        if (st == VX_OK && STRATEGIES[kind].percent &&
            strcmp(sname, "gradualRolloutRandom") != 0 &&
            !json_object_get(params, "groupId"))
            json_object_set_new(params, "groupId", json_string(flag));
    }
    if (st == VX_OK && strcmp(sname, "remoteAddress") == 0)
        st = check_ips(c, json_string_value(json_object_get(params, "IPs")), p);
    json_t *constraints = NULL, *variants = NULL, *segments = json_array();
    join(p, sizeof(p), path, "constraints");
    if (st == VX_OK)
        st = svc__norm_constraints(c, json_object_get(in, "constraints"), p,
                                   &constraints);
    const json_t *stick = json_object_get(params, "stickiness");
    join(p, sizeof(p), path, "variants");
    if (st == VX_OK)
        st = svc__norm_variants(c, json_object_get(in, "variants"), p,
                                stick ? json_string_value(stick) : "default",
                                &variants);
    const json_t *segs = json_object_get(in, "segments");
    join(p, sizeof(p), path, "segments");
    if (st == VX_OK && segs && !json_is_null(segs))
        st = svc__gate_array(c, segs, p, VX_FL_STRATEGY_SEGMENTS);
    size_t i;
    json_array_foreach (segs, i, v) {
        if (st != VX_OK)
            break;
        char q[300];
        join_idx(q, sizeof(q), p, i);
        if (!json_is_integer(v)) {
            st = svc__fail(c, VX_EINVAL, q, "expected a segment id");
            break;
        }
        char key2[32];
        snprintf(key2, sizeof(key2), "%lld", (long long)json_integer_value(v));
        json_t *seg = NULL;
        st = svc__get(c, STORE_SEGMENT, key2, &seg);
        json_decref(seg);
        if (st == VX_ENOTFOUND)
            st = svc__fail(c, VX_EINVAL, q, "segment %s does not exist", key2);
        if (st == VX_OK)
            json_array_append_new(segments,
                                  json_integer(json_integer_value(v)));
    }
    /* SDKs older than client spec 4.2.0 get the segments' constraints
     * inlined into the strategy's. */
    if (st == VX_OK && json_array_size(segments) > 0)
        st = svc__gate_inlined(c, constraints, segments, p);
    if (st != VX_OK) {
        json_decref(params);
        json_decref(constraints);
        json_decref(variants);
        json_decref(segments);
        return st;
    }
    *out = json_pack(
        "{sO so sb si so so so so}", "name", name, "title",
        title ? json_string(title) : json_null(), "disabled", disabled == 1,
        "sortOrder", so ? (int)json_integer_value(so) : 0, "parameters", params,
        "constraints", constraints, "segments", segments, "variants", variants);
    return VX_OK;
}
