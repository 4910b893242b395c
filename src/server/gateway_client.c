/* The gateway's client dialects (gateway_client.h): OpenAI- and
 * Ollama-shaped error bodies, and the caller's context for targeting read
 * from OpenAI's "metadata" and the X-Vexil-Context header.
 *
 * Invariant: every refusal names its field and quotes no header text (it
 * may not be UTF-8); a field's name and value are checked before it
 * reaches the context. */
#include "server/gateway_client.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/limits.h"

/* ---- errors ----------------------------------------------------------- */

/* OpenAI's error "type" and "code" for a gateway-made error (code may be
 * NULL: JSON null, as OpenAI often sends). */
static void openai_kind(unsigned status, const char *path, const char **type,
                        const char **code)
{
    *type = status >= 500 ? "server_error" : "invalid_request_error";
    *code = NULL;
    switch (status) {
    case 401: *code = "invalid_api_key"; break;
    case 403: *code = "permission_denied"; break;
    case 404:
        if (path && strcmp(path, "/model") == 0)
            *code = "model_not_found";
        break;
    case 413: *code = "request_too_large"; break;
    case 429:
        *type = "requests";
        *code = "rate_limit_exceeded";
        break;
    case 502: *code = "upstream_error"; break;
    case 503: *code = "service_unavailable"; break;
    case 504: *code = "upstream_timeout"; break;
    default: break;
    }
}

/* A JSON pointer in OpenAI's notation ("/messages/0/content" ->
 * "messages[0].content"; "/headers/<Name>" -> "<Name>"), into `out`. */
static void openai_param(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (strncmp(path, "/headers/", 9) == 0) {
        snprintf(out, cap, "%s", path + 9);
        return;
    }
    for (const char *p = path; *p && n + 1 < cap;) {
        if (*p == '/')
            p++;
        size_t k = strcspn(p, "/");
        bool index = k > 0 && strspn(p, "0123456789") == k;
        if (index || n > 0) {
            const char *sep = index ? "[" : ".";
            if (n + 1 < cap)
                out[n++] = sep[0];
        }
        for (size_t i = 0; i < k && n + 1 < cap; i++) {
            char ch = p[i];
            if (ch == '~' && i + 1 < k && (p[i + 1] == '0' || p[i + 1] == '1'))
                ch = p[++i] == '1' ? '/' : '~';
            out[n++] = ch;
        }
        if (index && n + 1 < cap)
            out[n++] = ']';
        p += k;
    }
    out[n] = '\0';
}

json_t *gateway_client_error(gateway_dialect d, unsigned status,
                             const char *message, const char *path,
                             const char *detail)
{
    const char *p = path ? path : "";
    json_t *doc = json_pack("{ss s[{ss ss}]}", "message", message, "details",
                            "path", p, "message", detail ? detail : message);
    if (!doc)
        return NULL;
    json_t *error = NULL;
    if (d == GATEWAY_OLLAMA) {
        error = json_string(message);
    } else {
        const char *type, *code;
        char param[VX_ERROR_PATH_MAX];
        openai_kind(status, p, &type, &code);
        openai_param(p, param, sizeof(param));
        error = json_pack("{ss ss so so}", "message", message, "type", type,
                          "param", param[0] ? json_string(param) : json_null(),
                          "code", code ? json_string(code) : json_null());
    }
    if (!error || json_object_set_new(doc, "error", error) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* ---- context ---------------------------------------------------------- */

/* Unleash's standard fields: the gateway sets them (userId from the
 * stickiness unit, remoteAddress, environment, the time...), a request's
 * context cannot. */
static const char *const reserved[] = {"userId",        "sessionId",
                                       "remoteAddress", "environment",
                                       "appName",       "currentTime"};

/* A context field name: 1..limit bytes of A-Z a-z 0-9 - _ . ~ (Vexil's
 * name characters, which URLs and Unleash's context fields allow). */
static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > VX_LIMIT_GW_CONTEXT_NAME_BYTES)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                  ch == '.' || ch == '~';
        if (!ok)
            return false;
    }
    return true;
}

static bool is_reserved(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strlen(reserved[i]) == n && memcmp(reserved[i], s, n) == 0)
            return true;
    }
    return false;
}

static const char name_rule[] =
    "1-64 characters of A-Z a-z 0-9 - _ . ~ (a context field name)";

/* ---- the header --------------------------------------------------------- */

#define HDR_PATH "/headers/" GATEWAY_CONTEXT_HEADER

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* `n` bytes of well-formed UTF-8 without control characters. */
static bool text_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        if (k == 0 || i + k > n || (k == 1 && (c < 0x20 || c == 0x7f)))
            return false;
        if (k == 2 && c < 0xc2)
            return false; /* overlong */
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        }
        if (k == 3) {
            unsigned cp = ((c & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) |
                          (s[i + 2] & 0x3fu);
            if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))
                return false;
        }
        if (k == 4) {
            unsigned cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3fu) << 12) |
                          ((s[i + 2] & 0x3fu) << 6) | (s[i + 3] & 0x3fu);
            if (cp < 0x10000 || cp > 0x10ffff)
                return false;
        }
        i += k;
    }
    return true;
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* One "name=value" pair of the header (`n` bytes at `p`, trimmed). */
static vx_status header_pair(sdk_ctx *b, const char *p, size_t n, size_t index,
                             vx_arena *a, vx_error *err)
{
    const char *eq = memchr(p, '=', n);
    if (!eq)
        return vx__error_set(
            err, VX_EINVAL, HDR_PATH,
            GATEWAY_CONTEXT_HEADER ": pair %zu is not name=value", index + 1);
    size_t nl = (size_t)(eq - p);
    while (nl > 0 && is_ows(p[nl - 1]))
        nl--;
    const char *v = eq + 1;
    size_t vl = n - (size_t)(v - p);
    while (vl > 0 && is_ows(*v)) {
        v++;
        vl--;
    }
    if (!name_ok(p, nl))
        return vx__error_set(err, VX_EINVAL, HDR_PATH,
                             GATEWAY_CONTEXT_HEADER
                             ": the name of pair %zu is not %s",
                             index + 1, name_rule);
    if (is_reserved(p, nl))
        return vx__error_set(err, VX_EINVAL, HDR_PATH,
                             GATEWAY_CONTEXT_HEADER
                             ": '%.*s' is a field the gateway sets itself",
                             (int)nl, p);
    char *name = vx__arena_strndup(a, p, nl);
    char *val = vx__arena_alloc(a, vl + 1);
    if (!name || !val)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] != '%') {
            val[k++] = v[i];
            continue;
        }
        int hi = i + 2 < vl ? hexval(v[i + 1]) : -1;
        int lo = i + 2 < vl ? hexval(v[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return vx__error_set(err, VX_EINVAL, HDR_PATH,
                                 GATEWAY_CONTEXT_HEADER
                                 ": the value of '%s' has a bad %%-escape",
                                 name);
        val[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    val[k] = '\0';
    if (k > VX_LIMIT_GW_CONTEXT_VALUE_BYTES)
        return vx__error_set(err, VX_ELIMIT, HDR_PATH,
                             GATEWAY_CONTEXT_HEADER
                             ": the value of '%s' is over %d bytes",
                             name, VX_LIMIT_GW_CONTEXT_VALUE_BYTES);
    if (!text_ok((const unsigned char *)val, k))
        return vx__error_set(err, VX_EINVAL, HDR_PATH,
                             GATEWAY_CONTEXT_HEADER
                             ": the value of '%s' is not UTF-8 text",
                             name);
    return sdk_ctx_set(b, name, nl, val, k, true, HDR_PATH, err);
}

static vx_status from_header(sdk_ctx *b, const char *h, vx_arena *a,
                             vx_error *err)
{
    size_t len = strlen(h);
    if (len > VX_LIMIT_GW_CONTEXT_HEADER_BYTES)
        return vx__error_set(err, VX_ELIMIT, HDR_PATH,
                             GATEWAY_CONTEXT_HEADER " is over %zu bytes",
                             VX_LIMIT_GW_CONTEXT_HEADER_BYTES);
    size_t count = 0;
    for (const char *p = h; *p;) {
        size_t n = strcspn(p, ";");
        const char *s = p;
        size_t k = n;
        while (k > 0 && is_ows(*s)) {
            s++;
            k--;
        }
        while (k > 0 && is_ows(s[k - 1]))
            k--;
        if (k > 0) {
            if (count == VX_LIMIT_GW_CONTEXT_FIELDS)
                return vx__error_set(err, VX_ELIMIT, HDR_PATH,
                                     GATEWAY_CONTEXT_HEADER
                                     " has more than %d fields",
                                     VX_LIMIT_GW_CONTEXT_FIELDS);
            vx_status st = header_pair(b, s, k, count, a, err);
            if (st != VX_OK)
                return st;
            count++;
        }
        p += n;
        if (*p == ';')
            p++;
    }
    return VX_OK;
}

/* ---- metadata ----------------------------------------------------------- */

/* "/metadata/<key>" with the key escaped as a JSON pointer token. */
static void member_path(char *out, size_t cap, const char *key)
{
    size_t n = (size_t)snprintf(out, cap, "/metadata/");
    for (const char *p = key; *p && n + 3 < cap; p++) {
        if (*p == '~' || *p == '/') {
            out[n++] = '~';
            out[n++] = *p == '~' ? '0' : '1';
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

static vx_status from_metadata(sdk_ctx *b, const json_t *md, vx_error *err)
{
    if (!md || json_is_null(md))
        return VX_OK;
    if (!json_is_object(md))
        return vx__error_set(err, VX_EINVAL, "/metadata",
                             "metadata must be an object of strings");
    if (json_object_size(md) > VX_LIMIT_GW_CONTEXT_FIELDS)
        return vx__error_set(err, VX_ELIMIT, "/metadata",
                             "metadata has more than %d fields",
                             VX_LIMIT_GW_CONTEXT_FIELDS);
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)md, key, v) {
        size_t kl = strlen(key);
        if (kl > VX_LIMIT_GW_CONTEXT_NAME_BYTES)
            return vx__error_set(err, VX_EINVAL, "/metadata",
                                 "a metadata name is at most %d bytes",
                                 VX_LIMIT_GW_CONTEXT_NAME_BYTES);
        char path[VX_LIMIT_GW_CONTEXT_NAME_BYTES * 2 + 16];
        member_path(path, sizeof(path), key);
        if (!name_ok(key, kl))
            return vx__error_set(err, VX_EINVAL, path, "metadata names are %s",
                                 name_rule);
        if (is_reserved(key, kl))
            return vx__error_set(err, VX_EINVAL, path,
                                 "metadata.%s is a field the gateway sets "
                                 "itself",
                                 key);
        if (!json_is_string(v))
            return vx__error_set(err, VX_EINVAL, path,
                                 "metadata.%s must be a string", key);
        if (json_string_length(v) > VX_LIMIT_GW_CONTEXT_VALUE_BYTES)
            return vx__error_set(err, VX_ELIMIT, path,
                                 "metadata.%s is over %d bytes", key,
                                 VX_LIMIT_GW_CONTEXT_VALUE_BYTES);
        vx_status st = sdk_ctx_set(b, key, kl, json_string_value(v),
                                   json_string_length(v), true, path, err);
        if (st != VX_OK)
            return st;
    }
    return VX_OK;
}

vx_status gateway_client_context(sdk_ctx *b, const char *header,
                                 const json_t *metadata, vx_arena *a,
                                 vx_error *err)
{
    vx_status st = header ? from_header(b, header, a, err) : VX_OK;
    if (st == VX_OK)
        st = from_metadata(b, metadata, err);
    return st;
}
