/* JSON (the Unleash client-features document and delta events) to compiled
 * chunks. Validation happens here, once, so evaluation can trust its input:
 * every error names the JSON pointer of the offending value, and nothing is
 * produced unless the whole document is valid.
 *
 * Ownership: each flag or segment is compiled into a fresh chunk; on error
 * the chunk being built is released and the builder drops the rest. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"
#include "core/build.h"
#include "core/jsonpos.h"
#include "core/model.h"
#include "core/textutil.h"
#include "core/vjson.h"

typedef struct loader {
    const char *text;             /* the input, for line/column lookups */
    size_t len;                   /* its length */
    const vx_load_options *opts;  /* may be NULL */
    vx_error *err;                /* may be NULL */
    char path[VX_ERROR_PATH_MAX]; /* JSON pointer of the current value */
    size_t plen;                  /* strlen(path) */
    vx__chunk *chunk;             /* chunk being compiled */
    vx_arena *arena;              /* its arena */
    size_t size_hint;             /* JSON bytes of the value being compiled
                                     (sizes its arena), 0 = unknown */
    vx_arena scratch;             /* parsed JSON, reused value by value */
} loader;

/* ---- paths, errors, warnings ----------------------------------------- */

static size_t push_key(loader *L, const char *key)
{
    size_t old = L->plen;
    size_t n = L->plen;
    if (n + 1 < sizeof(L->path))
        L->path[n++] = '/';
    for (const char *k = key; *k && n + 2 < sizeof(L->path); k++) {
        if (*k == '~' || *k == '/') {
            L->path[n++] = '~';
            L->path[n++] = *k == '~' ? '0' : '1';
        } else {
            L->path[n++] = *k;
        }
    }
    L->path[n] = '\0';
    L->plen = n;
    return old;
}

static size_t push_idx(loader *L, size_t i)
{
    size_t old = L->plen;
    int w = snprintf(L->path + L->plen, sizeof(L->path) - L->plen, "/%zu", i);
    if (w > 0 && (size_t)w < sizeof(L->path) - L->plen)
        L->plen += (size_t)w;
    return old;
}

static void pop(loader *L, size_t old)
{
    L->plen = old;
    L->path[old] = '\0';
}

__attribute__((format(printf, 3, 4))) static vx_status
fail(loader *L, vx_status code, const char *fmt, ...)
{
    if (!L->err)
        return code;
    char msg[VX_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vx__error_set(L->err, code, L->path, "%s", msg);
    vx__json_locate(L->text, L->len, L->path, &L->err->line, &L->err->column);
    return code;
}

__attribute__((format(printf, 2, 3))) static void warn(loader *L,
                                                       const char *fmt, ...)
{
    if (!L->opts || !L->opts->warn)
        return;
    char msg[VX_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    uint32_t line, col;
    vx__json_locate(L->text, L->len, L->path, &line, &col);
    L->opts->warn(L->opts->warn_ud, L->path, line, col, msg);
}

static vx_status oom(loader *L)
{
    return fail(L, VX_ENOMEM, "out of memory");
}

/* Over limit `id` of the flag-data table (base/limits.h), in the wording
 * the service's validation uses too. */
static vx_status over(loader *L, vx_flag_limit id, size_t got)
{
    char msg[VX_ERROR_MSG_MAX];
    vx__limit_message(msg, sizeof(msg), id, got);
    return fail(L, VX_ELIMIT, "%s", msg);
}

static const char *type_name(const vj *v)
{
    switch (vj_typeof(v)) {
    case VJ_OBJECT: return "an object";
    case VJ_ARRAY: return "an array";
    case VJ_STRING: return "a string";
    case VJ_INTEGER:
    case VJ_REAL: return "a number";
    case VJ_TRUE:
    case VJ_FALSE: return "a boolean";
    case VJ_NULL: return "null";
    }
    return "unknown";
}

/* ---- typed field access ------------------------------------------------ */

/* Copies a JSON string into the chunk arena. */
static vx_status dup_str(loader *L, const vj *v, vx_str *out)
{
    size_t n = vj_string_length(v);
    char *p = vx__arena_strndup(L->arena, vj_string_value(v), n);
    if (!p)
        return oom(L);
    *out = (vx_str){p, n};
    return VX_OK;
}

static vx_status dup_mem(loader *L, const char *s, size_t n, vx_str *out)
{
    char *p = vx__arena_strndup(L->arena, s, n);
    if (!p)
        return oom(L);
    *out = (vx_str){p, n};
    return VX_OK;
}

/* JavaScript's String(number): integers without a fraction, otherwise the
 * shortest %.17g form that reads back the same. */
static vx_status number_text(loader *L, const vj *v, vx_str *out)
{
    char buf[64];
    if (vj_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)vj_integer_value(v));
    } else {
        double d = vj_real_value(v);
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
    }
    return dup_mem(L, buf, strlen(buf), out);
}

/* An optional string member: absent or null leaves `out` absent. */
static vx_status opt_string(loader *L, const vj *obj, const char *key,
                            vx_str *out)
{
    *out = (vx_str){NULL, 0};
    const vj *v = vj_object_get(obj, key);
    if (!v || vj_is_null(v))
        return VX_OK;
    size_t old = push_key(L, key);
    vx_status st =
        vj_is_string(v)
            ? dup_str(L, v, out)
            : fail(L, VX_ESCHEMA, "expected a string, got %s", type_name(v));
    pop(L, old);
    return st;
}

static vx_status req_string(loader *L, const vj *obj, const char *key,
                            vx_str *out)
{
    vx_status st = opt_string(L, obj, key, out);
    if (st == VX_OK && !out->ptr) {
        size_t old = push_key(L, key);
        st = fail(L, VX_ESCHEMA, "required string \"%s\" is missing", key);
        pop(L, old);
    }
    if (st == VX_OK && out->len > vx__limit_value(VX_FL_NAME_BYTES) &&
        strcmp(key, "value") != 0) {
        size_t old = push_key(L, key);
        st = over(L, VX_FL_NAME_BYTES, out->len);
        pop(L, old);
    }
    return st;
}

static vx_status opt_bool(loader *L, const vj *obj, const char *key, bool dflt,
                          bool *out)
{
    const vj *v = vj_object_get(obj, key);
    *out = dflt;
    if (!v || vj_is_null(v))
        return VX_OK;
    if (!vj_is_boolean(v)) {
        size_t old = push_key(L, key);
        vx_status st =
            fail(L, VX_ESCHEMA, "expected a boolean, got %s", type_name(v));
        pop(L, old);
        return st;
    }
    *out = vj_is_true(v);
    return VX_OK;
}

/* An optional array member (absent or null = empty), at most as long as
 * limit `lim` allows. */
static vx_status opt_array(loader *L, const vj *obj, const char *key,
                           vx_flag_limit lim, const vj **out)
{
    const vj *v = vj_object_get(obj, key);
    *out = NULL;
    if (!v || vj_is_null(v))
        return VX_OK;
    vx_status st = VX_OK;
    size_t old = push_key(L, key);
    if (!vj_is_array(v))
        st = fail(L, VX_ESCHEMA, "expected an array, got %s", type_name(v));
    else if (vj_array_size(v) > vx__limit_value(lim))
        st = over(L, lim, vj_array_size(v));
    else
        *out = v;
    pop(L, old);
    return st;
}

static vx_status expect_object(loader *L, const vj *v)
{
    if (vj_is_object(v))
        return VX_OK;
    return fail(L, VX_ESCHEMA, "expected an object, got %s", type_name(v));
}

/* An array of strings; nulls are dropped when `drop_null`. */
static vx_status string_list(loader *L, const vj *arr, bool drop_null,
                             vx_str **out, uint32_t *n)
{
    size_t cnt = vj_array_size(arr);
    *out = NULL;
    *n = 0;
    if (cnt == 0)
        return VX_OK;
    vx_str *vals = vx__arena_calloc(L->arena, cnt, sizeof(*vals));
    if (!vals)
        return oom(L);
    for (size_t i = 0; i < cnt; i++) {
        const vj *v = vj_array_get(arr, i);
        if (vj_is_null(v) && drop_null)
            continue;
        if (!vj_is_string(v)) {
            size_t old = push_idx(L, i);
            vx_status st =
                fail(L, VX_ESCHEMA, "expected a string, got %s", type_name(v));
            pop(L, old);
            return st;
        }
        vx_status st = dup_str(L, v, &vals[*n]);
        if (st != VX_OK)
            return st;
        (*n)++;
    }
    *out = vals;
    return VX_OK;
}

/* The Node SDK's cleanValues: drop empty values, then trim. */
static void clean_values(vx_str *vals, uint32_t *n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < *n; i++) {
        if (vals[i].len == 0)
            continue;
        size_t len;
        const char *p = vx__js_trim(vals[i].ptr, vals[i].len, &len);
        vals[k++] = (vx_str){p, len};
    }
    *n = k;
}

static vx_status lower_copy(loader *L, vx_str *v)
{
    char *p = vx__arena_strndup(L->arena, v->ptr, v->len);
    if (!p)
        return oom(L);
    for (size_t i = 0; i < v->len; i++) {
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (char)(p[i] + 32);
    }
    v->ptr = p;
    return VX_OK;
}

/* Splits like JavaScript's s.split(/\s*,\s*\/): white space is removed only
 * around commas. */
static vx_status split_list(loader *L, vx_str s, vx_str **out, uint32_t *n)
{
    uint32_t parts = 1;
    for (size_t i = 0; i < s.len; i++)
        parts += s.ptr[i] == ',';
    vx_str *v = vx__arena_calloc(L->arena, parts, sizeof(*v));
    if (!v)
        return oom(L);
    size_t start = 0;
    uint32_t k = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i < s.len && s.ptr[i] != ',')
            continue;
        size_t b = start, e = i;
        if (k > 0) { /* after a comma: drop leading white space */
            for (size_t w = vx__js_space_len(s.ptr + b, e - b); w > 0 && b < e;
                 w = vx__js_space_len(s.ptr + b, e - b))
                b += w;
        }
        if (i < s.len) { /* before a comma: drop trailing white space */
            while (e > b && strchr(" \t\n\v\f\r", s.ptr[e - 1]))
                e--;
        }
        v[k++] = (vx_str){s.ptr + b, e - b};
        start = i + 1;
    }
    *out = v;
    *n = k;
    return VX_OK;
}

static vx_status keep_regex(loader *L, vx__regex *re)
{
    vx__chunk *c = L->chunk;
    if (c->nregexes == c->cap_regexes) {
        uint32_t cap = c->cap_regexes ? c->cap_regexes * 2 : 4;
        vx__regex **n = vx__realloc(c->regexes, sizeof(*n) * cap);
        if (!n) {
            vx__regex_free(re);
            return oom(L);
        }
        c->regexes = n;
        c->cap_regexes = cap;
    }
    c->regexes[c->nregexes++] = re;
    return VX_OK;
}

/* ---- constraints ------------------------------------------------------- */

static const struct {
    const char *name;
    vx__op op;
} OPS[] = {
    {"IN", VX__OP_IN},
    {"NOT_IN", VX__OP_NOT_IN},
    {"STR_CONTAINS", VX__OP_STR_CONTAINS},
    {"STR_STARTS_WITH", VX__OP_STR_STARTS_WITH},
    {"STR_ENDS_WITH", VX__OP_STR_ENDS_WITH},
    {"NUM_EQ", VX__OP_NUM_EQ},
    {"NUM_GT", VX__OP_NUM_GT},
    {"NUM_GTE", VX__OP_NUM_GTE},
    {"NUM_LT", VX__OP_NUM_LT},
    {"NUM_LTE", VX__OP_NUM_LTE},
    {"DATE_AFTER", VX__OP_DATE_AFTER},
    {"DATE_BEFORE", VX__OP_DATE_BEFORE},
    {"SEMVER_EQ", VX__OP_SEMVER_EQ},
    {"SEMVER_GT", VX__OP_SEMVER_GT},
    {"SEMVER_LT", VX__OP_SEMVER_LT},
    {"SEMVER_GTE", VX__OP_SEMVER_GTE},
    {"SEMVER_LTE", VX__OP_SEMVER_LTE},
    {"REGEX", VX__OP_REGEX},
    {"IN_CIDR", VX__OP_IN_CIDR},
};

static vx__op op_lookup(vx_str name)
{
    for (size_t i = 0; i < sizeof(OPS) / sizeof(OPS[0]); i++) {
        if (vx__str_eq(name.ptr, name.len, OPS[i].name, strlen(OPS[i].name)))
            return OPS[i].op;
    }
    return VX__OP_UNKNOWN;
}

static vx_status compile_constraint(loader *L, const vj *j, vx__constraint *k)
{
    vx_status st = expect_object(L, j);
    vx_str field, opname, value = {NULL, 0};
    const vj *values = NULL;
    if (st == VX_OK)
        st = req_string(L, j, "contextName", &field);
    if (st == VX_OK)
        st = req_string(L, j, "operator", &opname);
    if (st == VX_OK)
        st = opt_bool(L, j, "inverted", false, &k->inverted);
    if (st == VX_OK)
        st = opt_bool(L, j, "caseInsensitive", false, &k->ci);
    if (st == VX_OK)
        st = opt_array(L, j, "values", VX_FL_VALUES, &values);
    if (st != VX_OK)
        return st;
    const vj *jv = vj_object_get(j, "value");
    if (jv && vj_is_number(jv)) {
        st = number_text(L, jv, &value);
    } else {
        st = opt_string(L, j, "value", &value);
    }
    if (st != VX_OK)
        return st;
    k->field = vx__fieldref_make(field.ptr, field.len);
    k->op = op_lookup(opname);
    if (k->op == VX__OP_UNKNOWN) {
        size_t old = push_key(L, "operator");
        warn(L, "unknown operator \"%s\": the constraint is always false",
             opname.ptr);
        pop(L, old);
        return VX_OK;
    }
    if (values) {
        size_t old = push_key(L, "values");
        st = string_list(L, values, true, &k->values, &k->nvalues);
        pop(L, old);
        if (st != VX_OK)
            return st;
        clean_values(k->values, &k->nvalues);
    }
    switch (k->op) {
    case VX__OP_IN:
    case VX__OP_NOT_IN:
        k->tags = vx__arena_calloc(L->arena, k->nvalues ? k->nvalues : 1,
                                   sizeof(*k->tags));
        if (!k->tags)
            return oom(L);
        for (uint32_t i = 0; i < k->nvalues; i++)
            k->tags[i] = vx__str_tag(k->values[i].ptr, k->values[i].len);
        break;
    case VX__OP_STR_CONTAINS:
    case VX__OP_STR_STARTS_WITH:
    case VX__OP_STR_ENDS_WITH:
        for (uint32_t i = 0; k->ci && i < k->nvalues; i++) {
            st = lower_copy(L, &k->values[i]);
            if (st != VX_OK)
                return st;
        }
        break;
    case VX__OP_NUM_EQ:
    case VX__OP_NUM_GT:
    case VX__OP_NUM_GTE:
    case VX__OP_NUM_LT:
    case VX__OP_NUM_LTE:
        k->num = value.ptr ? vx__js_number(value.ptr, value.len) : NAN;
        break;
    case VX__OP_DATE_AFTER:
    case VX__OP_DATE_BEFORE:
        k->value_ok =
            value.ptr && vx_time_parse(value.ptr, value.len, &k->date_ms);
        break;
    case VX__OP_SEMVER_EQ:
    case VX__OP_SEMVER_GT:
    case VX__OP_SEMVER_LT:
    case VX__OP_SEMVER_GTE:
    case VX__OP_SEMVER_LTE:
        k->semver = vx__arena_alloc(L->arena, sizeof(*k->semver));
        if (!k->semver)
            return oom(L);
        k->value_ok =
            value.ptr && vx__semver_parse(value.ptr, value.len, k->semver);
        break;
    case VX__OP_REGEX:
        if (value.ptr) {
            if (value.len > vx__limit_value(VX_FL_REGEX_BYTES)) {
                size_t old = push_key(L, "value");
                st = over(L, VX_FL_REGEX_BYTES, value.len);
                pop(L, old);
                return st;
            }
            bool no_mem;
            k->re = vx__regex_compile(value.ptr, value.len, k->ci, &no_mem);
            if (no_mem)
                return oom(L);
            if (k->re)
                st = keep_regex(L, k->re);
        }
        break;
    case VX__OP_IN_CIDR:
        k->ips = vx__arena_calloc(L->arena, k->nvalues ? k->nvalues : 1,
                                  sizeof(*k->ips));
        if (!k->ips)
            return oom(L);
        for (uint32_t i = 0; i < k->nvalues; i++) {
            if (vx__ip_parse(k->values[i].ptr, k->values[i].len,
                             &k->ips[k->nips]))
                k->nips++;
        }
        break;
    default: break;
    }
    return st;
}

static vx_status compile_constraints(loader *L, const vj *obj,
                                     vx__constraint **out, uint32_t *n)
{
    const vj *arr;
    vx_status st = opt_array(L, obj, "constraints", VX_FL_CONSTRAINTS, &arr);
    *out = NULL;
    *n = 0;
    if (st != VX_OK || !arr || vj_array_size(arr) == 0)
        return st;
    size_t cnt = vj_array_size(arr);
    vx__constraint *ks = vx__arena_calloc(L->arena, cnt, sizeof(*ks));
    if (!ks)
        return oom(L);
    size_t old = push_key(L, "constraints");
    for (size_t i = 0; i < cnt && st == VX_OK; i++) {
        size_t o2 = push_idx(L, i);
        st = compile_constraint(L, vj_array_get(arr, i), &ks[i]);
        pop(L, o2);
    }
    pop(L, old);
    *out = ks;
    *n = (uint32_t)cnt;
    return st;
}

/* ---- variants ---------------------------------------------------------- */

static vx_status compile_override(loader *L, const vj *j, vx__override *o)
{
    vx_str field;
    const vj *values;
    vx_status st = expect_object(L, j);
    if (st == VX_OK)
        st = req_string(L, j, "contextName", &field);
    if (st == VX_OK)
        st = opt_array(L, j, "values", VX_FL_VALUES, &values);
    if (st != VX_OK)
        return st;
    o->field = vx__fieldref_make(field.ptr, field.len);
    if (values) {
        size_t old = push_key(L, "values");
        st = string_list(L, values, true, &o->values, &o->nvalues);
        pop(L, old);
    }
    return st;
}

static vx_status compile_variant(loader *L, const vj *j, vx__variant *v,
                                 vx_str *stickiness, bool *has_overrides)
{
    vx_status st = expect_object(L, j);
    if (st == VX_OK)
        st = req_string(L, j, "name", &v->name);
    if (st == VX_OK)
        st = opt_string(L, j, "stickiness", stickiness);
    if (st != VX_OK)
        return st;
    const vj *w = vj_object_get(j, "weight");
    size_t old = push_key(L, "weight");
    if (!w)
        st = fail(L, VX_ESCHEMA, "required number \"weight\" is missing");
    else if (!vj_is_integer(w) &&
             !(vj_is_real(w) && vj_real_value(w) == floor(vj_real_value(w))))
        st = fail(L, VX_ESCHEMA, "expected a whole number, got %s",
                  type_name(w));
    else if (vj_number_value(w) < 0 ||
             vj_number_value(w) > vx__limit_value(VX_FL_VARIANT_WEIGHT))
        st = fail(L, VX_ESCHEMA, "weight must be between 0 and %zu",
                  vx__limit_value(VX_FL_VARIANT_WEIGHT));
    else
        v->weight = (uint32_t)vj_number_value(w);
    pop(L, old);
    if (st != VX_OK)
        return st;
    const vj *p = vj_object_get(j, "payload");
    if (p && !vj_is_null(p)) {
        old = push_key(L, "payload");
        st = expect_object(L, p);
        if (st == VX_OK)
            st = req_string(L, p, "type", &v->payload_type);
        if (st == VX_OK)
            st = req_string(L, p, "value", &v->payload_value);
        pop(L, old);
        if (st != VX_OK)
            return st;
    }
    const vj *ovs;
    st = opt_array(L, j, "overrides", VX_FL_OVERRIDES, &ovs);
    if (st != VX_OK || !ovs || vj_array_size(ovs) == 0)
        return st;
    size_t cnt = vj_array_size(ovs);
    v->overrides = vx__arena_calloc(L->arena, cnt, sizeof(*v->overrides));
    if (!v->overrides)
        return oom(L);
    v->noverrides = (uint32_t)cnt;
    *has_overrides = true;
    old = push_key(L, "overrides");
    for (size_t i = 0; i < cnt && st == VX_OK; i++) {
        size_t o2 = push_idx(L, i);
        st = compile_override(L, vj_array_get(ovs, i), &v->overrides[i]);
        pop(L, o2);
    }
    pop(L, old);
    return st;
}

/* Compiles `obj.variants`. `first_stickiness` receives variants[0].stickiness
 * (absent when unset) so the caller can apply its own default rule. */
static vx_status compile_variants(loader *L, const vj *obj, vx__variants *vs,
                                  vx_str *first_stickiness)
{
    const vj *arr;
    *first_stickiness = (vx_str){NULL, 0};
    vx_status st = opt_array(L, obj, "variants", VX_FL_VARIANTS, &arr);
    if (st != VX_OK || !arr || vj_array_size(arr) == 0)
        return st;
    size_t cnt = vj_array_size(arr);
    vs->v = vx__arena_calloc(L->arena, cnt, sizeof(*vs->v));
    if (!vs->v)
        return oom(L);
    vs->n = (uint32_t)cnt;
    size_t old = push_key(L, "variants");
    for (size_t i = 0; i < cnt && st == VX_OK; i++) {
        vx_str stick;
        size_t o2 = push_idx(L, i);
        st = compile_variant(L, vj_array_get(arr, i), &vs->v[i], &stick,
                             &vs->has_overrides);
        pop(L, o2);
        if (i == 0)
            *first_stickiness = stick;
        vs->total += vs->v[i].weight;
    }
    pop(L, old);
    if (st != VX_OK)
        return st;
    vs->cum = vx__arena_calloc(L->arena, cnt, sizeof(*vs->cum));
    if (!vs->cum)
        return oom(L);
    for (size_t i = 0; i < cnt; i++)
        vs->cum[i] = (i ? vs->cum[i - 1] : 0) + vs->v[i].weight;
    return st;
}

#define VARIANT_SEED 86028157u

static vx__stick stick_of(vx_str s)
{
    if (vx__str_eq(s.ptr, s.len, "default", 7))
        return VX__STICK_DEFAULT;
    if (vx__str_eq(s.ptr, s.len, "random", 6))
        return VX__STICK_RANDOM;
    return VX__STICK_FIELD;
}

static void set_stickiness(vx__variants *vs, vx_str s)
{
    vs->stickiness = s;
    vs->stick_field = vx__fieldref_make(s.ptr, s.len);
    vs->stick = stick_of(s);
}

/* Sets the hash group of a variant list and precomputes "group:". */
static void set_group(vx__variants *vs, vx_str group)
{
    vs->group = group;
    vs->group_pre = vx__hash_prefix(group, VARIANT_SEED);
}

/* ---- strategies --------------------------------------------------------- */

static const struct {
    const char *name;
    vx__strategy_kind kind;
    const char *required; /* parameter that must be present, or NULL */
} STRATEGIES[] = {
    {"default", VX__S_DEFAULT, NULL},
    {"flexibleRollout", VX__S_FLEXIBLE_ROLLOUT, "rollout"},
    {"userWithId", VX__S_USER_WITH_ID, "userIds"},
    {"remoteAddress", VX__S_REMOTE_ADDRESS, "IPs"},
    {"applicationHostname", VX__S_APPLICATION_HOSTNAME, "hostNames"},
    {"gradualRolloutUserId", VX__S_GRADUAL_USER_ID, "percentage"},
    {"gradualRolloutSessionId", VX__S_GRADUAL_SESSION_ID, "percentage"},
    {"gradualRolloutRandom", VX__S_GRADUAL_RANDOM, "percentage"},
};

/* A strategy parameter as a string: strings as they are, numbers and
 * booleans as JavaScript's String() writes them; absent or null = absent. */
static vx_status param(loader *L, const vj *params, const char *key,
                       vx_str *out)
{
    *out = (vx_str){NULL, 0};
    const vj *v = params ? vj_object_get(params, key) : NULL;
    if (!v || vj_is_null(v))
        return VX_OK;
    if (vj_is_string(v))
        return dup_str(L, v, out);
    if (vj_is_number(v))
        return number_text(L, v, out);
    if (vj_is_boolean(v))
        return dup_mem(L, vj_is_true(v) ? "true" : "false",
                       vj_is_true(v) ? 4 : 5, out);
    size_t old = push_key(L, key);
    vx_status st =
        fail(L, VX_ESCHEMA, "expected a string, got %s", type_name(v));
    pop(L, old);
    return st;
}

static vx_status compile_strategy(loader *L, const vj *j, vx__strategy *s)
{
    vx_str name;
    vx_status st = expect_object(L, j);
    if (st == VX_OK)
        st = req_string(L, j, "name", &name);
    if (st != VX_OK)
        return st;
    const vj *params = vj_object_get(j, "parameters");
    if (params && vj_is_null(params))
        params = NULL;
    if (params && !vj_is_object(params)) {
        size_t old = push_key(L, "parameters");
        st = fail(L, VX_ESCHEMA, "expected an object, got %s",
                  type_name(params));
        pop(L, old);
        return st;
    }
    s->kind = VX__S_UNKNOWN;
    const char *required = NULL;
    for (size_t i = 0; i < sizeof(STRATEGIES) / sizeof(STRATEGIES[0]); i++) {
        if (vx__str_eq(name.ptr, name.len, STRATEGIES[i].name,
                       strlen(STRATEGIES[i].name))) {
            s->kind = STRATEGIES[i].kind;
            required = STRATEGIES[i].required;
        }
    }
    if (s->kind == VX__S_UNKNOWN) {
        size_t old = push_key(L, "name");
        warn(L, "unknown strategy \"%s\": it never matches", name.ptr);
        pop(L, old);
    }
    vx_str req = {NULL, 0}, group, stick, list;
    if (required) {
        size_t old = push_key(L, "parameters");
        st = param(L, params, required, &req);
        if (st == VX_OK && !req.ptr) {
            push_key(L, required);
            st = fail(L, VX_ESCHEMA,
                      "strategy \"%s\" needs the parameter \"%s\"", name.ptr,
                      required);
        }
        pop(L, old);
        if (st != VX_OK)
            return st;
    }
    size_t old = push_key(L, "parameters");
    st = param(L, params, "groupId", &group);
    if (st == VX_OK)
        st = param(L, params, "stickiness", &stick);
    pop(L, old);
    if (st != VX_OK)
        return st;
    static const char EMPTY[] = "";
    switch (s->kind) {
    case VX__S_FLEXIBLE_ROLLOUT:
    case VX__S_GRADUAL_USER_ID:
    case VX__S_GRADUAL_SESSION_ID:
    case VX__S_GRADUAL_RANDOM:
        s->percentage = vx__js_number(req.ptr, req.len);
        s->group_id = group.len ? group : (vx_str){EMPTY, 0};
        s->stickiness = stick.len ? stick : (vx_str){"default", 7};
        s->stick_field =
            vx__fieldref_make(s->stickiness.ptr, s->stickiness.len);
        s->stick = stick_of(s->stickiness);
        s->group_pre = vx__hash_prefix(s->group_id, 0);
        break;
    case VX__S_USER_WITH_ID:
    case VX__S_REMOTE_ADDRESS:
    case VX__S_APPLICATION_HOSTNAME:
        list = req;
        if (s->kind == VX__S_APPLICATION_HOSTNAME) {
            st = lower_copy(L, &list);
            if (st != VX_OK)
                return st;
        }
        if (list.len) {
            st = split_list(L, list, &s->list, &s->nlist);
            if (st != VX_OK)
                return st;
        }
        if (s->kind == VX__S_REMOTE_ADDRESS && s->nlist) {
            s->ips = vx__arena_calloc(L->arena, s->nlist, sizeof(*s->ips));
            s->ip_ok = vx__arena_calloc(L->arena, s->nlist, sizeof(*s->ip_ok));
            if (!s->ips || !s->ip_ok)
                return oom(L);
            for (uint32_t i = 0; i < s->nlist; i++)
                s->ip_ok[i] =
                    vx__ip_parse(s->list[i].ptr, s->list[i].len, &s->ips[i]);
        }
        break;
    default: break;
    }
    st = compile_constraints(L, j, &s->constraints, &s->nconstraints);
    if (st != VX_OK)
        return st;
    const vj *segs;
    st = opt_array(L, j, "segments", VX_FL_STRATEGY_SEGMENTS, &segs);
    if (st != VX_OK)
        return st;
    size_t nseg = segs ? vj_array_size(segs) : 0;
    if (nseg) {
        s->segments = vx__arena_calloc(L->arena, nseg, sizeof(*s->segments));
        if (!s->segments)
            return oom(L);
        old = push_key(L, "segments");
        for (size_t i = 0; i < nseg; i++) {
            const vj *id = vj_array_get(segs, i);
            if (!vj_is_integer(id)) {
                push_idx(L, i);
                st = fail(L, VX_ESCHEMA,
                          "expected a segment id (integer), got %s",
                          type_name(id));
                pop(L, old);
                return st;
            }
            s->segments[i] = vj_integer_value(id);
        }
        pop(L, old);
        s->nsegments = (uint32_t)nseg;
    }
    vx_str first;
    st = compile_variants(L, j, &s->variants, &first);
    if (st != VX_OK)
        return st;
    /* Node SDK: variants[0].stickiness || parameters.stickiness, the hash
     * group is `${parameters.groupId}` ("undefined" when unset). */
    if (first.len)
        set_stickiness(&s->variants, first);
    else if (stick.ptr)
        set_stickiness(&s->variants, stick);
    else
        set_stickiness(&s->variants, (vx_str){"default", 7});
    set_group(&s->variants, group.ptr ? group : (vx_str){"undefined", 9});
    return VX_OK;
}

/* ---- flags and segments -------------------------------------------------- */

/* Starts a chunk whose first member is a `size`-byte struct. */
static void *chunk_begin(loader *L, size_t size)
{
    vx_arena arena;
    /* A compiled flag takes about twice its JSON text: size the
     * first block so most flags fit in one. */
    size_t first = L->size_hint ? L->size_hint * 2 + 256 : 1024;
    vx__arena_init(&arena, first > 65536 ? 65536 : first);
    vx__chunk *c = vx__arena_calloc(&arena, 1, size);
    if (!c) {
        vx__arena_release(&arena);
        return NULL;
    }
    c->arena = arena;
    atomic_init(&c->refs, 1);
    L->chunk = c;
    L->arena = &c->arena;
    return c;
}

static vx_status compile_dependency(loader *L, const vj *j, vx__dependency *d)
{
    const vj *vars;
    vx_status st = expect_object(L, j);
    if (st == VX_OK)
        st = req_string(L, j, "feature", &d->feature);
    if (st == VX_OK)
        st = opt_bool(L, j, "enabled", true, &d->enabled);
    if (st == VX_OK)
        st = opt_array(L, j, "variants", VX_FL_DEPENDENCY_VARIANTS, &vars);
    if (st == VX_OK && vars) {
        size_t old = push_key(L, "variants");
        st = string_list(L, vars, false, &d->variants, &d->nvariants);
        pop(L, old);
    }
    return st;
}

static vx_status compile_flag(loader *L, const vj *j, vx__flag **out)
{
    *out = NULL;
    vx_status st = expect_object(L, j);
    if (st != VX_OK)
        return st;
    vx__flag *f = chunk_begin(L, sizeof(*f));
    if (!f)
        return oom(L);
    const vj *strategies = NULL, *deps = NULL, *en;
    st = req_string(L, j, "name", &f->name);
    if (st == VX_OK) {
        en = vj_object_get(j, "enabled");
        size_t old = push_key(L, "enabled");
        if (!en)
            st = fail(L, VX_ESCHEMA, "required boolean \"enabled\" is missing");
        else if (!vj_is_boolean(en))
            st = fail(L, VX_ESCHEMA, "expected a boolean, got %s",
                      type_name(en));
        else
            f->enabled = vj_is_true(en);
        pop(L, old);
    }
    if (st == VX_OK)
        st = opt_bool(L, j, "impressionData", false, &f->impression_data);
    if (st == VX_OK) {
        st = opt_array(L, j, "strategies", VX_FL_STRATEGIES, &strategies);
        if (st == VX_OK && !vj_object_get(j, "strategies")) {
            size_t old = push_key(L, "strategies");
            st =
                fail(L, VX_ESCHEMA, "required array \"strategies\" is missing");
            pop(L, old);
        }
    }
    size_t n = strategies ? vj_array_size(strategies) : 0;
    if (st == VX_OK && n) {
        f->strategies = vx__arena_calloc(L->arena, n, sizeof(*f->strategies));
        if (!f->strategies)
            st = oom(L);
        f->nstrategies = (uint32_t)n;
        size_t old = push_key(L, "strategies");
        for (size_t i = 0; i < n && st == VX_OK; i++) {
            size_t o2 = push_idx(L, i);
            st = compile_strategy(L, vj_array_get(strategies, i),
                                  &f->strategies[i]);
            pop(L, o2);
        }
        pop(L, old);
    }
    vx_str first;
    if (st == VX_OK)
        st = compile_variants(L, j, &f->variants, &first);
    if (st == VX_OK) {
        /* Node SDK: feature.variants[0].stickiness ?? "default" */
        set_stickiness(&f->variants,
                       first.ptr ? first : (vx_str){"default", 7});
        set_group(&f->variants, f->name);
        st = opt_array(L, j, "dependencies", VX_FL_DEPENDENCIES, &deps);
    }
    n = deps ? vj_array_size(deps) : 0;
    if (st == VX_OK && n) {
        f->deps = vx__arena_calloc(L->arena, n, sizeof(*f->deps));
        if (!f->deps)
            st = oom(L);
        f->ndeps = (uint32_t)n;
        size_t old = push_key(L, "dependencies");
        for (size_t i = 0; i < n && st == VX_OK; i++) {
            size_t o2 = push_idx(L, i);
            st = compile_dependency(L, vj_array_get(deps, i), &f->deps[i]);
            pop(L, o2);
        }
        pop(L, old);
    }
    L->chunk = NULL;
    L->arena = NULL;
    if (st != VX_OK) {
        vx__chunk_unref(&f->chunk);
        return st;
    }
    f->hash = vx_murmur3_32(f->name.ptr, f->name.len, 0);
    L->chunk = NULL;
    L->arena = NULL;
    *out = f;
    return VX_OK;
}

static vx_status compile_segment(loader *L, const vj *j, vx__segment **out)
{
    *out = NULL;
    vx_status st = expect_object(L, j);
    if (st != VX_OK)
        return st;
    const vj *id = vj_object_get(j, "id");
    if (!vj_is_integer(id)) {
        size_t old = push_key(L, "id");
        st = fail(L, VX_ESCHEMA,
                  id ? "expected an integer id, got %s"
                     : "required integer \"id\" is missing%s",
                  id ? type_name(id) : "");
        pop(L, old);
        return st;
    }
    vx__segment *s = chunk_begin(L, sizeof(*s));
    if (!s)
        return oom(L);
    s->id = vj_integer_value(id);
    st = compile_constraints(L, j, &s->constraints, &s->nconstraints);
    L->chunk = NULL;
    L->arena = NULL;
    if (st != VX_OK) {
        vx__chunk_unref(&s->chunk);
        return st;
    }
    *out = s;
    return VX_OK;
}

/* ---- documents ---------------------------------------------------------- */

static vx_status put_features(loader *L, vx__builder *b, const vj *obj,
                              bool required)
{
    const vj *arr;
    vx_status st = opt_array(L, obj, "features", VX_FL_FLAGS, &arr);
    if (st == VX_OK && !arr && required) {
        size_t old = push_key(L, "features");
        st = fail(L, VX_ESCHEMA, "required array \"features\" is missing");
        pop(L, old);
    }
    size_t n = arr ? vj_array_size(arr) : 0;
    size_t old = push_key(L, "features");
    for (size_t i = 0; i < n && st == VX_OK; i++) {
        vx__flag *f;
        size_t o2 = push_idx(L, i);
        st = compile_flag(L, vj_array_get(arr, i), &f);
        if (st == VX_OK) {
            st = vx__builder_put_flag_take(b, f);
            if (st != VX_OK)
                st = st == VX_ELIMIT ? over(L, VX_FL_FLAGS, 0) : oom(L);
        }
        pop(L, o2);
    }
    pop(L, old);
    return st;
}

static vx_status put_segment(loader *L, vx__builder *b, const vj *j)
{
    vx__segment *s;
    vx_status st = compile_segment(L, j, &s);
    if (st == VX_OK) {
        st = vx__builder_put_segment_take(b, s);
        if (st != VX_OK)
            st = st == VX_ELIMIT ? over(L, VX_FL_SEGMENTS, 0) : oom(L);
    }
    return st;
}

static vx_status put_segments(loader *L, vx__builder *b, const vj *obj)
{
    const vj *arr;
    vx_status st = opt_array(L, obj, "segments", VX_FL_SEGMENTS, &arr);
    size_t n = arr ? vj_array_size(arr) : 0;
    size_t old = push_key(L, "segments");
    for (size_t i = 0; i < n && st == VX_OK; i++) {
        size_t o2 = push_idx(L, i);
        st = put_segment(L, b, vj_array_get(arr, i));
        pop(L, o2);
    }
    pop(L, old);
    return st;
}

static vx_status apply_event(loader *L, vx__builder *b, const vj *ev)
{
    vx_status st = expect_object(L, ev);
    if (st != VX_OK)
        return st;
    /* No chunk is open here: read `type` straight from the JSON. */
    const char *t = vj_string_value(vj_object_get(ev, "type"));
    if (!t) {
        size_t old = push_key(L, "type");
        st = fail(L, VX_ESCHEMA, "required string \"type\" is missing");
        pop(L, old);
        return st;
    }
    if (strcmp(t, "hydration") == 0) {
        vx__builder_clear(b);
        st = put_features(L, b, ev, true);
        if (st == VX_OK)
            st = put_segments(L, b, ev);
    } else if (strcmp(t, "feature-updated") == 0) {
        const vj *f = vj_object_get(ev, "feature");
        size_t old = push_key(L, "feature");
        vx__flag *flag;
        st = f ? compile_flag(L, f, &flag)
               : fail(L, VX_ESCHEMA, "required object \"feature\" is missing");
        if (st == VX_OK) {
            st = vx__builder_put_flag_take(b, flag);
            if (st != VX_OK)
                st = st == VX_ELIMIT ? over(L, VX_FL_FLAGS, 0) : oom(L);
        }
        pop(L, old);
    } else if (strcmp(t, "feature-removed") == 0) {
        const vj *name = vj_object_get(ev, "featureName");
        if (!vj_is_string(name)) {
            size_t old = push_key(L, "featureName");
            st = fail(L, VX_ESCHEMA,
                      "required string \"featureName\" is missing");
            pop(L, old);
        } else {
            vx__builder_remove_flag(b, vj_string_value(name),
                                    vj_string_length(name));
        }
    } else if (strcmp(t, "segment-updated") == 0) {
        const vj *s = vj_object_get(ev, "segment");
        size_t old = push_key(L, "segment");
        st = s ? put_segment(L, b, s)
               : fail(L, VX_ESCHEMA, "required object \"segment\" is missing");
        pop(L, old);
    } else if (strcmp(t, "segment-removed") == 0) {
        const vj *id = vj_object_get(ev, "segmentId");
        if (!vj_is_integer(id)) {
            size_t old = push_key(L, "segmentId");
            st = fail(L, VX_ESCHEMA,
                      "required integer \"segmentId\" is missing");
            pop(L, old);
        } else {
            vx__builder_remove_segment(b, vj_integer_value(id));
        }
    } else {
        size_t old = push_key(L, "type");
        warn(L, "unknown event type \"%s\": ignored", t);
        pop(L, old);
    }
    return st;
}

static vx_status apply_events(loader *L, vx__builder *b, const vj *doc)
{
    const vj *events;
    vx_status st = opt_array(L, doc, "events", VX_FL_FLAGS, &events);
    size_t n = events ? vj_array_size(events) : 0;
    size_t old = push_key(L, "events");
    for (size_t i = 0; i < n && st == VX_OK; i++) {
        size_t o2 = push_idx(L, i);
        st = apply_event(L, b, vj_array_get(events, i));
        pop(L, o2);
    }
    pop(L, old);
    return st;
}

/* Parses text[start..end) into the scratch arena (emptied first); a syntax
 * error is reported at its place in the whole text. */
static vx_status parse_span(loader *L, size_t start, size_t end, vj **out)
{
    vj_error jerr;
    vx__arena_reset(&L->scratch);
    *out = vj_parse(&L->scratch, L->text + start, end - start, &jerr);
    if (*out)
        return VX_OK;
    if (jerr.oom)
        return fail(L, VX_ENOMEM, "out of memory");
    vx_status st = fail(L, VX_EPARSE, "%s", jerr.text);
    if (L->err)
        vx__json_pos_of(L->text, L->len, start + jerr.position, &L->err->line,
                        &L->err->column);
    return st;
}

static vx_status parse_doc(loader *L, vj **out)
{
    *out = NULL;
    if (L->len > vx__limit_value(VX_FL_DOC_BYTES))
        return over(L, VX_FL_DOC_BYTES, L->len);
    vj *doc = NULL;
    vx_status st = parse_span(L, 0, L->len, &doc);
    if (st != VX_OK)
        return st;
    if (!vj_is_object(doc))
        return fail(L, VX_ESCHEMA, "expected an object, got %s",
                    type_name(doc));
    *out = doc;
    return VX_OK;
}

/* ---- streaming: one array element at a time ------------------------------ */

typedef enum stream_rc {
    STREAM_DONE,     /* the document was loaded (or failed with `*st`) */
    STREAM_FALLBACK, /* not a plain document: use the whole-tree parser */
} stream_rc;

/* Loads the elements of the array at text[pos..) into the builder one at a
 * time. `key` is "features" or "segments". */
static stream_rc stream_array(loader *L, vx__builder *b, const char *key,
                              size_t *pos, vx_status *st)
{
    size_t i = vx__json_skip_ws(L->text, L->len, *pos);
    if (i >= L->len || L->text[i] != '[')
        return STREAM_FALLBACK;
    i = vx__json_skip_ws(L->text, L->len, i + 1);
    bool flags = strcmp(key, "features") == 0;
    vx_flag_limit lim = flags ? VX_FL_FLAGS : VX_FL_SEGMENTS;
    size_t max = vx__limit_value(lim);
    /* Count first, so an over-long array is refused before any work, as
     * the whole-tree parser refuses it. */
    size_t count = 0;
    for (size_t j = i; j < L->len && L->text[j] != ']';) {
        size_t vs, ve = vx__json_skip_value(L->text, L->len, j, &vs);
        if (!ve)
            return STREAM_FALLBACK;
        count++;
        j = vx__json_skip_ws(L->text, L->len, ve);
        if (j < L->len && L->text[j] == ',')
            j++;
        if (count > max)
            break;
    }
    size_t old = push_key(L, key);
    if (count > max) {
        *st = over(L, lim, count);
        pop(L, old);
        return STREAM_DONE;
    }
    for (size_t n = 0; *st == VX_OK; n++) {
        if (i < L->len && L->text[i] == ']' && n == 0)
            break;
        size_t start, end = vx__json_skip_value(L->text, L->len, i, &start);
        if (!end) {
            pop(L, old);
            return STREAM_FALLBACK;
        }
        size_t o2 = push_idx(L, n);
        vj *v = NULL;
        *st = parse_span(L, start, end, &v);
        L->size_hint = end - start;
        if (*st == VX_OK && flags) {
            vx__flag *f;
            *st = compile_flag(L, v, &f);
            if (*st == VX_OK) {
                *st = vx__builder_put_flag_take(b, f);
                if (*st != VX_OK)
                    *st = *st == VX_ELIMIT ? over(L, VX_FL_FLAGS, 0) : oom(L);
            }
        } else if (*st == VX_OK) {
            *st = put_segment(L, b, v);
        }
        L->size_hint = 0;
        pop(L, o2);
        i = vx__json_skip_ws(L->text, L->len, end);
        if (i < L->len && L->text[i] == ',') {
            i = vx__json_skip_ws(L->text, L->len, i + 1);
            continue;
        }
        if (i < L->len && L->text[i] == ']')
            break;
        pop(L, old);
        return STREAM_FALLBACK; /* let the full parser name the error */
    }
    pop(L, old);
    *pos = i + 1;
    return STREAM_DONE;
}

/* A full client-features document, loaded without ever holding its whole
 * JSON tree: the top-level object is scanned, and each element of
 * `features` and `segments` is parsed, compiled and freed in turn. Peak
 * memory is the text plus the snapshot, not a tree ten times the text. Any
 * shape this does not expect (a delta, duplicate keys, a syntax error
 * between elements) falls back to the whole-tree parser, which also gives
 * the precise error. */
static stream_rc stream_document(loader *L, vx__builder *b, vx_status *st)
{
    size_t i = vx__json_skip_ws(L->text, L->len, 0);
    bool seen_features = false, seen_segments = false;
    if (i >= L->len || L->text[i] != '{')
        return STREAM_FALLBACK;
    i = vx__json_skip_ws(L->text, L->len, i + 1);
    if (i < L->len && L->text[i] == '}')
        return STREAM_FALLBACK; /* "features" is missing: the full path says so
                                 */
    for (;;) {
        size_t kstart, kend = vx__json_skip_value(L->text, L->len, i, &kstart);
        if (!kend || L->text[kstart] != '"')
            return STREAM_FALLBACK;
        vj *k = NULL;
        if (parse_span(L, kstart, kend, &k) != VX_OK)
            return STREAM_FALLBACK;
        const char *key = vj_string_value(k);
        bool is_features = key && strcmp(key, "features") == 0;
        bool is_segments = key && strcmp(key, "segments") == 0;
        bool is_events = key && strcmp(key, "events") == 0;
        if (!key || is_events || (is_features && seen_features) ||
            (is_segments && seen_segments))
            return STREAM_FALLBACK;
        i = vx__json_skip_ws(L->text, L->len, kend);
        if (i >= L->len || L->text[i] != ':')
            return STREAM_FALLBACK;
        i++;
        if (is_features || is_segments) {
            seen_features |= is_features;
            seen_segments |= is_segments;
            if (stream_array(L, b, is_features ? "features" : "segments", &i,
                             st) == STREAM_FALLBACK)
                return STREAM_FALLBACK;
            if (*st != VX_OK)
                return STREAM_DONE;
        } else {
            /* Any other member: validated on its own, then ignored. */
            size_t vstart,
                vend = vx__json_skip_value(L->text, L->len, i, &vstart);
            vj *v = NULL;
            if (!vend || parse_span(L, vstart, vend, &v) != VX_OK)
                return STREAM_FALLBACK;
            i = vend;
        }
        i = vx__json_skip_ws(L->text, L->len, i);
        if (i < L->len && L->text[i] == ',') {
            i = vx__json_skip_ws(L->text, L->len, i + 1);
            continue;
        }
        if (i < L->len && L->text[i] == '}')
            break;
        return STREAM_FALLBACK;
    }
    if (vx__json_skip_ws(L->text, L->len, i + 1) != L->len || !seen_features)
        return STREAM_FALLBACK;
    return STREAM_DONE;
}

/* Below this size a document is parsed whole: streaming pays off only when
 * the tree would be large. */
#define STREAM_MIN_BYTES 65536

static vx_status load(const vx_snapshot *base, bool delta, const char *json,
                      size_t len, const vx_load_options *opts,
                      vx_snapshot **out, vx_error *err)
{
    loader L = {.text = json, .len = len, .opts = opts, .err = err};
    vj *doc = NULL;
    vx__builder b;
    vx__builder_init(&b);
    vx__arena_init(&L.scratch, 65536); /* allocates on first use only */
    if (!out)
        return vx__error_set(err, VX_EINVAL, "", "no output pointer");
    *out = NULL;
    if (!json)
        return vx__error_set(err, VX_EINVAL, "", "no input");
    vx_status st = VX_OK;
    if (!delta && !base && len >= STREAM_MIN_BYTES &&
        len <= vx__limit_value(VX_FL_DOC_BYTES)) {
        if (stream_document(&L, &b, &st) == STREAM_DONE)
            goto finish;
        /* Start over with the whole-tree parser. */
        vx__builder_release(&b);
        vx__builder_init(&b);
        L.plen = 0;
        L.path[0] = '\0';
        st = VX_OK;
    }
    st = parse_doc(&L, &doc);
    if (st != VX_OK)
        goto out;
    st = vx__builder_copy(&b, base);
    if (st != VX_OK) {
        st = fail(&L, st, "out of memory");
        goto out;
    }
    if (delta || vj_object_get(doc, "events")) {
        st = apply_events(&L, &b, doc);
    } else {
        st = put_features(&L, &b, doc, true);
        if (st == VX_OK)
            st = put_segments(&L, &b, doc);
    }
finish:
    if (st == VX_OK) {
        st = vx__builder_finish(&b, out);
        if (st != VX_OK)
            fail(&L, st, "out of memory");
    }
out:
    vx__builder_release(&b);
    vx__arena_release(&L.scratch);
    return st;
}

VX_API vx_status vx_snapshot_load(const char *json, size_t len,
                                  const vx_load_options *opts,
                                  vx_snapshot **out, vx_error *err)
{
    return load(NULL, false, json, len, opts, out, err);
}

VX_API vx_status vx_snapshot_apply_delta(const vx_snapshot *base,
                                         const char *json, size_t len,
                                         const vx_load_options *opts,
                                         vx_snapshot **out, vx_error *err)
{
    return load(base, true, json, len, opts, out, err);
}
