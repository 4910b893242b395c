/* The model gateway's upstream payload: see upstream.h. Members are read
 * one by one in a fixed order (base_url, model, api_key_env, ollama_url,
 * timeout_ms, stickiness, forward_metadata), so the first refusal is
 * always the same for the same payload. */
#include "base/upstream.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static vx_status str_member(const json_t *o, const char *key, bool required,
                            char *dst, size_t cap, vx_error *err)
{
    const json_t *v = json_object_get(o, key);
    char path[64];
    snprintf(path, sizeof(path), "/%s", key);
    dst[0] = '\0';
    if (!v || json_is_null(v)) {
        if (required)
            return vx__error_set(err, VX_EINVAL, path, "%s is required", key);
        return VX_OK;
    }
    if (!json_is_string(v))
        return vx__error_set(err, VX_EINVAL, path, "%s must be a string", key);
    size_t n = json_string_length(v);
    if (n == 0 && required)
        return vx__error_set(err, VX_EINVAL, path, "%s must not be empty", key);
    if (n >= cap)
        return vx__error_set(err, VX_ELIMIT, path,
                             "%s is longer than %zu bytes", key, cap - 1);
    if (strlen(json_string_value(v)) != n)
        return vx__error_set(err, VX_EINVAL, path, "%s holds a NUL byte", key);
    memcpy(dst, json_string_value(v), n + 1);
    return VX_OK;
}

size_t vx__url_scheme_len(const char *url)
{
    return strncmp(url, "http://", 7) == 0    ? 7
           : strncmp(url, "https://", 8) == 0 ? 8
                                              : 0;
}

/* An http(s) URL whose host (the byte after "//") is there. */
static bool is_http(const char *url)
{
    size_t k = vx__url_scheme_len(url);
    return k > 0 && url[k] != '\0' && url[k] != '/';
}

/* Trailing slashes off an is_http `url` (its host stays); its length. */
static size_t trim_slashes(char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    return n;
}

/* Sets up->ollama_url: the payload's, else base_url without a trailing
 * "/v1" path segment (Ollama's OpenAI-compatible root is its native root +
 * "/v1"). Both are is_http. */
static void ollama_root(vx_upstream *up)
{
    if (!up->ollama_url[0]) {
        copy_str(up->ollama_url, sizeof(up->ollama_url), up->base_url);
        size_t n = trim_slashes(up->ollama_url);
        if (n >= vx__url_scheme_len(up->ollama_url) + 4 &&
            memcmp(up->ollama_url + n - 3, "/v1", 3) == 0)
            up->ollama_url[n - 3] = '\0';
    }
    trim_slashes(up->ollama_url);
}

bool vx__http_token(const char *s, size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || (ch && strchr(extra, ch));
        if (!ok)
            return false;
    }
    return true;
}

/* The payload's gateway settings besides the upstream: "stickiness" and
 * "forward_metadata". */
static vx_status settings_parse(const json_t *o, vx_upstream *out,
                                vx_error *err)
{
    static const char want[] = "stickiness must be \"user\", \"token\", "
                               "\"request\" or \"header:<Header-Name>\"";
    char unit[VX_LIMIT_GW_NAME_BYTES];
    vx_status st = str_member(o, "stickiness", false, unit, sizeof(unit), err);
    if (st != VX_OK)
        return st;
    out->sticky = VX_UPSTREAM_STICKY_USER;
    if (strcmp(unit, "token") == 0) {
        out->sticky = VX_UPSTREAM_STICKY_TOKEN;
    } else if (strcmp(unit, "request") == 0) {
        out->sticky = VX_UPSTREAM_STICKY_REQUEST;
    } else if (strncmp(unit, "header:", 7) == 0) {
        const char *h = unit + 7;
        if (!vx__http_token(h, strlen(h)))
            return vx__error_set(err, VX_EINVAL, "/stickiness",
                                 "%s: the header name is not an HTTP token",
                                 want);
        out->sticky = VX_UPSTREAM_STICKY_HEADER;
        copy_str(out->sticky_header, sizeof(out->sticky_header), h);
    } else if (unit[0] && strcmp(unit, "user") != 0) {
        return vx__error_set(err, VX_EINVAL, "/stickiness", "%s", want);
    }
    const json_t *fm = json_object_get(o, "forward_metadata");
    if (fm && !json_is_null(fm) && !json_is_boolean(fm))
        return vx__error_set(err, VX_EINVAL, "/forward_metadata",
                             "forward_metadata must be true or false");
    out->forward_metadata = json_is_true(fm);
    return VX_OK;
}

vx_status vx__upstream_parse(const char *text, size_t len, vx_upstream *out,
                             vx_error *err)
{
    vx_status st = VX_OK;
    json_error_t je;
    uint64_t refused = vx__alloc_failures();
    json_t *o = json_loadb(text, len, 0, &je);
    memset(out, 0, sizeof(*out));
    if (!o && vx__alloc_failures() != refused) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    if (!json_is_object(o)) {
        st = vx__error_set(err, VX_EINVAL, "",
                           "a model flag's payload must be a JSON object "
                           "{base_url, model, api_key_env, timeout_ms, "
                           "ollama_url, stickiness, forward_metadata}");
        goto out;
    }
    st = str_member(o, "base_url", true, out->base_url, sizeof(out->base_url),
                    err);
    if (st == VX_OK)
        st = str_member(o, "model", true, out->model, sizeof(out->model), err);
    if (st == VX_OK)
        st = str_member(o, "api_key_env", false, out->key_env,
                        sizeof(out->key_env), err);
    if (st == VX_OK)
        st = str_member(o, "ollama_url", false, out->ollama_url,
                        sizeof(out->ollama_url), err);
    if (st != VX_OK)
        goto out;
    if (!is_http(out->base_url)) {
        st = vx__error_set(err, VX_EINVAL, "/base_url",
                           "base_url must be an http:// or https:// URL "
                           "with a host");
        goto out;
    }
    out->ollama_given = out->ollama_url[0] != '\0';
    if (out->ollama_given && !is_http(out->ollama_url)) {
        st = vx__error_set(err, VX_EINVAL, "/ollama_url",
                           "ollama_url must be an http:// or https:// URL "
                           "with a host");
        goto out;
    }
    ollama_root(out);
    const json_t *t = json_object_get(o, "timeout_ms");
    out->timeout_ms = VX_LIMIT_GW_TIMEOUT_DEFAULT_MS;
    if (t && !json_is_null(t)) {
        if (!json_is_integer(t) || json_integer_value(t) < 1 ||
            json_integer_value(t) > VX_LIMIT_GW_TIMEOUT_MS) {
            st = vx__error_set(err, VX_EINVAL, "/timeout_ms",
                               "timeout_ms must be an integer from 1 to %d",
                               VX_LIMIT_GW_TIMEOUT_MS);
            goto out;
        }
        out->timeout_ms = (unsigned)json_integer_value(t);
    }
    st = settings_parse(o, out, err);
out:
    json_decref(o);
    return st;
}
