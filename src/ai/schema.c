/* A checker for the small subset of JSON Schema the advisor's answer
 * schemas use, and the parser of a model's text. A model's answer is
 * untrusted input: it is checked here before anything reads its fields.
 *
 * Invariant: the first violation found is reported with its JSON pointer;
 * no check allocates beyond the path buffer on the stack. */
#include <stdio.h>
#include <string.h>

#include "ai/advisor.h"
#include "base/error.h"

static bool type_ok(const char *t, const json_t *v)
{
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    return false;
}

/* Counts UTF-8 code points, as JSON Schema's length keywords do. */
static size_t utf8_len(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            k++;
    return k;
}

static vx_status check(const json_t *sc, const json_t *v, char *path,
                       size_t plen, vx_error *err)
{
    vx_status st = VX_OK;
    const char *p = plen ? path : "";
    const json_t *t = json_object_get(sc, "type");
    if (json_is_string(t) && !type_ok(json_string_value(t), v))
        return vx__error_set(err, VX_ESCHEMA, p, "expected %s",
                             json_string_value(t));
    const json_t *en = json_object_get(sc, "enum");
    if (json_is_array(en)) {
        bool found = false;
        size_t i;
        const json_t *e;
        json_array_foreach (en, i, e)
            found = found || json_equal((json_t *)e, (json_t *)v);
        if (!found)
            return vx__error_set(err, VX_ESCHEMA, p,
                                 "not one of the allowed values");
    }
    if (json_is_string(v)) {
        size_t n = utf8_len(json_string_value(v), json_string_length(v));
        const json_t *mx = json_object_get(sc, "maxLength");
        const json_t *mn = json_object_get(sc, "minLength");
        if (json_is_integer(mx) && (json_int_t)n > json_integer_value(mx))
            return vx__error_set(err, VX_ESCHEMA, p,
                                 "longer than %lld characters",
                                 (long long)json_integer_value(mx));
        if (json_is_integer(mn) && (json_int_t)n < json_integer_value(mn))
            return vx__error_set(err, VX_ESCHEMA, p,
                                 "shorter than %lld characters",
                                 (long long)json_integer_value(mn));
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        const json_t *mx = json_object_get(sc, "maximum");
        const json_t *mn = json_object_get(sc, "minimum");
        if (json_is_number(mx) && d > json_number_value(mx))
            return vx__error_set(err, VX_ESCHEMA, p, "more than %g",
                                 json_number_value(mx));
        if (json_is_number(mn) && d < json_number_value(mn))
            return vx__error_set(err, VX_ESCHEMA, p, "less than %g",
                                 json_number_value(mn));
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        const json_t *mx = json_object_get(sc, "maxItems");
        const json_t *mn = json_object_get(sc, "minItems");
        if (json_is_integer(mx) && (json_int_t)n > json_integer_value(mx))
            return vx__error_set(err, VX_ESCHEMA, p, "more than %lld items",
                                 (long long)json_integer_value(mx));
        if (json_is_integer(mn) && (json_int_t)n < json_integer_value(mn))
            return vx__error_set(err, VX_ESCHEMA, p, "fewer than %lld items",
                                 (long long)json_integer_value(mn));
        const json_t *items = json_object_get(sc, "items");
        size_t i;
        const json_t *e;
        json_array_foreach (v, i, e) {
            if (!json_is_object(items))
                break;
            int w = snprintf(path + plen, VX_ERROR_PATH_MAX - plen, "/%zu", i);
            size_t np = w > 0 && (size_t)w < VX_ERROR_PATH_MAX - plen
                            ? plen + (size_t)w
                            : plen;
            st = check(items, e, path, np, err);
            path[plen] = '\0';
            if (st != VX_OK)
                return st;
        }
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(sc, "properties");
        const json_t *req = json_object_get(sc, "required");
        bool closed =
            json_is_false(json_object_get(sc, "additionalProperties"));
        size_t i;
        const json_t *r;
        json_array_foreach (req, i, r) {
            if (json_is_string(r) && !json_object_get(v, json_string_value(r)))
                return vx__error_set(err, VX_ESCHEMA, p,
                                     "missing required member \"%s\"",
                                     json_string_value(r));
        }
        const char *key;
        const json_t *m;
        json_object_foreach ((json_t *)v, key, m) {
            const json_t *ps = json_object_get(props, key);
            int w = snprintf(path + plen, VX_ERROR_PATH_MAX - plen, "/%s", key);
            size_t np = w > 0 && (size_t)w < VX_ERROR_PATH_MAX - plen
                            ? plen + (size_t)w
                            : plen;
            if (!ps && closed) {
                st = vx__error_set(err, VX_ESCHEMA, path,
                                   "member not allowed by the schema");
            } else if (json_is_object(ps)) {
                st = check(ps, m, path, np, err);
            }
            path[plen] = '\0';
            if (st != VX_OK)
                return st;
        }
    }
    return VX_OK;
}

vx_status ai_schema_check(const json_t *schema, const json_t *doc,
                          vx_error *err)
{
    char path[VX_ERROR_PATH_MAX] = "";
    return check(schema, doc, path, 0, err);
}

vx_status ai_parse_answer(const char *text, size_t len, json_t **out,
                          vx_error *err)
{
    *out = NULL;
    size_t b = 0, e = len;
    while (b < e && (text[b] == ' ' || text[b] == '\n' || text[b] == '\r' ||
                     text[b] == '\t'))
        b++;
    /* Some models wrap JSON in a Markdown fence despite the schema. */
    if (e - b >= 3 && memcmp(text + b, "```", 3) == 0) {
        const char *nl = memchr(text + b, '\n', e - b);
        b = nl ? (size_t)(nl - text) + 1 : e;
        while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\n' ||
                         text[e - 1] == '\r' || text[e - 1] == '\t'))
            e--;
        if (e - b >= 3 && memcmp(text + e - 3, "```", 3) == 0)
            e -= 3;
    }
    json_error_t je;
    json_t *j = json_loadb(text + b, e - b, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return vx__error_set(err, VX_EPARSE, "",
                             "the model's answer is not JSON: %s (at %d)",
                             je.text, je.position);
    if (!json_is_object(j)) {
        json_decref(j);
        return vx__error_set(err, VX_EPARSE, "",
                             "the model's answer is not a JSON object");
    }
    *out = j;
    return VX_OK;
}
